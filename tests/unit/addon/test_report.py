"""CosReport (cos_report) and the records and files it writes."""
from __future__ import annotations

import json
import time

import pytest
from mitmproxy import exceptions, http
from mitmproxy.test import taddons, tflow

from cosaddons.adapter import plain_request, plain_response
from cosaddons.doctor import CosDoctor
from cosaddons.report import CosReport, record_of, write_report
from cosdoctor.findings.diagnose import diagnose_exchange
from cosdoctor.cos.hosts import parse_cos_host
from cosdoctor.wire.errorxml import render_error_xml

HOST = "examplebucket-1250000000.cos.ap-beijing.myqcloud.com"
KEYS = ["time", "flow_id", "client", "method", "url", "host", "bucket", "region", "key", "status", "error",
        "findings", "action", "operation", "auth", "upload_id", "part_number"]


def cos_get(status: int = 403) -> http.HTTPFlow:
    request = http.Request.make("GET", f"http://{HOST}/a.txt", b"", {"Host": HOST})
    request.timestamp_start = 1_795_000_000
    response = http.Response.make(status, render_error_xml("AccessDenied", "Access Denied.", HOST + "/a.txt", "rid-9"),
                                  {"Content-Type": "application/xml"})
    return tflow.tflow(req=request, resp=response)


def diagnosis_of(flow: http.HTTPFlow):
    return diagnose_exchange(plain_request(flow.request, parse_cos_host(HOST)), plain_response(flow.response),
                             now=1_795_000_000)


def test_record_has_the_contract_keys_in_order():
    flow = cos_get()
    record = record_of(flow, diagnosis_of(flow), "forwarded")
    assert list(record) == KEYS
    assert (record["time"], record["url"], record["host"], record["bucket"], record["status"]) == \
        (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1_795_000_000)), f"http://{HOST}/a.txt", HOST,
         "examplebucket-1250000000", 403)
    assert record["error"]["request_id"] == "rid-9" and record["findings"][0]["id"] == "AccessDenied_NoPermission"
    assert (record["operation"], record["auth"], record["upload_id"], record["part_number"]) == \
        ("GetObject", "anonymous", None, None)


def test_every_cos_flow_is_appended_one_line_each(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"earlier": true}\n')
    doctor = CosDoctor()
    with taddons.context(doctor) as tctx:
        tctx.configure(doctor, cos_report=str(path))
        for _ in range(2):
            doctor.response(cos_get())
        doctor.response(tflow.tflow(resp=True))              # not COS: no record
    lines = path.read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[0]) == {"earlier": True}
    assert [json.loads(line)["action"] for line in lines[1:]] == ["forwarded", "forwarded"]


def test_unwritable_report_is_refused():
    report = CosReport()
    with taddons.context(report) as tctx:
        tctx.configure(report)
        with pytest.raises(exceptions.OptionsError, match="cos_report: cannot write '/nonexistent-dir/r.jsonl'"):
            tctx.configure(report, cos_report="/nonexistent-dir/r.jsonl")


@pytest.mark.parametrize("name, kind", [("audit.jsonl", "JSON Lines"), ("audit.html", "HTML"), ("AUDIT.HTM", "HTML")])
def test_write_report_replaces_the_file_in_both_formats(tmp_path, name, kind):
    target = tmp_path / name
    target.write_text("old content that must go\n" * 100)
    flow = cos_get()
    records = [record_of(flow, diagnosis_of(flow), "replayed")]
    assert write_report(str(target), records) == kind
    text = target.read_text()
    assert "old content" not in text and "AccessDenied_NoPermission" in text
    if kind == "JSON Lines":
        assert [json.loads(line)["flow_id"] for line in text.splitlines()] == [flow.id]


def test_a_new_report_file_is_private(tmp_path):
    target = tmp_path / "new.html"
    write_report(str(target), [])
    assert target.stat().st_mode & 0o077 == 0


def test_a_lone_surrogate_stays_one_valid_line(tmp_path):
    target = tmp_path / "r.jsonl"
    write_report(str(target), [{"key": "a\udcff"}])
    (line,) = target.read_text().splitlines()
    assert json.loads(line) == {"key": "a\udcff"}
