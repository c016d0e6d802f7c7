"""Parser throughput against `bytes.find` over the same buffer (the floor for any parser that must
find every delimiter), mitmproxy's own decoder and, when installed, the two PyPI parsers."""
from __future__ import annotations

import gc
import importlib
import importlib.metadata
import importlib.util
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from cosdoctor.wire.form import parse_form
from cosdoctor.wire.multipart import parse_multipart
from devkit.bench.bodies import BOUNDARY, CONTENT_TYPE, fields_body, file_body
from devkit.bench.measure import Config, human

EXTRAS = ("python-multipart", "multipart")
NOT_INSTALLED = "not installed (pip install python-multipart multipart)"
EXTRAS_DIR = Path(sys.prefix) / "cosdoctor-bench-extras"


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


def find_defnull_file(extras_dir: Path) -> Path | None:
    """defnull's multipart is one file, multipart.py; python-multipart's `multipart/` package
    shadows it when both sit in one site-packages, so look for the file itself."""
    candidates = [extras_dir / "multipart"] + [Path(p) for p in sys.path if p]
    for folder in candidates:
        path = folder / "multipart.py"
        if path.is_file() and b"def parse_form_data" in path.read_bytes():
            return path
    return None


def load_defnull_multipart(extras_dir: Path) -> Parser:
    path = find_defnull_file(extras_dir)
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
