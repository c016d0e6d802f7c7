"""The per-upload shortcuts give exactly what the general code gives.

Each shortcut on the diagnosis path (form look-ups that try the name as given, a cached scrub
pattern, evidence redaction that leaves harmless evidence alone) is checked against the general
rule it stands in for. (The sent-secret walk is tested in test_diagnose, the Date fast path in
test_answer: through their public functions.)
"""
from __future__ import annotations

import pytest

from cosdoctor.wire.form import parse_form
from devkit.formbuilder import FormSpec
from cosdoctor.cos.secrets import REDACTED, redact_evidence, scrub, shorten

SIGNATURE = "0123456789abcdef0123456789abcdef01234567"


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
