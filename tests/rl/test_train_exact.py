"""REINFORCE against exact policy gradients on MDPs solved by linear algebra."""

import numpy as np
import pytest

from pgcli.base import numerics
from pgcli.base.numerics import gradient_stats
from pgcli.rl import advantages, policies, rollout
from pgcli.rl.train import policy_gradient
from tests.envs import Tabular, exact_tabular
from tests.helpers import train_settings

SETTINGS = train_settings(policy={"kind": "linear"})
LINEAR = SETTINGS.policy


def algo(weight):
    return SETTINGS.algo._replace(weight=weight, discount=1.0, gae_lambda=1.0, baseline="none",
                                  normalize_advantages=False, entropy_coef=0.0)  # fmt: skip


def reinforce(env_id, kwargs, theta, batches, episodes, seed, weights=("total_return", "reward_to_go")):
    """Per-batch gradient estimates and grad_var for each weight, on the same batches."""
    env = rollout.make_env(SETTINGS.env._replace(id=env_id, kwargs=kwargs, max_episode_steps=None), 8)
    policy = policies.make_policy(LINEAR, env.single_observation_space, env.single_action_space)
    rng = np.random.default_rng(seed)
    grads = {w: [] for w in weights}
    variances = {w: [] for w in weights}
    for _ in range(batches):
        batch, _ = rollout.collect(env, policy, theta, rng, episodes=episodes, state=rollout.fresh_state(env, rng))
        for w in weights:
            adv, _ = advantages.weights(batch, algo(w))
            grad, per_episode, _ = policy_gradient(
                policy, theta, batch, rollout.flatten(batch, batch.obs), rollout.flatten(batch, adv), 0.0
            )
            grads[w].append(grad)
            variances[w].append(gradient_stats(grad, per_episode)[1])
    return {w: np.array(g) for w, g in grads.items()}, {w: np.mean(v) for w, v in variances.items()}


def test_exact_tabular_gradient_matches_finite_differences_of_exact_return():
    env = Tabular(mdp_seed=3)
    logits = np.random.default_rng(0).normal(size=(3, 2))
    _j, grad = exact_tabular(env, numerics.softmax(logits.copy()))
    h = 1e-6
    for s in range(3):
        for a in range(2):
            e = np.zeros_like(logits)
            e[s, a] = h
            up = exact_tabular(env, numerics.softmax(logits + e))[0]
            down = exact_tabular(env, numerics.softmax(logits - e))[0]
            assert grad[s, a] == pytest.approx((up - down) / (2 * h), abs=1e-8)


@pytest.mark.slow
@pytest.mark.parametrize("weight", ["total_return", "reward_to_go"])
def test_reinforce_matches_exact_gradient_on_tabular_mdp(weight):
    kwargs = {"n_states": 3, "n_actions": 2, "mdp_seed": 3}
    env = Tabular(**kwargs)
    w = np.random.default_rng(0).normal(size=(3, 2))
    theta = np.concatenate([w.ravel(), np.zeros(2)])  # logits[s] = W[s] + b, b = 0
    _, exact_logits = exact_tabular(env, numerics.softmax(w.copy()))
    exact = np.concatenate([exact_logits.ravel(), exact_logits.sum(0)])  # ∂J/∂W, ∂J/∂b
    grads, _ = reinforce("tests.envs:tabular", kwargs, theta, batches=300, episodes=64, seed=1, weights=(weight,))
    mean = grads[weight].mean(0)
    se = grads[weight].std(0, ddof=1) / np.sqrt(len(grads[weight]))
    assert np.all(np.abs(mean - exact) <= 4 * se), (mean, exact, se)


def test_reward_to_go_has_lower_variance_than_total_return_on_the_same_batches():
    kwargs = {"n_states": 3, "n_actions": 2, "mdp_seed": 3}
    theta = np.concatenate([np.random.default_rng(0).normal(size=6), np.zeros(2)])
    _, variances = reinforce("tests.envs:tabular", kwargs, theta, batches=100, episodes=32, seed=2)
    assert variances["reward_to_go"] < variances["total_return"]


@pytest.mark.slow
@pytest.mark.parametrize("weight", ["total_return", "reward_to_go"])
def test_one_state_mdp_gradient_is_one_over_one_minus_theta_squared(weight):
    """π(a=0) = θ = sigmoid(l); dJ/dθ = 1/(1 − θ)², so dJ/dl = θ/(1 − θ)."""
    l0 = np.log(0.6 / 0.4)
    theta_prob = 0.6
    params = np.array([l0, 0.0, 0.0, 0.0])  # W = [[l0, 0]], b = [0, 0]
    grads, _ = reinforce("tests.envs:one_state", {}, params, batches=600, episodes=64, seed=4, weights=(weight,))
    d_theta = grads[weight][:, 0] / (theta_prob * (1 - theta_prob))  # ∂J/∂l0 → ∂J/∂θ
    mean, se = d_theta.mean(), d_theta.std(ddof=1) / np.sqrt(d_theta.size)
    assert abs(mean - 1 / (1 - theta_prob) ** 2) <= 4 * se
    assert se < 0.15  # the check has power: 1/(1−θ)² = 6.25
