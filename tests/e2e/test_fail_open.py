"""Fail open, proved through the real mitmdump: break each stage of the addon, traffic still flows."""
from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import requests

import cosrig
from conftest import start_rig
from fault_addon import STAGES
from seedcases import CASES, encode

pytestmark = pytest.mark.e2e

FAULT_ADDON = str(Path(__file__).with_name("fault_addon.py"))


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_every_request_gets_its_upstream_answer_when_a_stage_breaks(tmp_path_factory, stage):
    mode = "block" if stage == "block" else "warn"
    options = ["--set", f"cos_validate={mode}", "-s", FAULT_ADDON, "--set", f"cos_fault={stage}"]
    if stage == "requestheaders":
        options += ["--set", "stream_large_bodies=1k"]
    rig = start_rig(tmp_path_factory, f"fault-{stage}", *options)
    statuses = []
    try:
        now = int(time.time())
        for round_ in range(3):
            for case in CASES:
                body, content_type = encode(case.build(now, f"{stage}{round_}"), case.damage)
                response = requests.post(rig.proxy.url + "/", data=body, timeout=30,
                                         headers={"Host": cosrig.COS_HOST, "Content-Type": content_type})
                statuses.append((response.status_code, case.status))
            plain = requests.get(rig.proxy.url + "/__emulator/stats", timeout=30, headers={"Host": "example.com"})
            assert plain.status_code == 200
        received = rig.emulator.emulator.counts["POST"]
    finally:
        rig.proxy.stop()
        rig.emulator.stop()
    log = rig.proxy.log()
    assert [got for got, _ in statuses] == [want for _, want in statuses]
    assert received == 3 * len(CASES)                # every upload reached upstream
    lines = [line for line in log.splitlines() if "internal error in" in line]
    hooks = {re.search(r"internal error in (\w+)", line).group(1) for line in lines}
    assert lines and len(lines) == len(hooks), lines  # once per hook, not once per flow
    assert f"injected fault in {stage}" in lines[0]
    summary = re.search(r"(\d+) internal error\(s\)", log)
    calls = 3 if stage == "origins" else len(statuses) // 2    # origins: one non-COS answer a round
    assert summary and int(summary.group(1)) >= calls
    assert not any(name in log for name in ("cos_addon.py\"", "cosaddons/", "cosdoctor/"))  # no traceback from our code
