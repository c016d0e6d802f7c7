"""COS's bare "Access Denied.", explained with the CAM action, resource and the key's origin."""
from __future__ import annotations

from cosdoctor.cos.cam import MULTIPART_ACTIONS, cam_action, cam_resource
from cosdoctor.cos.hosts import parse_cos_host
from cosdoctor.findings.credential_origin import CredentialOrigins
from cosdoctor.findings.diagnose import PlainResponse, diagnose_exchange, request_for
from cosdoctor.render.words import render_finding
from cosdoctor.wire.errorxml import render_error_xml
from finding_fixtures import (BUCKET, HOST, MiB, NOW, SECRET_ID, UPLOAD_ID, UPLOAD_KEY, issued_key, part_target,
                              uploaded, xml_auth)

DENIED = PlainResponse(403, {}, render_error_xml("AccessDenied", "Access Denied.", HOST + "/" + UPLOAD_KEY, "rid"), NOW)


def denied_part(token: str | None, sessions=None, origins=None):
    headers = {"host": HOST, "content-length": str(MiB)}
    auth = xml_auth("PUT", "/" + UPLOAD_KEY, headers, params={"partNumber": "2", "uploadId": UPLOAD_ID})
    headers = {**headers, "authorization": auth, **({"x-cos-security-token": token} if token else {})}
    request = request_for("PUT", HOST, part_target(2), headers, b"", parse_cos_host(HOST))
    return diagnose_exchange(request, DENIED, now=NOW, sessions=sessions, credential_origins=origins, flow_id="f-part2")


def test_cam_action_and_resource_of_each_upload_call():
    assert cam_action("UploadPart") == "name/cos:UploadPart"
    assert cam_action("Other", key=None, method="GET", sub_resources=frozenset({"uploads"})) == \
        "name/cos:ListMultipartUploads"
    assert cam_action("Preflight") is None
    assert cam_resource("ap-beijing", BUCKET, "a/b.txt") == "qcs::cos:ap-beijing:uid/1250000000:examplebucket-1250000000/a/b.txt"
    assert cam_resource("ap-beijing", "custom.example.com", "a") is None


def test_a_denied_part_names_its_action_the_whole_upload_and_the_issuing_flow():
    d = denied_part("sts-session-token", sessions=uploaded((1, MiB))(), origins=issued_key(NOW - 10)())
    (found,) = d.findings
    e = found["evidence"]
    assert found["id"] == "AccessDenied_NoPermission"
    assert e["cam_action"] == "name/cos:UploadPart" and e["actions_needed"] == list(MULTIPART_ACTIONS)
    assert e["cam_resource"].endswith(f":{BUCKET}/{UPLOAD_KEY}")
    assert (e["temporary_key"], e["token_sent"], e["credential_flow"], e["key_expired"]) == (True, True, "f-sts", True)
    assert e["credential_origin"]["token_matches"] is True and e["initiate_allowed"] is True
    words = render_finding(found)
    assert "name/cos:UploadPart" in words["title"] and "_if_exist" in words["cause"] and "expired" in words["cause"]
    assert "name/cos:ListMultipartUploads" in words["fix"]


def test_a_temporary_key_sent_without_its_token_is_said():
    (found,) = denied_part(None, origins=issued_key()()).findings
    assert (found["evidence"]["temporary_key"], found["evidence"]["token_sent"]) == (True, False)
    assert "No x-cos-security-token was sent" in render_finding(found)["cause"]


def test_the_sts_answer_keeps_no_secret_key():
    origins = issued_key()()
    kept = repr(origins.lookup(SECRET_ID))
    assert "not-kept" not in kept and "sts-session-token" not in kept
    assert CredentialOrigins().observe(flow_id="x", method="GET", url="u", time="t", time_unix=0,
                                       body=b'{"tmpSecretId": ' + b"[" * 5000 + b"}") is False
