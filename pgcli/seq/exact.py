"""Exact answers by enumerating every sequence: E[R], ∇θ E[R], KL(π ‖ π_ref), ∇θ KL, and E[ĝ].

With prompts weighted equally and S = Σ_{l≤L} V^l completions per prompt (space.py),

    E[R]    = (1/P) Σ_c Σ_y π(y|c) R(c, y)
    ∇E[R]   = (1/P) Σ_c Σ_y π(y|c) R(c, y) ∇θ log π(y|c)
    KL      = (1/P) Σ_c Σ_y π(y|c) ℓ(y),   ℓ(y) = log π(y|c) − log π_ref(y|c)
    ∇KL     = (1/P) Σ_c Σ_y π(y|c) ℓ(y) ∇θ log π(y|c)        (Σ_y ∇π(y|c) = 0 removes the +1)

each a weighted :func:`policy.score_sum` over the enumerated pairs, in float64 whatever the policy's
dtype, in chunks of bounded memory, when P·S ≤ MAX_SEQUENCES; above that :class:`NoExact` says why.

An estimator's expectation is exact too, for groups small enough: with one group per batch,

    E[ĝ] = (1/P) Σ_c Σ_{y_1..y_G} Π_i π(y_i|c) g(c; y_1, …, y_G)

over all S^G ordered G-tuples (:func:`expected_estimate`, P·S^G ≤ MAX_TUPLES). The per-token weights
of every tuple are accumulated onto the S completions first, so the gradient is one score_sum per
prompt. This pins the bias of the biased estimators exactly (no Monte Carlo error).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from pgcli.seq import kl, loss, policy
from pgcli.seq.estimators import Group
from pgcli.seq.space import (
    MAX_SEQUENCES,
    Sequences,
    all_sequences,
    content_lengths,
    enumerate_completions,
    exact_problem,
    mask,
    take,
)

MAX_TUPLES = 2 * 10**6  # P·S^G G-tuples an exact expectation of an estimator may enumerate
CHUNK_ELEMENTS = 1 << 21  # rows × L × widest row held at once


class NoExact(Exception):
    """No exact answer exists for this size; the message says why."""


class Exact(NamedTuple):
    """Exact values at θ, averaged over prompts: E[R], ∇E[R] (d,), KL(π ‖ π_ref), ∇KL (d,) (KL terms 0
    without a reference)."""

    reward: float
    grad: np.ndarray
    kl: float
    kl_grad: np.ndarray


def _float64(pol: policy.Policy, theta):
    return pol._replace(dtype="float64"), np.asarray(theta, dtype=np.float64)


def _chunk_rows(pol: policy.Policy) -> int:
    width = max(pol.vocab + 1, policy.n_features(pol) if pol.kind == "mlp" else 0, pol.hidden)
    return max(1, CHUNK_ELEMENTS // (pol.max_len * width))


def _require(pol: policy.Policy) -> None:
    problem = exact_problem(pol.n_prompts, pol.vocab, pol.max_len, MAX_SEQUENCES)
    if problem:
        raise NoExact(problem)


def distribution(pol: policy.Policy, theta) -> tuple[Sequences, np.ndarray]:
    """Every (prompt, completion) pair and π(y | c) (P·S,): each prompt's probabilities sum to 1."""
    _require(pol)
    pol, theta = _float64(pol, theta)
    seqs = all_sequences(pol.n_prompts, pol.vocab, pol.max_len)
    rows = _chunk_rows(pol)
    probs = [
        np.exp(
            policy.log_prob(policy.forward(pol, theta, take(seqs, slice(i, i + rows))), take(seqs, slice(i, i + rows)))
        )
        for i in range(0, seqs.prompts.size, rows)
    ]
    return seqs, np.concatenate(probs)


def exact(pol: policy.Policy, theta, reward, theta_ref=None) -> Exact:
    """E[R], ∇E[R], KL(π ‖ π_ref) and ∇KL at θ by enumeration (module docstring); NoExact above the limit."""
    _require(pol)
    pol, theta = _float64(pol, theta)
    seqs = all_sequences(pol.n_prompts, pol.vocab, pol.max_len)
    d, rows = policy.n_params(pol), _chunk_rows(pol)
    value, divergence = 0.0, 0.0
    grad, kl_grad = np.zeros(d), np.zeros(d)
    for i in range(0, seqs.prompts.size, rows):
        chunk = take(seqs, slice(i, i + rows))
        fwd = policy.forward(pol, theta, chunk)
        log_p = policy.log_prob(fwd, chunk)
        weight = np.exp(log_p) / pol.n_prompts
        token_mask = mask(chunk)
        r = reward(chunk.prompts, chunk.tokens, content_lengths(chunk, pol.vocab))
        value += weight @ r
        grad += policy.score_sum(pol, theta, chunk, fwd, (weight * r)[:, None] * token_mask)
        if theta_ref is not None:
            ell = log_p - policy.log_prob(policy.forward(pol, np.asarray(theta_ref, dtype=np.float64), chunk), chunk)
            divergence += weight @ ell
            kl_grad += policy.score_sum(pol, theta, chunk, fwd, (weight * ell)[:, None] * token_mask)
    return Exact(float(value), grad, float(divergence), kl_grad)


def best_reward(pol: policy.Policy, reward) -> float:
    """max over policies of E[R] = (1/P) Σ_c max_y R(c, y): the optimum a fine-tuning run can approach."""
    _require(pol)
    seqs = all_sequences(pol.n_prompts, pol.vocab, pol.max_len)
    r = reward(seqs.prompts, seqs.tokens, content_lengths(seqs, pol.vocab))
    return float(r.reshape(pol.n_prompts, -1).max(1).mean())


def expected_kl_estimates(pol: policy.Policy, theta, theta_ref) -> dict[str, float]:
    """{k: E[Σ_t k(ℓ_t)]} for k1, k2, k3 exactly (k1 and k3 equal KL; k2 does not)."""
    _require(pol)
    pol, theta = _float64(pol, theta)
    seqs = all_sequences(pol.n_prompts, pol.vocab, pol.max_len)
    fwd = policy.forward(pol, theta, seqs)
    token_log_p = policy.token_log_probs(fwd, seqs)
    ell = token_log_p - policy.token_log_probs(policy.forward(pol, np.asarray(theta_ref, np.float64), seqs), seqs)
    weight = np.exp(token_log_p.sum(1)) / pol.n_prompts
    return {k: float(weight @ kl.sequence_values(k, ell, mask(seqs))) for k in kl.KL_ESTIMATORS}


def tuples_problem(pol: policy.Policy, group_size: int, limit: int = MAX_TUPLES) -> str | None:
    """Why E[ĝ] cannot be enumerated over G-tuples (P·S^G > limit), or None."""
    problem = exact_problem(pol.n_prompts, pol.vocab, pol.max_len)
    if problem:
        return problem
    size = pol.n_prompts * len(enumerate_completions(pol.vocab, pol.max_len)[1]) ** group_size
    if size > limit:
        return f"no exact expectation over G-tuples: {size:.3g} tuples (G = {group_size}) exceed {limit:,}"
    return None


def expected_estimate(
    pol: policy.Policy,
    theta,
    reward,
    estimator: str,
    group_size: int,
    penalty: kl.Penalty = kl.NO_PENALTY,
    theta_ref=None,
    **options,
) -> np.ndarray:
    """E[ĝ] (d,) of `estimator` with groups of G and one group per batch (B = 1), the KL penalty
    included, over all G-tuples exactly (module docstring); NoExact above MAX_TUPLES."""
    problem = tuples_problem(pol, group_size)
    if problem:
        raise NoExact(problem)
    pol, theta = _float64(pol, theta)
    tokens, n_tokens = enumerate_completions(pol.vocab, pol.max_len)
    size, length = n_tokens.size, pol.max_len
    total = np.zeros(policy.n_params(pol))
    for c in range(pol.n_prompts):
        seqs = Sequences(np.full(size, c), tokens, n_tokens)
        fwd = policy.forward(pol, theta, seqs)
        token_log_p = policy.token_log_probs(fwd, seqs)
        ell = None
        if theta_ref is not None:
            ref = policy.forward(pol, np.asarray(theta_ref, dtype=np.float64), seqs)
            ell = token_log_p - policy.token_log_probs(ref, seqs)
        greedy_seqs, _ = policy.greedy(pol, theta, np.array([c]))
        greedy_reward = reward(greedy_seqs.prompts, greedy_seqs.tokens, content_lengths(greedy_seqs, pol.vocab))[0]
        values = (
            np.exp(token_log_p.sum(1)),
            reward(seqs.prompts, seqs.tokens, content_lengths(seqs, pol.vocab)),
            mask(seqs),
        )
        weights = _tuple_weights(values, ell, n_tokens, length, greedy_reward, estimator, group_size, penalty, options)
        total += policy.score_sum(pol, theta, seqs, fwd, weights)
    return total / pol.n_prompts


def _tuple_weights(values, ell, n_tokens, length, greedy_reward, estimator, group_size, penalty, options):
    """Σ over G-tuples of Π_i π(y_i) × each member's per-token weights, gathered onto the S
    completions: (S, L)."""
    probs, rewards, token_mask = values
    size = probs.size
    accumulated = np.zeros(size * length)
    per_chunk = max(1, CHUNK_ELEMENTS // (group_size * length))
    for start in range(0, size**group_size, per_chunk):
        flat = np.arange(start, min(start + per_chunk, size**group_size))
        members = np.stack(np.unravel_index(flat, (size,) * group_size), axis=1)  # (m, G)
        group = Group(
            rewards[members][:, None], n_tokens[members][:, None], length, np.full((flat.size, 1), greedy_reward)
        )
        tuple_mask = token_mask[members][:, None]
        log_ratio = None if ell is None else ell[members][:, None]
        weights, scales = loss.policy_weights(estimator, group, tuple_mask, penalty, log_ratio, **options)
        kl_weights = loss.kl_loss_weights(penalty, scales, tuple_mask, log_ratio)
        if kl_weights is not None:
            weights = weights + kl_weights
        tuple_prob = probs[members].prod(1)
        cells = (members[..., None] * length + np.arange(length)).ravel()
        accumulated += np.bincount(
            cells, weights=(tuple_prob[:, None, None] * weights[:, 0]).ravel(), minlength=size * length
        )
    return accumulated.reshape(size, length)
