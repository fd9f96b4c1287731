"""Test functions f(x) for the estimator lab, and a safe expression parser.

A function is a value f(x) and, where it exists, a derivative f'(x) (used only by the pathwise
estimator). `step` has f' = 0 almost everywhere: the pathwise estimator then returns 0 although
∂θ P(x > c) ≠ 0, which is the point of showing it. For a sample x of shape (n, k) the objective
is Σ_k f(x_k) (k = 1 except for the diagonal gaussian).

Expressions such as ``x**2 + sin(3*x)`` are parsed with :mod:`ast` against a whitelist (numbers,
``x``, ``pi``, ``e``, + − * / **, the functions in :data:`EXPR_FUNCS`) and evaluated by walking
the tree with forward-mode dual numbers, so they get an exact derivative too. Nothing is passed
to ``eval``.
"""

from __future__ import annotations

import ast
import keyword
import re
import warnings
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from pgcli.base import lazy

special = lazy.module("scipy.special")


class Fn(NamedTuple):
    """A test function: f(x) and f'(x) elementwise on x (n, k), the objective being Σ_k f(x_k)
    (a user's Python f maps the whole x (n, k) to (n, 1) instead: separable False)."""

    label: str  # canonical text, e.g. "step:0.5" or "x**2 + sin(3*x)"
    name: str  # registry name, "expr" or "table"
    arg: float | None  # c for step, k for cos/sigmoid, the number of values for a table
    value: Callable[[np.ndarray], np.ndarray]
    deriv: Callable[[np.ndarray], np.ndarray] | None  # None: no derivative (tables)
    breakpoints: tuple[float, ...]  # where f or f' jumps (quadrature hints)
    separable: bool = True  # the objective is Σ_k f(x_k); False for a user's f of the whole x


class FunctionError(ValueError):
    """Bad function text; the message says what is allowed."""


def _sigmoid(x):
    return special.expit(x)


# name -> (f(x, a), f'(x, a), default a, breakpoints(a))
NAMED: dict[str, tuple[Callable, Callable, float | None, Callable]] = {
    "linear": (lambda x, a: x, lambda x, a: np.ones_like(x), None, lambda a: ()),
    "square": (lambda x, a: x * x, lambda x, a: 2 * x, None, lambda a: ()),
    "cos": (lambda x, a: np.cos(a * x), lambda x, a: -a * np.sin(a * x), 1.0, lambda a: ()),
    "abs": (lambda x, a: np.abs(x), lambda x, a: np.sign(x), None, lambda a: (0.0,)),
    "step": (
        lambda x, a: (x > a).astype(float),
        lambda x, a: np.zeros_like(x),
        0.0,
        lambda a: (a,),
    ),
    "sigmoid": (
        lambda x, a: _sigmoid(a * x),
        lambda x, a: a * _sigmoid(a * x) * (1 - _sigmoid(a * x)),
        1.0,
        lambda a: (),
    ),
}
# whitelisted expression functions: name -> (f, f')
EXPR_FUNCS: dict[str, tuple[Callable, Callable]] = {
    "sin": (np.sin, np.cos),
    "cos": (np.cos, lambda u: -np.sin(u)),
    "tan": (np.tan, lambda u: 1 / np.cos(u) ** 2),
    "exp": (np.exp, np.exp),
    "log": (np.log, lambda u: 1 / u),
    "log1p": (np.log1p, lambda u: 1 / (1 + u)),
    "sqrt": (np.sqrt, lambda u: 0.5 / np.sqrt(u)),
    "abs": (np.abs, np.sign),
    "tanh": (np.tanh, lambda u: 1 - np.tanh(u) ** 2),
    "arctan": (np.arctan, lambda u: 1 / (1 + u * u)),
    "sinh": (np.sinh, np.cosh),
    "cosh": (np.cosh, np.sinh),
    "sigmoid": (_sigmoid, lambda u: _sigmoid(u) * (1 - _sigmoid(u))),
    "sign": (np.sign, np.zeros_like),
}
CONSTANTS = {"pi": np.float64(np.pi), "e": np.float64(np.e)}
MAX_EXPR_LEN = 500
MAX_TABLE = 1000  # values in a table, one per category (categorical dim is at most 1000 too)
MAX_EXPR_DEPTH = 40

_BINOPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow)


def parse_function(text: str) -> Fn:
    """`NAME`, `NAME:ARG`, `table:v0,v1,...` or an expression in x. A `module:function` text names
    Python code, which only pgcli.lab.userfn loads (`userfn.to_function` takes every form)."""
    if not isinstance(text, str) or not text.strip():
        raise FunctionError(f"f must be a non-empty string; {allowed_text()}")
    text = text.strip()
    name, _, arg_text = text.partition(":")
    name = name.strip()
    if _python_reference(text, name):
        raise FunctionError(f"f {text!r} names a Python function: load it with pgcli.lab.userfn.to_function")
    if name == "table":
        return _table(arg_text)
    if name in NAMED:
        value, deriv, default, breaks = NAMED[name]
        if _ and default is None:
            raise FunctionError(f"f {name!r} takes no argument, got {text!r}")
        a = _number(arg_text, text) if _ else default
        label = name if a == default else f"{name}:{_number_text(a)}"
        return Fn(
            label,
            name,
            a,
            lambda x, v=value, a=a: v(x, a),
            lambda x, dv=deriv, a=a: dv(x, a),
            tuple(breaks(a)),
        )
    if ":" in text and name.isidentifier() and not keyword.iskeyword(name):
        raise FunctionError(f"unknown function {name!r}; {allowed_text()}")
    return parse_expression(text)


def _python_reference(text: str, name: str) -> bool:
    """MODULE:FUNCTION names a Python function unless MODULE is a built-in name: then the text
    must be the built-in's NAME:NUMBER, and an identifier after the colon is ambiguous."""
    if not re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", text):
        return False
    if name in NAMED or name == "table":
        raise FunctionError(
            f"f {text!r} is ambiguous: {name!r} is a built-in function (its argument is a number) "
            f"and MODULE:FUNCTION names a Python function; for a module of yours called {name}, "
            "move it into a package (package.module:function)"
        )
    return True


def references(value) -> list[str]:
    """The MODULE:FUNCTION texts among f values (a text, or a list of texts): the Python functions
    they name, which the shell checks are the user's own files before anything is imported."""
    texts = value if isinstance(value, list) else [value]
    found = []
    for text in texts:
        if not isinstance(text, str):
            continue
        try:
            if _python_reference(text.strip(), text.strip().partition(":")[0]):
                found.append(text.strip())
        except FunctionError:  # ambiguous (step:myfn): parse_function says so where it is used
            pass
    return found


def name_of(f) -> str:
    """A short name of an f value for a results name: its text, or a Python function's name."""
    if isinstance(f, str):
        return f
    return getattr(f, "label", None) or getattr(f, "__name__", None) or "f"


def allowed_text() -> str:
    """The forms an f may take, for error messages: built-in names, tables, module:function, expressions."""
    return (
        f"allowed: {', '.join(NAMED)}, table:v0,v1,... (categorical, bernoulli), module:function "
        f"(Python), or an expression in x using numbers, + - * / **, pi, e and {', '.join(EXPR_FUNCS)}"
    )


def _number(text, whole):
    try:
        value = float(text)
    except ValueError:
        raise FunctionError(f"expected a number after ':' in {whole!r}") from None
    if not np.isfinite(value):
        raise FunctionError(f"expected a finite number after ':' in {whole!r}")
    return value


def _number_text(value: float) -> str:
    """Shortest text that reads back as the same float: 0.5, 3, 0.123456789."""
    short = f"{value:g}"
    return short if float(short) == value else repr(value)


def _table(arg_text):
    parts = [p for p in arg_text.split(",") if p.strip()]
    if not parts:
        raise FunctionError("table needs values: table:v0,v1,... (f(k) = v_k)")
    if len(parts) > MAX_TABLE:
        raise FunctionError(f"table has {len(parts):,} values; the limit is {MAX_TABLE:,}")
    whole = f"table:{arg_text}" if len(arg_text) <= 60 else f"table:{arg_text[:60]}…"  # once: linear
    values = np.array([_number(p, whole) for p in parts])

    def value(x):
        index = x.astype(int)
        if index.min(initial=0) < 0 or index.max(initial=0) >= values.size:
            bad = index[(index < 0) | (index >= values.size)][0]
            raise FunctionError(f"table has {values.size} values (x in 0..{values.size - 1}), x = {bad}")
        return values[index]

    label = "table:" + ",".join(_number_text(v) for v in values)
    return Fn(label, "table", values.size, value, None, ())


# ---------------------------------------------------------------------------------------------
# expressions


def parse_expression(text: str) -> Fn:
    """Parse an arithmetic expression in x against the whitelist; never calls eval."""
    if len(text) > MAX_EXPR_LEN:
        raise FunctionError(f"expression longer than {MAX_EXPR_LEN} characters")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)  # e.g. '1e' warns before failing
            tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as err:
        msg = getattr(err, "msg", None) or type(err).__name__
        raise FunctionError(f"malformed expression {text!r}: {msg}") from None
    _check(tree.body, text, 0)
    body = tree.body

    def value(x):
        with np.errstate(all="ignore"):
            return np.broadcast_to(_eval(body, x, False)[0], np.shape(x)).astype(float)

    def deriv(x):
        with np.errstate(all="ignore"):
            d = _eval(body, x, True)[1]
        return np.zeros(np.shape(x)) if d is None else np.broadcast_to(d, np.shape(x)).astype(float)

    return Fn(ast.unparse(body), "expr", None, value, deriv, ())


def _check(node, text, depth):
    """Reject anything outside the whitelist, naming what was found."""
    if depth > MAX_EXPR_DEPTH:
        raise FunctionError(f"expression nested deeper than {MAX_EXPR_DEPTH} in {text!r}")
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise FunctionError(f"only numeric constants are allowed, got {node.value!r}")
        try:
            too_large = not np.isfinite(float(node.value))
        except OverflowError:  # an int literal beyond the float range
            too_large = True
        if too_large:
            raise FunctionError(f"number too large in {text[:40]!r}")
    elif isinstance(node, ast.Name):
        if node.id != "x" and node.id not in CONSTANTS:
            raise FunctionError(f"unknown name {node.id!r} in {text!r}; allowed names: x, {', '.join(CONSTANTS)}")
    elif isinstance(node, ast.BinOp):
        if not isinstance(node.op, _BINOPS):
            raise FunctionError(f"operator {type(node.op).__name__} not allowed; use + - * / **")
        _check(node.left, text, depth + 1)
        _check(node.right, text, depth + 1)
    elif isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, ast.USub | ast.UAdd):
            raise FunctionError(f"operator {type(node.op).__name__} not allowed")
        _check(node.operand, text, depth + 1)
    elif isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in EXPR_FUNCS:
            what = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
            raise FunctionError(f"call to {what!r} not allowed; functions: {', '.join(EXPR_FUNCS)}")
        if len(node.args) != 1 or node.keywords:
            raise FunctionError(f"{node.func.id}() takes exactly one argument")
        _check(node.args[0], text, depth + 1)
    else:
        raise FunctionError(f"{type(node).__name__} not allowed in expression {text!r}")


def _eval(node, x, want_deriv):
    """Evaluate (value, derivative) of a checked tree; derivative None means constant."""
    if isinstance(node, ast.Constant):
        return np.float64(node.value), None  # numpy scalars: 0/0 is nan, not an exception
    if isinstance(node, ast.Name):
        if node.id == "x":
            return x, (np.ones_like(x) if want_deriv else None)
        return CONSTANTS[node.id], None
    if isinstance(node, ast.UnaryOp):
        v, d = _eval(node.operand, x, want_deriv)
        if isinstance(node.op, ast.USub):
            return -v, (None if d is None else -d)
        return v, d
    if isinstance(node, ast.Call):
        f, df = EXPR_FUNCS[node.func.id]
        v, d = _eval(node.args[0], x, want_deriv)
        return f(v), (None if d is None else df(v) * d)
    a, da = _eval(node.left, x, want_deriv)
    b, db = _eval(node.right, x, want_deriv)
    op = node.op
    if isinstance(op, ast.Add):
        return a + b, _add(da, db)
    if isinstance(op, ast.Sub):
        return a - b, _add(da, None if db is None else -db)
    if isinstance(op, ast.Mult):
        return a * b, _add(None if da is None else da * b, None if db is None else a * db)
    if isinstance(op, ast.Div):
        return a / b, _add(None if da is None else da / b, None if db is None else -a * db / (b * b))
    value = np.power(a, b)
    da_term = None if da is None else b * np.power(a, b - 1) * da
    db_term = None if db is None else value * np.log(a) * db
    return value, _add(da_term, db_term)


def _add(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return a + b
