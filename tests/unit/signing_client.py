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


def sign(method: str, path: str, params: dict, headers: dict, *, key_time: str, secret: str = SECRET_KEY,
         secret_id: str = SECRET_ID) -> str:
    """The auth string for what the client believes it sends (``path`` decoded, with its '/')."""
    hp = sorted((enc(k).lower(), enc(v)) for k, v in params.items())
    hh = sorted((enc(k).lower(), enc(v)) for k, v in headers.items())
    http = (f"{method.lower()}\n{path}\n" + "&".join(f"{k}={v}" for k, v in hp) + "\n"
            + "&".join(f"{k}={v}" for k, v in hh) + "\n")
    sts = f"sha1\n{key_time}\n{hashlib.sha1(http.encode()).hexdigest()}\n"
    key = hmac.new(secret.encode(), key_time.encode(), hashlib.sha1).hexdigest()
    sig = hmac.new(key.encode(), sts.encode(), hashlib.sha1).hexdigest()
    return (f"q-sign-algorithm=sha1&q-ak={secret_id}&q-sign-time={key_time}&q-key-time={key_time}"
            f"&q-header-list={';'.join(k for k, _ in hh)}&q-url-param-list={';'.join(k for k, _ in hp)}"
            f"&q-signature={sig}")


def as_query(auth: str) -> str:
    """The auth string as presigned-URL parameters (values URL-encoded, ';' as %3B)."""
    return "&".join(f"{k}={enc(v)}" for k, _, v in (p.partition("=") for p in auth.split("&")))
