"""Plot requests: what `pgcli plot` is asked to draw, checked against the results it reads.

Input is what the runner writes, read through pgcli.shell.results: a sweep directory (runs.csv and
the combined table), a run directory (config.yaml and its table), or one of those CSVs. Each table
is one kind's (pgcli.kinds): its record gives the default figure, axes, curves and the columns that
name rows. This module checks a request and picks the rows; pgcli.shell.curves aggregates runs into
curves and summaries, and pgcli.shell.draw draws (the only module importing matplotlib).

Curves across seeds (the convergence and variance figures)
-----------------------------------------------------------
Runs that share the --hue keys (default: every key that varies) are replicates of one curve, aligned
on x, smoothed and averaged as pgcli.shell.curves explains (no forward-fill past a run's last row).
``--stat iqm`` draws the interquartile mean instead, with its bootstrap band, and summarises
--table's final values by pgcli.shell.stats (``--stat mean``: the mean, likewise); the profile
figure (``--kind profile``) draws the fraction of each group's runs whose final y is above τ.

Estimate and Fisher tables
--------------------------
One curve per estimator (or per quantity: score_mean, fisher, neg_hessian; --hue to change). The
figure shows one slice: every other naming column (dist, f, param, …) keeps its first value
unless --select picks another, and `Plot.notes` says what was left out. Repeated seeds of the
same cell are averaged.

Metrics
-------
A table of one row per named thing (an estimator) drawn as one panel per metric (--y, comma-
separated): the metric's mean over seeds against a column that varies (--x: group_size), one
line per hue group; where x takes one value, one marker per group. One slice, as above.

Output is deterministic: fixed metadata and SVG hash salt, so the same CSV gives the same bytes.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import NamedTuple

import numpy as np

from pgcli import kinds
from pgcli.base import lazy
from pgcli.base.targets import reached
from pgcli.shell import results
from pgcli.shell.curves import CurveError, summary_table
from pgcli.shell.plan import value_text
from pgcli.shell.spec import get_dotted

pd = lazy.module("pandas")

FORMATS = ("png", "svg", "pdf")
X_AXES = ("env_steps", "iteration", "wall_s", "samples", "step")  # curves; a kind adds its own (PlotDefaults.x_axes)
BANDS = ("ci", "sd", "none")
STATS = ("iqm", "mean")  # --stat: pgcli.shell.stats.STATISTICS
LOG_METRICS = {"grad_var", "grad_snr", "grad_norm", "value_loss", "variance", "snr", "efficiency"}
LABELS = {
    "env_steps": "environment steps",
    "iteration": "iteration (policy updates)",
    "wall_s": "wall-clock time (s)",
    "episodes": "episodes (cumulative)",
    "samples": "samples drawn",
    "step": "step (θ updates)",
    "objective": "objective E[f(x)]",
    "return_mean": "mean episode return (batch)",
    "return_window": "mean return, recent episodes",
    "eval_return_mean": "evaluation return (mean)",
    "ep_len_mean": "mean episode length (steps)",
    "grad_norm": "gradient norm ‖ĝ‖",
    "grad_var": "gradient variance tr Cov(g_e) / E",
    "grad_snr": "gradient SNR ‖ĝ‖² / variance",
    "entropy": "policy entropy (nats)",
    "value_loss": "value-function loss (MSE)",
    "variance": "Var[ĝ] (one estimate from n samples)",
    "mse": "MSE of ĝ (one estimate from n samples)",
}


class Figure(NamedTuple):
    """A figure `plot --kind` can draw: the family of tables it draws (a kind draws the figures of
    its default figure's family), the columns it needs besides --x and --y, and the columns among
    them that hold text."""

    family: str  # curves (per-iteration tables) | estimator (the estimator lab's) | identities (the score
    # identities') | metrics (one row per named thing, a panel per metric)
    needs: tuple = ()
    text: tuple = ()


FIGURES = {
    "convergence": Figure("curves"),
    "variance": Figure("curves", ("grad_var", "grad_snr")),
    "estimator": Figure("estimator", ("estimator", "n_samples", "theta", "bias", "std_error"), ("estimator", "theta")),
    "identities": Figure("identities", ("quantity", "n_samples", "empirical", "exact", "abs_error"), ("quantity",)),
    "metrics": Figure("metrics"),
    "profile": Figure("curves"),
}
CURVES = ("convergence", "variance")  # the figures drawn against x


class PlotError(ValueError):
    """Bad input for a figure: a one-line message naming the problem."""


class Results(NamedTuple):
    """The rows of one or more results directories, read for a figure or a table."""

    kind: kinds.Kind | None  # whose table it is (None: cannot tell)
    frame: pd.DataFrame  # rows of every path, with `_run` numbering the runs
    keys: list[str]  # varying-key columns (`source` with several paths), seed excluded
    title: str
    source: str  # the path(s), for messages
    spec: dict  # the first path's first run's spec ({} when unknown)


class Plot(NamedTuple):
    """A validated request: the rows to draw and how."""

    figure: str
    frame: pd.DataFrame
    x: str | None
    y: str | None
    hue: list[str]
    title: str
    smooth: int
    band: str
    target: float | None
    notes: list[str]
    goal: tuple | None = None  # (metric, x, minimize): the kind's target, for --table
    axis_labels: dict | None = None  # column -> axis label (LABELS and the kind's own)
    stat: str | None = None  # iqm | mean: the aggregate of --table and the curves (None: the mean, as before)
    slices: tuple = ()  # ((column, (its values...)), ...): the columns narrowed to one value (one-slice figures)

    def label(self, column: str) -> str:
        """The axis label of a column."""
        return (self.axis_labels or LABELS).get(column, column)

    @property
    def ys(self) -> list[str]:
        """The metrics drawn: --y, comma-separated for the metrics figure."""
        return [y.strip() for y in (self.y or "").split(",") if y.strip()]


# ---------------------------------------------------------------------------------------------
# loading


def load(paths) -> Results:
    """Read one or more results directories / CSVs of the same kind into one frame.

    With several paths a `source` column (each path's experiment name) tells them apart and
    is a varying key."""
    paths = [Path(p) for p in paths]
    parts = [_load_one(p) for p in paths]
    table_kinds = {part.kind.name if part.kind else None for part in parts}
    if len(table_kinds) > 1:
        found = ", ".join(
            f"{p} ({part.kind.name if part.kind else 'unknown'})" for p, part in zip(paths, parts, strict=True)
        )
        raise PlotError(f"the paths hold different tables: {found}; plot one kind at a time")
    frames, keys = [], []
    for frame in (part.frame for part in parts):
        columns = list(frame.columns)
        if columns[0] == "run_id" and "seed" in columns:
            keys += [c for c in columns[1 : columns.index("seed")] if c not in keys]
        frames.append(frame)
    names = [part.name for part in parts]
    if len(parts) > 1:
        if len(set(names)) < len(names):
            names = [str(p) for p in paths]
        frames = [f.assign(source=name) for f, name in zip(frames, names, strict=True)]
        keys = ["source", *keys]
    frame = pd.concat(frames, ignore_index=True)
    replicate = ["source", "run_id"] if len(parts) > 1 else ["run_id"]
    frame["_run"] = frame.groupby(replicate, sort=False).ngroup()
    source = ", ".join(map(str, paths))
    return Results(parts[0].kind, frame, keys, " vs ".join(dict.fromkeys(names)), source, parts[0].spec)


def _load_one(path: Path) -> results.Loaded:
    """One path's results (pgcli.shell.results.load), a held-at-target column for curves."""
    try:
        loaded = results.load(path)
    except results.ResultsError as err:
        raise PlotError(str(err)) from None
    if loaded.kind is not None and loaded.kind.target is not None and loaded.kind.target.stops_at:
        loaded = loaded._replace(frame=_mark_held(loaded.frame, loaded.kind.target, loaded.spec))
    return loaded


def _mark_held(frame: pd.DataFrame, target: kinds.Target, spec: dict) -> pd.DataFrame:
    """`_held`: the run stopped because it reached the target it stops at (its last target metric
    is at the target), so a convergence curve holds its final value. The target is the run's
    column of that key when a sweep varies it, else the spec's."""
    if target.metric not in frame:
        return frame
    last = frame.groupby("run_id", sort=False).tail(1).set_index("run_id")
    column = target.stops_at.split(".")[-1]
    try:
        stops = last[column] if column in last else get_dotted(spec, target.stops_at)
    except (KeyError, TypeError):
        stops = None
    if stops is None:
        return frame.assign(_held=False)
    held = pd.Series(reached(last[target.metric], pd.to_numeric(stops, errors="coerce")), index=last.index)
    return frame.assign(_held=frame["run_id"].map(held).fillna(False).astype(bool))


# ---------------------------------------------------------------------------------------------
# validating a request


def _suggest(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"did you mean {close[0]!r}? " if close else ""


def parse_pairs(texts, option: str) -> list[tuple[str, str]]:
    """['lr=0.03', 'baseline=none'] -> [('lr', '0.03'), ('baseline', 'none')]."""
    pairs = []
    for text in texts:
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise PlotError(f"{option}: expected KEY=VALUE, got {text!r}")
        pairs.append((key.strip(), value.strip()))
    return pairs


def _matches(column: pd.Series, value: str) -> np.ndarray:
    """Rows whose value is `value`, as text ('none', 'True') or as a number (0.03 == 3e-2)."""
    hit = column.map(value_text).str.lower().to_numpy() == value.lower()
    try:
        number = float(value)
    except ValueError:
        return hit
    return hit | np.isclose(pd.to_numeric(column, errors="coerce"), number, rtol=1e-9, atol=0)


def _check_key(key, allowed, option):
    if key not in allowed:
        keys = ", ".join(allowed)
        raise PlotError(f"unknown {option} key {key!r}; {_suggest(key, allowed)}(keys: {keys})")


def _filter(frame, pairs, option, keep, allowed):
    """Rows matching any value given for a key, for every key (--select) or the rest (--exclude)."""
    by_key: dict[str, list[str]] = {}
    for key, value in pairs:
        _check_key(key, allowed, option)
        by_key.setdefault(key, []).append(value)
    for key, values in by_key.items():
        hit = np.logical_or.reduce([_matches(frame[key], v) for v in values])
        if keep and not hit.any():
            present = ", ".join(dict.fromkeys(frame[key].map(value_text)))
            raise PlotError(f"{option} {key}={'|'.join(values)} matches no rows ({key}: {present})")
        frame = frame[hit if keep else ~hit]
    if frame.empty:
        raise PlotError(f"{option} leaves no rows to plot")
    return frame


def _only(figure, allowed_for, **given):
    for option, value in given.items():
        if value is not None and figure not in allowed_for[option]:
            named = [" or ".join(f for f in allowed_for[option] if (f in CURVES) == curve) for curve in (True, False)]
            figures = " figure and the ".join(part for part in named if part)
            raise PlotError(f"--{option} applies to the {figures} figure, not {figure}")


def prepare(
    results: Results,
    figure: str | None = None,
    *,
    x: str | None = None,
    y: str | None = None,
    hue: str | None = None,
    select=(),
    exclude=(),
    smooth: int | None = None,
    band: str = "ci",
    target: float | None = None,
    title: str | None = None,
    stat: str | None = None,
) -> Plot:
    """Check a request against the table (PlotError naming the problem) and pick the rows.

    The figure defaults to the table's kind's; x and y to the kind's axes. Rows are filtered by
    --select and --exclude; curves are told apart by the --hue keys (default: the kind's, else
    every key that varies). Outside the curve figures one slice is drawn: a naming column with
    several values keeps its first (a note says which, and how to choose another).

    `stat` (iqm | mean) aggregates the runs of the curve figures' groups and --table's final values
    with pgcli.shell.stats; None keeps the mean and its percentile bootstrap (the default output)."""
    figure = _figure_of(results, figure)
    x, y = _axes(results, figure, x=x, y=y, smooth=smooth, target=target)
    blank = []
    if figure == "metrics":  # a metric without numbers (an exact column above the limit) is left out
        ys = [part.strip() for part in y.split(",")]
        blank = [c for c in ys if c in results.frame and results.frame[c].isna().all()]
        y = ",".join(c for c in ys if c not in blank) or y
    _check_columns(results, figure, x, y, band)
    _check_stat(figure, stat, band)
    defaults = results.kind.plot if results.kind is not None and results.kind.plot else None
    family = FIGURES[figure].family
    labels = defaults.labels if defaults and family != "curves" else ()
    frame = results.frame
    allowed = [*results.keys, "seed", *(c for c in labels if c in frame)]
    allowed = [c for c in dict.fromkeys(allowed) if c in frame]
    frame = _filter(frame, parse_pairs(select, "--select"), "--select", True, allowed)
    frame = _filter(frame, parse_pairs(exclude, "--exclude"), "--exclude", False, allowed)
    if hue:
        hue_keys = [h.strip() for h in hue.split(",") if h.strip()]
        for key in hue_keys:
            _check_key(key, allowed, "--hue")
    elif defaults and defaults.hue and family != "curves":
        hue_keys = [defaults.hue]
    else:
        hue_keys = [k for k in results.keys if frame[k].nunique(dropna=False) > 1]
    axes = (defaults.axes if defaults else ()) if family != "curves" else None
    if family == "metrics":
        axes = (x, *axes)
    frame, fixed, chosen, notes, slices = _one_slice(frame, axes, allowed, hue_keys)
    notes = [*(f"{c} has no numbers: left out" for c in blank), *notes]
    titled = defaults.title if defaults else ()
    shown = [f"{k}={v}" if k != "theta" else f"θ: {v}" for k, v in fixed.items() if k in titled or k in chosen]
    if title is None:
        title = results.title + (": " + "; ".join(shown) if shown else "")
    axis_labels = {**LABELS, **(defaults.axis_labels if defaults else {})}
    return Plot(
        figure,
        frame,
        x,
        y,
        hue_keys,
        title,
        smooth or 1,
        band,
        target,
        notes,
        _goal(results),
        axis_labels,
        stat,
        slices,
    )


def _goal(results: Results) -> tuple | None:
    """(metric, x, minimize) of the kind's target as the runs' spec sets it, or None."""
    target = results.kind.target if results.kind is not None else None
    if target is None:
        return None
    try:
        minimize = bool(target.minimize(results.spec))
    except (KeyError, TypeError):
        minimize = False
    return target.metric_for(results.spec), target.x, minimize


def _figure_of(loaded: Results, figure: str | None) -> str:
    """The figure asked for, or the default for the table's kind."""
    if figure is None and loaded.kind is not None and loaded.kind.plot is not None:
        figure = loaded.kind.plot.figure
    if figure is None:
        columns = [c for c in loaded.frame.columns if c != "_run"]
        shown = ", ".join(map(str, columns[:10])) + (f", … {len(columns) - 10:,} more" if len(columns) > 10 else "")
        raise PlotError(
            f"cannot tell what {loaded.source} holds (columns: {shown[:300]}); expected a "
            f"{', '.join(results.tables())} table, or choose one with --kind"
        )
    if figure not in FIGURES:
        raise PlotError(f"unknown figure {figure!r}; choose from {', '.join(FIGURES)}")
    return figure


def _axes(results: Results, figure: str, *, x, y, smooth, target) -> tuple[str | None, str | None]:
    """(x, y) of the figure: the options that apply to it, else its defaults for the table's kind."""
    allowed_for = {"x": (*CURVES, "metrics"), "smooth": (*CURVES, "profile"), "target": ("convergence", "profile"),
                   "y": ("convergence", "estimator", "metrics", "profile")}  # fmt: skip
    _only(figure, allowed_for, x=x, smooth=smooth, target=target, y=y)
    frame = results.frame
    defaults = results.kind.plot if results.kind is not None and results.kind.plot else kinds.PlotDefaults("", "")
    if figure in CURVES:
        x = x or defaults.x or "env_steps"
        axes = (*X_AXES, *defaults.x_axes)
        if x not in axes:
            raise PlotError(f"--x must be one of {', '.join(axes)}, got {x!r}")
    if figure in ("convergence", "profile") and y is None:
        y = defaults.y or "return_mean"
    elif figure in ("convergence", "profile") and y not in frame:
        metrics = [c for c in frame.select_dtypes("number") if c not in (*results.keys, "seed", "_run")]
        raise PlotError(f"unknown --y {y!r}; {_suggest(y, metrics)}(columns: {', '.join(metrics)})")
    if figure == "estimator":
        y = y or "variance"
        if y not in ("variance", "mse"):
            raise PlotError(f"--y for the estimator figure is variance or mse, got {y!r}")
    if figure == "metrics":
        x, y = _metrics_axes(results, x or defaults.x, y or defaults.y)
    return x, y


def _metrics_axes(results: Results, x: str | None, y: str | None) -> tuple[str, str]:
    """(x, y) of the metrics figure: x a column of the table, y one or more (comma-separated)."""
    frame = results.frame
    metrics = [c for c in frame.select_dtypes("number") if c not in (*results.keys, "seed", "_run")]
    if not x or not y:
        raise PlotError(f"the metrics figure needs --x (a column that varies) and --y (columns: {', '.join(metrics)})")
    if x not in frame:
        raise PlotError(f"unknown --x {x!r}; {_suggest(x, frame.columns)}(columns: {', '.join(map(str, frame))})")
    for name in (part.strip() for part in y.split(",")):
        if name not in frame:
            raise PlotError(f"unknown --y {name!r}; {_suggest(name, metrics)}(columns: {', '.join(metrics)})")
    return x, y


def _check_columns(results: Results, figure: str, x, y, band: str) -> None:
    """The table has the figure's columns, with numbers where numbers are drawn; the band is known."""
    frame = results.frame
    ys = [part.strip() for part in y.split(",")] if y and figure == "metrics" else [y]
    missing = [c for c in (*FIGURES[figure].needs, x, *ys) if c and c not in frame]
    if missing:
        raise PlotError(f"{results.source} lacks columns needed for the {figure} figure: {', '.join(missing)}")
    if band not in BANDS:
        raise PlotError(f"--band must be one of {', '.join(BANDS)}, got {band!r}")
    numeric = [c for c in (x, *ys, *FIGURES[figure].needs) if c and c not in FIGURES[figure].text]
    for column in numeric:
        if not pd.api.types.is_numeric_dtype(frame[column]) or frame[column].isna().all():
            raise PlotError(f"column {column!r} of {results.source} has no numbers to plot")


def _check_stat(figure: str, stat: str | None, band: str) -> None:
    if stat is None:
        return
    if stat not in STATS:
        raise PlotError(f"--stat must be one of {', '.join(STATS)}, got {stat!r}")
    if FIGURES[figure].family != "curves":
        raise PlotError(f"--stat aggregates runs drawn as curves, not the {figure} figure's rows")
    if stat != "mean" and band == "sd":
        raise PlotError(f"--band sd is the mean's; --stat {stat} draws its bootstrap interval (--band ci) or none")


def _one_slice(frame: pd.DataFrame, axes: tuple | None, allowed: list[str], hue_keys: list[str]):
    """(rows, {column: its value}, columns narrowed to their first value, notes, slices) of a table
    drawn one slice at a time (estimate, fisher): every naming column but the hue and the figure's
    `axes` keeps one value; `slices` lists each narrowed column with all its values. With axes
    None (curves) every row is kept."""
    notes, fixed, chosen, slices = [], {}, [], []
    if axes is None:
        return frame, fixed, chosen, notes, ()
    for column in allowed:
        if column in (*hue_keys, *axes, "seed"):
            continue
        values = list(dict.fromkeys(frame[column].map(value_text)))
        fixed[column] = values[0]
        if len(values) > 1:
            frame = frame[_matches(frame[column], values[0])]
            chosen.append(column)
            slices.append((column, tuple(values)))
            notes.append(
                f"plotting {column}={values[0]} (also: {', '.join(values[1:])}); choose with --select {column}=..."
            )
    return frame, fixed, chosen, notes, tuple(slices)


def summary(plot: Plot) -> pd.DataFrame:
    """summary_table of a prepared curves request: its groups, y, target and smoothing."""
    if FIGURES[plot.figure].family != "curves":
        raise PlotError(f"--table summarises runs drawn as curves, not the {plot.figure} figure's table")
    goal = plot.goal or ("return_window", "env_steps", False)
    try:
        return summary_table(plot.frame, plot.hue, plot.y or "return_mean", goal, plot.target, plot.smooth,
                             stat=plot.stat)  # fmt: skip
    except CurveError as err:
        raise PlotError(str(err)) from None


def lower_is_better(plot: Plot) -> bool:
    """Whether a lower y is better: y is the kind's target metric and the spec minimises it."""
    return bool(plot.goal is not None and plot.goal[2] and plot.y == plot.goal[0])


def default_out(path: str | Path, figure: str) -> Path:
    """<results dir>/<figure>.png, beside a CSV's parent when given a CSV."""
    path = Path(path)
    return (path if path.is_dir() else path.parent) / f"{figure}.png"


def figure_path(out: str | None, path: str | Path, plot: Plot, table_asked: bool) -> Path | str | None:
    """Where the figure goes: `out`; else default_out(path), unless a table is asked for (then only
    the table is made). PlotError when it is not a .png, .svg or .pdf file."""
    if out is None and not table_asked:
        out = default_out(path, plot.figure)
    if out is not None and Path(out).suffix.lower().lstrip(".") not in FORMATS:
        raise PlotError(f"--out must end in .png, .svg or .pdf, got {out}")
    return out
