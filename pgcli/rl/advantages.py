"""Weights for the policy gradient ∇J ≈ (1/E) Σ_e Σ_{t∈e} ∇θ log π(a_t | s_t) · A_t.

On a (T, N) grid (see rollout.py), with γ the discount, λ the GAE parameter and V a value
function (zero when there is none):

    total_return   A_t = R(τ) = Σ_{t'} γ^{t'} r_{t'}        the whole episode's return (textbook)
    reward_to_go   A_t = G_t  = r_t + γ G_{t+1}              only rewards after the action
    gae            A_t = Σ_l (γλ)^l δ_{t+l},  δ_t = r_t + γ V(s_{t+1}) − V(s_t)

At a termination the future is zero. At a time-limit truncation or a batch cut the future is
unknown: it is bootstrapped with V(s_{t+1}) of the true final observation (zero without a
value function — the textbook REINFORCE treatment). Baselines: `mean` subtracts the batch mean
of the weights, `value` subtracts V(s_t). (Schulman et al. 2016, "High-Dimensional Continuous
Control Using Generalized Advantage Estimation".)
"""

from __future__ import annotations

import numpy as np

from pgcli.base.optim import adam_init, adam_step
from pgcli.rl import mlp
from pgcli.rl.settings import AlgoSettings


def discounted_returns(rewards, ends, bootstrap, gamma):
    """Reward-to-go G_t = r_t + γ (G_{t+1} if the episode continues, else bootstrap_t).

    rewards, ends, bootstrap: grids (T, N); returns G (T, N). Sutton & Barto (2018), eq. 3.9."""
    out = np.zeros_like(rewards)
    future = np.zeros(rewards.shape[1])
    for t in range(rewards.shape[0] - 1, -1, -1):
        future = rewards[t] + gamma * np.where(ends[t], bootstrap[t], future)
        out[t] = future
    return out


def episode_totals(returns, valid, ends):
    """Each step's episode return R(τ) = G at the segment's first step, broadcast over it.

    returns, valid, ends: grids (T, N); returns (T, N). The weight of Williams' (1992) REINFORCE."""
    out = np.zeros_like(returns)
    current = np.zeros(returns.shape[1])
    starting = np.ones(returns.shape[1], bool)
    for t in range(returns.shape[0]):
        current = np.where(starting & valid[t], returns[t], current)
        out[t] = current
        starting = np.where(valid[t], ends[t], starting)
    return out


def gae(rewards, values, next_values, terminated, ends, gamma, lam):
    """Â_t = δ_t + γλ Â_{t+1} within an episode; δ_t = r_t + γ V(s_{t+1})(1 − term_t) − V(s_t).

    All grids (T, N); returns Â (T, N). Schulman et al. (2016), eq. 16."""
    delta = rewards + gamma * np.where(terminated, 0.0, next_values) - values
    out = np.zeros_like(rewards)
    running = np.zeros(rewards.shape[1])
    for t in range(rewards.shape[0] - 1, -1, -1):
        running = delta[t] + gamma * lam * np.where(ends[t], 0.0, running)
        out[t] = running
    return out


def weights(batch, algo: AlgoSettings, values=None, next_values=None):
    """(A, value targets), grids (T, N), per the algorithm's settings (weight, discount,
    gae_lambda, baseline): A_t = R(τ) | G_t | Â_t^GAE, minus b_t = mean A or V(s_t). The targets
    are G_t (bootstrapped at truncations and cuts), or Â_t + V(s_t) with GAE. `values` and
    `next_values` are V(s_t), V(s_{t+1}) grids (T, N), or None without a value function.
    Williams (1992); Schulman et al. (2016)."""
    gamma = algo.discount
    has_value = values is not None
    zeros = np.zeros_like(batch.rewards)
    values = values if has_value else zeros
    next_values = next_values if has_value else zeros
    bootstrap = np.where(batch.terminated, 0.0, next_values)
    returns = discounted_returns(batch.rewards, batch.ends, bootstrap, gamma)
    if algo.weight == "gae":
        advantages = gae(
            batch.rewards,
            values,
            next_values,
            batch.terminated,
            batch.ends,
            gamma,
            algo.gae_lambda,
        )
        return advantages, advantages + values
    weight = episode_totals(returns, batch.valid, batch.ends) if algo.weight == "total_return" else returns
    if algo.baseline == "value":
        weight = weight - values
    elif algo.baseline == "mean":
        weight = weight - weight[batch.valid].mean()
    return np.where(batch.valid, weight, 0.0), returns


def normalise(advantages_flat: np.ndarray) -> np.ndarray:
    """(A − mean A) / std A over the batch (M,): a per-batch rescaling of the step size and a
    mean baseline (std 0: only centred). Schulman et al. (2016), §6.

    The arithmetic of ndarray.mean() and .std() (a pairwise sum divided by M; the mean of the
    squared deviations), without their per-call bookkeeping: PPO normalises every minibatch."""
    centred = advantages_flat - mean(advantages_flat)
    squares = centred * centred
    std = np.sqrt(np.add.reduce(squares) / squares.size)
    return centred / (std if std > 0 else 1.0)


def mean(values: np.ndarray) -> float:
    """Σ values / n over a 1-d array, bit for bit ndarray.mean() (the same pairwise sum and one
    division), at a fraction of its cost on the short arrays of minibatches."""
    return np.add.reduce(values) / values.size


# ---------------------------------------------------------------------------------------------
# the value function V(s): an MLP fitted by Adam on the squared error to its targets


def value_predict(theta, sizes, activation, x):
    """V(s) (M,) for encoded states x (M, n_in), the MLP with layer `sizes` and parameters θ."""
    out, _ = mlp.forward(mlp.layers(theta, sizes), x, activation)
    return out[:, 0]


def value_step(theta, opt_state, sizes, activation, x, targets, lr):
    """One Adam step on ½ mean (V(s) − target)² over the rows x; returns θ (updated in place),
    state, and the loss before the step."""
    layer_views = mlp.layers(theta, sizes)
    out, cache = mlp.forward(layer_views, x, activation)
    error = out[:, 0] - targets
    grad = mlp.backward(layer_views, cache, error[:, None] / x.shape[0], activation)
    update, opt_state = adam_step(grad, opt_state, lr)
    theta -= update
    return theta, opt_state, 0.5 * float(mean(error * error))


def fit_value(theta, opt_state, sizes, activation, x, targets, lr, steps):
    """`steps` full-batch Adam steps on ½ mean (V(s) − target)²; returns θ, state, final loss."""
    for _ in range(steps):
        theta, opt_state, _ = value_step(theta, opt_state, sizes, activation, x, targets, lr)
    error = value_predict(theta, sizes, activation, x) - targets
    return theta, opt_state, 0.5 * float(np.mean(error * error))


def value_init(sizes, rng):
    """(θ, Adam state) of a fresh value network: orthogonal weights, output gain 1."""
    theta = mlp.init(sizes, rng, out_gain=1.0)
    return theta, adam_init(theta.size)
