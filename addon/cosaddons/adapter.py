"""A mitmproxy flow as the plain values the core works on: the one adapter, for every addon and the view.

Headers are read from the raw fields with the core's one rule (`cosdoctor.wire.headers`: folded with
", " as mitmproxy's Headers.get folds them), which costs a fraction of going through `Headers`.
"""
from __future__ import annotations

import time

from mitmproxy import http

from cosdoctor.cos.hosts import CosEndpoint
from cosdoctor.cos.operations import carries_cos_signature
from cosdoctor.findings.diagnose import PlainResponse, request_for
from cosdoctor.findings.request_checks import UploadRequest
from cosdoctor.wire.headers import header_dict, header_value
from cosdoctor.wire.stream import StreamTee

_RAW = object()         # plain_request's default body: the request's own raw bytes


def header(message: http.Message, name: bytes) -> str | None:
    """message.headers.get(name) for a lower-case name, straight from the raw fields."""
    return header_value(message.data.headers.fields, name)


def signed_for_cos(request: http.Request) -> bool:
    """A request on any host whose Authorization header or query carries a COS signature (the
    contract's "recognised on any host"): substring tests, no parsing, no body."""
    path = request.path
    if "q-" in path and "?" in path and carries_cos_signature({}, path.partition("?")[2]):
        return True
    for name, value in request.data.headers.fields:       # every flow pays this loop: keep it bare
        if len(name) == 13 and b"q-signature" in value and name.lower() == b"authorization":
            return carries_cos_signature({"authorization": header(request, b"authorization")})
    return False


def host_of(request: http.Request) -> str | None:
    """request.host_header: the host the client addressed (HTTP/2 and 3 may send :authority)."""
    if request.data.http_version.startswith(b"HTTP/1"):
        return header_value(request.data.headers.fields, b"host")
    return request.host_header


def time_of(message: http.Message) -> int:
    """When the message started (unix seconds); now for a message that never carried a time."""
    return int(message.timestamp_start or time.time())


def url_of(request: http.Request, host: str | None = None) -> str:
    """The URL as the client addressed it (the Host header, not a reverse-proxy target); the same
    as request.pretty_url for our purposes, at a fraction of its cost."""
    return f"{request.scheme}://{host or host_of(request) or request.host}{request.path}"


def plain_request(request: http.Request, endpoint: CosEndpoint | None, *, body: bytes | None = _RAW,
                  tee: StreamTee | None = None, live: bool = True, accepted: bool = False) -> UploadRequest:
    """The request as the core sees it.

    `body`: the bytes to check instead of the raw body (the content view is handed the decoded body;
    Content-Length then no longer describes it and is left out). `tee`: the first bytes of a streamed
    upload. `live`: False for saved traffic, where an empty POST body means "not recorded" (a HAR
    export often drops it). `accepted`: COS took the upload, so the file part is not scanned again
    (it runs to the closing delimiter)."""
    headers = header_dict(request.data.headers.fields)
    if "host" not in headers and not request.data.http_version.startswith(b"HTTP/1"):
        authority = host_of(request)     # HTTP/2 and 3 carry the host as :authority, which COS signs as `host`
        if authority:
            headers["host"] = authority
    method = request.method
    body_complete, body_size = True, None
    if body is _RAW:
        raw = request.raw_content
        body = raw if method == "POST" else b""
        if method == "PUT" and raw is not None:
            body_size = len(raw)            # a part's size; its bytes are never read
        if body is None and tee is not None:
            body, body_complete = tee.body(), False
            body_size = _int(headers.get("content-length")) or tee.size
        elif not body and not live and method == "POST":
            body = None
    elif body is not None and request.raw_content is not None and len(body) != len(request.raw_content):
        headers.pop("content-length", None)
    host = endpoint.host if endpoint is not None else host_of(request)
    return request_for(method, host, request.path, headers, body, endpoint, body_complete=body_complete,
                       body_size=body_size, http_version=request.http_version, trust_tail=accepted)


def plain_response(response: http.Response) -> PlainResponse:
    return PlainResponse(response.status_code, header_dict(response.data.headers.fields),
                         response.raw_content, time_of(response))


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        return None
