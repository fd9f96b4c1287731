"""`pgcli estimate` and `pgcli fisher` through Click's CliRunner."""

import sys

import pandas as pd
import pytest

from pgcli import __version__
from pgcli.lab.estimate import COLUMNS, WALL_CLOCK
from tests.helpers import assert_bad_input, invoke, written


def test_version_and_help():
    assert __version__ in invoke("--version").output
    result = invoke("--help")
    assert result.exit_code == 0
    from pgcli.shell.cli import cli

    commands = cli.list_commands(None)
    assert set(commands) >= {"estimate", "fisher", "train", "optimize", "plot", "check"}
    for command in commands:
        assert command in result.output
        sub = invoke(command, "--help")
        assert sub.exit_code == 0 and "Examples:" in sub.output and f"pgcli {command}" in sub.output


def test_estimate_step_shows_score_unbiased_and_pathwise_biased(tmp_path):
    result = invoke(
        "estimate",
        "--dist",
        "gaussian",
        "--f",
        "step",
        "--n",
        "100",
        "--reps",
        "200",
        "--results",
        tmp_path,
        "-q",
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "estimate-gaussian-step" / "estimate.csv")
    mu = table[table["param"] == "mu"].set_index("estimator")
    assert abs(mu.loc["score", "bias"]) <= 4 * mu.loc["score", "std_error"]
    assert mu.loc["pathwise", "mean"] == 0 and mu.loc["pathwise", "exact"] > 0.3
    lines = [line for line in result.stdout.splitlines() if line.startswith("step") and "pathwise" in line]
    assert any("BIASED" in line for line in lines if " mu " in line)
    assert not any("BIASED" in line for line in result.stdout.splitlines() if " score " in line)


def test_csv_columns_and_exact_method(tmp_path):
    out = tmp_path / "table.csv"
    result = invoke(
        "estimate",
        "--dist",
        "poisson",
        "--f",
        "square",
        "--estimators",
        "score,pathwise",
        "--n",
        "10,100",
        "--reps",
        "20",
        "--out",
        out,
        "--results",
        tmp_path / "r",
        "-q",
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert list(table.columns) == ["run_id", "seed", *COLUMNS]
    assert set(table["exact_method"]) == {"exact_sum"}
    assert set(table["estimator"]) == {"score"}  # pathwise does not apply to poisson...
    assert "pathwise skipped" in result.stdout  # ...and the table says so


def test_spec_file_and_flags_override_it(tmp_path):
    spec = tmp_path / "lab.yaml"
    spec.write_text(
        "dist: gaussian\ntheta: {mu: 1.0, sigma: 2.0}\nf: [square]\nestimators: [score]\n"
        "n: 5e1\nreps: 1e1\nseed: 3\n"  # YAML 1.1 reads 5e1 as a string: coerced to 50
    )
    result = invoke("estimate", spec, "--results", tmp_path, "-q")
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "lab" / "estimate.csv")
    assert set(table["n_samples"]) == {50} and set(table["reps"]) == {10}
    assert table["theta"].iloc[0] == "mu=1,sigma=2"
    result = invoke(
        "estimate",
        spec,
        "--theta",
        "mu=-1",
        "--n",
        "20",
        "--set",
        "reps=4",
        "--results",
        tmp_path,
        "-q",
    )
    assert written(result).parent.parent.name == "sweeps"  # the spec's own summary stays as it was
    table = pd.read_csv(written(result))
    assert table["theta"].iloc[0] == "mu=-1,sigma=2"
    assert set(table["n_samples"]) == {20} and set(table["reps"]) == {4}


def test_theta_sweep_and_diag_gaussian_rows_per_coordinate(tmp_path):
    result = invoke(
        "estimate",
        "--dist",
        "diag_gaussian",
        "--dim",
        "3",
        "--theta",
        "mu=-1:1:3",
        "--f",
        "cos:2",
        "--estimators",
        "score",
        "--n",
        "10",
        "--reps",
        "5",
        "--results",
        tmp_path,
        "-q",
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "estimate-diag_gaussian-cos-2" / "estimate.csv")
    assert table["theta"].nunique() == 3
    assert sorted(table["param"].unique()) == sorted([f"mu[{i}]" for i in range(3)] + [f"sigma[{i}]" for i in range(3)])


def test_same_seed_same_bytes(tmp_path):
    args = ["estimate", "--dist", "beta", "--f", "linear", "--n", "10", "--reps", "10", "-q"]
    invoke(*args, "--results", tmp_path / "a")
    invoke(*args, "--results", tmp_path / "b")
    a = pd.read_csv(tmp_path / "a" / "estimate-beta-linear" / "estimate.csv")
    b = pd.read_csv(tmp_path / "b" / "estimate-beta-linear" / "estimate.csv")
    wall = list(WALL_CLOCK)
    assert a.drop(columns=wall).to_csv() == b.drop(columns=wall).to_csv()


def test_fisher_all_families(tmp_path):
    for dist in [
        "gaussian",
        "bernoulli",
        "categorical",
        "poisson",
        "exponential",
        "gamma",
        "beta",
        "diag_gaussian",
    ]:
        result = invoke("fisher", "--dist", dist, "--n", "1000,10000", "--results", tmp_path, "-q")
        assert result.exit_code == 0, result.output
        table = pd.read_csv(tmp_path / f"fisher-{dist}" / "fisher.csv")
        assert set(table["quantity"]) == {"score_mean", "fisher", "neg_hessian"}
        assert set(table["n_samples"]) == {1000, 10000}
    assert "singular" in invoke("fisher", "--dist", "categorical", "--n", "1000,10000", "--results", tmp_path).output


def test_python_dash_m_works():
    import subprocess

    result = subprocess.run([sys.executable, "-m", "pgcli", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and __version__ in result.stdout


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--dist", "cauchy"], ["'cauchy' is not one of"]),
        (["--f", "wiggle:2"], ["unknown function 'wiggle'", "allowed:"]),
        (
            ["--estimators", "score,magic"],
            ["estimators", "unknown value 'magic'", "allowed: score"],
        ),
        (["--theta", "sigma=0"], ["sigma must be > 0"]),
        (["--dist", "bernoulli", "--theta", "p=1.5"], ["p must be in (0, 1)"]),
        (["--n", "0"], ["n", "must be > 0"]),
        (["--n", "ten"], ["n[0]", "expected a number"]),
        (["--f", "x +* 2"], ["malformed expression"]),
        (["--f", "__import__('os')"], ["'__import__' not allowed"]),
        (["--f", "x.__class__"], ["Attribute not allowed"]),
        (["--f", "table:1,2", "--dist", "gaussian"], ["value table needs categorical"]),
        (["--set", "rep=3"], ["rep: unknown key; did you mean 'reps'?"]),
        (["--theta", "mu"], ["expected NAME=VALUE"]),
        (["missing.yaml"], ["spec file not found"]),
        (["--bogus"], ["No such option"]),
        (["--seed", "-1"], ["seed", "must be ≥ 0"]),
        (["--theta", "mu=0:1:1e400"], ["theta.mu", "lo:hi:count"]),
        (["--theta", "mu=0:1:100000"], ["theta.mu", "count must be in 1..10000"]),
        (["--set", "h=1" + "0" * 400], ["h", "number too large"]),
        (["--dist", "poisson", "--theta", "rate=1e300"], ["rate must be ≤ 1e+06"]),
    ],
)
def test_estimate_bad_input(tmp_path, args, fragments):
    results = tmp_path / "results"
    result = invoke("estimate", *args, "--results", results, "-q")
    assert_bad_input(result, *fragments, nothing_in=results)


def test_malformed_yaml_and_unknown_spec_key(tmp_path):
    results = tmp_path / "results"
    bad = tmp_path / "bad.yaml"
    bad.write_text("dist: gaussian\nf: [step\n")
    assert_bad_input(invoke("estimate", bad, "--results", results), "malformed YAML", "line", nothing_in=results)
    typo = tmp_path / "typo.yaml"
    typo.write_text("dist: gaussian\nestimator: [score]\n")
    assert_bad_input(
        invoke("estimate", typo, "--results", results),
        "did you mean 'estimators'",
        nothing_in=results,
    )
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("- 1\n- 2\n")
    assert_bad_input(invoke("estimate", wrong, "--results", results), "mapping", nothing_in=results)


def test_fisher_bad_input(tmp_path):
    results = tmp_path / "results"
    assert_bad_input(
        invoke("fisher", "--dist", "gamma", "--theta", "shape=-2", "--results", results),
        "shape must be > 0",
        nothing_in=results,
    )
    assert_bad_input(
        invoke("fisher", "--dist", "gaussian", "--param", "sd", "--results", results),
        "unknown parametrisation 'sd'",
        "log_sigma",
        nothing_in=results,
    )


def test_unwritable_out_is_bad_input(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = invoke("estimate", "--out", blocker / "x.csv", "--results", tmp_path / "r", "-q")
    assert_bad_input(result, "cannot write", nothing_in=tmp_path / "r")


def test_a_value_table_can_be_set_with_commas(tmp_path):
    result = invoke("estimate", "--dist", "categorical", "--set", "f=table:1,0,3", "--estimators", "score",
                    "--n", "10", "--reps", "2", "--results", tmp_path, "-q")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert set(pd.read_csv(tmp_path / "estimate-categorical-table-1-0-3" / "estimate.csv")["f"]) == {"table:1,0,3"}


def test_written_files_follow_the_umask(tmp_path):
    import os

    from pgcli.shell import atomic

    path = atomic.write_text(tmp_path / "x.txt", "x")
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~atomic.UMASK


@pytest.mark.parametrize(("f", "value"), [("9**9**9*x", "-inf"), ("x**10**10", "inf"), ("log(x)", "nan")])
def test_an_f_that_is_not_finite_on_the_samples_is_bad_input(tmp_path, f, value):
    result = invoke("estimate", "--dist", "gaussian", "--f", f, "--n", "10", "--reps", "2", "--results", tmp_path)
    assert_bad_input(result, "f[0]:", f"gives {value} at x = ", "must be finite", nothing_in=tmp_path)


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_a_target_se_that_is_not_a_finite_number_is_bad_input(tmp_path, value):
    result = invoke("estimate", "--f", "step", "--rank", "--target-se", value, "--results", tmp_path)
    assert_bad_input(result, "--target-se", nothing_in=tmp_path)
