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

import pandas as pd

from pgcli.kinds import KINDS
from pgcli.shell import expect, runner
from pgcli.shell.experiment import Execution, InputError, build_spec, infer_kind, plan_runs, run, trust
from pgcli.shell.spec import SpecError, load_yaml, resolve, with_sweep

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


def read_runs_table(path: Path) -> pd.DataFrame:
    """runs.csv of a summary directory (bad input if it is not a readable CSV with run_id)."""
    try:
        table = pd.read_csv(path, dtype=str)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as err:
        raise InputError(f"{path} is not a readable CSV: {str(err).splitlines()[0][:80]}") from None
    if "run_id" not in table.columns:
        raise InputError(f"{path} is not a runs.csv (no run_id column)")
    return table


def _results_directory(path: Path) -> CheckTarget:
    """A results directory, checked as it is: the spec recorded in its first run's config.yaml."""
    runs_csv = path / "runs.csv"
    if not runs_csv.is_file():
        raise InputError(f"{path} is not a results directory (no runs.csv)")
    run_ids = read_runs_table(runs_csv)["run_id"].dropna()
    config = runner.run_directory(path, str(run_ids.iloc[0])) / "config.yaml" if len(run_ids) else None
    if config is None or not config.is_file():
        raise InputError(f"{path}: runs.csv names no run directory with a config.yaml")
    config = runner.read_config(config)
    spec = resolve(with_sweep(KINDS[config["kind"]].schema), config["spec"])
    return CheckTarget(path, config["kind"], spec, None, path, "")


def _spec_file(path: Path, execution: Execution) -> CheckTarget:
    """A spec file with an `expect:` block, planned, with every expectation's columns checked."""
    kind = infer_kind(load_yaml(path), path)
    spec = build_spec(kind, str(path), {}, [], None, None)
    if not spec["expect"]:
        raise InputError(f"{path} has no expect: block")
    runs = plan_runs(kind, spec, execution.results, trust_=trust(path, execution.trust))
    table_columns, runs_columns = KINDS[kind].columns(runs[0].spec)
    keys = list(runner.short_keys(runs[0].varying).values())
    planned = {"n_samples": {float(n) for run in runs for n in run.spec["n"]}} if kind in ("estimate", "fisher") else {}
    for i, item in enumerate(spec["expect"]):
        try:
            expect.check_columns(item, ["run_id", *keys, *table_columns], [*runner.RUNS_COLUMNS, *keys, *runs_columns],
                                 planned)  # fmt: skip
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
        spec = {"name": path.stem, "expect": []}
        with contextlib.suppress(SpecError):
            spec = build_spec(infer_kind(load_yaml(path), path), str(path), {}, [], None, None)
        return CheckTarget(path, "train", spec, None, Path(execution.results) / spec["name"], str(err))


def results_of(target: CheckTarget, run_missing: bool, execution: Execution) -> tuple[str, list[tuple[str, str]]]:
    """Bring a spec's results up to date (run what is missing when `run_missing`); returns why there
    are no results to check ('' when there are) and the (label, message) of every run that failed."""
    runs = target.runs
    if runs is None:
        return "", []
    finished = [runner.is_finished(r) for r in runs]
    if not all(finished) and not run_missing:
        left = finished.count(False)
        return f"{left} of {len(runs)} runs of {target.path} have no results {NO_RUN}", []
    if all(finished):
        runner.aggregate(runs, [None] * len(runs), target.results_dir)
        return "", []
    outcome = run(target.kind, target.spec, runs, execution, spec_file=str(target.path))
    failed = [(run.label, (r or {}).get("message", "")) for run, r in zip(runs, outcome.results, strict=True)
              if (r or {}).get("status") == "failed"]  # fmt: skip
    return (f"run {failed[0][0]} failed: {failed[0][1]}" if failed else ""), failed


def _evaluate(item, runs_table, table, minimize) -> tuple[float | str, bool, str]:
    """(measured, passed, message) of one expectation."""
    try:
        measured, passed = expect.evaluate(item, runs_table, table, minimize)
        rhs = expect.reference(item, runs_table, table, minimize)
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
    table_path = target.results_dir / KINDS[target.kind].table
    runs_path = target.results_dir / "runs.csv"
    have = table_path.is_file() and runs_path.is_file() and not why.endswith(NO_RUN)
    runs_table = pd.read_csv(runs_path) if have else None
    kind_table = pd.read_csv(table_path) if have else None
    found = []
    for i, item in enumerate(spec["expect"] or []):
        text, source = expect.describe(item), str(item.get("source", ""))
        if not have:
            found.append(
                expect.Case(spec["name"], text, source, "", False, why or f"no results in {target.results_dir}")
            )
            continue
        try:
            measured, passed, message = _evaluate(item, runs_table, kind_table, bool(spec.get("minimize")))
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


def tally(shown: pd.DataFrame) -> tuple[int, int, int]:
    """(counted, failed, skipped) expectations of a report; skipped ones are not counted."""
    failed = int((shown["passed"] == False).sum())  # noqa: E712 - None means skipped
    skipped = int(shown["passed"].isna().sum())
    return len(shown) - skipped, failed, skipped
