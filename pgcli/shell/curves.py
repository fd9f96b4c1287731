"""Runs as curves: replicates (seeds) aligned on x, their mean and a band, and per-group summaries.

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
or ȳ ± one standard deviation across runs (``--band sd``); there is no band where n = 1. With
``--stat iqm`` the curve is the interquartile mean of those runs instead, and its band the
percentile bootstrap interval of the IQM (pgcli.shell.stats.band: whole runs resampled).

A group's final scores are its runs' last (smoothed) y values: `final_scores`, which --table,
`--kind profile` and the report summarise (pgcli.shell.stats: IQM, mean, profiles, P(X > Y)).
"""

from __future__ import annotations

import numpy as np

from pgcli.base import lazy
from pgcli.base.targets import first_reached
from pgcli.shell import stats
from pgcli.shell.plan import value_text

pd = lazy.module("pandas")

N_BOOT = 2000
BOOT_SEED = 20261126
MAX_POINTS = 400


class CurveError(ValueError):
    """A table that cannot be summarised as asked: a one-line message."""


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


def groups(frame: pd.DataFrame, hue):
    """(values, rows) per hue group, in the order groups first appear (the plan order)."""
    if not hue:
        return [((), frame)]
    return list(frame.groupby(list(hue), sort=False, dropna=False))


def label(hue, values, bare=False) -> str:
    """A curve's name from the settings that vary: 'lr=0.03, baseline=value'; the source (the
    experiment's name) bare; a setting a source does not have (a blank value) is left out."""
    parts = []
    for key, value in zip(hue, values, strict=True):
        if pd.isna(value) if not isinstance(value, list | tuple) else False:
            continue
        text = value_text(value)
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


def _aggregate(ys: np.ndarray, band: str, n_boot: int, stat: str = "mean"):
    """Mean (or IQM) over the runs with data at each point (rows of ys (m, r), NaN = no data), band."""
    if stat != "mean":
        return _aggregate_stat(ys, band, stat)
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


def _aggregate_stat(ys: np.ndarray, band: str, stat: str):
    """stats.STATISTICS[stat] over the runs with data at each point, and its bootstrap band
    (band 'ci'; 'none' draws none), the points with the same runs present taken together."""
    present = np.isfinite(ys)
    n = present.sum(1)
    centre, lo, hi = (np.full(len(ys), np.nan) for _ in range(3))
    patterns, which = np.unique(present, axis=0, return_inverse=True)
    for p, pattern in enumerate(patterns):
        if not pattern.any():
            continue
        rows = which.reshape(-1) == p
        values = ys[rows][:, pattern]
        if band == "ci":
            centre[rows], lo[rows], hi[rows] = stats.band(values, stat, seed=BOOT_SEED)
        else:
            centre[rows] = stats.STATISTICS[stat](values, axis=-1)
    return centre, lo, hi, n


def group_curves(
    frame, x, y, hue=(), smooth=1, band="ci", n_boot=N_BOOT, hold=False, stat: str = "mean"
) -> pd.DataFrame:
    """Tidy curves: columns label, *hue, x, mean, lo, hi, n_runs, n_held — one curve per hue group.

    See the module docstring for the alignment (interpolation within each run's x range) and
    the band; lo/hi are NaN where fewer than two runs have data or band is 'none'. With `hold`,
    a run that stopped because it reached its target (`_held`) keeps its final value up to the
    group's last x instead of dropping out; n_held counts the runs held at each x. `stat` 'iqm'
    makes `mean` the interquartile mean of the runs at each x, and lo/hi its bootstrap band."""
    parts = []
    for values, rows in groups(frame, hue):
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
        mean, lo, hi, n = _aggregate(ys, band, n_boot, stat)
        keep = n > 0
        part = pd.DataFrame({x: grid, "mean": mean, "lo": lo, "hi": hi, "n_runs": n, "n_held": held})[keep]
        for key, value in reversed(list(zip(hue, values, strict=True))):
            part.insert(0, key, value)
        part.insert(0, "label", label(hue, values))
        parts.append(part)
    columns = ["label", *hue, x, "mean", "lo", "hi", "n_runs", "n_held"]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)


def final_scores(frame, hue, y, smooth=1) -> dict[str, np.ndarray]:
    """Each group's final scores: its runs' last smoothed y (blank y skipped), label → (r,) array,
    in group order; a group with no run that has a y is left out."""
    finals = {}
    for values, group in groups(frame, hue):
        scores = [run[y].iloc[-1] for run in _runs(group, y, smooth)]
        if scores:
            finals[label(hue, values)] = np.asarray(scores, dtype=float)
    return finals


def summary_table(frame, hue, y, goal, target=None, smooth=1, n_boot=N_BOOT, stat: str | None = None):
    """Per group: runs, the final y (each run's last smoothed value) as mean and 95% bootstrap
    interval; with a target, how many runs reached it — by the one definition in targets.py on
    the kind's target metric (train: return_window ≥ target; optimize: objective ≤ target when
    minimising), whatever y is — and the mean x (env_steps, samples) and wall_s at the first row
    that did. `goal` is (metric, x, minimize): the kind's target as its spec sets it.

    With `stat` ('iqm' or 'mean') the final y is summarised by pgcli.shell.stats instead:
    final_<stat>, final_<stat>_lo, final_<stat>_hi, the statistic of the group's runs (one task)
    with its 95% stratified bootstrap interval (the report's numbers)."""
    metric, x, minimize = goal
    if y not in frame:
        raise CurveError(f"the summary needs column {y!r}")
    if target is not None and metric not in frame:
        raise CurveError(f"--target needs column {metric!r} to tell which runs reached it")
    rows = []
    for values, group in groups(frame, hue):
        finals = [run[y].iloc[-1] for run in _runs(group, y, smooth)]
        if not finals:
            continue
        hits = []
        for _, run in group.groupby("_run", sort=False) if target is not None else []:
            hit = first_reached(run[metric], target, minimize)
            if hit is not None:
                hits.append([run[c].iloc[hit] if c in run else np.nan for c in (x, "wall_s")])
        row = dict(zip(hue, values, strict=True))
        if stat is None:
            lo, hi = (np.nan, np.nan)
            if len(finals) > 1:
                lo, hi = bootstrap_ci(finals, np.random.default_rng(BOOT_SEED), n_boot)
            row.update(runs=len(finals), final_mean=np.mean(finals), final_lo=lo, final_hi=hi)
        else:
            found = stats.interval(finals, stat)
            row.update({"runs": len(finals), f"final_{stat}": found.estimate, f"final_{stat}_lo": found.lo,
                        f"final_{stat}_hi": found.hi})  # fmt: skip
        if target is not None:
            means = np.mean(hits, axis=0) if hits else (np.nan, np.nan)
            row.update({"reached": len(hits), f"{x}_to_target": means[0], "wall_s_to_target": means[1]})
        rows.append(row)
    return pd.DataFrame(rows)
