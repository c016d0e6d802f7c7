"""The pre-flight checks: what they find in a request, as words and facts (never sentences)."""
from __future__ import annotations

import base64

import pytest

from cosdoctor.cos.policy import CONDITION_WORDS, PROBLEM_DETAILS, decode_policy
from cosdoctor.cos.times import format_iso8601
from cosdoctor.findings import catalogue
from cosdoctor.findings.request_checks import analyse_request, is_certain, timezone_hint, verdict
from cosdoctor.wire.form import parse_form
from cosdoctor.wire.multipart import DETAILS
from devkit.formbuilder import policy_b64
from finding_fixtures import FIXTURES, NOW, Fixture, add_condition, default_spec, exchange, with_policy


def findings_of(fx: Fixture) -> list[dict]:
    ex = exchange(fx)
    return analyse_request(ex.request, ex.credentials, NOW).findings


def evidence_of(finding_id: str, fx: Fixture | None = None) -> dict:
    found = next(f for f in findings_of(fx or FIXTURES[finding_id]) if f["id"] == finding_id)
    return found["evidence"]


def test_a_malformed_body_is_a_reason_a_detail_and_one_position():
    evidence = evidence_of("MalformedPOSTRequest_POSTBody")
    assert (evidence["reason"], evidence["offset"], evidence["detail"]) == ("bare-lf", 17, "delimiter-line")
    assert evidence["detail"] in DETAILS and set(evidence) == {"reason", "offset", "detail"}


def test_a_malformed_part_names_its_0_based_index():
    cut = Fixture([], damage=lambda b: b.replace(b'name="q-ak"\r\n\r\n', b'name="q-ak"\r\n'))
    evidence = evidence_of("MalformedPOSTRequest_POSTBody", cut)
    assert evidence["reason"] == "unterminated-part-headers" and evidence["part"] == 2


def test_a_policy_problem_is_its_kind_a_detail_word_and_facts():
    evidence = evidence_of("InvalidPolicyDocument_Expiration")
    assert (evidence["problem"], evidence["detail"], evidence["expiration_problem"]) == \
        ("bad-expiration", "unusable", "not-iso8601")
    assert evidence["detail"] in PROBLEM_DETAILS


def test_condition_evidence_keeps_the_0_based_index_and_the_verdict_word():
    evidence = evidence_of("AccessDenied_Condition")
    assert evidence["index"] == 6 and evidence["why"] == "not-prefix" and evidence["why"] in CONDITION_WORDS
    assert evidence["actual"] == "image/png" and evidence["expected"] == "text/"


def test_a_condition_without_dollar_carries_its_note():
    fx = Fixture([], spec=with_policy(add_condition(["starts-with", "Content-Type", "image/"])))
    found = next(f for f in findings_of(fx) if f["id"] == "AccessDenied_Condition")
    assert found["evidence"]["why_notes"] == ["no-dollar"]


def test_expiration_evidence_says_time_zones_with_a_word_and_hours():
    evidence = evidence_of("AccessDenied_Expiration")
    assert (evidence["expired_for_s"], evidence["timezone_hint"], evidence["timezone_hours"]) == (3600, "whole-hours", 1)
    assert "expired_for" not in evidence and evidence["now"] == format_iso8601(NOW)


@pytest.mark.parametrize("expiration, key_time_end, expected", [
    (NOW - 8 * 3600, NOW, ("key-time-end", 8)),            # KeyTime in UTC, expiration in UTC+8 with Z
    (NOW - 3 * 3600, None, ("whole-hours", 3)),
    (NOW - 1234, None, (None, None)),
])
def test_timezone_hint(expiration, key_time_end, expected):
    _, raw = policy_b64({"expiration": format_iso8601(expiration), "conditions": [{"acl": "a"}]})
    policy = decode_policy(base64.b64encode(raw).decode())
    form = None
    if key_time_end is not None:
        body = (f'--b\r\nContent-Disposition: form-data; name="q-key-time"\r\n\r\n{NOW};{key_time_end}\r\n'
                '--b\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n\r\nx\r\n--b--\r\n').encode()
        form = parse_form("multipart/form-data; boundary=b", body)
    assert timezone_hint(policy, form, NOW - expiration) == expected


def test_signature_evidence_holds_words_not_sentences():
    evidence = evidence_of("SignatureDoesNotMatch_POSTSignature")
    assert evidence["verified"] is True and evidence["mistake"] == "wrong-secret-key"
    assert "mistake_text" not in evidence
    unverified = evidence_of("Info_SignatureNotVerified")
    assert unverified["checked"] == ["q-signature-format", "q-key-time-format"]


def test_the_verdict_is_the_first_error_and_only_documented_answers_are_certain():
    ex = exchange(FIXTURES["InvalidArgument_MissingField"])
    analysis = analyse_request(ex.request, ex.credentials, NOW)
    first = verdict(analysis)
    assert first["id"] == "InvalidArgument_MissingField" and not is_certain(analysis, first)
    ex = exchange(FIXTURES["AccessDenied_Condition"])
    analysis = analyse_request(ex.request, ex.credentials, NOW)
    assert is_certain(analysis, verdict(analysis))


def test_a_clean_upload_has_no_finding_and_no_verdict():
    ex = exchange(Fixture([], spec=default_spec()))
    analysis = analyse_request(ex.request, ex.credentials, NOW)
    assert analysis.findings == [] and verdict(analysis) is None and analysis.mode == "policy"


@pytest.mark.parametrize("finding_id", [i for i in FIXTURES if not FIXTURES[i].response])
def test_checks_hold_no_sentence(finding_id):
    """No evidence value a check writes is one of the catalogue's sentences."""
    sentences = {catalogue.raw_text(table, word, "en") for table, words in catalogue.TABLES.items() for word in words}
    for found in findings_of(FIXTURES[finding_id]):
        assert not {v for v in found["evidence"].values() if isinstance(v, str)} & sentences
        assert not any(isinstance(v, str) and v.endswith(".") and " the " in v for v in found["evidence"].values())



def test_a_policy_signed_with_a_shifted_key_time_names_that_key_time():
    """Issue 13 item 4: the signer's clock 90 s ahead of the client's q-key-time."""
    from cosdoctor.cos.signature import post_signature
    from cosdoctor.render.words import render_finding
    from finding_fixtures import SECRET_KEY, Fixture, default_spec, run
    spec = default_spec()
    start, end = (int(t) for t in spec.get("q-key-time").split(";"))
    shifted = f"{start + 90};{end + 90}"
    raw = base64.b64decode(spec.get("policy"))
    spec.set("q-signature", post_signature(SECRET_KEY, shifted, raw).signature)
    found = [f for f in run(Fixture([], spec)) if f["id"] == "SignatureDoesNotMatch_POSTSignature"]
    assert [f["evidence"]["mistake"] for f in found] == ["key-time-mismatch"]
    assert found[0]["evidence"]["signed_key_time"] == shifted
    for lang in catalogue.LANGS:
        assert shifted in render_finding(found[0], lang)["cause"]
