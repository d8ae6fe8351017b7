"""Information measures between discrete distributions: entropy, cross-entropy, KL divergence.

Inputs are probability vectors along `axis` (validated: non-negative, summing to 1). Results
are in nats, or in the unit of `base` (``base=2`` gives bits), with the convention
$0 \\log 0 = 0$.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from xentref._validation import as_float_array, check_axis, check_base, check_distribution

FloatArray = NDArray[np.floating[Any]]


def _distributions(p: ArrayLike, q: ArrayLike, axis: int) -> tuple[FloatArray, FloatArray, int]:
    """Validate `p` and `q` as distributions along `axis` and broadcast them together."""
    a, b = as_float_array(p, "p"), as_float_array(q, "q")
    try:
        a, b = np.broadcast_arrays(a, b)
    except ValueError:
        raise ValueError(
            f"`q` must broadcast with `p`: `p` has shape {np.shape(a)}, `q` has shape {np.shape(b)}"
        ) from None
    dtype = np.result_type(a, b)
    a, b = a.astype(dtype, copy=False), b.astype(dtype, copy=False)
    ax = check_axis(a, axis, "p")
    check_distribution(a, ax, "p")
    check_distribution(b, ax, "q")
    return a, b, ax


def entropy(p: ArrayLike, axis: int = -1, base: float | None = None) -> FloatArray:
    r"""Compute the Shannon entropy $H(p) = -\sum_k p_k \log p_k$ along `axis`.

    $$
    H(p) = -\sum_{k=1}^{C} p_k \log p_k, \qquad 0 \log 0 = 0 .
    $$

    The expected surprisal $-\log p_k$ of an outcome drawn from $p$; see
    [Entropy](../theory/entropy.md). In plain code: ``-np.sum(p * np.log(p))`` with the
    zero terms dropped.

    Parameters
    ----------
    p : array_like, shape (..., C, ...)
        Probabilities along `axis`: non-negative, summing to 1 within $\sqrt{\epsilon}$ of
        the dtype ($1.5 \times 10^{-8}$ for float64, $3.5 \times 10^{-4}$ for float32).
        float32, float64 and longdouble are kept; float16 and bfloat16 become float32,
        integers float64.
    axis : int, default -1
        The axis holding the distribution.
    base : float, optional
        Logarithm base: None for nats, 2 for bits, 10 for hartleys. Positive, not 1.

    Returns
    -------
    ndarray
        $H(p) \ge 0$ with `axis` removed, in the dtype of `p` (float64 for integers).
        A 0-d array for a single distribution.

    Raises
    ------
    TypeError
        If `p` is None, a masked array, complex or not numeric, or `axis` is not an int.
    ValueError
        If `p` has a negative entry, does not sum to 1, `axis` is out of range, or `base`
        is not positive or equals 1.

    See Also
    --------
    - [cross_entropy][xentref.cross_entropy]: $H(p, q) \ge H(p)$.
    - [kl_divergence][xentref.kl_divergence]: $H(p, q) - H(p)$.

    Notes
    -----
    Every term $-p_k \log p_k$ is non-negative, so the sum has no cancellation. Unlike
    ``scipy.stats.entropy`` (which silently renormalises `p` and defaults to ``axis=0``), a
    vector that is not a distribution is an error here.

    Examples
    --------
    >>> from xentref import entropy
    >>> print(entropy([0.5, 0.5]))          # one fair coin flip, in nats = log 2
    0.6931471805599453
    >>> print(entropy([0.5, 0.5], base=2))  # ... = 1 bit
    1.0
    >>> print(entropy([1.0, 0.0]))          # 0 log 0 = 0: a certain outcome carries nothing
    0.0
    >>> print(entropy([[0.25, 0.25, 0.25, 0.25], [1.0, 0.0, 0.0, 0.0]], base=2))  # one per row
    [2. 0.]
    """
    a = as_float_array(p, "p")
    ax = check_axis(a, axis, "p")
    check_distribution(a, ax, "p")
    log_base = check_base(base)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(a == 0, 0, a * np.log(a))  # 0 log 0 = 0; NaN propagates
    return np.asarray((0.0 - np.sum(terms, axis=ax)) / a.dtype.type(log_base))  # no -0.0


def cross_entropy(
    p: ArrayLike, q: ArrayLike, axis: int = -1, base: float | None = None
) -> FloatArray:
    r"""Compute the cross-entropy $H(p, q) = -\sum_k p_k \log q_k$ along `axis`.

    $$
    H(p, q) = -\sum_{k=1}^{C} p_k \log q_k = H(p) + D_{\mathrm{KL}}(p \,\|\, q) .
    $$

    The expected surprisal under the model $q$ of outcomes drawn from the data distribution
    $p$; see [Cross-entropy](../theory/cross-entropy.md). It is $+\infty$ where the model
    gives probability 0 to an outcome the data has ($q_k = 0 < p_k$), and terms with
    $p_k = 0$ count 0 even when $q_k = 0$. Not to be confused with the joint entropy
    $H(X, Y)$ of two random variables, which some texts write the same way; see
    [Notation](../notation.md).

    Parameters
    ----------
    p : array_like, shape (..., C, ...)
        Data distribution along `axis` (non-negative, summing to 1 within
        $\sqrt{\epsilon}$ of the dtype).
    q : array_like, broadcastable with `p`
        Model distribution along `axis`, same conditions. float32, float64 and longdouble are kept;
        float16 and bfloat16 become float32, integers float64. NaN in `p` or `q` propagates.
    axis : int, default -1
        The axis holding the distributions (of the broadcast shape).
    base : float, optional
        Logarithm base: None for nats, 2 for bits. Positive, not 1.

    Returns
    -------
    ndarray
        $H(p, q) \ge H(p) \ge 0$ with `axis` removed, in the common dtype of `p` and `q`.

    Raises
    ------
    TypeError
        If `p` or `q` is None, a masked array, complex or not numeric, or `axis` is not an
        int.
    ValueError
        If `p` or `q` is not a distribution along `axis`, they do not broadcast, `axis`
        is out of range, or `base` is not positive or equals 1.

    See Also
    --------
    - [entropy][xentref.entropy], [kl_divergence][xentref.kl_divergence]
    - [softmax_cross_entropy][xentref.softmax_cross_entropy]: the same quantity from logits,
      the stable way to compute it for a model.

    Notes
    -----
    Every term $-p_k \log q_k$ is non-negative, so the sum is accurate to a few ulps. For a
    model given by logits, do not form $q$ = softmax first: a probability that underflows
    to 0 turns a finite loss into ``inf``; use
    [softmax_cross_entropy][xentref.softmax_cross_entropy].

    Examples
    --------
    >>> import numpy as np
    >>> from xentref import cross_entropy, entropy, kl_divergence
    >>> p, q = np.array([0.2, 0.3, 0.5]), np.array([0.1, 0.6, 0.3])
    >>> print(cross_entropy(p, q))
    1.2157511078915744
    >>> print(np.isclose(cross_entropy(p, q), entropy(p) + kl_divergence(p, q), rtol=1e-15))
    True
    >>> print(cross_entropy([1.0, 0.0], [0.0, 1.0]))  # the model rules out what happened
    inf
    """
    a, b, ax = _distributions(p, q, axis)
    log_base = check_base(base)
    with np.errstate(divide="ignore", invalid="ignore"):
        # 0 log q = 0, even for q = 0; but a NaN in q is data and propagates (NaN in, NaN out)
        terms = np.where((a == 0) & ~np.isnan(b), 0, a * np.log(b))
    return np.asarray((0.0 - np.sum(terms, axis=ax)) / a.dtype.type(log_base))  # no -0.0


# Taylor coefficients of phi(r) = (1 + r) log1p(r) - r = sum_{k>=2} (-1)^k r^k / (k (k - 1)),
# as phi(r) = r^2 * sum_j c_j r^j; 16 terms give full float64 precision for |r| <= 0.1.
_PHI_COEFFS = [(-1) ** j / ((j + 1) * (j + 2)) for j in range(16)]


def kl_divergence(
    p: ArrayLike, q: ArrayLike, axis: int = -1, base: float | None = None
) -> FloatArray:
    r"""Compute the Kullback-Leibler divergence $D_{\mathrm{KL}}(p \,\|\, q)$ along `axis`.

    $$
    D_{\mathrm{KL}}(p \,\|\, q) = \sum_{k=1}^{C} p_k \log \frac{p_k}{q_k}
      = H(p, q) - H(p) \;\ge\; 0 ,
    $$

    with equality iff $p = q$ (Gibbs' inequality, proved on
    [KL divergence](../theory/kl-divergence.md)): the divergence of the data $p$ from the
    model $q$, data first as everywhere on the site ([Notation](../notation.md)). Terms with
    $p_k = 0$ count 0; it is $+\infty$ where $q_k = 0 < p_k$.

    Parameters
    ----------
    p : array_like, shape (..., C, ...)
        The reference ("true") distribution along `axis`.
    q : array_like, broadcastable with `p`
        The approximating distribution along `axis`. float32 and float64 are kept;
        float16 and bfloat16 become float32, integers float64; longdouble is kept, but the
        correction $\sum_k (p_k - q_k)$ is summed in float64 (``math.fsum``).
    axis : int, default -1
        The axis holding the distributions.
    base : float, optional
        Logarithm base: None for nats, 2 for bits. Positive, not 1.

    Returns
    -------
    ndarray
        The divergence with `axis` removed, in the common dtype of `p` and `q`.

    Raises
    ------
    TypeError
        If `p` or `q` is None, a masked array, complex or not numeric, or `axis` is not an
        int.
    ValueError
        If `p` or `q` is not a distribution along `axis` (negative, or a sum farther than
        $\sqrt{\epsilon}$ from 1), they do not broadcast, or `base` is invalid.

    See Also
    --------
    - [cross_entropy][xentref.cross_entropy], [entropy][xentref.entropy]

    Notes
    -----
    For near-equal distributions $\sum_k p_k \log(p_k/q_k)$ is a sum of terms of size
    $|p_k - q_k|$ whose total is of size $(p_k - q_k)^2$: summing them naively cancels
    catastrophically. Each term is rewritten with $d_k = p_k - q_k$ (exact when
    $p_k / q_k \in [\tfrac12, 2]$) and $r_k = d_k / q_k$ as

    $$
    p_k \log\frac{p_k}{q_k} = q_k\,\varphi(r_k) + d_k, \qquad
    \varphi(r) = (1 + r)\operatorname{log1p}(r) - r \ge 0,
    $$

    where $\varphi$ uses its Taylor series for $|r| \le 0.1$. The $q_k \varphi(r_k)$ are
    non-negative (no cancellation) and $\sum_k d_k$ is summed exactly with ``math.fsum``
    (one Python call per distribution). Argument order differs between libraries:
    ``torch.nn.functional.kl_div(log q, p)`` and ``optax.kl_divergence(log q, p)`` take the
    log of the *second* distribution first; ``scipy.special.kl_div`` is the elementwise
    $x \log(x/y) - x + y$, not this sum.

    Examples
    --------
    >>> import numpy as np
    >>> from xentref import kl_divergence
    >>> p, q = np.array([0.2, 0.3, 0.5]), np.array([0.1, 0.6, 0.3])
    >>> print(kl_divergence(p, q))
    0.18609809382700082
    >>> print(kl_divergence(q, p))  # not symmetric
    0.19332590315017545
    >>> print(kl_divergence(p, p))
    0.0
    >>> q = np.array([0.5 + 2.0**-30, 0.5 - 2.0**-30])  # near-equal; exact: -log(1 - 2**-58) / 2
    >>> print(kl_divergence([0.5, 0.5], q))
    1.734723475976807e-18
    >>> print(np.sum([0.5, 0.5] * np.log(np.array([0.5, 0.5]) / q)))  # naive: a negative KL
    -1.734723475976807e-18
    """
    a, b, ax = _distributions(p, q, axis)
    log_base = check_base(base)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        d = a - b
        r = d / b
        ratio = a / b
        log_ratio = np.where(np.isfinite(ratio), np.log(ratio), np.log(a) - np.log(b))
        log_ratio = np.where((r > -0.5) & (r < 1), np.log1p(r), log_ratio)
        small = np.where(np.abs(r) <= 0.1, r, 0)
        poly = np.zeros_like(small)
        for c in reversed(_PHI_COEFFS):
            poly = poly * small + c
        terms = np.where(np.abs(r) <= 0.1, b * small * small * poly, a * log_ratio - d)
        terms = np.where(a == 0, b, terms)  # 0 log 0 = 0: only -d_k = q_k is left
    exact_sum_d = np.apply_along_axis(math.fsum, ax, d) if d.size else np.sum(d, axis=ax)
    return np.asarray(
        (np.sum(terms, axis=ax) + exact_sum_d.astype(a.dtype)) / a.dtype.type(log_base)
    )
