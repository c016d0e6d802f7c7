"""What COS told each origin about CORS, remembered so that block mode can answer a browser as COS would.

A page uploading from another origin only reads an answer that carries COS's CORS headers for it.
When block mode answers an upload itself, it copies the headers COS gave the same origin for the
same bucket: from COS's answer to an earlier upload (all of its Access-Control-* headers, or none
when COS sent none) or from a preflight for POST that COS allowed. When nothing is known, the
local answer carries none and the analysis gets a finding that says so: the rule is never invented.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

from cosdoctor.findings.cors import check_actual_response
from cosdoctor.findings.request_checks import Analysis

CAPACITY = 256                    # (bucket host, origin) pairs; the oldest is dropped
UNKNOWN_ID = "Info_LocalAnswerCORSUnknown"
_PREFIX = "access-control-"
# What a preflight says that also holds for the upload's own answer.
_FROM_PREFLIGHT = ("access-control-allow-origin", "access-control-allow-credentials",
                   "access-control-expose-headers")


class CorsMemory:
    """A bounded map (bucket host, origin) -> the CORS headers COS sent that origin."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self._known: OrderedDict[tuple[str, str], dict[str, str]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._known)

    def learn(self, method: str, host: str | None, request_headers: Mapping[str, str], status: int,
              response_headers: Mapping[str, str]) -> bool:
        """Remember COS's answer to a request (lower-cased header names). True when it taught something."""
        origin = request_headers.get("origin")
        if not origin or not host or not status:
            return False
        if method == "POST":
            headers = {k: v for k, v in response_headers.items() if k.startswith(_PREFIX)}
        elif method == "OPTIONS":
            asked = (request_headers.get("access-control-request-method") or "").strip().upper()
            if asked != "POST" or not 200 <= status < 300 or "access-control-allow-origin" not in response_headers:
                return False
            headers = {k: response_headers[k] for k in _FROM_PREFLIGHT if k in response_headers}
        else:
            return False
        key = (host.lower(), origin)
        self._known[key] = headers
        self._known.move_to_end(key)
        while len(self._known) > self.capacity:
            self._known.popitem(last=False)
        return True

    def headers_for(self, host: str | None, origin: str) -> dict[str, str] | None:
        """The headers COS gave `origin` on `host` (possibly none), or None when never seen."""
        known = self._known.get(((host or "").lower(), origin))
        return dict(known) if known is not None else None


def local_answer_cors(memory: CorsMemory, analysis: Analysis) -> dict[str, str]:
    """CORS headers for block mode's own answer to this request, named as COS writes them.

    A same-origin request, or one without Origin, needs none. A cross-origin one gets what COS gave
    that origin; when COS was never seen answering it, none, and `analysis` gets UNKNOWN_ID."""
    request = analysis.request
    origin = request.headers.get("origin")
    if origin is None or check_actual_response(request.headers, 0, {}) is None:
        return {}
    known = memory.headers_for(request.host, origin)
    if known is None:
        analysis.add(UNKNOWN_ID, {"origin": origin, "host": request.host})
        return {}
    return {"-".join(word.capitalize() for word in name.split("-")): value for name, value in known.items()}
