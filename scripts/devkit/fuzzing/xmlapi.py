"""Header-signed and presigned requests (the XML API): request recognition (cos/operations.py), the
signature engine (cos/xmlsig.py) and the auth strings it reads (parse_auth_string, auth_from_pairs).

The generator builds a valid request first, signed by an independent client written here (hashlib,
hmac and ``quote`` as cos-python-sdk-v5 signs), in one of the three places a signature travels
(``Authorization``, presigned q-* pairs, ``sign=``), optionally with one mistake a real client makes
planted in it (the expected mistake word is then known); then, most of the time, it damages the
request the way hostile or broken input does: empty, huge, duplicated, non-ASCII and control-character
values, times of thousands of digits, thousands of header names, percent garbage in the path, absurd
part numbers and upload ids, COS FormatStrings that are garbage.

Headers travel as one ``Name: value`` block, one header a line, so that the runner can measure and
shrink them like any other text; duplicates and wire order survive.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import random
import string
from urllib.parse import quote

from cosdoctor.cos.hosts import custom_endpoint, parse_cos_host
from cosdoctor.cos.operations import (MAX_PART_NUMBER, MAX_QUERY_PARAMS, MAX_VALUE_CHARS, OPERATIONS, CosRequest,
                                      QueryParam, carries_cos_signature, parse_part_number, parse_query,
                                      part_number_problem, query_value, recognise_request)
from cosdoctor.cos.secrets import shorten
from cosdoctor.cos.signature import auth_from_pairs, sign_key
from cosdoctor.cos.xmlsig import (DIFFERENCE_PARTS, MISTAKES, Comparison, CosFormatString, CosStringToSign,
                                  Rebuilt, SignatureAnalysis, SignedParts, analyse_signature, compare_with_cos,
                                  parse_format_string, parse_string_to_sign, rebuild, request_auth, request_parts,
                                  sign_time_state, strict_unsigned_headers, strict_unsigned_params, token_needed)
from devkit.fuzzing.auth import check_auth_fields
from devkit.fuzzing.common import BUCKET, COS_HOST, SECRET_ID, SECRET_KEY, WRONG_KEY, Violation, need, rand_text

KEYS = {"ok": SECRET_KEY, "wrong": WRONG_KEY, "none": None}
AUTH_MODES = ("authorization", "query", "sign")
AUTH_NAMES = ("q-sign-algorithm", "q-ak", "q-sign-time", "q-key-time", "q-header-list", "q-url-param-list",
              "q-signature")
EVIDENCE_KEYS = ("verified", "mistake", "http_string", "string_to_sign", "cos_format_string", "cos_string_to_sign",
                 "differences", "header_list", "url_param_list")
CHECKED_WORDS = frozenset({"auth-string", "cos-format-string", "sign-time", "header-list", "secret-key"})
SIGN_STATES = frozenset({"valid", "expired", "not-yet-valid", "unknown"})
# The search may spend a few HMACs (the swapped and binary chains) before it looks at its budget.
SEARCH_SLACK = 4
TOKEN = "x-cos-security-token"
SIGNATURE_NAMES = frozenset(AUTH_NAMES) | {"sign"}

# cos-post-object.md §3.3: the two official vectors, as they travel on the wire.
OFFICIAL_HOST = "examplebucket-1250000000.cos.ap-beijing.myqcloud.com"
OFFICIAL_PATH = "/exampleobject(%E8%85%BE%E8%AE%AF%E4%BA%91)"
OFFICIAL_UPLOAD = {
    "method": "PUT", "path": OFFICIAL_PATH, "query": "", "now": 1557990000,
    "headers": "Date: Thu, 16 May 2019 06:45:51 GMT\nHost: " + OFFICIAL_HOST + "\nContent-Type: text/plain\n"
               "Content-Length: 13\nContent-MD5: mQ/fVh815F3k6TAUm8m0eg==\nx-cos-acl: private\n"
               'x-cos-grant-read: uin="100000000011"\n',
    "auth": ("q-sign-algorithm=sha1&q-ak=" + SECRET_ID + "&q-sign-time=1557989151;1557996351"
             "&q-key-time=1557989151;1557996351&q-header-list=content-length;content-md5;content-type;date;host;"
             "x-cos-acl;x-cos-grant-read&q-url-param-list=&q-signature=3b8851a11a569213c17ba8fa7dcf2abec6935172"),
    "string_to_sign": "sha1\n1557989151;1557996351\n8b2751e77f43a0995d6e9eb9477f4b685cca4172\n",
}
OFFICIAL_DOWNLOAD = {
    "method": "GET", "path": OFFICIAL_PATH, "now": 1557990000,
    "query": "response-content-type=application%2Foctet-stream&response-cache-control=max-age%3D600",
    "headers": "Date: Thu, 16 May 2019 06:55:53 GMT\nHost: " + OFFICIAL_HOST + "\n",
    "auth": ("q-sign-algorithm=sha1&q-ak=" + SECRET_ID + "&q-sign-time=1557989753;1557996953"
             "&q-key-time=1557989753;1557996953&q-header-list=date;host"
             "&q-url-param-list=response-cache-control;response-content-type"
             "&q-signature=01681b8c9d798a678e43b685a9f1bba0f6c0e012"),
    "string_to_sign": "sha1\n1557989753;1557996953\n54ecfe22f59d3514fdc764b87a32d8133ea611e6\n",
}
OFFICIAL_VECTORS = {"upload": OFFICIAL_UPLOAD, "download": OFFICIAL_DOWNLOAD}


# --- the request as the check receives it --------------------------------------------------------

def header_pairs(block: str) -> list[tuple[str, str]]:
    """``Name: value`` lines, in order, duplicates kept (a line without a colon is not a header)."""
    out = []
    for line in block.split("\n") if isinstance(block, str) else ():
        name, colon, value = line.partition(":")
        if colon and name:
            out.append((name, value.strip(" \t")))
    return out


def header_block(pairs: list[tuple[str, str]]) -> str:
    return "".join(f"{n}: {v}\n" for n, v in pairs)


def header_map(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Lower-cased names; a header sent twice reads as its values joined by ", " (mitmproxy's Headers)."""
    out: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower()
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out


def _endpoint(kind: str, host: str | None, path: str):
    if kind == "parse":
        return parse_cos_host(host, path)
    if kind == "custom":
        return custom_endpoint(host or "")
    return None


# --- the invariants --------------------------------------------------------------------------------

def check_request(method: object, path: object, query: object, headers: dict, endpoint) -> CosRequest:
    req = recognise_request(method, path, query, headers, endpoint)  # type: ignore[arg-type]
    need(type(req) is CosRequest, "ops.type", type(req))
    need(req.operation in OPERATIONS, "ops.operation", req.operation)
    need(req.auth in ("header", "query", "anonymous"), "ops.auth", req.auth)
    need((req.auth, req.auth_source) in (("header", "authorization"), ("query", "query"), ("query", "sign"),
                                          ("anonymous", None)), "ops.auth-source", (req.auth, req.auth_source))
    need(req.token_in in ("header", "query", None), "ops.token", req.token_in)
    need(isinstance(req.method, str) and req.method == req.method.upper(), "ops.method", req.method)
    need(isinstance(req.path, str) and isinstance(req.raw_path, str), "ops.path-type")
    need(req.key is None or (isinstance(req.key, str) and req.key), "ops.key", req.key)
    need(req.upload_id is None or (isinstance(req.upload_id, str) and len(req.upload_id) <= MAX_VALUE_CHARS),
         "ops.upload-id-unbounded", len(req.upload_id or ""))
    pn = req.part_number
    need(pn is None or (type(pn) is int and 0 <= pn < 10 ** 9) or (isinstance(pn, str) and len(pn) <= 32),
         "ops.part-number", pn)
    problem = part_number_problem(pn)
    need(problem in (None, "not-a-number", "out-of-range"), "ops.part-number-problem", problem)
    need((problem is None) == (pn is None or (type(pn) is int and 1 <= pn <= MAX_PART_NUMBER)),
         "ops.part-number-problem-wrong", (pn, problem))
    need(isinstance(req.query, tuple) and len(req.query) <= MAX_QUERY_PARAMS
         and all(type(p) is QueryParam for p in req.query), "ops.query", len(req.query))
    need(type(req.query_truncated) is bool and type(req.both_signatures) is bool, "ops.flags")
    if req.operation == "PostObject":
        need(req.method == "POST" and str(headers.get("content-type", "")).lower().startswith("multipart/form-data"),
             "ops.post-object-not-a-form", (req.method, headers.get("content-type")))
    if req.operation == "Preflight":
        need(req.method == "OPTIONS", "ops.preflight-method", req.method)
    authorization = headers.get("authorization")
    need((req.auth == "header") == (isinstance(authorization, str) and authorization.strip() != ""),
         "ops.auth-header", (req.auth, str(authorization)[:60]))
    signed = carries_cos_signature(headers, query)  # type: ignore[arg-type]
    need(type(signed) is bool, "ops.carries-type")
    return req


def check_query(query: object) -> tuple[QueryParam, ...]:
    params, truncated = parse_query(query)  # type: ignore[arg-type]
    need(isinstance(params, tuple) and type(truncated) is bool, "query.type")
    need(len(params) <= MAX_QUERY_PARAMS, "query.unbounded", len(params))
    for p in params:
        need(type(p) is QueryParam and isinstance(p.name, str) and isinstance(p.raw, str) and p.raw,
             "query.param", p)
        need(p.value is None or isinstance(p.value, str), "query.value-type")
        need((p.value is None) == ("=" not in p.raw), "query.value-without-eq", p.raw[:60])
    if isinstance(query, str):
        need(truncated == (query.count("&") >= MAX_QUERY_PARAMS), "query.truncated-flag", query.count("&"))
    return params


def check_part_number(value: object) -> None:
    pn = parse_part_number(value)  # type: ignore[arg-type]
    need(pn is None or (type(pn) is int and 0 <= pn < 10 ** 9) or (isinstance(pn, str) and len(pn) <= 32),
         "part-number.type", pn)
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value.lstrip("0")) <= 9:
        need(pn == int(value), "part-number.value", (value[:20], pn))


def _check_comparison(comparison: object, code: str) -> Comparison:
    need(type(comparison) is Comparison, code + ".type", type(comparison))
    assert isinstance(comparison, Comparison)
    need(isinstance(comparison.differences, tuple), code + ".differences-type")
    for d in comparison.differences:
        need(isinstance(d, dict) and d.get("part") in DIFFERENCE_PARTS, code + ".part", d)
        need("sent" in d and "cos" in d, code + ".keys", sorted(d))
        need(all(isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in d.items()),
             code + ".value-type", {k: type(v).__name__ for k, v in d.items()})
    for flag in (comparison.cos_sha1_consistent, comparison.sha1_matches_cos):
        need(flag is None or type(flag) is bool, code + ".flag-type", flag)
    return comparison


def check_rebuilt(built: Rebuilt) -> None:
    need(type(built) is Rebuilt, "rebuild.type", type(built))
    names = [n for n, _ in built.headers]
    need(names == sorted(set(names)) and all(n == n.lower() and n for n in names), "rebuild.header-names",
         names[:10])
    pnames = [n for n, _ in built.params]
    need(pnames == sorted(set(pnames)), "rebuild.param-names", pnames[:10])
    need(set(built.missing_headers) <= set(names) and set(built.missing_params) <= set(pnames), "rebuild.missing")
    need(built.http_string.startswith(built.method + "\n") and built.http_string.endswith("\n"),
         "rebuild.http-shape", built.http_string[:80])
    digest = hashlib.sha1(built.http_string.encode("utf-8", "surrogatepass")).hexdigest()
    need(built.string_to_sign == f"sha1\n{built.sign_time}\n{digest}\n", "rebuild.string-to-sign")
    # COS's FormatString of this very request parses back to it, and compares equal with no difference
    # (unless a hostile name or method holds the separators themselves).
    plain = not any(c in x for x in (built.method, *names, *pnames) for c in "\n&=") \
        and "\n" not in built.sign_time
    fs = parse_format_string(built.http_string)
    need(type(fs) is CosFormatString and fs.well_formed, "format.own-not-well-formed", built.http_string[:80])
    sts = parse_string_to_sign(built.string_to_sign)
    need(type(sts) is CosStringToSign, "sts.type")
    comparison = _check_comparison(compare_with_cos(built, fs, sts), "compare")
    if plain:
        need(comparison.differences == (), "compare.self-differs", comparison.differences[:3])
        need(comparison.cos_sha1_consistent is True and comparison.sha1_matches_cos is True,
             "compare.self-sha1", (comparison.cos_sha1_consistent, comparison.sha1_matches_cos))
        need(sts.well_formed, "sts.own-not-well-formed", built.string_to_sign[:80])


def _secret_free(text: str, secrets: list[str], code: str) -> None:
    for secret in secrets:
        need(secret not in text, code, f"{len(secret)}-character secret found")


def check_analysis(a: object, *, secret_key: str | None, max_variants: int, request_text: str) -> SignatureAnalysis:
    need(type(a) is SignatureAnalysis, "analysis.type", type(a))
    assert isinstance(a, SignatureAnalysis)
    need(a.mistake is None or a.mistake in MISTAKES, "analysis.mistake-word", a.mistake)
    need(a.auth_source in (None, *AUTH_MODES, "field"), "analysis.auth-source", a.auth_source)
    need(a.verified == (secret_key is not None and a.auth is not None), "analysis.verified", a.verified)
    need((a.signature_matches is None) == (not a.verified), "analysis.matches-without-key", a.signature_matches)
    need(0 <= a.variants_tried <= max(max_variants, 1) + SEARCH_SLACK, "analysis.variants-unbounded",
         a.variants_tried)
    need(set(a.checked) <= CHECKED_WORDS, "analysis.checked-word", a.checked)
    need(a.sign_time.get("state") in SIGN_STATES, "analysis.sign-time-state", a.sign_time)
    for end in ("start", "end"):
        value = a.sign_time.get(end)
        need(value is None or (type(value) is int and 0 <= value < 10 ** 19), "analysis.sign-time-value", value)
    need(a.token_sent in ("header", "query", None), "analysis.token-sent", a.token_sent)
    need(a.token_missing in (True, False, None), "analysis.token-missing", a.token_missing)
    need(all(m in MISTAKES for m in a.suspects), "analysis.suspect-word", a.suspects)
    if a.auth is not None:
        check_auth_fields(a.auth)
        need(a.rebuilt is not None, "analysis.no-rebuild")
    if a.comparison is not None:
        _check_comparison(a.comparison, "analysis.compare")
    if a.signature_matches:
        need(a.mistake in (None, "malformed", "expired-sign-time", *(m for m in MISTAKES if m.startswith("signed-")),
                           "key-time-mismatch"), "analysis.verified-but-blamed", a.mistake)
    ev = a.evidence()
    need(isinstance(ev, dict) and all(k in ev for k in EVIDENCE_KEYS), "evidence.keys",
         sorted(ev) if isinstance(ev, dict) else type(ev))
    try:
        text = json.dumps(ev, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise Violation("evidence.not-json", str(exc)) from None
    need(ev["mistake"] == a.mistake and ev["verified"] == a.verified, "evidence.echo")
    need(isinstance(ev["differences"], list) and all(d.get("part") in DIFFERENCE_PARTS for d in ev["differences"]),
         "evidence.differences")
    need(("expected_signature" in ev) == a.verified, "evidence.expected-presence")
    if a.verified:
        need(ev["expected_signature"] == shorten(a.expected_signature), "evidence.expected-not-shortened",
             ev["expected_signature"])
    # Secrets: no SecretKey, no SignKey, and the correct signature only when the client sent it itself.
    secrets = [SECRET_KEY, WRONG_KEY]
    if secret_key is not None and a.rebuilt is not None:
        secrets += [sign_key(secret_key, t) for t in {a.rebuilt.key_time, a.rebuilt.sign_time}]
    if a.expected_signature and a.expected_signature not in request_text:
        secrets.append(a.expected_signature)
    _secret_free(text, secrets, "evidence.secret")
    _secret_free(repr(a), secrets, "analysis.repr-secret")
    return a


def check_xmlapi(*, method: str = "PUT", path: str = "/", query: str = "", headers: str = "",
                 endpoint: str = "parse", creds: str = "none", now: int | None = None,
                 cos_format_string: str | None = None, cos_string_to_sign: str | None = None,
                 max_variants: int = 400, field: str | None = None, fields: str = "",
                 expect: dict | None = None) -> tuple[CosRequest, SignatureAnalysis]:
    """Recognition, the parsers and the whole signature analysis of one request, invariants at each step;
    the request as recognised and the analysis. ``field`` is a POST form's ``Signature`` field (signed
    for ``POST /``, listed names looked up among ``fields``, a ``Name: value`` block like ``headers``)."""
    pairs = header_pairs(headers)
    hmap = header_map(pairs)
    host = next((v for n, v in pairs if n.lower() == "host"), None)
    ep = _endpoint(endpoint, host, path)
    params = check_query(query)
    req = check_request(method, path, query, hmap, ep)
    check_part_number(query_value(params, "partNumber"))

    parts = request_parts(method, path, query, pairs)
    need(type(parts) is SignedParts and parts.headers == tuple(pairs), "parts.headers")
    auth, source = request_auth(parts)
    need((auth is None) == (source is None) and source in (None, *AUTH_MODES), "parts.auth-source", source)
    # Recognition (the record's `auth`) and the signature engine find the same auth string. Two known
    # exceptions, left open (COS's rule is not documented): an Authorization header sent twice
    # (Headers joins the values, the engine reads the first), and q-*/sign names in another case
    # (`Q-AK=`: recognition compares names lower-cased, the engine as sent).
    if sum(n.lower() == "authorization" for n, _ in pairs) <= 1 and not any(
            p.name != p.name.lower() and p.name.lower() in SIGNATURE_NAMES for p in params):
        need(req.auth_source == source, "ops.auth-source-disagrees", (req.auth_source, source))
    check_auth_fields(auth_from_pairs(parts.params))
    if auth is not None:
        check_auth_fields(auth)
        built = rebuild(parts, auth)
        check_rebuilt(built)
        strict = strict_unsigned_headers(pairs, auth.header_list)
        listed = {n.lower() for n in auth.header_list}
        need(len(strict) == len(set(strict)) and not set(strict) & listed
             and all(n == n.lower() for n in strict), "strict.headers", strict[:10])
        need(TOKEN not in strict or strict[-1] == TOKEN, "strict.token-last", strict[-3:])
        sp = strict_unsigned_params(parts.params, auth.param_list)
        need(len(sp) == len(set(sp)), "strict.params", sp[:10])
        state = sign_time_state(auth, now)
        need(state["state"] in SIGN_STATES, "sign-time.state", state)
        need(token_needed(auth.ak) in (True, False, None), "token.needed")
    if cos_format_string is not None or cos_string_to_sign is not None:
        fs, sts = parse_format_string(cos_format_string), parse_string_to_sign(cos_string_to_sign)
        need(fs is None or type(fs) is CosFormatString, "format.type")
        need(sts is None or type(sts) is CosStringToSign, "sts.type")

    secret_key = KEYS[creds]
    form = {n.lower(): v for n, v in reversed(header_pairs(fields))} if field is not None else None
    analysis = analyse_signature(method, path, query, pairs, secret_key=secret_key, server_now=now,
                                 cos_format_string=cos_format_string, cos_string_to_sign=cos_string_to_sign,
                                 endpoint=ep, max_variants=max_variants, auth_text=field,
                                 signed_path="/" if field is not None else None, fallback_values=form)
    check_analysis(analysis, secret_key=secret_key, max_variants=max_variants,
                   request_text="\n".join((str(path), str(query), str(headers), str(field), fields)))
    need(analysis.auth_source == (source if field is None else "field"), "analysis.source-differs",
         (analysis.auth_source, source))
    if field is not None:
        need(analysis.rebuilt is not None and analysis.rebuilt.path == "/", "field.signed-path")
    if expect is not None:
        _check_expectation(expect, req, analysis, creds, carries_cos_signature(hmap, query))
    return req, analysis


def _check_expectation(expect: dict, req: CosRequest, a: SignatureAnalysis, creds: str, carried: bool) -> None:
    """A valid request, possibly with one planted client mistake: recognised as built (on any host, by
    its signature), the mistake named."""
    if expect["mode"] != "field":
        need(carried, "xmlapi.valid-not-recognised-as-signed", expect["mode"])
    if "operation" in expect:
        need(req.operation == expect["operation"], "xmlapi.valid-operation", (req.operation, expect["operation"]))
        need(req.key == expect["key"], "xmlapi.valid-key", (req.key, expect["key"]))
        need(req.auth_source == expect["mode"], "xmlapi.valid-auth-source", req.auth_source)
        need(req.upload_id == expect.get("upload_id") and req.part_number == expect.get("part_number"),
             "xmlapi.valid-multipart-ids", (req.upload_id, req.part_number))
        need(req.token_in == expect.get("token"), "xmlapi.valid-token", (req.token_in, expect.get("token")))
        need(req.both_signatures is False and req.query_truncated is False, "xmlapi.valid-flags")
    need(a.auth_source == expect["mode"], "xmlapi.valid-source", a.auth_source)
    problems = ("q-signature is not 40 lower-case hex characters",) if expect.get("twist") == "upper" else ()
    need(a.auth is not None and a.auth.problems == problems, "xmlapi.valid-auth-problems", a.auth and a.auth.problems)
    if "http_string" in expect:
        need(a.rebuilt is not None and a.rebuilt.http_string == expect["http_string"], "xmlapi.valid-http-string",
             (a.rebuilt and a.rebuilt.http_string, expect["http_string"]))
    if "string_to_sign" in expect:
        need(a.rebuilt is not None and a.rebuilt.string_to_sign == expect["string_to_sign"],
             "xmlapi.valid-string-to-sign", a.rebuilt and a.rebuilt.string_to_sign)
    if expect.get("cos_agrees"):    # COS's FormatString of what it received is ours, to the byte
        need(a.comparison is not None and a.comparison.differences == ()
             and a.comparison.sha1_matches_cos is True and a.comparison.cos_sha1_consistent is True,
             "xmlapi.valid-cos-format-string", a.comparison)
    twist, state = expect.get("twist"), a.sign_time["state"]
    need(state == expect.get("state", "valid"), "xmlapi.valid-sign-time", (state, a.sign_time))
    if creds == "ok":
        need(a.signature_matches == (twist in (None, "expired", "not-yet-valid")), "xmlapi.valid-verify",
             (twist, a.signature_matches, a.mistake, a.variant))
    elif creds == "wrong":
        need(a.signature_matches is False, "xmlapi.valid-wrong-key-verifies")
    wanted = expected_mistake(twist, creds, a)
    if wanted != "?":
        need(a.mistake == wanted, "xmlapi.valid-mistake", (twist, creds, a.mistake, wanted, a.variant))


PLANTED = {   # twist -> the word the analysis must name with the right key
    "method": "signed-other-method", "host": "signed-other-host", "content-type": "signed-header-changed",
    "plus": "signed-other-path", "encoded-path": "signed-other-path", "millis": "key-time-mismatch",
    "swap": "hmac-args-swapped", "upper": "uppercase-hex", "missing-header": "signed-header-missing",
}


def expected_mistake(twist: str | None, creds: str, a: SignatureAnalysis) -> str | None:
    """The word analyse_signature's documented order gives ("?" where it is not determined here)."""
    if twist == "expired":
        return "expired-sign-time"
    if twist == "upper":
        return "uppercase-hex" if creds != "wrong" else "?"
    if twist == "missing-header":
        return "signed-header-missing"
    if creds == "ok":
        return PLANTED.get(twist) if twist != "not-yet-valid" else None
    if creds == "none":
        return None
    return a.suspects[0] if a.suspects else "wrong-secret-key"


# --- the generator ---------------------------------------------------------------------------------

def _enc(text: str) -> str:
    """The client's encoding (cos-python-sdk-v5: quote with '-_.~' safe, upper-case hex)."""
    return quote(text, safe="-_.~")


def client_sign(secret: str, key_time: str, sign_time: str, method: str, path: str,
                params: list[tuple[str, str]], headers: list[tuple[str, str]], *, millis: bool = False,
                swap: bool = False) -> tuple[str, str, str, str]:
    """(signature, header list, param list, FormatString) for what the client thinks it sends."""
    hp = sorted((_enc(k).lower(), _enc(v)) for k, v in params)
    hh = sorted((_enc(k).lower(), _enc(v)) for k, v in headers)
    http = (f"{method.lower()}\n{path}\n" + "&".join(f"{k}={v}" for k, v in hp) + "\n"
            + "&".join(f"{k}={v}" for k, v in hh) + "\n")
    if millis:
        start, end = key_time.split(";")
        key_time = sign_time = f"{start}000;{end}000"
    sts = f"sha1\n{sign_time}\n{hashlib.sha1(http.encode()).hexdigest()}\n"
    key = hmac.new(secret.encode(), key_time.encode(), hashlib.sha1).hexdigest().encode()
    sig = (hmac.new(sts.encode(), key, hashlib.sha1) if swap else hmac.new(key, sts.encode(), hashlib.sha1))
    return sig.hexdigest(), ";".join(k for k, _ in hh), ";".join(k for k, _ in hp), http


OBJECT_KEYS = ("photo.jpg", "uploads/a b+c.jpg", "文件/测试 上传.png", "exampleobject(腾讯云)",
               "dir//double.txt", "😀.gif", "a%2Fb.txt", "~tilde_-.x", "x" * 300, "a+b", "中文+空格 .txt", "trailing/")
UPLOAD_ID = "1585130821cbb7df1d11846c073ad648e8f33b087cec2381df437acdc833cf654b9ecc6361"
# operation -> (method, query items as (name, value or None for a bare name))
SHAPES = {
    "PutObject": ("PUT", []),
    "GetObject": ("GET", [("response-content-type", "application/octet-stream"),
                          ("response-cache-control", "max-age=600")]),
    "HeadObject": ("HEAD", []),
    "DeleteObject": ("DELETE", []),
    "InitiateMultipartUpload": ("POST", [("uploads", None)]),
    "UploadPart": ("PUT", [("partNumber", "1"), ("uploadId", UPLOAD_ID)]),
    "CompleteMultipartUpload": ("POST", [("uploadId", UPLOAD_ID)]),
    "AbortMultipartUpload": ("DELETE", [("uploadId", UPLOAD_ID)]),
    "ListParts": ("GET", [("uploadId", UPLOAD_ID), ("max-parts", "1000")]),
    "Other": ("PUT", [("tagging", None)]),
}
TWISTS = (None,) * 8 + ("method", "host", "content-type", "plus", "encoded-path", "millis", "swap", "upper",
                        "missing-header", "expired", "not-yet-valid")


def _q(text: str, safe: str = "") -> str:
    """Percent-encoding as a client puts it on the wire; a surrogate-escaped byte goes back to that byte."""
    try:
        return quote(text, safe=safe, errors="surrogateescape")
    except UnicodeEncodeError:
        return quote(text, safe=safe, errors="surrogatepass")


def _query_string(items: list[tuple[str, str | None]], r: random.Random) -> str:
    return "&".join(_q(n, "-_.~") if v is None else f"{_q(n, '-_.~')}={_q(v, r.choice(('', '-_.~', ';')))}"
                    for n, v in items)


def gen_valid(r: random.Random, twist: str | None = "random") -> dict:
    """A valid XML-API request, signed by the independent client, with one planted mistake (a TWISTS
    word; "random" draws one, None plants none). A twist that does not fit the request drawn (a host
    swap on a CDN host, a charset on a request without Content-Type) is dropped: see expect["twist"]."""
    operation = r.choice(sorted(SHAPES))
    method, query_items = SHAPES[operation]
    query_items = list(query_items)
    if operation == "UploadPart":
        query_items[0] = ("partNumber", str(r.choice((1, 2, 10000, 42))))
    key = r.choice(OBJECT_KEYS)
    twist = r.choice(TWISTS) if twist == "random" else twist
    style = r.choice(("virtual",) * 4 + ("path", "custom"))
    host = {"virtual": COS_HOST, "path": "cos.ap-beijing.myqcloud.com", "custom": "cdn.example.com"}[style]
    signed_path = "/" + key if style != "path" else f"/{BUCKET}/{key}"
    safe = r.choice(("/", "/()!*'", "/~"))
    if twist == "plus":
        key = key if "+" in key else "a+b.jpg"
        signed_path = "/" + key if style != "path" else f"/{BUCKET}/{key}"
        safe = "/+"
    raw_path = quote(signed_path, safe=safe)
    cos_path = signed_path.replace("+", " ") if twist == "plus" else signed_path   # what COS decodes
    if twist == "encoded-path" and raw_path == cos_path:
        twist = None
    start = r.randint(1_500_000_000, 1_900_000_000)
    ttl = r.choice((60, 900, 3600, 86400 * 7))
    times = f"{start};{start + ttl}"
    now = start + r.randint(0, ttl)
    state = "valid"
    if twist == "expired":
        now, state = start + ttl + r.choice((1, 60, 8 * 3600, 10 ** 6)), "expired"
    elif twist == "not-yet-valid":
        now, state = start - r.choice((1, 30, 8 * 3600)), "not-yet-valid"

    headers: list[tuple[str, str]] = [("Host", host)]
    if method in ("PUT", "POST"):
        ctype = r.choice(("image/jpeg", "text/plain", "application/xml", "application/octet-stream"))
        headers += [("Content-Type", ctype), ("Content-Length", str(r.choice((0, 13, 1 << 20))))]
    for name, value in (("Content-MD5", "mQ/fVh815F3k6TAUm8m0eg=="), ("x-cos-meta-author", "张三 & co"),
                        ("x-cos-acl", "private"), ("Date", "Thu, 16 May 2019 06:45:51 GMT"),
                        ("Origin", "https://www.example.com"), ("x-cos-storage-class", "STANDARD_IA")):
        if r.random() < 0.25:
            headers.append((name, value))
    token = None
    if r.random() < 0.2:
        token = "tok" + "".join(r.choices(string.ascii_letters + string.digits + "+/=", k=r.choice((40, 300))))
    mode = r.choice(AUTH_MODES) if method != "POST" or r.random() < 0.3 else "authorization"
    if token is not None and mode == "authorization":
        headers.append(("x-cos-security-token", token))
    elif token is not None:
        query_items.append((TOKEN, token))

    listed_headers = [h for h in headers if h[0].lower() == "host" or r.random() < 0.7]
    if twist == "host" and style != "virtual":
        twist = None
    if twist == "content-type":
        if not any(n == "Content-Type" for n, _ in listed_headers):
            twist = None
    if twist == "missing-header" and not any(n not in ("Host",) for n, _ in listed_headers):
        twist = None
    listed_params = [(n, v or "") for n, v in query_items if n != TOKEN and r.random() < 0.7]

    sign_method, sign_headers = method, list(listed_headers)
    if twist == "method":
        sign_method = r.choice([m for m in ("GET", "PUT", "POST", "HEAD", "DELETE") if m != method])
    elif twist == "host":
        signed_host = r.choice((COS_HOST.replace("myqcloud.com", "tencentcos.cn"),
                                f"{BUCKET}.cos.accelerate.myqcloud.com", "cos.ap-beijing.myqcloud.com"))
        sign_headers = [(n, signed_host if n == "Host" else v) for n, v in sign_headers]
    path_for_signing = cos_path
    if twist in ("plus", "encoded-path"):
        path_for_signing = raw_path if twist == "encoded-path" else signed_path
    secret = SECRET_KEY
    signature, header_list, param_list, _ = client_sign(
        secret, times, times, sign_method, path_for_signing, listed_params, sign_headers,
        millis=twist == "millis", swap=twist == "swap")
    if twist == "upper":
        signature = signature.upper()
    if twist == "content-type":   # the browser added a charset after the SDK signed
        headers = [(n, v + "; charset=UTF-8" if n == "Content-Type" else v) for n, v in headers]
    if twist == "missing-header":
        dropped = r.choice([n for n, _ in listed_headers if n != "Host"])
        headers = [(n, v) for n, v in headers if n != dropped]

    # COS's answer to a twisted request: its FormatString of what it received (a listed header not
    # sent signs as "name="), computed by the independent client, not by the engine.
    received = {n.lower(): v for n, v in reversed(headers)}
    _, _, _, cos_http = client_sign(secret, times, times, method, cos_path, listed_params,
                                    [(n, received.get(n.lower(), "")) for n, _ in listed_headers])
    cos_sts = f"sha1\n{times}\n{hashlib.sha1(cos_http.encode()).hexdigest()}\n"
    auth = [("q-sign-algorithm", "sha1"), ("q-ak", SECRET_ID), ("q-sign-time", times), ("q-key-time", times),
            ("q-header-list", header_list), ("q-url-param-list", param_list), ("q-signature", signature)]
    upload_id = next((v for n, v in query_items if n == "uploadId"), None)
    part = next((v for n, v in query_items if n == "partNumber"), None)
    expect = {"operation": operation, "key": (cos_path[1:] if style != "path" else cos_path[len(BUCKET) + 2:]) or None,
              "mode": mode, "twist": twist, "state": state, "upload_id": upload_id,
              "part_number": int(part) if part is not None else None,
              "token": "header" if any(n == TOKEN for n, _ in headers) else (
                  "query" if any(n == TOKEN for n, _ in query_items) else None)}
    return {"method": method, "raw_path": raw_path, "query_items": query_items, "headers": headers, "auth": auth,
            "mode": mode, "now": now, "endpoint": "parse" if style != "custom" else "custom", "expect": expect,
            "cos_texts": (cos_http, cos_sts)}


def signed_request(r: random.Random, twist: str | None = "random", creds: str = "ok",
                   cos_answer: bool = False) -> dict:
    """check_xmlapi's arguments for one valid signed request (gen_valid), with its expectation."""
    req = gen_valid(r, twist)
    args = serialise(r, req)
    args.update(creds=creds, expect=req["expect"])
    if cos_answer and req["expect"]["twist"] is not None:
        args["cos_format_string"], args["cos_string_to_sign"] = req["cos_texts"]
        args["expect"] = dict(req["expect"], cos_agrees=True)
    return args


def signed_field(r: random.Random, creds: str = "ok") -> dict:
    """A POST Object form whose ``Signature`` field is a header-style auth string, as the SDKs' old
    ``getAuthorization`` made it: signed for ``post /`` over Host and some form fields. (Which of a
    header and a field of one name COS signs is open, cos-post-object.md §3.4: none is listed here.)"""
    start = r.randint(1_500_000_000, 1_900_000_000)
    times = f"{start};{start + 900}"
    fields = [("key", r.choice(OBJECT_KEYS)), ("success_action_status", "201"),
              ("Content-Type", r.choice(("image/jpeg", "text/plain"))), ("x-cos-meta-a", "文件 +")]
    headers = [("Host", COS_HOST), ("Content-Type", "multipart/form-data; boundary=----x")]
    listed = [f for f in [headers[0], *fields] if f[0] != "Content-Type" and r.random() < 0.5]
    signature, header_list, _, _ = client_sign(SECRET_KEY, times, times, "post", "/", [], listed)
    auth = (f"q-sign-algorithm=sha1&q-ak={SECRET_ID}&q-sign-time={times}&q-key-time={times}"
            f"&q-header-list={header_list}&q-url-param-list=&q-signature={signature}")
    return {"method": "POST", "path": "/", "query": "", "headers": header_block(headers), "creds": creds,
            "now": start + 1, "field": auth, "fields": header_block(fields),
            "expect": {"mode": "field", "twist": None}}


def official_request(name: str, mode: str, creds: str = "ok") -> dict:
    """check_xmlapi's arguments for an official vector, its auth string in the carrier ``mode``."""
    vector = OFFICIAL_VECTORS[name]
    headers = header_pairs(vector["headers"])
    query = vector["query"]
    if mode == "authorization":
        headers.append(("Authorization", vector["auth"]))
    else:
        items = (item.partition("=") for item in vector["auth"].split("&"))
        carried = ("&".join(f"{n}={quote(v, safe='')}" for n, _, v in items) if mode == "query"
                   else "sign=" + quote(vector["auth"], safe=""))
        query = f"{query}&{carried}" if query else carried
    return {"method": vector["method"], "path": vector["path"], "query": query, "headers": header_block(headers),
            "creds": creds, "now": vector["now"],
            "expect": {"mode": mode, "twist": None, "string_to_sign": vector["string_to_sign"]}}


def serialise(r: random.Random, req: dict) -> dict:
    """The check's arguments: the auth pairs put where the mode says, headers as one block."""
    query = _query_string(req["query_items"], r)
    headers = list(req["headers"])
    auth_text = "&".join(f"{n}={v}" if v is not None else n for n, v in req["auth"])
    if req["mode"] == "authorization":
        headers.insert(r.randrange(len(headers) + 1), ("Authorization", auth_text))
    elif req["mode"] == "query":
        safe = r.choice(("", ";", "-_.~"))
        presigned = "&".join(f"{n}={_q(v, safe)}" if v is not None else n for n, v in req["auth"])
        query = f"{query}&{presigned}" if query else presigned
    else:
        signed = f"sign={_q(auth_text)}"
        query = f"{query}&{signed}" if query else signed
    return {"method": req["method"], "path": req["raw_path"], "query": query, "headers": header_block(headers),
            "endpoint": req["endpoint"], "now": req["now"]}


# Repetition stops here: a URL of 10 MB is past what any client sends, and its percent-decoding alone
# (urllib, ~0.25 us a byte) would measure urllib rather than the core.
MAX_REPEATED = 200_000
HOSTILE_VALUES = ("", " ", "\x00", "\r", "\x7f\x1f", "\t", "=", "&", ";", ";;", "%", "%zz", "%E8%85", "%00", "+",
                  "文件上传", "😀", "\ufeff", "\udcff\udce8", "é", "a" * 40, "A" * 40, "0" * 39, "0" * 41,
                  "1;", ";1", "2;1", "-1;5", "1 ;2", "１;２", "1.5;2", "0x1;0x2")


def _hostile_value(r: random.Random) -> str:
    roll = r.random()
    if roll < 0.35:
        return r.choice(HOSTILE_VALUES)
    if roll < 0.55:
        return rand_text(r, 30)
    if roll < 0.7:   # times of thousands of digits
        n = r.choice((20, 300, 4301, 5000, 20_000, 100_000))
        return r.choice(("1;" + "9" * n, "9" * n + ";1", "1" * n + ";" + "2" * n))
    if roll < 0.85:  # header or parameter lists of thousands of names
        n = r.choice((100, 1000, 5000, 20_000))
        name = r.choice(("x-cos-meta-{}", "h{}", "{}", "Host", "content-type", "名{}", "a&b{}", "a=b{}", ""))
        return ";".join(name.format(i) for i in range(n))
    return r.choice(("x", "文", "\x00", "%", "+", ";")) * r.choice((1000, 10_000, 100_000))


def _damage_auth(r: random.Random, auth: list) -> list:
    auth = list(auth)
    op = r.randrange(10)
    i = r.randrange(len(auth)) if auth else 0
    if op == 0 and auth:
        auth.pop(i)
    elif op == 1 and auth:                       # duplicated pair, same or another value
        auth.insert(r.randrange(len(auth) + 1), (auth[i][0], auth[i][1] if r.random() < 0.5 else _hostile_value(r)))
    elif op == 2 and auth:
        auth[i] = (r.choice((auth[i][0].upper(), " " + auth[i][0], auth[i][0] + " ", auth[i][0] + "\x00")), auth[i][1])
    elif op == 3:
        auth.insert(i, (r.choice(("", "q-", "q-foo", rand_text(r, 8), "sign")), _hostile_value(r)))
    elif op == 4 and auth:
        auth[i] = (auth[i][0], None)              # a bare name, no '='
    elif op == 5:
        r.shuffle(auth)
    elif op == 6:                                # repeated pairs, the whole kept under ~200k characters
        factor = r.choice((2, 50, 1000))
        if sum(len(n) + len(v or "") for n, v in auth) * factor <= MAX_REPEATED:
            auth = auth * factor
    elif auth:
        auth[i] = (auth[i][0], _hostile_value(r))
    return auth


def _damage_path(r: random.Random, path: str) -> str:
    op = r.randrange(6)
    i = r.randrange(len(path) + 1)
    if op == 0:
        junk = r.choice(("%", "%z", "%zz", "%E8%85", "%00", "%2F", "%25", "+", " ", "//", "%C0%AF"))
        return path[:i] + junk + path[i:]
    if op == 1:
        return path[:i] + r.choice(("文件", "😀", "\udce4\udcb8", "\x00", "\t", "\x7f", "?", "#")) + path[i:]
    if op == 2:
        return r.choice(("", "/", "//", "*", "x", "/%", "/" + "%E8" * 3000, "/" + "a/" * 20_000, "/+" * 5000))
    if op == 3:
        return path.replace("/", "//")
    if op == 4:
        return path + r.choice(("/", "%20", "+", "."))
    return rand_text(r, 40, surrogates=True)


def _damage_query(r: random.Random, items: list) -> list:
    items = list(items)
    op = r.randrange(7)
    if op == 0:
        items.append(("partNumber", r.choice(("0", "-1", "10001", "1" * 4000, "１２", "1e3", " 1", "", "00001",
                                              "999999999", "1000000000", "0x10", "\u0661", "1;2"))))
    elif op == 1:
        items.append(("uploadId", r.choice(("", "x" * 1_000_000, "文件" * 500, "\x00\r\x7f", UPLOAD_ID * 3,
                                            rand_text(r, 80)))))
    elif op == 2:
        items += [(r.choice(("uploads", "uploadId", "partNumber", "UPLOADS", "acl", "sign", "q-ak")), None)]
    elif op == 3:
        items += [(rand_text(r, 6), rand_text(r, 10)) for _ in range(r.choice((1, 5, 250, 5000)))]
    elif op == 4:
        items += [("", ""), ("=", "="), ("%", "%"), ("+", "+ +"), ("文", "件")][: r.randint(1, 5)]
    elif op == 5:
        factor = r.choice((2, 300))
        if sum(len(n) + len(v or "") for n, v in items) * factor <= MAX_REPEATED:
            items = items * factor
    else:
        items.append((TOKEN, _hostile_value(r)))
    return items


def _damage_headers(r: random.Random, headers: list) -> list:
    headers = list(headers)
    op = r.randrange(7)
    i = r.randrange(len(headers)) if headers else 0
    if op == 0 and headers:
        headers.pop(i)
    elif op == 1 and headers:
        headers.insert(r.randrange(len(headers) + 1), (headers[i][0], _hostile_value(r)[:2000]))
    elif op == 2 and headers:
        headers[i] = (headers[i][0], r.choice(("", "\x00", "é", "\udcff", "文件", headers[i][1] + "; charset=UTF-8",
                                               headers[i][1].upper(), " " + headers[i][1])))
    elif op == 3:
        headers += [(f"x-cos-meta-{j}", "v") for j in range(r.choice((10, 1000, 5000)))]
    elif op == 4:
        headers.append(("Authorization", r.choice(("", " ", "q-", "\x00", _hostile_value(r)))))
    elif op == 5:
        headers.append((r.choice(("Host", "HOST", "host")), r.choice(("cdn.example.com", "", "[::1]:8080", "a..b",
                                                                      COS_HOST.upper() + ":443", "\udcff"))))
    else:
        headers.append((TOKEN, r.choice(("", "t" * 5000, "文"))))
    return headers


def _cos_answer_texts(r: random.Random, args: dict) -> tuple[str | None, str | None]:
    """What COS's SignatureDoesNotMatch answer may carry: its own FormatString/StringToSign of this
    request (our rebuild, with one part changed the way COS or a CDN changes it), or garbage."""
    pairs = header_pairs(args["headers"])
    parts = request_parts(args["method"], args["path"], args["query"], pairs)
    auth, _ = request_auth(parts)
    if auth is None or r.random() < 0.3:
        return (r.choice((None, "", "\n", "put\n/\n\n\n", rand_text(r, 200), "\n" * 5000, "a=b&" * 5000)),
                r.choice((None, "", "sha1\n", "sha1\n1;2\n" + "0" * 40 + "\n", rand_text(r, 80))))
    built = rebuild(parts, auth)
    text = built.http_string
    op = r.randrange(6)
    if op == 0:
        text = text.replace("\n", "\nx", 1)                     # another path
    elif op == 1:
        text = text.replace(" ", "+")
    elif op == 2:
        text = "get" + text[text.find("\n"):]
    elif op == 3:
        text = text.replace("host=", "host=cdn.", 1)
    elif op == 4:
        lines = text.split("\n")
        text = "\n".join(lines[:3] + [lines[3].partition("&")[2]] + lines[4:])
    digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()
    sts = f"sha1\n{r.choice((built.sign_time, '1;2', ''))}\n{digest}\n"
    return text if r.random() < 0.9 else text[: r.randrange(len(text) + 1)], sts if r.random() < 0.8 else None


def gen_xmlapi(r: random.Random) -> dict:
    if r.random() < 0.04:                        # the official vectors, untouched or in another carrier
        name = r.choice(sorted(OFFICIAL_VECTORS))
        return official_request(name, r.choice(AUTH_MODES), r.choice(("ok", "ok", "none")))
    creds = r.choice(("ok", "ok", "ok", "none", "wrong"))
    if r.random() < 0.05:                        # the POST form's Signature field, valid or damaged
        args = signed_field(r, creds)
        if r.random() < 0.5:
            args.pop("expect")
            args["field"] = "&".join(f"{n}={v}" if v is not None else n for n, v in _damage_auth(
                r, [tuple(item.split("=", 1)) for item in args["field"].split("&")]))
            args["fields"] = header_block(_damage_headers(r, header_pairs(args["fields"])))
        return args
    if r.random() < 0.3:
        return signed_request(r, creds=creds, cos_answer=r.random() < 0.5)
    req = gen_valid(r)
    for _ in range(r.choice((1, 1, 2, 3))):
        part = r.randrange(5)
        if part == 0:
            req["auth"] = _damage_auth(r, req["auth"])
        elif part == 1:
            req["raw_path"] = _damage_path(r, req["raw_path"])
        elif part == 2:
            req["query_items"] = _damage_query(r, req["query_items"])
        elif part == 3:
            req["headers"] = _damage_headers(r, req["headers"])
        else:
            req["mode"] = r.choice(AUTH_MODES)
    args = serialise(r, req)
    if r.random() < 0.1:                         # signed twice: a header and a query signature at once
        args["headers"] += f"Authorization: {args['query'][:500]}\n"
    if r.random() < 0.1:
        args["method"] = r.choice(("put", "Get", "", "OPTIONS", "PATCH", "PÜT", "\x00", "GET\n", "G" * 1000))
    if r.random() < 0.3:
        args["cos_format_string"], args["cos_string_to_sign"] = _cos_answer_texts(r, args)
    roll = r.random()
    if roll < 0.1:
        args["now"] = r.choice((None, 0, -1, 2 ** 70, -(2 ** 70), 10 ** 19, args["now"] + 10 ** 9))
    if r.random() < 0.2:
        args["max_variants"] = r.choice((0, 1, 5, 50, 2000))
    args["endpoint"] = r.choice((req["endpoint"],) * 3 + ("none", "custom"))
    args["creds"] = creds
    return args
