from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from cosdoctor.wire import uploadxml
from cosdoctor.wire.errorxml import CosErrorDoc, make_pull_parser, render_error_xml
from cosdoctor.wire.uploadxml import (
    MAX_COMPLETE_BYTES,
    MAX_COMPLETE_PARTS,
    MAX_DEPTH,
    MAX_INITIATE_BYTES,
    MAX_LIST_BYTES,
    MAX_LIST_PARTS,
    MAX_TEXT_CHARS,
    MAX_UPLOAD_ID_CHARS,
    PROBLEMS,
    CompleteAnswer,
    CompleteList,
    ListedPart,
    ListedParts,
    parse_complete_body,
    parse_list_parts,
    read_complete_answer,
    read_upload_id,
)

SECRET_MARKER = "TOPSECRET-upload-7f3a9c1e-marker"
NS = b' xmlns="http://www.qcloud.com/document/product/436/7751"'
ETAG1 = '"39270a96f1fe8e1a2fd0eb2a9b3707eb"'
ETAG2 = '"fc99cbb02c7a9b1d3ee3d7c1a2c0b0f1"'


def part(number: str | bytes, etag: str | bytes) -> bytes:
    number = number.encode() if isinstance(number, str) else number
    etag = etag.encode() if isinstance(etag, str) else etag
    return b"<Part><PartNumber>" + number + b"</PartNumber><ETag>" + etag + b"</ETag></Part>"


def complete(*parts: bytes) -> bytes:
    return b"<CompleteMultipartUpload>" + b"".join(parts) + b"</CompleteMultipartUpload>"


SDK_BODY = complete(part("1", ETAG1), part("2", ETAG2))


# --- parse_complete_body: clean bodies --------------------------------------------------------------

def test_complete_body_as_the_sdk_sends_it() -> None:
    assert parse_complete_body(SDK_BODY) == CompleteList(
        parts=(ListedPart(1, ETAG1, 0), ListedPart(2, ETAG2, 1)), problem=None, detail=None, truncated=False)


@pytest.mark.parametrize("body, parts", [
    pytest.param(b'<?xml version="1.0" encoding="UTF-8"?>\n' + SDK_BODY,
                 (ListedPart(1, ETAG1, 0), ListedPart(2, ETAG2, 1)), id="declaration"),
    pytest.param(b"\xef\xbb\xbf" + SDK_BODY, (ListedPart(1, ETAG1, 0), ListedPart(2, ETAG2, 1)), id="bom"),
    pytest.param(SDK_BODY.replace(b"<CompleteMultipartUpload>", b"<CompleteMultipartUpload" + NS + b">"),
                 (ListedPart(1, ETAG1, 0), ListedPart(2, ETAG2, 1)), id="cos-namespace"),
    pytest.param(b'<c:CompleteMultipartUpload xmlns:c="urn:x"><c:Part><c:PartNumber>3</c:PartNumber>'
                 b"<c:ETag>e</c:ETag></c:Part></c:CompleteMultipartUpload>", (ListedPart(3, "e", 0),),
                 id="prefixed-namespace"),
    pytest.param(b"<CompleteMultipartUpload>\n  <Part>\n    <PartNumber> 1\n</PartNumber>\n"
                 b"    <ETag> &quot;ab&quot; </ETag>\n  </Part>\n</CompleteMultipartUpload>",
                 (ListedPart(1, ' "ab" ', 0),), id="indented-etag-as-sent"),
    pytest.param(complete(part("0001", "e")), (ListedPart(1, "e", 0),), id="leading-zeros"),
    pytest.param(complete(part("10001", "e"), part("0", "f")), (ListedPart(10001, "e", 0), ListedPart(0, "f", 1)),
                 id="out-of-range-numbers-stay-numbers"),
    pytest.param(complete(part("2", "b"), part("1", "a"), part("2", "c")),
                 (ListedPart(2, "b", 0), ListedPart(1, "a", 1), ListedPart(2, "c", 2)), id="order-and-repeats-kept"),
    pytest.param(complete(part("-1", "e"), part("1.0", "e"), part("１", "e"), part("1_0", "e"), part("", "e")),
                 (ListedPart("-1", "e", 0), ListedPart("1.0", "e", 1), ListedPart("１", "e", 2),
                  ListedPart("1_0", "e", 3), ListedPart("", "e", 4)), id="not-decimal-numbers-as-text"),
    pytest.param(complete(part("9" * 13, "e")), (ListedPart("9" * 13, "e", 0),), id="long-number-as-text"),
    pytest.param(complete(part("9" * 12, "e")), (ListedPart(999_999_999_999, "e", 0),), id="12-digits-a-number"),
    pytest.param(complete(part("7" * 500, "e" * 500)), (ListedPart("7" * MAX_TEXT_CHARS, "e" * MAX_TEXT_CHARS, 0),),
                 id="clipped"),
    pytest.param(complete(b"<Part><ETag>e</ETag></Part>", b"<Part><PartNumber>4</PartNumber></Part>", b"<Part/>"),
                 (ListedPart(None, "e", 0), ListedPart(4, None, 1), ListedPart(None, None, 2)), id="absent-is-none"),
    pytest.param(complete(b"<Part><PartNumber>1</PartNumber><PartNumber>2</PartNumber><ETag>a</ETag>"
                          b"<ETag>b</ETag></Part>"), (ListedPart(1, "a", 0),), id="first-child-wins"),
    pytest.param(complete(b"<Part><PartNumber>1<!-- c --></PartNumber><ETag>a<?pi x?>b<![CDATA[<c>]]></ETag>"
                          b"</Part>"), (ListedPart(1, "ab<c>", 0),), id="comments-pis-cdata"),
    pytest.param(complete(b"<Part><PartNumber>1</PartNumber><ETag>x<b>y</b>z</ETag></Part>"),
                 (ListedPart(1, "xyz", 0),), id="markup-in-etag-text"),
    pytest.param(complete(b"<Other><Part><PartNumber>9</PartNumber></Part></Other>", part("1", "e"), b"<Note>n</Note>"),
                 (ListedPart(1, "e", 0),), id="only-children-of-the-root"),
    pytest.param(complete(b'<Part a="1"><PartNumber b="2">5</PartNumber></Part>'), (ListedPart(5, None, 0),),
                 id="attributes-ignored"),
    pytest.param("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>文件😀</ETag></Part>"
                 "</CompleteMultipartUpload>".encode(), (ListedPart(1, "文件😀", 0),), id="utf8"),
    pytest.param(b'<?xml version="1.0" encoding="latin-1"?>' + complete(part("1", b"\xc3\xa9")),
                 (ListedPart(1, "\u00e9", 0),), id="declared-encoding-ignored"),
    pytest.param(b"<CompleteMultipartUpload/>", (), id="no-parts"),
])
def test_complete_body_parts(body: bytes, parts: tuple) -> None:
    assert parse_complete_body(body) == CompleteList(parts, None, None, False)


# --- parse_complete_body: problems -------------------------------------------------------------------

@pytest.mark.parametrize("body, expected", [
    pytest.param(b"", CompleteList((), "empty", None, False), id="empty"),
    pytest.param(b" \r\n\t ", CompleteList((), "empty", None, False), id="blank"),
    pytest.param(b"\xef\xbb\xbf", CompleteList((), "empty", None, False), id="bom-only"),
    pytest.param(None, CompleteList((), "empty", None, False), id="none"),
    pytest.param("<CompleteMultipartUpload/>", CompleteList((), "malformed", "not bytes", True), id="str"),
    pytest.param(b"<CompleteMultipartUploadResult/>", CompleteList((), "wrong-root", None, False), id="wrong-root"),
    pytest.param(b"<Part><PartNumber>1</PartNumber></Part>", CompleteList((), "wrong-root", None, False),
                 id="bare-part"),
    pytest.param(b"<completemultipartupload/>", CompleteList((), "wrong-root", None, False), id="case-matters"),
    pytest.param(complete(part("1", "a")) + b"junk",
                 CompleteList((ListedPart(1, "a", 0),), "malformed",
                              "Extra content at the end of the document (line 1, column 105)", False),
                 id="trailing-junk-after-the-root"),
    pytest.param(complete(part("1", "a"))[:-10],
                 CompleteList((ListedPart(1, "a", 0),), "malformed",
                              "expected '>' (line 1, column 95)", True), id="cut-in-the-end-tag"),
    pytest.param(b"<CompleteMultipartUpload><Part><PartNumber>1</ETag></Part></CompleteMultipartUpload>",
                 CompleteList((), "malformed",
                              "Opening and ending tag mismatch: PartNumber line 1 and ETag (line 1, column 52)", True),
                 id="tag-mismatch"),
    pytest.param(complete(part("1", "a"), part("2", b"\xff\xfe")),
                 CompleteList((ListedPart(1, "a", 0),), "malformed",
                              "Invalid bytes in character encoding (line 1, column 117)", True), id="not-utf8"),
    pytest.param(complete(part("1", b"a\x00b")),
                 CompleteList((), "malformed",
                              "Invalid character: Char 0x0 out of allowed range (line 1, column 65)", True), id="nul"),
    pytest.param(complete(part("1", "&nbsp;")),
                 CompleteList((), "malformed", "Entity 'nbsp' not defined (line 1, column 70)", True),
                 id="undefined-entity"),
    pytest.param(SDK_BODY.decode().encode("utf-16"),
                 CompleteList((), "malformed", "Start tag expected, '<' not found (line 1, column 1)", True), id="utf16"),
    pytest.param(b"  " + b'<?xml version="1.0"?>' + SDK_BODY,
                 CompleteList((), "malformed",
                              "XML declaration allowed only at the start of the document (line 1, column 8)", True),
                 id="declaration-after-spaces"),
    pytest.param(b"<!DOCTYPE CompleteMultipartUpload>" + SDK_BODY, CompleteList((), "entities", None, True),
                 id="doctype"),
    pytest.param(SDK_BODY + b" " * 100_000 + b"<!entity x 'y'>", CompleteList((), "entities", None, True),
                 id="entity-anywhere-any-case"),
])
def test_complete_body_problems(body: object, expected: CompleteList) -> None:
    assert parse_complete_body(body) == expected  # type: ignore[arg-type]


def test_problem_words_are_the_documented_ones() -> None:
    assert PROBLEMS == ("empty", "malformed", "wrong-root", "too-large", "too-many-parts", "too-deep", "entities")


def test_part_cap_keeps_exactly_ten_thousand() -> None:
    full = complete(*(part(str(i), f'"{i:032x}"') for i in range(1, MAX_COMPLETE_PARTS + 1)))
    result = parse_complete_body(full)
    assert (len(result.parts), result.problem, result.truncated) == (MAX_COMPLETE_PARTS, None, False)
    assert result.parts[-1] == ListedPart(10_000, f'"{10_000:032x}"', 9_999)
    over = parse_complete_body(full.replace(b"</CompleteMultipartUpload>", part("10001", "x") + b"<Part>"))
    assert (len(over.parts), over.problem, over.detail, over.truncated) == (10_000, "too-many-parts", None, True)
    assert over.parts == result.parts
    # Other children do not count towards the cap.
    padded = parse_complete_body(full.replace(b"<CompleteMultipartUpload>", b"<CompleteMultipartUpload>"
                                              + b"<Note/>" * 20_000))
    assert (len(padded.parts), padded.problem) == (10_000, None)


def test_size_limit_refuses_unparsed(monkeypatch) -> None:
    filler = b"<Note>" + b"n" * 1000 + b"</Note>"
    head, tail = b"<CompleteMultipartUpload>" + part("1", "a"), b"</CompleteMultipartUpload>"
    body = head + filler * ((MAX_COMPLETE_BYTES - len(head) - len(tail)) // len(filler))
    body += b" " * (MAX_COMPLETE_BYTES - len(body) - len(tail)) + tail
    assert len(body) == MAX_COMPLETE_BYTES == 4 * 1024 * 1024
    assert parse_complete_body(body) == CompleteList((ListedPart(1, "a", 0),), None, None, False)
    calls: list[int] = []
    real = uploadxml.make_pull_parser
    monkeypatch.setattr(uploadxml, "make_pull_parser", lambda *a: calls.append(1) or real(*a))
    assert parse_complete_body(body + b" ") == CompleteList((), "too-large", None, True)
    assert calls == []


# --- hostile bodies ---------------------------------------------------------------------------------

def billion_laughs(root: str) -> bytes:
    lines = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{i} "' + f"&lol{i - 1};" * 10 + '">' for i in range(1, 10)]
    return (f'<?xml version="1.0"?>\n<!DOCTYPE {root} [\n' + "\n".join(lines) + f"\n]>\n<{root}>"
            "<Part><PartNumber>1</PartNumber><ETag>&lol9;</ETag></Part>"
            f"<UploadId>&lol9;</UploadId><ETag>&lol9;</ETag></{root}>").encode()


def xxe(root: str, url: str, *, parameter: bool = False) -> bytes:
    dtd = f'<!ENTITY % ext SYSTEM "{url}"> %ext;' if parameter else f'<!ENTITY xxe SYSTEM "{url}">'
    return (f'<?xml version="1.0"?><!DOCTYPE {root} [{dtd}]><{root}><Part><PartNumber>1</PartNumber>'
            f"<ETag>&xxe;</ETag></Part><UploadId>&xxe;</UploadId><ETag>&xxe;</ETag></{root}>").encode()


def xinclude(root: str, url: str) -> bytes:
    return (f'<{root} xmlns:xi="http://www.w3.org/2001/XInclude"><Part><PartNumber>1</PartNumber>'
            f'<ETag><xi:include href="{url}" parse="text"/></ETag></Part>'
            f'<UploadId><xi:include href="{url}" parse="text"/></UploadId></{root}>').encode()


ROOTS = {"complete": "CompleteMultipartUpload", "initiate": "InitiateMultipartUploadResult",
         "list": "ListPartsResult", "answer": "CompleteMultipartUploadResult"}


def read_all(kind: str, body: bytes) -> object:
    return {"complete": parse_complete_body, "initiate": read_upload_id, "list": parse_list_parts,
            "answer": read_complete_answer}[kind](body)


def problem_of(result: object) -> str | None:
    return None if result is None or isinstance(result, str) else result.problem  # type: ignore[attr-defined]


@pytest.fixture
def secret_url(tmp_path) -> str:
    p = tmp_path / "secret.txt"
    p.write_text(SECRET_MARKER)
    return p.resolve().as_uri()


HOSTILE = {
    "billion-laughs": lambda root, f: billion_laughs(root),
    "xxe-file": lambda root, f: xxe(root, f),
    "xxe-http": lambda root, f: xxe(root, "http://127.0.0.1:1/x"),
    "xxe-parameter": lambda root, f: xxe(root, "http://127.0.0.1:1/x.dtd", parameter=True),
    "xxe-doctype-lowercase": lambda root, f: xxe(root, f).replace(b"<!DOCTYPE", b"<!doctype"),
    "xxe-utf16": lambda root, f: xxe(root, f).decode().encode("utf-16"),
    "external-dtd": lambda root, f: f'<!DOCTYPE {root} SYSTEM "http://127.0.0.1:1/evil.dtd"><{root}/>'.encode(),
}
REFUSED = {  # what each reader says about a refused body
    "complete": CompleteList((), "entities", None, True),
    "initiate": None,
    "list": ListedParts((), problem="entities", truncated=True),
    "answer": CompleteAnswer("other", problem="entities"),
}


@pytest.mark.parametrize("kind", sorted(ROOTS))
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_entity_documents_refused_never_expanded(kind: str, name: str, secret_url: str) -> None:
    data = HOSTILE[name](ROOTS[kind], secret_url)
    if name == "xxe-utf16":        # UTF-16 hides the DOCTYPE from the byte search: read as UTF-8, malformed
        result = read_all(kind, data)
        assert problem_of(result) == ("malformed" if kind != "initiate" else None)
        assert result is None or SECRET_MARKER not in repr(result)
        return
    assert read_all(kind, data) == REFUSED[kind]


@pytest.mark.parametrize("kind", sorted(ROOTS))
def test_xinclude_stays_inert(kind: str, secret_url: str) -> None:
    """No DTD, so the byte search lets it through: only the parser's settings keep it inert."""
    result = read_all(kind, xinclude(ROOTS[kind], secret_url))
    assert SECRET_MARKER not in repr(result)
    expected = {"complete": CompleteList((ListedPart(1, "", 0),)), "initiate": "",
                "list": ListedParts((ListedPart(1, "", 0),), upload_id=""),
                "answer": CompleteAnswer("result", root="CompleteMultipartUploadResult")}
    assert result == expected[kind]


@pytest.mark.parametrize("make", [
    pytest.param(lambda: billion_laughs("CompleteMultipartUpload"), id="billion-laughs"),
    pytest.param(lambda: xxe("CompleteMultipartUpload", "http://127.0.0.1:1/x"), id="xxe-http"),
])
def test_pull_parser_itself_is_hardened(make) -> None:
    """Defence in depth: without the DOCTYPE pre-check, the pull parser expands and fetches nothing."""
    parser = make_pull_parser(("end",))
    try:
        parser.feed(make())
        root = parser.close()
    except etree.XMLSyntaxError:
        return
    assert "lollollol" not in "".join(root.itertext())


def deep(levels: int, name: bytes = b"Part") -> bytes:
    """The root and ``levels`` nested elements inside it: depth levels + 1."""
    return (b"<CompleteMultipartUpload>" + (b"<" + name + b">") * levels + (b"</" + name + b">") * levels
            + b"</CompleteMultipartUpload>")


def test_depth_cap() -> None:
    assert MAX_DEPTH == 32
    assert parse_complete_body(deep(MAX_DEPTH - 1, b"a")) == CompleteList((), None, None, False)
    assert parse_complete_body(deep(MAX_DEPTH, b"a")) == CompleteList((), "too-deep", None, True)
    assert parse_complete_body(deep(255)) == CompleteList((), "too-deep", None, True)
    assert parse_complete_body(deep(257)) == CompleteList((), "too-deep", None, True)  # past libxml2's own limit


BIG_PART = part("1", ETAG1)
BOMBS = {   # name -> (body, expected)
    "200k-parts": (complete(*[b"<Part/>"] * 200_000),
                   lambda r: (len(r.parts), r.problem, r.truncated) == (10_000, "too-many-parts", True)
                   and r.parts[-1] == ListedPart(None, None, 9_999)),
    "200k-sdk-parts-over-4MiB": (complete(*[BIG_PART] * 200_000),
                                 lambda r: r == CompleteList((), "too-large", None, True)),
    "100k-levels": (deep(100_000), lambda r: r == CompleteList((), "too-deep", None, True)),
    "20MB": (complete(BIG_PART, b" " * (20 << 20)), lambda r: r == CompleteList((), "too-large", None, True)),
    "4MiB-of-one-etag": (complete(part("1", "e" * (MAX_COMPLETE_BYTES - 200))),
                         lambda r: r == CompleteList((ListedPart(1, "e" * MAX_TEXT_CHARS, 0),), None, None, False)),
    "4MiB-of-attributes": (b"<CompleteMultipartUpload " + b" ".join(b'a%d="v"' % i for i in range(300_000))
                           + b"/>", lambda r: r == CompleteList((), None, None, False)),
    "4MiB-of-random-bytes": (bytes(range(256)) * (MAX_COMPLETE_BYTES // 256),
                             lambda r: r.problem == "malformed"),
    "4MiB-of-nul": (b"<CompleteMultipartUpload>" + b"\x00" * (MAX_COMPLETE_BYTES - 100),
                    lambda r: r.problem == "malformed" and r.parts == ()),
}


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_bombs_finish_in_bounded_time(name: str) -> None:
    body, verdict = BOMBS[name]
    times = []
    for _ in range(3):
        start = time.monotonic()
        result = parse_complete_body(body)
        times.append(time.monotonic() - start)
        assert verdict(result), result if len(repr(result)) < 500 else (result.problem, len(result.parts))
    assert max(times) < 5.0, times


@given(st.binary(max_size=2048))
@settings(max_examples=300, deadline=None)
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    result = parse_complete_body(data)
    assert type(result) is CompleteList and (result.problem is None or result.problem in PROBLEMS)
    assert type(parse_list_parts(data)) is ListedParts
    assert type(read_complete_answer(data)) is CompleteAnswer
    uid = read_upload_id(data)
    assert uid is None or type(uid) is str


@given(st.binary(max_size=256), st.sampled_from(["PartNumber", "ETag"]))
@settings(max_examples=200, deadline=None)
def test_bytes_inside_a_part_never_raise(data: bytes, where: str) -> None:
    body = complete(part(data if where == "PartNumber" else b"1", data if where == "ETag" else b"e"))
    result = parse_complete_body(body)
    assert type(result) is CompleteList
    assert result.problem in (None, "malformed", "entities", "too-deep")
    assert all(type(p) is ListedPart for p in result.parts) and len(result.parts) <= 1


# --- read_upload_id --------------------------------------------------------------------------------

INITIATE = (b"<InitiateMultipartUploadResult><Bucket>examplebucket-1250000000</Bucket><Key>exampleobject</Key>"
            b"<UploadId>1585130821cbb7df1d11846c073ad648e8f33b087cec2381df437acdc833cf654b9ecc6361</UploadId>"
            b"</InitiateMultipartUploadResult>")
UPLOAD_ID = "1585130821cbb7df1d11846c073ad648e8f33b087cec2381df437acdc833cf654b9ecc6361"


@pytest.mark.parametrize("body, expected", [
    pytest.param(INITIATE, UPLOAD_ID, id="sample"),
    pytest.param(b'<?xml version="1.0" encoding="UTF-8"?>\n'
                 + INITIATE.replace(b"<InitiateMultipartUploadResult>", b"<InitiateMultipartUploadResult" + NS + b">"),
                 UPLOAD_ID, id="declaration-and-namespace"),
    pytest.param(INITIATE.replace(b"<UploadId>", b"<UploadId>\n\t ").replace(b"</UploadId>", b" \n</UploadId>"),
                 UPLOAD_ID, id="stripped"),
    pytest.param(b"<InitiateMultipartUploadResult><UploadId/></InitiateMultipartUploadResult>", "", id="empty-id"),
    pytest.param(b"<InitiateMultipartUploadResult><UploadId>" + b"u" * 5000 + b"</UploadId>"
                 b"</InitiateMultipartUploadResult>", "u" * MAX_UPLOAD_ID_CHARS, id="clipped"),
    pytest.param(b"<InitiateMultipartUploadResult><UploadId>a</UploadId><UploadId>b</UploadId>"
                 b"</InitiateMultipartUploadResult>", "a", id="first-wins"),
    pytest.param(b"<InitiateMultipartUploadResult><X><UploadId>a</UploadId></X></InitiateMultipartUploadResult>",
                 None, id="nested-not-read"),
    pytest.param(b"<InitiateMultipartUploadResult><Key>k</Key></InitiateMultipartUploadResult>", None, id="absent"),
    pytest.param(INITIATE[:-5], None, id="cut"),
    pytest.param(render_error_xml("AccessDenied", "Access Denied.", "r", "id"), None, id="error-document"),
    pytest.param(b"", None, id="empty"),
    pytest.param(None, None, id="none"),
    pytest.param(b"<!DOCTYPE x>" + INITIATE, None, id="doctype"),
    pytest.param(INITIATE.replace(b"</InitiateMultipartUploadResult>",
                                  b" " * MAX_INITIATE_BYTES + b"</InitiateMultipartUploadResult>"),
                 None, id="over-64KiB"),
    pytest.param(INITIATE.replace(b"</InitiateMultipartUploadResult>", b"<a>" * 50 + b"</a>" * 50
                                  + b"</InitiateMultipartUploadResult>"), None, id="too-deep"),
])
def test_read_upload_id(body: object, expected: str | None) -> None:
    assert read_upload_id(body) == expected  # type: ignore[arg-type]


def test_upload_id_size_limit() -> None:
    assert MAX_INITIATE_BYTES == 64 * 1024
    tail = b"</InitiateMultipartUploadResult>"
    fits = INITIATE[:-len(tail)] + b" " * (MAX_INITIATE_BYTES - len(INITIATE)) + tail
    assert len(fits) == MAX_INITIATE_BYTES and read_upload_id(fits) == UPLOAD_ID
    assert read_upload_id(fits + b" ") is None


# --- parse_list_parts ------------------------------------------------------------------------------

LIST = (b'<?xml version="1.0" encoding="UTF-8"?>\n<ListPartsResult' + NS + b">"
        b"<Bucket>examplebucket-1250000000</Bucket><Encoding-type/><Key>exampleobject</Key>"
        b"<UploadId>1585130821cbb7</UploadId>"
        b"<Initiator><ID>qcs::cam::uin/100000000001:uin/100000000001</ID><DisplayName>1</DisplayName></Initiator>"
        b"<Owner><ID>qcs::cam::uin/100000000001:uin/100000000001</ID><DisplayName>1</DisplayName></Owner>"
        b"<PartNumberMarker>0</PartNumberMarker>"
        b"<Part><PartNumber>1</PartNumber><LastModified>2020-03-25T10:07:02.000Z</LastModified>"
        b"<ETag>&quot;e1&quot;</ETag><Size>1048576</Size></Part>"
        b"<Part><PartNumber>2</PartNumber><LastModified>2020-03-25T10:07:03.000Z</LastModified>"
        b"<ETag>&quot;e2&quot;</ETag><Size>12</Size></Part>"
        b"<NextPartNumberMarker>2</NextPartNumberMarker><StorageClass>STANDARD</StorageClass>"
        b"<MaxParts>1000</MaxParts><IsTruncated>false</IsTruncated></ListPartsResult>")
LIST_PARTS = (ListedPart(1, '"e1"', 0, 1_048_576), ListedPart(2, '"e2"', 1, 12))


def test_list_parts_sample() -> None:
    assert parse_list_parts(LIST) == ListedParts(
        parts=LIST_PARTS, upload_id="1585130821cbb7", key="exampleobject", is_truncated=False,
        next_part_number_marker=2, problem=None, detail=None, truncated=False)


@pytest.mark.parametrize("body, expected", [
    pytest.param(LIST.replace(b">false<", b">true<"),
                 ListedParts(LIST_PARTS, "1585130821cbb7", "exampleobject", True, 2), id="is-truncated"),
    pytest.param(LIST.replace(b">false<", b"> True\n<"),
                 ListedParts(LIST_PARTS, "1585130821cbb7", "exampleobject", True, 2), id="is-truncated-spelling"),
    pytest.param(LIST.replace(b">false<", b">yes<"),
                 ListedParts(LIST_PARTS, "1585130821cbb7", "exampleobject", "yes", 2), id="is-truncated-other"),
    pytest.param(LIST.replace(b"<Size>12</Size>", b"<Size>-12</Size>").replace(b"<Key>exampleobject", b"<Key> a b"),
                 ListedParts((LIST_PARTS[0], ListedPart(2, '"e2"', 1, "-12")), "1585130821cbb7", " a b", False, 2),
                 id="size-as-text-key-as-sent"),
    pytest.param(b"<ListPartsResult/>", ListedParts(()), id="bare"),
    pytest.param(b"<ListPartsResult><Part><Size>5</Size></Part></ListPartsResult>",
                 ListedParts((ListedPart(None, None, 0, 5),)), id="part-without-number"),
    pytest.param(b"<ListPartsResult><Key>" + "文".encode() * 2000 + b"</Key></ListPartsResult>",
                 ListedParts((), key="文" * 1024), id="key-clipped"),
    pytest.param(b"<ListMultipartUploadsResult/>", ListedParts((), problem="wrong-root"), id="wrong-root"),
    pytest.param(LIST[:-30],
                 ListedParts(LIST_PARTS, "1585130821cbb7", "exampleobject", None, 2, "malformed",
                             "expected '>' (line 2, column 827)", True),
                 id="cut-keeps-what-was-read"),
    pytest.param(b"", ListedParts((), problem="empty"), id="empty"),
    pytest.param(b"<!DOCTYPE x>" + LIST, ListedParts((), problem="entities", truncated=True), id="doctype"),
    pytest.param(LIST.replace(b"</ListPartsResult>", b" " * MAX_LIST_BYTES + b"</ListPartsResult>"),
                 ListedParts((), problem="too-large", truncated=True), id="too-large"),
])
def test_list_parts(body: bytes, expected: ListedParts) -> None:
    assert parse_list_parts(body) == expected


def test_list_parts_cap() -> None:
    page = b"<ListPartsResult>" + b"".join(
        b"<Part><PartNumber>%d</PartNumber><ETag>e</ETag><Size>1</Size></Part>" % i
        for i in range(1, MAX_LIST_PARTS + 1)) + b"<IsTruncated>true</IsTruncated></ListPartsResult>"
    full = parse_list_parts(page)
    assert (len(full.parts), full.is_truncated, full.problem) == (1000, True, None)
    over = parse_list_parts(page.replace(b"<IsTruncated>", b"<Part/><IsTruncated>"))
    assert (len(over.parts), over.is_truncated, over.problem, over.truncated) == (1000, None, "too-many-parts", True)
    start = time.monotonic()
    bomb = parse_list_parts(b"<ListPartsResult>" + b"<Part/>" * 500_000 + b"</ListPartsResult>")
    assert time.monotonic() - start < 5.0
    assert (len(bomb.parts), bomb.problem) == (1000, "too-many-parts")


# --- read_complete_answer --------------------------------------------------------------------------

RESULT = (b'<?xml version="1.0" encoding="UTF-8"?>\n<CompleteMultipartUploadResult' + NS + b">"
          b"<Location>http://examplebucket-1250000000.cos.ap-beijing.myqcloud.com/exampleobject</Location>"
          b"<Bucket>examplebucket-1250000000</Bucket><Key>exampleobject</Key>"
          b"<ETag>&quot;aa259a62513358f69e98e72e59856d88-3&quot;</ETag></CompleteMultipartUploadResult>")
RESULT_ANSWER = CompleteAnswer(
    "result", etag='"aa259a62513358f69e98e72e59856d88-3"',
    location="http://examplebucket-1250000000.cos.ap-beijing.myqcloud.com/exampleobject",
    key="exampleobject", bucket="examplebucket-1250000000", root="CompleteMultipartUploadResult")
ERROR = (b"<?xml version='1.0' encoding='utf-8' ?>\n<Error><Code>InternalError</Code>"
         b"<Message>We encountered an internal error. Please try again.</Message>"
         b"<RequestId>NjQ1YjA4ZDlfNmUyODM1MGFfMjM2ZF8x</RequestId></Error>")
ERROR_ANSWER = CompleteAnswer("error", error=CosErrorDoc(
    "InternalError", "We encountered an internal error. Please try again.", None,
    "NjQ1YjA4ZDlfNmUyODM1MGFfMjM2ZF8x", None, ()), root="Error")


@pytest.mark.parametrize("body, expected", [
    pytest.param(RESULT, RESULT_ANSWER, id="result"),
    pytest.param(b" " * 300_000 + RESULT, RESULT_ANSWER, id="after-merge-spaces"),
    pytest.param(b" \r\n\t" * 10 + RESULT, RESULT_ANSWER, id="after-whitespace"),
    pytest.param(b"   " + ERROR, ERROR_ANSWER, id="error-after-spaces"),
    pytest.param(ERROR.replace(b"<Error>", b'<Error xmlns="urn:x">'), ERROR_ANSWER, id="error-namespaced"),
    pytest.param(b"<CompleteMultipartUploadResult><Location>l</Location></CompleteMultipartUploadResult>",
                 CompleteAnswer("result", location="l", root="CompleteMultipartUploadResult"), id="result-without-etag"),
    pytest.param(b"", CompleteAnswer("empty"), id="empty"),
    pytest.param(None, CompleteAnswer("empty"), id="none"),
    pytest.param(b" " * 1_000_000, CompleteAnswer("empty"), id="only-spaces"),
    pytest.param(b"    " + RESULT[:-60],
                 CompleteAnswer("other", root="CompleteMultipartUploadResult", problem="malformed",
                                detail="Premature end of data in tag ETag line 2 (line 2, column 278)"),
                 id="cut-result"),
    pytest.param(b"  " + ERROR[:-8],
                 CompleteAnswer("other", root="Error", problem="malformed",
                                detail="Premature end of data in tag Error line 2 (line 2, column 159)"),
                 id="cut-error"),
    pytest.param(b"<html><body>502</body></html>", CompleteAnswer("other", root="html", problem="wrong-root"),
                 id="html"),
    pytest.param(b'{"Error": 1}', CompleteAnswer("other", problem="malformed",
                                                 detail="Start tag expected, '<' not found (line 1, column 1)"),
                 id="json"),
    pytest.param(b"  <!DOCTYPE x>" + RESULT, CompleteAnswer("other", problem="entities"), id="doctype"),
    pytest.param(b" " * 10 + RESULT.replace(b"</CompleteMultipartUploadResult>",
                                            b" " * (1 << 20) + b"</CompleteMultipartUploadResult>"),
                 CompleteAnswer("other", problem="too-large"), id="too-large"),
])
def test_read_complete_answer(body: object, expected: CompleteAnswer) -> None:
    assert read_complete_answer(body) == expected  # type: ignore[arg-type]


def test_complete_answer_of_20MB_spaces_is_bounded() -> None:
    body = b" " * (20 << 20) + RESULT
    times = []
    for _ in range(3):
        start = time.monotonic()
        assert read_complete_answer(body) == RESULT_ANSWER
        times.append(time.monotonic() - start)
    assert max(times) < 5.0, times


@pytest.mark.parametrize("body, expected", [
    pytest.param(b"\xef\xbb\xbf\xef\xbb\xbf", CompleteAnswer("empty"), id="two-boms"),   # found by the fuzzer
    pytest.param(b"  \xef\xbb\xbf" + RESULT, RESULT_ANSWER, id="bom-after-spaces"),
    pytest.param(b"\xef\xbb\xbf  " + RESULT, RESULT_ANSWER, id="spaces-after-bom"),
])
def test_complete_answer_bom_and_spaces(body: bytes, expected: CompleteAnswer) -> None:
    assert read_complete_answer(body) == expected
