"""Throughput of `pgcli estimate`'s score estimator for a gaussian, against raw numpy sampling.

Prints pgcli's samples/s ÷ numpy's `Generator.standard_normal` samples/s, both measured here in
the same run, in the same chunk size (goal: ≥ 0.5). With torch installed, torch.randn's rate is
printed as another reference. Also measures the peak RSS of `pgcli estimate --n 1e9`-style runs
in bounded memory (a shorter n by default; pass --big for the full 1e9).

    python benchmarks/estimate_throughput.py [--samples 5e7] [--big]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import numpy as np

from pgcli import distributions as D
from pgcli.estimate import CHUNK_ELEMENTS, run_cell
from pgcli.estimators import score
from pgcli.functions import parse_function


def raw_rate(n, chunk, rng):
    start = time.perf_counter()
    for _ in range(n // chunk):
        rng.standard_normal(chunk)
    return (n // chunk) * chunk / (time.perf_counter() - start)


def pgcli_rate(n, rng):
    dist = D.make_dist("gaussian", None, {"mu": 0.3, "sigma": 1.2})
    f = parse_function("square")
    start = time.perf_counter()
    run_cell(score, dist, f, n, 1, rng)
    return n / (time.perf_counter() - start)


def torch_rate(n, chunk):
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    start = time.perf_counter()
    for _ in range(n // chunk):
        torch.randn(chunk, dtype=torch.float64)
    return (n // chunk) * chunk / (time.perf_counter() - start)


def peak_rss_mb(n):
    """Peak RSS of a separate `pgcli estimate` process with one huge-n cell."""
    code = (
        "import resource, sys; from pgcli.cli import cli; "
        f"cli.main(['estimate', '--dist', 'gaussian', '--f', 'square', '--estimators', 'score', "
        f"'--n', '{n}', '--reps', '1', '--results', '/tmp/pgcli-bench', '-q', '--force'], "
        "standalone_mode=False); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, file=sys.stderr)"
    )
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(done.stderr.strip().splitlines()[-1]), time.perf_counter() - start


def measure(samples: float = 5e7, big: bool = False) -> list[dict]:
    """Rows for benchmarks/results.csv (figure, value, ratio, reference)."""
    n = int(samples)
    chunk = CHUNK_ELEMENTS // 2  # the chunk pgcli uses for a 1-D gaussian (d = 2)
    rng = np.random.default_rng(0)
    raw_rate(n // 10, chunk, rng)  # warm up
    raw = float(np.median([raw_rate(n, chunk, rng) for _ in range(3)]))
    ours = float(np.median([pgcli_rate(n, rng) for _ in range(3)]))
    rows = [
        {
            "figure": "estimate: score estimator, gaussian, samples/s",
            "value": ours,
            "ratio": ours / raw,
            "reference": f"numpy standard_normal {raw:.4g} samples/s (goal ratio ≥ 0.5)",
        }
    ]
    rate = torch_rate(n, chunk)
    if rate:
        rows.append({"figure": "torch.randn float64, 1 thread, samples/s", "value": rate, "ratio": rate / raw,
                     "reference": f"numpy standard_normal {raw:.4g} samples/s"})  # fmt: skip
    big_n = int(1e9) if big else int(1e8)
    rss, seconds = peak_rss_mb(big_n)
    rows.append({"figure": f"estimate --n {big_n:.0e}: peak RSS (MB)", "value": rss, "ratio": rss / 300,
                 "reference": f"goal ≤ 300 MB; took {seconds:.1f} s"})  # fmt: skip
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=float, default=5e7)
    parser.add_argument("--big", action="store_true", help="peak RSS at n = 1e9 (≈ 20 s)")
    args = parser.parse_args()
    for row in measure(args.samples, args.big):
        print(f"{row['figure']}: {row['value']:.4g}   ratio {row['ratio']:.2f}   ({row['reference']})")


if __name__ == "__main__":
    main()
