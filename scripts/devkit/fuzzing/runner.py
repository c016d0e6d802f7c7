"""Running the targets: one seeded loop per target, time limits, grouping repeats of one bug,
minimising a failing example, writing it as a reproducer and replaying it."""
from __future__ import annotations

import base64
import json
import os
import random
import re
import signal
import socket
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from devkit.fuzzing.auth import check_auth, gen_auth
from devkit.fuzzing.common import Violation
from devkit.fuzzing.multipart import check_multipart_example, gen_multipart
from devkit.fuzzing.pipeline import check_pipeline, gen_pipeline
from devkit.fuzzing.policy import check_policy, gen_policy
from devkit.fuzzing.sessions import check_sessions, gen_sessions
from devkit.fuzzing.uploadxml import check_upload_xml, gen_upload_xml
from devkit.fuzzing.xml import check_error_xml, gen_xml
from devkit.fuzzing.xmlapi import check_xmlapi, gen_xmlapi

TARGETS = ("multipart", "policy", "auth", "xml", "pipeline", "xmlapi", "uploadxml", "sessions")
# Targets whose generator takes the marker file's URL and the trap port's URL.
NETWORK_TARGETS = ("xml", "pipeline", "uploadxml")
# Each target: its invariants, check(**args), and its seeded generator, generate(rng, **extra) -> args.
CHECKS: dict[str, Callable[..., object]] = {
    "multipart": lambda mode="plain", **kw: check_multipart_example(mode, **kw),
    "policy": check_policy,
    "auth": check_auth,
    "xml": check_error_xml,
    "pipeline": check_pipeline,
    "xmlapi": check_xmlapi,
    "uploadxml": check_upload_xml,
    "sessions": check_sessions,
}
GENERATORS: dict[str, Callable[..., dict]] = {
    "multipart": gen_multipart, "policy": gen_policy, "auth": gen_auth, "xml": gen_xml, "pipeline": gen_pipeline,
    "xmlapi": gen_xmlapi, "uploadxml": gen_upload_xml, "sessions": gen_sessions,
}


@dataclass
class Finding:
    target: str
    signature: str
    kind: str                   # exception | violation | slow | hang
    error: str
    trace: str
    args: dict
    example: int
    count: int = 1
    path: str | None = None


class Hang(BaseException):
    """Not an Exception: the core's own `except Exception` must not swallow it."""


def _on_alarm(signum, frame):  # noqa: ARG001
    raise Hang("example did not finish in time")


def run_check(target: str, args: dict) -> None:
    CHECKS[target](**args)


def classify(exc: BaseException) -> tuple[str, str]:
    """(kind, signature): repeats of one bug group together."""
    if isinstance(exc, Violation):
        return "violation", f"violation {exc.code}"
    if isinstance(exc, Hang):
        return "hang", "hang"
    frames = traceback.extract_tb(exc.__traceback__)
    core = [f for f in frames if "/addon/" in f.filename.replace(os.sep, "/")]
    frame = (core or frames or [None])[-1]
    where = f"{Path(frame.filename).name}:{frame.lineno}" if frame else "?"
    return "exception", f"{type(exc).__name__} at {where}"


def attempt(target: str, args: dict) -> BaseException | None:
    try:
        run_check(target, args)
    except Exception as exc:  # noqa: BLE001 - anything out of the core is a finding
        return exc
    return None


def input_size(args: dict) -> int:
    total = 0
    for value in args.values():
        if isinstance(value, (bytes, str)):
            total += len(value)
        elif isinstance(value, dict):
            total += sum(len(str(v)) for v in value.values())
        elif isinstance(value, list):         # a sequence of exchanges (sessions): each one's inputs
            total += sum(input_size(v) for v in value if isinstance(v, dict))
    return total


def time_budget(args: dict) -> float:
    """Generous on purpose: a linear parser is far inside it, a quadratic one on 100 KB is not."""
    return 1.0 + input_size(args) / 2_000_000


# Violations that compare with what the generator built: shrinking one side alone is meaningless.
EXPECTATION_CODES = ("valid-", "stream.", "roundtrip", "policy.raw", "policy.document")
CONTROL_KEYS = frozenset({"mode", "lang", "creds", "endpoint", "method", "kind"})


def minimise(target: str, args: dict, signature: str, *, seconds: float = 10.0, max_tries: int = 3000) -> dict:
    """Delete chunks of the largest inputs (bytes, text, and lists such as a story's steps) while
    the same signature reproduces."""
    deadline = time.monotonic() + seconds
    tries = 0

    def same(candidate: dict) -> bool:
        nonlocal tries
        tries += 1
        exc = attempt(target, candidate)
        return exc is not None and classify(exc)[1] == signature

    best = dict(args)
    if any(word in signature for word in EXPECTATION_CODES):
        return best               # the input and its expectation only make sense together
    for key in [k for k in ("expect", "expect_raw", "expect_doc", "expect_ok") if k in best]:
        candidate = dict(best, **{key: False if key == "expect_ok" else None})
        if same(candidate):
            best = candidate
    keys = sorted((k for k, v in best.items() if isinstance(v, (bytes, str, list)) and v and k not in CONTROL_KEYS),
                  key=lambda k: -len(best[k]))
    for key in keys:
        value = best[key]
        chunk = max(1, len(value) // 2)
        while chunk >= 1 and time.monotonic() < deadline and tries < max_tries:
            i, changed = 0, False
            while i < len(value) and time.monotonic() < deadline and tries < max_tries:
                candidate_value = value[:i] + value[i + chunk:]
                if same(dict(best, **{key: candidate_value})):
                    value, changed = candidate_value, True
                    best[key] = value
                else:
                    i += chunk
            if not changed:
                chunk //= 2
    return best


def encode_args(value: object) -> object:
    if isinstance(value, (bytes, bytearray)):
        return {"__bytes__": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, memoryview):
        return {"__memoryview__": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, str) and re.search("[\ud800-\udfff]", value):
        return {"__str__": base64.b64encode(value.encode("utf-8", "surrogatepass")).decode()}
    if isinstance(value, dict):
        return {str(k): encode_args(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode_args(v) for v in value]
    return value


def decode_args(value: object) -> object:
    if isinstance(value, dict):
        if set(value) == {"__bytes__"}:
            return base64.b64decode(value["__bytes__"])
        if set(value) == {"__memoryview__"}:
            return memoryview(base64.b64decode(value["__memoryview__"]))
        if set(value) == {"__str__"}:
            return base64.b64decode(value["__str__"]).decode("utf-8", "surrogatepass")
        return {k: decode_args(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_args(v) for v in value]
    return value


def write_finding(out: Path, finding: Finding, seed: int) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^A-Za-z0-9]+", "-", finding.signature).strip("-")[:60]
    path = out / f"{finding.target}-{slug}.json"
    payload = {"target": finding.target, "kind": finding.kind, "signature": finding.signature,
               "error": finding.error, "traceback": finding.trace, "seed": seed, "example": finding.example,
               "occurrences": finding.count, "args": encode_args(finding.args),
               "replay": f"python scripts/fuzz.py --replay {path}"}
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=True) + "\n")
    finding.path = str(path)
    return path


@dataclass
class TargetStats:
    target: str
    examples: int = 0
    seconds: float = 0.0
    slowest: float = 0.0
    slowest_size: int = 0
    findings: dict = field(default_factory=dict)   # signature -> Finding


class NetTrap:
    """A loopback listener that counts connections: an external entity must never reach it."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/x.dtd"

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self.thread.join(2)
        self.sock.close()


def fuzz_target(target: str, examples: int, seed: int, out: Path, *, marker_url: str, net_url: str,
                progress: Callable[[str], None], max_findings: int = 50) -> TargetStats:
    r = random.Random(f"{seed}:{target}")
    stats = TargetStats(target)
    generate = GENERATORS[target]
    extra = {"marker_url": marker_url, "net_url": net_url} if target in NETWORK_TARGETS else {}
    use_alarm = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if use_alarm:
        signal.signal(signal.SIGALRM, _on_alarm)
    started = last_report = time.monotonic()
    for i in range(examples):
        args = generate(r, **extra)
        t0 = time.perf_counter()
        try:
            if use_alarm:
                signal.setitimer(signal.ITIMER_REAL, 60)
            exc = attempt(target, args)
        except Hang as hang:
            exc = hang
        finally:
            if use_alarm:
                signal.setitimer(signal.ITIMER_REAL, 0)
        elapsed = time.perf_counter() - t0
        if elapsed > stats.slowest:
            stats.slowest, stats.slowest_size = elapsed, input_size(args)
        if exc is None and elapsed > time_budget(args):
            again = min(_timed(target, args) for _ in range(2))
            if again > time_budget(args):
                exc = Violation("slow", f"{again:.2f} s for {input_size(args)} input bytes")
        if exc is not None:
            kind, sig = classify(exc)
            if kind == "violation" and getattr(exc, "code", "") == "slow":
                kind = "slow"
            found = stats.findings.get(sig)
            if found is not None:
                found.count += 1
            elif len(stats.findings) < max_findings:
                trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
                small = args if kind in ("slow", "hang") else minimise(target, args, sig)
                finding = Finding(target, sig, kind, f"{type(exc).__name__}: {exc}"[:2000], trace, small, i)
                small_exc = attempt(target, small) if small is not args else None
                if small_exc is not None:
                    finding.trace = "".join(traceback.format_exception(type(small_exc), small_exc,
                                                                       small_exc.__traceback__))
                    finding.error = f"{type(small_exc).__name__}: {small_exc}"[:2000]
                stats.findings[sig] = finding
                write_finding(out, finding, seed)
                progress(f"[{target}] NEW FINDING at example {i}: {sig} -> {finding.path}")
        now = time.monotonic()
        if now - last_report > 10:
            last_report = now
            rate = (i + 1) / (now - started)
            progress(f"[{target}] {i + 1}/{examples} examples, {rate:,.0f}/s, "
                     f"{sum(f.count for f in stats.findings.values())} failing")
        stats.examples = i + 1
    stats.seconds = time.monotonic() - started
    return stats


def _timed(target: str, args: dict) -> float:
    t0 = time.perf_counter()
    attempt(target, args)
    return time.perf_counter() - t0


def split(examples: int, targets: tuple[str, ...]) -> dict[str, int]:
    each, rest = divmod(examples, len(targets))
    return {t: each + (1 if i < rest else 0) for i, t in enumerate(targets)}


def replay(path: Path) -> int:
    payload = json.loads(path.read_text())
    args = decode_args(payload["args"])
    exc = attempt(payload["target"], args)
    if exc is None:
        print(f"{path}: passes now ({payload['signature']} no longer reproduces)")
        return 0
    print(f"{path}: still fails: {classify(exc)[1]}")
    traceback.print_exception(type(exc), exc, exc.__traceback__)
    return 1
