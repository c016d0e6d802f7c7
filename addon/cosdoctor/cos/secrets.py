"""Shorten signatures and tokens before they reach any output; scrub secrets as a last resort.

Signatures and security tokens are shortened (first and last 4 characters), enough to compare two
values by eye but useless to replay. SecretKeys must never be printed at all: ``scrub`` replaces
them in any text (log lines, exception messages) that might have picked one up by accident.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from urllib.parse import quote

__all__ = [
    "ELLIPSIS",
    "REDACTED",
    "SENSITIVE_FIELDS",
    "shorten",
    "redact_field",
    "redact_auth_string",
    "scrub",
]

ELLIPSIS = "\u2026"
REDACTED = "[redacted]"
MIN_SECRET_LEN = 8

# Form fields / headers / query parameters whose value is a credential (names lower-case).
# "signature" and "authorization" hold a whole header-style auth string: its structure is kept.
SENSITIVE_FIELDS = frozenset({
    "q-signature",
    "x-cos-security-token",
    "x-ci-security-token",
    "signature",
    "authorization",
})
_AUTH_STRING_FIELDS = frozenset({"signature", "authorization"})
# Evidence keys that hold a signature or token themselves (see redact_evidence).
_SECRET_EVIDENCE_KEYS = ("token", "q_signature", "signature")

# Inside an auth string or a query string: the pairs whose values are shortened. The separator may
# be URL-encoded ("%3D", "%26") when the string travels inside a query parameter.
_AUTH_SECRET_PAIR = re.compile(
    r"(?P<name>q-signature|x-cos-security-token|x-ci-security-token)(?P<eq>=|%3D)"
    r"(?P<value>(?:(?!%26)[^&\s,;\"'])*)",
    re.IGNORECASE,
)
_AUTH_STRUCTURE = re.compile(r"q-(?:sign-algorithm|ak|sign-time|key-time|signature)(?:=|%3D)", re.IGNORECASE)


def shorten(value: str | None, keep: int = 4) -> str | None:
    """``"7758…fdef"``: the first and last ``keep`` characters of a long value.

    A value of at most ``3 * keep`` characters keeps only its start (at most 2 characters, fewer
    for very short values) so that short values are never shown whole. None stays None.
    """
    if value is None:
        return None
    value = str(value)
    if not value:
        return ""
    keep = max(int(keep), 1)
    if len(value) > 3 * keep:
        return f"{value[:keep]}{ELLIPSIS}{value[-keep:]}"
    return value[: min(2, len(value) // 3)] + ELLIPSIS


def redact_auth_string(text: str) -> str:
    """``text`` with the q-signature (and any security token) inside it shortened.

    Works on the header-style auth string (``q-sign-algorithm=sha1&q-ak=…&q-signature=…``), on a
    URL or query string that carries one, and on its URL-encoded form. Everything else (q-ak,
    key times, header lists) is kept: it is what a user needs to see to find the mistake.
    """
    if not isinstance(text, str):
        return ""
    return _AUTH_SECRET_PAIR.sub(
        lambda m: f"{m['name']}{m['eq']}{shorten(m['value'])}", text)


def redact_field(name: str, value: str) -> str:
    """``value`` as it may be shown for a field (form field, header, query parameter) ``name``."""
    lname = name.strip().lower() if isinstance(name, str) else ""
    if not isinstance(value, str):
        value = "" if value is None else str(value)
    if lname in _AUTH_STRING_FIELDS and _AUTH_STRUCTURE.search(value):
        return redact_auth_string(value)
    if lname in SENSITIVE_FIELDS:
        return shorten(value) or ""
    return value


@functools.lru_cache(maxsize=64)
def _secret_pattern(secrets: frozenset[str]) -> re.Pattern[str] | None:
    variants: set[str] = set()
    for s in secrets:
        variants.add(s)
        variants.add(quote(s, safe=""))  # a token with '+', '/' or '=' travels URL-encoded
    # Longest first, so that a secret containing another is replaced whole.
    ordered = sorted(variants, key=lambda v: (-len(v), v))
    return re.compile("|".join(re.escape(v) for v in ordered)) if ordered else None


def _pattern_of(secrets: Iterable[str]) -> re.Pattern[str] | None:
    return _secret_pattern(frozenset(s for s in secrets if isinstance(s, str) and len(s) >= MIN_SECRET_LEN))


# The addon scrubs every flow's texts with the same tuple of SecretKeys: one cache lookup.
_tuple_pattern = functools.lru_cache(maxsize=64)(_pattern_of)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of any secret (of 8 characters or more) replaced."""
    if not isinstance(text, str):
        text = str(text)
    if secrets is None:
        return text
    if type(secrets) is tuple:
        try:
            pattern = _tuple_pattern(secrets)
        except TypeError:                   # an unhashable item (not a secret): the slow path
            pattern = _pattern_of(secrets)
    else:
        pattern = _pattern_of(secrets)
    return pattern.sub(REDACTED, text) if pattern is not None else text


def redact_evidence(evidence: dict) -> dict:
    """Shorten a signature or token wherever it appears in a finding's evidence (in place).

    Runs before the catalogue renders titles and causes from the evidence, so no text built from
    a condition on `x-cos-security-token` (say) ever holds the full value.
    """
    field_name = evidence.get("field")
    if field_name and str(field_name).lower() in SENSITIVE_FIELDS:
        values = [evidence.get("actual"), evidence.get("expected"), *(evidence.get("values") or [])]
    else:
        values = []
    for key in _SECRET_EVIDENCE_KEYS:
        if key in evidence and isinstance(evidence[key], str):
            values.append(evidence[key])
    if not values:            # the usual finding: nothing that could hold a secret
        return evidence
    secrets = sorted({v for v in values if isinstance(v, str) and len(v) > 8}, key=len, reverse=True)
    if not secrets:
        return evidence
    for name, value in list(evidence.items()):
        if isinstance(value, str):
            for secret in secrets:
                value = value.replace(secret, shorten(secret) or "")
            evidence[name] = value
        elif isinstance(value, list):
            evidence[name] = [shorten(v) if isinstance(v, str) and v in secrets else v for v in value]
    return evidence
