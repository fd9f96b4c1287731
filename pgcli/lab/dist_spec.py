"""p(x; θ) at one or more θ, and the functions f asked about it, as the lab's kinds give them.

θ as text ('mu=-3:3:25,sigma=1', 'logits=[0,1,2]') and its grids, the canonical θ label of the
CSVs, the limits on θ grids and dimensions, and the one rule for which f fits which distribution
(a value table needs a categorical of its size or a bernoulli). Errors are SpecErrors naming the
spec key (`theta`, `f[1]`).
"""

from __future__ import annotations

import itertools
import math
import zlib

import numpy as np

from pgcli.base.fields import SpecError, all_positive
from pgcli.lab import distributions, userfn
from pgcli.lab.functions import FunctionError

MAX_GRID = 10_000  # θ points in one spec: the product of its 'lo:hi:count' ranges
MAX_DIM = 1000  # diag_gaussian dimension / number of categories
LABEL_VALUES = 8  # a θ vector longer than this is abbreviated in the `theta` column


def dim_problem(dim):
    """Why `dim` is out of range (1..MAX_DIM), or None."""
    return None if 0 < dim <= MAX_DIM else f"must be in 1..{MAX_DIM}, got {dim}"


MAX_VALUES = 100  # values in a list of sample sizes (n) or of functions (f)


def samples_problem(values, limit):
    """Each value in 1..limit (the n, reps limits), at most MAX_VALUES of them, else the problem."""
    if len(values) > MAX_VALUES:
        return f"at most {MAX_VALUES} values, got {len(values):,}"
    return all_positive(values) or next((f"must be ≤ {limit:,}, got {v:.3g}" for v in values if v > limit), None)


def parse_theta_text(text: str) -> dict:
    """'mu=-3:3:25,sigma=1' or 'logits=[0,1,2]' -> mapping (values still text/numbers)."""
    out, depth, token = {}, 0, ""
    parts = []
    for char in text:
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(token)
            token = ""
        else:
            token += char
    parts.append(token)
    for part in filter(str.strip, parts):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise SpecError("theta", f"expected NAME=VALUE[,NAME=VALUE], got {part.strip()!r}")
        value = value.strip()
        if value.startswith("["):
            value = [v for v in value.strip("[]").split(",") if v.strip()]
        if key.strip() in out:
            raise SpecError("theta", f"{key.strip()} is given twice in {text!r}")
        out[key.strip()] = value
    return out


def theta_values(theta: dict) -> dict:
    """θ in canonical form, so the same θ is the same spec (and run) whichever way it was typed:
    a number as a float, a vector as a list of floats, a sweep as its 'lo:hi:count' text."""
    out = {}
    for key, value in theta.items():
        if not isinstance(key, str):
            raise SpecError("theta", f"parameter names are text, got {key!r}")
        path = f"theta.{key}"
        if isinstance(value, str) and ":" in value:
            _range(value, path)
            out[key] = value.strip()
        elif isinstance(value, list | tuple):
            out[key] = _vector(value, path)
        else:
            out[key] = _number(value, path)
    return out


def _vector(values, path) -> list[float]:
    """A θ vector: at most MAX_DIM numbers (its length sets `dim`, which has that limit)."""
    if len(values) > MAX_DIM:
        raise SpecError(path, f"a vector of at most {MAX_DIM} values (the limit of dim), got {len(values):,}")
    return [_number(v, path) for v in values]


def _range(text, path):
    parts = text.split(":")
    if len(parts) != 3:
        raise SpecError(path, f"expected a number, a list, or 'lo:hi:count', got {text!r}")
    try:
        lo, hi, count = float(parts[0]), float(parts[1]), float(parts[2])
    except (ValueError, OverflowError):
        raise SpecError(path, f"expected 'lo:hi:count' with numbers, got {text!r}") from None
    if not count.is_integer():
        raise SpecError(path, f"the count of 'lo:hi:count' is a whole number, got {parts[2]!r} in {text!r}")
    count = int(count)
    if not 1 <= count <= MAX_GRID:
        raise SpecError(path, f"count must be in 1..{MAX_GRID} in {text!r}")
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise SpecError(path, f"range ends must be finite in {text!r}")
    return list(np.linspace(lo, hi, count))


def theta_grid(theta: dict) -> list[dict]:
    """Cross product of the θ values: each 'lo:hi:count' range is an axis; lists are vectors."""
    axes = []
    for key, value in theta.items():
        if not isinstance(key, str):
            raise SpecError("theta", f"parameter names are text, got {key!r}")
        path = f"theta.{key}"
        if isinstance(value, str) and ":" in value:
            axes.append([(key, v) for v in _range(value, path)])
        elif isinstance(value, list | tuple):
            axes.append([(key, _vector(value, path))])
        else:
            axes.append([(key, _number(value, path))])
    points = math.prod(len(axis) for axis in axes)
    if points > MAX_GRID:
        sizes = " × ".join(str(len(axis)) for axis in axes if len(axis) > 1)
        raise SpecError("theta", f"{sizes} = {points:,} θ points; the limit is {MAX_GRID:,} in total")
    return [dict(point) for point in itertools.product(*axes)]


def _number(value, path):
    try:
        if isinstance(value, bool):
            raise ValueError
        return float(value)
    except (TypeError, ValueError):
        raise SpecError(path, f"expected a number, got {value!r}") from None


def theta_label(dist: distributions.Dist) -> str:
    """Canonical θ text, e.g. 'mu=0.5,sigma=1' or 'logits=[0,1,-1]'."""
    groups = distributions.param_groups(dist.family, dist.parametrisation, dist.dim)
    values = np.split(dist.theta, len(groups))
    parts = []
    for group, v in zip(groups, values, strict=True):
        text = ",".join(f"{x:.10g}" for x in v)
        if v.size > LABEL_VALUES:  # first and last values, the length and a checksum of all
            crc = zlib.crc32(text.encode())
            text = f"{','.join(f'{x:.10g}' for x in v[:3])},…,{v[-1]:.10g}; {v.size} values; crc32 {crc:08x}"
        parts.append(f"{group}=[{text}]" if v.size > 1 else f"{group}={text}")
    return ",".join(parts)


def make_dists(family: str, parametrisation: str | None, theta: dict, dim: int | None, dtype: str = "float64"):
    """Every θ point of a `theta` mapping (numbers, vectors, 'lo:hi:count' sweeps) as a validated
    Dist of the family (SpecError at `theta` before any work)."""
    out = []
    for point in theta_grid(theta):
        try:
            out.append(distributions.make_dist(family, parametrisation, point, dim, dtype))
        except distributions.DistError as err:
            raise SpecError("theta", str(err)) from None
    return out


def function_problem(f, dist: distributions.Dist) -> str | None:
    """Why f cannot be used with dist (a table of the wrong size or family), or None."""
    if f.name != "table":
        return None
    size = {"categorical": dist.dim, "bernoulli": 2}.get(dist.family)
    if f.arg == size:
        return None
    need = f"{size} values" if size else "categorical or bernoulli"
    return f"a value table needs {need}, got {f.label!r}"


def make_functions(functions: list, dist: distributions.Dist) -> list:
    """Functions f[i] (text, or a callable / Fn given through the Python API) as Fn, each checked
    against dist (SpecError at f[i] if not)."""
    out = []
    for i, text in enumerate(functions):
        try:
            f = userfn.to_function(text)  # text, or a callable / Fn given through the Python API
        except FunctionError as err:
            raise SpecError(f"f[{i}]", str(err)) from None
        problem = function_problem(f, dist)
        if problem:
            raise SpecError(f"f[{i}]", problem)
        out.append(f)
    return out


PROBE_SAMPLES = 1000  # a built-in f or an expression is evaluated on this many samples before a run


def probe_function(f, dist: distributions.Dist, path: str) -> None:
    """f on samples of dist (a throwaway stream) before anything runs; SpecError at `path` if it is
    wrong: a user's f on 4 samples (its shape and dtype), a built-in f or an expression on
    PROBE_SAMPLES, which must give finite values (`9**9**9*x`, `x**10**10` overflow: E[f] and its
    gradient are then not numbers)."""
    rng = np.random.default_rng(0)
    try:
        with np.errstate(all="ignore"):
            userfn.probe(f, distributions.sample(dist, 4, rng))
            if f.name != "python":
                x = distributions.sample(dist, PROBE_SAMPLES, rng)
                values = np.asarray(f.value(x), dtype=float)
    except FunctionError as err:
        raise SpecError(path, f"{f.label}: {err}") from None
    if f.name != "python" and not np.isfinite(values).all():
        flat = int(np.flatnonzero(~np.isfinite(values.ravel()))[0])
        width = values.size // len(x)  # f of each coordinate of a vector sample: (n, k) values
        row, column = divmod(flat, width)
        sample = np.reshape(x, (len(x), -1))[row]
        where = f"x[{column}] = {sample[column]:.6g}" if width > 1 else f"x = {np.ravel(sample)[:4].tolist()}"
        raise SpecError(path, f"{f.label}: gives {values.ravel()[flat]} at {where}; f must be finite on the samples")
