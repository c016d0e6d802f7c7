"""Would the browser let the page use this COS answer? CORS checks for browser uploads.

A page uploading to COS from another origin needs a bucket CORS rule. When the rule is missing or
too narrow the browser hides COS's answer from the page (the JS sees only "Network Error"), but
the proxy sees both sides. This module re-runs the browser's checks (Fetch standard, CORS check
and CORS-preflight fetch) on plain header mappings and writes the exact rule that would fix it,
built from the request's own Origin, method and headers.

Words in ``CorsCheck.missing``: ``origin`` (Access-Control-Allow-Origin absent or another origin,
or ``*`` on a request with cookies), ``credentials`` (a request with cookies without
``Access-Control-Allow-Credentials: true``), ``method``, ``headers:<name>`` (one per request
header not allowed) and ``expose:etag`` (the page cannot read the ETag). Only ``expose:*`` items
leave ``allowed`` true: the browser still hands the answer over, just without that header.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cosdoctor.findings import catalogue
from cosdoctor.wire.errorxml import escape_xml

__all__ = ["CorsCheck", "check_preflight", "check_actual_response", "cors_evidence", "cors_rule",
           "with_cors_finding", "CORS_FINDING", "MAX_AGE_SECONDS", "EXPOSE_HEADERS"]

CORS_FINDING = "AccessForbidden_CORS"
MAX_AGE_SECONDS = 600
EXPOSE_HEADERS = ("ETag", "Location", "x-cos-request-id")
# Methods a COS CORS rule can name (PUT Bucket cors: AllowedMethod enumeration).
_COS_METHODS = ("GET", "PUT", "POST", "DELETE", "HEAD")
# Fetch: methods the browser normalises to upper case, and the ones that never need a listing.
_NORMALISED_METHODS = frozenset({"DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"})
_SAFELISTED_METHODS = frozenset({"GET", "HEAD", "POST"})
# More requested headers than this: the rule says "*" instead of listing them.
MAX_LISTED_HEADERS = 5
_MAX_NAMES = 64


@dataclass(frozen=True, slots=True)
class CorsCheck:
    origin: str | None
    method: str | None
    request_headers: tuple[str, ...]   # lower-case names from Access-Control-Request-Headers
    allowed: bool
    missing: tuple[str, ...]
    rule_xml: str                      # <CORSConfiguration> body for PUT Bucket cors
    rule_json: str                     # the same rule as the console / SDK JSON (CORSRules)


# --- header access ----------------------------------------------------------------------------

def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    """Case-insensitive view; a name that .items() yields twice is joined as HTTP does, with ", "."""
    out: dict[str, str] = {}
    try:
        items = headers.items()
    except AttributeError:
        return out
    for name, value in items:
        if not isinstance(name, str) or not isinstance(value, str):
            continue
        key = name.strip().lower()
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out


def _tokens(value: str | None) -> list[str]:
    """A comma list (`a,b`, `a, b`, `a ,, b`) as stripped non-empty items, first seen order."""
    if not value:
        return []
    seen: list[str] = []
    for item in value.split(","):
        item = item.strip()
        if item and item not in seen:
            seen.append(item)
        if len(seen) >= _MAX_NAMES:
            break
    return seen


def _normal_method(method: str | None) -> str | None:
    if method is None:
        return None
    method = method.strip()
    if not method:
        return None
    return method.upper() if method.upper() in _NORMALISED_METHODS else method


def _credentialed(request: Mapping[str, str]) -> bool:
    """A request carrying cookies was sent with credentials: `*` answers no longer count."""
    return "cookie" in request


# --- the browser's checks -----------------------------------------------------------------------

def _origin_missing(origin: str | None, response: Mapping[str, str], credentialed: bool) -> list[str]:
    """Fetch "CORS check": Access-Control-Allow-Origin must be `*` or the exact origin."""
    if origin is None:
        return []
    allow = response.get("access-control-allow-origin")
    if allow is None:
        return ["origin"]
    allow = allow.strip()
    if allow == "*" and not credentialed:
        return []
    if allow != origin:                  # byte-exact, as browsers compare it
        return ["origin"]
    if credentialed and (response.get("access-control-allow-credentials") or "").strip() != "true":
        return ["credentials"]
    return []


def _method_missing(method: str | None, response: Mapping[str, str], credentialed: bool) -> list[str]:
    if method is None or method in _SAFELISTED_METHODS:
        return []
    methods = _tokens(response.get("access-control-allow-methods"))
    if method in methods or ("*" in methods and not credentialed):
        return []
    return ["method"]


def _headers_missing(requested: Iterable[str], response: Mapping[str, str], credentialed: bool) -> list[str]:
    allowed = {name.lower() for name in _tokens(response.get("access-control-allow-headers"))}
    star = "*" in allowed and not credentialed
    missing = []
    for name in requested:
        # Fetch: `*` never covers Authorization, which must be named.
        if name in allowed or (star and name != "authorization"):
            continue
        missing.append(f"headers:{name}")
    return missing


def _expose_missing(response: Mapping[str, str], credentialed: bool) -> list[str]:
    exposed = {name.lower() for name in _tokens(response.get("access-control-expose-headers"))}
    if "etag" in exposed or ("*" in exposed and not credentialed):
        return []
    return ["expose:etag"]


def _blocking(missing: Iterable[str]) -> bool:
    return any(not item.startswith("expose:") for item in missing)


# --- public API ---------------------------------------------------------------------------------

def check_preflight(request_headers: Mapping[str, str], status: int,
                    response_headers: Mapping[str, str]) -> CorsCheck:
    """The browser's verdict on an OPTIONS preflight and its answer, with the rule that fixes it.

    A preflight answer outside 200-299 (COS sends 403 AccessForbidden when no rule matches)
    fails as a whole: origin, method and every requested header count as missing.
    """
    request = _lower(request_headers)
    response = _lower(response_headers)
    origin = request.get("origin")
    method = _normal_method(request.get("access-control-request-method"))
    names = tuple(name.lower() for name in _tokens(request.get("access-control-request-headers")))
    names = tuple(dict.fromkeys(names))
    credentialed = _credentialed(request)
    if not isinstance(status, int) or not 200 <= status <= 299:
        missing = ["origin", "method"] + [f"headers:{name}" for name in names]
    else:
        missing = (_origin_missing(origin, response, credentialed)
                   + _method_missing(method, response, credentialed)
                   + _headers_missing(names, response, credentialed))
    xml, js = cors_rule(origin, method, names)
    return CorsCheck(origin, method, names, not _blocking(missing), tuple(missing), xml, js)


def check_actual_response(request_headers: Mapping[str, str], status: int,
                          response_headers: Mapping[str, str], method: str = "POST") -> CorsCheck | None:
    """For a cross-origin request: can the page read COS's answer? None when it is not cross-origin.

    Without a matching Access-Control-Allow-Origin the browser hides the whole answer (status,
    body, the COS error) and the page sees a network error. `status` does not matter: the check
    is the same for a 204 and a 403. A request whose Origin names its own Host is same-origin.
    """
    request = _lower(request_headers)
    response = _lower(response_headers)
    origin = request.get("origin")
    if origin is None or _same_origin(origin, request.get("host")):
        return None
    credentialed = _credentialed(request)
    missing = _origin_missing(origin, response, credentialed) + _expose_missing(response, credentialed)
    xml, js = cors_rule(origin, method, ())
    return CorsCheck(origin, method, (), not _blocking(missing), tuple(missing), xml, js)


def cors_evidence(check: CorsCheck) -> dict:
    """Evidence for the catalogue finding AccessForbidden_CORS (keys: CONTRACT.md + catalogue)."""
    return {"origin": check.origin, "method": check.method, "headers": list(check.request_headers),
            "cors_rule": check.rule_xml, "cors_rule_json": check.rule_json, "missing": list(check.missing)}


def with_cors_finding(findings: list[dict], check: CorsCheck,
                      finding_id: str = CORS_FINDING) -> list[dict]:
    """`findings` with the CORS verdict folded in, for a flow the browser will not let through.

    COS's own 403 AccessForbidden is already explained as `finding_id` (from the error XML):
    that finding gets the CORS evidence, so its text names the origin and the rule. When COS said nothing (a 2xx preflight that still misses a header, a CDN in between) a
    new response finding goes first. An allowed check changes nothing.
    """
    if check.allowed:
        return list(findings)
    evidence = cors_evidence(check)
    out = list(findings)
    for i, found in enumerate(out):
        if found.get("id") == finding_id:
            merged = {**(found.get("evidence") or {}), **evidence}
            out[i] = catalogue.finding(finding_id, found.get("phase") or "response", merged)
            return out
    return [catalogue.finding(finding_id, "response", evidence), *out]


def cors_rule(origin: str | None, method: str | None, headers: Iterable[str]) -> tuple[str, str]:
    """(XML, JSON) of the one bucket CORS rule that allows this origin, method and headers."""
    origins = [origin if origin else "*"]
    methods = ["POST"]
    if method and method.upper() in _COS_METHODS and method.upper() not in methods:
        methods.append(method.upper())
    names = list(dict.fromkeys(h.lower() for h in headers))
    allowed_headers = names if 0 < len(names) <= MAX_LISTED_HEADERS else ["*"]
    expose = list(EXPOSE_HEADERS)
    parts = ["<CORSConfiguration><CORSRule>"]
    parts += [f"<AllowedOrigin>{_xml(o)}</AllowedOrigin>" for o in origins]
    parts += [f"<AllowedMethod>{m}</AllowedMethod>" for m in methods]
    parts += [f"<AllowedHeader>{_xml(h)}</AllowedHeader>" for h in allowed_headers]
    parts.append(f"<MaxAgeSeconds>{MAX_AGE_SECONDS}</MaxAgeSeconds>")
    parts += [f"<ExposeHeader>{_xml(h)}</ExposeHeader>" for h in expose]
    parts.append("</CORSRule></CORSConfiguration>")
    rule = {"AllowedOrigin": origins, "AllowedMethod": methods, "AllowedHeader": allowed_headers,
            "ExposeHeader": expose, "MaxAgeSeconds": MAX_AGE_SECONDS}
    return "".join(parts), json.dumps({"CORSRules": [rule]}, ensure_ascii=False)


def _xml(text: str) -> str:
    return escape_xml(text, whitespace=True)


def _same_origin(origin: str, host: str | None) -> bool:
    if not host:
        return False
    _, sep, rest = origin.partition("://")
    return bool(sep) and rest.lower().rstrip("/") == host.strip().lower()
