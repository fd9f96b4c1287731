"""Every path pgcli writes or reads is its own: no write through a link inside the results root,
only regular files read (no FIFO, device or giant file hangs a read), safe folder names, outputs to
streams or odd paths handled in one line, and a full disk one line with no partial file."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import assert_bad_input, invoke

TINY = ["estimate", "--f", "step", "--n", "10", "--reps", "2", "--estimators", "score", "-q"]


def finished(tmp_path: Path) -> Path:
    """A finished one-run estimate under tmp_path/results: its summary directory."""
    result = invoke(*TINY, "--results", tmp_path / "results", "--name", "lab")
    assert result.exit_code == 0, result.output
    return tmp_path / "results" / "lab"


def run_dir(summary: Path) -> Path:
    (directory,) = [p for p in summary.iterdir() if p.is_dir()]
    return directory


@pytest.mark.parametrize("what", ["run directory", "config.yaml", "runs.csv", "combined table", "lock"])
def test_a_link_inside_the_results_tree_is_never_written_through(tmp_path, what):
    summary = finished(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    directory = run_dir(summary)
    target = {
        "run directory": directory,
        "config.yaml": directory / "config.yaml",
        "runs.csv": summary / "runs.csv",
        "combined table": summary / "estimate.csv",
        "lock": directory / ".lock",
    }[what]
    if target.is_dir():
        target.rename(outside / "moved")
        target.symlink_to(outside / "moved")
    else:
        target.unlink(missing_ok=True)
        target.symlink_to(outside / "victim")
    before = sorted(outside.rglob("*"))
    result = invoke(*TINY, "--results", tmp_path / "results", "--name", "lab", "--force")
    assert result.exit_code in (1, 2), result.output
    assert "symbolic link" in result.output and "Traceback" not in result.output
    assert sorted(outside.rglob("*")) == before and not (outside / "victim").exists()


@pytest.mark.parametrize("name", ["status", "estimate.csv"])
def test_a_fifo_or_device_in_a_run_directory_is_not_read(tmp_path, name):
    summary = finished(tmp_path)
    path = run_dir(summary) / name
    path.unlink()
    os.mkfifo(path)  # reading it would block for ever
    result = invoke(*TINY, "--results", tmp_path / "results", "--name", "lab")
    assert result.exit_code in (0, 1, 2) and "Traceback" not in result.output


def test_plot_of_a_fifo_is_one_line(tmp_path):
    fifo = tmp_path / "table.csv"
    os.mkfifo(fifo)
    assert_bad_input(invoke("plot", fifo, "--out", tmp_path / "f.png"), "not a regular file")


@pytest.mark.parametrize("name", ["../evil", "/etc/evil", "a/b", ".hidden", "x" * 101, "nul\0name", "ends."])
def test_a_name_that_is_not_a_safe_folder_name_is_refused(tmp_path, name):
    result = invoke(*TINY, "--results", tmp_path / "results", "--name", name)
    assert_bad_input(result, nothing_in=tmp_path / "results")
    spec = tmp_path / "s.yaml"
    spec.write_text(f"kind: estimate\nname: {name!r}\n".replace("\0", "\\0"))
    assert_bad_input(invoke("estimate", spec, "--results", tmp_path / "results"), nothing_in=tmp_path / "results")
    assert not (tmp_path / "evil").exists()


@pytest.mark.slow
def test_a_user_env_gives_a_safe_default_name(tmp_path):
    (tmp_path / "corridor.py").write_text(
        "import gymnasium as gym\nimport numpy as np\n\n\nclass Corridor(gym.Env):\n"
        "    observation_space = gym.spaces.Box(-1, 1, (1,))\n    action_space = gym.spaces.Discrete(2)\n\n"
        "    def reset(self, seed=None, options=None):\n        super().reset(seed=seed)\n"
        "        self.t = 0\n        return np.zeros(1, dtype=np.float32), {}\n\n"
        "    def step(self, action):\n        self.t += 1\n"
        "        return np.zeros(1, dtype=np.float32), 1.0, self.t >= 3, False, {}\n"
    )  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "pgcli", "train", "--set", "env.id=corridor:Corridor", "--set", "stop.iterations=1",
         "--set", "eval.every=0", "--set", "env.num_envs=2", "-q"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "results" / "train-corridor-corridor-reinforce" / "runs.csv").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("out", ["/dev/stdout", "-", "/dev/stderr"])
def test_out_to_a_standard_stream_writes_the_table_to_it(tmp_path, out):
    done = subprocess.run([sys.executable, "-m", "pgcli", *TINY, "--results", tmp_path, "--out", out],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    stream = done.stderr if out.endswith("err") else done.stdout
    assert done.returncode == 0 and "\nrun_id,seed," in "\n" + stream, done.stderr
    assert not (tmp_path / "stdout").exists() and "wrote /dev" not in done.stdout


def test_odd_output_paths_are_one_line(tmp_path):
    loop = tmp_path / "loop"
    loop.symlink_to(tmp_path / "pool")
    (tmp_path / "pool").symlink_to(loop)
    for out, fragment in [
        (loop, "loop of symbolic links"),
        (tmp_path / ("x" * 300 + ".csv"), "File name too long"),
        (tmp_path / "dir", "is a directory"),
    ]:
        if out.name == "dir":
            out.mkdir()
        assert_bad_input(invoke(*TINY, "--results", tmp_path / "r", "--out", out), fragment, nothing_in=tmp_path / "r")


@pytest.mark.slow
def test_a_full_disk_under_an_output_is_one_line_exit_1_and_no_partial_file(tmp_path):
    """RLIMIT_FSIZE makes every write past 1 KiB fail (EFBIG), as a full disk would (ENOSPC)."""
    summary = finished(tmp_path)
    script = (
        "import resource, signal, sys\nsignal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))\n"
        "from pgcli.shell.cli import main\nsys.argv = ['pgcli'] + sys.argv[1:]\nmain()\n"
    )
    for args, out in [
        (["plot", summary, "--out"], tmp_path / "figure.png"),
        (["estimate", "--f", "step", "--n", "10,100", "--reps", "2", "-q", "--results", tmp_path / "r2", "--out"],
         tmp_path / "table.csv"),
    ]:  # fmt: skip
        done = subprocess.run([sys.executable, "-c", script, *map(str, args), str(out)], capture_output=True,
                              text=True, timeout=300)  # fmt: skip
        assert done.returncode == 1, done.stderr
        assert "cannot write" in done.stderr and "Traceback" not in done.stderr
        assert not out.exists() and not list(tmp_path.glob(f".{out.name}.*"))


@pytest.mark.parametrize("target", ["loop", "/nonexistent-pgcli-dir/below"])
def test_an_output_below_a_link_that_leads_nowhere_is_refused_before_the_work(tmp_path, monkeypatch, target):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "loop").symlink_to(target)
    result = invoke("estimate", "--dist", "gaussian", "--f", "step", "--n", "10", "--reps", "2", "--out", "loop/x.csv")
    assert_bad_input(result, "loop is a symbolic link that leads nowhere", nothing_in=tmp_path / "results")
