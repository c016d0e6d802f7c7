"""CosAudit (cos_fail_on): the exit status of an audit, which cannot pass by accident."""
from __future__ import annotations

import logging

import pytest
from mitmproxy import exceptions
from mitmproxy.test import taddons

from cosaddons.audit import FAILED_STATUS, NO_FLOWS_STATUS, CosAudit
from cosdoctor.findings.diagnose import Diagnosis


def diagnosis(*severities: str) -> Diagnosis:
    return Diagnosis(None, [{"id": f"X_{s}", "severity": s} for s in severities])


@pytest.fixture
def audit():
    return CosAudit()


@pytest.mark.parametrize("level, flows, status", [
    ("off", [], 0),
    ("off", [("error",)], 0),
    ("error", [(), ("warning",), ("info",)], 0),
    ("error", [("warning", "error")], FAILED_STATUS),
    ("warning", [("info",), ("warning",)], FAILED_STATUS),
    ("warning", [(), ("info",)], 0),
    ("error", [], NO_FLOWS_STATUS),
    ("warning", [], NO_FLOWS_STATUS),
])
def test_verdict(audit, level, flows, status):
    with taddons.context(audit) as tctx:
        tctx.configure(audit, cos_fail_on=level)
        for severities in flows:
            audit.count(diagnosis(*severities))
        assert audit.verdict() == status


def test_no_cos_flow_at_all_is_a_clear_line(audit, caplog):
    with taddons.context(audit) as tctx:
        tctx.configure(audit, cos_fail_on="error")
        with caplog.at_level(logging.WARNING):
            assert audit.verdict() == NO_FLOWS_STATUS
    (line,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert line.startswith("cosdoctor: cos_fail_on=error: no COS flow was seen in this run")


def test_failing_flows_are_counted_by_their_worst_finding(audit, caplog):
    with taddons.context(audit) as tctx:
        tctx.configure(audit, cos_fail_on="warning")
        for severities in [("info", "error"), ("warning",), ("info",), ()]:
            audit.count(diagnosis(*severities))
        with caplog.at_level(logging.WARNING):
            assert audit.verdict() == FAILED_STATUS
    assert audit.counts == {"error": 1, "warning": 1, "info": 1} and audit.flows == 4
    assert "cos_fail_on=warning: 2 flow(s) failed the audit" in caplog.text


def test_bad_level_is_refused(audit):
    with taddons.context(audit) as tctx:
        tctx.configure(audit)
        with pytest.raises(exceptions.OptionsError, match="cos_fail_on must be one of off, error, warning, not 'always'"):
            tctx.configure(audit, cos_fail_on="always")
