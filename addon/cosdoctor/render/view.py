"""The text of the "COS POST Object" content view: the upload as COS sees it, and why it fails.

Why a plain function: mitmproxy 11 and 12 have unrelated content-view APIs, so both wrappers in
`cos_contentview.py` call this one renderer, and it is tested without mitmproxy. The text is
YAML-ish so that mitmproxy's YAML highlighting makes it readable; every name and value that came
from the request is JSON-quoted (or escaped) so that no field can forge a line of the view.

It runs the same analysis as the addon (`request_checks.analyse_request`), shows the parts in wire
order with byte offsets, the decoded policy with each condition's PASS/FAIL, the signature check and
the findings. Signatures and tokens are shortened, SecretKeys never shown. It never raises. The
structure's names (YAML keys, PASS/FAIL markers) stay as they are; every sentence comes from the
catalogue in the view's language.
"""
from __future__ import annotations

import copy
import hashlib
import json
import re
import textwrap
import time
from collections.abc import Mapping

from cosdoctor.findings import catalogue
from cosdoctor.render.text import SEVERITY_MARK
from cosdoctor.render.words import derived, duration, label, label_from, render_findings
from cosdoctor.cos.credentials import CredentialStore
from cosdoctor.findings.diagnose import diagnose, request_for
from cosdoctor.wire.form import FILE_FIELD, UploadForm
from cosdoctor.cos.hosts import custom_endpoint, parse_cos_host
from cosdoctor.cos.times import format_iso8601
from cosdoctor.wire.multipart import Part
from cosdoctor.cos.policy import ConditionResult, Policy
from cosdoctor.findings.request_checks import Analysis, SignatureCheck, analyse_request
from cosdoctor.cos.secrets import (MIN_SECRET_LEN, SENSITIVE_FIELDS, auth_secret_values, hide_values,
                                   is_sensitive, redact_field, scrub, shorten)
from cosdoctor.cos.sniff import looks_like_cos_form

__all__ = ["NOT_COS", "CANNOT_RENDER", "summarize", "looks_like_cos_form"]

NOT_COS = label("view", "not_cos", "en")                 # the English texts, for callers that test them
CANNOT_RENDER = label("view", "cannot_render", "en")
HEAD_BYTES = 32                 # of the file part, shown escaped
MAX_VALUE_CHARS = 200           # longer field values are cut (the length is shown)
MAX_PARTS_SHOWN = 200
WRAP = 80                       # sentences are folded to this width (mitmweb shows ~80 columns)
MAX_POLICY_LINES = 300
MAX_JSON_DEPTH = 16            # deeper policy JSON is printed on one line
MIN_HIDDEN_LEN = MIN_SECRET_LEN  # shorter sensitive values are not searched for in the text
_CONTROL = re.compile("[\x00-\x1f\x7f\u2028\u2029]")


def summarize(body: bytes, content_type: str | None, *, host: str | None = None, path: str = "/",
              headers: Mapping[str, str] | None = None, diagnosis: Mapping | None = None,
              credentials: CredentialStore | None = None, now: int | None = None,
              lang: str = "en", http_version: str = "HTTP/1.1", analysis: Analysis | None = None) -> str:
    """The view's text. `content_type` is the whole Content-Type header (boundary included);
    `headers` are the request's (without them the body is taken as sent with its length);
    `diagnosis` is the addon's `flow.metadata["cos"]` (its findings are shown when given);
    `now` is the request's time (default: the current time); `analysis` is the one the addon's
    diagnosis made of this body (then the body is not analysed again). Never raises."""
    secrets = credentials.secrets() if isinstance(credentials, CredentialStore) else ()
    try:
        return _Renderer(body, content_type, host, path, headers, diagnosis, credentials,
                         now, lang, http_version, analysis).render()
    except Exception as exc:  # noqa: BLE001 - a content view must never take the UI down
        reason = _oneline(scrub(f"{type(exc).__name__}: {exc}", secrets))
        return f"{label('view', 'cannot_render', lang if lang in catalogue.LANGS else 'en')}: {reason[:300]}"


# --- small text helpers ------------------------------------------------------------------------

def _oneline(text: object) -> str:
    """Text for an unquoted position: control characters (CR, LF, ...) shown escaped."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], str(text))


def _quote(value: object, limit: int = MAX_VALUE_CHARS) -> str:
    """A JSON-quoted string, cut at `limit` characters with the full length said (inside the quotes,
    so the line stays one YAML value)."""
    text = "" if value is None else str(value)
    if len(text) > limit:
        return _yaml_string(f"{text[:limit]}… ({len(text)} chars)")
    return _yaml_string(text)


def _is_multipart(content_type: str | None) -> bool:
    return bool(content_type) and content_type.split(";", 1)[0].strip().lower() == "multipart/form-data"


def _sensitive(name: object) -> bool:
    return is_sensitive(name)


class _Renderer:
    def __init__(self, body, content_type, host, path, headers, diagnosis, credentials, now, lang,
                 http_version, analysis=None):
        self.body = b"" if body is None else bytes(body)
        self.headers = {str(k).lower(): str(v) for k, v in (headers or {}).items()}
        if headers is None:
            self.headers["content-length"] = str(len(self.body))
        self.http_version = str(http_version)
        if content_type is not None:
            self.headers["content-type"] = str(content_type)
        self.content_type = self.headers.get("content-type")
        self.host = host
        self.path = path if isinstance(path, str) else "/"
        self.diagnosis = diagnosis if isinstance(diagnosis, Mapping) else None
        self.credentials = credentials if isinstance(credentials, CredentialStore) else None
        self.now_given = now is not None
        self.now = int(time.time()) if now is None else int(now)
        self.lang = lang if lang in catalogue.LANGS else "en"
        self.from_diagnosis = False
        self.hidden: set[str] = set()          # sensitive values: shortened wherever they appear
        self.lines: list[str] = []
        self.analysis = analysis if isinstance(analysis, Analysis) else None

    # --- the whole view -------------------------------------------------------------------

    def render(self) -> str:
        endpoint = parse_cos_host(self.host, self.path)
        why_not = self._why_not_cos(endpoint is not None)
        if why_not:
            return f"{self._w('not_cos')} ({why_not})"
        if endpoint is None and self.host:
            endpoint = custom_endpoint(self.host)
        analysis = self.analysis
        if analysis is None:
            request = request_for("POST", self.host, self.path, self.headers, self.body, endpoint,
                                  http_version=self.http_version)
            analysis = analyse_request(request, self.credentials, self.now)
        findings = self._findings(analysis)
        self._collect_hidden(analysis)
        self._header(analysis, findings)
        self._findings_section(findings)
        self._body_section(analysis)
        self._parts_section(analysis.form)
        self._policy_section(analysis.policy)
        self._conditions_section(analysis.conditions)
        self._signature_section(analysis, findings)
        return self._finish("\n".join(self.lines) + "\n")

    def _why_not_cos(self, cos_host: bool) -> str | None:
        if looks_like_cos_form(self.body):
            return None
        multipart = _is_multipart(self.content_type)
        if multipart and (self.diagnosis is not None or cos_host):
            return None
        if self.diagnosis is not None and any(
                isinstance(f, Mapping) and str(f.get("id", "")).startswith("MalformedPOSTRequest")
                for f in self.diagnosis.get("findings") or ()):
            return None
        if not multipart:
            return self._w("not_cos_type", content_type=_quote(self.content_type or self._w("none"), 80))
        return self._w("not_cos_fields")

    def _findings(self, analysis: Analysis) -> list[dict]:
        given = self.diagnosis.get("findings") if self.diagnosis is not None else None
        if isinstance(given, list):
            self.from_diagnosis = True
            return render_findings((f for f in given if isinstance(f, Mapping)), self.lang)
        return render_findings(diagnose(analysis, None, analysis.now, self.credentials).findings, self.lang)

    def _w(self, key: str, **values: object) -> str:
        """The view's words in its language."""
        return label("view", key, self.lang, **values)

    def _wq(self, key: str, **values: object) -> str:
        """The view's words as a YAML value (quoted: a sentence may hold ': ' or ' #')."""
        return _yaml_string(self._w(key, **values))

    def _wrap(self, prefix: str, text: object) -> None:
        """`prefix` + text as a double-quoted YAML string, folded at WRAP columns (continuations under
        the text: YAML reads each line break inside the quotes as the one space it replaced).
        Secrets are hidden first so that folding can never split one out of reach of `_finish`."""
        words = _yaml_string(self._hide(str(text)))
        lines = textwrap.wrap(words, width=max(WRAP - len(prefix), 40), break_long_words=False,
                              break_on_hyphens=False) or [""]
        self.lines.append(prefix + lines[0])
        self.lines.extend(" " * len(prefix) + line for line in lines[1:])

    def _finish(self, text: str) -> str:
        return self._hide(text)

    def _hide(self, text: str) -> str:
        """Last line of defence: no full signature, token or SecretKey, whatever path it took."""
        keys = self.credentials.secrets() if self.credentials is not None else ()
        return hide_values(text, self.hidden, keys)

    def _collect_hidden(self, analysis: Analysis) -> None:
        def add(value: object) -> None:
            if isinstance(value, str) and len(value) >= MIN_HIDDEN_LEN:
                self.hidden.add(value)

        form = analysis.form
        if form is not None:
            for f in form.fields:
                if f.lname in SENSITIVE_FIELDS:
                    inner = auth_secret_values(f.value)
                    for value in inner or [f.value]:     # an auth string's structure is no secret
                        add(value)
        policy = analysis.policy
        if policy is not None:
            for c in policy.conditions:
                if _sensitive(c.field):
                    add(c.value)

    # --- sections --------------------------------------------------------------------------

    def _header(self, analysis: Analysis, findings: list[dict]) -> None:
        out = self.lines
        endpoint = analysis.endpoint
        out.append("COS POST Object:")
        out.append(f"  host: {_quote(self.host) if self.host else self._wq('unknown')}")
        if endpoint is not None and endpoint.style != "custom":
            out.append(f"  bucket: {_quote(endpoint.bucket)}")
            out.append(f"  region: {_quote(endpoint.region)}")
        elif endpoint is not None:
            out.append(f"  bucket: {self._wq('custom_bucket')}")
        key = analysis.key
        out.append(f"  key: {_quote(key) if key is not None else self._wq('absent')}")
        out.append(f"  mode: {analysis.mode}")
        out.append(f"  checked_at: {format_iso8601(self.now)}   # "
                   + self._w("time_given" if self.now_given else "time_unknown"))
        errors = [f for f in findings if f.get("severity") == "error"]
        if errors:
            first = errors[0]
            # The YAML tag marks a failing verdict for mitmproxy 12's highlighting (a token of its own).
            self._wrap("  verdict: !error ", f"{first.get('id')}: {first.get('title', '')}")
        elif findings:
            out.append(f"  verdict: {self._wq('no_error')}")
        else:
            out.append(f"  verdict: {self._wq('no_findings')}")

    def _findings_section(self, findings: list[dict]) -> None:
        out = self.lines
        if not findings:
            out.append("findings: []")
            return
        source = self._w("from_addon" if self.from_diagnosis else "checked_here")
        out.append(f"findings:   # {self._w('findings_head', n=len(findings), source=source)}")
        for found in findings:
            severity = str(found.get("severity", "?"))
            mark = SEVERITY_MARK.get(severity, "-")
            out.append(f"  - {mark} {_oneline(severity.upper())}: {_plain_or_quoted(found.get('id'))}")
            self._wrap("    title: ", found.get("title", ""))
            # The cause says every fact the comment's facts line would: only the origin is added.
            origin = self._origin(found)
            if origin:
                self._wrap("    origin: ", origin)
            for name in ("cause", "fix", "doc"):
                if found.get(name):
                    self._wrap(f"    {name}: ", found[name])

    def _origin(self, found: Mapping) -> str:
        evidence = found.get("evidence")
        origin = evidence.get("policy_origin") if isinstance(evidence, Mapping) else None
        if not isinstance(origin, Mapping):
            return ""
        note = label_from("facts", "origin", self.lang, {k: origin.get(k) for k in ("method", "url", "time")})
        blame = {"server": "origin_server", "client": "origin_client"}.get(str(evidence.get("value_source")))
        return note + (("\uff1b" if self.lang == "zh" else "; ") + label("facts", blame, self.lang) if blame else "")

    def _body_section(self, analysis: Analysis) -> None:
        out = self.lines
        form = analysis.form
        out.append("body:")
        out.append(f"  size: {len(self.body)}")
        out.append(f"  content_type: {_quote(self.content_type) if self.content_type else self._wq('none')}")
        if form is None:
            return
        multipart = form.multipart
        if multipart.boundary is not None:
            out.append(f"  boundary: {_quote(multipart.boundary)}")
        out.append(f"  parts: {len(multipart.parts)}")
        out.append(f"  closing_delimiter: {'seen' if multipart.complete else 'MISSING'}")
        error = multipart.error
        if error is None:
            out.append("  well_formed: true")
        else:
            out.append("  well_formed: false")
            out.append("  malformed:")
            out.append(f"    reason: {_oneline(error.reason)}")
            out.append(f"    offset: {error.offset}")
            self._wrap("    meaning: ", derived("reason_text", {"reason": error.reason}, self.lang))
            detail = derived("malformation_text", {"detail": error.detail, **error.facts}, self.lang)
            if detail:
                self._wrap("    detail: ", detail)
            out.append(f"    bytes_there: {_yaml_string(_escaped(self.body[error.offset:error.offset + HEAD_BYTES]))}")
        if form.duplicates:
            dups = ", ".join(f"{_quote(name)}: {count}" for name, count in form.duplicates)
            out.append(f"  DUPLICATE_FIELDS: {{{dups}}}   # {self._w('duplicates')}")
        trailing = [n for n in form.after_file if n.lower() != FILE_FIELD]
        if trailing:
            out.append(f"  FIELDS_AFTER_FILE: [{', '.join(_quote(n) for n in trailing)}]"
                       f"   # {self._w('after_file')}")

    def _parts_section(self, form: UploadForm | None) -> None:
        out = self.lines
        if form is None or not form.multipart.parts:
            out.append("parts: []")
            return
        out.append(f"parts:   # {self._w('parts_head')}")
        values = {f.part.index: f for f in form.fields}
        seen: dict[str, int] = {}
        file_seen = False
        for part in form.multipart.parts[:MAX_PARTS_SHOWN]:
            name = part.name or ""
            lname = name.lower()
            seen[lname] = seen.get(lname, 0) + 1
            out.append(f"  - index: {part.index}")
            out.append(f"    name: {_quote(part.name) if part.name is not None else self._wq('none')}")
            out.append(f"    offsets: {{start: {part.start}, data_start: {part.data_start}, "
                       f"data_end: {part.data_end}}}")
            out.append(f"    size: {part.size}")
            if part.filename is not None:
                out.append(f"    filename: {_quote(part.filename)}")
            if part.content_type is not None:
                out.append(f"    content_type: {_quote(part.content_type)}")
            if lname == FILE_FIELD:
                self._file_summary(part)
            elif part.index in values:
                out.append(f"    value: {self._field_value(values[part.index].name, values[part.index].value)}")
            flags = []
            if seen[lname] > 1:
                flags.append(f"DUPLICATE ({self._w('copy', k=seen[lname], name=repr(name))})")
            if file_seen:
                flags.append("AFTER FILE")
            if flags:
                out.append(f"    flags: [{', '.join(_yaml_string(f) for f in flags)}]")
            if lname == FILE_FIELD:
                file_seen = True
        hidden = len(form.multipart.parts) - MAX_PARTS_SHOWN
        if hidden > 0:
            out.append(f"  # {self._w('more_parts', n=hidden)}")

    def _field_value(self, name: str, value: str) -> str:
        lname = name.lower()
        if lname == "policy":
            return self._wq("policy_value", n=len(value))
        if lname in SENSITIVE_FIELDS:
            return _quote(redact_field(name, value)) + f"   # {self._w('shortened')}"
        return _quote(value)

    def _file_summary(self, part: Part) -> None:
        data = memoryview(self.body)[part.data_start:part.data_end]
        self.lines.append(f"    head: {_yaml_string(_escaped(bytes(data[:HEAD_BYTES])))}"
                          + (f"   # {self._w('first_bytes', n=HEAD_BYTES)}" if part.size > HEAD_BYTES else ""))
        self.lines.append(f"    md5: {hashlib.md5(data).hexdigest()}")

    def _policy_section(self, policy: Policy | None) -> None:
        out = self.lines
        if policy is None:
            out.append(f"policy: {self._wq('no_policy')}")
            return
        out.append(f"policy:   # {self._w('policy_head', n=len(policy.raw))}")
        if policy.document is not None:
            lines = _pretty_json(_redacted_document(policy.document))
            for line in lines[:MAX_POLICY_LINES]:
                out.append("  " + line)
            if len(lines) > MAX_POLICY_LINES:
                out.append(f"  # {self._w('more_lines', n=len(lines) - MAX_POLICY_LINES)}")
        elif policy.raw:
            out.append(f"  raw: {_yaml_string(_escaped(policy.raw[:MAX_VALUE_CHARS]))}")
        if policy.problems:
            out.append("policy_problems:")
            for problem in policy.problems:
                where = f" {problem.where}" if problem.where else ""
                sentence = derived("problem_text", {"detail": problem.detail, **problem.facts}, self.lang)
                self._wrap(f"  - {_oneline(problem.kind)}{_oneline(where)}: ", sentence or problem.detail)
        if policy.expiration is not None:
            expiration = policy.expiration_unix
            if expiration is not None:
                left = expiration - self.now
                state = (self._w("expires_after", duration=duration(left, self.lang)) if left > 0
                         else "EXPIRED " + self._w("expired_before", duration=duration(left, self.lang)))
                out.append(f"expiration: {_quote(policy.expiration)}   # {state}")

    def _conditions_section(self, results: tuple[ConditionResult, ...]) -> None:
        out = self.lines
        if not results:
            return
        failed = sum(1 for r in results if not r.ok)
        out.append(f"conditions:   # {self._w('conditions_head', n=len(results), failed=failed)}")
        # A passing condition is one string, the condition and the reason in its comment; a failing
        # one is a mapping (FAIL: the condition, why: the reason): in mitmproxy 12's YAML
        # highlighting the two verdicts are different tokens, and request values stay in comments.
        for result in results:
            where = f"conditions[{result.condition.index}]"
            text = _oneline(self._condition_text(result))
            if result.ok:
                out.append(f"  - PASS {where}   # {text}: {_oneline(self._why(result))}")
            else:
                out.append(f"  - FAIL: {where}   # {text}")
                self._wrap("    why: ", self._why(result))

    def _condition_text(self, result: ConditionResult) -> str:
        text = result.condition.text
        if _sensitive(result.condition.field) and result.condition.value:
            text = text.replace(result.condition.value, shorten(result.condition.value) or "")
        return text

    def _why(self, result: ConditionResult) -> str:
        """The verdict's sentence (with its notes) in the view's language. The sentence quotes up to
        60 characters of both values: too much of a token, so sensitive values go in shortened."""
        actual, expected = result.actual, result.expected
        if _sensitive(result.field):
            actual = shorten(str(actual)) if actual is not None else None
            expected = shorten(expected) if expected else expected
        low, high = result.condition.range or (None, None)
        facts = {"why": result.why, "why_notes": list(result.notes), "actual": actual, "expected": expected,
                 "min": low, "max": high}
        return derived("verdict_text", facts, self.lang) or result.why

    def _signature_section(self, analysis: Analysis, findings: list[dict]) -> None:
        out = self.lines
        check: SignatureCheck | None = analysis.signature
        evidence = next((f.get("evidence") or {} for f in findings
                         if str(f.get("id", "")).startswith("SignatureDoesNotMatch")), None)
        if check is None and not evidence:
            out.append(f"signature: {self._wq('not_checked')}")
            return
        mode = check.mode if check else evidence.get("mode")
        verified = check.verified if check else bool(evidence.get("verified"))
        ok = check.ok if check else False
        mistake = check.mistake if check else evidence.get("mistake")
        expected = check.expected_signature if check else evidence.get("expected_signature")
        string_to_sign = check.string_to_sign if check else evidence.get("string_to_sign")
        if check is not None and not check.verified and isinstance(evidence, Mapping) and evidence.get("verified"):
            # The addon had the SecretKey (cos_credentials) and this view does not: use its result.
            verified, ok = True, False
            mistake = evidence.get("mistake")
            expected = evidence.get("expected_signature")
        out.append("signature:")
        out.append(f"  mode: {_oneline(mode)}")
        if string_to_sign:
            comment = self._w("sts_policy" if mode == "policy" else "sts_field")
            out.append(f"  string_to_sign: {_quote(string_to_sign)}   # {comment}")
        if check is not None and check.http_string:
            out.append(f"  http_string: {_quote(check.http_string)}")
        if not verified:
            state = "!error MALFORMED" if mistake else self._wq("not_verified")
            out.append(f"  verified: false   # {self._w('no_secret_key')}")
            out.append(f"  result: {state}")
        else:
            out.append("  verified: true")
            out.append(f"  result: {'OK' if ok else '!error MISMATCH'}")
        if expected and not ok:
            out.append(f"  expected_signature: {_quote(shorten(str(expected)))}   # {self._w('shortened')}")
        if mistake:
            out.append(f"  mistake: {_oneline(mistake)}")
            self._wrap("  mistake_text: ", derived("mistake_text", {"mistake": str(mistake)}, self.lang))


def _yaml_string(text: str) -> str:
    """A double-quoted YAML (and JSON) string: nothing in it can end the value or start a line."""
    return _oneline(json.dumps(text, ensure_ascii=False))


_PLAIN = re.compile(r"[A-Za-z0-9_.-]{1,200}")


def _plain_or_quoted(value: object) -> str:
    """An ID as it is when it is one (Warning_X), else quoted (a saved flow may carry anything)."""
    text = "" if value is None else str(value)
    return text if _PLAIN.fullmatch(text) else _yaml_string(text)


def _escaped(data: bytes) -> str:
    """Bytes as an escaped repr (b'...'): control characters and non-ASCII never reach the screen raw."""
    return repr(bytes(data))


def _pretty_json(value: object, indent: str = "", depth: int = 0) -> list[str]:
    """JSON with an indent of 2, but a list or object of scalars stays on one line (a condition)."""
    flat = json.dumps(value, ensure_ascii=False)
    containers = (value.values() if isinstance(value, dict)
                  else value if isinstance(value, list) else None)
    if (containers is None or not value or depth >= MAX_JSON_DEPTH
            or not any(isinstance(v, (dict, list)) for v in containers)):
        return [indent + flat]
    inner = indent + "  "
    opening, closing = ("{", "}") if isinstance(value, dict) else ("[", "]")
    items = list(value.items()) if isinstance(value, dict) else [(None, v) for v in value]
    lines = [indent + opening]
    for position, (key, item) in enumerate(items):
        sub = _pretty_json(item, inner, depth + 1)
        if key is not None:
            sub[0] = inner + json.dumps(key, ensure_ascii=False) + ": " + sub[0][len(inner):]
        if position < len(items) - 1:
            sub[-1] += ","
        lines.extend(sub)
    lines.append(indent + closing)
    return lines


def _redacted_document(document: object) -> object:
    """The policy document with the values of conditions on signature/token fields shortened."""
    doc = copy.deepcopy(document)
    conditions = doc.get("conditions") if isinstance(doc, dict) else None
    if not isinstance(conditions, list):
        return doc
    for i, condition in enumerate(conditions):
        if isinstance(condition, dict):
            for name, value in condition.items():
                if _sensitive(name) and isinstance(value, str):
                    condition[name] = shorten(value)
        elif (isinstance(condition, list) and len(condition) == 3 and _sensitive(condition[1])
              and isinstance(condition[2], str)):
            conditions[i] = [condition[0], condition[1], shorten(condition[2])]
    return doc
