"""The real mitmdump: start-up errors, saved flows, non-COS traffic and offline audits."""
from __future__ import annotations

import json
import time

import pytest
import requests
from mitmproxy import io

import cosrig
from seedcases import CASES, encode

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("option, expected", [
    ("cos_validate=zzz", "cos_validate must be one of off, warn, block, not 'zzz'"),
    ("cos_lang=fr", "cos_lang must be one of en, ko, zh"),
    ("cos_credentials=/nonexistent/creds", "cos_credentials"),
    ("cos_report=/nonexistent-dir/r.jsonl", "cos_report: cannot write"),
    ("cos_hosts=https://cdn.example.com", "cos_hosts"),
])
def test_bad_option_gives_one_clear_line(tmp_path, option, expected):
    result = cosrig.run_mitmdump("-n", "-s", str(cosrig.ADDON), "--set", option, workdir=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert expected in output
    assert "Traceback" not in output


def test_malformed_credentials_file_gives_one_clear_line(tmp_path):
    creds = tmp_path / "creds"
    creds.write_text(f"{cosrig.SECRET_ID}\n")
    creds.chmod(0o600)
    result = cosrig.run_mitmdump("-n", "-s", str(cosrig.ADDON), "--set", f"cos_credentials={creds}",
                                 workdir=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "line 1" in output and "Traceback" not in output


def test_non_cos_traffic_passes_untouched(rig):
    before = len(rig.records())
    response = requests.post(rig.proxy.url + "/not-cos", data=b"plain body", timeout=30,
                             headers={"Host": "example.com", "Content-Type": "text/plain"})
    assert "x-cos-diagnosis" not in {k.lower() for k in response.headers}
    assert len(rig.records()) == before


def test_saved_flows_carry_comment_metadata_and_mark(tmp_path_factory):
    from conftest import start_rig
    rig = start_rig(tmp_path_factory, "saved")
    try:
        now = int(time.time())
        for case in CASES:
            body, content_type = encode(case.build(now, f"saved{len(case.title)}"), case.damage)
            requests.post(rig.proxy.url + "/", data=body, timeout=30,
                          headers={"Host": cosrig.COS_HOST, "Content-Type": content_type})
    finally:
        assert rig.proxy.stop() == 0
        rig.emulator.stop()
    with open(rig.workdir / "flows.mitm", "rb") as handle:
        flows = list(io.FlowReader(handle).stream())
    assert len(flows) == len(CASES)
    by_expected = dict(zip([c.expected_id for c in CASES], flows))
    for expected_id, flow in by_expected.items():
        meta = flow.metadata["cos"]
        if expected_id is None:
            assert flow.marked == ""
            continue
        assert meta["findings"][0]["id"] == expected_id
        assert flow.comment.splitlines()[0].startswith(f"✖ {expected_id}")
        assert flow.marked == ":x:"
    # Offline audit of the saved traffic: same diagnoses, action "replayed", and it exits by itself.
    report = rig.workdir / "replayed.jsonl"
    result = cosrig.run_mitmdump("-nr", str(rig.workdir / "flows.mitm"), "-s", str(cosrig.ADDON),
                                 "--set", f"cos_credentials={rig.workdir / 'credentials.txt'}",
                                 "--set", f"cos_report={report}", workdir=rig.workdir)
    assert result.returncode == 0, result.stdout + result.stderr
    records = [json.loads(line) for line in report.read_text().splitlines()]
    assert [r["action"] for r in records] == ["replayed"] * len(CASES)
    assert [r["findings"][0]["id"] if r["status"] >= 300 else None for r in records] == \
        [c.expected_id for c in CASES]
