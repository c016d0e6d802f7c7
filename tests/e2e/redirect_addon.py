"""Test-only mitmproxy script: send COS-named requests to the loopback COS emulator.

Lets a real browser use mitmdump as an ordinary (regular-mode) proxy with real-looking COS URLs
and no DNS: requests for *.myqcloud.com / *.tencentcos.cn go to `test_redirect_to` over plain
HTTP, with the original Host header kept, so the emulator and the COS addon still see COS.
Loopback requests (the test's own pages) pass; anything else is answered locally, so the
browser's background requests never leave the machine.
Load it before addon/cos_addon.py with `--set connection_strategy=lazy` (mitmproxy-api.md §6.2).
Never shipped.
"""
from __future__ import annotations

from mitmproxy import ctx, http

COS_SUFFIXES = (".myqcloud.com", ".tencentcos.cn")
LOOPBACK_NAMES = ("localhost", "::1")


class RedirectToLoopback:
    def load(self, loader) -> None:
        loader.add_option("test_redirect_to", str, "", "host:port of the loopback COS emulator")

    def request(self, flow: http.HTTPFlow) -> None:
        target = ctx.options.test_redirect_to
        if not target or flow.response or flow.error:
            return
        original = flow.request.host_header or flow.request.host
        name = original.rsplit(":", 1)[0].lower().rstrip(".").strip("[]")
        if not name.endswith(COS_SUFFIXES):
            if name not in LOOPBACK_NAMES and not name.startswith("127."):
                # The browser's own background traffic: answered here, never sent off this machine.
                flow.response = http.Response.make(502, b"not reachable from the test proxy")
            return
        host, port = target.rsplit(":", 1)
        flow.request.scheme = "http"
        flow.request.host = host            # this also rewrites the Host header ...
        flow.request.port = int(port)
        flow.request.host_header = original  # ... so put COS's name back


addons = [RedirectToLoopback()]
