"""Policy origin: an earlier response that handed out the policy names the signing endpoint."""
from __future__ import annotations

import json

from cosdoctor.render.text import summary
from cosdoctor.findings.policy_origin import PolicyOrigins, attribute
from devkit.formbuilder import signed_form

SPEC = signed_form("AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q", "BQYIM75p8x0iWVFSIgqEKwFprpRSVHlz",
                   "examplebucket-1250000000", "uploads/a.jpg", now=1_795_000_000)
POLICY, SIGNATURE = SPEC.get("policy"), SPEC.get("q-signature")
ENDPOINT_BODY = json.dumps({"cosKey": "uploads/a.jpg", "policy": POLICY, "qSignature": SIGNATURE,
                            "qKeyTime": SPEC.get("q-key-time")}).replace("/", "\\/").encode()


def observe(origins, body=ENDPOINT_BODY, content_type="application/json"):
    return origins.observe(flow_id="f1", method="POST", url="https://app.example.com/post-policy",
                           time="2026-11-29T03:00:00Z", content_type=content_type, body=body)


def test_signing_endpoint_response_is_remembered_and_found():
    origins = PolicyOrigins()
    assert observe(origins)
    origin, by_policy, by_signature = origins.lookup(POLICY, SIGNATURE)
    assert origin.url == "https://app.example.com/post-policy" and by_policy and by_signature
    assert "uploads/a.jpg" in origin.strings


def test_unrelated_responses_are_not_remembered():
    origins = PolicyOrigins()
    assert not observe(origins, body=b'{"hello": "world"}')
    assert not observe(origins, body=ENDPOINT_BODY, content_type="image/png")
    assert not observe(origins, body=b"policy: " + b"A" * 60)         # base64, but not a policy
    assert origins.lookup(POLICY, SIGNATURE)[0] is None


def test_capacity_is_bounded():
    origins = PolicyOrigins(capacity=4)
    for i in range(10):
        spec = signed_form("AKIDx", "k", "b-1250000000", f"k{i}", now=1_795_000_000 + i)
        origins.observe(flow_id=str(i), method="GET", url="u", time="t", content_type="application/json",
                        body=json.dumps({"policy": spec.get("policy")}).encode())
    assert len(origins) == 4


def test_attribution_says_server_or_client():
    origins = PolicyOrigins()
    observe(origins)
    origin, by_policy, by_signature = origins.lookup(POLICY, SIGNATURE)
    client_changed = {"id": "AccessDenied_Condition", "severity": "error",
                      "evidence": {"condition": "{}", "actual": "avatar.png", "field": "key"}}
    server_signed = {"id": "AccessDenied_Condition", "severity": "error",
                     "evidence": {"condition": "{}", "actual": "uploads/a.jpg", "field": "key"}}
    warning = {"id": "Warning_NoBucketCondition", "severity": "warning", "evidence": {}}
    attribute([client_changed, server_signed, warning], origin, by_policy, by_signature)
    assert client_changed["evidence"]["value_source"] == "client"
    assert server_signed["evidence"]["value_source"] == "server"
    assert "policy_origin" not in warning["evidence"]
    assert "POST https://app.example.com/post-policy" in summary(client_changed)
    assert "changed by the client" in summary(client_changed)
