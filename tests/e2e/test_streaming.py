"""Streamed uploads (stream_large_bodies): still diagnosed from the body's first bytes, never blocked."""
from __future__ import annotations

import time

import pytest
import requests

import cosrig
import seedcases
from conftest import start_rig
from devkit.formbuilder import signed_form

pytestmark = pytest.mark.e2e

FILE = bytes(range(256)) * 4096            # 1 MiB, with CR, LF and '-' bytes throughout


@pytest.fixture(scope="module", params=["off", "block"])
def stream_rig(request, tmp_path_factory):
    rig = start_rig(tmp_path_factory, f"rig-stream-{request.param}", "--set", "stream_large_bodies=64k",
                    "--set", f"cos_validate={request.param}")
    yield rig
    rig.proxy.stop()
    rig.emulator.stop()


def upload(rig, spec, tag):
    body, content_type = spec.encode()
    before = rig.emulator.emulator.counts["POST"]
    response = requests.post(f"{rig.proxy.url}/?t={tag}", data=body, timeout=60,
                             headers={"Host": cosrig.COS_HOST, "Content-Type": content_type})
    return response, rig.emulator.emulator.counts["POST"] - before, rig.record_for(tag)


def test_streamed_condition_failure_is_diagnosed_and_forwarded(stream_rig):
    tag = f"stream-{time.monotonic_ns()}"
    spec = seedcases.key_outside_prefix(int(time.time()), tag)
    spec.file_data = FILE
    response, received, record = upload(stream_rig, spec, tag)
    assert response.status_code == 403 and received == 1       # never answered locally
    assert response.headers["X-COS-Diagnosis"] == "AccessDenied_Condition"
    ids = [f["id"] for f in record["findings"]]
    assert ids[0] == "AccessDenied_Condition" and "Info_StreamedBody" in ids
    assert record["action"] == "forwarded"


def test_streamed_file_size_is_counted_for_content_length_range(stream_rig):
    tag = f"stream-size-{time.monotonic_ns()}"
    spec = signed_form(cosrig.SECRET_ID, cosrig.SECRET_KEY, cosrig.BUCKET, f"uploads/{tag}", now=int(time.time()),
                       extra_conditions=[["content-length-range", 1, 1000]])
    spec.file_data = FILE
    response, received, record = upload(stream_rig, spec, tag)
    assert response.status_code == 400 and received == 1
    first = record["findings"][0]
    assert first["id"] == "EntityTooLarge_ContentLengthRange"
    assert first["evidence"]["actual"] == len(FILE)
    assert "Info_StreamedBody" in [f["id"] for f in record["findings"]]


def test_streamed_good_upload_has_no_error(stream_rig):
    tag = f"stream-ok-{time.monotonic_ns()}"
    spec = seedcases.good(int(time.time()), tag)
    spec.file_data = FILE[:900_000]
    response, received, record = upload(stream_rig, spec, tag)
    assert response.status_code == 204 and received == 1
    assert not [f for f in record["findings"] if f["severity"] == "error"]
