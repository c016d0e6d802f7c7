#!/usr/bin/env python3
"""Seeded fuzzer for the core's parsers: the long run behind tests/unit/test_fuzz.py.

    python scripts/fuzz.py --examples 1000000 --seed 1 [--target multipart|policy|auth|xml|pipeline|all]
    python scripts/fuzz.py --replay fuzz-findings/<file>.json

Why hand-rolled: a seeded `random.Random` mutator runs one to two orders of magnitude more examples
per second than Hypothesis, which is what a million-example run needs. The invariants (`check_*`)
and the builders (valid multipart, hostile XML) live here so that the CI-sized Hypothesis tests
drive exactly the same checks and the two never drift apart.

What counts as a finding: an exception out of a public function, a broken invariant (the result is
not the project's own type, an offset outside the body, a finding ID the catalogue does not know,
a report line that cannot be written, a secret in an output ...), an example that takes far longer
than its size explains, and a scale probe whose time grows faster than linearly. Each distinct
finding is minimised and written as JSON under --out; --replay runs it again.
"""
from __future__ import annotations

import argparse
import base64
import json
import math
import os
import random
import re
import signal
import socket
import string
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "addon"))
sys.path.insert(0, str(ROOT / "scripts"))

from cosdoctor.findings import catalogue  # noqa: E402
from cosdoctor.render.text import diagnosis_headers, diagnosis_log_line, dumps_record, flow_comment, metadata  # noqa: E402
from cosdoctor.cos.credentials import Credential, CredentialStore  # noqa: E402
from cosdoctor.findings.diagnose import Diagnosis, LocalAnswer, block_answer, diagnose  # noqa: E402
from cosdoctor.wire.errorxml import MAX_XML_BYTES, CosErrorDoc, parse_error_xml, render_error_xml  # noqa: E402
from cosdoctor.findings.answer import ANSWERS, CosAnswer, answer_id, explain, read_answer  # noqa: E402
from cosdoctor.wire.form import MAX_FIELD_DECODE, UploadForm, parse_form  # noqa: E402
from devkit.formbuilder import policy_b64, signed_form  # noqa: E402
from cosdoctor.cos.hosts import custom_endpoint, parse_cos_host  # noqa: E402
from cosdoctor.cos.times import format_iso8601  # noqa: E402
from cosdoctor.wire.multipart import (  # noqa: E402
    MAX_PARTS, REASONS, Malformation, MultipartForm, Part, parse_boundary, parse_multipart,
)
from cosdoctor.cos.policy import (  # noqa: E402
    Condition, ConditionResult, Policy, PolicyProblem, decode_policy, evaluate_conditions,
)
from cosdoctor.findings.request_checks import Analysis, UploadRequest, analyse_request, verdict  # noqa: E402
from cosdoctor.render.jsonl import record  # noqa: E402
from cosdoctor.cos.signature import KEY_TIME_RE, AuthString, is_hex40, parse_auth_string, sign_key  # noqa: E402

TARGETS = ("multipart", "policy", "auth", "xml", "pipeline")

# The test identity of cosrig (not a real account), repeated so this module needs no rig import.
SECRET_ID = "AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q"
SECRET_KEY = "BQYIM75p8x0iWVFSIgqEKwFprpRSVHlz"
WRONG_KEY = "WRONGp8x0iWVFSIgqEKwFprpRSVHlzQQ"
BUCKET = "examplebucket-1250000000"
COS_HOST = f"{BUCKET}.cos.ap-beijing.myqcloud.com"
STORES = {
    "none": None,
    "ok": CredentialStore({SECRET_ID: Credential(SECRET_ID, SECRET_KEY)}),
    "wrong": CredentialStore({SECRET_ID: Credential(SECRET_ID, WRONG_KEY)}),
}
# A file an XXE would read, and a port an external entity would connect to; both checked after a run.
MARKER = "COSDOCTOR-XXE-MARKER-7f3a9c"
CONTRACT_REASONS = frozenset(REASONS) | {"file-not-last", "no-file-part"}
CONTRACT_MISTAKES = frozenset({"sha1-of-base64-policy", "policy-bytes-differ", "key-time-mismatch",
                               "hmac-args-swapped", "binary-sign-key", "uppercase-hex",
                               "wrong-secret-key", "malformed"})
POLICY_KINDS = frozenset({"base64", "utf8", "json", "not-object", "no-expiration", "bad-expiration",
                          "no-conditions", "duplicate-key", "top-level-case"})
CONDITION_OPS = frozenset({"eq", "starts-with", "content-length-range", "invalid"})
PLAIN_KEYS = frozenset({"id", "severity", "phase", "evidence"})            # as the checks give them
FINDING_KEYS = PLAIN_KEYS | {"title", "cause", "fix", "doc"}                # as the render stage shows them
CONDITION_KEYS = ("condition", "index", "field", "expected", "actual")


class Violation(AssertionError):
    """A broken invariant; `code` names it so that repeats group under one finding."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code


def need(ok: object, code: str, detail: object = "") -> None:
    if not ok:
        raise Violation(code, detail if isinstance(detail, str) else repr(detail)[:300])


# ============================================================================================
# Invariants: every check_* runs the public function(s) and raises Violation (or lets the core's
# own exception through) when something other than the project's typed result comes out.
# ============================================================================================

def check_multipart(content_type: str | None, body: bytes, *, content_length: int | None = None,
                    body_complete: bool = True, expect: list | None = None) -> MultipartForm:
    form = parse_multipart(content_type, body, content_length=content_length, body_complete=body_complete)
    need(type(form) is MultipartForm, "multipart.type", type(form))
    n = len(body)
    boundary, problem = parse_boundary(content_type)
    need(form.boundary == boundary, "multipart.boundary", (form.boundary, boundary))
    need(isinstance(form.parts, tuple) and isinstance(form.complete, bool), "multipart.field-types")
    if boundary is None:
        need(form.parts == () and form.error == problem and not form.complete, "multipart.no-boundary")
    error = form.error
    if error is not None:
        need(type(error) is Malformation, "multipart.error-type", type(error))
        need(error.reason in REASONS, "multipart.reason", error.reason)
        need(type(error.offset) is int and 0 <= error.offset <= n, "multipart.error-offset", (error.offset, n))
        need(isinstance(error.detail, str) and error.detail, "multipart.error-detail")
        need(body_complete or error.reason != "truncated", "multipart.truncated-while-streaming")
        need(error.reason != "too-many-parts" or len(form.parts) == MAX_PARTS, "multipart.too-many-parts")
    elif body_complete:
        need(form.complete, "multipart.clean-but-open", "no error, complete body, no closing delimiter")
    need(len(form.parts) <= MAX_PARTS, "multipart.part-cap", len(form.parts))
    crlf_delim = b"\r\n" + delimiter(boundary) if boundary else b""
    previous_end = -1
    for i, part in enumerate(form.parts):
        need(type(part) is Part and part.index == i, "multipart.part-index", (i, part.index))
        need(isinstance(part.name, str), "multipart.part-name", part.name)
        need(part.filename is None or isinstance(part.filename, str), "multipart.part-filename")
        need(isinstance(part.headers, tuple) and all(
            isinstance(h, tuple) and len(h) == 2 and all(isinstance(x, str) for x in h) for h in part.headers),
            "multipart.part-headers")
        need(part.header("content-disposition") is not None, "multipart.part-disposition")
        need(0 <= part.start <= part.data_start <= part.data_end <= n, "multipart.part-offsets",
             (part.start, part.data_start, part.data_end, n))
        need(part.start > previous_end, "multipart.part-overlap", (previous_end, part.start))
        last = i == len(form.parts) - 1
        ends_at_delim = body[part.data_end:part.data_end + len(crlf_delim)] == crlf_delim
        need(ends_at_delim or (last and part.data_end == n), "multipart.part-end",
             (i, part.data_end, body[part.data_end:part.data_end + 12]))
        need(part.size == part.data_end - part.data_start, "multipart.part-size")
        previous_end = part.data_end
    if expect is not None:
        need(error is None and form.complete, "multipart.valid-rejected", error)
        got = [[p.name, p.filename, p.content_type, body[p.data_start:p.data_end]] for p in form.parts]
        need(got == [list(e) for e in expect], "multipart.valid-parts",
             f"got {_clip(got)} expected {_clip(expect)}")
    return form


def check_stream(content_type: str, body: bytes, cut: int) -> None:
    """A streamed prefix of a well-formed body: no error, and the parts agree with the full parse."""
    full = parse_multipart(content_type, body)
    need(full.error is None, "stream.full-body-invalid", full.error)
    cut = max(0, min(cut, len(body)))
    prefix = body[:cut]
    form = check_multipart(content_type, prefix, body_complete=False)
    need(form.error is None, "stream.prefix-error", (cut, form.error))
    need(len(form.parts) <= len(full.parts), "stream.more-parts")
    for i, part in enumerate(form.parts):
        whole = full.parts[i]
        same_head = (part.name, part.filename, part.start, part.data_start) == \
                    (whole.name, whole.filename, whole.start, whole.data_start)
        need(same_head, "stream.part-head", (i, part, whole))
        if i < len(form.parts) - 1:
            need(part.data_end == whole.data_end, "stream.part-end", (i, part.data_end, whole.data_end))
        else:
            need(part.data_end == whole.data_end or part.data_end == cut, "stream.last-part-end",
                 (part.data_end, whole.data_end, cut))


def check_form(content_type: str | None, body: bytes, *, content_length: int | None = None,
               body_complete: bool = True) -> UploadForm:
    form = parse_form(content_type, body, content_length=content_length, body_complete=body_complete)
    need(type(form) is UploadForm, "form.type", type(form))
    multipart = parse_multipart(content_type, body, content_length=content_length, body_complete=body_complete)
    need(form.multipart == multipart, "form.multipart-differs")
    parts = multipart.parts
    need(form.names == tuple(p.name or "" for p in parts), "form.names")
    files = tuple(p for p in parts if (p.name or "").lower() == "file")
    need(form.file_parts == files, "form.file-parts")
    first_file = next((i for i, p in enumerate(parts) if (p.name or "").lower() == "file"), None)
    after = tuple(p.name or "" for p in parts[first_file + 1:]) if first_file is not None else ()
    need(form.after_file == after, "form.after-file", (form.after_file, after))
    fields = [p for p in parts if (p.name or "").lower() != "file"]
    need([f.part for f in form.fields] == fields, "form.fields")
    counts: dict[str, int] = {}
    for p in parts:
        counts[(p.name or "").lower()] = counts.get((p.name or "").lower(), 0) + 1
    need(dict(form.duplicates) == {k: c for k, c in counts.items() if c > 1 and k != "file"}, "form.duplicates")
    for f in form.fields:
        end = min(f.part.data_end, f.part.data_start + MAX_FIELD_DECODE)
        need(f.value == body[f.part.data_start:end].decode("utf-8", "replace"), "form.value")
        need(form.get(f.name) == form.by_name[f.lname].value, "form.get")
    need(form.mode in ("policy", "signature-field", "anonymous"), "form.mode", form.mode)
    key = form.key
    need(key is None or isinstance(key, str), "form.key")
    values = form.condition_values()
    need(all(isinstance(k, str) and isinstance(v, str) for k, v in values.items()), "form.condition-values")
    return form


def check_policy(b64: str, fields: dict | None = None, bucket: str | None = None,
                 file_size: int | None = None, *, expect_raw: bytes | None = None,
                 expect_doc: object = None, expect_ok: bool = False) -> Policy:
    policy = decode_policy(b64)
    need(type(policy) is Policy, "policy.type", type(policy))
    need(policy.b64 == (b64 if isinstance(b64, str) else str(b64)), "policy.b64")
    need(isinstance(policy.raw, bytes), "policy.raw-type")
    need(policy.document is None or isinstance(policy.document, dict), "policy.document-type")
    need(isinstance(policy.problems, tuple), "policy.problems-type")
    for problem in policy.problems:
        need(type(problem) is PolicyProblem and problem.kind in POLICY_KINDS, "policy.problem-kind", problem)
        need(isinstance(problem.detail, str) and problem.detail, "policy.problem-detail")
        need(problem.where is None or isinstance(problem.where, str), "policy.problem-where")
    need(policy.expiration is None or isinstance(policy.expiration, str), "policy.expiration-type")
    need(policy.expiration_unix is None or type(policy.expiration_unix) is int, "policy.expiration-unix")
    need(policy.fatal is None or type(policy.fatal) is PolicyProblem, "policy.fatal")
    need(policy.document is not None or not policy.conditions, "policy.conditions-without-document")
    for i, cond in enumerate(policy.conditions):
        need(type(cond) is Condition and cond.index == i and cond.op in CONDITION_OPS, "policy.condition", cond)
        need(isinstance(cond.text, str) and isinstance(cond.dollar, bool), "policy.condition-text")
        if cond.op in ("eq", "starts-with"):
            need(isinstance(cond.field, str) and isinstance(cond.value, str)
                 and cond.range is None and cond.problem is None, "policy.condition-eq", cond)
        elif cond.op == "content-length-range":
            need(isinstance(cond.range, tuple) and len(cond.range) == 2
                 and all(type(x) is int and x >= 0 for x in cond.range), "policy.condition-range", cond)
        else:
            need(isinstance(cond.problem, str) and cond.problem, "policy.condition-invalid", cond)
    if expect_raw is not None:
        need(policy.raw == expect_raw, "policy.raw", (policy.raw[:80], expect_raw[:80]))
    if expect_ok:
        need(policy.fatal is None, "policy.valid-rejected", policy.fatal)
    if expect_doc is not None:
        need(policy.document == expect_doc, "policy.document", _clip(policy.document))
    fields = {} if fields is None else fields
    results = evaluate_conditions(policy, fields, bucket=bucket, file_size=file_size)
    need(isinstance(results, tuple) and len(results) == len(policy.conditions), "policy.results-length")
    for cond, result in zip(policy.conditions, results):
        need(type(result) is ConditionResult and result.condition is cond, "policy.result-type")
        need(isinstance(result.ok, bool) and isinstance(result.field, str), "policy.result-fields")
        need(isinstance(result.why, str) and result.why, "policy.result-why")
        need(result.expected is None or isinstance(result.expected, str), "policy.result-expected")
        need(result.actual is None or isinstance(result.actual, (str, int)), "policy.result-actual")
        need(result.ok == _oracle(cond, fields, bucket, file_size), "policy.result-ok",
             (cond.text[:80], result.ok, result.why))
    return policy


def _oracle(cond: Condition, fields: dict, bucket: str | None, file_size: int | None) -> bool:
    """What COS decides for one condition, written out independently of policy.py."""
    if cond.op == "invalid":
        return False
    if cond.op == "content-length-range":
        lo, hi = cond.range or (0, 0)
        return True if file_size is None else lo <= file_size <= hi
    name = (cond.field or "").lower()
    if name == "bucket":
        if bucket is None:
            return True
        actual: str | None = bucket
    elif name == "q-sign-time":
        actual = fields.get("q-key-time")
    else:
        actual = fields.get(name)
    if actual is None:
        return False
    return actual == cond.value if cond.op == "eq" else actual.startswith(cond.value or "")


def check_auth(text: object, *, expect: dict | None = None) -> AuthString:
    auth = parse_auth_string(text)  # type: ignore[arg-type]
    need(type(auth) is AuthString, "auth.type", type(auth))
    need(isinstance(auth.problems, tuple) and all(isinstance(p, str) and p for p in auth.problems),
         "auth.problems")
    for name in ("algorithm", "ak", "sign_time", "key_time", "signature"):
        value = getattr(auth, name)
        need(value is None or isinstance(value, str), "auth.field-type", name)
    need(isinstance(auth.header_list, tuple) and all(isinstance(x, str) for x in auth.header_list),
         "auth.header-list")
    need(isinstance(auth.param_list, tuple) and all(isinstance(x, str) for x in auth.param_list),
         "auth.param-list")
    if not auth.problems:
        need(auth.algorithm == "sha1" and auth.ak is not None, "auth.clean-but-incomplete")
        need(is_hex40(auth.signature or ""), "auth.clean-but-bad-signature", auth.signature)
        for value in (auth.sign_time, auth.key_time):
            need(value is not None and KEY_TIME_RE.fullmatch(value), "auth.clean-but-bad-time", value)
            start, end = value.split(";")
            need(int(start) <= int(end), "auth.clean-but-reversed-time", value)
    if expect is not None:
        need(auth.problems == (), "auth.valid-rejected", auth.problems)
        got = {"algorithm": auth.algorithm, "ak": auth.ak, "sign_time": auth.sign_time,
               "key_time": auth.key_time, "header_list": list(auth.header_list),
               "param_list": list(auth.param_list), "signature": auth.signature}
        need(got == expect, "auth.valid-values", (got, expect))
    return auth


_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_FORBIDDEN = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)


def check_error_xml(data: object, *, expect: dict | None = None) -> CosErrorDoc | None:
    doc = parse_error_xml(data)  # type: ignore[arg-type]
    need(doc is None or type(doc) is CosErrorDoc, "xml.type", type(doc))
    is_bytes = isinstance(data, (bytes, bytearray, memoryview))
    if not is_bytes:
        need(doc is None, "xml.non-bytes-parsed")
    elif len(data) > MAX_XML_BYTES or _FORBIDDEN.search(bytes(data)) or b"<Error" not in bytes(data):
        need(doc is None, "xml.refusable-parsed", "oversized, DTD/entity or no <Error>")
    if doc is not None:
        for name in ("code", "message", "resource", "request_id", "trace_id"):
            value = getattr(doc, name)
            need(value is None or isinstance(value, str), "xml.field-type", name)
            need(value is None or MARKER not in value, "xml.external-entity-read", name)
        need(isinstance(doc.extra, tuple) and all(
            isinstance(x, tuple) and len(x) == 2 and all(isinstance(y, str) for y in x) for x in doc.extra),
            "xml.extra")
        need(all(MARKER not in v for _, v in doc.extra), "xml.external-entity-read")
    if expect is not None:
        need(doc is not None, "xml.valid-rejected")
        assert doc is not None
        got = {"code": doc.code, "message": doc.message, "resource": doc.resource,
               "request_id": doc.request_id, "trace_id": doc.trace_id,
               "extra": [list(x) for x in doc.extra]}
        need(got == expect, "xml.roundtrip", (got, expect))
    return doc


def expected_roundtrip(code: str, message: str, resource: str, request_id: str, trace_id: str | None,
                       extra: list) -> dict:
    """What parse_error_xml must give back for render_error_xml(...) of these values."""
    def clean(text: str) -> str:
        return _XML_ILLEGAL.sub("\ufffd", text)
    return {"code": clean(code).strip(), "message": clean(message), "resource": clean(resource).strip(),
            "request_id": clean(request_id).strip(),
            "trace_id": clean(trace_id).strip() if trace_id is not None else None,
            "extra": [[n, clean(v)] for n, v in extra]}


def _check_rendered(found: object) -> None:
    """A finding as the contract shows it: the plain keys plus non-empty texts."""
    need(isinstance(found, dict) and set(found) == FINDING_KEYS, "finding.rendered-keys",
         sorted(found) if isinstance(found, dict) else type(found))
    assert isinstance(found, dict)
    for name in ("title", "cause", "fix", "doc"):
        need(isinstance(found[name], str) and found[name], "finding.text", (found["id"], name))


def _check_finding(found: object, phase: set[str]) -> dict:
    need(isinstance(found, dict) and set(found) == PLAIN_KEYS, "finding.keys",
         sorted(found) if isinstance(found, dict) else type(found))
    assert isinstance(found, dict)
    try:
        entry = catalogue.entry(found["id"])
    except KeyError:
        raise Violation("finding.unknown-id", found["id"]) from None
    need(found["severity"] == entry.severity, "finding.severity", (found["id"], found["severity"]))
    need(found["phase"] in phase, "finding.phase", (found["id"], found["phase"]))
    evidence = found["evidence"]
    need(isinstance(evidence, dict), "finding.evidence")
    try:
        json.dumps(found, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise Violation("finding.not-json", f"{found['id']}: {exc}") from None
    fid = found["id"]
    if fid == "MalformedPOSTRequest_POSTBody" and found["phase"] == "preflight":
        need(evidence.get("reason") in CONTRACT_REASONS, "finding.reason-word", evidence.get("reason"))
        need(isinstance(evidence.get("offset"), int), "finding.offset", evidence.get("offset"))
    if fid == "SignatureDoesNotMatch_POSTSignature" and found["phase"] == "preflight":
        need(evidence.get("mistake") is None or evidence.get("mistake") in CONTRACT_MISTAKES,
             "finding.mistake-word", evidence.get("mistake"))
        need(isinstance(evidence.get("verified"), bool), "finding.verified")
    if fid in ("AccessDenied_Condition", "AccessDenied_q-ak", "AccessDenied_BucketNotConsistent") \
            and found["phase"] == "preflight":
        need(all(k in evidence for k in CONDITION_KEYS), "finding.condition-keys", sorted(evidence))
    return found


def check_pipeline(*, method: str = "POST", host: str | None = COS_HOST, path: str = "/",
                   headers: dict | None = None, body: bytes | None = b"", body_complete: bool = True,
                   body_size: int | None = None, endpoint: str = "parse", creds: str = "ok",
                   now: int = 1_700_000_000, lang: str = "en", status: int = 403,
                   answer_headers: dict | None = None, answer_body: bytes | None = None,
                   local_now: int | None = None) -> list[dict]:
    """Request analysis, COS's answer explained, the annotations and the report line, end to end."""
    headers = {str(k).lower(): v for k, v in (headers or {}).items()}
    local_now = now if local_now is None else local_now
    if endpoint == "parse":
        cos_endpoint = parse_cos_host(host, path)
    elif endpoint == "custom":
        cos_endpoint = custom_endpoint(host or "")
    else:
        cos_endpoint = None
    store = STORES[creds]
    request = UploadRequest(method, host, path, headers, body, body_complete, body_size, cos_endpoint)
    analysis = analyse_request(request, store, now)
    need(type(analysis) is Analysis and isinstance(analysis.findings, list), "pipeline.analysis-type")
    for found in analysis.findings:
        _check_finding(found, {"preflight"})
    predicted = verdict(analysis)
    need(predicted is None or predicted["severity"] == "error", "pipeline.verdict")
    local = block_answer(analysis, "cosdoctor-fuzz", f"{host}/{analysis.key or ''}")
    if local is not None:
        need(type(local) is LocalAnswer and 300 <= local.status <= 599, "pipeline.block-status")
        mirrored = parse_error_xml(local.body)
        need(mirrored is not None and mirrored.code == catalogue.entry(local.finding["id"]).code,
             "pipeline.block-body", local.body[:200])

    answer = read_answer(status, answer_headers or {}, answer_body)
    need(type(answer) is CosAnswer, "pipeline.answer-type")
    need(answer.server_time is None or type(answer.server_time) is int, "pipeline.server-time")
    findings = explain(analysis, answer, local_now)
    need(isinstance(findings, list), "pipeline.explain-type")
    for found in findings:
        _check_finding(found, {"preflight", "response"})
    if not answer.ok:
        need(findings and findings[0]["phase"] == "response"
             and findings[0]["id"] == answer_id(analysis, answer), "pipeline.answer-first",
             [f["id"] for f in findings][:3])

    diagnosis = diagnose(analysis, answer, local_now, store)
    need(type(diagnosis) is Diagnosis, "pipeline.diagnosis-type")
    comment = flow_comment(diagnosis, lang)
    need(isinstance(comment, str), "pipeline.comment")
    for name, value in diagnosis_headers(diagnosis).items():
        need(isinstance(value, str) and re.fullmatch(r"[\x20-\x7e]*", value), "pipeline.header-ascii",
             (name, value[:80]))
    log_line = diagnosis_log_line(diagnosis, method, f"http://{host}{path}", lang) if diagnosis.findings else ""
    meta = metadata(diagnosis, lang)
    for found in meta["findings"]:
        _check_rendered(found)
    line = dumps_record(record(
        time=format_iso8601(now), flow_id="fuzz", client="127.0.0.1", method=method,
        url=f"http://{host}{path}", host=host, bucket=meta["bucket"], region=meta["region"],
        key=meta["key"], status=diagnosis.status, error=diagnosis.error, findings=meta["findings"],
        action="forwarded"))
    need("\n" not in line and "\r" not in line, "pipeline.report-line-break")
    need(isinstance(json.dumps(meta), str), "pipeline.metadata-json")
    # Secrets: neither key nor anything derived from it may appear anywhere.
    outputs = "\n".join([line, json.dumps(meta), comment, log_line, json.dumps(diagnosis_headers(diagnosis))])
    key_time = analysis.form.get("q-key-time") if analysis.form else None
    for secret in (SECRET_KEY, WRONG_KEY):
        need(secret not in outputs, "pipeline.secret-leak", "SecretKey in an output")
        if key_time:
            need(sign_key(secret, key_time) not in outputs, "pipeline.secret-leak", "SignKey in an output")
    need(MARKER not in outputs, "pipeline.external-entity-read")
    # ReportWriter.write and mitmproxy's flow writer (-w) both encode as strict UTF-8.
    broken = [name for name, text in (("report line", line), ("flow.comment", comment),
                                      ("flow.metadata", json.dumps(meta, ensure_ascii=False)))
              if not _utf8(text)]
    if broken:
        culprit = "findings" if _unencodable(diagnosis.findings) else "request"
        raise Violation(f"pipeline.not-utf8.{culprit}",
                        f"{', '.join(broken)}: lone surrogates; ReportWriter.write raises (the flow gets no "
                        f"record) and mitmproxy cannot save the flow")
    need(isinstance(json.loads(line), dict), "pipeline.report-json")
    return findings


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _unencodable(value: object) -> bool:
    return not _utf8(dumps_record({"x": value}))


def _clip(value: object, limit: int = 300) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


CHECKS: dict[str, Callable[..., object]] = {
    "multipart": lambda mode="plain", **kw: _multipart_example(mode, **kw),
    "policy": check_policy,
    "auth": check_auth,
    "xml": check_error_xml,
    "pipeline": check_pipeline,
}


def _multipart_example(mode: str, *, content_type: str | None, body: bytes, content_length: int | None = None,
                       body_complete: bool = True, expect: list | None = None, cut: int = 0) -> None:
    if mode == "stream":
        check_stream(content_type or "", body, cut)
        return
    check_multipart(content_type, body, content_length=content_length, body_complete=body_complete,
                    expect=expect)
    check_form(content_type, body, content_length=content_length, body_complete=body_complete)


# ============================================================================================
# Builders shared with the Hypothesis tests: valid multipart bodies, mutations, hostile XML.
# ============================================================================================

BCHARS = string.ascii_letters + string.digits + "'()+_,-./:=? "
FIELD_NAMES = ("key", "policy", "q-sign-algorithm", "q-ak", "q-key-time", "q-signature", "file", "File",
               "success_action_status", "success_action_redirect", "Content-Type", "x-cos-meta-a",
               "signature", "Signature", "x-cos-security-token", "x-cos-traffic-limit", "content-md5", "acl")


@dataclass
class PartSpec:
    name: str
    data: bytes = b""
    filename: str | None = None
    filename_star: bool = False       # send filename*=UTF-8''… (wins over filename=)
    content_type: str | None = None
    extra_headers: list = field(default_factory=list)   # [(name bytes, value bytes)]
    disposition_last: bool = False    # Content-Disposition after the other headers
    unquoted_name: bool = False
    header_case: str = "title"        # title | lower | upper


@dataclass
class Built:
    content_type: str
    body: bytes
    boundary: str
    expect: list                      # [name, filename, content type, value] per part


def delimiter(boundary: str) -> bytes:
    try:
        return b"--" + boundary.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return b"--" + boundary.encode("utf-8", "replace")


def data_is_safe(data: bytes, boundary: str) -> bool:
    """True when `data` holds no line that a parser must take for a delimiter.

    A `CRLF--boundary` inside a value is data only when the bytes after it are not `--`, nor
    optional blanks followed by CRLF or LF; the real delimiter that follows the value counts too,
    and so does the blank line before it (RFC 2046: a part's body is optional, so
    `headers CRLF CRLF --boundary CRLF` is a part without a body followed by a delimiter).
    """
    crlf_delim = b"\r\n" + delimiter(boundary)
    combined = b"\r\n" + data + crlf_delim + b"\r\n"
    i = combined.find(crlf_delim)
    while 0 <= i < len(data) + 2:
        j = i + len(crlf_delim)
        if combined[j:j + 2] == b"--":
            return False
        while combined[j:j + 1] in (b" ", b"\t"):
            j += 1
        if combined[j:j + 1] == b"\n" or combined[j:j + 2] == b"\r\n":
            return False
        i = combined.find(crlf_delim, i + 1)
    return True


def content_type_for(boundary: str, quoted: bool, *, media: str = "multipart/form-data",
                     before: str = "", after: str = "", param: str = "boundary") -> str:
    value = boundary
    if quoted:
        value = '"' + boundary.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{media};{before} {param}={value}{after}"


def _header_name(name: str, case: str) -> bytes:
    if case == "lower":
        name = name.lower()
    elif case == "upper":
        name = name.upper()
    return name.encode()


def build_multipart(boundary: str, parts: list[PartSpec], *, quoted: bool = False, preamble: bytes = b"",
                    epilogue: bytes = b"", padding: bytes = b"", ct_before: str = "", ct_after: str = "") -> Built:
    """A well-formed body for `parts` (callers keep values safe with data_is_safe) and what a
    correct parser must find in it."""
    delim = delimiter(boundary)
    out = bytearray(preamble)
    expect: list = []
    for spec in parts:
        out += delim + padding + b"\r\n"
        name_value = spec.name if spec.unquoted_name else '"' + spec.name + '"'
        disposition = f"form-data; name={name_value}"
        filename = spec.filename
        if spec.filename is not None:
            if spec.filename_star:
                encoded = quote(spec.filename.encode("utf-8"), safe="")
                disposition += f"; filename=\"fallback.bin\"; filename*=UTF-8''{encoded}"
            else:
                disposition += f'; filename="{spec.filename}"'
        lines = [_header_name("Content-Disposition", spec.header_case) + b": " + disposition.encode("utf-8")]
        if spec.content_type is not None:
            lines.append(_header_name("Content-Type", spec.header_case) + b": " + spec.content_type.encode("utf-8"))
        lines += [n + b": " + v for n, v in spec.extra_headers]
        if spec.disposition_last:
            lines.append(lines.pop(0))
        out += b"\r\n".join(lines) + b"\r\n\r\n" + spec.data + b"\r\n"
        ctype = spec.content_type.strip(" \t") if spec.content_type is not None else None
        expect.append([spec.name, filename, ctype, spec.data])
    out += delim + b"--" + padding + epilogue
    content_type = content_type_for(boundary, quoted, before=ct_before, after=ct_after)
    return Built(content_type, bytes(out), boundary, expect)


def tokens_for(boundary: str) -> list[bytes]:
    """Byte strings that matter to a multipart parser, for insertion mutations."""
    delim = delimiter(boundary)
    return [b"\r\n", b"\n", b"\r", b"\r\n\r\n", b"--", delim, b"\r\n" + delim, b"\r\n" + delim + b"\r\n",
            b"\r\n" + delim + b"--", b"\n" + delim + b"\n", delim[:-1], b"\r\n" + delim + b" \t",
            b'Content-Disposition: form-data; name="x"\r\n\r\n', b'name="file"; filename="a.txt"',
            b"filename*=UTF-8''%E6%96%87%ff", b'"', b";", b"\\", b"\x00", b"\xff\xfe", b"\xe6\x96",
            b"Content-Type: text/plain\r\n", b" " * 17, b"=" * 3, b"\r\n" * 40]


MUTATIONS = ("flip", "insert", "token", "delete", "truncate", "dup-delim", "drop-cr", "drop-lf",
             "all-lf", "dup-range", "swap-chunks", "cut-delim")


def mutate(body: bytes, ops: list, boundary: str) -> bytes:
    """Apply (kind, x, y, payload) operations; positions are taken modulo the current length."""
    data = bytearray(body)
    tokens = tokens_for(boundary)
    delim = delimiter(boundary)
    for kind, x, y, payload in ops:
        n = len(data)
        at = x % (n + 1)
        if kind == "flip" and n:
            data[at % n] ^= (y % 255) + 1
        elif kind == "insert":
            data[at:at] = payload
        elif kind == "token":
            data[at:at] = tokens[y % len(tokens)]
        elif kind == "delete":
            del data[at:at + 1 + y % 64]
        elif kind == "truncate":
            del data[at:]
        elif kind in ("dup-delim", "cut-delim"):
            hits = [m.start() for m in re.finditer(re.escape(delim), data)]
            if hits:
                hit = hits[y % len(hits)]
                if kind == "dup-delim":
                    end = data.find(b"\n", hit)
                    end = len(data) if end < 0 else end + 1
                    data[hit:hit] = data[hit:end]
                else:
                    del data[hit + len(delim) - 1]
        elif kind in ("drop-cr", "drop-lf"):
            hits = [m.start() for m in re.finditer(b"\r\n", data)]
            if hits:
                hit = hits[y % len(hits)]
                del data[hit if kind == "drop-cr" else hit + 1]
        elif kind == "all-lf":
            data = bytearray(data.replace(b"\r\n", b"\n"))
        elif kind == "dup-range":
            data[at:at] = data[at:at + 1 + y % 200]
        elif kind == "swap-chunks":
            chunks = bytes(data).split(b"\r\n" + delim)
            if len(chunks) > 2:
                i, j = 1 + x % (len(chunks) - 1), 1 + y % (len(chunks) - 1)
                chunks[i], chunks[j] = chunks[j], chunks[i]
                data = bytearray((b"\r\n" + delim).join(chunks))
    return bytes(data)


def mutate_content_type(content_type: str, boundary: str, choice: int) -> str | None:
    """One of the ways a Content-Type header goes wrong (or stays right)."""
    variants: list[str | None] = [
        content_type, None, "", "multipart/form-data", "multipart/form-data; boundary=",
        "multipart/form-data; boundary=\"\"", "multipart/mixed; boundary=" + boundary,
        "application/x-www-form-urlencoded", "MULTIPART/FORM-DATA; BOUNDARY=" + boundary,
        content_type.replace(boundary, boundary.upper()), content_type.replace(boundary, boundary[:-1] or "x"),
        content_type + "; boundary=other", "multipart/form-data; boundary=other; boundary=" + boundary,
        "multipart/form-data; boundary=" + "b" * 71, "multipart/form-data; boundary=\"" + boundary,
        "multipart/form-data;boundary=" + boundary + ";", "multipart/form-data; charset=utf-8; boundary " + boundary,
        "multipart/form-data; boundary=" + boundary + "\udcff", " multipart/form-data ; boundary = " + boundary,
    ]
    return variants[choice % len(variants)]


def billion_laughs(levels: int = 10) -> bytes:
    lines = ['<!ENTITY lol0 "lol">']
    for i in range(1, levels):
        lines.append(f'<!ENTITY lol{i} "' + f"&lol{i - 1};" * 10 + '">')
    return ('<?xml version="1.0"?>\n<!DOCTYPE Error [\n' + "\n".join(lines) + "\n]>\n"
            f"<Error><Code>AccessDenied</Code><Message>&lol{levels - 1};</Message></Error>").encode()


def quadratic_blowup(size: int = 50_000, refs: int = 50_000) -> bytes:
    return (f'<?xml version="1.0"?>\n<!DOCTYPE Error [<!ENTITY a "{"x" * size}">]>\n'
            f"<Error><Code>AccessDenied</Code><Message>{'&a;' * refs}</Message></Error>").encode()


def xxe_system(url: str, *, parameter: bool = False) -> bytes:
    if parameter:
        return (f'<?xml version="1.0"?>\n<!DOCTYPE Error [<!ENTITY % ext SYSTEM "{url}"> %ext;]>\n'
                "<Error><Code>AccessDenied</Code><Message>x</Message></Error>").encode()
    return (f'<?xml version="1.0"?>\n<!DOCTYPE Error [<!ENTITY xxe SYSTEM "{url}">]>\n'
            "<Error><Code>&xxe;</Code><Message>&xxe;</Message><RequestId>r</RequestId></Error>").encode()


def xinclude(url: str) -> bytes:
    """No DTD at all, so it passes the DOCTYPE filter: only the parser's settings keep it inert."""
    return (f'<Error xmlns:xi="http://www.w3.org/2001/XInclude"><Code>AccessDenied</Code>'
            f'<Message><xi:include href="{url}" parse="text"/></Message></Error>').encode()


def schema_location(url: str) -> bytes:
    return (f'<Error xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="x {url}" '
            f'xsi:noNamespaceSchemaLocation="{url}"><Code>AccessDenied</Code></Error>').encode()


def utf16_xxe(url: str) -> bytes:
    return xxe_system(url).replace(b'version="1.0"', b'version="1.0" encoding="UTF-16"').decode().encode("utf-16")


def deep_nesting(depth: int = 100_000) -> bytes:
    return b"<Error><Code>AccessDenied</Code><Message>" + b"<a>" * depth + b"</a>" * depth + b"</Message></Error>"


def hostile_xml(marker_file: str, url: str) -> dict[str, bytes]:
    """Named hostile bodies; `marker_file` must never be read and `url` never fetched."""
    file_url = Path(marker_file).resolve().as_uri()
    return {
        "billion-laughs": billion_laughs(),
        "quadratic-blowup": quadratic_blowup(),
        "xxe-file": xxe_system(file_url),
        "xxe-file-lowercase": xxe_system(file_url).replace(b"<!DOCTYPE", b"<!doctype"),
        "xxe-http": xxe_system(url),
        "xxe-parameter-http": xxe_system(url, parameter=True),
        "xinclude-file": xinclude(file_url),
        "xinclude-http": xinclude(url),
        "schema-location": schema_location(url),
        "utf16-xxe": utf16_xxe(file_url),
        "deep-nesting": deep_nesting(),
        "garbage": bytes(range(256)) * 64,
    }


# ============================================================================================
# Seeded generators for the long run: rng -> keyword arguments of the target's check.
# ============================================================================================

_TEXT_POOLS = (string.ascii_letters + string.digits, string.punctuation, " \t", "\r\n\x00\x0b\x1f\x7f",
               "éüßñ\xa0\x85", "文件上传测试", "😀🚀", "\u0301\u200b\u202e\ufeff", "\ufffd\uffff\ud800\udfff")


def rand_text(r: random.Random, max_len: int = 24, *, pools: tuple[str, ...] = _TEXT_POOLS,
              surrogates: bool = True) -> str:
    n = r.randrange(max_len + 1) if r.random() < 0.9 else r.randrange(max_len * 8 + 1)
    alphabet = "".join(r.choice(pools) for _ in range(r.randint(1, 3)))
    text = "".join(r.choices(alphabet, k=n))
    if not surrogates:
        text = re.sub("[\ud800-\udfff]", "?", text)
    return text


def rand_bytes(r: random.Random, max_len: int = 64) -> bytes:
    n = r.randrange(max_len + 1)
    return r.randbytes(n) if r.random() < 0.5 else bytes(r.choices(b"ab\r\n-\x00\xff ", k=n))


def rand_boundary(r: random.Random, weird: bool = False) -> str:
    n = r.choice((1, 2, 4, 8, 16, 24, 38, 40, 69, 70)) if r.random() < 0.5 else r.randint(1, 70)
    alphabet = BCHARS + ('"\\;é\t' if weird else "")
    text = "".join(r.choice(alphabet) for _ in range(n))
    if text.endswith(" ") or text.startswith(" "):
        text = "x" + text.strip() + "x"
    return text[:70] or "x"


def rand_value(r: random.Random, boundary: str) -> bytes:
    """Values a careless parser would cut: boundary look-alikes, CR/LF, NUL, random bytes."""
    kind = r.random()
    if kind < 0.2:
        return b""
    if kind < 0.45:
        return rand_text(r, 40).encode("utf-8", "surrogatepass")
    if kind < 0.65:
        return rand_bytes(r, 200)
    delim = delimiter(boundary)
    fragments = [delim, b"\r\n" + delim + b"X", b"\r" + delim + b"\r\n", b"\n" + delim + b"--\r\n",
                 b"\r\n" + delim[:-1] + b"\r\n", b"x" + delim + b"--", b"\r\n" + delim + b" \tjunk",
                 b"\r\n\r\n", b"\r\n", b"\n", b"\r", b"--", b"\x00", b"\xff", b"data"]
    return b"".join(r.choice(fragments) for _ in range(r.randint(1, 12)))


def rand_part(r: random.Random, boundary: str, index: int) -> PartSpec:
    if r.random() < 0.7:
        name = r.choice(FIELD_NAMES)
    else:
        name = rand_text(r, 16, pools=(string.ascii_letters, " -_.", "éü文", "😀", ":;=,/"), surrogates=False)
    unquoted = bool(re.fullmatch(r"[A-Za-z0-9._-]+", name)) and r.random() < 0.3
    filename = None
    if name.lower() == "file" or r.random() < 0.1:
        filename = rand_text(r, 20, pools=(string.ascii_letters, " ._-", "文件", "😀", "#%&'()"), surrogates=False)
    data = rand_value(r, boundary)
    for _ in range(5):
        if data_is_safe(data, boundary):
            break
        data = rand_value(r, boundary)
    else:
        data = b"safe"
    extra = []
    for _ in range(r.choice((0, 0, 0, 1, 2))):
        extra.append((r.choice((b"X-Extra", b"Content-Transfer-Encoding", b"Content-ID", b"x-a")),
                      bytes(c for c in rand_bytes(r, 30) if c not in b"\r\n")))
    return PartSpec(name=name, data=data, filename=filename, filename_star=filename is not None and r.random() < 0.3,
                    content_type=r.choice((None, None, "text/plain", "image/jpeg", " application/octet-stream\t")),
                    extra_headers=extra, disposition_last=r.random() < 0.15, unquoted_name=unquoted,
                    header_case=r.choice(("title", "title", "lower", "upper")))


def rand_built(r: random.Random) -> Built:
    boundary = rand_boundary(r, weird=r.random() < 0.1)
    quoted = r.random() < 0.3 or any(c in boundary for c in ' "\\;\t')
    parts = [rand_part(r, boundary, i) for i in range(r.choice((0, 1, 1, 2, 3, 5, 8, 12)))]
    preamble = b""
    if r.random() < 0.1:
        preamble = bytes(c for c in rand_bytes(r, 40) if c not in b"-") + b"\r\n"
    built = build_multipart(boundary, parts, quoted=quoted, preamble=preamble,
                            epilogue=rand_bytes(r, 20) if r.random() < 0.2 else r.choice((b"", b"\r\n")),
                            padding=r.choice((b"", b"", b"", b" ", b"\t \t")),
                            ct_before=r.choice(("", "", " charset=utf-8;")), ct_after=r.choice(("", "", "; x=y")))
    return built


def rand_ops(r: random.Random) -> list:
    return [(r.choice(MUTATIONS), r.randrange(1 << 30), r.randrange(1 << 30), rand_bytes(r, 8))
            for _ in range(r.randint(1, 4))]


def gen_multipart(r: random.Random) -> dict:
    built = rand_built(r)
    mode = r.random()
    if mode < 0.25:
        return {"mode": "plain", "content_type": built.content_type, "body": built.body,
                "content_length": r.choice((None, len(built.body))), "expect": built.expect}
    if mode < 0.4:
        return {"mode": "stream", "content_type": built.content_type, "body": built.body,
                "cut": r.randrange(len(built.body) + 1)}
    body = built.body if r.random() < 0.05 else mutate(built.body, rand_ops(r), built.boundary)
    if r.random() < 0.03:
        body = rand_bytes(r, 300)
    content_type = built.content_type if r.random() < 0.8 else \
        mutate_content_type(built.content_type, built.boundary, r.randrange(100))
    content_length = r.choice((None, None, len(body), len(body) + r.randint(1, 100), max(0, len(body) - 3), 0))
    return {"mode": "plain", "content_type": content_type, "body": body, "content_length": content_length,
            "body_complete": r.random() < 0.8}


# --- JSON policies -----------------------------------------------------------------------------

class Obj(list):
    """A JSON object as written: (key, value) pairs, duplicates allowed; the last one wins."""


def plain(value: object) -> object:
    """The Python value json.loads gives for a generated tree."""
    if isinstance(value, Obj):
        return {_joined(k): plain(v) for k, v in value}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return _joined(value) if isinstance(value, str) else value


def _joined(text: str) -> str:
    """A high and a low surrogate written as two escapes come back as one character."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def write_json(r: random.Random, value: object) -> str:
    """Serialise a tree with random (valid) spacing and escapes; lone surrogates become escapes."""
    def ws() -> str:
        return r.choice(("", "", "", " ", "\n", "\t", "\r\n  "))

    def string_(s: str) -> str:
        out = []
        for ch in s:
            code = ord(ch)
            if ch in '"\\' or code < 0x20 or 0xD800 <= code <= 0xDFFF or (code > 0x7F and r.random() < 0.2):
                if code > 0xFFFF:
                    code -= 0x10000
                    out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04X}")
                else:
                    out.append({'"': '\\"', "\\": "\\\\", "\n": "\\n"}.get(ch, f"\\u{code:04x}"))
            elif ch == "/" and r.random() < 0.3:
                out.append("\\/")
            else:
                out.append(ch)
        return '"' + "".join(out) + '"'

    def emit(v: object) -> str:
        if isinstance(v, Obj):
            return "{" + ",".join(ws() + string_(k) + ws() + ":" + ws() + emit(x) + ws() for k, x in v) + "}"
        if isinstance(v, list):
            return "[" + ",".join(ws() + emit(x) + ws() for x in v) + "]"
        if isinstance(v, str):
            return string_(v)
        if v is True:
            return "true"
        if v is False:
            return "false"
        if v is None:
            return "null"
        if isinstance(v, float):
            return repr(v)
        return str(v)

    return ws() + emit(value) + ws()


def rand_json(r: random.Random, depth: int = 0) -> object:
    roll = r.random()
    if depth > 4 or roll < 0.45:
        return r.choice((
            lambda: rand_text(r, 12), lambda: r.randint(-10, 10), lambda: r.randint(-(1 << 70), 1 << 70),
            lambda: r.random() * 10 ** r.randint(-5, 30), lambda: None, lambda: True, lambda: False,
        ))()
    if roll < 0.7:
        return [rand_json(r, depth + 1) for _ in range(r.randint(0, 4))]
    return Obj((rand_text(r, 8), rand_json(r, depth + 1)) for _ in range(r.randint(0, 4)))


def rand_condition(r: random.Random) -> object:
    field_name = r.choice(("key", "bucket", "q-ak", "q-sign-algorithm", "q-sign-time", "acl", "Content-Type",
                           "success_action_status", "x-cos-meta-a", "x-cos-security-token", "KEY", ""))
    value = r.choice(("", "uploads/", "uploads/${filename}", SECRET_ID, BUCKET, "sha1", "a*",
                      rand_text(r, 12)))
    roll = r.random()
    if roll < 0.3:
        return Obj([(field_name, value)])
    if roll < 0.6:
        op = r.choice(("eq", "starts-with", "EQ", "Starts-With", "in", ""))
        name = r.choice(("$", "$", "")) + field_name
        return [op, name, value]
    if roll < 0.8:
        low = r.choice((0, 1, 10, 1024, -1, 2 ** 63, True))
        high = r.choice((0, 1, 1024, 1 << 20, 5 * 1024 ** 3, "10", 1.5))
        return r.choice((["content-length-range", low, high], ["content-length-range", low],
                         ["Content-Length-Range", 1, 2, 3]))
    return rand_json(r, 2)


def rand_policy_tree(r: random.Random) -> tuple[object, bool]:
    """(tree, well-formed policy?)."""
    if r.random() < 0.15:
        return rand_json(r), False
    now = r.randint(0, 4_000_000_000)
    expiration = r.choice((format_iso8601(now), format_iso8601(now)[:-1] + ".414Z",
                           format_iso8601(now)[:-1] + "+08:00"))
    good = True
    if r.random() < 0.2:
        expiration = r.choice(("", "2019-08-30 09:38:12", "2019-13-45T99:99:99Z", "tomorrow", 12345, None,
                               "9999-12-31T23:59:59Z", "0000-01-01T00:00:00Z", rand_text(r, 20)))
        good = False
    conditions = [rand_condition(r) for _ in range(r.choice((0, 1, 3, 5, 8, 20)))]
    good = good and bool(conditions)
    pairs = [("expiration", expiration), ("conditions", conditions)]
    if r.random() < 0.1:
        pairs[r.randrange(2)] = (r.choice(("Expiration", "CONDITIONS", "exp")), pairs[0][1])
        good = False
    if r.random() < 0.1:
        pairs.pop(r.randrange(2))
        good = False
    if r.random() < 0.1:
        pairs.append((r.choice(("expiration", "conditions", "x")), rand_json(r, 3)))
        good = False
    r.shuffle(pairs)
    return Obj(pairs), good


def rand_policy_text(r: random.Random) -> tuple[str, object, bool]:
    """(JSON text, expected document or None, well-formed policy?)."""
    roll = r.random()
    if roll < 0.04:
        depth = r.choice((10, 100, 1000, 5000, 20_000)) if r.random() < 0.995 else r.choice((100_000, 1_000_000))
        opener = r.choice(("[", '{"a":', '[{"b":'))
        closer = {"[": "]", '{"a":': "}", '[{"b":': "}]"}[opener]
        return opener * depth + "1" + closer * depth, None, False
    if roll < 0.07:
        return r.choice(('{"expiration":"2030-01-01T00:00:00Z","conditions":[["content-length-range",0,1'
                         + "0" * r.choice((10, 4300, 5000)) + "]]}",
                         '{"conditions":[NaN,Infinity,-Infinity]}', '{"a":1e400}', "'single'", "[1,]",
                         '{"a":1,}', "// c\n{}", "\ufeff{}", '{"a":"\\ud800"}', '{"a":"\\uZZZZ"}', "",
                         "null", "1", '"s"', "[]")), None, False
    tree, good = rand_policy_tree(r)
    text = write_json(r, tree)
    if r.random() < 0.1:
        at = r.randrange(len(text) + 1)
        text = text[:at] + r.choice((",", "]", "}", '"', "\\", "NaN", "\x00", "/*", "")) + text[at + 1:]
        return text, None, False
    doc = plain(tree)
    dups = isinstance(tree, Obj) and has_duplicates(tree)
    return text, doc, good and not dups


def has_duplicates(value: object) -> bool:
    if isinstance(value, Obj):
        keys = [k for k, _ in value]
        return len(set(keys)) != len(keys) or any(has_duplicates(v) for _, v in value)
    if isinstance(value, list):
        return any(has_duplicates(v) for v in value)
    return False


def encode_policy(r: random.Random, raw: bytes) -> tuple[str, bool]:
    """(base64 text, decodes back to exactly `raw`?)."""
    b64 = base64.b64encode(raw).decode()
    roll = r.random()
    if roll < 0.6:
        return b64, True
    if roll < 0.67:
        return base64.urlsafe_b64encode(raw).decode(), True
    if roll < 0.72:
        return b64.rstrip("="), True
    if roll < 0.76:
        return "\n".join(b64[i:i + 76] for i in range(0, len(b64), 76)) + "\r\n", True
    if roll < 0.8:
        return " " + b64 + "\t", True
    if roll < 0.84:
        return b64 + "==", True
    at = r.randrange(len(b64) + 1)
    return b64[:at] + r.choice(("é", "*", "=", "-", "_", "A", "%", "\x00", "文", "\udcff")) + b64[at:], False


def gen_policy(r: random.Random) -> dict:
    roll = r.random()
    expect_raw = expect_doc = None
    expect_ok = False
    if roll < 0.05:
        b64 = base64.b64encode(r.randbytes(r.randrange(200))).decode()
    elif roll < 0.08:
        b64 = rand_text(r, 60)
    else:
        text, doc, good = rand_policy_text(r)
        codec = "utf-8" if r.random() < 0.95 else r.choice(("utf-16", "utf-8-sig", "latin-1"))
        raw = text.encode(codec, "surrogatepass" if codec.startswith("utf") else "replace")
        b64, exact = encode_policy(r, raw)
        if exact:
            expect_raw = raw
            if codec == "utf-8" and doc is not None:
                expect_doc = doc if isinstance(doc, dict) else None
                expect_ok = good and b64 == base64.b64encode(raw).decode()
    fields = _fields_for(r, b64)
    return {"b64": b64, "fields": fields, "bucket": r.choice((None, BUCKET, "other-1250000000")),
            "file_size": r.choice((None, 0, 1, 1023, 1024, 1 << 20, 5 * 1024 ** 3 + 1)),
            "expect_raw": expect_raw, "expect_doc": expect_doc, "expect_ok": expect_ok}


def _fields_for(r: random.Random, b64: str) -> dict:
    """Form values that often satisfy the conditions, and often miss them by a little."""
    fields: dict[str, str] = {}
    try:
        document = json.loads(base64.b64decode(b64 + "==="))
        conditions = document.get("conditions", []) if isinstance(document, dict) else []
    except Exception:  # noqa: BLE001 - any garbage just means "no hints"
        conditions = []
    for cond in conditions if isinstance(conditions, list) else []:
        pair = None
        if isinstance(cond, dict) and len(cond) == 1:
            pair = next(iter(cond.items()))
        elif isinstance(cond, list) and len(cond) == 3 and isinstance(cond[1], str):
            pair = (cond[1].lstrip("$"), cond[2])
        if pair is None or not isinstance(pair[1], str):
            continue
        name, value = pair[0].lower(), pair[1]
        value = r.choice((value, value, value + "x", value.upper(), " " + value, value + "/", quote(value.encode("utf-8", "surrogatepass")), ""))
        if r.random() < 0.85:
            fields[name] = value
    for _ in range(r.choice((0, 1, 2))):
        fields[r.choice(FIELD_NAMES).lower()] = rand_text(r, 10)
    return fields


# --- Authorization strings ------------------------------------------------------------------------

def gen_auth(r: random.Random) -> dict:
    start = r.randint(0, 2_000_000_000)
    times = f"{start};{start + r.randint(0, 100_000)}"
    header_list = [r.choice(("host", "content-type", "x-cos-meta-a", "content-length", "origin"))
                   for _ in range(r.randint(0, 3))]
    values = {"q-sign-algorithm": "sha1", "q-ak": r.choice((SECRET_ID, "AKID" + rand_text(r, 10, pools=(string.ascii_letters,)))),
              "q-sign-time": times, "q-key-time": times if r.random() < 0.8 else f"{start};{start + 1}",
              "q-header-list": ";".join(header_list), "q-url-param-list": r.choice(("", "prefix", "a;b")),
              "q-signature": "".join(r.choice("0123456789abcdef") for _ in range(40))}
    items = list(values.items())
    r.shuffle(items)
    if r.random() < 0.35:
        expect = {"algorithm": "sha1", "ak": values["q-ak"], "sign_time": values["q-sign-time"],
                  "key_time": values["q-key-time"],
                  "header_list": values["q-header-list"].split(";") if values["q-header-list"] else [],
                  "param_list": values["q-url-param-list"].split(";") if values["q-url-param-list"] else [],
                  "signature": values["q-signature"]}
        return {"text": "&".join(f"{k}={v}" for k, v in items), "expect": expect}
    for _ in range(r.randint(1, 3)):
        op = r.randrange(12)
        i = r.randrange(len(items)) if items else 0
        if op == 0 and items:
            items.pop(i)
        elif op == 1 and items:
            items.insert(i, items[i])
        elif op == 2 and items:
            items[i] = (items[i][0].upper(), items[i][1])
        elif op == 3 and items:
            items[i] = (" " + items[i][0], items[i][1] + " ")
        elif op == 4:
            items.append((rand_text(r, 8), rand_text(r, 8)))
        elif op == 5 and items:
            items[i] = (items[i][0], r.choice(("", "sha256", "1;", ";", "a;b", "2;1", "-1;5", "1;" + "9" * 5000,
                                               "9" * 5000 + ";1", "1 ;2", "１;２", "ABCDEF" * 7)))
        elif op == 6 and items:
            items[i] = (items[i][0], rand_text(r, 30))
        elif op == 7 and items:
            items[i] = (items[i][0] + "=" + items[i][1], "")
        elif op == 8:
            items.insert(i, ("", ""))
        else:
            r.shuffle(items)
    sep = r.choice(("&", "&", "&", ";", "&&", "%26"))
    text = sep.join(f"{k}={v}" if r.random() < 0.97 else k for k, v in items)
    if r.random() < 0.02:
        return {"text": r.choice((None, b"q-ak=x", 12, ["x"]))}
    return {"text": text}


# --- Error XML ---------------------------------------------------------------------------------------

XML_NAMES = ("Code", "Message", "Resource", "RequestId", "TraceId", "ServerTime", "StringToSign",
             "FormatString", "HostId", "Detail")


def gen_xml(r: random.Random, marker_url: str = "file:///nonexistent", net_url: str = "http://127.0.0.1:9/") -> dict:
    roll = r.random()
    if roll < 0.3:
        code, message, resource, request_id = (rand_text(r, 20) for _ in range(4))
        trace_id = rand_text(r, 20) if r.random() < 0.5 else None
        extra = [(r.choice(("ServerTime", "StringToSign", "HostId", "x.y", "_a-1")), rand_text(r, 20))
                 for _ in range(r.choice((0, 0, 1, 2)))]
        if r.random() < 0.3:
            code = r.choice([a[0] for a in ANSWERS] + ["SignatureDoesNotMatch", "InvalidPolicyDocument"])
        data = render_error_xml(code, message, resource, request_id, trace_id, extra)
        return {"data": data, "expect": expected_roundtrip(code, message, resource, request_id, trace_id, extra)}
    if roll < 0.4:
        hostile = [billion_laughs(r.randint(2, 10)), quadratic_blowup(r.randint(1, 5000), r.randint(1, 5000)),
                   xxe_system(marker_url), xxe_system(net_url), xxe_system(net_url, parameter=True),
                   xinclude(marker_url), xinclude(net_url), schema_location(net_url), utf16_xxe(marker_url),
                   deep_nesting(r.choice((10, 255, 256, 257, 1000, 20_000)))]
        data = r.choice(hostile)
    elif roll < 0.45:
        data = rand_bytes(r, 300)
    else:
        data = hand_xml(r, marker_url, net_url)
    if r.random() < 0.4:
        data = mutate_xml(r, data)
    if r.random() < 0.0005:
        data = b"<Error><Code>X</Code><Message>" + b"A" * (MAX_XML_BYTES + r.randint(-200, 200)) + b"</Message></Error>"
    if r.random() < 0.01:
        return {"data": r.choice((None, "<Error/>", 5, bytearray(data), memoryview(data)))}
    return {"data": data}


def hand_xml(r: random.Random, marker_url: str, net_url: str) -> bytes:
    parts = []
    if r.random() < 0.1:
        parts.append("\ufeff")
    if r.random() < 0.6:
        encoding = r.choice(("utf-8", "UTF-8", "utf-16", "iso-8859-1", "ebcdic", "x-bogus", "utf-7"))
        parts.append(f'<?xml version="{r.choice(("1.0", "1.1", "2.0"))}" encoding="{encoding}"?>\n')
    if r.random() < 0.1:
        parts.append(r.choice(("<!-- c -->", "<?pi x?>", f'<!DOCTYPE Error SYSTEM "{net_url}">',
                               f'<!doctype Error [<!entity e SYSTEM "{marker_url}">]>')))
    root = r.choice(("Error", "Error", "Error", "error", "cos:Error", "Errors", "ErrorX"))
    ns = ' xmlns:cos="urn:x"' if root.startswith("cos:") or r.random() < 0.1 else ""
    if r.random() < 0.1:
        ns += ' xmlns="http://example.com/ns"'
    body = []
    for _ in range(r.choice((0, 1, 2, 4, 6))):
        name = r.choice(XML_NAMES)
        text = r.choice((rand_text(r, 20, surrogates=False).replace("<", "&lt;").replace("&", "&amp;"),
                         "&amp;&lt;&gt;&apos;&quot;&#39;&#x41;", "&#0;", "&#xD800;", "&bogus;",
                         "<![CDATA[ <x> & ]]>", "<b>nested</b> text", "<!-- c -->x<?pi?>y", " padded ", ""))
        attrs = ' a="1"' if r.random() < 0.1 else ""
        body.append(f"<{name}{attrs}>{text}</{name}>")
    parts.append(f"<{root}{ns}>{''.join(body)}</{root}>")
    if r.random() < 0.1:
        parts.append(r.choice(("trailing", "<Error/>", "\x00", "<!-- after -->")))
    text = "".join(parts)
    codec = "utf-8" if r.random() < 0.9 else r.choice(("utf-16", "latin-1", "utf-16-be"))
    return text.encode(codec, "replace")


def mutate_xml(r: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(r.randint(1, 3)):
        at = r.randrange(len(out) + 1)
        op = r.randrange(5)
        if op == 0 and out:
            out[at % len(out)] = r.randrange(256)
        elif op == 1:
            out[at:at] = r.choice((b"<!DOCTYPE", b"<!ENTITY", b"<Error>", b"]]>", b"&", b"<", b"\x00", b"\xff",
                                   b"\r", b"&#1;", b"<![CDATA[", b"</Error>", b"<!-", b"\xef\xbb\xbf"))
        elif op == 2:
            del out[at:at + r.randint(1, 20)]
        elif op == 3:
            del out[at:]
        else:
            out[at:at] = out[at:at + r.randint(1, 40)]
    return bytes(out)


# --- Whole requests -----------------------------------------------------------------------------

KNOWN_ANSWERS = [
    (403, "AccessDenied", "Condition key q-ak doesn't match the value AKIDx"),
    (403, "AccessDenied", "Condition key bucket doesn't match the value other-1250000000"),
    (403, "AccessDenied", "Condition key key doesn't match the value uploads/"),
    (403, "AccessDenied", "You post object request has been expired, expiration time: 1 but the time now : 2"),
    (403, "AccessDenied", "Request has expired"),
    (403, "AccessDenied", "Access Denied."),
    (403, "SignatureDoesNotMatch", "The Signature you specified is invalid."),
    (400, "InvalidPolicyDocument", "You must provide condition if you specify a policy in post object request."),
    (400, "InvalidPolicyDocument", "Invalid Policy: x"),
    (400, "MalformedPOSTRequest", "The body of your POST request is not well-formed multipart/form-data."),
    (400, "EntityTooLarge", "Condition key content-length-range doesn't match the value "),
    (400, "EntityTooSmall", "Condition key content-length-range doesn't match the value "),
    (400, "InvalidArgument", "Bucket POST must contain a field named 'key'."),
    (403, "RequestTimeTooSkewed", "The difference between the request time and the server's time is too large."),
    (403, "InvalidAccessKeyId", "The Access Key Id you provided does not exist in our records."),
    (404, "NoSuchBucket", "The specified bucket does not exist."),
    (500, "InternalError", "We encountered an internal error. Please try again."),
    (503, "SlowDown", "Please reduce your request rate."),
]


def _form_parts(r: random.Random, now: int) -> tuple[list[PartSpec], str]:
    """A signed COS form (or a damaged one), as parts in wire order."""
    key = r.choice(("uploads/photo.jpg", "uploads/${filename}", "a" * 900, "", "文件/😀.png", "/lead"))
    conditions: list = [["content-length-range", 0, r.choice((1, 1024, 1 << 20))]] if r.random() < 0.7 else []
    spec = signed_form(SECRET_ID, r.choice((SECRET_KEY, SECRET_KEY, WRONG_KEY)), BUCKET, key,
                       now=now + r.choice((0, 0, -3600, -8 * 3600, 3600 * 48)), ttl=r.choice((900, 60, 86400 * 3)),
                       extra_conditions=conditions,
                       key_condition=r.choice((None, None, ["starts-with", "$key", r.choice(("uploads/", "", "a*"))])))
    fields = list(spec.fields)
    mode = r.random()
    if mode < 0.15:                       # Signature-field (header-style) upload
        fields = [(n, v) for n, v in fields if n in ("key", "policy") and r.random() < 0.8]
        auth = gen_auth(r).get("text")
        fields.append((r.choice(("Signature", "signature")), auth if isinstance(auth, str) else ""))
    for _ in range(r.choice((0, 0, 1, 2, 3))):
        op = r.randrange(7)
        if op == 0 and fields:
            fields.pop(r.randrange(len(fields)))
        elif op == 1 and fields:
            fields.insert(r.randrange(len(fields)), fields[r.randrange(len(fields))])
        elif op == 2:
            name = r.choice(FIELD_NAMES)
            value = r.choice((rand_text(r, 30, surrogates=False), "sha1", "1;" + "9" * r.choice((20, 4301, 5000)),
                              "0;1", "204", "999", "819200", "1", "ABCDEF0123" * 4, "1B2M2Y8AsgTpgAmY7PhCfg=="))
            fields.append((name, value))
        elif op == 3:
            text, _, _ = rand_policy_text(r)
            b64, _ = encode_policy(r, text.encode("utf-8", "surrogatepass"))
            fields = [(n, b64 if n == "policy" else v) for n, v in fields]
        elif op == 4 and fields:
            i = r.randrange(len(fields))
            fields[i] = (fields[i][0].upper(), fields[i][1])
        elif op == 5:
            fields.append(("q-key-time", r.choice(("1;" + "9" * 4400, "2;1", "x", ""))))
        else:
            r.shuffle(fields)
    boundary = "----cosfuzz" + "".join(r.choice(string.ascii_letters) for _ in range(8))
    parts = [PartSpec(n, v.encode("utf-8", "surrogatepass")) for n, v in fields]
    file_data = r.choice((b"hello, COS\r\n", b"", rand_bytes(r, 2000), b"x" * r.choice((1023, 1024, 1025))))
    file_part = PartSpec(r.choice(("file", "file", "file", "File")), file_data,
                         filename=r.choice(("photo.jpg", "文件.txt", "", "a\\b.png")),
                         content_type=r.choice((None, "image/jpeg")))
    position = len(parts) if r.random() < 0.85 else r.randrange(len(parts) + 1)
    parts.insert(position, file_part)
    if r.random() < 0.05:
        parts.append(PartSpec("file", b"second"))
    if r.random() < 0.03:
        parts = []
    return [p for p in parts if data_is_safe(p.data, boundary)], boundary


def gen_pipeline(r: random.Random, marker_url: str = "file:///nonexistent", net_url: str = "http://127.0.0.1:9/") -> dict:
    now = r.randint(1_500_000_000, 2_000_000_000)
    parts, boundary = _form_parts(r, now)
    built = build_multipart(boundary, parts)
    body: bytes | None = built.body
    content_type: str | None = built.content_type
    if r.random() < 0.25:
        body = mutate(built.body, rand_ops(r), boundary)
    if r.random() < 0.05:
        content_type = mutate_content_type(built.content_type, boundary, r.randrange(100))
    headers: dict[str, str] = {}
    if content_type is not None:
        headers["Content-Type"] = content_type
    length_choice = r.random()
    if length_choice < 0.8:
        headers["Content-Length"] = str(len(body))
    elif length_choice < 0.9:
        headers["Content-Length"] = r.choice(("abc", "-1", str(len(body) + 10), "1" * 30, ""))
    else:
        headers["Transfer-Encoding"] = r.choice(("chunked", "gzip, chunked"))
    for _ in range(r.choice((0, 0, 1, 2))):
        headers[r.choice(("Origin", "Host", "Content-MD5", "X-Cos-Meta-A", "Date"))] = rand_text(r, 20, surrogates=False)
    body_complete, body_size = True, None
    if r.random() < 0.1:
        body_complete = False
        body_size = r.choice((None, len(body)))
        body = body[:r.randrange(len(body) + 1)]
    if r.random() < 0.02:
        body = None
    roll = r.random()
    if roll < 0.75:
        host, path, endpoint = COS_HOST, "/", "parse"
    elif roll < 0.85:
        host, path, endpoint = "cos.ap-beijing.myqcloud.com", f"/{BUCKET}/", "parse"
    elif roll < 0.93:
        host, path, endpoint = "uploads.example.com", "/", "custom"
    else:
        # mitmproxy hands over host and path decoded as UTF-8 with surrogateescape.
        host = r.choice((None, "", "[::1]:8080", "a..b", rand_text(r, 20, surrogates=False), "h\udcff.example"))
        path, endpoint = r.choice(("/", "/?t=1", "/\udce4\udcb8", rand_text(r, 10, surrogates=False))), "none"
    status = r.choice((200, 201, 204, 303, 400, 403, 403, 404, 405, 411, 500, 502, 503, r.randint(100, 599)))
    answer_headers: dict[str, str] = {}
    date_roll = r.random()
    if date_roll < 0.5:
        answer_headers["Date"] = formatdate(now + r.choice((0, 0, 30, 3600, -8 * 3600)), usegmt=True)
    elif date_roll < 0.6:
        answer_headers["Date"] = r.choice(("garbage", "", "Mon, 99 Foo 99999 99:99:99 GMT", "Thu, 01 Jan 1970 00:00:00 +9999",
                                           "Fri, 31 Dec 9999 23:59:59 -2359", rand_text(r, 30, surrogates=False)))
    body_roll = r.random()
    if body_roll < 0.55:
        answer_status, code, message = r.choice(KNOWN_ANSWERS)
        if r.random() < 0.3:
            code = r.choice((rand_text(r, 20, surrogates=False), "", "Weird Code!", "x" * 200))
        extra = [("ServerTime", r.choice((format_iso8601(now), "garbage")))] if r.random() < 0.2 else []
        answer_body: bytes | None = render_error_xml(code, message, f"{host}/x", "req-1", None, extra)
        if r.random() < 0.5:
            status = answer_status
    elif body_roll < 0.8:
        answer_body = gen_xml(r, marker_url, net_url).get("data")
        if not isinstance(answer_body, bytes):
            answer_body = None
    else:
        answer_body = r.choice((None, b"", rand_bytes(r, 100)))
    return {"method": r.choice(("POST",) * 19 + ("PUT",)), "host": host, "path": path, "headers": headers,
            "body": body, "body_complete": body_complete, "body_size": body_size, "endpoint": endpoint,
            "creds": r.choice(("ok", "ok", "none", "wrong")), "now": now,
            "lang": r.choice(catalogue.LANGS), "status": status, "answer_headers": answer_headers,
            "answer_body": answer_body, "local_now": now + r.choice((0, 0, 5, 120, -3600))}


GENERATORS: dict[str, Callable[..., dict]] = {
    "multipart": gen_multipart, "policy": gen_policy, "auth": gen_auth, "xml": gen_xml, "pipeline": gen_pipeline,
}


# ============================================================================================
# Running, minimising, reporting.
# ============================================================================================

@dataclass
class Finding:
    target: str
    signature: str
    kind: str                   # exception | violation | slow | hang
    error: str
    trace: str
    args: dict
    example: int
    count: int = 1
    path: str | None = None


class Hang(BaseException):
    """Not an Exception: the core's own `except Exception` must not swallow it."""


def _on_alarm(signum, frame):  # noqa: ARG001
    raise Hang("example did not finish in time")


def run_check(target: str, args: dict) -> None:
    CHECKS[target](**args)


def classify(exc: BaseException) -> tuple[str, str]:
    """(kind, signature): repeats of one bug group together."""
    if isinstance(exc, Violation):
        return "violation", f"violation {exc.code}"
    if isinstance(exc, Hang):
        return "hang", "hang"
    frames = traceback.extract_tb(exc.__traceback__)
    core = [f for f in frames if "/addon/" in f.filename.replace(os.sep, "/")]
    frame = (core or frames or [None])[-1]
    where = f"{Path(frame.filename).name}:{frame.lineno}" if frame else "?"
    return "exception", f"{type(exc).__name__} at {where}"


def attempt(target: str, args: dict) -> BaseException | None:
    try:
        run_check(target, args)
    except Exception as exc:  # noqa: BLE001 - anything out of the core is a finding
        return exc
    return None


def input_size(args: dict) -> int:
    total = 0
    for value in args.values():
        if isinstance(value, (bytes, str)):
            total += len(value)
        elif isinstance(value, dict):
            total += sum(len(str(v)) for v in value.values())
    return total


def time_budget(args: dict) -> float:
    """Generous on purpose: a linear parser is far inside it, a quadratic one on 100 KB is not."""
    return 1.0 + input_size(args) / 2_000_000


# Violations that compare with what the generator built: shrinking one side alone is meaningless.
EXPECTATION_CODES = ("valid-", "stream.", "roundtrip", "policy.raw", "policy.document")
CONTROL_KEYS = frozenset({"mode", "lang", "creds", "endpoint", "method"})


def minimise(target: str, args: dict, signature: str, *, seconds: float = 10.0, max_tries: int = 3000) -> dict:
    """Delete chunks of the largest inputs while the same signature reproduces."""
    deadline = time.monotonic() + seconds
    tries = 0

    def same(candidate: dict) -> bool:
        nonlocal tries
        tries += 1
        exc = attempt(target, candidate)
        return exc is not None and classify(exc)[1] == signature

    best = dict(args)
    if any(word in signature for word in EXPECTATION_CODES):
        return best               # the input and its expectation only make sense together
    for key in [k for k in ("expect", "expect_raw", "expect_doc", "expect_ok") if k in best]:
        candidate = dict(best, **{key: False if key == "expect_ok" else None})
        if same(candidate):
            best = candidate
    keys = sorted((k for k, v in best.items() if isinstance(v, (bytes, str)) and v and k not in CONTROL_KEYS),
                  key=lambda k: -len(best[k]))
    for key in keys:
        value = best[key]
        chunk = max(1, len(value) // 2)
        while chunk >= 1 and time.monotonic() < deadline and tries < max_tries:
            i, changed = 0, False
            while i < len(value) and time.monotonic() < deadline and tries < max_tries:
                candidate_value = value[:i] + value[i + chunk:]
                if same(dict(best, **{key: candidate_value})):
                    value, changed = candidate_value, True
                    best[key] = value
                else:
                    i += chunk
            if not changed:
                chunk //= 2
    return best


def encode_args(value: object) -> object:
    if isinstance(value, (bytes, bytearray)):
        return {"__bytes__": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, memoryview):
        return {"__memoryview__": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, str) and re.search("[\ud800-\udfff]", value):
        return {"__str__": base64.b64encode(value.encode("utf-8", "surrogatepass")).decode()}
    if isinstance(value, dict):
        return {str(k): encode_args(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode_args(v) for v in value]
    return value


def decode_args(value: object) -> object:
    if isinstance(value, dict):
        if set(value) == {"__bytes__"}:
            return base64.b64decode(value["__bytes__"])
        if set(value) == {"__memoryview__"}:
            return memoryview(base64.b64decode(value["__memoryview__"]))
        if set(value) == {"__str__"}:
            return base64.b64decode(value["__str__"]).decode("utf-8", "surrogatepass")
        return {k: decode_args(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_args(v) for v in value]
    return value


def write_finding(out: Path, finding: Finding, seed: int) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^A-Za-z0-9]+", "-", finding.signature).strip("-")[:60]
    path = out / f"{finding.target}-{slug}.json"
    payload = {"target": finding.target, "kind": finding.kind, "signature": finding.signature,
               "error": finding.error, "traceback": finding.trace, "seed": seed, "example": finding.example,
               "occurrences": finding.count, "args": encode_args(finding.args),
               "replay": f"python scripts/fuzz.py --replay {path}"}
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=True) + "\n")
    finding.path = str(path)
    return path


@dataclass
class TargetStats:
    target: str
    examples: int = 0
    seconds: float = 0.0
    slowest: float = 0.0
    slowest_size: int = 0
    findings: dict = field(default_factory=dict)   # signature -> Finding


class NetTrap:
    """A loopback listener that counts connections: an external entity must never reach it."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/x.dtd"

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self.thread.join(2)
        self.sock.close()


def fuzz_target(target: str, examples: int, seed: int, out: Path, *, marker_url: str, net_url: str,
                progress: Callable[[str], None], max_findings: int = 50) -> TargetStats:
    r = random.Random(f"{seed}:{target}")
    stats = TargetStats(target)
    generate = GENERATORS[target]
    extra = {"marker_url": marker_url, "net_url": net_url} if target in ("xml", "pipeline") else {}
    use_alarm = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if use_alarm:
        signal.signal(signal.SIGALRM, _on_alarm)
    started = last_report = time.monotonic()
    for i in range(examples):
        args = generate(r, **extra)
        t0 = time.perf_counter()
        try:
            if use_alarm:
                signal.setitimer(signal.ITIMER_REAL, 60)
            exc = attempt(target, args)
        except Hang as hang:
            exc = hang
        finally:
            if use_alarm:
                signal.setitimer(signal.ITIMER_REAL, 0)
        elapsed = time.perf_counter() - t0
        if elapsed > stats.slowest:
            stats.slowest, stats.slowest_size = elapsed, input_size(args)
        if exc is None and elapsed > time_budget(args):
            again = min(_timed(target, args) for _ in range(2))
            if again > time_budget(args):
                exc = Violation("slow", f"{again:.2f} s for {input_size(args)} input bytes")
        if exc is not None:
            kind, sig = classify(exc)
            if kind == "violation" and getattr(exc, "code", "") == "slow":
                kind = "slow"
            found = stats.findings.get(sig)
            if found is not None:
                found.count += 1
            elif len(stats.findings) < max_findings:
                trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
                small = args if kind in ("slow", "hang") else minimise(target, args, sig)
                finding = Finding(target, sig, kind, f"{type(exc).__name__}: {exc}"[:2000], trace, small, i)
                small_exc = attempt(target, small) if small is not args else None
                if small_exc is not None:
                    finding.trace = "".join(traceback.format_exception(type(small_exc), small_exc,
                                                                       small_exc.__traceback__))
                    finding.error = f"{type(small_exc).__name__}: {small_exc}"[:2000]
                stats.findings[sig] = finding
                write_finding(out, finding, seed)
                progress(f"[{target}] NEW FINDING at example {i}: {sig} -> {finding.path}")
        now = time.monotonic()
        if now - last_report > 10:
            last_report = now
            rate = (i + 1) / (now - started)
            progress(f"[{target}] {i + 1}/{examples} examples, {rate:,.0f}/s, "
                     f"{sum(f.count for f in stats.findings.values())} failing")
        stats.examples = i + 1
    stats.seconds = time.monotonic() - started
    return stats


def _timed(target: str, args: dict) -> float:
    t0 = time.perf_counter()
    attempt(target, args)
    return time.perf_counter() - t0


# --- scale probes: time must grow linearly with the input ------------------------------------------

def probe_inputs() -> dict[str, Callable[[int], Callable[[], object]]]:
    boundary = "----probe"
    delim = delimiter(boundary)
    ct = content_type_for(boundary, False)

    def many_parts(k: int):
        body = b"".join(delim + b'\r\nContent-Disposition: form-data; name="f"\r\n\r\nv\r\n' for _ in range(k))
        body += delim + b"--"
        return lambda: parse_form(ct, body)

    def near_misses(k: int):
        data = (b"\r\n" + delim + b"X") * k
        body = delim + b'\r\nContent-Disposition: form-data; name="file"\r\n\r\n' + data + b"\r\n" + delim + b"--"
        return lambda: parse_multipart(ct, body)

    def headers_heavy(k: int):
        line = b"X-A: " + b"h" * 100 + b"\r\n"
        part = delim + b'\r\nContent-Disposition: form-data; name="f"\r\n' + line * 100 + b"\r\nv\r\n"
        body = part * k + delim + b"--"
        return lambda: parse_multipart(ct, body)

    def conditions(k: int):
        document = {"expiration": "2030-01-01T00:00:00Z",
                    "conditions": [["starts-with", "$key", "uploads/"], {"bucket": BUCKET}] * k}
        b64, _ = policy_b64(document)
        return lambda: evaluate_conditions(decode_policy(b64), {"key": "x"}, bucket=BUCKET, file_size=1)

    def duplicate_keys(k: int):
        text = "{" + ",".join('"a":{"b":1,"b":2}' for _ in range(k)) + "}"
        b64 = base64.b64encode(text.encode()).decode()
        return lambda: decode_policy(b64)

    def b64_whitespace(k: int):
        b64 = " ".join(base64.b64encode(b'{"expiration":"2030-01-01T00:00:00Z","conditions":[1]}').decode()
                       for _ in range(k))
        return lambda: decode_policy(b64)

    def auth_items(k: int):
        text = "&".join(f"x{i}=y" for i in range(k))
        return lambda: parse_auth_string(text)

    def xml_children(k: int):
        data = b"<Error>" + b"<HostId>x</HostId>" * k + b"</Error>"
        return lambda: parse_error_xml(data)

    def pipeline_fields(k: int):
        parts = [PartSpec(f"x-cos-meta-{i // 2}", b"v") for i in range(k)] + [PartSpec("file", b"f", filename="a")]
        built = build_multipart(boundary, parts)
        request = UploadRequest("POST", COS_HOST, "/", {"content-type": built.content_type}, built.body,
                                endpoint=parse_cos_host(COS_HOST))
        return lambda: explain(analyse_request(request, STORES["ok"], 0), read_answer(403, {}, b""), 0)

    return {"multipart-parts": many_parts, "multipart-near-misses": near_misses,
            "multipart-headers": headers_heavy, "policy-conditions": conditions,
            "policy-duplicate-keys": duplicate_keys, "policy-base64-whitespace": b64_whitespace,
            "auth-items": auth_items, "xml-children": xml_children, "pipeline-fields": pipeline_fields}


PROBE_SIZES = {"multipart-parts": 600, "multipart-near-misses": 20_000, "multipart-headers": 150,
               "policy-conditions": 300, "policy-duplicate-keys": 2_000, "policy-base64-whitespace": 2_000,
               "auth-items": 3_000, "xml-children": 3_000, "pipeline-fields": 150}


def scale_probes(factor: int = 16) -> list[tuple[str, float, float, float]]:
    """(probe, seconds at 1x, seconds at factor x, growth exponent); 1.0 is linear, 2.0 quadratic."""
    results = []
    for name, make in probe_inputs().items():
        base = PROBE_SIZES[name]
        times = []
        for k in (base, base * factor):
            run = make(k)
            run()
            best = math.inf
            for _ in range(3):
                t0 = time.perf_counter()
                run()
                best = min(best, time.perf_counter() - t0)
            times.append(best)
        exponent = math.log(max(times[1], 1e-9) / max(times[0], 1e-9)) / math.log(factor)
        results.append((name, times[0], times[1], exponent))
    return results


# --- command line ---------------------------------------------------------------------------------

def split(examples: int, targets: tuple[str, ...]) -> dict[str, int]:
    each, rest = divmod(examples, len(targets))
    return {t: each + (1 if i < rest else 0) for i, t in enumerate(targets)}


def replay(path: Path) -> int:
    payload = json.loads(path.read_text())
    args = decode_args(payload["args"])
    exc = attempt(payload["target"], args)
    if exc is None:
        print(f"{path}: passes now ({payload['signature']} no longer reproduces)")
        return 0
    print(f"{path}: still fails: {classify(exc)[1]}")
    traceback.print_exception(type(exc), exc, exc.__traceback__)
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=100_000, help="total examples, split over the targets")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--target", choices=(*TARGETS, "all"), default="all")
    parser.add_argument("--out", type=Path, default=Path("fuzz-findings"))
    parser.add_argument("--no-scale", action="store_true", help="skip the linear-time probes")
    parser.add_argument("--replay", type=Path, help="re-run a reproducer written by an earlier run")
    opts = parser.parse_args(argv)
    if opts.replay:
        return replay(opts.replay)

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    targets = TARGETS if opts.target == "all" else (opts.target,)
    counts = split(opts.examples, targets)
    trap = NetTrap()
    scratch = Path(tempfile.mkdtemp(prefix="cosfuzz-"))
    marker_file = scratch / "marker.txt"
    marker_file.write_text(MARKER)
    print(f"cosdoctor fuzz: seed {opts.seed}, {opts.examples} examples over {', '.join(targets)}; "
          f"Python {sys.version.split()[0]}; findings -> {opts.out}/", flush=True)
    all_stats = []
    started = time.monotonic()
    try:
        for target in targets:
            all_stats.append(fuzz_target(target, counts[target], opts.seed, opts.out,
                                         marker_url=marker_file.resolve().as_uri(), net_url=trap.url,
                                         progress=progress))
    finally:
        time.sleep(0.3)
        trap.close()
    total_seconds = time.monotonic() - started
    failed = False
    print(f"\n{'target':<10} {'examples':>10} {'seconds':>8} {'ex/s':>8} {'slowest':>9} {'findings':>9}")
    for s in all_stats:
        n_fail = sum(f.count for f in s.findings.values())
        print(f"{s.target:<10} {s.examples:>10,} {s.seconds:>8.1f} {s.examples / max(s.seconds, 1e-9):>8,.0f} "
              f"{s.slowest * 1000:>7.1f}ms {len(s.findings):>4} ({n_fail})")
    total = sum(s.examples for s in all_stats)
    print(f"{'total':<10} {total:>10,} {total_seconds:>8.1f} {total / max(total_seconds, 1e-9):>8,.0f}")
    for s in all_stats:
        for f in s.findings.values():
            failed = True
            print(f"  FINDING [{s.target}] {f.signature} x{f.count} (first at example {f.example}): "
                  f"{f.error.splitlines()[0][:160]}\n      reproducer: {f.path}")
    print(f"external entities: {trap.connections} connection(s) to the trap port"
          f"{' -- FAILED' if trap.connections else ''}")
    failed |= trap.connections > 0
    if not opts.no_scale:
        print("\nscale probes (x16 input; exponent 1.0 = linear, 2.0 = quadratic; limit 1.5):")
        for name, t1, t16, exponent in scale_probes():
            bad = exponent > 1.5
            failed |= bad
            print(f"  {name:<26} {t1 * 1000:8.2f} ms -> {t16 * 1000:9.2f} ms  exponent {exponent:4.2f}"
                  f"{'  FAILED' if bad else ''}")
    print("\nRESULT:", "FAILED" if failed else "OK")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
