r"""Argument checks shared by every public function, and the rule for what arrays they accept.

Each helper raises ``TypeError`` for the wrong kind of argument and ``ValueError`` for a wrong
value or shape, and every message starts with the argument's name in backticks, so a user
reading a traceback sees at once which argument was wrong and why. None of them uses
``assert``: checks must survive ``python -O``.

The rule
--------
**Arrays of real numbers** (logits, probabilities, targets, weights; `as_float_array`):

| given (either byte order)               | computed in and returned as             |
|-----------------------------------------|-----------------------------------------|
| bool, int8 ... int64, uint8 ... uint64  | float64                                 |
| float16                                 | float32 (3 digits are too few for logs) |
| bfloat16 (``ml_dtypes``: JAX, PyTorch)  | float32, as PyTorch's CPU kernels do    |
| float32, float64                        | the same                                |
| longdouble (80-bit extended on x86)     | longdouble, except as noted below       |
| complex                                 | ``TypeError`` ("must be real")          |
| object, str, datetime, float8, ...      | ``TypeError`` naming the dtype          |

Big-endian arrays (files written on other machines) are converted to native byte order, and
bfloat16 is recognised by its dtype's name, without importing ``ml_dtypes``. Lists, tuples and
scalars go through ``np.asarray``; ragged lists are a ``ValueError``. Views, transposes,
Fortran-ordered and read-only arrays are accepted as they are, and no input is ever written to.

Where longdouble is not kept: `fit_temperature` and `expected_calibration_error` return a
Python float, computed in float64 (after `expected_calibration_error` has bound each example
to its bin in the input's precision), and `kl_divergence` adds its correction term
$\sum_k (p_k - q_k)$ (at most the sum tolerance $\sqrt{\epsilon}$ in size) with ``math.fsum``,
in float64. Everything else computes in longdouble and returns longdouble.

**Class indices** (`as_index_array`): bool, every integer dtype of either byte order, and
floats holding whole numbers (float16, bfloat16, float32, float64, longdouble) become ``intp``.
An index outside the ``intp`` range (uint64 values of $2^{63}$ or more, a float of $10^{20}$)
is a ``ValueError`` quoting the index as given; it never wraps to a negative number (which
could then collide with ``ignore_index``).

**ndarray subclasses.** A masked array (``np.ma.MaskedArray``) is a ``TypeError``: xentref
reads no masks, and dropping one silently would give a wrong answer. The message says how to
say what the mask means: fill masked logits with ``-inf`` (``np.ma.filled(x, -np.inf)``: a
masked class then gets probability 0), and leave masked examples out with ``ignore_index`` or
a zero weight, or by selecting the unmasked rows. Every other subclass (``np.matrix``,
``np.memmap``, ...) is read as the plain ndarray it holds, of the same shape; results are
plain ndarrays.

**NaN and infinity.** In data (logits, probabilities, probability targets) NaN is a value:
it propagates to the results it touches (NaN in, NaN out) and is never an error; infinite
logits are allowed where a function says so. In everything that configures the computation
(class weights, ``pos_weight``, scalar options such as ``label_smoothing``, ``alpha``,
``gamma``, ``base``) NaN is invalid and an error (`check_nonnegative`, `check_real`), as is
infinity for weights.

**Scalar options** are Python or NumPy scalars of the right kind: a 0-d or larger array,
a string, or a bool where a number is expected is a ``TypeError``; an int too large for a
float (``10**400``) or for int64 is a ``ValueError`` quoting its size, not an
``OverflowError``.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

REDUCTIONS = ("none", "mean", "sum")

#: The floating dtypes computed in as they are (after conversion to native byte order).
_KEPT_FLOATS = (np.float32, np.float64, np.longdouble)

_INTP = np.iinfo(np.intp)
_INT64 = np.iinfo(np.int64)


def _show(value: Any) -> str:
    """``repr(value)`` for a message, short even for a 10**400 or a 10,000-character string."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        v = int(value)
        if abs(v) >= 10**20:
            return f"an int of {v.bit_length()} bits"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def is_bfloat16(dtype: np.dtype[Any]) -> bool:
    """Whether `dtype` is ``ml_dtypes.bfloat16`` (told by name: ml_dtypes is not imported)."""
    return dtype.name == "bfloat16" and dtype.itemsize == 2


def _as_ndarray(x: Any, name: str, what: str) -> NDArray[Any]:
    """``np.asarray(x)`` with None, masked arrays and ragged lists turned into clear errors."""
    if x is None:
        raise TypeError(f"`{name}` must be {what}, got None")
    if isinstance(x, np.ma.MaskedArray):
        raise TypeError(
            f"`{name}` is a masked array, and xentref reads no masks (it would drop this one "
            f"silently): fill masked logits with -inf (np.ma.filled({name}, -np.inf)) so that "
            "a masked class gets probability 0, and leave masked examples out with "
            "`ignore_index`, a zero weight, or by selecting the unmasked rows"
        )
    try:
        return np.asarray(x)
    except (ValueError, TypeError, OverflowError) as exc:  # ragged nested lists
        raise ValueError(f"`{name}` must be a rectangular array of numbers: {exc}") from None


def _native(a: NDArray[Any]) -> NDArray[Any]:
    """`a` in native byte order (a copy only when it is big-endian on this machine)."""
    return a if a.dtype.isnative else a.astype(a.dtype.newbyteorder("="))


def as_float_array(x: ArrayLike, name: str) -> NDArray[np.floating[Any]]:
    """Return `x` as a real floating array in native byte order, by the rule above.

    float32, float64 and longdouble are kept; bool and integers become float64; float16 and
    bfloat16 become float32. The input itself is returned (not copied) when it is already
    one of the kept dtypes in native byte order; callers never write to it.
    """
    a = _as_ndarray(x, name, "an array of real numbers")
    dtype = a.dtype
    if dtype.kind == "c":
        raise TypeError(f"`{name}` must be real, got complex dtype {dtype}")
    if dtype.kind in "biu":
        return a.astype(np.float64)
    if is_bfloat16(dtype) or (dtype.kind == "f" and dtype.type is np.float16):
        return a.astype(np.float32)
    if dtype.kind == "f" and dtype.type in _KEPT_FLOATS:
        return _native(a)
    raise TypeError(
        f"`{name}` must be an array of real numbers (bool, integers, float16, bfloat16, "
        f"float32, float64 or longdouble), got dtype {dtype}"
    )


def as_index_array(x: ArrayLike, name: str) -> NDArray[np.intp]:
    """Return class indices as an intp array; floats are accepted only if whole numbers.

    Indices outside the intp range are a ValueError quoting the index as given, never a
    wrapped-around value.
    """
    a = _as_ndarray(x, name, "class indices (integers)")
    if is_bfloat16(a.dtype):
        a = a.astype(np.float32)
    if a.dtype.kind not in "biuf" or (a.dtype.kind == "f" and a.dtype.itemsize < 2):
        raise TypeError(f"`{name}` class indices must be integers, got dtype {a.dtype}")
    if a.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            bad = ~(np.isfinite(a) & (a == np.round(a)))
            if not bad.any():  # whole numbers: are they in range? (2.0**63 is not)
                limit = np.float64(-float(_INTP.min))  # 2.0**63, a float64 even next to float16
                bad = (a < -limit) | (a >= limit)
        if bad.any():
            at = _first(bad)
            raise ValueError(
                f"`{name}` class indices must be whole numbers in the {np.dtype(np.intp)} "
                f"range, got {a[at].item()!r} at index {at}"
            )
    elif a.dtype.kind == "u" and a.dtype.itemsize >= np.dtype(np.intp).itemsize and a.size:
        too_big = a > _INTP.max
        if too_big.any():
            at = _first(too_big)
            raise ValueError(
                f"`{name}` class indices must be at most {_INTP.max}, got {int(a[at])} at "
                f"index {at} (an unsigned index this large would wrap to a negative one)"
            )
    return a.astype(np.intp, copy=False)


def check_axis(a: NDArray[Any], axis: int, name: str) -> int:
    """Return `axis` as a non-negative int valid for `a` (the array named `name`)."""
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"`axis` must be an int, got {type(axis).__name__}")
    if a.ndim == 0:
        raise ValueError(
            f"`{name}` must have at least one dimension (the class axis), got a scalar"
        )
    if not -a.ndim <= axis < a.ndim:
        raise ValueError(
            f"`axis` {_show(axis)} is out of range for `{name}` with {a.ndim} dimension(s)"
        )
    if a.shape[axis] == 0:
        raise ValueError(
            f"`{name}` must have at least one class along axis {axis}, got shape {a.shape}"
        )
    return int(axis) % a.ndim


def check_bool(value: Any, name: str) -> bool:
    """Return a flag option (a Python or NumPy bool; not an int, not an array) as a bool."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be a bool, got {type(value).__name__}")
    return bool(value)


def check_reduction(reduction: str) -> None:
    """Raise unless `reduction` is one of 'none', 'mean', 'sum'."""
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        valid = ", ".join(repr(r) for r in REDUCTIONS)
        raise ValueError(f"`reduction` must be one of {valid}, got {_show(reduction)}")


def check_real(
    value: Any, name: str, *, low: float | None = None, high: float | None = None
) -> float:
    """Return a real scalar option as float, checking `low <= value <= high` (NaN rejected).

    An int too large for a float is a ValueError (it lies outside any finite range), and
    a longdouble beyond the float64 range likewise.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (numbers.Real, np.floating, np.integer)
    ):
        raise TypeError(f"`{name}` must be a real number, got {type(value).__name__}")
    lo = "-inf" if low is None else f"{low:g}"
    hi = "inf" if high is None else f"{high:g}"
    try:
        with np.errstate(over="ignore"):
            v = float(value)
    except OverflowError:  # an int beyond 1.8e308
        raise ValueError(f"`{name}` must be in [{lo}, {hi}], got {_show(value)}") from None
    if (
        np.isnan(v)
        or (low is not None and v < low)
        or (high is not None and v > high)
        or (np.isinf(v) and not np.isinf(value))  # a finite longdouble beyond float64
    ):
        raise ValueError(f"`{name}` must be in [{lo}, {hi}], got {_show(value)}")
    return v


def check_base(base: float | None) -> float:
    """Return log(base) (1.0 for nats when `base` is None); base must be positive and not 1."""
    if base is None:
        return 1.0
    b = check_real(base, "base", low=0.0)
    if b == 0.0 or b == 1.0 or not np.isfinite(b):
        raise ValueError(f"`base` must be positive, finite and different from 1, got {_show(base)}")
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


def check_nonnegative(a: NDArray[np.floating[Any]], name: str, *, nan_ok: bool = False) -> None:
    """Raise if any element of `a` is negative, infinite, or (unless `nan_ok`) NaN.

    Weights configure the loss, so NaN there is an error; probabilities are data, and
    `check_distribution` passes ``nan_ok=True`` so that a NaN in them propagates instead.
    """
    bad = (a < 0) | np.isinf(a)
    if not nan_ok:
        bad |= np.isnan(a)
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
    check_nonnegative(p, name, nan_ok=True)
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


def check_int(value: Any, name: str, *, low: int | None = None, high: int | None = None) -> int:
    """Return an integer option, checking `low <= value <= high` and that it fits in int64."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an int, got {type(value).__name__}")
    v = int(value)
    lo = _INT64.min if low is None else max(low, _INT64.min)
    hi = _INT64.max if high is None else min(high, _INT64.max)
    if v < lo:
        raise ValueError(f"`{name}` must be >= {lo}, got {_show(value)}")
    if v > hi:
        raise ValueError(f"`{name}` must be <= {hi}, got {_show(value)}")
    return v


def reduce(
    loss: NDArray[np.floating[Any]], reduction: str, denominator: float | None = None
) -> NDArray[np.floating[Any]]:
    """Apply a reduction: 'none' as is, 'sum', or 'mean' = sum / denominator (default: size).

    A mean over nothing (empty batch, every target ignored, zero total weight) is NaN, as in
    PyTorch: the mean of an empty set is undefined. A sum beyond the largest float is inf, the
    correctly rounded result, without a warning; a mean is finite whenever its true value is
    (two losses of 1e308 have the mean 1e308, though their sum overflows).
    """
    if reduction == "none":
        return loss
    with np.errstate(over="ignore"):
        total = np.sum(loss, dtype=loss.dtype)
    if reduction == "sum":
        return np.asarray(total)
    count = loss.size if denominator is None else denominator
    if count == 0:  # a smoothed loss over zero total weight is NaN too, not inf
        return np.asarray(np.nan, dtype=loss.dtype)
    dtype = loss.dtype.type
    with np.errstate(over="ignore"):
        if np.isinf(total) and np.isfinite(loss).all():
            # The sum overflowed; scaled by 2**-k (exact) with 2**k >= size it cannot, and the
            # mean is scaled back at the end: inf only if the mean itself is beyond the range.
            k = max(int(loss.size).bit_length(), 1)
            scaled = np.sum(loss * np.ldexp(dtype(1), -k), dtype=loss.dtype)
            return np.asarray(np.ldexp(scaled / dtype(count), k))
        return np.asarray(total / dtype(count))
