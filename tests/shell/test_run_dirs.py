"""Run directories under stress: corrupted finished runs, stale combined tables, a full disk,
and two sweeps sharing one results directory."""

import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from pgcli import kinds
from pgcli.shell import plan, results, runner
from pgcli.shell.experiment import build_spec, schema_of
from tests.helpers import invoke

ESTIMATE = ["estimate", "--dist", "gaussian", "--f", "step", "--n", "10,20", "--reps", "3", "--set", "sweep.seeds=3"]
WALL_CLOCK = kinds.wall_clock()


def stable(path):
    """A table without its wall-clock columns: what must be byte-identical."""
    table = pd.read_csv(path)
    return table.drop(columns=[c for c in WALL_CLOCK if c in table]).to_csv(index=False)


def estimate(root, *args):
    result = invoke(*ESTIMATE, "--name", "e", "--results", root, "-q", *args)
    return result, root / "e"


def planned(root):
    """The runs `estimate(root)` runs."""
    flags = {"dist": "gaussian", "f": ["step"], "n": "10,20", "reps": "3"}
    spec = build_spec("estimate", None, flags, ["sweep.seeds=3"], None, "e")
    return plan.runs("estimate", schema_of("estimate"), spec, root)


def is_finished(run) -> bool:
    """Whether the run is finished: its status says done and its files have the recorded digests."""
    return results.finished(run) is not None


def _truncate_rows(path):
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-1]))


def _header_only(path):
    path.write_text(path.read_text().splitlines(keepends=True)[0])


def _nan_row(path):
    header = path.read_text().splitlines()[0]
    path.write_text(path.read_text() + ",".join(["nan"] * len(header.split(","))) + "\n")


def _binary_status(path):
    (path.parent / "status").write_bytes(b"\x00\xff\xfe done \x80\n")


def _bad_wall(path):
    status = path.parent / "status"
    status.write_text(status.read_text().replace("wall_s=", "wall_s=abc"))


@pytest.mark.parametrize("corrupt", [_truncate_rows, _header_only, _nan_row, _binary_status, _bad_wall])
def test_a_corrupted_finished_run_is_rerun_not_aggregated(tmp_path, corrupt):
    result, root = estimate(tmp_path)
    assert result.exit_code == 0, result.output
    whole = stable(root / "estimate.csv")
    victim = planned(tmp_path)[1]
    corrupt(Path(victim.directory) / "estimate.csv")
    assert not is_finished(victim)
    result, _ = estimate(tmp_path)
    assert result.exit_code == 0 and "Traceback" not in result.output
    assert stable(root / "estimate.csv") == whole  # re-run, and its table is whole again
    assert is_finished(victim)


def test_aggregate_reports_a_corrupted_run_and_leaves_its_rows_out(tmp_path):
    result, root = estimate(tmp_path)
    assert result.exit_code == 0
    runs = planned(tmp_path)
    _truncate_rows(Path(runs[2].directory) / "estimate.csv")
    outcomes = [None] * len(runs)
    summary, combined = results.aggregate(runs, outcomes, root)
    assert list(summary.column("status")) == ["done", "done", "corrupted"]
    assert "do not match" in outcomes[2]["message"]
    assert list(pd.read_csv(combined)["run_id"].unique()) == [runs[0].run_id, runs[1].run_id]


def test_force_where_every_run_now_fails_leaves_no_stale_table(tmp_path, monkeypatch):
    result, root = estimate(tmp_path)
    assert result.exit_code == 0 and (root / "estimate.csv").is_file()

    def fails(spec, progress):
        raise RuntimeError("this run now fails")

    monkeypatch.setitem(kinds._LOADED, "estimate", kinds.get("estimate")._replace(run=fails))
    result, _ = estimate(tmp_path, "--force")
    assert result.exit_code == 1 and "this run now fails" in result.stderr
    assert list(pd.read_csv(root / "runs.csv")["status"]) == ["failed"] * 3
    assert not (root / "estimate.csv").exists()  # the old rows are not this sweep's


def _limit_file_size(limit):
    def preexec():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return preexec


@pytest.mark.slow
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_file_too_large_fails_the_run_with_the_reason(tmp_path, jobs):
    """`ulimit -f`: the table cannot be written; the run ends `failed` saying why, exit 1."""
    command = [sys.executable, "-m", "pgcli", "estimate", "--dist", "gaussian", "--f", "step", "--n", "10",
               "--theta", "mu=-3:3:200", "--reps", "2", "--set-grid", "h=0.01,0.02", "--name", "big",
               "--results", str(tmp_path), "-q", "--jobs", jobs]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, preexec_fn=_limit_file_size(64_000), timeout=120)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "worker lost" not in done.stderr
    assert "File too large" in done.stderr
    statuses = [p.read_text() for p in (tmp_path / "big").glob("*/status")]
    assert len(statuses) == 2 and all(s.startswith("failed\ncannot write") for s in statuses)
    assert "File too large" in statuses[0]
    assert list(pd.read_csv(tmp_path / "big" / "runs.csv")["status"]) == ["failed", "failed"]
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_full_disk_fails_the_run_with_the_reason(tmp_path, monkeypatch):
    """A write that raises ENOSPC: `failed` with the reason, exit 1, no traceback."""
    real = runner.atomic.writing

    def full(path, binary=False):
        if Path(path).name == "estimate.csv":
            raise OSError(28, "No space left on device")
        return real(path, binary)

    monkeypatch.setattr(runner.atomic, "writing", full)
    result, root = estimate(tmp_path)
    assert result.exit_code == 1
    assert "No space left on device" in result.stderr
    assert list(pd.read_csv(root / "runs.csv")["status"]) == ["failed"] * 3
    assert not (root / "estimate.csv").exists()


COUNTED = '''
import multiprocessing
import os
import time

import gymnasium as gym


def owner():
    """The process computing a run: this one (a Dask worker, or pgcli computing in itself), or the
    pgcli process that spawned this worker process (a run naming user code computes in one)."""
    parent = multiprocessing.parent_process()
    return os.getpid() if parent is None else parent.pid


class Counted(gym.Wrapper):
    """CartPole that appends 'owner seed tag' to `log` at its first seeded reset: one line per run
    computed (owner the process computing it, see owner(); the seed drawn from the run's own
    stream, `tag` whatever the spec says).

    With a `gate` (a path), a process's runs after its first `free` ones wait there, once logged,
    until the gate file exists (for at most two minutes, then fail): the test opens it when it has
    seen what it waits for, so no test depends on how fast a process starts or runs."""

    def __init__(self, log, delay=0.0, tag=None, gate=None, free=0):
        super().__init__(gym.make("CartPole-v1"))
        self.log, self.delay, self.tag, self.logged = log, delay, tag, False
        self.gate, self.free = gate, free

    def reset(self, *, seed=None, options=None):
        if seed is not None and not self.logged:
            self.logged = True
            with open(self.log, "a") as handle:
                handle.write(f"{owner()} {seed} {self.tag}\\n")
            if self.gate is not None:
                self.wait_for_gate()
        return super().reset(seed=seed, options=options)

    def wait_for_gate(self):
        with open(self.log) as handle:
            mine = sum(line.split()[0] == str(owner()) for line in handle if line.endswith("\\n"))
        deadline = time.monotonic() + 120
        while mine > self.free and not os.path.exists(self.gate):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the test never opened {self.gate}")
            time.sleep(0.005)

    def step(self, action):
        time.sleep(self.delay)
        return super().step(action)
'''


def counted_spec(directory: Path, seeds: int, delay: float, iterations: int = 4, gate: Path | None = None,
                 free: int = 0) -> Path:  # fmt: skip
    """A train sweep whose runs log themselves (directory/runs.log), with a user-module env; with
    a `gate`, each process's runs after its first `free` wait for the gate file."""
    (directory / "countenv.py").write_text(COUNTED)
    spec = directory / "counted.yaml"
    gated = f", gate: '{gate}', free: {free}" if gate is not None else ""
    spec.write_text(
        f"env: {{id: 'countenv:Counted', num_envs: 1, kwargs: {{log: '{directory / 'runs.log'}', delay: {delay}{gated}}}}}\n"
        f"policy: {{kind: mlp, hidden: [8]}}\nbatch: {{episodes: 2}}\nstop: {{iterations: {iterations}}}\n"
        f"eval: {{every: 0}}\nsweep: {{seeds: {seeds}}}\n"
    )
    return spec


def logged(directory: Path) -> list[tuple[str, str, str]]:
    """(pid, seed, tag) of every run computed so far (a line still being written is left out)."""
    path = directory / "runs.log"
    text = path.read_text() if path.exists() else ""
    return [tuple(line.split()) for line in text.splitlines(keepends=True) if line.endswith("\n")]


def wait_until(condition, what: str, timeout: float = 120.0):
    """Poll `condition()` until it holds (readiness only: nothing is asserted about how long it
    took); fail saying `what` did not happen within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout:.0f} s"
        time.sleep(0.01)


@pytest.mark.slow
def test_two_identical_sweeps_into_one_directory_compute_each_run_once(tmp_path):
    """Each process's first run waits at a gate until both processes have claimed a run, so both
    compute some whatever their start-up times; the run lock keeps them from computing the same
    run twice."""
    gate = tmp_path / "gate"
    spec = counted_spec(tmp_path, seeds=6, delay=0.0, gate=gate)
    command = [sys.executable, "-m", "pgcli", "train", str(spec), "--results", str(tmp_path / "results"), "-q"]
    first = subprocess.Popen(command, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    second = subprocess.Popen(command, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: len({pid for pid, *_ in logged(tmp_path)}) == 2 or None not in (first.poll(), second.poll()),
                   "both processes claiming a run")  # fmt: skip
    finally:
        gate.touch()
    errors = [first.communicate(timeout=300)[1], second.communicate(timeout=300)[1]]
    assert first.returncode == 0 and second.returncode == 0, errors
    seeds = [seed for _, seed, _ in logged(tmp_path)]
    assert len(seeds) == 6 and len(set(seeds)) == 6, seeds  # every run computed once, by one of them
    assert {pid for pid, *_ in logged(tmp_path)} == {str(first.pid), str(second.pid)}  # and both did some
    runs = pd.read_csv(tmp_path / "results" / "counted" / "runs.csv")
    assert list(runs["status"]) == ["done"] * 6
    assert len(pd.read_csv(tmp_path / "results" / "counted" / "metrics.csv")["run_id"].unique()) == 6


def test_a_run_locked_by_a_live_process_is_waited_for_not_restarted(tmp_path, monkeypatch):
    """Another process holds run 0's lock until the test lets it go. run_all computes the other
    runs, then blocks on run 0's lock (seen by a wrapper around the real _claim) without having
    computed it; once the holder lets go, run 0 is computed here."""
    runs = planned(tmp_path)
    Path(runs[0].directory).mkdir(parents=True)
    hold = "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); sys.stdin.readline()"
    holder = subprocess.Popen([sys.executable, "-c", hold, str(Path(runs[0].directory) / ".lock")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    waiting = threading.Event()
    real_claim = runner._claim

    def claim(directory, wait=False):
        if wait and Path(directory) == Path(runs[0].directory):
            waiting.set()
        return real_claim(directory, wait)

    monkeypatch.setattr(runner, "_claim", claim)
    outcomes = []
    try:
        assert holder.stdout.readline().strip() == "held"
        worker = threading.Thread(target=lambda: outcomes.extend(runner.run_all(runs)), daemon=True)
        worker.start()
        wait_until(lambda: waiting.is_set() or not worker.is_alive(), "run_all waiting for run 0's lock")
        assert waiting.is_set(), "run_all finished without waiting for the locked run"
        assert is_finished(runs[1]) and is_finished(runs[2])  # the others are done
        assert not is_finished(runs[0]) and worker.is_alive()  # run 0 waits, not computed
    finally:
        holder.stdin.close()  # the holder lets go (recording nothing)
        holder.wait(timeout=60)
    worker.join(timeout=300)
    assert not worker.is_alive()
    assert [r["status"] for r in outcomes] == ["done"] * 3  # then ran it, as the holder recorded nothing
    assert is_finished(runs[0])
