"""What the commands print: readable tables and one-line summaries of results (formatting only;
the numbers come from the runs' tables)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pgcli.lab import estimate as estimate_core


def _fmt(value) -> str:
    return "" if pd.isna(value) else f"{value + 0.0:.4g}"  # + 0.0 prints -0 as 0


def estimate_table(table: pd.DataFrame) -> str:
    """The readable stdout table: bias in standard errors, and a flag when |z| > 4."""
    z = estimate_core.z_scores(table)
    shown = pd.DataFrame(
        {
            "theta": table["theta"],
            "f": table["f"],
            "estimator": table["estimator"],
            "n": table["n_samples"],
            "param": table["param"],
            "mean": table["mean"].map(_fmt),
            "exact": table["exact"].map(_fmt),
            "std_err": table["std_error"].map(_fmt),
            "bias/se": z.map(lambda v: "inf" if np.isinf(v) else _fmt(v)),
            "": np.where(z.abs() > 4, "BIASED", ""),
        }
    )
    if shown["theta"].nunique() == 1:
        shown = shown.drop(columns="theta")
    return shown.to_string(index=False)


def rank_table(table: pd.DataFrame, target_se: float) -> str:
    """`estimate --rank`: estimators by efficiency, with the samples each needs for target_se."""
    ranked = estimate_core.rank(table, target_se)
    shown = ranked.assign(
        efficiency=ranked["efficiency"].map(_fmt),
        n_for_target=ranked["n_for_target"].map(lambda v: "" if pd.isna(v) else f"{v:.0f}"),
        seconds_for_target=ranked["seconds_for_target"].map(_fmt),
        max_abs_z=ranked["max_abs_z"].map(_fmt),
    )
    drop = [c for c in ("theta", "f") if shown[c].nunique() == 1]
    head = f"estimators ranked for standard error {target_se:g} (worst coordinate of θ):\n"
    return head + shown.drop(columns=drop).to_string(index=False)


def fisher_table(path) -> str:
    """A fisher.csv without its first columns (dist, parametrisation, theta), five digits."""
    from pgcli.lab.fisher import COLUMNS

    table = pd.read_csv(path, keep_default_na=False, na_values=[""])
    shown = table[COLUMNS[3:]].fillna({"col": ""})
    return shown.to_string(index=False, float_format=lambda v: f"{v:.5g}")


def columns_table(summary: pd.DataFrame, columns: list[str], digits: int, drop_empty: bool = False) -> str:
    """runs.csv's `columns` that it has (and, with drop_empty, that are not all empty)."""
    shown = summary[[c for c in columns if c in summary]]
    if drop_empty:
        shown = shown.dropna(axis=1, how="all")  # e.g. no optimum known
    return shown.to_string(index=False, float_format=lambda v: f"{v:.{digits}g}")


def train_line(spec: dict, row: pd.Series) -> str:
    """One run in one line: how it ended, its recent return, the target, the budget used."""
    window = spec["stop"]["target_window"]
    text = f"{spec['env']['id']} {row['label']}: {row['status']}"
    if "final_return" in row and pd.notna(row["final_return"]):
        text += f", mean return of the last {window} episodes {row['final_return']:.5g} (best {row['best_return']:.5g})"
    target = spec["stop"]["target_return"]
    if target is not None and "env_steps_to_target" in row:
        steps = row["env_steps_to_target"]
        text += f", target {target:g} " + (
            f"reached after {steps:,.0f} env steps" if pd.notna(steps) else "not reached"
        )
    if "env_steps" in row and pd.notna(row["env_steps"]):
        text += f"; {row['env_steps']:,.0f} env steps"
    return text + (f" in {row['wall_s']:.1f} s" if pd.notna(row["wall_s"]) else "")


def not_done(runs: list, results: list, summary: pd.DataFrame) -> str:
    """The runs that are not done, with their messages ('' when every run is done)."""
    bad = summary[summary["status"] != "done"]
    if bad.empty:
        return ""
    messages = {run.run_id: (r or {}).get("message", "") for run, r in zip(runs, results, strict=True)}
    shown = bad[["run_id", "label", "status"]].assign(message=bad["run_id"].map(messages))
    return f"\n{len(bad)} of {len(runs)} runs not done:\n" + shown.to_string(index=False)


def policy_fisher_lines(source: str, spec: dict, run_dir, fisher) -> str:
    """`fisher --policy`'s three lines: whose matrix, its size, rank and conditioning, its spectrum."""
    value = fisher.value
    top = ", ".join(f"{v:.3g}" for v in fisher.eigenvalues[:5])
    return (
        f"Fisher matrix of the {source} {spec['env']['id']} policy (seed {spec['seed']}, {run_dir}) "
        f"on {fisher.n_states} visited states\n"
        f"parameters {value['n_params']:.0f}, rank {value['rank']:.0f}, "
        f"condition number {value['condition_number']:.4g} "
        f"(nonzero spectrum {value['condition_number_nonzero']:.4g}), trace {value['trace']:.4g}\n"
        f"largest eigenvalues: {top}; smallest: {fisher.eigenvalues[-1]:.3g}"
    )
