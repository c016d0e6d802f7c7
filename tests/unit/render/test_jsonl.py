"""The JSON Lines report: the contract's record, one complete line per flow, appended."""
from __future__ import annotations

import json
import os

import pytest

from cosdoctor.findings import catalogue
from cosdoctor.render.jsonl import ReportWriter, record
from cosdoctor.render.text import metadata
from finding_fixtures import FIXTURES, diagnosis

CONTRACT_KEYS = ["time", "flow_id", "client", "method", "url", "host", "bucket", "region", "key", "status",
                 "error", "findings", "action", "operation", "auth", "upload_id", "part_number"]


def record_of(fixture: str, lang: str = "en", rendered: bool = True) -> dict:
    found = diagnosis(FIXTURES[fixture])
    meta = metadata(found, lang)
    return record(time="2026-11-29T03:35:55Z", flow_id="f-1", client="127.0.0.1", method="POST", url="https://h/",
                  host="h", bucket=meta["bucket"], region=meta["region"], key=meta["key"], status=found.status,
                  error=found.error, findings=meta["findings"] if rendered else found.findings, action="forwarded",
                  lang=lang)


def test_record_has_the_contract_keys_in_order():
    rec = record_of("AccessDenied_NoPermission")
    assert list(rec) == CONTRACT_KEYS
    assert rec["error"] == {"code": "AccessDenied", "message": "Access Denied.", "request_id": "rid",
                            "trace_id": None, "resource": "examplebucket-1250000000.cos.ap-beijing.myqcloud.com/uploads/a.txt"}
    assert list(rec["findings"][0]) == ["id", "severity", "phase", "title", "cause", "fix", "doc", "evidence"]


@pytest.mark.parametrize("lang", catalogue.LANGS)
def test_plain_findings_are_worded_in_the_language_asked(lang):
    """Given plain findings, the record words them; given rendered ones, it keeps them."""
    assert record_of("AccessDenied_Condition", lang, rendered=False)["findings"] == \
        record_of("AccessDenied_Condition", lang)["findings"]


def test_writer_appends_one_complete_line_per_record(tmp_path):
    path = tmp_path / "cos.jsonl"
    path.write_text('{"earlier": true}\n')
    writer = ReportWriter(str(path))
    for fixture in ("AccessDenied_Condition", "Warning_ClockSkew"):
        writer.write(record_of(fixture))
    writer.close()
    writer.close()                                           # twice is harmless
    writer.write(record_of("AccessDenied_Condition"))        # after close: nothing, no error
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3 and json.loads(lines[0]) == {"earlier": True}
    assert [json.loads(line)["findings"][0]["id"] for line in lines[1:]] == ["AccessDenied_Condition",
                                                                             "Warning_ClockSkew"]
    assert writer.records == 2


def test_a_new_report_is_readable_by_its_owner_only(tmp_path):
    ReportWriter(str(tmp_path / "new.jsonl")).close()
    assert os.stat(tmp_path / "new.jsonl").st_mode & 0o777 == 0o600


def test_a_lone_surrogate_still_gives_one_valid_line(tmp_path):
    writer = ReportWriter(str(tmp_path / "r.jsonl"))
    writer.write({"key": "a\udc80b"})
    writer.close()
    assert json.loads((tmp_path / "r.jsonl").read_text(encoding="utf-8")) == {"key": "a\udc80b"}


def test_an_unwritable_path_is_an_os_error(tmp_path):
    with pytest.raises(OSError):
        ReportWriter(str(tmp_path / "no-such-folder" / "r.jsonl"))
