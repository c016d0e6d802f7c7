"""The benchmarks (devkit.bench, run by scripts/bench.py): their bodies are what they claim, their
verdicts follow the targets, and a --quick run prints the one table and saves the JSON. No timing
is asserted: figures depend on the machine."""
from __future__ import annotations

import dataclasses
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from mitmproxy.net.http.multipart import decode_multipart

from devkit.bench.bodies import BOUNDARY, CONTENT_TYPE, fields_body, file_body, file_data
from devkit.bench.e2e import E2EResult
from devkit.bench.hooks import DECODE_FUNCTIONS, PARSE_FUNCTIONS, HookResult, code_kinds, count_calls
from devkit.bench.linear import pathological_bodies
from devkit.bench.measure import KIB, MIB, QUICK
from devkit.bench.memory import MemoryResult
from devkit.bench.parsers import NOT_INSTALLED, ParserResult, find_defnull_file, floor_find
from devkit.bench.report import build_rows, targets
from cosdoctor.wire.multipart import parse_multipart

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "bench.py"


def run_bench(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=str(SCRIPT.parent.parent))


# --- the bodies ------------------------------------------------------------------------------------

@pytest.mark.parametrize("size", [KIB, 64 * KIB, MIB])
def test_file_body_is_a_valid_form_with_the_file_part_dominant(size):
    body, parts = file_body(size)
    form = parse_multipart(CONTENT_TYPE, body)
    assert form.error is None and form.complete
    assert len(form.parts) == parts
    assert form.parts[-1].name == "file" and form.parts[-1].size == size
    # Every parser in the table must agree on the part count, the floor included.
    assert floor_find(body) == parts
    assert len(decode_multipart(CONTENT_TYPE, body)) == parts


@pytest.mark.parametrize("size", [64 * KIB, MIB])
def test_file_data_carries_delimiter_look_alikes_that_are_not_delimiters(size):
    data = file_data(size, seed=1)
    assert len(data) == size
    assert data.count(b"\r\n--") >= size // (4 * KIB)
    assert data.count(b"\r\n--" + BOUNDARY[:len(BOUNDARY) // 2].encode()) >= size // (64 * KIB)
    assert b"\r\n--" + BOUNDARY.encode() not in data
    assert file_data(size, seed=1) == data          # reproducible


def test_fields_body_has_exactly_the_requested_fields():
    body, parts = fields_body(500)
    form = parse_multipart(CONTENT_TYPE, body)
    assert form.error is None and len(form.parts) == parts == 500
    assert [p.name for p in form.parts[:2]] == ["field00000", "field00001"]


# --- the parse and decode counter ----------------------------------------------------------------

def test_every_parse_and_decode_function_named_still_exists():
    """A renamed function would silently count nothing: the list must follow the code."""
    assert len(code_kinds()) == len(PARSE_FUNCTIONS) + len(DECODE_FUNCTIONS)


def test_calls_are_counted_whatever_name_they_were_imported_under():
    import gzip

    import mitmproxy.net.encoding as encoding
    from cosdoctor.wire.form import parse_form as imported_under_another_name

    body, _ = file_body(KIB)
    kinds = code_kinds()
    assert count_calls(lambda: None, kinds) == {"parse": 0, "decode": 0}
    assert count_calls(lambda: imported_under_another_name(CONTENT_TYPE, body), kinds) == \
        {"parse": 2, "decode": 0}                                       # parse_form and parse_multipart
    assert count_calls(lambda: encoding.decode(gzip.compress(b"x"), "gzip"), kinds) == {"parse": 0, "decode": 1}


# --- the verdicts ----------------------------------------------------------------------------------

def passing_figures() -> dict:
    parsers = [ParserResult("file 16 MiB", 16 * MIB, "cosdoctor parse_multipart", 9000.0, 0.9)]
    e2e = [E2EResult("COS upload 64 KiB", True, 1.02, 1.0, 1.02, (1.01, 1.025), 2.0, 2.0, 1.0, 48, 30),
           E2EResult("COS PUT 1 MiB", True, 4.8, 4.7, 1.015, (1.01, 1.019), 9.0, 9.0, 1.0, 48, 30, group="put"),
           E2EResult("non-COS GET", False, 1.005, 1.0, 1.005, (1.0, 1.008), 2.0, 2.0, 1.0, 48, 30)]
    memory = MemoryResult(256 * MIB, 601.0, 600.0, 1.0, 512.0, 512.0, 80.0, 79.0, 3)
    hooks = [HookResult("non-COS GET", False, 3.0, 0, 0)]
    return {"parsers": parsers, "e2e": e2e, "memory": memory, "hooks": hooks}


def replace_first(items: list, **changes) -> list:
    return [dataclasses.replace(items[0], **changes), *items[1:]]


@pytest.mark.parametrize("change, failing", [
    ({}, None),
    ({"e2e": lambda f: replace_first(f["e2e"], cpu_ratio=1.031)}, "COS uploads"),
    ({"e2e": lambda f: [f["e2e"][0], dataclasses.replace(f["e2e"][1], cpu_ratio=1.021), f["e2e"][2]]},
     "header-signed PUT and UploadPart"),
    ({"e2e": lambda f: [*f["e2e"][:2], dataclasses.replace(f["e2e"][2], cpu_ratio=1.011)]}, "non-COS traffic"),
    ({"parsers": lambda f: replace_first(f["parsers"], ratio_to_find=0.49)}, "scanning speed"),
    ({"memory": lambda f: dataclasses.replace(f["memory"], extra_mib=2.1)}, "extra peak memory"),
    ({"hooks": lambda f: replace_first(f["hooks"], parses=1)}, "non-COS flows rejected"),
    ({"hooks": lambda f: replace_first(f["hooks"], decodes=1)}, "non-COS flows rejected"),
])
def test_each_target_fails_on_its_own_figure(change, failing):
    figures = passing_figures()
    for key, make in change.items():
        figures[key] = make(figures)
    verdicts = targets(figures["parsers"], figures["e2e"], figures["memory"], figures["hooks"])
    assert len(verdicts) == 6
    failed = [v.text for v in verdicts if v.ok is not True]
    if failing is None:
        assert failed == []
    else:
        assert len(failed) == 1 and failing in failed[0]


def test_unmeasured_sections_are_skipped_not_passed():
    verdicts = targets([], [], None, [])
    assert [v.ok for v in verdicts] == [None] * 6
    assert all(v.line().startswith("SKIP") for v in verdicts)


def test_the_cpu_verdict_says_how_much_is_script_hosting_and_how_much_the_addon():
    figures = passing_figures()
    figures["e2e"] = replace_first(figures["e2e"], cpu_ms_script=1.01, script_ratio=1.012, own_ratio=1.008,
                                   own_ratio_ci=(1.0, 1.02), hooks_us_in_proxy=7.0)
    verdict = targets(figures["parsers"], figures["e2e"], figures["memory"], figures["hooks"])[0]
    assert "hosting a script +1.2%, the addon's code +0.8% (its hooks inside mitmdump: 7 us = +0.7%)" \
        in verdict.text
    rows = build_rows(figures["parsers"], figures["e2e"], figures["memory"], figures["hooks"])
    assert any("of which: the addon's code" in row[2] and row[5].startswith("1.008") for row in rows)


def test_an_interval_spanning_the_target_is_called_inconclusive():
    figures = passing_figures()
    figures["e2e"] = replace_first(figures["e2e"], cpu_ratio_ci=(1.0, 1.05))
    verdict = targets(figures["parsers"], figures["e2e"], figures["memory"], figures["hooks"])[0]
    assert verdict.ok is True and "inconclusive" in verdict.text


# --- the script ------------------------------------------------------------------------------------

@pytest.mark.e2e
def test_quick_run_prints_one_table_and_saves_the_figures(tmp_path):
    out = tmp_path / "bench.json"
    result = run_bench("--quick", "--json", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    header = [i for i, line in enumerate(lines) if line.split()[:3] == ["section", "case", "measure"]]
    assert len(header) == 1                                   # one table
    for section in ("parser MB/s", "end to end", "peak memory", "addon hooks", "linear"):
        assert any(line.startswith(section) for line in lines), section
    verdicts = [line for line in lines if line[:6] in ("PASS  ", "FAIL  ", "SKIP  ")]
    assert len(verdicts) == 7 and not any(v.startswith("SKIP") for v in verdicts)
    assert "Traceback" not in result.stderr
    saved = json.loads(out.read_text())
    assert {"environment", "parsers", "end_to_end", "memory", "hooks", "linear", "targets"} <= saved.keys()
    assert {r["case"] for r in saved["linear"]} == set(pathological_bodies(1024))
    floor = [r for r in saved["parsers"] if r["parser"] == "bytes.find (floor)"]
    assert len(floor) == len(QUICK.file_sizes) + 1 and all(r["mb_per_s"] > 0 for r in floor)
    assert len(saved["end_to_end"]) == len(QUICK.uploads) + 5            # + a PUT, an UploadPart, 3 non-COS kinds
    assert "COS PUT 1 MiB" in {r["kind"] for r in saved["end_to_end"]}
    assert all(r["cpu_ms_with"] > 0 and r["cpu_ms_without"] > 0 and r["cpu_ms_script"] > 0
               for r in saved["end_to_end"])
    # the addon's hooks were timed inside mitmdump: COS uploads cost something, every kind was seen
    in_proxy = {r["kind"]: r["hooks_us_in_proxy"] for r in saved["end_to_end"]}
    assert all(us is not None and us > 0 for us in in_proxy.values()), in_proxy
    assert min(us for kind, us in in_proxy.items() if kind.startswith("COS")) > \
        max(us for kind, us in in_proxy.items() if not kind.startswith("COS"))
    assert saved["memory"]["peak_mib_with"] > 0 and saved["memory"]["peak_mib_without"] > 0
    assert all(h["us_per_flow"] is not None for h in saved["hooks"]), saved["hooks"]
    assert all(h["parses"] > 0 for h in saved["hooks"] if h["cos"]), saved["hooks"]   # the counter sees calls


def test_missing_third_party_parsers_are_a_row_not_a_failure(tmp_path):
    if importlib.util.find_spec("python_multipart") is not None or \
            find_defnull_file(tmp_path) is not None:
        pytest.skip("python-multipart or multipart is installed in this environment")
    result = run_bench("--quick", "--sections", "parsers", "--extras-dir", str(tmp_path / "none"))
    assert result.returncode == 0, result.stdout + result.stderr
    cells = [re.split(r"\s{2,}", line) for line in result.stdout.splitlines() if NOT_INSTALLED in line]
    rows_per_body = len(QUICK.file_sizes) + 1
    assert sorted(c[2] for c in cells) == ["multipart"] * rows_per_body + ["python-multipart"] * rows_per_body
    assert all(c[3] == NOT_INSTALLED for c in cells)
    assert sum(line.startswith("parser MB/s") for line in result.stdout.splitlines()) == 6 * rows_per_body


def test_unknown_section_is_a_usage_error():
    result = run_bench("--sections", "parsers,nope")
    assert result.returncode == 2 and "unknown section" in result.stderr
