"""The score identities, checked by Monte Carlo against exact values.

For x ~ p(x; θ) and s(x; θ) = ∇θ log p(x; θ):

    E[s] = 0,        Cov[s] = F(θ) (the Fisher information),        F(θ) = −E[∇²θ log p(x; θ)]

`fisher` is compared with the closed-form Fisher matrix, `neg_hessian` with the exact
expectation of −∇² log p (quadrature or exact sum of the Hessian, computed independently), and
`score_mean` with 0. Standard errors are std(per-sample term)/√n.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from pgcli.base import lazy
from pgcli.base.fields import SpecError
from pgcli.base.progress import Progress, silent
from pgcli.base.streams import cell_rng
from pgcli.lab import distributions
from pgcli.lab.dist_spec import theta_label
from pgcli.lab.estimate import CHUNK_ELEMENTS, chunk_sizes
from pgcli.lab.exact import exact_neg_hessian

pd = lazy.module("pandas")


class Settings(NamedTuple):
    """A score-identities experiment: p(x; θ) at each θ point, and the sample sizes n."""

    dists: list[distributions.Dist]  # every θ point (pgcli.lab.dist_spec.make_dists)
    n: list[int]
    seed: int


MAX_PARAMS = 100  # d: the Fisher table has d² rows per quantity and n

COLUMNS = [
    "dist",
    "parametrisation",
    "theta",
    "n_samples",
    "quantity",
    "row",
    "col",
    "empirical",
    "exact",
    "abs_error",
    "std_error",
]


def moments(dist: distributions.Dist, n: int, rng: np.random.Generator) -> dict:
    """Empirical E[s], Cov[s], −E[∇² log p] and their standard errors from n samples (chunked)."""
    d = dist.theta.size
    chunk = max(64, CHUNK_ELEMENTS // (d * d))
    s1, s2, ss2 = np.zeros(d), np.zeros((d, d)), np.zeros((d, d))
    h1, h2, sq1 = np.zeros((d, d)), np.zeros((d, d)), np.zeros(d)
    for m in chunk_sizes(n, chunk):
        x = distributions.sample(dist, m, rng)
        s = distributions.score(dist, x)
        outer = s[:, :, None] * s[:, None, :]
        neg_h = -distributions.hessian(dist, x)
        s1 += s.sum(0)
        sq1 += (s * s).sum(0)
        s2 += outer.sum(0)
        ss2 += (outer * outer).sum(0)
        h1 += neg_h.sum(0)
        h2 += (neg_h * neg_h).sum(0)
    mean = s1 / n
    dof = max(n - 1, 1)

    def se(total, total_sq):
        return np.sqrt(np.maximum(total_sq / n - (total / n) ** 2, 0) / dof)

    return {
        "score_mean": (mean, se(s1, sq1)),
        "fisher": ((s2 - n * np.outer(mean, mean)) / dof, se(s2, ss2)),
        "neg_hessian": (h1 / n, se(h1, h2)),
    }


MAX_SAMPLES = 10**11  # samples drawn for all θ points and sample sizes of a run together


def validate(settings: Settings) -> None:
    """Every θ point, with at most MAX_PARAMS parameters (the table has d² rows per quantity); at
    most MAX_SAMPLES samples in all."""
    total = len(settings.dists) * sum(settings.n)
    if total > MAX_SAMPLES:
        raise SpecError("n", f"θ points × Σ n = {total:.3g} samples; the limit is {MAX_SAMPLES:.0e} per run")
    for dist in settings.dists:
        if dist.theta.size > MAX_PARAMS:
            raise SpecError("dim", f"{dist.family} has {dist.theta.size} parameters; fisher allows {MAX_PARAMS}")


def run(settings: Settings, progress: Progress = silent) -> tuple[pd.DataFrame, list[str]]:
    """Rows: quantity × entry × θ × n, with exact values; notes on singular Fisher matrices.

    For each θ of the spec, the exact E[s] = 0, F(θ) (closed form) and −E[∇²θ log p] (quadrature
    or exact sum, exact.exact_neg_hessian) beside their Monte Carlo estimates from n samples
    (:func:`moments`), d parameters giving d + 2d² rows per n. Reference: Lehmann & Casella,
    Theory of Point Estimation, §2.5."""
    rows, notes = [], []
    total, completed = len(settings.dists) * len(settings.n), 0
    progress(completed, total)
    for dist in settings.dists:
        label = theta_label(dist)
        exact_fisher = distributions.fisher(dist)
        exact = {
            "score_mean": np.zeros(dist.theta.size),
            "fisher": exact_fisher,
            "neg_hessian": exact_neg_hessian(dist)[0],
        }
        rank = np.linalg.matrix_rank(exact_fisher, tol=1e-10 * np.abs(exact_fisher).max())
        if rank < dist.theta.size:
            why = distributions.family(dist).singular_fisher or "it has a null direction"
            notes.append(
                f"{dist.family} ({dist.parametrisation}) at {label}: the Fisher matrix is singular, "
                f"rank {rank} of {dist.theta.size}: {why}"
            )
        for n in settings.n:
            rng = cell_rng(settings.seed, "fisher", dist.family, dist.parametrisation, label, n)
            with np.errstate(all="ignore"):
                found = moments(dist, n, rng)
            cell = {"dist": dist.family, "parametrisation": dist.parametrisation, "theta": label, "n_samples": n}
            rows += _entries(cell, dist.names, found, exact)
            completed += 1
            progress(completed, total)
    return pd.DataFrame(rows, columns=COLUMNS), notes


def _entries(cell: dict, names, found: dict, exact: dict) -> list[dict]:
    """One row per entry (row, col) of each quantity: empirical, exact, |error|, standard error."""
    rows = []
    for quantity, (empirical, std_error) in found.items():
        for index in np.ndindex(empirical.shape):
            e, x = empirical[index], exact[quantity][index]
            rows.append({
                **cell, "quantity": quantity, "row": names[index[0]], "col": names[index[1]] if len(index) > 1 else "",
                "empirical": e, "exact": x, "abs_error": abs(e - x), "std_error": std_error[index],
            })  # fmt: skip
    return rows
