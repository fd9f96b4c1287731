"""The `optimize` kind: stochastic gradient descent on E[f(x)] with any estimator of the lab, for
objectives f that have no useful derivative (pgcli.lab.optimize)."""

from __future__ import annotations

from pgcli.base.fields import Field, between, open_unit, typed
from pgcli.base.optim import OPTIMISERS
from pgcli.kinds import Flag, Kind, PlotDefaults, Result, Target, distribution, runs_table
from pgcli.lab import distributions
from pgcli.lab import optimize as core
from pgcli.lab.dist_spec import samples_problem, theta_values
from pgcli.lab.estimators import ESTIMATORS
from pgcli.lab.functions import NAMED, references

SCHEMA = {
    "problem": Field(
        "str",
        "distribution",
        "what to optimise",
        choices=tuple(core.PROBLEMS),
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
    "dim": distribution.SCHEMA["dim"],
    "theta": Field(
        "mapping", {}, "initial θ by parameter (default: the family's; bernoulli_toy: logit 0)", convert=theta_values
    ),
    "learn": Field("strs", None, "parameters that move, the others stay fixed (default: all)", nullable=True),
    "f": Field(
        "function",
        None,
        "f(x) for problem distribution (default step): name, name:arg, table:..., module:function, expression",
        nullable=True,
        refs=references,
    ),
    "target": Field("float", None, f"bernoulli_toy: f(x) = (x − target)² (default {core.TOY_TARGET})", nullable=True),
    "minimize": Field("bool", True, "minimise E[f] (false: maximise)"),
    "estimator": Field("str", "score", "gradient estimator", choices=tuple(ESTIMATORS)),
    "n": Field(
        "int", 16, "samples per step (classifier: draws per example)", check=lambda v: samples_problem([v], core.MAX_N)
    ),
    "h": Field("float", 0.01, "finite-difference step in θ", check=between(0, 1e3, above=True)),
    "temperature": Field("float", 0.5, "gumbel_softmax relaxation temperature τ", check=between(0, 1e3, above=True)),
    "steps": Field("int", 500, "gradient steps", check=lambda v: samples_problem([v], core.MAX_STEPS)),
    "optim": {
        "kind": Field("str", "adam", "optimiser", choices=tuple(OPTIMISERS)),
        "lr": Field("float", 0.05, "learning rate", check=between(0, 10, above=True)),
    },
    "objective_every": Field(
        "int", 1, "compute the objective every N steps (and at the last)", check=between(1, core.MAX_STEPS)
    ),
    "objective_samples": Field(
        "int",
        100_000,
        "Monte Carlo samples for an objective without exact value",
        check=lambda v: samples_problem([v], core.MAX_N),
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
            check=open_unit,
        ),
        "batch": Field("int", 64, "classifier: examples per step", check=between(1, core.MAX_N)),
        "l2": Field(
            "float",
            0.001,
            "classifier: L2 penalty of the logistic-regression baseline",
            check=between(0, 1e6),
        ),
    },
}


def run(spec: dict, progress) -> Result:
    table, info = core.run(typed(core.Settings, spec), progress)
    return Result(table, info["status"], info["message"], tuple(info["notes"]))


RUNS_COLUMNS = ["label", "status", "final_objective", "optimum", "final_theta", "train_accuracy", "test_accuracy",
                "logreg_test_accuracy", "mean_grad_var", "samples", "wall_s"]  # fmt: skip


KIND = Kind(
    name="optimize",
    help="""Minimise (or maximise) E[f(x)] over θ by stochastic gradient steps with one estimator.

    \b
    Examples:
      pgcli optimize --dist gaussian --f step --estimator score --steps 200
      pgcli optimize --problem bernoulli_toy --set-grid estimator=score,score_loo,score_optimal
      pgcli optimize optimize-classifier --set sweep.seeds=1
      pgcli optimize optimize-bernoulli --print-spec
    """,
    schema=SCHEMA,
    subject=lambda spec: core.subject(typed(core.Settings, spec)),
    validate=lambda spec: core.validate(typed(core.Settings, spec)),
    run=run,
    table="optimize.csv",
    columns=lambda spec: core.output_columns(typed(core.Settings, spec))[0],
    summary=lambda table, spec: core.summary(table, typed(core.Settings, spec)),
    summary_columns=lambda spec: core.output_columns(typed(core.Settings, spec))[1],
    target=Target("objective", "samples", minimize=lambda spec: bool(spec.get("minimize", True))),
    plot=PlotDefaults(figure="convergence", signature="objective", x="samples", y="objective"),
    flags=(
        Flag(
            ("--problem",),
            "problem",
            "distribution (default), bernoulli_toy or classifier.",
            "choice",
            names=lambda: core.PROBLEMS,
        ),
        *distribution.flags(distribution.THETA_START),
        Flag(("--learn",), "learn", "Parameters that move (default: all).", metavar="A,B"),
        Flag(("--f",), "f", "{names}, module:function, or an expression in x.", metavar="F", names=lambda: NAMED),
        Flag(("--estimator",), "estimator", "Gradient estimator.", "choice", names=lambda: ESTIMATORS),
        Flag(("--minimize/--maximize",), "minimize", "Direction (default: minimise).", "switch"),
        Flag(("--n",), "n", "Samples per step (classifier: per example)."),
        Flag(("--steps",), "steps", "Gradient steps."),
        Flag(("--optim",), "optim.kind", "Optimiser.", "choice", names=lambda: OPTIMISERS),
        Flag(("--lr",), "optim.lr", "Learning rate."),
        Flag(("--data",), "data.path", "classifier: data file.", metavar="CSV"),
    ),
    show=lambda shown: runs_table(shown.runs, RUNS_COLUMNS, digits=4, drop_empty=True),
    api=("f", "dist", "theta"),
)
