#!/usr/bin/env python3
"""Benchmark the COS doctor: parser throughput, proxy CPU per request, peak memory. One table.

    python scripts/bench.py                    # full run (< 10 minutes on 2 cores)
    python scripts/bench.py --quick            # small sizes, few rounds (< 60 s; the smoke test)
    python scripts/bench.py --install-extras   # first install the third-party parsers compared
    python scripts/bench.py --json out.json    # also save every figure

Why these measurements: the addon sits in front of every request a user proxies, so what matters
is what it adds to the proxy process, measured on that process (CPU from /proc/<pid>/task/*/schedstat,
peak RSS from VmHWM), with and without the addon, side by side in one run and alternating so drift
hits both alike. The parser figures are against `bytes.find` over the same buffer: the floor for any
parser that must find every delimiter.

The third-party parsers (python-multipart, multipart) are installed only for this benchmark, each
in its own folder inside the venv (`--install-extras`), because both claim the module name
`multipart`.

The benchmarks themselves live in scripts/devkit/bench/, one module per section; this file is only
the command line.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cosrig  # noqa: E402,F401  (puts addon/ on sys.path)
from devkit.bench.e2e import bench_e2e  # noqa: E402
from devkit.bench.hooks import bench_hooks  # noqa: E402
from devkit.bench.linear import bench_linear, linear_rows, linear_targets  # noqa: E402
from devkit.bench.measure import FULL, QUICK, environment, loadavg  # noqa: E402
from devkit.bench.memory import bench_memory  # noqa: E402
from devkit.bench.parsers import EXTRAS_DIR, bench_parsers, install_extras  # noqa: E402
from devkit.bench.proxies import compile_addon  # noqa: E402
from devkit.bench.report import build_rows, table, targets  # noqa: E402

SECTIONS = ("parsers", "e2e", "memory", "hooks", "linear")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few rounds (< 60 s)")
    parser.add_argument("--json", metavar="PATH", help="save every figure as JSON")
    parser.add_argument("--install-extras", action="store_true",
                        help="pip-install python-multipart and multipart (each in its own folder "
                             "inside this venv) before running")
    parser.add_argument("--extras-dir", type=Path, default=EXTRAS_DIR,
                        help=f"where --install-extras puts them (default {EXTRAS_DIR})")
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help=f"comma-separated subset of {','.join(SECTIONS)}")
    parser.add_argument("--no-pin", action="store_true",
                        help="do not pin the proxies to one CPU and this process to the others")
    parser.add_argument("--pairs", type=int, help="end to end: process pairs (default: 8, quick: 1)")
    parser.add_argument("--rounds", type=int, help="end to end: rounds per pair (default: 12, quick: 3)")
    parser.add_argument("--control", action="store_true",
                        help="A/A check of the method: the 'with' proxy runs without the addon too")
    parser.add_argument("--verbose", action="store_true", help="progress lines on stderr")
    args = parser.parse_args(argv)
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    config = QUICK if args.quick else FULL
    if args.rounds:
        config = dataclasses.replace(config, rounds=args.rounds)
    if args.pairs:
        config = dataclasses.replace(config, pairs=args.pairs)

    def log(text: str) -> None:
        if args.verbose:
            print(text, file=sys.stderr, flush=True)

    if args.install_extras:
        install_extras(args.extras_dir)
    env = environment()
    started = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix="cosdoctor-bench-"))
    if {"e2e", "memory"} & set(sections):
        compile_addon()
    parsers = bench_parsers(config, args.extras_dir, log) if "parsers" in sections else []
    e2e = bench_e2e(config, root, log, not args.no_pin, args.control) if "e2e" in sections else []
    memory = bench_memory(config, root, log) if "memory" in sections else None
    hooks = bench_hooks(config, root) if "hooks" in sections else []
    linear = bench_linear(config) if "linear" in sections else []
    elapsed = time.perf_counter() - started
    env["load_after"] = loadavg()
    verdicts = targets(parsers, e2e, memory, hooks) + linear_targets(linear)

    print(f"COS doctor benchmark ({config.name} run): Python {env['python']}, mitmproxy {env['mitmproxy']}, "
          f"{env['cpus']} CPU(s), {elapsed:.0f} s, load average {env['load_before']} -> {env['load_after']}")
    print(f"source {env['source']}")
    print("reference = bytes.find over the same buffer (parser rows), mitmdump without the addon "
          "(end-to-end and memory rows); ratio = value / reference, paired medians for end to end")
    print("'hosting a script' = mitmdump -s <an empty script>; addon bytecode compiled ahead, as on any "
          "run after the first")
    print()
    print(table(build_rows(parsers, e2e, memory, hooks) + linear_rows(linear)))
    print()
    for verdict in verdicts:
        print(verdict.line())
    if config.name == "quick":
        print("(quick run: small sizes and few rounds, indicative only; run without --quick for the figures)")
    if args.json:
        document = {"environment": env, "config": config.name, "seconds": round(elapsed, 1),
                    "parsers": [r.__dict__ for r in parsers], "end_to_end": [r.__dict__ for r in e2e],
                    "memory": memory.__dict__ if memory else None, "hooks": [h.__dict__ for h in hooks],
                    "linear": [r.__dict__ for r in linear],
                    "targets": [{"ok": t.ok, "text": t.text} for t in verdicts]}
        Path(args.json).write_text(json.dumps(document, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
