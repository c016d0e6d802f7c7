from __future__ import annotations

import pytest

from cosdoctor.wire.stream import StreamTee


@pytest.mark.parametrize("chunks", [[b"abc", b"def"], [b"x" * 100_000, b"y" * 5], [b""], [b"a" * 65536, b"b"]])
def test_tee_returns_chunks_unchanged_and_keeps_a_bounded_head(chunks):
    tee = StreamTee(limit=65536)
    out = [tee(c) for c in chunks] + [tee(b"")]
    assert out[:-1] == chunks and out[-1] == b""
    joined = b"".join(chunks)
    assert tee.size == len(joined)
    assert tee.body() == joined[:65536]
    assert tee.finished


def test_tee_chains_another_addons_stream_callable():
    tee = StreamTee(limit=4, inner=lambda chunk: chunk.upper())
    assert tee(b"hello") == b"HELLO"
    assert tee.body() == b"hell" and tee.size == 5
