"""Shared test helpers: invoking the CLI and checking the bad-input contract."""

from pathlib import Path

from click.testing import CliRunner

from pgcli.cli import cli


def invoke(*args, cwd=None):
    runner = CliRunner()
    return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)


def assert_bad_input(result, *fragments, nothing_in: Path | None = None):
    """Exit 2, one line on stderr naming the problem, no traceback, nothing written."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    if nothing_in is not None:
        assert not nothing_in.exists() or not any(nothing_in.rglob("*")), list(nothing_in.rglob("*"))


def written(result) -> Path:
    """The file a command says it wrote (its last 'wrote PATH' line)."""
    lines = [line for line in result.stdout.splitlines() if line.startswith("wrote ")]
    assert lines, result.output
    return Path(lines[-1].removeprefix("wrote "))
