"""The diagnosis catalogue: every finding's severity, COS answer and texts, kept as data.

Check code emits an ID plus evidence and never holds message text (HTTPolice-style); the words live
in catalogue.json next to this module (finding texts and the sentences for the words checks use:
mistakes, malformations, policy problems, condition verdicts, hints) and in labels.json (the words
of each surface: comment, content view, HTML report, durations). So a diagnosis is defined and
translated in one place, and this stage needs no language. Both files are validated at import: a
broken catalogue must fail loudly at start-up, not while a user's upload is being explained.

Templates are `str.format` texts with plain `{name}` placeholders, plus choices: `[[A||B||C]]`
is the first option whose placeholders all have a value, or nothing when none has (the last option
may be empty: `[[ StringToSign: {string_to_sign}]]`). Every placeholder of a finding text sits
inside a choice, so a finding renders without any evidence and never shows a placeholder (a saved
flow without its body, a record from another version). Derived placeholders (`DERIVED`) are
computed from one evidence key at render time (`condition_number` from `index`, `expired_for` from
`expired_for_s`, `reason_text` from `reason` ...); `<key>_quoted` is a value quoted and cut,
`<key>_yes` / `<key>_no` render nothing but are present only when the key is true / false.
"""
from __future__ import annotations

import json
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType

from cosdoctor.cos.policy import BASE64_REPAIRS, CONDITION_NOTES, CONDITION_WORDS, PROBLEM_DETAILS
from cosdoctor.cos.times import ISO8601_PROBLEMS
from cosdoctor.wire.multipart import DETAILS as MALFORMATION_DETAILS, REASONS as MULTIPART_REASONS

LANGS = ("en", "ko", "zh")
# The one severity order: most important first. Everything that sorts or counts by severity uses it.
SEVERITIES = ("error", "warning", "info")
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}
PHASES = ("preflight", "response")

# Words the findings stage adds to those of the stages below (timezone hints, answer readings).
TIMEZONE_HINTS = ("key-time-end", "whole-hours")
FINDING_MALFORMATIONS = ("file-not-last", "parsed-cleanly", "body-not-recorded")
FINDING_CONDITION_WORDS = ("unchecked",)
MISTAKE_WORDS = ("signed-other-method", "signed-other-path", "signed-other-host", "signed-header-changed",
                 "signed-header-missing", "signed-param-changed", "expired-sign-time",
                 "sha1-of-base64-policy", "policy-bytes-differ", "key-time-mismatch", "hmac-args-swapped",
                 "binary-sign-key", "uppercase-hex", "wrong-secret-key", "malformed")
# Where an XML-API signature and the request part (request_checks.difference_facts): one sentence each.
DIFFERENCE_WORDS = ("method", "request", "path-plus-as-space", "path-encoding", "path", "host", "host-custom",
                    "header", "header-left-out", "header-missing", "header-list", "param", "key-time")
REASON_WORDS = MULTIPART_REASONS + ("file-not-last", "no-file-part")
# Word tables of catalogue.json and the words each must explain (no more, no fewer).
TABLES: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "mistakes": MISTAKE_WORDS,
    "reasons": REASON_WORDS,
    "malformations": MALFORMATION_DETAILS + FINDING_MALFORMATIONS,
    "policy_problems": PROBLEM_DETAILS,
    "expiration_problems": ISO8601_PROBLEMS,
    "base64_repairs": BASE64_REPAIRS,
    "conditions": CONDITION_WORDS + FINDING_CONDITION_WORDS,
    "condition_notes": CONDITION_NOTES,
    "timezone_hints": TIMEZONE_HINTS,
    "signature_differences": DIFFERENCE_WORDS,
})
_PLAIN_TABLES = ("mistakes", "reasons")        # sentences without placeholders
# Derived placeholders: name -> the evidence key it is computed from (render.words computes it).
# why_text is a condition's verdict as a cause adds it (without what "expects X; sends Y" says);
# verdict_text is the whole verdict (the content view's per-condition line).
DERIVED: Mapping[str, str] = MappingProxyType({
    "actual_text": "actual", "mistake_text": "mistake", "reason_text": "reason",
    "malformation_text": "detail", "problem_text": "detail", "condition_problem_text": "detail",
    "why_text": "why", "verdict_text": "why", "timezone_text": "timezone_hint", "expiration_problem_text": "expiration_problem",
    "repairs_text": "repairs", "condition_number": "index", "part_number": "part",
    "expired_for": "expired_for_s", "expires_in": "expires_in_s", "clock_skew": "clock_skew_s",
    "timezone_offset": "timezone_hours", "timezone_utc": "timezone_hours",
    "predicted_id": "preflight", "answered_id": "cos",
    "difference_text": "difference", "xml_mistake_text": "mistake", "starts_in": "starts_in_s",
    "part_shown": "part_number",                        # a multipart upload's part number, as sent
})
SUFFIXES = ("_quoted", "_yes", "_no")

_PATH = Path(__file__).with_name("catalogue.json")
_LABELS_PATH = Path(__file__).with_name("labels.json")
_TEXT_FIELDS = ("title", "cause", "fix")
_ENTRY_KEYS = frozenset({"severity", "code", "status", "message", "certain", "doc", "evidence", "text"})
# The IDs COS's own POST troubleshooting page names: users and scripts rely on them.
_SEED_IDS = ("AccessDenied_q-ak", "AccessDenied_Expiration", "SignatureDoesNotMatch_POSTSignature",
             "InvalidPolicyDocument_JSONFormat", "AccessDenied_BucketNotConsistent",
             "AccessDenied_Condition", "MalformedPOSTRequest_POSTBody")
_UNKNOWN_TEMPLATE = "Unknown_Code"
_UNKNOWN_PREFIX = "Unknown_"
_CODE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


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


@dataclass(frozen=True, slots=True)
class Option:
    text: str                      # a str.format template
    names: tuple[str, ...]         # the placeholders it needs


@dataclass(frozen=True, slots=True)
class Choice:
    options: tuple[Option, ...]
    optional: bool                 # [[...]]: the first option whose names all have values, else nothing


Template = tuple[Choice, ...]


# --- templates ---------------------------------------------------------------------------------

def _option(text: str, problems: list[str]) -> Option:
    names: list[str] = []
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        problems.append(f"bad braces ({exc})")
        return Option(text.replace("{", "{{").replace("}", "}}"), ())
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier():
            problems.append(f"placeholder {{{name}}} is not a plain name")
        elif spec or conversion:
            problems.append(f"placeholder {{{name}}} has a format spec or conversion")
        elif name not in names:
            names.append(name)
    return Option(text, tuple(names))


def parse_template(text: str) -> tuple[Template, list[str]]:
    """(template, problems): plain text and `[[A||B]]` choices; problems name bad brackets/braces."""
    problems: list[str] = []
    pieces: list[Choice] = []
    position = 0
    while True:
        start = text.find("[[", position)
        head = text[position:] if start < 0 else text[position:start]
        if "]]" in head:
            problems.append("']]' without '[['")
        if "||" in head:
            problems.append("'||' outside [[...]]")
        if head:
            pieces.append(Choice((_option(head, problems),), False))
        if start < 0:
            break
        end = text.find("]]", start + 2)
        if end < 0:
            problems.append("'[[' without ']]'")
            break
        inner = text[start + 2:end]
        if "[[" in inner:
            problems.append("nested '[['")
        pieces.append(Choice(tuple(_option(part, problems) for part in inner.split("||")), True))
        position = end + 2
    return tuple(pieces), problems


def template_names(template: Template) -> set[str]:
    return {name for choice in template for option in choice.options for name in option.names}


def _loose_names(template: Template) -> set[str]:
    """Placeholders outside any [[...]] choice (a finding text must have none)."""
    return {name for choice in template if not choice.optional for option in choice.options
            for name in option.names}


# --- loading and validation ------------------------------------------------------------------

def _load_text(text: str) -> tuple[dict | None, list[str]]:
    """Parse JSON, reporting duplicate keys (json.loads silently keeps the last one)."""
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


def _lang_templates(where: str, row: object, problems: list[str], *, plain: bool = False,
                    allowed: set[str] | None = None, in_choices: bool = False) -> None:
    """Check one {en, ko, zh} row: non-empty, parseable, the same placeholders in every language."""
    if not isinstance(row, dict) or set(row) != set(LANGS):
        problems.append(f"{where}: needs exactly the languages {list(LANGS)}")
        return
    names_by_lang = {}
    for lang in LANGS:
        text = row[lang]
        if not isinstance(text, str) or not text.strip():
            problems.append(f"{where}.{lang}: empty or not a string")
            continue
        template, bad = parse_template(text)
        problems.extend(f"{where}.{lang}: {p}" for p in bad)
        names = template_names(template)
        names_by_lang[lang] = names
        if plain and names:
            problems.append(f"{where}.{lang}: a sentence of this table takes no placeholder")
        if allowed is not None:
            problems.extend(f"{where}.{lang}: placeholder {{{n}}} not in evidence"
                            for n in sorted(names - allowed))
        if in_choices:
            problems.extend(f"{where}.{lang}: placeholder {{{n}}} outside [[...]]"
                            for n in sorted(_loose_names(template)))
    if len(names_by_lang) == len(LANGS) and len({frozenset(v) for v in names_by_lang.values()}) > 1:
        problems.append(f"{where}: the languages use different placeholders "
                        f"{ {lang: sorted(v) for lang, v in names_by_lang.items()} }")


def _allowed_names(evidence: list[str]) -> set[str]:
    allowed = set(evidence) | {name for name, source in DERIVED.items() if source in evidence}
    return allowed | {key + suffix for key in evidence for suffix in SUFFIXES}


def _validate_entry(eid: str, raw: object) -> list[str]:
    if not isinstance(raw, dict):
        return [f"{eid}: not an object"]
    problems: list[str] = []
    missing = _ENTRY_KEYS - set(raw)
    extra = set(raw) - _ENTRY_KEYS
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
    if isinstance(message, str):
        option = _option(message, bad := [])
        problems.extend(f"{eid}.message: {p}" for p in bad)
        message_allowed = set(evidence) | ({"actual_text"} if "actual" in evidence else set())
        problems.extend(f"{eid}.message: placeholder {{{n}}} not in evidence"
                        for n in option.names if n not in message_allowed)
    text = raw.get("text")
    if not isinstance(text, dict):
        return problems + [f"{eid}: text must be an object"]
    if set(text) != set(LANGS):
        problems.append(f"{eid}: text languages {sorted(text)} != {list(LANGS)}")
        return problems
    allowed = _allowed_names(evidence) - {"actual_text"}
    for lang in LANGS:
        fields = text[lang]
        if not isinstance(fields, dict) or set(fields) != set(_TEXT_FIELDS):
            problems.append(f"{eid}.{lang}: fields {sorted(fields) if isinstance(fields, dict) else fields} "
                            f"!= {list(_TEXT_FIELDS)}")
    for name in _TEXT_FIELDS:
        row = {lang: text[lang].get(name) if isinstance(text[lang], dict) else None for lang in LANGS}
        _lang_templates(f"{eid}.{name}", row, problems, allowed=allowed, in_choices=True)
    return problems


def _validate_tables(doc: dict) -> list[str]:
    problems: list[str] = []
    for table, words in TABLES.items():
        rows = doc.get(table)
        if not isinstance(rows, dict):
            problems.append(f"no '{table}' table")
            continue
        for word in words:
            if word not in rows:
                problems.append(f"{table}: {word!r} is missing")
        for word, row in rows.items():
            if word not in words:
                problems.append(f"{table}: {word!r} is not a word any check uses")
            _lang_templates(f"{table}.{word}", row, problems, plain=table in _PLAIN_TABLES)
    fallback = doc.get("fallback")
    for name in ("mistake", "reason"):
        row = fallback.get(name) if isinstance(fallback, dict) else None
        _lang_templates(f"fallback.{name}", row, problems, plain=True)
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
    return problems + _validate_tables(doc)


def _validate_labels(doc: object) -> list[str]:
    if not isinstance(doc, dict) or not isinstance(doc.get("groups"), dict):
        return ["the labels file has no 'groups' object"]
    problems: list[str] = []
    for group, rows in doc["groups"].items():
        if not isinstance(rows, dict) or not rows:
            problems.append(f"labels.{group}: not a non-empty object")
            continue
        for key, row in rows.items():
            _lang_templates(f"labels.{group}.{key}", row, problems)
    return problems


def problems_of(catalogue_text: str, labels_text: str | None = None) -> list[str]:
    """Everything wrong with a catalogue file's text (and a labels file's); empty when sound."""
    doc, problems = _load_text(catalogue_text)
    problems = list(problems) + (_validate_doc(doc) if doc is not None else [])
    if labels_text is not None:
        labels, label_problems = _load_text(labels_text)
        problems += [f"labels: {p}" for p in label_problems]
        problems += _validate_labels(labels) if labels is not None else []
    return problems


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RuntimeError(f"cannot read {path.name}: {exc}") from None


_CATALOGUE_TEXT = _read(_PATH)
_LABELS_TEXT = _read(_LABELS_PATH)


def validate() -> list[str]:
    """Problems of the catalogue and labels files (duplicates, gaps, bad placeholders ...)."""
    return problems_of(_CATALOGUE_TEXT, _LABELS_TEXT)


_problems = validate()
if _problems:
    raise RuntimeError(f"{_PATH.name} / {_LABELS_PATH.name} are invalid: " + "; ".join(_problems))
del _problems

_RAW: dict = json.loads(_CATALOGUE_TEXT)
_LABELS_RAW: dict = json.loads(_LABELS_TEXT)["groups"]


def _frozen_text(text: dict) -> Mapping[str, Mapping[str, str]]:
    return MappingProxyType({lang: MappingProxyType(dict(text[lang])) for lang in LANGS})


_ENTRIES: dict[str, Entry] = {
    eid: Entry(id=eid, severity=raw["severity"], code=raw["code"], status=raw["status"],
               message=raw["message"], certain=raw["certain"], doc=raw["doc"],
               text=_frozen_text(raw["text"]))
    for eid, raw in _RAW["entries"].items()
}
_EVIDENCE: dict[str, tuple[str, ...]] = {eid: tuple(raw["evidence"]) for eid, raw in _RAW["entries"].items()}


def _parsed(text: str) -> Template:
    return parse_template(text)[0]


_ENTRY_TEMPLATES: dict[tuple[str, str], tuple[Template, Template, Template]] = {
    (eid, lang): tuple(_parsed(entry_.text[lang][name]) for name in _TEXT_FIELDS)  # type: ignore[misc]
    for eid, entry_ in _ENTRIES.items() for lang in LANGS
}
_TABLE_TEMPLATES: dict[tuple[str, str, str], Template] = {
    (table, word, lang): _parsed(row[lang])
    for table in TABLES for word, row in _RAW[table].items() for lang in LANGS
}
_FALLBACK_TEMPLATES: dict[tuple[str, str], Template] = {
    (name, lang): _parsed(_RAW["fallback"][name][lang]) for name in ("mistake", "reason") for lang in LANGS
}
_LABEL_TEMPLATES: dict[tuple[str, str, str], Template] = {
    (group, key, lang): _parsed(row[lang])
    for group, rows in _LABELS_RAW.items() for key, row in rows.items() for lang in LANGS
}


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


def evidence_keys(finding_id: str) -> tuple[str, ...]:
    """The evidence keys an entry's texts may use (KeyError for an unknown ID)."""
    return _EVIDENCE[entry(finding_id).id if finding_id in _ENTRIES else _UNKNOWN_TEMPLATE]


def texts(finding_id: str, lang: str) -> Mapping[str, str]:
    """The title, cause and fix templates of a finding ID in `lang` (Unknown_<Code>: the template's).
    KeyError for an ID the catalogue does not know, ValueError for an unknown language."""
    _check_lang(lang)
    return _ENTRIES[_template_id(finding_id)].text[lang]


def text_templates(finding_id: str, lang: str) -> tuple[Template, Template, Template]:
    """texts(), parsed: (title, cause, fix)."""
    _check_lang(lang)
    return _ENTRY_TEMPLATES[(_template_id(finding_id), lang)]


def _template_id(finding_id: str) -> str:
    if finding_id in _ENTRIES:
        return finding_id
    entry(finding_id)                             # KeyError unless Unknown_<Code>
    return _UNKNOWN_TEMPLATE


def phrase(table: str, word: object, lang: str) -> Template | None:
    """The sentence template for a check's word in one of TABLES; None for a word it does not know."""
    if not isinstance(word, str):
        return None
    return _TABLE_TEMPLATES.get((table, word, lang))


def fallback(name: str, lang: str) -> Template:
    """The sentence for a `mistake` or `reason` nobody named ("mistake" or "reason")."""
    return _FALLBACK_TEMPLATES[(name, lang)]


def label(group: str, key: str, lang: str) -> Template:
    """A surface's words from labels.json (KeyError for an unknown group or key)."""
    _check_lang(lang)
    return _LABEL_TEMPLATES[(group, key, lang)]


def label_groups() -> tuple[str, ...]:
    return tuple(_LABELS_RAW)


def label_keys(group: str) -> tuple[str, ...]:
    return tuple(_LABELS_RAW[group])


def raw_label(group: str, key: str, lang: str) -> str:
    """A label's template text as written in labels.json."""
    return _LABELS_RAW[group][key][lang]


def raw_text(table: str, word: str, lang: str) -> str:
    """A word table's template text as written in catalogue.json (TABLES names the tables)."""
    return _RAW[table][word][lang]


def mistake_text(word: str, lang: str = "en") -> str:
    """The sentence explaining a signature `mistake` word. KeyError for an unknown word."""
    _check_lang(lang)
    return _RAW["mistakes"][word][lang]


def reason_text(word: str, lang: str = "en") -> str:
    """The sentence explaining a multipart `reason` word. KeyError for an unknown word."""
    _check_lang(lang)
    return _RAW["reasons"][word][lang]


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


# --- COS's own words ---------------------------------------------------------------------------

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
