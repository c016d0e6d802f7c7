"""Block mode (`cos_validate`): an upload COS would certainly reject is answered by the proxy, as COS would.

The doctor checks every COS upload before it goes upstream when `cos_validate` is `warn` or `block`
and hands the analysis here; in `block` mode a verdict whose COS answer is documented becomes a
local answer with COS's status, Code and Message, and the request never leaves. A browser upload
from another origin gets the CORS headers COS gave that origin (learned from COS's earlier answers
and preflights, `cosdoctor.findings.cors_memory`), so the page reads the diagnosis.
"""
from __future__ import annotations

from collections.abc import Callable

from mitmproxy import http

from cosaddons.adapter import host_of
from cosaddons.options import Option, check_choice, declare, startup_errors
from cosdoctor.findings.cors_memory import CorsMemory, local_answer_cors
from cosdoctor.findings.diagnose import block_answer
from cosdoctor.findings.request_checks import Analysis, UploadRequest
from cosdoctor.wire.headers import header_dict

MODES = ("off", "warn", "block")
LOCAL_KEY = "cos_local"          # flow.metadata: block mode answered this flow itself
OPTIONS = (Option("cos_validate", str, "off",
                  "Pre-flight check of COS POST uploads: off, warn (annotate and forward) or block "
                  "(answer a request COS would certainly reject locally, as COS would).", MODES),)


class CosBlock:
    name = "cosdoctor-block"

    def __init__(self, on_mode: Callable[[str], None] | None = None) -> None:
        self.mode = "off"
        self.on_mode = on_mode          # told the mode after every change (the doctor's pre-flight switch)
        self.cors = CorsMemory()

    @property
    def blocking(self) -> bool:
        return self.mode == "block"

    def load(self, loader) -> None:
        declare(loader, OPTIONS)

    @startup_errors
    def configure(self, updated: set[str]) -> None:
        if "cos_validate" in updated:
            self.mode = check_choice("cos_validate", MODES)
            if self.on_mode is not None:
                self.on_mode(self.mode)

    def answer(self, flow: http.HTTPFlow, analysis: Analysis) -> bool:
        """Answer `flow` locally when COS would certainly reject it. True when answered.

        Never for saved traffic, and never for a streamed upload (mitmproxy cannot answer a request
        whose body is still on its way)."""
        if not self.blocking or not flow.live or flow.response or flow.error or flow.request.stream:
            return False
        resource = f"{host_of(flow.request) or ''}/{analysis.key or ''}"
        local = block_answer(analysis, f"cosdoctor-{flow.id}", resource)
        if local is None:
            return False
        headers = {**local.headers, **local_answer_cors(self.cors, analysis)}
        flow.metadata[LOCAL_KEY] = True
        flow.response = http.Response.make(local.status, local.body, headers)
        return True

    def learn(self, request: UploadRequest, response: http.Response) -> None:
        """COS's own answer to a COS flow: remember the CORS headers it gave the request's origin."""
        if "origin" in request.headers:          # only browsers' cross-origin requests teach anything
            self.cors.learn(request.method, request.host, request.headers, response.status_code,
                            header_dict(response.data.headers.fields))
