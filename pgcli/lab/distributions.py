"""Distribution families p(x; θ): sampling, log-density, score, Hessian, exact Fisher.

Every family is written once in its *standard* parameters φ (gaussian: mu, sigma; gamma: shape,
rate; ...). A *parametrisation* maps the user's θ to φ coordinate by coordinate, φ_j = g_j(θ_j),
with g ∈ {identity, exp, sigmoid}. The chain rule then gives everything in θ from the φ forms:

    s_θ = s_φ ⊙ g'(θ)                                   (score)
    H_θ = diag(g') H_φ diag(g') + diag(s_φ ⊙ g''(θ))      (Hessian of log p)
    F_θ = diag(g') F_φ diag(g')                           (Fisher; E[s_φ] = 0 kills the g'' term)

Samples always have shape (n, k): k = 1 for the scalar families, k = d/2 for the diagonal
gaussian, k = d for the product of d Bernoullis. Shape letters: n samples, k sample dimension, d parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from pgcli.base import lazy
from pgcli.base.numerics import softmax

special = lazy.module("scipy.special")
stats = lazy.module("scipy.stats")

# ---------------------------------------------------------------------------------------------
# coordinate transforms θ_j -> φ_j


class Transform(NamedTuple):
    """A coordinate map φ_j = g(θ_j) with its first two derivatives, for the chain rule of the
    module docstring (s_θ = s_φ ⊙ g', and g'' in the Hessian)."""

    rename: Callable[[str], str]  # name of θ_j from the name of φ_j
    forward: Callable  # φ = g(θ)
    inverse: Callable  # θ = g⁻¹(φ)
    d1: Callable  # g'(θ)
    d2: Callable  # g''(θ)


IDENTITY = Transform(lambda name: name, lambda t: t, lambda p: p, np.ones_like, np.zeros_like)
EXP = Transform(lambda name: "log_" + name, np.exp, np.log, np.exp, np.exp)
SIGMOID = Transform(
    lambda name: "logit" + name[1:] if name.split("[")[0] == "p" else "logit_" + name,  # p[2] -> logit[2]
    lambda t: special.expit(t),
    lambda p: special.logit(p),
    lambda t: special.expit(t) * (1 - special.expit(t)),
    lambda t: special.expit(t) * (1 - special.expit(t)) * (1 - 2 * special.expit(t)),
)


class Family(NamedTuple):
    """The functions of one family, all in standard parameters φ (shape (d,))."""

    names: Callable[[int], list[str]]  # standard parameter names for sample dimension k
    defaults: Callable[[int], dict]  # default θ for the standard parametrisation
    constraints: Callable[[np.ndarray, list[str]], str | None]
    parametrisations: dict[str, tuple[Transform, ...] | Transform]
    discrete: bool
    sample: Callable  # (φ, n, rng) -> x (n, k)
    log_prob: Callable  # (x, φ) -> (n,)
    score: Callable  # (x, φ) -> (n, d)
    hessian: Callable  # (x, φ) -> (n, d, d)
    fisher: Callable  # (φ) -> (d, d), closed form
    ppf: Callable  # (u (n, k), φ) -> x (n, k); inverse CDF, for common random numbers
    support: Callable  # (φ) -> support points (discrete) or (lo, hi) quadrature interval
    pathwise: Callable | None  # (φ, n, rng) -> x (n, k), dx/dφ (n, k, d)
    weak: Callable | None  # (φ, n, rng) -> c (d,), x⁺ (d, n, k), x⁻ (d, n, k)
    mean: Callable | None = None  # (φ) -> E[x] (k,)
    mean_jacobian: Callable | None = None  # (φ) -> ∂E[x]/∂φ (k, d)
    sample_in: Callable | None = None  # (φ, n, rng, dtype) -> x (n, k) drawn in that dtype (float32)
    singular_fisher: str | None = None  # why the Fisher matrix is singular, if it is


# ---------------------------------------------------------------------------------------------
# gaussian (diagonal, k ≥ 1): φ = (mu_1..mu_k, sigma_1..sigma_k)


def _split(phi):
    k = phi.size // 2
    return phi[:k], phi[k:]


def _gauss_sample(phi, n, rng, dtype=np.float64):
    mu, sigma = _split(phi.astype(dtype, copy=False))
    shape = (n, mu.size)
    x = standard_normal32(rng, shape) if dtype == np.float32 else rng.standard_normal(shape, dtype=dtype)
    x *= sigma
    x += mu
    return x


def standard_normal32(rng, shape) -> np.ndarray:
    """N(0, 1) draws in float32 by Box–Muller, z = √(−2 log u) (cos 2πv, sin 2πv), with u and v
    taken from the 40 high and 24 low bits of one 64-bit draw of the generator per pair:
    u = (k + ½) 2⁻⁴⁰ ∈ (0, 1) puts the tails at 7.4σ (the mass beyond is 1e-13), v has float32's
    resolution. One raw draw per two normals and NumPy's SIMD float32 cos and sin make this
    faster than Generator.standard_normal(dtype=float32) (its ziggurat); still exact in law up
    to the discretisation of u and v.
    """
    size = int(np.prod(shape))
    half = -(-size // 2)
    bits = rng.bit_generator.random_raw(half)
    u = np.right_shift(bits, np.uint64(24)).astype(np.float64)  # in place from here: fewer passes
    np.multiply(u, 2.0**-40, out=u)
    np.add(u, 2.0**-41, out=u)
    np.log(u, out=u)
    np.multiply(u, -2.0, out=u)
    np.sqrt(u, out=u)
    radius = u.astype(np.float32)
    np.bitwise_and(bits, np.uint64(0xFFFFFF), out=bits)
    angle = bits.astype(np.float32)
    angle *= np.float32(2 * np.pi / 2**24)
    out = np.empty(2 * half, dtype=np.float32)
    np.cos(angle, out=out[:half])
    np.sin(angle, out=out[half:])
    out[:half] *= radius
    out[half:] *= radius
    return out[:size].reshape(shape)


def _gauss_log_prob(x, phi):
    mu, sigma = _split(phi)
    z = (x - mu) / sigma
    return (-0.5 * z * z - np.log(sigma) - 0.5 * np.log(2 * np.pi)).sum(1)


def _gauss_score(x, phi):
    """s_mu = z/σ, s_σ = (z² − 1)/σ with z = (x − mu)/σ.

    Built in place as a (d, n) array and returned as its (n, d) transpose: column-major
    terms make the per-coordinate sums over samples contiguous (this is the hot loop of
    `pgcli estimate`)."""
    mu, sigma = _split(phi)
    k = mu.size
    out = np.empty((2 * k, x.shape[0]), dtype=x.dtype)
    z, z2 = out[:k], out[k:]
    inv = 1 / sigma[:, None]  # multiplying by 1/σ is cheaper than dividing by σ
    np.subtract(x.T, mu[:, None], out=z)
    z *= inv
    np.multiply(z, z, out=z2)
    z2 -= 1
    out *= np.concatenate([inv, inv])
    return out.T


def _gauss_hessian(x, phi):
    """H_mumu = −1/σ², H_muσ = −2z/σ², H_σσ = (1 − 3z²)/σ², block-diagonal over coordinates."""
    mu, sigma = _split(phi)
    n, k = x.shape
    z = (x - mu) / sigma
    h = np.zeros((n, 2 * k, 2 * k))
    i = np.arange(k)
    h[:, i, i] = -1 / sigma**2
    h[:, i, k + i] = h[:, k + i, i] = -2 * z / sigma**2
    h[:, k + i, k + i] = (1 - 3 * z * z) / sigma**2
    return h


def _gauss_fisher(phi):
    _, sigma = _split(phi)
    return np.diag(np.concatenate([1 / sigma**2, 2 / sigma**2]))


def _gauss_ppf(u, phi):
    mu, sigma = _split(phi)
    return mu + sigma * special.ndtri(u)


def _gauss_support(phi):
    mu, sigma = _split(phi)
    return mu - 40 * sigma, mu + 40 * sigma


def _gauss_pathwise(phi, n, rng):
    """x = mu + σ ε: ∂x_k/∂mu_k = 1, ∂x_k/∂σ_k = ε_k."""
    mu, sigma = _split(phi)
    k = mu.size
    eps = rng.standard_normal((n, k))
    dx = np.zeros((n, k, 2 * k))
    i = np.arange(k)
    dx[:, i, i] = 1.0
    dx[:, i, k + i] = eps
    return mu + sigma * eps, dx


def _gauss_weak(phi, n, rng):
    """∂_mu N = (σ√(2π))⁻¹ [N(mu + σR) − N(mu − σR)], R ~ Rayleigh(1) (shared: coupled);
    ∂_σ N = σ⁻¹ [DSMaxwell(mu, σ) − N(mu, σ)], DSMaxwell = mu ± σ·Maxwell(1)."""
    mu, sigma = _split(phi)
    k = mu.size
    base = mu + sigma * rng.standard_normal((n, k))
    rayleigh = np.sqrt(-2 * np.log1p(-rng.random((n, k))))
    maxwell = np.sqrt((rng.standard_normal((3, n, k)) ** 2).sum(0))
    sign = np.where(rng.random((n, k)) < 0.5, -1.0, 1.0)
    xp = np.repeat(base[None], 2 * k, axis=0)
    xm = xp.copy()
    for j in range(k):
        xp[j, :, j] = mu[j] + sigma[j] * rayleigh[:, j]
        xm[j, :, j] = mu[j] - sigma[j] * rayleigh[:, j]
        xp[k + j, :, j] = mu[j] + sign[:, j] * sigma[j] * maxwell[:, j]
    c = np.concatenate([1 / (sigma * np.sqrt(2 * np.pi)), 1 / sigma])
    return c, xp, xm


def _gauss_names(k):
    if k == 1:
        return ["mu", "sigma"]
    return [f"mu[{i}]" for i in range(k)] + [f"sigma[{i}]" for i in range(k)]


def _positive(which):
    """Constraint: the φ coordinates whose names start with one of `which` must be > 0."""

    def check(phi, names):
        for value, name in zip(phi, names, strict=True):
            if name.split("[")[0] in which and not value > 0:
                return f"{name} must be > 0, got {value:g}"
        return None

    return check


def _gauss_family():
    return Family(
        names=_gauss_names,
        defaults=lambda k: {"mu": [0.0] * k, "sigma": [1.0] * k} if k > 1 else {"mu": 0.0, "sigma": 1.0},
        constraints=_positive({"sigma"}),
        parametrisations={"standard": (IDENTITY, IDENTITY), "log_sigma": (IDENTITY, EXP)},
        discrete=False,
        sample=_gauss_sample,
        log_prob=_gauss_log_prob,
        score=_gauss_score,
        hessian=_gauss_hessian,
        fisher=_gauss_fisher,
        ppf=_gauss_ppf,
        support=_gauss_support,
        pathwise=_gauss_pathwise,
        weak=_gauss_weak,
        sample_in=_gauss_sample,
        mean=lambda phi: _split(phi)[0],
        mean_jacobian=lambda phi: np.eye(phi.size // 2, phi.size),
    )


# ---------------------------------------------------------------------------------------------
# bernoulli, a product of d independent coordinates (d = 1 by default): φ = (p_1..p_d).
# The family behind masks, subsets and binary codes; x ∈ {0, 1}^d, samples (n, d).


def _bern_score(x, phi):
    return x / phi - (1 - x) / (1 - phi)


def _bern_hessian(x, phi):
    n, d = x.shape
    h = np.zeros((n, d, d))
    i = np.arange(d)
    h[:, i, i] = -x / phi**2 - (1 - x) / (1 - phi) ** 2
    return h


def _bern_support(phi):
    """{0, 1} for d = 1; every point of {0, 1}^d as rows (2^d, d) otherwise."""
    d = phi.size
    if d == 1:
        return np.array([0.0, 1.0])
    codes = np.arange(2**d)[:, None]
    return ((codes >> np.arange(d)) & 1).astype(float)


def _bern_weak(phi, n, rng):
    """∂_{p_j} Bern(p) = (δ_{x_j=1} − δ_{x_j=0}) ⊗ the other coordinates (c_j = 1): x⁺_j and x⁻_j
    share a draw of the other coordinates. For d = 1 the estimate is f(1) − f(0), zero variance."""
    d = phi.size
    base = (rng.random((n, d)) < phi).astype(float)
    xp = np.repeat(base[None], d, axis=0)
    xm = xp.copy()
    i = np.arange(d)
    xp[i, :, i] = 1.0
    xm[i, :, i] = 0.0
    return np.ones(d), xp, xm


def _bern_constraints(phi, names):
    for value, name in zip(phi, names, strict=True):
        if not 0 < value < 1:
            return f"{name} must be in (0, 1), got {value:g}"
    return None


BERNOULLI = Family(
    names=lambda k: ["p"] if k == 1 else [f"p[{i}]" for i in range(k)],
    defaults=lambda k: {"p": 0.3} if k == 1 else {"p": [0.3] * k},
    constraints=_bern_constraints,
    parametrisations={"standard": IDENTITY, "logit": SIGMOID},
    discrete=True,
    sample=lambda phi, n, rng: (rng.random((n, phi.size)) < phi).astype(float),
    log_prob=lambda x, phi: (x * np.log(phi) + (1 - x) * np.log1p(-phi)).sum(1),
    score=_bern_score,
    hessian=_bern_hessian,
    fisher=lambda phi: np.diag(1 / (phi * (1 - phi))),
    ppf=lambda u, phi: (u < phi).astype(float),
    support=_bern_support,
    pathwise=None,
    weak=_bern_weak,
    mean=lambda phi: phi,
    mean_jacobian=lambda phi: np.eye(phi.size),
)

# ---------------------------------------------------------------------------------------------
# categorical over {0, ..., K−1}: φ = logits (K,)


def _cat_ppf(u, phi):
    cdf = np.cumsum(softmax(phi))
    return np.minimum(np.searchsorted(cdf, u, side="right"), phi.size - 1).astype(float)


def _cat_score(x, phi):
    """∂/∂l_j log π_x = 1{x = j} − π_j."""
    onehot = (x == np.arange(phi.size)).astype(float)
    return onehot - softmax(phi)


def _cat_fisher(phi):
    pi = softmax(phi)
    return np.diag(pi) - np.outer(pi, pi)


def _cat_weak(phi, n, rng):
    """∂_{l_j} π = π_j (δ_j − π): c_j = π_j, x⁺ = j, x⁻ ~ π (shared across j)."""
    pi = softmax(phi)
    base = _cat_ppf(rng.random((n, 1)), phi)
    xp = np.broadcast_to(np.arange(phi.size, dtype=float)[:, None, None], (phi.size, n, 1))
    xm = np.broadcast_to(base[None], (phi.size, n, 1))
    return pi, xp, xm


CATEGORICAL = Family(
    names=lambda k: [f"logits[{i}]" for i in range(k)],
    defaults=lambda k: {"logits": [0.0] * k},
    constraints=lambda phi, names: None,
    parametrisations={"logits": IDENTITY},
    discrete=True,
    sample=lambda phi, n, rng: _cat_ppf(rng.random((n, 1)), phi),
    log_prob=lambda x, phi: np.log(softmax(phi))[x[:, 0].astype(int)],
    score=_cat_score,
    hessian=lambda x, phi: np.broadcast_to(-_cat_fisher(phi), (x.shape[0], phi.size, phi.size)),
    fisher=_cat_fisher,
    ppf=_cat_ppf,
    support=lambda phi: np.arange(phi.size, dtype=float),
    pathwise=None,
    weak=_cat_weak,
    mean=lambda phi: np.array([softmax(phi) @ np.arange(phi.size)]),
    mean_jacobian=lambda phi: (softmax(phi) * (np.arange(phi.size) - softmax(phi) @ np.arange(phi.size)))[None],
    singular_fisher="logits are redundant: adding a constant to every logit leaves π unchanged",
)

# ---------------------------------------------------------------------------------------------
# poisson: φ = (rate,). Its support is cut where the Chernoff bound on the tail,
# P(x ≥ λ + t) ≤ exp(−t² / 2(λ + t)), falls below e⁻⁴² ≈ 6e-19.


def _pois_weak(phi, n, rng):
    """∂_λ Pois(x; λ) = Pois(x − 1; λ) − Pois(x; λ): x⁺ = 1 + x, x⁻ = x (coupled), c = 1."""
    x = rng.poisson(phi[0], (n, 1)).astype(float)
    return np.ones(1), (x + 1)[None], x[None]


def _poisson_rate(phi, names):
    if not phi[0] > 0:
        return f"rate must be > 0, got {phi[0]:g}"
    if phi[0] > MAX_POISSON_RATE:
        return f"rate must be ≤ {MAX_POISSON_RATE:g} (exact sums run over the support), got {phi[0]:g}"
    return None


MAX_POISSON_RATE = 1e6
POISSON = Family(
    names=lambda k: ["rate"],
    defaults=lambda k: {"rate": 3.0},
    constraints=_poisson_rate,
    parametrisations={"standard": IDENTITY, "log_rate": EXP},
    discrete=True,
    sample=lambda phi, n, rng: rng.poisson(phi[0], (n, 1)).astype(float),
    log_prob=lambda x, phi: (x * np.log(phi[0]) - phi[0] - special.gammaln(x + 1))[:, 0],
    score=lambda x, phi: x / phi[0] - 1,
    hessian=lambda x, phi: (-x / phi[0] ** 2)[:, :, None],
    fisher=lambda phi: np.array([[1 / phi[0]]]),
    ppf=lambda u, phi: stats.poisson.ppf(u, phi[0]),
    support=lambda phi: np.arange(np.ceil(phi[0] + 42 + np.sqrt(42**2 + 84 * phi[0])) + 1),
    pathwise=None,
    weak=_pois_weak,
    mean=lambda phi: phi[:1],
    mean_jacobian=lambda phi: np.ones((1, 1)),
)

# ---------------------------------------------------------------------------------------------
# exponential: φ = (rate,)


def _exp_pathwise(phi, n, rng):
    """x = e/λ with e ~ Exp(1): ∂x/∂λ = −x/λ."""
    x = rng.standard_exponential((n, 1)) / phi[0]
    return x, (-x / phi[0])[:, :, None]


def _exp_weak(phi, n, rng):
    """∂_λ Exp(λ) = λ⁻¹ [Exp(λ) − Gamma(2, λ)], coupled as x⁻ = x⁺ + Exp(λ)."""
    e = rng.standard_exponential((2, n, 1)) / phi[0]
    return np.array([1 / phi[0]]), e[:1], (e[0] + e[1])[None]


EXPONENTIAL = Family(
    names=lambda k: ["rate"],
    defaults=lambda k: {"rate": 1.0},
    constraints=_positive({"rate"}),
    parametrisations={"standard": IDENTITY, "log_rate": EXP},
    discrete=False,
    sample=lambda phi, n, rng: rng.standard_exponential((n, 1)) / phi[0],
    log_prob=lambda x, phi: (np.log(phi[0]) - phi[0] * x)[:, 0],
    score=lambda x, phi: 1 / phi[0] - x,
    hessian=lambda x, phi: np.full((x.shape[0], 1, 1), -1 / phi[0] ** 2),
    fisher=lambda phi: np.array([[1 / phi[0] ** 2]]),
    ppf=lambda u, phi: -np.log1p(-u) / phi[0],
    support=lambda phi: (0.0, 60 / phi[0]),
    pathwise=_exp_pathwise,
    weak=_exp_weak,
    mean=lambda phi: 1 / phi[:1],
    mean_jacobian=lambda phi: np.array([[-1 / phi[0] ** 2]]),
)

# ---------------------------------------------------------------------------------------------
# gamma: φ = (shape α, rate β)


def _dz_dshape(z, shape):
    """Implicit reparameterisation of z ~ Gamma(α, 1): dz/dα = −(∂F/∂α)(z; α) / p(z; α).

    ∂F/∂α has no closed form; a central difference of the regularised incomplete gamma
    function (accurate to ~1e-9) is far below Monte Carlo error.
    """
    h = 1e-5 * max(1.0, shape)
    dF = (special.gammainc(shape + h, z) - special.gammainc(shape - h, z)) / (2 * h)
    log_pdf = (shape - 1) * np.log(z) - z - special.gammaln(shape)
    return -dF / np.exp(log_pdf)


def _gamma_pathwise(phi, n, rng):
    """x = z/β, z ~ Gamma(α, 1): ∂x/∂α = (dz/dα)/β, ∂x/∂β = −x/β."""
    shape, rate = phi
    z = rng.standard_gamma(shape, (n, 1))
    x = z / rate
    return x, np.stack([_dz_dshape(z, shape) / rate, -x / rate], axis=-1)


def _gamma_weak(phi, n, rng):
    """∂_β Gamma(α, β) = (α/β)[Gamma(α, β) − Gamma(α + 1, β)], coupled by adding an Exp(β);
    no weak-derivative decomposition for the shape (its coordinate is NaN)."""
    shape, rate = phi
    xp = rng.standard_gamma(shape, (n, 1)) / rate
    xm = xp + rng.standard_exponential((n, 1)) / rate
    nan = np.full_like(xp, np.nan)
    return np.array([np.nan, shape / rate]), np.stack([nan, xp]), np.stack([nan, xm])


def _gamma_hessian(x, phi):
    shape, rate = phi
    h = np.empty((x.shape[0], 2, 2))
    h[:, 0, 0] = -special.polygamma(1, shape)
    h[:, 0, 1] = h[:, 1, 0] = 1 / rate
    h[:, 1, 1] = -shape / rate**2
    return h


GAMMA = Family(
    names=lambda k: ["shape", "rate"],
    defaults=lambda k: {"shape": 2.0, "rate": 3.0},
    constraints=_positive({"shape", "rate"}),
    parametrisations={"standard": (IDENTITY, IDENTITY), "log": (EXP, EXP)},
    discrete=False,
    sample=lambda phi, n, rng: rng.standard_gamma(phi[0], (n, 1)) / phi[1],
    log_prob=lambda x, phi: (phi[0] * np.log(phi[1]) + (phi[0] - 1) * np.log(x) - phi[1] * x - special.gammaln(phi[0]))[
        :, 0
    ],
    score=lambda x, phi: np.concatenate(
        [np.log(phi[1]) + np.log(x) - special.digamma(phi[0]), phi[0] / phi[1] - x], axis=1
    ),
    hessian=_gamma_hessian,
    fisher=lambda phi: np.array([[special.polygamma(1, phi[0]), -1 / phi[1]], [-1 / phi[1], phi[0] / phi[1] ** 2]]),
    ppf=lambda u, phi: special.gammaincinv(phi[0], u) / phi[1],
    support=lambda phi: (0.0, stats.gamma.isf(1e-17, phi[0], scale=1 / phi[1])),
    pathwise=_gamma_pathwise,
    weak=_gamma_weak,
    mean=lambda phi: np.array([phi[0] / phi[1]]),
    mean_jacobian=lambda phi: np.array([[1 / phi[1], -phi[0] / phi[1] ** 2]]),
)

# ---------------------------------------------------------------------------------------------
# beta: φ = (a, b)


def _beta_pathwise(phi, n, rng):
    """x = G_a / (G_a + G_b), G ~ Gamma(·, 1), each G implicitly reparameterised."""
    a, b = phi
    ga = rng.standard_gamma(a, (n, 1))
    gb = rng.standard_gamma(b, (n, 1))
    total = ga + gb
    dx_da = gb / total**2 * _dz_dshape(ga, a)
    dx_db = -ga / total**2 * _dz_dshape(gb, b)
    return ga / total, np.stack([dx_da, dx_db], axis=-1)


def _beta_hessian(x, phi):
    a, b = phi
    t = special.polygamma(1, a + b)
    h = np.empty((x.shape[0], 2, 2))
    h[:, 0, 0] = t - special.polygamma(1, a)
    h[:, 0, 1] = h[:, 1, 0] = t
    h[:, 1, 1] = t - special.polygamma(1, b)
    return h


def _beta_fisher(phi):
    a, b = phi
    t = special.polygamma(1, a + b)
    return np.array([[special.polygamma(1, a) - t, -t], [-t, special.polygamma(1, b) - t]])


BETA = Family(
    names=lambda k: ["a", "b"],
    defaults=lambda k: {"a": 2.0, "b": 5.0},
    constraints=_positive({"a", "b"}),
    parametrisations={"standard": (IDENTITY, IDENTITY), "log": (EXP, EXP)},
    discrete=False,
    sample=lambda phi, n, rng: rng.beta(phi[0], phi[1], (n, 1)),
    log_prob=lambda x, phi: ((phi[0] - 1) * np.log(x) + (phi[1] - 1) * np.log1p(-x) - special.betaln(phi[0], phi[1]))[
        :, 0
    ],
    score=lambda x, phi: np.concatenate(
        [
            np.log(x) - special.digamma(phi[0]) + special.digamma(phi.sum()),
            np.log1p(-x) - special.digamma(phi[1]) + special.digamma(phi.sum()),
        ],
        axis=1,
    ),
    hessian=_beta_hessian,
    fisher=_beta_fisher,
    ppf=lambda u, phi: special.betaincinv(phi[0], phi[1], u),
    support=lambda phi: (0.0, 1.0),
    pathwise=_beta_pathwise,
    weak=None,
    mean=lambda phi: np.array([phi[0] / phi.sum()]),
    mean_jacobian=lambda phi: np.array([[phi[1], -phi[0]]]) / phi.sum() ** 2,
)

FAMILIES: dict[str, Family] = {
    "gaussian": _gauss_family(),
    "diag_gaussian": _gauss_family(),
    "bernoulli": BERNOULLI,
    "categorical": CATEGORICAL,
    "poisson": POISSON,
    "exponential": EXPONENTIAL,
    "gamma": GAMMA,
    "beta": BETA,
}
DEFAULT_DIM = {"diag_gaussian": 2, "categorical": 3, "bernoulli": 1}
VECTOR_SAMPLES = ("diag_gaussian", "bernoulli")  # families whose samples have k = dim coordinates

# ---------------------------------------------------------------------------------------------
# a distribution in a parametrisation


class Dist(NamedTuple):
    """A family at θ in a named parametrisation. `theta` is θ, `phi` the standard φ = g(θ)."""

    family: str
    parametrisation: str
    dim: int  # k for diag_gaussian and bernoulli, K for categorical, 1 otherwise
    theta: np.ndarray  # (d,)
    phi: np.ndarray  # (d,)
    names: tuple[str, ...]  # names of the θ coordinates
    transforms: tuple[Transform, ...]  # one per coordinate
    dtype: str = "float64"  # of samples, scores and terms ("float32": faster, ~1e-7 relative)


class DistError(ValueError):
    """Bad distribution input; the message says what is allowed."""


def coordinate_transforms(family: str, parametrisation: str, dim: int) -> tuple[Transform, ...]:
    """One transform per θ coordinate (vector parameters repeat their transform)."""
    fam = FAMILIES[family]
    per_param = fam.parametrisations[parametrisation]
    if isinstance(per_param, Transform):
        per_param = (per_param,)
    d = len(fam.names(dim))
    return tuple(t for t in per_param for _ in range(d // len(per_param)))


def theta_names(family: str, parametrisation: str, dim: int) -> list[str]:
    """Names of θ's coordinates: the standard names with each transform's prefix."""
    std = FAMILIES[family].names(dim)
    transforms = coordinate_transforms(family, parametrisation, dim)
    return [t.rename(name) for name, t in zip(std, transforms, strict=True)]


def param_groups(family: str, parametrisation: str, dim: int) -> list[str]:
    """The user-facing parameter names (vector parameters once: mu, sigma for diag_gaussian)."""
    seen = []
    for name in theta_names(family, parametrisation, dim):
        base = name.split("[")[0]
        if base not in seen:
            seen.append(base)
    return seen


def default_theta(family: str, parametrisation: str, dim: int) -> dict:
    """Default θ values by parameter group, mapped from the family's standard defaults."""
    std = FAMILIES[family].defaults(dim)
    groups = param_groups(family, parametrisation, dim)
    transforms = coordinate_transforms(family, parametrisation, dim)
    out, i = {}, 0
    for group, (_, value) in zip(groups, std.items(), strict=True):
        values = np.atleast_1d(np.asarray(value, dtype=float))
        mapped = transforms[i].inverse(values)
        i += values.size
        out[group] = mapped.tolist() if values.size > 1 or dim > 1 else float(mapped[0])
    return out


DTYPES = ("float64", "float32")


def make_dist(
    family: str, parametrisation: str | None, theta: dict, dim: int | None = None, dtype: str = "float64"
) -> Dist:
    """Build and validate a Dist from parameter values keyed by group name.

    Scalars broadcast over vector parameters; missing groups take their defaults. Without a
    parametrisation, the family's first one that has every parameter θ names ({"logit": ...}
    selects bernoulli's logit one); without a dim, the length of θ's vectors (else the family's
    default). θ and φ are always float64; `dtype` is that of the samples, scores and terms.
    """
    if dtype not in DTYPES:
        raise DistError(f"unknown dtype {dtype!r}; allowed: {', '.join(DTYPES)}")
    if family not in FAMILIES:
        raise DistError(f"unknown dist {family!r}; allowed: {', '.join(sorted(FAMILIES))}")
    fam = FAMILIES[family]
    if dim is None:
        sizes = {np.size(v) for v in theta.values() if np.ndim(v) > 0}
        dim = sizes.pop() if len(sizes) == 1 and family in DEFAULT_DIM else DEFAULT_DIM.get(family, 1)
    if parametrisation is None:
        covers = [name for name in fam.parametrisations if set(theta) <= set(param_groups(family, name, dim))]
        parametrisation = (covers or list(fam.parametrisations))[0]
    if parametrisation not in fam.parametrisations:
        allowed = ", ".join(fam.parametrisations)
        raise DistError(f"unknown parametrisation {parametrisation!r} for {family}; allowed: {allowed}")
    if family not in DEFAULT_DIM and dim != 1:
        raise DistError(f"dim applies only to {', '.join(DEFAULT_DIM)}, not {family}")
    if dim < 1 or (family == "categorical" and dim < 2):
        raise DistError(f"dim must be ≥ {2 if family == 'categorical' else 1}, got {dim}")
    groups = param_groups(family, parametrisation, dim)
    unknown = sorted(set(theta) - set(groups))
    if unknown:
        raise DistError(
            f"unknown parameter {unknown[0]!r} for {family} ({parametrisation}); allowed: {', '.join(groups)}"
        )
    values = {**default_theta(family, parametrisation, dim), **theta}
    names = theta_names(family, parametrisation, dim)
    per_group = len(names) // len(groups)
    flat = []
    for group in groups:
        v = np.asarray(values[group], dtype=float).ravel()
        if v.size == 1:
            v = np.repeat(v, per_group)
        if v.size != per_group:
            raise DistError(f"{group} needs {per_group} values for dim {dim}, got {v.size}")
        if not np.all(np.isfinite(v)):
            raise DistError(f"{group} must be finite, got {values[group]}")
        flat.append(v)
    theta_arr = np.concatenate(flat)
    transforms = coordinate_transforms(family, parametrisation, dim)
    phi = to_phi(theta_arr, transforms)
    problem = fam.constraints(phi, fam.names(dim))
    if problem:
        raise DistError(f"θ outside the parameter space of {family}: {problem}")
    return Dist(family, parametrisation, dim, theta_arr, phi, tuple(names), transforms, dtype)


def to_phi(theta: np.ndarray, transforms) -> np.ndarray:
    """Standard parameters φ_j = g_j(θ_j), shape (d,), from θ (d,) and one Transform per coordinate."""
    return np.array([t.forward(v) for v, t in zip(theta, transforms, strict=True)], dtype=float)


def with_theta(dist: Dist, theta: np.ndarray) -> Dist:
    """The same family and parametrisation at another θ (no validation: used for perturbations)."""
    return dist._replace(theta=theta, phi=to_phi(theta, dist.transforms))


def _g1(dist):
    return np.array([t.d1(v) for v, t in zip(dist.theta, dist.transforms, strict=True)])


def _g2(dist):
    return np.array([t.d2(v) for v, t in zip(dist.theta, dist.transforms, strict=True)])


def jacobian_diag(dist: Dist) -> np.ndarray:
    """dφ_j/dθ_j, shape (d,): the chain-rule factor between standard and user parameters."""
    return _g1(dist)


# ---------------------------------------------------------------------------------------------
# public functions of a Dist


def family(dist: Dist) -> Family:
    """The Family (functions in standard parameters φ) of a Dist."""
    return FAMILIES[dist.family]


def sample_dim(dist: Dist) -> int:
    """k, the number of coordinates of one sample x."""
    return dist.dim if dist.family in VECTOR_SAMPLES else 1


def mean(dist: Dist) -> np.ndarray:
    """E[x], shape (k,)."""
    return family(dist).mean(dist.phi)


def mean_jacobian(dist: Dist) -> np.ndarray:
    """∂E[x]/∂θ = (∂E[x]/∂φ) diag(g'(θ)), shape (k, d)."""
    return family(dist).mean_jacobian(dist.phi) * _g1(dist)


def sample(dist: Dist, n: int, rng: np.random.Generator) -> np.ndarray:
    """x ~ p(·; θ), shape (n, k), in dist.dtype (drawn in it where the family can, else cast)."""
    fam = family(dist)
    if dist.dtype == "float64":
        return fam.sample(dist.phi, n, rng)
    if fam.sample_in is not None:
        return fam.sample_in(dist.phi, n, rng, np.dtype(dist.dtype))
    return fam.sample(dist.phi, n, rng).astype(dist.dtype)


def log_prob(dist: Dist, x: np.ndarray) -> np.ndarray:
    """log p(x; θ), shape (n,)."""
    return family(dist).log_prob(x, dist.phi)


def score(dist: Dist, x: np.ndarray) -> np.ndarray:
    """s(x; θ) = ∇θ log p(x; θ) = s_φ ⊙ g'(θ), shape (n, d), in x's floating type."""
    dtype = x.dtype if x.dtype == np.float32 else np.float64
    s = family(dist).score(x, dist.phi.astype(dtype, copy=False)).astype(dtype, copy=False)
    g1 = _g1(dist)
    return s if np.all(g1 == 1) else s * g1.astype(s.dtype, copy=False)


def hessian(dist: Dist, x: np.ndarray) -> np.ndarray:
    """∇²θ log p(x; θ) = diag(g') H_φ diag(g') + diag(s_φ ⊙ g''), shape (n, d, d)."""
    fam = family(dist)
    g1, g2 = _g1(dist), _g2(dist)
    h = fam.hessian(x, dist.phi) * np.outer(g1, g1)
    if np.any(g2 != 0):
        i = np.arange(g2.size)
        h = np.array(h)  # may be a read-only broadcast view
        h[:, i, i] += fam.score(x, dist.phi) * g2
    return h


def fisher(dist: Dist) -> np.ndarray:
    """Exact Fisher information F(θ) = E[s sᵀ] = diag(g') F_φ diag(g'), shape (d, d)."""
    g1 = _g1(dist)
    return family(dist).fisher(dist.phi) * np.outer(g1, g1)


def ppf(dist: Dist, u: np.ndarray) -> np.ndarray:
    """Inverse CDF applied to uniforms u (n, k): x = F⁻¹(u; θ), for common random numbers."""
    return family(dist).ppf(u, dist.phi).astype(dist.dtype, copy=False)
