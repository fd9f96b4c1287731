"""Rewards of the sequence specs beside this file (finetune-large.yaml names `seq_rewards:near_sum`).

A reward is vectorised over a batch of N (prompt, completion) pairs: prompts (N,), tokens (N, L)
padded with the end-of-sequence token V after the content, lengths (N,) the content lengths; it
returns (N,) numbers. pgcli imports a spec's module only from the spec's own directory (or --trust).
"""

import numpy as np


def near_sum(prompts, tokens, lengths):
    """1 − |Σ_j y_j − 10 (c + 1)| / 50: how close the content's token sum is to the prompt's target
    (10 for prompt 0, 20 for prompt 1, ...); 1 exactly on target."""
    content = np.where(np.arange(tokens.shape[1]) < lengths[:, None], tokens, 0)
    return 1.0 - np.abs(content.sum(1) - 10.0 * (prompts + 1)) / 50.0
