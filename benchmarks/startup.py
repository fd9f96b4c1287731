"""From Enter to answer: whole-command wall time of a 1-iteration `pgcli train` and of `pgcli estimate`
at n = 10, each beside the imports it cannot do without, fresh interpreters and a fresh results
directory every time. Goals (issue 27): each ≤ 0.3 s above its reference.

    pgcli train --set stop.iterations=1 --set sweep.seeds=1 -q     vs  python -c "import numpy, gymnasium"
    pgcli estimate --dist gaussian --f step --n 10 -q               vs  python -c "import numpy, scipy.special"

    python benchmarks/startup.py [--repeats 15] [--before DIR]

With --before DIR the pgcli commands also run from another source tree of pgcli (DIR first on
PYTHONPATH; e.g. `git archive main | tar -x -C DIR`), interleaved with this one's: before/after pairs
measured in one run, under the same load. Every command runs without PYTHONDONTWRITEBYTECODE, after a
warm-up run that writes its .pyc files, as an installed package has them. Prints the median and the
interquartile range of each.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PGCLI = Path(sys.executable).with_name("pgcli")  # the console script beside this interpreter
COMMANDS = {
    "train": ["train", "--set", "stop.iterations=1", "--set", "sweep.seeds=1", "-q"],
    "estimate": ["estimate", "--dist", "gaussian", "--f", "step", "--n", "10", "-q"],
}
REFERENCES = {"train": "import numpy, gymnasium", "estimate": "import numpy, scipy.special"}


def environment(source: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if source:
        env["PYTHONPATH"] = os.pathsep.join([source, *filter(None, [env.get("PYTHONPATH")])])
    else:
        env.pop("PYTHONPATH", None)
    return env


def seconds(command: list[str], env: dict, cwd: str) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=env, cwd=cwd)
    return time.perf_counter() - start


def pgcli(name: str, results: str) -> list[str]:
    entry = [str(PGCLI)] if PGCLI.is_file() else [sys.executable, "-m", "pgcli"]
    return [*entry, *COMMANDS[name], "--results", results]


def measure(repeats: int = 15, before: str | None = None) -> dict[str, list[float]]:
    """Seconds per repetition of every command (keys: 'train', 'train before', 'import numpy,
    gymnasium', ...), the commands interleaved within each repetition."""
    sources = {"": None, **({" before": before} if before else {})}
    times: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        jobs = []
        for name in COMMANDS:
            for suffix, source in sources.items():
                jobs.append((f"{name}{suffix}", name, source))
            jobs.append((REFERENCES[name], None, None))
        for repeat in range(repeats + 1):  # the first round writes .pyc files and warms the file cache
            for key, name, source in jobs:
                if name is None:
                    command = [sys.executable, "-c", key]
                else:
                    command = pgcli(name, str(Path(tmp) / f"r{repeat}-{len(times.get(key, []))}-{key}"))
                elapsed = seconds(command, environment(source), tmp)
                if repeat:
                    times.setdefault(key, []).append(elapsed)
    return times


def rows(repeats: int = 15) -> list[dict]:
    """The figures as rows of benchmarks/results.csv (run_all.py): seconds above the reference."""
    times = measure(repeats)
    out = []
    for name, reference in REFERENCES.items():
        above = statistics.median(a - b for a, b in zip(times[name], times[reference], strict=True))
        out.append({
            "figure": f"pgcli {' '.join(COMMANDS[name])}: whole command, s above the reference",
            "value": above,
            "ratio": statistics.median(times[name]) / statistics.median(times[reference]),
            "reference": f"python -c '{reference}': {statistics.median(times[reference]):.3g} s (goal ≤ +0.3 s)",
        })  # fmt: skip
    return out


def spread(values: list[float]) -> str:
    q1, _, q3 = statistics.quantiles(values, n=4) if len(values) > 1 else (values[0],) * 3
    return f"{statistics.median(values):.3f} s (IQR {q1:.3f}–{q3:.3f})"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="runs per command (median)")
    parser.add_argument("--before", default=None, help="another pgcli source tree, timed interleaved")
    args = parser.parse_args()
    times = measure(args.repeats, args.before)
    for key, values in times.items():
        print(f"{key:32s} {spread(values)}")
    for name, reference in REFERENCES.items():
        for key in [k for k in times if k.split()[0] == name]:
            above = [a - b for a, b in zip(times[key], times[reference], strict=True)]
            print(f"{key} − ({reference}): median {statistics.median(above):+.3f} s (goal ≤ +0.3 s)")


if __name__ == "__main__":
    main()
