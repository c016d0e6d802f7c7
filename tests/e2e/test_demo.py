"""scripts/demo.py as a new user runs it: what it prints, and that it leaves nothing behind."""
from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from demo import MULTIPART_FLOWS, xml_api_cases
from seedcases import CASES

pytestmark = pytest.mark.e2e

DEMO = Path(__file__).resolve().parents[2] / "scripts" / "demo.py"
FOLDER_RE = re.compile(r"Working folder (\S+) ")


def test_block_mode_demo_shows_local_answers_every_finding_and_no_none(tmp_path):
    kept = tmp_path / "kept.jsonl"
    done = subprocess.run([sys.executable, str(DEMO), "--validate", "block", "--report", str(kept)],
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    folder = Path(FOLDER_RE.search(out).group(1))
    assert not folder.exists()                                    # the credentials file went with it
    requests = len(CASES) + len(xml_api_cases(0)) + MULTIPART_FLOWS
    assert kept.exists() and len(kept.read_text().splitlines()) == requests
    assert "None" not in out
    blocked = len([c for c in CASES if c.expected_id]) + 1           # + the expired presigned URL
    received = [line for line in out.splitlines() if " -> " in line]
    assert len(received) == requests - MULTIPART_FLOWS + 3          # one line per multipart story
    assert sum(line.endswith("(blocked locally)") for line in received) == blocked
    assert out.count("blocked locally] ") == blocked                  # in the report section too
    put_plus = next(line for line in received if line.startswith("PUT, key with + sent raw"))
    assert put_plus.endswith("403  SignatureDoesNotMatch_Authorization")   # COS answers it, never a POST cause
    assert "presigned GET used after it expired" in next(line for line in received if "AccessDenied_RequestExpired" in line)
    assert "blocked locally] -: MalformedPOSTRequest_POSTBody" in out    # no key: "-"
    assert "also: ⚠ Warning_KeyTimeOutlivesPolicy" in out          # every finding, not only the first
    stories = [line for line in received if line.startswith("multipart: ")]
    assert [line.split()[-1] for line in stories] == ["EntityTooSmall_PartSize", "InvalidPart_CompleteList",
                                                      "AccessDenied_NoPermission"]
    assert "Warning_ETagHidden" in out and "name/cos:UploadPart" in out


def processes_using(folder: Path) -> list[int]:
    """Processes whose command line names `folder` (mitmdump's confdir lives in it)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if str(folder).encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


@pytest.mark.parametrize("stage", ["starting", "mitmdump-starting", "uploading"])
def test_ctrl_c_removes_the_working_folder_and_stops_mitmdump(stage):
    process = subprocess.Popen([sys.executable, "-u", str(DEMO)], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        first = process.stdout.readline()
        folder = Path(FOLDER_RE.search(first).group(1))
        if stage == "mitmdump-starting":
            deadline = time.monotonic() + 60
            while not (folder / "conf").exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            assert (folder / "conf").exists()
        elif stage == "uploading":
            while "COS emulator on" not in process.stdout.readline():
                pass
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    if stage == "uploading" and process.returncode == 0:
        pass                                                      # it finished before the signal came
    else:
        assert process.returncode == 130, first + rest
        assert "Interrupted." in rest
    assert "Traceback" not in rest
    assert not folder.exists()
    assert processes_using(folder) == []                          # mitmdump did not outlive the demo
