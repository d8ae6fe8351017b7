"""Calibration: temperature scaling and the expected calibration error (Guo et al. 2017)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from xentref._softmax_ce import softmax_cross_entropy, softmax_cross_entropy_grad
from xentref._validation import (
    as_float_array,
    as_index_array,
    check_axis,
    check_class_indices,
    check_distribution,
    check_int,
)

FloatArray = NDArray[np.floating[Any]]

#: The most bins `expected_calibration_error` accepts: their edges and sums take 16 bytes a
#: bin, 16 MiB here; more bins than examples only add empty ones.
MAX_BINS = 1 << 20


def fit_temperature(logits: ArrayLike, target: ArrayLike, *, axis: int = -1) -> float:
    r"""Find the temperature $T > 0$ that minimises the mean cross-entropy of ``logits / T``.

    Temperature scaling (Guo et al. 2017) fits one scalar on held-out data:

    $$
    T^\star = \arg\min_{T > 0}\; \frac{1}{N}\sum_{n=1}^{N} \ell\big(z_n / T,\; y_n\big),
    $$

    with $\ell$ the [softmax_cross_entropy][xentref.softmax_cross_entropy]. Dividing the
    logits by $T^\star$ leaves every argmax (so the accuracy) unchanged and usually fixes
    most of a network's overconfidence. See [Calibration](../practice/calibration.md).

    Parameters
    ----------
    logits : array_like, shape (..., C, ...)
        Held-out logits; class axis `axis`. Any real dtype (float16, bfloat16, longdouble
        too): the fit is computed in float64.
    target : array_like
        Class indices or class probabilities, as for
        [softmax_cross_entropy][xentref.softmax_cross_entropy] with its defaults (so a class
        index of -100 is ignored).
    axis : int, default -1
        The class axis.

    Returns
    -------
    float
        $T^\star$, to a relative accuracy of $10^{-9}$ or better. $T > 1$ softens an
        overconfident model, $T < 1$ sharpens an underconfident one.

    Raises
    ------
    TypeError
        As for [softmax_cross_entropy][xentref.softmax_cross_entropy].
    ValueError
        As for [softmax_cross_entropy][xentref.softmax_cross_entropy]; if there is no
        example, or every target is -100 (ignored); or when no finite
        $T > 0$ minimises the loss: the logits are no better than uniform guessing (the
        loss keeps falling as $T \to \infty$), or they rank every target first by a margin
        (the loss keeps falling as $T \to 0$).

    See Also
    --------
    - [expected_calibration_error][xentref.expected_calibration_error]: to measure the
      result.
    - [softmax_cross_entropy_grad][xentref.softmax_cross_entropy_grad]: gives the
      derivative used here.

    Notes
    -----
    In the inverse temperature $u = 1/T$ the loss $L(u) = \frac1N\sum_n
    [\operatorname{logsumexp}(u z_n) - u z_{n y_n}]$ is convex, with derivative
    $L'(u) = \frac1N \sum_n (\mathbb{E}_{p_n}[z_n] - z_{n y_n})$, which is the sum of the
    loss gradient times the logits, measured from each row's maximum so that a tiny slope
    keeps its sign. The root of $L'$ is bracketed (doubling from $u = 1$)
    and found by the Illinois variant of regula falsi in float64, which converges
    superlinearly and never leaves the bracket.

    References: Guo, Pleiss, Sun and Weinberger, *On Calibration of Modern Neural
    Networks*, ICML 2017, [arXiv:1706.04599](https://arxiv.org/abs/1706.04599).

    Examples
    --------
    >>> import numpy as np
    >>> from xentref import fit_temperature, softmax_cross_entropy
    >>> logits = np.array([[4.0, 0.0], [4.0, 0.0], [4.0, 0.0], [0.0, 4.0]])
    >>> target = np.array([0, 0, 1, 1])  # right 3 times out of 4, but 98% sure each time
    >>> t = fit_temperature(logits, target)
    >>> print(round(t, 6))  # softmax(z / T) then says 75%: exactly the accuracy
    3.640957
    >>> print(round(float(np.exp(4.0 / t) / (1 + np.exp(4.0 / t))), 6))
    0.75
    """
    z = as_float_array(logits, "logits").astype(np.float64)
    ax = check_axis(z, axis, "logits")
    # Validates `target` against `logits`; a NaN in either (a soft target too) is NaN out.
    losses = softmax_cross_entropy(z, target, axis=ax, reduction="none")
    if z.size == 0:
        raise ValueError(f"`logits` must hold at least one example, got shape {z.shape}")
    if np.isnan(z).any() or np.isnan(losses).any():
        return float("nan")
    if np.shape(target) != z.shape and np.all(as_index_array(target, "target") == -100):
        raise ValueError("`target` ignores every example (all are -100): nothing to fit")

    # dL/du = sum(grad * z). Each gradient row sums to 0, so z may be measured from its row
    # maximum: then the target's term is exactly 0 instead of (p - 1) * z with p rounded to 1,
    # and the slope keeps its sign when it is tiny. Masked (-inf) classes have zero gradient.
    # The loss and its gradient depend on z only through these differences, so the logits
    # are scaled as zs: u * zs overflows only towards -inf, where p = 0 at any scale anyway
    # (u * z would turn a logit of 1e308 into +inf, and the loss into NaN).
    with np.errstate(invalid="ignore", over="ignore"):  # -1e308 - 1e308 = -inf: p = 0 there
        zs = z - np.max(z, axis=ax, keepdims=True)
    dz = np.where(np.isfinite(zs), zs, 0.0)

    def scaled(u: float) -> FloatArray:
        with np.errstate(over="ignore"):
            return np.asarray(u * zs)

    def slope(u: float) -> float:
        return float(np.sum(softmax_cross_entropy_grad(scaled(u), target, axis=ax) * dz))

    def loss(u: float) -> float:
        return float(softmax_cross_entropy(scaled(u), target, axis=ax))

    lo, f_lo, hi, f_hi = _inverse_temperature_bracket(slope, loss)
    return 1.0 / _inverse_temperature_root(slope, lo, f_lo, hi, f_hi)


def _inverse_temperature_bracket(
    slope: Callable[[float], float], loss: Callable[[float], float]
) -> tuple[float, float, float, float]:
    r"""Bracket the minimum of the convex loss $L(u)$, $u = 1/T$: ``lo, slope(lo), hi, slope(hi)``.

    With $L'(\text{lo}) < 0 \le L'(\text{hi})$: lo starts at $0^+$ and hi at 1, and both
    move up, hi doubling, while $L'(\text{hi}) < 0$. Raises the ValueErrors of
    `fit_temperature`: when $L'(0^+) \ge 0$ (no finite $T$), and when $L$ still falls past
    $u = 10^{12}$ or has fallen to exactly 0 (no positive $T$).
    """
    lo, f_lo = 0.0, slope(1e-300)  # the limit u -> 0+ (0 * -inf would be NaN)
    if not f_lo < 0:
        raise ValueError(
            "`logits` do no better than uniform guessing on `target`: the loss keeps "
            "decreasing as T -> inf, so no finite temperature minimises it"
        )
    hi, f_hi = 1.0, slope(1.0)
    # The slope of a model that ranks every target first only underflows to 0 as u grows,
    # together with the loss itself; a true minimum always has a positive loss.
    while f_hi < 0 or (f_hi == 0 and loss(hi) == 0):
        if hi > 1e12 or f_hi == 0:
            raise ValueError(
                "`logits` rank every target first by a margin: the loss keeps decreasing "
                "as T -> 0, so no positive temperature minimises it"
            )
        lo, f_lo, hi = hi, f_hi, hi * 2
        f_hi = slope(hi)
    return lo, f_lo, hi, f_hi


def _inverse_temperature_root(
    slope: Callable[[float], float], lo: float, f_lo: float, hi: float, f_hi: float
) -> float:
    r"""Solve $L'(u) = 0$ in the bracket ``[lo, hi]`` by the Illinois variant of regula falsi.

    `slope` is the derivative of the mean loss in the inverse temperature $u = 1/T$,
    $L'(u) = \frac1N \sum_n (\mathbb{E}_{p_n}[z_n] - z_{n y_n})$ with
    $p_n = \operatorname{softmax}(u z_n)$; $\frac{dL}{dT} = -L'(1/T) / T^2$ vanishes at the
    same point. Each step moves the end whose slope has the sign of the secant root's, and
    halves the slope of an end kept twice running (Illinois), so the root is approached
    superlinearly from both sides; it stops at a zero slope, at a bracket narrower than
    $10^{-12}$ hi, or after 200 steps.
    """
    side = 0
    for _ in range(200):
        u = (lo * f_hi - hi * f_lo) / (f_hi - f_lo)
        f_u = slope(u)
        if f_u == 0 or hi - lo <= 1e-12 * hi:
            break
        if f_u > 0:
            hi, f_hi = u, f_u
            f_lo = f_lo / 2 if side == 1 else f_lo  # Illinois: halve the stale end
            side = 1
        else:
            lo, f_lo = u, f_u
            f_hi = f_hi / 2 if side == -1 else f_hi
            side = -1
    return u


def expected_calibration_error(probs: ArrayLike, target: ArrayLike, *, n_bins: int = 15) -> float:
    r"""Compute the expected calibration error (ECE) of predicted class probabilities.

    Predictions are grouped by confidence $\hat q_n = \max_c q_{nc}$ into $M$ = `n_bins`
    equal-width bins $B_b = \big(\tfrac{b-1}{M}, \tfrac{b}{M}\big]$ (confidence 0 joins the
    first bin), and

    $$
    \mathrm{ECE} = \sum_{b=1}^{M} \frac{|B_b|}{N}\,
      \big|\operatorname{acc}(B_b) - \operatorname{conf}(B_b)\big|,
    $$

    the average gap between how often the model is right and how sure it says it is,
    weighted by how many predictions fall in each bin (Guo et al. 2017). See
    [Calibration](../practice/calibration.md).

    Parameters
    ----------
    probs : array_like, shape (N, C)
        Predicted class probabilities, rows summing to 1 (within $\sqrt{\epsilon}$). Any
        real dtype: each example is binned in its own precision, the gaps are summed in
        float64.
    target : array_like, shape (N,)
        True class indices in ``[0, C)``.
    n_bins : int, default 15
        Number of equal-width confidence bins, from 1 to $2^{20}$ (1,048,576).

    Returns
    -------
    float
        ECE in [0, 1]; NaN if `probs` contains NaN.

    Raises
    ------
    TypeError
        If `probs` or `target` is None, a masked array, complex or not numeric, or `n_bins`
        is not an int.
    ValueError
        If `probs` is not 2-D with at least one row, a row is not a distribution, `target`
        does not have shape (N,) or holds an index outside ``[0, C)``, or `n_bins` is
        outside $[1, 2^{20}]$.

    See Also
    --------
    - [fit_temperature][xentref.fit_temperature]: reduces the ECE of a softmax model.
    - [softmax][xentref.softmax]: turns logits into `probs`.

    Notes
    -----
    ECE depends on the binning. With one bin it is $|\text{accuracy} - \text{mean
    confidence}|$, and every binning gives at least that; refining the bins (splitting each
    one, as going from $M$ to $2M$ does) never lowers it. More bins that do not refine the
    old ones can: ``probs = [[.45, .30, .25], [.55, .25, .20]]``, ``target = [0, 1]`` give
    0.0, 0.55 and 0.0 for 1, 2 and 3 bins. Ties in the maximum take the first class, as
    ``np.argmax`` does.

    Examples
    --------
    >>> import numpy as np
    >>> from xentref import expected_calibration_error
    >>> probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    >>> target = np.array([0, 1, 1, 0])
    >>> print(round(expected_calibration_error(probs, target, n_bins=5), 6))
    0.25
    >>> print(round(expected_calibration_error(probs, target, n_bins=1), 6))  # |0.75 - 0.75|
    0.0
    """
    p = as_float_array(probs, "probs")
    if p.ndim != 2 or p.shape[0] == 0 or p.shape[1] == 0:
        raise ValueError(f"`probs` must have shape (N, C) with N, C >= 1, got {p.shape}")
    check_distribution(p, 1, "probs")
    y = as_index_array(target, "target")
    if y.shape != (p.shape[0],):
        raise ValueError(
            f"`target` must have shape ({p.shape[0]},), one per row of `probs`, got {y.shape}"
        )
    check_class_indices(y, p.shape[1], None)
    m = check_int(n_bins, "n_bins", low=1, high=MAX_BINS)
    confidence = np.max(p, axis=1)
    if np.isnan(confidence).any():
        return float("nan")
    correct = (np.argmax(p, axis=1) == y).astype(np.float64)
    # Bin m holds (edges[m], edges[m + 1]], as in Guo et al.'s code (confidence <= upper edge).
    edges = np.linspace(0.0, 1.0, m + 1)
    bins = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, m - 1)
    gap = (correct - confidence).astype(np.float64)  # np.bincount sums float64 only
    gaps = np.bincount(bins, weights=gap, minlength=m)  # sum per bin of acc - conf
    return float(np.sum(np.abs(gaps)) / p.shape[0])
