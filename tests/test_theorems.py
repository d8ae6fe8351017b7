"""Theorems the site states, each checked as a seeded Hypothesis property test.

Each test checks one identity or inequality that a page of the site relies on, and its docstring
names that page. Inputs are drawn as bounded, finite floats (profiles in `tests/conftest.py`);
distributions are normalised non-negative arrays that include exact zeros (the 0 log 0 = 0
convention). Every comparison states its tolerance. Gradients are checked in float64 against the
five-point central difference `(8 (f(x+h) - f(x-h)) - (f(x+2h) - f(x-2h))) / (12 h)`, whose
truncation error is `O(h^4)`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.typing import NDArray

import xentref as xr

_DTYPES = [np.float64, np.float32]

# (rtol, atol) for a value computed with O(C) floating-point operations from O(1) inputs.
_TOL: dict[type, tuple[float, float]] = {np.float64: (1e-10, 1e-12), np.float32: (1e-4, 1e-5)}

# Step of the five-point central difference in float64: rounding error ~ eps |f| / h ~ 1e-12,
# truncation error ~ h^4 |f^(5)| ~ 1e-12 for the O(1)-curvature losses checked here.
_H = 1e-3
_FD_RTOL, _FD_ATOL = 1e-7, 1e-9


# --------------------------------------------------------------------------------------------
# Strategies
# --------------------------------------------------------------------------------------------


def _eps(dtype: Any) -> float:
    return float(np.finfo(dtype).eps)


def _floats(dtype: Any, low: float, high: float) -> st.SearchStrategy[float]:
    width = 32 if np.dtype(dtype) == np.float32 else 64
    return st.floats(low, high, allow_nan=False, allow_infinity=False, width=width)


def _arrays(dtype: Any, shape: tuple[int, ...], low: float, high: float) -> st.SearchStrategy[Any]:
    return hnp.arrays(dtype, shape, elements=_floats(dtype, low, high))


@st.composite
def _distributions(
    draw: st.DrawFn, shape: tuple[int, ...], dtype: Any = np.float64, zeros: bool = True
) -> NDArray[Any]:
    """Probability vectors along the last axis, with exact zeros unless `zeros` is False."""
    positive = st.floats(2.0**-10, 1.0)
    elements = st.one_of(st.just(0.0), positive) if zeros else positive
    raw = draw(hnp.arrays(np.float64, shape, elements=elements))
    raw[..., 0] = np.where(raw.sum(axis=-1) == 0, 1.0, raw[..., 0])
    return (raw / raw.sum(axis=-1, keepdims=True)).astype(dtype)


def _class_shapes(min_classes: int = 1, max_classes: int = 6) -> st.SearchStrategy[Any]:
    """Shapes (C,) or (N, C), class axis last."""
    classes = st.integers(min_classes, max_classes)
    return st.one_of(st.tuples(classes), st.tuples(st.integers(1, 4), classes))


# (shape, class axis) layouts: unbatched, batched, K-dimensional with the class axis last or at 1
# (PyTorch's (N, C, d1, ...) layout).
_LAYOUTS = ["C", "NC", "NdC", "NCd", "NCde"]


def _layout(layout: str, n: int, c: int, d: int, e: int) -> tuple[tuple[int, ...], int]:
    return {
        "C": ((c,), -1),
        "NC": ((n, c), -1),
        "NdC": ((n, d, c), -1),
        "NCd": ((n, c, d), 1),
        "NCde": ((n, c, d, e), 1),
    }[layout]


@st.composite
def _soft_targets(draw: st.DrawFn, shape: tuple[int, ...], axis: int, dtype: Any) -> NDArray[Any]:
    """Probability targets of `shape`, summing to 1 along `axis`."""
    moved = list(shape)
    moved.append(moved.pop(axis))
    return np.moveaxis(draw(_distributions(tuple(moved), dtype)), -1, axis)


@st.composite
def _softmax_ce_cases(draw: st.DrawFn, dtype: Any = np.float64) -> tuple[Any, Any, dict[str, Any]]:
    """Logits, a target and a draw of every option of softmax_cross_entropy."""
    c = draw(st.integers(2, 4))
    shape, axis = _layout(
        draw(st.sampled_from(_LAYOUTS)),
        draw(st.integers(1, 3)),
        c,
        draw(st.integers(1, 3)),
        draw(st.integers(1, 2)),
    )
    logits = draw(_arrays(dtype, shape, -8.0, 8.0))
    kwargs: dict[str, Any] = {
        "axis": axis,
        "weight": draw(st.none() | _arrays(dtype, (c,), 0.25, 4.0)),
        "label_smoothing": draw(st.sampled_from([0.0, 1.0]) | _floats(np.float64, 0.0, 1.0)),
        "reduction": draw(st.sampled_from(["none", "mean", "sum"])),
    }
    if draw(st.booleans()):
        return logits, draw(_soft_targets(shape, axis, dtype)), kwargs
    ignore_index = draw(st.sampled_from([-100, -1]) | st.integers(0, c - 1))
    index_shape = shape[: axis % len(shape)] + shape[axis % len(shape) + 1 :]
    target = draw(hnp.arrays(np.int64, index_shape, elements=st.integers(0, c - 1)))
    ignored = draw(hnp.arrays(np.bool_, index_shape))
    target = np.array(np.where(ignored, ignore_index, target))
    flat = target.reshape(-1)
    if flat[0] == ignore_index:  # keep one target counted, so that "mean" is defined
        flat[0] = (ignore_index + 1) % c
    kwargs["ignore_index"] = ignore_index
    return logits, flat.reshape(index_shape), kwargs


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _central_difference(f: Callable[[NDArray[Any]], Any], x: NDArray[Any], h: float = _H) -> Any:
    """Five-point central difference of `f` at `x`: shape x.shape + f(x).shape."""
    x = np.asarray(x, dtype=np.float64)
    out_shape = np.shape(f(x))
    jac = np.empty(x.shape + out_shape)
    for idx in np.ndindex(x.shape):

        def at(t: float, idx: tuple[int, ...] = idx) -> Any:
            shifted = x.copy()
            shifted[idx] += t
            return np.asarray(f(shifted), dtype=np.float64)

        jac[idx] = (8 * (at(h) - at(-h)) - (at(2 * h) - at(-2 * h))) / (12 * h)
    return jac


def _assert_le(a: Any, b: Any, *, rtol: float, atol: float) -> None:
    """Assert a <= b elementwise, up to atol + rtol |b|."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    slack = atol + rtol * np.abs(b)
    assert np.all(a <= b + slack), f"max excess {np.max(a - b - slack)}"


def _one_hot(index: NDArray[Any], c: int, dtype: Any) -> NDArray[Any]:
    return (index[..., None] == np.arange(c)).astype(dtype)


# --------------------------------------------------------------------------------------------
# Information theory: entropy, cross-entropy, KL divergence
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", _DTYPES)
@given(data=st.data())
def test_gibbs_inequality(dtype: Any, data: st.DataObject) -> None:
    """Gibbs' inequality: `H(p, q) >= H(p)`, with equality iff `p = q`.

    Stated on [KL divergence](../theory/kl-divergence.md). Strictness is checked in its quantitative
    form, Pinsker's inequality `H(p, q) - H(p) >= ||p - q||_1^2 / 2`.
    """
    shape = data.draw(_class_shapes())
    p = data.draw(_distributions(shape, dtype))
    q = data.draw(_distributions(shape, dtype, zeros=False))
    rtol, atol = _TOL[dtype]
    h_p, h_pq = xr.entropy(p), xr.cross_entropy(p, q)
    _assert_le(h_p, h_pq, rtol=rtol, atol=atol)
    np.testing.assert_allclose(xr.cross_entropy(p, p), h_p, rtol=rtol, atol=atol)
    l1 = np.abs(p.astype(np.float64) - q).sum(axis=-1)
    _assert_le(0.5 * l1**2, np.asarray(h_pq, np.float64) - h_p, rtol=rtol, atol=4 * atol)


@pytest.mark.parametrize("dtype", _DTYPES)
@given(data=st.data())
def test_cross_entropy_decomposition(dtype: Any, data: st.DataObject) -> None:
    """Cross-entropy splits as `H(p, q) = H(p) + KL(p || q)`, with `KL = +inf` off q's support.

    Stated on [Cross-entropy](../theory/cross-entropy.md).
    """
    shape = data.draw(_class_shapes())
    p = data.draw(_distributions(shape, dtype))
    q = data.draw(_distributions(shape, dtype))  # zeros in q where p > 0 give +inf
    rtol, atol = _TOL[dtype]
    h_pq = xr.cross_entropy(p, q)
    assert np.asarray(h_pq).dtype == dtype
    np.testing.assert_allclose(h_pq, xr.entropy(p) + xr.kl_divergence(p, q), rtol=rtol, atol=atol)
    off_support = np.any((q == 0) & (p > 0), axis=-1)
    np.testing.assert_array_equal(np.isposinf(h_pq), off_support)


@pytest.mark.parametrize("dtype", _DTYPES)
@given(data=st.data())
def test_kl_nonnegative(dtype: Any, data: st.DataObject) -> None:
    """`KL(p || q) >= 0`, and `KL(p || p) = 0`, in nats and in bits.

    Stated on [KL divergence](../theory/kl-divergence.md).
    """
    shape = data.draw(_class_shapes())
    p = data.draw(_distributions(shape, dtype))
    q = data.draw(_distributions(shape, dtype))
    rtol, atol = _TOL[dtype]
    for base in (None, 2):
        _assert_le(np.zeros(shape[:-1]), xr.kl_divergence(p, q, base=base), rtol=rtol, atol=atol)
        np.testing.assert_allclose(xr.kl_divergence(p, p, base=base), 0.0, rtol=0, atol=atol)


@pytest.mark.parametrize("dtype", _DTYPES)
@given(data=st.data())
def test_entropy_at_most_log_classes(dtype: Any, data: st.DataObject) -> None:
    """`0 <= H(p) <= log C` for `C` classes; the uniform distribution attains `log C`, a one-hot 0.

    Stated on [Entropy](../theory/entropy.md).
    """
    shape = data.draw(_class_shapes())
    c = shape[-1]
    p = data.draw(_distributions(shape, dtype))
    rtol, atol = _TOL[dtype]
    h = xr.entropy(p)
    _assert_le(np.zeros(shape[:-1]), h, rtol=rtol, atol=atol)
    _assert_le(h, np.full(shape[:-1], np.log(c)), rtol=rtol, atol=atol)
    _assert_le(xr.entropy(p, base=2), np.full(shape[:-1], np.log2(c)), rtol=rtol, atol=atol)
    uniform = np.full(shape, 1 / c, dtype=dtype)
    np.testing.assert_allclose(xr.entropy(uniform), np.log(c), rtol=rtol, atol=atol)
    one_hot = _one_hot(np.zeros(shape[:-1], dtype=np.int64), c, dtype)
    np.testing.assert_allclose(xr.entropy(one_hot), 0.0, rtol=0, atol=0)


@pytest.mark.parametrize("dtype", _DTYPES)
@given(
    data=st.data(),
    base=st.sampled_from([2.0, 10.0, float(np.e), 0.5])
    | st.floats(1.5, 100.0)
    | st.floats(0.01, 0.75),
)
def test_entropy_base_change(dtype: Any, data: st.DataObject, base: float) -> None:
    """Changing the log base divides by ln(base): `H_b(p) = H(p) / ln b`, and so for H(p, q), KL.

    Stated on [Entropy](../theory/entropy.md).
    """
    shape = data.draw(_class_shapes())
    p = data.draw(_distributions(shape, dtype))
    q = data.draw(_distributions(shape, dtype, zeros=False))
    rtol, atol = _TOL[dtype]
    ln_b = np.log(base)
    for f, args in ((xr.entropy, (p,)), (xr.cross_entropy, (p, q)), (xr.kl_divergence, (p, q))):
        nats = np.asarray(f(*args), dtype=np.float64)
        in_base = f(*args, base=base)
        assert np.asarray(in_base).dtype == dtype
        np.testing.assert_allclose(in_base, nats / ln_b, rtol=rtol, atol=atol / min(1, abs(ln_b)))


# --------------------------------------------------------------------------------------------
# Stable primitives
# --------------------------------------------------------------------------------------------


@st.composite
def _logits_and_shift(draw: st.DrawFn, dtype: Any) -> tuple[Any, int, Any]:
    """Logits in [-30, 30], a class axis, and a per-slice shift large enough to overflow exp."""
    shape = draw(
        st.one_of(st.tuples(st.integers(1, 6)), st.tuples(st.integers(1, 4), st.integers(1, 6)))
    )
    axis = draw(st.sampled_from([-1, 0]))
    x = draw(_arrays(dtype, shape, -30.0, 30.0))
    bound = 1000.0 if dtype == np.float64 else 200.0  # exp overflows at 710 / 89
    shift_shape = tuple(1 if i == axis % len(shape) else s for i, s in enumerate(shape))
    return x, axis, draw(_arrays(dtype, shift_shape, -bound, bound))


@pytest.mark.parametrize("dtype", _DTYPES)
@given(data=st.data())
def test_softmax_shift_invariance(dtype: Any, data: st.DataObject) -> None:
    """`softmax(x + c) = softmax(x)` for `c` constant along the class axis, even if exp overflows.

    Stated on [Numerical stability](../practice/numerical-stability.md).
    """
    x, axis, c = data.draw(_logits_and_shift(dtype))
    shifted = (x + c).astype(dtype)
    # Rounding x + c perturbs each logit by up to |x + c| eps / 2, hence each probability
    # relatively by about twice that.
    rtol = 4 * (np.max(np.abs(shifted)) + 1) * _eps(dtype)
    s = xr.softmax(x, axis=axis)
    assert s.dtype == dtype
    np.testing.assert_allclose(xr.softmax(shifted, axis=axis), s, rtol=rtol, atol=0)
    np.testing.assert_allclose(np.sum(s, axis=axis), 1.0, rtol=0, atol=x.shape[axis] * _eps(dtype))
    assert np.all(s >= 0)


@pytest.mark.parametrize("dtype", _DTYPES)
@given(data=st.data())
def test_logsumexp_shift(dtype: Any, data: st.DataObject) -> None:
    """`logsumexp(x + c) = logsumexp(x) + c`, and `max(x) <= logsumexp(x) <= max(x) + log C`.

    Stated on [Numerical stability](../practice/numerical-stability.md).
    """
    x, axis, c = data.draw(_logits_and_shift(dtype))
    shifted = (x + c).astype(dtype)
    atol = 4 * (np.max(np.abs(shifted)) + np.log(x.shape[axis]) + 1) * _eps(dtype)
    lse = xr.logsumexp(x, axis=axis, keepdims=True)
    assert lse.dtype == dtype
    assert lse.shape == c.shape
    np.testing.assert_allclose(
        xr.logsumexp(shifted, axis=axis, keepdims=True), lse + c, rtol=0, atol=atol
    )
    np.testing.assert_allclose(xr.logsumexp(x, axis=axis), np.squeeze(lse, axis), rtol=0, atol=0)
    top = np.max(x, axis=axis, keepdims=True)
    _assert_le(top, lse, rtol=0, atol=atol)
    _assert_le(lse, top + np.log(x.shape[axis]), rtol=0, atol=atol)


@pytest.mark.parametrize("dtype", _DTYPES)
@given(data=st.data())
def test_log_softmax_is_log_of_softmax(dtype: Any, data: st.DataObject) -> None:
    """`log_softmax(x) = log(softmax(x)) = x - logsumexp(x)`, without taking the log of a softmax.

    Stated on [Numerical stability](../practice/numerical-stability.md).
    """
    x, axis, _ = data.draw(_logits_and_shift(dtype))
    atol = 16 * (np.max(np.abs(x)) + 1) * _eps(dtype)
    log_s = xr.log_softmax(x, axis=axis)
    assert log_s.dtype == dtype
    np.testing.assert_allclose(log_s, np.log(xr.softmax(x, axis=axis)), rtol=0, atol=atol)
    np.testing.assert_allclose(
        log_s, x - xr.logsumexp(x, axis=axis, keepdims=True), rtol=0, atol=atol
    )
    np.testing.assert_allclose(np.exp(log_s), xr.softmax(x, axis=axis), rtol=atol, atol=0)


# --------------------------------------------------------------------------------------------
# Softmax cross-entropy
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", _DTYPES)
@given(data=st.data())
def test_softmax_cross_entropy_is_cross_entropy_of_softmax(dtype: Any, data: st.DataObject) -> None:
    """Softmax cross-entropy of logits `z` is `H(y, softmax(z))`; an index `y` acts as one-hot.

    Stated on [Softmax cross-entropy](../losses/softmax.md).
    """
    c = data.draw(st.integers(1, 5))
    layout = data.draw(st.sampled_from(["C", "NC", "NCd"]))
    shape, axis = _layout(layout, data.draw(st.integers(1, 3)), c, data.draw(st.integers(1, 3)), 1)
    z = data.draw(_arrays(dtype, shape, -30.0, 30.0))
    q = data.draw(_soft_targets(shape, axis, dtype))
    index = data.draw(
        hnp.arrays(
            np.int64,
            shape[: axis % len(shape)] + shape[axis % len(shape) + 1 :],
            elements=st.integers(0, c - 1),
        )
    )
    atol = 16 * (np.max(np.abs(z)) + 1) * _eps(dtype)
    rtol = _TOL[dtype][0]
    model = xr.softmax(z, axis=axis)
    soft = xr.softmax_cross_entropy(z, q, axis=axis, reduction="none")
    assert soft.dtype == dtype
    np.testing.assert_allclose(soft, xr.cross_entropy(q, model, axis=axis), rtol=rtol, atol=atol)
    hard = xr.softmax_cross_entropy(z, index, axis=axis, reduction="none")
    one_hot = np.moveaxis(_one_hot(index, c, dtype), -1, axis)
    np.testing.assert_allclose(
        hard, xr.cross_entropy(one_hot, model, axis=axis), rtol=rtol, atol=atol
    )
    picked = np.take_along_axis(xr.log_softmax(z, axis=axis), np.expand_dims(index, axis), axis)
    np.testing.assert_allclose(hard, -np.squeeze(picked, axis), rtol=rtol, atol=atol)


@given(case=_softmax_ce_cases())
def test_softmax_cross_entropy_grad_finite_differences(
    case: tuple[Any, Any, dict[str, Any]],
) -> None:
    """`softmax_cross_entropy_grad` is the derivative of `softmax_cross_entropy`, for every option.

    Checked in float64 against central differences, over index and probability targets, class
    weights, `ignore_index`, label smoothing, the three reductions (the gradient of the sum for
    'none'), and class axis -1 or 1 with K-dimensional inputs. Stated on [Softmax
    cross-entropy](../losses/softmax.md).
    """
    logits, target, kwargs = case
    grad = xr.softmax_cross_entropy_grad(logits, target, **kwargs)
    assert grad.shape == logits.shape
    assert grad.dtype == np.float64

    def total_loss(z: NDArray[Any]) -> Any:
        return np.sum(xr.softmax_cross_entropy(z, target, **kwargs))

    expected = _central_difference(total_loss, logits)
    np.testing.assert_allclose(grad, expected, rtol=_FD_RTOL, atol=_FD_ATOL)
    if np.ndim(target) < np.ndim(logits):  # ignored positions get exactly zero gradient
        ignored = np.expand_dims(target == kwargs["ignore_index"], kwargs["axis"])
        np.testing.assert_array_equal(np.where(ignored, grad, 0.0), 0.0)


@pytest.mark.parametrize("dtype", _DTYPES)
@given(data=st.data())
def test_softmax_cross_entropy_grad_rows_sum_to_zero(dtype: Any, data: st.DataObject) -> None:
    """The gradient in the logits sums to 0 over the classes, since the loss is shift invariant.

    Holds for every option (weights, `ignore_index`, label smoothing, reductions, class axis).
    Stated on [Softmax cross-entropy](../losses/softmax.md).
    """
    logits, target, kwargs = data.draw(_softmax_ce_cases(dtype))
    grad = xr.softmax_cross_entropy_grad(logits, target, **kwargs)
    assert grad.dtype == dtype
    # Each entry is p_c sum(a) - a_c with sum(a) <= max(weight): rounding is relative to that
    # (times 1 / denominator for "mean"), not to the possibly tiny gradient itself.
    c = logits.shape[kwargs["axis"]]
    w_max = 1.0 if kwargs["weight"] is None else float(np.max(kwargs["weight"]))
    scale = w_max
    if kwargs["reduction"] == "mean":
        if np.ndim(target) == np.ndim(logits):  # probabilities: mean over positions
            scale /= target.size // c
        else:  # class indices: mean over the weight of the counted targets
            counted = target[target != kwargs["ignore_index"]]
            scale /= counted.size if kwargs["weight"] is None else np.sum(kwargs["weight"][counted])
    atol = 8 * c * _eps(dtype) * scale
    np.testing.assert_allclose(np.sum(grad, axis=kwargs["axis"]), 0.0, rtol=0, atol=atol)


@given(data=st.data())
def test_softmax_cross_entropy_hessian_psd(data: st.DataObject) -> None:
    """A row's Hessian is `s (diag(p) - p p^T)` with `p = softmax(z)`: PSD, so the loss is convex.

    The scale `s` is the target's total weight (1 without class weights); the check is against
    central differences of `softmax_cross_entropy_grad`, in float64. Stated on [Softmax
    cross-entropy](../losses/softmax.md).
    """
    c = data.draw(st.integers(1, 6))
    z = data.draw(_arrays(np.float64, (c,), -8.0, 8.0))
    weight = data.draw(st.none() | _arrays(np.float64, (c,), 0.25, 4.0))
    w = np.ones(c) if weight is None else weight
    if data.draw(st.booleans()):
        target: Any = data.draw(_distributions((c,)))
        scale = float(np.sum(w * target))
    else:
        target = data.draw(st.integers(0, c - 1))
        scale = float(w[target])
    p = xr.softmax(z)
    expected = scale * (np.diag(p) - np.outer(p, p))

    def grad(x: NDArray[Any]) -> Any:
        return xr.softmax_cross_entropy_grad(x, target, weight=weight, reduction="sum")

    hessian = _central_difference(grad, z)
    np.testing.assert_allclose(hessian, expected, rtol=_FD_RTOL, atol=_FD_ATOL)
    assert np.min(np.linalg.eigvalsh(expected)) >= -1e-14 * scale
    assert np.min(np.linalg.eigvalsh((hessian + hessian.T) / 2)) >= -_FD_ATOL * c
    np.testing.assert_allclose(hessian @ np.ones(c), 0.0, rtol=0, atol=_FD_ATOL * c)


# --------------------------------------------------------------------------------------------
# Binary cross-entropy and the sigmoid
# --------------------------------------------------------------------------------------------


@st.composite
def _bce_cases(draw: st.DrawFn) -> tuple[Any, Any, dict[str, Any]]:
    """float64 logits, soft or hard targets, and broadcastable weight / pos_weight."""
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    shape = draw(st.sampled_from([(c,), (n, c)]))
    logits = draw(_arrays(np.float64, shape, -10.0, 10.0))
    if draw(st.booleans()):
        target = draw(_arrays(np.float64, shape, 0.0, 1.0))
    else:
        target = draw(hnp.arrays(np.bool_, shape)).astype(np.float64)
    weight_shape = draw(st.sampled_from([shape, shape[-1:], (), (1,) * len(shape)]))
    pos_weight_shape = draw(st.sampled_from([shape[-1:], (1,)]))
    kwargs = {
        "weight": draw(st.none() | _arrays(np.float64, weight_shape, 0.25, 4.0)),
        "pos_weight": draw(st.none() | _arrays(np.float64, pos_weight_shape, 0.25, 4.0)),
        "reduction": draw(st.sampled_from(["none", "mean", "sum"])),
    }
    return logits, target, kwargs


@given(case=_bce_cases())
def test_bce_with_logits_grad_finite_differences(case: tuple[Any, Any, dict[str, Any]]) -> None:
    """`binary_cross_entropy_with_logits_grad` is the loss's derivative, with weight and pos_weight.

    Checked in float64 against central differences for the three reductions (the gradient of the sum
    for 'none') and broadcast weights. Stated on [Binary cross-entropy](../losses/binary.md).
    """
    logits, target, kwargs = case
    grad = xr.binary_cross_entropy_with_logits_grad(logits, target, **kwargs)
    assert grad.shape == logits.shape
    assert grad.dtype == np.float64

    def total_loss(z: NDArray[Any]) -> Any:
        return np.sum(xr.binary_cross_entropy_with_logits(z, target, **kwargs))

    expected = _central_difference(total_loss, logits)
    np.testing.assert_allclose(grad, expected, rtol=_FD_RTOL, atol=_FD_ATOL)


@pytest.mark.parametrize("dtype", _DTYPES)
@given(data=st.data())
def test_bce_with_logits_equals_two_class_softmax(dtype: Any, data: st.DataObject) -> None:
    """BCE of logit `z`, target `y` is softmax CE of logits `[0, z]`, target `[1 - y, y]`.

    The gradients agree too: the BCE gradient is the second column of the softmax one. Stated on the
    page losses/binary.md.
    """
    shape = data.draw(st.sampled_from([(3,), (2, 3), (1,)]))
    z = data.draw(_arrays(dtype, shape, -30.0, 30.0))
    y = data.draw(_arrays(dtype, shape, 0.0, 1.0))
    rtol, atol = _TOL[dtype]
    pair = np.stack([np.zeros_like(z), z], axis=-1)
    soft = np.stack([1 - y, y], axis=-1)
    for reduction in ("none", "mean", "sum"):
        bce = xr.binary_cross_entropy_with_logits(z, y, reduction=reduction)
        ce = xr.softmax_cross_entropy(pair, soft, reduction=reduction)
        assert bce.dtype == dtype
        np.testing.assert_allclose(bce, ce, rtol=rtol, atol=atol)
    grad_bce = xr.binary_cross_entropy_with_logits_grad(z, y, reduction="none")
    grad_ce = xr.softmax_cross_entropy_grad(pair, soft, reduction="none")
    np.testing.assert_allclose(grad_bce, grad_ce[..., 1], rtol=rtol, atol=atol)
    hard = (y > 0.5).astype(np.int64)
    np.testing.assert_allclose(
        xr.binary_cross_entropy_with_logits(z, hard.astype(dtype), reduction="none"),
        xr.softmax_cross_entropy(pair, hard, reduction="none"),
        rtol=rtol,
        atol=atol,
    )


@pytest.mark.parametrize("dtype", _DTYPES)
@given(data=st.data())
def test_bce_with_logits_matches_probability_form(dtype: Any, data: st.DataObject) -> None:
    """BCE from logits `z` equals BCE from probabilities `sigmoid(z)` where these do not saturate.

    Checked with and without elementwise weights, for the three reductions. Stated on [Binary
    cross-entropy](../losses/binary.md).
    """
    bound = 15.0 if dtype == np.float64 else 6.0  # keeps 1 - sigmoid(z) well above eps
    shape = data.draw(st.sampled_from([(4,), (2, 3)]))
    z = data.draw(_arrays(dtype, shape, -bound, bound))
    y = data.draw(_arrays(dtype, shape, 0.0, 1.0))
    weight = data.draw(st.none() | _arrays(dtype, shape, 0.0, 4.0))
    # Rounding sigmoid(z) to 1 - s costs a relative error eps / s in the log of the smaller tail.
    atol = (
        4
        * _eps(dtype)
        / (1 - float(xr.sigmoid(np.float64(bound))))
        * (4 if weight is not None else 1)
    )
    rtol = _TOL[dtype][0]
    probs = xr.sigmoid(z)
    for reduction in ("none", "mean", "sum"):
        np.testing.assert_allclose(
            xr.binary_cross_entropy_with_logits(z, y, weight=weight, reduction=reduction),
            xr.binary_cross_entropy(probs, y, weight=weight, reduction=reduction),
            rtol=rtol,
            atol=atol * (np.size(z) if reduction == "sum" else 1),
        )


@pytest.mark.parametrize("dtype", _DTYPES)
@given(data=st.data())
def test_sigmoid_derivative(dtype: Any, data: st.DataObject) -> None:
    """`sigmoid'(z) = sigmoid(z) sigmoid(-z)` and `log_sigmoid'(z) = sigmoid(-z)`.

    Also `sigmoid(-z) = 1 - sigmoid(z)`. Derivatives are checked in float64 by central differences;
    the identities in both float dtypes. Stated on [Why
    cross-entropy?](../practice/why-cross-entropy.md).
    """
    z = data.draw(_arrays(dtype, (5,), -30.0, 30.0))
    s, s_neg = xr.sigmoid(z), xr.sigmoid(-z)
    assert s.dtype == dtype
    eps = _eps(dtype)
    np.testing.assert_allclose(s + s_neg, 1.0, rtol=0, atol=2 * eps)
    np.testing.assert_allclose(
        xr.log_sigmoid(z) - xr.log_sigmoid(-z), z, rtol=0, atol=4 * eps * (np.max(np.abs(z)) + 1)
    )
    # exp amplifies the rounding of log_sigmoid(z) ~ z: relative error |z| eps.
    np.testing.assert_allclose(
        np.exp(xr.log_sigmoid(z)), s, rtol=4 * eps * (np.max(np.abs(z)) + 1), atol=0
    )
    if dtype == np.float64:
        d_sigmoid = np.diagonal(_central_difference(xr.sigmoid, z))
        np.testing.assert_allclose(d_sigmoid, s * (1 - s), rtol=_FD_RTOL, atol=_FD_ATOL)
        d_log_sigmoid = np.diagonal(_central_difference(xr.log_sigmoid, z))
        np.testing.assert_allclose(d_log_sigmoid, s_neg, rtol=_FD_RTOL, atol=_FD_ATOL)


# --------------------------------------------------------------------------------------------
# Options: label smoothing, focal loss
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", _DTYPES)
@given(data=st.data())
def test_label_smoothing_equals_soft_target(dtype: Any, data: st.DataObject) -> None:
    """Label smoothing `e` on class `y` is cross-entropy with target `(1 - e) onehot(y) + e / C`.

    Loss and gradient agree for reductions 'none' and 'sum', with or without class weights. For
    'mean', index targets divide the sum by the total weight of the targets and probability targets
    by the number of positions (PyTorch's convention), so `mean x denominator = sum` in both forms.
    Stated on [Weights, smoothing, focal](../losses/options.md).
    """
    c = data.draw(st.integers(2, 5))
    shape, axis = _layout(
        data.draw(st.sampled_from(["NC", "NCd"])),
        data.draw(st.integers(1, 4)),
        c,
        data.draw(st.integers(1, 3)),
        1,
    )
    z = data.draw(_arrays(dtype, shape, -8.0, 8.0))
    index_shape = shape[:1] + shape[2:]
    y = data.draw(hnp.arrays(np.int64, index_shape, elements=st.integers(0, c - 1)))
    e = data.draw(st.sampled_from([0.0, 1.0]) | _floats(np.float64, 0.0, 1.0))
    weight = data.draw(st.none() | _arrays(dtype, (c,), 0.25, 4.0))
    soft = np.moveaxis(((1 - e) * _one_hot(y, c, np.float64) + e / c).astype(dtype), -1, axis)
    rtol, atol = _TOL[dtype]
    atol = atol * 10  # losses up to ~70 with weights

    def both(f: Callable[..., Any], reduction: str) -> tuple[Any, Any]:
        smoothed = f(z, y, axis=axis, weight=weight, label_smoothing=e, reduction=reduction)
        return smoothed, f(z, soft, axis=axis, weight=weight, reduction=reduction)

    for f in (xr.softmax_cross_entropy, xr.softmax_cross_entropy_grad):
        for reduction in ("none", "sum"):
            smoothed, with_soft = both(f, reduction)
            np.testing.assert_allclose(smoothed, with_soft, rtol=rtol, atol=atol)
        total = f(z, y, axis=axis, weight=weight, label_smoothing=e, reduction="sum")
        smoothed_mean, soft_mean = both(f, "mean")
        target_weight = y.size if weight is None else np.sum(weight[y], dtype=np.float64)
        np.testing.assert_allclose(smoothed_mean * target_weight, total, rtol=rtol, atol=atol)
        np.testing.assert_allclose(soft_mean * y.size, total, rtol=rtol, atol=atol)


@pytest.mark.parametrize("dtype", _DTYPES)
@given(data=st.data())
def test_focal_loss_gamma_zero_is_bce(dtype: Any, data: st.DataObject) -> None:
    """Focal loss with `gamma = 0` is BCE with logits times `alpha_t` (1 when `alpha < 0`).

    For `gamma > 0` the modulating factor `(1 - p_t)^gamma <= 1` only lowers the loss. Stated on
    [Weights, smoothing, focal](../losses/options.md).
    """
    shape = data.draw(st.sampled_from([(4,), (2, 3)]))
    z = data.draw(_arrays(dtype, shape, -30.0, 30.0))
    if data.draw(st.booleans()):
        y = data.draw(_arrays(dtype, shape, 0.0, 1.0))
    else:
        y = data.draw(hnp.arrays(np.bool_, shape)).astype(dtype)
    alpha = data.draw(st.sampled_from([-1.0, 0.25]) | _floats(np.float64, 0.0, 1.0))
    gamma = data.draw(_floats(np.float64, 0.0, 5.0))
    rtol, atol = _TOL[dtype]
    bce = xr.binary_cross_entropy_with_logits(z, y, reduction="none")
    alpha_t = 1.0 if alpha < 0 else alpha * y + (1 - alpha) * (1 - y)
    focal = xr.sigmoid_focal_loss(z, y, alpha=alpha, gamma=0.0)
    assert focal.dtype == dtype
    np.testing.assert_allclose(focal, alpha_t * bce, rtol=rtol, atol=atol)
    for reduction, reduce in (("mean", np.mean), ("sum", np.sum)):
        np.testing.assert_allclose(
            xr.sigmoid_focal_loss(z, y, alpha=alpha, gamma=0.0, reduction=reduction),
            reduce(alpha_t * bce, dtype=np.float64),
            rtol=rtol,
            atol=atol * np.size(z),
        )
    _assert_le(
        xr.sigmoid_focal_loss(z, y, alpha=alpha, gamma=gamma), alpha_t * bce, rtol=rtol, atol=atol
    )


# --------------------------------------------------------------------------------------------
# Maximum likelihood and calibration
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", _DTYPES)
@given(data=st.data())
def test_mean_log_loss_is_empirical_cross_entropy(dtype: Any, data: st.DataObject) -> None:
    """The mean log loss of a data set is the cross-entropy from its empirical law to the model.

    With M distinct inputs seen N_m times each: mean CE = `sum_m (N_m / N) H(empirical labels of
    input m, softmax(z_m))`; one input repeated gives `H(empirical, softmax(z))`. Equivalently
    `H(empirical joint, input frequencies x model) - H(input frequencies)`. Stated on [Maximum
    likelihood](../theory/maximum-likelihood.md).
    """
    m, c = data.draw(st.integers(1, 4)), data.draw(st.integers(2, 5))
    z = data.draw(_arrays(dtype, (m, c), -8.0, 8.0))
    counts = data.draw(hnp.arrays(np.int64, (m, c), elements=st.integers(0, 4)))
    counts[:, 0] += counts.sum(axis=1) == 0  # every input appears at least once
    logits = np.repeat(z, counts.sum(axis=1), axis=0)
    labels = np.concatenate([np.repeat(np.arange(c), row) for row in counts])
    mean_log_loss = xr.softmax_cross_entropy(logits, labels)
    assert mean_log_loss.dtype == dtype
    rtol, atol = _TOL[dtype]
    atol *= 10  # sums of up to 80 terms of size up to 16
    model = xr.softmax(z)
    n_m = counts.sum(axis=1)
    conditional = (counts / n_m[:, None]).astype(dtype)
    input_freq = n_m / n_m.sum()
    per_input = xr.cross_entropy(conditional, model)
    np.testing.assert_allclose(mean_log_loss, np.sum(input_freq * per_input), rtol=rtol, atol=atol)
    joint = (counts / counts.sum()).astype(dtype).ravel()
    model_joint = (input_freq[:, None] * model).astype(dtype).ravel()
    np.testing.assert_allclose(
        mean_log_loss,
        xr.cross_entropy(joint, model_joint) - xr.entropy(input_freq.astype(dtype)),
        rtol=rtol,
        atol=atol,
    )


def _mean_loss_at(logits: NDArray[Any], target: NDArray[Any], t: float) -> float:
    return float(xr.softmax_cross_entropy(np.asarray(logits, np.float64) / t, target))


@pytest.mark.parametrize("dtype", _DTYPES)
@given(data=st.data())
def test_fit_temperature_is_stationary(dtype: Any, data: st.DataObject) -> None:
    """The fitted temperature T minimises the mean log loss of `logits / T`: `dL/dT = 0` there.

    Checked by a central difference in T, and `L(T) <= L(0.9 T), L(1.1 T)`. Data sets are drawn with
    a finite optimum: a label disagrees with the argmax, and on average the labelled logit beats the
    mean logit. Stated on [Calibration](../practice/calibration.md).
    """
    n_right, n_random, c = (
        data.draw(st.integers(4, 8)),
        data.draw(st.integers(0, 3)),
        data.draw(st.integers(2, 5)),
    )
    n = 1 + n_right + n_random
    logits = data.draw(_arrays(dtype, (n, c), -2.0, 2.0))
    target = data.draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, c - 1)))
    # Row 0 is confidently wrong (the loss grows without bound as T -> 0); the next n_right
    # rows are right by a margin (the loss at T -> inf is beaten); the rest are random.
    logits[0, (target[0] + 1) % c] = 5.0
    boost = data.draw(_arrays(dtype, (n_right,), 12.0, 20.0))
    logits[1 + np.arange(n_right), target[1 : 1 + n_right]] += boost
    margins = np.take_along_axis(logits, target[:, None], 1)[:, 0] - logits.mean(axis=1)
    assume(np.sum(margins) > 0.1)
    t = xr.fit_temperature(logits, target)
    assert isinstance(t, float)
    assert t > 0
    loss = _mean_loss_at(logits, target, t)
    h = 1e-4 * t
    slope = (_mean_loss_at(logits, target, t + h) - _mean_loss_at(logits, target, t - h)) / (2 * h)
    # The slope in log T, T dL/dT, is scale free. The fit runs in float64 for either dtype.
    np.testing.assert_allclose(t * slope, 0.0, rtol=0, atol=1e-7)
    _assert_le(loss, _mean_loss_at(logits, target, 0.9 * t), rtol=0, atol=1e-12)
    _assert_le(loss, _mean_loss_at(logits, target, 1.1 * t), rtol=0, atol=1e-12)


@given(data=st.data())
def test_expected_calibration_error_at_least_confidence_gap(data: st.DataObject) -> None:
    """ECE is at least its one-bin value `|mean confidence - accuracy|`; refining never lowers it.

    Both are the triangle inequality over bins: splitting every bin in two (`2 M` equal-width
    bins refine `M`) cannot lower the ECE, while going from 2 to 3 bins, which is not a
    refinement, can (an example below). `0 <= ECE <= 1` always. Stated on
    [Calibration](../practice/calibration.md#reliability-diagrams-and-the-expected-calibration-error).
    """
    n, c = data.draw(st.integers(1, 30)), data.draw(st.integers(2, 5))
    probs = data.draw(_distributions((n, c), zeros=True))
    target = data.draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, c - 1)))
    n_bins = data.draw(st.integers(1, 20))
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == target
    gap = abs(confidence.mean() - correct.mean())
    one_bin = xr.expected_calibration_error(probs, target, n_bins=1)
    ece = xr.expected_calibration_error(probs, target, n_bins=n_bins)
    assert isinstance(ece, float)
    np.testing.assert_allclose(one_bin, gap, rtol=1e-12, atol=1e-15)
    _assert_le(gap, ece, rtol=1e-12, atol=1e-15)
    _assert_le(ece, 1.0, rtol=0, atol=1e-15)
    _assert_le(0.0, ece, rtol=0, atol=0)
    refined = xr.expected_calibration_error(probs, target, n_bins=2 * n_bins)
    _assert_le(ece, refined, rtol=1e-12, atol=1e-15)
    # More bins that do not refine the old ones can lower it: 0.0, 0.55, 0.0 for 1, 2, 3 bins.
    example = np.array([[0.45, 0.30, 0.25], [0.55, 0.25, 0.20]]), np.array([0, 1])
    by_bins = [xr.expected_calibration_error(*example, n_bins=k) for k in (1, 2, 3)]
    np.testing.assert_allclose(by_bins, [0.0, 0.55, 0.0], rtol=0, atol=1e-15)


# --------------------------------------------------------------------------------------------
# What a loss's minimiser is: focal loss, class weights, pos_weight, squared error, conditional
# models
# --------------------------------------------------------------------------------------------


def _expected_focal(z: NDArray[Any], pi: float, gamma: float) -> NDArray[Any]:
    """Expected focal loss (no alpha) of logits `z` when the label is 1 with probability `pi`."""
    one, zero = np.ones_like(z), np.zeros_like(z)
    return pi * xr.sigmoid_focal_loss(z, one, alpha=-1, gamma=gamma) + (
        1 - pi
    ) * xr.sigmoid_focal_loss(z, zero, alpha=-1, gamma=gamma)


def _expected_focal_slope(q: float, pi: float, gamma: float) -> float:
    """d/dq of `-pi (1-q)^g log q - (1-pi) q^g log(1-q)`, written out (independent of xentref)."""
    g = gamma
    positive = g * (1 - q) ** (g - 1) * np.log(q) - (1 - q) ** g / q
    negative = -g * q ** (g - 1) * np.log1p(-q) + q**g / (1 - q)
    return float(pi * positive + (1 - pi) * negative)


@given(pi=st.floats(0.55, 0.995), gamma=st.floats(0.25, 5.0))
def test_focal_loss_is_not_proper(pi: float, gamma: float) -> None:
    """The expected focal loss is minimised strictly between 1/2 and the true probability.

    For a label that is 1 with probability `pi > 1/2` and `gamma > 0`, the minimiser `q*` of
    `-pi (1-q)^gamma log q - (1-pi) q^gamma log(1-q)` satisfies `1/2 < q* < pi`: focal loss is
    not a proper scoring rule, and its probabilities are pulled towards 1/2 (underconfident),
    while the decision `q* > 1/2` is kept. With `gamma = 0` it is cross-entropy and `q* = pi`.
    `q*` is the root of the written-out derivative (bisection); xentref's focal loss must be
    lowest there. Stated on
    [Weights, smoothing, focal](../losses/options.md#focal-loss-is-not-proper).
    """
    lo, hi = 0.5, pi  # the slope is < 0 at 1/2 and > 0 at pi
    assert _expected_focal_slope(lo, pi, gamma) < 0 < _expected_focal_slope(hi, pi, gamma)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if _expected_focal_slope(mid, pi, gamma) < 0 else (lo, mid)
    q_star = 0.5 * (lo + hi)
    assert 0.5 < q_star < pi
    z_star = np.log(q_star / (1 - q_star))
    at_star = _expected_focal(np.array([z_star]), pi, gamma)[0]
    for dz in (-1e-2, 1e-2):
        _assert_le(
            at_star, _expected_focal(np.array([z_star + dz]), pi, gamma)[0], rtol=1e-12, atol=0
        )
    truth = _expected_focal(np.array([np.log(pi / (1 - pi))]), pi, gamma)[0]
    assert at_star < truth
    # gamma = 0: cross-entropy, minimised at the truth (the same slope formula).
    np.testing.assert_allclose(_expected_focal_slope(pi, pi, 0.0), 0.0, rtol=0, atol=1e-9)
    # The mirror image: a label that is 1 with probability 1 - pi has minimiser 1 - q*.
    np.testing.assert_allclose(_expected_focal_slope(1 - q_star, 1 - pi, gamma), 0.0, atol=1e-9)


@pytest.mark.parametrize("dtype", _DTYPES)
@given(data=st.data())
def test_class_weights_shift_the_minimiser(dtype: Any, data: st.DataObject) -> None:
    """Class weights move the optimum to `q*_c = w_c p_c / sum_k w_k p_k`; `z - log w` undoes it.

    The weighted expected loss `-sum_c w_c p_c log q_c` (xentref's soft-target loss with
    `weight=w`) has zero gradient at the logits `log(w p)`, so the fitted probabilities are
    `w p` renormalised, not `p`; subtracting `log w` from those logits gives back `p` (logit
    adjustment). For `pos_weight` `w+` the optimal logit is `logit(pi) + log w+`. Stated on
    [Weights, smoothing, focal](../losses/options.md#what-weights-do-to-the-probabilities).
    """
    c = data.draw(st.integers(2, 5))
    p = data.draw(_distributions((c,), dtype, zeros=False))
    w = data.draw(_arrays(dtype, (c,), 0.25, 8.0))
    rtol, atol = _TOL[dtype]
    z_star = np.log(w * p)
    grad = xr.softmax_cross_entropy_grad(z_star, p, weight=w, reduction="sum")
    assert grad.dtype == dtype
    np.testing.assert_allclose(grad, 0.0, rtol=0, atol=atol * float(np.max(w)))
    q_star = xr.softmax(z_star)
    np.testing.assert_allclose(q_star, w * p / np.sum(w * p), rtol=rtol, atol=atol)
    np.testing.assert_allclose(xr.softmax(z_star - np.log(w)), p, rtol=rtol, atol=atol)
    # Any other logits give a larger weighted loss (Gibbs' inequality on the reweighted target).
    other = data.draw(_arrays(dtype, (c,), -4.0, 4.0))
    at_star = xr.softmax_cross_entropy(z_star, p, weight=w, reduction="sum")
    at_other = xr.softmax_cross_entropy(other, p, weight=w, reduction="sum")
    _assert_le(at_star, at_other, rtol=rtol, atol=atol)
    # pos_weight: BCE is linear in the target, so the soft target pi is the expected loss.
    pi = np.asarray(data.draw(_floats(np.float64, 0.01, 0.99)), dtype=dtype)
    w_pos = np.asarray(data.draw(_floats(np.float64, 0.1, 100.0)), dtype=dtype)
    z_pos = np.log(pi / (1 - pi)) + np.log(w_pos)
    g_pos = xr.binary_cross_entropy_with_logits_grad(z_pos, pi, pos_weight=w_pos, reduction="sum")
    np.testing.assert_allclose(g_pos, 0.0, rtol=0, atol=atol * float(w_pos))
    np.testing.assert_allclose(
        xr.sigmoid(z_pos), w_pos * pi / (w_pos * pi + 1 - pi), rtol=rtol, atol=atol
    )


@given(
    m=st.floats(-1.0, 1.0),
    s=st.floats(0.3, 1.5),
    mu=st.floats(-1.0, 1.0),
    sigma=st.floats(0.5, 2.0),
)
def test_squared_error_is_gaussian_cross_entropy(
    m: float, s: float, mu: float, sigma: float
) -> None:
    """Cross-entropy of a Gaussian model is squared error: `H(p, N(mu, sigma^2))` in closed form.

    For data `p = N(m, s^2)` and model `q = N(mu, sigma^2)`,
    `H(p, q) = E_p[(Y - mu)^2] / (2 sigma^2) + log(2 pi sigma^2) / 2` with
    `E_p[(Y - mu)^2] = s^2 + (m - mu)^2`, the differential entropy is
    `h(p) = log(2 pi e s^2) / 2` and `H(p, q) = h(p) + KL(p || q)` with KL >= 0. Checked
    against xentref's discrete cross-entropy of the two densities binned at width `d`:
    `H(p_d, q_d) + log d -> H(p, q)` as `d -> 0`. Stated on
    [Cross-entropy](../theory/cross-entropy.md#continuous-distributions) and
    [Why cross-entropy?](../practice/why-cross-entropy.md#squared-error-is-a-cross-entropy).
    """
    d = 1e-3  # bins over m +- 10 s: the mass left out is below 1e-22, q stays above 1e-260
    y = np.arange(m - 10 * s, m + 10 * s, d) + d / 2
    p = np.exp(-((y - m) ** 2) / (2 * s**2)) / np.sqrt(2 * np.pi * s**2)
    q = np.exp(-((y - mu) ** 2) / (2 * sigma**2)) / np.sqrt(2 * np.pi * sigma**2)
    mse = s**2 + (m - mu) ** 2
    closed = mse / (2 * sigma**2) + 0.5 * np.log(2 * np.pi * sigma**2)
    h_p = 0.5 * np.log(2 * np.pi * np.e * s**2)
    kl = np.log(sigma / s) + mse / (2 * sigma**2) - 0.5
    np.testing.assert_allclose(closed, h_p + kl, rtol=1e-12, atol=1e-12)
    assert kl >= -1e-12
    # One more bin holds the model's mass outside the grid, where the data have none.
    p_d = np.append(p * d / np.sum(p * d), 0.0)
    q_d = np.append(q * d, max(0.0, 1.0 - np.sum(q * d)))
    q_d /= q_d.sum()
    binned = xr.cross_entropy(p_d, q_d) + np.log(d)
    np.testing.assert_allclose(binned, closed, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(xr.entropy(p_d) + np.log(d), h_p, rtol=0, atol=1e-6)
    # The mean of the Gaussian negative log-likelihood over samples is MSE / (2 sigma^2) + const.
    samples = m + s * np.array([-1.5, -0.2, 0.4, 1.1, 2.0])
    nll = (samples - mu) ** 2 / (2 * sigma**2) + 0.5 * np.log(2 * np.pi * sigma**2)
    np.testing.assert_allclose(
        np.mean(nll),
        np.mean((samples - mu) ** 2) / (2 * sigma**2) + 0.5 * np.log(2 * np.pi * sigma**2),
        rtol=1e-12,
    )


@pytest.mark.parametrize("dtype", _DTYPES)
@given(data=st.data())
def test_conditional_nll_decomposition(dtype: Any, data: st.DataObject) -> None:
    """Expected log loss of a conditional model: `H(Y | X) + E_x KL(p(.|x) || q(.|x))`.

    For a joint law `p(x, y)` on M inputs and C classes and a model `q(.|x) = softmax(z_x)`,
    `E_{(x,y)~p}[-log q(y|x)] = H(Y | X) + sum_x p(x) KL(p(.|x) || q(.|x))` with
    `H(Y | X) = H(X, Y) - H(X)`; so the loss is at least `H(Y | X)`, with equality when the
    model equals `p(.|x)` on every input that occurs. Stated on
    [Maximum likelihood](../theory/maximum-likelihood.md#models-that-depend-on-the-input).
    """
    m, c = data.draw(st.integers(1, 4)), data.draw(st.integers(2, 5))
    joint = data.draw(_distributions((m * c,), zeros=True)).reshape(m, c)
    z = data.draw(_arrays(np.float64, (m, c), -6.0, 6.0))
    rtol, atol = _TOL[dtype]
    p_x = joint.sum(axis=1)
    seen = p_x > 0
    conditional = (joint[seen] / p_x[seen, None]).astype(dtype)
    log_q = xr.log_softmax(z)
    expected_loss = -np.sum(joint * log_q)  # by definition, no xentref reduction involved
    h_y_given_x = xr.entropy(joint.ravel().astype(dtype)) - xr.entropy(p_x.astype(dtype))
    kl = xr.kl_divergence(conditional, xr.softmax(z[seen]).astype(dtype))
    assert kl.dtype == dtype
    np.testing.assert_allclose(
        expected_loss, h_y_given_x + np.sum(p_x[seen] * kl), rtol=rtol, atol=atol
    )
    # The same loss as the soft-target cross-entropy averaged over inputs.
    per_input = xr.softmax_cross_entropy(z[seen].astype(dtype), conditional, reduction="none")
    np.testing.assert_allclose(expected_loss, np.sum(p_x[seen] * per_input), rtol=rtol, atol=atol)
    _assert_le(h_y_given_x, expected_loss, rtol=rtol, atol=atol)
    # At q(.|x) = p(.|x) the loss is H(Y | X).
    at_truth = -np.sum(joint[seen] * np.log(np.where(conditional > 0, conditional, 1.0)))
    np.testing.assert_allclose(at_truth, h_y_given_x, rtol=rtol, atol=atol)
