"""Linear cross-entropy: the softmax cross-entropy of ``hidden @ linear_weight.T + linear_bias``.

The last layer of a language model maps N hidden states of width D to logits over a vocabulary
of V classes; the (N, V) logits are the largest array of a training step (4096 tokens times a
128k vocabulary is 2 GiB in float32). `linear_cross_entropy` and `linear_cross_entropy_grad`
compute the loss and its gradients with respect to the hidden states, the weight and the bias
one block of rows at a time, so that no more than a bounded block of logits (`LOGITS_BYTES`)
exists at once, whatever N is.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from xentref._softmax_ce import (
    _Labels,
    _labels,
    _loss_rows,
    _Options,
    _options,
    _probabilities,
    _Probs,
    _target_shape,
)
from xentref._validation import as_float_array, check_int, check_reduction, reduce

FloatArray = NDArray[np.floating[Any]]

#: Logits per block of rows, in bytes: the block's logits, overwritten by their gradient, are
#: the largest scratch array. Each block adds to the float32 weight gradient once (one rounding
#: and one pass over its V x D entries), so fewer, larger blocks are more accurate and faster;
#: 32 MiB is 262 rows at V = 32000 in float32, 16 blocks for 4096 positions, and keeps the
#: scratch memory under 64 MiB (see the Large vocabularies page for the measured errors).
LOGITS_BYTES = 32 << 20

#: Scratch for one slab of the weight-gradient product ``G_B^T H_B`` (a whole block's product
#: would be a second V x D array): rows of `linear_weight` per slab,
#: ``SLAB_BYTES // (itemsize * max(block rows, D))``.
SLAB_BYTES = 8 << 20


class LinearCrossEntropyGrad(NamedTuple):
    """The loss and its gradients, as returned by `linear_cross_entropy_grad`."""

    loss: FloatArray
    hidden: FloatArray
    linear_weight: FloatArray
    linear_bias: FloatArray | None


class _Linear(NamedTuple):
    """Validated inputs: hidden states and target as rows, the options, the "mean" denominator."""

    h: FloatArray  # (R, D)
    w: FloatArray  # (V, D)
    b: FloatArray | None  # (V,)
    target: _Labels | _Probs  # R rows
    options: _Options
    batch_shape: tuple[int, ...]  # hidden's shape without the feature axis
    denominator: float


def _is_bfloat16(a: NDArray[Any]) -> bool:
    return a.dtype.name == "bfloat16"  # ml_dtypes' dtype, recognised without importing it


def _operand(x: ArrayLike, name: str, *, integers: bool = True) -> NDArray[Any]:
    """`x` as a float32, float64 or bfloat16 array (bfloat16 is converted by the caller)."""
    if x is None:
        raise TypeError(f"`{name}` must be an array of real numbers, got None")
    try:
        a = np.asarray(x)
    except (ValueError, TypeError) as exc:  # ragged nested lists
        raise ValueError(f"`{name}` must be a rectangular array of numbers: {exc}") from None
    if _is_bfloat16(a):
        return a
    if not integers and a.dtype.kind in "biu":
        raise TypeError(
            f"`{name}` must be floating point, got dtype {a.dtype} (integer hidden states are "
            "usually token ids passed in place of the embeddings)"
        )
    return as_float_array(a, name)


def _layer_arrays(
    hidden: ArrayLike, linear_weight: ArrayLike, linear_bias: ArrayLike | None
) -> tuple[FloatArray, FloatArray, FloatArray | None]:
    """`hidden`, `linear_weight`, `linear_bias` in one dtype: float64 if any is, else float32.

    bfloat16 is computed in float32, so it may not be mixed with float64 (both are named).
    """
    arrays = {"hidden": _operand(hidden, "hidden", integers=False)}
    arrays["linear_weight"] = _operand(linear_weight, "linear_weight")
    if linear_bias is not None:
        arrays["linear_bias"] = _operand(linear_bias, "linear_bias")
    bf16 = [n for n, a in arrays.items() if _is_bfloat16(a)]
    f64 = [n for n, a in arrays.items() if a.dtype == np.float64]
    if bf16 and f64:
        raise TypeError(
            f"`{bf16[0]}` is bfloat16 but `{f64[0]}` is float64: bfloat16 is computed in "
            "float32, so cast both to one dtype first (float32 to compute as PyTorch does)"
        )
    dtype = np.result_type(*[np.float32 if _is_bfloat16(a) else a.dtype for a in arrays.values()])
    h, w = (arrays[n].astype(dtype, copy=False) for n in ("hidden", "linear_weight"))
    b = arrays["linear_bias"].astype(dtype, copy=False) if linear_bias is not None else None
    return h, w, b


def _check_layer_shapes(
    h: FloatArray, w: FloatArray, b: FloatArray | None, weight: ArrayLike | None
) -> None:
    """Check that `w` is (V, D) for `h` of shape (..., D), V >= 1, and `b`, `weight` are (V,)."""
    if h.ndim == 0:
        raise ValueError("`hidden` must have at least one dimension (the features), got a scalar")
    d = h.shape[-1]
    if w.ndim != 2 or w.shape[1] != d:
        raise ValueError(
            f"`linear_weight` must have shape (V, {d}), one row of {d} features per class, to "
            f"match `hidden` of shape {h.shape}; got {w.shape}"
        )
    n_classes = w.shape[0]
    if n_classes == 0:
        raise ValueError(f"`linear_weight` must have at least one row (class), got {w.shape}")
    if b is not None and b.shape != (n_classes,):
        raise ValueError(
            f"`linear_bias` must have shape ({n_classes},), one per row of `linear_weight` "
            f"{w.shape}, got {b.shape}"
        )
    if isinstance(weight, np.ndarray) and weight.shape != (n_classes,):
        raise ValueError(
            f"`weight` must have shape ({n_classes},), one per row of `linear_weight` "
            f"{w.shape}, got {weight.shape}"
        )


def _layer_target(
    target: ArrayLike, h: FloatArray, w: FloatArray, ignore_index: int, options: _Options
) -> tuple[_Labels | _Probs, float]:
    """`target` as rows of class indices or probabilities, and what "mean" divides by.

    Indices have `hidden`'s shape without its feature axis, probabilities one more axis of V
    (the rows of `linear_weight`). "mean" divides by the sum of the non-ignored targets'
    class weights (their count without `weight`), or by the number of positions for
    probabilities.
    """
    shape = _target_shape(target)
    batch_shape, n_classes = h.shape[:-1], w.shape[0]
    if shape == (*batch_shape, n_classes):  # class probabilities
        probs = _probabilities(target, h.dtype, len(batch_shape), ignore_index)
        return probs, float(np.prod(batch_shape, dtype=np.int64))
    if shape != batch_shape:
        raise ValueError(
            f"`target` must have shape {batch_shape} (class indices: `hidden` {h.shape} without "
            f"its feature axis) or {(*batch_shape, n_classes)} (class probabilities over the "
            f"{n_classes} rows of `linear_weight` {w.shape}), got {shape}"
        )
    return _labels(target, n_classes, ignore_index, options, h.dtype)


def _prepare_linear(
    hidden: ArrayLike,
    linear_weight: ArrayLike,
    target: ArrayLike,
    linear_bias: ArrayLike | None,
    weight: ArrayLike | None,
    ignore_index: int,
    label_smoothing: float,
    z_loss: float,
    softcap: float | None,
    reduction: str,
) -> _Linear:
    """Validate every argument, in the order their errors are reported, into a `_Linear`."""
    h, w, b = _layer_arrays(hidden, linear_weight, linear_bias)
    check_reduction(reduction)
    ignore_index = check_int(ignore_index, "ignore_index")
    _check_layer_shapes(h, w, b, weight)
    options = _options(weight, w.shape[0], h.dtype, label_smoothing, z_loss, softcap)
    rows, denominator = _layer_target(target, h, w, ignore_index, options)
    batch_shape = h.shape[:-1]
    h2 = h.reshape(int(np.prod(batch_shape, dtype=np.int64)), h.shape[-1])
    return _Linear(h2, w, b, rows, options, batch_shape, denominator)


def _hidden_blocks(pb: _Linear) -> list[slice]:
    n_rows, n_classes = pb.h.shape[0], pb.w.shape[0]
    step = max(1, LOGITS_BYTES // (n_classes * pb.h.itemsize))
    return [slice(i, min(i + step, n_rows)) for i in range(0, n_rows, step)]


def _add_weight_grad(dw: FloatArray, g: FloatArray, hb: FloatArray) -> None:
    """``dw += g.T @ hb`` for one block, a slab of rows of `dw` at a time.

    The product is one matrix product per slab in the input's dtype; in float32 each block
    rounds its contribution into `dw` once. (Forming it in float64 instead, exact products
    and float64 sums, measured 1.6 times more accurate at 16 blocks and made the whole call
    2.6 times slower: see the Large vocabularies page.) The slabs share one product buffer:
    a fresh array per slab costs page faults wherever the allocator hands large arrays back to
    the system (1.66 s instead of 1.08 s for this step over the 16 blocks of N = 4096,
    D = 512, V = 32000 with ``MALLOC_MMAP_THRESHOLD_=131072``, measured on 2026-12-02).
    """
    slab = max(1, SLAB_BYTES // (hb.itemsize * max(g.shape[0], hb.shape[1])))
    product = np.empty((min(slab, dw.shape[0]), dw.shape[1]), dtype=dw.dtype)
    for start in range(0, dw.shape[0], slab):
        s = slice(start, start + slab)
        out = product[: dw[s].shape[0]]
        dw[s] += np.matmul(g[:, s].T, hb, out=out)


def _one_pass(
    pb: _Linear, grad: bool, scale: float = 1.0
) -> tuple[FloatArray, FloatArray | None, FloatArray | None, FloatArray | None]:
    """Walk the row blocks: per-row losses and, if `grad`, `scale` * (d_hidden, d_W, d_bias)."""
    h, w, b = pb.h, pb.w, pb.b
    n_rows, d = h.shape
    n_classes = w.shape[0]
    losses = np.empty(n_rows, dtype=h.dtype)
    dh = np.empty((n_rows, d), dtype=h.dtype) if grad else None
    dw = np.zeros((n_classes, d), dtype=h.dtype) if grad else None
    db = np.zeros(n_classes, dtype=np.float64) if grad and b is not None else None
    blocks = _hidden_blocks(pb)
    buffer = np.empty((blocks[0].stop if blocks else 0, n_classes), dtype=h.dtype)
    # An inf or NaN in a block (huge hidden states, a huge z_loss) gives the IEEE result in
    # the products too, without a warning, as in _loss_rows.
    with np.errstate(over="ignore", invalid="ignore"):
        for rows in blocks:  # one buffer for every block: never two blocks of logits at once
            hb = h[rows]
            z = buffer[: rows.stop - rows.start]
            np.matmul(hb, w.T, out=z)  # the block's logits, (rows, V)
            if b is not None:
                z += b
            g = z if grad else None  # the gradient overwrites the logits: one (rows, V) buffer
            losses[rows] = _loss_rows(z, pb.target.rows(rows), pb.options, grad=g, scale=scale)
            if g is None:
                continue
            np.matmul(g, w, out=dh[rows])  # type: ignore[index]  # d_hidden = G W
            _add_weight_grad(dw, g, hb)  # type: ignore[arg-type]  # d_W += G^T h
            if db is not None:  # d_b += column sums of G, in float64
                db += np.sum(g, axis=0, dtype=np.float64)
    return losses, dh, dw, None if db is None else db.astype(h.dtype)


def linear_cross_entropy(
    hidden: ArrayLike,
    linear_weight: ArrayLike,
    target: ArrayLike,
    *,
    linear_bias: ArrayLike | None = None,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
    softcap: float | None = None,
    reduction: str = "mean",
) -> FloatArray:
    r"""Compute the softmax cross-entropy of a linear layer's output without building its logits.

    Defined as, and equal to, ``softmax_cross_entropy(hidden @ linear_weight.T + linear_bias,
    target, ...)``: the definition of PyTorch's ``torch.nn.functional.linear_cross_entropy``,
    the last layer of a language model and its loss in one call. The logits are formed one
    block of rows at a time (at most `LOGITS_BYTES`, 32 MiB, of them), so memory does not grow
    with the vocabulary times the number of positions.

    $$
    z_n = W h_n + b, \qquad
    \ell_n = \sum_{c} a_{nc} \Big(\log \sum_{k} e^{z_{nk}} - z_{nc}\Big)
             + \lambda\, w_{y_n} \Big(\log \sum_{k} e^{z_{nk}}\Big)^2,
    $$

    with $a_n$ the (weighted, smoothed) target vector of
    [softmax_cross_entropy][xentref.softmax_cross_entropy], $\lambda$ = `z_loss`, and, when
    `softcap` $= c$ is given, $z_n$ replaced by $c \tanh(z_n / c)$ first. The derivation and
    the memory arithmetic are on [Large vocabularies](../llm/large-vocabularies.md).

    Parameters
    ----------
    hidden : array_like, shape (..., D)
        Hidden states (the input of the last layer), floating point: float32, float64 or
        ``ml_dtypes.bfloat16`` (computed in float32). Integers are rejected.
    linear_weight : array_like, shape (V, D)
        The layer's weight, one row per class (PyTorch's ``nn.Linear(D, V).weight``).
    target : array_like
        Class indices of shape ``hidden.shape[:-1]`` in ``[0, V)`` or equal to
        `ignore_index`; or class probabilities of shape ``(*hidden.shape[:-1], V)``.
    linear_bias : array_like, shape (V,), optional
        The layer's bias.
    weight : array_like, shape (V,), optional
        A non-negative, finite weight per class.
    ignore_index : int, default -100
        A class-index target equal to this value contributes nothing.
    label_smoothing : float, default 0.0
        $\varepsilon \in [0, 1]$, as in [softmax_cross_entropy][xentref.softmax_cross_entropy].
    z_loss : float, default 0.0
        $\lambda \ge 0$, finite: each position adds $\lambda\, w_{y_n} \operatorname{lse}(z_n)^2$
        (PaLM's z-loss; $w_{y_n}$ is 1 without `weight`, 0 for an ignored target, 1 for
        probability targets), on the capped logits, not smoothed.
    softcap : float, optional
        $c > 0$, finite: the logits become $c \tanh(z / c)$ before anything else (Gemma 2
        uses 30.0).
    reduction : {"mean", "sum", "none"}, default "mean"
        As in [softmax_cross_entropy][xentref.softmax_cross_entropy]; "mean" divides by
        $\sum_n w_{y_n}$ over the non-ignored targets, or by the number of positions for
        probability targets.

    Returns
    -------
    ndarray
        0-d for "mean" and "sum", else shape ``hidden.shape[:-1]``; float64 if any of
        `hidden`, `linear_weight`, `linear_bias` is float64, else float32.

    Raises
    ------
    TypeError
        If `hidden` holds integers, an argument is None or not numeric, or bfloat16 is mixed
        with float64 (both arguments are named).
    ValueError
        If the shapes of `hidden`, `linear_weight`, `linear_bias`, `weight` and `target` do
        not fit (all are shown), a class index is out of range, `z_loss` is negative or not
        finite, `softcap` is not positive and finite, or an option is out of range as in
        [softmax_cross_entropy][xentref.softmax_cross_entropy].

    See Also
    --------
    - [linear_cross_entropy_grad][xentref.linear_cross_entropy_grad]: the loss and its
      gradients in one pass.
    - [softmax_cross_entropy][xentref.softmax_cross_entropy]: the same loss on given logits.

    Notes
    -----
    Rows of `hidden` go in blocks of ``max(1, LOGITS_BYTES // (V * itemsize))`` (262 rows at
    V = 32000 in float32); each block's logits come from one matrix product and its losses
    from the same stable kernel as [softmax_cross_entropy][xentref.softmax_cross_entropy].
    Scratch memory is one block of logits and does not grow with N. PyTorch 2.13's
    ``F.linear_cross_entropy`` accepts only 1-D or 2-D input and, on its chunked path
    (``options=nn.LinearCrossEntropyOptions()``), falls back to building the logits, with a
    warning, for label smoothing and probability targets; it has no z-loss or soft-capping.

    Examples
    --------
    >>> import numpy as np
    >>> from xentref import linear_cross_entropy, softmax_cross_entropy
    >>> rng = np.random.default_rng(0)
    >>> h, W, b = rng.normal(size=(6, 4)), rng.normal(size=(10, 4)), rng.normal(size=10)
    >>> y = np.array([1, 3, 0, 9, -100, 2])
    >>> print(linear_cross_entropy(h, W, y, linear_bias=b))
    2.80616550704...
    >>> dense = softmax_cross_entropy(h @ W.T + b, y)
    >>> print(np.isclose(linear_cross_entropy(h, W, y, linear_bias=b), dense, rtol=1e-14))
    True

    With PaLM's z-loss and Gemma 2's soft-capping:

    >>> print(linear_cross_entropy(h, W, y, z_loss=1e-4, softcap=30.0, reduction="none"))
    [3.41963402 1.84472368 2.4950568  3.5671937  0.         2.50609305]
    """
    pb = _prepare_linear(
        hidden, linear_weight, target, linear_bias, weight, ignore_index,
        label_smoothing, z_loss, softcap, reduction,
    )  # fmt: skip
    losses, _, _, _ = _one_pass(pb, grad=False)
    return reduce(losses.reshape(pb.batch_shape), reduction, pb.denominator)


def linear_cross_entropy_grad(
    hidden: ArrayLike,
    linear_weight: ArrayLike,
    target: ArrayLike,
    *,
    linear_bias: ArrayLike | None = None,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
    softcap: float | None = None,
    reduction: str = "mean",
) -> LinearCrossEntropyGrad:
    r"""Compute the linear cross-entropy and its gradients, one pass over blocks of rows.

    The gradients of [linear_cross_entropy][xentref.linear_cross_entropy] with respect to
    `hidden`, `linear_weight` and `linear_bias`, and the loss itself, which comes free with
    them. With $G$ the gradient of the loss with respect to the logits (row $n$:
    $p_n \sum_c a_{nc} - a_n$, plus $2 \lambda w_{y_n} \operatorname{lse}(z_n)\, p_n$ for the
    z-loss, times $1 - \tanh^2(z / c)$ under soft-capping, divided by the "mean"
    denominator):

    $$
    \frac{\partial L}{\partial h} = G W, \qquad
    \frac{\partial L}{\partial W} = G^\top h, \qquad
    \frac{\partial L}{\partial b} = G^\top \mathbf{1}.
    $$

    Each block of rows gives its rows of $\partial L / \partial h$ whole, and adds its share
    of $G^\top h$ and $G^\top \mathbf{1}$ to the other two (derivation on
    [Large vocabularies](../llm/large-vocabularies.md)).

    Parameters
    ----------
    hidden : array_like, shape (..., D)
        As for [linear_cross_entropy][xentref.linear_cross_entropy].
    linear_weight : array_like, shape (V, D)
        As for [linear_cross_entropy][xentref.linear_cross_entropy].
    target : array_like
        As for [linear_cross_entropy][xentref.linear_cross_entropy].
    linear_bias : array_like, shape (V,), optional
        The layer's bias.
    weight : array_like, shape (V,), optional
        Per-class weights.
    ignore_index : int, default -100
        Ignored targets contribute nothing to any gradient.
    label_smoothing : float, default 0.0
        $\varepsilon \in [0, 1]$.
    z_loss : float, default 0.0
        $\lambda \ge 0$.
    softcap : float, optional
        $c > 0$.
    reduction : {"mean", "sum", "none"}, default "mean"
        The gradients of the reduced loss; for "none", of the sum of the per-position
        losses (what PyTorch's ``loss.backward(torch.ones_like(loss))`` gives).

    Returns
    -------
    LinearCrossEntropyGrad
        A named tuple ``(loss, hidden, linear_weight, linear_bias)``: the loss as
        [linear_cross_entropy][xentref.linear_cross_entropy] returns it, and the gradients
        with the shapes of `hidden`, `linear_weight` and `linear_bias` (None without a
        bias), in the loss's dtype.

    Raises
    ------
    TypeError
        As for [linear_cross_entropy][xentref.linear_cross_entropy].
    ValueError
        As for [linear_cross_entropy][xentref.linear_cross_entropy].

    See Also
    --------
    - [linear_cross_entropy][xentref.linear_cross_entropy]: the loss alone.
    - [softmax_cross_entropy_grad][xentref.softmax_cross_entropy_grad]: $G$ for given
      logits.

    Notes
    -----
    Each block of `LOGITS_BYTES` (32 MiB: 262 rows at V = 32000 in float32) adds its product
    $G_B^\top h_B$, one matrix product per slab of `linear_weight`'s rows, to the weight
    gradient: in float32, one rounding per block, 16 for 4096 positions. The bias gradient is
    summed in float64. A float64 accumulator for the weight gradient would take 8 V D bytes
    (125 MiB at V = 32000, D = 512, more than the blocks save) and, with float32 products,
    gains nothing at this number of blocks; float64 products gained a factor 1.6 and made the
    call 2.6 times slower. The errors, against float64 and beside PyTorch's chunked path, are on
    [Large vocabularies](../llm/large-vocabularies.md). $\partial L / \partial h$ needs no
    accumulation across blocks.

    Examples
    --------
    >>> import numpy as np
    >>> from xentref import linear_cross_entropy_grad, softmax_cross_entropy_grad
    >>> rng = np.random.default_rng(0)
    >>> h, W, b = rng.normal(size=(6, 4)), rng.normal(size=(10, 4)), rng.normal(size=10)
    >>> y = np.array([1, 3, 0, 9, -100, 2])
    >>> out = linear_cross_entropy_grad(h, W, y, linear_bias=b)
    >>> print(out.loss, out.hidden.shape, out.linear_weight.shape, out.linear_bias.shape)
    2.80616550704... (6, 4) (10, 4) (10,)
    >>> G = softmax_cross_entropy_grad(h @ W.T + b, y)  # the dense definition
    >>> print(np.allclose(out.hidden, G @ W, rtol=1e-14), np.allclose(out.linear_weight, G.T @ h))
    True True
    >>> print(out.hidden[4])  # the ignored position
    [0. 0. 0. 0.]
    """
    pb = _prepare_linear(
        hidden, linear_weight, target, linear_bias, weight, ignore_index,
        label_smoothing, z_loss, softcap, reduction,
    )  # fmt: skip
    scale = 1.0
    if reduction == "mean":
        scale = 0.0 if pb.denominator == 0 else 1.0 / pb.denominator
    losses, dh, dw, db = _one_pass(pb, grad=True, scale=scale)
    loss = reduce(losses.reshape(pb.batch_shape), reduction, pb.denominator)
    d_hidden = dh.reshape(*pb.batch_shape, pb.h.shape[1])  # type: ignore[union-attr]
    return LinearCrossEntropyGrad(loss, d_hidden, dw, db)  # type: ignore[arg-type]
