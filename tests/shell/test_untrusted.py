"""A spec file is untrusted data: it may name only your own Python files (pgcli.base.usercode).

Every case that must be refused is refused in one line, exit 2, with nothing executed: a marker
file that a module would write when imported must not appear, and nothing is written.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

import pgcli
from pgcli.base import usercode
from tests.helpers import assert_bad_input, invoke

# modules whose import (or whose function) runs code: the standard library, an installed package,
# pgcli itself, a __main__
HOSTILE = [
    ("pickle:loads", "standard library"),
    ("_pickle:loads", "standard library"),
    ("cloudpickle:loads", "no file cloudpickle.py"),
    ("this:x", "standard library"),
    ("idlelib.idle:x", "standard library"),
    ("venv.__main__:x", "dunder module"),
    ("os:system", "standard library"),
    ("builtins:eval", "standard library"),
    ("numpy:load", "no file numpy.py"),
    ("__main__:x", "dunder module"),
    ("pgcli.shell.cli:main", "pgcli itself"),
]
IDS = [reference for reference, _ in HOSTILE]
MARKER_MODULE = "from pathlib import Path\nPath({marker!r}).write_text('imported')\n\ndef f(x):\n    return x\n"


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def estimate_spec(directory: Path, f: str, extra: str = "") -> Path:
    return write(directory / "lab.yaml", f"kind: estimate\nf: ['{f}']\nn: [4]\nreps: 2\nestimators: [score]\n{extra}")


@pytest.mark.parametrize(("reference", "fragment"), HOSTILE, ids=IDS)
def test_a_spec_naming_a_module_that_is_not_your_file_is_refused_everywhere(tmp_path, reference, fragment):
    """estimate, --print-spec, optimize, check, --set-grid and train all refuse it before importing."""
    results = tmp_path / "results"
    spec = estimate_spec(tmp_path, reference)
    assert_bad_input(invoke("estimate", spec, "--results", results), "f[0]", fragment, nothing_in=results)
    assert_bad_input(invoke("estimate", spec, "--print-spec"), "f[0]", fragment)
    grid = ["--set-grid", f"f=step,{reference}", "--results", results]
    assert_bad_input(invoke("estimate", "--dist", "gaussian", *grid), fragment, nothing_in=results)
    optimize = write(tmp_path / "opt.yaml", f"kind: optimize\nf: '{reference}'\nsteps: 2\n")
    assert_bad_input(invoke("optimize", optimize, "--results", results), "f:", fragment, nothing_in=results)
    checked = estimate_spec(tmp_path, reference, "expect: [{metric: mean, agg: count, '>=': 1}]\n")
    assert_bad_input(invoke("check", checked, "--results", results), fragment, nothing_in=results)
    train = write(tmp_path / "env.yaml", f"kind: train\nenv: {{id: '{reference}'}}\n")
    assert_bad_input(invoke("train", train, "--results", results, "--print-spec"), "env.id", fragment)


@pytest.mark.parametrize(("reference", "fragment"), HOSTILE, ids=IDS)
def test_typed_on_the_command_line_it_is_refused_too(tmp_path, reference, fragment):
    results = tmp_path / "results"
    assert_bad_input(invoke("estimate", "--f", reference, "--results", results), fragment, nothing_in=results)
    assert_bad_input(invoke("train", "--set", f"env.id={reference}", "--results", results), fragment)


@pytest.mark.parametrize(("reference", "fragment"), HOSTILE, ids=IDS)
def test_the_api_refuses_it(reference, fragment):
    calls = [
        lambda: pgcli.gradient(reference, "gaussian", n=4),
        lambda: pgcli.estimate(reference, n=[4], reps=2),
        lambda: pgcli.optimize(reference, "gaussian", steps=2),
        lambda: pgcli.train({"env": {"id": reference}}),
    ]
    for call in calls:
        with pytest.raises(pgcli.PgcliError, match=fragment):
            call()


def run_pgcli(args, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "pgcli", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env={**os.environ, **(env or {})})  # fmt: skip


def test_this_and_venv_main_are_not_imported_by_a_real_process(tmp_path):
    """`this` prints the Zen of Python when imported; `venv.__main__` builds a virtual environment in
    the working directory from pgcli's own argv."""
    for reference in ("this:x", "venv.__main__:x"):
        spec = estimate_spec(tmp_path, reference)
        done = run_pgcli(["estimate", spec.name, "-q"], tmp_path)
        assert done.returncode == 2, done.stderr
        assert "Beautiful is better" not in done.stdout + done.stderr
        assert sorted(p.name for p in tmp_path.iterdir()) == ["lab.yaml"]
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


@pytest.mark.slow
def test_a_module_in_the_working_directory_is_not_a_spec_files_to_name(tmp_path):
    """A downloaded spec run from your project directory cannot import your project's modules:
    only files beside the spec, or under --trust DIR. The marker proves what was imported."""
    marker = tmp_path / "imported.txt"
    write(tmp_path / "project_module.py", MARKER_MODULE.format(marker=str(marker)))
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    estimate_spec(downloads, "project_module:f")
    done = run_pgcli(["estimate", "downloads/lab.yaml", "-q"], tmp_path)
    assert done.returncode == 2 and "no file project_module.py" in done.stderr, done.stderr
    assert "--trust DIR" in done.stderr and not marker.exists()
    done = run_pgcli(["estimate", "downloads/lab.yaml", "-q", "--print-spec", "--trust", "."], tmp_path)
    assert done.returncode == 0 and not marker.exists(), done.stderr  # --print-spec imports nothing
    done = run_pgcli(["estimate", "downloads/lab.yaml", "-q", "--trust", "."], tmp_path)
    assert done.returncode == 0 and marker.exists(), done.stderr  # trusted: imported and run


def test_an_installed_module_is_refused_even_when_importable(tmp_path):
    """A module on PYTHONPATH (as an installed package would be) is not a file beside the spec."""
    marker = tmp_path / "imported.txt"
    site = tmp_path / "site"
    site.mkdir()
    write(site / "sneaky_installed.py", MARKER_MODULE.format(marker=str(marker)))
    spec = estimate_spec(tmp_path / "site", "sneaky_installed:f").rename(tmp_path / "lab.yaml")
    done = run_pgcli(["estimate", spec, "-q", "--results", tmp_path / "r"], tmp_path, {"PYTHONPATH": str(site)})
    assert done.returncode == 2 and "no file sneaky_installed.py" in done.stderr, done.stderr
    assert not marker.exists() and not (tmp_path / "r").exists()


def test_links_standard_names_shadows_and_dunder_names_beside_the_spec_are_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    write(outside / "real.py", "def f(x):\n    return x\n")
    here = tmp_path / "here"
    here.mkdir()
    (here / "linked.py").symlink_to(outside / "real.py")
    write(here / "pickle.py", "def loads(x):\n    return x\n")
    write(here / "yaml.py", "def f(x):\n    return x\n")
    write(here / "mine.py", "def f(x):\n    return x\n")
    (here / "nspkg").mkdir()
    write(here / "nspkg" / "mod.py", "def f(x):\n    return x\n")
    cases = {
        "linked:f": "link to a file outside",
        "pickle:loads": "standard library",
        "yaml:f": "already loaded from",
        "mine:__class__": "dunder name",
        "nspkg.mod:f": "no file nspkg/mod.py",
    }
    for reference, fragment in cases.items():
        result = invoke("estimate", estimate_spec(here, reference), "--results", tmp_path / "r")
        assert_bad_input(result, fragment, nothing_in=tmp_path / "r")


def test_a_module_that_fails_at_import_is_one_line_before_any_run(tmp_path):
    for body, fragment in [
        ("raise ValueError('broken on purpose')\n", "ValueError: broken on purpose"),
        ("def f(x):\n    return (\n", "SyntaxError"),
        ("import sys\nsys.exit(0)\n", "SystemExit: 0"),
        ("raise GeneratorExit\n", "GeneratorExit"),
    ]:
        name = f"fails_{abs(hash(body)) % 10**8}"
        write(tmp_path / f"{name}.py", body)
        result = invoke("estimate", estimate_spec(tmp_path, f"{name}:f"), "--results", tmp_path / "r")
        assert_bad_input(result, f"importing module {name!r}", fragment, f"{name}.py", nothing_in=tmp_path / "r")


@pytest.mark.slow
def test_editing_your_function_reruns_exactly_the_runs_that_use_it(tmp_path):
    """The run id covers the module's source: an edit re-runs without --force; no edit resumes."""
    name = "edited_module_runs"
    write(tmp_path / f"{name}.py", "def f(x):\n    return x\n")
    spec = write(tmp_path / "lab.yaml", "kind: estimate\nn: [4]\nreps: 2\nestimators: [score]\n"
                                        f"sweep: {{grid: {{f: ['{name}:f', step]}}}}\n")  # fmt: skip
    results = tmp_path / "results"

    def run_ids():
        assert invoke("estimate", spec, "--results", results, "-q").exit_code == 0
        return pd.read_csv(results / "lab" / "runs.csv")["run_id"].tolist()

    first = run_ids()
    assert run_ids() == first
    write(tmp_path / f"{name}.py", "def f(x):\n    return 2 * x\n")
    sys.modules.pop(name, None)  # a new invocation is a new process; CliRunner shares this one
    second = run_ids()
    assert second[0] != first[0] and second[1] == first[1]
    assert (results / "lab" / second[0] / "config.yaml").read_text().count(name) >= 2  # spec and modules


def test_locate_reads_only_the_file_system():
    with pytest.raises(usercode.UserCodeError, match="not a MODULE:NAME"):
        usercode.locate("no colon", ["."])
    before = set(sys.modules)
    with pytest.raises(usercode.UserCodeError):
        usercode.locate("antigravity:x", ["."])
    assert "antigravity" not in sys.modules and set(sys.modules) == before
