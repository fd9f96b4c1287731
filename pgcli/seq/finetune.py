"""Fine-tuning a sequence policy: maximise J_β = E[R] − β KL(π ‖ π_ref) with any estimator.

    θ_0 given (or policy.init_params), π_ref = π_{θ_0} unless given
    for t = 0, …, T − 1:
        c_1..c_B      prompts (space.batch_prompts), G completions each ~ π_θt     (one batch)
        w             per-token weights of the estimator and KL placement          (loss.py)
        ĝ_t           = (1/B) Σ_b g_b,  g_b = Σ_{i,t} w ∇log π(y_{b,i,t} | …)        (policy.score_sum)
        θ ← θ + Adam(ĝ_t)                                                           (pgcli.base.optim)
        epochs 2..E:  θ ← θ + Adam(ĝ_clip(θ)), the PPO-clip gradient on the same batch (loss.clip_weights)

Row t describes θ_t (reached after t updates) and the batch drawn there; the last row, θ_T, has
no gradient. Columns (:data:`COLUMNS`):

    mean_reward     mean R of the batch at θ_t;  mean_length its mean content length
    objective       J_β(θ_t) exactly, reward_exact E[R] and kl KL(π_θt ‖ π_ref) exactly (blank when the
                    space is too large to enumerate, exact.NoExact, or between `exact_every` steps)
    kl_estimate     the batch mean of Σ_t k1_t (unbiased for KL, whatever the penalty's estimator)
    grad_norm, grad_var, grad_snr    of ĝ_t from its B per-group terms (pgcli.lab.estimators.gradient_stats;
                    for reinforce_mean the terms share the batch mean, so grad_var is approximate)
    cosine          ⟨ĝ_t, ∇J_β(θ_t)⟩/(‖ĝ_t‖‖∇J_β‖) against the exact gradient (blank like objective)
    clip_fraction   share of weighted tokens the PPO clip silenced, over epochs 2..E (blank for E = 1)
    sequences_per_s B·G over the step's seconds (sampling, rewards, gradients, updates; not the exact
                    columns);  wall_s  seconds since the start (both wall-clock)

Every random number comes from Generators spawned from the seed, one per role (ROLES: the MLP's
initial weights, the prompts, the completions), so the rows other than the wall-clock columns are a
function of the settings and the seed. Reference: Williams 1992; Schulman et al. 2017 (PPO-clip).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

from pgcli.base.numerics import gradient_stats
from pgcli.base.optim import adam_init, adam_step
from pgcli.base.progress import Progress, silent
from pgcli.base.streams import generators
from pgcli.seq import exact, kl, loss, policy
from pgcli.seq.estimators import NEEDS_GREEDY, Group, group_problem
from pgcli.seq.space import Sequences, batch_prompts, content_lengths, mask

ROLES = ("init", "prompts", "sample")
COLUMNS = [
    "step", "sequences", "mean_reward", "mean_length", "objective", "reward_exact", "kl", "kl_estimate",
    "grad_norm", "grad_var", "grad_snr", "cosine", "clip_fraction", "sequences_per_s", "wall_s",
]  # fmt: skip
WALL_CLOCK = ("sequences_per_s", "wall_s")


class Settings(NamedTuple):
    """One fine-tuning run: estimator, G completions per prompt, B prompts per step, steps, Adam's
    learning rate, the KL penalty, PPO-clip epochs per batch (1: plain on-policy steps), clip ε (and
    ε_high), and how often the exact columns are computed (0: never)."""

    estimator: str = "rloo"
    group_size: int = 8
    n_groups: int = 16
    steps: int = 200
    lr: float = 0.05
    penalty: kl.Penalty = kl.NO_PENALTY
    epochs: int = 1
    clip: float = 0.2
    clip_high: float | None = None  # the upper clip ε_high (DAPO's clip-higher); None: = clip
    exact_every: int = 1


class Step(NamedTuple):
    """One row (by column name) and θ_t, the parameters it describes."""

    row: dict
    theta: np.ndarray


def settings_problem(settings: Settings) -> str | None:
    """What is wrong with the settings, or None (the shell validates specs before anything runs)."""
    checks = [
        group_problem(settings.estimator, settings.group_size),
        kl.penalty_problem(settings.penalty),
        *(
            f"{name} must be ≥ 1, got {value}"
            for name, value in (
                ("group_size", settings.group_size),
                ("n_groups", settings.n_groups),
                ("epochs", settings.epochs),
            )
            if value < 1
        ),
        f"steps must be ≥ 0, got {settings.steps}" if settings.steps < 0 else None,
        f"lr must be > 0, got {settings.lr}" if not settings.lr > 0 else None,
        f"clip must be in (0, 1), got {settings.clip}" if not 0 < settings.clip < 1 else None,
        f"clip_high must be > 0, got {settings.clip_high}"
        if settings.clip_high is not None and not settings.clip_high > 0
        else None,
        f"exact_every must be ≥ 0, got {settings.exact_every}" if settings.exact_every < 0 else None,
    ]
    problems = [c for c in checks if c]
    return "; ".join(problems) if problems else None


def finetune(pol: policy.Policy, reward, settings: Settings, seed: int, *, theta=None, theta_ref=None,
             progress: Progress = silent) -> Iterator[Step]:  # fmt: skip
    """Yield one :class:`Step` per θ_0, …, θ_T (module docstring). ValueError for bad settings. The run
    stops early, after the row of the first θ that is not finite."""
    problem = settings_problem(settings)
    if problem:
        raise ValueError(problem)
    rngs = generators(seed, ROLES)
    theta = policy.init_params(pol, rngs["init"]) if theta is None else np.asarray(theta, dtype=pol.dtype).copy()
    theta_ref = theta.copy() if theta_ref is None else np.asarray(theta_ref, dtype=pol.dtype)
    enumerable = exact.exact_problem(pol.n_prompts, pol.vocab, pol.max_len) is None
    opt, start = adam_init(theta.size), time.perf_counter()
    progress(0, settings.steps + 1)
    for t in range(settings.steps + 1):
        tick = time.perf_counter()
        batch = _batch(pol, theta, theta_ref, reward, settings, rngs)
        row = {"step": t, "sequences": t * settings.n_groups * settings.group_size, **batch.summary}
        grad = None
        if t < settings.steps:
            grad, terms, theta_next, opt, fraction = _update(pol, theta, opt, batch, settings)
            row.update(gradient_stats(grad, terms)._asdict(), clip_fraction=fraction)
        seconds = time.perf_counter() - tick
        exact_now = enumerable and settings.exact_every and (t % settings.exact_every == 0 or t == settings.steps)
        if exact_now:
            row.update(_exact_columns(exact.exact(pol, theta, reward, theta_ref), grad, settings.penalty.beta))
        row.update(sequences_per_s=settings.n_groups * settings.group_size / seconds,
                   wall_s=time.perf_counter() - start)  # fmt: skip
        row = {column: row.get(column, np.nan) for column in COLUMNS}
        yield Step(row, theta)
        progress(t + 1, settings.steps + 1, reward=row["mean_reward"], objective=row["objective"])
        if grad is None or not np.all(np.isfinite(theta_next)):
            return
        theta = theta_next


class Batch(NamedTuple):
    """One step's samples: sequences and their forward pass, the policy-part weights w and the
    aggregation weights c (B, G, L)/(B, G), token mask, log π_old and log π_ref per token (B, G, L),
    and the summary columns."""

    seqs: Sequences
    fwd: policy.Forward
    weights: np.ndarray
    scales: np.ndarray
    token_mask: np.ndarray
    old_log_probs: np.ndarray
    ref_log_probs: np.ndarray
    summary: dict


def _batch(pol, theta, theta_ref, reward, settings: Settings, rngs) -> Batch:
    b, g, length = settings.n_groups, settings.group_size, pol.max_len
    prompts = batch_prompts(pol.n_prompts, b, rngs["prompts"])[0]
    seqs, fwd = policy.sample(pol, theta, np.repeat(prompts, g), rngs["sample"])
    lengths = content_lengths(seqs, pol.vocab)
    rewards = reward(seqs.prompts, seqs.tokens, lengths)
    greedy_rewards = None
    if settings.estimator in NEEDS_GREEDY:
        best, _ = policy.greedy(pol, theta, prompts)
        greedy_rewards = reward(best.prompts, best.tokens, content_lengths(best, pol.vocab))
    token_mask = mask(seqs).reshape(b, g, length)
    old = policy.token_log_probs(fwd, seqs).reshape(b, g, length)
    ref = policy.token_log_probs(policy.forward(pol, theta_ref, seqs), seqs).reshape(b, g, length)
    group = Group(rewards.reshape(b, g), seqs.n_tokens.reshape(b, g), length, greedy_rewards)
    weights, scales = loss.policy_weights(settings.estimator, group, token_mask, settings.penalty, old - ref)
    summary = {
        "mean_reward": float(rewards.mean()),
        "mean_length": float(lengths.mean()),
        "kl_estimate": float(kl.sequence_values("k1", old - ref, token_mask).mean()),
    }
    return Batch(seqs, fwd, weights, scales, token_mask, old, ref, summary)


def _update(pol, theta, opt, batch: Batch, settings: Settings):
    """(ĝ at θ_t, its B per-group terms, θ after the epochs, Adam state, clip fraction or NaN)."""
    b, g, length = batch.weights.shape
    first = batch.weights + _kl_loss(settings, batch, batch.old_log_probs)
    terms = policy.score_sum(pol, theta, batch.seqs, batch.fwd, first.reshape(b * g, length), group_size=g)
    grad = terms.mean(0)
    step, opt = adam_step(grad, opt, settings.lr)
    theta_next = (theta + step).astype(pol.dtype)
    fractions = []
    for _ in range(settings.epochs - 1):
        fwd = policy.forward(pol, theta_next, batch.seqs)
        log_probs = policy.token_log_probs(fwd, batch.seqs).reshape(b, g, length)
        ratio = np.exp(log_probs - batch.old_log_probs)
        clipped, fraction = loss.clip_weights(batch.weights, ratio, settings.clip, settings.clip_high)
        weights = (clipped + _kl_loss(settings, batch, log_probs)) / b
        step, opt = adam_step(policy.score_sum(pol, theta_next, batch.seqs, fwd, weights.reshape(b * g, length)),
                              opt, settings.lr)  # fmt: skip
        theta_next = (theta_next + step).astype(pol.dtype)
        fractions.append(fraction)
    return grad, terms, theta_next, opt, float(np.mean(fractions)) if fractions else np.nan


def _kl_loss(settings: Settings, batch: Batch, log_probs):
    """The KL loss part of the weights at the θ that gave `log_probs` (0 unless placement = loss)."""
    weights = loss.kl_loss_weights(settings.penalty, batch.scales, batch.token_mask, log_probs - batch.ref_log_probs)
    return 0.0 if weights is None else weights


def _exact_columns(values: exact.Exact | None, grad, beta: float) -> dict:
    if values is None:
        return {}
    target = values.grad - beta * values.kl_grad
    norms = np.linalg.norm(target) * (np.linalg.norm(grad) if grad is not None else 0.0)
    return {
        "objective": values.reward - beta * values.kl,
        "reward_exact": values.reward,
        "kl": values.kl,
        "cosine": float(grad @ target / norms) if norms > 0 else np.nan,
    }
