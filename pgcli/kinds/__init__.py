"""The experiment kinds: each kind's spec schema and the functions that validate, run and summarise
it, in a registry that imports a kind's module only when the kind is first used.

    KINDS["estimate"].run(spec, progress)  ->  (table, info)      TABLES["train"] == "metrics.csv"
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import NamedTuple

import pandas as pd

from pgcli.base.progress import Progress, silent


class Kind(NamedTuple):
    """An experiment kind: its spec schema and the functions that validate, run and summarise it."""

    schema: dict
    validate: Callable[[dict], None]  # (spec) raises SpecError before anything runs
    run: Callable[[dict, Progress], tuple[pd.DataFrame, dict]]  # (spec, progress) -> (table, info)
    table: str  # file name of the per-run table
    summary: Callable[[pd.DataFrame, dict, dict], dict] | None  # (table, info, spec) -> runs.csv columns
    columns: Callable[[dict], tuple[list[str], list[str]]]  # (spec) -> (table, runs.csv summary) columns
    subject: Callable[[dict], str]  # (spec) -> what it is about: results/<kind>-<subject>/ for flags alone


# each kind's per-run table, known without importing the kind (plot reads tables by these names)
TABLES = {"estimate": "estimate.csv", "fisher": "fisher.csv", "train": "metrics.csv", "optimize": "optimize.csv"}


def _with_notes(run: Callable[[dict, Progress], tuple[pd.DataFrame, list[str]]]):
    """A lab run returning (table, notes) as a Kind's run, returning (table, {"notes": notes})."""

    def run_kind(spec: dict, progress: Progress = silent) -> tuple[pd.DataFrame, dict]:
        table, notes = run(spec, progress)
        return table, {"notes": notes}

    return run_kind


def _dist(spec: dict) -> str:
    """The distribution family a lab spec is about."""
    return spec["dist"]


def _estimate() -> Kind:
    from pgcli.lab import estimate

    columns = (estimate.COLUMNS, [])
    return Kind(estimate.SCHEMA, estimate.validate, _with_notes(estimate.run), TABLES["estimate"], None,
                lambda spec: columns, _dist)  # fmt: skip


def _fisher() -> Kind:
    from pgcli.lab import fisher

    columns = (fisher.COLUMNS, [])
    return Kind(fisher.SCHEMA, fisher.validate, _with_notes(fisher.run), TABLES["fisher"], None,
                lambda spec: columns, _dist)  # fmt: skip


def _train() -> Kind:
    from pgcli.rl import train

    return Kind(train.SCHEMA, train.validate, train.run, TABLES["train"], train.summary, train.output_columns,
                lambda spec: spec["env"]["id"])  # fmt: skip


def _optimize() -> Kind:
    from pgcli.lab import optimize

    return Kind(optimize.SCHEMA, optimize.validate, optimize.run, TABLES["optimize"], optimize.summary,
                optimize.output_columns, optimize.subject)  # fmt: skip


class Kinds(MutableMapping):
    """The experiment kinds by name, each built (its module imported) on first use: planning an
    estimate imports no gymnasium, and listing the kinds imports nothing. A kind may be set (tests
    replace one)."""

    def __init__(self, builders: dict[str, Callable[[], Kind]]):
        self.entries: dict[str, Kind | Callable[[], Kind]] = dict(builders)

    def __getitem__(self, name: str) -> Kind:
        entry = self.entries[name]
        if not isinstance(entry, Kind):
            entry = self.entries[name] = entry()
        return entry

    def __setitem__(self, name: str, kind: Kind) -> None:
        self.entries[name] = kind

    def __delitem__(self, name: str) -> None:
        del self.entries[name]

    def __contains__(self, name) -> bool:
        return name in self.entries

    def __iter__(self):
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)


KINDS = Kinds({"estimate": _estimate, "fisher": _fisher, "train": _train, "optimize": _optimize})
