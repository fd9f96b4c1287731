"""Env steps per second while training ÷ env steps per second of the same backend and number of
copies stepped with random actions, both measured in this run. Goals (issue 27): ≥ 0.5 for the
REINFORCE specs, ≥ 0.3 for the PPO specs.

Training runs as the command line runs it (`pgcli train SPEC --seed 0 --set stop.iterations=N`,
no target, no evaluation), and its rate is read from metrics.csv after `--warm-up` iterations:
(env_steps[N−1] − env_steps[w−1]) / (wall_s[N−1] − wall_s[w−1]). Training counts only the env steps
that enter trajectories, so copies idling while a whole-episode batch's longest episode ends count
against it, as do the policy and value updates.

    python benchmarks/train_throughput.py --spec acrobot-ppo [--set env.backend=envpool]
        [--iterations 20] [--repeats 3] [--before DIR]

--before DIR times the training with another pgcli source tree first on PYTHONPATH too (see
benchmarks/startup.py), interleaved with this one's; both against the random-action rate measured
in between. Prints medians over --repeats with their range.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from startup import PGCLI, environment

ROOT = Path(__file__).resolve().parents[1]


def env_settings(spec: str, sets: list[str]):
    """The spec's EnvSettings (with --set applied), as the train kind types them; `spec` a spec file
    or a bundled spec's name, as `pgcli train SPEC` takes it."""
    from pgcli.base.fields import typed
    from pgcli.rl import settings
    from pgcli.shell import library
    from pgcli.shell.experiment import build_spec

    path = library.find(spec)
    if path is None:
        raise SystemExit(f"no such spec file or bundled spec: {spec}")
    return typed(settings.EnvSettings, build_spec("train", str(path), {}, sets, 0, None)["env"])


def random_rate(env, vector_steps: int = 3000) -> float:
    """Env steps per second of the spec's vector env (its backend, its copies), random actions."""
    from pgcli.rl import rollout

    vector_env = rollout.make_env(env, env.num_envs)
    rng = np.random.default_rng(0)
    vector_env.reset(seed=0)
    space, n = vector_env.single_action_space, vector_env.num_envs
    if hasattr(space, "n"):
        actions = rng.integers(0, space.n, (vector_steps, n))
    else:
        actions = rng.uniform(space.low, space.high, (vector_steps, n, *space.shape)).astype(space.dtype)
    start = time.perf_counter()
    for t in range(vector_steps):
        vector_env.step(actions[t])
    rate = vector_steps * n / (time.perf_counter() - start)
    vector_env.close()
    return rate


def training_rate(spec: str, sets: list[str], iterations: int, warm_up: int, source: str | None, results: Path):
    """Env steps per second of training after the warm-up iterations, read from metrics.csv."""
    entry = [str(PGCLI)] if PGCLI.is_file() else [sys.executable, "-m", "pgcli"]
    overrides = [f"stop.iterations={iterations}", "stop.env_steps=null", "stop.target_return=null", "eval.every=0"]
    command = [*entry, "train", spec, "--seed", "0", "-q", "--results", str(results), "--name", "throughput"]
    for text in [*sets, *overrides]:
        command += ["--set", text]
    subprocess.run(command, check=True, capture_output=True, env=environment(source))
    (table,) = results.glob("throughput/*/metrics.csv")  # the run directory, not the summary
    with table.open() as handle:
        rows = list(csv.DictReader(handle))
    first, last = rows[warm_up - 1], rows[-1]
    steps = float(last["env_steps"]) - float(first["env_steps"])
    return steps / (float(last["wall_s"]) - float(first["wall_s"]))


def measure(spec: str, sets=(), iterations: int = 20, warm_up: int = 3, repeats: int = 3, before: str | None = None):
    """{'random': [...], 'after': [...], 'before': [...]}: env steps/s per repetition, interleaved."""
    sets = list(sets)
    env = env_settings(spec, sets)
    sources = {"after": None, **({"before": before} if before else {})}
    rates: dict[str, list[float]] = {"random": [], **{name: [] for name in sources}}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(repeats):
            rates["random"].append(random_rate(env))
            for name, source in sources.items():
                results = Path(tmp) / f"{name}-{repeat}"
                rates[name].append(training_rate(spec, sets, iterations, warm_up, source, results))
    return rates


def rows(spec: str = "cartpole", sets=(), **options) -> list[dict]:
    """The figure as a row of benchmarks/results.csv (run_all.py)."""
    rates = measure(spec, sets, **options)
    random, ours = statistics.median(rates["random"]), statistics.median(rates["after"])
    return [
        {
            "figure": f"train: {Path(spec).name} {' '.join(sets)} env steps/s while training",
            "value": ours,
            "ratio": ours / random,
            "reference": f"random actions, same backend and copies: {random:.4g} env steps/s (goal ratio ≥ 0.5 "
            "REINFORCE, ≥ 0.3 PPO)",
        }
    ]


def text(values: list[float]) -> str:
    return f"{statistics.median(values):,.0f} ({min(values):,.0f}–{max(values):,.0f})"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="cartpole")
    parser.add_argument("--set", dest="sets", action="append", default=[])
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--warm-up", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--before", default=None, help="another pgcli source tree, timed interleaved")
    args = parser.parse_args()
    rates = measure(args.spec, args.sets, args.iterations, args.warm_up, args.repeats, args.before)
    random = statistics.median(rates["random"])
    print(f"{Path(args.spec).name} {' '.join(args.sets)}: random actions {text(rates['random'])} env steps/s")
    for name in rates.keys() - {"random"}:
        ratios = [r / random for r in rates[name]]
        print(f"  training ({name}): {text(rates[name])} env steps/s, ratio {statistics.median(ratios):.2f} "
              f"({min(ratios):.2f}–{max(ratios):.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
