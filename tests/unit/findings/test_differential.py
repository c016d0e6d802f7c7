"""Differential test: the addon's preflight verdict must equal the emulator's answer.

The two make their decisions independently (the emulator checks one thing after another with its
own code and COS's messages typed in from the docs; the preflight collects findings and ranks them
with the catalogue), so agreement over thousands of generated requests is evidence, not a tautology.
Each generated request is valid, or valid with exactly one fault.
"""
from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cos_emulator import Emulator, Rejection
from cosdoctor.findings import catalogue
from cosdoctor.cos.credentials import Credential, CredentialStore
from cosdoctor.findings.diagnose import request_for
from devkit.formbuilder import FormSpec, policy_b64
from cosdoctor.cos.hosts import parse_cos_host
from cosdoctor.cos.times import format_iso8601
from cosdoctor.findings.request_checks import analyse_request, is_certain, verdict
from cosdoctor.cos.signature import header_signature, post_signature

SECRET_ID = "AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q"
SECRET_KEY = "BQYIM75p8x0iWVFSIgqEKwFprpRSVHlz"
HOSTS = ["examplebucket-1250000000.cos.ap-beijing.myqcloud.com",
         "photos-1300000001.cos.accelerate.myqcloud.com",
         "media-1250000000.cos.ap-guangzhou.tencentcos.cn"]
CREDENTIALS = CredentialStore({SECRET_ID: Credential(SECRET_ID, SECRET_KEY)}, ())
EXAMPLES = int(os.environ.get("COS_DIFFERENTIAL_EXAMPLES", "2500"))


class Upload:
    """A request under construction: form fields, policy document, file and byte-level damage."""

    def __init__(self, host: str, now: int, key: str, mode: str, file_data: bytes, pretty: bool,
                 extra_fields: list[tuple[str, str]], range_max: int | None) -> None:
        self.host, self.now, self.mode, self.pretty = host, now, mode, pretty
        self.bucket = parse_cos_host(host).bucket
        self.key_time = f"{now - 10};{now + 900}"
        self.conditions: list[object] = [{"q-sign-algorithm": "sha1"}, {"q-ak": SECRET_ID},
                                          {"q-sign-time": self.key_time}, {"bucket": self.bucket},
                                          ["starts-with", "$key", key.rsplit("/", 1)[0] + "/"]]
        if range_max is not None:
            self.conditions.append(["content-length-range", 0, range_max])
        self.expiration = format_iso8601(now + 900)
        self.fields: list[tuple[str, str]] = [("key", key), *extra_fields]
        self.file = FormSpec(file_data=file_data, file_name="photo.jpg")
        self.raw_policy: bytes | None = None   # set to override the serialised policy
        self.policy_text: str | None = None     # set to override the base64 text
        self.signature: str | None = None       # set to override q-signature / Signature
        self.sign_key_time: str | None = None
        self.drop: set[str] = set()
        self.damage: Callable[[bytes, str], bytes] | None = None
        self.headers: dict[str, str | None] = {}

    def build(self) -> tuple[bytes, dict[str, str]]:
        document = {"expiration": self.expiration, "conditions": self.conditions}
        raw = self.raw_policy if self.raw_policy is not None else policy_b64(
            document, indent=4 if self.pretty else None)[1]
        fields = list(self.fields)
        if self.mode == "policy":
            signature = self.signature or post_signature(SECRET_KEY, self.sign_key_time or self.key_time, raw).signature
            fields += [("q-sign-algorithm", "sha1"), ("q-ak", SECRET_ID), ("q-key-time", self.key_time),
                       ("q-signature", signature),
                       ("policy", self.policy_text if self.policy_text is not None else base64.b64encode(raw).decode())]
        else:
            good = header_signature(SECRET_KEY, self.key_time, "post", "/", [], [("host", self.host)]).signature
            fields.append(("Signature", f"q-sign-algorithm=sha1&q-ak={SECRET_ID}&q-sign-time={self.key_time}"
                                        f"&q-key-time={self.key_time}&q-header-list=host&q-url-param-list="
                                        f"&q-signature={self.signature or good}"))
        fields = [(n, v) for n, v in fields if n not in self.drop]
        spec = FormSpec(fields, file_name=self.file.file_name, file_data=self.file.file_data)
        boundary = "----WebKitFormBoundary" + hashlib.md5(repr(fields).encode()).hexdigest()[:16]
        body, content_type = spec.encode(boundary)
        if self.damage:
            body = self.damage(body, boundary)
        headers = {"host": self.host, "content-type": content_type, "content-length": str(len(body))}
        headers.update(self.headers)
        return body, {k: v for k, v in headers.items() if v is not None}


def _set(attr: str, value):
    return lambda u: setattr(u, attr, value(u) if callable(value) else value)


def _field(name: str, value: str):
    return lambda u: u.fields.append((name, value))


def _replace_condition(index: int, value):
    return lambda u: u.conditions.__setitem__(index, value)


# One fault each; every one a mistake real clients make.
FAULTS: dict[str, Callable[[Upload], None]] = {
    "expired": _set("expiration", lambda u: format_iso8601(u.now - 3600)),
    "expiration-format": _set("expiration", "2026/01/01 10:00:00"),
    "no-conditions": _set("conditions", []),
    "invalid-condition": lambda u: u.conditions.append(["in", "$key", "a"]),
    "bad-base64": _set("policy_text", "***"),
    "not-json": _set("raw_policy", b"{expiration: soon}"),
    "wrong-signature": _set("signature", "0123456789abcdef0123456789abcdef01234567"),
    "signed-base64": lambda u: setattr(u, "signature", "f" * 40),
    "wrong-key-time": _set("sign_key_time", lambda u: f"{u.now};{u.now + 1}"),
    "q-ak-condition": _replace_condition(1, {"q-ak": "AKIDsomeoneElse000000000000000000000"}),
    "bucket-condition": _replace_condition(3, {"bucket": "otherbucket-1250000000"}),
    "key-prefix": _replace_condition(4, ["starts-with", "$key", "elsewhere/"]),
    "missing-conditioned-field": lambda u: u.conditions.append({"acl": "private"}),
    "condition-value": lambda u: (u.conditions.append({"x-cos-meta-owner": "alice"}),
                                  u.fields.append(("x-cos-meta-owner", "bob"))),
    "too-large": lambda u: (u.conditions.append(["content-length-range", 0, 3]),),
    "too-small": lambda u: u.conditions.append(["content-length-range", 1 << 20, 1 << 21]),
    "missing-key": lambda u: u.drop.add("key"),
    "missing-q-ak": lambda u: u.drop.add("q-ak"),
    "missing-policy": lambda u: u.drop.add("policy"),
    "key-too-long": lambda u: (u.fields.__setitem__(0, ("key", "k/" + "x" * 900)),
                               u.conditions.__setitem__(4, ["starts-with", "$key", "k/"])),
    "traffic-limit": _field("x-cos-traffic-limit", "100"),
    "content-md5": _field("Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg=="),
    "bare-lf": _set("damage", lambda u: (lambda b, _: b.replace(b"\r\n", b"\n"))),
    "boundary-mismatch": _set("damage", lambda u: (lambda b, boundary: b.replace(boundary.encode(), b"other", 1))),
    "truncated": _set("damage", lambda u: (lambda b, _: b[:-20])),
    "two-files": _field("file", "second"),
    "no-file": _set("damage", lambda u: (lambda b, _: b.replace(b'name="file"', b'name="upload"'))),
    "not-multipart": lambda u: u.headers.update({"content-type": "application/x-www-form-urlencoded"}),
    "no-content-length": lambda u: u.headers.update({"content-length": None, "transfer-encoding": "chunked"}),
}
# Faults that make no sense in Signature-field mode (no policy, or a policy-only check).
POLICY_ONLY = {"wrong-key-time", "q-ak-condition", "bad-base64", "not-json", "missing-q-ak", "missing-policy",
               "signed-base64", "expiration-format", "no-conditions", "invalid-condition", "expired",
               "bucket-condition", "key-prefix", "missing-conditioned-field", "condition-value",
               "too-large", "too-small", "key-too-long"}

keys = st.builds(lambda d, n: f"{d}/{n}", st.sampled_from(["uploads", "a/b", "用户", "x y"]),
                 st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters='"\\/'),
                         min_size=1, max_size=20))
extra = st.lists(st.sampled_from([("Content-Type", "image/jpeg"), ("success_action_status", "201"),
                                  ("x-cos-meta-tag", "v"), ("acl", "default"), ("name", ""),
                                  ("Cache-Control", "max-age=60")]), max_size=3, unique=True)
file_data = st.one_of(st.binary(max_size=300),
                      st.just(b"\r\n--boundary-lookalike\r\n" * 4),
                      st.builds(lambda n: b"\r\n--" * n, st.integers(0, 50)))


@st.composite
def uploads(draw):
    mode = draw(st.sampled_from(["policy", "policy", "policy", "signature-field"]))
    upload = Upload(draw(st.sampled_from(HOSTS)), 1_795_000_000, draw(keys), mode, draw(file_data),
                    draw(st.booleans()), draw(extra), draw(st.one_of(st.none(), st.just(5000))))
    fault = draw(st.one_of(st.none(), st.sampled_from(sorted(FAULTS))))
    if fault is not None and (mode == "policy" or fault not in POLICY_ONLY):
        FAULTS[fault](upload)
    else:
        fault = None
    return upload, fault


def emulator_answer(upload: Upload, body: bytes, headers: dict) -> str | tuple[int, str, str]:
    emulator = Emulator(CREDENTIALS)
    emulator.now = lambda: upload.now
    try:
        emulator.post_object(headers["host"], "/", headers, body)
    except Rejection as rejection:
        return rejection.status, rejection.code, rejection.message
    return "accept"


def preflight_answer(upload: Upload, body: bytes, headers: dict) -> str | tuple[int, str, str | None]:
    request = request_for("POST", headers["host"], "/", headers, body, parse_cos_host(headers["host"]))
    analysis = analyse_request(request, CREDENTIALS, upload.now)
    found = verdict(analysis)
    if found is None:
        return "accept"
    entry = catalogue.entry(found["id"])
    message = catalogue.cos_message(found["id"], found["evidence"]) if is_certain(analysis, found) else None
    return entry.status, entry.code, message


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(uploads())
def test_preflight_agrees_with_the_emulator(case):
    upload, fault = case
    body, headers = upload.build()
    cos = emulator_answer(upload, body, headers)
    ours = preflight_answer(upload, body, headers)
    if cos == "accept" or ours == "accept":
        assert ours == cos, f"fault={fault}"
        return
    assert ours[:2] == cos[:2], f"fault={fault}: preflight {ours}, emulator {cos}"
    if ours[2] is not None:           # a documented answer must be COS's exact wording
        assert ours[2] == cos[2], f"fault={fault}"


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_every_fault_is_rejected_by_both(fault):
    """Each fault on its own really is a fault (guards the generator against silent no-ops)."""
    upload = Upload(HOSTS[0], 1_795_000_000, "uploads/a.jpg", "policy", b"0123456789", False, [], None)
    FAULTS[fault](upload)
    body, headers = upload.build()
    cos = emulator_answer(upload, body, headers)
    ours = preflight_answer(upload, body, headers)
    assert cos != "accept" and ours != "accept"
    assert ours[:2] == cos[:2]
