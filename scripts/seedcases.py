"""The seven failing uploads of COS's POST troubleshooting page, plus a good one.

Each case is a correct signed form with one thing wrong, the way real clients get it wrong. The demo
sends them through mitmdump; the end-to-end tests assert the diagnosis of each.
"""
from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

import cosrig
from devkit.formbuilder import FormSpec, resign, signed_form
from cosdoctor.cos.times import format_iso8601
from cosdoctor.cos.signature import hmac_sha1_hex, sign_key


def _document(spec: FormSpec) -> dict:
    return json.loads(base64.b64decode(spec.get("policy") or ""))


# What a careful client sends: the object's Content-Type as a field, a size limit in the policy.
CAREFUL = {"extra_conditions": [["content-length-range", 1, 1024 * 1024], ["starts-with", "$Content-Type", "image/"]],
           "extra_fields": [("Content-Type", "image/jpeg")]}


def _photo(spec: FormSpec) -> FormSpec:
    spec.file_name, spec.file_type, spec.file_data = "photo.jpg", "image/jpeg", b"\xff\xd8\xff\xe0fake jpeg\r\n--\xff\xd9"
    return spec


def good(now: int, tag: str = "photo") -> FormSpec:
    return _photo(signed_form(cosrig.SECRET_ID, cosrig.SECRET_KEY, cosrig.BUCKET, f"uploads/{tag}.jpg", now=now,
                              **CAREFUL))


def _good_with(now: int, tag: str, change) -> FormSpec:
    """The good upload with its policy document changed by `change(doc)` and signed again."""
    spec = good(now, tag)
    doc = _document(spec)
    change(doc)
    return resign(spec, cosrig.SECRET_KEY, doc)


def wrong_q_ak(now: int, tag: str = "photo") -> FormSpec:
    return _good_with(now, tag, lambda doc: doc["conditions"].__setitem__(
        1, {"q-ak": "AKIDnotTheOneInTheForm0000000000000"}))


def expired(now: int, tag: str = "photo") -> FormSpec:
    # A server in UTC+8 formatting its local time with a 'Z': 8 hours too early.
    return _good_with(now, tag, lambda doc: doc.__setitem__("expiration", format_iso8601(now + 900 - 8 * 3600)))


def bad_signature(now: int, tag: str = "photo") -> FormSpec:
    spec = good(now, tag)
    policy = spec.get("policy") or ""
    # The classic porting bug: SHA1 over the base64 text instead of the JSON it encodes.
    string_to_sign = hashlib.sha1(policy.encode()).hexdigest()
    signature = hmac_sha1_hex(sign_key(cosrig.SECRET_KEY, spec.get("q-key-time") or ""), string_to_sign)
    return spec.set("q-signature", signature)


def no_conditions(now: int, tag: str = "photo") -> FormSpec:
    return _good_with(now, tag, lambda doc: doc.__setitem__("conditions", []))


def other_bucket(now: int, tag: str = "photo") -> FormSpec:
    return _good_with(now, tag, lambda doc: doc["conditions"].__setitem__(3, {"bucket": "otherbucket-1250000000"}))


def key_outside_prefix(now: int, tag: str = "photo") -> FormSpec:
    return _photo(signed_form(cosrig.SECRET_ID, cosrig.SECRET_KEY, cosrig.BUCKET, f"avatar-{tag}.png", now=now,
                              key_condition=["starts-with", "$key", "uploads/"], **CAREFUL))


@dataclass(frozen=True)
class SeedCase:
    title: str
    build: Callable[[int, str], FormSpec]   # (now, tag for the key)
    damage: str | None          # a byte-level change to the encoded body
    expected_id: str | None     # the finding that must explain COS's answer (None: accepted)
    status: int


CASES = [
    SeedCase("good upload", good, None, None, 204),
    SeedCase("q-ak in the form differs from the policy", wrong_q_ak, None, "AccessDenied_q-ak", 403),
    SeedCase("policy expired (local time written as UTC)", expired, None, "AccessDenied_Expiration", 403),
    SeedCase("q-signature over the base64 text", bad_signature, None, "SignatureDoesNotMatch_POSTSignature", 403),
    SeedCase("policy without conditions", no_conditions, None, "InvalidPolicyDocument_JSONFormat", 400),
    SeedCase("policy for another bucket", other_bucket, None, "AccessDenied_BucketNotConsistent", 403),
    SeedCase("key outside the allowed prefix", key_outside_prefix, None, "AccessDenied_Condition", 403),
    SeedCase("body with bare LF line breaks", good, "bare-lf", "MalformedPOSTRequest_POSTBody", 400),
]


def encode(spec: FormSpec, damage: str | None) -> tuple[bytes, str]:
    body, content_type = spec.encode()
    if damage == "bare-lf":
        body = body.replace(b"\r\n", b"\n")
    return body, content_type


