"""Plain findings into the contract's dicts: every catalogue text, filled from evidence, per language."""
from __future__ import annotations

import json
import string

import pytest

from cosdoctor.findings import catalogue
from cosdoctor.render.words import render_finding

ALL_IDS = list(catalogue.all_ids())


def rendered(finding_id: str, evidence: dict | None, lang: str = "en", phase: str = "preflight") -> dict:
    return render_finding(catalogue.finding(finding_id, phase, evidence), lang)


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize("lang", catalogue.LANGS)
@pytest.mark.parametrize("finding_id", ALL_IDS)
def test_renders_with_no_evidence_at_all(finding_id, lang):
    found = rendered(finding_id, None, lang)
    assert list(found) == ["id", "severity", "phase", "title", "cause", "fix", "doc", "evidence"]
    assert found["id"] == finding_id and found["phase"] == "preflight"
    assert all(found[k].strip() for k in ("title", "cause", "fix"))
    json.dumps(found)


@pytest.mark.parametrize("lang", catalogue.LANGS)
@pytest.mark.parametrize("finding_id", ALL_IDS)
def test_every_placeholder_is_filled_from_evidence(finding_id, lang):
    text = catalogue.texts(finding_id, lang)
    used = set().union(*(placeholders(t) for t in text.values())) - {"actual_text", "mistake_text",
                                                                        "reason_text"}
    evidence = {name: f"<<{name}>>" for name in used}
    found = rendered(finding_id, evidence, lang, "response")
    text_out = " ".join(found[k] for k in ("title", "cause", "fix"))
    for name in used:
        assert f"<<{name}>>" in text_out
        assert "{" + name + "}" not in text_out       # no placeholder left unfilled
    assert "{mistake_text}" not in text_out and "{reason_text}" not in text_out


def test_missing_key_renders_question_mark_and_none_renders_absent():
    found = rendered("AccessDenied_Condition", {"field": "key", "actual": None})
    assert "#?" in found["title"]
    assert "(absent)" in found["cause"]
    assert found["evidence"] == {"field": "key", "actual": None}


def test_defaults_fill_optional_keys():
    found = rendered("AccessDenied_Expiration", {"expiration": "2021-05-16T18:01:44Z", "timezone_hint": None})
    assert "(absent)" not in found["cause"] and not found["cause"].endswith("?")


def test_sequences_read_as_lists():
    assert "a, b" in rendered("Warning_DuplicateField", {"field": "key", "values": ("a", "b")})["cause"]


@pytest.mark.parametrize("lang", catalogue.LANGS)
def test_mistake_and_reason_sentences_follow_the_language(lang):
    sig = rendered("SignatureDoesNotMatch_POSTSignature", {"mistake": "uppercase-hex",
                                                           "mistake_text": "English from the check"}, lang)
    assert catalogue.mistake_text("uppercase-hex", lang) in sig["cause"]
    body = rendered("MalformedPOSTRequest_POSTBody", {"reason": "bare-lf", "offset": 17}, lang)
    assert catalogue.reason_text("bare-lf", lang) in body["cause"] and "17" in body["cause"]


def test_unknown_mistake_or_reason_uses_the_fallback_sentence():
    sig = rendered("SignatureDoesNotMatch_POSTSignature", {"mistake": None}, phase="response")
    body = rendered("MalformedPOSTRequest_POSTBody", {"reason": "weird"}, phase="response")
    assert "SecretKey" in sig["cause"] and "multipart" in body["cause"]


def test_unknown_code_is_worded_from_its_template():
    found = rendered("Unknown_Foo", {"message": "Bar happened", "request_id": "R1"}, phase="response")
    assert "Foo" in found["title"] and "Bar happened" in found["cause"] and "R1" in found["fix"]


@pytest.mark.parametrize("lang", ["ko", "zh"])
def test_a_finding_worded_in_one_language_is_worded_again_in_another(lang):
    """A record captured in English can be read in Korean or Chinese: the texts come from the ID."""
    english = rendered("AccessDenied_Condition", {"field": "key", "index": 3}, "en")
    again = render_finding(english, lang)
    assert again["title"] == rendered("AccessDenied_Condition", {"field": "key", "index": 3}, lang)["title"]
    assert again["title"] != english["title"] and again["evidence"] == english["evidence"]


@pytest.mark.parametrize("record", [
    {"id": "Something_New", "severity": "error", "title": "Kept", "cause": "as", "fix": "recorded"},
    {"id": 42, "evidence": "not a mapping"},
    {},
])
def test_an_id_the_catalogue_does_not_know_keeps_its_own_texts(record):
    found = render_finding(record, "zh")
    assert found["title"] == (record.get("title") or "")
    assert set(found) == {"id", "severity", "phase", "title", "cause", "fix", "doc", "evidence"}
