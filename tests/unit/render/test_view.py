"""The content view's text (cosdoctor.formview): a valid default upload plus one delta per case."""
from __future__ import annotations

import base64
import hashlib
import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cosdoctor.cos.credentials import Credential, CredentialStore
from devkit.formbuilder import FormSpec, policy_b64, signed_form
from cosdoctor.render.view import CANNOT_RENDER, NOT_COS, WRAP, summarize
from cosdoctor.cos.signature import hmac_sha1_hex, post_signature, sign_key

SECRET_ID = "AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q"
SECRET_KEY = "BQYIM75p8x0iWVFSIgqEKwFprpRSVHlz"
BUCKET = "examplebucket-1250000000"
HOST = f"{BUCKET}.cos.ap-beijing.myqcloud.com"
NOW = 1_795_000_000
BOUNDARY = "b0undary"
TOKEN = "tok" + "Zk9vYmFyYmF6cXV4" * 8 + "END"
CREDENTIALS = CredentialStore({SECRET_ID: Credential(SECRET_ID, SECRET_KEY, source="test")}, ())
FILE_DATA = b"\x89PNG\r\n\x1a\n" + b"A" * 24 + b"SECOND-HALF-NEVER-SHOWN" * 10


def default_spec(**kw) -> FormSpec:
    """A correct, lint-clean upload (the same default as test_findings)."""
    spec = signed_form(SECRET_ID, SECRET_KEY, BUCKET, "uploads/a.png", now=NOW,
                       extra_conditions=[["content-length-range", 1, 1024],
                                         ["starts-with", "$Content-Type", "image/"]],
                       extra_fields=[("Content-Type", "image/png")], **kw)
    spec.file_name, spec.file_data, spec.file_type = "a.png", FILE_DATA, "image/png"
    return spec


def view(spec: FormSpec | None = None, *, body: bytes | None = None, content_type: str | None = None,
         **kw) -> str:
    if body is None:
        body, content_type = (spec or default_spec()).encode(BOUNDARY)
    kw.setdefault("host", HOST)
    return summarize(body, content_type, now=NOW, **kw)


def with_policy(spec: FormSpec, change) -> FormSpec:
    doc = json.loads(base64.b64decode(spec.get("policy") or ""))
    change(doc)
    b64, raw = policy_b64(doc)
    spec.set("policy", b64)
    return spec.set("q-signature", post_signature(SECRET_KEY, spec.get("q-key-time") or "", raw).signature)


def section(text: str, name: str) -> str:
    """The lines of one top-level section (`name:` up to the next unindented line)."""
    match = re.search(rf"^{name}:.*?(?=^\S)", text + "\nEND", re.M | re.S)
    assert match, f"no section {name!r} in:\n{text}"
    return match.group()


# --- the valid default ---------------------------------------------------------------------

def test_valid_form_shows_parts_in_wire_order_with_offsets():
    body, content_type = default_spec().encode(BOUNDARY)
    text = view(body=body, content_type=content_type, credentials=CREDENTIALS)
    assert 'verdict: "no findings"' in text and "findings: []" in text
    names = re.findall(r'^    name: "(.*)"$', section(text, "parts"), re.M)
    assert names == ["key", "q-sign-algorithm", "q-ak", "q-key-time", "q-signature", "policy",
                     "Content-Type", "file"]
    data_start = body.index(FILE_DATA)
    part_start = body.rindex(f"--{BOUNDARY}\r\n".encode(), 0, data_start) + len(BOUNDARY) + 4
    assert (f"offsets: {{start: {part_start}, data_start: {data_start}, "
            f"data_end: {data_start + len(FILE_DATA)}}}") in text
    assert f"size: {len(FILE_DATA)}" in text
    assert 'filename: "a.png"' in text and 'content_type: "image/png"' in text


def test_file_part_is_summarised_never_dumped():
    text = view()
    assert "head: " + json.dumps(repr(FILE_DATA[:32])) in text
    assert f"md5: {hashlib.md5(FILE_DATA).hexdigest()}" in text
    assert "SECOND-HALF" not in text


def test_field_values_shown_and_policy_decoded_below():
    spec = default_spec()
    text = view(spec)
    assert 'value: "uploads/a.png"' in text
    assert f'value: "(base64, {len(spec.get("policy") or "")} chars — decoded below)"' in text
    assert (spec.get("policy") or "")[:40] not in text
    policy = section(text, "policy")
    assert '{"bucket": "examplebucket-1250000000"}' in policy
    assert '["content-length-range", 1, 1024]' in policy
    assert re.findall(r"^  - (PASS|FAIL) conditions\[\d+\]", text, re.M) == ["PASS"] * 7


# --- policy conditions -----------------------------------------------------------------------

@pytest.mark.parametrize("change, index, why", [
    (lambda d: d["conditions"].__setitem__(4, ["starts-with", "$key", "avatars/"]), 4,
     "'uploads/a.png' does not start with 'avatars/'."),
    (lambda d: d["conditions"].__setitem__(3, {"bucket": "otherbucket-1250000000"}), 3,
     "'examplebucket-1250000000' is not 'otherbucket-1250000000'."),
    (lambda d: d["conditions"].__setitem__(5, ["content-length-range", 1, 10]), 5,
     f"The file has {len(FILE_DATA)} bytes, above the maximum 10."),
    (lambda d: d["conditions"].append({"x-cos-meta-owner": "alice"}), 7, "The form does not send this field."),
])
def test_failing_condition_is_marked_with_why(change, index, why):
    text = view(with_policy(default_spec(), change))
    conditions = section(text, "conditions")
    assert "1 failed" in conditions
    assert re.search(rf"^  - FAIL: conditions\[{index}\]   # .*\n    why: {re.escape(json.dumps(why, ensure_ascii=False))}$", conditions, re.M)
    assert len(re.findall(r"^  - PASS ", conditions, re.M)) == conditions.count("\n  - ") - 1
    assert re.search(r'^  verdict: !error "\S+: ', text, re.M)
    assert "verdict: no" not in text


def test_undecodable_policy_is_reported_not_fatal():
    spec = default_spec().set("policy", base64.b64encode(b'{"expiration": "x", ').decode())
    text = view(spec)
    assert "policy_problems:" in text
    assert 'verdict: !error "InvalidPolicyDocument' in text


# --- malformed bodies ------------------------------------------------------------------------

@pytest.mark.parametrize("damage, content_type, reason, offset", [
    (lambda b: b.replace(b"\r\n", b"\n"), None, "bare-lf", len(BOUNDARY) + 2),
    (lambda b: b[:-20], None, "truncated", None),
    (lambda b: b, "multipart/form-data; boundary=other", "boundary-mismatch", 0),
    (lambda b: b, "multipart/form-data", "missing-boundary", 0),
])
def test_malformed_body_names_reason_and_offset(damage, content_type, reason, offset):
    body, good_type = default_spec().encode(BOUNDARY)
    body = damage(body)
    text = view(body=body, content_type=content_type or good_type)
    malformed = section(text, "body")
    assert "well_formed: false" in malformed
    assert f"    reason: {reason}" in malformed
    found = int(re.search(r"^    offset: (\d+)$", malformed, re.M).group(1))
    assert found == (offset if offset is not None else len(body))
    assert 'verdict: !error "MalformedPOSTRequest_POSTBody' in text


def test_duplicates_and_fields_after_file_are_flagged():
    body, content_type = default_spec().encode(BOUNDARY)
    extra = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nother.png\r\n"
             f"--{BOUNDARY}--\r\n").encode()
    body = body[: body.rindex(f"--{BOUNDARY}--".encode())] + extra
    text = view(body=body, content_type=content_type)
    assert 'DUPLICATE_FIELDS: {"key": 2}' in text
    assert 'FIELDS_AFTER_FILE: ["key"]' in text
    last = section(text, "parts").split("  - index: ")[-1]
    assert "flags: [\"DUPLICATE (copy 2 of 'key')\", \"AFTER FILE\"]" in last
    assert "Warning_FieldAfterFile" in text and "Warning_DuplicateField" in text


# --- signature ---------------------------------------------------------------------------

def test_signature_mistake_found_with_credentials():
    spec = default_spec()
    wrong = hashlib.sha1((spec.get("policy") or "").encode()).hexdigest()
    spec.set("q-signature", hmac_sha1_hex(sign_key(SECRET_KEY, spec.get("q-key-time") or ""), wrong))
    text = view(spec, credentials=CREDENTIALS)
    signature = section(text, "signature")
    assert "verified: true" in signature and "result: !error MISMATCH" in signature
    assert "mistake: sha1-of-base64-policy" in signature
    assert 'mistake_text: "StringToSign was computed as SHA1 of the base64 text' in signature
    raw = base64.b64decode(spec.get("policy") or "")
    assert f'string_to_sign: "{hashlib.sha1(raw).hexdigest()}"' in signature


def test_signature_without_credentials_is_not_verified():
    signature = section(view(), "signature")
    assert "verified: false" in signature and 'result: "not verified"' in signature


def test_signature_from_the_addon_diagnosis_when_view_has_no_key():
    evidence = {"verified": True, "mistake": "key-time-mismatch", "expected_signature": "abcd…wxyz"}
    diagnosis = {"findings": [{"id": "SignatureDoesNotMatch_POSTSignature", "severity": "error",
                               "phase": "response", "title": "T", "evidence": evidence}]}
    signature = section(view(diagnosis=diagnosis), "signature")
    assert "result: !error MISMATCH" in signature and "mistake: key-time-mismatch" in signature


# --- findings ----------------------------------------------------------------------------

def test_findings_come_from_the_diagnosis_when_given():
    found = {"id": "Future_Check", "severity": "error", "phase": "response",
             "title": "Expired for real", "cause": "c", "fix": "Sign again", "evidence": {}}
    text = view(diagnosis={"findings": [found]})
    findings = section(text, "findings")
    assert "the addon's diagnosis" in findings
    assert "✖ ERROR: Future_Check" in findings
    assert 'title: "Expired for real"' in findings and 'fix: "Sign again"' in findings
    assert 'verdict: !error "Future_Check: Expired for real"' in text


def test_the_diagnosis_is_worded_in_the_view_language():
    """A flow diagnosed with cos_lang=zh (or saved by someone else) reads in the view's language."""
    found = {"id": "AccessDenied_Expiration", "severity": "error", "phase": "response",
             "title": "策略已过期", "cause": "…", "fix": "…", "evidence": {"expired_for_s": 7200}}
    findings = section(view(diagnosis={"findings": [found]}), "findings")
    assert 'title: "The policy expired 2 h ago"' in findings and "策略" not in findings


def test_findings_are_computed_when_no_diagnosis():
    spec = with_policy(default_spec(), lambda d: d["conditions"].__setitem__(1, {"q-ak": "AKIDother"}))
    findings = section(view(spec), "findings")
    assert "(checked here)" in findings
    assert "✖ ERROR: AccessDenied_q-ak" in findings
    assert re.search(r"^    fix: \S", findings, re.M)


def test_sentences_are_folded_under_their_key():
    spec = with_policy(default_spec(), lambda d: d["conditions"].__setitem__(4, ["starts-with", "$key", "x/"]))
    findings = section(view(spec), "findings")
    assert max(len(line) for line in findings.splitlines()) <= WRAP
    fix = re.search(r"^    fix: \S.*\n(?:         \S.*\n)+    doc: ", findings, re.M)
    assert fix, findings                       # a long fix continues, aligned under its text


def test_a_field_value_cannot_forge_lines():
    spec = default_spec().set("x-cos-meta-note", "ok\nverdict: no findings\r\n")
    spec = with_policy(spec, lambda d: d["conditions"].append(["starts-with", "$x-cos-meta-note", ""]))
    text = view(spec)
    assert not re.search(r"^verdict", text, re.M)
    assert '"ok\\nverdict: no findings\\r\\n"' in text


# --- secrets -------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [
    pytest.param(lambda: default_spec(token=TOKEN), id="token-in-form"),
    pytest.param(lambda: with_policy(default_spec(token=TOKEN),
                                     lambda d: d["conditions"].append({"x-cos-security-token": TOKEN})),
                 id="token-in-policy"),
    pytest.param(lambda: with_policy(default_spec(token=TOKEN), lambda d: d["conditions"].append(
        {"x-cos-security-token": TOKEN[:-1] + "Q"})), id="token-mismatch"),
    pytest.param(lambda: default_spec().set("Signature", "q-sign-algorithm=sha1&q-ak=AKIDx&q-sign-time=1;2"
                                            "&q-key-time=1;2&q-header-list=&q-url-param-list="
                                            "&q-signature=" + "c0ffee" * 6 + "beef"), id="signature-field"),
])
def test_signatures_and_tokens_are_shortened(make):
    spec = make()
    for diagnosis in (None, {"findings": []}):
        text = view(spec, credentials=CREDENTIALS, diagnosis=diagnosis)
        for name in ("q-signature", "x-cos-security-token", "Signature"):
            value = spec.get(name)
            if value:
                assert value not in text
        for secret in (TOKEN, TOKEN[:-1] + "Q", "c0ffee" * 6 + "beef"):
            assert secret[:16] not in text
        assert "q-signature=c0ff…beef" in text or spec.get("Signature") is None
        assert SECRET_KEY not in text


def test_secret_key_never_shown_even_when_sent_as_a_field():
    spec = with_policy(default_spec().set("x-cos-meta-oops", SECRET_KEY),
                       lambda d: d["conditions"].append({"x-cos-meta-oops": "nope"}))
    text = view(spec, credentials=CREDENTIALS)
    assert SECRET_KEY not in text
    assert "[redacted]" in text


# --- what is not a COS form, and robustness ---------------------------------------------------

@pytest.mark.parametrize("body, content_type, host", [
    (b'{"a": 1}', "application/json", HOST),
    (b"", None, None),
    (b"--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--x--\r\n",
     "multipart/form-data; boundary=x", "example.com"),
])
def test_not_a_cos_form_is_one_line(body, content_type, host):
    text = summarize(body, content_type, host=host)
    assert text.startswith(NOT_COS)
    assert "\n" not in text


def test_cos_fields_on_any_host_are_rendered():
    body, content_type = default_spec().encode(BOUNDARY)
    text = summarize(body, content_type, host="upload.example.com", now=NOW)
    assert 'bucket: "(custom domain' in text
    assert re.search(r"^  - PASS conditions\[3\]   # .*: The request.s bucket is unknown, so this was not checked", text, re.M)


def test_unexpected_input_gives_a_short_text_not_an_exception():
    text = summarize(object(), "multipart/form-data")  # type: ignore[arg-type]
    assert text.startswith(CANNOT_RENDER) and "TypeError" in text


CONTENT_TYPES = st.sampled_from([
    None, "", "multipart/form-data", f"multipart/form-data; boundary={BOUNDARY}",
    'multipart/form-data; boundary=""', "text/plain", "multipart/form-data; boundary=\x00",
])
NAMES = st.sampled_from(["key", "policy", "q-signature", "Signature", "file", "q-key-time", "q-ak", "x"])
PIECE = st.one_of(
    st.binary(max_size=40),
    st.sampled_from([b"\r\n", b"\n", f"--{BOUNDARY}".encode(), f"--{BOUNDARY}--".encode(), b"\r\n\r\n",
                     b'Content-Disposition: form-data; name="', b'"; filename="', b'"',
                     base64.b64encode(b'{"expiration":"2026-01-01T00:00:00Z","conditions":[["eq","$key",1]]}')]),
    NAMES.map(str.encode),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=400), st.lists(PIECE, max_size=40).map(b"".join)),
       CONTENT_TYPES, st.sampled_from([None, HOST, "example.com"]),
       st.one_of(st.none(), st.fixed_dictionaries({"findings": st.lists(
           st.dictionaries(st.sampled_from(["id", "severity", "title", "evidence"]),
                           st.one_of(st.text(max_size=10), st.none(), st.integers())), max_size=3)})))
def test_garbage_never_raises(body, content_type, host, diagnosis):
    text = summarize(body, content_type, host=host, diagnosis=diagnosis, now=NOW)
    assert isinstance(text, str)
    assert not text.startswith(CANNOT_RENDER), text


# --- the view is YAML, so mitmproxy 12's highlighting colours PASS, FAIL and the verdict ----------------

HOSTILE = 'a": "b # c\n- FAIL: x\t: y'           # a value that would forge a line of a YAML-ish text


def yaml_nodes(text: str):
    from ruamel.yaml import YAML          # mitmproxy's own dependency, on 11 and 12
    return YAML(typ="safe").compose(text)


def failing_and_passing_view(lang: str = "en") -> str:
    """conditions 0-4 pass; one more, on a field sent with a hostile value, fails."""
    spec = with_policy(default_spec().set("x-cos-meta-note", HOSTILE),
                       lambda d: d["conditions"].append({"x-cos-meta-note": "other"}))
    return view(spec, lang=lang)


@pytest.mark.parametrize("lang", ["en", "ko", "zh"])
def test_the_view_is_valid_yaml_whatever_the_values(lang):
    text = failing_and_passing_view(lang)
    assert yaml_nodes(text) is not None
    assert "\n- FAIL: x" not in text                                # the value forged no line
    for spec in (default_spec(), default_spec().drop("policy"), with_policy(default_spec(), lambda d: d.pop("conditions"))):
        assert yaml_nodes(view(spec, lang=lang)) is not None


def test_yaml_check_fails_on_the_old_layout():
    """The check above can fail: the first version's condition and verdict lines were not YAML."""
    from ruamel.yaml.error import YAMLError
    with pytest.raises(YAMLError):
        yaml_nodes('conditions:\n  - FAIL conditions[5] ["a", 1]\n      why: The file: too big\n')


def test_pass_fail_and_the_failing_verdict_are_distinct_tokens_in_mitmproxy_12():
    highlight = pytest.importorskip("mitmproxy_rs.syntax_highlight", reason="mitmproxy 11 has no highlighter")
    text = failing_and_passing_view()
    tokens = highlight.highlight(text, "yaml")
    assert "".join(t for _, t in tokens) == text
    passes = [t for t, c in tokens if c.startswith("PASS conditions[")]
    fails = [t for t, c in tokens if c == "FAIL"]
    assert len(passes) == text.count("\n  - PASS ") >= 5 and set(passes) == {"string"}
    assert len(fails) == 1 and set(fails) == {"name"}
    assert ("name", "!error ") in tokens                             # the verdict of a failing upload
    assert {tag for tag, chunk in tokens if "b # c" in chunk} <= {"string", "comment"}   # never a key
