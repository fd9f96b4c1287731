"""Your code is contained: whatever a function a spec names does — exits, kills its process, prints,
closes stdout, raises BaseException, hangs — a run that did not finish is never reported as done,
pgcli's exit code is never 0 for it, and its output goes to the run's files, not to pgcli's.

Runs that name your code compute in a process of their own (pgcli.shell.executors.contained), and
the checks before them (f probed on 4 samples) run in one too (executors.validate_apart).
"""

import textwrap
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers import assert_bad_input, invoke

# each function misbehaves only on the run's own samples (n = 8), not on the 4 samples of the probe
MODULE = """
import os
import sys
import time


def ok(x):
    return x


def exits_0(x):
    if x.shape[0] > 4:
        sys.exit(0)
    return x


def exits_3(x):
    if x.shape[0] > 4:
        sys.exit(3)
    return x


def kills_0(x):
    if x.shape[0] > 4:
        os._exit(0)
    return x


def kills_7(x):
    if x.shape[0] > 4:
        os._exit(7)
    return x


def generator_exit(x):
    if x.shape[0] > 4:
        raise GeneratorExit("out of here")
    return x


def base_exception(x):
    if x.shape[0] > 4:
        raise BaseException("the very base")
    return x


def prints(x):
    print("hello from f", flush=True)
    os.write(1, b"and straight to fd 1\\n")
    print("to stderr", file=sys.stderr)
    return x


def closes_stdout(x):
    if x.shape[0] > 4:
        sys.stdout.close()
    return x


def sleeps(x):
    if x.shape[0] > 4:
        time.sleep(600)
    return x


def probe_kills(x):
    os._exit(0)
"""


@pytest.fixture
def lab(tmp_path):
    """A module beside a spec directory; run(f, *extra) runs `estimate` on f:N."""
    (tmp_path / "mine.py").write_text(textwrap.dedent(MODULE))

    def run(name, *extra):
        spec = tmp_path / f"{name}.yaml"
        spec.write_text(f"kind: estimate\nf: ['mine:{name}']\nn: [8]\nreps: 1\nestimators: [score]\n")
        return invoke("estimate", spec, "--results", tmp_path / "results", *extra)

    return run


def runs_of(tmp_path: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(tmp_path / "results" / name / "runs.csv")


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("exits_0", "SystemExit: 0"),
        ("exits_3", "SystemExit: 3"),
        ("generator_exit", "GeneratorExit: out of here"),
        ("base_exception", "BaseException: the very base"),
        ("kills_0", "worker lost"),
        ("kills_7", "worker lost"),
    ],
)
@pytest.mark.slow
def test_a_function_that_exits_or_dies_fails_its_run_and_pgcli_exits_1(lab, tmp_path, name, fragment):
    result = lab(name)
    assert result.exit_code == 1, result.output
    assert runs_of(tmp_path, name)["status"].tolist() == ["failed"]
    assert fragment in result.stderr and "Traceback" not in result.output
    assert "wrote" not in result.stdout


def test_the_failure_names_the_module_and_where_the_traceback_is(lab, tmp_path):
    result = lab("exits_3")
    assert "mine.py" in result.stderr and "error.txt" in result.stderr, result.stderr
    (error,) = (tmp_path / "results" / "exits_3").glob("*/error.txt")
    assert "SystemExit: 3" in error.read_text()


def test_what_a_function_prints_goes_to_the_runs_output_not_pgclis(lab, tmp_path):
    result = lab("prints")
    assert result.exit_code == 0, result.output
    assert "hello from f" not in result.output and "to stderr" not in result.output
    (output,) = (tmp_path / "results" / "prints").glob("*/output.txt")
    text = output.read_text()
    assert "hello from f" in text and "and straight to fd 1" in text and "to stderr" in text


def test_a_function_that_closes_stdout_does_not_silence_pgcli(lab, tmp_path):
    result = lab("closes_stdout")
    assert result.exit_code == 0, result.output
    assert "wrote" in result.stdout and "score" in result.stdout


@pytest.mark.slow
def test_a_timeout_stops_a_run_that_hangs(lab, tmp_path):
    result = lab("sleeps", "--set", "timeout=3")
    assert result.exit_code == 1, result.output
    assert "timed out after 3 s" in result.stderr
    assert runs_of(tmp_path, "sleeps")["status"].tolist() == ["failed"]


def test_a_function_that_kills_the_process_while_it_is_checked_is_bad_input(lab, tmp_path):
    result = lab("probe_kills")
    assert_bad_input(result, "ended pgcli's process while it checked the spec", nothing_in=tmp_path / "results")


def test_a_run_without_user_code_still_runs_in_this_process(tmp_path, monkeypatch):
    """Only runs that name your code (or have a timeout) pay for a process of their own."""
    from pgcli.shell import executors

    started = []
    monkeypatch.setattr(executors, "processes", lambda *a, **k: started.append(a) or iter(()))
    result = invoke("estimate", "--f", "step", "--n", "10", "--reps", "2", "--results", tmp_path, "-q")
    assert result.exit_code == 0 and started == []
