"""The seven COS troubleshooting cases and a good upload, live through mitmdump, with real clients."""
from __future__ import annotations

import time

import pytest
import requests

import cosrig
from seedcases import CASES, encode

pytestmark = pytest.mark.e2e

# Evidence the contract requires per finding (CONTRACT.md, "Evidence keys").
REQUIRED_EVIDENCE = {
    "AccessDenied_q-ak": {"condition", "index", "field", "expected", "actual"},
    "AccessDenied_BucketNotConsistent": {"condition", "index", "field", "expected", "actual"},
    "AccessDenied_Condition": {"condition", "index", "field", "expected", "actual"},
    "AccessDenied_Expiration": {"expiration", "expiration_unix", "now_unix", "expired_for_s", "clock_skew_s"},
    "SignatureDoesNotMatch_POSTSignature": {"verified", "mistake", "expected_signature", "string_to_sign"},
    "MalformedPOSTRequest_POSTBody": {"reason", "offset"},
    "InvalidPolicyDocument_JSONFormat": set(),
}


def send_requests(rig, body: bytes, content_type: str, tag: str) -> tuple[int, dict]:
    response = requests.post(f"{rig.proxy.url}/?t={tag}", data=body, timeout=30,
                             headers={"Host": cosrig.COS_HOST, "Content-Type": content_type})
    return response.status_code, {k.lower(): v for k, v in response.headers.items()}


@pytest.mark.parametrize("client", ["requests", "curl"])
@pytest.mark.parametrize("case", CASES, ids=[c.expected_id or "good" for c in CASES])
def test_seed_case_is_diagnosed_live(rig, case, client):
    now = int(time.time())
    tag = f"{client}-{time.monotonic_ns()}"
    spec = case.build(now, tag)
    if client == "curl" and not case.damage:
        status, headers = rig.curl(spec, tag=tag)
    else:
        # curl builds its own body; byte-level damage goes through python-requests.
        status, headers = send_requests(rig, *encode(spec, case.damage), tag)
    assert status == case.status
    record = rig.record_for(tag)
    assert record["action"] == "forwarded"
    assert record["status"] == case.status
    if case.expected_id is None:
        assert "x-cos-diagnosis" not in headers
        assert record["error"] is None
        assert not [f for f in record["findings"] if f["severity"] == "error"]
        return
    assert headers["x-cos-diagnosis"] == case.expected_id
    assert headers["x-cos-diagnosis-detail"].isascii() and headers["x-cos-diagnosis-detail"]
    first = record["findings"][0]
    assert first["id"] == case.expected_id
    assert first["phase"] == "response"
    assert first["severity"] == "error"
    assert REQUIRED_EVIDENCE[case.expected_id] <= set(first["evidence"])
    assert record["error"]["code"] == first["id"].split("_")[0]
    assert record["error"]["request_id"]
    assert first["title"] and first["cause"] and first["fix"] and first["doc"].startswith("https://")
