"""The audit's exit status (`cos_fail_on`), for offline audits in CI: `mitmdump -nr capture -s … --set cos_fail_on=error`.

The doctor counts every diagnosed COS flow here. At shutdown, with cos_fail_on set, mitmdump exits 1
when a COS flow had a finding of that severity or worse, and 2 when the run saw no COS flow at all
(an empty or wrong capture must not pass by accident).
"""
from __future__ import annotations

import atexit
import logging
import os
import sys

from cosaddons.options import Option, check_choice, declare, startup_errors
from cosdoctor.findings.catalogue import SEVERITIES
from cosdoctor.findings.diagnose import Diagnosis

logger = logging.getLogger("cosdoctor")

LEVELS = ("off", "error", "warning")
FAILED_STATUS = 1
NO_FLOWS_STATUS = 2
OPTIONS = (Option("cos_fail_on", str, "off",
                  "Exit non-zero at shutdown when a COS flow had a finding of this severity or worse "
                  "(status 1), or when no COS flow was seen at all (status 2): off, error or warning "
                  "(for offline audits in CI: mitmdump -nr ...).", LEVELS),)


class CosAudit:
    name = "cosdoctor-audit"

    def __init__(self) -> None:
        self.fail_on = "off"
        self.flows = 0
        self.counts = dict.fromkeys(SEVERITIES, 0)      # flows by their worst finding

    def load(self, loader) -> None:
        declare(loader, OPTIONS)

    @startup_errors
    def configure(self, updated: set[str]) -> None:
        if "cos_fail_on" in updated:
            self.fail_on = check_choice("cos_fail_on", LEVELS)

    def count(self, diagnosis: Diagnosis) -> None:
        self.flows += 1
        severities = {f["severity"] for f in diagnosis.findings}
        for severity in SEVERITIES:
            if severity in severities:
                self.counts[severity] += 1
                break

    @property
    def failing(self) -> int:
        """Flows that fail the audit at the cos_fail_on level."""
        if self.fail_on == "error":
            return self.counts["error"]
        if self.fail_on == "warning":
            return self.counts["error"] + self.counts["warning"]
        return 0

    def verdict(self) -> int:
        """The exit status the audit asks for (0: passed or off), with its line logged."""
        if self.fail_on == "off":
            return 0
        if self.flows == 0:
            logger.warning(f"cosdoctor: cos_fail_on={self.fail_on}: no COS flow was seen in this run "
                         "(an empty capture, or none of it is COS traffic): the audit fails")
            return NO_FLOWS_STATUS
        if self.failing:
            logger.warning(f"cosdoctor: cos_fail_on={self.fail_on}: {self.failing} flow(s) failed the audit")
            return FAILED_STATUS
        return 0

    def done(self) -> None:
        status = self.verdict()
        if status:
            # mitmproxy returns 0 whatever an addon says; exit codes are set after every other
            # addon's `done` (so -w files are complete), when the interpreter exits.
            atexit.register(exit_with_status, status)


def exit_with_status(status: int) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
