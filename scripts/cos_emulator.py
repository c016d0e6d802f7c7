#!/usr/bin/env python3
"""A local COS endpoint on 127.0.0.1 only: POST Object, PUT Object, GET/HEAD/DELETE Object and the
multipart-upload API (Initiate, Upload Part, Complete, Abort, List Parts, List Multipart Uploads),
with header-signed (``Authorization``) and presigned (query) requests, answered as COS does.

It is the upstream of the demo and of the end-to-end tests. It reuses the core's byte-level
pieces (multipart parser, policy decoder, signature arithmetic, error XML writer) but makes its
own decisions, one check after another like a server, with COS's own messages typed in here from
the documentation, so that comparing it with the addon's preflight is a real second opinion.
Its SignatureDoesNotMatch answers to header and query signatures carry COS's ``<StringToSign>``
and ``<FormatString>`` (cos-xml-api.md §4.1), an expired signature gets "Request has expired"
with ``<ServerTime>``. Objects are kept in memory, bounded (oldest dropped first); so are multipart
sessions (their parts' MD5 and size always, the parts' bytes only within a budget).

Per-key CAM action lists (``--allow-actions``) answer "Access Denied." like a policy lacking an
action; per-bucket CORS ExposeHeader lists (``--bucket-expose``) can hide ETag from a page.

It also accepts absolute-form request targets (``PUT http://<bucket host>/key``), so a real SDK
configured with the emulator as its HTTP proxy talks to it under the real COS host name.

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
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from email.utils import formatdate
from urllib.parse import parse_qs, quote, unquote, urlsplit

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "addon"))

from cosdoctor.cos.credentials import CredentialsError, load_credentials  # noqa: E402
from cosdoctor.wire.errorxml import MAX_XML_BYTES, escape_xml, make_parser, render_error_xml  # noqa: E402
from cosdoctor.cos.hosts import parse_cos_host  # noqa: E402
from cosdoctor.cos.times import format_iso8601, parse_iso8601  # noqa: E402
from cosdoctor.wire.multipart import parse_multipart  # noqa: E402
from cosdoctor.cos.policy import decode_policy  # noqa: E402
from cosdoctor.cos.signature import (  # noqa: E402
    auth_from_pairs, cos_url_encode, header_signature, hmac_sha1_hex, parse_auth_string, post_signature, sha1_hex,
    sign_key,
)

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
MSG_NO_SUCH_KEY = "The specified key does not exist."
MSG_STRICT_HEADER = "Strict signature missing header that must be signed"
MSG_BAD_DIGEST = "The Content-MD5 you specified did not match what we received."
MSG_INVALID_DIGEST = "The Content-MD5 you specified is not valid."
MSG_METHOD = "The specified method is not allowed against this resource."
MSG_NOT_IMPLEMENTED = "This emulator does not implement this request yet."
# Multipart upload (cos-xml-api.md §3.4). COS documents only EntityTooSmall's message; the others
# are the emulator's choice (S3's wording), since COS's own are not documented.
MSG_ENTITY_TOO_SMALL = "Your proposed upload is smaller than the minimum allowed object size."
MSG_NO_SUCH_UPLOAD = "The specified upload does not exist."   # emulator's choice: COS's own is not documented
MSG_PART_NUMBER = "Part number must be an integer between 1 and 10000, inclusive."   # guess
MSG_MALFORMED_XML = ("The XML you provided was not well-formed or did not validate against our published "
                     "schema.")   # guess
MSG_PART_ORDER = "The list of parts was not in ascending order."   # guess
MSG_INVALID_PART = ("One or more of the specified parts could not be found. The part may not have been "
                    "uploaded, or the specified entity tag may not match the part's entity tag.")   # guess
MSG_XML_SIZE = "Your XML is too long."   # guess
MSG_EMPTY_UPLOAD_ID = "The uploadId of ListParts is empty."   # guess
MSG_ARGUMENT = "Invalid argument: {name}"   # guess
MSG_INTERNAL = "We encountered an internal error. Please try again."   # guess (the 200-then-<Error> case)

MAX_OBJECT = 5 * 1024 ** 3
STORE_BYTES = 256 * 1024 ** 2   # objects kept in memory; the oldest go first
STORE_OBJECTS = 10_000
READ_CHUNK = 1 << 16
MIN_PART = 1024 ** 2            # every part but the last (checked by Complete, cos-xml-api.md §3.2)
MAX_PART = 5 * 1024 ** 3
MAX_PART_NUMBER = 10_000
UPLOAD_SESSIONS = 1_000         # open multipart uploads kept; the oldest go first
PART_BYTES = 256 * 1024 ** 2    # part bytes kept for Complete to store the object; beyond, only MD5 and size
LIST_MAX = 1000
COMPLETE_NS = "http://www.qcloud.com/document/product/436/7751"
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
# The multipart calls by (method, sub-resource) and the CAM action each needs (cos-xml-api.md §6.1).
OBJECT_ACTIONS = {"PUT": "PutObject", "GET": "GetObject", "HEAD": "HeadObject", "DELETE": "DeleteObject",
                  "POST": "PostObject"}
MULTIPART_PARAMS = frozenset({"uploads", "uploadid", "partnumber"})
# Query names that make a request something other than plain object I/O (the emulator answers
# these NotImplemented, except the multipart ones its multipart calls take).
SUB_RESOURCES = frozenset({"acl", "tagging", "cors", "uploads", "uploadid", "partnumber", "restore", "append",
                           "select", "symlink", "lifecycle", "policy", "website", "referer", "logging",
                           "versioning", "delete", "inventory", "encryption", "replication", "domain"})
SIGNATURE_PARAMS = ("q-sign-algorithm", "q-ak", "q-sign-time", "q-key-time", "q-header-list", "q-url-param-list",
                    "q-signature")
# Strict signature mode (cos-xml-api.md §4.3): sent headers that must then be signed.
STRICT_HEADERS = frozenset({"host", "content-length", "content-type", "content-md5", "range", "x-cos-acl",
                            "x-cos-grant-read", "x-cos-grant-write", "x-cos-grant-read-acp",
                            "x-cos-grant-write-acp", "x-cos-grant-full-control"})
DEFAULT_EXPOSE = ("ETag", "Location", "x-cos-request-id", "Content-Length", "Date", "X-COS-Diagnosis",
                  "X-COS-Diagnosis-Detail")


class Rejection(Exception):
    def __init__(self, status: int, code: str, message: str, details=()) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details = tuple(details)   # (element, text) pairs COS puts after <Message>


@dataclass
class StoredObject:
    data: bytes
    etag: str                      # the MD5 hex, unquoted
    content_type: str
    last_modified: int
    meta: dict = field(default_factory=dict)   # x-cos-meta-* and the other headers COS gives back


@dataclass
class Part:
    etag: str                      # the MD5 hex, unquoted
    size: int
    last_modified: int
    data: bytes | None             # None once past the part-bytes budget


@dataclass
class Upload:
    """One multipart upload between Initiate and Complete/Abort."""
    bucket: str
    key: str
    upload_id: str
    initiated: int
    content_type: str
    meta: dict
    initiator: str
    parts: dict = field(default_factory=dict)   # part number -> Part


@dataclass
class WireRequest:
    """One request as the handler read it: what the emulator's decisions look at."""
    method: str
    host: str
    raw_path: str
    raw_query: str
    headers: dict                  # lower-cased names, the first value of each
    params: list                   # (decoded name, decoded value or None), wire order


class Emulator:
    """State shared by the handler threads: keys, clock, CORS rules, counters and objects."""

    def __init__(self, credentials, clock_offset: int = 0, cors_origins=("*",),
                 deny_prefixes=(), public_write: bool = False, public_read: bool = True,
                 expose_headers=DEFAULT_EXPOSE, strict_signature: bool = False,
                 store_bytes: int = STORE_BYTES, store_objects: int = STORE_OBJECTS,
                 allowed_actions: dict | None = None, bucket_expose_headers: dict | None = None,
                 complete_error_in_200: bool = False, upload_sessions: int = UPLOAD_SESSIONS,
                 part_bytes: int = PART_BYTES) -> None:
        self.credentials = credentials
        self.clock_offset = clock_offset
        self.cors_origins = tuple(cors_origins)
        self.deny_prefixes = tuple(deny_prefixes)
        self.public_write = public_write
        self.public_read = public_read
        self.expose_headers = tuple(expose_headers)
        self.strict_signature = strict_signature
        self.store_bytes = store_bytes
        self.store_objects = store_objects
        self.lock = threading.Lock()
        self.counts = {"POST": 0, "PUT": 0, "GET": 0, "HEAD": 0, "DELETE": 0, "OPTIONS": 0, "other": 0,
                       "accepted": 0, "rejected": 0}
        self.objects: OrderedDict[tuple[str, str], StoredObject] = OrderedDict()
        self.stored_bytes = 0
        # {key pattern: actions}: "uploads/*" is a prefix, "*" every key, anything else one key;
        # actions as "PutObject" or "name/cos:PutObject", "*" all. None: every action allowed.
        self.allowed_actions = None if allowed_actions is None else {
            pattern: frozenset(_action_name(a) for a in actions) for pattern, actions in allowed_actions.items()}
        self.bucket_expose_headers = {b: tuple(h) for b, h in (bucket_expose_headers or {}).items()}
        self.complete_error_in_200 = complete_error_in_200
        self.upload_sessions = upload_sessions
        self.part_bytes = part_bytes
        self.uploads: OrderedDict[str, Upload] = OrderedDict()
        self.kept_part_bytes = 0
        self.seen: deque[WireRequest] = deque(maxlen=256)   # the latest requests, for tests to inspect

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
        if any(key.startswith(p) for p in self.deny_prefixes) or not self.action_allowed(key, "PostObject"):
            raise Rejection(403, "AccessDenied", MSG_ACCESS_DENIED)
        data = body[file_part.data_start:file_part.data_end]
        etag = hashlib.md5(data).hexdigest()
        self.store(bucket or host, key, StoredObject(data, etag, fields.get("content-type") or
                                                     file_part.content_type or "application/octet-stream", now))
        return bucket, key, etag, fields

    # --- the object store ----------------------------------------------------------------------

    def store(self, bucket: str, key: str, obj: StoredObject | None) -> None:
        """Keep ``obj`` (None: only forget the old one); the oldest objects go past the bounds."""
        with self.lock:
            old = self.objects.pop((bucket, key), None)
            if old is not None:
                self.stored_bytes -= len(old.data)
            if obj is None or len(obj.data) > self.store_bytes:
                return
            self.objects[(bucket, key)] = obj
            self.stored_bytes += len(obj.data)
            while self.stored_bytes > self.store_bytes or len(self.objects) > self.store_objects:
                _, dropped = self.objects.popitem(last=False)
                self.stored_bytes -= len(dropped.data)

    def fetch(self, bucket: str, key: str) -> StoredObject | None:
        with self.lock:
            return self.objects.get((bucket, key))

    # --- header and query signatures (XML API), one check after another ----------------------

    def authenticate(self, req: WireRequest, now: int) -> str | None:
        """The SecretId whose signature verified, None for an anonymous request; raises like COS."""
        authorization = req.headers.get("authorization", "")
        names = [n for n, _ in req.params]
        if authorization.strip():
            auth = parse_auth_string(authorization)
        elif any(n in SIGNATURE_PARAMS for n in names):
            auth = auth_from_pairs(req.params)
        elif "sign" in names:     # the older single-parameter form; whether COS still takes it is open
            auth = parse_auth_string(next(v for n, v in req.params if n == "sign") or "")
        else:
            return None
        if auth.problems or not auth.signature:
            raise Rejection(403, "SignatureDoesNotMatch", MSG_SIGNATURE)
        start, end = (int(x) for x in auth.key_time.split(";"))
        if end < now:
            raise Rejection(403, "AccessDenied", MSG_REQUEST_EXPIRED,
                            [("ServerTime", format_iso8601(now))])
        # A start in the future is accepted: COS's answer to it is not documented (SDKs start early).
        credential = self.credentials.get(auth.ak)
        if credential is None:
            raise Rejection(403, "InvalidAccessKeyId", MSG_NO_ACCESS_KEY)
        format_string = self._format_string(req, auth.header_list, auth.param_list)
        string_to_sign = f"sha1\n{auth.key_time}\n{sha1_hex(format_string.encode('utf-8'))}\n"
        expected = hmac_sha1_hex(sign_key(credential.secret_key, auth.key_time), string_to_sign)
        if auth.signature != expected:
            raise Rejection(403, "SignatureDoesNotMatch", MSG_SIGNATURE,
                            [("StringToSign", string_to_sign), ("FormatString", format_string)])
        if credential.token:   # a temporary key: its token must come along (the answer is a guess)
            sent = req.headers.get("x-cos-security-token")
            if sent is None:
                sent = next((v for n, v in req.params if n == "x-cos-security-token"), None)
            if sent != credential.token:
                raise Rejection(403, "InvalidAccessKeyId", MSG_NO_ACCESS_KEY)
        if self.strict_signature:
            listed = {n.lower() for n in auth.header_list}
            for name in req.headers:
                if name not in listed and (name in STRICT_HEADERS or name.startswith("x-cos-")):
                    raise Rejection(403, "AccessDenied", MSG_STRICT_HEADER)
        return auth.ak

    @staticmethod
    def _format_string(req: WireRequest, header_list, param_list) -> str:
        """COS's FormatString of the request as received: the decoded path (a raw '+' is a space),
        the listed parameters and headers, names lower-cased, values URL-encoded, sorted; a listed
        name that was not sent counts with an empty value."""
        path = unquote(req.raw_path.replace("+", " "), errors="replace")
        params: dict[str, str] = {}
        for name, value in req.params:
            params.setdefault(cos_url_encode(name).lower(), value or "")
        lines = []
        for listed, values in ((param_list, params), (header_list, req.headers)):
            names = sorted({n.lower() for n in listed if n})
            lines.append("&".join(f"{n}={cos_url_encode(values.get(n, ''))}" for n in names))
        return f"{req.method.lower()}\n{path}\n{lines[0]}\n{lines[1]}\n"

    def object_key(self, req: WireRequest) -> tuple[str, str]:
        """(bucket or host, key) the request names; the key is "" for the bucket itself."""
        endpoint = parse_cos_host(req.host, req.raw_path)
        path = unquote(req.raw_path.replace("+", " "), errors="replace")
        key = path[1:] if path.startswith("/") else path
        if endpoint is not None and endpoint.style == "path" and endpoint.bucket:
            head, _, key = key.partition("/")
        return (endpoint.bucket if endpoint is not None and endpoint.bucket else req.host), key

    def check_object_request(self, req: WireRequest, now: int, *, write: bool, action: str | None = None,
                             resource: str | None = None) -> tuple[str, str]:
        """Routing and auth shared by the object calls; raises like COS. ``action`` is the CAM
        action (default: the plain object call of the method), ``resource`` the key the action list
        is matched against when it is not the request's key (ListMultipartUploads: its prefix)."""
        names = {n.lower() for n, _ in req.params}
        if (names - (MULTIPART_PARAMS if action in MULTIPART_ACTIONS else frozenset())) & SUB_RESOURCES:
            raise Rejection(501, "NotImplemented", MSG_NOT_IMPLEMENTED)
        bucket, key = self.object_key(req)
        if not key and action != "ListMultipartUploads":
            raise Rejection(405, "MethodNotAllowed", MSG_METHOD)
        signer = self.authenticate(req, now)
        if signer is None and not (self.public_write if write else self.public_read):
            raise Rejection(403, "AccessDenied", MSG_SIGNATURE_EMPTY)
        checked = key if resource is None else resource
        if any(checked.startswith(p) for p in self.deny_prefixes) or not self.action_allowed(
                checked, action or OBJECT_ACTIONS.get(req.method, req.method)):
            raise Rejection(403, "AccessDenied", MSG_ACCESS_DENIED)
        return bucket, key

    def action_allowed(self, key: str, action: str) -> bool:
        """Whether the action lists grant ``action`` on ``key``: the most specific matching pattern
        decides (an exact key, then the longest prefix, then ``*``), so ``*`` can allow everything
        while one prefix is narrowed to a few actions (a temporary key's policy)."""
        if self.allowed_actions is None:
            return True
        matching = [(pattern != key, -len(pattern), actions) for pattern, actions in self.allowed_actions.items()
                    if pattern == "*" or (pattern.endswith("*") and key.startswith(pattern[:-1])) or pattern == key]
        if not matching:
            return False
        actions = min(matching, key=lambda m: m[:2])[2]
        return "*" in actions or action in actions

    # --- multipart upload, one check after another (cos-xml-api.md §3) ---------------------------

    def initiate(self, bucket: str, key: str, headers: dict, signer: str | None, now: int) -> Upload:
        if len(key.encode("utf-8")) > 850:
            raise Rejection(400, "KeyTooLong", MSG_KEY_TOO_LONG)
        upload = Upload(bucket, key, f"{now:010d}{uuid.uuid4().hex}", now,
                        headers.get("content-type") or "application/octet-stream", _kept_meta(headers),
                        signer or "anonymous")
        with self.lock:
            self.uploads[upload.upload_id] = upload
            while len(self.uploads) > self.upload_sessions:
                _, dropped = self.uploads.popitem(last=False)
                self._forget_parts(dropped)
        return upload

    def upload_of(self, req: WireRequest, bucket: str, key: str) -> Upload:
        """The open upload the request's uploadId names, for this bucket and key; NoSuchUpload otherwise."""
        upload_id = _param(req, "uploadid") or ""
        with self.lock:
            upload = self.uploads.get(upload_id)
        if upload is None or (upload.bucket, upload.key) != (bucket, key):
            raise Rejection(404, "NoSuchUpload", MSG_NO_SUCH_UPLOAD)
        return upload

    def upload_part(self, req: WireRequest, bucket: str, key: str, data: bytes, now: int) -> str:
        number = _param(req, "partnumber") or ""
        if not (number.isdigit() and 1 <= int(number) <= MAX_PART_NUMBER):
            raise Rejection(400, "InvalidArgument", MSG_PART_NUMBER)
        if len(data) > MAX_PART:
            raise Rejection(400, "EntityTooLarge", MSG_TOO_LARGE)
        upload = self.upload_of(req, bucket, key)
        etag = hashlib.md5(data).hexdigest()
        with self.lock:
            if self.uploads.get(upload.upload_id) is not upload:    # aborted or completed meanwhile
                raise Rejection(404, "NoSuchUpload", MSG_NO_SUCH_UPLOAD)
            old = upload.parts.pop(int(number), None)
            if old is not None and old.data is not None:
                self.kept_part_bytes -= len(old.data)
            keep = self.kept_part_bytes + len(data) <= self.part_bytes
            upload.parts[int(number)] = Part(etag, len(data), now, data if keep else None)
            if keep:
                self.kept_part_bytes += len(data)
        return etag

    def complete(self, req: WireRequest, bucket: str, key: str, body: bytes, now: int) -> tuple[Upload, str]:
        upload = self.upload_of(req, bucket, key)
        listed = _complete_parts(body)
        numbers = [n for n, _ in listed]
        if any(b <= a for a, b in zip(numbers, numbers[1:])):
            raise Rejection(400, "InvalidPartOrder", MSG_PART_ORDER)
        parts = []
        for number, etag in listed:
            part = upload.parts.get(number)
            if part is None or etag.strip().strip('"').lower() != part.etag:
                raise Rejection(400, "InvalidPart", MSG_INVALID_PART)
            parts.append(part)
        if any(part.size < MIN_PART for part in parts[:-1]):
            raise Rejection(400, "EntityTooSmall", MSG_ENTITY_TOO_SMALL)
        etag = hashlib.md5(b"".join(bytes.fromhex(p.etag) for p in parts)).hexdigest() + f"-{len(parts)}"
        with self.lock:
            if self.uploads.pop(upload.upload_id, None) is None:
                raise Rejection(404, "NoSuchUpload", MSG_NO_SUCH_UPLOAD)
            self._forget_parts(upload)
        meta = dict(upload.meta)
        if all(p.data is not None for p in parts):
            data = b"".join(p.data for p in parts)
        else:   # the parts' bytes were past the budget: a placeholder that says so
            data = b""
            meta["x-cos-emulator-placeholder"] = f"{sum(p.size for p in parts)} bytes not kept"
        self.store(bucket, key, StoredObject(data, etag, upload.content_type, now, meta))
        return upload, etag

    def abort(self, req: WireRequest, bucket: str, key: str) -> None:
        upload = self.upload_of(req, bucket, key)
        with self.lock:
            if self.uploads.pop(upload.upload_id, None) is not None:
                self._forget_parts(upload)

    def _forget_parts(self, upload: Upload) -> None:
        """Give the kept bytes of a finished or dropped upload back to the budget (lock held)."""
        self.kept_part_bytes -= sum(len(p.data) for p in upload.parts.values() if p.data is not None)
        upload.parts = {}

    def list_parts(self, req: WireRequest, bucket: str, key: str) -> bytes:
        if not _param(req, "uploadid"):
            raise Rejection(400, "ListPartUploadIdIsEmpty", MSG_EMPTY_UPLOAD_ID)
        upload = self.upload_of(req, bucket, key)
        max_parts = _int_param(req, "max-parts", LIST_MAX, 0, LIST_MAX)
        marker = _int_param(req, "part-number-marker", 0, 0, MAX_PART_NUMBER)
        encoding = _param(req, "encoding-type") or ""
        with self.lock:
            numbers = sorted(n for n in upload.parts if n > marker)
            page = [(n, upload.parts[n]) for n in numbers[:max_parts]]
        owner = _owner(bucket)
        children = [("Bucket", bucket), ("Encoding-type", encoding), ("Key", _encoded(key, encoding)),
                    ("UploadId", upload.upload_id), ("Initiator", owner), ("Owner", owner),
                    ("PartNumberMarker", str(marker))]
        children += [("Part", [("PartNumber", str(n)), ("LastModified", format_iso8601(p.last_modified)),
                               ("ETag", f'"{p.etag}"'), ("Size", str(p.size))]) for n, p in page]
        children += [("NextPartNumberMarker", str(page[-1][0] if page else marker)), ("StorageClass", "STANDARD"),
                     ("MaxParts", str(max_parts)), ("IsTruncated", _bool(len(numbers) > max_parts))]
        return _xml_document("ListPartsResult", children)

    def list_uploads(self, req: WireRequest, bucket: str) -> bytes:
        prefix = _param(req, "prefix") or ""
        delimiter = _param(req, "delimiter") or ""
        encoding = _param(req, "encoding-type") or ""
        key_marker = _param(req, "key-marker") or ""
        id_marker = _param(req, "upload-id-marker") or ""
        max_uploads = _int_param(req, "max-uploads", LIST_MAX, 1, LIST_MAX)
        with self.lock:
            found = sorted((u.key, u.initiated, u.upload_id, u) for u in self.uploads.values()
                           if u.bucket == bucket and u.key.startswith(prefix))
        uploads, prefixes, truncated, last = [], [], False, None
        for ukey, _, upload_id, upload in found:
            if key_marker and (ukey < key_marker or (ukey == key_marker and (not id_marker or upload_id <= id_marker))):
                continue
            if delimiter and delimiter in ukey[len(prefix):]:
                common = ukey[:len(prefix) + ukey[len(prefix):].index(delimiter) + len(delimiter)]
                if common not in prefixes:
                    prefixes.append(common)
                continue
            if len(uploads) == max_uploads:
                truncated = True
                break
            uploads.append(upload)
            last = upload
        owner = _owner(bucket)
        children = [("Bucket", bucket), ("Encoding-Type", encoding), ("KeyMarker", _encoded(key_marker, encoding)),
                    ("UploadIdMarker", id_marker),
                    ("NextKeyMarker", _encoded(last.key, encoding) if truncated and last else ""),
                    ("NextUploadIdMarker", last.upload_id if truncated and last else ""),
                    ("MaxUploads", str(max_uploads)), ("IsTruncated", _bool(truncated)),
                    ("Prefix", _encoded(prefix, encoding)), ("Delimiter", _encoded(delimiter, encoding))]
        children += [("Upload", [("Key", _encoded(u.key, encoding)), ("UploadId", u.upload_id),
                                 ("StorageClass", "STANDARD"), ("Initiator", owner), ("Owner", owner),
                                 ("Initiated", format_iso8601(u.initiated))]) for u in uploads]
        children += [("CommonPrefixes", [("Prefix", _encoded(p, encoding))]) for p in prefixes]
        return _xml_document("ListMultipartUploadsResult", children)

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

    def expose_for(self, host: str, path: str) -> tuple[str, ...]:
        """The ExposeHeader list of the bucket the request addresses (its own rule, else the default)."""
        if self.bucket_expose_headers:
            endpoint = parse_cos_host(host, path)
            if endpoint is not None and endpoint.bucket in self.bucket_expose_headers:
                return self.bucket_expose_headers[endpoint.bucket]
        return self.expose_headers


MULTIPART_ACTIONS = frozenset({"InitiateMultipartUpload", "UploadPart", "CompleteMultipartUpload",
                               "AbortMultipartUpload", "ListParts", "ListMultipartUploads"})


def _action_name(action: str) -> str:
    action = action.strip()
    return action.split(":", 1)[1] if action.lower().startswith("name/cos:") else action


def _param(req: WireRequest, name: str) -> str | None:
    """The first value of query parameter ``name`` (matched case-insensitively: the SDKs send
    ``uploadId``/``partNumber``, the older Abort sample signs ``uploadId``), "" when it has none."""
    for n, v in req.params:
        if n.lower() == name:
            return v or ""
    return None


def _int_param(req: WireRequest, name: str, default: int, low: int, high: int) -> int:
    value = _param(req, name)
    if value is None or value == "":
        return default
    if not value.isdigit() or not low <= int(value) <= high:
        raise Rejection(400, "InvalidArgument", MSG_ARGUMENT.format(name=name))
    return int(value)


def _kept_meta(headers: dict) -> dict:
    """The headers COS keeps with an object and gives back on GET."""
    return {k: v for k, v in headers.items()
            if k.startswith("x-cos-meta-") or k in ("cache-control", "content-disposition", "content-encoding",
                                                    "expires")}


def _complete_parts(body: bytes) -> list[tuple[int, str]]:
    """(PartNumber, ETag) of a Complete body, in body order; MalformedXML unless it is a well-formed
    ``<CompleteMultipartUpload>`` with at least one ``<Part>`` carrying both. Parsed with the core's
    hardened lxml parser; a DOCTYPE/ENTITY is refused before lxml sees it."""
    if len(body) > MAX_XML_BYTES:
        raise Rejection(400, "XMLSizeLimit", MSG_XML_SIZE)
    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        raise Rejection(400, "MalformedXML", MSG_MALFORMED_XML)
    from lxml import etree
    try:
        root = etree.fromstring(body, make_parser())
    except (etree.XMLSyntaxError, ValueError):
        raise Rejection(400, "MalformedXML", MSG_MALFORMED_XML) from None
    if root is None or etree.QName(root).localname != "CompleteMultipartUpload":
        raise Rejection(400, "MalformedXML", MSG_MALFORMED_XML)
    parts = []
    for element in root:
        if not isinstance(element.tag, str) or etree.QName(element).localname != "Part":
            continue
        fields = {etree.QName(c).localname: "".join(c.itertext()).strip() for c in element
                  if isinstance(c.tag, str)}
        number, etag = fields.get("PartNumber", ""), fields.get("ETag")
        if not number.isdigit() or etag is None:
            raise Rejection(400, "MalformedXML", MSG_MALFORMED_XML)
        parts.append((int(number), etag))
    if not parts:
        raise Rejection(400, "MalformedXML", MSG_MALFORMED_XML)
    return parts


def _owner(bucket: str) -> list[tuple[str, str]]:
    appid = bucket.rsplit("-", 1)[-1] if "-" in bucket else "1250000000"
    return [("ID", f"qcs::cam::uin/{appid}:uin/{appid}"), ("DisplayName", appid)]


def _encoded(text: str, encoding: str) -> str:
    return quote(text, safe="/") if encoding.lower() == "url" else text


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _xml_elements(children) -> str:
    out = []
    for name, value in children:
        inner = _xml_elements(value) if isinstance(value, list) else escape_xml(value)
        out.append(f"<{name}>{inner}</{name}>")
    return "".join(out)


def _xml_document(root: str, children, *, xmlns: str | None = None, declaration: bool = True) -> bytes:
    attribute = f' xmlns="{xmlns}"' if xmlns else ""
    text = f"<{root}{attribute}>{_xml_elements(children)}</{root}>"
    return ((XML_DECLARATION if declaration else "") + text).encode("utf-8")


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

    def version_string(self) -> str:
        return self.server_version

    def date_time_string(self, timestamp=None) -> str:
        """The Date header tells the server's clock (which --clock-offset may skew)."""
        return formatdate(self.emulator.now() if timestamp is None else timestamp, usegmt=True)

    def _headers(self) -> dict[str, str]:
        """Lower-cased names; a header sent twice keeps its first value (as the signature does)."""
        out: dict[str, str] = {}
        for k, v in self.headers.items():
            out.setdefault(k.lower(), v)
        return out

    def _target(self) -> tuple[str, str, str]:
        """(host, raw path, raw query) of the request line; an absolute-form target
        (``http://host/path``, sent to a proxy) counts as the origin-form path plus its host."""
        target = self.path
        host = self.headers.get("Host", "")
        if "://" in target.split("?", 1)[0]:
            parts = urlsplit(target)
            host = host or parts.netloc
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        path, _, query = target.partition("?")
        return host, path, query

    def _request(self) -> WireRequest:
        host, path, query = self._target()
        params = []
        for item in query.split("&") if query else ():
            if item:
                name, eq, value = item.partition("=")
                params.append((unquote(name.replace("+", " ")), unquote(value.replace("+", " ")) if eq else None))
        req = WireRequest(self.command, host, path, query, self._headers(), params)
        self.emulator.seen.append(req)
        return req

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None, request_id: str | None = None,
              length: int | None = None) -> None:
        self.send_response(status, "Redirect" if status == 303 else None)
        self.send_header("x-cos-request-id", request_id or new_request_id())
        origin = self.headers.get("Origin")
        if self.emulator.cors_allows(origin):
            self.send_header("Access-Control-Allow-Origin", origin)
            host, path, _ = self._target()
            expose = self.emulator.expose_for(host, path)
            if expose:
                self.send_header("Access-Control-Expose-Headers", ", ".join(expose))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, code: str, message: str, resource: str, details=()) -> None:
        request_id = new_request_id()
        trace_id = base64.b64encode(os.urandom(30)).decode()
        body = render_error_xml(code, message, resource, request_id, trace_id, details=details,
                                indented=bool(details))
        self._send(status, body, {"Content-Type": "application/xml", "x-cos-trace-id": trace_id}, request_id)

    def _reject(self, rejection: Rejection, req: WireRequest) -> None:
        self.emulator.count("rejected")
        self._error(rejection.status, rejection.code, rejection.message, f"{req.host}{req.raw_path}",
                    rejection.details)

    def do_GET(self) -> None:
        host, path, query = self._target()
        if path == "/__app/post-policy":
            self._app_post_policy()
            return
        if path == "/__emulator/stats":
            with self.emulator.lock:
                data = dict(self.emulator.counts, objects=len(self.emulator.objects))
            self._send(200, json.dumps(data).encode(), {"Content-Type": "application/json"})
            return
        self._get_or_head()

    def do_HEAD(self) -> None:
        self._get_or_head()

    def _get_or_head(self) -> None:
        self.emulator.count(self.command)
        req = self._request()
        names = {n.lower() for n, _ in req.params}
        if self.command == "GET" and "uploadid" in names:
            self._multipart(req, "ListParts")
            return
        if self.command == "GET" and "uploads" in names and not self.emulator.object_key(req)[1]:
            self._multipart(req, "ListMultipartUploads")
            return
        try:
            bucket, key = self.emulator.check_object_request(req, self.emulator.now(), write=False)
            obj = self.emulator.fetch(bucket, key)
            if obj is None:
                raise Rejection(404, "NoSuchKey", MSG_NO_SUCH_KEY)
        except Rejection as rejection:
            self._reject(rejection, req)
            return
        self.emulator.count("accepted")
        headers = {"Content-Type": obj.content_type, "ETag": f'"{obj.etag}"',
                   "Last-Modified": formatdate(obj.last_modified, usegmt=True), **obj.meta}
        for name, value in req.params:
            if name.lower() in ("response-content-type", "response-content-disposition", "response-cache-control",
                                "response-content-encoding", "response-expires", "response-content-language"):
                headers["-".join(w.capitalize() for w in name.lower()[9:].split("-"))] = value or ""
        self._send(200, obj.data, headers, length=len(obj.data))

    def do_PUT(self) -> None:
        self.emulator.count("PUT")
        req = self._request()
        try:
            data = self._read_body(req)
        except Rejection as rejection:
            self.close_connection = True
            self._reject(rejection, req)
            return
        if {n.lower() for n, _ in req.params} & {"partnumber", "uploadid"}:
            self._multipart(req, "UploadPart", data)
            return
        try:
            now = self.emulator.now()
            bucket, key = self.emulator.check_object_request(req, now, write=True)
            if req.headers.get("x-cos-copy-source") is not None:
                raise Rejection(501, "NotImplemented", MSG_NOT_IMPLEMENTED)
            if len(key.encode("utf-8")) > 850:
                raise Rejection(400, "KeyTooLong", MSG_KEY_TOO_LONG)
            _check_md5(req, data)
        except Rejection as rejection:
            self._reject(rejection, req)
            return
        etag = hashlib.md5(data).hexdigest()
        self.emulator.store(bucket, key, StoredObject(data, etag, req.headers.get("content-type") or
                                                      "application/octet-stream", now, _kept_meta(req.headers)))
        self.emulator.count("accepted")
        self._send(200, b"", {"ETag": f'"{etag}"'})

    def _multipart(self, req: WireRequest, action: str, body: bytes = b"") -> None:
        """One multipart call: the shared routing and auth, then the call's own decision."""
        emulator = self.emulator
        try:
            now = emulator.now()
            resource = (_param(req, "prefix") or "") if action == "ListMultipartUploads" else None
            bucket, key = emulator.check_object_request(
                req, now, write=action not in ("ListParts", "ListMultipartUploads"), action=action, resource=resource)
            if action == "InitiateMultipartUpload":
                upload = emulator.initiate(bucket, key, req.headers, emulator.authenticate(req, now), now)
                answer = _xml_document("InitiateMultipartUploadResult", [
                    ("Bucket", bucket), ("Key", key), ("UploadId", upload.upload_id)], declaration=False)
                result = (200, answer, {"Content-Type": "application/xml"})
            elif action == "UploadPart":
                _check_md5(req, body)
                etag = emulator.upload_part(req, bucket, key, body, now)
                result = (200, b"", {"ETag": f'"{etag}"'})
            elif action == "CompleteMultipartUpload":
                result = self._complete(req, bucket, key, body, now)
                if result is None:
                    return
            elif action == "AbortMultipartUpload":
                emulator.abort(req, bucket, key)
                result = (204, b"", {})
            elif action == "ListParts":
                result = (200, emulator.list_parts(req, bucket, key), {"Content-Type": "application/xml"})
            else:
                result = (200, emulator.list_uploads(req, bucket), {"Content-Type": "application/xml"})
        except Rejection as rejection:
            self._reject(rejection, req)
            return
        emulator.count("accepted")
        self._send(*result)

    def _complete(self, req: WireRequest, bucket: str, key: str, body: bytes, now: int):
        if self.emulator.complete_error_in_200:
            # COS answers Complete with 200 at once and may fail while merging: the failure is an
            # <Error> document in the body of that 200 (cos-xml-api.md §3.3 item 7).
            self.emulator.upload_of(req, bucket, key)
            self.emulator.count("rejected")
            request_id = new_request_id()
            error = render_error_xml("InternalError", MSG_INTERNAL, f"{req.host}{req.raw_path}", request_id,
                                     base64.b64encode(os.urandom(30)).decode())
            self._send(200, error, {"Content-Type": "application/xml"}, request_id)
            return None
        upload, etag = self.emulator.complete(req, bucket, key, body, now)
        location = f"http://{req.host}/{quote(key)}"
        answer = _xml_document("CompleteMultipartUploadResult", [
            ("Location", location), ("Bucket", bucket), ("Key", key), ("ETag", f'"{etag}"')], xmlns=COMPLETE_NS)
        return 200, answer, {"Content-Type": "application/xml"}

    def do_DELETE(self) -> None:
        self.emulator.count("DELETE")
        req = self._request()
        if "uploadid" in {n.lower() for n, _ in req.params}:
            self._multipart(req, "AbortMultipartUpload")
            return
        try:
            bucket, key = self.emulator.check_object_request(req, self.emulator.now(), write=True)
        except Rejection as rejection:
            self._reject(rejection, req)
            return
        self.emulator.store(bucket, key, None)
        self.emulator.count("accepted")
        self._send(204, b"")

    def _read_body(self, req: WireRequest) -> bytes:
        """The request body (Content-Length or chunked); 411 without either, like COS."""
        length = req.headers.get("content-length")
        if length is None:
            if "chunked" in req.headers.get("transfer-encoding", "").lower():
                return self._read_chunked()
            raise Rejection(411, "MissingContentLength", MSG_LENGTH)
        if not length.isdigit():
            raise Rejection(400, "InvalidArgument", MSG_LENGTH)
        size = int(length)
        if size > MAX_OBJECT:
            raise Rejection(400, "EntityTooLarge", MSG_TOO_LARGE)
        chunks, left = [], size
        while left > 0:
            chunk = self.rfile.read(min(left, READ_CHUNK))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def _read_chunked(self) -> bytes:
        chunks = []
        while True:
            line = self.rfile.readline(1024)
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass    # trailers, then the blank line
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.read(2)

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
        if not self.emulator.cors_allows(origin) or method.upper() not in ("POST", "PUT", "GET", "HEAD", "DELETE"):
            self._error(403, "AccessForbidden", MSG_CORS, f"{host}{self.path}")
            return
        requested = self.headers.get("Access-Control-Request-Headers", "")
        self._send(200, b"", {"Access-Control-Allow-Methods": "POST, PUT, GET, HEAD, DELETE",
                              "Access-Control-Allow-Headers": requested or "*",
                              "Access-Control-Max-Age": "600"})

    def do_POST(self) -> None:
        self.emulator.count("POST")
        headers = self._headers()
        host, path, query = self._target()
        length = headers.get("content-length")
        body = self.rfile.read(int(length)) if length and length.isdigit() else b""
        if length is None and "chunked" in headers.get("transfer-encoding", "").lower():
            self._drain_chunked()
            self.close_connection = True
        req = self._request()
        names = {n.lower() for n, _ in req.params}
        if "uploads" in names and self.emulator.object_key(req)[1]:
            self._multipart(req, "InitiateMultipartUpload")
            return
        if "uploadid" in names:
            self._multipart(req, "CompleteMultipartUpload", body)
            return
        if names & SUB_RESOURCES:
            self._reject(Rejection(501, "NotImplemented", MSG_NOT_IMPLEMENTED), req)
            return
        if not headers.get("content-type", "").lower().startswith("multipart/form-data") and (
                names & set(SIGNATURE_PARAMS) or "sign" in names):
            # a presigned URL (signed for GET or PUT) used with POST (cos-go-sdk-v5#170)
            self._reject(Rejection(405, "MethodNotAllowed", MSG_METHOD), req)
            return
        try:
            bucket, key, etag, fields = self.emulator.post_object(host, path + (f"?{query}" if query else ""),
                                                                  headers, body)
        except Rejection as rejection:
            self.emulator.count("rejected")
            self._error(rejection.status, rejection.code, rejection.message,
                        f"{host}{path}" + (f"?{query}" if query else ""))
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


def _check_md5(req: WireRequest, data: bytes) -> None:
    """A sent Content-MD5 must be 16 bytes of Base64 and match the body (PUT Object, Upload Part)."""
    md5 = req.headers.get("content-md5")
    if md5 is None:
        return
    try:
        claimed = base64.b64decode(md5, validate=True)
    except ValueError:
        claimed = b""
    if len(claimed) != 16:
        raise Rejection(400, "InvalidDigest", MSG_INVALID_DIGEST)
    if claimed != hashlib.md5(data).digest():
        raise Rejection(400, "BadDigest", MSG_BAD_DIGEST)


def new_request_id() -> str:
    return base64.b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def make_server(emulator: Emulator, port: int = 0) -> http.server.ThreadingHTTPServer:
    handler = type("BoundHandler", (Handler,), {"emulator": emulator})
    server_class = type("Server", (http.server.ThreadingHTTPServer,), {"request_queue_size": 128})
    server = server_class(("127.0.0.1", port), handler)
    server.daemon_threads = True
    return server


def _pairs(items) -> dict:
    """'NAME=a,b' options as {NAME: (a, b)}; repeated names add up."""
    out: dict[str, tuple] = {}
    for item in items:
        name, _, values = item.rpartition("=")
        if not _:
            raise SystemExit(f"cos_emulator: expected NAME=VALUE,VALUE…, got {item!r}")
        out[name] = out.get(name, ()) + tuple(v.strip() for v in values.split(",") if v.strip())
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=9000, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--credentials", default=None, help="'SecretId SecretKey' file of the accounts it knows")
    parser.add_argument("--clock-offset", type=int, default=0, help="seconds the server clock runs ahead")
    parser.add_argument("--cors-origin", action="append", default=None, help="allowed CORS origin (repeat; default *)")
    parser.add_argument("--deny-prefix", action="append", default=[], help="keys under this prefix get 'Access Denied.'")
    parser.add_argument("--public-write", action="store_true", help="accept anonymous uploads")
    parser.add_argument("--private-read", action="store_true", help="refuse anonymous GET/HEAD")
    parser.add_argument("--strict-signature", action="store_true",
                        help="strict signature mode: every sent Host/Content-*/x-cos-* header must be signed")
    parser.add_argument("--expose-header", action="append", default=None,
                        help="Access-Control-Expose-Headers entry (repeat; default ETag, Location, …)")
    parser.add_argument("--bucket-expose", action="append", default=[], metavar="BUCKET=H1,H2",
                        help="this bucket's own ExposeHeader list (repeat; empty after '=' exposes nothing)")
    parser.add_argument("--allow-actions", action="append", default=None, metavar="PATTERN=A1,A2",
                        help="CAM actions allowed on keys matching PATTERN ('prefix/*', '*' or a key; repeat); "
                             "with any given, everything else gets 'Access Denied.'")
    parser.add_argument("--complete-error-in-200", action="store_true",
                        help="Complete Multipart Upload answers 200 with an <Error> body (a merge failure)")
    args = parser.parse_args(argv)
    try:
        credentials = load_credentials(args.credentials, os.environ)
    except CredentialsError as exc:
        print(f"cos_emulator: {exc}", file=sys.stderr)
        return 2
    emulator = Emulator(credentials, args.clock_offset, args.cors_origin or ["*"], args.deny_prefix,
                        args.public_write, public_read=not args.private_read,
                        expose_headers=DEFAULT_EXPOSE if args.expose_header is None else args.expose_header,
                        strict_signature=args.strict_signature,
                        allowed_actions=_pairs(args.allow_actions) if args.allow_actions is not None else None,
                        bucket_expose_headers=_pairs(args.bucket_expose),
                        complete_error_in_200=args.complete_error_in_200)
    server = make_server(emulator, args.port)
    print(f"cos_emulator listening on 127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
