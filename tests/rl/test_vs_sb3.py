"""benchmarks/vs_sb3.py: without the peers it says how to install them and exits 2; its medians
count runs that never reached the target as ∞."""

import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import vs_sb3  # noqa: E402


@pytest.mark.skipif(importlib.util.find_spec("torch") is not None, reason="the peers are installed here")
def test_missing_peers_exit_2_with_the_install_line(tmp_path):
    out = tmp_path / "race.csv"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "vs_sb3.py"), "--out", str(out)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("Error:") and "pip install -r benchmarks/requirements-peers.txt" in line
    assert not out.exists()


def test_requirements_pin_exactly_the_peers_the_committed_race_was_measured_with(monkeypatch):
    """Every line an exact `name==version` pin, one per peer the race imports (a torch without a
    pin pulls the CUDA build); the pinned versions are those benchmarks/results-vs-sb3.csv records
    (torch's local +cpu tag aside), and no peer is a pgcli dependency, in any extra."""
    lines = [line for line in (ROOT / "benchmarks" / "requirements-peers.txt").read_text().splitlines()
             if line.strip() and not line.startswith("#")]  # fmt: skip
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][0-9A-Za-z.]*", line) for line in lines), lines
    pins = dict(line.split("==") for line in lines)
    with monkeypatch.context() as patch:  # with nothing installed, the race names every peer it imports
        patch.setattr(vs_sb3.importlib.util, "find_spec", lambda name: None)
        peers = vs_sb3.missing_peers()
    assert {name.replace("-", "_") for name in pins} == set(peers)
    recorded = pd.read_csv(ROOT / "benchmarks" / "results-vs-sb3.csv")["versions"].unique()
    assert recorded.size >= 1
    for text in recorded:
        measured = dict(part.rsplit(" ", 1) for part in text.split(", "))
        assert {name: measured[name].split("+")[0] for name in pins} == pins, text
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    named = {re.match(r"[A-Za-z0-9_.-]+", r).group(0).lower() for r in requirements}
    assert not named & {name.lower() for name in pins}


def test_medians_count_unreached_runs_as_infinite():
    nan = float("nan")
    assert vs_sb3.median_or_inf([3.0, 1.0, 2.0]) == 2.0
    assert vs_sb3.median_or_inf([3.0, nan, 1.0]) == 3.0
    assert vs_sb3.median_or_inf([3.0, nan, nan]) == float("inf")
    assert vs_sb3.median_or_inf([1.0, 2.0, 4.0, nan]) == 3.0


def test_every_task_has_a_zoo_ppo_entry_and_a_shipped_spec():
    assert set(vs_sb3.ZOO_PPO) == set(vs_sb3.TASKS)
    for task in vs_sb3.TASKS.values():
        assert (ROOT / task.spec).is_file()
