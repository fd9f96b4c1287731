"""A real Dask cluster: a `dask scheduler` and two `dask worker` processes on 127.0.0.1, each
worker in its own empty working directory, sharing no files with the client: the client ships
what the workers need, gets every run's outputs back and writes them itself."""

import signal
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from pgcli import kinds
from tests.helpers import invoke, start_dask_scheduler
from tests.shell.test_run_dirs import COUNTED, counted_spec, logged, wait_until

distributed = pytest.importorskip("distributed")

WALL_CLOCK = kinds.wall_clock()


def start_worker(address, directory, scratch, name):
    """A `dask worker` process (one thread, no nanny) in an empty working directory of its own."""
    directory.mkdir()
    scratch.mkdir()
    return subprocess.Popen(
        [sys.executable, "-m", "dask", "worker", address, "--nthreads", "1", "--no-nanny", "--host", "127.0.0.1",
         "--no-dashboard", "--local-directory", str(scratch), "--name", name],
        cwd=directory, stderr=subprocess.DEVNULL,
    )  # fmt: skip


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """(scheduler address, [worker Popen], [worker working directory], a Client)."""
    root = tmp_path_factory.mktemp("cluster")
    scheduler, address = start_dask_scheduler(root / "scheduler")
    workers, directories = [], []
    for i in range(2):
        workers.append(start_worker(address, root / f"worker{i}", root / f"scratch{i}", f"w{i}"))
        directories.append(root / f"worker{i}")
    client = distributed.Client(address, timeout="30s")
    client.wait_for_workers(2, timeout=60)
    yield address, workers, directories, client
    client.close()
    for process in [*workers, scheduler]:
        process.kill()
        process.wait(timeout=30)


def stable(path):
    table = pd.read_csv(path)
    return table.drop(columns=[c for c in WALL_CLOCK if c in table]).to_csv(index=False)


def assert_untouched(directories):
    for directory in directories:
        assert not any(directory.rglob("*")), list(directory.rglob("*"))


PACKAGE_SPEC = """
env: {{id: 'mypkg.envs:Counted', num_envs: 1, kwargs: {{log: '{log}'}}}}
policy: {{kind: mlp, hidden: [8]}}
batch: {{episodes: 2}}
stop: {{iterations: 3}}
eval: {{every: 0}}
sweep: {{seeds: 4}}
"""


@pytest.mark.slow
def test_a_sweep_with_a_user_package_on_workers_without_it_matches_jobs_1(tmp_path, cluster, monkeypatch):
    address, workers, directories, _ = cluster
    (tmp_path / "mypkg").mkdir()
    (tmp_path / "mypkg" / "__init__.py").write_text("")
    (tmp_path / "mypkg" / "envs.py").write_text(COUNTED)
    (tmp_path / "spec.yaml").write_text(PACKAGE_SPEC.format(log=tmp_path / "runs.log"))
    monkeypatch.chdir(tmp_path)  # the client finds mypkg in its working directory
    done = invoke("train", "spec.yaml", "--executor", "dask", "--scheduler", address, "--results", "dask", "-q")
    assert done.exit_code == 0, done.output
    assert {int(pid) for pid, *_ in logged(tmp_path)} <= {w.pid for w in workers}  # the workers computed them
    done = invoke("train", "spec.yaml", "--jobs", "1", "--results", "serial", "-q")
    assert done.exit_code == 0, done.output
    for table in ["metrics.csv", "runs.csv"]:
        assert stable(tmp_path / "dask" / "spec" / table) == stable(tmp_path / "serial" / "spec" / table)
    for run_dir in (tmp_path / "dask" / "spec").glob("*/"):
        assert {p.name for p in run_dir.iterdir()} == {
            p.name for p in (tmp_path / "serial" / "spec" / run_dir.name).iterdir()
        }
    assert_untouched(directories)


@pytest.mark.slow
def test_a_module_the_workers_cannot_import_fails_before_anything_runs(tmp_path, cluster, monkeypatch):
    address, _, directories, _ = cluster
    (tmp_path / "helperlib.py").write_text("VALUE = 1\n")  # only here: not named by the spec
    (tmp_path / "badenv.py").write_text("import helperlib\n" + COUNTED)
    spec = counted_spec(tmp_path, seeds=2, delay=0.0)
    spec.write_text(spec.read_text().replace("countenv:", "badenv:"))
    monkeypatch.chdir(tmp_path)
    done = invoke("train", spec, "--executor", "dask", "--scheduler", address, "--results", "r", "-q")
    assert done.exit_code == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "badenv" in lines[0] and "helperlib" in lines[0], done.stderr
    assert not (tmp_path / "r").exists() and not logged(tmp_path)
    assert_untouched(directories)


ESTIMATE = ["estimate", "--dist", "gaussian", "--f", "step", "--n", "10", "--reps", "2", "--set", "sweep.seeds=2", "-q"]


@pytest.mark.slow
def test_workers_of_another_numpy_are_refused_unless_allowed(tmp_path, cluster):
    address, _, directories, client = cluster
    # the workers first import what an estimate run needs (pandas, scipy, ...), as they would have
    # after any earlier test: those imports parse numpy's version, and "0.0.0-test" is not one
    warm = invoke(*ESTIMATE, "--executor", "dask", "--scheduler", address, "--results", tmp_path / "warm")
    assert warm.exit_code == 0, warm.output
    real = client.run(lambda: __import__("numpy").__version__)
    client.run(lambda: setattr(__import__("numpy"), "__version__", "0.0.0-test"))
    try:
        done = invoke(*ESTIMATE, "--executor", "dask", "--scheduler", address, "--results", tmp_path / "r")
        mixed = invoke(*ESTIMATE, "--executor", "dask", "--scheduler", address, "--results", tmp_path / "m",
                       "--allow-mixed")  # fmt: skip
    finally:
        for worker, version in real.items():
            client.run(lambda v=version: setattr(__import__("numpy"), "__version__", v), workers=[worker])
    assert done.exit_code == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "numpy 0.0.0-test" in lines[0] and "--allow-mixed" in lines[0], done.stderr
    assert not (tmp_path / "r").exists()
    assert mixed.exit_code == 0, mixed.output
    assert "numpy: 0.0.0-test" in next((tmp_path / "m").glob("*/*/config.yaml")).read_text()
    assert_untouched(directories)


@pytest.mark.slow
def test_a_killed_worker_costs_no_finished_run(tmp_path):
    """Outcomes are released once written: the scheduler has nothing of a written run to
    recompute when the worker that computed it dies (runs are counted by the env they make).

    A cluster of this test's own: the victim is its only worker at first and computes two runs
    freely; its third waits at a gate, so it is killed with two runs written and one under way,
    whatever the machine's speed. A second worker then joins and computes the rest."""
    scheduler, address = start_dask_scheduler(tmp_path / "scheduler")
    victim = start_worker(address, tmp_path / "victim", tmp_path / "victim-scratch", "victim")
    survivor = None
    gate = tmp_path / "gate"
    spec = counted_spec(tmp_path, seeds=1, delay=0.0, gate=gate, free=2)
    spec.write_text(
        spec.read_text().replace("sweep: {seeds: 1}", "sweep: {grid: {env.kwargs.tag: [0, 1, 2, 3, 4, 5, 6, 7]}}")
    )
    command = [sys.executable, "-m", "pgcli", "train", str(spec), "--executor", "dask", "--scheduler", address,
               "--results", str(tmp_path / "r"), "-q"]  # fmt: skip
    try:
        with distributed.Client(address, timeout="30s") as client:
            client.wait_for_workers(1, timeout=60)
        sweep = subprocess.Popen(command, cwd=tmp_path, stderr=subprocess.PIPE, text=True)

        def victim_waits_with_two_written():
            tags = [tag for pid, _, tag in logged(tmp_path) if int(pid) == victim.pid]
            written = {str(tag) for tag in written_tags(tmp_path / "r" / "counted")}
            return (len(tags) == 3 and set(tags[:2]) <= written) or sweep.poll() is not None

        wait_until(victim_waits_with_two_written, "the victim writing two runs and starting a third")
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
        written = {str(tag) for tag in written_tags(tmp_path / "r" / "counted")}
        gate.touch()
        survivor = start_worker(address, tmp_path / "survivor", tmp_path / "survivor-scratch", "survivor")
        _, err = sweep.communicate(timeout=300)
    finally:
        for process in (victim, survivor, scheduler):
            if process is not None:
                process.kill()
                process.wait(timeout=30)
    assert sweep.returncode == 0, err
    victims = [tag for pid, _, tag in logged(tmp_path) if int(pid) == victim.pid]
    assert len(victims) == 3 and len(written) == 2 and written == set(victims[:2])
    tags = [tag for *_, tag in logged(tmp_path)]
    assert all(tags.count(tag) == 1 for tag in written)  # none computed again
    assert tags.count(victims[2]) == 2  # the run under way when the victim died was computed again
    assert set(tags) == {str(i) for i in range(8)}
    assert list(pd.read_csv(tmp_path / "r" / "counted" / "runs.csv")["status"]) == ["done"] * 8
    assert_untouched([tmp_path / "victim", tmp_path / "survivor"])


def written_tags(root):
    """env.kwargs.tag of the runs whose directory the client has written (status last)."""
    for status in root.glob("*/status"):
        yield yaml.safe_load((status.parent / "config.yaml").read_text())["spec"]["env"]["kwargs"]["tag"]
