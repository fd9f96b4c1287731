"""The policy Fisher matrix, Fisher-vector products, CG, and the natural gradient step."""

import numpy as np
import pandas as pd
import pytest
from gymnasium import spaces

from pgcli.rl import natural as N
from pgcli.rl import policies as P
from tests.helpers import assert_bad_input, invoke

CASES = [
    ("mlp", spaces.Box(-1, 1, (4,)), spaces.Discrete(3)),
    ("linear", spaces.Box(-1, 1, (3,)), spaces.Discrete(2)),
    ("mlp", spaces.Box(-1, 1, (3,)), spaces.Box(-2, 2, (2,))),
]


def setup(case, rng, t=50):
    kind, obs_space, action_space = case
    policy = P.make_policy({"kind": kind, "hidden": [6], "activation": "tanh"}, obs_space, action_space)
    d = P.init_params(policy, rng, -0.2).size
    theta = P.init_params(policy, rng, -0.2) + 0.5 * rng.standard_normal(d)
    return policy, theta, rng.uniform(-1, 1, (t, obs_space.shape[0]))


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{type(c[2]).__name__}")
def test_fisher_vector_product_equals_explicit_matrix(case, rng):
    policy, theta, x = setup(case, rng)
    fisher = N.fisher_matrix(policy, theta, x)
    for _ in range(3):
        v = rng.standard_normal(theta.size)
        np.testing.assert_allclose(N.fisher_vector_product(policy, theta, x, v, 0.1), fisher @ v + 0.1 * v, atol=1e-8)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{type(c[2]).__name__}")
def test_fisher_is_the_hessian_of_kl_and_the_score_covariance(case, rng):
    """vᵀ F v = d²/dh² KL(π_θ ‖ π_{θ+hv}) at h = 0, and F = E[s sᵀ] over sampled actions."""
    policy, theta, x = setup(case, rng, t=20)
    fisher = N.fisher_matrix(policy, theta, x)
    v = rng.standard_normal(theta.size)
    h = 1e-4
    assert 2 * N.kl_divergence(policy, theta, theta + h * v, x) / h**2 == pytest.approx(v @ fisher @ v, rel=1e-3)
    xs = np.repeat(x, 2000, axis=0)
    actions, _ = P.act(policy, *P.views(policy, theta), xs, rng)
    scores, _ = P.scores(policy, theta, xs, actions)
    outer = scores[:, :, None] * scores[:, None, :]
    se = outer.std(0) / np.sqrt(xs.shape[0])
    assert np.all(np.abs(outer.mean(0) - fisher) <= 4 * se + 1e-12)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{type(c[2]).__name__}")
def test_conjugate_gradient_matches_exact_damped_solve(case, rng):
    policy, theta, x = setup(case, rng)
    g = rng.standard_normal(theta.size)
    damping = 0.01
    exact = np.linalg.solve(N.fisher_matrix(policy, theta, x) + damping * np.eye(theta.size), g)
    solved, residual = N.conjugate_gradient(lambda v: N.fisher_vector_product(policy, theta, x, v, damping), g, 200)
    np.testing.assert_allclose(solved, exact, rtol=1e-6, atol=1e-6)
    assert residual < 1e-6
    cg_step, _, _ = N.natural_step(policy, theta, x, g, step_size=0.01, damping=damping, cg_iters=200)
    exact_step, _, _ = N.natural_step(policy, theta, x, g, step_size=0.01, damping=damping, cg_iters=0, solver="exact")
    np.testing.assert_allclose(cg_step, exact_step, rtol=1e-5, atol=1e-8)


def test_tabular_softmax_fisher_has_the_constant_logit_null_direction(rng):
    """logits_s = W_s + b: adding c to every logit of a state changes nothing, so F has rank
    S(A − 1) of S·A + A parameters; the damped solve stays finite."""
    n_states, n_actions = 4, 3
    policy = P.make_policy(
        {"kind": "linear", "hidden": [], "activation": "tanh"},
        spaces.Discrete(n_states),
        spaces.Discrete(n_actions),
    )
    theta = rng.standard_normal(n_states * n_actions + n_actions)
    x = P.encode(policy, np.arange(200) % n_states)
    fisher = N.fisher_matrix(policy, theta, x)
    eigenvalues = np.linalg.eigvalsh(fisher)
    assert N.rank(eigenvalues) == n_states * (n_actions - 1)
    assert N.condition_number(eigenvalues) == np.inf
    for s in range(n_states):  # the null direction of each state
        v = np.zeros_like(theta)
        v[s * n_actions : (s + 1) * n_actions] = 1.0
        np.testing.assert_allclose(fisher @ v, 0.0, atol=1e-12)
    g = rng.standard_normal(theta.size)
    step, residual, cond = N.natural_step(
        policy, theta, x, g, step_size=0.01, damping=1e-3, cg_iters=50, solver="exact"
    )
    assert np.all(np.isfinite(step)) and residual < 1e-8 and cond == np.inf


@pytest.mark.parametrize("step_size", [1e-3, 1e-4])
def test_measured_kl_per_update_is_close_to_the_trust_region(tmp_path, step_size):
    result = invoke("train", "--set", "optim.kind=natural", "--set", f"optim.step_size={step_size}",
                    "--set", "stop.iterations=5", "--set", "eval.every=0", "--results", tmp_path, "-q")  # fmt: skip
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "train-cartpole-v1" / "metrics.csv")
    ratio = table["kl"] / step_size
    assert ratio.between(0.5, 2.0).all(), ratio.tolist()
    assert (table["cg_residual"] < table["grad_norm"]).all()  # CG shrank the residual below ‖ĝ‖


def test_fisher_condition_is_logged_for_small_policies(tmp_path):
    result = invoke("train", "--set", "optim.kind=natural", "--set", "policy.kind=linear", "--set", "optim.solver=exact",
                    "--set", "stop.iterations=3", "--set", "eval.every=0", "--results", tmp_path, "-q")  # fmt: skip
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "train-cartpole-v1" / "metrics.csv")
    assert (table["fisher_cond"] > 1).all()


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
