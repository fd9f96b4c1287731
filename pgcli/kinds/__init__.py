"""Experiment kinds: everything the shell knows about a kind, in one typed record per kind.

A kind is one module, ``pgcli/kinds/<name>.py``, whose ``KIND`` is a :class:`Kind` — its spec
schema, how one run runs and what it returns, the table it writes and that table's columns, the
per-run summary in runs.csv, the target a run may reach, plot defaults, what ``check`` may compare,
its command-line flags and what its command prints — plus one line in :data:`REGISTRY`. The shell
(command line, experiments, runner, results, plot, check, report, API) reads only these records: no
kind's name is written anywhere else (tests/shell/test_kinds.py greps for them).

    from pgcli import kinds
    kind = kinds.get("estimate")                  # imports pgcli.kinds.estimate on first use
    result = kind.run(spec, progress)             # Result(table, status, message, notes, files)
    kinds.register("tests.toy_kind")              # a kind defined elsewhere (a test, a plugin)

From Python, every kind is `pgcli.<name>(...)` (its flags as keywords; pgcli.shell.api.call) and a
kind may offer functions of its own (`pgcli.gradient`, the estimate kind's), each given the shell's
one way to build a spec: `build(kind, flags)`.

A kind module stays light to import (the command's --help reads its flags): its core is imported
inside ``run`` and ``validate``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

from pgcli.base.fields import SEED, Field
from pgcli.base.progress import Progress

if TYPE_CHECKING:
    import pandas as pd

    from pgcli.base.table import Table


class Result(NamedTuple):
    """What one run returns: its table (a DataFrame, or for a `light` kind a pgcli.base.table.Table),
    how it ended ('done', or 'diverged' with a one-line message saying why), notes for the user (an
    estimator skipped), and extra files (policy.npz)."""

    table: pd.DataFrame | Table
    status: str = "done"
    message: str = ""
    notes: tuple[str, ...] = ()
    files: dict[str, bytes] = {}  # noqa: RUF012 - a NamedTuple default, never mutated


class Target(NamedTuple):
    """How a run reaches a target (pgcli.base.targets): the column compared with it, the column
    that counts the work done until then (`<x>_to_target`), whether lower is better, the target
    at which a run stops by itself (its curve then holds its final value), if any, and — when the
    spec chooses the compared column — the function reading that choice from a spec."""

    metric: str  # return_window, objective
    x: str  # env_steps, samples
    minimize: Callable[[dict], bool] = lambda spec: False
    stops_at: str | None = None  # the spec key of a target the run stops at (stop.target_return)
    choose: Callable[[dict], str] | None = None  # spec -> the compared column (finetune's target.metric)

    def metric_for(self, spec: dict) -> str:
        """The column a spec's runs compare with a target: the spec's choice where the kind lets it
        choose (and the spec says), else `metric`."""
        if self.choose is None:
            return self.metric
        try:
            return self.choose(spec) or self.metric
        except (KeyError, TypeError):  # a bare CSV's spec is {}
            return self.metric


class PlotDefaults(NamedTuple):
    """How `pgcli plot` draws a kind's table unless told otherwise."""

    figure: str  # convergence | variance | estimator | identities | metrics (pgcli.shell.plot.FIGURES)
    signature: str  # a column only this kind's table has: tells a bare CSV's kind
    x: str | None = None  # curves: the x axis (env_steps, samples)
    y: str | None = None  # curves: the metric (return_mean, objective)
    hue: str | None = None  # one curve per value of this column (estimator, quantity); None: the varying keys
    labels: tuple[str, ...] = ()  # columns that name a row rather than measure it (--select, --hue)
    axes: tuple[str, ...] = ()  # naming columns a figure draws along, kept whole when one slice is drawn
    title: tuple[str, ...] = ()  # naming columns whose value the title always shows (θ, f)
    x_axes: tuple[str, ...] = ()  # curves: the kind's own columns --x may name besides the shared ones
    axis_labels: dict[str, str] = {}  # noqa: RUF012 - column -> axis label, for the kind's own columns


class Flag(NamedTuple):
    """A command-line option of a kind's command. It sets spec key `key` (dotted), or, with key
    None, is an output option the kind's `show` (or a Tool) reads (`--rank`).

    `type`: text | texts (repeatable) | int | count (an int in `bounds`) | positive (a float > 0) |
    flag | switch (`--a/--b`, None when not given) | choice (one of `names`). `names` is the registry
    a choice takes its values from, or whose names the help lists where it says {names}; it is read
    only when the command is built, so --help of another command imports nothing of it."""

    decls: tuple[str, ...]
    key: str | None
    help: str
    type: str = "text"
    names: Callable[[], Iterable[str]] | None = None
    metavar: str | None = None
    default: Any = None
    parse: Callable[[Any], Any] | None = None  # the flag's text as the spec value (θ text to a mapping)
    bounds: tuple | None = None  # count: (least, a function giving the most); positive: (least, most)

    @property
    def keyword(self) -> str:
        """The flag's Python name: its keyword in the API, its value in the command
        ('--target-se' -> target_se, '--minimize/--maximize' -> minimize)."""
        return self.decls[0].split("/")[0].lstrip("-").replace("-", "_")


class Shown(NamedTuple):
    """What a kind's command prints from: the resolved spec, runs.csv (its rows: `runs_table` or
    `runs.frame()` for a DataFrame), the combined table (read on demand, None when no run
    finished), the number of runs, and the output options' values."""

    spec: dict
    runs: Table
    table: Callable[[], pd.DataFrame | None]
    n_runs: int
    options: dict


class Tool(NamedTuple):
    """Something a kind's runs offer another command (`pgcli fisher --policy RUN`: the Fisher
    matrix of a trained policy): the command and its trigger option, its other options, the file
    it writes in the run directory, and `run(spec, files, options) -> (table, lines)` — files are
    the run's files (policy.npz), empty for a run not done (its initial state)."""

    command: str
    trigger: Flag
    flags: tuple[Flag, ...]
    table: str
    run: Callable[[dict, dict, dict], tuple[pd.DataFrame, str]]


class Kind(NamedTuple):
    """An experiment kind, as the shell sees it."""

    name: str  # the command (`pgcli estimate`) and the spec's `kind:`
    help: str  # the command's help: what it does, then `\\b` and examples
    schema: dict  # spec keys (nested dicts of Fields), without name, seed, sweep and expect
    subject: Callable[[dict], str]  # what a spec is about: results/<kind>-<subject>/ for flags alone
    validate: Callable[[dict], None]  # SpecError before anything runs (may import admitted user code)
    run: Callable[[dict, Progress], Result]  # one run of a resolved spec
    table: str  # the per-run table's file name
    columns: Callable[[dict], list[str]]  # that table's columns, known before it runs
    summary: Callable[[pd.DataFrame, dict], dict] | None = None  # (table, spec) -> runs.csv columns
    summary_columns: Callable[[dict], list[str]] = lambda spec: []
    budget: Callable[[dict], tuple[int, str]] | None = (
        None  # the most work a run does, and the unit its progress counts
    )
    wall_clock: tuple[str, ...] = ("wall_s",)  # columns that differ between identical runs
    target: Target | None = None
    plot: PlotDefaults | None = None
    planned: Callable[[dict], dict] = lambda spec: {}  # check: column -> the values the runs will produce
    flags: tuple[Flag, ...] = ()
    show: Callable[[Shown], str] | None = None  # what the command prints after its runs
    tools: tuple[Tool, ...] = ()
    api: tuple[str, ...] = ("spec",)  # positional parameters of pgcli.<name>(...): flags' keywords, or spec
    functions: dict[str, Callable] = {}  # noqa: RUF012 - API functions f(build, ...): pgcli.<function name>
    # run returns a pgcli.base.table.Table and summary reads one (Table.column), so the command line
    # runs the kind without importing pandas (half a second; more than a short training run)
    light: bool = False


NAME = Field("str", None, "results go to results/<name>/ (default: spec file name)", nullable=True)
MAX_TIMEOUT = 7 * 24 * 3600.0
TIMEOUT = Field(
    "float",
    None,
    "seconds a run may take before it is stopped and failed (it then runs in a process of its own)",
    nullable=True,
    check=lambda v: None if 0 < v <= MAX_TIMEOUT else f"must be in (0, {MAX_TIMEOUT:g}] seconds, got {v:g}",
)

# name -> the module defining KIND: one line per kind
REGISTRY = {
    "estimate": "pgcli.kinds.estimate",
    "fisher": "pgcli.kinds.fisher",
    "train": "pgcli.kinds.train",
    "optimize": "pgcli.kinds.optimize",
    "sequence": "pgcli.kinds.sequence",
    "finetune": "pgcli.kinds.finetune",
}
# command -> the kinds whose records offer it a Tool, so a command is built without importing every
# kind (`pgcli train` would import the lab's, and SciPy with them); `get` refuses a kind whose tools
# are not listed here, and `register` lists those of a kind it adds
TOOLS = {"fisher": ["train"]}
_LOADED: dict[str, Kind] = {}


def get(name: str) -> Kind:
    """The kind called `name`, its module imported on first use (KeyError for an unknown name)."""
    if name not in _LOADED:
        kind = importlib.import_module(REGISTRY[name]).KIND
        if kind.name != name:
            raise ValueError(f"{REGISTRY[name]} defines kind {kind.name!r}, registered as {name!r}")
        for tool in kind.tools:
            if name not in TOOLS.get(tool.command, ()):
                raise ValueError(f"{REGISTRY[name]} offers `{tool.command}` a tool: list it in kinds.TOOLS")
        _LOADED[name] = kind
    return _LOADED[name]


def offering(command: str) -> list[tuple[Kind, Tool]]:
    """The tools (kind, tool) that kinds offer a command (`fisher --policy`: the train kind's)."""
    return [(kind, tool) for kind in map(get, TOOLS.get(command, ())) for tool in kind.tools if tool.command == command]


def names() -> list[str]:
    """The registered kinds, in registry order."""
    return list(REGISTRY)


def register(module: str) -> Kind:
    """Add the kind a module defines (its KIND) to the registry; returns it."""
    kind = importlib.import_module(module).KIND
    REGISTRY[kind.name] = module
    _LOADED[kind.name] = kind
    for tool in kind.tools:
        offered = TOOLS.setdefault(tool.command, [])
        offered += [kind.name] if kind.name not in offered else []
    return kind


def schema(kind: Kind) -> dict:
    """A kind's spec schema as a spec file holds it: `kind`, `name`, its own keys, `seed` and
    `timeout` (the shell adds `sweep` and `expect`, which every spec may carry)."""
    own = {"kind": Field("str", kind.name, "experiment kind", choices=(kind.name,)), "name": NAME}
    return {**own, **kind.schema, "seed": SEED, "timeout": TIMEOUT}


def runs_table(runs: pd.DataFrame | Table, columns: list[str], digits: int, drop_empty: bool = False) -> str:
    """The `columns` of runs.csv that it has (and, with drop_empty, that are not all empty), as text
    (runs.csv's rows as a Table are printed without pandas, exactly as pandas prints them)."""
    from pgcli.base.table import Table, missing

    def float_format(v):
        return f"{v:.{digits}g}"

    if isinstance(runs, Table):
        kept = [c for c in columns if c in runs.columns]
        if drop_empty:
            kept = [c for c in kept if not all(missing(row.get(c)) for row in runs.rows)]
        text = Table(kept, runs.rows).text(float_format)
        if text is not None:
            return text
        runs = runs.frame()
    shown = runs[[c for c in columns if c in runs]]
    if drop_empty:
        shown = shown.dropna(axis=1, how="all")  # e.g. no optimum known
    return shown.to_string(index=False, float_format=float_format)


def wall_clock() -> set[str]:
    """Every registered kind's wall-clock columns (and runs.csv's wall_s and the to-target time):
    the columns left out wherever identical runs must give identical bytes."""
    columns = {"wall_s", "wall_s_to_target"}
    for name in names():
        columns.update(get(name).wall_clock)
    return columns
