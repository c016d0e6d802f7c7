"""A strict, one-pass multipart/form-data parser that describes parts by byte offsets.

Why our own: mitmproxy's decoder drops CR/LF inside values, loses order, filenames and part
headers, and gives up on the whole form at the first oddity. A diagnosis needs the opposite: parts in
wire order, where each one starts, and the first byte where the body stops being what COS accepts.

How it stays fast: file bytes are never copied. Every delimiter is located with `bytes.find`, so a
large file part costs one C-speed scan, and every byte is scanned a bounded number of times (part
headers are capped at MAX_HEADER_BLOCK, parts at MAX_PARTS), so hostile input stays linear. The
header shapes browsers send are parsed by one regex match each (a small field together with its
value); anything else takes the general path, which gives the same result for those shapes.

Offsets are positions in the body. A malformation is a `reason` word, a `detail` word naming the
case, and the facts its sentence needs (`part` is a `Part.index`, 0-based); the words are the
catalogue's, so this module holds no sentence.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NoReturn
from urllib.parse import unquote_to_bytes


MAX_HEADER_BLOCK = 16 * 1024      # bytes of headers per part before 'unterminated-part-headers'
MAX_PARTS = 10_000                # more parts -> error reason 'too-many-parts' (a cap becomes a finding)
_MAX_BOUNDARY = 70                 # RFC 2046 §5.1.1

REASONS = ("not-multipart", "missing-boundary", "boundary-mismatch", "bare-lf",
           "missing-content-disposition", "missing-name", "unterminated-part-headers",
           "truncated", "too-many-parts")
# Which case of a reason it is; each names at most the facts beside it, never a second position.
DETAILS = ("no-content-type", "other-media-type", "no-boundary-parameter", "empty-boundary",
           "long-boundary", "short-body", "empty-body", "ends-in-first-delimiter",
           "ends-in-delimiter-line", "ends-after-delimiter", "part-not-closed", "delimiter-line",
           "part-headers", "part-limit", "body-start", "mangled-closing", "headers-run-into-delimiter",
           "headers-cut", "headers-too-long", "no-content-disposition", "disposition-not-form-data",
           "no-name")

# trust_tail=True: the part (name case-insensitive) taken to run to the closing delimiter, and the
# last bytes of the body where that delimiter is looked for.
TRUSTED_TAIL_PART = "file"
TAIL_WINDOW = 512

_SNIPPET = 40
_PADDING = re.compile(rb"[ \t]*")
# The part headers browsers and HTTP libraries send, byte for byte. A header block that matches is
# parsed by this one regex; anything else (other order or case, escapes, RFC 5987, extra headers,
# padding) goes through the general parser below, which gives the same result for these shapes.
_SIMPLE_HEADERS = re.compile(
    rb'Content-Disposition: (form-data; name="([^"\\\r\n]*)"(?:; filename="([^"\\\r\n]*)")?)'
    rb'(?:\r\nContent-Type: ([^ \t\r\n](?:[^\r\n]*[^ \t\r\n])?))?\r\n\r\n')
# The usual field of a small form, with its value when that is short and has no CR (the next CR is
# then where the value ends, if a delimiter line follows). A value starting with '--' is left to
# the general path: its CRLF--boundary may overlap the blank line.
_USUAL_FIELD = re.compile(
    rb'Content-Disposition: (form-data; name="[^"\\\r\n]*")\r\n\r\n(?!--)[^\r]{0,512}')
_TAIL_PADDING = re.compile(rb"[ \t]*(?:\r\n)?")  # what may follow the closing delimiter (trust_tail)
# What browsers and libraries send; the general parser gives the same boundary for it.
_USUAL_CONTENT_TYPE = re.compile(r"multipart/form-data; boundary=([0-9A-Za-z'()+_,./:=?-]{1,%d})"
                                 % _MAX_BOUNDARY)
_NO_MATCH = re.compile(rb"(?!)")
_QUOTE_OR_BACKSLASH = re.compile(r'["\\]')
_RFC5987_CHARSETS = {"utf-8": "utf-8", "utf8": "utf-8", "iso-8859-1": "latin-1",
                     "latin-1": "latin-1", "latin1": "latin-1", "us-ascii": "ascii"}


@dataclass(slots=True)
class Part:
    index: int                    # 0-based wire order
    name: str | None              # Content-Disposition name=
    filename: str | None          # filename*= wins over filename=; None when neither is present
    headers: tuple[tuple[str, str], ...]
    content_type: str | None
    start: int                    # first byte of the header block
    data_start: int               # first value byte
    data_end: int                 # one past the last value byte (the CRLF before a delimiter excluded)

    @property
    def size(self) -> int:
        return self.data_end - self.data_start

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None


@dataclass(frozen=True, slots=True)
class Malformation:
    reason: str                   # one of REASONS
    offset: int                   # byte offset in the body where it goes wrong: the one position
    detail: str                   # one of DETAILS
    facts: Mapping[str, object] = field(default_factory=dict)   # e.g. part (0-based), media_type


@dataclass(slots=True)
class MultipartForm:
    boundary: str | None
    parts: tuple[Part, ...]       # parts whose headers parsed; a part cut by the end of the body ends at len(body)
    error: Malformation | None    # first malformation, None when well-formed (so far, for a streamed prefix)
    complete: bool                # True when the closing delimiter was seen

    def value(self, body: bytes, part: Part) -> bytes:
        return body[part.data_start:part.data_end]




# --- parameters (Content-Type, Content-Disposition) -------------------------------------------

def _parse_params(text: str) -> list[tuple[str, str]]:
    """`; a=b; c="d;\\"e"` -> [(a, b), (c, 'd;"e')]; names lower-cased, order kept, junk skipped.

    Only backslash-quote and backslash-backslash are unescaped: browsers send Windows paths and
    percent-encode quotes (`%22`) rather than escaping them, so other backslashes stay literal.
    """
    params: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in "; \t":
            i += 1
        if i >= n:
            break
        eq, semi = text.find("=", i), text.find(";", i)
        if eq < 0 or (0 <= semi < eq):          # a parameter without a value: skip it
            i = n if semi < 0 else semi
            continue
        name = text[i:eq].strip().lower()
        j = eq + 1
        while j < n and text[j] in " \t":
            j += 1
        if j < n and text[j] == '"':
            value, j = _quoted(text, j + 1)
            semi = text.find(";", j)
            j = n if semi < 0 else semi
        else:
            semi = text.find(";", j)
            end = n if semi < 0 else semi
            value, j = text[j:end].strip(), end
        if name:
            params.append((name, value))
        i = j
    return params


def _quoted(text: str, i: int) -> tuple[str, int]:
    """The quoted-string body starting at `i` (after the opening quote) and the index after it."""
    out: list[str] = []
    while True:
        hit = _QUOTE_OR_BACKSLASH.search(text, i)
        if hit is None:                          # unterminated: take the rest
            out.append(text[i:])
            return "".join(out), len(text)
        k = hit.start()
        out.append(text[i:k])
        if text[k] == '"':
            return "".join(out), k + 1
        if k + 1 < len(text) and text[k + 1] in '"\\':
            out.append(text[k + 1])
            i = k + 2
        else:
            out.append("\\")
            i = k + 1


def _param(params: list[tuple[str, str]], name: str) -> str | None:
    for key, value in params:
        if key == name:
            return value
    return None


def _rfc5987(value: str) -> str | None:
    """`UTF-8'en'%E6%96%87.txt` -> '文.txt'; None when it is not a decodable ext-value."""
    charset, quote1, rest = value.partition("'")
    _language, quote2, encoded = rest.partition("'")
    if not quote1 or not quote2:
        return None
    codec = _RFC5987_CHARSETS.get(charset.strip().lower())
    if codec is None:
        return None
    try:
        raw = unquote_to_bytes(encoded.encode("utf-8", "surrogateescape"))
        return raw.decode(codec)
    except (UnicodeError, ValueError):
        return None


def parse_boundary(content_type: str | None, *, fast_paths: bool = True
                   ) -> tuple[str | None, Malformation | None]:
    """The boundary of a multipart/form-data Content-Type value, or the reason there is none.
    fast_paths=False: only the general rules run (what the shortcut for the usual value is tested
    against)."""
    if content_type is None or not content_type.strip():
        return None, Malformation("not-multipart", 0, "no-content-type")
    usual = _USUAL_CONTENT_TYPE.fullmatch(content_type) if fast_paths else None
    if usual is not None:
        return usual[1], None
    media, _, rest = content_type.partition(";")
    media = media.strip()
    if media.lower() != "multipart/form-data":
        return None, Malformation("not-multipart", 0, "other-media-type", {"media_type": _short(media)})
    boundary = _param(_parse_params(rest), "boundary")
    if boundary is None:
        return None, Malformation("missing-boundary", 0, "no-boundary-parameter")
    if not boundary:
        return None, Malformation("missing-boundary", 0, "empty-boundary")
    if len(boundary) > _MAX_BOUNDARY:
        return None, Malformation("missing-boundary", 0, "long-boundary",
                                  {"boundary_length": len(boundary), "max_boundary_length": _MAX_BOUNDARY})
    return boundary, None


# --- the body ------------------------------------------------------------------------------

def parse_multipart(content_type: str | None, body: bytes, *, content_length: int | None = None,
                    body_complete: bool = True, trust_tail: bool = False,
                    fast_paths: bool = True) -> MultipartForm:
    """Parse in one pass.

    content_length: the declared Content-Length; fewer body bytes -> 'truncated' at len(body).
    body_complete=False: `body` is only the first bytes of a streamed upload, so running out of
    bytes is not an error; a part cut by the end of the buffer ends at len(body).
    trust_tail=True: for a body the server already accepted, where scanning a large file again is
    wasted work. When the body is complete and ends with the closing delimiter (within the last
    TAIL_WINDOW bytes, followed by nothing but transport padding and a CRLF), the first part named
    TRUSTED_TAIL_PART (case-insensitive) is taken to run up to it: its bytes are not scanned and
    parsing stops there, complete. So parts after it are not seen, and a full delimiter inside
    its data (which a normal parse treats as the end of the part) is data. Without that closing
    delimiter the body is scanned as usual.
    fast_paths=False: the shortcuts for the usual shapes (fields, part headers, Content-Type) are
    off and only the general parser runs; the result is the same, which is what the tests check.
    """
    boundary, problem = parse_boundary(content_type, fast_paths=fast_paths)
    if boundary is None:
        return MultipartForm(None, (), problem, False)
    n = len(body)
    short = body_complete and content_length is not None and n < content_length
    scan = _Scanner(boundary, body, body_complete, trust_tail and body_complete and not short, fast_paths)
    error, out_of_bytes = scan.run()
    if short and (error is None or out_of_bytes):
        error = Malformation("truncated", n, "short-body", {"body_bytes": n, "content_length": content_length})
    return MultipartForm(boundary, tuple(scan.parts), error, scan.closed)


_CLOSE, _NEXT, _BARE_LF, _JUNK, _EOF = range(5)
_CONTENT_DISPOSITION, _CONTENT_TYPE = "Content-Disposition", "Content-Type"
_NAME_AT = len('form-data; name="')
_USUAL_FIXED = len(b"Content-Disposition: \r\n\r\n")


class _Stop(Exception):
    """Ends the scan: the first malformation (None: a streamed prefix ran out) and whether running
    out of bytes caused it (then a short Content-Length explains it better)."""

    def __init__(self, error: Malformation | None, out_of_bytes: bool = False) -> None:
        super().__init__(error)
        self.error = error
        self.out_of_bytes = out_of_bytes


class _Scanner:
    """One pass over the body; `run` returns (first malformation, caused-by-running-out-of-bytes)."""

    __slots__ = ("body", "n", "boundary", "delim", "crlf_delim", "body_complete", "trust_tail",
                 "usual_field", "simple_headers", "parts", "closed")

    def __init__(self, boundary: str, body: bytes, body_complete: bool,
                 trust_tail: bool = False, fast: bool = True) -> None:
        self.body = body
        self.n = len(body)
        self.boundary = boundary
        self.delim = b"--" + _encode(boundary)
        self.crlf_delim = b"\r\n" + self.delim
        self.body_complete = body_complete
        self.trust_tail = trust_tail
        # fast=False: patterns that never match, so the shortcuts cost nothing to switch off.
        self.usual_field = _USUAL_FIELD.match if fast else _NO_MATCH.match
        self.simple_headers = _SIMPLE_HEADERS.match if fast else _NO_MATCH.match
        self.parts: list[Part] = []
        self.closed = False

    def after_delimiter(self, p: int) -> tuple[int, int]:
        """Classify the bytes right after `--boundary` at offset p: (kind, offset)."""
        body, n = self.body, self.n
        if body[p:p + 2] == b"--":
            return _CLOSE, p
        if p + 1 == n and body[p] == 0x2D:       # a lone '-' at the end: maybe half of '--'
            return _EOF, n
        q = _PADDING.match(body, p).end()
        if q >= n:
            return _EOF, n
        c = body[q]
        if c == 0x0D:
            if q + 1 >= n:
                return _EOF, n
            return (_NEXT, q + 2) if body[q + 1] == 0x0A else (_JUNK, p)
        if c == 0x0A:
            return _BARE_LF, q
        return _JUNK, p

    def first_delimiter(self) -> tuple[int, int, int]:
        """(kind, offset, delimiter offset) of the first delimiter.

        A preamble is skipped only when the first `--boundary` in the body starts a line (RFC 2046
        lets a CRLF-ended preamble precede it): a boundary anywhere else means the client and the
        header disagree, and skipping to a later delimiter would silently drop parts.
        """
        body, n, delim = self.body, self.n, self.delim
        first = body.find(delim)
        if first < 0:
            if not self.body_complete and n < MAX_HEADER_BLOCK:
                raise _Stop(None)       # a streamed prefix may still be in a (short) preamble
            if self.body_complete and delim.startswith(body):
                self.out_of_bytes("ends-in-first-delimiter")
            raise _Stop(self.mismatch_at_start())
        if first == 0 or (first >= 2 and body[first - 2:first] == b"\r\n"):
            kind, at = self.after_delimiter(first + len(delim))
            if kind != _JUNK:
                return kind, at, first
        raise _Stop(self.mismatch_at_start())

    def run(self) -> tuple[Malformation | None, bool]:
        try:
            self.scan()
        except _Stop as stop:
            return stop.error, stop.out_of_bytes
        return None, False

    def scan(self) -> None:
        if self.n == 0:
            self.out_of_bytes("empty-body")
        kind, at, delim_at = self.first_delimiter()
        body, crlf_delim, parts, trust = self.body, self.crlf_delim, self.parts, self.trust_tail
        usual_line = crlf_delim + b"\r\n"       # CRLF--boundary CRLF: the next part follows
        step = len(usual_line)
        match, startswith, append = self.usual_field, body.startswith, parts.append
        cap = MAX_HEADER_BLOCK + 4
        while kind != _CLOSE:
            if kind == _EOF:
                self.out_of_bytes("ends-in-delimiter-line")
            if kind == _BARE_LF:
                raise _Stop(Malformation("bare-lf", at, "delimiter-line"))
            # Fast lane for usual fields (see _USUAL_FIELD), each followed by the usual delimiter
            # line; anything else goes through `part`, from the same offset.
            index = len(parts)
            while index < MAX_PARTS:
                usual = match(body, at)
                if usual is None:
                    break
                end = usual.end()
                raw = usual[1]
                data_start = at + len(raw) + _USUAL_FIXED      # header block + CRLFCRLF
                if not startswith(usual_line, end) or data_start - at > cap:
                    break
                try:
                    disposition = raw.decode()
                except UnicodeDecodeError:
                    break
                name = disposition[_NAME_AT:-1]          # form-data; name="<name>"
                if trust and name.lower() == TRUSTED_TAIL_PART:
                    break
                append(Part(index, name, None, ((_CONTENT_DISPOSITION, disposition),), None, at,
                                 data_start, end))
                at, index = end + step, index + 1
            if index >= MAX_PARTS:
                raise _Stop(Malformation("too-many-parts", at, "part-limit", {"max_parts": MAX_PARTS}))
            kind, at, delim_at = self.part(index, at)
        self.closed = True

    def out_of_bytes(self, detail: str, facts: Mapping[str, object] | None = None) -> NoReturn:
        if not self.body_complete:
            raise _Stop(None)
        raise _Stop(Malformation("truncated", self.n, detail, facts or {}), True)

    def mismatch_at_start(self) -> Malformation:
        body = self.body
        line_end = body.find(b"\n", 0, _SNIPPET + 2)
        first = body[:line_end if line_end >= 0 else _SNIPPET + 1].rstrip(b"\r")
        shown = _short(first.decode("utf-8", "backslashreplace"))
        return Malformation("boundary-mismatch", 0, "body-start",
                            {"body_start": shown, "boundary": _short(self.boundary)})

    def part(self, index: int, start: int) -> tuple[int, int, int]:
        """Parse the part at `start`; return the next delimiter's (kind, offset, delimiter offset)."""
        body, n, crlf_delim = self.body, self.n, self.crlf_delim
        if start >= n:
            self.out_of_bytes("ends-after-delimiter")
        simple = self.simple_headers(body, start)
        if simple is not None and (described := _simple_headers(simple, start)) is not None:
            name, filename, parsed, content_type = described
            block_end = simple.end() - 4
        else:
            block_end, parsed = self.headers(index, start)
            name, filename, content_type = _describe(index, start, parsed)
        data_start = block_end + 4
        if self.trust_tail and name.lower() == TRUSTED_TAIL_PART:
            close = self.tail_close(block_end + 2)
            if close >= 0:
                self.add_part(index, name, filename, parsed, content_type, start,
                              min(data_start, close), close)
                return _CLOSE, close + len(crlf_delim), close + 2
        # The value ends at the next CRLF--boundary that is followed by '--' or padding+CRLF.
        search, near, skip = block_end + 2, -1, len(crlf_delim)
        while True:
            m = body.find(crlf_delim, search)
            if m < 0:
                kind = _EOF
                break
            if body.startswith(b"\r\n", m + skip):   # the usual delimiter line: no padding
                kind, at = _NEXT, m + skip + 2
                break
            kind, at = self.after_delimiter(m + skip)
            if kind != _JUNK:
                break
            near = at
            search = m + 1
        data_end = n if kind == _EOF else m
        self.add_part(index, name, filename, parsed, content_type, start,
                      min(data_start, n, data_end), data_end)
        if kind != _EOF:
            return kind, at, m + 2
        if self.body_complete and near >= 0 and body.find(b"\n", near, n - 1) < 0:
            # A near-miss on the body's last line is a mangled closing delimiter, not lost bytes.
            raise _Stop(Malformation("boundary-mismatch", near, "mangled-closing",
                                     {"part": index, "followed_by": _peek(body, near)}), True)
        self.out_of_bytes("part-not-closed", {"part": index})

    def add_part(self, index: int, name: str, filename: str | None,
                 headers: tuple[tuple[str, str], ...], content_type: str | None, start: int,
                 data_start: int, data_end: int) -> None:
        self.parts.append(Part(index, name, filename, headers, content_type, start, data_start,
                                    data_end))

    def tail_close(self, lowest: int) -> int:
        """trust_tail: the offset of the CRLF--boundary-- that ends the body, or -1."""
        body, n = self.body, self.n
        close = self.crlf_delim + b"--"
        at = body.rfind(close, max(lowest, n - TAIL_WINDOW))
        if at < 0 or _TAIL_PADDING.fullmatch(body, at + len(close)) is None:
            return -1
        return at

    def headers(self, index: int, start: int) -> tuple[int, tuple[tuple[str, str], ...]]:
        """(offset of the CRLFCRLF that ends the header block, the parsed header lines)."""
        body, n = self.body, self.n
        limit = start + MAX_HEADER_BLOCK + 4     # room for a full block and its CRLFCRLF
        region_end = min(n, limit)
        # Search from start-2: the delimiter line's CRLF doubles as the end of an empty header block.
        blank = body.find(b"\r\n\r\n", start - 2, region_end)
        end = blank if blank >= 0 else region_end
        delim_in = body.find(self.crlf_delim, start - 2, end)
        if delim_in >= 0:
            end = delim_in
        if body.count(b"\n", start, end) != body.count(b"\r\n", start, end):
            raise _Stop(Malformation("bare-lf", _bare_lf(body, start, end), "part-headers", {"part": index}))
        if delim_in >= 0:
            raise _Stop(Malformation("unterminated-part-headers", start, "headers-run-into-delimiter",
                                     {"part": index}))
        if blank < 0:
            if n < limit:                        # ran out of bytes before the limit
                if not self.body_complete:
                    raise _Stop(None)
                raise _Stop(Malformation("unterminated-part-headers", start, "headers-cut", {"part": index}),
                            True)
            raise _Stop(Malformation("unterminated-part-headers", start, "headers-too-long",
                                     {"part": index, "max_header_bytes": MAX_HEADER_BLOCK}))
        return blank, _header_lines(body[start:blank] if blank > start else b"")


def _header_lines(block: bytes) -> tuple[tuple[str, str], ...]:
    """Header lines in order; lines without a name and colon are junk and left out."""
    try:                                  # the usual case: one decode for the whole block
        text_lines = block.decode("utf-8").split("\r\n")
    except UnicodeDecodeError:
        text_lines = None
    out: list[tuple[str, str]] = []
    if text_lines is not None:
        for line in text_lines:
            name, colon, value = line.partition(":")
            name = name.strip(" \t")
            if colon and name:
                out.append((name, value.strip(" \t")))
        return tuple(out)
    for raw in block.split(b"\r\n"):    # some bytes are not UTF-8: decode line by line
        raw_name, colon, raw_value = raw.partition(b":")
        raw_name = raw_name.strip(b" \t")
        if colon and raw_name:
            out.append((_decode(raw_name), _decode(raw_value.strip(b" \t"))))
    return tuple(out)


def _simple_headers(match: re.Match[bytes], start: int
                    ) -> tuple[str, str | None, tuple[tuple[str, str], ...], str | None] | None:
    """(name, filename, header lines, content type) of a _SIMPLE_HEADERS match; None when it is
    not UTF-8 or longer than MAX_HEADER_BLOCK (the general parser then decides)."""
    if match.end() - start > MAX_HEADER_BLOCK + 4:
        return None
    raw_disposition, raw_name, raw_filename, raw_type = match.groups()
    try:
        disposition = raw_disposition.decode()
        filename = None if raw_filename is None else raw_filename.decode()
        if raw_type is None:
            return raw_name.decode(), filename, ((_CONTENT_DISPOSITION, disposition),), None
        content_type = raw_type.decode()
        return (raw_name.decode(), filename,
                ((_CONTENT_DISPOSITION, disposition), (_CONTENT_TYPE, content_type)), content_type)
    except UnicodeDecodeError:
        return None


def _describe(index: int, start: int, headers: tuple[tuple[str, str], ...]
              ) -> tuple[str, str | None, str | None]:
    """(name, filename, content type) from a part's headers; raises _Stop on a missing name."""
    disposition = content_type = None
    for key, value in headers:
        lkey = key.lower()
        if lkey == "content-disposition" and disposition is None:
            disposition = value
        elif lkey == "content-type" and content_type is None:
            content_type = value
    if disposition is None:
        raise _Stop(Malformation("missing-content-disposition", start, "no-content-disposition", {"part": index}))
    kind, _, rest = disposition.partition(";")
    kind = kind.strip()
    if kind.lower() != "form-data":
        raise _Stop(Malformation("missing-content-disposition", start, "disposition-not-form-data",
                                 {"part": index, "disposition": _short(kind)}))
    params = _parse_params(rest)
    name = _param(params, "name")
    if name is None:
        raise _Stop(Malformation("missing-name", start, "no-name", {"part": index}))
    filename = _param(params, "filename")
    extended = _param(params, "filename*")
    if extended is not None:
        decoded = _rfc5987(extended)
        if decoded is not None:
            filename = decoded
        elif filename is None:
            filename = extended
    return name, filename, content_type


def _bare_lf(body: bytes, start: int, end: int) -> int:
    lf = body.find(b"\n", start, end)
    while lf >= 0 and body[lf - 1] == 0x0D:
        lf = body.find(b"\n", lf + 1, end)
    return lf


def _peek(body: bytes, at: int) -> str:
    return body[at:at + 8].decode("utf-8", "backslashreplace")


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _encode(boundary: str) -> bytes:
    # mitmproxy gives header values decoded as UTF-8 with surrogateescape: undo exactly that.
    try:
        return boundary.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return boundary.encode("utf-8", "replace")


def _short(text: str) -> str:
    return text if len(text) <= _SNIPPET else text[:_SNIPPET - 1] + "…"
