"""Exact answers by enumeration: the space, E[R], ∇E[R], KL and ∇KL against finite differences."""

import numpy as np
import pytest

from pgcli.seq import exact, policy, rewards, space
from tests.seq_cases import KINDS, count_ones, reference, small_policy


def test_the_space_holds_every_completion_once():
    vocab, max_len = 3, 3
    tokens, n_tokens = space.enumerate_completions(vocab, max_len)
    assert tokens.shape == (1 + 3 + 9 + 27, max_len) == (space.space_size(vocab, max_len), max_len)
    assert len({tuple(row) for row in tokens}) == tokens.shape[0]
    seqs = space.Sequences(np.zeros(tokens.shape[0], dtype=int), tokens, n_tokens)
    lengths = space.content_lengths(seqs, vocab)
    assert np.bincount(lengths).tolist() == [1, 3, 9, 27]
    assert np.all(n_tokens == np.minimum(lengths + 1, max_len))  # EOS counts; the length-L ones have none
    assert np.all(tokens[lengths < max_len, lengths[lengths < max_len]] == vocab)


def test_exact_answers_stop_at_the_limit_with_a_reason():
    assert space.exact_problem(64, 2, 10) is None  # 64 × 2047 pairs
    why = space.exact_problem(64, 16, 12)
    assert "exceed the 1,000,000" in why and "V = 16, L = 12" in why
    big = policy.make_policy("mlp", 64, 16, 12)
    with pytest.raises(exact.NoExact, match="no exact values"):
        exact.exact(big, np.zeros(policy.n_params(big)), count_ones(big))
    assert "no exact expectation over G-tuples" in exact.tuples_problem(policy.make_policy("tabular", 2, 2, 3), 8)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_probabilities_of_every_completion_sum_to_one(kind, dtype):
    pol, theta = small_policy(kind, dtype, vocab=3, max_len=3)
    _, probs = exact.distribution(pol, theta)
    assert probs.dtype == np.float64  # exact sums are float64 whatever the policy's dtype
    np.testing.assert_allclose(probs.reshape(pol.n_prompts, -1).sum(1), 1.0, rtol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_exact_gradient_matches_finite_differences_of_exact_reward(kind):
    pol, theta = small_policy(kind)
    reward = rewards.make_reward("count", 2, 2, 3, token=1, length_penalty=0.3)
    values = exact.exact(pol, theta, reward)
    h = 1e-6
    numeric = [
        (exact.exact(pol, theta + h * e, reward).reward - exact.exact(pol, theta - h * e, reward).reward) / (2 * h)
        for e in np.eye(theta.size)
    ]
    np.testing.assert_allclose(values.grad, numeric, atol=1e-8)
    seqs, probs = exact.distribution(pol, theta)
    r = reward(seqs.prompts, seqs.tokens, space.content_lengths(seqs, pol.vocab))
    assert values.reward == pytest.approx(probs @ r / pol.n_prompts, rel=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_exact_kl_and_its_gradient_match_finite_differences(kind):
    pol, theta = small_policy(kind)
    theta_ref = reference(theta)
    reward = count_ones(pol)
    values = exact.exact(pol, theta, reward, theta_ref)
    h = 1e-6
    numeric = [
        (exact.exact(pol, theta + h * e, reward, theta_ref).kl - exact.exact(pol, theta - h * e, reward, theta_ref).kl)
        / (2 * h)
        for e in np.eye(theta.size)
    ]
    np.testing.assert_allclose(values.kl_grad, numeric, atol=1e-8)
    _, probs = exact.distribution(pol, theta)
    _, probs_ref = exact.distribution(pol, theta_ref)
    assert values.kl == pytest.approx(probs @ np.log(probs / probs_ref) / pol.n_prompts, rel=1e-10)
    assert values.kl > 0
    same = exact.exact(pol, theta, reward, theta)
    assert same.kl == pytest.approx(0.0, abs=1e-15) and np.abs(same.kl_grad).max() < 1e-15


def test_best_reward_is_the_best_completion_per_prompt():
    pol = policy.make_policy("tabular", 2, 2, 3)
    reward = rewards.make_reward("target_sum", 2, 2, 3, target=[1, 3])
    assert exact.best_reward(pol, reward) == 1.0
    counting = rewards.make_reward("count", 2, 2, 3, token=0, length_penalty=0.25)
    assert exact.best_reward(pol, counting) == pytest.approx(3 - 0.75)
