"""Hostile input: every case is one line on stderr, the right exit code, no traceback, and
nothing half-written. Resource limits are checked before anything runs, so these tests use
--print-spec where they can: a limit that is not enforced prints the spec and exits 0."""

import os
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from pgcli.lab import functions
from pgcli.lab.dist_spec import MAX_DIM, MAX_GRID
from pgcli.rl import train
from pgcli.rl.settings import MAX_STATES
from pgcli.shell import atomic, results, spec
from tests.helpers import assert_bad_input, invoke

TINY_TRAIN = """
env: {id: CartPole-v1, num_envs: 2}
policy: {kind: linear}
batch: {episodes: 4}
stop: {iterations: 3}
eval: {every: 0}
"""


def write(path, text):
    path.write_text(textwrap.dedent(text))
    return path


def laughs(depth, width=10):
    """A billion-laughs YAML list: level i holds `width` aliases of level i − 1 (width^depth values)."""
    items = [f"&l0 [{', '.join(['lol'] * width)}]"]
    items += [f"&l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, depth + 1)]
    return "[" + ", ".join(items) + "]"


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished one-run train results directory, copied by each test that damages it."""
    root = tmp_path_factory.mktemp("finished")
    spec_file = write(root / "tiny.yaml", TINY_TRAIN)
    result = invoke("train", spec_file, "--results", root / "results", "-q")
    assert result.exit_code == 0, result.output
    return root / "results" / "tiny"


# ---------------------------------------------------------------------------------------------
# 1. specs do not run code


def test_env_id_naming_a_function_is_refused_without_calling_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "shell.yaml", 'env: {id: "os:system", kwargs: {command: "touch x"}}\n')
    for extra in (["--print-spec"], ["-q"]):
        result = invoke("train", "shell.yaml", "--results", tmp_path / "results", *extra)
        assert_bad_input(result, "env.id", "os:system", "standard library", nothing_in=tmp_path / "results")
        assert not (tmp_path / "x").exists()


def test_env_id_naming_a_factory_is_refused_without_calling_it(tmp_path):
    # tests.envs:not_an_env raises AssertionError if it is ever called; typed on the command line,
    # the module may be in the working directory (the repository's tests package)
    result = invoke("train", "--set", "env.id=tests.envs:not_an_env", "--results", tmp_path, "-q")
    assert_bad_input(result, "tests.envs:not_an_env is a function, not a gymnasium.Env subclass", nothing_in=tmp_path)


def test_env_id_naming_an_env_class_trains(tmp_path):
    spec_file = write(tmp_path / "one.yaml", TINY_TRAIN.replace("CartPole-v1", "'tests.envs:OneState'"))
    repository = Path(__file__).resolve().parents[2]  # a spec names modules beside it, or under --trust
    result = invoke("train", spec_file, "--results", tmp_path / "results", "-q", "--trust", repository)
    assert result.exit_code == 0, result.output
    runs = pd.read_csv(tmp_path / "results" / "one" / "runs.csv")
    assert runs["status"].tolist() == ["done"]
    assert pd.read_csv(tmp_path / "results" / "one" / "metrics.csv")["iteration"].tolist() == [0, 1, 2]


def test_user_module_that_exits_at_import_is_one_line_exit_2(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "exits_at_import_13.py").write_text("import sys\nsys.exit(3)\n")
    result = invoke("train", "--set", "env.id=exits_at_import_13:Env", "--results", tmp_path / "results", "-q")
    assert_bad_input(
        result, "env.id", "importing module 'exits_at_import_13'", "SystemExit: 3", nothing_in=tmp_path / "results"
    )


def test_user_module_that_exits_at_import_as_a_real_process(tmp_path):
    (tmp_path / "exits_at_import_14.py").write_text("import sys\nsys.exit(3)\n")
    done = subprocess.run(
        [sys.executable, "-m", "pgcli", "train", "--set", "env.id=exits_at_import_14:Env", "-q"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().count("\n") == 0 and "SystemExit: 3" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "results").exists()


# ---------------------------------------------------------------------------------------------
# 2. special files are never replaced


def _fifo(tmp_path):
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


def _still_fifo(path):
    return stat.S_ISFIFO(os.lstat(path).st_mode)


def test_out_onto_a_fifo_is_refused_before_running(tmp_path):
    fifo, results = _fifo(tmp_path), tmp_path / "results"
    result = invoke("estimate", "--n", "10", "--reps", "2", "--out", fifo, "--results", results, "-q")
    assert_bad_input(result, "fifo", "not a regular file", nothing_in=results)
    assert _still_fifo(fifo)


def test_out_onto_a_symlink_to_a_device_is_refused(tmp_path):
    link = tmp_path / "null"
    link.symlink_to(os.devnull)  # never written: refused before running
    result = invoke("estimate", "--n", "10", "--reps", "2", "--out", link, "--results", tmp_path / "r", "-q")
    assert_bad_input(result, "not a regular file", nothing_in=tmp_path / "r")
    assert link.is_symlink()


def test_out_onto_a_symlink_writes_through_it(tmp_path):
    target, link = tmp_path / "real.csv", tmp_path / "link.csv"
    target.write_text("old\n")
    link.symlink_to(target.name)
    result = invoke("estimate", "--n", "10", "--reps", "2", "--out", link, "--results", tmp_path / "r", "-q")
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and os.readlink(link) == "real.csv"
    assert target.read_text().startswith("run_id,seed,dist")


def test_plot_out_table_out_and_junit_onto_a_fifo_are_refused(finished, tmp_path):
    fifo, figure = _fifo(tmp_path), tmp_path / "figure.png"
    os.mkfifo(figure)
    assert_bad_input(invoke("plot", finished, "--table-out", fifo), "fifo", "not a regular file")
    assert_bad_input(invoke("plot", finished, "--out", figure), "figure.png", "not a regular file")
    assert_bad_input(invoke("check", "missing.yaml", "--junit", fifo), "not a regular file")
    assert _still_fifo(fifo) and _still_fifo(figure) and len(list(tmp_path.iterdir())) == 2


def test_atomic_write_refuses_special_files_and_writes_through_symlinks(tmp_path):
    fifo = _fifo(tmp_path)
    with pytest.raises(atomic.NotRegularFile):
        atomic.write_text(fifo, "x")
    assert _still_fifo(fifo) and [p.name for p in tmp_path.iterdir()] == ["fifo"]  # no temp file left
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "target.txt").write_text("old")
    (tmp_path / "link.txt").symlink_to(tmp_path / "dir" / "target.txt")
    atomic.write_text(tmp_path / "link.txt", "new")
    assert (tmp_path / "link.txt").is_symlink() and (tmp_path / "dir" / "target.txt").read_text() == "new"


# ---------------------------------------------------------------------------------------------
# 3. tracebacks that are now one-line errors


def test_huge_integer_literal_in_an_expression(tmp_path):
    result = invoke("estimate", "--f", "1" + "0" * 310 + "*x", "--results", tmp_path, "-q")
    assert_bad_input(result, "f[0]", "number too large", nothing_in=tmp_path)


SEED = "1" * 5000


@pytest.mark.parametrize(
    ("where", "text", "fragment"),
    [
        ("file", f"seed: {SEED}\n", "integer too long (5000 characters)"),
        ("file", f"seed: '{SEED}'\n", "seed: integer too large"),
        ("file", f"sweep: {{seeds: {SEED}}}\n", "integer too long"),
        ("file", f"sweep: {{seeds: ['{SEED}']}}\n", "sweep.seeds[0]: integer too large"),
        ("set", f"seed={SEED}", "seed: integer too long"),
        ("set", f"sweep.seeds={SEED}", "sweep.seeds: integer too long"),
        ("set", "seed=9223372036854775808", "seed: integer too large"),  # 2^63
    ],
)
def test_seed_with_thousands_of_digits(tmp_path, where, text, fragment):
    results = tmp_path / "results"
    args = [write(tmp_path / "seed.yaml", text)] if where == "file" else ["--set", text]
    assert_bad_input(invoke("estimate", *args, "--results", results, "--print-spec"), fragment, nothing_in=results)


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("estimate", "theta: &a [*a]\n"),
        ("estimate", "theta: {mu: &a [1, *a]}\n"),
        ("train", "env: {id: CartPole-v1, kwargs: &a {x: *a}}\n"),
    ],
)
def test_recursive_alias(tmp_path, kind, text):
    results = tmp_path / "results"
    result = invoke(kind, write(tmp_path / "rec.yaml", text), "--results", results, "--print-spec")
    assert_bad_input(result, "rec.yaml at line 1", "recursive alias", nothing_in=results)


def test_recursive_alias_in_set_value(tmp_path):
    result = invoke("train", "--set", "env.kwargs=&a {x: *a}", "--results", tmp_path, "--print-spec")
    assert_bad_input(result, "env.kwargs", "recursive alias", nothing_in=tmp_path)


@pytest.mark.parametrize("scheduler", ["notaurl", "tcp://[::1", "tcp://host:99999", "http://host:8786", "tcp://:8786"])
def test_scheduler_address_is_checked_before_dask(tmp_path, scheduler):
    results = tmp_path / "results"
    result = invoke("estimate", "--executor", "dask", "--scheduler", scheduler, "--results", results, "-q")
    assert_bad_input(result, "--scheduler", "is not an address", nothing_in=results / "estimate-gaussian")


def _damaged(finished, tmp_path, config=None, runs_csv=None):
    copy = tmp_path / "tiny"
    shutil.copytree(finished, copy)
    run_dir = next(p for p in copy.iterdir() if p.is_dir())
    if config is not None:
        (run_dir / "config.yaml").write_text(config)
    if runs_csv is not None:
        (copy / "runs.csv").write_bytes(runs_csv)
    return copy, run_dir


CONFIGS = {
    "malformed": ("kind: [\n", "malformed YAML"),
    "no kind": ("spec: {seed: 0}\n", "not a pgcli run config"),
    "a list": ("- kind\n- train\n", "not a pgcli run config"),
    "spec a list": ("kind: train\nrun_id: x\nspec: [1, 2]\n", "not a pgcli run config"),
    "recursive": ("kind: train\nspec: &a {x: *a}\n", "recursive alias"),
}


@pytest.mark.parametrize("case", list(CONFIGS))
def test_damaged_config_yaml(finished, tmp_path, case):
    text, fragment = CONFIGS[case]
    results_dir, run_dir = _damaged(finished, tmp_path, config=text)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    assert_bad_input(invoke("check", results_dir, "--no-run"), fragment)
    assert_bad_input(invoke("plot", run_dir, "--out", tmp_path / "fig.png"), fragment)
    assert_bad_input(invoke("fisher", "--policy", run_dir, "--states", "50"), fragment)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_binary_runs_csv(finished, tmp_path):
    results_dir, _ = _damaged(finished, tmp_path, runs_csv=bytes(range(256)) * 4)
    assert_bad_input(invoke("check", results_dir, "--no-run"), "runs.csv is not a readable CSV")


def test_hand_edited_config_spec_is_validated(finished, tmp_path):
    config = yaml.safe_load((next(p for p in finished.iterdir() if p.is_dir()) / "config.yaml").read_text())
    config["spec"]["env"]["id"] = "os:system"
    config["spec"]["env"]["kwargs"] = {"command": "touch x"}
    _, run_dir = _damaged(finished, tmp_path, config=yaml.safe_dump(config))
    result = invoke("fisher", "--policy", run_dir, "--states", "50")
    assert_bad_input(result, "os:system", "standard library")


def test_spec_file_over_the_size_limit_is_not_read(tmp_path):
    huge = tmp_path / "huge.yaml"
    with open(huge, "wb") as handle:
        handle.truncate(5 * 2**30)  # sparse: 5 GB of zeros that take no disk space
    result = invoke("estimate", huge, "--results", tmp_path / "results", "-q")
    assert_bad_input(result, "huge.yaml is 5,368,709,120 bytes", "1,000,000", nothing_in=tmp_path / "results")


def test_valid_spec_file_over_the_size_limit(tmp_path):
    padded = tmp_path / "padded.yaml"
    padded.write_text("# padding\n" * 110_000 + "dist: gaussian\n")
    result = invoke("estimate", padded, "--results", tmp_path / "results", "--print-spec")
    assert_bad_input(result, "padded.yaml is 1,100,015 bytes; the limit is 1,000,000")


def test_unfinished_run_directory_that_cannot_be_written(tmp_path):
    # Tests run as root, where permissions do not stop writes; a run directory that is a
    # regular file cannot be written by anyone.
    results = tmp_path / "results"
    args = ("--n", "10", "--reps", "2", "--results", results, "--name", "e", "-q")
    first = invoke("estimate", *args)
    assert first.exit_code == 0, first.output
    run_dir = next(p for p in (results / "e").iterdir() if p.is_dir())
    shutil.rmtree(run_dir)
    run_dir.write_text("")  # the run is unfinished and its directory cannot be made
    snapshot = {p: p.read_bytes() for p in results.rglob("*") if p.is_file()}
    result = invoke("estimate", *args)
    assert_bad_input(result, "cannot write to", run_dir.name, "is a file, not a directory")
    assert {p: p.read_bytes() for p in results.rglob("*") if p.is_file()} == snapshot


# ---------------------------------------------------------------------------------------------
# 4. resource bombs are refused up front


@pytest.mark.parametrize("depth", [6, 9], ids=["1e6", "1e9"])
@pytest.mark.parametrize(
    ("kind", "template"),
    [("estimate", "theta: {{mu: {bomb}}}\n"), ("train", "env: {{id: CartPole-v1, kwargs: {{x: {bomb}}}}}\n")],
    ids=["theta", "env.kwargs"],
)
def test_billion_laughs(tmp_path, depth, kind, template):
    path = write(tmp_path / "bomb.yaml", template.format(bomb=laughs(depth)))
    result = invoke(kind, path, "--results", tmp_path / "results", "--print-spec")
    assert_bad_input(
        result, "bomb.yaml", "more than 100000 values once aliases are expanded", nothing_in=tmp_path / "results"
    )


def test_aliases_within_the_limit_still_work():
    assert spec.parse_yaml("a: &a {lr: 1}\nb: *a\nc: {<<: *a, lr: 2}\n") == {
        "a": {"lr": 1},
        "b": {"lr": 1},
        "c": {"lr": 2},
    }


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--theta", "mu=0:1:10000,sigma=1:2:10000"], ["theta", "100,000,000 θ points", f"{MAX_GRID:,} in total"]),
        (["--theta", "mu=0:1:200,sigma=1:2:200"], ["theta", "200 × 200 = 40,000 θ points"]),
        (["--set", "sweep.seeds=100000000"], ["sweep.seeds", "100,000,000 seeds", "10,000 runs"]),
        (["--set", "sweep.seeds=20000"], ["sweep.seeds", "20,000 seeds"]),
        (["--set-grid", "h=" + ",".join(str(i / 1000 + 0.001) for i in range(200)), "--set", "sweep.seeds=100"],
         ["sweep", "200 grid points × 100 seeds = 20,000 runs"]),
        (["--n", "1e30"], ["n[0]", "integer too large"]),
        (["--n", "2e9"], ["n", "must be ≤ 1,000,000,000"]),
        (["--reps", "1e12"], ["reps", "must be ≤ 1,000,000"]),
        (["--n", "1e8", "--reps", "1000"], ["n × reps = 1e+11 samples", "10,000,000,000 per cell"]),
        (["--dist", "diag_gaussian", "--dim", "1000000"], ["dim", f"must be in 1..{MAX_DIM}"]),
        (["--dist", "categorical", "--dim", "5000", "--f", "table:" + ",".join(["1"] * 5000)], ["dim"]),
    ],
    ids=["grid-1e8", "grid-4e4", "seeds-1e8", "seeds-2e4", "runs-2e4", "n-1e30", "n-2e9", "reps-1e12",
         "n-reps", "dim-1e6", "table-5000"],
)  # fmt: skip
def test_estimate_limits(tmp_path, args, fragments):
    results = tmp_path / "results"
    assert_bad_input(invoke("estimate", *args, "--results", results, "--print-spec"), *fragments, nothing_in=results)


@pytest.mark.parametrize("size", [2000, 10**6])
def test_long_table_is_refused_before_parsing(size):
    with pytest.raises(functions.FunctionError, match=f"table has {size:,} values; the limit is 1,000"):
        functions.parse_function("table:" + ",".join(["1"] * size))


def test_long_table_in_a_spec_file(tmp_path):
    path = write(tmp_path / "t.yaml", "dist: categorical\ndim: 4\nf: ['table:" + ",".join(["1"] * 400_000) + "']\n")
    result = invoke("estimate", path, "--results", tmp_path / "results", "--print-spec")
    assert_bad_input(result, "f[0]", "table has 400,000 values", nothing_in=tmp_path / "results")


def test_fisher_limits(tmp_path):
    results = tmp_path / "results"
    result = invoke("fisher", "--dist", "diag_gaussian", "--dim", "60", "--results", results, "--print-spec")
    assert_bad_input(result, "dim", "120 parameters; fisher allows 100", nothing_in=results)
    result = invoke("fisher", "--n", "1e10", "--results", results, "--print-spec")
    assert_bad_input(result, "n", "must be ≤ 1,000,000,000", nothing_in=results)
    for states in ["1e9", "1000000000", str(MAX_STATES + 1)]:
        result = invoke("fisher", "--policy", tmp_path / "missing", "--states", states)
        assert_bad_input(result, "--states")


def test_optimize_limits(tmp_path):
    results = tmp_path / "results"
    for args, fragment in [(["--n", "1e7"], "n: must be ≤ 1,000,000"), (["--steps", "1e12"], "steps: must be ≤")]:
        assert_bad_input(invoke("optimize", *args, "--results", results, "--print-spec"), fragment, nothing_in=results)


def test_num_envs_limit(tmp_path):
    result = invoke("train", "--set", "env.num_envs=100000", "--results", tmp_path, "--print-spec")
    assert_bad_input(result, "env.num_envs", "must be ≤ 1024", nothing_in=tmp_path)


def test_long_theta_vectors_are_abbreviated_and_distinct(tmp_path):
    results = tmp_path / "results"
    args = ("--dist", "diag_gaussian", "--dim", "200", "--n", "10", "--reps", "2", "--estimators", "score")
    one = invoke("estimate", *args, "--results", results, "--name", "a", "-q")
    two = invoke("estimate", *args, "--theta", "mu=0.5", "--results", results, "--name", "b", "-q")
    assert one.exit_code == 0 and two.exit_code == 0, one.output + two.output
    a = pd.read_csv(results / "a" / "estimate.csv")
    b = pd.read_csv(results / "b" / "estimate.csv")
    assert len(a) == 400 and a["theta"].nunique() == 1
    label = a["theta"].iloc[0]
    assert label.startswith("mu=[0,0,0,…,0; 200 values; crc32 ") and len(label) < 120
    assert label != b["theta"].iloc[0]


# ---------------------------------------------------------------------------------------------
# 5. divergence that stays finite


@pytest.mark.parametrize(
    ("sets", "fragment"),
    [
        (["optim.lr=10"], "moved the policy by KL"),  # the largest rates the schema allows still collapse it
        (["optim.kind=sgd", "optim.lr=10"], "moved the policy by KL"),
        (["env.id=tests.envs:Huge", "env.kwargs={reward: 0.001}", "algo.value.lr=10"], "that of predicting 0"),
    ],
)
@pytest.mark.slow
def test_finite_divergence_is_diverged(tmp_path, sets, fragment):
    spec_file = write(tmp_path / "tiny.yaml", TINY_TRAIN.replace("linear", "mlp, hidden: [16]"))
    args = [a for s in sets for a in ("--set", s)]
    repository = Path(__file__).resolve().parents[2]
    result = invoke("train", spec_file, *args, "--results", tmp_path / "results", "-q", "--trust", repository)
    assert result.exit_code == 1, result.output
    assert "diverged" in result.stderr and fragment in result.stderr
    runs = pd.read_csv(next((tmp_path / "results" / "tiny" / "sweeps").glob("*/runs.csv")))  # a --set variation
    assert runs["status"].tolist() == ["diverged"]


def test_divergence_rule():
    assert train.divergence(0.05, 10.0, None, 3) is None
    assert train.divergence(train.MAX_STEP_KL * 1.01, 0.0, None, 3).startswith("update 3 moved the policy")
    targets = np.full(8, 10.0)  # the zero predictor's loss is (½·100 + 1) = 51
    assert train.divergence(0.0, 51 * 999, targets, 0) is None
    assert "predicting 0" in train.divergence(0.0, 51 * 1001, targets, 0)


# ---------------------------------------------------------------------------------------------
# 6. duplicate keys


def test_duplicate_key_in_a_spec_file(tmp_path):
    path = write(tmp_path / "dup.yaml", "stop: {iterations: 3}\neval: {every: 0}\nstop: {env_steps: 10}\n")
    result = invoke("train", path, "--results", tmp_path / "results", "--print-spec")
    assert_bad_input(
        result, "dup.yaml at line 3", "duplicate key 'stop' (first at line 1)", nothing_in=tmp_path / "results"
    )


def test_nested_duplicate_key_in_a_spec_file(tmp_path):
    path = write(tmp_path / "dup.yaml", "optim:\n  lr: 0.1\n  kind: sgd\n  lr: 0.2\n")
    result = invoke("train", path, "--results", tmp_path / "results", "--print-spec")
    assert_bad_input(result, "line 4", "duplicate key 'lr' (first at line 2)")


def test_duplicate_key_in_a_set_value(tmp_path):
    result = invoke("train", "--set", "env.kwargs={a: 1, a: 2}", "--results", tmp_path, "--print-spec")
    assert_bad_input(result, "env.kwargs", "duplicate key 'a'", nothing_in=tmp_path)


def test_runner_reads_configs_with_the_same_loader(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("kind: train\nkind: estimate\nspec: {}\n")
    with pytest.raises(spec.SpecError, match="duplicate key 'kind'"):
        results.read_config(path)


@pytest.mark.parametrize("command", ["train", "estimate", "check"])
def test_a_spec_argument_too_long_for_a_file_name_is_one_short_line(tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    result = invoke(command, "x" * 10_000)
    assert_bad_input(result, "… (10,000 characters)", nothing_in=tmp_path)
    assert len(result.stderr) < 400


def test_a_csv_of_200000_columns_is_refused_in_one_line(tmp_path):
    wide = tmp_path / "wide.csv"
    wide.write_text(",".join(f"c{i}" for i in range(200_000)) + "\n" + ",".join(["1"] * 200_000) + "\n")
    assert_bad_input(invoke("plot", wide), "has 200,000 columns; a table pgcli reads has at most 10,000")


def test_a_csv_that_is_no_pgcli_table_says_which_tables_plot_reads(tmp_path):
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    assert_bad_input(invoke("plot", other), "cannot tell what", "(columns: run_id, a, b)", "metrics.csv", "--kind")
