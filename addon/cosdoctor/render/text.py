"""Turn findings into what people see: comment lines, ASCII header text, a log line, a report record.

Pure functions over plain data, so the addon, the offline tools and the tests render identically.
Evidence is redacted before any text is rendered (`redact.redact_evidence`); callers `scrub`.
"""
from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping

from cosdoctor.cos.secrets import scrub
from cosdoctor.findings import catalogue
from cosdoctor.findings.diagnose import Diagnosis
from cosdoctor.render.words import render_finding, render_findings
from cosdoctor.wire.jsonsafe import plain

MAX_HEADER_DETAIL = 240
SEVERITY_MARK = dict(zip(catalogue.SEVERITIES, ("✖", "⚠", "ℹ")))   # in the one severity order




def summary(found: Mapping) -> str:
    """The facts behind a finding, built from its evidence, with where the policy came from."""
    facts = _facts(found)
    origin = (found.get("evidence") or {}).get("policy_origin")
    if origin is not None and isinstance(origin, Mapping):     # None: skip the slow ABC check
        source = (found.get("evidence") or {}).get("value_source")
        blame = {"server": "; the failing value was signed by the server",
                 "client": "; the failing value was changed by the client"}.get(str(source), "")
        note = f"policy from {origin.get('method')} {origin.get('url')} at {origin.get('time')}{blame}"
        return f"{facts} ({note})" if facts else note
    return facts


def _facts(found: Mapping) -> str:
    e = found.get("evidence") or {}
    fid = found["id"]
    if "condition" in e and e.get("condition") is not None and "actual" in e:
        actual = "absent" if e.get("actual") is None else repr(e.get("actual"))
        return f"condition #{e.get('index')} {e.get('condition')} failed: sent {actual}"
    if fid == "AccessDenied_Expiration":
        now = e.get("now") or e.get("now_unix")
        return (f"expiration {e.get('expiration')}, now {now}"
                + (f"; {e['timezone_hint']}" if e.get("timezone_hint") else ""))
    if fid.startswith("SignatureDoesNotMatch"):
        if e.get("verified"):
            return f"verified with the SecretKey: mistake = {e.get('mistake')}"
        return f"not verified (no SecretKey for this q-ak); StringToSign {e.get('string_to_sign')}"
    if fid == "MalformedPOSTRequest_POSTBody":
        return f"{e.get('reason')} at byte {e.get('offset')}: {e.get('detail')}"
    if "detail" in e and e.get("detail"):
        return str(e["detail"])
    return ""


def comment(findings: list[dict]) -> str:
    """flow.comment: one line a finding, most important first."""
    lines = []
    for found in findings:
        facts = summary(found)
        line = f"{SEVERITY_MARK.get(found['severity'], '-')} {found['id']}: {found['title']}"
        if facts:
            line += f" — {facts}"
        if found["severity"] != "info" and found.get("fix"):
            line += f" Fix: {found['fix']}"
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


def log_line(method: str, url: str, status: int | None, findings: list[dict]) -> str:
    first = findings[0]
    more = f" (+{len(findings) - 1} more)" if len(findings) > 1 else ""
    facts = summary(first)
    return (f"COS {method} {url} -> {status if status is not None else '-'}: {first['id']}: "
            f"{first['title']}" + (f" — {facts}" if facts else "") + more)




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
            "fields": [n if n.isascii() else plain(n) for n in form.names] if form else [],
            "findings": render_findings(diagnosis.findings, lang)}
    return cached


def flow_comment(diagnosis: Diagnosis, lang: str = "en") -> str:
    return _scrubbed(diagnosis, comment(metadata(diagnosis, lang)["findings"]))


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
    return _scrubbed(diagnosis, log_line(method, url, diagnosis.status, findings))


def _scrubbed(diagnosis: Diagnosis, text: str) -> str:
    return plain(scrub(text, diagnosis.secrets) if diagnosis.secrets else text)
