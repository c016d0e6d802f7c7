"""What every fuzz target shares: the test identity, the contract's words, Violation, random text.

The identity is cosrig's (not a real account), repeated here so the fuzzer needs no rig import.
"""
from __future__ import annotations

import random
import re
import string
from pathlib import Path

from cosdoctor.cos.credentials import Credential, CredentialStore
from cosdoctor.wire.multipart import REASONS

ROOT = Path(__file__).resolve().parents[3]

SECRET_ID = "AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q"
SECRET_KEY = "BQYIM75p8x0iWVFSIgqEKwFprpRSVHlz"
WRONG_KEY = "WRONGp8x0iWVFSIgqEKwFprpRSVHlzQQ"
BUCKET = "examplebucket-1250000000"
COS_HOST = f"{BUCKET}.cos.ap-beijing.myqcloud.com"
STORES = {
    "none": None,
    "ok": CredentialStore({SECRET_ID: Credential(SECRET_ID, SECRET_KEY)}),
    "wrong": CredentialStore({SECRET_ID: Credential(SECRET_ID, WRONG_KEY)}),
}
# A file an XXE would read, and a port an external entity would connect to; both checked after a run.
MARKER = "COSDOCTOR-XXE-MARKER-7f3a9c"
CONTRACT_REASONS = frozenset(REASONS) | {"file-not-last", "no-file-part"}
CONTRACT_MISTAKES = frozenset({"sha1-of-base64-policy", "policy-bytes-differ", "key-time-mismatch",
                               "hmac-args-swapped", "binary-sign-key", "uppercase-hex",
                               "wrong-secret-key", "malformed"})
POLICY_KINDS = frozenset({"base64", "utf8", "json", "not-object", "no-expiration", "bad-expiration",
                          "no-conditions", "duplicate-key", "top-level-case"})
CONDITION_OPS = frozenset({"eq", "starts-with", "content-length-range", "invalid"})
PLAIN_KEYS = frozenset({"id", "severity", "phase", "evidence"})            # as the checks give them
FINDING_KEYS = PLAIN_KEYS | {"title", "cause", "fix", "doc"}                # as the render stage shows them
CONDITION_KEYS = ("condition", "index", "field", "expected", "actual")


class Violation(AssertionError):
    """A broken invariant; `code` names it so that repeats group under one finding."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code


def need(ok: object, code: str, detail: object = "") -> None:
    if not ok:
        raise Violation(code, detail if isinstance(detail, str) else repr(detail)[:300])


def clip(value: object, limit: int = 300) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


_TEXT_POOLS = (string.ascii_letters + string.digits, string.punctuation, " \t", "\r\n\x00\x0b\x1f\x7f",
               "éüßñ\xa0\x85", "文件上传测试", "😀🚀", "\u0301\u200b\u202e\ufeff", "\ufffd\uffff\ud800\udfff")


def rand_text(r: random.Random, max_len: int = 24, *, pools: tuple[str, ...] = _TEXT_POOLS,
              surrogates: bool = True) -> str:
    n = r.randrange(max_len + 1) if r.random() < 0.9 else r.randrange(max_len * 8 + 1)
    alphabet = "".join(r.choice(pools) for _ in range(r.randint(1, 3)))
    text = "".join(r.choices(alphabet, k=n))
    if not surrogates:
        text = re.sub("[\ud800-\udfff]", "?", text)
    return text


def rand_bytes(r: random.Random, max_len: int = 64) -> bytes:
    n = r.randrange(max_len + 1)
    return r.randbytes(n) if r.random() < 0.5 else bytes(r.choices(b"ab\r\n-\x00\xff ", k=n))
