"""Header-signed and presigned requests: recognised, pre-flight verdicts, COS's answers explained.

Requests are built the way a client signs them (tests/unit/finding_fixtures.py `xml_auth`), then run
through the one pipeline; COS's answers carry the real FormatString captures of cos-xml-api.md §4.1.
"""
from __future__ import annotations

import hashlib
import json
from email.utils import formatdate
from urllib.parse import quote

import pytest

from cosdoctor.cos.hosts import parse_cos_host
from cosdoctor.cos.secrets import shorten_url
from cosdoctor.findings.diagnose import PlainResponse, block_answer, diagnose_exchange, request_for
from cosdoctor.findings.request_checks import analyse_request, is_certain, verdict
from cosdoctor.render.jsonl import record
from cosdoctor.render.text import flow_comment, metadata
from cosdoctor.render.words import render_finding
from cosdoctor.wire.errorxml import render_error_xml
from finding_fixtures import (CREDENTIALS, HOST, NOW, SECRET_ID, key_time, presigned, signature_field_spec,
                              signed_put, xml_auth)

ENDPOINT = parse_cos_host(HOST)


def req(method: str, target: str, headers: dict, body: bytes = b""):
    return request_for(method, HOST, target, headers, body, ENDPOINT)


def answer(status: int, code: str, message: str, details=(), date: int = NOW, local: int = NOW) -> PlainResponse:
    xml = render_error_xml(code, message, HOST + "/k", "rid", details=list(details), indented=True)
    return PlainResponse(status, {"date": formatdate(date, usegmt=True)}, xml, local)


def ids(findings) -> list[str]:
    return [f["id"] for f in findings]


# --- recognition ------------------------------------------------------------------------------

@pytest.mark.parametrize("method, target, operation, upload_id, part_number", [
    ("PUT", "/a%20b.txt", "PutObject", None, None),
    ("POST", "/big.bin?uploads", "InitiateMultipartUpload", None, None),
    ("PUT", "/big.bin?partNumber=3&uploadId=u-1", "UploadPart", "u-1", 3),
    ("POST", "/big.bin?uploadId=u-1", "CompleteMultipartUpload", "u-1", None),
    ("GET", "/a%20b.txt", "GetObject", None, None),
])
def test_every_request_is_recognised_and_never_parsed_as_a_form(method, target, operation, upload_id, part_number):
    headers = {"host": HOST, "content-type": "multipart/form-data; boundary=x",
               "authorization": xml_auth(method, "/x", {"host": HOST})}
    analysis = analyse_request(req(method, target, headers, b"--x--\r\n"), None, NOW)
    assert analysis.form is None and analysis.operation == operation
    assert analysis.auth == analysis.mode == "header"
    assert (analysis.upload_id, analysis.part_number) == (upload_id, part_number)
    assert "MalformedPOSTRequest_POSTBody" not in ids(analysis.findings)


def test_key_decoded_as_cos_decodes_it_and_token_place():
    target = "/uploads/" + quote("页面") + "+1.txt?x-cos-security-token=tok"
    analysis = analyse_request(req("GET", target, {"host": HOST}), None, NOW)
    assert analysis.key == "uploads/页面 1.txt" and analysis.auth == "anonymous"
    assert analysis.token_in == "query" and analysis.findings == []


def test_post_object_form_is_still_a_form():
    body, ctype = signature_field_spec().encode(boundary="b")
    analysis = analyse_request(req("POST", "/", {"host": HOST, "content-type": ctype,
                                                 "content-length": str(len(body))}, body), CREDENTIALS, NOW)
    assert analysis.operation == "PostObject" and analysis.auth == "signature-field" and analysis.findings == []


# --- valid requests stay quiet and cheap ---------------------------------------------------------

@pytest.mark.parametrize("credentials", [None, CREDENTIALS], ids=["no-key", "key"])
def test_valid_put_and_presigned_get_have_no_findings(credentials):
    put = diagnose_exchange(req("PUT", "/uploads/a.txt", signed_put()), PlainResponse(200, {}, b"", NOW),
                            now=NOW, credentials=credentials)
    get = diagnose_exchange(req("GET", presigned("GET"), {"host": HOST}), PlainResponse(200, {}, b"", NOW),
                            now=NOW, credentials=credentials)
    assert put.findings == [] and get.findings == []
    analysis = analyse_request(req("PUT", "/uploads/a.txt", signed_put()), credentials, NOW)
    assert analysis.xml_signature.variants_tried <= 1            # verified at most: no mistake search


# --- COS's FormatString captures (cos-xml-api.md §4.1) ------------------------------------------------

PICGO_HOST = "o2-1258123310.cos.ap-beijing.myqcloud.com"
PICGO_FS = f"put\n/imagesresume-zh en_页面_1.png\n\nhost={PICGO_HOST}\n"


def picgo(credentials):
    """PicGo#638: the client signed the key with a raw '+' and sent it raw; COS read a space."""
    headers = {"host": PICGO_HOST}
    auth = xml_auth("PUT", "/imagesresume-zh+en_页面_1.png", headers, kt=key_time())
    raw = "/imagesresume-zh+en_" + quote("页面") + "_1.png"
    sts = f"sha1\n{key_time()}\n{hashlib.sha1(PICGO_FS.encode()).hexdigest()}\n"
    request = request_for("PUT", PICGO_HOST, raw, {**headers, "authorization": auth}, b"", parse_cos_host(PICGO_HOST))
    return diagnose_exchange(request, answer(403, "SignatureDoesNotMatch", "The Signature you specified is invalid.",
                                             [("StringToSign", sts), ("FormatString", PICGO_FS)]),
                             now=NOW, credentials=credentials)


@pytest.mark.parametrize("credentials", [None, CREDENTIALS], ids=["no-key", "key"])
def test_picgo_capture_is_a_plus_read_as_space_never_a_post_policy_problem(credentials):
    d = picgo(credentials)
    assert ids(d.findings) == ["SignatureDoesNotMatch_Authorization"]
    e = d.findings[0]["evidence"]
    assert e["cos_format_string"] == PICGO_FS and e["http_string"] == PICGO_FS and e["differences"] == []
    assert e["difference"] == "path-plus-as-space" and e["read_as"] == "/imagesresume-zh en_页面_1.png"
    assert e["header_list"] == "host" and e["url_param_list"] == ""
    if credentials is None:
        assert e["verified"] is False and "expected_signature" not in e
    else:
        assert e["verified"] is True and e["mistake"] == "signed-other-path"
        assert e["signed_as"] == "/imagesresume-zh+en_页面_1.png" and "…" in e["expected_signature"]
    text = flow_comment(d, "en")
    assert "COS read the key as '/imagesresume-zh en_页面_1.png' (a raw + in a URL path is a space)" in text
    assert "send + as %2B" in text and "policy" not in text.lower()
    assert "SignatureDoesNotMatch_POSTSignature" not in text and "PreflightDisagreement" not in text


CHARSET_HOST = "test-app-1251021022.cos.ap-guangzhou.myqcloud.com"
CHARSET_FS = ("put\n/\ncors=\ncontent-length=454&content-md5=DfuiC7IOBwIeiVanWPG%2FKg%3D%3D&content-type=application%2Fxml"
              "%3B%20charset%3Dutf-8&date=Wed%2C%2019%20Oct%202022%2005%3A49%3A28%20GMT&host=" + CHARSET_HOST + "\n")


def test_charset_added_to_a_signed_content_type_is_named():
    sent = {"host": CHARSET_HOST, "content-length": "454", "content-md5": "DfuiC7IOBwIeiVanWPG/Kg==",
            "content-type": "application/xml", "date": "Wed, 19 Oct 2022 05:49:28 GMT"}
    auth = xml_auth("PUT", "/", sent, params={"cors": ""}, kt="1666158568;1666218568")
    sts = f"sha1\n1666158568;1666218568\n{hashlib.sha1(CHARSET_FS.encode()).hexdigest()}\n"
    request = request_for("PUT", CHARSET_HOST, "/?cors", {**sent, "authorization": auth}, b"",
                          parse_cos_host(CHARSET_HOST))
    d = diagnose_exchange(request, answer(403, "SignatureDoesNotMatch", "The Signature you specified is invalid.",
                                          [("StringToSign", sts), ("FormatString", CHARSET_FS)], date=1666158600,
                                          local=1666158600),
                          now=1666158600, credentials=None)
    (found,) = d.findings
    e = found["evidence"]
    assert found["id"] == "SignatureDoesNotMatch_Authorization"
    assert e["differences"] == [{"part": "headers", "name": "content-type", "sent": "application%2Fxml",
                                 "cos": "application%2Fxml%3B%20charset%3Dutf-8"}]
    assert e["mistake"] == "signed-header-changed" and e["difference"] == "header"
    assert "COS received content-type as 'application%2Fxml%3B%20charset%3Dutf-8'" in render_finding(found)["cause"]


# --- other answers and pre-flight verdicts -----------------------------------------------------------

def test_expired_presigned_url_is_certain_and_blocked_with_cos_words():
    target = presigned("GET", kt=key_time(NOW - 3600, NOW - 600))
    analysis = analyse_request(req("GET", target, {"host": HOST}), None, NOW)
    assert ids(analysis.findings) == ["AccessDenied_RequestExpired"]
    assert analysis.findings[0]["evidence"]["expired_for_s"] == 600
    local = block_answer(analysis, "rid", HOST + "/uploads/a.txt")
    assert local is not None and local.status == 403
    assert b"<Code>AccessDenied</Code>" in local.body and b"<Message>Request has expired</Message>" in local.body


def test_request_expired_answer_against_cos_server_time():
    target = presigned("GET", kt=key_time(NOW - 900, NOW + 100))
    d = diagnose_exchange(req("GET", target, {"host": HOST}),
                          answer(403, "AccessDenied", "Request has expired", date=NOW + 400), now=NOW)
    (found,) = [f for f in d.findings if f["id"] == "AccessDenied_RequestExpired"]
    assert found["evidence"]["expired_for_s"] == 300 and found["evidence"]["clock_skew_s"] == -400
    assert found["evidence"]["now_unix"] == NOW + 400


def test_listed_header_not_sent_is_an_error_block_mode_leaves_to_cos():
    headers = signed_put(extra={"x-cos-meta-a": "1"})
    del headers["x-cos-meta-a"]
    analysis = analyse_request(req("PUT", "/uploads/a.txt", headers), None, NOW)
    found = verdict(analysis)
    assert found["id"] == "SignatureDoesNotMatch_Authorization" and not is_certain(analysis, found)
    assert found["evidence"]["difference"] == "header-missing" and found["evidence"]["difference_name"] == "x-cos-meta-a"
    assert block_answer(analysis, "rid", "r") is None


def test_wrong_key_pre_flight_is_an_uncertain_error():
    analysis = analyse_request(req("PUT", "/uploads/a.txt", signed_put(secret="x" * 32)), CREDENTIALS, NOW)
    found = verdict(analysis)
    assert found["id"] == "SignatureDoesNotMatch_Authorization" and found["evidence"]["mistake"] == "wrong-secret-key"
    assert block_answer(analysis, "rid", "r") is None


def test_strict_signature_names_the_headers_to_sign():
    headers = {**signed_put(), "content-type": "image/png", "x-cos-meta-x": "1"}
    d = diagnose_exchange(req("PUT", "/uploads/a.txt", headers),
                          answer(403, "AccessDenied", "Strict signature missing header that must be signed"), now=NOW)
    (found,) = d.findings
    assert found["id"] == "AccessDenied_StrictSignature"
    assert found["evidence"]["unsigned_headers"] == ["content-type", "x-cos-meta-x"]
    assert "content-type, x-cos-meta-x" in render_finding(found)["fix"]


def test_cors_preflight_of_a_presigned_put_url_is_not_checked_as_signed():
    """The browser's OPTIONS for a presigned PUT carries the URL's query, signed for PUT; COS answers
    preflights without authentication, so no signature verdict (found by the HTTPS browser test)."""
    headers = {"host": HOST, "origin": "http://127.0.0.1:8000", "access-control-request-method": "PUT"}
    cors = {"access-control-allow-origin": "*", "access-control-allow-methods": "PUT"}
    d = diagnose_exchange(req("OPTIONS", presigned("PUT"), headers), PlainResponse(200, cors, b"", NOW),
                          now=NOW, credentials=CREDENTIALS)
    assert d.findings == []


def test_presigned_url_used_with_post():
    d = diagnose_exchange(req("POST", presigned("PUT"), {"host": HOST}),
                          answer(405, "MethodNotAllowed", "The specified method is not allowed."), now=NOW)
    assert ids(d.findings)[0] == "MethodNotAllowed_PresignedURL"


def test_presigned_url_for_get_used_with_put_names_the_method():
    d = diagnose_exchange(req("PUT", presigned("GET"), {"host": HOST}),
                          answer(403, "SignatureDoesNotMatch", "The Signature you specified is invalid."),
                          now=NOW, credentials=CREDENTIALS)
    e = d.findings[0]["evidence"]
    assert e["mistake"] == "signed-other-method" and e["difference"] == "method" and e["presigned"] is True
    assert render_finding(d.findings[0])["title"] == "The presigned URL's signature does not match the request"


@pytest.mark.parametrize("code, message", [("EntityTooSmall", "Your proposed upload is smaller than the minimum."),
                                           ("InvalidArgument", "Invalid part number."),
                                           ("MalformedPOSTRequest", "x")])
def test_answers_without_a_cause_keep_cos_message(code, message):
    """A simple PUT has no part to be too small, nor a form: COS's Message is the explanation."""
    target = "/uploads/a.txt" if code == "EntityTooSmall" else "/uploads/a.txt?partNumber=1&uploadId=u"
    d = diagnose_exchange(req("PUT", target, signed_put()), answer(400, code, message), now=NOW)
    assert ids(d.findings) == [f"Unknown_{code}"]
    assert d.findings[0]["evidence"]["message"] == message


def test_signature_field_signed_for_the_object_put_is_another_request_not_a_wrong_key():
    from cosdoctor.cos.signature import header_signature
    kt = key_time()
    signature = header_signature("BQYIM75p8x0iWVFSIgqEKwFprpRSVHlz", kt, "put", "/uploads/a.txt", [], []).signature
    spec = signature_field_spec()
    spec.set("Signature", f"q-sign-algorithm=sha1&q-ak={SECRET_ID}&q-sign-time={kt}&q-key-time={kt}"
                          f"&q-header-list=&q-url-param-list=&q-signature={signature}")
    body, ctype = spec.encode(boundary="b")
    analysis = analyse_request(req("POST", "/", {"host": HOST, "content-type": ctype,
                                                 "content-length": str(len(body))}, body), CREDENTIALS, NOW)
    (found,) = analysis.findings
    assert found["id"] == "SignatureDoesNotMatch_SignatureField"
    assert found["evidence"]["mistake"] == "signed-other-method" and found["evidence"]["difference"] == "request"
    cause = render_finding(found)["cause"]
    assert "put /uploads/a.txt" in cause and "not with a wrong key" in cause


# --- secrets -------------------------------------------------------------------------------------------

def test_presigned_url_signature_and_token_shortened_in_every_output():
    token = "sts-token-" + "Ab9" * 20
    target = presigned("GET", kt=key_time(NOW - 3600, NOW - 600), token=token)
    signature = target.split("q-signature=")[1].split("&")[0]
    url = f"https://{HOST}{target}"
    assert signature not in shorten_url(url) and token not in shorten_url(url)
    assert signature[:4] + "…" + signature[-4:] in shorten_url(url)
    assert shorten_url("https://h/a.txt?x=1") == "https://h/a.txt?x=1" and shorten_url(None) is None
    d = diagnose_exchange(req("GET", target, {"host": HOST}), answer(403, "AccessDenied", "Request has expired"),
                          now=NOW)
    meta = metadata(d)
    rec = record(time="t", flow_id="f", client=None, method="GET", url=url, host=HOST, bucket=meta["bucket"],
                 region=meta["region"], key=meta["key"], status=d.status, error=d.error, findings=meta["findings"],
                 action="forwarded", operation=meta["operation"], auth=meta["auth"], upload_id=meta["upload_id"],
                 part_number=meta["part_number"])
    dumped = json.dumps([rec, flow_comment(d)], ensure_ascii=False)
    assert signature not in dumped and token not in dumped
    assert rec["operation"] == "GetObject" and rec["auth"] == "query" and rec["upload_id"] is None


def test_authorization_signature_shortened_in_findings():
    headers = signed_put(secret="y" * 32)
    signature = headers["authorization"].split("q-signature=")[1]
    d = diagnose_exchange(req("PUT", "/uploads/a.txt", headers), answer(403, "SignatureDoesNotMatch",
                          "The Signature you specified is invalid."), now=NOW, credentials=CREDENTIALS)
    assert signature not in json.dumps(d.findings) + flow_comment(d)


@pytest.mark.parametrize("authorization", ["", "q-sign-algorithm=sha1", "q-sign-algorithm=sha1&q-ak=" + "9" * 5000,
                                           "q-sign-algorithm=sha1&q-ak=a&q-sign-time=" + "1" * 4000 + ";2&q-signature=x",
                                           "\x00\x01q-signature=zz&q-ak=\u00e9"])
def test_absurd_authorization_gives_a_finding_or_nothing(authorization):
    d = diagnose_exchange(req("PUT", "/a", {"host": HOST, "authorization": authorization}),
                          answer(403, "SignatureDoesNotMatch", "The Signature you specified is invalid."),
                          now=NOW, credentials=CREDENTIALS)
    assert ids(d.findings)[:1] in ([], ["SignatureDoesNotMatch_Authorization"])
    flow_comment(d, "zh")


def test_a_cdn_that_rewrote_the_host_after_signing_is_named():
    """Issue 11 item 3: signed for the CDN domain the page talks to; the CDN sent COS the bucket host,
    so COS's FormatString has another host than the request the proxy saw."""
    cdn = "img.example.com"
    sent = {"host": cdn, "content-length": "5"}
    kt = key_time()
    auth = xml_auth("PUT", "/a.txt", sent, kt=kt)
    cos_fs = f"put\n/a.txt\n\ncontent-length=5&host={HOST}\n"
    sts = f"sha1\n{kt}\n{hashlib.sha1(cos_fs.encode()).hexdigest()}\n"
    request = request_for("PUT", cdn, "/a.txt", {**sent, "authorization": auth}, b"", None)
    d = diagnose_exchange(request, answer(403, "SignatureDoesNotMatch", "The Signature you specified is invalid.",
                                          [("StringToSign", sts), ("FormatString", cos_fs)]),
                          now=NOW, credentials=CREDENTIALS)
    (found,) = [f for f in d.findings if f["id"].startswith("SignatureDoesNotMatch")]
    assert found["id"] == "SignatureDoesNotMatch_Authorization"
    assert {"part": "headers", "name": "host", "sent": cdn, "cos": HOST} in found["evidence"]["differences"]
    assert found["evidence"]["mistake"] == "signed-other-host"


def test_an_unknown_secret_id_is_named_for_header_signatures_and_forms():
    """InvalidAccessKeyId: the title names the SecretId COS did not know, whichever way it was sent."""
    unknown = answer(403, "InvalidAccessKeyId", "The Access Key Id you provided does not exist in our records.")
    put = diagnose_exchange(req("PUT", "/uploads/a.txt", signed_put()), unknown, now=NOW)
    spec = signature_field_spec()
    body, content_type = spec.encode()
    form = diagnose_exchange(req("POST", "/", {"host": HOST, "content-type": content_type,
                                               "content-length": str(len(body))}, body), unknown, now=NOW)
    for d in (put, form):
        found = d.findings[0]
        assert found["id"] == "InvalidAccessKeyId_SecretId" and found["evidence"]["q_ak"] == SECRET_ID, found
        assert SECRET_ID in render_finding(found)["title"]
