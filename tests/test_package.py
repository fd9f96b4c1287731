"""Package-level promises: the core never imports Click, the spec reference documents every key, and the
README every command."""

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import pgcli
from pgcli import kinds
from pgcli.shell.experiment import schema_of
from pgcli.shell.spec import schema_rows

ROOT = Path(__file__).resolve().parents[1]
CORE = sorted(m.name for m in pkgutil.iter_modules(pgcli.__path__) if m.name not in {"cli", "__main__"})


def test_importing_the_core_does_not_load_click():
    code = f"import sys; import {', '.join('pgcli.' + m for m in CORE)}; print('click' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("kind", kinds.names())
def test_the_spec_reference_documents_every_spec_key(kind):
    """docs/reference.md has a section per kind with a row per key (tests/test_docs.py checks it is
    exactly what `make reference` writes; this says what that must contain)."""
    page = (ROOT / "docs" / "reference.md").read_text()
    section = page.split(f"## `{kind}` specs\n", 1)[1].split("\n## ", 1)[0]
    missing = [key for key, *_ in schema_rows(schema_of(kind)) if f"| `{key}` |" not in section]
    assert not missing, f"docs/reference.md lacks {kind} keys: {missing}"


def test_readme_documents_every_command():
    readme = (ROOT / "README.md").read_text()
    from pgcli.shell.cli import cli

    for command in cli.commands:
        assert f"pgcli {command}" in readme
