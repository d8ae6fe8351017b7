"""Binary cross-entropy, from probabilities and from logits, and the gradient from logits.

The probability form is exact (no clamping, no epsilon): a prediction of exactly 0 for an
event that happened costs ``inf``. The logit form has PyTorch's semantics, ``pos_weight``
and the broadcasting of ``weight`` included, and returns the true limits at infinite logits.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from xentref._stable import log_sigmoid, sigmoid
from xentref._validation import (
    as_float_array,
    check_broadcasts_to,
    check_in_unit_interval,
    check_nonnegative,
    check_reduction,
    check_same_shape,
    reduce,
)

FloatArray = NDArray[np.floating[Any]]


def _inputs(
    x: ArrayLike, target: ArrayLike, name: str, reduction: str, **weights: ArrayLike | None
) -> tuple[FloatArray, FloatArray, list[FloatArray | int]]:
    """Validate the prediction, the target (same shape, in [0, 1]) and broadcastable weights."""
    a = as_float_array(x, name)
    y = as_float_array(target, "target").astype(a.dtype, copy=False)
    check_same_shape(a, y, name, "target")
    check_in_unit_interval(y, "target")
    check_reduction(reduction)
    out: list[FloatArray | int] = []
    for key, value in weights.items():
        if value is None:
            out.append(1)
            continue
        w = as_float_array(value, key).astype(a.dtype, copy=False)
        check_broadcasts_to(w, a.shape, key, name)
        check_nonnegative(w, key)
        out.append(w)
    return a, y, out


def binary_cross_entropy(
    probs: ArrayLike, target: ArrayLike, *, weight: ArrayLike | None = None, reduction: str = "mean"
) -> FloatArray:
    r"""Compute the binary cross-entropy (log loss) of predicted probabilities, exactly.

    $$
    \ell = -w\,\big[\,y \log q + (1 - y) \log(1 - q)\,\big], \qquad 0 \log 0 = 0 .
    $$

    In plain code: ``-w * (y * np.log(q) + (1 - y) * np.log1p(-q))`` with the zero-target
    terms dropped. No clamping, no epsilon: $q = 0$ with $y = 1$ costs $+\infty$, because a
    model that rules out what happened deserves an infinite log loss. See
    [Binary cross-entropy](../losses/binary.md).

    Parameters
    ----------
    probs : array_like
        Predicted probabilities $q \in [0, 1]$, any shape. float32, float64 and longdouble are
        kept; float16 and bfloat16 become float32, integers float64.
    target : array_like
        Targets $y \in [0, 1]$ (hard 0/1 labels or soft), same shape as `probs`.
    weight : array_like, optional
        Non-negative, finite weights (NaN is an error) broadcastable to the shape of
        `probs`, multiplying each term.
    reduction : {"mean", "sum", "none"}, default "mean"
        "mean" divides the (weighted) sum by the number of elements, as PyTorch does (not by
        the sum of the weights).

    Returns
    -------
    ndarray
        The loss, 0-d for "mean"/"sum", else the shape of `probs`, in its dtype.

    Raises
    ------
    TypeError
        If an argument is None, a masked array, complex or not numeric.
    ValueError
        If `probs` or `target` lies outside [0, 1], their shapes differ (both shown),
        `weight` does not broadcast or is negative, NaN or infinite, or `reduction` is
        unknown.

    See Also
    --------
    - [binary_cross_entropy_with_logits][xentref.binary_cross_entropy_with_logits]: the
      stable form from logits; prefer it when you have logits.
    - [cross_entropy][xentref.cross_entropy]: the same for any number of classes.

    Notes
    -----
    ``log1p(-q)`` keeps $\log(1 - q)$ accurate for small $q$. Other libraries clip instead
    (observed with torch 2.13.0, scikit-learn 1.9.1 and Keras 3.15.1): PyTorch clamps each
    log at $-100$, so $q = 0, y = 1$ gives 100.0 and any $q < e^{-100}$ costs the same 100;
    scikit-learn's ``log_loss`` clips $q$ to $[\epsilon_{\text{mach}}, 1 -
    \epsilon_{\text{mach}}]$ with the dtype's machine epsilon (36.04 for float64); Keras clips
    to $[10^{-7}, 1 - 10^{-7}]$ (16.118). The difference only shows for predictions within
    $e^{-16}$ of the wrong certainty.

    Examples
    --------
    >>> import numpy as np
    >>> from xentref import binary_cross_entropy
    >>> print(binary_cross_entropy([0.9, 0.2], [1.0, 0.0], reduction="none"))
    [0.10536052 0.22314355]
    >>> print(binary_cross_entropy([0.0, 1.0], [1.0, 1.0], reduction="none"))
    [inf  0.]
    >>> print(binary_cross_entropy([1e-60], [1.0]))  # PyTorch: 100.0, scikit-learn: 36.04
    138.15510557964274
    """
    p, y, (w,) = _inputs(probs, target, "probs", reduction, weight=weight)
    check_in_unit_interval(p, "probs")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # a weight of 1e308
        pos = np.where(y == 0, 0, y * np.log(p))  # 0 log 0 = 0
        neg = np.where(1 - y == 0, 0, (1 - y) * np.log1p(-p))  # log(1 - p), exact for small p
        loss = np.where(w == 0, 0, (0.0 - (pos + neg)) * w)  # weight 0 counts 0; 0.0 - x: no -0.0
    return reduce(loss, reduction)


def binary_cross_entropy_with_logits(
    logits: ArrayLike,
    target: ArrayLike,
    *,
    weight: ArrayLike | None = None,
    pos_weight: ArrayLike | None = None,
    reduction: str = "mean",
) -> FloatArray:
    r"""Compute the binary cross-entropy from logits, stably, with PyTorch's options.

    With $q = \sigma(z)$ and positive-class weight $w_+$ (`pos_weight`):

    $$
    \ell = w\,\big[\,w_+\, y\, \operatorname{softplus}(-z)
      + (1 - y)\operatorname{softplus}(z)\,\big],
    $$

    with $\operatorname{softplus}(z) = \log(1 + e^{z}) = -\log \sigma(-z)$; that is
    $-w[w_+ y \log q + (1 - y)\log(1 - q)]$ without ever forming $q$. For finite logits it
    equals ``torch.nn.functional.binary_cross_entropy_with_logits`` to rounding,
    except where PyTorch's formula $(1 - y) z - \log\sigma(z)$ cancels, for $y = 0$ and
    $z \ll 0$: there PyTorch 2.13 returns 0.0 at $z = -40$ (exact: $4.25 \times 10^{-18}$)
    and has a relative error of $2.9 \times 10^{-7}$ at $z = -20$, while this function stays
    exact. See [Binary cross-entropy](../losses/binary.md#the-stable-form).

    Parameters
    ----------
    logits : array_like
        Real logits $z$, any shape; $\pm\infty$ allowed. float32, float64 and longdouble are kept;
        float16 and bfloat16 become float32, integers float64.
    target : array_like
        Targets $y \in [0, 1]$, same shape as `logits`.
    weight : array_like, optional
        Non-negative, finite weights (NaN is an error) broadcastable to the shape of
        `logits` (per element, per class, or per sample with a trailing axis of 1).
    pos_weight : array_like, optional
        Non-negative, finite weight $w_+$ of the positive term, broadcastable to the shape of
        `logits` along the trailing axes, e.g. shape (C,) for logits (N, C): one per class.
    reduction : {"mean", "sum", "none"}, default "mean"
        "mean" divides by the number of elements.

    Returns
    -------
    ndarray
        The loss, 0-d for "mean"/"sum", else the shape of `logits`, in its dtype.

    Raises
    ------
    TypeError
        If an argument is None, a masked array, complex or not numeric.
    ValueError
        If `target` lies outside [0, 1], the shapes of `logits` and `target` differ (both
        shown), `weight` or `pos_weight` does not broadcast or is negative, NaN or infinite,
        or `reduction` is unknown.

    See Also
    --------
    - [binary_cross_entropy_with_logits_grad][xentref.binary_cross_entropy_with_logits_grad]
    - [log_sigmoid][xentref.log_sigmoid]: the stable piece.
    - [softmax_cross_entropy][xentref.softmax_cross_entropy]: equal to this with logits
      $[0, z]$ and target $[1 - y, y]$.

    Notes
    -----
    $\operatorname{softplus}(-z) = -\log\sigma(z) = \log(1 + e^{-|z|}) - \min(z, 0)$ never
    overflows and keeps tiny losses: $z = 40, y = 1$ gives $4.25 \times 10^{-18}$, where
    ``-log(sigmoid(40))`` gives 0. A term whose coefficient is exactly 0 counts 0, so
    infinite logits give the true limits: $(z, y) = (-\infty, 0) \to 0$,
    $(+\infty, 1) \to 0$, $(-\infty, 1) \to +\infty$, $(+\infty, 0) \to +\infty$.
    PyTorch 2.13 returns NaN for the first three (pytorch/pytorch#49844). PyTorch accepts
    targets outside [0, 1] and negative `pos_weight` silently; both are errors here.

    Examples
    --------
    >>> import numpy as np
    >>> from xentref import binary_cross_entropy_with_logits
    >>> z, y = np.array([0.5, -1.0, 3.0]), np.array([1.0, 0.0, 1.0])
    >>> print(binary_cross_entropy_with_logits(z, y, reduction="none"))
    [0.47407698 0.31326169 0.04858735]
    >>> print(binary_cross_entropy_with_logits([0.5], [1.0], pos_weight=[3.0]))
    1.42223095254032
    >>> print(binary_cross_entropy_with_logits([40.0, -800.0], [1.0, 1.0], reduction="none"))
    [4.24835426e-18 8.00000000e+02]
    >>> print(binary_cross_entropy_with_logits([-np.inf, np.inf], [0.0, 1.0], reduction="none"))
    [0. 0.]
    """
    z, y, (w, beta) = _inputs(
        logits, target, "logits", reduction, weight=weight, pos_weight=pos_weight
    )
    with np.errstate(invalid="ignore", over="ignore"):  # loss * 1e308 is inf, no warning
        c_pos = beta * y
        pos = np.where(c_pos == 0, 0, c_pos * -log_sigmoid(z))  # softplus(-z)
        neg = np.where(1 - y == 0, 0, (1 - y) * -log_sigmoid(-z))  # softplus(z)
        loss = np.where(w == 0, 0, (pos + neg) * w)  # weight 0 counts 0, even next to inf
    return reduce(loss, reduction)


def binary_cross_entropy_with_logits_grad(
    logits: ArrayLike,
    target: ArrayLike,
    *,
    weight: ArrayLike | None = None,
    pos_weight: ArrayLike | None = None,
    reduction: str = "mean",
) -> FloatArray:
    r"""Compute the gradient of the binary cross-entropy from logits with respect to `logits`.

    The derivative of
    [binary_cross_entropy_with_logits][xentref.binary_cross_entropy_with_logits]:

    $$
    \frac{\partial \ell}{\partial z} = w\,\big[(1 - y)\,\sigma(z) - w_+\, y\, \sigma(-z)\big] ,
    $$

    which is $w\,(\sigma(z) - y)$ for $w_+ = 1$.

    Derived step by step on [Binary cross-entropy](../losses/binary.md); equal to PyTorch's
    autograd gradient, $\big(1 + (w_+ - 1) y\big) \sigma(z) - w_+ y$ times the weight.

    Parameters
    ----------
    logits : array_like
        Real logits, any shape.
    target : array_like
        Targets in [0, 1], same shape as `logits`.
    weight : array_like, optional
        As for the loss.
    pos_weight : array_like, optional
        As for the loss.
    reduction : {"mean", "sum", "none"}, default "mean"
        "mean" divides by the number of elements; "none" and "sum" give each element's
        derivative of its own loss.

    Returns
    -------
    ndarray
        Same shape and dtype as `logits`. Finite even at infinite logits.

    Raises
    ------
    TypeError
        As for the loss.
    ValueError
        As for the loss.

    See Also
    --------
    - [binary_cross_entropy_with_logits][xentref.binary_cross_entropy_with_logits]: the loss.
    - [sigmoid][xentref.sigmoid]

    Notes
    -----
    Written as $(1 - y)\sigma(z) - w_+ y \sigma(-z)$ rather than $\sigma(z) - y$, so a
    confidently right prediction ($z = 40$, $y = 1$) gets its true tiny gradient
    $-4.25 \times 10^{-18}$ instead of a rounded 0.

    Examples
    --------
    >>> import numpy as np
    >>> from xentref import binary_cross_entropy_with_logits_grad, sigmoid
    >>> z, y = np.array([0.5, -1.0, 3.0]), np.array([1.0, 0.0, 1.0])
    >>> g = binary_cross_entropy_with_logits_grad(z, y, reduction="sum")
    >>> print(g)
    [-0.37754067  0.26894142 -0.04742587]
    >>> print(np.allclose(g, sigmoid(z) - y, rtol=1e-14, atol=1e-16))  # same, up to rounding
    True
    >>> print(binary_cross_entropy_with_logits_grad([40.0], [1.0], reduction="sum"))
    [-4.24835426e-18]
    """
    z, y, (w, beta) = _inputs(
        logits, target, "logits", reduction, weight=weight, pos_weight=pos_weight
    )
    with np.errstate(over="ignore"):  # huge weights: an infinite gradient, no warning
        grad = ((1 - y) * sigmoid(z) - beta * y * sigmoid(-z)) * w
    grad = np.broadcast_to(grad, z.shape).astype(z.dtype, copy=True)
    return grad / z.dtype.type(z.size) if reduction == "mean" else grad
