"""Figures from pgcli's tidy CSVs: convergence, gradient variance, estimators, Fisher.

Input is what the runner writes: a sweep directory (runs.csv and the concatenated table), a run
directory (config.yaml and its table), or one of those CSVs. A concatenated table starts with
run_id, the varying keys, seed; the rest are the kind's COLUMNS (extra columns are ignored).

Curves across seeds (the convergence and variance figures)
-----------------------------------------------------------
Runs that share the --hue keys (default: every key that varies) are replicates of one curve; any
other varying key is pooled with the seeds. Each run's (x, y) is

1. stripped of blank y (``eval_return_mean`` is blank between evaluations),
2. smoothed by a trailing mean over its last K rows (``--smooth K``),
3. linearly interpolated onto the group's grid — the union of its runs' x values (at most
   ``MAX_POINTS``, else that many evenly spaced) — **only within the run's own x range**.

So seeds whose env_steps differ at the same iteration are compared at equal x, and a run that
stopped early (target reached, diverged) counts up to its last row and not after: no
forward-fill. At each x the curve is the mean ȳ over the n runs with data there (``n_runs``); the
band is the 95% percentile bootstrap interval of ȳ (``--band ci``, resampling runs, fixed seed)
or ȳ ± one standard deviation across runs (``--band sd``); there is no band where n = 1.

Estimate and Fisher tables
--------------------------
One curve per estimator (or per quantity: score_mean, fisher, neg_hessian; --hue to change). The
figure shows one slice: every other naming column (dist, f, param, …) keeps its first value
unless --select picks another, and `Plot.notes` says what was left out. Repeated seeds of the
same cell are averaged.

Output is deterministic: fixed metadata and SVG hash salt, so the same CSV gives the same bytes.
"""

from __future__ import annotations

import difflib
import io
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.ticker import EngFormatter

from pgcli import kinds
from pgcli.base.targets import METRIC, first_reached, reached
from pgcli.lab.dist_spec import parse_theta_text
from pgcli.shell import atomic, runner
from pgcli.shell.spec import SpecError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

matplotlib.use("Agg")

N_BOOT = 2000
BOOT_SEED = 20261126
MAX_POINTS = 400
FORMATS = ("png", "svg", "pdf")
X_AXES = ("env_steps", "iteration", "wall_s", "samples", "step")
# per-iteration tables draw curves: train (metrics.csv) and optimize (optimize.csv)
DEFAULT_X = {"train": "env_steps", "optimize": "samples"}
DEFAULT_Y = {"train": "return_mean", "optimize": "objective"}
BANDS = ("ci", "sd", "none")
TABLES = {table: kind for kind, table in kinds.TABLES.items()}
SIGNATURE = {"train": "iteration", "optimize": "objective", "estimate": "estimator", "fisher": "quantity"}
# columns that name a row (selectable, hue candidates) rather than measure something
LABEL_COLUMNS = {
    "train": (),
    "estimate": ("dist", "parametrisation", "f", "param", "estimator", "theta", "n_samples"),
    "fisher": ("dist", "parametrisation", "theta", "quantity", "row", "col", "n_samples"),
}
DEFAULT_HUE = {"estimate": "estimator", "fisher": "quantity"}
TEXT_COLUMNS = {"estimator", "theta", "quantity"}
LOG_METRICS = {"grad_var", "grad_snr", "grad_norm", "value_loss"}
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


class PlotError(ValueError):
    """Bad input for a figure: a one-line message naming the problem."""


class Results(NamedTuple):
    """The rows of one or more results directories, read for a figure or a table."""

    kind: str | None  # the table it holds: train, estimate, fisher (None: cannot tell)
    frame: pd.DataFrame  # rows of every path, with `_run` numbering the runs
    keys: list[str]  # varying-key columns (`source` with several paths), seed excluded
    title: str
    source: str  # the path(s), for messages
    minimize: bool = True  # optimize tables: the runs minimise their objective


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
    kind: str | None = None  # the table's kind (train, optimize, ...)
    minimize: bool = True


# ---------------------------------------------------------------------------------------------
# loading


def _read(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
    except pd.errors.EmptyDataError:
        raise PlotError(f"{path} is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise PlotError(f"{path} is not a readable CSV: {str(err).splitlines()[0]}") from None
    if frame.empty:
        raise PlotError(f"{path} has a header but no rows")
    return frame


def _tag_run(frame: pd.DataFrame, config: dict) -> pd.DataFrame:
    """A run directory's table has no run_id/seed columns: add them from its config."""
    if "run_id" not in frame:
        frame.insert(0, "run_id", str(config.get("run_id", "run")))
        frame.insert(1, "seed", (config.get("spec") or {}).get("seed", 0))
    return frame


def _first_spec(directory: Path, frame: pd.DataFrame) -> dict:
    """The spec of a summary directory's first run (from its config.yaml), or {} if unreadable."""
    if not (directory / "runs.csv").is_file() or "run_id" not in frame or frame.empty:
        return {}
    path = runner.run_directory(directory, str(frame["run_id"].iloc[0])) / "config.yaml"
    try:
        return runner.read_config(path)["spec"]
    except (OSError, SpecError):
        return {}


def _mark_held(frame: pd.DataFrame, spec: dict) -> pd.DataFrame:
    """`_held`: the run stopped because it reached its stop.target_return (its last
    return_window is at the target), so a convergence curve holds its final value."""
    if "return_window" not in frame:
        return frame
    stop = spec.get("stop") if isinstance(spec.get("stop"), dict) else {}
    last = frame.groupby("run_id", sort=False).tail(1).set_index("run_id")
    target = last["target_return"] if "target_return" in last else stop.get("target_return")
    if target is None:
        return frame.assign(_held=False)
    held = pd.Series(reached(last["return_window"], pd.to_numeric(target, errors="coerce")), index=last.index)
    return frame.assign(_held=frame["run_id"].map(held).fillna(False).astype(bool))


class Loaded(NamedTuple):
    """One path's results: its table kind (None: cannot tell), rows, experiment name, first run's spec."""

    kind: str | None
    frame: pd.DataFrame
    name: str
    spec: dict


def _load_one(path: Path) -> Loaded:
    """The results of a sweep directory, a run directory or a CSV."""
    directory = path if path.is_dir() else path.parent
    config_path = directory / "config.yaml"
    config = None
    if config_path.is_file():
        try:
            config = runner.read_config(config_path)
        except SpecError as err:
            raise PlotError(str(err)) from None
    if path.is_dir():
        tables = [name for name in TABLES if (path / name).is_file()]
        if not tables:
            what = "runs.csv but no finished run" if (path / "runs.csv").is_file() else "no table"
            raise PlotError(f"no results in {path}: {what} ({', '.join(TABLES)})")
        path = path / tables[0]
    frame = _read(path)
    if config is not None:
        frame = _tag_run(frame, config)
        name = (config.get("spec") or {}).get("name") or directory.name
    else:
        name = directory.name if (directory / "runs.csv").is_file() else path.stem
    if "run_id" not in frame:
        frame.insert(0, "run_id", frame["seed"].astype(str) if "seed" in frame else name)
    kind = TABLES.get(path.name) or next((k for k, c in SIGNATURE.items() if c in frame), None)
    spec = (config.get("spec") or {}) if config is not None else _first_spec(directory, frame)
    spec = spec if isinstance(spec, dict) else {}
    if kind == "train":
        frame = _mark_held(frame, spec)
    return Loaded(kind, frame, name, spec)


def load(paths) -> Results:
    """Read one or more results directories / CSVs of the same kind into one frame.

    With several paths a `source` column (each path's experiment name) tells them apart and
    is a varying key."""
    paths = [Path(p) for p in paths]
    parts = [_load_one(p) for p in paths]
    table_kinds = {part.kind for part in parts}
    if len(table_kinds) > 1:
        found = ", ".join(f"{p} ({part.kind or 'unknown'})" for p, part in zip(paths, parts, strict=True))
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
    minimize = bool(parts[0].spec.get("minimize", True))
    return Results(table_kinds.pop(), frame, keys, " vs ".join(dict.fromkeys(names)), source, minimize)


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
    hit = column.map(runner.value_text).str.lower().to_numpy() == value.lower()
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
            present = ", ".join(dict.fromkeys(frame[key].map(runner.value_text)))
            raise PlotError(f"{option} {key}={'|'.join(values)} matches no rows ({key}: {present})")
        frame = frame[hit if keep else ~hit]
    if frame.empty:
        raise PlotError(f"{option} leaves no rows to plot")
    return frame


def _only(figure, allowed_for, **given):
    for option, value in given.items():
        if value is not None and figure not in allowed_for[option]:
            figures = " or ".join(allowed_for[option])
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
) -> Plot:
    """Check a request against the table (PlotError naming the problem) and pick the rows.

    The figure defaults to the table's kind; x and y to the kind's axes. Rows are filtered by
    --select and --exclude; curves are told apart by the --hue keys (default: every key that
    varies). Outside the train figures one slice is drawn: a naming column with several values
    keeps its first (a note says which, and how to choose another)."""
    figure = _figure_of(results, figure)
    x, y = _axes(results, figure, x=x, y=y, smooth=smooth, target=target)
    _check_columns(results, figure, x, y, band)
    data = FIGURES[figure].data
    frame = results.frame
    allowed = [*results.keys, "seed", *(c for c in LABEL_COLUMNS[data] if c in frame)]
    allowed = [c for c in dict.fromkeys(allowed) if c in frame]
    frame = _filter(frame, parse_pairs(select, "--select"), "--select", True, allowed)
    frame = _filter(frame, parse_pairs(exclude, "--exclude"), "--exclude", False, allowed)
    if hue:
        hue_keys = [h.strip() for h in hue.split(",") if h.strip()]
        for key in hue_keys:
            _check_key(key, allowed, "--hue")
    else:
        hue_keys = [k for k in results.keys if frame[k].nunique(dropna=False) > 1]
        hue_keys = [DEFAULT_HUE[data]] if data in DEFAULT_HUE else hue_keys
    frame, fixed, chosen, notes = _one_slice(frame, data, allowed, hue_keys)
    shown = [
        f"θ: {v}" if k == "theta" else f"{k}={v}"
        for k, v in fixed.items()
        if k in ("f", "param", "theta") or k in chosen
    ]
    if title is None:
        title = results.title + (": " + "; ".join(shown) if shown else "")
    return Plot(figure, frame, x, y, hue_keys, title, smooth or 1, band, target, notes, results.kind, results.minimize)


def _figure_of(results: Results, figure: str | None) -> str:
    """The figure asked for, or the default for the table's kind."""
    figure = figure or DEFAULT_FIGURE.get(results.kind)
    if figure is None:
        columns = ", ".join(c for c in results.frame.columns if c != "_run")
        raise PlotError(
            f"cannot tell what {results.source} holds (columns: {columns}); expected a "
            f"{', '.join(TABLES)} table, or choose one with --kind"
        )
    if figure not in FIGURES:
        raise PlotError(f"unknown figure {figure!r}; choose from {', '.join(FIGURES)}")
    return figure


def _axes(results: Results, figure: str, *, x, y, smooth, target) -> tuple[str | None, str | None]:
    """(x, y) of the figure: the options that apply to it, else its defaults for the table's kind."""
    curves = ("convergence", "variance")
    allowed_for = {"x": curves, "smooth": curves, "target": ("convergence",), "y": ("convergence", "estimator")}
    _only(figure, allowed_for, x=x, smooth=smooth, target=target, y=y)
    frame = results.frame
    if figure in curves:
        x = x or DEFAULT_X.get(results.kind, "env_steps")
        if x not in X_AXES:
            raise PlotError(f"--x must be one of {', '.join(X_AXES)}, got {x!r}")
    if figure == "convergence" and y is None:
        y = DEFAULT_Y.get(results.kind, "return_mean")
    elif figure == "convergence" and y not in frame:
        metrics = [c for c in frame.select_dtypes("number") if c not in (*results.keys, "seed", "_run")]
        raise PlotError(f"unknown --y {y!r}; {_suggest(y, metrics)}(columns: {', '.join(metrics)})")
    if figure == "estimator":
        y = y or "variance"
        if y not in ("variance", "mse"):
            raise PlotError(f"--y for the estimator figure is variance or mse, got {y!r}")
    return x, y


def _check_columns(results: Results, figure: str, x, y, band: str) -> None:
    """The table has the figure's columns, with numbers where numbers are drawn; the band is known."""
    frame = results.frame
    missing = [c for c in (*FIGURES[figure].needs, x, y) if c and c not in frame]
    if missing:
        raise PlotError(f"{results.source} lacks columns needed for the {figure} figure: {', '.join(missing)}")
    if band not in BANDS:
        raise PlotError(f"--band must be one of {', '.join(BANDS)}, got {band!r}")
    numeric = [c for c in (x, y, *FIGURES[figure].needs) if c and c not in TEXT_COLUMNS]
    for column in numeric:
        if not pd.api.types.is_numeric_dtype(frame[column]) or frame[column].isna().all():
            raise PlotError(f"column {column!r} of {results.source} has no numbers to plot")


def _one_slice(frame: pd.DataFrame, data: str, allowed: list[str], hue_keys: list[str]):
    """(rows, {column: its value}, columns narrowed to their first value, notes) of an estimate or
    fisher table: every naming column but the hue and the axes keeps one value (train: all rows)."""
    notes, fixed, chosen = [], {}, []
    if data == "train":
        return frame, fixed, chosen, notes
    axes = {"estimate": ("theta", "n_samples"), "fisher": ("n_samples", "row", "col")}[data]
    for column in allowed:
        if column in (*hue_keys, *axes, "seed"):
            continue
        values = list(dict.fromkeys(frame[column].map(runner.value_text)))
        fixed[column] = values[0]
        if len(values) > 1:
            frame = frame[_matches(frame[column], values[0])]
            chosen.append(column)
            notes.append(
                f"plotting {column}={values[0]} (also: {', '.join(values[1:])}); choose with --select {column}=..."
            )
    return frame, fixed, chosen, notes


# ---------------------------------------------------------------------------------------------
# curves across seeds


def bootstrap_ci(values, rng: np.random.Generator, n_boot: int = N_BOOT, level: float = 0.95):
    """Percentile bootstrap interval of the mean over the last axis.

    values (..., r): r replicates (runs). The r runs are resampled with replacement n_boot
    times — the same resample at every point, so the band is one of whole resampled curves —
    and lo, hi (...) are the (1 ∓ level)/2 quantiles of the resampled means
    ȳ* = (1/r) Σ_j c_j y_j, with c the resample's counts (Efron & Tibshirani 1993, ch. 13)."""
    values = np.asarray(values, dtype=float)
    r = values.shape[-1]
    picks = rng.integers(0, r, size=(n_boot, r))
    offsets = (np.arange(n_boot) * r)[:, None]
    counts = np.bincount((picks + offsets).ravel(), minlength=n_boot * r).reshape(n_boot, r)
    means = values @ counts.T / r
    alpha = (1 - level) / 2
    lo, hi = np.quantile(means, [alpha, 1 - alpha], axis=-1)
    return lo, hi


def _groups(frame: pd.DataFrame, hue):
    """(values, rows) per hue group, in the order groups first appear (the plan order)."""
    if not hue:
        return [((), frame)]
    return list(frame.groupby(list(hue), sort=False, dropna=False))


def _label(hue, values, bare=False) -> str:
    """A curve's name from the settings that vary: 'lr=0.03, baseline=value'; the source (the
    experiment's name) bare; a setting a source does not have (a blank value) is left out."""
    parts = []
    for key, value in zip(hue, values, strict=True):
        if pd.isna(value) if not isinstance(value, list | tuple) else False:
            continue
        text = runner.value_text(value)
        parts.append(text if key == "source" or (bare and len(hue) == 1) else f"{key}={text}")
    return ", ".join(parts)


def _runs(rows: pd.DataFrame, y: str, smooth: int, x: str | None = None):
    """Each run's rows with y present, y smoothed by a trailing mean over `smooth` rows."""
    for _, run in rows.groupby("_run", sort=False):
        run = run[run[y].notna() & (run[x].notna() if x else True)]
        if x:
            run = run.sort_values(x, kind="stable")
        if len(run):
            yield run.assign(**{y: run[y].rolling(smooth, min_periods=1).mean()})


def _aggregate(ys: np.ndarray, band: str, n_boot: int):
    """Mean over the runs with data at each point (rows of ys (m, r), NaN = no data), band."""
    present = np.isfinite(ys)
    n = present.sum(1)
    mean = np.where(present, ys, 0).sum(1) / np.maximum(n, 1)
    lo, hi = np.full(len(ys), np.nan), np.full(len(ys), np.nan)
    if band == "sd":
        with np.errstate(invalid="ignore", divide="ignore"):
            sd = np.sqrt(np.where(present, (ys - mean[:, None]) ** 2, 0).sum(1) / (n - 1))
        lo, hi = np.where(n > 1, mean - sd, np.nan), np.where(n > 1, mean + sd, np.nan)
    elif band == "ci":
        patterns, which = np.unique(present, axis=0, return_inverse=True)
        for p, pattern in enumerate(patterns):
            if pattern.sum() > 1:
                rows = which.reshape(-1) == p
                rng = np.random.default_rng(BOOT_SEED)
                lo[rows], hi[rows] = bootstrap_ci(ys[rows][:, pattern], rng, n_boot)
    return mean, lo, hi, n


def group_curves(frame, x, y, hue=(), smooth=1, band="ci", n_boot=N_BOOT, hold=False) -> pd.DataFrame:
    """Tidy curves: columns label, *hue, x, mean, lo, hi, n_runs, n_held — one curve per hue group.

    See the module docstring for the alignment (interpolation within each run's x range) and
    the band; lo/hi are NaN where fewer than two runs have data or band is 'none'. With `hold`,
    a run that stopped because it reached its target (`_held`) keeps its final value up to the
    group's last x instead of dropping out; n_held counts the runs held at each x."""
    parts = []
    for values, rows in _groups(frame, hue):
        runs = [
            (r[x].to_numpy(float), r[y].to_numpy(float), hold and bool(r["_held"].iloc[0]) if "_held" in r else False)
            for r in _runs(rows, y, smooth, x)
        ]
        if not runs:
            continue
        grid = np.unique(np.concatenate([xs for xs, _, _ in runs]))
        if len(grid) > MAX_POINTS:
            grid = np.linspace(grid[0], grid[-1], MAX_POINTS)
        ys = np.full((len(grid), len(runs)), np.nan)
        held = np.zeros(len(grid), int)
        for j, (xs, run_ys, stopped_at_target) in enumerate(runs):
            xs, first = np.unique(xs, return_index=True)  # one row per x
            inside = (grid >= xs[0]) & (grid <= (grid[-1] if stopped_at_target else xs[-1]))
            ys[inside, j] = np.interp(grid[inside], xs, run_ys[first])  # beyond xs[-1]: the last value
            held += inside & (grid > xs[-1])
        mean, lo, hi, n = _aggregate(ys, band, n_boot)
        keep = n > 0
        part = pd.DataFrame({x: grid, "mean": mean, "lo": lo, "hi": hi, "n_runs": n, "n_held": held})[keep]
        for key, value in reversed(list(zip(hue, values, strict=True))):
            part.insert(0, key, value)
        part.insert(0, "label", _label(hue, values))
        parts.append(part)
    columns = ["label", *hue, x, "mean", "lo", "hi", "n_runs", "n_held"]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)


def summary_table(frame, hue, y="return_mean", target=None, smooth=1, n_boot=N_BOOT, kind="train", minimize=True):
    """Per group: runs, the final y (each run's last smoothed value) as mean and 95% bootstrap
    interval; with a target, how many runs reached it — by the one definition in targets.py
    (train: return_window ≥ target; optimize: objective ≤ target when minimising), whatever y
    is — and the mean env_steps (samples) and wall_s at the first row that did."""
    if y not in frame:
        raise PlotError(f"the summary needs column {y!r}")
    metric, x = METRIC.get(kind, METRIC["train"]), "samples" if kind == "optimize" else "env_steps"
    if target is not None and metric not in frame:
        raise PlotError(f"--target needs column {metric!r} to tell which runs reached it")
    rows = []
    for values, group in _groups(frame, hue):
        finals = [run[y].iloc[-1] for run in _runs(group, y, smooth)]
        if not finals:
            continue
        hits = []
        for _, run in group.groupby("_run", sort=False) if target is not None else []:
            hit = first_reached(run[metric], target, minimize and kind == "optimize")
            if hit is not None:
                hits.append([run[c].iloc[hit] if c in run else np.nan for c in (x, "wall_s")])
        lo, hi = (np.nan, np.nan)
        if len(finals) > 1:
            lo, hi = bootstrap_ci(finals, np.random.default_rng(BOOT_SEED), n_boot)
        row = dict(zip(hue, values, strict=True))
        row.update(runs=len(finals), final_mean=np.mean(finals), final_lo=lo, final_hi=hi)
        if target is not None:
            means = np.mean(hits, axis=0) if hits else (np.nan, np.nan)
            row.update({"reached": len(hits), f"{x}_to_target": means[0], "wall_s_to_target": means[1]})
        rows.append(row)
    return pd.DataFrame(rows)


def summary(plot: Plot) -> pd.DataFrame:
    """summary_table of a prepared train or optimize request: its groups, y, target and smoothing."""
    if FIGURES[plot.figure].data != "train":
        raise PlotError(f"--table summarises train and optimize runs, not the {plot.figure} figure's table")
    return summary_table(
        plot.frame, plot.hue, plot.y or "return_mean", plot.target, plot.smooth, kind=plot.kind, minimize=plot.minimize
    )


# ---------------------------------------------------------------------------------------------
# figures


COUNT_AXES = ("env_steps", "samples")


def _figure(ncols: int, title: str):
    from matplotlib.figure import Figure  # on first use: other commands need not import it

    fig = Figure(figsize=(4.6 * ncols + 1.0, 4.4), layout="constrained")
    axes = list(fig.subplots(1, ncols, squeeze=False)[0])
    fig.suptitle(title)
    for ax in axes:
        ax.grid(True, alpha=0.3)
    return fig, axes


def _legend(fig, axes):
    """One legend for the figure, outside the data, each label once."""
    handles = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    if handles:  # below the axes: clear of the data and of the title
        ncols = 1 if len(handles) == 1 or len(axes) == 1 else 2
        fig.legend(handles.values(), handles.keys(), loc="outside lower center", ncols=ncols, fontsize="small")


def _reference(ax, xs, anchors, power: float, label: str):
    """The line c·x^power through the median of the curves' values at xs[0] (the median, so
    an estimator with (numerically) zero variance does not drag it away from the others)."""
    xs = np.asarray(xs, dtype=float)
    anchors = np.asarray(anchors, dtype=float)
    anchors = anchors[np.isfinite(anchors) & (anchors > 0)]
    if len(xs) > 1 and anchors.size:
        c = np.median(anchors) / xs[0] ** power
        ax.plot(xs, c * xs**power, color="0.3", ls=":", lw=1.2, label=label)


def _curve_name(label: str, curve: pd.DataFrame) -> str:
    """'label (5 runs; 4 held at their final value after reaching the target)'."""
    runs, held = int(curve["n_runs"].max()), int(curve["n_held"].max())
    count = f"{runs} run{'s' * (runs > 1)}"
    if held:
        count += f"; {held} stopped at the target, held at their final value"
    return f"{label} ({count})" if label else count


def _mark_counts(ax, curve: pd.DataFrame, x: str, color: str) -> None:
    """Where the number of runs a point averages changes (once every run has started), write the
    new number on the curve."""
    n = curve["n_runs"].to_numpy()
    for j in np.flatnonzero(n[1:] != n[:-1]) + 1:
        if j <= np.argmax(n):  # runs whose first batch is longer start a little later
            continue
        ax.annotate(
            f"n={n[j]}", (curve[x].iloc[j], curve["mean"].iloc[j]), color=color, fontsize="x-small",
            xytext=(2, 4), textcoords="offset points",
        )  # fmt: skip


def curves_figure(panels, x: str, title: str, target: float | None = None):
    """One axes per (y, curves from group_curves): mean lines and bands, log y for variances."""
    fig, axes = _figure(len(panels), title)
    for ax, (y, curves) in zip(axes, panels, strict=True):
        for i, (label, curve) in enumerate(curves.groupby("label", sort=False)):
            color = f"C{i % 10}"
            ax.plot(curve[x], curve["mean"], color=color, lw=1.5, label=_curve_name(label, curve))
            band = np.isfinite(curve["lo"].to_numpy(float))
            if band.any():
                ax.fill_between(curve[x], curve["lo"], curve["hi"], where=band, color=color, alpha=0.2, lw=0)
            _mark_counts(ax, curve, x, color)
        ax.set(xlabel=LABELS.get(x, x), ylabel=LABELS.get(y, y))
        ax.set_yscale("log" if y in LOG_METRICS else "linear")
        if x in COUNT_AXES:
            ax.xaxis.set_major_formatter(EngFormatter(sep=""))  # 50k, 1M: no overlapping digits
        if len(panels) > 1:
            ax.set_title(y)
    if target is not None:
        axes[0].axhline(target, color="0.3", ls="--", lw=1, label=f"target {target:g}")
    _legend(fig, axes)
    return fig


def _theta_axis(thetas):
    """Numeric x for θ labels when one scalar parameter varies; else positions 0..k-1."""
    parsed = [parse_theta_text(t) for t in thetas]
    varying = [k for k in parsed[0] if len({str(p.get(k)) for p in parsed}) > 1]
    try:
        if len(varying) == 1:
            return np.array([float(p[varying[0]]) for p in parsed]), f"θ: {varying[0]}", None
    except (TypeError, ValueError):
        pass
    return np.arange(len(thetas), dtype=float), "θ", thetas


def estimator_figure(frame, hue=("estimator",), y="variance", title=""):
    """Var[ĝ] (or MSE) against n on log-log with a 1/n reference, at the middle θ; against θ at
    the largest n when θ varies; and the bias E[ĝ] − ∇θE[f] ± 2 standard errors (against θ
    when it varies, else n), which shows, e.g., pathwise failing on a step function."""
    ns = np.sort(frame["n_samples"].unique())
    thetas = list(dict.fromkeys(frame["theta"]))
    by_n, by_theta = len(ns) > 1 or len(thetas) == 1, len(thetas) > 1
    theta_x, theta_name, ticks = _theta_axis(thetas)
    frame = frame.assign(_theta=frame["theta"].map(dict(zip(thetas, theta_x, strict=True))))
    # each panel: (axes, rows it shows, x column)
    middle = thetas[len(thetas) // 2]  # a θ sweep's middle point is usually its most typical
    at_theta, at_n = frame["theta"] == middle, frame["n_samples"] == ns[-1]
    fig, axes = _figure(by_n + by_theta + 1, title)
    panels = [(ax, at_theta, "n_samples") for ax in axes[:by_n]]
    panels += [(ax, at_n, "_theta") for ax in axes[by_n : by_n + by_theta]]
    ax_bias = axes[-1]
    bias_rows, bias_x = (at_n, "_theta") if by_theta else (at_theta, "n_samples")
    anchors = []
    for i, (values, rows) in enumerate(_groups(frame, hue)):
        style = {"color": f"C{i % 10}", "marker": "o", "ms": 3, "label": _label(hue, values, True)}
        for ax, where, column in panels:
            line = rows[where.loc[rows.index]].groupby(column)[y].mean()
            ax.plot(line.index, line.to_numpy(), **style)
            if column == "n_samples":
                anchors.append(line.get(ns[0], np.nan))
        bias = rows[bias_rows.loc[rows.index]].groupby(bias_x)[["bias", "std_error"]].mean()
        ax_bias.plot(bias.index, bias["bias"].to_numpy(), **style)
        lo, hi = bias["bias"] - 2 * bias["std_error"], bias["bias"] + 2 * bias["std_error"]
        ax_bias.fill_between(bias.index, lo, hi, color=style["color"], alpha=0.2, lw=0)
    for ax, _, column in panels:
        ax.set(yscale="log", ylabel=LABELS[y])
        if column == "n_samples":
            _reference(ax, ns, anchors, -1.0, "∝ 1/n")
            ax.set(xscale="log", xlabel="samples per estimate n")
            ax.set_title(f"{y} against n (θ: {middle})", fontsize="medium")
        else:
            ax.set(xlabel=theta_name)
            ax.set_title(f"{y} against θ (n = {ns[-1]:,})", fontsize="medium")
    ax_bias.axhline(0.0, color="0.3", lw=0.8)
    ax_bias.set(ylabel="bias E[ĝ] − ∇θ E[f]  (±2 s.e.)")
    if by_theta:
        ax_bias.set(xlabel=theta_name)
        ax_bias.set_title(f"bias (n = {ns[-1]:,})", fontsize="medium")
    else:
        ax_bias.set(xscale="log", xlabel="samples per estimate n")
        ax_bias.set_title(f"bias (θ: {middle})", fontsize="medium")
    if ticks is not None:
        for ax in axes[by_n:]:
            ax.set_xticks(theta_x, ticks, rotation=30, ha="right", fontsize="x-small")
    _legend(fig, axes)
    return fig


def fisher_figure(frame, hue=("quantity",), title=""):
    """Each entry's Monte Carlo estimate against its exact value at the largest n (on the
    diagonal when right), and the mean |empirical − exact| against n with a 1/√n reference."""
    ns = np.sort(frame["n_samples"].unique())
    fig, (ax_entries, ax_n) = _figure(2, title)
    anchors = []
    for i, (values, rows) in enumerate(_groups(frame, hue)):
        color, label = f"C{i % 10}", _label(hue, values, True)
        last = rows[rows["n_samples"] == ns[-1]]
        ax_entries.scatter(last["exact"], last["empirical"], s=18, color=color, label=label)
        error = rows.groupby("n_samples")["abs_error"].mean()
        ax_n.plot(error.index, error.to_numpy(), color=color, marker="o", ms=3, label=label)
        anchors.append(error.get(ns[0], np.nan))
    last = frame[frame["n_samples"] == ns[-1]]
    lims = [
        min(last["exact"].min(), last["empirical"].min()),
        max(last["exact"].max(), last["empirical"].max()),
    ]
    ax_entries.plot(lims, lims, color="0.3", ls="--", lw=0.8, label="empirical = exact")
    ax_entries.set(xlabel="exact value", ylabel="Monte Carlo estimate")
    ax_entries.set_title(f"every entry (n = {ns[-1]:,})", fontsize="medium")
    _reference(ax_n, ns, anchors, -0.5, "∝ 1/√n")
    ax_n.set(xscale="log", yscale="log", xlabel="samples n", ylabel="mean |empirical − exact|")
    ax_n.set_title("error against n", fontsize="medium")
    _legend(fig, [ax_entries, ax_n])
    return fig


class FigureKind(NamedTuple):
    """A figure `plot --kind` can draw: the table it reads, the columns it needs, how to draw it."""

    data: str  # the table it draws: train, estimate or fisher
    needs: tuple  # columns it needs besides --x and --y
    draw: Callable[[Plot], Figure]  # the figure of a prepared request


def _draw_curves(plot: Plot):
    ys = [plot.y] if plot.figure == "convergence" else ["grad_var", "grad_snr"]
    hold = plot.figure == "convergence"  # a held return is a result; a held variance is not
    panels = [(y, group_curves(plot.frame, plot.x, y, plot.hue, plot.smooth, plot.band, hold=hold)) for y in ys]
    return curves_figure(panels, plot.x, plot.title, plot.target)


FIGURES: dict[str, FigureKind] = {
    "convergence": FigureKind("train", (), _draw_curves),
    "variance": FigureKind("train", ("grad_var", "grad_snr"), _draw_curves),
    "estimator": FigureKind(
        "estimate",
        ("estimator", "n_samples", "theta", "bias", "std_error"),
        lambda p: estimator_figure(p.frame, p.hue, p.y, p.title),
    ),
    "fisher": FigureKind(
        "fisher",
        ("quantity", "n_samples", "empirical", "exact", "abs_error"),
        lambda p: fisher_figure(p.frame, p.hue, p.title),
    ),
}
DEFAULT_FIGURE = {"train": "convergence", "optimize": "convergence", "estimate": "estimator", "fisher": "fisher"}


def draw(plot: Plot):
    """The matplotlib Figure for a prepared request."""
    with warnings.catch_warnings():  # an all-zero variance on a log axis is a finding, not a fault
        warnings.filterwarnings("ignore", "Data has no positive values")
        return FIGURES[plot.figure].draw(plot)


# ---------------------------------------------------------------------------------------------
# saving

METADATA = {
    "png": {"Software": None},
    "svg": {"Date": None, "Creator": None},
    "pdf": {"Creator": None, "Producer": None, "CreationDate": None},
}


def render(fig, fmt: str) -> bytes:
    """The figure's bytes: the same figure gives the same bytes (no dates, fixed SVG ids)."""
    buffer = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": "pgcli", "svg.fonttype": "path"}):
        fig.savefig(buffer, format=fmt, metadata=METADATA[fmt], dpi=150)
    return buffer.getvalue()


def save(fig, path: str | Path) -> Path:
    """Render, then write atomically; the format is the suffix (.png, .svg or .pdf)."""
    return atomic.write_bytes(path, render(fig, Path(path).suffix.lower().lstrip(".")))


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
