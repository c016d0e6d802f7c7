"""The report (`cos_report`): one JSON Lines record per COS flow, appended and flushed per record.

The doctor hands every finished COS flow here; `record_of` is also what `cos.report` writes.
"""
from __future__ import annotations

import atexit
import os
from collections.abc import Sequence
from typing import Optional

from mitmproxy import ctx, exceptions, http

from cosaddons.adapter import host_of, time_of, url_of
from cosaddons.options import Option, declare, startup_errors
from cosdoctor.cos.times import format_iso8601
from cosdoctor.findings.diagnose import Diagnosis
from cosdoctor.render.jsonl import ReportWriter, record
from cosdoctor.render.text import dumps_record, metadata

OPTIONS = (Option("cos_report", Optional[str], None,
                  "JSON Lines audit log: one record per COS flow, appended and flushed per record."),)
HTML_SUFFIXES = (".html", ".htm")


def record_of(flow: http.HTTPFlow, diagnosis: Diagnosis, action: str, lang: str = "en") -> dict:
    """The contract's report record of one diagnosed flow, its texts in `lang`."""
    request = flow.request
    meta = metadata(diagnosis, lang)
    client = flow.client_conn.peername[0] if flow.client_conn and flow.client_conn.peername else None
    host = host_of(request)
    return record(time=format_iso8601(time_of(request)), flow_id=flow.id, client=client,
                  method=request.method, url=url_of(request, host), host=host, bucket=meta["bucket"],
                  region=meta["region"], key=meta["key"], status=diagnosis.status, error=diagnosis.error,
                  findings=meta["findings"], action=action, operation=meta["operation"], auth=meta["auth"],
                  upload_id=meta["upload_id"], part_number=meta["part_number"])


def write_report(path: str, records: Sequence[dict], *, lang: str = "en") -> str:
    """Write `records` to `path`, replacing what was there: a self-contained HTML page for .html/.htm,
    JSON Lines otherwise. Returns the format's name. Raises OSError."""
    html = path.lower().endswith(HTML_SUFFIXES)
    if html:
        from cosdoctor.render.html import render_html      # its templates load on first use
        data = render_html(list(records), lang=lang).encode("utf-8")
    else:
        # The same bytes ReportWriter writes: one line a record, lone surrogates escaped.
        data = "".join(dumps_record(r) + "\n" for r in records).encode("utf-8", "backslashreplace")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)
    return "HTML" if html else "JSON Lines"


class CosReport:
    name = "cosdoctor-report"

    def __init__(self) -> None:
        self.writer: ReportWriter | None = None

    def load(self, loader) -> None:
        declare(loader, OPTIONS)

    @startup_errors
    def configure(self, updated: set[str]) -> None:
        if "cos_report" in updated:
            self.open(ctx.options.cos_report)

    def open(self, path: str | None) -> None:
        old, self.writer = self.writer, None
        if old is not None:
            old.close()
        if path:
            try:
                self.writer = ReportWriter(os.path.expanduser(path))
            except OSError as exc:
                raise exceptions.OptionsError(
                    f"cos_report: cannot write {path!r}: {exc.strerror or exc}") from None

    def write(self, flow: http.HTTPFlow, diagnosis: Diagnosis, action: str, lang: str = "en") -> None:
        if self.writer is not None:
            self.writer.write(record_of(flow, diagnosis, action, lang))

    def done(self) -> None:
        # The report stays open: mitmproxy may still finish flows (and call `response`) after
        # `done` on SIGTERM, and every record is one os.write, so nothing can be torn.
        if self.writer is not None:
            atexit.register(self.writer.close)
