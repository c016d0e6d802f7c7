"""End to end: the same requests through mitmdump with the addon, with an empty script and bare,
proxy CPU per request paired by round; then the addon's hooks timed inside one more mitmdump."""
from __future__ import annotations

import http.client
import json
import os
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cosrig
from devkit.bench.bodies import BOUNDARY, NON_COS_HOST, cos_form, file_data, signed_put
from devkit.bench.measure import KIB, MIB, Config, cpu, cpu_ns, human, median_ci
from devkit.bench.proxies import (HOOK_TIMER, VARIANTS, Client, Kind, pin_proxies, start_emulator,
                                  start_mitmdump, start_proxy)
from devkit.formbuilder import FormSpec
from devkit.signing_client import sign

PART_KEY = "bench/part-1m.bin"


def initiate_upload(port: int, key: str) -> str:
    """A multipart upload begun on the emulator directly (not through a proxy): its UploadId."""
    now = int(time.time())
    path = "/" + key
    auth = sign("POST", path, {"uploads": ""}, {"host": cosrig.COS_HOST}, key_time=f"{now - 60};{now + 86400}")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", path + "?uploads", headers={"Host": cosrig.COS_HOST, "Authorization": auth})
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    found = re.search(rb"<UploadId>([^<]+)</UploadId>", body)
    if response.status != 200 or found is None:
        raise RuntimeError(f"Initiate on the emulator: HTTP {response.status}: {body[:300]!r}")
    return found.group(1).decode()


def put_kind(name: str, path: str, params: dict[str, str], body: bytes, batch: int) -> Kind:
    target, auth = signed_put(path, params, body)
    return Kind(name, "PUT", cosrig.COS_HOST, target, body, "application/octet-stream", 200, batch,
                (("Authorization", auth),), "put")


def request_kinds(config: Config, upload_id: str) -> list[Kind]:
    """`upload_id`: an upload open on the emulator, whose part 1 the UploadPart kind sends again and again."""
    kinds = []
    for size in config.uploads:
        spec = cos_form(size, key=f"bench/up-{size}.bin", seed=size)
        body, content_type = spec.encode(BOUNDARY)
        kinds.append(Kind(f"COS upload {human(size)}", "POST", cosrig.COS_HOST, "/", body, content_type,
                          204, config.batch["large" if size >= MIB else "small"]))
    kinds.append(put_kind("COS PUT 1 MiB", "/bench/put-1m.bin", {}, file_data(MIB, 11), config.batch["large"]))
    kinds.append(put_kind("COS UploadPart 1 MiB", "/" + PART_KEY, {"partNumber": "1", "uploadId": upload_id},
                            file_data(MIB, 13), config.batch["large"]))
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
    group: str | None = None       # post | put | non-cos: which target judges it (default: by `cos`)

    def __post_init__(self) -> None:
        if self.group is None:
            self.group = "post" if self.cos else "non-cos"


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
    kinds = request_kinds(config, initiate_upload(emulator.port, PART_KEY))
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
            hooks_us_in_proxy=in_proxy.get(kind.name), group=kind.group))
    return results


def run_pair(config: Config, kinds: list[Kind], samples: dict, upstream_port: int, credentials: Path,
             root: Path, pin_cpus: bool, control: bool, pair: int) -> None:
    proxies: dict[str, cosrig.Proxy] = {}
    affinity = os.sched_getaffinity(0)
    rotation = VARIANTS[pair % 3:] + VARIANTS[:pair % 3]
    try:
        for variant in rotation:
            proxies[variant] = start_proxy("bare" if control and variant == "addon" else variant,
                                           upstream_port, credentials, root, variant)
        pin_proxies(proxies.values(), pin_cpus)
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
        pin_proxies([proxy], pin_cpus)
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
