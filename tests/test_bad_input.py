"""Bad input to every public function: the exception type, and a message naming the argument.

The contract: TypeError for the wrong kind of argument (None, strings, objects, complex, a
non-int axis), ValueError for a wrong value or shape; every message starts with the argument's
name in backticks and says what was expected and what came instead. NaN is not bad input: it
propagates to the output, without an exception or a warning. No IndexError may leak.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import xentref as xr

# --------------------------------------------------------------------------------------------
# One valid call per public function; each test spoils one argument of it.
# --------------------------------------------------------------------------------------------

_LOGITS = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]])  # (N, C) = (2, 3)
_INDEX = np.array([0, 1])
_SOFT = np.array([[0.7, 0.2, 0.1], [0.0, 1.0, 0.0]])
_P, _Q = np.array([0.2, 0.3, 0.5]), np.array([0.1, 0.6, 0.3])
_BINARY_PROBS = np.array([[0.9, 0.2, 0.5], [0.1, 0.5, 1.0]])
_BINARY_TARGET = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 1.0]])
_CLASS_WEIGHT = np.array([1.0, 2.0, 3.0])
# Temperature scaling needs a finite optimum: one target (the last) is not the argmax.
_CAL_LOGITS = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3], [1.5, 0.2, 1.0]])
_CAL_TARGET = np.array([0, 1, 2])

_VALID: dict[str, dict[str, Any]] = {
    "logsumexp": {"x": _LOGITS},
    "softmax": {"x": _LOGITS},
    "log_softmax": {"x": _LOGITS},
    "sigmoid": {"x": _LOGITS},
    "log_sigmoid": {"x": _LOGITS},
    "entropy": {"p": _P},
    "cross_entropy": {"p": _P, "q": _Q},
    "kl_divergence": {"p": _P, "q": _Q},
    "softmax_cross_entropy": {"logits": _LOGITS, "target": _INDEX},
    "softmax_cross_entropy_grad": {"logits": _LOGITS, "target": _INDEX},
    "binary_cross_entropy": {"probs": _BINARY_PROBS, "target": _BINARY_TARGET},
    "binary_cross_entropy_with_logits": {"logits": _LOGITS, "target": _BINARY_TARGET},
    "binary_cross_entropy_with_logits_grad": {"logits": _LOGITS, "target": _BINARY_TARGET},
    "sigmoid_focal_loss": {"logits": _LOGITS, "target": _BINARY_TARGET},
    "fit_temperature": {"logits": _CAL_LOGITS, "target": _CAL_TARGET},
    "expected_calibration_error": {"probs": _SOFT, "target": _INDEX},
}
_FUNCTIONS = list(_VALID)
_SOFTMAX_CE = ["softmax_cross_entropy", "softmax_cross_entropy_grad"]
_BCE_LOGITS = ["binary_cross_entropy_with_logits", "binary_cross_entropy_with_logits_grad"]
_WITH_REDUCTION = [*_SOFTMAX_CE, "binary_cross_entropy", *_BCE_LOGITS, "sigmoid_focal_loss"]
_WITH_AXIS = [
    "logsumexp", "softmax", "log_softmax", "entropy", "cross_entropy", "kl_divergence",
    *_SOFTMAX_CE, "fit_temperature",
]  # fmt: skip
# Optional array options, with a valid value.
_OPTIONAL_ARRAYS: list[tuple[str, str, Any]] = [
    *[(f, "weight", _CLASS_WEIGHT) for f in _SOFTMAX_CE],
    ("binary_cross_entropy", "weight", _BINARY_TARGET),
    *[(f, "weight", _BINARY_TARGET) for f in _BCE_LOGITS],
    *[(f, "pos_weight", _CLASS_WEIGHT) for f in _BCE_LOGITS],
]


def _call(name: str, **changes: Any) -> Any:
    """Call the public function `name` with its valid arguments, some of them changed."""
    return getattr(xr, name)(**{**_VALID[name], **changes})


def _named(name: str, *phrases: str) -> str:
    """A `match=` pattern: the message starts with `name` in backticks, then each phrase in turn."""
    return "^`" + re.escape(name) + "`" + "".join(".*" + re.escape(p) for p in phrases)


@pytest.mark.parametrize("function", _FUNCTIONS)
def test_valid_call_succeeds(function: str) -> None:
    """The reference calls in `_VALID` succeed, so each error below is due to the one change."""
    result = np.asarray(_call(function))
    assert np.all(np.isfinite(result))


# --------------------------------------------------------------------------------------------
# Wrong kind of array: None, strings, objects, complex (every function, every array argument)
# --------------------------------------------------------------------------------------------

_REQUIRED_ARRAYS = [(f, arg) for f, kwargs in _VALID.items() for arg in kwargs]
_ALL_ARRAYS = [*_REQUIRED_ARRAYS, *[(f, a) for f, a, _ in _OPTIONAL_ARRAYS]]


def _valid_value(function: str, arg: str) -> Any:
    if arg in _VALID[function]:
        return _VALID[function][arg]
    return next(v for f, a, v in _OPTIONAL_ARRAYS if (f, a) == (function, arg))


@pytest.mark.parametrize(("function", "arg"), _REQUIRED_ARRAYS)
def test_required_array_rejects_none(function: str, arg: str) -> None:
    with pytest.raises(TypeError, match=_named(arg, "got None")):
        _call(function, **{arg: None})


@pytest.mark.parametrize(("function", "arg"), _ALL_ARRAYS)
@pytest.mark.parametrize(
    ("kind", "phrase"),
    [
        ("strings", "dtype <U"),
        ("bytes", "dtype |S"),
        ("objects", "dtype object"),
        ("complex", "complex"),
    ],
)
def test_array_rejects_non_real_dtype(function: str, arg: str, kind: str, phrase: str) -> None:
    valid = np.asarray(_valid_value(function, arg))
    bad = {
        "strings": np.full(valid.shape, "a"),
        "bytes": np.full(valid.shape, b"a"),
        "objects": valid.astype(object),
        "complex": valid.astype(np.complex128),
    }[kind]
    with pytest.raises(TypeError, match=_named(arg, phrase)):
        _call(function, **{arg: bad})


@pytest.mark.parametrize(("function", "arg"), _REQUIRED_ARRAYS)
def test_array_rejects_ragged_list(function: str, arg: str) -> None:
    with pytest.raises(ValueError, match=_named(arg, "rectangular")):
        _call(function, **{arg: [[0.5, 0.5], [1.0]]})


# --------------------------------------------------------------------------------------------
# Options shared by several functions: reduction, axis
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("function", _WITH_REDUCTION)
@pytest.mark.parametrize("reduction", ["avg", "Mean", "batchmean", "", None, 0])
def test_reduction_unknown_lists_valid_values(function: str, reduction: Any) -> None:
    with pytest.raises(ValueError, match=_named("reduction", "one of 'none', 'mean', 'sum', got")):
        _call(function, reduction=reduction)


@pytest.mark.parametrize("function", _WITH_AXIS)
@pytest.mark.parametrize("axis", [2, -3, 100])
def test_axis_out_of_range(function: str, axis: int) -> None:
    with pytest.raises(ValueError, match=_named("axis", str(axis), "out of range")):
        _call(function, axis=axis)


@pytest.mark.parametrize("function", _WITH_AXIS)
@pytest.mark.parametrize("axis", [1.0, "1", None, True, (0, 1)])
def test_axis_not_an_int(function: str, axis: Any) -> None:
    with pytest.raises(TypeError, match=_named("axis", "must be an int")):
        _call(function, axis=axis)


@pytest.mark.parametrize("function", _WITH_AXIS)
def test_axis_numpy_integer_accepted(function: str) -> None:
    np.testing.assert_allclose(_call(function, axis=np.int64(-1)), _call(function), rtol=0, atol=0)


# --------------------------------------------------------------------------------------------
# Stable primitives
# --------------------------------------------------------------------------------------------

_CLASS_AXIS_PRIMITIVES = ["logsumexp", "softmax", "log_softmax"]
_ELEMENTWISE = ["sigmoid", "log_sigmoid"]


@pytest.mark.parametrize("function", _CLASS_AXIS_PRIMITIVES)
def test_class_axis_primitive_rejects_scalar(function: str) -> None:
    with pytest.raises(ValueError, match=_named("x", "at least one dimension")):
        _call(function, x=1.5)


@pytest.mark.parametrize("function", _CLASS_AXIS_PRIMITIVES)
@pytest.mark.parametrize("shape", [(0,), (2, 0)])
def test_class_axis_primitive_rejects_no_classes(function: str, shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=_named("x", "at least one class", str(shape))):
        _call(function, x=np.zeros(shape))


@pytest.mark.parametrize("function", _CLASS_AXIS_PRIMITIVES)
def test_class_axis_primitive_empty_batch(function: str) -> None:
    out = _call(function, x=np.zeros((0, 3)))
    expected_shape = (0,) if function == "logsumexp" else (0, 3)
    assert out.shape == expected_shape


@pytest.mark.parametrize("function", _ELEMENTWISE)
def test_elementwise_primitive_empty_and_scalar(function: str) -> None:
    assert _call(function, x=np.zeros((0, 3))).shape == (0, 3)
    assert np.ndim(_call(function, x=0.0)) == 0


@pytest.mark.parametrize("function", _CLASS_AXIS_PRIMITIVES + _ELEMENTWISE)
def test_primitive_nan_propagates(function: str) -> None:
    x = np.array([[np.nan, 1.0, 2.0], [0.0, 1.0, 2.0]])
    out = _call(function, x=x)
    if function in _ELEMENTWISE:  # only the NaN element itself
        np.testing.assert_array_equal(np.isnan(out), np.isnan(x))
    else:  # the whole slice along the class axis
        assert np.all(np.isnan(out[0]))
        assert np.all(np.isfinite(out[1]))


# --------------------------------------------------------------------------------------------
# entropy, cross_entropy, kl_divergence
# --------------------------------------------------------------------------------------------

_INFORMATION = ["entropy", "cross_entropy", "kl_divergence"]
_INFORMATION_ARGS = [("entropy", "p")] + [(f, a) for f in _INFORMATION[1:] for a in ("p", "q")]


@pytest.mark.parametrize(("function", "arg"), _INFORMATION_ARGS)
@pytest.mark.parametrize(
    ("bad", "phrase"),
    [
        ([-0.1, 0.6, 0.5], "non-negative"),
        ([np.inf, 0.0, 0.0], "non-negative and finite"),
        ([0.2, 0.3, 0.4], "sum to 1"),
        ([0.4, 0.4, 0.4], "sum to 1"),
        ([0.0, 0.0, 0.0], "sum to 1"),
        ([[0.2, 0.3, 0.5], [0.5, 0.5, 0.5]], "sum to 1"),
    ],
)
def test_information_not_a_distribution(function: str, arg: str, bad: Any, phrase: str) -> None:
    with pytest.raises(ValueError, match=_named(arg, phrase)):
        _call(function, **{arg: bad})


@pytest.mark.parametrize(("function", "arg"), _INFORMATION_ARGS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_information_sum_tolerance_is_sqrt_eps(function: str, arg: str, dtype: Any) -> None:
    """The documented tolerance on |sum - 1| is sqrt(eps): half of it passes, twice fails."""
    tol = np.sqrt(np.finfo(dtype).eps)
    inside = np.array([0.5, 0.5 + tol / 2], dtype=dtype)
    outside = np.array([0.5, 0.5 + 2 * tol], dtype=dtype)
    other = np.array([0.5, 0.5], dtype=dtype)
    valid = {"p": other, "q": other} if function != "entropy" else {"p": other}
    assert np.isfinite(getattr(xr, function)(**{**valid, arg: inside}))
    with pytest.raises(ValueError, match=_named(arg, "sum to 1")):
        getattr(xr, function)(**{**valid, arg: outside})


@pytest.mark.parametrize("function", ["cross_entropy", "kl_divergence"])
@pytest.mark.parametrize(("p_shape", "q_shape"), [((3,), (4,)), ((2, 3), (3, 3)), ((2, 3), (2, 2))])
def test_information_shape_mismatch_names_both_shapes(
    function: str, p_shape: tuple[int, ...], q_shape: tuple[int, ...]
) -> None:
    p = np.full(p_shape, 1 / p_shape[-1])
    q = np.full(q_shape, 1 / q_shape[-1])
    with pytest.raises(ValueError, match=_named("q", str(p_shape), str(q_shape))):
        getattr(xr, function)(p, q)


@pytest.mark.parametrize("function", _INFORMATION)
@pytest.mark.parametrize("base", [0, 0.0, -2.0, 1, 1.0, np.inf, np.nan])
def test_information_base_invalid(function: str, base: Any) -> None:
    with pytest.raises(ValueError, match=_named("base")):
        _call(function, base=base)


@pytest.mark.parametrize("function", _INFORMATION)
@pytest.mark.parametrize("base", ["2", [2.0], 1j])
def test_information_base_not_a_number(function: str, base: Any) -> None:
    with pytest.raises(TypeError, match=_named("base", "real number")):
        _call(function, base=base)


@pytest.mark.parametrize("function", _INFORMATION)
def test_information_rejects_scalar(function: str) -> None:
    with pytest.raises(ValueError, match=_named("p", "at least one dimension")):
        _call(function, **dict.fromkeys(_VALID[function], 1.0))


@pytest.mark.parametrize("function", _INFORMATION)
def test_information_empty_batch(function: str) -> None:
    empty = np.zeros((0, 3))
    assert _call(function, **dict.fromkeys(_VALID[function], empty)).shape == (0,)


@pytest.mark.parametrize("function", _INFORMATION)
def test_information_nan_propagates(function: str) -> None:
    bad = np.array([[np.nan, 0.5, 0.5], [0.2, 0.3, 0.5]])
    out = _call(function, **dict.fromkeys(_VALID[function], bad))
    assert np.isnan(out[0])
    assert np.isfinite(out[1])


# --------------------------------------------------------------------------------------------
# softmax_cross_entropy and softmax_cross_entropy_grad
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("function", _SOFTMAX_CE)
@pytest.mark.parametrize(
    ("logits_shape", "target_shape", "axis"),
    [
        ((2, 3), (3,), -1),
        ((2, 3), (2, 1), -1),
        ((2, 3), (2, 3, 1), -1),
        ((2, 3), (), -1),
        ((2, 3, 4), (2, 3), 1),
        ((2, 3, 4), (3, 4), 1),
        ((2, 3, 4), (2, 4, 3), 1),
        ((3,), (1,), -1),
    ],
)
def test_softmax_cross_entropy_target_shape_mismatch(
    function: str, logits_shape: tuple[int, ...], target_shape: tuple[int, ...], axis: int
) -> None:
    target = np.zeros(target_shape, dtype=np.int64)
    with pytest.raises(ValueError, match=_named("target", str(target_shape))) as info:
        getattr(xr, function)(np.zeros(logits_shape), target, axis=axis)
    assert str(logits_shape) in str(info.value)


@pytest.mark.parametrize("function", _SOFTMAX_CE)
@pytest.mark.parametrize("target_shape", [(2, 2), (2, 4), (3, 3), (2, 3, 1), (1, 3)])
def test_softmax_cross_entropy_soft_target_wrong_shape(
    function: str, target_shape: tuple[int, ...]
) -> None:
    """Probability targets must have the logits' shape (2, 3); both shapes are named."""
    target = np.full(target_shape, 1 / target_shape[-1])
    with pytest.raises(ValueError, match=_named("target", "(2, 3)", f"got {target_shape}")):
        _call(function, target=target)


@pytest.mark.parametrize("function", _SOFTMAX_CE)
@pytest.mark.parametrize(
    ("bad_target", "value", "where"),
    [
        ([0, 3], "3", "(1,)"),
        ([7, 0], "7", "(0,)"),
        ([0, -1], "-1", "(1,)"),
        ([-101, 0], "-101", "(0,)"),
    ],
)
def test_softmax_cross_entropy_target_out_of_range(
    function: str, bad_target: list[int], value: str, where: str
) -> None:
    with pytest.raises(ValueError, match=_named("target", "[0, 3)", value, where)):
        _call(function, target=np.array(bad_target))


@pytest.mark.parametrize("function", _SOFTMAX_CE)
@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.uint8, np.int64, np.float32, np.float64])
def test_softmax_cross_entropy_index_dtypes_accepted(function: str, dtype: Any) -> None:
    """Any integer dtype, and floats holding whole numbers, are class indices."""
    np.testing.assert_allclose(
        _call(function, target=_INDEX.astype(dtype)), _call(function), rtol=0, atol=0
    )


@pytest.mark.parametrize("function", _SOFTMAX_CE)
@pytest.mark.parametrize(
    ("bad_target", "phrase"),
    [([0.5, 1.0], "0.5"), ([0.0, 1.25], "1.25"), ([np.nan, 1.0], "nan"), ([np.inf, 1.0], "inf")],
)
def test_softmax_cross_entropy_index_not_whole(
    function: str, bad_target: list[float], phrase: str
) -> None:
    with pytest.raises(ValueError, match=_named("target", "whole numbers", phrase)):
        _call(function, target=np.array(bad_target))


@pytest.mark.parametrize("function", _SOFTMAX_CE)
def test_softmax_cross_entropy_ignore_index_accepted(function: str) -> None:
    out = _call(function, target=np.array([0, -100]), reduction="none")
    np.testing.assert_allclose(out[1], 0.0, rtol=0, atol=0)


@pytest.mark.parametrize("function", _SOFTMAX_CE)
@pytest.mark.parametrize("ignore_index", [1.5, "x", None, np.float64(-100.0)])
def test_softmax_cross_entropy_ignore_index_not_an_int(function: str, ignore_index: Any) -> None:
    with pytest.raises(TypeError, match=_named("ignore_index", "int")):
        _call(function, ignore_index=ignore_index)


@pytest.mark.parametrize("function", _SOFTMAX_CE)
@pytest.mark.parametrize(
    ("bad_soft", "phrase"),
    [
        ([[0.7, 0.4, -0.1], [0.0, 1.0, 0.0]], "non-negative"),
        ([[0.7, 0.2, 0.1], [0.0, np.inf, 0.0]], "non-negative"),
        ([[0.7, 0.2, 0.2], [0.0, 1.0, 0.0]], "sum to 1"),
        ([[0.7, 0.2, 0.1], [0.0, 0.0, 0.0]], "sum to 1"),
        ([[1.4, 0.4, 0.2], [0.0, 2.0, 0.0]], "sum to 1"),
    ],
)
def test_softmax_cross_entropy_soft_target_invalid(
    function: str, bad_soft: Any, phrase: str
) -> None:
    with pytest.raises(ValueError, match=_named("target", phrase)):
        _call(function, target=np.array(bad_soft))


@pytest.mark.parametrize("function", _SOFTMAX_CE)
@pytest.mark.parametrize("ignore_index", [0, 2])
def test_softmax_cross_entropy_soft_target_rejects_ignore_index(
    function: str, ignore_index: int
) -> None:
    """As in PyTorch, a non-negative ignore_index makes no sense for probability targets."""
    with pytest.raises(ValueError, match=_named("ignore_index")):
        _call(function, target=_SOFT, ignore_index=ignore_index)


@pytest.mark.parametrize("function", _SOFTMAX_CE)
@pytest.mark.parametrize("shape", [(2,), (4,), (1, 3), (3, 1), ()])
def test_softmax_cross_entropy_weight_wrong_shape(function: str, shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=_named("weight", "(3,)", str(shape))):
        _call(function, weight=np.ones(shape))


@pytest.mark.parametrize("function", _SOFTMAX_CE)
@pytest.mark.parametrize("bad", [[1.0, -0.5, 1.0], [1.0, np.inf, 1.0], [-np.inf, 1.0, 1.0]])
def test_softmax_cross_entropy_weight_negative_or_infinite(function: str, bad: list[float]) -> None:
    with pytest.raises(ValueError, match=_named("weight", "non-negative")):
        _call(function, weight=np.array(bad))


@pytest.mark.parametrize("function", _SOFTMAX_CE)
@pytest.mark.parametrize("label_smoothing", [-0.1, 1.0 + 1e-12, 2.0, np.nan, np.inf, -np.inf])
def test_softmax_cross_entropy_label_smoothing_out_of_range(
    function: str, label_smoothing: float
) -> None:
    with pytest.raises(ValueError, match=_named("label_smoothing", "[0, 1]")):
        _call(function, label_smoothing=label_smoothing)


@pytest.mark.parametrize("function", _SOFTMAX_CE)
@pytest.mark.parametrize("label_smoothing", ["0.1", None, [0.1], True, 0.1j])
def test_softmax_cross_entropy_label_smoothing_not_a_number(
    function: str, label_smoothing: Any
) -> None:
    with pytest.raises(TypeError, match=_named("label_smoothing", "real number")):
        _call(function, label_smoothing=label_smoothing)


@pytest.mark.parametrize("function", _SOFTMAX_CE)
@pytest.mark.parametrize("label_smoothing", [0, 0.0, 1, 1.0, np.float32(0.5)])
def test_softmax_cross_entropy_label_smoothing_bounds_accepted(
    function: str, label_smoothing: Any
) -> None:
    assert np.all(np.isfinite(_call(function, label_smoothing=label_smoothing)))


@pytest.mark.parametrize("function", _SOFTMAX_CE)
def test_softmax_cross_entropy_rejects_scalar_logits(function: str) -> None:
    with pytest.raises(ValueError, match=_named("logits", "at least one dimension")):
        _call(function, logits=1.0, target=np.array(0))


@pytest.mark.parametrize("function", _SOFTMAX_CE)
def test_softmax_cross_entropy_rejects_no_classes(function: str) -> None:
    with pytest.raises(ValueError, match=_named("logits", "at least one class")):
        _call(function, logits=np.zeros((2, 0)))


@pytest.mark.parametrize("function", _SOFTMAX_CE)
@pytest.mark.parametrize("soft", [False, True])
def test_softmax_cross_entropy_empty_batch(function: str, soft: bool) -> None:
    """An empty batch is valid: 'none' gives an empty array, 'sum' 0 and 'mean' NaN (as PyTorch)."""
    logits = np.zeros((0, 3))
    target = np.zeros((0, 3)) if soft else np.zeros((0,), dtype=np.int64)
    none = getattr(xr, function)(logits, target, reduction="none")
    assert none.shape == ((0, 3) if function.endswith("grad") else (0,))
    total = getattr(xr, function)(logits, target, reduction="sum")
    mean = getattr(xr, function)(logits, target, reduction="mean")
    if function.endswith("grad"):
        assert total.shape == mean.shape == (0, 3)
    else:
        np.testing.assert_allclose(total, 0.0, rtol=0, atol=0)
        assert np.isnan(mean)


@pytest.mark.parametrize("function", _SOFTMAX_CE)
def test_softmax_cross_entropy_all_ignored_mean_is_nan(function: str) -> None:
    """Every target ignored: the mean over nothing is NaN, the gradient is zero (as PyTorch)."""
    out = _call(function, target=np.array([-100, -100]), reduction="mean")
    if function.endswith("grad"):
        np.testing.assert_allclose(out, 0.0, rtol=0, atol=0)
    else:
        assert np.isnan(out)


@pytest.mark.parametrize("function", _SOFTMAX_CE)
@pytest.mark.parametrize("soft", [False, True])
def test_softmax_cross_entropy_nan_logit_propagates(function: str, soft: bool) -> None:
    logits = _LOGITS.copy()
    logits[0, 1] = np.nan
    target = _SOFT if soft else _INDEX
    out = _call(function, logits=logits, target=target, reduction="none")
    assert np.all(np.isnan(out[0]))
    assert np.all(np.isfinite(out[1]))
    assert np.isnan(np.sum(_call(function, logits=logits, target=target, reduction="mean")))


@pytest.mark.parametrize("function", _SOFTMAX_CE)
def test_softmax_cross_entropy_nan_soft_target_propagates(function: str) -> None:
    target = _SOFT.copy()
    target[0, 0] = np.nan
    out = _call(function, target=target, reduction="none")
    assert np.all(np.isnan(out[0]))
    assert np.all(np.isfinite(out[1]))


@pytest.mark.parametrize("function", _SOFTMAX_CE)
def test_softmax_cross_entropy_nan_weight_rejected(function: str) -> None:
    # A weight configures the loss: NaN there is an error, not data (issue 8, defect 6).
    with pytest.raises(ValueError, match=r"^`weight` must be non-negative and finite, got nan"):
        _call(function, weight=np.array([np.nan, 1.0, 1.0]), reduction="none")


# --------------------------------------------------------------------------------------------
# binary_cross_entropy, binary_cross_entropy_with_logits (+ grad), sigmoid_focal_loss
# --------------------------------------------------------------------------------------------

_BINARY = ["binary_cross_entropy", *_BCE_LOGITS, "sigmoid_focal_loss"]
_BINARY_WEIGHT_ARGS = [
    ("binary_cross_entropy", "weight"),
    *[(f, a) for f in _BCE_LOGITS for a in ("weight", "pos_weight")],
]


def _first_arg(function: str) -> str:
    return "probs" if function == "binary_cross_entropy" else "logits"


@pytest.mark.parametrize("function", _BINARY)
@pytest.mark.parametrize("target_shape", [(2,), (3,), (3, 2), (2, 3, 1), (1, 3), ()])
def test_binary_target_shape_mismatch(function: str, target_shape: tuple[int, ...]) -> None:
    """Targets must have the input's shape (2, 3) exactly; both shapes are named."""
    with pytest.raises(ValueError, match=_named("target", str(target_shape))) as info:
        _call(function, target=np.zeros(target_shape))
    assert "(2, 3)" in str(info.value)


@pytest.mark.parametrize("function", _BINARY)
@pytest.mark.parametrize(("bad", "shown"), [(1.5, "1.5"), (-0.25, "-0.25"), (np.inf, "inf")])
def test_binary_target_outside_unit_interval(function: str, bad: float, shown: str) -> None:
    target = _BINARY_TARGET.copy()
    target[1, 2] = bad
    with pytest.raises(ValueError, match=_named("target", "[0, 1]", shown, "(1, 2)")):
        _call(function, target=target)


@pytest.mark.parametrize(("bad", "shown"), [(1.5, "1.5"), (-1e-300, "-1e-300"), (-np.inf, "-inf")])
def test_binary_cross_entropy_probs_outside_unit_interval(bad: float, shown: str) -> None:
    probs = _BINARY_PROBS.copy()
    probs[0, 1] = bad
    with pytest.raises(ValueError, match=_named("probs", "[0, 1]", shown, "(0, 1)")):
        _call("binary_cross_entropy", probs=probs)


@pytest.mark.parametrize(("function", "arg"), _BINARY_WEIGHT_ARGS)
@pytest.mark.parametrize("shape", [(2,), (4,), (2, 1, 1), (3, 3), (2, 2)])
def test_binary_weight_does_not_broadcast(function: str, arg: str, shape: tuple[int, ...]) -> None:
    """weight and pos_weight broadcast to the input's shape (2, 3), never beyond it."""
    with pytest.raises(ValueError, match=_named(arg, str(shape), "broadcast", "(2, 3)")):
        _call(function, **{arg: np.ones(shape)})


@pytest.mark.parametrize(("function", "arg"), _BINARY_WEIGHT_ARGS)
@pytest.mark.parametrize("shape", [(), (1,), (3,), (1, 3), (2, 1), (2, 3)])
def test_binary_weight_broadcast_shapes_accepted(
    function: str, arg: str, shape: tuple[int, ...]
) -> None:
    out = _call(function, **{arg: np.full(shape, 2.0)}, reduction="none")
    assert out.shape == (2, 3)


@pytest.mark.parametrize(("function", "arg"), _BINARY_WEIGHT_ARGS)
@pytest.mark.parametrize("bad", [-1.0, np.inf])
def test_binary_weight_negative_or_infinite(function: str, arg: str, bad: float) -> None:
    with pytest.raises(ValueError, match=_named(arg, "non-negative")):
        _call(function, **{arg: np.array([1.0, bad, 1.0])})


@pytest.mark.parametrize("function", _BINARY)
def test_binary_empty_batch(function: str) -> None:
    empty = np.zeros((0, 3))
    args = {_first_arg(function): empty, "target": empty}
    assert _call(function, **args, reduction="none").shape == (0, 3)
    if function.endswith("grad"):
        return
    np.testing.assert_allclose(_call(function, **args, reduction="sum"), 0.0, rtol=0, atol=0)
    assert np.isnan(_call(function, **args, reduction="mean"))


@pytest.mark.parametrize("function", _BINARY)
@pytest.mark.parametrize("arg", ["input", "target"])
def test_binary_nan_propagates(function: str, arg: str) -> None:
    name = _first_arg(function) if arg == "input" else "target"
    value = np.array(_VALID[function][name], dtype=np.float64)
    value[0, 1] = np.nan
    out = _call(function, **{name: value}, reduction="none")
    assert np.isnan(out[0, 1])
    assert np.sum(np.isnan(out)) == 1
    assert np.isnan(np.sum(_call(function, **{name: value}, reduction="sum")))


@pytest.mark.parametrize("gamma", [-1e-12, -1.0, -np.inf, np.nan])
def test_sigmoid_focal_loss_gamma_negative(gamma: float) -> None:
    with pytest.raises(ValueError, match=_named("gamma")):
        _call("sigmoid_focal_loss", gamma=gamma)


@pytest.mark.parametrize("alpha", [1.5, np.inf, np.nan])
def test_sigmoid_focal_loss_alpha_above_one(alpha: float) -> None:
    with pytest.raises(ValueError, match=_named("alpha")):
        _call("sigmoid_focal_loss", alpha=alpha)


@pytest.mark.parametrize("option", ["alpha", "gamma"])
@pytest.mark.parametrize("bad", ["2", None, [2.0], 1j])
def test_sigmoid_focal_loss_option_not_a_number(option: str, bad: Any) -> None:
    with pytest.raises(TypeError, match=_named(option, "real number")):
        _call("sigmoid_focal_loss", **{option: bad})


@pytest.mark.parametrize(("alpha", "gamma"), [(-1.0, 0.0), (0.0, 0.0), (1.0, 0.5), (-5.0, 10.0)])
def test_sigmoid_focal_loss_boundary_options_accepted(alpha: float, gamma: float) -> None:
    assert np.all(np.isfinite(_call("sigmoid_focal_loss", alpha=alpha, gamma=gamma)))


# --------------------------------------------------------------------------------------------
# fit_temperature, expected_calibration_error
# --------------------------------------------------------------------------------------------

_CALIBRATION = ["fit_temperature", "expected_calibration_error"]


@pytest.mark.parametrize(
    ("function", "target_shape"),
    [
        *[("fit_temperature", s) for s in [(2,), (4,), (3, 1), (1, 3), ()]],
        *[("expected_calibration_error", s) for s in [(3,), (1,), (2, 1), (2, 3), ()]],
    ],
)
def test_calibration_target_shape_mismatch(function: str, target_shape: tuple[int, ...]) -> None:
    expected = str(_VALID[function]["target"].shape)
    with pytest.raises(ValueError, match=_named("target", expected)) as info:
        _call(function, target=np.zeros(target_shape, dtype=np.int64))
    assert f"got {target_shape}" in str(info.value)


@pytest.mark.parametrize(
    ("function", "bad_target", "value"),
    [
        ("fit_temperature", [0, 1, 3], "3"),
        ("fit_temperature", [-1, 1, 2], "-1"),
        ("expected_calibration_error", [0, 3], "3"),
        ("expected_calibration_error", [-1, 0], "-1"),
        ("expected_calibration_error", [-100, 0], "-100"),
    ],
)
def test_calibration_target_out_of_range(function: str, bad_target: list[int], value: str) -> None:
    with pytest.raises(ValueError, match=_named("target", "[0, 3)", value)):
        _call(function, target=np.array(bad_target))


@pytest.mark.parametrize("function", _CALIBRATION)
def test_calibration_target_not_whole(function: str) -> None:
    bad = _VALID[function]["target"].astype(np.float64)
    bad[0] = 0.5
    with pytest.raises(ValueError, match=_named("target", "whole numbers", "0.5")):
        _call(function, target=bad)


@pytest.mark.parametrize(
    ("function", "first", "phrase"),
    [("fit_temperature", "logits", ""), ("expected_calibration_error", "probs", "N, C >= 1")],
)
def test_calibration_empty_dataset(function: str, first: str, phrase: str) -> None:
    with pytest.raises(ValueError, match=_named(first, phrase)):
        _call(function, **{first: np.zeros((0, 3)), "target": np.zeros((0,), dtype=np.int64)})


@pytest.mark.parametrize(
    ("logits", "target", "phrase"),
    [
        ([[2.0, 1.0], [0.0, 3.0]], [0, 1], "T -> 0"),  # every target first by a margin
        ([[1.0, 1.0], [0.0, 0.0]], [0, 1], "T -> inf"),  # no better than uniform
        ([[0.0, 3.0], [2.0, 1.0]], [0, 1], "T -> inf"),  # worse than uniform
    ],
)
def test_fit_temperature_no_finite_optimum(logits: Any, target: Any, phrase: str) -> None:
    with pytest.raises(ValueError, match=_named("logits", phrase)):
        xr.fit_temperature(np.array(logits), np.array(target))


@pytest.mark.parametrize("shape", [(3,), (2, 3, 1)])
def test_expected_calibration_error_probs_not_2d(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=_named("probs", "(N, C)", str(shape))):
        _call("expected_calibration_error", probs=np.full(shape, 1 / 3))


@pytest.mark.parametrize(
    ("bad", "phrase"),
    [
        ([[0.7, 0.4, -0.1], [0.0, 1.0, 0.0]], "non-negative"),
        ([[0.7, 0.2, 0.2], [0.0, 1.0, 0.0]], "sum to 1"),
    ],
)
def test_expected_calibration_error_probs_not_distributions(bad: Any, phrase: str) -> None:
    with pytest.raises(ValueError, match=_named("probs", phrase)):
        _call("expected_calibration_error", probs=np.array(bad))


@pytest.mark.parametrize("n_bins", [0, -1])
def test_expected_calibration_error_n_bins_below_one(n_bins: int) -> None:
    with pytest.raises(ValueError, match=_named("n_bins", ">= 1", str(n_bins))):
        _call("expected_calibration_error", n_bins=n_bins)


@pytest.mark.parametrize("n_bins", [2.0, 2.5, "15", None, True])
def test_expected_calibration_error_n_bins_not_an_int(n_bins: Any) -> None:
    with pytest.raises(TypeError, match=_named("n_bins", "int")):
        _call("expected_calibration_error", n_bins=n_bins)


def test_expected_calibration_error_nan_propagates() -> None:
    probs = _SOFT.copy()
    probs[0] = np.nan
    assert np.isnan(_call("expected_calibration_error", probs=probs))


def test_fit_temperature_nan_propagates() -> None:
    logits = _CAL_LOGITS.copy()
    logits[0, 0] = np.nan
    assert np.isnan(_call("fit_temperature", logits=logits))


# --------------------------------------------------------------------------------------------
# A zero coefficient on an infinite log-loss term counts 0 (no NaN, no RuntimeWarning)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("function", "args", "options"),
    [
        ("binary_cross_entropy", ([0.0], [1.0]), {"weight": [0.0]}),
        ("binary_cross_entropy", ([1.0], [0.0]), {"weight": [0.0]}),
        ("binary_cross_entropy_with_logits", ([-np.inf], [1.0]), {"weight": [0.0]}),
        ("binary_cross_entropy_with_logits", ([np.inf], [0.0]), {"weight": [0.0]}),
        ("binary_cross_entropy_with_logits", ([-np.inf], [1.0]), {"pos_weight": [0.0]}),
        ("sigmoid_focal_loss", ([-np.inf], [1.0]), {"alpha": 0.0}),
        ("sigmoid_focal_loss", ([np.inf], [0.0]), {"alpha": 1.0}),
        ("softmax_cross_entropy", ([[-np.inf, 0.0]], [0]), {"weight": [0.0, 1.0]}),
        ("softmax_cross_entropy", ([[-np.inf, 0.0]], [[1.0, 0.0]]), {"weight": [0.0, 1.0]}),
    ],
)
def test_zero_coefficient_on_infinite_term_counts_zero(
    function: str, args: tuple[Any, Any], options: dict[str, Any]
) -> None:
    """A weight (or alpha_t) of exactly 0 removes the term, as documented for pos_weight."""
    arrays = {
        k: np.asarray(v, dtype=np.float64) if isinstance(v, list) else v for k, v in options.items()
    }
    out = getattr(xr, function)(*(np.asarray(a) for a in args), **arrays, reduction="none")
    np.testing.assert_array_equal(out, 0.0)


# --------------------------------------------------------------------------------------------
# No bare IndexError (or any other exception type) from arbitrary shapes and values
# --------------------------------------------------------------------------------------------

_SMALL_SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3)
_ANY_VALUES = st.one_of(
    hnp.arrays(np.float64, _SMALL_SHAPES, elements=st.floats(-5, 5)),
    hnp.arrays(np.int64, _SMALL_SHAPES, elements=st.integers(-200, 5)),
    hnp.arrays(np.bool_, _SMALL_SHAPES),
)


def _assert_clean_outcome(function: str, **kwargs: Any) -> None:
    """The call returns, or raises TypeError / ValueError with a message naming an argument."""
    try:
        getattr(xr, function)(**kwargs)
    except (TypeError, ValueError) as exc:
        message = str(exc)
    else:
        return
    assert re.match(r"^`\w+`", message), f"message does not start with `name`: {message}"


@pytest.mark.parametrize("function", _FUNCTIONS)
@given(data=st.data())
def test_arbitrary_shapes_never_leak_other_exceptions(function: str, data: st.DataObject) -> None:
    """Any shapes and dtypes give a result, or a TypeError / ValueError naming an argument.

    Never an IndexError, a numpy error without the argument's name, or a warning (which the
    test configuration turns into an error).
    """
    kwargs = {arg: data.draw(_ANY_VALUES, label=arg) for arg in _VALID[function]}
    if function in _WITH_AXIS:
        kwargs["axis"] = data.draw(st.integers(-4, 3), label="axis")
    options = [(a, v) for f, a, v in _OPTIONAL_ARRAYS if f == function]
    for arg, _ in options:
        kwargs[arg] = data.draw(st.none() | _ANY_VALUES, label=arg)
    if function in _SOFTMAX_CE:
        kwargs["ignore_index"] = data.draw(st.sampled_from([-100, -1, 0, 2]), label="ignore_index")
        kwargs["label_smoothing"] = data.draw(st.sampled_from([0.0, 0.5]), label="label_smoothing")
    _assert_clean_outcome(function, **kwargs)
