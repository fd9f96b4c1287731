"""Hand-written derivatives of the MLP and the policies against central finite differences."""

import numpy as np
import pytest
from gymnasium import spaces

from pgcli.base import numerics
from pgcli.rl import mlp, policies
from tests.helpers import train_settings

POLICIES = [
    ("linear", "tanh", spaces.Box(-1, 1, (4,)), spaces.Discrete(3)),
    ("mlp", "tanh", spaces.Box(-1, 1, (4,)), spaces.Discrete(2)),
    ("mlp", "relu", spaces.Box(-1, 1, (3,)), spaces.Discrete(4)),
    ("linear", "tanh", spaces.Box(-1, 1, (3,)), spaces.Box(-2, 2, (2,))),
    ("mlp", "tanh", spaces.Box(-1, 1, (3,)), spaces.Box(-2, 2, (1,))),
    ("mlp", "relu", spaces.Box(-1, 1, (5,)), spaces.Box(-1, 1, (2,))),
    ("linear", "tanh", spaces.Discrete(5), spaces.Discrete(2)),
]


def make(case, rng):
    kind, activation, obs_space, action_space = case
    spec = train_settings(policy={"kind": kind, "hidden": [8, 6], "activation": activation}).policy
    policy = policies.make_policy(spec, obs_space, action_space)
    theta = policies.init_params(policy, rng, -0.3) + 0.3 * rng.standard_normal(
        mlp.n_params(policy.sizes) + (policy.sizes[-1] if policy.head == "gaussian" else 0)
    )
    obs = (
        np.array([obs_space.sample() for _ in range(7)]) if policy.n_obs else rng.uniform(-1, 1, (7, *obs_space.shape))
    )
    x = policies.encode(policy, obs)
    actions, _ = policies.act(policy, *policies.views(policy, theta), x, rng)
    return policy, theta, x, actions


def fd(fn, theta, h=1e-6):
    out = []
    for j in range(theta.size):
        e = np.zeros_like(theta)
        e[j] = h
        out.append((fn(theta + e) - fn(theta - e)) / (2 * h))
    return np.stack(out, axis=-1)


@pytest.mark.parametrize("case", POLICIES, ids=lambda c: f"{c[0]}-{c[1]}-{type(c[3]).__name__}")
def test_score_matches_finite_differences(case, rng):
    policy, theta, x, actions = make(case, rng)
    score, _ = policies.scores(policy, theta, x, actions)
    numeric = fd(lambda t: policies.log_prob(policy, t, x, actions), theta)
    np.testing.assert_allclose(score, numeric, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("case", POLICIES, ids=lambda c: f"{c[0]}-{c[1]}-{type(c[3]).__name__}")
def test_entropy_gradient_matches_finite_differences(case, rng):
    policy, theta, x, actions = make(case, rng)
    numeric = fd(lambda t: policies.scores(policy, t, x, actions)[1].mean(), theta)
    np.testing.assert_allclose(policies.entropy_grad(policy, theta, x), numeric, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_mlp_backward_is_sum_of_per_sample_rows_and_jvp_matches(activation, rng):
    sizes = [4, 7, 5, 3]
    theta = mlp.init(sizes, rng, out_gain=1.0) + 0.1 * rng.standard_normal(mlp.n_params(sizes))
    x = rng.standard_normal((9, 4))
    layers = mlp.layers(theta, sizes)
    out, cache = mlp.forward(layers, x, activation)
    delta = rng.standard_normal(out.shape)
    rows = mlp.per_sample(layers, cache, delta, activation)
    np.testing.assert_allclose(rows.sum(0), mlp.backward(layers, cache, delta, activation), atol=1e-12)
    numeric = fd(lambda t: (mlp.forward(mlp.layers(t, sizes), x, activation)[0] * delta).sum(1), theta)
    np.testing.assert_allclose(rows, numeric, rtol=1e-6, atol=1e-6)
    v = rng.standard_normal(theta.size)
    tangent = mlp.jvp(layers, cache, mlp.layers(v, sizes), activation)
    h = 1e-6
    plus = mlp.forward(mlp.layers(theta + h * v, sizes), x, activation)[0]
    minus = mlp.forward(mlp.layers(theta - h * v, sizes), x, activation)[0]
    np.testing.assert_allclose(tangent, (plus - minus) / (2 * h), rtol=1e-6, atol=1e-7)


def test_gaussian_actions_are_clipped_for_the_env_not_for_log_prob(rng):
    policy = policies.make_policy(
        train_settings(policy={"kind": "linear"}).policy,
        spaces.Box(-1, 1, (2,)),
        spaces.Box(-0.1, 0.1, (1,)),
    )
    theta = policies.init_params(policy, rng, 1.0)  # σ = e: most samples leave [-0.1, 0.1]
    x = rng.uniform(-1, 1, (1000, 2))
    actions, env_actions = policies.act(policy, *policies.views(policy, theta), x, rng)
    assert np.abs(actions).max() > 1
    assert np.all(env_actions <= policy.high) and np.all(env_actions >= policy.low)
    assert np.any(env_actions == policy.high) and np.any(env_actions == policy.low)
    log_p = policies.log_prob(policy, theta, x, actions)
    mean = x @ theta[:2].reshape(2, 1) + theta[2]
    expected = -0.5 * ((actions - mean) / np.e) ** 2 - 1.0 - 0.5 * np.log(2 * np.pi)
    np.testing.assert_allclose(log_p, expected[:, 0])


def test_categorical_sampling_frequencies_match_softmax(rng):
    policy = policies.make_policy(
        train_settings(policy={"kind": "linear"}).policy,
        spaces.Discrete(1),
        spaces.Discrete(3),
    )
    theta = np.array([0.5, -1.0, 0.2, 0.0, 0.0, 0.0])
    x = policies.encode(policy, np.zeros(200_000))
    actions, _ = policies.act(policy, *policies.views(policy, theta), x, rng)
    pi = numerics.softmax(theta[None, :3].copy())[0]
    freq = np.bincount(actions, minlength=3) / actions.size
    assert np.all(np.abs(freq - pi) <= 4 * np.sqrt(pi * (1 - pi) / actions.size))


@pytest.mark.parametrize("case", POLICIES, ids=lambda c: f"{c[0]}-{c[1]}-{type(c[3]).__name__}")
def test_weighted_segment_sums_equal_summed_per_sample_scores(case, rng):
    policy, theta, x, actions = make(case, rng)
    weights = rng.standard_normal(x.shape[0])
    starts = np.array([0, 2, 3])
    rows, _ = policies.scores(policy, theta, x, actions)
    sums, _ = policies.scores(policy, theta, x, actions, weights, starts)
    np.testing.assert_allclose(sums, np.add.reduceat(rows * weights[:, None], starts, axis=0), atol=1e-12)
