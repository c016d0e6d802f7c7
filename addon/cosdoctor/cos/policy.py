"""The POST Object policy: decode the ``policy`` form field and check its conditions against a form.

The field holds standard base64 of the exact JSON bytes; those bytes, not the base64 text and not a
re-serialisation, are what ``q-signature`` covers, so ``Policy.raw`` keeps them untouched.
Decoding never raises: every defect becomes a ``PolicyProblem`` and every unusable condition a
``Condition`` with ``op == "invalid"``, so the caller can explain all of them at once.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
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
]


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
    problem: str | None  # why op == "invalid"


@dataclass(frozen=True, slots=True)
class PolicyProblem:
    """A defect of the policy document as a whole."""

    # base64 | utf8 | json | not-object | no-expiration | bad-expiration | no-conditions
    # | duplicate-key | top-level-case
    kind: str
    detail: str  # one short sentence
    where: str | None = None  # JSON path like "conditions[3]" or "expiration"


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


def _decode_base64(text: str) -> tuple[bytes | None, str | None]:
    """(bytes, problem detail). Bytes are still returned for lenient repairs (URL-safe, padding, line
    breaks) so the rest of the policy can be diagnosed; None when nothing sensible can be decoded."""
    s = text.strip(_ASCII_WS)
    if len(s) % 4 == 0 and _PADDED_B64.fullmatch(s):
        return binascii.a2b_base64(s), None
    if not s.isascii():
        bad = next(i for i, ch in enumerate(s) if not ch.isascii())
        return None, f"The base64 text contains a non-ASCII character at offset {bad}."
    notes: list[str] = []
    if _ASCII_WS_CHAR.search(s):
        notes.append("it has whitespace or line breaks inside the base64 text")
        s = _ASCII_WS_CHAR.sub("", s)
    if "-" in s or "_" in s:
        notes.append("it uses the URL-safe alphabet ('-' and '_'); COS expects standard base64 ('+' and '/')")
        s = s.replace("-", "+").replace("_", "/")
    body = s.rstrip("=")
    padding = len(s) - len(body)
    if not _B64_BODY.fullmatch(body):
        bad = next(i for i, ch in enumerate(body) if not (ch.isalnum() or ch in "+/"))
        return None, f"The base64 text has {body[bad]!r} at offset {bad}, outside the base64 alphabet."
    if len(body) % 4 == 1:
        return None, "The base64 text has an impossible length (one character too many or too few)."
    needed = -len(body) % 4
    if padding < needed:
        notes.append("its '=' padding is missing")
    elif padding > needed:
        notes.append("it has too much '=' padding")
    try:
        raw = base64.b64decode(body + "=" * needed, validate=True)
    except (binascii.Error, ValueError):  # pragma: no cover - the checks above make this unreachable
        return None, "The base64 text does not decode."
    if notes:
        return raw, "The policy is not strict base64: " + "; ".join(notes) + "."
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
        detail = f"The policy is not valid JSON: {e.msg} (line {e.lineno}, column {e.colno})."
        return None, [], PolicyProblem("json", detail)
    except RecursionError:
        return None, [], PolicyProblem("json", "The policy JSON is nested too deeply to parse.")
    except ValueError as e:  # NaN/Infinity, integers longer than the interpreter's digit limit
        first_line = (str(e).splitlines() or [type(e).__name__])[0][:120]
        return None, [], PolicyProblem("json", f"The policy is not valid JSON: {first_line}.")

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
                        problems.append(PolicyProblem(
                            "duplicate-key",
                            f"The key {key!r} appears more than once; the last copy is used here, "
                            "but another parser may use a different one.",
                            where,
                        ))
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
            return _invalid(index, text, "object condition must have exactly one property")
        ((name, value),) = raw.items()
        if not isinstance(value, str):
            return _invalid(index, text, f"the value for {name!r} must be a string")
        return Condition(index, text, "eq", name, value, None, True, None)
    if isinstance(raw, list):
        if not raw:
            return _invalid(index, text, "array condition is empty")
        op = raw[0]
        if not isinstance(op, str):
            return _invalid(index, text, "the operator (first element) must be a string")
        op_l = op.lower()
        if op_l == "content-length-range":
            if len(raw) != 3 or not (_is_count(raw[1]) and _is_count(raw[2])):
                return _invalid(index, text, "content-length-range needs two non-negative integers")
            return Condition(index, text, "content-length-range", None, None, (raw[1], raw[2]), False,
                                  None)
        if op_l not in ("eq", "starts-with"):
            return _invalid(index, text, f"unknown operator {op!r}")
        if len(raw) != 3:
            return _invalid(index, text, f"{op_l} needs exactly a field and a value")
        name, value = raw[1], raw[2]
        if not isinstance(name, str):
            return _invalid(index, text, "the field name must be a string")
        if not isinstance(value, str):
            return _invalid(index, text, "the value must be a string")
        dollar = name.startswith("$")
        field = name[1:] if dollar else name
        if not field:
            return _invalid(index, text, "the field name is empty")
        return Condition(index, text, op_l, field, value, None, dollar, None)
    return _invalid(index, text, "a condition must be an object or an array")


def _top_level_case(document: dict, key: str, problems: list[PolicyProblem]) -> bool:
    """Record a 'top-level-case' problem when only a differently cased ``key`` exists."""
    for k in document:
        if k != key and k.lower() == key:
            problems.append(PolicyProblem(
                "top-level-case", f"The key must be written {key!r}, not {k!r}.", k))
            return True
    return False


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return "a string" if isinstance(value, str) else "an array"


def decode_policy(b64: str) -> Policy:
    """Decode and classify the ``policy`` form field. Never raises."""
    if not isinstance(b64, str):
        b64 = str(b64)
    problems: list[PolicyProblem] = []

    def result(raw: bytes = b"", document: dict | None = None, expiration: str | None = None,
               expiration_unix: int | None = None, conditions: tuple[Condition, ...] = ()) -> Policy:
        return Policy(b64, raw, document, expiration, expiration_unix, conditions, tuple(problems))

    raw, detail = _decode_base64(b64)
    if detail is not None:
        problems.append(PolicyProblem("base64", detail))
    if raw is None:
        return result()

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        hint = " (it looks like UTF-16)" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else ""
        problems.append(PolicyProblem(
            "utf8", f"The policy bytes are not UTF-8{hint}: byte 0x{raw[e.start]:02x} at offset {e.start}."))
        return result(raw)

    value, duplicate_problems, json_problem = _parse_json(text)
    if json_problem is not None:
        problems.append(json_problem)
        return result(raw)
    if not isinstance(value, dict):
        problems.append(PolicyProblem("not-object", f"The policy JSON is {_json_type(value)}, not an object."))
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
                detail = f"The expiration {_short(exp)} is unusable: {why_not_iso8601(exp)}."
                problems.append(PolicyProblem("bad-expiration", detail, "expiration"))
        else:
            detail = "The expiration must be an ISO 8601 string such as 2019-08-30T09:38:12.414Z."
            problems.append(PolicyProblem("bad-expiration", detail, "expiration"))
    elif not _top_level_case(document, "expiration", problems):
        problems.append(PolicyProblem("no-expiration", "The policy has no expiration."))

    conditions: tuple[Condition, ...] = ()
    if "conditions" in document:
        conds = document["conditions"]
        if not isinstance(conds, list):
            problems.append(PolicyProblem("no-conditions", "The conditions must be an array.", "conditions"))
        elif not conds:
            problems.append(PolicyProblem("no-conditions", "The conditions array is empty.", "conditions"))
        else:
            conditions = tuple([_parse_condition(i, c) for i, c in enumerate(conds)])
    elif not _top_level_case(document, "conditions", problems):
        problems.append(PolicyProblem("no-conditions", "The policy has no conditions."))

    return result(raw, document, expiration, expiration_unix, conditions)


# --- evaluation -----------------------------------------------------------------------------------


@dataclass(slots=True)
class ConditionResult:
    condition: Condition
    ok: bool
    field: str  # lower-cased field name; "content-length-range" for the range, "" for an invalid condition
    expected: str | None  # the condition value, or "min..max" for the range
    actual: str | int | None  # the value sent (None when absent); the file size for the range
    why: str  # one short sentence




def _short(value: str, limit: int = 60) -> str:
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    return repr(value)


def _matches(op: str, actual: str, expected: str) -> bool:
    return actual == expected if op == "eq" else actual.startswith(expected)


def _near_miss(op: str, field: str, expected: str, actual: str) -> str:
    """Name the likely reason a value fails its condition (one short sentence)."""
    if "${filename}" in expected:
        return "the policy value still contains '${filename}', which COS never substitutes in conditions"
    if op == "starts-with" and "*" in expected:
        return f"{_short(actual)} does not start with {_short(expected)} ('*' is not a wildcard in COS)"
    if _matches(op, actual.lower(), expected.lower()):
        return "differs only in case"
    if _matches(op, actual.strip(), expected.strip()):
        return "leading/trailing whitespace"
    if op == "eq" and actual.rstrip("/") == expected.rstrip("/"):
        return "trailing slash"
    if op == "starts-with" and expected == actual + "/":
        return "trailing slash"
    if actual.startswith("/") and _matches(op, actual.lstrip("/"), expected):
        return "leading slash"
    for decode in (unquote, unquote_plus):
        if decode(actual) != actual and _matches(op, decode(actual), expected):
            return "value is URL-encoded"
        if decode(expected) != expected and _matches(op, actual, decode(expected)):
            return "the policy value is URL-encoded"
    if op == "eq" and expected and actual.startswith(expected):
        return f"{_short(actual)} is not exactly {_short(expected)} (eq needs the whole value; starts-with would match)"
    if op == "eq":
        return f"{_short(actual)} is not {_short(expected)}"
    return f"{_short(actual)} does not start with {_short(expected)}"


def _evaluate_one(cond: Condition, fields: Mapping[str, str], bucket: str | None,
                  file_size: int | None) -> ConditionResult:
    if cond.op == "invalid":
        return ConditionResult(cond, False, "", None, None, cond.problem or "invalid condition")

    if cond.op == "content-length-range":
        lo, hi = cond.range or (0, 0)
        expected = f"{lo}..{hi}"
        if file_size is None:
            return ConditionResult(cond, True, "content-length-range", expected, None, "file size unknown")
        if lo > hi:
            why, ok = f"no size fits: the minimum {lo} is above the maximum {hi}", False
        elif file_size > hi:
            why, ok = f"the file is {file_size} bytes, above the maximum {hi}", False
        elif file_size < lo:
            why, ok = f"the file is {file_size} bytes, below the minimum {lo}", False
        else:
            why, ok = f"the file is {file_size} bytes, within {expected}", True
        return ConditionResult(cond, ok, "content-length-range", expected, file_size, why)

    written = cond.field or ""
    name = written.lower()
    expected = cond.value or ""
    notes: list[str] = []
    if name == "bucket":
        actual: str | None = bucket
        if actual is None:
            return ConditionResult(cond, True, name, expected, None, "the request's bucket is unknown, not checked")
    elif name == "q-sign-time":
        actual = fields.get("q-key-time")
        if "q-sign-time" in fields:
            notes.append("compared with q-key-time; the q-sign-time form field is not used")
    else:
        actual = fields.get(name)
    if not cond.dollar:
        notes.append("the field is written without '$'")

    if actual is None:
        if name == "q-sign-time":
            why = "q-key-time absent from the form (COS compares q-sign-time with it)"
        elif written.startswith("$"):
            why = "field absent from the form ('$' belongs only in array conditions)"
        else:
            why = "field absent from the form"
        ok = False
    elif _matches(cond.op, actual, expected):
        ok = True
        if cond.op == "eq":
            why = "equal"
        elif expected:
            why = f"starts with {_short(expected)}"
        else:
            why = "an empty prefix matches any value"
    else:
        ok = False
        why = _near_miss(cond.op, name, expected, actual)
    if notes:
        why = f"{why} ({'; '.join(notes)})"
    return ConditionResult(cond, ok, name, expected, actual, why)


def evaluate_conditions(policy: Policy, fields: Mapping[str, str], *, bucket: str | None,
                        file_size: int | None) -> tuple[ConditionResult, ...]:
    """Check every condition against the form, in condition order.

    ``fields`` maps lower-cased field names to values (``${filename}`` already substituted).
    Names match case-insensitively, values case-sensitively; ``bucket`` is the Host's bucket-appid.
    """
    return tuple([_evaluate_one(c, fields, bucket, file_size) for c in policy.conditions])
