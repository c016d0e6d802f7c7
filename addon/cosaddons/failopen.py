"""Fail open: a bug in the COS doctor never breaks a user's flow.

Every flow hook is wrapped (`fail_open`), and so is every feature the hook drives (`ErrorLog.guard`):
an exception is caught, counted, and logged once per hook (or feature) and minute with the flow's
id and no secret in it; the flow goes on as if the addon were not there.
"""
from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterable

from cosdoctor.cos.secrets import scrub

logger = logging.getLogger("cosdoctor")

ERROR_LOG_INTERVAL = 60.0       # seconds between two log lines about the same failing hook


class ErrorLog:
    """Internal errors of one addon tree. `secrets` gives the SecretKeys to scrub from messages."""

    def __init__(self, secrets: Callable[[], Iterable[str]] = tuple, interval: float = ERROR_LOG_INTERVAL) -> None:
        self.secrets = secrets
        self.interval = interval
        self.count = 0
        self._last: dict[str, tuple[float, int]] = {}     # where -> (last logged, suppressed since)

    def report(self, where: str, flow_id: str, exc: BaseException) -> None:
        self.count += 1
        now = time.monotonic()
        last, suppressed = self._last.get(where, (None, 0))
        if last is not None and now - last < self.interval:
            self._last[where] = (last, suppressed + 1)
            return
        self._last[where] = (now, 0)
        more = f" ({suppressed} more since the last report)" if suppressed else ""
        try:
            message = scrub(f"{type(exc).__name__}: {exc}", tuple(self.secrets()))
        except Exception:  # noqa: BLE001 - never let the report itself fail
            message = type(exc).__name__
        logger.error(f"cosdoctor: internal error in {where} (flow {flow_id}): {message}; "
                     f"the flow continues undiagnosed{more}")

    def guard(self, where: str, flow, action: Callable, *args):
        """action(*args), or None when it raised (then reported as an error in `where`)."""
        try:
            return action(*args)
        except Exception as exc:  # noqa: BLE001 - this is the fail-open boundary
            self.report(where, getattr(flow, "id", "-"), exc)
            return None


def fail_open(hook: Callable) -> Callable:
    """For a flow hook of an addon with an `errors` ErrorLog: never raises."""
    where = hook.__name__

    @functools.wraps(hook)
    def wrapper(self, flow):
        try:
            return hook(self, flow)
        except Exception as exc:  # noqa: BLE001 - this is the fail-open boundary
            self.errors.report(where, getattr(flow, "id", "-"), exc)
            return None
    return wrapper
