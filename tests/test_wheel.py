"""The installed tool: build pgcli's wheel, install it into a fresh virtual environment and run the
quick tour from an empty directory, with the repository nowhere on the path — the bundled library
and data come from the package itself."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow  # a wheel, a venv and its dependencies: about 40 s


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(the venv's bin directory, the wheel) with the wheel and its dependencies installed."""
    where = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                    str(where / "dist"), str(ROOT)], check=True, cwd=where)  # fmt: skip
    (wheel,) = (where / "dist").glob("pgcli-*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(where / "venv")], check=True)
    bin_dir = where / "venv" / "bin"
    subprocess.run([bin_dir / "python", "-m", "pip", "install", "-q", str(wheel)], check=True, cwd=where)
    return bin_dir, wheel


@pytest.mark.slow
def test_the_wheel_carries_the_library_and_the_data(installed):
    _, wheel = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    library = {name for name in names if name.startswith("pgcli/library/") and name.endswith(".yaml")}
    shipped = {f"pgcli/library/{path.name}" for path in (ROOT / "pgcli" / "library").glob("*.yaml")}
    assert library == shipped and len(shipped) >= 20
    assert {"pgcli/lab/data/breast_cancer.csv", "pgcli/lab/data/README.md"} <= names
    assert not any(name.startswith(("tests/", "experiments/", "benchmarks/")) for name in names)


TOUR = [
    ["--version"],
    ["list"],
    ["estimate", "--dist", "gaussian", "--f", "step", "--n", "10,100", "--reps", "50"],
    ["fisher", "--dist", "gamma", "--theta", "shape=2,rate=3", "--n", "1000"],
    ["optimize", "--problem", "classifier", "--steps", "5"],
    ["optimize", "optimize-gaussian", "--set", "steps=5", "--set", "sweep.seeds=1"],
    ["train", "cartpole", "--seed", "0", "--set", "stop.iterations=3"],
    ["train", "--set", "stop.iterations=3"],
    ["plot", "results/train-cartpole-v1-reinforce", "--out", "curve.png"],
    ["copy", "estimators-variance", "mine.yaml"],
    ["estimate", "mine.yaml", "--set", "reps=20", "--set", "n=10"],
    ["check", "fisher-identities", "--no-run"],
]


@pytest.mark.slow
def test_the_quick_tour_runs_from_an_empty_directory(installed, tmp_path):
    bin_dir, _ = installed
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    where = subprocess.run([bin_dir / "python", "-c", "import pgcli, sys; print(pgcli.__file__); print(sys.path)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert str(bin_dir.parent) in where.splitlines()[0] and str(ROOT) not in where
    for args in TOUR:
        result = subprocess.run([bin_dir / "pgcli", *args], cwd=tmp_path, env=env, capture_output=True, text=True)
        expected = 1 if args[0] == "check" else 0  # --no-run on an empty results root: no results, so it fails
        assert result.returncode == expected, (args, result.stdout[-2000:], result.stderr[-2000:])
        assert "Traceback" not in result.stderr, (args, result.stderr)
    assert (tmp_path / "curve.png").stat().st_size > 10_000
    assert (tmp_path / "results" / "optimize-classifier" / "runs.csv").is_file()
    assert "test_accuracy" in (tmp_path / "results" / "optimize-classifier" / "runs.csv").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curve.png", "mine.yaml", "results"]
