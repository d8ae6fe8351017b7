"""Softmax cross-entropy from logits, and its analytic gradient, with PyTorch's options.

`softmax_cross_entropy` equals ``torch.nn.functional.cross_entropy`` for every combination of
class weights, ``ignore_index``, label smoothing, soft targets and reduction, value for value;
`softmax_cross_entropy_grad` equals its autograd gradient. The math lives in one private
function, `_rows`, which walks the rows in blocks so that its scratch memory stays under a fixed
budget (`BLOCK_BYTES`) whatever the batch size.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from xentref._validation import (
    as_float_array,
    as_index_array,
    check_axis,
    check_class_indices,
    check_distribution,
    check_int,
    check_nonnegative,
    check_real,
    check_reduction,
    reduce,
)

FloatArray = NDArray[np.floating[Any]]

#: Scratch memory per block of rows, in bytes. Small enough to stay in a core's L2 cache,
#: large enough that the Python loop costs little (see scripts/bench.py).
BLOCK_BYTES = 1 << 20

#: Up to this many classes a block is transposed, classes first: each step over the classes
#: is then one long vector operation instead of one short loop per row (see scripts/bench.py).
FEW_CLASSES = 32


class _Problem(NamedTuple):
    """Validated inputs, with the class axis moved last and the batch flattened to rows."""

    z: FloatArray  # (R, C) logits
    labels: NDArray[np.intp] | None  # (R,) class indices, ignored rows set to 0
    valid: NDArray[np.bool_] | None  # (R,) False where target == ignore_index
    probs: FloatArray | None  # (R, C) probability targets
    weight: FloatArray | None  # (C,)
    eps: float  # label smoothing
    batch_shape: tuple[int, ...]  # logits' shape without the class axis
    axis: int
    denominator: float  # what "mean" divides by


def _prepare(
    logits: ArrayLike,
    target: ArrayLike,
    axis: int,
    weight: ArrayLike | None,
    ignore_index: int,
    label_smoothing: float,
    reduction: str,
) -> _Problem:
    z = as_float_array(logits, "logits")
    ax = check_axis(z, axis, "logits")
    check_reduction(reduction)
    eps = check_real(label_smoothing, "label_smoothing", low=0.0, high=1.0)
    ignore_index = check_int(ignore_index, "ignore_index")
    n_classes = z.shape[ax]
    batch_shape = z.shape[:ax] + z.shape[ax + 1 :]
    w = None
    if weight is not None:
        w = as_float_array(weight, "weight").astype(z.dtype, copy=False)
        if w.shape != (n_classes,):
            raise ValueError(
                f"`weight` must have shape ({n_classes},), one per class, got {w.shape}"
            )
        check_nonnegative(w, "weight")
    if target is None:
        raise TypeError("`target` must be class indices or class probabilities, got None")
    try:
        shape = np.shape(target)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"`target` must be a rectangular array of numbers: {exc}") from None
    rows = int(np.prod(batch_shape, dtype=np.int64))
    z2 = np.moveaxis(z, ax, -1).reshape(rows, n_classes)
    if shape == z.shape:  # class probabilities
        if ignore_index >= 0:
            raise ValueError(
                f"`ignore_index` applies only to class-index targets, got {ignore_index} "
                "with probability targets (as in PyTorch)"
            )
        t = as_float_array(target, "target").astype(z.dtype, copy=False)
        check_distribution(t, ax, "target")
        t2 = np.moveaxis(t, ax, -1).reshape(rows, n_classes)
        return _Problem(z2, None, None, t2, w, eps, batch_shape, ax, float(rows))
    if shape != batch_shape:
        raise ValueError(
            f"`target` must have shape {batch_shape} (class indices: `logits` {z.shape} without "
            f"axis {ax}) or {z.shape} (class probabilities), got {shape}"
        )
    y = as_index_array(target, "target")
    check_class_indices(y, n_classes, ignore_index)
    y = y.reshape(rows)
    valid = y != ignore_index
    n_valid = np.count_nonzero(valid)
    labels = y if n_valid == rows else np.where(valid, y, 0)
    if w is None:
        return _Problem(z2, labels, valid, None, w, eps, batch_shape, ax, float(n_valid))
    wy = np.where(valid, w[labels], 0)
    return _Problem(
        z2, labels, valid, None, w, eps, batch_shape, ax, float(np.sum(wy, dtype=z.dtype))
    )


def _row_blocks(n_rows: int, row_bytes: int) -> list[slice]:
    step = max(1, BLOCK_BYTES // max(row_bytes, 1))
    return [slice(i, min(i + step, n_rows)) for i in range(0, n_rows, step)]


def _class_sum(x: NDArray[Any], axis: int) -> NDArray[Any]:
    """Sum a block over its class axis, in an order that does not depend on the block's size."""
    if axis == 1:
        return np.asarray(np.sum(x, axis=1))  # pairwise along each row
    total = np.array(x[0])  # classes first: NumPy would regroup the terms with the block's width
    for row in x[1:]:
        total += row
    return total


def _log1p(x: FloatArray) -> FloatArray:
    """``np.log1p(x)`` for x >= 0, correctly rounded in float32 and faster there.

    NumPy's ``log1p`` calls the C library once per element (about 12 ns here, seven times its
    vectorised ``log``). In float64, ``1 + x`` is exact for a float32 ``x >= 2**-29``, so
    ``log(1 + x)`` in float64, rounded to float32, is ``log1p(x)`` correctly rounded (checked
    against float64 ``log1p`` on 8 million points); below ``2**-29``, ``log1p(x)`` rounds to
    ``x``. float64 input goes to ``np.log1p`` as it is.
    """
    if x.dtype != np.float32:
        return np.log1p(x)
    return np.where(x < 2.0**-29, x, np.log(1 + x.astype(np.float64))).astype(np.float32)


def _rows(pb: _Problem, grad: FloatArray | None = None, scale: float = 1.0) -> FloatArray:
    r"""Per-row losses; or, when `grad` (R, C) is given, fill it with `scale` * dloss/dz.

    With $m = \max_c z_c$ at class $k$ and $\tau = \sum_{c \ne k} e^{z_c - m}$, the log-normaliser
    is $m + \operatorname{log1p}(\tau)$ and $-\log p_c = (m - z_c) + \operatorname{log1p}(\tau)$,
    a sum of two non-negative numbers: no cancellation, and a loss of 1e-300 keeps its digits.
    Each row's target is a vector $a$ (a weighted one-hot, smoothed, or probabilities times
    weights); the loss is $\sum_c a_c(-\log p_c)$ and the gradient $p \sum_c a_c - a$.

    Rows go in blocks of at most `BLOCK_BYTES`. A block is (rows, classes), or (classes, rows)
    when there are at most `FEW_CLASSES` classes; `ax` is its class axis, and `at(c)` the
    position of (row, c[row]) in the flattened block.
    """
    z, w, eps = pb.z, pb.weight, pb.eps
    n_rows, n_classes = z.shape
    dtype = z.dtype.type
    few = n_classes <= FEW_CLASSES
    ax = 0 if few else 1
    wc = None if w is None else (w[:, None] if few else w)  # w along the class axis
    w_total = dtype(n_classes) if w is None else np.sum(w, dtype=z.dtype)
    losses = np.zeros(n_rows, dtype=z.dtype)
    blocks = _row_blocks(n_rows, n_classes * z.itemsize)
    scratch = np.empty((blocks[0].stop if blocks else 0) * n_classes, dtype=z.dtype)
    classes = np.arange(n_classes, dtype=np.min_scalar_type(n_classes))[:, None]
    plain = w is None and eps == 0 and pb.valid is not None and bool(np.all(pb.valid))
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        for rows in blocks:
            n = rows.stop - rows.start
            r = np.arange(n)
            if few:
                zc = d = scratch[: n * n_classes].reshape(n_classes, n)
                np.copyto(d, z[rows].T)
                m = np.max(zc, axis=0)
                k = np.max((zc >= m) * classes, axis=0).astype(np.intp)  # a class at the maximum
            else:
                zc = z[rows]
                k = np.argmax(zc, axis=1)
                m = zc[r, k]
                d = grad[rows] if grad is not None else scratch[: n * n_classes].reshape(n, -1)

            def at(c: NDArray[np.intp], n: int = n, r: NDArray[np.intp] = r) -> NDArray[np.intp]:
                return c * n + r if few else r * n_classes + c

            np.subtract(zc, np.expand_dims(m, ax), out=d)  # z_c - m <= 0
            flat = d.reshape(-1)
            if pb.probs is not None:  # probability targets: a = ((1 - eps) t + eps / C) * w
                t = pb.probs[rows]
                a = (t.T if few else t) * dtype(1 - eps) + dtype(eps / n_classes)
                if wc is not None:
                    a *= wc
                if grad is None:  # sum_c a_c (m - z_c)
                    ad = np.multiply(a, d)
                    np.copyto(ad, 0, where=a == 0)  # 0 * log 0 = 0: a masked class costs nothing
                    shift = -_class_sum(ad, ax)
            else:
                y = pb.labels[rows]  # type: ignore[index]
                valid = pb.valid[rows]  # type: ignore[index]
                wy = valid.astype(z.dtype) if w is None else np.where(valid, w[y], 0)
                if grad is None:
                    shift = -flat[at(y)]  # m - z_y
                    if eps > 0:  # sum_c w_c (m - z_c), a weightless masked class costing nothing
                        dw = d if w is None else np.where(wc == 0, 0, d)
                        smooth = -_class_sum(dw if wc is None else dw * wc, ax)
            e = np.exp(d, out=d)
            flat[at(k)] = 0  # the largest term, exactly 1, is added back through log1p
            tail = _class_sum(e, ax)
            log_tail = _log1p(tail)
            if grad is None:
                if pb.probs is not None:
                    losses[rows] = shift + _class_sum(a, ax) * log_tail
                    continue
                if plain:  # no weights, no smoothing, nothing ignored: the common case
                    losses[rows] = shift + log_tail
                    continue
                loss = np.where(
                    wy == 0, 0, wy * (shift + log_tail)
                )  # weight 0 counts 0, at inf too
                if eps > 0:  # sum_c w_c (-log p_c) = sum_c w_c (m - z_c) + W log1p(tail)
                    smooth += w_total * log_tail
                    loss = dtype(1 - eps) * loss + dtype(eps / n_classes) * smooth
                losses[rows] = np.where(valid, loss, 0)
                continue
            flat[at(k)] = 1  # now e_c = p_c (1 + tail)
            if pb.probs is not None:  # p * sum(a) - a
                inv = 1 / (1 + tail)
                e *= np.expand_dims(_class_sum(a, ax) * inv, ax)
                e -= a
                # At the argmax p_k ~ 1 and a_k ~ 1 may cancel: p_k sum(a) - a_k is exactly
                # (sum_{c != k} a_c - a_k tail) / (1 + tail), with no difference of near-equals.
                a_k = a[k, r] if few else a[r, k]
                if few:
                    a[k, r] = 0
                else:
                    a[r, k] = 0
                flat[at(k)] = (_class_sum(a, ax) - a_k * tail) * inv
            else:  # p * ((1 - eps) w_y + eps W / C) - (1 - eps) w_y e_y - eps w / C
                spread = dtype(eps / n_classes) * w_total if eps > 0 else dtype(0)
                inv = 1 / (1 + tail)
                e_y = flat[at(y)]
                # 1 - p_y without cancellation: when y is the argmax it is exactly tail / (1 + tail)
                one_minus_py = np.where(y == k, tail, (1 - e_y) + tail) * inv
                e *= np.expand_dims((dtype(1 - eps) * wy + spread) * inv, ax)
                flat[at(y)] = spread * e_y * inv - dtype(1 - eps) * wy * one_minus_py
                if eps > 0:
                    e -= dtype(eps / n_classes) * (1 if wc is None else wc)
                np.copyto(e, 0, where=np.expand_dims(~valid, ax))
            if scale != 1:
                e *= dtype(scale)
            if few:
                np.copyto(grad[rows], e.T)
    return losses


def softmax_cross_entropy(
    logits: ArrayLike,
    target: ArrayLike,
    *,
    axis: int = -1,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> FloatArray:
    r"""Compute the softmax cross-entropy between logits and a target, as PyTorch does.

    The target is either integer class indices (the logits' shape without the class axis)
    or class probabilities (the logits' shape). Every option has exactly the semantics of
    ``torch.nn.functional.cross_entropy``; pass ``axis=1`` for PyTorch's ``(N, C, d1, ...)``
    layout (the default ``axis=-1`` is NumPy's, SciPy's and optax's).

    $$
    \ell_n = -\sum_{c=1}^{C} a_{nc} \log \operatorname{softmax}(z_n)_c
           = \sum_{c} a_{nc} \Big(\log \sum_{k} e^{z_{nk}} - z_{nc}\Big),
    $$

    where, for a class index $y_n$ with class weights $w$ and label smoothing $\varepsilon$,
    $a_{nc} = (1 - \varepsilon)\, w_{y_n} [c = y_n] + \tfrac{\varepsilon}{C} w_c$, and for
    probabilities $t_n$, $a_{nc} = w_c \big((1 - \varepsilon) t_{nc} + \tfrac{\varepsilon}{C}\big)$.
    Without options, $\ell_n = \operatorname{logsumexp}(z_n) - z_{n y_n}$. The derivation is
    on [Softmax cross-entropy](../losses/softmax.md); the options on
    [Options in practice](../losses/options.md).

    Parameters
    ----------
    logits : array_like, shape (..., C, ...)
        Unnormalised log-probabilities; the class axis is `axis`. ``-inf`` masks a class.
        float32 stays float32, float64 stays float64, integers become float64.
    target : array_like
        Class indices of shape ``logits.shape`` without `axis` (integers, or floats that
        are whole numbers), in ``[0, C)`` or equal to `ignore_index`; or class
        probabilities of shape ``logits.shape``, non-negative and summing to 1 along `axis`
        (within $\sqrt{\epsilon}$ of the dtype). A target of 0 on a ``-inf`` class costs 0.
    axis : int, default -1
        The class axis of `logits`.
    weight : array_like, shape (C,), optional
        A non-negative, finite weight per class ("rescaling weight" in PyTorch).
    ignore_index : int, default -100
        A class-index target equal to this value contributes nothing, to the loss or to
        the "mean" denominator. With probability targets it must be negative.
    label_smoothing : float, default 0.0
        $\varepsilon \in [0, 1]$: the target becomes $(1 - \varepsilon)\,y + \varepsilon / C$.
    reduction : {"mean", "sum", "none"}, default "mean"
        "none": the loss per position, shape ``logits.shape`` without `axis`. "sum": their
        sum. "mean": for class indices, the sum divided by the total weight of the
        non-ignored targets, $\sum_n w_{y_n}$ (the count of non-ignored targets without
        `weight`); for probabilities, the sum divided by the number of positions.

    Returns
    -------
    ndarray
        The loss: 0-d for "mean" and "sum", else shape ``logits.shape`` without `axis`, in
        the dtype of `logits`. A "mean" over nothing (empty batch, every target ignored,
        zero total weight) is NaN, as in PyTorch.

    Raises
    ------
    TypeError
        If an argument is None, complex or not numeric, or `axis` / `ignore_index` is not
        an int.
    ValueError
        If the shapes do not match (both are shown), a class index is out of range (the
        value and the valid range are shown) or not a whole number, probability targets are
        negative or do not sum to 1, `weight` has the wrong shape or a negative entry,
        `label_smoothing` is outside [0, 1], `reduction` is unknown, or `ignore_index` is
        non-negative with probability targets.

    See Also
    --------
    - [softmax_cross_entropy_grad][xentref.softmax_cross_entropy_grad]: its gradient.
    - [log_softmax][xentref.log_softmax], [logsumexp][xentref.logsumexp]: the pieces.
    - [cross_entropy][xentref.cross_entropy]: the same quantity between two distributions.
    - [binary_cross_entropy_with_logits][xentref.binary_cross_entropy_with_logits]: the
      two-class case with one logit.

    Notes
    -----
    With $m = \max_c z_c$ and $\tau = \sum_{c \ne \arg\max} e^{z_c - m}$, each
    $-\log p_c$ is computed as $(m - z_c) + \operatorname{log1p}(\tau)$, a sum of two
    non-negative numbers, so a confidently right prediction with loss $10^{-300}$ keeps
    every digit (PyTorch returns 0 there) and huge logits never overflow. Rows are
    processed in blocks of at most `BLOCK_BYTES` (1 MiB) of scratch memory. In float32,
    $\operatorname{log1p}(\tau)$ is $\log(1 + \tau)$ evaluated in float64, where the sum is
    exact: correctly rounded, and several times faster than NumPy's ``log1p``.

    Where PyTorch differs (torch 2.13): a probability target of exactly 0 on a ``-inf``
    logit gives NaN in PyTorch (``0 * -inf``) and 0 here; PyTorch silently treats a
    negative `label_smoothing` as 0 and accepts probability targets that do not sum to 1,
    which are errors here; PyTorch rejects int32 class indices, accepted here. The weighted
    "mean" divides by $\sum_n w_{y_n}$ for class indices but by $N$ for probabilities, so a
    one-hot probability target and the equivalent class index give different weighted
    means (pytorch/pytorch#107680); this function reproduces both, deliberately.

    Examples
    --------
    >>> import numpy as np
    >>> from xentref import softmax_cross_entropy
    >>> logits = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3], [1.0, 1.0, 1.0]])
    >>> target = np.array([0, 1, 2])
    >>> print(softmax_cross_entropy(logits, target, reduction="none"))
    [0.41703002 0.22004952 1.09861229]
    >>> print(softmax_cross_entropy(logits, target))
    0.5785639426554...
    >>> print(softmax_cross_entropy(logits, target, weight=[1.0, 2.0, 3.0]))  # / (1 + 2 + 3)
    0.6921609880538...
    >>> print(softmax_cross_entropy(logits, target, label_smoothing=0.1))
    0.6574528315443...

    A confidently right prediction: the exact loss is $\operatorname{log1p}(e^{-700})$.

    >>> print(softmax_cross_entropy([[700.0, 0.0]], [0]))
    9.85967654375977e-305
    >>> z = np.array([700.0, 0.0]); print(np.log(np.sum(np.exp(z - z.max()))) - 0.0)  # naive
    0.0
    """
    pb = _prepare(logits, target, axis, weight, ignore_index, label_smoothing, reduction)
    losses = _rows(pb)
    return reduce(losses.reshape(pb.batch_shape), reduction, pb.denominator)


def softmax_cross_entropy_grad(
    logits: ArrayLike,
    target: ArrayLike,
    *,
    axis: int = -1,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> FloatArray:
    r"""Compute the gradient of the softmax cross-entropy with respect to `logits`.

    The derivative of [softmax_cross_entropy][xentref.softmax_cross_entropy].

    Analytic, same keywords and semantics as the loss; equal to PyTorch's autograd gradient
    of ``torch.nn.functional.cross_entropy``. For one position with target vector $a_n$
    (defined in [softmax_cross_entropy][xentref.softmax_cross_entropy]) and
    $p_n = \operatorname{softmax}(z_n)$:

    $$
    \frac{\partial \ell_n}{\partial z_{n}} = p_n \sum_{c} a_{nc} - a_n
      \quad\text{which is}\quad p_n - y_n \text{ for a one-hot or probability target.}
    $$

    Derived step by step on [Softmax cross-entropy](../losses/softmax.md).

    Parameters
    ----------
    logits : array_like, shape (..., C, ...)
        As for [softmax_cross_entropy][xentref.softmax_cross_entropy].
    target : array_like
        As for [softmax_cross_entropy][xentref.softmax_cross_entropy].
    axis : int, default -1
        The class axis of `logits`.
    weight : array_like, shape (C,), optional
        Per-class weights.
    ignore_index : int, default -100
        Ignored class-index targets get a zero gradient row.
    label_smoothing : float, default 0.0
        $\varepsilon \in [0, 1]$.
    reduction : {"mean", "sum", "none"}, default "mean"
        The gradient of the reduced loss: "mean" divides by the same denominator as the
        loss. "none" gives each position's gradient of its own loss (the gradient of their
        sum, since positions do not interact).

    Returns
    -------
    ndarray
        Same shape and dtype as `logits`. Rows of ignored targets are 0; when "mean" has a
        zero denominator (every target ignored, or zero total weight) the gradient is 0, as
        PyTorch's autograd gives for the all-ignored batch.

    Raises
    ------
    TypeError
        As for [softmax_cross_entropy][xentref.softmax_cross_entropy].
    ValueError
        As for [softmax_cross_entropy][xentref.softmax_cross_entropy].

    See Also
    --------
    - [softmax_cross_entropy][xentref.softmax_cross_entropy]: the loss.
    - [softmax][xentref.softmax]: $p$ in the formula.

    Notes
    -----
    The gradient is computed in place in the output, block by block: $p$ from the same
    shifted exponentials as the loss, then scaled by $\sum_c a_c$ and reduced by $a$.
    Each unweighted, unsmoothed row sums to 0 (softmax and the target both sum to 1),
    checked by a property test. A ``-inf`` logit gets exactly 0.

    Examples
    --------
    >>> import numpy as np
    >>> from xentref import softmax, softmax_cross_entropy_grad
    >>> logits = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]])
    >>> target = np.array([0, 1])
    >>> g = softmax_cross_entropy_grad(logits, target, reduction="sum")
    >>> print(g)
    [[-0.34099886  0.24243297  0.09856589]
     [ 0.10860373 -0.19752094  0.08891721]]
    >>> onehot = np.eye(3)[target]
    >>> print(np.allclose(g, softmax(logits) - onehot, rtol=1e-15, atol=1e-16))
    True
    >>> print(np.allclose(g.sum(axis=1), 0.0, atol=1e-15))
    True
    """
    pb = _prepare(logits, target, axis, weight, ignore_index, label_smoothing, reduction)
    scale = 1.0
    if reduction == "mean":
        scale = 0.0 if pb.denominator == 0 else 1.0 / pb.denominator
    grad = np.empty_like(pb.z)
    _rows(pb, grad=grad, scale=scale)
    moved = (*pb.batch_shape, pb.z.shape[1])
    return np.moveaxis(grad.reshape(moved), -1, pb.axis)
