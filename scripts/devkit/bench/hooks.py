"""The addon's hooks in-process on single flows, as mitmdump calls them, with every call into
parsing or body decoding counted: a non-COS flow must be rejected by a cheap test first."""
from __future__ import annotations

import importlib
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cosrig
from devkit.bench.bodies import BOUNDARY, NON_COS_HOST, cos_form, file_data
from devkit.bench.measure import KIB, Config, best_time, human
from devkit.formbuilder import FormSpec

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
