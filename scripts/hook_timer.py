"""Benchmark only: run the COS doctor inside mitmdump with its hooks timed (thread CPU time).

    mitmdump -s scripts/hook_timer.py      # instead of -s addon/cos_addon.py

The doctor (`cos_addon.addons[0]`) is the only addon of the COS doctor with flow hooks; the features
it drives (block, report, audit) run inside them and are timed with them. Not timed: mitmproxy's own
dispatch of every event to the doctor's sub-addons, which have no flow hooks (a getattr each).

The paired end-to-end ratios say what the addon costs the proxy but carry a percent or so of
noise; this says exactly how long the addon's own hooks ran inside the real process, where CPU
caches are cold (the in-process `hooks` rows time them warm). Garbage collections that happen to
start inside a hook are timed apart ("gc_ns"): they collect the whole proxy's garbage, and would
have run a moment later without the addon. Requests may carry an `X-Bench-Kind` header to be
counted under that name. At shutdown the totals are written as JSON to the file named by
COSDOCTOR_HOOK_TIMES: {kind: {"ns": hook time without GC, "gc_ns": ..., "calls": n}}.
"""
from __future__ import annotations

import gc
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "addon"))
import cos_addon  # noqa: E402

TIMED_HOOKS = ("requestheaders", "request", "response", "error")
KIND_HEADER = "x-bench-kind"


class HookTimer:
    """Wraps the doctor's hook methods on its instance; a hook switched off (None) stays off."""

    def __init__(self, doctor: cos_addon.CosDoctor) -> None:
        self.doctor = doctor
        self.totals: dict[str, dict[str, int]] = {}
        self._inside = False
        self._gc_ns = 0              # collections that ran inside the hook being timed
        self._gc_started = 0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict) -> None:
        if not self._inside:
            return
        if phase == "start":
            self._gc_started = time.thread_time_ns()
        else:
            self._gc_ns += time.thread_time_ns() - self._gc_started

    def wrap(self) -> None:
        for name in TIMED_HOOKS:
            if getattr(self.doctor, name, None):
                setattr(self.doctor, name, self._timed(getattr(self.doctor, name)))

    def _timed(self, hook):
        def timed(flow):
            self._inside, self._gc_ns = True, 0
            started = time.thread_time_ns()
            try:
                return hook(flow)
            finally:
                spent = time.thread_time_ns() - started
                self._inside = False
                kind = flow.request.headers.get(KIND_HEADER, "untagged")
                entry = self.totals.setdefault(kind, {"ns": 0, "gc_ns": 0, "calls": 0})
                entry["ns"] += spent - self._gc_ns
                entry["gc_ns"] += self._gc_ns
                entry["calls"] += 1
        return timed

    def running(self) -> None:
        self.wrap()       # after `configure` has switched hooks on or off

    def done(self) -> None:
        path = os.environ.get("COSDOCTOR_HOOK_TIMES")
        if path:
            Path(path).write_text(json.dumps(self.totals))


addons = [*cos_addon.addons, HookTimer(cos_addon.addons[0])]
