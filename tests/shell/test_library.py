"""The reproduction library shipped in the package: `pgcli list`, `pgcli copy`, and a bundled spec
addressed by name wherever a spec file goes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from pgcli import kinds
from pgcli.shell import library
from pgcli.shell.experiment import build_spec, infer_kind
from tests.helpers import assert_bad_input, invoke, written


def test_every_bundled_spec_has_a_title_a_time_and_a_kind():
    entries = library.entries()
    assert len(entries) == len(list(library.directory().glob("*.yaml"))) >= 20
    for entry in entries:
        assert entry.title and len(entry.title) <= 80, entry
        assert entry.time, f"{entry.name}: no `# time:` line"
        assert entry.kind in kinds.names()
        assert entry.about and "title:" not in entry.about and "time:" not in entry.about
        assert infer_kind(yaml.safe_load(entry.path.read_text()), entry.path) == entry.kind


def test_list_prints_one_line_per_spec():
    result = invoke("list")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["name", "kind", "time", "about"]
    assert [line.split()[0] for line in lines[1:]] == library.names()
    cartpole = next(line for line in lines if line.startswith("cartpole "))
    assert "train" in cartpole and "REINFORCE" in cartpole
    assert "--long" in result.stderr


def test_list_long_adds_each_description():
    result = invoke("list", "--long")
    assert result.exit_code == 0, result.output
    assert "rl-baselines3-zoo" in result.stdout and len(result.stdout.splitlines()) > 2 * len(library.names())


def test_a_bundled_spec_runs_by_name_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("estimate", "estimators-variance", "--set", "reps=20", "--set", "n=10", "-q")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "results" / "estimators-variance") in written(result).resolve().parents
    again = invoke("estimate", "estimators-variance.yaml", "--set", "reps=20", "--set", "n=10", "-q")
    assert again.exit_code == 0 and again.stdout == result.stdout


def test_a_file_in_the_working_directory_comes_before_the_bundled_spec(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cartpole.yaml").write_text("kind: estimate\nname: mine\nreps: 3\nn: [5]\n")
    result = invoke("estimate", "cartpole.yaml", "--print-spec")
    assert result.exit_code == 0, result.output
    assert "name: mine" in result.stdout


def test_a_bundled_spec_of_another_kind_says_how_to_run_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert_bad_input(invoke("estimate", "cartpole"), "pgcli train", nothing_in=tmp_path / "results")


@pytest.mark.parametrize("name", ["no-such-spec", "no-such-spec.yaml", "sub/no-such-spec.yaml"])
def test_an_unknown_spec_is_one_line(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    assert_bad_input(invoke("train", name), "spec file not found", "pgcli list", nothing_in=tmp_path / "results")


def test_copy_writes_a_spec_that_runs_and_never_replaces_without_force(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("copy", "optimize-gaussian")
    assert result.exit_code == 0, result.output
    copied = written(result)
    assert copied.resolve() == (tmp_path / "optimize-gaussian.yaml").resolve()
    assert copied.read_bytes() == (library.directory() / "optimize-gaussian.yaml").read_bytes()
    copied.write_text(copied.read_text() + "# my edit\n")
    assert_bad_input(invoke("copy", "optimize-gaussian"), "exists", "--force")
    assert copied.read_text().endswith("# my edit\n")
    assert invoke("copy", "optimize-gaussian", "--force").exit_code == 0
    assert copied.read_bytes() == (library.directory() / "optimize-gaussian.yaml").read_bytes()
    ran = invoke("optimize", copied, "--set", "steps=2", "--set", "sweep.seeds=1", "-q")
    assert ran.exit_code == 0, ran.output


def test_copy_to_a_named_file_and_bad_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("copy", "cartpole.yaml", "specs-mine.yaml")
    assert result.exit_code == 0 and (tmp_path / "specs-mine.yaml").is_file()
    assert_bad_input(invoke("copy", "nope"), "no bundled spec", "pgcli list")
    (tmp_path / "folder").mkdir()
    assert_bad_input(invoke("copy", "cartpole", tmp_path / "folder"), "folder")


def test_a_budget_a_spec_comment_states_is_the_one_that_binds():
    """cartpole-ppo said 150k env steps while 200 iterations × 256 steps (51,200) bound."""
    stated = 0
    for entry in library.entries():
        spec = build_spec(entry.kind, str(entry.path), {}, [], None, None)
        budget = kinds.get(entry.kind).budget(spec)
        for sentence in re.split(r"(?<=\.)\s", entry.about):
            if "budget" not in sentence:
                continue
            for number, thousands in re.findall(r"(\d[\d,]*)(k?) env steps", sentence):
                stated += 1
                assert int(number.replace(",", "")) * (1000 if thousands else 1) == budget[0], (entry.name, sentence)
    assert stated >= 3


def test_the_repositorys_experiments_folder_is_the_library(tmp_path, monkeypatch):
    """`pgcli train experiments/cartpole.yaml` (the long-standing path, in a checkout) runs the bundled spec."""
    repository = Path(__file__).resolve().parents[2]
    assert (repository / "experiments").resolve() == library.directory().resolve()
    monkeypatch.chdir(tmp_path)
    spec = repository / "experiments" / "cartpole.yaml"
    result = invoke("train", spec, "--print-spec")
    assert result.exit_code == 0 and "CartPole-v1" in result.stdout, result.output


@pytest.mark.parametrize("path", ["old-checkout/cartpole.yaml", "sub/cartpole.yaml", "../cartpole"])
def test_a_missing_path_to_a_bundled_spec_is_not_the_spec_but_names_it(tmp_path, monkeypatch, path):
    monkeypatch.chdir(tmp_path)
    result = invoke("train", path)
    assert_bad_input(result, f"spec file not found: {path};", "by its name alone: cartpole", nothing_in=tmp_path)
