"""Returns, reward-to-go and GAE on the (T, N) grid against plain per-episode loops."""

import numpy as np
import pytest

from pgcli.rl import advantages as A
from pgcli.rl.rollout import Batch


def random_batch(rng, t=40, n=5):
    """A grid with terminations, truncations, batch cuts and reset gaps between episodes."""
    valid = np.ones((t, n), bool)
    term = rng.random((t, n)) < 0.08
    trunc = (rng.random((t, n)) < 0.05) & ~term
    term[1:] &= valid[:-1] & ~(term[:-1] | trunc[:-1])  # no end right after an end
    trunc[1:] &= ~(term[:-1] | trunc[:-1])
    valid[1:] = ~(term[:-1] | trunc[:-1])  # the step after an end is a reset step
    term &= valid
    trunc &= valid
    cut = np.zeros((t, n), bool)
    cut[-1] = valid[-1] & ~(term[-1] | trunc[-1])
    rewards = np.where(valid, rng.normal(size=(t, n)), 0.0)
    obs = rng.normal(size=(t, n, 2))
    return Batch(obs, np.zeros((t, n), int), rewards, valid, term, trunc, cut, obs, None, None)


def episodes(batch):
    """(env, [time indices]) for each episode or cut piece, by walking the grid."""
    out = []
    for i in range(batch.valid.shape[1]):
        current = []
        for t in range(batch.valid.shape[0]):
            if batch.valid[t, i]:
                current.append(t)
                if batch.ends[t, i]:
                    out.append((i, current))
                    current = []
    return out


@pytest.mark.parametrize("gamma", [1.0, 0.9])
def test_reward_to_go_and_total_return_match_per_episode_loops(gamma, rng):
    batch = random_batch(rng)
    boot = rng.normal(size=batch.rewards.shape)
    bootstrap = np.where(batch.terminated, 0.0, boot)
    g = A.discounted_returns(batch.rewards, batch.ends, bootstrap, gamma)
    totals = A.episode_totals(g, batch.valid, batch.ends)
    for i, steps in episodes(batch):
        last = steps[-1]
        future = 0.0 if batch.terminated[last, i] else boot[last, i]
        expected = []
        for t in reversed(steps):
            future = batch.rewards[t, i] + gamma * future
            expected.append(future)
        expected = expected[::-1]
        np.testing.assert_allclose(g[steps, i], expected)
        np.testing.assert_allclose(totals[steps, i], expected[0])


def test_gae_limits(rng):
    """λ = 1: Â = G − V (bootstrapped G); λ = 0: Â = δ."""
    batch = random_batch(rng)
    v, v_next = rng.normal(size=(2, *batch.rewards.shape))
    gamma = 0.95
    valid = batch.valid
    # with λ = 1 GAE telescopes to G − V when V(s_{t+1}) is V of the next row's state
    chained = v_next.copy()
    chained[:-1] = np.where(batch.ends[:-1], v_next[:-1], v[1:])
    one = A.gae(batch.rewards, v, chained, batch.terminated, batch.ends, gamma, 1.0)
    g = A.discounted_returns(batch.rewards, batch.ends, np.where(batch.terminated, 0.0, chained), gamma)
    np.testing.assert_allclose(one[valid], (g - v)[valid], atol=1e-10)
    zero = A.gae(batch.rewards, v, v_next, batch.terminated, batch.ends, gamma, 0.0)
    delta = batch.rewards + gamma * np.where(batch.terminated, 0.0, v_next) - v
    np.testing.assert_allclose(zero[valid], delta[valid])


def test_baselines_and_normalisation(rng):
    batch = random_batch(rng)
    algo = {"weight": "reward_to_go", "discount": 0.99, "gae_lambda": 0.95, "baseline": "mean"}
    adv, _ = A.weights(batch, algo)
    assert abs(adv[batch.valid].mean()) < 1e-12
    flat = A.normalise(adv[batch.valid])
    assert flat.mean() == pytest.approx(0, abs=1e-12) and flat.std() == pytest.approx(1)


def test_value_fit_reduces_loss(rng):
    sizes = [2, 16, 1]
    theta, state = A.value_init(sizes, rng)
    x = rng.normal(size=(256, 2))
    targets = np.sin(x[:, 0]) + x[:, 1] ** 2
    before = 0.5 * np.mean((A.value_predict(theta, sizes, "tanh", x) - targets) ** 2)
    _, _, after = A.fit_value(theta, state, sizes, "tanh", x, targets, 0.01, 300)
    assert after < 0.2 * before
