"""Sampling trajectories from a policy on a gymnasium vector environment.

gymnasium 1.x vector envs autoreset in NEXT_STEP mode: the step *after* an episode ends
(terminated or truncated) only resets that copy — its action is ignored, its reward is 0 and
the observation it returns is the new episode's first. That step is not a transition of any
trajectory and never enters a batch (`valid` is False there).

A batch is kept on the (T, N) grid of time × env copy, with `valid` marking real transitions:

    obs, next_obs (T, N, n_in)   actions (T, N[, k])   rewards, terminated, truncated, cut (T, N)

`truncated` is the env's time limit; `cut` marks where a batch ended mid-episode (steps mode),
so bootstrapping can tell the three kinds of ends apart. Flattened, env-major order
(`flatten`) lists each env's transitions in time order, so segments are contiguous.

Batches come in three kinds, one function each, sharing one stepping loop (`_play`):
`episodes: E` (every copy is reset, then copy i plays a fixed quota of whole episodes — no
selection of short episodes, so no length bias), `steps: S` (all copies step S/N times and carry
their episodes over to the next batch) and `min_steps: S` (whole episodes until S transitions).
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import gymnasium as gym
import numpy as np

from pgcli.base import usercode
from pgcli.rl import policies
from pgcli.rl.settings import EnvSettings

MAX_EPISODE_VECTOR_STEPS = 1_000_000
NOISE_BLOCK = 64  # action noise is drawn for this many vector steps at a time


class EnvError(ValueError):
    """The env id cannot be made; the message says why."""


class MissingExtra(EnvError):
    """The env needs an optional extra of pgcli (mujoco, box2d) that is not installed."""

    def __init__(self, env_id: str, extra: str):
        self.extra = extra
        super().__init__(f"{env_id} needs the {extra} extra: pip install 'pgcli[{extra}]'")


def _extra_of(err: Exception) -> str:
    text = str(err).lower()
    return next((name for name in ("mujoco", "box2d") if name in text), "")


def make_env(env: EnvSettings, num_envs: int) -> gym.vector.VectorEnv:
    """A vector env: with the gymnasium backend the native NumPy one when the id has it
    (CartPole), else SyncVectorEnv; with the envpool backend EnvPool's batched C++ envs.

    `env.id` is a registered id, 'package.module:EnvClass' (a gymnasium.Env subclass,
    constructed with env.kwargs), or 'package.module:Id' (the module registers the id).
    """
    env_id, kwargs = env.id, dict(env.kwargs or {})
    limit = env.max_episode_steps
    if backend(env) == "envpool":
        return _next_step(EnvPoolVectorEnv(env_id, num_envs, kwargs, limit))
    if ":" in env_id:
        env_class = load_env_class(env_id)
        if isinstance(env_class, str):  # the module registered a gymnasium id
            return make_env(env._replace(id=env_class), num_envs)

        def make_one():
            env = env_class(**kwargs)
            return gym.wrappers.TimeLimit(env, limit) if limit else env

        return _next_step(gym.vector.SyncVectorEnv([make_one] * num_envs))
    if env_id not in gym.registry:
        import difflib

        close = difflib.get_close_matches(env_id, list(gym.registry), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise EnvError(f"unknown gymnasium env {env_id!r}{hint}")
    spec = gym.spec(env_id)
    native = spec.vector_entry_point and not env_id.startswith("phys2d/")
    if limit:
        kwargs["max_episode_steps"] = limit
    with warnings.catch_warnings():  # an old version (CartPole-v0, for CS285) was asked for by name
        warnings.simplefilter("ignore", DeprecationWarning)
        mode = "vector_entry_point" if native else "sync"
        try:
            return _next_step(gym.make_vec(env_id, num_envs, vectorization_mode=mode, **kwargs))
        except gym.error.DependencyNotInstalled as err:
            if not _extra_of(err):
                raise EnvError(f"{env_id}: {err}") from None
            raise MissingExtra(env_id, _extra_of(err)) from None


def backend(env: EnvSettings) -> str:
    """The backend `env.backend` asks for; `auto` is envpool when it is installed and has the id
    and gymnasium has no native vector env for it, else gymnasium."""
    if env.backend != "auto":
        return env.backend
    env_id = env.id
    if ":" in env_id or (env_id in gym.registry and gym.spec(env_id).vector_entry_point):
        return "gymnasium"
    try:
        envpool = _import_envpool()
    except ImportError:
        return "gymnasium"
    return "envpool" if env_id in envpool.list_all_envs() else "gymnasium"


def _import_envpool():
    """envpool, imported without the warnings its import prints: it builds every registered env's
    spaces, and gymnasium warns about each float64 Box bound it casts to float32 (hundreds of lines
    in a `pgcli check` log). Importing it takes seconds: every family registers itself."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        import envpool
    return envpool


class EnvPoolVectorEnv:
    """EnvPool's batched envs behind the part of gymnasium's VectorEnv interface pgcli uses.

    EnvPool autoresets like gymnasium 1.x in NEXT_STEP mode (the step after an episode ends
    returns the new episode's first observation with reward 0 and is not a transition), reports
    termination and time-limit truncation apart, and returns the true final observation at the
    end. It seeds copy i with s + i when the pool is built, so `reset(seed=s)` builds the pool
    anew (a few milliseconds)."""

    def __init__(self, env_id: str, num_envs: int, kwargs: dict, max_episode_steps: int | None):
        self.metadata = {"autoreset_mode": gym.vector.AutoresetMode.NEXT_STEP}
        try:
            envpool = _import_envpool()
        except ImportError:
            raise EnvError("env.backend envpool needs EnvPool: pip install 'pgcli[envpool]'") from None
        if env_id not in envpool.list_all_envs():
            raise EnvError(f"EnvPool has no env {env_id!r} (env.backend: envpool)")
        if max_episode_steps:
            kwargs = {**kwargs, "max_episode_steps": max_episode_steps}

        def make(seed):
            with warnings.catch_warnings():  # its float64 Box bounds, cast to float32
                warnings.simplefilter("ignore", UserWarning)
                return envpool.make(env_id, env_type="gymnasium", num_envs=num_envs, seed=seed, **kwargs)

        self._make = make
        self._pool = self._make(0)
        self.num_envs = num_envs
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            self.single_observation_space = self._pool.observation_space
            self.single_action_space = self._pool.action_space

    def reset(self, seed: int | None = None):
        if seed is not None:
            self._pool.close()
            self._pool = self._make(int(seed) % (2**31 - 1 - self.num_envs))  # s + i stays an int32
        with warnings.catch_warnings():  # its float64 Box bounds, cast to float32 (at the first reset)
            warnings.simplefilter("ignore", UserWarning)
            return self._pool.reset()

    def step(self, actions):
        return self._pool.step(actions)

    def close(self):
        self._pool.close()


VectorEnv = gym.vector.VectorEnv | EnvPoolVectorEnv  # what make_env returns


def _next_step(env):
    """The batches assume NEXT_STEP autoreset (the step after an episode ends only resets)."""
    mode = env.metadata.get("autoreset_mode", gym.vector.AutoresetMode.NEXT_STEP)
    if mode != gym.vector.AutoresetMode.NEXT_STEP:
        env.close()
        raise EnvError(f"the vector env autoresets in {mode.name} mode; pgcli needs NEXT_STEP")
    return env


def load_env_class(text: str) -> type | str:
    """'package.module:EnvClass' -> the class, or 'package.module:Id' -> a gymnasium id the
    module registers. The module must be one the shell found in a trusted directory and admitted
    (pgcli.base.usercode); importing it runs its top-level code. Nothing named by a spec is called
    here: anything but a gymnasium.Env subclass (a function, a factory) is refused."""
    module_name, _, attr = text.partition(":")
    try:
        module = usercode.load_module(text, "env")
    except usercode.UserCodeError as err:
        raise EnvError(str(err)) from None
    if attr in gym.registry:
        return attr
    found = getattr(module, attr, None)
    if not (isinstance(found, type) and issubclass(found, gym.Env)):
        what = "nothing" if found is None else f"a {type(found).__name__}"
        raise EnvError(
            f"{module_name}:{attr} is {what}, not a gymnasium.Env subclass or a registered id (env {text!r})"
        )
    return found


def reset(env, rng: np.random.Generator):
    """Reset every copy from seeds drawn from the env stream (one seed per copy)."""
    seeds = rng.integers(0, 2**31 - 1, size=env.num_envs)
    native = not isinstance(env, gym.vector.SyncVectorEnv | gym.vector.AsyncVectorEnv)
    obs, _ = env.reset(seed=int(seeds[0]) if native else [int(s) for s in seeds])
    return obs


class Batch(NamedTuple):
    """A batch of transitions on the (T, N) grid of time × env copy (see the module docstring)."""

    obs: np.ndarray  # (T, N, n_in) encoded
    actions: np.ndarray  # (T, N) or (T, N, k)
    rewards: np.ndarray  # (T, N)
    valid: np.ndarray  # (T, N) real transitions
    terminated: np.ndarray  # (T, N)
    truncated: np.ndarray  # (T, N) time limit
    cut: np.ndarray  # (T, N) batch ended mid-episode
    next_obs: np.ndarray  # (T, N, n_in) encoded; the true final observation at ends
    episode_returns: np.ndarray  # undiscounted returns of episodes completed in this batch
    episode_lengths: np.ndarray

    @property
    def ends(self) -> np.ndarray:
        return self.terminated | self.truncated | self.cut

    @property
    def n_steps(self) -> int:
        return int(self.valid.sum())


def flatten(batch: Batch, grid: np.ndarray) -> np.ndarray:
    """Valid entries of a (T, N, …) grid in env-major, time order: (M, …)."""
    return np.swapaxes(grid, 0, 1)[batch.valid.T]


def scatter(batch: Batch, flat: np.ndarray) -> np.ndarray:
    """Inverse of `flatten` for (M,) values: a (T, N) grid with zeros off the valid mask."""
    grid = np.zeros(batch.valid.T.shape)
    grid[batch.valid.T] = flat
    return grid.T


def segment_starts(batch: Batch) -> np.ndarray:
    """Flat indices where episodes (or batch-cut pieces of them) begin."""
    ends = flatten(batch, batch.ends)
    return np.concatenate([[0], np.flatnonzero(ends)[:-1] + 1])


class State(NamedTuple):
    """What carries over between batches in steps mode."""

    obs: np.ndarray  # raw observations (N, …)
    autoreset: np.ndarray  # (N,) the next step is a reset step
    episode_return: np.ndarray  # (N,) running undiscounted return
    episode_length: np.ndarray  # (N,)


def fresh_state(env, env_rng) -> State:
    """Every copy freshly reset (one seed per copy from env_rng), no running episode."""
    n = env.num_envs
    return State(reset(env, env_rng), np.zeros(n, bool), np.zeros(n), np.zeros(n, int))


def collect(env, policy: policies.Policy, theta, rng, *, episodes=None, steps=None, min_steps=None, state=None):
    """Run π(·|·; θ) on the vector env in the batch mode a spec's `batch` block names (exactly one
    of `episodes`, `steps`, `min_steps`), from `state`; returns (Batch, State).

    See :func:`collect_episodes`, :func:`collect_steps` and :func:`collect_min_steps`."""
    if steps is not None:
        return collect_steps(env, policy, theta, rng, steps, state)
    if episodes is not None:
        return collect_episodes(env, policy, theta, rng, episodes, state)
    if min_steps is not None:
        return collect_min_steps(env, policy, theta, rng, min_steps, state)
    raise TypeError("collect needs one of episodes, steps, min_steps")


def collect_episodes(env, policy: policies.Policy, theta, rng, episodes: int, state: State):
    """E whole episodes: copy i of the N plays a quota of ⌊E/N⌋ or ⌈E/N⌉ episodes, then idles.

    Every copy starts from `state` (freshly reset by the caller). The quota is fixed in advance,
    so no copy's short episodes are selected over another's long ones: the batch's episodes are
    i.i.d. draws of τ ~ p(τ; θ), as the Monte Carlo policy gradient assumes (Williams 1992;
    Sutton & Barto 2018, §13.3). Grids (T, N), T the longest copy's steps; returns (Batch, State).
    """
    n = env.num_envs
    quota = _quota(episodes, n)
    finished = np.zeros(n, int)

    def schedule(valid, ended):
        nonlocal finished
        finished = finished + ended
        return finished < quota

    grids, raw, autoreset = _play(env, policy, theta, rng, state, MAX_EPISODE_VECTOR_STEPS, schedule, quota > 0)
    return _close(_batch(grids), state, raw, autoreset)


def collect_steps(env, policy: policies.Policy, theta, rng, steps: int, state: State):
    """⌈S/N⌉ vector steps of all N copies, carrying episodes over from and to other batches.

    An episode still running at the batch's last step is marked `cut` there, so advantages can
    bootstrap it with V(s_{t+1}) (Schulman et al. 2016, GAE; Schulman et al. 2017, PPO's
    fixed-length segments); its running return and length continue in the returned State.
    Grids (T, N) with T = ⌈S/N⌉; returns (Batch, State)."""
    grids, raw, autoreset = _play(env, policy, theta, rng, state, -(-steps // env.num_envs))
    return _close(_mark_cuts(_batch(grids)), state, raw, autoreset)


def collect_min_steps(env, policy: policies.Policy, theta, rng, min_steps: int, state: State):
    """Whole episodes until the batch holds at least S transitions; the episodes under way then
    finish and no new one starts (the convention of Berkeley CS285 `-b` and Spinning Up).

    Grids (T, N), T the steps until the last copy's episode ends; returns (Batch, State)."""
    n = env.num_envs
    active = np.ones(n, bool)
    in_episode = np.zeros(n, bool)  # the copy has begun an episode not yet ended
    count = 0

    def schedule(valid, ended):
        nonlocal active, in_episode, count
        in_episode = (in_episode | valid) & ~ended
        count += int(valid.sum())
        if count >= min_steps:  # closing: episodes under way finish, no new one starts
            active = active & in_episode
        return active

    grids, raw, autoreset = _play(env, policy, theta, rng, state, MAX_EPISODE_VECTOR_STEPS, schedule)
    return _close(_batch(grids), state, raw, autoreset)


def _play(env, policy, theta, rng, state: State, horizon: int, schedule=None, active=None):
    """Step every copy with a_t ~ π(·|s_t; θ) for at most `horizon` vector steps, recording what
    the env returns on (T, N) grids; returns (grids, last raw observations, autoreset flags).

    With `schedule(valid, ended) -> active` (whole-episode modes) the copies taking part in the
    next step are re-chosen after each one, and the loop ends when none is left; without it all
    copies step for the whole horizon. Action noise is drawn in blocks of NOISE_BLOCK vector steps
    (one call to the generator per block, not per step): each batch starts a new block and drops
    what its last block did not use. Masking and episode bookkeeping are done afterwards on the
    whole grid (`_batch`, `_close`).
    """
    net, log_std = policies.views(policy, theta)
    n = env.num_envs
    active = np.ones(n, bool) if active is None else active
    raw, autoreset = state.obs, state.autoreset
    capacity = min(horizon, 1024)
    grids = _empty_grids(capacity, n, policy)
    next_obs, actions_grid, rewards, valids, terminateds, truncateds = (grids[k] for k in _STEPPED)
    t = 0
    x = first = policies.encode(policy, raw)
    while t < horizon:
        if t == capacity:
            capacity *= 2
            grids = {k: _grow(v, capacity) for k, v in grids.items()}
            next_obs, actions_grid, rewards, valids, terminateds, truncateds = (grids[k] for k in _STEPPED)
        if t % NOISE_BLOCK == 0:
            noise = policies.draw_noise(policy, rng, (NOISE_BLOCK, n, policy.sizes[-1]))
        actions, env_actions = policies.act(policy, net, log_std, x, rng, noise=noise[t % NOISE_BLOCK])
        raw, reward, terminated, truncated, _ = env.step(env_actions)
        valid = active & ~autoreset
        next_obs[t] = x = policies.encode(policy, raw)
        actions_grid[t] = actions
        rewards[t] = reward
        valids[t] = valid
        terminateds[t] = terminated
        truncateds[t] = truncated
        autoreset = terminated | truncated
        t += 1
        if schedule is not None:
            active = schedule(valid, autoreset & valid)
            if not active.any():
                break
    else:
        if schedule is not None:
            raise RuntimeError(
                f"an episode ran {MAX_EPISODE_VECTOR_STEPS} steps without ending; set env.max_episode_steps"
            )
    if t:  # each step's observation is the one the step before returned: copied once, not per step
        grids["obs"][0] = first
        grids["obs"][1:t] = next_obs[: t - 1]
    return {k: v[:t] for k, v in grids.items()}, raw, autoreset


_STEPPED = ("next_obs", "actions", "rewards", "valid", "terminated", "truncated")  # the grids _play writes per step


def _batch(grids: dict) -> Batch:
    """The recorded grids as a Batch: rewards and ends only where a transition is valid; a
    truncation that is also a termination counts as a termination; no cuts; no episode stats."""
    valid = grids["valid"]
    terminated = grids["terminated"] & valid
    truncated = grids["truncated"] & ~grids["terminated"] & valid
    rewards = np.where(valid, grids["rewards"], 0.0)
    cut = np.zeros(valid.shape, bool)
    return Batch(
        grids["obs"], grids["actions"], rewards, valid, terminated, truncated, cut, grids["next_obs"], None, None
    )


def _mark_cuts(batch: Batch) -> Batch:
    """Mark `cut` at the last valid step of each copy whose episode is still running there."""
    t, n = batch.valid.shape
    has = batch.valid.any(0)
    last = t - 1 - np.argmax(batch.valid[::-1], axis=0)
    running = has & ~(batch.terminated | batch.truncated)[last, np.arange(n)]
    cut = batch.cut.copy()
    cut[last[running], np.flatnonzero(running)] = True
    return batch._replace(cut=cut)


def _close(batch: Batch, state: State, raw, autoreset) -> tuple[Batch, State]:
    """The batch with the returns and lengths of the episodes it completed, and the State the
    next batch starts from."""
    returns, lengths, carry_return, carry_length = _episode_stats(batch, state)
    batch = batch._replace(episode_returns=returns, episode_lengths=lengths)
    return batch, State(raw, autoreset, carry_return, carry_length)


def _episode_stats(batch: Batch, state: State):
    """Returns and lengths of the episodes that ended in this batch, and the running sums of
    those still going (steps mode), including what each copy carried in from earlier batches."""
    t, n = batch.valid.shape
    rewards = flatten(batch, batch.rewards)
    env_index = flatten(batch, np.broadcast_to(np.arange(n), (t, n)))
    time_index = flatten(batch, np.broadcast_to(np.arange(t)[:, None], (t, n)))
    episode_end = flatten(batch, batch.terminated | batch.truncated)
    if rewards.size == 0:
        return np.zeros(0), np.zeros(0), state.episode_return, state.episode_length
    starts = segment_starts(batch)
    sums = np.add.reduceat(rewards, starts)
    lengths = np.diff(np.append(starts, rewards.size)).astype(float)
    seg_env = env_index[starts]
    first = np.ones(starts.size, bool)
    first[1:] = seg_env[1:] != seg_env[:-1]
    sums[first] += state.episode_return[seg_env[first]]
    lengths[first] += state.episode_length[seg_env[first]]
    end_index = np.append(starts[1:], rewards.size) - 1
    ended = episode_end[end_index]
    carry_return, carry_length = np.zeros(n), np.zeros(n, int)
    last = np.append(first[1:], True)  # the last segment of each copy
    open_last = last & ~ended
    carry_return[seg_env[open_last]] = sums[open_last]
    carry_length[seg_env[open_last]] = lengths[open_last]
    idle = ~np.isin(np.arange(n), seg_env)  # copies with no valid step keep their carry
    carry_return[idle] = state.episode_return[idle]
    carry_length[idle] = state.episode_length[idle]
    order = np.lexsort((seg_env[ended], time_index[end_index][ended]))  # by completion time
    return sums[ended][order], lengths[ended][order], carry_return, carry_length


def _quota(episodes: int, n: int) -> np.ndarray:
    """Episodes per copy (n,): E split as evenly as possible, the first E mod n copies one more."""
    return np.full(n, episodes // n) + (np.arange(n) < episodes % n)


def _empty_grids(capacity, n, policy):
    n_in = policy.sizes[0]
    action_shape = (capacity, n) if policy.head == "categorical" else (capacity, n, policy.sizes[-1])
    return {
        "obs": np.zeros((capacity, n, n_in)),
        "next_obs": np.zeros((capacity, n, n_in)),
        "actions": np.zeros(action_shape, int if policy.head == "categorical" else float),
        "rewards": np.zeros((capacity, n)),
        "valid": np.zeros((capacity, n), bool),
        "terminated": np.zeros((capacity, n), bool),
        "truncated": np.zeros((capacity, n), bool),
    }


def _grow(array, capacity):
    out = np.zeros((capacity, *array.shape[1:]), array.dtype)
    out[: array.shape[0]] = array
    return out


def evaluate(env, policy: policies.Policy, theta, rng, env_rng, episodes: int, deterministic: bool) -> np.ndarray:
    """Undiscounted returns of `episodes` fresh episodes (quota per copy, as in training)."""
    net, log_std = policies.views(policy, theta)
    n = env.num_envs
    quota = _quota(episodes, n)
    obs = reset(env, env_rng)
    autoreset = np.zeros(n, bool)
    finished = np.zeros(n, int)
    episode_return = np.zeros(n)
    returns = []
    for _ in range(MAX_EPISODE_VECTOR_STEPS):
        active = finished < quota
        if not active.any():
            break
        _, env_actions = policies.act(policy, net, log_std, policies.encode(policy, obs), rng, deterministic)
        obs, reward, terminated, truncated, _ = env.step(env_actions)
        valid = active & ~autoreset
        episode_return += np.where(valid, reward, 0.0)
        ended = (terminated | truncated) & valid
        returns.extend(episode_return[ended])
        episode_return[ended] = 0.0
        finished += ended
        autoreset = (terminated | truncated) & ~autoreset
    return np.asarray(returns)
