"""The score identities and the hand-written derivatives of every family and parametrisation."""

import numpy as np
import pytest
from scipy import stats

from pgcli.lab import distributions as D
from pgcli.lab.exact import exact_neg_hessian, expectation
from pgcli.lab.fisher import moments
from tests.conftest import CASES, case_id


def test_every_family_and_parametrisation_is_covered():
    assert {c[0] for c in CASES} == set(D.FAMILIES)
    for family, fam in D.FAMILIES.items():
        covered = {c[1] for c in CASES if c[0] == family}
        assert covered == set(fam.parametrisations)


def test_score_is_gradient_of_log_prob(dist, rng):
    x = D.sample(dist, 50, rng)
    h = 1e-6
    numeric = np.empty((50, dist.theta.size))
    for j in range(dist.theta.size):
        e = np.zeros_like(dist.theta)
        e[j] = h
        up = D.log_prob(D.with_theta(dist, dist.theta + e), x)
        down = D.log_prob(D.with_theta(dist, dist.theta - e), x)
        numeric[:, j] = (up - down) / (2 * h)
    np.testing.assert_allclose(D.score(dist, x), numeric, rtol=1e-6, atol=1e-6)


def test_hessian_is_jacobian_of_score(dist, rng):
    x = D.sample(dist, 50, rng)
    h = 1e-6
    numeric = np.empty((50, dist.theta.size, dist.theta.size))
    for j in range(dist.theta.size):
        e = np.zeros_like(dist.theta)
        e[j] = h
        up = D.score(D.with_theta(dist, dist.theta + e), x)
        down = D.score(D.with_theta(dist, dist.theta - e), x)
        numeric[:, :, j] = (up - down) / (2 * h)
    np.testing.assert_allclose(D.hessian(dist, x), numeric, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", [c for c in CASES if c[0] != "diag_gaussian"], ids=case_id)
def test_log_prob_normalises(case):
    dist = D.make_dist(*case[:3], case[3])
    total = expectation(dist, lambda x: np.ones((x.shape[0], 1)))
    assert total[0] == pytest.approx(1.0, abs=1e-9)


def test_score_has_zero_mean_and_covariance_fisher(dist, rng):
    found = moments(dist, 200_000, rng)
    mean, se = found["score_mean"]
    assert np.all(np.abs(mean) <= 4 * se + 1e-12)
    fisher, se = found["fisher"]
    assert np.all(np.abs(fisher - D.fisher(dist)) <= 4 * se + 1e-12)


def test_exact_fisher_equals_exact_neg_hessian(dist):
    neg_h, _ = exact_neg_hessian(dist)
    np.testing.assert_allclose(neg_h, D.fisher(dist), rtol=1e-7, atol=1e-10)


def test_fisher_equals_mean_neg_hessian_by_monte_carlo(dist, rng):
    found = moments(dist, 100_000, rng)
    neg_h, se = found["neg_hessian"]
    assert np.all(np.abs(neg_h - D.fisher(dist)) <= 4 * se + 1e-9)


def test_ppf_inverts_to_the_sampled_distribution(dist, rng):
    """F⁻¹(u) with uniform u and direct sampling agree in mean within 4 SE."""
    k = D.sample_dim(dist)
    a = D.ppf(dist, rng.random((100_000, k)))
    b = D.sample(dist, 100_000, rng)
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
    dist = D.make_dist(*case[:3], case[3])
    x, dx = D.family(dist).pathwise(dist.phi, 20, rng)
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
    with pytest.raises(D.DistError, match=message.replace("(", r"\(").replace(")", r"\)")):
        D.make_dist(family, None, theta)
