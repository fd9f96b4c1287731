"""benchmarks/vs_sb3.py: without the peers it says how to install them and exits 2; its medians
count runs that never reached the target as ∞."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
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


def test_requirements_pin_the_cpu_torch_and_sb3_on_one_line():
    pins = [line for line in (ROOT / "benchmarks" / "requirements-peers.txt").read_text().splitlines()
            if line and not line.startswith("#")]  # fmt: skip
    assert pins == ["torch==2.13.0", "stable-baselines3==2.9.2"]


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
