"""pgcli from Python: the estimator lab, optimisation and training as functions returning DataFrames.

    import numpy as np
    import pgcli

    rng = np.random.default_rng(0)
    theta = np.zeros(30)
    for step in range(200):                                   # your own training loop
        g = pgcli.gradient(my_loss, "bernoulli", {"logit": theta}, n=32, estimator="disarm", rng=rng)
        theta -= 0.1 * g["grad"].to_numpy()                   # g.attrs["terms"]: the (n, d) terms

f is a vectorised callable (x of shape (n, k), or (n,) when a sample is one number, -> (n,)), a
built-in name (`step`, `cos:2`, `table:1,0,3`), an expression in x, or `module:function`; pass
`f_grad=` for a callable's ∂f/∂x. Nothing here prints, exits or writes files: bad input raises
:class:`PgcliError` with the one-line message the command line prints (never SystemExit), and
an exception inside your f propagates unchanged. `import pgcli` stays light: this module, and
through it NumPy, SciPy and pandas, load on first use of a function; gymnasium only in `train`.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from pgcli.base import usercode
from pgcli.base.numerics import mean_and_std_error
from pgcli.lab import distributions, userfn
from pgcli.lab import estimate as estimate_core
from pgcli.lab import optimize as optimize_core
from pgcli.lab.dist_spec import function_problem
from pgcli.lab.estimators import DEPENDENT_TERMS, ESTIMATORS, NotApplicable
from pgcli.lab.estimators import options as estimator_options
from pgcli.lab.functions import FunctionError, references
from pgcli.shell.spec import SpecError, load_yaml, resolve, set_dotted, with_sweep
from pgcli.shell.spec import references as spec_references


class PgcliError(ValueError):
    """Bad input to pgcli's Python API; the message is the command line's one-line error."""


@contextmanager
def _bad_input():
    try:
        yield
    except (SpecError, distributions.DistError, FunctionError, NotApplicable) as err:
        raise PgcliError(str(err)) from None


def _admit(references, directories=()) -> None:
    """Find the user modules named by `references` ((key path, MODULE:NAME) pairs) among your files —
    in the working directory, or `directories` — and admit them (pgcli.base.usercode); never a
    standard-library or installed module. PgcliError names the key otherwise."""
    for path, reference in references:
        try:
            usercode.allow([usercode.locate(reference, [*map(str, directories), os.getcwd()])])
        except usercode.UserCodeError as err:
            raise PgcliError(f"{path}: {err}") from None


def _admit_functions(items) -> None:
    """_admit for f texts (one, or a list) that name Python functions."""
    items = items if isinstance(items, list | tuple) else [items]
    _admit((f"f[{i}]" if len(items) > 1 else "f", ref) for i, item in enumerate(items) for ref in references(item))


def _function(f, f_grad=None):
    _admit_functions(f)
    if f_grad is not None:
        if not callable(f):
            raise PgcliError("f_grad applies only to a callable f (a text f has its own derivative or none)")
        return userfn.from_callable(f, f_grad)
    return userfn.to_function(f)


def _theta(theta) -> dict:
    """θ values as the spec takes them: numbers, lists (vectors) or 'lo:hi:count' text."""
    if theta is None:
        return {}
    if not isinstance(theta, dict):
        raise PgcliError(f"theta must be a mapping of parameter name to value, got {type(theta).__name__}")
    return {k: (np.asarray(v).tolist() if isinstance(v, np.ndarray | list | tuple) else v) for k, v in theta.items()}


def _parametrisation(dist, theta, parametrisation, dim):
    """parametrisation, or the first of the family's whose parameter names θ uses ({'logit': ...})."""
    if parametrisation is not None or not theta or dist not in distributions.FAMILIES:
        return parametrisation
    for name in distributions.FAMILIES[dist].parametrisations:
        if set(theta) <= set(distributions.param_groups(dist, name, dim or distributions.DEFAULT_DIM.get(dist, 1))):
            return name
    return None


def _dim(dist, theta, dim):
    """dim, or the length of θ's vectors (diag_gaussian, bernoulli, categorical)."""
    if dim is not None or dist not in distributions.DEFAULT_DIM:
        return dim
    sizes = {len(v) for v in theta.values() if isinstance(v, list)}
    return sizes.pop() if len(sizes) == 1 else None


def gradient(
    f, dist="gaussian", theta=None, n=1000, estimator="score", rng=None, *,
    parametrisation=None, dim=None, f_grad=None, h=0.01, temperature=0.5,
) -> pd.DataFrame:  # fmt: skip
    """One estimate of ∇θ E_{x~p(x;θ)}[f(x)] from n samples, with its standard error.

    `dist` is a family name; θ maps parameter names to values, in the parametrisation they
    name ({"logit": ...} is the logit one) unless `parametrisation` says; vectors set `dim`.

    Returns a DataFrame indexed by the coordinates of θ (`mu`, `logit[3]`, ...) with columns
    `grad` (the mean of the per-sample terms) and `std_error` (their std / √n; NaN for
    score_antithetic and score_rqmc, whose terms are dependent); `attrs["terms"]` holds the
    per-sample terms (n, d). `rng` is a numpy Generator, a seed, or None.
    """
    with _bad_input():
        fn = _function(f, f_grad)
        theta = _theta(theta)
        dim = _dim(dist, theta, dim)
        try:
            family = distributions.make_dist(dist, _parametrisation(dist, theta, parametrisation, dim), theta, dim)
        except distributions.DistError as err:  # as `pgcli estimate` says it
            raise SpecError("theta", str(err)) from None
        mismatch = function_problem(fn, family)
        if mismatch:
            raise PgcliError(f"f: {mismatch}")
        if estimator not in ESTIMATORS:
            raise PgcliError(f"estimator: unknown value {estimator!r}; allowed: {', '.join(ESTIMATORS)}")
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
            raise PgcliError(f"n: expected a positive integer, got {n!r}")
        options = estimator_options(estimator, {"h": h, "temperature": temperature})
        with np.errstate(all="ignore"):
            terms = ESTIMATORS[estimator](family, fn, int(n), np.random.default_rng(rng), 1, **options)[0]
    grad, std_error = mean_and_std_error(terms)
    if estimator in DEPENDENT_TERMS:
        std_error = np.full_like(grad, np.nan)
    frame = pd.DataFrame({"grad": grad, "std_error": std_error}, index=pd.Index(family.names, name="param"))
    frame.attrs.update(terms=np.ascontiguousarray(terms), estimator=estimator, f=fn.label)
    return frame


def _spec(schema, user: dict, functions=None) -> dict:
    """Resolve user keys against a schema (typed, with the CLI's messages); Python callables for
    f are put back after resolution (the schema types f as text)."""
    with _bad_input():
        spec = resolve(schema, {k: v for k, v in user.items() if v is not None})
    if functions is not None:
        spec["f"] = functions
    return spec


def estimate(
    f="step", dist="gaussian", theta=None, *, estimators=None, n=(10, 100, 1000), reps=200, seed=0,
    parametrisation=None, dim=None, f_grad=None, h=0.01, temperature=0.5,
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
    _admit_functions(items)
    with _bad_input():
        functions = [_function(item, f_grad) if not isinstance(item, str) else item for item in items]
    theta = _theta(theta)
    dim = _dim(dist, theta, dim)
    parametrisation = _parametrisation(dist, theta, parametrisation, dim)
    user = {"dist": dist, "parametrisation": parametrisation, "dim": dim, "theta": theta,
            "f": ["step"] * len(items), "estimators": [estimators] if isinstance(estimators, str) else estimators and list(estimators), "n": list(n) if isinstance(n, list | tuple) else [n],
            "reps": reps, "seed": seed, "h": h, "temperature": temperature}  # fmt: skip
    spec = _spec(estimate_core.SCHEMA, user, functions)
    with _bad_input():
        estimate_core.validate(spec)
    table, notes = estimate_core.run(spec)
    table.attrs["notes"] = notes
    return table


def optimize(
    f=None, dist=None, theta=None, *, estimator="score", n=16, steps=500, lr=0.05, optim="adam", minimize=True,
    learn=None, parametrisation=None, dim=None, seed=0, problem="distribution", f_grad=None, **keys,
) -> pd.DataFrame:  # fmt: skip
    """Minimise (or maximise) E[f(x)] over θ with one estimator, as `pgcli optimize` (in memory).

    Defaults as the command: gaussian, f = step, Adam. Other spec keys (objective_every, h,
    temperature, target, data={...}) go in **keys. Returns the per-step optimize.csv table;
    `attrs` holds `status` ('done' or 'diverged'), `message`, `notes` and `summary` (the
    runs.csv columns).
    """
    theta = _theta(theta)
    _admit_functions(f)
    with _bad_input():
        function = None if f is None or (isinstance(f, str) and f_grad is None) else _function(f, f_grad)
    dim = _dim(dist, theta, dim)
    parametrisation = _parametrisation(dist, theta, parametrisation, dim)
    user = {"problem": problem, "dist": dist, "parametrisation": parametrisation, "dim": dim,
            "theta": theta, "learn": [learn] if isinstance(learn, str) else learn and list(learn), "f": f if isinstance(f, str) else None,
            "estimator": estimator, "n": n, "steps": steps, "optim": {"kind": optim, "lr": lr},
            "minimize": minimize, "seed": seed, **keys}  # fmt: skip
    spec = _spec(optimize_core.SCHEMA, user)
    if function is not None:
        spec["f"] = function
    with _bad_input():
        optimize_core.validate(spec)
    table, info = optimize_core.run(spec)
    table.attrs.update(info, summary=optimize_core.summary(table, info, spec))
    return table


def train(spec=None, *, overrides=None, **keys) -> pd.DataFrame:
    """REINFORCE on a gymnasium environment, as `pgcli train` for one seed (in memory).

    `spec` is a train spec file or a dict; `overrides` maps dotted keys to values
    ({"optim.lr": 0.02}); **keys sets top-level keys (seed=3). A sweep block is ignored (one
    run; sweeps: the command line). Returns the metrics.csv table; `attrs` holds `status`,
    `message`, `notes` and `files` (policy.npz bytes).
    """
    from pgcli.rl import train as train_core  # gymnasium: only when training

    with _bad_input():
        user = load_yaml(spec) if isinstance(spec, str | Path) else dict(spec or {})
        for key, value in {**keys, **(overrides or {})}.items():
            set_dotted(user, key, value)
        for key in ("kind", "name", "sweep", "expect"):
            user.pop(key, None)
        resolved = resolve(with_sweep(train_core.SCHEMA), user)
    spec_dir = [Path(spec).parent] if isinstance(spec, str | Path) else []
    _admit(spec_references(train_core.SCHEMA, resolved), spec_dir)
    with _bad_input():
        train_core.validate(resolved)
    table, info = train_core.run(resolved)
    table.attrs.update(info)
    return table


def load(results_dir) -> pd.DataFrame:
    """The table of a results directory written by the command line (results/<name>/ or one
    run's directory), or a CSV file; `attrs["runs"]` is runs.csv when there is one."""
    from pgcli.kinds import TABLES

    path = Path(results_dir)
    if path.is_file() and path.suffix == ".csv":
        return pd.read_csv(path)
    tables = [path / table for table in TABLES.values() if (path / table).is_file()]
    if not tables:
        names = ", ".join(TABLES.values())
        raise PgcliError(f"{path}: no results table here (one of {names})")
    table = pd.read_csv(tables[0])
    if (path / "runs.csv").is_file():
        table.attrs["runs"] = pd.read_csv(path / "runs.csv")
    return table
