"""The variance-reduction lab: new estimators against exact gradients and closed-form variances."""

import zlib

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from pgcli.lab import distributions
from pgcli.lab.estimators import ESTIMATORS, NotApplicable
from pgcli.lab.exact import exact_gradient, quadrature_gradient
from pgcli.lab.functions import parse_function
from tests.conftest import CASES, case_id
from tests.lab.test_estimators import cells, estimate, refusal

NEW_UNBIASED = ["score_antithetic", "score_rqmc", "score_cv_delta", "arm", "disarm"]
BINARY = ["arm", "disarm", "straight_through", "gumbel_softmax"]


def applies(name, dist, f):
    try:
        ESTIMATORS[name](dist, f, 2, np.random.default_rng(0), 1)
    except NotApplicable:
        return False
    return True


def bernoulli_table(family):
    return ["table:1,3"] if family == "bernoulli" else []


@pytest.mark.slow
@pytest.mark.parametrize(("case", "text", "name"), cells(NEW_UNBIASED, bernoulli_table))
def test_new_estimator_is_unbiased_within_4_se(case, text, name):
    dist = distributions.make_dist(case[0], case[1], case[2], case[3])
    f = parse_function(text)
    reps = 100 if name == "score_rqmc" else 400
    mean, exact, se, _ = estimate(name, dist, f, n=100, reps=reps, seed=zlib.crc32(f"{text}{name}".encode()))
    assert np.all(np.abs(mean - exact) <= 4 * se + 1e-10 * (1 + np.abs(exact)))


@pytest.mark.parametrize(("case", "text", "name"), cells(NEW_UNBIASED, bernoulli_table, refused=True))
def test_new_estimator_refuses_what_it_does_not_apply_to(case, text, name):
    """arm and disarm only on Bernoulli variables; score_cv_delta only for f with a derivative."""
    dist = distributions.make_dist(case[0], case[1], case[2], case[3])
    with pytest.raises(NotApplicable, match=refusal(name, case[0], text)):
        ESTIMATORS[name](dist, parse_function(text), 2, np.random.default_rng(0), 1)


def test_every_new_estimator_applies_somewhere_and_says_why_not_elsewhere():
    gaussian = distributions.make_dist("gaussian", None, {})
    binary = distributions.make_dist("bernoulli", "logit", {"logit": [0.2, -0.3]}, 2)
    square = parse_function("square")
    for name in [*NEW_UNBIASED, "straight_through", "gumbel_softmax"]:
        assert applies(name, binary, square)
    for name in BINARY:
        with pytest.raises(NotApplicable, match="binary variables"):
            ESTIMATORS[name](gaussian, square, 2, np.random.default_rng(0))
    with pytest.raises(NotApplicable, match="ARSM"):
        ESTIMATORS["disarm"](distributions.make_dist("categorical", None, {}, 3), square, 2, np.random.default_rng(0))
    with pytest.raises(NotApplicable, match="needs f'"):
        ESTIMATORS["score_cv_delta"](
            distributions.make_dist("bernoulli", None, {}), parse_function("table:1,3"), 2, None
        )


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_delta_control_variate_is_exact_for_linear_f(case):
    """f − h ≡ 0 for linear f: every term is ∇f(μ)ᵀ ∂E[x]/∂θ, i.e. the closed-form ∂E[x]/∂θ of
    each family (and its chain rule) against the exact gradient by closed form or quadrature."""
    dist = distributions.make_dist(case[0], case[1], case[2], case[3])
    f = parse_function("linear")
    terms = ESTIMATORS["score_cv_delta"](dist, f, 50, np.random.default_rng(1))[0]
    exact, _ = exact_gradient(dist, f)
    np.testing.assert_allclose(terms, np.broadcast_to(exact, terms.shape), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("logit", [-0.7, 0.4, 1.5])
def test_arm_and_disarm_variances_match_closed_forms_on_one_bernoulli(logit):
    """Table f (f(0), f(1)) = (1, 3), Δ = 2, p = σ(α), m = min(p, 1 − p), M = max(p, 1 − p):

    Var ARM    = (2Δ²/3)(1/8 − |p − ½|³) − (Δ p (1 − p))²
    Var DisARM = Δ² m M² (½ − m)          (DisARM ≤ ARM)
    """
    dist = distributions.make_dist("bernoulli", "logit", {"logit": logit})
    f = parse_function("table:1,3")
    p, delta = 1 / (1 + np.exp(-logit)), 2.0
    m, big = min(p, 1 - p), max(p, 1 - p)
    closed = {
        "arm": 2 * delta**2 / 3 * (1 / 8 - abs(p - 0.5) ** 3) - (delta * p * (1 - p)) ** 2,
        "disarm": delta**2 * m * big**2 * (0.5 - m),
    }
    assert closed["disarm"] < closed["arm"]
    for name, variance in closed.items():
        terms = ESTIMATORS[name](dist, f, 200_000, np.random.default_rng(3))[0][:, 0]
        assert terms.var(ddof=1) == pytest.approx(variance, rel=0.05)
        assert abs(terms.mean() - delta * p * (1 - p)) <= 4 * terms.std() / np.sqrt(terms.size)


@pytest.mark.parametrize("name", ["straight_through", "gumbel_softmax"])
@pytest.mark.parametrize("text", ["step:0.5", "square"])
def test_relaxed_binary_estimators_are_biased(name, text):
    """On x ∈ {0, 1}, step:0.5 has f′ = 0 (both answer 0) and x² differs from its tangent: the
    bias is many standard errors, as pathwise on a step."""
    dist = distributions.make_dist("bernoulli", "logit", {"logit": [0.4, -1.0]}, 2)
    mean, exact, se, _ = estimate(name, dist, parse_function(text), n=100, reps=400, seed=5)
    assert np.all(np.abs(mean - exact) > 4 * se + 0.01)


def test_gumbel_softmax_bias_shrinks_with_temperature():
    dist = distributions.make_dist("bernoulli", "logit", {"logit": 0.4})
    f = parse_function("square")
    bias = {}
    for tau in [1.0, 0.1]:
        mean, exact, _se, _ = estimate("gumbel_softmax", dist, f, 100, 400, seed=2, temperature=tau)
        bias[tau] = abs(mean - exact)[0]
    assert bias[0.1] < 0.5 * bias[1.0]


def test_rqmc_and_antithetic_reduce_variance_on_a_smooth_monotone_term():
    """∂/∂λ E[x] for x ~ Exp(λ): f s = x(1/λ − x) is smooth in u; Sobol points and
    antithetic pairs both beat independent draws at n = 256."""
    dist = distributions.make_dist("exponential", None, {"rate": 1.5})
    f = parse_function("linear")
    var = {
        name: estimate(name, dist, f, 256, 300, seed=4)[3][0] for name in ["score", "score_antithetic", "score_rqmc"]
    }
    assert var["score_rqmc"] < 0.2 * var["score"]
    assert var["score_antithetic"] < var["score"]


def test_bernoulli_product_exact_gradient_by_coordinate_equals_enumeration():
    """A separable f's gradient assembled per coordinate equals the exact sum over {0, 1}^4."""
    dist = distributions.make_dist("bernoulli", "logit", {"logit": [0.3, -1.2, 0.8, 2.0]}, 4)
    for text in ["cos:2", "table:1,0"]:
        f = parse_function(text)
        by_coordinate, method = exact_gradient(dist, f)
        enumerated, _ = quadrature_gradient(dist, f)
        assert method == "exact_sum"
        np.testing.assert_allclose(by_coordinate, enumerated, rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------------------------------------
# through the command line


def test_bernoulli_product_through_the_cli_with_efficiency_and_rank(tmp_path):
    from tests.helpers import invoke, written

    result = invoke("estimate", "--dist", "bernoulli", "--dim", "3", "--param", "logit", "--theta",
                    "logit=[0.5,-1,2]", "--f", "square", "--estimators", "score,disarm,straight_through",
                    "--n", "100,400", "--reps", "50", "--rank", "--target-se", "0.002",
                    "--results", tmp_path)  # fmt: skip
    assert result.exit_code == 0, result.output
    table = pd.read_csv(written(result))
    assert sorted(table["param"].unique()) == ["logit[0]", "logit[1]", "logit[2]"]
    assert set(table["exact_method"]) == {"exact_sum"}
    per_estimate = table["seconds"] / table["reps"]
    np.testing.assert_allclose(table["efficiency"], 1 / (table["variance"] * per_estimate))
    lines = result.stdout.splitlines()
    assert lines[0].startswith("estimators ranked for standard error 0.002")
    ranked = [line.split()[1] for line in lines[2:5]]
    assert ranked[-1] == "straight_through" and "biased" in lines[4]  # biased estimators come last
    disarm = table[(table["estimator"] == "disarm") & (table["n_samples"] == 400)]
    need = int(np.ceil(400 * disarm["variance"].max() / 0.002**2))
    assert str(need) in next(line for line in lines if " disarm " in line)


def test_dependent_terms_with_one_rep_have_no_variance(tmp_path):
    from tests.helpers import invoke, written

    result = invoke("estimate", "--f", "square", "--estimators", "score_rqmc,score", "--n", "64",
                    "--reps", "1", "--results", tmp_path, "-q")  # fmt: skip
    assert result.exit_code == 0, result.output
    table = pd.read_csv(written(result)).set_index(["estimator", "param"])
    assert table.loc[("score_rqmc", "mu"), "variance"] != table.loc[("score_rqmc", "mu"), "variance"]  # NaN
    assert table.loc[("score", "mu"), "variance"] > 0
    assert "score_rqmc: variance needs reps ≥ 2" in result.stdout


def test_bad_target_se_and_dim_are_bad_input(tmp_path):
    from tests.helpers import assert_bad_input, invoke

    result = invoke("estimate", "--rank", "--target-se", "0", "--results", tmp_path)
    assert_bad_input(result, "--target-se", nothing_in=tmp_path)
    result = invoke("estimate", "--dist", "poisson", "--dim", "3", "--results", tmp_path)
    assert_bad_input(result, "dim applies only to", nothing_in=tmp_path)


# ---------------------------------------------------------------------------------------------
# --dtype float32


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_float32_score_estimators_are_unbiased(case):
    """Samples, scores and terms in float32 (rounding ~1e-7 relative, far below Monte Carlo error);
    the exact gradient stays float64."""
    dist = distributions.make_dist(case[0], case[1], case[2], case[3], dtype="float32")
    f = parse_function("cos:2")
    x = distributions.sample(dist, 8, np.random.default_rng(0))
    assert x.dtype == np.float32 and distributions.score(dist, x).dtype == np.float32
    for name in ["score", "score_loo"]:
        mean, exact, se, _ = estimate(name, dist, f, n=100, reps=400, seed=9)
        assert exact.dtype == np.float64
        assert np.all(np.abs(mean - exact) <= 4 * se + 1e-5 * (1 + np.abs(exact)))


def test_dtype_through_the_cli(tmp_path):
    from tests.helpers import assert_bad_input, invoke, written

    args = ["estimate", "--f", "square", "--estimators", "score", "--n", "1000", "--reps", "20", "-q"]
    result = invoke(*args, "--dtype", "float32", "--results", tmp_path / "a")
    assert result.exit_code == 0, result.output
    table = pd.read_csv(written(result))
    assert (table["bias"].abs() <= 4 * table["std_error"]).all()
    assert_bad_input(invoke(*args, "--dtype", "float16", "--results", tmp_path / "b"), "--dtype")


def test_float32_normals_have_the_normal_law():
    """Box–Muller in float32: mean, variance, kurtosis and two tail masses of 2·10⁶ draws within
    4 standard errors of N(0, 1)'s; the two halves of a pair are uncorrelated."""
    draws = distributions.standard_normal32(np.random.default_rng(4), (2_000_000, 1))
    assert draws.dtype == np.float32 and draws.shape == (2_000_000, 1)
    z = draws[:, 0].astype(np.float64)
    m = z.size
    assert abs(z.mean()) <= 4 / np.sqrt(m)
    assert abs(z.var() - 1) <= 4 * np.sqrt(2 / m)
    assert abs(np.mean(z**4) - 3) <= 4 * np.sqrt(96 / m)
    for c in (1.0, 3.0):
        p = 2 * stats.norm.sf(c)
        assert abs(np.mean(np.abs(z) > c) - p) <= 4 * np.sqrt(p * (1 - p) / m)
    half = m // 2
    assert abs(np.corrcoef(z[:half], z[half:])[0, 1]) <= 4 / np.sqrt(half)
