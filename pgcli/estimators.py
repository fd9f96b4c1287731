"""Monte Carlo estimators of g(θ) = ∇θ E_{x~p(x;θ)}[f(x)].

Each estimator draws `reps` independent batches of `n` samples and returns the per-sample terms,
shape (reps, n, d): the mean over a batch's n terms is that batch's estimate. Estimators that do
not apply to a distribution or function raise :class:`NotApplicable` with the reason.

    score              f(x) s(x),                            s = ∇θ log p(x; θ)
    score_loo          (f(x_i) − mean_{j≠i} f(x_j)) s(x_i)    (leave-one-out baseline)
    score_optimal      (f(x_i) − b) s(x_i), b_j = Σ f s_j² / Σ s_j² fitted on the other half of
                       the batch (two-fold cross-fitting keeps b independent of x_i: unbiased)
    pathwise           f'(x) ∂x/∂θ with x = x(ε; θ)            (biased when f jumps, e.g. step)
    measure_valued     c_j [f(x⁺_j) − f(x⁻_j)],  ∂θ_j p = c_j (p⁺_j − p⁻_j)
    finite_difference  [f(F⁻¹(u; θ + h e_j)) − f(F⁻¹(u; θ − h e_j))] / 2h, common uniforms u

References: Mohamed, Rosca, Figurnov & Mnih, "Monte Carlo Gradient Estimation in Machine
Learning", JMLR 2020; Williams 1992 (REINFORCE).
"""

from __future__ import annotations

import numpy as np

from pgcli import distributions as D
from pgcli.functions import Fn


class NotApplicable(Exception):
    """The estimator has no meaning for this distribution/function; the message says why."""


def f_of(f: Fn, x: np.ndarray) -> np.ndarray:
    """Objective per sample: Σ_k f(x_k), shape (m,) for x of shape (m, k)."""
    fx = f.value(x)
    return fx[:, 0] if fx.shape[1] == 1 else fx.sum(1)


def per_rep(terms: np.ndarray, reps: int, n: int) -> np.ndarray:
    """(reps·n, d) -> (reps, n, d); a view (no copy) when terms are column-major."""
    return terms.T.reshape(-1, reps, n).transpose(1, 2, 0)


def score(dist, f, n, rng, reps=1):
    """f(x) ∇θ log p(x; θ): the REINFORCE / likelihood-ratio estimator."""
    x = D.sample(dist, n * reps, rng)
    terms = D.score(dist, x)
    terms *= f_of(f, x)[:, None]  # in place: the score array is ours
    return per_rep(terms, reps, n)


def score_loo(dist, f, n, rng, reps=1):
    """(f_i − b_i) s_i with b_i = (Σ_j f_j − f_i)/(n − 1), independent of x_i: unbiased."""
    if n < 2:
        raise NotApplicable("score_loo needs n ≥ 2 (a leave-one-out baseline)")
    x = D.sample(dist, n * reps, rng)
    return loo_terms(f_of(f, x).reshape(reps, n), per_rep(D.score(dist, x), reps, n))


def score_optimal(dist, f, n, rng, reps=1):
    """(f_i − b_j) s_ij with the variance-optimal constant b_j = E[f s_j²]/E[s_j²].

    b is fitted on one half of the batch and used on the other (and vice versa), so it never
    sees the sample it multiplies: the estimator stays unbiased for every n ≥ 2.
    """
    if n < 2:
        raise NotApplicable("score_optimal needs n ≥ 2 (its baseline is cross-fitted)")
    x = D.sample(dist, n * reps, rng)
    return cross_fitted_terms(f_of(f, x).reshape(reps, n), per_rep(D.score(dist, x), reps, n))


# ---------------------------------------------------------------------------------------------
# control variates on given values and scores: fx (reps, n), s (reps, n, d) -> terms (reps, n, d)


def loo_terms(fx, s):
    """(f_i − b_i) s_i with the leave-one-out baseline b_i = (Σ_j f_j − f_i)/(n − 1)."""
    n = fx.shape[1]
    baseline = (fx.sum(1, keepdims=True) - fx) / (n - 1)
    return (fx - baseline)[:, :, None] * s


def cross_fitted_terms(fx, s):
    """(f_i − b_j) s_ij, b_j = Σ f s_j² / Σ s_j² fitted on the half of the batch without i."""
    n = fx.shape[1]
    fx = fx[:, :, None]
    half = n // 2
    terms = np.empty_like(s)
    for fit, use in ((slice(0, half), slice(half, n)), (slice(half, n), slice(0, half))):
        s2 = s[:, fit] ** 2
        num = (fx[:, fit] * s2).sum(1, keepdims=True)
        den = s2.sum(1, keepdims=True)
        b = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
        terms[:, use] = (fx[:, use] - b) * s[:, use]
    return terms


def pathwise(dist, f, n, rng, reps=1):
    """f'(x) ∂x/∂θ with x = x(ε; θ): the reparameterisation estimator.

    For f with jumps (step) f' = 0 almost everywhere and this returns a biased answer.
    """
    fam = D.family(dist)
    if fam.pathwise is None:
        raise NotApplicable(f"pathwise needs a reparameterisation; {dist.family} is discrete")
    if f.deriv is None:
        raise NotApplicable(f"pathwise needs f'(x); {f.label} has none")
    x, dx = fam.pathwise(dist.phi, n * reps, rng)
    terms = np.einsum("mk,mkd->md", f.deriv(x), dx) * D.jacobian_diag(dist)
    return per_rep(terms, reps, n)


def measure_valued(dist, f, n, rng, reps=1):
    """c_j [f(x⁺_j) − f(x⁻_j)] from the weak derivative ∂φ_j p = c_j (p⁺_j − p⁻_j).

    Coordinates without a decomposition (gamma shape) come back as NaN.
    """
    fam = D.family(dist)
    if fam.weak is None:
        raise NotApplicable(f"measure_valued: no weak-derivative decomposition for {dist.family}")
    m = n * reps
    c, xp, xm = fam.weak(dist.phi, m, rng)
    d = c.size
    diff = f_of(f, xp.reshape(d * m, -1)) - f_of(f, xm.reshape(d * m, -1))
    terms = (c * D.jacobian_diag(dist)) * diff.reshape(d, m).T
    return per_rep(terms, reps, n)


def finite_difference(dist, f, n, rng, reps=1, h=1e-2):
    """Central difference of f(F⁻¹(u; θ)) in each θ_j with common uniforms u: bias O(h²)."""
    fam = D.family(dist)
    u = rng.random((n * reps, dist.dim if dist.family == "diag_gaussian" else 1))
    terms = np.empty((dist.theta.size, n * reps)).T
    for j in range(dist.theta.size):
        step = np.zeros_like(dist.theta)
        step[j] = h
        sides = [D.with_theta(dist, dist.theta + sign * step) for sign in (1, -1)]
        for side in sides:
            if fam.constraints(side.phi, fam.names(dist.dim)):
                raise NotApplicable(f"finite_difference: θ ± h (h = {h:g}) leaves the support in {dist.names[j]}")
        terms[:, j] = (f_of(f, D.ppf(sides[0], u)) - f_of(f, D.ppf(sides[1], u))) / (2 * h)
    return per_rep(terms, reps, n)


ESTIMATORS = {
    "score": score,
    "score_loo": score_loo,
    "score_optimal": score_optimal,
    "pathwise": pathwise,
    "measure_valued": measure_valued,
    "finite_difference": finite_difference,
}
UNBIASED = ("score", "score_loo", "score_optimal", "measure_valued")


def mean_and_std_error(grads: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of per-sample terms (n, d) and its standard error std(ddof=1)/√n."""
    n = grads.shape[0]
    std = grads.std(0, ddof=1) if n > 1 else np.full(grads.shape[1:], np.nan)
    return grads.mean(0), std / np.sqrt(n)
