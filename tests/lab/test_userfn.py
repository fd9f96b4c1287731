"""`--f module:function`: a user's Python f through the CLI, its exact gradient, and its errors."""

import textwrap

import numpy as np
import pandas as pd
import pytest

from pgcli.base import usercode
from pgcli.lab import distributions, userfn
from pgcli.lab.exact import exact_gradient
from pgcli.lab.functions import FunctionError, parse_function
from tests.helpers import assert_bad_input, invoke, written

MODULE = '''
import numpy as np


def parity(x):
    """1 when an odd number of the bits are set: no sum over coordinates, no derivative."""
    return (x.sum(1) % 2).astype(float)


def quad(x):
    return (x - 0.5) ** 2 if x.ndim == 1 else ((x - 0.5) ** 2).sum(1)


def quad_grad(x):
    return 2 * (x - 0.5)


def cube(x):
    return x**3 if x.ndim == 1 else (x**3).sum(1)


def two_columns(x):
    return np.stack([x.sum(1), x.sum(1)], 1)


def words(x):
    return np.array(["a"] * x.shape[0])


def hamming(x):
    """Distance from the code 1010: least (0) at p = (1, 0, 1, 0)."""
    return np.abs(x - np.array([1.0, 0.0, 1.0, 0.0])).sum(1)


def boom(x):
    raise ZeroDivisionError("my f failed on purpose")
'''


@pytest.fixture
def module(tmp_path, request):
    """A fresh module (unique name: imports are cached) in a directory of its own."""
    name = f"userf_{request.node.name.replace('[', '_').replace(']', '').replace('-', '_')}"
    directory = tmp_path / "code"
    directory.mkdir()
    (directory / f"{name}.py").write_text(textwrap.dedent(MODULE))
    return name, directory


def read(results, name):
    return pd.read_csv(results / name / "estimate.csv")


def test_module_beside_the_spec_imports_and_parity_gradient_is_exact(module, tmp_path):
    """Parity of independent bits: P(odd) = (1 − Π_k (1 − 2p_k))/2, so ∂/∂p_j = Π_{k≠j} (1 − 2p_k);
    pgcli's exact sum over {0, 1}^3 must equal it, and score must be within 4 s.e."""
    name, directory = module
    spec = directory / "lab.yaml"
    spec.write_text(f"dist: bernoulli\ndim: 3\ntheta: {{p: [0.2, 0.6, 0.7]}}\nf: ['{name}:parity']\n"
                    "estimators: [score, disarm]\nn: [200]\nreps: 100\n")  # fmt: skip
    result = invoke("estimate", spec, "--results", tmp_path / "r")
    assert result.exit_code == 0, result.output
    table = read(tmp_path / "r", "lab")
    p = np.array([0.2, 0.6, 0.7])
    closed = [np.prod(np.delete(1 - 2 * p, j)) for j in range(3)]
    score = table[table["estimator"] == "score"]
    np.testing.assert_allclose(score["exact"], closed, rtol=1e-12)
    assert set(table["exact_method"]) == {"exact_sum"} and set(table["f"]) == {f"{name}:parity"}
    assert (table["bias"].abs() <= 4 * table["std_error"]).all()


@pytest.mark.slow
def test_module_in_the_working_directory_and_its_gradient_for_pathwise(module, tmp_path, monkeypatch):
    name, directory = module
    monkeypatch.chdir(directory)
    result = invoke("estimate", "--dist", "gaussian", "--theta", "mu=0.3,sigma=1.5", "--f", f"{name}:quad",
                    "--estimators", "score,pathwise,score_cv_delta", "--n", "100", "--reps", "200",
                    "--results", tmp_path / "r", "-q")  # fmt: skip
    assert result.exit_code == 0, result.output
    table = pd.read_csv(written(result))
    np.testing.assert_allclose(table["exact"], np.tile([2 * (0.3 - 0.5), 2 * 1.5], 3), rtol=1e-7)
    assert set(table["estimator"]) == {"score", "pathwise", "score_cv_delta"}
    assert (table["bias"].abs() <= 4 * table["std_error"]).all()


@pytest.mark.slow
def test_without_a_gradient_pathwise_says_what_to_define(module, tmp_path, monkeypatch):
    name, directory = module
    monkeypatch.chdir(directory)
    result = invoke("estimate", "--dist", "gaussian", "--f", f"{name}:cube", "--estimators", "score,pathwise",
                    "--n", "10", "--reps", "5", "--results", tmp_path / "r", "-q")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"pathwise needs f'(x); {name}:cube has none (define cube_grad(x) in {name})" in result.stdout


@pytest.mark.parametrize(("dist", "dim"), [("bernoulli", 17), ("diag_gaussian", 2)])
def test_no_exact_gradient_leaves_bias_blank(module, tmp_path, monkeypatch, dist, dim):
    name, directory = module
    monkeypatch.chdir(directory)
    result = invoke("estimate", "--dist", dist, "--dim", dim, "--f", f"{name}:quad", "--estimators", "score",
                    "--n", "10", "--reps", "5", "--results", tmp_path / "r", "-q")  # fmt: skip
    assert result.exit_code == 0, result.output
    table = pd.read_csv(written(result))
    assert set(table["exact_method"]) == {"none"}
    assert table[["exact", "bias", "mse"]].isna().all().all() and table["mean"].notna().all()


@pytest.mark.slow
def test_exception_inside_f_fails_the_run_with_the_users_traceback(module, tmp_path, monkeypatch):
    name, directory = module
    monkeypatch.chdir(directory)
    for command in (["estimate", "--n", "10", "--reps", "2"], ["optimize", "--steps", "3"]):
        result = invoke(*command, "--dist", "bernoulli", "--f", f"{name}:boom", "--results", tmp_path / "r")
        assert result.exit_code == 1
        assert "ZeroDivisionError: my f failed on purpose" in result.stderr
        (summary,) = (tmp_path / "r").glob(f"{command[0]}-bernoulli-*-boom")
        (run_dir,) = [p for p in summary.iterdir() if p.is_dir()]
        assert (run_dir / "status").read_text().startswith("failed")
        error = (run_dir / "error.txt").read_text()
        assert f"{name}.py" in error and 'raise ZeroDivisionError("my f failed on purpose")' in error
        assert error.strip().splitlines()[-1] == "ZeroDivisionError: my f failed on purpose"


@pytest.mark.parametrize(
    ("attr", "fragments"),
    [
        ("two_columns", ["f returned shape (n, 2), expected (n,)"]),
        ("words", ["f returned dtype <U1, expected real numbers"]),
        ("missing", ["has no callable 'missing'"]),
    ],
)
def test_wrong_user_functions_are_bad_input(module, tmp_path, monkeypatch, attr, fragments):
    name, directory = module
    monkeypatch.chdir(directory)
    for command in ("estimate", "optimize"):
        results = tmp_path / "r"
        result = invoke(command, "--dist", "bernoulli", "--dim", "2", "--f", f"{name}:{attr}", "--results", results)
        assert_bad_input(result, *fragments, nothing_in=results)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("step:foo", "'step:foo' is ambiguous"),
        ("table:x", "'table:x' is ambiguous"),
        ("no_such_module_here:f", "no file no_such_module_here.py"),
    ],
)
def test_ambiguous_and_unimportable_references_are_bad_input(tmp_path, text, fragment):
    assert_bad_input(invoke("estimate", "--f", text, "--results", tmp_path), fragment, nothing_in=tmp_path)


def test_built_in_forms_keep_their_meaning():
    assert parse_function("step:0.5").name == "step" and parse_function("cos:2").arg == 2
    assert parse_function("table:1,0,3").name == "table"
    with pytest.raises(FunctionError, match="ambiguous"):
        parse_function("cos:k")


def test_scalar_families_pass_a_vector_and_exact_uses_quadrature(module, monkeypatch):
    name, directory = module
    usercode.allow([usercode.locate(f"{name}:quad", [directory])])
    f = userfn.to_function(f"{name}:quad")
    dist = distributions.make_dist("exponential", None, {"rate": 2.0})
    grad, method = exact_gradient(dist, f)
    # E[(x − ½)²] = 2/λ² − 1/λ + ¼: derivative −4/λ³ + 1/λ²
    assert method == "quadrature" and grad[0] == pytest.approx(-4 / 8 + 1 / 4, rel=1e-8)
    x = np.array([[0.0], [1.0]])
    np.testing.assert_array_equal(f.value(x), [[0.25], [0.25]])
    np.testing.assert_array_equal(f.deriv(x), [[-1.0], [1.0]])


@pytest.mark.slow
@pytest.mark.parametrize("estimator", ["score_loo", "disarm"])
def test_optimize_a_user_objective_over_binary_codes(module, tmp_path, monkeypatch, estimator):
    """E[hamming(x, 1010)] from p = 0.5 (objective 2, exact over {0, 1}^4) to below 0.3."""
    name, directory = module
    monkeypatch.chdir(directory)
    result = invoke("optimize", "--dist", "bernoulli", "--dim", "4", "--theta", "logit=0", "--f", f"{name}:hamming",
                    "--estimator", estimator, "--n", "8", "--steps", "150", "--lr", "0.1",
                    "--results", tmp_path / "r", "-q")  # fmt: skip
    assert result.exit_code == 0, result.output
    table = pd.read_csv(written(result))
    assert table["objective"].iloc[0] == pytest.approx(2.0)
    assert table["objective"].iloc[-1] < 0.3
