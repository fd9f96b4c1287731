"""`pgcli report`: one self-contained HTML page of one or more results directories.

For each experiment — a summary directory, results/<name>/ or results/<name>/sweeps/<id>/ — the page
shows

- what ran: the first run's resolved spec as YAML, the versions, machine and date its config.yaml
  records, the command, and the wall-clock of the runs;
- every `expect:` line with its measured value, requirement and PASS / FAIL (pgcli.shell.checking);
- for kinds whose runs are curves, each group's final score summarised as rliable recommends
  (pgcli.shell.stats): IQM and mean with stratified bootstrap intervals, and the probability that
  one configuration beats another;
- the kind's figures, drawn as `pgcli plot` draws them (pgcli.shell.plot.prepare + draw), with a
  performance profile for curves and one slice at a time for the estimator and identity tables;
- its runs with their status, and the message of every run that did not finish as done.

Several directories give one page that compares them first. Tasks — what runs are stratified
by — are the groups for one experiment (each configuration one task), and the directories for
several: a configuration found in every directory is aggregated over them, each directory a
task (docs/report.md).

Results are read only through pgcli.shell.results (and plot.load and checking, which read through
it); every per-kind choice comes from the kind's record. Nothing here prints; bad input raises
InputError with a one-line message before anything is drawn or written.
"""

from __future__ import annotations

import contextlib
import itertools
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import numpy as np

from pgcli import kinds
from pgcli.base import lazy
from pgcli.shell import atomic, checking, curves, expect, plot, results, stats
from pgcli.shell import htmlpage as H
from pgcli.shell.experiment import Execution, InputError
from pgcli.shell.plan import value_text
from pgcli.shell.spec import SpecError, dump, get_dotted

pd = lazy.module("pandas")

SUFFIXES = (".html", ".htm")
MAX_SLICES = 6  # figures of one-slice tables (estimate, fisher) drawn per figure kind
MAX_GROUPS = 12  # groups compared pair by pair (66 pairs)
NUMBER = ".5g"
DESCRIPTIONS = {  # figure -> what it shows, for its alt text
    "convergence": "{y} against {x}, one curve per {groups}, each the {stat} over runs with a 95% bootstrap band",
    "variance": "gradient variance and signal-to-noise ratio (log scale) against {x}, one curve per {groups}",
    "profile": "the fraction of runs whose final {y} is above each threshold τ (a performance profile), "
    "one curve per {groups}, with 95% bootstrap bands",
    "estimator": "variance of each estimator against the samples per estimate (log-log, with a 1/n line), "
    "against θ where θ varies, and its bias ± 2 standard errors, one curve per {groups}",
    "identities": "each entry's Monte Carlo estimate against its exact value, and the mean absolute error "
    "against the number of samples (log-log, with a 1/√n line), one colour per {groups}",
}


class Experiment(NamedTuple):
    """One results directory as the report reads it."""

    path: Path
    name: str  # the experiment's name (with its sweep id for a variation)
    kind: kinds.Kind
    config: dict  # the first run's config.yaml
    runs: pd.DataFrame  # runs.csv
    endings: list  # results.Ending per row of runs.csv
    data: plot.Results | None  # the combined table; None when no run finished
    expectations: list  # (item, expect.Case) per `expect:` line


# ---------------------------------------------------------------------------------------------
# reading


def output_path(paths, out=None) -> Path:
    """Where the page goes (`out`, else <first results dir>/report.html); InputError when it is not
    an .html file that can be written."""
    target = Path(out) if out else Path(paths[0]) / "report.html"
    if target.suffix.lower() not in SUFFIXES:
        raise InputError(f"--out must end in .html, got {target}")
    problem = atomic.check_writable(target)
    if problem:
        raise InputError(problem)
    return target


def read(path, expectations=None) -> Experiment:
    """A results directory (runs.csv, its runs' directories and combined table) and its expect:
    lines measured — or the (item, Case) pairs `pgcli check` measured. InputError naming the
    problem when it is not a readable results directory."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such results directory")
    if not path.is_dir() or not (path / "runs.csv").is_file():
        what = "is a run directory" if (path / "config.yaml").is_file() else "is not a results directory"
        raise InputError(f"{path} {what}: expected a directory with runs.csv, such as results/<name>/")
    try:
        runs = results.read_runs(path / "runs.csv")
        config = results.first_config(path, runs)
    except results.ResultsError as err:
        raise InputError(str(err)) from None
    kind = kinds.get(config["kind"])
    endings = [results.ending(results.run_directory(path, run_id)) for run_id in runs["run_id"].astype(str)]
    data = None
    if runs["status"].isin(results.FINISHED).any() and (path / kind.table).is_file():
        try:
            data = plot.load([path])
        except plot.PlotError as err:
            raise InputError(str(err)) from None
    if expectations is None:
        expectations = _measure(path)
    name = str(config["spec"].get("name") or path.name)
    if path.parent.name == "sweeps":
        name += f" (variation {path.name})"
    return Experiment(path, name, kind, config, runs, endings, data, list(expectations))


def read_all(paths) -> list[Experiment]:
    """Each results directory given (`read`), each once."""
    seen = {}
    for path in map(Path, paths):
        key = path.resolve() if path.exists() else path
        if key in seen:
            raise InputError(f"{path} is given twice (as {seen[key]})")
        seen[key] = path
    return [read(path) for path in seen.values()]


def checked(per_target) -> list[Experiment]:
    """The experiments `pgcli check` measured, each with its cases: (CheckTarget, [Case]) pairs
    whose target was not skipped and has results (a runs.csv)."""
    found = []
    for target, cases in per_target:
        if target.skipped or not (target.results_dir / "runs.csv").is_file():
            continue
        found.append(read(target.results_dir, list(zip(target.spec["expect"] or [], cases, strict=True))))
    return found


def _measure(path: Path) -> list:
    """(item, Case) for each expect: line of the spec the runs recorded, measured on the results."""
    try:
        target = checking.target(path, Execution())
        found = checking.cases(target, "")
    except (SpecError, InputError, results.ResultsError) as err:
        raise InputError(f"{path}: {err}") from None
    return list(zip(target.spec["expect"] or [], found, strict=True))


# ---------------------------------------------------------------------------------------------
# the page


def write(experiments: list[Experiment], out, checks=None) -> Path:
    """Render the page of `experiments` (and, from `pgcli check`, its table of checks) and write
    it atomically to `out`."""
    return atomic.write_text(out, H.render(page(experiments, checks)))


def page(experiments: list[Experiment], checks=None) -> H.Page:
    """The report page: the checks (when given), a comparison (several experiments), then each
    experiment's sections."""
    several = len(experiments) > 1
    sections = []
    if checks is not None:
        sections.append(_checks_section(checks))
    if several:
        sections.append(H.Section("comparison", "Comparison", comparison(experiments)))
    for experiment in experiments:
        ids = [section.id for section in sections]
        prefix = _prefix(experiment.name, ids) if several or checks is not None else ""
        for part, title, blocks in _parts(experiment):
            sid = f"{prefix}-{part}" if prefix else part
            sections.append(H.Section(sid, f"{experiment.name}: {title}" if prefix else title, blocks))
    names = list(dict.fromkeys(e.name for e in experiments))
    if checks is not None:
        title = "pgcli check: " + (", ".join(names) if len(names) <= MAX_TITLE_NAMES else f"{len(names)} experiments")
    else:
        title = " vs ".join(names) if len(names) <= MAX_TITLE_NAMES else f"{len(names)} experiments compared"
    return H.Page(title, sections)


MAX_TITLE_NAMES = 3
PARTS = ("what-ran", "expectations", "summary", "figures", "runs", "spec")


def _prefix(name: str, ids: list[str]) -> str:
    """The ids' prefix of an experiment's sections: its name as a slug, made unique on the page."""
    taken = list(ids)
    while True:
        prefix = H.slug(name, taken)
        if not any(f"{prefix}-{part}" in ids for part in PARTS):
            return prefix
        taken.append(prefix)


def _parts(experiment: Experiment):
    """(id, title, blocks) of an experiment's sections (ids from PARTS)."""
    yield "what-ran", "What ran", what_ran(experiment)
    yield "expectations", "Expectations", expectations(experiment)
    summary = statistics(experiment) or printed(experiment)
    if summary:
        yield "summary", "Summary", summary
    yield "figures", "Figures", figures(experiment)
    yield "runs", "Runs", runs_blocks(experiment)
    yield "spec", "Spec", spec_blocks(experiment)


def _checks_section(checks) -> H.Section:
    counted, failed, skipped = checking.tally(checks)
    text = f"{counted - failed} of {counted} expectations pass" + (f"; {skipped} skipped" if skipped else "") + "."
    columns = ["spec", "expectation", "measured", "result", "source"]
    shown = checks[[*columns, *(["message"] if (checks["message"] != "").any() else [])]]
    return H.Section("checks", "Checks", [H.Text(text), H.Table(shown, "pgcli check: one row per expectation",
                                                                status="result")])  # fmt: skip


# ---------------------------------------------------------------------------------------------
# what ran


def what_ran(experiment: Experiment) -> list:
    config, runs = experiment.config, experiment.runs
    versions = config.get("versions") or {}
    counts = runs["status"].fillna("missing").value_counts()
    status_text = ", ".join(f"{n} {status}" for status, n in counts.items())
    wall = pd.to_numeric(runs["wall_s"], errors="coerce") if "wall_s" in runs else pd.Series(dtype=float)
    pairs = [
        ("experiment", experiment.name),
        ("kind", experiment.kind.name),
        ("results directory", str(experiment.path)),
        ("runs", f"{len(runs)} ({status_text})"),
        ("wall-clock", _wall_text(wall)),
        ("date", _date_text(config, experiment.endings)),
        ("machine", _machine_text(config.get("machine"))),
        *((name, str(versions[name])) for name in ("pgcli", "numpy", "gymnasium", "python") if name in versions),
        ("command", str(config.get("command", "not recorded"))),
    ]
    varying = results.varying_columns(runs)
    if varying:
        pairs.insert(4, ("varying", ", ".join(varying)))
    return [H.KeyValues(pairs, caption="versions, machine and date as the first run's config.yaml records them")]


def spec_blocks(experiment: Experiment) -> list:
    """The first run's resolved spec, as its config.yaml records it."""
    config = experiment.config
    first = str(config.get("run_label") or config.get("run_id"))
    varying = results.varying_columns(experiment.runs)
    caption = f"the resolved spec of the first run ({first})"
    if varying:
        caption += f"; the other runs differ in {', '.join(varying)}"
    return [H.Code(dump(config["spec"]), caption=caption)]


def _wall_text(wall) -> str:
    wall = wall.dropna()
    if wall.empty:
        return "not recorded"
    if len(wall) == 1:
        return f"{wall.iloc[0]:.4g} s of computing (one run)"
    return f"{wall.sum():.4g} s of computing over {len(wall)} runs (longest {wall.max():.4g} s, median {wall.median():.4g} s)"


def _date_text(config: dict, endings) -> str:
    """When the first run was recorded (its config.yaml), else the span of the status files' times."""
    with contextlib.suppress(KeyError, TypeError, ValueError):
        return f"{_utc(datetime.fromisoformat(str(config['recorded'])))} (the first run recorded)"
    written = [e.written for e in endings if e.written is not None]
    if not written:
        return "not recorded"
    first, last = (_utc(datetime.fromtimestamp(t, UTC)) for t in (min(written), max(written)))
    return f"{first} to {last} (the status files' times)"


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _machine_text(machine) -> str:
    if not isinstance(machine, dict) or not machine:
        return "not recorded (results written before pgcli recorded it)"
    cores = machine.get("cores")
    return "; ".join(str(v) for v in (machine.get("system"), machine.get("processor")) if v) + (
        f"; {cores} cores" if cores else ""
    )


# ---------------------------------------------------------------------------------------------
# expectations


def expectations(experiment: Experiment) -> list:
    if not experiment.expectations:
        return [H.Text("The spec has no expect: block.")]
    items, found = zip(*experiment.expectations, strict=True)
    shown = checking.table(list(found))
    shown.insert(1, "requirement", [expect.requirement(item) for item in items])
    columns = ["expectation", "requirement", "measured", "result", "source"]
    if (shown["message"] != "").any():
        columns.append("message")
    counted, failed, skipped = checking.tally(shown)
    text = f"{counted - failed} of {counted} expectations pass" + (f"; {skipped} skipped" if skipped else "") + "."
    return [H.Text(text), H.Table(shown[columns], "expect: lines, measured on these results", status="result")]


# ---------------------------------------------------------------------------------------------
# statistics of final scores


def _curves_request(data: plot.Results, figure: str | None = None, **options) -> plot.Plot | None:
    """A figure request of a curves table (None for other tables, or one without the columns)."""
    if data is None or data.kind is None or data.kind.plot is None:
        return None
    if plot.FIGURES[data.kind.plot.figure].family != "curves":
        return None
    try:
        return plot.prepare(data, figure, **options)
    except plot.PlotError:
        return None


def _target(experiment: Experiment) -> float | None:
    """The target the runs stop at (the kind's Target.stops_at, as the spec sets it), if any."""
    target = experiment.kind.target
    if target is None or not target.stops_at:
        return None
    with contextlib.suppress(KeyError, TypeError, ValueError):
        value = get_dotted(experiment.config["spec"], target.stops_at)
        return float(value) if value is not None else None
    return None


def _signed(finals: dict, request: plot.Plot) -> dict:
    """Scores where higher is better (negated when lower is), for P(X better than Y)."""
    return {k: -v for k, v in finals.items()} if plot.lower_is_better(request) else finals


def statistics(experiment: Experiment) -> list:
    """The groups' final scores: IQM and mean with intervals, reached-the-target counts, and
    P(X better than Y) for each pair of groups; [] for tables that are not curves."""
    target = _target(experiment)
    request = _curves_request(experiment.data, target=target)
    if request is None:
        return []
    finals = curves.final_scores(request.frame, request.hue, request.y, request.smooth)
    table = stats.summary_table({label or "all runs": scores for label, scores in finals.items()})
    if target is not None:
        reached = plot.summary(request)  # the same groups in the same order: reached, <x>_to_target, ...
        table = pd.concat([table, reached.loc[:, "reached":]], axis=1)
    what = f"final {request.y} (each run's last value)"
    blocks = [
        H.Text(
            f"Each group's {what}: the interquartile mean (the mean of the middle half of the runs) and the "
            "mean, each with a 95% percentile bootstrap interval that resamples the group's runs "
            f"({stats.N_RESAMPLES:,} resamples; Agarwal et al. 2021, rliable). Groups are the settings that vary; "
            "seeds are replicates."
        ),
        H.Table(table.rename(columns={"group": "group (configuration)"}), f"{what} per group", _formats(table)),
    ]
    return blocks + improvement_blocks(finals, request, "group")


MAX_PRINTED_LINES = 80


def printed(experiment: Experiment) -> list:
    """What `pgcli <kind>` prints for these results (the kind's `show`), for kinds without curves."""
    kind = experiment.kind
    if kind.show is None or experiment.data is None:
        return []
    options = {flag.keyword: flag.default for flag in kind.flags if flag.key is None}
    table = experiment.path / kind.table
    shown = kinds.Shown(experiment.config["spec"], experiment.runs, lambda: results.read_csv(table), len(experiment.runs),
                        options)  # fmt: skip
    text = kind.show(shown)
    if not text:
        return []
    lines = len(text.splitlines())
    if lines > MAX_PRINTED_LINES:
        return [H.Text(f"pgcli {kind.name} prints {lines} lines for these results; the table is {table}.")]
    return [H.Code(text, caption=f"as pgcli {kind.name} prints it")]


def improvement_blocks(finals: dict, request: plot.Plot, what: str) -> list:
    """P(X better than Y) for each pair of the first MAX_GROUPS groups, ties counting half."""
    if len(finals) < 2:
        return []
    kept = dict(itertools.islice(finals.items(), MAX_GROUPS))
    table = stats.improvement_table({label or "all runs": v for label, v in _signed(kept, request).items()})
    direction = "lower" if plot.lower_is_better(request) else "higher"
    text = (
        f"The probability that a run of {what} X ends with a better final {request.y} ({direction} is better) "
        "than a run of Y, ties counting half (the Mann–Whitney statistic), with a 95% bootstrap interval "
        "that resamples X's and Y's runs independently. 0.5: neither is better."
    )
    if len(finals) > MAX_GROUPS:
        text += f" Shown for the first {MAX_GROUPS} of {len(finals)} groups."
    table = _improvement_columns(table)
    return [H.Text(text), H.Table(table, "probability of improvement", formats=_formats(table))]


def _improvement_columns(table):
    """The probability first (the number a narrow screen shows), then X and Y."""
    table = table.rename(columns={"probability": "P(X better than Y)", "x": "X", "y": "Y"})
    return table[["P(X better than Y)", "lo", "hi", "X", "Y"]]


def _formats(table) -> dict:
    return {c: NUMBER for c in table.columns if pd.api.types.is_float_dtype(table[c])}


# ---------------------------------------------------------------------------------------------
# figures


def figures(experiment: Experiment) -> list:
    """The kind's figures: every figure of its default figure's family that its table can draw."""
    data = experiment.data
    if data is None:
        return [H.Text("No run finished: there is nothing to draw.")]
    if data.kind is None or data.kind.plot is None:
        return [H.Text(f"pgcli cannot tell how to draw {experiment.path}.")]
    family = plot.FIGURES[data.kind.plot.figure].family
    target = _target(experiment)
    blocks, notes = [], []
    for name in (name for name, figure in plot.FIGURES.items() if figure.family == family):
        options = {"target": target} if name in ("convergence", "profile") else {}
        try:
            request = plot.prepare(data, name, **options)
        except plot.PlotError as err:
            if name == data.kind.plot.figure:
                notes.append(f"The {name} figure cannot be drawn: {err}")
            continue
        blocks.append(H.Text(_sentence(request)))
        for selected, sliced in _slices(data, name, request, options):
            blocks.append(figure_block(str(experiment.path), sliced, selected))
        if len(_combinations(request)) > MAX_SLICES:
            notes.append(
                f"{len(_combinations(request))} slices of the {name} figure; the first {MAX_SLICES} are drawn "
                f"(pgcli plot {experiment.path} --kind {name} --select KEY=VALUE draws any)."
            )
    return [*blocks, *map(H.Text, notes)]


def _combinations(request: plot.Plot) -> list[tuple]:
    """Every combination of the values of the columns a one-slice figure narrows."""
    return list(itertools.product(*(values for _, values in request.slices)))


def _slices(data, name, request, options):
    """(select pairs, request) for each slice drawn: the first MAX_SLICES combinations."""
    if not request.slices:
        yield (), request
        return
    columns = [column for column, _ in request.slices]
    for values in _combinations(request)[:MAX_SLICES]:
        selected = tuple(f"{c}={v}" for c, v in zip(columns, values, strict=True))
        try:
            sliced = plot.prepare(data, name, select=selected, **options)
        except plot.PlotError:  # a combination with no rows (not every f at every θ)
            continue
        untitled = [pair for pair in selected if pair not in sliced.title]  # the kind's title may not name it
        yield selected, sliced._replace(title=sliced.title + (f" ({', '.join(untitled)})" if untitled else ""))


def _sentence(request: plot.Plot) -> str:
    """What a figure shows, in one sentence (before it: a figure alone spans the column)."""
    return f"{request.figure.capitalize()}: {_description(request)}."


def _description(request: plot.Plot) -> str:
    groups = ", ".join(request.hue) or "experiment"
    stat = "interquartile mean" if request.stat == "iqm" else "mean"
    names = {"y": request.y, "x": request.x, "groups": groups, "stat": stat}
    return DESCRIPTIONS.get(request.figure, "one colour per {groups}").format(**names)


def figure_block(paths: str, request: plot.Plot, selected=()) -> H.Figure:
    """A figure as inline SVG, with alt text saying what it shows and the command that draws it."""
    from pgcli.shell import draw  # matplotlib: only when a figure is drawn

    runs = request.frame["_run"].nunique()
    alt = f"{request.figure.capitalize()} figure of {request.title} ({runs} runs): {_description(request)}"
    command = f"pgcli plot {paths} --kind {request.figure}" + "".join(f" --select '{s}'" for s in selected)
    if request.target is not None:
        command += f" --target {request.target:g}"
    return H.Figure(draw.figure_svg(draw.draw(request)), alt=alt, caption=f"Drawn by: {command}")


# ---------------------------------------------------------------------------------------------
# runs


def runs_blocks(experiment: Experiment) -> list:
    runs = experiment.runs.copy()
    table = H.Table(runs, f"runs.csv of {experiment.path}", formats=_formats(runs))
    unfinished = [
        (run_id, label, status, _message(status, ending))
        for run_id, label, status, ending in zip(
            runs["run_id"], runs.get("label", runs["run_id"]), runs["status"].fillna("missing"), experiment.endings,
            strict=True,
        )
        if status != "done"
    ]  # fmt: skip
    blocks = [H.Text(f"{len(runs)} runs, one row each (click a column's header to sort)."), table]
    if unfinished:
        frame = pd.DataFrame(unfinished, columns=["run_id", "label", "status", "message"])
        blocks += [H.Text(f"{len(frame)} runs did not finish as done:"), H.Table(frame, "runs not done, and why")]
    return blocks


def _message(status: str, ending) -> str:
    if ending.message:
        return ending.message
    return {
        "corrupted": "its files do not match its status (re-run it)",
        "missing": "no status file: not run yet, or interrupted before it was recorded",
        "running": "interrupted while running",
    }.get(status, "")


# ---------------------------------------------------------------------------------------------
# several experiments


def comparison(experiments: list[Experiment]) -> list:
    """The experiments side by side: an overview table, then — when they hold curves of one kind —
    their groups' final scores compared (each group one task) and, for configurations found in
    every experiment, aggregated over the experiments (each experiment one task)."""
    rows = []
    for e in experiments:
        status = e.runs["status"].fillna("missing")
        passed = [case.passed for _, case in e.expectations]
        rows.append({
            "experiment": e.name, "kind": e.kind.name, "directory": str(e.path), "runs": len(e.runs),
            "done": int((status == "done").sum()), "not done": int((status != "done").sum()),
            "expectations passed": _passed_text(passed),
        })  # fmt: skip
    blocks = [H.Table(pd.DataFrame(rows), "the experiments")]
    with_data = [e for e in experiments if e.data is not None]
    if len(with_data) != len(experiments) or len({e.kind.name for e in experiments}) > 1:
        return [*blocks, H.Text("Figures and statistics compare experiments of one kind that all have finished runs.")]
    try:
        together = plot.load([e.path for e in experiments])
    except plot.PlotError as err:
        return [*blocks, H.Text(f"The experiments cannot be drawn together: {err}")]
    request = _curves_request(together)
    if request is None:
        return blocks
    paths = " ".join(str(e.path) for e in experiments)
    blocks += [H.Text(_sentence(request)), figure_block(paths, request)]
    profile = _curves_request(together, "profile")
    if profile is not None:
        blocks += [H.Text(_sentence(profile)), figure_block(paths, profile)]
    finals = curves.final_scores(request.frame, request.hue, request.y, request.smooth)
    table = stats.summary_table(finals)
    blocks += [
        H.Text(f"Each experiment's groups, final {request.y}: IQM and mean with 95% bootstrap intervals (each group one task)."),
        H.Table(table, f"final {request.y} per experiment and group", formats=_formats(table)),
        *improvement_blocks(finals, request, "group"),
    ]  # fmt: skip
    return blocks + suite(experiments, request.y)


def _passed_text(passed: list) -> str:
    counted = sum(p is not None for p in passed)
    return (
        f"{sum(p is True for p in passed)} of {counted}" if counted else "no expect: block" if not passed else "skipped"
    )


def suite(experiments: list[Experiment], y: str) -> list:
    """Configurations found in every experiment, aggregated with each experiment one task: IQM and
    mean with stratified bootstrap intervals (runs resampled within each experiment) and
    P(X better than Y) averaged over the experiments. Scores are min–max normalised per
    experiment (0 its worst run, 1 its best) when the experiments are about different subjects
    (the kinds' `subject`: an environment, a distribution), since their scales differ."""
    per_task, requests = {}, []
    for e in experiments:
        request = _curves_request(e.data, y=y)
        if request is None:
            return []
        requests.append(request)
        per_task[e.name] = curves.final_scores(request.frame, request.hue, request.y, request.smooth)
    common = [label for label in next(iter(per_task.values())) if all(label in f for f in per_task.values())]
    if len(common) < 2:
        return []
    lower = plot.lower_is_better(requests[0])
    subjects = {_subject(e) for e in experiments}
    normalise = len(subjects) > 1
    groups = {label or "all runs": {} for label in common}
    for task, finals in per_task.items():
        pooled = np.concatenate([finals[label] for label in common])
        lo, hi = pooled.min(), pooled.max()
        for label in common:
            scores = finals[label]
            if normalise:
                scores = (scores - lo) / (hi - lo) if hi > lo else np.zeros_like(scores)
                scores = 1 - scores if lower else scores
            groups[label or "all runs"][task] = scores
    table = stats.summary_table(groups)
    scale = (
        "scores min–max normalised within each experiment (0: its worst run, 1: its best; higher is better)"
        if normalise
        else f"final {y} on the experiments' common scale ({', '.join(map(str, subjects))})"
    )
    signed = groups if (normalise or not lower) else {k: {t: -s for t, s in v.items()} for k, v in groups.items()}
    improvement = stats.improvement_table(dict(itertools.islice(signed.items(), MAX_GROUPS)))
    improvement = _improvement_columns(improvement)
    return [
        H.Text(
            f"The {len(common)} configurations found in every experiment, each experiment one task: {scale}. "
            "Intervals resample each configuration's runs within each experiment (the stratified bootstrap); "
            "P(X better than Y) is averaged over the experiments."
        ),
        H.Table(table, "configurations over the experiments (tasks)", formats=_formats(table)),
        H.Table(improvement, "probability of improvement over the experiments", formats=_formats(improvement)),
    ]


def _subject(experiment: Experiment) -> str:
    """What an experiment is about (its kind's `subject`: the environment, the distribution)."""
    try:
        return value_text(experiment.kind.subject(experiment.config["spec"]))
    except (KeyError, TypeError, ValueError, SpecError):
        return experiment.name
