"""Diagnose and annotate: the addon that recognises COS flows and drives every other feature.

It is the only addon of the COS doctor with flow hooks, so mitmproxy calls one hook per event
whatever the number of features; a hook with nothing to do is switched off (None), so non-COS
traffic pays almost nothing. A flow passes through it like this:

    requestheaders  streamed multipart POST only (stream_large_bodies): keep its first bytes
    request         cos_validate warn/block only: recognise, check before upstream (any method), annotate;
                    block mode (CosBlock) may answer it locally
    response/error  recognise (once: the request's decision is reused), diagnose with COS's
                    answer, annotate (metadata, comment, mark, X-COS-Diagnosis headers), then
                    CosBlock learns COS's CORS headers, CosAudit counts, CosReport writes; the
                    analysis is kept for the content view. Non-COS responses only feed the
                    policy-origin memory (an app's signing endpoint).

Its own options: cos_hosts, cos_credentials, cos_lang, cos_annotate. The features are its
sub-addons (`addons`), each with its own options, so `CosDoctor()` alone is the whole COS doctor.
"""
from __future__ import annotations

import logging
import os
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from mitmproxy import ctx, exceptions, http

from cosaddons.adapter import header, host_of, plain_request, plain_response, signed_for_cos, time_of, url_of
from cosaddons.audit import CosAudit
from cosaddons.block import LOCAL_KEY, CosBlock
from cosaddons.commands import CosCommands
from cosaddons.contentview import CosContentView
from cosaddons.failopen import ErrorLog, fail_open
from cosaddons.kept import KeptAnalyses
from cosaddons.options import Option, check_choice, declare, startup_errors
from cosaddons.report import CosReport
from cosdoctor.cos.credentials import CredentialsError, CredentialStore, load_credentials
from cosdoctor.cos.hosts import CosEndpoint, HostGlobs, custom_endpoint, is_probably_cos_host, parse_cos_host
from cosdoctor.cos.sniff import is_multipart_form, looks_like_cos_form
from cosdoctor.cos.times import format_iso8601
from cosdoctor.findings import catalogue
from cosdoctor.findings.credential_origin import MARKERS as CREDENTIAL_MARKERS
from cosdoctor.findings.credential_origin import CredentialOrigins
from cosdoctor.findings.diagnose import Diagnosis, check_session, diagnose, diagnose_exchange
from cosdoctor.findings.policy_origin import MARKERS as ORIGIN_MARKERS
from cosdoctor.findings.policy_origin import PolicyOrigins
from cosdoctor.findings.request_checks import Analysis, analyse_request
from cosdoctor.findings.sessions import UploadSessions
from cosdoctor.render.text import diagnosis_headers, diagnosis_log_line, flow_comment, metadata
from cosdoctor.wire.stream import StreamTee

logger = logging.getLogger("cosdoctor")

META_KEY = "cos"
ERROR_MARK = ":x:"
ORIGIN_MAX_BYTES = 16 * 1024     # a signing endpoint's answer is a few hundred bytes of JSON
MAX_OPEN_FLOWS = 10_000          # per-flow state of unfinished flows; the oldest is dropped
OPTIONS = (
    Option("cos_credentials", str, "",
           "File of 'SecretId SecretKey [Token]' lines used only to verify signatures. "
           "COS_SECRET_ID/COS_SECRET_KEY/COS_SECURITY_TOKEN are read too."),
    Option("cos_annotate", bool, True, "Add X-COS-Diagnosis headers to failing COS responses."),
    Option("cos_hosts", Sequence[str], [],
           "Extra host globs (custom or CDN domains) to treat as COS endpoints."),
    Option("cos_lang", str, "en", "Language of titles, causes and fixes: en, ko or zh.", catalogue.LANGS),
)


@dataclass(slots=True)
class FlowState:
    """What the doctor knows of an unfinished COS flow (or a streamed upload); dropped when it ends."""

    endpoint: CosEndpoint | None = None
    analysis: Analysis | None = None       # the request's pre-flight analysis, when complete
    tee: StreamTee | None = None           # a streamed upload's first bytes
    blocked: bool = False                  # block mode answered it


class CosDoctor:
    name = "cosdoctor"

    def __init__(self) -> None:
        self.annotate = True
        self.lang = "en"
        self.hosts = HostGlobs([])
        self.credentials = CredentialStore({}, ())
        self.errors = ErrorLog(lambda: self.credentials.secrets())
        self.origins = PolicyOrigins()
        self.credential_origins = CredentialOrigins()    # temporary keys the app's STS endpoint handed out
        self.sessions = UploadSessions()                 # multipart uploads, by upload id (bounded)
        self.kept = KeptAnalyses()
        self._flows: OrderedDict[str, FlowState] = OrderedDict()
        self.block = CosBlock(on_mode=self._on_validate)
        self.report = CosReport()
        self.audit = CosAudit()
        self.addons = [self.block, self.report, self.audit, CosCommands(self), CosContentView(self)]
        self._switch_hook("request", False)           # until cos_validate asks for pre-flight checks
        self._switch_hook("requestheaders", False)    # until stream_large_bodies is set

    # --- options ----------------------------------------------------------------------------

    def load(self, loader) -> None:
        declare(loader, OPTIONS)

    @startup_errors
    def configure(self, updated: set[str]) -> None:
        if "cos_lang" in updated:
            self.lang = check_choice("cos_lang", catalogue.LANGS)
        if "stream_large_bodies" in updated:
            self._switch_hook("requestheaders", bool(getattr(ctx.options, "stream_large_bodies", None)))
        if "cos_hosts" in updated:
            try:
                self.hosts = HostGlobs(ctx.options.cos_hosts)
            except ValueError as exc:         # its message names the option
                raise exceptions.OptionsError(str(exc)) from None
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

    def _on_validate(self, mode: str) -> None:
        self._switch_hook("request", mode != "off")

    def _switch_hook(self, name: str, on: bool) -> None:
        """A hook with nothing to do is switched off (mitmproxy skips a hook attribute set to None),
        so non-COS traffic does not pay even for a call that returns at once."""
        if on:
            self.__dict__.pop(name, None)
        else:
            setattr(self, name, None)

    def running(self) -> None:
        report = self.report.writer.path if self.report.writer else "off"
        logger.info(f"cosdoctor: validate={self.block.mode} lang={self.lang} report={report} "
                    f"credentials={len(self.credentials.by_id)} key(s) hosts={len(self.hosts.patterns)} glob(s)")

    def done(self) -> None:
        counts = self.audit.counts
        logger.info(f"cosdoctor: {self.audit.flows} COS flow(s): {counts['error']} with errors, "
                    f"{counts['warning']} with warnings; {self.errors.count} internal error(s)")

    # --- recognising COS flows ----------------------------------------------------------------

    def classify(self, flow: http.HTTPFlow, tee: StreamTee | None = None) -> CosEndpoint | None:
        """The COS endpoint a flow addresses (custom for a COS upload on any host), else None.
        Cheap string tests first: every flow the proxy sees goes through here."""
        request = flow.request
        host = host_of(request) or ""
        if is_probably_cos_host(host):
            endpoint = parse_cos_host(host, request.path)
            if endpoint is not None:
                return endpoint
        if self.hosts.patterns and self.hosts.matches(host):
            return custom_endpoint(host)
        if signed_for_cos(request):
            return custom_endpoint(host or request.host)
        if request.method == "POST" and is_multipart_form(header(request, b"content-type")):
            body = request.raw_content
            if body is None and tee is not None:
                body = tee.body()
            if looks_like_cos_form(body):
                return custom_endpoint(host or request.host)
        return None

    # --- hooks --------------------------------------------------------------------------------

    @fail_open
    def requestheaders(self, flow: http.HTTPFlow) -> None:
        """Streamed uploads: keep the first 64 KiB so the fields before `file` can be checked."""
        request = flow.request
        if not request.stream or request.method != "POST":
            return
        if not is_multipart_form(header(request, b"content-type")):
            return
        inner = request.stream if callable(request.stream) else None
        tee = StreamTee(inner=inner)
        self._state(flow).tee = tee
        request.stream = tee

    @fail_open
    def request(self, flow: http.HTTPFlow) -> None:
        """Pre-flight (cos_validate warn or block): check the request before it goes upstream (a POST
        Object form, a header-signed PUT, a presigned URL, a multipart call: every COS request)."""
        if flow.response or flow.error:
            return
        state = self._flows.get(flow.id)
        endpoint = self.classify(flow, state.tee if state else None)
        if endpoint is None:
            return
        state = state or self._state(flow)
        state.endpoint = endpoint
        analysis = check_session(self.analyse(flow, endpoint, state.tee), self.sessions, flow.id)
        if not flow.request.stream:          # a streamed body is re-read from the tee at the end
            state.analysis = analysis
        self.annotate_flow(flow, diagnose(analysis, None, analysis.now, self.credentials))
        if self.block.blocking and self.errors.guard("block", flow, self.block.answer, flow, analysis):
            state.blocked = True

    @fail_open
    def response(self, flow: http.HTTPFlow) -> None:
        state, endpoint = self._ending(flow)
        if endpoint is None:
            self.remember_origin(flow)
            return
        self.conclude(flow, endpoint, state)

    @fail_open
    def error(self, flow: http.HTTPFlow) -> None:
        state, endpoint = self._ending(flow)
        if endpoint is not None:
            self.conclude(flow, endpoint, state)

    def _ending(self, flow: http.HTTPFlow) -> tuple[FlowState | None, CosEndpoint | None]:
        """A flow ends: its state is dropped, and the request hook's decision reused (or made now)."""
        state = self._flows.pop(flow.id, None) if self._flows else None
        if state is not None and state.endpoint is not None:
            return state, state.endpoint
        return state, self.classify(flow, state.tee if state is not None else None)

    @property
    def open_flows(self) -> int:
        """COS flows (and streamed uploads) begun and not yet finished."""
        return len(self._flows)

    def _state(self, flow: http.HTTPFlow) -> FlowState:
        state = self._flows.get(flow.id)
        if state is None:
            state = self._flows[flow.id] = FlowState()
            while len(self._flows) > MAX_OPEN_FLOWS:
                self._flows.popitem(last=False)
        return state

    # --- diagnosing ---------------------------------------------------------------------------

    def analyse(self, flow: http.HTTPFlow, endpoint: CosEndpoint, tee: StreamTee | None = None) -> Analysis:
        """The request's pre-flight analysis (a POST: the form, policy and signature checked)."""
        request = plain_request(flow.request, endpoint, tee=tee, live=flow.live)
        return analyse_request(request, self.credentials, time_of(flow.request))

    def diagnose_flow(self, flow: http.HTTPFlow, endpoint: CosEndpoint, state: FlowState | None = None) -> Diagnosis:
        """The diagnosis of a finished flow: COS's answer explained, or our own block answer."""
        response = plain_response(flow.response) if flow.response is not None else None
        analysis = state.analysis if state is not None else None
        if analysis is not None:
            request = analysis.request
        else:
            accepted = response is not None and (200 <= response.status < 300 or response.status == 303)
            request = plain_request(flow.request, endpoint, tee=state.tee if state else None,
                                    live=flow.live, accepted=accepted)
        return diagnose_exchange(request, response, now=time_of(flow.request), credentials=self.credentials,
                                 analysis=analysis, answered_locally=self.answered_locally(flow, state),
                                 origins=self.origins, flow_id=flow.id, sessions=self.sessions,
                                 credential_origins=self.credential_origins)

    def rediagnose(self, flow: http.HTTPFlow) -> Diagnosis | None:
        """A fresh diagnosis of a COS flow (the commands), None for another flow. The upload
        sessions are not fed again: a flow diagnosed twice must not count as two parts."""
        endpoint = self.classify(flow)
        if endpoint is None:
            return None
        sessions, self.sessions = self.sessions, None
        try:
            return self.diagnose_flow(flow, endpoint)
        finally:
            self.sessions = sessions

    def conclude(self, flow: http.HTTPFlow, endpoint: CosEndpoint, state: FlowState | None) -> None:
        """A finished COS flow: diagnosed, annotated, and handed to every feature."""
        diagnosis = self.diagnose_flow(flow, endpoint, state)
        analysis = diagnosis.analysis
        if flow.response is not None and analysis is not None and not self.answered_locally(flow, state):
            self.errors.guard("block", flow, self.block.learn, analysis.request, flow.response)
        self.annotate_flow(flow, diagnosis)
        self.annotate_response(flow, diagnosis)
        if analysis is not None and analysis.form is not None and analysis.request.body_complete:
            self.kept.put(flow, analysis)
        self.errors.guard("audit", flow, self.audit.count, diagnosis)
        request = flow.request
        if diagnosis.findings and (diagnosis.failing or (diagnosis.status or 0) >= 400):
            logger.warning(diagnosis_log_line(diagnosis, request.method, url_of(request), self.lang))
        if self.report.writer is not None:
            self.errors.guard("report", flow, self.report.write, flow, diagnosis, self.action_of(flow, state),
                              self.lang)

    @staticmethod
    def answered_locally(flow: http.HTTPFlow, state: FlowState | None = None) -> bool:
        return (state is not None and state.blocked) or bool(flow.metadata.get(LOCAL_KEY))

    def action_of(self, flow: http.HTTPFlow, state: FlowState | None = None) -> str:
        if (state is not None and state.blocked) or (flow.metadata.get(LOCAL_KEY) and flow.live):
            return "blocked"
        return "forwarded" if flow.live else "replayed"

    def remember_origin(self, flow: http.HTTPFlow) -> None:
        """A non-COS response that hands out a policy (the app's signing endpoint): keep a note.

        Runs on every response, so the cheap tests come first: signing endpoints answer small JSON."""
        response = flow.response
        raw = response.raw_content if response is not None else None
        if not raw or len(raw) > ORIGIN_MAX_BYTES:
            return
        if "json" not in (header(response, b"content-type") or "").lower():
            return
        if header(response, b"content-encoding") is None and not any(m in raw for m in ORIGIN_MARKERS) \
                and not any(m in raw for m in CREDENTIAL_MARKERS):
            return
        body = response.get_content(strict=False)
        self.credential_origins.observe(flow_id=flow.id, method=flow.request.method, url=flow.request.pretty_url,
                                        time=format_iso8601(time_of(flow.request)), time_unix=time_of(flow.request),
                                        body=body)
        self.origins.observe(flow_id=flow.id, method=flow.request.method, url=flow.request.pretty_url,
                             time=format_iso8601(time_of(flow.request)),
                             content_type=header(response, b"content-type"),
                             body=body)

    # --- annotations --------------------------------------------------------------------------

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
