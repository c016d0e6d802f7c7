"""The commands `cos.diagnose` and `cos.report`, for the console (`:`) and mitmweb's command bar.

Both return their result as text, which the console and mitmweb's command pane show; it is also
logged at mitmproxy's ALERT level.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import mitmproxy.types
from mitmproxy import command, ctx, exceptions, flow, hooks, http
from mitmproxy.log import ALERT

from cosaddons.report import record_of, write_report


class CosCommands:
    name = "cosdoctor-commands"

    def __init__(self, doctor) -> None:
        self.doctor = doctor            # cosaddons.doctor.CosDoctor: recognises and diagnoses

    def _diagnosed(self, flows: Sequence[flow.Flow]):
        """(flow, fresh diagnosis) for the COS flows among `flows`."""
        for f in flows:
            if isinstance(f, http.HTTPFlow):
                diagnosis = self.doctor.rediagnose(f)
                if diagnosis is not None:
                    yield f, diagnosis

    @command.command("cos.diagnose")
    def diagnose(self, flows: Sequence[flow.Flow]) -> str:
        """Diagnose these flows again (e.g. after adding credentials) and update their annotations."""
        done = []
        for f, diagnosis in self._diagnosed(flows):
            self.doctor.annotate_flow(f, diagnosis)
            self.doctor.annotate_response(f, diagnosis)
            done.append(f)
        ctx.master.addons.trigger(hooks.UpdateHook(done))
        result = f"cos.diagnose: {len(done)} COS flow(s) diagnosed"
        logging.log(ALERT, result)
        return result

    @command.command("cos.report")
    def report(self, flows: Sequence[flow.Flow], path: mitmproxy.types.Path) -> str:
        """Write a report of these flows, replacing the file: a self-contained HTML page (.html) or JSON Lines."""
        records = [record_of(f, diagnosis, self.doctor.action_of(f), self.doctor.lang) for f, diagnosis in self._diagnosed(flows)]
        target = os.path.expanduser(str(path))
        try:
            kind = write_report(target, records, lang=self.doctor.lang)
        except OSError as exc:
            raise exceptions.CommandError(f"cos.report: cannot write {target}: {exc.strerror or exc}") from None
        result = f"cos.report: {len(records)} COS flow(s) written to {target} ({kind})"
        logging.log(ALERT, result)
        return result
