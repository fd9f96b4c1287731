"""Each estimator against the exact gradient: `estimate`-style rows for sequence policies.

For one estimator, `reps` independent batches (B groups of G completions, prompts drawn by
space.batch_prompts) give `reps` estimates ĝ_1..ĝ_R of the target x* (d,) — ∇J_β = ∇E[R] − β∇KL for
the policy-gradient estimators, ∇KL for a KL placement, KL itself for a KL value — and

    mean        m = (1/R) Σ_r ĝ_r;   std_error_j = sd_j/√R;   z_j = (m_j − x*_j)/std_error_j
    variance    tr Cov(ĝ) = Σ_j sd_j²: the variance of one estimate, summed over θ
    snr         ‖m‖²/variance: unlike the variance, blind to an estimator's scale (dr_grpo's 1/L)
    cosine      ⟨m, x*⟩/(‖m‖‖x*‖);   scale s = ⟨m, x*⟩/‖x*‖²;   scale_z = max_j |m_j − s x*_j|/std_error_j
    bias_kind   none (max |z| ≤ 4) · zero (not that, but m is within 4 SE of 0: no signal on average)
                · scale (s > 0 and scale_z ≤ 4: biased in scale only, it points the right way)
                · direction (otherwise)
    efficiency  1/(variance × seconds per estimate), seconds including sampling (pgcli/lab/estimate.py);
                like the variance it rewards a small scale, so compare scaled estimators by snr

Where every G-tuple can be enumerated (exact.expected_estimate) the expectation E[ĝ] is exact too:
expected_cosine, expected_scale, expected_bias_norm, expected_kind (the same test, exactly), and
expected_z = max_j |m_j − E[ĝ]_j|/std_error_j — the measured mean against the exact expectation
(≤ 4 when the implementation is right, biased or not). Those columns are blank above the limit, for
reinforce_mean with B > 1 (its batch mean couples the groups; the exact expectation has B = 1), and
where there is no exact target at all. One row per estimator (:data:`COLUMNS`), and one per estimator
and coordinate (:data:`COORDINATE_COLUMNS`).
"""

from __future__ import annotations

import time
from typing import NamedTuple

import numpy as np

from pgcli.base.progress import Progress, silent
from pgcli.base.streams import cell_rng
from pgcli.seq import exact, kl, loss, policy
from pgcli.seq.estimators import BATCH_COUPLED, CLAIMS, NEEDS_GREEDY, Group, group_problem
from pgcli.seq.space import Sequences, batch_prompts, content_lengths, mask

Z_LIMIT = 4.0  # |bias| within 4 standard errors counts as none
CHUNK_ELEMENTS = 1 << 22  # estimates × d held at once

COLUMNS = [
    "target", "estimator", "claim", "group_size", "n_groups", "reps", "beta", "kl_estimator", "kl_placement",
    "exact_norm", "mean_norm", "bias_norm", "max_abs_z", "variance", "snr", "cosine", "scale", "scale_z", "bias_kind",
    "expected_cosine", "expected_scale", "expected_bias_norm", "expected_kind", "expected_z",
    "seconds", "sequences_per_s", "efficiency",
]  # fmt: skip
COORDINATE_COLUMNS = ["target", "estimator", "param", "label", "mean", "exact", "expected", "bias", "std_error", "z",
                      "variance"]  # fmt: skip
KL_VALUE_COLUMNS = ["kl_estimator", "group_size", "n_groups", "reps", "mean", "exact", "expected", "bias",
                    "std_error", "z", "expected_z", "variance", "bias_kind", "seconds", "efficiency"]  # fmt: skip
WALL_CLOCK = ("seconds", "sequences_per_s", "efficiency")


class Setup(NamedTuple):
    """How the estimators are sampled: G completions per group, B groups per estimate, R estimates,
    and the KL penalty of the objective (β = 0: none)."""

    group_size: int = 4
    n_groups: int = 8
    reps: int = 200
    penalty: kl.Penalty = kl.NO_PENALTY


class Evaluation(NamedTuple):
    """Rows by column name: one per estimator (COLUMNS), per coordinate (COORDINATE_COLUMNS), per KL
    value estimator (KL_VALUE_COLUMNS, evaluate_kl only); and notes on blank columns."""

    rows: list[dict]
    coordinates: list[dict]
    kl_values: list[dict]
    notes: list[str]


def claim(name: str, penalty: kl.Penalty) -> str:
    """What an estimator claims for ∇J_β with a KL penalty: its own claim (estimators.CLAIMS) with
    no penalty, or with k1 in the reward (R − βK₁ is just another reward); with k1 as a reward-to-go
    an unbiased estimator stays unbiased, but a scaled one is biased (its KL part is not scaled like
    its reward part); any other placement is biased (kl.EXACT_GRADIENT)."""
    if penalty.beta == 0 or (penalty.estimator, penalty.placement) == ("k1", "reward"):
        return CLAIMS[name]
    if (penalty.estimator, penalty.placement) in kl.EXACT_GRADIENT and CLAIMS[name] == "unbiased":
        return "unbiased"
    return "biased"


def setup_problem(setup: Setup, estimators=()) -> str | None:
    """What is wrong with a setup and the estimators to evaluate on it, or None."""
    problems = [group_problem(name, setup.group_size) for name in estimators]
    problems += [kl.penalty_problem(setup.penalty)]
    problems += [f"{key} must be ≥ {low}, got {value}" for key, value, low in
                 (("n_groups", setup.n_groups, 1), ("reps", setup.reps, 2)) if value < low]  # fmt: skip
    problems = [p for p in problems if p]
    return "; ".join(problems) if problems else None


# ---------------------------------------------------------------------------------------------
# drawing estimates


class Draw(NamedTuple):
    """R batches at once: the sequences (R·B·G pairs, batch-major), their forward pass, the Group
    arrays (R, B, G), token mask and log π − log π_ref per token (R, B, G, L) or None."""

    seqs: Sequences
    fwd: policy.Forward
    group: Group
    token_mask: np.ndarray
    log_ratio: np.ndarray | None


def draw(pol: policy.Policy, theta, reward, setup: Setup, reps: int, rng, *, greedy=False, theta_ref=None) -> Draw:
    """`reps` independent batches of B groups × G completions, sampled in one pass."""
    b, g, length = setup.n_groups, setup.group_size, pol.max_len
    prompts = batch_prompts(pol.n_prompts, b, rng, reps).ravel()
    seqs, fwd = policy.sample(pol, theta, np.repeat(prompts, g), rng)
    rewards = reward(seqs.prompts, seqs.tokens, content_lengths(seqs, pol.vocab))
    greedy_rewards = None
    if greedy:
        best, _ = policy.greedy(pol, theta, prompts)
        greedy_rewards = reward(best.prompts, best.tokens, content_lengths(best, pol.vocab)).reshape(reps, b)
    log_ratio = None
    if theta_ref is not None:
        ref = policy.token_log_probs(policy.forward(pol, theta_ref, seqs), seqs)
        log_ratio = (policy.token_log_probs(fwd, seqs) - ref).reshape(reps, b, g, length)
    group = Group(rewards.reshape(reps, b, g), seqs.n_tokens.reshape(reps, b, g), length, greedy_rewards)
    return Draw(seqs, fwd, group, mask(seqs).reshape(reps, b, g, length), log_ratio)


def estimates(pol: policy.Policy, theta, sample: Draw, estimator: str, penalty: kl.Penalty, **options):
    """The R batch estimates ĝ_r = (1/B) Σ_b Σ_{i,t} w_{b,i,t} ∇log π(y_{b,i,t} | …), shape (R, d)."""
    weights, scales = loss.policy_weights(estimator, sample.group, sample.token_mask, penalty, sample.log_ratio,
                                          **options)  # fmt: skip
    kl_weights = loss.kl_loss_weights(penalty, scales, sample.token_mask, sample.log_ratio)
    if kl_weights is not None:
        weights = weights + kl_weights
    reps, b, g, length = weights.shape
    flat = weights.reshape(reps * b * g, length) / b
    return policy.score_sum(pol, theta, sample.seqs, sample.fwd, flat, group_size=b * g)


def _chunks(pol: policy.Policy, reps: int, setup: Setup) -> list[int]:
    per = max(1, min(reps, CHUNK_ELEMENTS // max(policy.n_params(pol), setup.n_groups * setup.group_size * 64)))
    return [min(per, reps - start) for start in range(0, reps, per)]


class Moments(NamedTuple):
    """Running statistics of R estimates (d,): count, mean and the sum of squared deviations M₂,
    merged chunk by chunk (Chan, Golub & LeVeque 1983), so R × d never sits in memory at once."""

    count: int
    mean: np.ndarray
    m2: np.ndarray


def moments(values: np.ndarray) -> Moments:
    """The Moments of R estimates (R, d), in float64."""
    values = np.asarray(values, dtype=np.float64)
    mean = values.mean(0)
    return Moments(values.shape[0], mean, ((values - mean) ** 2).sum(0))


def merge(a: Moments | None, b: Moments) -> Moments:
    """The Moments of two sets of estimates together."""
    if a is None:
        return b
    count = a.count + b.count
    delta = b.mean - a.mean
    return Moments(count, a.mean + delta * b.count / count, a.m2 + b.m2 + delta**2 * a.count * b.count / count)


def _timed_estimates(pol, theta, reward, setup, rng, estimator, penalty, theta_ref, options):
    """(Moments of R estimates of one estimator, the seconds they took, sampling included)."""
    found, start = None, time.perf_counter()
    for count in _chunks(pol, setup.reps, setup):
        sample = draw(pol, theta, reward, setup, count, rng, greedy=estimator in NEEDS_GREEDY, theta_ref=theta_ref)
        found = merge(found, moments(estimates(pol, theta, sample, estimator, penalty, **options)))
    return found, time.perf_counter() - start


# ---------------------------------------------------------------------------------------------
# statistics


def _z(difference, std_error, reference):
    """difference/std_error; an exact zero difference (≤ 1e-10 relative) is 0 even with zero std error."""
    tiny = np.abs(difference) <= 1e-10 * np.maximum(1.0, np.abs(reference))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = difference / std_error
    return np.where(tiny, 0.0, z)


def _kind(bias_z, zero_z, scale, scale_z) -> str:
    """none (mean within 4 SE of the target) · zero (within 4 SE of 0) · scale · direction."""
    if bias_z <= Z_LIMIT:
        return "none"
    if zero_z <= Z_LIMIT:
        return "zero"
    return "scale" if scale > 0 and scale_z <= Z_LIMIT else "direction"


def _cosine_scale(vector, target):
    norms = np.linalg.norm(vector) * np.linalg.norm(target)
    target2 = target @ target
    cosine = float(vector @ target / norms) if norms > 0 else np.nan
    return cosine, float(vector @ target / target2) if target2 > 0 else np.nan


def summarise(found: Moments, target: np.ndarray, expected: np.ndarray | None):
    """(the statistics columns of one row, mean, std_error, z, variance per coordinate) from the
    Moments of R estimates, the exact target (d,) (NaN: none) and the exact expectation E[ĝ] (d,) or
    None (module docstring)."""
    reps, mean = found.count, found.mean
    var = found.m2 / (reps - 1) if reps > 1 else np.full(mean.shape, np.nan)
    std_error = np.sqrt(var / reps)
    z = _z(mean - target, std_error, target)
    cosine, scale = _cosine_scale(mean, target)
    scale_z = float(np.max(np.abs(_z(mean - scale * target, std_error, target)))) if np.isfinite(scale) else np.nan
    max_abs_z = float(np.max(np.abs(z)))
    row = {
        "exact_norm": float(np.linalg.norm(target)), "mean_norm": float(np.linalg.norm(mean)),
        "bias_norm": float(np.linalg.norm(mean - target)), "max_abs_z": max_abs_z, "variance": float(var.sum()),
        "snr": float(mean @ mean / var.sum()) if var.sum() > 0 else np.nan,
        "cosine": cosine, "scale": scale, "scale_z": scale_z,
        "bias_kind": _kind(max_abs_z, float(np.max(np.abs(_z(mean, std_error, target)))), scale, scale_z)
        if np.all(np.isfinite(target)) else "",
        "expected_cosine": np.nan, "expected_scale": np.nan, "expected_bias_norm": np.nan, "expected_kind": "",
        "expected_z": np.nan,
    }  # fmt: skip
    if expected is not None:
        e_cosine, e_scale = _cosine_scale(expected, target)
        residual = np.linalg.norm(expected - e_scale * target) if np.isfinite(e_scale) else np.inf
        size = max(np.linalg.norm(target), 1e-300)
        kind = ("none" if np.linalg.norm(expected - target) <= 1e-9 * size else
                "zero" if np.linalg.norm(expected) <= 1e-9 * size else
                "scale" if residual <= 1e-9 * size and e_scale > 0 else "direction")  # fmt: skip
        row.update(expected_cosine=e_cosine, expected_scale=e_scale, expected_bias_norm=float(np.linalg.norm(expected - target)),
                   expected_kind=kind, expected_z=float(np.max(np.abs(_z(mean - expected, std_error, expected)))))  # fmt: skip
    return row, mean, std_error, z, var


def _coordinates(pol, target_name, name, mean, target, expected, std_error, z, var):
    expected = np.full(mean.shape, np.nan) if expected is None else expected
    return [
        {"target": target_name, "estimator": name, "param": j, "label": policy.param_label(pol, j), "mean": mean[j],
         "exact": target[j], "expected": expected[j], "bias": mean[j] - target[j], "std_error": std_error[j],
         "z": z[j], "variance": var[j]}
        for j in range(mean.size)
    ]  # fmt: skip


# ---------------------------------------------------------------------------------------------
# the two evaluations


def _exact_target(pol, theta, reward, penalty, theta_ref, notes):
    """(∇J_β, ∇KL) exactly, or NaN arrays with a note."""
    try:
        values = exact.exact(pol, theta, reward, theta_ref)
    except exact.NoExact as why:
        notes.append(str(why))
        blank = np.full(policy.n_params(pol), np.nan)
        return blank, blank, None
    return values.grad - penalty.beta * values.kl_grad, values.kl_grad, values


def _expected(pol, theta, reward, name, setup, penalty, theta_ref, options, notes):
    if name in BATCH_COUPLED and setup.n_groups > 1:
        notes.append(f"{name}: no exact expectation with B = {setup.n_groups} groups (its batch mean couples them)")
        return None
    problem = exact.tuples_problem(pol, setup.group_size)
    if problem:
        notes.append(problem)
        return None
    return exact.expected_estimate(pol, theta, reward, name, setup.group_size, penalty, theta_ref, **options)


def evaluate(pol, theta, reward, estimators, setup: Setup, seed: int, *, theta_ref=None, options=None,
             progress: Progress = silent) -> Evaluation:  # fmt: skip
    """Every estimator of ∇J_β on `setup` (module docstring). `options` maps an estimator to its keyword
    options (e.g. {"grpo": {"scale": False}}); each estimator draws from its own stream
    cell_rng(seed, "seq", name, G, B)."""
    options = options or {}
    problem = setup_problem(setup, estimators)
    if problem:
        raise ValueError(problem)
    if setup.penalty.beta > 0 and theta_ref is None:
        raise ValueError("a KL penalty (beta > 0) needs a reference policy theta_ref")
    notes: list[str] = []
    target, _, _ = _exact_target(pol, theta, reward, setup.penalty, theta_ref, notes)
    rows, coordinates = [], []
    progress(0, len(estimators))
    for done, name in enumerate(estimators, 1):
        rng = cell_rng(seed, "seq", name, setup.group_size, setup.n_groups)
        reference = theta_ref if setup.penalty.beta > 0 else None  # log π_ref only when the penalty needs it
        values, seconds = _timed_estimates(pol, theta, reward, setup, rng, name, setup.penalty, reference,
                                           options.get(name, {}))  # fmt: skip
        expected = None
        if np.all(np.isfinite(target)):
            expected = _expected(
                pol, theta, reward, name, setup, setup.penalty, theta_ref, options.get(name, {}), notes
            )
        row, mean, std_error, z, var = summarise(values, target, expected)
        per_estimate = seconds / setup.reps
        rows.append({
            "target": "grad J", "estimator": name, "claim": claim(name, setup.penalty), "group_size": setup.group_size,
            "n_groups": setup.n_groups, "reps": setup.reps, "beta": setup.penalty.beta,
            "kl_estimator": setup.penalty.estimator, "kl_placement": setup.penalty.placement, **row,
            "seconds": seconds, "sequences_per_s": setup.reps * setup.n_groups * setup.group_size / seconds,
            "efficiency": 1 / (row["variance"] * per_estimate) if row["variance"] > 0 else np.nan,
        })  # fmt: skip
        coordinates += _coordinates(pol, "grad J", name, mean, target, expected, std_error, z, var)
        progress(done, len(estimators))
    return Evaluation(rows, coordinates, [], sorted(set(notes), key=notes.index))


def _zero_reward(prompts, tokens, lengths):
    return np.zeros(tokens.shape[0])


def evaluate_kl(pol, theta, theta_ref, setup: Setup, seed: int, progress: Progress = silent) -> Evaluation:
    """The KL estimators k1, k2, k3: their value (mean over a batch's B·G sequences of K = Σ_t k_t,
    against KL and E[K]) and, for each placement, the gradient of the KL term alone (REINFORCE with
    reward 0 and β = 1, negated: an estimate of ∇KL) against ∇KL and its exact expectation."""
    problem = setup_problem(setup)
    if problem:
        raise ValueError(problem)
    notes: list[str] = []
    _, kl_target, values = _exact_target(pol, theta, _zero_reward, kl.NO_PENALTY, theta_ref, notes)
    expected_values = exact.expected_kl_estimates(pol, theta, theta_ref) if values is not None else {}
    rows, coordinates, value_rows = [], [], []
    cells = [(k, placement) for k in kl.KL_ESTIMATORS for placement in kl.PLACEMENTS]
    progress(0, len(cells))
    for done, (k, placement) in enumerate(cells, 1):
        penalty = kl.Penalty(1.0, k, placement)
        rng = cell_rng(seed, "seq-kl", k, placement, setup.group_size, setup.n_groups)
        found, seconds = _timed_estimates(pol, theta, _zero_reward, setup, rng, "reinforce", penalty, theta_ref, {})
        grads = found._replace(mean=-found.mean)  # the estimate of ∇KL is minus the penalty's ascent direction
        expected = None
        if values is not None:
            expected = _expected(pol, theta, _zero_reward, "reinforce", setup, penalty, theta_ref, {}, notes)
            expected = None if expected is None else -expected
        row, mean, std_error, z, var = summarise(grads, kl_target, expected)
        rows.append({
            "target": "grad KL", "estimator": "reinforce", "claim": "unbiased" if (k, placement) in kl.EXACT_GRADIENT
            else "biased", "group_size": setup.group_size, "n_groups": setup.n_groups, "reps": setup.reps,
            "beta": 1.0, "kl_estimator": k, "kl_placement": placement, **row, "seconds": seconds,
            "sequences_per_s": setup.reps * setup.n_groups * setup.group_size / seconds,
            "efficiency": 1 / (row["variance"] * seconds / setup.reps) if row["variance"] > 0 else np.nan,
        })  # fmt: skip
        coordinates += _coordinates(pol, f"grad KL ({k}, {placement})", "reinforce", mean, kl_target, expected,
                                    std_error, z, var)  # fmt: skip
        progress(done, len(cells))
    for k in kl.KL_ESTIMATORS:
        value_rows.append(_kl_value_row(pol, theta, theta_ref, setup, seed, k, values, expected_values.get(k)))
    return Evaluation(rows, coordinates, value_rows, sorted(set(notes), key=notes.index))


def _kl_value_row(pol, theta, theta_ref, setup, seed, k, values, expected):
    """One KL value estimator: R batch means of K against KL (values.kl) and its exact expectation."""
    rng = cell_rng(seed, "seq-kl-value", k, setup.group_size, setup.n_groups)
    found, start = None, time.perf_counter()
    for count in _chunks(pol, setup.reps, setup):
        sample = draw(pol, theta, _zero_reward, setup, count, rng, theta_ref=theta_ref)
        batch_means = kl.sequence_values(k, sample.log_ratio, sample.token_mask).reshape(count, -1).mean(1)
        found = merge(found, moments(batch_means[:, None]))
    seconds = time.perf_counter() - start
    exact_kl = np.nan if values is None else values.kl
    expected = np.nan if expected is None else expected
    mean, var = float(found.mean[0]), float(found.m2[0] / (setup.reps - 1))
    std_error = float(np.sqrt(var / setup.reps))
    z = float(_z(np.array(mean - exact_kl), std_error, np.array(exact_kl)))
    expected_z = float(_z(np.array(mean - expected), std_error, np.array(expected)))
    return {
        "kl_estimator": k, "group_size": setup.group_size, "n_groups": setup.n_groups, "reps": setup.reps,
        "mean": mean, "exact": exact_kl, "expected": expected, "bias": mean - exact_kl, "std_error": std_error,
        "z": z, "expected_z": expected_z, "variance": var,
        "bias_kind": "" if np.isnan(exact_kl) else "none" if abs(z) <= Z_LIMIT else "biased",
        "seconds": seconds, "efficiency": 1 / (var * seconds / setup.reps) if var > 0 else np.nan,
    }  # fmt: skip
