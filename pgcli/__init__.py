"""pgcli: the log-derivative trick as command-line experiments, and as Python functions.

    import pgcli
    pgcli.gradient(f, dist, theta, n, estimator, rng)   # one estimate, its std error, its terms
    pgcli.estimate(...), pgcli.optimize(...), pgcli.train(...), pgcli.load(results_dir)
    pgcli.run(kind, spec, **keys)                        # one run of any kind
    pgcli.PgcliError                                     # bad input (the CLI's one-line message)

Each returns a pandas DataFrame; the functions and their documentation are in pgcli.shell.api. They
load on first use, so `import pgcli` imports nothing heavy (no NumPy, matplotlib, click or
gymnasium). The package is layered (the README's Layout): pgcli.base; the cores pgcli.lab (the
Monte Carlo lab), pgcli.rl (policy gradients) and pgcli.seq (sequence models); pgcli.kinds (one
record per experiment kind); and the shell, pgcli.shell (command line, runner, results, plots, API).
"""

__version__ = "0.1.0"
__all__ = ["PgcliError", "load", "run"]
SUBPACKAGES = ("base", "lab", "rl", "seq", "kinds", "shell")


def __getattr__(name):
    """The API on first use: pgcli.run, load, PgcliError; pgcli.<kind>(...) for every experiment
    kind (estimate, fisher, optimize, train, ...); and the kinds' own functions (gradient)."""
    import importlib

    if name.startswith("__") or name in SUBPACKAGES:  # `from pgcli import kinds` asks here first
        raise AttributeError(f"module 'pgcli' has no attribute {name!r}")
    kinds = importlib.import_module("pgcli.kinds")
    api = importlib.import_module("pgcli.shell.api")
    if name in __all__:
        return getattr(api, name)
    if name in kinds.REGISTRY:
        return _kind_call(api, name)
    try:
        return api.function(name)
    except AttributeError:
        raise AttributeError(f"module 'pgcli' has no attribute {name!r}") from None


def _kind_call(api, kind: str):
    import functools

    call = functools.partial(api.call, kind)
    call.__doc__ = f"pgcli.{kind}(...): one {kind} run in memory; {api.call.__doc__}"
    return call


def __dir__():
    import importlib

    kinds = importlib.import_module("pgcli.kinds")
    return sorted([*globals(), *__all__, *kinds.names(), "gradient"])
