"""One batch's loss as per-token weights: estimator, KL placement and the PPO clip, put together.

Every loss here has the gradient Σ_{b,i,t} w_{b,i,t} ∇θ log π(y_{b,i,t} | c_b, y_{b,i,<t}) (policy.score_sum),
an ascent direction for J_β = E[R] − β KL(π ‖ π_ref). On a batch sampled from π_old = π_θ, with
the estimator's advantages A and aggregation weights c (estimators.py) and the penalty (kl.py):

    policy part   w_{i,t} = c_i A_i                      (R ← R − β K first when placement = reward)
                          − β c_i Σ_{s≥t} k_s             (placement = reward_to_go)
    KL loss       w_{i,t} = −β c_i k'(ℓ_t)                (placement = loss; ℓ at the current θ)

divided by B for the batch mean. PPO-clip (Schulman et al. 2017; TRL GRPOTrainer, token-level
ratios) reuses a batch for more steps: with ρ_t = π_θ(y_t | …)/π_old(y_t | …) each policy-part weight
becomes w ρ_t where the clipped surrogate min(ρ w, clip(ρ, 1 − ε, 1 + ε) w) follows ρ, and 0 where
it is clipped (there it is constant in θ); at θ = θ_old every ρ = 1 and nothing changes. The KL loss
is recomputed at the current θ and never clipped (as TRL does).
"""

from __future__ import annotations

import numpy as np

from pgcli.seq import kl
from pgcli.seq.estimators import ESTIMATORS, Group


def policy_weights(estimator: str, group: Group, token_mask, penalty: kl.Penalty, log_ratio=None, **options):
    """(w (…, B, G, L), c (…, B, G)): the policy part's per-token weights (with a KL penalty placed in
    the reward) and the estimator's aggregation weights, which a KL loss uses too. `log_ratio` (…, B, G, L)
    is log π_old − log π_ref per token (needed when β > 0)."""
    penalised = penalty.beta > 0 and penalty.placement in ("reward", "reward_to_go")
    values = kl.token_values(penalty.estimator, log_ratio, token_mask) if penalised else None
    if penalised and penalty.placement == "reward":
        group = group._replace(rewards=group.rewards - penalty.beta * values.sum(-1))
    loss = ESTIMATORS[estimator](group, **options)
    weights = np.where(token_mask, (loss.advantages * loss.scales)[..., None], 0.0)
    if penalised and penalty.placement == "reward_to_go":
        weights -= penalty.beta * loss.scales[..., None] * kl.to_go(values)
    return weights, loss.scales


def kl_loss_weights(penalty: kl.Penalty, scales, token_mask, log_ratio):
    """−β c_i k'(ℓ_t) at generated tokens (…, B, G, L) when the KL is a loss term, else None."""
    if not (penalty.beta > 0 and penalty.placement == "loss"):
        return None
    slope = kl.KL_ESTIMATORS[penalty.estimator].slope(log_ratio)
    return np.where(token_mask, -penalty.beta * scales[..., None] * slope, 0.0)


def clip_weights(weights, ratio, clip: float, clip_high: float | None = None):
    """(w ρ where the clipped surrogate follows ρ, else 0; the share of weighted tokens clipped).

    min(ρ A, clip(ρ, 1 − ε, 1 + ε_high) A) follows ρ when A ≥ 0 and ρ ≤ 1 + ε_high, or A < 0 and
    ρ ≥ 1 − ε (A has w's sign, since c > 0); ε_high = ε unless given (DAPO's clip-higher, Yu et al.
    2025, recommends 0.28; TRL's epsilon_high). The share counts tokens with w ≠ 0 only."""
    high = clip if clip_high is None else clip_high
    follows = np.where(weights >= 0, ratio <= 1 + high, ratio >= 1 - clip)
    active = weights != 0
    fraction = float((active & ~follows).sum() / max(active.sum(), 1))
    return np.where(follows, weights * ratio, 0.0), fraction
