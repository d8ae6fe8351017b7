"""Write tests/data/oracle.json: exact values of xentref's functions on hard inputs.

Every expected value is computed with mpmath at `DPS` significant digits from the *exact
binary values* that the test feeds to xentref (a float32 input is the float32 number, not
the decimal it was written as), then recomputed at `CHECK_DPS` digits; the script stops if
the two disagree in the first `AGREE_DIGITS` digits. The JSON records, per case: the
function, its inputs (float64/float32/int64 values written with ``repr`` precision, or a
deterministic generator for the 1e5-class inputs, with a SHA-256 of the generated float64
bytes, or a fill value for a large constant array), the keyword options, the exact output
as a decimal string (30 significant digits), its float64 rounding, and the componentwise
relative condition number of each output,

    kappa_j = sum_i |x_i * d f_j / d x_i| / |f_j|     (over every floating-point input x_i),

measured by central differences at `DPS` digits (null where an output is 0 or +-inf, or
the input is too large to difference). tests/test_oracle.py grades xentref by the relative
error |x - e| / max(|e|, finfo(dtype).tiny) (its docstring gives the bounds).

Mathematical conventions (the ones xentref documents): 0 * log 0 = 0, a coefficient of
exactly 0 times an infinite log is 0, -inf logits are masked classes, the loss at +-inf
logits is its limit. Softmax cross-entropy follows PyTorch's ``F.cross_entropy`` for
weights, ``ignore_index``, label smoothing (``(1 - eps) * onehot + eps / C``) and the
weighted mean (divide by the sum of target weights for index targets, by the number of
positions for soft targets). Focal loss follows torchvision's ``sigmoid_focal_loss``.

Run it with ``.venv/bin/python scripts/data/make_oracle.py`` (about 2 CPU-minutes, most of it
in pure-Python mpmath on the 1e5-class rows); it rewrites tests/data/oracle.json
deterministically.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mpmath
import numpy as np
from _common import dyadic_hash, write_json
from mpmath import mp

DPS = 100
CHECK_DPS = 150
AGREE_DIGITS = 40
DECIMAL_DIGITS = 30
MAX_INPUTS_FOR_KAPPA = 200
OUT = Path(__file__).resolve().parents[2] / "tests" / "data" / "oracle.json"

INF = mpmath.inf
NINF = mpmath.ninf


# --------------------------------------------------------------------------------------------
# Deterministic large inputs
# --------------------------------------------------------------------------------------------


@dataclass
class Generated:
    """An array built by `dyadic_hash`, row r from seed + r, then `set` overrides."""

    seed: int
    shape: tuple[int, int]
    set: list[tuple[int, int, float]] = field(default_factory=list)

    def array(self) -> np.ndarray:
        rows, cols = self.shape
        a = np.stack([dyadic_hash(self.seed + r, cols) for r in range(rows)])
        for r, c, v in self.set:
            a[r, c] = v
        return a


# --------------------------------------------------------------------------------------------
# Exact (mpmath) versions of the xentref functions
# --------------------------------------------------------------------------------------------


def mpf_array(a: np.ndarray) -> np.ndarray:
    """Object array of exact mpf values (ints stay ints)."""
    out = np.empty(a.shape, dtype=object)
    for idx, v in np.ndenumerate(a):
        out[idx] = int(v) if a.dtype.kind in "iu" else mp.mpf(float(v))
    return out


def rows_last(a: np.ndarray, axis: int) -> tuple[np.ndarray, tuple[int, ...]]:
    moved = np.moveaxis(a, axis, -1)
    return moved.reshape(-1, moved.shape[-1]), moved.shape[:-1]


def rows_back(rows: np.ndarray, batch: tuple[int, ...], axis: int, ndim: int) -> np.ndarray:
    return np.moveaxis(rows.reshape(*batch, rows.shape[-1]), -1, axis % ndim)


_ROW_CACHE: dict[tuple[str, int, tuple[Any, ...]], Any] = {}


def cached(fn: Callable[[list[Any]], Any]) -> Callable[[list[Any]], Any]:
    """Memoise a row function on long rows (the 1e5-class rows recur in many cases)."""

    def wrapper(z: list[Any]) -> Any:
        if len(z) <= 1000:
            return fn(z)
        key = (fn.__name__, mp.prec, tuple(z))
        if key not in _ROW_CACHE:
            _ROW_CACHE[key] = fn(z)
        return _ROW_CACHE[key]

    return wrapper


@cached
def row_logsumexp_parts(z: list[Any]) -> tuple[Any, Any]:
    """Return (m, log1p(tail)) with logsumexp = m + log1p(tail), tail without the max term."""
    m = max(z)
    if m == INF or m == NINF:
        return m, mp.zero
    k = z.index(m)
    tail = mp.fsum(mp.exp(v - m) for i, v in enumerate(z) if i != k and v != NINF)
    return m, mp.log1p(tail)


@cached
def row_log_softmax(z: list[Any]) -> list[Any]:
    m, t = row_logsumexp_parts(z)
    if m in (INF, NINF):
        raise ValueError("log_softmax undefined for a row with +inf or all -inf")
    return [NINF if v == NINF else (v - m) - t for v in z]


@cached
def row_softmax(z: list[Any]) -> list[Any]:
    return [mp.exp(v) for v in row_log_softmax(z)]


def x_logsumexp(x: np.ndarray, axis: int = -1, keepdims: bool = False) -> np.ndarray:
    rows, batch = rows_last(x, axis)
    out = []
    for z in rows:
        m, t = row_logsumexp_parts(list(z))
        out.append(m if m in (INF, NINF) else m + t)
    res = np.array(out, dtype=object).reshape(batch)
    return np.expand_dims(res, axis % x.ndim) if keepdims else res


def x_log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    rows, batch = rows_last(x, axis)
    out = np.array([row_log_softmax(list(z)) for z in rows], dtype=object)
    return rows_back(out, batch, axis, x.ndim)


def x_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    rows, batch = rows_last(x, axis)
    out = np.array([row_softmax(list(z)) for z in rows], dtype=object)
    return rows_back(out, batch, axis, x.ndim)


def softplus(v: Any) -> Any:
    """log(1 + e^v), exact limits at +-inf."""
    if v == INF:
        return INF
    if v == NINF:
        return mp.zero
    return mp.log1p(mp.exp(v))


def sig(v: Any) -> Any:
    if v == INF:
        return mp.one
    if v == NINF:
        return mp.zero
    return 1 / (1 + mp.exp(-v))


def mul0(a: Any, b: Any) -> Any:
    """a * b with 0 * inf = 0 (an exactly-zero coefficient drops the term)."""
    return mp.zero if a == 0 else a * b


def x_sigmoid(x: np.ndarray) -> np.ndarray:
    return np.vectorize(sig, otypes=[object])(x)


def x_log_sigmoid(x: np.ndarray) -> np.ndarray:
    return np.vectorize(lambda v: -softplus(-v), otypes=[object])(x)


def _info(rows: np.ndarray, base: float | None, term: Callable[..., Any]) -> np.ndarray:
    scale = mp.one if base is None else mp.log(mp.mpf(base))
    return np.array(
        [mp.fsum(term(*col) for col in zip(*r, strict=True)) / scale for r in rows], dtype=object
    )


def _xlogy(x: Any, y: Any) -> Any:
    if x == 0:
        return mp.zero
    return NINF if y == 0 else x * mp.log(y)


def x_entropy(p: np.ndarray, axis: int = -1, base: float | None = None) -> np.ndarray:
    rows, batch = rows_last(p, axis)
    return _info(rows[:, None, :], base, lambda a: -_xlogy(a, a)).reshape(batch)


def x_cross_entropy(p: np.ndarray, q: np.ndarray, axis: int = -1, base: float | None = None):
    rp, batch = rows_last(p, axis)
    rq, _ = rows_last(q, axis)
    pairs = np.stack([rp, rq], axis=1)
    return _info(pairs, base, lambda a, b: -_xlogy(a, b)).reshape(batch)


def x_kl_divergence(p: np.ndarray, q: np.ndarray, axis: int = -1, base: float | None = None):
    rp, batch = rows_last(p, axis)
    rq, _ = rows_last(q, axis)
    pairs = np.stack([rp, rq], axis=1)

    def term(a: Any, b: Any) -> Any:
        if a == 0:
            return mp.zero
        return INF if b == 0 else a * (mp.log(a) - mp.log(b))

    return _info(pairs, base, term).reshape(batch)


def _reduce(loss: np.ndarray, reduction: str, denominator: Any = None) -> np.ndarray:
    if reduction == "none":
        return loss
    total = mp.fsum(loss.ravel())
    if reduction == "sum":
        return np.array(total, dtype=object)
    den = loss.size if denominator is None else denominator
    return np.array(total / den, dtype=object)


def _softmax_ce(
    logits: np.ndarray,
    target: np.ndarray,
    axis: int,
    weight: np.ndarray | None,
    ignore_index: int,
    label_smoothing: float,
    reduction: str,
    want_grad: bool,
) -> np.ndarray:
    rows, batch = rows_last(logits, axis)
    n_classes = rows.shape[1]
    w = [mp.one] * n_classes if weight is None else list(weight)
    eps = mp.mpf(label_smoothing)
    soft = target.shape == logits.shape and not isinstance(target.flat[0], int)
    trows = rows_last(target, axis)[0] if soft else target.reshape(-1)
    losses, grads, den = [], [], mp.zero
    for z, t in zip(rows, trows, strict=True):
        if soft:
            a = [w[c] * (t[c] * (1 - eps) + eps / n_classes) for c in range(n_classes)]
            den += 1
        elif t == ignore_index:
            a = [mp.zero] * n_classes
        else:
            a = [(1 - eps) * w[t] * (c == t) + eps / n_classes * w[c] for c in range(n_classes)]
            den += w[t]
        logp = row_log_softmax(list(z))
        losses.append(mp.fsum(mul0(ac, -lp) for ac, lp in zip(a, logp, strict=True)))
        if want_grad:
            s, p, half = mp.fsum(a), row_softmax(list(z)), -mp.log(2)
            # d loss / d z_c = s * p_c - a_c; near p_c = 1 use s * expm1(log p_c) + (s - a_c).
            grads.append(
                [
                    s * mp.expm1(lp) + (s - ac) if lp > half else s * pc - ac
                    for ac, lp, pc in zip(a, logp, p, strict=True)
                ]
            )
    if not want_grad:
        return _reduce(np.array(losses, dtype=object).reshape(batch), reduction, den)
    g = np.array(grads, dtype=object)
    if reduction == "mean":
        g = g / (den if not soft else len(trows))
    return rows_back(g, batch, axis, logits.ndim)


def x_softmax_cross_entropy(
    logits,
    target,
    *,
    axis=-1,
    weight=None,
    ignore_index=-100,
    label_smoothing=0.0,
    reduction="mean",
):
    return _softmax_ce(
        logits, target, axis, weight, ignore_index, label_smoothing, reduction, False
    )


def x_softmax_cross_entropy_grad(
    logits,
    target,
    *,
    axis=-1,
    weight=None,
    ignore_index=-100,
    label_smoothing=0.0,
    reduction="mean",
):
    return _softmax_ce(logits, target, axis, weight, ignore_index, label_smoothing, reduction, True)


def _bce_logits(z, y, weight, pos_weight, reduction, want_grad):
    shape = z.shape
    w = np.broadcast_to(np.array(mp.one, dtype=object) if weight is None else weight, shape)
    pw = np.broadcast_to(
        np.array(mp.one, dtype=object) if pos_weight is None else pos_weight, shape
    )
    out = np.empty(shape, dtype=object)
    for idx in np.ndindex(shape):
        zi, yi, wi, pwi = z[idx], y[idx], w[idx], pw[idx]
        if want_grad:
            # d/dz [pw*y*softplus(-z) + (1-y)*softplus(z)] = (1-y)*sigmoid(z) - pw*y*sigmoid(-z)
            out[idx] = wi * ((1 - yi) * sig(zi) - pwi * yi * sig(-zi))
        else:
            out[idx] = mul0(wi, mul0(pwi * yi, softplus(-zi)) + mul0(1 - yi, softplus(zi)))
    if want_grad:
        return out / out.size if reduction == "mean" else out
    return _reduce(out, reduction)


def x_binary_cross_entropy_with_logits(
    logits, target, *, weight=None, pos_weight=None, reduction="mean"
):
    return _bce_logits(logits, target, weight, pos_weight, reduction, False)


def x_binary_cross_entropy_with_logits_grad(
    logits, target, *, weight=None, pos_weight=None, reduction="mean"
):
    return _bce_logits(logits, target, weight, pos_weight, reduction, True)


def x_binary_cross_entropy(probs, target, *, weight=None, reduction="mean"):
    w = np.broadcast_to(np.array(mp.one, dtype=object) if weight is None else weight, probs.shape)
    out = np.empty(probs.shape, dtype=object)
    for idx in np.ndindex(probs.shape):
        p, y = probs[idx], target[idx]
        # log(1 - p) as log1p(-p): 1 - 1e-300 would round to 1 even at 100 digits.
        neg = mp.zero if y == 1 else (NINF if p == 1 else (1 - y) * mp.log1p(-p))
        out[idx] = mul0(w[idx], -(_xlogy(y, p) + neg))
    return _reduce(out, reduction)


def x_sigmoid_focal_loss(logits, target, *, alpha=0.25, gamma=2.0, reduction="none"):
    out = np.empty(logits.shape, dtype=object)
    a, g = mp.mpf(alpha), mp.mpf(gamma)
    for idx in np.ndindex(logits.shape):
        z, y = logits[idx], target[idx]
        ce = mul0(y, softplus(-z)) + mul0(1 - y, softplus(z))
        one_minus_pt = y * sig(-z) + (1 - y) * sig(z)  # = 1 - p_t, with no cancellation
        loss = mul0(one_minus_pt**g if one_minus_pt != 0 or g != 0 else mp.one, ce)
        if a >= 0:
            loss = mul0(a * y + (1 - a) * (1 - y), loss)
        out[idx] = loss
    return _reduce(out, reduction)


EXACT: dict[str, Callable[..., np.ndarray]] = {
    "logsumexp": x_logsumexp,
    "softmax": x_softmax,
    "log_softmax": x_log_softmax,
    "sigmoid": x_sigmoid,
    "log_sigmoid": x_log_sigmoid,
    "entropy": x_entropy,
    "cross_entropy": x_cross_entropy,
    "kl_divergence": x_kl_divergence,
    "softmax_cross_entropy": x_softmax_cross_entropy,
    "softmax_cross_entropy_grad": x_softmax_cross_entropy_grad,
    "binary_cross_entropy": x_binary_cross_entropy,
    "binary_cross_entropy_with_logits": x_binary_cross_entropy_with_logits,
    "binary_cross_entropy_with_logits_grad": x_binary_cross_entropy_with_logits_grad,
    "sigmoid_focal_loss": x_sigmoid_focal_loss,
}


# --------------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------------


@dataclass
class Case:
    """One oracle case; `args` are (name, array) pairs, arrays in `kwargs` are inputs too."""

    id: str
    function: str
    args: list[tuple[str, Any]]
    kwargs: dict[str, Any]
    note: str
    dtypes: tuple[str, ...] = ("float64", "float32")
    select: list[int] | None = None  # flat output indices to store (huge outputs)
    shape: list[int] = field(default_factory=list)  # output shape, set by `evaluate`


def f64(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def i64(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.int64)


INFv = float("inf")
ULP1 = 2.0**-52
CASES: list[Case] = []


def add(*args: Any, **kw: Any) -> None:
    CASES.append(Case(*args, **kw))


# ---- softmax cross-entropy (index targets) on extreme logits --------------------------------
L1E4 = f64(
    [[1e4, -1e4, 0.0], [1e4, -1e4, 0.0], [1e4, -1e4, 0.0], [-1e4, 1e4, 9999.0], [1e4, 1e4, -1e4]]
)
T1E4 = i64([0, 1, 2, 2, 0])
L1E30 = f64(
    [
        [1e30, -1e30, 0.0],
        [1e30, -1e30, 0.0],
        [1e30, -1e30, 0.0],
        [1e30, 1e30, -1e30],
        [1e30, np.nextafter(1e30, 0), 0.0],
    ]
)
T1E30 = i64([0, 1, 2, 1, 1])
NEAR_TIES = f64(
    [
        [1.0, 1.0 + ULP1, 1.0 - ULP1 / 2],
        [1.0, 1.0 + ULP1, 1.0 - ULP1 / 2],
        [0.0, 2.0**-40, -(2.0**-40)],
        [1e4, np.nextafter(1e4, INFv), 1e4],
        [-3.5, -3.5, -3.5 + 2.0**-50],
    ]
)
T_TIES = i64([0, 2, 1, 0, 2])
MASKED = f64([[-INFv, 2.0, 1.0], [0.0, -INFv, -INFv], [-INFv, 0.0, 100.0], [5.0, -INFv, -3.0]])
T_MASKED = i64([1, 0, 1, 2])
WRONG = f64([[50.0, -50.0, 0.0], [800.0, 0.0, 0.0], [1e4, 0.0, -1e4], [36.0, 37.0, 0.0]])
T_WRONG = i64([1, 2, 1, 0])
RIGHT = f64(
    [
        [46.0, 0.0, 0.0],
        [0.0, 46.0, 40.0],
        [690.0, 0.0, 0.0],
        [-690.0, 0.0, -700.0],
        [100.5, 53.25, 54.0],
    ]
)
T_RIGHT = i64([0, 1, 0, 1, 0])
RIGHT32 = f64([[69.0, 0.0, 0.0], [0.0, 69.0, 67.5], [46.0, 0.0, 0.0], [-80.0, -10.0, -11.0]])
T_RIGHT32 = i64([0, 1, 0, 1])
W3 = f64([0.5, 2.0, 1.25])

CE_SETS = [
    (
        "logits_1e4",
        L1E4,
        T1E4,
        "logits +-1e4: exp(-1e4) underflows, exact losses 0+, 2e4, 1e4, 1 + log1p(e^-1), log 2",
        ("float64", "float32"),
    ),
    (
        "logits_1e30",
        L1E30,
        T1E30,
        "logits +-1e30 and a 1-ulp gap at 1e30 (loss = the gap)",
        ("float64", "float32"),
    ),
    (
        "near_ties",
        NEAR_TIES,
        T_TIES,
        "logits 1 ulp apart: loss log 3 +- O(2^-52), log 2 etc.",
        ("float64",),
    ),
    (
        "masked",
        MASKED,
        T_MASKED,
        "-inf logits are masked classes: finite loss, exactly 0 for a single unmasked class",
        ("float64", "float32"),
    ),
    (
        "confidently_wrong",
        WRONG,
        T_WRONG,
        "confidently wrong: loss = margin + tiny",
        ("float64", "float32"),
    ),
    (
        "confidently_right",
        RIGHT,
        T_RIGHT,
        "confidently right: loss ~1e-20 and ~1e-300 "
        "(log1p of the tail; naive max + log(sum) gives 0)",
        ("float64",),
    ),
    (
        "confidently_right_f32",
        RIGHT32,
        T_RIGHT32,
        "confidently right in float32: loss ~1e-30 and ~1e-20",
        ("float32",),
    ),
]
for name, L, T, note, dts in CE_SETS:
    add(
        f"softmax_cross_entropy/{name}/none",
        "softmax_cross_entropy",
        [("logits", L), ("target", T)],
        {"reduction": "none"},
        note,
        dts,
    )
    add(
        f"softmax_cross_entropy_grad/{name}/none",
        "softmax_cross_entropy_grad",
        [("logits", L), ("target", T)],
        {"reduction": "none"},
        note + "; gradient softmax - onehot",
        dts,
    )
    add(f"logsumexp/{name}", "logsumexp", [("x", L)], {}, note, dts)
    add(f"log_softmax/{name}", "log_softmax", [("x", L)], {}, note, dts)
    add(f"softmax/{name}", "softmax", [("x", L)], {}, note, dts)
for name, L, T, dts in [
    ("logits_1e4", L1E4, T1E4, ("float64", "float32")),
    ("confidently_right", RIGHT, T_RIGHT, ("float64",)),
]:
    for red in ("mean", "sum"):
        add(
            f"softmax_cross_entropy/{name}/{red}",
            "softmax_cross_entropy",
            [("logits", L), ("target", T)],
            {"reduction": red},
            f"reduction={red}",
            dts,
        )
    add(
        f"softmax_cross_entropy_grad/{name}/mean",
        "softmax_cross_entropy_grad",
        [("logits", L), ("target", T)],
        {"reduction": "mean"},
        "gradient of the mean",
        dts,
    )

# weights, label smoothing, ignore_index on hard logits
HARD = f64(
    [
        [46.0, 0.0, -3.0],
        [-1e4, 1e4, 0.0],
        [2.0, 1.0, 0.1],
        [-INFv, 30.0, 0.0],
        [0.5, 2.5, 0.3],
        [690.0, 0.0, 1.0],
    ]
)
T_HARD = i64([0, 1, -100, 1, 2, 0])
T_HARD_IGN1 = i64([0, 1, 2, 1, 2, 1])
for red in ("none", "mean", "sum"):
    for fn in ("softmax_cross_entropy", "softmax_cross_entropy_grad"):
        add(
            f"{fn}/hard_weighted_smoothed/{red}",
            fn,
            [("logits", HARD), ("target", T_HARD)],
            {"weight": W3, "label_smoothing": 0.1, "reduction": red},
            "class weights + label smoothing 0.1 + an ignored row (-100) on extreme logits; "
            "the masked row makes the smoothed loss +inf",
            ("float64",),
        )
HARD_NOMASK = HARD.copy()
HARD_NOMASK[3, 0] = -30.0
for red in ("none", "mean"):
    for fn in ("softmax_cross_entropy", "softmax_cross_entropy_grad"):
        add(
            f"{fn}/hard_weighted_smoothed_finite/{red}",
            fn,
            [("logits", HARD_NOMASK), ("target", T_HARD)],
            {"weight": W3, "label_smoothing": 0.1, "reduction": red},
            "class weights + label smoothing 0.1 + an ignored row (-100)",
        )
        add(
            f"{fn}/hard_weighted_ignore_class1/{red}",
            fn,
            [("logits", HARD_NOMASK), ("target", T_HARD_IGN1)],
            {"weight": W3, "ignore_index": 1, "reduction": red},
            "ignore_index=1 (a valid class) with class weights",
        )

# soft targets, incl. 0 on a masked (-inf) class
SOFT_L = f64([[-INFv, 2.0, 1.0], [40.0, -40.0, 0.0], [1e4, -1e4, 0.0], [46.0, 0.0, 0.0]])
SOFT_T = f64([[0.0, 0.25, 0.75], [0.75, 0.0, 0.25], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
for red in ("none", "mean", "sum"):
    for fn in ("softmax_cross_entropy", "softmax_cross_entropy_grad"):
        add(
            f"{fn}/soft_masked/{red}",
            fn,
            [("logits", SOFT_L), ("target", SOFT_T)],
            {"reduction": red},
            "soft targets with probability 0 on a -inf logit (0 log 0 = 0)",
        )
        add(
            f"{fn}/soft_weighted_smoothed/{red}",
            fn,
            [("logits", SOFT_L[1:]), ("target", SOFT_T[1:])],
            {"weight": W3, "label_smoothing": 0.2, "reduction": red},
            "soft targets + class weights + label smoothing 0.2 (mean divides by N)",
        )
add(
    "softmax_cross_entropy/soft_masked_smoothed/none",
    "softmax_cross_entropy",
    [("logits", SOFT_L[:1]), ("target", SOFT_T[:1])],
    {"label_smoothing": 0.1, "reduction": "none"},
    "label smoothing puts eps/C on the masked class: the loss is +inf",
)

# K-dim (N, C, d1, d2) with axis=1 and an unbatched (C,) input
KDIM_L = np.moveaxis(
    f64(
        [
            [[46.0, 0.0, -1.0], [1e4, -1e4, 0.0]],
            [[0.5, 2.5, 0.3], [-INFv, 1.0, 2.0]],
            [[-5.0, 5.0, 0.0], [100.0, 99.0, 98.0]],
            [[1.0, 1.0, 1.0], [0.0, -700.0, -40.0]],
        ]
    ).reshape(2, 2, 2, 3),
    -1,
    1,
)
KDIM_T = i64([[[0, 1], [2, -100]], [[1, 0], [1, 0]]])
for red in ("none", "mean"):
    for fn in ("softmax_cross_entropy", "softmax_cross_entropy_grad"):
        add(
            f"{fn}/kdim_axis1/{red}",
            fn,
            [("logits", KDIM_L), ("target", KDIM_T)],
            {"axis": 1, "weight": W3, "label_smoothing": 0.05, "reduction": red},
            "(N, C, d1, d2) layout with axis=1, weights, smoothing, one ignored position",
        )
add(
    "softmax_cross_entropy/unbatched",
    "softmax_cross_entropy",
    [("logits", f64([46.0, 0.0, -INFv])), ("target", i64(0))],
    {"reduction": "none"},
    "unbatched (C,) logits and a 0-d target",
)

# 1e5 classes, generated
BIG = Generated(seed=20260501, shape=(3, 100_000), set=[(1, 777, 40.0)])
BIG_T = i64([12345, 777, 99_999])
add(
    "softmax_cross_entropy/classes_1e5/none",
    "softmax_cross_entropy",
    [("logits", BIG), ("target", BIG_T)],
    {"reduction": "none"},
    "1e5 classes (generated dyadic logits in [-8, 8); row 1 has a +40 logit)",
)
add(
    "softmax_cross_entropy/classes_1e5_smoothed/mean",
    "softmax_cross_entropy",
    [("logits", BIG), ("target", BIG_T)],
    {"label_smoothing": 0.1, "reduction": "mean"},
    "1e5 classes with label smoothing 0.1",
)
add("logsumexp/classes_1e5", "logsumexp", [("x", BIG)], {}, "1e5 classes")
SEL = [0, 777, 12345, 99_999, 100_777, 112_345, 200_000, 299_999]
add(
    "log_softmax/classes_1e5",
    "log_softmax",
    [("x", BIG)],
    {},
    "1e5 classes (8 entries stored)",
    select=SEL,
)
add(
    "softmax/classes_1e5", "softmax", [("x", BIG)], {}, "1e5 classes (8 entries stored)", select=SEL
)
add(
    "softmax_cross_entropy_grad/classes_1e5/mean",
    "softmax_cross_entropy_grad",
    [("logits", BIG), ("target", BIG_T)],
    {"reduction": "mean"},
    "1e5 classes (8 entries stored)",
    select=SEL,
)

# logsumexp extras
add(
    "logsumexp/scipy_18295",
    "logsumexp",
    [("x", f64([0.0, -40.0]))],
    {},
    "scipy#18295: log1p(e^-40) = 4.248354255291589e-18",
    ("float64", "float32"),
)
LSE2 = f64([[0.0, -INFv, 1.0], [-INFv, -INFv, -INFv], [INFv, 0.0, -INFv], [-745.0, -745.0, -800.0]])
add(
    "logsumexp/infinities_axis0_keepdims",
    "logsumexp",
    [("x", LSE2)],
    {"axis": 0, "keepdims": True},
    "+inf column -> +inf, -inf masks, axis=0",
)
add(
    "logsumexp/infinities_rows",
    "logsumexp",
    [("x", LSE2)],
    {},
    "row of all -inf -> -inf; row with +inf -> +inf; e^-745 terms",
)

# sigmoid / log_sigmoid
SIG64 = f64([-INFv, -800.0, -745.5, -740.0, -40.0, -1e-20, 0.0, 1e-20, 40.0, 800.0, INFv])
SIG32 = f64([-INFv, -100.0, -87.0, -40.0, -15.0, 0.0, 15.0, 40.0, 100.0, INFv])
for fn in ("sigmoid", "log_sigmoid"):
    add(f"{fn}/saturated", fn, [("x", SIG64)], {}, "saturated and subnormal range", ("float64",))
    add(f"{fn}/saturated_f32", fn, [("x", SIG32)], {}, "saturated in float32", ("float32",))

# ---- binary cross-entropy with logits -------------------------------------------------------
Z = f64([-800.0, -40.0, 40.0, 800.0])
Y = f64([0.0, 1.0, 0.25, 0.5, 0.999])
ZG, YG = np.meshgrid(Z, Y, indexing="ij")
for fn in ("binary_cross_entropy_with_logits", "binary_cross_entropy_with_logits_grad"):
    add(
        f"{fn}/saturated_grid/none",
        fn,
        [("logits", ZG), ("target", YG)],
        {"reduction": "none"},
        "z in {+-40, +-800} x y in {0, 1, 0.25, 0.5, 0.999}",
    )
    add(
        f"{fn}/infinite_logits/none",
        fn,
        [
            ("logits", f64([-INFv, -INFv, INFv, INFv, INFv, -INFv])),
            ("target", f64([0.0, 1.0, 1.0, 0.0, 0.5, 0.25])),
        ],
        {"reduction": "none"},
        "true limits at +-inf logits (torch gives NaN for 3 of these)",
    )
    for red in ("none", "mean", "sum"):
        add(
            f"{fn}/saturated_grid_weight_pos_weight/{red}",
            fn,
            [("logits", ZG), ("target", YG)],
            {
                "weight": f64([[2.0], [0.5], [1.0], [3.0]]),
                "pos_weight": f64([1.0, 4.0, 0.25, 2.0, 10.0]),
                "reduction": red,
            },
            "weight (4, 1) and pos_weight (5,) broadcast against (4, 5)",
        )

# ---- binary cross-entropy from probabilities --------------------------------------------------
P = f64([1e-300, 1e-20, 0.5, 1.0 - 2.0**-53, 1.0 - 1e-10])
PG, YPG = np.meshgrid(P, f64([0.0, 1.0, 0.3]), indexing="ij")
add(
    "binary_cross_entropy/extreme_probs/none",
    "binary_cross_entropy",
    [("probs", PG), ("target", YPG)],
    {"reduction": "none"},
    "p in {1e-300, 1e-20, 0.5, 1 - 2^-53, 1 - 1e-10}: no -100 clamp, log1p(-p)",
    ("float64",),
)
P32 = f64([1e-30, 1e-7, 0.5, 1.0 - 2.0**-24, 0.999])
PG32, YPG32 = np.meshgrid(P32, f64([0.0, 1.0, 0.3]), indexing="ij")
add(
    "binary_cross_entropy/extreme_probs_f32/none",
    "binary_cross_entropy",
    [("probs", PG32), ("target", YPG32)],
    {"reduction": "none"},
    "float32 extremes",
    ("float32",),
)
add(
    "binary_cross_entropy/endpoints/none",
    "binary_cross_entropy",
    [
        ("probs", f64([0.0, 0.0, 1.0, 1.0, 0.0, 1.0])),
        ("target", f64([0.0, 1.0, 0.0, 1.0, 0.5, 0.5])),
    ],
    {"reduction": "none"},
    "p in {0, 1}: 0 or +inf exactly (torch clamps at 100)",
)
add(
    "binary_cross_entropy/weighted/mean",
    "binary_cross_entropy",
    [("probs", PG), ("target", YPG)],
    {"weight": f64([1.0, 2.0, 0.5]), "reduction": "mean"},
    "elementwise weight (3,) broadcast over (5, 3); mean divides by numel",
    ("float64",),
)

# ---- focal loss -------------------------------------------------------------------------------
FZ = f64([-800.0, -50.0, -20.0, 20.0, 50.0, 800.0])
FZG, FYG = np.meshgrid(FZ, f64([0.0, 1.0, 0.9]), indexing="ij")
FZ32 = f64([-100.0, -20.0, -15.0, 15.0, 20.0, 100.0])
FZG32, FYG32 = np.meshgrid(FZ32, f64([0.0, 1.0, 0.9]), indexing="ij")
for gamma in (0.5, 2.0):
    for alpha in (0.25, -1.0):
        add(
            f"sigmoid_focal_loss/saturated/gamma{gamma}_alpha{alpha}",
            "sigmoid_focal_loss",
            [("logits", FZG), ("target", FYG)],
            {"alpha": alpha, "gamma": gamma},
            "saturated logits; 1 - p_t = y*sigmoid(-z) + (1-y)*sigmoid(z)",
            ("float64",),
        )
        add(
            f"sigmoid_focal_loss/saturated_f32/gamma{gamma}_alpha{alpha}",
            "sigmoid_focal_loss",
            [("logits", FZG32), ("target", FYG32)],
            {"alpha": alpha, "gamma": gamma},
            "saturated logits, float32",
            ("float32",),
        )
add(
    "sigmoid_focal_loss/saturated/mean",
    "sigmoid_focal_loss",
    [("logits", FZG), ("target", FYG)],
    {"gamma": 2.0, "reduction": "mean"},
    "mean of the grid",
    ("float64",),
)

# ---- entropy, cross-entropy, KL ---------------------------------------------------------------
P0 = f64([0.2, 0.3, 0.5])
Q0 = P0 * (1 + 1e-9 * f64([1.0, 0.0, 0.0]))
Q0 = Q0 / Q0.sum()
PD = f64([0.25, 0.25, 0.5])
QD = f64([0.25 + 2.0**-33, 0.25 - 2.0**-33, 0.5])
PZ = f64([0.5, 0.5, 0.0])
QZ = f64([0.5 - 1e-9, 0.5, 1e-9])
PEAK = f64([1.0 - 2e-15, 1e-15, 1e-15])
PAIRS = f64([[0.2, 0.3, 0.5], [0.25, 0.25, 0.5], [0.5, 0.5, 0.0], [1.0 - 2e-15, 1e-15, 1e-15]])
QPAIRS = np.stack([Q0, QD, QZ, f64([1.0 - 2e-12, 1e-12, 1e-12])])
for fn, extra in (
    ("entropy", []),
    ("cross_entropy", [("q", QPAIRS)]),
    ("kl_divergence", [("q", QPAIRS)]),
):
    args = [("p", PAIRS), *extra]
    add(
        f"{fn}/near_equal_rows",
        fn,
        args,
        {},
        "q = p*(1+1e-9) renormalised; p, q dyadic 2^-33 apart; zeros; a peaked p",
    )
    add(f"{fn}/near_equal_rows_bits", fn, args, {"base": 2}, "base=2 (bits)")
    add(
        f"{fn}/near_equal_axis0",
        fn,
        [(n, a.T.copy()) for n, a in args],
        {"axis": 0},
        "distributions along axis 0",
    )
for fn in ("cross_entropy", "kl_divergence"):
    add(
        f"{fn}/swapped",
        fn,
        [("p", QPAIRS), ("q", PAIRS)],
        {},
        "arguments swapped: q = 0 where p > 0 gives +inf",
    )
add(
    "entropy/uniform_2_17",
    "entropy",
    [("p", np.full(2**17, 2.0**-17))],
    {},
    "uniform over 2^17 classes: 17 log 2",
)


# --------------------------------------------------------------------------------------------
# Evaluation and output
# --------------------------------------------------------------------------------------------


def materialize(value: Any, dtype: str) -> np.ndarray:
    a = value.array() if isinstance(value, Generated) else np.asarray(value)
    return a.astype(dtype) if a.dtype.kind == "f" else a


def encode_value(v: float) -> float | str:
    return v if np.isfinite(v) else str(v)


def encode_array(name: str | None, value: Any, dtype: str) -> dict[str, Any]:
    a = materialize(value, dtype)
    enc: dict[str, Any] = {"dtype": str(a.dtype), "shape": list(a.shape)}
    if name is not None:
        enc = {"name": name, **enc}
    if isinstance(value, Generated):
        enc["generator"] = {
            "function": "dyadic_hash (scripts/data/make_oracle.py, tests/test_oracle.py)",
            "seed": value.seed,
            "set": [list(s) for s in value.set],
            "sha256_float64": hashlib.sha256(value.array().astype("<f8").tobytes()).hexdigest(),
        }
    elif a.dtype.kind == "f" and a.size > 1000 and np.all(a == a.flat[0]):
        enc["fill"] = encode_value(float(a.flat[0]))  # a constant array, e.g. uniform p
    elif a.dtype.kind == "f":
        enc["values"] = [encode_value(float(v)) for v in a.ravel()]
    else:
        enc["values"] = [int(v) for v in a.ravel()]
    return enc


def evaluate(case: Case, inputs: list[np.ndarray], kwargs: dict[str, Any]) -> list[Any]:
    """Flat list of exact outputs (only the `select`ed ones); the shape goes to `case.shape`."""
    out = np.asarray(EXACT[case.function](*inputs, **kwargs), dtype=object)
    case.shape = list(out.shape)
    flat = list(out.ravel())
    return flat if case.select is None else [flat[i] for i in case.select]


def mp_inputs(case: Case, dtype: str) -> tuple[list[np.ndarray], dict[str, Any]]:
    inputs = [mpf_array(materialize(v, dtype)) for _, v in case.args]
    kwargs = {
        k: mpf_array(materialize(v, dtype)) if isinstance(v, np.ndarray) else v
        for k, v in case.kwargs.items()
    }
    return inputs, kwargs


def agree(a: Any, b: Any) -> bool:
    if mp.isinf(a) or mp.isinf(b) or a == 0 or b == 0:
        return a == b
    return abs(a - b) <= mp.mpf(10) ** (-AGREE_DIGITS) * abs(b)


def condition_numbers(case: Case, inputs, kwargs, values) -> list[float | None]:
    """Componentwise relative condition number of each output, by central differences."""
    arrays = [a for a in inputs if a.dtype == object and a.size and not isinstance(a.flat[0], int)]
    arrays += [v for v in kwargs.values() if isinstance(v, np.ndarray)]
    if sum(a.size for a in arrays) > MAX_INPUTS_FOR_KAPPA:
        return [None] * len(values)
    acc = [mp.zero] * len(values)
    for arr in arrays:
        for idx in np.ndindex(arr.shape):
            x = arr[idx]
            if x == 0 or mp.isinf(x):
                continue
            h = abs(x) * mp.mpf(2) ** -90
            arr[idx] = x + h
            up = evaluate(case, inputs, kwargs)
            arr[idx] = x - h
            down = evaluate(case, inputs, kwargs)
            arr[idx] = x
            for j, (u, d) in enumerate(zip(up, down, strict=True)):
                if mp.isfinite(u) and mp.isfinite(d):
                    acc[j] += abs(x * (u - d) / (2 * h))
    kappa = [
        None if (v == 0 or not mp.isfinite(v)) else float(mp.nstr(acc[j] / abs(v), 3))
        for j, v in enumerate(values)
    ]
    # Differencing fails for outputs such as e^(-1e30) (a step of 1e30 * 2^-90 is not small).
    return [k if k is not None and np.isfinite(k) else None for k in kappa]


def run_case(case: Case, dtype: str) -> dict[str, Any]:
    mp.dps = CHECK_DPS
    inputs, kwargs = mp_inputs(case, dtype)
    check = evaluate(case, inputs, kwargs)
    mp.dps = DPS
    inputs, kwargs = mp_inputs(case, dtype)
    values = evaluate(case, inputs, kwargs)
    for v, c in zip(values, check, strict=True):
        if not agree(v, c):
            raise SystemExit(f"{case.id} [{dtype}]: dps {DPS} and {CHECK_DPS} disagree: {v} vs {c}")
    kappa = condition_numbers(case, inputs, kwargs, values)
    expected: dict[str, Any] = {"shape": case.shape}
    if case.select is not None:
        expected["select"] = case.select
    expected["decimal"] = [mp.nstr(v, DECIMAL_DIGITS) for v in values]
    expected["float64"] = [encode_value(float(v)) for v in values]
    expected["condition"] = kappa
    kw_enc = {
        k: encode_array(None, v, dtype) if isinstance(v, np.ndarray) else v
        for k, v in case.kwargs.items()
    }
    return {
        "id": f"{case.id}/{dtype}",
        "function": case.function,
        "dtype": dtype,
        "args": [encode_array(n, v, dtype) for n, v in case.args],
        "kwargs": kw_enc,
        "expected": expected,
        "note": case.note,
    }


def main() -> None:
    records = []
    for case in CASES:
        for dtype in case.dtypes:
            records.append(run_case(case, dtype))
            print(f"{records[-1]['id']}", file=sys.stderr)
    ids = [r["id"] for r in records]
    if len(set(ids)) != len(ids):
        raise SystemExit("duplicate case ids")
    doc = {
        "description": "Exact values of xentref functions on hard inputs (tests/test_oracle.py).",
        "generated_by": "scripts/data/make_oracle.py",
        "mpmath_version": mpmath.__version__,
        "numpy_version": np.__version__,
        "dps": DPS,
        "check_dps": CHECK_DPS,
        "agree_digits": AGREE_DIGITS,
        "conventions": (
            "Inputs are the exact binary float64/float32 values listed (non-finite values as "
            "the strings 'inf', '-inf', 'nan'); 'decimal' is the exact output to 30 significant "
            "digits, 'float64' its correctly rounded float64 value; 'condition' is the "
            "componentwise relative condition number (null for 0/inf outputs or huge inputs). "
            "Outputs are stored flattened in C order ('select' lists the flat indices stored "
            "when the output is large)."
        ),
        "cases": records,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    write_json(OUT, doc)
    print(f"wrote {len(records)} cases to {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
