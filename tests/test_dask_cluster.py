"""A real Dask cluster: a `dask scheduler` and two `dask worker` processes on 127.0.0.1, each
worker in its own empty working directory, sharing no files with the client: the client ships
what the workers need, gets every run's outputs back and writes them itself."""

import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import yaml

from tests.helpers import invoke
from tests.test_run_dirs import COUNTED, counted_spec, logged

distributed = pytest.importorskip("distributed")

from pgcli.shell.runner import WALL_CLOCK  # noqa: E402 - after the importorskip


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """(scheduler address, [worker Popen], [worker working directory], a Client)."""
    root = tmp_path_factory.mktemp("cluster")
    scheduler_file = root / "scheduler.json"
    (root / "scheduler").mkdir()
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
         "--scheduler-file", str(scheduler_file)],
        cwd=root / "scheduler", stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.time() + 60
    while not scheduler_file.exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)  # written in one go, but let it land
    address = pd.read_json(scheduler_file, typ="series")["address"]
    workers, directories = [], []
    for i in range(2):
        directory, scratch = root / f"worker{i}", root / f"scratch{i}"
        directory.mkdir()
        scratch.mkdir()
        workers.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "dask",
                    "worker",
                    address,
                    "--nthreads",
                    "1",
                    "--no-nanny",
                    "--host",
                    "127.0.0.1",
                    "--no-dashboard",
                    "--local-directory",
                    str(scratch),
                    "--name",
                    f"w{i}",
                ],
                cwd=directory,
                stderr=subprocess.DEVNULL,
            )
        )
        directories.append(directory)
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


def test_workers_of_another_numpy_are_refused_unless_allowed(tmp_path, cluster):
    address, _, directories, client = cluster
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


def test_a_killed_worker_costs_no_finished_run(tmp_path, cluster):
    """Outcomes are released once written: the scheduler has nothing of a written run to
    recompute when the worker that computed it dies (runs are counted by the env they make)."""
    address, workers, directories, _ = cluster
    spec = counted_spec(tmp_path, seeds=1, delay=0.003)
    spec.write_text(
        spec.read_text().replace("sweep: {seeds: 1}", "sweep: {grid: {env.kwargs.tag: [0, 1, 2, 3, 4, 5, 6, 7]}}")
    )
    command = [sys.executable, "-m", "pgcli", "train", str(spec), "--executor", "dask", "--scheduler", address,
               "--results", str(tmp_path / "r"), "-q"]  # fmt: skip
    sweep = subprocess.Popen(command, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    victim, written = workers[1], set()
    deadline = time.time() + 120
    while (
        time.time() < deadline
        and len(written & {tag for pid, _, tag in logged(tmp_path) if int(pid) == victim.pid}) < 2
    ):
        time.sleep(0.01)
        written = {str(tag) for tag in written_tags(tmp_path / "r" / "counted")}
    victim.send_signal(signal.SIGKILL)  # two of its runs are written, another may be under way
    victim.wait(timeout=10)
    _, err = sweep.communicate(timeout=180)
    assert sweep.returncode == 0, err
    tags = [tag for *_, tag in logged(tmp_path)]
    assert len(written) >= 2 and all(tags.count(tag) == 1 for tag in written)  # none computed again
    assert set(tags) == {str(i) for i in range(8)}
    assert list(pd.read_csv(tmp_path / "r" / "counted" / "runs.csv")["status"]) == ["done"] * 8
    assert_untouched(directories)


def written_tags(root):
    """env.kwargs.tag of the runs whose directory the client has written (status last)."""
    for status in root.glob("*/status"):
        yield yaml.safe_load((status.parent / "config.yaml").read_text())["spec"]["env"]["kwargs"]["tag"]
