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

import functools
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
from pgcli.shell import experiment, library, results
from pgcli.shell.spec import SpecError, load_yaml

API_NAME = "api"  # the results name of an API spec: nothing is written, but a spec has a name


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
    usercode.allow(run.modules)  # your code runs in this process: the API's caller is code too
    return kinds.get(kind).run(run.spec, silent)


def _function(f, f_grad):
    """f as the spec takes it: text stays text; a callable (with f_grad, its derivative) as an Fn."""
    from pgcli.lab import userfn

    if f_grad is None:
        return f
    if not callable(f):
        raise PgcliError("f_grad applies only to a callable f (a text f has its own derivative or none)")
    with _bad_input():
        return userfn.from_callable(f, f_grad)


def _flags(kind: kinds.Kind, options: dict) -> dict:
    """API keywords as spec flags: a keyword named like one of the command's flags (`optim`, `lr`,
    `estimator`) sets that flag's key (`optim.kind`, `optim.lr`); any other names a spec key. A
    callable f with `f_grad` (its derivative) becomes one Fn; arrays become lists."""
    options = dict(options)
    if options.get("f_grad") is not None:
        if isinstance(options.get("f"), list | tuple):
            raise PgcliError(
                "f_grad is the derivative of one f; give one f, or put <function>_grad beside each in a module"
            )
        options["f"] = _function(options["f"], options["f_grad"])
    options.pop("f_grad", None)
    by_name = {flag.keyword: flag for flag in kind.flags if flag.key}
    flags = {}
    for name, value in options.items():
        if value is None:
            continue
        flag = by_name.get(name)
        if name == "theta":
            value = _theta(value)
        elif isinstance(value, np.ndarray):
            value = value.tolist()
        elif type(value) is tuple:  # a plain tuple of values (not a NamedTuple such as an Fn)
            value = list(value)
        if flag is not None and flag.type == "texts" and not isinstance(value, list):
            value = [value]
        flags[flag.key if flag else name] = value
    return flags


def call(kind: str, *args, **options) -> pd.DataFrame:
    """`pgcli.<kind>(...)`: one run of a kind from the command's flags given as keywords (and its
    record's positional parameters, `Kind.api`), in memory; see :func:`run`."""
    record = kinds.get(kind)
    if len(args) > len(record.api):
        raise PgcliError(f"pgcli.{kind} takes at most {len(record.api)} positional arguments ({', '.join(record.api)})")
    named = dict(zip(record.api, args, strict=False))
    clash = sorted(set(named) & set(options))
    if clash:
        raise PgcliError(f"pgcli.{kind}: {clash[0]} given twice")
    options = {**named, **options}
    spec_file = options.pop("spec", None)
    return run(kind, spec_file, overrides=options.pop("overrides", None), seed=options.pop("seed", None),
               **_flags(record, options))  # fmt: skip


def function(name: str):
    """A kind's own API function (`pgcli.gradient`, the estimate kind's), given the shell's way to
    build a spec for it (`build`); bad input raises PgcliError, an exception in your code is yours."""
    found = next((kind.functions[name] for kind in map(kinds.get, kinds.names()) if name in kind.functions), None)
    if found is None:
        raise AttributeError(name)

    @functools.wraps(found)
    def api_function(*args, **keys):
        with _bad_input():
            return found(build, *args, **keys)

    return api_function


def build(kind: str, flags: dict) -> dict:
    """The resolved spec of one run of `kind` from API flags, its user modules (your files in the
    working directory) found and admitted; not validated by the kind (the caller does what it
    needs). PgcliError with the command line's message."""
    resolved = {**spec(kind, _flags(kinds.get(kind), flags)), "sweep": {"grid": {}, "seeds": None}}
    trusted = experiment.Trust((os.getcwd(),))
    with _bad_input():
        (planned,) = experiment.plan_runs(kind, resolved, Path(os.devnull), (), trusted, imports=False)
    usercode.allow(planned.modules)
    return planned.spec


def run(kind: str, spec_file=None, *, overrides=None, seed=None, **keys) -> pd.DataFrame:
    """One run of any experiment kind (its command's name: "train", "estimate", ...), in memory.

    `spec_file` is a spec file of that kind (or a bundled spec's name: "cartpole") or a mapping; `overrides` maps dotted keys to values
    ({"optim.lr": 0.02}); **keys sets spec keys. A sweep block is ignored (one run; sweeps: the
    command line). Returns the run's table; `attrs` holds `status`, `message`, `notes`, `files`
    (e.g. policy.npz bytes) and `summary` (its runs.csv columns)."""
    path = spec_file if isinstance(spec_file, str | Path) else None
    if spec_file is not None and path is None and not isinstance(spec_file, dict):
        raise PgcliError(f"spec: expected a spec file or a mapping, got {type(spec_file).__name__}")
    if overrides is not None and not isinstance(overrides, dict):
        raise PgcliError(
            f"overrides: expected a mapping of dotted keys to values ({{'optim.lr': 0.02}}), got {overrides!r:.80}"
        )
    user = dict(spec_file or {}) if path is None else {}
    if path is not None:
        path = library.find(path) or path
        with _bad_input():
            load_yaml(path)  # a missing or malformed file: its own message, before the keys
    flags = {**{k: v for k, v in user.items() if k not in ("kind", "name", "sweep", "expect")}, **keys,
             **(overrides or {})}  # fmt: skip
    resolved = spec(kind, flags, spec_file=path, seed=seed)
    result = _run(kind, resolved, Path(path).parent if path else None)
    record = kinds.get(kind)
    summary = record.summary(result.table, resolved) if record.summary else {}
    table = result.table.frame() if record.light else result.table  # a light kind's Table (pgcli.base.table)
    table.attrs.update(status=result.status, message=result.message, notes=list(result.notes), files=result.files,
                       summary=summary)  # fmt: skip
    _warn(result)
    return table


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
