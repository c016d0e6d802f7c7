"""Peak memory: a large COS upload through mitmdump with and without the addon, fresh processes in
alternating order, VmHWM before and after."""
from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cosrig
from devkit.bench.bodies import BOUNDARY, cos_form
from devkit.bench.measure import KIB, Config, human, proc_status_kib
from devkit.bench.proxies import Client, Kind, start_emulator, start_proxy

@dataclass
class MemoryResult:
    upload: int
    peak_mib_with: float
    peak_mib_without: float
    extra_mib: float                 # peak with - peak without (medians)
    growth_mib_with: float           # peak - RSS before the upload
    growth_mib_without: float
    idle_mib_with: float             # RSS after warm-up, before the upload: the addon's own footprint
    idle_mib_without: float
    runs: int


def bench_memory(config: Config, root: Path, log: Callable[[str], None]) -> MemoryResult:
    emulator, credentials = start_emulator(root)
    spec = cos_form(config.memory_upload, key="bench/peak.bin", seed=3)
    body, content_type = spec.encode(BOUNDARY)
    del spec
    big = Kind(f"COS upload {human(config.memory_upload)}", "POST", cosrig.COS_HOST, "/", body,
               content_type, 204, 1)
    small_spec = cos_form(KIB, key="bench/warm.bin", seed=4)
    small_body, small_type = small_spec.encode(BOUNDARY)
    warm = Kind("warm-up", "POST", cosrig.COS_HOST, "/", small_body, small_type, 204, 1)
    peaks: dict[bool, list[float]] = {True: [], False: []}
    growth: dict[bool, list[float]] = {True: [], False: []}
    idle: dict[bool, list[float]] = {True: [], False: []}
    try:
        for run in range(config.memory_runs):
            for addon in ((True, False) if run % 2 == 0 else (False, True)):
                proxy = start_proxy("addon" if addon else "bare", emulator.port, credentials, root, "mem")
                try:
                    client = Client(proxy.port)
                    for kind in (warm, warm):
                        if client.send(kind) != kind.expect:
                            raise RuntimeError("warm-up upload failed")
                    before = proc_status_kib(proxy.process.pid, "VmHWM")
                    idle[addon].append(proc_status_kib(proxy.process.pid, "VmRSS") / KIB)
                    status = client.send(big)
                    if status != big.expect:
                        raise RuntimeError(f"{big.name}: HTTP {status}, expected {big.expect}")
                    peak = proc_status_kib(proxy.process.pid, "VmHWM")
                    client.close()
                finally:
                    proxy.stop()
                peaks[addon].append(peak / KIB)
                growth[addon].append((peak - before) / KIB)
                log(f"  peak memory {'with' if addon else 'without'} the addon: {peak / KIB:.1f} MiB "
                    f"(+{(peak - before) / KIB:.1f} MiB during the upload)")
            with emulator.emulator.lock:
                emulator.emulator.objects.clear()
    finally:
        emulator.stop()
    with_, without = statistics.median(peaks[True]), statistics.median(peaks[False])
    return MemoryResult(config.memory_upload, with_, without, with_ - without,
                        statistics.median(growth[True]), statistics.median(growth[False]),
                        statistics.median(idle[True]), statistics.median(idle[False]), config.memory_runs)
