"""`pgcli check`: specs' `expect:` blocks checked against their results.

Every argument is validated first (`target`: its spec, planned runs and expectations, or a results
directory as it is); then each spec's results are brought up to date (`results_of`: what is missing
is run, unless --no-run) and each expectation evaluated (`cases`). A case is one row of the report:
(spec, expectation, source, measured, passed, message), passed None when skipped. Nothing here
prints; bad input raises InputError or SpecError with a one-line message.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import NamedTuple

from pgcli import kinds
from pgcli.base import lazy
from pgcli.shell import expect, plan, results
from pgcli.shell.experiment import (
    Execution,
    InputError,
    build_spec,
    infer_kind,
    plan_runs,
    refuse_collision,
    run,
    schema_of,
    trust,
)
from pgcli.shell.spec import SpecError, load_yaml, resolve

pd = lazy.module("pandas")

CASE_COLUMNS = list(expect.Case._fields)
NO_RUN = "(run without --no-run)"  # ends the reason of a spec whose runs are missing under --no-run


class CheckTarget(NamedTuple):
    """One argument of `pgcli check`, validated: its spec, planned runs and where results are."""

    path: Path
    kind: str
    spec: dict
    runs: list | None  # the spec's runs; None for a results directory (checked as it is)
    results_dir: Path
    skipped: str  # why it is not checked (a missing optional extra), or ""


def _results_directory(path: Path) -> CheckTarget:
    """A results directory, checked as it is: the spec recorded in its first run's config.yaml."""
    if not (path / "runs.csv").is_file():
        raise InputError(f"{path} is not a results directory (no runs.csv)")
    try:
        config = results.first_config(path, results.read_runs(path / "runs.csv"))
    except results.ResultsError as err:
        raise InputError(str(err)) from None
    spec = resolve(schema_of(config["kind"]), config["spec"])
    return CheckTarget(path, config["kind"], spec, None, path, "")


def _spec_file(path: Path, execution: Execution) -> CheckTarget:
    """A spec file with an `expect:` block, planned, with every expectation's columns checked."""
    kind = infer_kind(load_yaml(path), path)
    spec = build_spec(kind, str(path), {}, [], None, None)
    if not spec["expect"]:
        raise InputError(f"{path} has no expect: block")
    runs = plan_runs(kind, spec, execution.results, trust_=trust(path, execution.trust))
    record = kinds.get(kind)
    table_columns, runs_columns = record.columns(runs[0].spec), record.summary_columns(runs[0].spec)
    keys = list(plan.short_keys(runs[0].varying).values())
    planned: dict[str, set] = {}
    for run_ in runs:
        for column, values in record.planned(run_.spec).items():
            planned.setdefault(column, set()).update(values)
    target = record.target.metric_for(runs[0].spec) if record.target else None
    for i, item in enumerate(spec["expect"]):
        try:
            expect.check_columns(item, ["run_id", *keys, *table_columns], [*results.RUNS_COLUMNS, *keys, *runs_columns],
                                 planned, target)  # fmt: skip
        except expect.ExpectError as err:
            raise InputError(f"{path}: expect[{i}]: {err}") from None
    return CheckTarget(path, kind, spec, runs, Path(execution.results) / spec["name"], "")


def target(path: Path, execution: Execution) -> CheckTarget:
    """Everything about one check argument that can be known before anything runs; a spec whose
    environment needs an optional extra that is not installed is skipped (with the install
    command), not bad input."""
    try:
        if path.is_dir():
            return _results_directory(path)
        if not path.is_file():
            raise InputError(f"no such spec file or results directory: {path}")
        return _spec_file(path, execution)
    except (SpecError, InputError) as err:
        if not getattr(err, "extra", ""):
            raise
        kind = infer_kind(load_yaml(path), path)  # the spec was read: its kind is known
        spec = {"name": path.stem, "expect": []}
        with contextlib.suppress(SpecError):
            spec = build_spec(kind, str(path), {}, [], None, None)
        return CheckTarget(path, kind, spec, None, Path(execution.results) / spec["name"], str(err))


def results_of(target: CheckTarget, run_missing: bool, execution: Execution) -> tuple[str, list[tuple[str, str]]]:
    """Bring a spec's results up to date (run what is missing when `run_missing`); returns why there
    are no results to check ('' when there are) and the (label, message) of every run that failed."""
    runs = target.runs
    if runs is None:
        return "", []
    finished = [results.finished(r) is not None for r in runs]
    if not all(finished) and not run_missing:
        left = finished.count(False)
        return f"{left} of {len(runs)} runs of {target.path} have no results {NO_RUN}", []
    if all(finished):
        base, this = refuse_collision(target.kind, target.spec, runs, str(target.path), execution.results)
        results.claim(base, this)
        results.aggregate(runs, [None] * len(runs), target.results_dir)
        return "", []
    outcome = run(target.kind, target.spec, runs, execution, spec_file=str(target.path))
    failed = [(run.label, (r or {}).get("message", "")) for run, r in zip(runs, outcome.results, strict=True)
              if (r or {}).get("status") == "failed"]  # fmt: skip
    return (f"run {failed[0][0]} failed: {failed[0][1]}" if failed else ""), failed


def _evaluate(item, runs_table, table, target) -> tuple[float | str, bool, str]:
    """(measured, passed, message) of one expectation."""
    try:
        measured, passed = expect.evaluate(item, runs_table, table, target)
        rhs = expect.reference(item, runs_table, table, target)
    except expect.NoData as err:
        return "", False, str(err)
    if rhs is not None:
        measured = f"{measured:.5g} vs {rhs:.5g}" if isinstance(measured, float) else f"{measured} vs {rhs:.5g}"
    return measured, passed, ""


def cases(target: CheckTarget, why: str) -> list[expect.Case]:
    """One case per expectation of `target` (one SKIP case for a skipped target); `why` is
    results_of's reason there are no results, or ''."""
    spec = target.spec
    if target.skipped:
        return [expect.Case(spec["name"], "(all expectations)", "", "", None, target.skipped)]
    record = kinds.get(target.kind)
    table_path = target.results_dir / record.table
    runs_path = target.results_dir / "runs.csv"
    have = table_path.is_file() and runs_path.is_file() and not why.endswith(NO_RUN)
    runs_table = results.read_runs(runs_path) if have else None
    kind_table = results.read_csv(table_path) if have else None
    goal = expect.Goal(record.target.metric_for(spec), record.target.minimize(spec)) if record.target else None
    found = []
    for i, item in enumerate(spec["expect"] or []):
        text, source = expect.describe(item), str(item.get("source", ""))
        if not have:
            found.append(
                expect.Case(spec["name"], text, source, "", False, why or f"no results in {target.results_dir}")
            )
            continue
        try:
            measured, passed, message = _evaluate(item, runs_table, kind_table, goal)
        except expect.ExpectError as err:
            raise InputError(f"{target.path}: expect[{i}]: {err}") from None
        found.append(expect.Case(spec["name"], text, source, measured, passed, message or (why if not passed else "")))
    return found


def table(found: list[expect.Case]) -> pd.DataFrame:
    """The cases as a table, with `measured` as text and `result` PASS, FAIL or SKIP."""
    shown = pd.DataFrame(found, columns=CASE_COLUMNS)
    shown["measured"] = shown["measured"].map(lambda v: f"{v:.5g}" if isinstance(v, float) else str(v))
    shown["result"] = shown["passed"].map({True: "PASS", False: "FAIL", None: "SKIP"})
    return shown


def lines(shown: pd.DataFrame, width: int = 100, sources: bool = False) -> list[str]:
    """The report as printed, at most `width` characters a line: each spec's name, then one line
    per expectation (PASS/FAIL/SKIP, the expectation, what was measured), with `sources` its
    source on the next line."""
    import textwrap

    measured = shown["measured"].map(lambda v: textwrap.shorten(v, 24, placeholder="…") if v else "")
    room = width - 10 - max(1, measured.map(len).max() if len(shown) else 1)
    out = []
    for spec, rows in shown.assign(measured=measured).groupby("spec", sort=False):
        out.append(spec)
        for row in rows.itertuples():
            text = textwrap.shorten(row.expectation, room, placeholder=" …")
            out.append(f"  {row.result}  {text:<{room}}  {row.measured}".rstrip())
            if sources and row.source:
                out += textwrap.wrap(row.source, width, initial_indent=" " * 8, subsequent_indent=" " * 8)
    return out


def tally(shown: pd.DataFrame) -> tuple[int, int, int]:
    """(counted, failed, skipped) expectations of a report; skipped ones are not counted."""
    failed = int((shown["passed"] == False).sum())  # noqa: E712 - None means skipped
    skipped = int(shown["passed"].isna().sum())
    return len(shown) - skipped, failed, skipped
