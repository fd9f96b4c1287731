"""What users type: every subcommand without -q, in a pipe and on a terminal, from any directory.

The suite once always passed --quiet from the repository root, and the README's first command
crashed (a tqdm bar tested for truth). These tests run the commands as typed: through CliRunner
without -q, with bars forced, and as real processes under a pseudo-terminal.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pgcli import kinds
from pgcli.lab import optimize as optimize_core
from pgcli.rl.settings import BatchSettings, StopSettings, budget
from pgcli.shell import curves, plot
from pgcli.shell.experiment import schema_of
from pgcli.shell.spec import resolve
from tests.helpers import assert_bad_input, invoke, written
from tests.terminal import run_in_pty

ROOT = Path(__file__).resolve().parents[2]
TINY_TRAIN = ["--set", "stop.iterations=2", "--set", "env.num_envs=4", "--set", "batch.episodes=4"]
TINY = {
    "estimate": ["estimate", "--dist", "gaussian", "--f", "step", "--n", "100", "--reps", "5"],
    "fisher": ["fisher", "--dist", "gamma", "--n", "1000"],
    "train": ["train", *TINY_TRAIN],
    "optimize": ["optimize", "--dist", "gaussian", "--f", "step", "--steps", "5"],
}


# ---------------------------------------------------------------------------------------------
# the progress interface


class Recorder:
    """A Progress that records its calls."""

    def __init__(self):
        self.calls = []

    def __call__(self, done, total, /, **status):
        self.calls.append((done, total, status))


def spec_of(kind, **values):
    return resolve(schema_of(kind), {"kind": kind, **values})


@pytest.mark.parametrize(
    ("kind", "spec"),
    [
        ("estimate", spec_of("estimate", n=[10, 20], reps=3, estimators=["score", "pathwise"], f=["step", "square"])),
        ("estimate", spec_of("estimate", dist="poisson", n=[10, 20], reps=3, estimators=["pathwise", "score"])),
        ("fisher", spec_of("fisher", dist="gamma", n=[100, 200, 300])),
        ("optimize", spec_of("optimize", f="step", steps=7)),
        ("train", spec_of("train", stop={"iterations": 3}, env={"num_envs": 4}, batch={"episodes": 4})),
        ("sequence", spec_of("sequence", reps=20)),
        ("finetune", spec_of("finetune", steps=3)),
    ],
    ids=["estimate", "estimate-with-skips", "fisher", "optimize", "train", "sequence", "finetune"],
)
def test_every_kind_reports_progress_with_a_known_total(kind, spec):
    progress = Recorder()
    kinds.get(kind).run(spec, progress)
    done = [c[0] for c in progress.calls]
    totals = [c[1] for c in progress.calls]
    assert progress.calls[0][:2] == (0, kinds.get(kind).budget(spec)[0]), progress.calls  # known up front
    assert max(totals) == totals[0]  # never above the budget (whole-episode batches: a projection below it)
    assert done == sorted(done) and done[-1] == totals[-1]  # it fills, and only moves forward
    assert all(isinstance(value, int) for call in progress.calls for value in call[:2])


def test_train_budget_is_the_limit_that_binds_in_env_steps_used():
    stop = StopSettings(iterations=200, env_steps=150_000, target_return=None, target_window=20)
    steps = BatchSettings(episodes=None, steps=256, min_steps=None)
    episodes = BatchSettings(episodes=16, steps=None, min_steps=None)
    assert budget(stop, steps, 0, 0) == (0, 51_200, "env steps")  # cartpole-ppo: 200 × 256 binds, not 150k
    assert budget(stop, steps, 171, 171 * 256) == (43_776, 51_200, "env steps")  # done is what was used
    assert budget(stop._replace(iterations=1000), steps, 0, 0) == (0, 150_000, "env steps")
    assert budget(stop, episodes, 0, 0) == (0, 150_000, "env steps")  # not known yet: the env-step limit
    assert budget(stop, episodes, 10, 3_000) == (3_000, 60_000, "env steps")  # 300 per batch × 200
    assert budget(stop._replace(env_steps=None), episodes, 4, 123) == (4, 200, "iterations")


def test_bars_are_drawn_when_forced(tmp_path):
    """--progress draws bars in a pipe (stderr here is not a terminal), through the same hook."""
    result = invoke(*TINY["estimate"], "--results", tmp_path, "--progress")
    assert result.exit_code == 0, result.output
    assert "%|" in result.stderr and "score" in result.stdout


@pytest.mark.parametrize("command", sorted(TINY))
def test_commands_without_quiet_in_a_pipe(tmp_path, command):
    """No -q, output to a pipe: the command works, prints its result, and draws no bar debris."""
    result = invoke(*TINY[command], "--results", tmp_path)
    assert result.exit_code == 0, result.output
    assert "%|" not in result.stderr and "Traceback" not in result.output
    assert written(result).is_file()


def test_plot_and_check_without_quiet(tmp_path):
    spec = tmp_path / "lab.yaml"
    spec.write_text(
        "kind: estimate\nname: lab\nf: [step]\nestimators: [score]\nn: [100]\nreps: 20\n"
        "expect:\n  - {metric: bias, agg: max_abs_z, '<=': 4}\n"
    )
    result = invoke("check", spec, "--results", tmp_path / "r", "--junit", tmp_path / "j.xml")
    assert result.exit_code == 0 and "1 of 1 expectations pass" in result.stdout, result.output
    result = invoke("plot", tmp_path / "r" / "lab", "--out", tmp_path / "f.png")
    assert result.exit_code == 0 and (tmp_path / "f.png").is_file(), result.output


@pytest.mark.slow
@pytest.mark.parametrize("command", [*sorted(TINY), "plot", "check"])
def test_every_subcommand_on_a_terminal(tmp_path, command):
    """A real process under a pseudo-terminal, from a directory that is not the repository:
    the bar is drawn (train, estimate, fisher, optimize) and the command ends with its result."""
    pgcli = [sys.executable, "-m", "pgcli"]
    if command in ("plot", "check"):
        spec = tmp_path / "lab.yaml"
        spec.write_text("kind: estimate\nname: lab\nf: [step]\nestimators: [score]\nn: [100]\nreps: 20\n"
                        "expect:\n  - {metric: bias, agg: max_abs_z, '<=': 4}\n")  # fmt: skip
        code, out = run_in_pty([*pgcli, "check", str(spec)], tmp_path)
        assert code == 0 and "1 of 1 expectations pass" in out, out
        if command == "plot":
            code, out = run_in_pty([*pgcli, "plot", "results/lab", "--out", "fig.png"], tmp_path)
            assert code == 0 and (tmp_path / "fig.png").is_file(), out
        return
    code, out = run_in_pty([*pgcli, *TINY[command]], tmp_path)
    assert code == 0, out
    assert "%|" in out, out  # a bar with a total
    assert "wrote results/" in out and "Traceback" not in out


# ---------------------------------------------------------------------------------------------
# what is printed about failed runs


def test_a_failed_run_prints_its_error_and_no_wrote_line(tmp_path, monkeypatch):
    def boom(spec, progress):
        raise ValueError("the estimator exploded")

    monkeypatch.setitem(kinds._LOADED, "estimate", kinds.get("estimate")._replace(run=boom))
    result = invoke(*TINY["estimate"], "--results", tmp_path)
    assert result.exit_code == 1
    assert "wrote" not in result.stdout
    assert "the estimator exploded" in result.stderr


def test_check_shows_a_failed_runs_own_error(tmp_path, monkeypatch):
    def boom(spec, progress):
        raise ValueError("the estimator exploded")

    monkeypatch.setitem(kinds._LOADED, "estimate", kinds.get("estimate")._replace(run=boom))
    spec = tmp_path / "lab.yaml"
    spec.write_text("kind: estimate\nname: lab\nestimators: [score]\nn: [10]\nreps: 2\n"
                    "expect:\n  - {metric: bias, agg: max_abs_z, '<=': 4}\n")  # fmt: skip
    result = invoke("check", spec, "--results", tmp_path / "r", "-q")
    assert result.exit_code == 1
    assert "the estimator exploded" in result.stderr and "no results" not in result.output


# ---------------------------------------------------------------------------------------------
# the seeds rule


SWEEP_SPEC = (
    "name: s\nenv: {num_envs: 4}\nbatch: {episodes: 4}\nstop: {iterations: 1}\neval: {every: 0}\nsweep: {seeds: 3}\n"
)


@pytest.mark.parametrize(
    ("args", "seeds"),
    [
        ([], [0, 1, 2]),
        (["--seed", "3"], [3]),
        (["--set", "seed=3"], [3]),
        (["--set", "sweep.seeds=2"], [0, 1]),
        (["--set", "seed=4", "--set-grid", "optim.lr=0.01,0.02"], [4, 4]),
    ],
)
def test_the_seeds_rule(tmp_path, args, seeds):
    spec = tmp_path / "s.yaml"
    spec.write_text(SWEEP_SPEC)
    result = invoke("train", spec, *args, "--results", tmp_path / "r", "-q")
    assert result.exit_code == 0, result.output
    runs = pd.read_csv(written(result).parent / "runs.csv")
    assert runs["seed"].tolist() == seeds


def test_a_command_line_seed_and_sweep_seeds_together_are_refused(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(SWEEP_SPEC)
    result = invoke("train", spec, "--seed", "3", "--set", "sweep.seeds=2", "--results", tmp_path / "r")
    assert_bad_input(result, "seed", "not both", nothing_in=tmp_path / "r")


# ---------------------------------------------------------------------------------------------
# whose summary is in results/<name>/


def test_a_variation_never_overwrites_the_specs_own_summary(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(SWEEP_SPEC + "expect:\n  - {metric: return_mean, agg: count, '>=': 3}\n")
    own = invoke("train", spec, "--results", tmp_path, "-q")
    assert written(own) == tmp_path / "s" / "metrics.csv"
    before = (tmp_path / "s" / "runs.csv").read_bytes()
    grid = invoke("train", spec, "--set-grid", "optim.lr=0.01,0.03", "--results", tmp_path, "-q")
    assert grid.exit_code == 0, grid.output
    assert (tmp_path / "s" / "runs.csv").read_bytes() == before
    sweep_dir = written(grid).parent
    assert sweep_dir.parent == tmp_path / "s" / "sweeps" and len(pd.read_csv(sweep_dir / "runs.csv")) == 6
    again = invoke("train", spec, "--set-grid", "optim.lr=0.01,0.03", "--results", tmp_path, "-q")
    assert written(again).parent == sweep_dir  # the same invocation finds the same summary
    assert plot.load([tmp_path / "s"]).frame["run_id"].nunique() == 3  # plot draws the spec's own runs
    assert plot.load([sweep_dir]).frame["run_id"].nunique() == 6
    check = invoke("check", sweep_dir, "--no-run", "-q")  # a sweeps directory is a results directory
    assert check.exit_code == 0 and "1 of 1 expectations pass" in check.stdout, check.output


# ---------------------------------------------------------------------------------------------
# check validates everything first


def test_check_skips_specs_whose_extra_is_missing_and_runs_the_rest(tmp_path, monkeypatch):
    import gymnasium as gym

    make_vec = gym.make_vec

    def no_mujoco(env_id, *args, **kwargs):
        if env_id == "InvertedPendulum-v5":
            raise gym.error.DependencyNotInstalled('MuJoCo is not installed, run `pip install "gymnasium[mujoco]"`')
        return make_vec(env_id, *args, **kwargs)

    monkeypatch.setattr(gym, "make_vec", no_mujoco)
    mujoco = tmp_path / "mujoco.yaml"
    mujoco.write_text(
        "name: m\nenv: {id: InvertedPendulum-v5}\nexpect:\n  - {metric: return_window, agg: mean, '>=': 1}\n"
    )
    lab = tmp_path / "lab.yaml"
    lab.write_text("kind: estimate\nname: lab\nestimators: [score]\nn: [100]\nreps: 20\n"
                   "expect:\n  - {metric: bias, agg: max_abs_z, '<=': 4}\n")  # fmt: skip
    result = invoke("check", mujoco, lab, "--results", tmp_path / "r", "--junit", tmp_path / "j.xml", "-q")
    assert result.exit_code == 0, result.output
    assert "SKIP" in result.stdout and "pip install 'pgcli[mujoco]'" in result.stderr
    assert "1 of 1 expectations pass; 1 skipped" in result.stdout
    assert "<skipped" in (tmp_path / "j.xml").read_text()


@pytest.mark.parametrize(
    ("expectation", "fragment"),
    [
        ("{metric: bais, agg: mean, '<=': 1}", "unknown metric column 'bais'"),
        ("{metric: bias, where: {estimater: score}, agg: mean, '<=': 1}", "unknown where column 'estimater'"),
        ("{metric: variance, agg: loglog_slope, '<=': 0}", "loglog_slope needs at least two values of n_samples"),
        ("{metric: env_steps_to_target, target: 1, agg: mean, '<=': 0}", "unknown metric column 'env_steps'"),
    ],
)
def test_check_validates_expectations_before_running_anything(tmp_path, expectation, fragment):
    slow = tmp_path / "slow.yaml"
    slow.write_text(f"kind: estimate\nname: slow\nn: [1000000]\nreps: 1000\nexpect:\n  - {expectation}\n")
    fine = tmp_path / "fine.yaml"  # listed first: it must not run either
    fine.write_text("kind: estimate\nname: fine\nn: [10]\nreps: 2\nexpect:\n  - {metric: bias, agg: count, '>=': 0}\n")
    result = invoke("check", fine, slow, "--results", tmp_path / "r", "-q")
    assert_bad_input(result, "slow.yaml: expect[0]", fragment, nothing_in=tmp_path / "r")


# ---------------------------------------------------------------------------------------------
# smaller promises of the README


def test_fisher_policy_of_a_sweep_spec_uses_its_first_run(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(SWEEP_SPEC)
    result = invoke("fisher", "--policy", spec, "--states", "50", "--results", tmp_path / "r")
    assert result.exit_code == 0, result.output
    assert "sweep of 3 runs; using its first, seed=0" in result.stdout
    result = invoke("fisher", "--policy", spec, "--states", "50", "--seed", "2", "--results", tmp_path / "r")
    assert result.exit_code == 0 and "sweep of" not in result.stdout and "(seed 2," in result.output


def test_the_bundled_classifier_spec_finds_its_bundled_data_from_anywhere(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("optimize", "optimize-classifier", "--set", "sweep.seeds=1", "--set", "steps=2", "-q")
    assert result.exit_code == 0, result.output
    assert "test_accuracy" in result.stdout


def test_a_spec_names_its_data_relative_to_itself(tmp_path, monkeypatch):
    (tmp_path / "specs").mkdir()
    shutil.copy(optimize_core.bundled_data(), tmp_path / "specs" / "cells.csv")
    spec = tmp_path / "specs" / "mine.yaml"
    spec.write_text("kind: optimize\nproblem: classifier\ndata:\n  path: cells.csv\nsteps: 2\n")
    monkeypatch.chdir(tmp_path.parent)
    result = invoke("optimize", spec, "-q", "--results", tmp_path / "r")
    assert result.exit_code == 0, result.output
    assert "test_accuracy" in result.stdout


def test_train_with_no_arguments_ends_with_one_summary_line(tmp_path):
    result = invoke("train", "--set", "stop.iterations=3", "--results", tmp_path)
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("CartPole-v1 seed=0: done, mean return of the last 20 episodes"), lines
    assert "env steps in" in lines[0] and lines[1].startswith("wrote ")


def test_curves_are_labelled_by_source_and_never_by_a_missing_value():
    assert curves.label(["source", "lr"], ["cartpole-natural", np.nan]) == "cartpole-natural"
    assert curves.label(["source", "lr"], ["cartpole", 0.03]) == "cartpole, lr=0.03"


def test_a_run_that_stopped_at_its_target_is_held_not_dropped():
    """Two runs: one stops at x = 2 having reached the target (held at 10), one goes on to x = 4."""
    frame = pd.DataFrame({
        "_run": [0, 0, 0, 1, 1, 1, 1, 1], "x": [0, 1, 2, 0, 1, 2, 3, 4],
        "y": [0.0, 5, 10, 0, 1, 2, 3, 4], "_held": [True] * 3 + [False] * 5,
    })  # fmt: skip
    held = curves.group_curves(frame, "x", "y", band="none", hold=True)
    assert held["mean"].tolist() == [0, 3, 6, 6.5, 7] and held["n_runs"].tolist() == [2] * 5
    assert held["n_held"].tolist() == [0, 0, 0, 1, 1]
    dropped = curves.group_curves(frame, "x", "y", band="none")
    assert dropped["mean"].tolist() == [0, 3, 6, 3, 4] and dropped["n_runs"].tolist() == [2, 2, 2, 1, 1]


def test_set_grid_takes_quoted_and_yaml_lists_with_commas(tmp_path):
    for grid in ["f='table:1,0,3','table:0,1,2'", 'f=["table:1,0,3", "table:0,1,2"]']:
        args = ["--dist", "categorical", "--dim", "3", "--estimators", "score", "--n", "10", "--reps", "2"]
        result = invoke("estimate", *args, "--set-grid", grid, "--results", tmp_path, "-q")
        assert result.exit_code == 0, result.output
        table = pd.read_csv(written(result))
        assert sorted(table["f"].unique()) == ["table:0,1,2", "table:1,0,3"]


def test_help_examples_name_files_that_exist():
    """Every `pgcli/library/...` file a --help example names is in the repository."""
    import glob

    from pgcli.shell.cli import cli

    for name in cli.commands:
        text = invoke(name, "--help").stdout
        examples = [line.strip() for line in text.splitlines() if line.strip().startswith("pgcli ")]
        assert examples, name
        for token in (t for line in examples for t in line.split() if t.startswith("pgcli/library/")):
            assert glob.glob(str(ROOT / token)), f"pgcli {name} --help names {token}, which does not exist"


def test_check_validates_an_optimize_spec_before_running(tmp_path):
    """optimize specs have a scalar n: the plan's values of n_samples are an estimate/fisher matter."""
    spec = tmp_path / "opt.yaml"
    spec.write_text(
        "kind: optimize\nname: opt\nf: step\nsteps: 3\nexpect:\n  - {metric: objective, agg: count, '>=': 1}\n"
    )
    result = invoke("check", spec, "--results", tmp_path / "r", "-q")
    assert result.exit_code == 0 and "1 of 1 expectations pass" in result.stdout, result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: optimize\nname: bad\nf: step\nexpect:\n  - {metric: objectve, agg: count, '>=': 1}\n")
    assert_bad_input(invoke("check", bad, "--results", tmp_path / "r2", "-q"), "unknown metric column 'objectve'",
                     nothing_in=tmp_path / "r2")  # fmt: skip


def test_seed_on_the_command_line_with_an_empty_sweep_block(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(SWEEP_SPEC.replace("sweep: {seeds: 3}\n", "sweep:\n"))
    result = invoke("train", spec, "--seed", "2", "--results", tmp_path / "r", "-q")
    assert result.exit_code == 0, result.output
    assert pd.read_csv(written(result).parent / "runs.csv")["seed"].tolist() == [2]


def test_junit_counts_a_failing_seeds_passing_expectation(tmp_path):
    spec = tmp_path / "lab.yaml"
    spec.write_text("kind: estimate\nname: lab\nestimators: [score]\nn: [10]\nreps: 2\nsweep: {seeds: 2}\n"
                    "expect:\n  - {metric: reps, agg: min, '>': 5, seeds_passing: 1/2}\n")  # fmt: skip
    result = invoke("check", spec, "--results", tmp_path / "r", "--junit", tmp_path / "j.xml", "-q")
    assert result.exit_code == 1
    assert '<testsuites tests="1" failures="1"' in (tmp_path / "j.xml").read_text()


def test_a_non_numeric_where_value_of_x_is_bad_input(tmp_path):
    spec = tmp_path / "lab.yaml"
    spec.write_text("kind: estimate\nname: lab\nexpect:\n"
                    "  - {metric: variance, where: {n_samples: abc}, agg: loglog_slope, '<=': 0}\n")  # fmt: skip
    assert_bad_input(invoke("check", spec, "--results", tmp_path / "r", "-q"), "where.n_samples: expected numbers")


def test_api_refuses_f_grad_it_cannot_use():
    import pgcli

    with pytest.raises(pgcli.PgcliError, match="f_grad applies only to a callable f"):
        pgcli.gradient("square", "gaussian", {}, 10, "pathwise", 0, f_grad=lambda x: 2 * x)
    with pytest.raises(pgcli.PgcliError, match="f_grad is the derivative of one f"):
        pgcli.estimate([np.square, np.abs], "gaussian", {}, f_grad=lambda x: 2 * x)
