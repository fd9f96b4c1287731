"""Numerics both cores share: softmax and its log, and how noisy a gradient estimate is.

softmax(z)_j = exp(z_j − max z) / Σ_k exp(z_k − max z)
gradient_stats(ĝ, g): ‖ĝ‖, grad_var = tr Cov(g_i) / m, grad_snr = ‖ĝ‖² / grad_var
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    """π_j = exp(z_j − max z) / Σ_k exp(z_k − max z) along the last axis: the categorical's
    probabilities from logits z (K,) or a batch of them (N, K); shifting by the max keeps exp finite."""
    z = logits - logits.max(-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(-1, keepdims=True)
    return z


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log softmax(z)_a = z_a − log Σ_b exp z_b along the last axis (rows (T, k), or any batch
    shape), shifted by max z for stability, in z's dtype."""
    z = logits - logits.max(-1, keepdims=True)
    z -= np.log(np.exp(z).sum(-1, keepdims=True))
    return z


def mean_and_std_error(grads: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of per-sample terms (n, d) and its standard error std(ddof=1)/√n."""
    n = grads.shape[0]
    std = grads.std(0, ddof=1) if n > 1 else np.full(grads.shape[1:], np.nan)
    return grads.mean(0), std / np.sqrt(n)


class GradientStats(NamedTuple):
    """How noisy a gradient estimate is: the columns grad_norm, grad_var, grad_snr."""

    grad_norm: float
    grad_var: float
    grad_snr: float


def gradient_stats(grad: np.ndarray, grads: np.ndarray) -> GradientStats:
    """(‖ĝ‖, grad_var, grad_snr) of an estimate ĝ (d,) built from m terms g_i (m, d):

        grad_var = tr Cov(g_i) / m     (the variance of a mean of m terms, summed over θ; NaN if m = 1)
        grad_snr = ‖ĝ‖² / grad_var     (NaN when grad_var is 0 or NaN)

    The terms are per-sample (optimize) or per-episode/segment (train) contributions whose mean
    is ĝ. Reference: Mohamed et al., JMLR 2020, §3 (estimator variance)."""
    m = grads.shape[0]
    var = float(grads.var(0, ddof=1).sum() / m) if m > 1 else np.nan
    norm2 = float(grad @ grad)
    return GradientStats(np.sqrt(norm2), var, norm2 / var if var > 0 else np.nan)
