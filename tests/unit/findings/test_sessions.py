"""Multipart uploads followed across flows: bounded memory, predictions, COS's answers explained."""
from __future__ import annotations

from cosdoctor.cos.hosts import parse_cos_host
from cosdoctor.findings.diagnose import PlainResponse, check_session, diagnose_exchange, request_for
from cosdoctor.findings.request_checks import analyse_request
from cosdoctor.findings.sessions import UploadSessions
from cosdoctor.wire.errorxml import render_error_xml
from finding_fixtures import (HOST, MiB, NOW, UPLOAD_ID, UPLOAD_KEY, complete_body, etag_of, part_target, uploaded)

ENDPOINT = parse_cos_host(HOST)


def flow(sessions, method, target, headers=None, body=b"", answer=None, flow_id="f-x"):
    request = request_for(method, HOST, target, {"host": HOST, **(headers or {})}, body, ENDPOINT)
    return diagnose_exchange(request, answer, now=NOW, sessions=sessions, flow_id=flow_id)


def initiate(sessions, upload_id, flow_id="f-init"):
    body = f"<InitiateMultipartUploadResult><UploadId>{upload_id}</UploadId></InitiateMultipartUploadResult>"
    flow(sessions, "POST", f"/{UPLOAD_KEY}?uploads", answer=PlainResponse(200, {}, body.encode(), NOW),
         flow_id=flow_id)


def test_sessions_are_capped_oldest_first():
    sessions = UploadSessions(max_sessions=3)
    for n in range(5):
        initiate(sessions, f"id-{n}")
    assert len(sessions) == 3 and sessions.get("id-0") is None and sessions.get("id-4") is not None


def test_parts_are_capped_over_all_sessions():
    sessions = UploadSessions(max_parts=4)
    for upload in ("a", "b"):
        initiate(sessions, upload)
        for number in (1, 2, 3):
            flow(sessions, "PUT", part_target(number, upload), {"content-length": str(MiB)},
                 answer=PlainResponse(200, {"etag": etag_of(number)}, b"", NOW))
    assert sessions.part_count <= 4 and sessions.get("a") is None and sessions.get("b") is not None


def test_a_valid_session_has_no_finding_and_ends_completed():
    sessions = uploaded((1, MiB), (2, 10))()
    d = flow(sessions, "POST", f"/{UPLOAD_KEY}?uploadId={UPLOAD_ID}", body=complete_body((1, etag_of(1)), (2, etag_of(2))),
             answer=PlainResponse(200, {}, b"<CompleteMultipartUploadResult><ETag>\"e-2\"</ETag></CompleteMultipartUploadResult>", NOW),
             flow_id="f-done")
    assert d.findings == [] and sessions.get(UPLOAD_ID).state == "completed"
    late = flow(sessions, "PUT", part_target(3), {"content-length": "10"})
    assert [f["id"] for f in late.findings] == ["NoSuchUpload_UploadId"]
    assert late.findings[0]["evidence"]["completed"] is True and late.findings[0]["evidence"]["ended_by"] == "f-done"


def test_a_part_never_uploaded_is_named_only_when_the_proxy_saw_the_whole_upload():
    seen = uploaded((1, MiB))()
    d = flow(seen, "POST", f"/{UPLOAD_KEY}?uploadId={UPLOAD_ID}", body=complete_body((1, etag_of(1)), (2, etag_of(2))))
    assert [f["id"] for f in d.findings] == ["InvalidPart_CompleteList"]
    assert d.findings[0]["evidence"]["not_uploaded"] is True and d.findings[0]["evidence"]["part_number"] == 2
    unseen = UploadSessions()        # parts uploaded before the proxy started: nothing is claimed
    flow(unseen, "PUT", part_target(1), {"content-length": str(MiB)}, answer=PlainResponse(200, {"etag": etag_of(1)}, b"", NOW))
    d = flow(unseen, "POST", f"/{UPLOAD_KEY}?uploadId={UPLOAD_ID}", body=complete_body((1, etag_of(1)), (2, etag_of(2))))
    assert d.findings == []


def test_a_part_size_is_its_length_not_its_bytes():
    """The addon hands a PUT over without its body (b"") and with its length (body_size): that
    length is the part's size, ahead of a Content-Length that disagrees."""
    sessions = uploaded()()
    request = request_for("PUT", HOST, part_target(1), {"host": HOST, "content-length": "7"}, b"", ENDPOINT,
                          body_size=MiB)
    d = diagnose_exchange(request, PlainResponse(200, {"etag": etag_of(1)}, b"", NOW), now=NOW, sessions=sessions,
                          flow_id="f-1")
    assert d.findings == [] and sessions.get(UPLOAD_ID).parts[1].size == MiB


def test_hostile_upload_ids_and_part_numbers_are_findings_not_exceptions():
    sessions = UploadSessions()
    for number in ("0", "10001", "9" * 5000, "x", "-1", ""):
        d = flow(sessions, "PUT", f"/{UPLOAD_KEY}?partNumber={number}&uploadId={'u' * 100_000}", {"content-length": "1"},
                 answer=PlainResponse(400, {}, render_error_xml("InvalidArgument", "Invalid Argument", HOST, "r"), NOW))
        assert [f["id"] for f in d.findings] == ["InvalidArgument_PartNumber"], number
        assert d.findings[0]["phase"] == "response"
    assert len(sessions) <= 1


def test_an_error_after_a_long_merge_is_still_read():
    """COS sends spaces while it merges the parts, then the <Error>: however many spaces came first."""
    sessions = uploaded((1, 10))()
    error = render_error_xml("InternalError", "We encountered an internal error. Please try again.", HOST, "r")
    d = flow(sessions, "POST", f"/{UPLOAD_KEY}?uploadId={UPLOAD_ID}", body=complete_body((1, etag_of(1))),
             answer=PlainResponse(200, {}, b" " * 100_000 + error, NOW))
    assert [f["id"] for f in d.findings] == ["InternalError_ServerSide", "Warning_CompleteErrorAfter200"]
    assert sessions.get(UPLOAD_ID).state == "open"


def test_small_parts_sent_side_by_side_are_all_named_when_a_higher_part_arrives():
    """The SDKs send parts side by side: in warn or block mode parts 1 and 2 (both under 1 MB) are
    checked before either is answered, so neither knows of a higher part. Part 3's flow names both,
    the lowest as the part shown; part 4 repeats nothing."""
    sessions = uploaded()()
    sent = {}
    for number, size in ((1, 1000), (2, 2000)):
        request = request_for("PUT", HOST, part_target(number), {"host": HOST, "content-length": str(size)}, b"",
                              ENDPOINT)
        sent[number] = (request, check_session(analyse_request(request, None, NOW), sessions, f"f-{number}"))
        assert sent[number][1].findings == []
    for number, (request, analysis) in sent.items():
        diagnose_exchange(request, PlainResponse(200, {"etag": etag_of(number)}, b"", NOW), now=NOW,
                          analysis=analysis, sessions=sessions, flow_id=f"f-{number}")
    third = flow(sessions, "PUT", part_target(3), {"content-length": str(MiB)}, flow_id="f-3",
                 answer=PlainResponse(200, {"etag": etag_of(3)}, b"", NOW))
    assert [f["id"] for f in third.findings] == ["Warning_PartTooSmall"]
    evidence = third.findings[0]["evidence"]
    assert (evidence["part_number"], evidence["size"], evidence["parts"]) == (1, 1000, [1, 2])
    assert evidence["flows"] == ["f-init", "f-1", "f-2", "f-3"]
    fourth = flow(sessions, "PUT", part_target(4), {"content-length": str(MiB)}, flow_id="f-4")
    assert fourth.findings == []
