"""cosdoctor.cors: the browser's CORS verdict on COS answers, and the rule that fixes it."""
from __future__ import annotations

import json

import pytest
from lxml import etree

from cosdoctor.findings import catalogue
from cosdoctor.render.words import render_finding
from cosdoctor.findings.cors import (
    MAX_AGE_SECONDS, CorsCheck, check_actual_response, check_preflight, cors_evidence, cors_rule,
    with_cors_finding,
)
from cosdoctor.wire.errorxml import render_error_xml

ORIGIN = "https://app.example.com"
COS_HOST = "examplebucket-1250000000.cos.ap-beijing.myqcloud.com"
CORS_MESSAGE = catalogue.entry("AccessForbidden_CORS").message

PREFLIGHT_REQUEST = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
                     "Access-Control-Request-Headers": "content-type,x-cos-meta-a", "Host": COS_HOST}
PREFLIGHT_RESPONSE = {"Access-Control-Allow-Origin": ORIGIN, "Access-Control-Allow-Methods": "POST, PUT",
                      "Access-Control-Allow-Headers": "content-type,x-cos-meta-a",
                      "Access-Control-Max-Age": "600"}


def delta(base: dict, changes: dict) -> dict:
    """`base` with some headers changed; a value of None removes the header."""
    out = dict(base)
    for name, value in changes.items():
        if value is None:
            out.pop(name, None)
        else:
            out[name] = value
    return out


# --- preflight ----------------------------------------------------------------------------------

PREFLIGHT_CASES = [
    # id, request delta, status, response delta, allowed, missing
    ("allowed", {}, 200, {}, True, ()),
    ("origin-missing", {}, 200, {"Access-Control-Allow-Origin": None}, False, ("origin",)),
    ("other-origin", {}, 200, {"Access-Control-Allow-Origin": "https://other.example.com"}, False, ("origin",)),
    ("origin-case-differs", {}, 200, {"Access-Control-Allow-Origin": ORIGIN.upper()}, False, ("origin",)),
    ("star-origin", {}, 200, {"Access-Control-Allow-Origin": "*"}, True, ()),
    ("star-origin-with-cookies", {"Cookie": "s=1"}, 200, {"Access-Control-Allow-Origin": "*"},
     False, ("origin",)),
    ("exact-origin-with-cookies-no-credentials", {"Cookie": "s=1"}, 200, {}, False, ("credentials",)),
    ("exact-origin-with-cookies-and-credentials", {"Cookie": "s=1"}, 200,
     {"Access-Control-Allow-Credentials": "true"}, True, ()),
    ("method-missing", {"Access-Control-Request-Method": "DELETE"}, 200, {}, False, ("method",)),
    ("method-listed", {"Access-Control-Request-Method": "PUT"}, 200, {}, True, ()),
    ("method-lower-case-normalised", {"Access-Control-Request-Method": "put"}, 200, {}, True, ()),
    ("method-star", {"Access-Control-Request-Method": "DELETE"}, 200,
     {"Access-Control-Allow-Methods": "*"}, True, ()),
    ("post-is-safelisted", {}, 200, {"Access-Control-Allow-Methods": None}, True, ()),
    ("one-header-missing", {}, 200, {"Access-Control-Allow-Headers": "content-type"},
     False, ("headers:x-cos-meta-a",)),
    ("no-allow-headers", {}, 200, {"Access-Control-Allow-Headers": None},
     False, ("headers:content-type", "headers:x-cos-meta-a")),
    ("headers-case-insensitive", {"Access-Control-Request-Headers": "Content-Type, X-COS-Meta-A"}, 200,
     {"Access-Control-Allow-Headers": "CONTENT-TYPE,X-Cos-Meta-A"}, True, ()),
    ("headers-comma-list-with-spaces", {}, 200,
     {"Access-Control-Allow-Headers": " content-type ,, x-cos-meta-a , "}, True, ()),
    ("headers-star", {}, 200, {"Access-Control-Allow-Headers": "*"}, True, ()),
    ("headers-star-never-covers-authorization", {"Access-Control-Request-Headers": "authorization,x-a"}, 200,
     {"Access-Control-Allow-Headers": "*"}, False, ("headers:authorization",)),
    ("headers-star-with-cookies", {"Cookie": "s=1"}, 200,
     {"Access-Control-Allow-Headers": "*", "Access-Control-Allow-Credentials": "true"},
     False, ("headers:content-type", "headers:x-cos-meta-a")),
    ("origin-and-header-missing", {}, 200,
     {"Access-Control-Allow-Origin": None, "Access-Control-Allow-Headers": "x-cos-meta-a"},
     False, ("origin", "headers:content-type")),
    ("cos-403-answer", {}, 403, {"Access-Control-Allow-Origin": None, "Access-Control-Allow-Methods": None,
                                 "Access-Control-Allow-Headers": None, "Content-Type": "application/xml"},
     False, ("origin", "method", "headers:content-type", "headers:x-cos-meta-a")),
    ("non-2xx-even-with-headers", {}, 404, {}, False,
     ("origin", "method", "headers:content-type", "headers:x-cos-meta-a")),
    ("no-requested-headers", {"Access-Control-Request-Headers": None}, 200,
     {"Access-Control-Allow-Headers": None}, True, ()),
]


@pytest.mark.parametrize("request_delta, status, response_delta, allowed, missing",
                         [c[1:] for c in PREFLIGHT_CASES], ids=[c[0] for c in PREFLIGHT_CASES])
def test_preflight_verdict(request_delta, status, response_delta, allowed, missing):
    check = check_preflight(delta(PREFLIGHT_REQUEST, request_delta), status,
                            delta(PREFLIGHT_RESPONSE, response_delta))
    assert isinstance(check, CorsCheck)
    assert (check.allowed, check.missing) == (allowed, missing)


def test_preflight_header_names_are_case_insensitive_on_both_sides():
    request = {k.lower(): v for k, v in PREFLIGHT_REQUEST.items()}
    narrow = delta(PREFLIGHT_RESPONSE, {"Access-Control-Allow-Headers": "content-type"})
    response = {k.upper(): v for k, v in narrow.items()}
    check = check_preflight(request, 200, response)
    assert check.origin == ORIGIN and check.method == "POST"
    assert check.request_headers == ("content-type", "x-cos-meta-a")
    assert check.missing == ("headers:x-cos-meta-a",)


def test_cos_403_xml_answer_is_not_allowed():
    body = render_error_xml("AccessForbidden", CORS_MESSAGE, f"{COS_HOST}/", "req-1")
    assert body.startswith(b"<?xml")
    request = delta(PREFLIGHT_REQUEST, {"Access-Control-Request-Method": "PUT"})
    check = check_preflight(request, 403, {"Content-Type": "application/xml", "Content-Length": str(len(body))})
    assert not check.allowed
    assert check.missing == ("origin", "method", "headers:content-type", "headers:x-cos-meta-a")
    assert (check.origin, check.method) == (ORIGIN, "PUT")


@pytest.mark.parametrize("request_headers, status, response_headers", [
    ({}, 200, {}),
    ({"Origin": ORIGIN}, 0, {}),
    ({"Access-Control-Request-Method": ""}, 403, {"Access-Control-Allow-Origin": ""}),
    ({"Origin": ORIGIN, "Access-Control-Request-Headers": ",,, ,"}, 200, {"Access-Control-Allow-Origin": ORIGIN}),
    ({"Origin": ORIGIN}, "200", {}),
    ([("Origin", ORIGIN)], 200, None),
])
def test_odd_input_gives_a_check_not_an_exception(request_headers, status, response_headers):
    check = check_preflight(request_headers, status, response_headers)
    assert isinstance(check, CorsCheck)
    etree.fromstring(check.rule_xml.encode())
    json.loads(check.rule_json)


# --- the actual cross-origin POST -----------------------------------------------------------------

POST_REQUEST = {"Origin": ORIGIN, "Host": COS_HOST, "Content-Type": "multipart/form-data; boundary=x"}
POST_RESPONSE = {"Access-Control-Allow-Origin": ORIGIN,
                 "Access-Control-Expose-Headers": "ETag, Location, x-cos-request-id"}

ACTUAL_CASES = [
    ("allowed", {}, 204, {}, True, ()),
    ("no-allow-origin-hides-the-answer", {}, 204, {"Access-Control-Allow-Origin": None,
                                                   "Access-Control-Expose-Headers": None},
     False, ("origin", "expose:etag")),
    ("error-without-allow-origin", {}, 403, {"Access-Control-Allow-Origin": None}, False, ("origin",)),
    ("error-with-allow-origin-is-readable", {}, 403, {}, True, ()),
    ("star-origin", {}, 204, {"Access-Control-Allow-Origin": "*"}, True, ()),
    ("star-origin-with-cookies", {"Cookie": "s=1"}, 204, {"Access-Control-Allow-Origin": "*"},
     False, ("origin",)),
    ("other-origin", {}, 204, {"Access-Control-Allow-Origin": "https://other.example.com"}, False, ("origin",)),
    ("etag-not-exposed", {}, 204, {"Access-Control-Expose-Headers": "Location"}, True, ("expose:etag",)),
    ("etag-exposed-in-other-case", {}, 204, {"Access-Control-Expose-Headers": "location,etag"}, True, ()),
    ("expose-star", {}, 204, {"Access-Control-Expose-Headers": "*"}, True, ()),
    ("expose-star-with-cookies", {"Cookie": "s=1"}, 204,
     {"Access-Control-Expose-Headers": "*", "Access-Control-Allow-Credentials": "true"}, True, ("expose:etag",)),
]


@pytest.mark.parametrize("request_delta, status, response_delta, allowed, missing",
                         [c[1:] for c in ACTUAL_CASES], ids=[c[0] for c in ACTUAL_CASES])
def test_actual_response_verdict(request_delta, status, response_delta, allowed, missing):
    check = check_actual_response(delta(POST_REQUEST, request_delta), status,
                                  delta(POST_RESPONSE, response_delta))
    assert check is not None
    assert (check.allowed, check.missing) == (allowed, missing)
    assert (check.origin, check.method) == (ORIGIN, "POST")


@pytest.mark.parametrize("request_headers", [
    {"Host": COS_HOST, "Content-Type": "multipart/form-data; boundary=x"},          # no Origin
    {"Origin": f"https://{COS_HOST}", "Host": COS_HOST},                              # same origin
    {"origin": f"http://{COS_HOST.upper()}/", "host": COS_HOST},
])
def test_actual_response_is_none_when_not_cross_origin(request_headers):
    assert check_actual_response(request_headers, 204, {}) is None


def test_actual_response_cross_origin_when_host_differs():
    check = check_actual_response({"Origin": f"https://{COS_HOST}.evil.example", "Host": COS_HOST}, 204, {})
    assert check is not None and check.missing == ("origin", "expose:etag")


# --- the rule ------------------------------------------------------------------------------------

def rule_of(xml: str) -> dict[str, list[str]]:
    root = etree.fromstring(xml.encode("utf-8"))
    assert root.tag == "CORSConfiguration"
    (rule,) = root
    assert rule.tag == "CORSRule"
    out: dict[str, list[str]] = {}
    for child in rule:
        out.setdefault(child.tag, []).append(child.text)
    return out


def test_rule_xml_is_built_from_the_preflight():
    request = delta(PREFLIGHT_REQUEST, {"Access-Control-Request-Method": "PUT",
                                        "Access-Control-Request-Headers": "Content-Type, X-COS-Meta-A"})
    check = check_preflight(request, 403, {})
    rule = rule_of(check.rule_xml)
    assert rule == {"AllowedOrigin": [ORIGIN], "AllowedMethod": ["POST", "PUT"],
                    "AllowedHeader": ["content-type", "x-cos-meta-a"], "MaxAgeSeconds": [str(MAX_AGE_SECONDS)],
                    "ExposeHeader": ["ETag", "Location", "x-cos-request-id"]}
    assert json.loads(check.rule_json) == {"CORSRules": [{
        "AllowedOrigin": [ORIGIN], "AllowedMethod": ["POST", "PUT"],
        "AllowedHeader": ["content-type", "x-cos-meta-a"],
        "ExposeHeader": ["ETag", "Location", "x-cos-request-id"], "MaxAgeSeconds": 600}]}


@pytest.mark.parametrize("method, headers, methods, allowed_headers", [
    ("POST", "content-type", ["POST"], ["content-type"]),
    ("post", "", ["POST"], ["*"]),                                 # nothing requested: allow any
    ("GET", "a,b,c,d,e", ["POST", "GET"], ["a", "b", "c", "d", "e"]),
    ("PUT", "a,b,c,d,e,f", ["POST", "PUT"], ["*"]),                # many: *
    ("PATCH", "x-a", ["POST"], ["x-a"]),                           # COS rules cannot name PATCH
    ("DELETE", "X-A,x-a", ["POST", "DELETE"], ["x-a"]),
])
def test_rule_methods_and_headers(method, headers, methods, allowed_headers):
    request = delta(PREFLIGHT_REQUEST, {"Access-Control-Request-Method": method,
                                        "Access-Control-Request-Headers": headers or None})
    rule = rule_of(check_preflight(request, 403, {}).rule_xml)
    assert rule["AllowedMethod"] == methods
    assert rule["AllowedHeader"] == allowed_headers


@pytest.mark.parametrize("origin, shown", [
    ('https://a.example/<x>&"\'', 'https://a.example/<x>&"\''),
    ("https://例子.测试:8443", "https://例子.测试:8443"),
    ("http://x\x01y\r\nz", "http://x\ufffdy\r\nz"),
    ("null", "null"),
    ("]]><CORSRule><AllowedOrigin>*", "]]><CORSRule><AllowedOrigin>*"),
])
def test_rule_escapes_weird_origins(origin, shown):
    check = check_preflight(delta(PREFLIGHT_REQUEST, {"Origin": origin}), 403, {})
    rule = rule_of(check.rule_xml)
    assert rule["AllowedOrigin"] == [shown]             # one origin, exactly as sent (XML-safe)
    assert json.loads(check.rule_json)["CORSRules"][0]["AllowedOrigin"] == [origin]


def test_rule_without_origin_allows_any_origin():
    xml, js = cors_rule(None, None, ())
    assert rule_of(xml)["AllowedOrigin"] == ["*"]
    assert rule_of(xml)["AllowedMethod"] == ["POST"]
    assert json.loads(js)["CORSRules"][0]["AllowedOrigin"] == ["*"]


def cos_answer_with(rule_json: str, request: dict) -> dict:
    """What a bucket holding only this rule answers to the preflight (COS echoes requested headers)."""
    rule = json.loads(rule_json)["CORSRules"][0]
    lower = {k.lower(): v for k, v in request.items()}
    return {"Access-Control-Allow-Origin": lower["origin"],
            "Access-Control-Allow-Methods": ", ".join(rule["AllowedMethod"]),
            "Access-Control-Allow-Headers": (lower.get("access-control-request-headers", "")
                                             if rule["AllowedHeader"] == ["*"] else ", ".join(rule["AllowedHeader"])),
            "Access-Control-Expose-Headers": ", ".join(rule["ExposeHeader"])}


@pytest.mark.parametrize("request_delta", [
    {}, {"Access-Control-Request-Method": "PUT"}, {"Access-Control-Request-Method": "DELETE"},
    {"Access-Control-Request-Headers": "Origin, Accept, Content-Type"},
    {"Access-Control-Request-Headers": "a,b,c,d,e,f,g"},
])
def test_the_suggested_rule_makes_the_preflight_pass(request_delta):
    request = delta(PREFLIGHT_REQUEST, request_delta)
    failed = check_preflight(request, 403, {})
    assert not failed.allowed
    fixed = check_preflight(request, 200, cos_answer_with(failed.rule_json, request))
    assert fixed.allowed and fixed.missing == ()
    post = check_actual_response(POST_REQUEST, 204, cos_answer_with(failed.rule_json, POST_REQUEST))
    assert post is not None and post.allowed and post.missing == ()


# --- evidence for the catalogue -------------------------------------------------------------------

def test_cors_evidence_feeds_the_catalogue_finding():
    check = check_preflight(PREFLIGHT_REQUEST, 403, {})
    evidence = cors_evidence(check)
    assert evidence == {"origin": ORIGIN, "method": "POST", "headers": ["content-type", "x-cos-meta-a"],
                        "cors_rule": check.rule_xml, "cors_rule_json": check.rule_json,
                        "missing": ["origin", "method", "headers:content-type", "headers:x-cos-meta-a"]}
    json.dumps(evidence)
    for lang in catalogue.LANGS:
        found = render_finding(catalogue.finding("AccessForbidden_CORS", "response", evidence), lang)
        assert ORIGIN in found["title"] and "POST" in found["title"]
        assert "content-type, x-cos-meta-a" in found["cause"]
        assert check.rule_xml in found["fix"]


# --- folding the verdict into a flow's findings -----------------------------------------------------

def cos_403_finding() -> dict:
    """What explain() makes of COS's 403 AccessForbidden answer alone (no CORS evidence)."""
    return catalogue.finding("AccessForbidden_CORS", "response",
                             {"code": "AccessForbidden", "message": CORS_MESSAGE, "request_id": "req-1"})


OTHER = catalogue.finding("Warning_NoContentLengthRange", "preflight", {})


@pytest.mark.parametrize("findings, status, response, expected_ids", [
    ([cos_403_finding(), OTHER], 403, {}, ["AccessForbidden_CORS", "Warning_NoContentLengthRange"]),
    ([OTHER], 200, {"Access-Control-Allow-Headers": "content-type"},
     ["AccessForbidden_CORS", "Warning_NoContentLengthRange"]),
    ([], 200, {"Access-Control-Allow-Origin": None}, ["AccessForbidden_CORS"]),
    ([OTHER], 200, {}, ["Warning_NoContentLengthRange"]),              # allowed: nothing added
])
def test_with_cors_finding(findings, status, response, expected_ids):
    check = check_preflight(PREFLIGHT_REQUEST, status,
                            delta(PREFLIGHT_RESPONSE, response))
    out = with_cors_finding(findings, check)
    assert [f["id"] for f in out] == expected_ids
    if check.allowed:
        assert out == findings
        return
    cors = out[0]
    assert (cors["phase"], cors["severity"]) == ("response", "error")
    assert cors["evidence"]["origin"] == ORIGIN and cors["evidence"]["cors_rule"] == check.rule_xml
    assert cors["evidence"]["missing"] == list(check.missing)
    shown = render_finding(cors)
    assert ORIGIN in shown["title"] and check.rule_xml in shown["fix"]
    if findings and findings[0]["id"] == "AccessForbidden_CORS":     # COS's own facts are kept
        assert cors["evidence"]["request_id"] == "req-1" and cors["evidence"]["code"] == "AccessForbidden"


def test_with_cors_finding_adds_facts_not_words():
    """The findings stage holds no language: the folded finding is plain, the renderer words it."""
    check = check_preflight(PREFLIGHT_REQUEST, 403, {})
    (found,) = with_cors_finding([cos_403_finding()], check)
    assert set(found) == {"id", "severity", "phase", "evidence"}
    assert "存储桶" in render_finding(found, "zh")["title"] and ORIGIN in render_finding(found, "zh")["title"]
