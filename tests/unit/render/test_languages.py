"""Korean and Chinese readers get no English sentence, on any surface, for any fixture.

Every fixture of tests/unit/finding_fixtures.py (one per finding ID, and the saved-without-body
cases) is diagnosed once and worded in ko and zh on every text surface: the comment, the log line,
flow.metadata's titles, causes and fixes, the HTML report and the content view. What may stay
English is what is not ours to translate: evidence values (COS's own Message, condition texts, form
values), IDs, codes, names of fields and the view's YAML keys. Anything else that reads as an
English phrase (three or more words, one of them lower-case: "the policy expired") fails.
"""
from __future__ import annotations

import html
import re

import pytest

from cosdoctor.findings import catalogue
from cosdoctor.render.html import render_html
from cosdoctor.render.jsonl import record
from cosdoctor.render.text import diagnosis_log_line, flow_comment, metadata
from cosdoctor.render.view import summarize
from finding_fixtures import FIXTURES, HOST, NOW, WITHOUT_BODY, diagnosis, exchange

CASES = {**{f"id:{k}": fx for k, fx in FIXTURES.items()}, **{f"saved:{k}": fx for k, fx in WITHOUT_BODY.items()}}
URL = f"https://{HOST}/"
_WORD = r"[A-Za-z]+(?:'[a-z]+)?"
_RUN = re.compile(rf"(?<![\w$/.\-])({_WORD}(?: {_WORD}){{2,}})(?![\w/\-])")
_QUOTED = re.compile(r'"(?:[^"\\\n]|\\.)*"|b?\'(?:[^\'\\\n]|\\.)*\'')
_MARKUP = re.compile(r"<style>.*?</style>|<script>.*?</script>|<[^>]+>", re.S)


def english_phrases(text: str, allowed: set[str]) -> list[str]:
    """English phrases in `text` once the allowed values and quoted strings are taken out."""
    for value in sorted(allowed, key=len, reverse=True):
        if len(value) >= 2:
            text = text.replace(value, " | ")
    text = _QUOTED.sub(" | ", text)
    return [m.group(1) for m in _RUN.finditer(text)
            if any(word.islower() and len(word) > 1 for word in m.group(1).split())]


def _values(obj: object, out: set[str]) -> set[str]:
    if isinstance(obj, dict):
        for value in obj.values():
            _values(value, out)
    elif isinstance(obj, list):
        for value in obj:
            _values(value, out)
    elif obj is not None and not isinstance(obj, bool):
        out.add(str(obj))
    return out


def surfaces(case: str, lang: str) -> tuple[dict[str, str], set[str]]:
    """Every text surface for one fixture in `lang`, and the values that may stay as they are."""
    fx = CASES[case]
    found = diagnosis(fx)
    meta = metadata(found, lang)
    rec = record(time="2026-01-01T00:00:00Z", flow_id="f-1", client="127.0.0.1", method="POST", url=URL,
                 host=HOST, bucket=meta["bucket"], region=meta["region"], key=meta["key"], status=found.status,
                 error=found.error, findings=meta["findings"], action="forwarded")
    ex = exchange(fx)
    texts = {"comment": flow_comment(found, lang),
             "log": diagnosis_log_line(found, "POST", URL, lang) if found.findings else "",
             "html": html.unescape(_MARKUP.sub(" ", render_html([rec], lang=lang))),
             "view": summarize(ex.body, ex.headers.get("content-type"), host=HOST, path="/", headers=ex.headers,
                               diagnosis=meta, credentials=ex.credentials, now=NOW, lang=lang)}
    for n, f in enumerate(meta["findings"]):
        for name in ("title", "cause", "fix"):
            texts[f"metadata {n} {name}"] = f[name]
    allowed = set(catalogue.all_ids()) | {URL, HOST, "COS POST"} | {f["id"] for f in found.findings}
    for f in found.findings:
        _values(f["evidence"], allowed)
    _values(found.error or {}, allowed)
    return texts, allowed


@pytest.mark.parametrize("lang", ["ko", "zh"])
@pytest.mark.parametrize("case", list(CASES))
def test_no_english_sentence_on_any_surface(case, lang):
    texts, allowed = surfaces(case, lang)
    found = {name: english_phrases(text, allowed) for name, text in texts.items()}
    assert {name: phrases for name, phrases in found.items() if phrases} == {}


@pytest.mark.parametrize("text, expected", [
    ("정책이 만료되었습니다: the policy has expired", ["the policy has expired"]),
    ("✖ AccessDenied_Condition: 폼 필드 content-type 값이", []),            # a field name is not a sentence
    ("COS POST Object: Initiate Multipart Upload", []),                    # names, no lower-case word
    ('value: "uploads/a file name.txt"', []),                                # quoted values are values
    ("策略已过期 Sign again right before the upload", ["Sign again right before the upload"]),
])
def test_the_detector_finds_english_phrases_and_only_those(text, expected):
    """The language test can fail: an English sentence is found, names and values are not."""
    assert english_phrases(text, set()) == expected


# --- particles and spacing ---------------------------------------------------------------------

# A Korean particle whose form depends on the word before it (이/가, 을/를, 은/는, 와/과, (으)로)
# cannot follow a placeholder: the value is not known when the sentence is written.
_VARIABLE_PARTICLE = re.compile(r"\}(?:이|가|을|를|은|는|와|과|으로|로)(?=[\s.,)\]:;]|$)")
_BOTH_FORMS = re.compile(r"\((?:이|가|을|를|은|는|와|과|으)\)")


def _korean_templates():
    for finding_id in catalogue.all_ids():
        for name, text in catalogue.texts(finding_id, "ko").items():
            yield f"{finding_id}.{name}", text
    for table, words in catalogue.TABLES.items():
        for word in words:
            yield f"{table}.{word}", catalogue.raw_text(table, word, "ko")
    for group in catalogue.label_groups():
        for key in catalogue.label_keys(group):
            yield f"labels.{group}.{key}", catalogue.raw_label(group, key, "ko")


@pytest.mark.parametrize("where, text", list(_korean_templates()), ids=lambda v: v if "." in v else "")
def test_no_korean_particle_follows_a_placeholder(where, text):
    assert not _VARIABLE_PARTICLE.search(text) and not _BOTH_FORMS.search(text), text


@pytest.mark.parametrize("case", list(CASES))
def test_chinese_has_no_space_after_its_punctuation(case):
    texts, _ = surfaces(case, "zh")
    for name, text in texts.items():
        if name in ("view", "html"):
            continue                    # YAML lines and markup: structure, not prose (their texts are the same)
        assert not re.search("[\u3002\uff0c\uff1b\uff1a\uff09] ", text), (name, text)
