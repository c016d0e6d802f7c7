"""One fixture per catalogue finding ID (HTTPolice-style): a valid default upload plus one delta.

Every fixture runs the real request analysis (and, where COS's answer is part of the story, the
response explanation) and must produce its ID. A new catalogue entry without a fixture fails here.
"""
from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate

import pytest

from cosdoctor.findings import catalogue
from cosdoctor.cos.credentials import Credential, CredentialStore
from cosdoctor.findings.diagnose import request_for
from cosdoctor.wire.errorxml import render_error_xml
from cosdoctor.findings.answer import explain, read_answer
from devkit.formbuilder import FormSpec, policy_b64, signed_form
from cosdoctor.cos.hosts import parse_cos_host
from cosdoctor.cos.times import format_iso8601
from cosdoctor.findings.request_checks import analyse_request
from cosdoctor.cos.signature import header_signature, post_signature

SECRET_ID = "AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q"
SECRET_KEY = "BQYIM75p8x0iWVFSIgqEKwFprpRSVHlz"
BUCKET = "examplebucket-1250000000"
HOST = f"{BUCKET}.cos.ap-beijing.myqcloud.com"
NOW = 1_795_000_000
CREDENTIALS = CredentialStore({SECRET_ID: Credential(SECRET_ID, SECRET_KEY, source="test")}, ())


def default_spec(key: str = "uploads/a.txt", ttl: int = 900) -> FormSpec:
    """A correct, lint-clean upload: every field constrained, size limited, Content-Type sent."""
    return signed_form(SECRET_ID, SECRET_KEY, BUCKET, key, now=NOW, ttl=ttl,
                       extra_conditions=[["content-length-range", 1, 1024],
                                         ["starts-with", "$Content-Type", "text/"]],
                       extra_fields=[("Content-Type", "text/plain")])


def document(spec: FormSpec) -> dict:
    return json.loads(base64.b64decode(spec.get("policy") or ""))


def resign_raw(spec: FormSpec, raw: bytes) -> FormSpec:
    spec.set("policy", base64.b64encode(raw).decode())
    spec.set("q-signature", post_signature(SECRET_KEY, spec.get("q-key-time") or "", raw).signature)
    return spec


def with_policy(change: Callable[[dict], object], spec: FormSpec | None = None) -> FormSpec:
    spec = spec or default_spec()
    doc = document(spec)
    change(doc)
    _, raw = policy_b64(doc)
    return resign_raw(spec, raw)


def conditions_without(name: str) -> Callable[[dict], object]:
    def change(doc: dict) -> None:
        doc["conditions"] = [c for c in doc["conditions"]
                             if not (isinstance(c, dict) and name in c)
                             and not (isinstance(c, list) and (c[0] == name or c[1] == f"${name}"))]
    return change


def replace_condition(index: int, value: object) -> Callable[[dict], object]:
    def change(doc: dict) -> None:
        doc["conditions"][index] = value
    return change


def add_condition(value: object) -> Callable[[dict], object]:
    return lambda doc: doc["conditions"].append(value)


def signature_field_spec(start: int = NOW - 60, end: int = NOW + 900, signature: str | None = None) -> FormSpec:
    key_time = f"{start};{end}"
    correct = header_signature(SECRET_KEY, key_time, "post", "/", [], []).signature
    auth = (f"q-sign-algorithm=sha1&q-ak={SECRET_ID}&q-sign-time={key_time}&q-key-time={key_time}"
            f"&q-header-list=&q-url-param-list=&q-signature={signature or correct}")
    return FormSpec([("key", "uploads/a.txt"), ("Content-Type", "text/plain"), ("Signature", auth)])


@dataclass
class Fixture:
    spec: FormSpec | None = field(default_factory=default_spec)
    damage: Callable[[bytes], bytes] | None = None
    headers: dict = field(default_factory=dict)          # None values remove a header
    response: tuple[int, str | None, str] | None = None  # (status, Code, Message)
    response_date: int | None = None
    credentials: bool = True
    body_complete: bool = True
    body_size: int | None = None
    no_body: bool = False


def run(fx: Fixture) -> list[dict]:
    body, content_type = fx.spec.encode(boundary="fixtureboundary") if fx.spec else (b"", "text/plain")
    if fx.damage:
        body = fx.damage(body)
    headers = {"content-type": content_type, "content-length": str(len(body))}
    headers.update(fx.headers)
    headers = {k: v for k, v in headers.items() if v is not None}
    if not fx.body_complete:
        body = body[:fx.spec.encode(boundary="fixtureboundary")[0].index(b'name="file"') + 200]
    request = request_for("POST", HOST, "/", headers, None if fx.no_body else body, parse_cos_host(HOST),
                          body_complete=fx.body_complete, body_size=fx.body_size)
    analysis = analyse_request(request, CREDENTIALS if fx.credentials else None, NOW)
    if fx.response is None:
        return analysis.findings
    status, code, message = fx.response
    xml = render_error_xml(code, message, HOST + "/", "rid") if code else b""
    answer = read_answer(status, {"date": formatdate(fx.response_date or NOW, usegmt=True)}, xml)
    return explain(analysis, answer, NOW)


def add_part_after_file(body: bytes) -> bytes:
    closing = b"--fixtureboundary--\r\n"
    extra = b'--fixtureboundary\r\nContent-Disposition: form-data; name="acl"\r\n\r\nprivate\r\n'
    return body.replace(closing, extra + closing)


def large_file(size: int) -> FormSpec:
    spec = default_spec()
    spec.file_data = b"x" * size
    return spec


def expired_spec() -> FormSpec:
    return with_policy(lambda d: d.__setitem__("expiration", format_iso8601(NOW - 3600)))


FIXTURES: dict[str, Fixture] = {
    "AccessDenied_q-ak": Fixture(with_policy(replace_condition(1, {"q-ak": "AKIDsomeoneElse00000000000000000000"}))),
    "AccessDenied_Expiration": Fixture(expired_spec()),
    "SignatureDoesNotMatch_POSTSignature": Fixture(default_spec().set("q-signature", "0" * 40)),
    "InvalidPolicyDocument_JSONFormat": Fixture(with_policy(lambda d: d.__setitem__("conditions", []))),
    "AccessDenied_BucketNotConsistent": Fixture(with_policy(replace_condition(3, {"bucket": "other-1250000000"}))),
    "AccessDenied_Condition": Fixture(default_spec().set("Content-Type", "image/png")),
    "MalformedPOSTRequest_POSTBody": Fixture(damage=lambda b: b.replace(b"\r\n", b"\n")),
    "EntityTooLarge_ContentLengthRange": Fixture(large_file(2000)),
    "EntityTooSmall_ContentLengthRange": Fixture(large_file(0)),
    "EntityTooLarge_MaxObjectSize": Fixture(body_complete=False, body_size=6 * 1024 ** 3),
    "IncorrectNumberOfFilesInPostRequest_FileCount": Fixture(default_spec().set("file", "second file")),
    "InvalidPolicyDocument_Base64": Fixture(default_spec().set("policy", "!!not base64!!")),
    "InvalidPolicyDocument_Expiration": Fixture(with_policy(lambda d: d.__setitem__("expiration", "tomorrow"))),
    "InvalidPolicyDocument_Condition": Fixture(with_policy(add_condition(["in", "$key", "a"]))),
    "AccessDenied_RequestExpired": Fixture(signature_field_spec(NOW - 7200, NOW - 3600)),
    "RequestTimeTooSkewed_ClockSkew": Fixture(response=(403, "RequestTimeTooSkewed", "The difference between the request time and the server's time is too large."), response_date=NOW - 3600),
    "AccessDenied_NoPermission": Fixture(response=(403, "AccessDenied", "Access Denied.")),
    "AccessDenied_RefererRule": Fixture(response=(403, "AccessDenied", "You are denied by bucket referer rule")),
    "AccessDenied_SignatureEmpty": Fixture(FormSpec([("key", "a.txt")]), response=(403, "AccessDenied", "Check auth failure because signature empty.")),
    "AccessForbidden_CORS": Fixture(response=(403, "AccessForbidden", "CORSResponse: This CORS request is not allowed.")),
    "InvalidAccessKeyId_SecretId": Fixture(response=(403, "InvalidAccessKeyId", "The Access Key Id you provided does not exist in our records.")),
    "ExpiredToken_SecurityToken": Fixture(response=(400, "ExpiredToken", "The provided token has expired.")),
    "SignatureDoesNotMatch_SignatureField": Fixture(signature_field_spec(signature="1" * 40)),
    "InvalidArgument_MissingField": Fixture(default_spec().drop("key")),
    "InvalidArgument_TrafficLimit": Fixture(default_spec().set("x-cos-traffic-limit", "100")),
    "KeyTooLong_ObjectKey": Fixture(default_spec(key="k" * 900)),
    "MissingContentLength_ChunkedBody": Fixture(headers={"content-length": None, "transfer-encoding": "chunked"}),
    "InvalidDigest_ContentMD5": Fixture(default_spec().set("Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg==")),
    "NoSuchBucket_Host": Fixture(response=(404, "NoSuchBucket", "The specified bucket does not exist.")),
    "MethodNotAllowed_PresignedURL": Fixture(response=(405, "MethodNotAllowed", "The specified method is not allowed.")),
    "InternalError_ServerSide": Fixture(response=(500, "InternalError", "We encountered an internal error.")),
    "SlowDown_RateLimited": Fixture(response=(503, "SlowDown", "Please reduce your request rate.")),
    "Unknown_WeirdCode": Fixture(response=(400, "WeirdCode", "Something new.")),
    "Warning_DuplicateField": Fixture(FormSpec(default_spec().fields + [("key", "uploads/b.txt")])),
    "Warning_DuplicatePolicyKey": Fixture(resign_raw(default_spec(), json.dumps(document(default_spec()))[:-1].encode() + b',"expiration":"2099-01-01T00:00:00Z"}')),
    "Warning_FieldAfterFile": Fixture(damage=add_part_after_file),
    "Warning_SignTimeMismatch": Fixture(with_policy(replace_condition(2, {"q-sign-time": f"{NOW};{NOW + 60}"}))),
    "Warning_MissingRequiredCondition": Fixture(with_policy(conditions_without("q-sign-algorithm"))),
    "Warning_KeyAnyPrefix": Fixture(with_policy(replace_condition(4, ["starts-with", "$key", ""]))),
    "Warning_NoContentLengthRange": Fixture(with_policy(conditions_without("content-length-range"))),
    "Warning_LongExpiration": Fixture(with_policy(lambda d: d.__setitem__("expiration", format_iso8601(NOW + 3 * 86400)))),
    "Warning_KeyTimeOutlivesPolicy": Fixture(with_policy(lambda d: d.__setitem__("expiration", format_iso8601(NOW + 300)))),
    "Warning_TokenNotConstrained": Fixture(default_spec().set("x-cos-security-token", "tokentokentokentoken")),
    "Warning_NoBucketCondition": Fixture(with_policy(conditions_without("bucket"))),
    "Warning_StartsWithWildcard": Fixture(with_policy(replace_condition(6, ["starts-with", "$Content-Type", "text/*"]))),
    "Warning_ConditionWithoutDollar": Fixture(with_policy(replace_condition(6, ["starts-with", "Content-Type", "text/"]))),
    "Warning_FileContentTypeIgnored": Fixture(with_policy(conditions_without("Content-Type"), default_spec().drop("Content-Type"))),
    "Warning_SuccessActionStatus": Fixture(with_policy(add_condition({"success_action_status": "404"}), default_spec().set("success_action_status", "404"))),
    "Warning_ClockSkew": Fixture(response=(204, None, ""), response_date=NOW - 600),
    "Warning_CORSResponseHidden": None,   # needs the browser's Origin: see test_cors_hidden_response
    "Warning_PreflightDisagreement": Fixture(response=(403, "AccessDenied", "Condition key key doesn't match the value uploads/a.txt")),
    "Warning_UnknownCondition": Fixture(with_policy(add_condition({"x-foo": "bar"}), default_spec().set("x-foo", "bar"))),
    "Info_SignatureNotVerified": Fixture(credentials=False),
    "Info_StreamedBody": Fixture(body_complete=False, body_size=4096),
    "Info_BodyMissing": Fixture(no_body=True),
    "Info_LocalAnswerCORSUnknown": None,   # block mode's local answer to a browser: see test_local_answer_cors_unknown
}


def test_every_catalogue_id_has_a_fixture():
    catalogued = set(catalogue.all_ids()) - {"Unknown_Code"}
    fixtures = {i for i in FIXTURES if not i.startswith("Unknown_")}
    assert catalogued == fixtures
    assert any(i.startswith("Unknown_") for i in FIXTURES)


@pytest.mark.parametrize("finding_id", [i for i, fx in FIXTURES.items() if fx is not None])
def test_fixture_produces_its_finding(finding_id):
    findings = run(FIXTURES[finding_id])
    ids = [f["id"] for f in findings]
    assert finding_id in ids, ids
    found = next(f for f in findings if f["id"] == finding_id)
    assert found["severity"] == catalogue.entry(finding_id).severity
    json.dumps(found)


@pytest.mark.parametrize("spec", [default_spec(), signature_field_spec()], ids=["policy", "signature-field"])
def test_valid_default_has_no_findings(spec):
    assert run(Fixture(spec)) == []


def test_valid_default_accepted_by_cos_has_no_findings():
    assert run(Fixture(response=(204, None, ""))) == []


def test_a_token_condition_never_puts_the_full_token_in_any_text():
    token = "sts-token-" + "Zq9" * 20
    spec = with_policy(add_condition({"x-cos-security-token": "another-token-" + "Yw8" * 20}),
                       default_spec().set("x-cos-security-token", token))
    findings = run(Fixture(spec, response=(403, "AccessDenied",
                                            f"Condition key x-cos-security-token doesn't match the value {token}")))
    text = json.dumps(findings)
    assert "AccessDenied_Condition" in [f["id"] for f in findings]
    assert token not in text and ("Yw8" * 20) not in text


def _analysis_sending_token(token: str):
    """An upload that sends `token` while its policy wants another security token."""
    spec = with_policy(add_condition({"x-cos-security-token": "x" * 30}), default_spec().set("x-cos-security-token", token))
    body, content_type = spec.encode()
    request = request_for("POST", HOST, "/", {"content-type": content_type, "content-length": str(len(body))},
                          body, parse_cos_host(HOST))
    return analyse_request(request, CREDENTIALS, NOW)


def test_diagnosis_shortens_sent_tokens_in_cos_error_message_too():
    from cosdoctor.findings.diagnose import diagnose
    from cosdoctor.render.text import diagnosis_headers, flow_comment
    token = "sts-token-" + "Qp7" * 20
    analysis = _analysis_sending_token(token)
    xml = render_error_xml("AccessDenied", f"Condition key x-cos-security-token doesn't match the value {token}", HOST, "r")
    result = diagnose(analysis, read_answer(403, {}, xml), NOW, CREDENTIALS)
    dumped = json.dumps([result.findings, result.error, flow_comment(result), diagnosis_headers(result)], ensure_ascii=False)
    assert token not in dumped and token[:4] + "…" + token[-4:] in dumped


def test_cors_hidden_response():
    """A cross-origin POST that COS accepted without Access-Control-Allow-Origin for the page."""
    from cosdoctor.findings.cors import check_actual_response, with_cors_finding
    check = check_actual_response({"Origin": "https://app.example.com", "Host": HOST}, 204, {})
    findings = with_cors_finding([], check, "en", finding_id="Warning_CORSResponseHidden")
    assert [f["id"] for f in findings] == ["Warning_CORSResponseHidden"]
    assert "https://app.example.com" in findings[0]["title"]
    assert "<AllowedOrigin>https://app.example.com</AllowedOrigin>" in findings[0]["fix"]


def test_local_answer_cors_unknown():
    """Block mode answers a cross-origin upload whose origin COS was never seen answering."""
    from cosdoctor.findings.cors_memory import CorsMemory, local_answer_cors
    spec = default_spec().set("Content-Type", "image/png")                 # COS would certainly refuse it
    body, content_type = spec.encode()
    request = request_for("POST", HOST, "/", {"content-type": content_type, "content-length": str(len(body)),
                                              "host": HOST, "origin": "https://app.example.com"},
                          body, parse_cos_host(HOST))
    analysis = analyse_request(request, CREDENTIALS, NOW)
    assert local_answer_cors(CorsMemory(), analysis) == {}
    ids = [f["id"] for f in analysis.findings]
    assert ids == ["AccessDenied_Condition", "Info_LocalAnswerCORSUnknown"]
    found = analysis.findings[1]
    assert found["severity"] == catalogue.entry(found["id"]).severity == "info"
    assert "https://app.example.com" in found["title"] and HOST in found["cause"]


def test_sensitive_evidence_is_shortened_once_to_first_and_last_four():
    from cosdoctor.findings.diagnose import diagnose
    from cosdoctor.render.text import diagnosis_headers, flow_comment
    token = "sts-token-" + "Rk5" * 20
    found = next(f for f in diagnose(_analysis_sending_token(token), None, NOW).findings
                 if f["id"] == "AccessDenied_Condition")
    assert found["evidence"]["actual"] == token[:4] + "…" + token[-4:]
