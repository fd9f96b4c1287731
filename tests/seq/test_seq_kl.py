"""The KL penalty: which estimators are unbiased for KL's value, and which placement gives ∇KL.

Exact expectations come from enumerating every completion (one completion per group: REINFORCE
with reward 0 and β = 1 estimates −∇KL); Monte Carlo rows from evaluate.evaluate_kl.
"""

import numpy as np
import pytest

from pgcli.seq import evaluate, exact, kl, policy
from tests.seq_cases import KINDS, count_ones, reference, small_policy


def zero(prompts, tokens, lengths):
    return np.zeros(tokens.shape[0])


def kl_gradient_expectation(pol, theta, theta_ref, k, placement):
    """E[estimate of ∇KL] of one placement, exactly."""
    penalty = kl.Penalty(1.0, k, placement)
    return -exact.expected_estimate(pol, theta, zero, "reinforce", 1, penalty, theta_ref)


def test_k_estimators_and_their_slopes():
    ell = np.linspace(-3, 3, 61)
    for name, estimator in kl.KL_ESTIMATORS.items():
        h = 1e-6
        numeric = (estimator.value(ell + h) - estimator.value(ell - h)) / (2 * h)
        np.testing.assert_allclose(estimator.slope(ell), numeric, atol=1e-8, err_msg=name)
    assert np.all(kl.KL_ESTIMATORS["k2"].value(ell) >= 0) and np.all(kl.KL_ESTIMATORS["k3"].value(ell) >= 0)
    np.testing.assert_allclose(kl.to_go(np.array([[1.0, 2.0, 3.0]])), [[6.0, 5.0, 3.0]])


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_k1_and_k3_are_unbiased_for_the_kl_value_and_k2_is_not(kind):
    pol, theta = small_policy(kind)
    theta_ref = reference(theta, spread=1.0)
    true = exact.exact(pol, theta, zero, theta_ref).kl
    expected = exact.expected_kl_estimates(pol, theta, theta_ref)
    assert expected["k1"] == pytest.approx(true, rel=1e-12)
    assert expected["k3"] == pytest.approx(true, rel=1e-12)
    assert abs(expected["k2"] - true) > 1e-3
    values = {row["kl_estimator"]: row for row in evaluate.evaluate_kl(pol, theta, theta_ref, SETUP, 0).kl_values}
    for k in ("k1", "k3"):
        assert abs(values[k]["z"]) <= 4 and values[k]["bias_kind"] == "none", values[k]
    assert abs(values["k2"]["expected_z"]) <= 4  # the measured mean is k2's exact expectation
    assert values["k2"]["bias_kind"] == "biased"


SETUP = evaluate.Setup(group_size=2, n_groups=2, reps=4000)


@pytest.mark.parametrize("kind", KINDS)
def test_only_k1_in_the_reward_gives_the_kl_gradient(kind):
    """k1 as a reward (sequence penalty or reward-to-go) gives ∇KL exactly; k2 and k3 in the reward
    do not; as a loss k1 gives nothing on average and k2, k3 a different vector."""
    pol, theta = small_policy(kind)
    theta_ref = reference(theta)
    true = exact.exact(pol, theta, zero, theta_ref).kl_grad
    for k in kl.KL_ESTIMATORS:
        for placement in kl.PLACEMENTS:
            got = kl_gradient_expectation(pol, theta, theta_ref, k, placement)
            if (k, placement) in kl.EXACT_GRADIENT:
                np.testing.assert_allclose(got, true, atol=1e-13, err_msg=f"{k} {placement}")
            elif (k, placement) == ("k1", "loss"):
                np.testing.assert_allclose(got, 0.0, atol=1e-13)
            else:
                assert np.abs(got - true).max() > 1e-3, (k, placement)


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_kl_gradient_rows_measure_what_each_placement_gives(kind):
    pol, theta = small_policy(kind)
    theta_ref = reference(theta)
    rows = evaluate.evaluate_kl(pol, theta, theta_ref, SETUP, 0).rows
    assert len(rows) == 9
    for row in rows:
        assert row["expected_z"] <= 4, row  # Monte Carlo mean = exact expectation, for every placement
        exact_one = (row["kl_estimator"], row["kl_placement"]) in kl.EXACT_GRADIENT
        assert (row["bias_kind"] == "none") == exact_one, row
        assert (row["claim"] == "unbiased") == exact_one
    by = {(row["kl_estimator"], row["kl_placement"]): row for row in rows}
    assert by["k1", "loss"]["bias_kind"] == "zero" and by["k1", "loss"]["expected_kind"] == "zero"


def test_for_one_step_k2_as_a_loss_is_exact_and_k3_is_the_reverse_kl_gradient():
    """With L = 1 (one decision: EOS or one token), ∇k2 = ℓ ∇log π averages to ∇KL(π ‖ π_ref), and
    ∇k3 = (1 − π_ref/π) ∇log π to ∇KL(π_ref ‖ π) (finite differences of the enumerated reverse KL)."""
    pol, theta = small_policy("tabular", vocab=3, max_len=1)
    theta_ref = reference(theta)
    forward_kl = exact.exact(pol, theta, zero, theta_ref).kl_grad
    np.testing.assert_allclose(kl_gradient_expectation(pol, theta, theta_ref, "k2", "loss"), forward_kl, atol=1e-13)

    def reverse_kl(t):
        _, p = exact.distribution(pol, t)
        _, p_ref = exact.distribution(pol, theta_ref)
        return p_ref @ np.log(p_ref / p) / pol.n_prompts

    h = 1e-6
    numeric = [(reverse_kl(theta + h * e) - reverse_kl(theta - h * e)) / (2 * h) for e in np.eye(theta.size)]
    np.testing.assert_allclose(kl_gradient_expectation(pol, theta, theta_ref, "k3", "loss"), numeric, atol=1e-8)
    # and with L = 3 the k2 loss is only the partial gradient
    pol3, theta3 = small_policy("tabular")
    ref3 = reference(theta3)
    partial = kl_gradient_expectation(pol3, theta3, ref3, "k2", "loss")
    assert np.abs(partial - exact.exact(pol3, theta3, zero, ref3).kl_grad).max() > 1e-3


def test_the_penalised_objective_gradient_with_k1_in_the_reward_is_exact():
    """rloo with R − β K1: E[ĝ] = ∇E[R] − β ∇KL exactly; with k3 as a loss (GRPO's choice) it is not."""
    pol, theta = small_policy("mlp")
    theta_ref = reference(theta)
    reward = count_ones(pol)
    values = exact.exact(pol, theta, reward, theta_ref)
    target = values.grad - 0.5 * values.kl_grad
    right = exact.expected_estimate(pol, theta, reward, "rloo", 3, kl.Penalty(0.5, "k1", "reward"), theta_ref)
    np.testing.assert_allclose(right, target, atol=1e-13)
    grpo_style = exact.expected_estimate(pol, theta, reward, "rloo", 3, kl.Penalty(0.5, "k3", "loss"), theta_ref)
    assert np.abs(grpo_style - target).max() > 1e-3


def test_bad_penalties_are_named():
    assert "kl estimator must be one of k1, k2, k3" in kl.penalty_problem(kl.Penalty(1.0, "k4"))
    assert "kl placement must be one of reward" in kl.penalty_problem(kl.Penalty(1.0, "k1", "advantage"))
    assert "beta must be ≥ 0" in kl.penalty_problem(kl.Penalty(-1.0))
    assert kl.penalty_problem(kl.Penalty(0.1, "k3", "loss")) is None
    assert policy.n_params(small_policy("tabular")[0]) > 0
