"""pgcli's command line: parse, call one shell function, print. No numerics here.

Every experiment kind (pgcli.kinds) is a command built from its record — its flags, help and what
it prints — so a new kind is a new command with no edit here. Commands are built when they are
used (Click's lazy-loading pattern: `Pgcli.get_command`), and `pgcli --help` lists them from their
records' first help lines, so `pgcli --help` loads no SciPy, pandas, matplotlib or gymnasium and a
command's --help loads only what its options name (benchmarks/import_time.py measures each).
"""

from __future__ import annotations

import contextlib
import math
import sys
from pathlib import Path

import click

from pgcli import __version__, kinds


class BadInput(click.ClickException):
    """Bad user input: one line on stderr, exit code 2."""

    exit_code = 2

    def __init__(self, message: str, extra: str = ""):
        super().__init__(message)
        self.extra = extra  # an optional extra of pgcli that is missing (see SpecError)


# module -> the error it raises for bad input; read only from the modules loaded, since a module never
# imported raised nothing (importing the lab for its errors would cost `pgcli train` SciPy's start-up)
INPUT_ERRORS = {
    "pgcli.base.fields": "SpecError",
    "pgcli.base.usercode": "UserCodeError",
    "pgcli.lab.distributions": "DistError",
    "pgcli.lab.functions": "FunctionError",
    "pgcli.shell.executors": "SchedulerError",
    "pgcli.shell.experiment": "InputError",
    "pgcli.shell.results": "ResultsError",
}


@contextlib.contextmanager
def bad_input():
    """Turn the shell's and the cores' validation errors into one-line exit-2 errors."""
    try:
        yield
    except Exception as err:
        loaded = (getattr(sys.modules[name], error) for name, error in INPUT_ERRORS.items() if name in sys.modules)
        if isinstance(err, tuple(loaded)):
            raise BadInput(str(err), getattr(err, "extra", "")) from None
        raise


@contextlib.contextmanager
def output_errors():
    """A write that fails (disk full, file too large, permissions) is one line, exit 1; the atomic
    write left no partial file."""
    try:
        yield
    except OSError as err:
        where = f" {err.filename}" if err.filename else ""
        raise click.ClickException(f"cannot write{where}: {err.strerror or err}") from None


# ---------------------------------------------------------------------------------------------
# the group: commands built on first use, every error one line


class Pgcli(click.Group):
    """The `pgcli` group. Its commands are the registered experiment kinds (built from their
    records) and the commands below (built by their functions), each only when asked for; every
    error is one line ('Error: ...'), usage errors and bad input exit 2, no traceback."""

    def list_commands(self, ctx):
        return [*kinds.names(), *COMMANDS]

    def get_command(self, ctx, name):
        if name in COMMANDS:
            return COMMANDS[name][1]()
        if name in kinds.REGISTRY:
            return kind_command(kinds.get(name))
        return None

    def format_commands(self, ctx, formatter):
        """The command list from first help lines, without building the commands."""
        rows = [(name, _first_line(kinds.get(name).help)) for name in kinds.names()]
        rows += [(name, short) for name, (short, _) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

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


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0].strip()


@click.group(cls=Pgcli, invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pgcli")
@click.pass_context
def cli(ctx):
    """Score-function (REINFORCE) gradients and policy gradients as experiments.

    \b
    Examples:
      pgcli estimate --dist gaussian --f step
      pgcli fisher --dist gamma --theta shape=2,rate=3 --n 1e6
      pgcli train cartpole
    """
    if ctx.invoked_subcommand is None:  # `pgcli` alone: the help, as --help would
        click.echo(ctx.get_help())


# ---------------------------------------------------------------------------------------------
# shared options, each declared once

# name -> (declarations, attributes): each shared option declared once, used as a decorator
# (`option(name)`) by the commands written here and as a parameter (`param(name)`) by the kinds'
OPTIONS = {
    "sets": (["--set", "sets"], {"multiple": True, "metavar": "KEY=VALUE", "help": "Override any spec key (typed by the schema)."}),
    "grid": (["--set-grid", "grid"], {"multiple": True, "metavar": "KEY=V1,V2", "help": "Add a sweep axis."}),
    "seed": (["--seed"], {"type": int, "default": None, "help": "Root seed (one run)."}),
    "name": (["--name"], {"default": None, "help": "Results go to RESULTS/NAME/ (default: spec file name)."}),
    "results": (["--results"], {"default": "results", "show_default": True, "type": click.Path(file_okay=False),
                                "help": "Results root directory."}),
    "jobs": (["--jobs"], {"type": click.IntRange(min=1), "default": 1, "show_default": True,
                          "help": "Local worker processes."}),
    "executor": (["--executor"], {"type": click.Choice(["local", "dask"]), "default": "local", "show_default": True,
                                  "help": "Where runs are computed: local processes, or a Dask cluster."}),
    "scheduler": (["--scheduler"], {"default": None, "metavar": "tcp://HOST:PORT",
                                    "help": "Dask scheduler (default: start a LocalCluster)."}),
    "allow_mixed": (["--allow-mixed"], {"is_flag": True, "help": "Run on Dask workers whose pgcli/numpy/gymnasium/"
                                        "Python versions differ from this one's."}),
    "resume": (["--resume/--no-resume"], {"default": True, "show_default": True, "help": "Skip runs already done."}),
    "force": (["--force"], {"is_flag": True, "help": "Re-run finished runs."}),
    "quiet": (["--quiet", "-q"], {"is_flag": True, "help": "No progress bars."}),
    "full": (["--full"], {"is_flag": True, "help": "Print whole tables (on a terminal a long one is cut to fit, "
                          "with a line saying where all of it is)."}),
    "progress": (["--progress"], {"is_flag": True, "help": "Progress bars even when stderr is not a terminal."}),
    "print_spec": (["--print-spec"], {"is_flag": True, "help": "Print the resolved spec and exit (imports none of your code)."}),
    "trust": (["--trust"], {"multiple": True, "metavar": "DIR", "type": click.Path(file_okay=False),
                            "help": "Also allow specs to name Python modules under DIR (repeatable; default: only "
                            "files beside the spec)."}),
    "out": (["--out"], {"type": click.Path(dir_okay=False), "default": None, "help": "Also write the combined table here."}),
}  # fmt: skip


def option(name: str):
    """A shared option as a decorator."""
    decls, attrs = OPTIONS[name]
    return click.option(*decls, **attrs)


def param(name: str) -> click.Option:
    """A shared option as a parameter."""
    decls, attrs = OPTIONS[name]
    return click.Option(decls, **attrs)


EXPERIMENT_OPTIONS = [
    click.Argument(["spec_file"], required=False, type=click.Path(dir_okay=False)),
    *map(param, OPTIONS),
]


def execution(opts: dict):
    """The run options of an experiment command as an experiment.Execution."""
    from pgcli.shell.experiment import Execution

    return Execution(**{key: opts[key] for key in Execution._fields})


# ---------------------------------------------------------------------------------------------
# a kind's command, from its record


class FiniteRange(click.FloatRange):
    """A float in a range, and a number: nan (which compares false with every bound) and inf are refused."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number

    def _describe_range(self) -> str:
        return "" if self.min is None and self.max is None else super()._describe_range()


def flag_option(flag: kinds.Flag) -> click.Option:
    """A kind's Flag as a click.Option (its registry names read now: the command is being built)."""
    names = tuple(flag.names()) if flag.names else ()
    help_text = flag.help.replace("{names}", ", ".join(map(str, names)))
    low, high = (flag.bounds or (0, None))[:2]
    types = {
        "int": click.INT,
        "positive": FiniteRange(min=low, max=high, min_open=low == 0),
        "choice": click.Choice(names) if names else None,
    }
    attrs = {"help": help_text, "metavar": flag.metavar, "default": flag.default}
    if flag.type == "count":
        attrs["type"] = click.IntRange(min=flag.bounds[0], max=flag.bounds[1]())
        attrs["show_default"] = True
    elif flag.type == "flag":
        attrs["is_flag"] = True
    elif flag.type == "texts":
        attrs["multiple"] = True
    elif flag.type in types:
        attrs["type"] = types[flag.type]
    if flag.type == "positive":
        attrs["show_default"] = True
    return click.Option([flag.keyword, *flag.decls], **attrs)


def kind_command(kind: kinds.Kind) -> click.Command:
    """The command of a kind: the experiment options, its flags, and the options of the tools
    other kinds offer it."""
    tools = kinds.offering(kind.name)
    params = [*EXPERIMENT_OPTIONS, *map(flag_option, kind.flags)]
    params += [flag_option(flag) for _, tool in tools for flag in (tool.trigger, *tool.flags)]

    def callback(spec_file, **params):
        return run_kind(kind, tools, spec_file, params)

    return click.Command(kind.name, callback=callback, params=params, help=kind.help, short_help=_first_line(kind.help))


def run_kind(kind: kinds.Kind, tools, spec_file, params: dict) -> int:
    """What every kind's command does: a tool when its trigger is given; else build the spec
    (spec file, flags, --set), plan and validate its runs, print the spec (--print-spec) or run
    them, print what the kind shows and where the table is; exit code 0 when every run is done."""
    for tool_kind, tool in tools:
        if params.get(tool.trigger.keyword) is not None:
            return run_tool(kind, tool_kind, tool, spec_file, params)
    flags, options = {}, {}
    for flag in kind.flags:
        value = params[flag.keyword]
        if flag.key is None:
            options[flag.keyword] = value
            continue
        if isinstance(value, tuple):
            value = list(value)
        if value is not None and value != [] and flag.parse is not None:
            with bad_input():
                value = flag.parse(value)
        flags[flag.key] = value
    outcome = run_command(kind.name, spec_file, flags, params)
    from pgcli.shell import experiment

    text = kind.show(experiment.shown(outcome, options)) if kind.show else None
    if text:
        click.echo(fit(text, params["full"], params["out"] or outcome.combined))
    return finish(outcome, params["out"] or outcome.combined, params["full"])


def spec_path(text, missing: str = "spec file not found") -> str | None:
    """A spec argument as a file: a file as given, or a bundled spec by name (`cartpole`); BadInput
    starting with `missing` when it is neither."""
    if text is None:
        return None
    from pgcli.shell import library

    found = library.find(text)
    if found is None:
        shown = text if len(text) <= 200 else f"{text[:200]}… ({len(text):,} characters)"
        name = Path(text).name.removesuffix(".yaml")
        if name in library.names():  # experiments/cartpole.yaml from an old checkout or a tutorial
            raise BadInput(f"{missing}: {shown}; the bundled spec {name!r} is addressed by its name alone: {name}")
        raise BadInput(f"{missing}: {shown} (nor a bundled spec of that name: `pgcli list` shows them)")
    return str(found)


def run_command(kind: str, spec_file, flags: dict, opts: dict):
    """Build the spec (spec file, flags, --set), plan and validate its runs, print the spec
    (--print-spec) or run them; returns experiment.Outcome."""
    from pgcli.shell import experiment
    from pgcli.shell.spec import dump

    typed = [flags, opts["sets"], opts["grid"]]  # the user's own text: its modules may be in the working directory
    spec_file = spec_path(spec_file)
    with bad_input():
        spec = experiment.build_spec(kind, spec_file, flags, opts["sets"], opts["seed"], opts["name"], opts["grid"])
        trust = experiment.trust(spec_file, opts["trust"], typed)
        runs = experiment.plan_runs(kind, spec, opts["results"], opts["grid"], trust, imports=not opts["print_spec"])
    if opts["print_spec"]:
        click.echo(dump(spec), nl=False)
        raise click.exceptions.Exit(0)
    with bad_input(), output_errors():
        outcome = experiment.run(kind, spec, runs, execution(opts), opts["out"], spec_file)
    if outcome.directory.parent.name == "sweeps":
        click.echo(f"note: these runs differ from {spec_file} as written; their summary is {outcome.directory}/")
    return outcome


def run_tool(command: kinds.Kind, kind: kinds.Kind, tool: kinds.Tool, spec_file, params: dict) -> int:
    """A tool of `kind`'s runs on this command (`fisher --policy RUN`): only the tool's options apply."""
    from pgcli.shell import experiment

    trigger = tool.trigger.keyword
    given = [flag.decls[0] for flag in command.flags if params[flag.keyword] not in (None, (), False)]
    if spec_file or given:
        raise BadInput(f"{tool.trigger.decls[0]} takes no spec file or {', '.join(given) or command.name + ' options'}")
    options = {flag.keyword: params[flag.keyword] for flag in tool.flags}
    with bad_input():
        target = params[trigger]
        where = target if Path(target).is_dir() else spec_path(target, "no such run directory or spec file")
        chosen = experiment.tool_run(kind.name, Path(where), params["sets"], params["seed"],
                                     params["name"], execution(params))  # fmt: skip
    if chosen.note:
        click.echo(chosen.note)
    with bad_input(), output_errors():
        path, lines = experiment.run_tool(tool, chosen, options, params["out"])
    click.echo(lines)
    wrote(path)
    return 0


def fit(text: str, full: bool, where) -> str:
    """`text` as printed: whole in a pipe or with --full; on a terminal, a table longer than the
    screen cut to fit, with one line saying where all of it is and how to print it."""
    import shutil

    lines = text.splitlines()
    room = max(20, shutil.get_terminal_size().lines - 8)
    if full or not sys.stdout.isatty() or len(lines) <= room:
        return text
    more = len(lines) - room
    return "\n".join([*lines[:room], f"… {more:,} more rows: all of them are in {where}; --full prints them here"])


def finish(outcome, path=None, full: bool = False) -> int:
    """Print the runs' notes and where `path` is; exit code 0 when every run is done, else 1 with
    a table of the runs that are not (on stderr). On a terminal, at most 10 notes (--full: all)."""
    from pgcli.shell import experiment

    notes = experiment.notes(outcome.results)
    shown = notes if full or not sys.stdout.isatty() or len(notes) <= 10 else notes[:9]
    for note in shown:
        click.echo(f"note: {note}")
    if len(shown) < len(notes):
        click.echo(f"note: … {len(notes) - len(shown)} more notes (each run's notes.txt; --full prints them here)")
    wrote(path)
    not_done = experiment.not_done(outcome)
    if not_done:
        click.echo(not_done, err=True)
    return 1 if not_done else 0


def wrote(path) -> None:
    """Say where a file is, only if it is there (a run that failed wrote nothing)."""
    from pgcli.shell.atomic import stream_of

    if path is not None and stream_of(path) is None and Path(path).is_file():
        click.echo(f"wrote {path}")


# ---------------------------------------------------------------------------------------------
# plot


def plot_command() -> click.Command:
    """`pgcli plot`, its choices read from pgcli.shell.plot."""
    from pgcli.shell.plot import BANDS, FIGURES, STATS, X_AXES

    @click.command("plot")
    @click.argument("paths", nargs=-1, required=True, metavar="PATH...", type=click.Path(exists=True))
    @click.option("--out", type=click.Path(dir_okay=False), default=None,
                  help="Figure file: .png, .svg or .pdf (default: <results dir>/<kind>.png).")  # fmt: skip
    @click.option("--kind", "figure", type=click.Choice(list(FIGURES)), default=None,
                  help="Figure (default: the table's kind's).")  # fmt: skip
    @click.option("--x", default=None, metavar="COLUMN",
                  help=f"x axis: {', '.join(X_AXES)} or a kind's own (curves); a column (metrics).")  # fmt: skip
    @click.option("--y", default=None, help="Metric column (curves), variance|mse (estimator), columns A,B (metrics).")
    @click.option("--hue", default=None, metavar="KEY[,KEY]", help="Keys that make separate curves.")
    @click.option("--select", multiple=True, metavar="KEY=VALUE", help="Keep only these (repeatable).")
    @click.option("--exclude", multiple=True, metavar="KEY=VALUE", help="Drop these (repeatable).")
    @click.option("--smooth", type=click.IntRange(min=1), default=None, help="Trailing mean over K rows.")
    @click.option("--band", type=click.Choice(BANDS), default="ci", show_default=True,
                  help="Across seeds: 95% bootstrap CI of the mean, ±1 sd, or none.")  # fmt: skip
    @click.option("--stat", type=click.Choice(STATS), default=None,
                  help="Aggregate the runs by their IQM or mean, with 95% stratified bootstrap intervals (rliable), "
                  "in --table and the curves (default: the mean and its percentile bootstrap).")  # fmt: skip
    @click.option(
        "--target",
        type=FiniteRange(),
        metavar="FLOAT",
        default=None,
        help="Draw y = TARGET; time-to-target in --table.",
    )
    @click.option("--table", "show_table", is_flag=True, help="Print the summary per group.")
    @click.option("--table-out", type=click.Path(dir_okay=False), default=None, help="Write it as CSV.")
    @click.option("--title", default=None, help="Figure title (default: the spec name).")
    def plot(paths, out, figure, show_table, table_out, **options):
        """Draw a figure from results directories or CSVs (sweeps, single runs, tables).

        Seeds of the same settings are one curve: the mean with a 95% bootstrap band (--stat iqm:
        the interquartile mean and its band). --kind profile draws the fraction of runs whose final
        value is above each τ. With --table or --table-out and no --out, only the table is made.

        \b
        Examples:
          pgcli plot results/cartpole --target 475 --table
          pgcli plot results/cartpole-sweep --table --stat iqm
          pgcli plot results/cartpole-sweep --kind profile --out profile.svg
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
            from pgcli.shell import draw

            with output_errors():
                draw.save(draw.draw(request), out)
        if show_table:
            click.echo(summary.to_string(index=False, float_format=lambda v: f"{v:.5g}"))
        if table_out:
            with output_errors():
                atomic.write_csv(table_out, summary)
        for path in [out, table_out]:
            wrote(path)

    return plot


# ---------------------------------------------------------------------------------------------
# check


@click.command("check")
@click.argument("targets", nargs=-1, required=True, metavar="SPEC_OR_RESULTS...")
@click.option("--no-run", is_flag=True, help="Check existing results only; never run experiments.")
@click.option("--junit", type=click.Path(dir_okay=False), default=None, help="Write a JUnit XML report.")
@click.option("--sources", is_flag=True, help="Show where each expectation comes from (paper, benchmark).")
@click.option("--report", "report_out", type=click.Path(dir_okay=False), default=None, metavar="FILE.html",
              help="Write the HTML report of the checked results (as `pgcli report` does).")  # fmt: skip
@option("results")
@option("jobs")
@option("quiet")
@option("progress")
@option("trust")
def check(targets, no_run, junit, sources, report_out, results, jobs, quiet, progress, trust):
    """Check specs' `expect:` blocks against their results (running them if missing).

    Every spec is validated (its expectations too) before anything runs; a spec whose
    environment needs a missing optional extra (mujoco, box2d) is skipped with the install
    command. Prints one line per expectation (PASS, FAIL or SKIP, what it expects, what was
    measured) and exits 0 when all pass, 1 otherwise.

    \b
    Examples:
      pgcli check cartpole
      pgcli check estimators-step estimators-binary --jobs 2 --junit report.xml
      pgcli check cartpole fisher-identities --report check.html
      pgcli check results/cartpole --no-run
    """
    from pgcli.shell import atomic, checking, expect
    from pgcli.shell.experiment import Execution

    run_options = Execution(results=results, jobs=jobs, quiet=quiet, progress=progress, trust=trust)
    if junit and (problem := atomic.check_writable(junit)):
        raise BadInput(problem)
    if report_out:
        from pgcli.shell import report

        with bad_input():
            report.output_path([], report_out)
    with bad_input():
        found = [spec_path(text, "no such spec file or results directory") for text in targets]
        checked = [checking.target(Path(path), run_options) for path in found]
    per_target = [(target, check_one(target, not no_run, run_options)) for target in checked]
    cases = [case for _, target_cases in per_target for case in target_cases]
    shown = checking.table(cases)
    click.echo("\n".join(checking.lines(shown, sources=sources)))
    for _, row in shown[(shown["message"] != "") & shown["passed"].notna()].iterrows():
        click.echo(f"{row['spec']}: {row['expectation']}: {row['message']}", err=True)
    if junit:
        with output_errors():
            atomic.write_text(junit, expect.junit_xml(cases))
    if report_out:
        with bad_input(), output_errors():
            report.write(report.checked(per_target), report_out, checks=shown)
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
# the library


@click.command("list")
@click.option("--long", "-l", is_flag=True, help="Show each spec's whole description.")
def list_command(long):
    """List the reproduction library: every bundled spec, its kind, what it reproduces, how long it takes.

    A bundled spec runs by its name: `pgcli train cartpole`, `pgcli check cartpole`; `pgcli copy
    NAME` writes it out for editing. The time is a whole run (every seed) with --jobs 2 on a
    2-core machine.

    \b
    Examples:
      pgcli list
      pgcli check estimators-unbiased
    """
    import shutil
    import textwrap

    from pgcli.shell import library

    with bad_input():
        found = library.entries()
    width = max(len(entry.name) for entry in found)
    columns = shutil.get_terminal_size((100, 24)).columns if sys.stdout.isatty() else 10**4
    click.echo(f"{'name':<{width}}  {'kind':<8}  {'time':>8}  about")
    for entry in found:
        head = f"{entry.name:<{width}}  {entry.kind:<8}  {entry.time or '-':>8}  "
        click.echo(head + textwrap.shorten(entry.title, max(20, columns - len(head)), placeholder=" …"))
        if long:
            click.echo(textwrap.fill(entry.about, 100, initial_indent="    ", subsequent_indent="    "))
    if not long:
        click.echo("pgcli list --long: whole descriptions; pgcli copy NAME: a spec to edit", err=True)


@click.command("copy")
@click.argument("name")
@click.argument("dest", required=False, type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Replace DEST if it exists.")
def copy_command(name, dest, force):
    """Write a bundled spec out for editing (default: ./NAME.yaml), then run it as any spec file.

    \b
    Examples:
      pgcli copy cartpole my-cartpole.yaml
      pgcli train my-cartpole.yaml --set optim.lr=0.02
    """
    from pgcli.shell import atomic, library

    if name.removesuffix(".yaml") not in library.names():
        raise BadInput(f"no bundled spec {name!r}; `pgcli list` shows the library")
    source = library.directory() / f"{name.removesuffix('.yaml')}.yaml"
    target = Path(dest or source.name)
    if target.exists() and not force:
        raise BadInput(f"{target} exists; pass --force to replace it")
    if problem := atomic.check_writable(target):
        raise BadInput(problem)
    with output_errors():
        atomic.write_bytes(target, source.read_bytes())
    wrote(target)


# ---------------------------------------------------------------------------------------------
# report


@click.command("report")
@click.argument("paths", nargs=-1, required=True, metavar="RESULTS_DIR...", type=click.Path())
@click.option("--out", type=click.Path(dir_okay=False), default=None, metavar="FILE.html",
              help="The page (default: <first results dir>/report.html).")  # fmt: skip
def report_command(paths, out):
    """Write one self-contained HTML page of results directories: what ran, expectations, figures.

    For each experiment: its spec, versions, machine and date; every expect: line measured and
    judged; its groups' final scores as IQM and mean with stratified bootstrap intervals and
    P(X beats Y); the kind's figures; its runs and the error of each that failed. Several
    directories give one page that compares them. Everything is inline (SVG figures, no
    request of any kind), so the file opens from an e-mail or a CI artifact.

    \b
    Examples:
      pgcli report results/cartpole-sweep
      pgcli report results/cartpole results/cartpole-natural --out comparison.html
    """
    from pgcli.shell import report

    with bad_input(), output_errors():
        out = report.output_path(paths, out)
        report.write(report.read_all(paths), out)
    wrote(out)


# name -> (one-line help for `pgcli --help`, the function that builds the command)
COMMANDS = {
    "plot": ("Draw a figure from results directories or CSVs (sweeps, single runs, tables).", plot_command),
    "check": ("Check specs' `expect:` blocks against their results (running them if missing).", lambda: check),
    "report": ("Write one self-contained HTML page of results directories.", lambda: report_command),
    "list": (
        "List the reproduction library: every bundled spec, its kind, what it reproduces, how long it takes.",
        lambda: list_command,
    ),
    "copy": (
        "Write a bundled spec out for editing (default: ./NAME.yaml), then run it as any spec file.",
        lambda: copy_command,
    ),
}


def main():
    """The `pgcli` console script."""
    cli.main()
