"""Findings into words: the contract's finding dicts, filled from the catalogue in one language.

The findings stage hands over plain findings (id, severity, phase, evidence). `render_finding`
adds title, cause, fix and doc in the requested language; it works the same for a finding read
back from a report file or a saved flow, so a report captured in one language can be read in
another. It never raises: a strange record is shown with the texts it carries.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cosdoctor.findings import catalogue

__all__ = ["render_finding", "render_findings"]

_MISSING = "?"
_ABSENT = "(absent)"
_MAX_SHOWN = 1000
_TEXT_KEYS = ("title", "cause", "fix")


def _show(value: object, absent: str) -> str:
    """How an evidence value reads inside a sentence."""
    if value is None:
        return absent
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        shown = value
    elif isinstance(value, (list, tuple, set, frozenset)):
        shown = ", ".join(_show(v, absent) for v in catalogue.plain_value(value))  # type: ignore[union-attr]
    elif isinstance(value, Mapping):
        shown = json.dumps(catalogue.plain_value(value), ensure_ascii=False)
    else:
        plain = catalogue.plain_value(value)
        shown = plain if isinstance(plain, str) else str(plain)
    return shown if len(shown) <= _MAX_SHOWN else shown[:_MAX_SHOWN - 1] + "…"


class _Values(dict):
    """format_map values: a key the evidence lacks renders as `?`, never a KeyError."""

    def __missing__(self, key: str) -> str:
        return _MISSING


def _fill(template: str, values: _Values) -> str:
    try:
        return template.format_map(values).strip()
    except (ValueError, IndexError, KeyError, AttributeError, TypeError):
        return template.strip()   # validated templates never get here; a finding beats a traceback


def _table_sentence(word: object, table: str, lang: str) -> str:
    lookup = catalogue.mistake_text if table == "mistake" else catalogue.reason_text
    try:
        return lookup(word, lang) if isinstance(word, str) else catalogue.fallback_text(table, lang)
    except KeyError:
        return catalogue.fallback_text(table, lang)


def _text_values(finding_id: str, evidence: Mapping[str, object], lang: str, names: frozenset[str]) -> _Values:
    """The placeholder values the templates use (`names`), from the evidence."""
    values = _Values()
    for key, value in evidence.items():
        if key in names:
            values[str(key)] = _show(value, _ABSENT)
    for key, default in catalogue.defaults(finding_id).items():
        if evidence.get(key) is None:
            values[key] = default
    if "actual_text" in names:
        actual = evidence.get("actual")
        values["actual_text"] = "" if actual is None else _show(actual, "")
    if "mistake_text" in names:
        values["mistake_text"] = _table_sentence(evidence.get("mistake"), "mistake", lang)
    if "reason_text" in names:
        values["reason_text"] = _table_sentence(evidence.get("reason"), "reason", lang)
    return values


@dataclass(frozen=True, slots=True)
class _Texts:
    """One entry's title, cause and fix templates in one language, parsed once."""

    names: frozenset[str]                                  # every placeholder the three use
    parts: tuple[tuple[str, str | None], ...]              # (template, its text when it has no placeholder)


_TEXTS: dict[tuple[str, str], _Texts] = {}


def _texts(finding_id: str, lang: str) -> _Texts:
    key = (finding_id if finding_id in _KNOWN else "Unknown_Code", lang)
    found = _TEXTS.get(key)
    if found is None:
        text = catalogue.texts(finding_id, lang)
        names: set[str] = set()
        parts = []
        for name in _TEXT_KEYS:
            template = text[name]
            used = catalogue.template_names(template)
            names.update(used)
            parts.append((template, None if used else _fill(template, _Values())))
        found = _TEXTS[key] = _Texts(frozenset(names), tuple(parts))
    return found


_KNOWN = frozenset(catalogue.all_ids())


def render_finding(found: Mapping, lang: str = "en") -> dict:
    """The contract's finding dict for a plain (or already rendered) finding, in `lang`.

    Catalogued IDs get their texts from the catalogue, whatever texts `found` carries; an ID the
    catalogue does not know (a record from another version) keeps its own texts."""
    if lang not in catalogue.LANGS:
        lang = "en"
    finding_id = found.get("id")
    evidence = found.get("evidence")
    out = {"id": finding_id, "severity": found.get("severity"), "phase": found.get("phase")}
    try:
        entry = catalogue.entry(finding_id) if isinstance(finding_id, str) else None
    except KeyError:
        entry = None
    if entry is None:
        out.update({name: found.get(name) if isinstance(found.get(name), str) else ""
                    for name in (*_TEXT_KEYS, "doc")})
    else:
        texts = _texts(finding_id, lang)
        facts = evidence if isinstance(evidence, Mapping) else {}
        values = _text_values(finding_id, facts, lang, texts.names) if texts.names else _Values()
        title, cause, fix = [fixed if fixed is not None else _fill(template, values)
                             for template, fixed in texts.parts]
        out.update({"title": title, "cause": cause, "fix": fix, "doc": entry.doc})
    out["evidence"] = evidence
    return out


def render_findings(findings: Iterable[Mapping], lang: str = "en") -> list[dict]:
    return [render_finding(found, lang) for found in findings]
