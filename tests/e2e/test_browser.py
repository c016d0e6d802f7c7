"""A real browser uploads through the real mitmdump: headless Chromium, regular proxy mode.

Chromium loads an upload page from a loopback server and posts to the plain-http COS URL
http://examplebucket-1250000000.cos.ap-beijing.myqcloud.com/ through mitmdump as its proxy.
tests/e2e/redirect_addon.py (loaded before the COS addon) sends COS-named requests to the local
emulator, keeping the Host header, so nothing leaves the machine and no DNS is needed. The page
is fetched through the proxy as well (`--proxy-bypass-list=<-loopback>`). No TLS: nothing here
needs a certificate.

Two dialects, as COS's web demos speak them: FormData + XHR (the page writes the status and the
X-COS-Diagnosis header it could read into the DOM) and a plain <form> submission (the browser
navigates; success_action_redirect brings it back to a local page that shows COS's query).
Chromium is required: without it these tests fail, they do not skip (CI installs it).
"""
from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

import cosrig
import upload_page
from conftest import Rig
from devkit.formbuilder import signed_form

pytestmark = pytest.mark.e2e

REDIRECT_ADDON = Path(__file__).with_name("redirect_addon.py")
ACTION = f"http://{cosrig.COS_HOST}/"
KEY_PREFIX = "uploads/"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) + b"\xff\xd9"
OTHER_ORIGIN = "https://www.example.com"     # the only origin the strict bucket's CORS rule allows
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync")


def chromium_binary() -> str:
    """Checked inside each test, so a machine without Chromium fails them (never skips)."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("chromium is not installed: the browser end-to-end tests need it "
                "(Debian: apt-get install -y chromium)", pytrace=False)


@dataclass
class BrowserRig:
    rig: Rig
    pages: upload_page.PageServer

    def open(self, url: str, profile: Path) -> str:
        """Load `url` in a fresh headless Chromium behind the proxy; the DOM after the page ran."""
        args = [chromium_binary(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                f"--proxy-server={self.rig.proxy.url}", "--proxy-bypass-list=<-loopback>",
                "--dump-dom", "--virtual-time-budget=10000", url]
        try:
            done = subprocess.run(args, capture_output=True, text=True, timeout=120)
        except subprocess.TimeoutExpired:
            pytest.fail(f"chromium did not finish loading {url}\n--- mitmdump ---\n{self.rig.proxy.log()[-3000:]}")
        assert done.returncode == 0, f"chromium exited {done.returncode}:\n{done.stderr[-3000:]}"
        return done.stdout

    def result(self, url: str, profile: Path) -> dict:
        dom = self.open(url, profile)
        found = upload_page.read_result(dom)
        assert found is not None and found != "pending", (
            f"the page wrote no result:\n{dom[-2000:]}\n--- mitmdump ---\n{self.rig.proxy.log()[-3000:]}")
        return found


def start_browser_rig(tmp_path_factory, name: str, *options: str, **emulator_options) -> BrowserRig:
    workdir = tmp_path_factory.mktemp(name)
    credentials = cosrig.write_credentials(workdir)
    report = workdir / "report.jsonl"
    emulator = cosrig.EmulatorThread.start(credentials, **emulator_options)
    try:
        proxy = cosrig.Proxy.start(emulator.port, "--set", f"cos_credentials={credentials}",
                                   "--set", f"cos_report={report}",
                                   "--set", f"test_redirect_to=127.0.0.1:{emulator.port}", *options,
                                   workdir=workdir, mode="regular", extra_scripts=(str(REDIRECT_ADDON),))
    except Exception:
        emulator.stop()
        raise
    return BrowserRig(Rig(workdir, emulator, proxy, report), upload_page.PageServer.start())


def stop_browser_rig(browser: BrowserRig) -> None:
    browser.pages.stop()
    browser.rig.proxy.stop()
    browser.rig.emulator.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """The bucket's CORS rule allows every origin (the emulator's default)."""
    b = start_browser_rig(tmp_path_factory, "browser")
    yield b
    stop_browser_rig(b)


@pytest.fixture(scope="module")
def strict_browser(tmp_path_factory):
    """The bucket's CORS rule allows only OTHER_ORIGIN, not the page's own origin."""
    b = start_browser_rig(tmp_path_factory, "browser-strict", cors_origins=(OTHER_ORIGIN,))
    yield b
    stop_browser_rig(b)


def upload_fields(key: str) -> list[tuple[str, str]]:
    """The COS demo's signed fields for `key`, under a policy that only allows uploads/…"""
    spec = signed_form(cosrig.SECRET_ID, cosrig.SECRET_KEY, cosrig.BUCKET, key, now=int(time.time()),
                       key_condition=["starts-with", "$key", KEY_PREFIX])
    return spec.fields


def new_tag() -> str:
    return f"b{time.monotonic_ns()}"


def error_findings(record: dict) -> list[dict]:
    return [f for f in record["findings"] if f["severity"] == "error"]


# (case, key template, expected status, expected diagnosis); ${filename} is the page's file name.
CASES = [
    ("good", "uploads/${filename}", None),
    ("key-outside-policy-prefix", "other/${filename}", "AccessDenied_Condition"),
]


@pytest.mark.parametrize("key_template, expected_id", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_formdata_xhr_upload(browser, tmp_path, key_template, expected_id):
    tag = new_tag()
    file_name = f"{tag}.jpg"
    page = upload_page.xhr_page(f"{ACTION}?t={tag}", upload_fields(key_template), file_name, JPEG,
                                "image/jpeg")
    result = browser.result(browser.pages.add(f"/xhr-{tag}", page), tmp_path / "profile")
    record = browser.rig.record_for(tag)
    assert record["method"] == "POST" and record["action"] == "forwarded"
    assert record["host"] == cosrig.COS_HOST              # the regular-mode redirect kept COS's Host
    assert record["key"] == key_template.replace("${filename}", file_name)
    if expected_id is None:
        assert result["status"] == 204
        assert result["diagnosis"] is None and result["detail"] is None
        assert result["etag"], "ETag must be readable cross-origin (exposed by the bucket's CORS rule)"
        assert record["status"] == 204 and record["error"] is None
        assert error_findings(record) == []
        return
    assert result["status"] == 403
    assert result["diagnosis"] == expected_id                # read by the page's own script
    assert result["detail"] and result["detail"].isascii()
    assert "<Code>AccessDenied</Code>" in result["body"]
    assert record["status"] == 403 and record["error"]["code"] == "AccessDenied"
    first = record["findings"][0]
    assert (first["id"], first["phase"], first["severity"]) == (expected_id, "response", "error")
    assert first["evidence"]["field"] == "key"
    assert first["evidence"]["actual"] == record["key"]


@pytest.mark.parametrize("key_template, expected_id", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_html_form_submission(browser, tmp_path, key_template, expected_id):
    tag = new_tag()
    file_name = f"{tag}.jpg"
    fields = [*upload_fields(key_template),
              ("success_action_redirect", browser.pages.origin + upload_page.DONE_PATH)]
    page = upload_page.form_page(f"{ACTION}?t={tag}", fields, file_name, JPEG, "image/jpeg")
    dom = browser.open(browser.pages.add(f"/form-{tag}", page), tmp_path / "profile")
    record = browser.rig.record_for(tag)
    key = key_template.replace("${filename}", file_name)
    assert record["method"] == "POST" and record["host"] == cosrig.COS_HOST and record["key"] == key
    if expected_id is None:
        landed = upload_page.read_result(dom)
        assert landed is not None, f"the browser did not follow success_action_redirect:\n{dom[-2000:]}"
        assert landed["bucket"] == cosrig.BUCKET and landed["key"] == key and landed["etag"]
        assert record["status"] == 303 and record["error"] is None
        assert error_findings(record) == []
        return
    assert "Condition key key doesn't match the value" in dom   # the browser shows COS's XML
    assert record["status"] == 403
    first = record["findings"][0]
    assert (first["id"], first["severity"]) == (expected_id, "error")
    assert first["evidence"]["actual"] == key


def test_upload_from_an_origin_without_cors_rule_is_hidden_from_the_page(strict_browser, tmp_path):
    """A simple FormData POST needs no preflight: COS stores the file, but without
    Access-Control-Allow-Origin the browser gives the page only a network error."""
    tag = new_tag()
    page = upload_page.xhr_page(f"{ACTION}?t={tag}", upload_fields("uploads/${filename}"),
                                f"{tag}.jpg", JPEG, "image/jpeg")
    result = strict_browser.result(strict_browser.pages.add(f"/xhr-{tag}", page), tmp_path / "profile")
    assert result == {"network_error": True, "status": 0}
    record = strict_browser.rig.record_for(tag)
    assert record["method"] == "POST" and record["status"] == 204   # the upload itself succeeded
    first = record["findings"][0]                                    # ...and the report says why the page failed
    assert first["id"] == "Warning_CORSResponseHidden"
    assert f"<AllowedOrigin>{strict_browser.pages.origin}</AllowedOrigin>" in first["evidence"]["cors_rule"]


def records_for(browser: BrowserRig, tag: str) -> dict[str, dict]:
    """The report records of one page's requests to ?t=<tag>, by method (at most one each)."""
    found = [r for r in browser.rig.records() if r["url"].endswith(f"?t={tag}")]
    by_method = {r["method"]: r for r in found}
    assert len(by_method) == len(found), f"two records with the same method for {tag}: {found}"
    return by_method


def preflighted_upload(browser: BrowserRig, tmp_path: Path) -> tuple[dict, dict[str, dict]]:
    """An XHR with an extra request header, so the browser sends an OPTIONS preflight first."""
    tag = new_tag()
    page = upload_page.xhr_page(f"{ACTION}?t={tag}", upload_fields("uploads/${filename}"),
                                f"{tag}.jpg", JPEG, "image/jpeg", request_headers={"x-cos-meta-note": "hi"})
    result = browser.result(browser.pages.add(f"/xhr-{tag}", page), tmp_path / "profile")
    return result, records_for(browser, tag)


def test_preflight_allowed_then_upload(browser, tmp_path):
    result, records = preflighted_upload(browser, tmp_path)
    assert result["status"] == 204 and result["diagnosis"] is None
    assert sorted(records) == ["OPTIONS", "POST"]
    assert records["OPTIONS"]["status"] == 200 and error_findings(records["OPTIONS"]) == []
    assert records["POST"]["status"] == 204 and error_findings(records["POST"]) == []


def test_preflight_rejected_by_cors_rule(strict_browser, tmp_path):
    result, records = preflighted_upload(strict_browser, tmp_path)
    assert result == {"network_error": True, "status": 0}          # all the page ever learns
    assert list(records) == ["OPTIONS"]                              # the POST was never sent
    record = records["OPTIONS"]
    assert record["status"] == 403 and record["error"]["code"] == "AccessForbidden"
    first = record["findings"][0]
    assert (first["id"], first["severity"]) == ("AccessForbidden_CORS", "error")


def test_preflight_rejection_carries_the_cors_rule_to_add(strict_browser, tmp_path):
    _, records = preflighted_upload(strict_browser, tmp_path)
    evidence = records["OPTIONS"]["findings"][0]["evidence"]
    assert evidence["origin"] == strict_browser.pages.origin
    assert evidence["method"] == "POST"
    assert evidence["headers"] == ["x-cos-meta-note"]
    assert f"<AllowedOrigin>{strict_browser.pages.origin}</AllowedOrigin>" in evidence["cors_rule"]
    assert "<AllowedHeader>x-cos-meta-note</AllowedHeader>" in evidence["cors_rule"]
    assert "origin" in evidence["missing"]


def test_block_mode_answers_the_page_with_the_cors_headers_cos_gave_it(tmp_path_factory, tmp_path):
    """The page's preflight goes to COS and is allowed; the upload that COS would refuse is answered
    by the proxy with the same CORS headers, so the page reads the diagnosis, not a network error."""
    browser = start_browser_rig(tmp_path_factory, "browser-block", "--set", "cos_validate=block")
    try:
        tag = new_tag()
        page = upload_page.xhr_page(f"{ACTION}?t={tag}", upload_fields("other/${filename}"), f"{tag}.jpg",
                                    JPEG, "image/jpeg", request_headers={"x-cos-meta-note": "hi"})
        result = browser.result(browser.pages.add(f"/xhr-{tag}", page), tmp_path / "profile")
        records = records_for(browser, tag)
        uploads_received = browser.rig.emulator.emulator.counts["POST"]
    finally:
        stop_browser_rig(browser)
    assert result["status"] == 403 and result["diagnosis"] == "AccessDenied_Condition"
    assert "<Code>AccessDenied</Code>" in result["body"]
    assert records["OPTIONS"]["status"] == 200
    assert records["POST"]["action"] == "blocked" and uploads_received == 0
    assert "Info_LocalAnswerCORSUnknown" not in [f["id"] for f in records["POST"]["findings"]]
