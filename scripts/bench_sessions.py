#!/usr/bin/env python3
"""Benchmark multipart-upload sessions: memory with 10 000 uploads, and the cost of a part's diagnosis.

    python scripts/bench_sessions.py            # prints one table

The doctor keeps a small record per multipart upload (UploadSessions: capped at MAX_SESSIONS
uploads and MAX_PARTS parts, oldest dropped). This drives 10 000 uploads of 3 parts each through
the one pipeline (diagnose_exchange), as the addon does, and prints the memory the sessions hold
(tracemalloc), how many are kept, and the in-process time of an UploadPart flow with a 1 MiB body
(which is never read: the time does not depend on the body).
"""
from __future__ import annotations

import statistics
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cosrig  # noqa: E402,F401  (puts addon/ on sys.path)
from cosdoctor.cos.hosts import parse_cos_host  # noqa: E402
from cosdoctor.findings.diagnose import PlainResponse, diagnose_exchange, request_for  # noqa: E402
from cosdoctor.findings.sessions import MAX_PARTS, MAX_SESSIONS, UploadSessions  # noqa: E402

HOST = "examplebucket-1250000000.cos.ap-beijing.myqcloud.com"
ENDPOINT = parse_cos_host(HOST)
NOW = 1_795_000_000
PART = b"\0" * (1024 * 1024)


def upload(sessions: UploadSessions, n: int, parts: int = 3) -> None:
    upload_id = f"{NOW}{n:032x}"
    key = f"uploads/file-{n}.bin"
    body = f"<InitiateMultipartUploadResult><UploadId>{upload_id}</UploadId></InitiateMultipartUploadResult>".encode()
    diagnose_exchange(request_for("POST", HOST, f"/{key}?uploads", {"host": HOST}, b"", ENDPOINT),
                      PlainResponse(200, {}, body, NOW), now=NOW, sessions=sessions, flow_id=f"i{n}")
    for number in range(1, parts + 1):
        part_flow(sessions, key, upload_id, number, f"p{n}-{number}")


def part_flow(sessions: UploadSessions, key: str, upload_id: str, number: int, flow_id: str):
    request = request_for("PUT", HOST, f"/{key}?partNumber={number}&uploadId={upload_id}",
                          {"host": HOST, "content-length": str(len(PART))}, b"", ENDPOINT, body_size=len(PART))
    return diagnose_exchange(request, PlainResponse(200, {"etag": '"%032x"' % number}, b"", NOW), now=NOW,
                             sessions=sessions, flow_id=flow_id)


def main() -> int:
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    sessions = UploadSessions()
    started = time.perf_counter()
    for n in range(10_000):
        upload(sessions, n)
    elapsed = time.perf_counter() - started
    held = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    timings = []
    warm = UploadSessions()
    upload(warm, 0, parts=0)
    for number in range(1, 2001):
        t0 = time.perf_counter_ns()
        part_flow(warm, "uploads/file-0.bin", f"{NOW}{0:032x}", number % 10000 + 1, f"w{number}")
        timings.append((time.perf_counter_ns() - t0) / 1000)
    print("| figure | value |\n|---|---|")
    print(f"| uploads driven (3 parts each) | 10 000 ({elapsed:.2f} s, {elapsed / 40_000 * 1e6:.0f} µs per flow) |")
    print(f"| sessions kept (cap {MAX_SESSIONS}, parts cap {MAX_PARTS}) | {len(sessions)} sessions, {sessions.part_count} parts |")
    print(f"| memory the sessions hold | {held / 1024 / 1024:.2f} MiB ({held / max(1, len(sessions)):.0f} B per session) |")
    print(f"| UploadPart 1 MiB, in-process diagnosis | median {statistics.median(timings):.1f} µs, "
          f"p95 {sorted(timings)[int(len(timings) * 0.95)]:.1f} µs |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
