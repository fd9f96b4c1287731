"""pgcli/shell/stats.py beyond tests/shell/test_stats.py: tasks with different numbers of runs (a mapping
task → runs' scores: the directories of a suite), and a curve's band (`band`: a statistic at every
point with whole runs resampled), against hand-written computations on the same resamples."""

from __future__ import annotations

import numpy as np
import pytest

from pgcli.shell import stats
from tests.shell.test_stats import hand_iqm, hand_percentile, hand_resamples


def ragged():
    rng = np.random.default_rng(11)
    return {"cartpole": rng.normal(400, 50, 5), "acrobot": rng.normal(-90, 10, 3), "pendulum": rng.normal(-200, 30, 7)}


def test_a_mapping_of_tasks_with_the_same_runs_is_the_array():
    scores = np.random.default_rng(2).normal(size=(6, 3))
    mapping = {f"task{j}": scores[:, j] for j in range(3)}
    assert stats.iqm(mapping) == stats.iqm(scores) and stats.mean(mapping) == stats.mean(scores)
    assert stats.interval(mapping, "iqm", n_resamples=800) == stats.interval(scores, "iqm", n_resamples=800)
    other = np.random.default_rng(3).normal(size=(4, 3))
    assert stats.probability_of_improvement(mapping, {k: other[:, j] for j, k in enumerate(mapping)}) == (
        stats.probability_of_improvement(scores, other)
    )


def test_tasks_with_different_numbers_of_runs_pool_for_the_iqm_and_average_task_means():
    tasks = ragged()
    pooled = np.concatenate(list(tasks.values()))  # 15 scores: ⌊15/4⌋ = 3 dropped at each end
    assert stats.iqm(tasks) == pytest.approx(hand_iqm(pooled), rel=1e-12)
    assert stats.mean(tasks) == pytest.approx(np.mean([t.mean() for t in tasks.values()]), rel=1e-12)


@pytest.mark.parametrize("statistic", ["iqm", "mean"])
def test_the_interval_of_ragged_tasks_resamples_each_task_within_itself(statistic):
    tasks = ragged()
    n = 1300
    resamples = hand_resamples(list(tasks.values()), n, seed=4)
    if statistic == "iqm":
        values = [hand_iqm(np.concatenate(r)) for r in resamples]
    else:
        values = [np.mean([t.mean() for t in r]) for r in resamples]
    found = stats.interval(tasks, statistic, n_resamples=n, seed=4)
    np.testing.assert_allclose([found.lo, found.hi], hand_percentile(values, 0.95), rtol=1e-12)


def test_summary_table_counts_every_run_of_ragged_tasks():
    table = stats.summary_table({"a": ragged(), "b": {k: v + 1 for k, v in ragged().items()}}, n_resamples=500)
    assert list(table["n_runs"]) == [15, 15]
    assert table["iqm"].iloc[1] == pytest.approx(table["iqm"].iloc[0] + 1)


def test_ragged_tasks_are_checked():
    with pytest.raises(ValueError, match=r"scores\[acrobot\]: every score must be finite"):
        stats.iqm({"cartpole": [1.0, 2.0], "acrobot": [np.nan]})
    with pytest.raises(ValueError, match=r"scores\[acrobot\]: expected an array"):
        stats.iqm({"cartpole": [1.0], "acrobot": []})
    with pytest.raises(ValueError, match="at least one task"):
        stats.iqm({})
    with pytest.raises(ValueError, match="share their tasks"):
        stats.probability_of_improvement(ragged(), {"cartpole": [1.0]})


# ---------------------------------------------------------------------------------------------
# a curve's band


def test_a_band_resamples_whole_runs_the_same_way_at_every_point():
    """values (m points × r runs): each resample draws r runs and keeps every point of them, so the
    band at each point is the interval of that point's runs under the same resample indices —
    written out here with the indices scipy draws."""
    rng = np.random.default_rng(5)
    values = rng.normal(size=(4, 9)) + np.arange(4)[:, None]
    n = 700
    found = stats.band(values, "iqm", n_resamples=n, seed=12)
    picks = np.random.default_rng(12).integers(0, 9, (n, 9))  # one batch: 4 × 9 values fit BAND_ELEMENTS
    by_hand = np.array([[hand_iqm(values[i, p]) for p in picks] for i in range(4)])
    lo, hi = hand_percentile(by_hand.T, 0.95)
    np.testing.assert_allclose(found.lo, lo, rtol=1e-12)
    np.testing.assert_allclose(found.hi, hi, rtol=1e-12)
    np.testing.assert_allclose(found.estimate, [hand_iqm(row) for row in values])
    for i in range(4):  # and each point alone gives its own interval with the same seed
        assert stats.interval(values[i], "iqm", n_resamples=n, seed=12)[1:] == pytest.approx((found.lo[i], found.hi[i]))


def test_a_band_of_the_mean_and_of_one_run():
    values = np.arange(12.0).reshape(2, 6)
    mean = stats.band(values, "mean", n_resamples=300)
    np.testing.assert_allclose(mean.estimate, values.mean(1))
    assert (mean.lo <= mean.estimate).all() and (mean.estimate <= mean.hi).all()
    one = stats.band(values[:, :1], "iqm")
    np.testing.assert_allclose(one.estimate, values[:, 0])
    assert np.isnan(one.lo).all() and np.isnan(one.hi).all()


def test_a_bad_band_is_refused():
    with pytest.raises(ValueError, match="statistic"):
        stats.band(np.ones((2, 3)), "median")
    with pytest.raises(ValueError, match="finite numbers"):
        stats.band(np.array([[1.0, np.inf]]))
