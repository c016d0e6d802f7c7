"""The "COS POST Object" content view through mitmproxy's own API, on 11 (View) and 12 (Contentview)."""
from __future__ import annotations

import warnings

import pytest
from mitmproxy import contentviews, http
from mitmproxy.test import taddons, tflow

from cosaddons import contentview as cos_contentview
from cosaddons.doctor import CosDoctor
from cosdoctor.findings import catalogue
from cosdoctor.render.words import render_finding
from cosdoctor.cos.credentials import Credential, CredentialStore
from devkit.formbuilder import signed_form

SECRET_ID = "AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q"
SECRET_KEY = "BQYIM75p8x0iWVFSIgqEKwFprpRSVHlz"
BUCKET = "examplebucket-1250000000"
HOST = f"{BUCKET}.cos.ap-beijing.myqcloud.com"
NOW = 1_795_000_000
TOKEN = "sts" + "QUJDREVGR0hJSktMTU5PUA" * 6 + "end"
NAME = "COS POST Object"
PLAIN_MULTIPART = (b'--x\r\nContent-Disposition: form-data; name="title"\r\n\r\nhello\r\n--x--\r\n',
                   "multipart/form-data; boundary=x")


def cos_upload(**kw):
    spec = signed_form(SECRET_ID, SECRET_KEY, BUCKET, "uploads/a.txt", now=NOW, token=TOKEN, **kw)
    return spec.encode()


def make_flow(body: bytes, content_type: str, host: str = HOST, metadata: dict | None = None):
    request = http.Request.make("POST", f"http://{host}/", body, {"Host": host, "Content-Type": content_type})
    request.timestamp_start = NOW
    flow = tflow.tflow(req=request, resp=True)
    flow.metadata.update(metadata or {})
    return flow


@pytest.fixture
def view():
    registered = cos_contentview.register()
    yield registered
    cos_contentview.unregister(registered)


def priority(view, flow, message) -> float:
    """Ask the view as mitmproxy asks it (content_type without parameters)."""
    ctype = message.headers.get("content-type", "").split(";")[0].strip().lower() or None
    if cos_contentview.IS_V12:
        metadata = contentviews.Metadata(flow=flow, content_type=ctype, http_message=message)
        return view.render_priority(message.content, metadata)
    return view.render_priority(message.content, content_type=ctype, flow=flow, http_message=message)


def auto(flow, message) -> tuple[str, str]:
    """(name of the view mitmproxy picks in auto mode, rendered text)."""
    with taddons.context():
        if cos_contentview.IS_V12:
            result = contentviews.prettify_message(message, flow)
            return result.view_name or "", result.text
        description, lines, error = contentviews.get_message_content_view("auto", message, flow)
        assert error is None
        return description, "\n".join("".join(text for _, text in line) for line in lines)


NOT_OURS = -1.0 if cos_contentview.IS_V12 else 0.0


@pytest.mark.parametrize("flow, expected", [
    pytest.param(lambda: make_flow(*cos_upload()), cos_contentview.PRIORITY, id="cos-upload"),
    pytest.param(lambda: make_flow(*cos_upload(), host="upload.example.com"), cos_contentview.PRIORITY,
                 id="cos-upload-custom-domain"),
    pytest.param(lambda: make_flow(*PLAIN_MULTIPART, metadata={"cos": {"findings": []}}),
                 cos_contentview.PRIORITY, id="multipart-diagnosed-by-addon"),
    pytest.param(lambda: make_flow(*PLAIN_MULTIPART), NOT_OURS, id="plain-multipart"),
    pytest.param(lambda: make_flow(*PLAIN_MULTIPART, host=HOST), NOT_OURS, id="plain-multipart-cos-host"),
    pytest.param(lambda: make_flow(b'{"q-signature": "x"}', "application/json"), NOT_OURS, id="json"),
    pytest.param(lambda: make_flow(cos_upload()[0], "text/plain"), NOT_OURS, id="cos-body-wrong-type"),
])
def test_render_priority(view, flow, expected):
    f = flow()
    assert priority(view, f, f.request) == expected


def test_response_is_never_ours(view):
    f = make_flow(*cos_upload(), metadata={"cos": {"findings": []}})
    f.response.headers["content-type"] = f.request.headers["content-type"]
    f.response.content = f.request.content
    assert priority(view, f, f.response) == NOT_OURS


def test_auto_mode_picks_the_view_for_a_cos_upload(view):
    f = make_flow(*cos_upload(extra_conditions=[["content-length-range", 1, 5]]))
    name, text = auto(f, f.request)
    assert name == NAME
    assert "EntityTooLarge_ContentLengthRange" in text
    assert "- FAIL: conditions[5]   # [\"content-length-range\", 1, 5]" in text
    assert TOKEN not in text and TOKEN[:16] not in text


def test_auto_mode_shows_the_addon_diagnosis(view):
    found = {"id": "Future_Check", "severity": "error", "phase": "response",
             "title": "COS said: expired", "fix": "Sign a fresh policy", "evidence": {}}
    f = make_flow(*cos_upload(), metadata={"cos": {"mode": "policy", "findings": [found]}})
    name, text = auto(f, f.request)
    assert name == NAME
    assert 'verdict: !error "Future_Check: COS said: expired"' in text
    assert "the addon's diagnosis" in text


@pytest.mark.parametrize("body, content_type", [PLAIN_MULTIPART, (b'{"a": 1}', "application/json")])
def test_auto_mode_leaves_other_bodies_alone(view, body, content_type):
    f = make_flow(body, content_type)
    name, _ = auto(f, f.request)
    assert name != NAME


def break_signature(body: bytes) -> bytes:
    """Change q-signature's last hex digit: still well formed, no longer the right signature."""
    marker = b'name="q-signature"\r\n\r\n'
    last = body.index(marker) + len(marker) + 39
    return body[:last] + (b"1" if body[last:last + 1] == b"0" else b"0") + body[last + 1:]


def test_credentials_and_lang_come_from_the_addon():
    registered = cos_contentview.register(
        credentials=lambda: CredentialStore({SECRET_ID: Credential(SECRET_ID, SECRET_KEY)}, ()),
        lang=lambda: "zh")
    try:
        body, content_type = cos_upload()
        f = make_flow(break_signature(body), content_type)
        name, text = auto(f, f.request)
        assert name == NAME
        assert "verified: true" in text and "result: !error MISMATCH" in text
        zh_title = render_finding(catalogue.finding("SignatureDoesNotMatch_POSTSignature", "preflight"), "zh")["title"]
        assert f'title: "{zh_title}"' in text
        assert SECRET_KEY not in text
    finally:
        cos_contentview.unregister(registered)


def test_registering_twice_keeps_one_view():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        first = cos_contentview.register()
        second = cos_contentview.register()
    try:
        if cos_contentview.IS_V12:
            assert contentviews.registry[NAME] is second
            assert sum(1 for n in contentviews.registry if n == NAME.lower()) == 1
        else:
            assert [v for v in contentviews.views if v.name == NAME] == [second]
        assert first is not second
    finally:
        cos_contentview.unregister(second)


def test_unregister_takes_the_view_out_of_auto_mode():
    registered = cos_contentview.register()
    cos_contentview.unregister(registered)
    f = make_flow(*cos_upload())
    name, _ = auto(f, f.request)
    assert name != NAME
    if not cos_contentview.IS_V12:
        assert registered not in contentviews.views


def test_odd_metadata_falls_back_to_checking_here(view):
    f = make_flow(*cos_upload(), metadata={"cos": {"findings": "not a list"}})
    name, text = auto(f, f.request)
    assert name == NAME
    assert "(checked here)" in text


def test_without_a_request_the_view_says_not_cos():
    text = cos_contentview.render(b"whatever", None, None)
    assert text.startswith("not a COS POST Object form") and "\n" not in text


# --- the addon: the view drawn from the doctor's diagnosis -------------------------------------------

def diagnosed(doctor, tctx, body: bytes, content_type: str):
    f = make_flow(body, content_type)
    f.response = http.Response.make(204, b"", {})
    doctor.response(f)
    return f


def test_a_diagnosed_flow_is_drawn_from_its_diagnosis_without_analysing_again(monkeypatch):
    import cosdoctor.render.view as view_text
    doctor = CosDoctor()
    with taddons.context(doctor) as tctx:
        f = diagnosed(doctor, tctx, *cos_upload(extra_conditions=[["content-length-range", 1, 5]]))
        assert doctor.kept.get(f) is not None

        def analysed_again(*args, **kwargs):
            raise AssertionError("the view analysed a diagnosed flow again")
        monkeypatch.setattr(view_text, "analyse_request", analysed_again)
        name, text = auto(f, f.request)
    assert name == NAME
    assert "could not be rendered" not in text
    assert "- FAIL: conditions[5]   # [\"content-length-range\", 1, 5]" in text       # the kept analysis' conditions
    assert "the addon's diagnosis" in text


def test_an_edited_request_is_analysed_afresh(monkeypatch):
    import cosdoctor.render.view as view_text
    doctor = CosDoctor()
    calls = []
    with taddons.context(doctor) as tctx:
        f = diagnosed(doctor, tctx, *cos_upload())
        f.request.content = f.request.content.replace(b"uploads/a.txt", b"uploads/b.txt")
        original = view_text.analyse_request
        monkeypatch.setattr(view_text, "analyse_request", lambda *a, **k: calls.append(1) or original(*a, **k))
        name, text = auto(f, f.request)
    assert name == NAME and calls == [1]
    assert '"uploads/b.txt"' in text


def test_the_addon_registers_the_view_with_the_doctors_settings_and_withdraws_it():
    doctor = CosDoctor()
    with taddons.context(doctor) as tctx:
        tctx.configure(doctor, cos_lang="ko")
        view = next(a for a in doctor.addons if isinstance(a, cos_contentview.CosContentView)).view
        assert view.lang() == "ko" and view.credentials() is doctor.credentials
        f = make_flow(*cos_upload())
        name, _ = auto(f, f.request)
        assert name == NAME
        tctx.master.addons.remove(doctor)
    name, _ = auto(f, f.request)
    assert name != NAME


def test_a_repeated_content_type_reads_as_mitmproxy_reads_it(view):
    body, content_type = cos_upload()
    request = http.Request.make("POST", f"http://{HOST}/", body, {})
    request.headers = http.Headers([(b"Host", HOST.encode()), (b"Content-Type", content_type.encode()),
                                    (b"Content-Type", b"text/plain")])
    f = tflow.tflow(req=request, resp=True)
    text = cos_contentview.render(request.content, f, request)
    assert f'content_type: "{content_type}, text/plain"' in text
