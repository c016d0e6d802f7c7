"""The POST Object policy: decode the ``policy`` form field and check its conditions against a form.

The field holds standard base64 of the exact JSON bytes; those bytes, not the base64 text and not a
re-serialisation, are what ``q-signature`` covers, so ``Policy.raw`` keeps them untouched.
Decoding never raises: every defect becomes a ``PolicyProblem`` and every unusable condition a
``Condition`` with ``op == "invalid"``, so the caller can explain all of them at once. Defects and
condition verdicts are words (``PROBLEM_DETAILS``, ``CONDITION_WORDS``) plus the facts they need;
the catalogue words them, so this module holds no sentence.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from collections.abc import Mapping as _Mapping
from dataclasses import dataclass, field
from json.encoder import encode_basestring
from urllib.parse import unquote, unquote_plus

from cosdoctor.cos.times import parse_iso8601, why_not_iso8601

__all__ = [
    "Condition",
    "PolicyProblem",
    "Policy",
    "decode_policy",
    "ConditionResult",
    "evaluate_conditions",
    "PROBLEM_DETAILS",
    "BASE64_REPAIRS",
    "CONDITION_WORDS",
    "CONDITION_NOTES",
]

# PolicyProblem.detail: which case of the problem kind it is.
PROBLEM_DETAILS = ("non-ascii", "outside-alphabet", "impossible-length", "undecodable", "not-strict",
                   "not-utf8", "utf16", "syntax", "too-deep", "bad-value", "json-null", "json-boolean",
                   "json-number", "json-string", "json-array", "repeated-key", "unusable", "not-a-string",
                   "no-expiration", "conditions-not-array", "conditions-empty", "no-conditions", "key-case")
# What lenient base64 decoding had to repair (facts["repairs"] of a "not-strict" problem).
BASE64_REPAIRS = ("whitespace", "url-safe", "padding-missing", "padding-extra")
# Condition.problem (why a condition is invalid) and ConditionResult.why (why it passes or fails).
INVALID_CONDITION_WORDS = ("object-not-single", "value-not-string", "empty-array", "operator-not-string",
                           "range-needs-integers", "unknown-operator", "needs-field-and-value",
                           "name-not-string", "empty-field-name", "not-object-or-array")
CONDITION_WORDS = INVALID_CONDITION_WORDS + (
    "size-unknown", "range-empty", "size-above-max", "size-below-min", "size-within", "bucket-unknown",
    "key-time-absent", "absent-dollar-object", "absent", "equal", "starts-with", "empty-prefix",
    "filename-placeholder", "wildcard", "case-differs", "whitespace", "trailing-slash", "leading-slash",
    "url-encoded", "policy-url-encoded", "eq-prefix", "not-equal", "not-prefix")
CONDITION_NOTES = ("sign-time-field-unused", "no-dollar")


@dataclass(slots=True)
class Condition:
    """One element of ``conditions``, classified."""

    index: int  # position in "conditions"
    text: str  # the condition as written (re-serialised with ", " and ": ")
    op: str  # "eq" | "starts-with" | "content-length-range" | "invalid"
    field: str | None  # field name without "$"; None for content-length-range/invalid
    value: str | None  # expected value or prefix; None for the range
    range: tuple[int, int] | None  # (min, max) for content-length-range
    dollar: bool  # the field was written with "$" (the object form counts as True)
    problem: str | None  # why op == "invalid": one of INVALID_CONDITION_WORDS


@dataclass(frozen=True, slots=True)
class PolicyProblem:
    """A defect of the policy document as a whole."""

    # base64 | utf8 | json | not-object | no-expiration | bad-expiration | no-conditions
    # | duplicate-key | top-level-case
    kind: str
    detail: str  # one of PROBLEM_DETAILS
    where: str | None = None  # JSON path like "conditions[3]" or "expiration"
    facts: _Mapping[str, object] = field(default_factory=dict)  # what the detail's sentence names


@dataclass(slots=True)
class Policy:
    b64: str  # as sent
    raw: bytes  # decoded bytes: exactly what must be signed
    document: dict | None  # parsed object (the last value wins for duplicate keys)
    expiration: str | None  # as written
    expiration_unix: int | None
    conditions: tuple[Condition, ...]
    problems: tuple[PolicyProblem, ...]  # empty when well-formed

    @property
    def fatal(self) -> PolicyProblem | None:
        """The first problem COS would answer with InvalidPolicyDocument (duplicates are only suspicious)."""
        for problem in self.problems:
            if problem.kind != "duplicate-key":
                return problem
        return None




# --- decoding -------------------------------------------------------------------------------------

_ASCII_WS = " \t\r\n\f\v"
_ASCII_WS_CHAR = re.compile(r"[ \t\r\n\f\v]")
_B64_BODY = re.compile(r"[A-Za-z0-9+/]*", re.ASCII)
# With a length that is a multiple of 4: strict standard base64 with exact padding, the usual policy.
_PADDED_B64 = re.compile(r"[A-Za-z0-9+/]*={0,2}", re.ASCII)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*", re.ASCII)


def _decode_base64(text: str) -> tuple[bytes | None, PolicyProblem | None]:
    """(bytes, problem). Bytes are still returned for lenient repairs (URL-safe, padding, line
    breaks) so the rest of the policy can be diagnosed; None when nothing sensible can be decoded."""
    s = text.strip(_ASCII_WS)
    if len(s) % 4 == 0 and _PADDED_B64.fullmatch(s):
        return binascii.a2b_base64(s), None
    if not s.isascii():
        bad = next(i for i, ch in enumerate(s) if not ch.isascii())
        return None, PolicyProblem("base64", "non-ascii", facts={"offset": bad})
    repairs: list[str] = []
    if _ASCII_WS_CHAR.search(s):
        repairs.append("whitespace")
        s = _ASCII_WS_CHAR.sub("", s)
    if "-" in s or "_" in s:
        repairs.append("url-safe")
        s = s.replace("-", "+").replace("_", "/")
    body = s.rstrip("=")
    padding = len(s) - len(body)
    if not _B64_BODY.fullmatch(body):
        bad = next(i for i, ch in enumerate(body) if not (ch.isalnum() or ch in "+/"))
        return None, PolicyProblem("base64", "outside-alphabet", facts={"character": body[bad], "offset": bad})
    if len(body) % 4 == 1:
        return None, PolicyProblem("base64", "impossible-length")
    needed = -len(body) % 4
    if padding < needed:
        repairs.append("padding-missing")
    elif padding > needed:
        repairs.append("padding-extra")
    try:
        raw = base64.b64decode(body + "=" * needed, validate=True)
    except (binascii.Error, ValueError):  # pragma: no cover - the checks above make this unreachable
        return None, PolicyProblem("base64", "undecodable")
    if repairs:
        return raw, PolicyProblem("base64", "not-strict", facts={"repairs": repairs})
    return raw, None


class _BadConstant(ValueError):
    pass


def _reject_constant(name: str) -> object:
    raise _BadConstant(f"{name} is not a JSON value")


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if _IDENT.fullmatch(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


class _DuplicateKey(Exception):
    pass


def _object_without_duplicates(pairs: list[tuple[str, object]]) -> dict:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _DuplicateKey
    return obj


# json.loads builds a new decoder on every call with hooks; this one is built once. Its hook only
# counts keys: a duplicate (rare) sends the text to the full parse, which says where it is.
_FAST_DECODER = json.JSONDecoder(object_pairs_hook=_object_without_duplicates,
                                 parse_constant=_reject_constant)


def _parse_json(text: str) -> tuple[object, list[PolicyProblem], PolicyProblem | None]:
    """(value, duplicate-key problems, json problem)."""
    try:
        return _FAST_DECODER.decode(text), [], None
    except (_DuplicateKey, ValueError, RecursionError):
        pass                                  # the full parse below finds and describes it
    duplicates: dict[int, tuple[dict, list[str]]] = {}

    def pairs_hook(pairs: list[tuple[str, object]]) -> dict:
        obj: dict = {}
        dups: list[str] = []
        for key, value in pairs:
            if key in obj and key not in dups:
                dups.append(key)
            obj[key] = value
        if dups:
            duplicates[id(obj)] = (obj, dups)  # keep obj alive so its id stays unique
        return obj

    try:
        value = json.loads(text, object_pairs_hook=pairs_hook, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        return None, [], PolicyProblem("json", "syntax", facts={"json_error": e.msg, "line": e.lineno,
                                                                  "column": e.colno})
    except RecursionError:
        return None, [], PolicyProblem("json", "too-deep")
    except ValueError as e:  # NaN/Infinity, integers longer than the interpreter's digit limit
        first_line = (str(e).splitlines() or [type(e).__name__])[0][:120]
        return None, [], PolicyProblem("json", "bad-value", facts={"json_error": first_line})

    problems: list[PolicyProblem] = []
    if duplicates:
        # Walk iteratively: the document may be as deep as the parser allowed.
        stack: list[tuple[object, str]] = [(value, "")]
        while stack:
            node, path = stack.pop()
            if isinstance(node, dict):
                found = duplicates.get(id(node))
                if found is not None and found[0] is node:
                    for key in found[1]:
                        where = _join(path, key)
                        problems.append(PolicyProblem("duplicate-key", "repeated-key", where,
                                                      {"key": key}))
                stack.extend((child, _join(path, k)) for k, child in reversed(list(node.items())))
            elif isinstance(node, list):
                stack.extend((child, _join(path, i)) for i, child in reversed(list(enumerate(node))))
    return value, problems, None


def _condition_text(raw: object) -> str:
    """json.dumps(raw, ensure_ascii=False, separators=(", ", ": ")), cheaply for arrays of strings
    and integers (the usual conditions besides {"name": "value"}, which _parse_condition writes)."""
    try:
        if type(raw) is list and all(type(item) is str or type(item) is int for item in raw):
            items = ", ".join([encode_basestring(item) if type(item) is str else int.__repr__(item)
                               for item in raw])
            return f"[{items}]"
        return json.dumps(raw, ensure_ascii=False, separators=(", ", ": "))
    except (RecursionError, ValueError, TypeError):
        return "<unprintable condition>"


def _is_count(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _invalid(index: int, text: str, problem: str) -> Condition:
    return Condition(index, text, "invalid", None, None, None, False, problem)


def _parse_condition(index: int, raw: object) -> Condition:
    if type(raw) is dict and len(raw) == 1:       # the usual {"field": "value"}, text made here
        ((name, value),) = raw.items()
        if type(value) is str:
            text = f"{{{encode_basestring(name)}: {encode_basestring(value)}}}"
            return Condition(index, text, "eq", name, value, None, True, None)
    text = _condition_text(raw)
    if isinstance(raw, dict):
        if len(raw) != 1:
            return _invalid(index, text, "object-not-single")
        ((name, value),) = raw.items()
        if not isinstance(value, str):
            return _invalid(index, text, "value-not-string")
        return Condition(index, text, "eq", name, value, None, True, None)
    if isinstance(raw, list):
        if not raw:
            return _invalid(index, text, "empty-array")
        op = raw[0]
        if not isinstance(op, str):
            return _invalid(index, text, "operator-not-string")
        op_l = op.lower()
        if op_l == "content-length-range":
            if len(raw) != 3 or not (_is_count(raw[1]) and _is_count(raw[2])):
                return _invalid(index, text, "range-needs-integers")
            return Condition(index, text, "content-length-range", None, None, (raw[1], raw[2]), False,
                                  None)
        if op_l not in ("eq", "starts-with"):
            return _invalid(index, text, "unknown-operator")
        if len(raw) != 3:
            return _invalid(index, text, "needs-field-and-value")
        name, value = raw[1], raw[2]
        if not isinstance(name, str):
            return _invalid(index, text, "name-not-string")
        if not isinstance(value, str):
            return _invalid(index, text, "value-not-string")
        dollar = name.startswith("$")
        field = name[1:] if dollar else name
        if not field:
            return _invalid(index, text, "empty-field-name")
        return Condition(index, text, op_l, field, value, None, dollar, None)
    return _invalid(index, text, "not-object-or-array")


def _top_level_case(document: dict, key: str, problems: list[PolicyProblem]) -> bool:
    """Record a 'top-level-case' problem when only a differently cased ``key`` exists."""
    for k in document:
        if k != key and k.lower() == key:
            problems.append(PolicyProblem("top-level-case", "key-case", k, {"wanted": key, "written": k}))
            return True
    return False


def _json_type(value: object) -> str:
    if value is None:
        return "json-null"
    if isinstance(value, bool):
        return "json-boolean"
    if isinstance(value, (int, float)):
        return "json-number"
    return "json-string" if isinstance(value, str) else "json-array"


def decode_policy(b64: str) -> Policy:
    """Decode and classify the ``policy`` form field. Never raises."""
    if not isinstance(b64, str):
        b64 = str(b64)
    problems: list[PolicyProblem] = []

    def result(raw: bytes = b"", document: dict | None = None, expiration: str | None = None,
               expiration_unix: int | None = None, conditions: tuple[Condition, ...] = ()) -> Policy:
        return Policy(b64, raw, document, expiration, expiration_unix, conditions, tuple(problems))

    raw, problem = _decode_base64(b64)
    if problem is not None:
        problems.append(problem)
    if raw is None:
        return result()

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        detail = "utf16" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else "not-utf8"
        problems.append(PolicyProblem("utf8", detail, facts={"byte": f"0x{raw[e.start]:02x}", "offset": e.start}))
        return result(raw)

    value, duplicate_problems, json_problem = _parse_json(text)
    if json_problem is not None:
        problems.append(json_problem)
        return result(raw)
    if not isinstance(value, dict):
        problems.append(PolicyProblem("not-object", _json_type(value)))
        return result(raw)
    document: dict = value
    problems.extend(duplicate_problems)

    expiration: str | None = None
    expiration_unix: int | None = None
    if "expiration" in document:
        exp = document["expiration"]
        expiration = exp if isinstance(exp, str) else _condition_text(exp)
        if isinstance(exp, str):
            expiration_unix = parse_iso8601(exp)
            if expiration_unix is None:
                problems.append(PolicyProblem("bad-expiration", "unusable", "expiration",
                                              {"expiration_problem": why_not_iso8601(exp)}))
        else:
            problems.append(PolicyProblem("bad-expiration", "not-a-string", "expiration"))
    elif not _top_level_case(document, "expiration", problems):
        problems.append(PolicyProblem("no-expiration", "no-expiration"))

    conditions: tuple[Condition, ...] = ()
    if "conditions" in document:
        conds = document["conditions"]
        if not isinstance(conds, list):
            problems.append(PolicyProblem("no-conditions", "conditions-not-array", "conditions"))
        elif not conds:
            problems.append(PolicyProblem("no-conditions", "conditions-empty", "conditions"))
        else:
            conditions = tuple([_parse_condition(i, c) for i, c in enumerate(conds)])
    elif not _top_level_case(document, "conditions", problems):
        problems.append(PolicyProblem("no-conditions", "no-conditions"))

    return result(raw, document, expiration, expiration_unix, conditions)


# --- evaluation -----------------------------------------------------------------------------------


@dataclass(slots=True)
class ConditionResult:
    condition: Condition
    ok: bool
    field: str  # lower-cased field name; "content-length-range" for the range, "" for an invalid condition
    expected: str | None  # the condition value, or "min..max" for the range
    actual: str | int | None  # the value sent (None when absent); the file size for the range
    why: str  # one of CONDITION_WORDS
    notes: tuple[str, ...] = ()  # CONDITION_NOTES that apply




def _matches(op: str, actual: str, expected: str) -> bool:
    return actual == expected if op == "eq" else actual.startswith(expected)


def _near_miss(op: str, field: str, expected: str, actual: str) -> str:
    """The likely reason a value fails its condition (a CONDITION_WORDS word)."""
    if "${filename}" in expected:
        return "filename-placeholder"
    if op == "starts-with" and "*" in expected:
        return "wildcard"
    if _matches(op, actual.lower(), expected.lower()):
        return "case-differs"
    if _matches(op, actual.strip(), expected.strip()):
        return "whitespace"
    if op == "eq" and actual.rstrip("/") == expected.rstrip("/"):
        return "trailing-slash"
    if op == "starts-with" and expected == actual + "/":
        return "trailing-slash"
    if actual.startswith("/") and _matches(op, actual.lstrip("/"), expected):
        return "leading-slash"
    for decode in (unquote, unquote_plus):
        if decode(actual) != actual and _matches(op, decode(actual), expected):
            return "url-encoded"
        if decode(expected) != expected and _matches(op, actual, decode(expected)):
            return "policy-url-encoded"
    if op == "eq" and expected and actual.startswith(expected):
        return "eq-prefix"
    if op == "eq":
        return "not-equal"
    return "not-prefix"


def _evaluate_one(cond: Condition, fields: Mapping[str, str], bucket: str | None,
                  file_size: int | None) -> ConditionResult:
    if cond.op == "invalid":
        return ConditionResult(cond, False, "", None, None, cond.problem or "not-object-or-array")

    if cond.op == "content-length-range":
        lo, hi = cond.range or (0, 0)
        expected = f"{lo}..{hi}"
        if file_size is None:
            return ConditionResult(cond, True, "content-length-range", expected, None, "size-unknown")
        if lo > hi:
            why, ok = "range-empty", False
        elif file_size > hi:
            why, ok = "size-above-max", False
        elif file_size < lo:
            why, ok = "size-below-min", False
        else:
            why, ok = "size-within", True
        return ConditionResult(cond, ok, "content-length-range", expected, file_size, why)

    written = cond.field or ""
    name = written.lower()
    expected = cond.value or ""
    notes: list[str] = []
    if name == "bucket":
        actual: str | None = bucket
        if actual is None:
            return ConditionResult(cond, True, name, expected, None, "bucket-unknown")
    elif name == "q-sign-time":
        actual = fields.get("q-key-time")
        if "q-sign-time" in fields:
            notes.append("sign-time-field-unused")
    else:
        actual = fields.get(name)
    if not cond.dollar:
        notes.append("no-dollar")

    if actual is None:
        if name == "q-sign-time":
            why = "key-time-absent"
        elif written.startswith("$"):
            why = "absent-dollar-object"
        else:
            why = "absent"
        ok = False
    elif _matches(cond.op, actual, expected):
        ok = True
        if cond.op == "eq":
            why = "equal"
        elif expected:
            why = "starts-with"
        else:
            why = "empty-prefix"
    else:
        ok = False
        why = _near_miss(cond.op, name, expected, actual)
    return ConditionResult(cond, ok, name, expected, actual, why, tuple(notes))


def evaluate_conditions(policy: Policy, fields: Mapping[str, str], *, bucket: str | None,
                        file_size: int | None) -> tuple[ConditionResult, ...]:
    """Check every condition against the form, in condition order.

    ``fields`` maps lower-cased field names to values (``${filename}`` already substituted).
    Names match case-insensitively, values case-sensitively; ``bucket`` is the Host's bucket-appid.
    """
    return tuple([_evaluate_one(c, fields, bucket, file_size) for c in policy.conditions])
