"""Size and speed of a report page against issue 24's budget (1 MB, written in 3 s): tests/pages.py's
sample page with 10 matplotlib figures (nine convergence figures of four 400-point curves with
bands, one performance profile) and a 1000-row runs table; and, with --results, `pgcli report` of
real results directories, run as a user runs it (a fresh interpreter: imports included), its
wall-clock (the budget's measure; other jobs on the machine slow it: the load average is printed)
and its CPU time (user + system of every thread).

    python benchmarks/report_page.py [--rows 1000] [--figures 10] [--out report.html]
    python benchmarks/report_page.py --results results/cartpole-sweep [--repeat 3]

Rows in run_all's format (figure, value, ratio, reference); the ratio is to the budget.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pgcli.shell import atomic  # noqa: E402
from pgcli.shell import htmlpage as H  # noqa: E402
from tests.pages import sample_page  # noqa: E402

BUDGET_BYTES = 1_000_000
BUDGET_SECONDS = 3.0


def measure(rows: int = 1000, figures: int = 10, out: str | None = None) -> list[dict]:
    start = time.perf_counter()
    page = sample_page(n_rows=rows, n_figures=figures - 1)  # draws the figures, SVG, statistics
    built = time.perf_counter()
    text = H.render(page)
    rendered = time.perf_counter()
    if out:
        atomic.write_bytes(out, text.encode())
    size = len(text.encode())
    figure_bytes = sum(len(b.svg) for s in page.sections for b in s.blocks if isinstance(b, H.Figure))
    what = f"{figures} figures, {rows}-row table"
    return [
        {
            "figure": "report page size (bytes)",
            "value": size,
            "ratio": size / BUDGET_BYTES,
            "reference": f"{what}; budget 1 MB",
        },
        {
            "figure": "report figures (bytes of SVG)",
            "value": figure_bytes,
            "ratio": figure_bytes / size,
            "reference": "ratio: share of the page",
        },
        {
            "figure": "report page time (s)",
            "value": rendered - start,
            "ratio": (rendered - start) / BUDGET_SECONDS,
            "reference": f"{what}: draw + SVG + statistics {built - start:.2f} s, render {rendered - built:.3f} s; budget 3 s",
        },
    ]


def measure_command(paths: list[str], repeat: int = 3) -> list[dict]:
    """`pgcli report PATHS --out TMP` in a fresh interpreter, `repeat` times: the fastest wall-clock
    and CPU time, and the page's size."""
    walls, cpus = [], []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.html"
        for _ in range(repeat):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "pgcli", "report", *paths, "--out", str(out)], check=True,
                           capture_output=True)  # fmt: skip
            walls.append(time.perf_counter() - start)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        size = out.stat().st_size
    what = f"pgcli report {' '.join(paths)}"
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    return [
        {
            "figure": f"{what}: page size (bytes)",
            "value": size,
            "ratio": size / BUDGET_BYTES,
            "reference": "budget 1 MB",
        },
        {
            "figure": f"{what}: wall-clock (s)",
            "value": min(walls),
            "ratio": min(walls) / BUDGET_SECONDS,
            "reference": f"fastest of {repeat} (median {sorted(walls)[len(walls) // 2]:.2f} s), imports included; "
            f"load average {load} on {os.cpu_count()} cores; budget 3 s",
        },
        {
            "figure": f"{what}: CPU time, user + system (s)",
            "value": min(cpus),
            "ratio": min(cpus) / BUDGET_SECONDS,
            "reference": f"fastest of {repeat}; every thread's, OpenBLAS's too, so it can exceed the wall-clock",
        },
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--figures", type=int, default=10)
    parser.add_argument("--out")
    parser.add_argument("--results", nargs="+", help="results directories: time `pgcli report` on them instead")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = measure_command(args.results, args.repeat) if args.results else measure(args.rows, args.figures, args.out)
    for row in rows:
        print(f"{row['figure']}: {row['value']:.4g}  ratio {row['ratio']:.3g}  ({row['reference']})")


if __name__ == "__main__":
    main()
