"""The sequence kinds through the command line: `sequence` (every estimator of LLM fine-tuning against
the exact gradient) and `finetune` (E[R] − β KL(π ‖ π_ref) with any estimator). Both are built
through the kind spine — one module each and a registry line — so sweeps, --jobs 2, resume, Dask,
plot, check and the API work with no shell edit; these tests hold them to exact answers."""

import io
import runpy
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest
import yaml

import pgcli
from pgcli import kinds
from pgcli.kinds import seqtask, sequence
from pgcli.seq import exact, kl, policy, rewards, space
from pgcli.shell import api
from pgcli.shell.results import read_csv
from tests.helpers import assert_bad_input, invoke

ROOT = Path(__file__).resolve().parents[2]
FINETUNE_WALL_CLOCK = list(kinds.get("finetune").wall_clock)
SEQUENCE_WALL_CLOCK = list(kinds.get("sequence").wall_clock)
# what each claim allows the exact expectation E[ĝ] to be (pgcli.seq.evaluate: expected_kind)
CLAIMED = {"unbiased": {"none"}, "scale": {"scale"}, "biased": {"direction", "zero"}}


def run_ok(*args):
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return result


def config(directory):
    (config_path,) = directory.glob("*/config.yaml")
    return yaml.safe_load(config_path.read_text())["spec"]


def task_and_point(spec):
    """The policy, reward, θ_ref and θ a sequence run evaluated at, rebuilt from its spec."""
    task = seqtask.make(spec)
    theta_ref, theta = sequence.point(spec, task.policy)
    return task, theta_ref, theta


# ---------------------------------------------------------------------------------------------
# the sequence kind: exactness


def test_the_unbiased_estimators_are_within_4_se_and_the_biased_ones_are_flagged(tmp_path):
    """G = 3, one group per batch (so every estimator's E[ĝ] is exact), R = the number of 1s."""
    run_ok("sequence", "--reward", "count", "--set", "reward.params.token=1", "--group-size", 3, "--n-groups", 1,
           "--reps", 2000, "--compare", "objective", "--results", tmp_path, "-q")  # fmt: skip
    directory = tmp_path / "sequence-count-v2-l3"
    rows = read_csv(directory / "sequence.csv").set_index("estimator")
    assert list(rows.index) == ["reinforce", "reinforce_mean", "rloo", "grpo", "dr_grpo", "dapo", "remax"]
    unbiased = ["reinforce", "rloo", "remax"]
    assert (rows.loc[unbiased, "max_abs_z"] <= 4).all() and (rows.loc[unbiased, "bias_kind"] == "none").all()
    assert (rows.loc[unbiased, "expected_kind"] == "none").all()
    assert (rows.loc[["grpo", "dapo"], "bias_kind"] == "direction").all()
    assert (rows.loc[["grpo", "dapo"], "max_abs_z"] > 4).all() and (
        rows.loc[["grpo", "dapo"], "expected_cosine"] < 0.99
    ).all()
    assert rows.loc["dr_grpo", "bias_kind"] == "scale" and rows.loc["dr_grpo", "expected_kind"] == "scale"
    assert rows.loc["dr_grpo", "expected_scale"] == pytest.approx((3 - 1) / (3 * 3), rel=1e-12)  # (G − 1)/(G L)
    assert rows.loc["reinforce_mean", "expected_scale"] == pytest.approx(1 - 1 / 3, rel=1e-12)  # 1 − 1/(B G)
    assert (rows["expected_z"] <= 4.5).all()  # each measured mean is its exact expectation, biased or not
    for name, row in rows.iterrows():
        assert row["expected_kind"] in CLAIMED[row["claim"]], name
    # the exact column is ∇E[R] at the θ the run's seed gives, computed here independently
    task, _, theta = task_and_point(config(directory))
    grad = exact.exact(task.policy, theta, task.reward).grad
    assert np.allclose(rows["exact_norm"], np.linalg.norm(grad), rtol=1e-12)
    (coordinates_path,) = directory.glob("*/coordinates.csv")
    coordinates = read_csv(coordinates_path)
    mine = coordinates[coordinates["estimator"] == "rloo"]
    assert np.allclose(mine["exact"], grad, rtol=1e-12, atol=1e-15)
    assert (abs(mine["mean"] - mine["exact"]) <= 4 * mine["std_error"] + 1e-12).all()


@pytest.mark.slow
def test_only_k1_in_the_reward_or_as_a_reward_to_go_gives_the_exact_kl_gradient(tmp_path):
    run_ok("sequence", "--compare", "kl", "--reps", 300, "--results", tmp_path, "--name", "kl", "-q")
    rows = read_csv(tmp_path / "kl" / "sequence.csv")
    gradients = rows[rows["target"] == "grad KL"].set_index(["kl_estimator", "kl_placement"])
    assert len(gradients) == 9
    exact_ones = {(k, placement) for (k, placement), row in gradients.iterrows() if row["expected_kind"] == "none"}
    assert exact_ones == set(kl.EXACT_GRADIENT) == {("k1", "reward"), ("k1", "reward_to_go")}
    assert (gradients.loc[list(kl.EXACT_GRADIENT), "max_abs_z"] <= 4).all()
    assert gradients.loc[("k1", "loss"), "expected_kind"] == "zero"  # k1 as a loss does nothing on average
    values = rows[rows["target"] == "KL"].set_index("kl_estimator")
    assert (values.loc[["k1", "k3"], "max_abs_z"] <= 4).all() and (
        values.loc[["k1", "k3"], "expected_kind"] == "none"
    ).all()
    assert values.loc["k2", "expected_kind"] == "scale" and values.loc["k2", "expected_scale"] != pytest.approx(1)
    task, theta_ref, theta = task_and_point(config(tmp_path / "kl"))
    assert values["exact_norm"].to_numpy() == pytest.approx(
        [exact.exact(task.policy, theta, task.reward, theta_ref).kl] * 3
    )


@pytest.mark.slow
def test_every_claim_agrees_with_the_exact_expectation_whatever_the_penalty(tmp_path):
    """A sweep with --jobs 2: 2 estimators × 3 KL estimators × 3 placements at β = 0.5."""
    run_ok("sequence", "--estimators", "rloo,dr_grpo", "--compare", "objective", "--beta", 0.5, "--group-size", 2,
           "--n-groups", 1, "--reps", 20, "--set-grid", "kl_estimator=k1,k2,k3",
           "--set-grid", "kl_placement=reward,reward_to_go,loss", "--jobs", 2, "--results", tmp_path, "--name", "claims",
           "-q")  # fmt: skip
    rows = read_csv(tmp_path / "claims" / "sequence.csv")
    assert len(rows) == 18 and rows["expected_kind"].ne("").all()
    for _, row in rows.iterrows():
        assert row["expected_kind"] in CLAIMED[row["claim"]], row[["estimator", "kl_estimator", "kl_placement"]]
    assert set(rows.loc[rows["expected_kind"] == "none", "kl_placement"]) == {"reward", "reward_to_go"}


def test_exact_columns_are_blank_with_a_note_when_the_space_is_too_large(tmp_path):
    result = run_ok("sequence", "--policy", "mlp", "--hidden", 4, "--vocab", 16, "--max-len", 6, "--estimators",
                    "rloo", "--compare", "objective", "--reps", 3, "--n-groups", 2, "--results", tmp_path)  # fmt: skip
    assert "note: no exact values: 2 prompts × Σ_(l≤6) 16^l" in result.stdout
    (row,) = read_csv(tmp_path / "sequence-count-v16-l6" / "sequence.csv").to_dict("records")
    assert np.isnan(row["exact_norm"]) and np.isnan(row["cosine"]) and np.isnan(row["bias_kind"])
    assert row["variance"] > 0 and row["sequences_per_s"] > 0


# ---------------------------------------------------------------------------------------------
# finetune: exactness, sweeps, resume


def test_finetune_reaches_the_known_optimum_and_counts_steps_to_the_exact_target(tmp_path):
    result = run_ok("finetune", "--reward", "count", "--set", "reward.params.token=1", "--max-len", 2, "--steps", 80,
                    "--lr", 0.1, "--target", 1.9, "--target-metric", "reward_exact", "--results", tmp_path, "-q")  # fmt: skip
    assert "note: the best E[R] over all policies is 2 (exact)" in result.stdout
    directory = tmp_path / "finetune-count-v2-l2"
    table, runs = read_csv(directory / "finetune.csv"), read_csv(directory / "runs.csv")
    hit = int(np.flatnonzero(table["reward_exact"] >= 1.9)[0])
    (run,) = runs.to_dict("records")
    assert run["step_to_target"] == hit and run["sequences_to_target"] == hit * 8 * 4  # B = 8, G = 4
    assert run["final_reward_exact"] == table["reward_exact"].iloc[-1] >= 1.9
    # policy.npz holds θ_T and θ_ref; the exact columns are E[R] and KL there, computed here independently
    (npz,) = directory.glob("*/policy.npz")
    saved = np.load(io.BytesIO(npz.read_bytes()))
    task = seqtask.make(config(directory))
    found = exact.exact(task.policy, saved["theta"], task.reward, saved["theta_ref"])
    assert table["reward_exact"].iloc[-1] == pytest.approx(found.reward, rel=1e-12)
    assert table["kl"].iloc[-1] == pytest.approx(found.kl, rel=1e-12)
    assert np.array_equal(saved["theta_ref"], policy.init_params(task.policy))  # π_ref: the initial (uniform) table


@pytest.mark.slow
def test_finetune_sweeps_with_two_jobs_resume_and_give_the_bytes_of_one_job(tmp_path):
    args = [
        "finetune",
        "--set-grid",
        "estimator=rloo,grpo",
        "--set",
        "sweep.seeds=2",
        "--steps",
        6,
        "--name",
        "ft",
        "-q",
    ]
    run_ok(*args, "--jobs", 2, "--results", tmp_path / "two")
    directory = tmp_path / "two" / "ft"
    runs = read_csv(directory / "runs.csv")
    assert list(runs["label"]) == ["estimator=rloo,seed=0", "estimator=rloo,seed=1", "estimator=grpo,seed=0",
                                   "estimator=grpo,seed=1"]  # fmt: skip
    assert (runs["status"] == "done").all() and {"final_reward", "best_reward", "step_to_target"} <= set(runs)
    stamps = {path: path.stat().st_mtime_ns for path in directory.glob("*/status")}
    run_ok(*args, "--jobs", 2, "--results", tmp_path / "two")  # resume: nothing is computed again
    assert {path: path.stat().st_mtime_ns for path in directory.glob("*/status")} == stamps
    run_ok(*args, "--results", tmp_path / "one")
    two = read_csv(directory / "finetune.csv").drop(columns=FINETUNE_WALL_CLOCK)
    one = read_csv(tmp_path / "one" / "ft" / "finetune.csv").drop(columns=FINETUNE_WALL_CLOCK)
    assert len(two) == 4 * 7 and two.to_csv(index=False) == one.to_csv(index=False)


# ---------------------------------------------------------------------------------------------
# plot and check


@pytest.mark.slow
def test_plot_draws_finetune_curves_against_sequences_and_the_sequence_metrics(tmp_path):
    run_ok("finetune", "--set-grid", "estimator=rloo,reinforce", "--steps", 20, "--target", 1.5,
           "--target-metric", "reward_exact", "--results", tmp_path, "--name", "ft", "-q")  # fmt: skip
    curves = run_ok("plot", tmp_path / "ft", "--x", "sequences", "--y", "reward_exact", "--out", tmp_path / "ft.png")
    assert (tmp_path / "ft.png").stat().st_size > 1000, curves.output
    run_ok("plot", tmp_path / "ft", "--kind", "variance", "--out", tmp_path / "variance.svg")
    summary = run_ok("plot", tmp_path / "ft", "--table", "--target", 1.5).stdout
    assert "sequences_to_target" in summary and "reached" in summary  # the target's column: the spec's reward_exact
    table = read_csv(tmp_path / "ft" / "finetune.csv")
    rloo = table[table["estimator"] == "rloo"]
    hit = rloo["sequences"].iloc[int(np.flatnonzero(rloo["reward_exact"] >= 1.5)[0])]
    line = next(line for line in summary.splitlines() if line.strip().startswith("rloo"))
    assert f"{hit:g}" in line.split()
    run_ok("sequence", "--estimators", "rloo,grpo", "--compare", "objective", "--reps", 20, "--set-grid",
           "group_size=2,3", "--results", tmp_path, "--name", "seq", "-q")  # fmt: skip
    drawn = run_ok("plot", tmp_path / "seq", "--y", "variance,expected_cosine", "--out", tmp_path / "seq.png")
    assert (tmp_path / "seq.png").stat().st_size > 1000 and "wrote" in drawn.stdout
    assert_bad_input(invoke("plot", tmp_path / "ft", "--x", "tokens"), "--x must be one of", "sequences")
    assert_bad_input(invoke("plot", tmp_path / "seq", "--y", "varaince"), "unknown --y 'varaince'", "variance")


@pytest.mark.slow
def test_check_reads_the_target_metric_the_spec_chose(tmp_path):
    spec = tmp_path / "ft.yaml"
    spec.write_text(
        textwrap.dedent("""\
        kind: finetune
        task: {max_len: 2}
        reward: {name: count, params: {token: 1}}
        steps: 40
        lr: 0.1
        target: {metric: reward_exact, value: 1.8}
        sweep: {seeds: 2}
        expect:
          - {metric: step_to_target, target: 1.8, agg: max, "<=": 40}
          - {metric: final_reward, agg: min, ">=": 1.5}
          - {metric: final_reward_exact, agg: min, ">=": 1.8}
        """)
    )
    checked = invoke("check", spec, "--results", tmp_path / "results")
    assert checked.exit_code == 0 and "3 of 3 expectations pass" in checked.stdout, checked.output
    table = read_csv(tmp_path / "results" / "ft" / "finetune.csv")
    steps = [run["step"].iloc[int(np.flatnonzero(run["reward_exact"] >= 1.8)[0])] for _, run in table.groupby("run_id")]
    runs = read_csv(tmp_path / "results" / "ft" / "runs.csv")
    assert sorted(runs["step_to_target"]) == sorted(steps)  # reward_exact, not the batch's mean_reward
    seq = tmp_path / "seq.yaml"
    seq.write_text(
        textwrap.dedent("""\
        kind: sequence
        compare: [objective]
        estimators: [rloo, grpo, dr_grpo]
        n_groups: 1
        reps: 500
        expect:
          - {metric: max_abs_z, where: {estimator: rloo}, agg: max, "<=": 4}
          - {metric: variance, where: {bias_kind: scale, expected_kind: scale}, agg: count, "==": 1}
          - {metric: expected_cosine, where: {estimator: grpo}, agg: max, "<": 0.99}
        """)
    )
    checked = invoke("check", seq, "--results", tmp_path / "results")
    assert checked.exit_code == 0 and "3 of 3 expectations pass" in checked.stdout, checked.output


# ---------------------------------------------------------------------------------------------
# the API


def test_the_api_runs_each_kind_in_memory():
    table = pgcli.finetune("count", "rloo", steps=5, seed=1)
    assert list(table["step"]) == list(range(6)) and table.attrs["status"] == "done"
    assert set(table.attrs["summary"]) == set(kinds.get("finetune").summary_columns({}))
    assert set(np.load(io.BytesIO(table.attrs["files"]["policy.npz"]))) == {"theta", "theta_ref"}

    def ones(prompts, tokens, lengths):
        return (tokens == 1).sum(1)

    mine = pgcli.sequence(ones, estimators=["rloo", "grpo"], compare="objective", reps=50)
    builtin = pgcli.sequence("count", estimators=["rloo", "grpo"], compare="objective", reps=50,
                             overrides={"reward.params": {"token": 1}})  # fmt: skip
    assert mine.drop(columns=SEQUENCE_WALL_CLOCK).equals(builtin.drop(columns=SEQUENCE_WALL_CLOCK))
    with pytest.raises(pgcli.PgcliError, match="group_size: grpo needs a group of G ≥ 2"):
        pgcli.finetune("count", "grpo", group_size=1)


@pytest.mark.parametrize(
    ("kind", "args", "flags"),
    [
        ("sequence", ["--reward", "sorted", "--vocab", "3", "--estimators", "rloo,grpo", "--group-size", "6",
                      "--beta", "0.1", "--kl-estimator", "k3", "--kl-placement", "loss", "--spread", "1"],
         {"reward": "sorted", "vocab": 3, "estimators": ["rloo", "grpo"], "group_size": 6, "beta": 0.1,
          "kl_estimator": "k3", "kl_placement": "loss", "spread": 1}),
        ("finetune", ["--policy", "mlp", "--hidden", "8", "--estimator", "dapo", "--steps", "7", "--lr", "0.2",
                      "--epochs", "3", "--clip", "0.1", "--target", "2", "--target-metric", "objective"],
         {"policy": "mlp", "hidden": 8, "estimator": "dapo", "steps": 7, "lr": 0.2, "epochs": 3, "clip": 0.1,
          "target": 2, "target_metric": "objective"}),
    ],
)  # fmt: skip
def test_the_api_and_the_command_line_build_the_same_spec(kind, args, flags):
    printed = run_ok(kind, *args, "--print-spec", "--name", "api")
    assert api.spec(kind, api._flags(kinds.get(kind), flags)) == yaml.safe_load(printed.stdout)


# ---------------------------------------------------------------------------------------------
# bad input: one line, exit 2, nothing written


BAD = {
    "vocab 0": (["sequence", "--vocab", "0"], ["task.vocab: must be in [1, 1,024], got 0"]),
    "reps 1": (["sequence", "--reps", "1"], ["reps: must be in [2,"]),
    "grpo with G = 1": (["sequence", "--group-size", "1"], ["group_size: rloo needs a group of G ≥ 2"]),
    "unknown reward": (["finetune", "--reward", "counts"], ["reward.name: unknown reward 'counts'", "count"]),
    "token outside V": (["finetune", "--set", "reward.params.token=7"], ["reward.params: count: token must be"]),
    "unknown parameter": (["sequence", "--set", "reward.params.tokn=1"], ["unknown parameter tokn"]),
    "unknown estimator": (["finetune", "--estimator", "ppo"], ["Invalid value for '--estimator'"]),
    "total work": (["sequence", "--reps", "1000000", "--n-groups", "4096", "--group-size", "64"],
                   ["reps: reps × n_groups × group_size × max_len × cells", "tokens sampled; the limit is"]),
    "batch memory": (["finetune", "--n-groups", "60000", "--group-size", "4000"], ["n_groups: a batch of B·G"]),
    "too many coordinates": (["sequence", "--vocab", "100", "--max-len", "10"], ["policy: θ has d = 204,020"]),
    "exact target on a large space": (
        ["finetune", "--vocab", "16", "--max-len", "12", "--policy", "mlp", "--target-metric", "reward_exact"],
        ["target.metric: reward_exact is computed only on enumerable spaces", "use mean_reward"]),
    "negative steps": (["finetune", "--steps", "-1"], ["steps: must be in [0,"]),
    "lr 0": (["finetune", "--lr", "0"], ["lr: must be in (0, 100], got 0.0"]),
    "clip 1.5": (["finetune", "--clip", "1.5"], ["ppo.clip: must be in (0, 1)"]),
    "negative beta": (["finetune", "--beta", "-1"], ["beta: must be in [0,"]),
    "unknown key": (["finetune", "--set", "kl.beta=1"], ["unknown key", "kl"]),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, case):
    args, fragments = BAD[case]
    assert_bad_input(invoke(*args, "--results", tmp_path / "results"), *fragments, nothing_in=tmp_path / "results")


# ---------------------------------------------------------------------------------------------
# your reward: module:function beside the spec


ONES = """\
import numpy as np

def ones(prompts, tokens, lengths, *, token=1):
    return np.sum(tokens == token, axis=1)

def wrong(prompts, tokens, lengths):
    return np.zeros((tokens.shape[0], 2))
"""


def spec_beside(tmp_path, reward: str, name="mine", extra=""):
    """A finetune spec in tmp_path/exp/ and a reward module beside it, named for this test (a process
    imports one module of a name: each test's own is another module); `reward` names it MODULE."""
    directory = tmp_path / "exp"
    directory.mkdir(exist_ok=True)
    module = f"rewards_{zlib.crc32(str(tmp_path).encode()):08x}"
    (directory / f"{module}.py").write_text(ONES)
    spec = directory / f"{name}.yaml"
    reward = reward.replace("MODULE", module)
    spec.write_text(f"kind: finetune\nreward: {reward}\nsteps: 12\nexact_every: 3\nseed: 4\n{extra}")
    return spec


@pytest.mark.slow
def test_a_reward_module_beside_the_spec_is_your_code_and_matches_the_built_in(tmp_path):
    mine = spec_beside(tmp_path, "{name: 'MODULE:ones', params: {token: 1}}", "mine")
    builtin = spec_beside(tmp_path, "{name: count, params: {token: 1}}", "builtin")
    run_ok("finetune", mine, "--results", tmp_path / "results", "-q")
    run_ok("finetune", builtin, "--results", tmp_path / "results", "-q")
    tables = [read_csv(tmp_path / "results" / name / "finetune.csv") for name in ("mine", "builtin")]
    mine_table, builtin_table = (t.drop(columns=["run_id", *FINETUNE_WALL_CLOCK]) for t in tables)
    assert mine_table.to_csv(index=False) == builtin_table.to_csv(index=False)
    (config_path,) = (tmp_path / "results" / "mine").glob("*/config.yaml")
    modules = yaml.safe_load(config_path.read_text())["modules"]
    assert list(modules) == [mine.read_text().split("'")[1].split(":")[0]]  # its source is part of the run id


@pytest.mark.parametrize(
    ("reward", "fragment"),
    [
        ("json:dumps", "module 'json' is part of Python's standard library"),
        ("os:getcwd", "module 'os' is part of Python's standard library"),
        ("numpy:sum", "no file numpy.py (or package) in a trusted directory"),
    ],
)
def test_a_reward_that_is_not_your_file_is_refused_before_anything_runs(tmp_path, reward, fragment):
    spec = spec_beside(tmp_path, f"{{name: '{reward}'}}")
    assert_bad_input(invoke("finetune", spec, "--results", tmp_path / "results"), "reward.name", fragment,
                     nothing_in=tmp_path / "results")  # fmt: skip
    typed = invoke("sequence", "--reward", reward, "--results", tmp_path / "results")
    assert_bad_input(typed, "reward.name", fragment, nothing_in=tmp_path / "results")


@pytest.mark.slow
def test_a_reward_of_the_wrong_shape_is_bad_input(tmp_path):
    spec = spec_beside(tmp_path, "{name: 'MODULE:wrong'}")
    assert_bad_input(invoke("finetune", spec, "--results", tmp_path / "results"),
                     "reward.name: reward rewards_", ":wrong returned shape (N, 2), expected (N,)",
                     nothing_in=tmp_path / "results")  # fmt: skip


@pytest.mark.slow
def test_a_sweep_with_your_reward_on_dask_workers_matches_one_job(tmp_path):
    pytest.importorskip("distributed")
    spec = spec_beside(tmp_path, "{name: 'MODULE:ones'}", extra="sweep: {seeds: 2}\n")
    run_ok("finetune", spec, "--executor", "dask", "--jobs", 2, "--results", tmp_path / "dask", "-q")
    run_ok("finetune", spec, "--results", tmp_path / "local", "-q")
    dask, local = (read_csv(tmp_path / where / "mine" / "finetune.csv").drop(columns=FINETUNE_WALL_CLOCK)
                   for where in ("dask", "local"))  # fmt: skip
    assert len(dask) == 2 * 13 and dask.to_csv(index=False) == local.to_csv(index=False)


# ---------------------------------------------------------------------------------------------
# rewards: the built-in near_sum and the example of your own


def contents(seqs, vocab):
    lengths = space.content_lengths(seqs, vocab)
    return [list(row[:n]) for row, n in zip(seqs.tokens, lengths, strict=True)], lengths


def test_near_sum_is_one_minus_the_distance_of_the_sum_to_the_prompts_target():
    seqs = space.all_sequences(3, 4, 3)
    reward = rewards.make_reward("near_sum", 3, 4, 3, target=[2, 5, 9], scale=4)
    found = reward(seqs.prompts, seqs.tokens, space.content_lengths(seqs, 4))
    content, _ = contents(seqs, 4)
    assert found.tolist() == [1 - abs(sum(y) - [2, 5, 9][c]) / 4 for c, y in zip(seqs.prompts, content, strict=True)]
    assert exact.best_reward(policy.make_policy("tabular", 3, 4, 3), reward) == 1.0  # 9 = 3 + 3 + 3 is reachable


@pytest.mark.slow
def test_the_example_reward_is_a_palindrome_test_and_fine_tuning_reaches_it(tmp_path):
    palindrome = runpy.run_path(str(ROOT / "examples" / "seq_rewards.py"))["palindrome"]
    seqs = space.all_sequences(1, 3, 5)
    content, lengths = contents(seqs, 3)
    found = palindrome(seqs.prompts, seqs.tokens, lengths)
    assert found.tolist() == [float(y == y[::-1] and len(y) >= 3) for y in content]
    result = run_ok("finetune", "--trust", ROOT / "examples", "--reward", "seq_rewards:palindrome", "--vocab", 3,
                    "--max-len", 5, "--steps", 60, "--lr", 0.1, "--results", tmp_path, "-q")  # fmt: skip
    assert "the best E[R] over all policies is 1 (exact)" in result.stdout
    (directory,) = tmp_path.iterdir()
    assert read_csv(directory / "finetune.csv")["reward_exact"].iloc[-1] > 0.9


@pytest.mark.parametrize(
    ("params", "fragment"),
    [("{target: 3, scale: 0}", "near_sum: scale must be a number in (0, 1e12)"),
     ("{target: [1, 2, 3]}", "near_sum: target must be an integer or a list of 2 integers")],
)  # fmt: skip
def test_near_sum_with_bad_parameters_is_bad_input(tmp_path, params, fragment):
    result = invoke("finetune", "--reward", "near_sum", "--set", f"reward.params={params}", "--results", tmp_path)
    assert_bad_input(result, "reward.params", fragment, nothing_in=tmp_path)
