"""A reward of your own for `pgcli sequence` and `pgcli finetune` (docs/sequence.md):

    pgcli finetune --trust examples --reward seq_rewards:palindrome --vocab 3 --max-len 5

A reward is vectorised over a batch of N (prompt, completion) pairs: prompts (N,), tokens (N, L)
with the end-of-sequence token V in every slot after the content, lengths (N,) the content lengths;
it returns N numbers. pgcli imports a module only from a trusted directory (beside the spec, under
--trust DIR, or the working directory for a --reward typed on the command line).
"""

import numpy as np


def palindrome(prompts, tokens, lengths, *, min_length=3):
    """1 if the content reads the same backwards and has at least `min_length` tokens, else 0."""
    max_len = tokens.shape[1]
    positions = np.arange(max_len)
    mirrored = np.clip(lengths[:, None] - 1 - positions, 0, max_len - 1)  # position l − 1 − t
    same = (tokens == np.take_along_axis(tokens, mirrored, axis=1)) | (positions >= lengths[:, None])
    return (same.all(1) & (lengths >= min_length)) * 1.0
