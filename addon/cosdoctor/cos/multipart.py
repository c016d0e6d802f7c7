"""COS's rules for multipart uploads (cos-xml-api.md §3.2, §3.4), as plain functions.

Part numbers run 1-10000; every part but the last must be at least 1 MB; Complete lists the parts
in ascending order with the ETag each Upload Part answer gave (quotes included, the JS SDK adds
them when missing). A browser that could not read ``ETag`` sends the string ``undefined``.
"""
from __future__ import annotations

__all__ = ["MIN_PART_SIZE", "normalise_etag", "unreadable_etag", "complete_order_problem"]

MIN_PART_SIZE = 1024 * 1024        # 1 MB, the documented floor of every part but the last
# What JavaScript writes for a header it could not read, once quoted by the SDK: the tell of a
# hidden ETag (cos-js-sdk-v5 builds Complete from the part answers' ETag headers).
_UNREADABLE = frozenset({"", "undefined", "null", "[object undefined]"})


def normalise_etag(etag: str | None) -> str | None:
    """An ETag compared as COS compares them: without surrounding quotes or spaces, lower case."""
    if etag is None:
        return None
    return etag.strip().strip('"').strip().lower()


def unreadable_etag(etag: str | None) -> bool:
    """True for an ETag a page could not have read from a part answer (None, "", "undefined")."""
    return normalise_etag(etag) in _UNREADABLE if etag is not None else True


def complete_order_problem(numbers: list[int]) -> tuple[int, int] | None:
    """The first pair (previous, next) where a Complete list is not in strictly ascending order."""
    for previous, following in zip(numbers, numbers[1:]):
        if following <= previous:
            return previous, following
    return None
