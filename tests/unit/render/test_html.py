"""The HTML audit report: escaping, secrets, counts, the timeline SVG, no external loads, the CLI."""
from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import lxml.html
import pytest

import cos_report
from cosdoctor.render.html import LABELS, is_secret_name, render_html
from cosdoctor.render.words import render_finding
from cosdoctor.cos.times import format_iso8601

ROOT = Path(__file__).resolve().parents[3]
T0 = 1795944534                       # 2026-11-29T09:28:54Z
XSS = "<script>alert(1)</script>"
SECRET = "BQYIM75p8x0iWVFSIgqEKwFprpRSVHlz"


def finding(**delta) -> dict:
    base = {"id": "AccessDenied_Condition", "severity": "error", "phase": "response",
            "title": "Form field key breaks policy condition #4", "cause": "The key is outside uploads/.",
            "fix": "Use a key under uploads/.", "doc": "https://www.tencentcloud.com/document/product/436/14690",
            "evidence": {"condition": '["starts-with", "$key", "uploads/"]', "index": 4, "field": "key",
                         "expected": "uploads/", "actual": "avatar.png"}}
    base.update(delta)
    return base


def record(**delta) -> dict:
    base = {"time": format_iso8601(T0), "flow_id": "f-1", "client": "127.0.0.1", "method": "POST",
            "url": "http://examplebucket-1250000000.cos.ap-beijing.myqcloud.com/",
            "host": "examplebucket-1250000000.cos.ap-beijing.myqcloud.com",
            "bucket": "examplebucket-1250000000", "region": "ap-beijing", "key": "uploads/a.jpg",
            "status": 403, "error": {"code": "AccessDenied", "message": "Condition key key doesn't match",
                                     "request_id": "rid-1", "trace_id": "tid-1", "resource": "r"},
            "findings": [finding()], "action": "forwarded"}
    base.update(delta)
    return base


def ok_record(**delta) -> dict:
    return record(**{"status": 204, "error": None, "findings": [], **delta})


def svg_of(page: str) -> ET.Element:
    found = re.findall(r"<svg\b.*?</svg>", page, flags=re.S)
    assert len(found) == 1
    return ET.fromstring(found[0])


def bar_totals(page: str) -> tuple[int, int]:
    """(ok, failed) summed over the timeline's bar tooltips."""
    ns = "{http://www.w3.org/2000/svg}"
    ok = failed = 0
    for title in svg_of(page).iter(f"{ns}title"):
        m = re.search(r": (\d+) ok, (\d+) failed$", title.text or "")
        assert m, title.text
        ok, failed = ok + int(m[1]), failed + int(m[2])
    return ok, failed


def doc(page: str):
    return lxml.html.fromstring(page)


# --- escaping and secrets ------------------------------------------------------------------------

@pytest.mark.parametrize("where", [
    "key", "host", "method", "time", "flow_id", "url", "status", "action", "error_message", "error_code",
    "title", "cause", "fix", "finding_id", "severity", "phase", "evidence_value", "evidence_key",
    "evidence_nested", "page_title",
])
def test_user_strings_are_escaped(where: str) -> None:
    rec, found, title = record(), finding(), "COS POST audit"
    if where == "error_message":
        rec["error"] = {"code": "AccessDenied", "message": XSS}
    elif where == "error_code":
        rec["error"] = {"code": XSS}
    elif where in ("title", "cause", "fix", "phase"):
        found.update({"id": "Future_Check", where: XSS})     # an ID from elsewhere keeps its texts
    elif where == "finding_id":
        found["id"] = XSS
    elif where == "severity":
        found["severity"] = XSS
    elif where == "evidence_value":
        found["evidence"] = {"actual": XSS}
    elif where == "evidence_key":
        found["evidence"] = {XSS: 1}
    elif where == "evidence_nested":
        found["evidence"] = {"values": [XSS, {"x": XSS}]}
    elif where == "page_title":
        title = XSS
    else:
        rec[where] = XSS
    rec["findings"] = [found]
    page = render_html([rec], title=title)
    assert XSS not in page
    assert "alert(1)" in page                       # it is shown, as text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    tree = doc(page)
    assert len(tree.xpath("//script")) == 1         # ours, and only ours
    assert tree.xpath("//script/@src") == []


@pytest.mark.parametrize("doc_link, linked", [
    ("https://www.tencentcloud.com/document/product/436/14690", True),
    ("http://example.com/doc", True),
    ("javascript:alert(1)", False),
    ("data:text/html,<b>x</b>", False),
    ('https://x.example/"onmouseover="alert(1)', False),
])
def test_only_http_doc_links_become_links(doc_link: str, linked: bool) -> None:
    page = render_html([record(findings=[finding(id="Future_Check", doc=doc_link)])])
    hrefs = doc(page).xpath("//div[contains(@class,'finding')]//a/@href")
    assert hrefs == ([doc_link] if linked else [])
    assert "onmouseover=" not in page.replace("onmouseover=&quot;", "")


@pytest.mark.parametrize("name", ["secret_key", "SecretKey", "tmpSecretKey", "x-secret-key", "password",
                                  "private_key", "secret"])
def test_fields_named_like_secret_keys_are_never_rendered(name: str) -> None:
    rec = record(findings=[finding(evidence={name: SECRET, "nested": [{name: SECRET}], "ok": "shown"})],
                 error={"code": "AccessDenied", name: SECRET})
    rec[name] = SECRET
    page = render_html([rec])
    assert SECRET not in page
    assert "shown" in page
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ["secret_id", "q-ak", "key", "signature", "string_to_sign"])
def test_other_names_are_not_secret(name: str) -> None:
    assert not is_secret_name(name)


def test_control_characters_and_lone_surrogates_are_replaced() -> None:
    page = render_html([record(key="a\x00b\x1bc\ud800d")])
    assert "a\ufffdb\ufffdc\ufffdd" in page
    page.encode("utf-8")                            # writable as UTF-8


# --- structure -----------------------------------------------------------------------------------

def test_empty_report() -> None:
    page = render_html([])
    tree = doc(page)
    assert "No COS flows in this report." in page
    assert "<svg" not in page
    assert tree.xpath("//details") == []
    assert tree.xpath("//div[@id='totals']//b/text()")[:3] == ["0", "0", "0"]


def test_one_record() -> None:
    page = render_html([record()])
    tree = doc(page)
    assert len(tree.xpath("//details[contains(@class,'flow')]")) == 1
    assert bar_totals(page) == (0, 1)
    summary = tree.xpath("//details/summary")[0].text_content()
    assert "2026-11-29 09:28:54" in summary and "uploads/a.jpg" in summary and "403" in summary
    body = tree.xpath("//details//div[contains(@class,'finding')]")[0].text_content()
    assert "Send key with a value that meets the condition" in body and "avatar.png" in body


def test_counts_per_finding_id() -> None:
    records = [
        record(findings=[finding(), finding(id="Warning_X", severity="warning", title="w")]),
        record(findings=[finding(), finding()]),                  # the same ID twice in one flow
        record(findings=[finding(id="AccessDenied_q-ak", title="q")]),
        ok_record(findings=[finding(id="Warning_X", severity="warning", title="w")]),
        ok_record(),
    ]
    tree = doc(render_html(records))
    rows = {row.get("data-id"): (row.xpath("td[contains(@class,'c-findings')]/text()")[0],
                                 row.xpath("td[contains(@class,'c-flows')]/text()")[0])
            for row in tree.xpath("//section[@id='by-id']//tbody/tr")}
    assert rows == {"AccessDenied_Condition": ("3", "2"), "AccessDenied_q-ak": ("1", "1"), "Warning_X": ("2", "2")}
    order = [row.get("data-id") for row in tree.xpath("//section[@id='by-id']//tbody/tr")]
    assert order == ["AccessDenied_Condition", "AccessDenied_q-ak", "Warning_X"]   # errors first, then count
    totals = tree.xpath("//div[@id='totals']//b/text()")
    assert totals[:4] == ["5", "3", "0", "6"]                 # flows, failing, blocked, findings


def test_filter_tokens_match_the_counts() -> None:
    records = [record(), ok_record(findings=[finding(id="Warning_X", severity="warning")]), ok_record()]
    tree = doc(render_html(records))
    picks = tree.xpath("//a/@data-pick")
    boxes = tree.xpath("//form[@id='filters']//input[@name='id']/@value")
    assert picks == boxes == ["f0", "f1"]
    assert [d.get("data-f") for d in tree.xpath("//details")] == ["f0", "f1", ""]
    assert [d.get("data-s") for d in tree.xpath("//details")] == ["error", "warning", ""]
    assert tree.xpath("//form[@id='filters']/@hidden") == [""]       # shown by the script only


@pytest.mark.parametrize("delta, failing", [
    ({}, True),
    ({"status": 204, "error": None, "findings": []}, False),
    ({"status": 204, "error": None, "findings": [finding(severity="warning")]}, False),
    ({"status": 500, "findings": []}, True),
    ({"status": None, "action": "blocked", "findings": []}, True),
    ({"status": 204, "findings": [finding()]}, True),
])
def test_failing_flows(delta: dict, failing: bool) -> None:
    tree = doc(render_html([record(**delta)]))
    assert ("failing" in tree.xpath("//details")[0].get("class")) is failing
    assert tree.xpath("//div[@id='totals']//b/text()")[1] == ("1" if failing else "0")


@pytest.mark.parametrize("bad", [
    {"status": "abc"}, {"status": True}, {"findings": "nope"}, {"findings": [1, None, "x"]},
    {"findings": [finding(evidence=[1, 2])]}, {"findings": [finding(evidence="text")]},
    {"findings": [{}]}, {"error": "boom"}, {"error": ["a"]}, {"time": 12345}, {"time": None},
    {"key": None, "host": 7, "method": ["GET"]}, {"findings": [finding(evidence={"n": float("nan")})]},
])
def test_strange_records_still_render(bad: dict) -> None:
    page = render_html([record(**bad), ok_record()])
    assert len(doc(page).xpath("//details")) == 2


def test_non_mapping_records_are_skipped_and_counted() -> None:
    page = render_html([record(), "junk", 42, None])  # type: ignore[list-item]
    assert "3 record(s) were not JSON objects and were skipped." in page
    assert len(doc(page).xpath("//details")) == 1


def test_long_values_are_cut() -> None:
    page = render_html([record(findings=[finding(evidence={"string_to_sign": "x" * 10000})])])
    assert "x" * 4000 in page and "x" * 4001 not in page
    assert "6000 more characters" in page


# --- the timeline --------------------------------------------------------------------------------

def spread(n: int, every_s: int, failing_every: int = 3) -> list[dict]:
    return [record(time=format_iso8601(T0 + i * every_s), key=f"k{i}") if i % failing_every == 0
            else ok_record(time=format_iso8601(T0 + i * every_s), key=f"k{i}") for i in range(n)]


@pytest.mark.parametrize("records, expected", [
    ([record()], (0, 1)),
    ([ok_record()], (1, 0)),
    (spread(30, 11), (20, 10)),                                    # a few minutes
    (spread(500, 600), (333, 167)),                                # days
    ([record(time="2026-11-29 09:28:54"), ok_record(), record(time="")], (1, 0)),
    ([ok_record(time="0001-01-01T00:00:00Z"), record(time="9999-12-31T23:59:59Z")], (1, 1)),
    ([ok_record(time="2026-11-29T09:28:54+08:00"), ok_record(time="2026-11-29T01:28:54.5Z")], (2, 0)),
])
def test_timeline_svg_is_well_formed_and_counts_every_dated_flow(records: list[dict], expected) -> None:
    page = render_html(records)
    svg = svg_of(page)
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    assert bar_totals(page) == expected
    axis_labels = [t for t in svg.iter("{http://www.w3.org/2000/svg}text") if len(t)]
    assert 1 <= len(axis_labels) <= 8
    rects = list(svg.iter("{http://www.w3.org/2000/svg}rect"))
    assert all(float(r.get("height")) >= 0 and float(r.get("width")) > 0 for r in rects)


def test_records_without_readable_times_are_noted() -> None:
    page = render_html([record(time="yesterday"), ok_record()])
    assert "1 record(s) without a readable time are not in the chart." in page
    assert "yesterday" in doc(page).xpath("//details")[0].xpath("summary")[0].text_content()


def test_no_readable_time_at_all() -> None:
    page = render_html([record(time="?"), ok_record(time=None)])
    assert "<svg" not in page
    assert "No record has a readable time" in page


def test_axis_labels_are_utc_and_round() -> None:
    page = render_html(spread(300, 7 * 60))       # 35 hours
    texts = [t.text for t in svg_of(page).iter("{http://www.w3.org/2000/svg}tspan")]
    times = [t for t in texts if re.fullmatch(r"\d\d:\d\d", t)]
    assert times and all(t.endswith(":00") for t in times)
    assert "2026-11-29" in texts and "2026-11-30" in texts


# --- self-contained, deterministic, fast ---------------------------------------------------------

def test_nothing_is_loaded_from_anywhere() -> None:
    other_doc = finding(doc="https://cloud.tencent.com/document/product/436/14690")
    page = render_html(spread(20, 30) + [record(findings=[other_doc])])
    tree = doc(page)
    assert tree.xpath("//link | //img | //iframe | //object | //embed | //video | //audio | //source") == []
    assert tree.xpath("//script/@src | //*[@src] | //*[@srcset] | //*[@background]") == []
    assert all(h.startswith(("#", "https://", "http://")) for h in tree.xpath("//a/@href"))
    external = tree.xpath("//a[starts-with(@href,'http')]")
    assert external and all(a.xpath("ancestor::div[contains(@class,'finding')]") for a in external)
    style = tree.xpath("//style")[0].text
    assert "url(" not in style and "@import" not in style
    assert not re.search(r"(?:src|href|xlink:href)=\"(?!#|https?://www\.tencentcloud|https?://cloud\.tencent)", page)


def test_content_security_policy_allows_exactly_our_style_and_script() -> None:
    page = render_html([record()])
    tree = doc(page)
    csp = tree.xpath("//meta[@http-equiv='Content-Security-Policy']/@content")[0]

    def sha(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"
    assert f"style-src {sha(tree.xpath('//style')[0].text)};" in csp
    assert f"script-src {sha(tree.xpath('//script')[0].text)};" in csp
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp


def test_output_is_deterministic() -> None:
    records = spread(50, 13) + [record(time="bad")]
    assert render_html(records) == render_html(json.loads(json.dumps(records)))
    assert render_html(records, generated_at=T0) == render_html(records, generated_at=T0)
    assert "2026-11-29 09:28:54" in render_html([], generated_at=T0)
    assert "Generated" not in render_html(records)


@pytest.mark.parametrize("lang", sorted(LABELS))
def test_languages(lang: str) -> None:
    page = render_html([record()], lang=lang)
    assert f'<html lang="{lang}">' in page
    assert LABELS[lang]["by_id"] in page
    assert set(LABELS[lang]) == set(LABELS["en"])


def test_unknown_language_falls_back_to_english() -> None:
    assert render_html([record()], lang="fr") == render_html([record()], lang="en")


def test_ten_thousand_records_are_fast_and_not_embedded_twice() -> None:
    records = [record(time=format_iso8601(T0 + i * 41), key=f"uploads/{i}.jpg",
                      findings=[render_finding(finding(evidence={**finding()["evidence"], "marker": f"marker-{i}."}))])
               for i in range(10_000)]            # as the addon writes them: with their texts
    started = time.perf_counter()
    page = render_html(records)
    assert time.perf_counter() - started < 5
    assert page.count("marker-1234.") == 1
    jsonl = sum(len(json.dumps(r, ensure_ascii=False)) + 1 for r in records)
    assert len(page) < 2 * jsonl
    assert bar_totals(page) == (0, 10_000)


# --- the command line ----------------------------------------------------------------------------

def write_jsonl(path: Path, lines: list) -> Path:
    path.write_bytes(b"".join((line if isinstance(line, bytes) else json.dumps(line).encode()) + b"\n"
                              for line in lines))
    return path


def test_cli_writes_html_next_to_the_report(tmp_path: Path, capsys) -> None:
    source = write_jsonl(tmp_path / "report.jsonl", [record(), ok_record(key="uploads/b.jpg")])
    assert cos_report.main([str(source)]) == 0
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "uploads/b.jpg" in page and len(doc(page).xpath("//details")) == 2
    out = capsys.readouterr()
    assert "2 record(s)" in out.out and out.err == ""


def test_cli_output_option_and_lang(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "r.jsonl", [record()])
    target = tmp_path / "out" / "x.html"
    target.parent.mkdir()
    assert cos_report.main([str(source), "-o", str(target), "--lang", "zh"]) == 0
    assert '<html lang="zh">' in target.read_text(encoding="utf-8")


@pytest.mark.parametrize("bad_line, reason", [
    (b"{not json", "not JSON"),
    (b"[1, 2]", "not an object"),
    (b"42", "not an object"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b'{"time": "2026', "not JSON"),
])
def test_cli_skips_and_counts_malformed_lines(tmp_path: Path, capsys, bad_line: bytes, reason: str) -> None:
    source = write_jsonl(tmp_path / "r.jsonl", [record(), bad_line, b"", ok_record()])
    assert cos_report.main([str(source)]) == 0
    err = capsys.readouterr().err
    assert "r.jsonl:2: skipped, " in err and reason in err
    assert "skipped 1 malformed line(s)" in err
    assert len(doc((tmp_path / "r.html").read_text(encoding="utf-8")).xpath("//details")) == 2


def test_cli_accepts_a_byte_order_mark(tmp_path: Path, capsys) -> None:
    source = tmp_path / "r.jsonl"
    source.write_bytes(b"\xef\xbb\xbf" + json.dumps(record()).encode() + b"\n")
    assert cos_report.main([str(source)]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("make", ["missing", "directory"])
def test_cli_unreadable_input_exits_2_with_one_line(tmp_path: Path, capsys, make: str) -> None:
    source = tmp_path / "nope.jsonl"
    if make == "directory":
        source.mkdir()
    assert cos_report.main([str(source)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cos_report: cannot read ") and err.count("\n") == 1


def test_cli_unwritable_output_exits_2(tmp_path: Path, capsys) -> None:
    source = write_jsonl(tmp_path / "r.jsonl", [record()])
    assert cos_report.main([str(source), "-o", str(tmp_path / "no" / "such" / "dir.html")]) == 2
    assert capsys.readouterr().err.startswith("cos_report: cannot write ")


def test_cli_runs_as_a_script_from_anywhere(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "r.jsonl", [record(), b"oops"])
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "cos_report.py"), str(source)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "r.jsonl:2: skipped" in done.stderr and (tmp_path / "r.html").exists()
    missing = subprocess.run([sys.executable, str(ROOT / "scripts" / "cos_report.py"), "missing.jsonl"],
                             capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert missing.stderr.strip().count("\n") == 0


@pytest.mark.parametrize("generated_at", [None, float("inf"), float("nan"), True, "2026-11-29"])
def test_unusable_generated_at_is_left_out(generated_at) -> None:
    assert render_html([record()], generated_at=generated_at) == render_html([record()])


def test_style_and_script_are_the_package_files_beside_the_module() -> None:
    """The CSS and JS are files (render/html.css, html.js) and the page carries them unchanged."""
    folder = ROOT / "addon" / "cosdoctor" / "render"
    tree = doc(render_html([record()]))
    assert tree.xpath("//style")[0].text == (folder / "html.css").read_text(encoding="utf-8")
    assert tree.xpath("//script")[0].text == (folder / "html.js").read_text(encoding="utf-8")
    assert "--error-bg" not in (folder / "html.py").read_text(encoding="utf-8")     # no copy left in the code


def test_findings_are_grouped_by_id_under_the_catalogue_title() -> None:
    """The table names each ID by its generic title, not by the first flow's filled-in one."""
    records = [record(findings=[finding(evidence={"field": "key", "index": 3})]),
               record(findings=[finding(evidence={"field": "acl", "index": 0})])]
    for lang, generic in (("en", "A form field breaks a policy condition"), ("ko", "폼 필드 값이 정책 조건을 만족하지 않습니다"),
                          ("zh", "表单字段不满足策略条件")):
        rows = doc(render_html(records, lang=lang)).xpath("//section[@id='by-id']//tbody/tr")
        assert [(r.get("data-id"), r.xpath("td")[2].text_content()) for r in rows] == [("AccessDenied_Condition", generic)]


def test_cos_error_is_shown_once_per_flow_not_in_every_finding() -> None:
    error = {"code": "AccessDenied", "message": "Condition key key doesn't match the value a", "request_id": "rid-9"}
    found = finding(evidence={"field": "key", "actual": "a", "cos_value": "a", **error})
    body = doc(render_html([record(error=error, findings=[found, found])])).xpath("//div[contains(@class,'finding')]")
    keys = [dt.text_content() for f in body for dt in f.xpath(".//dt")]
    assert "request_id" not in keys and "message" not in keys and "cos_value" not in keys and "actual" in keys
    page = render_html([record(error=error, findings=[found])])
    assert page.count("rid-9") == 1


def test_a_report_captured_in_english_reads_in_korean(tmp_path: Path) -> None:
    """cos_report.py --lang words every finding again from its ID and evidence."""
    english = render_finding(finding(evidence={"field": "key", "index": 3}), "en")
    source = write_jsonl(tmp_path / "r.jsonl", [record(findings=[english])])
    assert cos_report.main([str(source), "-o", str(tmp_path / "r.html"), "--lang", "ko"]) == 0
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "폼 필드 key 값이 정책의 4번째 조건을 만족하지 않습니다" in page and english["title"] not in page
