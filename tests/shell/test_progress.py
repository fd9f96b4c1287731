"""Progress that moves: the work inside runs reaches the sweep's bar from every executor (this
process, local workers, Dask workers), in integer units of the budget that binds; a resumed sweep
says how many runs were already done."""

from __future__ import annotations

import re
import sys

import pytest

from pgcli import kinds
from pgcli.shell import bars, executors
from pgcli.shell.experiment import build_spec, plan_runs
from tests.helpers import invoke
from tests.terminal import run_in_pty

SWEEP = ["--n", "100,200", "--reps", "20", "--estimators", "score,pathwise", "--set", "sweep.seeds=3"]


def estimate_runs(tmp_path, seeds=3):
    spec = build_spec("estimate", None, {"n": "100,200", "reps": "20", "estimators": "score"},
                      [f"sweep.seeds={seeds}"], None, "e")  # fmt: skip
    return plan_runs("estimate", spec, tmp_path)


class Messages(list):
    """A progress(index, done, total) that keeps what it is given."""

    def __call__(self, index, done, total, /, **status):
        self.append((index, done, total))


def assert_each_run_started_and_ended(messages, runs):
    budget = kinds.get("estimate").budget(runs[0].spec)[0]
    assert all(isinstance(v, int) for message in messages for v in message)
    for i in range(len(runs)):
        mine = [m for m in messages if m[0] == i]
        assert mine[0] == (i, 0, budget) and mine[-1] == (i, budget, budget), mine
        assert [m[1] for m in mine] == sorted(m[1] for m in mine)


@pytest.mark.slow
@pytest.mark.parametrize("jobs", [1, 2])
def test_local_workers_report_the_work_inside_their_runs(tmp_path, jobs):
    """Before, worker processes reported nothing until a run finished."""
    runs = estimate_runs(tmp_path)
    messages = Messages()
    stream = executors.start(list(enumerate(runs)), runs, len(runs), jobs=jobs, client=None, allow_mixed=False,
                             progress=messages)  # fmt: skip
    outcomes = dict(stream)
    assert sorted(outcomes) == [0, 1, 2] and all(o["status"] == "done" for o in outcomes.values())
    assert_each_run_started_and_ended(messages, runs)


@pytest.mark.slow
def test_dask_workers_report_the_work_inside_their_runs(tmp_path):
    runs = estimate_runs(tmp_path, seeds=2)
    messages = Messages()
    client = executors.dask_client(None, runs=runs)
    try:
        outcomes = dict(executors.start(list(enumerate(runs)), runs, len(runs), jobs=1, client=client,
                                        allow_mixed=False, progress=messages))  # fmt: skip
    finally:
        client.close()
        client.cluster.close()
    assert all(o["status"] == "done" for o in outcomes.values())
    assert_each_run_started_and_ended(messages, runs)


class FakeBar:
    """What the bar is told: its total, count and postfix."""

    def __init__(self, total, **options):
        self.total, self.n, self.postfix, self.options, self.drawn = total, 0, "", options, []

    def update(self, k):
        self.n += k

    def refresh(self):
        self.drawn.append((self.n, self.total, self.postfix))

    def set_postfix(self, values, refresh=True):
        self.postfix = values

    def set_postfix_str(self, text, refresh=True):
        self.postfix = text

    def close(self):
        pass


def test_the_bar_sums_budgets_and_a_run_that_stops_early_shrinks_it(tmp_path, monkeypatch):
    made = []
    monkeypatch.setattr("tqdm.tqdm", lambda **options: made.append(FakeBar(**options)) or made[-1])
    runs = estimate_runs(tmp_path)
    budget = kinds.get("estimate").budget(runs[0].spec)[0]
    bar = bars.sweep_bar(runs, [0, 2])
    (drawn,) = made
    assert (drawn.total, drawn.n, drawn.options["unit"], drawn.options["desc"]) == (2 * budget, 0, "samples", "2 runs")
    bar.report(0, 100, budget)
    bar.report(2, budget // 2, budget)
    bar.report(1, 5, budget)  # not on the bar (already done): ignored
    assert (drawn.total, drawn.n) == (2 * budget, 100 + budget // 2)
    bar.finished(0, {"status": "done"})  # it stopped after 100 samples: the total shrinks to match
    bar.report(0, budget, budget)  # a late message of a finished run: ignored
    assert (drawn.total, drawn.n, drawn.postfix) == (100 + budget, 100 + budget // 2, "1 done")
    bar.report(2, budget, budget)
    bar.finished(2, {"status": "failed"})
    assert (drawn.total, drawn.n, drawn.postfix) == (100 + budget, 100 + budget, "1 done, 1 failed")
    assert drawn.drawn == [(100 + budget, 100 + budget, "1 done, 1 failed")]  # the last state, drawn once
    bar.close()


def test_a_kind_without_a_budget_counts_runs(tmp_path):
    kinds.register("tests.toy_kind")
    spec = build_spec("toy", None, {}, ["sweep.seeds=2"], None, "t")
    runs = plan_runs("toy", spec, tmp_path)
    assert bars.budgets(runs, [0, 1]) == ({0: 1, 1: 1}, "runs")


def bar_lines(stderr: str) -> list[str]:
    return [line.strip() for line in re.split(r"[\r\n]", stderr) if "%|" in line]


@pytest.mark.slow
def test_a_sweep_on_local_workers_draws_integer_counts_of_samples(tmp_path):
    result = invoke("estimate", *SWEEP, "--jobs", "2", "--progress", "--results", tmp_path)
    assert result.exit_code == 0, result.output
    lines = bar_lines(result.stderr)
    assert lines and all(re.search(r"\| [\d,]+/[\d,]+ samples \[", line) for line in lines), lines
    assert lines[0].startswith("3 runs:") and "0/" in lines[0]
    total = lines[0].split("/")[1].split()[0]
    assert int(total.replace(",", "")) == 3 * 2 * 300 * 20  # seeds × estimators × Σ n × reps
    assert any("3 done" in line for line in lines)


def test_a_resumed_sweep_says_how_many_runs_were_already_done(tmp_path):
    first = invoke("estimate", *SWEEP, "--results", tmp_path)
    assert first.exit_code == 0 and "already done" not in first.stderr
    more = invoke("estimate", *SWEEP[:-1], "sweep.seeds=5", "--results", tmp_path, "--progress")
    assert more.exit_code == 0, more.output
    assert "3 of 5 runs already done; computing the other 2" in more.stderr
    assert bar_lines(more.stderr)[0].startswith("2 runs:")
    again = invoke("estimate", *SWEEP[:-1], "sweep.seeds=5", "--results", tmp_path)
    assert "5 of 5 runs already done; nothing to compute" in again.stderr
    assert "already done" not in invoke("estimate", *SWEEP[:-1], "sweep.seeds=5", "--results", tmp_path, "-q").stderr


def test_one_training_run_counts_the_env_steps_of_the_budget_that_binds(tmp_path):
    """cartpole-ppo's bar said 128k/150k for a run that took 44k: 200 iterations × 256 steps bind."""
    args = ["train", "cartpole-ppo", "--seed", "0", "--set", "stop.iterations=3", "--progress", "--results", tmp_path]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    lines = bar_lines(result.stderr)
    assert lines[0].startswith("seed=0:") and "0/768 env steps" in lines[0], lines


@pytest.mark.slow
def test_a_sweep_on_a_terminal(tmp_path):
    code, out = run_in_pty([sys.executable, "-m", "pgcli", "estimate", *SWEEP, "--jobs", "2"], tmp_path)
    assert code == 0, out
    assert re.search(r"3 runs: +\d+%\|.*\| [\d,]+/36,000 samples", out), out
