"""Unit tests of binary_cross_entropy, binary_cross_entropy_with_logits and its gradient.

Expected values are closed forms (-log 0.9, the limits at infinite logits) or are computed
inline with mpmath at 50 significant digits (`mp_bce_logits`: w [beta y log(1 + e^-z) +
(1 - y) log(1 + e^z)], `mp_bce`: -w [y log p + (1 - y) log(1 - p)]). pytest runs with
``filterwarnings = error``: zeros, infinities and NaN must not warn.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mpmath
import numpy as np
import pytest

import xentref as xr

RTOL64 = 1e-15
RTOL32 = 1e-6


def _mpf(v: Any) -> Any:
    return mpmath.mpf(float(v))


def mp_bce(p: Any, y: Any) -> np.ndarray:
    """Elementwise -[y log p + (1 - y) log(1 - p)], 0 log 0 = 0, mpmath at 50 digits."""
    with mpmath.workdps(50):
        out = []
        for pi, yi in zip(np.ravel(p), np.ravel(y), strict=True):
            pi, yi = _mpf(pi), _mpf(yi)
            pos = yi * mpmath.log(pi) if yi != 0 else 0
            neg = (1 - yi) * mpmath.log(1 - pi) if yi != 1 else 0
            out.append(float(-(pos + neg)))
    return np.array(out).reshape(np.shape(p))


def mp_bce_logits(z: Any, y: Any, pos_weight: Any = 1.0) -> np.ndarray:
    """Elementwise beta y softplus(-z) + (1 - y) softplus(z), mpmath at 50 digits."""
    z, y, beta = np.broadcast_arrays(
        np.asarray(z, float), np.asarray(y, float), np.asarray(pos_weight, float)
    )
    with mpmath.workdps(50):
        out = []
        for zi, yi, bi in zip(z.ravel(), y.ravel(), beta.ravel(), strict=True):
            zi, yi, bi = _mpf(zi), _mpf(yi), _mpf(bi)
            sp_neg = mpmath.log1p(mpmath.exp(-zi))  # softplus(-z) = -log sigmoid(z)
            sp_pos = mpmath.log1p(mpmath.exp(zi))
            out.append(float(bi * yi * sp_neg + (1 - yi) * sp_pos))
    return np.array(out).reshape(z.shape)


def mp_bce_logits_grad(z: Any, y: Any, pos_weight: Any = 1.0) -> np.ndarray:
    """Elementwise (1 - y) sigmoid(z) - beta y sigmoid(-z), mpmath at 50 digits."""
    z, y, beta = np.broadcast_arrays(
        np.asarray(z, float), np.asarray(y, float), np.asarray(pos_weight, float)
    )
    with mpmath.workdps(50):
        out = []
        for zi, yi, bi in zip(z.ravel(), y.ravel(), beta.ravel(), strict=True):
            zi, yi, bi = _mpf(zi), _mpf(yi), _mpf(bi)
            s_pos, s_neg = 1 / (1 + mpmath.exp(-zi)), 1 / (1 + mpmath.exp(zi))
            out.append(float((1 - yi) * s_pos - bi * yi * s_neg))
    return np.array(out).reshape(z.shape)


_RNG = np.random.default_rng(11)
Z = _RNG.normal(scale=3.0, size=(4, 3))
Y = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 1.0], [0.25, 0.0, 1.0], [1.0, 1.0, 0.0]])
PROBS = np.array([[0.9, 0.2, 0.5], [0.1, 0.5, 0.999], [0.3, 1e-9, 0.75], [0.6, 0.01, 0.4]])

LOGIT_FUNCTIONS = [xr.binary_cross_entropy_with_logits, xr.binary_cross_entropy_with_logits_grad]
ALL = [xr.binary_cross_entropy, *LOGIT_FUNCTIONS]


# ------------------------------------------------------------------------------------------
# dtype rules and shapes
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("function", ALL, ids=lambda f: f.__name__)
@pytest.mark.parametrize(
    ("dtype", "expected"),
    [
        (np.float64, np.float64),
        (np.float32, np.float32),
        (np.float16, np.float32),
        (np.int64, np.float64),
        (np.bool_, np.float64),
    ],
)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_binary_dtype_rules(
    function: Callable[..., Any], dtype: Any, expected: Any, reduction: str
) -> None:
    x = np.array([[1, 0], [0, 1]], dtype=dtype)
    target = np.array([[1.0, 0.0], [0.5, 1.0]])  # float64 target does not promote float32
    out = function(x, target, weight=np.array([1.0, 2.0]), reduction=reduction)
    assert out.dtype == expected


@pytest.mark.parametrize("function", ALL, ids=lambda f: f.__name__)
@pytest.mark.parametrize("shape", [(), (5,), (2, 3, 4)])
def test_binary_reduction_shapes(function: Callable[..., Any], shape: tuple[int, ...]) -> None:
    x, y = np.full(shape, 0.5), np.full(shape, 1.0)
    grad = function is xr.binary_cross_entropy_with_logits_grad
    assert function(x, y, reduction="none").shape == shape
    assert function(x, y, reduction="mean").shape == (shape if grad else ())
    assert function(x, y, reduction="sum").shape == (shape if grad else ())


@pytest.mark.parametrize("function", ALL, ids=lambda f: f.__name__)
def test_binary_empty_batch(function: Callable[..., Any]) -> None:
    x, y = np.zeros((0, 3)), np.zeros((0, 3))
    if function is xr.binary_cross_entropy_with_logits_grad:
        assert function(x, y).shape == (0, 3)
        return
    assert np.isnan(function(x, y))
    np.testing.assert_allclose(function(x, y, reduction="sum"), 0.0, rtol=0, atol=0)


@pytest.mark.parametrize("function", ALL, ids=lambda f: f.__name__)
def test_binary_nan_propagates_without_warning(function: Callable[..., Any]) -> None:
    x = np.array([np.nan, 0.5, 0.5])
    y = np.array([1.0, np.nan, 0.0])
    out = function(x, y, reduction="none")
    assert np.isnan(out[:2]).all()
    assert np.isfinite(out[2])


# ------------------------------------------------------------------------------------------
# binary_cross_entropy (probabilities)
# ------------------------------------------------------------------------------------------


def test_binary_cross_entropy_closed_forms() -> None:
    # -log 0.9 and -log(1 - 0.2) (docstring example).
    out = xr.binary_cross_entropy([0.9, 0.2], [1.0, 0.0], reduction="none")
    np.testing.assert_allclose(out, [-np.log(0.9), -np.log1p(-0.2)], rtol=RTOL64, atol=0)


def test_binary_cross_entropy_matches_mpmath() -> None:
    np.testing.assert_allclose(
        xr.binary_cross_entropy(PROBS, Y, reduction="none"), mp_bce(PROBS, Y), rtol=RTOL64, atol=0
    )


def test_binary_cross_entropy_certain_predictions_without_warning() -> None:
    # 0 log 0 = 0 where the prediction is certain and right; +inf where certain and wrong.
    p = np.array([0.0, 1.0, 0.0, 1.0, 0.0, 1.0])
    y = np.array([0.0, 1.0, 1.0, 0.0, 0.5, 0.5])
    out = xr.binary_cross_entropy(p, y, reduction="none")
    np.testing.assert_allclose(out, [0.0, 0.0, np.inf, np.inf, np.inf, np.inf], rtol=0, atol=0)


def test_binary_cross_entropy_zero_loss_is_positive_zero() -> None:
    out = xr.binary_cross_entropy([0.0, 1.0], [0.0, 1.0], reduction="none")
    np.testing.assert_allclose(out, 0.0, rtol=0, atol=0)
    assert not np.signbit(out).any()


def test_binary_cross_entropy_no_clamping() -> None:
    # -log(1e-60) = 138.155...; PyTorch clamps to 100, scikit-learn to 36.04.
    expected = float(mpmath.mpf(-1) * mpmath.log(mpmath.mpf(1e-60)))
    np.testing.assert_allclose(
        xr.binary_cross_entropy([1e-60], [1.0]), expected, rtol=RTOL64, atol=0
    )


def test_binary_cross_entropy_small_p_negative_class_keeps_digits() -> None:
    # -log(1 - 1e-20) = 1e-20 (log1p); log(1 - p) would give 0.
    out = xr.binary_cross_entropy([1e-20], [0.0])
    np.testing.assert_allclose(out, 1e-20, rtol=RTOL64, atol=0)


def test_binary_cross_entropy_mean_divides_by_numel_not_weight_sum() -> None:
    w = np.array([[0.5, 2.0, 0.0], [1.0, 3.0, 0.25], [0.0, 0.0, 1.0], [4.0, 1.0, 1.0]])
    per_elem = mp_bce(PROBS, Y)
    np.testing.assert_allclose(
        xr.binary_cross_entropy(PROBS, Y, weight=w), np.sum(w * per_elem) / 12, rtol=RTOL64, atol=0
    )
    np.testing.assert_allclose(
        xr.binary_cross_entropy(PROBS, Y, weight=w, reduction="sum"),
        np.sum(w * per_elem),
        rtol=RTOL64,
        atol=0,
    )


@pytest.mark.parametrize("weight_shape", [(4, 3), (3,), (4, 1), (1, 3), (1,), ()])
def test_binary_cross_entropy_weight_broadcasting(weight_shape: tuple[int, ...]) -> None:
    w = np.arange(1.0, 1.0 + np.prod(weight_shape, dtype=int)).reshape(weight_shape) / 3
    out = xr.binary_cross_entropy(PROBS, Y, weight=w, reduction="none")
    np.testing.assert_allclose(
        out, np.broadcast_to(w, (4, 3)) * mp_bce(PROBS, Y), rtol=RTOL64, atol=0
    )


def test_binary_cross_entropy_float32_values() -> None:
    p32, y32 = PROBS.astype(np.float32), Y.astype(np.float32)
    out = xr.binary_cross_entropy(p32, y32, reduction="none")
    np.testing.assert_allclose(out, mp_bce(p32, y32), rtol=RTOL32, atol=0)


@pytest.mark.parametrize("bad", [1.5, -1e-300, -np.inf])
def test_binary_cross_entropy_probs_outside_unit_interval_raises(bad: float) -> None:
    # Docstring, Raises: "If `probs` or `target` lies outside [0, 1]".
    with pytest.raises(ValueError, match=r"^`probs`"):
        xr.binary_cross_entropy([bad], [1.0])


# ------------------------------------------------------------------------------------------
# binary_cross_entropy_with_logits
# ------------------------------------------------------------------------------------------


def test_binary_cross_entropy_with_logits_matches_mpmath() -> None:
    out = xr.binary_cross_entropy_with_logits(Z, Y, reduction="none")
    np.testing.assert_allclose(out, mp_bce_logits(Z, Y), rtol=RTOL64, atol=0)


def test_binary_cross_entropy_with_logits_zero_logit_is_log_two() -> None:
    # sigmoid(0) = 1/2 whatever the target: every loss is log 2.
    out = xr.binary_cross_entropy_with_logits(np.zeros(3), [0.0, 0.5, 1.0], reduction="none")
    np.testing.assert_allclose(out, np.log(2.0), rtol=RTOL64, atol=0)


def test_binary_cross_entropy_with_logits_extreme_finite_logits() -> None:
    # z = 40, y = 1: log1p(e^-40) = 4.248e-18 (mpmath); z = -800, y = 1: 800 + log1p(e^-800) = 800.
    z, y = np.array([40.0, -800.0, 800.0, -40.0]), np.array([1.0, 1.0, 0.0, 0.0])
    out = xr.binary_cross_entropy_with_logits(z, y, reduction="none")
    np.testing.assert_allclose(out, mp_bce_logits(z, y), rtol=RTOL64, atol=0)
    np.testing.assert_allclose(out[1:3], 800.0, rtol=0, atol=0)


@pytest.mark.parametrize(
    ("z", "y", "loss", "grad"),
    [
        (-np.inf, 0.0, 0.0, 0.0),  # certain and right
        (np.inf, 1.0, 0.0, 0.0),  # certain and right
        (-np.inf, 1.0, np.inf, -1.0),  # certain and wrong: d/dz softplus(-z) -> -1
        (np.inf, 0.0, np.inf, 1.0),  # certain and wrong: d/dz softplus(z) -> 1
        (np.inf, 0.5, np.inf, 0.5),  # soft target: (1 - y) sigmoid(z) - y sigmoid(-z)
        (-np.inf, 0.25, np.inf, -0.25),
    ],
)
def test_binary_cross_entropy_with_logits_infinite_logits(
    z: float, y: float, loss: float, grad: float
) -> None:
    # True limits as z -> +-inf (closed form), without warnings.
    out = xr.binary_cross_entropy_with_logits([z], [y], reduction="none")
    np.testing.assert_allclose(out, [loss], rtol=0, atol=0)
    g = xr.binary_cross_entropy_with_logits_grad([z], [y], reduction="none")
    np.testing.assert_allclose(g, [grad], rtol=0, atol=0)


def test_binary_cross_entropy_with_logits_infinite_logits_pos_weight() -> None:
    z, y = np.array([-np.inf, np.inf, -np.inf, np.inf]), np.array([0.0, 1.0, 1.0, 0.0])
    beta = 3.0
    out = xr.binary_cross_entropy_with_logits(z, y, pos_weight=[beta], reduction="none")
    np.testing.assert_allclose(out, [0.0, 0.0, np.inf, np.inf], rtol=0, atol=0)
    g = xr.binary_cross_entropy_with_logits_grad(z, y, pos_weight=[beta], reduction="none")
    np.testing.assert_allclose(g, [0.0, 0.0, -beta, 1.0], rtol=0, atol=0)


def test_binary_cross_entropy_with_logits_pos_weight_per_class() -> None:
    beta = np.array([3.0, 0.5, 0.0])
    out = xr.binary_cross_entropy_with_logits(Z, Y, pos_weight=beta, reduction="none")
    np.testing.assert_allclose(out, mp_bce_logits(Z, Y, beta), rtol=RTOL64, atol=0)
    # Docstring example: z = 0.5, y = 1, beta = 3: 3 log(1 + e^-0.5) = 1.42223095254032.
    np.testing.assert_allclose(
        xr.binary_cross_entropy_with_logits([0.5], [1.0], pos_weight=[3.0]),
        mp_bce_logits([0.5], [1.0], 3.0)[0],
        rtol=RTOL64,
        atol=0,
    )


def test_binary_cross_entropy_with_logits_pos_weight_leaves_negatives_alone() -> None:
    y = np.zeros_like(Z)
    np.testing.assert_allclose(
        xr.binary_cross_entropy_with_logits(Z, y, pos_weight=[7.0, 7.0, 7.0], reduction="none"),
        xr.binary_cross_entropy_with_logits(Z, y, reduction="none"),
        rtol=0,
        atol=0,
    )


@pytest.mark.parametrize("weight_shape", [(4, 3), (3,), (4, 1), (1, 3), (1,), ()])
def test_binary_cross_entropy_with_logits_weight_broadcasting(
    weight_shape: tuple[int, ...],
) -> None:
    # Per element (4, 3), per class (3,), per sample (4, 1), scalar.
    w = np.arange(1.0, 1.0 + np.prod(weight_shape, dtype=int)).reshape(weight_shape) / 3
    out = xr.binary_cross_entropy_with_logits(Z, Y, weight=w, reduction="none")
    np.testing.assert_allclose(
        out, np.broadcast_to(w, (4, 3)) * mp_bce_logits(Z, Y), rtol=RTOL64, atol=0
    )
    g = xr.binary_cross_entropy_with_logits_grad(Z, Y, weight=w, reduction="none")
    np.testing.assert_allclose(
        g, np.broadcast_to(w, (4, 3)) * mp_bce_logits_grad(Z, Y), rtol=RTOL64, atol=1e-300
    )


def test_binary_cross_entropy_with_logits_mean_divides_by_numel_not_weight_sum() -> None:
    w = np.array([[2.0], [0.0], [1.0], [5.0]])  # per sample
    beta = np.array([1.0, 2.0, 3.0])
    per_elem = w * mp_bce_logits(Z, Y, beta)
    np.testing.assert_allclose(
        xr.binary_cross_entropy_with_logits(Z, Y, weight=w, pos_weight=beta),
        per_elem.sum() / 12,
        rtol=RTOL64,
        atol=0,
    )
    np.testing.assert_allclose(
        xr.binary_cross_entropy_with_logits(Z, Y, weight=w, pos_weight=beta, reduction="sum"),
        per_elem.sum(),
        rtol=RTOL64,
        atol=0,
    )


def test_binary_cross_entropy_with_logits_equals_probability_form() -> None:
    # For moderate logits, BCE(z, y) = BCE(sigmoid(z), y).
    np.testing.assert_allclose(
        xr.binary_cross_entropy_with_logits(Z, Y, reduction="none"),
        xr.binary_cross_entropy(xr.sigmoid(Z), Y, reduction="none"),
        rtol=1e-13,
        atol=0,
    )


def test_binary_cross_entropy_with_logits_float32_values() -> None:
    z32, y32 = Z.astype(np.float32), Y.astype(np.float32)
    out = xr.binary_cross_entropy_with_logits(z32, y32, reduction="none")
    np.testing.assert_allclose(out, mp_bce_logits(z32, y32), rtol=RTOL32, atol=0)


# ------------------------------------------------------------------------------------------
# binary_cross_entropy_with_logits_grad
# ------------------------------------------------------------------------------------------


def test_binary_cross_entropy_with_logits_grad_matches_mpmath() -> None:
    beta = np.array([2.0, 1.0, 0.5])
    g = xr.binary_cross_entropy_with_logits_grad(Z, Y, pos_weight=beta, reduction="none")
    np.testing.assert_allclose(g, mp_bce_logits_grad(Z, Y, beta), rtol=RTOL64, atol=1e-300)


def test_binary_cross_entropy_with_logits_grad_is_sigmoid_minus_target() -> None:
    # Closed form for beta = 1: sigmoid(z) - y; "mean" divides by the number of elements.
    expected = xr.sigmoid(Z) - Y
    np.testing.assert_allclose(
        xr.binary_cross_entropy_with_logits_grad(Z, Y, reduction="sum"),
        expected,
        rtol=1e-14,
        atol=1e-16,
    )
    np.testing.assert_allclose(
        xr.binary_cross_entropy_with_logits_grad(Z, Y), expected / 12, rtol=1e-14, atol=1e-17
    )
    np.testing.assert_allclose(
        xr.binary_cross_entropy_with_logits_grad(Z, Y, weight=np.ones((4, 1)) * 3),
        3 * expected / 12,
        rtol=1e-14,
        atol=1e-17,
    )


def test_binary_cross_entropy_with_logits_grad_tiny_gradient_kept() -> None:
    # z = 40, y = 1: -sigmoid(-40) = -4.248354255291589e-18 (mpmath); sigmoid(40) - 1 rounds to 0.
    g = xr.binary_cross_entropy_with_logits_grad([40.0], [1.0], reduction="sum")
    np.testing.assert_allclose(g, mp_bce_logits_grad([40.0], [1.0]), rtol=RTOL64, atol=0)
    assert g[0] < 0


def test_binary_cross_entropy_with_logits_grad_matches_finite_differences() -> None:
    # Central differences of the loss, h = 1e-6: truncation error O(h^2) ~ 1e-12.
    w, beta = np.array([[1.0], [2.0], [0.5], [1.5]]), np.array([2.0, 1.0, 0.5])
    g = xr.binary_cross_entropy_with_logits_grad(Z, Y, weight=w, pos_weight=beta)
    h = 1e-6
    fd = np.zeros_like(Z)
    for idx in np.ndindex(Z.shape):
        zp, zm = Z.copy(), Z.copy()
        zp[idx] += h
        zm[idx] -= h
        up = xr.binary_cross_entropy_with_logits(zp, Y, weight=w, pos_weight=beta)
        down = xr.binary_cross_entropy_with_logits(zm, Y, weight=w, pos_weight=beta)
        fd[idx] = (up - down) / (2 * h)
    np.testing.assert_allclose(g, fd, rtol=1e-7, atol=1e-10)
