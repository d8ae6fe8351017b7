"""Unit tests of sigmoid_focal_loss (Lin et al. 2017, torchvision semantics).

Expected values are computed inline with mpmath at 50 significant digits from the docstring's
definition (`mp_focal`): with $p = \\sigma(z)$, $1 - p_t = y\\,\\sigma(-z) + (1 - y)\\,\\sigma(z)$,
$\\alpha_t = \\alpha y + (1 - \\alpha)(1 - y)$ (1 when $\\alpha < 0$) and
$\\operatorname{BCE} = y \\log(1 + e^{-z}) + (1 - y) \\log(1 + e^{z})$, the loss is
$\\alpha_t (1 - p_t)^\\gamma \\operatorname{BCE}$. Limits at infinite logits are closed forms.
pytest runs with ``filterwarnings = error``: infinities and NaN must not warn.
"""

from __future__ import annotations

from typing import Any

import mpmath
import numpy as np
import pytest

import xentref as xr

RTOL64 = 1e-14
RTOL32 = 1e-5

_RNG = np.random.default_rng(5)
Z = _RNG.normal(scale=3.0, size=(3, 4))
Y = np.array([[1.0, 0.0, 0.5, 1.0], [0.0, 0.0, 1.0, 0.25], [1.0, 1.0, 0.0, 0.0]])


def mp_focal(z: Any, y: Any, alpha: float = 0.25, gamma: float = 2.0) -> np.ndarray:
    """Elementwise focal loss from its definition, mpmath at 50 digits."""
    z, y = np.broadcast_arrays(np.asarray(z, float), np.asarray(y, float))
    out = []
    with mpmath.workdps(50):
        for zi, yi in zip(z.ravel(), y.ravel(), strict=True):
            zi, yi = mpmath.mpf(float(zi)), mpmath.mpf(float(yi))
            sig_pos, sig_neg = 1 / (1 + mpmath.exp(-zi)), 1 / (1 + mpmath.exp(zi))
            bce = yi * mpmath.log1p(mpmath.exp(-zi)) + (1 - yi) * mpmath.log1p(mpmath.exp(zi))
            one_minus_pt = yi * sig_neg + (1 - yi) * sig_pos
            a = mpmath.mpf(alpha)
            alpha_t = a * yi + (1 - a) * (1 - yi) if alpha >= 0 else 1
            focus = one_minus_pt ** mpmath.mpf(gamma) if gamma != 0 else 1
            out.append(float(alpha_t * focus * bce))
    return np.array(out).reshape(z.shape)


def test_sigmoid_focal_loss_docstring_value() -> None:
    # z = 0.5, y = 1: 0.25 * sigmoid(-0.5)^2 * log(1 + e^-0.5) = 0.01689337 (docstring).
    np.testing.assert_allclose(
        xr.sigmoid_focal_loss([0.5], [1.0]), mp_focal([0.5], [1.0]), rtol=RTOL64, atol=0
    )


@pytest.mark.parametrize("alpha", [0.25, 0.5, 1.0, 0.0, -1.0])
@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0, 5.0])
def test_sigmoid_focal_loss_matches_definition(alpha: float, gamma: float) -> None:
    out = xr.sigmoid_focal_loss(Z, Y, alpha=alpha, gamma=gamma)
    np.testing.assert_allclose(out, mp_focal(Z, Y, alpha, gamma), rtol=RTOL64, atol=0)


def test_sigmoid_focal_loss_gamma_zero_negative_alpha_is_bce() -> None:
    # (1 - p_t)^0 = 1 and no alpha factor: exactly the cross-entropy (rtol 0).
    np.testing.assert_allclose(
        xr.sigmoid_focal_loss(Z, Y, alpha=-1.0, gamma=0.0),
        xr.binary_cross_entropy_with_logits(Z, Y, reduction="none"),
        rtol=0,
        atol=0,
    )


def test_sigmoid_focal_loss_gamma_zero_is_alpha_weighted_bce() -> None:
    alpha = 0.25
    alpha_t = alpha * Y + (1 - alpha) * (1 - Y)
    np.testing.assert_allclose(
        xr.sigmoid_focal_loss(Z, Y, alpha=alpha, gamma=0.0),
        alpha_t * xr.binary_cross_entropy_with_logits(Z, Y, reduction="none"),
        rtol=1e-15,
        atol=0,
    )


@pytest.mark.parametrize("alpha", [-1.0, -0.5, -1e-12])
def test_sigmoid_focal_loss_any_negative_alpha_disables_alpha(alpha: float) -> None:
    np.testing.assert_allclose(
        xr.sigmoid_focal_loss(Z, Y, alpha=alpha),
        xr.sigmoid_focal_loss(Z, Y, alpha=-1.0),
        rtol=0,
        atol=0,
    )
    # Docstring: z = 0.5, y = 1, alpha < 0: sigmoid(-0.5)^2 log(1 + e^-0.5) = 0.06757349.
    np.testing.assert_allclose(
        xr.sigmoid_focal_loss([0.5], [1.0], alpha=alpha),
        mp_focal([0.5], [1.0], -1.0),
        rtol=RTOL64,
        atol=0,
    )


def test_sigmoid_focal_loss_alpha_one_ignores_negatives() -> None:
    # alpha = 1: alpha_t = y, so hard negatives cost exactly 0.
    out = xr.sigmoid_focal_loss(Z, np.zeros_like(Z), alpha=1.0)
    np.testing.assert_allclose(out, 0.0, rtol=0, atol=0)


def test_sigmoid_focal_loss_is_at_most_alpha_weighted_bce() -> None:
    # (1 - p_t)^gamma <= 1: focusing only ever lowers the loss.
    focal = xr.sigmoid_focal_loss(Z, Y, gamma=2.0)
    weighted_bce = xr.sigmoid_focal_loss(Z, Y, gamma=0.0)
    assert np.all(focal <= weighted_bce * (1 + 1e-15))


def test_sigmoid_focal_loss_confident_right_prediction_is_tiny_not_zero() -> None:
    # z = 40, y = 1: 1 - p_t = sigmoid(-40) = 4.2e-18, which 1 - sigmoid(40) rounds to 0;
    # loss = 0.25 * sigmoid(-40)^2 * log1p(e^-40) ~ 1.9e-53 (mpmath).
    out = xr.sigmoid_focal_loss([40.0, -40.0], [1.0, 0.0])
    expected = mp_focal([40.0, -40.0], [1.0, 0.0])
    assert np.all(out > 0)
    np.testing.assert_allclose(out, expected, rtol=RTOL64, atol=0)


@pytest.mark.parametrize(
    ("z", "y", "expected"),
    [
        (np.inf, 1.0, 0.0),  # certain and right
        (-np.inf, 0.0, 0.0),
        (np.inf, 0.0, np.inf),  # certain and wrong: BCE = inf, 1 - p_t = 1
        (-np.inf, 1.0, np.inf),
        (np.inf, 0.5, np.inf),  # soft target: half the mass on the impossible side
    ],
)
def test_sigmoid_focal_loss_infinite_logits(z: float, y: float, expected: float) -> None:
    for alpha in (0.25, -1.0):
        out = xr.sigmoid_focal_loss([z], [y], alpha=alpha)
        np.testing.assert_allclose(out, [expected], rtol=0, atol=0)


def test_sigmoid_focal_loss_nan_propagates_without_warning() -> None:
    out = xr.sigmoid_focal_loss([np.nan, 0.5, 0.5], [1.0, np.nan, 1.0])
    assert np.isnan(out[:2]).all()
    assert np.isfinite(out[2])


def test_sigmoid_focal_loss_default_reduction_is_none() -> None:
    assert xr.sigmoid_focal_loss(Z, Y).shape == Z.shape


@pytest.mark.parametrize("shape", [(), (0,), (5,), (2, 3, 4)])
def test_sigmoid_focal_loss_reduction_shapes(shape: tuple[int, ...]) -> None:
    z, y = np.full(shape, 0.3), np.full(shape, 1.0)
    assert xr.sigmoid_focal_loss(z, y, reduction="none").shape == shape
    assert xr.sigmoid_focal_loss(z, y, reduction="mean").shape == ()
    assert xr.sigmoid_focal_loss(z, y, reduction="sum").shape == ()


def test_sigmoid_focal_loss_mean_and_sum() -> None:
    per_elem = mp_focal(Z, Y)
    np.testing.assert_allclose(
        xr.sigmoid_focal_loss(Z, Y, reduction="sum"), per_elem.sum(), rtol=RTOL64, atol=0
    )
    np.testing.assert_allclose(
        xr.sigmoid_focal_loss(Z, Y, reduction="mean"), per_elem.sum() / 12, rtol=RTOL64, atol=0
    )


def test_sigmoid_focal_loss_empty_batch() -> None:
    assert np.isnan(xr.sigmoid_focal_loss(np.zeros(0), np.zeros(0), reduction="mean"))
    np.testing.assert_allclose(
        xr.sigmoid_focal_loss(np.zeros(0), np.zeros(0), reduction="sum"), 0.0, rtol=0, atol=0
    )


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
def test_sigmoid_focal_loss_dtype_rules(dtype: Any, expected: Any, reduction: str) -> None:
    z = np.array([[1, 0], [0, 1]], dtype=dtype)
    y = np.array([[1.0, 0.0], [0.5, 1.0]])
    assert xr.sigmoid_focal_loss(z, y, reduction=reduction).dtype == expected


def test_sigmoid_focal_loss_float32_values() -> None:
    z32, y32 = Z.astype(np.float32), Y.astype(np.float32)
    out = xr.sigmoid_focal_loss(z32, y32, gamma=1.5)
    np.testing.assert_allclose(out, mp_focal(z32, y32, gamma=1.5), rtol=RTOL32, atol=0)
