"""Multipart uploads followed across flows (cosdoctor.findings.sessions), driven through the one
pipeline (`check_session`, then `diagnose_exchange` with `sessions=` and `credential_origins=`), as
the addon's request and response hooks do; with the app's STS endpoint (credential_origin) and
COS's bare "Access Denied." (access) in the story.

Each example is ``{"steps": [...], "creds": ..., "caps": [max_sessions, max_parts], "now": ...}``:
one step is one exchange (``kind`` "cos": method, target, headers, body, body_size, COS's status,
headers and body; ``kind`` "sts": the JSON answer of the app's key endpoint). A part's size is only
ever a length (``body_size`` or Content-Length): no example builds a big body.
"""
from __future__ import annotations

import json
import random
from urllib.parse import quote

from cosdoctor.cos.hosts import parse_cos_host
from cosdoctor.cos.multipart import MIN_PART_SIZE
from cosdoctor.cos.signature import sign_key
from cosdoctor.cos.times import format_iso8601
from cosdoctor.findings import catalogue
from cosdoctor.findings.credential_origin import CAPACITY as ORIGINS_CAPACITY, CredentialOrigins
from cosdoctor.findings.diagnose import PlainResponse, block_answer, check_session, diagnose_exchange, request_for
from cosdoctor.findings.request_checks import analyse_request
from cosdoctor.findings.sessions import MAX_FLOWS, MAX_PARTS, MAX_SESSIONS, UploadSessions
from cosdoctor.render.jsonl import record
from cosdoctor.render.text import diagnosis_headers, dumps_record, flow_comment, metadata
from cosdoctor.wire.errorxml import escape_xml, render_error_xml
from devkit.fuzzing.common import BUCKET, COS_HOST, SECRET_ID, SECRET_KEY, STORES, WRONG_KEY, need, rand_text
from devkit.fuzzing.pipeline import check_finding, check_rendered
from devkit.fuzzing.uploadxml import (ROOTS, billion_laughs, build_complete, deep_nesting, element, many_parts,
                                      mutate_upload_xml)
from devkit.fuzzing.xmlapi import client_sign

# The temporary key the app's STS endpoint hands out in the story: its SecretKey must never show.
TMP_SECRET_ID = "AKIDtmpFuzzSessions0000000000000000000"
TMP_SECRET_KEY = "TMPKEYfuzzSessionsNeverShown0000"
SESSION_TOKEN = "fuzz-session-token-" + "Zq" * 40
SECRETS = (SECRET_KEY, WRONG_KEY, TMP_SECRET_KEY)
PAGE = "https://app.example.com"
ENDPOINT = parse_cos_host(COS_HOST)
# A session finding's flows: the session's own (at most MAX_FLOWS) plus the flows it names besides.
MAX_EVIDENCE_FLOWS = MAX_FLOWS + 2


# --- the invariants ---------------------------------------------------------------------------------

def check_sessions(*, steps: list, creds: str = "ok", caps: list | None = None, now: int = 1_700_000_000) -> list:
    """The story through the pipeline, every step checked; then once more on fresh sessions, which
    must give the same findings (saved traffic read back with -nr rebuilds the same sessions)."""
    first = _run(steps, creds, caps, now, check=True)
    again = _run(steps, creds, caps, now, check=False)
    if first != again:
        step = next((i for i, (a, b) in enumerate(zip(first, again)) if a != b), min(len(first), len(again)))
        need(False, "sessions.replay-differs", f"step {step}")
    return first


def _run(steps: list, creds: str, caps: list | None, now: int, *, check: bool) -> list:
    store = STORES[creds]
    sessions = UploadSessions(*(caps or (MAX_SESSIONS, MAX_PARTS)))
    origins = CredentialOrigins()
    story = []
    for index, step in enumerate(steps):
        flow_id = f"flow-{index}"
        if step["kind"] == "sts":
            origins.observe(flow_id=flow_id, method="GET", url=f"{PAGE}/sts", time=format_iso8601(now),
                            time_unix=now, body=step["body"])
            need(len(origins) <= ORIGINS_CAPACITY, "sessions.origins-uncapped", len(origins))
            story.append(None)
            continue
        request = request_for(step["method"], COS_HOST, step["target"], step["headers"], step["body"], ENDPOINT,
                              body_size=step["body_size"])
        response = None if step["status"] is None else PlainResponse(
            step["status"], {k.lower(): v for k, v in step["answer_headers"].items()}, step["answer_body"], now)
        # The request hook: analysis, the upload's earlier flows, the block decision.
        analysis = analyse_request(request, store, now)
        blocked_before = block_answer(analysis, "fuzz", COS_HOST)
        known = len(analysis.findings)
        check_session(analysis, sessions, flow_id)
        from_session = analysis.findings[known:]
        if check:
            _check_preflight(analysis, from_session, blocked_before)
        # The response hook: COS's answer explained and learnt from.
        diagnosis = diagnose_exchange(request, response, now=now, credentials=store, analysis=analysis,
                                      flow_id=flow_id, sessions=sessions, credential_origins=origins)
        if check:
            _check_caps(sessions)
            _check_diagnosis(diagnosis, step, flow_id, now)
        story.append(json.dumps([from_session, diagnosis.findings, diagnosis.error], sort_keys=True))
    return story


def _check_preflight(analysis, from_session: list, blocked_before) -> None:
    """Session facts are the proxy's inference: never certain, so never a reason to block."""
    for found in from_session:
        check_finding(found, {"preflight"})
        need(not catalogue.entry(found["id"]).certain, "sessions.certain-from-session", found["id"])
        _check_flows(found)
    blocked_after = block_answer(analysis, "fuzz", COS_HOST)
    need((blocked_before and blocked_before.finding["id"]) == (blocked_after and blocked_after.finding["id"]),
         "sessions.blocks-on-session-facts",
         (blocked_before and blocked_before.finding["id"], blocked_after and blocked_after.finding["id"]))


def _check_flows(found: dict) -> None:
    flows = found["evidence"].get("flows")
    need(flows is None or (isinstance(flows, list) and len(flows) <= MAX_EVIDENCE_FLOWS), "sessions.flows-unbounded",
         (found["id"], len(flows) if isinstance(flows, list) else type(flows)))


def _check_caps(sessions: UploadSessions) -> None:
    need(len(sessions) <= sessions.max_sessions, "sessions.sessions-uncapped", len(sessions))
    need(sessions.part_count <= sessions.max_parts, "sessions.parts-uncapped", sessions.part_count)
    kept = list(sessions._sessions.values())       # the tracker's own books, to audit its count
    need(sessions.part_count == sum(len(s.parts) for s in kept), "sessions.part-count-drift",
         (sessions.part_count, sum(len(s.parts) for s in kept)))
    for session in kept:
        need(len(session.flows) <= MAX_FLOWS, "sessions.flows-uncapped", len(session.flows))


def _check_diagnosis(diagnosis, step: dict, flow_id: str, now: int) -> None:
    for found in diagnosis.findings:
        check_finding(found, {"preflight", "response"})
        _check_flows(found)
        if found["id"] == "Warning_ETagHidden":
            need("origin" in {k.lower() for k in step["headers"]}, "sessions.etag-hidden-without-origin")
    outputs = [json.dumps(diagnosis.findings), json.dumps(diagnosis.error)]
    for lang in catalogue.LANGS:
        meta = metadata(diagnosis, lang)
        for found in meta["findings"]:
            check_rendered(found)
        outputs += [json.dumps(meta), flow_comment(diagnosis, lang), dumps_record(record(
            time=format_iso8601(now), flow_id=flow_id, client="127.0.0.1", method=step["method"],
            url=f"https://{COS_HOST}{step['target']}", host=COS_HOST, bucket=meta["bucket"], region=meta["region"],
            key=meta["key"], status=diagnosis.status, error=diagnosis.error, findings=meta["findings"],
            action="forwarded", lang=lang, operation=meta["operation"], auth=meta["auth"],
            upload_id=meta["upload_id"], part_number=meta["part_number"]))]
    outputs.append(json.dumps(diagnosis_headers(diagnosis)))
    text = "\n".join(outputs)
    for secret in SECRETS:
        need(secret not in text, "sessions.secret-leak", "a SecretKey in an output")
        if step.get("key_time"):
            need(sign_key(secret, step["key_time"]) not in text, "sessions.secret-leak", "a SignKey in an output")
    for sent in (step.get("signature"), SESSION_TOKEN if step.get("token") else None):
        need(not sent or sent not in text, "sessions.sent-secret-whole", "a signature or token not shortened")


# --- the generator ------------------------------------------------------------------------------

KEYS = ("uploads/big.bin", "uploads/other.bin", "文件/大.bin")
PART_SIZES = (0, 1, 1000, MIN_PART_SIZE - 1, MIN_PART_SIZE, MIN_PART_SIZE + 1, 5 << 20, 5 << 30, (5 << 30) + 1)
PART_NUMBERS = ("0", "-1", "10001", "10000", "01", "1.0", "x", "", "9" * 12, "9" * 13)
ETAG_HEADERS = ("etag", "ETag, x-cos-request-id", "x-cos-request-id", "*", "", "Etag ,Content-Length")
COS_ERRORS = {
    "EntityTooSmall": (400, "Your proposed upload is smaller than the minimum allowed object size."),
    "InvalidPart": (400, "One or more of the specified parts could not be found."),
    "InvalidPartOrder": (400, "The list of parts was not in ascending order."),
    "NoSuchUpload": (404, "The specified upload does not exist."),
    "MalformedXML": (400, "The XML you provided was not well-formed."),
    "AccessDenied": (403, "Access Denied."),
    "InvalidArgument": (400, "Part number must be an integer between 1 and 10000, inclusive."),
    "InternalError": (500, "We encountered an internal error. Please try again."),
}


class _Story:
    """What the generator itself remembers (upload ids it was given, parts and ETags it sent), so
    that later steps can refer to them, get them right, or get them wrong on purpose."""

    def __init__(self, r: random.Random, now: int) -> None:
        self.r, self.now = r, now
        self.ids: list[str] = []
        self.parts: dict[str, dict[int, str]] = {}
        self.issued = False

    def upload_id(self) -> str:
        r = self.r
        if self.ids and r.random() < 0.85:
            return r.choice(self.ids)
        return r.choice((self.fresh_id(), "", "unknown-" + str(r.randrange(100)), "x" * r.choice((257, 5000)),
                         rand_text(r, 40, surrogates=False)))

    def fresh_id(self) -> str:
        return f"{self.now}{self.r.getrandbits(128):032x}"


def _sign(r: random.Random, story: _Story, method: str, path: str, params: list, headers: dict, step: dict) -> None:
    """Sign some requests (with the configured key or the STS-issued one), leave others anonymous."""
    roll = r.random()
    if roll < 0.3:
        return
    temporary = story.issued and roll < 0.75
    secret_id, secret = (TMP_SECRET_ID, TMP_SECRET_KEY) if temporary else (SECRET_ID, SECRET_KEY)
    key_time = f"{story.now - 60};{story.now + (900 if r.random() < 0.9 else -30)}"
    signature, header_list, param_list, _ = client_sign(secret, key_time, key_time, method, path, params,
                                                        [("host", COS_HOST)])
    headers["Authorization"] = (f"q-sign-algorithm=sha1&q-ak={secret_id}&q-sign-time={key_time}"
                                f"&q-key-time={key_time}&q-header-list={header_list}"
                                f"&q-url-param-list={param_list}&q-signature={signature}")
    step.update(key_time=key_time, signature=signature)
    if temporary and r.random() < 0.8:
        headers["x-cos-security-token"] = SESSION_TOKEN
        step["token"] = True


def _error_answer(r: random.Random, code: str) -> tuple[int, dict, bytes]:
    status, message = COS_ERRORS[code]
    return status, {"Content-Type": "application/xml"}, render_error_xml(code, message, f"{COS_HOST}/x", "req-fuzz")


def _cos_step(r: random.Random, story: _Story, method: str, key: str, params: list, *, body: bytes = b"",
              body_size: int | None = None, headers: dict | None = None) -> dict:
    headers = {"Host": COS_HOST, **(headers or {})}
    step = {"kind": "cos", "method": method, "body": body, "body_size": body_size}
    _sign(r, story, method, "/" + key, [(n, v or "") for n, v in params], headers, step)
    query = "&".join(n if v is None else f"{n}={quote(v, safe='')}" for n, v in params)
    step.update(target=f"/{quote(key)}?{query}", headers=headers)
    return step


def _answer(step: dict, status: int | None, headers: dict | None = None, body: bytes | None = b"") -> dict:
    step.update(status=status, answer_headers=headers or {}, answer_body=body)
    return step


def _initiate(r: random.Random, story: _Story, key: str) -> dict:
    step = _cos_step(r, story, "POST", key, [("uploads", None)])
    roll = r.random()
    if roll < 0.1:
        return _answer(step, *_error_answer(r, r.choice(("AccessDenied", "InternalError"))))
    upload_id = (r.choice(story.ids) if story.ids and r.random() < 0.1 else story.fresh_id()) if roll < 0.8 else \
        r.choice(("", " ", "x" * r.choice((256, 257, 5000)), rand_text(r, 60, surrogates=False)))
    body = (f"<{ROOTS['initiate']}>{element('Bucket', BUCKET)}{element('Key', escape_xml(key))}"
            f"{element('UploadId', escape_xml(upload_id))}</{ROOTS['initiate']}>").encode()
    if r.random() < 0.1:
        body = mutate_upload_xml(r, body)
    elif r.random() < 0.03:
        body = r.choice((billion_laughs(ROOTS["initiate"], r.randint(2, 6)), b"", b"garbage",
                         deep_nesting(ROOTS["initiate"], r.choice((31, 33, 300)))))
    story.ids.append(upload_id.strip())
    story.parts.setdefault(upload_id.strip(), {})
    return _answer(step, r.choice((200,) * 9 + (None,)), {"Content-Type": "application/xml"}, body)


def _part_number(r: random.Random) -> str:
    roll = r.random()
    if roll < 0.8:
        return str(r.randint(1, 6) if r.random() < 0.8 else r.randint(1, 10_000))
    if roll < 0.97:
        return r.choice(PART_NUMBERS)
    return "9" * r.choice((100, 4300, 5000))


def _upload_part(r: random.Random, story: _Story, key: str) -> dict:
    upload_id, number = story.upload_id(), _part_number(r)
    size = r.choice(PART_SIZES) if r.random() < 0.8 else r.randrange(6 << 30)
    headers: dict = {}
    body_size: int | None = None
    roll = r.random()
    if roll < 0.5:
        body_size = size                     # the adapter's length of a PUT's raw body
    elif roll < 0.9:
        headers["Content-Length"] = str(size)
    elif roll < 0.95:
        headers["Content-Length"] = r.choice(("abc", "-1", "9" * 30, "", " 12"))
    browser = r.random() < 0.4
    if browser:
        headers["Origin"] = PAGE
    step = _cos_step(r, story, "PUT", key, [("partNumber", number), ("uploadId", upload_id)],
                     body_size=body_size, headers=headers)
    if r.random() < 0.1:
        return _answer(step, *_error_answer(r, r.choice(("NoSuchUpload", "InvalidArgument", "AccessDenied"))))
    etag = '"' + "".join(r.choices("0123456789abcdef", k=32)) + '"' if r.random() < 0.9 else \
        r.choice(('""', "undefined", rand_text(r, 30, surrogates=False)))
    answer: dict = {"ETag": etag} if r.random() < 0.9 else {}
    if browser and r.random() < 0.9:
        answer["Access-Control-Allow-Origin"] = r.choice((PAGE, PAGE, "*", "https://other.example"))
        if r.random() < 0.7:
            answer["Access-Control-Expose-Headers"] = r.choice(ETAG_HEADERS)
    if number.isdigit() and len(number) < 6:
        story.parts.setdefault(upload_id, {})[int(number)] = etag
    return _answer(step, r.choice((200,) * 19 + (None,)), answer)


def _list_parts(r: random.Random, story: _Story, key: str) -> dict:
    upload_id = story.upload_id()
    step = _cos_step(r, story, "GET", key, [("uploadId", upload_id)])
    if r.random() < 0.1:
        return _answer(step, *_error_answer(r, "NoSuchUpload"))
    root = ROOTS["list"]
    count = r.choice((0, 1, 3, 10)) if r.random() < 0.97 else r.choice((999, 1000, 1001))
    parts = "".join(f"<Part>{element('PartNumber', _part_number(r))}{element('ETag', escape_xml(chr(34) + 'e' * 32 + chr(34)))}"
                    f"{element('Size', str(r.choice(PART_SIZES)))}</Part>" for _ in range(count))
    truncated = r.choice(("false", "false", "true", "maybe"))
    body = (f"<{root}>{element('Bucket', BUCKET)}{element('Key', escape_xml(key))}{element('UploadId', escape_xml(upload_id))}"
            f"{element('IsTruncated', truncated)}{parts}</{root}>").encode()
    roll = r.random()
    if roll < 0.1:
        body = mutate_upload_xml(r, body)
    elif roll < 0.13:
        body = r.choice((billion_laughs(root, r.randint(2, 6)), many_parts(root, r.choice((1001, 5000)), full=True),
                         deep_nesting(root, r.choice((33, 300))), b"\x00" * 100))
    return _answer(step, 200, {"Content-Type": "application/xml"}, body)


def _complete_body(r: random.Random, story: _Story, upload_id: str) -> bytes:
    sent = sorted(story.parts.get(upload_id, {}).items())
    roll = r.random()
    if roll < 0.55:
        listed = list(sent)
        twist = r.random()
        if listed and twist < 0.15:
            r.shuffle(listed)
        elif listed and twist < 0.3:
            i = r.randrange(len(listed))
            listed[i] = (listed[i][0], r.choice(('"undefined"', "undefined", "", '"' + "0" * 32 + '"')))
        elif twist < 0.4:
            listed.append((r.randint(1, 12), '"' + "f" * 32 + '"'))
        elif listed and twist < 0.5:
            listed.pop(r.randrange(len(listed)))
        inner = "".join(f"<Part>{element('PartNumber', str(n))}{element('ETag', escape_xml(e))}</Part>"
                        for n, e in listed)
        body = f"<{ROOTS['complete']}>{inner}</{ROOTS['complete']}>".encode()
        return mutate_upload_xml(r, body) if r.random() < 0.1 else body
    if roll < 0.85:
        return build_complete(r)[0]
    root = ROOTS["complete"]        # (10 001 full parts, 700 KB, are the uploadxml target's: too slow twice here)
    return r.choice((billion_laughs(root, r.randint(2, 6)), deep_nesting(root, r.choice((31, 33, 300, 5000))),
                     many_parts(root, r.choice((3, 10_001))), b"", b"<CompleteMultipartUpload>",
                     b"\xff\xfe<\x00", rand_text(r, 60, surrogates=False).encode()))


def _complete(r: random.Random, story: _Story, key: str) -> dict:
    upload_id = story.upload_id()
    step = _cos_step(r, story, "POST", key, [("uploadId", upload_id)], body=_complete_body(r, story, upload_id),
                     headers={"Content-Type": "application/xml"})
    roll = r.random()
    if roll < 0.35:
        code = r.choice(("EntityTooSmall", "InvalidPart", "InvalidPartOrder", "NoSuchUpload", "MalformedXML",
                         "AccessDenied"))
        return _answer(step, *_error_answer(r, code))
    if roll < 0.5:        # COS's 200 whose body is an <Error>, after its merge whitespace
        spaces = b" " * r.choice((0, 1, 4096)) + r.choice((b"", b"\r\n"))
        return _answer(step, 200, {"Content-Type": "application/xml"},
                       spaces + _error_answer(r, r.choice(("InternalError", "InvalidPart")))[2])
    body = (f"<{ROOTS['answer']}><Location>{COS_HOST}/{escape_xml(key)}</Location>{element('Bucket', BUCKET)}"
            f"{element('Key', escape_xml(key))}{element('ETag', chr(34) + 'a' * 32 + '-2' + chr(34))}"
            f"</{ROOTS['answer']}>").encode()
    return _answer(step, r.choice((200,) * 9 + (None,)), {"Content-Type": "application/xml"}, body)


def _abort(r: random.Random, story: _Story, key: str) -> dict:
    step = _cos_step(r, story, "DELETE", key, [("uploadId", story.upload_id())])
    if r.random() < 0.2:
        return _answer(step, *_error_answer(r, "NoSuchUpload"))
    return _answer(step, 204)


def _sts(r: random.Random, story: _Story) -> dict:
    """The app's key endpoint: qcloud-cos-sts-sdk's getCredential shape, or the raw STS answer."""
    story.issued = True
    expired = story.now + r.choice((1800, -60, 0))
    if r.random() < 0.7:
        doc: object = {"credentials": {"tmpSecretId": TMP_SECRET_ID, "tmpSecretKey": TMP_SECRET_KEY,
                                       "sessionToken": SESSION_TOKEN}, "expiredTime": expired,
                       "startTime": story.now - 60}
    else:
        doc = {"Response": {"Credentials": {"TmpSecretId": TMP_SECRET_ID, "TmpSecretKey": TMP_SECRET_KEY,
                                            "Token": SESSION_TOKEN}, "ExpiredTime": expired}}
    body = json.dumps(doc).encode()
    if r.random() < 0.05:
        body = body[:r.randrange(len(body))]
    return {"kind": "sts", "body": body}


OPERATIONS = (("initiate", 3, _initiate), ("part", 8, _upload_part), ("list", 1, _list_parts),
              ("complete", 3, _complete), ("abort", 1, _abort))


def gen_sessions(r: random.Random) -> dict:
    now = r.randint(1_600_000_000, 1_900_000_000)
    story = _Story(r, now)
    steps = []
    length = r.choice((1, 2, 3, 5, 8, 12, 20, 30, 60))
    names, weights, makers = zip(*OPERATIONS)
    for _ in range(length):
        if r.random() < 0.04:
            steps.append(_sts(r, story))
            continue
        key = KEYS[0] if r.random() < 0.85 else r.choice(KEYS)
        steps.append(r.choices(makers, weights)[0](r, story, key))
    caps = [MAX_SESSIONS, MAX_PARTS] if r.random() < 0.7 else [r.randint(1, 6), r.randint(1, 40)]
    return {"steps": steps, "creds": r.choice(("ok", "ok", "none", "wrong")), "caps": caps, "now": now}
