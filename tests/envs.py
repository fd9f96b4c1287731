"""Small environments with exactly computable policy gradients, for tests (and as examples of
`env.id: package.module:EnvClass`)."""

from __future__ import annotations

import sys

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.envs.classic_control.cartpole import CartPoleEnv


class OneState(gym.Env):
    """CS285-style: action 0 pays 1 and stays, action 1 pays 0 and ends.

    With π(a=0) = θ, J(θ) = Σ_k θ^k = θ / (1 − θ) and dJ/dθ = 1 / (1 − θ)².
    """

    observation_space = spaces.Discrete(1)
    action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return 0, {}

    def step(self, action):
        if int(action) == 0:
            return 0, 1.0, False, False, {}
        return 0, 0.0, True, False, {}


class Tabular(gym.Env):
    """A random episodic MDP: `n_states` transient states, an absorbing exit, start in state 0.

    P[s, a] is a distribution over the transient states and the exit (index n_states); the exit
    has probability ≥ `exit_prob`, so every policy ends episodes with probability one.
    """

    def __init__(self, n_states=3, n_actions=2, exit_prob=0.25, mdp_seed=0):
        rng = np.random.default_rng(mdp_seed)
        stay = rng.dirichlet(np.ones(n_states), size=(n_states, n_actions)) * (1 - exit_prob)
        self.P = np.concatenate([stay, np.full((n_states, n_actions, 1), exit_prob)], axis=2)
        self.R = rng.normal(size=(n_states, n_actions))
        self.observation_space = spaces.Discrete(n_states)
        self.action_space = spaces.Discrete(n_actions)
        self.state = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.state = 0
        return 0, {}

    def step(self, action):
        s, a = self.state, int(action)
        reward = self.R[s, a]
        nxt = self.np_random.choice(self.P.shape[2], p=self.P[s, a])
        if nxt == self.P.shape[0]:
            return s, reward, True, False, {}
        self.state = nxt
        return nxt, reward, False, False, {}


def exact_tabular(env: Tabular, pi: np.ndarray):
    """J = v(0) from the Bellman linear system v = r_π + P_π v, and ∇_logits J by the policy
    gradient theorem: ∂J/∂l_{s,a} = d(s) π(a|s) (Q(s,a) − v(s)), d = expected visits."""
    n = env.P.shape[0]
    p_trans = env.P[:, :, :n]
    r_pi = (pi * env.R).sum(1)
    p_pi = np.einsum("sa,sat->st", pi, p_trans)
    v = np.linalg.solve(np.eye(n) - p_pi, r_pi)
    q = env.R + p_trans @ v
    d = np.linalg.solve(np.eye(n) - p_pi.T, np.eye(n)[0])
    return v[0], d[:, None] * pi * (q - v[:, None])


class CartPole(CartPoleEnv):
    """The single-env CartPole, so a vector of it is a SyncVectorEnv (replayable per copy)."""


def _computing_a_run() -> bool:
    """Whether the caller is under pgcli.shell.executors.compute (a run computing), not the
    validation of a spec (executors.validate_apart), which also constructs the env in a worker."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "compute" and frame.f_globals.get("__name__") == "pgcli.shell.executors":
            return True
        frame = frame.f_back
    return False


class DiesInWorker(CartPoleEnv):
    """CartPole, except in a worker process computing a run, which it kills: a 'worker lost' for
    sweep tests. (Validating the spec, in a worker process too, constructs a plain CartPole.)

    With PGCLI_TESTS_DIE_AFTER naming a sweep's results directory, it dies only once another run
    there is recorded done (for at most two minutes), so that run finished before the crash
    whatever the machine's speed."""

    def __init__(self, **kwargs):
        import multiprocessing
        import os
        import time
        from pathlib import Path

        if multiprocessing.current_process().name != "MainProcess" and _computing_a_run():
            watched = os.environ.get("PGCLI_TESTS_DIE_AFTER")
            deadline = time.monotonic() + 120
            while watched and time.monotonic() < deadline:
                if any(p.read_text().startswith("done") for p in Path(watched).glob("*/status")):
                    break
                time.sleep(0.01)
            os._exit(17)
        super().__init__(**kwargs)


def not_an_env():
    """A factory function: specs name Env classes, so this is refused without being called."""
    raise AssertionError("a spec's env.id must never call what it names")


# the ids tests use (tests.envs:tabular ...) name the classes
one_state, tabular, cartpole, dies_in_worker = OneState, Tabular, CartPole, DiesInWorker


class Huge(gym.Env):
    """One state, two actions, five steps an episode, the same `reward` every step: a reward of
    1e308 makes every return overflow (a non-finite gradient), a large one a collapsing update."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (1,))
    action_space = gym.spaces.Discrete(2)

    def __init__(self, reward=1e308):
        self.reward, self.t = float(reward), 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, dtype=np.float32), {}

    def step(self, action):
        self.t += 1
        return np.zeros(1, dtype=np.float32), self.reward * (1 if action else -1), self.t >= 5, False, {}
