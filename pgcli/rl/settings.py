"""A training run's settings as typed records, and the limits they must keep.

The train kind (pgcli/kinds/train.py) turns a resolved spec into a :class:`Settings` tree, one
record per spec section, and each function of the RL core takes the record it needs
(`rollout.make_env(EnvSettings, n)`, `advantages.weights(batch, AlgoSettings, ...)`). Importing
this module imports no gymnasium, so a command's --help does not pay for it.
"""

from __future__ import annotations

from typing import NamedTuple

MAX_ENVS = 1024  # env.num_envs: copies in one vector env
BACKENDS = ("auto", "gymnasium", "envpool")
# every amount of work a spec can ask for, bounded before anything runs (the README's Limits table)
MAX_HIDDEN = 4096  # units in one hidden layer
MAX_LAYERS = 8  # hidden layers of a network
MAX_PARAMS = 1_000_000  # parameters of the policy (or the value network), checked once the env's spaces are known
MAX_BATCH_STEPS = 1_000_000  # env steps in one batch (batch.steps, batch.min_steps): held in memory at once
MAX_BATCH_EPISODES = 100_000  # episodes in one batch
MAX_ITERATIONS = 10_000_000
MAX_ENV_STEPS = 10_000_000_000  # env steps in a run, given or implied by iterations × batch
MAX_EPOCHS = 1000  # ppo_clip: passes over one batch
MAX_MINIBATCHES = 10_000
MAX_VALUE_STEPS = 10_000  # Adam steps on the value loss per iteration
MAX_EVAL_EPISODES = 10_000
MAX_EPISODE_STEPS = 10_000_000  # env.max_episode_steps
MAX_CG_ITERS = 1000
MAX_BACKTRACKS = 100
MAX_WINDOW = 100_000  # stop.target_window episodes
MAX_STATES = 100_000  # `fisher --policy --states`: per-state score rows are held in memory


class EnvSettings(NamedTuple):
    """The environment: a gymnasium id or a user's `module:Class`, copies, kwargs, time limit, engine."""

    id: str
    num_envs: int
    kwargs: dict
    max_episode_steps: int | None
    backend: str


class PolicySettings(NamedTuple):
    """The policy network: mlp or linear, hidden sizes, activation, a Gaussian's initial log σ."""

    kind: str
    hidden: list[int]
    activation: str
    init_log_std: float


class ValueSettings(NamedTuple):
    """The value network (baseline: value) and its Adam steps per iteration."""

    hidden: list[int]
    activation: str
    lr: float
    steps: int


class AlgoSettings(NamedTuple):
    """What multiplies ∇ log π (weight, discount, GAE's λ, baseline, normalisation, entropy bonus)
    and how a batch is used: one REINFORCE step, or PPO-clip epochs."""

    weight: str  # total_return | reward_to_go | gae
    discount: float
    gae_lambda: float
    baseline: str  # none | mean | value
    normalize_advantages: bool
    entropy_coef: float
    objective: str  # reinforce | ppo_clip
    clip: float
    epochs: int
    minibatches: int
    target_kl: float | None
    value: ValueSettings


class OptimSettings(NamedTuple):
    """The policy optimiser: sgd or adam (lr), natural (trust region, damping, CG), trpo (line search)."""

    kind: str
    lr: float
    step_size: float
    damping: float
    cg_iters: int
    solver: str
    backtracks: int


class BatchSettings(NamedTuple):
    """How much one iteration samples: whole episodes, steps, or whole episodes up to a step count."""

    episodes: int | None
    steps: int | None
    min_steps: int | None


class StopSettings(NamedTuple):
    """When a run stops: an iteration or env-step budget, or a recent mean return reached."""

    iterations: int | None
    env_steps: int | None
    target_return: float | None
    target_window: int


class EvalSettings(NamedTuple):
    """Evaluation episodes every N iterations (0: never), mode or sampled actions."""

    every: int
    episodes: int
    deterministic: bool


class Settings(NamedTuple):
    """A training run."""

    env: EnvSettings
    policy: PolicySettings
    algo: AlgoSettings
    optim: OptimSettings
    batch: BatchSettings
    stop: StopSettings
    eval: EvalSettings
    seed: int


def envs_problem(num_envs: int) -> str | None:
    """Why env.num_envs is not allowed (1 … MAX_ENVS), or None."""
    if num_envs <= 0:
        return f"must be > 0, got {num_envs}"
    return None if num_envs <= MAX_ENVS else f"must be ≤ {MAX_ENVS}, got {num_envs}"


def references(env_id) -> list[str]:
    """The user-code reference in an env id ('package.module:EnvClass' or 'package.module:Id'), if any."""
    return [env_id.strip()] if isinstance(env_id, str) and ":" in env_id else []
