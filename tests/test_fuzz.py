"""Junk for every argument of every public function: a clear error or a right answer (issue 8).

For each argument of each function in ``xentref.__all__`` (the table `VALID` gives a valid call;
a missing function or argument fails `test_every_argument_is_fuzzed`), Hypothesis replaces that
one argument with junk while the others stay valid:

- `test_invalid_argument_is_refused`: things that are never valid for the argument's kind
  (strings, bytes, objects, dicts, ragged lists, complex numbers, masked arrays, datetimes,
  ints beyond int64 or float range, NaN and infinity where they are invalid, arrays where a
  scalar is expected, floats where an int is expected, ...). The call must raise TypeError or
  ValueError with the argument's name in backticks in the message.
- `test_numeric_junk_is_answered_or_refused`: numbers and numeric arrays of any shape and
  dtype, NaN and infinities included, that may or may not be valid. The call must return, or
  raise TypeError/ValueError whose message starts with the name of an argument (not always
  this one: ``axis=0`` can make `target` the wrong shape); nothing else (no IndexError,
  OverflowError, no RuntimeWarning: pytest turns warnings into errors).
"""

from __future__ import annotations

import datetime
import functools
import inspect
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import xentref as xr

_Z = [[2.0, 1.0, 0.1], [0.5, 2.5, -1.0]]
_P = [[0.5, 0.25, 0.25], [0.125, 0.75, 0.125]]


def _one_rank(a: Any, op: str) -> Any:
    """The collective of a world of one rank: the array itself."""
    return a


#: function -> (a valid call by keyword, {argument: kind})
VALID: dict[str, tuple[dict[str, Any], dict[str, str]]] = {
    "logsumexp": ({"x": _Z}, {"x": "data", "axis": "axis", "keepdims": "bool"}),
    "log_softmax": ({"x": _Z}, {"x": "data", "axis": "axis"}),
    "softmax": ({"x": _Z}, {"x": "data", "axis": "axis"}),
    "sigmoid": ({"x": _Z}, {"x": "data"}),
    "log_sigmoid": ({"x": _Z}, {"x": "data"}),
    "entropy": ({"p": _P}, {"p": "data", "axis": "axis", "base": "optional_real"}),
    "cross_entropy": ({"p": _P, "q": _P}, {"p": "data", "q": "data", "axis": "axis",
                                            "base": "optional_real"}),
    "kl_divergence": ({"p": _P, "q": _P}, {"p": "data", "q": "data", "axis": "axis",
                                            "base": "optional_real"}),
    "softmax_cross_entropy": (
        {"logits": _Z, "target": [0, 2]},
        {"logits": "data", "target": "target", "axis": "axis", "weight": "weight",
         "ignore_index": "int", "label_smoothing": "unit", "z_loss": "real",
         "softcap": "optional_real", "reduction": "reduction"},
    ),
    "softmax_cross_entropy_grad": (
        {"logits": _Z, "target": [0, 2]},
        {"logits": "data", "target": "target", "axis": "axis", "weight": "weight",
         "ignore_index": "int", "label_smoothing": "unit", "z_loss": "real",
         "softcap": "optional_real", "reduction": "reduction"},
    ),
    "binary_cross_entropy": (
        {"probs": [0.25, 0.5], "target": [0.0, 1.0]},
        {"probs": "data", "target": "data", "weight": "weight", "reduction": "reduction"},
    ),
    "binary_cross_entropy_with_logits": (
        {"logits": [0.25, -3.0], "target": [0.0, 1.0]},
        {"logits": "data", "target": "data", "weight": "weight", "pos_weight": "weight",
         "reduction": "reduction"},
    ),
    "binary_cross_entropy_with_logits_grad": (
        {"logits": [0.25, -3.0], "target": [0.0, 1.0]},
        {"logits": "data", "target": "data", "weight": "weight", "pos_weight": "weight",
         "reduction": "reduction"},
    ),
    "sigmoid_focal_loss": (
        {"logits": [0.25, -3.0], "target": [0.0, 1.0]},
        {"logits": "data", "target": "data", "alpha": "alpha", "gamma": "real",
         "reduction": "reduction"},
    ),
    "fit_temperature": (
        {"logits": [[2.0, 1.0, 0.1], [0.5, 2.5, -1.0], [1.0, 0.0, 0.5]], "target": [0, 1, 1]},
        {"logits": "data", "target": "target", "axis": "axis"},
    ),
    "expected_calibration_error": (
        {"probs": _P, "target": [0, 2]},
        {"probs": "data", "target": "target", "n_bins": "int"},
    ),
    "mean_denominator": (
        {"logits": _Z, "target": [0, 2], "weight": [0.5, 1.0, 2.0]},
        {"logits": "data", "target": "target", "axis": "axis", "weight": "weight",
         "ignore_index": "int"},
    ),
    **{
        name: (
            {"local_logits": _Z, "target": [0, 2], "vocab_start": 0, "vocab_size": 3,
             "all_reduce": _one_rank, "weight": [0.5, 1.0, 2.0], "label_smoothing": 0.125},
            {"local_logits": "data", "target": "target", "vocab_start": "int",
             "vocab_size": "int", "all_reduce": "collective", "weight": "weight",
             "ignore_index": "int", "label_smoothing": "unit", "reduction": "reduction"},
        )
        for name in ("vocab_parallel_cross_entropy", "vocab_parallel_cross_entropy_grad")
    },
    **{
        name: (
            {"hidden": [[1.0, 0.5], [0.0, -1.0]], "linear_weight": [[1.0, 0.0], [0.5, 2.0],
             [-1.0, 1.0]], "target": [0, 2]},
            {"hidden": "data", "linear_weight": "data", "target": "target",
             "linear_bias": "optional_data", "weight": "weight", "ignore_index": "int",
             "label_smoothing": "unit", "z_loss": "real", "softcap": "optional_real",
             "reduction": "reduction"},
        )
        for name in ("linear_cross_entropy", "linear_cross_entropy_grad")
    },
}  # fmt: skip

_PAIRS = [(f, arg) for f, (_, kinds) in VALID.items() for arg in kinds]


def test_every_argument_is_fuzzed() -> None:
    for name in xr.__all__:
        function = getattr(xr, name)
        if not callable(function):
            continue
        assert name in VALID, f"add {name} to tests/test_fuzz.py VALID"
        params = set(inspect.signature(function).parameters)
        assert params == set(VALID[name][1]), f"{name}: fuzz {params - set(VALID[name][1])}"


# --------------------------------------------------------------------------------------------
# Junk
# --------------------------------------------------------------------------------------------

_NEVER_ANYTHING = st.one_of(
    st.text(max_size=5),
    st.binary(max_size=5),
    st.builds(object),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
    st.sets(st.integers(), max_size=2),
    st.complex_numbers(),
    st.just(1 + 0j),
    st.just(np.datetime64("2026-12-01")),
    st.just(datetime.date(2026, 12, 1)),
    st.just([1.0, "a"]),
)
_RAGGED = st.one_of(
    st.just([[1.0, 2.0], [3.0]]),
    st.lists(st.lists(st.floats(0, 1), min_size=1, max_size=3), min_size=2, max_size=3).filter(
        lambda rows: len({len(r) for r in rows}) > 1
    ),
)
_HUGE_INT = st.one_of(
    st.integers(min_value=2**63, max_value=2**70),
    st.integers(max_value=-(2**63) - 1, min_value=-(2**70)),
    st.just(10**400),
    st.just(-(10**400)),
)
_BAD_ARRAYS = st.one_of(
    hnp.arrays(np.complex128, (2,)),
    st.just(np.array(["a", "b"])),
    st.just(np.array([np.datetime64("2026-12-01")] * 2)),
    st.just(np.array([object(), object()])),
    st.just(np.ma.masked_array([[1.0, 2.0, 3.0]] * 2, mask=[[0, 0, 1]] * 2)),
    st.just(np.array([10**400, 1], dtype=object)),
    _RAGGED,
)
_HUGE_FOR_FLOAT = st.one_of(  # beyond the largest float64, 1.8e308
    st.integers(min_value=2**1024, max_value=2**1100),
    st.integers(max_value=-(2**1024), min_value=-(2**1100)),
)
_ARRAY_FOR_SCALAR = st.one_of(
    st.just(np.array(0.5)), st.just(np.array([0.1, 0.2])), st.just([0.1]), st.just((1,))
)


def _returning(make: Any) -> Any:
    """A collective ``all_reduce(a, op)`` that returns ``make(a)`` instead of the reduction."""

    def all_reduce(a: Any, op: str) -> Any:
        return make(np.asarray(a))

    return all_reduce


#: collectives that never are valid: they return None, the wrong shape, or no real numbers
_BAD_COLLECTIVES = st.sampled_from(
    [
        lambda a: None,
        lambda a: np.zeros((*a.shape, 2)),
        lambda a: np.float64(0.0),
        lambda a: a.ravel()[:-1],
        lambda a: a.astype(str),
        lambda a: a.astype(np.complex128),
        lambda a: np.array([object()] * a.size, dtype=object).reshape(a.shape),
        lambda a: [[1.0, 2.0], [3.0]],
        lambda a: {"sum": a},
        lambda a: "sum",
        lambda a: np.datetime64("2026-12-01"),
        lambda a: np.ma.masked_array(a.astype(str)),
    ]
).map(_returning)


@functools.cache
def _invalid(kind: str) -> st.SearchStrategy[Any]:
    """Values that are never valid for an argument of this kind."""
    base = [_NEVER_ANYTHING]
    if kind == "collective":  # not callable, or a callable returning junk
        return st.one_of(*base, _BAD_ARRAYS, st.none(), st.integers(), _BAD_COLLECTIVES)
    if kind in ("data", "target"):
        return st.one_of(*base, _BAD_ARRAYS, st.none())
    if kind == "optional_data":  # linear_bias: None is valid
        return st.one_of(*base, _BAD_ARRAYS)
    if kind == "weight":
        nonfinite = hnp.arrays(np.float64, (3,), elements=st.sampled_from([np.nan, np.inf, -1.0]))
        return st.one_of(*base, _BAD_ARRAYS, nonfinite, st.just([0.5, np.nan]))
    if kind in ("axis", "int"):
        floats = st.floats(allow_nan=True) | st.just(1.0)
        return st.one_of(*base, _HUGE_INT, floats, st.booleans(), _ARRAY_FOR_SCALAR, st.none())
    if kind == "bool":
        return st.one_of(*base, st.integers(), st.floats(), _ARRAY_FOR_SCALAR, st.none())
    if kind == "reduction":
        unknown = st.text(max_size=6).filter(lambda s: s not in ("none", "mean", "sum"))
        return st.one_of(st.builds(object), st.integers(), st.none(), unknown, st.just("Mean"))
    # real scalar options: NaN, +inf and huge ints are invalid for all; -inf for all but alpha
    bad_real = [_HUGE_FOR_FLOAT, st.just(float("nan")), st.just(float("inf")), st.booleans()]
    if kind != "alpha":
        bad_real.append(st.just(-float("inf")))
    if kind != "optional_real":  # base=None, softcap=None are valid
        bad_real.append(st.none())
    return st.one_of(*base, *bad_real, _ARRAY_FOR_SCALAR)


_NUMERIC_DTYPES = st.sampled_from(
    [np.float16, np.float32, np.float64, np.longdouble, np.int8, np.int64, np.uint8, np.uint64,
     np.bool_, np.dtype(">f8"), np.dtype(">f2")]
)  # fmt: skip
_NUMERIC_ARRAYS = _NUMERIC_DTYPES.flatmap(
    lambda dtype: hnp.arrays(
        dtype, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3)
    )
)


@functools.cache
def _numeric(kind: str) -> st.SearchStrategy[Any]:
    """Numbers and numeric arrays of any shape, valid or not."""
    numbers = st.one_of(
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        st.floats(min_value=-2, max_value=2),
    )
    if kind in ("data", "optional_data", "target", "weight"):
        return st.one_of(numbers, _NUMERIC_ARRAYS, st.lists(numbers, max_size=4))
    if kind == "collective":  # numbers, or collectives returning numbers of any kind
        full = numbers.map(lambda v: lambda a: np.full(a.shape, v, dtype=object).astype(float))
        scaled = numbers.map(lambda v: lambda a: a * v)
        cast = _NUMERIC_DTYPES.map(lambda dtype: lambda a: a.astype(dtype))
        constant = _NUMERIC_ARRAYS.map(lambda b: lambda a: b)
        return st.one_of(numbers, st.one_of(full, scaled, cast, constant).map(_returning))
    return st.one_of(numbers, st.sampled_from([0, 1, -1, 2, -100, 0.5, 1e-300, 1e308]))


# --------------------------------------------------------------------------------------------
# The properties
# --------------------------------------------------------------------------------------------


def _call(function: str, arg: str, value: Any) -> Any:
    kwargs = dict(VALID[function][0])
    kwargs[arg] = value
    return getattr(xr, function)(**kwargs)


def _names(arg: str, exc: Exception) -> None:
    message = str(exc)
    assert f"`{arg}`" in message, f"message does not name `{arg}`: {message!r}"


@pytest.mark.parametrize(("function", "arg"), _PAIRS)
@given(data=st.data())
def test_invalid_argument_is_refused(function: str, arg: str, data: st.DataObject) -> None:
    value = data.draw(_invalid(VALID[function][1][arg]), label=arg)
    with pytest.raises((TypeError, ValueError)) as info:
        _call(function, arg, value)
    _names(arg, info.value)


@pytest.mark.parametrize(("function", "arg"), _PAIRS)
@given(data=st.data())
def test_numeric_junk_is_answered_or_refused(function: str, arg: str, data: st.DataObject) -> None:
    value = data.draw(_numeric(VALID[function][1][arg]), label=arg)
    message = None
    try:
        _call(function, arg, value)
    except (TypeError, ValueError) as exc:
        message = str(exc)
    if message is not None:
        # A valid value of one argument can make another one wrong (axis=0 for targets
        # shaped for axis=-1): the message must start with the name of the one it blames.
        blamed = message.split("`")[1] if message.startswith("`") else None
        assert blamed in VALID[function][1], f"message names no argument: {message}"
