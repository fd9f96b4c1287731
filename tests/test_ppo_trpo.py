"""PPO-clip's clipped surrogate and its hand-written gradient; TRPO's line search and its KL constraint."""

import numpy as np
import pandas as pd
import pytest
from gymnasium import spaces

from pgcli.rl import natural as N
from pgcli.rl import policies as P
from pgcli.rl import ppo, trpo
from tests.helpers import assert_bad_input, invoke

CASES = [
    ("mlp", spaces.Box(-1, 1, (4,)), spaces.Discrete(3)),
    ("linear", spaces.Box(-1, 1, (3,)), spaces.Discrete(2)),
    ("mlp", spaces.Box(-1, 1, (3,)), spaces.Box(-2, 2, (2,))),
]
IDS = [f"{c[0]}-{type(c[2]).__name__}" for c in CASES]
QUICK = ["--set", "env.num_envs=4", "--set", "batch.episodes=8", "--set", "eval.every=0", "-q"]


def setup(case, rng, t=60):
    """A policy at θ, the batch's θ_old nearby (so some ratios leave the clip range), samples
    drawn from π_old, and advantages of both signs."""
    kind, obs_space, action_space = case
    policy = P.make_policy({"kind": kind, "hidden": [5], "activation": "tanh"}, obs_space, action_space)
    theta_old = P.init_params(policy, rng, -0.3) + 0.5 * rng.standard_normal(P.init_params(policy, rng, -0.3).size)
    theta = theta_old + 0.3 * rng.standard_normal(theta_old.size)
    x = rng.uniform(-1, 1, (t, obs_space.shape[0]))
    actions, _ = P.act(policy, *P.views(policy, theta_old), x, rng)
    return policy, theta_old, theta, x, actions, rng.standard_normal(t)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_clipped_surrogate_gradient_matches_finite_differences(case, rng):
    policy, theta_old, theta, x, actions, advantages = setup(case, rng)
    old_log_prob = P.log_prob(policy, theta_old, x, actions)
    value, grad, fraction = ppo.clipped_surrogate(policy, theta, x, actions, old_log_prob, advantages, 0.2)
    assert 0.1 < fraction < 0.9  # both branches of the min are exercised
    ratio = np.exp(P.log_prob(policy, theta, x, actions) - old_log_prob)
    assert value == pytest.approx(np.mean(np.minimum(ratio * advantages, np.clip(ratio, 0.8, 1.2) * advantages)))
    h = 1e-6
    numeric = np.zeros_like(theta)
    for i in range(theta.size):
        e = np.zeros_like(theta)
        e[i] = h
        up = ppo.clipped_surrogate(policy, theta + e, x, actions, old_log_prob, advantages, 0.2)[0]
        down = ppo.clipped_surrogate(policy, theta - e, x, actions, old_log_prob, advantages, 0.2)[0]
        numeric[i] = (up - down) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_at_the_old_policy_the_clipped_gradient_is_the_reinforce_gradient(case, rng):
    """r_t = 1 at θ = θ_old: ∇L = (1/M) Σ_t A_t ∇log π(a_t|s_t), nothing clipped."""
    policy, theta_old, _, x, actions, advantages = setup(case, rng)
    old_log_prob = P.log_prob(policy, theta_old, x, actions)
    value, grad, fraction = ppo.clipped_surrogate(policy, theta_old, x, actions, old_log_prob, advantages, 0.2)
    scores, _ = P.scores(policy, theta_old, x, actions)
    np.testing.assert_allclose(grad, (scores * advantages[:, None]).mean(0), atol=1e-12)
    assert fraction == 0.0 and value == pytest.approx(advantages.mean())


def test_clipped_terms_carry_no_gradient(rng):
    """Ratios past 1 + ε with A > 0 (or below 1 − ε with A < 0) are constant: zeroing those
    advantages leaves the gradient unchanged."""
    policy, theta_old, theta, x, actions, advantages = setup(CASES[0], rng)
    old_log_prob = P.log_prob(policy, theta_old, x, actions)
    ratio = np.exp(P.log_prob(policy, theta, x, actions) - old_log_prob)
    flat = ((advantages > 0) & (ratio > 1.2)) | ((advantages < 0) & (ratio < 0.8))
    assert flat.sum() >= 5
    _, grad, _ = ppo.clipped_surrogate(policy, theta, x, actions, old_log_prob, advantages, 0.2)
    _, kept, _ = ppo.clipped_surrogate(policy, theta, x, actions, old_log_prob, np.where(flat, 0.0, advantages), 0.2)
    np.testing.assert_allclose(grad, kept, atol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_every_accepted_trpo_step_satisfies_the_kl_constraint(case, rng):
    """Natural steps sized for δ = 0.05, a few far too long (×30): whatever the line search
    accepts improves the surrogate and has measured KL ≤ δ; an ascent-opposite step is rejected."""
    accepted = 0
    backtracked = 0
    for trial in range(12):
        policy, _, theta, x, actions, advantages = setup(case, rng)
        scores, _ = P.scores(policy, theta, x, actions)
        grad = (scores * advantages[:, None]).mean(0)
        step, _, _ = N.natural_step(policy, theta, x, grad, step_size=0.05, damping=1e-3, cg_iters=20)
        step = step * (30.0 if trial % 3 == 0 else 1.0)
        taken, k = trpo.line_search(policy, theta, step, x, actions, advantages, x, 0.05, 10)
        if k >= 0:
            accepted += 1
            backtracked += k > 0
            np.testing.assert_allclose(taken, 0.5**k * step)
            assert N.kl_divergence(policy, theta, theta + taken, x) <= 0.05
            old_log_prob = P.log_prob(policy, theta, x, actions)
            assert trpo.surrogate(policy, theta + taken, x, actions, old_log_prob, advantages) > advantages.mean()
        wrong, k = trpo.line_search(
            policy, theta, -1e-3 * grad / np.linalg.norm(grad), x, actions, advantages, x, 0.05, 3
        )
        assert k == -1 and not wrong.any()
    assert accepted >= 8 and backtracked >= 2


def test_trpo_training_keeps_every_update_inside_the_trust_region(tmp_path):
    result = invoke("train", "--set", "optim.kind=trpo", "--set", "optim.step_size=0.01", "--set",
                    "stop.iterations=6", *QUICK, "--results", tmp_path)  # fmt: skip
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "train-cartpole-v1" / "metrics.csv")
    assert (table["kl"] <= 0.01).all() and table["backtracks"].between(-1, 10).all()
    assert (table.loc[table["backtracks"] == -1, "kl"] == 0).all()  # a rejected step leaves θ
    assert (table["kl"] > 0).sum() >= 4  # steps were taken, not all rejected
    assert table["clip_fraction"].isna().all() and (table["epochs"] == 1).all()


def test_ppo_run_logs_clipping_epochs_and_the_first_epoch_gradient(tmp_path):
    ppo_args = ["--set", "algo.objective=ppo_clip", "--set", "algo.epochs=4", "--set", "algo.minibatches=4"]
    result = invoke("train", *ppo_args, "--set", "stop.iterations=4", *QUICK, "--results", tmp_path / "ppo")
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "ppo" / "train-cartpole-v1" / "metrics.csv")
    assert (table["epochs"] == 4).all() and table["clip_fraction"].between(0, 1).all()
    assert (table["clip_fraction"] > 0).any() and table["backtracks"].isna().all()
    assert table["value_loss"].notna().all()
    # grad_var keeps its meaning: the first iteration sees the same θ₀ and batch as REINFORCE
    invoke("train", "--set", "stop.iterations=1", *QUICK, "--results", tmp_path / "reinforce")
    first = pd.read_csv(tmp_path / "reinforce" / "train-cartpole-v1" / "metrics.csv").iloc[0]
    for column in ["env_steps", "grad_norm", "grad_var", "grad_snr", "entropy"]:
        assert table[column].iloc[0] == pytest.approx(first[column], rel=1e-12), column
    # the same spec and seed give the same bytes
    invoke("train", *ppo_args, "--set", "stop.iterations=4", *QUICK, "--results", tmp_path / "again")
    again = pd.read_csv(tmp_path / "again" / "train-cartpole-v1" / "metrics.csv")
    assert again.drop(columns="wall_s").to_csv() == table.drop(columns="wall_s").to_csv()


def test_ppo_kl_target_stops_the_epochs_early(tmp_path):
    args = ["--set", "algo.objective=ppo_clip", "--set", "algo.epochs=10", "--set", "algo.target_kl=1e-6"]
    result = invoke("train", *args, "--set", "stop.iterations=3", *QUICK, "--results", tmp_path)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "train-cartpole-v1" / "metrics.csv")
    assert (table["epochs"] == 1).all() and (table["kl"] > 1e-6).all()


def test_reinforce_stays_the_default(tmp_path):
    result = invoke("train", "--set", "stop.iterations=2", *QUICK, "--results", tmp_path)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "train-cartpole-v1" / "metrics.csv")
    assert (table["epochs"] == 1).all() and table["clip_fraction"].isna().all() and table["backtracks"].isna().all()


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--set", "algo.objective=ppo"], ["algo.objective", "allowed: reinforce, ppo_clip"]),
        (["--set", "algo.objective=ppo_clip", "--set", "optim.kind=trpo"], ["optim.kind", "sgd or adam"]),
        (["--set", "algo.clip=0"], ["algo.clip", "> 0"]),
        (["--set", "algo.minibatches=zero"], ["algo.minibatches", "expected a number"]),
        (["--set", "algo.target_kl=-0.01"], ["algo.target_kl", "> 0"]),
        (["--set", "optim.backtracks=-1"], ["optim.backtracks", "≥ 0"]),
    ],
)
def test_ppo_trpo_bad_input(tmp_path, args, fragments):
    results = tmp_path / "results"
    assert_bad_input(invoke("train", *args, "--results", results, "-q"), *fragments, nothing_in=results)
