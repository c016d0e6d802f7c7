"""The per-upload shortcuts give exactly what the general code gives.

Each shortcut on the diagnosis path (one walk that shortens sent secrets and drops lone surrogates,
form look-ups that try the name as given, a
cached scrub pattern) is checked against the general rule it stands in for.
"""
from __future__ import annotations

import random
from email.utils import formatdate, parsedate_to_datetime

import pytest

from cosdoctor.findings.diagnose import _clean
from cosdoctor.findings.answer import _http_date
from cosdoctor.wire.form import parse_form
from devkit.formbuilder import FormSpec
from cosdoctor.cos.secrets import REDACTED, redact_evidence, scrub, shorten

SIGNATURE = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize("value, secrets, expected", [
    ("plain ascii", [SIGNATURE], "plain ascii"),
    (f"sig={SIGNATURE}", [SIGNATURE], f"sig={shorten(SIGNATURE)}"),
    ("lone \udc80 surrogate", [], "lone \\udc80 surrogate"),
    ("caf\u00e9", [SIGNATURE], "caf\u00e9"),
    ([1, None, 2.5, True, SIGNATURE], [SIGNATURE], [1, None, 2.5, True, shorten(SIGNATURE)]),
    ({"k\udc80": SIGNATURE, SIGNATURE: 1}, [SIGNATURE], {"k\\udc80": shorten(SIGNATURE), SIGNATURE: 1}),
    ((SIGNATURE,), [SIGNATURE], (SIGNATURE,)),           # tuples are left as they are
    (None, [SIGNATURE], None),
])
def test_clean_shortens_secrets_and_drops_surrogates(value, secrets, expected):
    assert _clean(value, secrets) == expected


def test_clean_copies_every_list_and_dict():
    findings = [{"id": "X", "evidence": {"values": ["a"], "nested": {"b": 1}}}]
    cleaned = _clean(findings, [])
    assert cleaned == findings
    assert cleaned is not findings and cleaned[0] is not findings[0]
    assert cleaned[0]["evidence"] is not findings[0]["evidence"]
    assert cleaned[0]["evidence"]["values"] is not findings[0]["evidence"]["values"]
    assert cleaned[0]["evidence"]["nested"] is not findings[0]["evidence"]["nested"]


@pytest.mark.parametrize("name, expected", [
    ("policy", "P"), ("POLICY", "P"), ("Policy", "P"),
    ("content-type", "image/png"), ("Content-Type", "image/png"),
    ("x-cos-meta-a", None), ("X-Cos-Meta-A", None),
])
def test_form_lookups_ignore_case(name, expected):
    body, content_type = FormSpec([("Policy", "P"), ("Content-TYPE", "image/png"), ("key", "k")]).encode("b0undary")
    form = parse_form(content_type, body)
    assert form.get(name) == expected
    assert form.has(name) is (expected is not None)


@pytest.mark.parametrize("secrets", [
    ("s3cretKey-AAAA", "short"),
    ["s3cretKey-AAAA"],
    ("s3cretKey-AAAA", ["unhashable"]),
    (s for s in ["s3cretKey-AAAA"]),
])
def test_scrub_gives_the_same_text_for_any_kind_of_collection(secrets):
    assert scrub("key s3cretKey-AAAA and short", secrets) == f"key {REDACTED} and short"


@pytest.mark.parametrize("evidence, changed", [
    ({"part_content_type": "application/octet-stream"}, False),
    ({"field": "key", "actual": "a" * 20}, False),
    ({"field": "Q-Signature", "actual": SIGNATURE, "why": f"{SIGNATURE} differs"}, True),
    ({"q_signature": SIGNATURE, "detail": SIGNATURE}, True),
])
def test_redact_evidence_leaves_harmless_evidence_alone(evidence, changed):
    before = dict(evidence)
    result = redact_evidence(evidence)
    assert result is evidence
    assert (result != before) is changed
    assert not changed or all(SIGNATURE not in str(v) for v in result.values())


# --- the Date header -------------------------------------------------------------------------------

def _general_http_date(value: str) -> int | None:
    try:
        return int(parsedate_to_datetime(value).timestamp())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


@pytest.mark.parametrize("value", [
    "Sun, 06 Nov 1994 08:49:37 GMT", "Sun, 29 Nov 2026 19:16:49 GMT", "Sat, 28 Feb 2026 23:59:59 GMT",
    "Sun, 31 Feb 2026 10:00:00 GMT", "Sun, 30 Nov 2026 23:59:60 GMT", "Sun, 18 Nov 0035 22:59:05 GMT",
    "Sun, 99 Nov 2026 10:00:00 GMT", "Sun, 06 Nov 1994 24:00:00 GMT", "Sunday, 06-Nov-94 08:49:37 GMT",
    "Sun Nov  6 08:49:37 1994", "Sun, 06 Nov 1994 08:49:37 +0800", "garbage", "",
])
def test_date_header_reads_as_email_utils_reads_it(value):
    assert _http_date(value) == (_general_http_date(value) if value else None)


def test_date_header_fast_path_agrees_on_many_dates():
    rng = random.Random(7)
    for _ in range(20_000):
        seconds = rng.randrange(0, 2 ** 33)
        value = formatdate(seconds, usegmt=True)
        assert _http_date(value) == seconds, value
        mutated = list(value)
        mutated[rng.randrange(len(mutated))] = rng.choice("0123456789 :,GMTX")
        assert _http_date("".join(mutated)) == _general_http_date("".join(mutated)), "".join(mutated)
