"""Tiny real results for the report's tests (tests/shell/test_report.py, tests/shell/test_browser.py): a train
sweep of CartPole-v1 (2 baselines × 3 seeds, 4 iterations, an expect: block with one PASS and one
FAIL) and an estimate run, made with the command line in a few seconds."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import invoke

TRAIN_SPEC = """\
kind: train
name: tiny-train
env: {id: CartPole-v1, num_envs: 2}
batch: {episodes: 4}
stop: {iterations: 4}
eval: {every: 0}
sweep:
  grid:
    algo.baseline: [none, value]
  seeds: 3
expect:
  - {name: every run ends with a positive return, metric: return_mean, at: final, agg: min, ">": 0}
  - {name: no run scores 1000, metric: return_mean, at: final, agg: max, ">=": 1000, source: impossible by design}
"""


def run(root: Path, *args) -> None:
    """A pgcli command writing under `root` (exit 0, or 1 when a run did not finish)."""
    result = invoke(*args, "--results", root, "-q")
    assert result.exit_code in (0, 1), result.output


def make(root: Path, spec_text: str = TRAIN_SPEC) -> Path:
    """root/tiny-train (the spec file beside root) and root/tiny-estimate; returns root."""
    spec = root.parent / f"{root.name}-tiny-train.yaml"
    spec.write_text(spec_text)
    run(root, "train", spec)
    run(root, "estimate", "--dist", "gaussian", "--f", "step", "--n", "10,100", "--reps", "20",
        "--theta", "mu=-1:1:3", "--estimators", "score,score_loo,pathwise", "--name", "tiny-estimate")  # fmt: skip
    return root
