"""Softmax cross-entropy when the vocabulary (the class axis) is split across ranks.

Each rank holds the same positions but only its own columns of the logits, as after a
column-parallel output layer (Megatron's ``vocab_parallel_cross_entropy``). The loss needs the
whole row's log-sum-exp; every rank gets it from two collectives the caller supplies,
``all_reduce(array, "max")`` and ``all_reduce(array, "sum")``, and the result equals
`softmax_cross_entropy` of the gathered logits; the gradient is the shard's columns of the
dense gradient. The math lives in `_row_statistics` (and, for the gradient, `_own_loss_grad`);
`_check_ranks` is the first collective, which every rank reaches even when its own input is
invalid, so that all ranks raise together instead of some waiting forever for one that raised.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from xentref._validation import (
    as_float_array,
    as_index_array,
    check_axis,
    check_class_indices,
    check_int,
    check_nonnegative,
    check_real,
    check_reduction,
    reduce,
)

FloatArray = NDArray[np.floating[Any]]

#: The arguments whose local validation is reported to every rank by the first collective.
_ARGUMENTS = (
    "local_logits",
    "target",
    "vocab_start",
    "vocab_size",
    "weight",
    "ignore_index",
    "label_smoothing",
    "reduction",
)


class _Shard(NamedTuple):
    """One rank's validated inputs: its logits as (rows, local classes), targets flattened."""

    z: FloatArray  # (R, V_r) this rank's columns of the logits
    labels: NDArray[np.intp]  # (R,) global class indices, ignored rows set to 0
    valid: NDArray[np.bool_]  # (R,) False where target == ignore_index
    wy: FloatArray  # (R,) weight of each row's class, 0 where ignored
    weight: FloatArray | None  # (V_r,) this shard's slice of `weight`
    w_total: Any  # sum of the whole `weight` (V without weight), in the logits' dtype
    eps: float  # label smoothing
    start: int
    vocab_size: int
    batch_shape: tuple[int, ...]
    denominator: float  # what "mean" divides by


def _check_shard_columns(start: int, width: int, n_vocab: int) -> None:
    """Check that the shard's columns ``[start, start + width)`` lie in ``[0, vocab_size)``."""
    if start + width > n_vocab:
        raise ValueError(
            f"`vocab_start` {start} plus the shard's width {width} must not exceed `vocab_size` "
            f"{n_vocab}: the columns [{start}, {start + width}) are not all in the vocabulary"
        )


def _whole_weight(
    weight: ArrayLike | None, n_vocab: int, dtype: np.dtype[Any]
) -> FloatArray | None:
    """The whole vocabulary's class weights in the logits' dtype: shape (V,), non-negative."""
    if weight is None:
        return None
    w = as_float_array(weight, "weight").astype(dtype, copy=False)
    if w.shape != (n_vocab,):
        raise ValueError(
            f"`weight` must be the whole vocabulary's weights, shape ({n_vocab},), on every "
            f"rank, got shape {w.shape}"
        )
    check_nonnegative(w, "weight")
    return w


def _global_targets(
    target: ArrayLike, logits_shape: tuple[int, ...], n_vocab: int, ignore_index: int
) -> NDArray[np.intp]:
    """The targets as flat global class indices in ``[0, V)`` or `ignore_index`.

    They must have the shape of the logits without their class axis (no probability targets).
    """
    if target is None:
        raise TypeError("`target` must be class indices, got None")
    try:
        shape = np.shape(target)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"`target` must be a rectangular array of numbers: {exc}") from None
    batch_shape = logits_shape[:-1]
    if shape != batch_shape:
        raise ValueError(
            f"`target` must be class indices of shape {batch_shape} (`local_logits` "
            f"{logits_shape} without its last axis; probability targets are not supported), "
            f"got {shape}"
        )
    y = as_index_array(target, "target").reshape(-1)
    check_class_indices(y, n_vocab, ignore_index)
    return y


def _shard(
    local_logits: ArrayLike,
    target: ArrayLike,
    vocab_start: int,
    vocab_size: int,
    weight: ArrayLike | None,
    ignore_index: int,
    label_smoothing: float,
    reduction: str,
) -> _Shard:
    """Every check that needs no other rank; raises TypeError / ValueError naming the argument.

    The checks run in this order: the logits, the options, the shard's columns, `weight`,
    `target`. Then the per-row weights $w_y$ (0 where ignored), the total weight $W$
    ($V$ without `weight`) and what "mean" divides by.
    """
    z = as_float_array(local_logits, "local_logits")
    check_axis(z, -1, "local_logits")
    check_reduction(reduction)
    eps = check_real(label_smoothing, "label_smoothing", low=0.0, high=1.0)
    ignore_index = check_int(ignore_index, "ignore_index")
    n_vocab = check_int(vocab_size, "vocab_size", low=1)
    start = check_int(vocab_start, "vocab_start", low=0)
    width = z.shape[-1]
    _check_shard_columns(start, width, n_vocab)
    w = _whole_weight(weight, n_vocab, z.dtype)
    y = _global_targets(target, z.shape, n_vocab, ignore_index)
    valid = y != ignore_index
    labels = np.where(valid, y, 0)
    wy = valid.astype(z.dtype) if w is None else np.where(valid, w[labels], 0).astype(z.dtype)
    w_total = z.dtype.type(n_vocab) if w is None else np.sum(w, dtype=z.dtype)
    denominator = float(np.count_nonzero(valid)) if w is None else float(np.sum(wy, dtype=z.dtype))
    local_w = None if w is None else w[start : start + width]
    rows = z.reshape(-1, width)
    return _Shard(
        rows, labels, valid, wy, local_w, w_total, eps, start, n_vocab, z.shape[:-1], denominator
    )


def _collective(all_reduce: Any, a: NDArray[Any], op: str) -> NDArray[Any]:
    """``all_reduce(a, op)``, checked: an array of the shape of `a`, in its dtype."""
    out = all_reduce(a, op)
    if out is None:
        raise TypeError(
            f"`all_reduce` returned None for op {op!r}: it must return the reduced array "
            "(wrapping an in-place collective such as torch.distributed.all_reduce, return "
            "the tensor it reduced)"
        )
    try:
        r = np.asarray(out)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise TypeError(
            f"`all_reduce` must return an array, got {type(out).__name__}: {exc}"
        ) from None
    if r.shape != a.shape:
        raise ValueError(
            f"`all_reduce` must return an array of the shape it was given, {a.shape}, for op "
            f"{op!r}, got shape {r.shape}"
        )
    if r.dtype.kind not in "biuf":
        raise TypeError(f"`all_reduce` must return real numbers, got dtype {r.dtype}")
    return r.astype(a.dtype, copy=False)


def _failed_argument(exc: Exception) -> int:
    """The slot of the argument an error message names (they start with it in backticks)."""
    match = re.match(r"`(\w+)`", str(exc))
    name = match.group(1) if match else ""
    return _ARGUMENTS.index(name) if name in _ARGUMENTS else len(_ARGUMENTS)


def _rank_report(shard: _Shard | None, failure: Exception | None) -> NDArray[np.float64]:
    """This rank's term of the first sum, a float64 vector of ``len(_ARGUMENTS) + 7`` numbers.

    One flag per argument whose local check failed (and one for any other failure), then 1
    (counting the ranks), the shard's width, and x, x**2 of the number of positions and of
    `vocab_size`; the sizes are 0 on a rank whose input was invalid.
    """
    k = len(_ARGUMENTS) + 1
    status = np.zeros(k + 6)
    status[k] = 1  # counts the ranks
    if shard is None or failure is not None:
        status[_failed_argument(failure) if failure is not None else k - 1] = 1
    else:
        rows, width = shard.z.shape
        status[k + 1 :] = (width, rows, rows**2, shard.vocab_size, shard.vocab_size**2)
    return status


def _check_reported_sum(total: NDArray[np.float64], status: NDArray[np.float64]) -> None:
    """Check that the first sum came back as one: whole, finite, at least this rank's terms."""
    # A sum over ranks of these counts is whole, finite and at least this rank's own counts;
    # anything else (NaN, zeros, half of it) would make the checks below divide by 0 or lie.
    if not (
        np.isfinite(total).all() and (total == np.floor(total)).all() and (total >= status).all()
    ):
        raise ValueError(
            "`all_reduce` must return the elementwise sum over ranks for op 'sum': the first "
            f"collective, counts of ranks and sizes, came back as {total.tolist()}, not whole "
            f"numbers at least this rank's own {status.tolist()}"
        )


def _failure_everywhere(
    bad: NDArray[np.float64], world: np.float64, failure: Exception | None
) -> Exception:
    """What a rank raises when some rank's input was invalid: its own error, if it had one.

    Otherwise a ValueError naming the arguments that failed and on how many ranks.
    """
    if failure is not None:
        return failure
    names = ", ".join(
        f"`{_ARGUMENTS[i]}`" if i < len(_ARGUMENTS) else "an argument" for i in np.flatnonzero(bad)
    )
    return ValueError(
        f"{names} invalid on {int(bad.sum())} of {int(world)} rank(s) (their own errors "
        "say why); no rank computed anything"
    )


def _check_rank_sizes(sizes: NDArray[np.float64]) -> None:
    """Check that the ranks agree on the positions and `vocab_size`, and that widths add to it.

    `sizes` is the sum over the W ranks of (1, width, x, x**2, V, V**2), x the number of
    positions: W numbers are all equal if and only if W * sum(x**2) == sum(x)**2.
    """
    world, widths, rows_sum, rows_sq, vocab_sum, vocab_sq = sizes
    if world * rows_sq != rows_sum**2:
        raise ValueError(
            "`target` must hold the same positions on every rank: the ranks' numbers of "
            f"positions differ ({int(rows_sum)} in all over {int(world)} ranks)"
        )
    if world * vocab_sq != vocab_sum**2:
        raise ValueError("`vocab_size` must be the same on every rank; the ranks disagree")
    vocab = vocab_sum / world
    if widths != vocab:
        raise ValueError(
            f"`local_logits`: the shards' widths add up to {int(widths)} over {int(world)} "
            f"rank(s), not `vocab_size` = {int(vocab)}: each rank must hold its own columns "
            "[vocab_start, vocab_start + width) and together all of them (gathered, full-width "
            "logits on every rank would give the loss plus log(ranks))"
        )


def _check_ranks(shard: _Shard | None, failure: Exception | None, all_reduce: Any) -> _Shard:
    """The first collective: every rank learns whether any rank's input was invalid.

    One sum of a float64 vector: per argument, the number of ranks whose local check failed;
    then the number of ranks W, the shards' widths, and (x, x**2) of the number of positions
    and of `vocab_size`, which are equal on all W ranks if and only if W * sum(x**2) ==
    sum(x)**2. Exact while the sums stay below 2**53 (W * positions below about 9e7). Every
    rank decides from the same reduced numbers, so every rank raises, or none does.
    """
    status = _rank_report(shard, failure)
    total = _collective(all_reduce, status, "sum")
    _check_reported_sum(total, status)
    k = len(_ARGUMENTS) + 1
    bad, sizes = total[:k], total[k:]
    if bad.any() or shard is None:
        raise _failure_everywhere(bad, sizes[0], failure)
    _check_rank_sizes(sizes)
    return shard


class _Statistics(NamedTuple):
    """Per-row quantities every rank agrees on after the collectives, and local pieces."""

    e: FloatArray  # (R, V_r) exp(z - m) on this shard
    tail: FloatArray  # (R,) sum over the whole row of exp(z - m), less one term at the max
    shift: FloatArray  # (R,) m - z_y
    smooth: FloatArray | None  # (R,) sum_c w_c (m - z_c) over the whole row
    owner: NDArray[np.bool_]  # (R,) this shard holds the row's (valid) class
    local_y: NDArray[np.intp]  # (R,) that class's column here (0 where not owner)


def _row_statistics(sh: _Shard, all_reduce: Any, smoothing: bool) -> _Statistics:
    r"""The two math collectives: the max of the logits, then one sum of the stacked terms.

    With $m = \max_c z_c$ over the whole row, $-\log p_y = (m - z_y) + \log(1 + \tau)$, where
    $\tau = \sum_c e^{z_c - m} - 1$ leaves out one term, exactly 1, at the maximum (as in
    `softmax_cross_entropy`): a confidently right row keeps every digit of its small loss.
    Each shard holding a maximum leaves one such term out of its own sum, and the number of
    such shards is summed too, so $\tau$ = sum of the local sums + (that number - 1). The sum
    carries, stacked: the local $\tau$, that count, $m - z_y$ from the shard owning $y$ (0
    elsewhere), the owner count (must be 1 for every valid row) and, with smoothing,
    $\sum_c w_c (m - z_c)$: no $\log$ of a softmax that may underflow to 0.
    """
    z = sh.z
    n, width = z.shape
    r = np.arange(n)
    local_max = np.max(z, axis=1, initial=-np.inf)
    m = _collective(all_reduce, local_max, "max")
    with np.errstate(invalid="ignore", over="ignore"):
        d = z - m[:, None]  # z_c - m <= 0
        e = np.exp(d)
        holds_max = local_max == m
        k = np.argmax(z, axis=1) if width else np.zeros(n, np.intp)
        kept = e[r, k]
        e[r[holds_max], k[holds_max]] = 0  # the term exactly 1 goes through log1p instead
        tail_local = np.sum(e, axis=1)
        e[r, k] = kept
        owner = sh.valid & (sh.labels >= sh.start) & (sh.labels < sh.start + width)
        local_y = np.where(owner, sh.labels - sh.start, 0)
        parts = [tail_local, holds_max, owner, np.where(owner, -d[r, local_y], 0)]
        if smoothing:  # a class of weight 0 costs nothing, even at -inf
            nd = -d if sh.weight is None else np.where(sh.weight == 0, 0, -d) * sh.weight
            parts.append(np.sum(nd, axis=1))
    total = _collective(all_reduce, np.stack(parts).astype(z.dtype), "sum")
    owners = total[2]
    bad = owners != sh.valid
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"`vocab_start`: class {int(sh.labels[i])} of position {i} lies in "
            f"{int(owners[i])} shards, not exactly one: the ranks' columns [vocab_start, "
            "vocab_start + width) must tile [0, vocab_size) without gaps or overlaps"
        )
    tail = total[0] + (total[1] - 1)  # each shard at the maximum left one term of 1 out
    return _Statistics(e, tail, total[3], total[4] if smoothing else None, owner, local_y)


def _run(
    local_logits: ArrayLike,
    target: ArrayLike,
    vocab_start: int,
    vocab_size: int,
    all_reduce: Callable[[NDArray[Any], str], ArrayLike],
    weight: ArrayLike | None,
    ignore_index: int,
    label_smoothing: float,
    reduction: str,
) -> tuple[_Shard, _Statistics]:
    """Validate locally, agree on validity with every rank, then the two math collectives."""
    if not callable(all_reduce):
        raise TypeError(f"`all_reduce` must be callable, got {type(all_reduce).__name__}")
    shard, failure = None, None
    try:
        shard = _shard(
            local_logits,
            target,
            vocab_start,
            vocab_size,
            weight,
            ignore_index,
            label_smoothing,
            reduction,
        )
    except (TypeError, ValueError) as exc:  # reported to every rank before it is raised
        failure = exc
    shard = _check_ranks(shard, failure, all_reduce)
    return shard, _row_statistics(shard, all_reduce, shard.eps > 0)


def vocab_parallel_cross_entropy(
    local_logits: ArrayLike,
    target: ArrayLike,
    *,
    vocab_start: int,
    vocab_size: int,
    all_reduce: Callable[[NDArray[Any], str], ArrayLike],
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> FloatArray:
    r"""Compute the softmax cross-entropy of logits whose vocabulary is split across ranks.

    Each rank passes its own columns ``[vocab_start, vocab_start + local_logits.shape[-1])``
    of the logits, the same class-index `target` and options as every other rank, and a
    collective ``all_reduce(array, op)`` with op ``"max"`` or ``"sum"`` (torch.distributed,
    mpi4py, or an in-process fake). Every rank returns the same value:
    [softmax_cross_entropy][xentref.softmax_cross_entropy] of the gathered logits, with
    PyTorch's semantics for `weight`, `ignore_index`, `label_smoothing` and `reduction`.

    $$
    \ell_n = \sum_c a_{nc}\big(m_n + \log \textstyle\sum_{r} \sum_{c \in S_r} e^{z_{nc} - m_n}
      - z_{nc}\big), \qquad m_n = \max_r \max_{c \in S_r} z_{nc},
    $$

    with $S_r$ the columns of rank $r$ and $a_{nc}$ the (weighted, smoothed) target of
    [softmax_cross_entropy][xentref.softmax_cross_entropy]. Label smoothing is PyTorch's,
    $\varepsilon / V$ on every class of the global vocabulary. The collectives and the bugs
    they avoid are on [Across batches and devices](../llm/batches-and-devices.md).

    Parameters
    ----------
    local_logits : array_like, shape (..., V_r)
        This rank's columns of the logits, classes last. float32 stays float32, float64
        stays float64, integers become float64. ``-inf`` masks a class.
    target : array_like, shape (...)
        Global class indices in ``[0, vocab_size)`` or `ignore_index`, the same on every rank
        (integers, or floats that are whole numbers). Probability targets are not supported.
    vocab_start : int
        The global index of this rank's first column, ``>= 0``.
    vocab_size : int
        The size $V$ of the whole vocabulary, the same on every rank.
    all_reduce : callable
        ``all_reduce(array, op) -> array``: the elementwise maximum (op ``"max"``) or sum
        (op ``"sum"``) of `array` over all ranks, returned (not only done in place) with the
        shape it was given. It is called three times, in the same order on every rank.
    weight : array_like, shape (V,), optional
        The whole vocabulary's non-negative class weights, the same on every rank.
    ignore_index : int, default -100
        Positions whose target equals this value contribute nothing.
    label_smoothing : float, default 0.0
        $\varepsilon \in [0, 1]$, spread as $\varepsilon / V$ over the whole vocabulary.
        Megatron's and NeMo's convention, $\varepsilon$ spread over the $V - 1$ other
        classes, is this function with $\varepsilon V / (V - 1)$ (see Notes).
    reduction : {"mean", "sum", "none"}, default "mean"
        As for [softmax_cross_entropy][xentref.softmax_cross_entropy]: "mean" divides by
        $\sum_n w_{y_n}$ over the non-ignored positions.

    Returns
    -------
    ndarray
        The loss, identical on every rank: 0-d for "mean" and "sum", shape
        ``local_logits.shape[:-1]`` for "none", in the dtype of `local_logits`.

    Raises
    ------
    TypeError
        If an argument has the wrong kind or dtype, or `all_reduce` is not callable, returns
        None or something that is not an array of real numbers.
    ValueError
        If the shard does not fit in the vocabulary, a class index is out of ``[0, V)``,
        `target` or `weight` has the wrong shape or `weight` a negative entry, an option is
        out of range, `all_reduce` returns the wrong shape (or, for the first sum, counts
        that are not whole numbers at least this rank's own), the ranks' shards' widths do not
        add up to `vocab_size`, the ranks disagree on `vocab_size` or on the number of
        positions, or a target's class lies in no shard or in several.

    See Also
    --------
    - [vocab_parallel_cross_entropy_grad][xentref.vocab_parallel_cross_entropy_grad]: this
      rank's columns of its gradient.
    - [softmax_cross_entropy][xentref.softmax_cross_entropy]: the same loss on gathered logits.
    - [mean_denominator][xentref.mean_denominator]: when the positions are split too.

    Notes
    -----
    Three collectives, in this order on every rank. (1) A check: one "sum" of a short
    float64 vector in which each rank reports which of its arguments failed its local checks,
    its shard's width, and its numbers of positions and `vocab_size`; every rank reaches it,
    even one whose input is invalid, and every rank then raises (the invalid rank its own
    error, the others a ValueError naming the argument) or none does: no rank waits forever
    for one that raised. The widths must add up to `vocab_size`. (2) "max" of the row maxima,
    $m_n$, first, so that every exponential below is at most 1 and cannot overflow. (3) One
    "sum" of the stacked per-row terms: $\sum e^{z - m}$ (less one term at the maximum, kept
    for log1p), $m - z_y$ from the shard that owns $y$, the count of owners (must be 1), and
    for smoothing $\sum_c w_c (m - z_c)$, which avoids the $\log$ of an underflowed softmax.
    Megatron issues the same two sums as two collectives.

    What cannot be checked without more communication: that every rank passes the same
    `target`, `weight`, `ignore_index`, `label_smoothing` and `reduction` (a wrong `target`
    is caught only where some class ends up in no shard or in two); shards that overlap and
    leave a gap of the same total width where no target falls; a rank whose `all_reduce` is
    not callable or fails on that rank alone (it raises at once and cannot tell the others).

    Label smoothing. PyTorch's target is $(1 - \varepsilon)$ on $y$ plus $\varepsilon / V$
    everywhere. Megatron's (from NeMo) puts $1 - \varepsilon$ on $y$ and
    $\varepsilon / (V - 1)$ on each other class: the same distribution as PyTorch's at
    $\varepsilon' = \varepsilon V / (V - 1)$, which is what Megatron computes internally
    (``smoothing = label_smoothing * vocab_size / (vocab_size - 1)``). Megatron applies it
    with the local width as $V$ and the local mean of the log-probabilities (Megatron-LM
    issues #737 and #7464): every rank then reports a different, wrong loss. The page
    reproduces that bug beside the right answer.

    Examples
    --------
    Two ranks holding columns [0, 2) and [2, 5) of five classes, in threads, with a fake
    collective that waits for both ranks' arrays:

    >>> import threading
    >>> from concurrent.futures import ThreadPoolExecutor
    >>> import numpy as np
    >>> from xentref import softmax_cross_entropy, vocab_parallel_cross_entropy
    >>> logits = np.array([[2.0, 1.0, 0.1, -1.0, 3.0], [0.5, 2.5, 0.3, 0.0, -2.0]])
    >>> target = np.array([4, 1])
    >>> barrier, inbox = threading.Barrier(2), [None, None]
    >>> def rank(r, columns):
    ...     def all_reduce(a, op):
    ...         inbox[r] = a; barrier.wait()
    ...         out = np.maximum(*inbox) if op == "max" else inbox[0] + inbox[1]
    ...         barrier.wait(); return out
    ...     return vocab_parallel_cross_entropy(logits[:, columns], target,
    ...         vocab_start=columns.start, vocab_size=5, all_reduce=all_reduce)
    >>> with ThreadPoolExecutor(2) as pool:
    ...     losses = list(pool.map(rank, [0, 1], [slice(0, 2), slice(2, 5)]))
    >>> print(losses[0], losses[1], softmax_cross_entropy(logits, target))
    0.3737062482696... 0.3737062482696... 0.3737062482696...
    >>> print(losses[0] == losses[1])
    True

    On one rank, the collective is the identity:

    >>> one = vocab_parallel_cross_entropy(logits, target, vocab_start=0, vocab_size=5,
    ...                                    all_reduce=lambda a, op: a, label_smoothing=0.1)
    >>> print(one, softmax_cross_entropy(logits, target, label_smoothing=0.1))
    0.5847062482696... 0.5847062482696...
    """
    sh, st = _run(
        local_logits,
        target,
        vocab_start,
        vocab_size,
        all_reduce,
        weight,
        ignore_index,
        label_smoothing,
        reduction,
    )
    dtype = sh.z.dtype.type
    with np.errstate(invalid="ignore", over="ignore"):
        log_tail = np.log1p(st.tail)
        loss = np.where(sh.wy == 0, 0, sh.wy * (st.shift + log_tail))  # weight 0 costs 0
        if st.smooth is not None:  # sum_c w_c (-log p_c) = sum_c w_c (m - z_c) + W log1p(tail)
            smooth = st.smooth + sh.w_total * log_tail
            loss = dtype(1 - sh.eps) * loss + dtype(sh.eps / sh.vocab_size) * smooth
        losses = np.where(sh.valid, loss, 0).astype(sh.z.dtype)
    return reduce(losses.reshape(sh.batch_shape), reduction, sh.denominator)


def _own_loss_grad(sh: _Shard, st: _Statistics) -> FloatArray:
    r"""Each position's gradient of its own loss on this shard's columns, $p_c A - a_c$.

    The target is $a_c = (1 - \varepsilon) w_y [c = y] + \varepsilon w_c / V$, of total
    $A = (1 - \varepsilon) w_y + \varepsilon W / V$, and $p_c = e^{z_c - m} / (1 + \tau)$.
    Only the shard owning $y$ has the target's column, computed from $1 - p_y = (1 - e^{z_y -
    m} + \tau) / (1 + \tau)$ without cancellation. Rows of ignored targets are 0. Overwrites
    ``st.e``.
    """
    dtype = sh.z.dtype.type
    eps, e, r = sh.eps, st.e, np.arange(sh.z.shape[0])
    spread = dtype(eps / sh.vocab_size) * sh.w_total if eps > 0 else dtype(0)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        inv = 1 / (1 + st.tail)
        rows = r[st.owner]
        e_y = e[rows, st.local_y[st.owner]]
        # 1 - p_y without cancellation: (1 - e_y + tail) / (1 + tail), e_y = 1 at the maximum
        one_minus_py = ((1 - e_y) + st.tail[rows]) * inv[rows]
        e *= ((dtype(1 - eps) * sh.wy + spread) * inv)[:, None]
        e[rows, st.local_y[st.owner]] = (
            spread * e_y * inv[rows] - dtype(1 - eps) * sh.wy[rows] * one_minus_py
        )
        if eps > 0:
            e -= dtype(eps / sh.vocab_size) * (1 if sh.weight is None else sh.weight)
        e[~sh.valid] = 0
    return e


def vocab_parallel_cross_entropy_grad(
    local_logits: ArrayLike,
    target: ArrayLike,
    *,
    vocab_start: int,
    vocab_size: int,
    all_reduce: Callable[[NDArray[Any], str], ArrayLike],
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> FloatArray:
    r"""Compute this rank's columns of the gradient of the vocabulary-parallel cross-entropy.

    The derivative of [vocab_parallel_cross_entropy][xentref.vocab_parallel_cross_entropy]
    with respect to `local_logits`: the columns ``[vocab_start, vocab_start + V_r)`` of
    [softmax_cross_entropy_grad][xentref.softmax_cross_entropy_grad] of the gathered logits.
    After the same collectives as the loss, it needs no communication:

    $$
    \frac{\partial \ell_n}{\partial z_{nc}} = p_{nc} \sum_{k} a_{nk} - a_{nc},
    \qquad p_{nc} = \frac{e^{z_{nc} - m_n}}{\sum_{r} \sum_{k \in S_r} e^{z_{nk} - m_n}},
    $$

    where only the rank owning $y_n$ subtracts the target's $(1 - \varepsilon) w_{y_n}$.

    Parameters
    ----------
    local_logits : array_like, shape (..., V_r)
        As for [vocab_parallel_cross_entropy][xentref.vocab_parallel_cross_entropy].
    target : array_like, shape (...)
        Global class indices, the same on every rank.
    vocab_start : int
        The global index of this rank's first column.
    vocab_size : int
        The size of the whole vocabulary.
    all_reduce : callable
        ``all_reduce(array, op) -> array`` with op ``"max"`` or ``"sum"``.
    weight : array_like, shape (V,), optional
        The whole vocabulary's class weights.
    ignore_index : int, default -100
        Ignored positions get a zero gradient row.
    label_smoothing : float, default 0.0
        $\varepsilon \in [0, 1]$, PyTorch's convention over the global vocabulary.
    reduction : {"mean", "sum", "none"}, default "mean"
        The gradient of the reduced loss; "none" gives each position's gradient of its own
        loss.

    Returns
    -------
    ndarray
        Same shape and dtype as `local_logits`. Rows of ignored targets are 0; a "mean" over
        a zero denominator gives 0, as in
        [softmax_cross_entropy_grad][xentref.softmax_cross_entropy_grad].

    Raises
    ------
    TypeError
        As for [vocab_parallel_cross_entropy][xentref.vocab_parallel_cross_entropy].
    ValueError
        As for [vocab_parallel_cross_entropy][xentref.vocab_parallel_cross_entropy].

    See Also
    --------
    - [vocab_parallel_cross_entropy][xentref.vocab_parallel_cross_entropy]: the loss, its
      collectives and what they cannot check.
    - [softmax_cross_entropy_grad][xentref.softmax_cross_entropy_grad]: the dense gradient.

    Notes
    -----
    The target's column is computed as $-(1 - \varepsilon) w_y (1 - p_y) + \ldots$ with
    $1 - p_y = (1 - e^{z_y - m} + \tau) / (1 + \tau)$, without the cancellation of
    $p_y - 1$ when the model is confidently right, as in the dense gradient. A ``-inf``
    logit gets exactly 0.

    Examples
    --------
    On one rank the gradient is the dense one; with two ranks, each gets its columns of it
    (the threaded fake collective of
    [vocab_parallel_cross_entropy][xentref.vocab_parallel_cross_entropy] shows how).

    >>> import numpy as np
    >>> from xentref import softmax_cross_entropy_grad, vocab_parallel_cross_entropy_grad
    >>> logits = np.array([[2.0, 1.0, 0.1, -1.0, 3.0], [0.5, 2.5, 0.3, 0.0, -2.0]])
    >>> g = vocab_parallel_cross_entropy_grad(logits, [4, 1], vocab_start=0, vocab_size=5,
    ...                                       all_reduce=lambda a, op: a)
    >>> print(np.round(g, 4))
    [[ 0.1167  0.0429  0.0175  0.0058 -0.1829]
     [ 0.0505 -0.1267  0.0414  0.0306  0.0041]]
    >>> print(np.allclose(g, softmax_cross_entropy_grad(logits, [4, 1]), rtol=1e-15, atol=0))
    True
    """
    sh, st = _run(
        local_logits,
        target,
        vocab_start,
        vocab_size,
        all_reduce,
        weight,
        ignore_index,
        label_smoothing,
        reduction,
    )
    e = _own_loss_grad(sh, st)
    if reduction == "mean":
        with np.errstate(invalid="ignore", over="ignore"):
            e *= sh.z.dtype.type(0.0 if sh.denominator == 0 else 1.0 / sh.denominator)
    return e.reshape(*sh.batch_shape, sh.z.shape[1])
