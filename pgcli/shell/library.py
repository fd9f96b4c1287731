"""The reproduction library shipped in the package (pgcli/library/*.yaml): a bundled spec is
addressable by name wherever a spec file is (`pgcli train cartpole`, `pgcli check cartpole`), listed
by `pgcli list` and written out for editing by `pgcli copy`. Read with importlib.resources, so it
works from an installed wheel."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import NamedTuple

from pgcli.shell.spec import read_yaml


class Entry(NamedTuple):
    """A bundled spec: its name, kind, what it reproduces (its leading comment), how long it takes
    (its `# time:` line), whether it has an `expect:` block, and its file."""

    name: str
    kind: str
    about: str
    time: str
    checked: bool
    path: Path


def directory() -> Path:
    """The library's folder (a real folder in an installed package)."""
    return Path(str(resources.files("pgcli.library")))


def names() -> list[str]:
    """Every bundled spec's name, sorted."""
    return sorted(path.stem for path in directory().glob("*.yaml"))


def find(text: str | Path) -> Path | None:
    """The file a spec argument names: an existing file as given, else the bundled spec of that
    name (`cartpole`, or `cartpole.yaml`), else None."""
    path = Path(text)
    if path.exists():
        return path
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
    time = next((line.removeprefix("time:").strip() for line in comments if line.startswith("time:")), "")
    about = " ".join(line for line in comments if line and not line.startswith("time:"))
    spec = read_yaml(path)
    kind = spec.get("kind") or _kind_of(spec)
    return Entry(path.stem, kind, re.sub(r"\s+", " ", about), time, "expect" in spec, path)


def _kind_of(spec: dict) -> str:
    from pgcli.shell.experiment import infer_kind

    return infer_kind(spec, "")


def entries() -> list[Entry]:
    """The whole library."""
    return [entry(directory() / f"{name}.yaml") for name in names()]
