"""JSON-safe values: request-derived strings may carry lone surrogates (policy escapes,
surrogate-escaped header bytes) that neither UTF-8 files nor mitmproxy's flow writer accept."""
from __future__ import annotations

def plain(value):
    """JSON-like data without lone surrogates (from policy escapes, or surrogate-escaped header
    bytes), which neither UTF-8 files nor mitmproxy's flow writer accept. Cheap when clean."""
    if isinstance(value, str):
        if value.isascii():
            return value
        try:
            value.encode("utf-8")
            return value
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    return value
