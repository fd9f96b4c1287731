"""Every estimator against the exact gradient, with tolerances in standard errors."""

import zlib

import numpy as np
import pytest

from pgcli.lab import distributions as D
from pgcli.lab import estimate as estimate_module
from pgcli.lab.estimate import run_cell, summarise
from pgcli.lab.estimators import ESTIMATORS, UNBIASED, NotApplicable
from pgcli.lab.exact import exact_gradient
from pgcli.lab.functions import parse_function
from tests.conftest import CASES, case_id

SMOOTH = {
    "continuous": ["square", "cos:2", "sigmoid:1.5", "x**2 + sin(3*x)"],
    "discrete": ["square", "cos:2", "sigmoid:1.5"],
}
JUMPS = {
    "gaussian": "step:0.5",
    "diag_gaussian": "step:0.5",
    "bernoulli": "step:0.5",
    "categorical": "table:1,0,3,-2",
    "poisson": "step:2.5",
    "exponential": "step:0.4",
    "gamma": "step:1.5",
    "beta": "step:0.4",
}


def functions_for(family):
    kind = "discrete" if D.FAMILIES[family].discrete else "continuous"
    return [*SMOOTH[kind], JUMPS[family]]


def estimate(name, dist, f, n, reps, seed, **options):
    rng = np.random.default_rng(seed)
    exact, _ = exact_gradient(dist, f)
    sums, squares = run_cell(ESTIMATORS[name], dist, f, n, reps, rng, **options)
    mean, variance, std_error, _ = summarise(sums, squares, n, exact)
    return mean, exact, std_error, variance


def refusal(name, family, text):
    """Why `name` does not apply to this family and function (NotApplicable's message), or None:
    the rules stated independently of the estimators' own checks."""
    f = parse_function(text)
    if name == "measure_valued" and family == "beta":
        return "no weak-derivative decomposition for beta"
    if name in ("arm", "disarm", "straight_through", "gumbel_softmax") and family != "bernoulli":
        return "is for binary variables"
    if name == "score_cv_delta" and f.deriv is None:
        return "needs f'"
    return None


def cells(estimators, extra=lambda family: [], refused=False):
    """(case, f, estimator) for every family and function, split by whether the estimator applies."""
    out = []
    for case in CASES:
        for text in functions_for(case[0]) + extra(case[0]):
            for name in estimators:
                if (refusal(name, case[0], text) is not None) is refused:
                    out.append(pytest.param(case, text, name, id=f"{case_id(case)}-{text}-{name}"))
    return out


@pytest.mark.parametrize(("case", "text", "name"), cells(UNBIASED[:4]))  # the rest: test_variance_lab.py
def test_unbiased_estimator_matches_exact_gradient_within_4_se(case, text, name):
    dist = D.make_dist(case[0], case[1], case[2], case[3])
    mean, exact, se, _ = estimate(name, dist, parse_function(text), n=100, reps=400, seed=zlib.crc32(text.encode()))
    # measure_valued has no decomposition for the gamma shape: that coordinate alone is NaN
    no_decomposition = np.array([name == "measure_valued" and "shape" in p for p in dist.names])
    np.testing.assert_array_equal(np.isnan(mean), no_decomposition)
    ok = ~no_decomposition
    assert np.all(np.abs(mean - exact)[ok] <= 4 * se[ok] + 1e-10 * (1 + np.abs(exact[ok])))


@pytest.mark.parametrize(("case", "text", "name"), cells(UNBIASED[:4], refused=True))
def test_estimator_refuses_a_family_it_does_not_apply_to(case, text, name):
    dist = D.make_dist(case[0], case[1], case[2], case[3])
    with pytest.raises(NotApplicable, match=refusal(name, case[0], text)):
        ESTIMATORS[name](dist, parse_function(text), 2, np.random.default_rng(0), 1)


@pytest.mark.parametrize(
    ("case", "text"),
    [
        pytest.param(c, t, id=f"{case_id(c)}-{t}")
        for c in CASES
        if not D.FAMILIES[c[0]].discrete
        for t in SMOOTH["continuous"]
    ],
)
def test_pathwise_is_unbiased_for_smooth_f(case, text):
    dist = D.make_dist(case[0], case[1], case[2], case[3])
    mean, exact, se, _ = estimate("pathwise", dist, parse_function(text), 100, 400, seed=7)
    assert np.all(np.abs(mean - exact) <= 4 * se + 1e-12)


@pytest.mark.parametrize("family", ["gaussian", "exponential", "gamma", "beta"])
def test_pathwise_on_step_returns_zero_and_is_biased(family):
    """f' = 0 almost everywhere, so pathwise says 0 while ∂θ P(x > c) ≠ 0."""
    dist = D.make_dist(family, None, {})
    f = parse_function(JUMPS[family])
    mean, exact, _se, variance = estimate("pathwise", dist, f, 100, 50, seed=1)
    assert np.all(mean == 0) and np.all(variance == 0)
    assert np.all(np.abs(exact) > 0.05)


@pytest.mark.parametrize(
    ("case", "text"),
    [pytest.param(c, t, id=f"{case_id(c)}-{t}") for c in CASES for t in functions_for(c[0])[:2]],
)
def test_finite_difference_has_small_bias(case, text):
    """Central differences with common random numbers: bias O(h²).

    For discrete families x jumps with probability O(h), so h is larger there (more jumps
    to average) and the O(h²) allowance grows with it."""
    dist = D.make_dist(case[0], case[1], case[2], case[3])
    f = parse_function(text)
    h = 0.02 if D.family(dist).discrete else 1e-3
    mean, exact, se, _ = estimate("finite_difference", dist, f, 1000, 200, seed=3, h=h)
    assert np.all(np.abs(mean - exact) <= 4 * se + 2 * h * h * (1 + np.abs(exact)))


@pytest.mark.parametrize("name", ["score", "score_optimal", "measure_valued", "pathwise"])
def test_variance_falls_as_one_over_n(name):
    """Slope of log variance against log n is −1 ± 0.1 over three decades."""
    dist = D.make_dist("gaussian", None, {"mu": 0.5, "sigma": 1.0})
    f = parse_function("square")
    ns = [10, 100, 1000, 10000]
    variances = [estimate(name, dist, f, n, 2000, seed=n)[3][0] for n in ns]
    slope = np.polyfit(np.log(ns), np.log(variances), 1)[0]
    assert slope == pytest.approx(-1.0, abs=0.1)


def test_variance_ordering_for_gaussian_mean_with_square():
    """pathwise < score_optimal ≤ score_loo < score for ∂/∂mu E[x²] at n = 100."""
    dist = D.make_dist("gaussian", None, {"mu": 1.0, "sigma": 1.0})
    f = parse_function("square")
    var = {
        name: estimate(name, dist, f, 100, 4000, seed=11)[3][0]
        for name in ["pathwise", "score_optimal", "score_loo", "score"]
    }
    assert var["pathwise"] < var["score_optimal"] <= var["score_loo"] * 1.05 < var["score"]


def test_score_loo_and_optimal_need_two_samples():
    dist = D.make_dist("gaussian", None, {})
    for name in ["score_loo", "score_optimal"]:
        with pytest.raises(NotApplicable, match="n ≥ 2"):
            ESTIMATORS[name](dist, parse_function("square"), 1, np.random.default_rng(0))


def test_chunked_huge_n_matches_the_unchunked_estimate(monkeypatch):
    """n = 300,000 runs in chunks by default; with the chunk limit lifted the same draws run in one
    piece. score's estimate is then the same number (its terms do not depend on the chunking); the
    baselines of score_loo and score_optimal are fitted per chunk, which moves the estimate by
    O(1/√chunk) of a standard error; all are within 4 SE of exact."""
    dist = D.make_dist("gaussian", None, {"mu": 0.2})
    f = parse_function("step:0.5")
    n = 300_000
    chunk = max(64, estimate_module.CHUNK_ELEMENTS // dist.theta.size)
    assert len(estimate_module.chunk_sizes(n, chunk)) == 5
    chunked = {name: estimate(name, dist, f, n, 1, seed=5) for name in ["score", "score_loo", "score_optimal"]}
    monkeypatch.setattr(estimate_module, "CHUNK_ELEMENTS", 4 * n * dist.theta.size)
    for name, (mean, exact, se, _) in chunked.items():
        whole, _, whole_se, _ = estimate(name, dist, f, n, 1, seed=5)
        assert np.all(np.abs(mean - exact) <= 4 * se) and np.all(np.abs(whole - exact) <= 4 * whole_se)
        if name == "score":
            np.testing.assert_allclose(mean, whole, rtol=1e-9)
        else:
            assert np.all(np.abs(mean - whole) <= 0.1 * se)
        np.testing.assert_allclose(se, whole_se, rtol=0.01)
