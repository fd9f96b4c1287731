"""Every number and every amount of work is bounded before anything runs: one line naming the key,
exit 2, nothing written (--print-spec is enough to be refused: validation runs before printing)."""

import numpy as np
import pytest

import pgcli
from tests.helpers import assert_bad_input, invoke

TRAIN = [
    ("algo.epochs=1e9", "algo.epochs"),
    ("algo.value.steps=1e9", "algo.value.steps"),
    ("eval.episodes=1e9", "eval.episodes"),
    ("batch.episodes=1e15", "batch.episodes"),
    ("batch.steps=1e15", "batch.steps"),
    ("batch.min_steps=1e15", "batch.min_steps"),
    ("policy.hidden=[50000]", "policy.hidden"),
    ("policy.hidden=[64,64,64,64,64,64,64,64,64]", "policy.hidden"),
    ("algo.clip=1.5", "algo.clip"),
    ("algo.clip=1e300", "algo.clip"),
    ("optim.lr=1e400", "optim.lr"),
    ("optim.lr=nan", "optim.lr"),
    ("optim.lr=inf", "optim.lr"),
    ("stop.iterations=1e12", "stop.iterations"),
    ("stop.env_steps=1e15", "stop.env_steps"),
    ("env.max_episode_steps=1e12", "env.max_episode_steps"),
    ("timeout=-1", "timeout"),
    ("timeout=1e12", "timeout"),
]


@pytest.mark.parametrize(("setting", "key"), TRAIN, ids=[s for s, _ in TRAIN])
def test_train_settings_out_of_range_are_refused(tmp_path, setting, key):
    result = invoke("train", "--set", setting, "--results", tmp_path, "--print-spec")
    assert_bad_input(result, key, nothing_in=tmp_path)


def test_a_policy_too_large_for_its_env_is_refused_before_it_is_made(tmp_path):
    result = invoke("train", "--set", "policy.hidden=[4096,4096]", "--results", tmp_path)
    assert_bad_input(result, "policy.hidden", "parameters for CartPole-v1; the limit is 1,000,000", nothing_in=tmp_path)


LAB = [
    (["estimate", "--n", ",".join(["10"] * 101)], "at most 100 values"),
    (["estimate", "--n", "1e9", "--reps", "1000"], "per cell"),
    (["estimate", "--theta", "mu=-3:3:1000", "--n", "1e6", "--reps", "100"], "per run"),
    (["estimate", "--theta", "mu=-3:3:2.5"], "whole number"),
    (["estimate", "--theta", "mu=1,mu=2"], "mu is given twice"),
    (["estimate", "--h", "0"], "h"),
    (["estimate", "--temperature", "1e9"], "temperature"),
    (["estimate", "--rank", "--target-se", "1e-300"], "--target-se"),
    (["fisher", "--n", "1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,"
      "1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,"
      "1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,"
      "1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9"],
     "at most 100 values"),
    (["optimize", "--n", "1e6", "--steps", "1e6"], "steps: n × steps"),
    (["optimize", "--lr", "1e300"], "optim.lr"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "fragment"), LAB, ids=[" ".join(a)[:40] for a, _ in LAB])
def test_lab_work_out_of_range_is_refused(tmp_path, args, fragment):
    assert_bad_input(invoke(*args, "--results", tmp_path), fragment, nothing_in=tmp_path)


def test_the_api_is_bounded_like_the_command_line():
    for call, fragment in [
        (lambda: pgcli.gradient("step", n=1e12), "n:"),
        (lambda: pgcli.gradient("step", n=2e70), "n:"),
        (lambda: pgcli.gradient("step", dist="diag_gaussian", dim=1e6), "dim"),
        (lambda: pgcli.gradient("step", theta="mu=1"), "theta"),
        (lambda: pgcli.gradient("step", theta={"mu": object()}), "theta.mu"),
        (lambda: pgcli.gradient("step", theta={"mu": "-1:1:5"}), "one θ per gradient"),
        (lambda: pgcli.gradient("step", rng=-1), "rng"),
        (lambda: pgcli.gradient("step", rng=1.5), "rng"),
        (lambda: pgcli.gradient("step", rng=2**70), "rng"),  # the command line's seeds end at 2^63 − 1
        (lambda: pgcli.gradient("step", h=0, estimator="finite_difference"), "h"),
        (lambda: pgcli.gradient("step", temperature=-1), "temperature"),
        (lambda: pgcli.train(["env"]), "spec"),
        (lambda: pgcli.train(overrides={"policy.hidden": [50000]}), "policy.hidden"),
        (lambda: pgcli.load(3), "results_dir"),
    ]:
        with pytest.raises(pgcli.PgcliError, match=fragment):
            call()


def test_dim_given_as_text_is_typed_like_the_command_line():
    g = pgcli.gradient("square", "diag_gaussian", {"mu": np.zeros(3)}, dim="3", n=10, rng=0)
    assert list(g.index) == ["mu[0]", "mu[1]", "mu[2]", "sigma[0]", "sigma[1]", "sigma[2]"]
