"""wire/form.py: COS's form rules on top of the multipart parse (names case-insensitive, the first
occurrence wins, `file` ends the form, `${filename}` substituted into `key`)."""
from __future__ import annotations

import pytest

from cosdoctor.wire.form import FILE_FIELD, MAX_FIELD_DECODE, UploadForm, parse_form, substitute_filename
from cosdoctor.wire.multipart import parse_multipart
from devkit.formbuilder import FormSpec

B = "b0undary"


def form_of(fields: list[tuple[str, str]], **file) -> UploadForm:
    body, content_type = FormSpec(list(fields), **file).encode(B)
    return parse_form(content_type, body)


def raw_form(*parts: bytes) -> UploadForm:
    """Parts as header block + value; the delimiters are added here."""
    delim = f"--{B}".encode()
    body = b"".join(delim + b"\r\n" + p + b"\r\n" for p in parts) + delim + b"--\r\n"
    return parse_form(f"multipart/form-data; boundary={B}", body)


def field(name: str, value: bytes = b"v", filename: str | None = None) -> bytes:
    disposition = f'Content-Disposition: form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    return disposition.encode() + b"\r\n\r\n" + value


@pytest.mark.parametrize("name, expected", [
    ("policy", "P"), ("POLICY", "P"), ("Policy", "P"),
    ("content-type", "image/png"), ("Content-Type", "image/png"),
    ("x-cos-meta-a", None), ("X-Cos-Meta-A", None),
])
def test_lookups_ignore_case(name: str, expected: str | None) -> None:
    form = form_of([("Policy", "P"), ("Content-TYPE", "image/png"), ("key", "k")])
    assert form.get(name) == expected
    assert form.has(name) is (expected is not None)


def test_fields_keep_wire_order_and_leave_the_file_out() -> None:
    body, content_type = FormSpec([("key", "k"), ("policy", "p"), ("acl", "private")], file_name="a.txt",
                                  file_data=b"DATA").encode(B)
    form = parse_form(content_type, body)
    assert form.multipart == parse_multipart(content_type, body)
    assert form.names == ("key", "policy", "acl", FILE_FIELD)
    assert [(f.name, f.value) for f in form.fields] == [("key", "k"), ("policy", "p"), ("acl", "private")]
    assert form.file is not None and form.file_parts == (form.file,)
    assert body[form.file.data_start:form.file.data_end] == b"DATA"
    assert form.filename == "a.txt" and form.after_file == () and form.duplicates == ()


def test_the_first_occurrence_wins_and_repeats_are_counted() -> None:
    form = raw_form(field("Key", b"first"), field("key", b"second"), field("file", b"1", "a"),
                    field("File", b"2", "b"), field("acl", b"x"))
    assert form.get("key") == "first"
    assert form.duplicates == (("key", 2),)              # file parts are not "duplicate fields"
    assert [p.filename for p in form.file_parts] == ["a", "b"]
    assert form.after_file == ("File", "acl")            # everything after the first file part
    assert form.file is form.file_parts[0]


@pytest.mark.parametrize("key, filename, expected", [
    ("uploads/${filename}", "photo.jpg", "uploads/photo.jpg"),
    ("${filename}/${filename}", "a", "a/a"),
    ("uploads/${filename}", "", "uploads/"),
    ("uploads/plain", "photo.jpg", "uploads/plain"),
    ("uploads/${FILENAME}", "photo.jpg", "uploads/${FILENAME}"),       # the variable is case-sensitive
])
def test_key_substitutes_the_file_name(key: str, filename: str, expected: str) -> None:
    form = form_of([("key", key)], file_name=filename)
    assert form.key == expected
    assert form.condition_values()["key"] == expected
    assert substitute_filename(key, filename) == expected


def test_key_without_a_file_part_or_without_a_key() -> None:
    assert raw_form(field("key", b"uploads/${filename}")).key == "uploads/${filename}"
    assert substitute_filename("uploads/${filename}", None) == "uploads/${filename}"
    form = form_of([("policy", "p")])
    assert form.key is None and "key" not in form.condition_values()


def test_condition_values_are_lower_cased_first_occurrences() -> None:
    form = raw_form(field("Content-Type", b"text/plain"), field("content-type", b"image/png"),
                    field("X-Cos-Meta-A", b"1"), field("file", b"f", "a.txt"))
    assert form.condition_values() == {"content-type": "text/plain", "x-cos-meta-a": "1"}


@pytest.mark.parametrize("fields, mode", [
    ([("policy", "p"), ("q-signature", "s")], "policy"),
    ([("q-signature", "s")], "policy"),
    ([("policy", "p")], "policy"),
    ([("policy", "p"), ("Signature", "q-sign-algorithm=sha1")], "signature-field"),
    ([("Signature", "q-sign-algorithm=sha1")], "signature-field"),
    ([("policy", "p"), ("Signature", "x"), ("q-signature", "s")], "policy"),
    ([("key", "k")], "anonymous"),
    ([], "anonymous"),
])
def test_mode(fields: list[tuple[str, str]], mode: str) -> None:
    assert form_of(fields).mode == mode


def test_values_are_decoded_as_utf8_with_replacement() -> None:
    form = raw_form(field("x-cos-meta-a", "文件".encode() + b"\xff"), field("file", b"\xff", "a"))
    assert form.get("x-cos-meta-a") == "文件\ufffd"


def test_a_huge_field_is_decoded_only_up_to_the_limit() -> None:
    form = raw_form(field("x-cos-meta-big", b"a" * (MAX_FIELD_DECODE + 10)), field("file", b"f", "a"))
    found = form.by_name["x-cos-meta-big"]
    assert len(found.value) == MAX_FIELD_DECODE
    assert found.part.size == MAX_FIELD_DECODE + 10               # the part itself is whole


@pytest.mark.parametrize("content_type, body", [
    (None, b""), ("text/plain", b"x"), ("multipart/form-data; boundary=zz", b"--zz\r\nbroken"),
    (f"multipart/form-data; boundary={B}", b"\x00\xff" * 50),
])
def test_a_broken_body_gives_an_empty_or_partial_form_never_an_exception(content_type, body) -> None:
    form = parse_form(content_type, body)
    assert form.multipart.error is not None
    assert form.get("key") is None and form.key is None and form.mode == "anonymous"


def test_trust_tail_is_passed_to_the_parser() -> None:
    body, content_type = FormSpec([("key", "k")]).encode(B)
    body = body.replace(b"--\r\n", b"\r\n" + field("after", b"x") + f"\r\n--{B}--\r\n".encode())
    assert parse_form(content_type, body).after_file == ("after",)
    trusted = parse_form(content_type, body, trust_tail=True)
    assert trusted.multipart == parse_multipart(content_type, body, trust_tail=True)
    assert trusted.after_file == ()              # the trusted file part runs to the closing delimiter
