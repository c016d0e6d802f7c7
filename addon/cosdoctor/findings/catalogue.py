"""The diagnosis catalogue: every finding's severity, COS answer and texts, kept as data.

Check code emits an ID plus evidence and never holds message text (HTTPolice-style); the words live
in catalogue.json next to this module, so a diagnosis is defined and translated in one place. The
file is validated at import: a broken catalogue must fail loudly at start-up, not while a user's
upload is being explained.
"""
from __future__ import annotations

import json
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType

LANGS = ("en", "ko", "zh")
# The one severity order: most important first. Everything that sorts or counts by severity uses it.
SEVERITIES = ("error", "warning", "info")
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}
PHASES = ("preflight", "response")

_PATH = Path(__file__).with_name("catalogue.json")
_TEXT_FIELDS = ("title", "cause", "fix")
_ENTRY_KEYS = frozenset({"severity", "code", "status", "message", "certain", "doc", "evidence", "text"})
_OPTIONAL_ENTRY_KEYS = frozenset({"defaults"})
# The IDs COS's own POST troubleshooting page names: users and scripts rely on them.
_SEED_IDS = ("AccessDenied_q-ak", "AccessDenied_Expiration", "SignatureDoesNotMatch_POSTSignature",
             "InvalidPolicyDocument_JSONFormat", "AccessDenied_BucketNotConsistent",
             "AccessDenied_Condition", "MalformedPOSTRequest_POSTBody")
_MISTAKE_WORDS = ("sha1-of-base64-policy", "policy-bytes-differ", "key-time-mismatch", "hmac-args-swapped",
                  "binary-sign-key", "uppercase-hex", "wrong-secret-key", "malformed")
_REASON_WORDS = ("not-multipart", "missing-boundary", "boundary-mismatch", "bare-lf",
                 "missing-content-disposition", "missing-name", "unterminated-part-headers", "truncated",
                 "file-not-last", "no-file-part", "too-many-parts")
_UNKNOWN_TEMPLATE = "Unknown_Code"
_UNKNOWN_PREFIX = "Unknown_"
_CODE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
# Placeholders the builder derives from an evidence key (derived name -> the key it needs).
_DERIVED = {"actual_text": "actual", "mistake_text": "mistake", "reason_text": "reason"}


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    severity: str
    code: str | None
    status: int | None
    message: str | None    # COS's exact <Message> template, None when undocumented
    certain: bool          # COS's answer is documented: only these may be answered locally (block mode)
    doc: str
    text: Mapping[str, Mapping[str, str]]


# --- loading and validation ------------------------------------------------------------------

def _load_text(text: str) -> tuple[dict | None, list[str]]:
    """Parse catalogue JSON, reporting duplicate keys (json.loads silently keeps the last one)."""
    duplicates: list[str] = []

    def pairs_hook(pairs: list[tuple[str, object]]) -> dict:
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                duplicates.append(key)
            seen.add(key)
        return dict(pairs)

    try:
        doc = json.loads(text, object_pairs_hook=pairs_hook)
    except ValueError as exc:
        return None, [f"not valid JSON: {exc}"]
    return doc, [f"duplicate key {key!r} in the JSON" for key in duplicates]


def _placeholders(template: str) -> tuple[list[str], list[str]]:
    """(names, problems) of a str.format template; only plain names are allowed."""
    names: list[str] = []
    problems: list[str] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        return names, [f"bad braces ({exc})"]
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier():
            problems.append(f"placeholder {{{name}}} is not a plain name")
        elif spec or conversion:
            problems.append(f"placeholder {{{name}}} has a format spec or conversion")
        else:
            names.append(name)
    return names, problems


def _is_lang_table(value: object) -> bool:
    return (isinstance(value, dict) and set(value) == set(LANGS)
            and all(isinstance(v, str) and v.strip() for v in value.values()))


def _validate_entry(eid: str, raw: object) -> list[str]:
    if not isinstance(raw, dict):
        return [f"{eid}: not an object"]
    problems: list[str] = []
    missing = _ENTRY_KEYS - set(raw)
    extra = set(raw) - _ENTRY_KEYS - _OPTIONAL_ENTRY_KEYS
    if missing:
        problems.append(f"{eid}: missing {sorted(missing)}")
    if extra:
        problems.append(f"{eid}: unknown keys {sorted(extra)}")
    severity, code, status = raw.get("severity"), raw.get("code"), raw.get("status")
    message, certain = raw.get("message"), raw.get("certain")
    if severity not in SEVERITIES:
        problems.append(f"{eid}: bad severity {severity!r}")
    if code is not None and not isinstance(code, str):
        problems.append(f"{eid}: code must be a string or null")
    if status is not None and (not isinstance(status, int) or isinstance(status, bool)
                               or not 300 <= status <= 599):
        problems.append(f"{eid}: status must be an HTTP error status or null")
    if message is not None and not isinstance(message, str):
        problems.append(f"{eid}: message must be a string or null")
    if not isinstance(certain, bool):
        problems.append(f"{eid}: certain must be true or false")
    if not isinstance(raw.get("doc"), str) or not raw["doc"].startswith("https://"):
        problems.append(f"{eid}: doc must be an https URL")

    if eid.startswith("Warning_") or eid.startswith("Info_"):
        wanted = "warning" if eid.startswith("Warning_") else "info"
        if severity != wanted:
            problems.append(f"{eid}: severity must be {wanted!r}")
        if code is not None or status is not None or certain:
            problems.append(f"{eid}: warnings and info have no code/status and are never certain")
    elif eid == _UNKNOWN_TEMPLATE:
        if severity != "error" or certain:
            problems.append(f"{eid}: the Unknown template is an uncertain error")
    else:
        if severity != "error":
            problems.append(f"{eid}: an ID of the form <Code>_<reason> is an error")
        if not code or status is None:
            problems.append(f"{eid}: an error needs a code and a status")
        elif not eid.startswith(code + "_") or eid == code + "_":
            problems.append(f"{eid}: the ID must be {code}_<reason>")
    if certain and (message is None or code is None or status is None):
        problems.append(f"{eid}: certain needs a documented code, status and message")

    evidence = raw.get("evidence")
    if not isinstance(evidence, list) or not all(isinstance(k, str) for k in evidence):
        problems.append(f"{eid}: evidence must be a list of key names")
        evidence = []
    elif len(set(evidence)) != len(evidence):
        problems.append(f"{eid}: evidence lists a key twice")
    defaults = raw.get("defaults", {})
    if not isinstance(defaults, dict) or not all(isinstance(v, str) for v in defaults.values()):
        problems.append(f"{eid}: defaults must map keys to strings")
        defaults = {}
    for key in defaults:
        if key not in evidence:
            problems.append(f"{eid}: default for {key!r}, which is not in evidence")
    allowed = set(evidence) | {name for name, source in _DERIVED.items() if source in evidence}
    message_allowed = set(evidence) | ({"actual_text"} if "actual" in evidence else set())

    if isinstance(message, str):
        names, bad = _placeholders(message)
        problems.extend(f"{eid}.message: {p}" for p in bad)
        problems.extend(f"{eid}.message: placeholder {{{n}}} not in evidence"
                        for n in names if n not in message_allowed)
    text = raw.get("text")
    if not isinstance(text, dict):
        return problems + [f"{eid}: text must be an object"]
    if set(text) != set(LANGS):
        problems.append(f"{eid}: text languages {sorted(text)} != {list(LANGS)}")
    for lang in LANGS:
        fields = text.get(lang)
        if not isinstance(fields, dict):
            continue
        if set(fields) != set(_TEXT_FIELDS):
            problems.append(f"{eid}.{lang}: fields {sorted(fields)} != {list(_TEXT_FIELDS)}")
        for name in _TEXT_FIELDS:
            template = fields.get(name)
            if not isinstance(template, str) or not template.strip():
                problems.append(f"{eid}.{lang}.{name}: empty or not a string")
                continue
            names, bad = _placeholders(template)
            problems.extend(f"{eid}.{lang}.{name}: {p}" for p in bad)
            problems.extend(f"{eid}.{lang}.{name}: placeholder {{{n}}} not in evidence"
                            for n in names if n not in allowed)
    return problems


def _validate_doc(doc: object) -> list[str]:
    """Everything wrong with a parsed catalogue document (empty when it is usable)."""
    if not isinstance(doc, dict):
        return ["the catalogue is not a JSON object"]
    problems: list[str] = []
    entries = doc.get("entries")
    if not isinstance(entries, dict) or not entries:
        return problems + ["no 'entries' object"]
    for eid, raw in entries.items():
        problems.extend(_validate_entry(eid, raw))
    for eid in _SEED_IDS:
        if eid not in entries:
            problems.append(f"seed ID {eid} is missing")
    if _UNKNOWN_TEMPLATE not in entries:
        problems.append(f"the {_UNKNOWN_TEMPLATE} template is missing")
    for table, words in (("mistakes", _MISTAKE_WORDS), ("reasons", _REASON_WORDS)):
        rows = doc.get(table)
        if not isinstance(rows, dict):
            problems.append(f"no '{table}' table")
            continue
        for word in words:
            if word not in rows:
                problems.append(f"{table}: {word!r} is missing")
        for word, row in rows.items():
            if not _is_lang_table(row):
                problems.append(f"{table}.{word}: needs non-empty {list(LANGS)} sentences")
    fallback = doc.get("fallback")
    for name in ("mistake", "reason"):
        if not isinstance(fallback, dict) or not _is_lang_table(fallback.get(name)):
            problems.append(f"fallback.{name}: needs non-empty {list(LANGS)} sentences")
    return problems


def _read() -> tuple[dict | None, list[str]]:
    try:
        text = _PATH.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [f"cannot read {_PATH.name}: {exc}"]
    return _load_text(text)


_RAW, _LOAD_PROBLEMS = _read()


def validate() -> list[str]:
    """Problems of the catalogue file (duplicates, gaps, bad placeholders ...); empty when sound."""
    return list(_LOAD_PROBLEMS) + (_validate_doc(_RAW) if _RAW is not None else [])


_problems = validate()
if _problems:
    raise RuntimeError(f"{_PATH.name} is invalid: " + "; ".join(_problems))
del _problems

assert _RAW is not None


def _frozen_text(text: dict) -> Mapping[str, Mapping[str, str]]:
    return MappingProxyType({lang: MappingProxyType(dict(text[lang])) for lang in LANGS})


_ENTRIES: dict[str, Entry] = {
    eid: Entry(id=eid, severity=raw["severity"], code=raw["code"], status=raw["status"],
               message=raw["message"], certain=raw["certain"], doc=raw["doc"],
               text=_frozen_text(raw["text"]))
    for eid, raw in _RAW["entries"].items()
}
_DEFAULTS: dict[str, dict[str, str]] = {eid: dict(raw.get("defaults", {}))
                                        for eid, raw in _RAW["entries"].items()}
_MISTAKES: dict[str, dict[str, str]] = _RAW["mistakes"]
_REASONS: dict[str, dict[str, str]] = _RAW["reasons"]
_FALLBACK: dict[str, dict[str, str]] = _RAW["fallback"]


# --- lookups ---------------------------------------------------------------------------------

def _check_lang(lang: str) -> None:
    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r}; expected one of {', '.join(LANGS)}")


def entry(finding_id: str) -> Entry:
    """The catalogue entry; `Unknown_<Code>` resolves to the Unknown template. KeyError otherwise."""
    found = _ENTRIES.get(finding_id)
    if found is not None:
        return found
    if isinstance(finding_id, str) and finding_id.startswith(_UNKNOWN_PREFIX):
        code = finding_id[len(_UNKNOWN_PREFIX):]
        if _CODE_RE.fullmatch(code):
            return replace(_ENTRIES[_UNKNOWN_TEMPLATE], id=finding_id, code=code)
    raise KeyError(finding_id)


def all_ids() -> tuple[str, ...]:
    """Every catalogued ID in file order (the Unknown_Code template included)."""
    return tuple(_ENTRIES)


def mistake_text(word: str, lang: str = "en") -> str:
    """The sentence explaining a signature `mistake` word. KeyError for an unknown word."""
    _check_lang(lang)
    return _MISTAKES[word][lang]


def reason_text(word: str, lang: str = "en") -> str:
    """The sentence explaining a multipart `reason` word. KeyError for an unknown word."""
    _check_lang(lang)
    return _REASONS[word][lang]


def fallback_text(table: str, lang: str = "en") -> str:
    """The sentence for a `mistake` or `reason` nobody named ("mistake" or "reason")."""
    _check_lang(lang)
    return _FALLBACK[table][lang]


# --- plain findings ----------------------------------------------------------------------------

_SCALARS = (bool, int, float, str)


def plain_value(value: object, depth: int = 0) -> object:
    """A JSON-ready copy: evidence may hold tuples, bytes or sets; the report needs plain JSON."""
    if value is None or isinstance(value, _SCALARS):
        return value
    if depth > 20:
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "backslashreplace")
    if isinstance(value, Mapping):
        return {str(k): plain_value(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [plain_value(v, depth + 1) for v in value]
        if isinstance(value, (set, frozenset)):
            items.sort(key=repr)
        return items
    return str(value)


def _plain_evidence(evidence: Mapping[str, object]) -> dict:
    """plain_value(dict(evidence)), without a call for the scalar values most evidence holds."""
    return {str(k): v if v is None or isinstance(v, _SCALARS) else plain_value(v, 1)
            for k, v in evidence.items()}


def finding(finding_id: str, phase: str, evidence: Mapping[str, object] | None = None) -> dict:
    """A plain finding: `{"id", "severity", "phase", "evidence"}`, with no words in it.

    Why a dict and not a class: the render stage turns findings into the contract's dicts (the same
    keys plus title, cause, fix and doc), and it must do the same for findings read back from a
    report file or a saved flow, which are dicts. One shape in, one shape out, JSON-ready at every
    step, and the evidence stays a mutable dict that later stages (origins, CORS) add facts to.
    """
    if phase not in PHASES:
        raise ValueError(f"unknown phase {phase!r}; expected one of {', '.join(PHASES)}")
    found = _ENTRIES.get(finding_id) or entry(finding_id)
    plain = _plain_evidence(evidence) if evidence else {}
    if found.id.startswith(_UNKNOWN_PREFIX) and found.code is not None:
        plain.setdefault("code", found.code)
    return {"id": found.id, "severity": found.severity, "phase": phase, "evidence": plain}


def severity_rank(severity: object) -> int:
    """0 for error, 1 warning, 2 info, 3 for anything else (a record edited by hand)."""
    return SEVERITY_RANK.get(severity, len(SEVERITIES))  # type: ignore[arg-type]


def texts(finding_id: str, lang: str) -> Mapping[str, str]:
    """The title, cause and fix templates of a finding ID in `lang` (Unknown_<Code>: the template's).
    KeyError for an ID the catalogue does not know, ValueError for an unknown language."""
    _check_lang(lang)
    found = _ENTRIES.get(finding_id)
    if found is None:
        entry(finding_id)                         # KeyError unless Unknown_<Code>
        found = _ENTRIES[_UNKNOWN_TEMPLATE]
    return found.text[lang]


def defaults(finding_id: str) -> Mapping[str, str]:
    """Values for optional evidence keys that are missing or null."""
    return _DEFAULTS.get(finding_id if finding_id in _ENTRIES else _UNKNOWN_TEMPLATE, {})


def template_names(template: str) -> tuple[str, ...]:
    """The placeholder names a (validated) template uses."""
    return tuple(_placeholders(template)[0])


def cos_message(finding_id: str, evidence: Mapping[str, object]) -> str | None:
    """The <Message> COS itself would send, filled from the evidence; None when undocumented.

    Absent values render as the empty string: COS prints nothing for them (the
    content-length-range message ends in "the value ").
    """
    found = entry(finding_id)
    if found.message is None:
        return None
    values: dict[str, str] = _Blank()
    for key, value in (evidence or {}).items():
        values[str(key)] = _message_value(value)
    actual = (evidence or {}).get("actual")
    values["actual_text"] = "" if actual is None else _message_value(actual)
    try:
        return found.message.format_map(values)
    except (ValueError, IndexError, KeyError, AttributeError, TypeError):
        return found.message


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""


_MAX_MESSAGE_VALUE = 1000


def _message_value(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        shown = "true" if value else "false"
    elif isinstance(value, (list, tuple, set, frozenset)):
        shown = ", ".join(_message_value(v) for v in plain_value(value))  # type: ignore[union-attr]
    elif isinstance(value, Mapping):
        shown = json.dumps(plain_value(value), ensure_ascii=False)
    else:
        shown = value if isinstance(value, str) else str(plain_value(value))
    return shown if len(shown) <= _MAX_MESSAGE_VALUE else shown[:_MAX_MESSAGE_VALUE - 1] + "…"
