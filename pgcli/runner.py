"""Run directories, sweeps, resume, and executors (serial, local processes, Dask).

Every experiment — one run or a sweep — is a list of runs. A run is a resolved spec with a seed;
its directory is content-addressed::

    results/<name>/<run_id>/   config.yaml  status  <table>.csv  [policy.npz]  [notes.txt]

run_id is a short hash of the resolved spec (without name/sweep/expect), so re-running an
identical spec finds the same directories and `--resume` skips finished ones. Every file is
written atomically and `status` last, so an interrupted run is simply not `done`.

After the runs, results/<name>/runs.csv has one row per run and results/<name>/<table>.csv all
runs' rows with the varying keys and the seed as leading columns, in plan order — so the bytes
do not depend on which executor ran what, or when.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import traceback
import zipfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from multiprocessing import get_context
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

from pgcli import __version__, atomic
from pgcli import estimate as estimate_kind
from pgcli import fisher as fisher_kind
from pgcli import optimize as optimize_kind
from pgcli import train as train_kind
from pgcli.progress import silent
from pgcli.spec import UNHASHED, SpecError, dump, expand, read_yaml, resolve, with_sweep


class Kind(NamedTuple):
    schema: dict
    validate: object  # (spec) -> None, raises SpecError before anything runs
    run: object  # (spec, progress) -> (table, info)
    table: str  # file name of the per-run table
    summary: object  # (table, info, spec) -> dict of runs.csv columns
    columns: object  # (spec) -> (table columns, runs.csv summary columns), before running


def _estimate_run(spec, progress):
    table, notes = estimate_kind.run(spec, progress)
    return table, {"notes": notes}


def _fisher_run(spec, progress):
    table, notes = fisher_kind.run(spec, progress)
    return table, {"notes": notes}


def _no_summary(table, info, spec):
    return {}


KINDS: dict[str, Kind] = {
    "estimate": Kind(
        estimate_kind.SCHEMA, estimate_kind.validate, _estimate_run, "estimate.csv", _no_summary,
        lambda spec: (estimate_kind.COLUMNS, []),
    ),
    "fisher": Kind(
        fisher_kind.SCHEMA, fisher_kind.validate, _fisher_run, "fisher.csv", _no_summary,
        lambda spec: (fisher_kind.COLUMNS, []),
    ),
    "train": Kind(
        train_kind.SCHEMA, train_kind.validate, train_kind.run, "metrics.csv", train_kind.summary,
        train_kind.output_columns,
    ),
    "optimize": Kind(
        optimize_kind.SCHEMA, optimize_kind.validate, optimize_kind.run, "optimize.csv", optimize_kind.summary,
        optimize_kind.output_columns,
    ),
}  # fmt: skip


class Run(NamedTuple):
    kind: str
    run_id: str
    label: str
    spec: dict
    varying: dict  # varying key -> value, always with "seed"
    directory: str


# ---------------------------------------------------------------------------------------------
# planning


def run_id(kind: str, spec: dict) -> str:
    """Short content hash of the parts of a resolved spec that determine its results."""
    payload = {k: v for k, v in spec.items() if k not in UNHASHED}
    text = json.dumps([kind, payload], sort_keys=True, default=str)
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


def run_directory(summary_dir: str | Path, run_id: str) -> Path:
    """A run's directory from a summary directory: results/<name>/ or results/<name>/sweeps/<id>/."""
    summary_dir = Path(summary_dir)
    base = summary_dir.parent.parent if summary_dir.parent.name == "sweeps" else summary_dir
    return base / run_id


def run_label(varying: dict) -> str:
    """Only the keys that vary, e.g. 'lr=0.03,baseline=value,seed=2'."""
    names = short_keys(varying)
    return ",".join(f"{names[k]}={_text(v)}" for k, v in varying.items())


def _text(value):
    if isinstance(value, list):
        return "[" + " ".join(map(_text, value)) + "]"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def plan(kind: str, schema: dict, spec: dict, root: str | Path, extra_axes=()) -> list[Run]:
    """Expand a resolved spec into runs under root/<name>/."""
    base = Path(root) / spec["name"]
    runs = []
    for run_spec, varying in expand(schema, spec, extra_axes):
        rid = run_id(kind, run_spec)
        runs.append(Run(kind, rid, run_label(varying), run_spec, varying, str(base / rid)))
    seen = {}
    for run in runs:
        if run.run_id in seen:
            raise SpecError(
                "sweep", f"runs {seen[run.run_id]!r} and {run.label!r} are the same run (a repeated grid value)"
            )
        seen[run.run_id] = run.label
    return runs


def versions() -> dict:
    import gymnasium

    return {
        "pgcli": __version__,
        "numpy": np.__version__,
        "gymnasium": gymnasium.__version__,
        "python": sys.version.split()[0],
    }


# ---------------------------------------------------------------------------------------------
# one run


def status_of(directory: str | Path) -> str:
    """'done', 'diverged', 'failed', 'running' (interrupted) or 'missing'."""
    path = Path(directory) / "status"
    if not path.is_file():
        return "missing"
    return path.read_text().split("\n", 1)[0].strip() or "missing"


def recorded(directory: str | Path) -> dict:
    """A finished run's result as its status file recorded it (status, message, wall_s)."""
    lines = (Path(directory) / "status").read_text().split("\n")
    wall = next((float(line[7:]) for line in lines if line.startswith("wall_s=")), np.nan)
    message = lines[1] if len(lines) > 1 and not lines[1].startswith("wall_s=") else ""
    return {"status": lines[0].strip(), "message": message, "wall_s": wall, "skipped": True}


def is_finished(run: Run) -> bool:
    table = Path(run.directory) / KINDS[run.kind].table
    return status_of(run.directory) in {"done", "diverged"} and table.is_file()


def execute(run: Run, quiet: bool = True, position: int | None = None) -> dict:
    """Run one run and write its directory; never raises for a failing run (status says)."""
    directory = Path(run.directory)
    kind = KINDS[run.kind]
    config = {
        "run_id": run.run_id,
        "run_label": run.label,
        "kind": run.kind,
        "spec": run.spec,
        "versions": versions(),
        "command": " ".join(sys.argv),
    }
    atomic.write_text(directory / "config.yaml", dump(config))
    atomic.write_text(directory / "status", "running\n")
    for stale in ("error.txt", "notes.txt"):  # from an earlier attempt at this run
        (directory / stale).unlink(missing_ok=True)
    start = time.perf_counter()
    progress, close_bar = progress_bar(run.label, quiet, position)
    try:
        table, info = kind.run(run.spec, progress)
    except Exception as err:  # a failing run is reported, not fatal to the sweep
        message = f"{type(err).__name__}: {err}"
        atomic.write_text(directory / "error.txt", traceback.format_exc())
        atomic.write_text(directory / "status", f"failed\n{message}\n")
        return {"status": "failed", "message": message, "wall_s": time.perf_counter() - start}
    finally:
        close_bar()
    atomic.write_csv(directory / kind.table, table)
    for name, data in info.get("files", {}).items():
        atomic.write_bytes(directory / name, data)
    notes = info.get("notes", [])
    if notes:
        atomic.write_text(directory / "notes.txt", "\n".join(notes) + "\n")
    status = info.get("status", "done")
    message = info.get("message", "")
    wall_s = time.perf_counter() - start
    atomic.write_text(directory / "status", f"{status}\n{message}\nwall_s={wall_s:.6f}\n")
    return {"status": status, "message": message, "wall_s": wall_s, "notes": notes}


def progress_bar(desc: str, quiet: bool, position: int | None = None):
    """(a Progress that draws a tqdm bar on stderr, a function that closes it); nothing when quiet."""
    if quiet:
        return silent, lambda: None
    from tqdm import tqdm

    bar = tqdm(desc=desc, position=position, leave=False, dynamic_ncols=True, unit_scale=True)

    def report(done: int, total: int, /, **status: float) -> None:
        if bar.total != total:
            bar.reset(total=total)
        bar.update(done - bar.n)
        if status:
            bar.set_postfix({k: f"{v:.4g}" for k, v in status.items()}, refresh=False)

    return report, bar.close


# ---------------------------------------------------------------------------------------------
# executors: each maps `execute` over runs and yields (index, result) as runs finish


def serial(runs, quiet, nested=False):
    """In-process; per-run bars sit under the overall bar when there is one (`nested`)."""
    for i, run in enumerate(runs):
        yield i, execute(run, quiet=quiet, position=1 if nested else None)


# Worker processes read these when they import numpy: one BLAS thread each, so N jobs do not
# oversubscribe the cores.
BLAS_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@contextmanager
def worker_environment():
    """Environment inherited by worker processes started inside the block (one BLAS thread)."""
    saved = {k: os.environ.get(k) for k in BLAS_ENV}
    os.environ.update(BLAS_ENV)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def processes(runs, jobs):
    with worker_environment(), ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(execute, run): i for i, run in enumerate(runs)}
        for future in as_completed(futures):
            i = futures[future]
            try:
                yield i, future.result()
            except Exception as err:  # a worker process died: the run is left to resume
                yield i, {"status": "failed", "message": f"worker lost: {err}", "wall_s": 0.0}


class SchedulerError(RuntimeError):
    """The Dask scheduler cannot be reached or dask is not installed."""


SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")


def check_address(scheduler: str) -> None:
    """A scheduler address has the form [SCHEME://]HOST:PORT; checked before dask is imported."""
    text = scheduler if "://" in scheduler else f"tcp://{scheduler}"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as err:
        raise SchedulerError(f"--scheduler {scheduler!r} is not an address: {err}") from None
    if parts.scheme not in SCHEMES or not parts.hostname or port is None or parts.path not in ("", "/"):
        raise SchedulerError(f"--scheduler {scheduler!r} is not an address; expected tcp://HOST:PORT")


def dask_client(scheduler: str | None, workers: int = 2):
    """A Client for the scheduler address, or for a new LocalCluster when address is None."""
    if scheduler:
        check_address(scheduler)
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise SchedulerError("the Dask executor needs dask.distributed: pip install 'pgcli[dask]'") from None
    if scheduler:
        try:
            return Client(scheduler, timeout="5s")
        except (OSError, TimeoutError) as err:
            raise SchedulerError(f"cannot reach Dask scheduler {scheduler}: {err}") from None
    with worker_environment():
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        )
    return Client(cluster)


def dask(runs, client):
    from dask.distributed import as_completed as dask_completed

    futures = client.map(execute, runs, key=[f"pgcli-{run.run_id}" for run in runs], pure=False)
    index = {future.key: i for i, future in enumerate(futures)}
    for future in dask_completed(futures):
        i = index[future.key]
        try:
            yield i, future.result()
        except Exception as err:  # KilledWorker and friends: finished runs are on disk
            yield i, {"status": "failed", "message": f"worker lost: {err}", "wall_s": 0.0}


# ---------------------------------------------------------------------------------------------
# a whole experiment


def run_all(
    runs: list[Run],
    *,
    jobs: int = 1,
    client=None,
    resume: bool = True,
    force: bool = False,
    quiet: bool = False,
    on_result=None,
) -> list[dict]:
    """Run what is not finished, with the chosen executor; returns one result per run."""
    results: list[dict | None] = [None] * len(runs)
    todo = []
    for i, run in enumerate(runs):
        if resume and not force and is_finished(run):
            results[i] = recorded(run.directory)
            if on_result:
                on_result(i, results[i])
        else:
            todo.append(i)
    pending = [runs[i] for i in todo]
    if client is not None:
        stream = dask(pending, client)
    elif jobs > 1 and len(pending) > 1:
        stream = processes(pending, min(jobs, len(pending)))
    else:
        stream = serial(pending, quiet, nested=len(runs) > 1)
    for j, result in stream:
        i = todo[j]
        results[i] = result
        if on_result:
            on_result(i, result)
    return results


def load_run(directory: str | Path) -> tuple[dict, np.ndarray | None]:
    """A train run directory's resolved spec and trained θ (None if it has no policy.npz)."""
    directory = Path(directory)
    config_path = directory / "config.yaml"
    if not config_path.is_file():
        raise ValueError(f"{directory} is not a run directory (no config.yaml)")
    config = read_config(config_path)
    if config["kind"] != "train":
        raise ValueError(f"{directory} holds a {config['kind']} run, not a train run")
    spec = resolve(with_sweep(KINDS["train"].schema), config["spec"])  # a hand-edited config is checked
    KINDS["train"].validate(spec)
    policy_path = directory / "policy.npz"
    try:
        theta = np.load(policy_path)["theta"] if policy_path.is_file() else None
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
        raise ValueError(f"{policy_path} is not a readable policy: {type(err).__name__}") from None
    return spec, theta


def read_config(path: str | Path) -> dict:
    """A run's config.yaml: a mapping with a known `kind` and a `spec` mapping, else SpecError."""
    config = read_yaml(path, "config file")
    kind = config.get("kind") if isinstance(config, dict) else None
    if not isinstance(kind, str) or kind not in KINDS or not isinstance(config.get("spec"), dict):
        raise SpecError("", f"{path} is not a pgcli run config (no kind: {', '.join(KINDS)} and spec: mapping)")
    return config


def read_table(run: Run) -> pd.DataFrame | None:
    path = Path(run.directory) / KINDS[run.kind].table
    return pd.read_csv(path) if path.is_file() else None


def aggregate(runs: list[Run], results: list[dict], root_name: Path) -> tuple[pd.DataFrame, Path]:
    """Write runs.csv and the concatenated table (varying keys + seed first), in plan order.

    A varying key is named by its short name unless the table (or runs.csv) already has a
    column of that name: if that column always holds the run's value (a sweep over `dist` of
    estimate.csv) it is not repeated, otherwise the key keeps its dotted name (batch.episodes
    beside the cumulative `episodes`)."""
    kind = KINDS[runs[0].kind]
    varying_keys = list(runs[0].varying)
    tables = [read_table(run) if status_of(run.directory) in {"done", "diverged"} else None for run in runs]
    names, repeated = _column_names(runs, tables, varying_keys)
    rows, tagged_tables = [], []
    for run, result, table in zip(runs, results, tables, strict=True):
        status = status_of(run.directory)
        if result is None and status in {"done", "diverged"}:
            result = recorded(run.directory)
        row = {"run_id": run.run_id, "label": run.label, **{names[k]: _cell(v) for k, v in run.varying.items()}}
        row["status"] = status
        if table is not None:
            summary = kind.summary(table, result or {}, run.spec)
            row.update({(k if k not in names.values() else f"summary.{k}"): v for k, v in summary.items()})
            tagged = table.copy()
            for key in reversed(varying_keys):
                if key not in repeated:
                    tagged.insert(0, names[key], _cell(run.varying[key]))
            tagged.insert(0, "run_id", run.run_id)
            tagged_tables.append(tagged)
        row["wall_s"] = (result or {}).get("wall_s", np.nan)
        rows.append(row)
    summary = pd.DataFrame(rows)
    root_name.mkdir(parents=True, exist_ok=True)
    atomic.write_csv(root_name / "runs.csv", summary)
    combined = root_name / kind.table
    if tagged_tables:
        atomic.write_csv(combined, pd.concat(tagged_tables, ignore_index=True))
    return summary, combined


RUNS_COLUMNS = {"run_id", "label", "status", "wall_s"}


def _column_names(runs, tables, keys):
    """(column name per varying key, keys the tables already carry with the run's value)."""
    names = short_keys(keys)
    columns = set().union(*(t.columns for t in tables if t is not None)) | RUNS_COLUMNS
    repeated = set()
    for key in keys:
        if names[key] not in columns:
            continue
        same = all(
            t is None or (names[key] in t.columns and t[names[key]].astype(str).isin(_texts(run.varying[key])).all())
            for run, t in zip(runs, tables, strict=True)
        )
        if same and names[key] not in RUNS_COLUMNS:
            repeated.add(key)
        else:  # the dotted name, or for a top-level key that clashes, spec.<key>
            names[key] = key if "." in key else f"spec.{key}"
    return names, repeated


def _texts(value) -> set[str]:
    """How a run's value may appear in its table's column (a one-value list as that value)."""
    return {str(_cell(value)), *([str(value[0])] if isinstance(value, list) and len(value) == 1 else [])}


def _cell(value):
    return _text(value) if isinstance(value, list) else value
