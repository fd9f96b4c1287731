"""Output for people: defaults that apply (no notes about estimators nobody asked for), long
tables cut to fit a terminal with one line saying where all of it is, sweeps shown whole (and
ranked), and check within 100 columns."""

from __future__ import annotations

import re
import subprocess
import sys

import pandas as pd
import pytest

from tests.helpers import invoke, written
from tests.terminal import run_in_pty

LONG = ["estimate", "--n", "10,20", "--reps", "5"]  # every estimator that applies: > 40 rows
PGCLI = [sys.executable, "-m", "pgcli"]


def table_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if re.match(r"\s*step\s", line)]


@pytest.mark.slow
def test_a_long_table_is_cut_to_fit_a_terminal_and_says_where_the_rest_is(tmp_path):
    code, out = run_in_pty([*PGCLI, *LONG], tmp_path, rows=30)
    assert code == 0, out
    out = out.replace("\r", "")
    shown = table_rows(out)
    whole = pd.read_csv(tmp_path / "results" / "estimate-gaussian-step" / "estimate.csv")
    assert 10 <= len(shown) < 30 < len(whole)
    (more,) = [line for line in out.splitlines() if "more rows" in line]
    assert more == (
        f"… {len(whole) - len(shown)} more rows: all of them are in "
        "results/estimate-gaussian-step/estimate.csv; --full prints them here"
    )
    code, out = run_in_pty([*PGCLI, *LONG, "--full"], tmp_path, rows=30)
    assert code == 0 and len(table_rows(out)) == len(whole) and "more rows" not in out


@pytest.mark.slow
def test_a_pipe_gets_the_whole_table(tmp_path):
    piped = subprocess.run([*PGCLI, *LONG], cwd=tmp_path, capture_output=True, text=True, env={"LINES": "30"})
    assert piped.returncode == 0, piped.stderr
    whole = pd.read_csv(tmp_path / "results" / "estimate-gaussian-step" / "estimate.csv")
    assert len(table_rows(piped.stdout)) == len(whole) and "more rows" not in piped.stdout


def test_default_estimators_are_those_that_apply_and_a_named_one_that_does_not_gets_a_note(tmp_path):
    """Before, every gaussian estimate printed notes about the binary-only estimators."""
    result = invoke(*LONG, "--results", tmp_path)
    assert result.exit_code == 0 and "note:" not in result.output, result.output
    assert {"score", "pathwise"} <= set(pd.read_csv(written(result))["estimator"])
    named = invoke(*LONG, "--estimators", "score,arm", "--results", tmp_path, "--name", "named")
    assert named.exit_code == 0
    assert "note: arm skipped for gaussian" in named.stdout


def test_an_estimate_sweep_prints_its_combined_table_and_ranks_it(tmp_path):
    """Before, a --set-grid sweep printed no table and dropped --rank."""
    args = ["estimate", "--n", "20", "--reps", "10", "--estimators", "score,score_loo", "--results", tmp_path]
    result = invoke(*args, "--set-grid", "dist=exponential,gamma")
    assert result.exit_code == 0, result.output
    head, *rows = result.stdout.splitlines()[:-1]
    assert head.split()[:3] == ["dist", "theta", "f"]
    assert {row.split()[0] for row in rows} == {"exponential", "gamma"} and len(
        rows
    ) == 1 * 2 + 2 * 2  # exponential: rate; gamma: shape, rate
    ranked = invoke(*args, "--set", "sweep.seeds=2", "--rank")
    assert ranked.exit_code == 0, ranked.output
    lines = ranked.stdout.splitlines()
    assert lines[0].startswith("estimators ranked") and lines[1].split()[:2] == ["seed", "rank"]
    assert [line.split()[:2] for line in lines[2:6]] == [["0", "1"], ["0", "2"], ["1", "1"], ["1", "2"]]


def test_check_fits_100_columns(tmp_path):
    spec = tmp_path / "lab.yaml"
    spec.write_text(
        "kind: estimate\nname: lab\nestimators: [score]\nn: [10]\nreps: 20\nexpect:\n"
        "  - {metric: bias, agg: max_abs_z, '<=': 4, source: 'a source long enough to need more than one "
        "line of its own when it is shown beside what it supports, which --sources does'}\n"
        "  - {name: an expectation whose name says at length exactly what it checks and why it matters to "
        "anyone reading, metric: bias, agg: max_abs_z, '<=': 4}\n"
    )
    for extra in ([], ["--sources"]):
        result = invoke("check", spec, "--results", tmp_path / "r", *extra)
        assert result.exit_code == 0, result.output
        lines = result.stdout.splitlines()
        assert max(map(len, lines)) <= 100, lines
        assert (
            lines[0] == "lab"
            and lines[1].startswith("  PASS  max_abs_z bias <= 4")
            and lines[-1] == "2 of 2 expectations pass"
        )
        assert ("which --sources does" in result.stdout) == bool(extra)
