"""Which host names are COS endpoints, and which bucket and region they address.

The Host header decides (not the connection address), so reverse mode and ``keep_host_header``
work. Every pattern is anchored on the whole name: ``evil-myqcloud.com`` and
``x.cos.ap-beijing.myqcloud.com.evil.com`` are not COS.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass


__all__ = [
    "CosEndpoint",
    "parse_cos_host",
    "HostGlobs",
    "custom_endpoint",
    "is_probably_cos_host",
    "normalise_host",
    "LEGACY_REGIONS",
]

# Regions that JS SDK getUrl addresses as <bucket>.<region>.myqcloud.com, without "cos.".
LEGACY_REGIONS = frozenset({"cn-south", "cn-south-2", "cn-north", "cn-east", "cn-southwest", "sg"})

_MAX_HOST = 253
_HOST_CHARS = re.compile(r"[a-z0-9.-]+\Z")
_PORT = re.compile(r":[0-9]*\Z")
_REGION = r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*"
# Bucket names: lower-case letters, digits and inner hyphens; the APPID is the all-digit group
# after the last hyphen (10 digits in practice).
_BUCKET_APPID = r"(?P<bucket>[a-z0-9](?:[a-z0-9-]*[a-z0-9])?-(?P<appid>[0-9]{5,12}))"
_BUCKET_APPID_RE = re.compile(_BUCKET_APPID + r"\Z")

_VIRTUAL = re.compile(
    _BUCKET_APPID
    + r"\.(?P<service>cos|cos-internal)\.(?P<region>" + _REGION + r")\.(?P<domain>myqcloud\.com|tencentcos\.cn)\Z"
)
_LEGACY = re.compile(
    r"(?P<bucket>[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)\.(?P<region>"
    + "|".join(sorted((re.escape(r) for r in LEGACY_REGIONS), key=len, reverse=True))
    + r")\.myqcloud\.com\Z"
)
_PATH_HOST = re.compile(r"cos\.(?P<region>" + _REGION + r")\.myqcloud\.com\Z")


@dataclass(slots=True)
class CosEndpoint:
    host: str  # lower-cased, without port or trailing dot
    bucket: str | None  # "examplebucket-1250000000", a legacy bare name, or None
    appid: str | None
    region: str | None  # "ap-beijing", "accelerate", legacy "cn-south"
    style: str  # "virtual" | "path" | "legacy" | "custom"
    internal: bool = False




def normalise_host(host: str | None) -> str | None:
    """Lower-case ``host`` and drop a ``:port`` and a trailing dot; None when it is not a name."""
    if not isinstance(host, str):
        return None
    h = host.strip().lower()
    if h.startswith("["):  # IPv6 literal, with or without port
        end = h.find("]")
        return h[: end + 1] if end > 0 else None
    h = _PORT.sub("", h)
    if h.endswith("."):
        h = h[:-1]
    return h or None


def parse_cos_host(host: str | None, path: str = "/") -> CosEndpoint | None:
    """The COS endpoint ``host`` (and, for path style, ``path``) addresses; None if not COS."""
    h = normalise_host(host)
    if h is None or len(h) > _MAX_HOST or not _HOST_CHARS.match(h):
        return None
    m = _VIRTUAL.match(h)
    if m:
        internal = m["service"] == "cos-internal"
        if internal and m["domain"] != "tencentcos.cn":
            return None
        return CosEndpoint(h, m["bucket"], m["appid"], m["region"], "virtual", internal)
    m = _PATH_HOST.match(h)  # before legacy: "cos" is not a legacy bucket
    if m:
        if not isinstance(path, str):
            return None
        segment = path.split("?", 1)[0].lstrip("/").split("/", 1)[0]  # paths are case-sensitive
        b = _BUCKET_APPID_RE.match(segment)
        if b is None:
            return None
        return CosEndpoint(h, b["bucket"], b["appid"], m["region"], "path")
    m = _LEGACY.match(h)
    if m:
        bucket = m["bucket"]
        b = _BUCKET_APPID_RE.match(bucket)
        return CosEndpoint(h, bucket, b["appid"] if b else None, m["region"], "legacy")
    return None


def custom_endpoint(host: str) -> CosEndpoint:
    """An endpoint for a host the user declared as COS (``cos_hosts``): nothing is known about it."""
    return CosEndpoint(normalise_host(host) or "", None, None, None, "custom")


def is_probably_cos_host(host: str | None) -> bool:
    """Cheap pre-filter run on every flow: could ``host`` be a COS endpoint at all?"""
    if not host:
        return False
    h = host.lower()
    return "myqcloud.com" in h or "tencentcos.cn" in h


_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*://", re.IGNORECASE)


class HostGlobs:
    """The ``cos_hosts`` option: fnmatch-style host globs, case-insensitive, ports ignored."""

    __slots__ = ("patterns", "_regex")

    def __init__(self, patterns: Sequence[str]) -> None:
        if isinstance(patterns, str):
            patterns = [patterns]
        cleaned: list[str] = []
        for p in patterns:
            cleaned.append(self._check(p))
        self.patterns: tuple[str, ...] = tuple(cleaned)
        self._regex = (
            re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in cleaned))
            if cleaned else None
        )

    @staticmethod
    def _check(p: object) -> str:
        if not isinstance(p, str):
            raise ValueError(f"cos_hosts: host pattern must be a string, not {type(p).__name__}")
        if not p:
            raise ValueError("cos_hosts: empty host pattern")
        if any(c.isspace() for c in p):
            raise ValueError(f"cos_hosts: host pattern {p!r} contains whitespace")
        if _SCHEME.match(p):
            raise ValueError(
                f"cos_hosts: host pattern {p!r} contains a scheme; give the host only, "
                f"e.g. {p.split('://', 1)[1].split('/', 1)[0]!r}")
        if "/" in p:
            raise ValueError(f"cos_hosts: host pattern {p!r} contains '/'; give the host only, without a path")
        if not p.startswith("[") and ":" in p:
            raise ValueError(f"cos_hosts: host pattern {p!r} contains a port; ports are ignored, leave it out")
        p = p.lower()
        if p.endswith(".") and len(p) > 1:
            p = p[:-1]
        return p

    def matches(self, host: str | None) -> bool:
        if self._regex is None:
            return False
        h = normalise_host(host)
        return h is not None and self._regex.match(h) is not None

    def __bool__(self) -> bool:
        return self._regex is not None

    def __repr__(self) -> str:
        return f"HostGlobs({list(self.patterns)!r})"
