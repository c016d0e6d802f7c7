"""The one pipeline: a plain request and answer in, a diagnosis with plain findings out.

What `diagnose` adds to the checks' findings (sent signatures and tokens shortened wherever they are
quoted, strings made JSON-safe, fresh copies the caller may change) and what `block_answer` sends
in COS's name, both through the public functions."""
from __future__ import annotations

import json

import pytest

from cosdoctor.cos.secrets import shorten
from cosdoctor.findings import catalogue
from cosdoctor.findings.diagnose import Diagnosis, PlainResponse, block_answer, diagnose, diagnose_exchange
from cosdoctor.findings.request_checks import analyse_request
from cosdoctor.wire.errorxml import parse_error_xml
from finding_fixtures import FIXTURES, NOW, Fixture, default_spec, exchange

SIGNATURE_FIELD = "q-signature"


def _analysis(fx: Fixture):
    ex = exchange(fx)
    return analyse_request(ex.request, ex.credentials, NOW)


def _with_evidence(value: object):
    """A clean upload's analysis plus one finding whose evidence holds `value`; and the signature sent."""
    analysis = _analysis(Fixture([]))
    signature = analysis.form.get(SIGNATURE_FIELD)
    analysis.findings.append(catalogue.finding("Warning_DuplicateField", "preflight", {"values": value}))
    return analysis, signature


@pytest.mark.parametrize("shape", ["text", "list", "dict-value"])
def test_a_sent_signature_is_shortened_wherever_evidence_quotes_it(shape):
    analysis, signature = _with_evidence(None)
    value = {"text": f"sig={signature}", "list": [1, None, True, signature],
             "dict-value": {"k": signature}}[shape]
    analysis.findings[-1]["evidence"]["values"] = value
    (found,) = diagnose(analysis, None, NOW).findings
    dumped = json.dumps(found, ensure_ascii=False)
    assert signature not in dumped and shorten(signature) in dumped


def test_lone_surrogates_become_json_safe_and_plain_values_stay():
    analysis, _ = _with_evidence({"k\udc80": "lone \udc80 surrogate", "n": [1, 2.5, None], "ok": "café"})
    (found,) = diagnose(analysis, None, NOW).findings
    assert found["evidence"]["values"] == {"k\\udc80": "lone \\udc80 surrogate", "n": [1, 2.5, None], "ok": "café"}
    (json.dumps(found, ensure_ascii=False)).encode("utf-8")          # strict UTF-8: a report line can hold it


def test_the_diagnosis_owns_its_findings():
    analysis, _ = _with_evidence(["a", {"b": 1}])
    diagnosis = diagnose(analysis, None, NOW)
    diagnosis.findings[0]["evidence"]["values"][1]["b"] = 2
    assert analysis.findings[-1]["evidence"]["values"] == ["a", {"b": 1}]


def test_a_diagnosis_holds_no_words():
    """Words come at render time, in the language asked: the findings stage needs none."""
    diagnosis = diagnose_exchange(exchange(FIXTURES["AccessDenied_Condition"]).request, None, now=NOW)
    assert isinstance(diagnosis, Diagnosis) and diagnosis.metadata_cache == {}
    assert all(set(f) == {"id", "severity", "phase", "evidence"} for f in diagnosis.findings)


def test_block_answer_speaks_as_cos_for_a_documented_rejection():
    local = block_answer(_analysis(FIXTURES["AccessDenied_Condition"]), "cosdoctor-1", "host/uploads/a.txt")
    assert local is not None and local.status == 403 and local.finding["id"] == "AccessDenied_Condition"
    error = parse_error_xml(local.body)
    assert (error.code, error.message, error.request_id) == (
        "AccessDenied", "Condition key content-type doesn't match the value image/png", "cosdoctor-1")


@pytest.mark.parametrize("finding_id", ["InvalidArgument_MissingField", "Warning_NoBucketCondition",
                                        "Info_SignatureNotVerified"])
def test_block_answer_never_guesses(finding_id):
    """An undocumented COS answer, a warning or nothing certain: the upload goes to COS."""
    assert block_answer(_analysis(FIXTURES[finding_id]), "cosdoctor-1", "r") is None


def test_a_local_answer_is_not_explained_as_cos_answer():
    ex = exchange(FIXTURES["AccessDenied_Condition"])
    local = PlainResponse(403, {"content-type": "application/xml"}, b"<Error/>", NOW)
    diagnosis = diagnose_exchange(ex.request, local, now=NOW, credentials=ex.credentials, answered_locally=True)
    assert diagnosis.status == 403 and [f["phase"] for f in diagnosis.findings] == ["preflight"]


def test_a_default_upload_with_its_signature_has_nothing_to_say():
    ex = exchange(Fixture([], spec=default_spec()))
    diagnosis = diagnose_exchange(ex.request, None, now=NOW, credentials=ex.credentials)
    assert diagnosis.findings == [] and not diagnosis.failing
