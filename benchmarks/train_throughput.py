"""Env steps per second while training CartPole-v1 ÷ env steps per second of the same vector
env (same num_envs) stepped with random actions, both measured in this run. Goal ≥ 0.5.

Training counts only the env steps that enter trajectories (`env_steps`), so idle copies waiting
for the batch's longest episode count against pgcli, as do the gradient and value updates.

    python benchmarks/train_throughput.py [--spec pgcli/library/cartpole.yaml] [--iterations 30]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from pgcli.rl import rollout as R
from pgcli.rl import train
from pgcli.shell import spec as S

ROOT = Path(__file__).resolve().parents[1]


def random_rate(env_spec: dict, vector_steps: int) -> float:
    env = R.make_env(env_spec, env_spec["num_envs"])
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    n = env.num_envs
    space = env.single_action_space
    if hasattr(space, "n"):
        actions = rng.integers(0, space.n, (vector_steps, n))
    else:
        actions = rng.uniform(space.low, space.high, (vector_steps, n, *space.shape))
    start = time.perf_counter()
    for t in range(vector_steps):
        env.step(actions[t])
    rate = vector_steps * n / (time.perf_counter() - start)
    env.close()
    return rate


def measure(spec_path: str = str(ROOT / "experiments" / "cartpole.yaml"), iterations: int = 30, sets=()) -> list[dict]:
    schema = S.with_sweep(train.SCHEMA)
    spec = S.resolve(schema, S.apply_overrides(S.load_yaml(spec_path), list(sets), schema))
    spec["stop"] = {**spec["stop"], "iterations": iterations, "target_return": None, "env_steps": None}
    spec["eval"] = {**spec["eval"], "every": 0}
    train.run({**spec, "stop": {**spec["stop"], "iterations": 2}})  # warm-up
    table, _ = train.run(spec)
    ours = table["env_steps"].iloc[-1] / table["wall_s"].iloc[-1]
    raw = random_rate(spec["env"], 5000)
    batch = ", ".join(f"{k} {v}" for k, v in train.batch_size(spec).items())
    return [
        {
            "figure": f"train: {spec['env']['id']} env steps/s while training ({batch}, {R.backend(spec['env'])})",
            "value": ours,
            "ratio": ours / raw,
            "reference": f"random actions, {spec['env']['num_envs']} envs: {raw:.4g} env steps/s (goal ratio ≥ 0.5)",
        }
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default=str(ROOT / "experiments" / "cartpole.yaml"))
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--set", dest="sets", action="append", default=[])
    args = parser.parse_args()
    for row in measure(args.spec, args.iterations, args.sets):
        print(f"{row['figure']}: {row['value']:,.0f}   ratio {row['ratio']:.2f}   ({row['reference']})")


if __name__ == "__main__":
    main()
