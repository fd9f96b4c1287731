"""What both cores need from the spec system: the schema :class:`Field` and :class:`SpecError`.

An experiment kind declares its spec as a nested dict of Fields (kind, default, help, allowed
choices, a check); the shell (pgcli.shell.spec) resolves and coerces a user's YAML against it and
raises SpecError for a bad value. Living here, below both cores, they let the lab and the RL core
declare and validate their settings without importing the shell.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from typing import Any, NamedTuple


class SpecError(ValueError):
    """A bad spec value. str() is one line: 'path: what is wrong (what is allowed)'."""

    def __init__(self, path: str, message: str, extra: str = ""):
        self.path = path
        self.message = message
        self.extra = extra  # an optional extra of pgcli that would make the value valid
        super().__init__(f"{path}: {message}" if path else message)


class Field(NamedTuple):
    """One spec key: its kind (how a value is coerced), default, help text, allowed choices, a
    check returning a problem or None, whether null is allowed, and — for keys that may name user
    code (`f: module:function`, `env.id: module:Class`) — a function listing the MODULE:NAME
    references in a value, so the shell can check them (pgcli.base.usercode) before anything runs."""

    kind: str  # int | float | str | path | bool | function | ints | floats | strs (comma-split) | texts | functions | mapping | any
    default: Any
    help: str
    choices: tuple | None = None
    check: Callable[[Any], str | None] | None = None  # returns a problem, or None
    nullable: bool = False
    refs: Callable[[Any], list[str]] | None = None  # the user-code references in a value
    convert: Callable[[Any], Any] | None = None  # the coerced value in canonical form (SpecError if it has none)


def positive(value):
    """A Field check: value > 0."""
    return None if value > 0 else f"must be > 0, got {value}"


def non_negative(value):
    """A Field check: value ≥ 0."""
    return None if value >= 0 else f"must be ≥ 0, got {value}"


def all_positive(values):
    """A Field check: every value > 0."""
    bad = [v for v in values if not v > 0]
    return f"every value must be > 0, got {bad[0]}" if bad else None


def open_unit(value):
    """A Field check: 0 < value < 1."""
    return None if 0 < value < 1 else f"must be in (0, 1), got {value}"


def unit_interval(value):
    """A Field check: 0 ≤ value ≤ 1."""
    return None if 0 <= value <= 1 else f"must be in [0, 1], got {value}"


def between(lo, hi, *, above: bool = False):
    """A Field check: lo ≤ value ≤ hi (lo < value with `above`); for a list, every value."""

    def check(value):
        for v in value if isinstance(value, list) else [value]:
            if not ((v > lo) if above else (v >= lo)) or v > hi:
                return f"must be in {'(' if above else '['}{lo:g}, {hi:g}], got {v:g}"
        return None

    return check


def sizes(lo: int, hi: int, most: int):
    """A Field check of a list of sizes: at most `most` values, each in [lo, hi]."""
    inner = between(lo, hi)

    def check(values):
        if len(values) > most:
            return f"at most {most} values, got {len(values)}"
        return inner(values)

    return check


# the root seed every kind's spec has (one run's seed; `sweep.seeds` makes several runs)
SEED = Field("int", 0, "root seed", check=non_negative)


def typed(cls, values: dict):
    """The NamedTuple `cls` from a resolved spec mapping: each field from the key of its name, a field
    annotated with a NamedTuple type built the same way from its section (`algo.value`), so the cores
    take typed settings (`settings.optim.lr`), never spec dicts."""
    hints = typing.get_type_hints(cls)
    fields = {}
    for name in cls._fields:
        value, hint = values[name], hints.get(name)
        if isinstance(hint, type) and issubclass(hint, tuple) and hasattr(hint, "_fields"):
            value = typed(hint, value)
        fields[name] = value
    return cls(**fields)
