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
import time

import numpy as np
import pandas as pd

from pgcli.base.fields import Field, SpecError, all_positive, non_negative, positive, unit_interval
from pgcli.base.progress import Progress, silent
from pgcli.base.targets import first_reached
from pgcli.lab.estimators import gradient_stats
from pgcli.lab.optim import adam_init, adam_step, sgd_step
from pgcli.lab.streams import streams
from pgcli.rl import advantages as A
from pgcli.rl import natural as N
from pgcli.rl import policies as P
from pgcli.rl import ppo, trpo
from pgcli.rl import rollout as R

SCHEMA = {
    "kind": Field("str", "train", "experiment kind", choices=("train",)),
    "name": Field("str", None, "results go to results/<name>/ (default: spec file name)", nullable=True),
    "env": {
        "id": Field("str", "CartPole-v1", "gymnasium id, or 'package.module:EnvClass' (a gymnasium.Env subclass)"),
        "num_envs": Field(
            "int", 16, f"parallel env copies (one vector env), at most {R.MAX_ENVS}", check=R.envs_problem
        ),
        "kwargs": Field("mapping", {}, "keyword arguments for the env"),
        "max_episode_steps": Field("int", None, "time limit (default: the env's own)", nullable=True, check=positive),
        "backend": Field(
            "str",
            "gymnasium",
            "vector env engine; auto: envpool if installed and it has the id (no native gymnasium one)",
            choices=R.BACKENDS,
        ),
    },
    "policy": {
        "kind": Field("str", "mlp", "network", choices=("mlp", "linear")),
        "hidden": Field(
            "ints",
            [32],
            "hidden layer sizes (mlp)",
            check=lambda v: None if all(h > 0 for h in v) else "sizes must be > 0",
        ),
        "activation": Field("str", "tanh", "hidden activation", choices=("tanh", "relu")),
        "init_log_std": Field("float", -0.5, "initial log σ of a Gaussian policy (Box actions)"),
    },
    "algo": {
        "weight": Field(
            "str",
            "reward_to_go",
            "what multiplies ∇log π",
            choices=("total_return", "reward_to_go", "gae"),
        ),
        "discount": Field("float", 0.99, "γ", check=unit_interval),
        "gae_lambda": Field("float", 0.95, "λ of GAE", check=unit_interval),
        "baseline": Field("str", "value", "subtracted from the weights", choices=("none", "mean", "value")),
        "normalize_advantages": Field("bool", True, "scale advantages to mean 0, std 1 per batch"),
        "entropy_coef": Field("float", 0.0, "weight of the entropy bonus", check=non_negative),
        "objective": Field(
            "str",
            "reinforce",
            "reinforce: one gradient step per batch; ppo_clip: epochs of minibatch steps on the clipped surrogate",
            choices=("reinforce", "ppo_clip"),
        ),
        "clip": Field("float", 0.2, "ppo_clip: ε, ratios are clipped to [1 − ε, 1 + ε]", check=positive),
        "epochs": Field("int", 10, "ppo_clip: passes over each batch", check=positive),
        "minibatches": Field("int", 8, "ppo_clip: minibatches per epoch", check=positive),
        "target_kl": Field(
            "float",
            None,
            "ppo_clip: stop a batch's epochs once KL(π_old ‖ π) exceeds this",
            nullable=True,
            check=positive,
        ),
        "value": {
            "hidden": Field("ints", [32], "value network hidden sizes", check=all_positive),
            "activation": Field("str", "tanh", "value network activation", choices=("tanh", "relu")),
            "lr": Field("float", 0.01, "value network Adam learning rate", check=positive),
            "steps": Field("int", 20, "Adam steps on the value loss per iteration", check=non_negative),
        },
    },
    "optim": {
        "kind": Field("str", "adam", "policy optimiser", choices=("sgd", "adam", "natural", "trpo")),
        "lr": Field("float", 0.01, "learning rate (sgd, adam)", check=positive),
        "step_size": Field("float", 0.01, "natural, trpo: trust region δ, the KL per update", check=positive),
        "damping": Field("float", 0.001, "natural: λ in (F + λI) x = ĝ", check=non_negative),
        "cg_iters": Field("int", 10, "natural: conjugate-gradient iterations", check=positive),
        "solver": Field("str", "cg", "natural: cg, or exact (forms F; small policies)", choices=("cg", "exact")),
        "backtracks": Field(
            "int", 10, "trpo: line-search halvings of the step before it is rejected", check=non_negative
        ),
    },
    "batch": {
        "episodes": Field(
            "int", None, "whole episodes per iteration (16 if none is set)", nullable=True, check=positive
        ),
        "steps": Field("int", None, "env steps per iteration; episodes carry over", nullable=True, check=positive),
        "min_steps": Field(
            "int", None, "whole episodes until ≥ this many steps (CS285 -b)", nullable=True, check=positive
        ),
    },
    "stop": {
        "iterations": Field("int", 200, "at most this many iterations", nullable=True, check=positive),
        "env_steps": Field("int", 500_000, "at most this many env steps", nullable=True, check=positive),
        "target_return": Field("float", None, "stop when the recent mean return reaches this", nullable=True),
        "target_window": Field("int", 20, "episodes in the recent mean return", check=positive),
    },
    "eval": {
        "every": Field("int", 10, "evaluate every N iterations (0: never)", check=non_negative),
        "episodes": Field("int", 10, "evaluation episodes", check=positive),
        "deterministic": Field("bool", True, "evaluate the mode (argmax / mean) action"),
    },
    "seed": Field("int", 0, "root seed", check=non_negative),
}

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


def batch_size(spec: dict) -> dict:
    """{'episodes': E}, {'steps': S} or {'min_steps': S}: one of them (episodes: 16 if none)."""
    given = {k: v for k, v in spec["batch"].items() if v is not None}
    if len(given) > 1:
        raise SpecError("batch", f"give one of episodes, steps, min_steps, not {' and '.join(given)}")
    return given or {"episodes": DEFAULT_EPISODES}


def validate(spec: dict) -> None:
    """Everything that can be checked before a run starts, including the env's spaces."""
    size = batch_size(spec)
    if size.get("steps", np.inf) < 2 * spec["env"]["num_envs"]:
        # a copy can sit on a reset step every other step: two vector steps give each a transition
        raise SpecError(
            "batch.steps", f"must be ≥ 2 × env.num_envs = {2 * spec['env']['num_envs']}, got {size['steps']}"
        )
    if spec["algo"]["weight"] == "gae" and spec["algo"]["baseline"] != "value":
        raise SpecError("algo.baseline", "gae needs a value function: set algo.baseline: value")
    if spec["algo"]["objective"] == "ppo_clip" and spec["optim"]["kind"] not in ("sgd", "adam"):
        raise SpecError("optim.kind", f"ppo_clip takes first-order steps: sgd or adam, got {spec['optim']['kind']}")
    if spec["stop"]["iterations"] is None and spec["stop"]["env_steps"] is None:
        raise SpecError("stop", "set stop.iterations or stop.env_steps (or both)")
    try:
        env = R.make_env(spec["env"], 1)
    except R.MissingExtra as err:  # `pgcli check` reports the spec as skipped
        raise SpecError("env.id", str(err), extra=err.extra) from None
    except R.EnvError as err:
        raise SpecError("env.id", str(err)) from None
    except Exception as err:  # the env's own constructor rejected its kwargs
        raise SpecError("env", f"cannot make {spec['env']['id']}: {type(err).__name__}: {err}") from None
    try:
        P.make_policy(spec["policy"], env.single_observation_space, env.single_action_space)
    except P.SpaceError as err:
        raise SpecError("env.id", str(err)) from None
    finally:
        env.close()


def budget(stop: dict, iteration: int, env_steps: int) -> tuple[int, int]:
    """(done, total) of the run's budget, in env steps when stop.env_steps is set (else
    iterations): done is the larger of the two fractions used, so the bar fills whichever binds."""
    if stop["env_steps"] is None:
        return iteration, stop["iterations"]
    total = stop["env_steps"]
    used = env_steps if stop["iterations"] is None else max(env_steps, iteration * total / stop["iterations"])
    return min(int(used), total), total


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


def policy_gradient(policy, theta, batch, x, adv_flat, entropy_coef):
    """ĝ, the per-segment terms g_e (E, d), and the mean entropy on the batch states x."""
    actions = R.flatten(batch, batch.actions)
    per_segment, entropy = P.scores(policy, theta, x, actions, adv_flat, R.segment_starts(batch))
    grad = per_segment.mean(0)
    if entropy_coef:
        grad = grad + entropy_coef * P.entropy_grad(policy, theta, x)
    return grad, per_segment, float(entropy.mean())


STREAMS = ("init", "env", "act", "eval", "minibatch")  # one seed, one stream per role


def initial_theta(spec: dict, policy: P.Policy) -> np.ndarray:
    """θ₀ exactly as `run` draws it for this spec and seed."""
    policy_rng = np.random.default_rng(streams(spec["seed"], STREAMS)["init"].spawn(2)[0])
    return P.init_params(policy, policy_rng, spec["policy"]["init_log_std"])


def visited_states(spec: dict, theta: np.ndarray | None, n: int, seed: int = 0):
    """(policy, θ, x): n states visited by the policy (θ₀ of the spec when θ is None)."""
    env = R.make_env(spec["env"], spec["env"]["num_envs"])
    policy = P.make_policy(spec["policy"], env.single_observation_space, env.single_action_space)
    theta = initial_theta(spec, policy) if theta is None else theta
    env_ss, act_ss = np.random.SeedSequence([seed, 0x46495348]).spawn(2)  # 'FISH': its own streams
    env_rng, act_rng = np.random.default_rng(env_ss), np.random.default_rng(act_ss)
    state, states = R.fresh_state(env, env_rng), []
    while sum(len(x) for x in states) < n:  # reset steps are not states visited: collect more
        batch, state = R.collect(env, policy, theta, act_rng, steps=n, state=state)
        states.append(R.flatten(batch, batch.obs))
    env.close()
    return policy, theta, np.concatenate(states)[:n]


def run(spec: dict, progress: Progress = silent):
    """Train; returns (metrics table, info with status, files and notes).

    Overflow on the way to divergence is expected and handled (the run stops as `diverged`),
    so numpy's warnings are silenced rather than printed."""
    with np.errstate(all="ignore"):
        return _run(spec, progress)


def _run(spec, progress):
    start = time.perf_counter()
    init_ss, env_ss, act_ss, eval_ss, minibatch_ss = streams(spec["seed"], STREAMS).values()
    minibatch_rng = np.random.default_rng(minibatch_ss)
    value_rng = np.random.default_rng(init_ss.spawn(2)[1])  # child 0 is θ₀'s: initial_theta
    env_rng, act_rng = np.random.default_rng(env_ss), np.random.default_rng(act_ss)
    eval_env_rng, eval_act_rng = (np.random.default_rng(s) for s in eval_ss.spawn(2))

    algo, stop, ev, optim = spec["algo"], spec["stop"], spec["eval"], spec["optim"]
    backend = R.backend(spec["env"])  # what `auto` chose, in every metrics row
    env = R.make_env(spec["env"], spec["env"]["num_envs"])
    eval_env = None
    if ev["every"]:
        eval_env = R.make_env(spec["env"], min(ev["episodes"], spec["env"]["num_envs"]))
    policy = P.make_policy(spec["policy"], env.single_observation_space, env.single_action_space)
    theta = initial_theta(spec, policy)
    opt_state = adam_init(theta.size)
    optimiser = adam_step if optim["kind"] == "adam" else sgd_step
    use_value = algo["baseline"] == "value"
    value_sizes = [policy.sizes[0], *algo["value"]["hidden"], 1]
    if use_value:
        value_theta, value_opt = A.value_init(value_sizes, value_rng)
    size = batch_size(spec)
    state = R.fresh_state(env, env_rng)
    progress(0, budget(stop, 0, 0)[1])

    rows, recent = [], []
    env_steps = episodes = 0
    status, message = "done", ""
    iteration = 0
    while True:
        if "steps" not in size:  # whole-episode batches start from fresh resets
            state = R.fresh_state(env, env_rng)
        batch, state = R.collect(env, policy, theta, act_rng, state=state, **size)
        env_steps += batch.n_steps
        episodes += batch.episode_returns.size
        recent = (recent + batch.episode_returns.tolist())[-stop["target_window"] :]

        values = next_values = None
        flat_x = R.flatten(batch, batch.obs)
        if use_value:
            flat_next = R.flatten(batch, batch.next_obs)
            both = A.value_predict(
                value_theta,
                value_sizes,
                algo["value"]["activation"],
                np.concatenate([flat_x, flat_next]),
            )
            values = R.scatter(batch, both[: flat_x.shape[0]])
            next_values = R.scatter(batch, both[flat_x.shape[0] :])
        adv_grid, targets = A.weights(batch, algo, values, next_values)
        adv = R.flatten(batch, adv_grid)
        if algo["normalize_advantages"]:
            adv = A.normalise(adv)
        grad, per_segment, entropy = policy_gradient(policy, theta, batch, flat_x, adv, algo["entropy_coef"])
        grad_norm, grad_var, grad_snr = gradient_stats(grad, per_segment)
        if not np.all(np.isfinite(grad)):
            status, message = (
                "diverged",
                f"non-finite policy gradient at iteration {iteration} (try a smaller optim.lr)",
            )
            break
        residual = cond = clip_fraction = backtracks = np.nan
        epochs = 1
        states = flat_x[:: max(1, flat_x.shape[0] // KL_STATES)]  # an even subsample is plenty
        flat_actions = R.flatten(batch, batch.actions)
        flat_targets = R.flatten(batch, targets) if use_value else None
        old_theta = theta
        if algo["objective"] == "ppo_clip":  # the value net is fitted on the same minibatches
            fit = ppo.ValueFit(value_theta, value_opt, value_sizes, algo["value"]["activation"],
                               algo["value"]["lr"], flat_targets) if use_value else None  # fmt: skip
            theta, opt_state, fit, clip_fraction, epochs = ppo.update(
                policy, theta, opt_state, optimiser, optim["lr"], flat_x, flat_actions, adv, minibatch_rng,
                algo=algo, states=states, value=fit,
            )  # fmt: skip
            if use_value:
                value_theta, value_opt = fit.theta, fit.opt
        elif optim["kind"] in ("natural", "trpo"):
            step, residual, cond = N.natural_step(
                policy, theta, flat_x, grad, step_size=optim["step_size"], damping=optim["damping"],
                cg_iters=optim["cg_iters"], solver=optim["solver"],
            )  # fmt: skip
            if np.isnan(cond) and theta.size <= CHEAP_FISHER:
                cond = N.condition_number(np.linalg.eigvalsh(N.fisher_matrix(policy, theta, flat_x)))
            if optim["kind"] == "trpo":
                step, backtracks = trpo.line_search(
                    policy, theta, step, flat_x, flat_actions, adv, states, optim["step_size"], optim["backtracks"]
                )
            theta = theta + step
        else:
            step, opt_state = optimiser(grad, opt_state, optim["lr"])
            theta = theta + step
        kl = N.kl_divergence(policy, old_theta, theta, states) if np.all(np.isfinite(theta)) else np.nan
        if not np.all(np.isfinite(theta)):
            status, message = (
                "diverged",
                f"non-finite policy parameters at iteration {iteration} (try a smaller optim.lr)",
            )
            break

        value_loss = np.nan
        if use_value:
            value_theta, value_opt, value_loss = A.fit_value(
                value_theta, value_opt, value_sizes, algo["value"]["activation"], flat_x,
                flat_targets, algo["value"]["lr"],
                0 if algo["objective"] == "ppo_clip" else algo["value"]["steps"],
            )  # fmt: skip
            if not np.isfinite(value_loss):
                status, message = (
                    "diverged",
                    f"non-finite value loss at iteration {iteration} (try a smaller algo.value.lr)",
                )
                break

        eval_return = np.nan
        if ev["every"] and (iteration + 1) % ev["every"] == 0:
            eval_return = float(
                R.evaluate(
                    eval_env,
                    policy,
                    theta,
                    eval_act_rng,
                    eval_env_rng,
                    ev["episodes"],
                    ev["deterministic"],
                ).mean()
            )
        returns = batch.episode_returns
        has = returns.size > 0
        rows.append(
            (iteration, env_steps, episodes,
             returns.mean() if has else np.nan, returns.std() if has else np.nan,
             returns.min() if has else np.nan, returns.max() if has else np.nan,
             batch.episode_lengths.mean() if has else np.nan,
             np.mean(recent) if len(recent) == stop["target_window"] else np.nan, eval_return,
             grad_norm, grad_var, grad_snr, entropy, value_loss, kl, residual, cond,
             clip_fraction, epochs, backtracks, backend, time.perf_counter() - start)
        )  # fmt: skip
        iteration += 1
        progress(*budget(stop, iteration, env_steps), ret=rows[-1][8])
        why = divergence(kl, value_loss, flat_targets, iteration - 1)
        if why:
            status, message = "diverged", why
            break
        target = stop["target_return"]
        if target is not None and len(recent) == stop["target_window"] and np.mean(recent) >= target:
            break
        if stop["iterations"] is not None and iteration >= stop["iterations"]:
            break
        if stop["env_steps"] is not None and env_steps >= stop["env_steps"]:
            break
    env.close()
    if eval_env is not None:
        eval_env.close()
    files = {"policy.npz": _policy_npz(policy, theta, value_theta if use_value else None, value_sizes)}
    info = {"status": status, "message": message, "files": files}
    return pd.DataFrame(rows, columns=COLUMNS), info


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


def output_columns(spec: dict) -> tuple[list[str], list[str]]:
    """The columns of a run's metrics.csv and of its runs.csv row, known before it runs."""
    return COLUMNS, SUMMARY_COLUMNS


def summary(table: pd.DataFrame, info: dict, spec: dict) -> dict:
    """runs.csv columns: final and best recent return, env steps to the target."""
    window = table["return_window"]
    target = spec["stop"]["target_return"]
    hit = first_reached(window, target) if target is not None else None
    return {
        "final_return": window.iloc[-1] if len(window) else np.nan,
        "best_return": window.max(),
        "env_steps_to_target": table["env_steps"].iloc[hit] if hit is not None else np.nan,
        "env_steps": table["env_steps"].iloc[-1] if len(table) else 0,
    }
