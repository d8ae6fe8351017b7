"""xentref against PyTorch, scikit-learn and SciPy outputs recorded in tests/data/golden.json.

The golden values were produced by scripts/data/make_golden.py (torch 2.13.0, scikit-learn 1.9.1,
SciPy 1.17.1; versions are in the file) on fixed float64 inputs, so this module needs none of
those libraries. Each case records the peer call in the peer's conventions; `run_xentref`
translates it (torch's class dimension 1 -> ``axis=1``, ``kl_div(log q, p)`` -> per-row
``kl_divergence(p, q)`` then torch's reduction, ``log_loss`` -> per-sample
``cross_entropy(onehot, proba)`` then its average, ...).

Tolerance for "equal" cases: ``rtol = 1e-12`` elementwise, plus an absolute floor of
``1e-14`` times the largest magnitude in the array (gradient entries such as
``softmax - target`` are differences of O(1) numbers, rounded differently by each library).
Where xentref deliberately differs (PyTorch's -100 clamp in BCE, its NaN at infinite logits
and for a soft target of 0 on a -inf logit, torchvision's focal loss at saturation,
scikit-learn's eps clipping, torch.logsumexp's lost tail) the test asserts the documented
difference. `test_parity_max_differences` prints the largest differences measured
(``pytest -rP tests/test_parity.py``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import xentref

GOLDEN = json.loads((Path(__file__).parent / "data" / "golden.json").read_text())
CASES = GOLDEN["cases"]
RTOL = 1e-12
ATOL_SCALE = 1e-14


def decode(enc: dict[str, Any]) -> np.ndarray:
    values = [float(v) if isinstance(v, str) else v for v in enc["values"]]
    return np.array(values, dtype=enc["dtype"]).reshape(enc["shape"])


def options(case: dict[str, Any]) -> dict[str, Any]:
    return {k: decode(v) if isinstance(v, dict) else v for k, v in case["options"].items()}


def run_xentref(case: dict[str, Any]) -> tuple[np.ndarray, np.ndarray | None]:
    """Translate the peer call of `case` into xentref; return (output, gradient or None)."""
    peer = case["peer"]
    x = {k: decode(v) for k, v in case["inputs"].items()}
    o = options(case)
    if peer == "torch.nn.functional.cross_entropy":
        z = x["input"]
        kw = {
            "axis": 1 if z.ndim >= 2 else 0,  # torch: class dim 1, or 0 for unbatched (C,)
            "weight": o.get("weight"),
            "ignore_index": o.get("ignore_index", -100),
            "label_smoothing": o.get("label_smoothing", 0.0),
            "reduction": o["reduction"],
        }
        return (
            xentref.softmax_cross_entropy(z, x["target"], **kw),
            xentref.softmax_cross_entropy_grad(z, x["target"], **kw),
        )
    if peer == "torch.nn.functional.binary_cross_entropy":
        kw = {"weight": o.get("weight"), "reduction": o["reduction"]}
        return xentref.binary_cross_entropy(x["input"], x["target"], **kw), None
    if peer == "torch.nn.functional.binary_cross_entropy_with_logits":
        kw = {
            "weight": o.get("weight"),
            "pos_weight": o.get("pos_weight"),
            "reduction": o["reduction"],
        }
        return (
            xentref.binary_cross_entropy_with_logits(x["input"], x["target"], **kw),
            xentref.binary_cross_entropy_with_logits_grad(x["input"], x["target"], **kw),
        )
    if peer == "torch.nn.functional.kl_div":
        # kl_div(input=log q, target=p) sums p (log p - log q): KL(p || q) with the order reversed.
        rows = xentref.kl_divergence(x["target"], x["q"], axis=-1)
        den = {"sum": 1, "batchmean": x["input"].shape[0], "mean": x["input"].size}[o["reduction"]]
        return np.asarray(np.sum(rows) / den), None
    if peer.startswith("torchvision.ops.sigmoid_focal_loss"):
        kw = {"alpha": o["alpha"], "gamma": o["gamma"], "reduction": o["reduction"]}
        return xentref.sigmoid_focal_loss(x["inputs"], x["targets"], **kw), None
    if peer == "sklearn.metrics.log_loss":
        y, proba = x["y_true"], x["y_proba"]
        if proba.ndim == 1:  # P(larger label) for a binary problem
            per = xentref.binary_cross_entropy(proba, y.astype(np.float64), reduction="none")
        else:
            onehot = (y[:, None] == np.asarray(o["labels"])[None, :]).astype(np.float64)
            per = xentref.cross_entropy(onehot, proba, axis=-1)
        sw = o.get("sample_weight")
        if o.get("normalize", True):
            return np.asarray(np.average(per, weights=sw)), None
        return np.asarray(np.sum(per if sw is None else per * sw)), None
    if peer == "scipy.special.logsumexp":
        return xentref.logsumexp(x["a"], axis=o["axis"], keepdims=o.get("keepdims", False)), None
    if peer in ("scipy.special.softmax", "scipy.special.log_softmax"):
        return getattr(xentref, peer.rsplit(".", 1)[1])(x["x"], axis=o["axis"]), None
    if peer == "scipy.stats.entropy":
        if "qk" in x:
            return xentref.kl_divergence(x["pk"], x["qk"], axis=o["axis"], base=o["base"]), None
        return xentref.entropy(x["pk"], axis=o["axis"], base=o["base"]), None
    if peer == "torch.logsumexp":
        return xentref.logsumexp(x["input"], axis=o["dim"], keepdims=o["keepdim"]), None
    if peer in ("torch.log_softmax", "torch.softmax"):
        return getattr(xentref, peer.rsplit(".", 1)[1])(x["input"], axis=o["dim"]), None
    raise AssertionError(f"no translation for {peer}")


def differences(got: np.ndarray, want: np.ndarray) -> tuple[float, float]:
    """Max absolute and max relative difference over finite, equal-class elements."""
    both = np.isfinite(got) & np.isfinite(want)
    if not both.any():
        return 0.0, 0.0
    d = np.abs(got[both] - want[both])
    nz = want[both] != 0
    rel = float(np.max(d[nz] / np.abs(want[both][nz]))) if nz.any() else 0.0
    return float(np.max(d)), rel


def assert_close(got: np.ndarray, want: np.ndarray, what: str) -> None:
    """rtol 1e-12 plus an absolute floor of 1e-14 x the array's scale; NaN/inf must match."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    finite = want[np.isfinite(want)]
    scale = float(np.max(np.abs(finite))) if finite.size else 0.0
    np.testing.assert_allclose(
        got, want, rtol=RTOL, atol=ATOL_SCALE * scale, equal_nan=True, err_msg=what
    )


def check_case(case: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Assert the case's relation; return (xentref output, peer output, xentref gradient)."""
    got, grad = run_xentref(case)
    got = np.asarray(got, dtype=np.float64)
    peer = decode(case["output"])
    relation = case["relation"]
    expected = decode(case["xentref_expected"]) if "xentref_expected" in case else None
    if relation == "equal":
        assert_close(got, peer, "output")
    elif relation == "torch_nan_soft_zero_at_masked":
        # PyTorch: 0 * log(0) = 0 * -inf = NaN. xentref: 0 log 0 = 0, i.e. the loss without
        # the masked classes.
        assert np.isnan(peer).all()
        assert_close(got, expected, "output vs the loss with the masked classes removed")
    elif relation == "torch_bce_clamp_100":
        clamped = expected > 100
        assert np.all(peer[clamped] == 100.0), "PyTorch clamps each -log term at 100"
        assert_close(got, expected, "xentref is unclamped")
        assert_close(got[~clamped], peer[~clamped], "agree below the clamp")
    elif relation == "torch_nan_at_infinite_logits":
        nan = np.isnan(peer)
        assert nan[:3].all(), "PyTorch: NaN at (-inf, 0), (-inf, 1), (+inf, 1) (and (-inf, 0.25))"
        assert np.array_equal(got, expected), "xentref returns the exact limits"
        assert np.array_equal(got[~nan], peer[~nan])
    elif relation == "torchvision_focal_saturation":
        assert np.all(peer == 0.0), "torchvision's 1 - p_t rounds to 0"
        assert np.all(got > 0)
        assert_close(got, expected, "the true tiny focal loss")
    elif relation == "sklearn_clip_eps":
        assert np.isfinite(peer).all(), "scikit-learn clips to [eps, 1 - eps]"
        assert np.array_equal(got, expected), "xentref: a probability of 0 for the label costs inf"
    elif relation == "torch_logsumexp_drops_tail":
        x = decode(case["inputs"]["input"])
        assert np.array_equal(peer, np.max(x, axis=case["options"]["dim"])), "torch loses the tail"
        assert_close(got, expected, "log1p(tail) kept")
    else:
        raise AssertionError(f"unknown relation {relation}")
    if "grad" in case:
        assert grad is not None, "xentref has a gradient for this peer"
        assert_close(grad, decode(case["grad"]), "gradient")
    return got, peer, grad


def test_golden_provenance() -> None:
    """The golden file names its generator and the peer versions it recorded."""
    assert GOLDEN["generated_by"] == "scripts/data/make_golden.py"
    versions = GOLDEN["versions"]
    assert versions["torch"].startswith("2.13.0")
    assert versions["scikit-learn"] == "1.9.1"
    assert versions["scipy"] == "1.17.1"


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_parity(case: dict[str, Any]) -> None:
    """xentref equals the peer (rtol 1e-12), or differs from it exactly as documented."""
    check_case(case)


def test_parity_max_differences() -> None:
    """Print the largest output/gradient differences per peer library (pytest -rP)."""
    table: dict[str, list[float]] = {}
    for case in CASES:
        got, peer, grad = check_case(case)
        lib = case["peer"].split(".")[0]
        row = table.setdefault(lib, [0.0, 0.0, 0.0, 0.0])
        if case["relation"] == "equal":
            a, r = differences(got, peer)
            row[0], row[1] = max(row[0], a), max(row[1], r)
        if grad is not None and "grad" in case:
            a, r = differences(np.asarray(grad), decode(case["grad"]))
            row[2], row[3] = max(row[2], a), max(row[3], r)
    for lib, (a, r, ga, gr) in sorted(table.items()):
        print(
            f"{lib:12s} output: max abs {a:.3g}, max rel {r:.3g}; gradient: max abs {ga:.3g}, "
            f"max rel {gr:.3g}"
        )
    assert table
