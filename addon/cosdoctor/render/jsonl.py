"""The JSON Lines audit log: one complete line per COS flow, appended and flushed per record.

Each record is written with a single `os.write` on an O_APPEND descriptor, so a SIGTERM between two
flows never leaves a torn line, and two processes appending to one file do not interleave.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Mapping

from cosdoctor.cos.secrets import shorten_url
from cosdoctor.render.text import dumps_record
from cosdoctor.render.words import render_finding
from cosdoctor.wire.jsonsafe import plain


class ReportWriter:
    def __init__(self, path: str) -> None:
        self.path = path
        # Raises OSError for an unwritable path: the caller turns that into a start-up error.
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._lock = threading.Lock()
        self.records = 0

    def write(self, record: Mapping) -> None:
        # backslashreplace turns a stray lone surrogate into a JSON \\udXXX escape: still one valid line.
        data = (dumps_record(record) + "\n").encode("utf-8", "backslashreplace")
        with self._lock:
            if self._fd < 0:
                return
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            self.records += 1

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


def record(*, time: str, flow_id: str, client: str | None, method: str, url: str, host: str | None,
           bucket: str | None, region: str | None, key: str | None, status: int | None,
           error: Mapping | None, findings: list[dict], action: str, lang: str = "en",
           operation: str | None = None, auth: str | None = None, upload_id: str | None = None,
           part_number: int | str | None = None) -> dict:
    """The contract's report record, keys in the documented order, every string UTF-8-safe
    (request-derived strings may carry surrogate-escaped bytes). `url` has a presigned URL's
    signature and token shortened (`cos.secrets.shorten_url`); `operation`, `auth`, `upload_id`,
    `part_number` are the contract's second-version keys (`render.text.metadata` has them).

    `findings` as `render.text.metadata` gives them (rendered: kept as they are); a plain finding
    (no title yet) is rendered here in `lang`."""
    findings = [f if "title" in f else render_finding(f, lang) for f in findings]
    return {"time": time, "flow_id": flow_id, "client": client, "method": method, "url": plain(shorten_url(url)),
            "host": plain(host), "bucket": plain(bucket), "region": plain(region), "key": plain(key),
            "status": status, "error": plain(dict(error)) if error else None, "findings": plain(findings),
            "action": action, "operation": operation, "auth": auth, "upload_id": plain(upload_id),
            "part_number": plain(part_number) if isinstance(part_number, str) else part_number}
