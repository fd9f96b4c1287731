"""Plans: an experiment — one run or a sweep — as a list of runs, each a resolved spec with its seed.

A run's id is a short hash of what determines its results (the resolved spec without name, sweep
and expect, and the source of the user modules it names), so re-running an identical spec finds
the same directories; its label names only the keys that vary (`lr=0.03,baseline=value,seed=2`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import NamedTuple

from pgcli.shell.spec import UNHASHED, SpecError, expand


class Run(NamedTuple):
    """One run of a plan: its kind, content hash, label, resolved spec, varying keys, directory,
    and the user modules its spec names (pgcli.base.usercode.Module: found in trusted directories)."""

    kind: str
    run_id: str
    label: str
    spec: dict
    varying: dict  # varying key -> value, always with "seed"
    directory: str
    modules: tuple = ()


# ---------------------------------------------------------------------------------------------
# planning


def run_id(kind: str, spec: dict, modules=()) -> str:
    """Short content hash of what determines a run's results: the resolved spec and the source of
    the user modules it names (editing your f re-runs exactly the runs that use it)."""
    payload = {k: v for k, v in spec.items() if k not in UNHASHED}
    code = [{module.name: module.digest for module in modules}] if modules else []
    text = json.dumps([kind, payload, *code], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def short_keys(keys) -> dict[str, str]:
    """Column names for varying keys: the last part of the dotted path, or as many trailing
    parts as it takes to be unique (optim.lr -> lr; with algo.value.lr too -> optim.lr)."""
    keys = list(keys)
    out = {}
    for key in keys:
        parts = key.split(".")
        for n in range(1, len(parts) + 1):
            name = ".".join(parts[-n:])
            if sum(k == name or k.endswith("." + name) for k in keys) == 1:
                break
        out[key] = name
    return out


def sweep_id(run_ids: list[str]) -> str:
    """Short hash of a plan (its run_ids in order): the name of its summary directory."""
    return hashlib.sha256(",".join(run_ids).encode()).hexdigest()[:10]


def run_label(varying: dict) -> str:
    """Only the keys that vary, e.g. 'lr=0.03,baseline=value,seed=2'."""
    names = short_keys(varying)
    return ",".join(f"{names[k]}={value_text(v)}" for k, v in varying.items())


def value_text(value) -> str:
    """A spec value as run labels show it: a list as '[a b c]', a float with %g ('0.03', '1e-05')."""
    if isinstance(value, list):
        return "[" + " ".join(map(value_text, value)) + "]"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def runs(kind: str, schema: dict, spec: dict, root: str | Path, extra_axes=(), modules_of=None) -> list[Run]:
    """Expand a resolved spec into runs under root/<name>/; `modules_of(run spec)` gives the user
    modules a run names (checked, not imported), which are part of its id."""
    base = Path(root) / spec["name"]
    runs = []
    for run_spec, varying in expand(schema, spec, extra_axes):
        modules = modules_of(run_spec) if modules_of else ()
        rid = run_id(kind, run_spec, modules)
        runs.append(Run(kind, rid, run_label(varying), run_spec, varying, str(base / rid), modules))
    seen = {}
    for run in runs:
        if run.run_id in seen:
            raise SpecError(
                "sweep", f"runs {seen[run.run_id]!r} and {run.label!r} are the same run (a repeated grid value)"
            )
        seen[run.run_id] = run.label
    return runs
