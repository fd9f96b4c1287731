"""Sweep scaling: 8 CartPole-v1 runs with --jobs 1, --jobs 2, and a 2-worker Dask LocalCluster,
in this run, on this machine (2 cores). Prints wall-clock seconds and speed-ups over --jobs 1
(goals: ≥ 1.7× for --jobs 2, ≥ 1.6× for Dask). Cluster start-up is included in Dask's time.

    python benchmarks/sweep_scaling.py [--iterations 100]        # --iterations 2: a quick check that it runs

With --runs N, a sweep of N tiny estimate runs instead: time to plan, scheduling overhead per run
on a 2-worker Dask LocalCluster (wall-clock minus the runs' own compute time over 2 workers),
time to check that all N are finished (a resumed sweep), and time and peak traced memory
(tracemalloc) to aggregate them, beside the same for N/10 runs (goals: plan + resume ≤ 5 s,
overhead ≤ 20 ms per run, aggregation memory not growing with N beyond runs.csv itself).

    python benchmarks/sweep_scaling.py --runs 10000

With --blas, what computing with one BLAS thread (every executor does) costs --jobs 1 on
policy.hidden [256, 256], against the BLAS library's own thread count (2 runs × --iterations, default 10).

    python benchmarks/sweep_scaling.py --blas [--iterations 10]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from pathlib import Path

import pgcli.library
from pgcli.shell import executors, plan, results, runner
from pgcli.shell.experiment import build_spec, plan_runs, schema_of

CARTPOLE = str(pgcli.library.directory() / "cartpole.yaml")
# the bundled cartpole spec run for a fixed number of iterations (no env-step budget, no target)
FIXED = ["stop.env_steps=null", "stop.target_return=null"]


def cartpole_runs(root: Path, iterations: int, seeds: int, sets=()):
    """The runs of `pgcli train cartpole --set stop.iterations=N --set sweep.seeds=S [--set ...]`
    under root, planned and validated as the command line plans them."""
    sets = [f"stop.iterations={iterations}", *FIXED, f"sweep.seeds={seeds}", *sets]
    return plan_runs("train", build_spec("train", CARTPOLE, {}, sets, None, None), root)


def runs_for(root: Path, iterations: int):
    return cartpole_runs(root, iterations, 8)


def timed(iterations, **executor):
    with tempfile.TemporaryDirectory() as tmp:
        runs = runs_for(Path(tmp), iterations)
        start = time.perf_counter()
        client = executors.dask_client(None, workers=2) if executor.pop("dask", False) else None
        try:
            outcomes = runner.run_all(runs, client=client, **executor)
        finally:
            if client is not None:
                client.close()
                client.cluster.close()
        seconds = time.perf_counter() - start
        done(outcomes)
    return seconds


def done(outcomes: list[dict]) -> None:
    """Stop the benchmark if a run did not finish: its time would not be a sweep's."""
    bad = [r for r in outcomes if r["status"] != "done"]
    if bad:
        raise SystemExit(f"{len(bad)} of {len(outcomes)} runs not done, e.g. {bad[0]['status']}: {bad[0]['message']}")


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


def tiny_runs(root: Path, count: int):
    """The sweep expanded into runs with their ids (pgcli.shell.plan.runs); the command line also
    validates each run (experiment.plan_runs), which this time leaves out, as it always has."""
    flags = {"dist": "gaussian", "f": ["step"], "estimators": ["score"], "n": [10], "reps": 2}
    spec = build_spec("estimate", None, flags, [f"sweep.seeds={count}"], None, "tiny")
    return plan.runs("estimate", schema_of("estimate"), spec, root)


def timed_call(function, *args, **kwargs):
    start = time.perf_counter()
    value = function(*args, **kwargs)
    return value, time.perf_counter() - start


def peak_memory(function, *args) -> float:
    """Peak traced memory (MB) while `function` runs."""
    tracemalloc.start()
    try:
        function(*args)
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def measure_scale(count: int, workers: int = 2) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        runs, plan_s = timed_call(tiny_runs, root, count)
        client = executors.dask_client(None, workers=workers, runs=runs)
        try:
            outcomes, dask_s = timed_call(runner.run_all, runs, client=client)
        finally:
            client.close()
            client.cluster.close()
        done(outcomes)
        compute_s = sum(r["wall_s"] for r in outcomes)
        overhead_ms = (dask_s - compute_s / workers) / count * 1000
        results._VERIFIED.clear()  # a resumed sweep is a new process: nothing verified yet
        resumed, resume_s = timed_call(runner.run_all, runs)
        if not all(r.get("skipped") for r in resumed):
            raise SystemExit("the resumed sweep computed runs again: its time is not a resume check's")
        _, aggregate_s = timed_call(results.aggregate, runs, resumed, root / "tiny")
        tenth = runs[: max(1, count // 10)]
        small_mb = peak_memory(results.aggregate, tenth, [None] * len(tenth), root / "tenth")
        big_mb = peak_memory(results.aggregate, runs, [None] * count, root / "all")
        table_mb = (root / "all" / "estimate.csv").stat().st_size / 1e6
        runs_mb = (root / "all" / "runs.csv").stat().st_size / 1e6
    what = f"{count} tiny estimate runs"
    return [
        {"figure": f"sweep of {what}: plan + resume check, s", "value": plan_s + resume_s, "ratio": (plan_s + resume_s) / 5,
         "reference": f"plan {plan_s:.2f} s, resume check {resume_s:.2f} s (goal ≤ 5 s)"},
        {"figure": f"sweep of {what}: Dask scheduling overhead per run, ms ({workers}-worker LocalCluster)",
         "value": overhead_ms, "ratio": overhead_ms / 20,
         "reference": f"{dask_s:.1f} s wall-clock, {compute_s:.1f} s computing (goal ≤ 20 ms)"},
        {"figure": f"sweep of {what}: aggregate, s", "value": aggregate_s, "ratio": aggregate_s / count * 1000,
         "reference": "ratio: ms per run"},
        {"figure": f"sweep of {what}: aggregate peak traced memory, MB", "value": big_mb, "ratio": big_mb / small_mb,
         "reference": f"{len(tenth)} runs: {small_mb:.2f} MB; output {table_mb:.1f} MB table + {runs_mb:.2f} MB runs.csv"},
    ]  # fmt: skip


def measure_blas(iterations: int = 10) -> list[dict]:
    """--jobs 1 on policy.hidden [256, 256]: one BLAS thread against the library's default."""
    seconds, kept = {}, executors.BLAS_THREADS
    try:
        for threads in [1, None]:  # None: threadpoolctl leaves the BLAS library's own thread count
            executors.BLAS_THREADS = threads
            with tempfile.TemporaryDirectory() as tmp:
                runs = cartpole_runs(Path(tmp), iterations, 2, ["policy.kind=mlp", "policy.hidden=[256, 256]"])
                outcomes, seconds[threads] = timed_call(runner.run_all, runs)
                done(outcomes)
    finally:
        executors.BLAS_THREADS = kept
    one, default = seconds[1], seconds[None]
    return [{"figure": f"--jobs 1, policy.hidden [256, 256] (2 runs × {iterations} iterations): one BLAS thread, s",
             "value": one, "ratio": one / default,
             "reference": f"BLAS default threads: {default:.2f} s"}]  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=None, help="per run (default 100; 10 with --blas)")
    parser.add_argument("--runs", type=int, default=None, help="the N-run tiny sweep instead")
    parser.add_argument("--blas", action="store_true", help="the cost of one BLAS thread instead")
    args = parser.parse_args()
    if args.runs:
        rows = measure_scale(args.runs)
    elif args.blas:
        rows = measure_blas(args.iterations or 10)
    else:
        rows = measure(args.iterations or 100)
    for row in rows:
        print(f"{row['figure']}: {row['value']:.4g}   ratio {row['ratio']:.3g}   ({row['reference']})")


if __name__ == "__main__":
    main()
