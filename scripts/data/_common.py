"""What the test-data generators share: the dyadic input generator and the JSON layout.

Imported by the scripts beside it (``python scripts/data/make_*.py`` puts this folder on
``sys.path``); it needs NumPy alone, so it also runs in the peers' environment of
``make_audit_vectors.py`` and ``make_golden*.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


def dyadic_hash(seed: int, n: int) -> np.ndarray:
    """Return n pseudo-random logits in [-8, 8), multiples of 2**-20 (exact in float32).

    Knuth's multiplicative hash of the index, so the values depend on no RNG library:
    ``m = (k * 2654435761 + seed * 2654435769) mod 2**32``, value = ``((m >> 8) - 2**23) / 2**20``.
    tests/test_oracle.py carries the same lines (the tests import no script).
    """
    k = np.arange(n, dtype=np.uint64)
    m = (k * np.uint64(2654435761) + np.uint64(seed) * np.uint64(2654435769)) % np.uint64(2**32)
    return ((m >> np.uint64(8)).astype(np.int64) - 2**23).astype(np.float64) * 2.0**-20


def encode_array(a: Any) -> dict[str, Any]:
    """An array (or torch tensor) as dtype, shape and flat values; inf and NaN as strings."""
    if hasattr(a, "detach"):  # a torch tensor, without importing torch here
        a = a.detach().numpy()
    a = np.asarray(a)
    if a.dtype.kind == "f":
        values: list[Any] = [float(v) if np.isfinite(v) else str(float(v)) for v in a.ravel()]
    elif a.dtype.kind == "b":
        values = [bool(v) for v in a.ravel()]
    else:
        values = [int(v) for v in a.ravel()]
    return {"dtype": str(a.dtype), "shape": list(a.shape), "values": values}


def write_json(path: Path, doc: dict[str, Any]) -> None:
    """Strict JSON (no NaN literals), one case per line so that diffs stay readable."""
    head = {k: v for k, v in doc.items() if k != "cases"}
    text = json.dumps(head, indent=1, allow_nan=False)[:-2]
    body = ",\n".join("  " + json.dumps(c, allow_nan=False) for c in doc["cases"])
    path.write_text(text + ',\n "cases": [\n' + body + "\n ]\n}\n")
