"""Random streams: one seed, one independent stream per role (STYLE.md, habit 5).

Every random draw in pgcli comes from a Generator derived from the run's seed through
``numpy.random.SeedSequence``. A run spawns one child per role — its child i is the same whatever
the number of roles, so adding a role never changes the others' numbers — and a sweep cell of the
lab keys its stream by its content, not its position.

Reference: NumPy, "Parallel random number generation" (SeedSequence spawning).
"""

from __future__ import annotations

import zlib

import numpy as np


def streams(seed: int, roles: tuple[str, ...]) -> dict[str, np.random.SeedSequence]:
    """{role: SeedSequence}: the children SeedSequence(seed).spawn(len(roles)), in role order."""
    return dict(zip(roles, np.random.SeedSequence(seed).spawn(len(roles)), strict=True))


def generators(seed: int, roles: tuple[str, ...]) -> dict[str, np.random.Generator]:
    """{role: Generator} over :func:`streams`."""
    return {role: np.random.default_rng(ss) for role, ss in streams(seed, roles).items()}


def cell_rng(seed: int, *key) -> np.random.Generator:
    """A generator for one cell, from the root seed and the cell's content (not its position),
    so a cell's numbers do not change when other cells are added to the spec:
    SeedSequence([seed, crc32('|'.join(key))])."""
    digest = zlib.crc32("|".join(map(str, key)).encode())
    return np.random.default_rng(np.random.SeedSequence([seed, digest]))
