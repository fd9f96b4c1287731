"""The estimator lab: every estimator of ∇θ E_{p(x;θ)}[f(x)] against the exact gradient.

One *cell* is dist × θ × f × estimator × n. A cell draws `reps` independent estimates, each the
mean of n per-sample terms, in chunks so that any n runs in bounded memory. It reports, for each
coordinate of θ,

    mean      = average of the reps estimates
    variance  = Var of one estimate (across reps; with reps = 1, Var(terms)/n)
    std_error = √(variance / reps)  — the uncertainty of `mean`
    bias      = mean − exact,  mse = average over reps of (estimate − exact)²
    efficiency = 1 / (variance × seconds per estimate): work-normalised, to compare estimators of
                different cost (a wall-clock column, like seconds)

Where there is no exact gradient (exact_method 'none') exact, bias and mse are blank (NaN).

Chunks larger than the batch never occur for n ≤ CHUNK; for larger n the leave-one-out and
optimal baselines are computed within each chunk of ≥ CHUNK/2 samples (still unbiased).
"""

from __future__ import annotations

import time
from typing import NamedTuple

import numpy as np

from pgcli.base import lazy
from pgcli.base.fields import SpecError
from pgcli.base.progress import Progress, silent
from pgcli.base.streams import cell_rng
from pgcli.lab import distributions, estimators
from pgcli.lab.dist_spec import make_functions, probe_function, theta_label
from pgcli.lab.estimators import ESTIMATORS, NotApplicable
from pgcli.lab.exact import exact_gradient

pd = lazy.module("pandas")

MAX_N = 10**9  # samples in one estimate
MAX_REPS = 10**6  # estimates per cell
MAX_CELL_SAMPLES = 10**10  # n × reps: a cell's samples (about 2.5 minutes at 65 M samples/s)
MAX_SAMPLES = 10**11  # samples drawn by all the cells of a run together (about 25 minutes at 65 M samples/s)
CHUNK_ELEMENTS = 1 << 17  # per-sample values held at once (samples × sample dim × params)


class Settings(NamedTuple):
    """An estimator-lab experiment: p(x; θ) at each θ point, the functions f, the estimators, the
    sample sizes n and the number of independent estimates per cell."""

    dists: list[distributions.Dist]  # every θ point (pgcli.lab.dist_spec.make_dists)
    f: list  # texts (built-in, expression, module:function), callables or Fn
    estimators: list[str]
    n: list[int]
    reps: int
    options: dict  # the estimators' options: h (finite_difference), temperature (gumbel_softmax)
    seed: int


COLUMNS = [
    "dist",
    "parametrisation",
    "param",
    "theta",
    "f",
    "estimator",
    "n_samples",
    "reps",
    "mean",
    "exact",
    "exact_method",
    "bias",
    "variance",
    "std_error",
    "mse",
    "seconds",
    "samples_per_s",
    "efficiency",
]
WALL_CLOCK = ("seconds", "samples_per_s", "efficiency")  # differ between identical runs


def validate(settings: Settings) -> None:
    """Every θ point and function, checked before anything runs (a Python f is called once on a
    few samples: a wrong shape or dtype is bad input)."""
    if max(settings.n) * settings.reps > MAX_CELL_SAMPLES:
        raise SpecError("n", f"n × reps = {max(settings.n) * settings.reps:.3g} samples; the limit is "
                        f"{MAX_CELL_SAMPLES:,} per cell (lower n or reps)")  # fmt: skip
    total = len(settings.dists) * len(settings.f) * len(settings.estimators) * sum(settings.n) * settings.reps
    if total > MAX_SAMPLES:
        raise SpecError("n", f"θ points × f × estimators × Σ n × reps = {total:.3g} samples; the limit is "
                        f"{MAX_SAMPLES:.0e} per run (lower n, reps, or the θ grid)")  # fmt: skip
    for dist in settings.dists:
        for i, f in enumerate(make_functions(settings.f, dist)):
            probe_function(f, dist, f"f[{i}]")


# ---------------------------------------------------------------------------------------------
# running


def chunk_sizes(n, chunk):
    """n split into ⌈n/chunk⌉ near-equal chunk sizes (each ≤ chunk, summing to n), to bound memory."""
    count = -(-n // chunk)
    return [n // count + (1 if i < n % count else 0) for i in range(count)]


def run_cell(estimator, dist, f, n, reps, rng, **options):
    """Sums of terms per rep (reps, d), and of squared terms when reps == 1 (else None)."""
    d = dist.theta.size
    chunk = max(64, CHUNK_ELEMENTS // (d * dist.dim))
    sums = np.zeros((reps, d))
    squares = np.zeros(d) if reps == 1 else None
    if n <= chunk:
        per = max(1, chunk // n)
        for r0 in range(0, reps, per):
            r = min(per, reps - r0)
            terms = estimator(dist, f, n, rng, r, **options)
            sums[r0 : r0 + r] = terms.sum(1)
            if squares is not None:
                squares += np.einsum("nd,nd->d", terms[0], terms[0])
    else:
        for rep in range(reps):
            for m in chunk_sizes(n, chunk):
                terms = estimator(dist, f, m, rng, 1, **options)[0]
                sums[rep] += terms.sum(0)
                if squares is not None:
                    squares += np.einsum("nd,nd->d", terms, terms)
    return sums, squares


def summarise(sums, squares, n, exact):
    """mean, variance (of one estimate), std_error (of mean), mse — per coordinate."""
    estimates = sums / n
    reps = estimates.shape[0]
    if reps > 1:
        variance = estimates.var(0, ddof=1)
    else:
        variance = (squares - sums[0] ** 2 / n) / max(n - 1, 1) / n
        variance = np.maximum(variance, 0.0)
    mean = estimates.mean(0)
    # rounding dust (all estimates equal up to ~1e-16 relative) is an exact zero variance
    variance = np.where(variance <= (1e-12 * np.abs(mean)) ** 2, 0.0, variance)
    return mean, variance, np.sqrt(variance / reps), ((estimates - exact) ** 2).mean(0)


def run(settings: Settings, progress: Progress = silent) -> tuple[pd.DataFrame, list[str]]:
    """Run every cell; returns the tidy table (COLUMNS) and the notes of estimators skipped."""
    plan = [(dist, make_functions(settings.f, dist)) for dist in settings.dists]
    rows, notes = [], []
    per_f = len(settings.estimators) * len(settings.n)
    total, completed = sum(len(functions) for _, functions in plan) * per_f, 0
    progress(completed, total)
    for dist, functions in plan:
        for f in functions:
            exact, method = exact_gradient(dist, f)
            for name in settings.estimators:
                for i, n in enumerate(settings.n):
                    cell = run_one(settings, dist, f, name, n, (exact, method), notes)
                    completed += 1 if cell is not None else len(settings.n) - i
                    progress(completed, total)
                    if cell is None:  # the estimator does not apply: no other n either
                        break
                    rows += cell
    return pd.DataFrame(rows, columns=COLUMNS), sorted(set(notes), key=notes.index)


def run_one(settings: Settings, dist, f, name, n, exact, notes) -> list[dict] | None:
    """The rows (one per coordinate of θ, by column name) of one cell, or None with a note when
    `name` does not apply; `exact` is (the exact gradient, how it was computed)."""
    exact, method = exact
    label = theta_label(dist)
    rng = cell_rng(settings.seed, dist.family, dist.parametrisation, label, f.label, name, n)
    reps = settings.reps
    start = time.perf_counter()
    try:
        with np.errstate(all="ignore"):
            sums, squares = run_cell(
                ESTIMATORS[name], dist, f, n, reps, rng, **estimators.options(name, settings.options)
            )
    except NotApplicable as why:
        notes.append(f"{name} skipped for {dist.family} {label} f={f.label}: {why}")
        return None
    seconds = time.perf_counter() - start
    if name in estimators.DEPENDENT_TERMS and reps == 1:
        notes.append(f"{name}: variance needs reps ≥ 2 (its terms are dependent within a batch)")
        squares = np.full_like(sums[0], np.nan)
    mean, variance, std_error, mse = summarise(sums, squares, n, exact)
    with np.errstate(divide="ignore", invalid="ignore"):
        efficiency = np.where(variance > 0, 1 / (variance * seconds / reps), np.nan)
    rate = n * reps / seconds if seconds > 0 else np.nan
    rows = []
    for j, param in enumerate(dist.names):
        if np.isnan(mean[j]):
            notes.append(f"{name} has no estimate for {param} of {dist.family}")
            continue
        rows.append({
            "dist": dist.family, "parametrisation": dist.parametrisation, "param": param, "theta": label,
            "f": f.label, "estimator": name, "n_samples": n, "reps": reps, "mean": mean[j], "exact": exact[j],
            "exact_method": method, "bias": mean[j] - exact[j], "variance": variance[j],
            "std_error": std_error[j], "mse": mse[j], "seconds": seconds, "samples_per_s": rate,
            "efficiency": efficiency[j],
        })  # fmt: skip
    return rows


def z_scores(table: pd.DataFrame) -> pd.Series:
    """bias / std_error; an exact zero bias counts as 0 even with zero variance."""
    scale = np.maximum(1.0, table["exact"].abs())
    tiny = table["bias"].abs() <= 1e-10 * scale
    with np.errstate(divide="ignore", invalid="ignore"):
        z = table["bias"] / table["std_error"]
    return z.where(~tiny, 0.0)


RANK_COLUMNS = ["theta", "f", "rank", "estimator", "n_tested", "efficiency", "n_for_target", "seconds_for_target",
                "max_abs_z", "note"]  # fmt: skip


def rank(table: pd.DataFrame, target_se: float) -> pd.DataFrame:
    """Estimators ranked by work-normalised efficiency for each θ and f, at each one's largest n.

    From the worst coordinate's variance v of one estimate from n samples, the per-sample
    variance is σ² = n v; reaching standard error S takes n_S = ⌈σ²/S²⌉ samples and n_S times
    the measured seconds per sample. Unbiased estimators come first, fastest to the target
    first; an estimator biased by construction, or whose bias exceeds 4 standard errors, is
    listed after them (a small variance around the wrong value is no use).
    """
    table = table.assign(z=z_scores(table).abs())
    rows = []
    for (theta, f), cell in table.groupby(["theta", "f"], sort=False):
        found = []
        for name, rows_of in cell.groupby("estimator", sort=False):
            top = rows_of[rows_of["n_samples"] == rows_of["n_samples"].max()]
            n, reps = int(top["n_samples"].iloc[0]), int(top["reps"].iloc[0])
            variance, seconds = top["variance"].max(), top["seconds"].iloc[0]
            per_sample = seconds / (reps * n)
            z = top["z"].max()
            biased = name in estimators.BIASED or z > 4
            note = "biased" if biased else ""
            if np.isnan(variance):
                needed, note = np.nan, note or "no variance (reps = 1)"
            else:
                needed = max(1, int(np.ceil(n * variance / target_se**2)))
                note = note or ("zero variance" if variance == 0 else "")
            efficiency = 1 / (variance * seconds / reps) if variance > 0 else np.nan
            found.append({
                "theta": theta, "f": f, "estimator": name, "n_tested": n, "efficiency": efficiency,
                "n_for_target": needed, "seconds_for_target": needed * per_sample, "max_abs_z": z, "note": note,
                "biased": biased,
            })  # fmt: skip
        found.sort(key=lambda r: (r["biased"], np.isnan(r["n_for_target"]), r["seconds_for_target"]))
        rows += [{**r, "rank": i} for i, r in enumerate(found, 1)]
    return pd.DataFrame(rows, columns=RANK_COLUMNS)
