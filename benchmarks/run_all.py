"""Run every benchmark and write benchmarks/results.csv (figure, value, ratio, reference, date,
machine): the README's "Performance" table is made from it. Each ratio is against a reference
measured in the same run (or a quoted figure, where the reference says so).

    python benchmarks/run_all.py [--big]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import cartpole_time_to_solve  # noqa: E402
import estimate_throughput  # noqa: E402
import import_time  # noqa: E402
import run_overhead  # noqa: E402
import sequence_throughput  # noqa: E402
import startup  # noqa: E402
import sweep_scaling  # noqa: E402
import train_throughput  # noqa: E402

from pgcli.shell import atomic  # noqa: E402


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big", action="store_true", help="estimate at n = 1e9 for the memory figure")
    args = parser.parse_args()
    root = HERE.parent
    rows = []
    steps = [
        lambda: estimate_throughput.measure(big=args.big),
        lambda: train_throughput.rows(),
        lambda: train_throughput.rows(sets=["batch.episodes=null", "batch.steps=2000"]),
        lambda: train_throughput.rows(str(root / "experiments" / "acrobot-ppo.yaml"), ["env.backend=envpool"]),
        lambda: train_throughput.rows(str(root / "experiments" / "pendulum-ppo.yaml"), ["env.backend=envpool"]),
        lambda: cartpole_time_to_solve.measure(),
        lambda: cartpole_time_to_solve.measure(str(root / "experiments" / "cartpole-natural.yaml")),
        lambda: sweep_scaling.measure(),
        lambda: sweep_scaling.measure_scale(10000),
        lambda: sweep_scaling.measure_blas(),
        lambda: sequence_throughput.measure(),
        lambda: import_time.rows(),
        lambda: startup.rows(),
        lambda: run_overhead.rows(),
    ]
    for step in steps:
        for row in step():
            print(f"{row['figure']}: {row['value']:.4g}  ratio {row['ratio']:.3g}  ({row['reference']})", flush=True)
            rows.append(row)
    table = pd.DataFrame(rows)
    table["date"] = datetime.date.today().isoformat()
    table["machine"] = machine()
    atomic.write_csv(HERE / "results.csv", table[["figure", "value", "ratio", "reference", "date", "machine"]])
    print(f"wrote {HERE / 'results.csv'}\n")
    print(markdown(table))


def markdown(table: pd.DataFrame) -> str:
    """The README's Performance table."""
    lines = ["| figure | value | ratio | reference |", "|---|---:|---:|---|"]
    for row in table.itertuples():
        lines.append(f"| {row.figure} | {row.value:,.4g} | {row.ratio:.2f} | {row.reference} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
