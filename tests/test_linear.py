"""Unit tests of linear_cross_entropy and linear_cross_entropy_grad.

The definition is the dense one: ``softmax_cross_entropy(h @ W.T + b, target, ...)`` and its
gradient G with respect to the logits, chained by hand: d_h = G W, d_W = G^T h, d_b = G^T 1
(`_dense`). Every option and their combinations must agree with it to 1e-13 relative in
float64, with row blocks and weight-gradient slabs made small (`small_blocks`) so that every
call crosses many blocks, some of them ragged. Central differences check the chain rule
independently of that definition; the z-loss and soft-capping terms are checked against
their closed forms.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

import xentref as xr
import xentref._linear as lin

N, D, V = 13, 5, 11  # 13 rows in blocks of 3 (the last ragged), V in slabs of 4
RTOL = 1e-13


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lin, "BLOCK_BYTES", 3 * V * 8)
    monkeypatch.setattr(lin, "SLAB_BYTES", 4 * 8 * D)


def _data(seed: int = 0, dtype: Any = np.float64) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, V, N)
    y[[2, 7]] = -100
    probs = rng.dirichlet(np.ones(V), N)
    return {
        "h": rng.normal(size=(N, D)).astype(dtype),
        "w": rng.normal(size=(V, D)).astype(dtype),
        "b": rng.normal(size=V).astype(dtype),
        "y": y,
        "probs": probs.astype(dtype),
        "weight": rng.uniform(0.2, 2.0, V).astype(dtype),
    }


def _capped(z: np.ndarray, softcap: float | None) -> tuple[np.ndarray, np.ndarray]:
    if softcap is None:
        return z, np.ones_like(z)
    t = np.tanh(z / softcap)
    return softcap * t, 1 - t * t


def _dense(h: Any, w: Any, y: Any, *, linear_bias: Any = None, **kw: Any) -> tuple[Any, ...]:
    """(loss, d_h, d_W, d_b) from the dense logits, z-loss and soft-capping added by hand."""
    z_loss, softcap = kw.pop("z_loss", 0.0), kw.pop("softcap", None)
    reduction = kw.pop("reduction", "mean")
    z = h @ w.T + (0 if linear_bias is None else linear_bias)
    zc, dcap = _capped(z, softcap)
    losses = xr.softmax_cross_entropy(zc, y, reduction="none", **kw)
    g = xr.softmax_cross_entropy_grad(zc, y, reduction="sum", **kw)
    weight, ignore = kw.get("weight"), kw.get("ignore_index", -100)
    y = np.asarray(y)
    if y.shape == z.shape:
        wy = np.ones(len(z))
        denominator = len(z)
    else:
        valid = y != ignore
        wy = np.where(valid, 1.0 if weight is None else np.asarray(weight)[np.where(valid, y, 0)], 0)
        denominator = wy.sum()
    lse = xr.logsumexp(zc, axis=-1)
    losses = losses + z_loss * wy * lse**2
    g = (g + (2 * z_loss * wy * lse)[:, None] * xr.softmax(zc, axis=-1)) * dcap
    if reduction == "mean":
        loss, g = losses.sum() / denominator, g / denominator
    else:
        loss = losses if reduction == "none" else losses.sum()
    db = None if linear_bias is None else g.sum(axis=0)
    return loss, g @ w, g.T @ h, db


def _close(got: Any, want: Any, rtol: float = RTOL) -> None:
    """Equal to `rtol` relative to the largest magnitude of `want` (element-wise sums may cancel)."""
    want = np.asarray(want)
    scale = float(np.max(np.abs(want))) if want.size else 0.0
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale)


OPTIONS = {
    "bias": {},
    "weight": {"weight": True},
    "smoothing": {"label_smoothing": 0.2},
    "z_loss": {"z_loss": 1e-2},
    "softcap": {"softcap": 2.0},
}


def _kwargs(names: tuple[str, ...], d: dict[str, Any]) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    for name in names:
        for k, v in OPTIONS[name].items():
            kw[k] = d["weight"] if k == "weight" else v
    if "bias" in names:
        kw["linear_bias"] = d["b"]
    return kw


COMBOS = [c for r in range(len(OPTIONS) + 1) for c in itertools.combinations(OPTIONS, r)]


@pytest.mark.usefixtures("small_blocks")
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("soft", [False, True], ids=["indices", "probs"])
@pytest.mark.parametrize("names", COMBOS, ids=["+".join(c) or "plain" for c in COMBOS])
def test_linear_cross_entropy_equals_dense(names: tuple[str, ...], soft: bool, reduction: str) -> None:
    """Loss and all three gradients equal the dense definition, every option combination."""
    d = _data()
    target = d["probs"] if soft else d["y"]
    kw = {**_kwargs(names, d), "reduction": reduction}
    if soft:
        kw["ignore_index"] = -1
    want = _dense(d["h"], d["w"], target, **dict(kw))
    got = xr.linear_cross_entropy_grad(d["h"], d["w"], target, **kw)
    _close(xr.linear_cross_entropy(d["h"], d["w"], target, **kw), want[0])
    for g, w in zip(got, want, strict=True):
        if w is None:
            assert g is None
        else:
            assert g.shape == np.shape(w)
            _close(g, w)


@pytest.mark.usefixtures("small_blocks")
def test_linear_cross_entropy_grad_central_differences() -> None:
    """Every gradient against central differences of the loss, with every option on."""
    d = _data(1)
    kw = {"weight": d["weight"], "label_smoothing": 0.1, "z_loss": 0.05, "softcap": 3.0}
    b = d["b"]
    out = xr.linear_cross_entropy_grad(d["h"], d["w"], d["y"], linear_bias=b, **kw)
    step = 1e-6
    for name, x, g in [("h", d["h"], out.hidden), ("w", d["w"], out.linear_weight), ("b", b, out.linear_bias)]:
        num = np.empty_like(x)
        for i in np.ndindex(x.shape):
            vals = []
            for sign in (1, -1):
                x2 = x.copy()
                x2[i] += sign * step
                args = {"h": d["h"], "w": d["w"], "b": b, name: x2}
                vals.append(xr.linear_cross_entropy(args["h"], args["w"], d["y"], linear_bias=args["b"], **kw))
            num[i] = (vals[0] - vals[1]) / (2 * step)
        np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-9, err_msg=name)
