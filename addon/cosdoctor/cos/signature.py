"""COS signatures: the POST policy signature, the header-style (XML API) signature, and the search
for the common client mistake that reproduces a wrong ``q-signature``.

Both algorithms are HMAC-SHA1 chains over lower-case hex strings (D-POST "signature protection",
D-SIGN). A wrong signature is only useful to a user if we can say which step went wrong, so
``find_post_mistake`` recomputes the policy signature the ways buggy clients do and names the first
variant that matches (the header and presigned search is ``xmlsig.search_mistake``). Nothing here
returns or formats the SecretKey.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

from cosdoctor.cos.policy import Policy

__all__ = [
    "sha1_hex",
    "hmac_sha1_hex",
    "sign_key",
    "PostSignature",
    "post_signature",
    "cos_url_encode",
    "HeaderSignature",
    "header_signature",
    "AuthString",
    "parse_auth_string",
    "auth_from_pairs",
    "KEY_TIME_RE",
    "is_hex40",
    "find_post_mistake",
    "key_time_candidates",
    "signed_key_time",
]

# "start;end" in Unix seconds; 19 digits bound int() (Python refuses > 4300-digit strings).
MAX_AUTH_PROBLEMS = 20
KEY_TIME_RE = re.compile(r"\A[0-9]{1,19};[0-9]{1,19}\Z")
_HEX40 = re.compile(r"[0-9a-f]{40}")
_ANY_HEX40 = re.compile(r"[0-9a-fA-F]{40}")


def _utf8(s: bytes | str) -> bytes:
    return s if isinstance(s, bytes) else s.encode("utf-8", "surrogatepass")


def sha1_hex(data: bytes) -> str:
    return hashlib.sha1(_utf8(data)).hexdigest()


def hmac_sha1_hex(key: bytes | str, msg: bytes | str) -> str:
    """Lower-case hex HMAC-SHA1; str arguments are UTF-8 encoded (as every COS SDK does)."""
    return hmac.new(_utf8(key), _utf8(msg), hashlib.sha1).hexdigest()


def sign_key(secret_key: str, key_time: str) -> str:
    """SignKey = hex(HMAC-SHA1(SecretKey, KeyTime)); derived from the secret, so never print it."""
    return hmac_sha1_hex(secret_key, key_time)


def is_hex40(s: str) -> bool:
    """40 lower-case hex characters: the only shape COS accepts for a signature."""
    return isinstance(s, str) and _HEX40.fullmatch(s) is not None


# --- POST policy signature (D-POST) ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PostSignature:
    sign_key: str = field(repr=False)  # derived from the SecretKey: keep it out of reprs and outputs
    string_to_sign: str  # sha1 hex of the policy bytes
    signature: str  # the q-signature


def post_signature(secret_key: str, key_time: str, policy_raw: bytes) -> PostSignature:
    """q-signature = HMAC(SignKey hex, sha1_hex(policy bytes)) over the decoded policy bytes."""
    key = sign_key(secret_key, key_time)
    string_to_sign = sha1_hex(policy_raw)
    return PostSignature(key, string_to_sign, hmac_sha1_hex(key, string_to_sign))


# --- header-style signature (D-SIGN) --------------------------------------------------------------


def cos_url_encode(s: str) -> str:
    """UTF-8 percent-encoding of everything except A-Z a-z 0-9 - _ . ~ (upper-case hex)."""
    return quote(s, safe="", encoding="utf-8", errors="surrogatepass")


@dataclass(frozen=True, slots=True)
class HeaderSignature:
    key_time: str
    http_string: str
    string_to_sign: str
    signature: str
    header_list: str  # q-header-list
    param_list: str  # q-url-param-list


def _canonical(encoded: Iterable[tuple[str, str]]) -> tuple[str, str]:
    """(name list "k1;k2", pairs "k1=v1&k2=v2") from already encoded, lower-cased pairs, sorted by name."""
    pairs = sorted(encoded, key=lambda kv: kv[0])
    return ";".join(k for k, _ in pairs), "&".join(f"{k}={v}" for k, v in pairs)


def _encode_pairs(pairs: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(cos_url_encode(k).lower(), cos_url_encode(v)) for k, v in pairs]


def _header_parts(method: str, path: str, params: list[tuple[str, str]],
                  headers: list[tuple[str, str]]) -> tuple[str, str, str]:
    """(http_string, header_list, param_list) from encoded pairs."""
    param_list, http_params = _canonical(params)
    header_list, http_headers = _canonical(headers)
    http_string = f"{method.lower()}\n{path}\n{http_params}\n{http_headers}\n"
    return http_string, header_list, param_list


def _header_string_to_sign(sign_time: str, http_string: str) -> str:
    return f"sha1\n{sign_time}\n{sha1_hex(_utf8(http_string))}\n"


def header_signature(secret_key: str, key_time: str, method: str, path: str,
                     params: Sequence[tuple[str, str]], headers: Sequence[tuple[str, str]]) -> HeaderSignature:
    """The D-SIGN signature. ``path`` is the decoded pathname; every pair given is signed."""
    http_string, header_list, param_list = _header_parts(
        method, path, _encode_pairs(params), _encode_pairs(headers))
    string_to_sign = _header_string_to_sign(key_time, http_string)
    signature = hmac_sha1_hex(sign_key(secret_key, key_time), string_to_sign)
    return HeaderSignature(key_time, http_string, string_to_sign, signature, header_list, param_list)


# --- the authorization string ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuthString:
    algorithm: str | None
    ak: str | None
    sign_time: str | None
    key_time: str | None
    header_list: tuple[str, ...]
    param_list: tuple[str, ...]
    signature: str | None
    problems: tuple[str, ...]  # e.g. "missing q-ak", "q-key-time is not 'start;end'"


_AUTH_KEYS = {
    "q-sign-algorithm": "algorithm",
    "q-ak": "ak",
    "q-sign-time": "sign_time",
    "q-key-time": "key_time",
    "q-header-list": "header_list",
    "q-url-param-list": "param_list",
    "q-signature": "signature",
}


def _split_list(value: str | None) -> tuple[str, ...]:
    return tuple(value.split(";")) if value else ()


def parse_auth_string(text: str) -> AuthString:
    """Parse "q-sign-algorithm=sha1&q-ak=…&…&q-signature=…". Never raises; defects go to ``problems``."""
    if not isinstance(text, str):
        text = str(text)
    problems: list[str] = []
    body = text.strip()
    if not body:
        problems.append("empty authorization string")
    pairs: list[tuple[str, str]] = []
    for item in body.split("&") if body else ():
        name, eq, value = item.partition("=")
        if not eq:
            problems.append(f"{_clip(item)} has no '='")
            continue
        if name not in _AUTH_KEYS:
            lowered = name.strip().lower()
            hint = f" (did you mean {lowered!r}?)" if lowered in _AUTH_KEYS else ""
            problems.append(f"unknown parameter {_clip(name)}{hint}")
            continue
        pairs.append((name, value))
    return _auth_from(pairs, problems)


def auth_from_pairs(pairs: Iterable[tuple[str, str | None]]) -> AuthString:
    """The auth string carried as separate (decoded) query parameters of a presigned URL.

    Only the q-* names count; other parameters (``x-cos-security-token``, the request's own) are
    ignored. A q-* name without a value counts as the empty string. Never raises.
    """
    picked = [(name, value or "") for name, value in pairs if name in _AUTH_KEYS]
    return _auth_from(picked, [])


def _auth_from(pairs: Iterable[tuple[str, str]], problems: list[str]) -> AuthString:
    values: dict[str, str] = {}
    for name, value in pairs:
        if name in values:
            problems.append(f"duplicate {name}")
            continue
        values[name] = value
    for name in _AUTH_KEYS:
        if name not in values:
            problems.append(f"missing {name}")
    algorithm = values.get("q-sign-algorithm")
    if algorithm is not None and algorithm != "sha1":
        problems.append(f"q-sign-algorithm is {_clip(algorithm)}, not 'sha1'")
    for name in ("q-sign-time", "q-key-time"):
        value = values.get(name)
        if value is None:
            continue
        if not KEY_TIME_RE.fullmatch(value):
            problems.append(f"{name} is not 'start;end'")
        else:
            start, end = value.split(";")
            if int(start) > int(end):
                problems.append(f"{name} starts after it ends")
    signature = values.get("q-signature")
    if signature is not None and not is_hex40(signature):
        problems.append("q-signature is not 40 lower-case hex characters")
    if len(problems) > MAX_AUTH_PROBLEMS:       # a hostile string may hold thousands of bad items
        problems[MAX_AUTH_PROBLEMS:] = [f"... and {len(problems) - MAX_AUTH_PROBLEMS} more problems"]
    return AuthString(
        algorithm=algorithm,
        ak=values.get("q-ak"),
        sign_time=values.get("q-sign-time"),
        key_time=values.get("q-key-time"),
        header_list=_split_list(values.get("q-header-list")),
        param_list=_split_list(values.get("q-url-param-list")),
        signature=signature,
        problems=tuple(problems),
    )


def _clip(value: str, limit: int = 40) -> str:
    return repr(value if len(value) <= limit else value[: limit - 1] + "…")


# --- mistake search -------------------------------------------------------------------------------


def _chain(secret_key: str, key_time: str, string_to_sign: str, *, swap_key: bool = False,
           swap_sig: bool = False, binary_key: bool = False, binary_sts: bool = False) -> str:
    """The final HMAC of either algorithm, with the usual ways to get it wrong switched on."""
    key_hmac = hmac.new(*((_utf8(key_time), _utf8(secret_key)) if swap_key else (_utf8(secret_key), _utf8(key_time))),
                        hashlib.sha1)
    key: bytes = key_hmac.digest() if binary_key else key_hmac.hexdigest().encode()
    msg: bytes = bytes.fromhex(string_to_sign) if binary_sts else string_to_sign.encode()
    return (hmac.new(msg, key, hashlib.sha1) if swap_sig else hmac.new(key, msg, hashlib.sha1)).hexdigest()


_SWAPS = ((True, False), (False, True), (True, True))


def _swapped(secret_key: str, key_time: str, string_to_sign: str) -> Iterable[str]:
    for swap_key, swap_sig in _SWAPS:
        yield _chain(secret_key, key_time, string_to_sign, swap_key=swap_key, swap_sig=swap_sig)


def _binary(secret_key: str, key_time: str, string_to_sign: str) -> Iterable[str]:
    yield _chain(secret_key, key_time, string_to_sign, binary_key=True)
    if _HEX40.fullmatch(string_to_sign):
        yield _chain(secret_key, key_time, string_to_sign, binary_sts=True)
        yield _chain(secret_key, key_time, string_to_sign, binary_key=True, binary_sts=True)


def _shape_mistake(provided: str, correct: str) -> str | None:
    """'uppercase-hex' / 'malformed' when ``provided`` is not 40 lower-case hex, else None."""
    if is_hex40(provided):
        return None
    if isinstance(provided, str) and _ANY_HEX40.fullmatch(provided) and provided.lower() == correct:
        return "uppercase-hex"
    return "malformed"


def _reserialisations(document: object, raw: bytes) -> Iterable[bytes]:
    """Other byte strings a client may have signed for the same JSON document."""
    yield raw + b"\n"
    yield raw + b"\r\n"
    yield raw.rstrip(b"\r\n")
    yield raw.strip()
    yield raw.replace(b"\r\n", b"\n")
    yield raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    yield b"\xef\xbb\xbf" + raw
    if document is None:
        return
    layouts: tuple[dict, ...] = (
        {"separators": (",", ":")},
        {},
        {"indent": 2},
        {"indent": 4},
        {"indent": "\t"},
        {"indent": 2, "separators": (",", ":")},
    )
    for layout in layouts:
        for sort_keys in (False, True):
            for ensure_ascii in (False, True):
                try:
                    text = json.dumps(document, sort_keys=sort_keys, ensure_ascii=ensure_ascii, **layout)
                except (ValueError, TypeError, RecursionError):
                    continue
                data = text.encode("utf-8", "surrogatepass")
                yield data
                yield data + b"\n"
                if b"\n" in data:
                    yield data.replace(b"\n", b"\r\n")
                    yield data.replace(b"\n", b"\r\n") + b"\r\n"


def find_post_mistake(secret_key: str, key_time: str, policy: Policy, provided: str, *,
                      other_key_times: Sequence[str] = ()) -> str | None:
    """None when ``provided`` is the right q-signature, else the contract mistake word that explains it.

    ``other_key_times`` are KeyTimes the client may have signed with instead of ``key_time``
    (e.g. the policy's q-sign-time condition). Falls back to "wrong-secret-key".
    """
    correct = post_signature(secret_key, key_time, policy.raw)
    if provided == correct.signature:
        return None
    shape = _shape_mistake(provided, correct.signature)
    if shape is not None:
        return shape

    sts = correct.string_to_sign
    b64_variants = {policy.b64, policy.b64.strip()}
    if any(_chain(secret_key, key_time, sha1_hex(_utf8(b))) == provided for b in b64_variants):
        return "sha1-of-base64-policy"

    for data in _reserialisations(policy.document, policy.raw):
        if data != policy.raw and _chain(secret_key, key_time, sha1_hex(data)) == provided:
            return "policy-bytes-differ"

    if provided in _swapped(secret_key, key_time, sts):
        return "hmac-args-swapped"
    if provided in _binary(secret_key, key_time, sts):
        return "binary-sign-key"
    if signed_key_time(secret_key, key_time, sts, provided, other_key_times=other_key_times) is not None:
        return "key-time-mismatch"
    return "wrong-secret-key"


KEY_TIME_SHIFT_BOTH_S = 3600   # a signer's clock against the client's: both ends moved alike
KEY_TIME_SHIFT_ONE_S = 300     # one end regenerated on the client a few minutes later or earlier


def key_time_candidates(key_time: str, other_key_times: Sequence[str] = ()) -> Iterator[str]:
    """KeyTimes a client may have signed with instead of ``key_time``, likeliest first: the
    given others (the policy's q-sign-time), milliseconds instead of seconds, both ends shifted
    alike by up to an hour, each end alone by up to five minutes. At most ~8 400, each once."""
    seen = {key_time}

    def fresh(candidate: str) -> bool:
        if candidate in seen:
            return False
        seen.add(candidate)
        return True

    for other in other_key_times:
        if isinstance(other, str) and KEY_TIME_RE.match(other) and fresh(other):
            yield other
    if not KEY_TIME_RE.match(key_time):
        return
    start, end = (int(t) for t in key_time.split(";"))
    for candidate in (f"{start * 1000};{end * 1000}", f"{start};{end * 1000}", f"{start * 1000};{end}"):
        if fresh(candidate):
            yield candidate
    for shift in range(1, KEY_TIME_SHIFT_BOTH_S + 1):
        for d in (-shift, shift):
            if start + d >= 0 and fresh(candidate := f"{start + d};{end + d}"):
                yield candidate
    for shift in range(1, KEY_TIME_SHIFT_ONE_S + 1):
        for d in (-shift, shift):
            if start + d >= 0 and fresh(candidate := f"{start + d};{end}"):
                yield candidate
            if end + d >= 0 and fresh(candidate := f"{start};{end + d}"):
                yield candidate


def signed_key_time(secret_key: str, key_time: str, string_to_sign: str, provided: str, *,
                    other_key_times: Sequence[str] = ()) -> str | None:
    """The KeyTime among ``key_time_candidates`` that gives ``provided`` for this StringToSign
    (the policy's SHA-1 does not depend on it), or None. Bounded: two HMACs a candidate."""
    secret, message = _utf8(secret_key), string_to_sign.encode()
    for candidate in key_time_candidates(key_time, other_key_times):
        sign_key = hmac.new(secret, candidate.encode(), hashlib.sha1).hexdigest().encode()
        if hmac.new(sign_key, message, hashlib.sha1).hexdigest() == provided:
            return candidate
    return None
