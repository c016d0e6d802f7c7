"""Test-only addon: make one stage of the COS addon raise, to prove the addon fails open.

Loaded after addon/cos_addon.py: `-s tests/e2e/fault_addon.py --set cos_fault=<stage>`.
"""
from __future__ import annotations

from mitmproxy import ctx

STAGES = {
    "requestheaders": "requestheaders",     # method name on the addon to break
    "classify": "classify",
    "analyse": "analyse",
    "diagnose": "diagnose_flow",
    "annotate": "annotate_flow",
    "report": "record_of",
}


class InjectFault:
    def load(self, loader):
        loader.add_option("cos_fault", str, "", "Stage of the COS addon to break: " + ", ".join(STAGES))

    def running(self):
        stage = ctx.options.cos_fault
        if not stage:
            return
        target = ctx.master.addons.get("cosdoctor")
        method = STAGES[stage]
        original = getattr(target, method)

        def broken(*args, **kwargs):
            raise RuntimeError(f"injected fault in {stage}")

        # requestheaders is a hook: wrap the inner work, keep the fail-open wrapper in place.
        if stage == "requestheaders":
            import cosdoctor.wire.stream as stream_module
            stream_module.StreamTee.__init__ = lambda self, *a, **k: broken()
            return
        setattr(target, method, broken)
        assert original is not None


addons = [InjectFault()]
