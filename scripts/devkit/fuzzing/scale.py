"""Scale probes: time must grow linearly with the input. Each probe builds an input of k units;
the exponent of the time at 16k over the time at k says how it grows (1.0 linear, 2.0 quadratic)."""
from __future__ import annotations

import base64
import math
import time
from collections.abc import Callable

from cosdoctor.cos.hosts import parse_cos_host
from cosdoctor.cos.operations import carries_cos_signature, recognise_request
from cosdoctor.cos.policy import decode_policy, evaluate_conditions
from cosdoctor.cos.signature import parse_auth_string
from cosdoctor.cos.xmlsig import analyse_signature, strict_unsigned_headers
from cosdoctor.findings.answer import explain, read_answer
from cosdoctor.findings.request_checks import UploadRequest, analyse_request
from cosdoctor.wire.errorxml import parse_error_xml
from cosdoctor.wire.form import parse_form
from cosdoctor.wire.multipart import parse_multipart
from cosdoctor.wire.uploadxml import parse_complete_body
from devkit.formbuilder import policy_b64
from devkit.fuzzing.common import BUCKET, COS_HOST, SECRET_ID, SECRET_KEY, STORES
from devkit.fuzzing.multipart import PartSpec, build_multipart, content_type_for, delimiter

def probe_inputs() -> dict[str, Callable[[int], Callable[[], object]]]:
    boundary = "----probe"
    delim = delimiter(boundary)
    ct = content_type_for(boundary, False)

    def many_parts(k: int):
        body = b"".join(delim + b'\r\nContent-Disposition: form-data; name="f"\r\n\r\nv\r\n' for _ in range(k))
        body += delim + b"--"
        return lambda: parse_form(ct, body)

    def near_misses(k: int):
        data = (b"\r\n" + delim + b"X") * k
        body = delim + b'\r\nContent-Disposition: form-data; name="file"\r\n\r\n' + data + b"\r\n" + delim + b"--"
        return lambda: parse_multipart(ct, body)

    def headers_heavy(k: int):
        line = b"X-A: " + b"h" * 100 + b"\r\n"
        part = delim + b'\r\nContent-Disposition: form-data; name="f"\r\n' + line * 100 + b"\r\nv\r\n"
        body = part * k + delim + b"--"
        return lambda: parse_multipart(ct, body)

    def conditions(k: int):
        document = {"expiration": "2030-01-01T00:00:00Z",
                    "conditions": [["starts-with", "$key", "uploads/"], {"bucket": BUCKET}] * k}
        b64, _ = policy_b64(document)
        return lambda: evaluate_conditions(decode_policy(b64), {"key": "x"}, bucket=BUCKET, file_size=1)

    def duplicate_keys(k: int):
        text = "{" + ",".join('"a":{"b":1,"b":2}' for _ in range(k)) + "}"
        b64 = base64.b64encode(text.encode()).decode()
        return lambda: decode_policy(b64)

    def b64_whitespace(k: int):
        b64 = " ".join(base64.b64encode(b'{"expiration":"2030-01-01T00:00:00Z","conditions":[1]}').decode()
                       for _ in range(k))
        return lambda: decode_policy(b64)

    def auth_items(k: int):
        text = "&".join(f"x{i}=y" for i in range(k))
        return lambda: parse_auth_string(text)

    def xml_children(k: int):
        data = b"<Error>" + b"<HostId>x</HostId>" * k + b"</Error>"
        return lambda: parse_error_xml(data)

    def upload_parts(k: int):
        data = (b"<CompleteMultipartUpload>" + b"".join(b"<Part><PartNumber>%d</PartNumber><ETag>\"%032x\"</ETag>"
                                                        b"</Part>" % (i + 1, i) for i in range(k))
                + b"</CompleteMultipartUpload>")
        return lambda: parse_complete_body(data)

    def pipeline_fields(k: int):
        parts = [PartSpec(f"x-cos-meta-{i // 2}", b"v") for i in range(k)] + [PartSpec("file", b"f", filename="a")]
        built = build_multipart(boundary, parts)
        request = UploadRequest("POST", COS_HOST, "/", {"content-type": built.content_type}, built.body,
                                endpoint=parse_cos_host(COS_HOST))
        return lambda: explain(analyse_request(request, STORES["ok"], 0), read_answer(403, {}, b""), 0)

    def xml_auth(header_list: str = "host", times: str = "1557989151;1557996351", param_list: str = "") -> str:
        return (f"q-sign-algorithm=sha1&q-ak={SECRET_ID}&q-sign-time={times}&q-key-time={times}"
                f"&q-header-list={header_list}&q-url-param-list={param_list}&q-signature={'0' * 40}")

    def header_list_names(k: int):
        # k names listed, every other one sent, and COS's FormatString of all of them to compare with
        names = [f"x-cos-meta-{i}" for i in range(k)]
        headers = [("Host", COS_HOST), ("Authorization", xml_auth(";".join(["host", *names])))]
        headers += [(n, "v") for n in names[::2]]
        cos = "put\n/a\n\n" + "&".join(f"{n}=v" for n in sorted(["host", *names])) + "\n"
        return lambda: analyse_signature("PUT", "/a", "", headers, server_now=1557990000, cos_format_string=cos)

    def search_headers(k: int):
        # the mistake search with the SecretKey over k listed headers (the FormatString stays under
        # MAX_SEARCH_CHARS up to 8,192 names): its budget bounds the variants, each costs O(k)
        names = [str(i) for i in range(k)]
        headers = [("Host", COS_HOST), ("Authorization", xml_auth(";".join(["host", *names])))]
        headers += [(n, "v") for n in names]
        return lambda: analyse_signature("PUT", "/a+b", "", headers, secret_key=SECRET_KEY, server_now=1557990000)

    def sign_time_digits(k: int):
        times = "1" * k + ";" + "2" * k
        headers = [("Host", COS_HOST), ("Authorization", xml_auth(times=times))]
        return lambda: analyse_signature("PUT", "/a", "", headers, secret_key=SECRET_KEY, server_now=1557990000)

    def presigned_duplicates(k: int):
        # a presigned URL whose q-* pairs repeat k times, a q-header-list of k names and a path of k '+'
        pairs = xml_auth(";".join(f"h{i}" for i in range(k))).replace(";", "%3B")
        query = "&".join([pairs] * (1 + k // 100))
        path = "/" + "a+%E6%96%87" * k
        headers = {"host": COS_HOST}
        return lambda: (recognise_request("GET", path, query, headers), carries_cos_signature(headers, query),
                        analyse_signature("GET", path, query, headers, secret_key=SECRET_KEY))

    def recognise_long(k: int):
        path = "/" + "%E6%96%87%zz+" * k
        query = "&".join(f"p{i}=%2B{'x' * 50}" for i in range(k)) + "&partNumber=" + "9" * k + "&uploadId=" + "u" * k
        headers = {"host": COS_HOST, "authorization": xml_auth(";".join(f"h{i}" for i in range(k)))}
        return lambda: (recognise_request("PUT", path, query, headers), carries_cos_signature(headers, query))

    def strict_headers(k: int):
        headers = [(f"x-cos-meta-{i}", "v") for i in range(k)] + [("x-cos-security-token", "t"), ("Host", COS_HOST)]
        return lambda: strict_unsigned_headers(headers, ["host"])

    return {"multipart-parts": many_parts, "multipart-near-misses": near_misses,
            "multipart-headers": headers_heavy, "policy-conditions": conditions,
            "policy-duplicate-keys": duplicate_keys, "policy-base64-whitespace": b64_whitespace,
            "auth-items": auth_items, "xml-children": xml_children,
            "uploadxml-parts": upload_parts, "pipeline-fields": pipeline_fields,
            "xmlsig-header-list": header_list_names, "xmlsig-search": search_headers,
            "xmlsig-sign-time-digits": sign_time_digits, "xmlsig-presigned-duplicates": presigned_duplicates,
            "ops-recognise-long": recognise_long, "xmlsig-strict-headers": strict_headers}


PROBE_SIZES = {"multipart-parts": 600, "multipart-near-misses": 20_000, "multipart-headers": 150,
               "policy-conditions": 300, "policy-duplicate-keys": 2_000, "policy-base64-whitespace": 2_000,
               "auth-items": 3_000, "xml-children": 3_000, "pipeline-fields": 150,
               "uploadxml-parts": 600,  # 600..9600 parts: under the 10 000 cap
               # the XML API: 4k..64k header names, 512..8k searched, 6k..100k digits
               "xmlsig-header-list": 4_000, "xmlsig-search": 512, "xmlsig-sign-time-digits": 6_250,
               "xmlsig-presigned-duplicates": 1_000, "ops-recognise-long": 1_000, "xmlsig-strict-headers": 4_000}


def scale_probes(factor: int = 16) -> list[tuple[str, float, float, float]]:
    """(probe, seconds at 1x, seconds at factor x, growth exponent); 1.0 is linear, 2.0 quadratic."""
    results = []
    for name, make in probe_inputs().items():
        base = PROBE_SIZES[name]
        times = []
        for k in (base, base * factor):
            run = make(k)
            run()
            best = math.inf
            for _ in range(3):
                t0 = time.perf_counter()
                run()
                best = min(best, time.perf_counter() - t0)
            times.append(best)
        exponent = math.log(max(times[1], 1e-9) / max(times[0], 1e-9)) / math.log(factor)
        results.append((name, times[0], times[1], exponent))
    return results
