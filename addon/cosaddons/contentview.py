"""The "COS POST Object" content view, for mitmproxy 11 and 12, and the addon that registers it.

mitmproxy 12 replaced the content-view API (`Contentview.prettify` returning text) and 11 has only
the old one (`View.__call__` returning styled lines), so the class is chosen by feature detection,
never by version number. Both call `cosdoctor.render.view.summarize`; this file only adapts.

Auto mode picks the view for a request whose Content-Type is multipart/form-data when the addon
diagnosed the flow (`flow.metadata["cos"]`) or the body carries the COS signature fields
(`cosdoctor.cos.sniff`). The built-in "Multipart Form" view has priority 1, so 2 wins. A flow the
doctor diagnosed is drawn from its diagnosis (the findings in `flow.metadata["cos"]`, the analysis
it kept); only a flow it never diagnosed is analysed here.

    view = register(credentials=lambda: store, lang=lambda: "en", kept=kept_analyses.get)
    unregister(view)
"""
from __future__ import annotations

from collections.abc import Callable

from mitmproxy import contentviews, http

from cosaddons.adapter import header, plain_request
from cosdoctor.cos.sniff import MULTIPART, looks_like_cos_form


def summarize(*args, **kwargs) -> str:
    """cosdoctor.render.view.summarize, imported when a view is first drawn (memory, not speed)."""
    from cosdoctor.render.view import summarize as render_text
    return render_text(*args, **kwargs)


NAME = "COS POST Object"
META_KEY = "cos"
PRIORITY = 2.0
IS_V12 = hasattr(contentviews, "Contentview")


def wants(data: bytes, content_type: str | None, flow, http_message) -> bool:
    """Is this a COS POST Object upload? Only requests; the addon's verdict or the field names decide."""
    if not isinstance(http_message, http.Request):
        return False
    if (content_type or "").lower() != MULTIPART:
        return False
    metadata = getattr(flow, "metadata", None)
    if isinstance(metadata, dict) and metadata.get(META_KEY) is not None:
        return True
    return bool(data) and looks_like_cos_form(data)


def render(data: bytes, flow, http_message, credentials: Callable | None = None,
           lang: Callable | None = None, kept: Callable | None = None) -> str:
    """The view's text for one message. `credentials` and `lang` give the addon's settings, `kept`
    the analysis behind the flow's diagnosis (used when it read these very bytes)."""
    try:
        message = http_message
        if not isinstance(message, http.Request):
            # A response (or no message): only its own Content-Type matters, it is never a COS form.
            ctype = header(message, b"content-type") if isinstance(message, http.Message) else None
            return summarize(data, ctype)
        request = plain_request(message, None, body=data)
        metadata = getattr(flow, "metadata", None)
        diagnosis = metadata.get(META_KEY) if isinstance(metadata, dict) else None
        analysis = kept(flow) if kept is not None and flow is not None else None
        if analysis is not None and not _same_body(analysis.request.body, data):
            analysis = None             # the request was edited since it was diagnosed
        start = message.timestamp_start
        return summarize(data, request.headers.get("content-type"), host=request.host, path=request.path,
                         headers=request.headers, diagnosis=diagnosis,
                         credentials=credentials() if credentials else None,
                         now=int(start) if start else None, lang=lang() if lang else "en",
                         http_version=request.http_version, analysis=analysis)
    except Exception as exc:  # noqa: BLE001 - a content view must never take the UI down
        return f"COS POST Object: this message could not be rendered: {type(exc).__name__}"


def _same_body(seen: bytes | None, data: bytes | None) -> bool:
    return seen is data or (seen is not None and data is not None and len(seen) == len(data) and seen == data)


if IS_V12:

    class CosPostObjectView(contentviews.Contentview):
        """mitmproxy >= 12: plain text, highlighted as YAML."""

        name = NAME
        syntax_highlight = "yaml"

        def __init__(self, credentials: Callable | None = None, lang: Callable | None = None,
                     kept: Callable | None = None) -> None:
            self.credentials = credentials
            self.lang = lang
            self.kept = kept
            self.active = True

        def prettify(self, data: bytes, metadata: contentviews.Metadata) -> str:
            return render(data, metadata.flow, metadata.http_message, self.credentials, self.lang, self.kept)

        def render_priority(self, data: bytes, metadata: contentviews.Metadata) -> float:
            if self.active and wants(data, metadata.content_type, metadata.flow, metadata.http_message):
                return PRIORITY
            return -1.0

    def register(credentials: Callable | None = None, lang: Callable | None = None,
                 kept: Callable | None = None) -> CosPostObjectView:
        """Add the view; a view of the same name (an earlier load) is replaced by the registry."""
        view = CosPostObjectView(credentials, lang, kept)
        contentviews.add(view)
        return view

    def unregister(view: CosPostObjectView | None) -> None:
        """12 has no public removal: the view stays selectable by name but auto mode never picks it."""
        if view is not None:
            view.active = False

else:
    from mitmproxy.contentviews.base import View

    _STYLES = (("FAIL", "error"), ("\u2716", "error"), ("MISMATCH", "error"), ("MALFORMED", "error"),
               ("EXPIRED", "error"), ("DUPLICATE", "error"), ("AFTER", "error"), ("\u26a0", "highlight"))

    def _style(line: str) -> str:
        if line and not line[0].isspace():
            return "header"
        for marker, style in _STYLES:
            if marker in line:
                return style
        return "text"

    class CosPostObjectView(View):  # type: ignore[no-redef]
        """mitmproxy 11: styled lines."""

        name = NAME

        def __init__(self, credentials: Callable | None = None, lang: Callable | None = None,
                     kept: Callable | None = None) -> None:
            self.credentials = credentials
            self.lang = lang
            self.kept = kept

        def __call__(self, data, *, content_type=None, flow=None, http_message=None, **unknown):
            text = render(data, flow, http_message, self.credentials, self.lang, self.kept)
            return NAME, [[(_style(line), line)] for line in text.splitlines()]

        def render_priority(self, data, *, content_type=None, flow=None, http_message=None, **unknown):
            return PRIORITY if wants(data, content_type, flow, http_message) else 0.0

    def register(credentials: Callable | None = None, lang: Callable | None = None,
                 kept: Callable | None = None) -> CosPostObjectView:
        """Add the view, first removing one of the same name (a reload without done, a test setup):
        11's `add` raises "Duplicate view" otherwise."""
        old = contentviews.get(NAME)
        if old is not None:
            contentviews.remove(old)
        view = CosPostObjectView(credentials, lang, kept)
        contentviews.add(view)
        return view

    def unregister(view: CosPostObjectView | None) -> None:
        if view is not None and view in contentviews.views:
            contentviews.remove(view)


class CosContentView:
    """The addon: registers the view when loaded, with the doctor's credentials, language and kept
    analyses, and takes it out of auto mode when done."""

    name = "cosdoctor-view"

    def __init__(self, doctor=None) -> None:
        self.doctor = doctor
        self.view = None

    def load(self, loader) -> None:
        doctor = self.doctor
        if doctor is None:
            self.view = register()
        else:
            self.view = register(credentials=lambda: doctor.credentials, lang=lambda: doctor.lang,
                                 kept=doctor.kept.get)

    def done(self) -> None:
        unregister(self.view)
        self.view = None
