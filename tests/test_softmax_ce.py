"""Unit tests of softmax_cross_entropy and softmax_cross_entropy_grad.

Expected values come from the docstring's definition evaluated with mpmath at 50 significant
digits (`mp_reference`): with $-\\log p_c = \\operatorname{logsumexp}(z) - z_c$, the loss of a
position is $\\sum_c a_c (-\\log p_c)$ and its gradient $p \\sum_c a_c - a$, where
$a_c = (1 - \\varepsilon) w_y [c = y] + \\varepsilon w_c / C$ for a class index $y$ and
$a_c = w_c ((1 - \\varepsilon) t_c + \\varepsilon / C)$ for probabilities $t$; "mean" divides by
$\\sum_n w_{y_n}$ over non-ignored positions (class indices) or by the number of positions
(probabilities). A few cases are closed forms, said where they appear.
pytest runs with ``filterwarnings = error``: masks, infinities and NaN must not warn.
"""

from __future__ import annotations

import itertools
from typing import Any

import mpmath
import numpy as np
import pytest

import xentref as xr
import xentref._softmax_ce as sce

RTOL64 = 1e-14  # a handful of ulps on sums of a few terms
RTOL32 = 1e-5

LOGITS = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3], [1.0, 1.0, 1.0]])  # docstring example
INDEX = np.array([0, 1, 2])


def _neglogp(row: Any) -> list[Any]:
    """-log softmax(row)_c = logsumexp(row) - row_c, as mpmath numbers (+inf for a -inf logit)."""
    zs = [v if isinstance(v, mpmath.mpf) else mpmath.mpf(float(v)) for v in row]
    lse = mpmath.log(mpmath.fsum(mpmath.exp(v) for v in zs))
    return [lse - v for v in zs]


def mp_reference(
    logits: Any,
    target: Any,
    *,
    weight: Any = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
    softcap: float | None = None,
    reduction: str = "mean",
) -> tuple[Any, np.ndarray]:
    """(loss, grad) of the docstring's definition for (N, C) logits, mpmath at 50 digits.

    With `softcap` c the logits are c tanh(z / c) first (the gradient times 1 - tanh^2); with
    `z_loss` the position adds z_loss * w * lse**2 (w = w_y, or 1 for probabilities) and its
    gradient 2 z_loss w lse p.
    """
    z = np.asarray(logits, dtype=np.float64)
    n, c = z.shape
    t = np.asarray(target)
    soft = t.shape == z.shape
    w = np.ones(c) if weight is None else np.asarray(weight, dtype=np.float64)
    eps = label_smoothing
    with mpmath.workdps(50):
        losses, grads, denominator = [], [], mpmath.mpf(0)
        for i in range(n):
            if soft:
                a = [
                    mpmath.mpf(float(w[k]))
                    * ((1 - mpmath.mpf(eps)) * mpmath.mpf(float(t[i, k])) + mpmath.mpf(eps) / c)
                    for k in range(c)
                ]
                denominator += 1
            elif t[i] == ignore_index:
                losses.append(mpmath.mpf(0))
                grads.append([0.0] * c)
                continue
            else:
                y = int(t[i])
                a = [mpmath.mpf(eps) * mpmath.mpf(float(w[k])) / c for k in range(c)]
                a[y] += (1 - mpmath.mpf(eps)) * mpmath.mpf(float(w[y]))
                denominator += mpmath.mpf(float(w[y]))
            w_pos = mpmath.mpf(1) if soft else mpmath.mpf(float(w[int(t[i])]))
            row, slope = [mpmath.mpf(float(v)) for v in z[i]], [mpmath.mpf(1)] * c
            if softcap is not None:
                cap = mpmath.mpf(softcap)
                slope = [1 - mpmath.tanh(v / cap) ** 2 for v in row]
                row = [cap * mpmath.tanh(v / cap) for v in row]
            nl = _neglogp(row)
            lse = mpmath.log(mpmath.fsum(mpmath.exp(v) for v in row))
            loss = mpmath.fsum(ak * lk for ak, lk in zip(a, nl, strict=True) if ak != 0)
            zl = mpmath.mpf(z_loss) * w_pos
            losses.append(loss + zl * lse**2 if zl != 0 else loss)
            p = [mpmath.exp(-lk) for lk in nl]
            total = mpmath.fsum(a) + (2 * zl * lse if zl != 0 else 0)
            grads.append([(p[k] * total - a[k]) * slope[k] for k in range(c)])
        if reduction == "none":
            return np.array([float(v) for v in losses]), np.array(grads, dtype=float)
        total_loss = mpmath.fsum(losses)
        g = np.array([[float(v) for v in row] for row in grads])
        if reduction == "sum":
            return float(total_loss), g
        return float(total_loss / denominator), g / float(denominator)


# ------------------------------------------------------------------------------------------
# Values: every option, against the definition
# ------------------------------------------------------------------------------------------

_RNG = np.random.default_rng(20240601)
_Z = _RNG.normal(scale=2.0, size=(6, 4))
_Y = np.array([0, 3, 1, 1, 2, 0])
_Y_IGNORED = np.array([0, -100, 1, 1, -100, 0])
_T = _RNG.dirichlet(np.ones(4), size=6)
_W = np.array([0.5, 2.0, 1.0, 0.25])

_COMBOS = list(
    itertools.product(
        ["index", "ignored", "soft"],
        [None, _W],
        [0.0, 0.1, 1.0],
        ["none", "mean", "sum"],
    )
)


@pytest.mark.parametrize(("kind", "weight", "label_smoothing", "reduction"), _COMBOS)
def test_softmax_cross_entropy_matches_definition(
    kind: str, weight: Any, label_smoothing: float, reduction: str
) -> None:
    target = {"index": _Y, "ignored": _Y_IGNORED, "soft": _T}[kind]
    kw = {"weight": weight, "label_smoothing": label_smoothing, "reduction": reduction}
    expected, _ = mp_reference(_Z, target, **kw)
    np.testing.assert_allclose(
        xr.softmax_cross_entropy(_Z, target, **kw), expected, rtol=RTOL64, atol=0
    )


@pytest.mark.parametrize(("kind", "weight", "label_smoothing", "reduction"), _COMBOS)
def test_softmax_cross_entropy_grad_matches_definition(
    kind: str, weight: Any, label_smoothing: float, reduction: str
) -> None:
    target = {"index": _Y, "ignored": _Y_IGNORED, "soft": _T}[kind]
    kw = {"weight": weight, "label_smoothing": label_smoothing, "reduction": reduction}
    _, expected = mp_reference(_Z, target, **kw)
    got = xr.softmax_cross_entropy_grad(_Z, target, **kw)
    assert got.shape == _Z.shape
    np.testing.assert_allclose(got, expected, rtol=RTOL64, atol=1e-16)


def test_softmax_cross_entropy_docstring_values() -> None:
    # Row losses logsumexp(z) - z_y (mpmath): 0.41703002, 0.22004952, log 3 = 1.09861229.
    expected, _ = mp_reference(LOGITS, INDEX, reduction="none")
    out = xr.softmax_cross_entropy(LOGITS, INDEX, reduction="none")
    np.testing.assert_allclose(out, expected, rtol=RTOL64, atol=0)
    np.testing.assert_allclose(out[2], np.log(3.0), rtol=RTOL64, atol=0)  # equal logits: log C


def test_softmax_cross_entropy_mean_is_sum_over_count() -> None:
    none = xr.softmax_cross_entropy(LOGITS, INDEX, reduction="none")
    np.testing.assert_allclose(
        xr.softmax_cross_entropy(LOGITS, INDEX), none.sum() / 3, rtol=RTOL64, atol=0
    )
    np.testing.assert_allclose(
        xr.softmax_cross_entropy(LOGITS, INDEX, reduction="sum"), none.sum(), rtol=RTOL64, atol=0
    )


def test_softmax_cross_entropy_weighted_mean_divides_by_target_weights() -> None:
    # Docstring: weight [1, 2, 3] with targets [0, 1, 2]: sum_n w_yn l_n / (1 + 2 + 3).
    w = np.array([1.0, 2.0, 3.0])
    none = xr.softmax_cross_entropy(LOGITS, INDEX, reduction="none")
    expected = np.sum(w * none) / 6.0
    np.testing.assert_allclose(
        xr.softmax_cross_entropy(LOGITS, INDEX, weight=w), expected, rtol=RTOL64, atol=0
    )


def test_softmax_cross_entropy_label_smoothing_zero_is_default() -> None:
    np.testing.assert_allclose(
        xr.softmax_cross_entropy(_Z, _Y, label_smoothing=0.0, reduction="none"),
        xr.softmax_cross_entropy(_Z, _Y, reduction="none"),
        rtol=0,
        atol=0,
    )


def test_softmax_cross_entropy_label_smoothing_one_is_uniform_target() -> None:
    # eps = 1: the target is uniform whatever y, so the loss is logsumexp(z) - mean(z).
    out = xr.softmax_cross_entropy(_Z, _Y, label_smoothing=1.0, reduction="none")
    expected = [float(mpmath.fsum(_neglogp(row)) / 4) for row in _Z]
    np.testing.assert_allclose(out, expected, rtol=RTOL64, atol=0)
    other = xr.softmax_cross_entropy(_Z, (_Y + 1) % 4, label_smoothing=1.0, reduction="none")
    np.testing.assert_allclose(other, out, rtol=RTOL64, atol=0)


def test_softmax_cross_entropy_label_smoothing_equals_soft_target() -> None:
    eps = 0.2
    smoothed = (1 - eps) * np.eye(4)[_Y] + eps / 4
    np.testing.assert_allclose(
        xr.softmax_cross_entropy(_Z, _Y, label_smoothing=eps, reduction="none"),
        xr.softmax_cross_entropy(_Z, smoothed, reduction="none"),
        rtol=RTOL64,
        atol=0,
    )


def test_softmax_cross_entropy_one_hot_probability_equals_index_unweighted() -> None:
    onehot = np.eye(4)[_Y]
    for reduction in ("none", "mean", "sum"):
        np.testing.assert_allclose(
            xr.softmax_cross_entropy(_Z, onehot, reduction=reduction),
            xr.softmax_cross_entropy(_Z, _Y, reduction=reduction),
            rtol=RTOL64,
            atol=0,
        )


def test_softmax_cross_entropy_weighted_probability_mean_divides_by_count() -> None:
    # Documented (pytorch/pytorch#107680): same per-position losses, different denominators.
    onehot = np.eye(4)[_Y]
    per_position = xr.softmax_cross_entropy(_Z, _Y, weight=_W, reduction="none")
    np.testing.assert_allclose(
        xr.softmax_cross_entropy(_Z, onehot, weight=_W, reduction="none"),
        per_position,
        rtol=RTOL64,
        atol=0,
    )
    np.testing.assert_allclose(
        xr.softmax_cross_entropy(_Z, onehot, weight=_W), per_position.sum() / 6, rtol=RTOL64, atol=0
    )
    np.testing.assert_allclose(
        xr.softmax_cross_entropy(_Z, _Y, weight=_W),
        per_position.sum() / _W[_Y].sum(),
        rtol=RTOL64,
        atol=0,
    )


def test_softmax_cross_entropy_whole_float_indices_accepted() -> None:
    np.testing.assert_allclose(
        xr.softmax_cross_entropy(LOGITS, INDEX.astype(float), reduction="none"),
        xr.softmax_cross_entropy(LOGITS, INDEX, reduction="none"),
        rtol=0,
        atol=0,
    )


@pytest.mark.parametrize(
    ("target", "expected"), [(0, "log1p(exp(-700))"), (1, "700 + log1p(exp(-700))")]
)
def test_softmax_cross_entropy_huge_logits_keep_digits(target: int, expected: str) -> None:
    # [700, 0]: target 0 costs log1p(e^-700) = 9.86e-305 (naive: 0); target 1 costs ~700.
    with mpmath.workdps(50):
        value = float(mpmath.log1p(mpmath.exp(-700)) + (700 if target == 1 else 0))
    out = xr.softmax_cross_entropy([[700.0, 0.0]], [target])
    np.testing.assert_allclose(out, value, rtol=RTOL64, atol=0)


def test_softmax_cross_entropy_grad_is_softmax_minus_one_hot() -> None:
    # Closed form: d/dz (logsumexp(z) - z_y) = softmax(z) - e_y; "mean" divides by N.
    onehot = np.eye(3)[INDEX]
    expected = xr.softmax(LOGITS) - onehot
    np.testing.assert_allclose(
        xr.softmax_cross_entropy_grad(LOGITS, INDEX, reduction="sum"),
        expected,
        rtol=1e-15,
        atol=1e-16,
    )
    np.testing.assert_allclose(
        xr.softmax_cross_entropy_grad(LOGITS, INDEX, reduction="none"),
        expected,
        rtol=1e-15,
        atol=1e-16,
    )
    np.testing.assert_allclose(
        xr.softmax_cross_entropy_grad(LOGITS, INDEX), expected / 3, rtol=1e-15, atol=1e-16
    )


def test_softmax_cross_entropy_grad_huge_logits_finite() -> None:
    g = xr.softmax_cross_entropy_grad([[700.0, 0.0], [-700.0, 700.0]], [0, 0], reduction="sum")
    # Row 0: p - e_0 = (-e^-700, e^-700) up to 1 / (1 + e^-700).
    # Row 1: p = (e^-1400, 1), so p - e_0 = (e^-1400 - 1, 1) = (-1, 1) in float64.
    with mpmath.workdps(50):
        tiny = float(mpmath.exp(-700) / (1 + mpmath.exp(-700)))
    np.testing.assert_allclose(g, [[-tiny, tiny], [-1.0, 1.0]], rtol=1e-15, atol=0)


# ------------------------------------------------------------------------------------------
# ignore_index, empty batches, zero weights
# ------------------------------------------------------------------------------------------


def test_softmax_cross_entropy_ignore_index_default_minus_100() -> None:
    target = np.array([0, -100, 2])
    out = xr.softmax_cross_entropy(LOGITS, target, reduction="none")
    full = xr.softmax_cross_entropy(LOGITS, INDEX, reduction="none")
    np.testing.assert_allclose(out, [full[0], 0.0, full[2]], rtol=0, atol=0)
    np.testing.assert_allclose(
        xr.softmax_cross_entropy(LOGITS, target), (full[0] + full[2]) / 2, rtol=RTOL64, atol=0
    )
    g = xr.softmax_cross_entropy_grad(LOGITS, target)
    np.testing.assert_allclose(g[1], 0.0, rtol=0, atol=0)
    np.testing.assert_allclose(
        g[[0, 2]], xr.softmax_cross_entropy_grad(LOGITS[[0, 2]], INDEX[[0, 2]]), rtol=1e-15, atol=0
    )


def test_softmax_cross_entropy_ignore_index_can_be_a_valid_class() -> None:
    # ignore_index=1: the position whose target is class 1 is dropped, the others are not.
    out = xr.softmax_cross_entropy(LOGITS, INDEX, ignore_index=1, reduction="none")
    full = xr.softmax_cross_entropy(LOGITS, INDEX, reduction="none")
    np.testing.assert_allclose(out, [full[0], 0.0, full[2]], rtol=0, atol=0)
    np.testing.assert_allclose(
        xr.softmax_cross_entropy(LOGITS, INDEX, ignore_index=1),
        (full[0] + full[2]) / 2,
        rtol=RTOL64,
        atol=0,
    )
    np.testing.assert_allclose(
        xr.softmax_cross_entropy_grad(LOGITS, INDEX, ignore_index=1)[1], 0.0, rtol=0, atol=0
    )


def test_softmax_cross_entropy_ignored_weighted_mean_excludes_weight() -> None:
    w = np.array([1.0, 2.0, 3.0])
    full = xr.softmax_cross_entropy(LOGITS, INDEX, reduction="none")
    out = xr.softmax_cross_entropy(LOGITS, [0, -100, 2], weight=w)
    np.testing.assert_allclose(out, (1 * full[0] + 3 * full[2]) / 4, rtol=RTOL64, atol=0)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.3])
@pytest.mark.parametrize("weight", [None, [1.0, 2.0, 3.0]])
def test_softmax_cross_entropy_all_ignored(label_smoothing: float, weight: Any) -> None:
    target = np.full(3, -100)
    kw = {"weight": weight, "label_smoothing": label_smoothing}
    assert np.isnan(xr.softmax_cross_entropy(LOGITS, target, **kw))
    np.testing.assert_allclose(
        xr.softmax_cross_entropy(LOGITS, target, reduction="sum", **kw), 0.0, rtol=0, atol=0
    )
    np.testing.assert_allclose(
        xr.softmax_cross_entropy(LOGITS, target, reduction="none", **kw), 0.0, rtol=0, atol=0
    )
    for reduction in ("mean", "sum", "none"):
        g = xr.softmax_cross_entropy_grad(LOGITS, target, reduction=reduction, **kw)
        np.testing.assert_allclose(g, 0.0, rtol=0, atol=0)


def test_softmax_cross_entropy_zero_total_weight() -> None:
    # Every target is class 0, whose weight is 0: "mean" is 0 / 0 = NaN, "sum" 0, grad 0.
    target, w = np.zeros(3, dtype=int), [0.0, 1.0, 1.0]
    assert np.isnan(xr.softmax_cross_entropy(LOGITS, target, weight=w))
    np.testing.assert_allclose(
        xr.softmax_cross_entropy(LOGITS, target, weight=w, reduction="sum"), 0.0, rtol=0, atol=0
    )
    np.testing.assert_allclose(
        xr.softmax_cross_entropy_grad(LOGITS, target, weight=w), 0.0, rtol=0, atol=0
    )


def test_softmax_cross_entropy_zero_total_weight_with_smoothing_is_nan() -> None:
    out = xr.softmax_cross_entropy(
        LOGITS, np.zeros(3, dtype=int), weight=[0.0, 1.0, 1.0], label_smoothing=0.1
    )
    assert np.isnan(out)


@pytest.mark.parametrize("soft", [False, True])
def test_softmax_cross_entropy_empty_batch(soft: bool) -> None:
    z = np.zeros((0, 3))
    target = np.zeros((0, 3)) if soft else np.zeros((0,), dtype=int)
    assert np.isnan(xr.softmax_cross_entropy(z, target))
    np.testing.assert_allclose(
        xr.softmax_cross_entropy(z, target, reduction="sum"), 0.0, rtol=0, atol=0
    )
    assert xr.softmax_cross_entropy(z, target, reduction="none").shape == (0,)
    for reduction in ("mean", "sum", "none"):
        assert xr.softmax_cross_entropy_grad(z, target, reduction=reduction).shape == (0, 3)


# ------------------------------------------------------------------------------------------
# -inf masks, infinities, NaN
# ------------------------------------------------------------------------------------------


def test_softmax_cross_entropy_masked_class_is_removed() -> None:
    # A -inf logit is a class that does not exist: same loss as without its column.
    z = np.array([[2.0, -np.inf, 0.5, 1.0], [-np.inf, 0.0, 3.0, -1.0]])
    y = np.array([2, 1])
    kept = [[0, 2, 3], [1, 2, 3]]
    out = xr.softmax_cross_entropy(z, y, reduction="none")
    expected = [
        xr.softmax_cross_entropy(z[0, kept[0]], 1),  # class 2 is column 1 of the kept ones
        xr.softmax_cross_entropy(z[1, kept[1]], 0),
    ]
    np.testing.assert_allclose(out, expected, rtol=1e-15, atol=0)
    g = xr.softmax_cross_entropy_grad(z, y, reduction="none")
    np.testing.assert_allclose([g[0, 1], g[1, 0]], 0.0, rtol=0, atol=0)  # exactly 0
    np.testing.assert_allclose(
        g[0, kept[0]], xr.softmax_cross_entropy_grad(z[0, kept[0]], 1), rtol=1e-15, atol=0
    )


def test_softmax_cross_entropy_soft_zero_on_masked_class_is_finite() -> None:
    # Documented: a probability target of 0 on a -inf class costs 0 (PyTorch gives NaN).
    z = np.array([[2.0, -np.inf, 0.5]])
    t = np.array([[0.25, 0.0, 0.75]])
    out = xr.softmax_cross_entropy(z, t)
    expected = xr.softmax_cross_entropy(z[:, [0, 2]], t[:, [0, 2]])
    assert np.isfinite(out)
    np.testing.assert_allclose(out, expected, rtol=1e-15, atol=0)
    g = xr.softmax_cross_entropy_grad(z, t)
    np.testing.assert_allclose(g[0, 1], 0.0, rtol=0, atol=0)
    np.testing.assert_allclose(
        g[:, [0, 2]], xr.softmax_cross_entropy_grad(z[:, [0, 2]], t[:, [0, 2]]), rtol=1e-15, atol=0
    )


def test_softmax_cross_entropy_target_on_masked_class_is_inf() -> None:
    z = np.array([[2.0, -np.inf, 0.5]])
    np.testing.assert_allclose(xr.softmax_cross_entropy(z, [1]), np.inf, rtol=0, atol=0)
    np.testing.assert_allclose(
        xr.softmax_cross_entropy(z, [[0.5, 0.5, 0.0]]), np.inf, rtol=0, atol=0
    )
    # Label smoothing puts eps / C on the masked class too: -log 0 = inf, as in PyTorch.
    np.testing.assert_allclose(
        xr.softmax_cross_entropy(z, [0], label_smoothing=0.1), np.inf, rtol=0, atol=0
    )


def test_softmax_cross_entropy_masked_class_with_zero_weight_and_smoothing_is_finite() -> None:
    # eps w_c / C = 0 on the masked class when its weight is 0. Closed form with eps = 0.3,
    # w = (1, 0, 1), y = 0: a = (0.7 + 0.1, 0, 0.1), loss = 0.8 (-log p_0) + 0.1 (-log p_2),
    # p over the two unmasked classes; "sum" so no denominator.
    z = np.array([[2.0, -np.inf, 0.5]])
    out = xr.softmax_cross_entropy(
        z, [0], weight=[1.0, 0.0, 1.0], label_smoothing=0.3, reduction="sum"
    )
    with mpmath.workdps(50):
        nl = _neglogp(z[0, [0, 2]])
        expected = float(mpmath.mpf(0.8) * nl[0] + mpmath.mpf(0.1) * nl[1])
    np.testing.assert_allclose(out, expected, rtol=RTOL64, atol=0)


def test_softmax_cross_entropy_nan_logit_poisons_only_its_row() -> None:
    z = LOGITS.copy()
    z[1, 2] = np.nan
    out = xr.softmax_cross_entropy(z, INDEX, reduction="none")
    full = xr.softmax_cross_entropy(LOGITS, INDEX, reduction="none")
    assert np.isnan(out[1])
    np.testing.assert_allclose(out[[0, 2]], full[[0, 2]], rtol=0, atol=0)
    assert np.isnan(xr.softmax_cross_entropy(z, INDEX))
    g = xr.softmax_cross_entropy_grad(z, INDEX, reduction="none")
    assert np.isnan(g[1]).all()
    assert np.isfinite(g[[0, 2]]).all()


def test_softmax_cross_entropy_nan_logit_in_ignored_row_costs_nothing() -> None:
    z = LOGITS.copy()
    z[1] = np.nan
    target = np.array([0, -100, 2])
    expected = xr.softmax_cross_entropy(LOGITS, target)
    np.testing.assert_allclose(xr.softmax_cross_entropy(z, target), expected, rtol=0, atol=0)
    np.testing.assert_allclose(xr.softmax_cross_entropy_grad(z, target)[1], 0.0, rtol=0, atol=0)


def test_softmax_cross_entropy_nan_soft_target_without_warning() -> None:
    t = np.array([[0.5, 0.5, 0.0], [np.nan, 0.5, 0.5], [0.2, 0.3, 0.5]])
    out = xr.softmax_cross_entropy(LOGITS, t, reduction="none")
    assert np.isnan(out[1])
    assert np.isfinite(out[[0, 2]]).all()


def test_softmax_cross_entropy_all_masked_row_is_nan_without_warning() -> None:
    out = xr.softmax_cross_entropy([[-np.inf, -np.inf], [0.0, 0.0]], [0, 0], reduction="none")
    assert np.isnan(out[0])
    np.testing.assert_allclose(out[1], np.log(2.0), rtol=RTOL64, atol=0)


# ------------------------------------------------------------------------------------------
# Axis handling and shapes
# ------------------------------------------------------------------------------------------

_Z4 = _RNG.normal(size=(2, 3, 4, 5))  # (N, C, d1, d2), PyTorch's layout
_Y4 = _RNG.integers(0, 3, size=(2, 4, 5))
_T4 = np.moveaxis(_RNG.dirichlet(np.ones(3), size=(2, 4, 5)), -1, 1)


@pytest.mark.parametrize("axis", [1, -3])
@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_softmax_cross_entropy_class_axis_one(axis: int, soft: bool, reduction: str) -> None:
    target = _T4 if soft else _Y4
    last_target = np.moveaxis(_T4, 1, -1) if soft else _Y4
    out = xr.softmax_cross_entropy(_Z4, target, axis=axis, reduction=reduction)
    expected = xr.softmax_cross_entropy(np.moveaxis(_Z4, 1, -1), last_target, reduction=reduction)
    assert out.shape == ((2, 4, 5) if reduction == "none" else ())
    np.testing.assert_allclose(out, expected, rtol=1e-15, atol=0)
    g = xr.softmax_cross_entropy_grad(_Z4, target, axis=axis, reduction=reduction)
    g_last = xr.softmax_cross_entropy_grad(
        np.moveaxis(_Z4, 1, -1), last_target, reduction=reduction
    )
    assert g.shape == _Z4.shape
    np.testing.assert_allclose(g, np.moveaxis(g_last, -1, 1), rtol=1e-15, atol=0)


def test_softmax_cross_entropy_class_axis_matches_definition() -> None:
    # Position (n, d1, d2) is row (n, :, d1, d2).
    out = xr.softmax_cross_entropy(_Z4, _Y4, axis=1, reduction="none")
    rows = np.moveaxis(_Z4, 1, -1).reshape(-1, 3)
    expected, _ = mp_reference(rows, _Y4.reshape(-1), reduction="none")
    np.testing.assert_allclose(out, expected.reshape(2, 4, 5), rtol=RTOL64, atol=0)


@pytest.mark.parametrize("axis", [-1, 2])
def test_softmax_cross_entropy_default_axis_is_last(axis: int) -> None:
    z = _RNG.normal(size=(2, 4, 3))
    y = _RNG.integers(0, 3, size=(2, 4))
    np.testing.assert_allclose(
        xr.softmax_cross_entropy(z, y, axis=axis, reduction="none"),
        xr.softmax_cross_entropy(z, y, reduction="none"),
        rtol=0,
        atol=0,
    )


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_softmax_cross_entropy_unbatched(reduction: str) -> None:
    # A single (C,) row with a scalar target: 0-d for every reduction, equal to the batched row.
    out = xr.softmax_cross_entropy(LOGITS[1], 1, reduction=reduction)
    assert np.ndim(out) == 0
    np.testing.assert_allclose(
        out, xr.softmax_cross_entropy(LOGITS[1:2], [1], reduction="none")[0], rtol=0, atol=0
    )
    soft = xr.softmax_cross_entropy(LOGITS[1], [0.0, 1.0, 0.0], reduction=reduction)
    np.testing.assert_allclose(soft, out, rtol=RTOL64, atol=0)
    g = xr.softmax_cross_entropy_grad(LOGITS[1], 1, reduction=reduction)
    assert g.shape == (3,)
    np.testing.assert_allclose(g, xr.softmax(LOGITS[1]) - [0.0, 1.0, 0.0], rtol=1e-15, atol=1e-16)


# ------------------------------------------------------------------------------------------
# dtype rules
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [
        (np.float64, np.float64),
        (np.float32, np.float32),
        (np.float16, np.float32),
        (np.int64, np.float64),
        (np.int32, np.float64),
    ],
)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("soft", [False, True])
def test_softmax_cross_entropy_dtype_rules(
    dtype: Any, expected: Any, reduction: str, soft: bool
) -> None:
    z = np.array([[2, 1, 0], [0, 3, 1]], dtype=dtype)
    target = np.array([[0.5, 0.5, 0.0], [0.0, 1.0, 0.0]]) if soft else np.array([0, 1])
    kw = {"reduction": reduction, "weight": np.array([1.0, 2.0, 0.5]), "label_smoothing": 0.1}
    assert xr.softmax_cross_entropy(z, target, **kw).dtype == expected
    assert xr.softmax_cross_entropy_grad(z, target, **kw).dtype == expected


def test_softmax_cross_entropy_float32_values() -> None:
    z32 = _Z.astype(np.float32)
    for kind, target in (("index", _Y), ("soft", _T.astype(np.float32))):
        expected, expected_grad = mp_reference(
            z32, target, weight=_W, label_smoothing=0.1, reduction="none"
        )
        out = xr.softmax_cross_entropy(
            z32, target, weight=_W, label_smoothing=0.1, reduction="none"
        )
        np.testing.assert_allclose(out, expected, rtol=RTOL32, atol=0, err_msg=kind)
        g = xr.softmax_cross_entropy_grad(
            z32, target, weight=_W, label_smoothing=0.1, reduction="none"
        )
        np.testing.assert_allclose(g, expected_grad, rtol=RTOL32, atol=1e-7, err_msg=kind)


# ------------------------------------------------------------------------------------------
# Soft-capping and z-loss: every option, hard inputs, central differences, bad input
# ------------------------------------------------------------------------------------------

_LM_OPTIONS = [
    {"z_loss": 1e-2},
    {"softcap": 2.0},
    {"z_loss": 1e-3, "softcap": 1.5},
]
_LM_COMBOS = [
    (kind, weight, eps, reduction, lm)
    for (kind, weight, eps, reduction) in _COMBOS
    for lm in _LM_OPTIONS
    if eps != 1.0
]


@pytest.mark.parametrize(("kind", "weight", "label_smoothing", "reduction", "lm"), _LM_COMBOS)
def test_softmax_cross_entropy_softcap_zloss_match_definition(
    kind: str, weight: Any, label_smoothing: float, reduction: str, lm: dict[str, float]
) -> None:
    target = {"index": _Y, "ignored": _Y_IGNORED, "soft": _T}[kind]
    kw = {"weight": weight, "label_smoothing": label_smoothing, "reduction": reduction, **lm}
    expected, expected_grad = mp_reference(_Z, target, **kw)
    got = xr.softmax_cross_entropy(_Z, target, **kw)
    np.testing.assert_allclose(got, expected, rtol=RTOL64, atol=0)
    grad = xr.softmax_cross_entropy_grad(_Z, target, **kw)
    np.testing.assert_allclose(grad, expected_grad, rtol=RTOL64, atol=1e-16)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    ("logits", "kw"),
    [
        # logits of 1e4 capped at 30: the capped logits are within 1e-300 of +-30
        ([[1e4, -1e4, 3.0, 0.0, 29.0]], {"softcap": 30.0}),
        ([[1e4, 9e3, -2e4, 5.0, 0.0]], {"softcap": 30.0, "z_loss": 1e-4}),
        # z-loss at a log-normaliser of 1e3: the z-term, 1e6 * z_loss, dominates
        ([[1e3, 999.0, 990.0, 0.0, -1e3]], {"z_loss": 1e-4}),
        ([[1e3, 1e3, 1e3, 1e3, 1e3]], {"z_loss": 1.0}),
    ],
)
@pytest.mark.parametrize("target", [0, 1, 3])
def test_softmax_cross_entropy_softcap_zloss_hard_inputs_against_mpmath(
    logits: list[list[float]], kw: dict[str, float], target: int, dtype: Any
) -> None:
    r"""The oracle's bounds: 1e-13 relative in float64; 2e-6 in float32, times the condition.

    In float32 the capped logits $z' = c \tanh(z / c)$ are themselves rounded to float32, so
    the float32 bound is scaled by the loss's condition number in $z'$,
    $\kappa = \sum_c |z'_c\, \partial\ell / \partial z'_c| / \ell$ (45 for the first case).
    """
    z = np.array(logits, dtype=dtype)
    y = np.array([target])
    expected, expected_grad = mp_reference(z.astype(np.float64), y, reduction="sum", **kw)
    rtol = 1e-13
    if dtype == np.float32:
        z_cap = z.astype(np.float64)
        if "softcap" in kw:
            z_cap = kw["softcap"] * np.tanh(z_cap / kw["softcap"])
        _, g_cap = mp_reference(z_cap, y, reduction="sum", z_loss=kw.get("z_loss", 0.0))
        rtol = 2e-6 * max(1.0, float(np.sum(np.abs(z_cap * g_cap)) / abs(expected)))
    got = xr.softmax_cross_entropy(z, y, reduction="sum", **kw)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=0)
    grad = xr.softmax_cross_entropy_grad(z, y, reduction="sum", **kw)
    scale = np.max(np.abs(expected_grad))
    np.testing.assert_allclose(grad, expected_grad, rtol=rtol, atol=rtol * scale)


@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("lm", _LM_OPTIONS)
def test_softmax_cross_entropy_grad_softcap_zloss_central_differences(
    soft: bool, lm: dict[str, float]
) -> None:
    rng = np.random.default_rng(11)
    z = rng.normal(scale=2.0, size=(3, 5))
    target = rng.dirichlet(np.ones(5), size=3) if soft else np.array([1, -100, 4])
    kw = {"weight": np.array([1.0, 0.5, 2.0, 1.5, 0.25]), "label_smoothing": 0.1, **lm}
    h = 1e-6
    numeric = np.zeros_like(z)
    for idx in np.ndindex(z.shape):
        up, down = z.copy(), z.copy()
        up[idx] += h
        down[idx] -= h
        f_up = xr.softmax_cross_entropy(up, target, **kw)
        f_down = xr.softmax_cross_entropy(down, target, **kw)
        numeric[idx] = (f_up - f_down) / (2 * h)
    np.testing.assert_allclose(
        xr.softmax_cross_entropy_grad(z, target, **kw), numeric, rtol=1e-6, atol=1e-9
    )


def test_softmax_cross_entropy_zloss_is_weighted_per_position() -> None:
    """ "sum" over micro-batches over the global "mean" denominator is the global mean."""
    w = np.array([0.5, 2.0, 1.0, 0.25])
    kw = {"weight": w, "z_loss": 1e-2, "label_smoothing": 0.1}
    whole = xr.softmax_cross_entropy(_Z, _Y_IGNORED, **kw)
    parts = [slice(0, 2), slice(2, 3), slice(3, 6)]
    total = sum(
        xr.softmax_cross_entropy(_Z[s], _Y_IGNORED[s], reduction="sum", **kw) for s in parts
    )
    denominator = np.sum(np.where(_Y_IGNORED >= 0, w[np.maximum(_Y_IGNORED, 0)], 0))
    np.testing.assert_allclose(total / denominator, whole, rtol=1e-15, atol=0)
    ignored = xr.softmax_cross_entropy(_Z, _Y_IGNORED, reduction="none", **kw)
    np.testing.assert_array_equal(ignored[_Y_IGNORED < 0], 0.0)


def test_softmax_cross_entropy_softcap_turns_a_mask_into_minus_c() -> None:
    z = np.array([[2.0, -np.inf, 0.5]])
    capped = np.array([[2.0, -3.0, 0.5]])
    capped = 3.0 * np.tanh(np.where(np.isinf(z), -1e300, z) / 3.0)
    np.testing.assert_allclose(
        xr.softmax_cross_entropy(z, [0], softcap=3.0),
        xr.softmax_cross_entropy(capped, [0]),
        rtol=1e-15,
        atol=0,
    )


@pytest.mark.parametrize(
    ("kw", "exc", "phrase"),
    [
        ({"z_loss": -1e-4}, ValueError, "`z_loss` must be a non-negative finite number"),
        ({"z_loss": np.inf}, ValueError, "`z_loss` must be a non-negative finite number"),
        ({"z_loss": np.nan}, ValueError, "`z_loss`"),
        ({"z_loss": "1e-4"}, TypeError, "`z_loss` must be a real number"),
        ({"softcap": 0.0}, ValueError, "`softcap` must be a positive finite number"),
        ({"softcap": -30.0}, ValueError, "`softcap` must be a positive finite number"),
        ({"softcap": np.inf}, ValueError, "`softcap` must be a positive finite number"),
        ({"softcap": np.nan}, ValueError, "`softcap`"),
        ({"softcap": [30.0]}, TypeError, "`softcap` must be a real number"),
    ],
)
@pytest.mark.parametrize("function", [xr.softmax_cross_entropy, xr.softmax_cross_entropy_grad])
def test_softmax_cross_entropy_softcap_zloss_bad_input(
    function: Any, kw: dict[str, Any], exc: type[Exception], phrase: str
) -> None:
    with pytest.raises(exc, match=phrase.replace("(", r"\(")):
        function(LOGITS, INDEX, **kw)


# ------------------------------------------------------------------------------------------
# The blocked path: a tiny BLOCK_BYTES must give bit-identical results
# ------------------------------------------------------------------------------------------

_BZ = _RNG.normal(scale=3.0, size=(37, 5))
_BZ[4, 2] = -np.inf
_BY = _RNG.integers(0, 5, size=37)
_BY[[3, 30]] = -100
_BT = _RNG.dirichlet(np.ones(5), size=37)
_BT[4] = [0.5, 0.5, 0.0, 0.0, 0.0]  # 0 on the masked class
_BW = np.array([1.0, 0.5, 2.0, 0.0, 3.0])

_BLOCK_COMBOS = [
    {},
    {"reduction": "none"},
    {"reduction": "sum"},
    {"weight": _BW},
    {"label_smoothing": 0.25},
    {"weight": _BW, "label_smoothing": 0.25, "reduction": "none"},
    {"weight": _BW, "label_smoothing": 1.0, "reduction": "sum"},
    {"ignore_index": 2},
    {"z_loss": 1e-2, "softcap": 2.0, "weight": _BW, "label_smoothing": 0.25},
    {"z_loss": 1e-2, "reduction": "none"},
]


def _block_inputs(soft: bool, dtype: Any, kw: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    z = _BZ.astype(dtype)
    if soft:
        return z, _BT.astype(dtype)
    y = np.where(_BY == -100, kw.get("ignore_index", -100), _BY)
    return z, y


# Excluded: ignore_index >= 0 with probabilities (an error).
_BLOCK_CASES = [
    (soft, kw)
    for soft in (False, True)
    for kw in _BLOCK_COMBOS
    if not (soft and "ignore_index" in kw)
]


@pytest.mark.parametrize(("soft", "kw"), _BLOCK_CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("block_bytes", [1, 64, 3 * 5 * 8])
def test_softmax_cross_entropy_blocked_path_is_bit_identical(
    monkeypatch: pytest.MonkeyPatch, kw: dict[str, Any], soft: bool, dtype: Any, block_bytes: int
) -> None:
    z, target = _block_inputs(soft, dtype, kw)
    loss = xr.softmax_cross_entropy(z, target, **kw)
    grad = xr.softmax_cross_entropy_grad(z, target, **kw)
    monkeypatch.setattr(sce, "BLOCK_BYTES", block_bytes)
    assert len(sce._row_blocks(37, 5 * np.dtype(dtype).itemsize)) > 1  # really blocked
    # rtol = atol = 0: bit for bit (NaN, inf in the same places).
    np.testing.assert_allclose(xr.softmax_cross_entropy(z, target, **kw), loss, rtol=0, atol=0)
    np.testing.assert_allclose(xr.softmax_cross_entropy_grad(z, target, **kw), grad, rtol=0, atol=0)


@pytest.mark.parametrize(
    ("soft", "kw"),
    [
        (False, {"weight": "w"}),
        (False, {"label_smoothing": 0.05}),
        (False, {}),
        (True, {"weight": "w", "label_smoothing": 0.05}),
    ],
)
def test_softmax_cross_entropy_row_wider_than_block(
    monkeypatch: pytest.MonkeyPatch, soft: bool, kw: dict[str, Any]
) -> None:
    # C = 300 float64 = 2400 bytes per row, budget 64 bytes: one row per block.
    rng = np.random.default_rng(7)
    z = rng.normal(scale=4.0, size=(9, 300))
    target = rng.dirichlet(np.ones(300), size=9) if soft else rng.integers(0, 300, size=9)
    kw = {**kw, "reduction": "none"}
    if "weight" in kw:
        kw["weight"] = rng.uniform(0.1, 2.0, size=300)
    loss = xr.softmax_cross_entropy(z, target, **kw)
    grad = xr.softmax_cross_entropy_grad(z, target, **kw)
    monkeypatch.setattr(sce, "BLOCK_BYTES", 64)
    assert len(sce._row_blocks(9, 300 * 8)) == 9
    np.testing.assert_allclose(xr.softmax_cross_entropy(z, target, **kw), loss, rtol=0, atol=0)
    np.testing.assert_allclose(xr.softmax_cross_entropy_grad(z, target, **kw), grad, rtol=0, atol=0)


@pytest.mark.parametrize("n_classes", [31, 32, 33, 300])  # both block layouts (FEW_CLASSES = 32)
def test_softmax_cross_entropy_blocked_path_weighted_smoothing_is_bit_identical(
    monkeypatch: pytest.MonkeyPatch, n_classes: int
) -> None:
    # Regression: the weighted smoothing term was `d @ w` (BLAS gemv), whose rounding changed
    # with the number of rows in the block, so a row's loss depended on BLOCK_BYTES.
    rng = np.random.default_rng(7)
    z = rng.normal(scale=4.0, size=(64, n_classes))
    y = rng.integers(0, n_classes, size=64)
    w = rng.uniform(0.1, 2.0, size=n_classes)
    kw = {"weight": w, "label_smoothing": 0.05, "reduction": "none"}
    loss = xr.softmax_cross_entropy(z, y, **kw)
    grad = xr.softmax_cross_entropy_grad(z, y, **kw)
    # Also each row alone: a row's loss must not depend on the batch it sits in.
    alone = [xr.softmax_cross_entropy(z[i : i + 1], y[i : i + 1], **kw)[0] for i in range(64)]
    np.testing.assert_allclose(alone, loss, rtol=0, atol=0)
    monkeypatch.setattr(sce, "BLOCK_BYTES", 64)
    np.testing.assert_allclose(xr.softmax_cross_entropy(z, y, **kw), loss, rtol=0, atol=0)
    np.testing.assert_allclose(xr.softmax_cross_entropy_grad(z, y, **kw), grad, rtol=0, atol=0)


def test_softmax_cross_entropy_blocked_path_with_class_axis(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loss = xr.softmax_cross_entropy(_Z4, _Y4, axis=1, reduction="none")
    grad = xr.softmax_cross_entropy_grad(_Z4, _Y4, axis=1)
    monkeypatch.setattr(sce, "BLOCK_BYTES", 64)
    np.testing.assert_allclose(
        xr.softmax_cross_entropy(_Z4, _Y4, axis=1, reduction="none"), loss, rtol=0, atol=0
    )
    np.testing.assert_allclose(
        xr.softmax_cross_entropy_grad(_Z4, _Y4, axis=1), grad, rtol=0, atol=0
    )


def test_float32_log1p_is_correctly_rounded() -> None:
    """The float32 `_log1p` (float64 log of an exact 1 + x) equals float64 log1p rounded.

    Points: 0, subnormals, both sides of the 2**-29 switch, a dense run over [0, 2] and a
    log-uniform spread up to 1e6 (a row's tail sum is at most the number of classes).
    """
    rng = np.random.default_rng(20261123)
    switch = np.float32(2.0**-29)
    x = np.concatenate(
        [
            np.array([0.0, 1e-45, 1e-40, 1e-30], dtype=np.float32),
            np.nextafter(switch, np.float32(0)) * np.ones(1, np.float32),
            switch * np.arange(0.5, 8, 2**-12, dtype=np.float32),
            np.arange(0, 2, 2**-16, dtype=np.float32),
            (10 ** rng.uniform(-45, 6, 200_000)).astype(np.float32),
        ]
    )
    expected = np.log1p(x.astype(np.float64)).astype(np.float32)
    got = sce._log1p(x)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)
    with np.errstate(invalid="ignore"):
        assert np.isnan(sce._log1p(np.array([np.nan], dtype=np.float32)))[0]
    x64 = x.astype(np.float64)
    np.testing.assert_array_equal(sce._log1p(x64), np.log1p(x64))


@pytest.mark.parametrize("n_classes", [5, 40])  # both block layouts
@pytest.mark.parametrize("soft", [False, True])
def test_softmax_cross_entropy_grad_non_c_contiguous_logits(n_classes: int, soft: bool) -> None:
    """Regression (issue 8, defect 1): with more than 32 classes the gradient of Fortran-ordered
    or classes-first logits was wrong (the writes went to a copy of the output)."""
    z = np.arange(2.0 * n_classes).reshape(2, n_classes) / 10
    target = np.full((2, n_classes), 1 / n_classes) if soft else np.array([3, 4])
    expected = xr.softmax_cross_entropy_grad(z, target, label_smoothing=0.1)
    fortran = xr.softmax_cross_entropy_grad(np.asfortranarray(z), target, label_smoothing=0.1)
    np.testing.assert_array_equal(fortran, expected)
    classes_first = xr.softmax_cross_entropy_grad(
        np.ascontiguousarray(z.T), target.T if soft else target, axis=0, label_smoothing=0.1
    )
    np.testing.assert_array_equal(classes_first, expected.T)
    np.testing.assert_allclose(expected.sum(axis=1), 0.0, rtol=0, atol=1e-15)
