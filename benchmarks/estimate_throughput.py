"""Throughput of `pgcli estimate`'s score estimator for a gaussian, against raw numpy sampling.

Prints pgcli's samples/s ÷ numpy's `Generator.standard_normal` samples/s, both measured here in
the same run, in the same chunk size (goal: ≥ 0.5), in float64 and float32 (`--dtype`). With
torch installed (`pip install -r benchmarks/requirements-peers.txt`), the same estimator written
in PyTorch — x = μ + σε, terms f(x)·[z/σ, (z² − 1)/σ], f = x², summed — runs in the same chunks
in float64 and float32 (one thread, like NumPy), the goal being pgcli float32 ≥ torch float32.
Also the new estimators' throughput, and the peak RSS of a `pgcli estimate --n 1e9`-style run in
bounded memory (a shorter n by default; pass --big for the full 1e9).

    python benchmarks/estimate_throughput.py [--samples 5e7] [--big | --rss-n 1e8]    # --samples 1e5 --rss-n 1e6: quick
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import numpy as np

from pgcli.lab import distributions as D
from pgcli.lab.estimate import CHUNK_ELEMENTS, run_cell
from pgcli.lab.estimators import ESTIMATORS, score
from pgcli.lab.functions import parse_function


def raw_rate(n, chunk, rng, dtype="float64"):
    chunks = max(1, n // chunk)
    start = time.perf_counter()
    for _ in range(chunks):
        rng.standard_normal(chunk, dtype=dtype)
    return chunks * chunk / (time.perf_counter() - start)


def pgcli_rate(n, rng, dtype="float64", estimator=score, family="gaussian", theta=None, dim=None, reps=1):
    parametrisation = "logit" if family == "bernoulli" else None
    dist = D.make_dist(family, parametrisation, theta or {"mu": 0.3, "sigma": 1.2}, dim, dtype)
    f = parse_function("square")
    start = time.perf_counter()
    run_cell(estimator, dist, f, n // reps, reps, rng)
    return n / (time.perf_counter() - start)


def torch_rate(n, chunk, dtype):
    """The score estimator of ∂/∂(μ, σ) E[x²] in PyTorch, chunk by chunk, with the sums of the
    terms and of their squares (pgcli reports the standard error too); None without torch."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    torch.manual_seed(0)
    kind = getattr(torch, dtype)
    mu, sigma = torch.tensor(0.3, dtype=kind), torch.tensor(1.2, dtype=kind)
    sums, squares = torch.zeros(2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64)
    start = time.perf_counter()
    for _ in range(n // chunk):
        eps = torch.randn(chunk, dtype=kind)
        x = mu + sigma * eps
        fx = x * x
        terms = torch.stack([fx * eps / sigma, fx * (eps * eps - 1) / sigma])
        sums += terms.sum(1).double()
        squares += (terms * terms).sum(1).double()
    return (n // chunk) * chunk / (time.perf_counter() - start)


NEW = {  # the variance-reduction lab's estimators, on a family each applies to
    "score_antithetic": ("gaussian", None, None),
    "score_rqmc": ("gaussian", None, None),
    "score_cv_delta": ("gaussian", None, None),
    "arm": ("bernoulli", {"logit": [0.3] * 8}, 8),
    "disarm": ("bernoulli", {"logit": [0.3] * 8}, 8),
    "score (bernoulli, d = 8)": ("bernoulli", {"logit": [0.3] * 8}, 8),
}


def peak_rss_mb(n):
    """Peak RSS of a separate `pgcli estimate` process with one huge-n cell."""
    code = (
        "import resource, sys; from pgcli.shell.cli import cli; "
        f"cli.main(['estimate', '--dist', 'gaussian', '--f', 'square', '--estimators', 'score', "
        f"'--n', '{n}', '--reps', '1', '--results', '/tmp/pgcli-bench', '-q', '--force'], "
        "standalone_mode=False); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, file=sys.stderr)"
    )
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(done.stderr.strip().splitlines()[-1]), time.perf_counter() - start


def measure(samples: float = 5e7, big: bool = False, rss_n: float | None = None) -> list[dict]:
    """Rows for benchmarks/results.csv (figure, value, ratio, reference)."""
    n = int(samples)
    chunk = CHUNK_ELEMENTS // 2  # the chunk pgcli uses for a 1-D gaussian (d = 2)
    rng = np.random.default_rng(0)
    raw_rate(n // 10, chunk, rng)  # warm up
    rows, ours = [], {}
    for dtype in ("float64", "float32"):
        raw = float(np.median([raw_rate(n, chunk, rng, dtype) for _ in range(3)]))
        ours[dtype] = float(np.median([pgcli_rate(n, rng, dtype) for _ in range(3)]))
        rows.append({"figure": f"estimate: score estimator, gaussian, {dtype}, samples/s", "value": ours[dtype],
                     "ratio": ours[dtype] / raw,
                     "reference": f"numpy standard_normal {dtype} {raw:.4g} samples/s (goal ratio ≥ 0.5)"})  # fmt: skip
    for dtype in ("float64", "float32"):
        rates = [torch_rate(n, chunk, dtype) for _ in range(3)]
        if rates[0] is not None:
            rate = float(np.median(rates))
            rows.append({"figure": f"torch: the same score estimator, {dtype}, 1 thread, samples/s", "value": rate,
                         "ratio": ours[dtype] / rate,
                         "reference": f"ratio = pgcli {dtype} ÷ torch (goal ≥ 1 in float32)"})  # fmt: skip
    for name, (family, theta, dim) in NEW.items():
        estimator = ESTIMATORS[name.split()[0]]
        rate = pgcli_rate(n // 10, rng, "float64", estimator, family, theta, dim, reps=100)
        rows.append({"figure": f"estimate: {name}, {family}, samples/s", "value": rate, "ratio": rate / ours["float64"],
                     "reference": "ratio to the gaussian score estimator (float64); 100 reps of n/100"})  # fmt: skip
    big_n = int(rss_n or (1e9 if big else 1e8))
    rss, seconds = peak_rss_mb(big_n)
    rows.append({"figure": f"estimate --n {big_n:.0e}: peak RSS (MB)", "value": rss, "ratio": rss / 300,
                 "reference": f"goal ≤ 300 MB; took {seconds:.1f} s"})  # fmt: skip
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=float, default=5e7)
    parser.add_argument("--big", action="store_true", help="peak RSS at n = 1e9 (≈ 20 s)")
    parser.add_argument("--rss-n", type=float, default=None, help="peak RSS at this n (default 1e8; 1e9 with --big)")
    args = parser.parse_args()
    for row in measure(args.samples, args.big, args.rss_n):
        print(f"{row['figure']}: {row['value']:.4g}   ratio {row['ratio']:.2f}   ({row['reference']})")


if __name__ == "__main__":
    main()
