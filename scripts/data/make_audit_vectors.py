"""Write tests/data/audit.json: PyTorch, SciPy and scikit-learn on the oracle's hard cases.

The accuracy audit (docs/evidence/accuracy.md, built by scripts/site/evidence_hook.py) grades every
method against the exact mpmath values of tests/data/oracle.json. xentref, the naive formula
and Keras-style clipping are NumPy and are recomputed at build time; the peers are not
installed there, so their outputs on the same float64 inputs are recorded here, once.

Run it in the environment that scripts/data/make_golden.py uses (the peers, never xentref deps):

    /tmp/golden-venv/bin/python scripts/data/make_audit_vectors.py

Per audited oracle case: the exact peer call (dotted name and options) and its flat float64
output (non-finite values as the strings 'inf', '-inf', 'nan'), or null where the peer has
no such function; an element is null where scikit-learn's ``log_loss``, which takes hard
labels only, has nothing to say (soft BCE targets).

``torch_differences`` records finite inputs on which PyTorch itself loses digits, with the
exact value from mpmath (50 digits; mpmath is installed beside the peers for this):
``binary_cross_entropy_with_logits`` computes ``(1 - y) z - log_sigmoid(z)``, which cancels
for ``y = 0`` and ``z << 0`` (the accuracy page grades it against xentref at test time).
"""

from __future__ import annotations

import hashlib
import json
import platform
from pathlib import Path
from typing import Any

import mpmath
import numpy as np
import scipy
import scipy.special
import scipy.stats
import sklearn
import torch
import torch.nn.functional as F
from _common import dyadic_hash
from sklearn.metrics import log_loss

ROOT = Path(__file__).resolve().parents[2]
ORACLE = ROOT / "tests" / "data" / "oracle.json"
OUT = ROOT / "tests" / "data" / "audit.json"

CE_CASES = [
    "softmax_cross_entropy/logits_1e4/none/float64",
    "softmax_cross_entropy/logits_1e30/none/float64",
    "softmax_cross_entropy/classes_1e5/none/float64",
    "softmax_cross_entropy/masked/none/float64",
    "softmax_cross_entropy/confidently_wrong/none/float64",
    "softmax_cross_entropy/confidently_right/none/float64",
]
BCE_CASES = [
    "binary_cross_entropy_with_logits/saturated_grid/none/float64",
    "binary_cross_entropy_with_logits/infinite_logits/none/float64",
]
KL_CASES = ["kl_divergence/near_equal_rows/float64"]


# decode repeats tests/test_oracle.py's: this script runs in the peers' own environment,
# which has no pytest or mpmath to import that module with. The digest check below fails if
# the two ever disagree.
def decode(enc: dict[str, Any]) -> np.ndarray:
    shape = tuple(enc["shape"])
    if "generator" in enc:
        gen = enc["generator"]
        a = np.stack([dyadic_hash(gen["seed"] + r, shape[1]) for r in range(shape[0])])
        for r, c, v in gen["set"]:
            a[r, c] = v
        digest = hashlib.sha256(a.astype("<f8").tobytes()).hexdigest()
        assert digest == gen["sha256_float64"], "generated input differs from the oracle's"
        return a.astype(enc["dtype"])
    if "fill" in enc:
        return np.full(shape, float(enc["fill"]), dtype=enc["dtype"])
    values = [float(v) if isinstance(v, str) else v for v in enc["values"]]
    return np.array(values, dtype=enc["dtype"]).reshape(shape)


def enc(a: Any) -> list[float | str | None] | None:
    """Flat float64 values; None (no such call) stays None, as does a None element."""
    if a is None:
        return None
    if isinstance(a, list):
        return [None if v is None else enc(np.array([v]))[0] for v in a]  # type: ignore[index]
    flat = np.asarray(a.detach().numpy() if isinstance(a, torch.Tensor) else a, dtype=np.float64)
    return [float(v) if np.isfinite(v) else str(float(v)) for v in flat.ravel()]


def sklearn_rows(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-row log_loss of the softmax probabilities (log_loss itself only returns a mean)."""
    p = scipy.special.softmax(z, axis=-1)
    labels = np.arange(z.shape[-1])
    return np.array([log_loss([y[i]], p[i : i + 1], labels=labels) for i in range(len(y))])


def audit_ce(z: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    rows = np.arange(len(y))
    return {
        "torch": (
            "torch.nn.functional.cross_entropy(z, y, reduction='none')",
            F.cross_entropy(torch.from_numpy(z), torch.from_numpy(y), reduction="none"),
        ),
        "scipy": (
            "-scipy.special.log_softmax(z, axis=-1)[rows, y]",
            -scipy.special.log_softmax(z, axis=-1)[rows, y],
        ),
        "sklearn": (
            "sklearn.metrics.log_loss([y_i], scipy.special.softmax(z, axis=-1)[i:i+1], "
            "labels=range(C)) per row",
            sklearn_rows(z, y),
        ),
    }


def audit_bce(z: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    with np.errstate(invalid="ignore"):
        sp = -(y * scipy.special.log_expit(z) + (1 - y) * scipy.special.log_expit(-z))
    sk = [
        log_loss([int(t)], [scipy.special.expit(v)], labels=[0, 1]) if t in (0, 1) else None
        for v, t in zip(z.ravel(), y.ravel(), strict=True)
    ]
    return {
        "torch": (
            "torch.nn.functional.binary_cross_entropy_with_logits(z, y, reduction='none')",
            F.binary_cross_entropy_with_logits(
                torch.from_numpy(z), torch.from_numpy(y), reduction="none"
            ),
        ),
        "scipy": ("-(y * scipy.special.log_expit(z) + (1 - y) * scipy.special.log_expit(-z))", sp),
        "sklearn": (
            "sklearn.metrics.log_loss([y_i], [scipy.special.expit(z_i)], labels=[0, 1]) "
            "per element (hard labels only)",
            sk,
        ),
    }


def audit_kl(p: np.ndarray, q: np.ndarray) -> dict[str, Any]:
    kl = F.kl_div(torch.log(torch.from_numpy(q)), torch.from_numpy(p), reduction="none")
    return {
        "torch": (
            "torch.nn.functional.kl_div(torch.log(q), p, reduction='none').sum(-1)",
            kl.sum(-1),
        ),
        "scipy": ("scipy.stats.entropy(p, q, axis=-1)", scipy.stats.entropy(p, q, axis=-1)),
        "sklearn": ("(no KL divergence in scikit-learn)", None),
    }


def torch_differences() -> list[dict[str, Any]]:
    """PyTorch on finite inputs where its formula cancels, beside the exact value."""
    mpmath.mp.dps = 50
    z, y = np.array([-40.0, -20.0]), np.array([0.0, 0.0])
    got = F.binary_cross_entropy_with_logits(
        torch.from_numpy(z), torch.from_numpy(y), reduction="none"
    )
    # exact: y softplus(-z) + (1 - y) softplus(z), from the binary inputs
    exact = [
        mpmath.nstr(
            mpmath.mpf(t) * mpmath.log1p(mpmath.exp(-mpmath.mpf(v)))
            + (1 - mpmath.mpf(t)) * mpmath.log1p(mpmath.exp(mpmath.mpf(v))),
            30,
        )
        for v, t in zip(z, y, strict=True)
    ]
    return [
        {
            "function": "binary_cross_entropy_with_logits",
            "call": "torch.nn.functional.binary_cross_entropy_with_logits(z, y, reduction='none')",
            "logits": enc(z),
            "target": enc(y),
            "torch": enc(got),
            "exact_decimal": exact,
            "note": "torch computes (1 - y) z - log_sigmoid(z): for y = 0 that is "
            "-z - log_sigmoid(z), two numbers of size |z| whose difference is softplus(z)",
        }
    ]


def main() -> None:
    oracle = {c["id"]: c for c in json.loads(ORACLE.read_text())["cases"]}
    torch.set_default_dtype(torch.float64)
    records = []
    for cid in CE_CASES + BCE_CASES + KL_CASES:
        case = oracle[cid]
        a, b = (decode(arg) for arg in case["args"])
        kind = case["function"]
        if kind == "softmax_cross_entropy":
            peers = audit_ce(a, b)
        elif kind == "binary_cross_entropy_with_logits":
            peers = audit_bce(a, b)
        else:
            peers = audit_kl(a, b)
        records.append(
            {
                "oracle_id": cid,
                "calls": {name: call for name, (call, _) in peers.items()},
                "outputs": {name: enc(out) for name, (_, out) in peers.items()},
            }
        )
    doc = {
        "description": "PyTorch / SciPy / scikit-learn outputs on the hard cases of "
        "tests/data/oracle.json, for the accuracy audit (docs/evidence/accuracy.md)",
        "generated_by": "scripts/data/make_audit_vectors.py",
        "versions": {
            "torch": torch.__version__,
            "scipy": scipy.__version__,
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
            "mpmath": mpmath.__version__,
            "python": platform.python_version(),
        },
        "torch_differences": torch_differences(),
        "cases": records,
    }
    text = json.dumps({k: v for k, v in doc.items() if k != "cases"}, indent=1, allow_nan=False)
    text = text[:-2]
    body = ",\n".join("  " + json.dumps(r, allow_nan=False) for r in records)
    OUT.write_text(text + ',\n "cases": [\n' + body + "\n ]\n}\n", encoding="utf-8")
    print(f"wrote {len(records)} cases to {OUT}")


if __name__ == "__main__":
    main()
