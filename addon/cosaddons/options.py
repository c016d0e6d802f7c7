"""Options the way mitmproxy users expect them, and a bad value as one clear line.

mitmproxy declares an addon's options in `load`, parses `--set` values for them right after, and
validates nothing but the type. Three things go wrong without help, and this module fixes them:

* a `--set` value mitmproxy cannot parse for its type (`cos_annotate=maybe`, a bare `--set cos_lang`)
  raises out of the script loader, and the whole script silently does not load: `declare` parses
  our own values while the addon loads, so such a value is one error line (and mitmdump exits 1);
* `choices` are shown (help, mitmweb's option editor) but not enforced: `check_choice` does it;
* an OptionsError raised while a script loads is printed with a traceback: `startup_errors` makes
  it one line at start-up; later (console, mitmweb) it is raised, and mitmproxy rolls the change back.
"""
from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mitmproxy import ctx, exceptions

logger = logging.getLogger("cosdoctor")


@dataclass(frozen=True)
class Option:
    name: str
    typespec: Any
    default: Any
    help: str
    choices: Sequence[str] | None = None


def declare(loader, options: Sequence[Option]) -> None:
    """Add `options` and apply their pending `--set` values now, each bad one as one error line."""
    for option in options:
        loader.add_option(option.name, option.typespec, option.default, option.help,
                          list(option.choices) if option.choices else None)
    manager = getattr(getattr(loader, "master", None), "options", None)
    deferred = getattr(manager, "deferred", None)
    if not isinstance(deferred, dict):
        return
    for option in options:
        values = getattr(deferred.get(option.name), "val", None)   # the strings given to --set
        if not isinstance(values, list):
            continue
        del deferred[option.name]
        try:
            manager.set(*([f"{option.name}={v}" for v in values] or [option.name]))
        except exceptions.OptionsError as exc:
            logger.error(f"cosdoctor: {bad_value(option, values, exc)}")


def bad_value(option: Option, values: Sequence[str], exc: Exception) -> str:
    """The one line for a `--set` value mitmproxy could not parse."""
    given = f"not {values[0]!r}" if values else "no value given"
    if option.typespec is bool:
        return f"{option.name} must be true or false, {given}"
    if option.choices:
        return f"{option.name} must be one of {', '.join(option.choices)}, {given}"
    if not values:
        return f"{option.name} needs a value: --set {option.name}=..."
    return f"{option.name}: {exc}"


def check_choice(name: str, choices: Sequence[str]) -> str:
    """The option's value, or an OptionsError naming the values it may take."""
    value = getattr(ctx.options, name)
    if value not in choices:
        raise exceptions.OptionsError(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


def startup_errors(configure: Callable) -> Callable:
    """For an addon's configure: the first call (the start-up one) logs an OptionsError as one line
    instead of raising it; mitmproxy's start-up check then stops mitmdump with exit status 1."""
    @functools.wraps(configure)
    def wrapper(self, updated: set[str]) -> None:
        first = not getattr(self, "_configured_once", False)
        self._configured_once = True
        try:
            configure(self, updated)
        except exceptions.OptionsError as exc:
            if not first:
                raise
            logger.error(f"cosdoctor: {exc}")
    return wrapper

