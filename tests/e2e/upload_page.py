"""A loopback web server with COS upload pages, for driving a real browser without a driver.

The pages do what COS's web direct-upload demos do (cos-js-sdk-v5 demo/noSDK): the signed fields
(key, q-sign-algorithm, q-ak, q-key-time, q-signature, policy) and then the file, sent either as
`FormData` + XHR (the page writes what it could read of COS's answer into `<pre id="result">`)
or as a plain `<form>` submission (the browser navigates; `success_action_redirect` brings it
back to /done, which writes its query into the same element). The file is made in the page from
bytes (File / DataTransfer), so headless Chromium needs no file chooser.
"""
from __future__ import annotations

import base64
import html
import http.server
import json
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

DONE_PATH = "/done"
_RESULT_RE = re.compile(r'<pre id="result">(.*?)</pre>', re.S)


def _js(value: object) -> str:
    """A JSON literal that is safe inside an inline <script>."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _file_js(name: str, data: bytes, content_type: str) -> str:
    return (f"new File([Uint8Array.from(atob({_js(base64.b64encode(data).decode())}), c => c.charCodeAt(0))], "
            f"{_js(name)}, {{type: {_js(content_type)}}})")


def xhr_page(action: str, fields: Sequence[tuple[str, str]], file_name: str, file_data: bytes,
             file_type: str, request_headers: dict[str, str] | None = None) -> str:
    """FormData + XMLHttpRequest, as the COS web demo posts; extra request headers force a preflight."""
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>COS upload (XHR)</title></head><body>
<pre id="result">pending</pre>
<script>
const out = document.getElementById("result");
const form = new FormData();
for (const [name, value] of {_js([list(f) for f in fields])}) form.append(name, value);
form.append("file", {_file_js(file_name, file_data, file_type)});
const xhr = new XMLHttpRequest();
xhr.open("POST", {_js(action)}, true);
for (const [name, value] of Object.entries({_js(request_headers or {})})) xhr.setRequestHeader(name, value);
xhr.onload = () => {{
  out.textContent = JSON.stringify({{
    status: xhr.status,
    diagnosis: xhr.getResponseHeader("X-COS-Diagnosis"),
    detail: xhr.getResponseHeader("X-COS-Diagnosis-Detail"),
    etag: xhr.getResponseHeader("ETag"),
    body: xhr.responseText,
  }});
}};
xhr.onerror = () => {{ out.textContent = JSON.stringify({{network_error: true, status: xhr.status}}); }};
xhr.send(form);
</script></body></html>
"""


def form_page(action: str, fields: Sequence[tuple[str, str]], file_name: str, file_data: bytes,
              file_type: str) -> str:
    """A plain multipart <form>: hidden signed fields, then <input type=file>, then form.submit()."""
    hidden = "\n".join(f'<input type="hidden" name="{html.escape(n)}" value="{html.escape(v)}">'
                       for n, v in fields)
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>COS upload (form)</title></head><body>
<form id="upload" method="post" enctype="multipart/form-data" action="{html.escape(action)}">
{hidden}
<input type="file" name="file" id="file">
</form>
<pre id="result">pending</pre>
<script>
const files = new DataTransfer();
files.items.add({_file_js(file_name, file_data, file_type)});
document.getElementById("file").files = files.files;
document.getElementById("upload").submit();
</script></body></html>
"""


def read_result(dom: str) -> dict | None:
    """The JSON a page wrote into <pre id="result">, from `chromium --dump-dom` output."""
    match = _RESULT_RE.search(dom)
    if not match:
        return None
    try:
        return json.loads(html.unescape(match.group(1)))
    except ValueError:
        return None


@dataclass
class PageServer:
    """Serves registered pages; /done echoes its query as JSON (the success_action_redirect target)."""

    server: http.server.ThreadingHTTPServer = field(repr=False)
    pages: dict[str, bytes] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add(self, path: str, page: str) -> str:
        self.pages[path] = page.encode("utf-8")
        return self.origin + path

    @classmethod
    def start(cls) -> "PageServer":
        holder: dict[str, PageServer] = {}

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):  # noqa: A002 - quiet
                pass

            def do_GET(self) -> None:
                pages = holder["pages"]
                pages.hits.append(self.path)
                parts = urlsplit(self.path)
                if parts.path == DONE_PATH:
                    query = dict(parse_qsl(parts.query, keep_blank_values=True))
                    body = (f'<!doctype html><html><body><pre id="result">'
                            f'{html.escape(json.dumps(query))}</pre></body></html>').encode()
                    status = 200
                elif self.path in pages.pages:
                    body, status = pages.pages[self.path], 200
                else:
                    body, status = b"not found", 404
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        pages = cls(server)
        holder["pages"] = pages
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return pages

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
