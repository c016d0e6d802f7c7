"""COS's ``<Error>`` response body: parse it safely, render it exactly as COS does.

The body comes from the network (or from a saved capture), so the parser is hardened against
hostile XML: documents with a DOCTYPE or an ENTITY declaration are refused before libxml2 sees
them, the parser itself never loads DTDs, resolves entities or touches the network, the input is
always decoded as UTF-8 (so a declared exotic encoding cannot hide a DOCTYPE from the byte
search), and anything above ``MAX_XML_BYTES`` is refused unread.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lxml import etree

__all__ = [
    "MAX_XML_BYTES",
    "CosErrorDoc",
    "parse_error_xml",
    "normalise_message",
    "render_error_xml",
    "escape_xml",
    "make_parser",
    "make_pull_parser",
    "declares_dtd",
]

MAX_XML_BYTES = 1 << 20

_BOM = b"\xef\xbb\xbf"
# XML keywords are case-sensitive, but refusing every spelling costs nothing.
_FORBIDDEN = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_KNOWN = {"Code": "code", "Message": "message", "Resource": "resource",
          "RequestId": "request_id", "TraceId": "trace_id"}
# Fields that are identifiers: surrounding whitespace is noise.  Message keeps its text as sent
# (COS's content-length-range message really ends with a space).
_STRIPPED = frozenset({"code", "resource", "request_id", "trace_id"})


@dataclass(frozen=True, slots=True)
class CosErrorDoc:
    code: str | None
    message: str | None
    resource: str | None
    request_id: str | None
    trace_id: str | None
    extra: tuple[tuple[str, str], ...] = ()  # other child elements, in document order


def _lxml():
    """lxml, imported on the first error body: ~4 MiB a proxy that sees no COS error never pays."""
    from lxml import etree
    return etree


# The hardened settings, in one place: every XML body from the network is read with these.
_PARSER_OPTIONS = {
    "encoding": "utf-8",  # ignore the declared encoding: the byte search above must stay valid
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "dtd_validation": False,
    "huge_tree": False,
    "remove_comments": True,
    "remove_pis": True,
    "collect_ids": False,
}


def make_parser() -> etree.XMLParser:
    """The hardened parser every XML body from the network goes through: no entity expansion, no
    DTD, no network, no huge trees. A fresh one per call: lxml parsers are not thread-safe and
    this one is cheap."""
    return _lxml().XMLParser(**_PARSER_OPTIONS)


def make_pull_parser(events: Sequence[str] = ("start", "end")) -> etree.XMLPullParser:
    """``make_parser``'s settings as a pull parser (``feed``/``read_events``), for bodies whose
    reader stops early (a part cap, a depth cap) instead of building the whole tree first."""
    return _lxml().XMLPullParser(events=tuple(events), **_PARSER_OPTIONS)


def declares_dtd(data: bytes) -> bool:
    """True when ``data`` holds a DOCTYPE or ENTITY declaration anywhere (any spelling): such a
    document is refused before libxml2 sees it."""
    return _FORBIDDEN.search(data) is not None


def _parse_tree(data: bytes) -> etree._Element:
    """Parse with the hardened parser only (no pre-checks); raises on malformed XML."""
    return _lxml().fromstring(data, make_parser())


def _text(el: etree._Element) -> str:
    return "".join(el.itertext())


def parse_error_xml(data: bytes | None) -> CosErrorDoc | None:
    """The COS ``<Error>`` document in ``data``, or None when it is not one (never raises)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        return None
    if len(data) > MAX_XML_BYTES:
        return None
    data = bytes(data)
    if data.startswith(_BOM):
        data = data[len(_BOM):]
    if not data.strip() or b"<Error" not in data or declares_dtd(data):
        return None
    try:
        root = _parse_tree(data)
    except Exception:  # lxml raises XMLSyntaxError, ValueError, ... on garbage: all mean "not COS"
        return None
    etree = _lxml()
    if not isinstance(root.tag, str) or etree.QName(root).localname != "Error":
        return None
    found: dict[str, str] = {}
    extra: list[tuple[str, str]] = []
    for child in root:
        if not isinstance(child.tag, str):  # entities/comments/PIs that survived
            continue
        name = etree.QName(child).localname
        value = _text(child)
        attr = _KNOWN.get(name)
        if attr is not None and attr not in found:
            found[attr] = value.strip() if attr in _STRIPPED else value
        else:
            extra.append((name, value))
    return CosErrorDoc(
        code=found.get("code"),
        message=found.get("message"),
        resource=found.get("resource"),
        request_id=found.get("request_id"),
        trace_id=found.get("trace_id"),
        extra=tuple(extra),
    )


_APOSTROPHES = re.compile("&apos;|&#39;|&#x27;|[\u2018\u2019]", re.IGNORECASE)


def normalise_message(text: str) -> str:
    """COS's message with every apostrophe spelling made ASCII, for comparing with known texts.

    The XML parser already decodes ``&apos;``; the literal entity is handled too because messages
    also arrive double-escaped or from places that never went through a parser. The docs print
    ``doesn‘t`` (U+2018) in one place.
    """
    if not isinstance(text, str):
        return ""
    return _APOSTROPHES.sub("'", text).strip()


_XML_DECL = b"<?xml version='1.0' encoding='utf-8' ?>\n"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9._-]*\Z")
# Characters XML 1.0 cannot carry at all, not even as character references.
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "'": "&apos;", '"': "&quot;",
            "\r": "&#13;", "\n": "&#10;", "\t": "&#9;"}
_ESCAPE_RE = re.compile("[&<>'\"\r]")
_ESCAPE_ALL_RE = re.compile("[&<>'\"\r\n\t]")


def escape_xml(text: str, *, whitespace: bool = False) -> str:
    """``text`` as XML character data: markup characters escaped, characters XML cannot carry
    replaced by U+FFFD. CR is always a reference (a parser would turn it into LF); ``whitespace``
    writes LF and TAB as references too, so a document meant to be copied stays on one line."""
    text = _ILLEGAL.sub("\ufffd", text)
    pattern = _ESCAPE_ALL_RE if whitespace else _ESCAPE_RE
    return pattern.sub(lambda m: _ESCAPES[m.group()], text)



def render_error_xml(code: str, message: str, resource: str, request_id: str,
                     trace_id: str | None = None,
                     extra: Sequence[tuple[str, str]] = (), *,
                     details: Sequence[tuple[str, str]] = (), indented: bool = False) -> bytes:
    """An error body byte-for-byte in COS's shape (block mode and the local emulator send it).

    ``TraceId`` is left out when ``trace_id`` is None. ``details`` are elements COS puts right after
    ``Message`` (``StringToSign``/``FormatString``, ``ServerTime``), ``extra`` ones go at the end.
    ``indented`` lays the document out as COS's XML-API answers are (cos-xml-api.md §4.1: one
    element a line, a tab before each child). Raises ValueError when an ``extra``/``details``
    name is not a plain XML element name: that is a programming error, not user input.
    """
    for name, _ in (*details, *extra):
        if not isinstance(name, str) or not _NAME.match(name) or name.lower().startswith("xml"):
            raise ValueError(f"not a usable XML element name: {name!r}")
    children = [("Code", code), ("Message", message), *details, ("Resource", resource), ("RequestId", request_id)]
    if trace_id is not None:
        children.append(("TraceId", trace_id))
    children.extend(extra)
    elements = [f"<{name}>{escape_xml(value)}</{name}>" for name, value in children]
    if indented:
        text = "<Error>\n" + "".join(f"\t{e}\n" for e in elements) + "</Error>"
    else:
        text = "<Error>" + "".join(elements) + "</Error>"
    return _XML_DECL + text.encode("utf-8")
