"""Exact gradients: closed forms against quadrature, quadrature against finite differences."""

import numpy as np
import pytest

from pgcli.lab import distributions
from pgcli.lab.exact import CLOSED_FORMS, exact_gradient, expectation, quadrature_gradient
from pgcli.lab.functions import parse_function

ARGS = {"cos": "cos:1.7", "step": "step:0.6"}
POINTS = {
    "gaussian": [{"mu": 0.3, "sigma": 1.2}, {"mu": -1.0, "sigma": 0.5}],
    "exponential": [{"rate": 0.8}, {"rate": 2.5}],
    "gamma": [{"shape": 2.5, "rate": 1.5}, {"shape": 0.7, "rate": 0.4}],
    "beta": [{"a": 2.0, "b": 3.5}, {"a": 0.6, "b": 1.4}],
}


@pytest.mark.parametrize(("family", "name"), sorted(CLOSED_FORMS))
def test_closed_form_matches_quadrature(family, name):
    f = parse_function(ARGS.get(name, name))
    for theta in POINTS[family]:
        for parametrisation in distributions.FAMILIES[family].parametrisations:
            dist = distributions.make_dist(family, None, theta)
            dist = distributions.make_dist(family, parametrisation, _in(parametrisation, family, dist), None)
            closed, method = exact_gradient(dist, f)
            assert method == "closed_form"
            quad, _ = quadrature_gradient(dist, f)
            np.testing.assert_allclose(closed, quad, rtol=1e-6, atol=1e-10)


def _in(parametrisation, family, dist):
    """θ of `dist` (standard) expressed in another parametrisation."""
    names = distributions.param_groups(family, parametrisation, 1)
    transforms = distributions.coordinate_transforms(family, parametrisation, 1)
    return {n: float(t.inverse(p)) for n, t, p in zip(names, transforms, dist.phi, strict=True)}


@pytest.mark.parametrize(
    ("family", "parametrisation", "theta", "text"),
    [
        ("gaussian", "log_sigma", {"mu": 0.3, "log_sigma": 0.1}, "x**2 + sin(3*x)"),
        ("gaussian", "standard", {"mu": 0.3, "sigma": 0.8}, "sigmoid:2"),
        ("exponential", "standard", {"rate": 1.3}, "exp(-x) * x"),
        ("gamma", "standard", {"shape": 2.5, "rate": 1.5}, "sqrt(x)"),
        ("beta", "standard", {"a": 2.0, "b": 3.5}, "log1p(x) * cos(x)"),
        ("poisson", "standard", {"rate": 3.5}, "cos:2"),
        ("poisson", "log_rate", {"log_rate": 0.4}, "x**3"),
        ("bernoulli", "logit", {"logit": 0.4}, "square"),
        ("categorical", "logits", {"logits": [0.3, -1.0, 0.5]}, "table:1,0,3"),
    ],
)
def test_exact_gradient_matches_finite_differences_of_expectation(family, parametrisation, theta, text):
    """∇θ E[f] from quadrature / exact sums equals central differences of E[f] itself."""
    dim = len(theta["logits"]) if family == "categorical" else None
    dist = distributions.make_dist(family, parametrisation, theta, dim)
    f = parse_function(text)
    grad, _ = exact_gradient(dist, f)
    h = 1e-4
    numeric = []
    for j in range(dist.theta.size):
        e = np.zeros_like(dist.theta)
        e[j] = h
        up = expectation(distributions.with_theta(dist, dist.theta + e), f.value, f.breakpoints)
        down = expectation(distributions.with_theta(dist, dist.theta - e), f.value, f.breakpoints)
        numeric.append(float(np.squeeze(up - down)) / (2 * h))
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


def test_diag_gaussian_gradient_is_per_coordinate():
    dist = distributions.make_dist("diag_gaussian", None, {"mu": [0.1, -0.4], "sigma": [1.0, 0.5]}, 2)
    grad, method = exact_gradient(dist, parse_function("square"))
    np.testing.assert_allclose(grad, [0.2, -0.8, 2.0, 1.0])
    assert method == "closed_form"
