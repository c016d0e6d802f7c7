#!/usr/bin/env python3
"""A local COS endpoint that answers POST Object as COS does, on 127.0.0.1 only.

It is the upstream of the demo and of the end-to-end tests. It reuses the core's byte-level
pieces (multipart parser, policy decoder, signature arithmetic, error XML writer) but makes its
own decisions, one check after another like a server, with COS's own messages typed in here from
the documentation, so that comparing it with the addon's preflight is a real second opinion.

    python3 scripts/cos_emulator.py --port 9000 --credentials creds.txt
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import http.server
import json
import os
import sys
import threading
import time
import uuid
from email.utils import formatdate
from urllib.parse import parse_qs, quote, urlsplit

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "addon"))

from cosdoctor.cos.credentials import CredentialsError, load_credentials  # noqa: E402
from cosdoctor.wire.errorxml import render_error_xml  # noqa: E402
from cosdoctor.cos.hosts import parse_cos_host  # noqa: E402
from cosdoctor.cos.times import parse_iso8601  # noqa: E402
from cosdoctor.wire.multipart import parse_multipart  # noqa: E402
from cosdoctor.cos.policy import decode_policy  # noqa: E402
from cosdoctor.cos.signature import header_signature, parse_auth_string, post_signature  # noqa: E402

# COS's own wording (cos-post-object.md §5); where COS documents none, a plain guess marked so.
MSG_MALFORMED = "The body of your POST request is not well-formed multipart/form-data."
MSG_NO_CONDITION = "You must provide condition if you specify a policy in post object request."
MSG_EXPIRED = "You post object request has been expired, expiration time: {exp} but the time now : {now}"
MSG_SIGNATURE = "The Signature you specified is invalid."
MSG_CONDITION = "Condition key {field} doesn't match the value {value}"
MSG_RANGE = "Condition key content-length-range doesn't match the value "
MSG_TOO_LARGE = "Your proposed upload exceeds the maximum allowed object size"
MSG_REQUEST_EXPIRED = "Request has expired"
MSG_ACCESS_DENIED = "Access Denied."
MSG_SIGNATURE_EMPTY = "Check auth failure because signature empty."
MSG_CORS = ("CORSResponse: This CORS request is not allowed. This is usually because the evalution of "
            "Origin, request method / Access-Control-Request-Method or Access-Control-Requet-Headers "
            "are not whitelisted by the resource's CORS spec")
# Undocumented messages (emulator guesses).
MSG_FILE_COUNT = "POST requires exactly one file upload per request."
MSG_MISSING_FIELD = "Bucket POST must contain a field named '{field}'."
MSG_BAD_POLICY = "Invalid Policy: {detail}"
MSG_NO_ACCESS_KEY = "The Access Key Id you provided does not exist in our records."
MSG_TRAFFIC = "x-cos-traffic-limit must be between 819200 and 838860800."
MSG_DIGEST = "The Content-MD5 you specified did not match what we received."
MSG_KEY_TOO_LONG = "Your key is too long."
MSG_LENGTH = "You must provide the Content-Length HTTP header."

MAX_OBJECT = 5 * 1024 ** 3


class Rejection(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class Emulator:
    """State shared by the handler threads: keys, clock, CORS rules, counters and objects."""

    def __init__(self, credentials, clock_offset: int = 0, cors_origins=("*",),
                 deny_prefixes=(), public_write: bool = False) -> None:
        self.credentials = credentials
        self.clock_offset = clock_offset
        self.cors_origins = tuple(cors_origins)
        self.deny_prefixes = tuple(deny_prefixes)
        self.public_write = public_write
        self.lock = threading.Lock()
        self.counts = {"POST": 0, "OPTIONS": 0, "other": 0, "accepted": 0, "rejected": 0}
        self.objects: dict[tuple[str, str], bytes] = {}

    def now(self) -> int:
        return int(time.time()) + self.clock_offset

    def count(self, name: str) -> None:
        with self.lock:
            self.counts[name] = self.counts.get(name, 0) + 1

    # --- the POST Object decision, one check after another ---------------------------------

    def post_object(self, host: str, path: str, headers, body: bytes):
        endpoint = parse_cos_host(host, path)
        bucket = endpoint.bucket if endpoint else None
        if headers.get("content-length") is None:
            raise Rejection(411, "MissingContentLength", MSG_LENGTH)
        form = parse_multipart(headers.get("content-type"), body,
                               content_length=int(headers.get("content-length")))
        if form.error is not None:
            raise Rejection(400, "MalformedPOSTRequest", MSG_MALFORMED)
        fields: dict[str, str] = {}
        files = []
        for part in form.parts:
            name = (part.name or "").lower()
            if name == "file":
                files.append(part)
            elif name not in fields:
                fields[name] = body[part.data_start:part.data_end].decode("utf-8", "replace")
        if not files:
            raise Rejection(400, "MalformedPOSTRequest", MSG_MALFORMED)
        if len(files) > 1:
            raise Rejection(400, "IncorrectNumberOfFilesInPostRequest", MSG_FILE_COUNT)
        file_part = files[0]
        key = fields.get("key")
        if not key:
            raise Rejection(400, "InvalidArgument", MSG_MISSING_FIELD.format(field="key"))
        if file_part.filename is not None:
            key = key.replace("${filename}", file_part.filename)
        if len(key.encode()) > 850:
            raise Rejection(400, "KeyTooLong", MSG_KEY_TOO_LONG)
        fields["key"] = key
        size = file_part.data_end - file_part.data_start
        if size > MAX_OBJECT:
            raise Rejection(400, "EntityTooLarge", MSG_TOO_LARGE)
        now = self.now()
        if "q-signature" in fields or ("policy" in fields and "signature" not in fields):
            self._policy_mode(fields, bucket, size, now)
        elif "signature" in fields:
            self._signature_mode(fields, headers, bucket, size, now, endpoint)
        elif not self.public_write:
            raise Rejection(403, "AccessDenied", MSG_SIGNATURE_EMPTY)
        self._field_values(fields, body, file_part)
        if any(key.startswith(p) for p in self.deny_prefixes):
            raise Rejection(403, "AccessDenied", MSG_ACCESS_DENIED)
        data = body[file_part.data_start:file_part.data_end]
        with self.lock:
            self.objects[(bucket or host, key)] = data
        return bucket, key, hashlib.md5(data).hexdigest(), fields

    def _policy_mode(self, fields, bucket, size, now) -> None:
        for name in ("policy", "q-sign-algorithm", "q-ak", "q-key-time", "q-signature"):
            if name not in fields:
                raise Rejection(400, "InvalidArgument", MSG_MISSING_FIELD.format(field=name))
        policy = self._policy(fields["policy"], now)
        credential = self.credentials.get(fields["q-ak"])
        if credential is None:
            raise Rejection(403, "InvalidAccessKeyId", MSG_NO_ACCESS_KEY)
        expected = post_signature(credential.secret_key, fields["q-key-time"], policy.raw).signature
        if fields["q-signature"] != expected:
            raise Rejection(403, "SignatureDoesNotMatch", MSG_SIGNATURE)
        self._conditions(policy, fields, bucket, size)

    def _policy(self, text: str, now: int):
        policy = decode_policy(text)
        document = policy.document
        for problem in policy.problems:
            if problem.kind == "base64":
                raise Rejection(400, "InvalidPolicyDocument", MSG_BAD_POLICY.format(detail="Invalid Base64"))
        if not isinstance(document, dict):
            raise Rejection(400, "InvalidPolicyDocument", MSG_NO_CONDITION)
        conditions = document.get("conditions")
        if not isinstance(conditions, list) or not conditions:
            raise Rejection(400, "InvalidPolicyDocument", MSG_NO_CONDITION)
        expiration = document.get("expiration")
        expiration_unix = parse_iso8601(expiration) if isinstance(expiration, str) else None
        if expiration_unix is None:
            raise Rejection(400, "InvalidPolicyDocument", MSG_BAD_POLICY.format(detail="Invalid expiration"))
        for condition in conditions:
            if not _valid_condition(condition):
                raise Rejection(400, "InvalidPolicyDocument", MSG_BAD_POLICY.format(detail="Invalid condition"))
        if expiration_unix <= now:
            raise Rejection(403, "AccessDenied", MSG_EXPIRED.format(exp=expiration_unix, now=now))
        return policy

    def _conditions(self, policy, fields, bucket, size) -> None:
        for condition in policy.document["conditions"]:
            if isinstance(condition, dict):
                (name, expected), = condition.items()
                op = "eq"
            elif str(condition[0]).lower() == "content-length-range":
                low, high = condition[1], condition[2]
                if size > high:
                    raise Rejection(400, "EntityTooLarge", MSG_RANGE)
                if size < low:
                    raise Rejection(400, "EntityTooSmall", MSG_RANGE)
                continue
            else:
                op, name, expected = str(condition[0]).lower(), condition[1], condition[2]
            name = name[1:] if name.startswith("$") else name
            lname = name.lower()
            if lname == "bucket":
                actual = bucket
            elif lname == "q-sign-time":
                actual = fields.get("q-key-time")
            else:
                actual = fields.get(lname)
            matched = actual is not None and (actual == expected if op == "eq" else actual.startswith(expected))
            if not matched:
                raise Rejection(403, "AccessDenied", MSG_CONDITION.format(field=lname, value=actual or ""))

    def _signature_mode(self, fields, headers, bucket, size, now, endpoint) -> None:
        auth = parse_auth_string(fields["signature"])
        if auth.problems or not auth.ak or not auth.key_time or not auth.signature:
            raise Rejection(403, "SignatureDoesNotMatch", MSG_SIGNATURE)
        if auth.sign_time and int(auth.sign_time.split(";")[1]) < now:
            raise Rejection(403, "AccessDenied", MSG_REQUEST_EXPIRED)
        credential = self.credentials.get(auth.ak)
        if credential is None:
            raise Rejection(403, "InvalidAccessKeyId", MSG_NO_ACCESS_KEY)
        path = f"/{bucket}/" if endpoint is not None and endpoint.style == "path" else "/"
        signed = [(n, headers.get(n) if headers.get(n) is not None else fields.get(n.lower(), ""))
                  for n in auth.header_list]
        expected = header_signature(credential.secret_key, auth.key_time, "post", path, [], signed)
        if auth.signature != expected.signature:
            raise Rejection(403, "SignatureDoesNotMatch", MSG_SIGNATURE)
        if "policy" in fields:
            policy = self._policy(fields["policy"], now)
            self._conditions(policy, fields, bucket, size)

    def _field_values(self, fields, body, file_part) -> None:
        limit = fields.get("x-cos-traffic-limit")
        if limit is not None and not (limit.isdigit() and 819200 <= int(limit) <= 838860800):
            raise Rejection(400, "InvalidArgument", MSG_TRAFFIC)
        md5 = fields.get("content-md5")
        if md5 is not None:
            digest = base64.b64encode(hashlib.md5(body[file_part.data_start:file_part.data_end]).digest()).decode()
            if md5 != digest:
                raise Rejection(400, "InvalidDigest", MSG_DIGEST)

    # --- CORS --------------------------------------------------------------------------------

    def cors_allows(self, origin: str | None) -> bool:
        return origin is not None and ("*" in self.cors_origins or origin in self.cors_origins)


def _valid_condition(condition) -> bool:
    if isinstance(condition, dict):
        return len(condition) == 1 and all(isinstance(v, str) for v in condition.values())
    if not isinstance(condition, list) or len(condition) != 3:
        return False
    op = str(condition[0]).lower()
    if op == "content-length-range":
        return all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in condition[1:])
    return op in ("eq", "starts-with") and all(isinstance(v, str) for v in condition[1:])


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "tencent-cos"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    emulator: Emulator

    def log_message(self, format, *args):  # noqa: A002 - keep the test output quiet
        if os.environ.get("COS_EMULATOR_VERBOSE"):
            super().log_message(format, *args)

    def date_time_string(self, timestamp=None) -> str:
        """The Date header tells the server's clock (which --clock-offset may skew)."""
        return formatdate(self.emulator.now() if timestamp is None else timestamp, usegmt=True)

    def _headers(self) -> dict[str, str]:
        return {k.lower(): v for k, v in self.headers.items()}

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
        self.send_response(status, "Redirect" if status == 303 else None)
        request_id = base64.b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        self.send_header("x-cos-request-id", request_id)
        origin = self.headers.get("Origin")
        if self.emulator.cors_allows(origin):
            self.send_header("Access-Control-Allow-Origin", origin)
            self.send_header("Access-Control-Expose-Headers", "ETag, Location, x-cos-request-id, X-COS-Diagnosis, X-COS-Diagnosis-Detail")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, code: str, message: str, resource: str) -> None:
        request_id = base64.b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        trace_id = base64.b64encode(os.urandom(30)).decode()
        body = render_error_xml(code, message, resource, request_id, trace_id)
        self._send(status, body, {"Content-Type": "application/xml", "x-cos-trace-id": trace_id})

    def do_GET(self) -> None:
        if self.path.startswith("/__app/post-policy"):
            self._app_post_policy()
            return
        if self.path == "/__emulator/stats":
            with self.emulator.lock:
                data = dict(self.emulator.counts, objects=len(self.emulator.objects))
            self._send(200, json.dumps(data).encode(), {"Content-Type": "application/json"})
            return
        self.emulator.count("other")
        host = self.headers.get("Host", "")
        endpoint = parse_cos_host(host, self.path)
        key = self.path.lstrip("/").split("?")[0]
        with self.emulator.lock:
            data = self.emulator.objects.get(((endpoint.bucket if endpoint else None) or host, key))
        if data is None:
            self._error(404, "NoSuchKey", "The specified key does not exist.", f"{host}/{key}")
        else:
            self._send(200, data, {"Content-Type": "application/octet-stream"})

    def _app_post_policy(self) -> None:
        """What an app's signing endpoint returns (tencentyun/cos-demo server/post-policy): a policy
        for one key, signed with the emulator's first account. Lets tests and demos show where a
        failing upload's policy came from."""
        query = parse_qs(urlsplit(self.path).query)
        key = query.get("key", ["uploads/photo.jpg"])[0]
        bucket = query.get("bucket", ["examplebucket-1250000000"])[0]
        credential = next(iter(self.emulator.credentials.by_id.values()), None)
        if credential is None:
            self._send(500, b'{"error": "no credentials configured"}', {"Content-Type": "application/json"})
            return
        now = self.emulator.now()
        key_time = f"{now};{now + 900}"
        document = {"expiration": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(now + 900)),
                    "conditions": [{"q-sign-algorithm": "sha1"}, {"q-ak": credential.secret_id},
                                   {"q-sign-time": key_time}, {"bucket": bucket}, {"key": key}]}
        raw = json.dumps(document).encode()
        answer = {"cosHost": f"{bucket}.cos.ap-beijing.myqcloud.com", "cosKey": key,
                  "policy": base64.b64encode(raw).decode(), "qSignAlgorithm": "sha1",
                  "qAk": credential.secret_id, "qKeyTime": key_time,
                  "qSignature": post_signature(credential.secret_key, key_time, raw).signature}
        self._send(200, json.dumps(answer).encode(), {"Content-Type": "application/json"})

    def do_OPTIONS(self) -> None:
        self.emulator.count("OPTIONS")
        origin = self.headers.get("Origin")
        method = self.headers.get("Access-Control-Request-Method", "")
        host = self.headers.get("Host", "")
        if not self.emulator.cors_allows(origin) or method.upper() not in ("POST", "PUT", "GET", "HEAD"):
            self._error(403, "AccessForbidden", MSG_CORS, f"{host}{self.path}")
            return
        requested = self.headers.get("Access-Control-Request-Headers", "")
        self._send(200, b"", {"Access-Control-Allow-Methods": "POST, PUT, GET, HEAD",
                              "Access-Control-Allow-Headers": requested or "*",
                              "Access-Control-Max-Age": "600"})

    def do_POST(self) -> None:
        self.emulator.count("POST")
        headers = self._headers()
        host = headers.get("host", "")
        length = headers.get("content-length")
        body = self.rfile.read(int(length)) if length and length.isdigit() else b""
        if length is None and "chunked" in headers.get("transfer-encoding", "").lower():
            self._drain_chunked()
            self.close_connection = True
        try:
            bucket, key, etag, fields = self.emulator.post_object(host, self.path, headers, body)
        except Rejection as rejection:
            self.emulator.count("rejected")
            self._error(rejection.status, rejection.code, rejection.message, f"{host}{self.path}")
            return
        self.emulator.count("accepted")
        location = f"http://{host}/{quote(key)}"
        common = {"ETag": f'"{etag}"', "Location": location}
        redirect = fields.get("success_action_redirect")
        status = fields.get("success_action_status")
        if redirect:
            sep = "&" if "?" in redirect else "?"
            target = f"{redirect}{sep}bucket={quote(bucket or '')}&key={quote(key)}&etag=%22{etag}%22"
            self._send(303, b"", dict(common, Location=target))
        elif status in ("200", "201"):
            self._send(int(status), b"", common)
        else:
            self._send(204, b"", common)

    def _drain_chunked(self) -> None:
        while True:
            line = self.rfile.readline(1024)
            size = int(line.split(b";")[0].strip() or b"0", 16)
            self.rfile.read(size + 2)
            if size == 0:
                return


def make_server(emulator: Emulator, port: int = 0) -> http.server.ThreadingHTTPServer:
    handler = type("BoundHandler", (Handler,), {"emulator": emulator})
    server_class = type("Server", (http.server.ThreadingHTTPServer,), {"request_queue_size": 128})
    server = server_class(("127.0.0.1", port), handler)
    server.daemon_threads = True
    return server


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=9000, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--credentials", default=None, help="'SecretId SecretKey' file of the accounts it knows")
    parser.add_argument("--clock-offset", type=int, default=0, help="seconds the server clock runs ahead")
    parser.add_argument("--cors-origin", action="append", default=None, help="allowed CORS origin (repeat; default *)")
    parser.add_argument("--deny-prefix", action="append", default=[], help="keys under this prefix get 'Access Denied.'")
    parser.add_argument("--public-write", action="store_true", help="accept anonymous uploads")
    args = parser.parse_args(argv)
    try:
        credentials = load_credentials(args.credentials, os.environ)
    except CredentialsError as exc:
        print(f"cos_emulator: {exc}", file=sys.stderr)
        return 2
    emulator = Emulator(credentials, args.clock_offset, args.cors_origin or ["*"], args.deny_prefix,
                        args.public_write)
    server = make_server(emulator, args.port)
    print(f"cos_emulator listening on 127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
