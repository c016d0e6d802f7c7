"""Reading COS's answer: its Date, its error record as sent, the ID it maps to, and the findings'
one order (errors, then warnings, then info; what COS answered before what the proxy predicted)."""
from __future__ import annotations

import calendar
import random
from email.utils import formatdate, parsedate_to_datetime

import pytest

from cosdoctor.findings import catalogue
from cosdoctor.findings.answer import answer_id, explain, read_answer, sort_findings
from cosdoctor.findings.request_checks import analyse_request
from cosdoctor.render.words import render_finding
from cosdoctor.wire.errorxml import render_error_xml
from finding_fixtures import FIXTURES, HOST, NOW, Fixture, default_spec, exchange, run, with_policy, replace_condition


def error_body(code: str, message: str, resource: str = HOST + "/uploads/a.txt") -> bytes:
    return render_error_xml(code, message, resource, "rid-1")


# --- the error record -----------------------------------------------------------------------------

@pytest.mark.parametrize("message", [
    "Condition key content-length-range doesn't match the value ",     # COS's own trailing space
    "  two  spaces  inside  ",
    "Condition key key doesn\u2019t match the value a",                  # a typographic apostrophe stays
    "tab\tand a <tag> & an entity",
])
def test_error_message_is_cos_words_exactly(message):
    """error.message is the Message as COS sent it: entities decoded, whitespace kept."""
    record = read_answer(400, {}, error_body("EntityTooLarge", message)).error_record()
    assert record["message"] == message


def test_matching_still_sees_through_apostrophes_and_spaces():
    answer = read_answer(403, {}, error_body("AccessDenied", "  Condition key q-ak doesn\u2019t match the value x "))
    assert answer_id(None, answer) == "AccessDenied_q-ak"


@pytest.mark.parametrize("code, message, expected", [
    ("AccessDenied", "Condition key q-ak doesn't match the value x", "AccessDenied_q-ak"),
    ("AccessDenied", "Condition key bucket doesn't match the value x", "AccessDenied_BucketNotConsistent"),
    ("AccessDenied", "Condition key acl doesn't match the value x", "AccessDenied_Condition"),
    ("AccessDenied", "Access Denied.", "AccessDenied_NoPermission"),
    ("EntityTooLarge", "Your proposed upload exceeds the maximum allowed object size", "EntityTooLarge_MaxObjectSize"),
    ("SignatureDoesNotMatch", "The Signature you specified is invalid.", "SignatureDoesNotMatch_POSTSignature"),
    ("Weird.Code!", "x", "Unknown_Weird.Code"),
])
def test_answer_id(code, message, expected):
    assert answer_id(None, read_answer(403, {}, error_body(code, message))) == expected


def test_an_answer_without_error_xml_is_unknown_by_status():
    assert answer_id(None, read_answer(502, {}, b"<html>bad gateway</html>")) == "Unknown_HTTP502"
    assert answer_id(None, read_answer(204, {}, b"")) is None


# --- the Date header ---------------------------------------------------------------------------------

def _general_http_date(value: str) -> int | None:
    try:
        return int(parsedate_to_datetime(value).timestamp())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


@pytest.mark.parametrize("value", [
    "Sun, 06 Nov 1994 08:49:37 GMT", "Sun, 29 Nov 2026 19:16:49 GMT", "Sat, 28 Feb 2026 23:59:59 GMT",
    "Sun, 31 Feb 2026 10:00:00 GMT", "Sun, 30 Nov 2026 23:59:60 GMT", "Sun, 18 Nov 0035 22:59:05 GMT",
    "Sun, 99 Nov 2026 10:00:00 GMT", "Sun, 06 Nov 1994 24:00:00 GMT", "Sunday, 06-Nov-94 08:49:37 GMT",
    "Sun Nov  6 08:49:37 1994", "Sun, 06 Nov 1994 08:49:37 +0800", "garbage",
])
def test_server_time_reads_the_date_as_email_utils_does(value):
    """The fast path for COS's usual Date format gives what the general parser gives."""
    assert read_answer(204, {"date": value}, None).server_time == _general_http_date(value)


def test_server_time_fast_path_agrees_on_many_dates():
    rng = random.Random(7)
    for _ in range(5_000):
        seconds = rng.randrange(0, 2 ** 33)
        value = formatdate(seconds, usegmt=True)
        assert read_answer(204, {"date": value}, None).server_time == seconds, value


def test_server_time_falls_back_to_cos_server_time_element():
    body = render_error_xml("AccessDenied", "x", "r", "i", extra=[("ServerTime", "2026-11-29T03:35:55Z")])
    assert read_answer(403, {}, body).server_time == calendar.timegm((2026, 11, 29, 3, 35, 55))


# --- one order ---------------------------------------------------------------------------------------

def _plain(finding_id: str, phase: str) -> dict:
    return catalogue.finding(finding_id, phase, {})


def test_one_order_across_errors_warnings_and_infos():
    """Errors before warnings before info; within each, COS's answer before the proxy's prediction."""
    mixed = [_plain("Info_StreamedBody", "preflight"), _plain("Warning_CORSResponseHidden", "response"),
             _plain("Warning_NoBucketCondition", "preflight"), _plain("KeyTooLong_ObjectKey", "preflight"),
             _plain("AccessDenied_Condition", "response"), _plain("Warning_ClockSkew", "response")]
    assert [f["id"] for f in sort_findings(mixed)] == [
        "AccessDenied_Condition", "KeyTooLong_ObjectKey", "Warning_CORSResponseHidden", "Warning_ClockSkew",
        "Warning_NoBucketCondition", "Info_StreamedBody"]
    assert [catalogue.severity_rank(f["severity"]) for f in sort_findings(mixed)] == [0, 0, 1, 1, 1, 2]


def test_cos_error_leads_and_the_cors_warning_follows():
    """COS rejected a cross-origin upload and the page cannot read why: COS's error comes first."""
    fx = Fixture([], spec=default_spec().set("Content-Type", "image/png"), headers={"origin": "https://app.example.com"},
                 response=(403, "AccessDenied", "Condition key Content-Type doesn't match the value image/png"))
    assert [f["id"] for f in run(fx)] == ["AccessDenied_Condition", "Warning_CORSResponseHidden"]


# --- what COS's answer adds to the evidence --------------------------------------------------------

def test_cos_value_only_when_it_says_more_than_the_value_sent():
    same = run(Fixture([], spec=default_spec().set("Content-Type", "image/png"),
                       response=(403, "AccessDenied", "Condition key Content-Type doesn't match the value image/png")))
    other = run(Fixture([], spec=default_spec().set("Content-Type", "image/png"),
                        response=(403, "AccessDenied", "Condition key Content-Type doesn't match the value image/gif")))
    assert "cos_value" not in same[0]["evidence"] and other[0]["evidence"]["cos_value"] == "image/gif"


def test_without_the_body_the_key_comes_from_cos_resource():
    fx = Fixture([], no_body=True, response=(403, "AccessDenied", "Access Denied."))
    (found, _) = run(fx)
    assert found["evidence"]["key"] == "uploads/a.txt" and found["evidence"]["token_present"] is None
    assert "uploads/a.txt" in render_finding(found)["title"]


def test_referer_and_origin_come_from_the_request():
    fx = Fixture([], headers={"referer": "https://evil.example/page", "origin": "https://evil.example"},
                 response=(403, "AccessDenied", "You are denied by bucket referer rule"))
    found = next(f for f in run(fx) if f["id"] == "AccessDenied_RefererRule")
    assert (found["evidence"]["referer"], found["evidence"]["origin"]) == ("https://evil.example/page",
                                                                           "https://evil.example")


def test_nothing_predicted_means_no_disagreement():
    fx = Fixture([], no_body=True, response=(403, "AccessDenied", "Condition key key doesn't match the value a"))
    assert "Warning_PreflightDisagreement" not in [f["id"] for f in run(fx)]
    assert "Warning_PreflightDisagreement" in FIXTURES["Warning_PreflightDisagreement"].expected


def test_explain_keeps_request_findings_after_cos_answer():
    ex = exchange(Fixture([], spec=with_policy(replace_condition(3, {"bucket": "other-1250000000"}))))
    analysis = analyse_request(ex.request, ex.credentials, NOW)
    answer = read_answer(403, {}, error_body("AccessDenied", "Condition key bucket doesn't match the value x"))
    (found,) = explain(analysis, answer, NOW)
    assert (found["id"], found["phase"]) == ("AccessDenied_BucketNotConsistent", "response")
    assert found["evidence"]["index"] == 3 and found["evidence"]["code"] == "AccessDenied"
