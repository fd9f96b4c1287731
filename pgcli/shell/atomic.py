"""Atomic file writes: write a temporary file beside the target, then os.replace it.

A reader (or a Ctrl-C) never sees a half-written file: the target is either the old version,
absent, or complete.
"""

from __future__ import annotations

import csv
import io
import os
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from pgcli.base import lazy
from pgcli.base.table import Table, is_integer, is_number, missing

pd = lazy.module("pandas")


UMASK = os.umask(0o022)
os.umask(UMASK)  # read the process umask (os has no getter) and put it back


class NotRegularFile(OSError):
    """The target exists and is a device, FIFO, socket or directory: never replaced."""


def _target(path: str | Path) -> Path:
    """Where a write to `path` goes: a symlink is written through to the file it points at."""
    path = Path(path)
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def _special(path: Path) -> str | None:
    if path.exists() and not path.is_file():
        what = "a directory" if path.is_dir() else "not a regular file (a device, FIFO or socket)"
        return f"output path {path} is {what}; refusing to replace it"
    return None


STREAMS = {"-": 1, "/dev/stdout": 1, "/dev/stderr": 2, "/dev/fd/1": 1, "/dev/fd/2": 2,
           "/proc/self/fd/1": 1, "/proc/self/fd/2": 2}  # fmt: skip


def stream_of(path: str | Path) -> int | None:
    """The file descriptor (1 or 2) an output path names (`-`, /dev/stdout, /proc/self/fd/2...), or None."""
    return STREAMS.get(str(path))


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` atomically; a symlink is written through, never replaced; an output
    named /dev/stdout (`-`) or /dev/stderr is written to that stream."""
    if (fd := stream_of(path)) is not None:
        _to_stream(fd, data)
        return Path(path)
    path = _target(path)
    if problem := _special(path):
        raise NotRegularFile(problem)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~UMASK)  # mkstemp makes files 0600; results are shared (NFS, Dask)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text(path: str | Path, text: str) -> Path:
    """Write text (UTF-8) to path atomically; returns the path."""
    return write_bytes(path, text.encode())


def write_csv(path: str | Path, frame: pd.DataFrame | Table) -> Path:
    """Tidy CSV, no index, '' for missing values, floats in full (round-trip) precision."""
    return write_text(path, csv_text(frame))


def csv_text(frame: pd.DataFrame | Table) -> str:
    """The text `write_csv` writes. A pgcli.base.table.Table is written as pandas writes the
    DataFrame of its rows, byte for byte, without importing pandas (unless a cell holds a type
    `_cells` does not know: then pandas writes it)."""
    if not isinstance(frame, Table):
        return frame.to_csv(index=False, lineterminator="\n")
    columns = [_cells([row.get(name) for row in frame.rows]) for name in frame.columns]
    if any(cells is None for cells in columns):
        return csv_text(frame.frame())
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")  # pandas writes with the csv module's defaults too
    writer.writerow(frame.columns)
    writer.writerows(zip(*columns, strict=True))
    return buffer.getvalue()


_PLAIN = (bool, np.bool_, int, float, str)  # the cell types `_cells` writes as pandas does


def _cells(values: list) -> list[str] | None:
    """One column's cells as pandas writes the column it makes of these values (None for a type
    not in _PLAIN): integers alone are int64; integers and doubles, or integers with an empty
    cell, float64 (repr: shortest round-trip, as NumPy prints a float64); anything else (text,
    booleans, mixtures) object, each value's str(); empty cells ''."""
    present = [v for v in values if not missing(v)]
    if not all(isinstance(v, _PLAIN) or is_integer(v) for v in present):
        return None
    if all(is_integer(v) for v in present) and len(present) == len(values):
        return [str(int(v)) for v in values]
    if all(is_number(v) for v in present):
        return ["" if missing(v) else repr(float(v)) for v in values]
    return ["" if missing(v) else str(v) for v in values]


@contextmanager
def writing(path: str | Path, binary: bool = False):
    """A file written in pieces (streamed), atomically: it appears complete or not at all; like
    `write_bytes`, a symlink is written through and a special file refused."""
    path = _target(path)
    if problem := _special(path):
        raise NotRegularFile(problem)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except FileNotFoundError:  # making the directory only then saves a system call per file
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~UMASK)
        with os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            yield handle
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def link_problem(path: str | Path, root: str | Path) -> str | None:
    """Why pgcli will not write `path` inside the results root `root`, or None: every file pgcli
    writes there is its own, so no directory or file from below the root down to the path may be a
    symbolic link (one pointing elsewhere would send the write out of the tree), and what exists
    at the path is a regular file. The root itself may be a link (your choice of disk)."""
    path, root = Path(path), Path(root)
    try:
        relative = path.relative_to(root)
    except ValueError:
        return f"{path} is outside the results root {root}"
    current = root
    for part in relative.parts:
        current = current / part
        try:
            info = os.lstat(current)
        except (FileNotFoundError, NotADirectoryError):
            return None  # the rest is created (or cannot be: check_writable says why)
        except OSError as err:
            return f"cannot reach {current}: {err.strerror or err}"
        if stat.S_ISLNK(info.st_mode):
            return f"{current} is a symbolic link; pgcli writes nothing through a link inside the results root"
    if path.exists() and not (path.is_file() or path.is_dir()):
        return f"{path} is not a regular file (a device, FIFO or socket); refusing to replace it"
    return None


def _to_stream(fd: int, data: bytes) -> None:
    import sys

    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def read_regular(path: str | Path, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes (not a link, FIFO or device: those
    could hang a read or never end); OSError otherwise."""
    path = Path(path)
    info = os.lstat(path)
    if not stat.S_ISREG(info.st_mode):
        raise OSError(f"{path} is not a regular file")
    if info.st_size > limit:
        raise OSError(f"{path} is {info.st_size:,} bytes; the limit is {limit:,}")
    with open(path, "rb") as handle:
        data = handle.read(info.st_size + 1)  # a buffer the file's size, not the limit's
        if len(data) > info.st_size:  # it grew since lstat: read on, to the limit
            data += handle.read(limit + 1 - len(data))
    if len(data) > limit:
        raise OSError(f"{path} grew past {limit:,} bytes while it was read")
    return data


def check_writable(path: str | Path) -> str | None:
    """Why `path` cannot be written (before any work starts), or None if it can."""
    if stream_of(path) is not None:
        return None
    try:
        return _writable(path)
    except (OSError, ValueError) as err:  # a name too long, a NUL byte, a loop of links
        return f"cannot write {str(path)[:200]!r}: {getattr(err, 'strerror', None) or err}"


def _writable(path: str | Path) -> str | None:
    shown = path
    if "\0" in str(path):
        raise ValueError("the name holds a NUL byte")
    if any(len(part.encode()) > 255 for part in Path(path).parts):
        raise OSError(36, "File name too long")
    path = _target(path)
    if path.is_symlink():  # still a link once resolved: a loop
        return f"output path {shown} is a loop of symbolic links"
    if path.is_dir():
        return f"output path is a directory: {shown}"
    if _special(path):
        return f"output path {shown} is not a regular file (a device, FIFO or socket); refusing to replace it"
    parent = path.parent
    while not parent.exists():
        if parent.is_symlink():  # exists() follows links: a loop, or a link to nothing
            return f"cannot write to {path.parent}: {parent} is a symbolic link that leads nowhere (a loop or a missing target)"
        parent = parent.parent
    if not parent.is_dir():
        return f"cannot write to {path.parent}: {parent} is a file, not a directory"
    if not os.access(parent, os.W_OK):
        return f"cannot write to {path.parent}"
    return None
