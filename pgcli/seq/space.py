"""The sequence space: tokens, the end-of-sequence token, lengths, and every sequence at once.

A policy writes a completion y to a prompt c ∈ {0, …, P − 1} one token at a time, for at most L
generation steps. Tokens are 0, …, V − 1; the end-of-sequence token is EOS = V. At each step
t = 0, …, L − 1 the policy picks one of the V + 1 tokens; EOS ends the completion. So a
completion is either

    y = (y_0, …, y_{l−1}, EOS)   content length l ∈ {0, …, L − 1}, l + 1 generated tokens, or
    y = (y_0, …, y_{L−1})        content length L, truncated after L steps (no EOS),

and its generated tokens |y| = min(l + 1, L) ∈ {1, …, L} are the tokens whose log-probabilities
make up log π(y | c) = Σ_{t < |y|} log π(y_t | c, y_<t) (what TRL's completion mask covers: the
EOS token is generated and counts; a truncated completion has none). There are

    Σ_{l=0}^{L} V^l   completions per prompt:  Σ_{l<L} V^l ending with EOS  +  V^L truncated,

and their probabilities sum to 1. In arrays a batch of N (prompt, completion) pairs is
:class:`Sequences`: ``tokens`` (N, L) holds the content followed by EOS in every remaining slot
(so an EOS-terminated completion's EOS is at position l), and ``n_tokens`` (N,) holds |y|.
Rewards see the content length l (:func:`content_lengths`); the policy gradient sees |y|.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

MAX_SEQUENCES = 10**6  # (prompt, completion) pairs an exact sum may enumerate


class Sequences(NamedTuple):
    """N (prompt, completion) pairs: prompts (N,), tokens (N, L) EOS-padded, n_tokens (N,) = |y|."""

    prompts: np.ndarray
    tokens: np.ndarray
    n_tokens: np.ndarray


def mask(seqs: Sequences) -> np.ndarray:
    """(N, L) bool: position t holds a generated token (t < |y|)."""
    return np.arange(seqs.tokens.shape[1]) < seqs.n_tokens[:, None]


def content_lengths(seqs: Sequences, vocab: int) -> np.ndarray:
    """(N,) content length l: |y| − 1 when the last generated token is EOS, else |y| (= L)."""
    last = np.take_along_axis(seqs.tokens, (seqs.n_tokens - 1)[:, None], axis=1)[:, 0]
    return seqs.n_tokens - (last == vocab)


def space_size(vocab: int, max_len: int) -> int:
    """Completions per prompt: Σ_{l=0}^{L} V^l (an exact Python int, however large)."""
    return sum(vocab**length for length in range(max_len + 1))


def exact_problem(n_prompts: int, vocab: int, max_len: int, limit: int = MAX_SEQUENCES) -> str | None:
    """Why no exact sum exists (too many sequences to enumerate), or None when P × Σ_l V^l ≤ limit."""
    size = n_prompts * space_size(vocab, max_len)
    if size <= limit:
        return None
    return (
        f"no exact values: {n_prompts} prompts × Σ_(l≤{max_len}) {vocab}^l = {size:.3g} sequences "
        f"(V = {vocab}, L = {max_len}) exceed the {limit:,} an exact sum enumerates"
    )


def enumerate_completions(vocab: int, max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Every completion of one prompt: tokens (S, L) EOS-padded and n_tokens (S,), S = Σ_l V^l,
    ordered by content length l = 0, …, L and lexicographically within a length."""
    size = space_size(vocab, max_len)
    tokens = np.full((size, max_len), vocab, dtype=np.int64)
    n_tokens = np.empty(size, dtype=np.int64)
    start = 0
    for length in range(max_len + 1):
        count = vocab**length
        index = np.arange(count)[:, None]
        powers = vocab ** np.arange(length - 1, -1, -1)
        tokens[start : start + count, :length] = index // powers % vocab
        n_tokens[start : start + count] = min(length + 1, max_len)
        start += count
    return tokens, n_tokens


def all_sequences(n_prompts: int, vocab: int, max_len: int) -> Sequences:
    """Every (prompt, completion) pair, prompt-major: row c·S + s is completion s of prompt c."""
    tokens, n_tokens = enumerate_completions(vocab, max_len)
    size = tokens.shape[0]
    return Sequences(
        np.repeat(np.arange(n_prompts), size), np.tile(tokens, (n_prompts, 1)), np.tile(n_tokens, n_prompts)
    )


def take(seqs: Sequences, rows) -> Sequences:
    """The pairs at `rows` (an index array or slice)."""
    return Sequences(seqs.prompts[rows], seqs.tokens[rows], seqs.n_tokens[rows])


def batch_prompts(n_prompts: int, n_groups: int, rng: np.random.Generator, reps: int = 1) -> np.ndarray:
    """(reps, B) prompts for `reps` batches of B groups, each prompt equally likely: ⌊B/P⌋ full passes
    over the P prompts plus B mod P distinct prompts drawn without replacement, shuffled within the
    batch. Every prompt's expected count is exactly B/P, so a batch mean is unbiased for the uniform
    prompt average, with less prompt noise than independent draws."""
    full, rest = divmod(n_groups, n_prompts)
    passes = np.broadcast_to(np.tile(np.arange(n_prompts), full), (reps, full * n_prompts))
    extra = rng.random((reps, n_prompts)).argsort(1)[:, :rest]  # a uniform subset of `rest` prompts
    return rng.permuted(np.concatenate([passes, extra], axis=1), axis=1)
