"""The policy Fisher matrix, Fisher-vector products, CG, and the natural gradient step."""

import numpy as np
import pandas as pd
import pytest
from gymnasium import spaces

from pgcli.rl import natural, policies
from tests.helpers import assert_bad_input, invoke, train_settings, written

CASES = [
    ("mlp", spaces.Box(-1, 1, (4,)), spaces.Discrete(3)),
    ("linear", spaces.Box(-1, 1, (3,)), spaces.Discrete(2)),
    ("mlp", spaces.Box(-1, 1, (3,)), spaces.Box(-2, 2, (2,))),
    ("mlp-relu", spaces.Box(-1, 1, (4,)), spaces.Discrete(3)),
    ("mlp-relu", spaces.Box(-1, 1, (3,)), spaces.Box(-2, 2, (2,))),
]


def policy_settings(kind, hidden=None, activation="tanh"):
    """Typed policy settings (pgcli.rl.settings.PolicySettings): a network kind, its activation and
    (mlp) hidden sizes; a linear policy has no hidden layer whatever policy.hidden says."""
    policy = {"kind": kind, "activation": activation} | ({} if hidden is None else {"hidden": hidden})
    return train_settings(policy=policy).policy


def setup(case, rng, t=50):
    kind, obs_space, action_space = case
    kind, _, activation = kind.partition("-")
    policy = policies.make_policy(policy_settings(kind, [6], activation or "tanh"), obs_space, action_space)
    d = policies.init_params(policy, rng, -0.2).size
    theta = policies.init_params(policy, rng, -0.2) + 0.5 * rng.standard_normal(d)
    return policy, theta, rng.uniform(-1, 1, (t, obs_space.shape[0]))


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{type(c[2]).__name__}")
def test_fisher_vector_product_equals_explicit_matrix(case, rng):
    policy, theta, x = setup(case, rng)
    fisher = natural.fisher_matrix(policy, theta, x)
    for _ in range(3):
        v = rng.standard_normal(theta.size)
        np.testing.assert_allclose(
            natural.fisher_vector_product(policy, theta, x, v, 0.1), fisher @ v + 0.1 * v, atol=1e-8
        )


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{type(c[2]).__name__}")
def test_fisher_is_the_hessian_of_kl_and_the_score_covariance(case, rng):
    """vᵀ F v = d²/dh² KL(π_θ ‖ π_{θ+hv}) at h = 0, and F = E[s sᵀ] over sampled actions."""
    policy, theta, x = setup(case, rng, t=20)
    fisher = natural.fisher_matrix(policy, theta, x)
    v = rng.standard_normal(theta.size)
    h = 1e-4
    assert 2 * natural.kl_divergence(policy, theta, theta + h * v, x) / h**2 == pytest.approx(v @ fisher @ v, rel=1e-3)
    xs = np.repeat(x, 2000, axis=0)
    actions, _ = policies.act(policy, *policies.views(policy, theta), xs, rng)
    scores, _ = policies.scores(policy, theta, xs, actions)
    outer = scores[:, :, None] * scores[:, None, :]
    se = outer.std(0) / np.sqrt(xs.shape[0])
    assert np.all(np.abs(outer.mean(0) - fisher) <= 4 * se + 1e-12)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{type(c[2]).__name__}")
def test_conjugate_gradient_matches_exact_damped_solve(case, rng):
    policy, theta, x = setup(case, rng)
    g = rng.standard_normal(theta.size)
    damping = 0.01
    exact = np.linalg.solve(natural.fisher_matrix(policy, theta, x) + damping * np.eye(theta.size), g)
    solved, residual = natural.conjugate_gradient(
        lambda v: natural.fisher_vector_product(policy, theta, x, v, damping), g, 200
    )
    np.testing.assert_allclose(solved, exact, rtol=1e-6, atol=1e-6)
    assert residual < 1e-6
    cg_step, _, _ = natural.natural_step(policy, theta, x, g, step_size=0.01, damping=damping, cg_iters=200)
    exact_step, _, _ = natural.natural_step(
        policy, theta, x, g, step_size=0.01, damping=damping, cg_iters=0, solver="exact"
    )
    np.testing.assert_allclose(cg_step, exact_step, rtol=1e-5, atol=1e-8)


def test_a_zero_gradient_gives_a_zero_step(rng):
    """ĝ = 0: the solve gives x = 0 and xᵀ F x = 0, so the step is the zero vector (not 0/0)."""
    policy, theta, x = setup(CASES[0], rng)
    for solver in ("cg", "exact"):
        step, residual, _ = natural.natural_step(policy, theta, x, np.zeros(theta.size), step_size=0.01, damping=0.0,
                                           cg_iters=10, solver=solver)  # fmt: skip
        assert step.shape == theta.shape and not step.any() and residual == 0.0
    solved, residual = natural.conjugate_gradient(lambda v: 2.0 * v, np.zeros(3), iters=5, tol=0.0)
    assert not solved.any() and residual == 0.0


def test_conjugate_gradient_solves_a_small_system_exactly_in_d_steps(rng):
    """CG on an SPD matrix of size d converges in at most d steps (exact arithmetic: up to rounding)."""
    a = rng.standard_normal((5, 5))
    matrix = a @ a.T + 0.5 * np.eye(5)
    b = rng.standard_normal(5)
    solved, residual = natural.conjugate_gradient(lambda v: matrix @ v, b, iters=5, tol=0.0)
    np.testing.assert_allclose(solved, np.linalg.solve(matrix, b), rtol=1e-8)
    assert residual == pytest.approx(np.linalg.norm(b - matrix @ solved))


@pytest.mark.parametrize(
    ("eigenvalues", "cond", "nonzero"),
    [
        ([1.0, 4.0, 2.0], 4.0, 4.0),
        ([3.0], 1.0, 1.0),
        ([5.0, 0.0, 1.0, 0.5], np.inf, 10.0),
        ([0.0, 0.0], np.nan, np.nan),
        ([1e-3, 1e-5, 2e-3, 0.0], np.inf, 200.0),
    ],
)
def test_condition_number_of_a_known_spectrum(eigenvalues, cond, nonzero):
    """λ_max / λ_min of any order of eigenvalues; ∞ when one is 0; over the nonzero ones with
    nonzero=True; NaN for the zero matrix."""
    eigenvalues = np.array(eigenvalues)
    np.testing.assert_allclose(natural.condition_number(eigenvalues), cond, rtol=1e-12)
    np.testing.assert_allclose(natural.condition_number(eigenvalues, nonzero=True), nonzero, rtol=1e-12)


@pytest.mark.parametrize("scale", [1.0, 1e-6, 1e6])
def test_rank_is_numpy_matrix_rank_at_any_scale(rng, scale):
    """rank(F) = matrix_rank(F) for F = A Aᵀ of rank r (A is 6 × r), also for F scaled by 10⁻⁶ or 10⁶;
    the zero matrix and an empty spectrum have rank 0."""
    for r in range(7):
        a = rng.standard_normal((6, r))
        fisher = scale * a @ a.T
        assert natural.rank(np.linalg.eigvalsh(fisher)) == np.linalg.matrix_rank(fisher) == r
    assert natural.rank(np.zeros(4)) == 0 and natural.rank(np.array([])) == 0
    spectrum = np.array([1.0, 1e-14, 0.0])  # the cut is relative: max · d · eps
    assert natural.rank(spectrum) == natural.rank(scale * 1e-3 * spectrum) == natural.rank(scale * 1e3 * spectrum) == 2


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{type(c[2]).__name__}")
def test_param_names_name_the_coordinates_of_theta(case, rng):
    """Name i is the coordinate θ_i: with θ = 0, 1, 2, ... the layer views hold, at W[r,c] and b[c]
    of layer l, the index of the name "l{l}.W[r,c]" or "l{l}.b[c]"; a Gaussian head ends with
    log_std[k] for each action dimension."""
    policy, theta, _ = setup(case, rng)
    names = natural.param_names(policy)
    assert len(names) == theta.size == len(set(names))
    index = np.arange(theta.size, dtype=float)
    net, log_std = policies.views(policy, index)
    for layer, (w, b) in enumerate(net):
        for (r, c), value in np.ndenumerate(w):
            assert names[int(value)] == f"l{layer}.W[{r},{c}]"
        for c, value in enumerate(b):
            assert names[int(value)] == f"l{layer}.b[{c}]"
    if log_std is not None:
        assert [names[int(value)] for value in log_std] == [f"log_std[{k}]" for k in range(log_std.size)]


def test_policy_fisher_rows_describe_the_matrix(rng):
    """Summary rows (states, parameters, rank, both condition numbers, trace) against the matrix
    itself; the spectrum in descending order; one entry row per (row, col) name pair while the
    policy is small, none past SMALL_POLICY parameters."""
    policy, theta, x = setup(CASES[0], rng, t=40)  # 4·6 + 6 + 6·3 + 3 = 51 parameters
    fisher = natural.fisher_matrix(policy, theta, x)
    rows, eigenvalues = natural.policy_fisher(policy, theta, x)
    table = pd.DataFrame(rows, columns=natural.POLICY_FISHER_COLUMNS)
    summary = table[table["quantity"].isin(["n_states", "n_params", "rank", "condition_number",
                                            "condition_number_nonzero", "trace"])]  # fmt: skip
    assert (summary["row"] == "").all() and (summary["col"] == "").all()
    values = dict(zip(summary["quantity"], summary["value"], strict=True))
    spectrum = np.linalg.eigvalsh(fisher)
    kept = np.sort(spectrum[spectrum > spectrum.max() * spectrum.size * np.finfo(float).eps])
    assert values["n_states"] == 40 and values["n_params"] == theta.size == 51
    assert values["rank"] == np.linalg.matrix_rank(fisher) == kept.size < 51  # the constant-logit directions
    assert values["condition_number"] == np.inf
    assert values["condition_number_nonzero"] == pytest.approx(kept[-1] / kept[0], rel=1e-8)
    assert values["trace"] == pytest.approx(np.trace(fisher), rel=1e-12)
    listed = table[table["quantity"] == "eigenvalue"]
    assert list(listed["row"]) == [str(i) for i in range(51)] and (listed["col"] == "").all()
    np.testing.assert_allclose(listed["value"], np.sort(spectrum)[::-1], atol=1e-12)
    np.testing.assert_allclose(eigenvalues, np.sort(spectrum)[::-1], atol=1e-12)
    entries = table[table["quantity"] == "entry"]
    names = natural.param_names(policy)
    assert len(entries) == 51 * 51
    got = entries.pivot(index="row", columns="col", values="value").loc[names, names].to_numpy()
    np.testing.assert_allclose(got, fisher, atol=1e-14)
    big = policies.make_policy(policy_settings("mlp", [16]), CASES[0][1], CASES[0][2])
    rows, _ = natural.policy_fisher(big, policies.init_params(big, rng, 0.0), x)  # 4·16 + 16 + 16·3 + 3 = 131 > 64
    assert not any(quantity == "entry" for quantity, *_ in rows)
    at_limit = policies.make_policy(policy_settings("linear"), spaces.Box(-1, 1, (15,)),
                             spaces.Discrete(4))  # fmt: skip  # 15·4 + 4 = 64 = SMALL_POLICY
    rows, _ = natural.policy_fisher(at_limit, policies.init_params(at_limit, rng, 0.0), rng.uniform(-1, 1, (30, 15)))
    assert sum(quantity == "entry" for quantity, *_ in rows) == 64 * 64


def test_tabular_softmax_fisher_has_the_constant_logit_null_direction(rng):
    """logits_s = W_s + b: adding c to every logit of a state changes nothing, so F has rank
    S(A − 1) of S·A + A parameters; the damped solve stays finite."""
    n_states, n_actions = 4, 3
    policy = policies.make_policy(
        policy_settings("linear"),
        spaces.Discrete(n_states),
        spaces.Discrete(n_actions),
    )
    theta = rng.standard_normal(n_states * n_actions + n_actions)
    x = policies.encode(policy, np.arange(200) % n_states)
    fisher = natural.fisher_matrix(policy, theta, x)
    eigenvalues = np.linalg.eigvalsh(fisher)
    assert natural.rank(eigenvalues) == n_states * (n_actions - 1)
    assert natural.condition_number(eigenvalues) == np.inf
    for s in range(n_states):  # the null direction of each state
        v = np.zeros_like(theta)
        v[s * n_actions : (s + 1) * n_actions] = 1.0
        np.testing.assert_allclose(fisher @ v, 0.0, atol=1e-12)
    g = rng.standard_normal(theta.size)
    step, residual, cond = natural.natural_step(
        policy, theta, x, g, step_size=0.01, damping=1e-3, cg_iters=50, solver="exact"
    )
    assert np.all(np.isfinite(step)) and residual < 1e-8 and cond == np.inf


@pytest.mark.parametrize("step_size", [1e-3, 1e-4])
def test_measured_kl_per_update_is_close_to_the_trust_region(tmp_path, step_size):
    result = invoke("train", "--set", "optim.kind=natural", "--set", f"optim.step_size={step_size}",
                    "--set", "stop.iterations=5", "--set", "eval.every=0", "--results", tmp_path, "-q")  # fmt: skip
    assert result.exit_code == 0, result.output
    table = pd.read_csv(written(result))
    ratio = table["kl"] / step_size
    assert ratio.between(0.5, 2.0).all(), ratio.tolist()
    assert (table["cg_residual"] < table["grad_norm"]).all()  # CG shrank the residual below ‖ĝ‖


def natural_run(tmp_path, *args):
    result = invoke("train", "--set", "optim.kind=natural", *args, "--set", "stop.iterations=3", "--set",
                    "eval.every=0", "--results", tmp_path, "-q")  # fmt: skip
    assert result.exit_code == 0, result.output
    (metrics,) = tmp_path.glob("*/metrics.csv")
    return pd.read_csv(metrics)["fisher_cond"]


@pytest.mark.slow
def test_fisher_condition_is_logged_for_small_policies_infinite_for_softmax_finite_for_gaussian(tmp_path):
    """A softmax policy's F is singular (adding c to every logit leaves π unchanged), so its logged
    condition number is ∞, by the exact solver or (d ≤ 128) beside CG; a linear Gaussian policy's
    F = σ⁻² E[x̃ x̃ᵀ] ⊕ 2 I is positive definite: finite and > 1; with CG on 450 parameters it is
    not computed (NaN)."""
    exact_linear = natural_run(tmp_path / "a", "--set", "policy.kind=linear", "--set", "optim.solver=exact")
    assert np.isinf(exact_linear).all()
    assert np.isinf(natural_run(tmp_path / "b", "--set", "policy.hidden=[8]")).all()  # d = 58, CG
    assert natural_run(tmp_path / "c", "--set", "policy.hidden=[64]").isna().all()  # d = 450, CG
    gaussian = natural_run(tmp_path / "d", "--set", "env.id=Pendulum-v1", "--set", "policy.kind=linear",
                           "--set", "optim.solver=exact", "--set", "batch.episodes=2")  # fmt: skip
    assert (np.isfinite(gaussian) & (gaussian > 1)).all()


@pytest.mark.slow
def test_fisher_policy_command(tmp_path):
    args = [
        "--set",
        "env.id=tests.envs:tabular",
        "--set",
        "policy.kind=linear",
        "--set",
        "stop.iterations=2",
        "--set",
        "eval.every=0",
    ]
    assert invoke("train", *args, "--results", tmp_path, "-q", "--name", "tab").exit_code == 0
    (run_dir,) = [p for p in (tmp_path / "tab").iterdir() if p.is_dir()]
    result = invoke("fisher", "--policy", run_dir, "--states", "500", "--trust", ".")  # a run directory: --trust only
    assert result.exit_code == 0, result.output
    assert "trained" in result.stdout and "rank 3" in result.stdout  # 3 states × (2 − 1)
    table = pd.read_csv(run_dir / "policy_fisher.csv")
    assert (table["quantity"] == "eigenvalue").sum() == 8 and (table["quantity"] == "entry").sum() == 64
    spec_result = invoke(
        "fisher",
        "--policy",
        "pgcli/library/cartpole.yaml",
        "--set",
        "sweep.seeds=1",
        "--states",
        "300",
        "--out",
        tmp_path / "f.csv",
        "--results",
        tmp_path,
    )
    assert spec_result.exit_code == 0 and "initial (untrained)" in spec_result.stdout
    spectrum = pd.read_csv(tmp_path / "f.csv")
    assert (spectrum["quantity"] == "entry").sum() == 0  # 226 parameters: spectrum only


def test_fisher_policy_bad_input(tmp_path):
    assert_bad_input(invoke("fisher", "--policy", tmp_path / "nothing"), "no such run directory")
    assert_bad_input(invoke("fisher", "--policy", tmp_path), "not a run directory")
    assert_bad_input(
        invoke("fisher", "--policy", "pgcli/library/cartpole.yaml", "--dist", "gamma"),
        "--policy takes no",
    )
    assert_bad_input(invoke("train", "--set", "optim.solver=magic"), "optim.solver", "allowed: cg, exact")


@pytest.mark.slow
def test_natural_gradient_solves_cartpole_for_4_of_5_seeds(tmp_path):
    """pgcli/library/cartpole-natural.yaml within the calibrated Adam budget (150k env steps)."""
    result = invoke("train", "pgcli/library/cartpole-natural.yaml", "--results", tmp_path, "-q")  # fmt: skip
    runs = pd.read_csv(tmp_path / "cartpole-natural" / "runs.csv")
    assert (runs["final_return"] >= 475).sum() >= 4, runs
    assert result.exit_code == 0
