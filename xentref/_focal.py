"""Sigmoid focal loss (Lin et al. 2017) from logits, with torchvision's semantics."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from xentref._binary import binary_cross_entropy_with_logits
from xentref._stable import sigmoid
from xentref._validation import as_float_array, check_real, check_reduction, reduce

FloatArray = NDArray[np.floating[Any]]


def sigmoid_focal_loss(
    logits: ArrayLike,
    target: ArrayLike,
    *,
    alpha: float = 0.25,
    gamma: float = 2.0,
    reduction: str = "none",
) -> FloatArray:
    r"""Compute the sigmoid focal loss, which down-weights examples already classified well.

    With $q = \sigma(z)$ and $q_t = q\,y + (1 - q)(1 - y)$, the probability given to the
    target (Lin et al. write $p_t$):

    $$
    \ell = \alpha_t\,(1 - q_t)^{\gamma}\;\operatorname{BCE}(z, y), \qquad
    \alpha_t = \alpha\,y + (1 - \alpha)(1 - y),
    $$

    where $\operatorname{BCE}(z, y)$ is
    [binary_cross_entropy_with_logits][xentref.binary_cross_entropy_with_logits]. With
    $\gamma = 0$ and $\alpha < 0$ it is exactly the binary cross-entropy. Same semantics and
    defaults as ``torchvision.ops.sigmoid_focal_loss`` (note the default reduction "none");
    see [Options in practice](../losses/options.md). The focal loss is not a proper scoring
    rule: for $\gamma > 0$ its expected value is minimised by a probability between 1/2 and
    the true one, so its outputs are underconfident scores, not probabilities (derived on
    [Options in practice](../losses/options.md#focal-loss-is-not-proper)).

    Parameters
    ----------
    logits : array_like
        Real logits, any shape; $\pm\infty$ allowed. float32, float64 and longdouble are kept;
        float16 and bfloat16 become float32, integers float64.
    target : array_like
        Targets in [0, 1], same shape as `logits` (hard or soft labels).
    alpha : float, default 0.25
        Weight of the positive class, at most 1; the negative class gets $1 - \alpha$.
        A negative value turns the $\alpha_t$ factor off (torchvision accepts only $-1$
        for that).
    gamma : float, default 2.0
        Focusing exponent $\gamma \ge 0$; 0 gives the (alpha-weighted) cross-entropy.
    reduction : {"none", "mean", "sum"}, default "none"
        "mean" divides by the number of elements.

    Returns
    -------
    ndarray
        The loss, the shape of `logits` for "none", else 0-d; dtype of `logits`.

    Raises
    ------
    TypeError
        If an argument is None, a masked array, complex or not numeric, or `alpha` / `gamma`
        is not a real number.
    ValueError
        If `target` lies outside [0, 1], the shapes differ, `alpha` > 1 or NaN, `gamma` < 0
        or is not finite, or `reduction` is unknown.

    See Also
    --------
    - [binary_cross_entropy_with_logits][xentref.binary_cross_entropy_with_logits]: the
      cross-entropy inside.
    - [sigmoid][xentref.sigmoid]

    Notes
    -----
    $1 - q_t$ is computed as $y\,\sigma(-z) + (1 - y)\,\sigma(z)$, a sum of non-negative
    terms, rather than as $1 - q_t$, which rounds to 0 for confident predictions and would
    zero a loss that is merely tiny. The cross-entropy factor is the stable one from logits,
    so saturated logits give the true limits ($z = +\infty$, $y = 0$: $+\infty$). Reference:
    Lin, Goyal, Girshick, He and Dollár, *Focal Loss for Dense Object Detection*, 2017,
    [arXiv:1708.02002](https://arxiv.org/abs/1708.02002).

    Examples
    --------
    >>> import numpy as np
    >>> from xentref import binary_cross_entropy_with_logits, sigmoid_focal_loss
    >>> print(sigmoid_focal_loss([0.5], [1.0]))
    [0.01689337]
    >>> print(sigmoid_focal_loss([0.5], [1.0], alpha=-1))
    [0.06757349]
    >>> z, y = np.array([2.0, -1.0, 0.3]), np.array([1.0, 1.0, 0.0])
    >>> same = np.allclose(sigmoid_focal_loss(z, y, alpha=-1, gamma=0.0),
    ...                    binary_cross_entropy_with_logits(z, y, reduction="none"), rtol=1e-15)
    >>> print(same)
    True
    """
    check_reduction(reduction)
    a = check_real(alpha, "alpha", high=1.0)
    g = check_real(gamma, "gamma", low=0.0)
    if not np.isfinite(g):
        raise ValueError(f"`gamma` must be finite, got {gamma!r}")
    ce = binary_cross_entropy_with_logits(logits, target, reduction="none")  # validates
    z = as_float_array(logits, "logits")
    y = as_float_array(target, "target").astype(z.dtype, copy=False)
    one_minus_pt = y * sigmoid(-z) + (1 - y) * sigmoid(z)
    loss = ce * one_minus_pt ** z.dtype.type(g)
    if a >= 0:
        alpha_t = z.dtype.type(a) * y + z.dtype.type(1 - a) * (1 - y)
        with np.errstate(invalid="ignore"):
            loss = np.where(alpha_t == 0, 0, loss * alpha_t)  # alpha_t = 0 counts 0, even at inf
    return reduce(loss, reduction)
