"""Evaluation rows: columns, blanks and notes where nothing is exact, determinism by seed."""

import numpy as np
import pytest

from pgcli.seq import estimators, evaluate, policy, rewards
from tests.seq_cases import count_ones, small_policy

SETUP = evaluate.Setup(group_size=3, n_groups=2, reps=200)


def without_wall_clock(rows):
    return [{k: v for k, v in row.items() if k not in evaluate.WALL_CLOCK} for row in rows]


def test_rows_have_the_declared_columns_and_one_coordinate_row_per_parameter():
    pol, theta = small_policy("tabular")
    names = list(estimators.ESTIMATORS)
    result = evaluate.evaluate(pol, theta, count_ones(pol), names, SETUP, seed=0)
    assert [row["estimator"] for row in result.rows] == names
    assert all(list(row) == evaluate.COLUMNS for row in result.rows)
    assert all(list(row) == evaluate.COORDINATE_COLUMNS for row in result.coordinates)
    assert len(result.coordinates) == len(names) * policy.n_params(pol)
    assert set(evaluate.WALL_CLOCK) <= set(evaluate.COLUMNS)
    assert all(row["efficiency"] > 0 and row["variance"] > 0 for row in result.rows)
    # reinforce_mean with B = 2 groups has no exact expectation (B = 1 in the tuple sum): blank, with a note
    coupled = next(row for row in result.rows if row["estimator"] == "reinforce_mean")
    assert np.isnan(coupled["expected_cosine"]) and coupled["expected_kind"] == ""
    assert any("reinforce_mean: no exact expectation with B = 2" in note for note in result.notes)


def test_same_seed_same_rows_whatever_else_is_evaluated():
    pol, theta = small_policy("mlp")
    reward = count_ones(pol)
    first = evaluate.evaluate(pol, theta, reward, ["rloo", "grpo"], SETUP, seed=7)
    again = evaluate.evaluate(pol, theta, reward, ["grpo"], SETUP, seed=7)  # a stream per estimator
    assert without_wall_clock(first.rows[1:]) == without_wall_clock(again.rows)
    other = evaluate.evaluate(pol, theta, reward, ["grpo"], SETUP, seed=8)
    assert without_wall_clock(other.rows) != without_wall_clock(again.rows)


def test_without_an_exact_answer_the_exact_columns_are_blank_and_a_note_says_why():
    pol = policy.make_policy("mlp", 8, 6, 8, context=2, hidden=8)
    theta = policy.init_params(pol, np.random.default_rng(0))
    reward = rewards.make_reward("count", 8, 6, 8, token=2)
    result = evaluate.evaluate(pol, theta, reward, ["rloo", "dr_grpo"], evaluate.Setup(4, 4, 20), seed=0)
    row = result.rows[0]
    assert np.isnan(row["exact_norm"]) and np.isnan(row["cosine"]) and row["bias_kind"] == ""
    assert np.isfinite(row["variance"]) and row["variance"] > 0
    assert any("no exact values" in note and "exceed" in note for note in result.notes)


def test_a_kl_penalty_needs_a_reference():
    pol, theta = small_policy("tabular")
    setup = SETUP._replace(penalty=evaluate.kl.Penalty(0.1))
    with pytest.raises(ValueError, match="needs a reference policy"):
        evaluate.evaluate(pol, theta, count_ones(pol), ["rloo"], setup, seed=0)


def test_progress_reports_each_estimator():
    pol, theta = small_policy("tabular")
    calls = []
    evaluate.evaluate(pol, theta, count_ones(pol), ["reinforce", "rloo"], SETUP, 0,
                      progress=lambda done, total, **status: calls.append((done, total)))  # fmt: skip
    assert calls == [(0, 2), (1, 2), (2, 2)]


def test_moments_merged_chunk_by_chunk_equal_those_of_all_estimates():
    values = np.random.default_rng(0).standard_normal((101, 5)) * 3 + 10
    found = None
    for chunk in np.array_split(values, [7, 50, 51]):
        found = evaluate.merge(found, evaluate.moments(chunk))
    assert found.count == 101
    np.testing.assert_allclose(found.mean, values.mean(0), rtol=1e-14)
    np.testing.assert_allclose(found.m2 / 100, values.var(0, ddof=1), rtol=1e-12)


def test_bad_setups_are_named_before_anything_runs():
    pol, theta = small_policy("tabular")
    with pytest.raises(ValueError, match=r"rloo needs a group of G ≥ 2 .*; reps must be ≥ 2, got 1"):
        evaluate.evaluate(pol, theta, count_ones(pol), ["rloo"], evaluate.Setup(1, 2, 1), seed=0)
    with pytest.raises(ValueError, match="estimator must be one of"):
        evaluate.evaluate(pol, theta, count_ones(pol), ["ppo"], SETUP, seed=0)
