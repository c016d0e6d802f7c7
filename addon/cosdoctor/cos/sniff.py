"""Is this body a COS POST Object form? One cheap test, for the addon and its content view alike.

A POST Object form names `q-signature` (policy mode) or `Signature` (the signature-field mode),
and COS wants these fields before `file`: only the bytes before the first `filename=` are looked
at (at most SNIFF_BYTES), in place, without copying the body. Field names are matched without
regard to case, as COS reads them.
"""
from __future__ import annotations

SNIFF_BYTES = 64 * 1024
MULTIPART = "multipart/form-data"
_NAME = b'name="'
_Q_SIGNATURE = b'q-signature"'          # field names as read lower-cased, closing quote included
_SIGNATURE = b'signature"'
_NAME_LEN, _Q_LEN, _S_LEN = len(_NAME), len(_Q_SIGNATURE), len(_SIGNATURE)


def is_multipart_form(content_type: str | None) -> bool:
    """The Content-Type announces multipart/form-data (parameters and case aside)."""
    return bool(content_type) and MULTIPART in content_type.lower()


def looks_like_cos_form(body: bytes | None) -> bool:
    """The body's fields before the file part include q-signature or Signature."""
    if not body:
        return False
    end = body.find(b"filename=", 0, SNIFF_BYTES)
    if end < 0:
        end = min(len(body), SNIFF_BYTES)
    at = body.find(_NAME, 0, end)
    while at >= 0:                      # once per field before the file: a handful of times
        start = at + _NAME_LEN
        name = body[start:start + _Q_LEN].lower()
        if name == _Q_SIGNATURE or name[:_S_LEN] == _SIGNATURE:
            return True
        at = body.find(_NAME, start, end)
    return False
