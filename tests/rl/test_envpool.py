"""The EnvPool backend keeps gymnasium's conventions: NEXT_STEP reset steps never enter batches,
termination and truncation stay apart, episodes replay on a single env, scores agree."""

import numpy as np
import pandas as pd
import pytest
import yaml

from pgcli.rl import policies, rollout
from tests.helpers import assert_bad_input, copy_steps, invoke, rollout_batches, train_settings

envpool = pytest.importorskip("envpool")
pytestmark = pytest.mark.filterwarnings("ignore:.*precision lowered by casting:UserWarning")  # EnvPool's Box bounds

SETTINGS = train_settings(
    env={"id": "CartPole-v1", "max_episode_steps": 15, "backend": "envpool"}, policy={"hidden": [8]}
)
ENV, POLICY = SETTINGS.env, SETTINGS.policy


def setup(env_spec, n_envs, seed=0):
    env = rollout.make_env(env_spec, n_envs)
    policy = policies.make_policy(POLICY, env.single_observation_space, env.single_action_space)
    return env, policy, policies.init_params(policy, np.random.default_rng(seed), 0.0)


def replay(seed, actions, limit=15):
    """One copy's actions on a one-env pool seeded like that copy (EnvPool: copy i gets s + i)."""
    env = envpool.make("CartPole-v1", env_type="gymnasium", num_envs=1, seed=int(seed), max_episode_steps=limit)
    obs, _ = env.reset()
    observations, next_observations, rewards, ends, returns = [], [], [], [], []
    total = 0.0
    for action in actions:
        observations.append(obs[0])
        obs, reward, terminated, truncated, _ = env.step(np.array([action]))
        next_observations.append(obs[0])  # at an end: the episode's true final observation
        rewards.append(reward[0])
        total += reward[0]
        ends.append((bool(terminated[0]), bool(truncated[0])))
        if terminated[0] or truncated[0]:
            returns.append(total)
            total = 0.0
            obs, _, _, _, _ = env.step(np.array([0]))  # the NEXT_STEP reset step
    return np.array(observations), np.array(next_observations), np.array(rewards), ends, returns


@pytest.mark.parametrize("mode", [{"episodes": 10}, {"steps": 150}])
def test_envpool_rollout_equals_single_env_replay(mode):
    n = 4
    env, policy, theta = setup(ENV, n)
    seeds = np.random.default_rng(5).integers(0, 2**31 - 1, size=n)
    base = int(seeds[0]) % (2**31 - 1 - n)
    batches = rollout_batches(env, policy, theta, mode)
    all_returns = []
    for i in range(n):
        obs, rewards, actions, terminated, truncated, next_obs = (
            copy_steps(batches, i, field)
            for field in ("obs", "rewards", "actions", "terminated", "truncated", "next_obs")
        )
        want_obs, want_next, want_rewards, want_ends, want_returns = replay(base + i, actions)
        np.testing.assert_allclose(obs, want_obs, rtol=1e-6)
        np.testing.assert_allclose(next_obs, want_next, rtol=1e-6)  # what bootstrapping sees
        np.testing.assert_array_equal(rewards, want_rewards)
        assert list(zip(terminated.tolist(), truncated.tolist(), strict=True)) == want_ends
        all_returns += want_returns
    got = np.concatenate([b.episode_returns for b in batches])
    assert sorted(got) == sorted(all_returns)
    if "episodes" in mode:
        assert len(got) == 10
    assert any(b.truncated.any() for b in batches) and any(b.terminated.any() for b in batches)
    assert not any((b.truncated & b.terminated).any() for b in batches)


def test_envpool_batches_chain_and_hold_no_reset_steps():
    env, policy, theta = setup(ENV._replace(max_episode_steps=12), 8)
    rng = np.random.default_rng(1)
    batch, _ = rollout.collect(env, policy, theta, rng, steps=400, state=rollout.fresh_state(env, rng))
    assert np.all(rollout.flatten(batch, batch.rewards) == 1.0)  # reset steps (reward 0) never enter
    obs, nxt = rollout.flatten(batch, batch.obs), rollout.flatten(batch, batch.next_obs)
    ends = rollout.flatten(batch, batch.ends)
    np.testing.assert_array_equal(obs[1:][~ends[:-1]], nxt[:-1][~ends[:-1]])  # trajectories chain
    lengths = np.diff(np.append(rollout.segment_starts(batch), obs.shape[0]))
    assert lengths.max() <= 12 and batch.truncated.any()
    assert np.all(
        lengths[rollout.flatten(batch, batch.truncated)[np.append(rollout.segment_starts(batch)[1:], obs.shape[0]) - 1]]
        == 12
    )


def test_a_policy_scores_the_same_on_both_backends(tmp_path):
    """A CartPole policy trained on gymnasium, evaluated stochastically on 300 episodes per
    backend: the mean returns agree within 4 standard errors of their difference."""
    result = invoke("train", "pgcli/library/cartpole.yaml", "--set", "sweep.seeds=1", "--set", "stop.iterations=5",
                    "-q", "--results", tmp_path)  # fmt: skip
    assert result.exit_code == 0, result.output
    (policy_file,) = list((tmp_path / "cartpole").glob("*/policy.npz"))
    theta = np.load(policy_file)["theta"]
    scores = {}
    for name in ("gymnasium", "envpool"):
        env = rollout.make_env(ENV._replace(max_episode_steps=None, backend=name), 16)
        policy = policies.make_policy(
            POLICY._replace(hidden=[32]), env.single_observation_space, env.single_action_space
        )
        assert policy.n_net == theta.size
        rng = np.random.default_rng(3)
        scores[name] = rollout.evaluate(env, policy, theta, rng, np.random.default_rng(4), 300, deterministic=False)
    a, b = scores["gymnasium"], scores["envpool"]
    se = np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    assert a.size == b.size == 300 and 30 < a.mean() < 450  # a partly trained policy: returns vary
    assert abs(a.mean() - b.mean()) <= 4 * se, (a.mean(), b.mean(), se)


def test_train_records_the_backend_in_config_and_metrics(tmp_path):
    args = ["--set", "env.id=Pendulum-v1", "--set", "batch.steps=400", "--set", "env.num_envs=4",
            "--set", "stop.iterations=2", "--set", "eval.every=0", "-q"]  # fmt: skip
    for backend, want in [("envpool", "envpool"), ("auto", "envpool"), ("gymnasium", "gymnasium")]:
        out = tmp_path / backend
        result = invoke("train", *args, "--set", f"env.backend={backend}", "--results", out)
        assert result.exit_code == 0, result.output
        (run_dir,) = [p for p in (out / "train-pendulum-v1-reinforce").iterdir() if p.is_dir()]
        table = pd.read_csv(run_dir / "metrics.csv")
        assert (table["backend"] == want).all() and table["env_steps"].tolist() == [400, 800]
        assert yaml.safe_load((run_dir / "config.yaml").read_text())["spec"]["env"]["backend"] == backend
    assert rollout.backend(ENV._replace(backend="auto")) == "gymnasium"  # its native NumPy env


@pytest.mark.slow
def test_envpool_bad_input(tmp_path):
    results = tmp_path / "results"
    assert_bad_input(
        invoke("train", "--set", "env.backend=envpool", "--set", "env.id=tests.envs:tabular", "--results", results),
        "EnvPool has no env",
        nothing_in=results,
    )
    assert_bad_input(invoke("train", "--set", "env.backend=gpu"), "env.backend", "allowed: auto, gymnasium, envpool")
