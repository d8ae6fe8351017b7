"""Regression tests for issue 8: one per defect, each named after it.

The whole classes (every function, layout and dtype; junk in every argument) are covered by
``tests/test_layouts.py`` and ``tests/test_fuzz.py``; these pin the reproducers of the issue.
pytest runs with warnings as errors, so "no warning" is checked by every call here.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

import xentref as xr

ml_dtypes = pytest.importorskip("ml_dtypes")


# --------------------------------------------------------------------------------------------
# 1. Wrong gradient on Fortran-ordered logits (> 32 classes), inherited by fit_temperature
# --------------------------------------------------------------------------------------------

_Z40 = np.arange(80.0).reshape(2, 40) / 10


def test_softmax_cross_entropy_grad_issue8_fortran_order() -> None:
    want = xr.softmax_cross_entropy_grad(_Z40, [3, 7])
    np.testing.assert_allclose(want.sum(axis=1), 0, atol=1e-15)  # each row sums to 0
    got = xr.softmax_cross_entropy_grad(np.asfortranarray(_Z40), [3, 7])
    np.testing.assert_allclose(got, want, rtol=1e-15, atol=1e-18)


def test_softmax_cross_entropy_grad_issue8_classes_first() -> None:
    want = xr.softmax_cross_entropy_grad(_Z40, [3, 7])
    classes_first = np.ascontiguousarray(_Z40.T)[:, None, :]  # (40, 1, 2): batch (1, 2)
    got = xr.softmax_cross_entropy_grad(classes_first, [[3, 7]], axis=0)
    np.testing.assert_allclose(got[:, 0, :].T, want, rtol=1e-15, atol=1e-18)


def test_fit_temperature_issue8_fortran_order() -> None:
    z = np.random.default_rng(8).normal(size=(5, 40)) * 3
    target = np.argmax(z, axis=1)
    target[:2] = (target[:2] + 1) % 40
    want = xr.fit_temperature(z, target)
    assert xr.fit_temperature(np.asfortranarray(z), target) == pytest.approx(want, rel=1e-12)


# --------------------------------------------------------------------------------------------
# 2. Big-endian input crashed softmax_cross_entropy (mean, sum; the gradient with weight)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_softmax_cross_entropy_issue8_big_endian(reduction: str) -> None:
    z = np.array([[2.0, 1.0, 0.1], [0.0, 3.0, -1.0]])
    w = np.array([0.5, 2.0, 1.0])
    for function in (xr.softmax_cross_entropy, xr.softmax_cross_entropy_grad):
        want = function(z, [0, 2], weight=w, reduction=reduction)
        got = function(z.astype(">f8"), [0, 2], weight=w.astype(">f8"), reduction=reduction)
        assert got.dtype == np.float64
        assert got.dtype.isnative
        np.testing.assert_array_equal(got, want)  # bit for bit: only the byte order differs


# --------------------------------------------------------------------------------------------
# 3. >f2 was not promoted to float32 (13 functions computed in float16)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["<", ">"])
def test_softmax_issue8_big_endian_float16(order: str) -> None:
    x = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]], dtype=f"{order}f2")
    got = xr.softmax(x)
    assert got.dtype == np.float32
    want = xr.softmax(x.astype(np.float64))
    np.testing.assert_allclose(got, want, rtol=2e-7, atol=0)  # float32 accuracy, not float16's


def test_log_softmax_issue8_bfloat16_computed_in_float32() -> None:
    x = np.array([1.0, 2.0, 3.0], dtype=ml_dtypes.bfloat16)
    got = xr.log_softmax(x)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, xr.log_softmax(x.astype(np.float64)), rtol=2e-7)


# --------------------------------------------------------------------------------------------
# 4. uint64 class indices wrapped (2**64 - 100 -> -100: ignored); a float index of 1e20
# --------------------------------------------------------------------------------------------


def test_softmax_cross_entropy_issue8_uint64_index() -> None:
    target = np.array([0, 2**64 - 100], dtype=np.uint64)
    with pytest.raises(ValueError, match=r"^`target` .*18446744073709551516 at index \(1,\)"):
        xr.softmax_cross_entropy([[0, 0], [0, 5.0]], target, reduction="none")
    ok = xr.softmax_cross_entropy([[0, 0], [0, 5.0]], np.array([0, 1], dtype=np.uint64))
    assert ok == xr.softmax_cross_entropy([[0, 0], [0, 5.0]], [0, 1])


def test_softmax_cross_entropy_issue8_huge_float_index() -> None:
    with pytest.raises(ValueError, match=r"^`target` .*got 1e\+20 at index \(1,\)"):
        xr.softmax_cross_entropy([[0, 0], [0, 5.0]], np.array([0, 1e20]), reduction="none")


# --------------------------------------------------------------------------------------------
# 5. Masked arrays lost their mask; np.matrix
# --------------------------------------------------------------------------------------------


def test_logsumexp_issue8_masked_array() -> None:
    x = np.ma.masked_array([[1.0, 2.0, 50.0]], mask=[[0, 0, 1]])
    with pytest.raises(TypeError, match=r"^`x` is a masked array.*np\.ma\.filled\(x, -np\.inf\)"):
        xr.logsumexp(x)
    # the advice in the message gives the masked answer
    got = xr.logsumexp(np.ma.filled(x, -np.inf))
    np.testing.assert_allclose(got, [np.logaddexp(1.0, 2.0)], rtol=1e-15)


@pytest.mark.parametrize(
    "call",
    [
        lambda m: xr.softmax_cross_entropy(m, np.ma.masked_array([0, 1], mask=[0, 1])),
        lambda m: xr.binary_cross_entropy(np.ma.masked_array([0.5], mask=[1]), [1.0]),
        lambda m: xr.kl_divergence([0.5, 0.5], np.ma.masked_array([0.5, 0.5], mask=[0, 1])),
    ],
    ids=["target", "probs", "q"],
)
def test_softmax_cross_entropy_issue8_masked_arguments(call: object) -> None:
    with pytest.raises(TypeError, match=r"^`(target|probs|q)` is a masked array"):
        call(np.array([[1.0, 0.0], [0.0, 1.0]]))  # type: ignore[operator]


def test_logsumexp_issue8_matrix() -> None:
    with warnings.catch_warnings():  # np.matrix warns on creation (PendingDeprecationWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        m = np.matrix([[1.0, 2.0, 50.0], [0.0, 0.0, 0.0]])
    got = xr.logsumexp(m)
    assert type(got) is np.ndarray
    assert got.shape == (2,)
    np.testing.assert_array_equal(got, xr.logsumexp(np.asarray(m)))
    grad = xr.softmax_cross_entropy_grad(m, [2, 0])
    assert type(grad) is np.ndarray
    np.testing.assert_array_equal(grad, xr.softmax_cross_entropy_grad(np.asarray(m), [2, 0]))


# --------------------------------------------------------------------------------------------
# 6. NaN weights were accepted (weight, pos_weight in five functions)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("function", ["softmax_cross_entropy", "softmax_cross_entropy_grad"])
def test_softmax_cross_entropy_issue8_nan_weight(function: str) -> None:
    with pytest.raises(ValueError, match=r"^`weight` must be non-negative and finite, got nan"):
        getattr(xr, function)([[1, 0], [0, 1.0]], [0, 1], weight=[1, np.nan])


@pytest.mark.parametrize(
    ("function", "key"),
    [
        ("binary_cross_entropy", "weight"),
        ("binary_cross_entropy_with_logits", "weight"),
        ("binary_cross_entropy_with_logits", "pos_weight"),
        ("binary_cross_entropy_with_logits_grad", "weight"),
        ("binary_cross_entropy_with_logits_grad", "pos_weight"),
    ],
)
def test_binary_cross_entropy_issue8_nan_weight(function: str, key: str) -> None:
    with pytest.raises(ValueError, match=rf"^`{key}` must be non-negative and finite, got nan"):
        getattr(xr, function)([0.25, 0.5], [0.0, 1.0], **{key: [1.0, np.nan]})


def test_binary_cross_entropy_issue8_nan_in_data_propagates() -> None:
    # NaN is data in probabilities and targets: NaN in, NaN out, no error
    out = xr.binary_cross_entropy([0.25, np.nan], [np.nan, 1.0], reduction="none")
    assert np.isnan(out).all()


# --------------------------------------------------------------------------------------------
# 7. cross_entropy swallowed NaN in q where p is 0
# --------------------------------------------------------------------------------------------


def test_cross_entropy_issue8_nan_in_q() -> None:
    assert np.isnan(xr.cross_entropy([1, 0.0], [0.5, np.nan]))
    assert np.isnan(xr.kl_divergence([1, 0.0], [0.5, np.nan]))
    assert xr.cross_entropy([1, 0.0], [1.0, 0.0]) == 0.0  # 0 log 0 = 0 still


# --------------------------------------------------------------------------------------------
# 8. fit_temperature with NaN in a soft target
# --------------------------------------------------------------------------------------------


def test_fit_temperature_issue8_nan_soft_target() -> None:
    z = [[2.0, 0.0], [0.0, 1.0], [1.0, 0.5]]
    assert np.isnan(xr.fit_temperature(z, [[np.nan, 1], [0, 1.0], [1.0, 0]]))
    assert np.isfinite(xr.fit_temperature(z, [[0.5, 0.5], [0, 1.0], [1.0, 0]]))


def test_fit_temperature_issue8_every_target_ignored() -> None:
    with pytest.raises(ValueError, match=r"^`target` ignores every example"):
        xr.fit_temperature([[2.0, 0.0], [0.0, 1.0]], [-100, -100])


# --------------------------------------------------------------------------------------------
# 9. expected_calibration_error with np.longdouble
# --------------------------------------------------------------------------------------------


def test_expected_calibration_error_issue8_longdouble() -> None:
    p = np.array([[0.25, 0.75], [0.625, 0.375], [0.5, 0.5], [0.125, 0.875]])
    want = xr.expected_calibration_error(p, [1, 1, 0, 1], n_bins=4)
    got = xr.expected_calibration_error(p.astype(np.longdouble), [1, 1, 0, 1], n_bins=4)
    assert type(got) is float
    assert got == want


# --------------------------------------------------------------------------------------------
# 10. Huge ints for options, huge n_bins, array-valued keepdims
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda v: xr.entropy([0.5, 0.5], base=v), "base"),
        (lambda v: xr.kl_divergence([0.5, 0.5], [0.5, 0.5], base=v), "base"),
        (lambda v: xr.softmax_cross_entropy([[1, 0.0]], [0], label_smoothing=v), "label_smoothing"),
        (lambda v: xr.sigmoid_focal_loss([1.0], [1.0], alpha=v), "alpha"),
        (lambda v: xr.sigmoid_focal_loss([1.0], [1.0], gamma=v), "gamma"),
    ],
    ids=["entropy", "kl_divergence", "softmax_cross_entropy", "alpha", "gamma"],
)
def test_entropy_issue8_huge_int_option(call: object, name: str) -> None:
    for value in (10**400, 10**5000):  # 10**5000 cannot even be printed (4300-digit limit)
        with pytest.raises(ValueError, match=rf"^`{name}` must be in .*an int of \d+ bits"):
            call(value)  # type: ignore[operator]


def test_expected_calibration_error_issue8_huge_n_bins() -> None:
    with pytest.raises(ValueError, match=r"^`n_bins` must be <= 1048576, got 4611686018427387904"):
        xr.expected_calibration_error([[0.25, 0.75]], [1], n_bins=2**62)
    with pytest.raises(ValueError, match=r"^`n_bins` must be <= "):
        xr.expected_calibration_error([[0.25, 0.75]], [1], n_bins=10**400)


def test_softmax_cross_entropy_issue8_huge_ignore_index() -> None:
    with pytest.raises(ValueError, match=r"^`ignore_index` must be <= 9223372036854775807"):
        xr.softmax_cross_entropy([[1, 0.0]], [0], ignore_index=2**64 - 100)


def test_logsumexp_issue8_array_keepdims() -> None:
    with pytest.raises(TypeError, match=r"^`keepdims` must be a bool, got ndarray"):
        xr.logsumexp([1.0, 2.0], keepdims=np.array([1, 0]))
    assert xr.logsumexp([1.0, 2.0], keepdims=np.True_).shape == (1,)


# --------------------------------------------------------------------------------------------
# 11. Warnings on valid extreme input; a mean of 1e308s that overflowed
# --------------------------------------------------------------------------------------------


def test_log_softmax_issue8_no_overflow_warning() -> None:
    got = xr.log_softmax([1e308, -1e308])
    np.testing.assert_array_equal(got, [0.0, -np.inf])  # exp(-2e308) underflows: -inf is exact


def test_binary_cross_entropy_with_logits_issue8_huge_weight_no_warning() -> None:
    # loss ~ 5.007 times 1e308 is beyond the float range: inf, the rounded value, no warning
    got = xr.binary_cross_entropy_with_logits([-5.0], [1.0], weight=[1e308], reduction="none")
    np.testing.assert_array_equal(got, [np.inf])
    grad = xr.binary_cross_entropy_with_logits_grad(
        [-5.0, 0.0], [1.0, 1.0], pos_weight=[1e308, 1e308], weight=[1e308, 1e308]
    )
    assert np.isneginf(grad).all()
    out = xr.binary_cross_entropy([0.0625], [1.0], weight=[1e308], reduction="none")  # 2.77e308
    np.testing.assert_array_equal(out, [np.inf])


def test_softmax_cross_entropy_issue8_huge_weight_no_warning() -> None:
    z, y = [[0.0, 0.0], [0.0, 1.0]], [0, 1]
    got = xr.softmax_cross_entropy(z, y, weight=[1e308, 1e308], reduction="none")
    np.testing.assert_array_equal(got, 1e308 * xr.softmax_cross_entropy(z, y, reduction="none"))
    mean = xr.softmax_cross_entropy(z, y, weight=[1e308, 1e308])  # weights cancel in a mean
    np.testing.assert_allclose(mean, xr.softmax_cross_entropy(z, y), rtol=1e-15)
    grad = xr.softmax_cross_entropy_grad(z, y, weight=[1e308, 1e308])
    np.testing.assert_allclose(grad, xr.softmax_cross_entropy_grad(z, y), rtol=1e-15)


def test_fit_temperature_issue8_huge_negative_logit_no_warning() -> None:
    z = np.array([[-1e308, 0.0, 0.1], [0.0, 0.1, 0.3], [0.2, 0.0, 0.1], [0.0, 0.5, 0.1]])
    target = [2, 1, 0, 1]
    got = xr.fit_temperature(z, target)
    masked = xr.fit_temperature(np.where(z == -1e308, -np.inf, z), target)
    assert got == pytest.approx(masked, rel=1e-12)  # a -1e308 logit is a masked class here


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_binary_cross_entropy_with_logits_issue8_mean_of_1e308(reduction: str) -> None:
    # each loss is 1e308 (= softplus(1e308)); the true mean is 1e308, the true sum 2e308
    got = xr.binary_cross_entropy_with_logits([-1e308, -1e308], [1.0, 1.0], reduction=reduction)
    assert got == (1e308 if reduction == "mean" else np.inf)


def test_softmax_cross_entropy_issue8_mean_of_1e308() -> None:
    z = [[0.0, -1e308], [0.0, -1e308], [0.0, 0.0]]
    losses = xr.softmax_cross_entropy(z, [1, 1, 0], reduction="none")
    np.testing.assert_array_equal(losses[:2], [1e308, 1e308])
    got = xr.softmax_cross_entropy(z, [1, 1, 0])
    np.testing.assert_allclose(got, 1e308 / 3 * 2, rtol=1e-15)  # the sum, 2e308, overflows


def test_sigmoid_focal_loss_issue8_mean_of_1e308() -> None:
    got = xr.sigmoid_focal_loss([-1e308] * 3, [1.0] * 3, alpha=-1, gamma=0, reduction="mean")
    assert got == 1e308


def test_softmax_issue8_huge_axis() -> None:
    with pytest.raises(ValueError, match=re.escape("`axis` an int of 1329 bits is out of range")):
        xr.softmax([1.0, 2.0], axis=10**400)
