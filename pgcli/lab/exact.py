"""Exact values to test estimators against: closed forms, quadrature, exact sums.

    ∇θ E[f(x)] = ∫ f(x) ∇θ p(x; θ) dx = E[f(x) s(x; θ)]

For discrete families the expectation is an exact sum over the support (Poisson: truncated
where the tail mass is below 1e-18). For continuous families it is adaptive quadrature
(:func:`scipy.integrate.quad_vec`) unless a closed form is known. For the diagonal gaussian and
the product of Bernoullis a built-in objective Σ_k f(x_k) separates, so its gradient is
assembled coordinate by coordinate. A user's f(x) of the whole vector does not: for d ≤
MAX_ENUMERATION Bernoullis it is an exact sum over all 2^d points; beyond that, and for a
diagonal gaussian with k > 1, there is no exact value (method 'none', gradient NaN).
"""

from __future__ import annotations

import numpy as np

from pgcli.base import lazy
from pgcli.lab import distributions
from pgcli.lab.dist_spec import function_problem
from pgcli.lab.functions import Fn

integrate = lazy.module("scipy.integrate")
special = lazy.module("scipy.special")

MAX_ENUMERATION = 16  # exact sums over {0, 1}^d up to d = 16 (65,536 points)


def _normal_pdf(z):
    """The standard normal density e^{−z²/2} / √(2π) (φ elsewhere means standard parameters)."""
    return np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi)


def _gauss_cos(phi, k):
    mu, sigma = phi
    damp = np.exp(-0.5 * k * k * sigma * sigma)
    return np.array([-k * np.sin(k * mu) * damp, -k * k * sigma * np.cos(k * mu) * damp])


def _gauss_step(phi, c):
    mu, sigma = phi
    z = (mu - c) / sigma
    return np.array([_normal_pdf(z) / sigma, -z * _normal_pdf(z) / sigma])


def _gauss_abs(phi, _):
    mu, sigma = phi
    return np.array([2 * special.ndtr(mu / sigma) - 1, 2 * _normal_pdf(mu / sigma)])


# (family, f name) -> ∇φ E[f] in standard parameters φ
CLOSED_FORMS = {
    ("gaussian", "linear"): lambda phi, a: np.array([1.0, 0.0]),
    ("gaussian", "square"): lambda phi, a: 2 * phi,
    ("gaussian", "cos"): _gauss_cos,
    ("gaussian", "step"): _gauss_step,
    ("gaussian", "abs"): _gauss_abs,
    ("exponential", "linear"): lambda phi, a: np.array([-1 / phi[0] ** 2]),
    ("exponential", "square"): lambda phi, a: np.array([-4 / phi[0] ** 3]),
    ("exponential", "step"): lambda phi, c: np.array([-max(c, 0) * np.exp(-phi[0] * max(c, 0))]),
    ("exponential", "cos"): lambda phi, k: np.array([2 * phi[0] * k * k / (phi[0] ** 2 + k * k) ** 2]),
    ("gamma", "linear"): lambda phi, a: np.array([1 / phi[1], -phi[0] / phi[1] ** 2]),
    ("gamma", "square"): lambda phi, a: np.array(
        [(2 * phi[0] + 1) / phi[1] ** 2, -2 * phi[0] * (phi[0] + 1) / phi[1] ** 3]
    ),
    ("beta", "linear"): lambda phi, a: np.array([phi[1], -phi[0]]) / phi.sum() ** 2,
}


def expectation(dist: distributions.Dist, g, points=()) -> np.ndarray:
    """E[g(x)] for a scalar family (k = 1); g maps x (m, 1) to (m, ...). Exact sum or quadrature."""
    fam = distributions.family(dist)
    if fam.discrete:
        xs = fam.support(dist.phi)
        xs = xs[:, None] if xs.ndim == 1 else xs
        weights = np.exp(distributions.log_prob(dist, xs))
        values = g(xs)
        return np.tensordot(weights, values, axes=(0, 0))
    lo, hi = fam.support(dist.phi)
    lo, hi = float(np.squeeze(lo)), float(np.squeeze(hi))
    guide = distributions.ppf(dist, np.array([[1e-6], [0.5], [1 - 1e-6]]))[:, 0]
    inner = sorted({float(p) for p in (*points, *guide) if lo < p < hi})

    def integrand(x):
        # A node can round onto an endpoint where the density is singular (beta with a < 1);
        # its quadrature weight is ~1e-16, so dropping the non-finite value changes nothing.
        xs = np.array([[x]])
        with np.errstate(all="ignore"):
            value = g(xs)[0] * np.exp(distributions.log_prob(dist, xs)[0])
        return np.where(np.isfinite(value), value, 0.0)

    value, _ = integrate.quad_vec(integrand, lo, hi, points=inner or None, epsabs=1e-13, epsrel=1e-11, limit=2000)
    return value


def exact_gradient(dist: distributions.Dist, f: Fn) -> tuple[np.ndarray, str]:
    """∇θ E[f(x)] exactly, and how: 'closed_form', 'quadrature', 'exact_sum', or NaN and
    'none' when neither applies (a user's f of many continuous or > 16 binary coordinates)."""
    k = distributions.sample_dim(dist)
    if k > 1 and not f.separable:
        if dist.family == "bernoulli" and k <= MAX_ENUMERATION:
            return quadrature_gradient(dist, f)
        return np.full(dist.theta.size, np.nan), "none"
    if k > 1:
        return _by_coordinate(dist, lambda one: exact_gradient(one, f))
    mismatch = function_problem(f, dist)
    if mismatch:
        raise ValueError(mismatch)
    closed = CLOSED_FORMS.get((dist.family, f.name))
    if closed is not None:
        return closed(dist.phi, f.arg) * distributions.jacobian_diag(dist), "closed_form"
    return quadrature_gradient(dist, f)


def quadrature_gradient(dist: distributions.Dist, f: Fn) -> tuple[np.ndarray, str]:
    """∫ f(x) s(x; θ) p(x; θ) dx by quadrature (continuous) or exact sum (discrete)."""
    grad = expectation(dist, lambda x: f.value(x) * distributions.score(dist, x), points=f.breakpoints)
    return grad, ("exact_sum" if distributions.family(dist).discrete else "quadrature")


def exact_neg_hessian(dist: distributions.Dist) -> tuple[np.ndarray, str]:
    """−E[∇²θ log p(x; θ)] by quadrature / exact sum of the Hessian, independent of the
    closed-form Fisher so that the identity F = −E[∇² log p] is a real check."""
    if distributions.sample_dim(dist) > 1:
        d = dist.theta.size
        out = np.zeros((d, d))
        for j, one in enumerate(coordinate_dists(dist)):
            block, method = exact_neg_hessian(one)
            idx = coordinate_index(dist, j)
            out[np.ix_(idx, idx)] = block
        return out, method
    h = expectation(dist, lambda x: -distributions.hessian(dist, x))
    return h, ("exact_sum" if distributions.family(dist).discrete else "quadrature")


def coordinate_index(dist: distributions.Dist, j: int) -> np.ndarray:
    """Positions in θ of sample coordinate j's parameters: (mu_j, sigma_j) or (p_j,)."""
    return np.arange(j, dist.theta.size, distributions.sample_dim(dist))


def coordinate_dists(dist: distributions.Dist) -> list[distributions.Dist]:
    """The 1-D distributions (same parametrisation) of each coordinate of a diagonal gaussian
    or a product of Bernoullis."""
    scalar = "gaussian" if dist.family == "diag_gaussian" else dist.family
    groups = distributions.param_groups(dist.family, dist.parametrisation, dist.dim)
    return [
        distributions.make_dist(
            scalar, dist.parametrisation, dict(zip(groups, dist.theta[coordinate_index(dist, j)], strict=True))
        )
        for j in range(distributions.sample_dim(dist))
    ]


def _by_coordinate(dist, one_gradient):
    grad = np.zeros(dist.theta.size)
    method = ""
    for j, one in enumerate(coordinate_dists(dist)):
        g, method = one_gradient(one)
        grad[coordinate_index(dist, j)] = g
    return grad, method
