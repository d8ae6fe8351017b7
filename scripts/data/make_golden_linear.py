"""Write tests/data/golden_linear.json: PyTorch's linear_cross_entropy on fixed float64 inputs.

Run it where torch 2.13 is installed (it is not an xentref dependency)::

    python scripts/data/make_golden_linear.py

Each case stores the float64 inputs (hidden states, weight, bias, target, class weights), the
options in PyTorch's spelling, which path computed it (``reference``: ``options=None``;
``chunked``: ``options=nn.LinearCrossEntropyOptions(batch_chunk_size=4)``, taken only where
PyTorch 2.13 chunks: int64 targets, no label smoothing), and torch's loss and autograd
gradients with respect to the input, the weight and the bias (for ``reduction="none"``, of
the sum). tests/test_parity_linear.py checks xentref against them without torch.
"""

from __future__ import annotations

import json
import platform
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from _common import encode_array as enc
from torch import nn

OUT = Path(__file__).resolve().parents[2] / "tests" / "data" / "golden_linear.json"
N, D, V = 7, 4, 6


def case(
    seed: int,
    path: str,
    reduction: str,
    *,
    bias: bool,
    weight: bool,
    smoothing: float,
    soft: bool,
    ignore: int | None,
) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    h, w, b = rng.normal(size=(N, D)), rng.normal(size=(V, D)), rng.normal(size=V)
    if soft:
        target = rng.dirichlet(np.ones(V), N)
    else:
        target = rng.integers(0, V, N)
        target[2] = -100 if ignore is None else ignore
    cw = rng.uniform(0.2, 2.0, V) if weight else None
    ht, wt = torch.tensor(h, requires_grad=True), torch.tensor(w, requires_grad=True)
    bt = torch.tensor(b, requires_grad=True) if bias else None
    kw: dict[str, Any] = {"reduction": reduction, "label_smoothing": smoothing}
    if cw is not None:
        kw["weight"] = torch.tensor(cw)
    if ignore is not None:
        kw["ignore_index"] = ignore
    options = nn.LinearCrossEntropyOptions(batch_chunk_size=4) if path == "chunked" else None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the chunked cases below are ones torch really chunks
        loss = F.linear_cross_entropy(
            ht, wt, torch.tensor(target), linear_bias=bt, options=options, **kw
        )
    loss.backward(torch.ones_like(loss))
    return {
        "path": path,
        "options": {
            "reduction": reduction,
            "label_smoothing": smoothing,
            "ignore_index": ignore,
            "bias": bias,
        },
        "hidden": enc(h),
        "linear_weight": enc(w),
        "linear_bias": enc(b) if bias else None,
        "target": enc(target),
        "weight": None if cw is None else enc(cw),
        "loss": enc(loss),
        "grad_hidden": enc(ht.grad),
        "grad_linear_weight": enc(wt.grad),
        "grad_linear_bias": enc(bt.grad) if bt is not None else None,
    }


def main() -> None:
    torch.set_num_threads(1)
    cases = []
    seed = 0
    for reduction in ("mean", "sum", "none"):
        for bias, weight in ((False, False), (True, False), (True, True)):
            for path in ("reference", "chunked"):
                seed += 1
                cases.append(
                    case(
                        seed,
                        path,
                        reduction,
                        bias=bias,
                        weight=weight,
                        smoothing=0.0,
                        soft=False,
                        ignore=None,
                    )
                )
            seed += 1
            cases.append(
                case(
                    seed,
                    "reference",
                    reduction,
                    bias=bias,
                    weight=weight,
                    smoothing=0.2,
                    soft=False,
                    ignore=None,
                )
            )
            seed += 1
            cases.append(
                case(
                    seed,
                    "reference",
                    reduction,
                    bias=bias,
                    weight=weight,
                    smoothing=0.1,
                    soft=True,
                    ignore=None,
                )
            )
        seed += 1
        cases.append(
            case(
                seed,
                "chunked",
                reduction,
                bias=True,
                weight=True,
                smoothing=0.0,
                soft=False,
                ignore=1,
            )
        )
    doc = {
        "description": "torch.nn.functional.linear_cross_entropy on fixed float64 inputs "
        "(scripts/data/make_golden_linear.py)",
        "versions": {
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "cases": cases,
    }
    OUT.write_text(json.dumps(doc, indent=None, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
