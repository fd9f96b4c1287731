"""REINFORCE / vanilla policy gradient on gymnasium environments.

    repeat:
        sample a batch of trajectories with π(·|·; θ)                      (rollout.py)
        A_t  = total_return | reward_to_go | gae  [− baseline]            (advantages.py)
        g_e  = Σ_{t∈e} ∇θ log π(a_t | s_t) A_t      one term per episode (or batch-cut piece)
        ĝ    = (1/E) Σ_e g_e  (+ entropy_coef ∇θ mean_t H(π(·|s_t)))
        θ   ← θ + optimiser step(ĝ)                                      (optim.py)
        fit V to the returns (baseline: value)

Logged per iteration: ĝ's norm; grad_var = tr Cov(g_e) / E, the variance of ĝ; and
grad_snr = ‖ĝ‖² / grad_var — the "high variance" of the estimator, measured as it trains.
Williams (1992); Sutton et al. (2000); Schulman et al. (2016).
"""

from __future__ import annotations

import io
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from pgcli.base.fields import SpecError
from pgcli.base.numerics import gradient_stats
from pgcli.base.optim import OPTIMISERS, AdamState, adam_init
from pgcli.base.progress import Progress, silent
from pgcli.base.streams import streams
from pgcli.base.table import Table
from pgcli.base.targets import first_reached
from pgcli.rl import mlp, natural, policies, ppo, rollout, trpo
from pgcli.rl.advantages import fit_value, normalise, value_init, value_predict, weights
from pgcli.rl.settings import (
    MAX_PARAMS,
    AlgoSettings,
    BatchSettings,
    EvalSettings,
    OptimSettings,
    Settings,
    StopSettings,
    budget,
)

COLUMNS = [
    "iteration",
    "env_steps",
    "episodes",
    "return_mean",
    "return_std",
    "return_min",
    "return_max",
    "ep_len_mean",
    "return_window",
    "eval_return_mean",
    "grad_norm",
    "grad_var",
    "grad_snr",
    "entropy",
    "value_loss",
    "kl",
    "cg_residual",
    "fisher_cond",
    "clip_fraction",
    "epochs",
    "backtracks",
    "backend",
    "wall_s",
]
KL_STATES = 1024  # the logged KL is averaged over at most about this many batch states
MAX_STEP_KL = 10.0  # nats: one update that moves the policy this far has collapsed it
MAX_VALUE_LOSS_RATIO = 1e3  # value loss this many times that of predicting V = 0 has diverged
CHEAP_FISHER = 128  # with CG, fisher_cond is logged only for policies with at most this many parameters
DEFAULT_EPISODES = 16


def batch_size(batch: BatchSettings) -> dict:
    """{'episodes': E}, {'steps': S} or {'min_steps': S}: one of them (episodes: 16 if none)."""
    given = {k: v for k, v in batch._asdict().items() if v is not None}
    if len(given) > 1:
        raise SpecError("batch", f"give one of episodes, steps, min_steps, not {' and '.join(given)}")
    return given or {"episodes": DEFAULT_EPISODES}


def validate(settings: Settings) -> None:
    """Everything that can be checked before a run starts, including the env's spaces."""
    size = batch_size(settings.batch)
    if size.get("steps", np.inf) < 2 * settings.env.num_envs:
        # a copy can sit on a reset step every other step: two vector steps give each a transition
        raise SpecError("batch.steps", f"must be ≥ 2 × env.num_envs = {2 * settings.env.num_envs}, got {size['steps']}")
    if settings.algo.weight == "gae" and settings.algo.baseline != "value":
        raise SpecError("algo.baseline", "gae needs a value function: set algo.baseline: value")
    if settings.algo.objective == "ppo_clip" and settings.optim.kind not in ("sgd", "adam"):
        raise SpecError("optim.kind", f"ppo_clip takes first-order steps: sgd or adam, got {settings.optim.kind}")
    if settings.stop.iterations is None and settings.stop.env_steps is None:
        raise SpecError("stop", "set stop.iterations or stop.env_steps (or both)")
    made = repr((settings.env, settings.policy, settings.algo.value.hidden))
    if made in _MADE:
        return
    try:
        env = rollout.make_env(settings.env, 1)
    except rollout.MissingExtra as err:  # `pgcli check` reports the spec as skipped
        raise SpecError("env.id", str(err), extra=err.extra) from None
    except rollout.EnvError as err:
        raise SpecError("env.id", str(err)) from None
    except Exception as err:  # the env's own constructor rejected its kwargs
        raise SpecError("env", f"cannot make {settings.env.id}: {type(err).__name__}: {err}") from None
    try:
        policy = policies.make_policy(settings.policy, env.single_observation_space, env.single_action_space)
    except policies.SpaceError as err:
        raise SpecError("env.id", str(err)) from None
    finally:
        env.close()
    value_sizes = [policy.sizes[0], *settings.algo.value.hidden, 1]
    for key, count in (("policy.hidden", policy.n_net), ("algo.value.hidden", mlp.n_params(value_sizes))):
        if count > MAX_PARAMS:
            raise SpecError(key, f"{count:,} parameters for {settings.env.id}; the limit is {MAX_PARAMS:,}")
    if ":" not in settings.env.id:  # user code is looked up (and allowed) afresh every time
        _MADE.add(made)


# (env, policy) settings whose env and policy `validate` has made in this process: a sweep's runs
# share them, and making an env per run (twice: the command also plans the spec file as written)
# was most of a CartPole sweep's overhead
_MADE: set[str] = set()


def divergence(kl: float, value_loss: float, targets: np.ndarray | None, iteration: int) -> str | None:
    """Why a run whose numbers are all finite has diverged, or None.

    A policy step with mean KL(π_old ‖ π_new) > MAX_STEP_KL over the batch states made the
    policy (near) deterministic in one update (typical steps are ≤ 0.1; TRPO's δ is 0.01). A
    value loss ½ mean (V − target)² above MAX_VALUE_LOSS_RATIO × (½ mean target² + 1) is orders
    of magnitude worse than predicting V = 0 (the + 1 keeps all-zero targets from tripping it)."""
    if kl > MAX_STEP_KL:
        return (
            f"update {iteration} moved the policy by KL {kl:.3g} > {MAX_STEP_KL:g} nats, collapsing it "
            "(try a smaller optim.lr)"
        )
    if targets is not None and value_loss > MAX_VALUE_LOSS_RATIO * (0.5 * float(np.mean(targets**2)) + 1.0):
        return (
            f"value loss {value_loss:.3g} at iteration {iteration} is over {MAX_VALUE_LOSS_RATIO:g} × that "
            "of predicting 0 (try a smaller algo.value.lr)"
        )
    return None


def policy_gradient(policy, theta, batch, x, advantages, entropy_coef):
    """ĝ (d,), its per-segment terms g_e (E, d), and the mean entropy on the batch states x (M, n_in):

        g_e = Σ_{t∈e} A_t ∇θ log π(a_t | s_t; θ),   ĝ = (1/E) Σ_e g_e  (+ c ∇θ (1/M) Σ_t H(π(·|s_t)))

    e runs over the batch's episodes, or batch-cut pieces of them (`rollout.segment_starts`);
    `advantages` (M,) are flat like x, c is `entropy_coef`. Williams (1992); Sutton et al. (2000)."""
    actions = rollout.flatten(batch, batch.actions)
    per_segment, entropy = policies.scores(policy, theta, x, actions, advantages, rollout.segment_starts(batch))
    grad = per_segment.mean(0)
    if entropy_coef:
        grad = grad + entropy_coef * policies.entropy_grad(policy, theta, x)
    return grad, per_segment, float(entropy.mean())


STREAMS = ("init", "env", "act", "eval", "minibatch")  # one seed, one stream per role


def initial_theta(settings: Settings, policy: policies.Policy) -> np.ndarray:
    """θ₀ exactly as `run` draws it for these settings and seed."""
    policy_rng = np.random.default_rng(streams(settings.seed, STREAMS)["init"].spawn(2)[0])
    return policies.init_params(policy, policy_rng, settings.policy.init_log_std)


def visited_states(settings: Settings, theta: np.ndarray | None, n: int, seed: int = 0):
    """(policy, θ, x): n states s ~ d^π visited by π(·|·; θ) (θ₀ of the settings when θ is None),
    x (n, n_in) encoded, from steps-mode batches on streams of their own."""
    env = rollout.make_env(settings.env, settings.env.num_envs)
    policy = policies.make_policy(settings.policy, env.single_observation_space, env.single_action_space)
    theta = initial_theta(settings, policy) if theta is None else theta
    expected = initial_theta(settings, policy).size
    if theta.ndim != 1 or theta.size != expected:
        env.close()
        raise SpecError("--policy", f"policy.npz holds θ of shape {theta.shape}; this spec's policy has {expected}")
    env_ss, act_ss = np.random.SeedSequence([seed, 0x46495348]).spawn(2)  # 'FISH': its own streams
    env_rng, act_rng = np.random.default_rng(env_ss), np.random.default_rng(act_ss)
    state, states = rollout.fresh_state(env, env_rng), []
    while sum(len(x) for x in states) < n:  # reset steps are not states visited: collect more
        batch, state = rollout.collect_steps(env, policy, theta, act_rng, n, state)
        states.append(rollout.flatten(batch, batch.obs))
    env.close()
    return policy, theta, np.concatenate(states)[:n]


def run(settings: Settings, progress: Progress = silent) -> tuple[Table, dict]:
    """Train; returns (metrics table, one row per iteration in COLUMNS; info with status, files
    and notes). The table is plain rows (pgcli.base.table), so a run needs no pandas.

    Overflow on the way to divergence is expected and handled (the run stops as `diverged`),
    so numpy's warnings are silenced rather than printed."""
    with np.errstate(all="ignore"):
        return _run(settings, progress)


class Diverged(Exception):
    """The run cannot go on; the message says why and which setting to lower."""


class Setup(NamedTuple):
    """What a run fixes at its start."""

    env: rollout.VectorEnv  # the training vector env (N copies)
    eval_env: rollout.VectorEnv | None  # the evaluation vector env, when eval.every > 0
    policy: policies.Policy
    optimiser: Callable  # first-order step (grad, state, lr) -> (step, state), from base.optim.OPTIMISERS
    value_sizes: list[int]  # the value network's layer sizes
    rngs: dict[str, np.random.Generator]  # env, act, eval_env, eval_act, minibatch
    backend: str  # what env.backend `auto` chose, in every metrics row
    batch: dict  # batch_size(settings.batch)


@dataclass
class Learner:
    """What the iterations update. It is changed in place, so a run that diverges part-way
    through an iteration saves (policy.npz) the parameters it reached."""

    theta: np.ndarray  # θ (d,)
    opt_state: AdamState  # the policy optimiser's state (unused by sgd, natural, trpo)
    value_theta: np.ndarray | None  # the value network's parameters (baseline: value)
    value_opt: AdamState | None
    env_state: rollout.State  # what carries over between batches in steps mode


@dataclass
class Tally:
    """What the run has seen so far: env steps, episodes, and the returns of the latest ones."""

    env_steps: int = 0
    episodes: int = 0
    recent: list[float] = field(default_factory=list)

    def add(self, batch: rollout.Batch, window: int) -> None:
        self.env_steps += batch.n_steps
        self.episodes += batch.episode_returns.size
        self.recent = (self.recent + batch.episode_returns.tolist())[-window:]

    def window_mean(self, window: int) -> float:
        """The mean return of the last `window` episodes; NaN until there are that many."""
        return np.mean(self.recent) if len(self.recent) == window else np.nan


def _run(settings: Settings, progress):
    """repeat: sample → advantages → gradient → update → fit V → log, until a stop rule fires."""
    start = time.perf_counter()
    setup, learner = _start(settings)
    stop, tally, rows = settings.stop, Tally(), []
    status, message = "done", ""
    progress(0, budget(stop, settings.batch, 0, 0)[1])
    try:
        for iteration in itertools.count():
            row, targets = _iterate(settings, setup, learner, tally, iteration)
            row["wall_s"] = time.perf_counter() - start
            rows.append({name: row[name] for name in COLUMNS})
            progress(*budget(stop, settings.batch, iteration + 1, tally.env_steps)[:2], ret=row["return_window"])
            why = divergence(row["kl"], row["value_loss"], targets, iteration)
            if why:
                raise Diverged(why)
            if _stopped(stop, iteration + 1, tally):
                break
    except Diverged as err:
        status, message = "diverged", str(err)
    setup.env.close()
    if setup.eval_env is not None:
        setup.eval_env.close()
    npz = _policy_npz(setup.policy, learner.theta, learner.value_theta, setup.value_sizes)
    info = {"status": status, "message": message, "files": {"policy.npz": npz}}
    return Table(COLUMNS, rows), info


def _start(settings: Settings) -> tuple[Setup, Learner]:
    """The run's envs, policy, θ₀, value network and random streams (one per role in STREAMS)."""
    init_ss, env_ss, act_ss, eval_ss, minibatch_ss = streams(settings.seed, STREAMS).values()
    eval_env_ss, eval_act_ss = eval_ss.spawn(2)
    rngs = {
        "env": np.random.default_rng(env_ss),
        "act": np.random.default_rng(act_ss),
        "eval_env": np.random.default_rng(eval_env_ss),
        "eval_act": np.random.default_rng(eval_act_ss),
        "minibatch": np.random.default_rng(minibatch_ss),
    }
    value_rng = np.random.default_rng(init_ss.spawn(2)[1])  # child 0 is θ₀'s: initial_theta
    backend = rollout.backend(settings.env)
    env = rollout.make_env(settings.env, settings.env.num_envs)
    eval_env = None
    if settings.eval.every:
        eval_env = rollout.make_env(settings.env, min(settings.eval.episodes, settings.env.num_envs))
    policy = policies.make_policy(settings.policy, env.single_observation_space, env.single_action_space)
    theta = initial_theta(settings, policy)
    value_sizes = [policy.sizes[0], *settings.algo.value.hidden, 1]
    value_theta = value_opt = None
    if settings.algo.baseline == "value":
        value_theta, value_opt = value_init(value_sizes, value_rng)
    optimiser = OPTIMISERS.get(settings.optim.kind, OPTIMISERS["sgd"])  # natural, trpo: their own steps
    setup = Setup(env, eval_env, policy, optimiser, value_sizes, rngs, backend, batch_size(settings.batch))
    state = rollout.fresh_state(env, rngs["env"])
    return setup, Learner(theta, adam_init(theta.size), value_theta, value_opt, state)


def _iterate(settings: Settings, setup: Setup, learner: Learner, tally: Tally, iteration: int):
    """One iteration of the algorithm; returns its metrics row (all columns but wall_s) and the
    value targets (M,) the divergence rule reads (None without a value function)."""
    algo = settings.algo
    batch = _sample(setup, learner)  # τ ~ p(τ; θ)
    tally.add(batch, settings.stop.target_window)
    x = rollout.flatten(batch, batch.obs)
    advantages, targets = _advantages(algo, setup, learner, batch, x)  # Â_t, and V's targets
    grad, per_segment, entropy = policy_gradient(setup.policy, learner.theta, batch, x, advantages, algo.entropy_coef)
    stats = gradient_stats(grad, per_segment)  # grad_norm, grad_var, grad_snr
    _require_finite(grad, "policy gradient", iteration, "optim.lr")
    old_theta = learner.theta
    states = x[:: max(1, x.shape[0] // KL_STATES)]  # an even subsample is plenty for the KL
    data = Data(x, rollout.flatten(batch, batch.actions), advantages, targets, states)
    update_columns = _update(settings, setup, learner, data, grad)  # θ ← θ + s
    _require_finite(learner.theta, "policy parameters", iteration, "optim.lr")
    kl = natural.kl_divergence(setup.policy, old_theta, learner.theta, states)
    value_loss = _fit_value(settings, setup, learner, x, targets, iteration)
    row = {
        "iteration": iteration,
        "env_steps": tally.env_steps,
        "episodes": tally.episodes,
        **_episode_columns(batch),
        "return_window": tally.window_mean(settings.stop.target_window),
        "eval_return_mean": _evaluate(settings.eval, setup, learner, iteration),
        **stats._asdict(),
        "entropy": entropy,
        "value_loss": value_loss,
        "kl": kl,
        **update_columns,
        "backend": setup.backend,
    }
    return row, targets


def _sample(setup: Setup, learner: Learner) -> rollout.Batch:
    """A batch of trajectories from π(·|·; θ): whole-episode batches start from fresh resets,
    steps-mode batches continue the episodes the last one cut."""
    if "steps" not in setup.batch:
        learner.env_state = rollout.fresh_state(setup.env, setup.rngs["env"])
    batch, learner.env_state = rollout.collect(
        setup.env, setup.policy, learner.theta, setup.rngs["act"], state=learner.env_state, **setup.batch
    )
    return batch


def _advantages(algo: AlgoSettings, setup: Setup, learner: Learner, batch: rollout.Batch, x: np.ndarray):
    """(Â (M,), value targets (M,) or None), flat like x: the algorithm's weights (advantages.py),
    with V(s_t) and V(s_{t+1}) from the value network when there is one, normalised to mean 0
    and std 1 when algo.normalize_advantages is set. Schulman et al. (2016)."""
    values = next_values = None
    if learner.value_theta is not None:
        next_x = rollout.flatten(batch, batch.next_obs)
        both = value_predict(learner.value_theta, setup.value_sizes, algo.value.activation, np.concatenate([x, next_x]))
        values = rollout.scatter(batch, both[: x.shape[0]])
        next_values = rollout.scatter(batch, both[x.shape[0] :])
    advantage_grid, target_grid = weights(batch, algo, values, next_values)
    advantages = rollout.flatten(batch, advantage_grid)
    if algo.normalize_advantages:
        advantages = normalise(advantages)
    targets = rollout.flatten(batch, target_grid) if learner.value_theta is not None else None
    return advantages, targets


# the columns an update rule logs, and their values when the rule has no such number
UPDATE_COLUMNS = {
    "cg_residual": np.nan,
    "fisher_cond": np.nan,
    "clip_fraction": np.nan,
    "epochs": 1,
    "backtracks": np.nan,
}


class Data(NamedTuple):
    """One batch as the updates use it, flat over its valid steps: inputs x (M, n_in), actions,
    advantages Â (M,), value targets (M,) or None, and the states the KL is measured on."""

    x: np.ndarray
    actions: np.ndarray
    advantages: np.ndarray
    targets: np.ndarray | None
    states: np.ndarray


def _update(settings: Settings, setup: Setup, learner: Learner, data: Data, grad: np.ndarray) -> dict:
    """θ ← θ + s by the settings' rule: PPO-clip epochs, a natural (or TRPO) step, or one
    first-order step along ĝ; returns the rule's UPDATE_COLUMNS."""
    if settings.algo.objective == "ppo_clip":
        return _ppo_update(settings, setup, learner, data)
    if settings.optim.kind in ("natural", "trpo"):
        return _natural_update(settings.optim, setup, learner, data, grad)
    step, learner.opt_state = setup.optimiser(grad, learner.opt_state, settings.optim.lr)
    learner.theta = learner.theta + step
    return dict(UPDATE_COLUMNS)


def _ppo_update(settings: Settings, setup: Setup, learner: Learner, data: Data) -> dict:
    """Epochs of minibatch steps on the clipped surrogate (ppo.py); the value network steps on
    the same minibatches. Schulman et al. (2017)."""
    algo = settings.algo
    fit = None
    if learner.value_theta is not None:
        value = algo.value
        fit = ppo.ValueFit(
            learner.value_theta, learner.value_opt, setup.value_sizes, value.activation, value.lr, data.targets
        )
    batch = ppo.Batch(data.x, data.actions, data.advantages, data.states)
    optimiser = ppo.Optimiser(setup.optimiser, settings.optim.lr)
    update = ppo.update(setup.policy, learner.theta, learner.opt_state, batch, algo, optimiser, setup.rngs["minibatch"],
                        value=fit)  # fmt: skip
    learner.theta, learner.opt_state = update.theta, update.opt
    if fit is not None:
        learner.value_theta, learner.value_opt = update.value.theta, update.value.opt
    return {**UPDATE_COLUMNS, "clip_fraction": update.clip_fraction, "epochs": update.epochs}


def _natural_update(optim: OptimSettings, setup: Setup, learner: Learner, data: Data, grad: np.ndarray) -> dict:
    """s = √(2δ / xᵀFx) x with (F + λI) x = ĝ (natural.py; Kakade 2001), then for TRPO a
    backtracking line search on the surrogate and the measured KL (trpo.py; Schulman et al. 2015)."""
    policy, theta = setup.policy, learner.theta
    step, residual, cond = natural.natural_step(
        policy, theta, data.x, grad, step_size=optim.step_size, damping=optim.damping,
        cg_iters=optim.cg_iters, solver=optim.solver,
    )  # fmt: skip
    if np.isnan(cond) and theta.size <= CHEAP_FISHER:
        cond = natural.condition_number(np.linalg.eigvalsh(natural.fisher_matrix(policy, theta, data.x)))
    backtracks = np.nan
    if optim.kind == "trpo":
        step, backtracks = trpo.line_search(
            policy, theta, step, data.x, data.actions, data.advantages, data.states, optim.step_size, optim.backtracks
        )
    learner.theta = theta + step
    return {**UPDATE_COLUMNS, "cg_residual": residual, "fisher_cond": cond, "backtracks": backtracks}


def _fit_value(settings: Settings, setup: Setup, learner: Learner, x, targets, iteration: int) -> float:
    """Adam steps on ½ mean (V(s_t) − target_t)² (none after PPO, which stepped V on its
    minibatches); returns the loss after them, NaN without a value function."""
    if learner.value_theta is None:
        return np.nan
    algo, value = settings.algo, settings.algo.value
    steps = 0 if algo.objective == "ppo_clip" else value.steps
    learner.value_theta, learner.value_opt, loss = fit_value(
        learner.value_theta, learner.value_opt, setup.value_sizes, value.activation, x, targets, value.lr, steps
    )
    _require_finite(loss, "value loss", iteration, "algo.value.lr")
    return loss


def _require_finite(values, what: str, iteration: int, setting: str) -> None:
    """Raise Diverged when `values` hold an inf or NaN, naming the setting to lower."""
    if not np.all(np.isfinite(values)):
        raise Diverged(f"non-finite {what} at iteration {iteration} (try a smaller {setting})")


def _evaluate(settings: EvalSettings, setup: Setup, learner: Learner, iteration: int) -> float:
    """The mean undiscounted return of eval.episodes fresh episodes every eval.every iterations
    (NaN in between), on the evaluation env's own streams."""
    if not (settings.every and (iteration + 1) % settings.every == 0):
        return np.nan
    returns = rollout.evaluate(
        setup.eval_env, setup.policy, learner.theta, setup.rngs["eval_act"], setup.rngs["eval_env"],
        settings.episodes, settings.deterministic,
    )  # fmt: skip
    return float(returns.mean())


def _episode_columns(batch: rollout.Batch) -> dict:
    """Return statistics of the episodes the batch completed (NaN when it completed none)."""
    returns = batch.episode_returns
    if not returns.size:
        return dict.fromkeys(("return_mean", "return_std", "return_min", "return_max", "ep_len_mean"), np.nan)
    return {
        "return_mean": returns.mean(),
        "return_std": returns.std(),
        "return_min": returns.min(),
        "return_max": returns.max(),
        "ep_len_mean": batch.episode_lengths.mean(),
    }


def _stopped(stop: StopSettings, iterations: int, tally: Tally) -> bool:
    """Whether the recent mean return reached stop.target_return, or the budget is spent."""
    target = stop.target_return
    if target is not None and tally.window_mean(stop.target_window) >= target:
        return True
    if stop.iterations is not None and iterations >= stop.iterations:
        return True
    return stop.env_steps is not None and tally.env_steps >= stop.env_steps


def _policy_npz(policy, theta, value_theta, value_sizes) -> bytes:
    buffer = io.BytesIO()
    arrays = {
        "theta": theta,
        "sizes": np.asarray(policy.sizes),
        "activation": np.asarray(policy.activation),
        "head": np.asarray(policy.head),
    }
    if value_theta is not None:
        arrays.update(value_theta=value_theta, value_sizes=np.asarray(value_sizes))
    np.savez(buffer, **arrays)
    return buffer.getvalue()


SUMMARY_COLUMNS = ["final_return", "best_return", "env_steps_to_target", "env_steps"]


def summary(table: Table, stop: StopSettings) -> dict:
    """runs.csv columns: final and best recent return (NaN while there is none), env steps to the
    target."""
    window = table.column("return_window").astype(float)
    env_steps = table.column("env_steps")
    target = stop.target_return
    hit = first_reached(window, target) if target is not None else None
    logged = window[~np.isnan(window)]
    return {
        "final_return": window[-1] if window.size else np.nan,
        "best_return": logged.max() if logged.size else np.nan,
        "env_steps_to_target": env_steps[hit] if hit is not None else np.nan,
        "env_steps": env_steps[-1] if env_steps.size else 0,
    }
