"""The Fisher information of a policy and the natural policy gradient (Kakade 2001).

On the states s_1..s_T of a batch, with the expectation over actions taken exactly:

    F = (1/T) Σ_t E_{a~π(·|s_t)}[∇θ log π(a|s_t) ∇θ log π(a|s_t)ᵀ]

    categorical (logits z = f(s; θ), J_t = ∂z/∂θ):  F = (1/T) Σ_t J_tᵀ (diag π_t − π_t π_tᵀ) J_t
    gaussian (mean μ = f(s; θ), log σ):              F = (1/T) Σ_t J_tᵀ diag(σ⁻²) J_t  ⊕  2 I

A Fisher-vector product F v needs no matrix: a forward-mode pass gives u_t = J_t v, the output
metric M_t acts on it, and one backward pass gives Σ_t J_tᵀ (M_t u_t). The natural step solves
(F + λI) x = ĝ by conjugate gradient and scales it to the trust region ½ sᵀ F s = δ:

    s = √(2δ / xᵀ F x) · x

so the KL divergence between successive policies is ≈ δ whatever the parametrisation.
"""

from __future__ import annotations

import numpy as np

from pgcli.base.numerics import softmax
from pgcli.rl import mlp, policies


def _outputs(policy, theta, x):
    net, log_std = policies.views(policy, theta)
    out, cache = mlp.forward(net, x, policy.activation)
    return net, log_std, out, cache


def fisher_vector_product(policy: policies.Policy, theta, x, v, damping: float = 0.0) -> np.ndarray:
    """(F + λI) v without forming F: one forward-mode and one backward pass, (d,)."""
    net, log_std, out, cache = _outputs(policy, theta, x)
    t = x.shape[0]
    v_net = v[: policy.n_net]
    u = mlp.jvp(net, cache, mlp.layers(v_net, policy.sizes), policy.activation)
    if policy.head == "categorical":
        pi = softmax(out)
        metric_u = pi * u - pi * (pi * u).sum(1, keepdims=True)
        result = mlp.backward(net, cache, metric_u / t, policy.activation)
    else:
        metric_u = u * np.exp(-2 * log_std)
        result = np.concatenate([mlp.backward(net, cache, metric_u / t, policy.activation), 2.0 * v[policy.n_net :]])
    return result + damping * v


def fisher_matrix(policy: policies.Policy, theta, x) -> np.ndarray:
    """F formed explicitly (d, d), from per-sample output Jacobians; for small policies."""
    net, log_std, out, cache = _outputs(policy, theta, x)
    t, k = out.shape
    if policy.head == "categorical":
        pi = softmax(out)
        fisher = np.zeros((policy.n_net, policy.n_net))
        for a in range(k):  # F = (1/T) Σ_t Σ_a π_ta s_ta s_taᵀ, s_ta = J_tᵀ (e_a − π_t)
            delta = -pi.copy()
            delta[:, a] += 1.0
            rows = mlp.per_sample(net, cache, delta, policy.activation)
            fisher += (rows * pi[:, a : a + 1]).T @ rows
        return fisher / t
    fisher_net = np.zeros((policy.n_net, policy.n_net))
    inv_std = np.exp(-log_std)
    for j in range(k):
        delta = np.zeros_like(out)
        delta[:, j] = inv_std[j]
        rows = mlp.per_sample(net, cache, delta, policy.activation)
        fisher_net += rows.T @ rows
    d = theta.size
    fisher = np.zeros((d, d))
    fisher[: policy.n_net, : policy.n_net] = fisher_net / t
    fisher[policy.n_net :, policy.n_net :] = 2.0 * np.eye(d - policy.n_net)
    return fisher


def conjugate_gradient(matvec, b: np.ndarray, iters: int, tol: float = 1e-10):
    """Solve A x = b for symmetric positive definite A given x ↦ A x; returns (x, ‖b − A x‖)."""
    x = np.zeros_like(b)
    r = b.copy()
    p = r.copy()
    rr = r @ r
    for _ in range(iters):
        if rr <= tol * tol:
            break
        ap = matvec(p)
        alpha = rr / (p @ ap)
        x += alpha * p
        r -= alpha * ap
        rr_new = r @ r
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x, float(np.linalg.norm(b - matvec(x)))


def natural_step(policy, theta, x, grad, *, step_size, damping, cg_iters, solver="cg"):
    """(s (d,), cg_residual, fisher_cond or NaN): s = √(2δ / xᵀ F x) · x with (F + λI) x = ĝ,
    solved by CG (or exactly) on the states x (T, n_in). Kakade (2001); Schulman et al. (2015)."""
    if solver == "exact":
        fisher = fisher_matrix(policy, theta, x)
        damped = fisher + damping * np.eye(theta.size)
        direction = np.linalg.solve(damped, grad)
        residual = float(np.linalg.norm(grad - damped @ direction))
        curvature = direction @ fisher @ direction
        cond = condition_number(np.linalg.eigvalsh(fisher))
    else:
        direction, residual = conjugate_gradient(
            lambda v: fisher_vector_product(policy, theta, x, v, damping), grad, cg_iters
        )
        curvature = direction @ fisher_vector_product(policy, theta, x, direction)
        cond = np.nan
    if not curvature > 0:
        return np.zeros_like(theta), residual, cond
    return np.sqrt(2 * step_size / curvature) * direction, residual, cond


def kl_divergence(policy: policies.Policy, theta_old, theta_new, x) -> float:
    """(1/T) Σ_t KL(π_old(·|s_t) ‖ π_new(·|s_t)) over states x (T, n_in), in closed form:
    Σ_a π_old log(π_old/π_new) (categorical); Σ_j log(σ_new/σ_old) + (σ_old² + Δμ²)/(2σ_new²) − ½
    (Gaussian). The KL a trust region bounds (Schulman et al. 2015)."""
    _, log_std_old, out_old, _ = _outputs(policy, theta_old, x)
    _, log_std_new, out_new, _ = _outputs(policy, theta_new, x)
    if policy.head == "categorical":
        log_old = np.log(np.maximum(softmax(out_old), 1e-300))
        log_new = np.log(np.maximum(softmax(out_new), 1e-300))
        return float((np.exp(log_old) * (log_old - log_new)).sum(1).mean())
    var_old, var_new = np.exp(2 * log_std_old), np.exp(2 * log_std_new)
    per_dim = log_std_new - log_std_old + (var_old + (out_old - out_new) ** 2) / (2 * var_new) - 0.5
    return float(per_dim.sum(1).mean())


def rank(eigenvalues: np.ndarray) -> int:
    """Numerical rank: eigenvalues above max · d · machine epsilon (numpy's matrix_rank rule)."""
    top = np.abs(eigenvalues).max(initial=0.0)
    return int((eigenvalues > top * eigenvalues.size * np.finfo(float).eps).sum())


def condition_number(eigenvalues: np.ndarray, nonzero: bool = False) -> float:
    """λ_max / λ_min (inf when F is singular), or over the nonzero spectrum only."""
    kept = np.sort(eigenvalues)[::-1][: rank(eigenvalues)]
    if kept.size == 0:
        return np.nan
    if not nonzero and kept.size < eigenvalues.size:
        return np.inf
    return float(kept[0] / kept[-1])


# ---------------------------------------------------------------------------------------------
# `pgcli fisher --policy`: the Fisher matrix of a trained (or initial) policy


POLICY_FISHER_COLUMNS = ["quantity", "row", "col", "value"]
SMALL_POLICY = 64  # entry rows are written for policies with at most this many parameters


def param_names(policy: policies.Policy) -> list[str]:
    """Readable names of θ's coordinates: l0.W[i,j], l0.b[j], ..., log_std[k]."""
    names = []
    for index, (i, o) in enumerate(zip(policy.sizes[:-1], policy.sizes[1:], strict=True)):
        names += [f"l{index}.W[{r},{c}]" for r in range(i) for c in range(o)]
        names += [f"l{index}.b[{c}]" for c in range(o)]
    if policy.head == "gaussian":
        names += [f"log_std[{k}]" for k in range(policy.sizes[-1])]
    return names


def policy_fisher(policy: policies.Policy, theta: np.ndarray, x: np.ndarray):
    """Rows (quantity, row, col, value): summary, the eigenvalue spectrum (descending), and
    every entry when the policy is small; plus the eigenvalues themselves."""
    fisher = fisher_matrix(policy, theta, x)
    eigenvalues = np.sort(np.linalg.eigvalsh(fisher))[::-1]
    rows = [
        ("n_states", "", "", float(x.shape[0])),
        ("n_params", "", "", float(theta.size)),
        ("rank", "", "", float(rank(eigenvalues))),
        ("condition_number", "", "", condition_number(eigenvalues)),
        ("condition_number_nonzero", "", "", condition_number(eigenvalues, nonzero=True)),
        ("trace", "", "", float(np.trace(fisher))),
    ]
    rows += [("eigenvalue", str(i), "", float(v)) for i, v in enumerate(eigenvalues)]
    if theta.size <= SMALL_POLICY:
        names = param_names(policy)
        rows += [("entry", names[i], names[j], float(fisher[i, j])) for i, j in np.ndindex(fisher.shape)]
    return rows, eigenvalues
