"""The sequence policies: ∇log π against finite differences, sampling against exact probabilities."""

import numpy as np
import pytest

from pgcli.seq import exact, policy, space
from tests.seq_cases import KINDS, small_policy


def sampled(pol, theta, n=6, seed=3):
    prompts = np.arange(n) % pol.n_prompts
    return policy.sample(pol, theta, prompts, np.random.default_rng(seed))


@pytest.mark.parametrize("kind", KINDS)
def test_score_sum_matches_finite_differences_of_weighted_log_probs(kind):
    pol, theta = small_policy(kind, max_len=4, vocab=3)
    seqs, fwd = sampled(pol, theta)
    weights = np.random.default_rng(4).standard_normal(seqs.tokens.shape) * space.mask(seqs)

    def objective(t):
        return (policy.token_log_probs(policy.forward(pol, t, seqs), seqs) * weights).sum()

    h = 1e-6
    numeric = np.array([(objective(theta + h * e) - objective(theta - h * e)) / (2 * h) for e in np.eye(theta.size)])
    analytic = policy.score_sum(pol, theta, seqs, fwd, weights)
    np.testing.assert_allclose(analytic, numeric, atol=1e-7)


@pytest.mark.parametrize("kind", KINDS)
def test_per_sequence_scores_are_gradients_of_log_pi_of_each_sequence(kind):
    pol, theta = small_policy(kind)
    seqs, fwd = sampled(pol, theta, n=4)
    scores = policy.score_sum(pol, theta, seqs, fwd, space.mask(seqs) * 1.0, group_size=1)
    h = 1e-6
    for n in range(4):
        one = space.take(seqs, [n])

        def log_pi(t, one=one):
            return policy.log_prob(policy.forward(pol, t, one), one)[0]

        numeric = [(log_pi(theta + h * e) - log_pi(theta - h * e)) / (2 * h) for e in np.eye(theta.size)]
        np.testing.assert_allclose(scores[n], numeric, atol=1e-7)


@pytest.mark.parametrize("kind", KINDS)
def test_group_terms_add_up_to_the_total(kind):
    pol, theta = small_policy(kind)
    seqs, fwd = sampled(pol, theta, n=12)
    weights = np.random.default_rng(5).standard_normal(seqs.tokens.shape) * space.mask(seqs)
    terms = policy.score_sum(pol, theta, seqs, fwd, weights, group_size=3)
    assert terms.shape == (4, policy.n_params(pol))
    np.testing.assert_allclose(terms.sum(0), policy.score_sum(pol, theta, seqs, fwd, weights), atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_sampling_keeps_the_forward_pass_of_the_sequences_it_drew(kind):
    pol, theta = small_policy(kind, max_len=5, vocab=3)
    seqs, fwd = sampled(pol, theta, n=40)
    again = policy.forward(pol, theta, seqs)
    generated = space.mask(seqs)[..., None]
    np.testing.assert_allclose(np.where(generated, fwd.log_pi, 0), np.where(generated, again.log_pi, 0), atol=1e-12)
    np.testing.assert_array_equal(fwd.index, again.index)


@pytest.mark.parametrize("kind", KINDS)
def test_sample_frequencies_match_the_exact_probabilities(kind):
    pol, theta = small_policy(kind, n_prompts=1, max_len=2)
    all_pairs, probs = exact.distribution(pol, theta)
    n = 40_000
    seqs, _ = policy.sample(pol, theta, np.zeros(n, dtype=int), np.random.default_rng(11))
    # each sampled completion's row in the enumeration: match on tokens
    codes = (seqs.tokens * (pol.vocab + 1) ** np.arange(pol.max_len)).sum(1)
    table = (all_pairs.tokens * (pol.vocab + 1) ** np.arange(pol.max_len)).sum(1)
    counts = np.array([(codes == code).sum() for code in table])
    assert counts.sum() == n
    std_error = np.sqrt(n * probs * (1 - probs))
    assert np.all(np.abs(counts - n * probs) <= 4 * std_error), (counts, n * probs)


def test_sequences_end_at_eos_or_at_the_maximum_length():
    pol, theta = small_policy("tabular", max_len=4, vocab=2, spread=1.5)
    seqs, _ = sampled(pol, theta, n=200)
    eos = pol.vocab
    last = seqs.tokens[np.arange(200), seqs.n_tokens - 1]
    truncated = seqs.n_tokens == pol.max_len
    assert np.all((last == eos) | truncated)
    assert np.all(seqs.tokens[~space.mask(seqs)] == eos)  # EOS-padded
    lengths = space.content_lengths(seqs, pol.vocab)
    assert np.all(lengths == np.where(last == eos, seqs.n_tokens - 1, seqs.n_tokens))
    assert np.all((seqs.tokens < eos).sum(1) == lengths)
    assert 0 < truncated.mean() < 1 and (lengths == 0).any()  # lengths vary, both endings occur


@pytest.mark.parametrize("kind", KINDS)
def test_greedy_takes_the_most_likely_token_at_every_step(kind):
    pol, theta = small_policy(kind, max_len=5, vocab=3, spread=1.0)
    seqs, _ = policy.greedy(pol, theta, np.arange(pol.n_prompts))
    log_pi = policy.forward(pol, theta, seqs).log_pi
    for n in range(pol.n_prompts):
        for t in range(seqs.n_tokens[n]):
            assert seqs.tokens[n, t] == log_pi[n, t].argmax()


@pytest.mark.parametrize("kind", KINDS)
def test_float32_stays_float32_and_agrees_with_float64(kind):
    pol64, theta64 = small_policy(kind)
    pol32, theta32 = pol64._replace(dtype="float32"), theta64.astype(np.float32)
    seqs, fwd32 = sampled(pol32, theta32, n=12)
    assert fwd32.log_pi.dtype == np.float32
    assert kind == "tabular" or fwd32.hidden.dtype == np.float32
    weights = space.mask(seqs) * np.float32(0.7)
    grad32 = policy.score_sum(pol32, theta32, seqs, fwd32, weights, group_size=3)
    assert grad32.dtype == np.float32
    grad64 = policy.score_sum(pol64, theta64, seqs, policy.forward(pol64, theta64, seqs), weights, group_size=3)
    np.testing.assert_allclose(grad32, grad64, rtol=1e-4, atol=1e-5)
    assert policy.init_params(pol32, np.random.default_rng(0)).dtype == np.float32


def test_sizes_and_labels():
    tab = policy.make_policy("tabular", 2, 3, 4)
    assert policy.n_params(tab) == 2 * 4 * 4 * 4
    assert policy.param_label(tab, 0) == "z[c=0,t=0,prev=0][0]"
    assert policy.param_label(tab, policy.n_params(tab) - 1) == "z[c=1,t=3,prev=BOS][EOS]"
    net = policy.make_policy("mlp", 2, 3, 4, context=2, hidden=5)
    f = 2 + 4 + 2 * 4
    assert policy.n_features(net) == f and policy.n_params(net) == (f + 1) * 5 + 6 * 4
    assert policy.param_label(net, 0) == "W1[0,0]"
    assert policy.param_label(net, f * 5) == "b1[0]"
    assert policy.param_label(net, policy.n_params(net) - 1) == "b2[3]"


@pytest.mark.parametrize(
    "args, fragment",
    [
        (("rnn", 2, 2, 2), "kind must be one of tabular, mlp"),
        (("mlp", 0, 2, 2), "n_prompts must be an integer ≥ 1"),
        (("tabular", 2, 2, 2.5), "max_len must be an integer ≥ 1"),
    ],
)
def test_bad_sizes_are_one_line_errors(args, fragment):
    with pytest.raises(ValueError, match=fragment) as info:
        policy.make_policy(*args)
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="dtype must be one of"):
        policy.make_policy("mlp", 2, 2, 2, dtype="float16")


@pytest.mark.parametrize("kind", KINDS)
def test_zero_weights_give_a_zero_gradient(kind):
    pol, theta = small_policy(kind)
    seqs, fwd = sampled(pol, theta, n=6)
    zeros = np.zeros(seqs.tokens.shape)
    assert np.all(policy.score_sum(pol, theta, seqs, fwd, zeros) == 0)
    assert policy.score_sum(pol, theta, seqs, fwd, zeros, group_size=2).shape == (3, policy.n_params(pol))
    with pytest.raises(ValueError, match="6 sequences do not split into groups of 4"):
        policy.score_sum(pol, theta, seqs, fwd, zeros, group_size=4)
