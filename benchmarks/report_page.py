"""Size and speed of a report page: tests/pages.py's sample page with 10 matplotlib figures (nine
convergence figures of four 400-point curves with bands, one performance profile) and a 1000-row
runs table, against issue 24's budget for a report (1 MB, written in 3 s).

    python benchmarks/report_page.py [--rows 1000] [--figures 10] [--out report.html]

Rows in run_all's format (figure, value, ratio, reference); the ratio is to the budget.
"""

from __future__ import annotations

import argparse
import sys
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--figures", type=int, default=10)
    parser.add_argument("--out")
    args = parser.parse_args()
    for row in measure(args.rows, args.figures, args.out):
        print(f"{row['figure']}: {row['value']:.4g}  ratio {row['ratio']:.3g}  ({row['reference']})")


if __name__ == "__main__":
    main()
