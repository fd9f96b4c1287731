"""`import pgcli`: the Python API returns DataFrames, raises PgcliError on bad input, never exits."""

import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

import pgcli
from pgcli.lab.estimate import COLUMNS
from tests.helpers import invoke


@pytest.mark.slow
def test_import_pgcli_is_light():
    code = (
        "import sys, pgcli; print(sorted(m for m in ('numpy', 'matplotlib', 'click', 'gymnasium') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    code = "import sys, pgcli; pgcli.gradient('step'); print('gymnasium' in sys.modules, 'click' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def mask_loss(x):
    """Distance from the code 0101…: Σ_k |x_k − (k mod 2)|, a function of the whole mask."""
    return np.abs(x - np.arange(x.shape[1]) % 2).sum(1)


def test_gradient_in_a_training_loop_is_unbiased():
    """∂/∂α_k E|x_k − c_k| = (1 − 2c_k) σ′(α_k); the mean of 200 DisARM estimates (n = 16) is within
    4 standard errors, and each call's std_error is the std of its terms / √n."""
    theta = np.array([0.3, -0.5, 1.0, 0.0])
    rng = np.random.default_rng(0)
    grads = []
    for _ in range(200):
        g = pgcli.gradient(mask_loss, "bernoulli", {"logit": theta}, n=16, estimator="disarm", rng=rng)
        grads.append(g["grad"].to_numpy())
    assert list(g.index) == ["logit[0]", "logit[1]", "logit[2]", "logit[3]"]
    terms = g.attrs["terms"]
    assert terms.shape == (16, 4)
    np.testing.assert_allclose(g["std_error"], terms.std(0, ddof=1) / 4)
    p = 1 / (1 + np.exp(-theta))
    exact = (1 - 2 * (np.arange(4) % 2)) * p * (1 - p)
    grads = np.array(grads)
    assert np.all(np.abs(grads.mean(0) - exact) <= 4 * grads.std(0, ddof=1) / np.sqrt(200))


def test_gradient_takes_text_a_seed_and_a_derivative():
    a = pgcli.gradient("square", "gaussian", {"mu": 1.0}, n=500, estimator="pathwise", rng=3)
    b = pgcli.gradient(
        lambda x: x * x, "gaussian", {"mu": 1.0}, n=500, estimator="pathwise", rng=3, f_grad=lambda x: 2 * x
    )
    pd.testing.assert_frame_equal(a, b)
    assert np.isnan(pgcli.gradient("square", n=64, estimator="score_rqmc", rng=0)["std_error"]).all()


def test_user_module_through_the_api(tmp_path, monkeypatch):
    (tmp_path / "api_user_mod.py").write_text(textwrap.dedent('''
        def cube(x):
            return x ** 3
        def cube_grad(x):
            return 3 * x ** 2
    '''))  # fmt: skip
    monkeypatch.chdir(tmp_path)
    table = pgcli.estimate("api_user_mod:cube", "gaussian", {"mu": 0.5, "sigma": 0.8},
                           estimators=["score", "pathwise"], n=200, reps=100)  # fmt: skip
    assert list(table.columns) == COLUMNS and set(table["f"]) == {"api_user_mod:cube"}
    # E[x³] = μ³ + 3μσ²: ∂μ = 3μ² + 3σ², ∂σ = 6μσ
    np.testing.assert_allclose(table["exact"], np.tile([3 * 0.25 + 3 * 0.64, 6 * 0.5 * 0.8], 2), rtol=1e-7)
    assert (table["bias"].abs() <= 4 * table["std_error"]).all()


def test_estimate_with_a_callable_and_notes():
    table = pgcli.estimate([mask_loss, "square"], "bernoulli", {"logit": np.zeros(3)}, n=[50], reps=20,
                           estimators=["score", "pathwise"])  # fmt: skip
    assert set(table["f"]) == {"tests.shell.test_api:mask_loss", "square"}
    assert set(table["exact_method"]) == {"exact_sum"}
    assert any("pathwise skipped" in note for note in table.attrs["notes"])


def test_optimize_and_load(tmp_path):
    table = pgcli.optimize(mask_loss, "bernoulli", {"logit": np.zeros(4)}, estimator="disarm", steps=100, lr=0.1)
    assert table.attrs["status"] == "done"
    assert table["objective"].iloc[0] == pytest.approx(2.0) and table["objective"].iloc[-1] < 0.3
    assert "logit[3]" in table.attrs["summary"]["final_theta"]
    result = invoke("optimize", "--f", "square", "--steps", "5", "--results", tmp_path, "-q")
    assert result.exit_code == 0
    loaded = pgcli.load(tmp_path / "optimize-gaussian-square")
    assert len(loaded) == 6 and list(loaded.attrs["runs"]["status"]) == ["done"]


def test_train_one_run():
    table = pgcli.train("pgcli/library/cartpole.yaml", overrides={"stop.iterations": 2}, seed=1)
    assert len(table) == 2 and table.attrs["status"] == "done" and "return_mean" in table


def test_the_api_functions_survive_importing_the_core():
    """The cores' estimate, optimize and train modules live in pgcli.lab and pgcli.rl, so importing
    them never rebinds pgcli.estimate, pgcli.optimize or pgcli.train (the API's functions)."""
    import pgcli.rl.train
    from pgcli.lab import estimate as estimate_core
    from pgcli.lab import optimize as optimize_core

    assert callable(estimate_core.run) and callable(optimize_core.run) and callable(pgcli.rl.train.run)
    assert all(callable(getattr(pgcli, name)) for name in ("estimate", "optimize", "train", "gradient"))
    assert isinstance(pgcli.estimate(n=[10], reps=2, estimators=["score"]), pd.DataFrame)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: pgcli.gradient("step", "gaussian", {"sigma": -1}), "sigma must be > 0"),
        (lambda: pgcli.gradient("step", "gaussian", estimator="arm"), "arm is for binary variables"),
        (lambda: pgcli.gradient("step", "gaussian", estimator="nope"), "unknown value 'nope'"),
        (lambda: pgcli.gradient("step:x"), "ambiguous"),
        (
            lambda: pgcli.gradient(lambda x: np.stack([x, x], 1), "gaussian", n=8),
            "f returned shape (n, 2), expected (n,)",
        ),
        (lambda: pgcli.estimate("step", n=[0]), "n: every value must be > 0"),
        (lambda: pgcli.estimate("step", "poisson", dim=3), "dim applies only to"),
        (lambda: pgcli.optimize(steps="many"), "steps: expected a number"),
        (lambda: pgcli.optimize(optim="lbfgs"), "optim.kind"),
        (lambda: pgcli.train({"env": {"id": "NoSuchEnv-v0"}}), "env.id"),
        (lambda: pgcli.load("no/such/dir"), "no such results directory or CSV file"),
    ],
)
def test_bad_input_raises_pgcli_error_never_system_exit(call, message):
    with pytest.raises(pgcli.PgcliError) as caught:
        call()
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_an_exception_in_user_code_propagates_unchanged():
    def boom(x):
        raise ZeroDivisionError("mine")

    with pytest.raises(ZeroDivisionError, match="mine"):
        pgcli.gradient(boom, "gaussian", n=4)


def test_bad_input_message_is_the_command_lines(tmp_path):
    with pytest.raises(pgcli.PgcliError) as caught:
        pgcli.gradient("step", "gaussian", {"sigma": -1})
    result = invoke("estimate", "--theta", "sigma=-1", "--results", tmp_path)
    assert result.exit_code == 2 and result.stderr.strip() == f"Error: {caught.value}"


def test_a_theta_vector_longer_than_the_dim_limit_is_refused_not_run():
    with pytest.raises(pgcli.PgcliError, match=r"theta.mu: a vector of at most 1000 values .* got 1,000,000"):
        pgcli.gradient("step", "diag_gaussian", {"mu": np.zeros(10**6)}, n=4, rng=0)
    assert pgcli.gradient("step", "diag_gaussian", {"mu": np.zeros(1000)}, n=4, rng=0).shape == (2000, 2)


def test_overrides_that_are_not_a_mapping_are_bad_input():
    with pytest.raises(pgcli.PgcliError, match=r"overrides: expected a mapping of dotted keys"):
        pgcli.train("cartpole", overrides=["optim.lr=0.1"])
