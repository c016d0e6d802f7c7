"""The XML-API signature of one request (``Authorization`` header or presigned query), as COS checks it.

cos-post-object.md §3.3 and cos-xml-api.md §2, §4, §5. COS rebuilds the FormatString (HttpString)
from the request it received: the lower-cased method, the **decoded** path, the parameters named
in ``q-url-param-list`` and the headers named in ``q-header-list`` (names lower-cased, values
URL-encoded from the received value, sorted by name), and signs
``sha1\\n<time>\\n<sha1(FormatString)>\\n``. Its SignatureDoesNotMatch answer carries its own
``<FormatString>`` and ``<StringToSign>`` (§4.1), so here we:

- ``rebuild``: the FormatString and StringToSign from the request as sent;
- ``parse_format_string`` / ``parse_string_to_sign`` / ``compare_with_cos``: COS's own, and where
  it parts from ours (``differences``, the contract's parts);
- ``search_mistake``: with the SecretKey, the client's mistake among the plausible variants
  (another method, path, host, header value, header subset, parameter, KeyTime, swapped HMAC
  arguments, upper-case hex), bounded by ``MAX_VARIANTS``;
- ``sign_time_state``, ``strict_unsigned_headers`` / ``strict_unsigned_params``, ``token_needed``;
- ``analyse_signature``: all of it, as evidence-ready data.

Decisions where COS is silent ([open] in the sheets): a name listed but not sent is signed as
``name=`` (the value empty); a header sent twice signs its first value; the names of a list are
lower-cased, deduplicated and sorted, as every SDK sends them; StringToSign carries q-sign-time
and SignKey q-key-time (equal in every official client; the search tries the other pairings).

Nothing here returns a SecretKey or a SignKey, formats a sentence, or raises on hostile input.
"""
from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

from cosdoctor.cos.hosts import CosEndpoint, normalise_host, parse_cos_host
from cosdoctor.cos.operations import cos_unquote, decode_path, parse_query
from cosdoctor.cos.secrets import shorten
from cosdoctor.cos.signature import (
    KEY_TIME_RE,
    AuthString,
    auth_from_pairs,
    cos_url_encode,
    hmac_sha1_hex,
    is_hex40,
    parse_auth_string,
    sha1_hex,
    sign_key,
)

__all__ = [
    "MAX_VARIANTS",
    "MAX_SEARCH_CHARS",
    "MAX_LIST_NAMES",
    "STRICT_HEADER_MESSAGE",
    "STRICT_PARAM_MESSAGE",
    "DIFFERENCE_PARTS",
    "MISTAKES",
    "SignedParts",
    "Rebuilt",
    "CosFormatString",
    "CosStringToSign",
    "Comparison",
    "Mistake",
    "SignatureAnalysis",
    "request_parts",
    "request_auth",
    "rebuild",
    "format_string",
    "string_to_sign",
    "parse_format_string",
    "parse_string_to_sign",
    "compare_with_cos",
    "difference_mistake",
    "search_mistake",
    "sign_time_state",
    "strict_unsigned_headers",
    "strict_unsigned_params",
    "token_needed",
    "analyse_signature",
]

MAX_VARIANTS = 400          # HMAC computations one search may spend (~1 ms each on a 2 KiB string)
MAX_SEARCH_CHARS = 1 << 16  # a FormatString longer than this is verified, never searched
MAX_LIST_NAMES = 64         # header/parameter names tried one by one; longer lists are verified only
MAX_PAIRS = 1000            # pairs read from one line of COS's FormatString

STRICT_HEADER_MESSAGE = "Strict signature missing header that must be signed"
STRICT_PARAM_MESSAGE = "Strict signature missing param that must be signed"
DIFFERENCE_PARTS = ("method", "path", "params", "headers", "header-list", "param-list", "key-time")
MISTAKES = ("signed-other-method", "signed-other-path", "signed-other-host", "signed-header-changed",
            "signed-header-missing", "signed-param-changed", "expired-sign-time", "key-time-mismatch",
            "hmac-args-swapped", "binary-sign-key", "uppercase-hex", "malformed", "wrong-secret-key")

_ANY_HEX40 = re.compile(r"[0-9a-fA-F]{40}")
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")
_METHODS = ("get", "put", "post", "head", "delete", "options")
# Strict signature mode (cos-xml-api.md §4.3): headers a strict bucket wants signed when sent.
_STRICT_HEADERS = frozenset({"host", "content-length", "content-type", "content-md5", "range", "x-cos-acl",
                             "x-cos-grant-read", "x-cos-grant-write", "x-cos-grant-read-acp",
                             "x-cos-grant-write-acp", "x-cos-grant-full-control"})
_UNSIGNED_PARAMS = frozenset({"q-sign-algorithm", "q-ak", "q-sign-time", "q-key-time", "q-header-list",
                              "q-url-param-list", "q-signature", "x-cos-security-token", "sign"})
_SIGNATURE_PARAMS = frozenset(n for n in _UNSIGNED_PARAMS if n.startswith("q-"))
_TOKEN = "x-cos-security-token"


# --- the request as sent -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignedParts:
    """What the signature covers, from the request as it was sent."""
    method: str                                # as sent
    raw_path: str                              # as on the wire
    path: str                                  # decoded as COS decodes it
    params: tuple[tuple[str, str | None], ...]  # decoded query items, wire order
    headers: tuple[tuple[str, str], ...]       # names and values as sent, wire order
    raw_query: str = ""


def _pairs_of(headers: Mapping[str, str] | Iterable[tuple[str, str]] | None) -> tuple[tuple[str, str], ...]:
    if headers is None:
        return ()
    items = headers.items() if isinstance(headers, Mapping) else headers
    out = []
    for item in items:
        try:
            name, value = item
        except (TypeError, ValueError):
            continue
        if isinstance(name, bytes):
            name = name.decode("latin-1")
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(name, str) and isinstance(value, str):
            out.append((name, value))
    return tuple(out)


def request_parts(method: str, raw_path: str, raw_query: str,
                  headers: Mapping[str, str] | Iterable[tuple[str, str]] | None) -> SignedParts:
    """``SignedParts`` of a request: the path decoded as COS does, the query items decoded."""
    params, _ = parse_query(raw_query if isinstance(raw_query, str) else "")
    raw_path = raw_path if isinstance(raw_path, str) else "/"
    return SignedParts(method if isinstance(method, str) else "", raw_path, decode_path(raw_path),
                       tuple((p.name, p.value) for p in params), _pairs_of(headers),
                       raw_query if isinstance(raw_query, str) else "")


def _header(parts: SignedParts, name: str) -> str | None:
    name = name.lower()
    for n, v in parts.headers:
        if n.lower() == name:
            return v
    return None


def request_auth(parts: SignedParts) -> tuple[AuthString | None, str | None]:
    """The auth string a request carries and where: ``"authorization"`` (header), ``"query"``
    (presigned q-* pairs) or ``"sign"`` (the single ``sign=`` parameter); (None, None) if none."""
    authorization = _header(parts, "authorization")
    if authorization is not None and authorization.strip():
        return parse_auth_string(authorization), "authorization"
    names = {n for n, _ in parts.params}
    if names & _SIGNATURE_PARAMS:
        return auth_from_pairs(parts.params), "query"
    for n, v in parts.params:
        if n == "sign":
            return parse_auth_string(v or ""), "sign"
    return None, None


# --- rebuilding the FormatString ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rebuilt:
    method: str                            # lower-cased
    path: str                              # decoded
    params: tuple[tuple[str, str], ...]    # (name, encoded value) as signed, sorted
    headers: tuple[tuple[str, str], ...]
    missing_headers: tuple[str, ...]       # listed in q-header-list but not sent
    missing_params: tuple[str, ...]        # listed in q-url-param-list but not in the query
    key_time: str
    sign_time: str
    http_string: str
    string_to_sign: str


def _list_names(listed: Iterable[str]) -> list[str]:
    """The names of a q-*-list as COS reads them: lower-cased, empty ones dropped, deduplicated, sorted."""
    return sorted({n.lower() for n in listed if n})


def _signed_pairs(listed: Iterable[str], given: Iterable[tuple[str, str | None]],
                  fallback: Mapping[str, str] | None = None) -> tuple[list[tuple[str, str]], list[str]]:
    lookup: dict[str, str] = {}
    for name, value in given:
        lookup.setdefault(cos_url_encode(name).lower(), value or "")
    pairs, missing = [], []
    for name in _list_names(listed):
        value = lookup.get(name)
        if value is None and fallback is not None:
            value = fallback.get(name)
        if value is None:
            missing.append(name)
            value = ""
        pairs.append((name, cos_url_encode(value)))
    return pairs, missing


def _line(pairs: Iterable[tuple[str, str]]) -> str:
    return "&".join(f"{k}={v}" for k, v in sorted(pairs, key=lambda kv: kv[0]))


def format_string(method: str, path: str, params: Iterable[tuple[str, str]],
                  headers: Iterable[tuple[str, str]]) -> str:
    """``method\\npath\\nparams\\nheaders\\n`` from pairs already encoded (sorted here by name)."""
    return f"{method.lower()}\n{path}\n{_line(params)}\n{_line(headers)}\n"


def string_to_sign(time_range: str, http_string: str) -> str:
    return f"sha1\n{time_range}\n{sha1_hex(http_string.encode('utf-8', 'surrogatepass'))}\n"


def _times(auth: AuthString) -> tuple[str, str]:
    key_time = auth.key_time if auth.key_time is not None else (auth.sign_time or "")
    sign_time = auth.sign_time if auth.sign_time is not None else key_time
    return key_time, sign_time


def rebuild(parts: SignedParts, auth: AuthString, *, path: str | None = None,
            fallback_values: Mapping[str, str] | None = None) -> Rebuilt:
    """COS's FormatString and StringToSign for ``parts`` under ``auth``'s lists and times.

    ``path`` overrides the decoded request path (the POST form's ``Signature`` field signs ``/``);
    ``fallback_values`` supplies listed names that are not headers (the form's fields).
    """
    headers, missing_h = _signed_pairs(auth.header_list, parts.headers, fallback_values)
    params, missing_p = _signed_pairs(auth.param_list, parts.params)
    method = parts.method.lower()
    signed_path = parts.path if path is None else path
    http_string = format_string(method, signed_path, params, headers)
    key_time, sign_time = _times(auth)
    return Rebuilt(method, signed_path, tuple(params), tuple(headers), tuple(missing_h), tuple(missing_p),
                   key_time, sign_time, http_string, string_to_sign(sign_time, http_string))


# --- COS's own FormatString and StringToSign ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CosFormatString:
    method: str
    path: str
    params: tuple[tuple[str, str], ...]    # as COS wrote them (encoded)
    headers: tuple[tuple[str, str], ...]
    text: str
    well_formed: bool                      # four lines and a final newline
    truncated: tuple[str, ...] = ()        # "params"/"headers": that line held more than MAX_PAIRS pairs


@dataclass(frozen=True, slots=True)
class CosStringToSign:
    algorithm: str
    key_time: str
    digest: str
    well_formed: bool


def _split_pairs(line: str) -> tuple[tuple[tuple[str, str], ...], bool]:
    """The pairs of one line (at most MAX_PAIRS) and whether there were more."""
    if not line:
        return (), False
    items = line.split("&", MAX_PAIRS)
    out = []
    for item in items[:MAX_PAIRS]:
        name, _, value = item.partition("=")
        out.append((name, value))
    return tuple(out), len(items) > MAX_PAIRS


def parse_format_string(text: str | None) -> CosFormatString | None:
    """COS's ``<FormatString>`` (XML entities already decoded). A path holding a newline is kept
    whole: the method is the first line, parameters and headers the last two."""
    if not isinstance(text, str):
        return None
    ends = text.endswith("\n")
    body = text[:-1] if ends else text
    lines = body.split("\n")
    well_formed = ends and len(lines) >= 4
    while len(lines) < 4:
        lines.append("")
    params, params_cut = _split_pairs(lines[-2])
    headers, headers_cut = _split_pairs(lines[-1])
    cut = ("params",) * params_cut + ("headers",) * headers_cut
    return CosFormatString(lines[0], "\n".join(lines[1:-2]), params, headers, text, well_formed, cut)


def parse_string_to_sign(text: str | None) -> CosStringToSign | None:
    """COS's ``<StringToSign>``: ``sha1\\n<KeyTime>\\n<sha1 of the FormatString>\\n``."""
    if not isinstance(text, str):
        return None
    lines = text.split("\n")
    well_formed = len(lines) == 4 and lines[3] == "" and lines[0] == "sha1" and is_hex40(lines[2])
    while len(lines) < 3:
        lines.append("")
    return CosStringToSign(lines[0], lines[1], lines[2], well_formed)


@dataclass(frozen=True, slots=True)
class Comparison:
    differences: tuple[dict, ...]
    cos_sha1_consistent: bool | None   # sha1(COS's FormatString) is line 3 of COS's StringToSign
    sha1_matches_cos: bool | None      # sha1(our FormatString) is line 3 of COS's StringToSign


def _path_hint(sent: str, cos: str) -> str | None:
    if cos == sent.replace("+", " "):
        return "plus-as-space"
    if sent == cos.replace("+", " "):
        return "plus-kept"
    if cos_unquote(cos, plus_is_space=False) == sent:
        return "cos-encoded"
    if cos_unquote(sent, plus_is_space=False) == cos:
        return "cos-decoded"
    if re.sub("/{2,}", "/", sent) == re.sub("/{2,}", "/", cos):
        return "double-slash"
    if cos.lstrip("/") == sent.lstrip("/"):
        return "leading-slash"
    return None


def _pair_differences(part: str, list_part: str, ours: Sequence[tuple[str, str]],
                      theirs: Sequence[tuple[str, str]], cut: bool = False) -> list[dict]:
    out: list[dict] = []
    our_names = [n for n, _ in ours]
    cos_names = [n for n, _ in theirs]
    if cut:     # only the first MAX_PAIRS of COS's line were read: compare as many of ours
        our_names = our_names[:len(cos_names)]
    if our_names != cos_names:
        out.append({"part": list_part, "sent": ";".join(our_names), "cos": ";".join(cos_names)})
    cos_values = dict(theirs)
    for name, value in ours:
        other = cos_values.get(name)
        if other is not None and other != value:
            out.append({"part": part, "name": name, "sent": value, "cos": other})
    return out


def compare_with_cos(rebuilt: Rebuilt, cos_format: CosFormatString | str | None,
                     cos_sts: CosStringToSign | str | None = None) -> Comparison:
    """Where COS's FormatString/StringToSign part from ours. ``sent`` is ours (the request as it
    reached us), ``cos`` COS's; header and parameter entries also carry their ``name``."""
    if isinstance(cos_format, str):
        cos_format = parse_format_string(cos_format)
    if isinstance(cos_sts, str):
        cos_sts = parse_string_to_sign(cos_sts)
    diffs: list[dict] = []
    if cos_format is not None:
        if rebuilt.method != cos_format.method:
            diffs.append({"part": "method", "sent": rebuilt.method, "cos": cos_format.method})
        if rebuilt.path != cos_format.path:
            entry = {"part": "path", "sent": rebuilt.path, "cos": cos_format.path}
            hint = _path_hint(rebuilt.path, cos_format.path)
            if hint is not None:
                entry["hint"] = hint
            diffs.append(entry)
        diffs += _pair_differences("params", "param-list", rebuilt.params, cos_format.params,
                                   "params" in cos_format.truncated)
        diffs += _pair_differences("headers", "header-list", rebuilt.headers, cos_format.headers,
                                   "headers" in cos_format.truncated)
    cos_consistent = sha1_matches = None
    if cos_sts is not None:
        if cos_sts.key_time != rebuilt.sign_time:
            diffs.append({"part": "key-time", "sent": rebuilt.sign_time, "cos": cos_sts.key_time})
        sha1_matches = sha1_hex(rebuilt.http_string.encode("utf-8", "surrogatepass")) == cos_sts.digest
        if cos_format is not None:
            cos_consistent = sha1_hex(cos_format.text.encode("utf-8", "surrogatepass")) == cos_sts.digest
    return Comparison(tuple(diffs), cos_consistent, sha1_matches)


def difference_mistake(differences: Iterable[dict]) -> str | None:
    """The mistake word the first difference points to (None when there is none)."""
    for d in differences:
        part = d.get("part")
        if part == "method":
            return "signed-other-method"
        if part == "path":
            return "signed-other-path"
        if part == "headers":
            return "signed-other-host" if d.get("name") == "host" else "signed-header-changed"
        if part == "header-list":
            return "signed-header-missing"
        if part in ("params", "param-list"):
            return "signed-param-changed"
        if part == "key-time":
            return "key-time-mismatch"
    return None


# --- the mistake search ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Mistake:
    word: str | None                 # None: the signature verifies
    variant: dict | None             # what the client signed instead, e.g. {"part": "path", "signed": "/a+b"}
    tried: int                       # HMAC computations spent
    exhausted: bool                  # the budget ran out before every variant was tried
    expected_signature: str | None = field(default=None, repr=False)   # the correct one


def _hmac_hex(key: bytes, msg: bytes) -> str:
    return hmac.new(key, msg, hashlib.sha1).hexdigest()


class _Search:
    """One search: counts HMACs, caches SignKeys per KeyTime, compares with the provided signature."""

    def __init__(self, secret_key: str, provided: str, budget: int) -> None:
        self.secret = secret_key.encode("utf-8", "surrogatepass")
        self.provided = provided
        self.budget = budget
        self.tried = 0
        self.keys: dict[str, str] = {}

    def signature(self, key_time: str, sign_time: str, http_string: str) -> str:
        key = self.keys.get(key_time)
        if key is None:
            key = self.keys[key_time] = sign_key(self.secret.decode("utf-8", "surrogatepass"), key_time)
        return hmac_sha1_hex(key, string_to_sign(sign_time, http_string))

    def hit(self, key_time: str, sign_time: str, http_string: str) -> bool:
        if self.tried >= self.budget:
            return False
        self.tried += 1
        return self.signature(key_time, sign_time, http_string) == self.provided

    @property
    def spent(self) -> bool:
        return self.tried >= self.budget


def _with_pair(pairs: Sequence[tuple[str, str]], name: str, value: str | None) -> list[tuple[str, str]]:
    """``pairs`` with ``name`` set to the encoded ``value`` (None drops it; a new name is added)."""
    out = [(n, v) for n, v in pairs if n != name]
    if value is not None:
        out.append((name, value))
    return out


def _lower_hex(text: str) -> str:
    return _PERCENT.sub(lambda m: m.group().lower(), text)


def _path_variants(parts: SignedParts, path: str, bucket: str | None) -> Iterator[tuple[str, str]]:
    raw = parts.raw_path
    if "+" in raw:
        yield cos_unquote(raw, plus_is_space=False), "plus-as-space"
    yield raw, "encoded"
    yield quote(path, safe="/", errors="surrogatepass"), "encoded"
    yield quote(path, safe="/!'()*", errors="surrogatepass"), "encoded"
    yield _lower_hex(raw), "encoded"
    if "%" in path:
        yield unquote(path, errors="replace"), "decoded-twice"
    if path.startswith("/"):
        yield path[1:], "missing-leading-slash"
    yield "/" + path, "extra-leading-slash"
    collapsed = re.sub("/{2,}", "/", path)
    yield collapsed, "double-slash"
    yield (path[:-1] if path.endswith("/") else path + "/"), "trailing-slash"
    if bucket:
        prefix = f"/{bucket}"
        if path.startswith(prefix + "/") or path == prefix:
            yield path[len(prefix):] or "/", "bucket-segment"
        else:
            yield prefix + path, "bucket-segment"
    yield "/", "root"


def _host_variants(host: str, alt_hosts: Sequence[str], cos_host: str | None) -> Iterator[str]:
    for alt in alt_hosts:
        yield alt
    if cos_host is not None:
        yield cos_host
    bare = normalise_host(host)
    if bare is not None:
        yield bare
        endpoint = parse_cos_host(bare)
        if endpoint is not None and endpoint.bucket and endpoint.style == "virtual":
            if bare.endswith(".myqcloud.com"):
                yield bare[: -len("myqcloud.com")] + "tencentcos.cn"
            else:
                yield bare[: -len("tencentcos.cn")] + "myqcloud.com"
            if endpoint.region != "accelerate":
                yield f"{endpoint.bucket}.cos.accelerate.myqcloud.com"
            yield f"cos.{endpoint.region}.myqcloud.com"
    yield host.lower()


def _header_value_variants(name: str, value: str, cos_value: str | None) -> Iterator[str]:
    if cos_value is not None:
        yield cos_unquote(cos_value, plus_is_space=False)
    if name == "content-type":
        base = value.split(";", 1)[0].strip()
        yield base
        yield base + "; charset=utf-8"
        yield base + "; charset=UTF-8"
        yield base + ";charset=utf-8"
    if name == "content-length":
        yield "0"
    yield ""
    yield value.strip()
    yield value.lower()


def _param_value_variants(raw_values: Sequence[str], value: str) -> Iterator[tuple[str, str]]:
    """(encoded value, how): what a client may have signed for a parameter whose decoded value is
    ``value`` (``raw_values``: its values as on the wire)."""
    if "%" in value:
        yield cos_url_encode(unquote(value, errors="replace")), "decoded-twice"   # URL encoded twice after signing
    yield cos_url_encode(cos_url_encode(value)), "encoded-twice"                  # signed an encoded value
    for raw in raw_values:
        if "+" in raw:
            yield cos_url_encode(cos_unquote(raw, plus_is_space=False)), "plus-kept"
    yield "", "empty"


def _time_variants(key_time: str, sign_time: str, cos_time: str | None) -> Iterator[tuple[str, str]]:
    """(key time for SignKey, time for StringToSign) pairs other than the correct one."""
    if sign_time != key_time:
        yield key_time, key_time
        yield sign_time, sign_time
        yield sign_time, key_time
    if cos_time and cos_time not in (key_time, sign_time):
        yield cos_time, cos_time
    for t in dict.fromkeys((key_time, sign_time)):
        if KEY_TIME_RE.fullmatch(t):
            start, end = t.split(";")
            yield f"{start}000;{end}000", f"{start}000;{end}000"   # milliseconds (JS Date.now())
            yield f"{end};{start}", f"{end};{start}"
            s0, e0 = int(start), int(end)
            for ds, de in ((1, 1), (-1, -1), (0, 1), (0, -1), (1, 0), (-1, 0)):   # the clock ticked in between
                shifted = f"{s0 + ds};{e0 + de}"
                yield shifted, shifted


def _final(secret: bytes, key_time: str, sts: str, *, swap_key: bool, swap_sig: bool, binary_key: bool) -> str:
    time_bytes = key_time.encode("utf-8", "surrogatepass")   # as sign_key reads it (a header's stray bytes)
    k_args = (time_bytes, secret) if swap_key else (secret, time_bytes)
    digest = hmac.new(k_args[0], k_args[1], hashlib.sha1)
    key = digest.digest() if binary_key else digest.hexdigest().encode()
    msg = sts.encode("utf-8", "surrogatepass")
    return _hmac_hex(msg, key) if swap_sig else _hmac_hex(key, msg)


def search_mistake(secret_key: str, parts: SignedParts, auth: AuthString, *,
                   rebuilt: Rebuilt | None = None, alt_hosts: Sequence[str] = (),
                   cos_format: CosFormatString | None = None, cos_key_time: str | None = None,
                   endpoint: CosEndpoint | None = None, max_variants: int = MAX_VARIANTS) -> Mistake:
    """Verify ``auth``'s signature with ``secret_key`` and, if it fails, find what the client signed.

    Variants, most certain first, each changing one thing: the HMAC chain (``hmac-args-swapped``,
    ``binary-sign-key``), the times (``key-time-mismatch``), the method, the path and its encoding,
    the host (``alt_hosts``: the bucket host, a CDN or custom domain), each listed header's value,
    each listed header left out, each listed parameter. ``wrong-secret-key`` when none matches.
    """
    rebuilt = rebuilt or rebuild(parts, auth)
    provided = auth.signature
    key_time, sign_time = rebuilt.key_time, rebuilt.sign_time
    search = _Search(secret_key, provided or "", max(int(max_variants), 1))
    correct = search.signature(key_time, sign_time, rebuilt.http_string)
    if provided == correct:
        return Mistake(None, None, 1, False, correct)
    if not isinstance(provided, str) or not is_hex40(provided):
        if isinstance(provided, str) and _ANY_HEX40.fullmatch(provided) and provided.lower() == correct:
            return Mistake("uppercase-hex", None, 1, False, correct)
        return Mistake("malformed", None, 1, False, correct)

    def found(word: str, variant: dict) -> Mistake:
        return Mistake(word, variant, search.tried, False, correct)

    sts = rebuilt.string_to_sign
    for swap_key, swap_sig in ((True, False), (False, True), (True, True)):
        search.tried += 1
        if _final(search.secret, key_time, sts, swap_key=swap_key, swap_sig=swap_sig, binary_key=False) == provided:
            return found("hmac-args-swapped", {"part": "hmac", "swapped": "sign-key" if not swap_sig else
                                               ("both" if swap_key else "signature")})
    search.tried += 1
    if _final(search.secret, key_time, sts, swap_key=False, swap_sig=False, binary_key=True) == provided:
        return found("binary-sign-key", {"part": "hmac"})

    for k, s in _time_variants(key_time, sign_time, cos_key_time):
        if search.hit(k, s, rebuilt.http_string):
            return found("key-time-mismatch", {"part": "key-time", "signed": k, "string_to_sign_time": s})

    if len(rebuilt.http_string) > MAX_SEARCH_CHARS:
        return Mistake("wrong-secret-key", None, search.tried, True, correct)

    params_line, headers_line = _line(rebuilt.params), _line(rebuilt.headers)

    def http(method: str = rebuilt.method, path: str = rebuilt.path, params=None, headers=None) -> str:
        p = params_line if params is None else _line(params)
        h = headers_line if headers is None else _line(headers)
        return f"{method}\n{path}\n{p}\n{h}\n"

    # the method: a presigned URL used with another method, or a client that signed another call
    for m in (*_METHODS, parts.method, parts.method.upper()):
        if m == rebuilt.method:
            continue
        if search.hit(key_time, sign_time, http(method=m)):
            return found("signed-other-method", {"part": "method", "signed": m})

    bucket = endpoint.bucket if endpoint is not None else None
    seen_paths = {rebuilt.path}
    for p, hint in _path_variants(parts, rebuilt.path, bucket):
        if p in seen_paths:
            continue
        seen_paths.add(p)
        if search.hit(key_time, sign_time, http(path=p)):
            return found("signed-other-path", {"part": "path", "signed": p, "hint": hint})

    header_values = dict(rebuilt.headers)
    cos_headers = dict(cos_format.headers) if cos_format is not None else {}
    sent_host = _header(parts, "host")
    if "host" in header_values and sent_host is not None:
        cos_host = cos_headers.get("host")
        seen = {header_values["host"]}
        for h in _host_variants(sent_host, alt_hosts, cos_unquote(cos_host, plus_is_space=False)
                                if cos_host else None):
            encoded = cos_url_encode(h)
            if encoded in seen:
                continue
            seen.add(encoded)
            if search.hit(key_time, sign_time, http(headers=_with_pair(rebuilt.headers, "host", encoded))):
                return found("signed-other-host", {"part": "headers", "name": "host", "signed": h})

    listed = [n for n, _ in rebuilt.headers][:MAX_LIST_NAMES]
    for name in listed:
        if name == "host" or name in rebuilt.missing_headers:
            continue
        sent = _header(parts, name) or ""
        seen = {header_values[name]}
        for v in _header_value_variants(name, sent, cos_headers.get(name)):
            encoded = cos_url_encode(v)
            if encoded in seen:
                continue
            seen.add(encoded)
            if search.hit(key_time, sign_time, http(headers=_with_pair(rebuilt.headers, name, encoded))):
                return found("signed-header-changed", {"part": "headers", "name": name, "signed": v})
    if len(rebuilt.headers) > 1:
        for name in listed:     # header subsets: one listed header left out of the signed string
            if search.hit(key_time, sign_time, http(headers=_with_pair(rebuilt.headers, name, None))):
                return found("signed-header-changed", {"part": "headers", "name": name, "signed": None})
        only_host = [(n, v) for n, v in rebuilt.headers if n == "host"]
        if only_host and search.hit(key_time, sign_time, http(headers=only_host)):
            return found("signed-header-changed", {"part": "headers", "name": None, "signed": "host"})

    raw_by_name: dict[str, list[str]] = {}
    for item in parts.raw_query.split("&", MAX_LIST_NAMES)[:MAX_LIST_NAMES]:
        raw_name, _, raw_value = item.partition("=")
        raw_by_name.setdefault(cos_url_encode(cos_unquote(raw_name)).lower(), []).append(raw_value)
    decoded = {}
    for item_name, item_value in parts.params:
        decoded.setdefault(cos_url_encode(item_name).lower(), item_value or "")
    param_values = dict(rebuilt.params)
    for name in [n for n, _ in rebuilt.params][:MAX_LIST_NAMES]:
        seen = {param_values[name]}
        for encoded, how in _param_value_variants(raw_by_name.get(name, [])[:1], decoded.get(name, "")):
            if encoded in seen:
                continue
            seen.add(encoded)
            if search.hit(key_time, sign_time, http(params=_with_pair(rebuilt.params, name, encoded))):
                return found("signed-param-changed", {"part": "params", "name": name, "signed": encoded,
                                                      "hint": how})
        if search.hit(key_time, sign_time, http(params=_with_pair(rebuilt.params, name, None))):
            return found("signed-param-changed", {"part": "params", "name": name, "signed": None})
    unlisted = [(cos_url_encode(n).lower(), cos_url_encode(v or "")) for n, v in parts.params
                if n.lower() not in _UNSIGNED_PARAMS and cos_url_encode(n).lower() not in param_values]
    if unlisted and search.hit(key_time, sign_time, http(params=[*rebuilt.params, *unlisted])):
        return found("signed-param-changed", {"part": "params", "name": ";".join(n for n, _ in unlisted),
                                              "signed": "unlisted"})
    return Mistake("wrong-secret-key", None, search.tried, search.spent, correct)


# --- times, strict mode, tokens -------------------------------------------------------------------


def sign_time_state(auth: AuthString, now: int | None) -> dict:
    """``{"state": "valid" | "expired" | "not-yet-valid" | "unknown", "start", "end", "now", …}``
    for q-sign-time (q-key-time when absent) against the server's clock ``now`` (Unix seconds);
    ``expired_for_s`` / ``starts_in_s`` when it is not valid."""
    text = auth.sign_time if auth.sign_time is not None else auth.key_time
    out: dict = {"state": "unknown", "start": None, "end": None, "now": now}
    if not isinstance(text, str) or not KEY_TIME_RE.fullmatch(text):
        return out
    start, end = (int(x) for x in text.split(";"))
    out.update(start=start, end=end)
    if not isinstance(now, int) or isinstance(now, bool):
        return out
    if now > end:
        out.update(state="expired", expired_for_s=now - end)
    elif now < start:
        out.update(state="not-yet-valid", starts_in_s=start - now)
    else:
        out["state"] = "valid"
    return out


def strict_unsigned_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]],
                            header_list: Iterable[str]) -> list[str]:
    """The sent headers a strict-signature bucket wants signed that ``q-header-list`` lacks
    (lower-cased, wire order, once each): Host, Content-Length, Content-Type, Content-MD5, Range,
    the ACL headers and any ``x-cos-*`` (cos-xml-api.md §4.3). The token comes last: it is the
    one an SDK most often adds after signing."""
    listed = {n.lower() for n in header_list}
    out: list[str] = []
    seen: set[str] = set()      # `n in out` would make thousands of x-cos-* headers quadratic
    for name, _ in _pairs_of(headers):
        n = name.lower()
        if n in listed or n in seen:
            continue
        seen.add(n)
        if n in _STRICT_HEADERS or n.startswith("x-cos-"):
            out.append(n)
    if _TOKEN in out:
        out.remove(_TOKEN)
        out.append(_TOKEN)
    return out


def strict_unsigned_params(params: Iterable[tuple[str, str | None]], param_list: Iterable[str]) -> list[str]:
    """The query parameters sent but not in ``q-url-param-list`` (the signature's own excepted)."""
    listed = {n.lower() for n in param_list}
    out: list[str] = []
    seen: set[str] = set()
    for name, _ in params:
        n = cos_url_encode(name).lower()
        if n in listed or name.lower() in _UNSIGNED_PARAMS or n in seen:
            continue
        seen.add(n)
        out.append(n)
    return out


def token_needed(secret_id: str | None, known_token: str | None = None) -> bool | None:
    """Does a request signed by ``secret_id`` need ``x-cos-security-token``? True when a token is
    known for it (a temporary key in the credentials), False for a permanent id's shape (``AKID`` and
    32 more letters and digits), None when it cannot be told."""
    if known_token:
        return True
    if isinstance(secret_id, str) and len(secret_id) == 36 and secret_id.startswith("AKID") \
            and secret_id.isascii() and secret_id.isalnum():
        return False
    return None


# --- everything at once ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignatureAnalysis:
    auth_source: str | None            # "authorization" | "query" | "sign" | "field" | None
    auth: AuthString | None
    verified: bool                     # a SecretKey for the q-ak was used
    signature_matches: bool | None     # None when not verified
    mistake: str | None                # a MISTAKES word
    variant: dict | None               # what the client signed instead, when the search found it
    rebuilt: Rebuilt | None
    comparison: Comparison | None
    missing_headers: tuple[str, ...]
    missing_params: tuple[str, ...]
    suspects: tuple[str, ...]          # mistake words the request itself points to
    sign_time: dict
    token_sent: str | None             # "header" | "query" | None
    token_missing: bool | None
    checked: tuple[str, ...]
    variants_tried: int
    cos_format_string: str | None
    cos_string_to_sign: str | None
    expected_signature: str | None = field(default=None, repr=False)

    def evidence(self) -> dict:
        """The contract's signature evidence keys (plus a few more); signatures shortened."""
        auth = self.auth
        out = {
            "verified": self.verified,
            "mistake": self.mistake,
            "http_string": self.rebuilt.http_string if self.rebuilt else None,
            "string_to_sign": self.rebuilt.string_to_sign if self.rebuilt else None,
            "cos_format_string": self.cos_format_string,
            "cos_string_to_sign": self.cos_string_to_sign,
            "differences": [dict(d) for d in self.comparison.differences] if self.comparison else [],
            "header_list": ";".join(auth.header_list) if auth else None,
            "url_param_list": ";".join(auth.param_list) if auth else None,
            "auth_source": self.auth_source,
            "signature_matches": self.signature_matches,
            "signed_variant": dict(self.variant) if self.variant else None,
            "missing_headers": list(self.missing_headers),
            "missing_params": list(self.missing_params),
            "suspects": list(self.suspects),
            "sign_time": dict(self.sign_time),
            "token_sent": self.token_sent,
            "token_missing": self.token_missing,
            "checked": list(self.checked),
            "variants_tried": self.variants_tried,
            "auth_problems": list(auth.problems) if auth else [],
        }
        if self.comparison is not None:
            out["cos_sha1_consistent"] = self.comparison.cos_sha1_consistent
            out["sha1_matches_cos"] = self.comparison.sha1_matches_cos
        if self.verified:
            out["expected_signature"] = shorten(self.expected_signature)
        return out


_STRUCTURAL = ("missing q-signature", "missing q-ak", "missing q-key-time", "missing q-sign-time",
               "missing q-header-list", "missing q-url-param-list", "missing q-sign-algorithm",
               "empty authorization string")


def _malformed(auth: AuthString) -> bool:
    if auth.signature is None or auth.ak is None:
        return True
    for p in auth.problems:
        if p in _STRUCTURAL or p.startswith("q-sign-algorithm is") or "is not 'start;end'" in p \
                or "starts after it ends" in p or p.startswith("duplicate"):
            return True
    return False


def _suspects(parts: SignedParts, rebuilt: Rebuilt, endpoint: CosEndpoint | None) -> list[str]:
    out = []
    if rebuilt.missing_headers:
        out.append("signed-header-missing")
    if "+" in parts.raw_path:
        out.append("signed-other-path")
    if "host" in dict(rebuilt.headers) and "host" not in rebuilt.missing_headers:
        host = _header(parts, "host")
        if (endpoint is not None and endpoint.style == "custom") or (
                endpoint is None and host is not None and parse_cos_host(host, parts.raw_path) is None):
            out.append("signed-other-host")
    if rebuilt.missing_params:
        out.append("signed-param-changed")
    return out


def analyse_signature(method: str, raw_path: str, raw_query: str,
                      headers: Mapping[str, str] | Iterable[tuple[str, str]] | None, *,
                      secret_key: str | None = None, known_token: str | None = None,
                      server_now: int | None = None, cos_format_string: str | None = None,
                      cos_string_to_sign: str | None = None, alt_hosts: Sequence[str] = (),
                      endpoint: CosEndpoint | None = None, auth_text: str | None = None,
                      signed_path: str | None = None, fallback_values: Mapping[str, str] | None = None,
                      max_variants: int = MAX_VARIANTS,
                      secret_for: Callable[[str], tuple[str, str | None] | None] | None = None
                      ) -> SignatureAnalysis:
    """The whole signature check of one request, as plain data (``.evidence()`` for a finding).

    ``auth_text`` (with ``signed_path`` and ``fallback_values``) serves the POST form's
    ``Signature`` field: an auth string that is neither a header nor in the query. ``secret_for``
    (q-ak -> (SecretKey, token) or None) looks the key up once the auth string is parsed, when no
    ``secret_key`` is given: the auth string is read once. ``mistake``
    is, in this order: ``malformed`` (the auth string cannot be checked), ``expired-sign-time``
    (against ``server_now``), the search's word (with ``secret_key``), a listed header not sent,
    the first difference with COS's FormatString, the first suspect, and ``wrong-secret-key`` only
    when a key was tried and nothing else points elsewhere.
    """
    parts = request_parts(method, raw_path, raw_query, headers)
    if auth_text is not None:
        auth, source = parse_auth_string(auth_text), "field"
    else:
        auth, source = request_auth(parts)
    token_sent = "header" if _header(parts, _TOKEN) is not None else (
        "query" if any(n.lower() == _TOKEN for n, _ in parts.params) else None)
    checked: list[str] = []
    cos_fs = parse_format_string(cos_format_string)
    cos_sts = parse_string_to_sign(cos_string_to_sign)
    if auth is None:
        return SignatureAnalysis(None, None, False, None, None, None, None, None, (), (), (),
                                 {"state": "unknown", "start": None, "end": None, "now": server_now},
                                 token_sent, None, ("auth-string",), 0, cos_format_string, cos_string_to_sign)
    checked.append("auth-string")
    if secret_key is None and secret_for is not None and auth.ak:
        found = secret_for(auth.ak)
        if found is not None:
            secret_key, known_token = found
    rebuilt = rebuild(parts, auth, path=signed_path, fallback_values=fallback_values)
    comparison = None
    if cos_fs is not None or cos_sts is not None:
        comparison = compare_with_cos(rebuilt, cos_fs, cos_sts)
        checked.append("cos-format-string")
    times = sign_time_state(auth, server_now)
    if server_now is not None:
        checked.append("sign-time")
    needed = token_needed(auth.ak, known_token)
    token_missing = None if needed is None else (needed and token_sent is None)
    checked.append("header-list")
    suspects = _suspects(parts, rebuilt, endpoint)

    mistake: str | None = None
    variant = None
    matches = None
    tried = 0
    expected = None
    verified = secret_key is not None
    if verified:
        checked.append("secret-key")
        result = search_mistake(secret_key, parts, auth, rebuilt=rebuilt, alt_hosts=alt_hosts, cos_format=cos_fs,
                                cos_key_time=cos_sts.key_time if cos_sts is not None else None,
                                endpoint=endpoint, max_variants=max_variants)
        matches = result.word is None
        variant, tried, expected = result.variant, result.tried, result.expected_signature
        search_word = result.word
    else:
        search_word = None

    differences = comparison.differences if comparison is not None else ()
    if _malformed(auth):
        mistake = "malformed"
    elif not verified and not is_hex40(auth.signature or ""):
        mistake = "uppercase-hex" if _ANY_HEX40.fullmatch(auth.signature or "") else "malformed"
    elif times["state"] == "expired":
        mistake = "expired-sign-time"
    elif verified and matches:
        mistake = difference_mistake(differences)   # COS saw another request than the one we verified
    elif search_word not in (None, "wrong-secret-key"):
        mistake = search_word
    elif rebuilt.missing_headers:
        mistake = "signed-header-missing"
    elif difference_mistake(differences) is not None:
        mistake = difference_mistake(differences)
    elif verified and suspects:
        mistake = suspects[0]
    elif verified:
        mistake = "wrong-secret-key"
    return SignatureAnalysis(source, auth, verified, matches, mistake, variant, rebuilt, comparison,
                             rebuilt.missing_headers, rebuilt.missing_params, tuple(suspects), times, token_sent,
                             token_missing, tuple(checked), tried, cos_format_string, cos_string_to_sign, expected)
