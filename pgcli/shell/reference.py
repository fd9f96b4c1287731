"""The spec reference (docs/reference.md), generated from the schemas of the registered kinds.

    python -m pgcli.shell.reference > docs/reference.md      # what `make reference` runs

Every row comes from the kind's schema as `pgcli.shell.experiment.schema_of` assembles it (the
kind's own keys plus kind, name, seed, timeout, sweep and expect), read through
`pgcli.shell.spec.schema_rows`, so the page and the validation cannot disagree; tests/test_docs.py
fails when the committed page differs from this output.
"""

from __future__ import annotations

import re

from pgcli import kinds
from pgcli.shell.experiment import schema_of
from pgcli.shell.spec import lookup, schema_rows

INTRO = """\
# Spec reference

Generated from the schemas by `make reference` (`python -m pgcli.shell.reference`); a test fails
when this page is stale. Every key has a default; an unknown key or a bad value is refused before
anything runs, in one line naming the key path and what is allowed (exit code 2). Numbers may be
written `1e-3` or `5e5`: PyYAML reads those as strings, and pgcli coerces every value by its type
(below), in spec files and in `--set KEY=VALUE` alike. `--set-grid KEY=V1,V2` and `sweep.grid` take
any of these keys. How seeds, sweeps and paths in a spec combine: [Sweeps](sweeps.md#specs-seeds-and-paths);
what `expect:` may say: [Checks](check.md#expectations); the bounds on sizes: [Security](security.md#limits).
"""


# how a value of each schema type is read (pgcli.shell.spec.coerce); markdown() refuses a type not here
TYPES = {
    "int": "an integer (`5e5` too)",
    "float": "a number (`1e-3` too)",
    "str": "a string",
    "bool": "true or false",
    "path": "a file path, relative to the spec file's directory (on the command line: to the working directory)",
    "function": "a function: a built-in name, `name:arg`, an expression in x, or `module:function` (your own file)",
    "functions": "a list of functions (one alone is a list of one); commas inside one stay its own (`table:1,0,3`)",
    "ints": "a list of integers (one alone is a list of one; `10,100` in `--set` too)",
    "floats": "a list of numbers (one alone is a list of one)",
    "strs": "a list of strings (one alone is a list of one; `a,b` is two)",
    "texts": "a list of strings whose commas are their own",
    "mapping": "a YAML mapping",
    "any": "as the meaning says",
}


def _types(used: set[str]) -> str:
    unknown = used - set(TYPES)
    if unknown:
        raise ValueError(f"schema types without a description in pgcli.shell.reference.TYPES: {sorted(unknown)}")
    rows = "\n".join(f"| {name} | {TYPES[name]} |" for name in TYPES if name in used)
    return f"| type | a value is |\n|---|---|\n{rows}\n"


def _cell(text: str) -> str:
    """Text for a Markdown table cell: one line, `|` and `<` escaped."""
    return re.sub(r"\s+", " ", text).strip().replace("|", "\\|").replace("<", "&lt;")


def _code(text: str) -> str:
    return f"`{_cell(text)}`" if text else ""


def kind_table(name: str) -> str:
    """One kind's keys: key, type, default, meaning, allowed values."""
    schema = schema_of(name)
    lines = ["| key | type | default | meaning | allowed |", "|---|---|---|---|---|"]
    for key, type_, default, _ in schema_rows(schema):
        field = lookup(schema, key)
        allowed = " \\| ".join(_code(str(choice)) for choice in field.choices or ())
        lines.append(f"| `{key}` | {type_} | {_code(default)} | {_cell(field.help)} | {allowed} |")
    return "\n".join(lines)


def markdown() -> str:
    """The whole reference page: an introduction, then one section per kind pgcli ships (not one
    a user or a test registered)."""
    shipped = [name for name in kinds.names() if kinds.REGISTRY[name].startswith("pgcli.")]
    used = {type_ for name in shipped for _, type_, *_ in schema_rows(schema_of(name))}
    parts = [INTRO, _types(used)]
    for name in shipped:
        summary = kinds.get(name).help.split("\n\n")[0]
        parts.append(f"## `{name}` specs\n\n`pgcli {name}`: {_cell(summary)}\n\n{kind_table(name)}\n")
    return "\n".join(parts)


if __name__ == "__main__":
    print(markdown(), end="")
