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
    monkeypatch.setattr(lin, "LOGITS_BYTES", 3 * V * 8)
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


def _dense(h: Any, w: Any, y: Any, *, linear_bias: Any = None, **kw: Any) -> tuple[Any, ...]:
    """(loss, d_h, d_W, d_b): the definition, on the dense logits, chained by hand."""
    reduction = kw.pop("reduction", "mean")
    z = h @ w.T + (0 if linear_bias is None else linear_bias)
    loss = xr.softmax_cross_entropy(z, y, reduction=reduction, **kw)
    g = xr.softmax_cross_entropy_grad(z, y, reduction=reduction, **kw)
    db = None if linear_bias is None else g.sum(axis=0)
    return loss, g @ w, g.T @ h, db


def _close(got: Any, want: Any, rtol: float = RTOL) -> None:
    """Equal to `rtol` relative to the largest magnitude of `want` (sums may cancel)."""
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
def test_linear_cross_entropy_equals_dense(
    names: tuple[str, ...], soft: bool, reduction: str
) -> None:
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
    for name, x, g in [
        ("h", d["h"], out.hidden),
        ("w", d["w"], out.linear_weight),
        ("b", b, out.linear_bias),
    ]:
        num = np.empty_like(x)
        for i in np.ndindex(x.shape):
            vals = []
            for sign in (1, -1):
                x2 = x.copy()
                x2[i] += sign * step
                args = {"h": d["h"], "w": d["w"], "b": b, name: x2}
                vals.append(
                    xr.linear_cross_entropy(
                        args["h"], args["w"], d["y"], linear_bias=args["b"], **kw
                    )
                )
            num[i] = (vals[0] - vals[1]) / (2 * step)
        np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-9, err_msg=name)


def test_linear_cross_entropy_default_blocks_batch_shape_and_dtypes() -> None:
    """(..., D) hidden states, the default block size, float32 in and float32 out."""
    d = _data(2)
    h3 = d["h"][:12].reshape(3, 4, D)
    y3 = d["y"][:12].reshape(3, 4)
    got = xr.linear_cross_entropy_grad(h3, d["w"], y3, linear_bias=d["b"], reduction="none")
    want = _dense(d["h"][:12], d["w"], d["y"][:12], linear_bias=d["b"], reduction="none")
    assert got.loss.shape == (3, 4)
    assert got.hidden.shape == (3, 4, D)
    _close(got.loss.reshape(-1), want[0])
    _close(got.hidden.reshape(-1, D), want[1])
    f32 = {k: v.astype(np.float32) if k in "hwb" else v for k, v in d.items()}
    out = xr.linear_cross_entropy_grad(f32["h"], f32["w"], d["y"], linear_bias=f32["b"])
    assert {a.dtype for a in out} == {np.dtype(np.float32)}
    want = _dense(d["h"], d["w"], d["y"], linear_bias=d["b"])
    _close(out.loss, want[0], rtol=1e-6)
    for g, w in zip(out[1:], want[1:], strict=True):
        _close(g, w, rtol=2e-6)


def test_linear_cross_entropy_one_position_and_empty_batch() -> None:
    d = _data(3)
    one = xr.linear_cross_entropy_grad(d["h"][0], d["w"], d["y"][0], reduction="none")
    assert one.loss.shape == ()
    assert one.hidden.shape == (D,)
    _close(one.loss, _dense(d["h"][:1], d["w"], d["y"][:1], reduction="sum")[0])
    empty = xr.linear_cross_entropy_grad(np.zeros((0, D)), d["w"], np.zeros(0, int))
    assert np.isnan(empty.loss)
    assert empty.hidden.shape == (0, D)
    assert not np.any(empty.linear_weight)


def test_linear_cross_entropy_bfloat16_computed_in_float32() -> None:
    ml_dtypes = pytest.importorskip("ml_dtypes")
    d = _data(4)
    bf = {k: d[k].astype(ml_dtypes.bfloat16) for k in "hwb"}
    out = xr.linear_cross_entropy_grad(bf["h"], bf["w"], d["y"], linear_bias=bf["b"])
    up = {k: v.astype(np.float32) for k, v in bf.items()}
    ref = xr.linear_cross_entropy_grad(up["h"], up["w"], d["y"], linear_bias=up["b"])
    for g, r in zip(out, ref, strict=True):
        assert g.dtype == np.float32
        np.testing.assert_array_equal(g, r)


def test_linear_cross_entropy_hard_inputs() -> None:
    """Logits of 1e4 under softcap 30, and an lse of 1e3 under z-loss: finite, exact forms."""
    h = np.array([[1.0]])
    w = np.array([[1e4], [0.0], [-1e4]])
    # capped logits [30, 0, -30]: loss = lse - 30 = log1p(e^-30 + e^-60) for target 0
    got = xr.linear_cross_entropy(h, w, [0], softcap=30.0)
    _close(got, np.log1p(np.exp(-30.0) + np.exp(-60.0)), rtol=1e-15)
    g = xr.linear_cross_entropy_grad(h, w, [2], softcap=30.0)
    assert np.all(np.isfinite(g.hidden))
    assert np.all(np.isfinite(g.linear_weight))
    # lse = 1000 + log1p(e^-1000 ...) = 1000 exactly in float64: z-loss adds 1e-4 * 1e6
    w2 = np.array([[1e3], [0.0]])
    _close(xr.linear_cross_entropy(h, w2, [0], z_loss=1e-4), 100.0, rtol=1e-15)
    g2 = xr.linear_cross_entropy_grad(h, w2, [0], z_loss=1e-4)  # 2 * 1e-4 * 1000 * p_0 * h
    _close(g2.linear_weight, [[0.2], [0.0]], rtol=1e-15)


# ------------------------------------------------------------------------------------------
# Bad input
# ------------------------------------------------------------------------------------------

_H, _W, _B, _Y = np.zeros((4, 3)), np.zeros((5, 3)), np.zeros(5), np.array([0, 1, 2, 3])


@pytest.mark.parametrize("function", [xr.linear_cross_entropy, xr.linear_cross_entropy_grad])
@pytest.mark.parametrize(
    ("change", "error", "pattern"),
    [
        (
            {"linear_weight": np.zeros((5, 2))},
            ValueError,
            r"^`linear_weight` .*\(V, 3\).*\(4, 3\).*\(5, 2\)",
        ),
        ({"linear_weight": np.zeros(3)}, ValueError, r"^`linear_weight` .*got \(3,\)"),
        (
            {"linear_weight": np.zeros((0, 3))},
            ValueError,
            r"^`linear_weight` must have at least one row",
        ),
        ({"linear_bias": np.zeros(4)}, ValueError, r"^`linear_bias` .*\(5,\).*\(5, 3\).*\(4,\)"),
        (
            {"target": np.zeros(3, int)},
            ValueError,
            r"^`target` .*\(4,\).*\(4, 3\).*\(4, 5\).*\(5, 3\).*\(3,\)",
        ),
        (
            {"target": np.array([0, 1, 2, 5])},
            ValueError,
            r"^`target` must be class indices in \[0, 5\)",
        ),
        ({"weight": np.ones(4)}, ValueError, r"^`weight` .*\(5,\).*\(5, 3\).*\(4,\)"),
        (
            {"hidden": np.zeros((4, 3), int)},
            TypeError,
            r"^`hidden` must be floating point, got dtype int",
        ),
        ({"hidden": np.zeros((4, 3), bool)}, TypeError, r"^`hidden` must be floating point"),
        ({"hidden": np.float64(1.0)}, ValueError, r"^`hidden` must have at least one dimension"),
        ({"hidden": None}, TypeError, r"^`hidden` must be an array"),
        ({"hidden": [[1.0], [1.0, 2.0]]}, ValueError, r"^`hidden` must be a rectangular"),
        ({"linear_weight": np.zeros((5, 3), complex)}, TypeError, r"^`linear_weight` must be real"),
        ({"target": None}, TypeError, r"^`target`"),
        ({"z_loss": -1e-4}, ValueError, r"^`z_loss` must be a non-negative.* got -0.0001"),
        ({"z_loss": np.inf}, ValueError, r"^`z_loss` must be a non-negative finite"),
        ({"z_loss": np.nan}, ValueError, r"^`z_loss`"),
        ({"z_loss": "0.1"}, TypeError, r"^`z_loss` must be a real number"),
        ({"softcap": 0.0}, ValueError, r"^`softcap` must be a positive finite number or None"),
        ({"softcap": -30.0}, ValueError, r"^`softcap`"),
        ({"softcap": np.inf}, ValueError, r"^`softcap` must be a positive finite number or None"),
        ({"label_smoothing": 1.5}, ValueError, r"^`label_smoothing`"),
        ({"reduction": "avg"}, ValueError, r"^`reduction`"),
        ({"ignore_index": 1.0}, TypeError, r"^`ignore_index` must be an int"),
        (
            {"target": np.full((4, 5), 0.2), "ignore_index": 0},
            ValueError,
            r"^`ignore_index` applies only",
        ),
        ({"target": np.full((4, 5), 0.3)}, ValueError, r"^`target` must sum to 1"),
    ],
)
def test_linear_cross_entropy_bad_input(
    function: Any, change: dict[str, Any], error: type, pattern: str
) -> None:
    kwargs = {"hidden": _H, "linear_weight": _W, "target": _Y, "linear_bias": _B, **change}
    with pytest.raises(error, match=pattern):
        function(**kwargs)


@pytest.mark.parametrize("bf16_arg", ["hidden", "linear_weight", "linear_bias"])
def test_linear_cross_entropy_bfloat16_with_float64_names_both(bf16_arg: str) -> None:
    ml_dtypes = pytest.importorskip("ml_dtypes")
    kwargs: dict[str, Any] = {"hidden": _H, "linear_weight": _W, "linear_bias": _B}
    kwargs = {k: v.astype(np.float32) for k, v in kwargs.items()}
    kwargs[bf16_arg] = kwargs[bf16_arg].astype(ml_dtypes.bfloat16)
    other = "linear_weight" if bf16_arg == "hidden" else "hidden"
    kwargs[other] = kwargs[other].astype(np.float64)
    with pytest.raises(TypeError, match=rf"^`{bf16_arg}` is bfloat16 but `{other}` is float64"):
        xr.linear_cross_entropy(target=_Y, **kwargs)
