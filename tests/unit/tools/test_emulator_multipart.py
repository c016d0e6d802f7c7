"""The emulator's multipart-upload API (Initiate, Upload Part, List Parts, Complete, Abort, List
Multipart Uploads) over real HTTP, with its errors, CAM action lists, per-bucket ExposeHeader lists
and Complete's 200-with-<Error>.

Requests are signed by scripts/devkit/signing_client.py (written apart from the core) and sent with
http.client, as in test_emulator_put.py; query names keep the SDKs' casing (uploadId, partNumber).
"""
from __future__ import annotations

import hashlib
import re
from urllib.parse import quote

import pytest

import cosrig
from devkit.signing_client import enc, sign
from test_emulator_put import HOST, Server, error, key_time, signed_get

MIB = 1024 ** 2
BUCKET = cosrig.BUCKET


@pytest.fixture(scope="module")
def cos():
    server = Server()
    yield server
    server.stop()


def call(cos: Server, method: str, key: str, params: dict, body: bytes = b"", *,
         headers: dict | None = None, unsigned: dict | None = None) -> tuple[int, dict, bytes]:
    """A header-signed request; ``params`` (value None: a bare name) are signed and sent in order."""
    signed_headers = {"Host": HOST, **(headers or {})}
    if body or method in ("PUT", "POST"):
        signed_headers["Content-Length"] = str(len(body))
    auth = sign(method, "/" + key, {k: v or "" for k, v in params.items()}, signed_headers, key_time=key_time())
    query = "&".join(enc(k) if v is None else f"{enc(k)}={enc(v)}" for k, v in params.items())
    target = "/" + quote(key, safe="/") + (f"?{query}" if query else "")
    return cos.request(method, target, body, {**signed_headers, **(unsigned or {}), "Authorization": auth})


def initiate(cos: Server, key: str, **kw) -> str:
    status, _, body = call(cos, "POST", key, {"uploads": None}, **kw)
    assert status == 200, body
    found = re.search(rb"<UploadId>([^<]+)</UploadId>", body)
    assert found, body
    return found.group(1).decode()


def part(cos: Server, key: str, upload_id: str, number, data: bytes, **kw) -> tuple[int, dict, bytes]:
    return call(cos, "PUT", key, {"partNumber": str(number), "uploadId": upload_id}, data, **kw)


def complete_body(parts) -> bytes:
    inner = "".join(f"<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>" for n, e in parts)
    return f"<CompleteMultipartUpload>{inner}</CompleteMultipartUpload>".encode()


def complete(cos: Server, key: str, upload_id: str, body: bytes) -> tuple[int, dict, bytes]:
    return call(cos, "POST", key, {"uploadId": upload_id}, body, headers={"Content-Type": "application/xml"})


def two_parts(cos: Server, key: str, first: bytes, second: bytes) -> tuple[str, list]:
    upload_id = initiate(cos, key)
    etags = []
    for number, data in ((1, first), (2, second)):
        status, headers, body = part(cos, key, upload_id, number, data)
        assert status == 200, body
        etags.append((number, headers["etag"]))
    return upload_id, etags


def code_of(answer) -> tuple[int, str]:
    status, _, body = answer
    return status, error(body).code


# --- a whole session ------------------------------------------------------------------------------


def test_full_session(cos: Server) -> None:
    key = "mp/whole 腾讯+1.bin"
    first, second = bytes(range(256)) * 4096, b"0123456789"
    assert len(first) == MIB
    upload_id, etags = two_parts(cos, key, first, second)
    assert etags == [(1, f'"{hashlib.md5(first).hexdigest()}"'), (2, f'"{hashlib.md5(second).hexdigest()}"')]

    status, _, listed = call(cos, "GET", key, {"uploadId": upload_id})
    assert status == 200, listed
    assert re.findall(rb"<PartNumber>(\d+)</PartNumber>", listed) == [b"1", b"2"]
    assert re.findall(rb"<Size>(\d+)</Size>", listed) == [str(MIB).encode(), b"10"]
    assert f"<UploadId>{upload_id}</UploadId>".encode() in listed

    status, _, uploads = call(cos, "GET", "", {"uploads": None, "prefix": "mp/whole"})
    assert status == 200 and f"<UploadId>{upload_id}</UploadId>".encode() in uploads, uploads

    status, _, answer = complete(cos, key, upload_id, complete_body(etags))
    assert status == 200, answer
    expected = hashlib.md5(hashlib.md5(first).digest() + hashlib.md5(second).digest()).hexdigest() + "-2"
    assert f"<ETag>&quot;{expected}&quot;</ETag>".encode() in answer or f'<ETag>"{expected}"</ETag>'.encode() in answer
    assert b"<CompleteMultipartUploadResult" in answer

    status, headers, data = signed_get(cos, key)
    assert (status, data) == (200, first + second)
    assert headers["etag"] == f'"{expected}"'
    # the session is gone once completed
    assert code_of(call(cos, "GET", key, {"uploadId": upload_id})) == (404, "NoSuchUpload")


# --- Complete's checks ----------------------------------------------------------------------------


def test_invalid_part_order(cos: Server) -> None:
    key = "mp/order.bin"
    upload_id, etags = two_parts(cos, key, b"a" * MIB, b"b")
    assert code_of(complete(cos, key, upload_id, complete_body(etags[::-1]))) == (400, "InvalidPartOrder")
    assert code_of(complete(cos, key, upload_id, complete_body([etags[0], etags[0]]))) == (400, "InvalidPartOrder")


def test_invalid_part_etag_undefined(cos: Server) -> None:
    """A browser page that cannot read ETag (not exposed) sends "undefined"."""
    key = "mp/undefined.bin"
    upload_id, etags = two_parts(cos, key, b"a" * MIB, b"b")
    answer = complete(cos, key, upload_id, complete_body([etags[0], (2, "undefined")]))
    assert code_of(answer) == (400, "InvalidPart")
    answer = complete(cos, key, upload_id, complete_body([etags[0], (3, etags[1][1])]))
    assert code_of(answer) == (400, "InvalidPart")
    # the session survives a refused Complete
    assert complete(cos, key, upload_id, complete_body(etags))[0] == 200


def test_entity_too_small(cos: Server) -> None:
    key = "mp/small.bin"
    upload_id, etags = two_parts(cos, key, b"a" * (MIB - 1), b"b")
    status, _, body = complete(cos, key, upload_id, complete_body(etags))
    doc = error(body)
    assert (status, doc.code) == (400, "EntityTooSmall")
    assert doc.message == "Your proposed upload is smaller than the minimum allowed object size."
    # a single small part is the last one: fine
    single = initiate(cos, "mp/single.bin")
    status, headers, _ = part(cos, "mp/single.bin", single, 1, b"tiny")
    assert status == 200
    assert complete(cos, "mp/single.bin", single, complete_body([(1, headers["etag"])]))[0] == 200
    assert signed_get(cos, "mp/single.bin")[2] == b"tiny"


@pytest.mark.parametrize("body", [b"", b"not xml", b"<CompleteMultipartUpload></CompleteMultipartUpload>",
                                  b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part>"
                                  b"</CompleteMultipartUpload>",
                                  b"<Other><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part></Other>",
                                  b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e "x">]><CompleteMultipartUpload/>'])
def test_malformed_xml(cos: Server, body: bytes) -> None:
    key = "mp/malformed.bin"
    upload_id = initiate(cos, key)
    assert code_of(complete(cos, key, upload_id, body)) == (400, "MalformedXML")


@pytest.mark.parametrize("number", ["0", "10001", "-1", "x", ""])
def test_part_number_out_of_range(cos: Server, number: str) -> None:
    key = "mp/number.bin"
    upload_id = initiate(cos, key)
    assert code_of(part(cos, key, upload_id, number, b"x")) == (400, "InvalidArgument")


def test_abort_then_no_such_upload(cos: Server) -> None:
    key = "mp/abort.bin"
    upload_id, etags = two_parts(cos, key, b"a" * MIB, b"b")
    status, _, body = call(cos, "DELETE", key, {"uploadId": upload_id})
    assert (status, body) == (204, b"")
    assert code_of(part(cos, key, upload_id, 3, b"x")) == (404, "NoSuchUpload")
    assert code_of(complete(cos, key, upload_id, complete_body(etags))) == (404, "NoSuchUpload")
    assert code_of(call(cos, "GET", key, {"uploadId": upload_id})) == (404, "NoSuchUpload")
    assert code_of(call(cos, "DELETE", key, {"uploadId": upload_id})) == (404, "NoSuchUpload")
    assert signed_get(cos, key)[0] == 404


def test_upload_id_of_another_key(cos: Server) -> None:
    upload_id = initiate(cos, "mp/one.bin")
    assert code_of(part(cos, "mp/two.bin", upload_id, 1, b"x")) == (404, "NoSuchUpload")
    assert code_of(part(cos, "mp/one.bin", "no-such-id", 1, b"x")) == (404, "NoSuchUpload")


# --- CAM action lists, ExposeHeader lists, 200 with <Error> ---------------------------------------


def test_allowed_actions_deny_upload_part() -> None:
    server = Server(allowed_actions={"mp/*": {"name/cos:InitiateMultipartUpload", "CompleteMultipartUpload",
                                              "AbortMultipartUpload", "ListParts"}})
    try:
        upload_id = initiate(server, "mp/denied.bin")
        status, _, body = part(server, "mp/denied.bin", upload_id, 1, b"x")
        doc = error(body)
        assert (status, doc.code, doc.message) == (403, "AccessDenied", "Access Denied.")
        assert call(server, "GET", "mp/denied.bin", {"uploadId": upload_id})[0] == 200
        # outside the pattern nothing is allowed, not even Initiate
        status, _, body = call(server, "POST", "other/x.bin", {"uploads": None})
        assert (status, error(body).code, error(body).message) == (403, "AccessDenied", "Access Denied.")
        assert call(server, "DELETE", "mp/denied.bin", {"uploadId": upload_id})[0] == 204
    finally:
        server.stop()


def test_bucket_expose_headers_hide_etag() -> None:
    server = Server(bucket_expose_headers={BUCKET: ("x-cos-request-id", "Content-Length")})
    origin = {"Origin": "https://page.example"}
    try:
        upload_id = initiate(server, "mp/expose.bin", unsigned=origin)
        status, headers, _ = part(server, "mp/expose.bin", upload_id, 1, b"x" * 10, unsigned=origin)
        assert status == 200
        assert headers["access-control-allow-origin"] == "https://page.example"
        exposed = [h.strip().lower() for h in headers["access-control-expose-headers"].split(",")]
        assert exposed == ["x-cos-request-id", "content-length"]
        assert "etag" in headers      # sent, but a page's script cannot read it
        # another bucket keeps the default list, with ETag
        default = Server()
        try:
            other = initiate(default, "mp/expose.bin", unsigned=origin)
            _, headers, _ = part(default, "mp/expose.bin", other, 1, b"x", unsigned=origin)
            assert "ETag" in headers["access-control-expose-headers"].split(", ")
        finally:
            default.stop()
    finally:
        server.stop()


def test_complete_error_in_200() -> None:
    server = Server(complete_error_in_200=True)
    try:
        key = "mp/in200.bin"
        upload_id, etags = two_parts(server, key, b"a" * MIB, b"b")
        status, headers, body = complete(server, key, upload_id, complete_body(etags))
        assert status == 200
        doc = error(body)
        assert doc.code == "InternalError"
        assert signed_get(server, key)[0] == 404
        # an unknown upload is still refused before the 200
        assert code_of(complete(server, key, "no-such-id", complete_body(etags))) == (404, "NoSuchUpload")
    finally:
        server.stop()
