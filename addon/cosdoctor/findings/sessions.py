"""Multipart uploads followed across flows, by upload id (cos-xml-api.md §3).

A multipart upload is many flows: Initiate answers the UploadId, each Upload Part answers its
ETag, Complete lists the parts and ETags back. Its failures cross flows: a part under COS's minimum
fails only at Complete; a page that could not read ``ETag`` (CORS) sends ``undefined`` in Complete.
The proxy sees every flow, so it keeps a small record per upload (numbers, sizes, ETags, whether
the page could read them, which flows) and says what COS will answer before it does.

Bounded: at most MAX_SESSIONS uploads and MAX_PARTS parts in all, the oldest uploads dropped
first; no part body is ever kept or read (a part's size is its length). Saved traffic read back
in capture order rebuilds the same sessions.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field

from cosdoctor.cos.multipart import MIN_PART_SIZE, complete_order_problem, normalise_etag, unreadable_etag
from cosdoctor.cos.operations import part_number_problem
from cosdoctor.findings import catalogue
from cosdoctor.findings.cors import check_actual_response, cors_rule
from cosdoctor.findings.request_checks import Analysis
from cosdoctor.wire.uploadxml import parse_complete_body, parse_list_parts, read_upload_id

__all__ = ["UploadSessions", "Session", "SeenPart", "MULTIPART_IDS", "MAX_SESSIONS", "MAX_PARTS"]

MAX_SESSIONS = 4096          # open uploads remembered; the oldest is dropped first
MAX_PARTS = 200_000          # parts remembered over all sessions (~100 bytes each)
MAX_FLOWS = 16               # flow ids kept per session (the first and the latest)
MAX_LISTED = 20              # part numbers named in one finding
# COS answers explained with the part and flows of the upload they belong to.
MULTIPART_IDS = frozenset({"EntityTooSmall_PartSize", "InvalidPart_CompleteList", "InvalidPartOrder_CompleteList",
                           "NoSuchUpload_UploadId", "MalformedXML_CompleteBody", "InvalidArgument_PartNumber"})
_SESSION_OPERATIONS = frozenset({"InitiateMultipartUpload", "UploadPart", "CompleteMultipartUpload",
                                 "AbortMultipartUpload", "ListParts"})


@dataclass(slots=True)
class SeenPart:
    number: int
    size: int | None
    etag: str | None                 # as the part answer sent it
    readable: bool | None            # could the page read the ETag (None: not a browser request)
    flow_id: str | None
    small_reported: bool = False


@dataclass(slots=True)
class Session:
    upload_id: str
    bucket: str | None
    key: str | None
    initiated_by: str | None = None          # the Initiate flow, when the proxy saw it
    listed_by: str | None = None             # a ListParts answer that told the parts
    state: str = "open"                      # open | completed | aborted
    ended_by: str | None = None
    parts: dict[int, SeenPart] = field(default_factory=dict)
    flows: list[str] = field(default_factory=list)
    small: set[int] = field(default_factory=set)     # parts under the minimum not yet warned about
    highest: int = 0                                 # the highest part number seen

    @property
    def complete_knowledge(self) -> bool:
        """Every part went through this proxy (it saw the upload begin, or COS listed its parts)."""
        return self.initiated_by is not None or self.listed_by is not None

    def note_flow(self, flow_id: str | None) -> None:
        if flow_id is None or (self.flows and self.flows[-1] == flow_id):
            return
        self.flows.append(flow_id)
        if len(self.flows) > MAX_FLOWS:
            del self.flows[1]                # keep the first (usually Initiate) and the latest


class UploadSessions:
    """Every multipart upload the proxy has seen, by upload id, bounded."""

    def __init__(self, max_sessions: int = MAX_SESSIONS, max_parts: int = MAX_PARTS) -> None:
        self.max_sessions = max_sessions
        self.max_parts = max_parts
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._parts = 0

    def __len__(self) -> int:
        return len(self._sessions)

    @property
    def part_count(self) -> int:
        return self._parts

    def get(self, upload_id: str | None) -> Session | None:
        return self._sessions.get(upload_id) if upload_id else None

    # --- before COS answers -------------------------------------------------------------------

    def check_request(self, analysis: Analysis, flow_id: str | None) -> list[dict]:
        """Findings about this request that the upload's earlier flows make certain or likely."""
        operation = analysis.operation
        if operation not in _SESSION_OPERATIONS or operation == "InitiateMultipartUpload":
            return []
        upload_id = analysis.upload_id
        session = self.get(upload_id)
        found: list[dict] = []
        if operation == "UploadPart":
            problem = part_number_problem(analysis.part_number)
            if problem is not None:
                found.append(_finding("InvalidArgument_PartNumber", {
                    "upload_id": upload_id, "part_number": analysis.part_number, "problem": problem,
                    "flows": _flows(session, flow_id)}))
        if session is None:
            return found
        if session.state != "open":
            found.append(_finding("NoSuchUpload_UploadId", {
                "upload_id": upload_id, "state": session.state, "ended_by": session.ended_by,
                "aborted": session.state == "aborted", "completed": session.state == "completed",
                "key": analysis.key, "initiated_key": session.key, "flows": _flows(session, flow_id)}))
            return found
        if session.key is not None and analysis.key is not None and analysis.key != session.key:
            found.append(_finding("NoSuchUpload_UploadId", {
                "upload_id": upload_id, "state": "other-key", "other_key": True, "key": analysis.key,
                "initiated_key": session.key, "flows": _flows(session, flow_id)}))
            return found
        if operation == "UploadPart" and isinstance(analysis.part_number, int):
            found += self._part_warnings(session, analysis, flow_id)
        elif operation == "CompleteMultipartUpload":
            found += self._complete_findings(session, analysis, flow_id)
        return found

    def _part_warnings(self, session: Session, analysis: Analysis, flow_id: str | None) -> list[dict]:
        number, size = analysis.part_number, _request_size(analysis)
        found = []
        earlier = session.parts.get(number)
        if earlier is not None and size is not None and earlier.size is not None and earlier.size != size:
            found.append(_finding("Warning_PartRepeated", {
                "upload_id": session.upload_id, "part_number": number, "size": size,
                "previous_size": earlier.size, "flows": _flows(session, flow_id, earlier.flow_id)}))
        # A part under the minimum is fine if it is the last; a higher part number proves it is not.
        # (Only the unreported small parts are looked at: a 10 000-part upload stays linear.)
        small = [session.parts[n] for n in session.small if n < number and n in session.parts]
        if size is not None and size < MIN_PART_SIZE and session.highest > number:
            small.append(SeenPart(number, size, None, None, flow_id))
        if small:            # one warning names them all; each is warned about once
            small.sort(key=lambda p: p.number)
            for part in small:
                part.small_reported = True
                session.small.discard(part.number)
            first = small[0]
            found.append(_finding("Warning_PartTooSmall", {
                "upload_id": session.upload_id, "part_number": first.number, "size": first.size,
                "min_size": MIN_PART_SIZE, "parts": [p.number for p in small][:MAX_LISTED],
                "flows": _flows(session, flow_id, first.flow_id)}))
        return found

    def _complete_findings(self, session: Session, analysis: Analysis, flow_id: str | None) -> list[dict]:
        body = analysis.request.body
        if body is None:
            return []
        listed = parse_complete_body(body)
        base = {"upload_id": session.upload_id}
        if listed.problem is not None:
            return [_finding("MalformedXML_CompleteBody", {
                **base, "problem": listed.problem, "detail": getattr(listed, "detail", None),
                "flows": _flows(session, flow_id)})]
        numbers = [p.number for p in listed.parts if isinstance(p.number, int)]
        order = complete_order_problem(numbers)
        if order is not None:
            return [_finding("InvalidPartOrder_CompleteList", {
                **base, "part_number": order[1], "previous": order[0], "listed": numbers[:MAX_LISTED],
                "flows": _flows(session, flow_id)})]
        bad: list[tuple[int, str, str | None, SeenPart | None]] = []
        for listed_part in listed.parts:
            number = listed_part.number
            if not isinstance(number, int):
                continue
            seen = session.parts.get(number)
            if unreadable_etag(listed_part.etag):
                bad.append((number, "etag-unreadable", listed_part.etag, seen))
            elif seen is None:
                if session.complete_knowledge:
                    bad.append((number, "part-not-uploaded", listed_part.etag, None))
            elif seen.etag is not None and normalise_etag(seen.etag) != normalise_etag(listed_part.etag):
                bad.append((number, "etag-differs", listed_part.etag, seen))
        if bad:
            number, reason, etag, seen = bad[0]
            evidence = {**base, "part_number": number, "reason": reason, "etag": etag,
                        "etag_unreadable": reason == "etag-unreadable", "not_uploaded": reason == "part-not-uploaded",
                        "etag_differs": reason == "etag-differs",
                        "part_etag": seen.etag if seen else None,
                        "etag_hidden": (seen.readable is False) if seen is not None else None,
                        "parts": [b[0] for b in bad][:MAX_LISTED],
                        "flows": _flows(session, flow_id, seen.flow_id if seen else None)}
            return [_finding("InvalidPart_CompleteList", evidence)]
        small = [session.parts[n] for n in numbers[:-1] if n in session.parts
                 and session.parts[n].size is not None and session.parts[n].size < MIN_PART_SIZE]
        if small:
            first = small[0]
            return [_finding("EntityTooSmall_PartSize", {
                **base, "part_number": first.number, "size": first.size, "min_size": MIN_PART_SIZE,
                "parts": [p.number for p in small][:MAX_LISTED], "flows": _flows(session, flow_id, first.flow_id)})]
        return []

    # --- COS's answer ---------------------------------------------------------------------------

    def observe(self, analysis: Analysis, headers: Mapping[str, str], body: bytes | None,
                flow_id: str | None) -> list[dict]:
        """Learn from a multipart flow COS accepted (the caller has read the answer: a Complete
        whose 200 carried an <Error> is not accepted); findings its answer makes (a hidden ETag)."""
        operation = analysis.operation
        if operation not in _SESSION_OPERATIONS:
            return []
        if operation == "InitiateMultipartUpload":
            upload_id = read_upload_id(body or b"")
            if upload_id:
                session = self._open(upload_id, analysis)
                session.initiated_by = flow_id
                session.note_flow(flow_id)
            return []
        session = self._session_for(analysis)
        if session is None:
            return []
        session.note_flow(flow_id)
        if operation == "UploadPart":
            return self._part_answered(session, analysis, headers, flow_id)
        if operation == "ListParts":
            self._parts_listed(session, body, flow_id)
        elif operation == "CompleteMultipartUpload":
            session.state, session.ended_by = "completed", flow_id
        elif operation == "AbortMultipartUpload":
            session.state, session.ended_by = "aborted", flow_id
        return []

    def _part_answered(self, session: Session, analysis: Analysis, headers: Mapping[str, str],
                       flow_id: str | None) -> list[dict]:
        number = analysis.part_number
        if not isinstance(number, int) or part_number_problem(number) is not None:
            return []
        etag = headers.get("etag")
        request_headers = analysis.request.headers
        check = check_actual_response(request_headers, 200, headers, method="PUT")
        readable = None if check is None else check.allowed and "expose:etag" not in check.missing
        previous = session.parts.get(number)
        part = SeenPart(number, _request_size(analysis), etag, readable, flow_id,
                        small_reported=previous.small_reported if previous else False)
        if previous is None:
            self._parts += 1
        session.parts[number] = part
        session.highest = max(session.highest, number)
        if part.size is not None and part.size < MIN_PART_SIZE and not part.small_reported and number < session.highest:
            part.small_reported = True          # warned about on its own flow (a higher part exists)
        elif part.size is not None and part.size < MIN_PART_SIZE and not part.small_reported:
            session.small.add(number)
        else:
            session.small.discard(number)
        self._trim()
        if readable is False and check is not None and check.allowed:
            xml, js = cors_rule(check.origin, "PUT", ())
            return [_finding("Warning_ETagHidden", {
                "upload_id": session.upload_id, "part_number": number, "origin": check.origin,
                "expose_headers": headers.get("access-control-expose-headers"), "cors_rule": xml,
                "cors_rule_json": js, "flows": _flows(session, flow_id)}, phase="response")]
        return []

    def _parts_listed(self, session: Session, body: bytes | None, flow_id: str | None) -> None:
        listed = parse_list_parts(body or b"")
        for item in listed.parts:
            if not isinstance(item.number, int) or item.number in session.parts:
                continue
            session.parts[item.number] = SeenPart(item.number, item.size if isinstance(item.size, int) else None,
                                                  item.etag, None, flow_id)
            session.highest = max(session.highest, item.number)
            self._parts += 1
        if listed.problem is None and not listed.truncated:
            session.listed_by = flow_id
        self._trim()

    # --- COS's errors, with the upload's facts ---------------------------------------------------

    def session_evidence(self, analysis: Analysis) -> dict:
        """What every multipart finding of this flow names: the upload, its key and flows."""
        session = self._session_for(analysis, create=False)
        evidence = {"upload_id": analysis.upload_id, "part_number": analysis.part_number}
        if session is not None:
            evidence["flows"] = list(session.flows)
            evidence["state"] = session.state
        return evidence

    # --- bookkeeping ------------------------------------------------------------------------------

    def _session_for(self, analysis: Analysis, create: bool = True) -> Session | None:
        upload_id = analysis.upload_id
        if not upload_id:
            return None
        session = self._sessions.get(upload_id)
        if session is None and create:
            session = self._open(upload_id, analysis)     # begun before the proxy saw it
        return session

    def _open(self, upload_id: str, analysis: Analysis) -> Session:
        session = self._sessions.get(upload_id)
        if session is None:
            session = self._sessions[upload_id] = Session(upload_id, analysis.bucket, analysis.key)
        self._sessions.move_to_end(upload_id)
        self._trim()
        return session

    def _trim(self) -> None:
        while self._sessions and (len(self._sessions) > self.max_sessions or self._parts > self.max_parts):
            _, dropped = self._sessions.popitem(last=False)
            self._parts -= len(dropped.parts)


def _finding(finding_id: str, evidence: dict, phase: str = "preflight") -> dict:
    return catalogue.finding(finding_id, phase, evidence)


def _flows(session: Session | None, *extra: str | None) -> list[str]:
    flows = list(session.flows) if session is not None else []
    for flow_id in extra:
        if flow_id is not None and flow_id not in flows:
            flows.append(flow_id)
    return flows


def _request_size(analysis: Analysis) -> int | None:
    """A part's size from its length alone (the body is never read)."""
    request = analysis.request
    if request.body_size is not None:
        return request.body_size
    text = request.headers.get("content-length")
    if text and text.isascii() and text.isdigit() and len(text) <= 15:
        return int(text)
    return len(request.body) if request.body else None
