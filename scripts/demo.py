#!/usr/bin/env python3
"""The demo: the addon in front of the local COS emulator, one upload per COS troubleshooting case.

Starts the emulator and `mitmdump -s addon/cos_addon.py` (reverse mode, COS Host kept), sends the
seven failing uploads of COS's "POST Object common exceptions" page plus a good one with urllib,
then the other upload paths (a header-signed PUT whose key has a `+`, signed as a client that signs
the raw key, and the same done right; a presigned GET used after it expired; multipart uploads with
a part under 1 MB, with an ETag the page cannot read, and with a temporary key lacking UploadPart), and prints what the client received (status, X-COS-Diagnosis) and the addon's report. Everything
runs in a temporary folder (it holds a credentials file), removed when the demo ends, Ctrl-C too.
"""
from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cosrig  # noqa: E402
from devkit.signing_client import as_query, sign  # noqa: E402
from seedcases import CASES, encode  # noqa: E402

LOCAL_REQUEST_ID = "cosdoctor-"      # block mode's own answers carry this RequestId prefix
MARKS = {"error": "✖", "warning": "⚠", "info": "ℹ"}
INDENT = " " * 49


def send(proxy_url: str, body: bytes, content_type: str) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(proxy_url + "/", data=body, method="POST", headers={
        "Host": cosrig.COS_HOST, "Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers)


def send_raw(proxy_url: str, method: str, target: str, headers: dict[str, str],
             body: bytes | None = None) -> tuple[int, dict[str, str]]:
    """One request exactly as given (urllib keeps the target's `+` and %2B as they are)."""
    request = urllib.request.Request(proxy_url + target, data=body, method=method,
                                     headers={"Host": cosrig.COS_HOST, **headers})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers)


def xml_api_cases(now: int) -> list[tuple[str, str, str, dict[str, str], bytes | None]]:
    """(title, method, target, headers, body): the SDKs' other ways to upload and download."""
    key_time = f"{now - 60};{now + 900}"
    body = b"hello, COS\n"
    length = {"content-length": str(len(body))}
    raw_plus = sign("PUT", "/photos/a+b.jpg", {}, {"host": cosrig.COS_HOST, **length}, key_time=key_time)
    expired_time = f"{now - 3600};{now - 1800}"
    presigned = as_query(sign("GET", "/photos/a+b.jpg", {}, {"host": cosrig.COS_HOST}, key_time=expired_time))
    return [
        ("PUT, key with + sent raw (COS reads a space)", "PUT", "/photos/a+b.jpg",
         {"Authorization": raw_plus, "Content-Length": length["content-length"]}, body),
        ("PUT, the same key sent as %2B", "PUT", "/photos/a%2Bb.jpg",
         {"Authorization": raw_plus, "Content-Length": length["content-length"]}, body),
        ("presigned GET used after it expired", "GET", "/photos/a%2Bb.jpg?" + presigned, {}, None),
    ]


PAGE = "https://app.example.com"      # the demo's multipart "browser" page
LOCKED_PREFIX = "sts-locked/"          # keys a temporary key may initiate but not upload parts to
MIB = 1024 * 1024


def _signed(method: str, key: str, params: dict[str, str], headers: dict[str, str], key_time: str) -> dict[str, str]:
    return {**headers, "Authorization": sign(method, "/" + key, params, {"host": cosrig.COS_HOST, **{
        k.lower(): v for k, v in headers.items() if k.lower() in ("content-length",)}}, key_time=key_time)}


def multipart_stories(proxy_url: str, now: int) -> list[tuple[str, int, dict[str, str]]]:
    """Three multipart uploads as an SDK makes them (Initiate, parts, Complete), each with one
    mistake: a first part under 1 MB; a page that cannot read ETag (the bucket's CORS rule does not
    expose it) and so sends "undefined"; a temporary key whose policy lacks UploadPart. What the
    client got for the call that failed, per story."""
    key_time = f"{now - 60};{now + 900}"
    results = []
    stories = (("multipart: part 1 under 1 MB, then Complete", "mpu/small-first.bin", (100 * 1024, MIB), False),
               ("multipart: the page cannot read ETag", "mpu/hidden-etag.bin", (MIB, 1000), True),
               ("multipart: temporary key without UploadPart", LOCKED_PREFIX + "photo.bin", (MIB,), False))
    for title, key, sizes, browser in stories:
        origin = {"Origin": PAGE} if browser else {}
        status, answer, body = _call(proxy_url, "POST", key, {"uploads": ""}, {"Content-Length": "0", **origin},
                                     b"", key_time)
        upload_id = body.split(b"<UploadId>")[1].split(b"</UploadId>")[0].decode() if b"<UploadId>" in body else ""
        parts, failed = [], None
        for number, size in enumerate(sizes, 1):
            status, answer, _ = _call(proxy_url, "PUT", key, {"partNumber": str(number), "uploadId": upload_id},
                                      {"Content-Length": str(size), **origin}, b"\0" * size, key_time)
            if status >= 300:
                failed = (title, status, answer)
                break
            # what the page's script can read: a header CORS does not expose is undefined to it
            exposed = answer.get("Access-Control-Expose-Headers", "").lower()
            parts.append((number, answer.get("ETag") if not browser or "etag" in exposed else "undefined"))
        if failed is None:
            listed = "".join(f"<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>" for n, e in parts)
            complete = f"<CompleteMultipartUpload>{listed}</CompleteMultipartUpload>".encode()
            status, answer, _ = _call(proxy_url, "POST", key, {"uploadId": upload_id},
                                      {"Content-Length": str(len(complete)), "Content-Type": "application/xml",
                                       **origin}, complete, key_time)
            failed = (title, status, answer)
        results.append(failed)
    return results


def _call(proxy_url: str, method: str, key: str, params: dict[str, str], headers: dict[str, str], body: bytes,
          key_time: str) -> tuple[int, dict[str, str], bytes]:
    from urllib.parse import quote
    query = "&".join(f"{k}={quote(v, safe='')}" if v else k for k, v in params.items())
    signed = _signed(method, key, params, headers, key_time)
    request = urllib.request.Request(proxy_url + "/" + quote(key) + "?" + query, data=body, method=method,
                                     headers={"Host": cosrig.COS_HOST, **signed})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


MULTIPART_FLOWS = 4 + 4 + 2        # the stories' flows: Initiate, parts, Complete


def received_line(title: str, status: int, headers: dict[str, str]) -> list[str]:
    """What the client got: status, the diagnosis header, and whether the proxy answered itself."""
    diagnosis = headers.get("X-COS-Diagnosis", "-")
    local = headers.get("x-cos-request-id", "").startswith(LOCAL_REQUEST_ID)
    lines = [f"{title:45} -> {status}  {diagnosis}" + ("  (blocked locally)" if local else "")]
    if diagnosis != "-":
        lines.append(INDENT + headers.get("X-COS-Diagnosis-Detail", ""))
    return lines


def record_lines(entry: dict) -> list[str]:
    """One report record: the leading finding in full, then every other finding on a line."""
    status = entry["status"] if entry["status"] is not None else "-"
    where = f"[{status}{' blocked locally' if entry['action'] == 'blocked' else ''}] {entry['key'] or '-'}"
    findings = entry["findings"]
    if not findings:
        return [f"{where}: no findings"]
    first, rest = findings[0], findings[1:]
    lines = [f"{where}: {first['id']} — {first['title']}",
             f"    cause: {first['cause']}", f"    fix:   {first['fix']}"]
    interesting = {k: v for k, v in first["evidence"].items() if v not in (None, "", [])}
    if interesting:
        lines.append("    evidence: " + json.dumps(interesting, ensure_ascii=False)[:600])
    lines += [f"    also: {MARKS.get(f['severity'], '-')} {f['id']} — {f['title']}" for f in rest]
    return lines


def start_proxy(*args, **kwargs) -> cosrig.Proxy:
    """cosrig.Proxy.start, with Ctrl-C held back until mitmdump is up: an interrupt in the middle
    would lose the process, which would outlive the demo. (Handlers do not survive exec, so
    mitmdump itself starts with the default ones.)"""
    pending: list[int] = []
    held = {sig: signal.signal(sig, lambda number, frame: pending.append(number))
            for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        proxy = cosrig.Proxy.start(*args, **kwargs)
    finally:
        for sig, handler in held.items():
            signal.signal(sig, handler)
    if pending:
        proxy.stop()
        raise KeyboardInterrupt
    return proxy


def run(args: argparse.Namespace, workdir: Path) -> int:
    credentials = cosrig.write_credentials(workdir)
    report = workdir / "report.jsonl"
    emulator = cosrig.EmulatorThread.start(
        credentials, bucket_expose_headers={cosrig.BUCKET: ("x-cos-request-id", "Content-Length")},
        allowed_actions={"*": {"*"}, LOCKED_PREFIX + "*": {"PutObject", "PostObject", "InitiateMultipartUpload",
                                                          "ListMultipartUploads", "ListParts"}})
    try:
        proxy = start_proxy(emulator.port, "--set", f"cos_credentials={credentials}",
                            "--set", f"cos_report={report}", "--set", f"cos_lang={args.lang}",
                            "--set", f"cos_validate={args.validate}", workdir=workdir)
        try:
            print(f"COS emulator on 127.0.0.1:{emulator.port}; mitmdump (reverse, addon loaded, "
                  f"cos_validate={args.validate}) on {proxy.url}\n")
            now = int(time.time())
            for case in CASES:
                status, headers = send(proxy.url, *encode(case.build(now), case.damage))
                print("\n".join(received_line(case.title, status, headers)), flush=True)
            for title, method, target, headers, body in xml_api_cases(now):
                status, answer = send_raw(proxy.url, method, target, headers, body)
                print("\n".join(received_line(title, status, answer)), flush=True)
            for title, status, answer in multipart_stories(proxy.url, now):
                print("\n".join(received_line(title, status, answer)), flush=True)
        finally:
            proxy.stop()
    finally:
        emulator.stop()
    print("\nThe addon's report (--set cos_report=…), one record per upload:")
    for line in report.read_text(encoding="utf-8").splitlines():
        print("\n" + "\n".join(record_lines(json.loads(line))))
    if args.report:
        shutil.copyfile(report, args.report)
        print(f"\nReport copied to {args.report}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lang", default="en", choices=("en", "ko", "zh"))
    parser.add_argument("--validate", default="off", choices=("off", "warn", "block"))
    parser.add_argument("--report", metavar="PATH", help="keep a copy of the JSON Lines report here")
    args = parser.parse_args(argv)
    # SIGTERM ends the demo as Ctrl-C does: through the clean-up below.
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    workdir = Path(tempfile.mkdtemp(prefix="cos-demo-"))
    try:
        print(f"Working folder {workdir} (a credentials file, the report): removed when the demo ends\n",
              flush=True)
        return run(args, workdir)
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        return 130
    finally:
        for sig in handlers:                              # a second Ctrl-C must not stop the clean-up
            signal.signal(sig, signal.SIG_IGN)
        shutil.rmtree(workdir, ignore_errors=True)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
