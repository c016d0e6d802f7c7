#!/usr/bin/env python3
"""The demo: the addon in front of the local COS emulator, one upload per COS troubleshooting case.

Starts the emulator and `mitmdump -s addon/cos_addon.py` (reverse mode, COS Host kept), sends the
seven failing uploads of COS's "POST Object common exceptions" page plus a good one with urllib,
and prints what the client received (status, X-COS-Diagnosis) and the addon's report.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cosrig  # noqa: E402
from seedcases import CASES, encode  # noqa: E402


def send(proxy_url: str, body: bytes, content_type: str) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(proxy_url + "/", data=body, method="POST", headers={
        "Host": cosrig.COS_HOST, "Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lang", default="en", choices=("en", "ko", "zh"))
    parser.add_argument("--validate", default="off", choices=("off", "warn", "block"))
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="cos-demo-"))
    credentials = cosrig.write_credentials(workdir)
    report = workdir / "report.jsonl"
    emulator = cosrig.EmulatorThread.start(credentials)
    proxy = cosrig.Proxy.start(emulator.port, "--set", f"cos_credentials={credentials}",
                               "--set", f"cos_report={report}", "--set", f"cos_lang={args.lang}",
                               "--set", f"cos_validate={args.validate}", workdir=workdir)
    print(f"COS emulator on 127.0.0.1:{emulator.port}; mitmdump (reverse, addon loaded) on {proxy.url}\n")
    try:
        now = int(time.time())
        for case in CASES:
            title = case.title
            status, headers = send(proxy.url, *encode(case.build(now), case.damage))
            diagnosis = headers.get("X-COS-Diagnosis", "-")
            print(f"{title:45} -> {status}  {diagnosis}")
            if diagnosis != "-":
                print(f"{'':49}{headers.get('X-COS-Diagnosis-Detail', '')}")
    finally:
        proxy.stop()
        emulator.stop()
    print(f"\nReport: {report}")
    for line in report.read_text().splitlines():
        entry = json.loads(line)
        first = entry["findings"][0] if entry["findings"] else None
        print(f"\n[{entry['status']}] {entry['key']}: " + (f"{first['id']} — {first['title']}" if first else "no findings"))
        if first:
            print(f"    cause: {first['cause']}\n    fix:   {first['fix']}")
            interesting = {k: v for k, v in first["evidence"].items() if v not in (None, "", [])}
            print("    evidence: " + json.dumps(interesting, ensure_ascii=False)[:600])
    return 0


if __name__ == "__main__":
    sys.exit(main())
