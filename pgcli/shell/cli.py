"""pgcli's command line: parse, call one shell or core function, print. No numerics here.

Only Click is imported at the top: each command imports what it runs, and the choices and help
texts taken from the cores' registries (distribution families, estimators, named functions, ...)
are read when a command's help is shown or its options are parsed, so `pgcli --help` loads no
SciPy, pandas, matplotlib or gymnasium (benchmarks/import_time.py measures it).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import sys
from pathlib import Path

import click

from pgcli import __version__


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
    """Turn the shell's and the cores' validation errors into one-line exit-2 errors."""
    from pgcli.lab.distributions import DistError
    from pgcli.lab.functions import FunctionError
    from pgcli.shell.executors import SchedulerError
    from pgcli.shell.experiment import InputError
    from pgcli.shell.spec import SpecError

    try:
        yield
    except (SpecError, DistError, FunctionError, SchedulerError, InputError) as err:
        raise BadInput(str(err), getattr(err, "extra", "")) from None


# ---------------------------------------------------------------------------------------------
# choices and help texts from the cores' registries, read on first use


@functools.cache
def constant(where: str):
    """A core module's constant, 'pgcli.lab.estimators:ESTIMATORS', imported on first use."""
    module, name = where.split(":")
    return getattr(importlib.import_module(module), name)


class RegistryChoice(click.Choice):
    """click.Choice over a registry's names (sorted, unless `sort` is False), read when first needed."""

    def __init__(self, where: str, sort: bool = True):
        self.where, self.sort = where, sort
        super().__init__((), case_sensitive=True)

    @property
    def choices(self) -> tuple[str, ...]:
        names = tuple(constant(self.where))
        return tuple(sorted(names)) if self.sort else names

    @choices.setter
    def choices(self, value) -> None:  # Choice.__init__ stores its (empty) choices: the registry's win
        pass


class RegistryMax(click.IntRange):
    """click.IntRange(min=1, max=<a core module's constant>), the constant read when first needed."""

    def __init__(self, where: str):
        self.where = where
        super().__init__(min=1)

    @property
    def max(self) -> int:
        return constant(self.where)

    @max.setter
    def max(self, value) -> None:  # IntRange.__init__ stores max=None: the constant wins
        pass


class RegistryHelp(click.Option):
    """An option whose help text names a registry's entries ('{names}'), in registry order."""

    def __init__(self, *decls, names: str, **attrs):
        super().__init__(*decls, **attrs)
        self.names = names

    def _filled(self, method, *args):
        template = self.help
        self.help = template.replace("{names}", ", ".join(constant(self.names)))
        try:
            return method(*args)
        finally:
            self.help = template

    def get_help_record(self, ctx):
        return self._filled(super().get_help_record, ctx)

    def to_info_dict(self):
        return self._filled(super().to_info_dict)


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
# shared options, each declared once

results_option = click.option(
    "--results", default="results", show_default=True, type=click.Path(file_okay=False), help="Results root directory."
)
jobs_option = click.option(
    "--jobs", type=click.IntRange(min=1), default=1, show_default=True, help="Local worker processes."
)
quiet_option = click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
trust_option = click.option(
    "--trust",
    multiple=True,
    metavar="DIR",
    type=click.Path(file_okay=False),
    help="Also allow specs to name Python modules under DIR (repeatable; default: only files beside the spec).",
)
progress_option = click.option("--progress", is_flag=True, help="Progress bars even when stderr is not a terminal.")
out_option = click.option("--out", type=click.Path(dir_okay=False), default=None, help="Also write the table here.")


def apply(options, func):
    """func decorated by `options`, the first one outermost (as if written in that order above it)."""
    for option in reversed(options):
        func = option(func)
    return func


def experiment_options(func):
    """Options every experiment command shares: the spec file, overrides, seed, name, where and how to run."""
    return apply(
        [
            click.argument("spec_file", required=False, type=click.Path(dir_okay=False)),
            click.option(
                "--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override any spec key (typed by the schema)."
            ),
            click.option("--set-grid", "grid", multiple=True, metavar="KEY=V1,V2", help="Add a sweep axis."),
            click.option("--seed", type=int, default=None, help="Root seed."),
            click.option("--name", default=None, help="Results go to RESULTS/NAME/ (default: spec file name)."),
            results_option,
            jobs_option,
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
            quiet_option,
            progress_option,
            click.option(
                "--print-spec", is_flag=True, help="Print the resolved spec and exit (imports none of your code)."
            ),
            trust_option,
        ],
        func,
    )


THETA_SWEEP = "θ values, e.g. mu=0 or shape=2,rate=3; [a,b] vectors; 'lo:hi:count' sweeps."
THETA_START = "Initial θ, e.g. mu=0 or shape=2,rate=3; [a,b] vectors (one θ: no sweeps)."


def distribution_options(func, theta_help: str = THETA_SWEEP):
    """--dist, --param, --dim and --theta, passed to the command as one dict of spec flags,
    `dist_flags` (θ still text: build_spec parses it)."""

    @functools.wraps(func)
    def command(*args, dist, parametrisation, dim, theta, **kwargs):
        flags = {"dist": dist, "parametrisation": parametrisation, "dim": dim, "theta": theta}
        return func(*args, dist_flags=flags, **kwargs)

    return apply(
        [
            click.option(
                "--dist",
                type=RegistryChoice("pgcli.lab.distributions:FAMILIES"),
                default=None,
                help="Distribution family.",
            ),
            click.option(
                "--parametrisation", "--param", "parametrisation", default=None, help="e.g. log_sigma, logit, log_rate."
            ),
            click.option(
                "--dim", type=int, default=None, help="Dimension: diag_gaussian, bernoulli (product); categories."
            ),
            click.option(
                "--theta",
                default=None,
                metavar="NAME=V,...",
                help=theta_help,
            ),
        ],
        command,
    )


def execution(opts: dict):
    """The run options of an experiment command as an experiment.Execution."""
    from pgcli.shell.experiment import Execution

    return Execution(**{key: opts[key] for key in Execution._fields})


def run_command(kind: str, spec_file, flags: dict, opts: dict, out=None):
    """What every experiment command does: build the spec (spec file, flags, --set), plan and
    validate its runs, print the spec (--print-spec) or run them; returns experiment.Outcome."""
    from pgcli.shell import experiment
    from pgcli.shell.spec import dump

    typed = [flags, opts["sets"], opts["grid"]]  # the user's own text: its modules may be in the working directory
    with bad_input():
        spec = experiment.build_spec(kind, spec_file, flags, opts["sets"], opts["seed"], opts["name"])
        trust = experiment.trust(spec_file, opts["trust"], typed)
        runs = experiment.plan_runs(kind, spec, opts["results"], opts["grid"], trust, imports=not opts["print_spec"])
    if opts["print_spec"]:
        click.echo(dump(spec), nl=False)
        raise click.exceptions.Exit(0)
    with bad_input():
        outcome = experiment.run(kind, spec, runs, execution(opts), out, spec_file)
    if outcome.directory.parent.name == "sweeps":
        click.echo(f"note: these runs differ from {spec_file} as written; their summary is {outcome.directory}/")
    return outcome


def finish(outcome, path=None) -> int:
    """Print the runs' notes and where `path` is; exit code 0 when every run is done, else 1 with
    a table of the runs that are not (on stderr)."""
    from pgcli.shell import experiment, tables

    for note in experiment.notes(outcome.results):
        click.echo(f"note: {note}")
    wrote(path)
    not_done = tables.not_done(outcome.runs, outcome.results, outcome.summary)
    if not_done:
        click.echo(not_done, err=True)
    return 1 if not_done else 0


def wrote(path) -> None:
    """Say where a file is, only if it is there (a run that failed wrote nothing)."""
    if path is not None and Path(path).is_file():
        click.echo(f"wrote {path}")


# ---------------------------------------------------------------------------------------------
# estimate


@cli.command()
@experiment_options
@distribution_options
@click.option(
    "--f",
    "functions",
    multiple=True,
    metavar="F",
    cls=RegistryHelp,
    names="pgcli.lab.functions:NAMED",
    help="Repeatable: {names}, table:..., module:function (Python), or an expression in x.",
)
@click.option(
    "--estimators",
    default=None,
    metavar="A,B",
    cls=RegistryHelp,
    names="pgcli.lab.estimators:ESTIMATORS",
    help="Comma list of: {names}.",
)
@click.option("--n", "n", default=None, metavar="N1,N2", help="Samples per estimate (1e6 forms allowed).")
@click.option("--reps", default=None, help="Independent estimates per cell.")
@click.option("--h", "h", default=None, help="Finite-difference step.")
@click.option("--temperature", default=None, help="gumbel_softmax temperature τ (default 0.5).")
@click.option(
    "--dtype",
    type=RegistryChoice("pgcli.lab.distributions:DTYPES", sort=False),
    default=None,
    help="Of samples and terms (exact: float64).",
)
@click.option("--rank", is_flag=True, help="Rank the estimators by efficiency for this f and θ.")
@click.option(
    "--target-se",
    type=click.FloatRange(min=0, min_open=True),
    default=0.01,
    show_default=True,
    help="With --rank: standard error to reach.",
)
@out_option
def estimate(
    spec_file, dist_flags, functions, estimators, n, reps, h, temperature, dtype, rank, target_se, out, **opts
):
    """Estimate ∂/∂θ E[f(x)] with every estimator and compare with the exact gradient.

    \b
    Examples:
      pgcli estimate --dist gaussian --f step
      pgcli estimate --dist bernoulli --param logit --f square --n 10,100,1000
      pgcli estimate --dist gaussian --theta mu=-3:3:25 --f "x**2 + sin(3*x)" --n 100
      pgcli estimate experiments/estimators-step.yaml --set reps=500
      pgcli estimate --dist bernoulli --dim 8 --param logit --f square --n 1000 --rank --target-se 0.001
    """
    flags = {**dist_flags, "f": list(functions), "estimators": estimators, "n": n, "reps": reps, "h": h,
             "temperature": temperature, "dtype": dtype}  # fmt: skip
    outcome = run_command("estimate", spec_file, flags, opts, out)
    if outcome.combined.is_file() and len(outcome.runs) == 1:
        import pandas as pd

        from pgcli.shell import tables

        table = pd.read_csv(outcome.combined)
        click.echo(tables.rank_table(table, target_se) if rank else tables.estimate_table(table))
    return finish(outcome, out or outcome.combined)


# ---------------------------------------------------------------------------------------------
# fisher


@cli.command()
@experiment_options
@distribution_options
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
    type=RegistryMax("pgcli.rl.natural:MAX_STATES"),
    help="With --policy: states visited by the policy.",
)
@out_option
def fisher(spec_file, dist_flags, n, policy_path, states, out, **opts):
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
        if spec_file or dist_flags["dist"]:
            raise BadInput("--policy takes no distribution spec or --dist")
        return policy_fisher(Path(policy_path), states, out, opts)
    outcome = run_command("fisher", spec_file, {**dist_flags, "n": n}, opts, out)
    if outcome.combined.is_file() and len(outcome.runs) == 1:
        from pgcli.shell import tables

        click.echo(tables.fisher_table(outcome.combined))
    return finish(outcome, out or outcome.combined)


def policy_fisher(path: Path, states: int, out, opts: dict) -> int:
    """`fisher --policy`: a run directory's trained policy, or a train spec's (trained if its
    run directory is done, else its initial θ₀)."""
    from pgcli.shell import experiment, tables

    with bad_input():
        policy = experiment.find_policy(path, opts["sets"], opts["seed"], opts["name"], execution(opts))
    if policy.note:
        click.echo(policy.note)
    with bad_input():
        result = experiment.policy_fisher(policy, states, out)
    source = "trained" if policy.theta is not None else "initial (untrained)"
    click.echo(tables.policy_fisher_lines(source, policy.spec, policy.run_dir, result))
    wrote(result.path)
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
    from pgcli.shell import tables

    outcome = run_command("train", spec_file, {}, opts)
    if len(outcome.runs) == 1:
        click.echo(tables.train_line(outcome.spec, outcome.summary.iloc[0]))
    else:
        columns = ["label", "status", "final_return", "best_return", "env_steps_to_target", "env_steps", "wall_s"]
        click.echo(tables.columns_table(outcome.summary, columns, digits=5))
    return finish(outcome, outcome.combined)


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
    type=RegistryChoice("pgcli.shell.plot:FIGURES", sort=False),
    default=None,
    help="Figure (default: from the table: convergence, estimator or fisher).",
)
@click.option("--x", type=RegistryChoice("pgcli.shell.plot:X_AXES", sort=False), default=None, help="x axis for train.")
@click.option("--y", default=None, help="Metric column (train), or variance|mse (estimator).")
@click.option("--hue", default=None, metavar="KEY[,KEY]", help="Keys that make separate curves.")
@click.option("--select", multiple=True, metavar="KEY=VALUE", help="Keep only these (repeatable).")
@click.option("--exclude", multiple=True, metavar="KEY=VALUE", help="Drop these (repeatable).")
@click.option("--smooth", type=click.IntRange(min=1), default=None, help="Trailing mean over K rows.")
@click.option(
    "--band",
    type=RegistryChoice("pgcli.shell.plot:BANDS", sort=False),
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
    from pgcli.shell import atomic
    from pgcli.shell import plot as plot_core

    try:
        request = plot_core.prepare(plot_core.load(paths), figure, **options)
        summary = plot_core.summary(request) if show_table or table_out else None
        out = plot_core.figure_path(out, paths[0], request, table_asked=summary is not None)
    except plot_core.PlotError as err:
        raise BadInput(str(err)) from None
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


@cli.command()
@click.argument("targets", nargs=-1, required=True, metavar="SPEC_OR_RESULTS...")
@click.option("--no-run", is_flag=True, help="Check existing results only; never run experiments.")
@click.option("--junit", type=click.Path(dir_okay=False), default=None, help="Write a JUnit XML report.")
@results_option
@jobs_option
@quiet_option
@progress_option
@trust_option
def check(targets, no_run, junit, results, jobs, quiet, progress, trust):
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
    from pgcli.shell import atomic, checking, expect
    from pgcli.shell.experiment import Execution

    run_options = Execution(results=results, jobs=jobs, quiet=quiet, progress=progress, trust=trust)
    if junit and (problem := atomic.check_writable(junit)):
        raise BadInput(problem)
    with bad_input():
        checked = [checking.target(path, run_options) for path in map(Path, targets)]
    cases = [case for target in checked for case in check_one(target, not no_run, run_options)]
    shown = checking.table(cases)
    click.echo(shown[["spec", "expectation", "measured", "result", "source"]].to_string(index=False))
    for _, row in shown[(shown["message"] != "") & shown["passed"].notna()].iterrows():
        click.echo(f"{row['spec']}: {row['expectation']}: {row['message']}", err=True)
    if junit:
        atomic.write_text(junit, expect.junit_xml(cases))
    counted, failed, skipped = checking.tally(shown)
    click.echo(f"{counted - failed} of {counted} expectations pass" + (f"; {skipped} skipped" if skipped else ""))
    return 1 if failed else 0


def check_one(target, run_missing: bool, run_options) -> list:  # of expect.Case
    """One check argument's cases, its results brought up to date first (saying which runs failed)."""
    from pgcli.shell import checking

    if target.skipped:
        click.echo(f"skipped {target.path}: {target.skipped}", err=True)
        return checking.cases(target, "")
    with bad_input():
        why, failed = checking.results_of(target, run_missing, run_options)
    for label, message in failed:
        click.echo(f"{target.spec['name']}: run {label} failed: {message}", err=True)
    with bad_input():
        return checking.cases(target, why)


# ---------------------------------------------------------------------------------------------
# optimize


@cli.command()
@experiment_options
@click.option(
    "--problem",
    type=RegistryChoice("pgcli.lab.optimize:PROBLEMS"),
    default=None,
    help="distribution (default), bernoulli_toy or classifier.",
)
@functools.partial(distribution_options, theta_help=THETA_START)
@click.option("--learn", default=None, metavar="A,B", help="Parameters that move (default: all).")
@click.option(
    "--f",
    "function",
    default=None,
    metavar="F",
    cls=RegistryHelp,
    names="pgcli.lab.functions:NAMED",
    help="{names}, module:function, or an expression in x.",
)
@click.option("--estimator", type=RegistryChoice("pgcli.lab.estimators:ESTIMATORS"), default=None)
@click.option("--minimize/--maximize", default=None, help="Direction (default: minimise).")
@click.option("--n", "n", default=None, help="Samples per step (classifier: per example).")
@click.option("--steps", default=None, help="Gradient steps.")
@click.option("--optim", type=RegistryChoice("pgcli.lab.optimize:OPTIMISERS"), default=None)
@click.option("--lr", default=None, help="Learning rate.")
@click.option("--data", default=None, metavar="CSV", help="classifier: data file.")
def optimize(spec_file, problem, dist_flags, learn, function, estimator, minimize, n, steps, optim, lr, data, **opts):
    """Minimise (or maximise) E[f(x)] over θ by stochastic gradient steps with one estimator.

    \b
    Examples:
      pgcli optimize --dist gaussian --f step --estimator score --steps 200
      pgcli optimize --problem bernoulli_toy --set-grid estimator=score,score_loo,score_optimal
      pgcli optimize experiments/optimize-classifier.yaml --set sweep.seeds=1
      pgcli optimize experiments/optimize-bernoulli.yaml --print-spec
    """
    from pgcli.shell import tables

    flags = {"problem": problem, **dist_flags, "learn": learn, "f": function, "estimator": estimator,
             "minimize": minimize, "n": n, "steps": steps, "optim.kind": optim, "optim.lr": lr, "data.path": data}  # fmt: skip
    outcome = run_command("optimize", spec_file, flags, opts)
    columns = ["label", "status", "final_objective", "optimum", "final_theta", "train_accuracy",
               "test_accuracy", "logreg_test_accuracy", "mean_grad_var", "samples", "wall_s"]  # fmt: skip
    click.echo(tables.columns_table(outcome.summary, columns, digits=4, drop_empty=True))
    return finish(outcome, outcome.combined)


def main():
    """The `pgcli` console script."""
    cli.main()
