"""Vocabulary-parallel cross-entropy on torch.distributed's gloo backend, world sizes 1 to 4.

For each world size the test starts that many processes (tests/_gloo_worker.py, forked
from a server that imported torch once) on 127.0.0.1, on a port that was free a moment
before, each holding its columns of uneven shards; they run every case in one group and
write their results. Checks, in float64: the loss equal
to `softmax_cross_entropy` of the gathered logits to 1e-12 relative, identical bits on every
rank; each rank's gradient its columns of the dense gradient to 1e-12 relative (absolute floor
1e-15 x its largest entry); one float32 case to 1e-5. Error cases raise the same error on every
rank and leave the group usable. Everything is bounded in time: a rank that hangs fails the
test after `TIMEOUT` seconds instead of blocking CI. Skipped when torch is not importable.
`test_gloo_max_differences` prints the largest differences (``pytest -rP``).
"""

from __future__ import annotations

import json
import multiprocessing
import socket
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import xentref as xr

pytest.importorskip("torch", reason="torch is not importable: the gloo tests need it")

ROOT = Path(__file__).resolve().parent.parent
WORKER = Path(__file__).resolve().parent / "_gloo_worker.py"
TIMEOUT = 120.0  # seconds for all ranks of one world size (the first includes torch's import)
MAX_DIFF: dict[int, list[float]] = {}  # world -> [loss rel, gradient rel]
DURATION: dict[int, float] = {}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def uneven_bounds(v: int, world: int, rng: np.random.Generator) -> list[int]:
    """Cut points of `world` non-empty shards of [0, v), of unequal widths when possible."""
    cuts = sorted(rng.choice(np.arange(1, v), world - 1, replace=False).tolist())
    return [0, *cuts, v]


def make_cases(world: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The cases for one world size: arrays for the workers, and the same for the checks."""
    rng = np.random.default_rng(2026 + world)
    specs: list[dict[str, Any]] = [
        {},
        {"reduction": "none"},
        {"reduction": "sum", "label_smoothing": 0.1},
        {"weight": True, "ignore_index": -100},
        {"weight": True, "label_smoothing": 0.2, "reduction": "none"},
        {"ignore_index": 2, "label_smoothing": 1.0},
        {"masked": True, "reduction": "none"},
        {"confident": True, "reduction": "none"},
        {"shape3d": True, "weight": True, "label_smoothing": 0.05},
        {"float32": True, "label_smoothing": 0.1, "reduction": "none"},
    ]
    arrays: dict[str, Any] = {"count": len(specs)}
    cases = []
    for i, spec in enumerate(specs):
        v, n = int(rng.integers(9, 30)), int(rng.integers(6, 15))
        z = rng.normal(0.0, 3.0, size=(n, v))
        target = rng.integers(0, v, size=n)
        target[rng.random(n) < 0.2] = spec.get("ignore_index", -100)
        kw: dict[str, Any] = {
            k: spec[k] for k in ("reduction", "label_smoothing", "ignore_index") if k in spec
        }
        if spec.get("weight"):
            kw["weight"] = (rng.uniform(0.0, 2.0, size=v) * (rng.random(v) > 0.2)).tolist()
        if spec.get("masked"):
            z[rng.random((n, v)) < 0.15] = -np.inf
            z[np.arange(n), np.where(target >= 0, target, 0)] = 1.0  # finite target logits
        if spec.get("confident"):
            z *= 100.0
            target = np.argmax(z, axis=1)  # losses down to 1e-300: every digit counts
        if spec.get("shape3d") and n % 2:
            z, target = z[:-1], target[:-1]
        if spec.get("shape3d"):
            z, target = z.reshape(2, -1, v), target.reshape(2, -1)
        if spec.get("float32"):
            z = z.astype(np.float32)
        bounds = uneven_bounds(v, world, rng)
        arrays |= {
            f"z{i}": z,
            f"target{i}": target,
            f"bounds{i}": np.array(bounds),
            f"options{i}": np.array(json.dumps(kw)),
        }
        cases.append({"z": z, "target": target, "bounds": bounds, "kw": kw})
    return arrays, cases


def _context() -> Any:
    """A fork server that imports torch once: each rank is a fork of it, torch already loaded.

    Started on first use, it lives until pytest exits; where fork servers do not exist
    (Windows), plain spawned processes, which import torch each.
    """
    global _CONTEXT
    if _CONTEXT is None:
        if "forkserver" in multiprocessing.get_all_start_methods():
            _CONTEXT = multiprocessing.get_context("forkserver")
            _CONTEXT.set_forkserver_preload(
                ["numpy", "torch", "torch.distributed", "xentref", "tests._gloo_worker"]
            )
        else:
            _CONTEXT = multiprocessing.get_context("spawn")
    return _CONTEXT


_CONTEXT: Any = None


def spawn(world: int, cases_path: Path, out_dir: Path) -> None:
    """Run `world` ranks to completion within TIMEOUT; kill them all and fail otherwise."""
    from tests import _gloo_worker

    ctx = _context()
    for attempt in range(3):  # the free port may be taken between the probe and the bind
        port = free_port()
        for stale in out_dir.glob("rank*.error"):
            stale.unlink()
        procs = [
            ctx.Process(
                target=_gloo_worker.run,
                args=(str(cases_path), str(out_dir), r, world, port),
                daemon=True,
            )
            for r in range(world)
        ]
        for p in procs:
            p.start()
        deadline = time.monotonic() + TIMEOUT
        for p in procs:
            p.join(max(deadline - time.monotonic(), 0.1))
        hung = [r for r, p in enumerate(procs) if p.is_alive()]
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join(10)
        if hung:
            pytest.fail(f"world size {world}: ranks {hung} did not finish within {TIMEOUT:.0f} s")
        codes = [p.exitcode for p in procs]
        for p in procs:
            p.close()
        if all(code == 0 for code in codes):
            return
        log = "\n".join(f.read_text()[-3000:] for f in sorted(out_dir.glob("rank*.error")))
        if "ddress already in use" in log and attempt < 2:
            continue
        pytest.fail(f"world size {world}: exit codes {codes}\n{log}")


def close(got: Any, want: Any, rtol: float, floor: float, what: str) -> float:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    finite = np.isfinite(want)
    scale = float(np.max(np.abs(want[finite]))) if finite.any() else 0.0
    np.testing.assert_allclose(
        got, want, rtol=rtol, atol=floor * scale, equal_nan=True, err_msg=what
    )
    both = finite & (want != 0)
    return float(np.max(np.abs(got[both] - want[both]) / np.abs(want[both]))) if both.any() else 0.0


@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_gloo_vocab_parallel_equals_dense(world: int, tmp_path: Path) -> None:
    """Every case on a real gloo group: dense loss, identical ranks, sharded dense gradient."""
    arrays, cases = make_cases(world)
    cases_path = tmp_path / "cases.npz"
    np.savez(cases_path, **arrays)
    start = time.monotonic()
    spawn(world, cases_path, tmp_path)
    DURATION[world] = time.monotonic() - start
    ranks = [np.load(tmp_path / f"rank{r}.npz") for r in range(world)]
    diffs = MAX_DIFF.setdefault(world, [0.0, 0.0])
    for i, case in enumerate(cases):
        z, target, kw = case["z"], case["target"], dict(case["kw"])
        if "weight" in kw:
            kw["weight"] = np.asarray(kw["weight"])
        rtol, floor = (1e-5, 1e-6) if z.dtype == np.float32 else (1e-12, 1e-15)
        want = xr.softmax_cross_entropy(z, target, **kw)
        for r in range(world):
            np.testing.assert_array_equal(ranks[r][f"loss{i}"], ranks[0][f"loss{i}"])
            assert ranks[r][f"loss{i}"].dtype == z.dtype
        rel = close(ranks[0][f"loss{i}"], want, rtol, 0.0, f"case {i} loss")
        grad = np.concatenate([ranks[r][f"grad{i}"] for r in range(world)], axis=-1)
        rel_g = close(
            grad, xr.softmax_cross_entropy_grad(z, target, **kw), rtol, floor, f"case {i} grad"
        )
        if z.dtype == np.float64:
            diffs[0], diffs[1] = max(diffs[0], rel), max(diffs[1], rel_g)
    errors = [json.loads(str(ranks[r]["errors"])) for r in range(world)]
    expected = 2 if world > 1 else 1
    for r, errs in enumerate(errors):
        assert len(errs) == expected, (r, errs)
        if world > 1:
            assert errs[0].startswith("`local_logits`: the shards' widths add up to")
            assert errs[0] == errors[0][0]  # the same error on every rank
        last = errs[-1]
        if r == world - 1:
            assert last.startswith("`target` must be class indices in [0, "), last
        else:
            assert last.startswith(f"`target` invalid on 1 of {world} rank(s)"), last
        assert float(ranks[r]["after_errors"][0]) == world


def test_gloo_max_differences() -> None:
    """Print the largest relative differences and the time per world size (-rP)."""
    for world, (loss, grad) in sorted(MAX_DIFF.items()):
        print(
            f"gloo world {world}: loss {loss:.2e}, gradient {grad:.2e} (relative, float64); "
            f"{DURATION.get(world, float('nan')):.1f} s"
        )
