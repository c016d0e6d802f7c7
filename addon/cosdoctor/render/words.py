"""Findings into words: the contract's finding dicts, filled from the catalogue in one language.

The findings stage hands over plain findings (id, severity, phase, evidence). `render_finding`
adds title, cause, fix and doc in the requested language; it works the same for a finding read
back from a report file or a saved flow, so a report captured in one language can be read in
another. Every other surface takes its words from here too (`label`, `derived`, `duration`), so
no sentence is written in code. Nothing here raises for a strange record: it is shown with the
texts it carries.

Templates (see `catalogue`) are filled with the evidence: a value is shown as text (lists joined
with ", "), `None`, "" and empty lists count as missing, so the `[[...]]` choice that needs them
falls back to its next option. Joins are tidied once the options are chosen (no double spaces,
no space before a full stop, none around Chinese punctuation), never inside the values.
"""
from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Mapping

from cosdoctor.findings import catalogue
from cosdoctor.findings.catalogue import Template

__all__ = ["render_finding", "render_findings", "label", "label_from", "derived", "duration", "sentence_end", "join_sentences"]

_MAX_SHOWN = 1000
_MAX_QUOTED = 60
_TEXT_KEYS = ("title", "cause", "fix")
# Verdicts whose sentence only restates the cause's "expects X; the form sends Y" (left out of it).
_RESTATES = frozenset({"not-equal", "not-prefix"})
_TABLE_OF = {"malformation_text": "malformations", "problem_text": "policy_problems",
             "condition_problem_text": "conditions", "timezone_text": "timezone_hints",
             "expiration_problem_text": "expiration_problems", "difference_text": "signature_differences",
             "xml_mistake_text": "mistakes"}
_DURATIONS = ((86400, "d"), (3600, "h"), (60, "min"))
_SENTINEL = re.compile("\x00(\\d+)\x00([.\u3002])?")
_SPACES = re.compile(r"[ \t]{2,}")
_SPACE_BEFORE_STOP = re.compile(r" +([.,;:!?](?![.\w])|\))")     # not before "..." or ".5"
_SPACE_AFTER_OPEN = re.compile(r"\( +")
_CJK_PUNCTUATION = re.compile(" *([\u3002\uff0c\uff1b\uff1a\u3001\uff01\uff1f\uff08\uff09\u300c\u300d]) *")
_CJK = re.compile("[\u3400-\u9fff]")
_CJK_AFTER_VALUE = re.compile("(\x00(\\d+)\x00) (?=[\u3400-\u9fff])")
_CJK_BEFORE_VALUE = re.compile("(?<=[\u3400-\u9fff])( )(\x00(\\d+)\x00)")
_ENDS_SENTENCE = ("." , "!", "?", "\u3002", "\uff01", "\uff1f")


# --- values ------------------------------------------------------------------------------------

def _show(value: object) -> str | None:
    """How an evidence value reads inside a sentence; None when there is nothing to show."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        shown = value
    elif isinstance(value, (list, tuple, set, frozenset)):
        parts = [_show(v) for v in catalogue.plain_value(value)]  # type: ignore[union-attr]
        shown = ", ".join(p for p in parts if p is not None)
    elif isinstance(value, Mapping):
        shown = json.dumps(catalogue.plain_value(value), ensure_ascii=False) if value else ""
    else:
        plain = catalogue.plain_value(value)
        shown = plain if isinstance(plain, str) else str(plain)
    if not shown:
        return None
    return shown if len(shown) <= _MAX_SHOWN else shown[:_MAX_SHOWN - 1] + "\u2026"


def _quoted(value: object) -> str | None:
    shown = _show(value)
    if shown is None:
        return None
    if len(shown) > _MAX_QUOTED:
        shown = shown[:_MAX_QUOTED - 1] + "\u2026"
    return repr(shown) if isinstance(value, str) else shown


def duration(seconds: object, lang: str = "en") -> str | None:
    """A duration a person reads (7 h 45 min, 3 d 2 h): the one formatter of every surface."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        return None
    seconds = abs(int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "min"), (0 if days else secs, "s")]
    shown = [label("duration", unit, lang, n=amount) for amount, unit in parts if amount]
    return " ".join(shown) or label("duration", "s", lang, n=0)


class _Facts:
    """Values for one template fill: evidence shown as text, derived names computed once."""

    __slots__ = ("evidence", "lang", "cache")

    def __init__(self, evidence: Mapping[str, object], lang: str) -> None:
        self.evidence = evidence
        self.lang = lang
        self.cache: dict[str, str | None] = {}

    def get(self, name: str) -> str | None:
        if name in self.cache:
            return self.cache[name]
        value = self.cache[name] = self._compute(name)
        return value

    def _compute(self, name: str) -> str | None:
        e, lang = self.evidence, self.lang
        source = catalogue.DERIVED.get(name)
        if source is None:
            for suffix in catalogue.SUFFIXES:
                if name.endswith(suffix) and name[:-len(suffix)] in e:
                    base = e.get(name[:-len(suffix)])
                    if suffix == "_quoted":
                        return _quoted(base)
                    return "" if base is (suffix == "_yes") else None
            return _show(e.get(name))
        value = e.get(source)
        if name in ("mistake_text", "reason_text"):
            table = "mistakes" if name == "mistake_text" else "reasons"
            template = catalogue.phrase(table, value, lang) or catalogue.fallback(table[:-1], lang)
            return fill(template, self)
        if name in _TABLE_OF:
            template = catalogue.phrase(_TABLE_OF[name], value, lang)
            return fill(template, self) or None if template is not None else None
        if name in ("why_text", "verdict_text"):
            return self._why(value, restate=name == "verdict_text")
        if name == "repairs_text":
            words = value if isinstance(value, list) else []
            shown = [fill(t, self) for t in (catalogue.phrase("base64_repairs", w, lang) for w in words) if t]
            return ("\uff1b" if lang == "zh" else "; ").join(shown) or None
        if name in ("condition_number", "part_number"):
            return str(value + 1) if isinstance(value, int) and not isinstance(value, bool) else None
        if name in ("expired_for", "expires_in", "clock_skew", "starts_in"):
            return duration(value, lang)
        if name == "timezone_offset":
            return duration(value * 3600, lang) if isinstance(value, int) and not isinstance(value, bool) else None
        if name == "timezone_utc":
            return f"{value:+d}" if isinstance(value, int) and not isinstance(value, bool) else None
        if name in ("predicted_id", "answered_id"):
            return None if value == "accept" else _show(value)
        return _show(value)                      # actual_text and anything plain

    def _why(self, word: object, restate: bool) -> str | None:
        sentences = []
        if restate or word not in _RESTATES:
            template = catalogue.phrase("conditions", word, self.lang)
            if template is not None:
                sentences.append(fill(template, self))
        notes = self.evidence.get("why_notes")
        for note in notes if isinstance(notes, list) else ():
            template = catalogue.phrase("condition_notes", note, self.lang)
            if template is not None:
                sentences.append(fill(template, self))
        return join_sentences(sentences, self.lang) or None


# --- templates -----------------------------------------------------------------------------------

class _Slots(dict):
    """format_map values that put a numbered marker where each value goes (tidied around later)."""

    def __init__(self, facts: _Facts, values: list[str]) -> None:
        super().__init__()
        self.facts = facts
        self.values = values

    def __missing__(self, name: str) -> str:
        value = self.facts.get(name)
        self.values.append("?" if value is None else value)
        return f"\x00{len(self.values) - 1}\x00"


# (id(template), lang) -> the text of a template without placeholders, else None. The catalogue's
# templates live as long as the process, so their ids are stable keys.
_FIXED: dict[tuple[int, str], object] = {}


def fill(template: Template, facts: _Facts) -> str:
    """The template with each choice's first complete option, tidied, values put in last."""
    key = (id(template), facts.lang)
    fixed = _FIXED.get(key, _UNSEEN)
    if fixed is _UNSEEN:
        fixed = _FIXED[key] = None if catalogue.template_names(template) else _fill(template, facts)
    return fixed if fixed is not None else _fill(template, facts)


_UNSEEN = object()


def _fill(template: Template, facts: _Facts) -> str:
    values: list[str] = []
    slots = _Slots(facts, values)
    out = []
    for choice in template:
        for option in choice.options:
            if not choice.optional or all(facts.get(n) is not None for n in option.names):
                try:
                    out.append(option.text.format_map(slots) if option.names else option.text.format())
                except (ValueError, IndexError, KeyError, AttributeError, TypeError):
                    out.append(option.text)        # validated templates never get here
                break
    return _put_values(_tidy("".join(out), facts.lang), values, facts.lang)


def _tidy(text: str, lang: str) -> str:
    # Each rule runs only when its pattern can be there (a substring test costs a fraction of a sub).
    if "  " in text or "\t" in text:
        text = _SPACES.sub(" ", text)
    if any(gap in text for gap in _GAPS):
        text = _SPACE_BEFORE_STOP.sub(r"\1", text)
    if "( " in text:
        text = _SPACE_AFTER_OPEN.sub("(", text)
    if lang == "zh" and " " in text:
        text = _CJK_PUNCTUATION.sub(r"\1", text)
    return text.strip()


_GAPS = (" .", " ,", " ;", " :", " !", " ?", " )")


def _put_values(text: str, values: list[str], lang: str) -> str:
    def one(match: re.Match) -> str:
        value = values[int(match.group(1))]
        stop = match.group(2) or ""
        return value if stop and value.endswith(_ENDS_SENTENCE) else value + stop
    if not values:
        return text
    if lang == "zh":
        # No space between a value that ends (starts) in Chinese and the Chinese text beside it.
        text = _CJK_AFTER_VALUE.sub(lambda m: m.group(1) if _CJK.match(values[int(m.group(2))][-1:] or "a")
                                    else m.group(0), text)
        text = _CJK_BEFORE_VALUE.sub(lambda m: m.group(2) if _CJK.match(values[int(m.group(3))][:1] or "a")
                                     else m.group(0), text)
    return _SENTINEL.sub(one, text)


def sentence_end(text: str, lang: str) -> str:
    """`text` ending as a sentence does (a full stop added when it has none)."""
    text = text.rstrip()
    if not text or text.endswith(_ENDS_SENTENCE):
        return text
    return text + ("\u3002" if lang == "zh" else ".")


def join_sentences(sentences: Iterable[str], lang: str) -> str:
    """Sentences one after another, each ended, with a space between them (none in Chinese)."""
    ended = [sentence_end(s, lang) for s in sentences if s and s.strip()]
    return ("" if lang == "zh" else " ").join(ended)


def _lang(lang: str) -> str:
    return lang if lang in catalogue.LANGS else "en"


def label(group: str, key: str, lang: str = "en", **values: object) -> str:
    """A surface's words (labels.json), filled with `values`. KeyError for an unknown key."""
    lang = _lang(lang)
    if not values:
        found = _PLAIN_LABELS.get((group, key, lang))
        if found is None:
            found = _PLAIN_LABELS[(group, key, lang)] = fill(catalogue.label(group, key, lang), _Facts({}, lang))
        return found
    return fill(catalogue.label(group, key, lang), _Facts(values, lang))


_PLAIN_LABELS: dict[tuple[str, str, str], str] = {}     # labels asked for without values: worded once


def label_from(group: str, key: str, lang: str, facts: Mapping[str, object]) -> str:
    """label() with the values in a mapping (evidence: any string keys, derived names work)."""
    lang = _lang(lang)
    return fill(catalogue.label(group, key, lang), _Facts(facts, lang))


def derived(name: str, facts: Mapping[str, object], lang: str = "en") -> str | None:
    """One derived sentence (`why_text`, `problem_text`, `reason_text` ...) from plain facts."""
    return _Facts(facts, _lang(lang)).get(name)


# --- findings ------------------------------------------------------------------------------------

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
        facts = evidence if type(evidence) is dict or isinstance(evidence, Mapping) else {}
        try:
            texts = _cached_texts(finding_id, lang, tuple(facts.items()))
        except TypeError:                          # a list or dict value: not hashable, worded afresh
            texts = _texts(finding_id, lang, facts)
        out.update(zip(("title", "cause", "fix"), texts))
        out["doc"] = entry.doc
    out["evidence"] = evidence
    return out


def _texts(finding_id: str, lang: str, evidence: Mapping) -> tuple[str, str, str]:
    facts = _Facts(evidence, lang)
    return tuple(fill(t, facts) for t in catalogue.text_templates(finding_id, lang))  # type: ignore[return-value]


@functools.lru_cache(maxsize=2048)
def _cached_texts(finding_id: str, lang: str, items: tuple) -> tuple[str, str, str]:
    """The same finding with the same facts reads the same: the lint warnings most uploads carry
    are worded once, not once per flow."""
    return _texts(finding_id, lang, dict(items))


def render_findings(findings: Iterable[Mapping], lang: str = "en") -> list[dict]:
    return [render_finding(found, lang) for found in findings]


def facts_of(evidence: Mapping[str, object], lang: str) -> Callable[[str], str | None]:
    """A look-up of evidence values and derived names, as the templates see them (for summaries)."""
    return _Facts(evidence, _lang(lang)).get
