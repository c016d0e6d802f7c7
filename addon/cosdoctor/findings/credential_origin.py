"""Where did this temporary key come from? Usually from the app's STS endpoint.

Apps hand browsers temporary keys from their own endpoint (qcloud-cos-sts-sdk's ``getCredential``:
``{"credentials":{"tmpSecretId":…,"tmpSecretKey":…,"sessionToken":…},"expiredTime":…}``, or the
raw STS answer's ``Credentials.{TmpSecretId,Token}`` and ``ExpiredTime``). The proxy sees that
answer and, later, the upload signed with the key. Remembering the first lets an "Access Denied."
name the request that issued the key, when it expires and whether the token sent is its token.

Only the SecretId, a digest of the token and the times are kept: never the SecretKey.
"""
from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

MAX_SCANNED_BODY = 16 * 1024
CAPACITY = 1024
MARKERS = (b"mpSecretId",)           # tmpSecretId / TmpSecretId, found with bytes.find in C
_ID_NAMES = ("tmpsecretid",)
_TOKEN_NAMES = ("sessiontoken", "token", "securitytoken", "xcossecuritytoken")
_EXPIRY_NAMES = ("expiredtime",)
_START_NAMES = ("starttime",)
_MAX_DEPTH = 6


@dataclass(frozen=True, slots=True)
class CredentialOrigin:
    flow_id: str
    method: str
    url: str
    time: str
    time_unix: int
    secret_id: str
    token_digest: str | None
    expired_time: int | None
    start_time: int | None

    def evidence(self, request_time: int | None, token: str | None) -> dict:
        out = {"flow_id": self.flow_id, "method": self.method, "url": self.url, "time": self.time,
               "expired_time": self.expired_time, "start_time": self.start_time}
        if request_time is not None and self.expired_time is not None:
            out["expired_at_request"] = request_time >= self.expired_time
        if token is not None and self.token_digest is not None:
            out["token_matches"] = _digest(token) == self.token_digest
        return out


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()[:16]


class CredentialOrigins:
    """A bounded map from temporary SecretIds to the answer that handed them out (oldest dropped)."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self._by_id: OrderedDict[str, CredentialOrigin] = OrderedDict()

    def __len__(self) -> int:
        return len(self._by_id)

    def observe(self, *, flow_id: str, method: str, url: str, time: str, time_unix: int,
                body: bytes | None) -> bool:
        """Remember a JSON answer that hands out a temporary key. True when it did."""
        if not body or len(body) > MAX_SCANNED_BODY or not any(m in body for m in MARKERS):
            return False
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return False
        found = False
        for fields in _objects(document, 0):
            secret_id = _first(fields, _ID_NAMES)
            if not isinstance(secret_id, str) or not secret_id or len(secret_id) > 256:
                continue
            token = _first(fields, _TOKEN_NAMES)
            expiry = _first(fields, _EXPIRY_NAMES, document if isinstance(document, dict) else None)
            start = _first(fields, _START_NAMES, document if isinstance(document, dict) else None)
            origin = CredentialOrigin(flow_id, method, url, time, time_unix, secret_id,
                                      _digest(token) if isinstance(token, str) and token else None,
                                      _as_time(expiry), _as_time(start))
            self._by_id[secret_id] = origin
            self._by_id.move_to_end(secret_id)
            found = True
        while len(self._by_id) > self.capacity:
            self._by_id.popitem(last=False)
        return found

    def lookup(self, secret_id: str | None) -> CredentialOrigin | None:
        return self._by_id.get(secret_id) if secret_id else None


def _objects(value: object, depth: int) -> Iterator[dict[str, object]]:
    """Every JSON object (lower-cased names without ``_``) that names a temporary SecretId."""
    if depth > _MAX_DEPTH:
        return
    if isinstance(value, dict):
        fields = {str(k).lower().replace("_", ""): v for k, v in value.items()}
        if any(name in fields for name in _ID_NAMES):
            yield fields
        for inner in value.values():
            if isinstance(inner, (dict, list)):
                yield from _objects(inner, depth + 1)
    elif isinstance(value, list):
        for inner in value[:16]:
            yield from _objects(inner, depth + 1)


def _first(fields: dict[str, object], names: tuple[str, ...], outer: dict | None = None) -> object:
    for name in names:
        if name in fields:
            return fields[name]
    if outer is not None:                 # getCredential puts expiredTime beside "credentials"
        lowered = {str(k).lower().replace("_", ""): v for k, v in outer.items()}
        for name in names:
            if name in lowered:
                return lowered[name]
    return None


def _as_time(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and 0 < value < 10 ** 11:
        return value
    if isinstance(value, str) and value.isdigit() and len(value) <= 11:
        return int(value)
    return None
