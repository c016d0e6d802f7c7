"""Valid uploads in every dialect real clients speak (issue: block mode must pass them untouched).

Each builder returns the request as that client sends it: its field set and order, its boundary
style, its field-name case. Sources: cos-post-object.md §6 (official SDKs and demos).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import cosrig
from devkit.formbuilder import FormSpec, policy_b64
from cosdoctor.cos.times import format_iso8601
from cosdoctor.cos.signature import header_signature, post_signature

ID, KEY, BUCKET, HOST = cosrig.SECRET_ID, cosrig.SECRET_KEY, cosrig.BUCKET, cosrig.COS_HOST
STS_TOKEN = "sts-token-" + "Ab3" * 30


@dataclass(frozen=True)
class Dialect:
    name: str
    build: Callable[[int, str], FormSpec]      # (now, tag) -> form
    boundary: Callable[[str], str]
    expected_status: int


def _policy_fields(now: int, conditions: list, ttl: int = 900) -> list[tuple[str, str]]:
    key_time = f"{now};{now + ttl}"
    document = {"expiration": format_iso8601(now + ttl),
                "conditions": [{"q-sign-algorithm": "sha1"}, {"q-ak": ID}, {"q-sign-time": key_time},
                               {"bucket": BUCKET}, *conditions]}
    b64, raw = policy_b64(document)
    return [("q-sign-algorithm", "sha1"), ("q-ak", ID), ("q-key-time", key_time),
            ("q-signature", post_signature(KEY, key_time, raw).signature), ("policy", b64)]


def _signature_field(now: int, signed_headers: list[tuple[str, str]]) -> str:
    key_time = f"{now - 60};{now + 900}"
    names = ";".join(n.lower() for n, _ in signed_headers)
    signature = header_signature(KEY, key_time, "post", "/", [], signed_headers).signature
    return (f"q-sign-algorithm=sha1&q-ak={ID}&q-sign-time={key_time}&q-key-time={key_time}"
            f"&q-header-list={names}&q-url-param-list=&q-signature={signature}")


def web_demo_policy(now: int, tag: str) -> FormSpec:
    """cos-js-sdk-v5 demo/noSDK/post_sign.html: key, q-*, policy, file."""
    key = f"uploads/{tag}.jpg"
    return FormSpec([("key", key), *_policy_fields(now, [{"key": key}])])


def web_demo_form_sts(now: int, tag: str) -> FormSpec:
    """form_sts.html: empty name and Content-Type, success_action_status=200, STS token."""
    key = f"uploads/{tag}.jpg"
    return FormSpec([("name", ""), ("key", key), ("success_action_status", "200"), ("Content-Type", ""),
                     ("x-cos-security-token", STS_TOKEN),
                     *_policy_fields(now, [{"key": key}, {"x-cos-security-token": STS_TOKEN}])])


def filename_key(now: int, tag: str) -> FormSpec:
    """`${filename}` in key, checked after substitution against a starts-with condition."""
    spec = FormSpec([("key", "uploads/${filename}"),
                     *_policy_fields(now, [["starts-with", "$key", "uploads/"],
                                           ["content-length-range", 1, 1 << 20]])])
    spec.file_name = f"{tag}.jpg"
    return spec


def redirect(now: int, tag: str) -> FormSpec:
    key = f"uploads/{tag}.jpg"
    target = "https://my.website/done.html"
    return FormSpec([("key", key), ("success_action_redirect", target),
                     *_policy_fields(now, [{"key": key}, ["starts-with", "$success_action_redirect", "https://my.website/"]])])


def status_201(now: int, tag: str) -> FormSpec:
    key = f"uploads/{tag}.jpg"
    return FormSpec([("key", key), ("success_action_status", "201"),
                     *_policy_fields(now, [{"key": key}, {"success_action_status": "201"}])])


def case_variants(now: int, tag: str) -> FormSpec:
    """D-POST-OLD sample style: `Acl`, `x-Cos-meta-bb`, conditions in another case."""
    key = f"uploads/{tag}.jpg"
    return FormSpec([("Acl", "private"), ("key", key), ("x-Cos-meta-bb", "12abc"),
                     *_policy_fields(now, [{"key": key}, {"acl": "private"},
                                           ["starts-with", "$x-cos-meta-bb", "12"]])])


def extra_fields(now: int, tag: str) -> FormSpec:
    """Fields the policy does not mention (COS tolerates them, unlike S3)."""
    key = f"uploads/{tag}.jpg"
    return FormSpec([("key", key), ("key1", "1"), ("name", ""), ("x-cos-meta-note", "hello"),
                     *_policy_fields(now, [{"key": key}])])


def miniprogram_signature(now: int, tag: str) -> FormSpec:
    """cos-wx-sdk-v5 postObject: key, success_action_status, Signature (Host signed), token, file."""
    return FormSpec([("key", f"uploads/{tag}.jpg"), ("success_action_status", "200"),
                     ("Signature", _signature_field(now, [("host", HOST)])), ("Content-Type", ""),
                     ("x-cos-security-token", STS_TOKEN)])


def android_signature(now: int, tag: str) -> FormSpec:
    """qcloud-sdk-android PostObjectRequest: acl, headers, key, status 204, storage class, Signature."""
    return FormSpec([("acl", "default"), ("Content-Type", "image/jpeg"), ("key", f"uploads/{tag}.jpg"),
                     ("success_action_status", "204"), ("x-cos-storage-class", "STANDARD"),
                     ("Signature", _signature_field(now, []))])


def dotnet_signature(now: int, tag: str) -> FormSpec:
    """qcloud-sdk-dotnet: `Acl` with a capital A and a policy without q-* conditions."""
    key = f"uploads/{tag}.jpg"
    b64, _ = policy_b64({"expiration": format_iso8601(now + 900),
                         "conditions": [{"bucket": BUCKET}, ["starts-with", "$key", "uploads/"]]})
    return FormSpec([("Acl", "default"), ("key", key), ("success_action_status", "204"), ("policy", b64),
                     ("Signature", _signature_field(now, []))])


def chromium_boundary(tag: str) -> str:
    return "----WebKitFormBoundary" + (tag.replace("-", "") + "A1b2C3d4E5f6G7h8")[:16]


def firefox_boundary(tag: str) -> str:
    return "-" * 27 + str(abs(hash(tag)) % 10 ** 28).rjust(28, "9")


DIALECTS = [
    Dialect("chromium-web-demo", web_demo_policy, chromium_boundary, 204),
    Dialect("firefox-form-sts", web_demo_form_sts, firefox_boundary, 200),
    Dialect("filename-key", filename_key, chromium_boundary, 204),
    Dialect("success-redirect", redirect, chromium_boundary, 303),
    Dialect("success-status-201", status_201, firefox_boundary, 201),
    Dialect("field-name-case", case_variants, chromium_boundary, 204),
    Dialect("extra-fields", extra_fields, firefox_boundary, 204),
    Dialect("miniprogram-signature", miniprogram_signature, chromium_boundary, 200),
    Dialect("android-signature", android_signature, chromium_boundary, 204),
    Dialect("dotnet-signature", dotnet_signature, chromium_boundary, 204),
]


def now() -> int:
    return int(time.time())
