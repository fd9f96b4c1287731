"""Feature selection with REINFORCE on the breast-cancer data (pgcli/lab/data/breast_cancer.csv).

A mask z ∈ {0, 1}^30 over the features is drawn from a product of Bernoullis, z_j ~ Bernoulli(σ(θ_j)),
and scored by a non-differentiable objective

    f(z) = held-out 0-1 error of a logistic regression fitted on the selected features + λ·|z|,

minimised over the logits θ with `pgcli.optimize` — one estimator after another (score, score_loo,
ARM, DisARM, ...) with the same seed — and compared with logistic regression on all 30 features.
The data are split three ways (stratified): the regressions are fitted on the training part, f
scores them on the validation part, and the final mask (θ_j > 0) is judged on the test part,
which the search never saw. Fits are cached by mask (a mask seen twice is fitted once).

X
    python examples/feature_selection.py --steps 10 --n 4 --seeds 1      # a smoke run (CI)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import special

import pgcli
from pgcli.lab import classifier as C

DATA = Path(__file__).resolve().parents[1] / "pgcli" / "lab" / "data" / "breast_cancer.csv"


def splits(x, y, rng):
    """Stratified train / validation / test (60 / 20 / 20), standardised with the training statistics."""
    rest, test = C.split(y, 0.2, rng)
    train, val = (rest[i] for i in C.split(y[rest], 0.25, rng))
    mean, std = x[train].mean(0), x[train].std(0)
    x = (x - mean) / np.where(std > 0, std, 1.0)
    return {name: (x[rows], y[rows]) for name, rows in (("train", train), ("val", val), ("test", test))}


def logistic_regression(x, y, l2, iterations=50):
    """argmin_θ mean[log(1 + e^z) − y z] + (l2/2)‖w‖², z = x̃θ, by Newton's method: with at most 31
    columns each step is one small solve, so a fit takes well under a millisecond (the same
    objective as pgcli.lab.classifier.logistic_regression, which uses L-BFGS to tight tolerances)."""
    penalty = np.r_[np.full(x.shape[1] - 1, l2), 0.0]  # the bias is not penalised
    theta = np.zeros(x.shape[1])
    for _ in range(iterations):
        p = special.expit(x @ theta)
        grad = x.T @ (p - y) / len(y) + penalty * theta
        hessian = (x.T * (p * (1 - p))) @ x / len(y) + np.diag(penalty + 1e-12)
        step = np.linalg.solve(hessian, grad)
        theta -= step
        if np.abs(step).max() < 1e-10:
            break
    return theta


def error(mask, fit, judge, l2=1e-3):
    """0-1 error on `judge` of a logistic regression fitted on `fit` with the features in mask."""
    (x_fit, y_fit), (x_judge, y_judge) = fit, judge
    if not mask.any():  # no feature: predict the majority class
        return float(np.mean(y_judge != (y_fit.mean() > 0.5)))
    theta = logistic_regression(np.column_stack([x_fit[:, mask], np.ones(len(y_fit))]), y_fit, l2)
    return 1 - C.accuracy(theta, np.column_stack([x_judge[:, mask], np.ones(len(y_judge))]), y_judge)


def objective(data, penalty):
    """f(z) for masks z (n, 30) -> (n,), with a cache of fitted masks; returns f and the cache."""
    cache: dict[bytes, float] = {}

    def f(z):
        masks = z.astype(bool)
        out = np.empty(len(masks))
        for i, mask in enumerate(masks):
            key = np.packbits(mask).tobytes()
            if key not in cache:
                cache[key] = error(mask, data["train"], data["val"])
            out[i] = cache[key] + penalty * mask.sum()
        return out

    return f, cache


def run_seed(x, y, features, seed, args) -> list[tuple]:
    """One split and one optimisation per estimator, all from `seed`."""
    data = splits(x, y, np.random.default_rng(seed))
    every = np.ones(x.shape[1], dtype=bool)
    rows = [("all features", seed, 30, error(every, data["train"], data["val"]),
             1 - error(every, data["train"], data["test"]), np.nan, 1, 0.0)]  # fmt: skip
    for estimator in args.estimators.split(","):
        f, cache = objective(data, args.penalty)
        start = time.perf_counter()
        table = pgcli.optimize(f, "bernoulli", {"logit": np.zeros(x.shape[1])}, estimator=estimator, n=args.n,
                               steps=args.steps, lr=args.lr, seed=seed, objective_every=args.steps,
                               objective_samples=64)  # fmt: skip
        seconds = time.perf_counter() - start
        mask = table[[f"logit[{j}]" for j in range(x.shape[1])]].iloc[-1].to_numpy() > 0
        rows.append((estimator, seed, int(mask.sum()), error(mask, data["train"], data["val"]),
                     1 - error(mask, data["train"], data["test"]), table["objective"].iloc[-1], len(cache),
                     seconds))  # fmt: skip
        if args.verbose:
            print(f"seed {seed} {estimator}: {', '.join(f for f, on in zip(features, mask, strict=True) if on)}")
    return rows


def run(args) -> pd.DataFrame:
    """Every seed's rows: method, seed, features, val_error, test_accuracy, final_objective (a
    64-mask Monte Carlo mean of f at the last θ), fits (distinct masks fitted), seconds."""
    x, y, features = C.load_csv(args.data)
    rows = [row for seed in range(args.seeds) for row in run_seed(x, y, features, seed, args)]
    columns = ["method", "seed", "features", "val_error", "test_accuracy", "final_objective", "fits", "seconds"]
    return pd.DataFrame(rows, columns=columns)


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Mean (and standard deviation of the test accuracy) over seeds, per method."""
    grouped = table.groupby("method", sort=False)
    out = grouped[["features", "val_error", "test_accuracy", "final_objective", "fits", "seconds"]].mean()
    return out.assign(test_accuracy_sd=grouped["test_accuracy"].std(), seeds=grouped.size()).reset_index()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--estimators", default="score,score_loo,score_optimal,score_rqmc,arm,disarm", help="comma list"
    )
    parser.add_argument("--steps", type=int, default=200, help="gradient steps per estimator")
    parser.add_argument("--n", type=int, default=8, help="masks per step")
    parser.add_argument("--lr", type=float, default=0.1, help="Adam learning rate")
    parser.add_argument("--penalty", type=float, default=0.002, help="λ: cost of one feature")
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..S−1 (each: its own split)")
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--verbose", action="store_true", help="print the selected features")
    args = parser.parse_args(argv)
    table = summary(run(args))
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return table


if __name__ == "__main__":
    main()
