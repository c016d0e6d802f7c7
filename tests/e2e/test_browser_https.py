"""cos-js-sdk-v5 in headless Chromium through mitmdump over HTTPS: the user's real path.

The page (from a loopback HTTP server, a different origin from the bucket) loads the SDK's own
bundle and uses it with `Protocol: "https:"`, so Chromium opens a CONNECT tunnel to
https://examplebucket-1250000000.cos.ap-beijing.myqcloud.com through mitmdump and speaks TLS to the
proxy, which presents a certificate for the bucket host signed by its CA. Chromium trusts that CA the
way a user installs it: the confdir's mitmproxy-ca-cert.pem imported with NSS's certutil as a trusted
CA into the NSS database Chromium reads ($HOME/.pki/nssdb, HOME pointed at a temporary directory).
Certificate verification stays on (no --ignore-certificate-errors of any kind). Chromium
negotiates HTTP/2 with the proxy (ALPN); tests/e2e/redirect_addon.py sends the bucket host to the
emulator over plain HTTP and tests/e2e/flowlog_addon.py records the HTTP version each flow used.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest

import cosrig

from test_sdks import BUCKET, KEYS, WRONG_KEY, run_sdk_page
from test_sdks_proxy import COS_HOST, assert_untouched, error_finding, records_for, start_proxy_rig

pytestmark = pytest.mark.e2e

PAGE_KEYS = [key.replace("sdk/", "https/", 1) for key in KEYS]


def certutil() -> str:
    path = shutil.which("certutil")
    if not path:
        pytest.fail("certutil is not installed (Debian: apt-get install -y libnss3-tools; .ci/run does)",
                    pytrace=False)
    return path


def trusting_home(tmp: Path, ca_pem: Path) -> Path:
    """A HOME whose NSS database trusts the proxy's CA for TLS servers, and nothing else added."""
    home = tmp / "home"
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    tool = certutil()
    subprocess.run([tool, "-N", "-d", f"sql:{nssdb}", "--empty-password"], check=True, capture_output=True)
    subprocess.run([tool, "-A", "-d", f"sql:{nssdb}", "-t", "C,,", "-n", "mitmproxy", "-i", str(ca_pem)],
                   check=True, capture_output=True)
    return home


@pytest.fixture(scope="module")
def https_rig(tmp_path_factory):
    rig = start_proxy_rig(tmp_path_factory, "browser-https")
    ca = rig.workdir / "conf" / "mitmproxy-ca-cert.pem"
    assert ca.exists(), "mitmdump wrote no CA into its confdir"
    rig.home = trusting_home(rig.workdir, ca)
    yield rig
    rig.proxy.stop()
    rig.emulator.stop()


def run_page(rig, steps: list[dict], profile: Path, *, home: Path) -> list[dict]:
    """The SDK page over https: through mitmdump, with HOME's NSS db trusting (or not) its CA."""
    return run_sdk_page(steps, profile, proxy=rig.proxy.url, protocol="https:",
                        env=dict(os.environ, HOME=str(home)), log=lambda: "--- mitmdump ---\n" + rig.proxy.log())


def test_js_sdk_over_https_with_http2_passes_untouched_in_block_mode(https_rig, tmp_path):
    rig = https_rig
    presigned = "https/js presigned+腾讯.txt"
    steps = [{"op": "putObject", "Key": key, "Body": f"browser {key}", "ContentType": "text/plain"}
             for key in PAGE_KEYS]
    steps += [{"op": "getObject", "Key": key} for key in PAGE_KEYS]
    steps += [{"op": "getObjectUrl", "Key": presigned, "Method": "PUT", "Expires": 300,
               "then": {"method": "PUT", "body": "js presigned"}},
              {"op": "getObjectUrl", "Key": presigned, "Method": "GET", "Expires": 300, "then": {"method": "GET"}}]
    results = run_page(rig, steps, tmp_path / "profile", home=rig.home)
    assert len(results) == len(steps), results
    n = len(PAGE_KEYS)
    for key, put, get in zip(PAGE_KEYS, results[:n], results[n:2 * n]):
        assert put["ok"] and put["statusCode"] == 200 and put["diagnosis"] is None, (key, put)
        assert put["etag"].strip('"') == rig.emulator.emulator.fetch(BUCKET, key).etag
        assert get["ok"] and get["body"] == f"browser {key}", (key, get)
    presigned_put, presigned_get = results[2 * n:]
    assert presigned_put["fetch"]["status"] == 200, presigned_put
    assert presigned_get["fetch"] == {"status": 200, "body": "js presigned", "diagnosis": None}

    cos_flows = [f for f in rig.flows() if f["host"].split(":")[0] == COS_HOST]
    assert cos_flows and all(f["client_tls"] for f in cos_flows), cos_flows
    # The browser spoke HTTP/2 (ALPN h2) to the proxy, for the preflights and the uploads alike.
    assert {(f["http_version"], f["client_alpn"]) for f in cos_flows} == {("HTTP/2.0", "h2")}, cos_flows
    assert {f["method"] for f in cos_flows} >= {"OPTIONS", "PUT", "GET"}
    for flow in cos_flows:
        assert flow["upstream"] is True and flow["diagnosis"] is None, flow
    records = {r["flow_id"]: r for r in rig.records()}
    assert {f["id"] for f in cos_flows} <= set(records)
    # No finding on any of them: HTTP/2's :authority is the signed host, and a CORS preflight
    # carrying a presigned URL's query is not a signed request.
    assert [(records[f["id"]]["method"], records[f["id"]]["findings"]) for f in cos_flows
            if records[f["id"]]["findings"]] == []
    # Each upload untouched, with its record (operation, auth, key as COS decodes it)
    for key in PAGE_KEYS:
        assert_untouched(rig, "PUT", key, 200, "PutObject", "header")
        assert_untouched(rig, "GET", key, 200, "GetObject", "header")
    assert_untouched(rig, "PUT", presigned, 200, "PutObject", "query")
    assert_untouched(rig, "GET", presigned, 200, "GetObject", "query")


def test_js_sdk_wrong_secret_key_over_https_is_diagnosed_to_the_page(https_rig, tmp_path):
    """putObject signed with a wrong SecretKey: COS refuses it, and the page itself can read the
    diagnosis (the addon adds X-COS-Diagnosis to Access-Control-Expose-Headers)."""
    rig = https_rig
    key = "https/js-wrong.txt"
    (wrong,) = run_page(rig, [{"op": "putObject", "Key": key, "Body": "x", "options": {"SecretKey": WRONG_KEY}}],
                        tmp_path / "profile", home=rig.home)
    assert (wrong["ok"], wrong["statusCode"]) == (False, 403), wrong
    assert rig.emulator.emulator.fetch(BUCKET, key) is None
    assert wrong["diagnosis"] == "SignatureDoesNotMatch_Authorization", wrong
    flow, record = rig.one_exchange("PUT", key)
    assert (flow["http_version"], flow["client_tls"], flow["upstream"]) == ("HTTP/2.0", True, True), flow
    assert "x-cos-diagnosis" in (flow["expose"] or "").lower()
    finding = error_finding(record)
    assert (finding["id"], finding["evidence"]["mistake"]) == ("SignatureDoesNotMatch_Authorization",
                                                              "wrong-secret-key")


def test_without_the_ca_chromium_refuses_the_proxy(https_rig, tmp_path):
    """The same page with an empty NSS database: Chromium verifies the proxy's certificate and
    refuses it, so nothing is uploaded. (The tests above pass because the CA is trusted, not
    because verification is off.)"""
    rig = https_rig
    key = "https/untrusted.txt"
    bare_home = tmp_path / "bare-home"
    bare_home.mkdir()
    (put,) = run_page(rig, [{"op": "putObject", "Key": key, "Body": "x"}], tmp_path / "profile", home=bare_home)
    assert put["ok"] is False and put["message"] == "CORS blocked or network error", put
    assert rig.emulator.emulator.fetch(BUCKET, key) is None
    assert not [f for f in rig.flows() if f["path"].startswith("/https/untrusted")]


BLOB_SIZE = 2621440          # 2.5 MiB: over the SDK's default SliceSize of 1 MiB, so three parts


def blob_bytes(size: int) -> bytes:
    """The Blob browser_driver.js builds for BlobSize: byte i is i % 251."""
    return bytes(i % 251 for i in range(size))


def test_js_sdk_upload_file_multipart_over_https_is_forwarded_without_findings(https_rig, tmp_path):
    """uploadFile with a 2.5 MiB Blob goes multipart (Initiate, three UploadPart, Complete) over
    HTTP/2 through the proxy in block mode: every request reaches COS and none has a finding."""
    rig = https_rig
    key = "https/js-multipart.bin"
    (upload,) = run_page(rig, [{"op": "uploadFile", "Key": key, "BlobSize": BLOB_SIZE}],
                         tmp_path / "profile", home=rig.home)
    assert upload["ok"] and upload["statusCode"] == 200 and upload["diagnosis"] is None, upload
    stored = rig.emulator.emulator.fetch(BUCKET, key)
    assert stored is not None and len(stored.data) == BLOB_SIZE
    assert stored.data == blob_bytes(BLOB_SIZE)
    records = records_for(rig, key, 5)
    operations = [r["operation"] for r in records]
    assert operations.count("InitiateMultipartUpload") == 1, operations
    assert operations.count("CompleteMultipartUpload") == 1, operations
    parts = [r for r in records if r["operation"] == "UploadPart"]
    assert sorted(r["part_number"] for r in parts) == [1, 2, 3], operations
    assert len({r["upload_id"] for r in parts}) == 1 and parts[0]["upload_id"], parts
    assert [(r["operation"], r["action"], r["findings"]) for r in records
            if r["action"] != "forwarded" or r["findings"]] == []


@pytest.fixture(scope="module")
def etag_hidden_rig(tmp_path_factory):
    """Like https_rig, but the bucket's CORS rule exposes only x-cos-request-id and Content-Length."""
    rig = start_proxy_rig(tmp_path_factory, "browser-https-etag",
                          bucket_expose_headers={BUCKET: ("x-cos-request-id", "Content-Length")})
    rig.home = trusting_home(rig.workdir, rig.workdir / "conf" / "mitmproxy-ca-cert.pem")
    yield rig
    rig.proxy.stop()
    rig.emulator.stop()


def test_js_sdk_upload_file_with_etag_not_exposed_fails_and_is_explained(etag_hidden_rig, tmp_path):
    """The bucket's CORS rule does not expose ETag: the page cannot read an UploadPart's ETag, so
    the SDK gives up; the report says why on the UploadPart records."""
    rig = etag_hidden_rig
    key = "https/js-multipart-no-etag.bin"
    (upload,) = run_page(rig, [{"op": "uploadFile", "Key": key, "BlobSize": BLOB_SIZE}],
                         tmp_path / "profile", home=rig.home)
    assert upload["ok"] is False, upload
    assert "etag" in ((upload["message"] or "") + (upload["raw"] or "")).lower(), upload
    assert rig.emulator.emulator.fetch(BUCKET, key) is None
    records = records_for(rig, key, 2)
    parts = [r for r in records if r["operation"] == "UploadPart"]
    assert parts, [r["operation"] for r in records]
    for record in parts:
        assert "Warning_ETagHidden" in [f["id"] for f in record["findings"]], record["findings"]


# A temporary key (what an app's STS endpoint hands the page): SecretId, SecretKey and the
# SecurityToken COS requires with it. Not a real key.
TMP_SECRET_ID = "AKIDtmpStsKeyForTheDoctorE2E0000000"
TMP_SECRET_KEY = "TmpStsSecretKeyForTheDoctorE2E00"
TMP_TOKEN = "sts-token-" + "Xy9" * 40
STS_LOCKED = "https/sts-locked/"      # the temporary key's policy: no UploadPart (nor Complete) here
STS_ACTIONS = {"PutObject", "PostObject", "InitiateMultipartUpload", "ListMultipartUploads", "ListParts"}


@pytest.fixture(scope="module")
def sts_locked_rig(tmp_path_factory):
    """Like https_rig, with a temporary key known to COS (and listed, token and all, in the
    proxy's cos_credentials, as a user pastes the STS answer there), and keys under STS_LOCKED
    allowed only STS_ACTIONS: Initiate passes, UploadPart gets "Access Denied."."""
    rig = start_proxy_rig(tmp_path_factory, "browser-https-sts",
                          keys=((cosrig.SECRET_ID, cosrig.SECRET_KEY), (TMP_SECRET_ID, TMP_SECRET_KEY, TMP_TOKEN)),
                          allowed_actions={"*": {"*"}, STS_LOCKED + "*": STS_ACTIONS})
    rig.home = trusting_home(rig.workdir, rig.workdir / "conf" / "mitmproxy-ca-cert.pem")
    yield rig
    rig.proxy.stop()
    rig.emulator.stop()


def sts_options(token: bool = True) -> dict:
    """The page's `new COS(...)` options for the temporary key, with or without its SecurityToken."""
    return {"SecretId": TMP_SECRET_ID, "SecretKey": TMP_SECRET_KEY, **({"SecurityToken": TMP_TOKEN} if token else {})}


def test_js_sdk_upload_file_with_sts_key_lacking_upload_part_is_explained(sts_locked_rig, tmp_path):
    """uploadFile of a 2.5 MiB Blob with a temporary key whose policy allows Initiate but not
    UploadPart: COS answers each part "Access Denied." and the SDK fails; every UploadPart record
    names the CAM action and resource it needed, the multipart set to grant, and that the key is
    temporary, its token was sent and the same upload's Initiate was let through."""
    rig = sts_locked_rig
    key = STS_LOCKED + "js-multipart.bin"
    (upload,) = run_page(rig, [{"op": "uploadFile", "Key": key, "BlobSize": BLOB_SIZE, "options": sts_options()}],
                         tmp_path / "profile", home=rig.home)
    assert (upload["ok"], upload["statusCode"], upload["code"], upload["message"]) == (
        False, 403, "AccessDenied", "Access Denied."), upload
    assert upload["diagnosis"] == "AccessDenied_NoPermission", upload        # exposed to the page
    assert rig.emulator.emulator.fetch(BUCKET, key) is None
    records = records_for(rig, key, 3)
    (initiate,) = [r for r in records if r["operation"] == "InitiateMultipartUpload"]
    assert (initiate["action"], initiate["status"], initiate["findings"]) == ("forwarded", 200, []), initiate
    parts = [r for r in records if r["operation"] == "UploadPart"]
    assert parts, [r["operation"] for r in records]
    assert len({r["upload_id"] for r in parts}) == 1 and parts[0]["upload_id"], parts
    assert not [r for r in records if r["operation"] == "CompleteMultipartUpload"], records
    for record in parts:
        assert (record["action"], record["status"], record["error"]["code"], record["error"]["message"]) == (
            "forwarded", 403, "AccessDenied", "Access Denied."), record
        assert [f["id"] for f in record["findings"]] == ["AccessDenied_NoPermission"], record["findings"]
        evidence = record["findings"][0]["evidence"]
        assert evidence["cam_action"] == "name/cos:UploadPart", evidence
        assert evidence["cam_resource"] == f"qcs::cos:ap-beijing:uid/1250000000:{BUCKET}/{key}", evidence
        assert evidence["actions_needed"] == [f"name/cos:{a}" for a in (
            "ListMultipartUploads", "ListParts", "InitiateMultipartUpload", "UploadPart",
            "CompleteMultipartUpload")], evidence
        assert (evidence["q_ak"], evidence["temporary_key"], evidence["token_sent"]) == (
            TMP_SECRET_ID, True, True), evidence
        assert evidence["initiate_allowed"] is True and evidence["flows"][0] == initiate["flow_id"], evidence
    report = rig.report.read_text()
    assert TMP_SECRET_KEY not in report and TMP_TOKEN not in report      # the key is named, never its secrets


def test_js_sdk_upload_file_with_sts_key_without_its_token_is_explained(sts_locked_rig, tmp_path):
    """The same temporary key without its SecurityToken: COS does not take the key at all (the
    emulator answers InvalidAccessKeyId, as for an unknown SecretId), so the SDK fails on its first
    call, listing the uploads; no "Access Denied." and no upload. The proxy knows the key is
    temporary (its token is in cos_credentials) and says the token is missing."""
    rig = sts_locked_rig
    key = STS_LOCKED + "js-no-token.bin"
    (upload,) = run_page(rig, [{"op": "uploadFile", "Key": key, "BlobSize": BLOB_SIZE,
                                "options": sts_options(token=False)}], tmp_path / "profile", home=rig.home)
    assert (upload["ok"], upload["statusCode"], upload["code"]) == (False, 403, "InvalidAccessKeyId"), upload
    assert upload["diagnosis"] == "InvalidAccessKeyId_SecretId", upload
    assert rig.emulator.emulator.fetch(BUCKET, key) is None
    listed = rig.poll(lambda: [r for r in rig.records() if r["method"] == "GET"
                               and r["url"].endswith("?uploads&prefix=" + quote(key, safe=""))])
    assert len(listed) == 1, listed
    (record,) = listed
    assert (record["action"], record["status"], record["error"]["code"]) == ("forwarded", 403, "InvalidAccessKeyId")
    findings = {f["id"]: f for f in record["findings"]}
    assert set(findings) == {"InvalidAccessKeyId_SecretId", "Warning_TokenMissing"}, record["findings"]
    assert findings["InvalidAccessKeyId_SecretId"]["evidence"]["token_missing"] is True, findings
    assert findings["Warning_TokenMissing"]["evidence"] == {"q_ak": TMP_SECRET_ID, "auth": "header"}, findings
    assert [r for r in rig.records() if r.get("key") == key] == []         # nothing initiated
