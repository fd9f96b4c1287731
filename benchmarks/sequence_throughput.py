"""Gradient estimates per second for the MLP sequence policy, pgcli (NumPy) against PyTorch autograd.

One estimate: sample B = 64 prompts × G = 8 completions from an MLP policy (V = 16 tokens + EOS,
L = 12, context k = 2, H = 64 tanh units: d = 11,473), score them (R = count of token 3), compute
the RLOO advantages and the gradient Σ_i c_i A_i ∇log π(y_i | c) of the batch (d,). pgcli does it with
pgcli.seq (hand-written backpropagation over the sampling pass); PyTorch with the same network, the
same inverse-CDF sampling (one uniform per token) and the same reward function, recording the
sampling pass on its tape and calling backward() — both on one thread (torch.set_num_threads(1);
pgcli under threadpoolctl with one BLAS thread, as its executors run). Measured in the same run, in
float32 and float64; the ratio is pgcli ÷ torch (goal: ≥ 1 in float32). Before timing, the two
gradients of one batch of the same sequences are compared (they must agree to float precision).

A second pgcli row also returns the B per-group terms (B, d) the fine-tuning loop uses for
grad_var/grad_snr — more output than torch's one gradient.

    python benchmarks/sequence_throughput.py [--seconds 3] [--rounds 3]   # torch: benchmarks/requirements-peers.txt
"""

from __future__ import annotations

import argparse
import functools
import time

import numpy as np
from threadpoolctl import threadpool_limits

from pgcli.seq import evaluate, kl, policy, rewards
from pgcli.seq.space import content_lengths

P, V, L, G, K, H = 64, 16, 12, 8, 2, 64
ESTIMATOR = "rloo"
INSTALL = "python3 -m venv /work/peers && /work/peers/bin/pip install -r benchmarks/requirements-peers.txt -e ."


def setup(dtype: str):
    pol = policy.make_policy("mlp", P, V, L, context=K, hidden=H, dtype=dtype)
    rng = np.random.default_rng(0)
    theta = (policy.init_params(pol, rng) + 0.05 * rng.standard_normal(policy.n_params(pol))).astype(dtype)
    return pol, theta, rewards.make_reward("count", P, V, L, token=3)


def pgcli_estimate(pol, theta, reward, rng, per_group: bool):
    """One batch: sample, reward, RLOO weights, gradient (d,) or per-group terms (B, d)."""
    sample = evaluate.draw(pol, theta, reward, evaluate.Setup(G, P, 1), 1, rng)
    weights, _ = evaluate.loss.policy_weights(ESTIMATOR, sample.group, sample.token_mask, kl.NO_PENALTY)
    flat = weights.reshape(P * G, L) / P
    if per_group:
        return policy.score_sum(pol, theta, sample.seqs, sample.fwd, flat, group_size=G)
    return policy.score_sum(pol, theta, sample.seqs, sample.fwd, flat)


def rate(function, seconds: float) -> float:
    """Calls per second of function() over about `seconds` (after one warm-up call)."""
    function()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        function()
        count += 1
    return count / (time.perf_counter() - start)


def rates(functions: dict, seconds: float, rounds: int) -> dict:
    """{name: median calls/s} over `rounds` rounds that take turns, so a change in the machine's
    load hits every side alike."""
    found = {name: [] for name in functions}
    for _ in range(rounds):
        for name, function in functions.items():
            found[name].append(rate(function, seconds / rounds))
    return {name: float(np.median(values)) for name, values in found.items()}


# ---------------------------------------------------------------------------------------------
# the same estimator in PyTorch


def torch_model(pol, theta, dtype):
    import torch

    views = policy.mlp.layers(np.asarray(theta, dtype=np.float64), policy.sizes(pol))
    kind = getattr(torch, dtype)
    return [torch.tensor(np.array(a), dtype=kind, requires_grad=True) for layer in views for a in layer]


def torch_logits(params, prompts, t, prev):
    import torch

    w1, b1, w2, b2 = params
    rows = P + L + (V + 1) * torch.arange(K) + prev  # (N, k) context rows of W1
    pre = w1[prompts] + b1 + w1[P + t] + w1[rows].sum(1)
    return torch.log_softmax(torch.tanh(pre) @ w2 + b2, dim=-1)


def torch_estimate(params, reward, generator, dtype, tokens_given=None):
    """Sample on the tape (or replay given tokens), reward, RLOO, backward: the gradient (d,)."""
    import torch

    kind = getattr(torch, dtype)
    prompts = torch.arange(P).repeat_interleave(G)
    n = P * G
    prev = torch.full((n, K), V)
    alive = torch.ones(n, dtype=torch.bool)
    tokens = torch.full((n, L), V)
    chosen_log_probs, masks = [], []
    for t in range(L):
        log_pi = torch_logits(params, prompts, t, prev)
        with torch.no_grad():
            if tokens_given is None:
                cumulative = torch.cumsum(torch.exp(log_pi[:, :-1]), 1)
                u = torch.rand(n, generator=generator, dtype=kind)
                token = (cumulative < u[:, None]).sum(1)
            else:
                token = tokens_given[:, t]
            token = torch.where(alive, token, V)
        tokens[:, t] = token
        chosen_log_probs.append(log_pi.gather(1, token[:, None])[:, 0])
        masks.append(alive.clone())
        alive = alive & (token != V)
        prev = torch.cat([token[:, None], prev[:, :-1]], 1)
        if not alive.any():
            break
    mask = torch.stack(masks, 1)
    log_prob = (torch.stack(chosen_log_probs, 1) * mask).sum(1)
    n_tokens = mask.sum(1).numpy()
    tokens_np = tokens.numpy()
    from pgcli.seq.space import Sequences

    lengths = content_lengths(Sequences(prompts.numpy(), tokens_np, n_tokens), V)
    r = torch.tensor(reward(prompts.numpy(), tokens_np, lengths), dtype=kind).view(P, G)
    advantages = r - (r.sum(1, keepdim=True) - r) / (G - 1)
    objective = (advantages.view(-1) * log_prob).sum() / (G * P)  # c_i = 1/G, mean over the P groups
    for p in params:
        p.grad = None
    objective.backward()  # its gradient is the ascent direction ĝ, as pgcli's
    return torch.cat([p.grad.reshape(-1) for p in params]).numpy()


def agreement(pol, theta, reward, dtype) -> float:
    """max |pgcli − torch| / max |torch| of the gradient of one batch of the same sequences."""
    import torch

    sample = evaluate.draw(pol, theta, reward, evaluate.Setup(G, P, 1), 1, np.random.default_rng(1))
    order = np.argsort(sample.seqs.prompts, kind="stable")  # torch's batch is prompt-major, as is ours per group
    weights, _ = evaluate.loss.policy_weights(ESTIMATOR, sample.group, sample.token_mask, kl.NO_PENALTY)
    ours = policy.score_sum(pol, theta, sample.seqs, sample.fwd, weights.reshape(P * G, L) / P)
    prompts_sorted = sample.seqs.prompts[order]
    assert np.array_equal(prompts_sorted, np.repeat(np.arange(P), G))
    theirs = torch_estimate(
        torch_model(pol, theta, dtype), reward, None, dtype, torch.tensor(sample.seqs.tokens[order])
    )
    return float(np.abs(ours - theirs).max() / np.abs(theirs).max())


def measure(seconds: float = 3.0, rounds: int = 3) -> list[dict]:
    """Rows for benchmarks/results.csv (figure, value, ratio, reference)."""
    rows = []
    try:
        import torch
    except ImportError:
        torch = None
        print(f"torch is not installed: the PyTorch side is skipped (install it with: {INSTALL})")
    if torch is not None:
        torch.set_num_threads(1)
    for dtype in ("float32", "float64"):
        pol, theta, reward = setup(dtype)
        rng = np.random.default_rng(2)
        sides = {
            "pgcli": functools.partial(pgcli_estimate, pol, theta, reward, rng, False),
            "grouped": functools.partial(pgcli_estimate, pol, theta, reward, rng, True),
        }
        if torch is not None:
            generator = torch.Generator().manual_seed(0)
            sides["torch"] = functools.partial(torch_estimate, torch_model(pol, theta, dtype), reward, generator, dtype)
        with threadpool_limits(1, user_api="blas"):
            found = rates(sides, seconds * len(sides), rounds)
        ours = found["pgcli"]
        figure = f"seq: {ESTIMATOR} gradient estimates/s, MLP V={V} L={L} G={G} {P} prompts, {dtype}"
        if torch is None:
            rows.append({"figure": figure, "value": ours, "ratio": np.nan, "reference": "torch not installed"})
        else:
            gap = agreement(pol, theta, reward, dtype)
            rows.append({"figure": figure, "value": ours, "ratio": ours / found["torch"],
                         "reference": f"torch {torch.__version__} autograd, 1 thread: {found['torch']:.4g}/s "
                                      f"(ratio = pgcli ÷ torch, goal ≥ 1 in float32; gradients agree to {gap:.1e})"})  # fmt: skip
        rows.append({"figure": f"seq: the same with the {P} per-group terms (B, d), {dtype}", "value": found["grouped"],
                     "ratio": found["grouped"] / ours, "reference": "ratio to pgcli's single gradient"})  # fmt: skip
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="timing per side and dtype")
    parser.add_argument("--rounds", type=int, default=3, help="rounds the sides take turns in (median)")
    args = parser.parse_args()
    for row in measure(args.seconds, args.rounds):
        print(f"{row['figure']}: {row['value']:.4g}   ratio {row['ratio']:.2f}   ({row['reference']})")


if __name__ == "__main__":
    main()
