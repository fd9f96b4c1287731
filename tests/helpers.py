"""Shared test helpers: invoking the CLI, checking the bad-input contract, replaying rollouts."""

from pathlib import Path

import numpy as np
from click.testing import CliRunner

from pgcli.shell.cli import cli


def invoke(*args):
    runner = CliRunner()
    return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)


def assert_bad_input(result, *fragments, nothing_in: Path | None = None):
    """Exit 2, one line on stderr naming the problem, no traceback, nothing written."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    if nothing_in is not None:
        assert not nothing_in.exists() or not any(nothing_in.rglob("*")), list(nothing_in.rglob("*"))


def written(result) -> Path:
    """The file a command says it wrote (its last 'wrote PATH' line)."""
    lines = [line for line in result.stdout.splitlines() if line.startswith("wrote ")]
    assert lines, result.output
    return Path(lines[-1].removeprefix("wrote "))


def rollout_batches(env, policy, theta, mode: dict) -> list:
    """The batches of a vector rollout (one for `episodes`, three carried-over ones for `steps`),
    from fixed env (5) and action (9) streams, for replay tests."""
    from pgcli.rl import rollout

    state = rollout.fresh_state(env, np.random.default_rng(5))
    act_rng = np.random.default_rng(9)
    batches = []
    for _ in range(1 if "episodes" in mode else 3):
        batch, state = rollout.collect(env, policy, theta, act_rng, state=state, **mode)
        batches.append(batch)
    return batches


def copy_steps(batches: list, i: int, field: str) -> np.ndarray:
    """One env copy's valid steps of a batch field ('obs', 'rewards', ...), across the batches in order."""
    return np.concatenate([getattr(b, field)[:, i][b.valid[:, i]] for b in batches])


def train_settings(**sections):
    """A training run's typed settings (pgcli.rl.settings) from the train kind's defaults, with
    `sections` overriding: train_settings(env={"id": "tests.envs:cartpole"}, policy={"kind": "linear"})."""
    from pgcli.base.fields import typed
    from pgcli.rl.settings import Settings
    from pgcli.shell.experiment import build_spec

    return typed(Settings, build_spec("train", None, sections, [], None, "tests"))
