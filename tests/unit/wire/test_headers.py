"""The one header reader: raw (name, value) pairs read exactly as mitmproxy's Headers reads them."""
from __future__ import annotations

import pytest
from mitmproxy import http

from cosdoctor.wire.headers import header_dict, header_value

CASES = [
    [(b"Host", b"bucket-1250000000.cos.ap-beijing.myqcloud.com")],
    [(b"HOST", b"a.example"), (b"host", b"b.example")],          # repeated: folded with ", "
    [(b"Content-Type", b"multipart/form-data; boundary=a"), (b"content-type", b"text/plain")],
    [(b"Host", "é.example".encode())],
    [(b"Host", b"\xff\xfe.example")],                             # not UTF-8: surrogate-escaped alike
    [("Ho\u212at".encode(), b"kelvin")],                          # names fold in ASCII only, as in mitmproxy
    [(b"X-Other", b"1"), (b"x-other", b""), (b"X-OTHER", b"3")],
    [],
]


@pytest.mark.parametrize("fields", CASES)
def test_value_is_what_headers_get_returns(fields):
    headers = http.Headers(fields)
    for name in {k.lower() for k, _ in fields} | {b"missing", b"host", b"hokt"}:
        assert header_value(fields, name) == headers.get(name.decode("utf-8", "surrogateescape")), name


@pytest.mark.parametrize("fields", CASES)
def test_dict_is_what_mitmproxy_folds(fields):
    headers = http.Headers(fields)
    expected = {k.lower().decode("utf-8", "surrogateescape"): headers.get(k.decode("utf-8", "surrogateescape"))
                for k, _ in fields}
    assert header_dict(fields) == expected


def test_repeated_content_type_gives_one_folded_value_everywhere():
    fields = CASES[2]
    assert header_value(fields, b"content-type") == "multipart/form-data; boundary=a, text/plain"
    assert header_dict(fields)["content-type"] == "multipart/form-data; boundary=a, text/plain"


def test_first_seen_order_and_lower_case_names():
    assert list(header_dict([(b"B", b"1"), (b"a", b"2"), (b"b", b"3")])) == ["b", "a"]
