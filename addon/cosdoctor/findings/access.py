"""COS's bare "Access Denied.", explained with the permission this request needs.

COS never says which permission was missing (cos-xml-api.md §6.3); the request does: its CAM
action and resource, every action the whole upload needs (the SDKs list uploads and parts before
they upload), whether the key is temporary and its token was sent, and, when the proxy saw the
app's STS endpoint hand the key out, which flow that was and whether the key had expired.
"""
from __future__ import annotations

from cosdoctor.cos.cam import cam_action, cam_resource, upload_actions
from cosdoctor.cos.credentials import CredentialStore
from cosdoctor.findings import catalogue
from cosdoctor.findings.credential_origin import CredentialOrigins
from cosdoctor.findings.request_checks import Analysis
from cosdoctor.findings.sessions import UploadSessions

__all__ = ["explain_access_denied", "ACCESS_IDS"]

ACCESS_IDS = frozenset({"AccessDenied_NoPermission"})
# Part and Complete calls send no ACL or Content-Type: a condition on them without _if_exist
# denies the part although Initiate (which sends them) was allowed (cos-js-sdk-v5#218).
_PART_OPERATIONS = frozenset({"UploadPart", "CompleteMultipartUpload", "ListParts"})


def explain_access_denied(findings: list[dict], analysis: Analysis, *, request_time: int,
                          credentials: CredentialStore | None = None,
                          origins: CredentialOrigins | None = None,
                          sessions: UploadSessions | None = None) -> list[dict]:
    """`findings` with every AccessDenied_NoPermission given its CAM action, resource and key facts."""
    if not any(f["id"] in ACCESS_IDS for f in findings):
        return findings
    evidence = access_evidence(analysis, request_time=request_time, credentials=credentials,
                               origins=origins, sessions=sessions)
    out = []
    for found in findings:
        if found["id"] in ACCESS_IDS:
            found = catalogue.finding(found["id"], found["phase"], {**found["evidence"], **evidence})
        out.append(found)
    return out


def access_evidence(analysis: Analysis, *, request_time: int, credentials: CredentialStore | None = None,
                    origins: CredentialOrigins | None = None, sessions: UploadSessions | None = None) -> dict:
    cos = analysis.cos_request
    operation = analysis.operation
    action = cam_action(operation, key=analysis.key, method=cos.method if cos else None,
                        sub_resources=cos.sub_resources if cos else frozenset())
    ak = _secret_id(analysis)
    token = _token(analysis)
    origin = origins.lookup(ak) if origins is not None else None
    known = credentials.by_id.get(ak) if credentials is not None and ak else None
    temporary = True if (token is not None or origin is not None or (known is not None and known.token)) else None
    evidence: dict[str, object] = {
        "cam_action": action,
        "cam_resource": cam_resource(analysis.region, analysis.bucket, analysis.key),
        "actions_needed": list(upload_actions(action)),
        "q_ak": ak, "temporary_key": temporary, "token_sent": token is not None,
        "credential_origin": origin.evidence(request_time, token) if origin is not None else None,
        "credential_flow": origin.flow_id if origin is not None else None,
        "credential_url": origin.url if origin is not None else None,
    }
    if origin is not None and origin.expired_time is not None:
        evidence["key_expired"] = request_time >= origin.expired_time
    session = sessions.get(analysis.upload_id) if sessions is not None else None
    if operation in _PART_OPERATIONS and session is not None and session.initiated_by is not None:
        evidence["initiate_allowed"] = True          # the same upload's Initiate was let through
        evidence["flows"] = list(session.flows)
    return evidence


def _secret_id(analysis: Analysis) -> str | None:
    if analysis.form is not None:
        return analysis.form.get("q-ak")
    sa = analysis.xml_signature
    return sa.auth.ak if sa is not None and sa.auth is not None else None


def _token(analysis: Analysis) -> str | None:
    if analysis.form is not None:
        return analysis.form.get("x-cos-security-token")
    if analysis.token_in == "header":
        return analysis.request.headers.get("x-cos-security-token")
    if analysis.token_in == "query" and analysis.cos_request is not None:
        for param in analysis.cos_request.query:
            if param.name.lower() == "x-cos-security-token":
                return param.value
    return None
