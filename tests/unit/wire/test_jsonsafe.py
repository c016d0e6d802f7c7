"""wire/jsonsafe.py: request-derived text reaches UTF-8 files and mitmproxy's flow writer only
without lone surrogates; everything else passes through unchanged."""
from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosdoctor.wire.jsonsafe import plain

json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20)


@pytest.mark.parametrize("value, expected", [
    ("ascii", "ascii"),
    ("文件 😀 é", "文件 😀 é"),
    ("lone \udc80 low", "lone \\udc80 low"),
    ("\ud800", "\\ud800"),
    (["a", "\udcff", 1], ["a", "\\udcff", 1]),
    ({"k\ud800": "v\udc00"}, {"k\\ud800": "v\\udc00"}),
    ({"nested": [{"x": "\udc80"}]}, {"nested": [{"x": "\\udc80"}]}),
    (None, None), (True, True), (3, 3), (2.5, 2.5),
    (("tuple", "\udc80"), ("tuple", "\udc80")),       # only JSON's own containers are walked
])
def test_plain(value, expected) -> None:
    assert plain(value) == expected


@given(json_like)
def test_clean_values_come_back_equal(value) -> None:
    assert plain(value) == value


@given(st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF) | st.characters(),
               max_size=30))
def test_every_result_encodes_as_utf8(text: str) -> None:
    out = plain({"k" + text: [text]})
    json.dumps(out, ensure_ascii=False).encode("utf-8")          # never raises
    [(key, [value])] = out.items()
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:                                   # lone surrogates: escaped, nothing dropped
        assert value == text.encode("utf-8", "backslashreplace").decode("utf-8") and key == "k" + value
    else:
        assert value == text and key == "k" + text
