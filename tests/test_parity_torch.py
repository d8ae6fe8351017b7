"""Live, randomized parity with PyTorch (skipped when torch is not installed).

Fixed-seed random shapes and options, float64 and float32, comparing xentref with torch 2.13:
the loss and its autograd gradient for softmax cross-entropy (index and probability targets,
class weights, ignore_index incl. a valid class, label smoothing, every reduction, (N, C),
(N, C, d1, ...) with ``axis=1`` and unbatched (C,)) and for BCE with logits (weight and
pos_weight broadcast in every allowed way); the loss for BCE from probabilities (away from
torch's -100 clamp) and for the focal loss (torchvision's formula, re-typed in torch because
torchvision cannot be installed beside torch 2.13; its inputs stay away from saturation,
where torchvision rounds 1 - p_t to 0). xentref has no analytic gradient for those two.

Tolerances: float64, rtol 1e-12 with an absolute floor of 1e-14 x the array's scale;
float32, rtol 2e-5 with a floor of 2e-6 x scale (two float32 computations with different
summation orders). `test_torch_max_differences` prints the largest differences measured
(``pytest -rP tests/test_parity_torch.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import xentref

torch = pytest.importorskip("torch")
F = torch.nn.functional

DTYPES = ("float64", "float32")
TOL = {"float64": (1e-12, 1e-14), "float32": (2e-5, 2e-6)}
N_CE, N_BCE, N_PROB, N_FOCAL = 48, 32, 16, 16
MAX_DIFF: dict[tuple[str, str], list[float]] = {}


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Any:
    """The tensors are tiny: one intra-op thread avoids spin-waiting on a busy 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def record(kind: str, dtype: str, got: np.ndarray, want: np.ndarray) -> None:
    """Check got ~ want (see module docstring) and keep the largest differences seen."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape
    rtol, floor = TOL[dtype]
    finite = np.isfinite(want)
    scale = float(np.max(np.abs(want[finite]))) if finite.any() else 0.0
    np.testing.assert_allclose(
        got, want, rtol=rtol, atol=floor * scale, equal_nan=True, err_msg=kind
    )
    both = finite & np.isfinite(got)
    if both.any():
        d = np.abs(got[both] - want[both])
        nz = want[both] != 0
        rel = float(np.max(d[nz] / np.abs(want[both][nz]))) if nz.any() else 0.0
        row = MAX_DIFF.setdefault((kind, dtype), [0.0, 0.0])
        row[0], row[1] = max(row[0], float(np.max(d))), max(row[1], rel)


def torch_loss_and_grad(fn: Any, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """fn(x) and the autograd gradient of its sum (for 'none', the gradient of the sum)."""
    xt = torch.tensor(x, requires_grad=True)
    out = fn(xt)
    out.sum().backward()
    return out.detach().numpy(), xt.grad.numpy()


def softmax_np(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def ce_config(seed: int) -> dict[str, Any]:
    """A random softmax cross-entropy problem (shape, target kind, every option)."""
    rng = np.random.default_rng(seed)
    c = int(rng.integers(2, 7))
    layout = rng.choice(["NC", "NCd", "NCdd", "C"])
    n = int(rng.integers(1, 6))
    shape = {"NC": (n, c), "NCd": (n, c, 3), "NCdd": (n, c, 2, 3), "C": (c,)}[layout]
    axis = 0 if layout == "C" else 1
    logits = rng.normal(0.0, 3.0, size=shape)
    if rng.random() < 0.3:
        logits *= 30.0  # large logits: confident predictions
    soft = rng.random() < 0.4
    batch = shape[:axis] + shape[axis + 1 :]
    if soft:
        target: np.ndarray = softmax_np(rng.normal(0.0, 2.0, size=shape), axis)
        ignore_index = -100
    else:
        target = rng.integers(0, c, size=batch)
        ignore_index = int(rng.choice([-100, int(rng.integers(0, c))]))
        if ignore_index == -100 and target.size > 1:
            target.flat[int(rng.integers(target.size))] = -100
    return {
        "logits": logits,
        "target": target,
        "axis": axis,
        "weight": rng.uniform(0.1, 3.0, size=c) if rng.random() < 0.5 else None,
        "ignore_index": ignore_index,
        "label_smoothing": float(rng.choice([0.0, 0.1, rng.uniform(0, 1)])),
        "reduction": str(rng.choice(["none", "mean", "sum"])),
    }


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(N_CE))
def test_torch_softmax_cross_entropy(seed: int, dtype: str) -> None:
    """Loss and gradient of F.cross_entropy, random shapes and options."""
    cfg = ce_config(seed)
    z = cfg["logits"].astype(dtype)
    target = cfg["target"].astype(dtype) if cfg["target"].dtype.kind == "f" else cfg["target"]
    w = None if cfg["weight"] is None else cfg["weight"].astype(dtype)
    opts = {k: cfg[k] for k in ("ignore_index", "label_smoothing", "reduction")}
    tw = None if w is None else torch.tensor(w)

    def fn(zt: Any) -> Any:
        return F.cross_entropy(zt, torch.tensor(target), weight=tw, **opts)

    loss, grad = torch_loss_and_grad(fn, z)
    kw = {"axis": cfg["axis"], "weight": w, **opts}
    got = xentref.softmax_cross_entropy(z, target, **kw)
    assert got.dtype == np.dtype(dtype)
    record("softmax_cross_entropy", dtype, got, loss)
    record(
        "softmax_cross_entropy_grad",
        dtype,
        xentref.softmax_cross_entropy_grad(z, target, **kw),
        grad,
    )


def broadcast_shape(rng: np.random.Generator, shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """A random shape that broadcasts to `shape` without changing it (or None)."""
    options: list[tuple[int, ...] | None] = [None, shape, shape[-1:], (1,)]
    if len(shape) >= 2:
        options += [(shape[0],) + (1,) * (len(shape) - 1), shape[-2:], (shape[-2], 1)]
    return options[int(rng.integers(len(options)))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(N_BCE))
def test_torch_bce_with_logits(seed: int, dtype: str) -> None:
    """Loss and gradient of F.binary_cross_entropy_with_logits, weight/pos_weight broadcasting."""
    rng = np.random.default_rng(1000 + seed)
    shape = [(7,), (4, 3), (2, 3, 4)][int(rng.integers(3))]
    z = rng.normal(0.0, 4.0, size=shape)
    z.flat[0] = float(rng.choice([-60.0, 60.0, -800.0, 800.0, 0.0]))  # saturated
    y = rng.uniform(size=shape) if rng.random() < 0.5 else rng.integers(0, 2, size=shape) * 1.0
    ws, ps = broadcast_shape(rng, shape), broadcast_shape(rng, shape)
    w = None if ws is None else rng.uniform(0.1, 3.0, size=ws).astype(dtype)
    pw = None if ps is None else rng.uniform(0.1, 5.0, size=ps).astype(dtype)
    red = str(rng.choice(["none", "mean", "sum"]))
    z, y = z.astype(dtype), y.astype(dtype)
    tw = None if w is None else torch.tensor(w)
    tpw = None if pw is None else torch.tensor(pw)

    def fn(zt: Any) -> Any:
        return F.binary_cross_entropy_with_logits(
            zt, torch.tensor(y), weight=tw, pos_weight=tpw, reduction=red
        )

    loss, grad = torch_loss_and_grad(fn, z)
    kw = {"weight": w, "pos_weight": pw, "reduction": red}
    got = xentref.binary_cross_entropy_with_logits(z, y, **kw)
    assert got.dtype == np.dtype(dtype)
    record("binary_cross_entropy_with_logits", dtype, got, loss)
    record(
        "binary_cross_entropy_with_logits_grad",
        dtype,
        xentref.binary_cross_entropy_with_logits_grad(z, y, **kw),
        grad,
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(N_PROB))
def test_torch_binary_cross_entropy(seed: int, dtype: str) -> None:
    """F.binary_cross_entropy from probabilities, away from its -100 clamp."""
    rng = np.random.default_rng(2000 + seed)
    shape = [(9,), (4, 3), (2, 3, 2)][int(rng.integers(3))]
    p = rng.uniform(1e-6, 1 - 1e-4, size=shape).astype(dtype)
    y = (
        rng.uniform(size=shape) if rng.random() < 0.5 else rng.integers(0, 2, size=shape) * 1.0
    ).astype(dtype)
    ws = broadcast_shape(rng, shape)
    w = None if ws is None else rng.uniform(0.1, 3.0, size=ws).astype(dtype)
    red = str(rng.choice(["none", "mean", "sum"]))
    want = F.binary_cross_entropy(
        torch.tensor(p),
        torch.tensor(y),
        weight=None if w is None else torch.tensor(w),
        reduction=red,
    )
    got = xentref.binary_cross_entropy(p, y, weight=w, reduction=red)
    assert got.dtype == np.dtype(dtype)
    record("binary_cross_entropy", dtype, got, want.numpy())


def torchvision_sigmoid_focal_loss(
    inputs: Any, targets: Any, alpha: float, gamma: float, reduction: str
) -> Any:
    """Re-typed from torchvision/ops/focal_loss.py (torchvision is not installable here)."""
    p = torch.sigmoid(inputs)
    ce_loss = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        loss = alpha_t * loss
    if reduction == "mean":
        loss = loss.mean()
    elif reduction == "sum":
        loss = loss.sum()
    return loss


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(N_FOCAL))
def test_torch_sigmoid_focal_loss(seed: int, dtype: str) -> None:
    """torchvision's sigmoid_focal_loss (re-typed), random alpha, gamma, targets, reductions."""
    rng = np.random.default_rng(3000 + seed)
    shape = [(8,), (4, 3), (2, 2, 3)][int(rng.integers(3))]
    z = rng.normal(0.0, 2.0, size=shape).astype(dtype)
    y = (
        rng.uniform(size=shape) if rng.random() < 0.5 else rng.integers(0, 2, size=shape) * 1.0
    ).astype(dtype)
    alpha = float(rng.choice([0.25, -1.0, rng.uniform(0, 1)]))
    gamma = float(rng.choice([0.0, 0.5, 1.0, 2.0, rng.uniform(0, 3)]))
    red = str(rng.choice(["none", "mean", "sum"]))
    want = torchvision_sigmoid_focal_loss(torch.tensor(z), torch.tensor(y), alpha, gamma, red)
    got = xentref.sigmoid_focal_loss(z, y, alpha=alpha, gamma=gamma, reduction=red)
    assert got.dtype == np.dtype(dtype)
    record("sigmoid_focal_loss", dtype, got, want.numpy())


def test_torch_max_differences() -> None:
    """Print the largest absolute / relative differences from torch measured above (-rP)."""
    for (kind, dtype), (a, r) in sorted(MAX_DIFF.items()):
        print(f"{kind:40s} {dtype}: max abs {a:.3g}, max rel {r:.3g}")
