"""Package-level promises: the core never imports Click, and the README documents every key."""

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import pgcli
from pgcli import kinds
from pgcli.shell.spec import schema_rows

ROOT = Path(__file__).resolve().parents[1]
CORE = sorted(m.name for m in pkgutil.iter_modules(pgcli.__path__) if m.name not in {"cli", "__main__"})


def test_importing_the_core_does_not_load_click():
    code = f"import sys; import {', '.join('pgcli.' + m for m in CORE)}; print('click' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("kind", kinds.names())
def test_readme_documents_every_spec_key(kind):
    readme = (ROOT / "README.md").read_text()
    missing = [key for key, *_ in schema_rows(kinds.schema(kinds.get(kind))) if f"`{key}`" not in readme]
    assert not missing, f"README lacks {kind} keys: {missing}"


def test_readme_documents_every_command():
    readme = (ROOT / "README.md").read_text()
    from pgcli.shell.cli import cli

    for command in cli.commands:
        assert f"pgcli {command}" in readme
