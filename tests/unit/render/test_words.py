"""Plain findings into the contract's dicts: every catalogue text, filled from evidence, per language."""
from __future__ import annotations

import json
import re

import pytest

from cosdoctor.findings import catalogue
from cosdoctor.render.words import derived, duration, join_sentences, label, render_finding, sentence_end

ALL_IDS = list(catalogue.all_ids())
TEXTS = ("title", "cause", "fix")
# What an unfilled placeholder looks like (today's and the old renderer's): none may be left.
LEFTOVERS = re.compile(r"(?<!\$)\{[a-z_]+\}|\[\[|\]\]|\|\||(?:^|[\s(#])\?(?:[\s).,;]|$)|\(absent\)|#(?!\d)"
                       r"|(?<!\w)\(\s*\)|\uff08\s*\uff09|  | [.,;:](?!\.)")


def rendered(finding_id: str, evidence: dict | None, lang: str = "en", phase: str = "preflight") -> dict:
    return render_finding(catalogue.finding(finding_id, phase, evidence), lang)


@pytest.mark.parametrize("lang", catalogue.LANGS)
@pytest.mark.parametrize("finding_id", ALL_IDS)
def test_every_entry_reads_well_without_any_evidence(finding_id, lang):
    """Saved traffic without file bytes, a record from elsewhere: no placeholder may show."""
    found = rendered(finding_id, None, lang)
    assert list(found) == ["id", "severity", "phase", "title", "cause", "fix", "doc", "evidence"]
    for name in TEXTS:
        assert found[name].strip(), name
        assert not LEFTOVERS.search(found[name]), (name, found[name])
    json.dumps(found)


def test_the_leftover_check_can_fail():
    for text in ("The policy expired ? ago", "condition #(absent)", "Bucket {bucket} x", "a  b", "x [[y]]"):
        assert LEFTOVERS.search(text), text


def _sample_evidence(finding_id: str) -> dict:
    """A distinct value for every key the entry's texts may use."""
    evidence: dict = {}
    for key in catalogue.evidence_keys(finding_id):
        evidence[key] = f"<<{key}>>"
    numbers = {"index": 3, "part": 2, "expired_for_s": 5400, "expires_in_s": 3 * 86400, "clock_skew_s": -600,
               "timezone_hours": 8, "offset": 17, "verified": True, "token_present": False,
               "etag_unreadable": True, "etag_hidden": True, "not_uploaded": True, "etag_differs": True,
               "aborted": True, "completed": True, "other_key": True, "initiate_allowed": True,
               "key_expired": True, "temporary_key": True, "token_sent": False}
    evidence.update({k: v for k, v in numbers.items() if k in evidence})
    words = {"mistake": "uppercase-hex", "reason": "bare-lf", "why": "case-differs",
             "timezone_hint": "whole-hours", "detail": None}
    evidence.update({k: v for k, v in words.items() if k in evidence})
    return evidence


@pytest.mark.parametrize("lang", catalogue.LANGS)
@pytest.mark.parametrize("finding_id", ALL_IDS)
def test_every_evidence_value_reaches_the_text(finding_id, lang):
    """With every fact known, each plain evidence key a text names is shown (the first option wins)."""
    evidence = _sample_evidence(finding_id)
    found = rendered(finding_id, evidence, lang, "response")
    for name, template in zip(TEXTS, catalogue.text_templates(finding_id, lang)):
        text = found[name]
        assert not LEFTOVERS.search(text), (name, text)
        first_options = {n for choice in template for n in choice.options[0].names}
        for key, value in evidence.items():
            if isinstance(value, str) and value.startswith("<<") and key in first_options:
                assert value in text, (name, key, text)


@pytest.mark.parametrize("lang, expected", [("en", "#4"), ("ko", "4번째"), ("zh", "#4")])
def test_condition_numbers_count_from_one_and_index_stays_zero_based(lang, expected):
    found = rendered("AccessDenied_Condition", {"field": "key", "index": 3}, lang)
    assert expected in found["title"] and found["evidence"]["index"] == 3


@pytest.mark.parametrize("seconds, lang, expected", [
    (0, "en", "0 s"), (45, "en", "45 s"), (5400, "en", "1 h 30 min"), (-600, "en", "10 min"),
    (3 * 86400 + 7, "en", "3 d"), (93784, "en", "1 d 2 h 3 min"),
    (5400, "ko", "1시간 30분"), (5400, "zh", "1 小时 30 分钟"), (86400, "zh", "1 天"),
    ("5400", "en", None), (True, "en", None),
])
def test_one_duration_formatter(seconds, lang, expected):
    assert duration(seconds, lang) == expected


def test_expired_for_is_worded_from_seconds_not_taken_from_evidence():
    found = rendered("AccessDenied_Expiration", {"expired_for_s": 27900, "expired_for": "7 h 45 min"}, "zh")
    assert found["title"] == "策略已在 7 小时 45 分钟前过期"


@pytest.mark.parametrize("lang", catalogue.LANGS)
def test_mistake_and_reason_sentences_follow_the_language(lang):
    sig = rendered("SignatureDoesNotMatch_POSTSignature", {"mistake": "uppercase-hex"}, lang)
    assert catalogue.mistake_text("uppercase-hex", lang) in sig["cause"]
    body = rendered("MalformedPOSTRequest_POSTBody", {"reason": "bare-lf", "offset": 17}, lang)
    assert catalogue.reason_text("bare-lf", lang) in body["cause"] and "17" in body["cause"]


def test_unknown_mistake_or_reason_uses_the_fallback_sentence():
    sig = rendered("SignatureDoesNotMatch_POSTSignature", {"mistake": None}, phase="response")
    body = rendered("MalformedPOSTRequest_POSTBody", {"reason": "weird"}, phase="response")
    assert "SecretKey" in sig["cause"] and "multipart" in body["cause"]


def test_a_boolean_fact_chooses_a_sentence_instead_of_showing_true_or_false():
    sent = rendered("AccessDenied_NoPermission", {"temporary_key": True, "token_sent": True}, "ko")["cause"]
    not_sent = rendered("AccessDenied_NoPermission", {"token_sent": False}, "ko")["cause"]
    unknown = rendered("AccessDenied_NoPermission", {"token_sent": None}, "ko")["cause"]
    assert "임시 키입니다" in sent and "x-cos-security-token은 전송되지 않았습니다" in not_sent
    assert "true" not in sent + not_sent and "token" not in unknown.split("거부합니다.")[-1]


def test_a_value_ending_a_sentence_does_not_get_a_second_full_stop():
    found = rendered("Unknown_Foo", {"message": "Something new.", "code": "Foo"}, phase="response")
    assert "Something new. This answer" in found["cause"]


def test_words_of_a_check_are_worded_with_their_facts():
    assert derived("malformation_text", {"detail": "part-not-closed", "part": 0}, "en") == \
        "Part 1 has no closing delimiter."
    assert derived("problem_text", {"detail": "not-strict", "repairs": ["url-safe", "padding-missing"]}, "zh") == \
        "它不是严格的 base64：使用了 URL-safe 字符（- 和 _），而 COS 要求标准 base64（+ 和 /）；缺少 = 填充。"
    assert derived("verdict_text", {"why": "not-equal", "actual": "a", "expected": "b"}, "en") == "'a' is not 'b'."
    assert derived("why_text", {"why": "not-equal", "actual": "a", "expected": "b"}, "en") is None   # the cause says it
    assert derived("malformation_text", {"detail": "an English sentence from an older version"}, "ko") is None


@pytest.mark.parametrize("lang, parts, expected", [
    ("en", ["One", "Two."], "One. Two."),
    ("ko", ["하나", "둘."], "하나. 둘."),
    ("zh", ["一", "二。"], "一。二。"),
])
def test_sentences_are_joined_with_their_ends(lang, parts, expected):
    assert join_sentences(parts, lang) == expected and sentence_end(expected, lang) == expected


def test_labels_fill_their_values():
    assert label("html", "shown", "en", shown=3, total=7) == "Showing 3 of 7 flows"
    with pytest.raises(KeyError):
        label("html", "nope", "en")


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


def test_strange_evidence_is_shown_not_raised():
    found = rendered("Warning_DuplicateField", {"field": {"a": 1}, "count": [1, None], "values": "x" * 5000})
    assert found["title"] and len(found["cause"]) < 1200
