"""A COS client's XML-API signing, written for the tests independently of the addon's core.

It signs the way cos-python-sdk-v5 does (``quote(v, '-_.~')``, names lower-cased and sorted,
``sha1\\n<KeyTime>\\n<sha1>\\n``), so the emulator and the engine are checked against a third
implementation, not against themselves.
"""
from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote

SECRET_ID = "AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q"    # the official test identity, not an account
SECRET_KEY = "BQYIM75p8x0iWVFSIgqEKwFprpRSVHlz"


def enc(s: str) -> str:
    return quote(s, safe="-_.~")


def client_sign(method: str, path: str, params: dict, headers: dict, *, key_time: str,
                secret: str = SECRET_KEY, secret_id: str = SECRET_ID, listed_time: str | None = None,
                swap: bool = False, upper: bool = False, header_list: str | None = None) -> tuple[str, str]:
    """(auth string, http string) as a client computes them for what it *thinks* it sends (``path``
    decoded, with its '/'). The switches are the usual client mistakes: another KeyTime listed than
    signed, HMAC arguments swapped, upper-case hex, a q-header-list that is not what was signed."""
    hp = sorted((enc(k).lower(), enc(v)) for k, v in params.items())
    hh = sorted((enc(k).lower(), enc(v)) for k, v in headers.items())
    http = (f"{method.lower()}\n{path}\n" + "&".join(f"{k}={v}" for k, v in hp) + "\n"
            + "&".join(f"{k}={v}" for k, v in hh) + "\n")
    sts = f"sha1\n{key_time}\n{hashlib.sha1(http.encode()).hexdigest()}\n"
    key = hmac.new(secret.encode(), key_time.encode(), hashlib.sha1).hexdigest()
    sig = (hmac.new(sts.encode(), key.encode(), hashlib.sha1) if swap
           else hmac.new(key.encode(), sts.encode(), hashlib.sha1)).hexdigest()
    if upper:
        sig = sig.upper()
    t = listed_time or key_time
    hl = header_list if header_list is not None else ";".join(k for k, _ in hh)
    auth = (f"q-sign-algorithm=sha1&q-ak={secret_id}&q-sign-time={t}&q-key-time={t}"
            f"&q-header-list={hl}&q-url-param-list={';'.join(k for k, _ in hp)}&q-signature={sig}")
    return auth, http


def sign(method: str, path: str, params: dict, headers: dict, *, key_time: str, secret: str = SECRET_KEY,
         secret_id: str = SECRET_ID) -> str:
    """The auth string for what the client believes it sends."""
    return client_sign(method, path, params, headers, key_time=key_time, secret=secret, secret_id=secret_id)[0]


def as_query(auth: str) -> str:
    """The auth string as presigned-URL parameters (values URL-encoded, ';' as %3B)."""
    return "&".join(f"{k}={enc(v)}" for k, _, v in (p.partition("=") for p in auth.split("&")))
