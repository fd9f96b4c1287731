"""Returns, reward-to-go and GAE on the (T, N) grid against plain per-episode loops and direct sums."""

import numpy as np
import pytest

from pgcli.rl import advantages, mlp
from pgcli.rl.rollout import Batch
from tests.helpers import train_settings


def algo_settings(**keys):
    """The typed AlgoSettings of the train kind's defaults with `keys` (weight, discount, ...) set."""
    return train_settings(algo=keys).algo


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


def layout_batch(rng):
    """T = 6, N = 4 by hand: copy 0 terminates at t = 2, resets at 3 and is cut at 5; copy 1 is
    truncated at t = 3, resets at 4 and is cut at 5 after one step; copy 2 terminates at t = 4 and
    resets at 5, so its last row is no transition; copy 3 starts with a reset step (its episode
    ended in the previous batch) and is cut at 5."""
    t, n = 6, 4
    valid = np.ones((t, n), bool)
    valid[3, 0] = valid[4, 1] = valid[5, 2] = valid[0, 3] = False
    term, trunc, cut = np.zeros((3, t, n), bool)
    term[2, 0] = term[4, 2] = True
    trunc[3, 1] = True
    cut[5, 0] = cut[5, 1] = cut[5, 3] = True
    rewards = np.where(valid, rng.normal(size=(t, n)), 0.0)
    obs = rng.normal(size=(t, n, 2))
    return Batch(obs, np.zeros((t, n), int), rewards, valid, term, trunc, cut, obs, None, None)


def batches(seed):
    """The hand layout and three random grids (all three kinds of end, reset gaps)."""
    rng = np.random.default_rng(seed)
    return [layout_batch(rng), *(random_batch(rng) for _ in range(3))]


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
    g = advantages.discounted_returns(batch.rewards, batch.ends, bootstrap, gamma)
    totals = advantages.episode_totals(g, batch.valid, batch.ends)
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
    one = advantages.gae(batch.rewards, v, chained, batch.terminated, batch.ends, gamma, 1.0)
    g = advantages.discounted_returns(batch.rewards, batch.ends, np.where(batch.terminated, 0.0, chained), gamma)
    np.testing.assert_allclose(one[valid], (g - v)[valid], atol=1e-10)
    zero = advantages.gae(batch.rewards, v, v_next, batch.terminated, batch.ends, gamma, 0.0)
    delta = batch.rewards + gamma * np.where(batch.terminated, 0.0, v_next) - v
    np.testing.assert_allclose(zero[valid], delta[valid])


def test_baselines_and_normalisation(rng):
    batch = random_batch(rng)
    algo = algo_settings(weight="reward_to_go", discount=0.99, gae_lambda=0.95, baseline="mean")
    adv, _ = advantages.weights(batch, algo)
    assert abs(adv[batch.valid].mean()) < 1e-12
    flat = advantages.normalise(adv[batch.valid])
    assert flat.mean() == pytest.approx(0, abs=1e-12) and flat.std() == pytest.approx(1)


def test_normalise_gives_zero_mean_unit_std_and_only_centres_a_constant(rng):
    for scale in (0.01, 0.5, 30.0):
        flat = advantages.normalise(3.0 + scale * rng.standard_normal(200))
        assert flat.mean() == pytest.approx(0, abs=1e-12) and flat.std() == pytest.approx(1, rel=1e-12)
    assert np.all(advantages.normalise(np.full(7, 2.5)) == 0.0)  # std 0: centred, not divided


def test_a_fresh_value_network_is_orthogonal_with_output_gain_one(rng):
    """Hidden weights W (3 × 5) with W Wᵀ = 2 I (gain √2), the output column of norm 1, zero
    biases; Adam starts from m = v = 0."""
    sizes = [3, 5, 1]
    theta, state = advantages.value_init(sizes, rng)
    (w1, b1), (w2, b2) = mlp.layers(theta, sizes)
    np.testing.assert_allclose(w1 @ w1.T, 2 * np.eye(3), atol=1e-12)
    assert np.linalg.norm(w2) == pytest.approx(1.0, rel=1e-12)
    assert not b1.any() and not b2.any() and not state.m.any() and not state.v.any() and state.t == 0


def value_loss_by_hand(theta, x, targets):
    """½ mean (V(s) − target)² with V(s) = relu(s W₁ + b₁) W₂ + b₂ written out."""
    (w1, b1), (w2, b2) = mlp.layers(theta, [2, 4, 1])
    predicted = (np.maximum(x @ w1 + b1, 0.0) @ w2 + b2)[:, 0]
    return 0.5 * np.mean((predicted - targets) ** 2), predicted


def test_value_step_is_one_adam_step_on_the_squared_error_gradient(rng):
    """The loss it reports is ½ mean (V − target)² before the step; Adam's first moment after one
    step is (1 − β₁) ∇, ∇ by central differences; V(s) is the relu network written out."""
    sizes, x, targets = [2, 4, 1], rng.normal(size=(64, 2)), rng.normal(size=64)
    theta, state = advantages.value_init(sizes, rng)
    theta += 0.3 * rng.standard_normal(theta.size)
    start = theta.copy()
    loss, predicted = value_loss_by_hand(start, x, targets)
    np.testing.assert_allclose(advantages.value_predict(start, sizes, "relu", x), predicted, atol=1e-12)
    h = 1e-6
    grad = np.array([(value_loss_by_hand(start + h * e, x, targets)[0] - value_loss_by_hand(start - h * e, x, targets)[0])
                     / (2 * h) for e in np.eye(theta.size)])  # fmt: skip
    theta, state, reported = advantages.value_step(theta, state, sizes, "relu", x, targets, 0.01)
    assert reported == pytest.approx(loss, rel=1e-12)
    np.testing.assert_allclose(state.m, 0.1 * grad, rtol=1e-5, atol=1e-9)
    assert state.t == 1 and not np.allclose(theta, start)
    theta, state, final = advantages.fit_value(theta, state, sizes, "relu", x, targets, 0.01, 5)
    assert final == pytest.approx(value_loss_by_hand(theta, x, targets)[0], rel=1e-12) and state.t == 6


def test_value_fit_reduces_loss(rng):
    sizes = [2, 16, 1]
    theta, state = advantages.value_init(sizes, rng)
    x = rng.normal(size=(256, 2))
    targets = np.sin(x[:, 0]) + x[:, 1] ** 2
    before = 0.5 * np.mean((advantages.value_predict(theta, sizes, "tanh", x) - targets) ** 2)
    _, _, after = advantages.fit_value(theta, state, sizes, "tanh", x, targets, 0.01, 300)
    assert after < 0.2 * before


# ---------------------------------------------------------------------------------------------
# independent answers: direct sums over each episode piece, no recursion


def direct_returns(batch, bootstrap, gamma):
    """G_t = Σ_{k=0}^{L−t} γ^k r_{t+k} + γ^{L−t+1} b_L over the piece's remaining steps t..L, with
    b_L the bootstrap value at its end (0 after a termination); NaN off the valid steps."""
    out = np.full(batch.rewards.shape, np.nan)
    for i, steps in episodes(batch):
        end = steps[-1]
        tail = 0.0 if batch.terminated[end, i] else bootstrap[end, i]
        for j, t in enumerate(steps):
            rest = steps[j:]
            out[t, i] = sum(gamma**k * batch.rewards[u, i] for k, u in enumerate(rest)) + gamma ** len(rest) * tail
    return out


def direct_gae(batch, v, v_next, gamma, lam):
    """Â_t = Σ_{l=0}^{L−t} (γλ)^l δ_{t+l}, δ_u = r_u + γ V(s_{u+1}) (1 − term_u) − V(s_u), summed
    term by term over the piece; NaN off the valid steps."""
    delta = batch.rewards + gamma * np.where(batch.terminated, 0.0, v_next) - v
    out = np.full(batch.rewards.shape, np.nan)
    for i, steps in episodes(batch):
        for j, t in enumerate(steps):
            out[t, i] = sum((gamma * lam) ** l * delta[u, i] for l, u in enumerate(steps[j:]))
    return out


@pytest.mark.parametrize("gamma", [1.0, 0.9, 0.5])
def test_reward_to_go_and_total_return_equal_direct_discounted_sums(gamma):
    for batch in batches(3):
        boot = np.random.default_rng(4).normal(size=batch.rewards.shape)
        bootstrap = np.where(batch.terminated, 0.0, boot)
        expected = direct_returns(batch, boot, gamma)
        g = advantages.discounted_returns(batch.rewards, batch.ends, bootstrap, gamma)
        np.testing.assert_allclose(g[batch.valid], expected[batch.valid], rtol=1e-12, atol=1e-12)
        totals = advantages.episode_totals(g, batch.valid, batch.ends)
        for i, steps in episodes(batch):
            np.testing.assert_allclose(totals[steps, i], expected[steps[0], i], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("lam", [0.2, 0.5, 0.9, 0.97])
@pytest.mark.parametrize("gamma", [1.0, 0.95, 0.6])
def test_gae_equals_the_direct_sum_of_discounted_td_errors(gamma, lam):
    """0 < λ < 1 on terminated, truncated and batch-cut pieces, with V(s_{t+1}) unrelated to V(s_t)."""
    for batch in batches(5):
        v, v_next = np.random.default_rng(6).normal(size=(2, *batch.rewards.shape))
        got = advantages.gae(batch.rewards, v, v_next, batch.terminated, batch.ends, gamma, lam)
        expected = direct_gae(batch, v, v_next, gamma, lam)
        np.testing.assert_allclose(got[batch.valid], expected[batch.valid], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("lam", [0.3, 0.8])
def test_gae_is_the_lambda_average_of_k_step_advantages(lam):
    """Schulman et al. (2016), eq. 16: Â^GAE = (1 − λ) Σ_{k≥1} λ^{k−1} Â^{(k)}, with
    Â^{(k)}_t = Σ_{l<k} γ^l r_{t+l} + γ^k V(s_{t+k}) − V(s_t); on a piece of m remaining steps every
    Â^{(k)} with k ≥ m is Â^{(m)} (the episode is over or bootstrapped), so its weight is λ^{m−1}."""
    gamma = 0.9
    for batch in batches(7):
        v, boot = np.random.default_rng(8).normal(size=(2, *batch.rewards.shape))
        chained = boot.copy()  # V(s_{t+1}) is the next row's V within a piece
        chained[:-1] = np.where(batch.ends[:-1], boot[:-1], v[1:])
        got = advantages.gae(batch.rewards, v, chained, batch.terminated, batch.ends, gamma, lam)
        for i, steps in episodes(batch):
            end = steps[-1]
            tail = 0.0 if batch.terminated[end, i] else boot[end, i]
            values = [v[u, i] for u in steps] + [tail]  # V(s) along the piece, then at its end
            for j, t in enumerate(steps):
                m = len(steps) - j
                k_step = [
                    sum(gamma**l * batch.rewards[steps[j + l], i] for l in range(k))
                    + gamma**k * values[j + k]
                    - v[t, i]
                    for k in range(1, m + 1)
                ]
                weights = [(1 - lam) * lam ** (k - 1) for k in range(1, m)] + [lam ** (m - 1)]
                assert got[t, i] == pytest.approx(np.dot(weights, k_step), rel=1e-10, abs=1e-12)


@pytest.mark.parametrize(
    ("weight", "baseline"),
    [("total_return", "none"), ("total_return", "mean"), ("reward_to_go", "value"), ("reward_to_go", "mean")],
)
def test_weights_are_the_direct_returns_minus_the_baseline_and_zero_off_the_grid(weight, baseline):
    """weights(): A_t = R(τ) or G_t (bootstrapped with V(s_{t+1}) at truncations and cuts, 0 at
    terminations) minus b_t = V(s_t) or the batch mean; the value targets are G_t."""
    gamma = 0.8
    algo = algo_settings(weight=weight, discount=gamma, gae_lambda=0.5, baseline=baseline)
    for batch in batches(9):
        v, v_next = np.random.default_rng(10).normal(size=(2, *batch.rewards.shape))
        has_value = baseline == "value"
        got, targets = advantages.weights(batch, algo, v if has_value else None, v_next if has_value else None)
        g = direct_returns(batch, v_next if has_value else np.zeros_like(v), gamma)
        expected = g.copy()
        if weight == "total_return":
            for i, steps in episodes(batch):
                expected[steps, i] = g[steps[0], i]
        if baseline == "value":
            expected -= v
        elif baseline == "mean":
            expected -= expected[batch.valid].mean()
        valid = batch.valid
        assert got.shape == targets.shape == valid.shape and got.dtype == targets.dtype == np.float64
        np.testing.assert_allclose(got[valid], expected[valid], rtol=1e-12, atol=1e-12)
        assert np.all(got[~valid] == 0.0)
        np.testing.assert_allclose(targets[valid], g[valid], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("has_value", [True, False])
def test_gae_weights_and_their_value_targets(has_value):
    """weight: gae gives Â_t (direct sum) and the targets Â_t + V(s_t), whatever `baseline` says;
    without a value function V ≡ 0 and Â_t = Σ_l (γλ)^l r_{t+l}."""
    algo = algo_settings(weight="gae", discount=0.97, gae_lambda=0.7, baseline="value")
    for batch in batches(11):
        v, v_next = np.random.default_rng(12).normal(size=(2, *batch.rewards.shape)) * has_value
        got, targets = advantages.weights(batch, algo, v if has_value else None, v_next if has_value else None)
        expected = direct_gae(batch, v, v_next, 0.97, 0.7)
        valid = batch.valid
        assert got.dtype == targets.dtype == np.float64
        np.testing.assert_allclose(got[valid], expected[valid], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(targets[valid], (expected + v)[valid], rtol=1e-12, atol=1e-12)
