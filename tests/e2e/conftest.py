"""Session rigs: the real mitmdump with the addon in front of the local COS emulator."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

import cosrig

pytestmark = pytest.mark.e2e


class Rig:
    def __init__(self, workdir: Path, emulator: cosrig.EmulatorThread, proxy: cosrig.Proxy, report: Path):
        self.workdir, self.emulator, self.proxy, self.report = workdir, emulator, proxy, report

    def records(self) -> list[dict]:
        if not self.report.exists():
            return []
        return [json.loads(line) for line in self.report.read_text().splitlines()]

    def record_for(self, tag: str) -> dict:
        """The one report record of the request sent to /?t=<tag>."""
        found = [r for r in self.records() if r["url"].endswith(f"?t={tag}")]
        assert len(found) == 1, f"expected one report record for {tag!r}, got {len(found)}"
        return found[0]

    def curl(self, spec, *, tag: str, host: str = cosrig.COS_HOST) -> tuple[int, dict]:
        """Upload with the real curl binary (-F builds its own multipart body)."""
        file_path = self.workdir / spec.file_name
        file_path.write_bytes(spec.file_data)
        args = ["curl", "-s", "-o", "/dev/null", "-D", "-", "-H", f"Host: {host}"]
        for name, value in spec.fields:
            args += ["--form-string", f"{name}={value}"]
        args += ["-F", f"{spec.file_field}=@{file_path};type={spec.file_type};filename={spec.file_name}",
                 f"{self.proxy.url}/?t={tag}"]
        output = subprocess.run(args, capture_output=True, text=True, timeout=60, check=True).stdout
        return parse_curl_headers(output)


def parse_curl_headers(text: str) -> tuple[int, dict]:
    blocks = [b for b in text.replace("\r\n", "\n").split("\n\n") if b.strip()]
    lines = blocks[-1].splitlines()
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers


def start_rig(tmp_path_factory, name: str, *options: str, **emulator_options) -> Rig:
    workdir = tmp_path_factory.mktemp(name)
    credentials = cosrig.write_credentials(workdir)
    report = workdir / "report.jsonl"
    emulator = cosrig.EmulatorThread.start(credentials, **emulator_options)
    proxy = cosrig.Proxy.start(emulator.port, "--set", f"cos_credentials={credentials}",
                               "--set", f"cos_report={report}", "-w", str(workdir / "flows.mitm"),
                               *options, workdir=workdir)
    return Rig(workdir, emulator, proxy, report)


@pytest.fixture(scope="session")
def rig(tmp_path_factory):
    """Diagnosis only (cos_validate=off)."""
    r = start_rig(tmp_path_factory, "rig-off")
    yield r
    r.proxy.stop()
    r.emulator.stop()
