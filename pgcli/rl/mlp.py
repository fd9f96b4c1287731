"""A small NumPy multilayer perceptron with hand-written derivatives.

Parameters live in one flat vector θ (layer by layer: W then b, row-major), so optimisers,
Fisher-vector products and finite-difference checks see a plain array. For inputs x (T, in):

    a_0 = x,   a_l = act(a_{l−1} W_l + b_l)   (l < L),   out = a_{L−1} W_L + b_L

Given δ = ∂ℓ/∂out (T, out), backpropagation gives ∂ℓ/∂θ summed over the T rows (`backward`),
or one row per input (`per_sample`, shape (T, d): the Jacobian of per-sample losses, which is
what per-episode policy-gradient terms and the empirical Fisher matrix are made of).
"""

from __future__ import annotations

import itertools

import numpy as np

ACTIVATIONS = {
    # name: (act(z), act'(z) written in terms of a = act(z), act(z) computed in z's own memory)
    "tanh": (np.tanh, lambda a: 1.0 - a * a, lambda z: np.tanh(z, out=z)),
    "relu": (lambda z: np.maximum(z, 0.0), lambda a: (a > 0).astype(a.dtype), lambda z: np.maximum(z, 0.0, out=z)),
}


def n_params(sizes: list[int]) -> int:
    """d = Σ_l (in_l + 1) out_l: weights and biases of every layer."""
    return sum((i + 1) * o for i, o in itertools.pairwise(sizes))


def layers(theta: np.ndarray, sizes: list[int]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Views (W, b) of each layer inside the flat θ (no copies)."""
    out, start = [], 0
    for i, o in itertools.pairwise(sizes):
        w = theta[start : start + i * o].reshape(i, o)
        start += i * o
        out.append((w, theta[start : start + o]))
        start += o
    return out


def init(sizes: list[int], rng: np.random.Generator, out_gain: float = 0.01) -> np.ndarray:
    """Orthogonal weights (gain √2 for hidden layers, `out_gain` for the output), zero biases."""
    parts = []
    for index, (i, o) in enumerate(itertools.pairwise(sizes)):
        gain = out_gain if index == len(sizes) - 2 else np.sqrt(2.0)
        a = rng.standard_normal((max(i, o), min(i, o)))
        q, r = np.linalg.qr(a)
        q *= np.sign(np.diag(r))
        w = q if i >= o else q.T
        parts += [gain * w[:i, :o].ravel(), np.zeros(o)]
    return np.concatenate(parts)


def forward(layer_views, x: np.ndarray, activation: str = "tanh"):
    """Output (T, out) and the cache of layer inputs for the derivatives.

    Each layer's bias and activation are applied in the memory its product a W was computed in: the
    same arithmetic as act(a W + b) without two temporaries per layer (this runs once per vector
    step of every rollout, and several times per PPO minibatch)."""
    act = ACTIVATIONS[activation][2]
    cache = [x]
    a = x
    for w, b in layer_views[:-1]:
        a = a @ w
        a += b
        act(a)
        cache.append(a)
    w, b = layer_views[-1]
    out = a @ w
    out += b
    return out, cache


def backward(layer_views, cache, delta: np.ndarray, activation: str = "tanh") -> np.ndarray:
    """Σ_rows ∂ℓ/∂θ for output gradients δ (T, out); flat, in θ's layout (written in place into
    one array, layer by layer from the last: the sums and products of concatenating them)."""
    deriv = ACTIVATIONS[activation][1]
    grad = np.empty(sum(w.size + b.size for w, b in layer_views))
    end = grad.size
    for index in range(len(layer_views) - 1, -1, -1):
        w, b = layer_views[index]
        a = cache[index]
        np.add.reduce(delta, axis=0, out=grad[end - b.size : end])
        end -= b.size
        np.matmul(a.T, delta, out=grad[end - w.size : end].reshape(w.shape))
        end -= w.size
        if index:
            delta = delta @ w.T
            delta *= deriv(a)
    return grad


def per_sample(layer_views, cache, delta: np.ndarray, activation: str = "tanh", starts=None) -> np.ndarray:
    """Row t is ∂ℓ_t/∂θ for output gradient δ_t: shape (T, d), θ's layout.

    With `starts` (first row of each of E contiguous segments), row e is instead the sum over
    segment e, shape (E, d) — computed per layer as A_eᵀ Δ_e, never forming the (T, d) rows."""
    deriv = ACTIVATIONS[activation][1]
    rows = delta.shape[0] if starts is None else len(starts)
    bounds = None if starts is None else list(zip(starts, [*starts[1:], delta.shape[0]], strict=True))
    blocks = []
    for index in range(len(layer_views) - 1, -1, -1):
        w, _ = layer_views[index]
        a = cache[index]
        if bounds is None:
            blocks.append(delta)
            blocks.append((a[:, :, None] * delta[:, None, :]).reshape(rows, -1))
        else:
            blocks.append(np.add.reduceat(delta, starts, axis=0))
            blocks.append(np.stack([(a[i:j].T @ delta[i:j]).ravel() for i, j in bounds]))
        if index:
            delta = (delta @ w.T) * deriv(a)
    return np.concatenate(blocks[::-1], axis=1)


def jvp(layer_views, cache, direction_views, activation: str = "tanh") -> np.ndarray:
    """∂out/∂θ · v for every row (T, out): forward-mode derivative along v (same layout as θ)."""
    deriv = ACTIVATIONS[activation][1]
    tangent = np.zeros_like(cache[0])
    for index, ((w, _), (dw, db)) in enumerate(zip(layer_views, direction_views, strict=True)):
        a = cache[index]
        tangent = tangent @ w + a @ dw + db
        if index < len(layer_views) - 1:
            tangent = tangent * deriv(cache[index + 1])
    return tangent
