"""Reaching a target: one definition for runs.csv, `pgcli plot --table` and `pgcli check`.

A run reaches a target at its first row whose target metric (the kind's, pgcli.kinds.Target) is
≥ the target, or ≤ it when the kind minimises that metric. For a train run the metric is
``return_window`` — the mean return of the last ``stop.target_window`` (20) finished training
episodes, Gymnasium's criterion for solving an environment; for an optimize run, ``objective``.
"""

from __future__ import annotations

import numpy as np


def reached(values, target: float, minimize: bool = False) -> np.ndarray:
    """Which values have reached the target (blank values never have)."""
    values = np.asarray(values, dtype=float)
    with np.errstate(invalid="ignore"):
        return values <= target if minimize else values >= target


def first_reached(values, target: float, minimize: bool = False) -> int | None:
    """Position of the first value that reaches the target, or None."""
    hits = np.flatnonzero(reached(values, target, minimize))
    return int(hits[0]) if hits.size else None
