"""The package's layers and the direction of its imports (README, Layout).

    shell (pgcli/shell: cli, experiment, checking, tables, spec, expect, runner, executors, plot,
           atomic, api, stats, htmlpage; pgcli/kinds)
        →  seq  →  rl  →  lab  →  base

A module may import its own layer and the layers to its right, never to its left (so the lab never
imports the sequence core, nor does the RL core; the sequence core may use both). Click is
imported by cli.py only, matplotlib by draw.py only, Dask and tqdm by the executors only. The rule is
read from the source (every import statement, including those inside functions), so a lazy import
cannot hide a violation; a second test imports each core module in a fresh interpreter and looks
at what it loaded.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pgcli"
LAYERS = ("base", "lab", "rl", "seq", "shell")  # each may import itself and the layers before it
ONLY_IN = {  # third-party packages that belong to one shell module
    "click": {"pgcli.shell.cli"},
    "matplotlib": {"pgcli.shell.draw"},
    "dask": {"pgcli.shell.executors"},
    "distributed": {"pgcli.shell.executors"},
    "tqdm": {"pgcli.shell.executors"},
}
# the lab and the sequence core know no environments
NOT_IN = {layer: {"gymnasium", "envpool"} for layer in ("base", "lab", "seq")}
DYNAMIC = {"import_module", "__import__"}  # importlib.import_module("pgcli.shell.runner") is an import too


def layer_of(module: str) -> str:
    """'pgcli.lab.estimate' → 'lab'; the package itself and its top-level modules are the shell."""
    parts = module.split(".")
    return parts[1] if len(parts) >= 2 and parts[1] in LAYERS else "shell"


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(module: str, path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) for every import in the file, wherever it is."""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            anchor = package[: len(package) - node.level + 1] if node.level else []
            base = ".".join([*anchor, node.module] if node.module else anchor)
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]  # maybe submodules
        elif isinstance(node, ast.Call) and _names_a_module(node):
            found.append((node.lineno, node.args[0].value))
    return found


def _names_a_module(call: ast.Call) -> bool:
    """importlib.import_module('…') or __import__('…') with the module's name written out."""
    name = getattr(call.func, "attr", getattr(call.func, "id", None))
    first = call.args[0] if call.args else None
    return name in DYNAMIC and isinstance(first, ast.Constant) and isinstance(first.value, str)


def violations(sources: dict[str, Path]) -> list[str]:
    """One line per import that points up the layers or loads a package outside its module."""
    found = []
    for module, path in sources.items():
        layer = layer_of(module)
        for line, target in imports(module, path):
            top = target.split(".")[0]
            if top == "pgcli" and LAYERS.index(layer_of(target)) > LAYERS.index(layer):
                found.append(f"{path.name}:{line}: {layer} imports {target} ({layer_of(target)})")
            if top in ONLY_IN and module not in ONLY_IN[top]:
                found.append(f"{path.name}:{line}: {module} imports {top} (only {', '.join(sorted(ONLY_IN[top]))})")
            if top in NOT_IN.get(layer, ()):
                found.append(f"{path.name}:{line}: {layer} imports {top}")
    return found


def test_every_import_points_down_the_layers():
    assert violations(modules()) == []


def test_the_layering_rule_catches_a_violating_import(tmp_path):
    bad = {
        "pgcli.lab.bad": "from pgcli.rl import policies\n",
        "pgcli.rl.bad": "def f():\n    from pgcli import runner\n",
        "pgcli.base.bad": "import pgcli.lab.distributions\n",
        "pgcli.lab.worse": "from pgcli.shell.spec import Field\n",
        "pgcli.rl.plots": "import matplotlib.pyplot as plt\n",
        "pgcli.runner2": "import click\n",
        "pgcli.lab.relative": "from ..rl import train\n",
        "pgcli.lab.dynamic": "import importlib\n\ndef f():\n    return importlib.import_module('pgcli.shell.runner')\n",
        "pgcli.rl.dunder": "x = __import__('pgcli.shell.plot')\n",
        "pgcli.lab.envs": "import gymnasium\n",
        "pgcli.lab.sequences": "from pgcli.seq import policy\n",
        "pgcli.rl.sequences": "import pgcli.seq.estimators\n",
        "pgcli.seq.shell": "from pgcli.shell import runner\n",
        "pgcli.seq.gym": "from pgcli.rl import policies\nimport gymnasium\n",
    }
    sources = {}
    for module, text in bad.items():
        sources[module] = tmp_path / (module.replace(".", "_") + ".py")
        sources[module].write_text(text)
    found = violations(sources)
    assert {line.split(":")[0] for line in found} == {path.name for path in sources.values()}, found
    good = tmp_path / "good.py"
    good.write_text("import numpy\nfrom pgcli.base.fields import Field\nfrom pgcli.lab import distributions\n")
    assert violations({"pgcli.rl.good": good}) == []
    assert violations({"pgcli.seq.good": good}) == []


CORE = sorted(m for m in modules() if layer_of(m) in ("base", "lab", "rl", "seq") and m.count(".") >= 1)


@pytest.mark.parametrize("module", CORE)
def test_a_core_module_loads_nothing_above_its_layer(module):
    """Imported in a fresh interpreter, a core module loads no module of a layer above its own,
    no Click, matplotlib or Dask, and (below the RL core) no gymnasium."""
    rank = LAYERS.index(layer_of(module))
    above = sorted(m for m in modules() if LAYERS.index(layer_of(m)) > rank and m != "pgcli")
    packages = ["click", "matplotlib", "dask", *sorted(NOT_IN.get(layer_of(module), ()))]
    code = (
        f"import sys, {module}\n"
        f"print(sorted(m for m in sys.modules if m in {above!r} or m.split('.')[0] in {packages!r}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
