"""The README, executed: every command in its code blocks runs as written and does what it shows.

Commands are the lines of the README's code blocks that start with `pgcli`, `$ pgcli` or
`python -m pgcli`. They run in README order, in one temporary copy of the repository (so
`pgcli plot results/cartpole` sees what `pgcli train pgcli/library/cartpole.yaml` wrote), from a
bash subprocess (so globs expand) whose output is a pipe, with this venv's `pgcli` and `python`
first on PATH — as a user copies them. A command shown with output (a `$ `
line followed by lines) must print those lines (wall-clock columns excepted) and exits 2 when the
output is an `Error:` line, else 0.

The one mechanism for commands too slow for CI is BUDGET below: the `--set` overrides appended to
a command that trains for minutes. Such a command shows no output in the README. Nothing is skipped.
A cluster recipe's `--scheduler tcp://HOST:PORT` runs against a real `dask scheduler` with two
`dask worker`s that this test starts on 127.0.0.1, in directories of their own. A fenced block
whose first line is `# NAME.py, ...` is a file the README asks the user to write: it is written to
NAME.py in the copy before the commands run.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from pgcli.shell.runner import WALL_CLOCK

ROOT = Path(__file__).resolve().parent.parent
WALL_COLUMNS = {*WALL_CLOCK, "rank", "seconds_for_target"}  # --rank orders by measured efficiency
# command (as written in the README) -> overrides appended in CI: the only way a README command
# runs differently here. Each trains for minutes at full size.
BUDGET: dict[str, list[str]] = {}
PROMPTS = ("$ pgcli ", "pgcli ", "python -m pgcli ")


def code_blocks(text: str) -> list[list[str]]:
    """The README's code blocks (fenced or indented by four spaces), as lists of lines."""
    blocks, current, fenced = [], None, False
    for line in text.splitlines():
        if line.startswith("```"):
            if current is not None:  # a fence closes its block, or ends an indented one
                blocks.append(current)
            current, fenced = ([], True) if not fenced else (None, False)
            continue
        if fenced:
            current.append(line)
        elif line.startswith("    ") and (current is not None or line.strip()):
            current = current if current is not None else []
            current.append(line[4:])
        elif current is not None and not line.strip():
            current.append("")
        elif current is not None:
            blocks.append(current)
            current = None
    if current is not None and not fenced:
        blocks.append(current)
    return blocks


def commands(text: str) -> list[tuple[str, list[str]]]:
    """(command, the output shown under it) for every pgcli command in the README's code blocks."""
    found = []
    for block in code_blocks(text):
        lines = [line.rstrip() for line in block]
        i = 0
        while i < len(lines):
            line = lines[i].strip()
            i += 1
            if not line.startswith(PROMPTS):
                continue
            command = line.removeprefix("$ ")
            command = shlex.join(shlex.split(command, comments=True)) if "*" not in command else command.split(" #")[0]
            shown = []
            if line.startswith("$ "):
                while i < len(lines) and lines[i].strip() and not lines[i].strip().startswith(PROMPTS):
                    shown.append(lines[i])
                    i += 1
            found.append((command, shown))
    return found


def _tokens(lines: list[str]) -> list[list[str]]:
    """Lines as whitespace tokens, without the wall-clock columns of the table they hold.

    A table is pandas' text: the header names end where their columns' values end, so a column
    spans from the end of the previous name to the end of its own, and is blanked there. A table
    with a `rank` column (estimate --rank: ordered by measured efficiency) has its rows compared
    as a set."""
    header = next((i for i, line in enumerate(lines) if WALL_COLUMNS & set(line.split())), None)
    if header is None:
        return [line.split() for line in lines]
    spans, start = [], 0
    for match in re.finditer(r"\S+", lines[header]):
        if match.group() in WALL_COLUMNS:
            spans.append((start, match.end()))
        start = match.end()
    rows = []
    for i, line in enumerate(lines):
        for a, b in spans if i >= header else []:
            line = line[:a] + " " * max(0, min(b, len(line)) - a) + line[b:]
        rows.append(line.split())
    if "rank" in lines[header].split():
        rows = rows[: header + 1] + sorted(rows[header + 1 :])
    return rows


def contains(printed: list[str], shown: list[str]) -> bool:
    """The shown lines appear, in order and together, in what the command printed."""
    want = _tokens(shown)
    starts = range(len(printed) - len(shown) + 1)
    return any(_tokens(printed[start : start + len(shown)]) == want for start in starts)


README_COMMANDS = commands((ROOT / "README.md").read_text())


def test_the_readme_has_its_commands():
    assert len(README_COMMANDS) >= 20
    assert all(command.split()[0] in {"pgcli", "python"} for command, _ in README_COMMANDS)
    assert any(shown for _, shown in README_COMMANDS)
    assert set(BUDGET) <= {command for command, _ in README_COMMANDS}, "a BUDGET entry names no README command"


@pytest.fixture(scope="module")
def repo_copy(tmp_path_factory):
    """A copy of the repository as a user clones it, without results, caches or the venv."""
    target = tmp_path_factory.mktemp("readme") / "pgcli"
    ignore = shutil.ignore_patterns(".git", ".venv", "results", "__pycache__", ".pytest_cache", ".ruff_cache")
    shutil.copytree(ROOT, target, ignore=ignore)
    return target


HEAD = re.compile(r"--scheduler tcp://\S+")
FILE = re.compile(r"^# ([\w.]+\.py)\b")


def files(text: str) -> dict[str, str]:
    """The files the README's code blocks ask a user to write: {name: text}."""
    return {m.group(1): "\n".join(block) + "\n" for block in code_blocks(text) if block and (m := FILE.match(block[0]))}


@contextlib.contextmanager
def dask_cluster(env, tmp_path):
    """A `dask scheduler` and two `dask worker`s on 127.0.0.1 (each in a directory of its own),
    as separate processes; yields the scheduler's address."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    dask = str(Path(sys.executable).parent / "dask")
    commands = [[dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"]]
    commands += [[dask, "worker", address, "--nthreads", "1", "--no-dashboard"]] * 2
    processes = []
    try:
        for i, argv in enumerate(commands):
            (tmp_path / f"node{i}").mkdir()
            processes.append(subprocess.Popen(argv, cwd=tmp_path / f"node{i}", env=env, stdout=subprocess.DEVNULL,
                                              stderr=subprocess.DEVNULL))  # fmt: skip
        from dask.distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(30)


@pytest.mark.slow
def test_every_readme_command_runs_as_written(repo_copy, tmp_path):
    failures = []
    env = {**os.environ, "COLUMNS": "200"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"  # pgcli and python of this venv
    env["PYTHONPATH"] = str(repo_copy)  # ... running the copy's code
    for name, text in files((ROOT / "README.md").read_text()).items():
        (repo_copy / name).write_text(text)
    needs_cluster = any(HEAD.search(command) for command, _ in README_COMMANDS)
    with dask_cluster(env, tmp_path) if needs_cluster else contextlib.nullcontext() as address:
        for command, shown in README_COMMANDS:
            failures += _run(command, shown, repo_copy, env, address)
    assert not failures, "\n\n".join(failures)


def _run(command, shown, repo_copy, env, address) -> list[str]:
    """Run one README command as written (plus its BUDGET); what is wrong with it, if anything."""
    line = " ".join([HEAD.sub(f"--scheduler {address}", command), *map(shlex.quote, BUDGET.get(command, []))])
    result = subprocess.run(
        line, shell=True, executable="/bin/bash", cwd=repo_copy, capture_output=True, text=True, env=env, timeout=900
    )
    expected_code = 2 if shown and shown[0].startswith("Error:") else 0
    printed = (result.stderr if expected_code == 2 else result.stdout).splitlines()
    if result.returncode != expected_code:
        return [f"{command}: exit {result.returncode}, expected {expected_code}: {result.stderr[-500:]}"]
    if "Traceback" in result.stderr:
        return [f"{command}: printed a traceback: {result.stderr[-500:]}"]
    if shown and not contains(printed, shown):
        return [f"{command}: printed\n{result.stdout}{result.stderr}\ninstead of\n" + "\n".join(shown)]
    return []


def test_output_comparison_ignores_wall_clock_columns_only():
    shown = ["a  wall_s  b", "1    0.31  2"]
    assert contains(["noise", "a  wall_s  b", "1   10.99  2"], shown)
    assert not contains(["a  wall_s  b", "1    0.31  3"], shown)
    ranked = ["rank x seconds_for_target", "   1 a              0.5", "   2 b                1"]
    assert contains(["rank x seconds_for_target", "   1 b              0.2", "   2 a                7"], ranked)
    assert not contains(["rank x seconds_for_target", "   1 b              0.2", "   2 c                7"], ranked)


def test_the_readme_files_are_found():
    assert "myproblem.py" in files((ROOT / "README.md").read_text())


def test_commands_are_read_from_both_block_styles():
    text = "x\n\n    $ pgcli a --b 1   # note\n    out 1\n\n```\npgcli c\n```\n"
    assert commands(text) == [("pgcli a --b 1", ["out 1"]), ("pgcli c", [])]
