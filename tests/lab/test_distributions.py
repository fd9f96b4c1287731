"""The score identities and the hand-written derivatives of every family and parametrisation."""

import numpy as np
import pytest
from scipy import stats

from pgcli.lab import distributions
from pgcli.lab.exact import exact_neg_hessian, expectation
from pgcli.lab.fisher import moments
from tests.conftest import CASES, case_id


def test_every_family_and_parametrisation_is_covered():
    assert {c[0] for c in CASES} == set(distributions.FAMILIES)
    for family, fam in distributions.FAMILIES.items():
        covered = {c[1] for c in CASES if c[0] == family}
        assert covered == set(fam.parametrisations)


def test_score_is_gradient_of_log_prob(dist, rng):
    x = distributions.sample(dist, 50, rng)
    h = 1e-6
    numeric = np.empty((50, dist.theta.size))
    for j in range(dist.theta.size):
        e = np.zeros_like(dist.theta)
        e[j] = h
        up = distributions.log_prob(distributions.with_theta(dist, dist.theta + e), x)
        down = distributions.log_prob(distributions.with_theta(dist, dist.theta - e), x)
        numeric[:, j] = (up - down) / (2 * h)
    np.testing.assert_allclose(distributions.score(dist, x), numeric, rtol=1e-6, atol=1e-6)


def test_hessian_is_jacobian_of_score(dist, rng):
    x = distributions.sample(dist, 50, rng)
    h = 1e-6
    numeric = np.empty((50, dist.theta.size, dist.theta.size))
    for j in range(dist.theta.size):
        e = np.zeros_like(dist.theta)
        e[j] = h
        up = distributions.score(distributions.with_theta(dist, dist.theta + e), x)
        down = distributions.score(distributions.with_theta(dist, dist.theta - e), x)
        numeric[:, :, j] = (up - down) / (2 * h)
    np.testing.assert_allclose(distributions.hessian(dist, x), numeric, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", [c for c in CASES if c[0] != "diag_gaussian"], ids=case_id)
def test_log_prob_normalises(case):
    dist = distributions.make_dist(*case[:3], case[3])
    total = expectation(dist, lambda x: np.ones((x.shape[0], 1)))
    assert total[0] == pytest.approx(1.0, abs=1e-9)


def test_score_has_zero_mean_and_covariance_fisher(dist, rng):
    found = moments(dist, 200_000, rng)
    mean, se = found["score_mean"]
    assert np.all(np.abs(mean) <= 4 * se + 1e-12)
    fisher, se = found["fisher"]
    assert np.all(np.abs(fisher - distributions.fisher(dist)) <= 4 * se + 1e-12)


def test_exact_fisher_equals_exact_neg_hessian(dist):
    neg_h, _ = exact_neg_hessian(dist)
    np.testing.assert_allclose(neg_h, distributions.fisher(dist), rtol=1e-7, atol=1e-10)


def test_fisher_equals_mean_neg_hessian_by_monte_carlo(dist, rng):
    found = moments(dist, 100_000, rng)
    neg_h, se = found["neg_hessian"]
    assert np.all(np.abs(neg_h - distributions.fisher(dist)) <= 4 * se + 1e-9)


def test_ppf_inverts_to_the_sampled_distribution(dist, rng):
    """F⁻¹(u) with uniform u and direct sampling agree in mean within 4 SE."""
    k = distributions.sample_dim(dist)
    a = distributions.ppf(dist, rng.random((100_000, k)))
    b = distributions.sample(dist, 100_000, rng)
    se = np.sqrt(a.var(0) / a.shape[0] + b.var(0) / b.shape[0])
    assert np.all(np.abs(a.mean(0) - b.mean(0)) <= 4 * se)


FROZEN = {
    "gaussian": lambda p: stats.norm(p[0], p[1]),
    "exponential": lambda p: stats.expon(scale=1 / p[0]),
    "gamma": lambda p: stats.gamma(p[0], scale=1 / p[1]),
}


@pytest.mark.parametrize("case", [c for c in CASES if c[0] in FROZEN], ids=case_id)
def test_pathwise_derivative_matches_inverse_cdf_derivative(case, rng):
    """∂x/∂φ of the reparameterised sample equals ∂F⁻¹(u; φ)/∂φ at the same u = F(x)."""
    dist = distributions.make_dist(*case[:3], case[3])
    x, dx = distributions.family(dist).pathwise(dist.phi, 20, rng)
    frozen = FROZEN[dist.family]
    u = frozen(dist.phi).cdf(x)
    h = 1e-6
    for j in range(dist.phi.size):
        e = np.zeros_like(dist.phi)
        e[j] = h
        numeric = (frozen(dist.phi + e).ppf(u) - frozen(dist.phi - e).ppf(u)) / (2 * h)
        np.testing.assert_allclose(dx[:, 0, j], numeric[:, 0], rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize(
    ("family", "theta", "message"),
    [
        ("gaussian", {"sigma": 0.0}, "sigma must be > 0"),
        ("gaussian", {"sigma": -1.0}, "sigma must be > 0"),
        ("bernoulli", {"p": 1.0}, "p must be in (0, 1)"),
        ("poisson", {"rate": -2.0}, "rate must be > 0"),
        ("beta", {"a": 0.0}, "a must be > 0"),
        ("gaussian", {"tau": 1.0}, "unknown parameter 'tau'"),
    ],
)
def test_theta_outside_the_parameter_space_is_rejected(family, theta, message):
    with pytest.raises(distributions.DistError, match=message.replace("(", r"\(").replace(")", r"\)")):
        distributions.make_dist(family, None, theta)


# ---------------------------------------------------------------------------------------------
# against scipy.stats, coordinate by coordinate, in the standard parameters φ


def scipy_coordinates(dist):
    """One frozen scipy distribution per sample coordinate (None for the categorical)."""
    phi = dist.phi
    if dist.family in ("gaussian", "diag_gaussian"):
        k = phi.size // 2
        return [stats.norm(phi[j], phi[k + j]) for j in range(k)]
    return {
        "bernoulli": lambda: [stats.bernoulli(p) for p in phi],
        "categorical": lambda: [None],
        "poisson": lambda: [stats.poisson(phi[0])],
        "exponential": lambda: [stats.expon(scale=1 / phi[0])],
        "gamma": lambda: [stats.gamma(phi[0], scale=1 / phi[1])],
        "beta": lambda: [stats.beta(phi[0], phi[1])],
    }[dist.family]()


def categorical_probabilities(dist):
    e = np.exp(dist.phi - dist.phi.max())
    return e / e.sum()


def test_log_prob_equals_scipy(dist, rng):
    x = distributions.sample(dist, 200, rng)
    if dist.family == "categorical":
        expected = np.log(categorical_probabilities(dist))[x[:, 0].astype(int)]
    else:
        frozen = scipy_coordinates(dist)
        logs = [
            f.logpmf(x[:, j]) if distributions.family(dist).discrete else f.logpdf(x[:, j])
            for j, f in enumerate(frozen)
        ]
        expected = np.sum(logs, axis=0)
    np.testing.assert_allclose(distributions.log_prob(dist, x), expected, rtol=1e-10, atol=1e-10)


def test_samples_have_the_law_of_the_family(dist):
    """20,000 draws (fixed seed): each continuous coordinate passes a Kolmogorov–Smirnov test and
    each discrete one a χ² test of its frequencies against the family's probabilities (p > 10⁻⁴)."""
    x = distributions.sample(dist, 20_000, np.random.default_rng(11))
    assert x.shape == (20_000, distributions.sample_dim(dist))
    if dist.family == "categorical":
        observed = np.bincount(x[:, 0].astype(int), minlength=dist.dim)
        assert stats.chisquare(observed, 20_000 * categorical_probabilities(dist)).pvalue > 1e-4
        return
    for j, frozen in enumerate(scipy_coordinates(dist)):
        if distributions.family(dist).discrete:
            values = np.arange(x[:, j].max() + 1)
            observed = np.bincount(x[:, j].astype(int), minlength=values.size)
            expected = frozen.pmf(values)
            expected[-1] += frozen.sf(values[-1])  # the last cell takes the tail
            assert stats.chisquare(observed, 20_000 * expected).pvalue > 1e-4
        else:
            assert stats.kstest(x[:, j], frozen.cdf).pvalue > 1e-4


def test_ppf_has_the_law_of_the_family(dist):
    """F⁻¹ on a fine grid of uniforms, uᵢ = (i + ½)/m: for continuous families it equals scipy's
    inverse CDF; for discrete ones each value's share of the grid is its probability (± 1/m)."""
    m = 20_000
    u = (np.arange(m) + 0.5) / m
    k = distributions.sample_dim(dist)
    x = distributions.ppf(dist, np.repeat(u[:, None], k, axis=1))
    if dist.family == "categorical":
        np.testing.assert_allclose(np.bincount(x[:, 0].astype(int), minlength=dist.dim) / m,
                                   categorical_probabilities(dist), atol=1 / m)  # fmt: skip
        return
    for j, frozen in enumerate(scipy_coordinates(dist)):
        if distributions.family(dist).discrete:
            values = np.arange(x[:, j].max() + 1)
            shares = np.bincount(x[:, j].astype(int), minlength=values.size) / m
            np.testing.assert_allclose(shares, frozen.pmf(values), atol=1.5 / m)
        else:
            np.testing.assert_allclose(x[:, j], frozen.ppf(u), rtol=1e-8, atol=1e-10)


def test_mean_and_its_jacobian_against_scipy(dist):
    """E[x] per coordinate equals scipy's mean; ∂E[x]/∂θ equals central differences of scipy's
    means in θ (through the parametrisation)."""

    def scipy_mean(d):
        if d.family == "categorical":
            return np.array([categorical_probabilities(d) @ np.arange(d.dim)])
        return np.array([f.mean() for f in scipy_coordinates(d)])

    np.testing.assert_allclose(distributions.mean(dist), scipy_mean(dist), rtol=1e-12)
    h = 1e-6
    numeric = np.empty((distributions.sample_dim(dist), dist.theta.size))
    for j in range(dist.theta.size):
        e = np.zeros_like(dist.theta)
        e[j] = h
        numeric[:, j] = (scipy_mean(distributions.with_theta(dist, dist.theta + e)) - scipy_mean(distributions.with_theta(dist, dist.theta - e))) / (2 * h)  # fmt: skip
    np.testing.assert_allclose(distributions.mean_jacobian(dist), numeric, rtol=1e-6, atol=1e-9)


def test_support_holds_all_but_a_negligible_mass(dist):
    """Quadrature intervals (continuous) and support points (discrete) hold the whole mass but
    < 10⁻¹² of it; every discrete support point is possible."""
    support = distributions.family(dist).support(dist.phi)
    if dist.family == "categorical":
        np.testing.assert_array_equal(support, np.arange(dist.dim))
        return
    frozen = scipy_coordinates(dist)
    if dist.family == "bernoulli":
        points = support if dist.dim > 1 else support[:, None]
        assert points.shape == (2**dist.dim, dist.dim) and len({tuple(p) for p in points}) == 2**dist.dim
        np.testing.assert_allclose(np.prod([f.pmf(points[:, j]) for j, f in enumerate(frozen)], axis=0).sum(), 1.0)
    elif dist.family == "poisson":
        assert support[0] == 0 and np.all(np.diff(support) == 1)
        assert frozen[0].cdf(support[-1]) >= 1 - 1e-12
    else:
        lo, hi = support
        for j, f in enumerate(frozen):
            lo_j, hi_j = np.broadcast_to(lo, len(frozen))[j], np.broadcast_to(hi, len(frozen))[j]
            assert f.cdf(hi_j) - f.cdf(lo_j) >= 1 - 1e-12


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_parameter_names_and_defaults_in_every_parametrisation(case):
    """The groups a user names are the test cases' keys (mu, log_sigma, logit, ...); the default θ
    of every parametrisation is the same distribution (the same φ)."""
    family, parametrisation, theta, dim = case
    assert distributions.param_groups(family, parametrisation, dim or distributions.DEFAULT_DIM.get(family, 1)) == list(
        theta
    )
    phis = [distributions.make_dist(family, p, {}, dim).phi for p in distributions.FAMILIES[family].parametrisations]
    for phi in phis[1:]:
        np.testing.assert_allclose(phi, phis[0], rtol=1e-12)


def test_categorical_ppf_stays_in_range_up_to_u_near_one():
    """Every u in [0, 1) maps to a category 0..K−1, also where the rounded cumulative sum of π ends
    below the largest double under 1 (for about a quarter of random logits)."""
    rng = np.random.default_rng(0)
    u = np.array([[0.0], [0.5], [np.nextafter(1.0, 0.0)]])
    for _ in range(200):
        dist = distributions.make_dist("categorical", None, {"logits": list(3 * rng.normal(size=5))}, 5)
        x = distributions.ppf(dist, u)
        assert x.dtype == np.float64 and np.all((x >= 0) & (x <= 4)) and x[-1, 0] == 4


@pytest.mark.parametrize("sigma", [0.01, 1.0, 10.0, 300.0])
def test_gaussian_quadrature_interval_scales_with_sigma(sigma):
    """The interval holds all but 10⁻¹² of N(μ, σ²) whatever σ, and is centred on μ."""
    dist = distributions.make_dist("gaussian", None, {"mu": 2.0, "sigma": sigma})
    lo, hi = distributions.family(dist).support(dist.phi)
    frozen = stats.norm(2.0, sigma)
    assert frozen.cdf(hi) - frozen.cdf(lo) >= 1 - 1e-12 and (lo + hi) / 2 == pytest.approx(2.0)
