"""Multipart bodies: the invariants of parse_multipart and parse_form, a builder of valid bodies
(with what a correct parser must find in them), mutations, and the seeded generator."""
from __future__ import annotations

import random
import re
import string
from dataclasses import dataclass, field
from urllib.parse import quote

from cosdoctor.wire.form import MAX_FIELD_DECODE, UploadForm, parse_form
from cosdoctor.wire.multipart import (MAX_PARTS, REASONS, Malformation, MultipartForm, Part, parse_boundary,
                                      parse_multipart)
from devkit.fuzzing.common import clip, need, rand_bytes, rand_text

def check_multipart(content_type: str | None, body: bytes, *, content_length: int | None = None,
                    body_complete: bool = True, expect: list | None = None) -> MultipartForm:
    form = parse_multipart(content_type, body, content_length=content_length, body_complete=body_complete)
    need(type(form) is MultipartForm, "multipart.type", type(form))
    n = len(body)
    boundary, problem = parse_boundary(content_type)
    need(form.boundary == boundary, "multipart.boundary", (form.boundary, boundary))
    need(isinstance(form.parts, tuple) and isinstance(form.complete, bool), "multipart.field-types")
    if boundary is None:
        need(form.parts == () and form.error == problem and not form.complete, "multipart.no-boundary")
    error = form.error
    if error is not None:
        need(type(error) is Malformation, "multipart.error-type", type(error))
        need(error.reason in REASONS, "multipart.reason", error.reason)
        need(type(error.offset) is int and 0 <= error.offset <= n, "multipart.error-offset", (error.offset, n))
        need(isinstance(error.detail, str) and error.detail, "multipart.error-detail")
        need(body_complete or error.reason != "truncated", "multipart.truncated-while-streaming")
        need(error.reason != "too-many-parts" or len(form.parts) == MAX_PARTS, "multipart.too-many-parts")
    elif body_complete:
        need(form.complete, "multipart.clean-but-open", "no error, complete body, no closing delimiter")
    need(len(form.parts) <= MAX_PARTS, "multipart.part-cap", len(form.parts))
    crlf_delim = b"\r\n" + delimiter(boundary) if boundary else b""
    previous_end = -1
    for i, part in enumerate(form.parts):
        need(type(part) is Part and part.index == i, "multipart.part-index", (i, part.index))
        need(isinstance(part.name, str), "multipart.part-name", part.name)
        need(part.filename is None or isinstance(part.filename, str), "multipart.part-filename")
        need(isinstance(part.headers, tuple) and all(
            isinstance(h, tuple) and len(h) == 2 and all(isinstance(x, str) for x in h) for h in part.headers),
            "multipart.part-headers")
        need(part.header("content-disposition") is not None, "multipart.part-disposition")
        need(0 <= part.start <= part.data_start <= part.data_end <= n, "multipart.part-offsets",
             (part.start, part.data_start, part.data_end, n))
        need(part.start > previous_end, "multipart.part-overlap", (previous_end, part.start))
        last = i == len(form.parts) - 1
        ends_at_delim = body[part.data_end:part.data_end + len(crlf_delim)] == crlf_delim
        need(ends_at_delim or (last and part.data_end == n), "multipart.part-end",
             (i, part.data_end, body[part.data_end:part.data_end + 12]))
        need(part.size == part.data_end - part.data_start, "multipart.part-size")
        previous_end = part.data_end
    if expect is not None:
        need(error is None and form.complete, "multipart.valid-rejected", error)
        got = [[p.name, p.filename, p.content_type, body[p.data_start:p.data_end]] for p in form.parts]
        need(got == [list(e) for e in expect], "multipart.valid-parts",
             f"got {clip(got)} expected {clip(expect)}")
    return form


def check_stream(content_type: str, body: bytes, cut: int) -> None:
    """A streamed prefix of a well-formed body: no error, and the parts agree with the full parse."""
    full = parse_multipart(content_type, body)
    need(full.error is None, "stream.full-body-invalid", full.error)
    cut = max(0, min(cut, len(body)))
    prefix = body[:cut]
    form = check_multipart(content_type, prefix, body_complete=False)
    need(form.error is None, "stream.prefix-error", (cut, form.error))
    need(len(form.parts) <= len(full.parts), "stream.more-parts")
    for i, part in enumerate(form.parts):
        whole = full.parts[i]
        same_head = (part.name, part.filename, part.start, part.data_start) == \
                    (whole.name, whole.filename, whole.start, whole.data_start)
        need(same_head, "stream.part-head", (i, part, whole))
        if i < len(form.parts) - 1:
            need(part.data_end == whole.data_end, "stream.part-end", (i, part.data_end, whole.data_end))
        else:
            need(part.data_end == whole.data_end or part.data_end == cut, "stream.last-part-end",
                 (part.data_end, whole.data_end, cut))


def check_form(content_type: str | None, body: bytes, *, content_length: int | None = None,
               body_complete: bool = True) -> UploadForm:
    form = parse_form(content_type, body, content_length=content_length, body_complete=body_complete)
    need(type(form) is UploadForm, "form.type", type(form))
    multipart = parse_multipart(content_type, body, content_length=content_length, body_complete=body_complete)
    need(form.multipart == multipart, "form.multipart-differs")
    parts = multipart.parts
    need(form.names == tuple(p.name or "" for p in parts), "form.names")
    files = tuple(p for p in parts if (p.name or "").lower() == "file")
    need(form.file_parts == files, "form.file-parts")
    first_file = next((i for i, p in enumerate(parts) if (p.name or "").lower() == "file"), None)
    after = tuple(p.name or "" for p in parts[first_file + 1:]) if first_file is not None else ()
    need(form.after_file == after, "form.after-file", (form.after_file, after))
    fields = [p for p in parts if (p.name or "").lower() != "file"]
    need([f.part for f in form.fields] == fields, "form.fields")
    counts: dict[str, int] = {}
    for p in parts:
        counts[(p.name or "").lower()] = counts.get((p.name or "").lower(), 0) + 1
    need(dict(form.duplicates) == {k: c for k, c in counts.items() if c > 1 and k != "file"}, "form.duplicates")
    for f in form.fields:
        end = min(f.part.data_end, f.part.data_start + MAX_FIELD_DECODE)
        need(f.value == body[f.part.data_start:end].decode("utf-8", "replace"), "form.value")
        need(form.get(f.name) == form.by_name[f.lname].value, "form.get")
    need(form.mode in ("policy", "signature-field", "anonymous"), "form.mode", form.mode)
    key = form.key
    need(key is None or isinstance(key, str), "form.key")
    values = form.condition_values()
    need(all(isinstance(k, str) and isinstance(v, str) for k, v in values.items()), "form.condition-values")
    return form


def check_multipart_example(mode: str, *, content_type: str | None, body: bytes,
                            content_length: int | None = None, body_complete: bool = True,
                            expect: list | None = None, cut: int = 0) -> None:
    """One generated multipart example: a streamed prefix ("stream"), or the parse and the form."""
    if mode == "stream":
        check_stream(content_type or "", body, cut)
        return
    check_multipart(content_type, body, content_length=content_length, body_complete=body_complete,
                    expect=expect)
    check_form(content_type, body, content_length=content_length, body_complete=body_complete)


# --- builders shared with the Hypothesis tests: valid bodies, mutations ---------------------------

BCHARS = string.ascii_letters + string.digits + "'()+_,-./:=? "
FIELD_NAMES = ("key", "policy", "q-sign-algorithm", "q-ak", "q-key-time", "q-signature", "file", "File",
               "success_action_status", "success_action_redirect", "Content-Type", "x-cos-meta-a",
               "signature", "Signature", "x-cos-security-token", "x-cos-traffic-limit", "content-md5", "acl")


@dataclass
class PartSpec:
    name: str
    data: bytes = b""
    filename: str | None = None
    filename_star: bool = False       # send filename*=UTF-8''… (wins over filename=)
    content_type: str | None = None
    extra_headers: list = field(default_factory=list)   # [(name bytes, value bytes)]
    disposition_last: bool = False    # Content-Disposition after the other headers
    unquoted_name: bool = False
    header_case: str = "title"        # title | lower | upper


@dataclass
class Built:
    content_type: str
    body: bytes
    boundary: str
    expect: list                      # [name, filename, content type, value] per part


def delimiter(boundary: str) -> bytes:
    try:
        return b"--" + boundary.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return b"--" + boundary.encode("utf-8", "replace")


def data_is_safe(data: bytes, boundary: str) -> bool:
    """True when `data` holds no line that a parser must take for a delimiter.

    A `CRLF--boundary` inside a value is data only when the bytes after it are not `--`, nor
    optional blanks followed by CRLF or LF; the real delimiter that follows the value counts too,
    and so does the blank line before it (RFC 2046: a part's body is optional, so
    `headers CRLF CRLF --boundary CRLF` is a part without a body followed by a delimiter).
    """
    crlf_delim = b"\r\n" + delimiter(boundary)
    combined = b"\r\n" + data + crlf_delim + b"\r\n"
    i = combined.find(crlf_delim)
    while 0 <= i < len(data) + 2:
        j = i + len(crlf_delim)
        if combined[j:j + 2] == b"--":
            return False
        while combined[j:j + 1] in (b" ", b"\t"):
            j += 1
        if combined[j:j + 1] == b"\n" or combined[j:j + 2] == b"\r\n":
            return False
        i = combined.find(crlf_delim, i + 1)
    return True


def content_type_for(boundary: str, quoted: bool, *, media: str = "multipart/form-data",
                     before: str = "", after: str = "", param: str = "boundary") -> str:
    value = boundary
    if quoted:
        value = '"' + boundary.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{media};{before} {param}={value}{after}"


def _header_name(name: str, case: str) -> bytes:
    if case == "lower":
        name = name.lower()
    elif case == "upper":
        name = name.upper()
    return name.encode()


def build_multipart(boundary: str, parts: list[PartSpec], *, quoted: bool = False, preamble: bytes = b"",
                    epilogue: bytes = b"", padding: bytes = b"", ct_before: str = "", ct_after: str = "") -> Built:
    """A well-formed body for `parts` (callers keep values safe with data_is_safe) and what a
    correct parser must find in it."""
    delim = delimiter(boundary)
    out = bytearray(preamble)
    expect: list = []
    for spec in parts:
        out += delim + padding + b"\r\n"
        name_value = spec.name if spec.unquoted_name else '"' + spec.name + '"'
        disposition = f"form-data; name={name_value}"
        filename = spec.filename
        if spec.filename is not None:
            if spec.filename_star:
                encoded = quote(spec.filename.encode("utf-8"), safe="")
                disposition += f"; filename=\"fallback.bin\"; filename*=UTF-8''{encoded}"
            else:
                disposition += f'; filename="{spec.filename}"'
        lines = [_header_name("Content-Disposition", spec.header_case) + b": " + disposition.encode("utf-8")]
        if spec.content_type is not None:
            lines.append(_header_name("Content-Type", spec.header_case) + b": " + spec.content_type.encode("utf-8"))
        lines += [n + b": " + v for n, v in spec.extra_headers]
        if spec.disposition_last:
            lines.append(lines.pop(0))
        out += b"\r\n".join(lines) + b"\r\n\r\n" + spec.data + b"\r\n"
        ctype = spec.content_type.strip(" \t") if spec.content_type is not None else None
        expect.append([spec.name, filename, ctype, spec.data])
    out += delim + b"--" + padding + epilogue
    content_type = content_type_for(boundary, quoted, before=ct_before, after=ct_after)
    return Built(content_type, bytes(out), boundary, expect)


def tokens_for(boundary: str) -> list[bytes]:
    """Byte strings that matter to a multipart parser, for insertion mutations."""
    delim = delimiter(boundary)
    return [b"\r\n", b"\n", b"\r", b"\r\n\r\n", b"--", delim, b"\r\n" + delim, b"\r\n" + delim + b"\r\n",
            b"\r\n" + delim + b"--", b"\n" + delim + b"\n", delim[:-1], b"\r\n" + delim + b" \t",
            b'Content-Disposition: form-data; name="x"\r\n\r\n', b'name="file"; filename="a.txt"',
            b"filename*=UTF-8''%E6%96%87%ff", b'"', b";", b"\\", b"\x00", b"\xff\xfe", b"\xe6\x96",
            b"Content-Type: text/plain\r\n", b" " * 17, b"=" * 3, b"\r\n" * 40]


MUTATIONS = ("flip", "insert", "token", "delete", "truncate", "dup-delim", "drop-cr", "drop-lf",
             "all-lf", "dup-range", "swap-chunks", "cut-delim")


def mutate(body: bytes, ops: list, boundary: str) -> bytes:
    """Apply (kind, x, y, payload) operations; positions are taken modulo the current length."""
    data = bytearray(body)
    tokens = tokens_for(boundary)
    delim = delimiter(boundary)
    for kind, x, y, payload in ops:
        n = len(data)
        at = x % (n + 1)
        if kind == "flip" and n:
            data[at % n] ^= (y % 255) + 1
        elif kind == "insert":
            data[at:at] = payload
        elif kind == "token":
            data[at:at] = tokens[y % len(tokens)]
        elif kind == "delete":
            del data[at:at + 1 + y % 64]
        elif kind == "truncate":
            del data[at:]
        elif kind in ("dup-delim", "cut-delim"):
            hits = [m.start() for m in re.finditer(re.escape(delim), data)]
            if hits:
                hit = hits[y % len(hits)]
                if kind == "dup-delim":
                    end = data.find(b"\n", hit)
                    end = len(data) if end < 0 else end + 1
                    data[hit:hit] = data[hit:end]
                else:
                    del data[hit + len(delim) - 1]
        elif kind in ("drop-cr", "drop-lf"):
            hits = [m.start() for m in re.finditer(b"\r\n", data)]
            if hits:
                hit = hits[y % len(hits)]
                del data[hit if kind == "drop-cr" else hit + 1]
        elif kind == "all-lf":
            data = bytearray(data.replace(b"\r\n", b"\n"))
        elif kind == "dup-range":
            data[at:at] = data[at:at + 1 + y % 200]
        elif kind == "swap-chunks":
            chunks = bytes(data).split(b"\r\n" + delim)
            if len(chunks) > 2:
                i, j = 1 + x % (len(chunks) - 1), 1 + y % (len(chunks) - 1)
                chunks[i], chunks[j] = chunks[j], chunks[i]
                data = bytearray((b"\r\n" + delim).join(chunks))
    return bytes(data)


def mutate_content_type(content_type: str, boundary: str, choice: int) -> str | None:
    """One of the ways a Content-Type header goes wrong (or stays right)."""
    variants: list[str | None] = [
        content_type, None, "", "multipart/form-data", "multipart/form-data; boundary=",
        "multipart/form-data; boundary=\"\"", "multipart/mixed; boundary=" + boundary,
        "application/x-www-form-urlencoded", "MULTIPART/FORM-DATA; BOUNDARY=" + boundary,
        content_type.replace(boundary, boundary.upper()), content_type.replace(boundary, boundary[:-1] or "x"),
        content_type + "; boundary=other", "multipart/form-data; boundary=other; boundary=" + boundary,
        "multipart/form-data; boundary=" + "b" * 71, "multipart/form-data; boundary=\"" + boundary,
        "multipart/form-data;boundary=" + boundary + ";", "multipart/form-data; charset=utf-8; boundary " + boundary,
        "multipart/form-data; boundary=" + boundary + "\udcff", " multipart/form-data ; boundary = " + boundary,
    ]
    return variants[choice % len(variants)]


# --- the generator ------------------------------------------------------------------------------

def rand_boundary(r: random.Random, weird: bool = False) -> str:
    n = r.choice((1, 2, 4, 8, 16, 24, 38, 40, 69, 70)) if r.random() < 0.5 else r.randint(1, 70)
    alphabet = BCHARS + ('"\\;é\t' if weird else "")
    text = "".join(r.choice(alphabet) for _ in range(n))
    if text.endswith(" ") or text.startswith(" "):
        text = "x" + text.strip() + "x"
    return text[:70] or "x"


def rand_value(r: random.Random, boundary: str) -> bytes:
    """Values a careless parser would cut: boundary look-alikes, CR/LF, NUL, random bytes."""
    kind = r.random()
    if kind < 0.2:
        return b""
    if kind < 0.45:
        return rand_text(r, 40).encode("utf-8", "surrogatepass")
    if kind < 0.65:
        return rand_bytes(r, 200)
    delim = delimiter(boundary)
    fragments = [delim, b"\r\n" + delim + b"X", b"\r" + delim + b"\r\n", b"\n" + delim + b"--\r\n",
                 b"\r\n" + delim[:-1] + b"\r\n", b"x" + delim + b"--", b"\r\n" + delim + b" \tjunk",
                 b"\r\n\r\n", b"\r\n", b"\n", b"\r", b"--", b"\x00", b"\xff", b"data"]
    return b"".join(r.choice(fragments) for _ in range(r.randint(1, 12)))


def rand_part(r: random.Random, boundary: str, index: int) -> PartSpec:
    if r.random() < 0.7:
        name = r.choice(FIELD_NAMES)
    else:
        name = rand_text(r, 16, pools=(string.ascii_letters, " -_.", "éü文", "😀", ":;=,/"), surrogates=False)
    unquoted = bool(re.fullmatch(r"[A-Za-z0-9._-]+", name)) and r.random() < 0.3
    filename = None
    if name.lower() == "file" or r.random() < 0.1:
        filename = rand_text(r, 20, pools=(string.ascii_letters, " ._-", "文件", "😀", "#%&'()"), surrogates=False)
    data = rand_value(r, boundary)
    for _ in range(5):
        if data_is_safe(data, boundary):
            break
        data = rand_value(r, boundary)
    else:
        data = b"safe"
    extra = []
    for _ in range(r.choice((0, 0, 0, 1, 2))):
        extra.append((r.choice((b"X-Extra", b"Content-Transfer-Encoding", b"Content-ID", b"x-a")),
                      bytes(c for c in rand_bytes(r, 30) if c not in b"\r\n")))
    return PartSpec(name=name, data=data, filename=filename, filename_star=filename is not None and r.random() < 0.3,
                    content_type=r.choice((None, None, "text/plain", "image/jpeg", " application/octet-stream\t")),
                    extra_headers=extra, disposition_last=r.random() < 0.15, unquoted_name=unquoted,
                    header_case=r.choice(("title", "title", "lower", "upper")))


def rand_built(r: random.Random) -> Built:
    boundary = rand_boundary(r, weird=r.random() < 0.1)
    quoted = r.random() < 0.3 or any(c in boundary for c in ' "\\;\t')
    parts = [rand_part(r, boundary, i) for i in range(r.choice((0, 1, 1, 2, 3, 5, 8, 12)))]
    preamble = b""
    if r.random() < 0.1:
        preamble = bytes(c for c in rand_bytes(r, 40) if c not in b"-") + b"\r\n"
    built = build_multipart(boundary, parts, quoted=quoted, preamble=preamble,
                            epilogue=rand_bytes(r, 20) if r.random() < 0.2 else r.choice((b"", b"\r\n")),
                            padding=r.choice((b"", b"", b"", b" ", b"\t \t")),
                            ct_before=r.choice(("", "", " charset=utf-8;")), ct_after=r.choice(("", "", "; x=y")))
    return built


def rand_ops(r: random.Random) -> list:
    return [(r.choice(MUTATIONS), r.randrange(1 << 30), r.randrange(1 << 30), rand_bytes(r, 8))
            for _ in range(r.randint(1, 4))]


def gen_multipart(r: random.Random) -> dict:
    built = rand_built(r)
    mode = r.random()
    if mode < 0.25:
        return {"mode": "plain", "content_type": built.content_type, "body": built.body,
                "content_length": r.choice((None, len(built.body))), "expect": built.expect}
    if mode < 0.4:
        return {"mode": "stream", "content_type": built.content_type, "body": built.body,
                "cut": r.randrange(len(built.body) + 1)}
    body = built.body if r.random() < 0.05 else mutate(built.body, rand_ops(r), built.boundary)
    if r.random() < 0.03:
        body = rand_bytes(r, 300)
    content_type = built.content_type if r.random() < 0.8 else \
        mutate_content_type(built.content_type, built.boundary, r.randrange(100))
    content_length = r.choice((None, None, len(body), len(body) + r.randint(1, 100), max(0, len(body) - 3), 0))
    return {"mode": "plain", "content_type": content_type, "body": body, "content_length": content_length,
            "body_complete": r.random() < 0.8}
