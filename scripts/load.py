#!/usr/bin/env python3
"""Load and shutdown test: many concurrent uploads through the real mitmdump with the addon.

    python scripts/load.py --uploads 1000 --clients 50 [--sigterm-after N] [--seed 1]

Starts the local COS emulator and mitmdump (reverse mode, the addon, a report), then sends a mix of
good uploads and the seven seed failures from `--clients` threads, one connection per request, each
to `/?t=<tag>` so that its report record can be found. Checks: no proxy error (every upload gets
COS's status, no 502 or broken connection), exactly one complete JSON line per COS flow, one record
per flow_id, the diagnosis header of each failure. With --sigterm-after N, mitmdump gets SIGTERM
after N responses while clients are still sending; then the report must have no torn line and
every upload whose response reached the client must have its record.
Exit status 1 when a check fails.
"""
from __future__ import annotations

import argparse
import http.client
import json
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cosrig  # noqa: E402
from seedcases import CASES, SeedCase, encode  # noqa: E402

RECORD_KEYS = ("time", "flow_id", "client", "method", "url", "host", "bucket", "region", "key", "status",
               "error", "findings", "action", "operation", "auth", "upload_id", "part_number")


@dataclass
class Outcome:
    """One upload as the client saw it."""

    index: int
    tag: str
    case: SeedCase
    status: int | None = None          # None: no HTTP response reached the client
    diagnosis: str | None = None       # the X-COS-Diagnosis header
    error: str | None = None           # the client-side exception, if any
    latency: float = 0.0
    after_sigterm: bool = False        # started after SIGTERM was sent


@dataclass
class LoadResult:
    uploads: int
    clients: int
    sigterm_after: int | None
    outcomes: list[Outcome]
    report: bytes                      # the report file, raw
    wall: float
    proxy_exit: int | None
    sigterm_sent: bool
    emulator_posts: int
    log: str = field(repr=False, default="")

    @property
    def answered(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status is not None]

    def lines(self) -> list[bytes]:
        return self.report.split(b"\n")[:-1] if self.report.endswith(b"\n") else self.report.split(b"\n")

    def records(self) -> list[dict]:
        out = []
        for line in self.lines():
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                out.append(value)
        return out


def plan(uploads: int, seed: int, now: int) -> list[tuple[str, SeedCase, bytes, str]]:
    """(tag, case, body, content type) per upload: half good, half the seed failures."""
    rng = random.Random(seed)
    failures = [c for c in CASES if c.expected_id is not None]
    good = next(c for c in CASES if c.expected_id is None)
    out = []
    for i in range(uploads):
        case = good if rng.random() < 0.5 else rng.choice(failures)
        tag = f"L{seed}x{i:06d}"
        body, content_type = encode(case.build(now, tag), case.damage)
        out.append((tag, case, body, content_type))
    return out


def _send(port: int, tag: str, body: bytes, content_type: str, timeout: float) -> tuple[int, str | None]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", f"/?t={tag}", body, {"Host": cosrig.COS_HOST, "Content-Type": content_type})
        response = conn.getresponse()
        response.read()
        return response.status, response.getheader("X-COS-Diagnosis")
    finally:
        conn.close()


def run_load(uploads: int = 1000, clients: int = 50, sigterm_after: int | None = None, *,
             workdir: Path | None = None, seed: int = 1, timeout: float = 60.0,
             upstream_delay: float = 0.0) -> LoadResult:
    """upstream_delay: the emulator sleeps this long before answering, so that a SIGTERM finds
    uploads waiting for COS (the window in which a shutdown can lose records)."""
    workdir = Path(workdir or tempfile.mkdtemp(prefix="cosload-"))
    workdir.mkdir(parents=True, exist_ok=True)
    credentials = cosrig.write_credentials(workdir)
    report = workdir / "report.jsonl"
    emulator = cosrig.EmulatorThread.start(credentials)
    # socketserver listens with a backlog of 5: a burst of `clients` upstream connections overflows it,
    # the kernel drops SYNs and mitmproxy answers 502 for the upstream's sake. Widen it in place.
    emulator.server.socket.listen(max(128, clients * 2))
    if sigterm_after is not None:         # resets from the dying proxy are expected: keep stderr readable
        emulator.server.handle_error = lambda request, client_address: None
    if upstream_delay:
        answer = emulator.emulator.post_object

        def slow_post_object(*args, **kwargs):
            time.sleep(upstream_delay)
            return answer(*args, **kwargs)
        emulator.emulator.post_object = slow_post_object
    proxy = cosrig.Proxy.start(emulator.port, "--set", f"cos_credentials={credentials}",
                               "--set", f"cos_report={report}", "--set", "flow_detail=0", workdir=workdir)
    requests = plan(uploads, seed, int(time.time()))
    outcomes = [Outcome(i, tag, case) for i, (tag, case, _, _) in enumerate(requests)]
    lock = threading.Lock()
    state = {"next": 0, "responses": 0, "sigterm": False}

    def worker() -> None:
        while True:
            with lock:
                i = state["next"]
                if i >= uploads:
                    return
                state["next"] += 1
                after = state["sigterm"]
            outcome = outcomes[i]
            outcome.after_sigterm = after
            tag, _, body, content_type = requests[i]
            t0 = time.perf_counter()
            try:
                outcome.status, outcome.diagnosis = _send(proxy.port, tag, body, content_type, timeout)
            except (OSError, http.client.HTTPException) as exc:
                outcome.error = f"{type(exc).__name__}: {exc}"
            outcome.latency = time.perf_counter() - t0
            if outcome.status is None:
                continue
            with lock:
                state["responses"] += 1
                fire = sigterm_after is not None and not state["sigterm"] and state["responses"] >= sigterm_after
                if fire:
                    state["sigterm"] = True
            if fire:
                proxy.process.send_signal(signal.SIGTERM)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    if state["sigterm"]:
        try:                              # a second SIGTERM would cut the graceful shutdown short
            proxy.process.wait(30)
        except subprocess.TimeoutExpired:
            pass
        exited = proxy.process.poll() is not None
    proxy_exit = proxy.stop() if not state["sigterm"] or exited else None
    if proxy_exit is None:
        proxy.process.kill()
        proxy.process.wait(5)
    emulator_posts = emulator.emulator.counts.get("POST", 0)
    emulator.stop()
    (workdir / "mitmdump.log").write_text(proxy.log(), encoding="utf-8", errors="replace")
    return LoadResult(uploads, clients, sigterm_after, outcomes, report.read_bytes() if report.exists() else b"",
                      wall, proxy_exit, state["sigterm"], emulator_posts, proxy.log())


def check(result: LoadResult) -> list[str]:
    """Every broken promise, as one line each (empty: all good)."""
    problems: list[str] = []
    if result.report and not result.report.endswith(b"\n"):
        problems.append(f"torn last line: {result.report[-80:]!r}")
    lines = result.lines()
    for n, line in enumerate(lines, 1):
        try:
            value = json.loads(line)
        except ValueError as exc:
            problems.append(f"report line {n} is not JSON ({exc}): {line[:80]!r}")
            continue
        if not isinstance(value, dict) or tuple(value) != RECORD_KEYS:
            problems.append(f"report line {n} is not a contract record: {line[:80]!r}")
    records = result.records()
    flow_ids = [r["flow_id"] for r in records]
    if len(set(flow_ids)) != len(flow_ids):
        problems.append(f"{len(flow_ids) - len(set(flow_ids))} flow_id(s) recorded twice")
    by_tag: dict[str, list[dict]] = {}
    for r in records:
        tag = str(r.get("url", "")).rpartition("?t=")[2]
        by_tag.setdefault(tag, []).append(r)
    for tag, found in by_tag.items():
        if len(found) > 1:
            problems.append(f"{tag}: {len(found)} records for one upload")
    for o in result.answered:
        found = by_tag.get(o.tag, [])
        if len(found) != 1:
            problems.append(f"{o.tag}: the client got {o.status} but the report has {len(found)} record(s)")
        elif found[0]["status"] != o.status and not (o.status == 502 and found[0]["status"] is None):
            problems.append(f"{o.tag}: the client got {o.status}, the record says {found[0]['status']}")
    if "cosdoctor: internal error in" in result.log or addon_tracebacks(result.log):
        problems.append("the addon logged an internal error or a traceback")
    if result.sigterm_after is None:
        failed = [o for o in result.outcomes if o.status is None]
        for o in failed[:5]:
            problems.append(f"{o.tag}: proxy error: {o.error}")
        if len(failed) > 5:
            problems.append(f"... {len(failed) - 5} more proxy errors")
        wrong = [o for o in result.answered if o.status != o.case.status]
        for o in wrong[:5]:
            problems.append(f"{o.tag} ({o.case.title}): status {o.status}, COS answers {o.case.status}")
        misdiagnosed = [o for o in result.answered if o.case.expected_id and o.diagnosis != o.case.expected_id]
        for o in misdiagnosed[:5]:
            problems.append(f"{o.tag} ({o.case.title}): X-COS-Diagnosis {o.diagnosis}, "
                            f"expected {o.case.expected_id}")
        if len(lines) != len(result.answered):
            problems.append(f"{len(lines)} report lines for {len(result.answered)} COS flows answered")
        if result.emulator_posts != result.uploads:
            problems.append(f"the emulator saw {result.emulator_posts} uploads, {result.uploads} were sent")
        if result.proxy_exit != 0:
            problems.append(f"mitmdump exited with {result.proxy_exit}")
    else:
        if not result.sigterm_sent:
            problems.append(f"SIGTERM was never sent: only {len(result.answered)} responses")
        if result.proxy_exit is None:
            problems.append("mitmdump did not exit after SIGTERM")
        early = [o for o in result.outcomes if not o.after_sigterm and o.status is None]
        if early and not result.sigterm_sent:
            problems.append(f"{len(early)} uploads failed before SIGTERM")
    return problems


def addon_tracebacks(log: str) -> int:
    """Tracebacks that pass through the addon (mitmproxy's own shutdown noise is not ours)."""
    blocks = re.split(r"(?m)^(?=Traceback \(most recent call last\):)", log)[1:]
    return sum(1 for block in blocks if any(marker in block for marker in ("cos_addon.py", "/cosdoctor/", "/cosaddons/")))


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(result: LoadResult) -> str:
    answered = result.answered
    latencies = [o.latency * 1000 for o in answered]
    by_status: dict[str, int] = {}
    for o in result.outcomes:
        key = str(o.status) if o.status is not None else "no response"
        by_status[key] = by_status.get(key, 0) + 1
    lines = [
        f"uploads {result.uploads} from {result.clients} clients in {result.wall:.2f} s: "
        f"{len(answered) / max(result.wall, 1e-9):.0f} uploads/s answered",
        f"latency p50 {percentile(latencies, 0.50):.1f} ms, p95 {percentile(latencies, 0.95):.1f} ms, "
        f"max {max(latencies, default=float('nan')):.1f} ms",
        "statuses: " + ", ".join(f"{k}: {v}" for k, v in sorted(by_status.items())),
        f"report: {len(result.lines())} lines, {len(result.records())} JSON records, "
        f"{len({r['flow_id'] for r in result.records()})} flow ids; emulator saw {result.emulator_posts} uploads; "
        f"mitmdump exit {result.proxy_exit}",
    ]
    tracebacks = result.log.count("Traceback (most recent call last)")
    if tracebacks:
        lines.append(f"mitmdump log: {tracebacks} traceback(s), {addon_tracebacks(result.log)} through the addon")
    if result.sigterm_after is not None:
        after = [o for o in result.outcomes if o.after_sigterm]
        unseen = result.emulator_posts - len(result.records())
        lines.append(f"uploads that reached the emulator but have no record and no client response "
                     f"(cancelled in flight by the shutdown): {max(0, unseen)}")
        lines.append(f"SIGTERM after {result.sigterm_after} responses: sent={result.sigterm_sent}; "
                     f"{len(answered)} answered in all, {sum(1 for o in after if o.status is not None)} of "
                     f"{len(after)} uploads started after SIGTERM answered, "
                     f"{sum(1 for o in result.outcomes if o.status is None)} got no response")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uploads", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--sigterm-after", type=int, default=None, metavar="N",
                        help="SIGTERM mitmdump after N responses, while clients are still sending")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--upstream-delay", type=float, default=0.0, metavar="SECONDS",
                        help="make the emulator answer this much later (widens the SIGTERM window)")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the report and logs here")
    opts = parser.parse_args(argv)
    result = run_load(opts.uploads, opts.clients, opts.sigterm_after, workdir=opts.workdir, seed=opts.seed,
                      upstream_delay=opts.upstream_delay)
    print(summary(result))
    problems = check(result)
    for problem in problems:
        print("FAIL:", problem)
    print("RESULT:", "FAILED" if problems else "OK")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
