"""One COS flow, diagnosed: the glue between request analysis, COS's answer and the annotations.

The addon converts a mitmproxy flow into plain values, calls `diagnose`, and applies the result;
offline tools and tests call the same function, so every surface shows the same diagnosis.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cosdoctor.findings import catalogue
from cosdoctor.cos.credentials import CredentialStore
from cosdoctor.wire.errorxml import render_error_xml
from cosdoctor.findings.answer import CosAnswer, explain, read_answer, sort_findings
from cosdoctor.findings.access import explain_access_denied
from cosdoctor.findings.cors import check_actual_response, check_preflight, with_cors_finding
from cosdoctor.findings.credential_origin import CredentialOrigins
from cosdoctor.findings.sessions import MULTIPART_IDS, UploadSessions
from cosdoctor.findings.policy_origin import PolicyOrigins, attribute
from cosdoctor.cos.hosts import CosEndpoint
from cosdoctor.findings.request_checks import Analysis, UploadRequest, analyse_request, is_certain, verdict
from cosdoctor.cos.secrets import sent_secrets, shorten_sent


@dataclass
class Diagnosis:
    """A flow's findings (plain: id, severity, phase, evidence; most important first), COS's error
    record and status. The render stage turns it into words, in whatever language is asked."""

    analysis: Analysis | None
    findings: list[dict]
    error: dict | None = None          # COS's <Error>, as the report shows it
    status: int | None = None
    secrets: tuple[str, ...] = field(default=(), repr=False)
    metadata_cache: dict = field(default_factory=dict, repr=False)   # render.text.metadata's, by language

    @property
    def failing(self) -> bool:
        return has_error(self.findings)


def has_error(findings: Iterable[Mapping]) -> bool:
    return any(f["severity"] == "error" for f in findings)


def diagnose(analysis: Analysis, answer: CosAnswer | None, local_now: int,
             credentials: CredentialStore | None = None) -> Diagnosis:
    """Findings for a flow that has COS's answer (or none: an error or a blocked request)."""
    if answer is None:
        findings = sort_findings(list(analysis.findings))
        status = None
        error = None
    else:
        findings = explain(analysis, answer, local_now, credentials)
        status = answer.status
        error = answer.error_record()
    secrets = credentials.secrets() if credentials else ()
    sent = _sent_secrets(analysis) if findings or error else []     # nothing quotes them otherwise
    return Diagnosis(analysis, _clean(findings, sent), _clean(error, sent), status, secrets)


def _sent_secrets(analysis: Analysis) -> list[str]:
    """Signatures and tokens this request carried: shortened wherever COS or we quote them."""
    form = analysis.form
    if form is not None:
        return sent_secrets((f.name, f.value) for f in form.fields)
    cos = analysis.cos_request
    headers = analysis.request.headers
    pairs = [(name, headers.get(name) or "") for name in ("authorization", "x-cos-security-token")
             if headers.get(name)]
    if cos is not None and cos.auth == "query" or (cos is not None and cos.token_in == "query"):
        pairs += [(p.name, p.value or "") for p in cos.query]
    return sent_secrets(pairs) if pairs else []


def _clean(value, secrets: list[str]):
    """`value` with every sent secret shortened, JSON-safe, copied (the policy is cos.secrets')."""
    return shorten_sent(value, secrets)


@dataclass(frozen=True, slots=True)
class LocalAnswer:
    """What block mode sends in COS's name: COS's status, Code and Message, a proxy RequestId."""

    status: int
    body: bytes
    headers: dict[str, str]
    finding: dict


def block_answer(analysis: Analysis, request_id: str, resource: str) -> LocalAnswer | None:
    """The answer COS would certainly give, or None when we cannot be sure (then never block)."""
    found = verdict(analysis)
    if found is None or not is_certain(analysis, found):
        return None
    entry = catalogue.entry(found["id"])
    message = catalogue.cos_message(found["id"], found["evidence"])
    if entry.status is None or entry.code is None or message is None:
        return None
    body = render_error_xml(entry.code, message, resource, request_id)
    headers = {"Content-Type": "application/xml", "Server": "tencent-cos",
               "x-cos-request-id": request_id}
    return LocalAnswer(entry.status, body, headers, found)




def request_for(method: str, host: str | None, path: str, headers: Mapping[str, str],
                body: bytes | None, endpoint: CosEndpoint | None, *, body_complete: bool = True,
                body_size: int | None = None, http_version: str = "HTTP/1.1",
                trust_tail: bool = False) -> UploadRequest:
    return UploadRequest(method=method, host=host, path=path,
                        headers={k.lower(): v for k, v in headers.items()}, body=body,
                        body_complete=body_complete, body_size=body_size, endpoint=endpoint,
                        http_version=http_version, trust_tail=trust_tail)


@dataclass(slots=True)
class PlainResponse:
    """What the pipeline needs of an HTTP answer; built by the addon's adapter, a tool or a test."""

    status: int                            # 0: a saved entry without an answer (HAR)
    headers: Mapping[str, str]             # lower-cased names, repeated fields folded with ", "
    body: bytes | None
    time: int                              # local time the answer arrived (unix seconds)


def check_session(analysis: Analysis, sessions: UploadSessions | None, flow_id: str | None) -> Analysis:
    """Add what the upload's earlier flows say of this request (once per analysis)."""
    if sessions is not None and not analysis.session_checked:
        analysis.session_checked = True
        analysis.findings.extend(sessions.check_request(analysis, flow_id))
    return analysis


def diagnose_exchange(request: UploadRequest, response: PlainResponse | None, *, now: int,
                      credentials: CredentialStore | None = None,
                      analysis: Analysis | None = None, answered_locally: bool = False,
                      origins: PolicyOrigins | None = None, flow_id: str | None = None,
                      sessions: UploadSessions | None = None,
                      credential_origins: CredentialOrigins | None = None) -> Diagnosis:
    """The one pipeline: a request and its answer (or none) in, the flow's diagnosis out.

    `analysis` is the request's pre-flight analysis when one was already made (the request hook);
    `answered_locally`: the answer is block mode's own, so there is no COS answer to explain;
    `origins`: policies seen handed out by the app's signing endpoint (`flow_id` is this flow's);
    `sessions`: the multipart uploads seen so far (this flow's answer is learnt from);
    `credential_origins`: temporary keys seen handed out by the app's STS endpoint."""
    if analysis is None:
        analysis = analyse_request(request, credentials, now)
    check_session(analysis, sessions, flow_id)
    if response is None or response.status == 0 or answered_locally:
        diagnosis = diagnose(analysis, None, analysis.now, credentials)
        if response is not None and response.status:
            diagnosis.status = response.status
            diagnosis.error = read_answer(response.status, response.headers, response.body).error_record()
    else:
        answer = read_answer(response.status, response.headers, response.body,
                             complete=analysis.operation == "CompleteMultipartUpload")
        diagnosis = diagnose(analysis, answer, response.time, credentials)
        _check_cors(request, response, diagnosis)
        if sessions is not None:
            _with_session(diagnosis, analysis, sessions)
            if answer.ok:
                diagnosis.findings += sessions.observe(analysis, response.headers, response.body, flow_id)
        diagnosis.findings = explain_access_denied(diagnosis.findings, analysis, request_time=now,
                                                   credentials=credentials, origins=credential_origins,
                                                   sessions=sessions)
        diagnosis.findings = sort_findings(diagnosis.findings)   # the CORS verdict takes its place in the order
    if analysis.form is not None and origins is not None:
        origin, policy_signed, signature_signed = origins.lookup(
            analysis.form.get("policy"), analysis.form.get("q-signature"))
        if origin is not None and origin.flow_id != flow_id:
            attribute(diagnosis.findings, origin, policy_signed, signature_signed)
    return diagnosis


def _with_session(diagnosis: Diagnosis, analysis: Analysis, sessions: UploadSessions) -> None:
    """COS's multipart errors name the upload, the part and the flows involved."""
    if not any(f["id"] in MULTIPART_IDS and f["phase"] == "response" for f in diagnosis.findings):
        return
    facts = sessions.session_evidence(analysis)
    diagnosis.findings = [
        catalogue.finding(f["id"], f["phase"], {**facts, **f["evidence"]})
        if f["id"] in MULTIPART_IDS and f["phase"] == "response" else f for f in diagnosis.findings]


def _check_cors(request: UploadRequest, response: PlainResponse, diagnosis: Diagnosis) -> None:
    """Browser uploads: a refused preflight, or an answer the page is not allowed to read."""
    if request.method == "OPTIONS":
        check = check_preflight(request.headers, response.status, response.headers)
        diagnosis.findings = with_cors_finding(diagnosis.findings, check)
    elif "origin" in request.headers:
        check = check_actual_response(request.headers, response.status, response.headers, method=request.method)
        if check is not None and not check.allowed:
            diagnosis.findings = with_cors_finding(diagnosis.findings, check,
                                                   finding_id="Warning_CORSResponseHidden")
