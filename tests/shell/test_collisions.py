"""A summary directory holds one experiment: a different experiment under the same name is refused
in one line naming --name, never written over; flags-only names say what ran; check and plot on an
empty or foreign directory are one line."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.helpers import assert_bad_input, invoke, written

SMALL = ["--n", "10", "--reps", "5", "--estimators", "score"]


def estimate(results, *args):
    result = invoke("estimate", *args, "--results", results, "-q")
    assert result.exit_code == 0, result.output
    return result


def spec_file(path, name, reps=5):
    path.write_text(f"kind: estimate\nname: {name}\nn: [10]\nreps: {reps}\nestimators: [score]\n")
    return path


def test_flags_alone_are_named_for_what_they_ran(tmp_path):
    """Before, every gaussian estimate shared results/estimate-gaussian/."""
    step = written(estimate(tmp_path, "--f", "step", *SMALL))
    square = written(estimate(tmp_path, "--f", "square", *SMALL))
    grid = written(estimate(tmp_path, "--set-grid", "dist=exponential,gamma", *SMALL))
    assert [p.parent.name for p in (step, square, grid)] == [
        "estimate-gaussian-step",
        "estimate-gaussian-square",
        "estimate-by-dist-step",
    ]
    assert set(pd.read_csv(step)["f"]) == {"step"} and set(pd.read_csv(square)["f"]) == {"square"}


def test_a_flags_run_never_replaces_a_spec_files_summary(tmp_path):
    """The README's `optimize --dist bernoulli …` used to replace the shipped spec's runs.csv."""
    spec = spec_file(tmp_path / "mine.yaml", "estimate-gaussian-step", reps=7)
    written(estimate(tmp_path / "r", spec))
    runs = (tmp_path / "r" / "estimate-gaussian-step" / "runs.csv").read_bytes()
    result = invoke("estimate", *SMALL, "--name", "estimate-gaussian-step", "--results", tmp_path / "r")
    assert_bad_input(result, "estimate-gaussian-step/ holds another experiment", str(spec), "--name NAME")
    assert (tmp_path / "r" / "estimate-gaussian-step" / "runs.csv").read_bytes() == runs
    assert written(estimate(tmp_path / "r", *SMALL, "--name", "mine-by-flags")).parent.name == "mine-by-flags"


def test_different_flags_under_one_name_are_refused_and_another_seed_is_the_same_experiment(tmp_path):
    first = written(estimate(tmp_path, *SMALL)).parent
    runs = (first / "runs.csv").read_bytes()
    result = invoke("estimate", *SMALL, "--reps", "9", "--results", tmp_path)
    assert_bad_input(
        result, f"{first}/ holds another experiment", "flags (estimate estimators=[score] n=[10] reps=5)", "--name NAME"
    )
    assert (first / "runs.csv").read_bytes() == runs
    again = estimate(tmp_path, *SMALL, "--seed", "3")
    assert written(again).parent == first
    assert list(pd.read_csv(first / "runs.csv")["seed"]) == [3]


def test_two_spec_files_with_one_name_are_refused_and_the_same_text_elsewhere_is_not(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    results = tmp_path / "r"
    estimate(results, spec_file(tmp_path / "a" / "spec.yaml", "shared"))
    copy = tmp_path / "b" / "spec.yaml"
    copy.write_bytes((tmp_path / "a" / "spec.yaml").read_bytes())
    assert written(estimate(results, copy)).parent == results / "shared"  # the same experiment, moved
    other = spec_file(tmp_path / "b" / "other.yaml", "shared", reps=6)
    result = invoke("estimate", other, "--results", results)
    assert_bad_input(result, "holds another experiment", "--name NAME", f"name: in {other}")
    assert written(estimate(results, other, "--name", "shared-6")).parent == results / "shared-6"


def test_editing_a_spec_file_keeps_its_directory(tmp_path):
    spec = spec_file(tmp_path / "mine.yaml", "mine")
    estimate(tmp_path / "r", spec)
    spec_file(spec, "mine", reps=8)
    assert written(estimate(tmp_path / "r", spec)).parent == tmp_path / "r" / "mine"


def test_a_directory_from_an_older_pgcli_is_adopted_and_an_unreadable_marker_is_refused(tmp_path):
    first = written(estimate(tmp_path, *SMALL)).parent
    (first / "experiment.yaml").unlink()
    assert written(estimate(tmp_path, *SMALL, "--reps", "9")).parent == first  # adopted by this one
    (first / "experiment.yaml").write_text("[not, a, mapping]\n")
    assert_bad_input(invoke("estimate", *SMALL, "--results", tmp_path), "unreadable", "experiment.yaml")


def test_a_bundled_spec_collision_names_only_the_flag(tmp_path):
    estimate(tmp_path, *SMALL, "--name", "estimators-variance")
    result = invoke("estimate", "estimators-variance", "--results", tmp_path)
    assert_bad_input(result, "holds another experiment", "--name NAME")
    assert "name: in" not in result.stderr


@pytest.mark.parametrize("command", [["check", "--no-run"], ["check"], ["plot"]])
@pytest.mark.parametrize("contents", ["empty", "foreign", "no runs"])
def test_check_and_plot_on_an_empty_or_foreign_directory_are_one_line(tmp_path, command, contents):
    target = tmp_path / "target"
    target.mkdir()
    if contents == "foreign":
        (target / "notes.md").write_text("mine\n")
        (target / "sub").mkdir()
    elif contents == "no runs":
        (target / "runs.csv").write_text("run_id,label,status,wall_s\n")
    before = sorted(target.rglob("*"))
    assert_bad_input(invoke(*command, target))
    assert sorted(target.rglob("*")) == before
