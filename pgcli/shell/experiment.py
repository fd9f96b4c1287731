"""An experiment as the command line runs it: the spec (file, then flags, then --set), its runs,
an executor's life cycle (a Dask client opened and closed here), and the summary directory.

    spec = build_spec(kind, "estimators-step", {"n": "100"}, ["reps=50"], None, None)
    runs = plan_runs(kind, spec, "results")
    outcome = run(kind, spec, runs, Execution(jobs=2))   # outcome.summary.frame(): runs.csv as a DataFrame

`kind` is a kind's name (pgcli.kinds): everything kind-specific comes from its record.

Bad input raises InputError (or SpecError, DistError, FunctionError, executors.SchedulerError) with a
one-line message, before anything is written; the CLI prints it and exits 2. Nothing here prints.
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import hashlib
import os
import re
import sys
from pathlib import Path
from typing import NamedTuple

import pgcli.library
from pgcli import kinds
from pgcli.base import lazy, usercode
from pgcli.base.table import Table
from pgcli.shell import atomic, bars, executors, plan, results, runner
from pgcli.shell.spec import (
    UNHASHED,
    SpecError,
    apply_overrides,
    get_dotted,
    grid_key,
    leaves,
    load_yaml,
    parse_assignment,
    references,
    relative_to,
    resolve,
    set_dotted,
    with_sweep,
)

pd = lazy.module("pandas")


class InputError(ValueError):
    """Bad user input found by the shell (an unwritable output, options that conflict, a file that is
    not what it should be); str() is the one-line message. `extra` names a missing optional extra."""

    def __init__(self, message: str, extra: str = ""):
        super().__init__(message)
        self.extra = extra


class Execution(NamedTuple):
    """How to run a plan: the command line's run options (`--results`, `--jobs`, `--executor`, ...)."""

    results: str = "results"  # results root directory
    grid: tuple = ()  # --set-grid axes, 'key=v1,v2'
    jobs: int = 1
    executor: str = "local"  # local | dask
    scheduler: str | None = None  # a Dask scheduler address; None: a LocalCluster
    allow_mixed: bool = False
    resume: bool = True
    force: bool = False
    quiet: bool = False
    progress: bool = False  # bars even when stderr is not a terminal
    trust: tuple = ()  # --trust directories: user modules there may be named (pgcli.base.usercode)


class Outcome(NamedTuple):
    """A run experiment: its resolved spec, its runs, one result per run, runs.csv's rows, the
    combined table's path and the summary directory (results/<name>/ or results/<name>/sweeps/<sweep_id>/)."""

    spec: dict
    runs: list
    results: list
    summary: Table
    combined: Path
    directory: Path


# ---------------------------------------------------------------------------------------------
# the spec and its runs


def build_spec(kind: str, spec_file, flags: dict, sets, seed, name, grid=()) -> dict:
    """Spec file, then flags, then --set: resolved against the kind's schema.

    `flags` maps spec keys (dotted) to values from command-line options (or the Python API); None
    or empty means not given, and a mapping merges into the file's (`--theta mu=1` keeps its other
    parameters). The name is `name`, else the spec's, else the spec file's stem, else
    `default_name(kind, spec)`, with `-by-<key>` for each --set-grid key in `grid`."""
    schema = schema_of(kind)
    user = relative_to(schema, load_yaml(spec_file), Path(spec_file).parent) if spec_file else {}
    unknown = [key for key in user if key not in schema]
    if spec_file and "kind" not in user and unknown and not any(difflib.get_close_matches(k, schema) for k in unknown):
        with contextlib.suppress(InputError):  # another kind's spec (`pgcli estimate cartpole`), not a typo
            user = {"kind": infer_kind(user, spec_file), **user}  # (no one kind fits: resolve says which key is wrong)
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
    _one_seed_rule(user, seed, [parse_assignment(text)[0] for text in sets])
    spec = resolve(schema, user)
    grid_keys = [grid_key(text) for text in grid]
    spec["name"] = name or spec["name"] or (Path(spec_file).stem if spec_file else default_name(kind, spec, grid_keys))
    if problem := name_problem(spec["name"]):
        raise SpecError("--name" if name else "name", problem)
    return spec


NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+=-]{0,99}")


def name_problem(name: str) -> str | None:
    """Why a results name is not a safe folder name on every platform (letters, digits, and . _ + = -,
    starting with a letter or digit, at most 100 characters, not ending in '.'), or None."""
    if NAME.fullmatch(name) and not name.endswith(".") and ".." not in name:
        return None
    return (f"{name[:60]!r} is not a safe folder name: use letters, digits and . _ + = - (starting with a letter "
            "or digit, at most 100 characters)")  # fmt: skip


def _one_seed_rule(user: dict, seed, set_keys: list[str]) -> None:
    """A seed typed on the command line (--seed S, --set seed=S) is the one run's seed: the spec's
    sweep over seeds is dropped; with --set sweep.seeds=N as well, it is bad input."""
    if seed is None and "seed" not in set_keys:
        return
    if any(key.startswith("sweep.seeds") for key in set_keys):
        raise SpecError("seed", "give --seed/--set seed=S (one run) or --set sweep.seeds=N (a sweep), not both")
    if user.get("sweep") is None:  # absent, or an empty `sweep:`
        user["sweep"] = {}
    if isinstance(user["sweep"], dict):  # anything else is refused by resolve
        user["sweep"]["seeds"] = None


def schema_of(kind: str) -> dict:
    """A kind's whole spec schema: its record's keys plus kind, name, seed, sweep and expect."""
    return with_sweep(kinds.schema(kinds.get(kind)))


def default_name(kind: str, spec: dict, grid_keys=()) -> str:
    """The results name of a spec given by flags alone, <kind>-<what it is about> (the kind's
    `subject`: its distribution and f, env id and algorithm, or optimize's problem), lower case,
    any character a folder name should not hold as '-' (`train-corridor-corridor-reinforce` for
    env.id corridor:Corridor). A --set-grid key reads `by-<key>`: in place of its value where the
    subject names it (`estimate-by-dist-step`), else at the end (`estimate-gaussian-step-by-n`)."""
    subject, tail = kinds.get(kind).subject, ""
    for key in grid_keys:
        word, placed = f"by-{plan.short_keys([key])[key]}", dict(spec)
        with contextlib.suppress(KeyError, TypeError):
            if isinstance(get_dotted(spec, key), str):
                placed = copy.deepcopy(spec)
                set_dotted(placed, key, word)
        if subject(placed) != subject(spec):
            spec = placed
        else:
            tail += f"-{word}"
    text = re.sub(r"[^a-z0-9._+=-]+", "-", f"{kind}-{subject(spec)}{tail}".lower())
    return text[:100].strip("-.") or kind


class Trust(NamedTuple):
    """Where the user code a spec names may be (pgcli.base.usercode): `directories` for every
    reference (the spec file's own, --trust DIR), and `typed_directories` (the working directory)
    for a reference found in `typed`, the text the user typed (command-line values; the API)."""

    directories: tuple[str, ...] = ()
    typed: tuple[str, ...] = ()
    typed_directories: tuple[str, ...] = ()

    def roots(self, reference: str) -> list[str]:
        """The directories a reference may be found in."""
        typed = any(reference in text for text in self.typed)
        return [*self.directories, *(self.typed_directories if typed else ())]


def trust(spec_file=None, trusted=(), typed=()) -> Trust:
    """The Trust of an invocation: the spec file's directory and the --trust directories for
    everything; the working directory for what the user typed (`typed`, texts of any shape)."""
    directories = ((str(Path(spec_file).parent),) if spec_file else ()) + tuple(map(str, trusted))
    return Trust(directories, tuple(_texts(typed)), (os.getcwd(),))


def _texts(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _texts(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _texts(item)


def user_modules(kind: str, trust_: Trust):
    """(run spec) -> the user modules it names, each found in a directory `trust_` allows, or a
    SpecError at the key naming it. Reads the file system only: nothing is imported."""
    schema = kinds.schema(kinds.get(kind))

    def modules_of(run_spec: dict) -> tuple[usercode.Module, ...]:
        found: dict[str, usercode.Module] = {}
        for path, reference in references(schema, run_spec):
            try:
                module = usercode.locate(reference, trust_.roots(reference))
            except usercode.UserCodeError as err:
                raise SpecError(path, str(err)) from None
            if found.setdefault(module.name, module).root != module.root:
                raise SpecError(path, f"module {module.name!r} is in two directories: {found[module.name].root}, "
                                      f"{module.root}")  # fmt: skip
        return tuple(found.values())

    return modules_of


def plan_runs(kind: str, spec: dict, root: str | Path, grid=(), trust_: Trust | None = None, imports: bool = True):
    """The runs of a resolved spec under root/<name>/, with the user modules each names (found in
    trusted directories), each run validated by its kind. Validating a run that names your code
    imports and calls it (a probe of f, the env's constructor): that happens in a worker process
    (executors.validate_apart), so nothing it does reaches this one. With `imports` False
    (--print-spec) nothing is imported, and such a run is checked up to its modules only."""
    modules_of = user_modules(kind, trust_ or Trust())
    runs = plan.runs(kind, schema_of(kind), spec, root, grid, modules_of)
    record = kinds.get(kind)
    for run in runs:
        if not run.modules:
            record.validate(run.spec)
    apart = [run for run in runs if run.modules]
    if imports and apart:
        modules = {module.name: module for run in apart for module in run.modules}.values()
        problem = executors.validate_apart(kind, [run.spec for run in apart], modules)
        if problem:
            raise SpecError("", problem[0], extra=problem[1])
    return runs


def summary_directory(kind: str, spec: dict, runs: list, spec_file, execution: Execution) -> Path:
    """Where this invocation's runs.csv and combined table go: results/<name>/ for the spec file
    as written (or for flags alone), else results/<name>/sweeps/<sweep_id>/ — so a --set or
    --set-grid variation never overwrites the spec's own summary, and each one is findable."""
    base = Path(execution.results) / spec["name"]
    if spec_file is None:
        return base
    run_ids = [run.run_id for run in runs]
    own = build_spec(kind, spec_file, {}, [], None, spec["name"])
    try:
        own_runs = plan_runs(kind, own, execution.results, trust_=trust(spec_file, execution.trust), imports=False)
    except SpecError:  # the file as written names code only the command line's values may: not these runs
        own_runs = []
    return base if run_ids == [run.run_id for run in own_runs] else base / "sweeps" / plan.sweep_id(run_ids)


def identity(kind: str, runs: list, spec_file) -> results.Identity:
    """Which experiment this is (results.Identity): its spec file, else its runs with the seed
    left out (so another --seed is the same experiment, another --n or --dist is not)."""
    if spec_file is not None:
        path = Path(spec_file).resolve()
        return results.Identity(kind, file=str(path), text=hashlib.sha256(path.read_bytes()).hexdigest()[:16])
    unseeded = sorted({plan.run_id(kind, {**run.spec, "seed": 0}, run.modules) for run in runs})
    return results.Identity(kind, runs=plan.sweep_id(unseeded), command=described(kind, runs)[:300])


def described(kind: str, runs: list) -> str:
    """A flags-only experiment in words: the kind, the keys its first run sets away from the
    defaults, and the keys its runs vary (`estimate n=[10] reps=5, over dist`)."""
    defaults = leaves(resolve(schema_of(kind), {}), "")
    skip = {*UNHASHED, "seed", "kind"}
    changed = [
        f"{key[1:]}={plan.value_text(value)}"
        for key, value in leaves(runs[0].spec, "").items()
        if key[1:].split(".")[0] not in skip and defaults.get(key) != value
    ]
    varying = [key for key in runs[0].varying if key != "seed"]
    return " ".join([kind, *changed]) + (f", over {', '.join(varying)}" if varying else "")


def infer_kind(raw: dict, path) -> str:
    """A spec's kind: its `kind:` key, else the one kind whose schema has every key it uses."""
    if raw.get("kind"):
        if raw["kind"] not in kinds.REGISTRY:
            raise InputError(f"{path}: kind: unknown value {raw['kind']!r}; allowed: {', '.join(kinds.names())}")
        return raw["kind"]
    fits = [name for name in kinds.names() if set(raw) <= set(schema_of(name))]
    if len(fits) == 1:
        return fits[0]
    could = ", ".join(fits or kinds.names())
    raise InputError(f"{path}: cannot tell the experiment kind; add kind: ({could})")


# ---------------------------------------------------------------------------------------------
# running


def refuse_collision(kind: str, spec: dict, runs: list, spec_file, root) -> tuple[Path, results.Identity]:
    """results/<name>/ and this experiment's identity; InputError (naming --name) when the
    directory holds another experiment. Claim it with results.claim before writing there."""
    base, this = Path(root) / spec["name"], identity(kind, runs, spec_file)
    other = results.held(base)
    if other is not None and not other.same(this):
        bundled = spec_file and Path(spec_file).parent == pgcli.library.directory()
        where = f" (or name: in {spec_file})" if spec_file and not bundled else ""
        raise InputError(
            f"{base}/ holds another experiment, from {other.describe()}; give this one its own name: --name NAME{where}"
        )
    return base, this


def run(kind: str, spec: dict, runs: list, execution: Execution, out=None, spec_file=None) -> Outcome:
    """Run the planned, validated `runs` of `spec` (what is not finished) and aggregate them.

    Every output is checked writable first (runs.csv, `out`, the status of each run to compute);
    a Dask client is opened for `--executor dask` and closed (with its LocalCluster) however the
    runs end. `out`, when given, receives a copy of the combined table."""
    directory = summary_directory(kind, spec, runs, spec_file, execution)
    base, this = refuse_collision(kind, spec, runs, spec_file, execution.results)
    rerun = [Path(r.directory) / "status" for r in runs if execution.force or results.finished(r) is None]
    inside = [base / results.MARKER, directory / "runs.csv", directory / kinds.get(kind).table, *rerun]
    for target in inside:
        if problem := atomic.link_problem(target, execution.results):
            raise InputError(problem)
    for target in [*inside, out]:
        problem = target and atomic.check_writable(target)
        if problem:
            raise InputError(problem)
    client = None
    if execution.executor == "dask":
        client = executors.dask_client(execution.scheduler, runs=runs, allow_mixed=execution.allow_mixed)
    elif execution.scheduler is not None:
        raise InputError("--scheduler needs --executor dask")
    try:
        results.claim(base, this)  # once the scheduler is reached: bad input writes nothing
        outcomes = _run_with_progress(runs, execution, client)
    finally:
        if client is not None:
            client.close()
            if not execution.scheduler and client.cluster is not None:
                client.cluster.close()
    summary, combined = results.aggregate(runs, outcomes, directory)
    if out and combined.is_file():
        atomic.write_bytes(out, combined.read_bytes())
    return Outcome(spec, runs, outcomes, summary, combined, directory)


def show_bars(execution: Execution) -> bool:
    """Bars on a terminal; off in a pipe or a CI log unless --progress; never with -q."""
    return not execution.quiet and (execution.progress or sys.stderr.isatty())


def _run_with_progress(runs, execution: Execution, client) -> list[dict]:
    """Run them with one bar (pgcli.shell.bars) over the runs to compute, saying first how many
    were already done (resumed)."""
    skip = execution.resume and not execution.force
    todo = [i for i, run in enumerate(runs) if not (skip and results.finished(run))]
    if len(todo) < len(runs) and not execution.quiet:
        left = f"computing the other {len(todo)}" if todo else "nothing to compute"
        print(f"{len(runs) - len(todo)} of {len(runs)} runs already done; {left}", file=sys.stderr)
    bar = bars.sweep_bar(runs, todo) if show_bars(execution) else bars.NO_BAR
    try:
        return runner.run_all(
            runs,
            jobs=execution.jobs,
            client=client,
            resume=execution.resume,
            force=execution.force,
            on_result=bar.finished,
            progress=bar.report,
            allow_mixed=execution.allow_mixed,
        )
    finally:
        bar.close()


def notes(results: list) -> list[str]:
    """The runs' notes, each once, in order of first appearance."""
    seen = []
    for result in results:
        for note in (result or {}).get("notes", []) or []:
            if note not in seen:
                seen.append(note)
    return seen


def not_done(outcome: Outcome) -> str:
    """The runs that are not done, with their messages ('' when every run is done)."""
    bad = [row for row in outcome.summary.rows if row["status"] != "done"]
    if not bad:
        return ""
    bad = pd.DataFrame(bad, columns=outcome.summary.columns)
    messages = {run.run_id: _message(run, r) for run, r in zip(outcome.runs, outcome.results, strict=True)}
    shown = bad[["run_id", "label", "status"]].assign(message=bad["run_id"].map(messages))
    return f"\n{len(bad)} of {len(outcome.runs)} runs not done:\n" + shown.to_string(index=False)


def _message(run, result) -> str:
    """A run's one-line message, with where its traceback and its code's output are, if it has them."""
    message = (result or {}).get("message", "")
    kept = [Path(run.directory) / name for name in ("error.txt", "output.txt")]
    kept = [str(path) for path in kept if path.is_file()]
    return message + (f" (see {', '.join(kept)})" if kept else "")


def shown(outcome: Outcome, options: dict) -> kinds.Shown:
    """What a kind's command prints from (kinds.Shown): the combined table is read when asked for."""

    def table():
        return results.read_csv(outcome.combined) if outcome.combined.is_file() else None

    return kinds.Shown(outcome.spec, outcome.summary, table, len(outcome.runs), options)


# ---------------------------------------------------------------------------------------------
# tools: what a kind's runs offer another command (fisher --policy)


class ToolRun(NamedTuple):
    """The run a tool works on: its resolved spec, its files (empty if it is not done), its
    directory, and a note when it was picked from a sweep."""

    spec: dict
    files: dict
    directory: Path
    note: str


def tool_run(kind: str, path: Path, sets, seed, name, execution: Execution) -> ToolRun:
    """A run of `kind` for a tool: a run directory as recorded, or a spec file's run (a sweep's first,
    or the one --seed picks; its files if it is done). Its user modules are found in trusted
    directories (a run directory's: --trust only) and admitted, and its spec validated."""
    if path.is_dir():
        try:
            found = results.load_run(path)
        except ValueError as err:
            raise InputError(str(err)) from None
        if found.kind != kind:
            raise InputError(f"{path} holds a {found.kind} run, not a {kind} run")
        chosen = ToolRun(found.spec, found.files, path, "")
        usercode.allow(user_modules(kind, trust(None, execution.trust))(found.spec))
    elif path.is_file():
        spec = build_spec(kind, str(path), {}, sets, seed, name)
        runs = plan_runs(kind, spec, execution.results, execution.grid, trust(path, execution.trust, sets), False)
        note = ""
        if len(runs) > 1:
            note = f"{path} is a sweep of {len(runs)} runs; using its first, {runs[0].label} (--seed S picks one)"
        found = results.verified(runs[0])
        chosen = ToolRun(runs[0].spec, found.files if found else {}, Path(runs[0].directory), note)
        usercode.allow(runs[0].modules)
    else:
        raise InputError(f"no such run directory or spec file: {path}")
    kinds.get(kind).validate(chosen.spec)
    return chosen


def run_tool(tool: kinds.Tool, chosen: ToolRun, options: dict, out=None) -> tuple[Path, str]:
    """Run a tool on a run and write its table to `out` (default: the run directory's tool.table);
    returns (the table's path, the tool's lines)."""
    target = Path(out) if out else chosen.directory / tool.table
    problem = atomic.check_writable(target)
    if problem:
        raise InputError(problem)
    table, lines = tool.run(chosen.spec, chosen.files, {**options, "run_dir": chosen.directory})
    atomic.write_csv(target, table)
    return target, lines
