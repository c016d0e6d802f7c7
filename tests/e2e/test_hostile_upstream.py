"""A hostile upstream behind the real mitmdump: the addon parses its answer safely or refuses it.

Every case answers a valid COS upload with 403 and a body built to hurt an XML parser (entity
expansion, external entities aimed at a local file and at a loopback port, 100 MB, garbage). The
client must still get exactly what the upstream sent, mitmdump must stay up, the report must hold
one record for the flow, the file must never be read and the port never contacted.
"""
from __future__ import annotations

import http.client
import http.server
import json
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from mitmproxy import io

import cosrig
from devkit.fuzzing.common import MARKER
from devkit.fuzzing.runner import NetTrap
from devkit.fuzzing.xml import hostile_xml
from seedcases import encode, good

pytestmark = pytest.mark.e2e

BIG = 100 * 1024 * 1024
BIG_HEAD = b"<?xml version='1.0' encoding='utf-8' ?>\n<Error><Code>AccessDenied</Code><Message>"
BIG_TAIL = b"</Message><RequestId>big</RequestId></Error>"
PLAIN = b"<Error><Code>AccessDenied</Code><Message>Access Denied.</Message><RequestId>ok</RequestId></Error>"
CHUNK = 1 << 20


def big_body():
    """100 MB of one <Error> document, streamed: the upstream never holds it in memory."""
    yield BIG_HEAD
    left = BIG - len(BIG_HEAD) - len(BIG_TAIL)
    while left:
        n = min(CHUNK, left)
        yield b"A" * n
        left -= n
    yield BIG_TAIL


class HostileUpstream:
    """ThreadingHTTPServer on 127.0.0.1:0: POST /?t=<case>.<n> gets 403 and that case's body."""

    def __init__(self, payloads: dict[str, bytes]) -> None:
        self.payloads = payloads
        self.seen: list[str] = []
        upstream = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):  # noqa: A002 - keep the test output quiet
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                tag = parse_qs(urlsplit(self.path).query).get("t", [""])[0]
                case = tag.split(".")[0]
                upstream.seen.append(case)
                self.send_response(403)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Server", "tencent-cos")
                if case == "big-100MB":
                    self.send_header("Content-Length", str(BIG))
                    self.end_headers()
                    for chunk in big_body():
                        self.wfile.write(chunk)
                    return
                body = upstream.payloads.get(case, PLAIN)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Setup:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.marker_file = workdir / "secret-notes.txt"
        self.marker_file.write_text(MARKER + "\n")
        self.trap = NetTrap()
        self.payloads = hostile_xml(str(self.marker_file), self.trap.url)
        self.upstream = HostileUpstream(self.payloads)
        self.report = workdir / "report.jsonl"
        self.flows = workdir / "flows.mitm"
        credentials = cosrig.write_credentials(workdir)
        self.proxy = cosrig.Proxy.start(self.upstream.port, "--set", f"cos_credentials={credentials}",
                                        "--set", f"cos_report={self.report}", "-w", str(self.flows),
                                        workdir=workdir)
        self.sent = 0

    def upload(self, case: str, *, timeout: float = 120) -> tuple[int, dict, int, bytes, str]:
        """(status, headers, body length, body (small answers only), tag) of one COS upload."""
        self.sent += 1
        tag = f"{case}.{self.sent}"
        body, content_type = encode(good(int(time.time()), f"hostile{self.sent}"), None)
        conn = http.client.HTTPConnection("127.0.0.1", self.proxy.port, timeout=timeout)
        try:
            conn.request("POST", f"/?t={tag}", body, {"Host": cosrig.COS_HOST, "Content-Type": content_type})
            response = conn.getresponse()
            kept, length = bytearray(), 0
            while chunk := response.read(CHUNK):
                length += len(chunk)
                if length <= 4 * CHUNK:
                    kept += chunk
            return response.status, {k.lower(): v for k, v in response.getheaders()}, length, bytes(kept), tag
        finally:
            conn.close()

    def records_for(self, tag: str) -> list[dict]:
        lines = self.report.read_text(encoding="utf-8").splitlines() if self.report.exists() else []
        return [r for r in map(json.loads, lines) if r["url"].endswith(f"?t={tag}")]

    def peak_rss(self) -> int:
        status = Path(f"/proc/{self.proxy.process.pid}/status")
        if not status.exists():
            return 0
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        return 0

    def stop(self) -> int:
        if self.proxy.process.poll() is None:
            self.proxy.stop()
            self.upstream.stop()
            self.trap.close()
        return self.proxy.process.returncode


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    setup = Setup(tmp_path_factory.mktemp("hostile"))
    yield setup
    setup.stop()


CASES = sorted(hostile_xml("/x", "http://127.0.0.1:1/")) + ["big-100MB"]


@pytest.mark.parametrize("case", CASES)
def test_hostile_answer_reaches_the_client_unchanged_and_is_recorded(hostile, case):
    started = time.monotonic()
    status, headers, length, body, tag = hostile.upload(case)
    if case == "big-100MB":
        assert (status, length) == (403, BIG)
        assert body.startswith(BIG_HEAD)
    else:
        assert (status, body) == (403, hostile.payloads[case])
    assert time.monotonic() - started < 120
    assert headers["content-type"] == "application/xml"

    records = hostile.records_for(tag)
    assert len(records) == 1, records
    found = records[0]
    assert found["status"] == 403 and found["action"] == "forwarded"
    assert found["findings"][0]["id"].startswith("Unknown_"), [f["id"] for f in found["findings"]]
    assert headers["x-cos-diagnosis"] == found["findings"][0]["id"]
    if case.startswith(("xinclude", "schema")):       # no DTD: read, with the include left unresolved
        assert found["error"]["code"] == "AccessDenied" and not found["error"]["message"]
    else:                                            # refused unread: no <Error> fields at all
        assert found["error"] is None

    # The proxy is still up and still diagnosing.
    assert hostile.proxy.process.poll() is None
    status, _, _, body, tag = hostile.upload("plain")
    assert (status, body) == (403, PLAIN)
    assert [r["findings"][0]["id"] for r in hostile.records_for(tag)] == ["AccessDenied_NoPermission"]

    assert MARKER not in hostile.report.read_text(encoding="utf-8")
    assert MARKER not in hostile.proxy.log()
    assert hostile.trap.connections == 0


def test_nothing_was_read_or_fetched_and_memory_stayed_bounded(hostile):
    """After every case: one record per upload, the marker nowhere in the saved flows (comments,
    metadata, bodies), no connection to the trap port, and a bounded peak RSS for the proxy."""
    peak = hostile.peak_rss()
    assert 0 < peak < 1024 * 1024 * 1024, f"mitmdump peak RSS {peak / 2 ** 20:.0f} MiB"
    assert hostile.stop() == 0
    lines = hostile.report.read_text(encoding="utf-8").splitlines()
    assert len(lines) == hostile.sent and len({json.loads(line)["flow_id"] for line in lines}) == hostile.sent
    with open(hostile.flows, "rb") as handle:
        flows = list(io.FlowReader(handle).stream())
    assert len(flows) == hostile.sent
    for flow in flows:
        assert MARKER not in (flow.comment or "")
        assert MARKER not in json.dumps(flow.metadata.get("cos"), default=str)
    assert MARKER.encode() not in hostile.flows.read_bytes()
    assert hostile.trap.connections == 0
