"""pgcli: the log-derivative trick as command-line experiments, and as Python functions.

    import pgcli
    pgcli.gradient(f, dist, theta, n, estimator, rng)   # one estimate, its std error, its terms
    pgcli.estimate(...), pgcli.optimize(...), pgcli.train(...), pgcli.load(results_dir)
    pgcli.PgcliError                                     # bad input (the CLI's one-line message)

Each returns a pandas DataFrame; the functions and their documentation are in pgcli.shell.api. They
load on first use, so `import pgcli` imports nothing heavy (no NumPy, matplotlib, click or
gymnasium). The package is layered (the README's Layout): pgcli.base, the Monte Carlo lab
(pgcli.lab), the RL core (pgcli.rl), and the shell (cli, experiment, checking, tables, spec, expect,
kinds, runner, executors, plot, atomic, api).
"""

__version__ = "0.1.0"
__all__ = ["PgcliError", "estimate", "gradient", "load", "optimize", "train"]


def __getattr__(name):
    if name in __all__:
        from pgcli.shell import api

        return getattr(api, name)
    raise AttributeError(f"module 'pgcli' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *__all__])
