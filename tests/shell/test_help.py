"""Help that covers the tool: every option of every command says what it does, `pgcli` alone
prints the help, and train's help names every algorithm."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest

from pgcli.shell.cli import cli
from tests.helpers import invoke

COMMANDS = cli.list_commands(click.Context(cli))


@pytest.mark.parametrize("name", COMMANDS)
def test_every_option_has_help_text(name):
    command = cli.get_command(click.Context(cli), name)
    bare = [p.opts[0] for p in command.params if isinstance(p, click.Option) and not (p.help or "").strip()]
    assert not bare, f"pgcli {name}: options without help: {bare}"
    result = invoke(name, "--help")
    assert result.exit_code == 0 and "Examples:" in result.output, result.output


def test_train_help_names_every_algorithm():
    text = invoke("train", "--help").output
    for algorithm in ("REINFORCE", "natural", "TRPO", "PPO"):
        assert algorithm in text.split("Options:")[0], algorithm
    assert "TRPO or PPO" in invoke("--help").output


def test_pgcli_alone_prints_the_help_and_exits_0():
    result = subprocess.run([sys.executable, "-m", "pgcli"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: ") and "Commands:" in result.stdout and not result.stderr
