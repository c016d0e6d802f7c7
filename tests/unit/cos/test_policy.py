from __future__ import annotations

import base64
import hashlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosdoctor.cos.policy import (BASE64_REPAIRS, CONDITION_NOTES, CONDITION_WORDS, PROBLEM_DETAILS, Condition,
                                  ConditionResult, Policy, decode_policy, evaluate_conditions)

from vectors import POST_POLICY_B64 as VECTOR_B64, POST_POLICY_TEXT as VECTOR_TEXT

VECTOR_BUCKET = "examplebucket-1250000000"

# A form that satisfies every condition of the vector (D-POST §3.1 note), keys lower-cased.
VECTOR_FIELDS = {
    "acl": "default",
    "key": "folder/subfolder/photo.jpg",
    "content-type": "image/png",
    "success_action_redirect": "https://my.website/done.html",
    "x-cos-server-side-encryption": "AES256",
    "q-sign-algorithm": "sha1",
    "q-ak": "AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q",
    "q-key-time": "1567150692;1567157892",
}


def b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def encode(document: object) -> str:
    return b64(json.dumps(document))


def policy_of(*conditions: object, expiration: str = "2030-01-01T00:00:00Z") -> Policy:
    return decode_policy(encode({"expiration": expiration, "conditions": list(conditions)}))


def kinds(policy: Policy) -> list[str]:
    return [p.kind for p in policy.problems]


# --- the official vector -------------------------------------------------------------------------


def test_vector_decodes_exactly() -> None:
    assert VECTOR_B64 == b64(VECTOR_TEXT)
    policy = decode_policy(VECTOR_B64)
    assert policy.raw == VECTOR_TEXT.encode()
    assert len(policy.raw) == 555
    assert hashlib.sha1(policy.raw).hexdigest() == "d5d903b8360468bc81c1311f134989bc8c8b5b89"
    assert policy.b64 == VECTOR_B64
    assert policy.problems == ()
    assert policy.fatal is None
    assert policy.expiration == "2019-08-30T09:38:12.414Z"
    assert policy.expiration_unix == 1567157892
    assert policy.document == json.loads(VECTOR_TEXT)


def test_vector_conditions() -> None:
    got = [(c.index, c.text, c.op, c.field, c.value, c.range, c.dollar, c.problem)
           for c in decode_policy(VECTOR_B64).conditions]
    assert got == [
        (0, '{"acl": "default"}', "eq", "acl", "default", None, True, None),
        (1, '{"bucket": "examplebucket-1250000000"}', "eq", "bucket", VECTOR_BUCKET, None, True, None),
        (2, '["starts-with", "$key", "folder/subfolder/"]', "starts-with", "key", "folder/subfolder/", None, True, None),
        (3, '["starts-with", "$Content-Type", "image/"]', "starts-with", "Content-Type", "image/", None, True, None),
        (4, '["starts-with", "$success_action_redirect", "https://my.website/"]', "starts-with",
         "success_action_redirect", "https://my.website/", None, True, None),
        (5, '["eq", "$x-cos-server-side-encryption", "AES256"]', "eq", "x-cos-server-side-encryption", "AES256",
         None, True, None),
        (6, '{"q-sign-algorithm": "sha1"}', "eq", "q-sign-algorithm", "sha1", None, True, None),
        (7, '{"q-ak": "AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q"}', "eq", "q-ak", "AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q",
         None, True, None),
        (8, '{"q-sign-time": "1567150692;1567157892"}', "eq", "q-sign-time", "1567150692;1567157892", None, True, None),
    ]


def test_minified_vector_keeps_its_own_bytes() -> None:
    minified = json.dumps(json.loads(VECTOR_TEXT), separators=(",", ":")).encode()
    policy = decode_policy(b64(minified))
    assert policy.raw == minified
    assert hashlib.sha1(policy.raw).hexdigest() == "c4e81462c1b138ea21187c9a8ec5def2bd3c29f2"
    assert [c.text for c in policy.conditions] == [c.text for c in decode_policy(VECTOR_B64).conditions]


# --- base64 --------------------------------------------------------------------------------------

# A document whose standard base64 contains both '+' and '/', so the URL-safe form differs.
SPECIAL = {"expiration": "2030-01-01T00:00:00Z", "conditions": [{"key": "a>>>???"}]}
SPECIAL_BYTES = json.dumps(SPECIAL).encode()
SPECIAL_B64 = b64(SPECIAL_BYTES)


def test_special_fixture_has_plus_and_slash() -> None:
    assert "+" in SPECIAL_B64 and "/" in SPECIAL_B64


@pytest.mark.parametrize(
    "text, repairs",
    [
        (base64.urlsafe_b64encode(SPECIAL_BYTES).decode(), ["url-safe"]),
        (SPECIAL_B64.rstrip("="), ["padding-missing"]),
        (SPECIAL_B64 + "==", ["padding-extra"]),
        (SPECIAL_B64[:20] + "\n" + SPECIAL_B64[20:], ["whitespace"]),
        (SPECIAL_B64[:20] + " " + SPECIAL_B64[20:], ["whitespace"]),
        (base64.urlsafe_b64encode(SPECIAL_BYTES).decode().rstrip("=") + "\n", ["url-safe", "padding-missing"]),
    ],
)
def test_lenient_base64_repairs_but_reports(text: str, repairs: list[str]) -> None:
    policy = decode_policy(text)
    assert kinds(policy) == ["base64"]
    assert (policy.problems[0].detail, policy.problems[0].facts) == ("not-strict", {"repairs": repairs})
    assert set(repairs) <= set(BASE64_REPAIRS)
    assert policy.fatal is policy.problems[0]
    assert policy.raw == SPECIAL_BYTES  # still decoded so the rest can be diagnosed
    assert policy.conditions[0].value == "a>>>???"


@pytest.mark.parametrize("text", [SPECIAL_B64, f"  {SPECIAL_B64}\r\n", f"\t{SPECIAL_B64}\n"])
def test_surrounding_whitespace_is_tolerated(text: str) -> None:
    policy = decode_policy(text)
    assert policy.problems == ()
    assert policy.raw == SPECIAL_BYTES
    assert policy.b64 == text  # as sent


@pytest.mark.parametrize(
    "text, detail, facts",
    [
        (SPECIAL_B64[:8] + "*" + SPECIAL_B64[9:], "outside-alphabet", {"character": "*", "offset": 8}),
        (SPECIAL_B64[:8] + "é" + SPECIAL_B64[9:], "non-ascii", {"offset": 8}),
        ("A", "impossible-length", {}),
        ("AAAAA", "impossible-length", {}),
        ("AB==CD==", "outside-alphabet", {"character": "=", "offset": 2}),
    ],
)
def test_undecodable_base64(text: str, detail: str, facts: dict) -> None:
    policy = decode_policy(text)
    assert kinds(policy) == ["base64"]
    assert (policy.problems[0].detail, policy.problems[0].facts) == (detail, facts)
    assert policy.raw == b"" and policy.document is None and policy.conditions == ()


# --- bytes and JSON ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, kind, detail, facts",
    [
        (b'{"expiration": "\xff"}', "utf8", "not-utf8", {"byte": "0xff", "offset": 16}),
        ('{"expiration": "x"}'.encode("utf-16"), "utf8", "utf16", {"byte": "0xff", "offset": 0}),
        (b"", "json", "syntax", {"line": 1, "column": 1}),
        (b'{\n  "expiration": "2030-01-01T00:00:00Z",\n  "conditions": [ ,]\n}', "json", "syntax",
         {"line": 3, "column": 19}),
        (b'{"expiration": "2030-01-01T00:00:00Z", "conditions": [],}', "json", "syntax", {"line": 1}),
        (b"\xef\xbb\xbf{}", "json", "syntax", {"json_error": "Unexpected UTF-8 BOM (decode using utf-8-sig)"}),
        (b'{"conditions": [NaN]}', "json", "bad-value", {"json_error": "NaN is not a JSON value"}),
        (b'{"conditions": [Infinity]}', "json", "bad-value", {"json_error": "Infinity is not a JSON value"}),
        (b"[" * 100_000 + b"]" * 100_000, "json", "too-deep", {}),
        (b"[]", "not-object", "json-array", {}),
        (b'"policy"', "not-object", "json-string", {}),
        (b"null", "not-object", "json-null", {}),
        (b"42", "not-object", "json-number", {}),
    ],
)
def test_unusable_document(data: bytes, kind: str, detail: str, facts: dict) -> None:
    policy = decode_policy(b64(data))
    assert kinds(policy) == [kind]
    assert policy.problems[0].detail == detail and policy.problems[0].detail in PROBLEM_DETAILS
    assert facts.items() <= policy.problems[0].facts.items()
    assert policy.raw == data
    assert policy.document is None and policy.conditions == ()
    assert policy.fatal is policy.problems[0]


def test_deeply_nested_condition_is_fine_when_parsable() -> None:
    deep: object = "x"
    for _ in range(200):
        deep = [deep]
    policy = policy_of(deep)
    assert policy.conditions[0].op == "invalid"


# --- document-level problems ---------------------------------------------------------------------

GOOD = {"expiration": "2030-01-01T00:00:00Z", "conditions": [{"acl": "default"}]}


@pytest.mark.parametrize(
    "text, expected",
    [
        # (kind, where, detail, facts) per problem
        ('{"expiration": "2030-01-01T00:00:00Z", "conditions": [{"acl": "default"}]}', []),
        ('{"expiration": "2030-01-01T00:00:00Z", "conditions": [{"acl": "default"}], "extra": 1}', []),
        ('{"conditions": [{"acl": "default"}]}', [("no-expiration", None, "no-expiration", {})]),
        ('{"expiration": "2030-01-01 00:00:00", "conditions": [{"acl": "a"}]}',
         [("bad-expiration", "expiration", "unusable", {"expiration_problem": "space-for-t"})]),
        ('{"expiration": "2030-01-01", "conditions": [{"acl": "a"}]}',
         [("bad-expiration", "expiration", "unusable", {"expiration_problem": "date-only"})]),
        ('{"expiration": 1893456000, "conditions": [{"acl": "a"}]}',
         [("bad-expiration", "expiration", "not-a-string", {})]),
        ('{"expiration": "2030-01-01T00:00:00Z"}', [("no-conditions", None, "no-conditions", {})]),
        ('{"expiration": "2030-01-01T00:00:00Z", "conditions": []}',
         [("no-conditions", "conditions", "conditions-empty", {})]),
        ('{"expiration": "2030-01-01T00:00:00Z", "conditions": {"acl": "a"}}',
         [("no-conditions", "conditions", "conditions-not-array", {})]),
        ('{"expiration": "2030-01-01T00:00:00Z", "conditions": null}',
         [("no-conditions", "conditions", "conditions-not-array", {})]),
        ('{"Expiration": "2030-01-01T00:00:00Z", "conditions": [{"acl": "a"}]}',
         [("top-level-case", "Expiration", "key-case", {"wanted": "expiration", "written": "Expiration"})]),
        ('{"EXPIRATION": "2030-01-01T00:00:00Z", "Conditions": [{"acl": "a"}]}',
         [("top-level-case", "EXPIRATION", "key-case", {"wanted": "expiration", "written": "EXPIRATION"}),
          ("top-level-case", "Conditions", "key-case", {"wanted": "conditions", "written": "Conditions"})]),
        ('{"expiration": "2030-01-01T00:00:00Z", "Conditions": [], "conditions": [{"acl": "a"}]}', []),
        ('{}', [("no-expiration", None, "no-expiration", {}), ("no-conditions", None, "no-conditions", {})]),
        # MinIO's bypass: a second "conditions" replaces the first for some parsers.
        ('{"expiration": "2030-01-01T00:00:00Z", "conditions": [{"acl": "a"}], "conditions": [{"acl": "b"}]}',
         [("duplicate-key", "conditions", "repeated-key", {"key": "conditions"})]),
        ('{"expiration": "2030-01-01T00:00:00Z", "conditions": [{"acl": "a"}, {"key": "a", "key": "b"}]}',
         [("duplicate-key", "conditions[1].key", "repeated-key", {"key": "key"})]),
        ('{"expiration": "x", "expiration": "2030-01-01T00:00:00Z", "conditions": [{"a b": {"c": 1, "c": 2}}]}',
         [("duplicate-key", "expiration", "repeated-key", {"key": "expiration"}),
          ("duplicate-key", 'conditions[0]["a b"].c', "repeated-key", {"key": "c"})]),
    ],
)
def test_document_problems(text: str, expected: list[tuple[str, str | None, str, dict]]) -> None:
    policy = decode_policy(b64(text))
    assert [(p.kind, p.where, p.detail, p.facts) for p in policy.problems] == expected


def test_duplicates_last_value_wins_and_are_not_fatal() -> None:
    policy = decode_policy(b64('{"expiration": "2030-01-01T00:00:00Z", "conditions": [{"acl": "a"}], '
                               '"conditions": [{"acl": "b"}]}'))
    assert policy.conditions[0].value == "b"
    assert policy.fatal is None
    assert kinds(policy) == ["duplicate-key"]


def test_fatal_skips_duplicates() -> None:
    policy = decode_policy(b64('{"conditions": [], "conditions": []}'))
    assert kinds(policy) == ["duplicate-key", "no-expiration", "no-conditions"]
    assert policy.fatal is not None and policy.fatal.kind == "no-expiration"


def test_bad_expiration_keeps_text() -> None:
    policy = decode_policy(encode({"expiration": "2030-01-01 00:00:00", "conditions": [{"a": "b"}]}))
    assert policy.expiration == "2030-01-01 00:00:00"
    assert policy.expiration_unix is None


def test_expiration_with_offset() -> None:
    policy = decode_policy(encode({"expiration": "2019-08-30T17:38:12+08:00", "conditions": [{"a": "b"}]}))
    assert policy.problems == () and policy.expiration_unix == 1567157892


# --- conditions ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, op, field, value, rng, dollar, problem",
    [
        ({"acl": "default"}, "eq", "acl", "default", None, True, None),
        ({"$key": "a"}, "eq", "$key", "a", None, True, None),  # kept as written
        (["eq", "$acl", "private"], "eq", "acl", "private", None, True, None),
        (["EQ", "$acl", "private"], "eq", "acl", "private", None, True, None),
        (["Starts-With", "$key", "up/"], "starts-with", "key", "up/", None, True, None),
        (["starts-with", "x-cos-meta-bb", "12"], "starts-with", "x-cos-meta-bb", "12", None, False, None),  # D-POST-OLD
        (["starts-with", "$key", ""], "starts-with", "key", "", None, True, None),
        (["content-length-range", 1, 5242880], "content-length-range", None, None, (1, 5242880), False, None),
        (["Content-Length-Range", 0, 0], "content-length-range", None, None, (0, 0), False, None),
        (["content-length-range", 10, 1], "content-length-range", None, None, (10, 1), False, None),
        ({"acl": "a", "key": "b"}, "invalid", None, None, None, False, "object-not-single"),
        ({}, "invalid", None, None, None, False, "object-not-single"),
        ({"success_action_status": 200}, "invalid", None, None, None, False, "value-not-string"),
        ({"acl": None}, "invalid", None, None, None, False, "value-not-string"),
        (["in", "$acl", ["a", "b"]], "invalid", None, None, None, False, "unknown-operator"),
        (["not-in", "$acl", "a"], "invalid", None, None, None, False, "unknown-operator"),
        ([], "invalid", None, None, None, False, "empty-array"),
        ([1, "$acl", "a"], "invalid", None, None, None, False, "operator-not-string"),
        (["eq", "$acl"], "invalid", None, None, None, False, "needs-field-and-value"),
        (["eq", "$acl", "a", "b"], "invalid", None, None, None, False, "needs-field-and-value"),
        (["eq", 5, "a"], "invalid", None, None, None, False, "name-not-string"),
        (["eq", "$acl", 5], "invalid", None, None, None, False, "value-not-string"),
        (["eq", "$", "a"], "invalid", None, None, None, False, "empty-field-name"),
        (["content-length-range", "1", "100"], "invalid", None, None, None, False, "range-needs-integers"),
        (["content-length-range", 1.0, 100], "invalid", None, None, None, False, "range-needs-integers"),
        (["content-length-range", -1, 100], "invalid", None, None, None, False, "range-needs-integers"),
        (["content-length-range", True, 100], "invalid", None, None, None, False, "range-needs-integers"),
        (["content-length-range", 1], "invalid", None, None, None, False, "range-needs-integers"),
        ("acl", "invalid", None, None, None, False, "not-object-or-array"),
        (42, "invalid", None, None, None, False, "not-object-or-array"),
        (None, "invalid", None, None, None, False, "not-object-or-array"),
    ],
)
def test_condition_forms(raw: object, op: str, field: str | None, value: str | None,
                         rng: tuple[int, int] | None, dollar: bool, problem: str | None) -> None:
    (cond,) = policy_of(raw).conditions
    assert (cond.index, cond.op, cond.field, cond.value, cond.range, cond.dollar) == (0, op, field, value, rng, dollar)
    if problem is None:
        assert cond.problem is None
    else:
        assert cond.problem == problem
    assert cond.text == json.dumps(raw, ensure_ascii=False, separators=(", ", ": "))


def test_condition_text_keeps_non_ascii() -> None:
    (cond,) = policy_of(["starts-with", "$key", "上传/"]).conditions
    assert cond.text == '["starts-with", "$key", "上传/"]'


def test_condition_indexes() -> None:
    policy = policy_of({"a": "1"}, 5, ["eq", "$b", "2"])
    assert [c.index for c in policy.conditions] == [0, 1, 2]
    assert [c.op for c in policy.conditions] == ["eq", "invalid", "eq"]


# --- evaluation ----------------------------------------------------------------------------------


def vector_results(fields: dict[str, str] | None = None, *, bucket: str | None = VECTOR_BUCKET,
                   file_size: int | None = 1000):
    return evaluate_conditions(decode_policy(VECTOR_B64), VECTOR_FIELDS if fields is None else fields,
                               bucket=bucket, file_size=file_size)


def test_vector_form_passes() -> None:
    results = vector_results()
    assert [r.ok for r in results] == [True] * 9
    assert [r.field for r in results] == [
        "acl", "bucket", "key", "content-type", "success_action_redirect", "x-cos-server-side-encryption",
        "q-sign-algorithm", "q-ak", "q-sign-time"]
    assert [r.condition.index for r in results] == list(range(9))
    assert results[1].actual == VECTOR_BUCKET
    assert results[8].actual == "1567150692;1567157892"  # the q-key-time field
    assert results[3].expected == "image/"


@pytest.mark.parametrize(
    "delta, bucket, index, actual, why",
    [
        # one failing condition per case: (fields delta (None removes), bucket, failing index, actual, why)
        ({"acl": None}, VECTOR_BUCKET, 0, None, "absent"),
        ({"acl": "Default"}, VECTOR_BUCKET, 0, "Default", "case-differs"),
        ({"acl": "default "}, VECTOR_BUCKET, 0, "default ", "whitespace"),
        ({}, "otherbucket-1250000000", 1, "otherbucket-1250000000", "not-equal"),
        ({}, "Examplebucket-1250000000", 1, "Examplebucket-1250000000", "case-differs"),
        ({"key": "other/photo.jpg"}, VECTOR_BUCKET, 2, "other/photo.jpg", "not-prefix"),
        ({"key": "/folder/subfolder/photo.jpg"}, VECTOR_BUCKET, 2, "/folder/subfolder/photo.jpg", "leading-slash"),
        ({"key": "folder/subfolder"}, VECTOR_BUCKET, 2, "folder/subfolder", "trailing-slash"),
        ({"key": "folder%2Fsubfolder%2Fa.jpg"}, VECTOR_BUCKET, 2, "folder%2Fsubfolder%2Fa.jpg", "url-encoded"),
        ({"content-type": "Image/PNG"}, VECTOR_BUCKET, 3, "Image/PNG", "case-differs"),
        ({"content-type": ""}, VECTOR_BUCKET, 3, "", "not-prefix"),
        ({"success_action_redirect": "https%3A%2F%2Fmy.website%2Fok"}, VECTOR_BUCKET, 4,
         "https%3A%2F%2Fmy.website%2Fok", "url-encoded"),
        ({"x-cos-server-side-encryption": "aes256"}, VECTOR_BUCKET, 5, "aes256", "case-differs"),
        ({"q-sign-algorithm": "SHA1"}, VECTOR_BUCKET, 6, "SHA1", "case-differs"),
        ({"q-ak": "AKIDwrong"}, VECTOR_BUCKET, 7, "AKIDwrong", "not-equal"),
        ({"q-key-time": "1567150692;1567157000"}, VECTOR_BUCKET, 8, "1567150692;1567157000", "not-equal"),
        ({"q-key-time": None}, VECTOR_BUCKET, 8, None, "key-time-absent"),
    ],
)
def test_vector_form_deltas(delta: dict[str, str | None], bucket: str, index: int, actual: str | None,
                            why: str) -> None:
    fields = dict(VECTOR_FIELDS)
    for name, value in delta.items():
        if value is None:
            del fields[name]
        else:
            fields[name] = value
    results = vector_results(fields, bucket=bucket)
    assert [r.condition.index for r in results if not r.ok] == [index]
    failing = results[index]
    assert failing.actual == actual
    assert failing.why == why


def test_bucket_form_field_is_ignored() -> None:
    fields = dict(VECTOR_FIELDS, bucket="examplebucket-1250000000")
    assert not vector_results(fields, bucket="other-1250000000")[1].ok
    fields = dict(VECTOR_FIELDS, bucket="other-1250000000")
    assert vector_results(fields)[1].ok


def test_bucket_need_not_be_a_form_field_and_unknown_bucket_is_not_checked() -> None:
    assert "bucket" not in VECTOR_FIELDS and vector_results()[1].ok
    unknown = vector_results(bucket=None)[1]
    assert unknown.ok and unknown.actual is None and unknown.why == "bucket-unknown"


def test_q_sign_time_field_is_not_used() -> None:
    fields = dict(VECTOR_FIELDS, **{"q-sign-time": "1567150692;1567157892", "q-key-time": "1;2"})
    result = vector_results(fields)[8]
    assert not result.ok and result.actual == "1;2"
    assert (result.why, result.notes) == ("not-equal", ("sign-time-field-unused",))
    fields = dict(VECTOR_FIELDS, **{"q-sign-time": "1;2"})
    result = vector_results(fields)[8]
    assert result.ok and (result.why, result.notes) == ("equal", ("sign-time-field-unused",))


@pytest.mark.parametrize(
    "condition, fields, ok, actual, why, notes",
    [
        # default: one condition against a one-field form; each case states what differs
        (["starts-with", "$Content-Type", "image/*"], {"content-type": "image/png"}, False, "image/png",
         "wildcard", ()),
        (["starts-with", "$key", "uploads/${filename}"], {"key": "uploads/a.jpg"}, False, "uploads/a.jpg",
         "filename-placeholder", ()),
        ({"key": "uploads/${filename}"}, {"key": "uploads/a.jpg"}, False, "uploads/a.jpg", "filename-placeholder", ()),
        ({"key": "uploads/"}, {"key": "uploads/a.jpg"}, False, "uploads/a.jpg", "eq-prefix", ()),
        ({"key": "uploads/a.jpg/"}, {"key": "uploads/a.jpg"}, False, "uploads/a.jpg", "trailing-slash", ()),
        ({"key": "uploads/a b.jpg"}, {"key": "uploads/a+b.jpg"}, False, "uploads/a+b.jpg", "url-encoded", ()),
        ({"key": "uploads/a%20b.jpg"}, {"key": "uploads/a b.jpg"}, False, "uploads/a b.jpg",
         "policy-url-encoded", ()),
        ({"acl": "private"}, {"acl": " private"}, False, " private", "whitespace", ()),
        (["starts-with", "$key", ""], {"key": "anything"}, True, "anything", "empty-prefix", ()),
        (["starts-with", "$key", ""], {}, False, None, "absent", ()),
        (["eq", "$acl", ""], {"acl": ""}, True, "", "equal", ()),
        (["starts-with", "$key", "up/"], {"key": "up/x"}, True, "up/x", "starts-with", ()),
        (["eq", "$Content-Type", "image/png"], {"content-type": "image/png"}, True, "image/png", "equal", ()),
        (["starts-with", "x-cos-meta-bb", "12"], {"x-cos-meta-bb": "123"}, True, "123", "starts-with", ("no-dollar",)),
        ({"$key": "a"}, {"key": "a"}, False, None, "absent-dollar-object", ()),
        ({"acl": "a", "key": "b"}, {"acl": "a", "key": "b"}, False, None, "object-not-single", ()),
        (["in", "$acl", ["a"]], {"acl": "a"}, False, None, "unknown-operator", ()),
    ],
)
def test_near_misses(condition: object, fields: dict[str, str], ok: bool, actual: str | None,
                     why: str, notes: tuple[str, ...]) -> None:
    (result,) = evaluate_conditions(policy_of(condition), fields, bucket="b-1250000000", file_size=10)
    assert result.ok is ok
    assert result.actual == actual
    assert (result.why, result.notes) == (why, notes) and why in CONDITION_WORDS


def test_invalid_condition_result_shape() -> None:
    (result,) = evaluate_conditions(policy_of({"a": 1}), {"a": "1"}, bucket=None, file_size=None)
    assert (result.ok, result.field, result.expected, result.actual) == (False, "", None, None)
    assert result.why == result.condition.problem


@pytest.mark.parametrize(
    "rng, size, ok, why",
    [
        ((1, 100), 1, True, "size-within"),  # bounds are inclusive
        ((1, 100), 100, True, "size-within"),
        ((1, 100), 101, False, "size-above-max"),
        ((1, 100), 0, False, "size-below-min"),
        ((0, 0), 0, True, "size-within"),
        ((10, 1), 5, False, "range-empty"),
        ((1, 100), None, True, "size-unknown"),
    ],
)
def test_content_length_range(rng: tuple[int, int], size: int | None, ok: bool, why: str) -> None:
    (result,) = evaluate_conditions(policy_of(["content-length-range", *rng]), {}, bucket=None, file_size=size)
    assert (result.ok, result.field, result.expected, result.actual) == (ok, "content-length-range",
                                                                         f"{rng[0]}..{rng[1]}", size)
    assert result.why == why


def test_field_names_case_insensitive_values_case_sensitive() -> None:
    policy = policy_of(["eq", "$X-COS-Meta-Tag", "Value"], {"Cache-Control": "no-cache"})
    results = evaluate_conditions(policy, {"x-cos-meta-tag": "Value", "cache-control": "no-cache"},
                                  bucket=None, file_size=None)
    assert [(r.field, r.ok) for r in results] == [("x-cos-meta-tag", True), ("cache-control", True)]
    results = evaluate_conditions(policy, {"x-cos-meta-tag": "value", "cache-control": "No-Cache"},
                                  bucket=None, file_size=None)
    assert [r.ok for r in results] == [False, False]


def test_broken_policy_has_no_results() -> None:
    assert evaluate_conditions(decode_policy("!!!"), VECTOR_FIELDS, bucket=None, file_size=None) == ()


# --- never raises --------------------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
json_values = st.recursive(json_scalars, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(), c, max_size=4),
                           max_leaves=20)
field_names = st.sampled_from(["$key", "key", "$Content-Type", "$bucket", "bucket", "$q-sign-time", "$", "",
                               "acl"]) | st.text(max_size=8)
ops = st.sampled_from(["eq", "starts-with", "content-length-range", "EQ", "in", ""]) | st.text(max_size=6)
conditions = (
    st.lists(st.one_of(ops, json_values), max_size=4)
    | st.builds(lambda o, f, v: [o, f, v], ops, field_names, st.text() | json_values)
    | st.dictionaries(field_names, st.text() | json_values, max_size=2)
    | json_values
)
policies = st.fixed_dictionaries(
    {},
    optional={
        "expiration": st.sampled_from(["2030-01-01T00:00:00Z", "2030-01-01"]) | json_values,
        "conditions": st.lists(conditions, max_size=6) | json_values,
        "Conditions": json_values,
    },
)
forms = st.dictionaries(st.sampled_from(["key", "acl", "content-type", "q-key-time", "q-sign-time", "bucket"])
                        | st.text(max_size=8), st.text(max_size=12), max_size=6)


@settings(max_examples=300)
@given(policies, forms, st.none() | st.text(max_size=20), st.none() | st.integers(min_value=0, max_value=2**40))
def test_evaluate_never_raises(document: dict, fields: dict[str, str], bucket: str | None,
                               file_size: int | None) -> None:
    policy = decode_policy(encode(document))
    results = evaluate_conditions(policy, fields, bucket=bucket, file_size=file_size)
    assert len(results) == len(policy.conditions)
    assert all(r.why in CONDITION_WORDS and set(r.notes) <= set(CONDITION_NOTES) for r in results)
    assert all(isinstance(c, Condition) for c in policy.conditions)


@settings(max_examples=300)
@given(st.text())
def test_decode_never_raises_on_text(text: str) -> None:
    policy = decode_policy(text)
    assert policy.b64 == text
    assert policy.problems or policy.document is not None


@given(st.binary())
def test_decode_never_raises_on_bytes(data: bytes) -> None:
    policy = decode_policy(b64(data))
    assert policy.raw == data


@given(json_values)
def test_decode_never_raises_on_json(value: object) -> None:
    decode_policy(encode(value))


# --- the fast paths give what the general code gives ----------------------------------------------


@settings(max_examples=300)
@given(conditions)
def test_condition_text_is_json_dumps(condition: object) -> None:
    policy = policy_of(condition)
    assert len(policy.conditions) == 1
    assert policy.conditions[0].text == json.dumps(condition, ensure_ascii=False, separators=(", ", ": "))


@pytest.mark.parametrize("condition", [
    {"key": "上传/\u2028\x00\"\\"}, {"key": 1}, {"key": True}, {"a": "1", "b": "2"}, {},
    ["starts-with", "$key", "上传/"], ["content-length-range", 0, 10**30], ["eq", "$a", 1.5], ["eq", True, None],
    ["eq", "$a", True], [1, False, "x"], ["content-length-range", -1, 0],
    [], [[]], "text", 7,
])
def test_condition_text_table(condition: object) -> None:
    assert policy_of(condition).conditions[0].text == json.dumps(condition, ensure_ascii=False,
                                                                 separators=(", ", ": "))


@given(st.binary())
def test_strict_base64_has_no_problem_and_missing_padding_is_reported(data: bytes) -> None:
    policy = decode_policy(b64(data))
    assert policy.raw == data and "base64" not in kinds(policy)
    unpadded = decode_policy(b64(data).rstrip("="))
    assert unpadded.raw == data
    assert ("base64" in kinds(unpadded)) == (len(data) % 3 != 0)


@pytest.mark.parametrize("text, where", [
    ('{"a": 1, "a": 2}', ["a"]),
    ('{"c": [{"x": [{"y": 1, "y": 1}]}]}', ["c[0].x[0].y"]),
    ('{"conditions": [{"k": "a"}, {"k": "b", "k": "c"}, {"z": {"q": 1, "q": 2}}]}',
     ["conditions[1].k", "conditions[2].z.q"]),
])
def test_duplicate_keys_are_found_at_any_depth(text: str, where: list[str]) -> None:
    problems = decode_policy(b64(text)).problems
    assert [p.where for p in problems if p.kind == "duplicate-key"] == where


def test_conditions_and_results_are_plain_records() -> None:
    policy = decode_policy(VECTOR_B64)
    cond = policy.conditions[0]
    assert type(cond) is Condition
    assert cond == Condition(cond.index, cond.text, cond.op, cond.field, cond.value, cond.range, cond.dollar,
                             cond.problem)
    result = evaluate_conditions(policy, VECTOR_FIELDS, bucket=VECTOR_BUCKET, file_size=None)[0]
    assert type(result) is ConditionResult
