"""A table as plain rows, for a core whose table is written without pandas.

    table = Table(["iteration", "env_steps", "return_mean"], [{"iteration": 0, "env_steps": 300, ...}, ...])
    table.column("env_steps")     # a column as a NumPy array: int64, float64 (NaN where empty) or object
    table.frame()                 # pd.DataFrame(rows, columns=columns): pandas, imported on this call

A row is a dict; a key it lacks, None or NaN is an empty cell. pandas costs about half a second to
import, more than a short training run: a kind whose run returns a Table (pgcli.kinds.Kind.light)
runs from the command line without it. The shell writes a Table exactly as pandas writes the same
rows as a DataFrame (pgcli.shell.atomic.csv_text, tests/test_startup.py), so its CSV files do not
depend on which of the two a kind returns.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

_INTEGER = re.compile(r"[+-]?\d+")


class Table(NamedTuple):
    """Column names in order, and one dict per row."""

    columns: list[str]
    rows: list[dict]

    def column(self, name: str) -> np.ndarray:
        """The column's cells as pandas would type them: int64 when all are integers, float64 when
        all are numbers or empty (empty as NaN), object otherwise (empty as None)."""
        values = [None if missing(row.get(name)) else row.get(name) for row in self.rows]
        present = [v for v in values if v is not None]
        if all(is_integer(v) for v in present) and len(present) == len(values):
            return np.array(values, dtype=np.int64)
        if all(is_number(v) for v in present):
            return np.array([np.nan if v is None else v for v in values], dtype=float)
        return np.array(values, dtype=object)

    def frame(self) -> pd.DataFrame:
        """The rows as a pandas DataFrame with these columns."""
        import pandas as pd

        return pd.DataFrame(self.rows, columns=self.columns)

    def text(self, float_format: Callable[[float], str]) -> str | None:
        """The table as pandas prints the DataFrame of its rows, `to_string(index=False,
        float_format=float_format)`, or None where this might differ (no rows or columns; a cell of another
        type, over MAX_WIDTH characters or holding a tab or line break): then ask pandas.

        Per column, typed as pandas types it (`kind`): integers right-aligned; doubles by
        float_format, 'NaN' when empty; text as is ('NaN' when empty); a mixture (object) each
        cell's str(), a double's by float_format, None as 'None'. A number column's header has a
        leading space; every column is right-aligned to its widest cell, one space between."""
        if not self.rows or not self.columns:
            return None
        columns = []
        for name in self.columns:
            values = [row.get(name, np.nan) for row in self.rows]  # pandas fills a key a row lacks with NaN
            kind = column_kind(values)
            cells = [_text_cell(value, kind, float_format) for value in values]
            header = f" {name}" if kind in ("int", "float", "bool") else name
            if kind is None or any(c is None or len(c) > MAX_WIDTH or _CONTROL & set(c) for c in [header, *cells]):
                return None
            width = max(map(len, [header, *cells]))
            columns.append([cell.rjust(width) for cell in [header, *cells]])
        return "\n".join(" ".join(line) for line in zip(*columns, strict=True))


MAX_WIDTH = 50  # pandas' display.max_colwidth: it cuts longer cells
_CONTROL = set("\t\r\n")  # pandas prints these escaped


def column_kind(values: list) -> str | None:
    """How pandas types a column of these values (a DataFrame made of rows): 'int' (int64: integers,
    none empty), 'float' (float64: numbers, or integers with an empty cell), 'bool' (booleans, none
    empty), 'str' (text, empty cells allowed), 'object' (any other mixture of these), or None for
    a value of another type (np.float32, a list, ...)."""
    present = [v for v in values if not missing(v)]
    if not all(isinstance(v, bool | np.bool_ | float | str) or is_integer(v) for v in present):
        return None
    if not present:  # nothing but empty cells: NaN makes it float64, None alone object
        return "object" if all(v is None for v in values) else "float"
    complete = len(present) == len(values)
    if all(is_integer(v) for v in present) and complete:
        return "int"
    if all(is_number(v) for v in present):
        return "float"
    if all(isinstance(v, bool | np.bool_) for v in present) and complete:
        return "bool"
    return "str" if all(isinstance(v, str) for v in present) else "object"


def _text_cell(value, kind: str | None, float_format) -> str | None:
    """One cell as pandas' to_string prints it in a column of that kind."""
    if kind == "int":
        return f"{int(value):d}"
    if missing(value):
        return "None" if kind == "object" and value is None else "NaN"
    if kind == "float" or (kind == "object" and isinstance(value, float)):
        return float_format(value)
    return str(value)


def missing(value) -> bool:
    """An empty cell: None, or a float NaN."""
    return value is None or (isinstance(value, float) and value != value)


def is_integer(value) -> bool:
    """A Python or NumPy integer (a bool is not one: pandas keeps booleans apart)."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def is_number(value) -> bool:
    """An integer, or a Python or NumPy double (np.float64 is a float)."""
    return is_integer(value) or isinstance(value, float)


def parse_cell(text: str):
    """A CSV cell as pandas' read_csv types it in a column of numbers: '' empty (None), an
    integer, a float ('inf' too), else the text."""
    if text == "":
        return None
    if _INTEGER.fullmatch(text):
        return int(text)
    try:
        return float(text)
    except ValueError:
        return text
