"""Build correct POST Object forms: the reference the demo, the emulator tests and fixes rely on.

`signed_form` follows the official algorithm (spec §3.1) the way COS's own web demo does: KeyTime
`now;now+ttl`, expiration at the end of KeyTime, the three q-* conditions plus bucket and key.
"""
from __future__ import annotations

import base64
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from cosdoctor.cos.times import format_iso8601
from cosdoctor.cos.signature import post_signature


@dataclass
class FormSpec:
    """An ordered list of form fields plus the file; `encode` gives the multipart body."""

    fields: list[tuple[str, str]] = field(default_factory=list)
    file_name: str = "hello.txt"
    file_data: bytes = b"hello, COS\r\n"
    file_type: str = "text/plain"
    file_field: str = "file"

    def set(self, name: str, value: str) -> "FormSpec":
        for i, (n, _) in enumerate(self.fields):
            if n == name:
                self.fields[i] = (name, value)
                return self
        self.fields.append((name, value))
        return self

    def drop(self, name: str) -> "FormSpec":
        self.fields = [(n, v) for n, v in self.fields if n != name]
        return self

    def get(self, name: str) -> str | None:
        return next((v for n, v in self.fields if n == name), None)

    def encode(self, boundary: str | None = None) -> tuple[bytes, str]:
        """(body, content_type) with CRLF line breaks, file last."""
        boundary = boundary or "----cosdoctor" + os.urandom(8).hex()
        out = bytearray()
        for name, value in self.fields:
            out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n").encode()
            out += value.encode("utf-8") + b"\r\n"
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{self.file_field}\"; "
                f"filename=\"{self.file_name}\"\r\nContent-Type: {self.file_type}\r\n\r\n").encode("utf-8")
        out += self.file_data + f"\r\n--{boundary}--\r\n".encode()
        return bytes(out), f"multipart/form-data; boundary={boundary}"


def policy_b64(document: dict, *, indent: int | None = None) -> tuple[str, bytes]:
    raw = json.dumps(document, indent=indent, separators=None if indent else (",", ":")).encode()
    return base64.b64encode(raw).decode(), raw


def signed_form(secret_id: str, secret_key: str, bucket: str, key: str, *, now: int,
                ttl: int = 900, extra_conditions: Sequence[object] = (),
                extra_fields: Sequence[tuple[str, str]] = (), token: str | None = None,
                key_condition: object | None = None) -> FormSpec:
    key_time = f"{now};{now + ttl}"
    conditions: list[object] = [
        {"q-sign-algorithm": "sha1"}, {"q-ak": secret_id}, {"q-sign-time": key_time},
        {"bucket": bucket}, key_condition if key_condition is not None else {"key": key},
        *extra_conditions,
    ]
    document = {"expiration": format_iso8601(now + ttl), "conditions": conditions}
    b64, raw = policy_b64(document)
    signature = post_signature(secret_key, key_time, raw).signature
    spec = FormSpec([("key", key)])
    if token:
        spec.fields.append(("x-cos-security-token", token))
    spec.fields += [("q-sign-algorithm", "sha1"), ("q-ak", secret_id), ("q-key-time", key_time),
                    ("q-signature", signature), ("policy", b64), *extra_fields]
    return spec


def resign(spec: FormSpec, secret_key: str, document: dict, *, key_time: str | None = None) -> FormSpec:
    """Replace the policy with `document` and sign it again (for tests that change one condition)."""
    b64, raw = policy_b64(document)
    key_time = key_time or spec.get("q-key-time") or ""
    spec.set("policy", b64)
    spec.set("q-signature", post_signature(secret_key, key_time, raw).signature)
    return spec
