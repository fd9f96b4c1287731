"""A toy experiment kind defined entirely here, outside pgcli/ (tests/shell/test_kinds.py registers it):
a noisy geometric approach to a target, one row per step — enough to exercise the spine."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pgcli.base.fields import Field, positive
from pgcli.kinds import Flag, Kind, PlotDefaults, Result, Target, runs_table

SCHEMA = {
    "rate": Field("float", 0.5, "fraction of the gap closed per step", check=positive),
    "steps": Field("int", 6, "steps", check=positive),
}


def run(spec: dict, progress) -> Result:
    rng = np.random.default_rng(spec["seed"])
    value, rows = 0.0, []
    progress(0, spec["steps"])
    for step in range(spec["steps"]):
        value += spec["rate"] * (1.0 - value) + 0.01 * rng.standard_normal()
        rows.append({"step": step, "samples": step + 1, "score": value, "wall_s": 0.0})
        progress(step + 1, spec["steps"])
    return Result(pd.DataFrame(rows))


KIND = Kind(
    name="toy",
    help="""Close a gap geometrically, with noise (a toy kind defined in tests/).

    \b
    Examples:
      pgcli toy --rate 0.3
    """,
    schema=SCHEMA,
    subject=lambda spec: f"rate{spec['rate']:g}",
    validate=lambda spec: None,
    run=run,
    table="toy.csv",
    columns=lambda spec: ["step", "samples", "score", "wall_s"],
    summary=lambda table, spec: {"final_score": table["score"].iloc[-1]},
    summary_columns=lambda spec: ["final_score"],
    target=Target("score", "samples"),
    plot=PlotDefaults(figure="convergence", signature="score", x="samples", y="score"),
    flags=(Flag(("--rate",), "rate", "Fraction of the gap closed per step."),),
    show=lambda shown: runs_table(shown.runs, ["label", "status", "final_score"], digits=4),
)
