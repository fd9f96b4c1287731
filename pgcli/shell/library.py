"""The reproduction library shipped in the package (pgcli/library/*.yaml): a bundled spec is
addressable by name wherever a spec file is (`pgcli train cartpole`, `pgcli check cartpole`), listed
by `pgcli list` and written out for editing by `pgcli copy`. Read with importlib.resources, so it
works from an installed wheel."""

from __future__ import annotations

import errno
import re
from pathlib import Path
from typing import NamedTuple

from pgcli.library import directory
from pgcli.shell.spec import read_yaml


class Entry(NamedTuple):
    """A bundled spec: its name, kind, what it reproduces (its `# title:` line, and the rest of its
    leading comment), how long it takes (its `# time:` line), whether it has an `expect:` block,
    and its file."""

    name: str
    kind: str
    title: str
    about: str
    time: str
    checked: bool
    path: Path


def names() -> list[str]:
    """Every bundled spec's name, sorted."""
    return sorted(path.stem for path in directory().glob("*.yaml"))


def find(text: str | Path) -> Path | None:
    """The file a spec argument names: an existing file as given, else the bundled spec of that
    name (`cartpole`, or `cartpole.yaml`), else None."""
    path = Path(text)
    try:
        if path.exists():
            return path
    except OSError as err:  # a name too long for the file system is no file (a permission error is its own)
        if err.errno != errno.ENAMETOOLONG:
            raise
        return None
    except ValueError:  # a NUL byte
        return None
    name = path.name.removesuffix(".yaml")
    if path.parent == Path(".") and name in names():
        return directory() / f"{name}.yaml"
    return None


def entry(path: Path) -> Entry:
    """A bundled spec's Entry, from its text (its comments) and its keys."""
    text = path.read_text()
    comments = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        comments.append(line.lstrip("#").strip())
    keyed = {
        key: line.partition(":")[2].strip()
        for line in comments
        for key in ("title", "time")
        if line.startswith(f"{key}:")
    }
    about = " ".join(line for line in comments if line and not line.startswith(("title:", "time:")))
    spec = read_yaml(path)
    kind = spec.get("kind") or _kind_of(spec)
    return Entry(
        path.stem,
        kind,
        keyed.get("title", ""),
        re.sub(r"\s+", " ", about),
        keyed.get("time", ""),
        "expect" in spec,
        path,
    )


def _kind_of(spec: dict) -> str:
    from pgcli.shell.experiment import infer_kind

    return infer_kind(spec, "")


def entries() -> list[Entry]:
    """The whole library."""
    return [entry(directory() / f"{name}.yaml") for name in names()]
