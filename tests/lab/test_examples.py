"""The worked example, at a small size (its full size is the README's table)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "examples"))
import feature_selection  # noqa: E402

from pgcli.lab import classifier  # noqa: E402


@pytest.fixture(scope="module")
def data():
    x, y, _ = classifier.load_csv(feature_selection.DATA)
    return feature_selection.splits(x, y, np.random.default_rng(0))


def test_newton_fit_matches_the_lbfgs_logistic_regression(data):
    x, y = data["train"]
    design = np.column_stack([x[:, :8], np.ones(len(y))])
    np.testing.assert_allclose(
        feature_selection.logistic_regression(design, y, 1e-3),
        classifier.logistic_regression(design, y, 1e-3),
        atol=1e-5,
    )


def test_objective_is_validation_error_plus_penalty_and_caches_masks(data):
    f, cache = feature_selection.objective(data, 0.01)
    rng = np.random.default_rng(1)
    z = (rng.random((6, 30)) < 0.3).astype(float)
    z[3] = z[0]  # a repeated mask is fitted once
    values = f(z)
    expected = [feature_selection.error(m.astype(bool), data["train"], data["val"]) + 0.01 * m.sum() for m in z]
    np.testing.assert_allclose(values, expected)
    assert len(cache) == 5
    minority = min(np.mean(data["val"][1] == 0), np.mean(data["val"][1] == 1))  # no feature: the majority class
    assert feature_selection.error(np.zeros(30, dtype=bool), data["train"], data["val"]) == pytest.approx(minority)


@pytest.mark.slow
def test_example_runs_as_a_script():
    args = ["--steps", "10", "--n", "4", "--seeds", "1", "--estimators", "score,disarm"]
    out = subprocess.run([sys.executable, "examples/feature_selection.py", *args], cwd=ROOT, capture_output=True,
                         text=True, check=True)  # fmt: skip
    lines = out.stdout.splitlines()
    assert lines[0].split()[:3] == ["method", "features", "val_error"]
    assert [line.split()[0] for line in lines[1:]] == ["all", "score", "disarm"]
