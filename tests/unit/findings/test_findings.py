"""Every catalogue ID has a fixture (HTTPolice-style): the exact findings each one produces.

The fixtures live in tests/unit/finding_fixtures.py (the language test words them too); each runs
the one pipeline and must give exactly its expected IDs, in the order every surface shows them.
"""
from __future__ import annotations

import json

import pytest

from cosdoctor.findings import catalogue
from cosdoctor.findings.diagnose import diagnose, request_for
from cosdoctor.render.words import render_finding
from cosdoctor.wire.errorxml import render_error_xml
from cosdoctor.findings.answer import read_answer
from cosdoctor.cos.hosts import parse_cos_host
from cosdoctor.findings.request_checks import analyse_request
from cosdoctor.render.text import diagnosis_headers, flow_comment
from finding_fixtures import (CREDENTIALS, FIXTURES, HOST, NOW, WITHOUT_BODY, Fixture, add_condition, default_spec,
                              run, signature_field_spec, with_policy)


# Findings no request/answer fixture can produce, each with its own test below.
OWN_TESTS = {"Info_LocalAnswerCORSUnknown": "test_local_answer_cors_unknown"}


def test_every_catalogue_id_has_a_fixture():
    catalogued = set(catalogue.all_ids()) - {"Unknown_Code"}
    fixtures = {i for i in FIXTURES if not i.startswith("Unknown_")}
    assert catalogued == fixtures | set(OWN_TESTS)
    assert all(name in globals() for name in OWN_TESTS.values())
    assert any(i.startswith("Unknown_") for i in FIXTURES)


@pytest.mark.parametrize("finding_id", list(FIXTURES))
def test_fixture_produces_exactly_its_findings(finding_id):
    fx = FIXTURES[finding_id]
    findings = run(fx)
    assert [f["id"] for f in findings] == fx.expected
    assert finding_id in fx.expected
    for found in findings:
        assert set(found) == {"id", "severity", "phase", "evidence"}          # plain: no words yet
        assert found["severity"] == catalogue.entry(found["id"]).severity
        json.dumps(found)


@pytest.mark.parametrize("name", list(WITHOUT_BODY))
def test_saved_traffic_without_the_body_is_explained_from_cos_answer_alone(name):
    """Nothing could be predicted, so COS's answer leads, the missing body is said, and there is no
    pre-flight disagreement."""
    fx = WITHOUT_BODY[name]
    assert [f["id"] for f in run(fx)] == fx.expected


@pytest.mark.parametrize("spec", [default_spec(), signature_field_spec()], ids=["policy", "signature-field"])
def test_valid_default_has_no_findings(spec):
    assert run(Fixture([], spec)) == []


def test_valid_default_accepted_by_cos_has_no_findings():
    assert run(Fixture([], response=(204, None, ""))) == []


def test_a_token_condition_never_puts_the_full_token_in_any_text():
    token = "sts-token-" + "Zq9" * 20
    spec = with_policy(add_condition({"x-cos-security-token": "another-token-" + "Yw8" * 20}),
                       default_spec().set("x-cos-security-token", token))
    findings = run(Fixture([], spec, response=(403, "AccessDenied",
                                            f"Condition key x-cos-security-token doesn't match the value {token}")))
    text = json.dumps([render_finding(f, lang) for f in findings for lang in catalogue.LANGS])
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
    token = "sts-token-" + "Qp7" * 20
    analysis = _analysis_sending_token(token)
    xml = render_error_xml("AccessDenied", f"Condition key x-cos-security-token doesn't match the value {token}", HOST, "r")
    result = diagnose(analysis, read_answer(403, {}, xml), NOW, CREDENTIALS)
    dumped = json.dumps([result.findings, result.error, flow_comment(result), diagnosis_headers(result)], ensure_ascii=False)
    assert token not in dumped and token[:4] + "…" + token[-4:] in dumped


def test_cors_hidden_response_names_the_page_and_the_rule():
    """A cross-origin POST that COS accepted without Access-Control-Allow-Origin for the page."""
    (found,) = run(FIXTURES["Warning_CORSResponseHidden"])
    shown = render_finding(found)
    assert "https://app.example.com" in shown["title"]
    assert "<AllowedOrigin>https://app.example.com</AllowedOrigin>" in shown["fix"]


def test_sensitive_evidence_is_shortened_once_to_first_and_last_four():
    token = "sts-token-" + "Rk5" * 20
    found = next(f for f in diagnose(_analysis_sending_token(token), None, NOW).findings
                 if f["id"] == "AccessDenied_Condition")
    assert found["evidence"]["actual"] == token[:4] + "…" + token[-4:]


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
    assert [f["id"] for f in analysis.findings] == ["AccessDenied_Condition", "Info_LocalAnswerCORSUnknown"]
    found = analysis.findings[1]
    assert found["severity"] == catalogue.entry(found["id"]).severity == "info"
    for lang in catalogue.LANGS:
        shown = render_finding(found, lang)
        assert "https://app.example.com" in shown["title"] and HOST in shown["cause"]
