"""One rank of a torch.distributed gloo group, for tests/test_vocab_parallel_gloo.py.

The test starts one process per rank running `run` (through a fork server that has imported
torch once, so that no rank pays torch's import again); by hand::

    python tests/_gloo_worker.py CASES.npz OUT_DIR RANK WORLD PORT

A rank joins the group on 127.0.0.1:PORT, runs every case of CASES.npz (its columns of the
logits, through `vocab_parallel_cross_entropy` and its gradient, with
``torch.distributed.all_reduce`` as the collective), then the error cases, and writes
``OUT_DIR/rank<RANK>.npz``, or its traceback to ``OUT_DIR/rank<RANK>.error``. Importing this
module imports neither torch nor anything else that pytest's doctest collection would mind.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np


def torch_all_reduce(dist: Any, torch: Any) -> Any:
    """``all_reduce(array, op)`` for xentref, from torch.distributed's in-place collective."""
    ops = {"max": dist.ReduceOp.MAX, "sum": dist.ReduceOp.SUM}

    def all_reduce(a: np.ndarray, op: str) -> np.ndarray:
        t = torch.from_numpy(np.array(a, copy=True))
        dist.all_reduce(t, op=ops[op])
        return t.numpy()

    return all_reduce


def run(cases_path: str, out_dir: str, rank: int, world: int, port: int) -> None:
    """One rank's whole job; a failure is written to ``OUT_DIR/rank<RANK>.error``."""
    try:
        _run(cases_path, out_dir, rank, world, port)
    except BaseException:
        (Path(out_dir) / f"rank{rank}.error").write_text(traceback.format_exc())
        raise


def _run(cases_path: str, out_dir: str, rank: int, world: int, port: int) -> None:
    if sys.platform.startswith("linux"):
        os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")  # loopback only
    elif sys.platform == "darwin":
        os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo0")
    import torch
    import torch.distributed as dist

    import xentref as xr

    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=world,
        timeout=timedelta(seconds=60),
    )
    all_reduce = torch_all_reduce(dist, torch)
    data = np.load(cases_path)
    out: dict[str, Any] = {}
    for i in range(int(data["count"])):
        z, target, bounds = data[f"z{i}"], data[f"target{i}"], data[f"bounds{i}"]
        kw = json.loads(str(data[f"options{i}"]))
        if "weight" in kw:
            kw["weight"] = np.asarray(kw["weight"])
        s, e = int(bounds[rank]), int(bounds[rank + 1])
        common = {"vocab_start": s, "vocab_size": z.shape[-1], "all_reduce": all_reduce, **kw}
        out[f"loss{i}"] = xr.vocab_parallel_cross_entropy(z[..., s:e], target, **common)
        out[f"grad{i}"] = xr.vocab_parallel_cross_entropy_grad(z[..., s:e], target, **common)
    # Error cases: each must raise on every rank, and leave the group usable for the next.
    z, target = data["z0"], data["target0"]
    v = z.shape[-1]
    errors = []
    if world > 1:  # gathered logits on every rank: widths add up to world * V
        try:
            xr.vocab_parallel_cross_entropy(
                z, target, vocab_start=0, vocab_size=v, all_reduce=all_reduce
            )
        except ValueError as exc:
            errors.append(str(exc))
    bad_target = np.array(target)
    if rank == world - 1:
        bad_target[0] = v  # out of range on the last rank only
    s, e = int(data["bounds0"][rank]), int(data["bounds0"][rank + 1])
    try:
        xr.vocab_parallel_cross_entropy(
            z[..., s:e], bad_target, vocab_start=s, vocab_size=v, all_reduce=all_reduce
        )
    except ValueError as exc:
        errors.append(str(exc))
    # The group still works after the errors: one more collective.
    out["after_errors"] = all_reduce(np.array([1.0]), "sum")
    out["errors"] = np.array(json.dumps(errors))
    np.savez(Path(out_dir) / f"rank{rank}.npz", **out)
    dist.destroy_process_group()


if __name__ == "__main__":
    cases, out, rank, world, port = sys.argv[1:]
    run(cases, out, int(rank), int(world), int(port))
