"""Where did this upload's policy come from? Usually from the app's own signing endpoint.

The proxy sees both sides: the response of the app's "post-policy" endpoint that handed out the
policy and q-signature, and the upload that used them. Remembering the first lets the diagnosis of
the second say whether a failing value was signed by the server or changed by the client.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

MAX_SCANNED_BODY = 256 * 1024
CAPACITY = 1024
# Cheap pre-test on every candidate body (bytes.find in C): signing endpoints name these fields.
MARKERS = (b"olicy", b"ignature")
BASE64_RE = re.compile(rb"[A-Za-z0-9+/]{40,}={0,2}")
HEX40_RE = re.compile(rb"(?<![0-9a-fA-F])[0-9a-f]{40}(?![0-9a-fA-F])")
TEXTUAL_TYPES = ("json", "text", "javascript", "xml", "x-www-form-urlencoded")


@dataclass(frozen=True, slots=True)
class Origin:
    flow_id: str
    method: str
    url: str
    time: str
    strings: frozenset[str]     # every JSON string value in that response: what the server handed out

    def evidence(self) -> dict:
        return {"flow_id": self.flow_id, "method": self.method, "url": self.url, "time": self.time}


class PolicyOrigins:
    """A bounded map from policies and signatures to the response that carried them."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self._by_token: OrderedDict[str, Origin] = OrderedDict()

    def __len__(self) -> int:
        return len(self._by_token)

    def observe(self, *, flow_id: str, method: str, url: str, time: str, content_type: str | None,
                body: bytes | None) -> bool:
        """Remember a response if it carries a policy or a signature. True when it did."""
        if not body or len(body) > MAX_SCANNED_BODY:
            return False
        if content_type and not any(t in content_type.lower() for t in TEXTUAL_TYPES):
            return False
        if not any(marker in body for marker in MARKERS):
            return False
        text = body.replace(b"\\/", b"/")
        tokens = [t.decode() for t in _policies(text)] + [m.group().decode() for m in HEX40_RE.finditer(text)]
        if not tokens:
            return False
        origin = Origin(flow_id, method, url, time, frozenset(_json_strings(body)))
        for token in tokens:
            self._by_token[token] = origin
            self._by_token.move_to_end(token)
        while len(self._by_token) > self.capacity:
            self._by_token.popitem(last=False)
        return True

    def lookup(self, policy: str | None, signature: str | None) -> tuple[Origin | None, bool, bool]:
        """(origin, policy_from_server, signature_from_server)."""
        by_policy = self._by_token.get(policy) if policy else None
        by_signature = self._by_token.get(signature) if signature else None
        origin = by_policy or by_signature
        return origin, by_policy is not None, by_signature is not None


def _policies(text: bytes) -> Iterator[bytes]:
    for match in BASE64_RE.finditer(text):
        token = match.group()
        try:
            decoded = base64.b64decode(token + b"=" * (-len(token) % 4), validate=True)
        except (binascii.Error, ValueError):
            continue
        stripped = decoded.lstrip()
        if stripped.startswith(b"{") and (b"conditions" in decoded or b"expiration" in decoded):
            yield token


def _json_strings(body: bytes) -> Iterator[str]:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return
    stack = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def attribute(findings: list[dict], origin: Origin, policy_from_server: bool,
              signature_from_server: bool) -> None:
    """Add `policy_origin` and `value_source` to the findings a signing endpoint explains."""
    for found in findings:
        evidence = found["evidence"]
        if found["severity"] != "error":
            continue
        evidence["policy_origin"] = origin.evidence()
        if found["id"].startswith("SignatureDoesNotMatch"):
            evidence["value_source"] = "server" if signature_from_server else "client"
        elif "actual" in evidence and "condition" in evidence:
            actual = evidence.get("actual")
            evidence["value_source"] = "server" if isinstance(actual, str) and actual in origin.strings else "client"
        elif policy_from_server:
            evidence["value_source"] = "server"
