"""Every estimator against the exact gradient, with tolerances in standard errors."""

import zlib

import numpy as np
import pytest
from scipy import stats

from pgcli.base import numerics
from pgcli.kinds import estimate as estimate_kind
from pgcli.lab import distributions, estimators
from pgcli.lab import estimate as estimate_module
from pgcli.lab.estimate import run_cell, summarise
from pgcli.lab.estimators import ESTIMATORS, UNBIASED, NotApplicable
from pgcli.lab.exact import exact_gradient
from pgcli.lab.functions import Fn, parse_function
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
    kind = "discrete" if distributions.FAMILIES[family].discrete else "continuous"
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
    dist = distributions.make_dist(case[0], case[1], case[2], case[3])
    mean, exact, se, _ = estimate(name, dist, parse_function(text), n=100, reps=400, seed=zlib.crc32(text.encode()))
    # measure_valued has no decomposition for the gamma shape: that coordinate alone is NaN
    no_decomposition = np.array([name == "measure_valued" and "shape" in p for p in dist.names])
    np.testing.assert_array_equal(np.isnan(mean), no_decomposition)
    ok = ~no_decomposition
    assert np.all(np.abs(mean - exact)[ok] <= 4 * se[ok] + 1e-10 * (1 + np.abs(exact[ok])))


@pytest.mark.parametrize(("case", "text", "name"), cells(UNBIASED[:4], refused=True))
def test_estimator_refuses_a_family_it_does_not_apply_to(case, text, name):
    dist = distributions.make_dist(case[0], case[1], case[2], case[3])
    with pytest.raises(NotApplicable, match=refusal(name, case[0], text)):
        ESTIMATORS[name](dist, parse_function(text), 2, np.random.default_rng(0), 1)


@pytest.mark.parametrize(
    ("case", "text"),
    [
        pytest.param(c, t, id=f"{case_id(c)}-{t}")
        for c in CASES
        if not distributions.FAMILIES[c[0]].discrete
        for t in SMOOTH["continuous"]
    ],
)
def test_pathwise_is_unbiased_for_smooth_f(case, text):
    dist = distributions.make_dist(case[0], case[1], case[2], case[3])
    mean, exact, se, _ = estimate("pathwise", dist, parse_function(text), 100, 400, seed=7)
    assert np.all(np.abs(mean - exact) <= 4 * se + 1e-12)


@pytest.mark.parametrize("family", ["gaussian", "exponential", "gamma", "beta"])
def test_pathwise_on_step_returns_zero_and_is_biased(family):
    """f' = 0 almost everywhere, so pathwise says 0 while ∂θ P(x > c) ≠ 0."""
    dist = distributions.make_dist(family, None, {})
    f = parse_function(JUMPS[family])
    mean, exact, _se, variance = estimate("pathwise", dist, f, 100, 50, seed=1)
    assert np.all(mean == 0) and np.all(variance == 0)
    assert np.all(np.abs(exact) > 0.05)


@pytest.mark.parametrize(
    ("case", "text"),
    [pytest.param(c, t, id=f"{case_id(c)}-{t}") for c in CASES for t in functions_for(c[0])[:2]],
)
@pytest.mark.slow
def test_finite_difference_has_small_bias(case, text):
    """Central differences with common random numbers: bias O(h²).

    For discrete families x jumps with probability O(h), so h is larger there (more jumps
    to average) and the O(h²) allowance grows with it."""
    dist = distributions.make_dist(case[0], case[1], case[2], case[3])
    f = parse_function(text)
    h = 0.02 if distributions.family(dist).discrete else 1e-3
    mean, exact, se, _ = estimate("finite_difference", dist, f, 1000, 200, seed=3, h=h)
    assert np.all(np.abs(mean - exact) <= 4 * se + 2 * h * h * (1 + np.abs(exact)))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["score", "score_optimal", "measure_valued", "pathwise"])
def test_variance_falls_as_one_over_n(name):
    """Slope of log variance against log n is −1 ± 0.1 over three decades."""
    dist = distributions.make_dist("gaussian", None, {"mu": 0.5, "sigma": 1.0})
    f = parse_function("square")
    ns = [10, 100, 1000, 10000]
    variances = [estimate(name, dist, f, n, 2000, seed=n)[3][0] for n in ns]
    slope = np.polyfit(np.log(ns), np.log(variances), 1)[0]
    assert slope == pytest.approx(-1.0, abs=0.1)


def test_variance_ordering_for_gaussian_mean_with_square():
    """pathwise < score_optimal ≤ score_loo < score for ∂/∂mu E[x²] at n = 100."""
    dist = distributions.make_dist("gaussian", None, {"mu": 1.0, "sigma": 1.0})
    f = parse_function("square")
    var = {
        name: estimate(name, dist, f, 100, 4000, seed=11)[3][0]
        for name in ["pathwise", "score_optimal", "score_loo", "score"]
    }
    assert var["pathwise"] < var["score_optimal"] <= var["score_loo"] * 1.05 < var["score"]


def test_score_loo_and_optimal_need_two_samples():
    dist = distributions.make_dist("gaussian", None, {})
    for name in ["score_loo", "score_optimal"]:
        with pytest.raises(NotApplicable, match="n ≥ 2"):
            ESTIMATORS[name](dist, parse_function("square"), 1, np.random.default_rng(0))


def test_chunked_huge_n_matches_the_unchunked_estimate(monkeypatch):
    """n = 300,000 runs in chunks by default; with the chunk limit lifted the same draws run in one
    piece. score's estimate is then the same number (its terms do not depend on the chunking); the
    baselines of score_loo and score_optimal are fitted per chunk, which moves the estimate by
    O(1/√chunk) of a standard error; all are within 4 SE of exact."""
    dist = distributions.make_dist("gaussian", None, {"mu": 0.2})
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


# ---------------------------------------------------------------------------------------------
# the pieces against direct computations: baselines, statistics, defaults, chain rule, messages


def test_leave_one_out_terms_by_hand(rng):
    """(f_i − b_i) s_i with b_i the mean of the other n − 1 values, written as a loop."""
    f_x, s = rng.normal(size=(2, 5)), rng.normal(size=(2, 5, 3))
    expected = np.empty_like(s)
    for r in range(2):
        for i in range(5):
            others = [f_x[r, j] for j in range(5) if j != i]
            expected[r, i] = (f_x[r, i] - sum(others) / len(others)) * s[r, i]
    np.testing.assert_allclose(estimators.loo_terms(f_x, s), expected, rtol=1e-12)


@pytest.mark.parametrize("n", [2, 5, 8])
def test_cross_fitted_terms_by_hand(rng, n):
    """Samples 0..⌊n/2⌋−1 use b_j = Σ f s_j² / Σ s_j² over the others, and vice versa; a
    coordinate whose scores are all 0 on the fitting half gets b = 0 (not 0/0). Scores are below 1
    in size, so every Σ s² < 1 is used as it is."""
    f_x, s = rng.normal(size=(2, n)), rng.uniform(-0.4, 0.4, size=(2, n, 3))
    s[:, n // 2 :, 2] = 0.0  # the second half fits no baseline for coordinate 2
    halves = [list(range(n // 2)), list(range(n // 2, n))]
    expected = np.empty_like(s)
    for r in range(2):
        for use, fit in (halves, halves[::-1]):
            for j in range(3):
                den = sum(s[r, i, j] ** 2 for i in fit)
                b = sum(f_x[r, i] * s[r, i, j] ** 2 for i in fit) / den if den > 0 else 0.0
                for i in use:
                    expected[r, i, j] = (f_x[r, i] - b) * s[r, i, j]
    got = estimators.cross_fitted_terms(f_x, s)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


def test_mean_std_error_and_gradient_stats_by_hand(rng):
    """mean, std(ddof = 1)/√m per coordinate; grad_var = Σ_j Var_j / m, grad_snr = ‖ĝ‖² / grad_var,
    NaN when m = 1 or the variance is 0."""
    grads = rng.normal(size=(7, 3))
    mean, se = numerics.mean_and_std_error(grads)
    for j in range(3):
        column = grads[:, j]
        assert mean[j] == pytest.approx(sum(column) / 7)
        assert se[j] == pytest.approx(np.sqrt(sum((column - column.mean()) ** 2) / 6) / np.sqrt(7))
    mean, se = numerics.mean_and_std_error(grads[:1])
    np.testing.assert_array_equal(mean, grads[0])
    assert se.shape == (3,) and np.isnan(se).all()
    grad = np.array([0.5, -1.0, 2.0])
    stats = numerics.gradient_stats(grad, grads)
    variance = sum(np.sum((grads[:, j] - grads[:, j].mean()) ** 2) / 6 for j in range(3)) / 7
    assert stats.grad_norm == pytest.approx(np.sqrt(5.25))
    assert stats.grad_var == pytest.approx(variance) and stats.grad_snr == pytest.approx(5.25 / variance)
    one = numerics.gradient_stats(grad, grads[:1])
    assert one.grad_norm == pytest.approx(np.sqrt(5.25)) and np.isnan(one.grad_var) and np.isnan(one.grad_snr)
    flat = numerics.gradient_stats(grad, np.ones((4, 3)))
    assert flat.grad_var == 0.0 and np.isnan(flat.grad_snr)
    pair = np.array([[1.0, 0.0, 2.0], [3.0, 0.0, -2.0]])  # m = 2: variances 2, 0, 8 (ddof = 1)
    assert numerics.gradient_stats(grad, pair).grad_var == pytest.approx(10 / 2)
    np.testing.assert_allclose(numerics.mean_and_std_error(pair)[1], np.sqrt([2.0, 0.0, 8.0]) / np.sqrt(2))


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_one_batch_by_default_and_defaults_from_the_spec(name):
    """Without reps an estimator draws one batch, (1, n, d); h and the temperature default to the
    spec's defaults (pgcli.kinds.estimate.SCHEMA), and options() passes the spec's values on."""
    dist = distributions.make_dist("bernoulli", "logit", {"logit": [0.3, -0.5]}, 2)
    if name == "pathwise":  # the one estimator with nothing for a discrete family
        dist = distributions.make_dist("gaussian", "log_sigma", {"mu": 0.3, "log_sigma": -0.5})
    f = parse_function("square")
    terms = ESTIMATORS[name](dist, f, 6, np.random.default_rng(0))
    assert terms.shape == (1, 6, 2)
    spec = {key: estimate_kind.SCHEMA[key].default for key in ("h", "temperature")}
    explicit = ESTIMATORS[name](dist, f, 6, np.random.default_rng(0), 1, **estimators.options(name, spec))
    np.testing.assert_array_equal(terms, explicit)
    assert set(estimators.options(name, {"h": 0.05, "temperature": 0.3})) == set(estimators.OPTIONS.get(name, {}))


@pytest.mark.parametrize("name", sorted(set(ESTIMATORS) - {"finite_difference"}))  # steps h in θ itself
def test_terms_follow_the_chain_rule_between_parametrisations(name):
    """The same Bernoulli product in p and in logits, the same draws: each logit term is the p term
    times dp/dα = p(1 − p); likewise a Gaussian in σ and in log σ (dσ/d log σ = σ)."""
    cases = [
        (("bernoulli", "standard", {"p": [0.3, 0.6]}), ("bernoulli", "logit", {"logit": list(np.log([3 / 7, 1.5]))})),
        (("gaussian", "standard", {"mu": 0.2, "sigma": 1.5}), ("gaussian", "log_sigma", {"mu": 0.2, "log_sigma": np.log(1.5)})),
    ]  # fmt: skip
    f = parse_function("cos:2")
    compared = 0
    for standard, other in cases:
        a = distributions.make_dist(*standard, len(standard[2].get("p", [0])) if standard[0] == "bernoulli" else None)
        b = distributions.make_dist(*other, len(standard[2].get("p", [0])) if standard[0] == "bernoulli" else None)
        np.testing.assert_allclose(a.phi, b.phi, rtol=1e-12)
        try:
            terms_a = ESTIMATORS[name](a, f, 40, np.random.default_rng(3), 2)
        except NotApplicable:
            continue
        terms_b = ESTIMATORS[name](b, f, 40, np.random.default_rng(3), 2)
        np.testing.assert_allclose(terms_b, terms_a * distributions.jacobian_diag(b), rtol=1e-9, atol=1e-12)
        compared += 1
    assert compared >= 1


def test_antithetic_terms_come_in_mirrored_pairs():
    """x ~ N(0, 1) at u and 1 − u: x_{i + n/2} = −x_i. With f(x) = x the μ-terms x² agree within a
    pair and the σ-terms x(x² − 1) are opposite; with odd n the last point is unpaired."""
    dist = distributions.make_dist("gaussian", None, {"mu": 0.0, "sigma": 1.0})
    f = parse_function("x")
    terms = ESTIMATORS["score_antithetic"](dist, f, 8, np.random.default_rng(2), 3)
    np.testing.assert_allclose(terms[:, :4, 0], terms[:, 4:, 0], rtol=1e-6)
    np.testing.assert_allclose(terms[:, :4, 1], -terms[:, 4:, 1], rtol=1e-6, atol=1e-9)
    odd = ESTIMATORS["score_antithetic"](dist, f, 7, np.random.default_rng(2), 3)
    assert odd.shape == (3, 7, 2)
    np.testing.assert_allclose(odd[:, :3, 0], odd[:, 4:, 0], rtol=1e-6)


def test_score_loo_and_optimal_work_from_two_samples():
    dist = distributions.make_dist("gaussian", None, {})
    for name in ["score_loo", "score_optimal"]:
        terms = ESTIMATORS[name](dist, parse_function("square"), 2, np.random.default_rng(0), 3)
        assert terms.shape == (3, 2, 2) and np.all(np.isfinite(terms))


def python_f(deriv=None):
    """A user's Python f (module mymodule, function payoff), as userfn.load returns it."""
    return Fn("mymodule:payoff", "python", None, lambda x: x.sum(1, keepdims=True), deriv, (), separable=False)


@pytest.mark.parametrize(
    ("name", "dist", "f", "message"),
    [
        ("arm", ("gaussian", None, {}), "square", "arm is for binary variables (bernoulli); not gaussian"),
        ("disarm", ("poisson", None, {}), "square", "disarm is for binary variables (bernoulli); not poisson"),
        ("straight_through", ("beta", None, {}), "square", "straight_through is for binary variables (bernoulli); not beta"),
        ("gumbel_softmax", ("categorical", None, {}), "square",
         "gumbel_softmax is for binary variables (bernoulli); not categorical (the categorical extension, ARSM, is not implemented)"),
        ("pathwise", ("poisson", None, {}), "square", "pathwise needs a reparameterisation; poisson is discrete"),
        ("pathwise", ("gaussian", None, {}), "table:1,2", "pathwise needs f'(x); table:1,2 has none"),
        ("score_cv_delta", ("gaussian", None, {}), "table:1,2", "score_cv_delta needs f'(x); table:1,2 has none"),
        ("pathwise", ("gaussian", None, {}), python_f(),
         "pathwise needs f'(x); mymodule:payoff has none (define payoff_grad(x) in mymodule)"),
        ("straight_through", ("bernoulli", None, {}), python_f(),
         "straight_through needs f'(x); mymodule:payoff has none (define payoff_grad(x) in mymodule)"),
        ("gumbel_softmax", ("bernoulli", None, {}), python_f(),
         "gumbel_softmax needs f'(x); mymodule:payoff has none (define payoff_grad(x) in mymodule)"),
        ("measure_valued", ("beta", None, {}), "square", "measure_valued: no weak-derivative decomposition for beta"),
        ("finite_difference", ("gaussian", None, {"sigma": 0.005}), "square",
         "finite_difference: θ ± h (h = 0.01) leaves the support in sigma"),
        ("score_loo", ("gaussian", None, {}), "square", "score_loo needs n ≥ 2 (a leave-one-out baseline)"),
        ("score_optimal", ("gaussian", None, {}), "square", "score_optimal needs n ≥ 2 (its baseline is cross-fitted)"),
    ],
)  # fmt: skip
def test_refusals_say_which_estimator_and_why(name, dist, f, message):
    f = parse_function(f) if isinstance(f, str) else f
    n = 1 if name in ("score_loo", "score_optimal") else 4
    with pytest.raises(NotApplicable) as refused:
        ESTIMATORS[name](distributions.make_dist(*dist), f, n, np.random.default_rng(0))
    assert str(refused.value) == message


class ZeroUniforms:
    """A stand-in generator whose uniforms are all 0.0, the one value Generator.random can return
    where a Gaussian inverse CDF is infinite."""

    def random(self, size):
        return np.zeros(size)


def test_antithetic_uniforms_are_kept_off_the_infinite_ends():
    """u = 0 and its twin 1 − u = 1 are moved to [U_MIN, 1 − U_MIN], so x = F⁻¹(u) is finite
    (≈ ∓8.2σ) and so are the terms."""
    dist = distributions.make_dist("gaussian", None, {"mu": 0.0, "sigma": 1.0})
    terms = ESTIMATORS["score_antithetic"](dist, parse_function("square"), 4, ZeroUniforms(), 1)
    assert np.all(np.isfinite(terms))
    x = stats.norm.ppf(estimators.U_MIN)  # the clipped u: x² · (x − μ)/σ² for μ
    np.testing.assert_allclose(terms[0, :2, 0], x**3, rtol=1e-9)
    np.testing.assert_allclose(terms[0, 2:, 0], -(x**3), rtol=1e-9)
