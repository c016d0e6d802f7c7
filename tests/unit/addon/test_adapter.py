"""The one flow-to-plain adapter: what the core is given of a mitmproxy request and answer."""
from __future__ import annotations

import pytest
from mitmproxy import http

from cosaddons.adapter import header, host_of, plain_request, plain_response, signed_for_cos, time_of, url_of
from cosdoctor.cos.hosts import parse_cos_host
from cosdoctor.wire.stream import StreamTee

HOST = "examplebucket-1250000000.cos.ap-beijing.myqcloud.com"
ENDPOINT = parse_cos_host(HOST)


def make_request(fields, method: str = "POST", body: bytes | None = b"body") -> http.Request:
    request = http.Request.make(method, "http://127.0.0.1/path?x=1", b"", {})
    request.headers = http.Headers(fields)
    request.raw_content = body
    return request


@pytest.mark.parametrize("fields", [
    [(b"Host", HOST.encode())],
    [(b"HOST", b"a.example"), (b"host", b"b.example")],          # repeated: folded as mitmproxy folds
    [(b"Host", "é.example".encode())],
    [(b"Host", b"\xff\xfe.example")],
    [(b"X-Other", b"1")],
    [],
])
def test_host_and_header_read_what_mitmproxy_reads(fields):
    request = make_request([*fields, (b"Content-Type", b"multipart/form-data; boundary=x")])
    assert host_of(request) == request.host_header
    assert header(request, b"content-type") == request.headers.get("content-type")
    assert header(request, b"missing") is None


def test_http2_host_is_the_authority():
    request = make_request([(b"Host", b"h1.example")])
    request.http_version = "HTTP/2.0"
    request.authority = "h2.example"
    assert host_of(request) == request.host_header == "h2.example"


def test_http2_request_without_host_header_gives_the_core_its_authority_as_host():
    """A browser's HTTP/2 PUT has no Host field: COS (and mitmproxy upstream) take :authority, and
    the SDK signed it as `host`, so the signature engine must see it (found by the HTTPS browser test)."""
    request = make_request([(b"Content-Length", b"4")], method="PUT")
    request.http_version = "HTTP/2.0"
    request.authority = HOST
    assert plain_request(request, ENDPOINT).headers["host"] == HOST
    request.http_version = "HTTP/1.1"                       # HTTP/1 without Host: nothing invented
    assert "host" not in plain_request(request, ENDPOINT).headers


def test_plain_request_reads_every_header_with_the_one_rule():
    request = make_request([(b"Host", HOST.encode()), (b"Content-Type", b"multipart/form-data; boundary=a"),
                            (b"content-type", b"text/plain"), (b"X-Cos-Meta-A", b"1")])
    plain = plain_request(request, ENDPOINT)
    assert plain.headers["content-type"] == request.headers.get("content-type") == \
        "multipart/form-data; boundary=a, text/plain"
    assert plain.headers["x-cos-meta-a"] == "1"
    assert (plain.method, plain.host, plain.path, plain.body, plain.endpoint) == \
        ("POST", HOST, "/path?x=1", b"body", ENDPOINT)
    assert plain.body_complete and plain.body_size is None and not plain.trust_tail


def test_plain_request_of_a_get_has_no_body_and_the_host_header_without_an_endpoint():
    plain = plain_request(make_request([(b"Host", b"Cdn.Example.com:8443")], method="GET"), None)
    assert plain.body == b"" and plain.host == "Cdn.Example.com:8443"


def test_streamed_upload_is_read_from_its_tee():
    tee = StreamTee(limit=4)
    tee(b"--abcdef")
    request = make_request([(b"Host", HOST.encode()), (b"Content-Length", b"1000")], body=None)
    plain = plain_request(request, ENDPOINT, tee=tee)
    assert plain.body == b"--ab" and not plain.body_complete and plain.body_size == 1000


@pytest.mark.parametrize("live, expected", [(True, b""), (False, None)])
def test_empty_body_of_saved_traffic_means_not_recorded(live, expected):
    plain = plain_request(make_request([(b"Host", HOST.encode())], body=b""), ENDPOINT, live=live)
    assert plain.body == expected


def test_a_decoded_body_given_instead_drops_content_length():
    request = make_request([(b"Host", HOST.encode()), (b"Content-Length", b"4")], body=b"gzip")
    assert "content-length" not in plain_request(request, ENDPOINT, body=b"decoded body").headers
    assert plain_request(request, ENDPOINT, body=b"same").headers["content-length"] == "4"


def test_accepted_upload_trusts_the_file_tail():
    assert plain_request(make_request([]), ENDPOINT, accepted=True).trust_tail


def test_plain_response_folds_headers_and_keeps_the_raw_body():
    response = http.Response.make(403, b"<Error/>", {"Content-Type": "application/xml"})
    response.headers = http.Headers([(b"X-A", b"1"), (b"x-a", b"2"), (b"Content-Type", b"application/xml")])
    response.timestamp_start = 1_795_000_000.7
    plain = plain_response(response)
    assert (plain.status, plain.body, plain.time) == (403, b"<Error/>", 1_795_000_000)
    assert plain.headers == {"x-a": "1, 2", "content-type": "application/xml"}


def test_url_is_the_addressed_one_and_time_falls_back_to_now():
    request = make_request([(b"Host", HOST.encode())])
    assert url_of(request) == f"http://{HOST}/path?x=1"
    request.timestamp_start = None
    assert time_of(request) > 1_700_000_000


AUTH = ("q-sign-algorithm=sha1&q-ak=AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q&q-sign-time=1557989151;1557996351"
        "&q-key-time=1557989151;1557996351&q-header-list=host&q-url-param-list="
        "&q-signature=3b8851a11a569213c17ba8fa7dcf2abec6935172")


@pytest.mark.parametrize("target, fields, expected", [
    ("/a.txt", [(b"Authorization", AUTH.encode())], True),                 # header-signed PUT (putObject)
    ("/a.txt?" + AUTH.replace(";", "%3B"), [], True),                     # a presigned URL
    ("/a.txt?sign=" + AUTH.replace("&", "%26").replace("=", "%3D"), [], True),   # the old sign= form
    ("/a.txt", [(b"Authorization", b"Bearer abc")], False),
    ("/a.txt?q-ak=x", [], False),                                          # not a whole signature
    ("/search?q-signature=1", [(b"Authorization", b"q-ak=1")], False),
])
def test_signed_for_cos_on_any_host(target, fields, expected):
    request = http.Request.make("PUT", f"http://cdn.example.com{target}", b"", fields)
    assert signed_for_cos(request) is expected
