"""Runs: planning, run directories, resume, running a plan with an executor, aggregation.

Every experiment — one run or a sweep — is a list of runs. A run is a resolved spec with a seed;
its directory is content-addressed::

    results/<name>/<run_id>/   config.yaml  status  <table>.csv  [policy.npz]  [notes.txt]

run_id is a short hash of the resolved spec (without name/sweep/expect), so re-running an
identical spec finds the same directories and `--resume` skips finished ones. Every file is
written atomically and `status` last, so an interrupted run is simply not `done`.

After the runs, results/<name>/runs.csv has one row per run and results/<name>/<table>.csv all
runs' rows with the varying keys and the seed as leading columns, in plan order — so the bytes
do not depend on which executor ran what, or when. Where runs are computed: pgcli.shell.executors.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import hashlib
import io
import json
import os
import sys
import zipfile
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import yaml

from pgcli.kinds import KINDS
from pgcli.shell import atomic, executors
from pgcli.shell.executors import versions
from pgcli.shell.spec import UNHASHED, SpecError, expand, read_yaml, resolve, with_sweep


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


def run_directory(summary_dir: str | Path, run_id: str) -> Path:
    """A run's directory from a summary directory: results/<name>/ or results/<name>/sweeps/<id>/."""
    summary_dir = Path(summary_dir)
    base = summary_dir.parent.parent if summary_dir.parent.name == "sweeps" else summary_dir
    return base / run_id


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


def plan(kind: str, schema: dict, spec: dict, root: str | Path, extra_axes=(), modules_of=None) -> list[Run]:
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


# ---------------------------------------------------------------------------------------------
# one run: computed wherever an executor puts it; its directory is written only by this process

FINISHED = ("done", "diverged")
STATUSES = (*FINISHED, "failed", "running")  # 'running': left by an interrupted older pgcli


def record(run: Run, outcome: dict) -> dict:
    """Write a computed run's directory — config.yaml, its files, notes.txt, error.txt, and
    `status` last, holding the sha256 of every file — and return its result (status, message,
    wall_s, notes). A write that fails (disk full, file too large, permissions) fails the run
    with the reason; it never raises OSError."""
    directory = Path(run.directory)
    result = {k: outcome[k] for k in ("status", "message", "wall_s", "notes")}
    digests = {name: hashlib.sha256(data).hexdigest() for name, data in outcome["files"].items()}
    config = _dump(_config(run, outcome.get("versions") or versions()))
    texts = {"notes.txt": "".join(f"{note}\n" for note in outcome["notes"]), "error.txt": outcome["error"]}
    path = directory / "config.yaml"
    try:
        _write(path, config.encode())
        for stale in (name for name, text in texts.items() if not text):  # from an earlier attempt
            (directory / stale).unlink(missing_ok=True)
        for name, data in [*outcome["files"].items(), *((k, v.encode()) for k, v in texts.items() if v)]:
            path = directory / name
            _write(path, data)
        path = directory / "status"
        _write(path, _status_text(result, digests).encode())
    except OSError as err:
        message = f"cannot write {path}: {err.strerror or err}"
        result = {"status": "failed", "message": message, "wall_s": result["wall_s"], "notes": []}
        with contextlib.suppress(OSError):  # a status file is small: it may still fit
            atomic.write_text(directory / "status", _status_text(result, {}))
    return result


def _write(path: Path, data: bytes):
    with atomic.writing(path, binary=True) as handle:
        handle.write(data)


# spec.dump's format, with libyaml's emitter when there is one: 3× faster, and a sweep of
# 10,000 runs writes 10,000 configs in the client
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _dump(config: dict) -> str:
    return yaml.dump(config, Dumper=_DUMPER, sort_keys=False, default_flow_style=None, width=100)


def _config(run: Run, run_versions: dict) -> dict:
    config = {"run_id": run.run_id, "run_label": run.label, "kind": run.kind, "spec": run.spec}
    if run.modules:  # the source its user modules had (sha256), which is part of run_id
        config["modules"] = {module.name: module.digest for module in run.modules}
    return {**config, "versions": run_versions, "command": " ".join(sys.argv)}


def _status_text(result: dict, digests: dict) -> str:
    lines = [result["status"], result["message"], f"wall_s={result['wall_s']:.6f}"]
    return "\n".join(lines + [f"sha256 {name} {digest}" for name, digest in digests.items()]) + "\n"


def _read_status(directory: str | Path) -> dict | None:
    """A status file parsed (status, message, wall_s, sha256 {file: digest}); None when it is
    missing or does not parse (binary, unknown status, `wall_s=abc`, a stray line)."""
    try:
        lines = (Path(directory) / "status").read_bytes().decode("utf-8").split("\n")
    except (OSError, UnicodeDecodeError):
        return None
    parsed = {"status": lines[0].strip(), "message": lines[1] if len(lines) > 1 else "", "wall_s": np.nan}
    parsed["sha256"] = {}
    if parsed["status"] not in STATUSES:
        return None
    for line in lines[2:]:
        if line.startswith("wall_s="):
            try:
                parsed["wall_s"] = float(line[7:])
            except ValueError:
                return None
        elif line.startswith("sha256 ") and len(line.split(" ")) == 3:
            _, name, digest = line.split(" ")
            parsed["sha256"][name] = digest
        elif line:
            return None
    return parsed


def status_of(directory: str | Path) -> str:
    """'done', 'diverged', 'failed', 'running' (interrupted), 'missing', or 'corrupted' (a status
    file that does not parse)."""
    if not (Path(directory) / "status").exists():
        return "missing"
    parsed = _read_status(directory)
    return parsed["status"] if parsed else "corrupted"


def _verified(run: Run) -> tuple[dict, bytes] | None:
    """(recorded result, table bytes) of a finished run whose files all have the sha256 its
    status recorded — so a truncated, edited or half-copied table is never taken; else None."""
    parsed = _read_status(run.directory)
    table = KINDS[run.kind].table
    if parsed is None or parsed["status"] not in FINISHED or table not in parsed["sha256"]:
        return None
    data = {}
    for name, digest in parsed["sha256"].items():
        try:
            data[name] = (Path(run.directory) / name).read_bytes()
        except OSError:
            return None
        if hashlib.sha256(data[name]).hexdigest() != digest:
            return None
    result = {"status": parsed["status"], "message": parsed["message"], "wall_s": parsed["wall_s"], "skipped": True}
    return result, data[table]


def finished(run: Run) -> dict | None:
    """A finished run's result as recorded (status, message, wall_s), if its files check out."""
    verified = _verified(run)
    return verified[0] if verified else None


def is_finished(run: Run) -> bool:
    """Whether `run` finished (done or diverged) with files that match its status."""
    return _verified(run) is not None


def _claim(directory: str | Path, wait: bool = False) -> int | None:
    """Lock a run directory (fcntl.flock on its .lock file, released however this process ends):
    the open descriptor, or None when another live process holds it and not `wait`."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT, 0o666 & ~atomic.UMASK)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


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
    allow_mixed: bool = False,
) -> list[dict]:
    """Run what is not finished, with the chosen executor; returns one result per run.

    Executors compute; this process writes each run's directory as its outcome arrives (in
    WRITERS threads) and calls on_result(index, result) in this thread once it is written. A run
    is claimed (a lock on its directory) just before it starts: one that another live process
    holds is left to it, waited for at the end, and taken as that process recorded it (or run
    here if that process stopped first)."""
    results: list[dict | None] = [None] * len(runs)

    def finish(i, result):
        results[i] = result
        if on_result:
            on_result(i, result)

    skip_finished = resume and not force
    todo = []
    for i, run in enumerate(runs):
        done = finished(run) if skip_finished else None
        if done:
            finish(i, done)
        else:
            todo.append(i)
    while todo:
        busy = _compute_and_record(runs, todo, finish, skip_finished, jobs=jobs, client=client, quiet=quiet,
                                   allow_mixed=allow_mixed)  # fmt: skip
        todo = _wait_for_others(runs, busy, finish)
    return results


def _compute_and_record(runs, todo, finish, skip_finished, **executor) -> list[int]:
    """Compute the `todo` runs this process claims, with the executor, and record each one (in
    WRITERS threads) as its outcome arrives; returns the runs that another live process holds."""
    held, writing, busy = {}, {}, []  # claimed runs' lock descriptors; record() futures -> run index
    writers = ThreadPoolExecutor(WRITERS, thread_name_prefix="pgcli-record")

    def written(block: bool):
        done = wait(writing, return_when=FIRST_COMPLETED)[0] if block else [f for f in writing if f.done()]
        for future in done:
            i = writing.pop(future)
            try:
                finish(i, future.result())
            finally:
                os.close(held.pop(i))

    try:
        stream = executors.start(_claimed(runs, todo, held, busy, skip_finished, finish), runs, len(todo), **executor)
        with contextlib.closing(stream):
            for i, outcome in stream:
                writing[writers.submit(record, runs[i], outcome)] = i
                written(block=len(writing) >= 4 * WRITERS)
        while writing:
            written(block=True)
    finally:
        writers.shutdown(wait=True)  # a run's files are written whole, even on the way out
        for fd in held.values():
            os.close(fd)
    return busy


def _wait_for_others(runs, busy, finish) -> list[int]:
    """Wait for the runs another live process holds and take what it recorded; returns those it
    stopped before finishing (to run here)."""
    todo = []
    for i in busy:
        os.close(_claim(runs[i].directory, wait=True))
        done = finished(runs[i])
        if done:
            finish(i, done)
        else:
            todo.append(i)
    return todo


# Threads writing run directories: the client writes every run, and on a busy or network file
# system a write waits on the disk, not the CPU, so a few overlap.
WRITERS = 4


def _claimed(runs, todo, held, busy, skip_finished, finish):
    """The (index, run) pairs of `todo` this process claims, as executors pull them."""
    for i in todo:
        try:
            fd = _claim(runs[i].directory)
        except OSError as err:
            message = f"cannot write {runs[i].directory}: {err.strerror or err}"
            finish(i, {"status": "failed", "message": message, "wall_s": 0.0, "notes": []})
            continue
        if fd is None:
            busy.append(i)
            continue
        done = finished(runs[i]) if skip_finished else None
        if done:  # another process finished it since the resume check
            os.close(fd)
            finish(i, done)
            continue
        held[i] = fd
        yield i, runs[i]


def load_run(directory: str | Path) -> tuple[dict, np.ndarray | None]:
    """A train run directory's resolved spec (checked against the schema, not yet validated by
    its kind) and trained θ (None if it has no policy.npz)."""
    directory = Path(directory)
    config_path = directory / "config.yaml"
    if not config_path.is_file():
        raise ValueError(f"{directory} is not a run directory (no config.yaml)")
    config = read_config(config_path)
    if config["kind"] != "train":
        raise ValueError(f"{directory} holds a {config['kind']} run, not a train run")
    spec = resolve(with_sweep(KINDS["train"].schema), config["spec"])  # a hand-edited config is checked
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


# ---------------------------------------------------------------------------------------------
# aggregation: streamed, one run's table in memory at a time


def aggregate(runs: list[Run], results: list[dict | None], directory: Path) -> tuple[pd.DataFrame, Path]:
    """Write directory/runs.csv and directory/<table>.csv, the finished runs' tables with the
    varying keys + seed first, in plan order; returns (runs table, combined table path).

    Only finished runs whose files match the sha256 their status recorded are combined (one
    that does not is 'corrupted' in runs.csv); with none, no combined table is left behind. A
    result that is None (not run now) of a run that is not finished is filled in, in `results`,
    with its status and message.
    Tables are read one at a time and copied as text (no float re-parsing); the combined
    table's columns are the union of the tables', in order of appearance."""
    directory = Path(directory)
    kind = KINDS[runs[0].kind]
    entries, columns, agrees = _scan(runs, results, kind)
    names, repeated = _column_names(list(runs[0].varying), columns, agrees)
    rows = []
    for run, (status, wall_s, summary, _) in zip(runs, entries, strict=True):
        row = {"run_id": run.run_id, "label": run.label, **{names[k]: _cell(v) for k, v in run.varying.items()}}
        row["status"] = status
        row.update({(k if k not in names.values() else f"summary.{k}"): v for k, v in summary.items()})
        row["wall_s"] = wall_s
        rows.append(row)
    summary = pd.DataFrame(rows)
    directory.mkdir(parents=True, exist_ok=True)
    atomic.write_csv(directory / "runs.csv", summary)
    combined = directory / kind.table
    included = [run for run, (*_, ok) in zip(runs, entries, strict=True) if ok]
    if included:
        _write_combined(combined, included, {k: names[k] for k in runs[0].varying if k not in repeated}, columns)
    else:
        combined.unlink(missing_ok=True)  # an older sweep's table would be read as this one's
    return summary, combined


RUNS_COLUMNS = {"run_id", "label", "status", "wall_s"}


def _scan(runs, results, kind):
    """First pass, one table at a time: per run (status, wall_s, summary columns, combined or
    not), the union of the tables' columns, and per varying key whether every table's column
    of its short name holds the run's value."""
    keys = list(runs[0].varying)
    names = short_keys(keys)
    columns: dict[str, None] = {}
    agrees = dict.fromkeys(keys, True)
    entries = []
    for i, (run, result) in enumerate(zip(runs, results, strict=True)):
        verified = _verified(run)
        if result is None or result.get("skipped"):
            result = verified[0] if verified else {"status": status_of(run.directory), "message": ""}
        if result["status"] in FINISHED and verified is None:
            result = {**result, "status": "corrupted", "message": "its files do not match its status (re-run it)"}
        ok = verified is not None and result["status"] in FINISHED
        if not ok:
            results[i] = result
        summary = {}
        if ok:
            header, rows = _csv_rows(verified[1])
            columns.update(dict.fromkeys(header))
            for key in keys:
                at = header.index(names[key]) if names[key] in header else None
                texts = _csv_texts(run.varying[key])
                agrees[key] = agrees[key] and at is not None and all(row[at] in texts for row in rows)
            if kind.summary is not None:
                summary = kind.summary(pd.read_csv(io.BytesIO(verified[1])), result, run.spec)
        entries.append((result["status"], result.get("wall_s", np.nan), summary, ok))
    return entries, columns, agrees


def _column_names(keys, columns, agrees):
    """(column name per varying key, keys the tables already carry). A key is named by its
    short name unless a table (or runs.csv) already has a column of that name: if that column
    always holds the run's value (a sweep over `dist` of estimate.csv) it is not repeated,
    otherwise the key keeps its dotted name (batch.episodes beside the cumulative `episodes`)."""
    names, repeated = short_keys(keys), set()
    for key in keys:
        if names[key] in columns or names[key] in RUNS_COLUMNS:
            if agrees[key] and names[key] in columns and names[key] not in RUNS_COLUMNS:
                repeated.add(key)
            else:  # the dotted name, or for a top-level key that clashes, spec.<key>
                names[key] = key if "." in key else f"spec.{key}"
    return names, repeated


def _write_combined(path, runs, prefix: dict, columns: dict):
    """Second pass: run_id, the `prefix` keys' values (key -> column name), then each run's
    table reordered to `columns` ('' where a table lacks one), streamed into `path`."""
    with atomic.writing(path) as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["run_id", *prefix.values(), *columns])
        for run in runs:
            header, rows = _csv_rows((Path(run.directory) / KINDS[run.kind].table).read_bytes())
            lead = [run.run_id, *(_csv_text(run.varying[k]) for k in prefix)]
            at = [header.index(c) if c in header else None for c in columns]
            writer.writerows(lead + [row[j] if j is not None else "" for j in at] for row in rows)


def _csv_rows(data: bytes) -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    return (rows[0], rows[1:]) if rows else ([], [])


def _csv_text(value) -> str:
    """A spec value as pandas writes it in a CSV cell."""
    value = _cell(value)
    return "" if value is None else str(value)


def _csv_texts(value) -> set[str]:
    """How a run's value may appear in its table's column (a one-value list as that value)."""
    return {_csv_text(value), *([str(value[0])] if isinstance(value, list) and len(value) == 1 else [])}


def _cell(value):
    return value_text(value) if isinstance(value, list) else value


def __getattr__(name: str):
    """WALL_CLOCK, the columns that differ between identical runs (left out wherever results must
    be byte-identical): read when asked for, so importing the runner imports no experiment kind."""
    if name == "WALL_CLOCK":
        from pgcli.lab.estimate import WALL_CLOCK as estimate_wall_clock

        return ("wall_s", "wall_s_to_target", *estimate_wall_clock)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
