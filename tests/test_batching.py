"""A token mean is the same however the batch is split, if the denominators are added first.

The theorem of the page "Across batches and devices" (docs/llm/batches-and-devices.md): for
any split of a batch into parts i (micro-batches of gradient accumulation, data-parallel
ranks, packed rows), ``sum_i loss(part_i, reduction="sum") / sum_i mean_denominator(part_i)``
equals the loss of the whole batch with ``reduction="mean"``, and the gradients split the same
way; the mean of the parts' means does not. Checked in float64 to 1e-13 relative (the two sides
add the same terms in different orders), with class weights, label smoothing, z-loss (weighted
per position like the loss, so one denominator serves both), soft-capping, ignored positions,
probability targets, empty and all-ignored parts.

`LOSSES` is the list of losses the invariance tests run on; each is a `LossCase`. A loss with
shared parameters (a linear layer before the softmax) has their gradients summed over the
parts, the per-position gradients concatenated.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.typing import NDArray

import xentref as xr

Array = NDArray[np.float64]
RTOL = 1e-13  # relative, and absolute x the largest entry for gradients (entries near 0)
MAX_DIFF: dict[str, float] = {}  # "<split>: <what>" -> largest difference / scale measured


class LossCase(NamedTuple):
    """A loss whose "mean" is its "sum" divided by `mean_denominator`.

    ``make(rng, n, c)`` draws the per-position input (n rows) and the shared parameters;
    ``loss(rows, *shared, target, reduction=..., **options)`` and ``grad(...)`` (a tuple:
    the per-position gradient, then one per shared parameter) take the options of
    `softmax_cross_entropy`; ``denominator(rows, *shared, target, weight=, ignore_index=)``.
    """

    name: str
    make: Callable[[np.random.Generator, int, int], tuple[Array, tuple[Array, ...]]]
    loss: Callable[..., Any]
    grad: Callable[..., tuple[Array, ...]]
    denominator: Callable[..., float]


def _logits(rng: np.random.Generator, n: int, c: int) -> tuple[Array, tuple[Array, ...]]:
    return rng.normal(0.0, 3.0, size=(n, c)), ()


def _hidden_and_weight(rng: np.random.Generator, n: int, c: int) -> tuple[Array, tuple[Array, ...]]:
    return rng.normal(size=(n, 5)), (rng.normal(0.0, 0.7, size=(5, c)),)


def _linear_loss(h: Array, w: Array, target: Any, **options: Any) -> Any:
    return xr.softmax_cross_entropy(h @ w, target, **options)


def _linear_grad(h: Array, w: Array, target: Any, **options: Any) -> tuple[Array, ...]:
    g = xr.softmax_cross_entropy_grad(h @ w, target, **options)
    return g @ w.T, h.T @ g


def _linear_denominator(h: Array, w: Array, target: Any, **options: Any) -> float:
    return xr.mean_denominator(h @ w, target, **options)


LOSSES = [
    LossCase(
        "softmax_cross_entropy",
        _logits,
        xr.softmax_cross_entropy,
        lambda z, t, **o: (xr.softmax_cross_entropy_grad(z, t, **o),),
        xr.mean_denominator,
    ),
    # A linear layer before the softmax, composed here: its weight is a parameter shared by
    # all positions, whose gradient DDP all-reduces. Hook: append `linear_cross_entropy`
    # here when it exists, e.g.
    # LossCase("linear_cross_entropy", _hidden_and_weight, xr.linear_cross_entropy,
    #          <its grad, returning (d hidden, d weight)>, _linear_denominator).
    LossCase(
        "linear_then_softmax_cross_entropy",
        _hidden_and_weight,
        _linear_loss,
        _linear_grad,
        _linear_denominator,
    ),
]


class Batch(NamedTuple):
    rows: Array  # (N, ...) per-position input
    shared: tuple[Array, ...]
    target: NDArray[Any]  # (N,) class indices or (N, C) probabilities
    options: dict[str, Any]  # weight, ignore_index, label_smoothing


def _denominator_options(options: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in options.items() if k in ("weight", "ignore_index")}


@st.composite
def batches(draw: st.DrawFn, case: LossCase, max_rows: int = 24) -> Batch:
    """A random batch: logits (or hidden states), targets with padding, options."""
    seed = draw(st.integers(0, 2**32 - 1))
    n = draw(st.integers(1, max_rows))
    c = draw(st.integers(2, 9))
    rng = np.random.default_rng(seed)
    rows, shared = case.make(rng, n, c)
    options: dict[str, Any] = {
        "label_smoothing": draw(st.sampled_from([0.0, 0.1, 0.6])),
        "z_loss": draw(st.sampled_from([0.0, 1e-3, 0.2])),
    }
    if draw(st.booleans()):
        options["softcap"] = 4.0
    if draw(st.booleans()):
        options["weight"] = rng.uniform(0.0, 3.0, size=c) * (rng.random(c) > 0.15)
    if draw(st.booleans()):  # class probabilities (no ignore_index with them)
        p = rng.random((n, c)) * (rng.random((n, c)) > 0.3)
        p[:, 0] += 1e-3
        target: NDArray[Any] = p / p.sum(axis=1, keepdims=True)
    else:
        target = rng.integers(0, c, size=n)
        pad = draw(st.sampled_from([0.0, 0.3, 0.9]))
        target[rng.random(n) < pad] = -100  # padding
    return Batch(rows, shared, target, options)


@st.composite
def splits(draw: st.DrawFn, n: int, max_parts: int = 6) -> list[slice]:
    """Contiguous parts covering range(n); some may be empty."""
    cuts = draw(st.lists(st.integers(0, n), min_size=0, max_size=max_parts - 1))
    edges = [0, *sorted(cuts), n]
    return [slice(a, b) for a, b in itertools.pairwise(edges)]


def _close(got: Any, want: Any, what: str, split: str = "") -> None:
    got, want = np.asarray(got), np.asarray(want)
    scale = float(np.max(np.abs(want))) if want.size else 0.0
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=RTOL * scale, err_msg=what)
    if split and scale > 0:
        key = f"{split}: {what.split()[0]}"
        MAX_DIFF[key] = max(MAX_DIFF.get(key, 0.0), float(np.max(np.abs(got - want))) / scale)


def _accumulate(case: LossCase, b: Batch, parts: list[slice]) -> tuple[Any, list[Array]]:
    """Loss and gradients by accumulation: sums over parts, divided by the summed denominator."""
    opts = _denominator_options(b.options)
    denominator = sum(case.denominator(b.rows[s], *b.shared, b.target[s], **opts) for s in parts)
    loss = 0.0
    rows, shared = [], [np.zeros_like(p) for p in b.shared]
    for s in parts:
        z, t = b.rows[s], b.target[s]
        loss += case.loss(z, *b.shared, t, reduction="sum", **b.options)
        g = case.grad(z, *b.shared, t, reduction="sum", **b.options)
        rows.append(g[0])
        for acc, gi in zip(shared, g[1:], strict=True):
            acc += gi
    scale = 0.0 if denominator == 0 else 1.0 / denominator  # as "mean" on an empty batch
    grads = [np.concatenate(rows) * scale] + [acc * scale for acc in shared]
    return loss / denominator if denominator else np.nan, grads


def _full(case: LossCase, b: Batch) -> tuple[Any, list[Array]]:
    loss = case.loss(b.rows, *b.shared, b.target, **b.options)
    return loss, list(case.grad(b.rows, *b.shared, b.target, **b.options))


@pytest.mark.parametrize("case", LOSSES, ids=[c.name for c in LOSSES])
@given(data=st.data())
def test_mean_denominator_is_what_mean_divides_by(case: LossCase, data: st.DataObject) -> None:
    """The "sum" over `mean_denominator` is the "mean", to the last bit (same operations)."""
    b = data.draw(batches(case))
    d = case.denominator(b.rows, *b.shared, b.target, **_denominator_options(b.options))
    assert isinstance(d, float)
    total = case.loss(b.rows, *b.shared, b.target, reduction="sum", **b.options)
    mean = case.loss(b.rows, *b.shared, b.target, **b.options)
    if d == 0:
        assert np.isnan(mean)
    else:
        np.testing.assert_allclose(total / d, mean, rtol=1e-15, atol=0)


@pytest.mark.parametrize("case", LOSSES, ids=[c.name for c in LOSSES])
@given(data=st.data())
def test_mean_denominator_invariance_micro_batches(case: LossCase, data: st.DataObject) -> None:
    """Gradient accumulation: any split into micro-batches gives the full batch's loss and grads."""
    b = data.draw(batches(case))
    parts = data.draw(splits(len(b.target)))
    want_loss, want_grads = _full(case, b)
    got_loss, got_grads = _accumulate(case, b, parts)
    if np.isnan(want_loss):  # every position ignored: the full mean is NaN, grads 0
        assert np.isnan(got_loss)
    else:
        _close(got_loss, want_loss, "loss", "micro-batches")
    for i, (got, want) in enumerate(zip(got_grads, want_grads, strict=True)):
        _close(got, want, f"gradient {i}", "micro-batches")


@pytest.mark.parametrize("case", LOSSES, ids=[c.name for c in LOSSES])
@given(data=st.data())
def test_mean_denominator_invariance_ranks(case: LossCase, data: st.DataObject) -> None:
    """Data parallelism: ranks, each accumulating micro-batches, then DDP's gradient average.

    The denominator is all-reduced (summed over ranks and micro-batches) before dividing; each
    rank scales its gradient by the world size W, since DDP averages the ranks' gradients.
    """
    b = data.draw(batches(case, max_rows=30))
    ranks = data.draw(splits(len(b.target), max_parts=4))
    world = len(ranks)
    per_rank = [data.draw(splits(s.stop - s.start, max_parts=3)) for s in ranks]
    micro = [
        [slice(r.start + m.start, r.start + m.stop) for m in rank_parts]
        for r, rank_parts in zip(ranks, per_rank, strict=True)
    ]
    opts = _denominator_options(b.options)
    local = [
        sum(case.denominator(b.rows[m], *b.shared, b.target[m], **opts) for m in parts)
        for parts in micro
    ]
    global_denominator = sum(local)  # all_reduce(sum)
    want_loss, want_grads = _full(case, b)
    loss = 0.0
    row_grads, shared = [], [np.zeros_like(p) for p in b.shared]
    scale = 0.0 if global_denominator == 0 else world / global_denominator
    for parts in micro:
        rank_shared = [np.zeros_like(p) for p in b.shared]
        for m in parts:
            loss += case.loss(b.rows[m], *b.shared, b.target[m], reduction="sum", **b.options)
            g = case.grad(b.rows[m], *b.shared, b.target[m], reduction="sum", **b.options)
            # The rank back-propagates scale * g[0]; after DDP's average of the parameters'
            # gradients, these positions count scale * g[0] / W.
            row_grads.append(g[0] * scale / world)
            for acc, gi in zip(rank_shared, g[1:], strict=True):
                acc += gi * scale
        for acc, gi in zip(shared, rank_shared, strict=True):
            acc += gi / world  # DDP: all_reduce(sum) / W
    if np.isnan(want_loss):
        assert global_denominator == 0
    else:
        _close(loss / global_denominator, want_loss, "loss", "ranks")
    _close(np.concatenate(row_grads), want_grads[0], "gradient (per position)", "ranks")
    for i, (got, want) in enumerate(zip(shared, want_grads[1:], strict=True)):
        _close(got, want, f"gradient-shared {i}", "ranks")


@given(
    seed=st.integers(0, 2**32 - 1),
    lengths=st.lists(st.integers(1, 12), min_size=1, max_size=5),
    weighted=st.booleans(),
    eps=st.sampled_from([0.0, 0.2]),
    z_loss=st.sampled_from([0.0, 1e-2]),
)
def test_mean_denominator_invariance_packing(
    seed: int, lengths: list[int], weighted: bool, eps: float, z_loss: float
) -> None:
    """Padded (B, T, C) with ignore_index equals the packed row (1, L, C) of the same tokens.

    The token mean is packing-invariant; the mean of per-sequence means is not: packed, the
    row is one "sequence" and its mean is the token mean.
    """
    rng = np.random.default_rng(seed)
    c, t = 7, max(lengths)
    kw: dict[str, Any] = {"label_smoothing": eps, "z_loss": z_loss}
    if weighted:
        kw["weight"] = rng.uniform(0.2, 2.0, size=c)
    padded = rng.normal(0.0, 2.0, size=(len(lengths), t, c))  # garbage at padded positions
    target = np.full((len(lengths), t), -100)
    for i, n in enumerate(lengths):
        target[i, :n] = rng.integers(0, c, size=n)
    real = target != -100
    packed, packed_target = padded[real][None], target[real][None]
    _close(
        xr.softmax_cross_entropy(padded, target, **kw),
        xr.softmax_cross_entropy(packed, packed_target, **kw),
        "loss",
        "packing",
    )
    g_padded = xr.softmax_cross_entropy_grad(padded, target, **kw)
    g_packed = xr.softmax_cross_entropy_grad(packed, packed_target, **kw)
    _close(g_padded[real], g_packed[0], "gradient", "packing")
    assert np.all(g_padded[~real] == 0)
    d = xr.mean_denominator(padded, target, weight=kw.get("weight"))
    _close(d, xr.mean_denominator(packed, packed_target, weight=kw.get("weight")), "count")
    # The per-sequence mean: padded, B sequences; packed, one.
    per_sequence = [
        float(xr.softmax_cross_entropy(padded[i], target[i], **kw)) for i in range(len(lengths))
    ]
    if len(set(lengths)) > 1 and not weighted:
        token_mean = float(xr.softmax_cross_entropy(packed, packed_target, **kw))
        assert abs(np.mean(per_sequence) - token_mean) > 1e-9


@given(data=st.data())
def test_mean_denominator_all_ignored_micro_batch(data: st.DataObject) -> None:
    """An all-ignored micro-batch: its own mean is NaN, its share of the global sum is 0."""
    case = LOSSES[0]
    b = data.draw(batches(case))
    if b.target.ndim != 1:
        return  # probability targets cannot be ignored
    n = len(b.target)
    ignored = np.full(4, -100)
    z = np.concatenate([b.rows, np.random.default_rng(n).normal(size=(4, b.rows.shape[1]))])
    t = np.concatenate([b.target, ignored])
    assert np.isnan(xr.softmax_cross_entropy(z[n:], t[n:], **b.options))
    assert xr.mean_denominator(z[n:], t[n:], **_denominator_options(b.options)) == 0.0
    assert xr.softmax_cross_entropy(z[n:], t[n:], reduction="sum", **b.options) == 0.0
    assert np.all(xr.softmax_cross_entropy_grad(z[n:], t[n:], **b.options) == 0)
    with_it = _accumulate(case, Batch(z, (), t, b.options), [slice(0, n), slice(n, n + 4)])
    without = _full(case, b)
    if np.isnan(without[0]):
        assert np.isnan(with_it[0])
    else:
        _close(with_it[0], without[0], "loss")
    _close(with_it[1][0][:n], without[1][0], "gradient")


@pytest.mark.parametrize("seed", range(5))
def test_mean_of_micro_batch_means_differs(seed: int) -> None:
    """The bug: averaging micro-batch means weighs a 1-token micro-batch like a 30-token one.

    The full mean is the denominator-weighted mean of the parts' means, exactly; the plain
    mean of the means differs by far more than rounding whenever the parts' sizes and means
    differ (here by construction: the short part is confidently wrong).
    """
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(31, 6))
    t = rng.integers(0, 6, size=31)
    z[0] = 0.0
    z[0, (t[0] + 1) % 6] = 8.0  # position 0 alone in its micro-batch, confidently wrong
    parts = [slice(0, 1), slice(1, 31)]
    means = [float(xr.softmax_cross_entropy(z[p], t[p])) for p in parts]
    d = [xr.mean_denominator(z[p], t[p]) for p in parts]
    full = float(xr.softmax_cross_entropy(z, t))
    np.testing.assert_allclose(np.dot(d, means) / sum(d), full, rtol=1e-14)
    assert abs(np.mean(means) - full) > 1.0  # nats: not a rounding difference
    g_bug = np.concatenate([xr.softmax_cross_entropy_grad(z[p], t[p]) / len(parts) for p in parts])
    g_full = xr.softmax_cross_entropy_grad(z, t)
    assert np.max(np.abs(g_bug - g_full)) > 0.1 * np.max(np.abs(g_full))


def test_mean_denominator_max_differences() -> None:
    """Print the largest differences measured above, relative to the largest entry (-rP)."""
    for key, value in sorted(MAX_DIFF.items()):
        print(f"{key}: {value:.2e}")
