"""Expectations: the result a spec must reproduce, checked against its results tables.

An expectation reduces the results to one number and compares it::

    {metric: return_window, at: final, agg: mean, ">=": 475}
    {metric: env_steps_to_target, target: 475, agg: median, "<=": 150000}
    {metric: bias, where: {estimator: score}, agg: max_abs_z, "<=": 4}
    {metric: return_window, at: final, agg: min, ">=": 475, seeds_passing: 4/5}

metric     a column of the run table (metrics.csv, estimate.csv, ...), of runs.csv
           (final_return, best_return, ...), or `<x>_to_target` — per run, the first x
           (env_steps, wall_s, iteration) where `of` (default: the kind's target metric,
           return_window or objective) reaches `target` — ≥, or ≤ when the kind minimises it
where      keep rows whose columns equal the given values (a list means any of them)
at         per-iteration tables: final | best | first row of each run, or all rows
agg        mean | median | min | max | max_abs | count | max_abs_z (max |metric / std_error|)
           | loglog_slope (slope of log metric against log `x`, default n_samples)
compare    exactly one of >=, <=, >, <, == (with `tol`), between: [lo, hi]; the right-hand
           side is a number or another (comparator-free) expectation; any value may carry
           `scale` and `offset` (value = scale · measured + offset)
seeds_passing  "k/n": compare each run's value and pass when at least k/n of the runs pass
"""

from __future__ import annotations

import operator
import re
from typing import Any, NamedTuple

import numpy as np

from pgcli.base import lazy
from pgcli.base.targets import first_reached

pd = lazy.module("pandas")

COMPARATORS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}
AGGS = ("mean", "median", "min", "max", "max_abs", "count", "max_abs_z", "loglog_slope")
ATS = ("final", "best", "first", "all")
VALUE_KEYS = {"metric", "where", "at", "agg", "target", "of", "x", "scale", "offset"}
KEYS = VALUE_KEYS | {"name", "source", "tol", "seeds_passing", "==", "between", *COMPARATORS}
FRACTION = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
TIME_COLUMNS = ("iteration", "step")


class Goal(NamedTuple):
    """The kind's target (pgcli.kinds.Target) as a spec sets it: the metric `<x>_to_target` reads by
    default, and whether reaching it means going below the target."""

    metric: str
    minimize: bool = False


class ExpectError(ValueError):
    """A malformed expectation, or one naming columns the results do not have; one line."""


class NoData(LookupError):
    """No rows match: the expectation cannot be measured (it fails)."""


# ---------------------------------------------------------------------------------------------
# validation (structure only; columns are checked against the results in `evaluate`)


def problem(expectations: Any) -> str | None:
    """Why an `expect:` block is malformed, or None: used as the spec field's check."""
    if expectations is None:
        return None
    if not isinstance(expectations, list):
        return f"expected a list of expectations, got {expectations!r}"
    for i, item in enumerate(expectations):
        try:
            _check(item, nested=False)
        except ExpectError as err:
            return f"[{i}]: {err}"
    return None


def _check(item, nested):
    if not isinstance(item, dict):
        raise ExpectError(f"expected a mapping with metric, agg and a comparison, got {item!r}")
    allowed = VALUE_KEYS if nested else KEYS
    unknown = sorted(set(map(str, item)) - allowed)
    if unknown:
        raise ExpectError(f"unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")
    if not isinstance(item.get("metric"), str) or not item["metric"]:
        raise ExpectError("needs a metric (a column name)")
    if item.get("agg") not in AGGS:
        raise ExpectError(f"agg must be one of {', '.join(AGGS)}, got {item.get('agg')!r}")
    if item.get("at", "final") not in ATS:
        raise ExpectError(f"at must be one of {', '.join(ATS)}, got {item.get('at')!r}")
    if "where" in item and not isinstance(item["where"], dict):
        raise ExpectError(f"where must map columns to values, got {item['where']!r}")
    if item["metric"].endswith("_to_target") and not _is_number(item.get("target")):
        raise ExpectError(f"{item['metric']} needs a numeric target")
    for key in ("target", "scale", "offset", "tol"):
        if key in item and not _is_number(item[key]):
            raise ExpectError(f"{key} must be a number, got {item[key]!r}")
    if nested:
        return
    comparisons = [k for k in (*COMPARATORS, "==", "between") if k in item]
    if len(comparisons) != 1:
        found = ", ".join(comparisons) or "none"
        raise ExpectError(f"needs exactly one comparison of >=, <=, >, <, ==, between (found {found})")
    (key,) = comparisons
    rhs = item[key]
    if key == "between":
        if not (isinstance(rhs, list) and len(rhs) == 2 and all(_is_number(v) for v in rhs)):
            raise ExpectError(f"between needs [low, high], got {rhs!r}")
    elif isinstance(rhs, dict):
        _check(rhs, nested=True)
    elif not _is_number(rhs):
        raise ExpectError(f"{key} needs a number or an expectation, got {rhs!r}")
    if "seeds_passing" in item:
        fraction(item["seeds_passing"])


def check_columns(
    item: dict, table_columns, runs_columns, planned: dict | None = None, goal: str | None = None
) -> None:
    """Before anything runs: every column an expectation names will exist — the metric, `where`
    keys, `of` and `x` — and `loglog_slope` has at least two values of x in the plan (`planned`
    maps a column to the values the runs will produce, where the plan says). Raises ExpectError."""
    table, runs = list(table_columns), list(runs_columns)
    metric = item["metric"]
    if metric.endswith("_to_target"):
        of = item.get("of", goal)
        if of is None and metric.removesuffix("_to_target") not in table:
            raise ExpectError(f"unknown metric column {metric.removesuffix('_to_target')!r}; the results will have: "
                              f"{', '.join(map(str, table))}")  # fmt: skip
        if of is None:
            raise ExpectError(f"{item['metric']} needs `of`: the column that reaches the target")
        needed = [("metric", metric.removesuffix("_to_target")), ("of", of)]
        frame = table
    else:
        frame = runs if metric in runs and metric not in table else table
        needed = [("metric", metric)]
    needed += [("where", column) for column in item.get("where") or {}]
    if item["agg"] == "loglog_slope":
        needed.append(("x", item.get("x", "n_samples")))
    for role, column in needed:
        if column not in frame:
            raise ExpectError(f"unknown {role} column {column!r}; the results will have: {', '.join(map(str, frame))}")
    x = item.get("x", "n_samples")
    if item["agg"] == "loglog_slope" and x in (planned or {}):
        values = set(planned[x])
        wanted = (item.get("where") or {}).get(x)
        if wanted is not None:
            wanted = wanted if isinstance(wanted, list) else [wanted]
            if not all(_is_number(v) for v in wanted):
                raise ExpectError(f"where.{x}: expected numbers, got {wanted!r}")
            values &= {float(v) for v in wanted}
        if len(values) < 2:
            raise ExpectError(f"loglog_slope needs at least two values of {x}; the runs have {sorted(values)}")
    for key in (*COMPARATORS, "=="):
        if isinstance(item.get(key), dict):
            check_columns(item[key], table, runs, planned, goal)


def fraction(text) -> tuple[int, int]:
    """'k/n' as (k, n) with 0 ≤ k ≤ n, n > 0 (seeds_passing), else ExpectError."""
    match = FRACTION.match(str(text))
    if not match or int(match.group(2)) == 0 or int(match.group(1)) > int(match.group(2)):
        raise ExpectError(f"seeds_passing must be a fraction k/n with 0 ≤ k ≤ n, n > 0, got {text!r}")
    return int(match.group(1)), int(match.group(2))


def _is_number(value):
    if isinstance(value, bool):
        return False
    try:
        return np.isfinite(float(value))
    except (TypeError, ValueError):
        return False


# ---------------------------------------------------------------------------------------------
# evaluation


def describe(item: dict) -> str:
    """Readable one-line text of an expectation: its name, else its requirement."""
    return str(item["name"]) if item.get("name") else requirement(item)


def requirement(item: dict) -> str:
    """What an expectation requires, as one line: 'min return_window@best [weight=gae] >= 475'."""
    text = _value_text(item)
    if "between" in item:
        lo, hi = item["between"]
        text += f" in [{lo}, {hi}]"
    else:
        key = next(k for k in (*COMPARATORS, "==") if k in item)
        rhs = item[key]
        text += f" {key} {_value_text(rhs) if isinstance(rhs, dict) else rhs}"
    if "seeds_passing" in item:
        text += f" for {item['seeds_passing']} runs"
    return text


def _value_text(item):
    where = ",".join(f"{k}={v}" for k, v in (item.get("where") or {}).items())
    at = f"@{item['at']}" if "at" in item else ""
    target = f"(target {item['target']})" if "target" in item else ""
    scale = f"{item['scale']}×" if "scale" in item else ""
    offset = f" {float(item['offset']):+g}" if "offset" in item else ""
    return f"{scale}{item['agg']} {item['metric']}{target}{at}" + (f" [{where}]" if where else "") + offset


def evaluate(item: dict, runs: pd.DataFrame, table: pd.DataFrame, goal: Goal | None = None) -> tuple[float | str, bool]:
    """(measured value, passed). Raises ExpectError when the expectation does not fit the data.

    `goal`: the kind's target metric and direction, which `<x>_to_target` reads by default."""
    key = next(k for k in (*COMPARATORS, "==", "between") if k in item)
    if "seeds_passing" in item:
        k, n = fraction(item["seeds_passing"])
        values = per_run(item, runs, table, goal)
        rhs = _rhs(item, key, runs, table, goal)
        passed = np.array([_compare(key, v, rhs, item) for v in values])
        return f"{passed.sum()}/{passed.size}", bool(passed.size and passed.sum() * n >= k * passed.size)
    value = measure(item, runs, table, goal)
    return value, bool(_compare(key, value, _rhs(item, key, runs, table, goal), item))


def reference(item: dict, runs: pd.DataFrame, table: pd.DataFrame, goal: Goal | None = None) -> float | None:
    """The measured right-hand side when it is itself an expectation (for display), else None."""
    key = next(k for k in (*COMPARATORS, "==", "between") if k in item)
    return measure(item[key], runs, table, goal) if isinstance(item[key], dict) else None


def _rhs(item, key, runs, table, goal):
    rhs = item[key]
    if isinstance(rhs, dict):
        return measure(rhs, runs, table, goal)
    return rhs if key == "between" else float(rhs)


def _compare(key, value, rhs, item):
    if value is None or np.isnan(value):
        return False
    if key == "between":
        return float(rhs[0]) <= value <= float(rhs[1])
    if key == "==":
        return bool(abs(value - rhs) <= float(item.get("tol", 1e-9)) * max(1.0, abs(rhs)))
    return bool(COMPARATORS[key](value, rhs))


def measure(item: dict, runs: pd.DataFrame, table: pd.DataFrame, goal: Goal | None = None) -> float:
    """The expectation's left-hand side as one number."""
    return float(item.get("scale", 1.0)) * _measure(item, runs, table, goal) + float(item.get("offset", 0.0))


def _measure(item, runs, table, goal):
    agg = item["agg"]
    if agg in {"max_abs_z", "loglog_slope"}:
        rows = _filter(_rows(item, table), item.get("where"))
        if rows.empty:
            raise NoData(f"no rows match where={item.get('where')} for {item['metric']}")
        if agg == "max_abs_z":
            return float(_z(rows, item["metric"]).abs().max())
        x = item.get("x", "n_samples")
        _need(rows, [x], "x")
        values, xs = rows[item["metric"]].to_numpy(float), rows[x].to_numpy(float)
        ok = (values > 0) & (xs > 0)
        if np.unique(xs[ok]).size < 2:
            raise ExpectError(f"loglog_slope needs at least two values of {x}")
        return float(np.polyfit(np.log(xs[ok]), np.log(values[ok]), 1)[0])
    values = per_run(item, runs, table, goal)
    if values.size == 0:
        raise NoData(f"no rows match where={item.get('where')} for {item['metric']}")
    reduce = {
        "mean": np.mean,
        "median": np.median,
        "min": np.min,
        "max": np.max,
        "max_abs": lambda v: np.max(np.abs(v)),
        "count": np.size,
    }[agg]
    return float(reduce(values))


def per_run(item: dict, runs: pd.DataFrame, table: pd.DataFrame, goal: Goal | None = None) -> np.ndarray:
    """One value per run (or per row with at: all), after where and at."""
    metric = item["metric"]
    if metric in runs.columns and metric not in table.columns:
        _need(runs, [metric], "metric")
        return _filter(runs, item.get("where"))[metric].to_numpy(float)
    if metric.endswith("_to_target"):
        return _to_target(item, _filter(table, item.get("where")), goal)
    rows = _filter(_rows(item, table), item.get("where"))
    return rows[metric].to_numpy(float)


def _rows(item, table):
    _need(table, [item["metric"]] if not item["metric"].endswith("_to_target") else [], "metric")
    time = next((c for c in TIME_COLUMNS if c in table.columns), None)
    at = item.get("at", "final" if time else "all")
    if at == "all" or time is None or "run_id" not in table.columns:
        return table
    ordered = table.sort_values(["run_id", time], kind="stable")
    if at == "best":
        ordered = ordered[ordered[item["metric"]].notna()]
        return ordered.loc[ordered.groupby("run_id", sort=False)[item["metric"]].idxmax()]
    pick = (
        ordered.groupby("run_id", sort=False).tail(1)
        if at == "final"
        else ordered.groupby("run_id", sort=False).head(1)
    )
    return pick


def _to_target(item, table, goal):
    """Per run, the first x where it reaches the target (targets.py: the one definition)."""
    x = item["metric"].removesuffix("_to_target")
    of = item.get("of", goal.metric if goal else None)
    if of is None:
        raise ExpectError(f"{item['metric']} needs `of`: the column that reaches the target")
    _need(table, [x, of, "run_id"], "metric")
    minimize = goal is not None and goal.minimize and of == goal.metric
    out = []
    for _, run in table.groupby("run_id", sort=False):
        hit = first_reached(run[of], float(item["target"]), minimize)
        out.append(run[x].iloc[hit] if hit is not None else np.inf)
    return np.asarray(out, float)


def _z(rows, metric):
    _need(rows, [metric, "std_error"], "metric")
    deviation, se = rows[metric].astype(float), rows["std_error"].astype(float)
    scale = 1 + (rows["exact"].abs() if "exact" in rows.columns else 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = deviation / se
    return z.where(deviation.abs() > 1e-10 * scale, 0.0)


def _filter(frame, where):
    if not where:
        return frame
    _need(frame, list(where), "where")
    mask = pd.Series(True, index=frame.index)
    for column, wanted in where.items():
        options = wanted if isinstance(wanted, list) else [wanted]
        mask &= frame[column].map(lambda v, o=options: any(_same(v, w) for w in o))
    return frame[mask]


def _same(value, wanted):
    if isinstance(wanted, bool) or isinstance(value, bool | np.bool_):
        return str(value).lower() == str(wanted).lower()
    if _is_number(wanted) and _is_number(value):
        return np.isclose(float(value), float(wanted), rtol=1e-9, atol=0)
    return str(value) == str(wanted)


def _need(frame, columns, what):
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ExpectError(
            f"unknown {what} column {missing[0]!r}; the results have: {', '.join(map(str, frame.columns))}"
        )
    if what in {"metric", "x"}:
        for column in columns:
            if not pd.api.types.is_numeric_dtype(frame[column]) and column != "run_id":
                raise ExpectError(f"{what} column {column!r} holds no numbers")


class Case(NamedTuple):
    """One expectation checked: its spec's name (the JUnit suite), the expectation's text and
    source, the measured value, passed (None: the spec was skipped) and a message."""

    spec: str
    expectation: str
    source: str
    measured: float | str
    passed: bool | None
    message: str


def junit_xml(cases: list[Case]) -> str:
    """A JUnit report: one testsuite per spec, one testcase per expectation."""
    import xml.etree.ElementTree as ET

    root = ET.Element("testsuites")
    suites: dict[str, ET.Element] = {}
    for suite, text, source, measured, passed, message in cases:  # Case fields
        if suite not in suites:
            suites[suite] = ET.SubElement(root, "testsuite", name=suite, tests="0", failures="0")
        node = suites[suite]
        node.set("tests", str(int(node.get("tests")) + 1))
        case = ET.SubElement(node, "testcase", classname=suite, name=text)
        if source:
            ET.SubElement(ET.SubElement(case, "properties"), "property", name="source", value=source)
        if passed is None:  # skipped: a missing optional extra
            node.set("skipped", str(int(node.get("skipped", "0")) + 1))
            ET.SubElement(case, "skipped", message=message)
        elif not passed:
            node.set("failures", str(int(node.get("failures")) + 1))
            ET.SubElement(case, "failure", message=message or f"measured {measured}")
    root.set("tests", str(len(cases)))
    root.set("failures", str(sum(c.passed is False for c in cases)))
    root.set("skipped", str(sum(c.passed is None for c in cases)))
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
