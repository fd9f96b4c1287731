"""pgcli from Python: the estimator lab, optimisation and training as functions returning DataFrames.

    import numpy as np
    import pgcli

    rng = np.random.default_rng(0)
    theta = np.zeros(30)
    for step in range(200):                                   # your own training loop
        g = pgcli.gradient(my_loss, "bernoulli", {"logit": theta}, n=32, estimator="disarm", rng=rng)
        theta -= 0.1 * g["grad"].to_numpy()                   # g.attrs["terms"]: the (n, d) terms

f is a vectorised callable (x of shape (n, k), or (n,) when a sample is one number, -> (n,)), a
built-in name (`step`, `cos:2`, `table:1,0,3`), an expression in x, or `module:function` (a file
of yours in the working directory); pass `f_grad=` for a callable's ∂f/∂x.

Every function builds its spec as the command line does (pgcli.shell.experiment.build_spec: the
same schemas, defaults and limits): a keyword left out takes the schema's default, and bad input
raises :class:`PgcliError` with the command line's one-line message (never SystemExit); an
exception inside your f propagates unchanged. Nothing here prints, exits or writes files.
`import pgcli` stays light: this module, and through it NumPy, SciPy and pandas, load on first
use of a function; gymnasium only in `train`.
"""

from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from pgcli import kinds
from pgcli.base import usercode
from pgcli.base.progress import silent
from pgcli.lab.distributions import DistError
from pgcli.lab.functions import FunctionError
from pgcli.shell import experiment, results
from pgcli.shell.spec import SpecError, load_yaml

API_NAME = "api"  # the results name of an API spec: nothing is written, but a spec has a name
MAX_GRADIENT_SAMPLES = 10**6  # gradient's per-sample terms are held in memory (n, d)


class PgcliError(ValueError):
    """Bad input to pgcli's Python API; the message is the command line's one-line error."""


@contextmanager
def _bad_input():
    try:
        yield
    except (
        SpecError,
        DistError,
        FunctionError,
        experiment.InputError,
        results.ResultsError,
        usercode.UserCodeError,
    ) as err:
        raise PgcliError(str(err)) from None


def _given(**values) -> dict:
    """Spec flags from keyword arguments: those given (not None), arrays as lists."""
    return {key: value.tolist() if isinstance(value, np.ndarray) else value for key, value in values.items()
            if value is not None}  # fmt: skip


def _theta(theta) -> dict | None:
    """θ as the spec takes it: a mapping of parameter names to numbers, vectors or 'lo:hi:count' text."""
    if theta is None:
        return None
    if not isinstance(theta, dict):
        raise PgcliError(f"theta: expected a mapping of parameter name to value, got {type(theta).__name__}")
    return {k: (np.asarray(v).tolist() if isinstance(v, np.ndarray | list | tuple) else v) for k, v in theta.items()}


def spec(kind: str, flags: dict, spec_file=None, seed=None) -> dict:
    """The resolved spec of a kind from API arguments, as the command line builds it from the same
    values given as flags (pgcli.shell.experiment.build_spec); PgcliError with its message."""
    if kind not in kinds.REGISTRY:
        raise PgcliError(f"kind: unknown value {kind!r}; allowed: {', '.join(kinds.names())}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer)):
        raise PgcliError(f"seed: expected a non-negative integer, got {seed!r}")
    with _bad_input():
        return experiment.build_spec(kind, spec_file, flags, [], None if seed is None else int(seed), API_NAME)


def _run(kind: str, resolved: dict, spec_dir=None) -> kinds.Result:
    """One run of a resolved spec in this process: its sweep ignored, its user modules found (in
    the working directory, or beside a spec file) and admitted, validated as the command line
    validates it, then run. Nothing is written."""
    resolved = {**resolved, "sweep": {"grid": {}, "seeds": None}}
    trusted = experiment.Trust(tuple(map(str, [*([spec_dir] if spec_dir else []), os.getcwd()])))
    with _bad_input():
        (run,) = experiment.plan_runs(kind, resolved, Path(os.devnull), (), trusted)
    return kinds.get(kind).run(run.spec, silent)


def _rng(rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, int | np.integer) and not isinstance(rng, bool) and rng >= 0):
        return np.random.default_rng(rng)
    raise PgcliError(f"rng: expected a numpy Generator, a seed (an integer ≥ 0) or None, got {rng!r}")


def _function(f, f_grad):
    """f as the spec takes it: text stays text; a callable (with f_grad, its derivative) as an Fn."""
    from pgcli.lab import userfn

    if f_grad is None:
        return f
    if not callable(f):
        raise PgcliError("f_grad applies only to a callable f (a text f has its own derivative or none)")
    with _bad_input():
        return userfn.from_callable(f, f_grad)


def gradient(
    f, dist="gaussian", theta=None, n=1000, estimator="score", rng=None, *,
    parametrisation=None, dim=None, f_grad=None, h=None, temperature=None,
) -> pd.DataFrame:  # fmt: skip
    """One estimate of ∇θ E_{x~p(x;θ)}[f(x)] from n samples, with its standard error.

    `dist` is a family name; θ maps parameter names to values (a name the default
    parametrisation lacks selects the one that has it: {"logit": ...}); vectors set `dim`.

    Returns a DataFrame indexed by the coordinates of θ (`mu`, `logit[3]`, ...) with columns
    `grad` (the mean of the per-sample terms) and `std_error` (their std / √n; NaN for
    score_antithetic and score_rqmc, whose terms are dependent); `attrs["terms"]` holds the
    per-sample terms (n, d). `rng` is a numpy Generator, a seed, or None.
    """
    from pgcli.base.numerics import mean_and_std_error
    from pgcli.kinds.estimate import settings
    from pgcli.lab import estimators, userfn
    from pgcli.lab.dist_spec import make_functions, probe_function

    generator = _rng(rng)
    if isinstance(n, int | np.integer | float) and not isinstance(n, bool) and n > MAX_GRADIENT_SAMPLES:
        raise PgcliError(f"n: {n:.3g} samples; gradient holds its terms in memory: at most {MAX_GRADIENT_SAMPLES:,}")
    flags = _given(dist=dist, theta=_theta(theta), parametrisation=parametrisation, dim=dim, f=[_function(f, f_grad)],
                   estimators=[estimator], n=[n], h=h, temperature=temperature)  # fmt: skip
    resolved = spec("estimate", flags)
    trusted = experiment.Trust((os.getcwd(),))
    with _bad_input():
        experiment.plan_runs("estimate", {**resolved, "sweep": {"grid": {}, "seeds": None}}, Path(os.devnull),
                             (), trusted, imports=False)  # fmt: skip
        usercode.allow(experiment.user_modules("estimate", trusted)(resolved))
        lab = settings(resolved)
        if len(lab.dists) != 1:
            raise PgcliError(f"theta: one θ per gradient, got {len(lab.dists)} points")
        (family,) = lab.dists
        (fn,) = make_functions(lab.f, family)
        probe_function(fn, family, "f")
        options = estimators.options(estimator, lab.options)
        try:
            with np.errstate(all="ignore"):
                terms = estimators.ESTIMATORS[estimator](family, fn, lab.n[0], generator, 1, **options)[0]
        except estimators.NotApplicable as why:
            raise PgcliError(f"estimator: {why}") from None
    grad, std_error = mean_and_std_error(terms)
    if estimator in estimators.DEPENDENT_TERMS:
        std_error = np.full_like(grad, np.nan)
    frame = pd.DataFrame({"grad": grad, "std_error": std_error}, index=pd.Index(family.names, name="param"))
    frame.attrs.update(terms=np.ascontiguousarray(terms), estimator=estimator, f=userfn.to_function(fn).label)
    return frame


def estimate(
    f="step", dist=None, theta=None, *, estimators=None, n=None, reps=None, seed=None,
    parametrisation=None, dim=None, f_grad=None, h=None, temperature=None, dtype=None,
) -> pd.DataFrame:  # fmt: skip
    """Every estimator of ∇θ E[f] against the exact gradient, as `pgcli estimate` (in memory).

    f may be one function or a list of them; θ values may be 'lo:hi:count' sweeps. Returns the
    estimate.csv table (columns: pgcli.lab.estimate.COLUMNS); `attrs["notes"]` lists skipped
    estimators and why.
    """
    items = list(f) if isinstance(f, list | tuple) else [f]
    if f_grad is not None and len(items) > 1:
        raise PgcliError(
            "f_grad is the derivative of one f; give one f, or put <function>_grad beside each in a module"
        )
    functions = [_function(item, f_grad) for item in items]
    estimators = [estimators] if isinstance(estimators, str) else estimators
    flags = _given(f=functions, dist=dist, theta=_theta(theta), estimators=estimators, n=n, reps=reps,
                   parametrisation=parametrisation, dim=dim, h=h, temperature=temperature, dtype=dtype)  # fmt: skip
    result = _run("estimate", spec("estimate", flags, seed=seed))
    result.table.attrs["notes"] = list(result.notes)
    return result.table


def optimize(
    f=None, dist=None, theta=None, *, estimator=None, n=None, steps=None, lr=None, optim=None, minimize=None,
    learn=None, parametrisation=None, dim=None, seed=None, problem=None, f_grad=None, **keys,
) -> pd.DataFrame:  # fmt: skip
    """Minimise (or maximise) E[f(x)] over θ with one estimator, as `pgcli optimize` (in memory).

    Defaults as the command: gaussian, f = step, Adam. Other spec keys (objective_every, h,
    temperature, target, data={...}) go in **keys. Returns the per-step optimize.csv table;
    `attrs` holds `status` ('done' or 'diverged', with a RuntimeWarning saying why), `message`,
    `notes` and `summary` (the runs.csv columns).
    """
    flags = _given(problem=problem, f=None if f is None else _function(f, f_grad), dist=dist, theta=_theta(theta),
                   estimator=estimator, n=n, steps=steps, minimize=minimize, parametrisation=parametrisation, dim=dim,
                   learn=[learn] if isinstance(learn, str) else learn, **{"optim.kind": optim, "optim.lr": lr},
                   **keys)  # fmt: skip
    resolved = spec("optimize", flags, seed=seed)
    result = _run("optimize", resolved)
    summary = kinds.get("optimize").summary(result.table, resolved)
    result.table.attrs.update(status=result.status, message=result.message, notes=list(result.notes), summary=summary)
    _warn(result)
    return result.table


def train(spec_file=None, *, overrides=None, **keys) -> pd.DataFrame:
    """Policy gradients on a gymnasium environment, as `pgcli train` for one seed (in memory).

    `spec_file` is a train spec file or a dict; `overrides` maps dotted keys to values
    ({"optim.lr": 0.02}); **keys sets top-level keys (seed=3). A sweep block is ignored (one
    run; sweeps: the command line). Returns the metrics.csv table; `attrs` holds `status`,
    `message`, `notes` and `files` (policy.npz bytes).
    """
    path = spec_file if isinstance(spec_file, str | Path) else None
    with _bad_input():
        user = {} if path is not None else dict(spec_file or {})
        if spec_file is not None and path is None and not isinstance(spec_file, dict):
            raise PgcliError(f"spec: expected a spec file or a mapping, got {type(spec_file).__name__}")
        if path is not None:
            load_yaml(path)  # a missing or malformed file: its own message, before the keys
    seed = keys.pop("seed", None)
    flags = {**{k: v for k, v in user.items() if k not in ("kind", "name", "sweep", "expect")}, **keys,
             **(overrides or {})}  # fmt: skip
    resolved = spec("train", flags, spec_file=path, seed=seed)
    result = _run("train", resolved, Path(path).parent if path else None)
    result.table.attrs.update(status=result.status, message=result.message, notes=list(result.notes),
                              files=result.files)  # fmt: skip
    _warn(result)
    return result.table


def _warn(result: kinds.Result) -> None:
    """A run that did not end done says why, as the command line prints it."""
    if result.status != "done":
        warnings.warn(f"the run ended {result.status}: {result.message}", RuntimeWarning, stacklevel=3)


def load(results_dir) -> pd.DataFrame:
    """The table of a results directory written by the command line (results/<name>/ or one
    run's directory), or a CSV file; `attrs["runs"]` is runs.csv when there is one."""
    if not isinstance(results_dir, str | os.PathLike):
        raise PgcliError(f"results_dir: expected a path, got {type(results_dir).__name__}")
    try:
        loaded = results.load(results_dir)
    except results.ResultsError as err:
        raise PgcliError(str(err)) from None
    table = loaded.frame
    if loaded.runs is not None:
        table.attrs["runs"] = loaded.runs
    return table
