"""The emulator's PUT/GET/HEAD/DELETE Object with header and presigned signatures, over real HTTP.

Requests are signed by scripts/devkit/signing_client.py (written apart from the core) and sent with
http.client, so the path goes on the wire exactly as written here.
"""
from __future__ import annotations

import base64
import hashlib
import http.client
import socket
import time
from urllib.parse import quote

import pytest

import cosrig
from cos_emulator import Emulator, make_server
from cosdoctor.cos.credentials import Credential, CredentialStore
from cosdoctor.cos.times import parse_iso8601
from cosdoctor.cos.xmlsig import analyse_signature
from cosdoctor.wire.errorxml import parse_error_xml
from devkit.signing_client import SECRET_ID, SECRET_KEY, as_query, enc, sign

HOST = cosrig.COS_HOST
BUCKET = cosrig.BUCKET
OTHER_KEY = "AnotherSecretKeyOf32Characters00"
TOKEN_ID = "AKIDtemporary_key-0123456789abcdefghijklmnopqrstuvwxyz0123456789ab"


class Server:
    def __init__(self, **options) -> None:
        credentials = CredentialStore({
            SECRET_ID: Credential(SECRET_ID, SECRET_KEY),
            TOKEN_ID: Credential(TOKEN_ID, SECRET_KEY, token="session-token+/="),
        })
        self.emulator = Emulator(credentials, **options)
        self.server = make_server(self.emulator, 0)
        import threading
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.port = self.server.server_address[1]

    def request(self, method: str, target: str, body: bytes = b"", headers: dict | None = None,
                host: str = HOST) -> tuple[int, dict, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            sent = {"Host": host, **(headers or {})}
            if body or method in ("PUT", "POST"):
                sent.setdefault("Content-Length", str(len(body)))
            for name, value in sent.items():
                if value is not None:
                    conn.putheader(name, value.encode("utf-8") if isinstance(value, str) else value)
            conn.endheaders(body or None)
            response = conn.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            conn.close()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def cos():
    server = Server()
    yield server
    server.stop()


def key_time(offset: int = 0, length: int = 900) -> str:
    now = int(time.time()) + offset
    return f"{now - 1};{now + length}"


def signed_put(cos: Server, key: str, body: bytes, *, wire_path: str | None = None, content_type: str = "text/plain",
               secret: str = SECRET_KEY, signed_key: str | None = None, extra: dict | None = None,
               secret_id: str = SECRET_ID) -> tuple[int, dict, bytes]:
    signed_headers = {"Host": HOST, "Content-Length": str(len(body)), "Content-Type": content_type, **(extra or {})}
    auth = sign("PUT", "/" + (key if signed_key is None else signed_key), {}, signed_headers, key_time=key_time(),
                secret=secret, secret_id=secret_id)
    path = wire_path if wire_path is not None else "/" + quote(key, safe="/")
    return cos.request("PUT", path, body, {**signed_headers, "Authorization": auth})


def signed_get(cos: Server, key: str, method: str = "GET") -> tuple[int, dict, bytes]:
    auth = sign(method, "/" + key, {}, {"Host": HOST}, key_time=key_time())
    return cos.request(method, "/" + quote(key, safe="/"), headers={"Authorization": auth})


def error(body: bytes):
    doc = parse_error_xml(body)
    assert doc is not None, body
    return doc


# --- PUT, GET, HEAD, DELETE -----------------------------------------------------------------------


@pytest.mark.parametrize("key", ["plain.txt", "folder/a b+c(腾讯云).txt", "上传/照片 1.jpg", "a+b", "!'()*~.txt"])
def test_put_then_get(cos: Server, key: str) -> None:
    body = f"content of {key}".encode()
    status, headers, answer = signed_put(cos, key, body, content_type="image/jpeg")
    assert (status, answer) == (200, b"")
    assert headers["etag"] == f'"{hashlib.md5(body).hexdigest()}"'
    assert headers["x-cos-request-id"] and headers["server"] == "tencent-cos"
    assert headers["content-length"] == "0"
    status, headers, data = signed_get(cos, key)
    assert (status, data) == (200, body)
    assert headers["content-type"] == "image/jpeg" and headers["etag"] == f'"{hashlib.md5(body).hexdigest()}"'
    status, headers, data = signed_get(cos, key, "HEAD")
    assert (status, data, headers["content-length"]) == (200, b"", str(len(body)))


def test_overwrite_and_delete(cos: Server) -> None:
    assert signed_put(cos, "over.txt", b"one")[0] == 200
    assert signed_put(cos, "over.txt", b"two")[0] == 200
    assert signed_get(cos, "over.txt")[2] == b"two"
    auth = sign("DELETE", "/over.txt", {}, {"Host": HOST}, key_time=key_time())
    assert cos.request("DELETE", "/over.txt", headers={"Authorization": auth})[0] == 204
    status, _, body = signed_get(cos, "over.txt")
    assert status == 404 and error(body).code == "NoSuchKey"


def test_metadata_comes_back(cos: Server) -> None:
    status, _, _ = signed_put(cos, "meta.txt", b"x", extra={"x-cos-meta-author": "me", "Cache-Control": "no-cache"})
    assert status == 200
    _, headers, _ = signed_get(cos, "meta.txt")
    assert headers["x-cos-meta-author"] == "me" and headers["cache-control"] == "no-cache"


def test_official_upload_vector_is_accepted() -> None:
    """cos-post-object.md §3.3: the documented request, at the documented time, verifies."""
    server = Server()
    server.emulator.now = lambda: 1557990000
    try:
        headers = {"Date": "Thu, 16 May 2019 06:45:51 GMT", "Content-Type": "text/plain", "Content-Length": "13",
                   "Content-MD5": "mQ/fVh815F3k6TAUm8m0eg==", "x-cos-acl": "private",
                   "x-cos-grant-read": 'uin="100000000011"',
                   "Authorization": "q-sign-algorithm=sha1&q-ak=AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q&q-sign-time="
                                    "1557989151;1557996351&q-key-time=1557989151;1557996351&q-header-list=content-"
                                    "length;content-md5;content-type;date;host;x-cos-acl;x-cos-grant-read&q-url-"
                                    "param-list=&q-signature=3b8851a11a569213c17ba8fa7dcf2abec6935172"}
        status, answer, _ = server.request("PUT", "/exampleobject(%E8%85%BE%E8%AE%AF%E4%BA%91)", b"ObjectContent",
                                           headers, host="examplebucket-1250000000.cos.ap-beijing.myqcloud.com")
        assert status == 200 and answer["etag"] == '"' + hashlib.md5(b"ObjectContent").hexdigest() + '"'
        assert server.emulator.fetch(BUCKET, "exampleobject(腾讯云)").data == b"ObjectContent"
    finally:
        server.stop()


# --- signature failures as COS answers them -------------------------------------------------------


def signature_error(status: int, body: bytes):
    assert status == 403
    doc = error(body)
    assert doc.code == "SignatureDoesNotMatch" and doc.message == "The Signature you specified is invalid."
    extra = dict(doc.extra)
    sts, fs = extra["StringToSign"], extra["FormatString"]
    assert sts.split("\n")[2] == hashlib.sha1(fs.encode()).hexdigest()   # COS's own consistency
    return doc, sts, fs


def test_wrong_secret_key(cos: Server) -> None:
    status, headers, body = signed_put(cos, "folder/a b.txt", b"abc", secret=OTHER_KEY)
    doc, sts, fs = signature_error(status, body)
    assert fs == f"put\n/folder/a b.txt\n\ncontent-length=3&content-type=text%2Fplain&host={HOST}\n"
    assert body.startswith(b"<?xml version='1.0' encoding='utf-8' ?>\n<Error>\n\t<Code>")
    assert doc.request_id == headers["x-cos-request-id"]
    assert cos.emulator.fetch(BUCKET, "folder/a b.txt") is None


def test_raw_plus_is_read_as_a_space(cos: Server) -> None:
    """PicGo#638: the client signed '+', sent it raw; COS reads a space and says so in FormatString."""
    status, _, body = signed_put(cos, "zh+en.png", b"png", wire_path="/zh+en.png")
    _, _, fs = signature_error(status, body)
    assert fs.split("\n")[1] == "/zh en.png"
    assert signed_put(cos, "zh en.png", b"png", wire_path="/zh+en.png")[0] == 200   # signed as COS reads it
    assert cos.emulator.fetch(BUCKET, "zh en.png").data == b"png"


def test_signed_encoded_path(cos: Server) -> None:
    status, _, body = signed_put(cos, "a b.txt", b"x", signed_key="a%20b.txt")
    _, _, fs = signature_error(status, body)
    assert fs.split("\n")[1] == "/a b.txt"


def test_emulator_and_engine_agree_on_the_format_string(cos: Server) -> None:
    """Two implementations of COS's FormatString: the emulator's answer and the core's rebuild."""
    body = b"hello"
    wire = "/folder/%E8%85%BE%20x+y%2B.txt?response-content-type=text%2Fplain"
    signed = {"Host": HOST, "Content-Length": "5", "Content-Type": "text/plain; charset=utf-8",
              "x-cos-meta-a": "1 2"}
    auth = sign("PUT", "/wrong", {"response-content-type": "text/plain"}, signed, key_time=key_time())
    headers = {**signed, "Authorization": auth}
    status, _, answer = cos.request("PUT", wire, body, headers)
    _, sts, fs = signature_error(status, answer)
    path, query = wire.split("?")
    ours = analyse_signature("PUT", path, query, headers, secret_key=SECRET_KEY, cos_format_string=fs,
                             cos_string_to_sign=sts)
    assert ours.rebuilt.http_string == fs
    assert ours.comparison.differences == () and ours.comparison.sha1_matches_cos is True


def test_listed_header_not_sent(cos: Server) -> None:
    signed = {"Host": HOST, "Content-Length": "1", "x-cos-meta-gone": "1"}
    auth = sign("PUT", "/gone.txt", {}, signed, key_time=key_time())
    status, _, body = cos.request("PUT", "/gone.txt", b"x", {"Host": HOST, "Content-Length": "1",
                                                             "Authorization": auth})
    _, _, fs = signature_error(status, body)
    assert fs.endswith("&x-cos-meta-gone=\n")


def test_unknown_access_key(cos: Server) -> None:
    status, _, body = signed_put(cos, "k.txt", b"x", secret_id="AKIDunknownunknownunknownunknown0000")
    assert status == 403 and error(body).code == "InvalidAccessKeyId"


def test_expired_header_signature(cos: Server) -> None:
    auth = sign("PUT", "/old.txt", {}, {"Host": HOST}, key_time=key_time(-7200, 900))
    status, headers, body = cos.request("PUT", "/old.txt", b"x", {"Authorization": auth})
    doc = error(body)
    assert (status, doc.code, doc.message) == (403, "AccessDenied", "Request has expired")
    server_time = parse_iso8601(dict(doc.extra)["ServerTime"])
    assert abs(server_time - int(time.time())) < 60


@pytest.mark.parametrize(
    "auth",
    ["q-sign-algorithm=sha1&q-ak=AKID", "garbage", "q-sign-algorithm=md5&q-ak=a&q-sign-time=1;2&q-key-time=1;2"
     "&q-header-list=&q-url-param-list=&q-signature=" + "0" * 40],
)
def test_malformed_authorization(cos: Server, auth: str) -> None:
    status, _, body = cos.request("PUT", "/m.txt", b"x", {"Authorization": auth})
    assert status == 403 and error(body).code == "SignatureDoesNotMatch"


def test_anonymous_put_is_refused_anonymous_get_allowed(cos: Server) -> None:
    status, _, body = cos.request("PUT", "/anon.txt", b"x")
    assert status == 403 and error(body).message == "Check auth failure because signature empty."
    signed_put(cos, "public.txt", b"pub")
    assert cos.request("GET", "/public.txt")[2] == b"pub"


def test_private_read() -> None:
    server = Server(public_read=False)
    try:
        signed_put(server, "p.txt", b"x")
        status, _, body = server.request("GET", "/p.txt")
        assert status == 403 and error(body).code == "AccessDenied"
        assert signed_get(server, "p.txt")[0] == 200
    finally:
        server.stop()


@pytest.mark.parametrize(
    "md5, code",
    [(base64.b64encode(hashlib.md5(b"other").digest()).decode(), "BadDigest"), ("not-base64!", "InvalidDigest"),
     (base64.b64encode(b"short").decode(), "InvalidDigest")],
)
def test_content_md5(cos: Server, md5: str, code: str) -> None:
    status, _, body = signed_put(cos, "md5.txt", b"body", extra={"Content-MD5": md5})
    assert status == 400 and error(body).code == code
    good = base64.b64encode(hashlib.md5(b"body").digest()).decode()
    assert signed_put(cos, "md5.txt", b"body", extra={"Content-MD5": good})[0] == 200


def test_missing_content_length_and_chunked(cos: Server) -> None:
    auth = sign("PUT", "/nolen.txt", {}, {"Host": HOST}, key_time=key_time())
    with socket.create_connection(("127.0.0.1", cos.port), timeout=30) as sock:
        sock.sendall(f"PUT /nolen.txt HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: {auth}\r\n\r\n".encode())
        assert sock.recv(65536).startswith(b"HTTP/1.1 411")
    with socket.create_connection(("127.0.0.1", cos.port), timeout=30) as sock:
        sock.sendall(f"PUT /nolen.txt HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: {auth}\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n".encode())
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
    assert cos.emulator.fetch(BUCKET, "nolen.txt").data == b"abcde"


def test_sub_resources_and_bucket_level(cos: Server) -> None:
    auth = sign("PUT", "/k", {"acl": ""}, {"Host": HOST}, key_time=key_time())
    assert cos.request("PUT", "/k?acl", b"", {"Authorization": auth})[0] == 501
    assert cos.request("PUT", "/", b"")[0] == 405


def test_path_style_host(cos: Server) -> None:
    host = "cos.ap-beijing.myqcloud.com"
    signed = {"Host": host, "Content-Length": "2"}
    auth = sign("PUT", f"/{BUCKET}/ps.txt", {}, signed, key_time=key_time())
    status, _, _ = cos.request("PUT", f"/{BUCKET}/ps.txt", b"ps", {**signed, "Authorization": auth}, host=host)
    assert status == 200 and cos.emulator.fetch(BUCKET, "ps.txt").data == b"ps"


def test_absolute_form_target(cos: Server) -> None:
    """An SDK using the emulator as its HTTP proxy sends the full URL on the request line."""
    signed = {"Host": HOST, "Content-Length": "3"}
    auth = sign("PUT", "/abs.txt", {}, signed, key_time=key_time())
    status, _, _ = cos.request("PUT", f"http://{HOST}/abs.txt", b"abs", {**signed, "Authorization": auth})
    assert status == 200 and cos.emulator.fetch(BUCKET, "abs.txt").data == b"abs"


# --- presigned URLs -------------------------------------------------------------------------------


def presigned(method: str, key: str, *, offset: int = 0, length: int = 900, params: dict | None = None,
              secret_id: str = SECRET_ID) -> str:
    auth = sign(method, "/" + key, params or {}, {"Host": HOST}, key_time=key_time(offset, length),
                secret_id=secret_id)
    query = "&".join(f"{enc(k)}={enc(v)}" for k, v in (params or {}).items())
    return "/" + quote(key, safe="/") + "?" + "&".join(q for q in (query, as_query(auth)) if q)


def test_presigned_put_and_get(cos: Server) -> None:
    status, headers, _ = cos.request("PUT", presigned("PUT", "pre/腾讯 云+.bin"), b"\x00\x01")
    assert status == 200 and headers["etag"] == '"' + hashlib.md5(b"\x00\x01").hexdigest() + '"'
    status, _, data = cos.request("GET", presigned("GET", "pre/腾讯 云+.bin"))
    assert (status, data) == (200, b"\x00\x01")


def test_presigned_get_with_signed_params(cos: Server) -> None:
    signed_put(cos, "dl.txt", b"dl")
    status, headers, data = cos.request("GET", presigned("GET", "dl.txt",
                                                         params={"response-content-type": "application/x-test"}))
    assert (status, data, headers["content-type"]) == (200, b"dl", "application/x-test")


def test_presigned_url_expired(cos: Server) -> None:
    status, _, body = cos.request("GET", presigned("GET", "dl.txt", offset=-3600, length=60))
    doc = error(body)
    assert (status, doc.code, doc.message) == (403, "AccessDenied", "Request has expired")
    assert "ServerTime" in dict(doc.extra)


def test_presigned_get_used_for_put(cos: Server) -> None:
    status, _, body = cos.request("PUT", presigned("GET", "swap.txt"), b"x")
    _, _, fs = signature_error(status, body)
    assert fs.startswith("put\n/swap.txt\n")


def test_presigned_url_used_with_post(cos: Server) -> None:
    status, _, body = cos.request("POST", presigned("PUT", "post.txt"), b"x",
                                  {"Content-Type": "application/octet-stream"})
    assert status == 405 and error(body).code == "MethodNotAllowed"


def test_presigned_url_with_tampered_key(cos: Server) -> None:
    url = presigned("GET", "dl.txt").replace("/dl.txt?", "/dl2.txt?")
    signature_error(*cos.request("GET", url)[::2])


def test_sign_parameter_form(cos: Server) -> None:
    auth = sign("GET", "/dl.txt", {}, {"Host": HOST}, key_time=key_time())
    status, _, data = cos.request("GET", "/dl.txt?sign=" + quote(auth, safe=""))
    assert (status, data) == (200, b"dl")


def test_temporary_key_needs_its_token(cos: Server) -> None:
    url = presigned("PUT", "tmp.txt", secret_id=TOKEN_ID)
    status, _, body = cos.request("PUT", url, b"t")
    assert status == 403 and error(body).code == "InvalidAccessKeyId"
    status, _, _ = cos.request("PUT", url + "&x-cos-security-token=" + enc("session-token+/="), b"t")
    assert status == 200
    status, _, _ = signed_put(cos, "tmp2.txt", b"t", secret_id=TOKEN_ID,
                              extra={"x-cos-security-token": "session-token+/="})
    assert status == 200


# --- CORS, strict mode, the store -----------------------------------------------------------------


def test_cors_on_put_and_get(cos: Server) -> None:
    signed = {"Host": HOST, "Content-Length": "1"}
    auth = sign("PUT", "/cors.txt", {}, signed, key_time=key_time())
    _, headers, _ = cos.request("PUT", "/cors.txt", b"c", {**signed, "Authorization": auth,
                                                           "Origin": "https://page.example"})
    assert headers["access-control-allow-origin"] == "https://page.example"
    assert "ETag" in headers["access-control-expose-headers"]
    status, headers, _ = cos.request("OPTIONS", "/cors.txt", headers={
        "Origin": "https://page.example", "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "authorization,content-type"})
    assert status == 200 and "PUT" in headers["access-control-allow-methods"]
    assert headers["access-control-allow-headers"] == "authorization,content-type"


def test_expose_headers_configurable() -> None:
    server = Server(expose_headers=("x-cos-request-id",))
    try:
        _, headers, _ = server.request("GET", "/none", headers={"Origin": "https://page.example"})
        assert headers["access-control-expose-headers"] == "x-cos-request-id"
    finally:
        server.stop()


def test_strict_signature() -> None:
    server = Server(strict_signature=True)
    try:
        signed = {"Host": HOST, "Content-Length": "1"}
        auth = sign("PUT", "/s.txt", {}, signed, key_time=key_time())
        status, _, body = server.request("PUT", "/s.txt", b"s", {**signed, "Content-Type": "image/png",
                                                                 "Authorization": auth})
        doc = error(body)
        assert (status, doc.code, doc.message) == (403, "AccessDenied",
                                                   "Strict signature missing header that must be signed")
        assert signed_put(server, "s.txt", b"s", content_type="image/png")[0] == 200
    finally:
        server.stop()


def test_store_is_bounded() -> None:
    server = Server(store_bytes=10, store_objects=3)
    try:
        for i in range(5):
            assert signed_put(server, f"o{i}", b"12345")[0] == 200
        assert server.emulator.stored_bytes <= 10
        assert server.emulator.fetch(BUCKET, "o4").data == b"12345"
        assert server.emulator.fetch(BUCKET, "o0") is None
        assert signed_put(server, "big", b"x" * 11)[0] == 200      # accepted, too big to keep
        assert server.emulator.fetch(BUCKET, "big") is None
    finally:
        server.stop()
