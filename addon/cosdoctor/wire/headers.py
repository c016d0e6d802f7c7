"""HTTP header fields as raw `(name, value)` byte pairs, read with one rule.

The rule is mitmproxy's own (`Headers.get`): names compare case-insensitively in ASCII (the bytes
lower-cased), names and values are UTF-8 with undecodable bytes surrogate-escaped, and a field sent
more than once is folded into one value joined with ", " in wire order. Reading the raw pairs directly costs
a fraction of going through `Headers`, and every flow the proxy sees pays for the first look-ups.
"""
from __future__ import annotations

from collections.abc import Iterable

Fields = Iterable[tuple[bytes, bytes]]


def header_value(fields: Fields, name: bytes) -> str | None:
    """The value of the field `name` (lower-case ASCII), repeated fields folded with ", "; None when absent."""
    found = None
    for key, value in fields:
        if key.lower() == name:
            text = value.decode("utf-8", "surrogateescape")
            found = text if found is None else f"{found}, {text}"
    return found


def header_dict(fields: Fields) -> dict[str, str]:
    """Every field: lower-cased name -> value, repeated fields folded with ", " (first-seen order)."""
    result: dict[str, str] = {}
    for name, value in fields:
        key = name.lower().decode("utf-8", "surrogateescape")
        text = value.decode("utf-8", "surrogateescape")
        result[key] = f"{result[key]}, {text}" if key in result else text
    return result
