"""xentref's linear cross-entropy against PyTorch outputs recorded in tests/data/golden_linear.json.

scripts/data/make_golden_linear.py ran ``torch.nn.functional.linear_cross_entropy`` (torch 2.13, its
version is in the file) on fixed float64 inputs, on the reference path (``options=None``) and,
where PyTorch chunks (int64 targets, no label smoothing), on the chunked path with
``batch_chunk_size=4``; this module needs no torch. Loss and gradients with respect to the
input, weight and bias must agree to ``rtol = 1e-12`` with an absolute floor of ``1e-14``
times the array's largest magnitude.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import xentref

GOLDEN = json.loads((Path(__file__).parent / "data" / "golden_linear.json").read_text())
CASES = GOLDEN["cases"]


def decode(enc: dict[str, Any] | None) -> np.ndarray | None:
    if enc is None:
        return None
    return np.array(enc["values"], dtype=enc["dtype"]).reshape(enc["shape"])


def _close(got: Any, want: Any) -> None:
    scale = float(np.max(np.abs(want))) if np.size(want) else 0.0
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14 * scale)


def test_golden_linear_covers_both_paths_and_every_option() -> None:
    paths = {c["path"] for c in CASES}
    assert paths == {"reference", "chunked"}
    assert {c["options"]["reduction"] for c in CASES} == {"mean", "sum", "none"}
    assert any(c["options"]["label_smoothing"] > 0 for c in CASES)
    assert any(c["weight"] is not None for c in CASES)
    assert any(c["target"]["dtype"] == "float64" for c in CASES)  # probabilities
    assert any(c["options"]["ignore_index"] is not None for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=[f"{i}-{c['path']}" for i, c in enumerate(CASES)])
def test_golden_linear_cross_entropy(case: dict[str, Any]) -> None:
    opts = case["options"]
    kw: dict[str, Any] = {
        "linear_bias": decode(case["linear_bias"]),
        "weight": decode(case["weight"]),
        "label_smoothing": opts["label_smoothing"],
        "reduction": opts["reduction"],
    }
    if opts["ignore_index"] is not None:
        kw["ignore_index"] = opts["ignore_index"]
    args = decode(case["hidden"]), decode(case["linear_weight"]), decode(case["target"])
    loss = xentref.linear_cross_entropy(*args, **kw)
    got = xentref.linear_cross_entropy_grad(*args, **kw)
    _close(loss, decode(case["loss"]))
    _close(got.loss, decode(case["loss"]))
    _close(got.hidden, decode(case["grad_hidden"]))
    _close(got.linear_weight, decode(case["grad_linear_weight"]))
    want_b = decode(case["grad_linear_bias"])
    if want_b is None:
        assert got.linear_bias is None
    else:
        _close(got.linear_bias, want_b)
