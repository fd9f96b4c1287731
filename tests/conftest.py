from pathlib import Path

import numpy as np
import pytest

from pgcli.base import usercode
from pgcli.lab import distributions

REPOSITORY = Path(__file__).resolve().parents[1]
# The core tests make `tests.envs:...` environments directly: admit the repository's tests package,
# as the shell does for a module it found in a trusted directory (pgcli.base.usercode). The shell's
# own check (what a spec may name) does not read this: CLI tests still need --trust or the cwd.
usercode.allow([usercode.locate("tests.envs:OneState", [REPOSITORY])])

# (family, parametrisation, θ, dim): every family in every parametrisation, away from defaults
CASES = [
    ("gaussian", "standard", {"mu": 0.3, "sigma": 1.2}, None),
    ("gaussian", "log_sigma", {"mu": -0.5, "log_sigma": 0.2}, None),
    ("diag_gaussian", "standard", {"mu": [0.5, -1.0, 0.0], "sigma": [0.7, 1.0, 2.0]}, 3),
    ("diag_gaussian", "log_sigma", {"mu": 0.2, "log_sigma": [-0.3, 0.4]}, 2),
    ("bernoulli", "standard", {"p": 0.3}, None),
    ("bernoulli", "logit", {"logit": -0.7}, None),
    ("bernoulli", "logit", {"logit": [0.4, -1.0, 1.2]}, 3),  # a product of 3 Bernoullis
    ("categorical", "logits", {"logits": [0.5, -1.0, 0.0, 1.0]}, 4),
    ("poisson", "standard", {"rate": 3.5}, None),
    ("poisson", "log_rate", {"log_rate": 0.4}, None),
    ("exponential", "standard", {"rate": 1.7}, None),
    ("exponential", "log_rate", {"log_rate": -0.3}, None),
    ("gamma", "standard", {"shape": 2.5, "rate": 1.5}, None),
    ("gamma", "log", {"log_shape": -0.4, "log_rate": 0.3}, None),
    ("beta", "standard", {"a": 2.0, "b": 3.5}, None),
    ("beta", "log", {"log_a": 0.2, "log_b": -0.3}, None),
]


def case_id(case):
    return f"{case[0]}-{case[1]}" + (f"-{case[3]}" if case[3] else "")


@pytest.fixture(params=CASES, ids=case_id)
def dist(request):
    family, parametrisation, theta, dim = request.param
    return distributions.make_dist(family, parametrisation, theta, dim)


@pytest.fixture
def rng():
    return np.random.default_rng(20261126)


def pytest_collection_modifyitems(config, items):
    """The slow tests first (in their order), then the rest: pytest-xdist hands the long ones out
    while every worker is free, and the short ones fill in, so no worker ends the run alone on a
    long test."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


# ---------------------------------------------------------------------------------------------
# --expected-skips FILE (make test): the run fails unless the tests that skip are exactly the ones
# FILE lists (of those this run collected), so a broken optional dependency (envpool, distributed)
# cannot turn its tests into silent skips.


def pytest_addoption(parser):
    parser.addoption(
        "--expected-skips",
        metavar="FILE",
        help="fail unless the skipped tests are exactly those listed in FILE (node ids or test files, one a line)",
    )


_outcomes: dict[str, set[str]] = {"skipped": set(), "ran": set()}


def pytest_collectreport(report):
    if report.skipped:  # a module-level importorskip skips the whole file at collection
        _outcomes["skipped"].add(report.nodeid)


def pytest_runtest_logreport(report):
    if report.skipped:
        _outcomes["skipped"].add(report.nodeid)
    elif report.when == "call":
        _outcomes["ran"].add(report.nodeid)


def unexpected_skips(expected: set[str], skipped: set[str], ran: set[str]) -> list[str]:
    """What breaks the expected-skips contract: each skip not listed, each listed test (or a test
    in a listed file) that ran instead of skipping."""

    def listed(nodeid):
        return nodeid in expected or nodeid.split("::")[0] in expected

    problems = [f"skipped, not in the expected list: {nodeid}" for nodeid in sorted(skipped) if not listed(nodeid)]
    problems += [f"listed as skipping, but ran: {nodeid}" for nodeid in sorted(ran) if listed(nodeid)]
    return problems


def pytest_sessionfinish(session, exitstatus):
    path = session.config.getoption("expected_skips")
    if not path or hasattr(session.config, "workerinput"):  # pytest-xdist: the controller sees every report
        return
    lines = Path(path).read_text().splitlines()
    expected = {line.strip() for line in lines if line.strip() and not line.startswith("#")}
    problems = unexpected_skips(expected, _outcomes["skipped"], _outcomes["ran"])
    if problems:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        for problem in problems:
            reporter.write_line(f"expected-skips ({path}): {problem}", red=True, bold=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
