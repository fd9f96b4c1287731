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
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from pgcli.base import lazy
from pgcli.base.fields import SpecError
from pgcli.base.numerics import GradientStats, gradient_stats
from pgcli.base.optim import OPTIMISERS, adam_init
from pgcli.base.progress import Progress, silent
from pgcli.base.streams import generators
from pgcli.lab import classifier, distributions, estimators, exact, userfn
from pgcli.lab.dist_spec import function_problem, probe_function, theta_grid
from pgcli.lab.estimators import ESTIMATORS, NotApplicable, f_of
from pgcli.lab.functions import FunctionError, parse_function

pd = lazy.module("pandas")

TOY_TARGET = 0.45
PROBE_SAMPLES = 16  # samples of the applicability check run before anything is written


MAX_N = 10**6  # samples per step (and per objective estimate): they are held in memory at once
MAX_STEPS = 10**6  # gradient steps (one table row each)


class Optim(NamedTuple):
    """The first-order optimiser: its name in base.optim.OPTIMISERS and learning rate."""

    kind: str
    lr: float


class DataSettings(NamedTuple):
    """The classifier's data: a CSV (None: the bundled breast-cancer data), its label column (None:
    the last), the held-out share, examples per step, and the logistic-regression baseline's L2."""

    path: str | None
    label: str | None
    test_fraction: float
    batch: int
    l2: float


class Settings(NamedTuple):
    """An optimisation: the problem, its distribution and f (distribution problems), the estimator
    and samples per step, the steps and optimiser, and how often the objective is computed."""

    problem: str  # distribution | bernoulli_toy | classifier (PROBLEMS)
    dist: str | None
    parametrisation: str | None
    dim: int | None
    theta: dict  # the initial θ by parameter
    learn: list[str] | None  # the parameters that move (None: all)
    f: Any  # text, a callable or an Fn (the Python API); None: step
    target: float | None  # bernoulli_toy's t
    minimize: bool
    estimator: str
    n: int
    h: float
    temperature: float
    steps: int
    optim: Optim
    objective_every: int
    objective_samples: int
    data: DataSettings
    seed: int


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


def _unset(settings: Settings, keys, problem, why):
    for key in keys:
        value = getattr(settings, key)
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


def _learn_mask(settings, dist):
    groups = distributions.param_groups(dist.family, dist.parametrisation, dist.dim)
    learn = settings.learn or groups
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


def _dist_problem(settings, dist, f) -> Problem:
    learn = _learn_mask(settings, dist)
    estimator = ESTIMATORS[settings.estimator]
    options = estimators.options(settings.estimator, settings._asdict())
    fam = distributions.family(dist)
    m = settings.objective_samples

    def at(theta):
        return distributions.with_theta(dist, theta)

    def terms(theta, rng, batch_rng):
        with np.errstate(all="ignore"):
            return estimator(at(theta), f, settings.n, rng, **options)[0]

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
        probe = _probe(settings, lambda n, rng: estimator(dist, f, n, rng, **options), user_code=f.name == "python")
    except FunctionError as err:  # e.g. a table evaluated outside its range
        raise SpecError("f", str(err)) from None
    if probe is None:  # the user's f raised: the run reports it, failed, with the traceback
        probe = np.zeros((1, dist.theta.size))
    missing = [name for name, on, col in zip(dist.names, learn, probe.T, strict=True)
               if on and np.isnan(col).all()]  # fmt: skip
    if missing:
        raise SpecError(
            "estimator",
            f"{settings.estimator} has no estimate for {missing[0]} of {dist.family}; "
            "choose another estimator or leave it out of learn",
        )
    return Problem(list(dist.names), dist.theta.copy(), learn, terms, evaluate, outside, settings.n)


def _probe(settings, draw, user_code=False):
    """Terms of one small draw at the initial θ (a throwaway stream of the run's seed), so that
    an estimator that does not apply is bad input before anything is written. An exception
    inside a user's f is not bad input: None, and the run itself ends failed with it."""
    rng = np.random.default_rng(np.random.SeedSequence(settings.seed))
    try:
        with np.errstate(all="ignore"):
            return draw(min(settings.n, PROBE_SAMPLES), rng)
    except NotApplicable as why:
        raise SpecError("estimator", str(why)) from None
    except FunctionError:
        raise
    except Exception:
        if user_code:
            return None
        raise


def distribution_problem(settings, split_rng=None) -> Problem:
    """x ~ p(x; θ) of any family, any f of the lab."""
    _unset(settings, ["target"], "distribution", "has no target (that is bernoulli_toy's)")
    family = settings.dist or "gaussian"
    parametrisation = settings.parametrisation or unconstrained(family)
    dist = _initial_dist(family, parametrisation, settings.theta, settings.dim)
    try:
        f = userfn.to_function(settings.f if settings.f is not None else "step")  # API: also a callable
    except FunctionError as err:
        raise SpecError("f", str(err)) from None
    problem = function_problem(f, dist)
    if problem:
        raise SpecError("f", problem)
    return _dist_problem(settings, dist, f)


def toy_target(settings) -> float:
    """t of the toy's f(x) = (x − t)² (the target setting, default TOY_TARGET = 0.45, Tucker et al. 2017)."""
    return TOY_TARGET if settings.target is None else settings.target


def toy_optimum(settings) -> float:
    """min over p of t² + (1 − 2t) p: t² (p = 0) or (1 − t)² (p = 1); max when maximising."""
    t = toy_target(settings)
    ends = (t * t, (1 - t) ** 2)
    return min(ends) if settings.minimize else max(ends)


def bernoulli_toy(settings, split_rng=None) -> Problem:
    """x ~ Bernoulli(σ(η)), f(x) = (x − t)², θ = η (logit)."""
    _unset(
        settings,
        ["dist", "parametrisation", "dim", "f"],
        "bernoulli_toy",
        "fixes x ~ Bernoulli(sigmoid(logit)) and f(x) = (x − target)²",
    )
    dist = _initial_dist("bernoulli", "logit", {"logit": 0.0, **settings.theta}, None)
    f = parse_function(f"(x - {toy_target(settings)!r})**2")
    return _dist_problem(settings, dist, f)


def bundled_data() -> Path:
    """The bundled breast-cancer data (pgcli/lab/data/README.md), as a file (importlib.resources:
    it works from an installed wheel too)."""
    return Path(str(resources.files("pgcli.lab") / "data" / "breast_cancer.csv"))


def load_data(data: DataSettings, split_rng) -> classifier.Data:
    """The classifier's data set, split by `split_rng` (classifier.load); SpecError at data.path."""
    try:
        return classifier.load(data.path or bundled_data(), data.label, data.test_fraction, split_rng)
    except classifier.DataError as err:
        raise SpecError("data.path", str(err)) from None


def classifier_problem(settings, split_rng) -> Problem:
    """ŷ_i ~ Bernoulli(σ(wᵀx_i + b)), f_i(ŷ) = 1{ŷ ≠ y_i}, θ = (w, b) from 0 (classifier.py)."""
    _unset(
        settings,
        ["dist", "parametrisation", "dim", "theta", "learn", "f", "target"],
        "classifier",
        "fixes ŷ ~ Bernoulli(sigmoid(w·x + b)) and f(ŷ) = 1{ŷ ≠ y}, from θ = 0",
    )
    data = load_data(settings.data, split_rng)
    batch, n = settings.data.batch, settings.n
    n_train = data.y_train.size
    if batch > n_train:
        raise SpecError("data.batch", f"must be ≤ the {n_train} training examples, got {batch}")
    estimator = classifier.ESTIMATORS[settings.estimator]
    d = data.x_train.shape[1]
    _probe(
        settings,
        lambda n, rng: estimator(data.x_train[:batch], data.y_train[:batch], np.zeros(d), n, rng, 1),
    )

    def terms(theta, rng, batch_rng):
        # the n draws of one example are not independent terms: average them per example, so
        # grad_var is the variance across the minibatch's independent examples
        rows = batch_rng.choice(n_train, size=batch, replace=False)
        draws = estimator(data.x_train[rows], data.y_train[rows], theta, n, rng, settings.h)
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


def build(settings: Settings, split_rng=None) -> Problem:
    """The problem of the settings; raises SpecError for anything that cannot run."""
    if split_rng is None:
        split_rng = generators(settings.seed, STREAMS)["split"]
    return PROBLEMS[settings.problem](settings, split_rng)


MAX_SAMPLES = 10**10  # samples drawn by all the steps of a run (n × steps; classifier: × batch)


def validate(settings: Settings) -> None:
    """Everything checked before anything is written: the work (at most MAX_SAMPLES samples), θ,
    f, data, estimator applicability."""
    per_step = settings.n * (settings.data.batch if settings.problem == "classifier" else 1)
    if per_step * settings.steps > MAX_SAMPLES:
        raise SpecError("steps", f"n × steps = {per_step * settings.steps:.3g} samples; the limit is {MAX_SAMPLES:.0e}")
    build(settings)


# ---------------------------------------------------------------------------------------------
# running


def run(settings: Settings, progress: Progress = silent):
    """Optimise: θ_{t+1} = θ_t ∓ step(ĝ_t) for t < T; returns (per-step table, info).

    The table has one row per θ_t (t = 0..T, fewer when the run stops early), its columns in the
    order of :func:`columns`; info holds status ('done' or 'diverged'), message and notes.
    Streams (split, batch, sample, eval) are spawned from settings.seed (streams.generators).
    """
    start = time.perf_counter()
    rngs = generators(settings.seed, STREAMS)
    problem = build(settings, rngs["split"])
    optimiser, lr = OPTIMISERS[settings.optim.kind], settings.optim.lr
    state = adam_init(problem.theta.size)
    sign = -1.0 if settings.minimize else 1.0
    steps, every = settings.steps, settings.objective_every
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


def optimum(settings: Settings) -> float:
    """The best attainable objective where it is known (the toy's), else NaN."""
    return toy_optimum(settings) if settings.problem == "bernoulli_toy" else np.nan


def summary(table: pd.DataFrame, settings: Settings) -> dict:
    """runs.csv columns: final and best objective, the optimum, mean grad_var; the final θ
    (distribution problems) or the accuracies against logistic regression (classifier)."""
    logged = table["objective"].dropna()
    out = {
        "final_objective": logged.iloc[-1] if len(logged) else np.nan,
        "best_objective": (logged.min() if settings.minimize else logged.max()),
        "optimum": optimum(settings),
        "mean_grad_var": table["grad_var"].mean(),
        "samples": table["samples"].iloc[-1] if len(table) else 0,
    }
    if settings.problem == "classifier":
        last = table.dropna(subset=["test_accuracy"]).iloc[-1]
        out.update(train_accuracy=last["train_accuracy"], test_accuracy=last["test_accuracy"])
        out.update(classifier_baseline(settings))
    else:
        names = [c for c in table.columns if c not in {*LEADING, *TRAILING}]
        out["final_theta"] = ",".join(f"{c}={table[c].iloc[-1]:.4g}" for c in names)
    return out


def classifier_baseline(settings: Settings) -> dict:
    """Logistic regression on the run's training split (classifier.baseline), fitted once per
    data file content, label, split and l2 in a process: every aggregation of a sweep (and
    `check --no-run`) asks for it again, and the seeds of a sweep share few splits."""
    data = settings.data
    path = Path(data.path or bundled_data())
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:  # load_data says what is wrong
        digest = ""
    key = (str(path), digest, data.label, data.test_fraction, settings.seed, data.l2)
    return dict(_classifier_baseline(*key))


@functools.lru_cache(maxsize=64)
def _classifier_baseline(path, digest, label, test_fraction, seed, l2) -> tuple:
    split_rng = generators(seed, STREAMS)["split"]
    return tuple(classifier.baseline(load_data(DataSettings(path, label, test_fraction, 0, l2), split_rng), l2).items())


def subject(settings: Settings) -> str:
    """What an optimisation is about, for its default results name: its distribution (the
    distribution problem, gaussian unless --dist says otherwise) or its problem (bernoulli_toy, classifier)."""
    return (settings.dist or "gaussian") if settings.problem == "distribution" else settings.problem


def output_columns(settings: Settings) -> tuple[list[str], list[str]]:
    """The columns of a run's optimize.csv and of its runs.csv row, known before it runs."""
    problem = build(settings)
    summary = ["final_objective", "best_objective", "optimum", "mean_grad_var", "samples"]
    if settings.problem == "classifier":
        summary += ["train_accuracy", "test_accuracy", "logreg_train_accuracy", "logreg_test_accuracy"]
        summary += ["logreg_objective"]
    else:
        summary += ["final_theta"]
    return columns(problem), summary
