"""Stochastic gradient descent on E_{p(x;θ)}[f(x)] with the lab's gradient estimators.

The log-derivative trick ∇θ E[f(x)] = E[f(x) ∇θ log p(x; θ)] needs no derivative of f, so
gradient descent works when f is a step, a 0-1 loss or a discrete choice:

    for t = 0, ..., T − 1:
        g_1..g_m   per-sample terms of one estimator at θ_t             (estimators.py)
        ĝ_t        = (1/m) Σ_i g_i, unbiased for ∇θ E[f] (score family)
        θ_{t+1}    = θ_t − step(ĝ_t) to minimise, θ_t + step(ĝ_t) to maximise  (optim.py)

θ is in the parametrisation's coordinates (log σ, logit p, log rate), so steps stay inside the
parameter space; in the standard one a step that leaves it stops the run as `diverged`.

Row t of the per-step table is θ_t, reached after t updates and t·m samples:

    objective   E[f(x)] at θ_t, exact (a sum or quadrature, exact.expectation) every
                `objective_every` steps and at the last; a Monte Carlo mean where that fails
    grad_var    tr Cov(g_i) / m, the variance of ĝ_t: what decides how fast θ moves (for the
                classifier g_i averages the n draws of example i: examples are independent)
    grad_snr    ‖ĝ_t‖² / grad_var
    (the last row, θ_T, has no gradient)

Problems:
    distribution   any family × f of the lab; `learn` picks the parameters that move
    bernoulli_toy  x ~ Bernoulli(σ(η)), f(x) = (x − t)²: E[f] = t² + (1 − 2t) σ(η), least as
                   η → −∞ for t < 1/2; its gradient (1 − 2t) σ'(η) is small against the noise
                   (Tucker et al. 2017, REBAR; Grathwohl et al. 2018, RELAX use t = 0.45, 0.499)
    classifier     a linear classifier with sampled predictions on a CSV data set (classifier.py)
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from pgcli.base.fields import SEED, Field, SpecError, non_negative, positive
from pgcli.base.numerics import GradientStats, gradient_stats
from pgcli.base.optim import OPTIMISERS, adam_init
from pgcli.base.progress import Progress, silent
from pgcli.base.streams import generators
from pgcli.lab import classifier, distributions, estimators, exact, userfn
from pgcli.lab.dist_spec import DIST_SCHEMA, function_problem, probe_function, samples_problem, theta_grid
from pgcli.lab.estimators import ESTIMATORS, NotApplicable, f_of
from pgcli.lab.functions import FunctionError, parse_function, references

TOY_TARGET = 0.45
PROBE_SAMPLES = 16  # samples of the applicability check run before anything is written


def _open_unit(value):
    return None if 0 < value < 1 else f"must be in (0, 1), got {value}"


MAX_N = 10**6  # samples per step (and per objective estimate): they are held in memory at once
MAX_STEPS = 10**6  # gradient steps (one table row each)


SCHEMA = {
    "kind": Field("str", "optimize", "experiment kind", choices=("optimize",)),
    "name": Field("str", None, "results go to results/<name>/ (default: spec file name)", nullable=True),
    "problem": Field(
        "str",
        "distribution",
        "what to optimise",
        choices=("distribution", "bernoulli_toy", "classifier"),
    ),
    "dist": Field(
        "str",
        None,
        "distribution family (problem distribution; default gaussian)",
        nullable=True,
        choices=tuple(distributions.FAMILIES),
    ),
    "parametrisation": Field(
        "str",
        None,
        "θ coordinates (default: the unconstrained one: log_sigma, logit, log_rate, log)",
        nullable=True,
    ),
    "dim": DIST_SCHEMA["dim"],
    "theta": Field("mapping", {}, "initial θ by parameter (default: the family's; bernoulli_toy: logit 0)"),
    "learn": Field("strs", None, "parameters that move, the others stay fixed (default: all)", nullable=True),
    "f": Field(
        "str",
        None,
        "f(x) for problem distribution (default step): name, name:arg, table:..., module:function, expression",
        nullable=True,
        refs=references,
    ),
    "target": Field("float", None, f"bernoulli_toy: f(x) = (x − target)² (default {TOY_TARGET})", nullable=True),
    "minimize": Field("bool", True, "minimise E[f] (false: maximise)"),
    "estimator": Field("str", "score", "gradient estimator", choices=tuple(ESTIMATORS)),
    "n": Field(
        "int", 16, "samples per step (classifier: draws per example)", check=lambda v: samples_problem([v], MAX_N)
    ),
    "h": Field("float", 0.01, "finite-difference step in θ", check=positive),
    "temperature": Field("float", 0.5, "gumbel_softmax relaxation temperature τ", check=positive),
    "steps": Field("int", 500, "gradient steps", check=lambda v: samples_problem([v], MAX_STEPS)),
    "optim": {
        "kind": Field("str", "adam", "optimiser", choices=tuple(OPTIMISERS)),
        "lr": Field("float", 0.05, "learning rate", check=positive),
    },
    "objective_every": Field("int", 1, "compute the objective every N steps (and at the last)", check=positive),
    "objective_samples": Field(
        "int",
        100_000,
        "Monte Carlo samples for an objective without exact value",
        check=lambda v: samples_problem([v], MAX_N),
    ),
    "data": {
        "path": Field(
            "path",
            None,
            "classifier: CSV with a header, numeric features and a 0/1 label, relative to the spec file "
            "(default: the bundled breast-cancer data)",
            nullable=True,
        ),
        "label": Field("str", None, "classifier: label column (default: the last)", nullable=True),
        "test_fraction": Field(
            "float",
            0.3,
            "classifier: held-out share (stratified, drawn from the seed)",
            check=_open_unit,
        ),
        "batch": Field("int", 64, "classifier: examples per step", check=positive),
        "l2": Field(
            "float",
            0.001,
            "classifier: L2 penalty of the logistic-regression baseline",
            check=non_negative,
        ),
    },
    "seed": SEED,
}

LEADING = ["step", "samples", "objective"]
CLASSIFIER_EXTRA = ["test_objective", "train_accuracy", "test_accuracy"]
GRADIENT_COLUMNS = list(GradientStats._fields)  # grad_norm, grad_var, grad_snr
TRAILING = [*GRADIENT_COLUMNS, "wall_s"]


def columns(problem: Problem) -> list[str]:
    """The per-step table: step, samples, objective, [classifier extras], θ, gradient stats."""
    return [*LEADING, *problem.extra, *problem.names, *TRAILING]


# ---------------------------------------------------------------------------------------------
# problems


class Problem(NamedTuple):
    """What `run` optimises: d coordinates θ, m per-sample gradient terms per step, the objective."""

    names: list[str]  # θ coordinates (table columns)
    theta: np.ndarray  # initial θ (d,)
    learn: np.ndarray  # (d,) bool: the coordinates that move
    terms: Callable  # (θ, rng, batch_rng) -> per-sample gradient terms (m, d)
    evaluate: Callable  # (θ, eval_rng) -> {"objective": ..., extra columns...}, note or None
    outside: Callable  # (θ) -> why θ is outside the parameter space, or None
    samples_per_step: int
    extra: tuple[str, ...] = ()  # columns logged with the objective


def unconstrained(family: str) -> str:
    """The parametrisation in which every θ is valid: each family lists it last."""
    return list(distributions.FAMILIES[family].parametrisations)[-1]


def _unset(spec, keys, problem, why):
    for key in keys:
        value = spec[key]
        if value is not None and value != {}:
            raise SpecError(key, f"problem {problem} {why}; remove {key}")


def _initial_dist(family, parametrisation, theta, dim) -> distributions.Dist:
    points = theta_grid(theta)
    if len(points) != 1:
        raise SpecError("theta", "optimize starts from one θ; sweep starting points with sweep.grid.theta.NAME")
    try:
        return distributions.make_dist(family, parametrisation, points[0], dim)
    except distributions.DistError as err:
        text = str(err)
        path = "theta"
        if text.startswith("unknown parametrisation"):
            path = "parametrisation"
        elif text.startswith("dim"):
            path = "dim"
        raise SpecError(path, text) from None


def _learn_mask(spec, dist):
    groups = distributions.param_groups(dist.family, dist.parametrisation, dist.dim)
    learn = spec["learn"] or groups
    for name in learn:
        if name not in groups:
            raise SpecError("learn", f"unknown parameter {name!r}; allowed: {', '.join(groups)}")
    return np.array([name.split("[")[0] in learn for name in dist.names])


def expected_f(dist: distributions.Dist, f) -> float:
    """E[f(x)]: exact sum or quadrature (a separable f of a vector coordinate by coordinate);
    ValueError where there is none (a user's f of a continuous vector, or > 16 Bernoullis)."""
    k = distributions.sample_dim(dist)
    if k > 1 and f.separable:
        return sum(expected_f(one, f) for one in exact.coordinate_dists(dist))
    if k > 1 and not (dist.family == "bernoulli" and k <= exact.MAX_ENUMERATION):
        raise ValueError("no exact expectation")
    with np.errstate(all="ignore"):
        return float(np.sum(exact.expectation(dist, f.value, points=f.breakpoints)))


def _dist_problem(spec, dist, f) -> Problem:
    learn = _learn_mask(spec, dist)
    estimator = ESTIMATORS[spec["estimator"]]
    options = estimators.options(spec["estimator"], spec)
    fam = distributions.family(dist)
    m = spec["objective_samples"]

    def at(theta):
        return distributions.with_theta(dist, theta)

    def terms(theta, rng, batch_rng):
        with np.errstate(all="ignore"):
            return estimator(at(theta), f, spec["n"], rng, **options)[0]

    def evaluate(theta, eval_rng):
        try:
            value = expected_f(at(theta), f)
        except (ValueError, ArithmeticError):
            value = np.nan
        if np.isfinite(value):
            return {"objective": value}, None
        with np.errstate(all="ignore"):
            value = float(f_of(f, distributions.sample(at(theta), m, eval_rng)).mean())
        return {"objective": value}, f"objective by Monte Carlo ({m} samples): no exact value"

    def outside(theta):
        phi = distributions.to_phi(theta, dist.transforms)
        if not (np.all(np.isfinite(theta)) and np.all(np.isfinite(phi))):
            return "θ is not finite (try a smaller optim.lr)"
        problem = fam.constraints(phi, fam.names(dist.dim))
        if problem and dist.parametrisation != unconstrained(dist.family):
            problem += f" (the {unconstrained(dist.family)} parametrisation keeps θ valid)"
        return problem

    probe_function(f, dist, "f")
    try:
        probe = _probe(spec, lambda n, rng: estimator(dist, f, n, rng, **options), user_code=f.name == "python")
    except FunctionError as err:  # e.g. a table evaluated outside its range
        raise SpecError("f", str(err)) from None
    if probe is None:  # the user's f raised: the run reports it, failed, with the traceback
        probe = np.zeros((1, dist.theta.size))
    missing = [name for name, on, col in zip(dist.names, learn, probe.T, strict=True)
               if on and np.isnan(col).all()]  # fmt: skip
    if missing:
        raise SpecError(
            "estimator",
            f"{spec['estimator']} has no estimate for {missing[0]} of {dist.family}; "
            "choose another estimator or leave it out of learn",
        )
    return Problem(list(dist.names), dist.theta.copy(), learn, terms, evaluate, outside, spec["n"])


def _probe(spec, draw, user_code=False):
    """Terms of one small draw at the initial θ (a throwaway stream of the run's seed), so that
    an estimator that does not apply is bad input before anything is written. An exception
    inside a user's f is not bad input: None, and the run itself ends failed with it."""
    rng = np.random.default_rng(np.random.SeedSequence(spec["seed"]))
    try:
        with np.errstate(all="ignore"):
            return draw(min(spec["n"], PROBE_SAMPLES), rng)
    except NotApplicable as why:
        raise SpecError("estimator", str(why)) from None
    except FunctionError:
        raise
    except Exception:
        if user_code:
            return None
        raise


def distribution_problem(spec, split_rng=None) -> Problem:
    """x ~ p(x; θ) of any family, any f of the lab."""
    _unset(spec, ["target"], "distribution", "has no target (that is bernoulli_toy's)")
    family = spec["dist"] or "gaussian"
    parametrisation = spec["parametrisation"] or unconstrained(family)
    dist = _initial_dist(family, parametrisation, spec["theta"], spec["dim"])
    try:
        f = userfn.to_function(spec["f"] if spec["f"] is not None else "step")  # API: also a callable
    except FunctionError as err:
        raise SpecError("f", str(err)) from None
    problem = function_problem(f, dist)
    if problem:
        raise SpecError("f", problem)
    return _dist_problem(spec, dist, f)


def toy_target(spec) -> float:
    """t of the toy's f(x) = (x − t)² (spec target, default TOY_TARGET = 0.45, Tucker et al. 2017)."""
    return TOY_TARGET if spec["target"] is None else spec["target"]


def toy_optimum(spec) -> float:
    """min over p of t² + (1 − 2t) p: t² (p = 0) or (1 − t)² (p = 1); max when maximising."""
    t = toy_target(spec)
    ends = (t * t, (1 - t) ** 2)
    return min(ends) if spec["minimize"] else max(ends)


def bernoulli_toy(spec, split_rng=None) -> Problem:
    """x ~ Bernoulli(σ(η)), f(x) = (x − t)², θ = η (logit)."""
    _unset(
        spec,
        ["dist", "parametrisation", "dim", "f"],
        "bernoulli_toy",
        "fixes x ~ Bernoulli(sigmoid(logit)) and f(x) = (x − target)²",
    )
    dist = _initial_dist("bernoulli", "logit", {"logit": 0.0, **spec["theta"]}, None)
    f = parse_function(f"(x - {toy_target(spec)!r})**2")
    return _dist_problem(spec, dist, f)


BUNDLED_DATA = Path(__file__).resolve().parents[2] / "experiments" / "data" / "breast_cancer.csv"


def load_data(spec, split_rng) -> classifier.Data:
    """The classifier's data set, split by `split_rng` (classifier.load); SpecError at data.path."""
    data = spec["data"]
    try:
        return classifier.load(data["path"] or BUNDLED_DATA, data["label"], data["test_fraction"], split_rng)
    except classifier.DataError as err:
        raise SpecError("data.path", str(err)) from None


def classifier_problem(spec, split_rng) -> Problem:
    """ŷ_i ~ Bernoulli(σ(wᵀx_i + b)), f_i(ŷ) = 1{ŷ ≠ y_i}, θ = (w, b) from 0 (classifier.py)."""
    _unset(
        spec,
        ["dist", "parametrisation", "dim", "theta", "learn", "f", "target"],
        "classifier",
        "fixes ŷ ~ Bernoulli(sigmoid(w·x + b)) and f(ŷ) = 1{ŷ ≠ y}, from θ = 0",
    )
    data = load_data(spec, split_rng)
    batch, n = spec["data"]["batch"], spec["n"]
    n_train = data.y_train.size
    if batch > n_train:
        raise SpecError("data.batch", f"must be ≤ the {n_train} training examples, got {batch}")
    estimator = classifier.ESTIMATORS[spec["estimator"]]
    d = data.x_train.shape[1]
    _probe(
        spec,
        lambda n, rng: estimator(data.x_train[:batch], data.y_train[:batch], np.zeros(d), n, rng, 1),
    )

    def terms(theta, rng, batch_rng):
        # the n draws of one example are not independent terms: average them per example, so
        # grad_var is the variance across the minibatch's independent examples
        rows = batch_rng.choice(n_train, size=batch, replace=False)
        draws = estimator(data.x_train[rows], data.y_train[rows], theta, n, rng, spec["h"])
        return draws.reshape(batch, n, d).mean(1)

    def evaluate(theta, eval_rng):
        return {
            "objective": classifier.expected_loss(theta, data.x_train, data.y_train),
            "test_objective": classifier.expected_loss(theta, data.x_test, data.y_test),
            "train_accuracy": classifier.accuracy(theta, data.x_train, data.y_train),
            "test_accuracy": classifier.accuracy(theta, data.x_test, data.y_test),
        }, None

    def outside(theta):
        return None if np.all(np.isfinite(theta)) else "θ is not finite (try a smaller optim.lr)"

    return Problem(
        classifier.parameter_names(data),
        np.zeros(d),
        np.ones(d, dtype=bool),
        terms,
        evaluate,
        outside,
        batch * n,
        tuple(CLASSIFIER_EXTRA),
    )


PROBLEMS = {
    "distribution": distribution_problem,
    "bernoulli_toy": bernoulli_toy,
    "classifier": classifier_problem,
}


# split (train/test), batch (minibatches), sample (the estimator's draws), eval (objective)
STREAMS = ("split", "batch", "sample", "eval")


def build(spec: dict, split_rng=None) -> Problem:
    """The problem of a resolved spec; raises SpecError for anything that cannot run."""
    if split_rng is None:
        split_rng = generators(spec["seed"], STREAMS)["split"]
    return PROBLEMS[spec["problem"]](spec, split_rng)


def validate(spec: dict) -> None:
    """Everything checked before anything is written: θ, f, data, estimator applicability."""
    build(spec)


# ---------------------------------------------------------------------------------------------
# running


def run(spec: dict, progress: Progress = silent):
    """Optimise: θ_{t+1} = θ_t ∓ step(ĝ_t) for t < T; returns (per-step table, info).

    The table has one row per θ_t (t = 0..T, fewer when the run stops early), its columns in the
    order of :func:`columns`; info holds status ('done' or 'diverged'), message and notes.
    Streams (split, batch, sample, eval) are spawned from spec["seed"] (streams.generators).
    """
    start = time.perf_counter()
    rngs = generators(spec["seed"], STREAMS)
    problem = build(spec, rngs["split"])
    optimiser, lr = OPTIMISERS[spec["optim"]["kind"]], spec["optim"]["lr"]
    state = adam_init(problem.theta.size)
    sign = -1.0 if spec["minimize"] else 1.0
    steps, every = spec["steps"], spec["objective_every"]
    theta = problem.theta.copy()
    unlogged = dict.fromkeys(["objective", *problem.extra], np.nan)
    rows, notes, message = [], [], ""
    progress(0, steps)
    for step in range(steps + 1):
        values = unlogged
        if step % every == 0 or step == steps:
            values, note = problem.evaluate(theta, rngs["eval"])
            if note and note not in notes:
                notes.append(note)
        grad, stats = None, dict.fromkeys(GRADIENT_COLUMNS, np.nan)  # θ_T has no gradient
        if step < steps:
            grad, stats, message = _gradient(problem, theta, step, rngs)
        rows.append(_row(problem, step, values, theta, stats, time.perf_counter() - start))
        if grad is None or message:
            break
        move, state = optimiser(sign * grad, state, lr)
        theta = theta + move
        why = problem.outside(theta)
        if why:
            message = f"θ left the parameter space at step {step + 1}: {why}"
            break
        shown = {} if np.isnan(values["objective"]) else {"objective": values["objective"]}
        progress(step + 1, steps, **shown)
    table = pd.DataFrame(rows, columns=columns(problem))
    return table, {"status": "diverged" if message else "done", "message": message, "notes": notes}


def _gradient(problem: Problem, theta, step: int, rngs: dict) -> tuple[np.ndarray | None, dict, str]:
    """(ĝ = mean of the learned coordinates' terms (m, d), its statistics by column, why the run
    stops at this step or ''): an estimator that stops applying, or a non-finite ĝ."""
    try:
        terms = problem.terms(theta, rngs["sample"], rngs["batch"])
    except NotApplicable as why:  # e.g. finite differences that leave the support
        return None, dict.fromkeys(GRADIENT_COLUMNS, np.nan), f"at step {step}: {why}"
    learned = np.where(problem.learn, terms, 0.0)
    grad = learned.mean(0)
    stats = gradient_stats(grad, learned)._asdict()
    return grad, stats, "" if np.all(np.isfinite(grad)) else f"non-finite gradient at step {step}"


def _row(problem: Problem, step: int, values: dict, theta, stats: dict, wall_s: float) -> dict:
    """One row of the per-step table, by column name (θ_t under problem.names)."""
    return {
        "step": step,
        "samples": step * problem.samples_per_step,
        **values,
        **dict(zip(problem.names, theta, strict=True)),
        **stats,
        "wall_s": wall_s,
    }


def optimum(spec: dict) -> float:
    """The best attainable objective where it is known (the toy's), else NaN."""
    return toy_optimum(spec) if spec["problem"] == "bernoulli_toy" else np.nan


def summary(table: pd.DataFrame, info: dict, spec: dict) -> dict:
    """runs.csv columns: final and best objective, the optimum, mean grad_var; the final θ
    (distribution problems) or the accuracies against logistic regression (classifier)."""
    logged = table["objective"].dropna()
    out = {
        "final_objective": logged.iloc[-1] if len(logged) else np.nan,
        "best_objective": (logged.min() if spec["minimize"] else logged.max()),
        "optimum": optimum(spec),
        "mean_grad_var": table["grad_var"].mean(),
        "samples": table["samples"].iloc[-1] if len(table) else 0,
    }
    if spec["problem"] == "classifier":
        last = table.dropna(subset=["test_accuracy"]).iloc[-1]
        out.update(train_accuracy=last["train_accuracy"], test_accuracy=last["test_accuracy"])
        out.update(classifier_baseline(spec))
    else:
        names = [c for c in table.columns if c not in {*LEADING, *TRAILING}]
        out["final_theta"] = ",".join(f"{c}={table[c].iloc[-1]:.4g}" for c in names)
    return out


def classifier_baseline(spec: dict) -> dict:
    """Logistic regression on the run's training split (classifier.baseline), fitted once per
    data file content, label, split and l2 in a process: every aggregation of a sweep (and
    `check --no-run`) asks for it again, and the seeds of a sweep share few splits."""
    data = spec["data"]
    path = Path(data["path"] or BUNDLED_DATA)
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:  # load_data says what is wrong
        digest = ""
    key = (str(path), digest, data["label"], data["test_fraction"], spec["seed"], data["l2"])
    return dict(_classifier_baseline(*key))


@functools.lru_cache(maxsize=64)
def _classifier_baseline(path, digest, label, test_fraction, seed, l2) -> tuple:
    spec = {"seed": seed, "data": {"path": path, "label": label, "test_fraction": test_fraction}}
    split_rng = generators(seed, STREAMS)["split"]
    return tuple(classifier.baseline(load_data(spec, split_rng), l2).items())


def subject(spec: dict) -> str:
    """What a spec is about, for its default results name: its distribution (the distribution
    problem, gaussian unless --dist says otherwise) or its problem (bernoulli_toy, classifier)."""
    return (spec["dist"] or "gaussian") if spec["problem"] == "distribution" else spec["problem"]


def output_columns(spec: dict) -> tuple[list[str], list[str]]:
    """The columns of a run's optimize.csv and of its runs.csv row, known before it runs."""
    problem = build(spec)
    summary = ["final_objective", "best_objective", "optimum", "mean_grad_var", "samples"]
    if spec["problem"] == "classifier":
        summary += ["train_accuracy", "test_accuracy", "logreg_train_accuracy", "logreg_test_accuracy"]
        summary += ["logreg_objective"]
    else:
        summary += ["final_theta"]
    return columns(problem), summary
