"""YAML experiment specs: schemas with defaults, validation with key paths, typed overrides.

A schema is a nested dict whose leaves are :class:`Field`. :func:`resolve` merges a user's
mapping over the defaults, rejecting unknown keys (suggesting the nearest) and coercing every
value by its field's kind. PyYAML follows YAML 1.1, where ``1e-3`` and ``5e5`` are *strings*;
coercion turns them into numbers, for spec files and ``--set`` alike.
"""

from __future__ import annotations

import copy
import difflib
import itertools
import math
import os
import re
from pathlib import Path
from typing import Any

import yaml

from pgcli.base.fields import Field, SpecError, all_positive, non_negative, positive, unit_interval  # noqa: F401 (re-exported)
from pgcli.shell.expect import problem as expect_problem

# ---------------------------------------------------------------------------------------------
# loading


MAX_SPEC_BYTES = 1_000_000  # a spec (or config.yaml) larger than this is refused unread
MAX_YAML_NODES = 100_000  # values in a document once every alias is expanded (billion laughs)


class YAMLRefused(yaml.MarkedYAMLError):
    """Valid YAML that pgcli refuses: a duplicate key, a recursive alias, too many values."""


class SpecLoader(yaml.SafeLoader):
    """yaml.SafeLoader that also refuses duplicate keys, recursive aliases, and documents whose
    alias-expanded size exceeds MAX_YAML_NODES (checked on the node graph, before building)."""

    def construct_document(self, node):
        _expanded_size(node, {}, set())
        return super().construct_document(node)

    def construct_mapping(self, node, deep=False):
        first = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
                continue
            key = self.construct_object(key_node)
            if key in first:
                raise YAMLRefused(
                    None, None, f"duplicate key {key!r} (first at line {first[key]})", key_node.start_mark
                )
            first[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)

    def construct_yaml_int(self, node):
        try:
            return super().construct_yaml_int(node)
        except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
            raise YAMLRefused(None, None, f"integer too long ({len(node.value)} characters)", node.start_mark) from None


SpecLoader.add_constructor("tag:yaml.org,2002:int", SpecLoader.construct_yaml_int)


def _expanded_size(node, sizes: dict, open_nodes: set) -> int:
    """Number of values under `node` with aliases expanded; memoised, so linear in the nodes."""
    if id(node) in sizes:
        return sizes[id(node)]
    if id(node) in open_nodes:
        raise YAMLRefused(None, None, "recursive alias (a value that contains itself)", node.start_mark)
    open_nodes.add(id(node))
    children = [] if isinstance(node, yaml.ScalarNode) else node.value
    if isinstance(node, yaml.MappingNode):
        children = [part for pair in children for part in pair]
    size = 1 + sum(_expanded_size(child, sizes, open_nodes) for child in children)
    if size > MAX_YAML_NODES:
        raise YAMLRefused(None, None, f"more than {MAX_YAML_NODES} values once aliases are expanded", node.start_mark)
    open_nodes.discard(id(node))
    sizes[id(node)] = size
    return size


def parse_yaml(text: str):
    """yaml.safe_load with SpecLoader's refusals; raises yaml.YAMLError."""
    try:
        return yaml.load(text, Loader=SpecLoader)  # a SafeLoader subclass
    except RecursionError:
        raise YAMLRefused(None, None, "values nested too deeply", None) from None


def read_yaml(path: str | Path, what: str = "spec file"):
    """The YAML document in a file (any type); SpecError naming the file and the line."""
    path = Path(path)
    if not path.is_file():
        problem = "is not a regular file" if path.exists() else "not found"
        raise SpecError("", f"{what} {problem}: {path}")
    size = path.stat().st_size
    if size > MAX_SPEC_BYTES:
        raise SpecError("", f"{what} {path} is {size:,} bytes; the limit is {MAX_SPEC_BYTES:,}")
    try:
        return parse_yaml(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        what = f"{what} {path}" if isinstance(err, YAMLRefused) else f"malformed YAML in {path}"
        raise SpecError("", f"{what}{where}: {problem}") from None
    except UnicodeDecodeError:
        raise SpecError("", f"{what} is not UTF-8 text: {path}") from None


def load_yaml(path: str | Path) -> dict:
    """Read a spec file (at most MAX_SPEC_BYTES) with `read_yaml`; errors name the file and line."""
    data = read_yaml(path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SpecError("", f"{path} must hold a mapping of keys, got {type(data).__name__}")
    return data


# ---------------------------------------------------------------------------------------------
# coercion


_INT_RE = re.compile(r"^[+-]?\d+$")


def _to_float(value, path):
    if isinstance(value, bool):
        raise SpecError(path, f"expected a number, got {value!r}")
    if isinstance(value, int | float):
        try:
            out = float(value)
        except OverflowError:
            raise SpecError(path, f"number too large: {str(value)[:20]}...") from None
    elif isinstance(value, str):
        try:
            out = float(value.strip())
        except ValueError:
            raise SpecError(path, f"expected a number, got {value[:40]!r}") from None
    else:
        raise SpecError(path, f"expected a number, got {value!r}")
    if not math.isfinite(out):
        raise SpecError(path, f"expected a finite number, got {str(value)[:40]!r}")
    return out


MAX_INT = 2**63 - 1  # every integer setting fits in int64 (seeds, counts)


def _to_int(value, path):
    if isinstance(value, str) and _INT_RE.match(value.strip()):
        digits = value.strip().lstrip("+-")
        if len(digits) > 19:
            raise SpecError(path, f"integer too large: {digits[:20]}... ({len(digits)} digits; limit 2^63 − 1)")
        value = int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool):
        if abs(value) > MAX_INT:
            raise SpecError(path, f"integer too large: {value.bit_length()} bits (limit 2^63 − 1)")
        return value
    number = _to_float(value, path) if not isinstance(value, bool) else None
    if number is None or number != int(number):
        raise SpecError(path, f"expected an integer, got {str(value)[:40]!r}")
    if abs(number) > MAX_INT:
        raise SpecError(path, f"integer too large: {number:g} (limit 2^63 − 1)")
    return int(number)


def _to_bool(value, path):
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {
        "true",
        "yes",
        "on",
        "1",
        "false",
        "no",
        "off",
        "0",
    }:
        return value.lower() in {"true", "yes", "on", "1"}
    raise SpecError(path, f"expected true or false, got {value!r}")


def _to_str(value, path):
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        raise SpecError(path, f"expected a string, got {value!r}")
    return str(value)


def _as_list(value, path, one, split=True):
    if split and isinstance(value, str) and "," in value:
        value = [v for v in value.split(",") if v.strip()]
    items = value if isinstance(value, list | tuple) else [value]
    if not items:
        raise SpecError(path, "expected at least one value, got an empty list")
    return [one(v, f"{path}[{i}]") for i, v in enumerate(items)]


def _to_function(value, path):
    """f: text, or (only through the Python API, which is code) a callable or an Fn."""
    return value if callable(value) or hasattr(value, "value") else _to_str(value, path)


_SCALAR = {
    "int": _to_int,
    "float": _to_float,
    "str": _to_str,
    "path": _to_str,
    "bool": _to_bool,
    "function": _to_function,
}
_LIST = {"ints": _to_int, "floats": _to_float, "strs": _to_str}


def coerce(field: Field, value: Any, path: str) -> Any:
    """Coerce and check one value against its field; raise SpecError naming the path."""
    if value is None:
        if field.nullable:
            return None
        raise SpecError(path, f"a value is required ({field.help})")
    if field.kind in _SCALAR:
        out = _SCALAR[field.kind](value, path)
    elif field.kind in _LIST:
        out = _as_list(value, path, _LIST[field.kind])
    elif field.kind == "texts":  # strings that may hold commas (table:1,0,3)
        out = _as_list(value, path, _to_str, split=False)
    elif field.kind == "functions":  # f texts (commas are theirs: table:1,0,3), or the API's callables
        out = _as_list(value, path, _to_function, split=False)
    elif field.kind == "mapping":
        if not isinstance(value, dict):
            raise SpecError(path, f"expected a mapping, got {value!r}")
        out = copy.deepcopy(value)
    else:
        out = copy.deepcopy(value)
    if field.choices is not None:
        values = out if isinstance(out, list) else [out]
        for v in values:
            if v not in field.choices:
                raise SpecError(path, f"unknown value {v!r}; allowed: {', '.join(map(str, field.choices))}")
    if field.convert is not None:
        out = field.convert(out)
    if field.check is not None:
        problem = field.check(out)
        if problem:
            raise SpecError(path, problem)
    return out


# ---------------------------------------------------------------------------------------------
# resolving a spec against a schema


def _unknown(key, allowed, path):
    close = difflib.get_close_matches(key, list(allowed), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    where = f"{path}.{key}" if path else key
    return SpecError(where, f"unknown key{hint} (allowed: {', '.join(allowed)})")


def resolve(schema: dict, user: dict, path: str = "") -> dict:
    """Defaults overlaid with `user`, every value coerced; unknown keys rejected."""
    if not isinstance(user, dict):
        raise SpecError(path, f"expected a mapping, got {user!r}")
    out = {}
    for key in user:
        if key not in schema:
            raise _unknown(str(key), schema, path)
    for key, node in schema.items():
        where = f"{path}.{key}" if path else key
        if isinstance(node, dict):
            out[key] = resolve(node, {} if user.get(key) is None else user[key], where)
        elif key in user:
            out[key] = coerce(node, user[key], where)
        else:
            out[key] = copy.deepcopy(node.default)
    return out


def relative_to(schema: dict, user: dict, directory: str | Path) -> dict:
    """A spec file's relative paths (fields of kind `path`) made relative to the working
    directory from the spec file's own directory, so a spec runs the same from anywhere."""
    out = dict(user)
    for key, node in schema.items():
        value = out.get(key)
        if isinstance(node, dict) and isinstance(value, dict):
            out[key] = relative_to(node, value, directory)
        elif isinstance(node, Field) and node.kind == "path" and isinstance(value, str) and value:
            out[key] = value if Path(value).is_absolute() else os.path.relpath(Path(directory) / value)
    return out


def references(schema: dict, spec: dict, path: str = "") -> list[tuple[str, str]]:
    """(key path, MODULE:NAME) for every user-code reference in a resolved spec, as its schema's
    fields declare them (Field.refs): `f[1]`, `env.id`."""
    found = []
    for key, node in schema.items():
        where = f"{path}.{key}" if path else key
        value = spec.get(key) if isinstance(spec, dict) else None
        if isinstance(node, dict):
            found += references(node, value, where)
        elif node.refs is not None and value is not None:
            items = value if isinstance(value, list) else [value]
            for reference in node.refs(value):
                at = next((i for i, item in enumerate(items) if isinstance(item, str) and item.strip() == reference), 0)
                found.append((f"{where}[{at}]" if isinstance(value, list) else where, reference))
    return found


def node_at(schema: dict, dotted: str) -> Field | dict:
    """The field or section at a dotted key path, or SpecError with the nearest key."""
    node: Any = schema
    parts = dotted.split(".")
    for i, part in enumerate(parts):
        path = ".".join(parts[:i])
        if isinstance(node, Field):
            if node.kind in {"mapping", "any"}:
                return Field("any", None, f"a value inside {path}", nullable=True)
            raise SpecError(dotted, f"{path} is a value, not a section")
        if part not in node:
            raise _unknown(part, node, path)
        node = node[part]
    return node


def lookup(schema: dict, dotted: str) -> Field:
    """The field at a dotted key path (not a section)."""
    node = node_at(schema, dotted)
    if isinstance(node, dict):
        raise SpecError(dotted, f"is a section; set one of its keys: {', '.join(node)}")
    return node


def leaves(tree: dict, prefix: str) -> dict:
    """{'a.b': 1} from {'b': 1} under prefix 'a' (nested mappings flattened)."""
    out = {}
    for key, value in tree.items():
        dotted = f"{prefix}.{key}"
        out.update(leaves(value, dotted) if isinstance(value, dict) else {dotted: value})
    return out


def set_dotted(tree: dict, dotted: str, value: Any) -> None:
    """tree['a']['b'] = value for dotted 'a.b', creating the inner mappings."""
    parts = dotted.split(".")
    for part in parts[:-1]:
        tree = tree.setdefault(part, {})
        if not isinstance(tree, dict):
            raise SpecError(dotted, f"{part} is not a section")
    tree[parts[-1]] = value


def get_dotted(tree: dict, dotted: str) -> Any:
    """tree['a']['b'] for dotted 'a.b' (KeyError when absent)."""
    for part in dotted.split("."):
        tree = tree[part]
    return tree


def parse_assignment(text: str) -> tuple[str, Any]:
    """'a.b=value' -> ('a.b', the value read as YAML); the schema coerces it afterwards."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise SpecError("--set", f"expected KEY=VALUE, got {text!r}")
    try:
        value = parse_yaml(raw) if raw.strip() else None
    except YAMLRefused as err:
        raise SpecError(key, f"{err.problem} in {raw.strip()[:40]!r}") from None
    except yaml.YAMLError:
        value = raw
    return key, value


def apply_overrides(user: dict, assignments: list[str], schema: dict) -> dict:
    """Apply --set KEY=VALUE overrides (keys must exist in the schema) to a raw user mapping."""
    user = copy.deepcopy(user)
    for text in assignments:
        key, value = parse_assignment(text)
        field = lookup(schema, key)
        set_dotted(user, key, coerce(field, value, key) if field.kind != "any" else value)
    return user


def dump(spec: dict) -> str:
    """A resolved spec as YAML, keys in schema order (what --print-spec and config.yaml show)."""
    return yaml.safe_dump(spec, sort_keys=False, default_flow_style=None, width=100)


def schema_rows(schema: dict, path: str = "") -> list[tuple[str, str, str, str]]:
    """(key, kind, default, help) for every leaf: the README's schema tables come from here."""
    rows = []
    for key, node in schema.items():
        where = f"{path}.{key}" if path else key
        if isinstance(node, dict):
            rows += schema_rows(node, where)
        else:
            choices = f" ({' | '.join(map(str, node.choices))})" if node.choices else ""
            default = yaml.safe_dump(node.default, default_flow_style=True).strip()
            default = default.removesuffix("...").strip()
            rows.append((where, node.kind, default, node.help + choices))
    return rows


# ---------------------------------------------------------------------------------------------
# sweeps: grid × seeds

SWEEP = {
    "grid": Field("mapping", {}, "dotted key -> list of values; the full cross product is run"),
    "seeds": Field("any", None, "a count (seeds 0..N-1) or a list of seeds", nullable=True),
}
UNHASHED = ("name", "sweep", "expect", "timeout")  # keys that do not change a run's results
MAX_RUNS = 10_000  # runs in one sweep (grid points × seeds); each is a directory


def with_sweep(schema: dict) -> dict:
    """A kind's schema plus the sweep and expect blocks every spec may carry."""
    return {
        **schema,
        "sweep": SWEEP,
        "expect": Field("any", [], "expectations checked by `pgcli check`", nullable=True, check=expect_problem),
    }


def _seeds(value):
    if value is None:
        return None
    if isinstance(value, list):
        if len(value) > MAX_RUNS:
            raise SpecError("sweep.seeds", f"{len(value)} seeds; the limit is {MAX_RUNS:,} runs per sweep")
        seeds = [_to_int(v, f"sweep.seeds[{i}]") for i, v in enumerate(value)]
        negative = [s for s in seeds if s < 0]
        if negative:
            raise SpecError("sweep.seeds", f"seeds must be ≥ 0, got {negative[0]}")
        if not seeds:
            raise SpecError("sweep.seeds", "expected a count or a non-empty list of seeds")
        if len(set(seeds)) != len(seeds):
            raise SpecError("sweep.seeds", f"seeds repeat: {seeds}")
        return seeds
    count = _to_int(value, "sweep.seeds")
    if count <= 0:
        raise SpecError("sweep.seeds", f"must be ≥ 1 (a count) or a list of seeds, got {count}")
    if count > MAX_RUNS:
        raise SpecError("sweep.seeds", f"{count:,} seeds; the limit is {MAX_RUNS:,} runs per sweep")
    return list(range(count))


def grid_values(raw: str, key: str) -> list:
    """The values of `--set-grid KEY=RAW`: a YAML list (`["table:1,0,3", "table:0,1,2"]`), or
    values split at commas outside quotes and brackets (`'table:1,0,3','table:0,1,2'`, `0.01,0.03`,
    `[32],[64,64]`), each read as YAML (parse_yaml) (then typed by the schema)."""
    text = raw.strip()
    if text.startswith("[") and text.endswith("]"):
        try:
            values = parse_yaml(text)
        except yaml.YAMLError:
            values = None
        if isinstance(values, list):
            return values
    parts, token, quote, depth = [], "", "", 0
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(token)
            token = ""
            continue
        token += char
    if quote or depth:
        raise SpecError(f"--set-grid {key}", f"unbalanced quotes or brackets in {raw!r}")
    return [parse_assignment(f"{key}={part}")[1] for part in [*parts, token]]


def grid_key(text: str) -> str:
    """The key of a --set-grid 'KEY=V1,V2,...'; SpecError when the text is not of that form."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip() or not raw.strip():
        raise SpecError("--set-grid", f"expected KEY=V1,V2,..., got {text!r}")
    return key.strip()


def grid_axes(schema: dict, spec: dict, extra: list[str] = ()) -> list[tuple[str, list[dict]]]:
    """Validated sweep axes, spec order then --set-grid ones: (axis key, options), where each
    option is a mapping of dotted keys to coerced values.

    A key naming a value gives one option per listed value. A key naming a section (e.g.
    `algo`) takes a list of mappings, each overriding some of that section's keys together:
    `algo: [{weight: total_return, baseline: none}, {weight: gae, baseline: value}]`.
    """
    axes = dict(spec["sweep"]["grid"] or {})
    for text in extra:
        key = grid_key(text)
        axes[key] = grid_values(text.partition("=")[2], key)
    out = []
    for key, values in axes.items():
        where = f"sweep.grid.{key}"
        if key in UNHASHED or key == "seed" or key.startswith("sweep"):
            raise SpecError(where, "cannot be swept (use sweep.seeds for seeds)")
        node = node_at(schema, key)
        if not isinstance(values, list):
            raise SpecError(where, f"expected a list of values, got {values!r}")
        if not values:
            raise SpecError(where, "expected at least one value, got an empty list")
        if len(values) > MAX_RUNS:
            raise SpecError(where, f"{len(values):,} values; the limit is {MAX_RUNS:,} runs per sweep")
        options = []
        for i, value in enumerate(values):
            if isinstance(node, Field):
                options.append({key: coerce(node, value, f"{where}[{i}]")})
                continue
            if not isinstance(value, dict) or not value:
                raise SpecError(f"{where}[{i}]", f"expected a mapping of {key}'s keys, got {value!r}")
            options.append(
                {leaf: coerce(lookup(schema, leaf), v, f"{where}[{i}]{leaf[len(key):]}")
                 for leaf, v in leaves(value, key).items()}
            )  # fmt: skip
        out.append((key, options))
    return out


def expand(schema: dict, spec: dict, extra_axes: list[str] = ()) -> list[tuple[dict, dict]]:
    """Every run of a resolved spec: (run spec with its seed, the values of the varying keys).

    The cross product runs over the grid axes in order with seeds innermost. Each run spec is
    re-resolved through the schema, so a grid value is checked like any other value.
    """
    axes = grid_axes(schema, spec, extra_axes)
    seeds = _seeds(spec["sweep"]["seeds"]) or [spec["seed"]]
    total = math.prod(len(options) for _, options in axes) * len(seeds)
    if total > MAX_RUNS:
        sizes = " × ".join(str(len(options)) for _, options in axes)
        raise SpecError(
            "sweep", f"{sizes} grid points × {len(seeds)} seeds = {total:,} runs; the limit is {MAX_RUNS:,}"
        )
    varying_keys = list(dict.fromkeys(k for _, options in axes for o in options for k in o))
    runs = []
    for combo in itertools.product(*(options for _, options in axes)):
        for seed in seeds:
            user = copy.deepcopy(spec)
            for option in combo:
                for key, value in option.items():
                    set_dotted(user, key, value)
            user["seed"] = seed
            user["sweep"] = {"grid": {}, "seeds": None}
            resolved = resolve(schema, user)
            varying = {key: get_dotted(resolved, key) for key in varying_keys}
            runs.append((resolved, {**varying, "seed": seed}))
    return runs
