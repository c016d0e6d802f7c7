from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from cosdoctor.wire import errorxml
from cosdoctor.wire.errorxml import (
    MAX_XML_BYTES,
    CosErrorDoc,
    escape_xml,
    normalise_message,
    parse_error_xml,
    render_error_xml,
)

SECRET_MARKER = "TOPSECRET-7f3a9c1e-marker"

# A real-shaped COS answer (D-POSTERR / D-ERR).
VALID = (
    b"<?xml version='1.0' encoding='utf-8' ?>\n"
    b"<Error><Code>AccessDenied</Code>"
    b"<Message>Condition key q-ak doesn&apos;t match the value AKIDxxx</Message>"
    b"<Resource>examplebucket-1250000000.cos.ap-beijing.myqcloud.com/</Resource>"
    b"<RequestId>NjQ1YjA4ZDlfNmUyODM1MGFfMjM2ZF8x</RequestId>"
    b"<TraceId>OGVmYzZiMmQzYjA2OWNhODk0NTRkMTBiOWVmMDAxODc0OWRkZjk0ZDM1NmI1M2E2MTRlY2MzZDhmNmI5MWI1</TraceId>"
    b"</Error>"
)
VALID_DOC = CosErrorDoc(
    code="AccessDenied",
    message="Condition key q-ak doesn't match the value AKIDxxx",
    resource="examplebucket-1250000000.cos.ap-beijing.myqcloud.com/",
    request_id="NjQ1YjA4ZDlfNmUyODM1MGFfMjM2ZF8x",
    trace_id="OGVmYzZiMmQzYjA2OWNhODk0NTRkMTBiOWVmMDAxODc0OWRkZjk0ZDM1NmI1M2E2MTRlY2MzZDhmNmI5MWI1",
    extra=(),
)


def test_valid_default() -> None:
    assert parse_error_xml(VALID) == VALID_DOC


@pytest.mark.parametrize(
    "data, expected",
    [
        pytest.param(b"\xef\xbb\xbf" + VALID, VALID_DOC, id="utf8-bom"),
        pytest.param(bytearray(VALID), VALID_DOC, id="bytearray"),
        pytest.param(memoryview(VALID), VALID_DOC, id="memoryview"),
        pytest.param(VALID.replace(b"<?xml version='1.0' encoding='utf-8' ?>\n", b""), VALID_DOC,
                     id="no-declaration"),
        pytest.param(VALID.replace(b"<Code>", b"\n  <!-- note -->\n  <Code>"), VALID_DOC, id="comment-removed"),
        pytest.param(VALID.replace(b"<Code>AccessDenied", b"<Code> AccessDenied\n"), VALID_DOC,
                     id="code-whitespace-stripped"),
        pytest.param(VALID.replace(b"<TraceId>", b"<ServerTime>2019-07-19T11:10:53Z</ServerTime><TraceId>"),
                     CosErrorDoc(VALID_DOC.code, VALID_DOC.message, VALID_DOC.resource, VALID_DOC.request_id,
                                 VALID_DOC.trace_id, (("ServerTime", "2019-07-19T11:10:53Z"),)),
                     id="extra-kept"),
        pytest.param(
            b"<Error><Code>SignatureDoesNotMatch</Code><Message>The Signature you specified is invalid.</Message>"
            b"<StringToSign>sha1\n1666158568;1666218568\n488ab1\n</StringToSign><Resource>r</Resource>"
            b"<FormatString>put\n/\ncors=\ncontent-length=454&amp;host=x\n</FormatString>"
            b"<RequestId>id</RequestId><ServerTime>t</ServerTime></Error>",
            CosErrorDoc("SignatureDoesNotMatch", "The Signature you specified is invalid.", "r", "id", None,
                        (("StringToSign", "sha1\n1666158568;1666218568\n488ab1\n"),
                         ("FormatString", "put\n/\ncors=\ncontent-length=454&host=x\n"),
                         ("ServerTime", "t"))),
            id="extras-in-order-between-known",
        ),
        pytest.param(b"<Error><Code>InternalError</Code></Error>",
                     CosErrorDoc("InternalError", None, None, None, None, ()), id="missing-elements-none"),
        pytest.param(b"<Error><Code>X</Code><Message></Message><Code>Y</Code></Error>",
                     CosErrorDoc("X", "", None, None, None, (("Code", "Y"),)), id="duplicate-to-extra"),
        pytest.param(VALID.replace(b"the value AKIDxxx", b"the value "),
                     CosErrorDoc(VALID_DOC.code, "Condition key q-ak doesn't match the value ", VALID_DOC.resource,
                                 VALID_DOC.request_id, VALID_DOC.trace_id, ()),
                     id="message-trailing-space-kept"),
        pytest.param(b"<Error xmlns='http://example.com/ns'><Code>X</Code></Error>",
                     CosErrorDoc("X", None, None, None, None, ()), id="namespaced"),
        pytest.param("<Error><Message>对象不存在</Message></Error>".encode(),
                     CosErrorDoc(None, "对象不存在", None, None, None, ()), id="utf8-text"),
        pytest.param(b"<?xml version='1.0' encoding='latin-1'?><Error><Message>\xc3\xa9</Message></Error>",
                     CosErrorDoc(None, "\u00e9", None, None, None, ()), id="declared-encoding-ignored"),
    ],
)
def test_parse(data: bytes, expected: CosErrorDoc) -> None:
    assert parse_error_xml(data) == expected


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(None, id="none"),
        pytest.param(b"", id="empty"),
        pytest.param(b"   \n", id="blank"),
        pytest.param("<Error><Code>X</Code></Error>", id="str-not-bytes"),
        pytest.param(b"<html><body><h1>502 Bad Gateway</h1></body></html>", id="html"),
        pytest.param(b'{"Error": {"Code": "AccessDenied"}}', id="json"),
        pytest.param(b"<PostResponse><Location>x</Location></PostResponse>", id="other-root"),
        pytest.param(b"<Result><Error><Code>X</Code></Error></Result>", id="error-not-root"),
        pytest.param(VALID[:-5], id="truncated"),
        pytest.param(b"<Error><Code>X</Code></Error><Error/>", id="two-roots"),
        pytest.param(VALID.replace(b"<Error>", b"<!DOCTYPE Error><Error>"), id="doctype"),
        pytest.param(VALID.replace(b"<Error>", b"<!doctype Error><Error>"), id="doctype-lower"),
        pytest.param(b"<Error><Code>X</Code></Error>" + b" " * (200 * 1024) + b"<!ENTITY x 'y'>",
                     id="entity-after-64k"),
        pytest.param(b"<Error><Code>&undefined;</Code></Error>", id="undefined-entity"),
        pytest.param("<Error><Code>X</Code></Error>".encode("utf-16"), id="utf16"),
        pytest.param(b"<Error><Code>X</Code></Error>" + b"\x00", id="nul"),
    ],
)
def test_not_an_error_document(data: object) -> None:
    assert parse_error_xml(data) is None  # type: ignore[arg-type]


# --- hostile XML -------------------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<Error><Code>&lol9;</Code><Message>m</Message></Error>"""


def quadratic_blowup() -> bytes:
    entity = "A" * 50_000
    body = "&a;" * 20_000
    return (f'<?xml version="1.0"?><!DOCTYPE Error [<!ENTITY a "{entity}">]>'
            f"<Error><Code>{body}</Code></Error>").encode()


def external_file_entity(path: str) -> bytes:
    return (f'<?xml version="1.0"?><!DOCTYPE Error [<!ENTITY xxe SYSTEM "file://{path}">]>'
            f"<Error><Code>AccessDenied</Code><Message>&xxe;</Message></Error>").encode()


EXTERNAL_HTTP = (b'<?xml version="1.0"?><!DOCTYPE Error [<!ENTITY xxe SYSTEM "http://127.0.0.1:1/x">]>'
                 b"<Error><Code>AccessDenied</Code><Message>&xxe;</Message></Error>")
EXTERNAL_DTD = (b'<?xml version="1.0"?><!DOCTYPE Error SYSTEM "http://127.0.0.1:1/evil.dtd">'
                b"<Error><Code>AccessDenied</Code></Error>")


@pytest.fixture
def secret_file(tmp_path) -> str:
    p = tmp_path / "secret.txt"
    p.write_text(SECRET_MARKER)
    return str(p)


def _everything(doc: CosErrorDoc | None) -> str:
    return repr(doc)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda f: BILLION_LAUGHS, id="billion-laughs"),
        pytest.param(lambda f: quadratic_blowup(), id="quadratic-blowup"),
        pytest.param(external_file_entity, id="xxe-file"),
        pytest.param(lambda f: EXTERNAL_HTTP, id="xxe-http"),
        pytest.param(lambda f: EXTERNAL_DTD, id="external-dtd"),
        pytest.param(lambda f: external_file_entity(f).decode().encode("utf-16"),
                     id="xxe-file-utf16"),
        pytest.param(lambda f: external_file_entity(f).replace(b'version="1.0"', b'version="1.0" encoding="UTF-7"')
                     .replace(b"<!DOCTYPE", b"+ADw-!DOCTYPE"), id="xxe-file-utf7-disguise"),
    ],
)
def test_hostile_documents_refused(make, secret_file: str) -> None:
    data = make(secret_file)
    start = time.monotonic()
    result = parse_error_xml(data)
    assert time.monotonic() - start < 2.0
    assert result is None
    assert SECRET_MARKER not in _everything(result)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda f: BILLION_LAUGHS, id="billion-laughs"),
        pytest.param(external_file_entity, id="xxe-file"),
        pytest.param(lambda f: EXTERNAL_HTTP, id="xxe-http"),
    ],
)
def test_parser_itself_is_hardened(make, secret_file: str) -> None:
    """Defence in depth: even without the DOCTYPE pre-check, the parser expands nothing."""
    try:
        root = etree.fromstring(make(secret_file), errorxml.make_parser())
    except Exception:
        return  # refusing is fine too
    text = "".join(root.itertext())
    assert SECRET_MARKER not in text
    assert "lollollol" not in text


def test_oversized_body_is_not_parsed(monkeypatch) -> None:
    calls: list[int] = []
    real = errorxml.make_parser
    monkeypatch.setattr(errorxml, "make_parser", lambda: calls.append(1) or real())
    huge = VALID[:-8] + b" " * (100 * 1024 * 1024) + b"</Error>"
    start = time.monotonic()
    assert parse_error_xml(huge) is None
    assert time.monotonic() - start < 0.5
    assert calls == []
    # The limit itself: just at the limit still parses, one byte over does not.
    padded = VALID[:-8] + b" " * (MAX_XML_BYTES - len(VALID)) + b"</Error>"
    assert len(padded) == MAX_XML_BYTES
    assert parse_error_xml(padded) == VALID_DOC
    assert parse_error_xml(padded + b" ") is None


@given(st.binary(max_size=2048))
@settings(max_examples=300, deadline=None)
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    result = parse_error_xml(data)
    assert result is None or isinstance(result, CosErrorDoc)


@given(st.binary(max_size=512))
@settings(max_examples=200, deadline=None)
def test_bytes_inside_error_never_raise(data: bytes) -> None:
    result = parse_error_xml(b"<Error><Code>" + data + b"</Code></Error>")
    assert result is None or isinstance(result, CosErrorDoc)


# --- normalise_message ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    "text, expected",
    [
        ("Condition key q-ak doesn't match the value X", "Condition key q-ak doesn't match the value X"),
        ("Condition key q-ak doesn&apos;t match the value X", "Condition key q-ak doesn't match the value X"),
        ("Condition key q-ak doesn&#39;t match", "Condition key q-ak doesn't match"),
        ("Condition key content-length-range doesn\u2018t match the value ",
         "Condition key content-length-range doesn't match the value"),
        ("doesn\u2019t", "doesn't"),
        ("  Access Denied.\n", "Access Denied."),
        ("", ""),
    ],
)
def test_normalise_message(text: str, expected: str) -> None:
    assert normalise_message(text) == expected


# --- render ----------------------------------------------------------------------------------------

def test_render_exact_cos_shape() -> None:
    out = render_error_xml(
        "AccessDenied", "Condition key q-ak doesn't match the value AKIDxxx",
        "examplebucket-1250000000.cos.ap-beijing.myqcloud.com/", "NjQ1YjA4ZDlfNmUyODM1MGFfMjM2ZF8x",
        VALID_DOC.trace_id,
    )
    assert out == VALID
    assert b"doesn&apos;t" in out


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        pytest.param({}, b"</RequestId><TraceId>t</TraceId></Error>", id="default"),
        pytest.param({"trace_id": None}, b"</RequestId></Error>", id="no-trace-id"),
        pytest.param({"message": "a<b & c>d \"q\""}, b"<Message>a&lt;b &amp; c&gt;d &quot;q&quot;</Message>",
                     id="escaping"),
        pytest.param({"extra": [("ServerTime", "2019-07-19T11:10:53Z"), ("StringToSign", "sha1\n1;2\n")]},
                     b"<TraceId>t</TraceId><ServerTime>2019-07-19T11:10:53Z</ServerTime>"
                     b"<StringToSign>sha1\n1;2\n</StringToSign></Error>", id="extra-in-order"),
        pytest.param({"message": "a\x00b\rc"}, "<Message>a\ufffdb&#13;c</Message>".encode(), id="control-chars"),
    ],
)
def test_render(kwargs: dict, fragment: bytes) -> None:
    args = {"code": "AccessDenied", "message": "m", "resource": "r", "request_id": "id", "trace_id": "t"}
    args.update(kwargs)
    out = render_error_xml(**args)
    assert out.startswith(b"<?xml version='1.0' encoding='utf-8' ?>\n<Error><Code>AccessDenied</Code>")
    assert fragment in out
    assert parse_error_xml(out) is not None


@pytest.mark.parametrize("name", ["", "1abc", "a b", "a<b", "xmlThing"])
def test_render_rejects_bad_extra_names(name: str) -> None:
    with pytest.raises(ValueError, match="element name"):
        render_error_xml("C", "m", "r", "id", extra=[(name, "v")])


_xml_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\ufffe\uffff"
                           + "".join(chr(c) for c in range(0x20) if chr(c) not in "\t\n\r")),
    max_size=60,
)


@given(code=_xml_text, message=_xml_text, resource=_xml_text, request_id=_xml_text,
       trace_id=st.none() | _xml_text,
       extra=st.lists(st.tuples(st.sampled_from(["ServerTime", "StringToSign", "FormatString", "X-y.z_1"]),
                                _xml_text), max_size=4))
@settings(max_examples=200, deadline=None)
def test_render_parse_round_trip(code, message, resource, request_id, trace_id, extra) -> None:
    out = render_error_xml(code, message, resource, request_id, trace_id, extra)
    doc = parse_error_xml(out)
    assert doc == CosErrorDoc(code.strip(), message, resource.strip(), request_id.strip(),
                              None if trace_id is None else trace_id.strip(), tuple(extra))


def test_render_details_after_message_indented_like_cos() -> None:
    body = render_error_xml("SignatureDoesNotMatch", "The Signature you specified is invalid.", "/", "rid", "tid",
                            details=[("StringToSign", "sha1\n1;2\nabc\n"), ("FormatString", "put\n/\n\na=b&c=d\n")],
                            indented=True)
    assert body == (b"<?xml version='1.0' encoding='utf-8' ?>\n<Error>\n"
                    b"\t<Code>SignatureDoesNotMatch</Code>\n"
                    b"\t<Message>The Signature you specified is invalid.</Message>\n"
                    b"\t<StringToSign>sha1\n1;2\nabc\n</StringToSign>\n"
                    b"\t<FormatString>put\n/\n\na=b&amp;c=d\n</FormatString>\n"
                    b"\t<Resource>/</Resource>\n\t<RequestId>rid</RequestId>\n\t<TraceId>tid</TraceId>\n</Error>")
    doc = parse_error_xml(body)
    assert doc.code == "SignatureDoesNotMatch" and doc.message == "The Signature you specified is invalid."
    assert doc.extra == (("StringToSign", "sha1\n1;2\nabc\n"), ("FormatString", "put\n/\n\na=b&c=d\n"))
    with pytest.raises(ValueError):
        render_error_xml("C", "M", "/", "r", details=[("bad name", "x")])


# --- escape_xml: the one escape for every XML document we write (error bodies, CORS rules) ------------

@pytest.mark.parametrize("text, whitespace, expected", [
    ("plain", False, "plain"),
    ("a<b & c>d", False, "a&lt;b &amp; c&gt;d"),
    ("it's \"q\"", False, "it&apos;s &quot;q&quot;"),
    ("cr\rlf\ntab\t", False, "cr&#13;lf\ntab\t"),
    ("cr\rlf\ntab\t", True, "cr&#13;lf&#10;tab&#9;"),
    ("nul\x00 bell\x07 \ud800 \uffff", False, "nul\ufffd bell\ufffd \ufffd \ufffd"),
    ("文件 😀", True, "文件 😀"),
])
def test_escape_xml(text: str, whitespace: bool, expected: str) -> None:
    assert escape_xml(text, whitespace=whitespace) == expected


@given(st.text(max_size=80), st.booleans())
@settings(max_examples=300, deadline=None)
def test_escaped_text_parses_back_to_itself(text: str, whitespace: bool) -> None:
    escaped = escape_xml(text, whitespace=whitespace)
    assert not whitespace or ("\n" not in escaped and "\t" not in escaped)
    root = etree.fromstring(f"<a>{escaped}</a>".encode("utf-8"), errorxml.make_parser())
    legal = "".join("\ufffd" if ord(c) < 0x20 and c not in "\t\n\r" or 0xD800 <= ord(c) <= 0xDFFF
                    or c in "\ufffe\uffff" else c for c in text)
    assert "".join(root.itertext()) == legal
