"""The multipart-upload XML bodies (cosdoctor.wire.uploadxml): the invariants of its four readers,
builders of well-formed bodies (with what a correct reader must find in them), hostile bodies
(entities, external entities, XInclude, depth and part-count bombs, oversized, UTF-16, NUL) and the
seeded generator.

Each example is ``{"kind": complete|initiate|list|answer, "data": ..., "expect": ... | None}``.
"""
from __future__ import annotations

import random
import re
from pathlib import Path

from cosdoctor.wire.errorxml import CosErrorDoc, escape_xml, render_error_xml
from cosdoctor.wire.uploadxml import (MAX_ANSWER_BYTES, MAX_COMPLETE_BYTES, MAX_COMPLETE_PARTS, MAX_INITIATE_BYTES,
                                      MAX_LIST_BYTES, MAX_LIST_PARTS, MAX_NAME_CHARS, MAX_TEXT_CHARS,
                                      MAX_UPLOAD_ID_CHARS, PROBLEMS, CompleteAnswer, CompleteList, ListedPart,
                                      ListedParts, parse_complete_body, parse_list_parts, read_complete_answer,
                                      read_upload_id)
from devkit.fuzzing.common import MARKER, need, rand_bytes, rand_text
from devkit.fuzzing.xml import mutate_xml

KINDS = ("complete", "initiate", "list", "answer")
ROOTS = {"complete": "CompleteMultipartUpload", "initiate": "InitiateMultipartUploadResult",
         "list": "ListPartsResult", "answer": "CompleteMultipartUploadResult"}
LIMITS = {"complete": MAX_COMPLETE_BYTES, "initiate": MAX_INITIATE_BYTES, "list": MAX_LIST_BYTES,
          "answer": MAX_ANSWER_BYTES}
COS_NS = "http://www.qcloud.com/document/product/436/7751"
MAX_DETAIL = 200
_FORBIDDEN = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_SPACE = " \t\r\n"
ALWAYS_CUT = ("too-large", "too-many-parts", "too-deep", "entities")


# --- the invariants ---------------------------------------------------------------------------------

def _text_ok(value: object, limit: int, code: str) -> None:
    need(value is None or type(value) is str, f"{code}-type", type(value))
    if isinstance(value, str):
        need(len(value) <= limit, f"{code}-unclipped", len(value))
        need(MARKER not in value, "uploadxml.external-entity-read", code)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            need(False, "uploadxml.not-utf8", code)


def _number_ok(value: object, code: str) -> None:
    need(value is None or type(value) in (int, str), f"{code}-type", type(value))
    if type(value) is int:
        need(0 <= value < 10 ** 12, f"{code}-range", value)
    else:
        _text_ok(value, MAX_TEXT_CHARS, code)


def _parts_ok(parts: object, cap: int, with_size: bool) -> None:
    need(type(parts) is tuple, "uploadxml.parts-type", type(parts))
    assert isinstance(parts, tuple)
    need(len(parts) <= cap, "uploadxml.parts-uncapped", len(parts))
    for i, p in enumerate(parts):
        need(type(p) is ListedPart, "uploadxml.part-type", type(p))
        need(p.index == i, "uploadxml.part-index", (p.index, i))
        _number_ok(p.number, "uploadxml.part-number")
        _text_ok(p.etag, MAX_TEXT_CHARS, "uploadxml.part-etag")
        if with_size:
            _number_ok(p.size, "uploadxml.part-size")
        else:
            need(p.size is None, "uploadxml.complete-part-size", p.size)


def _problem_ok(problem: object, detail: object, truncated: object, data: object, limit: int) -> None:
    need(problem is None or problem in PROBLEMS, "uploadxml.problem-word", problem)
    need(detail is None or (problem == "malformed" and type(detail) is str), "uploadxml.detail", (problem, detail))
    if isinstance(detail, str):
        need(0 < len(detail) <= MAX_DETAIL and "<string>" not in detail and "\n" not in detail,
             "uploadxml.detail-shape", detail)
        _text_ok(detail, MAX_DETAIL, "uploadxml.detail")
    need(type(truncated) is bool, "uploadxml.truncated-type", type(truncated))
    if problem is None or problem in ("empty", "wrong-root"):
        need(truncated is False, "uploadxml.truncated-without-cut", problem)
    if problem in ALWAYS_CUT:
        need(truncated is True, "uploadxml.cut-not-truncated", problem)
    _refusals_ok(problem, data, limit)


def _refusals_ok(problem: object, data: object, limit: int) -> None:
    """What is decided before parsing must be decided so."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        return
    raw = bytes(data)
    if len(raw) > limit:
        need(problem == "too-large", "uploadxml.oversized-read", (len(raw), problem))
    elif not raw.removeprefix(b"\xef\xbb\xbf").strip():
        need(problem == "empty", "uploadxml.blank-not-empty", problem)
    elif _FORBIDDEN.search(raw):
        need(problem == "entities", "uploadxml.dtd-read", problem)


def check_complete(data: object) -> CompleteList:
    result = parse_complete_body(data)  # type: ignore[arg-type]
    need(type(result) is CompleteList, "uploadxml.complete-type", type(result))
    _parts_ok(result.parts, MAX_COMPLETE_PARTS, False)
    _problem_ok(result.problem, result.detail, result.truncated, data, MAX_COMPLETE_BYTES)
    if result.problem == "too-many-parts":
        need(len(result.parts) == MAX_COMPLETE_PARTS, "uploadxml.cap-short", len(result.parts))
    return result


def check_list(data: object) -> ListedParts:
    result = parse_list_parts(data)  # type: ignore[arg-type]
    need(type(result) is ListedParts, "uploadxml.list-type", type(result))
    _parts_ok(result.parts, MAX_LIST_PARTS, True)
    _text_ok(result.upload_id, MAX_UPLOAD_ID_CHARS, "uploadxml.list-upload-id")
    _text_ok(result.key, MAX_NAME_CHARS, "uploadxml.list-key")
    need(result.is_truncated is None or type(result.is_truncated) in (bool, str), "uploadxml.is-truncated-type")
    if isinstance(result.is_truncated, str):
        _text_ok(result.is_truncated, MAX_TEXT_CHARS, "uploadxml.is-truncated")
    _number_ok(result.next_part_number_marker, "uploadxml.next-marker")
    _problem_ok(result.problem, result.detail, result.truncated, data, MAX_LIST_BYTES)
    if result.problem == "too-many-parts":
        need(len(result.parts) == MAX_LIST_PARTS, "uploadxml.cap-short", len(result.parts))
    return result


def check_initiate(data: object) -> str | None:
    upload_id = read_upload_id(data)  # type: ignore[arg-type]
    _text_ok(upload_id, MAX_UPLOAD_ID_CHARS, "uploadxml.upload-id")
    if isinstance(upload_id, str):
        need(upload_id == upload_id.lstrip(_SPACE) and (len(upload_id) == MAX_UPLOAD_ID_CHARS
                                                         or upload_id == upload_id.rstrip(_SPACE)),
             "uploadxml.upload-id-unstripped", upload_id)      # stripped, then clipped
        raw = bytes(data) if isinstance(data, (bytes, bytearray, memoryview)) else b""
        need(len(raw) <= MAX_INITIATE_BYTES and not _FORBIDDEN.search(raw), "uploadxml.upload-id-from-refused")
    return upload_id


def check_answer(data: object) -> CompleteAnswer:
    answer = read_complete_answer(data)  # type: ignore[arg-type]
    need(type(answer) is CompleteAnswer, "uploadxml.answer-type", type(answer))
    need(answer.kind in ("result", "error", "empty", "other"), "uploadxml.answer-kind", answer.kind)
    _text_ok(answer.etag, MAX_TEXT_CHARS, "uploadxml.answer-etag")
    for name in ("location", "key", "bucket"):
        _text_ok(getattr(answer, name), MAX_NAME_CHARS, f"uploadxml.answer-{name}")
    _text_ok(answer.root, MAX_TEXT_CHARS, "uploadxml.answer-root")
    need(answer.error is None or type(answer.error) is CosErrorDoc, "uploadxml.answer-error-type")
    if answer.error is not None:
        for value in (answer.error.code, answer.error.message, answer.error.request_id, *answer.error.extra):
            need(MARKER not in repr(value), "uploadxml.external-entity-read", "error")
    fields = (answer.etag, answer.location, answer.key, answer.bucket)
    if answer.kind == "result":
        need(answer.problem is None and answer.error is None and answer.root == ROOTS["answer"],
             "uploadxml.result-shape", answer)
    elif answer.kind == "error":
        need(answer.error is not None and answer.problem is None and answer.root == "Error"
             and fields == (None,) * 4, "uploadxml.error-shape", answer)
    elif answer.kind == "empty":
        need(answer == CompleteAnswer("empty"), "uploadxml.empty-shape", answer)
    else:
        need(answer.problem in PROBLEMS and answer.problem != "empty" and answer.error is None
             and fields == (None,) * 4, "uploadxml.other-shape", answer)
        need(answer.detail is None or (answer.problem == "malformed" and type(answer.detail) is str),
             "uploadxml.detail", answer.detail)
    if isinstance(data, (bytes, bytearray, memoryview)) and len(data) < 1 << 20:
        # COS's merge spaces change nothing: the same answer after more of them.
        need(read_complete_answer(b" \r\n\t " + bytes(data)) == answer, "uploadxml.answer-spaces-matter")
    return answer


def _expected_of(result: object, kind: str) -> object:
    """A reader's result as the plain data a generator's ``expect`` holds."""
    if kind == "complete":
        assert isinstance(result, CompleteList)
        return {"parts": [[p.number, p.etag] for p in result.parts], "problem": result.problem}
    if kind == "list":
        assert isinstance(result, ListedParts)
        return {"parts": [[p.number, p.etag, p.size] for p in result.parts], "upload_id": result.upload_id,
                "key": result.key, "is_truncated": result.is_truncated, "problem": result.problem}
    if kind == "answer":
        assert isinstance(result, CompleteAnswer)
        error = result.error
        return {"kind": result.kind, "etag": result.etag, "location": result.location, "key": result.key,
                "error": None if error is None else [error.code, error.message, error.request_id]}
    return {"upload_id": result}


CHECKERS = {"complete": check_complete, "initiate": check_initiate, "list": check_list, "answer": check_answer}


def check_upload_xml(kind: str, data: object, *, expect: object = None) -> object:
    """The invariants of one reader on ``data``; with ``expect``, also its exact result."""
    result = CHECKERS[kind](data)
    if expect is not None:
        got = _expected_of(result, kind)
        need(got == expect, "uploadxml.valid-values", (got, expect))
    return result


# --- builders of well-formed bodies -----------------------------------------------------------------

def xml_text(text: str) -> tuple[str, str]:
    """(the escaped text to write, what a reader must give back)."""
    return escape_xml(text), _XML_ILLEGAL.sub("\ufffd", text)


def expected_number(text: str | None) -> int | str | None:
    if text is None:
        return None
    stripped = text.strip(_SPACE)
    if re.fullmatch(r"[0-9]{1,12}", stripped):
        return int(stripped)
    return text[:MAX_TEXT_CHARS]


def element(name: str, escaped: str, prefix: str = "") -> str:
    return f"<{prefix}{name}>{escaped}</{prefix}{name}>"


def _document(root: str, children: list[str], *, ns: str = "", declaration: bool = False,
              indent: str = "", bom: bool = False, prefix: str = "") -> bytes:
    if prefix:
        attrs = f' xmlns:{prefix[:-1]}="{ns or "urn:x"}"'
    else:
        attrs = f' xmlns="{ns}"' if ns else ""
    inner = "".join(f"{indent}{c}" for c in children) + ("\n" if indent else "")
    text = f"<{prefix}{root}{attrs}>{inner}</{prefix}{root}>"
    if declaration:
        text = '<?xml version="1.0" encoding="UTF-8"?>\n' + text
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")


def _layout(r: random.Random) -> dict:
    prefix = "c:" if r.random() < 0.1 else ""
    return {"ns": COS_NS if r.random() < 0.4 else "", "declaration": r.random() < 0.5,
            "indent": r.choice(("", "", "\n\t", "\n  ")), "bom": r.random() < 0.05, "prefix": prefix}


def _etag(r: random.Random) -> str:
    roll = r.random()
    if roll < 0.6:
        return '"' + "".join(r.choices("0123456789abcdef", k=r.choice((32, 40)))) + '"'
    if roll < 0.7:
        return '"' + "".join(r.choices("0123456789abcdef", k=32)) + f'-{r.randint(1, 10_000)}"'
    return rand_text(r, 40)


def _part_number(r: random.Random) -> str:
    roll = r.random()
    if roll < 0.7:
        return str(r.randint(1, 10_000))
    return r.choice(("0", "-1", "01", " 7 ", "1.0", "１", "9" * 12, "9" * 13, "", "1e3", "x")) \
        if roll < 0.9 else rand_text(r, 16)


def build_complete(r: random.Random, n: int | None = None) -> tuple[bytes, dict]:
    layout = _layout(r)
    prefix = layout["prefix"]
    children, parts = [], []
    for i in range(r.choice((0, 1, 2, 3, 5, 20)) if n is None else n):
        if r.random() < 0.05:
            children.append(element("Note", escape_xml(rand_text(r, 8)), prefix))
        number = _part_number(r) if r.random() < 0.95 else None
        etag = _etag(r) if r.random() < 0.95 else None
        inner = []
        if number is not None:
            inner.append(element("PartNumber", xml_text(number)[0], prefix))
        if etag is not None:
            inner.append(element("ETag", xml_text(etag)[0], prefix))
        if r.random() < 0.3:
            inner.reverse()
        children.append(f"<{prefix}Part>{''.join(inner)}</{prefix}Part>")
        parts.append([expected_number(None if number is None else xml_text(number)[1]),
                      None if etag is None else xml_text(etag)[1][:MAX_TEXT_CHARS]])
    return _document(ROOTS["complete"], children, **layout), {"parts": parts, "problem": None}


def build_initiate(r: random.Random) -> tuple[bytes, dict]:
    layout = _layout(r)
    prefix = layout["prefix"]
    upload_id = r.choice((str(r.randint(10 ** 9, 2 * 10 ** 9)) + "".join(r.choices("0123456789abcdef", k=64)),
                          rand_text(r, 80), "", " padded\t"))
    escaped, expected = xml_text(upload_id)
    children = [element("Bucket", "examplebucket-1250000000", prefix), element("Key", escape_xml(rand_text(r, 20)),
                                                                               prefix)]
    with_id = r.random() < 0.95
    if with_id:
        children.insert(r.randrange(3), element("UploadId", escaped, prefix))
    return (_document(ROOTS["initiate"], children, **layout),
            {"upload_id": expected.strip(_SPACE)[:MAX_UPLOAD_ID_CHARS] if with_id else None})


def build_list(r: random.Random) -> tuple[bytes, dict]:
    layout = _layout(r)
    prefix = layout["prefix"]
    key, upload_id = rand_text(r, 30), "".join(r.choices("0123456789abcdef", k=r.randint(0, 80)))
    flag = r.choice(("true", "false", "True", " false ", "1", ""))
    children = [element("Bucket", "examplebucket-1250000000", prefix), element("Key", xml_text(key)[0], prefix),
                element("UploadId", upload_id, prefix),
                f"<{prefix}Owner><{prefix}ID>qcs::cam::uin/1:uin/1</{prefix}ID></{prefix}Owner>"]
    parts = []
    for _ in range(r.choice((0, 1, 3, 10))):
        number, etag = _part_number(r), _etag(r)
        size = r.choice((str(r.randint(0, 5 << 30)), "-1", "", "12x"))
        children.append(f"<{prefix}Part>" + element("PartNumber", xml_text(number)[0], prefix)
                        + element("LastModified", "2020-03-25T10:07:02.000Z", prefix)
                        + element("ETag", xml_text(etag)[0], prefix) + element("Size", size, prefix) + f"</{prefix}Part>")
        parts.append([expected_number(xml_text(number)[1]), xml_text(etag)[1][:MAX_TEXT_CHARS], expected_number(size)])
    children.append(element("IsTruncated", flag, prefix))
    word = flag.strip(_SPACE).lower()
    expect = {"parts": parts, "upload_id": upload_id, "key": xml_text(key)[1][:MAX_NAME_CHARS],
              "is_truncated": True if word == "true" else False if word == "false" else flag,
              "problem": None}
    return _document(ROOTS["list"], children, **layout), expect


def build_answer(r: random.Random) -> tuple[bytes, dict]:
    spaces = b" " * r.choice((0, 1, 100, 5000)) + (b"\r\n\t" if r.random() < 0.1 else b"")
    roll = r.random()
    if roll < 0.5:
        layout = _layout(r)
        layout["ns"] = COS_NS if r.random() < 0.8 else ""
        prefix = layout["prefix"]
        etag = '"' + "".join(r.choices("0123456789abcdef", k=32)) + f'-{r.randint(1, 10_000)}"'
        location, key = "http://examplebucket-1250000000.cos.ap-beijing.myqcloud.com/" + rand_text(r, 10), \
            rand_text(r, 20)
        children = [element("Location", xml_text(location)[0], prefix), element("Bucket", "", prefix),
                    element("Key", xml_text(key)[0], prefix), element("ETag", xml_text(etag)[0], prefix)]
        r.shuffle(children)
        expect = {"kind": "result", "etag": etag, "location": xml_text(location)[1][:MAX_NAME_CHARS],
                  "key": xml_text(key)[1][:MAX_NAME_CHARS], "error": None}
        return spaces + _document(ROOTS["answer"], children, **layout), expect
    if roll < 0.85:
        code = r.choice(("InternalError", "EntityTooSmall", "InvalidPart", "InvalidPartOrder", "NoSuchUpload",
                         "MalformedXML", rand_text(r, 12)))
        message, request_id = rand_text(r, 40), rand_text(r, 20)
        body = render_error_xml(code, message, "r", request_id, indented=r.random() < 0.5)
        clean = lambda t: _XML_ILLEGAL.sub("\ufffd", t)  # noqa: E731
        expect = {"kind": "error", "etag": None, "location": None, "key": None,
                  "error": [clean(code).strip(), clean(message), clean(request_id).strip()]}
        return spaces + body, expect
    return spaces, {"kind": "empty", "etag": None, "location": None, "key": None, "error": None}


# --- hostile bodies ---------------------------------------------------------------------------------

def billion_laughs(root: str, levels: int = 10) -> bytes:
    lines = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{i} "' + f"&lol{i - 1};" * 10 + '">' for i in range(1, levels)]
    return (f'<?xml version="1.0"?>\n<!DOCTYPE {root} [\n' + "\n".join(lines) + f"\n]>\n<{root}>"
            f"<Part><PartNumber>1</PartNumber><ETag>&lol{levels - 1};</ETag></Part>"
            f"<UploadId>&lol{levels - 1};</UploadId><ETag>&lol{levels - 1};</ETag></{root}>").encode()


def xxe(root: str, url: str, *, parameter: bool = False) -> bytes:
    dtd = f'<!ENTITY % ext SYSTEM "{url}"> %ext;' if parameter else f'<!ENTITY xxe SYSTEM "{url}">'
    return (f'<?xml version="1.0"?><!DOCTYPE {root} [{dtd}]><{root}><Part><PartNumber>1</PartNumber>'
            f"<ETag>&xxe;</ETag></Part><UploadId>&xxe;</UploadId><Key>&xxe;</Key><ETag>&xxe;</ETag></{root}>").encode()


def xinclude(root: str, url: str) -> bytes:
    """No DTD at all, so it passes the DOCTYPE filter: only the parser's settings keep it inert."""
    inc = f'<xi:include href="{url}" parse="text"/>'
    return (f'<{root} xmlns:xi="http://www.w3.org/2001/XInclude"><Part><PartNumber>1</PartNumber>'
            f"<ETag>{inc}</ETag></Part><UploadId>{inc}</UploadId><Key>{inc}</Key><ETag>{inc}</ETag></{root}>").encode()


def deep_nesting(root: str, depth: int) -> bytes:
    return f"<{root}>".encode() + b"<Part>" * depth + b"</Part>" * depth + f"</{root}>".encode()


def many_parts(root: str, count: int, *, full: bool = False) -> bytes:
    one = b'<Part><PartNumber>1</PartNumber><ETag>"e"</ETag><Size>1</Size></Part>' if full else b"<Part/>"
    return f"<{root}>".encode() + one * count + f"</{root}>".encode()


def oversized(root: str, limit: int, delta: int) -> bytes:
    head, tail = f"<{root}><Part><PartNumber>1</PartNumber></Part><Note>".encode(), f"</Note></{root}>".encode()
    return head + b"n" * max(0, limit + delta - len(head) - len(tail)) + tail


def hostile_upload_xml(kind: str, marker_file: str, url: str) -> dict[str, bytes]:
    """Named hostile bodies for one reader; `marker_file` must never be read and `url` never fetched."""
    root = ROOTS[kind]
    file_url = Path(marker_file).resolve().as_uri()
    return {
        "billion-laughs": billion_laughs(root),
        "xxe-file": xxe(root, file_url),
        "xxe-file-lowercase": xxe(root, file_url).replace(b"<!DOCTYPE", b"<!doctype"),
        "xxe-http": xxe(root, url),
        "xxe-parameter-http": xxe(root, url, parameter=True),
        "external-dtd": f'<!DOCTYPE {root} SYSTEM "{url}"><{root}/>'.encode(),
        "xinclude-file": xinclude(root, file_url),
        "xinclude-http": xinclude(root, url),
        "utf16-xxe": xxe(root, file_url).decode().encode("utf-16"),
        "deep-nesting": deep_nesting(root, 100_000),
        "many-parts": many_parts(root, 200_000),
        "oversized": oversized(root, LIMITS[kind], 1),
        "nul-bytes": f"<{root}>".encode() + b"\x00" * 1000 + f"</{root}>".encode(),
        "not-utf8": f"<{root}><Key>".encode() + bytes(range(128, 256)) + f"</Key></{root}>".encode(),
        "garbage": bytes(range(256)) * 64,
    }


# --- the generator ------------------------------------------------------------------------------

BUILDERS = {"complete": build_complete, "initiate": build_initiate, "list": build_list, "answer": build_answer}
UPLOAD_INSERTS = (b"<Part>", b"</Part>", b"<PartNumber>", b"</ETag>", b"<Error>", b"<!DOCTYPE x>",
                  b"<!ENTITY e 'x'>", b"&e;", b"&#0;", b"\x00", b"\xff", b"\xef\xbb\xbf", b"<?xml version='1.0'?>",
                  b" " * 64, b"<a>" * 300, b"<Part/>" * 50)


def mutate_upload_xml(r: random.Random, data: bytes) -> bytes:
    if r.random() < 0.5:
        return mutate_xml(r, data)
    out = bytearray(data)
    for _ in range(r.randint(1, 3)):
        at = r.randrange(len(out) + 1)
        out[at:at] = r.choice(UPLOAD_INSERTS)
    return bytes(out)


def gen_upload_xml(r: random.Random, marker_url: str = "file:///nonexistent",
                   net_url: str = "http://127.0.0.1:9/") -> dict:
    kind = r.choice(KINDS)
    root = ROOTS[kind]
    roll = r.random()
    if roll < 0.45:
        data, expect = BUILDERS[kind](r)
        if r.random() < 0.6:
            return {"kind": kind, "data": data, "expect": expect}
    elif roll < 0.55:
        hostile = [billion_laughs(root, r.randint(2, 10)), xxe(root, marker_url), xxe(root, net_url),
                   xxe(root, net_url, parameter=True), xinclude(root, marker_url), xinclude(root, net_url),
                   f'<!DOCTYPE {root} SYSTEM "{net_url}"><{root}/>'.encode(),
                   xxe(root, marker_url).decode().encode("utf-16"),
                   deep_nesting(root, r.choice((31, 32, 33, 255, 256, 257, 1000, 20_000)))]
        if r.random() < 0.02:    # big ones: rarely, they cost milliseconds to build
            hostile += [many_parts(root, r.choice((1001, 10_001, 200_000)), full=r.random() < 0.5),
                        oversized(root, LIMITS[kind], r.randint(-50, 50))]
        data = r.choice(hostile)
    elif roll < 0.62:
        data = rand_bytes(r, 300)
    elif roll < 0.7:       # another reader's document
        data, _ = BUILDERS[r.choice(KINDS)](r)
    else:
        data, _ = BUILDERS[kind](r)
    if r.random() < 0.6:
        data = mutate_upload_xml(r, data)
    if r.random() < 0.01:
        return {"kind": kind, "data": r.choice((None, data.decode("latin-1"), 7, bytearray(data), memoryview(data)))}
    return {"kind": kind, "data": data}

