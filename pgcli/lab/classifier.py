"""A linear classifier trained through its sampled predictions: the 0-1 loss by score function.

    ŷ_i ~ Bernoulli(p_i),   p_i = σ(θᵀx̃_i),   x̃_i = (standardised x_i, 1),   θ = (w, b)
    L(θ) = (1/N) Σ_i P(ŷ_i ≠ y_i) = (1/N) Σ_i [y_i (1 − p_i) + (1 − y_i) p_i]

The loss 1{ŷ ≠ y} has no derivative that helps (ŷ is a coin flip), but the score of a draw is
∇θ log p(ŷ_i; θ) = (ŷ_i − p_i) x̃_i, so over a minibatch of B examples with n draws each

    ĝ = (1/Bn) Σ_i Σ_k 1{ŷ_ik ≠ y_i} (ŷ_ik − p_i) x̃_i

is unbiased for ∇L (example i drawn uniformly). The leave-one-out and cross-fitted optimal
baselines of estimators.py act on the whole minibatch's Bn terms: a baseline built from the other
draws is independent of the draw it multiplies, whichever example those came from.

L(θ) is computed exactly (it is a sum of N probabilities), and so are the accuracies of the mode
prediction 1{p_i > 1/2}. The reference is logistic regression: the same linear model fitted to
the differentiable log-loss (L-BFGS, L2 penalty on w).

Shapes: N examples, B in a minibatch, n draws per example, d = features + 1 parameters.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from pgcli.base import lazy
from pgcli.lab.estimators import NotApplicable, cross_fitted_terms, loo_terms

pd = lazy.module("pandas")
optimize = lazy.module("scipy.optimize")
special = lazy.module("scipy.special")


class DataError(ValueError):
    """Bad data file or split; the message says what is wrong."""


class Data(NamedTuple):
    """A split data set: design matrices x̃ (N, d) with the bias column last, labels y (N,)."""

    x_train: np.ndarray  # (N_train, d), standardised features and a last column of ones
    y_train: np.ndarray  # (N_train,) in {0, 1}
    x_test: np.ndarray
    y_test: np.ndarray
    features: tuple[str, ...]


MAX_DATA_BYTES = 100_000_000  # a data file larger than this is refused unread
MAX_COLUMNS = 10_000  # features + label
MAX_ROWS = 1_000_000


def load_csv(path: str | Path, label: str | None = None) -> tuple[np.ndarray, np.ndarray, list]:
    """Features (N, k), labels (N,) in {0, 1} and feature names from a CSV with a header row (a
    regular file of at most MAX_DATA_BYTES, MAX_COLUMNS columns and MAX_ROWS rows)."""
    path = Path(path)
    if not path.is_file():
        problem = "is not a regular file" if path.exists() else "not found"
        raise DataError(f"data file {problem}: {path}")
    size = path.stat().st_size
    if size > MAX_DATA_BYTES:
        raise DataError(f"data file {path} is {size:,} bytes; the limit is {MAX_DATA_BYTES:,}")
    with path.open("rb") as handle:
        header = handle.readline(10 * MAX_COLUMNS * 64)
    if header.count(b",") + 1 > MAX_COLUMNS:
        raise DataError(f"{path} has {header.count(b',') + 1:,} columns; the limit is {MAX_COLUMNS:,}")
    try:
        frame = pd.read_csv(path, nrows=MAX_ROWS + 1)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DataError(f"cannot read {path} as CSV: {str(err).splitlines()[0]}") from None
    if frame.shape[1] < 2:
        raise DataError(f"{path} needs feature columns and a label column")
    if len(frame) > MAX_ROWS:
        raise DataError(f"{path} has more than {MAX_ROWS:,} rows")
    label = label or frame.columns[-1]
    if label not in frame.columns:
        raise DataError(f"no column {label!r} in {path}; columns: {', '.join(frame.columns)}")
    features = [c for c in frame.columns if c != label]
    bad = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if bad:
        raise DataError(f"column {bad[0]!r} of {path} is not numeric")
    values = frame.to_numpy(dtype=float)
    if not np.all(np.isfinite(values)):
        raise DataError(f"{path} has missing or non-finite values")
    y = frame[label].to_numpy(dtype=float)
    if not np.all((y == 0) | (y == 1)):
        raise DataError(f"label column {label!r} must hold 0 and 1 only")
    return frame[features].to_numpy(dtype=float), y, features


def split(y: np.ndarray, test_fraction: float, rng: np.random.Generator):
    """Stratified train/test indices: round(test_fraction · N_c) of each class c is held out."""
    train, test = [], []
    for c in (0.0, 1.0):
        index = rng.permutation(np.flatnonzero(y == c))
        cut = round(test_fraction * index.size)
        test.append(index[:cut])
        train.append(index[cut:])
    train, test = np.sort(np.concatenate(train)), np.sort(np.concatenate(test))
    for name, part in (("training", train), ("held-out", test)):
        if np.unique(y[part]).size < 2:
            raise DataError(f"the {name} set would miss a class; change data.test_fraction")
    return train, test


def prepare(x, y, features, test_fraction, rng) -> Data:
    """Split, standardise with the training mean and standard deviation, append the bias column."""
    train, test = split(y, test_fraction, rng)
    mean, std = x[train].mean(0), x[train].std(0)
    std = np.where(std > 0, std, 1.0)  # a constant feature stays 0

    def design(rows):
        return np.column_stack([(x[rows] - mean) / std, np.ones(rows.size)])

    return Data(design(train), y[train], design(test), y[test], tuple(features))


def load(path, label, test_fraction, rng) -> Data:
    """:func:`load_csv` then :func:`prepare`: the stratified, standardised split of a CSV file."""
    x, y, features = load_csv(path, label)
    return prepare(x, y, features, test_fraction, rng)


def parameter_names(data: Data) -> list[str]:
    """Names of θ = (w, b), d = features + 1: w[0], ..., w[d − 2], b (the optimize table's columns)."""
    return [f"w[{j}]" for j in range(len(data.features))] + ["b"]


# ---------------------------------------------------------------------------------------------
# the objective and its exact companions


def prob(theta, x):
    """p_i = σ(θᵀx̃_i), shape (N,)."""
    return special.expit(x @ theta)


def expected_loss(theta, x, y) -> float:
    """L(θ) = (1/N) Σ_i [y_i (1 − p_i) + (1 − y_i) p_i], the expected 0-1 loss of sampled ŷ."""
    p = prob(theta, x)
    return float(np.mean(y * (1 - p) + (1 - y) * p))


def accuracy(theta, x, y) -> float:
    """Accuracy of the mode prediction ŷ_i = 1{θᵀx̃_i > 0}."""
    return float(np.mean((x @ theta > 0) == (y == 1)))


def logistic_regression(x, y, l2: float) -> np.ndarray:
    """argmin_θ (1/N) Σ_i [log(1 + e^{z_i}) − y_i z_i] + (l2/2)‖w‖², z = x̃θ, by L-BFGS."""
    penalised = np.r_[np.ones(x.shape[1] - 1), 0.0]  # the bias is not penalised

    def loss_and_grad(theta):
        z = x @ theta
        loss = np.mean(np.logaddexp(0, z) - y * z) + 0.5 * l2 * np.sum(penalised * theta**2)
        grad = x.T @ (special.expit(z) - y) / y.size + l2 * penalised * theta
        return loss, grad

    result = optimize.minimize(
        loss_and_grad,
        np.zeros(x.shape[1]),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 5000, "gtol": 1e-9, "ftol": 1e-15},
    )
    return result.x


def baseline(data: Data, l2: float) -> dict:
    """Logistic regression's accuracies and its expected 0-1 loss (sampling ŷ from its p)."""
    theta = logistic_regression(data.x_train, data.y_train, l2)
    return {
        "logreg_train_accuracy": accuracy(theta, data.x_train, data.y_train),
        "logreg_test_accuracy": accuracy(theta, data.x_test, data.y_test),
        "logreg_objective": expected_loss(theta, data.x_train, data.y_train),
    }


# ---------------------------------------------------------------------------------------------
# per-sample gradient terms on a minibatch: (x (B, d), y (B,), θ, n, rng) -> (B·n, d)


def _draws(x, y, theta, n, rng):
    """Losses f (1, Bn) and scores s (1, Bn, d) of n draws ŷ ~ Bernoulli(p_i) per example."""
    p = prob(theta, x)
    y_hat = rng.random((y.size, n)) < p[:, None]
    loss = (y_hat != (y[:, None] == 1)).astype(float)
    score = (y_hat - p[:, None])[:, :, None] * x[:, None, :]
    return loss.reshape(1, -1), score.reshape(1, -1, x.shape[1])


def score(x, y, theta, n, rng, h):
    """1{ŷ ≠ y} (ŷ − p) x̃: REINFORCE on the 0-1 loss."""
    loss, s = _draws(x, y, theta, n, rng)
    return (loss[:, :, None] * s)[0]


def score_loo(x, y, theta, n, rng, h):
    """(f − leave-one-out mean of the minibatch's other losses) × score."""
    if y.size * n < 2:
        raise NotApplicable("score_loo needs at least 2 draws per step (data.batch · n ≥ 2)")
    return loo_terms(*_draws(x, y, theta, n, rng))[0]


def score_optimal(x, y, theta, n, rng, h):
    """(f − b_j) × score with b_j = Σ f s_j² / Σ s_j², cross-fitted on the two halves."""
    if y.size * n < 2:
        raise NotApplicable("score_optimal needs at least 2 draws per step (data.batch · n ≥ 2)")
    return cross_fitted_terms(*_draws(x, y, theta, n, rng))[0]


def pathwise(x, y, theta, n, rng, h):
    """Not applicable: x = x(ε; θ) needs a continuous ŷ, and ŷ ∈ {0, 1} (Mohamed et al. 2020, §5)."""
    raise NotApplicable("pathwise needs a reparameterisation; the prediction ŷ is discrete")


def measure_valued(x, y, theta, n, rng, h):
    """∂_p Bernoulli(p) = δ₁ − δ₀: [f(1) − f(0)] ∂p/∂θ = (1 − 2y) p (1 − p) x̃ for every draw.

    This is the exact gradient of each example's expected loss; only the minibatch is random."""
    p = prob(theta, x)
    per_example = ((1 - 2 * y) * p * (1 - p))[:, None] * x
    return np.repeat(per_example, n, axis=0)


def finite_difference(x, y, theta, n, rng, h):
    """[f(ŷ(θ + h e_j)) − f(ŷ(θ − h e_j))] / 2h with ŷ = 1{u < p} and common uniforms u."""
    z = x @ theta
    u = rng.random((y.size, n, 1))
    label = (y == 1)[:, None, None]
    sides = [u < special.expit(z[:, None] + sign * h * x)[:, None, :] for sign in (1, -1)]
    terms = ((sides[0] != label).astype(float) - (sides[1] != label)) / (2 * h)
    return terms.reshape(-1, x.shape[1])


def score_antithetic(x, y, theta, n, rng, h):
    """1{ŷ ≠ y} (ŷ − p) x̃ with the n draws of an example in antithetic pairs ŷ = 1{u < p}, 1{1 − u < p}."""
    p = prob(theta, x)
    u = rng.random((y.size, -(-n // 2)))
    u = np.concatenate([u, 1 - u], axis=1)[:, :n]
    y_hat = u < p[:, None]
    loss = (y_hat != (y[:, None] == 1)).astype(float)
    return ((loss * (y_hat - p[:, None]))[:, :, None] * x[:, None, :]).reshape(-1, x.shape[1])


def _binary_terms(x, y, theta, n, rng, pair):
    """Terms g(u, p) x̃ of a logit estimator: ∂/∂z_i then ∂z_i/∂θ = x̃_i, z_i = θᵀx̃_i."""
    p = prob(theta, x)[:, None]
    u = rng.random((y.size, n))
    label = (y == 1)[:, None]
    per_logit = pair(u, p, lambda b: (b != label).astype(float))
    return (per_logit[:, :, None] * x[:, None, :]).reshape(-1, x.shape[1])


def arm(x, y, theta, n, rng, h):
    """ARM on each example's logit (Yin & Zhou 2019): (f(1[u > 1 − p]) − f(1[u < p])) (u − ½) x̃."""
    return _binary_terms(x, y, theta, n, rng, lambda u, p, f: (f(u > 1 - p) - f(u < p)) * (u - 0.5))


def disarm(x, y, theta, n, rng, h):
    """DisARM on each example's logit (Dong, Mnih & Tucker 2020), b = 1[u < p], b̃ = 1[1 − u < p]."""

    def pair(u, p, f):
        b, bt = u < p, 1 - u < p
        return 0.5 * (f(b) - f(bt)) * np.where(bt, -1.0, 1.0) * (b != bt) * np.maximum(p, 1 - p)

    return _binary_terms(x, y, theta, n, rng, pair)


def _not_for_classifier(why):
    """An estimator that raises NotApplicable(why): the lab's estimators without a classifier form."""

    def estimator(x, y, theta, n, rng, h):
        raise NotApplicable(why)

    return estimator


# the lab's estimators that do not apply to a 0-1 loss of a linear classifier, and why
NOT_APPLICABLE = {
    "score_rqmc": "score_rqmc is not implemented for the classifier problem",
    "score_cv_delta": "score_cv_delta needs f'(x); the 0-1 loss has none",
    "straight_through": "straight_through needs f'(x); the 0-1 loss has none",
    "gumbel_softmax": "gumbel_softmax needs f'(x); the 0-1 loss has none",
}
# one function per estimator of the lab, under the same names (a test checks the two registries agree)
ESTIMATORS = {
    "score": score, "score_loo": score_loo, "score_optimal": score_optimal, "pathwise": pathwise,
    "measure_valued": measure_valued, "finite_difference": finite_difference, "score_antithetic": score_antithetic,
    "arm": arm, "disarm": disarm,
    **{name: _not_for_classifier(why) for name, why in NOT_APPLICABLE.items()},
}  # fmt: skip
