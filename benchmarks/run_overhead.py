"""Per-run overhead: what a sweep costs beyond its runs' own computing. Goal (issue 27): ≤ 20 ms a run.

    pgcli train cartpole --set sweep.seeds=20 -q --results TMP

is timed as a whole command (process start to exit); each run's `wall_s` in runs.csv is its own
computing (the training run, its table as CSV text). The overhead is

    (whole command − Σ wall_s) / 20

everything else: start-up (imports), planning and validating the runs, run directories, config.yaml,
checksums, status files, runs.csv and the combined table, printing. The start-up alone, measured in
the same round as a 1-iteration run's whole command minus its wall_s, is reported beside it.

    python benchmarks/run_overhead.py [--repeats 5] [--seeds 20] [--before DIR]

--before DIR times the same with another pgcli source tree first on PYTHONPATH, interleaved (see
benchmarks/startup.py); both run without PYTHONDONTWRITEBYTECODE after a warm-up round.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tempfile
import time
from pathlib import Path

from startup import PGCLI, environment

ROOT = Path(__file__).resolve().parents[1]


def whole_and_runs(args: list[str], env: dict, results: Path) -> tuple[float, list[float]]:
    """(whole-command seconds, the runs' wall_s from runs.csv)."""
    import subprocess

    entry = [str(PGCLI)] if PGCLI.is_file() else [sys.executable, "-m", "pgcli"]
    start = time.perf_counter()
    subprocess.run([*entry, *args, "--results", str(results)], check=True, capture_output=True, env=env)
    whole = time.perf_counter() - start
    (runs_csv,) = results.rglob("runs.csv")
    with runs_csv.open() as handle:
        return whole, [float(row["wall_s"]) for row in csv.DictReader(handle)]


def measure(repeats: int = 5, seeds: int = 20, before: str | None = None) -> dict[str, dict[str, list[float]]]:
    """Per source ('after', and 'before' with --before): per repetition, the sweep's overhead per
    run (s), its whole-command time, Σ wall_s, and the 1-iteration command's whole − wall_s."""
    spec = "cartpole"
    sweep = ["train", spec, "--set", f"sweep.seeds={seeds}", "-q", "--name", "overhead"]
    single = ["train", "--set", "stop.iterations=1", "--set", "sweep.seeds=1", "-q"]
    sources = {"after": None, **({"before": before} if before else {})}
    out = {name: {"per_run": [], "whole": [], "sum_wall_s": [], "start_up": []} for name in sources}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(repeats + 1):  # the first round writes .pyc files
            for name, source in sources.items():
                env = environment(source)
                whole, walls = whole_and_runs(sweep, env, Path(tmp) / f"{name}-{repeat}-sweep")
                single_whole, single_walls = whole_and_runs(single, env, Path(tmp) / f"{name}-{repeat}-single")
                if repeat:
                    out[name]["per_run"].append((whole - sum(walls)) / len(walls))
                    out[name]["whole"].append(whole)
                    out[name]["sum_wall_s"].append(sum(walls))
                    out[name]["start_up"].append(single_whole - sum(single_walls))
    return out


def rows(repeats: int = 3, seeds: int = 20) -> list[dict]:
    """The figure as a row of benchmarks/results.csv (run_all.py)."""
    figures = measure(repeats, seeds)["after"]
    per_run, start_up = statistics.median(figures["per_run"]), statistics.median(figures["start_up"])
    return [
        {
            "figure": f"{seeds}-seed CartPole sweep: overhead per run, ms (whole command − Σ wall_s) / {seeds}",
            "value": per_run * 1000,
            "ratio": per_run / 0.020,
            "reference": f"goal ≤ 20 ms; start-up alone {start_up:.3g} s",
        }
    ]


def spread(values: list[float], scale: float = 1.0, unit: str = "s") -> str:
    q1, _, q3 = statistics.quantiles(values, n=4) if len(values) > 1 else (values[0],) * 3
    return f"{statistics.median(values) * scale:.3g} {unit} (IQR {q1 * scale:.3g}–{q3 * scale:.3g})"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--before", default=None, help="another pgcli source tree, timed interleaved")
    args = parser.parse_args()
    for name, figures in measure(args.repeats, args.seeds, args.before).items():
        print(
            f"{name}: overhead per run {spread(figures['per_run'], 1000, 'ms')} (goal ≤ 20 ms); "
            f"whole command {spread(figures['whole'])}, Σ wall_s {spread(figures['sum_wall_s'])}; "
            f"start-up (1-iteration command − its wall_s) {spread(figures['start_up'])}"
        )


if __name__ == "__main__":
    main()
