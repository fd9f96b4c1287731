"""How far a run is: the one progress interface every experiment kind reports through.

A kind's ``run(spec, progress)`` calls ``progress(done, total, **status)`` — at the start with
``done = 0`` and then after each unit of work (an estimator cell, a Fisher sample size, a policy
update, a gradient step) — with the total known up front, so a bar can show how far along it is
and an ETA. ``status`` holds a few numbers worth watching (``ret=…``, ``objective=…``). The core
never asks whether anyone listens: without a listener it calls :func:`silent`. The shell (the
runner) turns the calls into a tqdm bar.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """progress(done, total, **status): `done` of `total` units finished; status shown beside the bar."""

    def __call__(self, done: int, total: int, /, **status: float) -> None: ...


def silent(done: int, total: int, /, **status: float) -> None:
    """The progress of a run nobody watches."""
