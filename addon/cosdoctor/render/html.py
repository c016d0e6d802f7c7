"""The JSON Lines audit report as one self-contained HTML page: totals, a timeline, every flow.

Records come from a file anyone could have edited, so every string is escaped, every value is
type-checked before use, and nothing here raises for a strange record: it is shown as it is or
skipped and counted. The page loads nothing (a Content-Security-Policy with hashes of our own
<style> and <script> says so to the browser), reads without JavaScript, and is byte-identical for
the same input so two reports can be diffed. Records are rendered once, never embedded as data.
"""
from __future__ import annotations

import base64
import hashlib
import html
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cosdoctor.cos.secrets import is_secret_name, without_secret_names
from cosdoctor.cos.times import format_iso8601, parse_iso8601
from cosdoctor.findings import catalogue
from cosdoctor.findings.catalogue import SEVERITIES, SEVERITY_RANK as _SEVERITY_RANK
from cosdoctor.render.words import duration, label, render_finding

__all__ = ["render_html", "is_secret_name", "LABELS", "SEVERITIES"]
ACTIONS = ("forwarded", "blocked", "replayed")

# Timeline geometry (SVG user units) and bucket sizes a person reads easily.
_W, _H = 960, 190
_LEFT, _RIGHT, _TOP, _BOTTOM = 52, 16, 12, 142
_STEPS = (5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
          86400, 172800, 604800)
_MAX_BUCKETS = 60
_MIN_BUCKETS = 12
_MIN_SPAN = 120
_MAX_LABELS = 8
_MAX_VALUE_CHARS = 4000

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_SPECIAL = re.compile("[&<>\"'\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_SAFE_URL = re.compile(r"https?://[^\s\"'<>`]+", re.IGNORECASE)

class _Words(dict):
    """The report's labels in one language (labels.json, group "html"), and that language."""

    def __init__(self, lang: str) -> None:
        super().__init__({key: catalogue.raw_label("html", key, lang) for key in catalogue.label_keys("html")})
        self.lang = lang


LABELS = {lang: _Words(lang) for lang in catalogue.LANGS}


# The page's style and script are package files beside this module, read once at import; the
# Content-Security-Policy below carries their hashes, so the browser runs exactly these two.
_CSS = Path(__file__).with_name("html.css").read_text(encoding="utf-8")
_SCRIPT = Path(__file__).with_name("html.js").read_text(encoding="utf-8")


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


# The browser refuses anything but our own style and script: no loads, no injected inline code.
_CSP = (f"default-src 'none'; style-src {_csp_hash(_CSS)}; script-src {_csp_hash(_SCRIPT)}; "
        "img-src 'none'; base-uri 'none'; form-action 'none'")


# --- plain values ------------------------------------------------------------------------------

def _escape(text: str) -> str:
    """HTML-escaped (attribute-safe) text; control characters and lone surrogates (possible in
    JSON) become U+FFFD. Most strings need nothing, which one regex search finds out quickly."""
    if _SPECIAL.search(text) is None:
        return text
    return html.escape(_CONTROL.sub("\ufffd", text), quote=True)


def _e(value: object) -> str:
    """Any value as escaped HTML text (attribute-safe)."""
    return _escape(value if isinstance(value, str) else _as_text(value))


def _as_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or isinstance(value, (int, float)):
        return json.dumps(value)
    try:
        return json.dumps(_without_secrets(value), ensure_ascii=False, default=str)
    except (ValueError, TypeError, RecursionError):
        return "(unrenderable value)"


def _without_secrets(value: object, depth: int = 0) -> object:
    return without_secret_names(value, depth)


def _value_html(value: object, labels: Mapping[str, str]) -> str:
    if value is None:
        return '<span class="muted">null</span>'
    text = _as_text(value)
    if len(text) > _MAX_VALUE_CHARS:
        rest = len(text) - _MAX_VALUE_CHARS
        return _e(text[:_MAX_VALUE_CHARS]) + f'<span class="muted">{_e(labels["cut"].format(n=rest))}</span>'
    return _e(text)


def _kv(pairs: list[tuple[str, object]], labels: Mapping[str, str], cls: str = "kv") -> str:
    rows = [f"<dt>{_e(name)}</dt><dd>{_value_html(value, labels)}</dd>" for name, value in pairs]
    return f'<dl class="{cls}">' + "".join(rows) + "</dl>" if rows else ""


def _severity_class(severity: str) -> str:
    return f"sev-{severity}" if severity in _SEVERITY_RANK else "sev-other"


def _utc(unix: int) -> str:
    return format_iso8601(unix)[:-1].replace("T", " ")     # 2026-11-29T03:35:55Z -> 2026-11-29 03:35:55


# --- records, normalised once ---------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Finding:
    id: str
    severity: str
    phase: str
    title: str
    cause: str
    fix: str
    doc: str
    evidence: object


@dataclass(frozen=True, slots=True)
class _Flow:
    index: int
    time: str
    unix: int | None
    method: str
    url: str
    host: str
    client: str
    bucket: str
    region: str
    key: str
    flow_id: str
    status: int | None
    status_text: str
    error: object
    action: str
    findings: tuple[_Finding, ...]
    failing: bool


def _str(value: object) -> str:
    return value if isinstance(value, str) else _as_text(value)


def _status(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 3:
        return int(value.strip())
    return None


def _finding(record: Mapping, lang: str) -> _Finding:
    """One finding of a record, its texts re-rendered from its ID and evidence in `lang`."""
    raw = render_finding(record, lang)
    return _Finding(
        id=_str(raw.get("id")) or "?", severity=_str(raw.get("severity")).lower() or "?",
        phase=_str(raw.get("phase")), title=_str(raw.get("title")), cause=_str(raw.get("cause")),
        fix=_str(raw.get("fix")), doc=_str(raw.get("doc")), evidence=raw.get("evidence"))


def _flow(index: int, raw: Mapping, lang: str) -> _Flow:
    findings_raw = raw.get("findings")
    findings = tuple(_finding(f, lang) for f in findings_raw if isinstance(f, Mapping)) \
        if isinstance(findings_raw, (list, tuple)) else ()
    status = _status(raw.get("status"))
    action = _str(raw.get("action"))
    time_text = _str(raw.get("time"))
    failing = (any(f.severity == "error" for f in findings) or (status is not None and status >= 400)
               or action == "blocked")
    return _Flow(index=index, time=time_text, unix=parse_iso8601(time_text), method=_str(raw.get("method")),
                 url=_str(raw.get("url")), host=_str(raw.get("host")), client=_str(raw.get("client")),
                 bucket=_str(raw.get("bucket")), region=_str(raw.get("region")), key=_str(raw.get("key")),
                 flow_id=_str(raw.get("flow_id")), status=status, status_text=_str(raw.get("status")),
                 error=raw.get("error"), action=action, findings=findings, failing=failing)


@dataclass(frozen=True, slots=True)
class _IdCount:
    id: str
    token: str          # f0, f1…: safe in attributes and class lists whatever the ID holds
    severity: str
    title: str
    findings: int
    flows: int


def _generic_title(found: _Finding, lang: str) -> str:
    """The catalogue's title for an ID as such (worded without any flow's evidence); a record's own
    title for an ID the catalogue does not know."""
    cached = _GENERIC_TITLES.get((found.id, lang))
    if cached is None:
        try:
            plain = catalogue.finding(found.id, "response")          # Unknown_<Code>: the code is the ID's
        except KeyError:
            return found.title
        cached = render_finding(plain, lang)["title"]
        if len(_GENERIC_TITLES) < 4096:                        # IDs come from a file: bounded
            _GENERIC_TITLES[(found.id, lang)] = cached
    return cached


_GENERIC_TITLES: dict[tuple[str, str], str] = {}


def _count_ids(flows: list[_Flow], lang: str) -> list[_IdCount]:
    """Per finding ID: occurrences and flows, most severe first, then most frequent, then by ID."""
    first: dict[str, _Finding] = {}
    findings: dict[str, int] = {}
    with_id: dict[str, int] = {}
    for flow in flows:
        seen = set()
        for found in flow.findings:
            first.setdefault(found.id, found)
            findings[found.id] = findings.get(found.id, 0) + 1
            if found.id not in seen:
                seen.add(found.id)
                with_id[found.id] = with_id.get(found.id, 0) + 1
    order = sorted(first, key=lambda i: (_SEVERITY_RANK.get(first[i].severity, 9), -with_id[i], i))
    return [_IdCount(id=i, token=f"f{n}", severity=first[i].severity, title=_generic_title(first[i], lang),
                     findings=findings[i], flows=with_id[i]) for n, i in enumerate(order)]


def _word(group: str, value: str, labels: _Words) -> str:
    """A severity, action or phase in the page's language; anything else as it is."""
    return label(group, value, labels.lang) if value in _KNOWN_WORDS[group] else value


_KNOWN_WORDS = {group: frozenset(catalogue.label_keys(group)) for group in ("severity", "action", "phase")}


# --- sections --------------------------------------------------------------------------------------

def _totals(flows: list[_Flow], labels: Mapping[str, str], generated_at: int | None) -> str:
    failing = sum(f.failing for f in flows)
    blocked = sum(f.action == "blocked" for f in flows)
    by_action: dict[str, int] = {}
    for flow in flows:
        by_action[flow.action or "-"] = by_action.get(flow.action or "-", 0) + 1
    actions = [a for a in ACTIONS if a in by_action] + sorted(a for a in by_action if a not in ACTIONS)
    action_text = " \u00b7 ".join(f"{_e(_word('action', a, labels))} {by_action[a]}" for a in actions) or "-"
    times = [f.unix for f in flows if f.unix is not None]
    span = f"{_utc(min(times))} \u2013 {_utc(max(times))}" if times else "-"
    cards = [
        f'<div class="total"><b>{len(flows)}</b><span>{_e(labels["flows"])}</span></div>',
        f'<div class="total{" bad" if failing else ""}"><b>{failing}</b><span>{_e(labels["failing"])}</span></div>',
        f'<div class="total"><b>{blocked}</b><span>{_e(labels["blocked"])}</span></div>',
        f'<div class="total"><b>{sum(len(f.findings) for f in flows)}</b><span>{_e(labels["findings"])}</span></div>',
        f'<div class="total wide"><b>{action_text}</b><span>{_e(labels["actions"])}</span></div>',
        f'<div class="total wide"><b>{_e(span)}</b><span>{_e(labels["range"])}</span></div>',
    ]
    if generated_at is not None:
        cards.append(f'<div class="total wide"><b>{_e(_utc(int(generated_at)))}</b>'
                     f'<span>{_e(labels["generated"])}</span></div>')
    return '<div class="totals" id="totals">' + "".join(cards) + "</div>"


def _id_table(counts: list[_IdCount], labels: Mapping[str, str]) -> str:
    if not counts:
        return ""
    rows = []
    for c in counts:
        rows.append(
            f'<tr class="{_severity_class(c.severity)}" data-id="{_e(c.id)}">'
            f'<td><a href="#flows" data-pick="{c.token}" title="{_e(labels["click"])}"><code>{_e(c.id)}</code></a></td>'
            f'<td><span class="badge">{_e(_word("severity", c.severity, labels))}</span></td>'
            f"<td>{_e(c.title)}</td>"
            f'<td class="n c-findings">{c.findings}</td><td class="n c-flows">{c.flows}</td></tr>')
    return (f'<section class="card" id="by-id"><h2>{_e(labels["by_id"])}</h2><table class="ids">'
            f'<thead><tr><th>{_e(labels["id"])}</th><th>{_e(labels["severity"])}</th><th>{_e(labels["title"])}</th>'
            f'<th class="n">{_e(labels["findings"])}</th><th class="n">{_e(labels["flows_with"])}</th></tr></thead>'
            "<tbody>" + "".join(rows) + "</tbody></table></section>")


def _bucket_step(span: int) -> int:
    span = max(span, _MIN_SPAN)
    for step in _STEPS:
        if span // step + 2 <= _MAX_BUCKETS:
            return step
    return -(-span // ((_MAX_BUCKETS - 2) * 86400)) * 86400


def _label_interval(step: int, count: int) -> int:
    """Seconds between axis labels: a round interval (10:00, 12:00, midnight…), at most _MAX_LABELS."""
    for interval in _STEPS:
        if interval % step == 0 and count * step <= interval * _MAX_LABELS:
            return interval
    return step * -(-count // _MAX_LABELS)


def _nice_tick(top: int) -> int:
    magnitude = 1
    while True:
        for mult in (1, 2, 5):
            if top <= 4 * mult * magnitude:
                return mult * magnitude
        magnitude *= 10


def _timeline(flows: list[_Flow], labels: Mapping[str, str]) -> str:
    times = [f for f in flows if f.unix is not None]
    notes = []
    undated = len(flows) - len(times)
    if undated:
        notes.append(f'<p class="note">{_e(labels["no_time"].format(n=undated))}</p>')
    head = f'<section class="card" id="timeline"><h2>{_e(labels["timeline"])}</h2>'
    if not times:
        return head + f'<p class="note">{_e(labels["no_times"])}</p>' + "</section>"
    low = min(f.unix for f in times)   # type: ignore[type-var]
    high = max(f.unix for f in times)  # type: ignore[type-var]
    step = _bucket_step(high - low)
    start = (low // step) * step
    count = (high // step) - (low // step) + 1
    if count < _MIN_BUCKETS:
        start -= ((_MIN_BUCKETS - count) // 2) * step
        count = _MIN_BUCKETS
    ok = [0] * count
    bad = [0] * count
    for flow in times:
        i = (flow.unix - start) // step  # type: ignore[operator]
        if flow.failing:
            bad[i] += 1
        else:
            ok[i] += 1
    tallest = max(o + b for o, b in zip(ok, bad))
    tick = _nice_tick(tallest)
    top = -(-tallest // tick) * tick
    plot_w, plot_h = _W - _LEFT - _RIGHT, _BOTTOM - _TOP
    width = plot_w / count
    gap = min(2.0, width * 0.15)

    def y(value: int) -> float:
        return _BOTTOM - plot_h * value / top

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" viewBox="0 0 {_W} {_H}" '
             f'width="{_W}" height="{_H}" role="img" aria-label="{_e(labels["timeline"])}" '
             'font-family="system-ui, sans-serif" font-size="11">']
    for value in range(0, top + 1, tick):
        parts.append(f'<line x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
                     f'stroke="{"#9aa3ae" if value == 0 else "#e3e7ec"}" stroke-width="1"/>'
                     f'<text x="{_LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end" fill="#5b6573">{value}</text>')
    for i in range(count):
        if not ok[i] and not bad[i]:
            continue
        x = _LEFT + i * width + gap
        w = max(width - 2 * gap, 1.0)
        begin = start + i * step
        tip = (f"{_utc(begin)} \u2013 {_utc(begin + step)} UTC: {ok[i]} {labels['ok']}, "
               f"{bad[i]} {labels['failed']}")
        bar = [f"<g><title>{_e(tip)}</title>"]
        if bad[i]:
            bar.append(f'<rect x="{x:.1f}" y="{y(bad[i]):.1f}" width="{w:.1f}" '
                       f'height="{_BOTTOM - y(bad[i]):.1f}" fill="#b42318"/>')
        if ok[i]:
            bar.append(f'<rect x="{x:.1f}" y="{y(bad[i] + ok[i]):.1f}" width="{w:.1f}" '
                       f'height="{y(bad[i]) - y(bad[i] + ok[i]):.1f}" fill="#2f7d4a"/>')
        parts.append("".join(bar) + "</g>")
    every = _label_interval(step, count)
    last_date = None
    for i in range(count):
        begin = start + i * step
        if begin % every:
            continue
        x = _LEFT + i * width
        iso = format_iso8601(begin)
        date, clock = iso[:-10], iso[-9:-1]
        if step >= 86400:
            lines = [date]
        else:
            lines = [clock if step < 60 else clock[:5]]
            if date != last_date:
                lines.append(date)
        last_date = date
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{_BOTTOM}" y2="{_BOTTOM + 4}" stroke="#9aa3ae"/>')
        parts.append(f'<text x="{x:.1f}" y="{_BOTTOM + 17}" text-anchor="middle" fill="#5b6573">'
                     + "".join(f'<tspan x="{x:.1f}" dy="{0 if n == 0 else 14}">{_e(t)}</tspan>'
                               for n, t in enumerate(lines)) + "</text>")
    parts.append("</svg>")
    legend = (f'<div class="legend"><span><i class="l-failed"></i>{_e(labels["failed"])}</span>'
              f'<span><i class="l-ok"></i>{_e(labels["ok"])}</span>'
              f'<span>{_e(labels["bucket"].format(step=duration(step, labels.lang)))}</span></div>')
    return head + "".join(parts) + legend + "".join(notes) + "</section>"


def _filters(counts: list[_IdCount], total: int, labels: Mapping[str, str]) -> str:
    sev = "".join(f'<label class="{_severity_class(s)}"><input type="checkbox" name="sev" value="{s}"> '
                  f'<span class="badge">{_e(_word("severity", s, labels))}</span></label>' for s in SEVERITIES)
    ids = "".join(f'<label title="{_e(c.title)}"><input type="checkbox" name="id" value="{c.token}"> '
                  f"<code>{_e(c.id)}</code> ({c.flows})</label>" for c in counts)
    template = _e(labels["shown"])
    return (f'<form class="filters" id="filters" hidden>'
            f'<fieldset><legend>{_e(labels["severity"])}</legend>{sev}</fieldset>'
            + (f'<fieldset><legend>{_e(labels["id"])}</legend>{ids}</fieldset>' if ids else "")
            + f'<button type="button" id="clear">{_e(labels["clear"])}</button>'
            f'<span id="shown" data-template="{template}">'
            f'{_e(labels["shown"].format(shown=total, total=total))}</span></form>')


def _status_html(flow: _Flow, labels: Mapping[str, str]) -> str:
    """The status cell; a local answer of block mode says so, it never reached COS."""
    blocked = f' <small class="blk">{_e(labels["blocked"])}</small>' if flow.action == "blocked" else ""
    if flow.status is None:
        return f'<span class="st-none">{_e(flow.status_text) or "-"}{blocked}</span>'
    cls = "st-ok" if flow.status < 400 else "st-bad"
    return f'<span class="{cls}">{flow.status}{blocked}</span>'


def _time_html(flow: _Flow, labels: Mapping[str, str]) -> str:
    if flow.unix is not None:
        return _e(_utc(flow.unix))
    return f'<span class="bad-time" title="{_e(labels["bad_time"])}">{_e(flow.time) or "?"}</span>'


def _finding_html(found: _Finding, labels: _Words, error: object) -> str:
    parts = [f'<div class="finding {_severity_class(found.severity)}">'
             f'<h3><span class="badge">{_e(_word("severity", found.severity, labels))}</span>'
             f"<code>{_e(found.id)}</code><span>{_e(found.title)}</span>"
             + (f'<span class="muted">{_e(labels["phase"])}: {_e(_word("phase", found.phase, labels))}</span>'
                if found.phase else "")
             + "</h3>"]
    if found.cause:
        parts.append(f'<p><b>{_e(labels["cause"])}</b>{_e(found.cause)}</p>')
    if found.fix:
        parts.append(f'<p><b>{_e(labels["fix"])}</b>{_e(found.fix)}</p>')
    if found.doc:
        doc = _e(found.doc)
        link = f'<a href="{doc}">{doc}</a>' if _SAFE_URL.fullmatch(found.doc) else doc
        parts.append(f'<p><b>{_e(labels["doc"])}</b>{link}</p>')
    evidence = found.evidence
    if isinstance(evidence, Mapping):
        said = _said_by_the_flow(evidence, error)
        pairs = [(str(k), v) for k, v in evidence.items() if not is_secret_name(k) and k not in said]
    elif evidence is None:
        pairs = []
    else:
        pairs = [("-", evidence)]
    if pairs:
        parts.append(f'<p><b>{_e(labels["evidence"])}</b></p>' + _kv(pairs, labels))
    return "".join(parts) + "</div>"


def _said_by_the_flow(evidence: Mapping, error: object) -> set:
    """Evidence the flow already shows once: COS's code, message and request id (its error record),
    and COS's quoted value when it equals the value sent."""
    said = set()
    if isinstance(error, Mapping):
        said = {k for k in ("code", "message", "request_id") if k in evidence and evidence[k] == error.get(k)}
    if "cos_value" in evidence and evidence.get("cos_value") == evidence.get("actual"):
        said.add("cos_value")
    return said


def _flow_html(flow: _Flow, tokens: Mapping[str, str], labels: _Words) -> str:
    ftokens = " ".join(dict.fromkeys(tokens[f.id] for f in flow.findings))
    sevs = " ".join(dict.fromkeys(f.severity for f in flow.findings if f.severity in _SEVERITY_RANK))
    first = flow.findings[0] if flow.findings else None
    if first is None:
        first_html = f'<span class="muted">{_e(labels["none"])}</span>'
    else:
        more = len(flow.findings) - 1
        first_html = (f'<span class="badge {_severity_class(first.severity)}">{_e(first.id)}</span> '
                      + (f'<span class="muted">{_e(labels["more"].format(n=more))}</span>' if more else ""))
    title_attr = f' title="{_e(first.title)}"' if first is not None and first.title else ""
    # Six spans laid out by the .grid CSS; full host and key are in the body, wrapped.
    summary = (f'<summary class="grid"><span>{_time_html(flow, labels)}</span>'
               f'<span>{_e(flow.method) or "-"}</span><span>{_e(flow.host) or "-"}</span>'
               f'<span>{_e(flow.key) or "-"}</span>{_status_html(flow, labels)}'
               f'<span{title_attr}>{first_html}</span></summary>')
    facts = [(labels["url"], flow.url), (labels["client"], flow.client), (labels["bucket_f"], flow.bucket),
             (labels["region"], flow.region), (labels["key"], flow.key),
             (labels["action"], _word("action", flow.action, labels)), (labels["flow_id"], flow.flow_id)]
    pairs: list[tuple[str, object]] = [(name, value) for name, value in facts if value]
    if flow.unix is None and flow.time:
        pairs.insert(0, (labels["time"], flow.time))
    error = flow.error
    if isinstance(error, Mapping):
        pairs += [(f"{labels['error']}: {k}", v) for k, v in error.items() if not is_secret_name(k) and v is not None]
    elif error is not None:
        pairs.append((labels["error"], error))
    body = _kv(pairs, labels, "kv facts") + "".join(_finding_html(f, labels, flow.error) for f in flow.findings)
    cls = "flow failing" if flow.failing else "flow"
    return (f'<details class="{cls}" id="flow-{flow.index}" data-f="{ftokens}" data-s="{sevs}">'
            f'{summary}<div class="body">{body}</div></details>')


def _flows_table(flows: list[_Flow], counts: list[_IdCount], labels: Mapping[str, str]) -> str:
    tokens = {c.id: c.token for c in counts}
    head = (f'<div class="head grid"><span>{_e(labels["time"])}</span><span>{_e(labels["method"])}</span>'
            f'<span>{_e(labels["host"])}</span><span>{_e(labels["key"])}</span>'
            f'<span>{_e(labels["status"])}</span><span>{_e(labels["first"])}</span></div>')
    rows = [_flow_html(flow, tokens, labels) for flow in flows]
    return (f'<section class="card flows" id="flows"><h2>{_e(labels["flows"])}</h2>'
            + _filters(counts, len(flows), labels) + head + "\n".join(rows) + "</section>")


# --- the page ------------------------------------------------------------------------------------

def render_html(records: Sequence[Mapping], *, title: str | None = None, lang: str = "en",
                generated_at: int | None = None) -> str:
    """One self-contained HTML page for report records (the contract's JSON Lines format).

    `lang` picks the language of the page (en, ko, zh; anything else falls back to en): its labels,
    and the finding texts, re-rendered from each finding's ID and evidence (a finding whose ID the
    catalogue does not know keeps the texts it was recorded with); the default title says how many
    flows there are. `generated_at` (Unix seconds) is printed only when given, so that the same
    records always give the same bytes. Records that are not mappings
    are skipped and counted; fields named like a secret key are never rendered.
    """
    labels = LABELS.get(lang, LABELS["en"])
    lang = lang if lang in LABELS else "en"
    flows: list[_Flow] = []
    skipped = 0
    for raw in records:
        if isinstance(raw, Mapping):
            flows.append(_flow(len(flows), raw, lang))
        else:
            skipped += 1
    if isinstance(generated_at, bool) or not isinstance(generated_at, (int, float)) \
            or not math.isfinite(generated_at):
        generated_at = None
    counts = _count_ids(flows, lang)
    if title is None:
        title = label("html", "flows_title", lang, n=len(flows))
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{lang}"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>",
        f"<body><main><h1>{_e(title)}</h1>",
        _totals(flows, labels, generated_at),
    ]
    if skipped:
        parts.append(f'<p class="note">{_e(labels["skipped"].format(n=skipped))}</p>')
    if flows:
        parts += [_id_table(counts, labels), _timeline(flows, labels), _flows_table(flows, counts, labels)]
    else:
        parts.append(f'<section class="card" id="flows"><p class="note">{_e(labels["empty"])}</p></section>')
    parts.append(f"</main><script>{_SCRIPT}</script></body></html>\n")
    return "\n".join(parts)
