"""Tencent's own COS SDKs, used as they are, against the local emulator (no proxy in between).

cos-python-sdk-v5 (requirements-dev.txt), cos-nodejs-sdk-v5 and cos-js-sdk-v5 (tests/e2e/sdk,
installed by `npm ci` there; .ci/run does it) sign real requests; the emulator must accept the
valid ones and answer each deliberate mistake with COS's error. That shows the emulator's
verification matches the SDKs' signing, so the emulator can stand in for COS in the other tests.

Each SDK is pointed at the emulator as its HTTP proxy: requests keep the real bucket host name
(which the SDKs sign) and reach 127.0.0.1. cos-js-sdk-v5 runs in headless Chromium, which sends
its cross-origin PUTs with a CORS preflight as a page would.
"""
from __future__ import annotations

import http.server
import json
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
import requests

import cosrig
import upload_page

pytestmark = pytest.mark.e2e

SDK_DIR = Path(__file__).with_name("sdk")
REGION = "ap-beijing"
BUCKET = cosrig.BUCKET
WRONG_KEY = "WrongSecretKeyOf32CharactersXYZ0"
KEYS = ["sdk/plain.txt", "sdk/a+b.txt", "sdk/a b.txt", "sdk/腾讯云 文件+1.txt"]
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync")


def node_modules() -> Path:
    """Checked inside each test: a machine without the npm packages fails them, never skips."""
    path = SDK_DIR / "node_modules"
    if not (path / "cos-nodejs-sdk-v5").is_dir() or not (path / "cos-js-sdk-v5").is_dir():
        pytest.fail(f"the SDK packages are not installed: run `npm ci` in {SDK_DIR} (.ci/run does)", pytrace=False)
    return path


@pytest.fixture(scope="module")
def cos(tmp_path_factory):
    emulator = cosrig.EmulatorThread.start(cosrig.write_credentials(tmp_path_factory.mktemp("sdk")))
    yield emulator
    emulator.stop()


@pytest.fixture(scope="module")
def cos_ahead(tmp_path_factory):
    """COS whose clock runs an hour ahead of the client's: what a phone with a slow clock meets."""
    emulator = cosrig.EmulatorThread.start(cosrig.write_credentials(tmp_path_factory.mktemp("sdk-ahead")),
                                           clock_offset=3600)
    yield emulator
    emulator.stop()


def proxy_of(emulator) -> str:
    return f"http://127.0.0.1:{emulator.port}"


def fetch(emulator, method: str, url: str, body: bytes | None = None) -> requests.Response:
    """Use a presigned URL as an application would (plain HTTP, through the emulator-as-proxy)."""
    return requests.request(method, url, data=body, proxies={"http": proxy_of(emulator)}, timeout=30)


def cos_error(response: requests.Response) -> tuple[int, str, str]:
    from cosdoctor.wire.errorxml import parse_error_xml
    doc = parse_error_xml(response.content)
    assert doc is not None, response.content
    return response.status_code, doc.code, doc.message


def engine(emulator, method: str, key: str, *, secret_key: str = cosrig.SECRET_KEY, now: int | None = None,
           presigned: bool | None = None):
    """The core's signature engine on the latest request the emulator saw for ``method`` and ``key``
    (``presigned``: only query-signed or only header-signed ones): the SDK's real request checked by
    a second, independent implementation."""
    from cosdoctor.cos.hosts import parse_cos_host
    from cosdoctor.cos.operations import decode_path
    from cosdoctor.cos.xmlsig import analyse_signature
    for req in reversed(emulator.emulator.seen):
        if presigned is not None and ("authorization" not in req.headers) != presigned:
            continue
        if req.method == method and decode_path(req.raw_path) == "/" + key:
            return analyse_signature(req.method, req.raw_path, req.raw_query, req.headers, secret_key=secret_key,
                                     server_now=now, endpoint=parse_cos_host(req.host, req.raw_path))
    raise AssertionError(f"the emulator saw no {method} {key}")


# --- cos-python-sdk-v5 ----------------------------------------------------------------------------


def python_client(emulator, secret_key: str = cosrig.SECRET_KEY):
    from qcloud_cos import CosConfig, CosS3Client
    proxy = proxy_of(emulator)
    return CosS3Client(CosConfig(Region=REGION, SecretId=cosrig.SECRET_ID, SecretKey=secret_key, Scheme="http",
                                 Proxies={"http": proxy, "https": proxy}))


@pytest.mark.parametrize("key", KEYS)
def test_python_put_and_get(cos, key):
    client = python_client(cos)
    body = f"python {key}".encode()
    answer = client.put_object(Bucket=BUCKET, Body=body, Key=key)
    assert answer["ETag"].strip('"') == cos.emulator.fetch(BUCKET, key).etag
    got = client.get_object(Bucket=BUCKET, Key=key)
    assert got["Body"].get_raw_stream().read() == body
    for method in ("PUT", "GET"):
        verdict = engine(cos, method, key)
        assert (verdict.auth_source, verdict.signature_matches, verdict.mistake) == ("authorization", True, None)


def test_python_presigned_get_and_put(cos):
    client = python_client(cos)
    key = "sdk/presigned 腾讯+.bin"
    put_url = client.get_presigned_url(Bucket=BUCKET, Key=key, Method="PUT", Expired=300)
    assert fetch(cos, "PUT", put_url, b"via presigned put").status_code == 200
    get_url = client.get_presigned_url(Bucket=BUCKET, Key=key, Method="GET", Expired=300)
    response = fetch(cos, "GET", get_url)
    assert (response.status_code, response.content) == (200, b"via presigned put")


def test_python_wrong_secret_key(cos):
    from qcloud_cos.cos_exception import CosServiceError
    with pytest.raises(CosServiceError) as caught:
        python_client(cos, WRONG_KEY).put_object(Bucket=BUCKET, Body=b"x", Key="sdk/wrong-key.txt")
    assert (caught.value.get_status_code(), caught.value.get_error_code()) == (403, "SignatureDoesNotMatch")
    assert cos.emulator.fetch(BUCKET, "sdk/wrong-key.txt") is None
    assert engine(cos, "PUT", "sdk/wrong-key.txt").mistake == "wrong-secret-key"


def test_python_presigned_url_mistakes(cos, cos_ahead):
    client = python_client(cos)
    get_url = client.get_presigned_url(Bucket=BUCKET, Key="sdk/plain.txt", Method="GET", Expired=60)
    assert cos_error(fetch(cos_ahead, "GET", get_url)) == (403, "AccessDenied", "Request has expired")
    late = engine(cos_ahead, "GET", "sdk/plain.txt", now=cos_ahead.emulator.now())
    assert (late.auth_source, late.signature_matches, late.mistake) == ("query", True, "expired-sign-time")
    status, code, _ = cos_error(fetch(cos, "PUT", get_url, b"overwrite"))
    assert (status, code) == (403, "SignatureDoesNotMatch")
    swapped = engine(cos, "PUT", "sdk/plain.txt")
    assert swapped.mistake == "signed-other-method" and swapped.variant["signed"] == "get"
    status, code, _ = cos_error(fetch(cos, "POST", get_url, b"x"))
    assert (status, code) == (405, "MethodNotAllowed")


def seen_since(emulator, start: int) -> list:
    return list(emulator.emulator.seen)[start:]


def multipart_calls(requests_seen) -> list[tuple[str, str]]:
    """(method, the query's names as sent) of each request, in order."""
    return [(r.method, "&".join(n for n, _ in r.params)) for r in requests_seen]


MIB = 1024 ** 2


def test_python_multipart_upload(cos):
    client = python_client(cos)
    key = "sdk/multipart 腾讯+1.bin"
    first, second = bytes(range(256)) * 4096, b"python tail"
    start = len(cos.emulator.seen)
    upload_id = client.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    parts = []
    for number, data in ((1, first), (2, second)):
        answer = client.upload_part(Bucket=BUCKET, Key=key, Body=data, PartNumber=number, UploadId=upload_id)
        parts.append({"PartNumber": number, "ETag": answer["ETag"]})
    listed = client.list_parts(Bucket=BUCKET, Key=key, UploadId=upload_id)
    assert [int(p["PartNumber"]) for p in listed["Part"]] == [1, 2]
    done = client.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload_id,
                                            MultipartUpload={"Part": parts})
    assert done["ETag"].strip('"').endswith("-2")
    sent = seen_since(cos, start)
    got = client.get_object(Bucket=BUCKET, Key=key)
    assert got["Body"].get_raw_stream().read() == first + second
    # the SDK's casing (uploadId, partNumber); ListParts sends its paging names even when empty
    assert multipart_calls(sent) == [
        ("POST", "uploads"), ("PUT", "partNumber&uploadId"), ("PUT", "partNumber&uploadId"),
        ("GET", "uploadId&part-number-marker&max-parts&encoding-type"), ("POST", "uploadId")]
    from cosdoctor.cos.hosts import parse_cos_host
    from cosdoctor.cos.xmlsig import analyse_signature
    for req in sent:   # each verified by the core's engine too
        verdict = analyse_signature(req.method, req.raw_path, req.raw_query, req.headers,
                                    secret_key=cosrig.SECRET_KEY, endpoint=parse_cos_host(req.host, req.raw_path))
        assert verdict.signature_matches is True, (req.method, req.raw_query)


def test_python_upload_file_in_parts(cos, tmp_path):
    client = python_client(cos)
    key = "sdk/upload_file parts.bin"
    data = bytes(range(251)) * (MIB * 5 // 2 // 251 + 1)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    start = len(cos.emulator.seen)
    client.upload_file(Bucket=BUCKET, Key=key, LocalFilePath=str(path), PartSize=1, MAXThread=2)
    calls = multipart_calls(seen_since(cos, start))
    assert cos.emulator.fetch(BUCKET, key).data == data
    got = client.get_object(Bucket=BUCKET, Key=key)
    assert got["Body"].get_raw_stream().read() == data
    # upload_file looks for an upload to resume first (List Multipart Uploads on the key)
    assert calls[0] == ("GET", "uploads&prefix&delimiter&key-marker&upload-id-marker&max-uploads&encoding-type")
    assert ("POST", "uploads") in calls and calls.count(("PUT", "partNumber&uploadId")) == 3, calls
    assert calls[-1] == ("POST", "uploadId"), calls


# --- cos-nodejs-sdk-v5 ----------------------------------------------------------------------------


def run_node_sdk(steps: list[dict], *, proxy: str, **options) -> list[dict]:
    """cos-nodejs-sdk-v5 running `steps` (node_driver.js) through the HTTP proxy `proxy`."""
    node_modules()
    spec = {"options": {"SecretId": cosrig.SECRET_ID, "SecretKey": cosrig.SECRET_KEY, "Protocol": "http:",
                        "Proxy": proxy, **options},
            "steps": [{"Bucket": BUCKET, "Region": REGION, **s} for s in steps]}
    done = subprocess.run(["node", str(SDK_DIR / "node_driver.js"), json.dumps(spec)], capture_output=True,
                          text=True, timeout=120, cwd=str(SDK_DIR))
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def run_node(emulator, steps: list[dict], **options) -> list[dict]:
    return run_node_sdk(steps, proxy=proxy_of(emulator), **options)


def test_node_put_and_get(cos):
    steps = []
    for key in KEYS:
        steps += [{"op": "putObject", "Key": key, "Body": f"node {key}"}, {"op": "getObject", "Key": key}]
    results = run_node(cos, steps)
    for i, key in enumerate(KEYS):
        put, get = results[2 * i], results[2 * i + 1]
        assert put["ok"] and put["statusCode"] == 200, put
        assert put["etag"].strip('"') == cos.emulator.fetch(BUCKET, key).etag
        assert get["ok"] and get["body"] == f"node {key}", get
        assert engine(cos, "PUT", key).signature_matches is True


def test_node_presigned_get_and_put(cos):
    key = "sdk/node presigned+腾讯.bin"
    put, get = run_node(cos, [{"op": "getObjectUrl", "Key": key, "Method": "PUT", "Expires": 300},
                              {"op": "getObjectUrl", "Key": key, "Method": "GET", "Expires": 300}])
    assert fetch(cos, "PUT", put["url"], b"node presigned").status_code == 200
    response = fetch(cos, "GET", get["url"])
    assert (response.status_code, response.content) == (200, b"node presigned")


def test_node_wrong_secret_key(cos):
    (put,) = run_node(cos, [{"op": "putObject", "Key": "sdk/node-wrong.txt", "Body": "x"}], SecretKey=WRONG_KEY)
    assert (put["ok"], put["statusCode"], put["code"]) == (False, 403, "SignatureDoesNotMatch")
    assert cos.emulator.fetch(BUCKET, "sdk/node-wrong.txt") is None
    assert engine(cos, "PUT", "sdk/node-wrong.txt").mistake == "wrong-secret-key"


def test_node_presigned_url_mistakes(cos, cos_ahead):
    (get,) = run_node(cos, [{"op": "getObjectUrl", "Key": "sdk/plain.txt", "Method": "GET", "Expires": 60}])
    assert cos_error(fetch(cos_ahead, "GET", get["url"])) == (403, "AccessDenied", "Request has expired")
    assert engine(cos_ahead, "GET", "sdk/plain.txt", now=cos_ahead.emulator.now()).mistake == "expired-sign-time"
    status, code, _ = cos_error(fetch(cos, "PUT", get["url"], b"overwrite"))
    assert (status, code) == (403, "SignatureDoesNotMatch")
    assert engine(cos, "PUT", "sdk/plain.txt").mistake == "signed-other-method"



def test_node_slice_upload_file(cos, tmp_path):
    key = "sdk/node slice+腾讯.bin"
    data = bytes(range(253)) * (MIB * 5 // 2 // 253 + 1)
    path = tmp_path / "node-big.bin"
    path.write_bytes(data)
    start = len(cos.emulator.seen)
    (up,) = run_node(cos, [{"op": "sliceUploadFile", "Key": key, "FilePath": str(path), "SliceSize": MIB}])
    assert up["ok"], up
    assert cos.emulator.fetch(BUCKET, key).data == data
    assert up["etag"].strip('"') == cos.emulator.fetch(BUCKET, key).etag
    assert cos.emulator.fetch(BUCKET, key).etag.endswith("-3")
    calls = multipart_calls(seen_since(cos, start))
    # it too looks for an upload to resume first (List Multipart Uploads, only prefix), sends
    # "uploads=" and signs Content-MD5 on each part and on Complete
    assert calls[0] == ("GET", "uploads&prefix"), calls
    parts = [r for r in seen_since(cos, start) if r.method == "PUT"]
    assert all(r.headers.get("content-md5") for r in parts), parts
    assert ("POST", "uploads") in calls and calls.count(("PUT", "partNumber&uploadId")) == 3, calls
    assert calls[-1] == ("POST", "uploadId"), calls


def test_node_corrects_its_clock_from_the_answer(cos_ahead):
    """The SDK signs with its own clock, gets "Request has expired" with Date/ServerTime, corrects
    its clock and retries (cos-xml-api.md §1.2): the emulator's answer carries what it needs."""
    before = cos_ahead.emulator.counts["PUT"]
    (put,) = run_node(cos_ahead, [{"op": "putObject", "Key": "sdk/skewed.txt", "Body": "late"}])
    assert put["ok"], put
    assert cos_ahead.emulator.counts["PUT"] - before == 2
    assert cos_ahead.emulator.fetch(BUCKET, "sdk/skewed.txt").data == b"late"


# --- cos-js-sdk-v5 in headless Chromium -----------------------------------------------------------


class StaticServer:
    """The page and the SDK's own bundle, from 127.0.0.1 (a different origin from the bucket)."""

    def __init__(self, files: dict[str, tuple[str, bytes]]) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format, *args):  # noqa: A002 - quiet
                pass

            def do_GET(self) -> None:
                content_type, body = files.get(self.path, ("text/plain", b"not found"))
                self.send_response(200 if self.path in files else 404)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def chromium_binary() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("chromium is not installed (Debian: apt-get install -y chromium)", pytrace=False)


def run_sdk_page(steps: list[dict], profile: Path, *, proxy: str, protocol: str = "http:",
                 env: dict | None = None, log=lambda: "") -> list[dict]:
    """cos-js-sdk-v5 in headless Chromium running `steps` (browser_driver.js); what each step got.

    The page's own origin is loopback, which Chromium never sends to a proxy; the bucket host goes
    to `proxy` (the emulator acting as an HTTP proxy, or mitmdump). `log` adds a log to a failure."""
    bundle = (node_modules() / "cos-js-sdk-v5" / "dist" / "cos-js-sdk-v5.min.js").read_bytes()
    spec = {"options": {"SecretId": cosrig.SECRET_ID, "SecretKey": cosrig.SECRET_KEY, "Protocol": protocol},
            "steps": [{"Bucket": BUCKET, "Region": REGION, **s} for s in steps]}
    embedded = json.dumps(spec).replace("<", "\\u003c")
    page = ('<!doctype html><html><head><meta charset="utf-8"></head><body><pre id="result">pending</pre>'
            f'<script>window.SPEC = {embedded};</script>'
            '<script src="/cos-js-sdk-v5.min.js"></script><script src="/driver.js"></script></body></html>')
    server = StaticServer({"/": ("text/html; charset=utf-8", page.encode()),
                           "/cos-js-sdk-v5.min.js": ("application/javascript", bundle),
                           "/driver.js": ("application/javascript", (SDK_DIR / "browser_driver.js").read_bytes())})
    try:
        args = [chromium_binary(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                f"--proxy-server={proxy}", "--dump-dom", "--virtual-time-budget=20000", server.url]
        done = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env)
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr[-3000:]
    found = upload_page.read_result(done.stdout)
    assert isinstance(found, list), f"the page wrote no result:\n{done.stdout[-3000:]}\n{log()[-3000:]}"
    return found


def run_browser(emulator, steps: list[dict], profile: Path) -> list[dict]:
    return run_sdk_page(steps, profile, proxy=proxy_of(emulator))


def test_js_sdk_in_the_browser(cos, tmp_path):
    steps = [{"op": "putObject", "Key": key, "Body": f"browser {key}", "ContentType": "text/plain"} for key in KEYS]
    steps += [{"op": "getObject", "Key": key} for key in KEYS]
    steps += [
        {"op": "getObjectUrl", "Key": "sdk/js presigned+腾讯.txt", "Method": "PUT", "Expires": 300,
         "then": {"method": "PUT", "body": "js presigned"}},
        {"op": "getObjectUrl", "Key": "sdk/js presigned+腾讯.txt", "Method": "GET", "Expires": 300,
         "then": {"method": "GET"}},
        # deliberate mistakes
        {"op": "putObject", "Key": "sdk/js-wrong.txt", "Body": "x", "options": {"SecretKey": WRONG_KEY}},
        {"op": "getObjectUrl", "Key": "sdk/plain.txt", "Method": "GET", "Expires": 300,
         "then": {"method": "PUT", "body": "overwrite"}},
        {"op": "getObjectUrl", "Key": "sdk/plain.txt", "Method": "GET", "Expires": 60,
         "options": {"SystemClockOffset": -3600 * 1000}, "then": {"method": "GET"}},
    ]
    results = run_browser(cos, steps, tmp_path / "profile")
    assert len(results) == len(steps), results
    puts, gets = results[:len(KEYS)], results[len(KEYS):2 * len(KEYS)]
    for key, put, get in zip(KEYS, puts, gets):
        assert put["ok"] and put["statusCode"] == 200, (key, put)
        assert put["etag"] and put["etag"].strip('"') == cos.emulator.fetch(BUCKET, key).etag  # ETag exposed
        assert get["ok"] and get["body"] == f"browser {key}", (key, get)
        assert engine(cos, "PUT", key, presigned=False).signature_matches is True
    presigned_put, presigned_get, wrong_key, other_method, expired = results[2 * len(KEYS):]
    assert presigned_put["fetch"]["status"] == 200, presigned_put
    assert presigned_get["fetch"] == {"status": 200, "body": "js presigned", "diagnosis": None}
    assert (wrong_key["ok"], wrong_key["statusCode"]) == (False, 403), wrong_key
    assert "SignatureDoesNotMatch" in (wrong_key["code"] or "") + (wrong_key["message"] or ""), wrong_key
    assert other_method["fetch"]["status"] == 403
    assert "<Code>SignatureDoesNotMatch</Code>" in other_method["fetch"]["body"]
    assert engine(cos, "PUT", "sdk/plain.txt").mistake == "signed-other-method"
    assert engine(cos, "PUT", "sdk/js-wrong.txt").mistake == "wrong-secret-key"
    assert expired["fetch"]["status"] == 403
    assert "<Message>Request has expired</Message>" in expired["fetch"]["body"]
    assert engine(cos, "GET", "sdk/plain.txt", now=cos.emulator.now()).mistake == "expired-sign-time"
    assert cos.emulator.fetch(BUCKET, "sdk/plain.txt").data == b"browser sdk/plain.txt"   # never overwritten
