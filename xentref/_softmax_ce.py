"""Softmax cross-entropy from logits, and its analytic gradient, with PyTorch's options.

`softmax_cross_entropy` equals ``torch.nn.functional.cross_entropy`` for every combination of
class weights, ``ignore_index``, label smoothing, soft targets and reduction, value for value;
`softmax_cross_entropy_grad` equals its autograd gradient. Both add soft-capping and z-loss.

The private steps follow the [Softmax cross-entropy](../losses/softmax.md) page. Every row has
a target vector $a$ (a weighted one-hot, smoothed, or probabilities times weights); with
$m = \\max_c z_c$ at class $k$ and $\\tau = \\sum_{c \\ne k} e^{z_c - m}$,

    loss = sum_c a_c (m - z_c) + (sum_c a_c) log1p(tau)      (two non-negative terms)
    grad = p * sum_c a_c - a,   p_c = e^{z_c - m} / (1 + tau)

`_prepare` validates and flattens the inputs; `_loss_rows` walks the rows in blocks of at most
`BLOCK_BYTES` of scratch memory (`_Block` holds the one layout decision) and, per block, runs
the forward pass `_block_loss`: `_softcap`, `_shift` (z - m and k), the target's linear term
(`_index_linear`, `_probs_linear`), `_exp_tail` (tau), `_log1p`, `_z_loss`; then, for a
gradient, the backward pass `_block_grad` (`_index_grad`, `_probs_grad`) on the same block.
"""

from __future__ import annotations

from collections.abc import Iterator
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
#: At most 255: `_Block.argmax` numbers the classes in bytes.
FEW_CLASSES = 32

#: Rows per tile when a block is copied in or out transposed (`_transpose`): the copy reads
#: every row once per class, and a tile of 4096 rows of 10 float32 (160 KiB) stays in L2
#: meanwhile. At 65,536 x 10 float32 the copy took 0.58 ms this way and 0.85 ms untiled.
TRANSPOSE_ROWS = 4096


# ----------------------------------------------------------------------- validated inputs


class _Options(NamedTuple):
    """The options that shape every row's target vector and loss."""

    weight: FloatArray | None  # (C,) class weights w_c
    weight_total: float  # W = sum_c w_c (C without weights)
    eps: float  # label smoothing
    z_loss: float  # coefficient of logsumexp(z)**2
    softcap: float | None  # c in c * tanh(z / c)


class _Labels(NamedTuple):
    """Class-index targets of R rows."""

    y: NDArray[np.intp]  # (R,) class indices, ignored rows set to 0
    w: FloatArray | None  # (R,) position weights w_{y_n}, 0 if ignored; None: all 1
    valid: NDArray[np.bool_] | None  # (R,) False where ignored; None: none ignored

    def rows(self, s: slice) -> _Labels:
        return _Labels(self.y[s], _part(self.w, s), _part(self.valid, s))


class _Probs(NamedTuple):
    """Class-probability targets of R rows."""

    t: FloatArray  # (R, C)

    def rows(self, s: slice) -> _Probs:
        return _Probs(self.t[s])


def _part(x: NDArray[Any] | None, s: slice) -> NDArray[Any] | None:
    return None if x is None else x[s]


class _Problem(NamedTuple):
    """Validated inputs, with the class axis moved last and the batch flattened to rows."""

    z: FloatArray  # (R, C) logits
    target: _Labels | _Probs
    options: _Options
    batch_shape: tuple[int, ...]  # logits' shape without the class axis
    axis: int
    denominator: float  # what "mean" divides by


def _options(
    weight: ArrayLike | None,
    n_classes: int,
    dtype: np.dtype[Any],
    label_smoothing: float,
    z_loss: float,
    softcap: float | None,
    *,
    for_mean: bool = False,
) -> _Options:
    """Check the options that do not depend on the target.

    With `for_mean`, weights of $2^{64}$ and more are scaled by a power of two so that the
    largest is about 1: exact, and a "mean" (loss and gradient) does not change, but no sum
    of weights overflows (weights of 1e308 have a finite mean).
    """
    eps = check_real(label_smoothing, "label_smoothing", low=0.0, high=1.0)
    zl = check_real(z_loss, "z_loss")
    if not 0 <= zl < np.inf:
        raise ValueError(f"`z_loss` must be a non-negative finite number, got {z_loss!r}")
    cap = None if softcap is None else check_real(softcap, "softcap")
    if cap is not None and not 0 < cap < np.inf:
        raise ValueError(f"`softcap` must be a positive finite number or None, got {softcap!r}")
    if weight is None:
        return _Options(None, float(n_classes), eps, zl, cap)
    w = as_float_array(weight, "weight").astype(dtype, copy=False)
    if w.shape != (n_classes,):
        raise ValueError(f"`weight` must have shape ({n_classes},), one per class, got {w.shape}")
    check_nonnegative(w, "weight")
    largest = np.max(w, initial=0)
    if for_mean and largest >= 2.0**64:
        w = np.ldexp(w, -int(np.frexp(largest)[1]))  # exact: a power of two
    with np.errstate(over="ignore"):  # weights of 1e308: W is inf, and so are the losses
        return _Options(w, float(np.sum(w, dtype=dtype)), eps, zl, cap)


def _labels(
    target: ArrayLike, n_classes: int, ignore_index: int, options: _Options, dtype: Any
) -> tuple[_Labels, float]:
    """Class indices as `_Labels`, and what "mean" divides by: sum_n w_{y_n} (or the count)."""
    y = as_index_array(target, "target").reshape(-1)
    check_class_indices(y, n_classes, ignore_index)
    valid = y != ignore_index
    if np.all(valid):
        y_ok, mask = y, None
    else:
        y_ok, mask = np.where(valid, y, 0), valid
    if options.weight is None:
        w = None if mask is None else mask.astype(dtype)
        return _Labels(y_ok, w, mask), float(y.size if mask is None else np.count_nonzero(mask))
    w = np.where(valid, options.weight[y_ok], 0).astype(dtype, copy=False)
    with np.errstate(over="ignore"):
        return _Labels(y_ok, w, mask), float(np.sum(w, dtype=dtype))


def _target_shape(target: ArrayLike) -> tuple[int, ...]:
    if target is None:
        raise TypeError("`target` must be class indices or class probabilities, got None")
    try:
        return np.shape(target)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"`target` must be a rectangular array of numbers: {exc}") from None


def _probabilities(target: ArrayLike, dtype: Any, axis: int, ignore_index: int) -> _Probs:
    """Class-probability targets as `_Probs`, class axis last, rows flattened."""
    if ignore_index >= 0:
        raise ValueError(
            f"`ignore_index` applies only to class-index targets, got {ignore_index} "
            "with probability targets (as in PyTorch)"
        )
    t = as_float_array(target, "target").astype(dtype, copy=False)
    check_distribution(t, axis, "target")
    return _Probs(np.moveaxis(t, axis, -1).reshape(-1, t.shape[axis]))


def _prepare(
    logits: ArrayLike,
    target: ArrayLike,
    axis: int,
    weight: ArrayLike | None,
    ignore_index: int,
    label_smoothing: float,
    reduction: str,
    z_loss: float = 0.0,
    softcap: float | None = None,
) -> _Problem:
    """Validate every argument; flatten the logits to (R, C) and the target to R rows."""
    z = as_float_array(logits, "logits")
    ax = check_axis(z, axis, "logits")
    check_reduction(reduction)
    ignore_index = check_int(ignore_index, "ignore_index")
    n_classes = z.shape[ax]
    options = _options(
        weight, n_classes, z.dtype, label_smoothing, z_loss, softcap, for_mean=reduction == "mean"
    )
    batch_shape = z.shape[:ax] + z.shape[ax + 1 :]
    shape = _target_shape(target)
    rows = int(np.prod(batch_shape, dtype=np.int64))
    z2 = np.moveaxis(z, ax, -1).reshape(rows, n_classes)
    if shape == z.shape:
        probs = _probabilities(target, z.dtype, ax, ignore_index)
        return _Problem(z2, probs, options, batch_shape, ax, float(rows))
    if shape != batch_shape:
        raise ValueError(
            f"`target` must have shape {batch_shape} (class indices: `logits` {z.shape} without "
            f"axis {ax}) or {z.shape} (class probabilities), got {shape}"
        )
    labels, denominator = _labels(target, n_classes, ignore_index, options, z.dtype)
    return _Problem(z2, labels, options, batch_shape, ax, denominator)


# ------------------------------------------------------------------------- blocks of rows


def _row_blocks(n_rows: int, row_bytes: int) -> list[slice]:
    """Slices of consecutive rows, each at most `BLOCK_BYTES` (at least one row)."""
    step = max(1, BLOCK_BYTES // max(row_bytes, 1))
    return [slice(i, min(i + step, n_rows)) for i in range(0, n_rows, step)]


class _Block(NamedTuple):
    """A block of rows in scratch memory: (rows, classes), or (classes, rows) when `ax` is 0.

    The layout is decided here alone: each method reads or writes "the class `c_n` of row n",
    "the sum over classes" or "a value per row / per class" whatever the layout.
    """

    x: FloatArray
    ax: int  # the class axis of x
    r: NDArray[np.intp]  # 0, 1, ..., rows - 1
    flags: NDArray[np.uint8]  # classes first: a byte per entry of x, for `argmax`

    def _flat(self, c: NDArray[np.intp]) -> NDArray[np.intp]:
        """Positions of (n, c_n) in the block flattened in C order (one index: the fast one)."""
        n_rows, n_classes = len(self.r), self.x.shape[self.ax]
        return c * n_rows + self.r if self.ax == 0 else self.r * n_classes + c

    def take(self, c: NDArray[np.intp], a: NDArray[Any] | None = None) -> NDArray[Any]:
        """x[n, c_n] for each row n (or the same entries of `a`, laid out like x)."""
        return np.take(self.x if a is None else a, self._flat(c))

    def put(self, c: NDArray[np.intp], values: ArrayLike, a: NDArray[Any] | None = None) -> None:
        """x[n, c_n] = values_n for each row n (or into `a`, laid out like x)."""
        a = self.x if a is None else a
        if a.flags.c_contiguous:  # a view: assign through it, three times faster than np.put
            a.reshape(-1)[self._flat(c)] = values
        else:
            np.put(a, self._flat(c), values)

    def per_row(self, v: ArrayLike) -> NDArray[Any]:
        """A value per row, shaped to broadcast against x."""
        return np.expand_dims(v, self.ax)

    def per_class(self, v: NDArray[Any]) -> NDArray[Any]:
        """A value per class, shaped to broadcast against x."""
        return v[:, None] if self.ax == 0 else v

    def layout(self, rows_by_classes: NDArray[Any]) -> NDArray[Any]:
        """A (rows, classes) array in this block's layout."""
        return rows_by_classes.T if self.ax == 0 else rows_by_classes

    def sum(self, a: NDArray[Any]) -> NDArray[Any]:
        """Sum over the classes, in an order that does not depend on the number of rows."""
        if self.ax == 1:
            return np.asarray(np.sum(a, axis=1))  # pairwise along each row
        total = np.array(a[0])  # classes first: NumPy would regroup with the block's width
        for row in a[1:]:
            total += row
        return total

    def argmax(self, z: FloatArray) -> tuple[FloatArray, NDArray[np.intp]]:
        """The row maxima m of `z` (laid out like x) and a class k_n at each maximum."""
        if self.ax == 1:
            k = np.argmax(z, axis=1)
            return z[self.r, k], k
        m = np.max(z, axis=0)  # argmax along axis 0 would copy: the largest c at m instead
        classes = np.arange(z.shape[0], dtype=np.uint8)[:, None]  # at most FEW_CLASSES
        at_max = np.greater_equal(z, m, out=self.flags.view(np.bool_)).view(np.uint8)
        return m, np.max(np.multiply(at_max, classes, out=at_max), axis=0).astype(np.intp)


def _transpose(dst: FloatArray, src: FloatArray) -> None:
    """dst <- src.T, in tiles of `TRANSPOSE_ROWS` rows of src (positions, with few classes).

    The copy reads every row once per class: tile by tile, what it reads stays in cache.
    """
    for t in range(0, src.shape[0], TRANSPOSE_ROWS):
        np.copyto(dst[:, t : t + TRANSPOSE_ROWS], src[t : t + TRANSPOSE_ROWS].T)


def _blocks(z: FloatArray, grad: FloatArray | None) -> Iterator[tuple[slice, _Block, FloatArray]]:
    """Blocks of rows in one reused scratch buffer, each with the logits to read it from.

    With at most `FEW_CLASSES` classes a block is transposed (classes first) and `z[rows]` is
    copied into it. Otherwise the logits are read from `z[rows]` as they are, and, when a
    gradient is wanted, the block is `grad[rows]` itself: the gradient is computed in place
    in the output (`grad` may even be `z`). A generator: each block reuses the buffer.
    """
    n_rows, n_classes = z.shape
    slices = _row_blocks(n_rows, n_classes * z.itemsize)
    size = (slices[0].stop if slices else 0) * n_classes
    if n_classes > FEW_CLASSES:
        scratch = np.empty(0 if grad is not None else size, dtype=z.dtype)
        no_flags = np.empty(0, dtype=np.uint8)
        for rows in slices:
            n = rows.stop - rows.start
            x = grad[rows] if grad is not None else scratch[: n * n_classes].reshape(n, n_classes)
            yield rows, _Block(x, 1, np.arange(n), no_flags), z[rows]
        return
    scratch, flags = np.empty(size, dtype=z.dtype), np.empty(size, dtype=np.uint8)
    for rows in slices:
        n = rows.stop - rows.start
        x = scratch[: n * n_classes].reshape(n_classes, n)
        _transpose(x, z[rows])
        yield rows, _Block(x, 0, np.arange(n), flags[: n * n_classes].reshape(n_classes, n)), x


# ------------------------------------------------------------------------- the math steps
# --8<-- [start:steps]


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
    wide = x.astype(np.float64)
    wide += 1
    out = np.log(wide, out=wide).astype(np.float32)
    np.copyto(out, x, where=x < 2.0**-29)
    return out


def _times(a: ArrayLike, b: NDArray[Any]) -> NDArray[Any]:
    """a * b with 0 * anything = 0: a target of 0 on a class of -inf logit costs nothing."""
    if np.ndim(a) == 0 and a != 0:
        return b if a == 1 else np.multiply(a, b)
    ab: NDArray[Any] = np.asarray(np.multiply(a, b))
    np.copyto(ab, 0, where=np.broadcast_to(np.equal(a, 0), ab.shape))
    return ab


def _softcap(b: _Block, z: FloatArray, cap: float) -> FloatArray:
    r"""$x \leftarrow c \tanh(z / c)$, the capped logits; return $dx/dz = 1 - (x / c)^2$."""
    np.tanh(np.divide(z, cap, out=b.x), out=b.x)
    slope = 1 - np.square(b.x)
    np.multiply(b.x, cap, out=b.x)
    return slope


def _shift(b: _Block, z: FloatArray) -> tuple[FloatArray, NDArray[np.intp]]:
    r"""$x \leftarrow z - m$, $m = \max_c z_c$ (every entry $\le 0$); return m and an argmax k."""
    m, k = b.argmax(z)
    np.subtract(z, b.per_row(m), out=b.x)
    return m, k


def _exp_tail(b: _Block, k: NDArray[np.intp]) -> FloatArray:
    r"""$x \leftarrow e^{z - m}$ with $x_k = 0$; return $\tau = \sum_{c \ne k} e^{z_c - m}$.

    The largest term, exactly 1, is left out of the sum and added back through
    $\operatorname{log1p}(\tau)$: no rounding of $1 + \tau$.
    """
    np.exp(b.x, out=b.x)
    b.put(k, 0)
    return b.sum(b.x)


def _index_linear(
    b: _Block, t: _Labels, o: _Options, n_classes: int
) -> tuple[FloatArray, FloatArray | float]:
    r"""$\sum_c a_c (m - z_c)$ and $\sum_c a_c$ for a class-index target.

    Here $a = (1 - \varepsilon) w_y e_y + \varepsilon w / C$ ($e_y$ the one-hot vector of y).
    Call it while the block holds $z - m$.
    """
    linear = -b.take(t.y)  # m - z_y
    mass: FloatArray | float = 1.0
    if t.w is not None:
        linear, mass = _times(t.w, linear), t.w  # w_y (m - z_y), a weight of 0 costing 0
    if o.eps == 0:
        return linear, mass
    d = b.x if o.weight is None else _times(b.per_class(o.weight), b.x)
    smooth = -b.sum(d)  # sum_c w_c (m - z_c)
    linear = (1 - o.eps) * linear + (o.eps / n_classes) * smooth
    mass = (1 - o.eps) * mass + (o.eps / n_classes) * o.weight_total
    if t.valid is not None:  # smoothing reaches ignored rows too: they cost nothing
        linear, mass = np.where(t.valid, linear, 0), np.where(t.valid, mass, 0)
    return linear, mass


def _probs_target(b: _Block, t: _Probs, o: _Options, n_classes: int) -> NDArray[Any]:
    r"""The target vector $a_c = w_c ((1 - \varepsilon) t_c + \varepsilon / C)$, in block layout."""
    a: NDArray[Any] = np.multiply(b.layout(t.t), 1 - o.eps, order="C")
    a += o.eps / n_classes
    if o.weight is not None:
        a *= b.per_class(o.weight)
    return a


def _probs_linear(b: _Block, a: NDArray[Any]) -> tuple[FloatArray, FloatArray]:
    r"""$\sum_c a_c (m - z_c)$ and $\sum_c a_c$; call it while the block holds $z - m$."""
    return -b.sum(_times(a, b.x)), b.sum(a)


def _index_grad(
    b: _Block,
    t: _Labels,
    o: _Options,
    k: NDArray[np.intp],
    tail: FloatArray,
    extra: FloatArray | float,
    scale: float,
) -> None:
    r"""$x \leftarrow s\,(p \sum_c a_c - a)$ for a class-index target; call it on $e^{z - m}$.

    `extra` is added to $\sum_c a_c$ (the z-loss term) and `scale` $s$ multiplies everything
    (folded into the per-row factors: no extra pass). At the target class,
    $p_y \sum_c a_c - a_y$ is written as
    $p_y \sigma - (1 - \varepsilon) w_y (1 - p_y) - \varepsilon w_y / C$ with $\sigma$ all of
    $\sum_c a_c$ but $(1 - \varepsilon) w_y$, and $1 - p_y = (\tau + 1 - e_y) / (1 + \tau)$,
    exactly $\tau / (1 + \tau)$ when y is the argmax: no difference of near-equal numbers.
    """
    n_classes = b.x.shape[b.ax]
    inv = scale / (1 + tail)
    b.put(k, 1)  # now x_c = e^{z_c - m} = p_c (1 + tail)
    e_y = b.take(t.y)
    one_minus_p_y = ((1 - e_y) + tail) * inv  # e_y = 1 exactly at the argmax: tau / (1 + tau)
    w_y = 1.0 if t.w is None else t.w
    spread = o.eps / n_classes * o.weight_total + extra
    np.multiply(b.x, b.per_row(((1 - o.eps) * w_y + spread) * inv), out=b.x)
    b.put(t.y, spread * e_y * inv - (1 - o.eps) * w_y * one_minus_p_y)
    if o.eps > 0:
        w = 1.0 if o.weight is None else b.per_class(o.weight)
        np.subtract(b.x, (scale * o.eps / n_classes) * w, out=b.x)
    if t.valid is not None:
        np.copyto(b.x, 0, where=b.per_row(~t.valid))


def _probs_grad(
    b: _Block, a: NDArray[Any], k: NDArray[np.intp], tail: FloatArray, extra: FloatArray | float
) -> None:
    r"""$x \leftarrow p (\sum_c a_c + \text{extra}) - a$ for a probability target, on $e^{z - m}$.

    At the argmax, $p_k \approx 1$ and $a_k \approx 1$ may cancel: there the gradient is
    $(\sum_{c \ne k} a_c - a_k \tau + \text{extra}) / (1 + \tau)$, exactly.
    """
    inv = 1 / (1 + tail)
    b.put(k, 1)
    np.multiply(b.x, b.per_row((b.sum(a) + extra) * inv), out=b.x)
    np.subtract(b.x, a, out=b.x)
    a_k = b.take(k, a)
    b.put(k, 0, a)
    b.put(k, (b.sum(a) - a_k * tail + extra) * inv)


class _Forward(NamedTuple):
    """What the gradient of a block needs from its forward pass."""

    k: NDArray[np.intp]  # a class at each row's maximum
    tail: FloatArray  # tau = sum_{c != k} e^{z_c - m}
    extra: FloatArray | float  # the z-loss's addition to sum_c a_c
    slope: FloatArray | None  # d(capped z)/dz, with a softcap
    a: NDArray[Any] | None  # the target vector, for probability targets


def _z_loss(
    o: _Options, w: FloatArray | float, m: FloatArray, log_tail: FloatArray
) -> tuple[FloatArray, FloatArray | float]:
    r"""The z-loss $\zeta w\,\text{lse}^2$ and its addition $2 \zeta w\,\text{lse}$ to the mass.

    Here $\text{lse} = m + \operatorname{log1p}(\tau)$ and w is the position's weight.
    """
    lse = m + log_tail
    return _times(np.multiply(o.z_loss, w), lse * lse), _times(np.multiply(2 * o.z_loss, w), lse)


def _block_loss(
    b: _Block, z: FloatArray, target: _Labels | _Probs, o: _Options, want_loss: bool = True
) -> tuple[FloatArray | None, _Forward]:
    r"""The loss of each row of the logits `z` of a block (None unless `want_loss`).

    loss = linear + mass * log1p(tau) (+ the z-loss). The block ends holding $e^{z - m}$
    with $x_k = 0$; the returned `_Forward` is what `_block_grad` needs from this pass.
    """
    n_classes = b.x.shape[b.ax]
    slope = None
    if o.softcap is not None:
        slope, z = _softcap(b, z, o.softcap), b.x
    m, k = _shift(b, z)
    a = None
    if isinstance(target, _Labels):
        terms = _index_linear(b, target, o, n_classes) if want_loss else None
    else:
        a = _probs_target(b, target, o, n_classes)
        terms = _probs_linear(b, a) if want_loss else None
    tail = _exp_tail(b, k)
    if not want_loss and o.z_loss == 0:  # the gradient alone needs no logarithm
        return None, _Forward(k, tail, 0.0, slope, a)
    log_tail = _log1p(tail)
    loss = None if terms is None else terms[0] + _times(terms[1], log_tail)
    extra: FloatArray | float = 0.0
    if o.z_loss > 0:
        w = target.w if isinstance(target, _Labels) and target.w is not None else 1.0
        z_term, extra = _z_loss(o, w, m, log_tail)
        loss = None if loss is None else loss + z_term
    return loss, _Forward(k, tail, extra, slope, a)


def _block_grad(
    b: _Block, target: _Labels | _Probs, o: _Options, f: _Forward, scale: float
) -> None:
    """x <- scale * dloss/dz, from the block's $e^{z - m}$ and its forward pass `f`."""
    if isinstance(target, _Labels):
        _index_grad(b, target, o, f.k, f.tail, f.extra, scale if f.slope is None else 1.0)
    elif f.a is not None:
        _probs_grad(b, f.a, f.k, f.tail, f.extra)
    if f.slope is not None or f.a is not None:
        np.multiply(b.x, scale if f.slope is None else scale * f.slope, out=b.x)


def _loss_rows(
    z: FloatArray,
    target: _Labels | _Probs,
    options: _Options,
    grad: FloatArray | None = None,
    scale: float = 1.0,
    *,
    want_loss: bool = True,
) -> FloatArray:
    """Per-row losses of `z` (R, C); when `grad` (R, C) is given, fill it with scale * dloss/dz.

    The scratch memory stays under `BLOCK_BYTES` whatever R is; `grad` may be `z` itself.
    Without `want_loss` only the gradient is computed (the losses returned are empty).
    """
    losses = np.empty(z.shape[0] if want_loss else 0, dtype=z.dtype)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        for rows, block, z_rows in _blocks(z, grad):
            t = target.rows(rows)
            loss, forward = _block_loss(block, z_rows, t, options, want_loss)
            if loss is not None:
                losses[rows] = loss
            if grad is None:
                continue
            _block_grad(block, t, options, forward, scale)
            if block.ax == 0:
                _transpose(grad[rows].T, block.x.T)  # grad[rows] <- block.x.T
    return losses


# --8<-- [end:steps]


def softmax_cross_entropy(
    logits: ArrayLike,
    target: ArrayLike,
    *,
    axis: int = -1,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
    softcap: float | None = None,
    reduction: str = "mean",
) -> FloatArray:
    r"""Compute the softmax cross-entropy between logits and a target, as PyTorch does.

    The target is either integer class indices (the logits' shape without the class axis)
    or class probabilities (the logits' shape). Every option has exactly the semantics of
    ``torch.nn.functional.cross_entropy``; pass ``axis=1`` for PyTorch's ``(N, C, d1, ...)``
    layout (the default ``axis=-1`` is JAX's and optax's). Two options of language-model
    training go beyond PyTorch's: soft-capping of the logits and the z-loss.

    $$
    \ell_n = -\sum_{c=1}^{C} a_{nc} \log \operatorname{softmax}(z_n)_c
           = \sum_{c} a_{nc} \Big(\log \sum_{k} e^{z_{nk}} - z_{nc}\Big),
    $$

    where, for a class index $y_n$ with class weights $w$ and label smoothing $\varepsilon$,
    $a_{nc} = (1 - \varepsilon)\, w_{y_n} [c = y_n] + \tfrac{\varepsilon}{C} w_c$, and for
    probabilities $t_n$, $a_{nc} = w_c \big((1 - \varepsilon) t_{nc} + \tfrac{\varepsilon}{C}\big)$.
    Without options, $\ell_n = \operatorname{logsumexp}(z_n) - z_{n y_n}$. With `softcap` $c$,
    every $z$ here is $c \tanh(z / c)$; with `z_loss` $\zeta$, $\ell_n$ gains
    $\zeta\, w_n \operatorname{logsumexp}(z_n)^2$, $w_n$ the position's weight. The derivation
    is on [Softmax cross-entropy](../losses/softmax.md); the options on
    [Options in practice](../losses/options.md).

    Parameters
    ----------
    logits : array_like, shape (..., C, ...)
        Unnormalised log-probabilities; the class axis is `axis`. ``-inf`` masks a class.
        float32, float64 and longdouble are kept; float16 and bfloat16 (``ml_dtypes``)
        become float32; bool and integers become float64.
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
    z_loss : float, default 0.0
        A non-negative coefficient $\zeta$: each position adds
        $\zeta \operatorname{logsumexp}(z_n)^2$ (PaLM; t5x's ``z_loss``), on the capped logits
        and not smoothed, times the position's weight $w_{y_n}$ for class indices (1 without
        `weight`, 0 when ignored), so that every reduction divides one per-position loss by
        one denominator.
    softcap : float, optional
        A positive $c$: the logits become $c \tanh(z / c)$ before anything else (Gemma 2 caps
        its final logits at 30). A ``-inf`` logit becomes $-c$: mask after capping.
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
        If an argument is None, complex, not numeric or a masked array (fill masked logits
        with ``-inf`` instead), or `axis` / `ignore_index` is not an int.
    ValueError
        If the shapes do not match (both are shown), a class index is out of range (the
        value and the valid range are shown) or not a whole number, probability targets are
        negative or do not sum to 1, `weight` has the wrong shape or a negative, NaN or
        infinite entry,
        `label_smoothing` is outside [0, 1], `z_loss` is negative or not finite, `softcap` is
        not positive and finite, `reduction` is unknown, or `ignore_index` is non-negative
        with probability targets.

    See Also
    --------
    - [softmax_cross_entropy_grad][xentref.softmax_cross_entropy_grad]: its gradient.
    - [log_softmax][xentref.log_softmax], [logsumexp][xentref.logsumexp]: the pieces.
    - [cross_entropy][xentref.cross_entropy]: the same quantity between two distributions.
    - [binary_cross_entropy_with_logits][xentref.binary_cross_entropy_with_logits]: the
      two-class case with one logit.

    Notes
    -----
    With $z_{\max} = \max_c z_c$ and $\tau = \sum_{c \ne \arg\max} e^{z_c - z_{\max}}$, each
    $-\log q_c$ is computed as $(z_{\max} - z_c) + \operatorname{log1p}(\tau)$, a sum of two
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

    Soft-capping and the z-loss are the definitions, written out:

    >>> capped = 1.5 * np.tanh(logits / 1.5)
    >>> lse = np.log(np.sum(np.exp(capped), axis=1))
    >>> by_hand = np.mean(lse - capped[[0, 1, 2], target] + 1e-2 * lse**2)
    >>> got = softmax_cross_entropy(logits, target, softcap=1.5, z_loss=1e-2)
    >>> print(np.isclose(got, by_hand, rtol=1e-15, atol=0))
    True

    A confidently right prediction: the exact loss is $\operatorname{log1p}(e^{-700})$.

    >>> print(softmax_cross_entropy([[700.0, 0.0]], [0]))
    9.85967654375977e-305
    >>> z = np.array([700.0, 0.0]); print(np.log(np.sum(np.exp(z - z.max()))) - 0.0)  # naive
    0.0
    """
    pb = _prepare(
        logits, target, axis, weight, ignore_index, label_smoothing, reduction, z_loss, softcap
    )
    losses = _loss_rows(pb.z, pb.target, pb.options)
    return reduce(losses.reshape(pb.batch_shape), reduction, pb.denominator)


def softmax_cross_entropy_grad(
    logits: ArrayLike,
    target: ArrayLike,
    *,
    axis: int = -1,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
    softcap: float | None = None,
    reduction: str = "mean",
) -> FloatArray:
    r"""Compute the gradient of the softmax cross-entropy with respect to `logits`.

    The derivative of [softmax_cross_entropy][xentref.softmax_cross_entropy].

    Analytic, same keywords and semantics as the loss; equal to PyTorch's autograd gradient
    of ``torch.nn.functional.cross_entropy``. For one position with target vector $a_n$
    (defined in [softmax_cross_entropy][xentref.softmax_cross_entropy]) and
    the model's probabilities $q_n = \operatorname{softmax}(z_n)$ (see [Notation](../notation.md)):

    $$
    \frac{\partial \ell_n}{\partial z_{n}} = q_n \sum_{c} a_{nc} - a_n
      \quad\text{which is}\quad q_n - y_n \text{ for a one-hot or probability target.}
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
    z_loss : float, default 0.0
        The z-loss coefficient $\zeta$; it adds $2 \zeta w_{y_n} \operatorname{lse}(z_n)\, q_n$
        to the gradient.
    softcap : float, optional
        The cap $c$; the gradient goes through the tanh, times $1 - \tanh^2(z / c)$.
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
    - [softmax][xentref.softmax]: $q$ in the formula.

    Notes
    -----
    The gradient is computed in place in the output, block by block: $q$ from the same
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
    pb = _prepare(
        logits, target, axis, weight, ignore_index, label_smoothing, reduction, z_loss, softcap
    )
    scale = 1.0
    if reduction == "mean":
        scale = 0.0 if pb.denominator == 0 else 1.0 / pb.denominator
    grad = np.empty(pb.z.shape, dtype=pb.z.dtype)  # C order, whatever the order of `logits`
    _loss_rows(pb.z, pb.target, pb.options, grad=grad, scale=scale, want_loss=False)
    moved = (*pb.batch_shape, pb.z.shape[1])
    return np.moveaxis(grad.reshape(moved), -1, pb.axis)
