"""Vocabulary-parallel cross-entropy against the dense loss, with an in-process fake collective.

Each rank is a thread holding its columns of the logits; `run_ranks` gives every thread an
``all_reduce(array, op)`` that waits (with a timeout: a rank left waiting fails the test
instead of hanging it) for all ranks' arrays and returns their elementwise max or sum. The
loss must equal `softmax_cross_entropy` of the gathered logits and be identical on every rank;
each rank's gradient must be its columns of `softmax_cross_entropy_grad`. Tolerances: float64,
1e-12 relative (the loss; the gradient with an absolute floor of 1e-15 x its largest entry);
float32, 1e-5 relative and 1e-6 x scale. Bad input must raise on every rank, never leave one
waiting. `test_vocab_parallel_max_differences` prints the largest differences measured
(``pytest -rP``). The same checks on torch.distributed are in test_vocab_parallel_gloo.py.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.typing import NDArray

import xentref as xr

TIMEOUT = 20.0  # seconds a rank may wait in a collective before the test fails
TOL = {np.float64: (1e-12, 1e-15), np.float32: (1e-5, 1e-6)}
MAX_DIFF: dict[tuple[str, int], list[float]] = {}  # (dtype, world) -> [loss rel, grad rel]


def run_ranks(world: int, work: Callable[[int, Any], Any]) -> list[tuple[str, Any]]:
    """Run ``work(rank, all_reduce)`` on `world` threads; ("ok", result) or ("error", exc)."""
    barrier = threading.Barrier(world, timeout=TIMEOUT)
    inbox: list[Any] = [None] * world

    def all_reduce_for(rank: int) -> Callable[[NDArray[Any], str], NDArray[Any]]:
        def all_reduce(a: NDArray[Any], op: str) -> NDArray[Any]:
            inbox[rank] = np.array(a, copy=True)
            barrier.wait()
            stacked = np.stack(inbox)
            out = np.max(stacked, axis=0) if op == "max" else np.sum(stacked, axis=0)
            barrier.wait()
            return out

        return all_reduce

    results: list[tuple[str, Any]] = [("missing", None)] * world

    def target(rank: int) -> None:
        try:
            results[rank] = ("ok", work(rank, all_reduce_for(rank)))
        except Exception as exc:  # collected, checked by the test
            results[rank] = ("error", exc)

    threads = [threading.Thread(target=target, args=(r,), daemon=True) for r in range(world)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(3 * TIMEOUT)
    assert not any(t.is_alive() for t in threads), "a rank is still waiting in a collective"
    for _status, value in results:
        assert not isinstance(value, threading.BrokenBarrierError), "a rank waited for another"
    return results


def shards(bounds: Sequence[int]) -> list[slice]:
    return [slice(a, b) for a, b in itertools.pairwise(bounds)]


def sharded(
    fn: Callable[..., Any], logits: NDArray[Any], target: Any, bounds: Sequence[int], **kw: Any
) -> list[Any]:
    """`fn` on every rank's columns; the results, or raise the first rank's error."""
    parts = shards(bounds)
    v = kw.pop("vocab_size", logits.shape[-1])

    def work(rank: int, all_reduce: Any) -> Any:
        s = parts[rank]
        return fn(
            logits[..., s], target, vocab_start=s.start, vocab_size=v, all_reduce=all_reduce, **kw
        )

    results = run_ranks(len(parts), work)
    for status, value in results:
        if status == "error":
            raise value
    return [value for _, value in results]


def record(dtype: Any, world: int, kind: int, got: NDArray[Any], want: NDArray[Any]) -> None:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    both = np.isfinite(got) & np.isfinite(want) & (want != 0)
    if both.any():
        rel = float(np.max(np.abs(got[both] - want[both]) / np.abs(want[both])))
        row = MAX_DIFF.setdefault((np.dtype(dtype).name, world), [0.0, 0.0])
        row[kind] = max(row[kind], rel)


def check_close(dtype: Any, got: Any, want: Any, what: str) -> None:
    rtol, floor = TOL[dtype]
    want = np.asarray(want)
    finite = np.isfinite(want)
    scale = float(np.max(np.abs(want[finite]))) if finite.any() else 0.0
    np.testing.assert_allclose(
        got, want, rtol=rtol, atol=floor * scale, equal_nan=True, err_msg=what
    )


@st.composite
def problems(draw: st.DrawFn) -> dict[str, Any]:
    """Logits (some -inf, some rows confidently right), targets, uneven shards, options.

    Hypothesis draws only the seed: the choices below are uniform over their options, which
    its derandomized draws of small integers and booleans are not.
    """
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    dtype = [np.float64, np.float64, np.float32][rng.integers(3)]
    v = int(rng.integers(2, 41))
    n = int(rng.integers(0, 13))
    world = int(rng.integers(1, min(v, 5) + 1))
    cuts = sorted(rng.choice(np.arange(1, v), world - 1, replace=False).tolist())
    z = rng.normal(0.0, [1.0, 10.0, 300.0][rng.integers(3)], size=(n, v))
    target = rng.integers(0, v, size=n)
    confident = rng.random(n) < 0.3
    target[confident] = np.argmax(z[confident], axis=1)  # tiny losses: all their digits count
    if rng.random() < 0.5:
        z[rng.random((n, v)) < 0.1] = -np.inf  # masked classes
    ignore_index = [-100, 1][rng.integers(2)]
    target[rng.random(n) < 0.2] = ignore_index
    kw: dict[str, Any] = {
        "ignore_index": ignore_index,
        "label_smoothing": [0.0, 0.1, 1.0][rng.integers(3)],
        "reduction": ["mean", "sum", "none"][rng.integers(3)],
    }
    if rng.random() < 0.5:
        kw["weight"] = rng.uniform(0.0, 2.0, size=v) * (rng.random(v) > 0.2)
    shape = ["rows", "rows", "3d", "1d"][rng.integers(4)]
    if shape == "3d" and n % 2 == 0:
        z, target = z.reshape(2, n // 2, v), target.reshape(2, n // 2)
    elif shape == "1d" and n >= 1:
        z, target = z[0], target[0]
    return {"z": z.astype(dtype), "target": target, "bounds": [0, *cuts, v], "kw": kw}


@given(problem=problems())
def test_vocab_parallel_equals_dense(problem: dict[str, Any]) -> None:
    """Loss equal to the dense loss of the gathered logits, identical on every rank."""
    z, target, bounds, kw = problem["z"], problem["target"], problem["bounds"], problem["kw"]
    losses = sharded(xr.vocab_parallel_cross_entropy, z, target, bounds, **kw)
    want = xr.softmax_cross_entropy(z, target, **kw)
    for loss in losses:
        assert loss.dtype == z.dtype
        assert loss.shape == want.shape
        np.testing.assert_array_equal(loss, losses[0])  # every rank: the same bits
    check_close(z.dtype.type, losses[0], want, "loss")
    record(z.dtype, len(bounds) - 1, 0, losses[0], want)


@given(problem=problems())
def test_vocab_parallel_grad_is_the_shard_of_the_dense_grad(problem: dict[str, Any]) -> None:
    """Each rank's gradient is its columns of the dense gradient."""
    z, target, bounds, kw = problem["z"], problem["target"], problem["bounds"], problem["kw"]
    grads = sharded(xr.vocab_parallel_cross_entropy_grad, z, target, bounds, **kw)
    want = xr.softmax_cross_entropy_grad(z, target, **kw)
    for g, s in zip(grads, shards(bounds), strict=True):
        assert g.dtype == z.dtype
        assert g.shape == z[..., s].shape
    got = np.concatenate(grads, axis=-1)
    check_close(z.dtype.type, got, want, "gradient")
    record(z.dtype, len(bounds) - 1, 1, got, want)


def _megatron_smoothed(z: NDArray[Any], target: NDArray[Any], eps: float) -> NDArray[Any]:
    """Megatron's label smoothing on one rank holding all V columns (its TP = 1 formula)."""
    v = z.shape[-1]
    log_p = xr.log_softmax(z)
    nll = -np.take_along_axis(log_p, target[:, None], axis=1)[:, 0]
    smoothing = eps * v / (v - 1)
    return (1 - smoothing) * nll - smoothing * log_p.mean(axis=-1)


def _megatron_local_smoothing(z: NDArray[Any], target: NDArray[Any], eps: float, bounds: Any):
    """What each Megatron rank reports with label smoothing (issues #737, #7464).

    The right log-probabilities of its own columns, but their local mean and the local width
    as the vocabulary size.
    """
    log_p = xr.log_softmax(z)
    nll = -np.take_along_axis(log_p, target[:, None], axis=1)[:, 0]
    out = []
    for s in shards(bounds):
        width = s.stop - s.start
        smoothing = eps * width / (width - 1)
        out.append((1 - smoothing) * nll - smoothing * log_p[:, s].mean(axis=-1))
    return out


@pytest.mark.parametrize("world", [1, 2, 4])
def test_vocab_parallel_megatron_smoothing_issue737(world: int) -> None:
    """Megatron's eps*V/(V-1) form is ours at that eps; its partition-local form is wrong."""
    rng = np.random.default_rng(737)
    v, eps = 8, 0.1
    z = rng.normal(0.0, 2.0, size=(6, v))
    target = rng.integers(0, v, size=6)
    bounds = [0, *[(v * r) // world for r in range(1, world)], v]
    ours = sharded(
        xr.vocab_parallel_cross_entropy,
        z,
        target,
        bounds,
        label_smoothing=eps * v / (v - 1),
        reduction="none",
    )[0]
    np.testing.assert_allclose(ours, _megatron_smoothed(z, target, eps), rtol=1e-13)
    local = _megatron_local_smoothing(z, target, eps, bounds)
    if world == 1:
        np.testing.assert_allclose(local[0], ours, rtol=1e-13)
    else:
        for per_rank in local:  # each rank reports its own, wrong, loss
            assert np.max(np.abs(per_rank - ours)) > 1e-3
        assert np.max(np.abs(local[0] - local[1])) > 1e-3


@pytest.mark.parametrize("world", [2, 3, 4])
def test_vocab_parallel_gathered_logits_issue7452(world: int) -> None:
    """Full-width logits on every rank (widths add up to W V): an error on every rank.

    Treated as shards, as in Megatron-LM issue #7452, the sum of exponentials counts every
    column W times: the loss would be the right one plus log(W).
    """
    rng = np.random.default_rng(7452)
    z = rng.normal(size=(3, 6))
    target = np.array([0, 5, 2])

    def work(rank: int, all_reduce: Any) -> Any:
        return xr.vocab_parallel_cross_entropy(
            z, target, vocab_start=0, vocab_size=6, all_reduce=all_reduce
        )

    results = run_ranks(world, work)
    messages = {str(value) for status, value in results if status == "error"}
    assert all(status == "error" for status, _ in results)
    assert len(messages) == 1  # the same error on every rank
    (message,) = messages
    assert message.startswith("`local_logits`")
    assert f"add up to {6 * world}" in message
    # The naive sharded sum of exponentials, for the record: log(W) too large.
    naive = np.log(world * np.sum(np.exp(z), axis=1)) - z[np.arange(3), target]
    want = xr.softmax_cross_entropy(z, target, reduction="none")
    np.testing.assert_allclose(naive - want, np.log(world), rtol=1e-13)


# ------------------------------------------------------------------------------------------
# Bad input: clear errors, on every rank, and no rank left waiting
# ------------------------------------------------------------------------------------------

Z = np.random.default_rng(3).normal(size=(4, 7))
T = np.array([0, 3, 6, -100])


def _per_rank(world: int, bounds: Sequence[int], change: Callable[[int, dict[str, Any]], None]):
    """Run the loss and the gradient, argument changes per rank; return the two result lists."""
    parts = shards(bounds)
    out = []
    for fn in (xr.vocab_parallel_cross_entropy, xr.vocab_parallel_cross_entropy_grad):

        def work(rank: int, all_reduce: Any, fn: Any = fn) -> Any:
            s = parts[rank]
            args: dict[str, Any] = {
                "local_logits": Z[:, s],
                "target": T,
                "vocab_start": s.start,
                "vocab_size": 7,
                "all_reduce": all_reduce,
            }
            change(rank, args)
            return fn(args.pop("local_logits"), args.pop("target"), **args)

        out.append(run_ranks(world, work))
    return out


def _raised(results: list[tuple[str, Any]]) -> list[BaseException]:
    assert all(status == "error" for status, _ in results), results
    return [value for _, value in results]


@pytest.mark.parametrize(
    ("argument", "value", "kind", "match"),
    [
        (
            "target",
            np.array([0, 3, 7, 1]),
            ValueError,
            r"`target` must be class indices in \[0, 7\)",
        ),
        ("target", np.array([0, 3]), ValueError, "`target` must be class indices of shape"),
        ("target", np.array([0.5, 3, 1, 1]), ValueError, "`target` class indices must be whole"),
        ("weight", np.ones(3), ValueError, r"`weight` must be the whole vocabulary's"),
        ("weight", -np.ones(7), ValueError, "`weight` must be non-negative"),
        ("label_smoothing", 1.5, ValueError, r"`label_smoothing` must be in \[0, 1\]"),
        ("reduction", "avg", ValueError, "`reduction` must be one of"),
        ("ignore_index", 1.5, TypeError, "`ignore_index` must be an int"),
        ("vocab_start", 6, ValueError, "`vocab_start` 6 plus the shard's width"),
        ("vocab_start", -1, ValueError, "`vocab_start` must be >= 0"),
        ("local_logits", np.array(["a", "b"]), TypeError, "`local_logits` must be an array"),
        ("local_logits", np.zeros((4, 0)), ValueError, "`local_logits` must have at least one"),
    ],
)
def test_vocab_parallel_bad_input_on_one_rank(
    argument: str, value: Any, kind: type, match: str
) -> None:
    """Invalid on rank 1 only: rank 1 raises its own error, the others one naming it."""

    def change(rank: int, args: dict[str, Any]) -> None:
        if rank == 1:
            args[argument] = value

    for results in _per_rank(3, [0, 2, 5, 7], change):
        errors = _raised(results)
        assert isinstance(errors[1], kind)
        assert re.search(match, str(errors[1])), str(errors[1])
        for other in (errors[0], errors[2]):
            assert isinstance(other, ValueError)
            assert str(other).startswith(f"`{argument}` invalid on 1 of 3 rank(s)"), str(other)


@pytest.mark.parametrize(
    ("bounds", "starts", "match"),
    [
        ([0, 3, 7], [0, 0], r"`vocab_start`: class 0 of position 0 lies in 2 shards"),
        ([0, 3, 6], [0, 3], "the shards' widths add up to 6 over 2 rank"),
        ([0, 4, 7], [0, 4], None),  # a correct tiling: no error
    ],
)
def test_vocab_parallel_shards_that_do_not_tile(bounds: list[int], starts: list[int], match: Any):
    """Widths that do not add up, or a class in no shard: the same error on every rank."""
    parts = shards(bounds)

    def work(rank: int, all_reduce: Any) -> Any:
        return xr.vocab_parallel_cross_entropy(
            Z[:, parts[rank]], T, vocab_start=starts[rank], vocab_size=7, all_reduce=all_reduce
        )

    results = run_ranks(2, work)
    if match is None:
        assert all(status == "ok" for status, _ in results)
        return
    errors = _raised(results)
    assert len({str(e) for e in errors}) == 1
    assert all(isinstance(e, ValueError) for e in errors)
    assert re.search(match, str(errors[0])), str(errors[0])


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (
            lambda rank, a: a.update(vocab_size=8) if rank == 0 else None,
            "`vocab_size` must be the same",
        ),
        (
            lambda rank, a: (
                a.update(local_logits=a["local_logits"][:3], target=T[:3]) if rank == 0 else None
            ),
            "`target` must hold the same positions on every rank",
        ),
    ],
)
def test_vocab_parallel_ranks_that_disagree(change: Any, match: str) -> None:
    """Ranks disagreeing on `vocab_size` or on the number of positions: every rank raises."""
    for results in _per_rank(2, [0, 3, 7], change):
        errors = _raised(results)
        assert all(isinstance(e, ValueError) and str(e).startswith(match[:14]) for e in errors)
        assert any(match in str(e) for e in errors), [str(e) for e in errors]


@pytest.mark.parametrize(
    ("returned", "kind", "match"),
    [
        (lambda a: None, TypeError, "`all_reduce` returned None"),
        (lambda a: a[:1], ValueError, "`all_reduce` must return an array of the shape"),
        (lambda a: a.astype(str), TypeError, "`all_reduce` must return real numbers"),
    ],
)
def test_vocab_parallel_bad_all_reduce(returned: Any, kind: type, match: str) -> None:
    """An `all_reduce` that returns None or the wrong shape: an error naming it, every rank."""

    def work(rank: int, all_reduce: Any) -> Any:
        def bad(a: NDArray[Any], op: str) -> Any:
            return returned(all_reduce(a, op))

        return xr.vocab_parallel_cross_entropy(
            Z[:, :4] if rank == 0 else Z[:, 4:],
            T,
            vocab_start=4 * rank,
            vocab_size=7,
            all_reduce=bad,
        )

    errors = _raised(run_ranks(2, work))
    assert all(isinstance(e, kind) and str(e).startswith(match) for e in errors), errors


@pytest.mark.parametrize(
    "fn", [xr.vocab_parallel_cross_entropy, xr.vocab_parallel_cross_entropy_grad]
)
@pytest.mark.parametrize(
    "returned",
    [
        lambda a: np.zeros_like(a),  # no ranks: 0 / 0 in the mean of `vocab_size`
        lambda a: np.full_like(a, np.nan),  # int(nan) while naming the failed arguments
        lambda a: np.full_like(a, np.inf),
        lambda a: a / 2,  # half a rank
        lambda a: a - 1,  # fewer than this rank's own counts
    ],
)
def test_vocab_parallel_junk_check_sum_fuzz(fn: Any, returned: Any) -> None:
    """A first collective that is no sum over ranks: a ValueError naming `all_reduce`.

    Found by tests/test_fuzz.py: a collective of zeros made the check divide 0 by 0 (a
    RuntimeWarning, then a `vocab_size` of NaN), one of NaNs raised "cannot convert float
    NaN to integer", which names no argument.
    """
    with pytest.raises(ValueError, match=r"^`all_reduce` must return the elementwise sum"):
        fn(Z, T, vocab_start=0, vocab_size=7, all_reduce=lambda a, op: returned(a))


def test_vocab_parallel_all_reduce_not_callable() -> None:
    with pytest.raises(TypeError, match="`all_reduce` must be callable"):
        xr.vocab_parallel_cross_entropy(Z, T, vocab_start=0, vocab_size=7, all_reduce=None)  # type: ignore[arg-type]


def test_vocab_parallel_max_differences() -> None:
    """Print the largest relative differences to the dense loss measured above (-rP)."""
    for (dtype, world), (loss, grad) in sorted(MAX_DIFF.items()):
        print(f"{dtype} world {world}: loss {loss:.2e}, gradient {grad:.2e} (relative)")
