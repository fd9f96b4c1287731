"""Run directories under stress: corrupted finished runs, stale combined tables, a full disk,
and two sweeps sharing one results directory."""

import resource
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from pgcli import kinds
from pgcli.shell import runner
from pgcli.shell.experiment import build_spec
from pgcli.shell.spec import with_sweep
from tests.helpers import invoke

ESTIMATE = ["estimate", "--dist", "gaussian", "--f", "step", "--n", "10,20", "--reps", "3", "--set", "sweep.seeds=3"]
WALL_CLOCK = runner.WALL_CLOCK


def stable(path):
    """A table without its wall-clock columns: what must be byte-identical."""
    table = pd.read_csv(path)
    return table.drop(columns=[c for c in WALL_CLOCK if c in table]).to_csv(index=False)


def estimate(results, *args):
    result = invoke(*ESTIMATE, "--name", "e", "--results", results, "-q", *args)
    return result, results / "e"


def planned(results):
    """The runs `estimate(results)` runs."""
    flags = {"dist": "gaussian", "f": ["step"], "n": "10,20", "reps": "3"}
    spec = build_spec("estimate", None, flags, ["sweep.seeds=3"], None, "e")
    return runner.plan("estimate", with_sweep(kinds.KINDS["estimate"].schema), spec, results)


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
    assert not runner.is_finished(victim)
    result, _ = estimate(tmp_path)
    assert result.exit_code == 0 and "Traceback" not in result.output
    assert stable(root / "estimate.csv") == whole  # re-run, and its table is whole again
    assert runner.is_finished(victim)


def test_aggregate_reports_a_corrupted_run_and_leaves_its_rows_out(tmp_path):
    result, root = estimate(tmp_path)
    assert result.exit_code == 0
    runs = planned(tmp_path)
    _truncate_rows(Path(runs[2].directory) / "estimate.csv")
    results = [None] * len(runs)
    summary, combined = runner.aggregate(runs, results, root)
    assert list(summary["status"]) == ["done", "done", "corrupted"]
    assert "do not match" in results[2]["message"]
    assert list(pd.read_csv(combined)["run_id"].unique()) == [runs[0].run_id, runs[1].run_id]


def test_force_where_every_run_now_fails_leaves_no_stale_table(tmp_path, monkeypatch):
    result, root = estimate(tmp_path)
    assert result.exit_code == 0 and (root / "estimate.csv").is_file()

    def fails(spec, progress):
        raise RuntimeError("this run now fails")

    monkeypatch.setitem(kinds.KINDS, "estimate", kinds.KINDS["estimate"]._replace(run=fails))
    result, _ = estimate(tmp_path, "--force")
    assert result.exit_code == 1 and "this run now fails" in result.stderr
    assert list(pd.read_csv(root / "runs.csv")["status"]) == ["failed"] * 3
    assert not (root / "estimate.csv").exists()  # the old rows are not this sweep's


def _limit_file_size(limit):
    def preexec():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return preexec


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
import os
import time

import gymnasium as gym


class Counted(gym.Wrapper):
    """CartPole that appends 'pid seed tag' to `log` at its first seeded reset: one line per run
    computed (the seed drawn from the run's own stream, `tag` whatever the spec says)."""

    def __init__(self, log, delay=0.0, tag=None):
        super().__init__(gym.make("CartPole-v1"))
        self.log, self.delay, self.tag, self.logged = log, delay, tag, False

    def reset(self, *, seed=None, options=None):
        if seed is not None and not self.logged:
            self.logged = True
            with open(self.log, "a") as handle:
                handle.write(f"{os.getpid()} {seed} {self.tag}\\n")
        return super().reset(seed=seed, options=options)

    def step(self, action):
        time.sleep(self.delay)
        return super().step(action)
'''


def counted_spec(directory: Path, seeds: int, delay: float, iterations: int = 4) -> Path:
    """A train sweep whose runs log themselves (directory/runs.log), with a user-module env."""
    (directory / "countenv.py").write_text(COUNTED)
    spec = directory / "counted.yaml"
    spec.write_text(
        f"env: {{id: 'countenv:Counted', num_envs: 1, kwargs: {{log: '{directory / 'runs.log'}', delay: {delay}}}}}\n"
        f"policy: {{kind: mlp, hidden: [8]}}\nbatch: {{episodes: 2}}\nstop: {{iterations: {iterations}}}\n"
        f"eval: {{every: 0}}\nsweep: {{seeds: {seeds}}}\n"
    )
    return spec


def logged(directory: Path) -> list[tuple[str, str, str]]:
    """(pid, seed, tag) of every run computed so far."""
    path = directory / "runs.log"
    return [tuple(line.split()) for line in path.read_text().splitlines()] if path.exists() else []


def test_two_identical_sweeps_into_one_directory_compute_each_run_once(tmp_path):
    spec = counted_spec(tmp_path, seeds=6, delay=0.002)
    command = [sys.executable, "-m", "pgcli", "train", str(spec), "--results", str(tmp_path / "results"), "-q"]
    first = subprocess.Popen(command, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not logged(tmp_path) and time.time() < deadline:
        time.sleep(0.02)
    second = subprocess.Popen(command, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    errors = [first.communicate(timeout=120)[1], second.communicate(timeout=120)[1]]
    assert first.returncode == 0 and second.returncode == 0, errors
    seeds = [seed for _, seed, _ in logged(tmp_path)]
    assert len(seeds) == 6 and len(set(seeds)) == 6  # every run computed once, by one of them
    assert len({pid for pid, *_ in logged(tmp_path)}) == 2  # and both did some
    runs = pd.read_csv(tmp_path / "results" / "counted" / "runs.csv")
    assert list(runs["status"]) == ["done"] * 6
    assert len(pd.read_csv(tmp_path / "results" / "counted" / "metrics.csv")["run_id"].unique()) == 6


def test_a_run_locked_by_a_live_process_is_waited_for_not_restarted(tmp_path):
    runs = planned(tmp_path)
    Path(runs[0].directory).mkdir(parents=True)
    hold = "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(1.5)"
    holder = subprocess.Popen(
        [sys.executable, "-c", hold, str(Path(runs[0].directory) / ".lock")], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "held"
    start = time.perf_counter()
    results = runner.run_all(runs)
    assert time.perf_counter() - start >= 1.0  # it waited for the holder to let go
    assert [r["status"] for r in results] == ["done"] * 3  # then ran it, as the holder recorded nothing
    holder.wait(timeout=10)
