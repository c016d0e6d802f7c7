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
_SIGNATURE_NAMES = (b'q-signature"', b'signature"')       # lower-case, closing quote included
_LONGEST = max(len(n) for n in _SIGNATURE_NAMES)


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
    while at >= 0:
        start = at + len(_NAME)
        name = bytes(body[start:start + _LONGEST]).lower()
        if any(name.startswith(wanted) for wanted in _SIGNATURE_NAMES):
            return True
        at = body.find(_NAME, start, end)
    return False
