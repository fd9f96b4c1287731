"""pgcli's command line: parse, validate, call the core, print. No numerics here."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import NamedTuple

import click
import numpy as np
import pandas as pd

from pgcli import __version__, atomic, expect, runner
from pgcli import plot as plot_core
from pgcli.lab import estimate as estimate_core
from pgcli.lab import fisher as fisher_core
from pgcli.lab import optimize as optimize_core
from pgcli.lab import userfn
from pgcli.lab.distributions import DTYPES, FAMILIES, DistError
from pgcli.lab.estimators import ESTIMATORS
from pgcli.lab.functions import NAMED, FunctionError
from pgcli.lab.problem import parse_theta_text
from pgcli.rl import natural
from pgcli.rl import train as train_core
from pgcli.spec import (
    SpecError,
    apply_overrides,
    dump,
    load_yaml,
    parse_assignment,
    relative_to,
    resolve,
    set_dotted,
    with_sweep,
)


class BadInput(click.ClickException):
    """Bad user input: one line on stderr, exit code 2."""

    exit_code = 2

    def __init__(self, message: str, extra: str = ""):
        super().__init__(message)
        self.extra = extra  # an optional extra of pgcli that is missing (see SpecError)


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
        raise BadInput(str(err), getattr(err, "extra", "")) from None


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


bar_options = [
    click.option("--quiet", "-q", is_flag=True, help="No progress bars."),
    click.option("--progress", is_flag=True, help="Progress bars even when stderr is not a terminal."),
]


def show_bars(opts) -> bool:
    """Bars on a terminal; off in a pipe or a CI log unless --progress; never with -q."""
    return not opts["quiet"] and (opts["progress"] or sys.stderr.isatty())


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
        click.option("--set-grid", "grid", multiple=True, metavar="KEY=V1,V2", help="Add a sweep axis."),
        click.option("--seed", type=int, default=None, help="Root seed."),
        click.option("--name", default=None, help="Results go to RESULTS/NAME/ (default: spec file name)."),
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
        click.option("--executor", type=click.Choice(["local", "dask"]), default="local", show_default=True),
        click.option(
            "--scheduler",
            default=None,
            metavar="tcp://HOST:PORT",
            help="Dask scheduler (default: start a LocalCluster).",
        ),
        click.option(
            "--allow-mixed",
            is_flag=True,
            help="Run on Dask workers whose pgcli/numpy/gymnasium/Python versions differ from this one's.",
        ),
        click.option("--resume/--no-resume", default=True, show_default=True, help="Skip runs already done."),
        click.option("--force", is_flag=True, help="Re-run finished runs."),
        *bar_options,
        click.option("--print-spec", is_flag=True, help="Print the resolved spec and exit."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def build_spec(kind: str, spec_file, flags: dict, sets, seed, name) -> dict:
    """Spec file, then flags, then --set: resolved against the kind's schema."""
    schema = with_sweep(runner.KINDS[kind].schema)
    user = relative_to(schema, load_yaml(spec_file), Path(spec_file).parent) if spec_file else {}
    if spec_file:  # `f: module:function` and `env.id: module:Class` import from beside the spec
        userfn.add_search_path(Path(spec_file).parent)
    if user.get("kind", kind) != kind:
        raise SpecError(
            "kind", f"{spec_file} is a {user['kind']!r} spec; run it with: pgcli {user['kind']} {spec_file}"
        )
    for key, value in flags.items():
        if value is None or value == [] or value == ():
            continue
        if isinstance(value, dict) and isinstance(user.get(key), dict):
            value = {**user[key], **value}  # --theta mu=1 keeps the file's other parameters
        set_dotted(user, key, value)
    if seed is not None:
        user["seed"] = seed
    user = apply_overrides(user, list(sets), schema)
    set_keys = [parse_assignment(text)[0] for text in sets]
    if seed is not None or "seed" in set_keys:  # the seeds rule: a seed typed here is the one run's seed
        if any(key.startswith("sweep.seeds") for key in set_keys):
            raise SpecError("seed", "give --seed/--set seed=S (one run) or --set sweep.seeds=N (a sweep), not both")
        if user.get("sweep") is None:  # absent, or an empty `sweep:`
            user["sweep"] = {}
        if isinstance(user["sweep"], dict):  # anything else is refused by resolve below
            user["sweep"]["seeds"] = None
    spec = resolve(schema, user)
    spec["name"] = name or spec["name"] or (Path(spec_file).stem if spec_file else default_name(kind, spec))
    return spec


def default_name(kind, spec):
    return f"{kind}-{spec.get('dist') or spec.get('env', {}).get('id', kind)}".lower().replace("/", "-")


def plan_runs(kind, spec, opts, grid=()) -> list:
    """The runs of a resolved spec, each validated (bad input: one line, exit 2)."""
    schema = with_sweep(runner.KINDS[kind].schema)
    with bad_input():
        runs = runner.plan(kind, schema, spec, opts["results"], grid)
        for run in runs:
            runner.KINDS[kind].validate(run.spec)
    return runs


def summary_directory(kind, spec, runs, spec_file, opts) -> Path:
    """Where this invocation's runs.csv and combined table go: results/<name>/ for the spec file
    as written (or for flags alone), else results/<name>/sweeps/<sweep_id>/ — so a --set or
    --set-grid variation never overwrites the spec's own summary, and each one is findable."""
    base = Path(opts["results"]) / spec["name"]
    if spec_file is None:
        return base
    with bad_input():
        own = build_spec(kind, spec_file, {}, [], None, spec["name"])
        own_ids = [run.run_id for run in runner.plan(kind, with_sweep(runner.KINDS[kind].schema), own, opts["results"])]
    run_ids = [run.run_id for run in runs]
    return base if run_ids == own_ids else base / "sweeps" / runner.sweep_id(run_ids)


def run_experiment(kind, spec, opts, out=None, spec_file=None, runs=None) -> tuple[list, list, pd.DataFrame, Path]:
    """Plan and validate (unless given the validated `runs`), run and aggregate; returns runs,
    results, runs table, combined table path."""
    runs = runs if runs is not None else plan_runs(kind, spec, opts, opts["grid"])
    if opts["print_spec"]:
        click.echo(dump(spec), nl=False)
        raise click.exceptions.Exit(0)
    directory = summary_directory(kind, spec, runs, spec_file, opts)
    rerun = [Path(r.directory) / "status" for r in runs if opts["force"] or not runner.is_finished(r)]
    for target in [directory / "runs.csv", out, *rerun]:
        problem = target and atomic.check_writable(target)
        if problem:
            raise BadInput(problem)
    client = None
    if opts["executor"] == "dask":
        with bad_input():
            client = runner.dask_client(opts["scheduler"], runs=runs, allow_mixed=opts["allow_mixed"])
    elif opts["scheduler"]:
        raise BadInput("--scheduler needs --executor dask")
    try:
        results = _run_with_progress(runs, opts, client)
    finally:
        if client is not None:
            client.close()
            if not opts["scheduler"] and client.cluster is not None:
                client.cluster.close()
    summary, combined = runner.aggregate(runs, results, directory)
    if directory.parent.name == "sweeps":
        click.echo(f"note: these runs differ from {spec_file} as written; their summary is {directory}/")
    if out and combined.is_file():
        atomic.write_bytes(out, combined.read_bytes())
    return runs, results, summary, combined


def _run_with_progress(runs, opts, client):
    """One bar over runs (with done / failed / diverged counts) when there are several, and
    per-run bars when runs execute in this process."""
    bars = show_bars(opts)
    progress, close = runner.progress_bar("runs", not (bars and len(runs) > 1))
    counts = {"done": 0, "failed": 0, "diverged": 0}
    finished = 0

    def on_result(i, result):
        nonlocal finished
        counts[result["status"]] = counts.get(result["status"], 0) + 1
        finished += 1
        progress(finished, len(runs), **counts)

    progress(0, len(runs))
    try:
        return runner.run_all(
            runs,
            jobs=opts["jobs"],
            client=client,
            resume=opts["resume"],
            force=opts["force"],
            quiet=not bars or opts["jobs"] > 1 or client is not None,
            on_result=on_result,
            allow_mixed=opts.get("allow_mixed", False),
        )
    finally:
        close()


def finish(runs, results, summary) -> int:
    """Exit code 0 when every run is done, else 1 with a table of the runs that are not."""
    bad = summary[summary["status"] != "done"]
    if bad.empty:
        return 0
    click.echo(f"\n{len(bad)} of {len(runs)} runs not done:", err=True)
    messages = {run.run_id: (r or {}).get("message", "") for run, r in zip(runs, results, strict=True)}
    shown = bad[["run_id", "label", "status"]].assign(message=bad["run_id"].map(messages))
    click.echo(shown.to_string(index=False), err=True)
    return 1


def wrote(path) -> None:
    """Say where a file is, only if it is there (a run that failed wrote nothing)."""
    if path is not None and Path(path).is_file():
        click.echo(f"wrote {path}")


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


def rank_table(table: pd.DataFrame, target_se: float) -> str:
    """`estimate --rank`: estimators by efficiency, with the samples each needs for target_se."""
    ranked = estimate_core.rank(table, target_se)
    shown = ranked.assign(
        efficiency=ranked["efficiency"].map(_fmt),
        n_for_target=ranked["n_for_target"].map(lambda v: "" if pd.isna(v) else f"{v:.0f}"),
        seconds_for_target=ranked["seconds_for_target"].map(_fmt),
        max_abs_z=ranked["max_abs_z"].map(_fmt),
    )
    drop = [c for c in ("theta", "f") if shown[c].nunique() == 1]
    head = f"estimators ranked for standard error {target_se:g} (worst coordinate of θ):\n"
    return head + shown.drop(columns=drop).to_string(index=False)


@cli.command()
@experiment_options
@click.option("--dist", type=click.Choice(sorted(FAMILIES)), default=None, help="Distribution family.")
@click.option(
    "--parametrisation",
    "--param",
    "parametrisation",
    default=None,
    help="e.g. log_sigma, logit, log_rate.",
)
@click.option("--dim", type=int, default=None, help="Dimension: diag_gaussian, bernoulli (product); categories.")
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
    help=f"Repeatable: {', '.join(NAMED)}, table:..., module:function (Python), or an expression in x.",
)
@click.option("--estimators", default=None, metavar="A,B", help=f"Comma list of: {', '.join(ESTIMATORS)}.")
@click.option("--n", "n", default=None, metavar="N1,N2", help="Samples per estimate (1e6 forms allowed).")
@click.option("--reps", default=None, help="Independent estimates per cell.")
@click.option("--h", "h", default=None, help="Finite-difference step.")
@click.option("--temperature", default=None, help="gumbel_softmax temperature τ (default 0.5).")
@click.option("--dtype", type=click.Choice(DTYPES), default=None, help="Of samples and terms (exact: float64).")
@click.option("--rank", is_flag=True, help="Rank the estimators by efficiency for this f and θ.")
@click.option(
    "--target-se",
    type=click.FloatRange(min=0, min_open=True),
    default=0.01,
    show_default=True,
    help="With --rank: standard error to reach.",
)
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Also write the table here.")
def estimate(
    spec_file, dist, parametrisation, dim, theta, functions, estimators, n, reps, h, temperature, dtype, rank,
    target_se, out, **opts,
):  # fmt: skip
    """Estimate ∂/∂θ E[f(x)] with every estimator and compare with the exact gradient.

    \b
    Examples:
      pgcli estimate --dist gaussian --f step
      pgcli estimate --dist bernoulli --param logit --f square --n 10,100,1000
      pgcli estimate --dist gaussian --theta mu=-3:3:25 --f "x**2 + sin(3*x)" --n 100
      pgcli estimate experiments/estimators-step.yaml --set reps=500
      pgcli estimate --dist bernoulli --dim 8 --param logit --f square --n 1000 --rank --target-se 0.001
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
            "temperature": temperature,
            "dtype": dtype,
        }
        if theta is not None:
            flags["theta"] = parse_theta_text(theta)
        spec = build_spec("estimate", spec_file, flags, opts["sets"], opts["seed"], opts["name"])
    runs, results, summary, combined = run_experiment("estimate", spec, opts, out, spec_file)
    if combined.is_file() and len(runs) == 1:
        table = pd.read_csv(combined)
        click.echo(rank_table(table, target_se) if rank else estimate_table(table))
    _notes(results)
    wrote(out or combined)
    return finish(runs, results, summary)


@cli.command()
@experiment_options
@click.option("--dist", type=click.Choice(sorted(FAMILIES)), default=None, help="Distribution family.")
@click.option("--parametrisation", "--param", "parametrisation", default=None, help="e.g. log_sigma, logit.")
@click.option("--dim", type=int, default=None, help="diag_gaussian dimension / number of categories.")
@click.option("--theta", default=None, metavar="NAME=V,...", help="θ values, e.g. shape=2,rate=3.")
@click.option("--n", "n", default=None, metavar="N1,N2", help="Samples (a list shows the 1/√n error).")
@click.option(
    "--policy",
    "policy_path",
    default=None,
    help="A train run directory or train spec: the policy's Fisher matrix.",
)
@click.option(
    "--states",
    default=1000,
    show_default=True,
    type=click.IntRange(min=1, max=natural.MAX_STATES),
    help="With --policy: states visited by the policy.",
)
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Also write the table here.")
def fisher(spec_file, dist, parametrisation, dim, theta, n, policy_path, states, out, **opts):
    """Check E[s] = 0 and Cov[s] = F = −E[∇² log p] by Monte Carlo against exact values.

    With --policy, the Fisher matrix of a policy on states it visits instead: its
    eigenvalue spectrum, rank and condition number (and every entry for small policies).

    \b
    Examples:
      pgcli fisher --dist gamma --theta shape=2,rate=3 --n 1e6
      pgcli fisher --dist categorical --dim 4 --n 1000,10000,100000
      pgcli fisher --policy experiments/cartpole.yaml --seed 2 --states 2000
    """
    if policy_path is not None:
        if spec_file or dist:
            raise BadInput("--policy takes no distribution spec or --dist")
        return _policy_fisher(policy_path, states, out, opts)
    with bad_input():
        flags = {"dist": dist, "parametrisation": parametrisation, "dim": dim, "n": n}
        if theta is not None:
            flags["theta"] = parse_theta_text(theta)
        spec = build_spec("fisher", spec_file, flags, opts["sets"], opts["seed"], opts["name"])
    runs, results, summary, combined = run_experiment("fisher", spec, opts, out, spec_file)
    if combined.is_file() and len(runs) == 1:
        table = pd.read_csv(combined, keep_default_na=False, na_values=[""])
        shown = table[fisher_core.COLUMNS[3:]].fillna({"col": ""})  # all but dist, parametrisation, theta
        click.echo(shown.to_string(index=False, float_format=lambda v: f"{v:.5g}"))
    _notes(results)
    wrote(out or combined)
    return finish(runs, results, summary)


def _policy_fisher(path, states, out, opts):
    """`fisher --policy`: a run directory's trained policy, or a train spec's (trained if its
    run directory is done, else its initial θ₀)."""
    path = Path(path)
    with bad_input():
        if path.is_dir():
            try:
                spec, theta = runner.load_run(path)
            except ValueError as err:
                raise BadInput(str(err)) from None
            run_dir = path
        elif path.is_file():
            spec = build_spec("train", str(path), {}, opts["sets"], opts["seed"], opts["name"])
            schema = with_sweep(runner.KINDS["train"].schema)
            runs = runner.plan("train", schema, spec, opts["results"], opts["grid"])
            if len(runs) > 1:  # a sweep: its first run (or the one --seed picks)
                click.echo(
                    f"{path} is a sweep of {len(runs)} runs; using its first, {runs[0].label} (--seed S picks one)"
                )
            run_dir, spec, theta = Path(runs[0].directory), runs[0].spec, None
            if runner.status_of(run_dir) == "done":
                theta = runner.load_run(run_dir)[1]
            runner.KINDS["train"].validate(spec)
        else:
            raise BadInput(f"--policy: no such run directory or spec file: {path}")
    source = "trained" if theta is not None else "initial (untrained)"
    target = Path(out) if out else run_dir / "policy_fisher.csv"
    problem = atomic.check_writable(target)
    if problem:
        raise BadInput(problem)
    policy, theta, x = train_core.visited_states(spec, theta, states, seed=spec["seed"])
    rows, eigenvalues = natural.policy_fisher(policy, theta, x)
    table = pd.DataFrame(rows, columns=natural.POLICY_FISHER_COLUMNS)
    atomic.write_csv(target, table)
    value = dict(zip(table["quantity"].head(6), table["value"].head(6), strict=True))
    click.echo(
        f"Fisher matrix of the {source} {spec['env']['id']} policy (seed {spec['seed']}, {run_dir}) "
        f"on {x.shape[0]} visited states"
    )
    click.echo(
        f"parameters {value['n_params']:.0f}, rank {value['rank']:.0f}, "
        f"condition number {value['condition_number']:.4g} "
        f"(nonzero spectrum {value['condition_number_nonzero']:.4g}), trace {value['trace']:.4g}"
    )
    top = ", ".join(f"{v:.3g}" for v in eigenvalues[:5])
    click.echo(f"largest eigenvalues: {top}; smallest: {eigenvalues[-1]:.3g}")
    wrote(target)
    return 0


# ---------------------------------------------------------------------------------------------
# train


@cli.command()
@experiment_options
def train(spec_file, **opts):
    """Train a policy with REINFORCE on a gymnasium environment from a YAML spec.

    \b
    Examples:
      pgcli train experiments/cartpole.yaml
      pgcli train experiments/cartpole.yaml --set optim.lr=0.02 --seed 3
      pgcli train --set env.id=Acrobot-v1 --set stop.iterations=100
      pgcli train experiments/cartpole.yaml --print-spec
    """
    with bad_input():
        spec = build_spec("train", spec_file, {}, opts["sets"], opts["seed"], opts["name"])
    runs, results, summary, combined = run_experiment("train", spec, opts, spec_file=spec_file)
    columns = ["label", "status", "final_return", "best_return", "env_steps_to_target", "env_steps", "wall_s"]
    if len(runs) == 1:
        click.echo(_train_line(spec, summary.iloc[0]))
    else:
        shown = summary[[c for c in columns if c in summary]]
        click.echo(shown.to_string(index=False, float_format=lambda v: f"{v:.5g}"))
    wrote(combined)
    return finish(runs, results, summary)


def _train_line(spec, row) -> str:
    """One run in one line: how it ended, its recent return, the target, the budget used."""
    window = spec["stop"]["target_window"]
    text = f"{spec['env']['id']} {row['label']}: {row['status']}"
    if "final_return" in row and pd.notna(row["final_return"]):
        text += f", mean return of the last {window} episodes {row['final_return']:.5g} (best {row['best_return']:.5g})"
    target = spec["stop"]["target_return"]
    if target is not None and "env_steps_to_target" in row:
        steps = row["env_steps_to_target"]
        text += f", target {target:g} " + (
            f"reached after {steps:,.0f} env steps" if pd.notna(steps) else "not reached"
        )
    if "env_steps" in row and pd.notna(row["env_steps"]):
        text += f"; {row['env_steps']:,.0f} env steps"
    return text + (f" in {row['wall_s']:.1f} s" if pd.notna(row["wall_s"]) else "")


# ---------------------------------------------------------------------------------------------
# plot


@cli.command()
@click.argument("paths", nargs=-1, required=True, metavar="PATH...", type=click.Path(exists=True))
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    default=None,
    help="Figure file: .png, .svg or .pdf (default: <results dir>/<kind>.png).",
)
@click.option(
    "--kind",
    "figure",
    type=click.Choice(list(plot_core.FIGURES)),
    default=None,
    help="Figure (default: from the table: convergence, estimator or fisher).",
)
@click.option("--x", type=click.Choice(plot_core.X_AXES), default=None, help="x axis for train.")
@click.option("--y", default=None, help="Metric column (train), or variance|mse (estimator).")
@click.option("--hue", default=None, metavar="KEY[,KEY]", help="Keys that make separate curves.")
@click.option("--select", multiple=True, metavar="KEY=VALUE", help="Keep only these (repeatable).")
@click.option("--exclude", multiple=True, metavar="KEY=VALUE", help="Drop these (repeatable).")
@click.option("--smooth", type=click.IntRange(min=1), default=None, help="Trailing mean over K rows.")
@click.option(
    "--band",
    type=click.Choice(plot_core.BANDS),
    default="ci",
    show_default=True,
    help="Across seeds: 95% bootstrap CI of the mean, ±1 sd, or none.",
)
@click.option("--target", type=float, default=None, help="Draw y = TARGET; time-to-target in --table.")
@click.option("--table", "show_table", is_flag=True, help="Print the summary per group.")
@click.option("--table-out", type=click.Path(dir_okay=False), default=None, help="Write it as CSV.")
@click.option("--title", default=None, help="Figure title (default: the spec name).")
def plot(paths, out, figure, show_table, table_out, **options):
    """Draw a figure from results directories or CSVs (sweeps, single runs, tables).

    Seeds of the same settings are one curve: the mean with a 95% bootstrap band. With
    --table or --table-out and no --out, only the table is made.

    \b
    Examples:
      pgcli plot results/cartpole --target 475 --table
      pgcli plot results/cartpole-sweep --hue weight --smooth 5 --out returns.svg
      pgcli plot results/cartpole-sweep --kind variance --out variance.png
      pgcli plot results/estimators-step --select param=mu --out estimators.pdf
      pgcli plot results/fisher-gamma/fisher.csv
    """
    try:
        request = plot_core.prepare(plot_core.load(paths), figure, **options)
        summary = plot_core.summary(request) if show_table or table_out else None
    except plot_core.PlotError as err:
        raise BadInput(str(err)) from None
    if out is None and summary is None:
        out = plot_core.default_out(paths[0], request.figure)
    if out is not None and Path(out).suffix.lower().lstrip(".") not in plot_core.FORMATS:
        raise BadInput(f"--out must end in .png, .svg or .pdf, got {out}")
    for path in [out, table_out]:
        problem = path and atomic.check_writable(path)
        if problem:
            raise BadInput(problem)
    for note in request.notes:
        click.echo(f"note: {note}")
    if out is not None:
        plot_core.save(plot_core.draw(request), out)
    if show_table:
        click.echo(summary.to_string(index=False, float_format=lambda v: f"{v:.5g}"))
    if table_out:
        atomic.write_csv(table_out, summary)
    for path in [out, table_out]:
        wrote(path)


# ---------------------------------------------------------------------------------------------
# check


def infer_kind(raw: dict, path) -> str:
    """A spec's kind: its `kind:` key, else guessed from its keys."""
    if raw.get("kind"):
        if raw["kind"] not in runner.KINDS:
            raise BadInput(f"{path}: kind: unknown value {raw['kind']!r}; allowed: {', '.join(runner.KINDS)}")
        return raw["kind"]
    if "env" in raw:
        return "train"
    if "problem" in raw or "estimator" in raw:
        return "optimize"
    if "f" in raw or "estimators" in raw:
        return "estimate"
    raise BadInput(f"{path}: cannot tell the experiment kind; add kind: ({', '.join(runner.KINDS)})")


class CheckTarget(NamedTuple):
    """One argument of `pgcli check`, validated: its spec, planned runs and where results are."""

    path: Path
    kind: str
    spec: dict
    runs: list | None  # the spec's runs; None for a results directory (checked as it is)
    results_dir: Path
    skipped: str  # why it is not checked (a missing optional extra), or ""


def read_runs_table(path: Path) -> pd.DataFrame:
    """runs.csv of a summary directory (bad input if it is not a readable CSV with run_id)."""
    try:
        table = pd.read_csv(path, dtype=str)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as err:
        raise BadInput(f"{path} is not a readable CSV: {str(err).splitlines()[0][:80]}") from None
    if "run_id" not in table.columns:
        raise BadInput(f"{path} is not a runs.csv (no run_id column)")
    return table


def _check_target(path: Path, opts) -> CheckTarget:
    """Everything about one check argument that can be known before anything runs."""
    if path.is_dir():
        runs_csv = path / "runs.csv"
        if not runs_csv.is_file():
            raise BadInput(f"{path} is not a results directory (no runs.csv)")
        run_ids = read_runs_table(runs_csv)["run_id"].dropna()
        config = runner.run_directory(path, str(run_ids.iloc[0])) / "config.yaml" if len(run_ids) else None
        if config is None or not config.is_file():
            raise BadInput(f"{path}: runs.csv names no run directory with a config.yaml")
        with bad_input():
            config = runner.read_config(config)
            spec = resolve(with_sweep(runner.KINDS[config["kind"]].schema), config["spec"])
        return CheckTarget(path, config["kind"], spec, None, path, "")
    if not path.is_file():
        raise BadInput(f"no such spec file or results directory: {path}")
    with bad_input():
        kind = infer_kind(load_yaml(path), path)
        spec = build_spec(kind, str(path), {}, [], None, None)
    if not spec["expect"]:
        raise BadInput(f"{path} has no expect: block")
    runs = plan_runs(kind, spec, opts)
    results_dir = Path(opts["results"]) / spec["name"]
    table_columns, runs_columns = runner.KINDS[kind].columns(runs[0].spec)
    keys = list(runner.short_keys(runs[0].varying).values())
    planned = {"n_samples": {float(n) for run in runs for n in run.spec["n"]}} if kind in ("estimate", "fisher") else {}
    for i, item in enumerate(spec["expect"]):
        try:
            expect.check_columns(item, ["run_id", *keys, *table_columns], [*runner.RUNS_COLUMNS, *keys, *runs_columns],
                                 planned)  # fmt: skip
        except expect.ExpectError as err:
            raise BadInput(f"{path}: expect[{i}]: {err}") from None
    return CheckTarget(path, kind, spec, runs, results_dir, "")


def _checked(path: Path, opts) -> CheckTarget:
    """_check_target, except that a spec whose environment needs an optional extra that is not
    installed is skipped (with the install command), not bad input."""
    try:
        return _check_target(path, opts)
    except BadInput as err:
        if not getattr(err, "extra", ""):
            raise
        spec = {"name": path.stem, "expect": []}
        with contextlib.suppress(SpecError):
            spec = build_spec(infer_kind(load_yaml(path), path), str(path), {}, [], None, None)
        return CheckTarget(path, "train", spec, None, Path(opts["results"]) / spec["name"], err.message)


def _results_of(target: CheckTarget, run: bool, opts) -> str:
    """Bring a spec's results up to date (run what is missing unless --no-run); returns why
    there are no results to check, or ''."""
    runs = target.runs
    if runs is None:
        return ""
    finished = [runner.is_finished(r) for r in runs]
    if not all(finished) and not run:
        left = finished.count(False)
        return f"{left} of {len(runs)} runs of {target.path} have no results (run without --no-run)"
    if all(finished):
        runner.aggregate(runs, [None] * len(runs), target.results_dir)
        return ""
    _, results, _, _ = run_experiment(target.kind, target.spec, opts, spec_file=str(target.path), runs=runs)
    failed = [(run.label, (r or {}).get("message", "")) for run, r in zip(runs, results, strict=True)
              if (r or {}).get("status") == "failed"]  # fmt: skip
    for label, message in failed:
        click.echo(f"{target.spec['name']}: run {label} failed: {message}", err=True)
    return f"run {failed[0][0]} failed: {failed[0][1]}" if failed else ""


def _evaluate(item, runs_table, table, minimize) -> tuple[object, bool, str]:
    """(measured, passed, message) of one expectation."""
    try:
        measured, passed = expect.evaluate(item, runs_table, table, minimize)
        rhs = expect.reference(item, runs_table, table, minimize)
    except expect.NoData as err:
        return "", False, str(err)
    if rhs is not None:
        measured = f"{measured:.5g} vs {rhs:.5g}" if isinstance(measured, float) else f"{measured} vs {rhs:.5g}"
    return measured, passed, ""


@cli.command()
@click.argument("targets", nargs=-1, required=True, metavar="SPEC_OR_RESULTS...")
@click.option("--no-run", is_flag=True, help="Check existing results only; never run experiments.")
@click.option("--junit", type=click.Path(dir_okay=False), default=None, help="Write a JUnit XML report.")
@click.option("--results", default="results", show_default=True, type=click.Path(file_okay=False), help="Results root.")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True, help="Local worker processes.")
@bar_options[0]
@bar_options[1]
def check(targets, no_run, junit, results, jobs, quiet, progress):
    """Check specs' `expect:` blocks against their results (running them if missing).

    Every spec is validated (its expectations too) before anything runs; a spec whose
    environment needs a missing optional extra (mujoco, box2d) is skipped with the install
    command. Prints one row per expectation and exits 0 when all pass, 1 otherwise.

    \b
    Examples:
      pgcli check experiments/cartpole.yaml
      pgcli check experiments/estimators-*.yaml --jobs 2 --junit report.xml
      pgcli check results/cartpole --no-run
    """
    opts = {"results": results, "grid": (), "print_spec": False, "executor": "local", "scheduler": None,
            "jobs": jobs, "resume": True, "force": False, "quiet": quiet, "progress": progress}  # fmt: skip
    if junit and (problem := atomic.check_writable(junit)):
        raise BadInput(problem)
    checked = [_checked(path, opts) for path in map(Path, targets)]
    cases = []
    for target in checked:
        spec = target.spec
        if target.skipped:
            click.echo(f"skipped {target.path}: {target.skipped}", err=True)
            cases.append((spec["name"], "(all expectations)", "", "", None, target.skipped))
            continue
        why = _results_of(target, not no_run, opts)
        table_path = target.results_dir / runner.KINDS[target.kind].table
        runs_path = target.results_dir / "runs.csv"
        have = table_path.is_file() and runs_path.is_file() and not why.endswith("(run without --no-run)")
        runs_table = pd.read_csv(runs_path) if have else None
        table = pd.read_csv(table_path) if have else None
        for i, item in enumerate(spec["expect"] or []):
            text, source = expect.describe(item), str(item.get("source", ""))
            if not have:
                cases.append((spec["name"], text, source, "", False, why or f"no results in {target.results_dir}"))
                continue
            try:
                measured, passed, message = _evaluate(item, runs_table, table, bool(spec.get("minimize")))
            except expect.ExpectError as err:
                raise BadInput(f"{target.path}: expect[{i}]: {err}") from None
            cases.append((spec["name"], text, source, measured, passed, message or (why if not passed else "")))
    shown = pd.DataFrame(cases, columns=["spec", "expectation", "source", "measured", "passed", "message"])
    shown["measured"] = shown["measured"].map(lambda v: f"{v:.5g}" if isinstance(v, float) else str(v))
    shown["result"] = shown["passed"].map({True: "PASS", False: "FAIL", None: "SKIP"})
    click.echo(shown[["spec", "expectation", "measured", "result", "source"]].to_string(index=False))
    for _, row in shown[(shown["message"] != "") & shown["passed"].notna()].iterrows():
        click.echo(f"{row['spec']}: {row['expectation']}: {row['message']}", err=True)
    if junit:
        atomic.write_text(junit, expect.junit_xml(cases))
    failed = int((shown["passed"] == False).sum())  # noqa: E712 - None means skipped
    skipped = int(shown["passed"].isna().sum())
    counted = len(shown) - skipped
    click.echo(f"{counted - failed} of {counted} expectations pass" + (f"; {skipped} skipped" if skipped else ""))
    return 1 if failed else 0


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
@click.option("--dist", type=click.Choice(sorted(FAMILIES)), default=None, help="Distribution family.")
@click.option("--parametrisation", "--param", "parametrisation", default=None, help="e.g. log_sigma, logit.")
@click.option("--dim", type=int, default=None, help="Dimension: diag_gaussian, bernoulli (product); categories.")
@click.option("--theta", default=None, metavar="NAME=V,...", help="Initial θ, e.g. mu=0.")
@click.option("--learn", default=None, metavar="A,B", help="Parameters that move (default: all).")
@click.option(
    "--f", "function", default=None, metavar="F", help=f"{', '.join(NAMED)}, module:function, or an expression in x."
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
            flags["theta"] = parse_theta_text(theta)
        spec = build_spec("optimize", spec_file, flags, opts["sets"], opts["seed"], opts["name"])
        named = opts["name"] or spec_file or any(a.startswith("name=") for a in opts["sets"])
        if not named:
            spec["name"] = optimize_core.default_name(spec)
    runs, results, summary, combined = run_experiment("optimize", spec, opts, spec_file=spec_file)
    columns = ["label", "status", "final_objective", "optimum", "final_theta", "train_accuracy",
               "test_accuracy", "logreg_test_accuracy", "mean_grad_var", "samples", "wall_s"]  # fmt: skip
    shown = [c for c in columns if c in summary]
    shown = summary[shown].dropna(axis=1, how="all")  # e.g. no optimum known
    click.echo(shown.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    _notes(results)
    wrote(combined)
    return finish(runs, results, summary)


def main():
    cli.main()
