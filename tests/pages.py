"""A sample report page for the page tests and the browser test (and benchmarks/report_page.py):
what ran, a PASS/FAIL table, a long sortable paged table of runs, matplotlib figures, a comparison
of two experiments, and hostile strings wherever data goes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pgcli.shell import draw, htmlpage, stats

HOSTILE = '<script>alert("pwned")</script><img src=x onerror=alert(1)>'
SECTIONS = ("what-ran", "expectations", "runs", "figures", "compare", "hostile")
GROUPS = ("total_return", "reward_to_go", "value", "gae")


def runs_frame(n_rows: int) -> pd.DataFrame:
    """n_rows runs: run_id, label (one hostile), seed, final return (some blank), wall_s, status."""
    rng = np.random.default_rng(20261126)
    final = rng.normal(300, 150, n_rows).round(2)
    final[::7] = np.nan  # blank: runs that wrote no final value
    labels = [GROUPS[i % len(GROUPS)] for i in range(n_rows)]
    labels[3] = HOSTILE
    return pd.DataFrame(
        {
            "run_id": [f"run{i}" for i in range(n_rows)],
            "label": labels,
            "seed": np.arange(n_rows) % 5,
            "final_return": final,
            "wall_s": rng.uniform(0.1, 9.0, n_rows),
            "status": ["failed" if i % 11 == 5 else "done" for i in range(n_rows)],
        }
    )


def curves_figure(title: str, seed: int = 0, points: int = 400):
    """A convergence figure as `pgcli plot` draws one: four groups, a mean curve and a band each."""
    from matplotlib.figure import Figure

    rng = np.random.default_rng(seed)
    fig = Figure(figsize=(5.6, 4.0), layout="constrained")
    ax = fig.subplots()
    x = np.linspace(0, 150_000, points)
    for k, label in enumerate(GROUPS):
        y = 500 * (1 - np.exp(-x / (15_000 * (k + 1)))) + rng.normal(0, 4, points)
        ax.plot(x, y, label=label)
        ax.fill_between(x, y - 25, y + 25, alpha=0.2)
    ax.set(title=title, xlabel="environment steps", ylabel="mean episode return")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right")
    return fig


def profile_figure(groups: dict[str, np.ndarray]):
    """Performance profiles (pgcli.shell.stats) of the groups' final returns, with their bands."""
    from matplotlib.figure import Figure

    table = stats.profile_table(groups, n_resamples=500)
    fig = Figure(figsize=(5.6, 4.0), layout="constrained")
    ax = fig.subplots()
    for label, rows in table.groupby("group", sort=False):
        ax.step(rows["tau"], rows["fraction"], where="post", label=label)
        ax.fill_between(rows["tau"], rows["lo"], rows["hi"], step="post", alpha=0.2)
    ax.set(title="fraction of runs with final return > τ", xlabel="τ", ylabel="fraction of runs")
    ax.legend()
    return fig


def sample_page(n_rows: int = 60, n_figures: int = 2) -> htmlpage.Page:
    runs = runs_frame(n_rows)
    finals = {g: runs.loc[runs["label"] == g, "final_return"].dropna().to_numpy() for g in GROUPS}
    summary = stats.summary_table(finals, n_resamples=2000)
    expectations = pd.DataFrame(
        {
            "expectation": ["value baseline solves CartPole", "total return does not", HOSTILE],
            "measured": [487.3, 212.9, np.nan],
            "requirement": [">= 475", "< 475", "> 0"],
            "status": ["PASS", "FAIL", "SKIP"],
        }
    )
    figures = [
        htmlpage.Figure(
            draw.figure_svg(curves_figure(f"figure {k + 1}: <script>alert({k})</script>", seed=k)),
            alt=f"Learning curves of four variants, figure {k + 1} {HOSTILE}",
            caption=f"Mean return over 5 seeds with 95 % bootstrap bands ({k + 1}).",
        )
        for k in range(n_figures)
    ]
    figures.append(
        htmlpage.Figure(
            draw.figure_svg(profile_figure(finals)), alt="Performance profiles of the four variants", caption=""
        )
    )
    return htmlpage.Page(
        title=f"cartpole-sweep {HOSTILE}",
        sections=[
            htmlpage.Section(
                "what-ran",
                "What ran",
                [
                    htmlpage.KeyValues(
                        [("pgcli", "0.1.0"), ("Python", "3.11.7"), ("machine", "x86_64, 2 cores"), ("label", HOSTILE)],
                        caption="versions and machine",
                    ),
                    htmlpage.Code(
                        f"name: cartpole-sweep\nenv: {{id: CartPole-v1}}\nlabel: '{HOSTILE}'\n", caption="spec"
                    ),
                ],
            ),
            htmlpage.Section(
                "expectations",
                "Expectations",
                [htmlpage.Table(expectations, "expect: lines", formats={"measured": ".1f"}, status="status")],
            ),
            htmlpage.Section(
                "runs",
                "Runs",
                [
                    htmlpage.Text(f"{n_rows} runs; click a column's header to sort.\n\nA second paragraph: {HOSTILE}"),
                    htmlpage.Table(runs, "runs", formats={"wall_s": ".2f"}),
                    htmlpage.Table(summary, "final return: IQM and mean with 95 % stratified bootstrap intervals"),
                ],
            ),
            htmlpage.Section("figures", "Figures", figures),
            htmlpage.Section(
                "compare",
                "Comparison",
                [
                    htmlpage.Compare(
                        [
                            htmlpage.Panel("cartpole", [htmlpage.Table(summary.iloc[:2], "summary"), figures[0]]),
                            htmlpage.Panel(
                                "cartpole-natural", [htmlpage.Table(summary.iloc[2:], "summary"), figures[-1]]
                            ),
                        ],
                        caption="two experiments side by side",
                    )
                ],
            ),
            htmlpage.Section("hostile", HOSTILE, [htmlpage.Text(HOSTILE)]),
        ],
    )
