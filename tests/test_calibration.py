"""Unit tests of fit_temperature and expected_calibration_error.

Expected values are closed forms, derived next to each test: temperature scaling has one when
every row has the same logit gap (softmax(g / T) must equal the accuracy, so T = g / logit(acc));
a dataset whose labels follow softmax(z) is calibrated (T = 1); and T scales with the logits.
ECE values are hand-computed from the definition sum_m |B_m| / N |acc(B_m) - conf(B_m)| with
bins ((m - 1) / M, m / M]. `fit_temperature` promises a relative accuracy of 1e-9.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import xentref as xr

T_RTOL = 1e-9  # documented accuracy of fit_temperature

# Docstring example: right 3 times out of 4 with a logit gap of 4 every time.
DOC_LOGITS = np.array([[4.0, 0.0], [4.0, 0.0], [4.0, 0.0], [0.0, 4.0]])
DOC_TARGET = np.array([0, 0, 1, 1])

_RNG = np.random.default_rng(3)
# A noisy 4-class problem: labels drawn from softmax(true logits), model logits = 3 * true
# logits + noise (overconfident), so the optimum T is finite and away from 1.
_TRUE = _RNG.normal(size=(200, 4))
NOISY_TARGET = np.array([_RNG.choice(4, p=p) for p in xr.softmax(_TRUE)])
NOISY_LOGITS = 3.0 * _TRUE + 0.3 * _RNG.normal(size=(200, 4))


# ------------------------------------------------------------------------------------------
# fit_temperature
# ------------------------------------------------------------------------------------------


def test_fit_temperature_docstring_closed_form() -> None:
    # softmax(4 / T) = sigmoid(4 / T) must be 3/4: 4 / T = log 3, T = 4 / log 3 = 3.6409569...
    t = xr.fit_temperature(DOC_LOGITS, DOC_TARGET)
    np.testing.assert_allclose(t, 4.0 / np.log(3.0), rtol=T_RTOL, atol=0)


@pytest.mark.parametrize(
    ("gap", "n_right", "n_wrong"), [(2.0, 9, 1), (1.0, 3, 2), (10.0, 99, 1), (0.5, 5, 4)]
)
def test_fit_temperature_equal_gaps_closed_form(gap: float, n_right: int, n_wrong: int) -> None:
    # Every row has logit gap `gap`; accuracy a = n_right / n: T = gap / log(a / (1 - a)).
    logits = np.array([[gap, 0.0]] * (n_right + n_wrong))
    target = np.array([0] * n_right + [1] * n_wrong)
    a = n_right / (n_right + n_wrong)
    np.testing.assert_allclose(
        xr.fit_temperature(logits, target), gap / np.log(a / (1 - a)), rtol=T_RTOL, atol=0
    )


def test_fit_temperature_calibrated_hard_labels_give_one() -> None:
    # logits (log 3, 0): softmax = (3/4, 1/4), and labels 0, 0, 0, 1 are right 3/4 of the time.
    logits = np.array([[np.log(3.0), 0.0]] * 4)
    np.testing.assert_allclose(xr.fit_temperature(logits, [0, 0, 0, 1]), 1.0, rtol=T_RTOL, atol=0)


def test_fit_temperature_calibrated_soft_labels_give_one() -> None:
    # Targets t = softmax(z): dL/du at u = 1 is sum_n (E_p[z_n] - E_t[z_n]) = 0 exactly.
    z = _RNG.normal(scale=2.0, size=(30, 5))
    np.testing.assert_allclose(xr.fit_temperature(z, xr.softmax(z)), 1.0, rtol=T_RTOL, atol=0)


@pytest.mark.parametrize("k", [0.1, 0.5, 3.0, 10.0])
def test_fit_temperature_scales_with_logits(k: float) -> None:
    # L_{k z}(u) = L_z(k u): the optimum u* of k z is u*(z) / k, so T(k z) = k T(z).
    t = xr.fit_temperature(NOISY_LOGITS, NOISY_TARGET)
    np.testing.assert_allclose(
        xr.fit_temperature(k * NOISY_LOGITS, NOISY_TARGET), k * t, rtol=3 * T_RTOL, atol=0
    )


def test_fit_temperature_softens_overconfident_model() -> None:
    # The model's logits are 3x the true ones: T close to 3 (noise and sampling aside).
    t = xr.fit_temperature(NOISY_LOGITS, NOISY_TARGET)
    assert 1.5 < t < 6.0


def test_fit_temperature_is_shift_invariant() -> None:
    shift = _RNG.normal(scale=100.0, size=(200, 1))
    np.testing.assert_allclose(
        xr.fit_temperature(NOISY_LOGITS + shift, NOISY_TARGET),
        xr.fit_temperature(NOISY_LOGITS, NOISY_TARGET),
        rtol=T_RTOL,
        atol=0,
    )


def test_fit_temperature_masked_class_changes_nothing() -> None:
    # A -inf logit is a class that does not exist (u * -inf = -inf for every u > 0).
    masked = np.concatenate([DOC_LOGITS, np.full((4, 1), -np.inf)], axis=1)
    np.testing.assert_allclose(
        xr.fit_temperature(masked, DOC_TARGET), 4.0 / np.log(3.0), rtol=T_RTOL, atol=0
    )


def test_fit_temperature_ignored_rows_change_nothing() -> None:
    logits = np.concatenate([DOC_LOGITS, [[100.0, -100.0]]])
    target = np.concatenate([DOC_TARGET, [-100]])
    np.testing.assert_allclose(
        xr.fit_temperature(logits, target), 4.0 / np.log(3.0), rtol=T_RTOL, atol=0
    )


def test_fit_temperature_soft_one_hot_targets_equal_indices() -> None:
    np.testing.assert_allclose(
        xr.fit_temperature(NOISY_LOGITS, np.eye(4)[NOISY_TARGET]),
        xr.fit_temperature(NOISY_LOGITS, NOISY_TARGET),
        rtol=T_RTOL,
        atol=0,
    )


@pytest.mark.parametrize("axis", [1, -2])
def test_fit_temperature_class_axis(axis: int) -> None:
    # (N, C, d) layout: 50 samples, 4 classes, 4 positions each.
    z = NOISY_LOGITS.reshape(50, 4, 4)  # rows (n, d) -> (4 classes) along the last axis
    y = NOISY_TARGET.reshape(50, 4)
    expected = xr.fit_temperature(z, y)
    np.testing.assert_allclose(
        xr.fit_temperature(np.moveaxis(z, -1, 1), y, axis=axis), expected, rtol=T_RTOL, atol=0
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16, np.int64])
def test_fit_temperature_returns_python_float(dtype: Any) -> None:
    t = xr.fit_temperature(DOC_LOGITS.astype(dtype), DOC_TARGET)
    assert type(t) is float
    np.testing.assert_allclose(
        t, 4.0 / np.log(3.0), rtol=T_RTOL, atol=0
    )  # all exact in every dtype


@pytest.mark.parametrize(
    ("logits", "target"),
    [
        ([[1.0, 1.0], [0.0, 0.0]], [0, 1]),  # uniform: the loss is log 2 for every T
        ([[0.0, 3.0], [2.0, 1.0]], [0, 1]),  # worse than uniform: the best T is +inf
    ],
)
def test_fit_temperature_no_better_than_uniform_raises(logits: Any, target: Any) -> None:
    with pytest.raises(ValueError, match=r"^`logits`.*T -> inf"):
        xr.fit_temperature(np.array(logits), np.array(target))


@pytest.mark.parametrize("margin", [1e-10, 1.0, 4.0, 50.0])
def test_fit_temperature_separable_raises(margin: float) -> None:
    # Every target is the argmax: the loss falls to 0 as T -> 0.
    logits = np.array([[margin, 0.0], [0.0, margin], [margin, -1.0]])
    with pytest.raises(ValueError, match=r"^`logits`.*T -> 0"):
        xr.fit_temperature(logits, np.array([0, 1, 0]))


def test_fit_temperature_nan_propagates_without_warning() -> None:
    logits = DOC_LOGITS.copy()
    logits[1, 0] = np.nan
    assert np.isnan(xr.fit_temperature(logits, DOC_TARGET))


# ------------------------------------------------------------------------------------------
# expected_calibration_error
# ------------------------------------------------------------------------------------------

DOC_PROBS = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
DOC_LABELS = np.array([0, 1, 1, 0])


def test_expected_calibration_error_docstring_values() -> None:
    # 5 bins: (0.8, 1] holds 0.9 (right): |1 - 0.9| = 0.1; (0.6, 0.8] holds 0.8 (wrong) and
    # 0.7 (right): |1 - 1.5| = 0.5; (0.4, 0.6] holds 0.6 (right): 0.4. ECE = 1.0 / 4 = 0.25.
    np.testing.assert_allclose(
        xr.expected_calibration_error(DOC_PROBS, DOC_LABELS, n_bins=5), 0.25, rtol=1e-15, atol=0
    )
    # 1 bin: accuracy 3/4, mean confidence (0.9 + 0.8 + 0.7 + 0.6) / 4 = 0.75.
    np.testing.assert_allclose(
        xr.expected_calibration_error(DOC_PROBS, DOC_LABELS, n_bins=1), 0.0, rtol=0, atol=1e-15
    )


def test_expected_calibration_error_perfectly_calibrated_bins_is_zero() -> None:
    # Bin (0.7, 0.8]: four predictions at 0.75, three right. Bin (0.4, 0.5]: two at 0.5
    # (ties take class 0), one right. Bin (0.9, 1]: one at 1.0, right.
    probs = np.array([[0.75, 0.25]] * 4 + [[0.5, 0.5]] * 2 + [[0.0, 1.0]])
    target = np.array([0, 0, 0, 1, 0, 1, 1])
    np.testing.assert_allclose(
        xr.expected_calibration_error(probs, target, n_bins=10), 0.0, rtol=0, atol=1e-15
    )


def test_expected_calibration_error_one_bin_is_accuracy_gap() -> None:
    probs = _RNG.dirichlet(np.ones(5) * 0.5, size=100)
    target = _RNG.integers(0, 5, size=100)
    accuracy = np.mean(np.argmax(probs, axis=1) == target)
    mean_confidence = np.mean(np.max(probs, axis=1))
    np.testing.assert_allclose(
        xr.expected_calibration_error(probs, target, n_bins=1),
        abs(accuracy - mean_confidence),
        rtol=1e-13,
        atol=0,
    )


@pytest.mark.parametrize("n_bins", [2, 5, 15, 100])
def test_expected_calibration_error_more_bins_never_lower(n_bins: int) -> None:
    # Triangle inequality: |sum of gaps| <= sum of |gaps per bin|.
    probs = _RNG.dirichlet(np.ones(3), size=60)
    target = _RNG.integers(0, 3, size=60)
    one = xr.expected_calibration_error(probs, target, n_bins=1)
    assert xr.expected_calibration_error(probs, target, n_bins=n_bins) >= one - 1e-15
    assert 0.0 <= xr.expected_calibration_error(probs, target, n_bins=n_bins) <= 1.0


def _edge_pair(edge: float, above: float, n_classes: int) -> np.ndarray:
    """Two rows: confidence exactly `edge` (class 0), and confidence `above` (class 0)."""
    rows = []
    for conf in (edge, above):
        rest = (1 - conf) / (n_classes - 1)
        rows.append([conf] + [rest] * (n_classes - 1))
    return np.array(rows)


_EDGES = [
    (0.25, 4, 0.3, 4),  # dyadic edges: exact in binary
    (0.5, 4, 0.6, 2),
    (0.75, 4, 0.8, 2),
    (0.5, 2, 0.9, 2),
    (0.6, 5, 0.7, 2),  # decimal edges whose float is below the real edge, or rounds back
    (0.3, 10, 0.35, 4),
    (0.7, 10, 0.75, 2),
    (0.28, 25, 0.30, 4),  # 0.28 * 25 rounds up to 7.000000000000001: edges come from linspace
]


@pytest.mark.parametrize(("edge", "n_bins", "above", "n_classes"), _EDGES)
def test_expected_calibration_error_edge_goes_to_lower_bin(
    edge: float, n_bins: int, above: float, n_classes: int
) -> None:
    # Row 0: confidence = the edge m/M, right (gap 1 - edge). Row 1: confidence `above`, in the
    # next bin, wrong (gap -above). Separate bins: ((1 - edge) + above) / 2; one shared bin
    # would give |1 - edge - above| / 2.
    probs = _edge_pair(edge, above, n_classes)
    target = np.array([0, 1])
    expected = ((1 - edge) + above) / 2
    np.testing.assert_allclose(
        xr.expected_calibration_error(probs, target, n_bins=n_bins), expected, rtol=1e-15, atol=0
    )


def test_expected_calibration_error_confidence_one_in_last_bin() -> None:
    # Confidence 1.0 (wrong, gap -1) shares (0.9, 1] with 0.95 (right, gap +0.05): |-0.95| / 2.
    probs = np.array([[1.0, 0.0], [0.95, 0.05]])
    target = np.array([1, 0])
    np.testing.assert_allclose(
        xr.expected_calibration_error(probs, target, n_bins=10), 0.475, rtol=1e-15, atol=0
    )


def test_expected_calibration_error_lowest_confidence_in_first_bin() -> None:
    # The lowest possible confidence, 1/C = 0.01 for 100 classes, is in (0, 1/M] for M <= 100.
    probs = np.full((2, 100), 0.01)
    target = np.array([0, 1])  # ties take class 0: one right, one wrong
    # One bin holds both: |1/2 - 0.01| = 0.49.
    np.testing.assert_allclose(
        xr.expected_calibration_error(probs, target, n_bins=100), 0.49, rtol=1e-14, atol=0
    )


def test_expected_calibration_error_ties_take_first_class() -> None:
    # [0.4, 0.4, 0.2]: the prediction is class 0. Label 0: gap 1 - 0.4; label 1: gap -0.4.
    probs = np.array([[0.4, 0.4, 0.2]])
    np.testing.assert_allclose(xr.expected_calibration_error(probs, [0]), 0.6, rtol=1e-15, atol=0)
    np.testing.assert_allclose(xr.expected_calibration_error(probs, [1]), 0.4, rtol=1e-15, atol=0)


def test_expected_calibration_error_single_prediction_is_its_gap() -> None:
    np.testing.assert_allclose(
        xr.expected_calibration_error([[0.1, 0.9]], [1]), 0.1, rtol=1e-14, atol=0
    )
    np.testing.assert_allclose(
        xr.expected_calibration_error([[0.1, 0.9]], [0]), 0.9, rtol=1e-15, atol=0
    )


def test_expected_calibration_error_nan_propagates_without_warning() -> None:
    probs = DOC_PROBS.copy()
    probs[2] = np.nan
    assert np.isnan(xr.expected_calibration_error(probs, DOC_LABELS))


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_expected_calibration_error_returns_python_float(dtype: Any) -> None:
    probs = np.array([[0.75, 0.25], [0.5, 0.5]], dtype=dtype)  # exact in every dtype
    out = xr.expected_calibration_error(probs, [1, 0], n_bins=4)
    assert type(out) is float
    # Bin (0.5, 0.75]: 0.75 wrong, gap 0.75; bin (0.25, 0.5]: 0.5 right, gap 0.5. (0.75 + 0.5) / 2.
    np.testing.assert_allclose(out, 0.625, rtol=0, atol=0)


def test_expected_calibration_error_from_softmax_of_calibrated_logits() -> None:
    # Confidence 3/4 everywhere, accuracy 3/4: 0 with any binning.
    probs = xr.softmax(np.array([[np.log(3.0), 0.0]] * 4))
    for n_bins in (1, 10, 15):
        np.testing.assert_allclose(
            xr.expected_calibration_error(probs, [0, 0, 0, 1], n_bins=n_bins),
            0.0,
            rtol=0,
            atol=1e-15,
        )
