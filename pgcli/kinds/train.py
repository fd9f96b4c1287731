"""The `train` kind: policy gradients on gymnasium environments — REINFORCE, the natural gradient,
PPO and TRPO (pgcli.rl.train) — and the Fisher matrix of a trained policy (`fisher --policy`)."""

from __future__ import annotations

import io

from pgcli.base.fields import Field, SpecError, between, sizes, typed, unit_interval
from pgcli.kinds import Flag, Kind, PlotDefaults, Result, Shown, Target, Tool, runs_table
from pgcli.rl import settings

SCHEMA = {
    "env": {
        "id": Field(
            "str",
            "CartPole-v1",
            "gymnasium id, or 'package.module:EnvClass' (a gymnasium.Env subclass)",
            refs=settings.references,
        ),
        "num_envs": Field(
            "int", 16, f"parallel env copies (one vector env), at most {settings.MAX_ENVS}", check=settings.envs_problem
        ),
        "kwargs": Field("mapping", {}, "keyword arguments for the env"),
        "max_episode_steps": Field(
            "int",
            None,
            "time limit (default: the env's own)",
            nullable=True,
            check=between(1, settings.MAX_EPISODE_STEPS),
        ),
        "backend": Field(
            "str",
            "gymnasium",
            "vector env engine; auto: envpool if installed and it has the id (no native gymnasium one)",
            choices=settings.BACKENDS,
        ),
    },
    "policy": {
        "kind": Field("str", "mlp", "network", choices=("mlp", "linear")),
        "hidden": Field(
            "ints",
            [32],
            "hidden layer sizes (mlp)",
            check=sizes(1, settings.MAX_HIDDEN, settings.MAX_LAYERS),
        ),
        "activation": Field("str", "tanh", "hidden activation", choices=("tanh", "relu")),
        "init_log_std": Field("float", -0.5, "initial log σ of a Gaussian policy (Box actions)", check=between(-20, 5)),
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
        "entropy_coef": Field("float", 0.0, "weight of the entropy bonus", check=between(0, 1e6)),
        "objective": Field(
            "str",
            "reinforce",
            "reinforce: one gradient step per batch; ppo_clip: epochs of minibatch steps on the clipped surrogate",
            choices=("reinforce", "ppo_clip"),
        ),
        "clip": Field(
            "float", 0.2, "ppo_clip: ε, ratios are clipped to [1 − ε, 1 + ε]", check=between(0, 1, above=True)
        ),
        "epochs": Field("int", 10, "ppo_clip: passes over each batch", check=between(1, settings.MAX_EPOCHS)),
        "minibatches": Field("int", 8, "ppo_clip: minibatches per epoch", check=between(1, settings.MAX_MINIBATCHES)),
        "target_kl": Field(
            "float",
            None,
            "ppo_clip: stop a batch's epochs once KL(π_old ‖ π) exceeds this",
            nullable=True,
            check=between(0, 100, above=True),
        ),
        "value": {
            "hidden": Field(
                "ints", [32], "value network hidden sizes", check=sizes(1, settings.MAX_HIDDEN, settings.MAX_LAYERS)
            ),
            "activation": Field("str", "tanh", "value network activation", choices=("tanh", "relu")),
            "lr": Field("float", 0.01, "value network Adam learning rate", check=between(0, 10, above=True)),
            "steps": Field(
                "int", 20, "Adam steps on the value loss per iteration", check=between(0, settings.MAX_VALUE_STEPS)
            ),
        },
    },
    "optim": {
        "kind": Field("str", "adam", "policy optimiser", choices=("sgd", "adam", "natural", "trpo")),
        "lr": Field("float", 0.01, "learning rate (sgd, adam)", check=between(0, 10, above=True)),
        "step_size": Field(
            "float", 0.01, "natural, trpo: trust region δ, the KL per update", check=between(0, 10, above=True)
        ),
        "damping": Field("float", 0.001, "natural: λ in (F + λI) x = ĝ", check=between(0, 1e6)),
        "cg_iters": Field("int", 10, "natural: conjugate-gradient iterations", check=between(1, settings.MAX_CG_ITERS)),
        "solver": Field("str", "cg", "natural: cg, or exact (forms F; small policies)", choices=("cg", "exact")),
        "backtracks": Field(
            "int",
            10,
            "trpo: line-search halvings of the step before it is rejected",
            check=between(0, settings.MAX_BACKTRACKS),
        ),
    },
    "batch": {
        "episodes": Field(
            "int",
            None,
            "whole episodes per iteration (16 if none is set)",
            nullable=True,
            check=between(1, settings.MAX_BATCH_EPISODES),
        ),
        "steps": Field(
            "int",
            None,
            "env steps per iteration; episodes carry over",
            nullable=True,
            check=between(1, settings.MAX_BATCH_STEPS),
        ),
        "min_steps": Field(
            "int",
            None,
            "whole episodes until ≥ this many steps (CS285 -b)",
            nullable=True,
            check=between(1, settings.MAX_BATCH_STEPS),
        ),
    },
    "stop": {
        "iterations": Field(
            "int", 200, "at most this many iterations", nullable=True, check=between(1, settings.MAX_ITERATIONS)
        ),
        "env_steps": Field(
            "int", 500_000, "at most this many env steps", nullable=True, check=between(1, settings.MAX_ENV_STEPS)
        ),
        "target_return": Field("float", None, "stop when the recent mean return reaches this", nullable=True),
        "target_window": Field("int", 20, "episodes in the recent mean return", check=between(1, settings.MAX_WINDOW)),
    },
    "eval": {
        "every": Field("int", 10, "evaluate every N iterations (0: never)", check=between(0, settings.MAX_ITERATIONS)),
        "episodes": Field("int", 10, "evaluation episodes", check=between(1, settings.MAX_EVAL_EPISODES)),
        "deterministic": Field("bool", True, "evaluate the mode (argmax / mean) action"),
    },
}


def run(spec: dict, progress) -> Result:
    from pgcli.rl import train  # gymnasium: only when training

    table, info = train.run(typed(settings.Settings, spec), progress)
    return Result(table, info["status"], info["message"], (), info["files"])


def validate(spec: dict) -> None:
    from pgcli.rl import train

    train.validate(typed(settings.Settings, spec))


def summary(table, spec: dict) -> dict:
    from pgcli.rl import train

    return train.summary(table, typed(settings.StopSettings, spec["stop"]))


def show(shown: Shown) -> str:
    """One run in one line; a sweep's runs as a table."""
    if shown.n_runs == 1:
        return run_line(shown.spec, shown.runs.rows[0])
    columns = ["label", "status", "final_return", "best_return", "env_steps_to_target", "env_steps", "wall_s"]
    return runs_table(shown.runs, columns, digits=5)


def run_line(spec: dict, row: dict) -> str:
    """One run (its runs.csv row) in one line: how it ended, its recent return, the target, the
    budget used."""
    window = spec["stop"]["target_window"]
    text = f"{spec['env']['id']} {row['label']}: {row['status']}"
    if _given(row.get("final_return")):
        text += f", mean return of the last {window} episodes {row['final_return']:.5g} (best {row['best_return']:.5g})"
    target = spec["stop"]["target_return"]
    if target is not None and "env_steps_to_target" in row:
        steps = row["env_steps_to_target"]
        text += f", target {target:g} " + (f"reached after {steps:,.0f} env steps" if _given(steps) else "not reached")
    if _given(row.get("env_steps")):
        text += f"; {row['env_steps']:,.0f} env steps"
    return text + (f" in {row['wall_s']:.1f} s" if _given(row.get("wall_s")) else "")


def _given(value) -> bool:
    """A cell that is not empty (None or NaN)."""
    from pgcli.base.table import missing

    return not missing(value)


def policy_fisher(spec: dict, files: dict, options: dict):
    """F = E_s E_a[∇θ log π(a|s) ∇θ log π(a|s)ᵀ] of a run's policy (its trained θ from policy.npz,
    else θ₀) on `states` states it visits (pgcli.rl.natural.policy_fisher): (table, three lines)."""
    import pandas as pd

    from pgcli.rl import natural, train

    run_settings = typed(settings.Settings, spec)
    theta = _trained_theta(files.get("policy.npz"))
    network, theta, x = train.visited_states(run_settings, theta, options["states"], seed=run_settings.seed)
    rows, eigenvalues = natural.policy_fisher(network, theta, x)
    table = pd.DataFrame(rows, columns=natural.POLICY_FISHER_COLUMNS)
    scalars = table[table["row"] == ""]  # the scalar quantities; eigenvalues and entries have a row
    value = dict(zip(scalars["quantity"], scalars["value"], strict=True))
    source = "trained" if "policy.npz" in files else "initial (untrained)"
    top = ", ".join(f"{v:.3g}" for v in eigenvalues[:5])
    lines = (
        f"Fisher matrix of the {source} {spec['env']['id']} policy (seed {spec['seed']}, {options['run_dir']}) "
        f"on {x.shape[0]} visited states\n"
        f"parameters {value['n_params']:.0f}, rank {value['rank']:.0f}, "
        f"condition number {value['condition_number']:.4g} "
        f"(nonzero spectrum {value['condition_number_nonzero']:.4g}), trace {value['trace']:.4g}\n"
        f"largest eigenvalues: {top}; smallest: {eigenvalues[-1]:.3g}"
    )
    return table, lines


def _trained_theta(data: bytes | None):
    """θ from a run's policy.npz (None without one); SpecError when it is not a readable policy."""
    import zipfile

    import numpy as np

    if data is None:
        return None
    try:
        return np.load(io.BytesIO(data))["theta"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
        raise SpecError("--policy", f"policy.npz is not a readable policy: {type(err).__name__}") from None


def budget(spec: dict) -> tuple[int, str]:
    """The env steps (or iterations) a run does at most: pgcli.rl.train.budget before it starts."""
    typed_settings = typed(settings.Settings, spec)
    _, total, unit = settings.budget(typed_settings.stop, typed_settings.batch, 0, 0)
    return total, unit


def algorithm(spec: dict) -> str:
    """The algorithm a spec runs: ppo (algo.objective: ppo_clip), natural, trpo, or reinforce."""
    if spec["algo"]["objective"] == "ppo_clip":
        return "ppo"
    return spec["optim"]["kind"] if spec["optim"]["kind"] in ("natural", "trpo") else "reinforce"


KIND = Kind(
    name="train",
    help="""Train a policy on a gymnasium environment: REINFORCE, natural gradient, TRPO or PPO.

    REINFORCE by default; the natural policy gradient (optim.kind: natural), TRPO (optim.kind:
    trpo) or PPO-clip (algo.objective: ppo_clip) by the spec — the library's cartpole-natural,
    cartpole-trpo and cartpole-ppo show each.

    \b
    Examples:
      pgcli train cartpole
      pgcli train cartpole --set optim.lr=0.02 --seed 3
      pgcli train --set env.id=Acrobot-v1 --set stop.iterations=100
      pgcli train pendulum --print-spec
    """,
    schema=SCHEMA,
    subject=lambda spec: f"{spec['env']['id']}-{algorithm(spec)}",
    validate=validate,
    run=run,
    budget=budget,
    table="metrics.csv",
    columns=lambda spec: _columns(),
    summary=summary,
    summary_columns=lambda spec: ["final_return", "best_return", "env_steps_to_target", "env_steps"],
    target=Target("return_window", "env_steps", stops_at="stop.target_return"),
    plot=PlotDefaults(figure="convergence", signature="iteration", x="env_steps", y="return_mean"),
    show=show,
    light=True,
    tools=(
        Tool(
            command="fisher",
            trigger=Flag(("--policy",), None, "A train run directory or train spec: the policy's Fisher matrix."),
            flags=(
                Flag(
                    ("--states",),
                    None,
                    "With --policy: states visited by the policy.",
                    "count",
                    default=1000,
                    bounds=(1, lambda: settings.MAX_STATES),
                ),
            ),
            table="policy_fisher.csv",
            run=policy_fisher,
        ),
    ),
)


def _columns() -> list[str]:
    from pgcli.rl.train import COLUMNS

    return COLUMNS
