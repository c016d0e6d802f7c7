"""CosDoctor with mitmproxy's own test helpers: options, recognising COS flows, annotations, fail-open."""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Optional

import pytest
from mitmproxy import exceptions, http
from mitmproxy.test import taddons, tflow

from cosaddons import doctor as doctor_module
from cosaddons.doctor import CosDoctor
from cosdoctor.wire.errorxml import render_error_xml
from devkit.formbuilder import signed_form

SECRET_ID = "AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q"
SECRET_KEY = "BQYIM75p8x0iWVFSIgqEKwFprpRSVHlz"
BUCKET = "examplebucket-1250000000"
HOST = f"{BUCKET}.cos.ap-beijing.myqcloud.com"


def upload_flow(spec=None, host: str = HOST, response: http.Response | None = None, live: bool = True):
    now = int(time.time())
    spec = spec or signed_form(SECRET_ID, SECRET_KEY, BUCKET, "uploads/a.txt", now=now)
    body, content_type = spec.encode()
    request = http.Request.make("POST", f"http://{host}/", body,
                                {"Host": host, "Content-Type": content_type})
    request.timestamp_start = now
    flow = tflow.tflow(req=request, live=live)
    if response is not None:
        flow.response = response
    return flow


def cos_error(status: int, code: str, message: str) -> http.Response:
    return http.Response.make(status, render_error_xml(code, message, HOST + "/", "rid-1"),
                              {"Content-Type": "application/xml"})


FLOW_HOOKS = ("requestheaders", "request", "responseheaders", "response", "error")


@pytest.fixture
def addon():
    return CosDoctor()


@pytest.mark.parametrize("option, value, message", [
    ("cos_lang", "fr", "cos_lang must be one of en, ko, zh, not 'fr'"),
    ("cos_hosts", ["http://x.example.com"], "cos_hosts"),
    ("cos_hosts", [""], "^cos_hosts: empty host pattern$"),
    ("cos_credentials", "/nonexistent/creds.txt", "cos_credentials"),
])
def test_bad_option_is_one_clear_options_error(addon, option, value, message):
    with taddons.context(addon) as tctx:
        tctx.configure(addon)                      # the start-up configure has happened
        with pytest.raises(exceptions.OptionsError, match=message):
            tctx.configure(addon, **{option: value})


def test_bad_option_at_start_up_is_one_error_line(addon, caplog):
    """While a script loads, mitmproxy would print an OptionsError with a traceback."""
    with taddons.context(addon) as tctx:
        with caplog.at_level(logging.ERROR):
            tctx.configure(addon, cos_hosts=[""])
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == [
        "cosdoctor: cos_hosts: empty host pattern"]


def test_the_doctor_carries_every_feature_as_a_sub_addon(addon):
    """`CosDoctor()` alone is the whole COS doctor: its features are registered with it."""
    with taddons.context(addon) as tctx:
        names = {"cos_validate", "cos_credentials", "cos_report", "cos_annotate", "cos_hosts", "cos_lang",
                 "cos_fail_on"}
        assert names <= set(tctx.options.keys())
        assert {"cos.diagnose", "cos.report"} <= set(tctx.master.commands.commands)
        for sub in addon.addons:
            assert tctx.master.addons.get(sub.name) is sub
            assert not any(getattr(sub, hook, None) for hook in FLOW_HOOKS), sub.name


def test_hooks_with_nothing_to_do_are_switched_off(addon):
    with taddons.context(addon) as tctx:
        tctx.options.add_option("stream_large_bodies", Optional[str], None, "mitmproxy's own, not in taddons")
        tctx.configure(addon)
        assert addon.request is None and addon.requestheaders is None
        tctx.configure(addon, cos_validate="warn", stream_large_bodies="1m")
        assert callable(addon.request) and callable(addon.requestheaders)
        tctx.configure(addon, cos_validate="off")
        assert addon.request is None


def test_a_flow_is_classified_once_and_its_state_dropped_when_it_ends(addon, monkeypatch):
    calls = []
    classify = addon.classify
    monkeypatch.setattr(addon, "classify", lambda *a: calls.append(a) or classify(*a))
    flow = upload_flow()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, cos_validate="warn")
        addon.request(flow)
        assert addon.open_flows == 1
        flow.response = cos_error(403, "AccessDenied", "Condition key key doesn't match the value uploads/a.txt")
        addon.response(flow)
    assert len(calls) == 1
    assert addon.open_flows == 0
    assert flow.metadata["cos"]["findings"][0]["id"] == "AccessDenied_Condition"


def test_the_analysis_is_kept_for_the_content_view_while_the_flow_lives(addon):
    flow = upload_flow(response=http.Response.make(204, b"", {}))
    with taddons.context(addon):
        addon.response(flow)
    kept = addon.kept.get(flow)
    assert kept is not None and kept.request.body is flow.request.raw_content
    assert kept.key == flow.metadata["cos"]["key"]


def test_credentials_file_readable_by_others_warns(addon, tmp_path, caplog):
    path = tmp_path / "creds"
    path.write_text(f"{SECRET_ID} {SECRET_KEY}\n")
    path.chmod(0o644)
    with taddons.context(addon) as tctx:
        with caplog.at_level(logging.WARNING):
            tctx.configure(addon, cos_credentials=str(path))
    assert "readable by other users" in caplog.text
    assert SECRET_KEY not in caplog.text


def test_failing_upload_is_annotated_and_reported(addon, tmp_path, caplog):
    report = tmp_path / "r.jsonl"
    flow = upload_flow(response=cos_error(403, "AccessDenied", "Condition key key doesn't match the value uploads/a.txt"))
    with taddons.context(addon) as tctx:
        tctx.configure(addon, cos_report=str(report))
        with caplog.at_level(logging.WARNING):
            addon.response(flow)
    meta = flow.metadata["cos"]
    assert meta["bucket"] == BUCKET and meta["region"] == "ap-beijing" and meta["key"] == "uploads/a.txt"
    assert meta["mode"] == "policy" and meta["fields"][-1] == "file"
    assert meta["findings"][0]["id"] == "AccessDenied_Condition"
    assert flow.marked == ":x:"
    assert flow.comment.splitlines()[0].startswith("✖ AccessDenied_Condition")
    assert flow.response.headers["X-COS-Diagnosis"] == "AccessDenied_Condition"
    assert flow.response.headers["X-COS-Diagnosis-Detail"].isascii()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "AccessDenied_Condition" in r.getMessage()]
    assert len(warnings) == 1
    (line,) = report.read_text().splitlines()
    record = json.loads(line)
    assert list(record) == ["time", "flow_id", "client", "method", "url", "host", "bucket", "region",
                            "key", "status", "error", "findings", "action", "operation", "auth", "upload_id", "part_number"]
    assert record["status"] == 403 and record["action"] == "forwarded"
    assert record["error"]["code"] == "AccessDenied" and record["error"]["request_id"] == "rid-1"


def test_annotation_is_idempotent_for_replayed_flows(addon):
    flow = upload_flow(response=cos_error(403, "SignatureDoesNotMatch", "The Signature you specified is invalid."),
                       live=False)
    with taddons.context(addon):
        addon.response(flow)
        first = (flow.comment, json.dumps(flow.metadata["cos"], sort_keys=True))
        addon.response(flow)
        assert (flow.comment, json.dumps(flow.metadata["cos"], sort_keys=True)) == first


def test_successful_upload_gets_no_header_and_no_mark(addon):
    flow = upload_flow(response=http.Response.make(204, b"", {}))
    with taddons.context(addon):
        addon.response(flow)
    assert "X-COS-Diagnosis" not in flow.response.headers
    assert flow.marked == ""
    assert not [f for f in flow.metadata["cos"]["findings"] if f["severity"] == "error"]


def test_non_cos_flow_is_untouched(addon, tmp_path):
    report = tmp_path / "r.jsonl"
    flow = tflow.tflow(resp=True)
    before = flow.get_state()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, cos_report=str(report), cos_validate="warn")
        addon.request(flow)
        addon.response(flow)
    assert flow.get_state() == before
    assert not report.exists() or report.read_text() == ""


def test_cos_upload_on_a_custom_domain_is_recognised(addon):
    flow = upload_flow(host="upload.example.com",
                       response=cos_error(403, "SignatureDoesNotMatch", "The Signature you specified is invalid."))
    with taddons.context(addon):
        addon.response(flow)
    assert flow.metadata["cos"]["findings"][0]["id"] == "SignatureDoesNotMatch_POSTSignature"


def test_cos_hosts_option_covers_non_post_traffic(addon):
    request = http.Request.make("GET", "http://cdn.example.com/a.txt", b"", {"Host": "cdn.example.com"})
    flow = tflow.tflow(req=request, resp=cos_error(403, "AccessDenied", "Access Denied."))
    with taddons.context(addon) as tctx:
        tctx.configure(addon, cos_hosts=["*.example.com"])
        addon.response(flow)
    assert flow.metadata["cos"]["findings"][0]["id"] == "AccessDenied_NoPermission"


def test_internal_error_fails_open_and_is_logged_once(addon, monkeypatch, caplog):
    def boom(*args, **kwargs):
        raise RuntimeError(f"exploded near {SECRET_KEY}")
    monkeypatch.setattr(doctor_module, "diagnose_exchange", boom)
    flows = [upload_flow(response=http.Response.make(204, b"", {})) for _ in range(3)]
    with taddons.context(addon) as tctx:
        path = Path(tctx.options.confdir).expanduser()
        path.mkdir(parents=True, exist_ok=True)
        creds = path / "creds"
        creds.write_text(f"{SECRET_ID} {SECRET_KEY}\n")
        creds.chmod(0o600)
        tctx.configure(addon, cos_credentials=str(creds))
        with caplog.at_level(logging.ERROR):
            for flow in flows:
                addon.response(flow)
    assert addon.errors.count == 3
    errors = [r for r in caplog.records if "internal error" in r.getMessage()]
    assert len(errors) == 1
    assert SECRET_KEY not in caplog.text
    assert all(f.response.status_code == 204 for f in flows)


@pytest.mark.parametrize("lang, sample", [("ko", "정책"), ("zh", "策略")])
def test_cos_lang_translates_texts_but_not_ids_evidence_or_headers(addon, lang, sample):
    flow = upload_flow(response=cos_error(403, "AccessDenied", "Condition key key doesn't match the value uploads/a.txt"))
    with taddons.context(addon) as tctx:
        tctx.configure(addon, cos_lang=lang)
        addon.response(flow)
    first = flow.metadata["cos"]["findings"][0]
    assert first["id"] == "AccessDenied_Condition"
    assert sample in first["title"] + first["cause"]
    assert set(first["evidence"]) >= {"condition", "index", "field", "expected", "actual"}
    assert flow.response.headers["X-COS-Diagnosis-Detail"].isascii()
    assert "Form field key" in flow.response.headers["X-COS-Diagnosis-Detail"]


def test_har_entry_without_response_is_not_explained_as_an_error(addon):
    """Killed or unanswered flows come back from HAR files as status 0 responses."""
    flow = upload_flow(response=http.Response.make(200, b"", {}), live=False)
    flow.response.status_code = 0
    with taddons.context(addon):
        addon.response(flow)
    ids = [f["id"] for f in flow.metadata["cos"]["findings"]]
    assert not [i for i in ids if i.startswith("Unknown_")]


def test_a_signed_put_on_any_host_is_a_cos_flow(addon):
    """The contract: a request whose Authorization carries a COS signature is a COS flow on any host."""
    auth = ("q-sign-algorithm=sha1&q-ak=AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q&q-sign-time=1;2&q-key-time=1;2"
            "&q-header-list=host&q-url-param-list=&q-signature=3b8851a11a569213c17ba8fa7dcf2abec6935172")
    request = http.Request.make("PUT", "http://files.example.com/a.txt", b"data",
                                {"Host": "files.example.com", "Authorization": auth})
    flow = tflow.tflow(req=request, resp=cos_error(403, "AccessDenied", "Access Denied."))
    plain = tflow.tflow(req=http.Request.make("PUT", "http://files.example.com/a.txt", b"data",
                                              {"Host": "files.example.com", "Authorization": "Bearer x"}),
                        resp=cos_error(403, "AccessDenied", "Access Denied."))
    with taddons.context(addon):
        addon.response(flow)
        addon.response(plain)
    assert "cos" in flow.metadata and "cos" not in plain.metadata
