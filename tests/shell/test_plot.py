"""`pgcli plot`: figures from small CSVs made here, checked on the matplotlib objects."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from pgcli.lab.estimate import COLUMNS as ESTIMATE_COLUMNS
from pgcli.lab.fisher import COLUMNS as FISHER_COLUMNS
from pgcli.rl.train import COLUMNS as TRAIN_COLUMNS
from pgcli.shell import curves as curves_core
from pgcli.shell import draw, plot
from tests.helpers import assert_bad_input, invoke, train_settings


def train_rows(baselines=("none", "mean"), seeds=(0, 1, 2), iterations=6, lengths=None):
    """Sweep-layout metrics (run_id, baseline, seed, COLUMNS): seeds differ in env_steps."""
    rows = []
    for b, baseline in enumerate(baselines):
        for seed in seeds:
            rng = np.random.default_rng([b, seed])
            count = (lengths or {}).get(seed, iterations)
            env_steps = np.cumsum(rng.integers(80, 120, count))
            returns = 20 + 10 * b + 5 * np.arange(count) + rng.normal(0, 3, count)
            for i in range(count):
                row = dict.fromkeys(TRAIN_COLUMNS, np.nan)
                row.update(
                    iteration=i,
                    env_steps=env_steps[i],
                    return_mean=returns[i],
                    return_window=returns[i - 2 : i + 1].mean() if i >= 2 else np.nan,
                    grad_var=10.0 / (1 + b) * (1 + rng.random()),
                    grad_snr=0.5 + rng.random(),
                    wall_s=0.01 * (i + 1),
                )
                rows.append({"run_id": f"{baseline}{seed}", "baseline": baseline, "seed": seed, **row})
    return pd.DataFrame(rows)


def write_sweep(directory, frame, table="metrics.csv"):
    directory.mkdir(parents=True, exist_ok=True)
    frame.to_csv(directory / table, index=False)
    runs = frame.drop_duplicates("run_id")[["run_id", "seed"]].assign(status="done")
    runs.to_csv(directory / "runs.csv", index=False)
    return directory


def estimate_rows(estimators=("score", "pathwise"), ns=(10, 100, 1000), mus=(0.0,), params=("mu",)):
    """Var[ĝ] = c/n; pathwise on a step function: ĝ = 0, so bias = −exact."""
    rows = []
    for mu in mus:
        for param in params:
            for k, estimator in enumerate(estimators):
                for n in ns:
                    exact = 0.4 * np.exp(-(mu**2) / 2)
                    pathwise = estimator == "pathwise"
                    variance = 0.0 if pathwise else (1 + k) / n
                    mean = 0.0 if pathwise else exact + 0.01 / n
                    row = dict.fromkeys(ESTIMATE_COLUMNS, np.nan)
                    row.update(
                        dist="gaussian",
                        parametrisation="standard",
                        param=param,
                        theta=f"mu={mu:g},sigma=1",
                        f="step",
                        estimator=estimator,
                        n_samples=n,
                        reps=50,
                        mean=mean,
                        exact=exact,
                        bias=mean - exact,
                        variance=variance,
                        std_error=np.sqrt(variance / 50),
                        mse=variance + (mean - exact) ** 2,
                    )
                    rows.append({"run_id": "e1", "seed": 0, **row})
    return pd.DataFrame(rows)


def fisher_rows(ns=(100, 1000, 10000)):
    """|empirical − exact| = 1/√n for every entry of score_mean, fisher, neg_hessian."""
    exact = {
        ("score_mean", "a", ""): 0.0,
        ("fisher", "a", "a"): 2.0,
        ("neg_hessian", "a", "a"): 2.0,
    }
    rows = []
    for n in ns:
        for (quantity, row_, col), value in exact.items():
            row = dict.fromkeys(FISHER_COLUMNS, np.nan)
            row.update(
                dist="gamma",
                parametrisation="standard",
                theta="shape=2,rate=3",
                n_samples=n,
                quantity=quantity,
                row=row_,
                col=col,
                empirical=value + n**-0.5,
                exact=value,
                abs_error=n**-0.5,
                std_error=n**-0.5,
            )
            rows.append({"run_id": "f1", "seed": 0, **row})
    return pd.DataFrame(rows)


def figure_for(path, **options):
    request = plot.prepare(plot.load([path]), options.pop("kind", None), **options)
    return draw.draw(request), request


def slope(line):
    x, y = (np.asarray(v, dtype=float) for v in line.get_data())
    return np.polyfit(np.log(x), np.log(y), 1)[0]


# ---------------------------------------------------------------------------------------------
# convergence


def test_seeds_make_one_curve_with_a_band_and_settings_make_curves(tmp_path):
    sweep = write_sweep(tmp_path / "cartpole", train_rows())
    fig, request = figure_for(sweep, target=475)
    (ax,) = fig.axes
    assert request.hue == ["baseline"]
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["baseline=none (3 runs)", "baseline=mean (3 runs)", "target 475"]
    assert len(ax.collections) == 2  # one band per curve
    assert list(ax.get_lines()[-1].get_ydata()) == [475, 475]
    assert ax.get_xlabel() == "environment steps" and "return" in ax.get_ylabel()
    assert ax.get_xscale() == "linear" and ax.get_yscale() == "linear"
    assert fig.get_suptitle() == "cartpole"
    assert ax.get_legend() is None and len(fig.legends) == 1  # outside the data


def test_one_seed_has_no_band_and_hue_seed_splits_seeds(tmp_path):
    sweep = write_sweep(tmp_path / "s", train_rows(baselines=("none",), seeds=(0,)))
    fig, _ = figure_for(sweep)
    assert len(fig.axes[0].get_lines()) == 1 and not fig.axes[0].collections
    sweep = write_sweep(tmp_path / "t", train_rows())
    fig, _ = figure_for(sweep, hue="seed", select=["baseline=mean"], band="none")
    assert [line.get_label() for line in fig.axes[0].get_lines()] == [f"seed={s} (1 run)" for s in range(3)]


def test_group_mean_and_count_match_pandas_on_a_shared_x():
    rows = train_rows()
    rows["_run"] = rows.groupby("run_id", sort=False).ngroup()
    curves = curves_core.group_curves(rows, "iteration", "return_mean", ["baseline"])
    direct = rows.groupby(["baseline", "iteration"], sort=False)["return_mean"].agg(["mean", "count"])
    mine = curves.set_index(["baseline", "iteration"])
    assert np.allclose(mine["mean"], direct.loc[mine.index, "mean"])
    assert (mine["n_runs"] == direct.loc[mine.index, "count"]).all()
    sd = rows.groupby(["baseline", "iteration"], sort=False)["return_mean"].std()
    with_sd = curves_core.group_curves(rows, "iteration", "return_mean", ["baseline"], band="sd")
    with_sd = with_sd.set_index(["baseline", "iteration"])
    assert np.allclose(with_sd["hi"] - with_sd["mean"], sd.loc[with_sd.index])


def test_band_is_the_percentile_bootstrap_of_the_seed_mean():
    rows = train_rows()
    rows["_run"] = rows.groupby("run_id", sort=False).ngroup()
    curves = curves_core.group_curves(rows, "iteration", "return_mean", ["baseline"])
    point = curves[(curves["baseline"] == "mean") & (curves["iteration"] == 3)].iloc[0]
    seeds = rows[(rows["baseline"] == "mean") & (rows["iteration"] == 3)]["return_mean"].to_numpy()
    rng = np.random.default_rng(curves_core.BOOT_SEED)
    means = seeds[rng.integers(0, 3, size=(curves_core.N_BOOT, 3))].mean(1)
    assert np.allclose([point["lo"], point["hi"]], np.quantile(means, [0.025, 0.975]))
    assert point["lo"] <= seeds.mean() <= point["hi"]


def test_bootstrap_ci_is_mean_plus_minus_1_96_standard_errors_for_many_seeds():
    values = np.random.default_rng(0).normal(3.0, 2.0, size=(4, 400))  # 4 points, 400 runs
    lo, hi = curves_core.bootstrap_ci(values, np.random.default_rng(1))
    half = 1.96 * values.std(1) / np.sqrt(400)
    assert np.allclose((hi - lo) / 2, half, rtol=0.1)
    assert np.allclose((hi + lo) / 2, values.mean(1), atol=0.2 * half)


def test_unequal_env_steps_are_interpolated_within_each_run_and_never_forward_filled():
    rows = pd.DataFrame(
        {
            "_run": [0, 0, 0, 1, 1, 1, 1],
            "env_steps": [0, 10, 20, 5, 15, 25, 35],
            "return_mean": [0.0, 10, 20, 10, 30, 50, 70],  # run 0: y = x, run 1: y = 2x
        }
    )
    curves = curves_core.group_curves(rows, "env_steps", "return_mean").set_index("env_steps")
    assert list(curves.index) == [0, 5, 10, 15, 20, 25, 35]
    assert list(curves["n_runs"]) == [1, 2, 2, 2, 2, 1, 1]
    assert np.allclose(curves["mean"], [0, 7.5, 15, 22.5, 30, 50, 70])
    assert curves["lo"].isna().tolist() == [True, False, False, False, False, True, True]


def test_smooth_is_a_trailing_mean_over_k_rows():
    rows = pd.DataFrame({"_run": 0, "iteration": range(4), "return_mean": [0.0, 2, 4, 10]})
    curves = curves_core.group_curves(rows, "iteration", "return_mean", smooth=2)
    assert list(curves["mean"]) == [0, 1, 3, 7]


def test_select_exclude_and_numeric_values(tmp_path):
    frame = train_rows(baselines=("none",)).rename(columns={"baseline": "lr"}).assign(lr=0.03)
    frame.loc[frame["seed"] == 2, "lr"] = 0.1
    sweep = write_sweep(tmp_path / "lr", frame)
    request = plot.prepare(plot.load([sweep]), select=["lr=3e-2"])
    assert set(request.frame["lr"]) == {0.03} and request.hue == []
    request = plot.prepare(plot.load([sweep]), exclude=["seed=0", "seed=2"])
    assert set(request.frame["seed"]) == {1}
    fig = draw.draw(plot.prepare(plot.load([sweep]), exclude=["seed=0"]))
    assert [line.get_label() for line in fig.axes[0].get_lines()] == [
        "lr=0.03 (1 run)",
        "lr=0.1 (1 run)",
    ]


def test_unequal_lengths_and_several_paths(tmp_path):
    a = write_sweep(tmp_path / "a", train_rows(baselines=("none",), lengths={1: 3}))
    b = write_sweep(tmp_path / "b", train_rows(baselines=("none",), seeds=(5, 6)))
    request = plot.prepare(plot.load([a, b]), x="iteration")
    assert request.hue == ["source"] and request.title == "a vs b"
    curves = curves_core.group_curves(request.frame, "iteration", "return_mean", request.hue)
    counts = curves[curves["source"] == "a"]["n_runs"].tolist()
    assert counts == [3, 3, 3, 2, 2, 2]  # seed 1 stopped after 3 iterations


def test_variance_figure_is_two_log_panels_grouped_like_convergence(tmp_path):
    sweep = write_sweep(tmp_path / "v", train_rows())
    fig, _ = figure_for(sweep, kind="variance", x="iteration")
    assert len(fig.axes) == 2
    for ax, y in zip(fig.axes, ["grad_var", "grad_snr"], strict=True):
        assert ax.get_yscale() == "log" and ax.get_title() == y
        assert len(ax.get_lines()) == 2 and len(ax.collections) == 2
        assert ax.get_xlabel() == "iteration (policy updates)"


def test_summary_table_matches_a_direct_computation(tmp_path):
    rows = train_rows()
    sweep = write_sweep(tmp_path / "t", rows)
    request = plot.prepare(plot.load([sweep]))
    table = curves_core.summary_table(request.frame, request.hue, "return_mean", request.goal, target=40).set_index(
        "baseline"
    )
    last = rows.groupby("run_id", sort=False).tail(1).groupby("baseline")["return_mean"]
    assert np.allclose(table["final_mean"], last.mean().loc[table.index])
    assert (table["runs"] == 3).all()
    first = rows[rows["return_window"] >= 40].groupby("run_id").head(1)  # reached: return_window, not y
    reached = first.groupby("baseline")
    assert (table["reached"] == reached.size().reindex(table.index, fill_value=0)).all()
    assert np.allclose(table["env_steps_to_target"], reached["env_steps"].mean().loc[table.index])
    assert (table["final_lo"] <= table["final_mean"]).all()


def test_plot_check_and_runs_csv_agree_on_reaching_the_target(tmp_path):
    """One definition (targets.py): the runs `plot --table` counts as reached are those whose
    env_steps_to_target `check` measures as finite and runs.csv records."""
    from pgcli.base.table import Table
    from pgcli.rl import train
    from pgcli.shell import expect

    rows = train_rows()
    request = plot.prepare(plot.load([write_sweep(tmp_path / "t", rows)]))
    table = curves_core.summary_table(request.frame, [], "return_mean", request.goal, target=40)
    item = {"metric": "env_steps_to_target", "target": 40, "agg": "count", ">=": 0}
    by_check = expect.per_run(item, pd.DataFrame(), rows, expect.Goal("return_window"))
    stop = train_settings().stop._replace(target_return=40.0)
    by_runs_csv = [
        train.summary(Table(list(run.columns), run.to_dict("records")), stop)["env_steps_to_target"]
        for _, run in rows.groupby("run_id", sort=False)
    ]
    assert np.allclose(by_check, np.nan_to_num(by_runs_csv, nan=np.inf))
    assert table["reached"].iloc[0] == np.isfinite(by_check).sum()
    assert 0 < table["reached"].iloc[0] < len(by_check)  # the synthetic runs do not all reach it
    assert np.isclose(table["env_steps_to_target"].iloc[0], by_check[np.isfinite(by_check)].mean())


def test_minimised_objective_reaches_its_target_from_above(tmp_path):
    """For optimize tables, reaching a target c means objective ≤ c (when minimising)."""
    rows = pd.DataFrame({"run_id": "a", "seed": 0, "step": range(4), "samples": [0, 8, 16, 24],
                         "objective": [0.9, 0.5, 0.2, 0.3], "wall_s": [0.1, 0.2, 0.3, 0.4]})  # fmt: skip
    sweep = write_sweep(tmp_path / "o", rows, "optimize.csv")
    request = plot.prepare(plot.load([sweep]), target=0.25)
    table = plot.summary(request)
    assert table["reached"].iloc[0] == 1 and table["samples_to_target"].iloc[0] == 16


# ---------------------------------------------------------------------------------------------
# estimators and Fisher


def test_estimator_figure_variance_against_n_with_1_over_n_and_pathwise_bias(tmp_path):
    sweep = write_sweep(tmp_path / "est", estimate_rows(), "estimate.csv")
    fig, request = figure_for(sweep)
    assert request.figure == "estimator" and len(fig.axes) == 2
    ax_n, ax_bias = fig.axes
    assert ax_n.get_xscale() == "log" and ax_n.get_yscale() == "log"
    lines = {line.get_label(): line for line in ax_n.get_lines()}
    assert set(lines) == {"score", "pathwise", "∝ 1/n"}
    assert slope(lines["∝ 1/n"]) == pytest.approx(-1)
    assert slope(lines["score"]) == pytest.approx(-1)
    bias = {line.get_label(): line.get_ydata() for line in ax_bias.get_lines()}
    assert np.allclose(bias["pathwise"], -0.4)  # ĝ = 0 on a step: biased by −∂E[f]/∂μ
    assert np.allclose(bias["score"], 0, atol=2e-3)
    assert len(ax_bias.collections) == 2 and "bias" in ax_bias.get_ylabel()
    assert fig.get_suptitle() == "est: f=step; param=mu"


def test_estimator_figure_against_theta_and_one_param_at_a_time(tmp_path):
    rows = estimate_rows(mus=(-1.0, 0.0, 1.0), params=("mu", "sigma"))
    sweep = write_sweep(tmp_path / "est", rows, "estimate.csv")
    fig, request = figure_for(sweep, y="mse")
    assert request.notes == ["plotting param=mu (also: sigma); choose with --select param=..."]
    ax_n, ax_theta, _ = fig.axes
    assert ax_theta.get_xlabel() == "θ: mu" and ax_theta.get_yscale() == "log"
    score = next(line for line in ax_theta.get_lines() if line.get_label() == "score")
    assert list(score.get_xdata()) == [-1, 0, 1]
    pathwise = next(line for line in fig.axes[2].get_lines() if line.get_label() == "pathwise")
    assert np.allclose(pathwise.get_ydata(), -0.4 * np.exp(-np.array([1, 0, 1]) / 2))  # −∂E[f]/∂μ
    assert "MSE" in ax_n.get_ylabel()
    fig, request = figure_for(sweep, select=["param=sigma"], hue="param", exclude=["estimator=score"])
    assert request.notes == [] and request.hue == ["param"]


def test_identities_figure_entries_on_the_diagonal_and_error_like_1_over_sqrt_n(tmp_path):
    sweep = write_sweep(tmp_path / "fi", fisher_rows(), "fisher.csv")
    fig, request = figure_for(sweep)
    ax_entries, ax_n = fig.axes
    assert request.figure == "identities" and len(ax_entries.collections) == 3  # one per quantity
    (diagonal,) = ax_entries.get_lines()
    assert np.allclose(diagonal.get_xdata(), diagonal.get_ydata())
    assert ax_n.get_xscale() == "log" and ax_n.get_yscale() == "log"
    lines = {line.get_label(): line for line in ax_n.get_lines()}
    assert set(lines) == {"score_mean", "fisher", "neg_hessian", "∝ 1/√n"}
    assert slope(lines["∝ 1/√n"]) == pytest.approx(-0.5)
    assert slope(lines["fisher"]) == pytest.approx(-0.5)


# ---------------------------------------------------------------------------------------------
# files and the command line


def test_same_csv_gives_the_same_svg_bytes(tmp_path):
    sweep = write_sweep(tmp_path / "d", train_rows())
    one = draw.render(figure_for(sweep)[0], "svg")
    two = draw.render(figure_for(sweep)[0], "svg")
    assert one == two and one.startswith(b"<?xml")


@pytest.mark.parametrize(("suffix", "magic"), [("png", b"\x89PNG"), ("svg", b"<?xml"), ("pdf", b"%PDF")])
def test_cli_writes_each_format_identically_twice(tmp_path, suffix, magic):
    sweep = write_sweep(tmp_path / "d", train_rows())
    outs = [tmp_path / f"{name}.{suffix}" for name in "ab"]
    for out in outs:
        result = invoke("plot", sweep, "--out", out, "--smooth", "2")
        assert result.exit_code == 0, result.output
        assert f"wrote {out}" in result.stdout
    assert outs[0].read_bytes().startswith(magic) and outs[0].stat().st_size > 1000
    assert outs[0].read_bytes() == outs[1].read_bytes()


def test_cli_single_run_directory_default_out_and_table(tmp_path):
    run = tmp_path / "cartpole" / "abc123"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(
        yaml.safe_dump({"run_id": "abc123", "kind": "train", "spec": {"name": "cartpole", "seed": 4}})
    )
    train_rows(baselines=("none",), seeds=(4,)).drop(columns=["run_id", "baseline", "seed"]).to_csv(
        run / "metrics.csv", index=False
    )
    result = invoke("plot", run)
    assert result.exit_code == 0, result.output
    assert (run / "convergence.png").stat().st_size > 0 and "convergence.png" in result.stdout
    table_out = tmp_path / "summary.csv"
    result = invoke("plot", run, "--table", "--target", "30", "--table-out", table_out)
    assert result.exit_code == 0, result.output
    assert "final_mean" in result.stdout and "reached" in result.stdout
    assert pd.read_csv(table_out)["runs"].tolist() == [1]


@pytest.mark.slow
def test_cli_plots_what_the_other_commands_write(tmp_path):
    results = tmp_path / "r"
    common = ["--results", results, "-q"]
    estimate = ["--dist", "gaussian", "--f", "step", "--n", "10,100", "--reps", "20"]
    tiny = ["stop.iterations=3", "env.num_envs=2", "batch.episodes=2", "sweep.seeds=2"]
    made = [
        invoke("estimate", *estimate, *common),
        invoke("fisher", "--dist", "gamma", "--n", "100,1000", *common),
        invoke(
            "train",
            *[arg for setting in tiny for arg in ("--set", setting)],
            *["--set-grid", "algo.discount=0.9,0.99", "--name", "tiny", *common],
        ),
    ]
    assert [result.exit_code for result in made] == [0, 0, 0]
    for name, figure in [
        ("estimate-gaussian-step", "estimator"),
        ("fisher-gamma", "identities"),
        ("tiny", "convergence"),
    ]:
        result = invoke("plot", results / name)
        assert result.exit_code == 0, result.output
        assert (results / name / f"{figure}.png").stat().st_size > 0
    result = invoke("plot", results / "tiny", "--kind", "variance", "--out", tmp_path / "v.svg")
    assert result.exit_code == 0, result.output


def test_help_ends_with_examples_and_core_does_not_import_click():
    result = invoke("plot", "--help")
    assert result.exit_code == 0 and "Examples:" in result.output and "pgcli plot" in result.output
    code = "import sys, pgcli.shell.plot; sys.exit('click' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def _bad_cases(tmp_path):
    sweep = write_sweep(tmp_path / "sweep", train_rows())
    empty = tmp_path / "empty"
    empty.mkdir()
    no_return = tmp_path / "no_return.csv"
    train_rows().drop(columns=["return_mean", "grad_var"]).to_csv(no_return, index=False)
    blank = tmp_path / "blank.csv"
    blank.write_text("")
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    return {
        "empty directory": ([empty], ["no results in", "metrics.csv"]),
        "missing columns": (
            [no_return],
            ["lacks columns needed for the convergence figure: return_mean"],
        ),
        "missing columns, forced kind": (
            [no_return, "--kind", "variance"],
            ["needed for the variance figure: grad_var"],
        ),
        "unknown --y": (
            [sweep, "--y", "retrun_mean"],
            ["unknown --y 'retrun_mean'", "did you mean 'return_mean'"],
        ),
        "unknown --hue": ([sweep, "--hue", "basline"], ["unknown --hue key 'basline'", "baseline"]),
        "unknown --select key": ([sweep, "--select", "lr=1"], ["unknown --select key 'lr'"]),
        "no match": ([sweep, "--select", "baseline=value"], ["matches no rows", "none, mean"]),
        "not KEY=VALUE": ([sweep, "--exclude", "seed"], ["expected KEY=VALUE"]),
        "empty csv": ([blank], ["is empty"]),
        "unwritable out": ([sweep, "--out", blocker / "fig.png"], ["cannot write"]),
        "bad suffix": ([sweep, "--out", tmp_path / "out" / "fig.jpg"], [".png, .svg or .pdf"]),
        "--x on estimates": (
            [write_sweep(tmp_path / "e", estimate_rows(), "estimate.csv"), "--x", "iteration"],
            ["--x applies to the convergence or variance figure"],
        ),
        "--table on estimates": ([tmp_path / "e", "--table"], ["--table summarises runs drawn as curves"]),
        "blank --y": ([sweep, "--y", "eval_return_mean"], ["'eval_return_mean'", "no numbers"]),
    }


@pytest.mark.parametrize(
    "case",
    [
        "empty directory",
        "missing columns",
        "missing columns, forced kind",
        "unknown --y",
        "unknown --hue",
        "unknown --select key",
        "no match",
        "not KEY=VALUE",
        "empty csv",
        "unwritable out",
        "bad suffix",
        "--x on estimates",
        "--table on estimates",
        "blank --y",
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, case):
    args, fragments = _bad_cases(tmp_path)[case]
    before = sorted(tmp_path.rglob("*"))
    result = invoke("plot", *args)
    assert_bad_input(result, *fragments)
    assert sorted(tmp_path.rglob("*")) == before
