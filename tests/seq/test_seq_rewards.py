"""Rewards of (prompt, completion) pairs: the built-ins on hand-written sequences, a user's callable."""

import numpy as np
import pytest

from pgcli.seq import rewards
from pgcli.seq.space import Sequences, content_lengths

V, L = 3, 4  # tokens 0, 1, 2; EOS = 3
E = V


def pairs(*rows):
    """(prompts, tokens, lengths) from (prompt, content) rows; the content is EOS-padded to L."""
    prompts = np.array([p for p, _ in rows])
    tokens = np.full((len(rows), L), E)
    for n, (_, content) in enumerate(rows):
        tokens[n, : len(content)] = content
    n_tokens = np.array([min(len(c) + 1, L) for _, c in rows])
    lengths = content_lengths(Sequences(prompts, tokens, n_tokens), V)
    assert lengths.tolist() == [len(c) for _, c in rows]
    return prompts, tokens, lengths


BATCH = pairs((0, []), (0, [1]), (1, [2, 1, 1]), (1, [0, 1, 2, 2]), (0, [2, 0]), (1, [1, 1, 1, 1]))


def built_in(name, penalty=0.0, **params):
    return rewards.make_reward(name, 2, V, L, length_penalty=penalty, **params)(*BATCH)


def test_count_counts_a_token_in_the_content_only():
    assert built_in("count", token=1).tolist() == [0, 1, 2, 1, 0, 4]
    assert built_in("count", token=0).tolist() == [0, 0, 0, 1, 1, 0]


def test_sorted_needs_a_non_decreasing_content_of_some_length():
    assert built_in("sorted").tolist() == [0, 1, 0, 1, 0, 1]
    assert built_in("sorted", min_length=0).tolist() == [1, 1, 0, 1, 0, 1]
    assert built_in("sorted", min_length=4).tolist() == [0, 0, 0, 1, 0, 1]


def test_target_sum_per_prompt():
    assert built_in("target_sum", target=2).tolist() == [0, 0, 0, 0, 1, 0]
    assert built_in("target_sum", target=[1, 4]).tolist() == [0, 1, 1, 0, 0, 1]


def test_pattern_matches_inside_the_content_with_wildcards():
    assert built_in("pattern", pattern=[1, 1]).tolist() == [0, 0, 1, 0, 0, 1]
    assert built_in("pattern", pattern=[2, -1]).tolist() == [0, 0, 1, 1, 1, 0]
    # a wildcard never matches the EOS padding: [1, -1] needs a token after the 1
    assert built_in("pattern", pattern=[1, -1]).tolist() == [0, 0, 1, 1, 0, 1]
    assert built_in("pattern", pattern=[-1, -1, -1, -1]).tolist() == [0, 0, 0, 1, 0, 1]


def test_match_wants_the_prompts_answer_exactly():
    assert built_in("match", targets=[[1], [2, 1, 1]]).tolist() == [0, 1, 1, 0, 0, 0]
    assert built_in("match", targets=[[], [1, 1, 1, 1]]).tolist() == [1, 0, 0, 0, 0, 1]


def test_length_penalty_subtracts_lambda_times_the_content_length():
    plain, penalised = built_in("count", token=1), built_in("count", 0.5, token=1)
    np.testing.assert_allclose(plain - penalised, 0.5 * BATCH[2])


@pytest.mark.parametrize(
    "name, params, fragment",
    [
        ("counts", {}, "unknown reward 'counts' (built-ins: count, match, near_sum, pattern, sorted, target_sum)"),
        ("count", {"token": 3}, "count: token must be an integer in [0, 3)"),
        ("count", {"tokens": 1}, "count: unknown parameter tokens (parameters: token)"),
        ("target_sum", {}, "target_sum: missing parameter target"),
        ("target_sum", {"target": [1, 2, 3]}, "a list of 2 integers (one per prompt)"),
        ("pattern", {"pattern": "1.*"}, "pattern must be a non-empty list of tokens"),
        ("pattern", {"pattern": [0] * 5}, "5 tokens cannot fit in L = 4"),
        ("match", {"targets": [[1]]}, "match: targets must be 2 lists"),
    ],
)
def test_bad_parameters_are_one_line_errors(name, params, fragment):
    with pytest.raises(rewards.RewardError) as info:
        rewards.make_reward(name, 2, V, L, **params)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_a_users_callable_gets_read_only_arrays_and_is_checked():
    seen = {}

    def mine(prompts, tokens, lengths):
        seen["writeable"] = tokens.flags.writeable
        return lengths * 2 + prompts

    reward = rewards.from_callable(mine)
    assert reward(*BATCH).tolist() == [0, 2, 7, 9, 4, 9]
    assert seen["writeable"] is False
    with pytest.raises(rewards.RewardError, match=r"returned shape \(N, 1\), expected \(N,\)"):
        rewards.from_callable(lambda p, t, n: n[:, None] * 1.0, "two_d")(*BATCH)
    with pytest.raises(rewards.RewardError, match="returned dtype <U1, expected real numbers"):
        rewards.from_callable(lambda p, t, n: np.array(["a"] * len(n)))(*BATCH)
    with pytest.raises(rewards.RewardError, match=r"returned 1 non-finite values \(NaN or ±inf\) for 6 sequences"):
        rewards.from_callable(lambda p, t, n: np.where(n == 0, np.inf, 1.0))(*BATCH)
    with pytest.raises(rewards.RewardError, match="must be callable"):
        rewards.from_callable("module:function")


def test_the_registry_lists_the_parameters_each_built_in_takes():
    assert rewards.parameters("count") == {"token": 0}
    assert rewards.parameters("target_sum") == {"target": rewards.REQUIRED}
    assert rewards.parameters("near_sum") == {"target": rewards.REQUIRED, "scale": 1.0}
    assert set(rewards.REWARDS) == {"count", "sorted", "target_sum", "near_sum", "pattern", "match"}
