from __future__ import annotations

import base64
import hashlib
import hmac
import json
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosdoctor.cos.policy import decode_policy
from cosdoctor.cos.xmlsig import MISTAKES, analyse_signature
from cosdoctor.cos.signature import (
    KEY_TIME_RE,
    AuthString,
    cos_url_encode,
    KEY_TIME_SHIFT_BOTH_S,
    KEY_TIME_SHIFT_ONE_S,
    find_post_mistake,
    key_time_candidates,
    signed_key_time,
    header_signature,
    hmac_sha1_hex,
    is_hex40,
    parse_auth_string,
    post_signature,
    sha1_hex,
    sign_key,
)
from vectors import POST_POLICY_B64, POST_POLICY_TEXT

# Official D-POST / D-SIGN credentials (published test values, not real keys).
SECRET_ID = "AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q"
SECRET_KEY = "BQYIM75p8x0iWVFSIgqEKwFprpRSVHlz"

# --- POST vector (D-POST "signature protection use cases") ---------------------------------------
POST_KEY_TIME = "1567150692;1567157892"
POST_SIGN_KEY = "39acc8c9f34ba5b19bce4e965b370cd3f62d2fba"
POST_STRING_TO_SIGN = "d5d903b8360468bc81c1311f134989bc8c8b5b89"
POST_SIGNATURE = "7758dc9a832e9d301dca704cacbf9d9f8172fdef"
# Derived (not official): the same document minified with separators=(",", ":").
MIN_STRING_TO_SIGN = "c4e81462c1b138ea21187c9a8ec5def2bd3c29f2"
MIN_SIGNATURE = "0ec259577418945406d2c2c945d7627f2b8903e2"

# --- header vectors (D-SIGN, 2020 Chinese revision) ----------------------------------------------
PATH = "/exampleobject(腾讯云)"
HOST = "examplebucket-1250000000.cos.ap-beijing.myqcloud.com"
UPLOAD_KEY_TIME = "1557989151;1557996351"
UPLOAD_HEADERS = [
    ("Date", "Thu, 16 May 2019 06:45:51 GMT"),
    ("Host", HOST),
    ("Content-Type", "text/plain"),
    ("Content-Length", "13"),
    ("Content-MD5", "mQ/fVh815F3k6TAUm8m0eg=="),
    ("x-cos-acl", "private"),
    ("x-cos-grant-read", 'uin="100000000011"'),
]
UPLOAD_SIGN_KEY = "eb2519b498b02ac213cb1f3d1a3d27a3b3c9bc5f"
UPLOAD_HEADER_LIST = "content-length;content-md5;content-type;date;host;x-cos-acl;x-cos-grant-read"
UPLOAD_HTTP_HEADERS = (
    "content-length=13&content-md5=mQ%2FfVh815F3k6TAUm8m0eg%3D%3D&content-type=text%2Fplain&"
    "date=Thu%2C%2016%20May%202019%2006%3A45%3A51%20GMT&host=examplebucket-1250000000.cos.ap-beijing.myqcloud.com&"
    "x-cos-acl=private&x-cos-grant-read=uin%3D%22100000000011%22"
)
UPLOAD_STRING_TO_SIGN = "sha1\n1557989151;1557996351\n8b2751e77f43a0995d6e9eb9477f4b685cca4172\n"
UPLOAD_SIGNATURE = "3b8851a11a569213c17ba8fa7dcf2abec6935172"

DOWNLOAD_KEY_TIME = "1557989753;1557996953"
DOWNLOAD_PARAMS = [("response-content-type", "application/octet-stream"), ("response-cache-control", "max-age=600")]
DOWNLOAD_HEADERS = [("Date", "Thu, 16 May 2019 06:55:53 GMT"), ("Host", HOST)]
DOWNLOAD_SIGN_KEY = "937914bf490e9e8c189836aad2052e4feeb35eaf"
DOWNLOAD_PARAM_LIST = "response-cache-control;response-content-type"
DOWNLOAD_HTTP_PARAMS = "response-cache-control=max-age%3D600&response-content-type=application%2Foctet-stream"
DOWNLOAD_HEADER_LIST = "date;host"
DOWNLOAD_HTTP_HEADERS = (
    "date=Thu%2C%2016%20May%202019%2006%3A55%3A53%20GMT&host=examplebucket-1250000000.cos.ap-beijing.myqcloud.com"
)
DOWNLOAD_STRING_TO_SIGN = "sha1\n1557989753;1557996953\n54ecfe22f59d3514fdc764b87a32d8133ea611e6\n"
DOWNLOAD_SIGNATURE = "01681b8c9d798a678e43b685a9f1bba0f6c0e012"


def _hmac(key: bytes, msg: bytes) -> bytes:
    return hmac.new(key, msg, hashlib.sha1).digest()


# --- primitives ----------------------------------------------------------------------------------


def test_primitives_match_hashlib() -> None:
    assert sha1_hex(b"abc") == "a9993e364706816aba3e25717850c26c9cd0d89d"
    assert hmac_sha1_hex("key", "msg") == hmac_sha1_hex(b"key", b"msg") == _hmac(b"key", b"msg").hex()
    assert hmac_sha1_hex("密钥", "消息") == _hmac("密钥".encode(), "消息".encode()).hex()


# --- POST vector ---------------------------------------------------------------------------------


def test_post_vector() -> None:
    policy = decode_policy(POST_POLICY_B64)
    assert policy.raw == POST_POLICY_TEXT.encode() and len(policy.raw) == 555
    assert sign_key(SECRET_KEY, POST_KEY_TIME) == POST_SIGN_KEY
    sig = post_signature(SECRET_KEY, POST_KEY_TIME, policy.raw)
    assert (sig.sign_key, sig.string_to_sign, sig.signature) == (POST_SIGN_KEY, POST_STRING_TO_SIGN, POST_SIGNATURE)


def test_post_minified_vector() -> None:
    minified = json.dumps(json.loads(POST_POLICY_TEXT), separators=(",", ":")).encode()
    sig = post_signature(SECRET_KEY, POST_KEY_TIME, minified)
    assert (sig.sign_key, sig.string_to_sign, sig.signature) == (POST_SIGN_KEY, MIN_STRING_TO_SIGN, MIN_SIGNATURE)


def test_sha1_of_base64_differs() -> None:
    assert sha1_hex(POST_POLICY_B64.encode()).startswith("2d648489")  # the spec's counter-example


def test_post_signature_repr_hides_secrets() -> None:
    text = repr(post_signature(SECRET_KEY, POST_KEY_TIME, POST_POLICY_TEXT.encode()))
    assert POST_SIGN_KEY not in text and SECRET_KEY not in text
    assert POST_SIGNATURE in text


# --- header vectors ------------------------------------------------------------------------------


def test_upload_vector() -> None:
    assert sign_key(SECRET_KEY, UPLOAD_KEY_TIME) == UPLOAD_SIGN_KEY
    sig = header_signature(SECRET_KEY, UPLOAD_KEY_TIME, "PUT", PATH, [], UPLOAD_HEADERS)
    assert sig.key_time == UPLOAD_KEY_TIME
    assert sig.param_list == ""
    assert sig.header_list == UPLOAD_HEADER_LIST
    assert sig.http_string == f"put\n{PATH}\n\n{UPLOAD_HTTP_HEADERS}\n"
    assert sig.string_to_sign == UPLOAD_STRING_TO_SIGN
    assert sig.signature == UPLOAD_SIGNATURE
    assert SECRET_KEY not in repr(sig) and UPLOAD_SIGN_KEY not in repr(sig)


def test_download_vector() -> None:
    assert sign_key(SECRET_KEY, DOWNLOAD_KEY_TIME) == DOWNLOAD_SIGN_KEY
    sig = header_signature(SECRET_KEY, DOWNLOAD_KEY_TIME, "GET", PATH, DOWNLOAD_PARAMS, DOWNLOAD_HEADERS)
    assert sig.param_list == DOWNLOAD_PARAM_LIST
    assert sig.header_list == DOWNLOAD_HEADER_LIST
    assert sig.http_string == f"get\n{PATH}\n{DOWNLOAD_HTTP_PARAMS}\n{DOWNLOAD_HTTP_HEADERS}\n"
    assert sig.string_to_sign == DOWNLOAD_STRING_TO_SIGN
    assert sig.signature == DOWNLOAD_SIGNATURE


def test_header_order_does_not_matter() -> None:
    sig = header_signature(SECRET_KEY, UPLOAD_KEY_TIME, "put", PATH, [], list(reversed(UPLOAD_HEADERS)))
    assert sig.signature == UPLOAD_SIGNATURE


def test_param_without_value_and_post_form_signature() -> None:
    sig = header_signature(SECRET_KEY, "1;2", "POST", "/", [("acl", "")], [])
    assert sig.http_string == "post\n/\nacl=\n\n"
    assert sig.param_list == "acl" and sig.header_list == ""


@pytest.mark.parametrize(
    "text, expected",
    [
        ("AZaz09-_.~", "AZaz09-_.~"),
        (" ", "%20"),
        ("/", "%2F"),
        ("!'()*", "%21%27%28%29%2A"),
        ("=&+;,:@$?#[]", "%3D%26%2B%3B%2C%3A%40%24%3F%23%5B%5D"),
        ('"<>\\^`{|}%', "%22%3C%3E%5C%5E%60%7B%7C%7D%25"),
        ("腾讯云", "%E8%85%BE%E8%AE%AF%E4%BA%91"),
        ("", ""),
    ],
)
def test_cos_url_encode(text: str, expected: str) -> None:
    assert cos_url_encode(text) == expected


# --- authorization strings -----------------------------------------------------------------------

VALID_AUTH = (f"q-sign-algorithm=sha1&q-ak={SECRET_ID}&q-sign-time={DOWNLOAD_KEY_TIME}&q-key-time={DOWNLOAD_KEY_TIME}"
              f"&q-header-list={DOWNLOAD_HEADER_LIST}&q-url-param-list={DOWNLOAD_PARAM_LIST}"
              f"&q-signature={DOWNLOAD_SIGNATURE}")


def test_parse_valid_auth_string() -> None:
    auth = parse_auth_string(VALID_AUTH)
    assert auth == AuthString("sha1", SECRET_ID, DOWNLOAD_KEY_TIME, DOWNLOAD_KEY_TIME, ("date", "host"),
                              ("response-cache-control", "response-content-type"), DOWNLOAD_SIGNATURE, ())


def test_parse_d_post_old_sample() -> None:
    auth = parse_auth_string(
        "q-sign-algorithm=sha1&q-ak=AKIDZfbOAo7cllgPvF9cXFrJD0a1ICvR98JM&q-sign-time=1512983814;1512984814"
        "&q-key-time=1512983814;1512984814&q-url-param-list=&q-header-list=host"
        "&q-signature=2ffd2ae714e7445a8da000ec5d51771ff5056500")
    assert auth.problems == ()
    assert auth.header_list == ("host",) and auth.param_list == ()


def _replace(name: str, value: str | None) -> str:
    parts = [p for p in VALID_AUTH.split("&") if not p.startswith(name + "=")]
    if value is not None:
        parts.append(f"{name}={value}")
    return "&".join(parts)


@pytest.mark.parametrize(
    "text, problem",
    [
        (_replace("q-ak", None), "missing q-ak"),
        (_replace("q-signature", None), "missing q-signature"),
        (_replace("q-header-list", None), "missing q-header-list"),
        (_replace("q-key-time", "1557989753"), "q-key-time is not 'start;end'"),
        (_replace("q-key-time", "1557989753; 1557996953"), "q-key-time is not 'start;end'"),
        (_replace("q-key-time", "1557989753;1557996953\n") + "&x=1", "q-key-time is not 'start;end'"),
        (_replace("q-sign-time", "1557996953;1557989753"), "q-sign-time starts after it ends"),
        (_replace("q-sign-algorithm", "SHA1"), "q-sign-algorithm is 'SHA1', not 'sha1'"),
        (_replace("q-signature", DOWNLOAD_SIGNATURE.upper()), "q-signature is not 40 lower-case hex characters"),
        (_replace("q-signature", "abc"), "q-signature is not 40 lower-case hex characters"),
        (VALID_AUTH + "&x=1", "unknown parameter 'x'"),
        (VALID_AUTH + "&Q-AK=1", "unknown parameter 'Q-AK' (did you mean 'q-ak'?)"),
        (VALID_AUTH + f"&q-ak={SECRET_ID}", "duplicate q-ak"),
        (VALID_AUTH + "&junk", "'junk' has no '='"),
        ("", "empty authorization string"),
    ],
)
def test_auth_string_problems(text: str, problem: str) -> None:
    assert problem in parse_auth_string(text).problems


def test_auth_string_surrounding_whitespace() -> None:
    assert parse_auth_string(f"  {VALID_AUTH}\r\n").problems == ()


@pytest.mark.parametrize(
    "value, ok",
    [("1567150692;1567157892", True), ("0;0", True), ("1567150692", False), ("1;2\n", False), ("1; 2", False),
     ("１;2", False), ("-1;2", False), ("", False)],
)
def test_key_time_re(value: str, ok: bool) -> None:
    assert (KEY_TIME_RE.match(value) is not None) is ok


@pytest.mark.parametrize(
    "value, ok",
    [(POST_SIGNATURE, True), (POST_SIGNATURE.upper(), False), (POST_SIGNATURE[:-1], False),
     (POST_SIGNATURE + "0", False), (POST_SIGNATURE[:-1] + "g", False), ("", False)],
)
def test_is_hex40(value: str, ok: bool) -> None:
    assert is_hex40(value) is ok


# --- POST mistake search -------------------------------------------------------------------------

POLICY = decode_policy(POST_POLICY_B64)
SIGN_KEY_RAW = _hmac(SECRET_KEY.encode(), POST_KEY_TIME.encode())
OTHER_KEY_TIME = "1567150692;1567160000"


def _buggy(*, key_time: str = POST_KEY_TIME, policy_bytes: bytes = POST_POLICY_TEXT.encode(),
           swap_key: bool = False, swap_sig: bool = False, binary_key: bool = False,
           binary_sts: bool = False, secret: str = SECRET_KEY) -> str:
    """A signature computed the way a buggy client does, written independently of the module."""
    key_parts = (key_time.encode(), secret.encode()) if swap_key else (secret.encode(), key_time.encode())
    key_digest = _hmac(*key_parts)
    key = key_digest if binary_key else key_digest.hex().encode()
    sts_digest = hashlib.sha1(policy_bytes).digest()
    sts = sts_digest if binary_sts else sts_digest.hex().encode()
    return (_hmac(sts, key) if swap_sig else _hmac(key, sts)).hex()


def test_buggy_helper_reproduces_the_vector() -> None:
    assert _buggy() == POST_SIGNATURE  # so each delta below changes exactly one thing


@pytest.mark.parametrize(
    "provided, expected",
    [
        (POST_SIGNATURE, None),
        (POST_SIGNATURE.upper(), "uppercase-hex"),
        (POST_SIGNATURE[:20].upper() + POST_SIGNATURE[20:], "uppercase-hex"),
        (base64.b64encode(bytes.fromhex(POST_SIGNATURE)).decode(), "malformed"),  # base64 instead of hex
        (POST_SIGNATURE[:-1], "malformed"),
        ("", "malformed"),
        (f" {POST_SIGNATURE}", "malformed"),
        (_buggy(swap_key=True).upper(), "malformed"),  # upper-case and wrong: not simply upper-case
        (_buggy(policy_bytes=POST_POLICY_B64.encode()), "sha1-of-base64-policy"),
        (MIN_SIGNATURE, "policy-bytes-differ"),  # signed the minified JSON.stringify text
        (_buggy(policy_bytes=POST_POLICY_TEXT.encode() + b"\n"), "policy-bytes-differ"),  # trailing newline
        (_buggy(policy_bytes=POST_POLICY_TEXT.replace("\n", "\r\n").encode()), "policy-bytes-differ"),  # CRLF
        (_buggy(policy_bytes=json.dumps(json.loads(POST_POLICY_TEXT), indent=2).encode()), "policy-bytes-differ"),
        (_buggy(policy_bytes=json.dumps(json.loads(POST_POLICY_TEXT), sort_keys=True).encode()),
         "policy-bytes-differ"),
        (_buggy(key_time=OTHER_KEY_TIME), "key-time-mismatch"),
        (_buggy(swap_key=True), "hmac-args-swapped"),
        (_buggy(swap_sig=True), "hmac-args-swapped"),
        (_buggy(swap_key=True, swap_sig=True), "hmac-args-swapped"),
        (_buggy(binary_key=True), "binary-sign-key"),
        (_buggy(binary_sts=True), "binary-sign-key"),
        (_buggy(binary_key=True, binary_sts=True), "binary-sign-key"),
        (_buggy(secret="AnotherSecretKeyOf32Characters00"), "wrong-secret-key"),
    ],
)
def test_find_post_mistake(provided: str, expected: str | None) -> None:
    assert find_post_mistake(SECRET_KEY, POST_KEY_TIME, POLICY, provided,
                             other_key_times=[POST_KEY_TIME, OTHER_KEY_TIME]) == expected


def test_key_time_mismatch_needs_the_candidate() -> None:
    provided = _buggy(key_time=OTHER_KEY_TIME)
    assert find_post_mistake(SECRET_KEY, POST_KEY_TIME, POLICY, provided) == "wrong-secret-key"
    assert signed_key_time(SECRET_KEY, POST_KEY_TIME, hashlib.sha1(POST_POLICY_TEXT.encode()).hexdigest(),
                           provided) is None


def test_policy_bytes_differ_other_direction() -> None:
    # The client sent the minified policy but signed the official pretty text: no standard
    # serialiser writes "{ "acl": ... }", so this cannot be explained.
    minified = json.dumps(json.loads(POST_POLICY_TEXT), separators=(",", ":")).encode()
    policy = decode_policy(base64.b64encode(minified).decode())
    assert find_post_mistake(SECRET_KEY, POST_KEY_TIME, policy, MIN_SIGNATURE) is None
    assert find_post_mistake(SECRET_KEY, POST_KEY_TIME, policy, POST_SIGNATURE) == "wrong-secret-key"
    # ...but a pretty-printed JSON.stringify(policy, null, 2) is found.
    assert find_post_mistake(SECRET_KEY, POST_KEY_TIME, policy,
                             _buggy(policy_bytes=json.dumps(json.loads(POST_POLICY_TEXT), indent=2).encode())
                             ) == "policy-bytes-differ"


def test_policy_bytes_differ_ensure_ascii() -> None:
    document = {"expiration": "2030-01-01T00:00:00Z", "conditions": [["starts-with", "$key", "上传/"]]}
    sent = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    signed = json.dumps(document, separators=(",", ":")).encode()  # \u escapes
    policy = decode_policy(base64.b64encode(sent).decode())
    assert find_post_mistake(SECRET_KEY, POST_KEY_TIME, policy, _buggy(policy_bytes=signed)) == "policy-bytes-differ"


def test_mistake_search_on_undecodable_policy() -> None:
    policy = decode_policy("not base64!")
    assert policy.raw == b""
    assert find_post_mistake(SECRET_KEY, POST_KEY_TIME, policy, _buggy(policy_bytes=b"")) is None
    assert find_post_mistake(SECRET_KEY, POST_KEY_TIME, policy, _buggy(
        policy_bytes=b"not base64!")) == "sha1-of-base64-policy"


# --- the download vector's mistakes, through the XML-API engine (cos.xmlsig) -------------------------------------------------------------------

DL_AUTH = parse_auth_string(VALID_AUTH)


def _header_buggy(*, key_time: str = DOWNLOAD_KEY_TIME, sign_time: str = DOWNLOAD_KEY_TIME, swap_key: bool = False,
                  swap_sig: bool = False, binary_key: bool = False, secret: str = SECRET_KEY) -> str:
    http_string = f"get\n{PATH}\n{DOWNLOAD_HTTP_PARAMS}\n{DOWNLOAD_HTTP_HEADERS}\n"
    sts = f"sha1\n{sign_time}\n{hashlib.sha1(http_string.encode()).hexdigest()}\n".encode()
    key_parts = (key_time.encode(), secret.encode()) if swap_key else (secret.encode(), key_time.encode())
    key = _hmac(*key_parts) if binary_key else _hmac(*key_parts).hex().encode()
    return (_hmac(sts, key) if swap_sig else _hmac(key, sts)).hex()


def header_mistake(auth: AuthString, method: str, path: str, params, headers) -> str | None:
    """What the XML-API engine (cos.xmlsig) says of this request signed with `auth`, the SecretKey
    loaded: None when it verifies, else the mistake word."""
    text = (f"q-sign-algorithm={auth.algorithm}&q-ak={auth.ak}&q-sign-time={auth.sign_time}"
            f"&q-key-time={auth.key_time}&q-header-list={';'.join(auth.header_list)}"
            f"&q-url-param-list={';'.join(auth.param_list)}"
            + (f"&q-signature={auth.signature}" if auth.signature is not None else ""))
    query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in params)
    sa = analyse_signature(method, quote(path, safe="/"), query, [*headers, ("Authorization", text)],
                           secret_key=SECRET_KEY)
    return None if sa.signature_matches else sa.mistake


def _with_signature(auth: AuthString, signature: str | None, **changes: str) -> AuthString:
    values = {s: getattr(auth, s) for s in AuthString.__slots__}
    values.update(signature=signature, **changes)
    return AuthString(**values)


def test_header_buggy_helper_reproduces_the_vector() -> None:
    assert _header_buggy() == DOWNLOAD_SIGNATURE


@pytest.mark.parametrize(
    "provided, expected",
    [
        (DOWNLOAD_SIGNATURE, None),
        (DOWNLOAD_SIGNATURE.upper(), "uppercase-hex"),
        (DOWNLOAD_SIGNATURE[:10], "malformed"),
        (None, "malformed"),
        (_header_buggy(swap_key=True), "hmac-args-swapped"),
        (_header_buggy(swap_sig=True), "hmac-args-swapped"),
        (_header_buggy(swap_key=True, swap_sig=True), "hmac-args-swapped"),
        (_header_buggy(binary_key=True), "binary-sign-key"),
        (_header_buggy(secret="AnotherSecretKeyOf32Characters00"), "wrong-secret-key"),
    ],
)
def test_download_vector_mistakes(provided: str | None, expected: str | None) -> None:
    auth = _with_signature(DL_AUTH, provided)
    assert header_mistake(auth, "GET", PATH, DOWNLOAD_PARAMS, DOWNLOAD_HEADERS) == expected


SIGN_TIME_OTHER = "1557989753;1557990000"


@pytest.mark.parametrize(
    "provided, expected",
    [
        # q-sign-time differs from q-key-time: SignKey from q-key-time, StringToSign with q-sign-time verifies
        (_header_buggy(sign_time=SIGN_TIME_OTHER), None),
        (_header_buggy(key_time=SIGN_TIME_OTHER, sign_time=SIGN_TIME_OTHER), "key-time-mismatch"),
        (_header_buggy(), "key-time-mismatch"),  # q-key-time used for both
        (_header_buggy(key_time=SIGN_TIME_OTHER, sign_time=DOWNLOAD_KEY_TIME), "key-time-mismatch"),
    ],
)
def test_find_header_key_time_mismatch(provided: str, expected: str | None) -> None:
    auth = _with_signature(DL_AUTH, provided, sign_time=SIGN_TIME_OTHER)
    assert header_mistake(auth, "GET", PATH, DOWNLOAD_PARAMS, DOWNLOAD_HEADERS) == expected


def test_header_mistake_signs_only_listed_names() -> None:
    extra = [*DOWNLOAD_HEADERS, ("X-Forwarded-For", "10.0.0.1"), ("User-Agent", "test")]
    reordered_case = [("host", HOST), ("DATE", DOWNLOAD_HEADERS[0][1])]
    assert header_mistake(DL_AUTH, "GET", PATH, DOWNLOAD_PARAMS, extra) is None
    assert header_mistake(DL_AUTH, "GET", PATH, DOWNLOAD_PARAMS, reordered_case) is None
    # A listed header that is missing signs as an empty value: the contract's word for it.
    assert header_mistake(DL_AUTH, "GET", PATH, DOWNLOAD_PARAMS, DOWNLOAD_HEADERS[1:]) == "signed-header-missing"
    empty_date = header_signature(SECRET_KEY, DOWNLOAD_KEY_TIME, "GET", PATH, DOWNLOAD_PARAMS,
                                  [("Date", ""), ("Host", HOST)]).signature
    assert header_mistake(_with_signature(DL_AUTH, empty_date), "GET", PATH, DOWNLOAD_PARAMS,
                               DOWNLOAD_HEADERS[1:]) is None


def test_signature_field_mode_round_trip() -> None:
    # The `Signature` form field: POST, path "/", no params, empty header list (D-WEB form demo).
    sig = header_signature(SECRET_KEY, POST_KEY_TIME, "POST", "/", [], [])
    auth = parse_auth_string(f"q-sign-algorithm=sha1&q-ak={SECRET_ID}&q-sign-time={POST_KEY_TIME}"
                             f"&q-key-time={POST_KEY_TIME}&q-header-list=&q-url-param-list=&q-signature={sig.signature}")
    assert auth.problems == ()
    assert header_mistake(auth, "POST", "/", [], [("Host", HOST)]) is None


# --- never raises --------------------------------------------------------------------------------

CONTRACT_WORDS = {None, "sha1-of-base64-policy", "policy-bytes-differ", "key-time-mismatch", "hmac-args-swapped",
                  "binary-sign-key", "uppercase-hex", "wrong-secret-key", "malformed"}
auth_items = st.builds(lambda k, v: f"{k}={v}",
                       st.sampled_from(["q-sign-algorithm", "q-ak", "q-sign-time", "q-key-time", "q-header-list",
                                        "q-url-param-list", "q-signature"]) | st.text(max_size=8),
                       st.text(max_size=50)) | st.text(max_size=10)


@settings(max_examples=300)
@given(st.text())
def test_parse_auth_string_never_raises(text: str) -> None:
    auth = parse_auth_string(text)
    assert all(isinstance(p, str) for p in auth.problems)


@settings(max_examples=300)
@given(st.lists(auth_items, max_size=9).map("&".join), st.text(max_size=8), st.text(max_size=8))
def test_header_search_never_raises(text: str, name: str, value: str) -> None:
    auth = parse_auth_string(text)
    assert header_mistake(auth, "POST", "/", [(name, value)], [(name, value)]) in {None, *MISTAKES}


@given(st.text(max_size=60), st.text(max_size=30), st.lists(st.text(max_size=30), max_size=3))
def test_post_search_never_raises(provided: str, key_time: str, others: list[str]) -> None:
    assert find_post_mistake(SECRET_KEY, key_time, POLICY, provided, other_key_times=others) in CONTRACT_WORDS


def test_auth_from_pairs_matches_the_string_form() -> None:
    from cosdoctor.cos.signature import auth_from_pairs
    pairs = [tuple(p.split("=", 1)) for p in VALID_AUTH.split("&")]
    extra = [("x-cos-security-token", "tok"), ("response-content-type", "a"), ("uploads", None)]
    assert auth_from_pairs([*extra, *pairs]) == parse_auth_string(VALID_AUTH)
    missing = auth_from_pairs([p for p in pairs if p[0] != "q-signature"])
    assert "missing q-signature" in missing.problems
    assert "duplicate q-ak" in auth_from_pairs([*pairs, ("q-ak", "x")]).problems
    assert auth_from_pairs([*pairs[:-1], ("q-signature", None)]).signature == ""


# --- KeyTime search: the signer's clock, a KeyTime regenerated on the client, milliseconds -------

def _shifted(start_shift: int = 0, end_shift: int = 0, scale: tuple[int, int] = (1, 1)) -> str:
    start, end = (int(t) for t in POST_KEY_TIME.split(";"))
    return f"{(start + start_shift) * scale[0]};{(end + end_shift) * scale[1]}"


@pytest.mark.parametrize("key_time", [
    _shifted(-7, -7), _shifted(90, 90), _shifted(3600, 3600), _shifted(-3600, -3600),   # both ends alike
    _shifted(start_shift=-1), _shifted(start_shift=300), _shifted(end_shift=-300), _shifted(end_shift=42),
    _shifted(scale=(1000, 1000)), _shifted(scale=(1, 1000)),                          # milliseconds
])
def test_signed_key_time_finds_the_keytime_the_client_used(key_time: str) -> None:
    provided = _buggy(key_time=key_time)
    sts = hashlib.sha1(POST_POLICY_TEXT.encode()).hexdigest()
    assert find_post_mistake(SECRET_KEY, POST_KEY_TIME, POLICY, provided) == "key-time-mismatch"
    assert signed_key_time(SECRET_KEY, POST_KEY_TIME, sts, provided) == key_time


@pytest.mark.parametrize("key_time", [_shifted(3601, 3601), _shifted(start_shift=301), _shifted(10, 20)])
def test_signed_key_time_stays_within_its_bounds(key_time: str) -> None:
    provided = _buggy(key_time=key_time)
    assert find_post_mistake(SECRET_KEY, POST_KEY_TIME, POLICY, provided) == "wrong-secret-key"


def test_key_time_candidates_are_bounded_and_unique() -> None:
    candidates = list(key_time_candidates(POST_KEY_TIME, [OTHER_KEY_TIME, POST_KEY_TIME, "junk"]))
    assert candidates[0] == OTHER_KEY_TIME
    assert POST_KEY_TIME not in candidates and "junk" not in candidates
    assert len(candidates) == len(set(candidates)) <= 3 + 1 + 2 * KEY_TIME_SHIFT_BOTH_S + 4 * KEY_TIME_SHIFT_ONE_S
    assert list(key_time_candidates("not;a-key-time")) == []
