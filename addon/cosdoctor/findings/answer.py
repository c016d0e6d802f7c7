"""Explain COS's answer to an upload, using what the request analysis found.

COS's error XML says *what* failed in one terse line; the request analysis knows *why*. This module
maps (Code, Message) to a catalogue ID with the table below, then copies the request-side evidence
(the failing condition, the signing mistake, both clocks) into the response finding.
"""
from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from cosdoctor.findings import catalogue
from cosdoctor.wire.errorxml import CosErrorDoc, normalise_message, parse_error_xml
from cosdoctor.wire.uploadxml import read_complete_answer
from cosdoctor.cos.times import parse_iso8601
from cosdoctor.cos.credentials import CredentialStore
from cosdoctor.cos.operations import split_target
from cosdoctor.cos.xmlsig import request_parts, strict_unsigned_headers, strict_unsigned_params
from cosdoctor.findings.request_checks import (Analysis, condition_evidence, expiration_evidence, request_expired_evidence,
                                               signature_evidence, signed_request_signature, verdict)
from cosdoctor.cos.secrets import redact_evidence

SUCCESS_STATUSES = frozenset({200, 201, 204, 303})

# (Code, Message pattern or None for any, finding ID). First match wins; order matters.
ANSWERS: tuple[tuple[str, str | None, str], ...] = (
    ("AccessDenied", r"^Condition key q-ak doesn't match", "AccessDenied_q-ak"),
    ("AccessDenied", r"^Condition key bucket doesn't match", "AccessDenied_BucketNotConsistent"),
    ("AccessDenied", r"^Condition key \S+ doesn't match", "AccessDenied_Condition"),
    ("AccessDenied", r"has been expired, expiration time", "AccessDenied_Expiration"),
    ("AccessDenied", r"^Request has expired", "AccessDenied_RequestExpired"),
    ("AccessDenied", r"referer", "AccessDenied_RefererRule"),
    ("AccessDenied", r"sign(a)?ture empty", "AccessDenied_SignatureEmpty"),
    ("AccessDenied", r"^Strict signature missing", "AccessDenied_StrictSignature"),
    ("AccessDenied", r"^Access Denied", "AccessDenied_NoPermission"),
    ("InvalidPolicyDocument", r"must provide condition", "InvalidPolicyDocument_JSONFormat"),
    ("MalformedPOSTRequest", None, "MalformedPOSTRequest_POSTBody"),
    ("EntityTooLarge", r"content-length-range", "EntityTooLarge_ContentLengthRange"),
    ("EntityTooLarge", None, "EntityTooLarge_MaxObjectSize"),
    ("EntityTooSmall", None, "EntityTooSmall_ContentLengthRange"),
    ("EntityTooSmall", None, "EntityTooSmall_PartSize"),
    ("InvalidPart", None, "InvalidPart_CompleteList"),
    ("InvalidPartOrder", None, "InvalidPartOrder_CompleteList"),
    ("NoSuchUpload", None, "NoSuchUpload_UploadId"),
    ("MalformedXML", None, "MalformedXML_CompleteBody"),
    ("InvalidArgument", r"must contain a field named", "InvalidArgument_MissingField"),
    ("InvalidArgument", r"x-cos-traffic-limit", "InvalidArgument_TrafficLimit"),
    ("IncorrectNumberOfFilesInPostRequest", None, "IncorrectNumberOfFilesInPostRequest_FileCount"),
    ("RequestTimeTooSkewed", None, "RequestTimeTooSkewed_ClockSkew"),
    ("InvalidAccessKeyId", None, "InvalidAccessKeyId_SecretId"),
    ("ExpiredToken", None, "ExpiredToken_SecurityToken"),
    ("AccessForbidden", None, "AccessForbidden_CORS"),
    ("KeyTooLong", None, "KeyTooLong_ObjectKey"),
    ("InvalidURI", None, "KeyTooLong_ObjectKey"),
    ("MissingContentLength", None, "MissingContentLength_ChunkedBody"),
    ("InvalidDigest", None, "InvalidDigest_ContentMD5"),
    ("BadDigest", None, "InvalidDigest_ContentMD5"),
    ("NoSuchBucket", None, "NoSuchBucket_Host"),
    ("MethodNotAllowed", None, "MethodNotAllowed_PresignedURL"),
    ("InternalError", None, "InternalError_ServerSide"),
    ("SlowDown", None, "SlowDown_RateLimited"),
    ("ServiceUnavailable", None, "SlowDown_RateLimited"),
)
# Codes whose exact finding depends on what the request analysis saw.
FAMILY_BY_CODE = {
    "SignatureDoesNotMatch": ("SignatureDoesNotMatch_POSTSignature", "SignatureDoesNotMatch_SignatureField",
                              "SignatureDoesNotMatch_Authorization"),
    "InvalidPolicyDocument": ("InvalidPolicyDocument_JSONFormat", "InvalidPolicyDocument_Base64",
                              "InvalidPolicyDocument_Expiration", "InvalidPolicyDocument_Condition"),
    "InvalidArgument": ("InvalidArgument_MissingField", "InvalidArgument_TrafficLimit", "InvalidArgument_PartNumber"),
    # The two docs swap these codes' meanings (cos-xml-api.md §3.4): what the list shows decides.
    "InvalidPart": ("InvalidPart_CompleteList", "InvalidPartOrder_CompleteList"),
    "InvalidPartOrder": ("InvalidPartOrder_CompleteList", "InvalidPart_CompleteList"),
}
# Families with no default: an answer the checks did not foresee keeps COS's own Message
# (Unknown_<Code>) instead of the family's first cause ("x-cos-acl value invalid:[object Undefined]").
NO_DEFAULT = frozenset({"InvalidArgument"})
# Causes that exist only for some operations; another request's answer keeps COS's Message.
ONLY_FOR = {
    "EntityTooSmall_PartSize": frozenset({"CompleteMultipartUpload", "UploadPart"}),
    "InvalidPart_CompleteList": frozenset({"CompleteMultipartUpload"}),
    "InvalidPartOrder_CompleteList": frozenset({"CompleteMultipartUpload"}),
    "MalformedXML_CompleteBody": frozenset({"CompleteMultipartUpload"}),
    "NoSuchUpload_UploadId": frozenset({"UploadPart", "CompleteMultipartUpload", "AbortMultipartUpload", "ListParts"}),
    "InvalidArgument_PartNumber": frozenset({"UploadPart"}),
}
# Causes that exist only for a POST Object form: never given to another request, whose answer then
# keeps COS's own Message (Unknown_<Code>).
FORM_ONLY_IDS = frozenset({
    "AccessDenied_q-ak", "AccessDenied_BucketNotConsistent", "AccessDenied_Condition", "AccessDenied_Expiration",
    "SignatureDoesNotMatch_POSTSignature", "SignatureDoesNotMatch_SignatureField",
    "InvalidPolicyDocument_JSONFormat", "InvalidPolicyDocument_Base64", "InvalidPolicyDocument_Expiration",
    "InvalidPolicyDocument_Condition", "MalformedPOSTRequest_POSTBody", "EntityTooLarge_ContentLengthRange",
    "EntityTooSmall_ContentLengthRange", "IncorrectNumberOfFilesInPostRequest_FileCount",
    "InvalidArgument_MissingField", "InvalidArgument_TrafficLimit",
})
CONDITION_FIELD_RE = re.compile(r"^Condition key (\S+) doesn't match the value ?(.*)$", re.S)
EXPIRED_RE = re.compile(r"expiration time: ?(\d+) but the time now ?: ?(\d+)")


@dataclass(frozen=True, slots=True)
class CosAnswer:
    status: int
    error: CosErrorDoc | None
    server_time: int | None        # from the Date header (or <ServerTime>)
    error_after_200: bool = False  # a Complete answered 200, then an <Error> in its body

    @property
    def ok(self) -> bool:
        return self.status in SUCCESS_STATUSES and not self.error_after_200

    def error_record(self) -> dict | None:
        if self.error is None:
            return None
        e = self.error
        # COS's Message as it sent it: entities decoded by the parser, whitespace kept.
        return {"code": e.code, "message": e.message,
                "request_id": e.request_id, "trace_id": e.trace_id, "resource": e.resource}


def read_answer(status: int, headers: Mapping[str, str], body: bytes | None, *,
                complete: bool = False) -> CosAnswer:
    """COS's answer read. `complete`: a CompleteMultipartUpload, whose 200 answer may still carry
    an <Error> after the whitespace COS sends while it merges the parts (cos-xml-api.md §3.1)."""
    error = parse_error_xml(body) if status >= 300 and status != 303 else None
    after_200 = False
    if complete and status == 200 and body:
        reading = read_complete_answer(body)
        if reading.kind == "error" and reading.error is not None:
            error, after_200 = reading.error, True
    server_time = _http_date(headers.get("date"))
    if server_time is None and error is not None:
        for name, value in error.extra:
            if name == "ServerTime":
                server_time = parse_iso8601(value)
    return CosAnswer(status, error, server_time, after_200)


# The one Date format HTTP servers send (RFC 9110 IMF-fixdate), e.g. "Sun, 06 Nov 1994 08:49:37 GMT".
_IMF_FIXDATE = re.compile(r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), ([0-9]{2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|"
                          r"Nov|Dec) ([0-9]{4}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) GMT\Z")
_MONTHS = {name: number for number, name in enumerate(calendar.month_abbr) if name}


def _http_date(value: str | None) -> int | None:
    """Unix time of a Date header; every COS answer has one, so the usual format is read directly
    (email.utils costs ten times more); anything else goes the general way."""
    if not value:
        return None
    m = _IMF_FIXDATE.match(value)
    if m:
        day, month, year, hour, minute, second = m.groups()
        # Days 29-31, leap seconds and years before 1970 take the general path (its rules for them).
        if 1 <= int(day) <= 28 and int(year) >= 1970 and int(hour) <= 23 and int(minute) <= 59 \
                and int(second) <= 59:
            return calendar.timegm((int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second)))
    try:
        return int(parsedate_to_datetime(value).timestamp())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def answer_id(analysis: Analysis | None, answer: CosAnswer) -> str | None:
    """The catalogue ID for COS's answer; None for a success."""
    if answer.ok:
        return None
    if answer.error is None or not answer.error.code:
        return f"Unknown_HTTP{answer.status}"
    code = answer.error.code
    message = normalise_message(answer.error.message or "")
    form = analysis is None or analysis.is_form        # no analysis: saved POST Object traffic
    found_id = _mapped_id(analysis, code, message, form)
    only = ONLY_FOR.get(found_id) if found_id is not None else None
    if only is not None and (analysis is None or analysis.operation not in only):
        found_id = None
    if found_id is not None and (form or found_id not in FORM_ONLY_IDS):
        if found_id != "MethodNotAllowed_PresignedURL" or form or (
                analysis is not None and analysis.auth == "query" and analysis.request.method.upper() == "POST"):
            return found_id
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "", code)[:64].lstrip("._-")
    return "Unknown_" + (cleaned or "Code")


def _mapped_id(analysis: Analysis | None, code: str, message: str, form: bool) -> str | None:
    family = FAMILY_BY_CODE.get(code)
    if code == "SignatureDoesNotMatch":
        if not form:
            return "SignatureDoesNotMatch_Authorization"
        return family[1] if analysis is not None and analysis.mode == "signature-field" else family[0]
    if family and analysis is not None:
        for found in analysis.findings:
            if found["id"] in family:
                return found["id"]
    for answer_code, pattern, finding_id in ANSWERS:
        if code == answer_code and (pattern is None or re.search(pattern, message, re.I)):
            if not form and finding_id in FORM_ONLY_IDS:
                continue
            return finding_id
    return family[0] if family and code not in NO_DEFAULT else None


def explain(analysis: Analysis, answer: CosAnswer, local_now: int,
            credentials: CredentialStore | None = None) -> list[dict]:
    """Findings for one COS flow: COS's answer explained first, then the request's own findings.
    `credentials`: the SecretKey of a header or query signature is looked up by its q-ak."""
    predicted = verdict(analysis)
    response_id = answer_id(analysis, answer)
    results: list[dict] = []
    if response_id is not None:
        evidence = _response_evidence(analysis, answer, response_id, local_now)
        if not analysis.is_form and analysis.xml_signature is not None:
            _signed_request_evidence(analysis, answer, response_id, local_now, credentials, evidence)
        results.append(catalogue.finding(response_id, "response", redact_evidence(evidence)))
    for found in analysis.findings:
        if found["id"] == response_id:
            continue
        if answer.ok and found["severity"] == "error":
            continue                      # COS accepted it: our prediction was wrong (reported below)
        results.append(found)
    if answer.error_after_200:
        results.append(catalogue.finding("Warning_CompleteErrorAfter200", "response", {
            "code": answer.error.code if answer.error else None, "upload_id": analysis.upload_id}))
    disagreement = _disagreement(predicted, response_id, answer) if _predicted_anything(analysis) else None
    if disagreement:
        results.append(catalogue.finding("Warning_PreflightDisagreement", "response", disagreement))
    if answer.server_time is not None and abs(local_now - answer.server_time) > 60:
        if response_id not in ("AccessDenied_Expiration", "RequestTimeTooSkewed_ClockSkew",
                               "AccessDenied_RequestExpired"):
            results.append(catalogue.finding("Warning_ClockSkew", "response",
                                             {"clock_skew_s": local_now - answer.server_time}))
    return sort_findings(results)


def _signed_request_evidence(analysis: Analysis, answer: CosAnswer, finding_id: str, local_now: int,
                             credentials: CredentialStore | None, evidence: dict) -> None:
    """A header-signed or presigned request's answer, explained from the request and COS's own
    FormatString / StringToSign / ServerTime when it sent them."""
    sa = analysis.xml_signature
    extra = dict(answer.error.extra) if answer.error is not None else {}
    if finding_id == "SignatureDoesNotMatch_Authorization":
        cos_fs, cos_sts = extra.get("FormatString"), extra.get("StringToSign")
        if cos_fs is not None or cos_sts is not None or answer.server_time is not None:
            sa = signed_request_signature(analysis, credentials, server_now=answer.server_time or analysis.now,
                                          cos_format_string=cos_fs, cos_string_to_sign=cos_sts)
        for name in ("cos_stringtosign", "cos_formatstring"):
            evidence.pop(name, None)                      # the contract's names come with the analysis
        evidence.update(signature_evidence(analysis, sa))
    elif finding_id == "AccessDenied_RequestExpired":
        server_now = answer.server_time if answer.server_time is not None else analysis.now
        evidence.update(request_expired_evidence(sa, server_now,
                                                 local_now if answer.server_time is not None else None))
    elif finding_id == "AccessDenied_StrictSignature":
        auth = sa.auth
        raw_path, raw_query = split_target(analysis.request.path)
        params = request_parts(analysis.request.method, raw_path, raw_query, {}).params
        evidence.update({
            "unsigned_headers": strict_unsigned_headers(analysis.request.headers, auth.header_list if auth else ()),
            "unsigned_params": strict_unsigned_params(params, auth.param_list if auth else ()) or None,
            "header_list": ";".join(auth.header_list) if auth else None,
            "url_param_list": ";".join(auth.param_list) if auth else None})
    elif finding_id == "AccessDenied_NoPermission":
        evidence.update({"q_ak": analysis.q_ak, "token_present": analysis.token_in is not None,
                         "auth": analysis.auth, "operation": analysis.operation})
    if sa.token_missing and "token_missing" not in evidence:
        evidence["token_missing"] = True


def sort_findings(findings: list[dict]) -> list[dict]:
    """The one order of every surface, most important first: errors, then warnings, then info
    (catalogue.SEVERITIES); within each, what COS answered before what the proxy predicted;
    otherwise as found. So COS's own error always leads, a CORS warning never goes before it."""
    return sorted(findings, key=lambda f: (catalogue.severity_rank(f["severity"]), f["phase"] != "response"))


def _predicted_anything(analysis: Analysis) -> bool:
    """False when the request could not be checked at all (saved traffic without its body)."""
    return analysis.request.body is not None or verdict(analysis) is not None


def _disagreement(predicted: dict | None, response_id: str | None, answer: CosAnswer) -> dict | None:
    predicted_id = predicted["id"] if predicted else None
    if predicted_id == response_id:
        return None
    if response_id is not None and not _predictable(response_id):
        return None
    return {"preflight": predicted_id or "accept", "cos": response_id or "accept", "cos_status": answer.status,
            "cos_code": answer.error.code if answer.error else None}


def _predictable(finding_id: str) -> bool:
    """Answers a request-only check could have foreseen (not permissions, tokens or server trouble)."""
    return finding_id in PREDICTABLE_IDS


PREDICTABLE_IDS = frozenset({
    "AccessDenied_q-ak", "AccessDenied_Expiration", "SignatureDoesNotMatch_POSTSignature",
    "InvalidPolicyDocument_JSONFormat", "AccessDenied_BucketNotConsistent", "AccessDenied_Condition",
    "MalformedPOSTRequest_POSTBody", "EntityTooLarge_ContentLengthRange",
    "EntityTooSmall_ContentLengthRange", "EntityTooLarge_MaxObjectSize",
    "IncorrectNumberOfFilesInPostRequest_FileCount", "InvalidPolicyDocument_Base64",
    "InvalidPolicyDocument_Expiration", "InvalidPolicyDocument_Condition",
    "SignatureDoesNotMatch_SignatureField", "InvalidArgument_MissingField",
    "InvalidArgument_TrafficLimit", "KeyTooLong_ObjectKey", "InvalidDigest_ContentMD5",
})


def _response_evidence(analysis: Analysis, answer: CosAnswer, finding_id: str, local_now: int) -> dict:
    evidence: dict[str, object] = {}
    for found in analysis.findings:           # the request-side facts, when the check saw it too
        if found["id"] == finding_id:
            evidence.update(found["evidence"])
            break
    error = answer.error
    message = normalise_message(error.message or "") if error else ""      # for matching only
    if error is not None:
        evidence.update({"code": error.code, "message": error.message, "request_id": error.request_id})
        for name, value in error.extra:
            if name in ("StringToSign", "FormatString", "ServerTime"):
                evidence["cos_" + name.lower()] = value
    else:
        evidence.setdefault("status", answer.status)
    if finding_id in ("AccessDenied_Condition", "AccessDenied_q-ak", "AccessDenied_BucketNotConsistent",
                      "EntityTooLarge_ContentLengthRange", "EntityTooSmall_ContentLengthRange"):
        _condition_from_message(analysis, message, finding_id, evidence)
    elif finding_id == "AccessDenied_Expiration":
        _expiration_from_message(analysis, answer, message, local_now, evidence)
    elif finding_id in ("SignatureDoesNotMatch_POSTSignature", "SignatureDoesNotMatch_SignatureField"):
        if "verified" not in evidence:
            evidence.update(_unverified_signature(analysis))
    elif finding_id == "MalformedPOSTRequest_POSTBody" and "reason" not in evidence:
        _malformed_reason(analysis, evidence)
    elif finding_id == "RequestTimeTooSkewed_ClockSkew" and answer.server_time is not None:
        evidence["clock_skew_s"] = local_now - answer.server_time
    elif finding_id == "AccessDenied_NoPermission":
        form = analysis.form
        evidence.update({"key": analysis.key if form is not None or not analysis.is_form
                         else _key_of(error, analysis.bucket),
                         "bucket": analysis.bucket,
                         "q_ak": analysis.q_ak,
                         "token_present": form.has("x-cos-security-token") if form is not None else None})
    elif finding_id == "InvalidAccessKeyId_SecretId":
        evidence["q_ak"] = analysis.q_ak
    elif finding_id == "AccessDenied_RefererRule":
        headers = analysis.request.headers
        evidence.update({"referer": headers.get("referer"), "origin": headers.get("origin")})
    return evidence


def _key_of(error: CosErrorDoc | None, bucket: str | None) -> str | None:
    """The object key COS names in <Resource> (host/key or bucket/key), when the form is unknown."""
    resource = (error.resource or "") if error is not None else ""
    host, sep, key = resource.partition("/")
    if not sep or not key:
        return None
    if bucket and key.startswith(bucket + "/") and bucket not in host:
        key = key[len(bucket) + 1:]                       # path-style: /bucket-appid/key
    return key or None


def _condition_from_message(analysis: Analysis, message: str, finding_id: str, evidence: dict) -> None:
    match = CONDITION_FIELD_RE.match(message)
    field_name = match.group(1) if match else ("content-length-range" if "ContentLengthRange" in finding_id else None)
    if field_name is None:
        return
    result = analysis.condition_for(field_name)
    if result is not None:
        evidence.update(condition_evidence(result))
    else:
        lname = field_name.lower()
        evidence.setdefault("field", lname)
        if lname == "bucket":
            actual = analysis.bucket                      # the Host's bucket, form or not
        else:
            actual = analysis.form.get(field_name) if analysis.form else None
        evidence.setdefault("actual", actual)
        evidence.setdefault("condition", None)
        evidence.setdefault("index", None)
        evidence.setdefault("expected", None)
        if analysis.form is None:
            evidence.setdefault("why", "unchecked")       # the body was not recorded
    if match and match.group(2) != evidence.get("actual"):
        evidence["cos_value"] = match.group(2)            # what COS quotes, when it says more


def _expiration_from_message(analysis: Analysis, answer: CosAnswer, message: str, local_now: int,
                             evidence: dict) -> None:
    match = EXPIRED_RE.search(message)
    server_now = int(match.group(2)) if match else answer.server_time
    if analysis.policy is not None and analysis.policy.expiration_unix is not None:
        evidence.update(expiration_evidence(analysis.policy, analysis.form, local_now,
                                            server_now=server_now, local_now=local_now))
    if match:
        evidence["expiration_unix"] = int(match.group(1))
        evidence["now_unix"] = int(match.group(2))
        evidence["expired_for_s"] = int(match.group(2)) - int(match.group(1))
    if answer.server_time is not None:
        evidence["clock_skew_s"] = local_now - answer.server_time


def _unverified_signature(analysis: Analysis) -> dict:
    check = analysis.signature
    return {"verified": bool(check and check.verified), "mistake": check.mistake if check else None,
            "string_to_sign": check.string_to_sign if check else None}


def _malformed_reason(analysis: Analysis, evidence: dict) -> None:
    form = analysis.form
    trailing = form.multipart.parts[form.file.index + 1:] if form is not None and form.file else ()
    if trailing:
        evidence.update({"reason": "file-not-last", "offset": trailing[0].start, "detail": "file-not-last",
                         "fields": [p.name or "" for p in trailing]})
    else:
        evidence.update({"reason": None, "offset": None,
                         "detail": "parsed-cleanly" if form is not None else "body-not-recorded"})
