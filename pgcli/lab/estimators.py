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

The variance-reduction lab (each unbiased unless marked):

    score_antithetic   f(x) s(x) at x = F⁻¹(u) and its antithetic twin F⁻¹(1 − u)
    score_rqmc         f(x) s(x) at x = F⁻¹(u), u scrambled Sobol points (randomised QMC)
    score_cv_delta     (f(x) − h(x)) s(x) + ∇θ E[h],  h(x) = f(μ) + ∇f(μ)·(x − μ),  μ = E[x]
    arm                (f(1[u > σ(−α)]) − f(1[u < σ(α)])) (u − ½)            binary, α = logits
    disarm             ½ (f(b) − f(b̃)) (−1)^b̃ 1[b ≠ b̃] σ(|α|),  b = 1[u < σ(α)], b̃ = 1[1 − u < σ(α)]
    straight_through   f'(x) ∂p/∂θ at the hard sample x (biased)                   binary
    gumbel_softmax     f'(x̃) ∂x̃/∂θ, x̃ = σ((α + log u − log(1 − u))/τ) (biased, τ > 0)  binary

The terms of score_antithetic and score_rqmc are dependent within a batch by construction: their
variance is measured across independent batches (reps), never from one batch's terms.

References: Mohamed, Rosca, Figurnov & Mnih, "Monte Carlo Gradient Estimation in Machine
Learning", JMLR 2020; Williams 1992 (REINFORCE).
"""

from __future__ import annotations

import warnings

import numpy as np

from pgcli.base import lazy
from pgcli.lab import distributions
from pgcli.lab.functions import Fn

special = lazy.module("scipy.special")


class NotApplicable(Exception):
    """The estimator has no meaning for this distribution/function; the message says why."""


def f_of(f: Fn, x: np.ndarray) -> np.ndarray:
    """Objective per sample: Σ_k f(x_k), shape (m,) for x of shape (m, k)."""
    f_x = f.value(x)
    return f_x[:, 0] if f_x.shape[1] == 1 else f_x.sum(1)


def need_deriv(f: Fn, name: str) -> None:
    """NotApplicable unless f has a derivative (a Python f: its module's `<function>_grad`)."""
    if f.deriv is None:
        module, _, attr = f.label.partition(":")
        hint = f" (define {attr}_grad(x) in {module})" if f.name == "python" else ""
        raise NotApplicable(f"{name} needs f'(x); {f.label} has none{hint}")


def per_rep(terms: np.ndarray, reps: int, n: int) -> np.ndarray:
    """(reps·n, d) -> (reps, n, d); a view (no copy) when terms are column-major."""
    return terms.T.reshape(-1, reps, n).transpose(1, 2, 0)


def score(dist, f, n, rng, reps=1):
    """f(x) ∇θ log p(x; θ): the REINFORCE / likelihood-ratio estimator, terms (reps, n, d).

    Reference: Williams 1992; Mohamed et al., JMLR 2020, §4."""
    x = distributions.sample(dist, n * reps, rng)
    terms = distributions.score(dist, x)
    terms *= f_of(f, x)[:, None]  # in place: the score array is ours
    return per_rep(terms, reps, n)


def score_loo(dist, f, n, rng, reps=1):
    """(f_i − b_i) s_i with b_i = (Σ_j f_j − f_i)/(n − 1), independent of x_i: unbiased.

    Terms (reps, n, d). Reference: Kool, van Hoof & Welling 2019; Mohamed et al., JMLR 2020, §7.4."""
    if n < 2:
        raise NotApplicable("score_loo needs n ≥ 2 (a leave-one-out baseline)")
    x = distributions.sample(dist, n * reps, rng)
    return loo_terms(f_of(f, x).reshape(reps, n), per_rep(distributions.score(dist, x), reps, n))


def score_optimal(dist, f, n, rng, reps=1):
    """(f_i − b_j) s_ij with the variance-optimal constant b_j = E[f s_j²]/E[s_j²].

    b is fitted on one half of the batch and used on the other (and vice versa), so it never
    sees the sample it multiplies: the estimator stays unbiased for every n ≥ 2. Terms (reps, n, d).
    Reference: Greensmith, Bartlett & Baxter 2004; Mohamed et al., JMLR 2020, §7.4.
    """
    if n < 2:
        raise NotApplicable("score_optimal needs n ≥ 2 (its baseline is cross-fitted)")
    x = distributions.sample(dist, n * reps, rng)
    return cross_fitted_terms(f_of(f, x).reshape(reps, n), per_rep(distributions.score(dist, x), reps, n))


# ---------------------------------------------------------------------------------------------
# control variates on given values and scores: f_x (reps, n), s (reps, n, d) -> terms (reps, n, d)


def loo_terms(f_x, s):
    """(f_i − b_i) s_i with the leave-one-out baseline b_i = (Σ_j f_j − f_i)/(n − 1)."""
    n = f_x.shape[1]
    baseline = (f_x.sum(1, keepdims=True) - f_x) / (n - 1)
    return (f_x - baseline)[:, :, None] * s


def cross_fitted_terms(f_x, s):
    """(f_i − b_j) s_ij, b_j = Σ f s_j² / Σ s_j² fitted on the half of the batch without i."""
    n = f_x.shape[1]
    f_x = f_x[:, :, None]
    half = n // 2
    terms = np.empty_like(s)
    for fit, use in ((slice(0, half), slice(half, n)), (slice(half, n), slice(0, half))):
        s2 = s[:, fit] ** 2
        num = (f_x[:, fit] * s2).sum(1, keepdims=True)
        den = s2.sum(1, keepdims=True)
        b = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
        terms[:, use] = (f_x[:, use] - b) * s[:, use]
    return terms


def pathwise(dist, f, n, rng, reps=1):
    """f'(x) ∂x/∂θ with x = x(ε; θ): the reparameterisation estimator.

    For f with jumps (step) f' = 0 almost everywhere and this returns a biased answer.
    Terms (reps, n, d). Reference: Kingma & Welling 2014; Mohamed et al., JMLR 2020, §5.
    """
    fam = distributions.family(dist)
    if fam.pathwise is None:
        raise NotApplicable(f"pathwise needs a reparameterisation; {dist.family} is discrete")
    need_deriv(f, "pathwise")
    x, dx = fam.pathwise(dist.phi, n * reps, rng)
    terms = np.einsum("mk,mkd->md", f.deriv(x), dx) * distributions.jacobian_diag(dist)
    return per_rep(terms, reps, n)


def measure_valued(dist, f, n, rng, reps=1):
    """c_j [f(x⁺_j) − f(x⁻_j)] from the weak derivative ∂φ_j p = c_j (p⁺_j − p⁻_j).

    Coordinates without a decomposition (gamma shape) come back as NaN. Terms (reps, n, d).
    Reference: Pflug 1996; Mohamed et al., JMLR 2020, §6.
    """
    fam = distributions.family(dist)
    if fam.weak is None:
        raise NotApplicable(f"measure_valued: no weak-derivative decomposition for {dist.family}")
    m = n * reps
    c, xp, xm = fam.weak(dist.phi, m, rng)
    d = c.size
    diff = f_of(f, xp.reshape(d * m, -1)) - f_of(f, xm.reshape(d * m, -1))
    terms = (c * distributions.jacobian_diag(dist)) * diff.reshape(d, m).T
    return per_rep(terms, reps, n)


def finite_difference(dist, f, n, rng, reps=1, h=1e-2):
    """Central difference of f(F⁻¹(u; θ)) in each θ_j with common uniforms u: bias O(h²).

    Terms (reps, n, d). Reference: Glasserman, Monte Carlo Methods in Financial Engineering,
    2004, §7.1 (finite differences with common random numbers)."""
    fam = distributions.family(dist)
    u = rng.random((n * reps, distributions.sample_dim(dist)))
    terms = np.empty((dist.theta.size, n * reps)).T
    for j in range(dist.theta.size):
        step = np.zeros_like(dist.theta)
        step[j] = h
        sides = [distributions.with_theta(dist, dist.theta + sign * step) for sign in (1, -1)]
        for side in sides:
            if fam.constraints(side.phi, fam.names(dist.dim)):
                raise NotApplicable(f"finite_difference: θ ± h (h = {h:g}) leaves the support in {dist.names[j]}")
        terms[:, j] = (f_of(f, distributions.ppf(sides[0], u)) - f_of(f, distributions.ppf(sides[1], u))) / (2 * h)
    return per_rep(terms, reps, n)


# ---------------------------------------------------------------------------------------------
# the variance-reduction lab

U_MIN = 2.0**-53  # uniforms are kept in [U_MIN, 1 − U_MIN]: F⁻¹(0) and F⁻¹(1) may be infinite


def _score_terms_at(dist, f, x, reps, n):
    terms = distributions.score(dist, x)
    terms *= f_of(f, x)[:, None]
    return per_rep(terms, reps, n)


def score_antithetic(dist, f, n, rng, reps=1):
    """f(x) ∇θ log p(x; θ) at antithetic pairs x = F⁻¹(u), x' = F⁻¹(1 − u), u ~ U(0, 1)^k.

    Each point is marginally p(·; θ), so the mean is unbiased; when f(x) s(x) is monotone in u the
    pair is negatively correlated and the variance falls. With odd n the last point is unpaired.
    Reference: Hammersley & Morton 1956; Mohamed et al., JMLR 2020, §7.2 (coupling).
    """
    half = -(-n // 2)
    u = np.clip(rng.random((reps, half, distributions.sample_dim(dist))), U_MIN, 1 - U_MIN)
    u = np.concatenate([u, 1 - u], axis=1)[:, :n].reshape(reps * n, -1)
    return _score_terms_at(dist, f, distributions.ppf(dist, u), reps, n)


def score_rqmc(dist, f, n, rng, reps=1):
    """f(x) ∇θ log p(x; θ) at x = F⁻¹(u), u the first n points of a scrambled Sobol sequence.

    Randomised quasi-Monte Carlo: each scrambled point is uniform on [0, 1)^k (so the estimate is
    unbiased), while the set fills the cube more evenly than independent draws; each rep is an
    independent scrambling (Owen 1995; L'Ecuyer 2018; scipy.stats.qmc.Sobol). Sobol's balance
    holds for n a power of 2.
    """
    from scipy.stats import qmc  # ~0.1 s to import; only this estimator needs it

    k = distributions.sample_dim(dist)
    u = np.empty((reps, n, k))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "balance properties ... power of 2"
        for r in range(reps):
            u[r] = qmc.Sobol(k, scramble=True, rng=rng).random(n)
    u = np.clip(u, U_MIN, 1 - U_MIN).reshape(reps * n, k)
    return _score_terms_at(dist, f, distributions.ppf(dist, u), reps, n)


def score_cv_delta(dist, f, n, rng, reps=1):
    """(f(x) − h(x)) ∇θ log p(x; θ) + ∇θ E[h(x)], the delta-method control variate.

    h(x) = f(μ) + ∇f(μ)·(x − μ) is the first-order Taylor expansion of f around μ = E[x] (held
    fixed), so E[h(x) s(x)] = ∇θ E[h] = ∇f(μ)ᵀ ∂E[x]/∂θ in closed form for every family; the
    estimator is unbiased and its variance is that of the nonlinear remainder f − h.
    Reference: Mohamed et al., JMLR 2020, §7.4 (delta-method control variates); Paisley, Blei &
    Jordan 2012.
    """
    need_deriv(f, "score_cv_delta")
    mu = distributions.mean(dist)[None]
    f_mu, grad_mu = f_of(f, mu)[0], f.deriv(mu)[0]
    x = distributions.sample(dist, n * reps, rng)
    h = f_mu + (x - mu) @ grad_mu
    terms = distributions.score(dist, x)
    terms *= (f_of(f, x) - h)[:, None]
    terms += grad_mu @ distributions.mean_jacobian(dist)
    return per_rep(terms, reps, n)


def _binary(dist, name):
    """p (d,) and ∂α/∂θ (d,) for logits α = logit(p), or NotApplicable for other families."""
    if dist.family != "bernoulli":
        raise NotApplicable(
            f"{name} is for binary variables (bernoulli); not {dist.family}"
            + (" (the categorical extension, ARSM, is not implemented)" if dist.family == "categorical" else "")
        )
    p = dist.phi
    return p, distributions.jacobian_diag(dist) / (p * (1 - p))


def arm(dist, f, n, rng, reps=1):
    """Augment-REINFORCE-merge, per logit α_j of x ~ Bernoulli(σ(α)):

        (f(1[u > σ(−α)]) − f(1[u < σ(α)])) (u_j − ½),   u ~ U(0, 1)^d,

    two evaluations of f per term, unbiased (Yin & Zhou, "ARM", ICLR 2019), mapped to θ by
    the chain rule ∂α/∂θ.
    """
    p, dalpha = _binary(dist, "arm")
    u = rng.random((n * reps, p.size))
    diff = f_of(f, (u > 1 - p).astype(float)) - f_of(f, (u < p).astype(float))
    return per_rep(diff[:, None] * (u - 0.5) * dalpha, reps, n)


def disarm(dist, f, n, rng, reps=1):
    """DisARM, per logit α_j of x ~ Bernoulli(σ(α)), with antithetic b = 1[u < σ(α)], b̃ = 1[1 − u < σ(α)]:

        ½ (f(b) − f(b̃)) (−1)^b̃_j 1[b_j ≠ b̃_j] σ(|α_j|),

    ARM with the augmenting uniform integrated out: unbiased, never more variance than ARM
    (Dong, Mnih & Tucker, "DisARM", NeurIPS 2020).
    """
    p, dalpha = _binary(dist, "disarm")
    u = rng.random((n * reps, p.size))
    b, bt = (u < p).astype(float), (1 - u < p).astype(float)
    diff = 0.5 * (f_of(f, b) - f_of(f, bt))
    weight = (1 - 2 * bt) * (b != bt) * np.maximum(p, 1 - p)
    return per_rep(diff[:, None] * weight * dalpha, reps, n)


def straight_through(dist, f, n, rng, reps=1):
    """f'(x) ∂p/∂θ at the hard sample x ~ Bernoulli(p): the backward pass pretends x = p.

    Biased whenever f is not linear on {0, 1} (e.g. a step, or x²). Reference: Bengio, Léonard
    & Courville 2013.
    """
    p, _ = _binary(dist, "straight_through")
    need_deriv(f, "straight_through")
    x = (rng.random((n * reps, p.size)) < p).astype(float)
    return per_rep(f.deriv(x) * distributions.jacobian_diag(dist), reps, n)


def gumbel_softmax(dist, f, n, rng, reps=1, temperature=0.5):
    """f'(x̃) ∂x̃/∂θ at the relaxed sample x̃ = σ((α + log u − log(1 − u))/τ), α = logit(p).

    The binary Concrete / Gumbel-softmax relaxation: ∂x̃/∂α = x̃(1 − x̃)/τ. It differentiates a
    relaxed objective, so it is biased for every τ > 0 (the bias vanishes as τ → 0 while the
    variance grows). References: Maddison, Mnih & Teh 2017; Jang, Gu & Poole 2017.
    """
    p, dalpha = _binary(dist, "gumbel_softmax")
    need_deriv(f, "gumbel_softmax")
    u = np.clip(rng.random((n * reps, p.size)), U_MIN, 1 - U_MIN)
    x = special.expit((special.logit(p) + np.log(u) - np.log1p(-u)) / temperature)
    return per_rep(f.deriv(x) * x * (1 - x) / temperature * dalpha, reps, n)


ESTIMATORS = {
    "score": score,
    "score_loo": score_loo,
    "score_optimal": score_optimal,
    "pathwise": pathwise,
    "measure_valued": measure_valued,
    "finite_difference": finite_difference,
    "score_antithetic": score_antithetic,
    "score_rqmc": score_rqmc,
    "score_cv_delta": score_cv_delta,
    "arm": arm,
    "disarm": disarm,
    "straight_through": straight_through,
    "gumbel_softmax": gumbel_softmax,
}
UNBIASED = (
    "score", "score_loo", "score_optimal", "measure_valued", "score_antithetic", "score_rqmc", "score_cv_delta",
    "arm", "disarm",
)  # fmt: skip
BIASED = ("finite_difference", "straight_through", "gumbel_softmax")  # by construction (pathwise: when f jumps)
DEPENDENT_TERMS = ("score_antithetic", "score_rqmc")  # variance only across reps
OPTIONS = {"finite_difference": ("h",), "gumbel_softmax": ("temperature",)}  # estimator -> its options


def options(name: str, values: dict) -> dict:
    """The keyword options estimator `name` takes, from `values` ({"h": ..., "temperature": ...})."""
    return {key: values[key] for key in OPTIONS.get(name, ())}
