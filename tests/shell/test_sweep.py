"""Sweeps: grid expansion, content-addressed runs, resume, executors, interruption."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from pgcli.shell import executors, plan
from pgcli.shell.experiment import build_spec, schema_of
from pgcli.shell.spec import SpecError
from tests.helpers import assert_bad_input, default_sigint, invoke, written

TINY = """
env: {id: CartPole-v1, num_envs: 4}
policy: {kind: mlp, hidden: [8]}
batch: {episodes: 4}
stop: {iterations: 4}
eval: {every: 0}
sweep:
  grid:
    optim.lr: [0.01, 0.03]
    algo.baseline: [none, value]
  seeds: 2
"""


def write(tmp_path, text, name="sweep.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def planned(path, grid=()):
    spec = build_spec("train", str(path), {}, [], None, None)
    return plan.runs("train", schema_of("train"), spec, "results", grid)


def frame(path):
    """A results table without its wall-clock column: what must be byte-identical."""
    return pd.read_csv(path).drop(columns=["wall_s"]).to_csv(index=False)


def test_grid_expansion_labels_and_ids(tmp_path):
    runs = planned(write(tmp_path, TINY))
    assert len(runs) == 8 and len({r.run_id for r in runs}) == 8
    assert runs[0].label == "lr=0.01,baseline=none,seed=0"
    assert runs[-1].label == "lr=0.03,baseline=value,seed=1"
    assert [r.varying["seed"] for r in runs[:2]] == [0, 1]


def test_run_id_is_stable_and_ignores_key_order(tmp_path):
    reordered = """
sweep:
  seeds: [0, 1]
  grid:
    algo.baseline: [none, value]
    optim.lr: [0.01, 0.03]
eval: {every: 0}
stop: {iterations: 4}
batch: {episodes: 4}
policy: {hidden: [8], kind: mlp}
env: {num_envs: 4, id: CartPole-v1}
"""
    a = {r.run_id for r in planned(write(tmp_path, TINY, "a.yaml"))}
    b = {r.run_id for r in planned(write(tmp_path, reordered, "b.yaml"))}
    assert a == b
    again = {r.run_id for r in planned(write(tmp_path, TINY, "c.yaml"))}
    assert again == a


def test_section_axis_sets_several_keys_together(tmp_path):
    text = TINY.replace(
        "    optim.lr: [0.01, 0.03]\n    algo.baseline: [none, value]",
        "    algo:\n      - {weight: total_return, baseline: none}\n      - {weight: gae, baseline: value}",
    )
    runs = planned(write(tmp_path, text))
    assert [r.label for r in runs[::2]] == [
        "weight=total_return,baseline=none,seed=0",
        "weight=gae,baseline=value,seed=0",
    ]
    assert runs[2].spec["algo"]["weight"] == "gae" and runs[2].spec["algo"]["discount"] == 0.99


def test_set_grid_adds_an_axis(tmp_path):
    runs = planned(write(tmp_path, TINY), grid=["algo.discount=0.9,0.99"])
    assert len(runs) == 16 and "discount=0.9" in runs[0].label


@pytest.mark.slow
def test_jobs_1_jobs_2_and_dask_give_identical_tables(tmp_path):
    spec = write(tmp_path, TINY)
    outputs = {}
    for name, args in {
        "serial": ["--jobs", "1"],
        "jobs2": ["--jobs", "2"],
        "dask": ["--executor", "dask"],
    }.items():
        result = invoke("train", spec, *args, "--results", tmp_path / name, "-q")
        assert result.exit_code == 0, result.output
        outputs[name] = frame(tmp_path / name / "sweep" / "metrics.csv")
        runs = pd.read_csv(tmp_path / name / "sweep" / "runs.csv")
        assert list(runs["status"]) == ["done"] * 8
    assert outputs["serial"] == outputs["jobs2"] == outputs["dask"]
    table = pd.read_csv(tmp_path / "serial" / "sweep" / "metrics.csv")
    assert list(table.columns[:4]) == ["run_id", "lr", "baseline", "seed"]


def test_resume_skips_done_runs_and_force_reruns(tmp_path):
    spec = write(tmp_path, TINY.replace("seeds: 2", "seeds: 1"))
    invoke("train", spec, "--results", tmp_path, "-q")
    statuses = sorted((tmp_path / "sweep").glob("*/status"))
    stamps = [p.stat().st_mtime_ns for p in statuses]
    invoke("train", spec, "--results", tmp_path, "-q")
    assert [p.stat().st_mtime_ns for p in statuses] == stamps  # nothing re-ran
    # a changed spec adds only the new runs
    bigger = write(tmp_path, TINY.replace("seeds: 2", "seeds: [0, 5]"))
    invoke("train", bigger, "--results", tmp_path, "-q")
    assert [p.stat().st_mtime_ns for p in statuses] == stamps
    assert len(list((tmp_path / "sweep").glob("*/status"))) == 8
    invoke("train", spec, "--results", tmp_path, "-q", "--force")
    assert [p.stat().st_mtime_ns for p in statuses] != stamps


@pytest.mark.slow
def test_interrupted_sweep_resumes_to_identical_tables(tmp_path):
    text = TINY.replace("stop: {iterations: 4}", "stop: {iterations: 25}")
    spec = write(tmp_path, text)
    invoke("train", spec, "--results", tmp_path / "whole", "-q")
    command = [
        sys.executable,
        "-m",
        "pgcli",
        "train",
        str(spec),
        "--results",
        str(tmp_path / "cut"),
        "-q",
    ]
    process = subprocess.Popen(
        command, cwd=Path(__file__).resolve().parents[2], stderr=subprocess.PIPE, preexec_fn=default_sigint
    )
    deadline = time.monotonic() + 300  # readiness only: three runs written
    while len(list((tmp_path / "cut").glob("sweep/*/metrics.csv"))) < 3:
        assert time.monotonic() < deadline and process.poll() is None, "three runs were never written"
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=300)
    assert process.returncode != 0 and b"Traceback" not in err
    done = [p for p in (tmp_path / "cut" / "sweep").glob("*/status") if p.read_text().startswith("done")]
    assert 3 <= len(done) < 8
    assert not list((tmp_path / "cut").rglob("*.tmp"))  # no half-written file survives
    result = invoke("train", spec, "--results", tmp_path / "cut", "-q")
    assert result.exit_code == 0
    assert frame(tmp_path / "cut" / "sweep" / "metrics.csv") == frame(tmp_path / "whole" / "sweep" / "metrics.csv")


def test_a_diverging_run_is_marked_and_the_others_finish(tmp_path):
    text = TINY.replace("optim.lr: [0.01, 0.03]", "optim.lr: [0.01, 10]").replace("seeds: 2", "seeds: 1")
    text = text.replace("policy:", "optim: {kind: sgd}\npolicy:")
    result = invoke("train", write(tmp_path, text), "--jobs", "2", "--results", tmp_path, "-q")
    assert result.exit_code == 1
    runs = pd.read_csv(tmp_path / "sweep" / "runs.csv")
    assert sorted(runs["status"]) == ["diverged", "diverged", "done", "done"]
    assert "2 of 4 runs not done" in result.stderr


def test_a_lost_worker_keeps_finished_runs_and_reports_the_rest(tmp_path, monkeypatch):
    monkeypatch.setenv("PGCLI_TESTS_DIE_AFTER", str(tmp_path / "sweep"))  # the worker dies once CartPole is done
    text = TINY.replace("algo.baseline: [none, value]", "env.id: [CartPole-v1, 'tests.envs:dies_in_worker']")
    text = text.replace("seeds: 2", "seeds: 1").replace("optim.lr: [0.01, 0.03]", "optim.lr: [0.01]")
    repository = Path(__file__).resolve().parents[2]  # the spec names the tests package's env
    result = invoke("train", write(tmp_path, text), "--jobs", "2", "--results", tmp_path, "-q", "--trust", repository)
    assert result.exit_code == 1
    runs = pd.read_csv(tmp_path / "sweep" / "runs.csv").set_index("label")
    assert runs.loc["lr=0.01,id=CartPole-v1,seed=0", "status"] == "done"  # finished before the crash
    # tried once more in a new pool, then failed (a resume tries it again)
    assert runs.loc["lr=0.01,id=tests.envs:dies_in_worker,seed=0", "status"] == "failed"
    assert "worker lost" in result.stderr and "1 of 2 runs not done" in result.stderr


def test_worker_processes_get_one_blas_thread(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    code = "import os; print(os.environ['OMP_NUM_THREADS'], os.environ['OPENBLAS_NUM_THREADS'])"
    with executors.worker_environment():
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1", "1"]
    # the parent's own environment comes back as it was
    assert os.environ["OMP_NUM_THREADS"] == "7" and "OPENBLAS_NUM_THREADS" not in os.environ


@pytest.mark.parametrize(
    ("replace", "fragments"),
    [
        (("optim.lr: [0.01, 0.03]", "optim.lrr: [0.01]"), ["optim.lrr", "did you mean 'lr'"]),
        (("optim.lr: [0.01, 0.03]", "optim.lr: []"), ["sweep.grid.optim.lr", "empty list"]),
        (("optim.lr: [0.01, 0.03]", "optim.lr: 0.01"), ["sweep.grid.optim.lr", "expected a list"]),
        (
            ("optim.lr: [0.01, 0.03]", "optim.lr: [0.01, fast]"),
            ["sweep.grid.optim.lr[1]", "expected a number"],
        ),
        (("seeds: 2", "seeds: 0"), ["sweep.seeds", "must be ≥ 1"]),
        (("seeds: 2", "seeds: -3"), ["sweep.seeds", "must be ≥ 1"]),
        (("seeds: 2", "seeds: [1, 1]"), ["sweep.seeds", "repeat"]),
        (("optim.lr: [0.01, 0.03]", "seed: [1, 2]"), ["sweep.grid.seed", "sweep.seeds"]),
    ],
)
def test_bad_sweeps(tmp_path, replace, fragments):
    spec = write(tmp_path, TINY.replace(*replace))
    results = tmp_path / "results"
    assert_bad_input(invoke("train", spec, "--results", results, "-q"), *fragments, nothing_in=results)


@pytest.mark.slow
def test_unreachable_scheduler_is_bad_input(tmp_path):
    results = tmp_path / "results"
    result = invoke(
        "train",
        write(tmp_path, TINY),
        "--executor",
        "dask",
        "--scheduler",
        "tcp://127.0.0.1:9",
        "--results",
        results,
        "-q",
    )
    assert_bad_input(result, "cannot reach a Dask scheduler at tcp://127.0.0.1:9", nothing_in=results)


def test_set_grid_bad_input(tmp_path):
    results = tmp_path / "results"
    assert_bad_input(
        invoke("train", "--set-grid", "optim.lr", "--results", results),
        "--set-grid",
        "KEY=V1,V2",
        nothing_in=results,
    )
    assert_bad_input(
        invoke("train", "--set-grid", "optim.lr=0.1,x", "--results", results),
        "expected a number",
        nothing_in=results,
    )
    with pytest.raises(SpecError):
        planned(write(tmp_path, TINY), grid=["nope.key=1,2"])


def test_a_swept_key_that_names_a_table_column_keeps_its_dotted_name(tmp_path):
    result = invoke("train", "--set", "stop.iterations=2", "--set", "env.num_envs=2", "--set", "eval.every=0",
                    "--set-grid", "batch.episodes=2,4", "--results", tmp_path, "-q")  # fmt: skip
    assert result.exit_code == 0, result.output
    table = pd.read_csv(written(result))
    assert list(table.columns[:3]) == ["run_id", "batch.episodes", "seed"] and "episodes" in table.columns
    assert sorted(table["batch.episodes"].unique()) == [2, 4]


def test_a_repeated_grid_value_is_bad_input(tmp_path):
    results = tmp_path / "results"
    result = invoke("estimate", "--set-grid", "reps=3,3", "--results", results, "-q")
    assert_bad_input(result, "sweep", "same run", nothing_in=results)


@pytest.mark.parametrize(
    ("kind", "flags", "name"),
    [
        ("estimate", {"dist": "poisson"}, "estimate-poisson-step"),
        ("fisher", {}, "fisher-gaussian"),
        ("train", {"env.id": "Acrobot-v1"}, "train-acrobot-v1-reinforce"),
        ("optimize", {}, "optimize-gaussian-step"),
        ("optimize", {"dist": "bernoulli"}, "optimize-bernoulli-step"),
        ("optimize", {"problem": "classifier"}, "optimize-classifier"),
    ],
)
def test_flags_alone_name_the_results_by_kind_and_subject(kind, flags, name):
    assert build_spec(kind, None, flags, [], None, None)["name"] == name
    assert build_spec(kind, None, flags, ["name="], None, None)["name"] == name  # an empty name is no name


@pytest.mark.slow
def test_a_server_that_accepts_and_says_nothing_is_not_a_scheduler(tmp_path, monkeypatch):
    """A silent socket, or an HTTP server (which answers only once it is asked): one line within
    the connect timeout (shortened here), not a wait for ever."""
    import socket
    import threading

    from pgcli.shell import executors

    monkeypatch.setattr(executors, "CONNECT_S", 1)
    server = socket.create_server(("127.0.0.1", 0))
    held = []
    threading.Thread(target=lambda: held.append(server.accept()), daemon=True).start()
    address = f"tcp://127.0.0.1:{server.getsockname()[1]}"
    results = tmp_path / "results"
    try:
        result = invoke("estimate", "--f", "step", "--executor", "dask", "--scheduler", address, "--results", results)
    finally:
        server.close()
    assert_bad_input(
        result, f"the server at {address} accepted a connection but said nothing within 1 s", nothing_in=results
    )


def test_a_host_name_no_resolver_takes_is_one_line(tmp_path):
    results = tmp_path / "results"
    address = f"tcp://{'a' * 300}:8786"  # a label over 63 characters: the idna codec refuses it
    result = invoke("estimate", "--f", "step", "--executor", "dask", "--scheduler", address, "--results", results)
    assert_bad_input(result, "cannot reach a Dask scheduler at tcp://aaa", nothing_in=results)


def test_a_scheduler_that_starts_listening_late_is_waited_for(monkeypatch):
    """A refused connection is tried again until the connect timeout, as Dask's own connect does
    (`dask scheduler &` then pgcli at once); the listener here speaks first, as a scheduler does."""
    import socket
    import threading

    from pgcli.shell import executors

    monkeypatch.setattr(executors, "CONNECT_S", 20)
    with socket.socket() as claim:  # a free port, not listening yet
        claim.bind(("127.0.0.1", 0))
        port = claim.getsockname()[1]
    accepted = threading.Event()

    def listen_late():
        server = socket.create_server(("127.0.0.1", port))
        connection, _ = server.accept()
        connection.sendall(b"x")  # a handshake's first byte
        accepted.set()
        connection.close()
        server.close()

    timer = threading.Timer(0.5, listen_late)
    timer.start()
    executors.check_speaks_first(f"tcp://127.0.0.1:{port}")  # no SchedulerError
    assert accepted.wait(5)
    timer.join(5)


def test_nothing_listening_is_refused_once_the_connect_timeout_passes(monkeypatch):
    import socket

    from pgcli.shell import executors

    monkeypatch.setattr(executors, "CONNECT_S", 1)
    with socket.socket() as claim:
        claim.bind(("127.0.0.1", 0))
        port = claim.getsockname()[1]
    with pytest.raises(executors.SchedulerError, match="connection refused within 1 s"):
        executors.check_speaks_first(f"tcp://127.0.0.1:{port}")
