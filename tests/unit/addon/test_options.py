"""Options as mitmproxy users expect them: choices shown, every bad value one clear line, no traceback."""
from __future__ import annotations

import io
import logging
from collections.abc import Sequence

import pytest
from mitmproxy import exceptions, optmanager
from mitmproxy.test import taddons

from cosaddons.doctor import CosDoctor
from cosaddons.options import Option, check_choice, declare, startup_errors

OPTIONS = (Option("cos_t_flag", bool, True, "A flag."),
           Option("cos_t_mode", str, "a", "A mode.", ("a", "b")),
           Option("cos_t_list", Sequence[str], [], "A list."),
           Option("cos_t_text", str, "", "Some text."))


class Probe:
    """An addon declaring its options the COS doctor's way."""

    def __init__(self) -> None:
        self.seen: list[set[str]] = []

    def load(self, loader) -> None:
        declare(loader, OPTIONS)

    @startup_errors
    def configure(self, updated: set[str]) -> None:
        self.seen.append(set(updated))
        if "cos_t_mode" in updated:
            check_choice("cos_t_mode", ("a", "b"))


def load_with(*specs: str):
    """Load Probe as a script would be: its --set values were given before it existed."""
    context = taddons.context()
    tctx = context.__enter__()
    tctx.options.set(*specs, defer=True)
    probe = Probe()
    tctx.master.addons.add(probe)
    return context, tctx, probe


@pytest.mark.parametrize("specs, message", [
    (["cos_t_flag=maybe"], "cosdoctor: cos_t_flag must be true or false, not 'maybe'"),
    (["cos_t_mode"], "cosdoctor: cos_t_mode must be one of a, b, no value given"),
    (["cos_t_text"], "cosdoctor: cos_t_text needs a value: --set cos_t_text=..."),
])
def test_a_value_mitmproxy_cannot_parse_is_one_error_line_and_the_addon_still_loads(caplog, specs, message):
    with caplog.at_level(logging.ERROR):
        context, tctx, probe = load_with(*specs)
    try:
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == [message]
        assert tctx.master.addons.get("probe") is probe       # loaded: mitmproxy's start-up check stops it
        assert not tctx.options.deferred
    finally:
        context.__exit__(None, None, None)


def test_good_values_given_before_load_are_applied():
    context, tctx, _ = load_with("cos_t_flag=false", "cos_t_list=a", "cos_t_list=b", "cos_t_mode=b")
    try:
        assert (tctx.options.cos_t_flag, tctx.options.cos_t_list, tctx.options.cos_t_mode) == (False, ["a", "b"], "b")
    finally:
        context.__exit__(None, None, None)


def test_a_bare_flag_means_true():
    context, tctx, _ = load_with("cos_t_flag=false")
    try:
        tctx.options.set("cos_t_flag")
        assert tctx.options.cos_t_flag is True
    finally:
        context.__exit__(None, None, None)


def test_bad_choice_at_start_up_is_one_error_line(caplog):
    probe = Probe()
    with taddons.context(probe) as tctx:
        with caplog.at_level(logging.ERROR):
            tctx.configure(probe, cos_t_mode="c")
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == [
        "cosdoctor: cos_t_mode must be one of a, b, not 'c'"]


def test_bad_choice_later_is_refused_and_rolled_back():
    probe = Probe()
    with taddons.context(probe) as tctx:
        tctx.configure(probe)                       # start-up
        with pytest.raises(exceptions.OptionsError, match="cos_t_mode must be one of a, b, not 'z'"):
            tctx.configure(probe, cos_t_mode="z")
        assert tctx.options.cos_t_mode == "a"


@pytest.mark.parametrize("option, values", [("cos_validate", "'off', 'warn', 'block'"),
                                            ("cos_lang", "'en', 'ko', 'zh'"),
                                            ("cos_fail_on", "'off', 'error', 'warning'")])
def test_the_help_lists_the_choices(option, values):
    doctor = CosDoctor()
    with taddons.context(doctor) as tctx:
        out = io.StringIO()
        optmanager.dump_defaults(tctx.options, out)
    text = " ".join(out.getvalue().replace("#", " ").split())
    block = text[text.index(f"{option}:") - 400:text.index(f"{option}:")]
    assert f"Valid values are {values}." in block
