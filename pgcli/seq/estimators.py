"""The policy-gradient estimators of LLM fine-tuning, for groups of G completions per prompt.

A batch holds B groups; group b is a prompt c_b and G completions y_{b,1..G} ~ π(·|c_b) with rewards
r_{b,i} and |y_{b,i}| generated tokens. Every estimator here is the gradient of a loss

    −Σ_i c_i A_i Σ_{t<|y_i|} log π(y_{i,t} | c, y_{i,<t})     (A and c held fixed: stop-gradient)

so the group's estimate of ∇θ E[R] is g_b = Σ_i c_i A_i ∇θ log π(y_i | c) and the batch's is the
mean over its B groups. An estimator returns :class:`PolicyLoss` — the advantages A (…, B, G) and
the aggregation weights c > 0 (…, B, G) — as arrays with any leading batch axes. Advantages:

    raw               A_i = r_i
    batch mean        A_i = r_i − mean of all B·G rewards of the batch (itself included)
    leave-one-out     A_i = r_i − (1/(G−1)) Σ_{j≠i} r_j
    group mean        A_i = r_i − r̄,  r̄ = (1/G) Σ_j r_j
    group normalised  A_i = (r_i − r̄) / (std(r) + ε),  std with ddof = 1, ε = 10⁻⁴ (TRL)
    greedy            A_i = r_i − R(c, ŷ),  ŷ the greedy completion (argmax at every step)

Aggregations (how per-token losses are averaged):

    sequence sum      c_i = 1/G              sum over tokens, mean over sequences
    sequence mean     c_i = 1/(G |y_i|)      token mean per sequence, then mean over sequences
    constant          c_i = 1/(G L)          a fixed normaliser, L = max_len
    group tokens      c_i = 1/Σ_j |y_j|      one token mean over the whole group

What each estimator gives in expectation, ∇J_c = ∇θ E_{y~π(·|c)}[R(c, y)] (tests/seq/test_seq_estimators.py
checks each claim, the biased ones against an exact expectation over every G-tuple):

    reinforce        raw × sequence sum            unbiased
    reinforce_mean   batch mean × sequence sum     (1 − 1/(BG)) ∇J: biased in scale only
    rloo             leave-one-out × sequence sum  unbiased (the baseline is independent of y_i)
    grpo             group normalised × seq. mean  biased in direction (std and 1/|y_i| couple to y_i)
    dr_grpo          group mean × constant         (G − 1)/(G L) ∇J: biased in scale only
    dapo             group normalised × group tok. biased in direction
    remax            greedy × sequence sum         unbiased (ŷ depends on θ and c only)

A baseline b independent of y_i leaves E[(r_i − b) ∇log π(y_i)] = ∇J_c because E[∇log π(y_i)] = 0;
the batch and group means include r_i itself, which scales the expectation by (1 − 1/n) with n the
number of rewards averaged. Dividing by a statistic of the group (its std, its token count) or by
the sequence's own length makes the weight depend on y_i and biases the direction.

The libraries' options (read from TRL f2cd577 2026-07-24 trl/trainer/grpo_trainer.py and
rloo_trainer.py, OpenRLHF 3c3be62 2026-08-13 experience_maker.py and models/loss.py, nanochat
scripts/chat_rl.py 030de3a); "≈" marks a difference in aggregation or normalisation:

    reinforce        TRL: none. OpenRLHF: none (its `reinforce` is REINFORCE++, below)
    reinforce_mean   ≈ OpenRLHF `--algo.advantage.estimator reinforce --algo.advantage.no_std_norm` (batch mean
                     over tokens, token mean over the batch); with the std too it is REINFORCE++ (Hu 2025)
    rloo             TRL RLOOTrainer (normalize_advantages=False: sequence log-prob, mean over sequences);
                     ≈ OpenRLHF `rloo` (token mean over the batch)
    grpo             TRL GRPOTrainer loss_type="grpo", scale_rewards="group"; ≈ OpenRLHF `group_norm` (its
                     std has ε = 1e-9 and its loss is a token mean over the batch)
    dr_grpo          TRL loss_type="dr_grpo" (normaliser B·max_completion_length) with scale_rewards="none";
                     ≈ OpenRLHF `dr_grpo` (token mean over the batch)
    dapo             TRL loss_type="dapo" (the default; tokens of the accumulated batch) or "bnpo" (local batch),
                     scale_rewards="group" — identical with one group per batch; dapo(scale=False) ≈ nanochat
                     (r − r̄, token mean over a device batch)
    remax            neither library; the paper's own code
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Group(NamedTuple):
    """The numbers an estimator sees: rewards r (…, B, G), generated tokens |y| (…, B, G), the
    maximum length L, and for remax the greedy completions' rewards R(c_b, ŷ_b) (…, B)."""

    rewards: np.ndarray
    n_tokens: np.ndarray
    max_len: int
    greedy_rewards: np.ndarray | None = None


class PolicyLoss(NamedTuple):
    """Advantages A (…, B, G) and aggregation weights c (…, B, G): g_b = Σ_i c_i A_i ∇log π(y_i | c)."""

    advantages: np.ndarray
    scales: np.ndarray


STD_EPS = 1e-4  # added to the group's std before dividing (TRL's GRPOTrainer)


# ---------------------------------------------------------------------------------------------
# advantages and aggregations


def batch_mean_advantages(rewards):
    """r_i − (1/(BG)) Σ r over the batch axes (B, G)."""
    return rewards - rewards.mean(axis=(-2, -1), keepdims=True)


def leave_one_out_advantages(rewards):
    """r_i − (Σ_j r_j − r_i)/(G − 1)."""
    g = rewards.shape[-1]
    return rewards - (rewards.sum(-1, keepdims=True) - rewards) / (g - 1)


def group_mean_advantages(rewards):
    """r_i − r̄."""
    return rewards - rewards.mean(-1, keepdims=True)


def group_normalised_advantages(rewards, eps: float = STD_EPS):
    """(r_i − r̄)/(std(r) + ε), std with ddof = 1 (0 when every reward is equal)."""
    return group_mean_advantages(rewards) / (rewards.std(-1, ddof=1, keepdims=True) + eps)


def sequence_sum(group: Group):
    """c_i = 1/G."""
    return np.full(group.rewards.shape, 1.0 / group.rewards.shape[-1])


def sequence_mean(group: Group):
    """c_i = 1/(G |y_i|)."""
    return 1.0 / (group.rewards.shape[-1] * group.n_tokens)


def constant(group: Group):
    """c_i = 1/(G L)."""
    return np.full(group.rewards.shape, 1.0 / (group.rewards.shape[-1] * group.max_len))


def group_tokens(group: Group):
    """c_i = 1/Σ_j |y_j|."""
    return np.broadcast_to(1.0 / group.n_tokens.sum(-1, keepdims=True), group.rewards.shape)


# ---------------------------------------------------------------------------------------------
# the estimators


def reinforce(group: Group) -> PolicyLoss:
    """(1/G) Σ_i r_i ∇log π(y_i | c): REINFORCE without a baseline, unbiased.
    Reference: Williams 1992."""
    return PolicyLoss(group.rewards, sequence_sum(group))


def reinforce_mean(group: Group) -> PolicyLoss:
    """(1/G) Σ_i (r_i − r̄_batch) ∇log π(y_i | c), r̄_batch the mean of the batch's B·G rewards.
    E = (1 − 1/(BG)) ∇J: biased in scale only. Reference: Williams 1992 (reinforcement baseline);
    OpenRLHF's REINFORCE++ normalises advantages over the batch the same way (Hu 2025, arXiv:2501.03262)."""
    return PolicyLoss(batch_mean_advantages(group.rewards), sequence_sum(group))


def rloo(group: Group) -> PolicyLoss:
    """(1/G) Σ_i (r_i − (1/(G−1)) Σ_{j≠i} r_j) ∇log π(y_i | c): the leave-one-out baseline, unbiased.
    Reference: Kool, van Hoof & Welling 2019, "Buy 4 REINFORCE samples, get a baseline for free!";
    Ahmadian et al. 2024, "Back to Basics: Revisiting REINFORCE Style Optimization for Learning from
    Human Feedback in LLMs" (ACL)."""
    return PolicyLoss(leave_one_out_advantages(group.rewards), sequence_sum(group))


def grpo(group: Group, scale: bool = True) -> PolicyLoss:
    """(1/G) Σ_i Â_i (1/|y_i|) Σ_t ∇log π(y_{i,t} | …), Â_i = (r_i − r̄)/(std + ε) (scale=False: r_i − r̄).
    Biased: the std and the 1/|y_i| both depend on y_i. Reference: Shao et al. 2024, "DeepSeekMath"
    (arXiv:2402.03300), eq. (3) and §4.1.2; TRL GRPOTrainer loss_type="grpo"."""
    advantages = group_normalised_advantages(group.rewards) if scale else group_mean_advantages(group.rewards)
    return PolicyLoss(advantages, sequence_mean(group))


def dr_grpo(group: Group, scale: bool = False) -> PolicyLoss:
    """(1/(GL)) Σ_i (r_i − r̄) Σ_t ∇log π(y_{i,t} | …): no std, no per-sequence length division.
    E = (G − 1)/(G L) ∇J: biased in scale only (scale=True divides by the std again: biased).
    Reference: Liu et al. 2025, "Understanding R1-Zero-Like Training: A Critical Perspective"
    (arXiv:2503.20783); TRL loss_type="dr_grpo" with scale_rewards="none"."""
    advantages = group_normalised_advantages(group.rewards) if scale else group_mean_advantages(group.rewards)
    return PolicyLoss(advantages, constant(group))


def dapo(group: Group, scale: bool = True) -> PolicyLoss:
    """(1/Σ_j |y_j|) Σ_i Â_i Σ_t ∇log π(y_{i,t} | …): a token-level mean over the whole group, Â
    group-normalised (scale=False: r_i − r̄, as nanochat). Biased: the normaliser depends on every y_j.
    Reference: Yu et al. 2025, "DAPO" (arXiv:2503.14476), eq. (10); TRL loss_type="dapo"/"bnpo"
    normalise by the tokens of the (local) batch instead of the group."""
    advantages = group_normalised_advantages(group.rewards) if scale else group_mean_advantages(group.rewards)
    return PolicyLoss(advantages, group_tokens(group))


def remax(group: Group) -> PolicyLoss:
    """(1/G) Σ_i (r_i − R(c, ŷ)) ∇log π(y_i | c), ŷ the greedy completion: unbiased, the baseline
    depending on θ and c only. Reference: Li et al. 2023, "ReMax: A Simple, Effective, and Efficient
    Reinforcement Learning Method for Aligning Large Language Models" (arXiv:2310.10505)."""
    return PolicyLoss(group.rewards - group.greedy_rewards[..., None], sequence_sum(group))


ESTIMATORS = {
    "reinforce": reinforce,
    "reinforce_mean": reinforce_mean,
    "rloo": rloo,
    "grpo": grpo,
    "dr_grpo": dr_grpo,
    "dapo": dapo,
    "remax": remax,
}
# what each claims for ∇J with its default options: unbiased, biased in scale only, or biased
CLAIMS = {
    "reinforce": "unbiased",
    "reinforce_mean": "scale",
    "rloo": "unbiased",
    "grpo": "biased",
    "dr_grpo": "scale",
    "dapo": "biased",
    "remax": "unbiased",
}
NEEDS_GREEDY = frozenset({"remax"})  # their Group needs greedy_rewards
BATCH_COUPLED = frozenset({"reinforce_mean"})  # their groups share a statistic of the whole batch
MIN_GROUP = {"rloo": 2, "grpo": 2, "dr_grpo": 2, "dapo": 2}  # a group baseline needs G ≥ 2


def scale_factor(name: str, group_size: int, n_groups: int, max_len: int) -> float:
    """E[ĝ] = factor · ∇J for the estimators biased in scale only (1 for the unbiased ones)."""
    if name == "reinforce_mean":
        return 1.0 - 1.0 / (n_groups * group_size)
    if name == "dr_grpo":
        return (group_size - 1) / (group_size * max_len)
    if CLAIMS[name] == "unbiased":
        return 1.0
    raise ValueError(f"{name} is biased in direction: no scale factor")


def group_problem(name: str, group_size: int) -> str | None:
    """Why `name` cannot run with groups of G, or None."""
    if name not in ESTIMATORS:
        return f"estimator must be one of {', '.join(ESTIMATORS)}, got {name!r}"
    need = MIN_GROUP.get(name, 1)
    return f"{name} needs a group of G ≥ {need} completions per prompt, got {group_size}" if group_size < need else None
