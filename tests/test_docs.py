"""The docs, executed: every command block of README.md and docs/*.md runs as a user types it and
prints what the page shows. One test per block (ids like `docs/train.md:42`, the block's opening
fence), so pytest-xdist spreads them; the site builds in strict mode; the spec reference is current.

What a page's fenced blocks mean here (tests below check that every block is one of these):

- `console`: lines starting `$ ` are commands; the lines under one, up to a blank line or the next
  `$ `, are what it prints. `bash` / `sh`: every line is a command, shown without output.
  `python`, `yaml`, `text`: not run — except that a `python` or `yaml` block whose first line is
  `# NAME.py` or `# NAME.yaml` is a file the page asks you to write: it is written into the
  working directory of every block of that page before the block runs.
- A command block whose first line is `# not run by the docs test: REASON` is not run (a SLURM
  cluster, `pip install`, a benchmark that takes minutes): `grep -rn "not run by the docs test"`.
- `<!-- docs-test: name=NAME -->` on the line before a block names it; `<!-- docs-test:
  after=NAME -->` says the block needs what an earlier named block of the same page wrote: that one
  runs first and its directory is copied into this block's, which starts from it.

How a block runs: each command on its own, in order, from a new empty temporary directory (not
the repository), through bash (so globs, quotes and comments are bash's), with this venv's
`pgcli` and `python` first on PATH and its output a pipe; nothing is added to the command (no
`-q`). A command whose shown output starts with `Error:` must exit 2 (and print that on stderr),
every other command 0, and none may print a traceback. Shown lines must appear, in order and
together, in what the command printed (on stdout, or on stderr: a note, an error), compared as
whitespace-separated tokens, except the wall-clock columns (`seconds`, `wall_s`, `efficiency`, …
of every kind), durations in a sentence (`in 0.4 s`) and the rank of a `--rank` table (ordered by
measured efficiency; its rows are compared as a set).

A block's outcome depends only on its commands, its page's files and its prerequisites, so it is
computed once per test session, whichever test asks first (a file lock keeps two xdist workers
from computing it twice): pages that show the same commands (`pgcli train cartpole`) share one
run. A `--scheduler tcp://HOST:PORT` runs against a real `dask scheduler` with two `dask worker`s
that the test starts on 127.0.0.1, each in a directory of its own, for that block.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest
from filelock import FileLock

from pgcli import kinds
from pgcli.shell import reference
from tests.helpers import start_dask_scheduler

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]
WALL_COLUMNS = {*kinds.wall_clock(), "rank", "seconds_for_target"}  # --rank orders by measured efficiency
COMMAND_LANGUAGES = {"console", "bash", "sh"}
OTHER_LANGUAGES = {"python", "yaml", "text"}
NOT_RUN = "# not run by the docs test:"
FENCE = re.compile(r"^(`{3,})\s*(\S*)\s*$")
DIRECTIVE = re.compile(r"^<!-- docs-test: (.*) -->$")
FILE = re.compile(r"^# ([\w.-]+\.(?:py|yaml))\b")
HEAD = re.compile(r"--scheduler tcp://\S+")


class Block(NamedTuple):
    """A fenced code block of a page: where it opens, its language, its lines, and its directives."""

    page: str
    line: int  # 1-based line of the opening fence
    language: str
    lines: tuple[str, ...]
    name: str | None = None
    after: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def not_run(self) -> str | None:
        """The reason given for not running this block, or None."""
        if self.lines and self.lines[0].startswith(NOT_RUN):
            return self.lines[0].removeprefix(NOT_RUN).strip()
        return None

    @property
    def runs(self) -> bool:
        return self.language in COMMAND_LANGUAGES and self.not_run is None

    def commands(self) -> list[tuple[str, list[str]]]:
        """(command, the lines shown as its output) for every command of the block."""
        lines = [line.rstrip() for line in self.lines]
        found, i = [], 0
        while i < len(lines):
            line = lines[i].strip()
            i += 1
            prompt = self.language == "console"
            if (prompt and not line.startswith("$ ")) or not line or (not prompt and line.startswith("#")):
                continue
            shown = []
            if prompt:
                while i < len(lines) and lines[i].strip() and not lines[i].startswith("$ "):
                    shown.append(lines[i])
                    i += 1
            found.append((line.removeprefix("$ "), shown))  # run as written: bash reads its quotes and comments
        return found


def normal(command: str) -> str:
    """A command without its trailing comment and with its quoting made uniform: how identical
    commands on different pages are told (never what runs)."""
    if "*" in command:  # a glob or an expression: kept as typed, bash expands it
        return command.split(" #")[0].strip()
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True  # words split at blanks and at bash's operators (>>, |, ;, &&)
    return " ".join(word if set(word) <= set(lexer.punctuation_chars) else shlex.quote(word) for word in lexer)


def blocks(page: str, text: str) -> list[Block]:
    """The fenced blocks of a page, with the `<!-- docs-test: ... -->` directive on the line before."""
    found, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        start, fence = i, match.group(1)
        end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == fence), len(lines))
        options = {}
        if start > 0 and (directive := DIRECTIVE.match(lines[start - 1].strip())):
            options = dict(item.split("=", 1) for item in directive.group(1).split())
        after = tuple(options["after"].split(",")) if "after" in options else ()
        found.append(Block(page, start + 1, match.group(2), tuple(lines[start + 1 : end]), options.get("name"), after))
        i = end + 1
    return found


BLOCKS = [block for page in PAGES for block in blocks(page, (ROOT / page).read_text())]
RUN = [block for block in BLOCKS if block.runs]


def files(page: str) -> dict[str, str]:
    """The files a page asks you to write: {name: text}."""
    found = {}
    for block in BLOCKS:
        if (
            block.page == page
            and block.language in {"python", "yaml"}
            and block.lines
            and (m := FILE.match(block.lines[0]))
        ):
            found[m.group(1)] = "\n".join(block.lines) + "\n"
    return found


def prerequisites(block: Block) -> list[Block]:
    named = {b.name: b for b in BLOCKS if b.page == block.page and b.name and b.line < block.line}
    return [named[name] for name in block.after]


def key(block: Block) -> str:
    """What a block's outcome depends on: its commands, its page's files, its prerequisites'."""
    parts = [[normal(c) for c, _ in block.commands()], files(block.page), [key(p) for p in prerequisites(block)]]
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# the pages' own promises


def test_the_docs_have_their_commands():
    assert len(RUN) >= 30
    commands = [command for block in RUN for command, _ in block.commands()]
    assert len(commands) >= 60 and any(shown for block in RUN for _, shown in block.commands())
    assert all(block.commands() for block in RUN), [block.id for block in RUN if not block.commands()]


def test_every_code_block_says_what_it_is():
    unknown = [
        f"{b.id}: {b.language or 'no language'}"
        for b in BLOCKS
        if b.language not in COMMAND_LANGUAGES | OTHER_LANGUAGES
    ]
    assert not unknown, f"fenced blocks need a language of {sorted(COMMAND_LANGUAGES | OTHER_LANGUAGES)}: {unknown}"
    for page in PAGES:  # no indented code block or indented fence, which this test would not read
        for number, line in enumerate((ROOT / page).read_text().splitlines(), 1):
            assert not re.match(r"^ {4,}(\$ |pgcli |python -m pgcli )|^\s+```", line), f"{page}:{number}: {line}"


def test_every_block_not_run_says_why():
    for block in BLOCKS:
        if block.language in COMMAND_LANGUAGES and block.not_run is not None:
            assert len(block.not_run) > 10, f"{block.id}: give the reason after '{NOT_RUN}'"
    assert all(NOT_RUN not in "\n".join(b.lines[1:]) for b in BLOCKS)


def test_directives_name_earlier_blocks_of_the_same_page():
    for page in PAGES:
        names = [b.name for b in BLOCKS if b.page == page and b.name]
        assert len(names) == len(set(names)), f"{page}: a block name is used twice: {names}"
    for block in RUN:
        known = {b.name for b in BLOCKS if b.page == block.page and b.name and b.line < block.line and b.runs}
        assert set(block.after) <= known, f"{block.id}: after={block.after}, but the earlier named blocks are {known}"
    for block in RUN:
        assert not any(line.rstrip().endswith("\\") for line in block.lines), f"{block.id}: one command a line"


def test_the_pages_files_are_found():
    assert {"myproblem.py", "hamming.yaml", "corridor.py"} <= set(files("docs/own-code.md"))


POSIX_ONLY = {"fcntl", "termios", "tty", "pty", "pwd", "grp", "resource", "posix", "crypt", "nis", "spwd", "syslog"}


def test_the_package_imports_no_posix_only_module_when_it_loads():
    """The README's platform claim: no module of the package imports a POSIX-only module at load
    time (at its top level; one inside a function runs only when called), so `import pgcli` and
    `pgcli --help` can load on Windows."""
    found = []
    for path in sorted((ROOT / "pgcli").rglob("*.py")):
        for node in ast.parse(path.read_text(), str(path)).body:
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            found += [f"{path.relative_to(ROOT)}:{node.lineno}: {n}" for n in names if n.split(".")[0] in POSIX_ONLY]
    assert not found, found


def test_commands_are_read_from_console_and_bash_blocks():
    text = "x\n\n```console\n$ pgcli a --b 1   # note\nout 1\n\n$ pgcli c\n```\n\n<!-- docs-test: after=one -->\n```bash\n# a comment\npgcli d 'x y'\n```\n"
    first, second = blocks("p.md", text)
    assert first.commands() == [("pgcli a --b 1   # note", ["out 1"]), ("pgcli c", [])] and first.line == 3
    assert second.commands() == [("pgcli d 'x y'", [])] and second.after == ("one",)
    assert normal("pgcli a --b 1   # note") == "pgcli a --b 1" and normal('pgcli  d "x y"') == "pgcli d 'x y'"


def test_output_comparison_ignores_wall_clock_columns_only():
    shown = ["a  wall_s  b", "1    0.31  2"]
    assert contains(["noise", "a  wall_s  b", "1   10.99  2"], shown)
    assert not contains(["a  wall_s  b", "1    0.31  3"], shown)
    ranked = ["rank x seconds_for_target", "   1 a              0.5", "   2 b                1"]
    assert contains(["rank x seconds_for_target", "   1 b              0.2", "   2 a                7"], ranked)
    assert not contains(["rank x seconds_for_target", "   1 b              0.2", "   2 c                7"], ranked)
    assert contains(["seed=0: done; 4,030 env steps in 12.25 s"], ["seed=0: done; 4,030 env steps in 0.4 s"])
    assert not contains(["seed=0: done; 4,031 env steps in 0.4 s"], ["seed=0: done; 4,030 env steps in 0.4 s"])


# ---------------------------------------------------------------------------------------------
# the site and the spec reference


@pytest.mark.slow
def test_the_site_builds_in_strict_mode_without_a_warning(tmp_path):
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # Material's banner about its successor
    built = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
                           cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)  # fmt: skip
    log = built.stdout + built.stderr
    problems = [line for line in log.splitlines() if line.startswith(("WARNING", "ERROR"))]
    assert built.returncode == 0 and not problems, log
    assert (site / "index.html").is_file() and (site / "reference" / "index.html").is_file()
    assert "A quick tour" in (site / "index.html").read_text()  # the README is the home page
    remote = re.compile(r"<(?:link|script|img)\b[^>]*(?:href|src)=\"(?:https?:)?//", re.I)
    fetching = [str(page.relative_to(site)) for page in site.rglob("*.html") if remote.search(page.read_text())]
    assert not fetching, f"pages that would load something from the network: {fetching}"


def test_the_spec_reference_is_generated_from_the_schemas():
    committed = (ROOT / "docs" / "reference.md").read_text()
    assert committed == reference.markdown(), "docs/reference.md is stale: run `make reference`"


# ---------------------------------------------------------------------------------------------
# every command block, run


DURATION = re.compile(r"\b\d+(\.\d+)? s\b")  # "in 0.4 s": a wall-clock time in a sentence


def _tokens(lines: list[str]) -> list[list[str]]:
    """Lines as whitespace tokens, without durations or the wall-clock columns of the table they hold.

    A table is pandas' text: the header names end where their columns' values end, so a column
    spans from the end of the previous name to the end of its own, and is blanked there. A table
    with a `rank` column (estimate --rank: ordered by measured efficiency) has its rows compared
    as a set."""
    lines = [DURATION.sub("<seconds> s", line) for line in lines]
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


@pytest.fixture(scope="session")
def cache(tmp_path_factory) -> Path:
    """Where blocks' outcomes are kept for the session: shared by the xdist workers of one run."""
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    (root / "docs-blocks").mkdir(exist_ok=True)
    return root / "docs-blocks"


def environment() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"  # pgcli and python of this venv
    env["COLUMNS"] = "200"
    return env


@contextlib.contextmanager
def dask_cluster(env, directory: Path):
    """A `dask scheduler` (on a port it picks itself and reports) and two `dask worker`s on
    127.0.0.1 (each in a directory of its own), as separate processes; yields the scheduler's address."""
    dask = str(Path(sys.executable).parent / "dask")
    scheduler, address = start_dask_scheduler(directory / "scheduler", dask=(dask,), env=env)
    processes = [scheduler]
    try:
        for i in range(2):
            (directory / f"node{i}").mkdir()
            processes.append(subprocess.Popen([dask, "worker", address, "--nthreads", "1", "--no-dashboard"],
                                              cwd=directory / f"node{i}", env=env, stdout=subprocess.DEVNULL,
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


def executed(block: Block, cache: Path) -> list[dict]:
    """What each command of the block printed and returned, run once per session (see the module's
    docstring); its directory is left in `cache/<key>/work` for the blocks that come after it."""
    home = cache / key(block)
    with FileLock(f"{home}.lock"):
        if (home / "record.json").exists():
            return json.loads((home / "record.json").read_text())
        shutil.rmtree(home, ignore_errors=True)
        work = home / "work"
        work.mkdir(parents=True)
        for before in prerequisites(block):
            failed = [r["command"] for r in executed(before, cache) if r["returncode"] not in (0, 2)]
            if failed:
                return [{"command": f"(the block it needs, {before.id})", "returncode": -1, "stdout": "",
                         "stderr": f"failed: {failed}"}]  # fmt: skip
            shutil.copytree(home.parent / key(before) / "work", work, dirs_exist_ok=True, symlinks=True)
        for name, text in files(block.page).items():
            (work / name).write_text(text)
        env = environment()
        needs_cluster = any(HEAD.search(command) for command, _ in block.commands())
        with dask_cluster(env, home / "cluster") if needs_cluster else contextlib.nullcontext() as address:
            record = []
            for command, _ in block.commands():
                line = HEAD.sub(f"--scheduler {address}", command)
                result = subprocess.run(line, shell=True, executable="/bin/bash", cwd=work, capture_output=True,
                                        text=True, env=env, timeout=900)  # fmt: skip
                record.append({"command": command, "returncode": result.returncode, "stdout": result.stdout,
                               "stderr": result.stderr})  # fmt: skip
        (home / "record.json").write_text(json.dumps(record))
        return record


def problem(shown: list[str], outcome: dict) -> str | None:
    """What is wrong with one command's outcome against what the page shows, if anything."""
    command, code, stdout, stderr = outcome["command"], outcome["returncode"], outcome["stdout"], outcome["stderr"]
    expected = 2 if shown and shown[0].startswith("Error:") else 0
    if code != expected:
        return f"{command}: exit {code}, expected {expected}:\n{stderr[-1500:]}"
    if "Traceback" in stderr:
        return f"{command}: printed a traceback:\n{stderr[-1500:]}"
    streams = [stderr] if expected == 2 else [stdout, stderr]
    if shown and not any(contains(stream.splitlines(), shown) for stream in streams):
        return f"{command}: printed\n{stdout}{stderr}\ninstead of\n" + "\n".join(shown)
    return None


@pytest.mark.slow
@pytest.mark.parametrize("block", RUN, ids=[block.id for block in RUN])
def test_the_block_runs_as_written(block, cache):
    record = executed(block, cache)
    shown = [shown for _, shown in block.commands()]
    if len(record) != len(shown):  # a prerequisite failed
        pytest.fail("\n".join(f"{r['command']}: {r['stderr']}" for r in record))
    problems = [p for s, outcome in zip(shown, record, strict=True) if (p := problem(s, outcome))]
    assert not problems, "\n\n".join(problems)


def test_a_kind_registered_from_outside_the_package_stays_out_of_the_reference():
    kinds.register("tests.toy_kind")
    assert "## `toy` specs" not in reference.markdown()
    assert (ROOT / "docs" / "reference.md").read_text() == reference.markdown()
