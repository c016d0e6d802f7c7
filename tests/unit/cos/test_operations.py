from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosdoctor.cos.hosts import parse_cos_host
from cosdoctor.cos.operations import (
    MAX_QUERY_PARAMS,
    OPERATIONS,
    carries_cos_signature,
    cos_unquote,
    decode_path,
    object_key,
    parse_part_number,
    parse_query,
    part_number_problem,
    query_value,
    recognise_request,
    split_target,
)

B = "examplebucket-1250000000"
HOST = f"{B}.cos.ap-beijing.myqcloud.com"
ENDPOINT = parse_cos_host(HOST)
UPLOAD_ID = "1585130821cbb7df1d11846c073ad648e8f33b087cec2381df437acdc833cf654b9ecc6361"
AUTH = ("q-sign-algorithm=sha1&q-ak=AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q&q-sign-time=1557989151;1557996351"
        "&q-key-time=1557989151;1557996351&q-header-list=host&q-url-param-list=&q-signature="
        "3b8851a11a569213c17ba8fa7dcf2abec6935172")
PRESIGNED = AUTH.replace(";", "%3B")


def rec(method: str, target: str, headers: dict | None = None, endpoint=ENDPOINT):
    path, query = split_target(target)
    return recognise_request(method, path, query, headers or {}, endpoint)


@pytest.mark.parametrize(
    "method, target, headers, operation",
    [
        ("PUT", "/exampleobject", {}, "PutObject"),
        ("put", "/folder/a%20b.txt?t=tag", {}, "PutObject"),   # a custom parameter is not a sub-resource
        ("PUT", f"/exampleobject?{PRESIGNED}", {}, "PutObject"),
        ("PUT", "/exampleobject", {"x-cos-copy-source": f"{HOST}/other"}, "Other"),
        ("PUT", f"/exampleobject?partNumber=1&uploadId={UPLOAD_ID}", {}, "UploadPart"),
        ("PUT", f"/exampleobject?uploadId={UPLOAD_ID}&partNumber=1", {}, "UploadPart"),
        ("PUT", f"/exampleobject?partnumber=1&uploadid={UPLOAD_ID}", {}, "UploadPart"),
        ("PUT", f"/exampleobject?partNumber=1&uploadId={UPLOAD_ID}", {"x-cos-copy-source": "x"}, "Other"),
        ("PUT", "/exampleobject?acl", {}, "Other"),
        ("PUT", "/", {}, "Other"),                                  # PUT Bucket
        ("POST", "/exampleobject?uploads", {}, "InitiateMultipartUpload"),
        ("POST", "/exampleobject?uploads=", {}, "InitiateMultipartUpload"),
        ("POST", f"/exampleobject?uploadId={UPLOAD_ID}", {"content-type": "application/xml"},
         "CompleteMultipartUpload"),
        ("POST", "/", {"content-type": "multipart/form-data; boundary=x"}, "PostObject"),
        ("POST", "/?t=tag", {"content-type": "Multipart/Form-Data; boundary=x"}, "PostObject"),
        ("POST", "/", {"content-type": "application/octet-stream"}, "Other"),
        ("POST", "/?uploads", {}, "Other"),                         # no key
        ("POST", "/?delete", {"content-type": "application/xml"}, "Other"),
        ("POST", "/exampleobject?restore", {}, "Other"),
        ("DELETE", f"/exampleobject?uploadId={UPLOAD_ID}", {}, "AbortMultipartUpload"),
        ("DELETE", "/exampleobject", {}, "DeleteObject"),
        ("DELETE", "/", {}, "Other"),
        ("GET", f"/exampleobject?uploadId={UPLOAD_ID}", {}, "ListParts"),
        ("GET", f"/exampleobject?uploadId={UPLOAD_ID}&max-parts=10", {}, "ListParts"),
        ("GET", "/?uploads&prefix=a", {}, "Other"),                 # ListMultipartUploads
        ("GET", "/", {}, "Other"),
        ("GET", "/exampleobject", {}, "GetObject"),
        ("GET", "/exampleobject?response-content-type=text%2Fplain&versionId=1", {}, "GetObject"),
        ("GET", f"/exampleobject?{PRESIGNED}&x-cos-security-token=t", {}, "GetObject"),
        ("GET", "/exampleobject?tagging", {}, "Other"),
        ("HEAD", "/exampleobject", {}, "HeadObject"),
        ("HEAD", "/", {}, "Other"),
        ("OPTIONS", "/exampleobject", {"access-control-request-method": "PUT"}, "Preflight"),
        ("OPTIONS", "*", {}, "Preflight"),
        ("PATCH", "/exampleobject", {}, "Other"),
        ("", "/exampleobject", {}, "Other"),
    ],
)
def test_operation(method, target, headers, operation) -> None:
    assert rec(method, target, headers).operation == operation


def test_operations_are_the_contract_words() -> None:
    assert OPERATIONS == ("PostObject", "PutObject", "InitiateMultipartUpload", "UploadPart",
                          "CompleteMultipartUpload", "AbortMultipartUpload", "ListParts", "GetObject",
                          "HeadObject", "DeleteObject", "Preflight", "Other")


@pytest.mark.parametrize(
    "target, headers, auth, source",
    [
        ("/k", {"authorization": AUTH}, "header", "authorization"),
        ("/k", {"authorization": "garbage"}, "header", "authorization"),   # COS reads it as a signature
        ("/k", {"authorization": "  "}, "anonymous", None),
        (f"/k?{PRESIGNED}", {}, "query", "query"),
        ("/k?q-signature=abc", {}, "query", "query"),                       # incomplete, still an attempt
        ("/k?sign=" + AUTH.replace("=", "%3D").replace("&", "%26").replace(";", "%3B"), {}, "query", "sign"),
        ("/k?t=1", {}, "anonymous", None),
        ("/k", {}, "anonymous", None),
    ],
)
def test_auth_mode(target, headers, auth, source) -> None:
    r = rec("GET", target, headers)
    assert (r.auth, r.auth_source) == (auth, source)


def test_both_signatures() -> None:
    assert rec("GET", f"/k?{PRESIGNED}", {"authorization": AUTH}).both_signatures
    assert not rec("GET", f"/k?{PRESIGNED}").both_signatures
    assert rec("GET", f"/k?{PRESIGNED}", {"authorization": AUTH}).auth == "header"


@pytest.mark.parametrize(
    "target, headers, token_in",
    [
        ("/k", {"x-cos-security-token": "tok"}, "header"),
        ("/k", {"x-cos-security-token": ""}, "header"),
        ("/k?x-cos-security-token=tok", {}, "query"),
        ("/k?X-Cos-Security-Token=tok", {}, "query"),
        ("/k?x-cos-security-token-other=tok", {}, None),
        ("/k", {}, None),
    ],
)
def test_token(target, headers, token_in) -> None:
    r = rec("PUT", target, headers)
    assert r.token_in == token_in
    assert r.token is (token_in is not None)


@pytest.mark.parametrize(
    "raw, path",
    [
        ("/exampleobject(%E8%85%BE%E8%AE%AF%E4%BA%91)", "/exampleobject(腾讯云)"),
        ("/folder/a%20b%2Bc(%E8%85%BE%E8%AE%AF%E4%BA%91).txt", "/folder/a b+c(腾讯云).txt"),
        ("/imagesresume-zh+en_%E9%A1%B5%E9%9D%A2_1.png", "/imagesresume-zh en_页面_1.png"),   # PicGo#638
        ("/a%2Fb", "/a/b"),
        ("/a//b", "/a//b"),
        ("/100%", "/100%"),           # a stray '%' stays
        ("/%zz", "/%zz"),
        ("/%FF", "/\ufffd"),          # not UTF-8
        ("/腾讯云", "/腾讯云"),          # already decoded (HTTP/2 clients may send it so)
        ("", "/"),
    ],
)
def test_decode_path(raw, path) -> None:
    assert decode_path(raw) == path


@pytest.mark.parametrize(
    "host, target, key",
    [
        (HOST, "/exampleobject", "exampleobject"),
        (HOST, "/folder/a%20b%2Bc.txt", "folder/a b+c.txt"),
        (HOST, "/a+b.txt", "a b.txt"),
        (HOST, "//lead", "/lead"),
        (HOST, "/", None),
        ("cos.ap-beijing.myqcloud.com", f"/{B}/folder/x.txt", "folder/x.txt"),
        ("cos.ap-beijing.myqcloud.com", f"/{B}/", None),
        ("cos.ap-beijing.myqcloud.com", f"/{B}", None),
        ("cdn.example.com", "/folder/x.txt", "folder/x.txt"),
    ],
)
def test_key(host, target, key) -> None:
    r = rec("PUT", target, {}, parse_cos_host(host, target))
    assert r.key == key


def test_key_fields_and_bucket() -> None:
    r = rec("PUT", f"/exampleobject?partNumber=7&uploadId={UPLOAD_ID}")
    assert (r.bucket, r.region, r.upload_id, r.part_number) == (B, "ap-beijing", UPLOAD_ID, 7)
    assert r.raw_path == "/exampleobject" and r.path == "/exampleobject"
    none = rec("PUT", "/exampleobject", {}, None)
    assert (none.bucket, none.region, none.upload_id, none.part_number) == (None, None, None, None)


def test_object_key_path_style_other_bucket_kept() -> None:
    endpoint = parse_cos_host("cos.ap-beijing.myqcloud.com", f"/{B}/x")
    assert object_key("/other-1250000000/x", endpoint) == "other-1250000000/x"


@pytest.mark.parametrize(
    "value, parsed, problem",
    [
        ("1", 1, None),
        ("10000", 10000, None),
        ("0", 0, "out-of-range"),
        ("10001", 10001, "out-of-range"),
        ("007", 7, None),
        ("0" * 5000 + "1", 1, None),
        ("9" * 4000, "9" * 32, "out-of-range"),
        ("-1", "-1", "not-a-number"),
        ("1.5", "1.5", "not-a-number"),
        ("", "", "not-a-number"),
        ("١", "١", "not-a-number"),       # Arabic-Indic digit: isdigit() but not ASCII
        (None, None, None),
    ],
)
def test_part_number(value, parsed, problem) -> None:
    assert parse_part_number(value) == parsed
    assert part_number_problem(parse_part_number(value)) == problem


def test_part_number_from_request_is_bounded() -> None:
    r = rec("PUT", f"/k?partNumber={'9' * 4000}&uploadId={'u' * 10_000}")
    assert r.operation == "UploadPart"
    assert r.part_number == "9" * 32 and part_number_problem(r.part_number) == "out-of-range"
    assert len(r.upload_id) == 256


def test_parse_query_items() -> None:
    params, truncated = parse_query("uploads&a=&b=1+2&c=%E8%85%BE&&d=x%3Dy")
    assert [(p.name, p.value) for p in params] == [("uploads", None), ("a", ""), ("b", "1 2"), ("c", "腾"),
                                                   ("d", "x=y")]
    assert params[2].raw == "b=1+2" and not truncated
    assert query_value(params, "UPLOADS") == "" and query_value(params, "a") == ""
    assert query_value(params, "b") == "1 2" and query_value(params, "zz") is None


def test_parse_query_is_bounded() -> None:
    params, truncated = parse_query("&".join(f"p{i}=1" for i in range(100_000)))
    assert len(params) == MAX_QUERY_PARAMS and truncated
    params, truncated = parse_query("&".join(f"p{i}=1" for i in range(MAX_QUERY_PARAMS)))
    assert len(params) == MAX_QUERY_PARAMS and not truncated


def test_split_target() -> None:
    assert split_target("/a%20b?x=1&y") == ("/a%20b", "x=1&y")
    assert split_target("/a?b?c#frag") == ("/a", "b?c")
    assert split_target("/a") == ("/a", "")


def test_cos_unquote_plus() -> None:
    assert cos_unquote("a+b%2B") == "a b+"
    assert cos_unquote("a+b%2B", plus_is_space=False) == "a+b+"


SIGNED_QUERY = f"q-sign-algorithm=sha1&q-ak=AKID&q-sign-time=1;2&q-key-time=1;2&q-signature={'0' * 40}"


@pytest.mark.parametrize(
    "headers, query, signed",
    [
        ({"authorization": AUTH}, "", True),
        ({"authorization": AUTH.replace("sha1", "SHA1")}, "", True),   # recognised; the parser complains
        ({"authorization": "Bearer abc"}, "", False),
        ({"authorization": "q-ak=AKID&q-signature=x"}, "", False),      # no q-sign-algorithm=sha1
        ({}, SIGNED_QUERY, True),
        ({}, PRESIGNED, True),
        ({}, "sign=" + AUTH.replace("=", "%3D").replace("&", "%26"), True),
        ({}, "sign=" + AUTH.replace("=", "%3d").replace("&", "%26"), True),
        ({}, "q-ak=AKID&q-signature=x", False),
        ({}, "t=1", False),
        ({}, "", False),
    ],
)
def test_carries_cos_signature(headers, query, signed) -> None:
    assert carries_cos_signature(headers, query) is signed


def test_carries_cos_signature_is_cheap_on_big_input() -> None:
    query = "x=" + "a" * 5_000_000
    start = time.perf_counter()
    for _ in range(10):
        assert not carries_cos_signature({}, query)
    assert time.perf_counter() - start < 1.0


# --- properties ---------------------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(method=st.text(max_size=10), path=st.text(max_size=200), query=st.text(max_size=300),
       headers=st.dictionaries(st.sampled_from(["authorization", "content-type", "x-cos-security-token",
                                                "x-cos-copy-source", "host"]), st.text(max_size=50)))
def test_recognise_never_raises(method, path, query, headers) -> None:
    r = recognise_request(method, path, query, headers, ENDPOINT)
    assert r.operation in OPERATIONS
    assert r.auth in ("header", "query", "anonymous")
    assert len(r.query) <= MAX_QUERY_PARAMS
    assert r.upload_id is None or len(r.upload_id) <= 256
    assert isinstance(r.part_number, (int, str, type(None)))
    assert part_number_problem(r.part_number) in (None, "not-a-number", "out-of-range")
    carries_cos_signature(headers, query)


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=60))
def test_decode_inverts_percent_encoding(key: str) -> None:
    from urllib.parse import quote
    assert decode_path("/" + quote(key, safe="/")) == "/" + key
    assert object_key(decode_path("/" + quote(key, safe=""))) == (key or None)
