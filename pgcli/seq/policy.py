"""Autoregressive policies over sequences, π(y | c; θ), with hand-written ∇θ log π.

    π(y | c) = Π_{t<|y|} π(y_t | c, y_<t),    π(· | c, y_<t) = softmax(z(c, t, y_<t)) over V + 1 tokens

(the sequence space, EOS and |y|: space.py). Two parametrisations of the logits z ∈ R^{V+1}:

    tabular   z = θ[c, t, y_{t−1}]     one free logit vector per prompt, position and previous token
              (y_{−1} = BOS, an extra slot):  d = P·L·(V + 1)². A first-order (bigram) policy: it can
              express every distribution over completions only when L ≤ 2 (y_{t−1} is then the prefix)
    mlp       z = W₂ᵀ tanh(W₁ᵀ x + b₁) + b₂ with the one-hot input
              x = [onehot(c) (P), onehot(t) (L), onehot(y_{t−1}), …, onehot(y_{t−k})],
              each previous-token block of V + 1 slots (the last one: before the start):
              F = P + L + k(V + 1) inputs, H tanh units, d = (F + 1)H + (H + 1)(V + 1)

For one token, ∂ log π(y_t | …)/∂z = onehot(y_t) − π(· | …) (the softmax's score). The table
lookup scatters it into θ; the MLP backpropagates it (W₁ᵀx is a sum of k + 2 rows of W₁, so its
input gradient lands on those rows). :func:`score_sum` returns Σ_{n,t} w_{n,t} ∇θ log π(y_{n,t} | …)
for any per-token weights w — the gradient of every policy-gradient loss Σ w log π with w held
fixed — summed over the batch, or one row per group of consecutive pairs (the per-group terms of a
group estimator). With w = 1 on one sequence's tokens it is that sequence's score ∇θ log π(y | c).

θ is one flat vector in the policy's dtype (float64 or float32); a float32 policy computes in
float32 throughout (sampling uniforms included). Sampling draws token t of every sequence at once
by the inverse CDF of π(· | …) with one uniform each, for t = 0, …, L − 1 (the only loop).
Reference: Williams 1992 (REINFORCE); Sutton et al. 2000 (policy-gradient theorem).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from pgcli.base import lazy
from pgcli.base.numerics import log_softmax
from pgcli.rl import mlp
from pgcli.seq.space import Sequences, mask

sparse = lazy.module("scipy.sparse")

KINDS = ("tabular", "mlp")
DTYPES = ("float64", "float32")


class Policy(NamedTuple):
    """A policy's structure (θ holds its numbers)."""

    kind: str  # tabular | mlp
    n_prompts: int  # P
    vocab: int  # V; the end-of-sequence token is V
    max_len: int  # L generation steps
    context: int = 1  # mlp: the k previous tokens it sees (tabular: always 1)
    hidden: int = 32  # mlp: H tanh units
    dtype: str = "float64"


class Forward(NamedTuple):
    """What a forward pass over N sequences keeps for the gradient: log π(· | …) at every position
    (N, L, V + 1), the MLP's hidden units (N, L, H) or None, and the index of each position's
    inputs — MLP feature rows (N, L, k + 2) or the tabular logit row (c·L + t)(V + 1) + y_{t−1} (N, L)."""

    log_pi: np.ndarray
    hidden: np.ndarray | None
    index: np.ndarray


def make_policy(kind: str, n_prompts: int, vocab: int, max_len: int, *, context=1, hidden=32, dtype="float64"):
    """A :class:`Policy`; ValueError (one line, what and what is allowed) for impossible sizes."""
    problems = [
        f"kind must be one of {', '.join(KINDS)}, got {kind!r}" if kind not in KINDS else None,
        f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}" if str(dtype) not in DTYPES else None,
        *(
            f"{name} must be an integer ≥ 1, got {value!r}"
            for name, value in (
                ("n_prompts", n_prompts),
                ("vocab", vocab),
                ("max_len", max_len),
                ("context", context),
                ("hidden", hidden),
            )
            if not (isinstance(value, int | np.integer) and value >= 1)
        ),
    ]
    problems = [p for p in problems if p]
    if problems:
        raise ValueError("; ".join(problems))
    return Policy(kind, int(n_prompts), int(vocab), int(max_len), int(context) if kind == "mlp" else 1,
                  int(hidden) if kind == "mlp" else 0, str(dtype))  # fmt: skip


def n_features(policy: Policy) -> int:
    """F = P + L + k(V + 1): the MLP's one-hot input size."""
    return policy.n_prompts + policy.max_len + policy.context * (policy.vocab + 1)


def sizes(policy: Policy) -> list[int]:
    """The MLP's layer sizes [F, H, V + 1]."""
    return [n_features(policy), policy.hidden, policy.vocab + 1]


def n_params(policy: Policy) -> int:
    """d: P·L·(V + 1)² (tabular) or (F + 1)H + (H + 1)(V + 1) (mlp)."""
    if policy.kind == "tabular":
        return policy.n_prompts * policy.max_len * (policy.vocab + 1) ** 2
    return mlp.n_params(sizes(policy))


def init_params(policy: Policy, rng: np.random.Generator | None = None) -> np.ndarray:
    """θ₀ (d,) in the policy's dtype: zeros for the table (π uniform over V + 1 tokens at every step);
    orthogonal MLP weights with output gain 0.01 (π close to uniform), drawn from `rng`."""
    if policy.kind == "tabular":
        return np.zeros(n_params(policy), dtype=policy.dtype)
    if rng is None:
        raise ValueError("an mlp policy's initial parameters need a Generator (rng)")
    return mlp.init(sizes(policy), rng).astype(policy.dtype)


def param_label(policy: Policy, j: int) -> str:
    """Coordinate j of θ in words: 'z[c=0,t=2,prev=BOS][EOS]' or 'W1[5,3]', 'b2[7]'."""
    if policy.kind == "tabular":
        c, t, prev, token = np.unravel_index(j, (policy.n_prompts, policy.max_len, policy.vocab + 1, policy.vocab + 1))
        name = {policy.vocab: "EOS"}
        return f"z[c={c},t={t},prev={'BOS' if prev == policy.vocab else prev}][{name.get(token, token)}]"
    start = 0
    for index, (i, o) in enumerate(zip(sizes(policy)[:-1], sizes(policy)[1:], strict=True), 1):
        if j < start + i * o:
            return f"W{index}[{(j - start) // o},{(j - start) % o}]"
        start += i * o
        if j < start + o:
            return f"b{index}[{j - start}]"
        start += o
    raise IndexError(f"θ has {start} coordinates, asked for {j}")


# ---------------------------------------------------------------------------------------------
# the logits of one position (sampling) and of all positions (forward)


def _context_rows(policy: Policy, prev: np.ndarray) -> np.ndarray:
    """W₁ row of each previous-token slot: P + L + (j − 1)(V + 1) + y_{t−j}, prev (..., k)."""
    offsets = policy.n_prompts + policy.max_len + (policy.vocab + 1) * np.arange(policy.context)
    return prev + offsets


def _stepper(policy: Policy, theta, prompts):
    """step(t, tokens) -> (logits (N, V + 1), a fresh array; hidden units (N, H) or None) at position t,
    from the tokens generated so far (tokens[:, t − j] = y_{t−j}, EOS before the start)."""
    eos = policy.vocab
    if policy.kind == "tabular":
        table, rows = theta.reshape(-1, eos + 1), prompts * policy.max_len

        def tabular_step(t, tokens):
            prev = tokens[:, t - 1] if t else eos
            return table[(rows + t) * (eos + 1) + prev], None

        return tabular_step
    (w1, b1), (w2, b2) = mlp.layers(theta, sizes(policy))
    base = w1[prompts] + b1
    offsets = _context_rows(policy, np.zeros(policy.context, dtype=np.int64))

    def mlp_step(t, tokens):
        pre = base + w1[policy.n_prompts + t]
        for j, offset in enumerate(offsets, 1):
            pre += w1[offset + tokens[:, t - j]] if t >= j else w1[offset + eos]
        hidden = np.tanh(pre, out=pre)
        logits = hidden @ w2
        logits += b2
        return logits, hidden

    return mlp_step


def _generate(policy: Policy, theta, prompts, choose: Callable):
    """Decode N sequences position by position. With the logits z at position t shifted by their
    max, e = exp(z) and s = Σ e, `choose(t, z, e, s) -> tokens (N,)` picks each sequence's token."""
    n, length, eos = prompts.shape[0], policy.max_len, policy.vocab
    tokens = np.full((n, length), eos, dtype=np.int64)
    log_pi = np.zeros((n, length, eos + 1), dtype=policy.dtype)  # zeros past the end keep exp() finite
    hidden = None if policy.kind == "tabular" else np.zeros((n, length, policy.hidden), dtype=policy.dtype)
    alive, n_tokens = np.ones(n, dtype=bool), np.zeros(n, dtype=np.int64)
    step = _stepper(policy, theta, prompts)
    for t in range(length):
        z, h = step(t, tokens)
        z -= z.max(1, keepdims=True)
        e = np.exp(z)
        s = e.sum(1, keepdims=True)
        chosen = choose(t, z, e, s)
        np.subtract(z, np.log(s), out=log_pi[:, t])
        if h is not None:
            hidden[:, t] = h
        chosen[~alive] = eos
        tokens[:, t] = chosen
        n_tokens += alive
        alive &= chosen != eos
        if not alive.any():
            break
    seqs = Sequences(prompts, tokens, n_tokens)
    return seqs, Forward(log_pi, hidden, _index(policy, seqs))


def sample(policy: Policy, theta, prompts, rng: np.random.Generator) -> tuple[Sequences, Forward]:
    """N completions y_n ~ π(· | c_n) for prompts (N,), and the forward pass that produced them.

    Token t of every sequence is the inverse CDF of π(· | c, y_<t) at one uniform u: the first token
    whose cumulative probability exceeds u (L × N uniforms, drawn at once in the policy's dtype)."""
    prompts = np.asarray(prompts, dtype=np.int64)
    uniforms = rng.random((policy.max_len, prompts.shape[0]), dtype=policy.dtype)

    def choose(t, z, e, s):
        cumulative = np.cumsum(e[:, :-1], axis=1)
        return (cumulative < uniforms[t][:, None] * s).sum(1)

    return _generate(policy, theta, prompts, choose)


def greedy(policy: Policy, theta, prompts) -> tuple[Sequences, Forward]:
    """The greedy completion of each prompt: y_t = argmax π(· | c, y_<t) (ties to the lowest token)."""
    return _generate(policy, theta, np.asarray(prompts, dtype=np.int64), lambda t, z, e, s: z.argmax(1))


def _index(policy: Policy, seqs: Sequences) -> np.ndarray:
    """Each position's input index: tabular logit row (N, L), or MLP feature rows (N, L, k + 2)."""
    n, length = seqs.tokens.shape
    eos, k = policy.vocab, policy.context
    padded = np.concatenate([np.full((n, k), eos, dtype=np.int64), seqs.tokens], axis=1)
    prev = np.stack([padded[:, k - j : k - j + length] for j in range(1, k + 1)], axis=-1)  # (N, L, k)
    positions = np.arange(length)
    if policy.kind == "tabular":
        return (seqs.prompts[:, None] * length + positions) * (eos + 1) + prev[..., 0]
    return np.concatenate(
        [
            np.broadcast_to(seqs.prompts[:, None, None], (n, length, 1)),
            np.broadcast_to(policy.n_prompts + positions[None, :, None], (n, length, 1)),
            _context_rows(policy, prev),
        ],
        axis=-1,
    )


def forward(policy: Policy, theta, seqs: Sequences) -> Forward:
    """log π(· | c, y_<t) at every position of N given sequences (positions past |y| are computed
    but carry no weight)."""
    index = _index(policy, seqs)
    if policy.kind == "tabular":
        logits = theta.reshape(-1, policy.vocab + 1)[index]
        return Forward(log_softmax(logits), None, index)
    (w1, b1), (w2, b2) = mlp.layers(theta, sizes(policy))
    pre = np.broadcast_to(b1, (*index.shape[:2], policy.hidden)).copy()
    for slot in range(index.shape[-1]):
        pre += w1[index[..., slot]]
    hidden = np.tanh(pre, out=pre)
    return Forward(log_softmax(hidden @ w2 + b2), hidden, index)


def token_log_probs(fwd: Forward, seqs: Sequences) -> np.ndarray:
    """log π(y_t | c, y_<t) (N, L), zero past |y|."""
    taken = np.take_along_axis(fwd.log_pi, seqs.tokens[..., None], axis=-1)[..., 0]
    return np.where(mask(seqs), taken, taken.dtype.type(0))


def log_prob(fwd: Forward, seqs: Sequences) -> np.ndarray:
    """log π(y | c) = Σ_{t<|y|} log π(y_t | c, y_<t) (N,)."""
    return token_log_probs(fwd, seqs).sum(1)


# ---------------------------------------------------------------------------------------------
# gradients


def score_sum(policy: Policy, theta, seqs: Sequences, fwd: Forward, weights, group_size: int | None = None):
    """Σ_{n,t} w_{n,t} ∇θ log π(y_{n,t} | c_n, y_{n,<t}) for weights (N, L) (zero past |y|): shape
    (d,); with group_size G, one row per group of G consecutive pairs: (N/G, d).

    Through the logits: δ_{n,t} = w_{n,t} (onehot(y_{n,t}) − π(· | …)) (V + 1 per token), then the table
    scatter or MLP backpropagation (module docstring). Tokens of weight 0 add nothing: for one sum
    they are left out; per group they stay, so that every group has the same N/G·L rows."""
    n, length = seqs.tokens.shape
    if group_size is not None and n % group_size:
        raise ValueError(f"{n} sequences do not split into groups of {group_size}")
    groups = 1 if group_size is None else n // group_size
    weights = np.asarray(weights, dtype=policy.dtype).reshape(-1)
    rows = np.flatnonzero(weights) if group_size is None else slice(None)

    def pick(array):
        return array.reshape(n * length, -1)[rows]

    weights, taken, index = weights[rows], seqs.tokens.reshape(-1)[rows], pick(fwd.index)
    delta = np.exp(pick(fwd.log_pi))
    delta *= -weights[:, None]
    delta[np.arange(taken.size), taken] += weights
    if policy.kind == "tabular":
        out = _table_scatter(policy, index[:, 0], delta, groups)
    else:
        out = _mlp_backward(policy, theta, pick(fwd.hidden), index, delta, groups)
    return out[0] if group_size is None else out


def _table_scatter(policy: Policy, rows, delta, groups: int):
    """(groups, d): δ (R, V + 1) added into the logit rows θ[c, t, y_{t−1}, :], group by group (the R
    rows split into `groups` equal consecutive segments)."""
    d, width = n_params(policy), policy.vocab + 1
    rows = rows + np.arange(rows.size) // max(1, rows.size // groups) * (d // width)
    cells = (rows[:, None] * width + np.arange(width)).ravel()
    totals = np.bincount(cells, weights=delta.ravel(), minlength=groups * d)
    return totals.reshape(groups, d).astype(policy.dtype, copy=False)


def _mlp_backward(policy: Policy, theta, hidden, index, delta, groups: int):
    """(groups, d) in θ's layout [W₁, b₁, W₂, b₂]: backpropagation of δ (R, V + 1) through the MLP, the
    R rows split into `groups` equal consecutive segments. W₁'s gradient is Xᵀ δ_h with X the sparse
    one-hot input (k + 2 ones a row; per group, block columns), so it costs R(k + 2)H, not R·F·H."""
    (_, _), (w2, _) = mlp.layers(theta, sizes(policy))
    n_rows, n_hidden, f = delta.shape[0], policy.hidden, n_features(policy)
    delta_hidden = delta @ w2.T
    slope = hidden * hidden
    np.subtract(1, slope, out=slope)
    delta_hidden *= slope
    per = max(1, n_rows // groups)
    columns = index if groups == 1 else index + (np.arange(n_rows) // per * f)[:, None]
    ones = np.ones(columns.size, dtype=delta.dtype)
    one_hot = sparse.csr_matrix((ones, columns.ravel(), np.arange(0, columns.size + 1, columns.shape[1])),
                                shape=(n_rows, groups * f))  # fmt: skip
    w1_grad = (one_hot.T @ delta_hidden).reshape(groups, f * n_hidden)
    if groups == 1:
        blocks = [delta_hidden.sum(0), hidden.T @ delta, delta.sum(0)]
    else:
        dh, h, dz = (a.reshape(groups, per, -1) for a in (delta_hidden, hidden, delta))
        blocks = [dh.sum(1), h.transpose(0, 2, 1) @ dz, dz.sum(1)]
    return np.concatenate([w1_grad, *(b.reshape(groups, -1) for b in blocks)], axis=1)
