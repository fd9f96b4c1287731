"""The expectation language and `pgcli check`."""

import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from pgcli import kinds
from pgcli.shell import expect
from tests.helpers import assert_bad_input, invoke

# two settings × two seeds; per-iteration rows
METRICS = pd.DataFrame(
    {
        "run_id": ["a"] * 3 + ["b"] * 3 + ["c"] * 3 + ["d"] * 3,
        "lr": [0.01] * 6 + [0.03] * 6,
        "seed": ([0] * 3 + [1] * 3) * 2,
        "iteration": [0, 1, 2] * 4,
        "env_steps": [100, 200, 300] * 4,
        "return_window": [10, 50, 40, 20, 30, 60, 100, 480, 490, 100, 200, 476],
    }
)
RUNS = pd.DataFrame(
    {"run_id": list("abcd"), "lr": [0.01, 0.01, 0.03, 0.03], "seed": [0, 1, 0, 1], "final_return": [40, 60, 490, 476]}
)
# the train kind's target (return_window), which `env_steps_to_target` reads by default, as check gives it
TRAIN_GOAL = expect.Goal(kinds.get("train").target.metric)
ESTIMATES = pd.DataFrame(
    {
        "estimator": ["score"] * 3 + ["pathwise"] * 3,
        "n_samples": [10, 100, 1000] * 2,
        "bias": [0.1, -0.02, 0.003, -0.4, -0.4, -0.4],
        "std_error": [0.05, 0.02, 0.003, 0.0, 0.0, 0.0],
        "exact": [0.4] * 6,
        "variance": [1.0, 0.1, 0.01, 0.0, 0.0, 0.0],
    }
)


def check(item, runs=RUNS, table=METRICS):
    assert expect.problem([item]) is None, expect.problem([item])
    return expect.evaluate(item, runs, table)


@pytest.mark.parametrize(
    ("item", "value"),
    [
        ({"metric": "return_window", "at": "final", "agg": "mean"}, np.mean([40, 60, 490, 476])),
        ({"metric": "return_window", "at": "final", "agg": "median"}, np.median([40, 60, 490, 476])),
        ({"metric": "return_window", "at": "best", "agg": "min"}, 50),
        ({"metric": "return_window", "at": "first", "agg": "max"}, 100),
        ({"metric": "return_window", "at": "all", "agg": "count"}, 12),
        ({"metric": "return_window", "where": {"lr": 0.03}, "agg": "min"}, 476),
        ({"metric": "return_window", "where": {"lr": [0.01, 0.03], "seed": 1}, "agg": "max"}, 476),
        ({"metric": "final_return", "agg": "mean", "scale": 2}, 2 * np.mean([40, 60, 490, 476])),
        ({"metric": "env_steps_to_target", "target": 475, "agg": "max"}, np.inf),
        ({"metric": "env_steps_to_target", "target": 475, "where": {"lr": 0.03}, "agg": "max"}, 300),
    ],
)
def test_aggregations_match_direct_computation(item, value):
    assert expect.measure(item, RUNS, METRICS, TRAIN_GOAL) == pytest.approx(value)


def test_row_tables_max_abs_z_and_loglog_slope():
    z = expect.measure({"metric": "bias", "where": {"estimator": "score"}, "agg": "max_abs_z"}, RUNS, ESTIMATES)
    assert z == pytest.approx(2.0)
    assert expect.measure({"metric": "bias", "agg": "max_abs_z"}, RUNS, ESTIMATES) == np.inf  # pathwise: biased, s.e. 0
    slope = expect.measure(
        {"metric": "variance", "where": {"estimator": "score"}, "agg": "loglog_slope"}, RUNS, ESTIMATES
    )
    assert slope == pytest.approx(-1.0)
    assert expect.measure({"metric": "bias", "agg": "max_abs"}, RUNS, ESTIMATES) == pytest.approx(0.4)


@pytest.mark.parametrize(
    ("comparison", "passes"),
    [
        ({">=": 475}, False),
        ({">=": 40}, True),
        ({"<": 40}, False),
        ({"between": [30, 50]}, True),
        ({"==": 40, "tol": 0.0}, True),
        ({">": {"metric": "return_window", "at": "first", "agg": "min"}}, True),
        ({">": {"metric": "return_window", "at": "first", "agg": "min", "scale": 5}}, False),
    ],
)
def test_comparisons(comparison, passes):
    item = {"metric": "return_window", "at": "final", "agg": "min", **comparison}
    assert check(item)[1] is passes


def test_seeds_passing_counts_runs():
    item = {"metric": "return_window", "at": "final", "agg": "min", ">=": 475}
    assert check({**item, "seeds_passing": "2/4"}) == ("2/4", True)
    assert check({**item, "seeds_passing": "3/4"}) == ("2/4", False)
    assert check({**item, "seeds_passing": "1/1", "where": {"lr": 0.03}}) == ("2/2", True)


@pytest.mark.parametrize(
    ("item", "fragment"),
    [
        ({"metric": "x", "agg": "mean"}, "exactly one comparison"),
        ({"metric": "x", "agg": "mean", ">=": 1, "<=": 2}, "exactly one comparison"),
        ({"metric": "x", "agg": "average", ">=": 1}, "agg must be one of"),
        ({"agg": "mean", ">=": 1}, "needs a metric"),
        ({"metric": "x", "agg": "mean", ">=": "high"}, "needs a number"),
        ({"metric": "x", "agg": "mean", ">=": 1, "seeds_passing": "4 of 5"}, "fraction k/n"),
        ({"metric": "x", "agg": "mean", ">=": 1, "seeds_passing": "6/5"}, "fraction k/n"),
        ({"metric": "x", "agg": "mean", "between": [1]}, "between needs"),
        ({"metric": "x", "agg": "mean", ">=": 1, "colour": "red"}, "unknown key 'colour'"),
        ({"metric": "x", "agg": "mean", "at": "last", ">=": 1}, "at must be one of"),
        ({"metric": "env_steps_to_target", "agg": "mean", ">=": 1}, "needs a numeric target"),
        ({"metric": "x", "agg": "mean", ">=": {"metric": "y", "agg": "mean", "<": 3}}, "unknown key '<'"),
        ("return >= 475", "expected a mapping"),
    ],
)
def test_malformed_expectations(item, fragment):
    assert fragment in expect.problem([item])


def test_unknown_columns_are_errors():
    with pytest.raises(expect.ExpectError, match="unknown metric column 'retrun'"):
        expect.evaluate({"metric": "retrun", "agg": "mean", ">=": 1}, RUNS, METRICS)
    with pytest.raises(expect.ExpectError, match="unknown where column 'baseline'"):
        expect.evaluate(
            {"metric": "return_window", "where": {"baseline": "value"}, "agg": "mean", ">=": 1}, RUNS, METRICS
        )
    with pytest.raises(expect.NoData):
        expect.evaluate({"metric": "return_window", "where": {"lr": 0.5}, "agg": "mean", ">=": 1}, RUNS, METRICS)


SPEC = """
kind: estimate
name: lab
dist: gaussian
f: [step]
estimators: [score, pathwise]
n: [100]
reps: 50
expect:
  - {metric: bias, where: {estimator: score}, agg: max_abs_z, "<=": 4, source: Williams 1992}
  - {metric: bias, where: {estimator: pathwise}, agg: max_abs, "<=": 0.01, name: pathwise is unbiased on a step}
"""


def test_check_runs_missing_results_reports_and_writes_junit(tmp_path):
    spec = tmp_path / "lab.yaml"
    spec.write_text(SPEC)
    junit = tmp_path / "report.xml"
    result = invoke("check", spec, "--results", tmp_path / "r", "--junit", junit, "--sources", "-q")
    assert result.exit_code == 1  # the second expectation is false: pathwise is biased on a step
    assert "PASS" in result.stdout and "FAIL" in result.stdout and "Williams 1992" in result.stdout
    root = ET.parse(junit).getroot()
    assert root.get("tests") == "2" and root.get("failures") == "1"
    (suite,) = root.findall("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == 2 and [len(c.findall("failure")) for c in cases] == [0, 1]
    # the results directory itself can be checked, without running anything
    again = invoke("check", tmp_path / "r" / "lab", "--no-run")
    assert again.exit_code == 1 and again.stdout.count("PASS") == 1


def test_check_passes_with_exit_0(tmp_path):
    spec = tmp_path / "lab.yaml"
    spec.write_text(SPEC.replace('"<=": 0.01, name: pathwise is unbiased', '">=": 0.3, name: pathwise is biased'))
    result = invoke("check", spec, "--results", tmp_path, "-q")
    assert result.exit_code == 0, result.output
    assert "2 of 2 expectations pass" in result.stdout


def test_no_run_without_results_fails(tmp_path):
    spec = tmp_path / "lab.yaml"
    spec.write_text(SPEC)
    result = invoke("check", spec, "--results", tmp_path / "empty", "--no-run")
    assert result.exit_code == 1 and result.stdout.count("FAIL") == 2
    assert not (tmp_path / "empty").exists()


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        (SPEC.replace("agg: max_abs_z", "agg: maximum"), ["expect: [0]", "agg must be one of"]),
        (SPEC.replace('"<=": 4, source', "source"), ["expect: [0]", "exactly one comparison"]),
        (SPEC.replace('"<=": 4, source', '"<=": 4, seeds_passing: four, source'), ["fraction"]),
        (
            SPEC.replace("metric: bias, where: {estimator: score}", "metric: bais, where: {estimator: score}"),
            ["unknown metric column 'bais'"],
        ),
        (SPEC.replace("expect:", "expected:"), ["did you mean 'expect'"]),
        (SPEC.split("expect:")[0], ["has no expect: block"]),
    ],
)
def test_check_bad_input(tmp_path, text, fragments):
    spec = tmp_path / "lab.yaml"
    spec.write_text(text)
    assert_bad_input(invoke("check", spec, "--results", tmp_path / "r", "-q"), *fragments)


def test_check_bad_paths(tmp_path):
    assert_bad_input(invoke("check", tmp_path / "nope.yaml"), "no such spec file or results directory")
    assert_bad_input(invoke("check", tmp_path), "not a results directory")


def test_no_run_with_results_of_another_spec_version_fails(tmp_path):
    spec = tmp_path / "lab.yaml"
    spec.write_text(SPEC)
    invoke("check", spec, "--results", tmp_path / "r", "-q")
    spec.write_text(SPEC.replace("reps: 50", "reps: 60"))  # a new version: its runs have no results
    result = invoke("check", spec, "--results", tmp_path / "r", "--no-run")
    assert result.exit_code == 1 and result.stdout.count("FAIL") == 2 and "have no results" in result.stderr


def test_seeds_passing_against_a_measured_right_hand_side(tmp_path):
    """pathwise on a step estimates exactly 0 for μ and σ (f' = 0): each of its 2 rows passes
    ≤ 0 × min exact and fails ≥ max exact = ∂μ P(x > 0) = φ(0) = 1/√(2π) ≈ 0.39894; the score
    line passes, so check exits 1 for the one FAIL."""
    spec = tmp_path / "lab.yaml"
    text = SPEC.replace(
        '{metric: bias, where: {estimator: pathwise}, agg: max_abs, "<=": 0.01, name: pathwise is unbiased on a step}',
        '{metric: mean, where: {estimator: pathwise}, agg: max_abs, "<=": {metric: exact, agg: min, scale: 0},'
        " seeds_passing: 1/1}\n"
        '  - {metric: mean, where: {estimator: pathwise}, agg: max_abs, ">=": {metric: exact, agg: max},'
        " seeds_passing: 1/1}",
    )
    spec.write_text(text)
    result = invoke("check", spec, "--results", tmp_path / "r", "-q")
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stdout.splitlines() if "pathwise" in line]
    assert len(lines) == 2, result.stdout
    assert lines[0].endswith(" 2/2 vs 0") and "PASS" in lines[0] and "FAIL" not in lines[0]
    assert f"0/2 vs {1 / np.sqrt(2 * np.pi):.5f}" in lines[1] and "FAIL" in lines[1]
    assert "2 of 3 expectations pass" in result.stdout


def test_a_text_metric_is_bad_input(tmp_path):
    spec = tmp_path / "lab.yaml"
    spec.write_text(SPEC.replace("metric: bias, where: {estimator: score}", "metric: estimator"))
    assert_bad_input(invoke("check", spec, "--results", tmp_path / "r", "-q"), "holds no numbers")


def test_results_directory_without_run_directories_is_bad_input(tmp_path):
    (tmp_path / "runs.csv").write_text("run_id,label\n")
    assert_bad_input(invoke("check", tmp_path, "--no-run"), "names no run directory")
