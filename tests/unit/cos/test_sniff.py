"""The one COS-form sniffer: the signature fields before the file part, any case, in place."""
from __future__ import annotations

import pytest

from cosdoctor.cos.sniff import SNIFF_BYTES, is_multipart_form, looks_like_cos_form


def part(name: str, value: str = "v", filename: str | None = None) -> bytes:
    extra = f'; filename="{filename}"' if filename else ""
    return f'--b\r\nContent-Disposition: form-data; name="{name}"{extra}\r\n\r\n{value}\r\n'.encode()


@pytest.mark.parametrize("body, expected", [
    (part("key") + part("q-signature") + part("file", "x", "a.txt") + b"--b--\r\n", True),
    (part("Signature") + part("file", "x", "a.txt"), True),
    (part("signature"), True),
    (part("Q-SIGNATURE"), True),
    (part("SiGnAtUrE"), True),
    (part("title") + part("note"), False),
    (part("signatures"), False),                                  # another field
    (part("x-q-signature"), False),
    (part("file", "x", "a.txt") + part("q-signature"), False),    # after the file: COS wants it before
    (part("title", "a" * SNIFF_BYTES) + part("q-signature"), False),   # beyond the sniffed bytes
    (b"", False),
    (None, False),
])
def test_looks_like_cos_form(body, expected):
    assert looks_like_cos_form(body) is expected


def test_a_field_name_cut_at_the_end_of_the_body_is_not_a_match():
    assert looks_like_cos_form(b'--b\r\nContent-Disposition: form-data; name="q-sig') is False


@pytest.mark.parametrize("content_type, expected", [
    ("multipart/form-data; boundary=x", True), ("Multipart/Form-Data;boundary=x", True),
    ("application/json", False), ("", False), (None, False),
])
def test_is_multipart_form(content_type, expected):
    assert is_multipart_form(content_type) is expected
