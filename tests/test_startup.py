"""From Enter to answer (issue 27): what each command loads, and the pandas-free table it writes.

A command imports what its run needs, when it needs it: a training run never loads SciPy or pandas
(the train kind's table is a pgcli.base.table.Table, written as pandas would write it), no command
but plot loads matplotlib. benchmarks/startup.py measures the time this saves.
"""

import io
import json
import math
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pgcli import kinds
from pgcli.base.table import Table, parse_cell
from pgcli.shell import atomic
from pgcli.shell.results import _Table

# what each name means loaded: a module that only its execution imports (pgcli.base.lazy puts a
# deferred module in sys.modules before it runs; SciPy's package is executed by looking up a submodule)
HEAVY = {
    "scipy": "scipy",
    "scipy.special": "scipy.special._ufuncs",
    "scipy.stats": "scipy.stats._stats_py",
    "pandas": "pandas.core.frame",
    "matplotlib": "matplotlib.figure",
    "dask": "dask.base",
    "torch": "torch",
}


def loaded_by(args: list[str]) -> list[str]:
    """The HEAVY modules a fresh interpreter holds after running `pgcli ARGS` (which must succeed)."""
    code = textwrap.dedent(f"""
        import json, sys
        from click.testing import CliRunner
        from pgcli.shell.cli import cli
        result = CliRunner().invoke(cli, {args!r})
        assert result.exit_code == 0, result.output
        print(json.dumps(sorted(name for name, module in {HEAVY!r}.items() if module in sys.modules)))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


@pytest.mark.slow
def test_a_training_run_loads_no_scipy_pandas_or_matplotlib(tmp_path):
    args = ["train", "--set", "stop.iterations=1", "--set", "sweep.seeds=1", "-q", "--results", str(tmp_path)]
    assert loaded_by(args) == []


def test_a_sweep_of_training_runs_loads_no_scipy_pandas_or_matplotlib(tmp_path):
    """Several runs: runs.csv and the combined table are written, the runs printed as a table."""
    args = ["train", "--set", "stop.iterations=2", "--set", "sweep.seeds=3", "-q", "--results", str(tmp_path)]
    assert loaded_by([*args, "--set", "batch.episodes=4"]) == []


@pytest.mark.slow
def test_resuming_a_finished_training_run_loads_no_pandas(tmp_path):
    args = ["train", "--set", "stop.iterations=1", "--set", "sweep.seeds=1", "-q", "--results", str(tmp_path)]
    loaded_by(args)
    assert loaded_by(args) == []


@pytest.mark.slow
def test_an_estimate_loads_no_matplotlib_or_gymnasium(tmp_path):
    code = textwrap.dedent(f"""
        import sys
        from click.testing import CliRunner
        from pgcli.shell.cli import cli
        result = CliRunner().invoke(cli, ["estimate", "--n", "10", "--reps", "5", "--results", {str(tmp_path)!r}])
        assert result.exit_code == 0, result.output
        print(sorted(m for m in ["matplotlib.figure", "gymnasium", "torch", "dask.base"] if m in sys.modules))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------------------------------------
# pgcli.base.table.Table: written as pandas writes the same rows, read back as read_csv types them

CELLS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**62), 2**62),
    st.integers(-(2**62), 2**62).map(np.int64),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(allow_nan=True, allow_infinity=True).map(np.float64),
    st.sampled_from([0.0, -0.0, 1e16, 1e-5, 0.1 + 0.2, 2.0**53, float("nan")]),
    st.text(max_size=6),
    st.sampled_from(["", " ", "a,b", 'say "hi"', "two\nlines", "gymnasium", "True", "1.5"]),
)


def frames(column_kinds):
    """Rows of dicts over 1-4 columns, each column drawing from one or two cell strategies
    (so that int64, float64, object and string columns all occur), some keys left out."""
    names = st.lists(st.sampled_from(["a", "b", "c,d", "wall_s"]), min_size=1, max_size=4, unique=True)
    return names.flatmap(
        lambda columns: st.tuples(
            st.just(columns),
            st.lists(st.fixed_dictionaries({}, optional={name: column_kinds for name in columns}), max_size=6),
        )
    )


@pytest.mark.slow
@settings(max_examples=400, deadline=None)
@given(frames(CELLS))
def test_a_table_is_written_byte_for_byte_as_pandas_writes_its_rows(drawn):
    columns, rows = drawn
    assert atomic.csv_text(Table(columns, rows)) == pd.DataFrame(rows, columns=columns).to_csv(
        index=False, lineterminator="\n"
    )


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(frames(st.one_of(st.integers(-(2**40), 2**40), st.floats(-1e300, 1e300), st.none())))
def test_numeric_columns_of_a_written_table_are_typed_as_read_csv_types_them(drawn):
    """Table.column of the cells as text, as pgcli.shell.results reads a run's table back for a
    light kind's summary, equals read_csv's column: same dtype, same numbers."""
    columns, rows = drawn
    text = atomic.csv_text(Table(columns, rows))
    read = pd.read_csv(io.StringIO(text), keep_default_na=False, na_values=[""])
    parsed = _Table.parse(text.encode()).light()
    for name in columns:
        ours, theirs = parsed.column(name), read[name].to_numpy()
        if len(rows) == 0:
            continue  # read_csv types an empty column object
        assert ours.dtype == theirs.dtype
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.slow
@settings(max_examples=400, deadline=None)
@given(frames(CELLS), st.sampled_from([4, 5]))
def test_a_table_is_printed_as_pandas_prints_its_rows(drawn, digits):
    """Table.text (the runs of a sweep, printed without pandas) is DataFrame.to_string(index=False)
    character for character, or None (then pandas prints it)."""
    columns, rows = drawn
    text = Table(columns, rows).text(lambda v: f"{v:.{digits}g}")
    expected = pd.DataFrame(rows, columns=columns).to_string(index=False, float_format=lambda v: f"{v:.{digits}g}")
    assert text is None or text == expected
    if rows and not any("\n" in str(v) or "\t" in str(v) or "\r" in str(v) for row in rows for v in row.values()):
        assert text is not None or any(len(str(v)) > 40 for row in rows for v in row.values())


def test_a_cell_type_the_writer_does_not_know_is_left_to_pandas():
    rows = [{"x": np.float32(0.1)}, {"x": np.float32(0.25)}]  # pandas keeps float32: 0.1, not 0.10000000149011612
    assert atomic.csv_text(Table(["x"], rows)) == "x\n0.1\n0.25\n"


def test_parse_cell_reads_numbers_and_leaves_text():
    assert parse_cell("") is None and parse_cell("12") == 12 and isinstance(parse_cell("12"), int)
    assert parse_cell("-0.0") == 0.0 and math.isinf(parse_cell("inf")) and parse_cell("gymnasium") == "gymnasium"


def test_table_column_types_integers_numbers_and_text():
    table = Table(["n", "x", "s"], [{"n": 1, "x": 2, "s": "a"}, {"n": 2, "x": None, "s": None}])
    assert table.column("n").dtype == np.int64 and table.column("x").dtype == float
    assert np.isnan(table.column("x")[1]) and list(table.column("s")) == ["a", None]


def test_a_kind_offering_a_tool_must_be_listed_in_kinds_tools(monkeypatch):
    """`pgcli train` is built without importing the other kinds: kinds.TOOLS lists who offers
    tools to which command, and a kind whose tools it does not list is refused."""
    assert kinds.offering("train") == [] and [kind.name for kind, _ in kinds.offering("fisher")] == ["train"]
    monkeypatch.setattr(kinds, "TOOLS", {})
    monkeypatch.setattr(kinds, "_LOADED", {})
    with pytest.raises(ValueError, match=r"kinds\.TOOLS"):
        kinds.get("train")


def test_the_gymnasium_version_recorded_without_importing_it_is_its_own():
    """config.yaml records gymnasium's version for every kind; an estimate run reads it from the
    installed metadata rather than importing gymnasium: the same text."""
    code = textwrap.dedent("""
        import sys
        from pgcli.shell.executors import versions
        recorded = versions()["gymnasium"]
        assert "gymnasium" not in sys.modules
        import gymnasium
        print(recorded == gymnasium.__version__ == versions()["gymnasium"])
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
