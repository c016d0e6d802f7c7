"""Property tests for every parser that reads bytes from the network, CI-sized.

The invariants and builders are those of devkit.fuzzing, the library behind scripts/fuzz.py (the
million-example run), so the two cannot drift apart. Here Hypothesis drives them with shrinking strategies under a
derandomized profile: the same examples on every CI run. Raise COSDOCTOR_FUZZ_EXAMPLES for a longer
local run.

Linear time is checked without a clock: a bytes subclass counts the bytes the multipart parser
examines, and a trace hook counts the bytecode instructions the core executes, for inputs of size n
and 8n.
"""
from __future__ import annotations

import atexit
import base64
import json
import os
import random
import re
import shutil
import string
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cosdoctor.findings import catalogue
from cosdoctor.render.text import dumps_record, flow_comment, metadata
from cosdoctor.findings.diagnose import PlainResponse, block_answer, diagnose, diagnose_exchange, request_for
from cosdoctor.findings.sessions import MAX_SESSIONS, MULTIPART_IDS, UploadSessions
from cosdoctor.wire.errorxml import MAX_XML_BYTES, parse_error_xml, render_error_xml
from cosdoctor.findings.answer import ANSWERS, explain, read_answer
from devkit.formbuilder import resign, signed_form
from devkit.fuzzing.auth import check_auth
from devkit.fuzzing.common import BUCKET, COS_HOST, MARKER, ROOT, SECRET_ID, SECRET_KEY, STORES
from devkit.fuzzing.multipart import (BCHARS, FIELD_NAMES, MUTATIONS, Built, PartSpec, build_multipart,
                                      check_form, check_multipart, check_stream, data_is_safe, delimiter,
                                      mutate, mutate_content_type)
from devkit.fuzzing.pipeline import KNOWN_ANSWERS, check_pipeline, gen_pipeline
from devkit.fuzzing.policy import Obj, check_policy, encode_policy, has_duplicates, plain, write_json
from devkit.fuzzing.runner import (CHECKS, GENERATORS, NETWORK_TARGETS, TARGETS, Finding, attempt, classify,
                                   decode_args, minimise, replay, run_check, write_finding)
from devkit.fuzzing.scale import PROBE_SIZES, probe_inputs
from devkit.fuzzing.sessions import check_sessions, gen_sessions
from devkit.fuzzing.xml import XML_NAMES, check_error_xml, expected_roundtrip, hand_xml, hostile_xml, mutate_xml
from devkit.fuzzing.uploadxml import (BUILDERS as UPLOAD_BUILDERS, KINDS as UPLOAD_KINDS, ROOTS as UPLOAD_ROOTS,
                                      check_upload_xml, expected_number, hostile_upload_xml, many_parts,
                                      mutate_upload_xml, xml_text)
from devkit.fuzzing.xmlapi import (AUTH_MODES, AUTH_NAMES, HOSTILE_VALUES, OFFICIAL_VECTORS, TWISTS, check_xmlapi,
                                   header_block, official_request, signed_field, signed_request)
from cosdoctor.cos.operations import MAX_VALUE_CHARS
from cosdoctor.cos.xmlsig import MISTAKES
from cosdoctor.cos.hosts import parse_cos_host
from cosdoctor.cos.times import format_iso8601, parse_iso8601
from cosdoctor.wire.multipart import MAX_PARTS, parse_multipart
from cosdoctor.cos.policy import decode_policy
from cosdoctor.findings.request_checks import UploadRequest, analyse_request
from cosdoctor.render.jsonl import record
from cosdoctor.cos.signature import parse_auth_string

settings.register_profile(
    "cosdoctor-fuzz-ci",
    max_examples=int(os.environ.get("COSDOCTOR_FUZZ_EXAMPLES", "200")),
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
                           HealthCheck.large_base_example],
)
CI = settings.get_profile("cosdoctor-fuzz-ci")
NOW = 1_700_000_000
SESSION_ENDPOINT = parse_cos_host(COS_HOST)

# A file an external entity would read and a port it would connect to (no listener: a connection
# attempt fails fast, and the marker check below catches a read).
SCRATCH = Path(tempfile.mkdtemp(prefix="cosfuzz-test-"))
atexit.register(shutil.rmtree, SCRATCH, True)
MARKER_FILE = SCRATCH / "marker.txt"
MARKER_FILE.write_text(MARKER)
MARKER_URL = MARKER_FILE.resolve().as_uri()
NET_URL = "http://127.0.0.1:9/x.dtd"


# --- strategies ---------------------------------------------------------------------------------

def _tidy_boundary(text: str) -> str:
    text = text.strip(" ") or "x"
    return text[:70]


boundaries = st.one_of(
    st.text(alphabet=BCHARS, min_size=1, max_size=70).map(_tidy_boundary),
    st.text(alphabet=BCHARS + '"\\;é\t', min_size=1, max_size=70).map(_tidy_boundary),
    st.sampled_from(["----WebKitFormBoundary7MA4YWxkTrZu0gW", "-", "a", "=?x?=", "'()+_,-./:=?"]),
)
# Anything a browser may put inside name="…": no quote, backslash, CR or LF (those are
# percent-encoded), no lone surrogates (not encodable).
quoted_text = st.text(alphabet=st.characters(blacklist_characters='"\\\r\n', blacklist_categories=("Cs",)),
                      max_size=16)


def values_for(boundary: str) -> st.SearchStrategy[bytes]:
    delim = delimiter(boundary)
    lookalikes = st.sampled_from([delim, b"\r\n" + delim + b"X", b"\r" + delim + b"\r\n", b"\n" + delim + b"--\r\n",
                                  b"\r\n" + delim[:-1] + b"\r\n", b"x" + delim + b"--", b"\r\n" + delim + b" \tjunk",
                                  b"\r\n\r\n", b"\r\n", b"\n", b"\r", b"--", b"\x00", b"\xff"])
    return st.one_of(st.binary(max_size=64),
                     st.lists(st.one_of(lookalikes, st.binary(max_size=6)), max_size=10).map(b"".join)
                     ).filter(lambda v: data_is_safe(v, boundary))


@st.composite
def part_specs(draw, boundary: str) -> PartSpec:
    name = draw(st.one_of(st.sampled_from(FIELD_NAMES), quoted_text))
    filename = draw(st.one_of(st.none(), quoted_text))
    return PartSpec(
        name=name, data=draw(values_for(boundary)), filename=filename,
        filename_star=filename is not None and draw(st.booleans()),
        content_type=draw(st.sampled_from([None, "text/plain", "image/jpeg", " application/octet-stream\t"])),
        extra_headers=draw(st.lists(st.tuples(st.sampled_from([b"X-Extra", b"Content-ID"]),
                                              st.binary(max_size=20).map(lambda b: b.translate(None, b"\r\n"))),
                                    max_size=2)),
        disposition_last=draw(st.booleans()),
        unquoted_name=bool(re.fullmatch(r"[A-Za-z0-9._-]+", name)) and draw(st.booleans()),
        header_case=draw(st.sampled_from(["title", "lower", "upper"])),
    )


@st.composite
def valid_forms(draw, max_parts: int = 6) -> Built:
    boundary = draw(boundaries)
    quoted = draw(st.booleans()) or any(c in boundary for c in ' "\\;\t')
    parts = draw(st.lists(part_specs(boundary), max_size=max_parts))
    return build_multipart(
        boundary, parts, quoted=quoted,
        preamble=draw(st.sampled_from([b"", b"\r\n", b"This is a preamble.\r\n"])),
        epilogue=draw(st.binary(max_size=16)), padding=draw(st.sampled_from([b"", b" ", b"\t \t"])),
        ct_before=draw(st.sampled_from(["", " charset=utf-8;"])), ct_after=draw(st.sampled_from(["", "; x=y"])))


mutation_ops = st.lists(st.tuples(st.sampled_from(MUTATIONS), st.integers(0, 1 << 30),
                                  st.integers(0, 1 << 30), st.binary(max_size=8)), min_size=1, max_size=4)


# --- multipart and form ---------------------------------------------------------------------------

@CI
@given(valid_forms(), st.booleans())
def test_valid_forms_parse_to_exactly_the_parts_sent(built, declare_length):
    length = len(built.body) if declare_length else None
    check_multipart(built.content_type, built.body, content_length=length, expect=built.expect)
    check_form(built.content_type, built.body, content_length=length)


@CI
@given(valid_forms(), st.data())
def test_every_streamed_prefix_of_a_valid_form_is_a_clean_prefix(built, data):
    cut = data.draw(st.integers(0, len(built.body)))
    check_stream(built.content_type, built.body, cut)


@CI
@given(valid_forms(), mutation_ops, st.integers(0, 200), st.sampled_from(["none", "exact", "more", "less"]),
       st.booleans())
def test_mutated_forms_give_a_typed_result(built, ops, ct_choice, length_kind, complete):
    body = mutate(built.body, ops, built.boundary)
    content_type = built.content_type if ct_choice >= 100 else \
        mutate_content_type(built.content_type, built.boundary, ct_choice)
    length = {"none": None, "exact": len(body), "more": len(body) + 7, "less": max(0, len(body) - 7)}[length_kind]
    check_multipart(content_type, body, content_length=length, body_complete=complete)
    check_form(content_type, body, content_length=length, body_complete=complete)


@CI
@given(st.one_of(st.none(), st.text(max_size=80), st.builds("multipart/form-data; boundary={}".format, st.text(max_size=80))),
       st.binary(max_size=400), st.booleans())
def test_arbitrary_bytes_give_a_typed_result(content_type, body, complete):
    check_multipart(content_type, body, body_complete=complete)
    check_form(content_type, body, body_complete=complete)


# --- policy ---------------------------------------------------------------------------------------

json_leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=-(10 ** 40), max_value=10 ** 40),
                        st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12))
json_trees = st.recursive(json_leaves, lambda kids: st.one_of(
    st.lists(kids, max_size=4),
    st.lists(st.tuples(st.one_of(st.text(max_size=6), st.sampled_from(["expiration", "conditions"])), kids),
             max_size=4).map(Obj)), max_leaves=20)
condition_trees = st.one_of(
    st.builds(lambda f, v: Obj([(f, v)]), st.sampled_from(["key", "bucket", "q-ak", "acl", "KEY", ""]),
              st.one_of(st.text(max_size=10), st.sampled_from([BUCKET, "uploads/", "${filename}"]))),
    st.builds(lambda op, d, f, v: [op, d + f, v], st.sampled_from(["eq", "starts-with", "EQ", "in"]),
              st.sampled_from(["$", ""]), st.sampled_from(["key", "bucket", "q-sign-time", ""]),
              st.one_of(st.text(max_size=10), st.integers())),
    st.builds(lambda lo, hi: ["content-length-range", lo, hi], json_leaves, json_leaves),
    json_trees,
)


@st.composite
def policy_documents(draw) -> tuple[object, bool]:
    expiration = draw(st.one_of(
        st.integers(0, 4_000_000_000).map(format_iso8601),
        st.sampled_from(["2019-08-30T09:38:12.414Z", "2030-01-01T08:00:00+08:00"]),
        st.one_of(st.text(max_size=24), json_leaves)))
    conditions = draw(st.lists(condition_trees, max_size=6))
    pairs = [("expiration", expiration), ("conditions", conditions)]
    pairs = draw(st.permutations(pairs))
    extra = draw(st.lists(st.tuples(st.sampled_from(["expiration", "Conditions", "x"]), json_trees), max_size=1))
    tree = Obj(list(pairs) + extra)
    good = (isinstance(expiration, str) and parse_iso8601(expiration) is not None and bool(conditions)
            and not extra)
    return tree, good


@CI
@given(st.one_of(policy_documents(), json_trees.map(lambda t: (t, False))), st.randoms(use_true_random=False),
       st.dictionaries(st.sampled_from(["key", "bucket", "q-ak", "q-key-time", "acl"]), st.text(max_size=10)),
       st.one_of(st.none(), st.just(BUCKET)), st.one_of(st.none(), st.integers(0, 1 << 40)))
def test_policy_documents_decode_and_evaluate(doc, rnd, fields, bucket, file_size):
    tree, good = doc
    text = write_json(rnd, tree)
    raw = text.encode("utf-8", "surrogatepass")
    b64, exact = encode_policy(rnd, raw)
    strict = b64 == base64.b64encode(raw).decode()
    expected = plain(tree)
    check_policy(b64, fields, bucket, file_size, expect_raw=raw if exact else None,
                      expect_doc=expected if exact and isinstance(expected, dict) else None,
                      expect_ok=good and strict and not has_duplicates(tree))


@CI
@given(st.one_of(st.binary(max_size=300).map(lambda b: base64.b64encode(b).decode()), st.text(max_size=120),
                 st.text(alphabet=string.ascii_letters + "+/=-_ \n", max_size=120)))
def test_policy_from_arbitrary_text(b64):
    check_policy(b64, {"key": "a"}, BUCKET, 1)


@pytest.mark.parametrize("text", [
    "[" * 100_000 + "]" * 100_000,
    '{"a":' * 100_000 + "1" + "}" * 100_000,
    '{"expiration":"2030-01-01T00:00:00Z","conditions":[["content-length-range",0,1' + "0" * 5000 + "]]}",
    '{"conditions":[NaN]}', '{"a":1e400,"conditions":[1],"expiration":"2030-01-01T00:00:00Z"}',
    '{"expiration":"2030-01-01T00:00:00Z","expiration":"2031-01-01T00:00:00Z","conditions":[{"a":"b","a":"c"}]}',
    '{"expiration":"2030-01-01T00:00:00Z","conditions":[{"key":"\\ud800"}]}',
], ids=["deep-array", "deep-object", "huge-number", "nan", "overflow", "duplicates", "lone-surrogate"])
def test_hostile_policy_documents(text):
    check_policy(base64.b64encode(text.encode()).decode(), {"key": "x"}, BUCKET, 1)


# --- the Signature field --------------------------------------------------------------------------

AUTH_KEYS = ["q-sign-algorithm", "q-ak", "q-sign-time", "q-key-time", "q-header-list", "q-url-param-list",
             "q-signature"]
auth_values = st.one_of(st.sampled_from(["sha1", "sha256", "1700000000;1700003600", "2;1", ";", "", "host;origin",
                                         "a" * 40, "A" * 40, "1;" + "9" * 30]), st.text(max_size=20))


@CI
@given(st.lists(st.tuples(st.one_of(st.sampled_from(AUTH_KEYS), st.sampled_from(["Q-AK", " q-ak", ""]),
                                    st.text(max_size=8)), auth_values, st.booleans()), max_size=10),
       st.sampled_from(["&", ";", "&&"]))
def test_signature_field_strings(items, separator):
    check_auth(separator.join(f"{k}={v}" if eq else k for k, v, eq in items))


@CI
@given(st.permutations(AUTH_KEYS), st.integers(0, 2_000_000_000), st.integers(0, 10 ** 6),
       st.lists(st.sampled_from(["host", "content-type", "origin"]), max_size=3),
       st.text(alphabet="0123456789abcdef", min_size=40, max_size=40))
def test_well_formed_signature_fields_parse_without_problems(order, start, ttl, headers, signature):
    times = f"{start};{start + ttl}"
    values = {"q-sign-algorithm": "sha1", "q-ak": SECRET_ID, "q-sign-time": times, "q-key-time": times,
              "q-header-list": ";".join(headers), "q-url-param-list": "", "q-signature": signature}
    expect = {"algorithm": "sha1", "ak": SECRET_ID, "sign_time": times, "key_time": times,
              "header_list": headers, "param_list": [], "signature": signature}
    check_auth("&".join(f"{k}={values[k]}" for k in order), expect=expect)


# --- COS error XML --------------------------------------------------------------------------------

xml_names = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9._-]{0,10}\Z").filter(
    lambda n: not n.lower().startswith("xml") and n not in XML_NAMES[:5])


@CI
@given(st.text(max_size=30), st.text(max_size=60), st.text(max_size=30), st.text(max_size=30),
       st.one_of(st.none(), st.text(max_size=30)), st.lists(st.tuples(xml_names, st.text(max_size=20)), max_size=3))
def test_rendered_error_documents_read_back(code, message, resource, request_id, trace_id, extra):
    data = render_error_xml(code, message, resource, request_id, trace_id, extra)
    check_error_xml(data, expect=expected_roundtrip(code, message, resource, request_id, trace_id, extra))


HOSTILE = hostile_xml(str(MARKER_FILE), NET_URL)


@CI
@given(st.one_of(st.sampled_from(sorted(HOSTILE)).map(HOSTILE.__getitem__), st.binary(max_size=300),
                 st.randoms(use_true_random=False).map(lambda r: hand_xml(r, MARKER_URL, NET_URL))),
       st.randoms(use_true_random=False), st.booleans())
def test_hostile_and_broken_xml_gives_a_document_or_none(data, rnd, damage):
    check_error_xml(mutate_xml(rnd, data) if damage else data)


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_xml_is_refused_or_read_inert(name):
    doc = check_error_xml(HOSTILE[name])          # includes: the marker file's text never comes back
    if name.startswith(("xinclude", "schema")):       # no DTD: parsed, but the include stays unresolved
        assert doc is not None and doc.code == "AccessDenied" and not doc.message
    else:
        assert doc is None


def test_oversized_error_document_is_refused_unread():
    head, tail = b"<Error><Code>AccessDenied</Code><Message>", b"</Message></Error>"
    fits = head + b"A" * (MAX_XML_BYTES - len(head) - len(tail)) + tail
    assert parse_error_xml(fits) is not None
    assert parse_error_xml(fits[:-len(tail)] + b"A" + tail) is None


# --- multipart-upload XML (Complete body, Initiate/ListParts results, the Complete answer) -----------

upload_texts = st.text(max_size=40)
part_numbers = st.one_of(st.integers(0, 10_001).map(str), st.sampled_from([" 7 ", "01", "-1", "１", "9" * 13, ""]),
                         upload_texts)


@CI
@given(st.lists(st.tuples(st.one_of(st.none(), part_numbers), st.one_of(st.none(), upload_texts)), max_size=12),
       st.sampled_from(["", ' xmlns="http://www.qcloud.com/document/product/436/7751"']), st.booleans())
def test_complete_bodies_read_back(parts, ns, declaration):
    body = "".join("<Part>" + ("" if n is None else f"<PartNumber>{xml_text(n)[0]}</PartNumber>")
                   + ("" if e is None else f"<ETag>{xml_text(e)[0]}</ETag>") + "</Part>" for n, e in parts)
    data = (('<?xml version="1.0" encoding="UTF-8"?>' if declaration else "")
            + f"<CompleteMultipartUpload{ns}>{body}</CompleteMultipartUpload>").encode()
    expect = {"parts": [[None if n is None else expected_number(xml_text(n)[1]),
                         None if e is None else xml_text(e)[1][:128]] for n, e in parts], "problem": None}
    check_upload_xml("complete", data, expect=expect)


@CI
@given(st.sampled_from(UPLOAD_KINDS), st.randoms(use_true_random=False))
def test_built_upload_documents_read_back(kind, rnd):
    data, expect = UPLOAD_BUILDERS[kind](rnd)
    check_upload_xml(kind, data, expect=expect)


UPLOAD_HOSTILE = {kind: hostile_upload_xml(kind, str(MARKER_FILE), NET_URL) for kind in UPLOAD_KINDS}


@CI
@given(st.sampled_from(UPLOAD_KINDS), st.one_of(
           st.sampled_from(sorted(UPLOAD_HOSTILE["complete"])), st.binary(max_size=300),
           st.sampled_from(UPLOAD_KINDS).map(lambda k: "built:" + k)),
       st.randoms(use_true_random=False), st.booleans())
def test_hostile_and_broken_upload_xml_gives_a_typed_result(kind, source, rnd, damage):
    if isinstance(source, bytes):
        data = source
    elif source.startswith("built:"):
        data = UPLOAD_BUILDERS[source[6:]](rnd)[0]
    else:
        data = UPLOAD_HOSTILE[kind][source]
    check_upload_xml(kind, mutate_upload_xml(rnd, data) if damage else data)


UPLOAD_VERDICTS = {   # hostile body -> the problem every reader with a problem word must give
    "billion-laughs": "entities", "xxe-file": "entities", "xxe-file-lowercase": "entities", "xxe-http": "entities",
    "xxe-parameter-http": "entities", "external-dtd": "entities", "utf16-xxe": "malformed",
    "deep-nesting": "too-deep", "nul-bytes": "malformed", "not-utf8": "malformed", "garbage": "malformed",
    "oversized": "too-large", "many-parts": "too-many-parts", "xinclude-file": None, "xinclude-http": None,
}


@pytest.mark.parametrize("kind", UPLOAD_KINDS)
@pytest.mark.parametrize("name", sorted(UPLOAD_HOSTILE["complete"]))
def test_hostile_upload_xml_is_refused_or_read_inert(kind, name):
    result = check_upload_xml(kind, UPLOAD_HOSTILE[kind][name])   # includes: the marker's text never comes back
    if kind == "initiate":                          # no problem word: an UploadId or None
        assert result == ("" if name.startswith("xinclude") else None), (name, result)
        return
    expected = UPLOAD_VERDICTS[name]
    if name == "many-parts":                        # 200 000 <Part/>: 1.4 MB
        expected = {"complete": "too-many-parts", "list": "too-many-parts", "answer": "too-large"}[kind]
    elif name == "deep-nesting" and kind == "answer":   # 1.3 MB: over the answer's 1 MiB
        expected = "too-large"
    assert result.problem == expected, (name, kind, result)


@pytest.mark.parametrize("count, full, kind, parts, problem", [
    (10_000, True, "complete", 10_000, None), (10_001, True, "complete", 10_000, "too-many-parts"),
    (200_000, False, "complete", 10_000, "too-many-parts"), (200_000, True, "complete", 0, "too-large"),
    (1_000, True, "list", 1_000, None), (1_001, True, "list", 1_000, "too-many-parts"),
    (500_000, False, "list", 1_000, "too-many-parts"),
])
def test_upload_part_caps(count, full, kind, parts, problem):
    result = check_upload_xml(kind, many_parts(UPLOAD_ROOTS[kind], count, full=full))
    assert (len(result.parts), result.problem) == (parts, problem)



@st.composite
def requests_and_answers(draw) -> dict:
    rnd = draw(st.randoms(use_true_random=False))
    args = gen_pipeline(rnd, MARKER_URL, NET_URL)
    if draw(st.booleans()):                 # a body from the multipart strategies instead of a COS form
        built = draw(valid_forms(max_parts=4))
        body = mutate(built.body, draw(mutation_ops), built.boundary) if draw(st.booleans()) else built.body
        args["headers"] = {"Content-Type": built.content_type, "Content-Length": str(len(body))}
        args["body"] = body
    args["headers"].update(draw(st.dictionaries(st.sampled_from(["Origin", "Content-MD5", "Transfer-Encoding"]),
                                                st.text(max_size=12), max_size=2)))
    args["answer_body"] = draw(st.one_of(
        st.just(args["answer_body"]), st.none(), st.binary(max_size=200),
        st.builds(render_error_xml, st.sampled_from([a[0] for a in ANSWERS] + ["Weird", ""]),
                  st.sampled_from([m for _, _, m in KNOWN_ANSWERS]), st.just("r"), st.just("id"))))
    args["status"] = draw(st.one_of(st.just(args["status"]), st.sampled_from([200, 204, 400, 403, 500])))
    return args


@CI
@given(requests_and_answers())
def test_pipeline_gives_catalogued_json_findings(args):
    check_pipeline(**args)


# --- XML-API requests: header-signed PUT, presigned URLs, sign= --------------------------------------

@pytest.mark.parametrize("creds", ["ok", "none"])
@pytest.mark.parametrize("mode", AUTH_MODES)
@pytest.mark.parametrize("vector", sorted(OFFICIAL_VECTORS))
def test_official_vectors_verify_in_every_carrier(vector, mode, creds):
    _, analysis = check_xmlapi(**official_request(vector, mode, creds))      # includes the StringToSign
    assert analysis.mistake is None and analysis.auth_source == mode
    assert analysis.signature_matches is (True if creds == "ok" else None)


@CI
@given(st.randoms(use_true_random=False), st.sampled_from(sorted(set(TWISTS), key=str)),
       st.sampled_from(["ok", "ok", "none", "wrong"]), st.booleans())
def test_signed_requests_name_the_planted_mistake(rnd, twist, creds, cos_answer):
    """Signed by the independent client, one client mistake planted: recognised as built, verified
    with the right key, and the mistake word is the one the contract names for it."""
    check_xmlapi(**signed_request(rnd, twist, creds, cos_answer))


@CI
@given(st.randoms(use_true_random=False), st.sampled_from(["ok", "none", "wrong"]))
def test_signature_field_signed_for_post_root(rnd, creds):
    """The POST form's Signature field: an auth string signed for POST / over Host and form fields."""
    _, analysis = check_xmlapi(**signed_field(rnd, creds))
    assert analysis.auth_source == "field" and analysis.rebuilt.path == "/"


xml_auth_names = st.one_of(st.sampled_from(AUTH_NAMES),
                           st.sampled_from(["Q-AK", " q-ak", "q-ak ", "", "sign", "q-"]), st.text(max_size=8))
xml_auth_values = st.one_of(
    st.sampled_from(HOSTILE_VALUES), st.text(max_size=40),
    st.integers(1, 20_000).map(lambda n: "1;" + "9" * n),                  # times of thousands of digits
    st.integers(1, 5_000).map(lambda n: ";".join(f"x-cos-meta-{i}" for i in range(n))),   # header names
    st.text(alphabet="\x00\x01\x1f\x7f\t\r;&=%+ 文😀\udcff", max_size=60))
xml_query_items = st.lists(st.tuples(
    st.one_of(st.sampled_from(["partNumber", "uploadId", "uploads", "sign", "x-cos-security-token", "acl",
                               "response-content-type", "q-ak", "Q-SIGNATURE"]), st.text(max_size=6)),
    st.one_of(st.none(), st.sampled_from(["", "9" * 4000, "１２", "-1", "0", "10001", "x" * 100_000, "%", "+ +",
                                          "%E8%85"]), st.text(max_size=20))), max_size=5)
xml_paths = st.one_of(st.sampled_from(["/", "", "//", "/a+b c", "/文件/上传 测试+1.png", "/%zz%E8%85%",
                                       "/%00%2F..", "/\udce4\udcb8", "/" + "+" * 10_000, "/" + "%E8" * 3_000]),
                      st.text(max_size=60))
xml_header_items = st.lists(st.tuples(
    st.one_of(st.sampled_from(["Host", "Content-Type", "x-cos-security-token", "x-cos-meta-a", "Authorization",
                               "Date"]), st.text(alphabet=string.ascii_letters + "-", min_size=1, max_size=10)),
    st.one_of(st.sampled_from(["", COS_HOST, "cdn.example.com", "text/plain; charset=UTF-8", "\udcff", "文件"]),
              st.text(alphabet=st.characters(blacklist_characters="\n"), max_size=30))), max_size=6)


@CI
@given(st.lists(st.tuples(xml_auth_names, xml_auth_values, st.booleans()), max_size=12),
       st.sampled_from(AUTH_MODES), st.sampled_from(["PUT", "GET", "POST", "put", "", "OPTIONS", "DELETE"]),
       xml_paths, xml_query_items, xml_header_items,
       st.sampled_from(["parse", "custom", "none"]), st.sampled_from(["ok", "none", "wrong"]),
       st.one_of(st.none(), st.integers(-(2 ** 70), 2 ** 70), st.integers(1_500_000_000, 2_000_000_000)),
       st.one_of(st.none(), st.text(max_size=200), st.sampled_from(["put\n/a\n\nhost=x\n", "\n" * 3000])),
       st.one_of(st.none(), st.text(max_size=80), st.just("sha1\n1;2\n" + "0" * 40 + "\n")),
       st.sampled_from([400, 400, 0, 7]))
def test_hostile_xml_api_requests_give_a_finding_or_nothing(auth, mode, method, path, query, headers, endpoint,
                                                           creds, now, cos_fs, cos_sts, budget):
    auth_text = "&".join(f"{n}={v}" if eq else n for n, v, eq in auth)
    query_text = "&".join(n if v is None else f"{n}={v}" for n, v in query)
    header_list = [*headers, ("Host", COS_HOST)]
    if mode == "authorization":
        header_list.append(("Authorization", auth_text))
    elif mode == "query":
        query_text = "&".join(filter(None, [query_text, auth_text]))
    else:
        query_text = "&".join(filter(None, [query_text, "sign=" + auth_text.replace("&", "%26")]))
    check_xmlapi(method=method, path=path, query=query_text, headers=header_block(header_list), endpoint=endpoint,
                 creds=creds, now=now, cos_format_string=cos_fs, cos_string_to_sign=cos_sts, max_variants=budget)


def xml_auth(**values: str) -> str:
    times = "1557989151;1557996351"
    base = {"q-sign-algorithm": "sha1", "q-ak": SECRET_ID, "q-sign-time": times, "q-key-time": times,
            "q-header-list": "host", "q-url-param-list": "", "q-signature": "0" * 40}
    base.update({k.replace("_", "-"): v for k, v in values.items()})
    return "&".join(f"{k}={v}" for k, v in base.items())


HOST_LINE = f"Host: {COS_HOST}\n"
XML_API_CASES = {   # name -> (check_xmlapi's arguments, what the result must say)
    "empty-authorization": ({"headers": HOST_LINE + "Authorization: \n"},
                            lambda a, r: a.auth is None and r.auth == "anonymous"),
    "huge-authorization": ({"headers": HOST_LINE + "Authorization: " + "q-ak=" * 50_000 + "\n"},
                           lambda a, r: a.mistake == "malformed"),
    "times-of-100k-digits": ({"headers": HOST_LINE + "Authorization: " + xml_auth(q_sign_time="1" * 100_000 + ";2",
                                                                                  q_key_time="9" * 100_000) + "\n"},
                             lambda a, r: a.mistake == "malformed" and a.sign_time["state"] == "unknown"),
    "20k-header-names": ({"headers": HOST_LINE + "Authorization: " + xml_auth(
                              q_header_list=";".join(f"x-cos-meta-{i}" for i in range(20_000))) + "\n"},
                         lambda a, r: a.mistake == "signed-header-missing" and len(a.missing_headers) == 20_000),
    "duplicated-pairs": ({"headers": HOST_LINE + "Authorization: " + xml_auth() + "&q-ak=AKIDother\n"},
                         lambda a, r: a.mistake == "malformed" and "duplicate q-ak" in a.auth.problems),
    "control-characters": ({"headers": HOST_LINE + "Authorization: " + xml_auth(q_ak="AK\x00\x1f\x7f",
                                                                                q_header_list="ho\x7fst;\r") + "\n"},
                           lambda a, r: a.mistake in MISTAKES),
    "surrogate-key-time": ({"headers": HOST_LINE + "Authorization: " + xml_auth(q_key_time="1;\udcff") + "\n"},
                           lambda a, r: a.mistake == "malformed"),
    "presigned-duplicates": ({"query": "&".join([xml_auth().replace(";", "%3B")] * 100)},
                             lambda a, r: a.auth_source == "query" and a.mistake == "malformed"
                             and r.query_truncated),
    "sign-double-encoded": ({"query": "sign=" + xml_auth().replace("&", "%2526").replace("=", "%253D")},
                            lambda a, r: a.auth_source == "sign" and a.mistake == "malformed"),
    "sign-empty": ({"query": "sign="}, lambda a, r: a.auth_source == "sign" and a.mistake == "malformed"),
    "percent-garbage-path": ({"path": "/%zz%E8%85%/%", "headers": HOST_LINE + "Authorization: " + xml_auth() + "\n"},
                             lambda a, r: r.key == "%zz\ufffd%/%" and a.rebuilt.path == "/%zz\ufffd%/%"),
    "absurd-part-number": ({"query": "partNumber=" + "9" * 4000 + "&uploadId=" + "u" * 1_000_000},
                           lambda a, r: r.operation == "UploadPart" and len(r.part_number) == 32
                           and len(r.upload_id) == MAX_VALUE_CHARS),
    "fullwidth-part-number": ({"query": "partNumber=１２&uploadId=x"}, lambda a, r: r.part_number == "１２"),
}


@pytest.mark.parametrize("case", sorted(XML_API_CASES))
def test_absurd_xml_api_requests(case):
    args, verdict = XML_API_CASES[case]
    args = {"method": "PUT", "path": "/a", "headers": HOST_LINE, "creds": "ok", "now": 1557990000, **args}
    request, analysis = check_xmlapi(**args)
    assert verdict(analysis, request), (analysis.mistake, analysis.auth and analysis.auth.problems[:3])


# --- multipart uploads followed across flows (findings.sessions through the one pipeline) ----------

@settings(CI, max_examples=min(CI.max_examples, 60))
@given(st.randoms(use_true_random=False))
def test_upload_sessions_stories_hold(rnd):
    """Initiate, parts, ListParts, Complete and Abort stories, the STS key and its Access Denied."""
    check_sessions(**gen_sessions(rnd))


def test_upload_sessions_stories_reach_every_session_finding():
    """The generator must keep telling stories that end in each multipart finding (or it tests little)."""
    seen = set()
    for seed in range(40):
        for step in check_sessions(**gen_sessions(random.Random(seed))):
            if step is not None:
                preflight, findings, _ = json.loads(step)
                seen |= {f["id"] for f in preflight + findings}
    assert MULTIPART_IDS | {"Warning_PartTooSmall", "Warning_PartRepeated", "Warning_ETagHidden",
                            "Warning_CompleteErrorAfter200", "AccessDenied_NoPermission"} <= seen


def test_upload_sessions_stop_at_the_real_cap():
    """MAX_SESSIONS + 1 Initiates through the pipeline: the oldest upload is the one forgotten."""
    sessions = UploadSessions()
    for i in range(MAX_SESSIONS + 1):
        answer = f"<InitiateMultipartUploadResult><UploadId>id-{i}</UploadId></InitiateMultipartUploadResult>"
        diagnose_exchange(request_for("POST", COS_HOST, "/k?uploads", {"host": COS_HOST}, b"", SESSION_ENDPOINT),
                          PlainResponse(200, {}, answer.encode(), NOW), now=NOW, sessions=sessions, flow_id=str(i))
    assert len(sessions) == MAX_SESSIONS
    assert sessions.get("id-0") is None and sessions.get(f"id-{MAX_SESSIONS}") is not None


# --- the long run's own generators, so scripts/fuzz.py cannot rot ------------------------------------

@pytest.mark.parametrize("target", TARGETS)
@settings(CI, max_examples=max(20, CI.max_examples // 4))
@given(seed=st.integers(0, 1 << 64))
def test_long_run_generators_hold(target, seed):
    rng = random.Random(seed)
    extra = {"marker_url": MARKER_URL, "net_url": NET_URL} if target in NETWORK_TARGETS else {}
    run_check(target, GENERATORS[target](rng, **extra))


def test_long_run_reports_and_replays_a_finding(tmp_path, monkeypatch):
    """A failing check is minimised, written as JSON and replayed from the file."""
    def broken(**kw):
        if b"\xff" in kw["body"]:
            raise ValueError("planted")
    monkeypatch.setitem(CHECKS, "multipart", broken)
    args = {"body": b"aaaa\xffbbbb", "content_type": "x"}
    exc = attempt("multipart", args)
    kind, signature = classify(exc)
    assert (kind, signature.split(" at ")[0]) == ("exception", "ValueError")
    small = minimise("multipart", args, signature)
    assert small == {"body": b"\xff", "content_type": ""}     # the content type did not matter either
    finding = Finding("multipart", signature, kind, "ValueError: planted", "", small, 7)
    path = write_finding(tmp_path, finding, seed=1)
    assert decode_args(json.loads(path.read_text())["args"]) == small
    assert replay(path) == 1
    monkeypatch.setitem(CHECKS, "multipart", lambda **kw: None)
    assert replay(path) == 0


def test_a_failing_story_is_cut_to_the_steps_that_matter(monkeypatch):
    """A sessions example is a list of exchanges: the minimiser drops the ones the failure does not need."""
    def broken(*, steps, **kw):
        kinds = [s["kind"] for s in steps]
        if "sts" in kinds and "abort" in kinds[kinds.index("sts"):]:
            raise ValueError("planted")
    monkeypatch.setitem(CHECKS, "sessions", broken)
    steps = [{"kind": k} for k in ("part", "sts", "part", "part", "complete", "abort", "part")]
    args = {"steps": steps, "creds": "ok"}
    signature = classify(attempt("sessions", args))[1]
    assert minimise("sessions", args, signature)["steps"] == [{"kind": "sts"}, {"kind": "abort"}]


# --- size: caps and huge bodies --------------------------------------------------------------------

B = "----cosdoctorFuzzBoundary"
CT = f"multipart/form-data; boundary={B}"
DELIM = delimiter(B)


def test_a_hundred_thousand_parts_stop_at_the_cap():
    part = DELIM + b'\r\nContent-Disposition: form-data; name="f"\r\n\r\nv\r\n'
    body = part * 100_000 + DELIM + b"--\r\n"
    form = check_multipart(CT, body)
    assert form.error is not None and form.error.reason == "too-many-parts"
    assert len(form.parts) == MAX_PARTS
    assert form.error.offset == len(part) * MAX_PARTS + len(DELIM) + 2
    request = UploadRequest("POST", COS_HOST, "/", {"content-type": CT, "content-length": str(len(body))},
                            body, endpoint=parse_cos_host(COS_HOST))
    analysis = analyse_request(request, STORES["ok"], NOW)
    assert [(f["id"], f["evidence"]["reason"]) for f in analysis.findings] == \
        [("MalformedPOSTRequest_POSTBody", "too-many-parts")]
    assert block_answer(analysis, "r", "x") is None      # an undocumented answer is never sent in COS's name


def boundary_like_file(size: int, every: int) -> bytes:
    """File bytes full of near-miss delimiters (a delimiter line with junk, a CR or LF alone ...)."""
    lookalikes = (b"\r\n" + DELIM + b"X" + b"\r" + DELIM + b"\r\n" + b"\n" + DELIM + b"--"
                  + b"\r\n" + DELIM[:-1] + b"\r\n" + b"\r\n" + DELIM + b" \tjunk")
    block = lookalikes + b"\x00" * max(0, every - len(lookalikes))
    return (block * (size // len(block) + 1))[:size]


@pytest.mark.parametrize("size, every", [(1 << 20, 0), (10 << 20, 0), (100 << 20, 1 << 16)],
                         ids=["1MB-dense", "10MB-dense", "100MB"])
def test_huge_file_of_boundary_lookalikes_is_read_exactly(size, every):
    data = boundary_like_file(size, every)
    assert data_is_safe(data, B)
    built = build_multipart(B, [PartSpec("key", b"k"), PartSpec("file", data, filename="f.bin")])
    form = check_multipart(built.content_type, built.body, content_length=len(built.body))
    assert form.error is None and form.complete
    file_part = form.parts[1]
    assert (file_part.data_start, file_part.size) == (built.body.index(data), size)
    assert built.body[file_part.data_end:file_part.data_end + 2 + len(DELIM) + 2] == b"\r\n" + DELIM + b"--"


# --- linear work, counted rather than timed ----------------------------------------------------------

class CountedBytes(bytes):
    """Bytes that count how many bytes the parser's searches and slices examine."""

    examined = 0

    def find(self, sub, start=0, end=None):  # noqa: D102
        stop = len(self) if end is None else min(end, len(self))
        hit = bytes.find(self, sub, start, stop)
        CountedBytes.examined += (hit + len(sub) if hit >= 0 else stop) - max(start, 0)
        return hit

    def count(self, sub, start=0, end=None):  # noqa: D102
        stop = len(self) if end is None else min(end, len(self))
        CountedBytes.examined += max(0, stop - max(start, 0))
        return bytes.count(self, sub, start, stop)

    def __getitem__(self, key):
        value = bytes.__getitem__(self, key)
        if isinstance(key, slice):
            CountedBytes.examined += len(value)
        return value


def examined(body: bytes, content_type: str = CT) -> int:
    CountedBytes.examined = 0
    parse_multipart(content_type, CountedBytes(body))
    return CountedBytes.examined


# shape -> (body of k units, k for the small body); the large body has 8k units.
MULTIPART_SHAPES = {
    "many-parts": (lambda k: b"".join(DELIM + b'\r\nContent-Disposition: form-data; name="f"\r\n\r\nv\r\n'
                                      for _ in range(k)) + DELIM + b"--", 1000),
    "near-misses": (lambda k: DELIM + b'\r\nContent-Disposition: form-data; name="file"\r\n\r\n'
                    + (b"\r\n" + DELIM + b"X") * k + b"\r\n" + DELIM + b"--", 1000),
    "header-lines": (lambda k: DELIM + b'\r\nContent-Disposition: form-data; name="f"\r\n'
                     + b"X-A: b\r\n" * k + b"\r\nv\r\n" + DELIM + b"--", 200),
    "long-header-blocks": (lambda k: (DELIM + b'\r\nContent-Disposition: form-data; name="f"\r\n'
                                      + b"X: " + b"h" * 16_000 + b"\r\n\r\nv\r\n") * k + DELIM + b"--", 20),
    "unterminated-headers": (lambda k: DELIM + b"\r\n" + b"X-A: b\r\n" * k, 1000),
    "crlf-runs": (lambda k: DELIM + b'\r\nContent-Disposition: form-data; name="f"\r\n\r\n' + b"\r\n" * k, 1000),
    "dash-runs": (lambda k: b"\r\n" * k + b"-" * k, 1000),
    "delimiters-without-crlf": (lambda k: DELIM + b'\r\nContent-Disposition: form-data; name="f"\r\n\r\n'
                                + (b"x" + DELIM) * k, 1000),
}


@pytest.mark.parametrize("shape", sorted(MULTIPART_SHAPES))
def test_multipart_examines_each_byte_a_bounded_number_of_times(shape):
    make, k = MULTIPART_SHAPES[shape]
    small, large = make(k), make(8 * k)
    per_byte = [examined(small) / len(small), examined(large) / len(large)]
    assert max(per_byte) <= 6, per_byte      # header bytes: two searches, two counts, one decode
    assert per_byte[1] <= per_byte[0] * 1.25 + 0.01, per_byte


def python_work(run) -> int:
    """Bytecode instructions of cosdoctor code executed by run() (a pure function): deterministic,
    unlike a clock, and it sees every turn of a loop, comprehensions included."""
    count = 0
    core = str(Path(ROOT, "addon", "cosdoctor"))

    def local(frame, event, arg):  # noqa: ARG001
        nonlocal count
        if event == "opcode":
            count += 1
        return local

    def tracer(frame, event, arg):  # noqa: ARG001
        # normpath: cos_emulator puts "scripts/../addon" on sys.path, so the core may load from there.
        if not os.path.normpath(frame.f_code.co_filename).startswith(core):
            return None
        frame.f_trace_opcodes = True
        return local

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        run()
    finally:
        sys.settrace(previous)
    return count


python_work(lambda: parse_auth_string("q-ak=x"))   # 3.12 reports no opcodes in a process's first session
PROBES = probe_inputs()


@pytest.mark.parametrize("probe", sorted(PROBES))
def test_work_grows_linearly(probe):
    base = max(8, PROBE_SIZES[probe] // 8)
    run_small, run_large = PROBES[probe](base), PROBES[probe](base * 8)
    python_work(run_small)       # warm-up: under 3.13 a function's first traced call counts fewer opcodes
    small, large = python_work(run_small), python_work(run_large)
    assert small > 50, f"the tracer saw (almost) no work ({small}): the measurement is broken"
    assert large <= small * 8 * 1.25 + 1000, (probe, small, large, round(large / max(small, 1), 1))


# --- what the long run found: each stays a plain test until the core is fixed ----------------------

def pipeline_for(fields: list[tuple[str, str]], document: dict | None = None) -> tuple[UploadRequest, str]:
    spec = signed_form(SECRET_ID, SECRET_KEY, BUCKET, "uploads/a.jpg", now=NOW)
    if document is not None:
        resign(spec, SECRET_KEY, document)
    for name, value in fields:
        spec.set(name, value)
    body, content_type = spec.encode(B)
    request = UploadRequest("POST", COS_HOST, "/?t=1", {"content-type": content_type,
                                                              "content-length": str(len(body))}, body,
                            endpoint=parse_cos_host(COS_HOST))
    return request, content_type


def test_finding_auth_time_with_more_digits_than_int_allows():
    auth = parse_auth_string("q-sign-algorithm=sha1&q-ak=AK&q-sign-time=1;" + "9" * 4301
                             + "&q-key-time=1;2&q-header-list=&q-url-param-list=&q-signature=" + "a" * 40)
    assert any("q-sign-time" in p for p in auth.problems)


@pytest.mark.parametrize("now", [NOW, NOW + 10 ** 6], ids=["lint", "expired-timezone-hint"])
def test_finding_key_time_with_more_digits_than_int_allows(now):
    request, _ = pipeline_for([("q-key-time", f"{NOW};" + "9" * 4400)])
    analysis = analyse_request(request, STORES["ok"], now)
    assert "SignatureDoesNotMatch_POSTSignature" in analysis.ids()


@pytest.mark.parametrize("case", ["policy-escape", "header-byte"])
def test_finding_outputs_are_always_utf8(case):
    """A lone surrogate (a JSON \\ud800 escape, or a raw byte mitmproxy decoded with surrogateescape)
    must not reach an output: ReportWriter.write would raise (the flow loses its one report record)
    and mitmproxy's flow writer could not save the comment and metadata."""
    if case == "policy-escape":
        document = {"expiration": format_iso8601(NOW + 600), "conditions": [{"key": "\ud800"}]}
        request, _ = pipeline_for([], document=document)
    else:
        request, _ = pipeline_for([])
        request = UploadRequest(request.method, request.host, request.path,
                                {**request.headers, "content-type": f"multipart/form-data; boundary={B}\udcff"},
                                request.body, endpoint=request.endpoint)
    analysis = analyse_request(request, STORES["ok"], NOW)
    answer = read_answer(403, {}, render_error_xml("AccessDenied", "Access Denied.", "r", "id"))
    diagnosis = diagnose(analysis, answer, NOW, STORES["ok"])
    assert explain(analysis, answer, NOW)
    line = dumps_record(record(time="t", flow_id="f", client=None, method="POST", url="u", host=None, bucket=None,
                               region=None, key=None, status=403, error=diagnosis.error,
                               findings=diagnosis.findings, action="forwarded"))
    for text in (line, flow_comment(diagnosis), json.dumps(metadata(diagnosis), ensure_ascii=False)):
        text.encode("utf-8")


def test_findings_catalogue_ids_resolve():
    """Sanity for the invariant used above: a made-up ID does not resolve."""
    with pytest.raises(KeyError):
        catalogue.entry("NotACode_Anything")
    assert catalogue.entry("Unknown_HTTP403").severity == "error"
    assert decode_policy("").fatal is not None
