from pathlib import Path

import numpy as np
import pytest

from pgcli.base import usercode
from pgcli.lab import distributions as D

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
    return D.make_dist(family, parametrisation, theta, dim)


@pytest.fixture
def rng():
    return np.random.default_rng(20261126)
