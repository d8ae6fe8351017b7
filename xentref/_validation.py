"""Argument checks shared by every public function.

Each helper raises ``TypeError`` for the wrong kind of argument and ``ValueError`` for a wrong
value or shape, and every message starts with the argument's name in backticks, so a user
reading a traceback sees at once which argument was wrong and why. None of them uses
``assert``: checks must survive ``python -O``.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

REDUCTIONS = ("none", "mean", "sum")


def as_float_array(x: ArrayLike, name: str) -> NDArray[np.floating[Any]]:
    """Return `x` as a real floating array: float32/float64 kept, bool and integers -> float64.

    float16 is promoted to float32 (its 3 significant digits are not enough for a log-loss).
    """
    if x is None:
        raise TypeError(f"`{name}` must be an array of real numbers, got None")
    try:
        a = np.asarray(x)
    except (ValueError, TypeError) as exc:  # ragged nested lists
        raise ValueError(f"`{name}` must be a rectangular array of numbers: {exc}") from None
    if a.dtype.kind == "c":
        raise TypeError(f"`{name}` must be real, got complex dtype {a.dtype}")
    if a.dtype.kind not in "biuf":
        raise TypeError(f"`{name}` must be an array of real numbers, got dtype {a.dtype}")
    if a.dtype.kind in "biu":
        return a.astype(np.float64)
    if a.dtype == np.float16:
        return a.astype(np.float32)
    return a


def as_index_array(x: ArrayLike, name: str) -> NDArray[np.intp]:
    """Return class indices as an integer array; floats are accepted only if whole numbers."""
    try:
        a = np.asarray(x) if x is not None else None
    except (ValueError, TypeError) as exc:  # ragged nested lists
        raise ValueError(f"`{name}` must be a rectangular array of numbers: {exc}") from None
    if a is None or a.dtype.kind not in "biuf":
        got = "None" if a is None else f"dtype {a.dtype}"
        raise TypeError(f"`{name}` class indices must be integers, got {got}")
    if a.dtype.kind == "f":
        bad = ~(np.isfinite(a) & (a == np.round(a)))
        if bad.any():
            where = np.argwhere(bad)[0]
            raise ValueError(
                f"`{name}` class indices must be whole numbers, got {a[tuple(where)]!r} "
                f"at index {tuple(int(i) for i in where)}"
            )
    return a.astype(np.intp, copy=False)


def check_axis(a: NDArray[Any], axis: int, name: str) -> int:
    """Return `axis` as a non-negative int valid for `a` (the array named `name`)."""
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"`axis` must be an int, got {type(axis).__name__}")
    if a.ndim == 0:
        raise ValueError(
            f"`{name}` must have at least one dimension (the class axis), got a scalar"
        )
    if not -a.ndim <= axis < a.ndim:
        raise ValueError(f"`axis` {axis} is out of range for `{name}` with {a.ndim} dimension(s)")
    if a.shape[axis] == 0:
        raise ValueError(
            f"`{name}` must have at least one class along axis {axis}, got shape {a.shape}"
        )
    return int(axis) % a.ndim


def check_reduction(reduction: str) -> None:
    """Raise unless `reduction` is one of 'none', 'mean', 'sum'."""
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        valid = ", ".join(repr(r) for r in REDUCTIONS)
        raise ValueError(f"`reduction` must be one of {valid}, got {reduction!r}")


def check_real(
    value: Any, name: str, *, low: float | None = None, high: float | None = None
) -> float:
    """Return a real scalar option as float, checking `low <= value <= high` (NaN rejected)."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"`{name}` must be a real number, got {type(value).__name__}")
    v = float(value)
    if np.isnan(v) or (low is not None and v < low) or (high is not None and v > high):
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        raise ValueError(f"`{name}` must be in [{lo}, {hi}], got {value!r}")
    return v


def check_base(base: float | None) -> float:
    """Return log(base) (1.0 for nats when `base` is None); base must be positive and not 1."""
    if base is None:
        return 1.0
    b = check_real(base, "base", low=0.0)
    if b == 0.0 or b == 1.0 or not np.isfinite(b):
        raise ValueError(f"`base` must be positive, finite and different from 1, got {base!r}")
    return float(np.log(b))


def check_same_shape(a: NDArray[Any], b: NDArray[Any], name_a: str, name_b: str) -> None:
    """Raise if `a` and `b` differ in shape, naming both shapes."""
    if a.shape != b.shape:
        raise ValueError(
            f"`{name_b}` must have the same shape as `{name_a}`: "
            f"`{name_a}` has shape {a.shape}, `{name_b}` has shape {b.shape}"
        )


def check_broadcasts_to(a: NDArray[Any], shape: tuple[int, ...], name: str, to: str) -> None:
    """Raise unless `a` broadcasts to `shape` without changing it (PyTorch weight semantics)."""
    try:
        ok = np.broadcast_shapes(a.shape, shape) == shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(
            f"`{name}` with shape {a.shape} does not broadcast to the shape {shape} of `{to}`"
        )


def _first(mask: NDArray[np.bool_]) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(mask)[0])


def check_in_unit_interval(a: NDArray[np.floating[Any]], name: str) -> None:
    """Raise if any element of `a` lies outside [0, 1]; NaN passes (it propagates instead)."""
    bad = (a < 0) | (a > 1)
    if bad.any():
        at = _first(bad)
        raise ValueError(f"`{name}` must lie in [0, 1], got {a[at].item()!r} at index {at}")


def check_nonnegative(a: NDArray[np.floating[Any]], name: str) -> None:
    """Raise if any element of `a` is negative (or +-inf); NaN passes (it propagates instead)."""
    bad = (a < 0) | np.isinf(a)
    if bad.any():
        at = _first(bad)
        raise ValueError(
            f"`{name}` must be non-negative and finite, got {a[at].item()!r} at index {at}"
        )


def distribution_tolerance(dtype: np.dtype[Any]) -> float:
    """Tolerance on |sum - 1| for a probability vector: sqrt(machine epsilon) of `dtype`."""
    return float(np.sqrt(np.finfo(dtype).eps))


def check_distribution(p: NDArray[np.floating[Any]], axis: int, name: str) -> None:
    """Raise unless `p` is non-negative and sums to 1 along `axis` within sqrt(eps).

    Rows containing NaN are let through: NaN in, NaN out.
    """
    check_nonnegative(p, name)
    total = np.sum(p, axis=axis)
    tol = distribution_tolerance(p.dtype)
    bad = np.abs(total - 1) > tol
    if bad.any():
        at = _first(np.atleast_1d(bad))
        got = np.atleast_1d(total)[at]
        raise ValueError(
            f"`{name}` must sum to 1 along axis {axis} (within {tol:.2g}), "
            f"got a sum of {float(got)!r} at index {at}"
        )


def check_class_indices(
    target: NDArray[np.intp], n_classes: int, ignore_index: int | None, name: str = "target"
) -> None:
    """Raise unless every index is in [0, n_classes) or equals `ignore_index`."""
    if target.size == 0 or (target.min() >= 0 and target.max() < n_classes):
        return  # the usual case, in two passes; the masks below only to locate a bad index
    bad = (target < 0) | (target >= n_classes)
    if ignore_index is not None:
        bad &= target != ignore_index
    if bad.any():
        at = _first(np.atleast_1d(bad))
        extra = f" or ignore_index={ignore_index}" if ignore_index is not None else ""
        raise ValueError(
            f"`{name}` must be class indices in [0, {n_classes}){extra}, "
            f"got {int(np.atleast_1d(target)[at])} at index {at}"
        )


def check_int(value: Any, name: str, *, low: int | None = None) -> int:
    """Return an integer option, checking `value >= low`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an int, got {type(value).__name__}")
    if low is not None and value < low:
        raise ValueError(f"`{name}` must be >= {low}, got {value!r}")
    return int(value)


def reduce(
    loss: NDArray[np.floating[Any]], reduction: str, denominator: float | None = None
) -> NDArray[np.floating[Any]]:
    """Apply a reduction: 'none' as is, 'sum', or 'mean' = sum / denominator (default: size).

    A mean over nothing (empty batch, every target ignored, zero total weight) is NaN, as in
    PyTorch: the mean of an empty set is undefined.
    """
    if reduction == "none":
        return loss
    total = np.sum(loss, dtype=loss.dtype)
    if reduction == "sum":
        return np.asarray(total)
    count = loss.size if denominator is None else denominator
    if count == 0:  # a smoothed loss over zero total weight is NaN too, not inf
        return np.asarray(np.nan, dtype=loss.dtype)
    return np.asarray(total / loss.dtype.type(count))
