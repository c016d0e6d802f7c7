#!/usr/bin/env python3
"""Seeded fuzzer for the core's parsers: the long run behind tests/unit/tools/test_fuzz.py.

    python scripts/fuzz.py --examples 1000000 --seed 1 [--target multipart|policy|auth|xml|pipeline|xmlapi|uploadxml|sessions|all]
    python scripts/fuzz.py --replay fuzz-findings/<file>.json

Why hand-rolled: a seeded `random.Random` mutator runs one to two orders of magnitude more examples
per second than Hypothesis, which is what a million-example run needs. The invariants (`check_*`),
builders and generators live in scripts/devkit/fuzzing/ (one module per target group), so that
the CI-sized Hypothesis tests drive exactly the same checks and the two never drift apart; this
file is only the command line.

What counts as a finding: an exception out of a public function, a broken invariant (the result is
not the project's own type, an offset outside the body, a finding ID the catalogue does not know,
a report line that cannot be written, a secret in an output ...), an example that takes far longer
than its size explains, and a scale probe whose time grows faster than linearly. Each distinct
finding is minimised and written as JSON under --out; --replay runs it again.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "addon"))
sys.path.insert(0, str(ROOT / "scripts"))

from devkit.fuzzing.common import MARKER  # noqa: E402
from devkit.fuzzing.runner import TARGETS, NetTrap, fuzz_target, replay, split  # noqa: E402
from devkit.fuzzing.scale import scale_probes  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=100_000, help="total examples, split over the targets")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--target", choices=(*TARGETS, "all"), default="all")
    parser.add_argument("--out", type=Path, default=Path("fuzz-findings"))
    parser.add_argument("--no-scale", action="store_true", help="skip the linear-time probes")
    parser.add_argument("--replay", type=Path, help="re-run a reproducer written by an earlier run")
    opts = parser.parse_args(argv)
    if opts.replay:
        return replay(opts.replay)

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    targets = TARGETS if opts.target == "all" else (opts.target,)
    counts = split(opts.examples, targets)
    trap = NetTrap()
    scratch = Path(tempfile.mkdtemp(prefix="cosfuzz-"))
    marker_file = scratch / "marker.txt"
    marker_file.write_text(MARKER)
    print(f"cosdoctor fuzz: seed {opts.seed}, {opts.examples} examples over {', '.join(targets)}; "
          f"Python {sys.version.split()[0]}; findings -> {opts.out}/", flush=True)
    all_stats = []
    started = time.monotonic()
    try:
        for target in targets:
            all_stats.append(fuzz_target(target, counts[target], opts.seed, opts.out,
                                         marker_url=marker_file.resolve().as_uri(), net_url=trap.url,
                                         progress=progress))
    finally:
        time.sleep(0.3)
        trap.close()
    total_seconds = time.monotonic() - started
    failed = False
    print(f"\n{'target':<10} {'examples':>10} {'seconds':>8} {'ex/s':>8} {'slowest':>9} {'findings':>9}")
    for s in all_stats:
        n_fail = sum(f.count for f in s.findings.values())
        print(f"{s.target:<10} {s.examples:>10,} {s.seconds:>8.1f} {s.examples / max(s.seconds, 1e-9):>8,.0f} "
              f"{s.slowest * 1000:>7.1f}ms {len(s.findings):>4} ({n_fail})")
    total = sum(s.examples for s in all_stats)
    print(f"{'total':<10} {total:>10,} {total_seconds:>8.1f} {total / max(total_seconds, 1e-9):>8,.0f}")
    for s in all_stats:
        for f in s.findings.values():
            failed = True
            print(f"  FINDING [{s.target}] {f.signature} x{f.count} (first at example {f.example}): "
                  f"{f.error.splitlines()[0][:160]}\n      reproducer: {f.path}")
    print(f"external entities: {trap.connections} connection(s) to the trap port"
          f"{' -- FAILED' if trap.connections else ''}")
    failed |= trap.connections > 0
    if not opts.no_scale:
        print("\nscale probes (x16 input; exponent 1.0 = linear, 2.0 = quadratic; limit 1.5):")
        for name, t1, t16, exponent in scale_probes():
            bad = exponent > 1.5
            failed |= bad
            print(f"  {name:<26} {t1 * 1000:8.2f} ms -> {t16 * 1000:9.2f} ms  exponent {exponent:4.2f}"
                  f"{'  FAILED' if bad else ''}")
    print("\nRESULT:", "FAILED" if failed else "OK")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
