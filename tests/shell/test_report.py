"""`pgcli report` and `pgcli check --report`: pages of real results made here (a tiny train sweep,
a tiny estimate run, a sweep of a kind defined outside the package with failing runs), read back
with a strict HTML5 parser; the numbers on the page against statistics recomputed from the CSVs.
The browser's view of the same pages is tests/shell/test_browser.py."""

from __future__ import annotations

import os
import re
import stat as filemode
from pathlib import Path

import html5lib
import numpy as np
import pandas as pd
import pytest
import yaml

from pgcli import kinds
from pgcli.shell import stats
from tests import tiny_results
from tests.helpers import assert_bad_input, invoke
from tests.tiny_results import TRAIN_SPEC

NS = {"h": "http://www.w3.org/1999/xhtml"}


@pytest.fixture(scope="module")
def results_root(tmp_path_factory) -> Path:
    """results/tiny-train (2 baselines × 3 seeds, with an expect: block) and results/tiny-estimate."""
    return tiny_results.make(tmp_path_factory.mktemp("results"))


@pytest.fixture
def toy(tmp_path):
    """The toy kind of tests/toy_kind.py, whose runs with seed 1 fail: a sweep with failed runs."""
    kind = kinds.register("tests.toy_kind")
    healthy = kind.run

    def run(spec, progress):
        if spec["seed"] == 1:
            raise RuntimeError(f"the toy broke on seed 1 (rate {spec['rate']})")
        return healthy(spec, progress)

    kinds._LOADED["toy"] = kind._replace(run=run)
    yield
    kinds.REGISTRY.pop("toy")
    kinds._LOADED.pop("toy")


def parse(text: str):
    """The page as a tree; html5lib in strict mode raises on any parse error."""
    return html5lib.HTMLParser(strict=True, namespaceHTMLElements=True).parse(text)


def section(tree, sid: str):
    found = tree.find(f".//h:section[@id='{sid}']", NS)
    assert found is not None, f"no section #{sid}"
    return found


def table_frame(table) -> pd.DataFrame:
    """An HTML table of the page as a DataFrame of text."""
    header = ["".join(th.itertext()) for th in table.findall("./h:thead/h:tr/h:th", NS)]
    rows = [["".join(td.itertext()) for td in tr.findall("./h:td", NS)] for tr in table.findall("./h:tbody/h:tr", NS)]
    return pd.DataFrame(rows, columns=header)


def tables(element) -> list[pd.DataFrame]:
    return [table_frame(t) for t in element.iter(f"{{{NS['h']}}}table")]


def report(*paths, out=None):
    args = ["report", *paths] + (["--out", out] if out else [])
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    written = Path(out) if out else Path(paths[0]) / "report.html"
    assert result.stdout.strip() == f"wrote {written}"
    return written.read_text(encoding="utf-8")


def finals(metrics: pd.DataFrame, by: str, y: str) -> dict[str, np.ndarray]:
    """Each group's runs' last y, read from the combined table by hand."""
    last = metrics.sort_values(["run_id", "iteration"]).groupby("run_id").tail(1)
    return {value: rows[y].to_numpy(float) for value, rows in last.groupby(by, sort=False)}


# ---------------------------------------------------------------------------------------------
# one experiment


@pytest.mark.slow
def test_a_train_sweep_report_has_every_section_and_parses_strictly(results_root):
    directory = results_root / "tiny-train"
    tree = parse(report(directory))
    for sid in ("what-ran", "expectations", "summary", "figures", "runs", "spec"):
        section(tree, sid)
        assert tree.find(f".//h:nav//h:a[@href='#{sid}']", NS) is not None
    what = dict(zip(*(["".join(e.itertext()) for e in section(tree, "what-ran").iter(f"{{{NS['h']}}}{tag}")]
                      for tag in ("dt", "dd")), strict=True))  # fmt: skip
    config = yaml.safe_load(next(directory.glob("*/config.yaml")).read_text())
    assert what["kind"] == "train" and what["runs"] == "6 (6 done)" and what["varying"] == "baseline, seed"
    assert what["numpy"] == config["versions"]["numpy"] and what["python"] == config["versions"]["python"]
    assert str(config["machine"]["cores"]) in what["machine"] and what["date"].endswith("(the first run recorded)")
    spec_text = "".join(section(tree, "spec").find(".//h:pre", NS).itertext())
    assert yaml.safe_load(spec_text)["env"] == {**config["spec"]["env"]}


@pytest.mark.slow
def test_every_expectation_is_shown_with_its_measured_value_requirement_and_verdict(results_root):
    tree = parse(report(results_root / "tiny-train"))
    (shown,) = tables(section(tree, "expectations"))
    assert list(shown["expectation"]) == ["every run ends with a positive return", "no run scores 1000"]
    assert list(shown["result"]) == ["PASS", "FAIL"]
    assert list(shown["requirement"]) == ["min return_mean@final > 0", "max return_mean@final >= 1000"]
    metrics = pd.read_csv(results_root / "tiny-train" / "metrics.csv")
    last = metrics.sort_values(["run_id", "iteration"]).groupby("run_id").tail(1)["return_mean"]
    assert [float(v) for v in shown["measured"]] == pytest.approx([last.min(), last.max()], rel=1e-4)
    assert shown["source"].iloc[1] == "impossible by design"
    cells = section(tree, "expectations").findall(".//h:td[@class='st-fail']", NS)
    assert ["".join(c.itertext()) for c in cells] == ["FAIL"]


@pytest.mark.slow
def test_the_summary_is_the_iqm_and_mean_of_each_groups_final_returns(results_root):
    """IQM, mean and their intervals on the page against stats recomputed from metrics.csv."""
    tree = parse(report(results_root / "tiny-train"))
    summary, improvement = tables(section(tree, "summary"))
    metrics = pd.read_csv(results_root / "tiny-train" / "metrics.csv")
    by_hand = finals(metrics, "baseline", "return_mean")
    assert list(summary["group (configuration)"]) == ["baseline=none", "baseline=value"]
    for row, (_, scores) in zip(summary.itertuples(index=False), by_hand.items(), strict=True):
        assert int(row.n_runs) == 3
        ordered = np.sort(scores)  # N = 3: ⌊3/4⌋ = 0 trimmed, the IQM is the mean
        assert float(row.iqm) == pytest.approx(ordered.mean(), rel=1e-4)
        interval = stats.interval(scores, "mean")
        assert [float(row.mean), float(row.mean_lo), float(row.mean_hi)] == pytest.approx(list(interval), rel=1e-4)
    x, y = by_hand["none"], by_hand["value"]
    wins = np.mean([1.0 if a > b else 0.5 if a == b else 0.0 for a in x for b in y])
    assert float(improvement["P(X better than Y)"].iloc[0]) == pytest.approx(wins, rel=1e-4)
    assert list(improvement[["X", "Y"]].iloc[0]) == ["baseline=none", "baseline=value"]


@pytest.mark.slow
def test_every_figure_is_inline_svg_with_alt_text_and_its_command(results_root):
    text = report(results_root / "tiny-train")
    tree = parse(text)
    figures = section(tree, "figures").findall(".//h:figure[@class='fig']", NS)
    kinds_drawn = [re.search(r"--kind (\w+)", "".join(f.find("h:figcaption", NS).itertext())).group(1) for f in figures]
    assert kinds_drawn == ["convergence", "variance", "profile"]
    for figure in figures:
        svg = figure.find("{http://www.w3.org/2000/svg}svg")
        assert svg is not None and svg.get("role") == "img" and len(svg.get("aria-label")) > 40
    links = [v for e in tree.iter() for k, v in e.attrib.items() if k in ("src", "href", "action", "srcset")]
    assert links and all(v.startswith("#") for v in links), links  # nothing outside the page
    assert not [e for e in tree.iter() if isinstance(e.tag, str) and e.tag.endswith(("}img", "}iframe", "}link"))]


@pytest.mark.slow
def test_an_estimate_report_draws_a_figure_per_slice_and_what_the_command_prints(results_root):
    tree = parse(report(results_root / "tiny-estimate"))
    figures = section(tree, "figures").findall(".//h:figure[@class='fig']", NS)
    captions = ["".join(f.find("h:figcaption", NS).itertext()) for f in figures]
    assert captions == [f"Drawn by: pgcli plot {results_root / 'tiny-estimate'} --kind estimator --select 'param={p}'"
                        for p in ("mu", "sigma")]  # fmt: skip
    printed = "".join(section(tree, "summary").find(".//h:pre", NS).itertext())
    assert "bias/se" in printed and "score_loo" in printed  # kinds.get("estimate").show's table
    assert tables(section(tree, "expectations")) == []  # no expect: block
    assert "no expect: block" in "".join(section(tree, "expectations").itertext())


def test_failed_runs_are_listed_with_their_error_line(toy, tmp_path):
    """A kind defined outside the package (tests/toy_kind.py): its record gives the figures and the
    statistics; the runs with seed 1 failed, and each says why."""
    results = tmp_path / "results"
    result = invoke("toy", "--set-grid", "rate=0.3,0.6", "--set", "sweep.seeds=3", "--results", results, "-q")
    assert result.exit_code == 1
    directory = next(results.iterdir())
    tree = parse(report(directory))
    runs, failed = tables(section(tree, "runs"))
    assert len(runs) == 6 and list(runs["status"]).count("failed") == 2
    assert list(failed["status"]) == ["failed", "failed"]
    for message, rate in zip(failed["message"], (0.3, 0.6), strict=True):  # the error line, then where it was raised
        assert message.startswith(f"RuntimeError: the toy broke on seed 1 (rate {rate})"), message
    summary, _ = tables(section(tree, "summary"))
    assert list(summary["n_runs"]) == ["2", "2"]  # the finished runs only
    captions = ["".join(c.itertext()) for c in section(tree, "figures").iter(f"{{{NS['h']}}}figcaption")]
    assert [c.split("--kind ")[1] for c in captions] == ["convergence", "profile"]  # no grad_var: no variance figure


def test_a_sweep_where_every_run_failed_still_has_a_report(toy, tmp_path):
    results = tmp_path / "results"
    invoke("toy", "--seed", "1", "--results", results, "-q")
    tree = parse(report(next(results.iterdir())))
    assert "No run finished" in "".join(section(tree, "figures").itertext())
    (_, failed) = tables(section(tree, "runs"))
    (message,) = failed["message"]
    assert message.startswith("RuntimeError: the toy broke on seed 1 (rate 0.5)"), message


@pytest.mark.slow
def test_the_same_results_give_the_same_bytes(results_root, tmp_path):
    first = report(results_root / "tiny-train", out=tmp_path / "a.html")
    assert report(results_root / "tiny-train", out=tmp_path / "b.html") == first


# ---------------------------------------------------------------------------------------------
# several experiments


@pytest.mark.slow
def test_several_directories_give_one_page_that_compares_them(results_root, tmp_path):
    other = tmp_path / "other"
    spec = tmp_path / "tiny-train.yaml"
    spec.write_text(TRAIN_SPEC.replace("tiny-train", "tiny-pendulum").replace("CartPole-v1", "Pendulum-v1"))
    tiny_results.run(other, "train", spec)
    out = tmp_path / "both.html"
    tree = parse(report(results_root / "tiny-train", other / "tiny-pendulum", out=out))
    ids = [s.get("id") for s in tree.iter(f"{{{NS['h']}}}section")]
    assert ids[0] == "comparison"
    for name in ("tiny-train", "tiny-pendulum"):
        assert {f"{name}-what-ran", f"{name}-summary", f"{name}-figures", f"{name}-runs"} <= set(ids)
    overview, per_group, _, suite, suite_improvement = tables(section(tree, "comparison"))
    assert list(overview["experiment"]) == ["tiny-train", "tiny-pendulum"]
    assert list(per_group["group"])[:2] == ["tiny-train, baseline=none", "tiny-train, baseline=value"]
    # each configuration over the two experiments (tasks), on scores normalised within each experiment
    scores = {}
    for name, root in (("tiny-train", results_root), ("tiny-pendulum", other)):
        by_hand = finals(pd.read_csv(root / name / "metrics.csv"), "baseline", "return_mean")
        pooled = np.concatenate(list(by_hand.values()))
        for label, values in by_hand.items():
            scores.setdefault(label, []).append((values - pooled.min()) / (pooled.max() - pooled.min()))
    assert list(suite["group"]) == ["baseline=none", "baseline=value"]
    for row, label in zip(suite.itertuples(index=False), ("none", "value"), strict=True):
        assert int(row.n_runs) == 6
        assert float(row.iqm) == pytest.approx(stats.iqm(np.concatenate(scores[label])), rel=1e-4)
        assert float(row.mean) == pytest.approx(np.mean([s.mean() for s in scores[label]]), rel=1e-4)
    per_task = [
        np.mean([1.0 if a > b else 0.5 if a == b else 0.0 for a in x for b in y])
        for x, y in zip(scores["none"], scores["value"], strict=True)
    ]
    assert float(suite_improvement["P(X better than Y)"].iloc[0]) == pytest.approx(np.mean(per_task), rel=1e-4)


# ---------------------------------------------------------------------------------------------
# check --report


def test_check_writes_the_same_page_for_the_checked_results(results_root, tmp_path):
    spec = tmp_path / "tiny-train.yaml"
    spec.write_text(TRAIN_SPEC)
    out = tmp_path / "ci" / "check.html"
    junit = tmp_path / "ci" / "check.xml"
    result = invoke("check", spec, "--no-run", "--results", results_root, "--report", out, "--junit", junit)
    assert result.exit_code == 1, result.output  # one expectation fails by design
    assert junit.is_file()
    tree = parse(out.read_text())
    (checks,) = tables(section(tree, "checks"))
    assert list(checks["result"]) == ["PASS", "FAIL"] and list(checks["spec"]) == ["tiny-train", "tiny-train"]
    ids = [s.get("id") for s in tree.iter(f"{{{NS['h']}}}section")]
    assert {"tiny-train-expectations", "tiny-train-figures", "tiny-train-runs"} <= set(ids)
    (expectations,) = tables(section(tree, "tiny-train-expectations"))
    assert list(expectations["result"]) == ["PASS", "FAIL"]


def test_check_writes_a_page_even_when_there_are_no_results_to_check(tmp_path):
    spec = tmp_path / "tiny-train.yaml"
    spec.write_text(TRAIN_SPEC)
    out = tmp_path / "check.html"
    result = invoke("check", spec, "--no-run", "--results", tmp_path / "results", "--report", out)
    assert result.exit_code == 1
    tree = parse(out.read_text())
    assert [s.get("id") for s in tree.iter(f"{{{NS['h']}}}section")] == ["checks"]
    (checks,) = tables(section(tree, "checks"))
    assert list(checks["result"]) == ["FAIL", "FAIL"] and "(run without --no-run)" in checks["message"].iloc[0]


def test_a_report_in_its_results_directory_leaves_plot_and_check_as_they_were(results_root, tmp_path):
    directory = results_root / "tiny-train"
    report(directory)
    assert (directory / "report.html").is_file()
    plotted = invoke("plot", directory, "--table")
    checked = invoke("check", directory, "--no-run")
    assert plotted.exit_code == 0 and "final_mean" in plotted.stdout
    assert checked.exit_code == 1 and "1 of 2 expectations pass" in checked.stdout


# ---------------------------------------------------------------------------------------------
# bad input: one line, exit 2, nothing written


def test_a_missing_directory_a_file_and_a_run_directory_are_refused(results_root, tmp_path):
    run_dir = next(p for p in (results_root / "tiny-train").iterdir() if p.is_dir())
    cases = [
        (tmp_path / "nope", "no such results directory"),
        (results_root / "tiny-train" / "runs.csv", "is not a results directory"),
        (run_dir, "is a run directory"),
        (tmp_path, "is not a results directory"),
    ]
    for path, message in cases:
        assert_bad_input(invoke("report", path, "--out", tmp_path / "out" / "r.html"), message)
    assert not (tmp_path / "out").exists()


def test_a_fifo_is_refused_as_a_results_directory_and_as_the_output(results_root, tmp_path):
    fifo, fifo_html = tmp_path / "pipe", tmp_path / "pipe.html"
    os.mkfifo(fifo)
    os.mkfifo(fifo_html)
    assert_bad_input(invoke("report", fifo, "--out", tmp_path / "r.html"), "is not a results directory")
    assert_bad_input(invoke("report", results_root / "tiny-train", "--out", fifo_html), "not a regular file")
    assert filemode.S_ISFIFO(fifo_html.stat().st_mode) and not (tmp_path / "r.html").exists()


def test_an_output_under_a_file_is_refused(results_root, tmp_path):
    """Unwritable whoever runs it (root too): the output's directory would be inside a file."""
    blocker = tmp_path / "results.txt"
    blocker.write_text("a file, not a directory")
    result = invoke("report", results_root / "tiny-train", "--out", blocker / "sub" / "r.html")
    assert_bad_input(result, "cannot write to", "is a file, not a directory")
    assert blocker.read_text() == "a file, not a directory"


def test_an_output_that_is_not_html_and_a_directory_given_twice_are_refused(results_root, tmp_path):
    directory = results_root / "tiny-train"
    before = sorted(p.name for p in directory.iterdir())
    assert_bad_input(invoke("report", directory, "--out", tmp_path / "r.csv"), "--out must end in .html")
    assert_bad_input(invoke("report", directory, f"{directory}/", "--out", tmp_path / "r.html"), "given twice")
    assert not list(tmp_path.iterdir()) and sorted(p.name for p in directory.iterdir()) == before


def test_a_damaged_runs_csv_is_refused_in_one_line(results_root, tmp_path):
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "runs.csv").write_bytes(b"\xff\xfe not a table")
    assert_bad_input(invoke("report", damaged), "runs.csv", nothing_in=None)
    assert not (damaged / "report.html").exists()


def test_check_refuses_a_bad_report_path_before_running_anything(tmp_path):
    spec = tmp_path / "tiny-train.yaml"
    spec.write_text(TRAIN_SPEC)
    result = invoke("check", spec, "--results", tmp_path / "results", "--report", tmp_path / "r.txt")
    assert_bad_input(result, "--out must end in .html")
    assert not (tmp_path / "results").exists()
