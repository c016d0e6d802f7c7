"""CosBlock (cos_validate=block): local answers as COS would give them, to browsers with COS's CORS headers."""
from __future__ import annotations

import json
import logging
import time

import pytest
from lxml import etree
from mitmproxy import exceptions, http
from mitmproxy.test import taddons, tflow

from cosaddons.block import LOCAL_KEY, CosBlock
from cosaddons.doctor import CosDoctor
from cosdoctor.findings.cors_memory import UNKNOWN_ID
from devkit.formbuilder import signed_form

SECRET_ID = "AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q"
SECRET_KEY = "BQYIM75p8x0iWVFSIgqEKwFprpRSVHlz"
BUCKET = "examplebucket-1250000000"
HOST = f"{BUCKET}.cos.ap-beijing.myqcloud.com"
PAGE = "https://app.example.com"


def upload(*, origin: str | None = None, bad: bool = True, live: bool = True) -> http.HTTPFlow:
    now = int(time.time())
    spec = signed_form(SECRET_ID, SECRET_KEY, BUCKET, "uploads/a.txt", now=now)
    if bad:
        spec.set("key", "elsewhere/a.txt")            # breaks the policy's key condition
    body, content_type = spec.encode()
    headers = {"Host": HOST, "Content-Type": content_type, **({"Origin": origin} if origin else {})}
    request = http.Request.make("POST", f"http://{HOST}/", body, headers)
    request.timestamp_start = now
    return tflow.tflow(req=request, live=live)


def preflight(origin: str, status: int = 200, allow: str | None = None) -> http.HTTPFlow:
    request = http.Request.make("OPTIONS", f"http://{HOST}/", b"", {
        "Host": HOST, "Origin": origin, "Access-Control-Request-Method": "POST"})
    headers = {"Access-Control-Allow-Origin": allow or origin, "Access-Control-Allow-Methods": "POST",
               "Access-Control-Expose-Headers": "ETag, x-cos-request-id"} if status == 200 else {}
    return tflow.tflow(req=request, resp=http.Response.make(status, b"", headers))


@pytest.fixture
def doctor(tmp_path):
    addon = CosDoctor()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, cos_validate="block", cos_report=str(tmp_path / "r.jsonl"))
        yield addon


def run(doctor: CosDoctor, flow: http.HTTPFlow) -> http.HTTPFlow:
    """The hooks as mitmproxy calls them for one flow."""
    if doctor.request:
        doctor.request(flow)
    if flow.response is None:
        flow.response = http.Response.make(204, b"", {})      # "upstream" accepted it
    doctor.response(flow)
    return flow


def test_a_certain_rejection_is_answered_locally_as_cos_would(doctor):
    flow = run(doctor, upload())
    response = flow.response
    assert response.status_code == 403 and response.headers["Content-Type"] == "application/xml"
    error = etree.fromstring(response.content)
    assert error.findtext("Code") == "AccessDenied"
    assert error.findtext("RequestId") == f"cosdoctor-{flow.id}"
    assert error.findtext("Resource") == f"{HOST}/elsewhere/a.txt"
    assert response.headers["X-COS-Diagnosis"] == "AccessDenied_Condition"
    assert flow.metadata[LOCAL_KEY] is True
    with open(doctor.report.writer.path, encoding="utf-8") as handle:
        record = json.loads(handle.read().splitlines()[-1])
    assert record["action"] == "blocked" and record["status"] == 403


@pytest.mark.parametrize("make", [
    pytest.param(lambda: upload(bad=False), id="valid-upload"),
    pytest.param(lambda: upload(live=False), id="saved-traffic"),
])
def test_what_cos_might_accept_and_saved_traffic_go_upstream(doctor, make):
    flow = run(doctor, make())
    assert flow.response.status_code == 204 and LOCAL_KEY not in flow.metadata


def test_a_streamed_upload_is_never_answered_locally(doctor):
    flow = upload()
    flow.request.stream = True
    run(doctor, flow)
    assert flow.response.status_code == 204


def test_warn_mode_checks_but_never_answers():
    doctor = CosDoctor()
    with taddons.context(doctor) as tctx:
        tctx.configure(doctor, cos_validate="warn")
        flow = upload()
        doctor.request(flow)
    assert flow.response is None                              # it goes upstream
    assert flow.metadata["cos"]["findings"][0]["id"] == "AccessDenied_Condition"


def test_a_cross_origin_answer_carries_the_cors_headers_cos_gave_that_origin(doctor):
    run(doctor, preflight(PAGE))                              # COS allowed the page's preflight
    flow = run(doctor, upload(origin=PAGE))
    headers = flow.response.headers
    assert flow.response.status_code == 403
    assert headers["Access-Control-Allow-Origin"] == PAGE
    assert "ETag" in headers["Access-Control-Expose-Headers"]
    assert "X-COS-Diagnosis" in headers["Access-Control-Expose-Headers"]   # the page reads the diagnosis
    assert "Access-Control-Allow-Methods" not in headers      # a preflight-only header
    assert UNKNOWN_ID not in [f["id"] for f in flow.metadata["cos"]["findings"]]


def test_an_upload_answer_teaches_too_and_cos_giving_no_cors_is_copied_as_none(doctor):
    run(doctor, upload(origin=PAGE, bad=False))              # forwarded; COS answered without CORS headers
    flow = run(doctor, upload(origin=PAGE))
    assert "Access-Control-Allow-Origin" not in flow.response.headers
    assert UNKNOWN_ID not in [f["id"] for f in flow.metadata["cos"]["findings"]]


def test_an_origin_never_seen_gets_no_invented_rule_but_a_finding(doctor):
    run(doctor, preflight("https://other.example"))
    flow = run(doctor, upload(origin=PAGE))
    assert flow.response.status_code == 403
    assert "Access-Control-Allow-Origin" not in flow.response.headers
    findings = flow.metadata["cos"]["findings"]
    assert [f["id"] for f in findings][0] == "AccessDenied_Condition"    # COS's error stays first
    unknown = next(f for f in findings if f["id"] == UNKNOWN_ID)
    assert unknown["severity"] == "info" and unknown["evidence"] == {"origin": PAGE, "host": HOST}
    assert UNKNOWN_ID in flow.comment


def test_a_refused_preflight_teaches_nothing(doctor):
    run(doctor, preflight(PAGE, status=403))
    assert len(doctor.block.cors) == 0


def test_bad_mode_is_refused(caplog):
    block = CosBlock()
    with taddons.context(block) as tctx:
        with caplog.at_level(logging.ERROR):
            tctx.configure(block, cos_validate="zzz")
        assert "cosdoctor: cos_validate must be one of off, warn, block, not 'zzz'" in caplog.text
    block = CosBlock()
    with taddons.context(block) as tctx:
        tctx.configure(block)
        with pytest.raises(exceptions.OptionsError, match="cos_validate must be one of off, warn, block"):
            tctx.configure(block, cos_validate="maybe")


def test_the_mode_is_told_to_whoever_asked():
    modes = []
    block = CosBlock(on_mode=modes.append)
    with taddons.context(block) as tctx:
        tctx.configure(block, cos_validate="warn")
        tctx.configure(block, cos_validate="block")
    assert modes[-2:] == ["warn", "block"] and block.blocking
