from __future__ import annotations

import time

import pytest

from cosdoctor.cos.hosts import (
    CosEndpoint,
    HostGlobs,
    custom_endpoint,
    is_probably_cos_host,
    normalise_host,
    parse_cos_host,
)

B = "examplebucket-1250000000"
DEFAULT_HOST = f"{B}.cos.ap-beijing.myqcloud.com"
DEFAULT = CosEndpoint(DEFAULT_HOST, B, "1250000000", "ap-beijing", "virtual", False)


def test_valid_default() -> None:
    assert parse_cos_host(DEFAULT_HOST) == DEFAULT


@pytest.mark.parametrize(
    "host, path, expected",
    [
        # host spelling
        (DEFAULT_HOST.upper(), "/", DEFAULT),
        (DEFAULT_HOST + ":443", "/", DEFAULT),
        (DEFAULT_HOST + ".", "/", DEFAULT),
        (DEFAULT_HOST.upper() + ".:8080", "/", DEFAULT),
        (" " + DEFAULT_HOST, "/", DEFAULT),
        (DEFAULT_HOST, "/ignored-1250000000/", DEFAULT),
        # domains and services
        (f"{B}.cos.accelerate.myqcloud.com", "/",
         CosEndpoint(f"{B}.cos.accelerate.myqcloud.com", B, "1250000000", "accelerate", "virtual")),
        (f"{B}.cos.ap-guangzhou.tencentcos.cn", "/",
         CosEndpoint(f"{B}.cos.ap-guangzhou.tencentcos.cn", B, "1250000000", "ap-guangzhou", "virtual")),
        (f"{B}.cos-internal.ap-guangzhou.tencentcos.cn", "/",
         CosEndpoint(f"{B}.cos-internal.ap-guangzhou.tencentcos.cn", B, "1250000000", "ap-guangzhou",
                     "virtual", True)),
        (f"{B}.cos.accelerate.tencentcos.cn", "/",
         CosEndpoint(f"{B}.cos.accelerate.tencentcos.cn", B, "1250000000", "accelerate", "virtual")),
        (f"{B}.cos.ap-beijing-fsi.myqcloud.com", "/",
         CosEndpoint(f"{B}.cos.ap-beijing-fsi.myqcloud.com", B, "1250000000", "ap-beijing-fsi", "virtual")),
        # bucket names with digits and hyphens: appid is the group after the last hyphen
        ("my-1-bucket-1250000000.cos.ap-shanghai.myqcloud.com", "/",
         CosEndpoint("my-1-bucket-1250000000.cos.ap-shanghai.myqcloud.com", "my-1-bucket-1250000000",
                     "1250000000", "ap-shanghai", "virtual")),
        ("b-123456-1250000000.cos.ap-shanghai.myqcloud.com", "/",
         CosEndpoint("b-123456-1250000000.cos.ap-shanghai.myqcloud.com", "b-123456-1250000000",
                     "1250000000", "ap-shanghai", "virtual")),
        ("b-12345.cos.ap-shanghai.myqcloud.com", "/",
         CosEndpoint("b-12345.cos.ap-shanghai.myqcloud.com", "b-12345", "12345", "ap-shanghai", "virtual")),
        ("b-123456789012.cos.ap-shanghai.myqcloud.com", "/",
         CosEndpoint("b-123456789012.cos.ap-shanghai.myqcloud.com", "b-123456789012", "123456789012",
                     "ap-shanghai", "virtual")),
        # legacy regions, no "cos."
        ("examplebucket.cn-south.myqcloud.com", "/",
         CosEndpoint("examplebucket.cn-south.myqcloud.com", "examplebucket", None, "cn-south", "legacy")),
        (f"{B}.cn-south-2.myqcloud.com", "/",
         CosEndpoint(f"{B}.cn-south-2.myqcloud.com", B, "1250000000", "cn-south-2", "legacy")),
        ("b.cn-north.myqcloud.com", "/", CosEndpoint("b.cn-north.myqcloud.com", "b", None, "cn-north", "legacy")),
        ("b.cn-east.myqcloud.com", "/", CosEndpoint("b.cn-east.myqcloud.com", "b", None, "cn-east", "legacy")),
        ("b.cn-southwest.myqcloud.com", "/",
         CosEndpoint("b.cn-southwest.myqcloud.com", "b", None, "cn-southwest", "legacy")),
        ("b.sg.myqcloud.com", "/", CosEndpoint("b.sg.myqcloud.com", "b", None, "sg", "legacy")),
        # path style
        ("cos.ap-beijing.myqcloud.com", f"/{B}/", CosEndpoint("cos.ap-beijing.myqcloud.com", B, "1250000000",
                                                            "ap-beijing", "path")),
        ("COS.AP-BEIJING.MYQCLOUD.COM:80", f"/{B}/dir/key.jpg?x=1",
         CosEndpoint("cos.ap-beijing.myqcloud.com", B, "1250000000", "ap-beijing", "path")),
        ("cos.ap-beijing.myqcloud.com", f"/{B}", CosEndpoint("cos.ap-beijing.myqcloud.com", B, "1250000000",
                                                           "ap-beijing", "path")),
        ("cos.ap-beijing.myqcloud.com", f"/{B}?acl", CosEndpoint("cos.ap-beijing.myqcloud.com", B, "1250000000",
                                                               "ap-beijing", "path")),
        ("cos.cn-south.myqcloud.com", f"/{B}/", CosEndpoint("cos.cn-south.myqcloud.com", B, "1250000000",
                                                          "cn-south", "path")),
    ],
)
def test_parse_cos_host(host: str, path: str, expected: CosEndpoint) -> None:
    assert parse_cos_host(host, path) == expected


@pytest.mark.parametrize(
    "host, path",
    [
        (None, "/"),
        ("", "/"),
        (".", "/"),
        ("service.cos.myqcloud.com", "/"),
        ("cos.ap-beijing.myqcloud.com", "/"),
        ("cos.ap-beijing.myqcloud.com", ""),
        ("cos.ap-beijing.myqcloud.com", "/?prefix=x"),
        ("cos.ap-beijing.myqcloud.com", "/examplebucket/"),  # no appid
        ("cos.ap-beijing.myqcloud.com", f"/{B.upper()}/"),  # paths are case-sensitive
        ("cos.cn-south.myqcloud.com", "/"),  # not the legacy bucket "cos"
        ("evil-myqcloud.com", "/"),
        ("myqcloud.com", "/"),
        (f"{B}.cos.ap-beijing.myqcloud.com.evil.com", "/"),
        (f"{B}.cos.ap-beijing.myqcloud.com.evil.com:443", "/"),
        (f"evil.com/{B}.cos.ap-beijing.myqcloud.com", "/"),
        (f"x.{B}.cos.ap-beijing.myqcloud.com", "/"),
        ("examplebucket.cos.ap-beijing.myqcloud.com", "/"),  # no appid
        ("b-1234.cos.ap-beijing.myqcloud.com", "/"),  # appid too short
        ("b-1234567890123.cos.ap-beijing.myqcloud.com", "/"),  # appid too long
        ("-1250000000.cos.ap-beijing.myqcloud.com", "/"),
        ("b--1250000000.cos.ap-beijing.myqcloud.com", "/"),
        (f"{B}.cos-internal.ap-beijing.myqcloud.com", "/"),  # cos-internal only on tencentcos.cn
        (f"{B}.cos-website.ap-beijing.myqcloud.com", "/"),
        (f"{B}.cos.ap-beijing.tencentcos.com", "/"),
        (f"{B}.ap-beijing.myqcloud.com", "/"),  # not a legacy region
        ("b.cn-west.myqcloud.com", "/"),
        ("b_x.cn-south.myqcloud.com", "/"),
        (f"{B}.cos..myqcloud.com", "/"),
        ("[::1]:443", "/"),
        ("127.0.0.1", "/"),
        ("a" * 300 + ".cos.ap-beijing.myqcloud.com", "/"),
        (f"{B}.cos.ap-beijing.myqcloud.com\x00", "/"),
    ],
)
def test_not_cos(host: str | None, path: str) -> None:
    assert parse_cos_host(host, path) is None


@pytest.mark.parametrize(
    "host, expected",
    [
        ("A.Example.COM", "a.example.com"),
        ("a.example.com:8443", "a.example.com"),
        ("a.example.com.", "a.example.com"),
        ("a.example.com.:80", "a.example.com"),
        ("[::1]:443", "[::1]"),
        ("", None),
        (None, None),
    ],
)
def test_normalise_host(host: str | None, expected: str | None) -> None:
    assert normalise_host(host) == expected


def test_custom_endpoint() -> None:
    assert custom_endpoint("Upload.Example.com:443") == CosEndpoint("upload.example.com", None, None, None, "custom")


@pytest.mark.parametrize(
    "host, expected",
    [
        (DEFAULT_HOST, True),
        (DEFAULT_HOST.upper(), True),
        (f"{B}.cos.ap-guangzhou.tencentcos.cn", True),
        ("evil-myqcloud.com", True),  # a pre-filter: false positives are fine, parse_cos_host decides
        ("example.com", False),
        ("", False),
        (None, False),
    ],
)
def test_is_probably_cos_host(host: str | None, expected: bool) -> None:
    assert is_probably_cos_host(host) is expected


def test_is_probably_cos_host_is_linear() -> None:
    host = "a" * 5_000_000
    start = time.monotonic()
    assert not is_probably_cos_host(host)
    assert time.monotonic() - start < 0.5


# --- HostGlobs ----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "patterns, host, expected",
    [
        (["*.example.com"], "a.example.com", True),
        (["*.example.com"], "a.b.example.com", True),
        (["*.example.com"], "example.com", False),
        (["*.example.com"], "a.example.com.evil.net", False),
        (["*.example.com"], "aexample.com", False),
        (["*.example.com"], "A.EXAMPLE.COM", True),
        (["*.EXAMPLE.com"], "a.example.com", True),
        (["*.example.com"], "a.example.com:8443", True),
        (["*.example.com"], "a.example.com.", True),
        (["upload.example.com"], "upload.example.com", True),
        (["upload.example.com"], "uploadXexample.com", False),  # '.' is literal
        (["upload.example.com."], "upload.example.com", True),
        (["cdn?.example.com"], "cdn1.example.com", True),
        (["cdn?.example.com"], "cdn12.example.com", False),
        (["cdn[0-9].example.com"], "cdn7.example.com", True),
        (["cdn[0-9].example.com"], "cdnx.example.com", False),
        (["a.example.com", "b.example.org"], "b.example.org", True),
        (["a.example.com", "b.example.org"], "c.example.org", False),
        ([], "a.example.com", False),
        (["*.example.com"], None, False),
        (["*.example.com"], "", False),
    ],
)
def test_host_globs_matches(patterns: list[str], host: str | None, expected: bool) -> None:
    assert HostGlobs(patterns).matches(host) is expected


@pytest.mark.parametrize(
    "pattern, error",
    [
        ("", r"empty host pattern"),
        ("https://upload.example.com", r"contains a scheme; give the host only, e\.g\. 'upload\.example\.com'"),
        ("HTTP://upload.example.com/x", r"contains a scheme"),
        ("upload.example.com/path", r"contains '/'"),
        ("upload example.com", r"contains whitespace"),
        (" upload.example.com", r"contains whitespace"),
        ("upload.example.com\t", r"contains whitespace"),
        ("upload.example.com:443", r"contains a port"),
        (None, r"must be a string"),
    ],
)
def test_host_globs_rejects(pattern: object, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        HostGlobs(["ok.example.com", pattern])  # type: ignore[list-item]


def test_host_globs_single_string_is_one_pattern() -> None:
    globs = HostGlobs("*.example.com")  # type: ignore[arg-type]
    assert globs.patterns == ("*.example.com",)
    assert globs.matches("a.example.com")
    assert bool(HostGlobs([])) is False
