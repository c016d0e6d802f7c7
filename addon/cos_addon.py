"""COS POST doctor: a mitmproxy addon that explains failing Tencent Cloud COS POST Object uploads.

    mitmdump -s addon/cos_addon.py [--set cos_validate=warn|block] [--set cos_report=cos.jsonl]

This file is wiring only: options, hooks and annotations. The checks live in `cosdoctor/`, which
never imports mitmproxy. Every hook is fail-open: an exception is logged once and the flow goes on.
"""
from __future__ import annotations

import atexit
import functools
import logging
import os
import sys
import time
from collections.abc import Sequence
from typing import Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for cosdoctor, however we are loaded

import mitmproxy.types  # noqa: E402
from mitmproxy import command, ctx, exceptions, flow, hooks, http  # noqa: E402
from mitmproxy.log import ALERT  # noqa: E402

import cos_contentview  # noqa: E402
from cosdoctor.findings import catalogue  # noqa: E402
from cosdoctor.cos.credentials import CredentialsError, CredentialStore, load_credentials  # noqa: E402
from cosdoctor.findings.diagnose import (Diagnosis, PlainResponse, block_answer, diagnose,  # noqa: E402
                                         diagnose_exchange, request_for)
from cosdoctor.cos.hosts import HostGlobs, custom_endpoint, is_probably_cos_host, parse_cos_host  # noqa: E402
from cosdoctor.cos.times import format_iso8601  # noqa: E402
from cosdoctor.findings.policy_origin import PolicyOrigins  # noqa: E402
from cosdoctor.findings.request_checks import Analysis, UploadRequest, analyse_request  # noqa: E402
from cosdoctor.cos.secrets import scrub  # noqa: E402
from cosdoctor.render.jsonl import ReportWriter, record  # noqa: E402
from cosdoctor.render.text import diagnosis_headers, diagnosis_log_line, flow_comment, metadata  # noqa: E402
from cosdoctor.wire.stream import StreamTee  # noqa: E402

logger = logging.getLogger("cosdoctor")

VALIDATE_MODES = ("off", "warn", "block")
FAIL_ON = ("off", "error", "warning")
CHOICES = {"cos_validate": ("validate", VALIDATE_MODES), "cos_lang": ("lang", catalogue.LANGS),
           "cos_fail_on": ("fail_on", FAIL_ON)}   # option -> (attribute, allowed values)
COS_FIELD_MARKERS = (b'name="q-signature"', b'name="Signature"', b'name="signature"', b'name="Q-Signature"')
SNIFF_BYTES = 64 * 1024
ORIGIN_MAX_BYTES = 16 * 1024     # a signing endpoint's answer is a few hundred bytes of JSON
ORIGIN_MARKERS = (b"olicy", b"ignature")
META_KEY = "cos"
LOCAL_KEY = "cos_local"          # set on flows that block mode answered itself
ERROR_MARK = ":x:"


ERROR_LOG_INTERVAL = 60.0       # seconds between two log lines about the same failing hook


def fail_open(hook):
    """Never let a bug here break a user's flow: catch, count, log (rate-limited), carry on."""
    @functools.wraps(hook)
    def wrapper(self, flow=None, *args):
        try:
            return hook(self, flow, *args) if flow is not None else hook(self)
        except Exception as exc:  # noqa: BLE001 - this is the fail-open boundary
            self.internal_error(hook.__name__, getattr(flow, "id", "-"), exc)
            return None
    return wrapper


class CosDoctor:
    name = "cosdoctor"

    def __init__(self) -> None:
        self.validate = "off"
        self.annotate = True
        self.lang = "en"
        self.hosts = HostGlobs([])
        self.credentials = CredentialStore({}, ())
        self.report: ReportWriter | None = None
        self.internal_errors = 0
        self._error_log: dict[str, tuple[float, int]] = {}   # hook -> (last logged, suppressed)
        self._analyses: dict[str, Analysis] = {}     # preflight results waiting for the answer
        self._blocked: set[str] = set()
        self._tees: dict[str, StreamTee] = {}        # streamed uploads: the body's first bytes
        self.flows_diagnosed = 0
        self.fail_on = "off"
        self.severity_counts = {"error": 0, "warning": 0, "info": 0}
        self.origins = PolicyOrigins()
        self._configured_once = False
        self._view = None

    def internal_error(self, hook: str, flow_id: str, exc: Exception) -> None:
        """One line per hook and minute, with the flow's id and no secret in it."""
        self.internal_errors += 1
        now = time.monotonic()
        last, suppressed = self._error_log.get(hook, (None, 0))
        if last is not None and now - last < ERROR_LOG_INTERVAL:
            self._error_log[hook] = (last, suppressed + 1)
            return
        self._error_log[hook] = (now, 0)
        more = f" ({suppressed} more since the last report)" if suppressed else ""
        message = scrub(f"{type(exc).__name__}: {exc}", self.credentials.secrets())
        logger.error(f"cosdoctor: internal error in {hook} (flow {flow_id}): {message}; "
                     f"the flow continues undiagnosed{more}")

    # --- options ------------------------------------------------------------------------

    def load(self, loader) -> None:
        loader.add_option("cos_validate", str, "off",
                          "Pre-flight check of COS POST uploads: off, warn (annotate and forward) or "
                          "block (answer a request COS would certainly reject locally, as COS would).")
        loader.add_option("cos_credentials", str, "",
                          "File of 'SecretId SecretKey [Token]' lines used only to verify signatures. "
                          "COS_SECRET_ID/COS_SECRET_KEY/COS_SECURITY_TOKEN are read too.")
        loader.add_option("cos_report", Optional[str], None,
                          "JSON Lines audit log: one record per COS flow, appended.")
        loader.add_option("cos_annotate", bool, True,
                          "Add X-COS-Diagnosis headers to failing COS responses.")
        loader.add_option("cos_hosts", Sequence[str], [],
                          "Extra host globs (custom or CDN domains) to treat as COS endpoints.")
        loader.add_option("cos_lang", str, "en", "Language of titles, causes and fixes: en, ko or zh.")
        loader.add_option("cos_fail_on", str, "off",
                          "Exit non-zero at shutdown when a COS flow had a finding of this severity or "
                          "worse: off, error or warning (for offline audits in CI: mitmdump -nr ...).")
        self._view = cos_contentview.register(credentials=lambda: self.credentials, lang=lambda: self.lang)

    def configure(self, updated: set[str]) -> None:
        """Validate and cache options. A bad value at start-up is one error line (mitmdump then
        exits 1); later, from the console or mitmweb, it is an OptionsError that rolls back."""
        try:
            self._configure(updated)
        except exceptions.OptionsError as exc:
            if self._configured_once:
                raise
            # mitmproxy logs exceptions raised while a script loads with a traceback: say it plainly.
            logger.error(f"cosdoctor: {exc}")
        finally:
            self._configured_once = True

    def _configure(self, updated: set[str]) -> None:
        for option, (name, choices) in CHOICES.items():
            if option in updated:
                value = getattr(ctx.options, option)
                if value not in choices:   # mitmproxy does not enforce choices for --set
                    raise exceptions.OptionsError(
                        f"{option} must be one of {', '.join(choices)}, not {value!r}")
                setattr(self, name, value)
        if "cos_validate" in updated:
            self._switch_hook("request", self.validate != "off")
        if "stream_large_bodies" in updated:
            self._switch_hook("requestheaders", bool(getattr(ctx.options, "stream_large_bodies", None)))
        if "cos_hosts" in updated:
            try:
                self.hosts = HostGlobs(ctx.options.cos_hosts)
            except ValueError as exc:
                raise exceptions.OptionsError(f"cos_hosts: {exc}") from None
        if "cos_annotate" in updated:
            self.annotate = bool(ctx.options.cos_annotate)
        if "cos_credentials" in updated:
            try:
                store = load_credentials(ctx.options.cos_credentials or None, os.environ)
            except CredentialsError as exc:
                raise exceptions.OptionsError(str(exc)) from None
            for warning in store.warnings:
                logger.warning(f"cosdoctor: {warning}")
            self.credentials = store
        if "cos_report" in updated:
            self._open_report(ctx.options.cos_report)

    def _switch_hook(self, name: str, on: bool) -> None:
        """A hook with nothing to do is switched off (mitmproxy skips a hook attribute set to None),
        so non-COS traffic does not pay even for a call that returns at once."""
        if on:
            self.__dict__.pop(name, None)
        else:
            setattr(self, name, None)

    def _open_report(self, path: str | None) -> None:
        old, self.report = self.report, None
        if old is not None:
            old.close()
        if path:
            try:
                self.report = ReportWriter(os.path.expanduser(path))
            except OSError as exc:
                raise exceptions.OptionsError(
                    f"cos_report: cannot write {path!r}: {exc.strerror or exc}") from None

    def running(self) -> None:
        logger.info(f"cosdoctor: validate={self.validate} lang={self.lang} "
                    f"report={self.report.path if self.report else 'off'} "
                    f"credentials={len(self.credentials.by_id)} key(s) hosts={len(self.hosts.patterns)} glob(s)")

    def done(self) -> None:
        if self._view is not None:
            cos_contentview.unregister(self._view)
            self._view = None
        # The report stays open: mitmproxy may still finish flows (and call `response`) after
        # `done` on SIGTERM, and every record is one os.write, so nothing can be torn.
        if self.report is not None:
            atexit.register(self.report.close)
        logger.info(f"cosdoctor: {self.flows_diagnosed} COS flow(s): {self.severity_counts['error']} with "
                    f"errors, {self.severity_counts['warning']} with warnings; "
                    f"{self.internal_errors} internal error(s)")
        failing = {"error": self.severity_counts["error"],
                   "warning": self.severity_counts["error"] + self.severity_counts["warning"]}.get(self.fail_on, 0)
        if failing:
            logger.warning(f"cosdoctor: cos_fail_on={self.fail_on}: {failing} flow(s) failed the audit")
            # mitmproxy returns 0 whatever an addon says; exit codes are set after every other
            # addon's `done` (so -w files are complete), when the interpreter exits.
            atexit.register(_exit_with_status, 1)

    # --- recognising COS flows -----------------------------------------------------------

    def endpoint_of(self, flow: http.HTTPFlow):
        """The COS endpoint a flow addresses, or None. Cheap string tests before any parsing."""
        request = flow.request
        host = _host_header(request) or ""
        if is_probably_cos_host(host):
            endpoint = parse_cos_host(host, request.path)
            if endpoint is not None:
                return endpoint
        if self.hosts.patterns and self.hosts.matches(host):
            return custom_endpoint(host)
        return None

    def looks_like_cos_post(self, flow: http.HTTPFlow) -> bool:
        """A POST Object upload on any host: multipart with q-signature or Signature fields.

        COS wants the signature fields before `file`, so only the bytes before the first
        `filename=` are searched, in place (no copy of the body)."""
        request = flow.request
        if request.method != "POST":
            return False
        if "multipart/form-data" not in (_header(request.headers, b"content-type") or "").lower():
            return False
        body = request.raw_content
        if body is None and flow.id in self._tees:
            body = self._tees[flow.id].body()
        if not body:
            return False
        end = body.find(b"filename=", 0, SNIFF_BYTES)
        end = end if end >= 0 else min(len(body), SNIFF_BYTES)
        return any(body.find(marker, 0, end) >= 0 for marker in COS_FIELD_MARKERS)

    def classify(self, flow: http.HTTPFlow):
        """The COS endpoint of a COS flow (custom for a COS upload on any host), else None."""
        endpoint = self.endpoint_of(flow)
        if endpoint is None and self.looks_like_cos_post(flow):
            endpoint = custom_endpoint(flow.request.host_header or flow.request.host)
        return endpoint

    # --- analysis ------------------------------------------------------------------------

    def plain_request(self, flow: http.HTTPFlow, endpoint, accepted: bool = False) -> UploadRequest:
        """The flow's request as plain values. `accepted`: COS already took the upload, so the
        file part is not scanned again (it runs to the closing delimiter; fields after it go unseen)."""
        request = flow.request
        body = request.raw_content if request.method == "POST" else b""
        body_complete, body_size = True, None
        tee = self._tees.get(flow.id)
        if body is None and tee is not None:
            body, body_complete = tee.body(), False
            body_size = _int(request.headers.get("content-length")) or tee.size
        elif not body and not flow.live and request.method == "POST":
            body = None          # saved traffic without its body (a HAR export often drops it)
        return request_for(request.method, endpoint.host if endpoint else request.host_header, request.path,
                           _header_dict(request.headers), body, endpoint, body_complete=body_complete,
                           body_size=body_size, http_version=request.http_version, trust_tail=accepted)

    def analyse(self, flow: http.HTTPFlow, endpoint) -> Analysis:
        """The request's pre-flight analysis (a POST: the form, policy and signature checked)."""
        now = int(flow.request.timestamp_start or time.time())
        return analyse_request(self.plain_request(flow, endpoint), self.credentials, now)

    def diagnose_flow(self, flow: http.HTTPFlow, endpoint, analysis: Analysis | None = None) -> Diagnosis:
        """The diagnosis of a finished flow: COS's answer explained, or our own block answer."""
        response = flow.response
        accepted = response is not None and (200 <= response.status_code < 300 or response.status_code == 303)
        plain_response = None
        if response is not None:
            plain_response = PlainResponse(response.status_code, _folded_header_dict(response.headers),
                                           response.raw_content, int(response.timestamp_start or time.time()))
        request = analysis.request if analysis is not None else self.plain_request(flow, endpoint, accepted)
        return diagnose_exchange(request, plain_response, now=int(flow.request.timestamp_start or time.time()),
                                 credentials=self.credentials, analysis=analysis,
                                 answered_locally=flow.id in self._blocked or bool(flow.metadata.get(LOCAL_KEY)),
                                 origins=self.origins, flow_id=flow.id)

    def action_of(self, flow: http.HTTPFlow) -> str:
        if flow.id in self._blocked or (flow.metadata.get(LOCAL_KEY) and flow.live):
            return "blocked"
        return "forwarded" if flow.live else "replayed"

    # --- hooks ---------------------------------------------------------------------------

    @fail_open
    def requestheaders(self, flow: http.HTTPFlow) -> None:
        """Streamed uploads: keep the first 64 KiB so the fields before `file` can be checked."""
        request = flow.request
        if not request.stream or request.method != "POST":
            return
        if "multipart/form-data" not in request.headers.get("content-type", "").lower():
            return
        inner = request.stream if callable(request.stream) else None
        tee = StreamTee(inner=inner)
        self._tees[flow.id] = tee
        request.stream = tee

    @fail_open
    def request(self, flow: http.HTTPFlow) -> None:
        if self.validate == "off" or flow.response or flow.error:
            return
        if flow.request.method != "POST":
            return
        endpoint = self.classify(flow)
        if endpoint is None:
            return
        analysis = self.analyse(flow, endpoint)
        if not flow.request.stream:          # a streamed body is re-read from the tee at the end
            self._analyses[flow.id] = analysis
        self.annotate_flow(flow, diagnose(analysis, None, analysis.now, self.credentials))
        if self.validate != "block" or not flow.live or flow.request.stream:
            return
        resource = f"{flow.request.host_header or ''}/{analysis.key or ''}"
        local = block_answer(analysis, f"cosdoctor-{flow.id}", resource)
        if local is None:
            return
        self._blocked.add(flow.id)
        flow.metadata[LOCAL_KEY] = True
        flow.response = http.Response.make(local.status, local.body, local.headers)

    @fail_open
    def response(self, flow: http.HTTPFlow) -> None:
        try:
            endpoint = self.classify(flow)
            if endpoint is None:
                self.remember_origin(flow)
                return
            diagnosis = self.diagnose_flow(flow, endpoint, self._analyses.get(flow.id))
            self.annotate_flow(flow, diagnosis)
            self.annotate_response(flow, diagnosis)
            self.finish(flow, diagnosis, self.action_of(flow))
        finally:
            self._forget(flow.id)

    @fail_open
    def error(self, flow: http.HTTPFlow) -> None:
        try:
            endpoint = self.classify(flow)
            if endpoint is None:
                return
            diagnosis = self.diagnose_flow(flow, endpoint, self._analyses.get(flow.id))
            self.annotate_flow(flow, diagnosis)
            self.finish(flow, diagnosis, self.action_of(flow))
        finally:
            self._forget(flow.id)

    def _forget(self, flow_id: str) -> None:
        """Per-flow state ends with the flow, whatever happened (non-COS flows included)."""
        if self._analyses or self._tees or self._blocked:
            self._analyses.pop(flow_id, None)
            self._tees.pop(flow_id, None)
            self._blocked.discard(flow_id)

    def remember_origin(self, flow: http.HTTPFlow) -> None:
        """A non-COS response that hands out a policy (the app's signing endpoint): keep a note.

        Runs on every response, so the cheap tests come first: signing endpoints answer small JSON."""
        response = flow.response
        raw = response.raw_content if response is not None else None
        if not raw or len(raw) > ORIGIN_MAX_BYTES:
            return
        if "json" not in (_header(response.headers, b"content-type") or "").lower():
            return
        if _header(response.headers, b"content-encoding") is None and not any(m in raw for m in ORIGIN_MARKERS):
            return
        self.origins.observe(flow_id=flow.id, method=flow.request.method, url=flow.request.pretty_url,
                             time=format_iso8601(int(flow.request.timestamp_start or time.time())),
                             content_type=response.headers.get("content-type"),
                             body=response.get_content(strict=False))

    # --- commands --------------------------------------------------------------------------

    def _diagnosed(self, flows: Sequence[flow.Flow]):
        """(flow, fresh diagnosis) for the COS flows among `flows`."""
        for f in flows:
            if isinstance(f, http.HTTPFlow):
                endpoint = self.classify(f)
                if endpoint is not None:
                    yield f, self.diagnose_flow(f, endpoint)

    @command.command("cos.diagnose")
    def diagnose_command(self, flows: Sequence[flow.Flow]) -> None:
        """Diagnose these flows again (e.g. after adding credentials) and update their annotations."""
        done = []
        for f, diagnosis in self._diagnosed(flows):
            self.annotate_flow(f, diagnosis)
            self.annotate_response(f, diagnosis)
            done.append(f)
        ctx.master.addons.trigger(hooks.UpdateHook(done))
        logging.log(ALERT, f"cos.diagnose: {len(done)} COS flow(s) diagnosed")

    @command.command("cos.report")
    def report_command(self, flows: Sequence[flow.Flow], path: mitmproxy.types.Path) -> None:
        """Write a report of these flows: JSON Lines (.jsonl) or a self-contained HTML page (.html)."""
        records = [self.record_of(f, diagnosis, self.action_of(f)) for f, diagnosis in self._diagnosed(flows)]
        target = os.path.expanduser(str(path))
        try:
            if target.lower().endswith((".html", ".htm")):
                from cosdoctor.render.html import render_html
                with open(target, "w", encoding="utf-8") as handle:
                    handle.write(render_html(records, lang=self.lang))
            else:
                writer = ReportWriter(target)
                try:
                    for item in records:
                        writer.write(item)
                finally:
                    writer.close()
        except OSError as exc:
            raise exceptions.CommandError(f"cos.report: cannot write {target}: {exc.strerror or exc}") from None
        logging.log(ALERT, f"cos.report: {len(records)} COS flow(s) written to {target}")

    # --- annotations and report ------------------------------------------------------------

    def annotate_flow(self, flow: http.HTTPFlow, diagnosis: Diagnosis) -> None:
        """Idempotent: a flow read back with -nr is overwritten, never appended to."""
        flow.metadata[META_KEY] = metadata(diagnosis, self.lang)
        flow.comment = flow_comment(diagnosis, self.lang)
        if diagnosis.failing:
            flow.marked = ERROR_MARK
        elif flow.marked == ERROR_MARK:
            flow.marked = ""

    def annotate_response(self, flow: http.HTTPFlow, diagnosis: Diagnosis) -> None:
        response = flow.response
        if response is None or not self.annotate or not diagnosis.findings:
            return
        if diagnosis.failing or response.status_code >= 400:
            for name, value in diagnosis_headers(diagnosis).items():
                response.headers[name] = value
            if "access-control-allow-origin" in response.headers:
                # Let the page's script read the diagnosis (COS itself does not expose these).
                exposed = response.headers.get("access-control-expose-headers", "")
                if "x-cos-diagnosis" not in exposed.lower():
                    response.headers["Access-Control-Expose-Headers"] = ", ".join(
                        filter(None, [exposed, "X-COS-Diagnosis, X-COS-Diagnosis-Detail"]))

    def record_of(self, flow: http.HTTPFlow, diagnosis: Diagnosis, action: str) -> dict:
        request = flow.request
        meta = metadata(diagnosis, self.lang)
        client = flow.client_conn.peername[0] if flow.client_conn and flow.client_conn.peername else None
        host = request.host_header
        return record(time=format_iso8601(int(request.timestamp_start or time.time())), flow_id=flow.id,
                      client=client, method=request.method, url=_url(request, host), host=host,
                      bucket=meta["bucket"], region=meta["region"], key=meta["key"], status=diagnosis.status,
                      error=diagnosis.error, findings=meta["findings"], action=action)

    def finish(self, flow: http.HTTPFlow, diagnosis: Diagnosis, action: str) -> None:
        self.flows_diagnosed += 1
        severities = {f["severity"] for f in diagnosis.findings}
        for severity in catalogue.SEVERITIES:
            if severity in severities:
                self.severity_counts[severity] += 1
                break
        request = flow.request
        if diagnosis.findings and (diagnosis.failing or (diagnosis.status or 0) >= 400):
            logger.warning(diagnosis_log_line(diagnosis, request.method, _url(request, request.host_header), self.lang))
        if self.report is not None:
            self.report.write(self.record_of(flow, diagnosis, action))


def _url(request: http.Request, host: str | None) -> str:
    """The URL as the client addressed it (the Host header, not a reverse-proxy target); the same
    as request.pretty_url for our purposes, at a fraction of its cost."""
    return f"{request.scheme}://{host or request.host}{request.path}"


def _header(headers: http.Headers, name: bytes) -> str | None:
    """headers.get(name) for a lower-case name (repeated fields folded with ", ", as mitmproxy
    does), straight from the raw fields: every flow the proxy sees pays for this test, and
    Headers.get costs five times more."""
    found = None
    for key, value in headers.fields:
        if key.lower() == name:
            text = value.decode("utf-8", "surrogateescape")
            found = text if found is None else f"{found}, {text}"
    return found


def _host_header(request: http.Request) -> str | None:
    """request.host_header, read from the raw fields for HTTP/1 (HTTP/2 and 3 may use :authority)."""
    if request.data.http_version.startswith(b"HTTP/1"):
        return _header(request.data.headers, b"host")
    return request.host_header


def _header_dict(headers: http.Headers) -> dict[str, str]:
    """Lower-cased name -> first value, straight from the raw fields (dict(headers) costs 10x)."""
    result: dict[str, str] = {}
    for name, value in headers.fields:
        result.setdefault(name.decode("latin-1").lower(), value.decode("utf-8", "surrogateescape"))
    return result


def _folded_header_dict(headers: http.Headers) -> dict[str, str]:
    """Lower-cased name -> value, repeated fields folded with ", " (as Headers.get does)."""
    result: dict[str, str] = {}
    for name, value in headers.fields:
        key, text = name.decode("latin-1").lower(), value.decode("utf-8", "surrogateescape")
        result[key] = f"{result[key]}, {text}" if key in result else text
    return result


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        return None


def _exit_with_status(status: int) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


addons = [CosDoctor()]
