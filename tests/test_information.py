"""Unit tests of the information measures: entropy, cross_entropy, kl_divergence.

Expected values are closed forms (log 2, log C, one bit) or are computed inline with mpmath at
50 significant digits (`mpref`) from the float64 inputs, and rounded once to float64. pytest
runs with ``filterwarnings = error``: the tests with zeros, infinities and NaN also check that
no RuntimeWarning (log of 0, 0 * inf) escapes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mpmath
import numpy as np
import pytest

import xentref as xr

RTOL64 = 4 * np.finfo(np.float64).eps
RTOL32 = 4 * np.finfo(np.float32).eps

P = np.array([0.2, 0.3, 0.5])
Q = np.array([0.1, 0.6, 0.3])

FUNCTIONS: list[tuple[Callable[..., Any], tuple[Any, ...]]] = [
    (xr.entropy, (P,)),
    (xr.cross_entropy, (P, Q)),
    (xr.kl_divergence, (P, Q)),
]
IDS = ["entropy", "cross_entropy", "kl_divergence"]


def mpref(compute: Callable[[], Any]) -> float:
    """Evaluate `compute` (an mpmath expression) at 50 significant digits, round to float64."""
    with mpmath.workdps(50):
        return float(compute())


def _mpf(v: Any) -> Any:
    return mpmath.mpf(float(v))


def mp_entropy(p: Any, base: float | None = None) -> float:
    """-sum p log p with 0 log 0 = 0, mpmath at 50 digits."""

    def compute() -> Any:
        h = -mpmath.fsum(_mpf(a) * mpmath.log(_mpf(a)) for a in p if a != 0)
        return h if base is None else h / mpmath.log(base)

    return mpref(compute)


def mp_cross_entropy(p: Any, q: Any, base: float | None = None) -> float:
    """-sum p log q with 0 log q = 0, mpmath at 50 digits."""

    def compute() -> Any:
        h = -mpmath.fsum(_mpf(a) * mpmath.log(_mpf(b)) for a, b in zip(p, q, strict=True) if a != 0)
        return h if base is None else h / mpmath.log(base)

    return mpref(compute)


def mp_kl(p: Any, q: Any, base: float | None = None) -> float:
    """sum p log(p / q) with 0 log 0 = 0, mpmath at 50 digits."""

    def compute() -> Any:
        d = mpmath.fsum(
            _mpf(a) * mpmath.log(_mpf(a) / _mpf(b)) for a, b in zip(p, q, strict=True) if a != 0
        )
        return d if base is None else d / mpmath.log(base)

    return mpref(compute)


# ------------------------------------------------------------------------------------------
# Shared: dtype rules, shapes, axis, NaN
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("function", "args"), FUNCTIONS, ids=IDS)
@pytest.mark.parametrize(
    ("dtype", "expected"),
    [(np.float64, np.float64), (np.float32, np.float32), (np.float16, np.float32)],
)
def test_information_float_dtype_rules(
    function: Callable[..., Any], args: tuple[Any, ...], dtype: Any, expected: Any
) -> None:
    out = function(*(a.astype(dtype) for a in args))
    assert np.asarray(out).dtype == expected


@pytest.mark.parametrize(("function", "args"), FUNCTIONS, ids=IDS)
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.bool_])
def test_information_integer_input_is_float64(
    function: Callable[..., Any], args: tuple[Any, ...], dtype: Any
) -> None:
    one_hot = np.array([0, 1, 0], dtype=dtype)
    out = function(*([one_hot] * len(args)))
    assert np.asarray(out).dtype == np.float64
    np.testing.assert_allclose(out, 0.0, rtol=0, atol=0)  # H(e_k) = H(e_k, e_k) = KL = 0


@pytest.mark.parametrize(("function", "args"), FUNCTIONS, ids=IDS)
def test_information_float32_values(function: Callable[..., Any], args: tuple[Any, ...]) -> None:
    out32 = function(*(a.astype(np.float32) for a in args))
    exact = {"entropy": mp_entropy, "cross_entropy": mp_cross_entropy, "kl_divergence": mp_kl}
    expected = exact[function.__name__](*(a.astype(np.float32) for a in args))
    np.testing.assert_allclose(out32, expected, rtol=RTOL32, atol=0)


@pytest.mark.parametrize(("function", "args"), FUNCTIONS, ids=IDS)
def test_information_unbatched_gives_0d(
    function: Callable[..., Any], args: tuple[Any, ...]
) -> None:
    assert np.ndim(function(*args)) == 0


@pytest.mark.parametrize(("function", "args"), FUNCTIONS, ids=IDS)
@pytest.mark.parametrize(
    ("axis", "shape"),
    [
        (0, (4, 2, 3)),
        (1, (2, 4, 3)),
        (2, (2, 3, 4)),
        (-1, (2, 3, 4)),
        (-2, (2, 4, 3)),
        (-3, (4, 2, 3)),
    ],
)
def test_information_axis_removes_that_axis(
    function: Callable[..., Any], args: tuple[Any, ...], axis: int, shape: tuple[int, ...]
) -> None:
    rng = np.random.default_rng(0)
    dists = [np.moveaxis(rng.dirichlet(np.ones(4), size=(2, 3)), -1, axis) for _ in args]
    assert dists[0].shape == shape
    out = function(*dists, axis=axis)
    expected_shape = shape[: axis % 3] + shape[axis % 3 + 1 :]
    assert out.shape == expected_shape
    # Same numbers as with the distribution moved to the last axis.
    last = function(*(np.moveaxis(d, axis, -1) for d in dists))
    np.testing.assert_allclose(out, last, rtol=RTOL64, atol=0)


@pytest.mark.parametrize(("function", "args"), FUNCTIONS, ids=IDS)
def test_information_rows_are_independent(
    function: Callable[..., Any], args: tuple[Any, ...]
) -> None:
    rng = np.random.default_rng(1)
    dists = [rng.dirichlet(np.ones(5), size=6) for _ in args]
    out = function(*dists)
    assert out.shape == (6,)
    for i in range(6):
        np.testing.assert_allclose(out[i], function(*(d[i] for d in dists)), rtol=RTOL64, atol=0)


@pytest.mark.parametrize(("function", "args"), FUNCTIONS, ids=IDS)
@pytest.mark.parametrize(
    ("base", "log_base"), [(2, np.log(2.0)), (10, np.log(10.0)), (np.e, 1.0), (0.5, np.log(0.5))]
)
def test_information_base_divides_by_log_base(
    function: Callable[..., Any], args: tuple[Any, ...], base: float, log_base: float
) -> None:
    np.testing.assert_allclose(
        function(*args, base=base), function(*args) / log_base, rtol=RTOL64, atol=0
    )


@pytest.mark.parametrize(("function", "args"), FUNCTIONS, ids=IDS)
def test_information_nan_propagates_without_warning(
    function: Callable[..., Any], args: tuple[Any, ...]
) -> None:
    batch = [np.stack([a, a]) for a in args]
    batch[0][0, 1] = np.nan
    out = function(*batch)
    assert np.isnan(out[0])
    np.testing.assert_allclose(out[1], function(*args), rtol=0, atol=0)


# ------------------------------------------------------------------------------------------
# entropy
# ------------------------------------------------------------------------------------------


def test_entropy_fair_coin_is_log_two() -> None:
    np.testing.assert_allclose(xr.entropy([0.5, 0.5]), np.log(2.0), rtol=RTOL64, atol=0)


@pytest.mark.parametrize(("base", "expected"), [(2, 1.0), (10, np.log10(2.0)), (None, np.log(2.0))])
def test_entropy_fair_coin_in_each_base(base: float | None, expected: float) -> None:
    # log_b 2: 1 bit, 0.30103 hartley, 0.693 nat.
    np.testing.assert_allclose(xr.entropy([0.5, 0.5], base=base), expected, rtol=RTOL64, atol=0)


@pytest.mark.parametrize("n_classes", [1, 2, 3, 7, 1000])
def test_entropy_uniform_is_log_classes(n_classes: int) -> None:
    p = np.full(n_classes, 1.0 / n_classes)
    np.testing.assert_allclose(xr.entropy(p), np.log(n_classes), rtol=1e-14, atol=1e-300)


def test_entropy_matches_mpmath() -> None:
    np.testing.assert_allclose(xr.entropy(P), mp_entropy(P), rtol=RTOL64, atol=0)
    np.testing.assert_allclose(xr.entropy(P, base=2), mp_entropy(P, base=2), rtol=RTOL64, atol=0)


def test_entropy_zero_log_zero_is_zero_without_warning() -> None:
    out = xr.entropy([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]], base=2)
    np.testing.assert_allclose(out, [0.0, 0.0, 1.0], rtol=RTOL64, atol=0)
    assert not np.signbit(out[0])  # 0.0, not -0.0


def test_entropy_with_zeros_matches_mpmath() -> None:
    p = np.array([0.0, 0.25, 0.0, 0.75])
    np.testing.assert_allclose(xr.entropy(p), mp_entropy(p), rtol=RTOL64, atol=0)


def test_entropy_empty_batch() -> None:
    assert xr.entropy(np.full((0, 3), 1 / 3)).shape == (0,)


# ------------------------------------------------------------------------------------------
# cross_entropy
# ------------------------------------------------------------------------------------------


def test_cross_entropy_matches_mpmath() -> None:
    # Docstring example: 1.2157511078915744.
    np.testing.assert_allclose(xr.cross_entropy(P, Q), mp_cross_entropy(P, Q), rtol=RTOL64, atol=0)
    np.testing.assert_allclose(
        xr.cross_entropy(P, Q, base=2), mp_cross_entropy(P, Q, 2), rtol=RTOL64, atol=0
    )


def test_cross_entropy_with_itself_is_entropy() -> None:
    np.testing.assert_allclose(xr.cross_entropy(P, P), xr.entropy(P), rtol=RTOL64, atol=0)


def test_cross_entropy_uniform_model_is_log_classes() -> None:
    # H(p, uniform) = -sum p log(1/C) = log C for every p.
    np.testing.assert_allclose(
        xr.cross_entropy(P, np.full(3, 1 / 3)), np.log(3.0), rtol=RTOL64, atol=0
    )


def test_cross_entropy_one_hot_data_is_minus_log_q() -> None:
    np.testing.assert_allclose(
        xr.cross_entropy([0.0, 1.0, 0.0], Q), -np.log(0.6), rtol=RTOL64, atol=0
    )


def test_cross_entropy_infinite_where_model_rules_out_data_without_warning() -> None:
    out = xr.cross_entropy([[1.0, 0.0], [0.5, 0.5]], [[0.0, 1.0], [1.0, 0.0]])
    np.testing.assert_allclose(out, [np.inf, np.inf], rtol=0, atol=0)


def test_cross_entropy_zero_data_on_zero_model_counts_zero() -> None:
    # p_k = q_k = 0 contributes 0 (not 0 * -inf = NaN): H([0, 1], [0, 1]) = 0.
    np.testing.assert_allclose(xr.cross_entropy([0.0, 1.0], [0.0, 1.0]), 0.0, rtol=0, atol=0)
    p, q = np.array([0.0, 0.4, 0.6]), np.array([0.0, 0.5, 0.5])
    np.testing.assert_allclose(xr.cross_entropy(p, q), mp_cross_entropy(p, q), rtol=RTOL64, atol=0)


def test_cross_entropy_broadcasts_q_over_batch() -> None:
    p = np.stack([P, Q, np.full(3, 1 / 3)])
    out = xr.cross_entropy(p, Q)
    assert out.shape == (3,)
    expected = [mp_cross_entropy(row, Q) for row in p]
    np.testing.assert_allclose(out, expected, rtol=RTOL64, atol=0)


def test_cross_entropy_common_dtype() -> None:
    assert xr.cross_entropy(P.astype(np.float32), Q.astype(np.float32)).dtype == np.float32
    assert xr.cross_entropy(P.astype(np.float32), Q).dtype == np.float64


# ------------------------------------------------------------------------------------------
# kl_divergence
# ------------------------------------------------------------------------------------------


def test_kl_divergence_matches_mpmath() -> None:
    # Docstring examples: 0.18609809382700082 and, reversed, 0.19332590315017545.
    np.testing.assert_allclose(xr.kl_divergence(P, Q), mp_kl(P, Q), rtol=RTOL64, atol=0)
    np.testing.assert_allclose(xr.kl_divergence(Q, P), mp_kl(Q, P), rtol=RTOL64, atol=0)


def test_kl_divergence_is_zero_for_equal_distributions() -> None:
    np.testing.assert_allclose(xr.kl_divergence(P, P), 0.0, rtol=0, atol=0)
    np.testing.assert_allclose(xr.kl_divergence([0.0, 1.0], [0.0, 1.0]), 0.0, rtol=0, atol=0)


def test_kl_divergence_near_equal_keeps_digits() -> None:
    # Closed form: q = (1/2 + d, 1/2 - d) with d = 2**-30 against p = (1/2, 1/2) gives
    # KL = -log(1 - 4 d^2) / 2 = -log1p(-2**-58) / 2 = 1.734723475976807e-18.
    q = np.array([0.5 + 2.0**-30, 0.5 - 2.0**-30])
    expected = mpref(lambda: -mpmath.log1p(-(mpmath.mpf(2) ** -58)) / 2)
    np.testing.assert_allclose(xr.kl_divergence([0.5, 0.5], q), expected, rtol=RTOL64, atol=0)


def test_kl_divergence_zero_data_terms_count_zero() -> None:
    p, q = np.array([0.0, 0.25, 0.75]), np.array([0.5, 0.25, 0.25])
    np.testing.assert_allclose(xr.kl_divergence(p, q), mp_kl(p, q), rtol=RTOL64, atol=0)


def test_kl_divergence_infinite_where_model_rules_out_data_without_warning() -> None:
    out = xr.kl_divergence([[0.5, 0.5], [1.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(out, [np.inf, np.inf], rtol=0, atol=0)


def test_kl_divergence_large_ratio_matches_mpmath() -> None:
    # Ratios p/q far outside [1/2, 2] take the log(p) - log(q) path.
    p, q = np.array([1 - 1e-300, 1e-300]), np.array([1e-300, 1 - 1e-300])
    np.testing.assert_allclose(xr.kl_divergence(p, q), mp_kl(p, q), rtol=RTOL64, atol=0)


def test_kl_divergence_is_cross_entropy_minus_entropy() -> None:
    expected = mp_cross_entropy(P, Q) - mp_entropy(P)
    np.testing.assert_allclose(xr.kl_divergence(P, Q), expected, rtol=1e-14, atol=0)


def test_kl_divergence_base_two_matches_mpmath() -> None:
    np.testing.assert_allclose(
        xr.kl_divergence(P, Q, base=2), mp_kl(P, Q, base=2), rtol=RTOL64, atol=0
    )


def test_kl_divergence_broadcasts_q_over_batch() -> None:
    p = np.stack([P, Q])
    np.testing.assert_allclose(xr.kl_divergence(p, Q), [mp_kl(P, Q), 0.0], rtol=RTOL64, atol=0)
