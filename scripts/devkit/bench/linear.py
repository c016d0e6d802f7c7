"""Linear time: the whole request analysis per byte, on bodies built to make a careless parser
quadratic, as they grow."""
from __future__ import annotations

import base64
from dataclasses import dataclass

import cosrig
from devkit.bench.bodies import cos_form
from devkit.bench.measure import KIB, MIB, Config, best_time, human_bytes
from devkit.bench.report import Target
from devkit.formbuilder import FormSpec

TARGET_LINEAR_RATIO = 2.0        # ns/byte at the largest size over ns/byte at the smallest


@dataclass
class LinearResult:
    case: str
    size: int
    ns_per_byte: float


def pathological_bodies(size: int) -> dict[str, tuple[bytes, str]]:
    """Bodies built to make a careless parser quadratic: each about `size` bytes."""
    boundary = "----cosdoctorPathological"
    head = f"--{boundary}\r\n".encode()
    tiny = head + b'Content-Disposition: form-data; name="a"\r\n\r\nx\r\n'
    fat_headers = head + b'Content-Disposition: form-data; name="a"\r\n' + b"X-Pad: " + b"h" * 1000 + b"\r\n\r\nv\r\n"
    lookalike = (b"\r\n--" + boundary[:-1].encode() + b"X") * (size // (len(boundary) + 4))
    spec = cos_form(0, key="uploads/linear")
    body, _ = spec.encode(boundary)
    file_at = body.index(b'name="file"')
    file_start = body.index(b"\r\n\r\n", file_at) + 4
    depth = max(1, size // 2)
    nested = ('{"expiration":"2030-01-01T00:00:00Z","conditions":[{"key":"a"}],"x":' + "[" * depth + "]" * depth + "}")
    policy_form = FormSpec([("key", "uploads/linear"), ("q-sign-algorithm", "sha1"), ("q-ak", cosrig.SECRET_ID),
                            ("q-key-time", "1;2"), ("q-signature", "0" * 40),
                            ("policy", base64.b64encode(nested.encode()).decode())])
    closing = f"--{boundary}--\r\n".encode()
    return {
        "tiny parts": (tiny * (size // len(tiny)) + closing, boundary),
        "1 KiB part headers": (fat_headers * (size // len(fat_headers)) + closing, boundary),
        "boundary look-alikes in file": (body[:file_start] + lookalike + body[file_start:], boundary),
        "deeply nested policy JSON": (policy_form.encode(boundary)[0], boundary),
    }


def bench_linear(config: Config) -> list[LinearResult]:
    """Time per byte of the whole request analysis as pathological bodies grow: it must stay flat."""
    from cosdoctor.findings.diagnose import request_for
    from cosdoctor.cos.hosts import parse_cos_host
    from cosdoctor.findings.request_checks import analyse_request
    endpoint = parse_cos_host(cosrig.COS_HOST)
    sizes = [64 * KIB, 256 * KIB, MIB] if config.name == "quick" else [256 * KIB, MIB, 4 * MIB, 16 * MIB]
    results = []
    for size in sizes:
        for case, (body, boundary) in pathological_bodies(size).items():
            headers = {"content-type": f"multipart/form-data; boundary={boundary}",
                       "content-length": str(len(body))}
            request = request_for("POST", cosrig.COS_HOST, "/", headers, body, endpoint)
            seconds = best_time(lambda: analyse_request(request, None, 1_795_000_000), 0.05, 3, 20.0)
            results.append(LinearResult(case, len(body), seconds / len(body) * 1e9))
    return results


def linear_rows(linear: list[LinearResult]) -> list[tuple[str, ...]]:
    rows = []
    for r in linear:
        smallest = min((x for x in linear if x.case == r.case), key=lambda x: x.size)
        rows.append(("linear", f"{r.case} ({human_bytes(r.size)})", "ns/byte (analyse_request)",
                     f"{r.ns_per_byte:.2f}", f"{smallest.ns_per_byte:.2f}",
                     f"{r.ns_per_byte / smallest.ns_per_byte:.2f}" if smallest.ns_per_byte else ""))
    return rows


def linear_targets(linear: list[LinearResult]) -> list[Target]:
    if not linear:
        return [Target(None, "linear time on pathological bodies: not measured")]
    ratios = {}
    for case in dict.fromkeys(r.case for r in linear):
        rows = sorted((r for r in linear if r.case == case), key=lambda r: r.size)
        ratios[case] = rows[-1].ns_per_byte / rows[0].ns_per_byte if rows[0].ns_per_byte else 0.0
    figures = ", ".join(f"{ratio:.2f} ({case})" for case, ratio in ratios.items())
    return [Target(all(r <= TARGET_LINEAR_RATIO for r in ratios.values()),
                   f"linear time on pathological bodies, ns/byte largest/smallest: {figures}; "
                   f"target <= {TARGET_LINEAR_RATIO}")]
