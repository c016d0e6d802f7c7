"""cos.diagnose and cos.report through mitmproxy's command machinery (as the console and mitmweb call them)."""
from __future__ import annotations

import json
import time

import pytest
from mitmproxy import exceptions, http
from mitmproxy.addons import view
from mitmproxy.test import taddons, tflow

from cosaddons.doctor import CosDoctor
from cosdoctor.wire.errorxml import render_error_xml
from devkit.formbuilder import signed_form

SECRET_ID = "AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q"
SECRET_KEY = "BQYIM75p8x0iWVFSIgqEKwFprpRSVHlz"
HOST = "examplebucket-1250000000.cos.ap-beijing.myqcloud.com"


def failing_flow(signature: str = "0" * 40):
    now = int(time.time())
    spec = signed_form(SECRET_ID, SECRET_KEY, "examplebucket-1250000000", "uploads/a.txt", now=now)
    spec.set("q-signature", signature)
    body, content_type = spec.encode()
    request = http.Request.make("POST", f"http://{HOST}/", body, {"Host": HOST, "Content-Type": content_type})
    request.timestamp_start = now
    response = http.Response.make(403, render_error_xml("SignatureDoesNotMatch", "The Signature you specified is invalid.",
                                                        HOST + "/", "rid"), {"Content-Type": "application/xml"})
    return tflow.tflow(req=request, resp=response)


@pytest.fixture
def context(tmp_path):
    addon = CosDoctor()
    flows_view = view.View()
    with taddons.context(flows_view, addon) as tctx:
        yield tctx, addon, flows_view, tmp_path


def test_diagnose_command_uses_credentials_added_later(context):
    tctx, addon, flows_view, tmp_path = context
    flow = failing_flow()
    flows_view.add([flow])
    addon.response(flow)
    assert flow.metadata["cos"]["findings"][0]["evidence"]["verified"] is False
    creds = tmp_path / "creds"
    creds.write_text(f"{SECRET_ID} {SECRET_KEY}\n")
    creds.chmod(0o600)
    tctx.configure(addon, cos_credentials=str(creds))
    result = tctx.master.commands.execute("cos.diagnose @all")
    assert result == "cos.diagnose: 1 COS flow(s) diagnosed"
    evidence = flow.metadata["cos"]["findings"][0]["evidence"]
    assert evidence["verified"] is True and evidence["mistake"] == "wrong-secret-key"
    assert "verified with the SecretKey: mistake = wrong-secret-key" in flow.comment


@pytest.mark.parametrize("name, kind", [("audit.jsonl", "JSON Lines"), ("audit.html", "HTML")])
def test_report_command_writes_jsonl_or_html_and_says_so(context, name, kind):
    tctx, addon, flows_view, tmp_path = context
    flows = [failing_flow(), tflow.tflow(resp=True)]
    flows_view.add(flows)
    target = tmp_path / name
    result = tctx.master.commands.execute(f"cos.report @all {target}")
    assert result == f"cos.report: 1 COS flow(s) written to {target} ({kind})"
    text = target.read_text()
    if name.endswith(".jsonl"):
        records = [json.loads(line) for line in text.splitlines()]
        assert len(records) == 1 and records[0]["findings"][0]["id"] == "SignatureDoesNotMatch_POSTSignature"
    else:
        assert text.lstrip().lower().startswith("<!doctype html") and "SignatureDoesNotMatch_POSTSignature" in text


@pytest.mark.parametrize("name", ["audit.jsonl", "audit.html"])
def test_report_command_replaces_the_file_in_both_formats(context, name):
    tctx, addon, flows_view, tmp_path = context
    flows_view.add([failing_flow()])
    target = tmp_path / name
    tctx.master.commands.execute(f"cos.report @all {target}")
    first = target.read_text()
    tctx.master.commands.execute(f"cos.report @all {target}")
    assert target.read_text() == first              # replaced, not appended to


def test_command_results_are_returned_as_text_for_the_console_and_mitmweb(context):
    tctx, *_ = context
    for name in ("cos.diagnose", "cos.report"):
        assert tctx.master.commands.commands[name].return_type is str


def test_report_command_to_unwritable_path_is_a_command_error(context):
    tctx, addon, flows_view, tmp_path = context
    flows_view.add([failing_flow()])
    with pytest.raises(exceptions.CommandError, match="cos.report: cannot write"):
        tctx.master.commands.execute("cos.report @all /nonexistent-dir/x.jsonl")


def test_command_names_are_callable_from_mitmweb(context):
    tctx, *_ = context
    import re
    for name in ("cos.diagnose", "cos.report"):
        assert name in tctx.master.commands.commands and re.fullmatch(r"[a-z.]+", name)
