"""`--expected-skips FILE` (tests/conftest.py): a run fails when a test skips that FILE does not list,
or when a listed test runs instead of skipping."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HOOKS = "from tests.conftest import pytest_addoption, pytest_collectreport, pytest_runtest_logreport, pytest_sessionfinish  # noqa: F401\n"


def run(directory, *listed):
    (directory / "skips.txt").write_text("# expected\n" + "".join(f"{line}\n" for line in listed))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", "--expected-skips",
                           str(directory / "skips.txt"), str(directory)],
                          cwd=directory, env=env, capture_output=True, text=True, timeout=120)  # fmt: skip


@pytest.fixture
def project(tmp_path):
    (tmp_path / "conftest.py").write_text(HOOKS)
    (tmp_path / "test_optional.py").write_text(
        "import pytest\n\nmissing = pytest.importorskip('no_such_module_for_pgcli')\n\n\ndef test_uses_it():\n    pass\n"
    )
    (tmp_path / "test_plain.py").write_text(
        "import pytest\n\n\ndef test_runs():\n    pass\n\n\n"
        "@pytest.mark.skipif(True, reason='never here')\ndef test_skips():\n    pass\n"
    )
    return tmp_path


@pytest.mark.slow
def test_an_unlisted_skip_fails_the_run(project):
    done = run(project, "test_plain.py::test_skips")
    assert done.returncode == 1, done.stdout
    assert "skipped, not in the expected list: test_optional.py" in done.stdout


@pytest.mark.slow
def test_the_listed_skips_pass(project):
    done = run(project, "test_plain.py::test_skips", "test_optional.py")
    assert done.returncode == 0, done.stdout
    assert "SKIPPED" in done.stdout  # -rs reports each skip with its reason


@pytest.mark.slow
def test_a_listed_test_that_runs_fails_the_run(project):
    done = run(project, "test_plain.py::test_skips", "test_optional.py", "test_plain.py::test_runs")
    assert done.returncode == 1, done.stdout
    assert "listed as skipping, but ran: test_plain.py::test_runs" in done.stdout


def test_the_repository_list_names_only_tests_that_exist():
    """Each entry of tests/expected-skips.txt is a test file or a node id in one."""
    for line in (ROOT / "tests" / "expected-skips.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            path, _, name = line.strip().partition("::")
            assert (ROOT / path).is_file(), line
            assert not name or f"def {name.split('[')[0]}(" in (ROOT / path).read_text(), line
