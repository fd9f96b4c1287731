"""Each estimator's claim against the exact gradient: unbiased ones within 4 SE on both
parametrisations (and float32); biased ones pinned to their exact expectation over every G-tuple.

The task is variable-length: R = number of 1s in the content (longer completions earn more), with
V = 2, L = 3, P = 2 (15 completions per prompt), so the length normalisations have something to bias.
"""

import itertools

import numpy as np
import pytest

from pgcli.seq import estimators, evaluate, exact, kl, loss, policy, space
from pgcli.seq.estimators import CLAIMS, ESTIMATORS, Group
from tests.seq_cases import KINDS, count_ones, reference, small_policy

UNBIASED = [name for name, claim in CLAIMS.items() if claim == "unbiased"]
SCALED = [name for name, claim in CLAIMS.items() if claim == "scale"]
BIASED = [name for name, claim in CLAIMS.items() if claim == "biased"]
G, B = 3, 2


SETUP = evaluate.Setup(G, B, 3000)


def mc_row(kind, dtype, name, setup=SETUP, theta_ref=None, seed=0, **options):
    pol, theta = small_policy(kind, dtype)
    result = evaluate.evaluate(pol, theta, count_ones(pol), [name], setup, seed, theta_ref=theta_ref,
                               options={name: options})  # fmt: skip
    return result.rows[0], result


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", UNBIASED)
def test_unbiased_estimators_match_the_exact_gradient_within_4_se(name, kind, dtype):
    row, result = mc_row(kind, dtype, name)
    assert row["max_abs_z"] <= 4, row
    assert row["bias_kind"] == "none"
    assert row["expected_kind"] == "none"  # and exactly so, over every G-tuple
    assert len(result.coordinates) == len(small_policy(kind)[1])  # one row per coordinate of θ


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", UNBIASED)
def test_the_exact_expectation_of_an_unbiased_estimator_is_the_exact_gradient(name, kind):
    pol, theta = small_policy(kind)
    reward = count_ones(pol)
    expected = exact.expected_estimate(pol, theta, reward, name, G)
    np.testing.assert_allclose(expected, exact.exact(pol, theta, reward).grad, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", SCALED)
def test_scale_biased_estimators_point_the_right_way(name, kind):
    """E[ĝ] = factor · ∇J exactly (reinforce_mean: 1 − 1/(BG) with B = 1 in the tuple sum; dr_grpo:
    (G − 1)/(GL)); the Monte Carlo mean agrees with factor · ∇J within 4 SE for B = 2 groups."""
    pol, theta = small_policy(kind)
    reward = count_ones(pol)
    grad = exact.exact(pol, theta, reward).grad
    expected = exact.expected_estimate(pol, theta, reward, name, G)
    np.testing.assert_allclose(expected, estimators.scale_factor(name, G, 1, pol.max_len) * grad, atol=1e-12)
    row, result = mc_row(kind, "float64", name)
    factor = estimators.scale_factor(name, G, B, pol.max_len)
    z = [(c["mean"] - factor * c["exact"]) / c["std_error"] for c in result.coordinates if c["std_error"] > 0]
    assert np.max(np.abs(z)) <= 4
    assert row["bias_kind"] == "scale" and row["cosine"] > 0.99
    assert row["scale"] == pytest.approx(factor, rel=0.05)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "name, options",
    [*((name, {}) for name in BIASED), ("grpo", {"scale": False}), ("dr_grpo", {"scale": True})],
    ids=[*BIASED, "grpo-length-normalisation-alone", "dr_grpo-std-alone"],
)
def test_biased_estimators_match_their_exact_expectation_not_the_gradient(name, options, kind):
    row, _ = mc_row(kind, "float64", name, **options)
    assert row["expected_z"] <= 4, row  # the measured mean is the exact expectation over G-tuples
    assert row["expected_kind"] == "direction"  # which is not a multiple of ∇J
    assert row["bias_kind"] == "direction"  # and the Monte Carlo sees it
    assert row["expected_cosine"] < 0.999


def normalised(r):
    return (r - r.mean()) / (r.std(ddof=1) + 1e-4)


BY_HAND = {  # (advantages, aggregation weights) of one group, written out from the papers' formulas
    "grpo": ({}, lambda r, n, L: (normalised(r), 1 / (len(r) * n))),
    "grpo, no std (length normalisation alone)": ({"scale": False}, lambda r, n, L: (r - r.mean(), 1 / (len(r) * n))),
    "dr_grpo, with std (std alone)": (
        {"scale": True},
        lambda r, n, L: (normalised(r), np.full(len(r), 1 / (len(r) * L))),
    ),
    "dapo": ({}, lambda r, n, L: (normalised(r), np.full(len(r), 1 / n.sum()))),
    "dr_grpo": ({}, lambda r, n, L: (r - r.mean(), np.full(len(r), 1 / (len(r) * L)))),
}


@pytest.mark.parametrize("case", BY_HAND)
def test_exact_expectation_over_g_tuples_agrees_with_a_plain_loop(case):
    """E[ĝ] by a Python loop over all 7² pairs of completions, with per-sequence scores and the
    estimator written out by hand, against exact.expected_estimate (V = 2, L = 2, one prompt): each
    source of bias on its own — the std, the 1/|y_i|, the group's token count — bends the direction."""
    name, options, by_hand = case.split(",")[0], *BY_HAND[case]
    pol, theta = small_policy("mlp", n_prompts=1, max_len=2)
    reward = count_ones(pol)
    seqs, probs = exact.distribution(pol, theta)
    fwd = policy.forward(pol, theta, seqs)
    scores = policy.score_sum(pol, theta, seqs, fwd, space.mask(seqs) * 1.0, group_size=1)
    r = reward(seqs.prompts, seqs.tokens, space.content_lengths(seqs, pol.vocab))
    expected = np.zeros(theta.size)
    for i, j in itertools.product(range(probs.size), repeat=2):
        advantages, scales = by_hand(r[[i, j]], seqs.n_tokens[[i, j]], pol.max_len)
        expected += probs[i] * probs[j] * (scales * advantages) @ scores[[i, j]]
    np.testing.assert_allclose(exact.expected_estimate(pol, theta, reward, name, 2, **options), expected, atol=1e-13)
    grad = exact.exact(pol, theta, reward).grad
    cosine = expected @ grad / np.linalg.norm(expected) / np.linalg.norm(grad)
    assert (cosine > 1 - 1e-12) == (case == "dr_grpo")  # only dr_grpo points exactly along ∇J


def test_remax_uses_the_greedy_reward_as_baseline():
    group = Group(np.array([[1.0, 3.0]]), np.array([[2, 3]]), 3, np.array([2.0]))
    result = ESTIMATORS["remax"](group)
    np.testing.assert_allclose(result.advantages, [[-1.0, 1.0]])
    np.testing.assert_allclose(result.scales, [[0.5, 0.5]])


def test_advantages_and_aggregations_by_hand():
    rewards = np.array([[1.0, 2.0, 6.0]])
    group = Group(rewards, np.array([[1, 2, 3]]), 4)
    loo = ESTIMATORS["rloo"](group).advantages
    np.testing.assert_allclose(loo, [[1 - 4, 2 - 3.5, 6 - 1.5]])
    grpo = ESTIMATORS["grpo"](group)
    std = np.std([1, 2, 6], ddof=1)
    np.testing.assert_allclose(grpo.advantages, (rewards - 3) / (std + 1e-4))
    np.testing.assert_allclose(grpo.scales, [[1 / 3, 1 / 6, 1 / 9]])
    np.testing.assert_allclose(ESTIMATORS["dr_grpo"](group).scales, 1 / 12)
    np.testing.assert_allclose(ESTIMATORS["dapo"](group).scales, 1 / 6)
    batch = Group(np.array([[1.0, 3.0], [5.0, 7.0]]), np.ones((2, 2), int), 4)
    np.testing.assert_allclose(ESTIMATORS["reinforce_mean"](batch).advantages, [[-3, -1], [1, 3]])
    equal = Group(np.ones((1, 3)), np.ones((1, 3), int), 4)
    assert np.all(ESTIMATORS["grpo"](equal).advantages == 0)  # no signal, no division by zero


def test_token_weights_put_the_advantage_on_generated_tokens_only():
    group = Group(np.array([[1.0, 0.0]]), np.array([[1, 3]]), 3)
    mask = np.arange(3) < group.n_tokens[..., None]
    weights, scales = loss.policy_weights("reinforce", group, mask, kl.NO_PENALTY)
    np.testing.assert_allclose(weights, [[[0.5, 0, 0], [0, 0, 0]]])
    np.testing.assert_allclose(scales, 0.5)


def test_ppo_clip_keeps_the_ratio_inside_the_trust_region():
    weights = np.array([1.0, 1.0, -1.0, -1.0, 0.0])
    ratio = np.array([1.1, 1.3, 0.9, 0.7, 2.0])
    clipped, fraction = loss.clip_weights(weights, ratio, 0.2)
    np.testing.assert_allclose(clipped, [1.1, 0.0, -0.9, 0.0, 0.0])
    assert fraction == 0.5
    higher, fraction = loss.clip_weights(weights, ratio, 0.2, clip_high=0.28)  # DAPO's clip-higher
    np.testing.assert_allclose(higher, [1.1, 0.0, -0.9, 0.0, 0.0])
    higher, _ = loss.clip_weights(weights, np.array([1.25, 1.3, 0.9, 0.78, 2.0]), 0.2, clip_high=0.28)
    np.testing.assert_allclose(higher, [1.25, 0.0, -0.9, 0.0, 0.0])


@pytest.mark.parametrize("name", ["rloo", "grpo"])
def test_groups_too_small_for_a_baseline_are_refused(name):
    assert "needs a group of G ≥ 2" in estimators.group_problem(name, 1)
    assert estimators.group_problem("reinforce", 1) is None
    assert "estimator must be one of" in estimators.group_problem("ppo", 4)


def test_estimators_with_a_kl_penalty_in_the_reward_target_the_penalised_gradient():
    _, theta = small_policy("mlp")
    theta_ref = reference(theta)
    penalty = kl.Penalty(0.5, "k1", "reward")
    row, _ = mc_row("mlp", "float64", "rloo", evaluate.Setup(G, B, 3000, penalty), theta_ref=theta_ref)
    assert row["max_abs_z"] <= 4 and row["expected_kind"] == "none", row
