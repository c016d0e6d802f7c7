"""The "COS POST Object" content view, for mitmproxy 11 and 12.

mitmproxy 12 replaced the content-view API (`Contentview.prettify` returning text) and 11 has only
the old one (`View.__call__` returning styled lines), so the class is chosen by feature detection,
never by version number. Both call `cosdoctor.formview.summarize`; this file only adapts.

Auto mode picks the view for a request whose Content-Type is multipart/form-data when the addon
diagnosed the flow (`flow.metadata["cos"]`) or the body carries the COS signature fields. The
built-in "Multipart Form" view has priority 1, so 2 wins.

    view = cos_contentview.register(credentials=lambda: store)   # in the addon's load()
    cos_contentview.unregister(view)                              # in its done()
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for cosdoctor, however we are loaded

from mitmproxy import contentviews, http  # noqa: E402

import cosdoctor  # noqa: E402,F401 - the core package; its view module is imported on first render


def summarize(*args, **kwargs) -> str:
    """cosdoctor.formview.summarize, imported when a view is first drawn (memory, not speed)."""
    from cosdoctor.render.view import summarize as render_text
    return render_text(*args, **kwargs)


def looks_like_cos_form(data: bytes) -> bool:
    from cosdoctor.render.view import looks_like_cos_form as check
    return check(data)

NAME = "COS POST Object"
META_KEY = "cos"
PRIORITY = 2.0
MULTIPART = "multipart/form-data"
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
           lang: Callable | None = None) -> str:
    """The view's text for one message; `credentials`/`lang` are callables giving the addon's settings."""
    try:
        message = http_message
        if not isinstance(message, http.Request):
            # A response (or no message): only its own Content-Type matters, it is never a COS form.
            ctype = message.headers.get("content-type") if isinstance(message, http.Message) else None
            return summarize(data, ctype)
        headers = {name.lower(): value for name, value in message.headers.items()}
        if message.raw_content is not None and len(message.raw_content) != len(data):
            headers.pop("content-length", None)          # we were given the decoded body
        metadata = getattr(flow, "metadata", None)
        diagnosis = metadata.get(META_KEY) if isinstance(metadata, dict) else None
        start = message.timestamp_start
        return summarize(data, message.headers.get("content-type"), host=message.host_header,
                         path=message.path, headers=headers, diagnosis=diagnosis,
                         credentials=credentials() if credentials else None,
                         now=int(start) if start else None, lang=lang() if lang else "en",
                         http_version=message.http_version)
    except Exception as exc:  # noqa: BLE001 - a content view must never take the UI down
        return f"COS POST Object: this message could not be rendered: {type(exc).__name__}"


if IS_V12:

    class CosPostObjectView(contentviews.Contentview):
        """mitmproxy >= 12: plain text, highlighted as YAML."""

        name = NAME
        syntax_highlight = "yaml"

        def __init__(self, credentials: Callable | None = None, lang: Callable | None = None) -> None:
            self.credentials = credentials
            self.lang = lang
            self.active = True

        def prettify(self, data: bytes, metadata: contentviews.Metadata) -> str:
            return render(data, metadata.flow, metadata.http_message, self.credentials, self.lang)

        def render_priority(self, data: bytes, metadata: contentviews.Metadata) -> float:
            if self.active and wants(data, metadata.content_type, metadata.flow, metadata.http_message):
                return PRIORITY
            return -1.0

    def register(credentials: Callable | None = None, lang: Callable | None = None) -> CosPostObjectView:
        """Add the view; a view of the same name (an earlier load) is replaced by the registry."""
        view = CosPostObjectView(credentials, lang)
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

        def __init__(self, credentials: Callable | None = None, lang: Callable | None = None) -> None:
            self.credentials = credentials
            self.lang = lang

        def __call__(self, data, *, content_type=None, flow=None, http_message=None, **unknown):
            text = render(data, flow, http_message, self.credentials, self.lang)
            return NAME, [[(_style(line), line)] for line in text.splitlines()]

        def render_priority(self, data, *, content_type=None, flow=None, http_message=None, **unknown):
            return PRIORITY if wants(data, content_type, flow, http_message) else 0.0

    def register(credentials: Callable | None = None, lang: Callable | None = None) -> CosPostObjectView:
        """Add the view, first removing one of the same name (a reload without done, a test setup):
        11's `add` raises "Duplicate view" otherwise."""
        old = contentviews.get(NAME)
        if old is not None:
            contentviews.remove(old)
        view = CosPostObjectView(credentials, lang)
        contentviews.add(view)
        return view

    def unregister(view: CosPostObjectView | None) -> None:
        if view is not None and view in contentviews.views:
            contentviews.remove(view)
