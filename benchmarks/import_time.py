"""Wall time of `pgcli --help` (the console script, a fresh interpreter each time), median over
--repeats runs, beside `python -c "import numpy"` and `python -c "pass"` measured in the same run.

Goal (issue 14): `pgcli --help` ≤ 0.3 s on the 2-core development machine, i.e. about NumPy's own
import time plus Click's; it must not load SciPy, pandas, matplotlib or gymnasium
(tests/test_layers.py checks that part).

    python benchmarks/import_time.py [--repeats 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

PGCLI = Path(sys.executable).with_name("pgcli")  # the console script beside this interpreter


def wall_time(command: list[str], repeats: int) -> float:
    """Median wall time in seconds of `command` run `repeats` times (after one warm-up run)."""
    subprocess.run(command, check=True, capture_output=True)  # warm the file cache and .pyc files
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(repeats: int = 15) -> dict[str, float]:
    """Median seconds of `pgcli --help`, `python -c "import numpy"` and `python -c "pass"`."""
    help_command = [str(PGCLI), "--help"] if PGCLI.is_file() else [sys.executable, "-m", "pgcli", "--help"]
    return {
        "pgcli --help": wall_time(help_command, repeats),
        "python -c 'import numpy'": wall_time([sys.executable, "-c", "import numpy"], repeats),
        "python -c 'pass'": wall_time([sys.executable, "-c", "pass"], repeats),
    }


def rows(repeats: int = 15) -> list[dict]:
    """The figure as a row of benchmarks/results.csv (run_all.py)."""
    seconds = measure(repeats)
    numpy_s = seconds["python -c 'import numpy'"]
    return [
        {
            "figure": "pgcli --help: wall-clock s (fresh interpreter)",
            "value": seconds["pgcli --help"],
            "ratio": seconds["pgcli --help"] / numpy_s,
            "reference": f"python -c 'import numpy': {numpy_s:.3g} s (goal ≤ 0.3 s)",
        }
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="runs per command (median)")
    args = parser.parse_args()
    seconds = measure(args.repeats)
    for command, value in seconds.items():
        print(f"{command:28s} {value:.3f} s (median of {args.repeats})")
    numpy_s = seconds["python -c 'import numpy'"]
    print(f"pgcli --help / import numpy: {seconds['pgcli --help'] / numpy_s:.2f}×")


if __name__ == "__main__":
    main()
