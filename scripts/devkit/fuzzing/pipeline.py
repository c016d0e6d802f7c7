"""Whole requests: analysis, COS's answer explained, annotations and the report line, end to end,
with every output checked for secrets and for what UTF-8 files cannot hold."""
from __future__ import annotations

import json
import random
import re
import string
from email.utils import formatdate

from cosdoctor.cos.hosts import custom_endpoint, parse_cos_host
from cosdoctor.cos.signature import sign_key
from cosdoctor.cos.times import format_iso8601
from cosdoctor.findings import catalogue
from cosdoctor.findings.answer import CosAnswer, answer_id, explain, read_answer
from cosdoctor.findings.diagnose import Diagnosis, LocalAnswer, block_answer, diagnose
from cosdoctor.findings.request_checks import Analysis, UploadRequest, analyse_request, verdict
from cosdoctor.render.jsonl import record
from cosdoctor.render.text import diagnosis_headers, diagnosis_log_line, dumps_record, flow_comment, metadata
from cosdoctor.wire.errorxml import parse_error_xml, render_error_xml
from devkit.formbuilder import signed_form
from devkit.fuzzing.auth import gen_auth
from devkit.fuzzing.common import (BUCKET, CONDITION_KEYS, CONTRACT_MISTAKES, CONTRACT_REASONS, COS_HOST,
                                   FINDING_KEYS, PLAIN_KEYS, MARKER, SECRET_ID, SECRET_KEY, STORES, WRONG_KEY,
                                   Violation, need, rand_bytes, rand_text)
from devkit.fuzzing.multipart import (FIELD_NAMES, PartSpec, build_multipart, data_is_safe, mutate,
                                      mutate_content_type, rand_ops)
from devkit.fuzzing.policy import encode_policy, rand_policy_text
from devkit.fuzzing.xml import gen_xml

def check_rendered(found: object) -> None:
    """A finding as the contract shows it: the plain keys plus non-empty texts."""
    need(isinstance(found, dict) and set(found) == FINDING_KEYS, "finding.rendered-keys",
         sorted(found) if isinstance(found, dict) else type(found))
    assert isinstance(found, dict)
    for name in ("title", "cause", "fix", "doc"):
        need(isinstance(found[name], str) and found[name], "finding.text", (found["id"], name))


def check_finding(found: object, phase: set[str]) -> dict:
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
        check_finding(found, {"preflight"})
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
        check_finding(found, {"preflight", "response"})
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
        check_rendered(found)
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


# --- the generator ------------------------------------------------------------------------------

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
