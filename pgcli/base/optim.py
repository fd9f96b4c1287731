"""First-order optimisers as pure functions: (gradient, state, lr) -> (step, new state).

The step is added for ascent (policy) or subtracted for descent (value function).

    sgd    step = lr · g
    adam   m ← β₁m + (1−β₁)g,  v ← β₂v + (1−β₂)g²,  step = lr · m̂ / (√v̂ + ε)   (Kingma & Ba 2015)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class AdamState(NamedTuple):
    """Adam's first and second moment estimates m, v (d,) and its step count t."""

    m: np.ndarray
    v: np.ndarray
    t: int


def adam_init(d: int) -> AdamState:
    """The state before the first step: m = v = 0 (d,), t = 0."""
    return AdamState(np.zeros(d), np.zeros(d), 0)


def adam_step(grad, state: AdamState, lr: float, beta1=0.9, beta2=0.999, eps=1e-8):
    """(lr · m̂ / (√v̂ + ε), new state) for a gradient g (d,), with the bias-corrected moments
    m̂ = m / (1 − β₁ᵗ), v̂ = v / (1 − β₂ᵗ). Reference: Kingma & Ba, "Adam", ICLR 2015, Algorithm 1."""
    t = state.t + 1
    m = beta1 * state.m + (1 - beta1) * grad
    v = beta2 * state.v + (1 - beta2) * grad * grad
    m_hat = m / (1 - beta1**t)
    v_hat = v / (1 - beta2**t)
    return lr * m_hat / (np.sqrt(v_hat) + eps), AdamState(m, v, t)


def sgd_step(grad, state, lr: float):
    """(lr · g, state unchanged): plain stochastic gradient steps (Robbins & Monro 1951)."""
    return lr * grad, state


OPTIMISERS = {"sgd": sgd_step, "adam": adam_step}  # first-order steps, one registry for train and optimize
