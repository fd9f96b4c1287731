"""pgcli's command line: parse, validate, call the core, print. No numerics here."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import click
import numpy as np
import pandas as pd

from pgcli import __version__, atomic, runner
from pgcli import estimate as estimate_core
from pgcli import optimize as optimize_core
from pgcli.distributions import FAMILIES, DistError
from pgcli.estimators import ESTIMATORS
from pgcli.functions import NAMED, FunctionError
from pgcli.spec import SpecError, apply_overrides, dump, load_yaml, resolve, set_dotted, with_sweep


class BadInput(click.ClickException):
    """Bad user input: one line on stderr, exit code 2."""

    exit_code = 2


class OneLineErrors(click.Group):
    """Every error is one line ('Error: ...'), usage errors and bad input exit 2, no traceback."""

    def main(self, args=None, prog_name=None, standalone_mode=True, **extra):
        try:
            code = super().main(args, prog_name or "pgcli", standalone_mode=False, **extra)
        except click.exceptions.Abort:
            click.echo("Aborted.", err=True)
            code = 130
        except click.ClickException as err:
            hint = ""
            if isinstance(err, click.UsageError) and err.ctx is not None:
                hint = f" (see '{err.ctx.command_path} --help')"
            click.echo(f"Error: {err.format_message()}{hint}", err=True)
            code = err.exit_code
        if standalone_mode:
            sys.exit(code or 0)
        return code


@contextlib.contextmanager
def bad_input():
    """Turn the core's validation errors into one-line exit-2 errors."""
    try:
        yield
    except (SpecError, DistError, FunctionError, runner.SchedulerError) as err:
        raise BadInput(str(err)) from None


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pgcli")
def cli():
    """Score-function (REINFORCE) gradients and policy gradients as experiments.

    \b
    Examples:
      pgcli estimate --dist gaussian --f step
      pgcli fisher --dist gamma --theta shape=2,rate=3 --n 1e6
      pgcli train experiments/cartpole.yaml
    """


# ---------------------------------------------------------------------------------------------
# shared experiment options


def experiment_options(func):
    """Options every experiment command shares (declared once)."""
    options = [
        click.argument("spec_file", required=False, type=click.Path(dir_okay=False)),
        click.option(
            "--set",
            "sets",
            multiple=True,
            metavar="KEY=VALUE",
            help="Override any spec key (typed by the schema).",
        ),
        click.option(
            "--set-grid", "grid", multiple=True, metavar="KEY=V1,V2", help="Add a sweep axis."
        ),
        click.option("--seed", type=int, default=None, help="Root seed."),
        click.option(
            "--name", default=None, help="Results go to RESULTS/NAME/ (default: spec file name)."
        ),
        click.option(
            "--results",
            default="results",
            show_default=True,
            type=click.Path(file_okay=False),
            help="Results root directory.",
        ),
        click.option(
            "--jobs",
            type=click.IntRange(min=1),
            default=1,
            show_default=True,
            help="Local worker processes.",
        ),
        click.option(
            "--executor", type=click.Choice(["local", "dask"]), default="local", show_default=True
        ),
        click.option(
            "--scheduler",
            default=None,
            metavar="tcp://HOST:PORT",
            help="Dask scheduler (default: start a LocalCluster).",
        ),
        click.option(
            "--resume/--no-resume", default=True, show_default=True, help="Skip runs already done."
        ),
        click.option("--force", is_flag=True, help="Re-run finished runs."),
        click.option("--quiet", "-q", is_flag=True, help="No progress bars."),
        click.option("--print-spec", is_flag=True, help="Print the resolved spec and exit."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def build_spec(kind: str, spec_file, flags: dict, sets, seed, name) -> dict:
    """Spec file, then flags, then --set: resolved against the kind's schema."""
    schema = with_sweep(runner.KINDS[kind].schema)
    user = load_yaml(spec_file) if spec_file else {}
    for key, value in flags.items():
        if value is None or value == [] or value == ():
            continue
        if isinstance(value, dict) and isinstance(user.get(key), dict):
            value = {**user[key], **value}  # --theta mu=1 keeps the file's other parameters
        set_dotted(user, key, value)
    if seed is not None:
        user["seed"] = seed
    user = apply_overrides(user, list(sets), schema)
    spec = resolve(schema, user)
    spec["name"] = (
        name or spec["name"] or (Path(spec_file).stem if spec_file else default_name(kind, spec))
    )
    return spec


def default_name(kind, spec):
    return f"{kind}-{spec.get('dist') or spec.get('env', {}).get('id', kind)}".lower().replace(
        "/", "-"
    )


def run_experiment(kind, spec, opts, out=None) -> tuple[list, list, pd.DataFrame, Path]:
    """Plan, validate, run and aggregate; returns runs, results, runs table, combined table path."""
    schema = with_sweep(runner.KINDS[kind].schema)
    with bad_input():
        runs = runner.plan(kind, schema, spec, opts["results"], opts["grid"])
        for run in runs:
            runner.KINDS[kind].validate(run.spec)
    if opts["print_spec"]:
        click.echo(dump(spec), nl=False)
        raise click.exceptions.Exit(0)
    for target in [Path(opts["results"]) / spec["name"] / "runs.csv", out]:
        problem = target and atomic.check_writable(target)
        if problem:
            raise BadInput(problem)
    client = None
    if opts["executor"] == "dask":
        with bad_input():
            client = runner.dask_client(opts["scheduler"])
    elif opts["scheduler"]:
        raise BadInput("--scheduler needs --executor dask")
    try:
        results = _run_with_progress(runs, opts, client)
    finally:
        if client is not None:
            client.close()
            if not opts["scheduler"] and client.cluster is not None:
                client.cluster.close()
    summary, combined = runner.aggregate(runs, results, Path(opts["results"]) / spec["name"])
    if out and combined.is_file():
        atomic.write_bytes(out, combined.read_bytes())
    return runs, results, summary, combined


def _run_with_progress(runs, opts, client):
    from tqdm.auto import tqdm

    show_overall = len(runs) > 1 and not opts["quiet"]
    counts = {"done": 0, "failed": 0, "diverged": 0}
    bar = tqdm(total=len(runs), desc="runs", disable=not show_overall, dynamic_ncols=True)

    def on_result(i, result):
        status = result["status"]
        counts[status] = counts.get(status, 0) + 1
        bar.update(1)
        bar.set_postfix(counts, refresh=False)

    try:
        return runner.run_all(
            runs,
            jobs=opts["jobs"],
            client=client,
            resume=opts["resume"],
            force=opts["force"],
            quiet=opts["quiet"] or (opts["jobs"] > 1 or client is not None),
            on_result=on_result,
        )
    finally:
        bar.close()


def finish(runs, results, summary) -> int:
    """Exit code 0 when every run is done, else 1 with a table of the runs that are not."""
    bad = summary[summary["status"] != "done"]
    if bad.empty:
        return 0
    click.echo(f"\n{len(bad)} of {len(runs)} runs not done:", err=True)
    messages = {
        run.run_id: (r or {}).get("message", "") for run, r in zip(runs, results, strict=True)
    }
    shown = bad[["run_id", "label", "status"]].assign(message=bad["run_id"].map(messages))
    click.echo(shown.to_string(index=False), err=True)
    return 1


def _notes(results):
    seen = []
    for result in results:
        for note in (result or {}).get("notes", []) or []:
            if note not in seen:
                seen.append(note)
    for note in seen:
        click.echo(f"note: {note}")


# ---------------------------------------------------------------------------------------------
# estimate


def _fmt(value):
    return "" if pd.isna(value) else f"{value + 0.0:.4g}"  # + 0.0 prints -0 as 0


def estimate_table(table: pd.DataFrame) -> str:
    """The readable stdout table: bias in standard errors, and a flag when |z| > 4."""
    z = estimate_core.z_scores(table)
    shown = pd.DataFrame(
        {
            "theta": table["theta"],
            "f": table["f"],
            "estimator": table["estimator"],
            "n": table["n_samples"],
            "param": table["param"],
            "mean": table["mean"].map(_fmt),
            "exact": table["exact"].map(_fmt),
            "std_err": table["std_error"].map(_fmt),
            "bias/se": z.map(lambda v: "inf" if np.isinf(v) else _fmt(v)),
            "": np.where(z.abs() > 4, "BIASED", ""),
        }
    )
    if shown["theta"].nunique() == 1:
        shown = shown.drop(columns="theta")
    return shown.to_string(index=False)


@cli.command()
@experiment_options
@click.option(
    "--dist", type=click.Choice(sorted(FAMILIES)), default=None, help="Distribution family."
)
@click.option(
    "--parametrisation",
    "--param",
    "parametrisation",
    default=None,
    help="e.g. log_sigma, logit, log_rate.",
)
@click.option(
    "--dim", type=int, default=None, help="diag_gaussian dimension / number of categories."
)
@click.option(
    "--theta",
    default=None,
    metavar="NAME=V,...",
    help="θ values; 'lo:hi:count' sweeps, [a,b] vectors.",
)
@click.option(
    "--f",
    "functions",
    multiple=True,
    metavar="F",
    help=f"Repeatable: {', '.join(NAMED)}, table:..., or an expression in x.",
)
@click.option(
    "--estimators", default=None, metavar="A,B", help=f"Comma list of: {', '.join(ESTIMATORS)}."
)
@click.option(
    "--n", "n", default=None, metavar="N1,N2", help="Samples per estimate (1e6 forms allowed)."
)
@click.option("--reps", default=None, help="Independent estimates per cell.")
@click.option("--h", "h", default=None, help="Finite-difference step.")
@click.option(
    "--out", type=click.Path(dir_okay=False), default=None, help="Also write the table here."
)
def estimate(
    spec_file, dist, parametrisation, dim, theta, functions, estimators, n, reps, h, out, **opts
):
    """Estimate ∂/∂θ E[f(x)] with every estimator and compare with the exact gradient.

    \b
    Examples:
      pgcli estimate --dist gaussian --f step
      pgcli estimate --dist bernoulli --param logit --f square --n 10,100,1000
      pgcli estimate --dist gaussian --theta mu=-3:3:25 --f "x**2 + sin(3*x)" --n 100
      pgcli estimate experiments/estimators.yaml --set reps=500
    """
    with bad_input():
        flags = {
            "dist": dist,
            "parametrisation": parametrisation,
            "dim": dim,
            "f": list(functions),
            "estimators": estimators,
            "n": n,
            "reps": reps,
            "h": h,
        }
        if theta is not None:
            flags["theta"] = estimate_core.parse_theta_text(theta)
        spec = build_spec("estimate", spec_file, flags, opts["sets"], opts["seed"], opts["name"])
    runs, results, summary, combined = run_experiment("estimate", spec, opts, out)
    if combined.is_file() and len(runs) == 1:
        click.echo(estimate_table(pd.read_csv(combined)))
    _notes(results)
    click.echo(f"wrote {out or combined}")
    return finish(runs, results, summary)


@cli.command()
@experiment_options
@click.option(
    "--dist", type=click.Choice(sorted(FAMILIES)), default=None, help="Distribution family."
)
@click.option(
    "--parametrisation", "--param", "parametrisation", default=None, help="e.g. log_sigma, logit."
)
@click.option(
    "--dim", type=int, default=None, help="diag_gaussian dimension / number of categories."
)
@click.option("--theta", default=None, metavar="NAME=V,...", help="θ values, e.g. shape=2,rate=3.")
@click.option(
    "--n", "n", default=None, metavar="N1,N2", help="Samples (a list shows the 1/√n error)."
)
@click.option(
    "--out", type=click.Path(dir_okay=False), default=None, help="Also write the table here."
)
def fisher(spec_file, dist, parametrisation, dim, theta, n, out, **opts):
    """Check E[s] = 0 and Cov[s] = F = −E[∇² log p] by Monte Carlo against exact values.

    \b
    Examples:
      pgcli fisher --dist gamma --theta shape=2,rate=3 --n 1e6
      pgcli fisher --dist categorical --dim 4 --n 1000,10000,100000
    """
    with bad_input():
        flags = {"dist": dist, "parametrisation": parametrisation, "dim": dim, "n": n}
        if theta is not None:
            flags["theta"] = estimate_core.parse_theta_text(theta)
        spec = build_spec("fisher", spec_file, flags, opts["sets"], opts["seed"], opts["name"])
    runs, results, summary, combined = run_experiment("fisher", spec, opts, out)
    if combined.is_file() and len(runs) == 1:
        table = pd.read_csv(combined, keep_default_na=False, na_values=[""])
        columns = [
            "n_samples",
            "quantity",
            "row",
            "col",
            "empirical",
            "exact",
            "abs_error",
            "std_error",
        ]
        shown = table[columns].fillna({"col": ""})
        click.echo(shown.to_string(index=False, float_format=lambda v: f"{v:.5g}"))
    _notes(results)
    click.echo(f"wrote {out or combined}")
    return finish(runs, results, summary)


# ---------------------------------------------------------------------------------------------
# train


@cli.command()
@experiment_options
def train(spec_file, **opts):
    """Train a policy with REINFORCE on a gymnasium environment from a YAML spec.

    \b
    Examples:
      pgcli train experiments/cartpole.yaml
      pgcli train experiments/cartpole.yaml --set optim.lr=0.02 --set seed=3
      pgcli train --set env.id=Acrobot-v1 --set stop.iterations=100
      pgcli train experiments/cartpole.yaml --print-spec
    """
    with bad_input():
        spec = build_spec("train", spec_file, {}, opts["sets"], opts["seed"], opts["name"])
    runs, results, summary, combined = run_experiment("train", spec, opts)
    if len(runs) > 1 or opts["quiet"] is False:
        shown = [
            c
            for c in [
                "label",
                "status",
                "final_return",
                "best_return",
                "env_steps_to_target",
                "env_steps",
                "wall_s",
            ]
            if c in summary
        ]
        click.echo(summary[shown].to_string(index=False, float_format=lambda v: f"{v:.5g}"))
    click.echo(f"wrote {combined}")
    return finish(runs, results, summary)


# ---------------------------------------------------------------------------------------------
# optimize


@cli.command()
@experiment_options
@click.option(
    "--problem",
    type=click.Choice(sorted(optimize_core.PROBLEMS)),
    default=None,
    help="distribution (default), bernoulli_toy or classifier.",
)
@click.option(
    "--dist", type=click.Choice(sorted(FAMILIES)), default=None, help="Distribution family."
)
@click.option(
    "--parametrisation", "--param", "parametrisation", default=None, help="e.g. log_sigma, logit."
)
@click.option(
    "--dim", type=int, default=None, help="diag_gaussian dimension / number of categories."
)
@click.option("--theta", default=None, metavar="NAME=V,...", help="Initial θ, e.g. mu=0.")
@click.option("--learn", default=None, metavar="A,B", help="Parameters that move (default: all).")
@click.option(
    "--f", "function", default=None, metavar="F", help=f"{', '.join(NAMED)}, or an expression in x."
)
@click.option("--estimator", type=click.Choice(sorted(ESTIMATORS)), default=None)
@click.option("--minimize/--maximize", default=None, help="Direction (default: minimise).")
@click.option("--n", "n", default=None, help="Samples per step (classifier: per example).")
@click.option("--steps", default=None, help="Gradient steps.")
@click.option("--optim", type=click.Choice(sorted(optimize_core.OPTIMISERS)), default=None)
@click.option("--lr", default=None, help="Learning rate.")
@click.option("--data", default=None, metavar="CSV", help="classifier: data file.")
def optimize(
    spec_file, problem, dist, parametrisation, dim, theta, learn, function, estimator, minimize,
    n, steps, optim, lr, data, **opts,
):  # fmt: skip
    """Minimise (or maximise) E[f(x)] over θ by stochastic gradient steps with one estimator.

    \b
    Examples:
      pgcli optimize --dist gaussian --f step --estimator score --steps 200
      pgcli optimize --problem bernoulli_toy --set-grid estimator=score,score_loo,score_optimal
      pgcli optimize experiments/optimize-classifier.yaml --set sweep.seeds=1
      pgcli optimize experiments/optimize-bernoulli.yaml --print-spec
    """
    with bad_input():
        flags = {
            "problem": problem, "dist": dist, "parametrisation": parametrisation, "dim": dim,
            "learn": learn, "f": function, "estimator": estimator, "minimize": minimize, "n": n,
            "steps": steps, "optim.kind": optim, "optim.lr": lr, "data.path": data,
        }  # fmt: skip
        if theta is not None:
            flags["theta"] = estimate_core.parse_theta_text(theta)
        spec = build_spec("optimize", spec_file, flags, opts["sets"], opts["seed"], opts["name"])
        named = opts["name"] or spec_file or any(a.startswith("name=") for a in opts["sets"])
        if not named:
            spec["name"] = optimize_core.default_name(spec)
    runs, results, summary, combined = run_experiment("optimize", spec, opts)
    columns = ["label", "status", "final_objective", "optimum", "final_theta", "train_accuracy",
               "test_accuracy", "logreg_test_accuracy", "mean_grad_var", "samples", "wall_s"]  # fmt: skip
    shown = [c for c in columns if c in summary]
    shown = summary[shown].dropna(axis=1, how="all")  # e.g. no optimum known
    click.echo(shown.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    _notes(results)
    click.echo(f"wrote {combined}")
    return finish(runs, results, summary)


def main():
    cli.main()
