"""Aggregate statistics (pgcli/stats.py) against exact answers: closed forms on small data, pair
counts, rliable's own reference values, a hand-written stratified bootstrap on the same resamples,
and the coverage of a known mean."""

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy.stats import mannwhitneyu

from pgcli.shell import stats

# rliable's tests/rliable/metrics_test.py: scores (runs × tasks) and their published values
RLIABLE_X = np.array([[1, 2], [2, 2], [1, 1], [2, 1]])
RLIABLE_Y = np.array([[1, 1], [2, 2], [3, 3]])


def hand_iqm(values) -> float:
    """Sort, drop ⌊N/4⌋ at each end, average the rest (written out, no SciPy)."""
    ordered = sorted(np.ravel(values))
    g = len(ordered) // 4
    middle = ordered[g : len(ordered) - g]
    return sum(middle) / len(middle)


def hand_improvement(x, y) -> float:
    """P(X > Y) + ½ P(X = Y) by counting every pair in every task, averaged over tasks."""
    per_task = []
    for j in range(x.shape[1]):
        wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a in x[:, j] for b in y[:, j])
        per_task.append(wins / (x.shape[0] * y.shape[0]))
    return sum(per_task) / len(per_task)


# ---------------------------------------------------------------------------------------------
# point estimates


def test_iqm_of_one_to_eight_is_the_mean_of_three_to_six():
    assert stats.iqm(np.arange(1, 9)) == 4.5
    assert stats.iqm(np.arange(1, 9).reshape(4, 2)) == 4.5  # pooled over runs and tasks
    assert stats.iqm([8, 1, 7, 2, 6, 3, 5, 4]) == 4.5  # order does not matter


@pytest.mark.parametrize("n", range(1, 14))
def test_iqm_trims_the_floor_of_a_quarter_at_each_end(n):
    """rliable's trim_mean(·, 0.25): N = 10 drops 2 at each end (not 2.5), N = 3 drops none."""
    values = np.random.default_rng(n).permutation(np.arange(n) ** 2)
    assert stats.iqm(values) == pytest.approx(hand_iqm(values), rel=1e-12)
    assert stats.iqm(np.arange(1, 11)) == pytest.approx(np.mean(np.arange(3, 9)))


def test_iqm_ignores_outlier_runs_beyond_the_quartiles():
    scores = np.array([1.0, 2, 3, 4, 5, 6, 7, 8])
    wild = scores.copy()
    wild[[0, -1]] = [-1e9, 1e9]
    assert stats.iqm(wild) == stats.iqm(scores) == 4.5
    assert stats.mean(wild) != stats.mean(scores)


def test_mean_is_the_mean_of_the_tasks_means():
    scores = np.array([[1.0, 10.0], [3.0, 20.0], [5.0, 60.0]])  # task means 3 and 30
    assert stats.mean(scores) == pytest.approx(16.5)


def test_rliable_reference_values():
    """The values rliable's own tests assert for its aggregate_mean, aggregate_iqm and
    probability_of_improvement."""
    assert stats.mean(RLIABLE_X) == 1.5
    assert stats.iqm(RLIABLE_X) == 1.5
    assert stats.mean(RLIABLE_Y) == 2
    assert stats.iqm(RLIABLE_Y) == 2
    assert stats.probability_of_improvement(RLIABLE_X, RLIABLE_Y) == pytest.approx(1 / 3)


@pytest.mark.parametrize("seed", range(5))
def test_probability_of_improvement_counts_pairs_with_ties_as_half(seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 4, size=(6, 3)).astype(float)  # small integers: many ties
    y = rng.integers(0, 4, size=(4, 3)).astype(float)
    p = stats.probability_of_improvement(x, y)
    assert p == pytest.approx(hand_improvement(x, y), abs=1e-12)
    # rliable's definition: scipy's Mann–Whitney U over m·n, averaged over tasks
    assert p == pytest.approx(np.mean([mannwhitneyu(x[:, j], y[:, j]).statistic / 24 for j in range(3)]), abs=1e-12)
    assert p + stats.probability_of_improvement(y, x) == pytest.approx(1.0)


def test_probability_of_improvement_extremes():
    low, high = np.arange(5.0)[:, None], np.arange(10.0, 13.0)[:, None]
    assert stats.probability_of_improvement(high, low) == 1.0
    assert stats.probability_of_improvement(low, high) == 0.0
    assert stats.probability_of_improvement(low, low) == 0.5


# ---------------------------------------------------------------------------------------------
# intervals: the same resamples as scipy.stats.bootstrap, drawn and evaluated by hand


def hand_resamples(tasks, n_resamples, seed):
    """The stratified resamples scipy.stats.bootstrap (paired=False) draws from default_rng(seed):
    per batch of stats.BATCH, per sample in order, indices rng.integers(0, r, (batch, r)). (Should a
    SciPy release change that order, this test fails and says so; the coverage test below does
    not depend on it.)"""
    rng = np.random.default_rng(seed)
    for start in range(0, n_resamples, stats.BATCH):
        size = min(stats.BATCH, n_resamples - start)
        per_task = [task[rng.integers(0, len(task), (size, len(task)))] for task in tasks]
        yield from zip(*per_task, strict=True)  # one resample: a tuple of per-task arrays


def hand_percentile(values, level):
    alpha = (1 - level) / 2
    return np.percentile(values, 100 * alpha, axis=0), np.percentile(values, 100 * (1 - alpha), axis=0)


def assert_same_resamples(computed, expected):
    np.testing.assert_allclose(computed, expected, rtol=1e-12, atol=1e-12, err_msg="not the same resamples as SciPy's")


@pytest.mark.parametrize("level", [0.95, 0.68])
def test_iqm_and_mean_intervals_match_a_hand_written_stratified_percentile_bootstrap(level):
    rng = np.random.default_rng(7)
    scores = rng.normal([0.0, 5.0, 50.0], [1.0, 2.0, 10.0], size=(6, 3))
    tasks = [scores[:, j] for j in range(3)]
    n = 2500  # not a multiple of the batch size
    resamples = list(hand_resamples(tasks, n, seed=11))
    iqm_hand = hand_percentile([hand_iqm(np.concatenate(r)) for r in resamples], level)
    mean_hand = hand_percentile([np.mean([t.mean() for t in r]) for r in resamples], level)
    iqm = stats.interval(scores, "iqm", level=level, n_resamples=n, seed=11)
    mean = stats.interval(scores, "mean", level=level, n_resamples=n, seed=11)
    assert_same_resamples([iqm.lo, iqm.hi], iqm_hand)
    assert_same_resamples([mean.lo, mean.hi], mean_hand)
    assert iqm.estimate == pytest.approx(hand_iqm(scores)) and mean.estimate == pytest.approx(scores.mean())


def test_improvement_interval_resamples_x_and_y_independently_within_tasks():
    rng = np.random.default_rng(3)
    x, y = rng.integers(0, 6, size=(5, 2)).astype(float), rng.integers(0, 6, size=(4, 2)).astype(float)
    samples = [x[:, 0], x[:, 1], y[:, 0], y[:, 1]]  # X's tasks, then Y's
    resampled = [
        hand_improvement(np.column_stack(r[:2]), np.column_stack(r[2:])) for r in hand_resamples(samples, 1200, seed=5)
    ]
    p = stats.improvement_interval(x, y, n_resamples=1200, seed=5)
    assert_same_resamples([p.lo, p.hi], hand_percentile(resampled, 0.95))
    assert p.estimate == pytest.approx(hand_improvement(x, y))


def test_profile_band_matches_a_hand_written_bootstrap_at_every_threshold():
    rng = np.random.default_rng(4)
    scores = rng.normal(size=(7, 2))
    taus = np.linspace(-2, 2, 9)
    fractions = [
        [np.mean(np.concatenate(r) > tau) for tau in taus]
        for r in hand_resamples([scores[:, 0], scores[:, 1]], 1500, seed=8)
    ]
    profile = stats.performance_profile(scores, taus, n_resamples=1500, seed=8)
    lo, hi = hand_percentile(np.array(fractions), 0.95)
    assert_same_resamples(profile.lo, lo)
    assert_same_resamples(profile.hi, hi)


def test_profile_is_the_fraction_of_scores_above_each_threshold():
    scores = np.array([[1.0, 4.0], [2.0, 5.0], [3.0, 6.0]])
    profile = stats.performance_profile(scores, [0, 1, 3.5, 6, 7])
    np.testing.assert_array_equal(profile.fraction, [1, 5 / 6, 3 / 6, 0, 0])  # strictly above τ
    assert (np.diff(profile.fraction) <= 0).all()
    assert (profile.lo <= profile.fraction).all() and (profile.fraction <= profile.hi).all()
    assert profile.lo[0] == profile.hi[0] == 1  # every resample is above τ = 0


def test_stratified_resampling_keeps_each_tasks_runs_in_their_task():
    """Task A's runs all score 0, task B's all 10: a resample within each task always has five of
    each, so the interval has zero width (resampling the pooled runs would not)."""
    scores = np.column_stack([np.zeros(5), np.full(5, 10.0)])
    for statistic in ("iqm", "mean"):
        assert stats.interval(scores, statistic) == (5.0, 5.0, 5.0)
    pooled = np.random.default_rng(0).choice(scores.ravel(), size=(1000, 10)).mean(1)
    assert pooled.std() > 1  # what an unstratified bootstrap would have done


@pytest.mark.slow
@pytest.mark.parametrize("statistic", ["mean", "iqm"])
def test_intervals_cover_a_known_centre_at_about_their_level(statistic):
    """400 data sets with known centres. Mean: 40 runs ~ N(3, 2²) on one task and 40 ~ N(−1, 0.5²)
    on another, so the mean of task means is (3 − 1)/2 = 1. IQM: 40 runs ~ N(3, 2²) on one task,
    symmetric, so the population IQM is 3. A 95 % interval should cover its centre in 95 % of data
    sets, within 4 binomial standard errors. (The percentile bootstrap undercovers at few runs: its
    spread is the plug-in σ/√n and normal quantiles stand in for t; at 20 runs it covers ≈ 93 %,
    measured on 2000 data sets, at 40 about 94 %.)"""
    rng = np.random.default_rng(20261126)
    datasets = 400
    covered = 0
    for k in range(datasets):
        if statistic == "mean":
            scores, centre = np.column_stack([rng.normal(3, 2, 40), rng.normal(-1, 0.5, 40)]), 1.0
        else:
            scores, centre = rng.normal(3, 2, 40), 3.0
        result = stats.interval(scores, statistic, n_resamples=1000, seed=k)
        covered += result.lo <= centre <= result.hi
    se = np.sqrt(0.95 * 0.05 / datasets)
    assert abs(covered / datasets - 0.95) <= 4 * se, covered / datasets


# ---------------------------------------------------------------------------------------------
# determinism, bad input, tables


def test_the_same_scores_give_the_same_interval_and_the_seed_changes_it():
    scores = np.random.default_rng(1).normal(size=(8, 2))
    assert stats.interval(scores) == stats.interval(scores)
    assert stats.interval(scores, seed=1) != stats.interval(scores, seed=2)


def test_a_task_with_one_run_has_no_interval():
    result = stats.interval([[1.0, 2.0]])
    assert result.estimate == 1.5 and np.isnan(result.lo) and np.isnan(result.hi)
    profile = stats.performance_profile([3.0], [1.0, 5.0])
    np.testing.assert_array_equal(profile.fraction, [1, 0])
    assert np.isnan(profile.lo).all()


@pytest.mark.parametrize(
    ("scores", "message"),
    [
        ([1.0, np.nan], "every score must be finite"),
        ([], "at least one run"),
        (np.zeros((2, 2, 2)), "runs × tasks"),
    ],
)
def test_bad_scores_are_refused_in_one_line(scores, message):
    with pytest.raises(ValueError, match=message) as error:
        stats.iqm(scores)
    assert "\n" not in str(error.value)


def test_improvement_needs_the_same_tasks():
    with pytest.raises(ValueError, match="share their tasks"):
        stats.probability_of_improvement(np.zeros((3, 2)), np.zeros((3, 1)))
    with pytest.raises(ValueError, match="statistic"):
        stats.interval([1.0, 2.0], "median")


def test_summary_table_has_one_row_per_group_with_both_statistics():
    groups = {
        "lr=0.01": np.random.default_rng(0).normal(400, 50, 5),
        "lr=0.03": np.random.default_rng(1).normal(480, 5, (5, 2)),
        "one seed": np.array([3.0]),
    }
    table = stats.summary_table(groups, n_resamples=500)
    assert list(table.columns) == ["group", "n_runs", "iqm", "iqm_lo", "iqm_hi", "mean", "mean_lo", "mean_hi"]
    assert list(table["group"]) == list(groups) and list(table["n_runs"]) == [5, 10, 1]
    for row, scores in zip(table.itertuples(), groups.values(), strict=True):
        assert (row.iqm, row.iqm_lo, row.iqm_hi) == pytest.approx(
            tuple(stats.interval(scores, "iqm", n_resamples=500)), nan_ok=True
        )
        assert (row.mean, row.mean_lo, row.mean_hi) == pytest.approx(
            tuple(stats.interval(scores, "mean", n_resamples=500)), nan_ok=True
        )
    assert table.loc[2, ["iqm_lo", "mean_hi"]].isna().all()


def test_improvement_table_lists_each_pair_once():
    groups = {name: np.random.default_rng(k).normal(k, 1, 6) for k, name in enumerate("abc")}
    table = stats.improvement_table(groups, n_resamples=300)
    assert list(zip(table["x"], table["y"], strict=True)) == list(itertools.combinations("abc", 2))
    assert (table["probability"] < 0.5).all()  # b and c score higher than a, c higher than b
    assert ((table["lo"] <= table["probability"]) & (table["probability"] <= table["hi"])).all()
    with pytest.raises(ValueError, match="unknown group 'd'"):
        stats.improvement_table(groups, pairs=[("a", "d")])


def test_profile_table_shares_one_grid_between_groups():
    groups = {"a": np.arange(5.0), "b": np.arange(3.0, 8.0)}
    table = stats.profile_table(groups, n_resamples=200)
    assert list(table.columns) == ["group", "tau", "fraction", "lo", "hi"]
    taus = table.groupby("group")["tau"].apply(list)
    assert taus["a"] == taus["b"] and taus["a"][0] == 0 and taus["a"][-1] == 7
    assert isinstance(table, pd.DataFrame) and len(table) == 2 * 101
