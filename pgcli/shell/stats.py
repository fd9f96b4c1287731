"""Aggregate statistics over seeds and tasks that people can trust, after Agarwal et al. (2021).

Agarwal, Schwarzer, Castro, Courville & Bellemare, "Deep Reinforcement Learning at the Edge of the
Statistical Precipice", NeurIPS 2021, and their library rliable (github.com/google-research/rliable),
whose definitions these functions follow (rliable itself is not a dependency: it pins `arch` and
pulls in statsmodels and seaborn; SciPy does the resampling here).

Scores
------
``scores`` is an array (runs × tasks): ``scores[i, j]`` is the final score of run (seed) i on
task j. A task is whatever the runs are stratified by — an environment, a problem; with one task
a 1-D array of the runs' scores will do. Tasks with different numbers of runs are a mapping
{task: its runs' scores (1-D)} instead. Every score is finite; N scores in all (r · T for an array).

Statistics
----------
- ``iqm``: the interquartile mean, the mean of the middle half of all N scores pooled over runs
  and tasks: rliable's ``scipy.stats.trim_mean(scores, 0.25, axis=None)``, which drops
  g = ⌊N/4⌋ scores at each end and averages the N − 2g left (1…8 → mean of 3…6 = 4.5;
  1…10 → g = 2, mean of 3…8). Robust to outlier runs, yet less noisy than the median.
- ``mean``: the mean over tasks of each task's mean score (rliable's ``aggregate_mean``).
- Performance profile: the fraction of all N scores above each threshold τ (rliable's
  ``run_score_deviation``, its default "score distribution").
- Probability of improvement of X over Y, per task the Mann–Whitney U statistic over the
  m · n pairs, U/(m n) = P(X > Y) + ½ P(X = Y) for one run of each drawn at random,
  averaged over tasks (rliable's ``probability_of_improvement``).

Intervals
---------
Stratified percentile bootstrap (Efron & Tibshirani 1993, ch. 13; rliable's
``StratifiedBootstrap``): each resample draws r runs with replacement *within each task*,
independently across tasks (and, for X versus Y, independently for X and for Y), recomputes the
statistic, and the interval is the (1 ∓ level)/2 quantiles of the resampled statistics. That is
``scipy.stats.bootstrap`` with one sample per task and ``paired=False``, method percentile, with
a Generator seeded by ``seed`` — so the same scores give the same interval. A task with fewer
than two runs cannot be resampled: then lo and hi are NaN.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

import numpy as np

from pgcli.base import lazy

pd = lazy.module("pandas")
scipy_stats = lazy.module("scipy.stats")

SEED = 20261126
N_RESAMPLES = 10_000  # intervals of one number (rliable uses 50 000; 10 000 fixes the 2.5 % quantile to ±0.3 %)
PROFILE_RESAMPLES = 2_000  # bands of a profile, one per threshold (rliable's default)
BATCH = 1_000  # resamples drawn and evaluated at a time (bounds memory for large runs × tasks)
LEVEL = 0.95
TRIM = 0.25  # the interquartile mean trims a quarter at each end
SUMMARY_COLUMNS = ["group", "n_runs", "iqm", "iqm_lo", "iqm_hi", "mean", "mean_lo", "mean_hi"]


class Interval(NamedTuple):
    """A point estimate and its stratified bootstrap interval (lo, hi NaN when it cannot be had)."""

    estimate: float
    lo: float
    hi: float


class Profile(NamedTuple):
    """A performance profile on the thresholds `taus` (K,), with its pointwise bootstrap band."""

    taus: np.ndarray
    fraction: np.ndarray
    lo: np.ndarray
    hi: np.ndarray


def as_scores(scores, name: str = "scores") -> np.ndarray:
    """scores as a float array (runs × tasks); a 1-D array is one task's runs. ValueError on
    anything else: more than two dimensions, no runs, or a score that is NaN or infinite."""
    array = np.asarray(scores, dtype=float)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{name}: expected an array (runs × tasks) with at least one run, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name}: every score must be finite, got {array[~np.isfinite(array)][0]}")
    return array


def _tasks(scores: np.ndarray) -> tuple[np.ndarray, ...]:
    """The columns of scores (runs × tasks), one sample per task for the stratified bootstrap."""
    return tuple(np.ascontiguousarray(scores[:, j]) for j in range(scores.shape[1]))


def tasks_of(scores, name: str = "scores") -> tuple[np.ndarray, ...]:
    """Each task's runs' scores (1-D arrays), from an array (runs × tasks, or 1-D: one task) or a
    mapping {task: its runs' scores} whose tasks may have different numbers of runs; ValueError
    as `as_scores` for a task with no runs or a score that is not finite."""
    if isinstance(scores, Mapping):
        if not scores:
            raise ValueError(f"{name}: expected at least one task, got an empty mapping")
        return tuple(as_scores(np.ravel(np.asarray(task, dtype=float)), f"{name}[{key}]")[:, 0]
                     for key, task in scores.items())  # fmt: skip
    return _tasks(as_scores(scores, name))


# ---------------------------------------------------------------------------------------------
# statistics of the tasks' samples, each (..., r_j) along the last axis: resamples stack in front


def _iqm(*tasks: np.ndarray, axis: int = -1) -> np.ndarray:
    """Interquartile mean of all scores pooled: trim_mean(·, 0.25) drops ⌊N/4⌋ at each end."""
    return scipy_stats.trim_mean(np.concatenate(tasks, axis=axis), TRIM, axis=axis)


def _mean(*tasks: np.ndarray, axis: int = -1) -> np.ndarray:
    """Mean over tasks of each task's mean score."""
    return np.mean([task.mean(axis=axis) for task in tasks], axis=0)


def _improvement(n_tasks: int) -> Callable[..., np.ndarray]:
    """P(X > Y) + ½ P(X = Y) averaged over tasks, for samples (*x_tasks, *y_tasks).

    Per task, with m runs of X and n of Y, the Mann–Whitney statistic is
    U = Σ_i rank(x_i) − m(m + 1)/2 = #{(i, j): x_i > y_j} + ½ #{(i, j): x_i = y_j}
    (ranks in the pooled sample, ties given their average rank), so U/(m n) is the probability
    that a random run of X beats a random run of Y, ties counting half."""

    def statistic(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
        per_task = []
        for x, y in zip(samples[:n_tasks], samples[n_tasks:], strict=True):
            m, n = x.shape[axis], y.shape[axis]
            ranks = scipy_stats.rankdata(np.concatenate([x, y], axis=axis), axis=axis)
            u = np.take(ranks, np.arange(m), axis=axis).sum(axis=axis) - m * (m + 1) / 2
            per_task.append(u / (m * n))
        return np.mean(per_task, axis=0)

    return statistic


def _fraction_above(taus: np.ndarray) -> Callable[..., np.ndarray]:
    """The fraction of all pooled scores above each τ, shape (K, ...): thresholds first, so the
    resamples stay on the last axis as scipy.stats.bootstrap expects."""

    def statistic(*tasks: np.ndarray, axis: int = -1) -> np.ndarray:
        pooled = np.moveaxis(np.concatenate(tasks, axis=axis), axis, -1)
        return np.stack([(pooled > tau).mean(axis=-1) for tau in taus])

    return statistic


STATISTICS = {"iqm": _iqm, "mean": _mean}  # name → statistic of the tasks' samples


# ---------------------------------------------------------------------------------------------
# point estimates


def iqm(scores) -> float:
    """Interquartile mean of scores (runs × tasks), pooled over runs and tasks.

    IQM = 1/(N − 2g) Σ_{i=g+1}^{N−g} s_(i), with s_(1) ≤ … ≤ s_(N) the N sorted scores and
    g = ⌊N/4⌋ (scipy.stats.trim_mean with proportion 0.25, as rliable's aggregate_iqm). When 4
    divides N this is the paper's (2/N) Σ_{i=N/4+1}^{3N/4} s_(i)."""
    return float(_iqm(*tasks_of(scores)))


def mean(scores) -> float:
    """Mean over tasks of each task's mean score: (1/T) Σ_j (1/r) Σ_i scores[i, j]."""
    return float(_mean(*tasks_of(scores)))


def probability_of_improvement(scores_x, scores_y) -> float:
    """P(X > Y): how likely a run of X beats a run of Y on a task, ties counting half, averaged
    over the tasks.

    scores_x (m × T) and scores_y (n × T) share their tasks; m and n may differ. Per task j,
    P_j = (1/(m n)) Σ_i Σ_k [1{x_ij > y_kj} + ½ 1{x_ij = y_kj}] = U_j/(m n), the Mann–Whitney
    statistic; the result is (1/T) Σ_j P_j (Agarwal et al. 2021, §4; rliable). 0.5 means neither
    is better; P(Y > X) = 1 − P(X > Y)."""
    x, y = _pair(scores_x, scores_y)
    return float(_improvement(len(x))(*x, *y))


def _pair(scores_x, scores_y) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    x, y = tasks_of(scores_x, "scores_x"), tasks_of(scores_y, "scores_y")
    if len(x) != len(y):
        raise ValueError(f"scores_x has {len(x)} tasks and scores_y {len(y)}: they must share their tasks")
    return x, y


# ---------------------------------------------------------------------------------------------
# intervals


def bootstrap(statistic, samples, level=LEVEL, n_resamples=N_RESAMPLES, seed=SEED) -> tuple:
    """Percentile bootstrap interval of statistic(*samples), each sample resampled on its own.

    samples: 1-D arrays (one per task, or per task of X then of Y), each resampled with
    replacement, independently — the stratified bootstrap. statistic(*samples, axis=-1) must
    accept stacked resamples (..., r_j) and reduce the last axis. Returns (lo, hi), NaN (in the
    statistic's shape) when a sample has fewer than two values."""
    if min(len(sample) for sample in samples) < 2:
        nan = np.full(np.shape(statistic(*samples, axis=-1)), np.nan)
        return nan, nan
    result = scipy_stats.bootstrap(
        samples,
        statistic,
        n_resamples=n_resamples,
        batch=BATCH,
        vectorized=True,
        paired=False,
        confidence_level=level,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return result.confidence_interval.low, result.confidence_interval.high


def interval(scores, statistic: str = "iqm", level=LEVEL, n_resamples=N_RESAMPLES, seed=SEED) -> Interval:
    """STATISTICS[statistic] of scores (runs × tasks) with its stratified bootstrap interval."""
    if statistic not in STATISTICS:
        raise ValueError(f"statistic: expected one of {', '.join(sorted(STATISTICS))}, got {statistic!r}")
    tasks = tasks_of(scores)
    lo, hi = bootstrap(STATISTICS[statistic], tasks, level, n_resamples, seed)
    return Interval(float(STATISTICS[statistic](*tasks)), float(lo), float(hi))


def improvement_interval(scores_x, scores_y, level=LEVEL, n_resamples=N_RESAMPLES, seed=SEED) -> Interval:
    """probability_of_improvement(scores_x, scores_y) with its interval: the runs of X and of Y
    are resampled independently, each within each task (rliable's StratifiedIndependentBootstrap)."""
    x, y = _pair(scores_x, scores_y)
    statistic, samples = _improvement(len(x)), (*x, *y)
    lo, hi = bootstrap(statistic, samples, level, n_resamples, seed)
    return Interval(float(statistic(*samples)), float(lo), float(hi))


def performance_profile(scores, taus, level=LEVEL, n_resamples=PROFILE_RESAMPLES, seed=SEED) -> Profile:
    """The fraction of scores (runs × tasks) above each threshold τ in taus, with a pointwise
    stratified bootstrap band: F̂(τ) = (1/N) Σ_{i,j} 1{scores[i, j] > τ} (rliable's score
    distribution; Agarwal et al. 2021, §4, "performance profiles"). F̂ is non-increasing in τ;
    one curve above another everywhere is stochastic dominance."""
    taus = np.asarray(taus, dtype=float).reshape(-1)
    if len(taus) == 0 or not np.isfinite(taus).all():
        raise ValueError("taus: expected one or more finite thresholds")
    tasks = tasks_of(scores)
    statistic = _fraction_above(taus)
    lo, hi = bootstrap(statistic, tasks, level, n_resamples, seed)
    return Profile(taus, statistic(*tasks), np.asarray(lo, float), np.asarray(hi, float))


BAND_ELEMENTS = 4_000_000  # values a band's batch of resamples may hold at once (32 MB of floats)


def band(values, statistic: str = "iqm", level=LEVEL, n_resamples=PROFILE_RESAMPLES, seed=SEED) -> Interval:
    """A curve's aggregate over runs and its pointwise band: STATISTICS[statistic] of the r runs at
    each of m points, values (m × r), with a percentile bootstrap interval that resamples whole
    runs — the same r runs drawn with replacement at every point, so the band is one of whole
    resampled curves (one task: the runs of one configuration). Returns Interval of (m,) arrays
    (lo, hi NaN when r < 2). A curve's points where only some runs have data are separate calls."""
    if statistic not in STATISTICS:
        raise ValueError(f"statistic: expected one of {', '.join(sorted(STATISTICS))}, got {statistic!r}")
    values = np.asarray(values, dtype=float)
    if values.ndim != 2 or values.size == 0 or not np.isfinite(values).all():
        raise ValueError(f"values: expected finite numbers (points × runs), got shape {values.shape}")
    estimate = STATISTICS[statistic](values, axis=-1)
    if values.shape[1] < 2:
        nan = np.full(len(values), np.nan)
        return Interval(estimate, nan, nan)
    result = scipy_stats.bootstrap(
        (values,),
        STATISTICS[statistic],
        n_resamples=n_resamples,
        batch=max(1, min(BATCH, BAND_ELEMENTS // values.size)),
        vectorized=True,
        axis=-1,
        confidence_level=level,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return Interval(estimate, result.confidence_interval.low, result.confidence_interval.high)


def thresholds(groups: Mapping[str, object], n: int = 101) -> np.ndarray:
    """n evenly spaced τ from the lowest to the highest score of any group: a profile's grid."""
    pooled = np.concatenate([np.concatenate(tasks_of(scores, str(label))) for label, scores in groups.items()])
    return np.linspace(pooled.min(), pooled.max(), n)


# ---------------------------------------------------------------------------------------------
# tidy tables for `pgcli plot --table` and the report


def summary_table(groups: Mapping[str, object], level=LEVEL, n_resamples=N_RESAMPLES, seed=SEED) -> pd.DataFrame:
    """One row per group of runs: group, n_runs (scores: runs × tasks), iqm, iqm_lo, iqm_hi,
    mean, mean_lo, mean_hi — the IQM and the mean with stratified bootstrap intervals.

    groups: label → scores (runs × tasks, or the runs' final scores as a 1-D array), in the order
    the rows should appear. Every group uses the same seed, so a row does not depend on the others."""
    rows = []
    for label, scores in groups.items():
        scores = tasks_of(scores, str(label))
        row = {"group": label, "n_runs": sum(len(task) for task in scores)}
        for name in ("iqm", "mean"):
            estimate, lo, hi = interval(dict(enumerate(scores)), name, level, n_resamples, seed)
            row.update({name: estimate, f"{name}_lo": lo, f"{name}_hi": hi})
        rows.append(row)
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def improvement_table(
    groups: Mapping[str, object],
    pairs: Sequence[tuple[str, str]] | None = None,
    level=LEVEL,
    n_resamples=N_RESAMPLES,
    seed=SEED,
) -> pd.DataFrame:
    """P(X > Y) with its interval for pairs of groups: columns x, y, probability, lo, hi.

    pairs: (x, y) labels of `groups`; by default every pair once, x listed before y (the other
    direction is 1 − P)."""
    labels = list(groups)
    if pairs is None:
        pairs = [(x, y) for i, x in enumerate(labels) for y in labels[i + 1 :]]
    rows = []
    for x, y in pairs:
        for label in (x, y):
            if label not in groups:
                raise ValueError(f"pairs: unknown group {label!r} (groups: {', '.join(map(str, labels))})")
        p = improvement_interval(groups[x], groups[y], level, n_resamples, seed)
        rows.append({"x": x, "y": y, "probability": p.estimate, "lo": p.lo, "hi": p.hi})
    return pd.DataFrame(rows, columns=["x", "y", "probability", "lo", "hi"])


def profile_table(
    groups: Mapping[str, object], taus=None, level=LEVEL, n_resamples=PROFILE_RESAMPLES, seed=SEED
) -> pd.DataFrame:
    """Performance profiles in long form: group, tau, fraction, lo, hi (taus: by default
    `thresholds(groups)`, one grid shared by every group so the curves compare)."""
    taus = thresholds(groups) if taus is None else taus
    parts = []
    for label, scores in groups.items():
        profile = performance_profile(scores, taus, level, n_resamples, seed)
        parts.append(
            pd.DataFrame(
                {"group": label, "tau": profile.taus, "fraction": profile.fraction, "lo": profile.lo, "hi": profile.hi}
            )
        )
    columns = ["group", "tau", "fraction", "lo", "hi"]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
