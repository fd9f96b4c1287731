"""Portable imports: with every POSIX-only module missing (as on Windows), `import pgcli`, the API
and every command's --help still work."""

from __future__ import annotations

import subprocess
import sys

import click

from pgcli.shell.cli import cli

POSIX_ONLY = [
    "fcntl",
    "termios",
    "pty",
    "tty",
    "resource",
    "grp",
    "pwd",
    "readline",
    "syslog",
]  # posix: os itself needs it here
COMMANDS = cli.list_commands(click.Context(cli))

PROBE = f"""
import sys
for name in {POSIX_ONLY!r}:
    sys.modules[name] = None  # `import name` now raises ImportError, as where the module does not exist
import pgcli
from pgcli.shell import executors, experiment, results, runner, bars, library  # the run machinery too
from pgcli.shell.cli import cli
for command in [[], *([name, "--help"] for name in sys.argv[1:])]:
    try:
        cli.main(command, prog_name="pgcli", standalone_mode=False)
    except SystemExit as exit:
        assert not exit.code, (command, exit.code)
print("ok")
"""


def test_pgcli_imports_and_helps_without_posix_only_modules():
    result = subprocess.run([sys.executable, "-c", PROBE, *COMMANDS], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok") and "Commands:" in result.stdout
