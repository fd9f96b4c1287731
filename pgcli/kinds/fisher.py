"""The `fisher` kind: the score identities E[s] = 0 and Cov[s] = F = −E[∇² log p], by Monte Carlo
against exact values (pgcli.lab.fisher)."""

from __future__ import annotations

from pgcli.base.fields import Field
from pgcli.kinds import Flag, Kind, PlotDefaults, Result, Shown, distribution
from pgcli.lab import fisher as core
from pgcli.lab.dist_spec import make_dists, samples_problem
from pgcli.lab.estimate import MAX_N

SCHEMA = {
    **distribution.SCHEMA,
    "n": Field("ints", [1000, 10000, 100000], "samples per estimate", check=lambda v: samples_problem(v, MAX_N)),
}


def settings(spec: dict) -> core.Settings:
    """The lab's settings of a resolved spec: every θ point as a Dist (SpecError at `theta`)."""
    return core.Settings(make_dists(spec["dist"], spec["parametrisation"], spec["theta"], spec["dim"]), spec["n"],
                         spec["seed"])  # fmt: skip


def run(spec: dict, progress) -> Result:
    table, notes = core.run(settings(spec), progress)
    return Result(table, notes=tuple(notes))


def show(shown: Shown) -> str | None:
    """One run's fisher.csv without its first columns (dist, parametrisation, theta), five digits."""
    table = shown.table() if shown.n_runs == 1 else None
    if table is None:
        return None
    rows = table[core.COLUMNS[3:]].fillna({"col": ""})
    return rows.to_string(index=False, float_format=lambda v: f"{v:.5g}")


KIND = Kind(
    name="fisher",
    help="""Check E[s] = 0 and Cov[s] = F = −E[∇² log p] by Monte Carlo against exact values.

    With --policy, the Fisher matrix of a policy on states it visits instead: its
    eigenvalue spectrum, rank and condition number (and every entry for small policies).

    \b
    Examples:
      pgcli fisher --dist gamma --theta shape=2,rate=3 --n 1e6
      pgcli fisher --dist categorical --dim 4 --n 1000,10000,100000
      pgcli fisher --policy cartpole --seed 2 --states 2000
    """,
    schema=SCHEMA,
    subject=lambda spec: spec["dist"],
    validate=lambda spec: core.validate(settings(spec)),
    run=run,
    table="fisher.csv",
    columns=lambda spec: core.COLUMNS,
    wall_clock=(),
    plot=PlotDefaults(
        figure="identities",
        signature="quantity",
        hue="quantity",
        labels=("dist", "parametrisation", "theta", "quantity", "row", "col", "n_samples"),
        axes=("n_samples", "row", "col"),
    ),
    planned=lambda spec: {"n_samples": [float(n) for n in spec["n"]]},
    flags=(*distribution.flags(), Flag(("--n",), "n", "Samples (a list shows the 1/√n error).", metavar="N1,N2")),
    show=show,
)
