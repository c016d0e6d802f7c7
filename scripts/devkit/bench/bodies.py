"""Request bodies the benchmarks send: signed COS forms around files full of delimiter look-alikes,
and forms of many small fields."""
from __future__ import annotations

import random
import time
from pathlib import Path

import cosrig
from devkit.bench.measure import KIB, MIB
from devkit.formbuilder import FormSpec, signed_form
from devkit.signing_client import sign

BOUNDARY = "----WebKitFormBoundary7MA4YWxkTrZu0gW"   # what a browser sends
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


NON_COS_HOST = "example.com"


def file_data(size: int, seed: int) -> bytes:
    """Random bytes with `\\r\\n--` every 4 KiB and a half-boundary every 64 KiB: look-alikes that
    make every parser's delimiter search stop and check, as real binary files sometimes do."""
    rng, chunk = random.Random(seed), 16 * MIB        # randbytes() takes at most 2**31 bits at once
    data = bytearray()
    for at in range(0, size, chunk):
        data += rng.randbytes(min(chunk, size - at))
    near = b"\r\n--" + BOUNDARY[: len(BOUNDARY) // 2].encode()
    for at in range(2048, size - len(near), 4 * KIB):
        data[at:at + 4] = b"\r\n--"
    for at in range(32 * KIB, size - len(near), 64 * KIB):
        data[at:at + len(near)] = near
    return bytes(data)


def cos_form(size: int, *, key: str, now: int | None = None, seed: int = 1) -> FormSpec:
    spec = signed_form(cosrig.SECRET_ID, cosrig.SECRET_KEY, cosrig.BUCKET, key,
                       now=int(time.time()) if now is None else now, ttl=3600)
    spec.file_name, spec.file_type = Path(key).name, "application/octet-stream"
    spec.file_data = file_data(size, seed)
    return spec


def signed_put(path: str, params: dict[str, str], body: bytes) -> tuple[str, str]:
    """(target, Authorization) of a header-signed PUT of `body`, as putObject and the SDKs'
    UploadPart send it: host and content-length signed, the parameters too."""
    now = int(time.time())
    auth = sign("PUT", path, params, {"host": cosrig.COS_HOST, "content-length": str(len(body))},
                key_time=f"{now - 60};{now + 86400}")
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return path + ("?" + query if query else ""), auth


def file_body(size: int) -> tuple[bytes, int]:
    """(a signed COS form around a `size`-byte file, its part count)."""
    spec = cos_form(size, key="bench/file.bin", now=1_700_000_000)
    body, _ = spec.encode(BOUNDARY)
    return body, len(spec.fields) + 1


def fields_body(count: int) -> tuple[bytes, int]:
    out = bytearray()
    for i in range(count):
        out += (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"field{i:05d}\"\r\n\r\n"
                f"value {i}\r\n").encode()
    out += f"--{BOUNDARY}--\r\n".encode()
    return bytes(out), count
