"""Your own f from Python: `--f package.module:function` (and `f:` in specs).

The function is vectorised: it takes the n samples at once and returns n values,

    function(x) -> (n,)    x of shape (n, k), or (n,) when a sample is one number (k = 1)

and if the module also defines `<function>_grad` (same x, returning ∂f/∂x of shape (n, k), or
(n,) when k = 1) the pathwise, delta-control-variate, straight-through and Gumbel-softmax
estimators use it; without it they say they do not apply. Unlike the built-in functions, f is a
function of the whole sample x (not Σ_k f(x_k)). x is passed read-only.

How `module:function` is told apart from the built-in `name:arg` forms: the text must be
`MODULE:FUNCTION` with both parts identifiers (MODULE may be dotted). A built-in name before the
colon (`step:0.5`, `cos:2`, `table:1,0,3`) is the built-in, whose argument is a number; a
built-in name followed by an identifier (`step:myfn`) is ambiguous and an error — put the module
in a package or rename it. Which modules may be named, and from where, is pgcli.base.usercode's
rule: your own files beside the spec (or typed on the command line: in the working directory).

Errors: a module that does not import or has no such callable is bad input (FunctionError); a
value of the wrong shape or dtype is a FunctionError naming both ("f returned shape (n, 2),
expected (n,)"); an exception raised inside your code propagates unchanged, so a run ends
`failed` with your traceback in error.txt.
"""

from __future__ import annotations

import inspect

import numpy as np

from pgcli.base import usercode
from pgcli.lab.functions import Fn, FunctionError, parse_function, references

GRAD_SUFFIX = "_grad"


def load(text: str) -> Fn:
    """The Fn of `module:function` (its value, and its derivative when `function_grad` exists).

    The module must have been found in a trusted directory and admitted (pgcli.base.usercode:
    the shell does it before anything runs); a module that fails to import, or lacks the
    function, is a FunctionError with one line."""
    module_name, _, attr = text.strip().partition(":")
    try:
        module = usercode.load_module(text, "f")
    except usercode.UserCodeError as err:
        raise FunctionError(str(err)) from None
    function = getattr(module, attr, None)
    if not callable(function):
        raise FunctionError(f"module {module_name!r} has no callable {attr!r} (f {text!r})")
    return from_callable(function, getattr(module, attr + GRAD_SUFFIX, None), f"{module_name}:{attr}")


def from_callable(function, grad=None, label: str | None = None) -> Fn:
    """The Fn of a vectorised Python callable (and its optional gradient), as for module:function."""
    if not callable(function):
        raise FunctionError(f"f must be callable or text, got {type(function).__name__}")
    if grad is not None and not callable(grad):
        raise FunctionError(f"f's gradient must be callable, got {type(grad).__name__}")
    if inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function):
        raise FunctionError("f is an async function; pgcli calls f directly (define it with def, not async def)")
    label = label or f"{getattr(function, '__module__', None) or 'python'}:{getattr(function, '__qualname__', 'f')}"
    grad_name = f"{label.partition(':')[2]}{GRAD_SUFFIX}"

    def value(x):
        return _checked(function(_argument(x)), x, (x.shape[0],), "f")[:, None]

    def deriv(x):
        return _checked(grad(_argument(x)), x, x.shape, grad_name).reshape(x.shape)

    return Fn(label, "python", None, value, deriv if grad is not None else None, (), separable=False)


def to_function(f) -> Fn:
    """An Fn from text (built-in, expression, module:function), a callable, or an Fn."""
    if isinstance(f, Fn):
        return f
    if callable(f):
        return from_callable(f)
    return load(f) if references(f) else parse_function(f)


def _argument(x):
    """x (n, k) as the user sees it: (n,) when k = 1, read-only either way."""
    view = x[:, 0] if x.shape[1] == 1 else x.view()
    view.flags.writeable = False
    return view


def _checked(out, x, expected, what):
    """out as float64 of the expected shape ((n,), or (n, k) / (n,) for a gradient), or a
    FunctionError naming the shape or dtype found and the one expected."""
    out = np.asarray(out)
    n = x.shape[0]
    allowed = {expected, (n,)} if expected == (n, 1) else {expected}
    if out.shape not in allowed:
        raise FunctionError(f"{what} returned shape {_shape(out.shape, n)}, expected {_shape(expected, n)}")
    if out.dtype.kind not in "biuf":
        raise FunctionError(f"{what} returned dtype {out.dtype}, expected real numbers (float)")
    return out.astype(float, copy=False)


def _shape(shape, n):
    """(100, 2) -> '(n, 2)' when n = 100: the shape in the documentation's letters."""
    parts = ["n" if i == 0 and size == n else str(size) for i, size in enumerate(shape)]
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


def probe(f: Fn, x) -> None:
    """Call a user's f (and its gradient) once on a few samples x before anything runs: a wrong
    shape or dtype is bad input now; an exception inside user code is left for the run itself,
    which reports it as failed with the traceback."""
    if f.name != "python":
        return
    try:
        f.value(x)
        if f.deriv is not None:
            f.deriv(x)
    except FunctionError:
        raise
    except Exception:  # the user's own error: the run will hit it and record it
        return
