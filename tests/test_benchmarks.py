"""Every script in benchmarks/ runs, at its smallest size, against today's pgcli: a benchmark that calls an
API that has since changed fails here instead of at the next `make benchmarks`.

Each case runs the script as a user does (a fresh interpreter, from an empty working directory) and
checks that it exits 0, prints no traceback and prints its figures, the lines that compare a
measurement with its reference (`ratio …`, `… / import numpy: …×`, `… − (import …): median …`). The
figures themselves are not checked: at these sizes they mean nothing, and no test times anything.
"""

import csv
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
NUMBER = r"(?:[+-]?\d[\d,.]*(?:e[+-]?\d+)?|nan|inf)"
RATIO = re.compile(rf"\bratio {NUMBER}")

SLOW = True  # the case took a second or more (pytest --durations; make test-fast leaves it out)

# script -> [(its arguments at the smallest size, a pattern of its figure lines, how many at least, slow)]
CASES = {
    "cartpole_time_to_solve.py": [(["--quick"], RATIO, 2, not SLOW)],
    "estimate_throughput.py": [(["--samples", "1e5", "--rss-n", "1e6"], RATIO, 9, SLOW)],
    "hostile_audit.py": [
        (["--only", "yaml.py beside the spec"], re.compile(r"^1 cases, 1 kept the contract"), 1, not SLOW)
    ],
    "import_time.py": [(["--repeats", "1"], re.compile(rf"^pgcli --help / import numpy: {NUMBER}×$"), 1, SLOW)],
    "report_page.py": [(["--rows", "60", "--figures", "2"], RATIO, 3, SLOW)],
    "run_all.py": [(["--quick", "--out", "results.csv"], RATIO, 14, SLOW)],  # at least one row per benchmark
    "run_overhead.py": [(["--repeats", "1", "--seeds", "2"], re.compile(rf"overhead per run {NUMBER} ms"), 1, SLOW)],
    "sequence_throughput.py": [(["--seconds", "0.05", "--rounds", "1"], RATIO, 4, not SLOW)],
    "startup.py": [(["--repeats", "1"], re.compile(rf"− \(import [^)]*\): median {NUMBER} s"), 2, SLOW)],
    "sweep_scaling.py": [
        (["--iterations", "2"], RATIO, 2, SLOW),
        (["--runs", "20"], RATIO, 4, SLOW),
        (["--blas", "--iterations", "1"], RATIO, 1, not SLOW),
    ],
    "train_throughput.py": [(["--iterations", "3", "--warm-up", "1", "--repeats", "1"], RATIO, 1, not SLOW)],
}
# scripts whose cheap check lives elsewhere: vs_sb3.py needs torch and stable-baselines3, and without
# them it must exit 2 with the install line
ELSEWHERE = {"vs_sb3.py": "tests/rl/test_vs_sb3.py"}


def test_every_benchmark_has_a_check():
    scripts = {path.name for path in BENCHMARKS.glob("*.py")}
    assert scripts == set(CASES) | set(ELSEWHERE), "give every script in benchmarks/ a case in CASES"
    for script, test in ELSEWHERE.items():
        assert f"benchmarks/{script}" in (ROOT / test).read_text()


@pytest.mark.parametrize(
    ("script", "args", "pattern", "least"),
    [
        pytest.param(
            script, args, pattern, least, marks=[pytest.mark.slow] if slow else [], id=" ".join([script, *args])
        )
        for script, cases in CASES.items()
        for args, pattern, least, slow in cases
    ],
)
def test_benchmark_runs_at_its_smallest_size(tmp_path, script, args, pattern, least):
    done = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stdout + done.stderr
    figures = [line for line in done.stdout.splitlines() if pattern.search(line)]
    assert len(figures) >= least, done.stdout
    if script == "run_all.py":  # and it writes the table it prints, here and not over benchmarks/results.csv
        with (tmp_path / "results.csv").open() as handle:
            rows = list(csv.DictReader(handle))
        assert len(rows) == len(figures)
        assert all(line.startswith(f"{row['figure']}: ") for row, line in zip(rows, figures, strict=True))
