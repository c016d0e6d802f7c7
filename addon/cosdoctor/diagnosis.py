"""One COS flow, diagnosed: the glue between request analysis, COS's answer and the annotations.

The addon converts a mitmproxy flow into plain values, calls `diagnose`, and applies the result;
offline tools and tests call the same function, so every surface shows the same diagnosis.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from cosdoctor import catalogue
from cosdoctor.annotate import comment, has_error, header_detail, log_line, plain
from cosdoctor.credentials import CredentialStore
from cosdoctor.errorxml import render_error_xml
from cosdoctor.explain import CosAnswer, explain, sort_findings
from cosdoctor.fastinit import fast_constructor
from cosdoctor.hosts import CosEndpoint
from cosdoctor.preflight import Analysis, UploadRequest, analyse_request, is_certain, verdict
from cosdoctor.redact import SENSITIVE_FIELDS, scrub, shorten
from cosdoctor.signature import parse_auth_string


@dataclass
class Diagnosis:
    analysis: Analysis | None
    findings: list[dict]
    error: dict | None = None          # COS's <Error>, as the report shows it
    status: int | None = None
    secrets: tuple[str, ...] = field(default=(), repr=False)
    _metadata: dict | None = field(default=None, repr=False)

    @property
    def failing(self) -> bool:
        return has_error(self.findings)

    def metadata(self) -> dict:
        if self._metadata is None:
            self._metadata = self._build_metadata()
        return self._metadata

    def _build_metadata(self) -> dict:
        a = self.analysis
        form = a.form if a else None
        return {"bucket": plain(a.bucket if a else None), "region": plain(a.region if a else None),
                "key": plain(a.key if a else None), "mode": a.mode if a else "anonymous",
                # plain(list(form.names)), with no call for the ASCII names plain() returns as they are
                "fields": [n if n.isascii() else plain(n) for n in form.names] if form else [],
                "findings": self.findings}

    def comment(self) -> str:
        return self._scrub(comment(self.findings))

    def headers(self) -> dict[str, str]:
        if not self.findings:
            return {}
        first = self.findings[0]
        english = catalogue.finding(first["id"], first["phase"], first["evidence"], "en")["title"]
        return {"X-COS-Diagnosis": first["id"],
                "X-COS-Diagnosis-Detail": self._scrub(header_detail(first, english))}

    def log_line(self, method: str, url: str) -> str:
        return self._scrub(log_line(method, url, self.status, self.findings))

    def _scrub(self, text: str) -> str:
        return plain(scrub(text, self.secrets) if self.secrets else text)


def preflight(request: UploadRequest, credentials: CredentialStore | None, now: int,
              lang: str = "en") -> Analysis:
    return analyse_request(request, credentials, now, lang)


def diagnose(analysis: Analysis, answer: CosAnswer | None, local_now: int,
             credentials: CredentialStore | None = None) -> Diagnosis:
    """Findings for a flow that has COS's answer (or none: an error or a blocked request)."""
    if answer is None:
        findings = sort_findings(list(analysis.findings))
        status = None
        error = None
    else:
        findings = explain(analysis, answer, local_now)
        status = answer.status
        error = answer.error_record()
    secrets = credentials.secrets() if credentials else ()
    sent = _sent_secrets(analysis)
    return Diagnosis(analysis, _clean(findings, sent), _clean(error, sent), status, secrets)


def _sent_secrets(analysis: Analysis) -> list[str]:
    """Signatures and tokens this request carried: shortened wherever COS or we quote them."""
    form = analysis.form
    if form is None:
        return []
    values = [f.value for f in form.fields if f.lname in SENSITIVE_FIELDS and len(f.value) > 8]
    auth = form.get("signature")
    if auth:
        signature = parse_auth_string(auth).signature
        if signature and len(signature) > 8:
            values.append(signature)
    return sorted(set(values), key=len, reverse=True)


# Values _clean returns as they are (no call needed for them).
_UNTOUCHED = (type(None), bool, int, float)


def _clean(value, secrets: list[str]):
    """`value` with every sent secret shortened in its strings (dict keys excepted), then `plain`:
    a fresh copy of every list and dict, so the caller may change it freely."""
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, shorten(secret) or "")
        return value if value.isascii() else plain(value)
    if isinstance(value, list):
        return [v if type(v) in _UNTOUCHED else _clean(v, secrets) for v in value]
    if isinstance(value, dict):
        return {(k if type(k) is str and k.isascii() else plain(k)):      # plain(k), without the call
                v if type(v) in _UNTOUCHED else _clean(v, secrets) for k, v in value.items()}
    return value


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


_new_request = fast_constructor(UploadRequest)     # every field is passed below


def request_for(method: str, host: str | None, path: str, headers: Mapping[str, str],
                body: bytes | None, endpoint: CosEndpoint | None, *, body_complete: bool = True,
                body_size: int | None = None, http_version: str = "HTTP/1.1",
                trust_tail: bool = False) -> UploadRequest:
    return _new_request(method=method, host=host, path=path,
                        headers={k.lower(): v for k, v in headers.items()}, body=body,
                        body_complete=body_complete, body_size=body_size, endpoint=endpoint,
                        http_version=http_version, trust_tail=trust_tail)
