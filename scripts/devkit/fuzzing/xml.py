"""COS error XML from upstream: parse_error_xml's invariants, the render/parse round trip, hostile
documents (entity expansion, external entities, XInclude, deep nesting) and the generator."""
from __future__ import annotations

import random
import re
from pathlib import Path

from cosdoctor.findings.answer import ANSWERS
from cosdoctor.wire.errorxml import MAX_XML_BYTES, CosErrorDoc, parse_error_xml, render_error_xml
from devkit.fuzzing.common import MARKER, need, rand_bytes, rand_text

_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_FORBIDDEN = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)


def check_error_xml(data: object, *, expect: dict | None = None) -> CosErrorDoc | None:
    doc = parse_error_xml(data)  # type: ignore[arg-type]
    need(doc is None or type(doc) is CosErrorDoc, "xml.type", type(doc))
    is_bytes = isinstance(data, (bytes, bytearray, memoryview))
    if not is_bytes:
        need(doc is None, "xml.non-bytes-parsed")
    elif len(data) > MAX_XML_BYTES or _FORBIDDEN.search(bytes(data)) or b"<Error" not in bytes(data):
        need(doc is None, "xml.refusable-parsed", "oversized, DTD/entity or no <Error>")
    if doc is not None:
        for name in ("code", "message", "resource", "request_id", "trace_id"):
            value = getattr(doc, name)
            need(value is None or isinstance(value, str), "xml.field-type", name)
            need(value is None or MARKER not in value, "xml.external-entity-read", name)
        need(isinstance(doc.extra, tuple) and all(
            isinstance(x, tuple) and len(x) == 2 and all(isinstance(y, str) for y in x) for x in doc.extra),
            "xml.extra")
        need(all(MARKER not in v for _, v in doc.extra), "xml.external-entity-read")
    if expect is not None:
        need(doc is not None, "xml.valid-rejected")
        assert doc is not None
        got = {"code": doc.code, "message": doc.message, "resource": doc.resource,
               "request_id": doc.request_id, "trace_id": doc.trace_id,
               "extra": [list(x) for x in doc.extra]}
        need(got == expect, "xml.roundtrip", (got, expect))
    return doc


def expected_roundtrip(code: str, message: str, resource: str, request_id: str, trace_id: str | None,
                       extra: list) -> dict:
    """What parse_error_xml must give back for render_error_xml(...) of these values."""
    def clean(text: str) -> str:
        return _XML_ILLEGAL.sub("\ufffd", text)
    return {"code": clean(code).strip(), "message": clean(message), "resource": clean(resource).strip(),
            "request_id": clean(request_id).strip(),
            "trace_id": clean(trace_id).strip() if trace_id is not None else None,
            "extra": [[n, clean(v)] for n, v in extra]}


def billion_laughs(levels: int = 10) -> bytes:
    lines = ['<!ENTITY lol0 "lol">']
    for i in range(1, levels):
        lines.append(f'<!ENTITY lol{i} "' + f"&lol{i - 1};" * 10 + '">')
    return ('<?xml version="1.0"?>\n<!DOCTYPE Error [\n' + "\n".join(lines) + "\n]>\n"
            f"<Error><Code>AccessDenied</Code><Message>&lol{levels - 1};</Message></Error>").encode()


def quadratic_blowup(size: int = 50_000, refs: int = 50_000) -> bytes:
    return (f'<?xml version="1.0"?>\n<!DOCTYPE Error [<!ENTITY a "{"x" * size}">]>\n'
            f"<Error><Code>AccessDenied</Code><Message>{'&a;' * refs}</Message></Error>").encode()


def xxe_system(url: str, *, parameter: bool = False) -> bytes:
    if parameter:
        return (f'<?xml version="1.0"?>\n<!DOCTYPE Error [<!ENTITY % ext SYSTEM "{url}"> %ext;]>\n'
                "<Error><Code>AccessDenied</Code><Message>x</Message></Error>").encode()
    return (f'<?xml version="1.0"?>\n<!DOCTYPE Error [<!ENTITY xxe SYSTEM "{url}">]>\n'
            "<Error><Code>&xxe;</Code><Message>&xxe;</Message><RequestId>r</RequestId></Error>").encode()


def xinclude(url: str) -> bytes:
    """No DTD at all, so it passes the DOCTYPE filter: only the parser's settings keep it inert."""
    return (f'<Error xmlns:xi="http://www.w3.org/2001/XInclude"><Code>AccessDenied</Code>'
            f'<Message><xi:include href="{url}" parse="text"/></Message></Error>').encode()


def schema_location(url: str) -> bytes:
    return (f'<Error xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="x {url}" '
            f'xsi:noNamespaceSchemaLocation="{url}"><Code>AccessDenied</Code></Error>').encode()


def utf16_xxe(url: str) -> bytes:
    return xxe_system(url).replace(b'version="1.0"', b'version="1.0" encoding="UTF-16"').decode().encode("utf-16")


def deep_nesting(depth: int = 100_000) -> bytes:
    return b"<Error><Code>AccessDenied</Code><Message>" + b"<a>" * depth + b"</a>" * depth + b"</Message></Error>"


def hostile_xml(marker_file: str, url: str) -> dict[str, bytes]:
    """Named hostile bodies; `marker_file` must never be read and `url` never fetched."""
    file_url = Path(marker_file).resolve().as_uri()
    return {
        "billion-laughs": billion_laughs(),
        "quadratic-blowup": quadratic_blowup(),
        "xxe-file": xxe_system(file_url),
        "xxe-file-lowercase": xxe_system(file_url).replace(b"<!DOCTYPE", b"<!doctype"),
        "xxe-http": xxe_system(url),
        "xxe-parameter-http": xxe_system(url, parameter=True),
        "xinclude-file": xinclude(file_url),
        "xinclude-http": xinclude(url),
        "schema-location": schema_location(url),
        "utf16-xxe": utf16_xxe(file_url),
        "deep-nesting": deep_nesting(),
        "garbage": bytes(range(256)) * 64,
    }


# --- the generator ------------------------------------------------------------------------------

XML_NAMES = ("Code", "Message", "Resource", "RequestId", "TraceId", "ServerTime", "StringToSign",
             "FormatString", "HostId", "Detail")


def gen_xml(r: random.Random, marker_url: str = "file:///nonexistent", net_url: str = "http://127.0.0.1:9/") -> dict:
    roll = r.random()
    if roll < 0.3:
        code, message, resource, request_id = (rand_text(r, 20) for _ in range(4))
        trace_id = rand_text(r, 20) if r.random() < 0.5 else None
        extra = [(r.choice(("ServerTime", "StringToSign", "HostId", "x.y", "_a-1")), rand_text(r, 20))
                 for _ in range(r.choice((0, 0, 1, 2)))]
        if r.random() < 0.3:
            code = r.choice([a[0] for a in ANSWERS] + ["SignatureDoesNotMatch", "InvalidPolicyDocument"])
        data = render_error_xml(code, message, resource, request_id, trace_id, extra)
        return {"data": data, "expect": expected_roundtrip(code, message, resource, request_id, trace_id, extra)}
    if roll < 0.4:
        hostile = [billion_laughs(r.randint(2, 10)), quadratic_blowup(r.randint(1, 5000), r.randint(1, 5000)),
                   xxe_system(marker_url), xxe_system(net_url), xxe_system(net_url, parameter=True),
                   xinclude(marker_url), xinclude(net_url), schema_location(net_url), utf16_xxe(marker_url),
                   deep_nesting(r.choice((10, 255, 256, 257, 1000, 20_000)))]
        data = r.choice(hostile)
    elif roll < 0.45:
        data = rand_bytes(r, 300)
    else:
        data = hand_xml(r, marker_url, net_url)
    if r.random() < 0.4:
        data = mutate_xml(r, data)
    if r.random() < 0.0005:
        data = b"<Error><Code>X</Code><Message>" + b"A" * (MAX_XML_BYTES + r.randint(-200, 200)) + b"</Message></Error>"
    if r.random() < 0.01:
        return {"data": r.choice((None, "<Error/>", 5, bytearray(data), memoryview(data)))}
    return {"data": data}


def hand_xml(r: random.Random, marker_url: str, net_url: str) -> bytes:
    parts = []
    if r.random() < 0.1:
        parts.append("\ufeff")
    if r.random() < 0.6:
        encoding = r.choice(("utf-8", "UTF-8", "utf-16", "iso-8859-1", "ebcdic", "x-bogus", "utf-7"))
        parts.append(f'<?xml version="{r.choice(("1.0", "1.1", "2.0"))}" encoding="{encoding}"?>\n')
    if r.random() < 0.1:
        parts.append(r.choice(("<!-- c -->", "<?pi x?>", f'<!DOCTYPE Error SYSTEM "{net_url}">',
                               f'<!doctype Error [<!entity e SYSTEM "{marker_url}">]>')))
    root = r.choice(("Error", "Error", "Error", "error", "cos:Error", "Errors", "ErrorX"))
    ns = ' xmlns:cos="urn:x"' if root.startswith("cos:") or r.random() < 0.1 else ""
    if r.random() < 0.1:
        ns += ' xmlns="http://example.com/ns"'
    body = []
    for _ in range(r.choice((0, 1, 2, 4, 6))):
        name = r.choice(XML_NAMES)
        text = r.choice((rand_text(r, 20, surrogates=False).replace("<", "&lt;").replace("&", "&amp;"),
                         "&amp;&lt;&gt;&apos;&quot;&#39;&#x41;", "&#0;", "&#xD800;", "&bogus;",
                         "<![CDATA[ <x> & ]]>", "<b>nested</b> text", "<!-- c -->x<?pi?>y", " padded ", ""))
        attrs = ' a="1"' if r.random() < 0.1 else ""
        body.append(f"<{name}{attrs}>{text}</{name}>")
    parts.append(f"<{root}{ns}>{''.join(body)}</{root}>")
    if r.random() < 0.1:
        parts.append(r.choice(("trailing", "<Error/>", "\x00", "<!-- after -->")))
    text = "".join(parts)
    codec = "utf-8" if r.random() < 0.9 else r.choice(("utf-16", "latin-1", "utf-16-be"))
    return text.encode(codec, "replace")


def mutate_xml(r: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(r.randint(1, 3)):
        at = r.randrange(len(out) + 1)
        op = r.randrange(5)
        if op == 0 and out:
            out[at % len(out)] = r.randrange(256)
        elif op == 1:
            out[at:at] = r.choice((b"<!DOCTYPE", b"<!ENTITY", b"<Error>", b"]]>", b"&", b"<", b"\x00", b"\xff",
                                   b"\r", b"&#1;", b"<![CDATA[", b"</Error>", b"<!-", b"\xef\xbb\xbf"))
        elif op == 2:
            del out[at:at + r.randint(1, 20)]
        elif op == 3:
            del out[at:]
        else:
            out[at:at] = out[at:at + r.randint(1, 40)]
    return bytes(out)
