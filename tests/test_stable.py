"""Unit tests of the stable primitives: logsumexp, softmax, log_softmax, sigmoid, log_sigmoid.

Expected values are closed forms or are computed inline with mpmath (`mpref`: 1000
significant digits, so that a tail of e^-745 beside 1 survives) and rounded once to float64.
pytest runs with ``filterwarnings = error``, so every test that feeds NaN or infinities also
checks that no RuntimeWarning is emitted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mpmath
import numpy as np
import pytest

import xentref as xr


def mpref(compute: Callable[[], Any]) -> Any:
    """Evaluate `compute` (mpmath) at 1000 significant digits, round to float64.

    A tail of e^-745 next to 1 needs over 320 digits; 1000 leaves a wide margin.
    """
    with mpmath.workdps(1000):
        value = compute()
        return [float(v) for v in value] if isinstance(value, list) else float(value)


# float64 results are correct to a few ulps; 4 ulps relative = 8.9e-16.
RTOL64 = 4 * np.finfo(np.float64).eps
RTOL32 = 4 * np.finfo(np.float32).eps

CLASS_AXIS = [xr.logsumexp, xr.softmax, xr.log_softmax]
ELEMENTWISE = [xr.sigmoid, xr.log_sigmoid]
ALL = [*CLASS_AXIS, *ELEMENTWISE]


def _lse(row: Any) -> Any:
    return mpmath.log(mpmath.fsum(mpmath.exp(mpmath.mpf(float(v))) for v in row))


def mp_logsumexp(row: Any) -> float:
    """log(sum(exp(x))), mpmath at 1000 digits."""
    return mpref(lambda: _lse(row))


def mp_log_softmax(row: Any) -> list[float]:
    """x - logsumexp(x), mpmath at 1000 digits."""
    return mpref(lambda: [mpmath.mpf(float(v)) - _lse(row) for v in row])


def mp_softmax(row: Any) -> list[float]:
    """exp(x - logsumexp(x)), mpmath at 1000 digits."""
    return mpref(lambda: [mpmath.exp(mpmath.mpf(float(v)) - _lse(row)) for v in row])


def mp_sigmoid(v: float) -> float:
    """1 / (1 + exp(-v)), mpmath at 1000 digits."""
    return mpref(lambda: 1 / (1 + mpmath.exp(-mpmath.mpf(float(v)))))


def mp_log_sigmoid(v: float) -> float:
    """-log(1 + exp(-v)), mpmath at 1000 digits."""
    return mpref(lambda: -mpmath.log(1 + mpmath.exp(-mpmath.mpf(float(v)))))


ROWS = [
    [1.0, 2.0, 3.0],
    [1000.0, 1000.0],  # naive exp overflows
    [0.0, -50.0],  # tail below epsilon: log1p matters
    [-1000.0, 5.0, 7.5, -3.25],
    [700.0, 0.0],  # tail exp(-700) ~ 1e-304
    [-745.0, -745.5],  # every exp underflows without the shift
]


# ------------------------------------------------------------------------------------------
# dtype rules, shared by all five functions
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("function", ALL, ids=lambda f: f.__name__)
@pytest.mark.parametrize(
    ("dtype", "expected"),
    [
        (np.float64, np.float64),
        (np.float32, np.float32),
        (np.float16, np.float32),  # float16 is promoted: 3 digits are too few for a log-loss
        (np.int64, np.float64),
        (np.int32, np.float64),
        (np.uint8, np.float64),
        (np.bool_, np.float64),
    ],
)
def test_stable_dtype_rules(function: Callable[..., Any], dtype: Any, expected: Any) -> None:
    x = np.array([[1, 0, 1], [0, 1, 1]], dtype=dtype)
    assert function(x).dtype == expected


@pytest.mark.parametrize("function", ALL, ids=lambda f: f.__name__)
def test_stable_python_list_input_is_float64(function: Callable[..., Any]) -> None:
    assert function([1, 2, 3]).dtype == np.float64


# ------------------------------------------------------------------------------------------
# logsumexp
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("row", ROWS)
def test_logsumexp_matches_mpmath(row: list[float]) -> None:
    np.testing.assert_allclose(xr.logsumexp(row), mp_logsumexp(row), rtol=RTOL64, atol=0)


def test_logsumexp_no_overflow_closed_form() -> None:
    # logsumexp([a, a]) = a + log 2, exactly representable up to rounding.
    np.testing.assert_allclose(
        xr.logsumexp([1000.0, 1000.0]), 1000.0 + np.log(2.0), rtol=RTOL64, atol=0
    )


def test_logsumexp_keeps_tail_below_epsilon() -> None:
    # logsumexp([0, -50]) = log1p(exp(-50)) = 1.9287498479639178e-22 (mpmath);
    # the naive log(1 + exp(-50)) is exactly 0.
    expected = mpref(lambda: mpmath.log1p(mpmath.exp(-50)))
    np.testing.assert_allclose(xr.logsumexp([0.0, -50.0]), expected, rtol=RTOL64, atol=0)
    assert xr.logsumexp([0.0, -50.0]) > 0


def test_logsumexp_float32_matches_mpmath() -> None:
    row = np.array([3.0, -1.0, 0.5], dtype=np.float32)
    out = xr.logsumexp(row)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, mp_logsumexp(row), rtol=RTOL32, atol=0)


@pytest.mark.parametrize("axis", [0, 1, 2, -1, -2, -3])
@pytest.mark.parametrize("keepdims", [False, True])
def test_logsumexp_axis_and_keepdims_shapes(axis: int, keepdims: bool) -> None:
    x = np.random.default_rng(0).normal(size=(2, 3, 4))
    out = xr.logsumexp(x, axis=axis, keepdims=keepdims)
    naive = np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))  # safe for |x| < 5
    assert out.shape == naive.shape
    np.testing.assert_allclose(out, naive, rtol=1e-14, atol=0)


def test_logsumexp_unbatched_gives_0d() -> None:
    out = xr.logsumexp([1.0, 2.0, 3.0])
    assert np.ndim(out) == 0
    assert xr.logsumexp([1.0, 2.0, 3.0], keepdims=True).shape == (1,)


def test_logsumexp_single_class_is_identity() -> None:
    x = np.array([[-3.5], [0.0], [1e300]])
    np.testing.assert_allclose(xr.logsumexp(x), x[:, 0], rtol=0, atol=0)


def test_logsumexp_empty_batch() -> None:
    out = xr.logsumexp(np.zeros((0, 3)))
    assert out.shape == (0,)
    assert xr.logsumexp(np.zeros((0, 3)), keepdims=True).shape == (0, 1)


def test_logsumexp_masks_and_infinities() -> None:
    x = np.array(
        [
            [0.0, -np.inf],  # a masked term contributes nothing
            [-np.inf, -np.inf],  # all masked: log(0) = -inf
            [np.inf, 1.0],  # +inf dominates
            [np.inf, -np.inf],
            [np.inf, 800.0],  # exp(800) would overflow if not handled
        ]
    )
    expected = np.array([0.0, -np.inf, np.inf, np.inf, np.inf])
    np.testing.assert_allclose(xr.logsumexp(x), expected, rtol=0, atol=0)


def test_logsumexp_nan_propagates_without_warning() -> None:
    x = np.array([[np.nan, 1.0], [np.nan, np.inf], [np.nan, -np.inf], [1.0, 2.0]])
    out = xr.logsumexp(x)
    assert np.isnan(out[:3]).all()
    np.testing.assert_allclose(out[3], mp_logsumexp([1.0, 2.0]), rtol=RTOL64, atol=0)


# ------------------------------------------------------------------------------------------
# softmax
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("row", ROWS)
def test_softmax_matches_mpmath(row: list[float]) -> None:
    np.testing.assert_allclose(xr.softmax(row), mp_softmax(row), rtol=RTOL64, atol=0)


def test_softmax_rows_sum_to_one() -> None:
    x = np.random.default_rng(1).normal(scale=30, size=(50, 7))
    np.testing.assert_allclose(
        np.sum(xr.softmax(x), axis=-1), 1.0, rtol=0, atol=8 * np.finfo(float).eps
    )


def test_softmax_masked_class_is_exactly_zero() -> None:
    out = xr.softmax([0.0, -np.inf, 0.0])
    np.testing.assert_allclose(out, [0.5, 0.0, 0.5], rtol=0, atol=0)


def test_softmax_two_classes_is_sigmoid_of_difference() -> None:
    # softmax([a, b])_1 = sigmoid(b - a), closed form.
    np.testing.assert_allclose(
        xr.softmax([1000.0, 1001.0])[1], mp_sigmoid(1.0), rtol=RTOL64, atol=0
    )


@pytest.mark.parametrize("axis", [0, 1, 2, -1, -2, -3])
def test_softmax_axis(axis: int) -> None:
    x = np.random.default_rng(2).normal(size=(2, 3, 4))
    naive = np.exp(x) / np.sum(np.exp(x), axis=axis, keepdims=True)
    out = xr.softmax(x, axis=axis)
    assert out.shape == x.shape
    np.testing.assert_allclose(out, naive, rtol=1e-14, atol=0)


def test_softmax_unbatched_keeps_shape() -> None:
    assert xr.softmax([1.0, 2.0, 3.0]).shape == (3,)


def test_softmax_all_masked_row_is_nan_without_warning() -> None:
    out = xr.softmax([[-np.inf, -np.inf], [0.0, 0.0]])
    assert np.isnan(out[0]).all()
    np.testing.assert_allclose(out[1], [0.5, 0.5], rtol=0, atol=0)


def test_softmax_nan_and_inf_rows_without_warning() -> None:
    out = xr.softmax([[np.nan, 0.0, 800.0], [np.inf, 800.0, 0.0], [1.0, 1.0, 1.0]])
    assert np.isnan(out[0]).all()  # NaN anywhere: the whole row is NaN
    assert np.isnan(out[1, 0])  # +inf / +inf is undefined
    np.testing.assert_allclose(out[2], 1 / 3, rtol=RTOL64, atol=0)


def test_softmax_float32_dtype_and_values() -> None:
    row = np.array([3.0, -1.0, 0.5], dtype=np.float32)
    out = xr.softmax(row)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, mp_softmax(row), rtol=RTOL32, atol=0)


# ------------------------------------------------------------------------------------------
# log_softmax
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("row", ROWS)
def test_log_softmax_matches_mpmath(row: list[float]) -> None:
    np.testing.assert_allclose(xr.log_softmax(row), mp_log_softmax(row), rtol=RTOL64, atol=0)


def test_log_softmax_winner_keeps_tiny_value() -> None:
    # log_softmax([0, -50])_0 = -log1p(exp(-50)) = -1.93e-22 (mpmath); x - logsumexp(x) gives 0.
    expected = mpref(lambda: -mpmath.log1p(mpmath.exp(-50)))
    np.testing.assert_allclose(xr.log_softmax([0.0, -50.0])[0], expected, rtol=RTOL64, atol=0)


def test_log_softmax_masked_class_is_minus_inf() -> None:
    out = xr.log_softmax([0.0, -np.inf, 0.0])
    np.testing.assert_allclose(out, [-np.log(2.0), -np.inf, -np.log(2.0)], rtol=RTOL64, atol=0)


@pytest.mark.parametrize("axis", [0, 1, 2, -1, -2, -3])
def test_log_softmax_axis(axis: int) -> None:
    x = np.random.default_rng(3).normal(size=(2, 3, 4))
    naive = x - np.log(np.sum(np.exp(x), axis=axis, keepdims=True))
    out = xr.log_softmax(x, axis=axis)
    assert out.shape == x.shape
    np.testing.assert_allclose(out, naive, rtol=1e-13, atol=1e-15)


def test_log_softmax_undefined_rows_without_warning() -> None:
    out = xr.log_softmax([[-np.inf, -np.inf], [np.nan, 0.0], [np.inf, 0.0]])
    assert np.isnan(out[0]).all()  # all masked: -inf - (-inf)
    assert np.isnan(out[1]).all()  # NaN anywhere in the row
    assert np.isnan(out[2, 0])  # inf - inf
    np.testing.assert_allclose(out[2, 1], -np.inf, rtol=0, atol=0)  # 0 - inf


def test_log_softmax_float32_dtype_and_values() -> None:
    row = np.array([3.0, -1.0, 0.5], dtype=np.float32)
    out = xr.log_softmax(row)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, mp_log_softmax(row), rtol=RTOL32, atol=0)


# ------------------------------------------------------------------------------------------
# sigmoid
# ------------------------------------------------------------------------------------------

POINTS = [-745.0, -700.0, -40.0, -2.0, -1e-8, 0.0, 1e-8, 2.0, 40.0, 700.0]


@pytest.mark.parametrize("v", POINTS)
def test_sigmoid_matches_mpmath(v: float) -> None:
    np.testing.assert_allclose(xr.sigmoid(v), mp_sigmoid(v), rtol=RTOL64, atol=0)


def test_sigmoid_closed_forms() -> None:
    # sigmoid(0) = 1/2; sigmoid(log 3) = 3/4; sigmoid(-log 3) = 1/4.
    out = xr.sigmoid([0.0, np.log(3.0), -np.log(3.0)])
    np.testing.assert_allclose(out, [0.5, 0.75, 0.25], rtol=RTOL64, atol=0)


def test_sigmoid_infinities_and_extremes_without_warning() -> None:
    out = xr.sigmoid([-np.inf, -800.0, 800.0, np.inf])
    np.testing.assert_allclose(out, [0.0, 0.0, 1.0, 1.0], rtol=0, atol=0)


def test_sigmoid_nan_propagates_without_warning() -> None:
    out = xr.sigmoid([np.nan, 0.0])
    assert np.isnan(out[0])
    np.testing.assert_allclose(out[1], 0.5, rtol=0, atol=0)


@pytest.mark.parametrize("shape", [(), (0,), (3,), (2, 3, 4)])
def test_sigmoid_keeps_shape(shape: tuple[int, ...]) -> None:
    assert xr.sigmoid(np.zeros(shape)).shape == shape
    assert xr.log_sigmoid(np.zeros(shape)).shape == shape


def test_sigmoid_float32_values() -> None:
    x = np.array([-20.0, -2.0, 0.0, 3.0], dtype=np.float32)
    out = xr.sigmoid(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [mp_sigmoid(float(v)) for v in x], rtol=RTOL32, atol=0)


# ------------------------------------------------------------------------------------------
# log_sigmoid
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("v", [*POINTS, -800.0, 800.0])
def test_log_sigmoid_matches_mpmath(v: float) -> None:
    # For v = 800 the exact value -exp(-800) is below the smallest subnormal: 0 within atol.
    np.testing.assert_allclose(xr.log_sigmoid(v), mp_log_sigmoid(v), rtol=RTOL64, atol=1e-320)


def test_log_sigmoid_closed_forms() -> None:
    # log sigmoid(0) = -log 2; log sigmoid(-800) = -800 - log1p(exp(-800)) = -800 in float64.
    np.testing.assert_allclose(
        xr.log_sigmoid([0.0, -800.0]), [-np.log(2.0), -800.0], rtol=RTOL64, atol=0
    )


def test_log_sigmoid_tiny_for_large_positive() -> None:
    # log sigmoid(40) = -log1p(exp(-40)) = -4.248354255291589e-18 (mpmath); log(sigmoid(40)) = 0.
    expected = mpref(lambda: -mpmath.log1p(mpmath.exp(-40)))
    np.testing.assert_allclose(xr.log_sigmoid(40.0), expected, rtol=RTOL64, atol=0)


def test_log_sigmoid_infinities_without_warning() -> None:
    np.testing.assert_allclose(xr.log_sigmoid([-np.inf, np.inf]), [-np.inf, 0.0], rtol=0, atol=0)


def test_log_sigmoid_nan_propagates_without_warning() -> None:
    assert np.isnan(xr.log_sigmoid([np.nan]))[0]


def test_log_sigmoid_float32_values() -> None:
    x = np.array([-20.0, -2.0, 0.0, 3.0, 20.0], dtype=np.float32)
    out = xr.log_sigmoid(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [mp_log_sigmoid(float(v)) for v in x], rtol=RTOL32, atol=0)
