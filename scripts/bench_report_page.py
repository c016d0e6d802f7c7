#!/usr/bin/env python3
"""How the HTML audit report holds up at audit size: file size, time to write it, time to a first
picture in headless Chromium. Prints figures; asserts nothing.

    python scripts/bench_report_page.py                 # 10 000 flows, en and zh
    python scripts/bench_report_page.py --flows 1000 --lang ko

The records cycle through every catalogue entry (plain findings: ID, severity, phase, evidence, as
the report file stores them), so the page re-words every kind of finding once per flow. "First
picture" is Chromium's wall time to load the file and save a screenshot, less the same for an empty
page: the start-up of the browser is not the report's.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "addon"))

from cosdoctor.findings import catalogue  # noqa: E402
from cosdoctor.render.html import render_html  # noqa: E402

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1280,900")


def records(count: int) -> list[dict]:
    ids = [i for i in catalogue.all_ids() if i != "Unknown_Code"]
    out = []
    for n in range(count):
        fid = ids[n % len(ids)]
        entry = catalogue.entry(fid)
        out.append({"time": f"2026-12-01T{(n // 3600) % 24:02d}:{(n // 60) % 60:02d}:{n % 60:02d}Z",
                    "flow_id": f"flow-{n}", "client": "127.0.0.1", "method": "POST",
                    "url": f"https://examplebucket-1250000000.cos.ap-beijing.myqcloud.com/u/{n}.txt",
                    "host": "examplebucket-1250000000.cos.ap-beijing.myqcloud.com",
                    "bucket": "examplebucket-1250000000", "region": "ap-beijing", "key": f"u/{n}.txt",
                    "status": entry.status or 200, "error": None,
                    "findings": [{"id": fid, "severity": entry.severity, "phase": "response", "evidence": {}}],
                    "action": "forwarded"})
    return out


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def screenshot_seconds(browser: str, page: Path, workdir: Path) -> float:
    profile = Path(tempfile.mkdtemp(dir=workdir))
    start = time.perf_counter()
    subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                    f"--screenshot={workdir / 'shot.png'}", page.as_uri()],
                   capture_output=True, timeout=300, check=False)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flows", type=int, default=10_000)
    parser.add_argument("--lang", action="append", choices=catalogue.LANGS,
                        help="page language (repeatable; default en and zh)")
    parser.add_argument("--rounds", type=int, default=3, help="browser loads per page (the best counts)")
    args = parser.parse_args(argv)
    browser = chromium()
    data = records(args.flows)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        empty = work / "empty.html"
        empty.write_text("<!doctype html><title>empty</title>", encoding="utf-8")
        base = min(screenshot_seconds(browser, empty, work) for _ in range(args.rounds)) if browser else None
        print(f"flows: {args.flows}")
        for lang in args.lang or ["en", "zh"]:
            start = time.perf_counter()
            html = render_html(data, lang=lang)
            written = time.perf_counter() - start
            page = work / f"report-{lang}.html"
            page.write_text(html, encoding="utf-8")
            size = page.stat().st_size
            line = f"{lang}: {size / 1024 / 1024:.1f} MiB, written in {written:.2f} s"
            if browser and base is not None:
                loaded = min(screenshot_seconds(browser, page, work) for _ in range(args.rounds))
                line += f", first picture in Chromium {max(0.0, loaded - base):.2f} s (empty page {base:.2f} s)"
            else:
                line += ", Chromium not installed: no paint time"
            print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
