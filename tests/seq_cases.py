"""Small sequence problems shared by the tests of pgcli.seq: every space here is enumerable."""

import numpy as np

from pgcli.seq import policy, rewards

KINDS = ("tabular", "mlp")


def small_policy(kind: str, dtype: str = "float64", *, n_prompts=2, vocab=2, max_len=3, seed=0, spread=0.5):
    """A policy and a random θ away from the uniform one (so every estimator has work to do)."""
    pol = policy.make_policy(kind, n_prompts, vocab, max_len, context=2, hidden=4, dtype=dtype)
    rng = np.random.default_rng(seed)
    theta = policy.init_params(pol, rng) + spread * rng.standard_normal(policy.n_params(pol))
    return pol, theta.astype(dtype)


def reference(theta, seed=1, spread=0.4):
    """A reference policy's θ near θ."""
    rng = np.random.default_rng(seed)
    return (theta + spread * rng.standard_normal(theta.size)).astype(theta.dtype)


def count_ones(pol):
    """R = number of 1s in the content: longer completions earn more, so lengths matter."""
    return rewards.make_reward("count", pol.n_prompts, pol.vocab, pol.max_len, token=1)
