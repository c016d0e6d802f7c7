"""The one-line surfaces: flow.comment, the log line, X-COS-Diagnosis headers and flow.metadata."""
from __future__ import annotations

import re

import pytest

from cosdoctor.findings import catalogue
from cosdoctor.findings.policy_origin import PolicyOrigins
from cosdoctor.render.text import SEVERITY_MARK, diagnosis_headers, diagnosis_log_line, flow_comment, metadata, summary
from cosdoctor.render.words import render_finding
from finding_fixtures import CREDENTIALS, FIXTURES, NOW, SECRET_KEY, diagnosis, exchange
from cosdoctor.findings.diagnose import diagnose_exchange

URL = "https://examplebucket-1250000000.cos.ap-beijing.myqcloud.com/"


def test_one_mark_per_severity_in_the_one_order():
    assert tuple(SEVERITY_MARK) == catalogue.SEVERITIES


def test_comment_line_is_title_facts_then_fix_as_sentences():
    line = flow_comment(diagnosis(FIXTURES["AccessDenied_Condition"]))
    assert line == ("✖ AccessDenied_Condition: Form field content-type breaks policy condition #7 — "
                    '["starts-with", "$Content-Type", "text/"] failed: sent \'image/png\'. Fix: Send content-type '
                    "with a value that meets the condition, or change the condition where the policy is signed. "
                    "Every field named in a condition (except bucket) must be in the form; key is checked after "
                    "${filename} is replaced, so use starts-with for such keys.")


@pytest.mark.parametrize("lang, joint", [("en", ". Fix: "), ("ko", ". 해결 방법: "), ("zh", "。解决方法：")])
def test_the_fix_follows_a_finished_sentence(lang, joint):
    comment = flow_comment(diagnosis(FIXTURES["NoSuchBucket_Host"]), lang)
    assert joint in comment and comment.count(joint) == 1


def test_info_lines_have_no_fix():
    comment = flow_comment(diagnosis(FIXTURES["Info_SignatureNotVerified"]))
    assert comment.startswith("ℹ Info_SignatureNotVerified: ") and "Fix:" not in comment


def test_a_malformation_names_one_position_and_does_not_repeat_its_title():
    line = flow_comment(diagnosis(FIXTURES["MalformedPOSTRequest_POSTBody"]))
    title, _, facts = line.partition(" — ")
    assert len(re.findall(r"(?:byte|offset) \d+", line)) == 1 and "bare-lf" not in facts


def test_condition_facts_do_not_repeat_the_condition_number():
    found = render_finding(diagnosis(FIXTURES["AccessDenied_Condition"]).findings[0])
    assert "#7" in found["title"] and "#" not in summary(found)


def test_facts_say_where_the_policy_came_from_in_the_language_asked():
    origins = PolicyOrigins()
    ex = exchange(FIXTURES["AccessDenied_Condition"])
    policy = ex.body.split(b'name="policy"\r\n\r\n')[1].split(b"\r\n")[0]
    origins.observe(flow_id="sign-1", method="GET", url="https://app.example/sign", time="2026-01-01T00:00:00Z",
                    content_type="application/json", body=b'{"policy": "' + policy + b'"}')
    found = diagnose_exchange(ex.request, None, now=NOW, credentials=CREDENTIALS, origins=origins, flow_id="up-1")
    assert "policy from GET https://app.example/sign at 2026-01-01T00:00:00Z" in flow_comment(found)
    assert "정책 출처: 2026-01-01T00:00:00Z의 GET https://app.example/sign" in flow_comment(found, "ko")


@pytest.mark.parametrize("lang, more", [("en", " (+1 more)"), ("ko", " (외 1개)"), ("zh", "（另有 1 项）")])
def test_log_line_leads_with_the_first_finding_and_counts_the_rest(lang, more):
    line = diagnosis_log_line(diagnosis(FIXTURES["AccessDenied_Expiration"]), "POST", URL, lang)
    assert line.startswith(f"COS POST {URL} -> -: AccessDenied_Expiration: ") and line.endswith(more)


@pytest.mark.parametrize("lang", catalogue.LANGS)
def test_headers_are_ascii_english_whatever_the_language(lang):
    found = diagnosis(FIXTURES["AccessDenied_Expiration"])
    metadata(found, lang)                                     # rendering in another language first changes nothing
    headers = diagnosis_headers(found)
    assert headers["X-COS-Diagnosis"] == "AccessDenied_Expiration"
    assert headers["X-COS-Diagnosis-Detail"].startswith("The policy expired 1 h ago: expiration 2026-11-18T10:06:40Z")
    assert re.fullmatch(r"[\x20-\x7e]{1,240}", headers["X-COS-Diagnosis-Detail"])


def test_metadata_is_the_contract_and_built_once_per_language():
    found = diagnosis(FIXTURES["AccessDenied_Condition"])
    meta = metadata(found, "zh")
    assert list(meta) == ["bucket", "region", "key", "mode", "operation", "auth", "upload_id", "part_number",
                          "fields", "findings"]
    assert meta["mode"] == meta["auth"] == "policy" and meta["operation"] == "PostObject"
    assert meta["upload_id"] is None and meta["part_number"] is None
    assert metadata(found, "zh") is meta and metadata(found, "en") is not meta
    assert meta["findings"][0]["title"] == "表单字段 content-type 不满足策略条件 #7"
    assert list(meta["findings"][0]) == ["id", "severity", "phase", "title", "cause", "fix", "doc", "evidence"]


def test_a_secret_key_never_reaches_a_text():
    found = diagnosis(FIXTURES["SignatureDoesNotMatch_POSTSignature"])
    for lang in catalogue.LANGS:
        assert SECRET_KEY not in flow_comment(found, lang) + diagnosis_log_line(found, "POST", URL, lang)
