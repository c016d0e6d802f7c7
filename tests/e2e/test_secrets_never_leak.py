"""Nothing leaks: with credentials loaded, scan every output for the SecretKey, full signatures and tokens."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import requests
from mitmproxy import io

import cosrig
import dialects
from conftest import start_rig
from cosdoctor.cos.signature import parse_auth_string
from seedcases import CASES, encode

pytestmark = pytest.mark.e2e


def test_no_output_carries_a_secret(tmp_path_factory):
    rig = start_rig(tmp_path_factory, "secrets", "--set", "cos_validate=warn", "--set", "termlog_verbosity=debug")
    sent: set[str] = set()
    answers: list[str] = []
    try:
        now = int(time.time())
        specs = [(case.build(now, f"s{i}"), case.damage) for i, case in enumerate(CASES)]
        specs += [(d.build(now, f"d{i}"), None) for i, d in enumerate(dialects.DIALECTS)]
        token_spec = dialects.web_demo_form_sts(now, "tok")
        token_spec.set("x-cos-security-token", "different-" + dialects.STS_TOKEN)   # fails its condition
        specs.append((token_spec, None))
        for spec, damage in specs:
            for name, value in spec.fields:
                if name.lower() in ("q-signature", "x-cos-security-token"):
                    sent.add(value)
                if name.lower() == "signature":
                    sent.add(value)
                    sent.add(parse_auth_string(value).signature)
            body, content_type = encode(spec, damage)
            response = requests.post(rig.proxy.url + "/", data=body, timeout=30, allow_redirects=False,
                                     headers={"Host": cosrig.COS_HOST, "Content-Type": content_type})
            answers.append(json.dumps(dict(response.headers)))
    finally:
        rig.proxy.stop()
        rig.emulator.stop()
    html = rig.workdir / "report.html"
    subprocess.run([sys.executable, str(cosrig.ROOT / "scripts" / "cos_report.py"), str(rig.report), "-o", str(html)],
                   check=True, timeout=60)
    with open(rig.workdir / "flows.mitm", "rb") as handle:
        flows = list(io.FlowReader(handle).stream())
    annotations = json.dumps([[f.comment, f.metadata, dict(f.response.headers)] for f in flows],
                             ensure_ascii=False, default=str)
    outputs = {
        "report": rig.report.read_text(),
        "log": rig.proxy.log(),
        "comments, metadata and response headers in the saved flows": annotations,
        "headers the clients received": "\n".join(answers),
        "HTML report": html.read_text(),
    }
    assert len(rig.records()) == len(specs) and sent
    for where, text in outputs.items():
        assert cosrig.SECRET_KEY not in text, f"SecretKey in the {where}"
        for value in sent:
            assert value not in text, f"a full signature or token in the {where}: {value[:8]}…"
    # The raw .mitm file holds the user's own request bodies (their signatures), never our key.
    assert cosrig.SECRET_KEY.encode() not in (rig.workdir / "flows.mitm").read_bytes()
    assert any("…" in f.comment for f in flows)     # shortened forms are there instead
