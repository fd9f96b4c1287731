"""Policies π(a | s; θ) in NumPy: a linear map or an MLP, with a categorical or Gaussian head.

    categorical:  π(a | s) = softmax(out(s))_a,           ∂ log π / ∂out = onehot(a) − π
    gaussian:     a ~ N(μ(s), diag(σ²)), σ = exp(log_std) (state-independent, learned)
                  ∂ log π / ∂μ = (a − μ)/σ²,   ∂ log π / ∂log σ = (a − μ)²/σ² − 1

θ is one flat vector: the network's parameters, then log_std for a Gaussian head. Gaussian
actions are clipped to the action bounds for the environment; log-probabilities are those of
the unclipped sample (the policy's own action). Discrete observations are one-hot encoded, so a
linear policy on a Discrete-observation env is a tabular softmax policy.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from gymnasium import spaces

from pgcli.base.numerics import log_softmax, softmax
from pgcli.rl import mlp
from pgcli.rl.settings import PolicySettings


class Policy(NamedTuple):
    """A policy's structure (θ holds its numbers): network sizes, activation, head, encodings."""

    sizes: list[int]  # network sizes, input first
    activation: str
    head: str  # categorical | gaussian
    n_obs: int | None  # Discrete observations: one-hot size; None for Box
    low: np.ndarray | None  # Gaussian: action bounds for clipping
    high: np.ndarray | None

    @property
    def n_net(self) -> int:
        return mlp.n_params(self.sizes)


class SpaceError(ValueError):
    """The environment's spaces are not supported; the message says what is."""


def obs_size(space) -> tuple[int, int | None]:
    """(n_in, one-hot size or None) of an observation space: Discrete(n) is one-hot, Box flat."""
    if isinstance(space, spaces.Discrete):
        return int(space.n), int(space.n)
    if isinstance(space, spaces.Box):
        return int(np.prod(space.shape)), None
    raise SpaceError(f"observation space {space} is not supported (Box or Discrete)")


def make_policy(settings: PolicySettings, observation_space, action_space) -> Policy:
    """Policy structure from its settings (network kind, hidden sizes, activation) and the env's
    single spaces."""
    n_in, n_obs = obs_size(observation_space)
    hidden = list(settings.hidden) if settings.kind == "mlp" else []
    if isinstance(action_space, spaces.Discrete):
        return Policy(
            [n_in, *hidden, int(action_space.n)],
            settings.activation,
            "categorical",
            n_obs,
            None,
            None,
        )
    if isinstance(action_space, spaces.Box) and len(action_space.shape) == 1:
        k = action_space.shape[0]
        low, high = action_space.low.astype(float), action_space.high.astype(float)
        return Policy([n_in, *hidden, k], settings.activation, "gaussian", n_obs, low, high)
    raise SpaceError(f"action space {action_space} is not supported (Discrete, or a 1-D Box)")


def init_params(policy: Policy, rng: np.random.Generator, init_log_std: float) -> np.ndarray:
    """θ₀ (d,): orthogonal network weights (output gain 0.01, so π starts near uniform or μ ≈ 0),
    then log σ = init_log_std for a Gaussian head."""
    theta = mlp.init(policy.sizes, rng)
    if policy.head == "gaussian":
        theta = np.concatenate([theta, np.full(policy.sizes[-1], init_log_std)])
    return theta


def encode(policy: Policy, obs: np.ndarray) -> np.ndarray:
    """Observations (T, …) as rows (T, n_in) of floats; Discrete ones one-hot."""
    if policy.n_obs is not None:
        return np.eye(policy.n_obs)[np.asarray(obs, dtype=int).reshape(-1)]
    obs = np.asarray(obs)
    return obs if obs.ndim == 2 else obs.reshape(obs.shape[0], -1)  # float32 stays: @ upcasts exactly


def views(policy: Policy, theta: np.ndarray):
    """(network layer views, log_std or None): views into θ, no copies."""
    net = mlp.layers(theta[: policy.n_net], policy.sizes)
    return net, (theta[policy.n_net :] if policy.head == "gaussian" else None)


def act(policy: Policy, net, log_std, x: np.ndarray, rng: np.random.Generator, deterministic=False, noise=None):
    """Sample actions for encoded observations x (N, n_in): (policy actions, env actions).

    `noise` may carry pre-drawn standard Gumbel (categorical) or normal (gaussian) noise of the
    output's shape, so a rollout can draw it in blocks rather than once per step."""
    out, _ = mlp.forward(net, x, policy.activation)
    if not deterministic and noise is None:
        noise = draw_noise(policy, rng, out.shape)
    if policy.head == "categorical":
        # Gumbel-max: argmax(logits + Gumbel noise) ~ softmax(logits); the logits are this call's own
        actions = (out if deterministic else np.add(out, noise, out=out)).argmax(1)
        return actions, actions
    actions = out if deterministic else out + np.exp(log_std) * noise
    return actions, np.clip(actions, policy.low, policy.high)


def draw_noise(policy: Policy, rng: np.random.Generator, shape) -> np.ndarray:
    """The noise `act` turns into actions: standard Gumbel or standard normal."""
    return rng.gumbel(size=shape) if policy.head == "categorical" else rng.standard_normal(shape)


def gaussian_log_prob(diff: np.ndarray, log_std: np.ndarray) -> np.ndarray:
    """Σ_j log N(a_j; μ_j, σ_j²) for diff = a − μ (T, k)."""
    z = diff / np.exp(log_std)
    return (-0.5 * z * z - log_std - 0.5 * np.log(2 * np.pi)).sum(1)


def log_prob(policy: Policy, theta: np.ndarray, x: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """log π(a_t | s_t; θ) for encoded states x (T, n_in) and actions (T,) or (T, k): shape (T,)."""
    net, log_std = views(policy, theta)
    out, _ = mlp.forward(net, x, policy.activation)
    if policy.head == "categorical":
        return log_softmax(out)[np.arange(x.shape[0]), actions.astype(int)]
    return gaussian_log_prob(actions - out, log_std)


def log_prob_and_grad(policy: Policy, theta: np.ndarray, x: np.ndarray, actions: np.ndarray, weigh):
    """log π(a_t | s_t) (T,) and Σ_t w_t ∇θ log π(a_t | s_t) (d,), w = weigh(log π) (T,).

    One forward and one backward pass, for objectives whose weights depend on log π itself
    (PPO's likelihood ratio)."""
    net, log_std = views(policy, theta)
    out, cache = mlp.forward(net, x, policy.activation)
    if policy.head == "categorical":
        log_pi = log_softmax(out)
        rows, taken = np.arange(x.shape[0]), actions.astype(int)
        log_probs = log_pi[rows, taken]
        w = weigh(log_probs)
        delta = -np.exp(log_pi) * w[:, None]  # w (onehot(a) − π)
        delta[rows, taken] += w
        return log_probs, mlp.backward(net, cache, delta, policy.activation)
    diff, inv_var = actions - out, np.exp(-2 * log_std)
    log_probs = gaussian_log_prob(diff, log_std)
    w = weigh(log_probs)[:, None]
    net_grad = mlp.backward(net, cache, diff * inv_var * w, policy.activation)
    return log_probs, np.concatenate([net_grad, ((diff * diff * inv_var - 1.0) * w).sum(0)])


def scores(policy: Policy, theta: np.ndarray, x: np.ndarray, actions: np.ndarray, weights=None, starts=None):
    """Per-sample scores ∇θ log π(a_t | s_t), shape (T, d), and the entropies H(π(·|s_t)) (T,)
    (Williams 1992: the score-function terms of the policy gradient).

    With `weights` w_t each score is multiplied by w_t; with `starts` the rows are summed over
    contiguous segments: (E, d) rows Σ_{t∈e} w_t ∇θ log π(a_t | s_t), one per episode."""
    net, log_std = views(policy, theta)
    out, cache = mlp.forward(net, x, policy.activation)
    w = np.ones(x.shape[0]) if weights is None else weights
    if policy.head == "categorical":
        pi = softmax(out)
        delta = -pi
        delta[np.arange(x.shape[0]), actions.astype(int)] += 1.0
        entropy = -(pi * np.log(np.maximum(pi, 1e-300))).sum(1)
        return mlp.per_sample(net, cache, delta * w[:, None], policy.activation, starts), entropy
    inv_var = np.exp(-2 * log_std)
    diff = actions - out
    net_scores = mlp.per_sample(net, cache, diff * inv_var * w[:, None], policy.activation, starts)
    std_scores = (diff * diff * inv_var - 1.0) * w[:, None]
    if starts is not None:
        std_scores = np.add.reduceat(std_scores, starts, axis=0)
    entropy = np.full(x.shape[0], (log_std + 0.5 * np.log(2 * np.pi * np.e)).sum())
    return np.concatenate([net_scores, std_scores], axis=1), entropy


def entropy_grad(policy: Policy, theta: np.ndarray, x: np.ndarray) -> np.ndarray:
    """∇θ of the mean entropy (1/T) Σ_t H(π(·|s_t)), shape (d,).

    categorical: ∂H/∂out_j = −π_j (log π_j + H);  gaussian: ∂H/∂log σ_j = 1.
    """
    net, log_std = views(policy, theta)
    if policy.head == "gaussian":
        return np.concatenate([np.zeros(policy.n_net), np.ones_like(log_std)])
    out, cache = mlp.forward(net, x, policy.activation)
    pi = softmax(out)
    log_pi = np.log(np.maximum(pi, 1e-300))
    entropy = -(pi * log_pi).sum(1, keepdims=True)
    delta = -pi * (log_pi + entropy) / x.shape[0]
    return mlp.backward(net, cache, delta, policy.activation)
