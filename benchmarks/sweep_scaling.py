"""Sweep scaling: 8 CartPole-v1 runs with --jobs 1, --jobs 2, and a 2-worker Dask LocalCluster,
in this run, on this machine (2 cores). Prints wall-clock seconds and speed-ups over --jobs 1
(goals: ≥ 1.7× for --jobs 2, ≥ 1.6× for Dask). Cluster start-up is included in Dask's time.

    python benchmarks/sweep_scaling.py [--iterations 100]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from pgcli import runner
from pgcli import spec as S

ROOT = Path(__file__).resolve().parents[1]


def runs_for(root: Path, iterations: int):
    schema = S.with_sweep(runner.KINDS["train"].schema)
    user = S.load_yaml(ROOT / "experiments" / "cartpole.yaml")
    user["stop"] = {"iterations": iterations, "env_steps": None, "target_return": None}
    user["sweep"] = {"seeds": 8}
    return runner.plan("train", schema, S.resolve(schema, user), root)


def timed(iterations, **executor):
    with tempfile.TemporaryDirectory() as tmp:
        runs = runs_for(Path(tmp), iterations)
        start = time.perf_counter()
        client = runner.dask_client(None, workers=2) if executor.pop("dask", False) else None
        try:
            results = runner.run_all(runs, client=client, quiet=True, **executor)
        finally:
            if client is not None:
                client.close()
                client.cluster.close()
        seconds = time.perf_counter() - start
        assert all(r["status"] == "done" for r in results), results
    return seconds


def measure(iterations: int = 100) -> list[dict]:
    serial = timed(iterations, jobs=1)
    jobs2 = timed(iterations, jobs=2)
    dask = timed(iterations, dask=True)
    what = f"8 CartPole runs × {iterations} iterations"
    return [
        {"figure": f"sweep: --jobs 2 speed-up ({what})", "value": jobs2, "ratio": serial / jobs2,
         "reference": f"--jobs 1: {serial:.2f} s (goal ratio ≥ 1.7)"},
        {"figure": f"sweep: Dask LocalCluster, 2 workers, speed-up ({what})", "value": dask, "ratio": serial / dask,
         "reference": f"--jobs 1: {serial:.2f} s (goal ratio ≥ 1.6; cluster start-up included)"},
    ]  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=100)
    args = parser.parse_args()
    for row in measure(args.iterations):
        print(f"{row['figure']}: {row['value']:.2f} s   speed-up {row['ratio']:.2f}x   ({row['reference']})")


if __name__ == "__main__":
    main()
