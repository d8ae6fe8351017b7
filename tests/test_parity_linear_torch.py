"""Live parity with ``torch.nn.functional.linear_cross_entropy`` (skipped without torch).

Both of PyTorch 2.13's paths, in float64: the reference path (``options=None``: the logits
built whole, then ``cross_entropy``) and the chunked path
(``options=nn.LinearCrossEntropyOptions()``, and with ``batch_chunk_size=4`` so that a small
batch crosses several chunks), for every option PyTorch has: bias, class weights,
ignore_index (the default -100 and a valid class), label smoothing, the three reductions and
probability targets. The loss and the autograd gradients with respect to the input, the
weight and the bias (for "none", of the sum: ``loss.backward(torch.ones_like(loss))``) must
equal xentref's to rtol 1e-12, with an absolute floor of 1e-14 times the array's scale.

The chunked path supports a subset: for label smoothing and probability targets (a float
target) PyTorch 2.13 warns "``options`` ignored" and takes the reference path; the test
expects that warning (pytest runs with ``filterwarnings = error``), so a PyTorch that starts
to chunk those cases, or stops, shows up here. PyTorch has no z-loss and no soft-capping.
"""

from __future__ import annotations

import itertools
import warnings
from typing import Any

import numpy as np
import pytest

import xentref

torch = pytest.importorskip("torch")
F = torch.nn.functional
nn = torch.nn

RTOL, FLOOR = 1e-12, 1e-14
N, D, V = 10, 6, 9
MAX_DIFF: dict[str, float] = {}


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Any:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _data(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, V, N)
    y[[1, 6]] = -100
    return {
        "h": rng.normal(size=(N, D)),
        "w": rng.normal(size=(V, D)),
        "b": rng.normal(size=V),
        "y": y,
        "y_valid": rng.integers(0, V, N),  # for ignore_index = a valid class
        "probs": rng.dirichlet(np.ones(V), N),
        "weight": rng.uniform(0.2, 2.0, V),
    }


def _check(path: str, got: Any, want: Any) -> None:
    want = want.detach().numpy() if isinstance(want, torch.Tensor) else np.asarray(want)
    got = np.asarray(got)
    assert got.shape == want.shape
    scale = float(np.max(np.abs(want))) if want.size else 0.0
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=FLOOR * scale)
    diff = np.abs(got - want) / np.maximum(np.abs(want), FLOOR * max(scale, 1e-300))
    MAX_DIFF[path] = max(MAX_DIFF.get(path, 0.0), float(np.max(diff, initial=0.0)))


def _torch(d: dict[str, Any], target: Any, kw: dict[str, Any], options: Any) -> list[Any]:
    h = torch.tensor(d["h"], requires_grad=True)
    w = torch.tensor(d["w"], requires_grad=True)
    b = torch.tensor(d["b"], requires_grad=True) if kw.get("bias") else None
    tkw: dict[str, Any] = {"reduction": kw["reduction"], "linear_bias": b}
    if "weight" in kw:
        tkw["weight"] = torch.tensor(kw["weight"])
    if "label_smoothing" in kw:
        tkw["label_smoothing"] = kw["label_smoothing"]
    if "ignore_index" in kw:
        tkw["ignore_index"] = kw["ignore_index"]
    loss = F.linear_cross_entropy(h, w, torch.tensor(target), options=options, **tkw)
    loss.backward(torch.ones_like(loss))
    return [loss, h.grad, w.grad, None if b is None else b.grad]


def _falls_back(kw: dict[str, Any], soft: bool) -> bool:
    """PyTorch 2.13's chunked path: int64 targets and no label smoothing only."""
    return soft or kw.get("label_smoothing", 0.0) != 0.0


OPTIONS = ["bias", "weight", "smoothing", "ignore_valid"]
COMBOS = [c for r in range(len(OPTIONS) + 1) for c in itertools.combinations(OPTIONS, r)]
# ignore_index applies only to class-index targets
CASES = [(c, soft) for c in COMBOS for soft in (False, True) if not (soft and "ignore_valid" in c)]
PATHS = {
    "reference": lambda: None,
    "chunked": lambda: nn.LinearCrossEntropyOptions(),
    "chunked_4": lambda: nn.LinearCrossEntropyOptions(batch_chunk_size=4),
}


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize(
    ("names", "soft"),
    CASES,
    ids=[("+".join(c) or "plain") + ("-probs" if s else "") for c, s in CASES],
)
def test_torch_linear_cross_entropy(
    names: tuple[str, ...], soft: bool, reduction: str, path: str
) -> None:
    d = _data(len(names) * 7 + soft)
    kw: dict[str, Any] = {"reduction": reduction, "bias": "bias" in names}
    if "weight" in names:
        kw["weight"] = d["weight"]
    if "smoothing" in names:
        kw["label_smoothing"] = 0.15
    target = d["probs"] if soft else d["y"]
    if "ignore_valid" in names:
        kw["ignore_index"] = 3
        target = d["y_valid"]
    options = PATHS[path]()
    if options is not None and _falls_back(kw, soft):
        with pytest.warns(UserWarning, match="``options`` ignored"):
            want = _torch(d, target, kw, options)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            want = _torch(d, target, kw, options)
    xkw = {k: v for k, v in kw.items() if k != "bias"}
    bias = d["b"] if kw["bias"] else None
    got = xentref.linear_cross_entropy_grad(d["h"], d["w"], target, linear_bias=bias, **xkw)
    loss = xentref.linear_cross_entropy(d["h"], d["w"], target, linear_bias=bias, **xkw)
    _check(path, loss, want[0])
    for g, t in zip(got, want, strict=True):
        if t is None:
            assert g is None
        else:
            _check(path, g, t)


def test_torch_linear_cross_entropy_chunked_path_is_taken() -> None:
    """Without smoothing and with int64 targets the chunked op runs: no warning, other kernel."""
    d = _data(0)
    h = torch.tensor(d["h"], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = F.linear_cross_entropy(
            h, torch.tensor(d["w"]), torch.tensor(d["y"]), options=nn.LinearCrossEntropyOptions()
        )
    assert "linear_cross_entropy" in str(loss.grad_fn).lower()  # the custom op's backward


def test_torch_linear_max_differences() -> None:
    """Print the largest relative differences per path (``pytest -rP``)."""
    for path, diff in sorted(MAX_DIFF.items()):
        print(f"{path}: max relative difference {diff:.2e}")
        assert diff <= RTOL
