"""How the benchmarks measure: run sizes, best-of timing loops, a process's CPU and memory from /proc,
paired ratios with bootstrap intervals, and the machine and source a run was made on."""
from __future__ import annotations

import gc
import importlib.metadata
import os
import platform
import random
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cosrig

KIB, MIB = 1024, 1024 * 1024


@dataclass(frozen=True)
class Config:
    name: str
    file_sizes: tuple[int, ...]       # file-part sizes of the file-dominant bodies
    small_fields: int                 # fields of the many-small-fields body
    min_time: float                   # a timing loop runs at least this long
    repeats: int                      # best of N (fewer for large bodies, see repeats_for)
    time_budget: float                # seconds per (body, parser) before repeats stop early
    uploads: tuple[int, ...]          # COS upload file sizes end to end
    pairs: int                        # end to end: fresh (with, without) process pairs
    rounds: int                       # rounds per pair (each: every request kind, both proxies)
    batch: dict[str, int]             # requests per batch by request kind
    memory_upload: int
    memory_runs: int                  # fresh processes per variant

    def repeats_for(self, size: int) -> int:
        return min(self.repeats, 5) if size >= 4 * MIB else self.repeats


FULL = Config("full", (KIB, 64 * KIB, MIB, 16 * MIB, 256 * MIB), 10_000, 0.05, 7, 8.0,
              (64 * KIB, 10 * MIB), 8, 12, {"small": 30, "large": 8}, 256 * MIB, 5)
QUICK = Config("quick", (KIB, 64 * KIB, MIB), 1_000, 0.005, 3, 2.0,
               (64 * KIB, MIB), 1, 3, {"small": 3, "large": 1}, 16 * MIB, 1)


def human(size: int) -> str:
    for unit, scale in (("MiB", MIB), ("KiB", KIB)):
        if size >= scale and size % scale == 0:
            return f"{size // scale} {unit}"
    return f"{size} B"


def best_time(fn: Callable[[], object], min_time: float, repeats: int, budget: float) -> float:
    """Seconds per call: best of `repeats` loops of at least `min_time`, GC off, like timeit."""
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        started = time.perf_counter()
        fn()
        once = time.perf_counter() - started
        loops = max(1, int(min_time / max(once, 1e-9)))
        best = once if loops == 1 else float("inf")
        for _ in range(repeats):
            if time.perf_counter() - started > budget:
                break
            t0 = time.perf_counter()
            for _ in range(loops):
                fn()
            best = min(best, (time.perf_counter() - t0) / loops)
        return best
    finally:
        if enabled:
            gc.enable()


def cpu_ns(pid: int) -> int:
    """CPU time of every thread of a process in ns (schedstat), else utime+stime (clock ticks)."""
    total, found = 0, False
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        tids = []
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as handle:
                total += int(handle.read().split()[0])
                found = True
        except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
            pass
    if found:
        return total
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def proc_status_kib(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def pin(pid: int, cpus: set[int]) -> None:
    """Every thread of `pid` (threads started later inherit it from their parent thread)."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            os.sched_setaffinity(int(tid), cpus)
        except OSError:
            pass


def cpu(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> list[float]:
    """Per-batch CPU ratios a/b of two variants measured in the same rounds."""
    return [x[0] / y[0] for x, y in zip(a, b) if y[0] > 0]


def median_ci(values: list[float], resamples: int = 2000) -> tuple[float, float]:
    """95% bootstrap interval of the median: how far the figure can be trusted on this machine."""
    rng = random.Random(0)
    medians = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(resamples))
    return medians[int(0.025 * resamples)], medians[int(0.975 * resamples) - 1]


def human_bytes(n: int) -> str:
    if n >= MIB:
        return f"{n / MIB:.1f} MiB"
    if n >= KIB:
        return f"{n / KIB:.1f} KiB"
    return f"{n} B"


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def source_state() -> str:
    """The commit measured, and whether addon/ had uncommitted changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=cosrig.ROOT, capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "addon"], cwd=cosrig.ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"
    return (head or "?") + ("+uncommitted addon changes" if dirty else "")


def environment() -> dict[str, str]:
    try:
        mitm = importlib.metadata.version("mitmproxy")
    except importlib.metadata.PackageNotFoundError:
        mitm = "-"
    return {"python": platform.python_version(), "mitmproxy": mitm, "source": source_state(),
            "machine": platform.machine(),
            "cpus": str(len(os.sched_getaffinity(0))), "kernel": platform.release(), "load_before": loadavg()}
