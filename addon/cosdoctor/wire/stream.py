"""A tee for streamed uploads: keep the start of the body, count the rest, copy nothing else.

With `stream_large_bodies` mitmproxy forwards the body chunk by chunk and keeps none of it. COS
requires the signature fields before `file`, so the first bytes hold everything the checks need;
the file itself is only counted.
"""
from __future__ import annotations

from collections.abc import Callable

HEAD_LIMIT = 64 * 1024

Chunk = bytes
Transform = Callable[[bytes], "bytes | Iterable[bytes]"]


class StreamTee:
    """Callable for `message.stream`: returns each chunk unchanged (or as `inner` transforms it)."""

    __slots__ = ("head", "size", "finished", "limit", "inner")

    def __init__(self, limit: int = HEAD_LIMIT, inner: Transform | None = None) -> None:
        self.head = bytearray()
        self.size = 0
        self.finished = False
        self.limit = limit
        self.inner = inner

    def __call__(self, chunk: bytes):
        if chunk:
            self.size += len(chunk)
            room = self.limit - len(self.head)
            if room > 0:
                self.head += chunk[:room]
        else:
            self.finished = True     # mitmproxy ends the stream with one empty chunk
        return self.inner(chunk) if self.inner is not None else chunk

    def body(self) -> bytes:
        return bytes(self.head)
