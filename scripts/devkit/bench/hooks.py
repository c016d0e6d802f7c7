"""The addon's hooks in-process on single flows, as mitmdump calls them, with every call into
parsing or body decoding counted: a non-COS flow must be rejected by a cheap test first."""
from __future__ import annotations

import importlib
import inspect
import json
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import CodeType

import cosrig
from devkit.bench.bodies import BOUNDARY, NON_COS_HOST, cos_form, file_data, signed_put
from devkit.bench.measure import KIB, MIB, Config, best_time, human
from devkit.formbuilder import FormSpec

@dataclass
class HookResult:
    flow: str
    cos: bool
    us_per_flow: float | None
    parses: int          # calls into form/policy/answer parsing (want 0 on non-COS flows)
    decodes: int         # bodies decompressed (Content-Encoding) by the addon (want 0 on non-COS flows)
    note: str = ""


# Functions that parse or decode, named where they are defined: a non-COS flow must reach none of
# them. Calls are counted by code object, so it does not matter under which name a module imported
# them; a name that no longer exists is skipped, so the benchmark keeps working while the addon changes.
PARSE_FUNCTIONS = (("cosdoctor.findings.diagnose", "request_for"),
                   ("cosdoctor.findings.request_checks", "analyse_request"),
                   ("cosdoctor.wire.form", "parse_form"), ("cosdoctor.wire.multipart", "parse_multipart"),
                   ("cosdoctor.cos.policy", "decode_policy"), ("cosdoctor.findings.answer", "read_answer"),
                   ("cosdoctor.wire.errorxml", "parse_error_xml"),
                   ("cosdoctor.findings.policy_origin", "PolicyOrigins.observe"))
DECODE_FUNCTIONS = (("mitmproxy.net.encoding", "decode"),)


def code_kinds() -> dict[CodeType, str]:
    """The code object of every function above that exists -> "parse" or "decode"."""
    kinds: dict[CodeType, str] = {}
    for kind, names in (("parse", PARSE_FUNCTIONS), ("decode", DECODE_FUNCTIONS)):
        for module_name, qualname in names:
            try:
                target: object = importlib.import_module(module_name)
            except ImportError:
                continue
            for attribute in qualname.split("."):
                target = getattr(target, attribute, None)
            code = getattr(inspect.unwrap(target), "__code__", None) if callable(target) else None
            if code is not None:
                kinds[code] = kind
    return kinds


def count_calls(run: Callable[[], object], kinds: dict[CodeType, str]) -> dict[str, int]:
    """How often `run` entered each kind of function (a profile hook on this thread)."""
    counts = {"parse": 0, "decode": 0}

    def profile(frame, event, arg):  # noqa: ARG001
        if event == "call":
            kind = kinds.get(frame.f_code)
            if kind is not None:
                counts[kind] += 1

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        run()
    finally:
        sys.setprofile(previous)
    return counts


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
    for label, path, params, seed in (("COS PUT 1 MiB (200)", "/bench/hook-put.bin", {}, 11),
                                      ("COS UploadPart 1 MiB (200)", "/bench/hook-part.bin",
                                       {"partNumber": "1", "uploadId": "1700000000bench"}, 13)):
        body = file_data(MIB, seed)
        target, auth = signed_put(path, params, body)
        cases.append((label, True, lambda seed, b=body, a=auth, u=target: make(
            "PUT", cosrig.COS_HOST, u, b, {"Authorization": a, "Content-Length": str(len(b))}, 200, b"",
            {"ETag": f'"{seed:032x}"', "Server": "tencent-cos", "x-cos-request-id": f"bench{seed}"})))
    return cases


def bench_hooks(config: Config, root: Path) -> list[HookResult]:
    """In-process: the addons' request and response hooks on single flows, as mitmdump calls them,
    with every call into parsing or body decoding counted. Exact, and free of proxy noise."""
    from mitmproxy.test import taddons

    import cos_addon

    kinds = code_kinds()
    credentials = cosrig.write_credentials(root)
    results: list[HookResult] = []
    addons = [type(a)() for a in cos_addon.addons]     # fresh instances of what the script loads

    def errors() -> int:
        return sum(getattr(a, "internal_errors", 0) for a in addons)

    with taddons.context(*addons) as tctx:
        tctx.configure(addons[0], cos_credentials=str(credentials))
        for label, cos, make in hook_flows(config):
            flows = [make(1), make(2)]

            def hooks() -> None:
                for flow in flows:
                    for hook in ("request", "response"):
                        for addon in addons:
                            invoke(addon, hook, flow)
            parses = decodes = 0
            for mode in ("off", "warn"):      # the counts: default mode, and the one that checks requests
                tctx.configure(addons[0], cos_validate=mode)
                counts = count_calls(hooks, kinds)
                parses, decodes = parses + counts["parse"], decodes + counts["decode"]
            tctx.configure(addons[0], cos_validate="off")
            errors_before = errors()
            seconds = best_time(hooks, max(config.min_time, 0.02), 5, 5.0) / len(flows)
            note = ""
            if errors() != errors_before:
                note = "internal error in the addon: timing not valid"
            elif cos and "cos" not in flows[0].metadata:
                note = "no diagnosis recorded: timing not valid"
            results.append(HookResult(label, cos, None if note else seconds * 1e6, parses, decodes, note))
    return results


def invoke(addon: object, hook: str, flow: object) -> None:
    """Call a hook the way mitmproxy does: a hook attribute that is None is skipped."""
    handler = getattr(addon, hook, None)
    if handler:
        handler(flow)
