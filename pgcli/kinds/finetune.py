"""The `finetune` kind: fine-tune a sequence policy — maximise J_β = E[R] − β KL(π ‖ π_ref) with any
of the estimators of LLM fine-tuning, groups of G completions per prompt, Adam and optional
PPO-clip epochs (pgcli.seq.finetune). π_ref is the initial policy.

One row per step (finetune.csv, pgcli.seq.finetune.COLUMNS): the batch's mean reward, the exact
objective, E[R] and KL where the space is enumerable, the gradient's variance and SNR, its cosine to
the exact gradient, sequences/s. runs.csv: the final and best mean reward (trailing mean over
WINDOW steps), the final exact values, and the steps, sequences and seconds until `target.metric`
first reached `target.value`. The final θ and θ_ref are the run's policy.npz.
"""

from __future__ import annotations

import io

from pgcli.base.fields import Field, SpecError, open_unit
from pgcli.kinds import Flag, Kind, PlotDefaults, Result, Shown, Target, runs_table, seqtask
from pgcli.seq.estimators import ESTIMATORS, group_problem

MAX_STEPS = 10**6
MAX_PARAMS = 10**7  # θ, Adam's two moments and the B per-group gradient terms are held in memory
MAX_TERMS = 1 << 26  # B × d: the per-group gradient terms (grad_var, grad_snr)
WINDOW = 10  # steps in final_reward and best_reward's trailing mean of mean_reward
TARGET_METRICS = ("mean_reward", "reward_exact", "objective")
EXACT_METRICS = ("reward_exact", "objective")

SCHEMA = {
    **seqtask.SCHEMA,
    "estimator": Field("str", "rloo", "policy-gradient estimator", choices=tuple(ESTIMATORS)),
    "group_size": seqtask.GROUP_SIZE,
    "n_groups": seqtask.N_GROUPS,
    "steps": Field("int", 200, "Adam steps (one batch each)", check=seqtask.within(0, MAX_STEPS)),
    "lr": Field(
        "float", 0.05, "Adam's learning rate", check=lambda v: None if 0 < v <= 100 else f"must be in (0, 100], got {v}"
    ),
    "ppo": {
        "epochs": Field(
            "int",
            1,
            "passes over each batch: 1 plain steps; E > 1 adds E − 1 PPO-clip steps",
            check=seqtask.within(1, 100),
        ),
        "clip": Field("float", 0.2, "PPO-clip ε: ratios clipped to [1 − ε, 1 + ε_high]", check=open_unit),
        "clip_high": Field(
            "float", None, "ε_high (DAPO's clip-higher; default ε)", nullable=True, check=seqtask.within(1e-9, 10)
        ),
    },
    "exact_every": Field(
        "int",
        1,
        "exact columns every N steps and at the last (0: never; blank when the space is too large)",
        check=seqtask.within(0, MAX_STEPS),
    ),
    "target": {
        "metric": Field(
            "str",
            "mean_reward",
            "the column compared with target.value (exact ones: enumerable spaces)",
            choices=TARGET_METRICS,
        ),
        "value": Field(
            "float", None, "the value to reach: runs.csv's step_to_target (and check, plot --table)", nullable=True
        ),
    },
}


def settings(spec: dict):
    from pgcli.seq import finetune

    ppo = spec["ppo"]
    return finetune.Settings(spec["estimator"], spec["group_size"], spec["n_groups"], spec["steps"], spec["lr"],
                             seqtask.penalty(spec), ppo["epochs"], ppo["clip"], ppo["clip_high"],
                             spec["exact_every"])  # fmt: skip


def validate(spec: dict) -> None:
    """Sizes, the estimator's group need, the work (sampled and enumerated), the target's column,
    then the reward (probed once)."""
    from pgcli.seq import finetune, policy
    from pgcli.seq.space import exact_problem, space_size

    task = seqtask.make(spec)
    pol, b = task.policy, spec["n_groups"]
    if problem := group_problem(spec["estimator"], spec["group_size"]):
        raise SpecError("group_size", problem)
    if problem := finetune.settings_problem(settings(spec)):
        raise SpecError("", problem)
    if (d := policy.n_params(pol)) > MAX_PARAMS:
        raise SpecError("policy", f"θ has d = {d:,} coordinates; the limit is {MAX_PARAMS:,} (lower task.vocab, "
                                  "task.max_len, task.prompts or policy.hidden)")  # fmt: skip
    if b * d > MAX_TERMS:
        raise SpecError("n_groups", f"B × d = {b:,} × {d:,} per-group gradient terms; the limit is {MAX_TERMS:,}")
    seqtask.check_sizes(pol, spec["group_size"], b)
    tokens = spec["steps"] * b * spec["group_size"] * pol.max_len * spec["ppo"]["epochs"]
    seqtask.check_work(tokens, "steps", "steps × n_groups × group_size × max_len × ppo.epochs")
    exact = exact_problem(pol.n_prompts, pol.vocab, pol.max_len)
    if exact is None and spec["exact_every"]:
        checks = spec["steps"] // spec["exact_every"] + 2
        enumerated = checks * pol.n_prompts * space_size(pol.vocab, pol.max_len) * pol.max_len
        seqtask.check_work(enumerated, "exact_every", "exact columns × P × Σ_l V^l × max_len")
    metric = spec["target"]["metric"]
    if metric in EXACT_METRICS and (exact or not spec["exact_every"]):
        why = exact or "exact_every is 0"
        raise SpecError("target.metric", f"{metric} is computed only on enumerable spaces ({why}); use mean_reward")
    seqtask.probe(task)


def run(spec: dict, progress) -> Result:
    import numpy as np
    import pandas as pd

    from pgcli.seq import exact, finetune
    from pgcli.seq.space import exact_problem

    task = seqtask.make(spec)
    pol = task.policy
    rows, thetas = [], []
    for step in finetune.finetune(pol, task.reward, settings(spec), spec["seed"], progress=progress):
        rows.append(step.row)
        thetas = [*thetas[:1], step.theta]  # θ_0 (= θ_ref) and the latest
    theta = thetas[-1]
    notes, status, message = [], "done", ""
    if problem := exact_problem(pol.n_prompts, pol.vocab, pol.max_len):
        notes.append(problem)
    else:
        notes.append(f"the best E[R] over all policies is {exact.best_reward(pol, task.reward):.6g} (exact)")
    if not np.all(np.isfinite(theta)):
        status, message = "diverged", f"θ is not finite at step {rows[-1]['step']} (lower lr)"
    table = pd.DataFrame(rows, columns=finetune.COLUMNS)
    buffer = io.BytesIO()
    np.savez(buffer, theta=theta, theta_ref=thetas[0])
    return Result(table, status, message, tuple(notes), {"policy.npz": buffer.getvalue()})


SUMMARY_COLUMNS = ["final_reward", "best_reward", "final_reward_exact", "final_objective", "final_kl",
                   "step_to_target", "sequences_to_target", "wall_s_to_target", "sequences"]  # fmt: skip


def summary(table, spec: dict) -> dict:
    """runs.csv's columns of one run (module docstring); blank where there is nothing to say."""
    import numpy as np

    from pgcli.base.targets import first_reached

    def last(column):
        values = table[column].dropna()
        return float(values.iloc[-1]) if len(values) else np.nan

    window = table["mean_reward"].rolling(WINDOW, min_periods=1).mean()
    out = {
        "final_reward": float(window.iloc[-1]), "best_reward": float(window.max()),
        "final_reward_exact": last("reward_exact"), "final_objective": last("objective"), "final_kl": last("kl"),
        "step_to_target": np.nan, "sequences_to_target": np.nan, "wall_s_to_target": np.nan,
        "sequences": float(table["sequences"].iloc[-1]),
    }  # fmt: skip
    value = spec["target"]["value"]
    hit = None if value is None else first_reached(table[spec["target"]["metric"]], value)
    if hit is not None:
        out.update({f"{x}_to_target": float(table[x].iloc[hit]) for x in ("step", "sequences", "wall_s")})
    return out


def show(shown: Shown) -> str:
    """One run in one line; a sweep's runs as a table."""
    if shown.n_runs == 1:
        return run_line(shown.spec, shown.runs.rows[0])
    columns = ["label", "status", "final_reward", "best_reward", "final_reward_exact", "final_objective",
               "step_to_target", "wall_s_to_target", "wall_s"]  # fmt: skip
    return runs_table(shown.runs, columns, digits=4, drop_empty=True)


def run_line(spec: dict, row: dict) -> str:
    """How the run (its runs.csv row) ended, its recent mean reward, the exact E[R] and objective,
    the target."""
    from pgcli.base.table import missing

    text = f"{seqtask.subject(spec)} {spec['estimator']} {row['label']}: {row['status']}"
    if not missing(row.get("final_reward")):
        text += f", mean reward of the last {WINDOW} steps {row['final_reward']:.4g} (best {row['best_reward']:.4g})"
    if not missing(row.get("final_reward_exact")):
        text += f", E[R] {row['final_reward_exact']:.4g}"
        if spec["beta"] > 0:
            text += f", objective {row['final_objective']:.4g} (KL {row['final_kl']:.4g})"
    target = spec["target"]["value"]
    if target is not None:
        steps = row.get("step_to_target")
        text += f"; {spec['target']['metric']} {target:g} " + (
            f"reached at step {steps:.0f}" if not missing(steps) else "not reached"
        )
    return text + (f"; {spec['steps']} steps in {row['wall_s']:.1f} s" if not missing(row["wall_s"]) else "")


KIND = Kind(
    name="finetune",
    help="""Fine-tune a sequence policy: maximise E[R] − β KL(π ‖ π_ref) with any estimator.

    Groups of G completions per prompt, Adam, optional PPO-clip epochs; exact E[R],
    objective, KL and the cosine to the exact gradient where the space is enumerable.

    \b
    Examples:
      pgcli finetune --reward count --estimator rloo --steps 100
      pgcli finetune finetune-target --jobs 2
      pgcli finetune --estimator grpo --set-grid group_size=4,8 --set sweep.seeds=3 --jobs 2
      pgcli finetune --policy mlp --vocab 16 --max-len 12 --exact-every 0
    """,
    schema=SCHEMA,
    subject=seqtask.subject,
    validate=validate,
    run=run,
    budget=lambda spec: (spec["steps"] + 1, "steps"),
    table="finetune.csv",
    columns=lambda spec: _columns(),
    summary=summary,
    summary_columns=lambda spec: SUMMARY_COLUMNS,
    wall_clock=("sequences_per_s", "wall_s"),
    target=Target("mean_reward", "sequences", choose=lambda spec: spec["target"]["metric"]),
    plot=PlotDefaults(
        figure="convergence",
        signature="kl_estimate",
        x="step",
        y="mean_reward",
        x_axes=("sequences",),
        axis_labels={
            "sequences": "sequences sampled",
            "mean_reward": "mean reward of the batch",
            "mean_length": "mean completion length",
            "reward_exact": "E[R] (exact)",
            "objective": "E[R] − β KL (exact)",
            "kl": "KL(π ‖ π_ref) (exact)",
            "kl_estimate": "KL(π ‖ π_ref), batch k1 estimate",
            "cosine": "cosine(ĝ, exact ∇J_β)",
            "grad_var": "gradient variance tr Cov(g_b) / B (per-group terms)",
            "grad_snr": "gradient SNR ‖ĝ‖² / grad_var",
            "clip_fraction": "PPO: share of tokens clipped",
            "sequences_per_s": "sequences per second",
        },
    ),
    flags=(
        *seqtask.flags(),
        Flag(("--estimator",), "estimator", "Policy-gradient estimator.", "choice", names=lambda: ESTIMATORS),
        Flag(("--group-size",), "group_size", "G completions per prompt.", "int"),
        Flag(("--n-groups",), "n_groups", "B prompts per step.", "int"),
        Flag(("--steps",), "steps", "Adam steps.", "int"),
        Flag(("--lr",), "lr", "Adam's learning rate."),
        Flag(("--epochs",), "ppo.epochs", "Passes over each batch (> 1: PPO-clip).", "int"),
        Flag(("--clip",), "ppo.clip", "PPO-clip ε."),
        Flag(("--exact-every",), "exact_every", "Exact columns every N steps (0: never).", "int"),
        Flag(("--target",), "target.value", "The value of target.metric to reach (runs.csv: step_to_target)."),
        Flag(("--target-metric",), "target.metric", "Compared with --target.", "choice", names=lambda: TARGET_METRICS),
    ),
    show=show,
    api=("reward", "estimator"),
)


def _columns() -> list[str]:
    from pgcli.seq.finetune import COLUMNS

    return COLUMNS
