"""TRPO: the natural-gradient step, checked by a backtracking line search (Schulman et al. 2015).

The natural step s (natural.py) is scaled so that ½ sᵀ F s = δ, a second-order estimate of the
KL divergence. TRPO measures instead of trusting the estimate: it tries θ + βᵏ s for
k = 0, 1, …, K (β = ½) and accepts the first candidate that

    improves the importance-sampled surrogate   L(θ') − L(θ) > 0,
        L(θ') = (1/M) Σ_t π_θ'(a_t|s_t) / π_θ(a_t|s_t) · A_t       (L(θ) = mean A_t)
    and keeps the measured KL within the region  mean_s KL(π_θ(·|s) ‖ π_θ'(·|s)) ≤ δ.

When no candidate passes, θ stays where it is.
"""

from __future__ import annotations

import numpy as np

from pgcli.rl import policies
from pgcli.rl.natural import kl_divergence

SHRINK = 0.5  # β: each backtrack halves the step


def surrogate(policy: policies.Policy, theta, x, actions, old_log_prob, advantages) -> float:
    """L(θ) = mean_t exp(log π_θ(a_t|s_t) − log π_old(a_t|s_t)) A_t."""
    return float(np.mean(np.exp(policies.log_prob(policy, theta, x, actions) - old_log_prob) * advantages))


def line_search(policy, theta, step, x, actions, advantages, states, max_kl: float, backtracks: int):
    """(accepted step, k): the first βᵏ s, k ≤ `backtracks`, that improves the surrogate on the
    rows x with KL ≤ `max_kl` on `states`; (0, −1) when none does."""
    old_log_prob = policies.log_prob(policy, theta, x, actions)
    base = float(np.mean(advantages))
    for k in range(backtracks + 1):
        candidate = SHRINK**k * step
        new_theta = theta + candidate
        if not np.all(np.isfinite(new_theta)):
            continue
        gain = surrogate(policy, new_theta, x, actions, old_log_prob, advantages) - base
        if gain > 0 and kl_divergence(policy, theta, new_theta, states) <= max_kl:
            return candidate, k
    return np.zeros_like(step), -1
