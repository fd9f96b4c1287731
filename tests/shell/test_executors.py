"""Local executors: the same numbers whatever the parallelism (BLAS threads), workers that die
with their parent, and Ctrl-C that ends with one line."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers import assert_bad_input, default_sigint, invoke

BIG = """
env: {id: CartPole-v1, num_envs: 4}
policy: {kind: mlp, hidden: [256, 256]}
batch: {episodes: 4}
stop: {iterations: 2}
eval: {every: 0}
sweep: {seeds: 2}
"""

SLOW = """
env: {id: CartPole-v1, num_envs: 4}
policy: {kind: mlp, hidden: [8]}
batch: {episodes: 4}
stop: {iterations: 100000}
eval: {every: 0}
sweep: {seeds: 4}
"""


@pytest.mark.slow
def test_a_big_network_gives_the_same_gradients_with_jobs_1_and_2(tmp_path):
    """Multi-threaded BLAS sums in another order: every executor uses the same thread count."""
    spec = tmp_path / "big.yaml"
    spec.write_text(BIG)
    tables = []
    for jobs in ["1", "2"]:
        result = invoke("train", spec, "--jobs", jobs, "--results", tmp_path / jobs, "-q")
        assert result.exit_code == 0, result.output
        tables.append(pd.read_csv(tmp_path / jobs / "big" / "metrics.csv").drop(columns="wall_s"))
    assert tables[0][["grad_norm", "grad_snr"]].notna().all().all()
    assert tables[0].to_csv(index=False) == tables[1].to_csv(index=False)


def children(pid: int) -> list[int]:
    """Live processes whose parent is `pid` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited (its new parent may not have reaped it yet)


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def start_sweep(tmp_path, **popen):
    """A --jobs 2 sweep of endless runs, once both workers are past start-up and computing."""
    spec = tmp_path / "slow.yaml"
    spec.write_text(SLOW)
    command = [sys.executable, "-m", "pgcli", "train", str(spec), "--jobs", "2", "--results", str(tmp_path), "-q"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint, **popen)
    deadline = time.monotonic() + 300  # readiness only: a loaded machine may take long to get there
    while sum(cpu_seconds(pid) > 2.0 for pid in children(process.pid)) < 2:
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("the two workers never started computing")
        time.sleep(0.05)
    return process, children(process.pid)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_workers_do_not_outlive_a_killed_main_process(tmp_path, sig):
    process, workers = start_sweep(tmp_path)
    assert len(workers) >= 2
    process.send_signal(sig)
    process.wait(timeout=120)
    deadline = time.monotonic() + 120  # generous: a hang detector, not a speed test
    while time.monotonic() < deadline and any(map(alive, workers)):
        time.sleep(0.05)
    left = [pid for pid in workers if alive(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, "worker processes outlived their parent by 2 minutes"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_ctrl_c_ends_a_jobs_2_sweep_with_one_line(tmp_path):
    """The terminal sends SIGINT to the whole process group: workers and all."""
    process, workers = start_sweep(tmp_path, start_new_session=True)
    os.killpg(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=300)
    assert process.returncode != 0, err
    assert err.strip().splitlines() == ["Aborted."], err
    deadline = time.monotonic() + 120  # generous: a hang detector, not a speed test
    while time.monotonic() < deadline and any(map(alive, workers)):
        time.sleep(0.05)
    assert not any(map(alive, workers))


@pytest.mark.parametrize("address", ["notaurl", "tcp://[::1"])
def test_a_malformed_scheduler_address_is_bad_input(tmp_path, address):
    pytest.importorskip("distributed")
    results = tmp_path / "results"
    result = invoke("estimate", "--executor", "dask", "--scheduler", address, "--results", results, "-q")
    assert_bad_input(result, f"--scheduler {address!r} is not an address", nothing_in=results)


def test_a_worker_of_another_environment_fails_its_runs_saying_why(tmp_path):
    """A Dask worker that joins after the up-front check still computes nothing it should not."""
    from pgcli.shell import executors, plan
    from pgcli.shell.experiment import build_spec, schema_of

    spec = build_spec("estimate", None, {"n": "10", "reps": "2"}, [], None, "e")
    run = plan.runs("estimate", schema_of("estimate"), spec, tmp_path)[0]
    expected = {**executors.versions(), "numpy": "0.0.0-client"}
    outcome = executors.compute_remote(run, expected)
    assert outcome["status"] == "failed" and outcome["files"] == {}
    assert f"numpy {executors.versions()['numpy']} (client: 0.0.0-client)" in outcome["message"]
    assert executors.compute_remote(run, executors.versions())["status"] == "done"
