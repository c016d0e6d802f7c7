"""Cheaper construction of the frozen result records the hot path builds for every upload.

Why: a frozen dataclass's __init__ sets every field through object.__setattr__, which for a small
form part costs more than parsing it. Every COS upload the proxy sees builds a few dozen records.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields, make_dataclass
from typing import TypeVar

_T = TypeVar("_T")


def fast_constructor(cls: type[_T]) -> Callable[..., _T]:
    """A constructor for the frozen, slotted dataclass `cls`, about three times cheaper than `cls(...)`.

    It builds a mutable twin with the same slots in the same order (plain slot stores), then
    switches the instance's __class__ to `cls`: the result is indistinguishable from `cls(...)`
    (type, fields, equality, hash, frozenness). Python refuses the __class__ switch if the layouts
    ever differ, so this cannot go wrong silently. Every field must be passed (no defaults).
    """
    def __post_init__(self: object) -> None:
        self.__class__ = cls

    return make_dataclass(f"_{cls.__name__}Draft", [(f.name, f.type) for f in fields(cls)],
                          namespace={"__post_init__": __post_init__},
                          slots=True, eq=False, repr=False, match_args=False)
