"""The kind spine: a kind is one module plus one registry line, and the shell reads only records.

The proof is tests/toy_kind.py, a kind defined entirely outside pgcli/: registered at run time, it
gets a command (flags, --help, sweeps with --jobs 2, resume), plot, check with an expect: block,
and the API — with no edit under pgcli/.
"""

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

import pgcli
from pgcli import kinds
from pgcli.shell import api
from pgcli.shell.cli import COMMANDS
from tests.helpers import assert_bad_input, invoke

PACKAGE = Path(pgcli.__file__).parent
SHELL = sorted((PACKAGE / "shell").glob("*.py"))


@pytest.fixture
def toy():
    kind = kinds.register("tests.toy_kind")
    yield kind
    kinds.REGISTRY.pop("toy")
    kinds._LOADED.pop("toy")


@pytest.mark.slow
def test_a_kind_defined_outside_the_package_runs_sweeps_resumes_plots_and_checks(toy, tmp_path):
    results = tmp_path / "results"
    args = ["toy", "--rate", "0.4", "--set-grid", "steps=3,5", "--set", "sweep.seeds=2", "--results", results]
    first = invoke(*args, "--jobs", "2", "-q")
    assert first.exit_code == 0, first.output
    directory = results / "toy-rate0.4-by-steps"
    runs = pd.read_csv(directory / "runs.csv")
    assert list(runs["label"]) == ["steps=3,seed=0", "steps=3,seed=1", "steps=5,seed=0", "steps=5,seed=1"]
    assert (runs["status"] == "done").all() and "final_score" in runs
    table = pd.read_csv(directory / "toy.csv")
    assert len(table) == 2 * 3 + 2 * 5 and list(table.columns[:3]) == ["run_id", "steps", "seed"]
    stamps = {p: p.stat().st_mtime_ns for p in directory.glob("*/status")}
    again = invoke(*args, "-q")  # resume: every run is found done, none is computed again
    assert again.exit_code == 0 and {p: p.stat().st_mtime_ns for p in directory.glob("*/status")} == stamps
    plotted = invoke("plot", directory, "--table")
    assert plotted.exit_code == 0 and "final_mean" in plotted.stdout, plotted.output
    figure = invoke("plot", directory, "--out", tmp_path / "toy.png")
    assert figure.exit_code == 0 and (tmp_path / "toy.png").stat().st_size > 1000
    spec = tmp_path / "toy.yaml"
    spec.write_text("kind: toy\nrate: 0.5\nexpect:\n  - {metric: final_score, agg: min, '>=': 0.8}\n"
                    "  - {metric: samples_to_target, target: 0.7, agg: max, '<=': 3}\n")  # fmt: skip
    checked = invoke("check", spec, "--results", results)
    assert checked.exit_code == 0 and "2 of 2 expectations pass" in checked.stdout, checked.output


def test_a_registered_kind_has_a_command_help_and_an_api(toy, tmp_path):
    helped = invoke("toy", "--help")
    assert helped.exit_code == 0 and "--rate" in helped.stdout and "pgcli toy --rate 0.3" in helped.stdout
    listed = invoke("--help")
    assert "toy" in listed.stdout and "Close a gap geometrically" in listed.stdout
    table = pgcli.toy(rate=0.5, steps=4, seed=3)
    assert len(table) == 4 and table.attrs["status"] == "done" and table.attrs["summary"]["final_score"] > 0.9
    assert_bad_input(invoke("toy", "--rate", "-1", "--results", tmp_path), "rate: must be > 0", nothing_in=tmp_path)
    with pytest.raises(pgcli.PgcliError, match="rate: must be > 0"):
        pgcli.toy(rate=-1)


def kind_literals(path: Path) -> list[str]:
    """'file:line: "name"' for every string constant in a module that is a registered kind's name."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Constant) and node.value in kinds.REGISTRY:
            found.append(f"{path.name}:{node.lineno}: {node.value!r}")
    return found


def test_the_shell_names_no_kind():
    """Everything kind-specific is in the kind's record: no kind's name is written in the shell."""
    assert [hit for path in SHELL for hit in kind_literals(path)] == []


def test_the_literal_scan_finds_a_kind_name(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text('if spec["kind"] == "train":\n    pass\n')
    assert kind_literals(bad) == ["bad.py:1: 'train'"]


@pytest.mark.parametrize(
    ("kind", "args", "flags"),
    [
        ("estimate", ["--dist", "bernoulli", "--theta", "logit=0.5", "--n", "10,100", "--reps", "5", "--f", "square"],
         {"dist": "bernoulli", "theta": {"logit": 0.5}, "n": [10, 100], "reps": 5, "f": "square"}),
        ("fisher", ["--dist", "gamma", "--theta", "shape=2,rate=3", "--n", "1e3"],
         {"dist": "gamma", "theta": {"shape": 2, "rate": 3}, "n": 1000}),
        ("optimize", ["--dist", "bernoulli", "--f", "square", "--optim", "sgd", "--lr", "0.1", "--steps", "7",
                      "--maximize"],
         {"dist": "bernoulli", "f": "square", "optim": "sgd", "lr": 0.1, "steps": 7, "minimize": False}),
        ("train", ["--set", "env.id=Acrobot-v1", "--set", "stop.iterations=3"],
         {"env.id": "Acrobot-v1", "stop.iterations": 3}),
    ],
)  # fmt: skip
def test_the_api_and_the_command_line_build_the_same_spec(kind, args, flags, tmp_path):
    """One way to build a spec: the API's flags (keywords named like the command's) resolve to the
    command line's --print-spec, name aside."""
    import yaml

    printed = invoke(kind, *args, "--print-spec", "--name", "api")
    assert printed.exit_code == 0, printed.output
    cli_spec = yaml.safe_load(printed.stdout)
    record = kinds.get(kind)
    assert api.spec(kind, api._flags(record, flags)) == cli_spec


@pytest.mark.parametrize(
    ("call", "args"),
    [
        (lambda: pgcli.estimate(reps=0), ["estimate", "--reps", "0"]),
        (lambda: pgcli.estimate(dist="poisson", dim=3), ["estimate", "--dist", "poisson", "--dim", "3"]),
        (lambda: pgcli.optimize(optim="lbfgs"), ["optimize", "--set", "optim.kind=lbfgs"]),
        (lambda: pgcli.fisher(n="many"), ["fisher", "--n", "many"]),
        (lambda: pgcli.train(overrides={"algo.wieght": "gae"}), ["train", "--set", "algo.wieght=gae"]),
    ],
)
def test_bad_api_input_is_the_command_lines_message(call, args, tmp_path):
    with pytest.raises(pgcli.PgcliError) as caught:
        call()
    result = invoke(*args, "--results", tmp_path)
    assert result.exit_code == 2 and result.stderr.strip() == f"Error: {caught.value}"


def imports_of(module: str, path: Path) -> set[str]:
    """The pgcli modules a module imports, wherever the import statement is (inside functions too)."""
    from tests.test_layers import imports

    names = set(modules())
    found = set()
    for _, target in imports(module, path):
        while target and target not in names:
            target = target.rpartition(".")[0]
        if target and target != module and target != "pgcli":
            found.add(target)
    return found


def modules() -> dict[str, Path]:
    from tests.test_layers import modules as layer_modules

    return layer_modules()


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circle():
    """Walking every import statement, inside functions too: no module imports itself round a circle."""
    graph = {module: imports_of(module, path) for module, path in modules().items()}
    assert cycles(graph) == []


def test_the_circle_finder_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("command", ["--help", *(f"{name} --help" for name in [*kinds.names(), *COMMANDS])])
def test_help_loads_no_heavy_module(command):
    """A command's --help loads no SciPy, pandas, matplotlib or gymnasium (the kinds' cores load
    them lazily, pgcli.base.lazy); benchmarks/import_time.py measures the time."""
    heavy = ["scipy.special._ufuncs", "scipy.stats._stats_py", "scipy.sparse._csr", "pandas.core.frame",
             "matplotlib.figure", "gymnasium.envs"]  # fmt: skip
    code = textwrap.dedent(f"""
        import sys
        from click.testing import CliRunner
        from pgcli.shell.cli import cli
        result = CliRunner().invoke(cli, {command.split()!r})
        assert result.exit_code == 0, result.output
        print(sorted(m for m in {heavy!r} if m in sys.modules))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
