"""What a token mean divides by, so that any split of a batch gives the same loss.

A "mean" loss is a sum divided by a denominator. Split the batch into micro-batches (gradient
accumulation), ranks (data parallelism) or packed rows, and the sums add up while the
denominators must be added up too: the mean of the micro-batch means is a different loss.
`mean_denominator` returns exactly what `softmax_cross_entropy(..., reduction="mean")` divides
by, so that ``sum_i loss_sum_i / sum_i mean_denominator_i`` is the full batch's mean.
"""

from __future__ import annotations

from numpy.typing import ArrayLike

from xentref._softmax_ce import _prepare


def mean_denominator(
    logits: ArrayLike,
    target: ArrayLike,
    *,
    axis: int = -1,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
) -> float:
    r"""Return what the "mean" softmax cross-entropy of this batch divides its sum by.

    Sum the losses of every part of a batch (micro-batches, data-parallel ranks, packed rows)
    with ``reduction="sum"``, divide by the sum of the parts' `mean_denominator`, and the result
    is the loss of the whole batch, with every option; so are the gradients. The arguments are
    the leading arguments of [softmax_cross_entropy][xentref.softmax_cross_entropy]: the logits
    give the shapes and tell class indices from class probabilities.

    $$
    D = \sum_{n:\, y_n \ne \text{ignore\_index}} w_{y_n}
    \qquad\text{and}\qquad
    \frac{\sum_i L^{\text{sum}}_i}{\sum_i D_i} = L^{\text{mean}}
    \text{ for any split } i \text{ of the batch,}
    $$

    where $w_{y_n}$ is the weight of position $n$'s class (1 without `weight`). For class
    probabilities $D$ is the number of positions, as in PyTorch. Label smoothing,
    ``softcap`` and ``z_loss`` (weighted per position like the loss) do not change $D$.
    The page [Across batches and devices](../llm/batches-and-devices.md) derives it and
    reproduces the gradient-accumulation bug it prevents.

    Parameters
    ----------
    logits : array_like, shape (..., C, ...)
        As for [softmax_cross_entropy][xentref.softmax_cross_entropy]; only its shape and
        dtype are used, after the same checks.
    target : array_like
        Class indices of shape ``logits.shape`` without `axis`, or class probabilities of
        shape ``logits.shape``, as for [softmax_cross_entropy][xentref.softmax_cross_entropy].
    axis : int, default -1
        The class axis of `logits`.
    weight : array_like, shape (C,), optional
        A non-negative weight per class.
    ignore_index : int, default -100
        Class-index targets equal to this value count 0.

    Returns
    -------
    float
        $\sum_n w_{y_n}$ over the non-ignored positions (their count without `weight`), or the
        number of positions for probability targets; 0.0 for an empty or all-ignored batch.
        It is a Python float, like the other scalar statistics of xentref: the value a
        caller adds across parts and all-reduces across ranks. It is summed in the dtype of
        `logits`, as ``reduction="mean"`` sums it.

    Raises
    ------
    TypeError
        As for [softmax_cross_entropy][xentref.softmax_cross_entropy].
    ValueError
        As for [softmax_cross_entropy][xentref.softmax_cross_entropy] (shapes, class indices,
        probabilities, `weight`, `ignore_index`).

    See Also
    --------
    - [softmax_cross_entropy][xentref.softmax_cross_entropy]: the loss whose mean divides by it.
    - [softmax_cross_entropy_grad][xentref.softmax_cross_entropy_grad]: its gradient, which
      divides by it too.
    - [vocab_parallel_cross_entropy][xentref.vocab_parallel_cross_entropy]: the same loss
      when the classes, not the positions, are split.

    Notes
    -----
    It is computed by the same validation step as the loss (`_prepare` in
    `xentref/_softmax_ce.py`), so it is by construction what ``reduction="mean"`` divides by;
    a copy outside xentref can use the plain-code equivalent
    ``np.sum(np.where(target != ignore_index, w[np.where(target != ignore_index, target, 0)],
    0))`` for class indices, and ``target[..., 0].size`` for probabilities (class axis last).

    Under data parallelism each rank computes its own denominator and the caller all-reduces
    it (a sum) before dividing; under gradient accumulation the denominators of all the
    micro-batches of one optimizer step are added before any of them is divided. An
    all-ignored part then contributes 0 to the sum and 0 to the denominator, instead of the
    NaN its own mean would be.

    Examples
    --------
    >>> import numpy as np
    >>> from xentref import mean_denominator, softmax_cross_entropy
    >>> rng = np.random.default_rng(0)
    >>> logits = rng.normal(size=(6, 4))
    >>> target = np.array([0, 3, -100, 1, 2, 2])
    >>> w = [1.0, 2.0, 3.0, 4.0]
    >>> print(mean_denominator(logits, target), mean_denominator(logits, target, weight=w))
    5.0 13.0

    Two micro-batches of 1 and 5 positions: sums over summed denominators give the full mean,
    the mean of the two means does not.

    >>> parts = [slice(0, 1), slice(1, 6)]
    >>> total = sum(softmax_cross_entropy(logits[p], target[p], reduction="sum") for p in parts)
    >>> count = sum(mean_denominator(logits[p], target[p]) for p in parts)
    >>> print(np.isclose(total / count, softmax_cross_entropy(logits, target), rtol=1e-15))
    True
    >>> means = [softmax_cross_entropy(logits[p], target[p]) for p in parts]
    >>> print(f"{np.mean(means):.4f} != {softmax_cross_entropy(logits, target):.4f}")
    1.4677 != 1.4559
    """
    pb = _prepare(logits, target, axis, weight, ignore_index, 0.0, "mean")
    return float(pb.denominator)
