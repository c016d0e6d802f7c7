"""The one table and the verdicts: each figure against the target the issue set for it."""
from __future__ import annotations

from dataclasses import dataclass

from devkit.bench.e2e import E2EResult
from devkit.bench.hooks import HookResult
from devkit.bench.measure import MIB, human, human_bytes
from devkit.bench.memory import MemoryResult
from devkit.bench.parsers import ParserResult

# Targets of the issues: (CPU ratio on COS form uploads, on header-signed PUT and UploadPart, on non-COS
# traffic, parser/bytes.find, extra MiB).
TARGET_COS_CPU = 1.03
TARGET_PUT_CPU = 1.02
TARGET_NON_COS_CPU = 1.01
TARGET_SCAN_RATIO = 0.5
TARGET_EXTRA_MIB = 2.0
LARGE_FILE_PART = 16 * MIB        # "large file parts": the target is checked on sizes from here up


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
    for group, limit, what in (("post", TARGET_COS_CPU, "COS uploads"),
                               ("put", TARGET_PUT_CPU, "header-signed PUT and UploadPart"),
                               ("non-cos", TARGET_NON_COS_CPU, "non-COS traffic")):
        chosen = [r for r in e2e if r.group == group]
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
