"""cos_validate=warn and =block through the real mitmdump, with the emulator counting what it gets."""
from __future__ import annotations

import json
import time

import pytest
import requests
from lxml import etree

import cosrig
import dialects
from conftest import start_rig
from seedcases import CASES, encode

pytestmark = pytest.mark.e2e

FAILING = [c for c in CASES if c.expected_id]


def _rig_in_mode(tmp_path_factory, mode: str):
    rig = start_rig(tmp_path_factory, f"rig-{mode}", "--set", f"cos_validate={mode}")
    yield rig
    rig.proxy.stop()
    rig.emulator.stop()


@pytest.fixture(scope="module")
def block_rig(tmp_path_factory):
    yield from _rig_in_mode(tmp_path_factory, "block")


@pytest.fixture(scope="module")
def warn_rig(tmp_path_factory):
    yield from _rig_in_mode(tmp_path_factory, "warn")


def post(rig, body: bytes, content_type: str, tag: str, allow_redirects: bool = True) -> requests.Response:
    return requests.post(f"{rig.proxy.url}/?t={tag}", data=body, timeout=30, allow_redirects=allow_redirects,
                         headers={"Host": cosrig.COS_HOST, "Content-Type": content_type})


def posts_received(rig) -> int:
    return rig.emulator.emulator.counts["POST"]


@pytest.mark.parametrize("dialect", dialects.DIALECTS, ids=[d.name for d in dialects.DIALECTS])
def test_valid_dialect_passes_block_mode_untouched(block_rig, dialect):
    tag = f"{dialect.name}-{time.monotonic_ns()}"
    spec = dialect.build(dialects.now(), tag)
    body, content_type = spec.encode(dialect.boundary(tag))
    before = posts_received(block_rig)
    response = post(block_rig, body, content_type, tag, allow_redirects=False)
    assert response.status_code == dialect.expected_status, response.text
    assert posts_received(block_rig) == before + 1
    assert "X-COS-Diagnosis" not in response.headers
    record = block_rig.record_for(tag)
    assert record["action"] == "forwarded"
    assert [f["id"] for f in record["findings"] if f["severity"] == "error"] == []


def test_valid_curl_upload_passes_block_mode(block_rig):
    tag = f"curl-{time.monotonic_ns()}"
    before = posts_received(block_rig)
    status, headers = block_rig.curl(dialects.web_demo_policy(dialects.now(), tag), tag=tag)
    assert status == 204 and "x-cos-diagnosis" not in headers
    assert posts_received(block_rig) == before + 1


@pytest.mark.parametrize("case", FAILING, ids=[c.expected_id for c in FAILING])
def test_block_mode_answers_like_cos_and_never_forwards(block_rig, case):
    tag = f"block-{time.monotonic_ns()}"
    body, content_type = encode(case.build(dialects.now(), tag), case.damage)
    before = posts_received(block_rig)
    response = post(block_rig, body, content_type, tag)
    assert posts_received(block_rig) == before, "a blocked request reached upstream"
    assert response.status_code == case.status
    assert response.headers["Content-Type"] == "application/xml"
    assert response.headers["X-COS-Diagnosis"] == case.expected_id
    error = etree.fromstring(response.content)
    assert error.tag == "Error"
    assert error.findtext("Code") == case.expected_id.split("_")[0]
    assert error.findtext("RequestId").startswith("cosdoctor-")
    # Ask the emulator what COS would have said about the same bytes: the same status, Code, Message.
    cos = requests.post(f"http://127.0.0.1:{block_rig.emulator.port}/", data=body, timeout=30,
                        headers={"Host": cosrig.COS_HOST, "Content-Type": content_type})
    cos_error = etree.fromstring(cos.content)
    assert cos.status_code == response.status_code
    assert cos_error.findtext("Code") == error.findtext("Code")
    assert cos_error.findtext("Message") == error.findtext("Message")
    record = block_rig.record_for(tag)
    assert record["action"] == "blocked" and record["status"] == case.status
    assert record["findings"][0]["id"] == case.expected_id


def test_block_mode_answers_a_browser_with_the_cors_headers_cos_gave_its_origin(block_rig):
    """Learned from COS's answer to the origin's preflight; an origin never seen gets none, and a finding."""
    case = next(c for c in FAILING if c.expected_id == "AccessDenied_Condition")
    seen, unseen = "https://seen.example.com", "https://unseen.example.com"
    allowed = requests.options(f"{block_rig.proxy.url}/", timeout=30, headers={
        "Host": cosrig.COS_HOST, "Origin": seen, "Access-Control-Request-Method": "POST"})
    assert allowed.status_code == 200 and allowed.headers["Access-Control-Allow-Origin"] == seen
    answers = {}
    for origin in (seen, unseen):
        tag = f"cors-{time.monotonic_ns()}"
        body, content_type = encode(case.build(dialects.now(), tag), case.damage)
        before = posts_received(block_rig)
        answers[origin] = requests.post(f"{block_rig.proxy.url}/?t={tag}", data=body, timeout=30, headers={
            "Host": cosrig.COS_HOST, "Content-Type": content_type, "Origin": origin})
        assert posts_received(block_rig) == before, "a blocked request reached upstream"
        answers[origin].record = block_rig.record_for(tag)
    known = answers[seen]
    assert known.status_code == 403 and known.headers["Access-Control-Allow-Origin"] == seen
    assert "X-COS-Diagnosis" in known.headers["Access-Control-Expose-Headers"]
    assert "Info_LocalAnswerCORSUnknown" not in [f["id"] for f in known.record["findings"]]
    unknown = answers[unseen]
    assert unknown.status_code == 403 and "Access-Control-Allow-Origin" not in unknown.headers
    ids = [f["id"] for f in unknown.record["findings"]]
    assert ids[0] == case.expected_id and "Info_LocalAnswerCORSUnknown" in ids


def test_block_mode_forwards_what_cos_might_accept(block_rig):
    """An error whose COS answer is undocumented (missing key) is never answered in COS's name."""
    tag = f"nokey-{time.monotonic_ns()}"
    spec = dialects.web_demo_policy(dialects.now(), tag)
    spec.drop("key")
    body, content_type = spec.encode()
    before = posts_received(block_rig)
    response = post(block_rig, body, content_type, tag)
    assert posts_received(block_rig) == before + 1
    assert response.headers.get("x-cos-request-id", "").startswith("cosdoctor-") is False
    record = block_rig.record_for(tag)
    assert record["action"] == "forwarded"
    assert "InvalidArgument_MissingField" in [f["id"] for f in record["findings"]]


@pytest.mark.parametrize("case", FAILING, ids=[c.expected_id for c in FAILING])
def test_warn_mode_forwards_and_merges_without_duplicates(warn_rig, case):
    tag = f"warn-{time.monotonic_ns()}"
    body, content_type = encode(case.build(dialects.now(), tag), case.damage)
    before = posts_received(warn_rig)
    response = post(warn_rig, body, content_type, tag)
    assert posts_received(warn_rig) == before + 1
    assert response.status_code == case.status
    assert response.headers["X-COS-Diagnosis"] == case.expected_id
    record = warn_rig.record_for(tag)
    ids = [f["id"] for f in record["findings"]]
    assert record["action"] == "forwarded"
    assert len(ids) == len(set(ids)), ids
    assert ids[0] == case.expected_id and record["findings"][0]["phase"] == "response"
    assert "Warning_PreflightDisagreement" not in ids


def test_disagreement_between_preflight_and_cos_is_a_finding(tmp_path_factory):
    """COS's clock runs an hour ahead: preflight passed the policy, COS says it expired."""
    rig = start_rig(tmp_path_factory, "rig-skew", "--set", "cos_validate=warn", clock_offset=3600)
    try:
        tag = f"skew-{time.monotonic_ns()}"
        body, content_type = encode(CASES[0].build(dialects.now(), tag), None)
        response = post(rig, body, content_type, tag)
        assert response.status_code == 403
        record = rig.record_for(tag)
    finally:
        rig.proxy.stop()
        rig.emulator.stop()
    by_id = {f["id"]: f for f in record["findings"]}
    assert record["findings"][0]["id"] == "AccessDenied_Expiration"
    assert abs(by_id["AccessDenied_Expiration"]["evidence"]["clock_skew_s"] + 3600) <= 5
    disagreement = by_id["Warning_PreflightDisagreement"]["evidence"]
    assert disagreement["preflight"] == "accept" and disagreement["cos"] == "AccessDenied_Expiration"


def test_credentials_from_the_environment_verify_signatures(tmp_path):
    """COS_SECRET_ID/COS_SECRET_KEY instead of a file: the signing mistake is still named."""
    emulator = cosrig.EmulatorThread.start(cosrig.write_credentials(tmp_path))
    report = tmp_path / "env.jsonl"
    proxy = cosrig.Proxy.start(emulator.port, "--set", f"cos_report={report}", workdir=tmp_path,
                               env={"COS_SECRET_ID": cosrig.SECRET_ID, "COS_SECRET_KEY": cosrig.SECRET_KEY})
    try:
        case = next(c for c in CASES if c.expected_id == "SignatureDoesNotMatch_POSTSignature")
        body, content_type = encode(case.build(dialects.now(), "env"), None)
        requests.post(f"{proxy.url}/", data=body, timeout=30,
                      headers={"Host": cosrig.COS_HOST, "Content-Type": content_type})
    finally:
        proxy.stop()
        emulator.stop()
    evidence = [json.loads(line) for line in report.read_text().splitlines()][0]["findings"][0]["evidence"]
    assert evidence["verified"] is True and evidence["mistake"] == "sha1-of-base64-policy"
    assert cosrig.SECRET_KEY not in report.read_text() + proxy.log()
