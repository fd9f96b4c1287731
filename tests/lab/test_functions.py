"""Named functions, the safe expression parser, and a hypothesis fuzz of the parser."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pgcli.lab.functions import EXPR_FUNCS, FunctionError, parse_function

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the oracle overflows too

X = np.linspace(-2.0, 2.0, 41)[:, None]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("linear", X),
        ("square", X**2),
        ("cos:3", np.cos(3 * X)),
        ("abs", np.abs(X)),
        ("step:0.5", (X > 0.5).astype(float)),
        ("sigmoid", 1 / (1 + np.exp(-X))),
        ("x**2 + sin(3*x)", X**2 + np.sin(3 * X)),
        ("-x/2 + pi*e", -X / 2 + np.pi * np.e),
        ("2**x - exp(-x**2)", 2**X - np.exp(-(X**2))),
    ],
)
def test_values(text, expected):
    np.testing.assert_allclose(parse_function(text).value(X), expected)


@pytest.mark.parametrize(
    "text",
    [
        "square",
        "cos:3",
        "sigmoid:2",
        "x**2 + sin(3*x)",
        "tanh(x)/(1 + x**2)",
        "exp(sin(x))*x**3",
        "sqrt(x**2 + 1)",
    ],
)
def test_derivatives_match_finite_differences(text):
    f = parse_function(text)
    h = 1e-6
    numeric = (f.value(X + h) - f.value(X - h)) / (2 * h)
    np.testing.assert_allclose(f.deriv(X), numeric, rtol=1e-6, atol=1e-6)


def test_step_has_zero_derivative_almost_everywhere():
    assert np.all(parse_function("step").deriv(X) == 0)


def test_table_maps_categories():
    f = parse_function("table:1,0,3")
    np.testing.assert_array_equal(f.value(np.array([[0.0], [2.0], [1.0]])), [[1], [3], [0]])
    assert f.deriv is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("__import__('os')", "not allowed"),
        ("x.__class__", "Attribute not allowed"),
        ("open('f')", "call to 'open' not allowed"),
        ("np.sin(x)", "not allowed"),
        ("y + 1", "unknown name 'y'"),
        ("x +", "malformed expression"),
        ("x < 1", "Compare not allowed"),
        ("[x]", "List not allowed"),
        ("lambda: 1", "Lambda not allowed"),
        ("sin(x, 2)", "exactly one argument"),
        ("x // 2", "FloorDiv not allowed"),
        ("'text'", "numeric constants"),
        ("foo:1", "unknown function 'foo'"),
        ("step:abc", "its argument is a number"),  # or a module:function: ambiguous
        ("square:2", "takes no argument"),
        ("table:", "table needs values"),
        ("", "non-empty"),
        ("x" + "+x" * 300, "longer than"),
    ],
)
def test_forbidden_and_malformed_text_is_rejected(text, message):
    with pytest.raises(FunctionError, match=message):
        parse_function(text)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="x+-*/()., 0123456789eE_abcdefghijklmnopqrstuvwxyz[]:'\"", max_size=40))
def test_parser_never_fails_except_with_function_error(text):
    try:
        f = parse_function(text)
    except FunctionError:
        return
    value = f.value(X)
    assert value.shape == X.shape


LEAVES = st.sampled_from([("x", X), ("2", 2.0), ("0.5", 0.5), ("pi", np.pi)])
OPS = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide}


def _trees(children):
    """(text, value) pairs built together, so the oracle never parses the text."""
    binary = st.tuples(children, st.sampled_from(sorted(OPS)), children).map(
        lambda t: (f"({t[0][0]} {t[1]} {t[2][0]})", OPS[t[1]](t[0][1], t[2][1]))
    )
    call = st.tuples(st.sampled_from(sorted(EXPR_FUNCS)), children).map(
        lambda t: (f"{t[0]}({t[1][0]})", EXPR_FUNCS[t[0]][0](t[1][1]))
    )
    return binary | call


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(st.recursive(LEAVES, _trees, max_leaves=8))
def test_valid_expressions_evaluate_like_numpy(pair):
    """The tree walker agrees with the same tree evaluated directly with numpy."""
    with np.errstate(all="ignore"):
        text, expected = pair
        value = parse_function(text).value(X)
    np.testing.assert_allclose(value, np.broadcast_to(expected, X.shape), equal_nan=True)


def test_labels_keep_the_argument_exactly():
    assert parse_function("step:0.123456789").label == "step:0.123456789"
    assert parse_function("cos:3").label == "cos:3"
    assert parse_function("table:1,0.25,3").label == "table:1,0.25,3"
