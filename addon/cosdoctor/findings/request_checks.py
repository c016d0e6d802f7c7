"""Check a COS request the way COS does, before (or without) its answer.

Every request is recognised (`operations.recognise_request`: operation, auth, token, key, upload
id, part number). Only a POST Object form (a POST without sub-resource, multipart/form-data, or
to the bucket itself) is parsed as a form; every other request with an `Authorization` header or
a presigned query has its XML-API signature checked (`xmlsig.analyse_signature`).

For a form, `analyse_request` runs the checks in the order COS is believed to apply them (spec §7) and returns
every finding, not only the first: the first *error* is what COS would answer (`verdict`), the rest
is what the user will hit next. Findings are plain catalogue findings (ID, severity, phase,
evidence); this module holds no message text and needs no language.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass, field
from collections.abc import Mapping, Sequence

from cosdoctor.findings import catalogue
from cosdoctor.cos.credentials import CredentialStore
from cosdoctor.wire.form import UploadForm, parse_form
from cosdoctor.cos.hosts import CosEndpoint
from cosdoctor.cos.operations import TOKEN_NAME, CosRequest, recognise_request, split_target
from cosdoctor.cos.xmlsig import SignatureAnalysis, analyse_signature
from cosdoctor.cos.times import format_iso8601, whole_hour_offset
from cosdoctor.cos.policy import ConditionResult, Policy, decode_policy, evaluate_conditions
from cosdoctor.cos.secrets import redact_evidence, shorten
from cosdoctor.cos.signature import (
    KEY_TIME_RE, find_post_mistake, is_hex40, signed_key_time,
    parse_auth_string, post_signature,
)

MAX_OBJECT_SIZE = 5 * 1024 ** 3
MAX_KEY_BYTES = 850
TRAFFIC_LIMIT_RANGE = (819200, 838860800)
LONG_EXPIRATION_S = 24 * 3600
MAX_DUPLICATE_FINDINGS = 20      # a hostile form may repeat thousands of names: report the first
REQUIRED_POLICY_FIELDS = ("policy", "q-sign-algorithm", "q-ak", "q-key-time", "q-signature")
REQUIRED_CONDITIONS = ("q-sign-algorithm", "q-ak", "q-sign-time")
# Fields COS documents as usable in policy conditions (besides x-cos-* and x-cos-meta-*).
DOCUMENTED_CONDITION_FIELDS = frozenset({
    "acl", "bucket", "key", "cache-control", "content-type", "content-disposition",
    "content-encoding", "expires", "success_action_redirect", "success_action_status",
    "q-sign-algorithm", "q-ak", "q-sign-time",
})
# Malformation reasons whose COS answer is not documented: reported, never blocked.
UNDOCUMENTED_REASONS = frozenset({"no-file-part", "file-not-last", "too-many-parts"})
# Policy problems that COS documents with the InvalidPolicyDocument message we know.
POLICY_PROBLEM_IDS = {
    "base64": "InvalidPolicyDocument_Base64",
    "utf8": "InvalidPolicyDocument_JSONFormat",
    "json": "InvalidPolicyDocument_JSONFormat",
    "not-object": "InvalidPolicyDocument_JSONFormat",
    "top-level-case": "InvalidPolicyDocument_JSONFormat",
    "no-conditions": "InvalidPolicyDocument_JSONFormat",
    "no-expiration": "InvalidPolicyDocument_Expiration",
    "bad-expiration": "InvalidPolicyDocument_Expiration",
}


@dataclass(slots=True)
class UploadRequest:
    """What the checks need of an HTTP request; built by the addon, the emulator or a test."""

    method: str
    host: str | None                       # the Host header (not the connection target)
    path: str
    headers: Mapping[str, str]             # lower-cased names
    body: bytes | None                     # None when not available (streamed, HAR without body)
    body_complete: bool = True             # False: `body` is only the first bytes of the upload
    body_size: int | None = None           # the full body size when known (streamed uploads)
    endpoint: CosEndpoint | None = None
    http_version: str = "HTTP/1.1"
    trust_tail: bool = False               # COS accepted it: the file runs to the closing delimiter


@dataclass(slots=True)
class SignatureCheck:
    mode: str                              # "policy" | "signature-field"
    verified: bool                         # a SecretKey for the q-ak was available
    ok: bool | None                        # None when not verified
    mistake: str | None
    string_to_sign: str | None
    expected_signature: str | None         # shortened
    http_string: str | None = None




@dataclass
class Analysis:
    request: UploadRequest
    now: int
    endpoint: CosEndpoint | None = None
    form: UploadForm | None = None
    policy: Policy | None = None
    conditions: tuple[ConditionResult, ...] = ()
    signature: SignatureCheck | None = None
    findings: list[dict] = field(default_factory=list)
    undocumented: set[str] = field(default_factory=set)  # ids whose COS answer here is a guess
    cos_request: CosRequest | None = None                 # what every request is (operation, auth, key ...)
    xml_signature: SignatureAnalysis | None = None        # header / query / Signature-field signature
    secret_known: bool = False                            # a SecretKey for the request's q-ak is loaded
    session_checked: bool = False                         # the upload's earlier flows were consulted

    @property
    def auth(self) -> str:
        """The contract's auth mode: policy, signature-field, header, query or anonymous."""
        if self.form is not None:
            return self.form.mode
        if self.cos_request is not None:
            return self.cos_request.auth
        return "anonymous"

    @property
    def mode(self) -> str:
        """The same value as `auth` (flow.metadata["cos"]["mode"])."""
        return self.auth

    @property
    def operation(self) -> str | None:
        if self.form is not None:
            return "PostObject"
        return self.cos_request.operation if self.cos_request is not None else None

    @property
    def is_form(self) -> bool:
        """A POST Object request: its fields are the form's (even when the body was not recorded)."""
        return self.form is not None or (self.cos_request is not None and is_post_object(self.cos_request))

    @property
    def q_ak(self) -> str | None:
        """The SecretId the request was signed with, whatever its auth mode (for a form's
        `Signature` field, the q-ak inside it)."""
        sa = self.xml_signature
        if sa is not None and sa.auth is not None:
            return sa.auth.ak
        form = self.form
        if form is None:
            return None
        ak = form.get("q-ak")
        if ak is not None:
            return ak
        signature_field = form.get("signature")
        return parse_auth_string(signature_field).ak if signature_field else None

    @property
    def token_in(self) -> str | None:
        """Where x-cos-security-token was sent: "form", "header", "query" or None."""
        if self.form is not None and self.form.has(TOKEN_NAME):
            return "form"
        return self.cos_request.token_in if self.cos_request is not None else None

    @property
    def upload_id(self) -> str | None:
        return self.cos_request.upload_id if self.cos_request is not None else None

    @property
    def part_number(self) -> int | str | None:
        return self.cos_request.part_number if self.cos_request is not None else None

    @property
    def key(self) -> str | None:
        if self.form is not None:
            return self.form.key
        return self.cos_request.key if self.cos_request is not None else None

    @property
    def bucket(self) -> str | None:
        return self.endpoint.bucket if self.endpoint else None

    @property
    def region(self) -> str | None:
        return self.endpoint.region if self.endpoint else None

    @property
    def file_size(self) -> int | None:
        if self.form is None or self.form.file is None:
            return None
        part = self.form.file
        if self.request.body_complete:
            return part.size
        if self.request.body_size is not None:
            # Streamed: everything after the file's first byte, less the closing delimiter.
            boundary = self.form.multipart.boundary or ""
            return max(0, self.request.body_size - part.data_start - len(boundary) - 8)
        return None

    def add(self, finding_id: str, evidence: Mapping[str, object] | None = None, *,
            documented: bool = True) -> dict:
        found = catalogue.finding(finding_id, "preflight", redact_evidence(dict(evidence or {})))
        self.findings.append(found)
        if not documented:
            self.undocumented.add(finding_id)
        return found

    def ids(self) -> list[str]:
        return [f["id"] for f in self.findings]

    def condition_for(self, field_name: str) -> ConditionResult | None:
        """The first failing condition on a field, else the first condition on it."""
        lname = field_name.lower()
        matching = [r for r in self.conditions if r.field == lname]
        failing = [r for r in matching if not r.ok]
        return (failing or matching or [None])[0]


def verdict(analysis: Analysis) -> dict | None:
    """The first error finding: what COS answers (check order is spec §7)."""
    for found in analysis.findings:
        if found["severity"] == "error":
            return found
    return None


def is_certain(analysis: Analysis, found: dict) -> bool:
    """Only a documented COS answer may be sent in COS's name (block mode)."""
    return catalogue.entry(found["id"]).certain and found["id"] not in analysis.undocumented


def recognise(request: UploadRequest) -> CosRequest:
    """The request's operation, auth, token, key, upload id and part number (never raises)."""
    raw_path, raw_query = split_target(request.path)
    return recognise_request(request.method, raw_path, raw_query, request.headers, request.endpoint)


def is_post_object(cos_request: CosRequest) -> bool:
    """Only a POST Object form is parsed as a form: a POST without sub-resource that is
    multipart/form-data, or that addresses the bucket itself (COS answers MalformedPOSTRequest to
    another body there). ``POST ?uploads`` and ``POST ?uploadId`` are never forms."""
    if cos_request.method != "POST" or cos_request.sub_resources:
        return False
    return cos_request.operation == "PostObject" or cos_request.key is None


def analyse_request(request: UploadRequest, credentials: CredentialStore | None, now: int) -> Analysis:
    """Every check of one request, of any method: a POST Object form's fields, policy and
    signature; any other request's header or presigned signature, sign time and token."""
    analysis = Analysis(request=request, now=now, endpoint=request.endpoint)
    analysis.cos_request = recognise(request)
    if not is_post_object(analysis.cos_request):
        _check_signed_request(analysis, credentials)
        return analysis
    return _analyse_form(analysis, credentials)


def _analyse_form(analysis: Analysis, credentials: CredentialStore | None) -> Analysis:
    if not _check_transport_and_body(analysis):
        return analysis
    form = analysis.form
    assert form is not None
    _check_file_and_key(analysis, form)
    mode = form.mode
    if mode == "policy":
        _check_policy_mode(analysis, form, credentials)
    elif mode == "signature-field":
        _check_signature_field_mode(analysis, form, credentials)
    _check_field_values(analysis, form)
    _lint(analysis, form)
    return analysis


# --- transport and multipart ---------------------------------------------------------------

def _check_transport_and_body(analysis: Analysis) -> bool:
    request = analysis.request
    headers = request.headers
    chunked = "chunked" in headers.get("transfer-encoding", "").lower()
    if "content-length" not in headers and request.body_complete and (
            chunked or request.http_version.startswith("HTTP/1")):
        # A chunked HTTP/1 upload: COS answers 411. (HTTP/2 carries the length in its frames.)
        analysis.add("MissingContentLength_ChunkedBody",
                     {"transfer_encoding": headers.get("transfer-encoding")}, documented=False)
    if request.body is None:
        analysis.add("Info_BodyMissing", {})
        return False
    content_length = _int_or_none(headers.get("content-length")) if request.body_complete else None
    form = parse_form(headers.get("content-type"), request.body, content_length=content_length,
                      body_complete=request.body_complete, trust_tail=request.trust_tail)
    analysis.form = form
    if not request.body_complete:
        analysis.add("Info_StreamedBody", {"seen_bytes": len(request.body)})
    error = form.multipart.error
    if error is not None:
        analysis.add("MalformedPOSTRequest_POSTBody",
                     {"reason": error.reason, "offset": error.offset, "detail": error.detail, **error.facts},
                     documented=error.reason not in UNDOCUMENTED_REASONS)
        return False
    if not form.file_parts and (form.multipart.complete or request.body_complete):
        analysis.add("MalformedPOSTRequest_POSTBody", {"reason": "no-file-part", "offset": len(request.body)},
                     documented=False)
        return False
    return True


def _check_file_and_key(analysis: Analysis, form: UploadForm) -> None:
    if len(form.file_parts) > 1:
        analysis.add("IncorrectNumberOfFilesInPostRequest_FileCount",
                     {"file_parts": len(form.file_parts)}, documented=False)
    key = form.key
    if key is None or key == "":
        analysis.add("InvalidArgument_MissingField", {"field": "key"}, documented=False)
    elif len(key.encode("utf-8")) > MAX_KEY_BYTES:
        analysis.add("KeyTooLong_ObjectKey", {"key_bytes": len(key.encode("utf-8"))},
                     documented=False)
    size = analysis.file_size
    if size is not None and size > MAX_OBJECT_SIZE:
        analysis.add("EntityTooLarge_MaxObjectSize", {"actual": size})


# --- policy mode -----------------------------------------------------------------------------

def _check_policy_mode(analysis: Analysis, form: UploadForm,
                       credentials: CredentialStore | None) -> None:
    for name in REQUIRED_POLICY_FIELDS:
        if not form.has(name):
            analysis.add("InvalidArgument_MissingField", {"field": name}, documented=False)
    policy_text = form.get("policy")
    if policy_text is None:
        return
    policy = decode_policy(policy_text)
    analysis.policy = policy
    if not _check_policy_document(analysis, policy):
        return
    _check_expiration(analysis, policy, form)
    _check_post_signature(analysis, form, policy, credentials)
    _check_conditions(analysis, form, policy, required=True)


def _check_policy_document(analysis: Analysis, policy: Policy) -> bool:
    """False when COS cannot go further than the policy document itself."""
    for problem in policy.problems:
        if problem.kind == "duplicate-key":
            analysis.add("Warning_DuplicatePolicyKey", {"where": problem.where, "detail": problem.detail,
                                                        **problem.facts})
    fatal = policy.fatal
    if fatal is not None:
        finding_id = POLICY_PROBLEM_IDS.get(fatal.kind, "InvalidPolicyDocument_JSONFormat")
        evidence = {"problem": fatal.kind, "detail": fatal.detail, "where": fatal.where, **fatal.facts}
        if finding_id == "InvalidPolicyDocument_Expiration":
            evidence["expiration"] = policy.expiration
        analysis.add(finding_id, evidence, documented=fatal.kind == "no-conditions")
        return False
    for condition in policy.conditions:
        if condition.op == "invalid":
            analysis.add("InvalidPolicyDocument_Condition",
                         {"condition": condition.text, "index": condition.index,
                          "detail": condition.problem}, documented=False)
    return True


def expiration_evidence(policy: Policy, form: UploadForm | None, now: int,
                        server_now: int | None = None, local_now: int | None = None) -> dict:
    """Everything a user needs to see why the policy expired, and a hint when it smells of time zones."""
    expiration_unix = policy.expiration_unix if policy.expiration_unix is not None else 0
    reference = server_now if server_now is not None else now
    expired_for = reference - expiration_unix
    hint, hours = timezone_hint(policy, form, expired_for)
    evidence: dict[str, object] = {
        "expiration": policy.expiration,
        "expiration_unix": expiration_unix,
        "now_unix": reference,
        "now": format_iso8601(reference),
        "expired_for_s": expired_for,
        "clock_skew_s": (local_now - server_now) if (server_now is not None and local_now is not None) else None,
        "timezone_hint": hint,
        "timezone_hours": hours,
    }
    return evidence


def timezone_hint(policy: Policy, form: UploadForm | None, expired_for: int) -> tuple[str | None, int | None]:
    """(hint word, hours): whole-hour gaps point at a local time written with 'Z' (a JVM in UTC+8).

    "key-time-end": the expiration is whole hours before the end of q-key-time; "whole-hours": the
    policy expired whole hours ago. (None, None) when nothing smells of time zones."""
    key_time = form.get("q-key-time") if form else None
    if key_time and KEY_TIME_RE.match(key_time) and policy.expiration_unix is not None:
        end = int(key_time.split(";")[1])
        hours = whole_hour_offset(end - policy.expiration_unix)
        if hours:
            return "key-time-end", hours
    hours = whole_hour_offset(expired_for)
    if hours:
        return "whole-hours", hours
    return None, None


def _check_expiration(analysis: Analysis, policy: Policy, form: UploadForm) -> None:
    if policy.expiration_unix is not None and policy.expiration_unix <= analysis.now:
        analysis.add("AccessDenied_Expiration", expiration_evidence(policy, form, analysis.now))


def _check_post_signature(analysis: Analysis, form: UploadForm, policy: Policy,
                          credentials: CredentialStore | None) -> None:
    provided = form.get("q-signature")
    key_time = form.get("q-key-time") or ""
    q_ak = form.get("q-ak")
    string_to_sign = hashlib.sha1(policy.raw).hexdigest()
    credential = credentials.get(q_ak) if credentials else None
    if provided is None:
        return
    if not KEY_TIME_RE.match(key_time):
        analysis.signature = SignatureCheck("policy", credential is not None, False, "malformed",
                                            string_to_sign, None)
        analysis.add("SignatureDoesNotMatch_POSTSignature", _signature_evidence(analysis.signature, "key-time-format"),
                     documented=False)
        return
    if credential is None:
        if not is_hex40(provided):
            mistake = "uppercase-hex" if is_hex40(provided.lower()) else "malformed"
            analysis.signature = SignatureCheck("policy", False, False, mistake, string_to_sign, None)
            analysis.add("SignatureDoesNotMatch_POSTSignature", _signature_evidence(analysis.signature))
            return
        analysis.signature = SignatureCheck("policy", False, None, None, string_to_sign, None)
        analysis.add("Info_SignatureNotVerified", {
            "string_to_sign": string_to_sign, "q_ak": q_ak, "checked": ["q-signature-format", "q-key-time-format"]})
        return
    correct = post_signature(credential.secret_key, key_time, policy.raw)
    if provided == correct.signature:
        analysis.signature = SignatureCheck("policy", True, True, None, string_to_sign,
                                                  shorten(correct.signature), None)
        return
    other_times = [c.value for c in policy.conditions
                   if (c.field or "").lower() == "q-sign-time" and c.value and c.value != key_time]
    mistake = find_post_mistake(credential.secret_key, key_time, policy, provided,
                                other_key_times=other_times)
    analysis.signature = SignatureCheck("policy", True, False, mistake, string_to_sign,
                                        shorten(correct.signature))
    evidence = _signature_evidence(analysis.signature)
    if mistake == "key-time-mismatch":
        evidence["signed_key_time"] = signed_key_time(credential.secret_key, key_time, correct.string_to_sign,
                                                      provided, other_key_times=other_times)
    analysis.add("SignatureDoesNotMatch_POSTSignature", evidence)


def _signature_evidence(check: SignatureCheck, detail: str | None = None) -> dict:
    """The contract's signature evidence; `detail` says what is malformed ("key-time-format",
    "auth-string")."""
    evidence: dict[str, object] = {
        "verified": check.verified,
        "mistake": check.mistake,
        "string_to_sign": check.string_to_sign,
        "mode": check.mode,
    }
    if check.verified:
        evidence["expected_signature"] = check.expected_signature
    if check.http_string is not None:
        evidence["http_string"] = check.http_string
    if detail:
        evidence["detail"] = detail
    return evidence


def _check_conditions(analysis: Analysis, form: UploadForm, policy: Policy, *, required: bool) -> None:
    results = evaluate_conditions(policy, form.condition_values(), bucket=analysis.bucket,
                                  file_size=analysis.file_size)
    analysis.conditions = results
    for result in results:
        if result.ok or result.condition.op == "invalid":
            continue
        analysis.add(*condition_finding(result, form))
    if required:
        # The lower-cased condition fields, as evaluated ("content-length-range" or "" for the others).
        present = {result.field for result in results}
        for name in REQUIRED_CONDITIONS:
            if name not in present:
                analysis.add("Warning_MissingRequiredCondition", {"field": name})


def condition_evidence(result: ConditionResult) -> dict:
    """The contract's condition evidence (`index` 0-based), with the verdict word and its notes."""
    evidence = {"condition": result.condition.text, "index": result.condition.index,
                "field": result.field, "expected": result.expected, "actual": result.actual,
                "why": result.why}
    if result.notes:
        evidence["why_notes"] = list(result.notes)
    return evidence


def condition_finding(result: ConditionResult, form: UploadForm | None) -> tuple[str, dict]:
    """Which catalogue entry explains a failed condition."""
    evidence = condition_evidence(result)
    if result.field == "content-length-range":
        low, high = result.condition.range or (0, 0)
        too_small = isinstance(result.actual, int) and result.actual < low
        return ("EntityTooSmall_ContentLengthRange" if too_small
                else "EntityTooLarge_ContentLengthRange"), evidence
    if result.field == "q-ak":
        return "AccessDenied_q-ak", evidence
    if result.field == "bucket":
        return "AccessDenied_BucketNotConsistent", evidence
    if result.field == "q-sign-time":
        return "Warning_SignTimeMismatch", evidence
    return "AccessDenied_Condition", evidence


# --- Signature-field mode ----------------------------------------------------------------------

def _check_signature_field_mode(analysis: Analysis, form: UploadForm,
                                credentials: CredentialStore | None) -> None:
    auth = parse_auth_string(form.get("signature") or "")
    if form.has("policy"):
        policy = decode_policy(form.get("policy") or "")
        analysis.policy = policy
        if _check_policy_document(analysis, policy):
            _check_expiration(analysis, policy, form)
            _check_conditions(analysis, form, policy, required=False)
    if auth.problems:
        analysis.signature = SignatureCheck("signature-field", False, False, "malformed", None, None)
        evidence = _signature_evidence(analysis.signature, "auth-string")
        evidence["auth_problems"] = list(auth.problems)          # the parser's notes, as evidence
        analysis.add("SignatureDoesNotMatch_SignatureField", evidence, documented=False)
        return
    if auth.sign_time and KEY_TIME_RE.match(auth.sign_time):
        end = int(auth.sign_time.split(";")[1])
        if end < analysis.now:
            analysis.add("AccessDenied_RequestExpired", {
                "key_time": auth.sign_time, "key_time_end_unix": end, "now_unix": analysis.now,
                "expired_for_s": analysis.now - end})
    credential = credentials.get(auth.ak) if credentials else None
    path = "/" if not analysis.endpoint or analysis.endpoint.style != "path" else f"/{analysis.bucket}/"
    if credential is None:
        analysis.signature = SignatureCheck("signature-field", False, None, None, None, None)
        analysis.add("Info_SignatureNotVerified", {
            "q_ak": auth.ak, "string_to_sign": None, "checked": ["signature-field-format", "key-time-format"]})
        return
    # The same engine as header and presigned signatures: HTTP headers first, then form fields.
    fields = {f.lname: f.value for f in reversed(form.fields)}
    request = analysis.request
    sa = analyse_signature("POST", "/", "", request.headers, secret_key=credential.secret_key,
                           known_token=credential.token, endpoint=analysis.endpoint,
                           auth_text=form.get("signature") or "", signed_path=path, fallback_values=fields,
                           alt_hosts=_alt_hosts(analysis))
    analysis.xml_signature = sa
    analysis.secret_known = True
    rebuilt = sa.rebuilt
    http_string = rebuilt.http_string if rebuilt else None
    string_to_sign = rebuilt.string_to_sign if rebuilt else None
    if sa.signature_matches:
        analysis.signature = SignatureCheck("signature-field", True, True, None, string_to_sign,
                                            shorten(sa.expected_signature), http_string)
        return
    mistake, variant = sa.mistake, sa.variant
    if mistake in (None, "wrong-secret-key", "expired-sign-time"):
        other = _signed_for_object(analysis, form, credential, fields, path)
        if other is not None:
            mistake, variant = other
    analysis.signature = SignatureCheck("signature-field", True, False, mistake, string_to_sign,
                                        shorten(sa.expected_signature), http_string)
    evidence = _signature_evidence(analysis.signature)
    evidence.update(difference_facts(sa, variant=variant, mistake=mistake))
    if variant:
        evidence["signed_variant"] = dict(variant)
    analysis.add("SignatureDoesNotMatch_SignatureField", evidence)


def _alt_hosts(analysis: Analysis) -> tuple[str, ...]:
    host = analysis.request.host
    endpoint = analysis.endpoint
    out = [h for h in (host, endpoint.host if endpoint is not None else None) if h]
    return tuple(dict.fromkeys(out))


def _signed_for_object(analysis: Analysis, form: UploadForm, credential, fields: Mapping[str, str],
                       path: str) -> tuple[str, dict] | None:
    """A Signature field computed for the object's own request (``PUT /<key>``, as a header-signed
    upload would be): two more verifications, each bounded to one HMAC."""
    key = form.key
    if not key:
        return None
    object_path = path.rstrip("/") + "/" + key
    for method, word in (("PUT", "signed-other-method"), ("POST", "signed-other-path")):
        sa = analyse_signature(method, "/", "", analysis.request.headers, secret_key=credential.secret_key,
                               auth_text=form.get("signature") or "", signed_path=object_path,
                               fallback_values=fields, max_variants=1)
        if sa.signature_matches:
            return word, {"part": "method" if method == "PUT" else "path", "signed": f"{method.lower()} {object_path}",
                          "method": method.lower(), "path": object_path}
    return None


def _signed_header_values(names: Sequence[str], request: UploadRequest,
                          form: UploadForm) -> list[tuple[str, str]]:
    """Values for q-header-list: the HTTP headers first, then form fields (SDKs disagree, spec §3.2)."""
    pairs = []
    for name in names:
        value = request.headers.get(name.lower())
        if value is None:
            value = form.get(name)
        pairs.append((name, value if value is not None else ""))
    return pairs


# --- field values and lint -----------------------------------------------------------------

def _check_field_values(analysis: Analysis, form: UploadForm) -> None:
    status = form.get("success_action_status")
    if status is not None and status not in ("200", "201", "204") and not form.has("success_action_redirect"):
        analysis.add("Warning_SuccessActionStatus", {"actual": status})
    limit = form.get("x-cos-traffic-limit")
    if limit is not None:
        value = _int_or_none(limit)
        if value is None or not TRAFFIC_LIMIT_RANGE[0] <= value <= TRAFFIC_LIMIT_RANGE[1]:
            analysis.add("InvalidArgument_TrafficLimit", {"actual": limit}, documented=False)
    md5 = form.get("content-md5")
    if md5 is not None and form.file is not None and analysis.request.body_complete and analysis.request.body:
        digest = hashlib.md5(memoryview(analysis.request.body)[form.file.data_start:form.file.data_end]).digest()
        try:
            sent = base64.b64decode(md5, validate=True)
        except (binascii.Error, ValueError):
            sent = b""
        if sent != digest:
            analysis.add("InvalidDigest_ContentMD5",
                         {"expected": base64.b64encode(digest).decode(), "actual": md5}, documented=False)


def _lint(analysis: Analysis, form: UploadForm) -> None:
    if form.duplicates:
        duplicated = {name for name, _ in form.duplicates}
        values: dict[str, list[str]] = {name: [] for name in duplicated}
        for f in form.fields:                      # one pass: a form may repeat thousands of names
            if f.lname in duplicated:
                values[f.lname].append(shorten(f.value, 8) if len(f.value) > 40 else f.value)
        for name, count in form.duplicates[:MAX_DUPLICATE_FINDINGS]:
            analysis.add("Warning_DuplicateField", {"field": name, "count": count, "values": values[name][:10]})
    if form.after_file:
        trailing = [n for n in form.after_file if n.lower() != "file"]
        if trailing:
            analysis.add("Warning_FieldAfterFile", {"fields": trailing})
    file = form.file
    if file is not None and file.content_type and not form.has("content-type"):
        analysis.add("Warning_FileContentTypeIgnored", {"part_content_type": file.content_type})
    policy = analysis.policy
    if policy is None or policy.fatal is not None:
        return
    fields: set[str] = set()
    has_range = False
    for c in policy.conditions:
        lname = (c.field or "").lower()
        fields.add(lname)
        op = c.op
        if op == "content-length-range":
            has_range = True
        elif op == "eq" or op == "starts-with":       # the checks below only concern these two
            if op == "starts-with" and lname == "key" and c.value == "":
                analysis.add("Warning_KeyAnyPrefix", {"condition": c.text, "index": c.index})
            if op == "starts-with" and c.value and "*" in c.value:
                analysis.add("Warning_StartsWithWildcard", {"condition": c.text, "index": c.index})
            if not c.dollar:
                analysis.add("Warning_ConditionWithoutDollar", {"condition": c.text, "index": c.index})
            if lname not in DOCUMENTED_CONDITION_FIELDS and not lname.startswith("x-cos-"):
                analysis.add("Warning_UnknownCondition", {"condition": c.text, "index": c.index})
    if not has_range:
        analysis.add("Warning_NoContentLengthRange", {})
    if "bucket" not in fields:
        analysis.add("Warning_NoBucketCondition", {})
    if form.has("x-cos-security-token") and "x-cos-security-token" not in fields:
        analysis.add("Warning_TokenNotConstrained", {})
    if policy.expiration_unix is not None:
        remaining = policy.expiration_unix - analysis.now
        if remaining > LONG_EXPIRATION_S:
            analysis.add("Warning_LongExpiration", {"expires_in_s": remaining})
        key_time = form.get("q-key-time") or ""
        if KEY_TIME_RE.match(key_time):
            end = int(key_time.split(";")[1])
            if end > policy.expiration_unix + 60:
                analysis.add("Warning_KeyTimeOutlivesPolicy",
                             {"key_time_end_unix": end, "expiration_unix": policy.expiration_unix})


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


# --- header and presigned signatures ---------------------------------------------------------

def _check_signed_request(analysis: Analysis, credentials: CredentialStore | None) -> None:
    """A request signed in its ``Authorization`` header or its query (presigned URL).

    Errors only for what COS rejects: a sign time already over ("Request has expired", documented:
    certain), a header listed in q-header-list but not sent and a signature that does not verify
    with the loaded SecretKey (errors, but not certain: block mode leaves them to COS); the rest
    are warnings. Cheap when valid: one FormatString, and one HMAC when the key is loaded."""
    cos = analysis.cos_request
    if cos is None or cos.auth == "anonymous" or cos.operation == "Preflight":
        return      # a CORS preflight carries a presigned URL's query but is never authenticated
    sa = signed_request_signature(analysis, credentials)
    analysis.xml_signature = sa
    if sa.auth is None:
        return
    evidence = signature_evidence(analysis, sa)
    times = sa.sign_time
    if sa.mistake == "malformed":
        analysis.add("SignatureDoesNotMatch_Authorization", evidence, documented=False)
        return
    if cos.auth == "query" and cos.method == "POST":
        analysis.add("MethodNotAllowed_PresignedURL", {"method": cos.method, "auth": cos.auth})
    if times.get("state") == "expired":
        analysis.add("AccessDenied_RequestExpired", request_expired_evidence(sa, analysis.now))
    elif times.get("state") == "not-yet-valid":
        analysis.add("Warning_SignTimeNotYetValid", {
            "sign_time": sa.auth.sign_time or sa.auth.key_time, "starts_in_s": times.get("starts_in_s"),
            "now_unix": analysis.now})
    elif sa.missing_headers or (sa.verified and sa.signature_matches is False) or sa.mistake == "uppercase-hex":
        analysis.add("SignatureDoesNotMatch_Authorization", evidence, documented=False)
    if sa.token_missing:
        analysis.add("Warning_TokenMissing", {"q_ak": sa.auth.ak, "auth": cos.auth})


def signed_request_signature(analysis: Analysis, credentials: CredentialStore | None, *,
                             server_now: int | None = None, cos_format_string: str | None = None,
                             cos_string_to_sign: str | None = None,
                             search: bool = True) -> SignatureAnalysis:
    """The XML-API signature analysis of a header-signed or presigned request; the SecretKey is
    looked up by q-ak. `search=False`: verify only (an accepted request needs no mistake search)."""
    request = analysis.request
    raw_path, raw_query = split_target(request.path)

    def secret_for(secret_id: str) -> tuple[str, str | None] | None:
        credential = credentials.get(secret_id) if credentials is not None else None
        return (credential.secret_key, credential.token) if credential is not None else None

    sa = analyse_signature(
        request.method, raw_path, raw_query, request.headers,
        server_now=analysis.now if server_now is None else server_now,
        cos_format_string=cos_format_string, cos_string_to_sign=cos_string_to_sign,
        endpoint=analysis.endpoint, alt_hosts=_alt_hosts(analysis), secret_for=secret_for,
        **({} if search else {"max_variants": 1}))
    analysis.secret_known = sa.verified
    return sa


def signature_evidence(analysis: Analysis, sa: SignatureAnalysis) -> dict:
    """The contract's signature evidence, plus what the texts name: the difference, concretely."""
    evidence = sa.evidence()
    cos = analysis.cos_request
    evidence["auth"] = analysis.auth
    evidence["presigned"] = analysis.auth == "query"
    evidence["q_ak"] = sa.auth.ak if sa.auth is not None else None
    evidence["key"] = analysis.key
    if cos is not None:
        evidence["operation"] = cos.operation
    evidence.update(difference_facts(sa))
    return evidence


def request_expired_evidence(sa: SignatureAnalysis, server_now: int | None,
                             local_now: int | None = None) -> dict:
    """AccessDenied_RequestExpired's facts: the sign time, its end, the server's clock."""
    auth = sa.auth
    key_time = (auth.sign_time or auth.key_time) if auth is not None else None
    end = sa.sign_time.get("end")
    evidence: dict[str, object] = {"key_time": key_time, "key_time_end_unix": end, "now_unix": server_now,
                                   "expired_for_s": (server_now - end) if isinstance(end, int)
                                   and isinstance(server_now, int) else None}
    if local_now is not None and server_now is not None:
        evidence["clock_skew_s"] = local_now - server_now
    return evidence


# Where a path difference's hint points (xmlsig's hints, COS's or the search's).
_PATH_WORDS = {"plus-as-space": "path-plus-as-space", "plus-kept": "path-plus-as-space",
               "cos-encoded": "path-encoding", "cos-decoded": "path-encoding", "encoded": "path-encoding",
               "decoded-twice": "path-encoding"}


def _first(values) -> object:
    return values[0] if values else None


def difference_facts(sa: SignatureAnalysis, *, variant: dict | None = None, mistake: str | None = None) -> dict:
    """One difference, flat, for the texts: ``difference`` (a word of the signature_differences
    table), ``read_as`` (what COS reads or read), ``signed_as`` (what the client signed, when the
    search found it), ``sent_as`` (what the request had when the proxy saw it, when COS read
    something else) and ``difference_name`` (the header or parameter)."""
    variant = sa.variant if variant is None else variant
    rebuilt = sa.rebuilt
    comparison = sa.comparison
    out: dict[str, object] = {}
    differences = comparison.differences if comparison is not None else ()
    if differences:
        d = differences[0]
        part = d.get("part")
        out.update(read_as=d.get("cos"), sent_as=d.get("sent"), difference_name=d.get("name"))
        if part == "method":
            out["difference"] = "method"
        elif part == "path":
            out["difference"] = _PATH_WORDS.get(d.get("hint"), "path")
        elif part == "headers":
            out["difference"] = "host" if d.get("name") == "host" else "header"
        elif part in ("header-list", "param-list", "params", "key-time"):
            out["difference"] = {"header-list": "header-list", "param-list": "param", "params": "param",
                                 "key-time": "key-time"}[part]
        if variant and variant.get("signed") is not None and variant.get("part") == part:
            out["signed_as"] = variant.get("signed")
        return out
    if variant:
        part = variant.get("part")
        signed = variant.get("signed")
        if part == "method":
            out.update(difference="method", signed_as=variant.get("method", signed),
                       read_as=rebuilt.method if rebuilt else None)
            if "path" in variant:
                out.update(difference="request", signed_as=signed,
                           read_as=f"{rebuilt.method} {rebuilt.path}" if rebuilt else None)
        elif part == "path":
            out.update(difference="request" if "method" in variant else _PATH_WORDS.get(variant.get("hint"), "path"),
                       signed_as=signed, read_as=rebuilt.path if rebuilt else None)
            if "method" in variant and rebuilt is not None:
                out["read_as"] = f"{rebuilt.method} {rebuilt.path}"
        elif part == "headers" and variant.get("name") == "host":
            out.update(difference="host", signed_as=signed,
                       read_as=dict(rebuilt.headers).get("host") if rebuilt else None)
        elif part == "headers":
            name = variant.get("name")
            if signed is None:
                out.update(difference="header-left-out", difference_name=name)
            elif name is None:
                out.update(difference="header-left-out", difference_name=None)
            else:
                out.update(difference="header", difference_name=name, signed_as=signed,
                           read_as=dict(rebuilt.headers).get(name) if rebuilt else None)
        elif part == "params":
            out.update(difference="param", difference_name=variant.get("name"), signed_as=signed)
        elif part == "key-time":
            out.update(difference="key-time", signed_as=signed, read_as=rebuilt.key_time if rebuilt else None)
        return out
    if sa.missing_headers:
        return {"difference": "header-missing", "difference_name": ";".join(sa.missing_headers)}
    suspects = sa.suspects
    if "signed-other-path" in suspects and rebuilt is not None:
        return {"difference": "path-plus-as-space", "read_as": rebuilt.path}
    if "signed-other-host" in suspects and rebuilt is not None:
        return {"difference": "host-custom", "sent_as": dict(rebuilt.headers).get("host")}
    return out
