"""The KL penalty to a reference policy: Schulman's k1, k2, k3 estimators and where they go.

The objective of KL-regularised fine-tuning is, averaged over prompts,

    J_β(θ) = E_{y~π(·|c)}[R(c, y)] − β KL(π(·|c) ‖ π_ref(·|c)),   KL = E_{y~π}[log π(y|c) − log π_ref(y|c)].

Per generated token, with ℓ_t = log π(y_t | c, y_<t) − log π_ref(y_t | c, y_<t) and y ~ π
(Schulman 2020, "Approximating KL Divergence", with r = π_ref/π = e^{−ℓ}):

    k1 = ℓ                  unbiased:  E[Σ_t k1_t] = KL
    k2 = ℓ²/2               biased (≥ 0); its bias is second order in the log-ratio
    k3 = (e^{−ℓ} − 1) + ℓ    unbiased (≥ 0):  E[e^{−ℓ_t} − 1 | y_<t] = Σ_a π_ref(a | …) − 1 = 0

A sequence's estimate is K = Σ_{t<|y|} k_t. Its gradient is another matter. Since Σ_y ∇π(y) = 0,

    ∇θ KL = E[(Σ_s ℓ_s) ∇log π(y)] = E[Σ_t (Σ_{s≥t} ℓ_s) ∇log π(y_t | c, y_<t)]

(the terms s < t vanish: ℓ_s is fixed given y_<t and E[∇log π(y_t | …) | y_<t] = 0). Placements:

    reward        R ← R − β K before the advantage: a sequence-level penalty that the estimator
                  treats like the reward (TRL RLOOTrainer with k1; Ahmadian et al. 2024)
    reward_to_go  token t's weight gets −β c_i Σ_{s≥t} k_s: a per-token KL reward with undiscounted
                  returns (OpenRLHF, REINFORCE++: --algo.kl.estimator, γ = 1)
    loss          β c_i Σ_t k(ℓ_t) is added to the loss and differentiated, the samples held fixed:
                  token weight −β c_i k'(ℓ_t), since ∇θ k(ℓ_t) = k'(ℓ_t) ∇θ log π(y_t | …)
                  (GRPO, Shao et al. 2024: TRL GRPOTrainer with k3; OpenRLHF --algo.kl.use_loss)

with c_i the estimator's aggregation weight of sequence i (estimators.py). What each gives in
expectation, against ∇KL (tests/seq/test_seq_kl.py checks each by exact enumeration):

    reward, k1          ∇KL exactly: E[K1 ∇log π(y)] is the formula above; with an unbiased estimator
                        (reinforce, rloo, remax) the estimate is unbiased for ∇J_β
    reward_to_go, k1    ∇KL exactly (it drops only zero-mean terms)
    reward, k2 or k3    biased: E[K ∇log π(y)] ≠ ∇KL although E[K3] = KL
    loss, k1            zero: E[Σ_t ∇log π(y_t | …)] = 0, the penalty does nothing on average
    loss, k2            E[Σ_t ℓ_t ∇log π(y_t | …)]: only the s = t terms of ∇KL — exact for one
                        step (L = 1), a partial gradient for sequences
    loss, k3            E[Σ_t (1 − e^{−ℓ_t}) ∇log π(y_t | …)] = E[Σ_t ∇θ KL(π_ref(·|c, y_<t) ‖ π(·|c, y_<t))]
                        with the prefixes held fixed: the gradient of the *other* direction per token;
                        equal to ∇KL(π_ref ‖ π) for one step (L = 1)

So only k1 in the reward (or as a reward-to-go) gives the exact gradient of J_β. Reference: Tang &
Munos 2025, "On a few pitfalls in KL divergence gradient estimation for RL", arXiv:2506.09477.

In the libraries (versions as in estimators.py): TRL GRPOTrainer with beta > 0 is (k3, loss), the
per-token k3 aggregated like the policy loss; TRL RLOOTrainer with beta > 0 (default 0.05) is (k1,
reward), summed over the sequence before the leave-one-out baseline; OpenRLHF without
--algo.kl.use_loss is (--algo.kl.estimator, reward_to_go), the default k1, and with it (estimator, loss),
k3 recommended — OpenRLHF also clamps each token's estimate to [−10, 10].
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np


class KLEstimator(NamedTuple):
    """One per-token estimator: its value k(ℓ) and its slope k'(ℓ), both of ℓ = log π − log π_ref."""

    value: Callable[[np.ndarray], np.ndarray]
    slope: Callable[[np.ndarray], np.ndarray]


KL_ESTIMATORS = {
    "k1": KLEstimator(lambda ell: ell, np.ones_like),
    "k2": KLEstimator(lambda ell: 0.5 * ell * ell, lambda ell: ell),
    "k3": KLEstimator(lambda ell: np.expm1(-ell) + ell, lambda ell: -np.expm1(-ell)),
}
PLACEMENTS = ("reward", "reward_to_go", "loss")
UNBIASED_VALUE = ("k1", "k3")  # E[K] = KL
EXACT_GRADIENT = (("k1", "reward"), ("k1", "reward_to_go"))  # E[placement's gradient] = ∇KL


class Penalty(NamedTuple):
    """β KL(π ‖ π_ref) in the objective: its weight, per-token estimator and placement."""

    beta: float = 0.0
    estimator: str = "k1"
    placement: str = "reward"


NO_PENALTY = Penalty()


def penalty_problem(penalty: Penalty) -> str | None:
    """What is wrong with a penalty, or None."""
    if penalty.estimator not in KL_ESTIMATORS:
        return f"kl estimator must be one of {', '.join(KL_ESTIMATORS)}, got {penalty.estimator!r}"
    if penalty.placement not in PLACEMENTS:
        return f"kl placement must be one of {', '.join(PLACEMENTS)}, got {penalty.placement!r}"
    if not penalty.beta >= 0:
        return f"beta must be ≥ 0, got {penalty.beta}"
    return None


def token_values(estimator: str, log_ratio, token_mask) -> np.ndarray:
    """k(ℓ_t) at every generated token, zero past |y| (…, L)."""
    return np.where(token_mask, KL_ESTIMATORS[estimator].value(log_ratio), 0)


def sequence_values(estimator: str, log_ratio, token_mask) -> np.ndarray:
    """K = Σ_{t<|y|} k(ℓ_t), one estimate of KL(π(·|c) ‖ π_ref(·|c)) per sequence (…,)."""
    return token_values(estimator, log_ratio, token_mask).sum(-1)


def to_go(values) -> np.ndarray:
    """Σ_{s≥t} v_s along the last axis (…, L): what token t's choice leads to."""
    return np.flip(np.cumsum(np.flip(values, -1), -1), -1)
