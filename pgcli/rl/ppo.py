"""PPO-clip: several epochs of minibatch ascent on the clipped surrogate of one batch.

With the likelihood ratio r_t(θ) = π_θ(a_t|s_t) / π_old(a_t|s_t) — the log-derivative trick
applied to samples drawn from π_old — and advantages A_t,

    L(θ) = (1/M) Σ_t min(r_t A_t, clip(r_t, 1 − ε, 1 + ε) A_t)

    ∇θ L = (1/M) Σ_t 1[r_t A_t ≤ clip(r_t, 1 − ε, 1 + ε) A_t] · A_t r_t ∇θ log π_θ(a_t|s_t)

At θ = θ_old every r_t = 1 and ∇L is the REINFORCE gradient (1/M) Σ_t A_t ∇log π. Past the clip
range, on the side where the ratio would raise L further (A > 0, r > 1 + ε; A < 0, r < 1 − ε),
the term is constant and contributes no gradient. Each epoch shuffles the batch into minibatches;
the value function takes one Adam step per minibatch on the same rows; advantages may be
normalised per minibatch; with a KL target the epochs stop once KL(π_old ‖ π_θ) exceeds it.
(Schulman et al. 2017, "Proximal Policy Optimization Algorithms".)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from pgcli.base.optim import AdamState
from pgcli.rl import policies
from pgcli.rl.advantages import mean, normalise, value_step
from pgcli.rl.natural import kl_divergence
from pgcli.rl.settings import AlgoSettings


class ValueFit(NamedTuple):
    """The value network's state and the targets it is fitted to on the batch rows."""

    theta: np.ndarray
    opt: AdamState
    sizes: list[int]
    activation: str
    lr: float
    targets: np.ndarray  # (M,)


class Batch(NamedTuple):
    """The rows PPO steps on: inputs x (M, n_in), actions, advantages (M,), and the states the KL
    of its early stop is measured on."""

    x: np.ndarray
    actions: np.ndarray
    advantages: np.ndarray
    states: np.ndarray


class Optimiser(NamedTuple):
    """The policy's first-order step, (grad, state, lr) -> (step, state) (base.optim), and its lr."""

    step: Callable
    lr: float


class Update(NamedTuple):
    """What one batch of PPO returns."""

    theta: np.ndarray
    opt: AdamState  # the policy optimiser's state (unused by sgd)
    value: ValueFit | None
    clip_fraction: float  # share of ratios outside [1 − ε, 1 + ε], over every minibatch step
    epochs: int  # epochs run (fewer than asked when the KL target stopped them)


def clipped_surrogate(policy: policies.Policy, theta, x, actions, old_log_prob, advantages, clip: float):
    """(L(θ), ∇θ L (d,), fraction of ratios outside the clip range) on rows x (M, n_in)."""

    terms = {}

    def weigh(log_prob):
        ratio = np.exp(log_prob - old_log_prob)
        unclipped, clipped = ratio * advantages, np.clip(ratio, 1.0 - clip, 1.0 + clip) * advantages
        terms.update(ratio=ratio, unclipped=unclipped, clipped=clipped)  # read again below, not recomputed
        # where the min is the unclipped term the gradient flows through it; else the term is constant
        return np.where(unclipped <= clipped, unclipped, 0.0) / x.shape[0]

    _, grad = policies.log_prob_and_grad(policy, theta, x, actions, weigh)
    surrogate = float(mean(np.minimum(terms["unclipped"], terms["clipped"])))
    return surrogate, grad, np.count_nonzero(np.abs(terms["ratio"] - 1.0) > clip) / x.shape[0]


def update(policy, theta, opt, batch: Batch, algo: AlgoSettings, optimiser: Optimiser, rng, value=None):
    """One batch of PPO: `algo` gives clip, epochs, minibatches, target_kl, normalize_advantages,
    entropy_coef; `optimiser` steps the policy (ascent) from its state `opt`; `rng` shuffles the
    rows into minibatches; `value`, when given, steps the value network on the same minibatches.
    Returns an :class:`Update`."""
    x, actions, advantages = batch.x, batch.actions, batch.advantages
    old_theta = theta.copy()
    old_log_prob = policies.log_prob(policy, theta, x, actions)
    n_minibatches = min(algo.minibatches, x.shape[0])
    fractions, epochs = [], 0
    for _ in range(algo.epochs):
        for rows in np.array_split(rng.permutation(x.shape[0]), n_minibatches):
            minibatch_advantages = normalise(advantages[rows]) if algo.normalize_advantages else advantages[rows]
            _, grad, fraction = clipped_surrogate(
                policy, theta, x[rows], actions[rows], old_log_prob[rows], minibatch_advantages, algo.clip
            )
            if algo.entropy_coef:
                grad = grad + algo.entropy_coef * policies.entropy_grad(policy, theta, x[rows])
            step, opt = optimiser.step(grad, opt, optimiser.lr)
            theta = theta + step
            fractions.append(fraction)
            if value is not None:
                value_theta, value_opt, _ = value_step(
                    value.theta, value.opt, value.sizes, value.activation, x[rows], value.targets[rows], value.lr
                )
                value = value._replace(theta=value_theta, opt=value_opt)
        epochs += 1
        if not np.all(np.isfinite(theta)):
            break
        if algo.target_kl is not None and kl_divergence(policy, old_theta, theta, batch.states) > algo.target_kl:
            break
    return Update(theta, opt, value, float(np.mean(fractions)), epochs)
