"""Which COS operation a request is, how it is authenticated, and which object it names.

Input is the request as it was on the wire: the method, the raw path (still percent-encoded), the
raw query string, the headers with lower-cased names, and the COS endpoint from ``hosts``.
COS's rules (cos-xml-api.md §8 "Request recognition", §5 key encoding):

- ``PUT /<key>`` PutObject (a copy, ``x-cos-copy-source``, is Other); ``PUT ?partNumber&uploadId``
  UploadPart; ``POST ?uploads`` on a key InitiateMultipartUpload; ``POST ?uploadId``
  CompleteMultipartUpload; ``DELETE ?uploadId`` AbortMultipartUpload; ``GET /<key>?uploadId``
  ListParts; ``GET /?uploads`` Other; ``OPTIONS`` Preflight; a multipart/form-data ``POST`` without
  a sub-resource PostObject. Bucket-level and sub-resource requests (``?acl``, ``?tagging``…) are Other.
- The key is the path decoded as COS decodes it: percent-decoding as UTF-8, and a raw ``+`` read as
  a space (PicGo#638: ``…zh+en…`` on the wire, ``…zh en…`` in COS's FormatString); one leading ``/``
  dropped; path-style hosts (``cos.<region>.myqcloud.com/<bucket>/<key>``) drop the bucket segment.
- ``auth`` here is ``header`` (an ``Authorization`` header), ``query`` (a presigned URL: q-* pairs
  or the single ``sign=`` parameter) or ``anonymous``. The POST form's ``policy`` and
  ``signature-field`` modes are decided from the form, elsewhere.

Nothing here raises on hostile input: values that do not fit (a part number of 4000 digits, an
upload id of a megabyte) are kept, bounded, for the findings to report.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote

from cosdoctor.cos.hosts import CosEndpoint

__all__ = [
    "OPERATIONS",
    "MAX_QUERY_PARAMS",
    "MAX_PART_NUMBER",
    "MAX_VALUE_CHARS",
    "QueryParam",
    "CosRequest",
    "split_target",
    "cos_unquote",
    "parse_query",
    "query_value",
    "decode_path",
    "object_key",
    "parse_part_number",
    "part_number_problem",
    "recognise_request",
    "carries_cos_signature",
]

OPERATIONS = ("PostObject", "PutObject", "InitiateMultipartUpload", "UploadPart", "CompleteMultipartUpload",
              "AbortMultipartUpload", "ListParts", "GetObject", "HeadObject", "DeleteObject", "Preflight", "Other")

MAX_QUERY_PARAMS = 200   # far above any COS request; a hostile query of 100,000 pairs is cut here
MAX_PART_NUMBER = 10000  # cos-xml-api.md §3.2
MAX_VALUE_CHARS = 256    # upload ids are ~70 characters; longer values are kept clipped
_PART_DIGITS = 9         # an int() of at most 9 digits is cheap and exact; longer is reported as text

# Query names (lower-cased) that make a request something other than the plain object operation.
# Parameters outside this set (response-*, versionId, custom tags, the signature's own q-*) do not.
_SUB_RESOURCES = frozenset({
    "acl", "tagging", "cors", "restore", "append", "select", "select-type", "symlink", "retention",
    "legal-hold", "lifecycle", "policy", "website", "referer", "logging", "inventory", "versioning",
    "domain", "encryption", "replication", "intelligenttiering", "object-lock", "delete", "list-type",
    "uploads", "uploadid", "partnumber", "torrent", "origin", "accelerate",
})
_SIGNATURE_PARAMS = frozenset({"q-sign-algorithm", "q-ak", "q-sign-time", "q-key-time", "q-header-list",
                               "q-url-param-list", "q-signature"})
TOKEN_NAME = "x-cos-security-token"


@dataclass(frozen=True, slots=True)
class QueryParam:
    name: str            # decoded (percent-decoding, '+' as space)
    value: str | None    # decoded; None when the item has no '=' (``?uploads``)
    raw: str             # the item as on the wire


@dataclass(frozen=True, slots=True)
class CosRequest:
    operation: str                  # one of OPERATIONS
    auth: str                       # "header" | "query" | "anonymous"
    auth_source: str | None         # "authorization" | "query" (q-* pairs) | "sign" (?sign=) | None
    token_in: str | None            # where x-cos-security-token was sent: "header" | "query" | None
    method: str                     # upper-cased
    raw_path: str
    path: str                       # decoded as COS decodes it (what the signature's UriPathname is)
    key: str | None                 # the object key, None for bucket-level requests
    bucket: str | None
    region: str | None
    upload_id: str | None           # clipped to MAX_VALUE_CHARS
    part_number: int | str | None   # int when it is a short decimal, else the text (clipped)
    query: tuple[QueryParam, ...]
    query_truncated: bool           # more than MAX_QUERY_PARAMS items: the rest were not read
    both_signatures: bool           # an Authorization header and a query signature at once
    sub_resources: frozenset[str] = frozenset()   # the sub-resource names of the query, lower-cased

    @property
    def token(self) -> bool:
        return self.token_in is not None


def split_target(target: str) -> tuple[str, str]:
    """``("/a%20b", "x=1")`` from a request target ``/a%20b?x=1`` (a fragment is dropped)."""
    if not isinstance(target, str):
        return "/", ""
    target = target.split("#", 1)[0]
    path, _, query = target.partition("?")
    return path, query


def cos_unquote(text: str, *, plus_is_space: bool = True) -> str:
    """Percent-decoding as UTF-8 (invalid bytes become U+FFFD, stray ``%`` stays), ``+`` as a space."""
    if not isinstance(text, str):
        return ""
    if plus_is_space and "+" in text:
        text = text.replace("+", " ")
    if "%" not in text:
        return text
    return unquote(text, encoding="utf-8", errors="replace")


def parse_query(raw_query: str, limit: int = MAX_QUERY_PARAMS) -> tuple[tuple[QueryParam, ...], bool]:
    """The query's items in wire order, decoded, and whether more than ``limit`` were cut off."""
    if not isinstance(raw_query, str) or not raw_query:
        return (), False
    items = raw_query.split("&", limit)
    truncated = len(items) > limit
    params = []
    for item in items[:limit]:
        if not item:
            continue
        name, eq, value = item.partition("=")
        params.append(QueryParam(cos_unquote(name), cos_unquote(value) if eq else None, item))
    return tuple(params), truncated


def query_value(params: tuple[QueryParam, ...], name: str) -> str | None:
    """The first value of ``name`` (compared lower-cased); "" for a present name without a value."""
    name = name.lower()
    for p in params:
        if p.name.lower() == name:
            return p.value if p.value is not None else ""
    return None


def decode_path(raw_path: str) -> str:
    """The path as COS reads it (and signs it): percent-decoded, a raw ``+`` read as a space."""
    if not isinstance(raw_path, str) or not raw_path:
        return "/"
    return cos_unquote(raw_path)


def object_key(path: str, endpoint: CosEndpoint | None = None) -> str | None:
    """The key a decoded ``path`` names: one leading ``/`` dropped, and for a path-style endpoint the
    bucket segment too. None when the path names the bucket itself."""
    if not isinstance(path, str):
        return None
    rest = path[1:] if path.startswith("/") else path
    if endpoint is not None and endpoint.style == "path" and endpoint.bucket:
        head, slash, tail = rest.partition("/")
        if head == endpoint.bucket:
            rest = tail if slash else ""
    return rest or None


def _clip(value: str, limit: int = MAX_VALUE_CHARS) -> str:
    return value if len(value) <= limit else value[:limit]


def parse_part_number(value: str | None) -> int | str | None:
    """An int for a short ASCII decimal (range not checked), the clipped text otherwise."""
    if value is None:
        return None
    significant = value.lstrip("0")
    if value.isascii() and value.isdigit() and len(significant) <= _PART_DIGITS:
        return int(significant or "0")
    return _clip(value, 32)


def part_number_problem(value: int | str | None) -> str | None:
    """None for a part number COS accepts (1..10000), else "not-a-number" or "out-of-range"."""
    if value is None:
        return None
    if isinstance(value, str):
        # parse_part_number keeps as text only non-decimals and decimals of more than 9 digits
        return "out-of-range" if value.isascii() and value.isdigit() else "not-a-number"
    return None if 1 <= value <= MAX_PART_NUMBER else "out-of-range"


def _is_multipart_form(headers: Mapping[str, str]) -> bool:
    ctype = headers.get("content-type") or ""
    return isinstance(ctype, str) and ctype[:19].lower() == "multipart/form-data"


def _operation(method: str, key: str | None, names: frozenset[str], headers: Mapping[str, str]) -> str:
    if method == "OPTIONS":
        return "Preflight"
    subs = names & _SUB_RESOURCES
    if method == "POST":
        if key is not None and subs == {"uploads"}:
            return "InitiateMultipartUpload"
        if key is not None and subs == {"uploadid"}:
            return "CompleteMultipartUpload"
        if not subs and _is_multipart_form(headers):
            return "PostObject"
        return "Other"
    if key is None:
        return "Other"   # bucket-level: GET /?uploads (ListMultipartUploads), GET / (list), PUT / ...
    if method == "PUT":
        if subs == {"partnumber", "uploadid"}:
            return "Other" if headers.get("x-cos-copy-source") is not None else "UploadPart"
        if not subs:
            return "Other" if headers.get("x-cos-copy-source") is not None else "PutObject"
        return "Other"
    if method == "GET":
        if subs == {"uploadid"}:
            return "ListParts"
        return "GetObject" if not subs else "Other"
    if method == "HEAD":
        return "HeadObject" if not subs else "Other"
    if method == "DELETE":
        if subs == {"uploadid"}:
            return "AbortMultipartUpload"
        return "DeleteObject" if not subs else "Other"
    return "Other"


def recognise_request(method: str, raw_path: str, raw_query: str, headers: Mapping[str, str],
                      endpoint: CosEndpoint | None = None) -> CosRequest:
    """Operation, auth mode, token, key, upload id and part number of one request (never raises).

    ``headers`` maps lower-cased names to values (``mitmproxy``'s Headers, or a plain dict).
    """
    method = method.upper() if isinstance(method, str) else ""
    raw_path = raw_path if isinstance(raw_path, str) else "/"
    params, truncated = parse_query(raw_query)
    names = frozenset(p.name.lower() for p in params)
    path = decode_path(raw_path)
    key = object_key(path, endpoint)

    authorization = headers.get("authorization")
    has_header = isinstance(authorization, str) and authorization.strip() != ""
    has_query = bool(names & _SIGNATURE_PARAMS)
    has_sign = "sign" in names
    if has_header:
        auth, source = "header", "authorization"
    elif has_query:
        auth, source = "query", "query"
    elif has_sign:
        auth, source = "query", "sign"
    else:
        auth, source = "anonymous", None

    if headers.get(TOKEN_NAME) is not None:
        token_in = "header"
    elif TOKEN_NAME in names:
        token_in = "query"
    else:
        token_in = None

    upload_id = query_value(params, "uploadId")
    return CosRequest(
        operation=_operation(method, key, names, headers),
        auth=auth,
        auth_source=source,
        token_in=token_in,
        method=method,
        raw_path=raw_path,
        path=path,
        key=key,
        bucket=endpoint.bucket if endpoint is not None else None,
        region=endpoint.region if endpoint is not None else None,
        upload_id=_clip(upload_id) if upload_id is not None else None,
        part_number=parse_part_number(query_value(params, "partNumber")),
        query=params,
        query_truncated=truncated,
        both_signatures=has_header and (has_query or has_sign),
        sub_resources=names & _SUB_RESOURCES,
    )


def _signed(text: str) -> bool:
    t = text.lower()
    return "q-sign-algorithm=sha1" in t and "q-ak=" in t and "q-signature=" in t


def _signed_encoded(text: str) -> bool:
    t = text.lower()
    return "q-sign-algorithm%3dsha1" in t and "q-ak%3d" in t and "q-signature%3d" in t


def carries_cos_signature(headers: Mapping[str, str], raw_query: str = "") -> bool:
    """Cheap test, for requests on any host: does the ``Authorization`` header or the query carry a
    COS signature (``q-sign-algorithm=sha1`` with ``q-ak`` and ``q-signature``, also URL-encoded
    inside ``sign=``)? Substring tests only; nothing is parsed."""
    authorization = headers.get("authorization")
    if isinstance(authorization, str) and "q-" in authorization and _signed(authorization):
        return True
    if not isinstance(raw_query, str) or "q-" not in raw_query:
        return False
    return _signed(raw_query) or _signed_encoded(raw_query)
