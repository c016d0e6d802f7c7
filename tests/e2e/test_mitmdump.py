"""The real mitmdump: start-up errors, saved flows, non-COS traffic and offline audits."""
from __future__ import annotations

import json
import time

import pytest
import requests
from mitmproxy import io

import cosrig
from devkit.formbuilder import FormSpec
from seedcases import CASES, encode

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("option, expected", [
    ("cos_validate=zzz", "cos_validate must be one of off, warn, block, not 'zzz'"),
    ("cos_lang=fr", "cos_lang must be one of en, ko, zh"),
    ("cos_fail_on=sometimes", "cos_fail_on must be one of off, error, warning"),
    ("cos_credentials=/nonexistent/creds", "cos_credentials"),
    ("cos_report=/nonexistent-dir/r.jsonl", "cos_report: cannot write"),
    ("cos_hosts=https://cdn.example.com", "cos_hosts"),
    ("cos_hosts=", "cosdoctor: cos_hosts: empty host pattern"),
    ("cos_annotate=maybe", "cosdoctor: cos_annotate must be true or false, not 'maybe'"),
    ("cos_lang", "cosdoctor: cos_lang must be one of en, ko, zh, no value given"),
])
def test_bad_option_gives_one_clear_line(tmp_path, option, expected):
    result = cosrig.run_mitmdump("-n", "-s", str(cosrig.ADDON), "--set", option, workdir=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert expected in output
    assert len([line for line in output.splitlines() if "cosdoctor:" in line]) == 1, output
    assert "Traceback" not in output


def test_audit_of_a_capture_without_cos_traffic_fails_through_a_symlinked_script(tmp_path):
    """A wrong capture must not pass by accident; and the script loads through a symlink."""
    from mitmproxy.test import tflow
    capture = tmp_path / "other.mitm"
    with open(capture, "wb") as handle:
        io.FlowWriter(handle).add(tflow.tflow(resp=True))
    link = tmp_path / "scripts" / "cos.py"
    link.parent.mkdir()
    link.symlink_to(cosrig.ADDON)
    result = cosrig.run_mitmdump("-nr", str(capture), "-s", str(link), "--set", "cos_fail_on=error",
                                 workdir=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "cos_fail_on=error: no COS flow was seen in this run" in output
    assert "Traceback" not in output and "Error logged during startup" not in output


def test_malformed_credentials_file_gives_one_clear_line(tmp_path):
    creds = tmp_path / "creds"
    creds.write_text(f"{cosrig.SECRET_ID}\n")
    creds.chmod(0o600)
    result = cosrig.run_mitmdump("-n", "-s", str(cosrig.ADDON), "--set", f"cos_credentials={creds}",
                                 workdir=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "line 1" in output and "Traceback" not in output


def test_non_cos_traffic_passes_untouched(rig):
    before = len(rig.records())
    response = requests.post(rig.proxy.url + "/not-cos", data=b"plain body", timeout=30,
                             headers={"Host": "example.com", "Content-Type": "text/plain"})
    assert "x-cos-diagnosis" not in {k.lower() for k in response.headers}
    assert len(rig.records()) == before


def test_saved_flows_carry_comment_metadata_and_mark(tmp_path_factory):
    from conftest import start_rig
    rig = start_rig(tmp_path_factory, "saved", "--set", "hardump=flows.har")
    try:
        now = int(time.time())
        for case in CASES:
            body, content_type = encode(case.build(now, f"saved{len(case.title)}"), case.damage)
            requests.post(rig.proxy.url + "/", data=body, timeout=30,
                          headers={"Host": cosrig.COS_HOST, "Content-Type": content_type})
    finally:
        assert rig.proxy.stop() == 0
        rig.emulator.stop()
    with open(rig.workdir / "flows.mitm", "rb") as handle:
        flows = list(io.FlowReader(handle).stream())
    assert len(flows) == len(CASES)
    by_expected = dict(zip([c.expected_id for c in CASES], flows))
    for expected_id, flow in by_expected.items():
        meta = flow.metadata["cos"]
        if expected_id is None:
            assert flow.marked == ""
            continue
        assert meta["findings"][0]["id"] == expected_id
        assert flow.comment.splitlines()[0].startswith(f"✖ {expected_id}")
        assert flow.marked == ":x:"
    # Offline audit of the saved traffic: same diagnoses, action "replayed", and it exits by itself.
    report = rig.workdir / "replayed.jsonl"
    result = cosrig.run_mitmdump("-nr", str(rig.workdir / "flows.mitm"), "-s", str(cosrig.ADDON),
                                 "--set", f"cos_credentials={rig.workdir / 'credentials.txt'}",
                                 "--set", f"cos_report={report}", workdir=rig.workdir)
    assert result.returncode == 0, result.stdout + result.stderr
    records = [json.loads(line) for line in report.read_text().splitlines()]
    assert [r["action"] for r in records] == ["replayed"] * len(CASES)
    assert [r["findings"][0]["id"] if r["status"] >= 300 else None for r in records] == \
        [c.expected_id for c in CASES]
    # The same saved traffic as a HAR file, gating CI: exit 1 because errors were found.
    har_report = rig.workdir / "har.jsonl"
    result = cosrig.run_mitmdump("-nr", str(rig.workdir / "flows.har"), "-s", str(cosrig.ADDON),
                                 "--set", f"cos_report={har_report}", "--set", "cos_fail_on=error",
                                 workdir=rig.workdir)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "cos_fail_on=error: 7 flow(s) failed the audit" in result.stdout + result.stderr
    har_records = [json.loads(line) for line in har_report.read_text().splitlines()]
    assert [r["findings"][0]["id"] if r["status"] >= 300 else None for r in har_records] == \
        [c.expected_id for c in CASES]
    assert all(r["action"] == "replayed" for r in har_records)


def captured_upload(tmp_path_factory, name: str, spec) -> tuple[list[str], object]:
    """Send one upload through a capturing mitmdump; return the arguments that replay it."""
    from conftest import start_rig
    rig = start_rig(tmp_path_factory, name)
    try:
        body, content_type = spec.encode()
        requests.post(rig.proxy.url + "/", data=body, timeout=30,
                      headers={"Host": cosrig.COS_HOST, "Content-Type": content_type})
    finally:
        rig.proxy.stop()
        rig.emulator.stop()
    return ["-nr", str(rig.workdir / "flows.mitm"), "-s", str(cosrig.ADDON)], rig.workdir


def test_fail_on_passes_a_clean_audit(tmp_path_factory):
    base, workdir = captured_upload(tmp_path_factory, "clean", CASES[0].build(int(time.time()), "clean"))
    for level in ("error", "warning"):      # a careful upload: no error, no warning
        assert cosrig.run_mitmdump(*base, "--set", f"cos_fail_on={level}", workdir=workdir).returncode == 0


def test_fail_on_warning_gates_a_risky_policy(tmp_path_factory):
    import dialects
    spec = dialects.extra_fields(int(time.time()), "risky")          # a policy without a size limit
    base, workdir = captured_upload(tmp_path_factory, "risky", spec)
    assert cosrig.run_mitmdump(*base, "--set", "cos_fail_on=error", workdir=workdir).returncode == 0
    assert cosrig.run_mitmdump(*base, "--set", "cos_fail_on=warning", workdir=workdir).returncode == 1


def test_policy_origin_names_the_signing_endpoint(rig):
    """The app's own endpoint hands out a policy for one key; the client uploads another key."""
    answer = requests.get(f"{rig.proxy.url}/__app/post-policy?key=uploads/granted.jpg", timeout=30,
                          headers={"Host": "app.example.com"}).json()
    tag = f"origin-{time.monotonic_ns()}"
    spec = FormSpec([("key", "uploads/other.jpg"), ("q-sign-algorithm", answer["qSignAlgorithm"]),
                     ("q-ak", answer["qAk"]), ("q-key-time", answer["qKeyTime"]),
                     ("q-signature", answer["qSignature"]), ("policy", answer["policy"])])
    body, content_type = spec.encode()
    response = requests.post(f"{rig.proxy.url}/?t={tag}", data=body, timeout=30,
                             headers={"Host": cosrig.COS_HOST, "Content-Type": content_type})
    assert response.status_code == 403
    evidence = rig.record_for(tag)["findings"][0]["evidence"]
    assert evidence["policy_origin"]["url"] == "http://app.example.com/__app/post-policy?key=uploads/granted.jpg"
    assert evidence["policy_origin"]["method"] == "GET"
    assert evidence["value_source"] == "client"
    assert "policy from GET http://app.example.com" in response.headers["X-COS-Diagnosis-Detail"]
