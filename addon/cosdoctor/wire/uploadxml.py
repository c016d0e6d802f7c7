"""The multipart-upload XML bodies (cos-xml-api.md §3): bytes to structures, hostile input safe.

* ``parse_complete_body``: the CompleteMultipartUpload request body the client sends;
* ``read_upload_id``: the UploadId of an InitiateMultipartUploadResult;
* ``parse_list_parts``: a ListPartsResult page;
* ``read_complete_answer``: the body of a 200 Complete answer, which is either a
  CompleteMultipartUploadResult or (COS can fail after the status line) an ``<Error>`` document,
  both after the spaces COS sends while it merges.

Every reader goes through errorxml's hardened settings (one place for them): a DOCTYPE or ENTITY
declaration is refused before libxml2 sees the body, nothing is expanded or fetched, the input is
read as UTF-8 whatever it declares, a body above its size cap is refused unread. The bodies are
pulled in chunks through a pull parser that the readers stop as soon as a cap is reached (part
count, nesting depth), and each finished part is dropped from the tree, so time and memory stay
bounded by the caps, not by what the body claims. No reader raises, whatever the bytes.

Element names are matched by local name: COS's result documents carry
``xmlns="http://www.qcloud.com/document/product/436/7751"``, clients send none.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from cosdoctor.wire.errorxml import MAX_XML_BYTES, CosErrorDoc, declares_dtd, make_pull_parser, parse_error_xml

__all__ = [
    "MAX_COMPLETE_BYTES",
    "MAX_COMPLETE_PARTS",
    "MAX_INITIATE_BYTES",
    "MAX_LIST_BYTES",
    "MAX_LIST_PARTS",
    "MAX_ANSWER_BYTES",
    "MAX_DEPTH",
    "MAX_TEXT_CHARS",
    "MAX_UPLOAD_ID_CHARS",
    "MAX_NAME_CHARS",
    "PROBLEMS",
    "ListedPart",
    "CompleteList",
    "ListedParts",
    "CompleteAnswer",
    "parse_complete_body",
    "read_upload_id",
    "parse_list_parts",
    "read_complete_answer",
]

MAX_COMPLETE_BYTES = 4 << 20      # a Complete body above this is refused unread
MAX_COMPLETE_PARTS = 10_000       # COS's part count limit (§3.2); reading stops at the 10 001st Part
MAX_INITIATE_BYTES = 64 << 10     # an InitiateMultipartUploadResult is a few hundred bytes
MAX_LIST_BYTES = 4 << 20
MAX_LIST_PARTS = 1000             # ListParts pages hold at most 1000 parts (§3.2)
MAX_ANSWER_BYTES = MAX_XML_BYTES  # the Complete answer's document, after its leading whitespace
MAX_DEPTH = 32                    # the documents nest 3 deep; libxml2's own limit (256) is a backstop
MAX_TEXT_CHARS = 128              # ETags, part numbers and sizes as text, root names
MAX_UPLOAD_ID_CHARS = 256         # COS's UploadIds are about 80 characters
MAX_NAME_CHARS = 1024             # keys, locations (a COS key is at most 850 bytes)
MAX_DETAIL_CHARS = 200

# problem words, for every reader: why the result holds less than a clean document would.
PROBLEMS = ("empty", "malformed", "wrong-root", "too-large", "too-many-parts", "too-deep", "entities")

_BOM = b"\xef\xbb\xbf"
_XML_SPACE = " \t\r\n"
_SHORT_DECIMAL = re.compile(r"[0-9]{1,12}")
_FILE_SUFFIX = re.compile(r"\s*\((?:[^()]*), line \d+\)\s*\Z")
_CHUNK = 1 << 16


@dataclass(frozen=True, slots=True)
class ListedPart:
    number: int | str | None   # int for a short decimal, else the text (clipped), None when absent
    etag: str | None           # as sent, quotes included, clipped to MAX_TEXT_CHARS
    index: int                 # 0-based position among the document's Part elements
    size: int | str | None = None  # ListParts only: like number


@dataclass(frozen=True, slots=True)
class CompleteList:
    """A CompleteMultipartUpload request body."""
    parts: tuple[ListedPart, ...]
    problem: str | None = None   # one of PROBLEMS (never "wrong-root" with parts)
    detail: str | None = None    # "malformed" only: libxml2's message, line and column, no file path
    truncated: bool = False      # reading stopped before the root's end tag: more parts may follow


@dataclass(frozen=True, slots=True)
class ListedParts:
    """A ListPartsResult page."""
    parts: tuple[ListedPart, ...]
    upload_id: str | None = None
    key: str | None = None
    is_truncated: bool | str | None = None   # IsTruncated: true/false, else its text, None when absent
    next_part_number_marker: int | str | None = None
    problem: str | None = None
    detail: str | None = None
    truncated: bool = False      # our reading stopped early (not COS's IsTruncated)


@dataclass(frozen=True, slots=True)
class CompleteAnswer:
    """What a 200 Complete answer's body holds."""
    kind: str                    # "result" | "error" | "empty" | "other"
    etag: str | None = None      # result: the object's ETag as sent ('"<hex>-<parts>"')
    location: str | None = None
    key: str | None = None
    bucket: str | None = None
    error: CosErrorDoc | None = None   # error: errorxml's reading of the <Error> document
    root: str | None = None      # the root element's local name, when one was seen
    problem: str | None = None   # other: why it is not a result or an error (one of PROBLEMS)
    detail: str | None = None


class _Stop(Exception):
    def __init__(self, problem: str, detail: str | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.detail = detail


def _local(tag: object) -> str | None:
    return tag.rpartition("}")[2] if isinstance(tag, str) else None


def _clip(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    return text if len(text) <= limit else text[:limit]


def _text(el) -> str:
    if not len(el):                  # the usual leaf: its text alone (no itertext walk)
        text = el.text
        return text if isinstance(text, str) else ""
    return "".join(t for t in el.itertext() if isinstance(t, str))


def _number(text: str | None) -> int | str | None:
    if text is None:
        return None
    stripped = text.strip(_XML_SPACE)
    if _SHORT_DECIMAL.fullmatch(stripped):
        return int(stripped)
    return _clip(text)


def _syntax_detail(exc: BaseException) -> str:
    """libxml2's first fatal message, with its line and column, without the '<string>' origin."""
    message, line, column = None, None, None
    log = getattr(exc, "error_log", None)
    try:
        for entry in log or ():
            message, line, column = entry.message, entry.line, entry.column
            break
    except Exception:  # noqa: BLE001 - a detail is best effort
        message = None
    if message:
        text = f"{message.strip()} (line {line}, column {column})"
    else:
        text = _FILE_SUFFIX.sub("", str(getattr(exc, "msg", None) or exc))
    text = " ".join(text.split())
    return _clip(text.encode("utf-8", "replace").decode("utf-8"), MAX_DETAIL_CHARS) or "not well-formed"


def _prepare(body: object, limit: int) -> bytes:
    """The body as bytes without a UTF-8 BOM; raises _Stop for refusals decided without parsing."""
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise _Stop("empty" if body is None else "malformed", None if body is None else "not bytes")
    if len(body) > limit:
        raise _Stop("too-large")
    data = bytes(body)
    if data.startswith(_BOM):
        data = data[len(_BOM):]
    if not data.strip():
        raise _Stop("empty")
    if declares_dtd(data):
        raise _Stop("entities")
    return data


class _Progress:
    """How far a reading got: the root's end tag read or not."""
    __slots__ = ("root_closed",)

    def __init__(self) -> None:
        self.root_closed = False


def _pull(data: bytes) -> Iterator[tuple[str, object, int]]:
    """(event, element, depth) for each start/end of ``data``; raises _Stop("too-deep"/"malformed").

    depth is 1 for the root. Events libxml2 produced before a syntax error are still given, so a
    depth bomb is named too-deep rather than malformed."""
    from lxml import etree

    etree.clear_error_log()    # so that a syntax error's log holds this document's messages only
    parser = make_pull_parser(("start", "end"))
    depth = 0
    pos = 0
    done = False
    while not done:
        failure: BaseException | None = None
        try:
            if pos < len(data):
                parser.feed(data[pos:pos + _CHUNK])
                pos += _CHUNK
            else:
                done = True
                parser.close()
        except Exception as exc:  # noqa: BLE001 - XMLSyntaxError, ValueError ... all mean malformed
            failure = exc
        for event, el in parser.read_events():
            if event == "start":
                depth += 1
                if depth > MAX_DEPTH:
                    raise _Stop("too-deep")
                yield event, el, depth
            else:
                yield event, el, depth
                depth -= 1
        if failure is not None:
            raise _Stop("malformed", _syntax_detail(failure))


def _drop(el) -> None:
    """Free a finished child of the root: its subtree and the siblings before it."""
    el.clear()
    parent = el.getparent()
    if parent is not None:
        while el.getprevious() is not None:
            del parent[0]


def _read(data: bytes, progress: _Progress, on_root: Callable[[str], None],
          on_child: Callable[[str | None, object], None],
          on_child_start: Callable[[str | None], None] | None = None) -> None:
    """Drive _pull: on_root(name) at the root's start, on_child_start/on_child at the start/end
    of each child of the root (the child is freed after on_child)."""
    for event, el, depth in _pull(data):
        if depth == 1:
            if event == "start":
                on_root(_local(el.tag) or "")
            else:
                progress.root_closed = True
        elif depth == 2:
            if event == "start":
                if on_child_start is not None:
                    on_child_start(_local(el.tag))
            else:
                on_child(_local(el.tag), el)
                _drop(el)


def _run(body: object, limit: int, progress: _Progress, *callbacks) -> tuple[str | None, str | None]:
    """(problem, detail) of reading ``body`` with the callbacks; never raises."""
    try:
        _read(_prepare(body, limit), progress, *callbacks)
    except _Stop as stop:
        return stop.problem, stop.detail
    except Exception as exc:  # noqa: BLE001 - never raise on network bytes
        return "malformed", _syntax_detail(exc)
    return None, None


def _truncated(problem: str | None, progress: _Progress) -> bool:
    """Reading stopped before the root's end tag, so the body may hold more than was read."""
    return problem not in (None, "empty", "wrong-root") and not progress.root_closed


def _fields(el, wanted: dict[str, str]) -> dict[str, str]:
    """The first child of each wanted local name -> its text."""
    found: dict[str, str] = {}
    for child in el:
        name = _local(child.tag)
        attr = wanted.get(name) if name is not None else None
        if attr is not None and attr not in found:
            found[attr] = _text(child)
    return found


def _root_is(expected: str) -> Callable[[str], None]:
    def on_root(name: str) -> None:
        if name != expected:
            raise _Stop("wrong-root")
    return on_root


# --- CompleteMultipartUpload (the request body) ---------------------------------------------------

def parse_complete_body(body: bytes) -> CompleteList:
    """The parts a CompleteMultipartUpload body lists, in document order (never raises).

    A Part is a child of the root named Part; its first PartNumber and ETag children are read.
    On a problem, the parts read before it are kept."""
    parts: list[ListedPart] = []
    count = [0]

    def on_child_start(name: str | None) -> None:
        if name == "Part":
            count[0] += 1
            if count[0] > MAX_COMPLETE_PARTS:
                raise _Stop("too-many-parts")

    def on_child(name: str | None, el) -> None:
        if name == "Part":
            found = _fields(el, {"PartNumber": "number", "ETag": "etag"})
            etag = found.get("etag")
            parts.append(ListedPart(number=_number(found.get("number")),
                                    etag=None if etag is None else _clip(etag), index=len(parts)))

    progress = _Progress()
    problem, detail = _run(body, MAX_COMPLETE_BYTES, progress, _root_is("CompleteMultipartUpload"),
                           on_child, on_child_start)
    return CompleteList(tuple(parts), problem, detail, _truncated(problem, progress))


# --- InitiateMultipartUploadResult -----------------------------------------------------------------

def read_upload_id(body: bytes) -> str | None:
    """The UploadId of an InitiateMultipartUploadResult (whitespace stripped, clipped to
    MAX_UPLOAD_ID_CHARS), or None: no such element, another document, a refused body."""
    found: dict[str, str] = {}

    def on_child(name: str | None, el) -> None:
        if name == "UploadId" and "id" not in found:
            found["id"] = _clip(_text(el).strip(_XML_SPACE), MAX_UPLOAD_ID_CHARS)

    problem, _ = _run(body, MAX_INITIATE_BYTES, _Progress(), _root_is("InitiateMultipartUploadResult"), on_child)
    return found.get("id") if problem is None else None


# --- ListPartsResult -----------------------------------------------------------------------------

def _flag(text: str | None) -> bool | str | None:
    if text is None:
        return None
    word = text.strip(_XML_SPACE).lower()
    return True if word == "true" else False if word == "false" else _clip(text)


def parse_list_parts(body: bytes) -> ListedParts:
    """A ListPartsResult page: its parts (PartNumber, ETag, Size), UploadId, Key, IsTruncated and
    NextPartNumberMarker (never raises). Reading stops at the 1001st Part (too-many-parts)."""
    parts: list[ListedPart] = []
    count = [0]
    fields: dict[str, str] = {}
    wanted = {"UploadId": "upload_id", "Key": "key", "IsTruncated": "is_truncated",
              "NextPartNumberMarker": "next"}

    def on_child_start(name: str | None) -> None:
        if name == "Part":
            count[0] += 1
            if count[0] > MAX_LIST_PARTS:
                raise _Stop("too-many-parts")

    def on_child(name: str | None, el) -> None:
        if name == "Part":
            found = _fields(el, {"PartNumber": "number", "ETag": "etag", "Size": "size"})
            etag = found.get("etag")
            parts.append(ListedPart(number=_number(found.get("number")),
                                    etag=None if etag is None else _clip(etag), index=len(parts),
                                    size=_number(found.get("size"))))
        elif name in wanted and wanted[name] not in fields:
            fields[wanted[name]] = _text(el)

    progress = _Progress()
    problem, detail = _run(body, MAX_LIST_BYTES, progress, _root_is("ListPartsResult"), on_child, on_child_start)
    upload_id, key = fields.get("upload_id"), fields.get("key")
    return ListedParts(
        parts=tuple(parts),
        upload_id=None if upload_id is None else _clip(upload_id.strip(_XML_SPACE), MAX_UPLOAD_ID_CHARS),
        key=None if key is None else _clip(key, MAX_NAME_CHARS),
        is_truncated=_flag(fields.get("is_truncated")),
        next_part_number_marker=_number(fields.get("next")),
        problem=problem, detail=detail, truncated=_truncated(problem, progress))


# --- the Complete answer ------------------------------------------------------------------------

def read_complete_answer(body: bytes) -> CompleteAnswer:
    """What a 200 Complete answer holds after COS's leading whitespace (never raises):

    * ``result``: a CompleteMultipartUploadResult (ETag, Location, Key, Bucket as sent, clipped);
    * ``error``: an ``<Error>`` document, read by errorxml (the upload failed after the 200);
    * ``empty``: nothing but whitespace (or no body at all);
    * ``other``: anything else, with ``problem`` (wrong-root, malformed, too-large, too-deep,
      entities) and ``root`` when a root element was seen.
    """
    if body is None:
        return CompleteAnswer("empty")
    if not isinstance(body, (bytes, bytearray, memoryview)):
        return CompleteAnswer("other", problem="malformed", detail="not bytes")
    data = bytes(body).lstrip(b" \t\r\n")   # the spaces COS sends while it merges the parts
    if data.startswith(_BOM):              # a BOM before or after them
        data = data[len(_BOM):].lstrip(b" \t\r\n")
    if not data:
        return CompleteAnswer("empty")
    root: list[str] = []
    fields: dict[str, str] = {}
    wanted = {"ETag": "etag", "Location": "location", "Key": "key", "Bucket": "bucket"}

    def on_root(name: str) -> None:
        root.append(name)
        if name not in ("CompleteMultipartUploadResult", "Error"):
            raise _Stop("wrong-root")

    def on_child(name: str | None, el) -> None:
        if root[0] == "CompleteMultipartUploadResult" and name in wanted and wanted[name] not in fields:
            fields[wanted[name]] = _text(el)

    problem, detail = _run(data, MAX_ANSWER_BYTES, _Progress(), on_root, on_child)
    if problem == "empty":                 # a second BOM, say: still nothing
        return CompleteAnswer("empty")
    name = _clip(root[0], MAX_TEXT_CHARS) if root else None
    if problem is None and name == "Error":
        doc = parse_error_xml(data)
        if doc is not None:
            return CompleteAnswer("error", error=doc, root=name)
        problem = "malformed"
    if problem is not None:
        return CompleteAnswer("other", root=name, problem=problem, detail=detail)
    etag, location, key, bucket = (fields.get(k) for k in ("etag", "location", "key", "bucket"))
    return CompleteAnswer(
        "result",
        etag=None if etag is None else _clip(etag),
        location=None if location is None else _clip(location, MAX_NAME_CHARS),
        key=None if key is None else _clip(key, MAX_NAME_CHARS),
        bucket=None if bucket is None else _clip(bucket.strip(_XML_SPACE), MAX_NAME_CHARS),
        root=name)
