"""Turn findings into what people see: comment lines, ASCII header text, a log line, a report record.

Pure functions over plain data, so the addon, the offline tools and the tests render identically.
Evidence is redacted before any text is rendered (`redact.redact_evidence`); callers `scrub`.
"""
from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping

from cosdoctor.cos.secrets import scrub, shorten_url
from cosdoctor.findings import catalogue
from cosdoctor.findings.diagnose import Diagnosis
from cosdoctor.render.words import label, label_from, render_finding, render_findings, sentence_end
from cosdoctor.wire.jsonsafe import plain

MAX_HEADER_DETAIL = 240
SEVERITY_MARK = dict(zip(catalogue.SEVERITIES, ("✖", "⚠", "ℹ")))   # in the one severity order




def summary(found: Mapping, lang: str = "en") -> str:
    """The facts behind a finding, built from its evidence, with where the policy came from.

    They add to the title what it does not say (the condition and the value sent, both clocks,
    the one byte offset ...), so a one-line surface (comment, log line, header) needs no cause."""
    evidence = found.get("evidence")
    e = evidence if isinstance(evidence, Mapping) else {}
    facts = _facts(str(found.get("id")), e, lang)
    origin = e.get("policy_origin")
    if origin is not None and isinstance(origin, Mapping):     # None: skip the slow ABC check
        note = label_from("facts", "origin", lang, {k: origin.get(k) for k in ("method", "url", "time")})
        blame = {"server": "origin_server", "client": "origin_client"}.get(str(e.get("value_source")))
        if blame:
            note += ("\uff1b" if lang == "zh" else "; ") + label("facts", blame, lang)
        open_, close = ("\uff08", "\uff09") if lang == "zh" else (" (", ")")
        return f"{facts}{open_}{note}{close}" if facts else note
    return facts


def _facts(finding_id: str, e: Mapping, lang: str) -> str:
    if e.get("condition") is not None and "actual" in e:
        return label_from("facts", "condition", lang, e)
    if finding_id == "AccessDenied_Expiration":
        return label_from("facts", "expiration", lang, e)
    if finding_id.startswith("SignatureDoesNotMatch") and e.get("difference"):
        return label_from("facts", "signature_difference", lang, e)
    if finding_id.startswith("SignatureDoesNotMatch"):
        return label_from("facts", "signature_verified" if e.get("verified") is True else "signature_unverified",
                          lang, e)
    if finding_id == "MalformedPOSTRequest_POSTBody":
        return label_from("facts", "malformed", lang, e)
    if finding_id == "InvalidPolicyDocument_Condition":
        return label_from("facts", "condition_problem", lang, e)
    if e.get("detail") is not None and "problem" in e or finding_id == "Warning_DuplicatePolicyKey":
        return label_from("facts", "policy_problem", lang, e)
    return ""


def _dash(lang: str) -> str:
    """Between a title and its facts: an em dash (Chinese writes two, without spaces)."""
    return "\u2014\u2014" if lang == "zh" else " \u2014 "


def _then_fix(line: str, fix: str, lang: str) -> str:
    """`line`, ended as a sentence, then "Fix: ..." (no spaces between Chinese sentences)."""
    space = "" if lang == "zh" else " "
    return f"{sentence_end(line, lang)}{space}{label('comment', 'fix', lang)}{space}{fix}"


def comment(findings: list[dict], lang: str = "en") -> str:
    """flow.comment: one line a finding, most important first."""
    lines = []
    for found in findings:
        facts = summary(found, lang)
        line = f"{SEVERITY_MARK.get(found['severity'], '-')} {found['id']}: {found['title']}"
        if facts:
            line += _dash(lang) + facts
        if found["severity"] != "info" and found.get("fix"):
            line = _then_fix(line, found["fix"], lang)
        lines.append(line)
    return "\n".join(lines)


def ascii_text(text: str) -> str:
    """Header-safe: ASCII printable only, no CR/LF, bounded."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    folded = re.sub(r"[^\x20-\x7e]+", " ", folded).strip()
    return folded[:MAX_HEADER_DETAIL]


def header_detail(found: Mapping, english_title: str) -> str:
    """X-COS-Diagnosis-Detail: English (headers stay ASCII whatever cos_lang is)."""
    facts = summary(found)
    return ascii_text(f"{english_title}: {facts}" if facts else english_title)


def log_line(method: str, url: str, status: int | None, findings: list[dict], lang: str = "en") -> str:
    first = findings[0]
    space = "" if lang == "zh" else " "
    more = f"{space}{label('comment', 'more', lang, n=len(findings) - 1)}" if len(findings) > 1 else ""
    facts = summary(first, lang)
    url = shorten_url(url)
    return (f"COS {method} {url} -> {status if status is not None else '-'}: {first['id']}: "
            f"{first['title']}" + (_dash(lang) + facts if facts else "") + more)


def dumps_record(record: Mapping) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str)


# --- a diagnosis, shown ------------------------------------------------------------------------

def metadata(diagnosis: Diagnosis, lang: str = "en") -> dict:
    """flow.metadata["cos"] (the contract's keys, findings rendered in `lang`); built once per
    diagnosis and language."""
    cached = diagnosis.metadata_cache.get(lang)
    if cached is None:
        a = diagnosis.analysis
        form = a.form if a else None
        cached = diagnosis.metadata_cache[lang] = {
            "bucket": plain(a.bucket if a else None), "region": plain(a.region if a else None),
            "key": plain(a.key if a else None), "mode": a.mode if a else "anonymous",
            "operation": a.operation if a else None, "auth": a.auth if a else "anonymous",
            "upload_id": plain(a.upload_id) if a and a.upload_id is not None else None,
            "part_number": (plain(a.part_number) if isinstance(a.part_number, str) else a.part_number) if a else None,
            "fields": [n if n.isascii() else plain(n) for n in form.names] if form else [],
            "findings": render_findings(diagnosis.findings, lang)}
    return cached


def flow_comment(diagnosis: Diagnosis, lang: str = "en") -> str:
    return _scrubbed(diagnosis, comment(metadata(diagnosis, lang)["findings"], lang))


def diagnosis_headers(diagnosis: Diagnosis) -> dict[str, str]:
    """X-COS-Diagnosis and its ASCII detail (English whatever cos_lang is)."""
    if not diagnosis.findings:
        return {}
    cached = diagnosis.metadata_cache.get("en")
    first = cached["findings"][0] if cached is not None else render_finding(diagnosis.findings[0], "en")
    return {"X-COS-Diagnosis": first["id"],
            "X-COS-Diagnosis-Detail": _scrubbed(diagnosis, header_detail(first, first["title"]))}


def diagnosis_log_line(diagnosis: Diagnosis, method: str, url: str, lang: str = "en") -> str:
    findings = metadata(diagnosis, lang)["findings"]
    return _scrubbed(diagnosis, log_line(method, url, diagnosis.status, findings, lang))


def _scrubbed(diagnosis: Diagnosis, text: str) -> str:
    return plain(scrub(text, diagnosis.secrets) if diagnosis.secrets else text)
