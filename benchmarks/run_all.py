"""Run every benchmark and write benchmarks/results.csv (figure, value, ratio, reference, date,
machine): the README's "Performance" table is made from it. Each ratio is against a reference
measured in the same run (or a quoted figure, where the reference says so).

    python benchmarks/run_all.py [--big]
    python benchmarks/run_all.py --quick [--out FILE]   # every benchmark at its smallest size: a check that
                                                         # they run (figures meaningless; no file unless --out)
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
    parser.add_argument("--quick", action="store_true", help="every benchmark at its smallest size (a check)")
    parser.add_argument("--out", default=None, help="CSV to write (default benchmarks/results.csv; none with --quick)")
    args = parser.parse_args()
    out = Path(args.out) if args.out else (None if args.quick else HERE / "results.csv")
    rows = []
    for step in steps(args.quick, args.big):
        for row in step():
            print(f"{row['figure']}: {row['value']:.4g}  ratio {row['ratio']:.3g}  ({row['reference']})", flush=True)
            rows.append(row)
    table = pd.DataFrame(rows)
    table["date"] = datetime.date.today().isoformat()
    table["machine"] = machine()
    if out is not None:
        atomic.write_csv(out, table[["figure", "value", "ratio", "reference", "date", "machine"]])
        print(f"wrote {out}\n")
    print(markdown(table))


def steps(quick: bool = False, big: bool = False) -> list:
    """Each benchmark's rows as a function to call, at full size or (quick) the smallest that runs."""
    train = {"iterations": 3, "warm_up": 1, "repeats": 1} if quick else {}
    cartpole = {"seeds": 1, "sets": ["stop.iterations=3"]} if quick else {}
    return [
        lambda: estimate_throughput.measure(1e5, rss_n=1e6) if quick else estimate_throughput.measure(big=big),
        lambda: train_throughput.rows(**train),
        lambda: train_throughput.rows(sets=["batch.episodes=null", "batch.steps=2000"], **train),
        lambda: train_throughput.rows("acrobot-ppo", ["env.backend=envpool"], **train),
        lambda: train_throughput.rows("pendulum-ppo", ["env.backend=envpool"], **train),
        lambda: cartpole_time_to_solve.measure("cartpole", **cartpole),
        lambda: cartpole_time_to_solve.measure("cartpole-natural", **cartpole),
        lambda: sweep_scaling.measure(2 if quick else 100),
        lambda: sweep_scaling.measure_scale(20 if quick else 10000),
        lambda: sweep_scaling.measure_blas(1 if quick else 10),
        lambda: sequence_throughput.measure(0.05, 1) if quick else sequence_throughput.measure(),
        lambda: import_time.rows(1 if quick else 15),
        lambda: startup.rows(1 if quick else 15),
        lambda: run_overhead.rows(1, seeds=2) if quick else run_overhead.rows(),
    ]


def markdown(table: pd.DataFrame) -> str:
    """The README's Performance table."""
    lines = ["| figure | value | ratio | reference |", "|---|---:|---:|---|"]
    for row in table.itertuples():
        lines.append(f"| {row.figure} | {row.value:,.4g} | {row.ratio:.2f} | {row.reference} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
