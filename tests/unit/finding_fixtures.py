"""One fixture per catalogue finding ID (HTTPolice-style): a valid default upload plus one delta.

Shared by the fixture test (tests/unit/findings/test_findings.py), which checks the exact IDs each
one produces, and by the language test (tests/unit/render/test_languages.py), which words every
fixture's findings on every surface. `exchange` turns a fixture into the plain request and answer
the one pipeline (`diagnose_exchange`) takes.
"""
from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate

from cosdoctor.cos.credentials import Credential, CredentialStore
from cosdoctor.cos.hosts import parse_cos_host
from cosdoctor.cos.signature import header_signature, post_signature
from cosdoctor.cos.times import format_iso8601
from cosdoctor.findings.diagnose import Diagnosis, PlainResponse, diagnose_exchange, request_for
from cosdoctor.findings.credential_origin import CredentialOrigins
from cosdoctor.findings.request_checks import UploadRequest
from cosdoctor.findings.sessions import UploadSessions
from cosdoctor.wire.errorxml import render_error_xml
from devkit.formbuilder import FormSpec, policy_b64, signed_form

SECRET_ID = "AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q"
SECRET_KEY = "BQYIM75p8x0iWVFSIgqEKwFprpRSVHlz"
BUCKET = "examplebucket-1250000000"
HOST = f"{BUCKET}.cos.ap-beijing.myqcloud.com"
NOW = 1_795_000_000
CREDENTIALS = CredentialStore({SECRET_ID: Credential(SECRET_ID, SECRET_KEY, source="test")}, ())
# The same id as a temporary key: the store knows its session token.
TEMPORARY = CredentialStore({SECRET_ID: Credential(SECRET_ID, SECRET_KEY, token="sts-session-token-" + "T7" * 20,
                                                   source="test")}, ())


def default_spec(key: str = "uploads/a.txt", ttl: int = 900) -> FormSpec:
    """A correct, lint-clean upload: every field constrained, size limited, Content-Type sent."""
    return signed_form(SECRET_ID, SECRET_KEY, BUCKET, key, now=NOW, ttl=ttl,
                       extra_conditions=[["content-length-range", 1, 1024],
                                         ["starts-with", "$Content-Type", "text/"]],
                       extra_fields=[("Content-Type", "text/plain")])


def document(spec: FormSpec) -> dict:
    return json.loads(base64.b64decode(spec.get("policy") or ""))


def resign_raw(spec: FormSpec, raw: bytes) -> FormSpec:
    spec.set("policy", base64.b64encode(raw).decode())
    spec.set("q-signature", post_signature(SECRET_KEY, spec.get("q-key-time") or "", raw).signature)
    return spec


def with_policy(change: Callable[[dict], object], spec: FormSpec | None = None) -> FormSpec:
    spec = spec or default_spec()
    doc = document(spec)
    change(doc)
    _, raw = policy_b64(doc)
    return resign_raw(spec, raw)


def conditions_without(name: str) -> Callable[[dict], object]:
    def change(doc: dict) -> None:
        doc["conditions"] = [c for c in doc["conditions"]
                             if not (isinstance(c, dict) and name in c)
                             and not (isinstance(c, list) and (c[0] == name or c[1] == f"${name}"))]
    return change


def replace_condition(index: int, value: object) -> Callable[[dict], object]:
    def change(doc: dict) -> None:
        doc["conditions"][index] = value
    return change


def add_condition(value: object) -> Callable[[dict], object]:
    return lambda doc: doc["conditions"].append(value)


def signature_field_spec(start: int = NOW - 60, end: int = NOW + 900, signature: str | None = None) -> FormSpec:
    key_time = f"{start};{end}"
    correct = header_signature(SECRET_KEY, key_time, "post", "/", [], []).signature
    auth = (f"q-sign-algorithm=sha1&q-ak={SECRET_ID}&q-sign-time={key_time}&q-key-time={key_time}"
            f"&q-header-list=&q-url-param-list=&q-signature={signature or correct}")
    return FormSpec([("key", "uploads/a.txt"), ("Content-Type", "text/plain"), ("Signature", auth)])


@dataclass
class Fixture:
    """One upload (a delta over the default) and, where it is part of the story, COS's answer;
    `expected` is the exact list of finding IDs the pipeline must produce, in order."""

    expected: list[str]
    spec: FormSpec | None = field(default_factory=default_spec)
    damage: Callable[[bytes], bytes] | None = None
    headers: dict = field(default_factory=dict)          # None values remove a header
    response: tuple[int, str | None, str] | None = None  # (status, Code, Message)
    response_date: int | None = None
    response_headers: dict = field(default_factory=dict)
    credentials: bool = True
    body_complete: bool = True
    body_size: int | None = None
    no_body: bool = False                                # saved traffic without the request body
    # A request that is not a POST Object form (header-signed PUT, presigned GET ...): its method,
    # target (path and query as on the wire) and headers; no form is built for it.
    method: str = "POST"
    target: str = "/"
    request_headers: dict | None = None
    response_details: list = field(default_factory=list)   # COS's StringToSign / FormatString / ServerTime
    request_body: bytes = b""                              # a signed request's body (a Complete's part list)
    response_body: bytes | None = None                     # an answer body other than an <Error> (a 200 Complete)
    sessions: Callable[[], UploadSessions] | None = None   # the multipart uploads seen before this flow
    credential_origins: Callable[[], CredentialOrigins] | None = None


@dataclass
class Exchange:
    """A fixture as the pipeline takes it, plus what the content view needs."""

    request: UploadRequest
    response: PlainResponse | None
    body: bytes
    headers: dict
    credentials: CredentialStore | None


def exchange(fx: Fixture) -> Exchange:
    if fx.request_headers is not None:
        return _signed_exchange(fx)
    body, content_type = fx.spec.encode(boundary="fixtureboundary") if fx.spec else (b"", "text/plain")
    if fx.damage:
        body = fx.damage(body)
    headers = {"content-type": content_type, "content-length": str(len(body))}
    headers.update(fx.headers)
    headers = {k: v for k, v in headers.items() if v is not None}
    if not fx.body_complete:
        body = body[:fx.spec.encode(boundary="fixtureboundary")[0].index(b'name="file"') + 200]
    request = request_for("POST", HOST, "/", headers, None if fx.no_body else body, parse_cos_host(HOST),
                          body_complete=fx.body_complete, body_size=fx.body_size)
    response = None
    if fx.response is not None:
        status, code, message = fx.response
        xml = render_error_xml(code, message, HOST + "/uploads/a.txt", "rid") if code else b""
        response = PlainResponse(status, {"date": formatdate(fx.response_date or NOW, usegmt=True),
                                          **fx.response_headers}, xml, NOW)
    return Exchange(request, response, body, headers, CREDENTIALS if fx.credentials else None)


def _answer(fx: Fixture, resource: str) -> PlainResponse | None:
    if fx.response is None:
        return None
    status, code, message = fx.response
    xml = render_error_xml(code, message, resource, "rid", details=fx.response_details, indented=True) if code else b""
    if fx.response_body is not None:
        xml = fx.response_body
    return PlainResponse(status, {"date": formatdate(fx.response_date or NOW, usegmt=True), **fx.response_headers},
                         xml, NOW)


def _signed_exchange(fx: Fixture) -> Exchange:
    headers = {k.lower(): v for k, v in fx.request_headers.items() if v is not None}
    request = request_for(fx.method, HOST, fx.target, headers, fx.request_body, parse_cos_host(HOST))
    store = TEMPORARY if fx.credentials == "temporary" else CREDENTIALS if fx.credentials else None
    return Exchange(request, _answer(fx, HOST + fx.target.split("?")[0]), b"", headers, store)


def key_time(start: int = NOW - 60, end: int = NOW + 900) -> str:
    return f"{start};{end}"


def xml_auth(method: str, path: str, headers: dict, *, params: dict | None = None, kt: str | None = None,
             secret: str = SECRET_KEY, header_list: str | None = None) -> str:
    """An XML-API auth string as a client computes it for what it thinks it sends (``path`` decoded)."""
    kt = kt or key_time()
    pairs = [(k.lower(), v) for k, v in headers.items()]
    param_pairs = [(k.lower(), v) for k, v in (params or {}).items()]
    signature = header_signature(secret, kt, method.lower(), path, param_pairs, pairs).signature
    listed = header_list if header_list is not None else ";".join(sorted(k for k, _ in pairs))
    return (f"q-sign-algorithm=sha1&q-ak={SECRET_ID}&q-sign-time={kt}&q-key-time={kt}&q-header-list={listed}"
            f"&q-url-param-list={';'.join(sorted(k for k, _ in param_pairs))}&q-signature={signature}")


def signed_put(key: str = "uploads/a.txt", *, raw_path: str | None = None, signed_path: str | None = None,
               extra: dict | None = None, **auth) -> dict:
    """The headers of a header-signed PUT of ``key`` (signed over ``signed_path``, default its own)."""
    signed = {"host": HOST, "content-length": "3", **(extra or {})}
    authorization = xml_auth("PUT", signed_path or "/" + key, signed, **auth)
    return {**signed, "authorization": authorization}


def presigned(method: str, key: str = "uploads/a.txt", *, kt: str | None = None, token: str | None = None) -> str:
    """A presigned URL's target for ``key`` (signed over host only, as the SDKs do)."""
    from urllib.parse import quote
    auth = xml_auth(method, "/" + key, {"host": HOST}, kt=kt)
    query = "&".join(f"{k}={quote(v, safe='')}" for k, _, v in (p.partition("=") for p in auth.split("&")))
    return "/" + quote(key) + "?" + query + (f"&x-cos-security-token={token}" if token else "")


# --- multipart uploads: the flows before this one ----------------------------------------------

UPLOAD_KEY = "uploads/big.bin"
UPLOAD_ID = "1795000000a1b2c3d4e5f60718293a4b5c6d7e8f9"
MiB = 1024 * 1024
PAGE = "https://app.example.com"


def part_target(number: int | str, upload_id: str = UPLOAD_ID) -> str:
    return f"/{UPLOAD_KEY}?partNumber={number}&uploadId={upload_id}"


def etag_of(number: int) -> str:
    return '"' + f"{number:02d}" * 16 + '"'


def complete_body(*parts: tuple[int, str]) -> bytes:
    listed = "".join(f"<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>" for n, e in parts)
    return f"<CompleteMultipartUpload>{listed}</CompleteMultipartUpload>".encode()


def uploaded(*parts: tuple[int, int], hidden: bool = False, end: str | None = None) -> Callable[[], UploadSessions]:
    """Sessions that saw Initiate and these (number, size) parts answered (ETag hidden from a page),
    then `end` ("abort" or "complete") of the upload."""
    def build() -> UploadSessions:
        sessions = UploadSessions()
        endpoint = parse_cos_host(HOST)
        initiated = (f"<InitiateMultipartUploadResult><Bucket>{BUCKET}</Bucket><Key>{UPLOAD_KEY}</Key>"
                     f"<UploadId>{UPLOAD_ID}</UploadId></InitiateMultipartUploadResult>").encode()
        diagnose_exchange(request_for("POST", HOST, f"/{UPLOAD_KEY}?uploads", {"host": HOST}, b"", endpoint),
                          PlainResponse(200, {}, initiated, NOW), now=NOW, sessions=sessions, flow_id="f-init")
        for number, size in parts:
            headers = {"host": HOST, "content-length": str(size), **({"origin": PAGE} if hidden else {})}
            answer = {"etag": etag_of(number), **({"access-control-allow-origin": PAGE,
                                                   "access-control-expose-headers": "x-cos-request-id"}
                                                  if hidden else {})}
            diagnose_exchange(request_for("PUT", HOST, part_target(number), headers, b"", endpoint),
                              PlainResponse(200, answer, b"", NOW), now=NOW, sessions=sessions,
                              flow_id=f"f-part{number}")
        if end == "abort":
            diagnose_exchange(request_for("DELETE", HOST, f"/{UPLOAD_KEY}?uploadId={UPLOAD_ID}", {"host": HOST},
                                          b"", endpoint), PlainResponse(204, {}, b"", NOW), now=NOW,
                              sessions=sessions, flow_id="f-abort")
        return sessions
    return build


def issued_key(expired_time: int = NOW + 1800) -> Callable[[], CredentialOrigins]:
    """The app's STS endpoint seen handing out SECRET_ID as a temporary key (qcloud-cos-sts-sdk's shape)."""
    def build() -> CredentialOrigins:
        origins = CredentialOrigins()
        body = json.dumps({"credentials": {"tmpSecretId": SECRET_ID, "tmpSecretKey": "not-kept",
                                           "sessionToken": "sts-session-token"},
                           "expiredTime": expired_time, "startTime": NOW - 60}).encode()
        origins.observe(flow_id="f-sts", method="GET", url="https://app.example.com/sts", time="2026-11-18T08:26:40Z",
                        time_unix=NOW - 60, body=body)
        return origins
    return build


PICGO_FORMAT = "put\n/imagesresume-zh en_a.png\n\nhost=" + HOST + "\n"


def diagnosis(fx: Fixture) -> Diagnosis:
    """The fixture through the one pipeline, as the addon runs it."""
    ex = exchange(fx)
    return diagnose_exchange(ex.request, ex.response, now=NOW, credentials=ex.credentials, flow_id="f-this",
                             sessions=fx.sessions() if fx.sessions else None,
                             credential_origins=fx.credential_origins() if fx.credential_origins else None)


def run(fx: Fixture) -> list[dict]:
    return diagnosis(fx).findings


def add_part_after_file(body: bytes) -> bytes:
    closing = b"--fixtureboundary--\r\n"
    extra = b'--fixtureboundary\r\nContent-Disposition: form-data; name="acl"\r\n\r\nprivate\r\n'
    return body.replace(closing, extra + closing)


def large_file(size: int) -> FormSpec:
    spec = default_spec()
    spec.file_data = b"x" * size
    return spec


def expired_spec() -> FormSpec:
    return with_policy(lambda d: d.__setitem__("expiration", format_iso8601(NOW - 3600)))


FIXTURES: dict[str, Fixture] = {
    "AccessDenied_q-ak": Fixture(["AccessDenied_q-ak"], spec=with_policy(replace_condition(1, {"q-ak": "AKIDsomeoneElse00000000000000000000"}))),
    "AccessDenied_Expiration": Fixture(["AccessDenied_Expiration", "Warning_KeyTimeOutlivesPolicy"], spec=expired_spec()),
    "SignatureDoesNotMatch_POSTSignature": Fixture(["SignatureDoesNotMatch_POSTSignature"], spec=default_spec().set("q-signature", "0" * 40)),
    "InvalidPolicyDocument_JSONFormat": Fixture(["InvalidPolicyDocument_JSONFormat"], spec=with_policy(lambda d: d.__setitem__("conditions", []))),
    "AccessDenied_BucketNotConsistent": Fixture(["AccessDenied_BucketNotConsistent"], spec=with_policy(replace_condition(3, {"bucket": "other-1250000000"}))),
    "AccessDenied_Condition": Fixture(["AccessDenied_Condition"], spec=default_spec().set("Content-Type", "image/png")),
    "MalformedPOSTRequest_POSTBody": Fixture(["MalformedPOSTRequest_POSTBody"], damage=lambda b: b.replace(b"\r\n", b"\n")),
    "EntityTooLarge_ContentLengthRange": Fixture(["EntityTooLarge_ContentLengthRange"], spec=large_file(2000)),
    "EntityTooSmall_ContentLengthRange": Fixture(["EntityTooSmall_ContentLengthRange"], spec=large_file(0)),
    "EntityTooLarge_MaxObjectSize": Fixture(["EntityTooLarge_MaxObjectSize", "EntityTooLarge_ContentLengthRange", "Info_StreamedBody"], body_complete=False, body_size=6 * 1024 ** 3),
    "IncorrectNumberOfFilesInPostRequest_FileCount": Fixture(["IncorrectNumberOfFilesInPostRequest_FileCount"], spec=default_spec().set("file", "second file")),
    "InvalidPolicyDocument_Base64": Fixture(["InvalidPolicyDocument_Base64"], spec=default_spec().set("policy", "!!not base64!!")),
    "InvalidPolicyDocument_Expiration": Fixture(["InvalidPolicyDocument_Expiration"], spec=with_policy(lambda d: d.__setitem__("expiration", "tomorrow"))),
    "InvalidPolicyDocument_Condition": Fixture(["InvalidPolicyDocument_Condition"], spec=with_policy(add_condition(["in", "$key", "a"]))),
    "AccessDenied_RequestExpired": Fixture(["AccessDenied_RequestExpired"], spec=signature_field_spec(NOW - 7200, NOW - 3600)),
    "RequestTimeTooSkewed_ClockSkew": Fixture(["RequestTimeTooSkewed_ClockSkew"], response=(403, "RequestTimeTooSkewed", "The difference between the request time and the server's time is too large."), response_date=NOW - 3600),
    "AccessDenied_NoPermission": Fixture(["AccessDenied_NoPermission"], response=(403, "AccessDenied", "Access Denied.")),
    "AccessDenied_RefererRule": Fixture(["AccessDenied_RefererRule"], response=(403, "AccessDenied", "You are denied by bucket referer rule")),
    "AccessDenied_SignatureEmpty": Fixture(["AccessDenied_SignatureEmpty", "Warning_FileContentTypeIgnored"], spec=FormSpec([("key", "a.txt")]), response=(403, "AccessDenied", "Check auth failure because signature empty.")),
    "AccessForbidden_CORS": Fixture(["AccessForbidden_CORS"], response=(403, "AccessForbidden", "CORSResponse: This CORS request is not allowed.")),
    "InvalidAccessKeyId_SecretId": Fixture(["InvalidAccessKeyId_SecretId"], response=(403, "InvalidAccessKeyId", "The Access Key Id you provided does not exist in our records.")),
    "ExpiredToken_SecurityToken": Fixture(["ExpiredToken_SecurityToken"], response=(400, "ExpiredToken", "The provided token has expired.")),
    "SignatureDoesNotMatch_SignatureField": Fixture(["SignatureDoesNotMatch_SignatureField"], spec=signature_field_spec(signature="1" * 40)),
    "InvalidArgument_MissingField": Fixture(["InvalidArgument_MissingField", "AccessDenied_Condition"], spec=default_spec().drop("key")),
    "InvalidArgument_TrafficLimit": Fixture(["InvalidArgument_TrafficLimit"], spec=default_spec().set("x-cos-traffic-limit", "100")),
    "KeyTooLong_ObjectKey": Fixture(["KeyTooLong_ObjectKey"], spec=default_spec(key="k" * 900)),
    "MissingContentLength_ChunkedBody": Fixture(["MissingContentLength_ChunkedBody"], headers={"content-length": None, "transfer-encoding": "chunked"}),
    "InvalidDigest_ContentMD5": Fixture(["InvalidDigest_ContentMD5"], spec=default_spec().set("Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg==")),
    "NoSuchBucket_Host": Fixture(["NoSuchBucket_Host"], response=(404, "NoSuchBucket", "The specified bucket does not exist.")),
    "MethodNotAllowed_PresignedURL": Fixture(["MethodNotAllowed_PresignedURL"], response=(405, "MethodNotAllowed", "The specified method is not allowed.")),
    "InternalError_ServerSide": Fixture(["InternalError_ServerSide"], response=(500, "InternalError", "We encountered an internal error.")),
    "SlowDown_RateLimited": Fixture(["SlowDown_RateLimited"], response=(503, "SlowDown", "Please reduce your request rate.")),
    "Unknown_WeirdCode": Fixture(["Unknown_WeirdCode"], response=(400, "WeirdCode", "Something new.")),
    "Warning_DuplicateField": Fixture(["Warning_DuplicateField"], spec=FormSpec(default_spec().fields + [("key", "uploads/b.txt")])),
    "Warning_DuplicatePolicyKey": Fixture(["Warning_DuplicatePolicyKey", "Warning_LongExpiration"], spec=resign_raw(default_spec(), json.dumps(document(default_spec()))[:-1].encode() + b',"expiration":"2099-01-01T00:00:00Z"}')),
    "Warning_FieldAfterFile": Fixture(["Warning_FieldAfterFile"], damage=add_part_after_file),
    "Warning_SignTimeMismatch": Fixture(["Warning_SignTimeMismatch"], spec=with_policy(replace_condition(2, {"q-sign-time": f"{NOW};{NOW + 60}"}))),
    "Warning_MissingRequiredCondition": Fixture(["Warning_MissingRequiredCondition"], spec=with_policy(conditions_without("q-sign-algorithm"))),
    "Warning_KeyAnyPrefix": Fixture(["Warning_KeyAnyPrefix"], spec=with_policy(replace_condition(4, ["starts-with", "$key", ""]))),
    "Warning_NoContentLengthRange": Fixture(["Warning_NoContentLengthRange"], spec=with_policy(conditions_without("content-length-range"))),
    "Warning_LongExpiration": Fixture(["Warning_LongExpiration"], spec=with_policy(lambda d: d.__setitem__("expiration", format_iso8601(NOW + 3 * 86400)))),
    "Warning_KeyTimeOutlivesPolicy": Fixture(["Warning_KeyTimeOutlivesPolicy"], spec=with_policy(lambda d: d.__setitem__("expiration", format_iso8601(NOW + 300)))),
    "Warning_TokenNotConstrained": Fixture(["Warning_TokenNotConstrained"], spec=default_spec().set("x-cos-security-token", "tokentokentokentoken")),
    "Warning_NoBucketCondition": Fixture(["Warning_NoBucketCondition"], spec=with_policy(conditions_without("bucket"))),
    "Warning_StartsWithWildcard": Fixture(["AccessDenied_Condition", "Warning_StartsWithWildcard"], spec=with_policy(replace_condition(6, ["starts-with", "$Content-Type", "text/*"]))),
    "Warning_ConditionWithoutDollar": Fixture(["Warning_ConditionWithoutDollar"], spec=with_policy(replace_condition(6, ["starts-with", "Content-Type", "text/"]))),
    "Warning_FileContentTypeIgnored": Fixture(["Warning_FileContentTypeIgnored"], spec=with_policy(conditions_without("Content-Type"), default_spec().drop("Content-Type"))),
    "Warning_SuccessActionStatus": Fixture(["Warning_SuccessActionStatus"], spec=with_policy(add_condition({"success_action_status": "404"}), default_spec().set("success_action_status", "404"))),
    "Warning_ClockSkew": Fixture(["Warning_ClockSkew"], response=(204, None, ""), response_date=NOW - 600),
    "Warning_CORSResponseHidden": Fixture(["Warning_CORSResponseHidden"], headers={"origin": "https://app.example.com"}, response=(204, None, "")),
    "Warning_PreflightDisagreement": Fixture(["AccessDenied_Condition", "Warning_PreflightDisagreement"], response=(403, "AccessDenied", "Condition key key doesn't match the value uploads/a.txt")),
    "Warning_UnknownCondition": Fixture(["Warning_UnknownCondition"], spec=with_policy(add_condition({"x-foo": "bar"}), default_spec().set("x-foo", "bar"))),
    "Info_SignatureNotVerified": Fixture(["Info_SignatureNotVerified"], credentials=False),
    "Info_StreamedBody": Fixture(["EntityTooLarge_ContentLengthRange", "Info_StreamedBody"], body_complete=False, body_size=4096),
    "Info_BodyMissing": Fixture(["Info_BodyMissing"], no_body=True),
    # Header-signed and presigned requests (not POST Object forms).
    "SignatureDoesNotMatch_Authorization": Fixture(
        ["SignatureDoesNotMatch_Authorization"], spec=None, method="PUT", target="/imagesresume-zh+en_a.png",
        request_headers=signed_put("imagesresume-zh+en_a.png"),
        response=(403, "SignatureDoesNotMatch", "The Signature you specified is invalid."),
        response_details=[("StringToSign", "sha1\n" + key_time() + "\n" + "0" * 40 + "\n"),
                          ("FormatString", PICGO_FORMAT)]),
    "AccessDenied_StrictSignature": Fixture(
        ["AccessDenied_StrictSignature"], spec=None, method="PUT", target="/uploads/a.txt",
        request_headers={**signed_put(), "content-type": "text/plain"},
        response=(403, "AccessDenied", "Strict signature missing header that must be signed")),
    "Warning_SignTimeNotYetValid": Fixture(
        ["Warning_SignTimeNotYetValid"], spec=None, method="GET",
        target=presigned("GET", kt=key_time(NOW + 600, NOW + 1500)), request_headers={"host": HOST}),
    "Warning_TokenMissing": Fixture(
        ["Warning_TokenMissing"], spec=None, method="PUT", target="/uploads/a.txt", request_headers=signed_put(),
        credentials="temporary"),
    # Multipart uploads: this flow after the ones `sessions` saw.
    "EntityTooSmall_PartSize": Fixture(
        ["EntityTooSmall_PartSize"], spec=None, method="POST", target=f"/{UPLOAD_KEY}?uploadId={UPLOAD_ID}",
        request_headers={"host": HOST}, request_body=complete_body((1, etag_of(1)), (2, etag_of(2))),
        sessions=uploaded((1, 1000), (2, 2 * MiB)),
        response=(400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed object size.")),
    "InvalidPart_CompleteList": Fixture(
        ["InvalidPart_CompleteList"], spec=None, method="POST", target=f"/{UPLOAD_KEY}?uploadId={UPLOAD_ID}",
        request_headers={"host": HOST, "origin": PAGE}, request_body=complete_body((1, '"undefined"')),
        sessions=uploaded((1, 10), hidden=True), response=(400, "InvalidPart", "One or more of the specified parts could not be found."),
        response_headers={"access-control-allow-origin": PAGE}),
    "InvalidPartOrder_CompleteList": Fixture(
        ["InvalidPartOrder_CompleteList"], spec=None, method="POST", target=f"/{UPLOAD_KEY}?uploadId={UPLOAD_ID}",
        request_headers={"host": HOST}, request_body=complete_body((2, etag_of(2)), (1, etag_of(1))),
        sessions=uploaded((1, MiB), (2, 10))),
    "NoSuchUpload_UploadId": Fixture(
        ["NoSuchUpload_UploadId"], spec=None, method="PUT", target=part_target(3),
        request_headers={"host": HOST, "content-length": "10"}, sessions=uploaded((1, MiB), end="abort"),
        response=(404, "NoSuchUpload", "The specified upload does not exist.")),
    "MalformedXML_CompleteBody": Fixture(
        ["MalformedXML_CompleteBody"], spec=None, method="POST", target=f"/{UPLOAD_KEY}?uploadId={UPLOAD_ID}",
        request_headers={"host": HOST}, request_body=b"<CompleteMultipartUpload><Part>", sessions=uploaded((1, 10)),
        response=(400, "MalformedXML", "The XML you provided was not well-formed.")),
    "InvalidArgument_PartNumber": Fixture(
        ["InvalidArgument_PartNumber"], spec=None, method="PUT", target=part_target(0),
        request_headers={"host": HOST, "content-length": "10"}, sessions=uploaded()),
    "Warning_PartTooSmall": Fixture(
        ["Warning_PartTooSmall"], spec=None, method="PUT", target=part_target(1),
        request_headers={"host": HOST, "content-length": "1000"}, sessions=uploaded((2, 2 * MiB))),
    "Warning_PartRepeated": Fixture(
        ["Warning_PartRepeated"], spec=None, method="PUT", target=part_target(1),
        request_headers={"host": HOST, "content-length": str(3 * MiB)}, sessions=uploaded((1, 2 * MiB))),
    "Warning_ETagHidden": Fixture(
        ["Warning_ETagHidden"], spec=None, method="PUT", target=part_target(1),
        request_headers={"host": HOST, "content-length": str(MiB), "origin": PAGE}, sessions=uploaded(),
        response=(200, None, ""), response_headers={"etag": etag_of(1), "access-control-allow-origin": PAGE,
                                                    "access-control-expose-headers": "x-cos-request-id"}),
    "Warning_CompleteErrorAfter200": Fixture(
        ["InternalError_ServerSide", "Warning_CompleteErrorAfter200"], spec=None, method="POST",
        target=f"/{UPLOAD_KEY}?uploadId={UPLOAD_ID}", request_headers={"host": HOST},
        request_body=complete_body((1, etag_of(1))), sessions=uploaded((1, 10)), response=(200, None, ""),
        response_body=b"    " + render_error_xml("InternalError", "We encountered an internal error. Please try again.",
                                                 HOST + "/" + UPLOAD_KEY, "rid")),
}


# Saved traffic without the request body (a browser HAR often drops it) and COS's answer: what COS
# said, the Host and the URL are all there is; nothing predicted, so no disagreement either.
def saved_without_body(expected: list[str], code: str, message: str, status: int = 403) -> Fixture:
    return Fixture(expected, no_body=True, response=(status, code, message))


WITHOUT_BODY: dict[str, Fixture] = {
    "condition": saved_without_body(["AccessDenied_Condition", "Info_BodyMissing"],
                                    "AccessDenied", "Condition key key doesn't match the value uploads/b.txt"),
    "q-ak": saved_without_body(["AccessDenied_q-ak", "Info_BodyMissing"],
                               "AccessDenied", "Condition key q-ak doesn't match the value AKIDx"),
    "bucket": saved_without_body(["AccessDenied_BucketNotConsistent", "Info_BodyMissing"],
                                 "AccessDenied", "Condition key bucket doesn't match the value other-1250000000"),
    "expired": saved_without_body(["AccessDenied_Expiration", "Info_BodyMissing"], "AccessDenied",
                                  f"You post object request has been expired, expiration time: {NOW - 3600} "
                                  f"but the time now : {NOW}"),
    "signature": saved_without_body(["SignatureDoesNotMatch_POSTSignature", "Info_BodyMissing"],
                                    "SignatureDoesNotMatch", "The Signature you specified is invalid."),
    "malformed": saved_without_body(["MalformedPOSTRequest_POSTBody", "Info_BodyMissing"], "MalformedPOSTRequest",
                                    "The body of your POST request is not well-formed multipart/form-data.", 400),
    "too-large": saved_without_body(["EntityTooLarge_ContentLengthRange", "Info_BodyMissing"], "EntityTooLarge",
                                    "Condition key content-length-range doesn't match the value ", 400),
    "no-permission": saved_without_body(["AccessDenied_NoPermission", "Info_BodyMissing"],
                                        "AccessDenied", "Access Denied."),
    "unknown": saved_without_body(["Unknown_WeirdCode", "Info_BodyMissing"], "WeirdCode", "Something new.", 400),
}
