"""Test-only mitmproxy script: one JSON line per finished flow, as the client got it.

Load it after addon/cos_addon.py (so its `response` hook sees the headers the COS addon added) with
`--set test_flowlog=<path>`. Each line: the HTTP version the client spoke to the proxy, whether it spoke TLS and its ALPN, the Host the
client addressed, method, path, status, the X-COS-Diagnosis header the client received (or null),
and whether an upstream server was ever connected for the flow (false: the answer was made in the
proxy). Never shipped.
"""
from __future__ import annotations

import json

from mitmproxy import ctx, http


class FlowLog:
    def load(self, loader) -> None:
        loader.add_option("test_flowlog", str, "", "JSON Lines file of finished flows (tests only)")

    def _write(self, flow: http.HTTPFlow) -> None:
        if not ctx.options.test_flowlog:
            return
        response = flow.response
        line = {
            "id": flow.id,
            "http_version": flow.request.http_version,
            "client_tls": bool(flow.client_conn.tls_established),
            "client_alpn": flow.client_conn.alpn.decode("ascii", "replace") if flow.client_conn.alpn else None,
            "host": flow.request.host_header or flow.request.host,
            "method": flow.request.method,
            "path": flow.request.path,
            "status": response.status_code if response else None,
            "diagnosis": response.headers.get("X-COS-Diagnosis") if response else None,
            "expose": response.headers.get("Access-Control-Expose-Headers") if response else None,
            "upstream": flow.server_conn.timestamp_start is not None,
            "error": str(flow.error) if flow.error else None,
        }
        with open(ctx.options.test_flowlog, "a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")

    def response(self, flow: http.HTTPFlow) -> None:
        self._write(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._write(flow)


addons = [FlowLog()]
