"""Your code is contained: whatever a function a spec names does — exits, kills its process, prints,
closes stdout, raises BaseException, hangs — a run that did not finish is never reported as done,
pgcli's exit code is never 0 for it, and its output goes to the run's files, not to pgcli's.

Runs that name your code compute in a process of their own (pgcli.shell.executors.contained), and
the checks before them (f probed on 4 samples) run in one too (executors.validate_apart).
"""

import os
import signal
import sys
import textwrap
import time
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


def unprintable(x):
    if x.shape[0] > 4:

        class Unprintable(Exception):
            def __str__(self):
                raise RuntimeError("no message for you")

        raise Unprintable()
    return x


def exits_in_its_message(x):
    if x.shape[0] > 4:

        class Exits(Exception):
            def __str__(self):
                sys.exit(0)

        raise Exits()
    return x


def interrupts(x):
    if x.shape[0] > 4:
        raise KeyboardInterrupt
    return x


def ignores_sigterm(x):
    if x.shape[0] > 4:
        import signal

        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        with open(os.path.join(os.path.dirname(__file__), "sleeper.pid"), "w") as fh:
            fh.write(str(os.getpid()))
        time.sleep(600)
    return x


def probe_sleeps(x):
    if x.shape[0] <= 4:
        time.sleep(20)
    return x
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


def test_an_exception_whose_message_raises_fails_its_run_in_one_line(lab, tmp_path):
    """str(err) of your exception is your code too: it cannot turn a failed run into a traceback."""
    result = lab("unprintable")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert "Unprintable: <its message could not be read: RuntimeError>" in result.stderr
    assert runs_of(tmp_path, "unprintable")["status"].tolist() == ["failed"]


def test_an_exception_whose_message_exits_fails_its_run_and_pgcli_exits_1(lab, tmp_path):
    """sys.exit(0) in str(err) of your exception: the run failed, pgcli's exit is 1, never 0."""
    result = lab("exits_in_its_message")
    assert result.exit_code == 1, result.output
    assert "Exits: <its message could not be read: SystemExit>" in result.stderr
    assert runs_of(tmp_path, "exits_in_its_message")["status"].tolist() == ["failed"]


def test_a_keyboard_interrupt_raised_by_your_code_fails_its_run_not_pgcli(lab, tmp_path):
    """Workers ignore Ctrl-C (it is pgcli's), so a KeyboardInterrupt there is your code's: exit 1, not 130."""
    result = lab("interrupts")
    assert result.exit_code == 1, result.output
    assert "KeyboardInterrupt" in result.stderr and "Aborted" not in result.output
    assert runs_of(tmp_path, "interrupts")["status"].tolist() == ["failed"]


def test_a_lost_worker_names_the_module_it_ran(lab, tmp_path):
    result = lab("kills_0")
    assert result.exit_code == 1, result.output
    assert "worker lost" in result.stderr and str(tmp_path / "mine.py") in result.stderr, result.stderr


def _alive(pid: int) -> bool:
    """Whether a process runs (a zombie, ended and not yet reaped, does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_timeout_stops_a_run_that_ignores_sigterm(lab, tmp_path):
    """The timed-out worker is killed (SIGKILL), not asked to stop: SIGTERM your code can ignore, and
    pgcli then never exits (its pool waits for the worker)."""
    result = lab("ignores_sigterm", "--set", "timeout=2")
    pid = int((tmp_path / "sleeper.pid").read_text())
    try:
        assert result.exit_code == 1, result.output
        assert "timed out after 2 s" in result.stderr
        for _ in range(100):  # SIGKILL is immediate; allow the kernel a moment to end it
            if not _alive(pid):
                break
            time.sleep(0.1)
        assert not _alive(pid), "the worker that ignores SIGTERM still runs"
    finally:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_a_timeout_bounds_the_check_of_your_code_too(lab, tmp_path):
    """With a timeout, a function that hangs when it is probed before the run is bad input once the
    timeout has passed (before: the check waited 20 s, then the run was done)."""
    result = lab("probe_sleeps", "--set", "timeout=2")
    assert_bad_input(
        result, "took longer than the spec's timeout (2 s, and 5 s to start", "mine.py", nothing_in=tmp_path / "results"
    )


def test_a_keyboard_interrupt_while_your_module_is_imported_is_bad_input(tmp_path):
    (tmp_path / "interrupting.py").write_text("raise KeyboardInterrupt\n\n\ndef f(x):\n    return x\n")
    spec = tmp_path / "s.yaml"
    spec.write_text("kind: estimate\nf: interrupting:f\nn: 8\nreps: 1\nestimators: [score]\n")
    result = invoke("estimate", spec, "--results", tmp_path / "results")
    assert_bad_input(result, "KeyboardInterrupt", "interrupting.py", nothing_in=tmp_path / "results")
