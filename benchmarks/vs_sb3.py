"""The race: wall-clock and env steps to a target return, pgcli against Stable-Baselines3.

Each task has a target; "reached" is the same test on both sides: the mean undiscounted return
of the last 20 finished *training* episodes ≥ target. Two clocks, both sides with one thread
(OMP/MKL/OpenBLAS threads and torch.set_num_threads), every run its own process, one at a time:

- from the start of learning (pgcli: the training run, its `wall_s` in metrics.csv; SB3:
  `model.learn`, after the model is built) to the target;
- the whole command, as a user times it: from starting the process (imports and environment
  construction included) to the target. pgcli runs as `pgcli train SPEC --seed S` (which stops
  at the target): until the command exits, so its files written too; SB3 until its callback sees
  the target. pgcli runs the best shipped spec per task; SB3 runs PPO (and A2C where the zoo marks it
tuned) with rl-baselines3-zoo's hyperparameters, copied below from hyperparams/ppo.yml and
a2c.yml at DLR-RM/rl-baselines3-zoo commits 208b6fdf3a9aa24de44b2e068c6e5f6a07d97fcc (ppo.yml)
and c6c209e7d487635f0b835fb916ec4468142b28ff (a2c.yml), including VecNormalize where the zoo
sets `normalize` (the episode returns compared are the raw ones, from the Monitor wrapper).

Budgets: pgcli stops at its spec's `stop.env_steps`; SB3 at the zoo's `n_timesteps` (which also
sets the length of its linear schedules). Every run is also capped at --max-seconds of wall-clock
(default 300 s); a run that hits either limit counts as not reached (∞ in the medians).

The peers are never pgcli dependencies; install them in their own environment:

    python3 -m venv /work/peers
    /work/peers/bin/pip install -r benchmarks/requirements-peers.txt -e '.[mujoco,box2d]'
    /work/peers/bin/python benchmarks/vs_sb3.py [--seeds 3] [--tasks CartPole-v1,Pendulum-v1] [--lunar]

Writes one row per task × tool × seed to benchmarks/results-vs-sb3.csv and prints the medians
as the README's table.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
from collections import deque
from pathlib import Path
from typing import NamedTuple

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
INSTALL = "pip install -r benchmarks/requirements-peers.txt -e '.[mujoco,box2d]'"
ONE_THREAD = {v: "1" for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
WINDOW = 20
ZOO_PPO_COMMIT = "208b6fdf3a9aa24de44b2e068c6e5f6a07d97fcc"
ZOO_A2C_COMMIT = "c6c209e7d487635f0b835fb916ec4468142b28ff"


class Task(NamedTuple):
    target: float
    spec: str  # pgcli's best shipped spec for the task
    extra: str | None  # the gymnasium extra it needs
    opt_in: bool = False


TASKS = {
    "CartPole-v1": Task(475, "pgcli/library/cartpole.yaml", None),
    "Acrobot-v1": Task(-100, "pgcli/library/acrobot-ppo.yaml", None),
    "Pendulum-v1": Task(-200, "pgcli/library/pendulum-ppo.yaml", None),
    "InvertedPendulum-v5": Task(950, "pgcli/library/inverted-pendulum-ppo.yaml", "mujoco"),
    "LunarLander-v3": Task(200, "pgcli/library/lunar-lander.yaml", "box2d", opt_in=True),
}

# rl-baselines3-zoo hyperparams/ppo.yml @ 208b6fd. InvertedPendulum-v2 and LunarLander-v2 are the
# zoo's entries for the versions gymnasium 1.x calls -v5 and -v3.
ZOO_PPO = {
    "CartPole-v1": dict(n_envs=8, n_timesteps=1e5, n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98,
                        n_epochs=20, ent_coef=0.0, learning_rate="lin_0.001", clip_range="lin_0.2"),
    "Acrobot-v1": dict(normalize=True, n_envs=16, n_timesteps=1e6, n_steps=256, gae_lambda=0.94, gamma=0.99,
                       n_epochs=4, ent_coef=0.0),
    "Pendulum-v1": dict(n_envs=4, n_timesteps=1e5, n_steps=1024, gae_lambda=0.95, gamma=0.9, n_epochs=10,
                        ent_coef=0.0, learning_rate=1e-3, clip_range=0.2, use_sde=True, sde_sample_freq=4),
    "InvertedPendulum-v5": dict(normalize=True, n_envs=1, n_timesteps=1e6, batch_size=64, n_steps=32,
                                gamma=0.999, learning_rate=0.000222425, ent_coef=1.37976e-07, clip_range=0.4,
                                n_epochs=5, gae_lambda=0.9, max_grad_norm=0.3, vf_coef=0.19816),
    "LunarLander-v3": dict(n_envs=16, n_timesteps=1e6, n_steps=1024, batch_size=64, gae_lambda=0.98,
                           gamma=0.999, n_epochs=4, ent_coef=0.01),
}  # fmt: skip
# a2c.yml @ c6c209e: of these tasks the zoo marks only Pendulum-v1 "# Tuned"
ZOO_A2C = {
    "Pendulum-v1": dict(normalize=True, n_envs=8, n_timesteps=1e6, ent_coef=0.0, max_grad_norm=0.5, n_steps=8,
                        gae_lambda=0.9, vf_coef=0.4, gamma=0.9, use_rms_prop=True, normalize_advantage=False,
                        learning_rate="lin_7e-4", use_sde=True,
                        policy_kwargs=dict(log_std_init=-2, ortho_init=False)),
}  # fmt: skip
COLUMNS = ["task", "target", "tool", "config", "seed", "reached", "env_steps_to_target", "wall_s_to_target",
           "command_s_to_target", "env_steps", "wall_s", "last_window", "budget_env_steps", "threads"]  # fmt: skip


# ---------------------------------------------------------------------------------------------
# one run (in a subprocess)


def run_pgcli(task: str, seed: int) -> dict:
    """The task's spec with its target, as the command line runs it (this process times the
    command); its own `stop.env_steps` is the budget."""
    import csv
    import tempfile

    import yaml

    target = TASKS[task].target
    sets = [f"stop.target_return={target}", f"stop.target_window={WINDOW}", "eval.every=0"]
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "pgcli", "train", str(ROOT / TASKS[task].spec), "--seed", str(seed), "-q",
                   "--results", tmp, "--name", "race", *(a for text in sets for a in ("--set", text))]  # fmt: skip
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **ONE_THREAD}, cwd=tmp)
        command_s = time.perf_counter() - start
        if done.returncode not in (0, 1):  # 1: the run diverged or failed, reported as not reached
            raise RuntimeError(done.stderr)
        (run_dir,) = {path.parent for path in Path(tmp).glob("race/*/metrics.csv")}
        with (run_dir / "metrics.csv").open() as handle:
            rows = list(csv.DictReader(handle))
        budget = yaml.safe_load((run_dir / "config.yaml").read_text())["spec"]["stop"]["env_steps"]
    hit = next((row for row in rows if row["return_window"] and float(row["return_window"]) >= target), None)
    last = rows[-1]
    return {
        "reached": hit is not None,
        "env_steps_to_target": float(hit["env_steps"]) if hit else float("nan"),
        "wall_s_to_target": float(hit["wall_s"]) if hit else float("nan"),
        "command_s_to_target": command_s if hit else float("nan"),
        "env_steps": float(last["env_steps"]),
        "wall_s": float(last["wall_s"]),
        "last_window": float(last["return_window"] or "nan"),
        "budget_env_steps": budget,
        "config": TASKS[task].spec,
        "backend": last["backend"],
    }


def _schedule(value):
    """The zoo's 'lin_X': X times the remaining progress (1 → 0 over n_timesteps)."""
    if isinstance(value, str) and value.startswith("lin_"):
        start = float(value[4:])
        return lambda progress_remaining: progress_remaining * start
    return value


def run_sb3(task: str, seed: int, algo: str, max_seconds: float) -> dict:
    import torch
    from stable_baselines3 import A2C, PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    torch.set_num_threads(1)
    params = dict((ZOO_PPO if algo == "ppo" else ZOO_A2C)[task])
    n_envs, n_timesteps = params.pop("n_envs"), int(params.pop("n_timesteps"))
    normalize = params.pop("normalize", False)
    env = make_vec_env(task, n_envs=n_envs, seed=seed)  # Monitor inside: raw episode returns
    if normalize:
        env = VecNormalize(env, gamma=params.get("gamma", 0.99))
    for key in ("learning_rate", "clip_range"):
        if key in params:
            params[key] = _schedule(params[key])
    model = (PPO if algo == "ppo" else A2C)("MlpPolicy", env, seed=seed, verbose=0, **params)
    target = TASKS[task].target

    class Race(BaseCallback):
        """Stops learning once the mean of the last 20 finished episodes reaches the target."""

        def __init__(self):
            super().__init__()
            self.returns = deque(maxlen=WINDOW)
            self.hit = None

        def _on_step(self) -> bool:
            for info in self.locals["infos"]:
                if "episode" in info:
                    self.returns.append(info["episode"]["r"])
            full = len(self.returns) == WINDOW
            if full and sum(self.returns) / WINDOW >= target:
                self.hit = (self.num_timesteps, time.perf_counter() - start, time.time())
                return False
            return time.perf_counter() - start < max_seconds

    race = Race()
    start = time.perf_counter()
    model.learn(total_timesteps=n_timesteps, callback=race)
    wall = time.perf_counter() - start
    window = sum(race.returns) / len(race.returns) if len(race.returns) == WINDOW else float("nan")
    return {
        "reached": race.hit is not None,
        "env_steps_to_target": float(race.hit[0]) if race.hit else float("nan"),
        "wall_s_to_target": float(race.hit[1]) if race.hit else float("nan"),
        "hit_time": race.hit[2] if race.hit else float("nan"),  # time.time(): the parent subtracts its start
        "env_steps": float(model.num_timesteps),
        "wall_s": wall,
        "last_window": window,
        "budget_env_steps": n_timesteps,
        "config": f"zoo {algo}.yml@{(ZOO_PPO_COMMIT if algo == 'ppo' else ZOO_A2C_COMMIT)[:7]}",
    }


def one(task: str, tool: str, seed: int, max_seconds: float) -> dict:
    """A run of SB3, in its own process (`--one`); pgcli's run is a command the parent times."""
    return run_sb3(task, seed, tool.removeprefix("sb3-"), max_seconds)


def run(task: str, tool: str, seed: int, max_seconds: float) -> dict:
    """One run, in a new process, with both clocks."""
    if tool == "pgcli":
        return run_pgcli(task, seed)
    command = [sys.executable, __file__, "--one", task, tool, str(seed), "--max-seconds", str(max_seconds)]
    start = time.time()
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **ONE_THREAD}, check=False)
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["command_s_to_target"] = result.pop("hit_time") - start
    return result


# ---------------------------------------------------------------------------------------------
# the race (the parent process)


def missing_peers() -> list[str]:
    return [name for name in ("torch", "stable_baselines3") if importlib.util.find_spec(name) is None]


def versions() -> str:
    import gymnasium
    import numpy
    import stable_baselines3
    import torch

    import pgcli

    return (
        f"pgcli {pgcli.__version__}, numpy {numpy.__version__}, gymnasium {gymnasium.__version__}, "
        f"torch {torch.__version__}, stable-baselines3 {stable_baselines3.__version__}, Python {platform.python_version()}"
    )


def plan(tasks: list[str], seeds: int) -> list[tuple[str, str, int]]:
    runs = []
    for task in tasks:
        tools = ["pgcli", "sb3-ppo"] + (["sb3-a2c"] if task in ZOO_A2C else [])
        runs += [(task, tool, seed) for seed in range(seeds) for tool in tools]
    return runs


def median_or_inf(values: list[float]) -> float:
    """Median with unreached runs counted as ∞ (so it is ∞ when half or more did not reach)."""
    ordered = sorted(v if v == v else float("inf") for v in values)
    n = len(ordered)
    return ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2


def summary(rows: list[dict]) -> str:
    """Markdown: per task and tool, runs reached and median seconds and env steps to target."""
    lines = [
        "| task, target | tool (config) | reached | median s to target: learning | whole command | median env steps "
        "to target | SB3 PPO ÷ this: learning s | whole-command s | steps |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["task"], row["tool"]), []).append(row)
    for (task, tool), group in groups.items():
        ppo = groups.get((task, "sb3-ppo"), [])
        figures, ratios = [], []
        for column in ("wall_s_to_target", "command_s_to_target", "env_steps_to_target"):
            ours = median_or_inf([r[column] for r in group])
            theirs = median_or_inf([r[column] for r in ppo]) if ppo else float("nan")
            figures.append(f"{ours:,.0f}" if column == "env_steps_to_target" else f"{ours:.3g}")
            ratios.append(f"{theirs / ours if tool != 'sb3-ppo' else 1.0:.2f}×")
        reached = sum(bool(r["reached"]) for r in group)
        config = group[0]["config"] + (f", {group[0]['backend']}" if group[0].get("backend") else "")
        lines.append(
            f"| {task}, {TASKS[task].target:g} | {tool} ({config}) | {reached}/{len(group)} | "
            f"{' | '.join(figures)} | {' | '.join(ratios)} |"
        )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--tasks", default=None, help="comma-separated ids (default: all but the opt-in ones)")
    parser.add_argument("--lunar", action="store_true", help="also race LunarLander-v3 (minutes per SB3 run)")
    parser.add_argument("--max-seconds", type=float, default=300.0, help="wall-clock cap per run")
    parser.add_argument("--out", default=str(HERE / "results-vs-sb3.csv"))
    parser.add_argument("--one", nargs=3, metavar=("TASK", "TOOL", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    missing = missing_peers()
    if missing:
        print(f"Error: the peers are not installed ({', '.join(missing)} missing); install them with: {INSTALL}",
              file=sys.stderr)  # fmt: skip
        sys.exit(2)
    if args.one:
        task, tool, seed = args.one
        print(json.dumps(one(task, tool, int(seed), args.max_seconds)))
        return
    tasks = args.tasks.split(",") if args.tasks else [t for t, v in TASKS.items() if not v.opt_in or args.lunar]
    unknown = [t for t in tasks if t not in TASKS]
    if unknown or args.seeds < 1:
        print(f"Error: --tasks: unknown {unknown} (allowed: {', '.join(TASKS)})" if unknown
              else "Error: --seeds must be ≥ 1", file=sys.stderr)  # fmt: skip
        sys.exit(2)
    for task in list(tasks):
        extra = TASKS[task].extra
        if extra and importlib.util.find_spec({"mujoco": "mujoco", "box2d": "Box2D"}[extra]) is None:
            print(f"skipping {task}: needs the {extra} extra (pip install -e '.[{extra}]')", file=sys.stderr)
            tasks.remove(task)
    import pandas as pd

    from pgcli.shell import atomic

    rows = []
    for task, tool, seed in plan(tasks, args.seeds):
        try:
            result = run(task, tool, seed, args.max_seconds)
        except RuntimeError as err:
            print(err, file=sys.stderr)
            sys.exit(1)
        row = {"task": task, "target": TASKS[task].target, "tool": tool, "seed": seed, "threads": 1, **result}
        rows.append(row)
        print(f"{task:20s} {tool:8s} seed {seed}: reached={row['reached']!s:5s} "
              f"{row['wall_s_to_target']:8.2f} s learning, {row['command_s_to_target']:8.2f} s whole command, "
              f"{row['env_steps_to_target']:>9,.0f} steps (ran {row['wall_s']:.1f} s, {row['env_steps']:,.0f} steps)",
              flush=True)  # fmt: skip
    table = pd.DataFrame(rows)[COLUMNS]
    table["date"] = datetime.date.today().isoformat()
    table["machine"] = f"{platform.machine()}, {os.cpu_count()} cores"
    table["versions"] = versions()
    atomic.write_csv(args.out, table)
    print(f"wrote {args.out}\n\n{table['machine'].iloc[0]}; {versions()}\n")
    print(summary(rows))


if __name__ == "__main__":
    main()
