"""Numerically stable building blocks: log-sum-exp, softmax, log-softmax, sigmoid, log-sigmoid.

Every loss in xentref reduces to these. They never overflow for large logits, keep the tiny
tail of a confident distribution (``log1p`` of the mass outside the largest logit, never
``log(1 + x)``), treat ``-inf`` logits as masked classes, and let NaN through.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from xentref._validation import as_float_array, check_axis, check_bool

FloatArray = NDArray[np.floating[Any]]


def _shift_and_log1p_tail(x: FloatArray, axis: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Split log(sum(exp(x))) as m + log1p(t), exactly where it matters.

    Returns ``(x - m, log1p(t), m)`` with `m` the maximum along `axis` (kept as a length-1
    axis) and ``t = sum(exp(x - m)) - 1`` summed *without* the largest term, so that a tail
    of 1e-300 survives instead of vanishing in ``1 + 1e-300 == 1``. Rows whose maximum is not
    finite use a shift of 0; callers map them to the IEEE result.
    """
    m = np.max(x, axis=axis, keepdims=True)
    with np.errstate(invalid="ignore", over="ignore"):
        z = x - np.where(np.isfinite(m), m, 0)
        e = np.exp(z)
    # The largest term is exp(0) = 1 exactly: leave it out of the sum and add it with log1p.
    np.put_along_axis(e, np.argmax(x, axis=axis, keepdims=True), 0, axis=axis)
    return z, np.log1p(np.sum(e, axis=axis, keepdims=True)), m


def logsumexp(x: ArrayLike, axis: int = -1, keepdims: bool = False) -> FloatArray:
    r"""Compute $\log \sum_k e^{x_k}$ along `axis` without overflow or loss of the tail.

    $$
    \operatorname{logsumexp}(x) = \log \sum_{k=1}^{C} e^{x_k}
      = m + \operatorname{log1p}\Big(\sum_{k \ne k^*} e^{x_k - m}\Big),
    \qquad m = x_{k^*} = \max_k x_k .
    $$

    In plain code: ``m + np.log1p(np.sum(np.exp(x - m)) - 1)``, except that the ``- 1`` is
    done exactly by leaving the largest term out of the sum. The derivation is on the page
    [Numerical stability](../practice/numerical-stability.md).

    Parameters
    ----------
    x : array_like, shape (..., C, ...)
        Real numbers (logits); ``-inf`` entries are allowed (masked terms). float32,
        float64 and longdouble are kept; float16 and bfloat16 become float32, integers
        float64.
    axis : int, default -1
        The axis to reduce.
    keepdims : bool, default False
        Keep `axis` as a dimension of length 1.

    Returns
    -------
    ndarray
        The log-sum-exp, with `axis` removed (or of length 1 if `keepdims`), in the dtype of
        `x`. A row of all ``-inf`` gives ``-inf``; a row containing ``+inf`` gives ``+inf``;
        NaN anywhere in a row gives NaN.

    Raises
    ------
    TypeError
        If `x` is None, a masked array, complex or not numeric, `axis` is not an int, or
        `keepdims` is not a bool.
    ValueError
        If `axis` is out of range or `x` has no element along it.

    See Also
    --------
    - [log_softmax][xentref.log_softmax]: $x - \operatorname{logsumexp}(x)$.
    - [softmax][xentref.softmax]: the gradient of log-sum-exp.

    Notes
    -----
    Subtracting the maximum makes every exponent $\le 0$, so nothing overflows, and the
    largest term is exactly 1. Adding that 1 in floating point and then taking the log
    would round away a tail below $2^{-53} \approx 1.1 \times 10^{-16}$; ``log1p`` of the
    tail keeps it to full relative precision (the approach of SciPy 1.15+,
    scipy/scipy#18295; see Blanchard, Higham and Higham 2021,
    [doi:10.1093/imanum/draa038](https://doi.org/10.1093/imanum/draa038)). PyTorch's
    ``torch.logsumexp`` computes ``m + log(sum(exp(x - m)))`` and returns exactly 0 for
    ``[0, -50]``.

    Examples
    --------
    >>> import numpy as np
    >>> from xentref import logsumexp
    >>> print(logsumexp([1.0, 2.0, 3.0]))
    3.40760596444438
    >>> print(logsumexp([1000.0, 1000.0]))  # naive np.log(np.sum(np.exp(x))) gives inf
    1000.6931471805599
    >>> print(logsumexp([0.0, -50.0]))  # = log1p(exp(-50)); log(1 + exp(-50)) gives 0.0
    1.9287498479639178e-22
    >>> print(logsumexp([[0.0, -np.inf], [-np.inf, -np.inf]]))
    [  0. -inf]
    """
    a = as_float_array(x, "x")
    ax = check_axis(a, axis, "x")
    keep = check_bool(keepdims, "keepdims")
    _, log_tail, m = _shift_and_log1p_tail(a, ax)
    with np.errstate(invalid="ignore"):
        out = np.where(np.isfinite(m), m + log_tail, m)
    return out if keep else np.squeeze(out, axis=ax)


def log_softmax(x: ArrayLike, axis: int = -1) -> FloatArray:
    r"""Compute the log of the softmax, $x_j - \operatorname{logsumexp}(x)$, stably.

    $$
    \log \operatorname{softmax}(x)_j = x_j - \log \sum_k e^{x_k}
      = (x_j - m) - \operatorname{log1p}\Big(\sum_{k \ne k^*} e^{x_k - m}\Big).
    $$

    Parameters
    ----------
    x : array_like, shape (..., C, ...)
        Logits. ``-inf`` marks a masked class (its log-probability is ``-inf``).
        float32, float64 and longdouble are kept; float16 and bfloat16 become float32,
        integers float64.
    axis : int, default -1
        The class axis.

    Returns
    -------
    ndarray
        Log-probabilities, same shape and dtype as `x` (float64 for integer input). Rows
        of all ``-inf`` or containing ``+inf`` or NaN give NaN where the value is undefined.

    Raises
    ------
    TypeError
        If `x` is None, a masked array, complex or not numeric, or `axis` is not an int.
    ValueError
        If `axis` is out of range or `x` has no element along it.

    See Also
    --------
    - [logsumexp][xentref.logsumexp]: the normaliser.
    - [softmax][xentref.softmax]: the probabilities themselves.
    - [softmax_cross_entropy][xentref.softmax_cross_entropy]: the loss built on this.

    Notes
    -----
    Computing ``x - logsumexp(x)`` loses the tiny log-probability of the winning class:
    for logits ``[0, -50]`` it is $-1.93 \times 10^{-22}$, while ``0 - logsumexp(x)`` is
    exactly 0 in floating point. Here the winner's value is ``-log1p(tail)``, correct to the last
    digit.

    Examples
    --------
    >>> import numpy as np
    >>> from xentref import log_softmax, softmax
    >>> print(log_softmax([1.0, 2.0, 3.0]))
    [-2.40760596 -1.40760596 -0.40760596]
    >>> print(log_softmax([0.0, -50.0]))
    [-1.92874985e-22 -5.00000000e+01]
    >>> x = np.array([0.3, -1.2, 2.5])
    >>> print(np.allclose(log_softmax(x), np.log(softmax(x)), rtol=1e-15, atol=0))
    True
    """
    a = as_float_array(x, "x")
    ax = check_axis(a, axis, "x")
    z, log_tail, m = _shift_and_log1p_tail(a, ax)
    # a - m is the answer only in rows whose maximum is infinite; elsewhere it is computed,
    # then discarded, and may overflow (1e308 - -1e308): that warning would be about nothing.
    with np.errstate(invalid="ignore", over="ignore"):
        return np.where(np.isfinite(m), z - log_tail, a - m)


def softmax(x: ArrayLike, axis: int = -1) -> FloatArray:
    r"""Compute the softmax $e^{x_j} / \sum_k e^{x_k}$ along `axis` without overflow.

    $$
    \operatorname{softmax}(x)_j = \frac{e^{x_j - m}}{\sum_k e^{x_k - m}}, \qquad m = \max_k x_k .
    $$

    Parameters
    ----------
    x : array_like, shape (..., C, ...)
        Logits. ``-inf`` marks a masked class (probability exactly 0).
        float32, float64 and longdouble are kept; float16 and bfloat16 become float32,
        integers float64.
    axis : int, default -1
        The class axis.

    Returns
    -------
    ndarray
        Probabilities summing to 1 along `axis`, same shape and dtype as `x` (float64 for
        integer input). Rows of all ``-inf``, or with ``+inf`` or NaN, give NaN.

    Raises
    ------
    TypeError
        If `x` is None, a masked array, complex or not numeric, or `axis` is not an int.
    ValueError
        If `axis` is out of range or `x` has no element along it.

    See Also
    --------
    - [log_softmax][xentref.log_softmax]: its logarithm, computed without ``log(softmax)``.
    - [logsumexp][xentref.logsumexp]: softmax is its gradient.

    Notes
    -----
    The shift by the maximum changes nothing mathematically (softmax is invariant to adding
    a constant to every logit) and guarantees every exponent is $\le 0$. Each probability is
    one ``exp`` of an exact difference and one division, accurate to a few ulps.

    Examples
    --------
    >>> import numpy as np
    >>> from xentref import softmax
    >>> print(softmax([1.0, 2.0, 3.0]))
    [0.09003057 0.24472847 0.66524096]
    >>> print(softmax([1000.0, 1001.0]))  # naive exp overflows to inf / inf = nan
    [0.26894142 0.73105858]
    >>> print(softmax([0.0, -np.inf, 0.0]))
    [0.5 0.  0.5]
    >>> print(np.allclose(softmax([1.0, 2.0]), softmax([101.0, 102.0]), rtol=1e-15, atol=0))
    True
    """
    a = as_float_array(x, "x")
    ax = check_axis(a, axis, "x")
    m = np.max(a, axis=ax, keepdims=True)
    with np.errstate(invalid="ignore", over="ignore"):
        e = np.exp(a - np.where(np.isfinite(m), m, 0))
        return np.asarray(e / np.sum(e, axis=ax, keepdims=True))


def sigmoid(x: ArrayLike) -> FloatArray:
    r"""Compute the logistic sigmoid $1 / (1 + e^{-x})$ elementwise, stably for any `x`.

    $$
    \sigma(x) = \frac{1}{1 + e^{-x}} =
    \begin{cases} 1 / (1 + e^{-x}) & x \ge 0 \\ e^{x} / (1 + e^{x}) & x < 0 \end{cases}
    $$

    Parameters
    ----------
    x : array_like
        Real numbers (logits), any shape. float32, float64 and longdouble are kept;
        float16 and bfloat16 become float32, integers float64.

    Returns
    -------
    ndarray
        $\sigma(x)$ in $[0, 1]$, same shape and dtype as `x` (float64 for integer input);
        $\sigma(-\infty) = 0$, $\sigma(+\infty) = 1$, NaN stays NaN.

    Raises
    ------
    TypeError
        If `x` is None, a masked array, complex or not numeric.

    See Also
    --------
    - [log_sigmoid][xentref.log_sigmoid]: $\log \sigma(x)$ without computing $\sigma$.
    - [binary_cross_entropy_with_logits][xentref.binary_cross_entropy_with_logits].

    Notes
    -----
    Only $e^{-|x|} \le 1$ is ever computed, so nothing overflows, and for $x < 0$ the small
    result $e^{x}/(1 + e^{x})$ keeps full relative precision (the form $1/(1 + e^{-x})$
    would give a correct but less accurate tiny number, and overflow warnings below -709).
    Its derivative is $\sigma(x)(1 - \sigma(x))$.

    Examples
    --------
    >>> from xentref import sigmoid
    >>> print(sigmoid([0.0, 2.0, -2.0]))
    [0.5        0.88079708 0.11920292]
    >>> print(sigmoid([-800.0, 800.0]))
    [0. 1.]
    >>> print(sigmoid(-40.0))
    4.248354255291589e-18
    """
    a = as_float_array(x, "x")
    e = np.exp(-np.abs(a))
    return np.asarray(np.where(a >= 0, 1 / (1 + e), e / (1 + e)))


def log_sigmoid(x: ArrayLike) -> FloatArray:
    r"""Compute $\log \sigma(x) = -\log(1 + e^{-x})$ elementwise, stably for any `x`.

    $$
    \log \sigma(x) = \min(x, 0) - \operatorname{log1p}\big(e^{-|x|}\big).
    $$

    This is minus the softplus of $-x$; $\log(1 - \sigma(x)) = \log \sigma(-x)$.

    Parameters
    ----------
    x : array_like
        Real numbers (logits), any shape. float32, float64 and longdouble are kept;
        float16 and bfloat16 become float32, integers float64.

    Returns
    -------
    ndarray
        $\log \sigma(x) \le 0$, same shape and dtype as `x` (float64 for integer input);
        $-\infty$ at $x = -\infty$, $0$ at $x = +\infty$, NaN stays NaN.

    Raises
    ------
    TypeError
        If `x` is None, a masked array, complex or not numeric.

    See Also
    --------
    - [sigmoid][xentref.sigmoid]
    - [binary_cross_entropy_with_logits][xentref.binary_cross_entropy_with_logits]: built
      from $-\log\sigma(z)$ and $-\log\sigma(-z)$.

    Notes
    -----
    ``np.log(sigmoid(x))`` returns ``-inf`` for $x < -745$ (the sigmoid underflows) and
    exactly 0 for $x > 37$ (it rounds to 1); this form returns $x$ and $-e^{-x}$ there,
    correct to the last digit.

    Examples
    --------
    >>> import numpy as np
    >>> from xentref import log_sigmoid
    >>> print(log_sigmoid([0.0, -800.0]))
    [-6.93147181e-01 -8.00000000e+02]
    >>> print(log_sigmoid(40.0))  # log(sigmoid(40)) gives -0.0
    -4.248354255291589e-18
    >>> print(log_sigmoid([-np.inf, np.inf]))
    [-inf   0.]
    """
    a = as_float_array(x, "x")
    return np.asarray(np.minimum(a, 0) - np.log1p(np.exp(-np.abs(a))))
