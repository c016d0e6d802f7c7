"""cosdoctor.multipart: a valid default form, one delta per malformation, and properties.

Every malformation case states its reason and the exact byte offset, found in the body by content
(`body.index(...)`), never by counting by hand.
"""
from __future__ import annotations

import dataclasses
import gc
import re
import sys
from collections.abc import Callable

import pytest
import requests
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cosdoctor.wire.form import parse_form
from cosdoctor.wire.multipart import (
    DETAILS,
    MAX_HEADER_BLOCK,
    MAX_PARTS,
    REASONS,
    MultipartForm,
    Part,
    parse_boundary,
    parse_multipart,
)

B = "----WebKitFormBoundary7MA4YWxkTrZu0gW"
CT = f"multipart/form-data; boundary={B}"
DELIM = b"--" + B.encode()
CRLF_DELIM = b"\r\n" + DELIM

# File bytes that a sloppy parser would cut: CR/LF, NUL, and boundary look-alikes that are not
# delimiters (no CRLF before, a junk byte after, a shortened boundary, padding then junk).
FILE_DATA = (b"\x00\x01line1\r\nline2\n\r\n"
             + CRLF_DELIM + b"X not a delimiter"
             + CRLF_DELIM + b" \tstill data"
             + b"\r" + DELIM + b"\r\n(a CR alone before it)"
             + b"\n" + DELIM + b"--\r\n(an LF alone before it)"
             + b"\r\n" + DELIM[:-1] + b"\r\n"
             + b"\xff\xfe\r\n\r\n")

FIELDS = [
    ("key", b"uploads/${filename}"),
    ("policy", b"eyJleHBpcmF0aW9uIjoiMjAzMC0wMS0wMVQwMDowMDowMFoiLCJjb25kaXRpb25zIjpbXX0="),
    ("q-sign-algorithm", b"sha1"),
    ("q-ak", b"AKIDEXAMPLE"),
    ("q-key-time", b"1700000000;1700003600"),
    ("q-signature", b"0123456789abcdef0123456789abcdef01234567"),
    ("success_action_status", b""),
]
FILE_HEADERS = b'Content-Disposition: form-data; name="file"; filename="photo.jpg"\r\nContent-Type: image/jpeg'


def field_part(name: str, value: bytes) -> bytes:
    return f'Content-Disposition: form-data; name="{name}"'.encode() + b"\r\n\r\n" + value


def default_parts(file_data: bytes = FILE_DATA) -> list[bytes]:
    return [field_part(n, v) for n, v in FIELDS] + [FILE_HEADERS + b"\r\n\r\n" + file_data]


def build(parts: list[bytes], *, boundary: bytes = DELIM, preamble: bytes = b"",
          epilogue: bytes = b"\r\n") -> bytes:
    """Each part is its header lines, CRLFCRLF and its value: the builder adds the delimiters."""
    return (preamble + b"".join(boundary + b"\r\n" + p + b"\r\n" for p in parts)
            + boundary + b"--" + epilogue)


DEFAULT = build(default_parts())


def start_of(body: bytes, name: str) -> int:
    """Offset of the header block of the part named `name` (the first Content-Disposition line)."""
    return body.index(f'Content-Disposition: form-data; name="{name}"'.encode())


# --- the valid default ----------------------------------------------------------------------

def test_default_form_round_trips() -> None:
    form = parse_multipart(CT, DEFAULT, content_length=len(DEFAULT))
    assert form.error is None and form.complete and form.boundary == B
    assert [p.name for p in form.parts] == [n for n, _ in FIELDS] + ["file"]
    assert [p.index for p in form.parts] == list(range(len(FIELDS) + 1))
    for part, (_, value) in zip(form.parts, FIELDS):
        assert form.value(DEFAULT, part) == value
        assert part.filename is None and part.content_type is None
        assert part.size == len(value)
    file = form.parts[-1]
    assert form.value(DEFAULT, file) == FILE_DATA
    assert file.size == len(FILE_DATA)
    assert file.filename == "photo.jpg" and file.content_type == "image/jpeg"
    assert file.headers == (("Content-Disposition", 'form-data; name="file"; filename="photo.jpg"'),
                            ("Content-Type", "image/jpeg"))
    assert file.header("content-TYPE") == "image/jpeg" and file.header("X-Nope") is None
    assert file.start == start_of(DEFAULT, "file")
    assert DEFAULT[file.data_start - 4:file.data_start] == b"\r\n\r\n"
    for part in form.parts:                 # the CRLF before each delimiter is not value
        assert DEFAULT[part.data_end:part.data_end + len(CRLF_DELIM)] == CRLF_DELIM


def test_offsets_point_into_the_original_buffer() -> None:
    body = bytearray(DEFAULT)              # any buffer with .find works; nothing is copied
    form = parse_multipart(CT, body)
    assert form.error is None
    assert bytes(form.value(body, form.parts[-1])) == FILE_DATA


# --- one delta per malformation ---------------------------------------------------------------

Case = tuple[str | None, bytes, dict, str, int]   # content type, body, kwargs, reason, offset
CASES: dict[str, Callable[[], Case]] = {}


def case(fn: Callable[[], Case]) -> Callable[[], Case]:
    CASES[fn.__name__] = fn
    return fn


def replace_header(name: str, new: bytes, *, body: bytes = DEFAULT) -> bytes:
    old = f'Content-Disposition: form-data; name="{name}"'.encode()
    assert body.count(old) == 1
    return body.replace(old, new)


@case
def not_multipart_urlencoded() -> Case:
    return "application/x-www-form-urlencoded", DEFAULT, {}, "not-multipart", 0


@case
def not_multipart_no_content_type() -> Case:
    return None, DEFAULT, {}, "not-multipart", 0


@case
def not_multipart_mixed() -> Case:
    return f"multipart/mixed; boundary={B}", DEFAULT, {}, "not-multipart", 0


@case
def missing_boundary_absent() -> Case:
    return "multipart/form-data", DEFAULT, {}, "missing-boundary", 0


@case
def missing_boundary_empty() -> Case:
    return 'multipart/form-data; boundary=""', DEFAULT, {}, "missing-boundary", 0


@case
def missing_boundary_too_long() -> Case:
    return "multipart/form-data; boundary=" + "a" * 71, DEFAULT, {}, "missing-boundary", 0


@case
def boundary_mismatch_other_boundary() -> Case:
    return "multipart/form-data; boundary=xyz", DEFAULT, {}, "boundary-mismatch", 0


@case
def boundary_mismatch_declared_is_a_prefix() -> Case:
    return f"multipart/form-data; boundary={B[:-3]}", DEFAULT, {}, "boundary-mismatch", 0


@case
def boundary_mismatch_garbage_before_first_delimiter() -> Case:
    return CT, b"\xef\xbb\xbf" + DEFAULT, {}, "boundary-mismatch", 0


@case
def boundary_mismatch_broken_closing_delimiter() -> Case:
    body = DEFAULT[:DEFAULT.rindex(CRLF_DELIM)] + CRLF_DELIM + b"_x--\r\n"
    return CT, body, {}, "boundary-mismatch", body.rindex(CRLF_DELIM) + len(CRLF_DELIM)


@case
def bare_lf_after_first_delimiter() -> Case:
    return CT, DEFAULT.replace(DELIM + b"\r\n", DELIM + b"\n", 1), {}, "bare-lf", len(DELIM)


@case
def bare_lf_after_padding() -> Case:
    body = DEFAULT.replace(DELIM + b"\r\n", DELIM + b" \t\n", 1)
    return CT, body, {}, "bare-lf", len(DELIM) + 2


@case
def bare_lf_after_inner_delimiter() -> Case:
    old = CRLF_DELIM + b'\r\nContent-Disposition: form-data; name="q-ak"'
    body = DEFAULT.replace(old, CRLF_DELIM + b'\nContent-Disposition: form-data; name="q-ak"')
    return CT, body, {}, "bare-lf", body.index(CRLF_DELIM + b'\nContent-Disposition') + len(CRLF_DELIM)


@case
def bare_lf_blank_line() -> Case:
    line = b'Content-Disposition: form-data; name="policy"'
    body = DEFAULT.replace(line + b"\r\n\r\n", line + b"\n\n")
    return CT, body, {}, "bare-lf", body.index(line) + len(line)


@case
def bare_lf_between_header_lines() -> Case:
    line = b'Content-Disposition: form-data; name="file"; filename="photo.jpg"'
    body = DEFAULT.replace(line + b"\r\n", line + b"\n")
    return CT, body, {}, "bare-lf", body.index(line) + len(line)


@case
def missing_content_disposition_absent() -> Case:
    body = replace_header("q-ak", b"Content-Type: text/plain")
    return CT, body, {}, "missing-content-disposition", body.index(b"Content-Type: text/plain")


@case
def missing_content_disposition_only_a_junk_line() -> Case:
    body = replace_header("q-ak", b"form-data; name=q-ak")
    return CT, body, {}, "missing-content-disposition", body.index(b"form-data; name=q-ak")


@case
def missing_content_disposition_not_form_data() -> Case:
    body = replace_header("q-ak", b'Content-Disposition: attachment; name="q-ak"')
    return CT, body, {}, "missing-content-disposition", body.index(b"Content-Disposition: attachment")


@case
def missing_name_filename_only() -> Case:
    body = replace_header("q-ak", b'Content-Disposition: form-data; filename="q-ak"')
    return CT, body, {}, "missing-name", body.index(b'Content-Disposition: form-data; filename="q-ak"')


@case
def missing_name_other_parameter() -> Case:
    body = replace_header("q-ak", b'Content-Disposition: form-data; names="q-ak"')
    return CT, body, {}, "missing-name", body.index(b'Content-Disposition: form-data; names="q-ak"')


@case
def missing_name_without_value() -> Case:
    body = replace_header("q-ak", b"Content-Disposition: form-data; name")
    return CT, body, {}, "missing-name", body.index(b"Content-Disposition: form-data; name\r\n")


@case
def unterminated_no_blank_line() -> Case:
    line = b'Content-Disposition: form-data; name="policy"'
    body = DEFAULT.replace(line + b"\r\n\r\n", line + b"\r\n")
    return CT, body, {}, "unterminated-part-headers", body.index(line)


@case
def unterminated_header_block_too_long() -> Case:
    line = b'Content-Disposition: form-data; name="policy"'
    body = DEFAULT.replace(line, line + b"\r\nX-Pad: " + b"a" * MAX_HEADER_BLOCK)
    return CT, body, {}, "unterminated-part-headers", body.index(line)


@case
def unterminated_cut_inside_headers() -> Case:
    cut = start_of(DEFAULT, "q-ak") + 10
    return CT, DEFAULT[:cut], {}, "unterminated-part-headers", start_of(DEFAULT, "q-ak")


@case
def truncated_no_closing_delimiter() -> Case:
    body = DEFAULT[:DEFAULT.rindex(CRLF_DELIM)]
    return CT, body, {}, "truncated", len(body)


@case
def truncated_cut_inside_file() -> Case:
    body = DEFAULT[:DEFAULT.index(b"line2")]
    return CT, body, {"content_length": len(DEFAULT)}, "truncated", len(body)


@case
def truncated_content_length_longer_than_a_complete_body() -> Case:
    return CT, DEFAULT, {"content_length": len(DEFAULT) + 1}, "truncated", len(DEFAULT)


@case
def truncated_cut_inside_headers_with_content_length() -> Case:
    body = DEFAULT[:start_of(DEFAULT, "q-ak") + 10]
    return CT, body, {"content_length": len(DEFAULT)}, "truncated", len(body)


@case
def truncated_cut_inside_a_delimiter_line() -> Case:
    body = DEFAULT[:len(DELIM) + 1]
    return CT, body, {}, "truncated", len(body)


@case
def truncated_cut_right_after_a_delimiter_line() -> Case:
    body = DEFAULT[:len(DELIM) + 2]
    return CT, body, {}, "truncated", len(body)


@case
def truncated_cut_inside_the_first_delimiter() -> Case:
    return CT, DEFAULT[:5], {}, "truncated", 5


@case
def truncated_cut_inside_the_closing_dashes() -> Case:
    body = DEFAULT[:-3]
    assert body.endswith(DELIM + b"-")
    return CT, body, {}, "truncated", len(body)


@case
def truncated_empty_body() -> Case:
    return CT, b"", {}, "truncated", 0


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformation(name: str) -> None:
    content_type, body, kwargs, reason, offset = CASES[name]()
    form = parse_multipart(content_type, body, **kwargs)
    assert form.error is not None, form
    assert (form.error.reason, form.error.offset) == (reason, offset), form.error
    assert form.error.reason in REASONS
    assert form.error.detail in DETAILS                                # a word the catalogue words
    assert all(isinstance(v, (int, str)) for v in form.error.facts.values())


def test_every_reason_has_a_case() -> None:
    reasons = {CASES[name]()[3] for name in CASES} | {"too-many-parts"}   # its own tests below
    assert reasons == set(REASONS)


def test_mismatch_detail_says_what_the_body_starts_with() -> None:
    form = parse_multipart("multipart/form-data; boundary=abc", b"--xyz\r\nrest")
    assert form.error is not None and form.error.detail == "body-start"
    assert form.error.facts == {"body_start": "--xyz", "boundary": "abc"}
    long = parse_multipart("multipart/form-data; boundary=abc", b"--" + b"z" * 500)
    assert long.error is not None and len(long.error.facts["body_start"]) <= 40


def test_parts_before_the_error_are_reported() -> None:
    body = replace_header("q-ak", b'Content-Disposition: form-data; filename="x"')
    form = parse_multipart(CT, body)
    assert form.error is not None and form.error.reason == "missing-name"
    assert [p.name for p in form.parts] == ["key", "policy", "q-sign-algorithm"]
    assert not form.complete


def test_a_part_cut_by_the_end_is_reported_up_to_the_end() -> None:
    body = DEFAULT[:DEFAULT.index(b"line2")]
    form = parse_multipart(CT, body)
    assert form.error is not None and form.error.reason == "truncated"
    assert form.parts[-1].name == "file" and form.parts[-1].data_end == len(body)


def test_boundary_inside_file_without_a_valid_tail_is_data() -> None:
    data = CRLF_DELIM + b"X" + CRLF_DELIM + b"-" + CRLF_DELIM + b" x" + CRLF_DELIM + b"\rZ"
    body = build(default_parts(data))
    form = parse_multipart(CT, body)
    assert form.error is None and form.value(body, form.parts[-1]) == data


# --- caps -----------------------------------------------------------------------------------------

def tiny_parts(count: int) -> bytes:
    return build([b'Content-Disposition: form-data; name="a"\r\n\r\nv'] * count)


def test_max_parts_is_allowed() -> None:
    form = parse_multipart(CT, tiny_parts(MAX_PARTS))
    assert form.error is None and len(form.parts) == MAX_PARTS


def test_one_part_more_than_max_parts() -> None:
    body = tiny_parts(MAX_PARTS + 1)
    form = parse_multipart(CT, body)
    assert form.error is not None and form.error.reason == "too-many-parts"
    assert form.error.offset == form.parts[-1].data_end + len(CRLF_DELIM) + 2
    assert body[form.error.offset:].startswith(b'Content-Disposition: form-data; name="a"\r\n\r\nv\r\n')
    assert len(form.parts) == MAX_PARTS


def test_hundred_thousand_tiny_parts_stop_at_the_cap() -> None:
    form = parse_multipart(CT, tiny_parts(100_000))
    assert form.error is not None and form.error.reason == "too-many-parts"
    assert len(form.parts) == MAX_PARTS


@pytest.mark.parametrize("extra, ok", [(0, True), (1, False)])
def test_header_block_limit_is_exact(extra: int, ok: bool) -> None:
    line = b'Content-Disposition: form-data; name="a"\r\nX-Pad: '
    block = line + b"p" * (MAX_HEADER_BLOCK - len(line) + extra)
    body = build([block + b"\r\n\r\nv"])
    form = parse_multipart(CT, body)
    assert (form.error is None) is ok
    if not ok:
        assert form.error is not None
        assert (form.error.reason, form.error.offset) == ("unterminated-part-headers", len(DELIM) + 2)


def test_header_block_over_the_limit_is_an_error_even_in_a_streamed_prefix() -> None:
    body = DELIM + b"\r\n" + b"X-Pad: aaaa\r\n" * (MAX_HEADER_BLOCK // 10)
    for complete in (True, False):
        form = parse_multipart(CT, body, content_length=len(body) * 2, body_complete=complete)
        assert form.error is not None
        assert (form.error.reason, form.error.offset) == ("unterminated-part-headers", len(DELIM) + 2)


def test_megabytes_of_header_bytes_stop_at_the_limit() -> None:
    body = DELIM + b"\r\n" + b"X-Pad: aaaa\r\n" * 400_000
    form = parse_multipart(CT, body)
    assert form.error is not None
    assert (form.error.reason, form.error.offset) == ("unterminated-part-headers", len(DELIM) + 2)


def test_many_boundary_look_alikes_inside_a_file() -> None:
    data = (CRLF_DELIM + b"X") * 200_000 + b"tail"
    body = build(default_parts(data))
    form = parse_multipart(CT, body)
    assert form.error is None and form.value(body, form.parts[-1]) == data


# --- parameters, filenames, boundaries ----------------------------------------------------------

@pytest.mark.parametrize("content_type, expected", [
    (f"multipart/form-data; boundary={B}", B),
    ("multipart/form-data; boundary=abc", "abc"),
    ("Multipart/Form-Data; Boundary=abc", "abc"),
    ("multipart/form-data; BOUNDARY=abc", "abc"),
    ('multipart/form-data; boundary="a b:c"', "a b:c"),
    ("multipart/form-data;boundary=abc;charset=utf-8", "abc"),
    ('multipart/form-data; charset="utf;8"; boundary = "q"', "q"),
    ("multipart/form-data; boundary=" + "a" * 70, "a" * 70),
])
def test_parse_boundary(content_type: str, expected: str) -> None:
    assert parse_boundary(content_type) == (expected, None)


@pytest.mark.parametrize("content_type, reason", [
    (None, "not-multipart"),
    ("", "not-multipart"),
    ("text/plain", "not-multipart"),
    ("multipart/form-data-x; boundary=a", "not-multipart"),
    ("multipart/form-data", "missing-boundary"),
    ("multipart/form-data; boundary=", "missing-boundary"),
    ("multipart/form-data; boundary", "missing-boundary"),
    ("multipart/form-data; charset=utf-8", "missing-boundary"),
    ("multipart/form-data; boundary=" + "a" * 71, "missing-boundary"),
])
def test_parse_boundary_refusals(content_type: str | None, reason: str) -> None:
    boundary, problem = parse_boundary(content_type)
    assert boundary is None and problem is not None
    assert (problem.reason, problem.offset) == (reason, 0)


@pytest.mark.parametrize("content_type", [
    'multipart/form-data; boundary="abc"',
    "multipart/form-data; Boundary=abc",
    "MULTIPART/FORM-DATA; charset=utf-8; boundary=abc",
])
def test_boundary_forms_parse_a_body(content_type: str) -> None:
    body = build(default_parts(), boundary=b"--abc")
    form = parse_multipart(content_type, body)
    assert form.error is None and form.boundary == "abc" and len(form.parts) == len(FIELDS) + 1


@pytest.mark.parametrize("disposition, filename", [
    (b'form-data; name="file"; filename="a.txt"', "a.txt"),
    (b"form-data; name=file; filename=a.txt", "a.txt"),
    (b'form-data; name="file"; FILENAME = "sp.txt" ', "sp.txt"),
    (b"form-data; name=\"file\"; filename*=UTF-8''%E6%96%87.txt", "\u6587.txt"),
    (b"form-data; name=\"file\"; filename*=utf-8'en'%E4%BD%A0.jpg", "\u4f60.jpg"),
    (b"form-data; name=\"file\"; filename*=iso-8859-1''caf%E9.txt", "caf\xe9.txt"),
    (b"form-data; name=\"file\"; filename=\"x.jpg\"; filename*=UTF-8''%E4%BD%A0.jpg", "\u4f60.jpg"),
    (b"form-data; name=\"file\"; filename*=UTF-8''%E4%BD%A0.jpg; filename=\"x.jpg\"", "\u4f60.jpg"),
    (b"form-data; name=\"file\"; filename=\"x.jpg\"; filename*=bogus", "x.jpg"),
    (b"form-data; name=\"file\"; filename=\"x.jpg\"; filename*=KOI8-R''%C1", "x.jpg"),
    (b"form-data; name=\"file\"; filename*=bogus", "bogus"),
    ('form-data; name="file"; filename="你好.jpg"'.encode(), "你好.jpg"),   # Chromium: raw UTF-8
    (b'form-data; name="file"; filename="caf\xe9.txt"', "caf\xe9.txt"),    # not UTF-8: latin-1
    (b'form-data; name="file"; filename=""', ""),
    (b'form-data; name="file"', None),
    (b'form-data; name="file"; filename="c\\"d.txt"', 'c"d.txt'),
    (b'form-data; name="file"; filename="a%22b.txt"', "a%22b.txt"),          # Chromium escape kept
    (b'form-data; name="file"; filename="C:\\dir\\a.txt"', "C:\\dir\\a.txt"),
    (b'form-data; name="file"; filename="semi;colon.txt"', "semi;colon.txt"),
    (b'form-data; name="file"; filename="unterminated.txt', "unterminated.txt"),
])
def test_filename_forms(disposition: bytes, filename: str | None) -> None:
    body = build([b"Content-Disposition: " + disposition + b"\r\n\r\nDATA\r\nx"])
    form = parse_multipart(CT, body)
    assert form.error is None, form.error
    (part,) = form.parts
    assert part.name == "file" and part.filename == filename
    assert form.value(body, part) == b"DATA\r\nx"


@pytest.mark.parametrize("disposition, name", [
    (b'form-data; name="a;b"', "a;b"),
    (b"form-data; name=token", "token"),
    (b'form-data; name="c\\"d"', 'c"d'),
    (b'form-data; name = "spaced"', "spaced"),
    (b'form-data; NAME="upper"', "upper"),
    (b'Form-Data; name="typecase"', "typecase"),
    (b'form-data; filename="f"; name="after"', "after"),
    (b'form-data; name=""', ""),
    ('form-data; name="名前"'.encode(), "名前"),
])
def test_name_forms(disposition: bytes, name: str) -> None:
    body = build([b"Content-Disposition: " + disposition + b"\r\n\r\nv"])
    form = parse_multipart(CT, body)
    assert form.error is None, form.error
    assert [p.name for p in form.parts] == [name]


def test_header_lines_keep_order_and_case_and_skip_junk() -> None:
    block = (b"X-First:  1 \r\n"
             b'content-disposition: form-data; name="a"\r\n'
             b"junk without a colon\r\n"
             b"Content-Type:text/plain\r\n"
             b"X-Raw: caf\xc3\xa9 \xe9")
    body = build([block + b"\r\n\r\nv"])
    (part,) = parse_multipart(CT, body).parts
    assert part.headers == (("X-First", "1"), ("content-disposition", 'form-data; name="a"'),
                            ("Content-Type", "text/plain"), ("X-Raw", "caf\xc3\xa9 \xe9"))
    assert part.content_type == "text/plain" and part.header("CONTENT-DISPOSITION") is not None


def test_empty_value_and_empty_headers() -> None:
    body = build([b'Content-Disposition: form-data; name="a"\r\n\r\n'])
    form = parse_multipart(CT, body)
    assert form.error is None and form.parts[0].size == 0
    no_headers = parse_multipart(CT, build([b"\r\nv"]))
    assert no_headers.error is not None
    assert (no_headers.error.reason, no_headers.error.offset) == ("missing-content-disposition",
                                                                  len(DELIM) + 2)


def test_delimiter_right_after_the_header_block() -> None:
    # RFC 2046: body-part := headers [CRLF *OCTET]; the blank line's CRLF may start the delimiter.
    body = DELIM + b'\r\nContent-Disposition: form-data; name="a"\r\n\r\n' + DELIM + b"--"
    form = parse_multipart(CT, body)
    assert form.error is None and form.complete
    (part,) = form.parts
    assert part.name == "a" and part.size == 0 and part.data_end == body.rindex(CRLF_DELIM)


def test_empty_form_is_complete() -> None:
    form = parse_multipart(CT, DELIM + b"--\r\n")
    assert form.error is None and form.complete and form.parts == ()


# --- preamble, epilogue, padding -------------------------------------------------------------------

def test_preamble_and_epilogue_are_skipped() -> None:
    preamble = b"This is the preamble.\r\nIt has two lines.\r\n"
    body = build(default_parts(), preamble=preamble, epilogue=b"\r\nthe epilogue " + DELIM + b"\n")
    form = parse_multipart(CT, body)
    assert form.error is None and form.complete
    assert form.parts[0].start == len(preamble) + len(DELIM) + 2
    assert [form.value(body, p) for p in form.parts] == [v for _, v in FIELDS] + [FILE_DATA]


def test_transport_padding_after_delimiters() -> None:
    body = DEFAULT.replace(DELIM + b"\r\nContent-Disposition", DELIM + b" \t \r\nContent-Disposition")
    assert body.count(b" \t \r\n") == len(FIELDS) + 1
    form = parse_multipart(CT, body)
    assert form.error is None
    assert [form.value(body, p) for p in form.parts] == [v for _, v in FIELDS] + [FILE_DATA]


# --- streamed prefixes and Content-Length ---------------------------------------------------------

SMALL = build([field_part("key", b"k"), field_part("policy", b"p\r\n"),
               FILE_HEADERS + b"\r\n\r\n" + b"ab\r\n" + CRLF_DELIM + b"Z\r\ncd"])
SMALL_VALUES = [b"k", b"p\r\n", b"ab\r\n" + CRLF_DELIM + b"Z\r\ncd"]


@pytest.mark.parametrize("cut", range(len(SMALL) + 1))
def test_streamed_prefix_never_errors(cut: int) -> None:
    body = SMALL[:cut]
    form = parse_multipart(CT, body, content_length=len(SMALL), body_complete=False)
    assert form.error is None
    assert form.complete == (cut >= len(SMALL) - 2)       # '--' after the last delimiter seen
    for i, part in enumerate(form.parts):
        value = form.value(body, part)
        if part.data_end == len(body):   # cut by the end: maybe up to a half-seen delimiter line
            full = SMALL_VALUES[i] + CRLF_DELIM
            assert value[:len(full)] == full[:len(value)] and len(value) <= len(full) + 1
        else:
            assert value == SMALL_VALUES[i]


def test_streamed_prefix_with_a_foreign_boundary_is_flagged_once_long_enough() -> None:
    body = b"--other\r\n" + b"x" * MAX_HEADER_BLOCK
    assert parse_multipart(CT, body[:100], body_complete=False).error is None
    form = parse_multipart(CT, body, body_complete=False)
    assert form.error is not None and (form.error.reason, form.error.offset) == ("boundary-mismatch", 0)


def test_streamed_prefix_with_garbage_before_the_boundary_is_flagged() -> None:
    form = parse_multipart(CT, b"junk" + DEFAULT[:200], body_complete=False)
    assert form.error is not None and (form.error.reason, form.error.offset) == ("boundary-mismatch", 0)


def test_content_length_equal_is_fine() -> None:
    assert parse_multipart(CT, DEFAULT, content_length=len(DEFAULT)).error is None


def test_parse_error_before_the_end_wins_over_a_short_content_length() -> None:
    body = replace_header("q-ak", b"Content-Type: text/plain")
    form = parse_multipart(CT, body, content_length=len(body) + 100)
    assert form.error is not None and form.error.reason == "missing-content-disposition"


# --- bodies from real clients ----------------------------------------------------------------------

def test_python_requests_body() -> None:
    data = {"key": "a/${filename}", "policy": "eyJ9", "q-ak": "AKID", "success_action_status": "201"}
    payload = b"\x89PNG\r\n\x1a\n\x00--\r\n--"
    prepared = requests.Request("POST", "http://x/", data=data,
                                files={"file": ("名.png", payload, "image/png")}).prepare()
    body = prepared.body
    assert isinstance(body, bytes)
    form = parse_multipart(prepared.headers["Content-Type"], body,
                           content_length=int(prepared.headers["Content-Length"]))
    assert form.error is None and form.complete
    assert [p.name for p in form.parts] == [*data, "file"]
    assert [form.value(body, p) for p in form.parts[:-1]] == [v.encode() for v in data.values()]
    file = form.parts[-1]
    assert form.value(body, file) == payload
    assert file.filename == "名.png" and file.content_type == "image/png"


def test_manual_crlf_body_like_the_cos_documentation() -> None:
    lines = [
        "--9431149156168",
        'Content-Disposition: form-data; name="key"',
        "",
        "exampleobject",
        "--9431149156168",
        'Content-Disposition: form-data; name="q-sign-algorithm"',
        "",
        "sha1",
        "--9431149156168",
        'Content-Disposition: form-data; name="file"; filename="exampleobject"',
        "Content-Type: text/plain",
        "",
        "hello",
        "--9431149156168--",
        "",
    ]
    body = "\r\n".join(lines).encode()
    form = parse_multipart("multipart/form-data; boundary=9431149156168", body,
                           content_length=len(body))
    assert form.error is None and form.complete
    assert [(p.name, form.value(body, p)) for p in form.parts] == [
        ("key", b"exampleobject"), ("q-sign-algorithm", b"sha1"), ("file", b"hello")]


# --- properties --------------------------------------------------------------------------------

PB = "xYz"                      # a short boundary so generated values meet it often
P_DELIM = b"--" + PB.encode()
P_CRLF_DELIM = b"\r\n" + P_DELIM
P_CT = f"multipart/form-data; boundary={PB}"
# RFC 2046 restated as a regex: after CRLF--boundary, '--' closes and padding + (CR)LF ends a line.
_DELIMITER_TAIL = re.compile(rb"--|[ \t]*\r?\n")

fragments = st.sampled_from([b"\r\n", b"\r", b"\n", b"-", b"--", P_DELIM, PB.encode(), b" ", b"\t",
                             b"Q", b"\x00", b"\xff"])
values = st.lists(fragments | st.binary(max_size=4), max_size=12).map(b"".join)
names = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=12)


def is_data(value: bytes) -> bool:
    """True when the first CRLF--boundary followed by a delimiter tail is the one after the value."""
    framed = b"\r\n" + value + P_CRLF_DELIM + b"\r\n"
    at = framed.find(P_CRLF_DELIM)
    while not _DELIMITER_TAIL.match(framed, at + len(P_CRLF_DELIM)):
        at = framed.find(P_CRLF_DELIM, at + 1)
    return at == len(value) + 2


def quoted(name: str) -> bytes:
    return ('"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"').encode()


@settings(max_examples=300, suppress_health_check=[HealthCheck.filter_too_much])
@given(st.lists(st.tuples(names, values), max_size=8))
def test_property_values_and_names_round_trip(fields: list[tuple[str, bytes]]) -> None:
    assume(all(is_data(v) for _, v in fields))
    parts = [b"Content-Disposition: form-data; name=" + quoted(n) + b"\r\n\r\n" + v for n, v in fields]
    body = build(parts, boundary=P_DELIM)
    form = parse_multipart(P_CT, body, content_length=len(body))
    assert form.error is None and form.complete
    assert [(p.name, form.value(body, p)) for p in form.parts] == fields


def check_invariants(form: MultipartForm, body: bytes, complete: bool) -> None:
    assert isinstance(form, MultipartForm)
    if form.error is not None:
        assert form.error.reason in REASONS and 0 <= form.error.offset <= len(body)
        assert form.error.detail in DETAILS
    elif complete and form.boundary is not None:
        assert form.complete
    previous_end = -1
    for i, part in enumerate(form.parts):
        assert part.index == i
        assert previous_end < part.start <= part.data_start <= part.data_end <= len(body)
        previous_end = part.data_end


SAMPLE = build([field_part("key", b"k"), field_part("policy", b"eyJ"),
                FILE_HEADERS + b"\r\n\r\nab\r\n--" + PB.encode() + b"Q\x00"], boundary=P_DELIM)


@settings(max_examples=400)
@given(st.lists(st.tuples(st.integers(0, len(SAMPLE)), st.sampled_from(["flip", "insert", "delete"]),
                          st.sampled_from([0x0D, 0x0A, 0x2D, 0x22, 0x3B, 0x3A, 0x20, 0x00, 0x78])),
                min_size=1, max_size=6),
       st.booleans())
def test_property_mutations_never_raise(mutations: list[tuple[int, str, int]], complete: bool) -> None:
    body = bytearray(SAMPLE)
    for pos, op, byte in mutations:
        pos = min(pos, len(body))
        if op == "insert":
            body[pos:pos] = bytes([byte])
        elif pos < len(body):
            if op == "flip":
                body[pos] = byte
            else:
                del body[pos]
    data = bytes(body)
    check_invariants(parse_multipart(P_CT, data, body_complete=complete), data, complete)
    check_invariants(parse_multipart(P_CT, data, content_length=len(SAMPLE), body_complete=complete),
                     data, complete)


@given(st.text(max_size=60), st.binary(max_size=60))
def test_property_any_content_type_and_body(content_type: str, body: bytes) -> None:
    form = parse_multipart(content_type, body)
    check_invariants(form, body, True)
    boundary, problem = parse_boundary(content_type)
    assert (boundary is None) != (problem is None)


# --- fast paths: the same result as the general parser ---------------------------------------------

def general_only(content_type: str | None, body: bytes, **kwargs: object) -> MultipartForm:
    """parse_multipart with the fast paths switched off: only the general parser runs."""
    return parse_multipart(content_type, body, fast_paths=False, **kwargs)  # type: ignore[arg-type]


def python_calls(run: Callable[[], object]) -> int:
    """How many Python-level function calls `run` makes (C calls such as bytes.find not counted)."""
    calls = 0

    def count(frame, event, arg):  # noqa: ARG001
        nonlocal calls
        if event == "call":
            calls += 1

    enabled = gc.isenabled()
    gc.disable()
    sys.setprofile(count)
    try:
        run()
    finally:
        sys.setprofile(None)
        if enabled:
            gc.enable()
    return calls


@pytest.mark.parametrize("fast_paths", [True, False])
def test_usual_fields_cost_one_call_each_on_the_fast_path(fast_paths: bool) -> None:
    """The fast lane builds a usual field's Part (one __init__) and nothing else; the general
    parser spends about ten calls on each. Counted, not timed, so the figure is not noisy (the
    margin is for callbacks a garbage collection may run meanwhile)."""
    def form(fields: int) -> bytes:
        return build([field_part(f"x-cos-meta-{i}", b"v") for i in range(fields)] + default_parts(b"jpeg"))

    small, large = form(10), form(110)
    extra = python_calls(lambda: parse_multipart(CT, large, fast_paths=fast_paths)) - \
        python_calls(lambda: parse_multipart(CT, small, fast_paths=fast_paths))
    if fast_paths:
        assert extra <= 150                      # 100 more fields: about one call each
    else:
        assert extra >= 500                      # the measure tells the two apart


V512 = b"v" * 512
FAST_PATH_CASES = {
    # part bytes (headers, CRLFCRLF, value) of one part between two usual fields
    "usual field": field_part("a", b"value"),
    "empty name": field_part("", b"v"),
    "empty value": field_part("a", b""),
    "value starting with --": field_part("a", b"--x"),
    "value that is the boundary": field_part("a", DELIM),
    "value with CRLF": field_part("a", b"line1\r\nline2"),
    "value with a bare CR": field_part("a", b"a\rb"),
    "value with LF": field_part("a", b"a\nb"),
    "value of 512 bytes": field_part("a", V512),
    "value of 513 bytes": field_part("a", V512 + b"v"),
    "value with a delimiter look-alike": field_part("a", CRLF_DELIM + b"X"),
    "non-ASCII name": field_part("名字", b"v"),
    "name not UTF-8": b'Content-Disposition: form-data; name="\xff\xfe"\r\n\r\nv',
    "name with backslash": b'Content-Disposition: form-data; name="a\\\\b"\r\n\r\nv',
    "name with escaped quote": b'Content-Disposition: form-data; name="a\\"b"\r\n\r\nv',
    "name with semicolon": field_part("a;b=c", b"v"),
    "unquoted name": b"Content-Disposition: form-data; name=a\r\n\r\nv",
    "Name= upper case": b'Content-Disposition: form-data; Name="a"\r\n\r\nv',
    "lower-case header": b'content-disposition: form-data; name="a"\r\n\r\nv',
    "no space after colon": b'Content-Disposition:form-data; name="a"\r\n\r\nv',
    "trailing space": b'Content-Disposition: form-data; name="a" \r\n\r\nv',
    "extra header": b'Content-Disposition: form-data; name="a"\r\nX-Extra: 1\r\n\r\nv',
    "file part": FILE_HEADERS + b"\r\n\r\n" + FILE_DATA,
    "file with empty filename": b'Content-Disposition: form-data; name="file"; filename=""\r\n\r\nv',
    "filename not UTF-8": b'Content-Disposition: form-data; name="file"; filename="\xff.jpg"\r\n\r\nv',
    "filename with a Windows path": b'Content-Disposition: form-data; name="file"; filename="C:\\x\\y.jpg"'
                                    b"\r\n\r\nv",
    "filename*": b"Content-Disposition: form-data; name=\"file\"; filename*=UTF-8''%E6%96%87.txt\r\n\r\nv",
    "content type with padding": b'Content-Disposition: form-data; name="file"; filename="a"\r\n'
                                 b"Content-Type:  text/plain \t\r\n\r\nv",
    "empty content type": b'Content-Disposition: form-data; name="file"; filename="a"\r\nContent-Type: \r\n\r\nv',
    "content type not UTF-8": b'Content-Disposition: form-data; name="file"; filename="a"\r\n'
                              b"Content-Type: a\xffb\r\n\r\nv",
    "content type first": b'Content-Type: text/plain\r\nContent-Disposition: form-data; name="a"\r\n\r\nv',
    "name over the header limit": field_part("n" * MAX_HEADER_BLOCK, b"v"),
    "missing name": b"Content-Disposition: form-data\r\n\r\nv",
    "bare LF in headers": b'Content-Disposition: form-data; name="a"\nX: 1\r\n\r\nv',
}


@pytest.mark.parametrize("name", sorted(FAST_PATH_CASES))
@pytest.mark.parametrize("trust_tail", [False, True])
def test_fast_paths_agree_with_the_general_parser(name: str, trust_tail: bool) -> None:
    body = build([field_part("before", b"1"), FAST_PATH_CASES[name], field_part("after", b"2")])
    for cut in (len(body), len(body) - 3, len(body) // 2):
        for complete in (True, False):
            got = parse_multipart(CT, body[:cut], body_complete=complete, trust_tail=trust_tail)
            assert got == general_only(CT, body[:cut], body_complete=complete, trust_tail=trust_tail)


@pytest.mark.parametrize("content_type", [
    CT, f"multipart/form-data; boundary={B}x", 'multipart/form-data; boundary="a b"',
    "multipart/form-data; boundary=" + "b" * 70, "multipart/form-data; boundary=" + "b" * 71,
    "multipart/form-data; boundary=a;b", "multipart/form-data; boundary=a=b", "multipart/form-data;boundary=a",
    "Multipart/Form-Data; boundary=a", "multipart/form-data; boundary=", "text/plain; boundary=a",
])
def test_usual_content_type_agrees_with_the_general_parser(content_type: str) -> None:
    assert parse_boundary(content_type) == parse_boundary(content_type, fast_paths=False)


shapes = st.sampled_from([
    b'Content-Disposition: form-data; name="%s"',
    b'Content-Disposition: form-data; name="%s"; filename="f.jpg"\r\nContent-Type: image/jpeg',
    b'Content-Disposition: form-data; name="%s"; filename="%s"',
    b'content-disposition: form-data; name="%s"',
])
usual_names = st.sampled_from(["key", "file", "File", "policy", "", "x-cos-meta-é", 'q"', "a\\b"])


@settings(max_examples=300)
@given(st.lists(st.tuples(shapes, usual_names, values), max_size=8), st.sampled_from([b"", b"\r\n", b"x"]),
       st.integers(0, 1 << 16), st.booleans(), st.booleans())
def test_property_fast_paths_agree_with_the_general_parser(
        parts: list[tuple[bytes, str, bytes]], epilogue: bytes, cut: int, complete: bool,
        trust_tail: bool) -> None:
    blocks = [shape.replace(b"%s", name.encode()) + b"\r\n\r\n" + value for shape, name, value in parts]
    body = build(blocks, boundary=P_DELIM, epilogue=epilogue)
    body = body[:cut] if cut < len(body) else body
    got = parse_multipart(P_CT, body, body_complete=complete, trust_tail=trust_tail)
    assert got == general_only(P_CT, body, body_complete=complete, trust_tail=trust_tail)


def test_parts_are_plain_records() -> None:
    form = parse_multipart(CT, DEFAULT)
    part = form.parts[0]
    assert type(part) is Part and type(form) is MultipartForm
    assert part == Part(part.index, part.name, part.filename, part.headers, part.content_type, part.start,
                        part.data_start, part.data_end)
    assert part == dataclasses.replace(part)


# --- trust_tail: the file part runs to the closing delimiter, unscanned --------------------------

def file_last(fields: list[tuple[str, bytes]], data: bytes, *, file_name: str = "file",
              epilogue: bytes = b"\r\n", boundary: bytes = DELIM) -> bytes:
    headers = FILE_HEADERS.replace(b'name="file"', f'name="{file_name}"'.encode())
    return build([field_part(n, v) for n, v in fields] + [headers + b"\r\n\r\n" + data],
                 boundary=boundary, epilogue=epilogue)


@pytest.mark.parametrize("epilogue", [b"", b"\r\n", b" \t\r\n", b"  "])
@pytest.mark.parametrize("file_name", ["file", "File", "FILE"])
def test_trust_tail_gives_the_same_form_on_a_valid_body(epilogue: bytes, file_name: str) -> None:
    body = file_last(FIELDS, FILE_DATA, file_name=file_name, epilogue=epilogue)
    trusted = parse_multipart(CT, body, content_length=len(body), trust_tail=True)
    assert trusted == parse_multipart(CT, body, content_length=len(body))
    assert trusted.error is None and trusted.complete
    assert trusted.value(body, trusted.parts[-1]) == FILE_DATA


def test_trust_tail_with_an_empty_file() -> None:
    body = file_last(FIELDS, b"")
    trusted = parse_multipart(CT, body, trust_tail=True)
    assert trusted == parse_multipart(CT, body)
    assert trusted.parts[-1].size == 0


def test_trust_tail_does_not_scan_the_file() -> None:
    # A full delimiter inside the file data: a normal parse ends the file there and then fails
    # on the bytes after it; trust_tail never looks, so the file runs to the closing delimiter.
    data = b"jpeg" + CRLF_DELIM + b"\r\nnot a header block\r\n\r\nmore jpeg"
    body = file_last(FIELDS, data)
    normal = parse_multipart(CT, body)
    assert normal.error is not None and normal.error.reason == "missing-content-disposition"
    assert normal.value(body, normal.parts[len(FIELDS)]) == b"jpeg"
    trusted = parse_multipart(CT, body, trust_tail=True)
    assert trusted.error is None and trusted.complete
    assert trusted.parts[:-1] == normal.parts[:-1]
    assert trusted.value(body, trusted.parts[-1]) == data


def test_trust_tail_does_not_see_parts_after_the_file() -> None:
    body = build(default_parts() + [field_part("after", b"x")])
    normal = parse_multipart(CT, body)
    assert [p.name for p in normal.parts][-2:] == ["file", "after"]
    trusted = parse_multipart(CT, body, trust_tail=True)
    assert trusted.error is None and trusted.complete
    assert [p.name for p in trusted.parts] == [n for n, _ in FIELDS] + ["file"]
    assert trusted.value(body, trusted.parts[-1]).endswith(b'name="after"\r\n\r\nx')


TAIL_FALLBACKS = {
    "epilogue text": dict(body=file_last(FIELDS, FILE_DATA, epilogue=b"\r\nepilogue")),
    "epilogue of many CRLFs": dict(body=file_last(FIELDS, FILE_DATA, epilogue=b"\r\n\r\n")),
    "padding past the window": dict(body=file_last(FIELDS, FILE_DATA, epilogue=b" " * 600)),
    "no closing delimiter": dict(body=file_last(FIELDS, FILE_DATA)[:-len(DELIM) - 4]),
    "mangled closing delimiter": dict(body=file_last(FIELDS, FILE_DATA)[:-4] + b"-X\r\n"),
    "cut inside the file": dict(body=file_last(FIELDS, FILE_DATA)[:-60]),
    "short of Content-Length": dict(body=file_last(FIELDS, FILE_DATA), content_length=10**6),
    "streamed prefix": dict(body=file_last(FIELDS, FILE_DATA), body_complete=False),
    "other boundary at the end": dict(body=file_last(FIELDS, FILE_DATA)[:-len(DELIM) - 4] + b"--other--\r\n"),
}


@pytest.mark.parametrize("name", sorted(TAIL_FALLBACKS))
def test_trust_tail_falls_back_to_a_scan(name: str) -> None:
    case = dict(TAIL_FALLBACKS[name])
    body = case.pop("body")
    assert parse_multipart(CT, body, trust_tail=True, **case) == parse_multipart(CT, body, **case)


def test_parse_form_passes_trust_tail_through() -> None:
    body = build(default_parts() + [field_part("after", b"x")])
    assert parse_form(CT, body).after_file == ("after",)
    trusted = parse_form(CT, body, trust_tail=True)
    assert trusted.after_file == () and trusted.file is not None
    assert trusted.get("key") == "uploads/${filename}"


values_without_delimiters = values.filter(is_data)
field_names = names.filter(lambda n: n.lower() != "file")   # the first `file` part is the trusted one


@settings(max_examples=300, suppress_health_check=[HealthCheck.filter_too_much])
@given(st.lists(st.tuples(field_names, values_without_delimiters), max_size=8),
       values_without_delimiters, st.sampled_from(["file", "File"]), st.sampled_from([b"", b"\r\n"]))
def test_property_trust_tail_matches_the_scan_on_valid_forms(
        fields: list[tuple[str, bytes]], data: bytes, file_name: str, epilogue: bytes) -> None:
    parts = [b"Content-Disposition: form-data; name=" + quoted(n) + b"\r\n\r\n" + v for n, v in fields]
    disposition = f'Content-Disposition: form-data; name="{file_name}"; filename="f"'.encode()
    parts.append(disposition + b"\r\n\r\n" + data)
    body = build(parts, boundary=P_DELIM, epilogue=epilogue)
    trusted = parse_multipart(P_CT, body, content_length=len(body), trust_tail=True)
    assert trusted == parse_multipart(P_CT, body, content_length=len(body))
    assert trusted.error is None and trusted.complete
    assert trusted.value(body, trusted.parts[-1]) == data
