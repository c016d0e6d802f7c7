"""The one secret policy: which names hold a credential, and how its value is shown.

Signatures and security tokens are shortened (first and last 4 characters), enough to compare two
values by eye but useless to replay. SecretKeys must never be printed at all: ``scrub`` replaces
them in any text (log lines, exception messages) that might have picked one up by accident, and
records drop every entry whose name says it holds one (``is_secret_name``). The findings, the
content view and the HTML report all ask this module; none keeps a rule of its own.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from urllib.parse import quote

from cosdoctor.cos.signature import parse_auth_string
from cosdoctor.wire.jsonsafe import plain

__all__ = [
    "ELLIPSIS",
    "REDACTED",
    "MIN_SECRET_LEN",
    "SENSITIVE_FIELDS",
    "is_sensitive",
    "is_secret_name",
    "shorten",
    "redact_field",
    "redact_auth_string",
    "shorten_url",
    "redact_evidence",
    "auth_secret_values",
    "sent_secrets",
    "shorten_sent",
    "hide_values",
    "without_secret_names",
    "scrub",
]

ELLIPSIS = "\u2026"
REDACTED = "[redacted]"
MIN_SECRET_LEN = 8         # shorter values are never searched for: they would match ordinary text
MIN_PREFIX = 12            # hide_values: a run of this many characters of a hidden value goes too

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
# Record keys (evidence, error fields, JSON) whose value would be a SecretKey or a password.
_NAME_NOISE = re.compile(r"[^a-z0-9]")


def is_sensitive(name: object) -> bool:
    """True for a form field, header, query parameter or policy condition name (``$x-cos-security-token``)
    whose value is a signature or token: such values are shown shortened, never whole."""
    return isinstance(name, str) and _sensitive_name(name)


@functools.lru_cache(maxsize=1024)          # every upload asks about the same few field names
def _sensitive_name(name: str) -> bool:
    return name.strip().lstrip("$").lower() in SENSITIVE_FIELDS


@functools.lru_cache(maxsize=4096)           # evidence keys repeat on every record
def is_secret_name(name: object) -> bool:
    """True for record keys that would hold a secret key (secret_key, SecretKey, tmpSecretKey, password…):
    such entries are left out of an output altogether."""
    flat = _NAME_NOISE.sub("", str(name).lower())
    return ("secretkey" in flat or "privatekey" in flat or "password" in flat or "passwd" in flat
            or flat in ("secret", "sk"))


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


def shorten_url(url: str | None) -> str | None:
    """``url`` with a presigned URL's q-signature and x-cos-security-token shortened (also inside
    a URL-encoded ``sign=`` parameter); everything else kept. For the record's ``url`` and every
    surface that quotes a URL or a query. None stays None."""
    if url is None:
        return None
    if not isinstance(url, str):
        url = str(url)
    lowered = url.lower()
    if "signature" not in lowered and "token" not in lowered:
        return url                      # the usual URL: nothing to shorten, no regex run
    return redact_auth_string(url)


def redact_field(name: str, value: str) -> str:
    """``value`` as it may be shown for a field (form field, header, query parameter) ``name``."""
    if not isinstance(value, str):
        value = "" if value is None else str(value)
    if not is_sensitive(name):
        return value
    if name.strip().lower() in _AUTH_STRING_FIELDS and _AUTH_STRUCTURE.search(value):
        return redact_auth_string(value)
    return shorten(value) or ""


def auth_secret_values(text: str) -> list[str]:
    """The signature and token values inside an auth string or query (what ``redact_auth_string``
    shortens), in order; empty values left out."""
    if not isinstance(text, str):
        return []
    return [m["value"] for m in _AUTH_SECRET_PAIR.finditer(text) if m["value"]]


def sent_secrets(fields: Iterable[tuple[str, str]]) -> list[str]:
    """The signatures and tokens a request sent in these (name, value) fields, longest first: wherever
    a finding or COS's answer quotes one, it must be shortened. An auth string (the ``Signature``
    field) counts whole and by its q-signature."""
    values: set[str] = set()
    for name, value in fields:
        try:                # is_sensitive inlined: this runs for every field of every upload
            if not _sensitive_name(name) or type(value) is not str:
                continue
        except (TypeError, AttributeError):        # not a str name
            continue
        if len(value) >= MIN_SECRET_LEN:
            values.add(value)
        if name.strip().lower() in _AUTH_STRING_FIELDS:
            signature = parse_auth_string(value).signature
            if signature and len(signature) >= MIN_SECRET_LEN:
                values.add(signature)
    return sorted(values, key=lambda v: (-len(v), v)) if len(values) > 1 else list(values)


# Values shorten_sent returns as they are (no call needed for them).
_UNTOUCHED = (type(None), bool, int, float)


def shorten_sent(value, secrets: list[str]):
    """``value`` with every sent secret (``sent_secrets``) shortened in its strings (dict keys
    excepted) and made JSON-safe (``plain``): a fresh copy of every list and dict, so the caller may
    change it freely. One walk for both, because every COS flow's findings go through it."""
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, shorten(secret) or "")
        return value if value.isascii() else plain(value)
    if isinstance(value, list):
        return [v if type(v) in _UNTOUCHED else shorten_sent(v, secrets) for v in value]
    if isinstance(value, dict):
        return {(k if type(k) is str and k.isascii() else plain(k)):      # plain(k), without the call
                v if type(v) in _UNTOUCHED else shorten_sent(v, secrets) for k, v in value.items()}
    return value


def hide_values(text: str, values: Iterable[str], secret_keys: Iterable[str] = ()) -> str:
    """``text`` with each of ``values`` shortened wherever it appears (raw, JSON-escaped, or a long
    prefix of it, as sentences quoting 60 characters of a value leave), and every SecretKey scrubbed:
    the last line of defence for a text built from many sources."""
    ordered = sorted(values, key=len, reverse=True)
    for value in ordered:
        short = shorten(value) or ""
        text = text.replace(value, short)
        escaped = json.dumps(value, ensure_ascii=False)[1:-1]
        if escaped != value:
            text = text.replace(escaped, short)
    for value in ordered:
        text = _hide_prefixes(text, value)
    return scrub(text, secret_keys) if secret_keys else text


def _hide_prefixes(text: str, value: str) -> str:
    if len(value) < 2 * MIN_PREFIX:
        return text
    probe = value[:MIN_PREFIX]
    out: list[str] = []
    position = 0
    while True:
        found = text.find(probe, position)
        if found < 0:
            break
        end = found + MIN_PREFIX
        while end < len(text) and end - found < len(value) and text[end] == value[end - found]:
            end += 1
        if text.startswith(ELLIPSIS, end):      # already cut there: keep one ellipsis
            end += 1
        out.append(text[position:found] + value[:4] + ELLIPSIS)
        position = end
    out.append(text[position:])
    return "".join(out)


def without_secret_names(value: object, depth: int = 0) -> object:
    """A copy of JSON-like ``value`` without the mapping entries ``is_secret_name`` names."""
    if depth > 20:
        return "(too deep)"
    if isinstance(value, Mapping):
        return {str(k): without_secret_names(v, depth + 1) for k, v in value.items() if not is_secret_name(k)}
    if isinstance(value, (list, tuple)):
        return [without_secret_names(v, depth + 1) for v in value]
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
    if field_name and is_sensitive(str(field_name)):
        values = [evidence.get("actual"), evidence.get("expected"), *(evidence.get("values") or [])]
    else:
        values = []
    for key in _SECRET_EVIDENCE_KEYS:
        if key in evidence and isinstance(evidence[key], str):
            values.append(evidence[key])
    if not values:            # the usual finding: nothing that could hold a secret
        return evidence
    secrets = sorted({v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET_LEN}, key=len, reverse=True)
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
