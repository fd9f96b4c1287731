"""`pgcli optimize`: gradient descent on non-differentiable objectives with the lab's estimators."""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import special

from pgcli.base.fields import typed
from pgcli.base.streams import generators
from pgcli.lab import classifier
from pgcli.lab import optimize as optimize_core
from pgcli.lab.estimators import ESTIMATORS, UNBIASED, NotApplicable
from pgcli.shell.experiment import build_spec
from tests.helpers import assert_bad_input, invoke, written

TOY_OPTIMUM = 0.45**2  # E[(x − 0.45)²] = 0.2025 + 0.1 p, least at p = 0


def optimize(tmp_path, *args):
    result = invoke("optimize", *args, "--results", tmp_path, "-q")
    assert result.exit_code == 0, result.output
    return result


def read(tmp_path, name, table="optimize.csv"):
    return pd.read_csv(tmp_path / name / table)


def test_help_has_examples():
    result = invoke("optimize", "--help")
    assert result.exit_code == 0 and "Examples:" in result.output
    assert "pgcli optimize" in result.output and "optimize" in invoke("--help").output


def test_outputs_of_one_run(tmp_path):
    optimize(tmp_path, "--dist", "gaussian", "--f", "step", "--n", "8", "--steps", "5")
    base = tmp_path / "optimize-gaussian-step"
    (run_dir,) = [p for p in base.iterdir() if p.is_dir()]
    table = pd.read_csv(run_dir / "optimize.csv")
    assert list(table.columns) == [
        "step", "samples", "objective", "mu", "log_sigma", "grad_norm", "grad_var", "grad_snr",
        "wall_s",
    ]  # fmt: skip
    assert table["step"].tolist() == [0, 1, 2, 3, 4, 5]
    assert table["samples"].tolist() == [0, 8, 16, 24, 32, 40]
    assert table["grad_var"].iloc[-1:].isna().all() and (table["grad_var"].iloc[:-1] > 0).all()
    assert np.allclose(table["grad_snr"], table["grad_norm"] ** 2 / table["grad_var"], equal_nan=True)
    assert (run_dir / "status").read_text().startswith("done")
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["spec"]["parametrisation"] is None and config["spec"]["steps"] == 5
    runs = pd.read_csv(base / "runs.csv")
    assert runs["final_theta"].iloc[0].startswith("mu=")


def test_objective_is_exact_where_logged(tmp_path):
    """Gaussian step: E[1{x > 0}] = Φ(mu/σ), by quadrature every objective_every steps."""
    optimize(tmp_path, "--f", "step", "--steps", "6", "--set", "objective_every=4")
    table = read(tmp_path, "optimize-gaussian-step")
    logged = table["objective"].notna()
    assert logged.tolist() == [True, False, False, False, True, False, True]
    exact = special.ndtr(table["mu"] / np.exp(table["log_sigma"]))
    assert np.allclose(table.loc[logged, "objective"], exact[logged], rtol=1e-9, atol=0)

    optimize(tmp_path, "--problem", "bernoulli_toy", "--steps", "5")
    toy = read(tmp_path, "optimize-bernoulli_toy")
    assert np.allclose(toy["objective"], TOY_OPTIMUM + 0.1 * special.expit(toy["logit"]))


@pytest.mark.slow
def test_same_seed_same_bytes_serial_or_parallel(tmp_path):
    args = [
        "--problem",
        "bernoulli_toy",
        "--steps",
        "20",
        "--set-grid",
        "estimator=score,score_loo",
    ]
    optimize(tmp_path / "a", *args)
    optimize(tmp_path / "b", *args, "--jobs", "2")
    a, b = (read(tmp_path / x, "optimize-bernoulli_toy-by-estimator").drop(columns="wall_s") for x in "ab")
    assert a.to_csv() == b.to_csv()
    optimize(tmp_path / "c", *args, "--seed", "1")
    assert not read(tmp_path / "c", "optimize-bernoulli_toy-by-estimator").drop(columns="wall_s").equals(a)


@pytest.mark.slow
@pytest.mark.parametrize("estimator", [*(e for e in UNBIASED if e not in ("arm", "disarm")), "pathwise"])
def test_unbiased_estimators_find_the_gaussian_mean(tmp_path, estimator):
    """f = (x − 2)², σ = 1 fixed: the optimum is mu = 2. SGD, lr 0.02, 64 samples, 300 steps;
    |mu − 2| < 0.1 for seeds 0, 1, 2 (the stationary spread of mu is ≈ 0.03 for score)."""
    result = optimize(tmp_path, "--f", "(x - 2)**2", "--theta", "mu=0,log_sigma=0", "--learn", "mu",
                      "--estimator", estimator, "--n", "64", "--steps", "300", "--optim", "sgd",
                      "--lr", "0.02", "--set", "objective_every=1000", "--set", "sweep.seeds=3")  # fmt: skip
    table = pd.read_csv(written(result))
    final = table.groupby("seed").last()
    assert (final["mu"] - 2).abs().max() < 0.1, final["mu"]
    assert (table["log_sigma"] == 0).all()  # not learned
    assert np.allclose(final["objective"], 1 + (final["mu"] - 2) ** 2)


@pytest.mark.slow
@pytest.mark.parametrize("estimator", UNBIASED)
def test_unbiased_estimators_reach_the_bernoulli_toy_optimum(tmp_path, estimator):
    """Adam, lr 0.1, 16 samples, 500 steps: E[f] − 0.2025 < 0.002 (p < 0.02) for seeds 0, 1, 2."""
    optimize(tmp_path, "--problem", "bernoulli_toy", "--estimator", estimator, "--n", "16",
             "--steps", "500", "--optim", "adam", "--lr", "0.1", "--set", "sweep.seeds=3")  # fmt: skip
    runs = pd.read_csv(tmp_path / "optimize-bernoulli_toy" / "runs.csv")
    assert (runs["optimum"] == TOY_OPTIMUM).all()
    assert (runs["final_objective"] - TOY_OPTIMUM).max() < 0.002, runs["final_objective"]


def test_pathwise_does_not_move_on_a_step_but_score_does(tmp_path):
    """∂/∂x 1{x > 0} = 0 almost everywhere: pathwise estimates ∇θ P(x > 0) as exactly 0."""
    args = ["--f", "step", "--theta", "mu=1,log_sigma=0", "--steps", "100", "--optim", "adam",
            "--lr", "0.05", "--set-grid", "estimator=pathwise,score", "--set", "objective_every=50"]  # fmt: skip
    optimize(tmp_path, *args)
    table = read(tmp_path, "optimize-gaussian-step-by-estimator").set_index("estimator")
    path = table.loc["pathwise"]
    assert (path["mu"] == 1).all() and (path["log_sigma"] == 0).all()
    assert (path["grad_norm"].dropna() == 0).all()
    assert path["objective"].dropna().nunique() == 1
    score = table.loc["score"]
    assert score["mu"].iloc[-1] < 0 and score["objective"].iloc[-1] < 0.1


@pytest.mark.slow
def test_baselines_beat_plain_score_on_the_toy_with_equal_samples(tmp_path):
    """The shipped spec (Adam, lr 0.05, n = 4, 500 steps) over seeds 0..4: score_loo and
    score_optimal end nearer the optimum than plain score, and their grad_var is > 10× lower."""
    result = optimize(tmp_path, "pgcli/library/optimize-bernoulli.yaml", "--set", "sweep.seeds=5",
                      "--set-grid", "estimator=score,score_loo,score_optimal")  # fmt: skip
    runs = pd.read_csv(written(result).parent / "runs.csv")
    assert (runs["samples"] == 2000).all()
    mean = runs.groupby("estimator")[["final_objective", "mean_grad_var"]].mean()
    gap = mean["final_objective"] - TOY_OPTIMUM
    for better in ["score_loo", "score_optimal"]:
        assert gap[better] < 0.5 * gap["score"], gap
        assert mean.loc[better, "mean_grad_var"] < 0.1 * mean.loc["score", "mean_grad_var"], mean


def test_maximising_the_toy_goes_to_the_other_end(tmp_path):
    result = optimize(tmp_path, "--problem", "bernoulli_toy", "--maximize", "--estimator",
                      "score_loo", "--optim", "adam", "--lr", "0.1", "--steps", "300")  # fmt: skip
    runs = pd.read_csv(tmp_path / "optimize-bernoulli_toy" / "runs.csv")
    assert runs["optimum"].iloc[0] == pytest.approx(0.55**2)
    assert runs["final_objective"].iloc[0] > 0.55**2 - 0.002
    assert "0.3025" in result.stdout


def test_diverging_run_is_marked_and_exit_code_is_1(tmp_path):
    """In the standard parametrisation a large step makes σ negative: the run stops, diverged."""
    result = invoke("optimize", "--param", "standard", "--f", "square", "--optim", "sgd",
                    "--lr", "5", "--steps", "50", "--results", tmp_path, "-q")  # fmt: skip
    assert result.exit_code == 1
    (run_dir,) = [p for p in (tmp_path / "optimize-gaussian-square").iterdir() if p.is_dir()]
    assert (run_dir / "status").read_text().startswith("diverged")
    assert "sigma must be > 0" in result.stderr and "log_sigma" in result.stderr


# ---------------------------------------------------------------------------------------------
# the classifier


def test_classifier_score_terms_are_unbiased_for_the_expected_loss_gradient():
    """At a random θ, the mean of each estimator's terms matches ∇L = mean_i (1 − 2y_i) p_i
    (1 − p_i) x̃_i within 4 standard errors, coordinate by coordinate."""
    rng = np.random.default_rng(7)
    x, y, features = classifier.load_csv("pgcli/lab/data/breast_cancer.csv")
    data = classifier.prepare(x, y, features, 0.3, rng)
    theta = 0.3 * rng.standard_normal(data.x_train.shape[1])
    xs, ys = data.x_train[:40], data.y_train[:40]
    p = classifier.prob(theta, xs)
    exact = (((1 - 2 * ys) * p * (1 - p))[:, None] * xs).mean(0)
    for name in ["score", "score_loo", "score_optimal", "measure_valued", "score_antithetic", "arm", "disarm"]:
        terms = classifier.ESTIMATORS[name](xs, ys, theta, 2000, rng, 0.01)
        std_error = terms.std(0, ddof=1) / np.sqrt(terms.shape[0])
        assert np.all(np.abs(terms.mean(0) - exact) <= 4 * std_error + 1e-12), name


def test_logistic_regression_solves_its_first_order_condition():
    rng = np.random.default_rng(0)
    x, y, features = classifier.load_csv("pgcli/lab/data/breast_cancer.csv")
    data = classifier.prepare(x, y, features, 0.3, rng)
    l2 = 0.01
    theta = classifier.logistic_regression(data.x_train, data.y_train, l2)
    p = classifier.prob(theta, data.x_train)
    grad = data.x_train.T @ (p - data.y_train) / p.size + l2 * np.r_[theta[:-1], 0]
    assert np.abs(grad).max() < 1e-6


@pytest.mark.slow
def test_classifier_within_3_points_of_logistic_regression(tmp_path):
    """The shipped spec, seeds 0..2: every estimator's held-out accuracy is at most 3 points
    below logistic regression fitted to the log-loss on the same split."""
    result = optimize(tmp_path, "pgcli/library/optimize-classifier.yaml", "--set", "sweep.seeds=3")
    runs = pd.read_csv(written(result).parent / "runs.csv")
    assert len(runs) == 12 and (runs["status"] == "done").all()
    assert (runs["test_accuracy"] >= runs["logreg_test_accuracy"] - 0.03).all(), runs
    assert (runs["logreg_test_accuracy"] > 0.93).all()
    assert "logreg_test_accuracy" in result.stdout
    table = pd.read_csv(written(result))
    assert {"test_objective", "train_accuracy", "w[29]", "b"} <= set(table.columns)
    assert table["objective"].iloc[0] == 0.5  # θ = 0: every prediction is a fair coin


def test_print_spec_coerces_overrides():
    result = invoke("optimize", "pgcli/library/optimize-bernoulli.yaml", "--set", "optim.lr=1e-3",
                    "--set", "steps=1e3", "--print-spec")  # fmt: skip
    spec = yaml.safe_load(result.stdout)
    assert spec["optim"]["lr"] == 0.001 and spec["steps"] == 1000
    assert spec["problem"] == "bernoulli_toy" and spec["n"] == 4


# ---------------------------------------------------------------------------------------------
# bad input: one line, exit 2, nothing written


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--problem", "bandit"], ["'bandit' is not one of"]),
        (["--estimator", "magic"], ["'magic' is not one of"]),
        (["--set-grid", "estimator=score,magic"], ["estimator[1]", "unknown value 'magic'"]),
        (
            ["--dist", "bernoulli", "--estimator", "pathwise"],
            ["estimator", "bernoulli is discrete"],
        ),
        (["--problem", "bernoulli_toy", "--estimator", "pathwise"], ["pathwise needs"]),
        (["--problem", "classifier", "--estimator", "pathwise"], ["ŷ is discrete"]),
        (["--estimator", "score_loo", "--n", "1"], ["score_loo needs n ≥ 2"]),
        (["--dist", "gamma", "--f", "square", "--estimator", "measure_valued"], ["log_shape"]),
        (["--n", "0"], ["n", "must be > 0"]),
        (["--steps", "ten"], ["steps", "expected a number"]),
        (["--steps", "2.5"], ["steps", "expected an integer"]),
        (["--lr", "-1"], ["optim.lr", "must be in (0, 10]"]),
        (["--set", "optim.kind=rmsprop"], ["optim.kind", "allowed: sgd, adam"]),
        (["--f", "x +* 2"], ["f:", "malformed expression"]),
        (["--f", "wiggle:2"], ["unknown function 'wiggle'"]),
        (["--dist", "categorical", "--f", "table:1,2"], ["a value table needs 3 values"]),
        (["--theta", "sigma=1"], ["unknown parameter 'sigma'", "log_sigma"]),
        (["--theta", "mu=0:1:3"], ["theta", "one θ"]),
        (["--param", "standard", "--theta", "sigma=-1"], ["sigma must be > 0"]),
        (["--param", "sd"], ["parametrisation", "allowed: standard, log_sigma"]),
        (["--learn", "sigma"], ["learn", "allowed: mu, log_sigma"]),
        (["--problem", "bernoulli_toy", "--f", "square"], ["f:", "bernoulli_toy fixes"]),
        (["--problem", "bernoulli_toy", "--theta", "p=0.5"], ["allowed: logit"]),
        (["--problem", "classifier", "--dist", "gaussian"], ["dist:", "classifier fixes"]),
        (["--set", "target=0.3"], ["target", "bernoulli_toy"]),
        (["--problem", "classifier", "--data", "nope.csv"], ["data.path", "not found"]),
        (["--problem", "classifier", "--set", "data.batch=1000"], ["data.batch", "398"]),
        (["--problem", "classifier", "--set", "data.label=grade"], ["no column 'grade'"]),
        (["--set", "data.test_fraction=1"], ["data.test_fraction", "(0, 1)"]),
        (["--set", "objective_everyy=3"], ["did you mean 'objective_every'"]),
        (["missing.yaml"], ["spec file not found"]),
    ],
)
def test_optimize_bad_input(tmp_path, args, fragments):
    results = tmp_path / "results"
    result = invoke("optimize", *args, "--results", results, "-q")
    assert_bad_input(result, *fragments, nothing_in=results)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("a,b,label\n1,x,0\n2,y,1\n", "column 'b'"),
        ("a,b,label\n1,2,0\n2,3,2\n", "0 and 1 only"),
        ("a,b,label\n1,2,0\n2,,1\n", "missing"),
        ("a,b,label\n1,2,0\n2,3,0\n3,4,1\n", "miss a class"),
    ],
)
def test_bad_data_files(tmp_path, text, fragment):
    data = tmp_path / "data.csv"
    data.write_text(text)
    results = tmp_path / "results"
    result = invoke("optimize", "--problem", "classifier", "--data", data, "--set", "data.batch=1",
                    "--results", results, "-q")  # fmt: skip
    assert_bad_input(result, "data.path", fragment, nothing_in=results)


def test_classifier_has_one_function_per_estimator_of_the_lab():
    """The classifier's registry lists the lab's estimators; those without a classifier form say why."""
    assert sorted(classifier.ESTIMATORS) == sorted(ESTIMATORS)
    x, y = np.ones((2, 3)), np.array([0.0, 1.0])
    for name, why in classifier.NOT_APPLICABLE.items():
        with pytest.raises(NotApplicable, match=re.escape(why)):
            classifier.ESTIMATORS[name](x, y, np.zeros(3), 2, np.random.default_rng(0), 0.01)


def test_classifier_baseline_is_fitted_once_per_data_split_and_l2(tmp_path, monkeypatch):
    """runs.csv's logistic-regression columns are asked for at every aggregation (check --no-run
    too): one L-BFGS fit per data content, split seed and l2, equal to fitting it directly."""
    fits = []
    fit = classifier.logistic_regression
    monkeypatch.setattr(classifier, "logistic_regression", lambda *args: fits.append(args) or fit(*args))
    optimize_core._classifier_baseline.cache_clear()
    data = tmp_path / "data.csv"
    lines = Path("pgcli/lab/data/breast_cancer.csv").read_text().splitlines(keepends=True)
    data.write_text("".join(lines))
    flags = {"problem": "classifier", "seed": 3, "data": {"path": str(data), "test_fraction": 0.3, "l2": 0.001}}
    spec = typed(optimize_core.Settings, build_spec("optimize", None, flags, [], None, "t"))
    first = optimize_core.classifier_baseline(spec)
    assert optimize_core.classifier_baseline(spec) == first and len(fits) == 1
    split_rng = generators(3, optimize_core.STREAMS)["split"]
    assert first == classifier.baseline(classifier.load(data, None, 0.3, split_rng), 0.001)
    assert len(fits) == 2
    optimize_core.classifier_baseline(spec._replace(seed=4))
    optimize_core.classifier_baseline(spec._replace(data=spec.data._replace(l2=0.01)))
    assert len(fits) == 4
    data.write_text("".join(lines[:-1]))  # same path, other content: fitted again
    assert optimize_core.classifier_baseline(spec) != first and len(fits) == 5
