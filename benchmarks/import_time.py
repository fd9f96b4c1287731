"""Wall time of `pgcli --help` and of every `pgcli COMMAND --help` (the console script, a fresh
interpreter each time), median over --repeats runs, beside `python -c "import numpy"` and
`python -c "pass"` measured in the same run.

Goal (issues 14 and 25): each ≤ 0.3 s on the 2-core development machine, i.e. about NumPy's own
import time plus Click's; none may load SciPy, pandas, matplotlib or gymnasium
(tests/kinds/test_kinds.py checks that part).

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


def commands() -> list[str]:
    """Every command of pgcli, as `pgcli --help` lists them."""
    import click

    from pgcli.shell.cli import cli

    return cli.list_commands(click.Context(cli))


def measure(repeats: int = 15) -> dict[str, float]:
    """Median seconds of `pgcli --help`, of each `pgcli COMMAND --help`, of `python -c "import
    numpy"` and of `python -c "pass"`."""
    pgcli = [str(PGCLI)] if PGCLI.is_file() else [sys.executable, "-m", "pgcli"]
    seconds = {"pgcli --help": wall_time([*pgcli, "--help"], repeats)}
    for name in commands():
        seconds[f"pgcli {name} --help"] = wall_time([*pgcli, name, "--help"], repeats)
    seconds["python -c 'import numpy'"] = wall_time([sys.executable, "-c", "import numpy"], repeats)
    seconds["python -c 'pass'"] = wall_time([sys.executable, "-c", "pass"], repeats)
    return seconds


def rows(repeats: int = 15) -> list[dict]:
    """The figure as a row of benchmarks/results.csv (run_all.py)."""
    seconds = measure(repeats)
    numpy_s = seconds["python -c 'import numpy'"]
    helps = {command: value for command, value in seconds.items() if command.startswith("pgcli")}
    slowest = max(helps, key=helps.get)
    return [
        {
            "figure": "pgcli --help: wall-clock s (fresh interpreter)",
            "value": seconds["pgcli --help"],
            "ratio": seconds["pgcli --help"] / numpy_s,
            "reference": f"python -c 'import numpy': {numpy_s:.3g} s (goal ≤ 0.3 s)",
        },
        {
            "figure": f"slowest of the {len(helps) - 1} `pgcli COMMAND --help`: wall-clock s",
            "value": helps[slowest],
            "ratio": helps[slowest] / numpy_s,
            "reference": f"{slowest}; python -c 'import numpy': {numpy_s:.3g} s (goal ≤ 0.3 s)",
        },
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="runs per command (median)")
    args = parser.parse_args()
    seconds = measure(args.repeats)
    for command, value in seconds.items():
        print(f"{command:30s} {value:.3f} s (median of {args.repeats})")
    numpy_s = seconds["python -c 'import numpy'"]
    print(f"pgcli --help / import numpy: {seconds['pgcli --help'] / numpy_s:.2f}×")


if __name__ == "__main__":
    main()
