"""`pgcli plot --stat iqm|mean` and `--kind profile`: the IQM and its interval in --table and in the
curves, and performance profiles of the groups' final values, against numbers computed by hand
from the table; the default outputs unchanged (no --stat: the columns and numbers as before)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pgcli.rl.train import COLUMNS
from pgcli.shell import curves, draw, plot, stats
from tests.helpers import assert_bad_input, invoke

BASELINES = ("none", "value")
SEEDS = range(8)


def sweep(directory, iterations=5, shared_x=True):
    """A train sweep's metrics.csv and runs.csv: 2 baselines × 8 seeds; return_mean at iteration i
    of seed s is 100 b + 10 i + s² (an outlier-prone spread), env_steps 100 (i + 1) when shared."""
    rows = []
    for b, baseline in enumerate(BASELINES):
        for seed in SEEDS:
            for i in range(iterations):
                row = dict.fromkeys(COLUMNS, np.nan)
                steps = 100 * (i + 1) if shared_x else 100 * (i + 1) + 7 * seed
                row.update(iteration=i, env_steps=steps, return_mean=100 * b + 10 * i + seed**2,
                           return_window=100 * b + 10 * i, grad_var=1.0 + seed, grad_snr=2.0, wall_s=0.1 * i)  # fmt: skip
                rows.append({"run_id": f"{baseline}{seed}", "baseline": baseline, "seed": seed, **row})
    frame = pd.DataFrame(rows)
    directory.mkdir(parents=True, exist_ok=True)
    frame.to_csv(directory / "metrics.csv", index=False)
    runs = frame.drop_duplicates("run_id")[["run_id", "baseline", "seed"]].assign(status="done")
    runs.to_csv(directory / "runs.csv", index=False)
    return directory, frame


def final(frame, baseline):
    last = frame[frame["baseline"] == baseline].groupby("run_id").tail(1)
    return last["return_mean"].to_numpy(float)


def hand_iqm(values):
    ordered = np.sort(np.ravel(values))
    g = len(ordered) // 4
    return ordered[g : len(ordered) - g].mean()


def test_table_with_stat_iqm_gives_each_groups_iqm_and_interval(tmp_path):
    directory, frame = sweep(tmp_path / "s")
    result = invoke("plot", directory, "--table", "--stat", "iqm", "--table-out", tmp_path / "t.csv")
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "t.csv")
    assert list(table.columns) == ["baseline", "runs", "final_iqm", "final_iqm_lo", "final_iqm_hi"]
    for row in table.itertuples(index=False):
        scores = final(frame, row.baseline)
        # 8 runs: drop 2 at each end; scores 40 + s² (+100): the mean of s² for s = 2..5 is 13.5
        assert row.final_iqm == pytest.approx(hand_iqm(scores)) == pytest.approx(scores.min() + 13.5)
        assert (row.final_iqm_lo, row.final_iqm_hi) == pytest.approx(tuple(stats.interval(scores, "iqm"))[1:])
        assert row.final_iqm_lo <= row.final_iqm <= row.final_iqm_hi


def test_table_with_stat_mean_uses_the_stratified_bootstrap_and_without_stat_is_unchanged(tmp_path):
    directory, frame = sweep(tmp_path / "s")
    plain = invoke("plot", directory, "--table", "--table-out", tmp_path / "plain.csv")
    mean = invoke("plot", directory, "--table", "--stat", "mean", "--table-out", tmp_path / "mean.csv")
    assert plain.exit_code == mean.exit_code == 0
    before = pd.read_csv(tmp_path / "plain.csv")
    assert list(before.columns) == ["baseline", "runs", "final_mean", "final_lo", "final_hi"]
    request = plot.prepare(plot.load([directory]))
    expected = curves.summary_table(request.frame, ["baseline"], "return_mean", ("return_window", "env_steps", False))
    pd.testing.assert_frame_equal(before, expected, check_dtype=False)  # the default summary, as before
    after = pd.read_csv(tmp_path / "mean.csv")
    for row in after.itertuples(index=False):
        scores = final(frame, row.baseline)
        assert (row.final_mean, row.final_mean_lo, row.final_mean_hi) == pytest.approx(
            tuple(stats.interval(scores, "mean"))
        )


def test_curves_with_stat_iqm_are_the_iqm_of_the_runs_at_each_x(tmp_path):
    directory, frame = sweep(tmp_path / "s")
    request = plot.prepare(plot.load([directory]), stat="iqm")
    fig = draw.draw(request)
    (ax,) = fig.axes
    for line, baseline in zip(ax.get_lines(), BASELINES, strict=True):
        by_x = frame[frame["baseline"] == baseline].groupby("env_steps")["return_mean"]
        np.testing.assert_allclose(line.get_ydata(), by_x.apply(hand_iqm).to_numpy())
    curve = curves.group_curves(request.frame, "env_steps", "return_mean", ["baseline"], stat="iqm")
    at = curve[(curve["baseline"] == "none") & (curve["env_steps"] == 300)].iloc[0]
    runs = frame[(frame["baseline"] == "none") & (frame["env_steps"] == 300)]["return_mean"].to_numpy()
    band = stats.band(runs[None, :], "iqm", seed=curves.BOOT_SEED)
    assert (at["lo"], at["hi"]) == pytest.approx((band.lo[0], band.hi[0]))
    assert at["lo"] < at["mean"] < at["hi"]


def test_curves_with_stat_iqm_follow_the_runs_present_at_each_x(tmp_path):
    """Seeds with different env_steps: the IQM at each grid x is over the runs with data there."""
    directory, _ = sweep(tmp_path / "s", shared_x=False)
    request = plot.prepare(plot.load([directory]), stat="iqm")
    curve = curves.group_curves(request.frame, "env_steps", "return_mean", ["baseline"], stat="iqm")
    mean = curves.group_curves(request.frame, "env_steps", "return_mean", ["baseline"])
    assert (curve["n_runs"].to_numpy() == mean["n_runs"].to_numpy()).all()
    first = curve.iloc[0]
    assert first["n_runs"] == 1 and np.isnan(first["lo"])  # only seed 0 at x = 100
    last = curve[curve["baseline"] == "none"].iloc[-1]  # only seed 7 reaches the last x
    assert last["n_runs"] == 1 and last["mean"] == pytest.approx(40 + 49)


def test_profile_figure_is_the_fraction_of_runs_above_each_threshold(tmp_path):
    directory, frame = sweep(tmp_path / "s")
    result = invoke("plot", directory, "--kind", "profile", "--out", tmp_path / "profile.png")
    assert result.exit_code == 0 and (tmp_path / "profile.png").stat().st_size > 10_000, result.output
    request = plot.prepare(plot.load([directory]), "profile")
    fig = draw.draw(request)
    (ax,) = fig.axes
    scores = {b: final(frame, b) for b in BASELINES}
    taus = stats.thresholds(scores)
    lines = [line for line in ax.get_lines() if "runs" in line.get_label()]
    assert [line.get_label() for line in lines] == ["baseline=none (8 runs)", "baseline=value (8 runs)"]
    for line, baseline in zip(lines, BASELINES, strict=True):
        np.testing.assert_allclose(line.get_xdata(), taus)
        np.testing.assert_allclose(line.get_ydata(), [(scores[baseline] > tau).mean() for tau in taus])
    assert "higher is better" in ax.get_xlabel() and ax.get_ylabel() == "fraction of runs with final return_mean > τ"


def test_profile_of_a_minimised_objective_says_lower_is_better(tmp_path):
    rows = [{"run_id": f"r{s}", "seed": s, "step": i, "samples": 4 * (i + 1), "objective": 1.0 / (i + 1 + s),
             "wall_s": 0.0} for s in range(4) for i in range(3)]  # fmt: skip
    directory = tmp_path / "opt"
    directory.mkdir()
    pd.DataFrame(rows).to_csv(directory / "optimize.csv", index=False)
    pd.DataFrame({"run_id": [f"r{s}" for s in range(4)], "seed": range(4), "status": "done"}).to_csv(
        directory / "runs.csv", index=False
    )
    request = plot.prepare(plot.load([directory]), "profile")
    request = request._replace(goal=("objective", "samples", True))  # as an optimize spec that minimises
    (ax,) = draw.draw(request).axes
    assert "lower is better" in ax.get_xlabel()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--stat", "iqm", "--band", "sd"], "--band sd is the mean's"),
        (["--stat", "median"], "Invalid value for '--stat'"),
        (["--kind", "profile", "--x", "iteration"], "--x applies to the convergence or variance figure"),
    ],
)
def test_bad_stat_and_profile_options_are_one_line_exit_2(tmp_path, args, message):
    directory, _ = sweep(tmp_path / "s")
    out = tmp_path / "out"
    assert_bad_input(invoke("plot", directory, *args, "--out", out / "f.png"), message, nothing_in=out)


def test_stat_on_an_estimate_table_is_refused(tmp_path):
    rows = pd.DataFrame({"run_id": "e", "seed": 0, "dist": "gaussian", "parametrisation": "standard",
                         "param": "mu", "theta": "mu=0,sigma=1", "f": "step", "estimator": "score",
                         "n_samples": [10, 100], "mean": 0.4, "exact": 0.4, "bias": 0.0, "variance": [0.1, 0.01],
                         "std_error": 0.01})  # fmt: skip
    directory = tmp_path / "e"
    directory.mkdir()
    rows.to_csv(directory / "estimate.csv", index=False)
    out = tmp_path / "out"
    result = invoke("plot", directory / "estimate.csv", "--stat", "iqm", "--out", out / "f.png")
    assert_bad_input(result, "--stat aggregates runs drawn as curves", nothing_in=out)
