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
"""
from __future__ import annotations

import argparse
import base64
import dataclasses
import gc
import http.client
import importlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cosrig  # noqa: E402  (puts addon/ on sys.path)
from cosdoctor.wire.form import parse_form  # noqa: E402
from devkit.formbuilder import FormSpec, signed_form  # noqa: E402
from cosdoctor.wire.multipart import parse_multipart  # noqa: E402

KIB, MIB = 1024, 1024 * 1024
BOUNDARY = "----WebKitFormBoundary7MA4YWxkTrZu0gW"   # what a browser sends
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"
EXTRAS = ("python-multipart", "multipart")
NOT_INSTALLED = "not installed (pip install python-multipart multipart)"
EXTRAS_DIR = Path(sys.prefix) / "cosdoctor-bench-extras"
NON_COS_HOST = "example.com"

# Targets of the issue: (CPU ratio on COS uploads, on non-COS traffic, parser/bytes.find, extra MiB).
TARGET_COS_CPU = 1.03
TARGET_NON_COS_CPU = 1.01
TARGET_SCAN_RATIO = 0.5
TARGET_EXTRA_MIB = 2.0
LARGE_FILE_PART = 16 * MIB        # "large file parts": the target is checked on sizes from here up


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


# --- bodies ------------------------------------------------------------------------------------

def file_data(size: int, seed: int) -> bytes:
    """Random bytes with `\\r\\n--` every 4 KiB and a half-boundary every 64 KiB: look-alikes that
    make every parser's delimiter search stop and check, as real binary files sometimes do."""
    rng, chunk = random.Random(seed), 16 * MIB        # randbytes() takes at most 2**31 bits at once
    data = bytearray()
    for at in range(0, size, chunk):
        data += rng.randbytes(min(chunk, size - at))
    near = b"\r\n--" + BOUNDARY[: len(BOUNDARY) // 2].encode()
    for at in range(2048, size - len(near), 4 * KIB):
        data[at:at + 4] = b"\r\n--"
    for at in range(32 * KIB, size - len(near), 64 * KIB):
        data[at:at + len(near)] = near
    return bytes(data)


def cos_form(size: int, *, key: str, now: int | None = None, seed: int = 1) -> FormSpec:
    spec = signed_form(cosrig.SECRET_ID, cosrig.SECRET_KEY, cosrig.BUCKET, key,
                       now=int(time.time()) if now is None else now, ttl=3600)
    spec.file_name, spec.file_type = Path(key).name, "application/octet-stream"
    spec.file_data = file_data(size, seed)
    return spec


def file_body(size: int) -> tuple[bytes, int]:
    """(a signed COS form around a `size`-byte file, its part count)."""
    spec = cos_form(size, key="bench/file.bin", now=1_700_000_000)
    body, _ = spec.encode(BOUNDARY)
    return body, len(spec.fields) + 1


def fields_body(count: int) -> tuple[bytes, int]:
    out = bytearray()
    for i in range(count):
        out += (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"field{i:05d}\"\r\n\r\n"
                f"value {i}\r\n").encode()
    out += f"--{BOUNDARY}--\r\n".encode()
    return bytes(out), count


# --- parsers -------------------------------------------------------------------------------------

@dataclass
class Parser:
    name: str
    run: Callable[[bytes], int] | None     # body -> part count; None when not installed
    note: str = ""


def floor_find(body: bytes) -> int:
    """One bytes.find pass over the whole buffer: every CRLF--boundary (the last is the close)."""
    delim = b"\r\n--" + BOUNDARY.encode()
    count, at = 0, body.find(delim)
    while at >= 0:
        count += 1
        at = body.find(delim, at + 1)
    return count


def run_parse_multipart(body: bytes) -> int:
    form = parse_multipart(CONTENT_TYPE, body)
    if form.error is not None:
        raise AssertionError(f"parse_multipart: {form.error}")
    return len(form.parts)


def run_parse_form(body: bytes) -> int:
    return len(parse_form(CONTENT_TYPE, body).names)


def load_mitmproxy_decoder() -> Parser:
    try:
        from mitmproxy.net.http.multipart import decode_multipart
        version = importlib.metadata.version("mitmproxy")
    except ImportError:
        return Parser("mitmproxy decode_multipart", None, "mitmproxy not installed")
    return Parser(f"mitmproxy {version} decode_multipart",
                  lambda body: len(decode_multipart(CONTENT_TYPE, body)))


def _dist_version(name: str, folder: Path | None) -> str:
    try:
        if folder is not None:
            for dist in importlib.metadata.distributions(path=[str(folder)]):
                if dist.metadata["Name"].lower() == name:
                    return dist.version
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def _module_from(path: Path, alias: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(alias, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[alias] = module
    spec.loader.exec_module(module)
    return module


def load_python_multipart(extras_dir: Path) -> Parser:
    """python-multipart >= 0.0.13 is importable as `python_multipart`, which cannot clash with
    defnull's `multipart`; an older one (only `multipart`) counts as not installed."""
    folder = extras_dir / "python-multipart"
    module = None
    if (folder / "python_multipart" / "__init__.py").exists():
        sys.path.insert(0, str(folder))
        try:
            module = importlib.import_module("python_multipart")
        finally:
            sys.path.remove(str(folder))
    if module is None:
        try:
            module = importlib.import_module("python_multipart")
            folder = None
        except ImportError:
            return Parser("python-multipart", None, NOT_INSTALLED)
    mp = module

    def run(body: bytes) -> int:
        counts = [0, 0]
        headers: list[bytes] = []

        def on_part_begin() -> None:
            counts[0] += 1

        def on_part_data(data: bytes, start: int, end: int) -> None:
            counts[1] += end - start

        def on_header(data: bytes, start: int, end: int) -> None:
            headers.append(data[start:end])

        parser = mp.MultipartParser(BOUNDARY.encode(), {
            "on_part_begin": on_part_begin, "on_part_data": on_part_data,
            "on_header_field": on_header, "on_header_value": on_header})
        parser.write(body)
        parser.finalize()
        return counts[0]

    return Parser(f"python-multipart {_dist_version('python-multipart', folder)}", run)


def _find_defnull_file(extras_dir: Path) -> Path | None:
    """defnull's multipart is one file, multipart.py; python-multipart's `multipart/` package
    shadows it when both sit in one site-packages, so look for the file itself."""
    candidates = [extras_dir / "multipart"] + [Path(p) for p in sys.path if p]
    for folder in candidates:
        path = folder / "multipart.py"
        if path.is_file() and b"def parse_form_data" in path.read_bytes():
            return path
    return None


def load_defnull_multipart(extras_dir: Path) -> Parser:
    path = _find_defnull_file(extras_dir)
    if path is None:
        return Parser("multipart", None, NOT_INSTALLED)
    module = _module_from(path, "cosdoctor_bench_defnull_multipart")
    version = _dist_version("multipart", path.parent) if path.parent == extras_dir / "multipart" \
        else _dist_version("multipart", None)
    version = getattr(module, "__version__", version)
    push = getattr(module, "PushMultipartParser", None)
    if push is not None:
        def run(body: bytes) -> int:
            parts = size = 0
            parser = push(BOUNDARY, max_header_count=16)
            for event in parser.parse(body):
                if isinstance(event, module.MultipartSegment):
                    parts += 1
                elif event:
                    size += len(event)
            parser.close()
            return parts
    else:   # multipart < 1.0: a blocking parser over a stream
        import io

        def run(body: bytes) -> int:
            parser = module.MultipartParser(io.BytesIO(body), BOUNDARY, len(body),
                                            mem_limit=1 << 40, disk_limit=1 << 40,
                                            memfile_limit=1 << 40)
            return len(list(parser))
    return Parser(f"multipart {version}", run)


def install_extras(extras_dir: Path) -> None:
    """Each package in its own --target folder: they clash on the module name `multipart`."""
    for name in EXTRAS:
        target = extras_dir / name
        print(f"installing {name} into {target}", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        "--upgrade", "--target", str(target), name], check=True)


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


@dataclass
class ParserResult:
    body: str
    body_bytes: int
    parser: str
    mb_per_s: float | None
    ratio_to_find: float | None
    note: str = ""


def bench_parsers(config: Config, extras_dir: Path, log: Callable[[str], None]) -> list[ParserResult]:
    parsers = [Parser("bytes.find (floor)", floor_find),
               Parser("cosdoctor parse_multipart", run_parse_multipart),
               Parser("cosdoctor parse_form", run_parse_form),
               load_mitmproxy_decoder(), load_python_multipart(extras_dir),
               load_defnull_multipart(extras_dir)]
    bodies: list[tuple[str, Callable[[], tuple[bytes, int]], int]] = [
        (f"file {human(size)}", (lambda s=size: file_body(s)), size) for size in config.file_sizes]
    bodies.append((f"{config.small_fields:,} small fields".replace(",", " "),
                   lambda: fields_body(config.small_fields), 0))
    results: list[ParserResult] = []
    for label, make, size in bodies:
        body, parts = make()
        rows: dict[str, ParserResult] = {}
        timed: list[Parser] = []
        for parser in parsers:
            if parser.run is None:
                rows[parser.name] = ParserResult(label, len(body), parser.name, None, None, parser.note)
                continue
            # Parsers count parts; the floor counts CRLF-delimiters: n-1 between parts + the close.
            got = parser.run(body)
            if got != parts:
                rows[parser.name] = ParserResult(label, len(body), parser.name, None, None,
                                                 f"wrong result: {got} parts, expected {parts}")
            else:
                timed.append(parser)
        best = interleaved_best(body, timed, config.min_time, config.repeats_for(size), config.time_budget)
        floor_speed = len(body) / best[floor_find] / 1e6 if floor_find in best else None
        for parser in timed:
            speed = len(body) / best[parser.run] / 1e6
            rows[parser.name] = ParserResult(label, len(body), parser.name, speed,
                                             speed / floor_speed if floor_speed else None)
            log(f"  {label:22} {parser.name:34} {speed:10.1f} MB/s")
        results.extend(rows[p.name] for p in parsers)
        del body
        gc.collect()
    return results


def interleaved_best(body: bytes, parsers: list[Parser], min_time: float, repeats: int,
                     budget: float) -> dict[Callable, float]:
    """Seconds per call for each parser: best of `repeats` timing loops, the parsers taking turns
    in every repeat so that a burst of load on the machine hits them all alike. GC off, like timeit.
    A parser stops repeating once it has used `budget` seconds (a slow one on a huge body)."""
    loops: dict[Callable, int] = {}
    best: dict[Callable, float] = {}
    spent: dict[Callable, float] = {}
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        for parser in parsers:
            started = time.perf_counter()
            parser.run(body)
            once = time.perf_counter() - started
            loops[parser.run] = max(1, int(min_time / max(once, 1e-9)))
            best[parser.run], spent[parser.run] = once, once
        for _ in range(repeats):
            for parser in parsers:
                run = parser.run
                if spent[run] > budget:
                    continue
                t0 = time.perf_counter()
                for _ in range(loops[run]):
                    run(body)
                elapsed = time.perf_counter() - t0
                spent[run] += elapsed
                best[run] = min(best[run], elapsed / loops[run])
    finally:
        if enabled:
            gc.enable()
    return best


# --- end to end ----------------------------------------------------------------------------------

VARIANTS = ("addon", "script", "bare")   # mitmdump -s cos_addon.py, -s <empty script>, no script
EMPTY_SCRIPT = "# An empty mitmproxy script: what hosting any script costs the proxy.\n"
HOOK_TIMER = Path(__file__).resolve().parent / "hook_timer.py"


def start_mitmdump(upstream_port: int, workdir: Path, *extra: str, env: dict | None = None) -> cosrig.Proxy:
    """cosrig.Proxy.start's command line, with `extra` in place of `-s addon/cos_addon.py`."""
    confdir = workdir / "conf"
    confdir.mkdir(parents=True, exist_ok=True)
    args = [cosrig.mitmdump_path(), "--listen-host", "127.0.0.1", "-p", "0", "--set", f"confdir={confdir}",
            "--mode", f"reverse:http://127.0.0.1:{upstream_port}", "--set", "keep_host_header=true", *extra]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               cwd=str(workdir), env=dict(os.environ, PYTHONUNBUFFERED="1", **(env or {})))
    output: list[str] = []
    port = cosrig._wait_for_port(process, output, 30)
    threading.Thread(target=cosrig._drain, args=(process, output), daemon=True).start()
    return cosrig.Proxy(process, port, workdir, output)


def start_proxy(variant: str, upstream_port: int, credentials: Path, root: Path, tag: str) -> cosrig.Proxy:
    workdir = Path(tempfile.mkdtemp(prefix=f"{tag}-", dir=root))
    if variant == "addon":
        return cosrig.Proxy.start(upstream_port, "--set", f"cos_credentials={credentials}", workdir=workdir)
    if variant == "script":
        script = workdir / "empty_script.py"
        script.write_text(EMPTY_SCRIPT)
        return start_mitmdump(upstream_port, workdir, "-s", str(script))
    return start_mitmdump(upstream_port, workdir)


def compile_addon() -> None:
    """Byte-compile addon/ first, as any run after the first finds it: mitmproxy's own modules are
    measured from their compiled files, and compiling ours at start-up would count the compiler's
    transient memory (about 1.5 MiB of resident set) as the addon's footprint."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(cosrig.ROOT / "addon")], check=True,
                   stdout=subprocess.DEVNULL)


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


@dataclass(frozen=True)
class Kind:
    name: str
    method: str
    host: str
    path: str
    body: bytes
    content_type: str | None
    expect: int
    batch: int


class Client:
    """One keep-alive connection per proxy, reopened if the proxy closes it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn: http.client.HTTPConnection | None = None

    def send(self, kind: Kind, tag: bool = False) -> int:
        """tag: name the kind in an X-Bench-Kind header (for scripts/hook_timer.py)."""
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            headers = {"Host": kind.host}
            if tag:
                headers["X-Bench-Kind"] = kind.name
            if kind.content_type:
                headers["Content-Type"] = kind.content_type
            try:
                self.conn.request(kind.method, kind.path, body=kind.body or None, headers=headers)
                response = self.conn.getresponse()
                response.read()
            except (http.client.HTTPException, ConnectionError):
                self.close()
                if attempt == 2:
                    raise
                continue
            if response.will_close:
                self.close()
            return response.status
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def request_kinds(config: Config) -> list[Kind]:
    kinds = []
    for size in config.uploads:
        spec = cos_form(size, key=f"bench/up-{size}.bin", seed=size)
        body, content_type = spec.encode(BOUNDARY)
        kinds.append(Kind(f"COS upload {human(size)}", "POST", cosrig.COS_HOST, "/", body, content_type,
                          204, config.batch["large" if size >= MIB else "small"]))
    kinds.append(Kind("non-COS POST 64 KiB", "POST", NON_COS_HOST, "/upload",
                      file_data(64 * KIB, 7), "application/octet-stream", 400, config.batch["small"]))
    form_body, form_type = FormSpec([("title", "holiday"), ("note", "x" * 100)], file_name="photo.jpg",
                                    file_data=file_data(64 * KIB, 9)).encode(BOUNDARY)
    kinds.append(Kind("non-COS multipart 64 KiB", "POST", NON_COS_HOST, "/upload", form_body, form_type,
                      400, config.batch["small"]))
    kinds.append(Kind("non-COS GET", "GET", NON_COS_HOST, "/index.html", b"", None, 404,
                      config.batch["small"]))
    return kinds


@dataclass
class E2EResult:
    kind: str
    cos: bool
    cpu_ms_with: float          # proxy CPU per request: mitmdump -s cos_addon.py
    cpu_ms_without: float       # bare mitmdump
    cpu_ratio: float            # median over rounds of (with / without), paired by round
    cpu_ratio_ci: tuple[float, float]   # 95% bootstrap interval of that median
    wall_ms_with: float
    wall_ms_without: float
    wall_ratio: float
    batches: int               # paired batches (pairs x rounds)
    batch: int                 # requests per batch
    cpu_ms_script: float | None = None            # mitmdump -s <an empty script>
    script_ratio: float | None = None             # empty script / bare: hosting any script
    own_ratio: float | None = None                # addon / empty script: the addon's own code
    own_ratio_ci: tuple[float, float] | None = None
    hooks_us_in_proxy: float | None = None        # the addon's hooks per request inside mitmdump


def start_emulator(root: Path) -> tuple[cosrig.EmulatorThread, Path]:
    credentials = cosrig.write_credentials(root)
    emulator = cosrig.EmulatorThread.start(credentials)
    # Its error answers are written as headers then body: without TCP_NODELAY, Nagle and delayed ACK
    # add ~40 ms of idle wall time to every 4xx, which would drown the wall-time ratios.
    emulator.server.RequestHandlerClass.disable_nagle_algorithm = True
    return emulator, credentials


def bench_e2e(config: Config, root: Path, log: Callable[[str], None], pin_cpus: bool,
              control: bool = False) -> list[E2EResult]:
    """Several sets of fresh processes (a process's own speed varies by a percent or two with its
    hash seed and memory layout): mitmdump with the addon, with an empty script, and bare, each set
    measured over rounds that rotate which proxy goes first. The empty script separates what hosting
    any script costs mitmproxy from what the addon's code costs. Then one more process with the
    addon's hooks timed inside it (scripts/hook_timer.py).
    control=True: an A/A run, the 'addon' proxy runs bare too, to see the method's own noise."""
    emulator, credentials = start_emulator(root)
    affinity = os.sched_getaffinity(0)
    kinds = request_kinds(config)
    samples: dict[str, dict[str, list[tuple[float, float]]]] = {k.name: {v: [] for v in VARIANTS} for k in kinds}
    try:
        for pair in range(config.pairs):
            run_pair(config, kinds, samples, emulator.port, credentials, root, pin_cpus, control, pair)
            log(f"  end to end: process set {pair + 1}/{config.pairs} done")
        in_proxy = {} if control else hooks_in_proxy(config, kinds, emulator.port, credentials, root, pin_cpus)
    finally:
        emulator.stop()
        os.sched_setaffinity(0, affinity)
    results = []
    for kind in kinds:
        runs = samples[kind.name]
        with_, script, bare = runs["addon"], runs["script"], runs["bare"]
        results.append(E2EResult(
            kind.name, kind.host != NON_COS_HOST,
            statistics.median(s[0] for s in with_), statistics.median(s[0] for s in bare),
            statistics.median(cpu(with_, bare)), median_ci(cpu(with_, bare)),
            statistics.median(s[1] for s in with_), statistics.median(s[1] for s in bare),
            statistics.median(x[1] / y[1] for x, y in zip(with_, bare)),
            len(with_), kind.batch,
            cpu_ms_script=statistics.median(s[0] for s in script),
            script_ratio=statistics.median(cpu(script, bare)),
            own_ratio=statistics.median(cpu(with_, script)), own_ratio_ci=median_ci(cpu(with_, script)),
            hooks_us_in_proxy=in_proxy.get(kind.name)))
    return results


def cpu(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> list[float]:
    """Per-batch CPU ratios a/b of two variants measured in the same rounds."""
    return [x[0] / y[0] for x, y in zip(a, b) if y[0] > 0]


def median_ci(values: list[float], resamples: int = 2000) -> tuple[float, float]:
    """95% bootstrap interval of the median: how far the figure can be trusted on this machine."""
    rng = random.Random(0)
    medians = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(resamples))
    return medians[int(0.025 * resamples)], medians[int(0.975 * resamples) - 1]


def _pin_proxies(proxies, pin_cpus: bool) -> None:
    """Proxies on the last CPU, this process (the clients) on the others: no contention between them."""
    cpus = sorted(os.sched_getaffinity(0))
    if pin_cpus and len(cpus) >= 2:
        for proxy in proxies:
            pin(proxy.process.pid, {cpus[-1]})
        os.sched_setaffinity(0, set(cpus[:-1]))


def run_pair(config: Config, kinds: list[Kind], samples: dict, upstream_port: int, credentials: Path,
             root: Path, pin_cpus: bool, control: bool, pair: int) -> None:
    proxies: dict[str, cosrig.Proxy] = {}
    affinity = os.sched_getaffinity(0)
    rotation = VARIANTS[pair % 3:] + VARIANTS[:pair % 3]
    try:
        for variant in rotation:
            proxies[variant] = start_proxy("bare" if control and variant == "addon" else variant,
                                           upstream_port, credentials, root, variant)
        _pin_proxies(proxies.values(), pin_cpus)
        clients = {variant: Client(proxy.port) for variant, proxy in proxies.items()}
        for kind in kinds:                        # warm up, and check each proxy answers as expected
            for variant, client in clients.items():
                for _ in range(3):
                    status = client.send(kind)
                    if status != kind.expect:
                        raise RuntimeError(f"{kind.name} via mitmdump ({variant}): HTTP {status}, "
                                           f"expected {kind.expect}")
        for round_no in range(config.rounds):
            shift = (round_no + pair) % 3
            order = VARIANTS[shift:] + VARIANTS[:shift]
            for kind in kinds:
                for variant in order:
                    pid, client = proxies[variant].process.pid, clients[variant]
                    cpu0, t0 = cpu_ns(pid), time.perf_counter()
                    for _ in range(kind.batch):
                        status = client.send(kind)
                    t1, cpu1 = time.perf_counter(), cpu_ns(pid)
                    if status != kind.expect:
                        raise RuntimeError(f"{kind.name}: HTTP {status}, expected {kind.expect}")
                    samples[kind.name][variant].append(((cpu1 - cpu0) / 1e6 / kind.batch,
                                                        (t1 - t0) * 1e3 / kind.batch))
        for client in clients.values():
            client.close()
    finally:
        for proxy in proxies.values():
            proxy.stop()
        os.sched_setaffinity(0, affinity)


def hooks_in_proxy(config: Config, kinds: list[Kind], upstream_port: int, credentials: Path, root: Path,
                   pin_cpus: bool) -> dict[str, float]:
    """us per request that the addon's hooks ran (thread CPU time) inside a real mitmdump."""
    workdir = Path(tempfile.mkdtemp(prefix="timed-", dir=root))
    times = workdir / "hook-times.json"
    affinity = os.sched_getaffinity(0)
    proxy = start_mitmdump(upstream_port, workdir, "-s", str(HOOK_TIMER), "--set",
                           f"cos_credentials={credentials}", env={"COSDOCTOR_HOOK_TIMES": str(times)})
    try:
        _pin_proxies([proxy], pin_cpus)
        client = Client(proxy.port)
        for kind in kinds:
            for _ in range(3):
                client.send(kind)                 # warm-up, untagged
        requests = {kind.name: 0 for kind in kinds}
        for _ in range(max(1, config.rounds // 2)):
            for kind in kinds:
                for _ in range(kind.batch):
                    client.send(kind, tag=True)
                    requests[kind.name] += 1
        client.close()
    finally:
        proxy.stop()
        os.sched_setaffinity(0, affinity)
    try:
        totals = json.loads(times.read_text())
    except (OSError, ValueError):
        return {}
    return {name: totals.get(name, {}).get("ns", 0) / 1e3 / count for name, count in requests.items() if count}


# --- peak memory -------------------------------------------------------------------------------

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


# --- the cheap test for non-COS flows ------------------------------------------------------------

@dataclass
class HookResult:
    flow: str
    cos: bool
    us_per_flow: float | None
    parses: int          # calls into form/policy/answer parsing (want 0 on non-COS flows)
    decodes: int         # bodies decompressed (Content-Encoding) by the addon (want 0 on non-COS flows)
    note: str = ""


# Functions that parse or decode: a non-COS flow must reach none of them. Missing names are skipped,
# so the benchmark keeps working while the addon changes.
PARSE_FUNCTIONS = (("cos_addon", "preflight"), ("cos_addon", "read_answer"), ("cos_addon", "request_for"),
                   ("cosdoctor.preflight", "parse_form"), ("cosdoctor.form", "parse_multipart"),
                   ("cosdoctor.policy", "decode_policy"), ("cosdoctor.explain", "read_answer"),
                   ("cosdoctor.origin", "_policies"), ("cosdoctor.origin", "_json_strings"))


def _gzip(data: bytes) -> bytes:
    import gzip
    return gzip.compress(data, 6)


def hook_flows(config: Config) -> list[tuple[str, bool, Callable[[int], object]]]:
    """(label, is COS, make(seed) -> flow). Two seeds are alternated so no cache sees a body twice."""
    from mitmproxy import http
    from mitmproxy.test import tflow

    def make(method: str, host: str, path: str, body: bytes, headers: dict, status: int,
             response_body: bytes, response_headers: dict):
        flow = tflow.tflow(resp=True)
        flow.request = http.Request.make(method, f"http://{host}{path}", body, {"Host": host, **headers})
        flow.request.timestamp_start = time.time()
        flow.response = http.Response.make(status, response_body, response_headers)
        flow.response.timestamp_start = time.time()
        return flow

    def json_doc(seed: int, size: int) -> bytes:
        rng = random.Random(seed)
        items = [{"id": rng.randrange(1 << 30), "name": rng.randbytes(12).hex(), "tags": ["a", "b"]}
                 for _ in range(size // 70)]
        return json.dumps({"items": items}).encode()

    html = b"<html><body>" + b"<p>Lorem ipsum dolor sit amet.</p>" * 2000 + b"</body></html>"
    cases: list[tuple[str, bool, Callable[[int], object]]] = [
        ("non-COS GET 404 text/html", False, lambda seed: make(
            "GET", NON_COS_HOST, f"/missing{seed}", b"", {}, 404, b"<html>not found</html>",
            {"Content-Type": "text/html"})),
        ("non-COS GET 200 text/html 66 KiB", False, lambda seed: make(
            "GET", NON_COS_HOST, "/", b"", {}, 200, html + str(seed).encode(),
            {"Content-Type": "text/html; charset=utf-8"})),
        ("non-COS GET 200 JSON 64 KiB gzip", False, lambda seed: make(
            "GET", NON_COS_HOST, "/api/items", b"", {}, 200, _gzip(json_doc(seed, 64 * KIB)),
            {"Content-Type": "application/json", "Content-Encoding": "gzip"})),
        ("non-COS POST octet-stream 64 KiB", False, lambda seed: make(
            "POST", NON_COS_HOST, "/upload", file_data(64 * KIB, seed),
            {"Content-Type": "application/octet-stream"}, 200, b"{}", {"Content-Type": "application/json"})),
    ]
    form_body, form_type = FormSpec([("title", "holiday"), ("note", "x" * 100)], file_name="photo.jpg",
                                    file_data=file_data(64 * KIB, 9)).encode(BOUNDARY)
    cases.append(("non-COS POST multipart 64 KiB", False, lambda seed: make(
        "POST", NON_COS_HOST, "/upload", form_body + b"\0" * seed, {"Content-Type": form_type}, 200, b"{}",
        {"Content-Type": "application/json"})))
    for size in config.uploads:
        spec = cos_form(size, key=f"bench/hook-{size}.bin", seed=size)
        cos_body, cos_type = spec.encode(BOUNDARY)
        cases.append((f"COS upload {human(size)} (204)", True, lambda seed, b=cos_body, t=cos_type: make(
            "POST", cosrig.COS_HOST, "/", b, {"Content-Type": t, "Content-Length": str(len(b))}, 204, b"",
            {"ETag": '"0123456789abcdef0123456789abcdef"', "Server": "tencent-cos",
             "x-cos-request-id": f"bench{seed}"})))
    return cases


def bench_hooks(config: Config, root: Path) -> list[HookResult]:
    """In-process: the addon's request and response hooks on single flows, as mitmdump calls them,
    with every call into parsing or body decoding counted. Exact, and free of proxy noise."""
    import mitmproxy.net.encoding as encoding
    from mitmproxy.test import taddons

    import cos_addon

    counts = {"parse": 0, "decode": 0}
    patched: list[tuple[object, str, object]] = []

    def wrap(module: object, name: str, kind: str) -> None:
        original = getattr(module, name, None)
        if original is None:
            return

        def wrapper(*args, **kwargs):
            counts[kind] += 1
            return original(*args, **kwargs)
        setattr(module, name, wrapper)
        patched.append((module, name, original))

    credentials = cosrig.write_credentials(root)
    results: list[HookResult] = []
    addon = cos_addon.CosDoctor()
    try:
        for module_name, name in PARSE_FUNCTIONS:
            try:
                wrap(importlib.import_module(module_name), name, "parse")
            except ImportError:
                pass
        wrap(encoding, "decode", "decode")
        with taddons.context(addon) as tctx:
            tctx.configure(addon, cos_credentials=str(credentials))
            for label, cos, make in hook_flows(config):
                flows = [make(1), make(2)]
                parses = decodes = 0
                for mode in ("off", "warn"):      # the counts: default mode, and the one that checks requests
                    tctx.configure(addon, cos_validate=mode)
                    counts.update(parse=0, decode=0)
                    for flow in flows:
                        invoke(addon, "request", flow)
                        invoke(addon, "response", flow)
                    parses, decodes = parses + counts["parse"], decodes + counts["decode"]
                tctx.configure(addon, cos_validate="off")
                errors_before = getattr(addon, "internal_errors", 0)

                def hooks() -> None:
                    for flow in flows:
                        invoke(addon, "request", flow)
                        invoke(addon, "response", flow)
                seconds = best_time(hooks, max(config.min_time, 0.02), 5, 5.0) / len(flows)
                note = ""
                if getattr(addon, "internal_errors", 0) != errors_before:
                    note = "internal error in the addon: timing not valid"
                elif cos and "cos" not in flows[0].metadata:
                    note = "no diagnosis recorded: timing not valid"
                results.append(HookResult(label, cos, None if note else seconds * 1e6, parses, decodes, note))
    finally:
        for module, name, original in reversed(patched):
            setattr(module, name, original)
    return results


def invoke(addon: object, hook: str, flow: object) -> None:
    """Call a hook the way mitmproxy does: a hook attribute that is None is skipped."""
    handler = getattr(addon, hook, None)
    if handler:
        handler(flow)


# --- report --------------------------------------------------------------------------------------

def table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        cells = [cell.rjust(w) if i >= 3 and n > 0 else cell.ljust(w) for i, (cell, w) in
                 enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def build_rows(parsers: list[ParserResult], e2e: list[E2EResult], memory: MemoryResult | None,
               hooks: list[HookResult]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = [("section", "case", "measure", "value", "reference", "ratio")]
    floor = {r.body: r.mb_per_s for r in parsers if r.parser == "bytes.find (floor)"}
    for r in parsers:
        case = f"{r.body} ({human_bytes(r.body_bytes)} body)"
        if r.mb_per_s is None:
            rows.append(("parser MB/s", case, r.parser, r.note, "", ""))
            continue
        ref = floor.get(r.body)
        rows.append(("parser MB/s", case, r.parser, f"{r.mb_per_s:.1f}",
                     f"find {ref:.1f}" if ref else "", f"{r.ratio_to_find:.3f}" if r.ratio_to_find else ""))
    for r in e2e:
        rows.append(("end to end", f"{r.kind} ({r.batches}x{r.batch})", "proxy CPU ms/req",
                     f"{r.cpu_ms_with:.3f}", f"{r.cpu_ms_without:.3f}",
                     f"{r.cpu_ratio:.3f} [{r.cpu_ratio_ci[0]:.3f}, {r.cpu_ratio_ci[1]:.3f}]"))
        if r.cpu_ms_script is not None and r.script_ratio is not None:
            rows.append(("end to end", f"{r.kind}", "  of which: hosting a script",
                         f"{r.cpu_ms_script:.3f}", f"{r.cpu_ms_without:.3f}", f"{r.script_ratio:.3f}"))
        if r.own_ratio is not None and r.own_ratio_ci is not None:
            rows.append(("end to end", f"{r.kind}", "  of which: the addon's code",
                         f"{r.cpu_ms_with:.3f}", f"script {r.cpu_ms_script:.3f}",
                         f"{r.own_ratio:.3f} [{r.own_ratio_ci[0]:.3f}, {r.own_ratio_ci[1]:.3f}]"))
        if r.hooks_us_in_proxy is not None:
            rows.append(("end to end", f"{r.kind}", "addon hooks inside mitmdump us/req",
                         f"{r.hooks_us_in_proxy:.1f}", f"{r.cpu_ms_without * 1e3:.0f}",
                         f"{r.hooks_us_in_proxy / (r.cpu_ms_without * 1e3) * 100:+.1f}%"))
        rows.append(("end to end", f"{r.kind}", "wall ms/req",
                     f"{r.wall_ms_with:.3f}", f"{r.wall_ms_without:.3f}", f"{r.wall_ratio:.3f}"))
    if memory is not None:
        rows.append(("peak memory", f"COS upload {human(memory.upload)}", "VmHWM MiB",
                     f"{memory.peak_mib_with:.1f}", f"{memory.peak_mib_without:.1f}",
                     f"{memory.extra_mib:+.1f} MiB"))
        rows.append(("peak memory", "idle, after warm-up", "RSS MiB",
                     f"{memory.idle_mib_with:.1f}", f"{memory.idle_mib_without:.1f}",
                     f"{memory.idle_mib_with - memory.idle_mib_without:+.1f} MiB"))
        rows.append(("peak memory", f"COS upload {human(memory.upload)}", "growth during upload MiB",
                     f"{memory.growth_mib_with:.1f}", f"{memory.growth_mib_without:.1f}",
                     f"{memory.growth_mib_with - memory.growth_mib_without:+.1f} MiB"))
    for h in hooks:
        value = h.note if h.us_per_flow is None else f"{h.us_per_flow:.1f}"
        calls = "" if h.cos else f"{h.parses} parses, {h.decodes} decodes"
        rows.append(("addon hooks", h.flow, "us/flow (in-process)", value, "", calls))
    return rows


def linear_rows(linear: list[LinearResult]) -> list[tuple[str, ...]]:
    rows = []
    for r in linear:
        smallest = min((x for x in linear if x.case == r.case), key=lambda x: x.size)
        rows.append(("linear", f"{r.case} ({human_bytes(r.size)})", "ns/byte (analyse_request)",
                     f"{r.ns_per_byte:.2f}", f"{smallest.ns_per_byte:.2f}",
                     f"{r.ns_per_byte / smallest.ns_per_byte:.2f}" if smallest.ns_per_byte else ""))
    return rows


def linear_targets(linear: list[LinearResult]) -> list[Target]:
    if not linear:
        return [Target(None, "linear time on pathological bodies: not measured")]
    ratios = {}
    for case in dict.fromkeys(r.case for r in linear):
        rows = sorted((r for r in linear if r.case == case), key=lambda r: r.size)
        ratios[case] = rows[-1].ns_per_byte / rows[0].ns_per_byte if rows[0].ns_per_byte else 0.0
    figures = ", ".join(f"{ratio:.2f} ({case})" for case, ratio in ratios.items())
    return [Target(all(r <= TARGET_LINEAR_RATIO for r in ratios.values()),
                   f"linear time on pathological bodies, ns/byte largest/smallest: {figures}; "
                   f"target <= {TARGET_LINEAR_RATIO}")]


def human_bytes(n: int) -> str:
    if n >= MIB:
        return f"{n / MIB:.1f} MiB"
    if n >= KIB:
        return f"{n / KIB:.1f} KiB"
    return f"{n} B"


@dataclass
class Target:
    ok: bool | None          # None: not measured in this run
    text: str

    def line(self) -> str:
        verdict = {True: "PASS", False: "FAIL", None: "SKIP"}[self.ok]
        return f"{verdict}  {self.text}"


def targets(parsers: list[ParserResult], e2e: list[E2EResult], memory: MemoryResult | None,
            hooks: list[HookResult]) -> list[Target]:
    out = []
    for cos, limit, what in ((True, TARGET_COS_CPU, "COS uploads"), (False, TARGET_NON_COS_CPU, "non-COS traffic")):
        chosen = [r for r in e2e if r.cos == cos]
        if not chosen:
            out.append(Target(None, f"proxy CPU/request with the addon on {what}: not measured"))
            continue
        figures = ", ".join(f"{(r.cpu_ratio - 1) * 100:+.1f}% ({r.kind})" for r in chosen)
        unsure = [r.kind for r in chosen if r.cpu_ratio_ci[0] <= limit < r.cpu_ratio_ci[1]
                  or r.cpu_ratio_ci[0] < limit <= r.cpu_ratio_ci[1]]
        caveat = f" (inconclusive on this machine for {', '.join(unsure)}: the 95% interval spans " \
                 "the target)" if unsure else ""
        split = "; ".join(f"{r.kind}: hosting a script {(r.script_ratio - 1) * 100:+.1f}%, the addon's code "
                          f"{(r.own_ratio - 1) * 100:+.1f}%" + (
                              f" (its hooks inside mitmdump: {r.hooks_us_in_proxy:.0f} us = "
                              f"{r.hooks_us_in_proxy / (r.cpu_ms_without * 10):+.1f}%)"
                              if r.hooks_us_in_proxy is not None else "")
                          for r in chosen if r.script_ratio is not None and r.own_ratio is not None)
        out.append(Target(all(r.cpu_ratio <= limit for r in chosen),
                          f"proxy CPU/request with the addon on {what}: {figures}; "
                          f"target <= {(limit - 1) * 100:+.0f}%{caveat}" + (f" [{split}]" if split else "")))
    large = [r for r in parsers if r.parser == "cosdoctor parse_multipart" and r.body.startswith("file ")
             and r.body_bytes >= LARGE_FILE_PART and r.ratio_to_find is not None]
    scope = "large file parts"
    if not large:     # a quick run has no large body: judge the largest one it has
        sized = [r for r in parsers if r.parser == "cosdoctor parse_multipart" and r.body.startswith("file ")
                 and r.ratio_to_find is not None]
        large = sorted(sized, key=lambda r: r.body_bytes)[-1:]
        scope = "the largest file part of this run"
    if large:
        figures = ", ".join(f"{r.ratio_to_find:.2f} ({r.body})" for r in large)
        out.append(Target(all(r.ratio_to_find >= TARGET_SCAN_RATIO for r in large),
                          f"multipart scanning speed / bytes.find on {scope}: {figures}; "
                          f"target >= {TARGET_SCAN_RATIO}"))
    else:
        out.append(Target(None, "multipart scanning speed / bytes.find: not measured"))
    if memory is not None:
        out.append(Target(memory.extra_mib <= TARGET_EXTRA_MIB,
                          f"extra peak memory on a {human(memory.upload)} upload: {memory.extra_mib:+.1f} MiB "
                          f"(idle footprint {memory.idle_mib_with - memory.idle_mib_without:+.1f} MiB, growth "
                          f"during the upload {memory.growth_mib_with - memory.growth_mib_without:+.1f} MiB); "
                          f"target <= {TARGET_EXTRA_MIB:.0f} MiB"))
    else:
        out.append(Target(None, "extra peak memory: not measured"))
    non_cos = [h for h in hooks if not h.cos]
    if non_cos:
        bad = [h.flow for h in non_cos if h.parses or h.decodes]
        timed = [h.us_per_flow for h in non_cos if h.us_per_flow is not None]
        worst = f", at most {max(timed):.1f} us/flow for both hooks" if timed else ""
        out.append(Target(not bad and len(timed) == len(non_cos),
                          f"non-COS flows rejected by a cheap test before any parsing or decoding: "
                          f"{sum(h.parses for h in non_cos)} parse and {sum(h.decodes for h in non_cos)} "
                          f"decode calls over {len(non_cos)} kinds of flow{worst}"
                          + (f"; parsed or decoded: {', '.join(bad)}" if bad else "")))
    else:
        out.append(Target(None, "non-COS flows rejected before any parsing: not measured"))
    return out


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


SECTIONS = ("parsers", "e2e", "memory", "hooks", "linear")
TARGET_LINEAR_RATIO = 2.0        # ns/byte at the largest size over ns/byte at the smallest


@dataclass
class LinearResult:
    case: str
    size: int
    ns_per_byte: float


def pathological_bodies(size: int) -> dict[str, tuple[bytes, str]]:
    """Bodies built to make a careless parser quadratic: each about `size` bytes."""
    boundary = "----cosdoctorPathological"
    head = f"--{boundary}\r\n".encode()
    tiny = head + b'Content-Disposition: form-data; name="a"\r\n\r\nx\r\n'
    fat_headers = head + b'Content-Disposition: form-data; name="a"\r\n' + b"X-Pad: " + b"h" * 1000 + b"\r\n\r\nv\r\n"
    lookalike = (b"\r\n--" + boundary[:-1].encode() + b"X") * (size // (len(boundary) + 4))
    spec = cos_form(0, key="uploads/linear")
    body, _ = spec.encode(boundary)
    file_at = body.index(b'name="file"')
    file_start = body.index(b"\r\n\r\n", file_at) + 4
    depth = max(1, size // 2)
    nested = ('{"expiration":"2030-01-01T00:00:00Z","conditions":[{"key":"a"}],"x":' + "[" * depth + "]" * depth + "}")
    policy_form = FormSpec([("key", "uploads/linear"), ("q-sign-algorithm", "sha1"), ("q-ak", cosrig.SECRET_ID),
                            ("q-key-time", "1;2"), ("q-signature", "0" * 40),
                            ("policy", base64.b64encode(nested.encode()).decode())])
    closing = f"--{boundary}--\r\n".encode()
    return {
        "tiny parts": (tiny * (size // len(tiny)) + closing, boundary),
        "1 KiB part headers": (fat_headers * (size // len(fat_headers)) + closing, boundary),
        "boundary look-alikes in file": (body[:file_start] + lookalike + body[file_start:], boundary),
        "deeply nested policy JSON": (policy_form.encode(boundary)[0], boundary),
    }


def bench_linear(config: Config) -> list[LinearResult]:
    """Time per byte of the whole request analysis as pathological bodies grow: it must stay flat."""
    from cosdoctor.findings.diagnose import request_for
    from cosdoctor.cos.hosts import parse_cos_host
    from cosdoctor.findings.request_checks import analyse_request
    endpoint = parse_cos_host(cosrig.COS_HOST)
    sizes = [64 * KIB, 256 * KIB, MIB] if config.name == "quick" else [256 * KIB, MIB, 4 * MIB, 16 * MIB]
    results = []
    for size in sizes:
        for case, (body, boundary) in pathological_bodies(size).items():
            headers = {"content-type": f"multipart/form-data; boundary={boundary}",
                       "content-length": str(len(body))}
            request = request_for("POST", cosrig.COS_HOST, "/", headers, body, endpoint)
            seconds = best_time(lambda: analyse_request(request, None, 1_795_000_000), 0.05, 3, 20.0)
            results.append(LinearResult(case, len(body), seconds / len(body) * 1e9))
    return results


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
