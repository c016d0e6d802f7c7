"""POST policies: the invariants of decode_policy and evaluate_conditions (against an oracle written
apart from policy.py), JSON trees written with random spacing and escapes, and the generator."""
from __future__ import annotations

import base64
import json
import random
from urllib.parse import quote

from cosdoctor.cos.policy import (Condition, ConditionResult, Policy, PolicyProblem, decode_policy,
                                  evaluate_conditions)
from cosdoctor.cos.times import format_iso8601
from devkit.fuzzing.common import (BUCKET, CONDITION_OPS, POLICY_KINDS, SECRET_ID, clip, need,
                                   rand_text)
from devkit.fuzzing.multipart import FIELD_NAMES

def check_policy(b64: str, fields: dict | None = None, bucket: str | None = None,
                 file_size: int | None = None, *, expect_raw: bytes | None = None,
                 expect_doc: object = None, expect_ok: bool = False) -> Policy:
    policy = decode_policy(b64)
    need(type(policy) is Policy, "policy.type", type(policy))
    need(policy.b64 == (b64 if isinstance(b64, str) else str(b64)), "policy.b64")
    need(isinstance(policy.raw, bytes), "policy.raw-type")
    need(policy.document is None or isinstance(policy.document, dict), "policy.document-type")
    need(isinstance(policy.problems, tuple), "policy.problems-type")
    for problem in policy.problems:
        need(type(problem) is PolicyProblem and problem.kind in POLICY_KINDS, "policy.problem-kind", problem)
        need(isinstance(problem.detail, str) and problem.detail, "policy.problem-detail")
        need(problem.where is None or isinstance(problem.where, str), "policy.problem-where")
    need(policy.expiration is None or isinstance(policy.expiration, str), "policy.expiration-type")
    need(policy.expiration_unix is None or type(policy.expiration_unix) is int, "policy.expiration-unix")
    need(policy.fatal is None or type(policy.fatal) is PolicyProblem, "policy.fatal")
    need(policy.document is not None or not policy.conditions, "policy.conditions-without-document")
    for i, cond in enumerate(policy.conditions):
        need(type(cond) is Condition and cond.index == i and cond.op in CONDITION_OPS, "policy.condition", cond)
        need(isinstance(cond.text, str) and isinstance(cond.dollar, bool), "policy.condition-text")
        if cond.op in ("eq", "starts-with"):
            need(isinstance(cond.field, str) and isinstance(cond.value, str)
                 and cond.range is None and cond.problem is None, "policy.condition-eq", cond)
        elif cond.op == "content-length-range":
            need(isinstance(cond.range, tuple) and len(cond.range) == 2
                 and all(type(x) is int and x >= 0 for x in cond.range), "policy.condition-range", cond)
        else:
            need(isinstance(cond.problem, str) and cond.problem, "policy.condition-invalid", cond)
    if expect_raw is not None:
        need(policy.raw == expect_raw, "policy.raw", (policy.raw[:80], expect_raw[:80]))
    if expect_ok:
        need(policy.fatal is None, "policy.valid-rejected", policy.fatal)
    if expect_doc is not None:
        need(policy.document == expect_doc, "policy.document", clip(policy.document))
    fields = {} if fields is None else fields
    results = evaluate_conditions(policy, fields, bucket=bucket, file_size=file_size)
    need(isinstance(results, tuple) and len(results) == len(policy.conditions), "policy.results-length")
    for cond, result in zip(policy.conditions, results):
        need(type(result) is ConditionResult and result.condition is cond, "policy.result-type")
        need(isinstance(result.ok, bool) and isinstance(result.field, str), "policy.result-fields")
        need(isinstance(result.why, str) and result.why, "policy.result-why")
        need(result.expected is None or isinstance(result.expected, str), "policy.result-expected")
        need(result.actual is None or isinstance(result.actual, (str, int)), "policy.result-actual")
        need(result.ok == _oracle(cond, fields, bucket, file_size), "policy.result-ok",
             (cond.text[:80], result.ok, result.why))
    return policy


def _oracle(cond: Condition, fields: dict, bucket: str | None, file_size: int | None) -> bool:
    """What COS decides for one condition, written out independently of policy.py."""
    if cond.op == "invalid":
        return False
    if cond.op == "content-length-range":
        lo, hi = cond.range or (0, 0)
        return True if file_size is None else lo <= file_size <= hi
    name = (cond.field or "").lower()
    if name == "bucket":
        if bucket is None:
            return True
        actual: str | None = bucket
    elif name == "q-sign-time":
        actual = fields.get("q-key-time")
    else:
        actual = fields.get(name)
    if actual is None:
        return False
    return actual == cond.value if cond.op == "eq" else actual.startswith(cond.value or "")


# --- JSON trees as written (duplicate keys kept), and the generator ------------------------------

class Obj(list):
    """A JSON object as written: (key, value) pairs, duplicates allowed; the last one wins."""


def plain(value: object) -> object:
    """The Python value json.loads gives for a generated tree."""
    if isinstance(value, Obj):
        return {_joined(k): plain(v) for k, v in value}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return _joined(value) if isinstance(value, str) else value


def _joined(text: str) -> str:
    """A high and a low surrogate written as two escapes come back as one character."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def write_json(r: random.Random, value: object) -> str:
    """Serialise a tree with random (valid) spacing and escapes; lone surrogates become escapes."""
    def ws() -> str:
        return r.choice(("", "", "", " ", "\n", "\t", "\r\n  "))

    def string_(s: str) -> str:
        out = []
        for ch in s:
            code = ord(ch)
            if ch in '"\\' or code < 0x20 or 0xD800 <= code <= 0xDFFF or (code > 0x7F and r.random() < 0.2):
                if code > 0xFFFF:
                    code -= 0x10000
                    out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04X}")
                else:
                    out.append({'"': '\\"', "\\": "\\\\", "\n": "\\n"}.get(ch, f"\\u{code:04x}"))
            elif ch == "/" and r.random() < 0.3:
                out.append("\\/")
            else:
                out.append(ch)
        return '"' + "".join(out) + '"'

    def emit(v: object) -> str:
        if isinstance(v, Obj):
            return "{" + ",".join(ws() + string_(k) + ws() + ":" + ws() + emit(x) + ws() for k, x in v) + "}"
        if isinstance(v, list):
            return "[" + ",".join(ws() + emit(x) + ws() for x in v) + "]"
        if isinstance(v, str):
            return string_(v)
        if v is True:
            return "true"
        if v is False:
            return "false"
        if v is None:
            return "null"
        if isinstance(v, float):
            return repr(v)
        return str(v)

    return ws() + emit(value) + ws()


def rand_json(r: random.Random, depth: int = 0) -> object:
    roll = r.random()
    if depth > 4 or roll < 0.45:
        return r.choice((
            lambda: rand_text(r, 12), lambda: r.randint(-10, 10), lambda: r.randint(-(1 << 70), 1 << 70),
            lambda: r.random() * 10 ** r.randint(-5, 30), lambda: None, lambda: True, lambda: False,
        ))()
    if roll < 0.7:
        return [rand_json(r, depth + 1) for _ in range(r.randint(0, 4))]
    return Obj((rand_text(r, 8), rand_json(r, depth + 1)) for _ in range(r.randint(0, 4)))


def rand_condition(r: random.Random) -> object:
    field_name = r.choice(("key", "bucket", "q-ak", "q-sign-algorithm", "q-sign-time", "acl", "Content-Type",
                           "success_action_status", "x-cos-meta-a", "x-cos-security-token", "KEY", ""))
    value = r.choice(("", "uploads/", "uploads/${filename}", SECRET_ID, BUCKET, "sha1", "a*",
                      rand_text(r, 12)))
    roll = r.random()
    if roll < 0.3:
        return Obj([(field_name, value)])
    if roll < 0.6:
        op = r.choice(("eq", "starts-with", "EQ", "Starts-With", "in", ""))
        name = r.choice(("$", "$", "")) + field_name
        return [op, name, value]
    if roll < 0.8:
        low = r.choice((0, 1, 10, 1024, -1, 2 ** 63, True))
        high = r.choice((0, 1, 1024, 1 << 20, 5 * 1024 ** 3, "10", 1.5))
        return r.choice((["content-length-range", low, high], ["content-length-range", low],
                         ["Content-Length-Range", 1, 2, 3]))
    return rand_json(r, 2)


def rand_policy_tree(r: random.Random) -> tuple[object, bool]:
    """(tree, well-formed policy?)."""
    if r.random() < 0.15:
        return rand_json(r), False
    now = r.randint(0, 4_000_000_000)
    expiration = r.choice((format_iso8601(now), format_iso8601(now)[:-1] + ".414Z",
                           format_iso8601(now)[:-1] + "+08:00"))
    good = True
    if r.random() < 0.2:
        expiration = r.choice(("", "2019-08-30 09:38:12", "2019-13-45T99:99:99Z", "tomorrow", 12345, None,
                               "9999-12-31T23:59:59Z", "0000-01-01T00:00:00Z", rand_text(r, 20)))
        good = False
    conditions = [rand_condition(r) for _ in range(r.choice((0, 1, 3, 5, 8, 20)))]
    good = good and bool(conditions)
    pairs = [("expiration", expiration), ("conditions", conditions)]
    if r.random() < 0.1:
        pairs[r.randrange(2)] = (r.choice(("Expiration", "CONDITIONS", "exp")), pairs[0][1])
        good = False
    if r.random() < 0.1:
        pairs.pop(r.randrange(2))
        good = False
    if r.random() < 0.1:
        pairs.append((r.choice(("expiration", "conditions", "x")), rand_json(r, 3)))
        good = False
    r.shuffle(pairs)
    return Obj(pairs), good


def rand_policy_text(r: random.Random) -> tuple[str, object, bool]:
    """(JSON text, expected document or None, well-formed policy?)."""
    roll = r.random()
    if roll < 0.04:
        depth = r.choice((10, 100, 1000, 5000, 20_000)) if r.random() < 0.995 else r.choice((100_000, 1_000_000))
        opener = r.choice(("[", '{"a":', '[{"b":'))
        closer = {"[": "]", '{"a":': "}", '[{"b":': "}]"}[opener]
        return opener * depth + "1" + closer * depth, None, False
    if roll < 0.07:
        return r.choice(('{"expiration":"2030-01-01T00:00:00Z","conditions":[["content-length-range",0,1'
                         + "0" * r.choice((10, 4300, 5000)) + "]]}",
                         '{"conditions":[NaN,Infinity,-Infinity]}', '{"a":1e400}', "'single'", "[1,]",
                         '{"a":1,}', "// c\n{}", "\ufeff{}", '{"a":"\\ud800"}', '{"a":"\\uZZZZ"}', "",
                         "null", "1", '"s"', "[]")), None, False
    tree, good = rand_policy_tree(r)
    text = write_json(r, tree)
    if r.random() < 0.1:
        at = r.randrange(len(text) + 1)
        text = text[:at] + r.choice((",", "]", "}", '"', "\\", "NaN", "\x00", "/*", "")) + text[at + 1:]
        return text, None, False
    doc = plain(tree)
    dups = isinstance(tree, Obj) and has_duplicates(tree)
    return text, doc, good and not dups


def has_duplicates(value: object) -> bool:
    if isinstance(value, Obj):
        keys = [k for k, _ in value]
        return len(set(keys)) != len(keys) or any(has_duplicates(v) for _, v in value)
    if isinstance(value, list):
        return any(has_duplicates(v) for v in value)
    return False


def encode_policy(r: random.Random, raw: bytes) -> tuple[str, bool]:
    """(base64 text, decodes back to exactly `raw`?)."""
    b64 = base64.b64encode(raw).decode()
    roll = r.random()
    if roll < 0.6:
        return b64, True
    if roll < 0.67:
        return base64.urlsafe_b64encode(raw).decode(), True
    if roll < 0.72:
        return b64.rstrip("="), True
    if roll < 0.76:
        return "\n".join(b64[i:i + 76] for i in range(0, len(b64), 76)) + "\r\n", True
    if roll < 0.8:
        return " " + b64 + "\t", True
    if roll < 0.84:
        return b64 + "==", True
    at = r.randrange(len(b64) + 1)
    return b64[:at] + r.choice(("é", "*", "=", "-", "_", "A", "%", "\x00", "文", "\udcff")) + b64[at:], False


def gen_policy(r: random.Random) -> dict:
    roll = r.random()
    expect_raw = expect_doc = None
    expect_ok = False
    if roll < 0.05:
        b64 = base64.b64encode(r.randbytes(r.randrange(200))).decode()
    elif roll < 0.08:
        b64 = rand_text(r, 60)
    else:
        text, doc, good = rand_policy_text(r)
        codec = "utf-8" if r.random() < 0.95 else r.choice(("utf-16", "utf-8-sig", "latin-1"))
        raw = text.encode(codec, "surrogatepass" if codec.startswith("utf") else "replace")
        b64, exact = encode_policy(r, raw)
        if exact:
            expect_raw = raw
            if codec == "utf-8" and doc is not None:
                expect_doc = doc if isinstance(doc, dict) else None
                expect_ok = good and b64 == base64.b64encode(raw).decode()
    fields = _fields_for(r, b64)
    return {"b64": b64, "fields": fields, "bucket": r.choice((None, BUCKET, "other-1250000000")),
            "file_size": r.choice((None, 0, 1, 1023, 1024, 1 << 20, 5 * 1024 ** 3 + 1)),
            "expect_raw": expect_raw, "expect_doc": expect_doc, "expect_ok": expect_ok}


def _fields_for(r: random.Random, b64: str) -> dict:
    """Form values that often satisfy the conditions, and often miss them by a little."""
    fields: dict[str, str] = {}
    try:
        document = json.loads(base64.b64decode(b64 + "==="))
        conditions = document.get("conditions", []) if isinstance(document, dict) else []
    except Exception:  # noqa: BLE001 - any garbage just means "no hints"
        conditions = []
    for cond in conditions if isinstance(conditions, list) else []:
        pair = None
        if isinstance(cond, dict) and len(cond) == 1:
            pair = next(iter(cond.items()))
        elif isinstance(cond, list) and len(cond) == 3 and isinstance(cond[1], str):
            pair = (cond[1].lstrip("$"), cond[2])
        if pair is None or not isinstance(pair[1], str):
            continue
        name, value = pair[0].lower(), pair[1]
        value = r.choice((value, value, value + "x", value.upper(), " " + value, value + "/", quote(value.encode("utf-8", "surrogatepass")), ""))
        if r.random() < 0.85:
            fields[name] = value
    for _ in range(r.choice((0, 1, 2))):
        fields[r.choice(FIELD_NAMES).lower()] = rand_text(r, 10)
    return fields
