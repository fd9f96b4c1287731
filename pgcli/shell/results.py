"""Results on disk: the one reader and writer of run directories and summary tables.

A run's directory is content-addressed (pgcli.shell.plan names it)::

    results/<name>/<run_id>/   config.yaml  status  <table>.csv  [policy.npz]  [notes.txt]  [error.txt]

Every file is written atomically and `status` last; `status` holds the run's outcome and the
sha256 of every file, so a run is *finished* only when its status says done (or diverged) and its
files still have those digests — an interrupted, truncated or edited run is never taken. A summary
directory (results/<name>/, or results/<name>/sweeps/<sweep_id>/ for a variation) holds runs.csv,
one row per run, and the combined table: the finished runs' tables with run_id, the varying keys
and the seed first, in plan order, copied as text (no float is re-parsed and re-printed).

results/<name>/experiment.yaml says which experiment the directory holds (`Identity`: its spec
file, or for a spec given by flags alone a hash of its runs with the seed left out), so a
different experiment under the same name is refused instead of replacing the summary.

One CSV dialect everywhere: written by pandas with '' for missing values (or as pandas would, for a
pgcli.base.table.Table: atomic.csv_text), read back with only '' as missing (`read_csv`). Each run's
files are checked once per process while they do not change (`verified`, keyed by the identity of
its files), and each table is parsed once (`_Table`).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import numpy as np
import yaml

from pgcli import kinds
from pgcli.base import lazy
from pgcli.base.table import Table, parse_cell
from pgcli.shell import atomic
from pgcli.shell.plan import Run, short_keys, value_text
from pgcli.shell.spec import SpecError, read_yaml, resolve, with_sweep

pd = lazy.module("pandas")

FINISHED = ("done", "diverged")
MAX_STATUS_BYTES = 1_000_000  # a status file: a few lines and one digest per file
MAX_FILE_BYTES = 2_000_000_000  # a run's table or policy: read whole, so bounded
STATUSES = (*FINISHED, "failed", "running")  # 'running': left by an interrupted older pgcli
RUNS_COLUMNS = {"run_id", "label", "status", "wall_s"}
MARKER = "experiment.yaml"
MAX_MARKER_BYTES = 100_000


# ---------------------------------------------------------------------------------------------
# which experiment a summary directory holds


class Identity(NamedTuple):
    """What makes two invocations one experiment: the kind, and the spec file (its absolute path,
    or the same text found elsewhere), or for a spec given by flags alone (or a dict in the
    Python API) the hash of its runs with the seed left out. `command` says where it came from."""

    kind: str
    file: str = ""
    text: str = ""  # sha256 of the spec file's bytes
    runs: str = ""  # the flags-only hash
    command: str = ""

    def same(self, other: Identity) -> bool:
        if self.kind != other.kind:
            return False
        if self.file or other.file:
            return bool(self.file and other.file) and (self.file == other.file or self.text == other.text)
        return self.runs == other.runs

    def describe(self) -> str:
        return f"the spec file {self.file}" if self.file else f"flags ({self.command})" if self.command else self.kind


def held(directory: Path) -> Identity | None:
    """The experiment a summary directory holds (its experiment.yaml), or None when it has none
    (a new directory, or one an older pgcli wrote: it is adopted). An unreadable marker holds an
    unknown experiment."""
    try:
        data = yaml.safe_load(atomic.read_regular(directory / MARKER, MAX_MARKER_BYTES))
    except FileNotFoundError:
        return None
    except (OSError, yaml.YAMLError):
        return Identity("unknown", command=f"unreadable {directory / MARKER}")
    if not isinstance(data, dict):
        return Identity("unknown", command=f"unreadable {directory / MARKER}")
    return Identity(**{key: str(data.get(key) or "") for key in Identity._fields})


def claim(directory: Path, identity: Identity) -> None:
    """Mark `directory` as holding `identity` (once; atomically)."""
    if held(directory) is None:
        text = yaml.safe_dump({k: v for k, v in identity._asdict().items() if v}, sort_keys=False, allow_unicode=True)
        atomic.write_text(directory / MARKER, text)


def read_csv(path_or_buffer) -> pd.DataFrame:
    """A table pgcli wrote: only an empty cell is missing (a text 'none' or 'NA' stays text)."""
    return pd.read_csv(path_or_buffer, keep_default_na=False, na_values=[""])


# ---------------------------------------------------------------------------------------------
# writing a run's directory


def record(run: Run, outcome: dict, run_versions: dict) -> dict:
    """Write a computed run's directory — config.yaml, its files, notes.txt, error.txt, and
    `status` last, holding the sha256 of every file — and return its result (status, message,
    wall_s, notes). A write that fails (disk full, file too large, permissions) fails the run
    with the reason; it never raises OSError."""
    directory = Path(run.directory)
    result = {k: outcome[k] for k in ("status", "message", "wall_s", "notes")}
    notes = "".join(f"{note}\n" for note in outcome["notes"])
    files = {**outcome["files"], **({"notes.txt": notes.encode()} if notes else {})}  # notes: shown again on reuse
    digests = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    config = _dump(_config(run, run_versions, outcome.get("machine")))
    texts = {
        "notes.txt": notes,
        "error.txt": outcome["error"],
        "output.txt": outcome.get("output", ""),  # what the run's code printed (a contained run's)
    }
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
            _write(directory / "status", _status_text(result, {}).encode())
    return result


def _write(path: Path, data: bytes):
    """Write a file of a run directory, never through a link inside the results root."""
    if problem := atomic.link_problem(path, Path(path).parents[2]):
        raise OSError(problem)
    with atomic.writing(path, binary=True) as handle:
        handle.write(data)


# spec.dump's format, with libyaml's emitter when there is one: 3× faster, and a sweep of
# 10,000 runs writes 10,000 configs in the client
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _dump(config: dict) -> str:
    return yaml.dump(config, Dumper=_DUMPER, sort_keys=False, default_flow_style=None, width=100)


def _config(run: Run, run_versions: dict, machine: dict | None = None) -> dict:
    config = {"run_id": run.run_id, "run_label": run.label, "kind": run.kind, "spec": run.spec}
    if run.modules:  # the source its user modules had (sha256), which is part of run_id
        config["modules"] = {module.name: module.digest for module in run.modules}
    config.update(versions=run_versions, command=" ".join(sys.argv))
    if machine:  # where it was computed and when it was recorded: for reports, never compared
        config["machine"] = machine
    config["recorded"] = datetime.now(UTC).isoformat(timespec="seconds")
    return config


def _status_text(result: dict, digests: dict) -> str:
    lines = [result["status"], result["message"], f"wall_s={result['wall_s']:.6f}"]
    return "\n".join(lines + [f"sha256 {name} {digest}" for name, digest in digests.items()]) + "\n"


# ---------------------------------------------------------------------------------------------
# reading a run's directory


def _read_status(directory: str | Path) -> dict | None:
    """A status file parsed (status, message, wall_s, sha256 {file: digest}); None when it is
    missing or does not parse (binary, unknown status, `wall_s=abc`, a stray line)."""
    try:
        lines = atomic.read_regular(Path(directory) / "status", MAX_STATUS_BYTES).decode("utf-8").split("\n")
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


class Ending(NamedTuple):
    """How a run directory says its run ended: its status (`status_of`), the one-line message of
    its status file ('' when none), wall_s, and when the status file was last written (seconds
    since the epoch; None without one)."""

    status: str
    message: str
    wall_s: float
    written: float | None


def ending(directory: str | Path) -> Ending:
    """A run directory's Ending, read from its status file alone (its tables are not read)."""
    status = status_of(directory)
    parsed = _read_status(directory) or {"message": "", "wall_s": np.nan}
    try:
        written = (Path(directory) / "status").stat().st_mtime
    except OSError:
        written = None
    return Ending(status, parsed["message"].strip(), parsed["wall_s"], written)


def status_of(directory: str | Path) -> str:
    """'done', 'diverged', 'failed', 'running' (interrupted), 'missing', or 'corrupted' (a status
    file that does not parse)."""
    if not (Path(directory) / "status").exists():
        return "missing"
    parsed = _read_status(directory)
    return parsed["status"] if parsed else "corrupted"


class Verified(NamedTuple):
    """A finished run as recorded: its result (status, message, wall_s) and its files' bytes."""

    result: dict
    files: dict[str, bytes]


_VERIFIED: dict[str, tuple[tuple, Verified | None]] = {}  # directory -> (its files' identity, verdict)


def verified(run: Run) -> Verified | None:
    """A finished run whose files all have the sha256 its status recorded (so a truncated, edited or
    half-copied table is never taken), or None. Checked once while none of its files changes."""
    try:
        identity = _identity(Path(run.directory))
    except OSError:
        return None
    if "status" not in (name for name, *_ in identity):
        return None
    cached = _VERIFIED.get(run.directory)
    if cached is not None and cached[0] == identity:
        return cached[1]
    verdict = _verify(run)
    _VERIFIED[run.directory] = (identity, verdict)
    return verdict


def _identity(directory: Path) -> tuple:
    """(name, inode, size, mtime) of each file in a run directory but the hidden ones (.lock, a
    temporary file): any write, replacement or edit of a file changes it."""
    found = []
    with os.scandir(directory) as entries:
        for entry in entries:
            if not entry.name.startswith("."):
                info = entry.stat(follow_symlinks=False)
                found.append((entry.name, info.st_ino, info.st_size, info.st_mtime_ns))
    return tuple(sorted(found))


def _verify(run: Run) -> Verified | None:
    parsed = _read_status(run.directory)
    table = kinds.get(run.kind).table
    if parsed is None or parsed["status"] not in FINISHED or table not in parsed["sha256"]:
        return None
    data = {}
    for name, digest in parsed["sha256"].items():
        try:
            data[name] = atomic.read_regular(Path(run.directory) / name, MAX_FILE_BYTES)
        except OSError:
            return None
        if hashlib.sha256(data[name]).hexdigest() != digest:
            return None
    notes = data.get("notes.txt", b"").decode(errors="replace").splitlines()  # shown again, as when it ran
    result = {"status": parsed["status"], "message": parsed["message"], "wall_s": parsed["wall_s"], "skipped": True,
              "notes": notes}  # fmt: skip
    return Verified(result, data)


def finished(run: Run) -> dict | None:
    """A finished run's result as recorded (status, message, wall_s), if its files check out."""
    found = verified(run)
    return found.result if found else None


def read_config(path: str | Path) -> dict:
    """A run's config.yaml: a mapping with a known `kind` and a `spec` mapping, else SpecError."""
    config = read_yaml(path, "config file")
    kind = config.get("kind") if isinstance(config, dict) else None
    if not isinstance(kind, str) or kind not in kinds.REGISTRY or not isinstance(config.get("spec"), dict):
        raise SpecError(
            "", f"{path} is not a pgcli run config (no kind: {', '.join(kinds.REGISTRY)} and spec: mapping)"
        )
    return config


class RunDirectory(NamedTuple):
    """A run directory as recorded: its kind, resolved spec (checked against the schema, not yet
    validated by its kind), status, and the files of a finished run (empty otherwise)."""

    kind: str
    spec: dict
    status: str
    files: dict[str, bytes]


def load_run(directory: str | Path) -> RunDirectory:
    """A run directory's config (a hand-edited config is checked) and, when it finished with files
    that match its status, those files. ValueError (SpecError) when it is not a run directory."""
    directory = Path(directory)
    config_path = directory / "config.yaml"
    if not config_path.is_file():
        raise SpecError("", f"{directory} is not a run directory (no config.yaml)")
    config = read_config(config_path)
    kind = kinds.get(config["kind"])
    spec = resolve(with_sweep(kinds.schema(kind)), config["spec"])
    parsed = _read_status(directory)
    files = {}
    if parsed is not None and parsed["status"] in FINISHED:
        for name, digest in parsed["sha256"].items():
            try:
                data = atomic.read_regular(directory / name, MAX_FILE_BYTES)
            except OSError:
                break
            if hashlib.sha256(data).hexdigest() == digest:
                files[name] = data
    return RunDirectory(config["kind"], spec, status_of(directory), files)


# ---------------------------------------------------------------------------------------------
# aggregation: streamed, one run's table in memory at a time


class _Table(NamedTuple):
    """A run's table parsed once: its header and rows as text."""

    header: list[str]
    rows: list[list[str]]

    @staticmethod
    def parse(data: bytes) -> _Table:
        rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
        return _Table(rows[0], rows[1:]) if rows else _Table([], [])

    def light(self) -> Table:
        """As a Table of numbers where cells hold numbers ('' empty): no pandas (kinds.Kind.light)."""
        return Table(self.header, [dict(zip(self.header, map(parse_cell, row), strict=True)) for row in self.rows])

    def frame(self) -> pd.DataFrame:
        """As numbers where a column holds numbers ('' missing), as `read_csv` would read it."""
        frame = pd.DataFrame(self.rows, columns=self.header)
        for column in frame.columns:
            values = frame[column].where(frame[column] != "", None)
            with contextlib.suppress(ValueError, TypeError):
                values = pd.to_numeric(values)
            frame[column] = values
        return frame


def aggregate(runs: list[Run], results: list[dict | None], directory: Path) -> tuple[Table, Path]:
    """Write directory/runs.csv and directory/<table>.csv, the finished runs' tables with the
    varying keys + seed first, in plan order; returns (runs.csv's rows, combined table path).

    Only finished runs whose files match the sha256 their status recorded are combined (one
    that does not is 'corrupted' in runs.csv); with none, no combined table is left behind. A
    result that is None (not run now) of a run that is not finished is filled in, in `results`,
    with its status and message. Tables are copied as text (no float re-parsing); the combined
    table's columns are the union of the tables', in order of appearance."""
    directory = Path(directory)
    kind = kinds.get(runs[0].kind)
    root = Path(runs[0].directory).parents[1]
    for path in (directory / "runs.csv", directory / kind.table):
        if problem := atomic.link_problem(path, root):
            raise OSError(problem)
    entries, columns, agrees = _scan(runs, results, kind)
    names, repeated = _column_names(list(runs[0].varying), columns, agrees)
    rows = []
    for run, (status, wall_s, summary, _) in zip(runs, entries, strict=True):
        row = {"run_id": run.run_id, "label": run.label, **{names[k]: _cell(v) for k, v in run.varying.items()}}
        row["status"] = status
        row.update({(k if k not in names.values() else f"summary.{k}"): v for k, v in summary.items()})
        row["wall_s"] = wall_s
        rows.append(row)
    summary = Table(list(dict.fromkeys(key for row in rows for key in row)), rows)  # as pd.DataFrame(rows)
    directory.mkdir(parents=True, exist_ok=True)
    atomic.write_csv(directory / "runs.csv", summary)
    combined = directory / kind.table
    included = [(run, table) for run, (*_, table) in zip(runs, entries, strict=True) if table is not None]
    if included:
        _write_combined(combined, included, {k: names[k] for k in runs[0].varying if k not in repeated}, columns)
    else:
        combined.unlink(missing_ok=True)  # an older sweep's table would be read as this one's
    return summary, combined


def _scan(runs, results, kind):
    """Per run (status, wall_s, summary columns, its parsed table or None), the union of the
    tables' columns, and per varying key whether every table's column of its short name holds
    the run's value. A finished run's table is read and parsed here, once."""
    keys = list(runs[0].varying)
    names = short_keys(keys)
    columns: dict[str, None] = {}
    agrees = dict.fromkeys(keys, True)
    entries = []
    for i, (run, result) in enumerate(zip(runs, results, strict=True)):
        found = verified(run)
        if result is None or result.get("skipped"):
            result = found.result if found else {"status": status_of(run.directory), "message": ""}
        if result["status"] in FINISHED and found is None:
            result = {**result, "status": "corrupted", "message": "its files do not match its status (re-run it)"}
        ok = found is not None and result["status"] in FINISHED
        if not ok:
            results[i] = result
        summary, table = {}, None
        if ok:
            table = _Table.parse(found.files[kind.table])
            columns.update(dict.fromkeys(table.header))
            for key in keys:
                at = table.header.index(names[key]) if names[key] in table.header else None
                texts = _csv_texts(run.varying[key])
                agrees[key] = agrees[key] and at is not None and all(row[at] in texts for row in table.rows)
            if kind.summary is not None:
                summary = kind.summary(table.light() if kind.light else table.frame(), run.spec)
        entries.append((result["status"], result.get("wall_s", np.nan), summary, table))
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


def _write_combined(path, included, prefix: dict, columns: dict):
    """Second pass: run_id, the `prefix` keys' values (key -> column name), then each run's
    table reordered to `columns` ('' where a table lacks one), streamed into `path`."""
    with atomic.writing(path) as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["run_id", *prefix.values(), *columns])
        for run, table in included:
            lead = [run.run_id, *(_csv_text(run.varying[k]) for k in prefix)]
            at = [table.header.index(c) if c in table.header else None for c in columns]
            writer.writerows(lead + [row[j] if j is not None else "" for j in at] for row in table.rows)


def _csv_text(value) -> str:
    """A spec value as pandas writes it in a CSV cell."""
    value = _cell(value)
    return "" if value is None else str(value)


def _csv_texts(value) -> set[str]:
    """How a run's value may appear in its table's column (a one-value list as that value)."""
    return {_csv_text(value), *([str(value[0])] if isinstance(value, list) and len(value) == 1 else [])}


def _cell(value):
    return value_text(value) if isinstance(value, list) else value


# ---------------------------------------------------------------------------------------------
# reading results back: plot, check, report and the API


class Loaded(NamedTuple):
    """One results path as read back: its kind (None: cannot tell), its table (with run_id and
    seed), runs.csv (None without one), the experiment's name, and its first run's spec."""

    kind: kinds.Kind | None
    frame: pd.DataFrame
    runs: pd.DataFrame | None
    name: str
    spec: dict


class ResultsError(ValueError):
    """A results path that cannot be read as one: a one-line message naming it."""


def tables() -> dict[str, str]:
    """Table file name -> kind name, of every registered kind."""
    return {kinds.get(name).table: name for name in kinds.names()}


def kind_of_table(path: Path, frame: pd.DataFrame) -> kinds.Kind | None:
    """The kind whose table this is: by file name, else by a column only that kind's table has."""
    by_name = tables().get(path.name)
    if by_name:
        return kinds.get(by_name)
    return next(
        (kind for kind in map(kinds.get, kinds.names()) if kind.plot and kind.plot.signature in frame.columns), None
    )


MAX_COLUMNS = 10_000  # columns of a table to plot or report (pgcli's own have a few dozen)
MAX_HEADER_CHARS = 10_000_000  # of its first line, read to count them


def _read(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise ResultsError(f"{path} is not a regular file")
    with open(path, newline="", errors="replace") as handle:  # count the header's columns before parsing it all
        header = next(csv.reader([handle.readline(MAX_HEADER_CHARS)]), [])
    if len(header) > MAX_COLUMNS:
        raise ResultsError(f"{path} has {len(header):,} columns; a table pgcli reads has at most {MAX_COLUMNS:,}")
    try:
        frame = read_csv(path)
    except pd.errors.EmptyDataError:
        raise ResultsError(f"{path} is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
        raise ResultsError(f"{path} is not a readable CSV: {str(err).splitlines()[0][:120]}") from None
    if frame.empty:
        raise ResultsError(f"{path} has a header but no rows")
    if len(frame.columns) > MAX_COLUMNS:
        raise ResultsError(
            f"{path} has {len(frame.columns):,} columns; a table pgcli reads has at most {MAX_COLUMNS:,}"
        )
    return frame


def read_runs(path: Path) -> pd.DataFrame:
    """runs.csv of a summary directory (ResultsError if it is not a readable CSV with run_id)."""
    try:
        table = read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as err:
        raise ResultsError(f"{path} is not a readable CSV: {str(err).splitlines()[0][:80]}") from None
    if "run_id" not in table.columns:
        raise ResultsError(f"{path} is not a runs.csv (no run_id column)")
    return table


def varying_columns(runs: pd.DataFrame) -> list[str]:
    """The columns of runs.csv that hold the varying keys: those `aggregate` writes between label
    and status."""
    columns = list(runs.columns)
    if "label" not in columns or "status" not in columns:
        return []
    return columns[columns.index("label") + 1 : columns.index("status")]


def run_directory(summary_dir: str | Path, run_id: str) -> Path:
    """A run's directory from a summary directory: results/<name>/ or results/<name>/sweeps/<id>/."""
    summary_dir = Path(summary_dir)
    base = summary_dir.parent.parent if summary_dir.parent.name == "sweeps" else summary_dir
    return base / run_id


def first_config(directory: Path, runs: pd.DataFrame) -> dict:
    """The config.yaml of a summary directory's first run (ResultsError when there is none)."""
    run_ids = runs["run_id"].dropna().astype(str)
    config = run_directory(directory, run_ids.iloc[0]) / "config.yaml" if len(run_ids) else None
    if config is None or not config.is_file():
        raise ResultsError(f"{directory}: runs.csv names no run directory with a config.yaml")
    try:
        return read_config(config)
    except SpecError as err:
        raise ResultsError(str(err)) from None


def load(path: str | Path) -> Loaded:
    """The results of a summary directory (runs.csv and the combined table), a run directory
    (config.yaml and its table) or a CSV file; ResultsError naming what is wrong."""
    path = Path(path)
    if not path.exists():
        raise ResultsError(f"{path}: no such results directory or CSV file")
    directory = path if path.is_dir() else path.parent
    config = None
    if (directory / "config.yaml").is_file():
        try:
            config = read_config(directory / "config.yaml")
        except SpecError as err:
            raise ResultsError(str(err)) from None
    runs = read_runs(directory / "runs.csv") if (directory / "runs.csv").is_file() else None
    if path.is_dir():
        names = [name for name in tables() if (path / name).is_file()]
        if not names:
            what = "runs.csv but no finished run" if runs is not None else "no table"
            raise ResultsError(f"no results in {path}: {what} ({', '.join(tables())})")
        path = path / names[0]
    frame = _read(path)
    if config is not None:
        name = (config.get("spec") or {}).get("name") or directory.name
        if "run_id" not in frame:  # a run directory's table: its run_id and seed from its config
            frame.insert(0, "run_id", str(config.get("run_id", "run")))
            frame.insert(1, "seed", (config.get("spec") or {}).get("seed", 0))
        spec = config.get("spec") or {}
    else:
        name = directory.name if runs is not None else path.stem
        spec = {}
        if runs is not None and "run_id" in frame and not frame.empty:
            with contextlib.suppress(ResultsError):
                spec = first_config(directory, runs).get("spec") or {}
    if "run_id" not in frame:
        frame.insert(0, "run_id", frame["seed"].astype(str) if "seed" in frame else name)
    return Loaded(kind_of_table(path, frame), frame, runs, name, spec if isinstance(spec, dict) else {})
