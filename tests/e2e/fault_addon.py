"""Test-only addon: make one stage of the COS addon raise, to prove the addon fails open.

Loaded after addon/cos_addon.py: `-s tests/e2e/fault_addon.py --set cos_fault=<stage>`.
"""
from __future__ import annotations

from mitmproxy import ctx

# stage -> (the doctor's feature holding the method, "" for the doctor itself; the method to break)
STAGES = {
    "requestheaders": ("", "requestheaders"),    # a hook: its inner work (the stream tee) breaks
    "classify": ("", "classify"),
    "analyse": ("", "analyse"),
    "diagnose": ("", "diagnose_flow"),
    "annotate": ("", "annotate_flow"),
    "origins": ("", "remember_origin"),          # non-COS responses: the signing-endpoint memory
    "block": ("block", "answer"),                # needs cos_validate=block
    "audit": ("audit", "count"),
    "report": ("report", "write"),
}


class InjectFault:
    def load(self, loader):
        loader.add_option("cos_fault", str, "", "Stage of the COS addon to break: " + ", ".join(STAGES))

    def running(self):
        stage = ctx.options.cos_fault
        if not stage:
            return

        def broken(*args, **kwargs):
            raise RuntimeError(f"injected fault in {stage}")

        if stage == "requestheaders":
            import cosdoctor.wire.stream as stream_module
            stream_module.StreamTee.__init__ = lambda self, *a, **k: broken()
            return
        doctor = ctx.master.addons.get("cosdoctor")
        feature, method = STAGES[stage]
        target = getattr(doctor, feature) if feature else doctor
        assert callable(getattr(target, method))
        setattr(target, method, broken)


addons = [InjectFault()]
