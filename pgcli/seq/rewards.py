"""Rewards R(c, y) of (prompt, completion) pairs, vectorised over a batch.

Every reward has one signature,

    reward(prompts (N,), tokens (N, L), lengths (N,)) -> (N,) floats

with ``tokens`` EOS-padded (token V in every slot from the content length l on, space.py) and
``lengths`` the content lengths l. Built-ins need no code (:data:`REWARDS`; parameters are data,
never code or regular expressions):

    count        number of times `token` occurs in the content
    sorted       1 if the content is non-decreasing and l ≥ min_length, else 0
    target_sum   1 if Σ_j y_j = target_c (one target for every prompt, or one per prompt), else 0
    near_sum     1 − |Σ_j y_j − target_c| / scale: a dense target_sum (1 on target)
    pattern      1 if the content contains `pattern` contiguously (−1 in the pattern: any token), else 0
    match        1 if the content equals targets[c] exactly (the prompt's answer), else 0

and :func:`make_reward` adds an optional length penalty R − λ·l. A user's own vectorised callable
with the same signature goes through :func:`from_callable`, which passes read-only arrays and checks
what comes back (shape (N,), real numbers).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

Reward = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


class RewardError(ValueError):
    """A bad reward: unknown name, a bad parameter, or a callable returning the wrong thing."""


def _content(tokens, lengths):
    """(N, L) tokens with everything from position l on set to 0."""
    return np.where(np.arange(tokens.shape[1]) < lengths[:, None], tokens, 0)


def count(prompts, tokens, lengths, *, token: int = 0):
    """Σ_j 1[y_j = token] over the content (the EOS padding is V, never a token < V)."""
    return (tokens == token).sum(1) * 1.0


def sorted_(prompts, tokens, lengths, *, min_length: int = 1):
    """1[y_0 ≤ y_1 ≤ … ≤ y_{l−1} and l ≥ min_length] (EOS = V is above every token, so the padding
    never breaks the order)."""
    return ((np.diff(tokens, axis=1) >= 0).all(1) & (lengths >= min_length)) * 1.0


def target_sum(prompts, tokens, lengths, *, target):
    """1[Σ_j y_j = target_c]; `target` is one integer or one per prompt."""
    targets = np.broadcast_to(np.asarray(target), (max(int(prompts.max(initial=0)) + 1, np.size(target)),))
    return (_content(tokens, lengths).sum(1) == targets[prompts]) * 1.0


def near_sum(prompts, tokens, lengths, *, target, scale: float = 1.0):
    """1 − |Σ_j y_j − target_c| / scale: how close the content's sum is to the prompt's target (1 on
    it), a dense version of target_sum; `target` is one integer or one per prompt."""
    targets = np.broadcast_to(np.asarray(target, dtype=float), (max(int(prompts.max(initial=0)) + 1, np.size(target)),))
    return 1.0 - np.abs(_content(tokens, lengths).sum(1) - targets[prompts]) / scale


def pattern(prompts, tokens, lengths, *, pattern):
    """1 if some window y_s, …, y_{s+m−1} inside the content (s + m ≤ l) equals the pattern, −1
    matching any token."""
    wanted = np.asarray(pattern, dtype=np.int64)
    m = wanted.size
    if m > tokens.shape[1]:
        return np.zeros(tokens.shape[0])
    windows = sliding_window_view(tokens, m, axis=1)  # (N, L − m + 1, m)
    hits = ((windows == wanted) | (wanted < 0)).all(-1)
    inside = np.arange(windows.shape[1]) + m <= lengths[:, None]
    return (hits & inside).any(1) * 1.0


def match(prompts, tokens, lengths, *, targets):
    """1[y = targets[c]]: the content has the target's length and tokens."""
    length = tokens.shape[1]
    table = np.full((len(targets), length), -1, dtype=np.int64)
    sizes = np.array([len(t) for t in targets])
    for c, target in enumerate(targets):
        table[c, : len(target)] = target
    wanted = table[prompts]
    same = (_content(tokens, lengths) == np.where(wanted < 0, 0, wanted)).all(1)
    return (same & (lengths == sizes[prompts])) * 1.0


REWARDS: dict[str, Callable] = {
    "count": count,
    "sorted": sorted_,
    "target_sum": target_sum,
    "near_sum": near_sum,
    "pattern": pattern,
    "match": match,
}


REQUIRED = inspect.Parameter.empty  # a parameter without default


def parameters(name: str) -> dict:
    """{parameter: default} of built-in `name` (REQUIRED when it has none), read from its signature."""
    signature = inspect.signature(REWARDS[name])
    return {p.name: p.default for p in signature.parameters.values() if p.kind is p.KEYWORD_ONLY}


def _problems(name, params, n_prompts, vocab, max_len) -> list[str]:
    """What is wrong with a built-in's parameters (empty when nothing)."""

    def token_ok(value, wildcard=False):
        return isinstance(value, int | np.integer) and ((-1 if wildcard else 0) <= value < vocab)

    if name == "count":
        return [] if token_ok(params.get("token", 0)) else [f"count: token must be an integer in [0, {vocab})"]
    if name == "sorted":
        value = params.get("min_length", 1)
        return [] if isinstance(value, int) and value >= 0 else ["sorted: min_length must be an integer ≥ 0"]
    if name in ("target_sum", "near_sum"):
        target = np.asarray(params.get("target"))
        if target.dtype.kind not in "iu" or target.ndim > 1 or target.size not in (1, n_prompts):
            return [f"{name}: target must be an integer or a list of {n_prompts} integers (one per prompt)"]
        scale = params.get("scale", 1.0)
        if name == "near_sum" and not (
            isinstance(scale, int | float) and not isinstance(scale, bool) and 0 < scale < 1e12
        ):
            return ["near_sum: scale must be a number in (0, 1e12)"]
        return []
    if name == "pattern":
        wanted = params.get("pattern")
        if not (isinstance(wanted, list | tuple) and wanted and all(token_ok(v, True) for v in wanted)):
            return [f"pattern: pattern must be a non-empty list of tokens in [0, {vocab}) or −1 (any token)"]
        return [] if len(wanted) <= max_len else [f"pattern: {len(wanted)} tokens cannot fit in L = {max_len}"]
    if name == "match":
        targets = params.get("targets")
        ok = (
            isinstance(targets, list | tuple)
            and len(targets) == n_prompts
            and all(isinstance(t, list | tuple) and len(t) <= max_len and all(token_ok(v) for v in t) for t in targets)
        )
        return [] if ok else [f"match: targets must be {n_prompts} lists of ≤ {max_len} tokens in [0, {vocab})"]
    return []


def make_reward(name: str, n_prompts: int, vocab: int, max_len: int, *, length_penalty: float = 0.0, **params):
    """The built-in `name` with its parameters, as a :data:`Reward`, optionally R − λ·l
    (λ = length_penalty). RewardError (one line) for an unknown name or a bad parameter."""
    if name not in REWARDS:
        raise RewardError(f"unknown reward {name!r} (built-ins: {', '.join(sorted(REWARDS))})")
    function = REWARDS[name]
    defaults = parameters(name)
    unknown = sorted(set(params) - set(defaults))
    missing = sorted(key for key, value in defaults.items() if value is REQUIRED and key not in params)
    if unknown or missing:
        what = f"unknown parameter {', '.join(unknown)}" if unknown else f"missing parameter {', '.join(missing)}"
        raise RewardError(f"{name}: {what} (parameters: {', '.join(defaults) or 'none'})")
    problems = _problems(name, params, n_prompts, vocab, max_len)
    if problems:
        raise RewardError("; ".join(problems))

    def reward(prompts, tokens, lengths):
        values = function(prompts, tokens, lengths, **params)
        return values - length_penalty * lengths if length_penalty else values

    reward.__name__ = reward.__qualname__ = name
    return reward


def from_callable(function, label: str | None = None) -> Reward:
    """A user's vectorised reward(prompts, tokens, lengths) -> (N,), called on read-only arrays;
    a result of the wrong shape or dtype, or with NaN or ±inf, is a RewardError naming what came back
    and what was expected.
    An exception raised inside the user's code propagates unchanged."""
    if not callable(function):
        raise RewardError(f"a reward must be callable, got {type(function).__name__}")
    label = label or getattr(function, "__qualname__", "reward")

    def reward(prompts, tokens, lengths):
        args = [np.asarray(a).view() for a in (prompts, tokens, lengths)]
        for a in args:
            a.flags.writeable = False
        out = np.asarray(function(*args))
        n = tokens.shape[0]
        if out.shape != (n,):
            shape = "(" + ", ".join("N" if s == n else str(s) for s in out.shape) + ("," if out.ndim == 1 else "") + ")"
            raise RewardError(f"reward {label} returned shape {shape}, expected (N,) — one value per sequence")
        if out.dtype.kind not in "biuf":
            raise RewardError(f"reward {label} returned dtype {out.dtype}, expected real numbers")
        out = out.astype(float, copy=False)
        bad = int((~np.isfinite(out)).sum())
        if bad:
            raise RewardError(f"reward {label} returned {bad} non-finite values (NaN or ±inf) for {n} sequences")
        return out

    reward.__name__ = reward.__qualname__ = label
    return reward
