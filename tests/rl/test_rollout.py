"""Vector rollouts drop NEXT_STEP reset steps and keep termination and truncation apart."""

import gymnasium as gym
import numpy as np
import pytest

from pgcli.rl import policies, rollout
from tests.helpers import copy_steps, rollout_batches, train_settings

SETTINGS = train_settings(env={"id": "tests.envs:cartpole", "max_episode_steps": 15}, policy={"hidden": [8]})
ENV, POLICY = SETTINGS.env, SETTINGS.policy


def setup(n_envs, seed=0):
    env = rollout.make_env(ENV, n_envs)
    policy = policies.make_policy(POLICY, env.single_observation_space, env.single_action_space)
    theta = policies.init_params(policy, np.random.default_rng(seed), 0.0)
    return env, policy, theta


def replay(seed, actions_per_copy):
    """Play one copy's recorded actions on a single env seeded like that copy."""
    env = gym.wrappers.TimeLimit(gym.make("CartPole-v1"), 15)
    obs, _ = env.reset(seed=int(seed))
    observations, rewards, returns, lengths = [], [], [], []
    total, length = 0.0, 0
    for action in actions_per_copy:
        observations.append(obs)
        obs, reward, terminated, truncated, _ = env.step(int(action))
        rewards.append(reward)
        total += reward
        length += 1
        if terminated or truncated:
            returns.append(total)
            lengths.append(length)
            total, length = 0.0, 0
            obs, _ = env.reset()
    return np.array(observations), np.array(rewards), returns, lengths


@pytest.mark.parametrize("mode", [{"episodes": 10}, {"steps": 150}])
def test_vector_rollout_equals_single_env_replay(mode):
    n = 4
    env, policy, theta = setup(n)
    seeds = np.random.default_rng(5).integers(0, 2**31 - 1, size=n)  # as fresh_state draws them
    batches = rollout_batches(env, policy, theta, mode)
    all_returns = []
    for i in range(n):
        obs, rewards, actions = (copy_steps(batches, i, field) for field in ("obs", "rewards", "actions"))
        want_obs, want_rewards, want_returns, want_lengths = replay(seeds[i], actions)
        np.testing.assert_allclose(obs, want_obs, rtol=1e-6)
        np.testing.assert_array_equal(rewards, want_rewards)
        all_returns += want_returns
        ends = copy_steps(batches, i, "terminated") | copy_steps(batches, i, "truncated")
        assert ends.sum() == len(want_lengths)
    got = np.concatenate([b.episode_returns for b in batches])
    assert sorted(got) == sorted(all_returns)
    if "episodes" in mode:
        assert len(got) == 10  # quotas 3, 3, 2, 2: every episode complete
        assert all(b.valid[b.cut].size == 0 for b in batches)
    assert any(b.truncated.any() for b in batches) and any(b.terminated.any() for b in batches)
    assert not any((b.truncated & b.terminated).any() for b in batches)


def test_native_cartpole_vector_env_has_no_reset_steps_in_batches():
    env = rollout.make_env(ENV._replace(id="CartPole-v1", max_episode_steps=40), 8)
    assert type(env).__name__ == "CartPoleVectorEnv"
    policy = policies.make_policy(POLICY, env.single_observation_space, env.single_action_space)
    theta = policies.init_params(policy, np.random.default_rng(0), 0.0)
    rng = np.random.default_rng(1)
    state = rollout.fresh_state(env, rng)
    batch, state = rollout.collect(env, policy, theta, rng, steps=400, state=state)
    flat_rewards = rollout.flatten(batch, batch.rewards)
    assert np.all(flat_rewards == 1.0)  # reset steps (reward 0) never enter the batch
    obs = rollout.flatten(batch, batch.obs)
    nxt = rollout.flatten(batch, batch.next_obs)
    ends = rollout.flatten(batch, batch.ends)
    np.testing.assert_array_equal(obs[1:][~ends[:-1]], nxt[:-1][~ends[:-1]])  # trajectories chain
    starts = rollout.segment_starts(batch)
    lengths = np.diff(np.append(starts, obs.shape[0]))
    assert lengths.max() <= 40
    assert np.abs(obs[starts[1:]][~rollout.flatten(batch, batch.cut)[starts[1:] - 1]]).max() <= 0.05


def test_module_env_class_errors():
    with pytest.raises(rollout.EnvError, match="'no_such_module' was not found in a trusted directory"):
        rollout.make_env(ENV._replace(id="no_such_module:thing"), 1)
    with pytest.raises(rollout.EnvError, match=r"is nothing, not a gymnasium\.Env subclass"):
        rollout.make_env(ENV._replace(id="tests.envs:missing"), 1)
    with pytest.raises(rollout.EnvError, match="did you mean 'CartPole-v1'"):
        rollout.make_env(ENV._replace(id="CartPole-v2x"), 1)


def test_min_steps_batches_hold_whole_episodes_and_enough_steps():
    env, policy, theta = setup(4)
    rng = np.random.default_rng(3)
    for _ in range(5):
        batch, _ = rollout.collect(env, policy, theta, rng, min_steps=50, state=rollout.fresh_state(env, rng))
        assert batch.n_steps >= 50
        assert not batch.cut.any()
        ends = rollout.flatten(batch, batch.terminated | batch.truncated)
        assert ends[-1] and ends.sum() == batch.episode_returns.size  # every episode finished
        assert batch.episode_lengths.sum() == batch.n_steps


def test_same_step_autoreset_is_rejected():
    spec = ENV._replace(
        id="Acrobot-v1", kwargs={"vector_kwargs": {"autoreset_mode": "SameStep"}}, max_episode_steps=None
    )
    with pytest.raises(rollout.EnvError, match="NEXT_STEP"):
        rollout.make_env(spec, 2)
