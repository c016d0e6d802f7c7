"""What COS told each origin about CORS, and block mode's local answer built from it."""
from __future__ import annotations

import pytest

from cosdoctor.cos.hosts import parse_cos_host
from cosdoctor.findings.cors_memory import UNKNOWN_ID, CorsMemory, local_answer_cors
from cosdoctor.findings.diagnose import request_for
from cosdoctor.findings.request_checks import Analysis

HOST = "examplebucket-1250000000.cos.ap-beijing.myqcloud.com"
PAGE = "https://app.example.com"
ALLOWED = {"access-control-allow-origin": PAGE, "access-control-expose-headers": "ETag",
           "access-control-allow-credentials": "true"}


def analysis(**headers: str) -> Analysis:
    request = request_for("POST", HOST, "/", {"host": HOST, **headers}, b"", parse_cos_host(HOST))
    return Analysis(request=request, now=0, endpoint=request.endpoint)


def test_an_upload_answer_teaches_its_cors_headers_and_only_those():
    memory = CorsMemory()
    assert memory.learn("POST", HOST, {"origin": PAGE}, 403, {**ALLOWED, "content-type": "application/xml",
                                                             "access-control-max-age": "600"})
    assert memory.headers_for(HOST.upper(), PAGE) == {**ALLOWED, "access-control-max-age": "600"}
    assert memory.headers_for(HOST, "https://other.example") is None


def test_an_answer_without_cors_headers_is_known_too():
    memory = CorsMemory()
    memory.learn("POST", HOST, {"origin": PAGE}, 204, {"etag": '"x"'})
    assert memory.headers_for(HOST, PAGE) == {}


@pytest.mark.parametrize("request_headers, status, response_headers, learned", [
    ({"origin": PAGE, "access-control-request-method": "POST"}, 200,
     {**ALLOWED, "access-control-allow-methods": "POST", "access-control-max-age": "600"}, ALLOWED),
    ({"origin": PAGE, "access-control-request-method": "post"}, 204, ALLOWED, ALLOWED),
    ({"origin": PAGE, "access-control-request-method": "PUT"}, 200, ALLOWED, None),   # another method
    ({"origin": PAGE, "access-control-request-method": "POST"}, 403, {}, None),       # refused: says nothing of POST
    ({"origin": PAGE, "access-control-request-method": "POST"}, 200, {}, None),
])
def test_a_preflight_teaches_what_holds_for_the_upload(request_headers, status, response_headers, learned):
    memory = CorsMemory()
    memory.learn("OPTIONS", HOST, request_headers, status, response_headers)
    assert memory.headers_for(HOST, PAGE) == learned


@pytest.mark.parametrize("method, request_headers, status", [
    ("POST", {}, 403),                       # no Origin: not a browser's cross-origin request
    ("GET", {"origin": PAGE}, 200),          # COS's rule may differ by method: only uploads count
    ("POST", {"origin": PAGE}, 0),           # a saved entry without an answer
])
def test_nothing_is_learned_from_other_exchanges(method, request_headers, status):
    memory = CorsMemory()
    assert not memory.learn(method, HOST, request_headers, status, ALLOWED)
    assert len(memory) == 0


def test_memory_is_bounded_and_drops_the_oldest():
    memory = CorsMemory(capacity=3)
    for n in range(5):
        memory.learn("POST", HOST, {"origin": f"https://{n}.example"}, 204, {})
    assert len(memory) == 3
    assert memory.headers_for(HOST, "https://0.example") is None
    assert memory.headers_for(HOST, "https://4.example") == {}


def test_local_answer_carries_what_cos_gave_the_origin_named_as_cos_names_them():
    memory = CorsMemory()
    memory.learn("POST", HOST, {"origin": PAGE}, 403, ALLOWED)
    found = analysis(origin=PAGE)
    assert local_answer_cors(memory, found) == {"Access-Control-Allow-Origin": PAGE,
                                                "Access-Control-Expose-Headers": "ETag",
                                                "Access-Control-Allow-Credentials": "true"}
    assert found.findings == []


def test_local_answer_for_an_unknown_origin_has_none_and_says_so():
    found = analysis(origin=PAGE)
    assert local_answer_cors(CorsMemory(), found) == {}
    assert [(f["id"], f["severity"]) for f in found.findings] == [(UNKNOWN_ID, "info")]
    assert found.findings[0]["evidence"] == {"origin": PAGE, "host": HOST}


@pytest.mark.parametrize("headers", [{}, {"origin": f"https://{HOST}"}])
def test_same_origin_or_no_origin_needs_no_cors_and_no_finding(headers):
    found = analysis(**headers)
    assert local_answer_cors(CorsMemory(), found) == {}
    assert found.findings == []
