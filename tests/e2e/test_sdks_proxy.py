"""Tencent's own SDKs through the real mitmdump with the addon, in block mode, in front of the emulator.

cos-python-sdk-v5 and cos-nodejs-sdk-v5 (used as they are) take mitmdump as their HTTP proxy, so
they sign the real bucket host; tests/e2e/redirect_addon.py sends the bucket host to the loopback
emulator with the Host kept, and tests/e2e/flowlog_addon.py (loaded after the COS addon) writes what
each client received. Valid requests must pass untouched in block mode: the emulator answered them,
no local answer, no X-COS-Diagnosis, one report record each. Each deliberate mistake (one test
function each) must get the contract's finding ID and `mistake`.
"""
from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import time
from pathlib import Path
from urllib.parse import quote, unquote

import pytest
import requests

import cosrig
from test_sdks import BUCKET, REGION, WRONG_KEY, run_node_sdk

pytestmark = pytest.mark.e2e

HERE = Path(__file__).parent
REDIRECT_ADDON = HERE / "redirect_addon.py"
FLOWLOG_ADDON = HERE / "flowlog_addon.py"
COS_HOST = cosrig.COS_HOST


class ProxyRig:
    def __init__(self, workdir: Path, emulator: cosrig.EmulatorThread, proxy: cosrig.Proxy) -> None:
        self.workdir, self.emulator, self.proxy = workdir, emulator, proxy
        self.report, self.flowlog = workdir / "report.jsonl", workdir / "flows.jsonl"

    @staticmethod
    def _lines(path: Path) -> list[dict]:
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def records(self) -> list[dict]:
        return self._lines(self.report)

    def flows(self) -> list[dict]:
        return self._lines(self.flowlog)

    @staticmethod
    def poll(find, timeout: float = 5):
        """The report and the flow log are written as each flow ends: give the last line time to land."""
        deadline = time.monotonic() + timeout
        while not (found := find()) and time.monotonic() < deadline:
            time.sleep(0.05)
        return found

    def exchanges(self, method: str, key: str, auth: str | None = None) -> list[tuple[dict, dict]]:
        """(flow, report record) of each request for `key` (as the client wrote it, before COS's
        decoding) with `method`; `auth`: "query" (presigned) or "header" only. Found through the
        flow log, so a record that lacks its key or operation is still found and then judged."""
        def find():
            found = []
            for flow in self.flows():
                path, _, query = flow["path"].partition("?")
                presigned = "q-signature=" in query
                if flow["method"] != method or unquote(path) != "/" + key:
                    continue
                if auth is not None and presigned != (auth == "query"):
                    continue
                records = [r for r in self.records() if r["flow_id"] == flow["id"]]
                found.append((flow, records[0] if records else None))
            return found if found and all(r is not None for _, r in found) else []
        return self.poll(find)

    def one_exchange(self, method: str, key: str, auth: str | None = None) -> tuple[dict, dict]:
        found = self.exchanges(method, key, auth)
        assert len(found) == 1, f"expected one {method} {key!r} flow with its report record, got {found}"
        return found[0]


def start_proxy_rig(tmp_path_factory, name: str, *options: str,
                    keys=((cosrig.SECRET_ID, cosrig.SECRET_KEY),), **emulator_options) -> ProxyRig:
    """mitmdump as a regular HTTP(S) proxy: redirect addon, the COS addon, then the flow log.
    `keys`: the (SecretId, SecretKey[, Token]) entries of the one credentials file both use."""
    workdir = tmp_path_factory.mktemp(name)
    credentials = cosrig.write_credentials(workdir, keys)
    emulator = cosrig.EmulatorThread.start(credentials, **emulator_options)
    try:
        proxy = cosrig.Proxy.start(
            emulator.port, "--set", f"cos_credentials={credentials}", "--set", f"cos_report={workdir / 'report.jsonl'}",
            "--set", f"test_redirect_to=127.0.0.1:{emulator.port}", "--set", "cos_validate=block",
            "-s", str(FLOWLOG_ADDON), "--set", f"test_flowlog={workdir / 'flows.jsonl'}", *options,
            workdir=workdir, mode="regular", extra_scripts=(str(REDIRECT_ADDON),))
    except Exception:
        emulator.stop()
        raise
    return ProxyRig(workdir, emulator, proxy)


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    r = start_proxy_rig(tmp_path_factory, "sdk-proxy")
    yield r
    r.proxy.stop()
    r.emulator.stop()


def assert_untouched(rig: ProxyRig, method: str, key: str, status: int, operation: str, auth: str) -> dict:
    """The request went to the emulator, its answer reached the client as sent, and the report has
    exactly one record for it, without any finding."""
    flow, record = rig.one_exchange(method, key, auth)
    assert flow["upstream"] is True and flow["status"] == status and flow["diagnosis"] is None, flow
    assert record["action"] == "forwarded" and record["status"] == status and record["error"] is None, record
    assert record["host"] == COS_HOST and record["bucket"] == BUCKET and record["region"] == REGION
    assert record["findings"] == [], record["findings"]      # not even a warning on a valid request
    # the contract's keys for every upload path (issue 11)
    assert (record["key"], record["operation"], record["auth"]) == (key, operation, auth), record
    assert (record["upload_id"], record["part_number"]) == (None, None), record
    return record


def assert_every_flow_recorded(rig: ProxyRig) -> None:
    flows = [f for f in rig.flows() if f["host"].split(":")[0] == COS_HOST]
    assert flows, "no COS flow went through the proxy"
    assert {f["id"] for f in flows} <= {r["flow_id"] for r in rig.records()}


def error_finding(record: dict) -> dict:
    errors = [f for f in record["findings"] if f["severity"] == "error"]
    assert errors, f"no error finding: {record['findings']}"
    return errors[0]


# --- cos-python-sdk-v5 ----------------------------------------------------------------------------

PY_KEYS = ["py/plain.txt", "py/a+b.txt", "py/a b.txt", "py/腾讯云 文件+1.txt"]


def python_client(rig: ProxyRig, secret_key: str = cosrig.SECRET_KEY):
    from qcloud_cos import CosConfig, CosS3Client
    return CosS3Client(CosConfig(Region=REGION, SecretId=cosrig.SECRET_ID, SecretKey=secret_key, Scheme="http",
                                 Proxies={"http": rig.proxy.url, "https": rig.proxy.url}))


def via_proxy(rig: ProxyRig, method: str, url: str, body: bytes | None = None) -> requests.Response:
    """A presigned URL used as an application would: plain HTTP through the proxy."""
    return requests.request(method, url, data=body, proxies={"http": rig.proxy.url}, timeout=30)


def test_python_sdk_put_get_and_presigned_urls_pass_untouched(rig):
    client = python_client(rig)
    for key in PY_KEYS:
        body = f"python {key}".encode()
        answer = client.put_object(Bucket=BUCKET, Body=body, Key=key)
        assert answer["ETag"].strip('"') == rig.emulator.emulator.fetch(BUCKET, key).etag
        assert "X-COS-Diagnosis" not in answer
        assert client.get_object(Bucket=BUCKET, Key=key)["Body"].get_raw_stream().read() == body
    key = "py/presigned 腾讯+.bin"
    assert_presigned_and_all_untouched(rig, PY_KEYS, key, b"via presigned put",
                                       client.get_presigned_url(Bucket=BUCKET, Key=key, Method="PUT", Expired=300),
                                       client.get_presigned_url(Bucket=BUCKET, Key=key, Method="GET", Expired=300))


def assert_presigned_and_all_untouched(rig, keys: list[str], key: str, body: bytes, put_url: str,
                                       get_url: str) -> None:
    """The presigned PUT and GET of `key` work through the proxy, and every flow of the session (the
    header-signed `keys` and the presigned pair) passed untouched with its one clean record."""
    assert via_proxy(rig, "PUT", put_url, body).status_code == 200
    got = via_proxy(rig, "GET", get_url)
    assert (got.status_code, got.content, got.headers.get("X-COS-Diagnosis")) == (200, body, None)
    for k in keys:
        assert_untouched(rig, "PUT", k, 200, "PutObject", "header")
        assert_untouched(rig, "GET", k, 200, "GetObject", "header")
    assert_untouched(rig, "PUT", key, 200, "PutObject", "query")
    assert_untouched(rig, "GET", key, 200, "GetObject", "query")
    assert_every_flow_recorded(rig)


def test_python_wrong_secret_key(rig):
    from qcloud_cos.cos_exception import CosServiceError
    key = "py/wrong-key.txt"
    with pytest.raises(CosServiceError) as caught:
        python_client(rig, WRONG_KEY).put_object(Bucket=BUCKET, Body=b"x", Key=key)
    assert (caught.value.get_status_code(), caught.value.get_error_code()) == (403, "SignatureDoesNotMatch")
    flow, record = rig.one_exchange("PUT", key)
    finding = error_finding(record)
    assert (finding["id"], finding["evidence"]["mistake"]) == ("SignatureDoesNotMatch_Authorization", "wrong-secret-key")
    assert finding["evidence"]["verified"] is True
    assert flow["diagnosis"] == "SignatureDoesNotMatch_Authorization"


def test_python_get_url_used_for_put(rig):
    key = "py/get-url-put.txt"
    python_client(rig).put_object(Bucket=BUCKET, Body=b"original", Key=key)
    get_url = python_client(rig).get_presigned_url(Bucket=BUCKET, Key=key, Method="GET", Expired=300)
    assert via_proxy(rig, "PUT", get_url, b"overwrite").status_code == 403
    assert rig.emulator.emulator.fetch(BUCKET, key).data == b"original"
    _, record = rig.one_exchange("PUT", key, "query")
    finding = error_finding(record)
    assert (finding["id"], finding["evidence"]["mistake"]) == ("SignatureDoesNotMatch_Authorization",
                                                              "signed-other-method")


def test_python_expired_presigned_url(rig):
    key = "py/expired.txt"
    python_client(rig).put_object(Bucket=BUCKET, Body=b"x", Key=key)
    get_url = python_client(rig).get_presigned_url(Bucket=BUCKET, Key=key, Method="GET", Expired=1)
    time.sleep(2.2)                                  # the SDK signs now-60;now+Expired: now it is over
    answer = via_proxy(rig, "GET", get_url)
    assert answer.status_code == 403 and b"<Message>Request has expired</Message>" in answer.content
    _, record = rig.one_exchange("GET", key, "query")
    assert error_finding(record)["id"] == "AccessDenied_RequestExpired"
    assert answer.headers.get("X-COS-Diagnosis") == "AccessDenied_RequestExpired"


# --- cos-nodejs-sdk-v5 ----------------------------------------------------------------------------

NODE_KEYS = ["node/plain.txt", "node/a+b.txt", "node/a b.txt", "node/腾讯云 文件+1.txt"]


def run_node(rig: ProxyRig, steps: list[dict], **options) -> list[dict]:
    return run_node_sdk(steps, proxy=rig.proxy.url, **options)


def test_node_sdk_put_get_and_presigned_urls_pass_untouched(rig):
    steps = []
    for key in NODE_KEYS:
        steps += [{"op": "putObject", "Key": key, "Body": f"node {key}"}, {"op": "getObject", "Key": key}]
    key = "node/presigned 腾讯+.bin"
    steps += [{"op": "getObjectUrl", "Key": key, "Method": "PUT", "Expires": 300},
              {"op": "getObjectUrl", "Key": key, "Method": "GET", "Expires": 300}]
    results = run_node(rig, steps)
    for i, k in enumerate(NODE_KEYS):
        put, get = results[2 * i], results[2 * i + 1]
        assert put["ok"] and put["statusCode"] == 200, put
        assert put["etag"].strip('"') == rig.emulator.emulator.fetch(BUCKET, k).etag
        assert get["ok"] and get["body"] == f"node {k}", get
    assert_presigned_and_all_untouched(rig, NODE_KEYS, key, b"node presigned", results[-2]["url"], results[-1]["url"])


def test_node_wrong_secret_key(rig):
    key = "node/wrong-key.txt"
    (put,) = run_node(rig, [{"op": "putObject", "Key": key, "Body": "x"}], SecretKey=WRONG_KEY)
    assert (put["ok"], put["statusCode"], put["code"]) == (False, 403, "SignatureDoesNotMatch"), put
    flow, record = rig.one_exchange("PUT", key)
    finding = error_finding(record)
    assert (finding["id"], finding["evidence"]["mistake"]) == ("SignatureDoesNotMatch_Authorization", "wrong-secret-key")
    assert flow["diagnosis"] == "SignatureDoesNotMatch_Authorization"


def test_node_get_url_used_for_put(rig):
    key = "node/get-url-put.txt"
    put, get = run_node(rig, [{"op": "putObject", "Key": key, "Body": "original"},
                              {"op": "getObjectUrl", "Key": key, "Method": "GET", "Expires": 300}])
    assert put["ok"], put
    assert via_proxy(rig, "PUT", get["url"], b"overwrite").status_code == 403
    assert rig.emulator.emulator.fetch(BUCKET, key).data == b"original"
    _, record = rig.one_exchange("PUT", key, "query")
    finding = error_finding(record)
    assert (finding["id"], finding["evidence"]["mistake"]) == ("SignatureDoesNotMatch_Authorization",
                                                              "signed-other-method")


def test_node_expired_presigned_url(rig):
    """The SDK signs with a clock an hour behind (SystemClockOffset): a 60 s URL is over on arrival."""
    key = "node/expired.txt"
    put, get = run_node(rig, [{"op": "putObject", "Key": key, "Body": "x"},
                              {"op": "getObjectUrl", "Key": key, "Method": "GET", "Expires": 60}])
    assert put["ok"], put
    (late,) = run_node(rig, [{"op": "getObjectUrl", "Key": key, "Method": "GET", "Expires": 60}],
                       SystemClockOffset=-3600 * 1000)
    assert late["url"] != get["url"]
    answer = via_proxy(rig, "GET", late["url"])
    assert answer.status_code == 403 and b"<Message>Request has expired</Message>" in answer.content
    _, record = rig.one_exchange("GET", key, "query")
    assert error_finding(record)["id"] == "AccessDenied_RequestExpired"
    assert answer.headers.get("X-COS-Diagnosis") == "AccessDenied_RequestExpired"


# --- a raw-HTTP client that signs `+` literally ----------------------------------------------------


def xml_api_authorization(secret_id: str, secret_key: str, method: str, signed_path: str,
                          headers: dict[str, str], now: int) -> str:
    """The XML-API signature as COS documents it (cos-post-object.md §3.3), written here from the
    documentation: KeyTime, SignKey = HMAC(SecretKey, KeyTime), HttpString, StringToSign."""
    key_time = f"{now - 60};{now + 600}"
    names = sorted(name.lower() for name in headers)
    lowered = {name.lower(): value for name, value in headers.items()}
    http_headers = "&".join(f"{n}={quote(lowered[n], safe='-_.~')}" for n in names)
    http_string = f"{method.lower()}\n{signed_path}\n\n{http_headers}\n"
    string_to_sign = f"sha1\n{key_time}\n{hashlib.sha1(http_string.encode()).hexdigest()}\n"
    sign_key = hmac.new(secret_key.encode(), key_time.encode(), hashlib.sha1).hexdigest()
    signature = hmac.new(sign_key.encode(), string_to_sign.encode(), hashlib.sha1).hexdigest()
    return (f"q-sign-algorithm=sha1&q-ak={secret_id}&q-sign-time={key_time}&q-key-time={key_time}"
            f"&q-header-list={';'.join(names)}&q-url-param-list=&q-signature={signature}")


def test_raw_client_signs_plus_literally(rig):
    """A client puts `+` raw in the URL and signs it as `+`; COS reads a raw `+` as a space."""
    key = "raw/a+b.txt"
    headers = {"Host": COS_HOST, "Content-Length": "3"}
    authorization = xml_api_authorization(cosrig.SECRET_ID, cosrig.SECRET_KEY, "PUT", "/" + key, headers,
                                          int(time.time()))
    connection = http.client.HTTPConnection("127.0.0.1", rig.proxy.port, timeout=30)
    try:
        connection.request("PUT", f"http://{COS_HOST}/{key}", body=b"raw",
                           headers={**headers, "Authorization": authorization})
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    assert response.status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in body, body
    assert rig.emulator.emulator.fetch(BUCKET, "raw/a b.txt") is None
    _, record = rig.one_exchange("PUT", key)
    finding = error_finding(record)
    assert (finding["id"], finding["evidence"]["mistake"]) == ("SignatureDoesNotMatch_Authorization",
                                                              "signed-other-path")
    assert response.getheader("X-COS-Diagnosis") == "SignatureDoesNotMatch_Authorization"


def test_raw_client_signature_is_right_when_plus_is_encoded(rig):
    """The same client and key with `+` sent as %2B: accepted, untouched (so the test above fails
    for the `+` alone, not for the hand-made signature)."""
    key = "raw/c+d.txt"
    headers = {"Host": COS_HOST, "Content-Length": "3"}
    authorization = xml_api_authorization(cosrig.SECRET_ID, cosrig.SECRET_KEY, "PUT", "/" + key, headers,
                                          int(time.time()))
    connection = http.client.HTTPConnection("127.0.0.1", rig.proxy.port, timeout=30)
    try:
        connection.request("PUT", f"http://{COS_HOST}/raw/c%2Bd.txt", body=b"raw",
                           headers={**headers, "Authorization": authorization})
        response = connection.getresponse()
        response.read()
    finally:
        connection.close()
    assert response.status == 200
    assert rig.emulator.emulator.fetch(BUCKET, key).data == b"raw"
    assert_untouched(rig, "PUT", key, 200, "PutObject", "header")


# --- multipart uploads (issue 12) -------------------------------------------------------------

MIB = 1024 ** 2


def records_for(rig: ProxyRig, key: str, count: int) -> list[dict]:
    """The report records of every flow for `key`, in order, once `count` of them are written."""
    found = rig.poll(lambda: (lambda rs: rs if len(rs) >= count else [])(
        [r for r in rig.records() if r.get("key") == key]))
    assert len(found) >= count, [r.get("operation") for r in rig.records() if r.get("key") == key]
    return found


def test_python_upload_file_in_parts_passes_untouched(rig, tmp_path):
    """A valid multipart session (list uploads, initiate, parts, complete) in block mode: every
    flow forwarded, its upload id and part number recorded, no finding at all."""
    key = "sdk/mpu valid.bin"
    path = tmp_path / "valid.bin"
    data = bytes(range(241)) * (MIB * 5 // 2 // 241 + 1)
    path.write_bytes(data)
    python_client(rig).upload_file(Bucket=BUCKET, Key=key, LocalFilePath=str(path), PartSize=1, MAXThread=2)
    assert rig.emulator.emulator.fetch(BUCKET, key).data == data
    records = records_for(rig, key, 5)
    operations = [r["operation"] for r in records]
    assert operations.count("UploadPart") == 3 and "InitiateMultipartUpload" in operations, operations
    assert operations[-1] == "CompleteMultipartUpload", operations
    upload_ids = {r["upload_id"] for r in records if r["operation"] != "InitiateMultipartUpload"}
    assert len(upload_ids) == 1 and None not in upload_ids, upload_ids
    assert sorted(r["part_number"] for r in records if r["operation"] == "UploadPart") == [1, 2, 3]
    for record in records:
        assert record["action"] == "forwarded" and record["findings"] == [], record


def upload_small_first_part(rig: ProxyRig, key: str, first: bytes) -> str:
    """The Python SDK's low-level calls: part 1 `first` (under 1 MB), part 2 of 1 MiB, Complete,
    which COS refuses with EntityTooSmall. The upload id."""
    client = python_client(rig)
    upload_id = client.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    parts = []
    for number, data in ((1, first), (2, b"x" * MIB)):
        answer = client.upload_part(Bucket=BUCKET, Key=key, Body=data, PartNumber=number, UploadId=upload_id)
        parts.append({"PartNumber": number, "ETag": answer["ETag"]})
    with pytest.raises(Exception) as failure:
        client.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload_id, MultipartUpload={"Part": parts})
    assert "EntityTooSmall" in str(failure.value)
    return upload_id


def test_python_small_first_part_is_seen_before_complete_and_explained_after(rig):
    """Part 1 under 1 MB, part 2 after it: the proxy warns on part 2's flow; COS's EntityTooSmall
    at Complete is explained with part 1, its size and the flows involved."""
    key = "sdk/mpu small-first.bin"
    upload_id = upload_small_first_part(rig, key, b"tiny first part")
    init, first, second, complete = records_for(rig, key, 4)[:4]
    assert [f["id"] for f in second["findings"]] == ["Warning_PartTooSmall"]
    assert second["findings"][0]["evidence"]["part_number"] == 1
    assert complete["action"] == "forwarded" and complete["status"] == 400      # never blocked: COS decides
    top = complete["findings"][0]
    assert top["id"] == "EntityTooSmall_PartSize" and top["phase"] == "response", complete["findings"]
    assert (top["evidence"]["upload_id"], top["evidence"]["part_number"], top["evidence"]["size"]) == \
        (upload_id, 1, len(b"tiny first part"))
    assert {init["flow_id"], first["flow_id"], complete["flow_id"]} <= set(top["evidence"]["flows"])


def test_node_slice_upload_file_passes_untouched(rig, tmp_path):
    key = "sdk/mpu node.bin"
    path = tmp_path / "node.bin"
    data = bytes(range(239)) * (MIB * 5 // 2 // 239 + 1)
    path.write_bytes(data)
    (up,) = run_node_sdk([{"op": "sliceUploadFile", "Key": key, "FilePath": str(path), "SliceSize": MIB}],
                         proxy=rig.proxy.url)
    assert up["ok"], up
    records = records_for(rig, key, 5)
    assert [r["operation"] for r in records].count("UploadPart") == 3
    for record in records:
        assert record["action"] == "forwarded" and record["findings"] == [], record


def test_saved_multipart_traffic_rebuilds_the_same_session(tmp_path_factory):
    """-w capture, then -nr: the flows are read back in capture order and the upload's session is
    rebuilt, so the offline audit says what the live proxy said (a warning on part 2, the small part
    named at Complete)."""
    saved = tmp_path_factory.mktemp("mpu-saved") / "flows.mitm"
    rig = start_proxy_rig(tmp_path_factory, "sdk-proxy-saved", "-w", str(saved))
    try:
        key = "sdk/mpu replayed.bin"
        upload_small_first_part(rig, key, b"small")
        live = [[f["id"] for f in r["findings"]] for r in records_for(rig, key, 4)]
    finally:
        rig.proxy.stop()
        rig.emulator.stop()
    report = saved.parent / "replayed.jsonl"
    result = cosrig.run_mitmdump("-nr", str(saved), "-s", str(cosrig.ADDON), "--set", f"cos_report={report}",
                                 workdir=saved.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    replayed = [json.loads(line) for line in report.read_text().splitlines()]
    replayed = [r for r in replayed if r.get("key") == key]
    assert [[f["id"] for f in r["findings"]] for r in replayed] == live
    assert live[2] == ["Warning_PartTooSmall"] and live[3][0] == "EntityTooSmall_PartSize"
    assert replayed[3]["findings"][0]["evidence"]["part_number"] == 1 and replayed[3]["action"] == "replayed"
