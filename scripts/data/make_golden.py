"""Write tests/data/golden.json: what PyTorch, scikit-learn and SciPy return on fixed inputs.

Run it in a separate virtual environment that holds the peers (they are not xentref
dependencies, not even development ones):

    python3 -m venv /tmp/golden-venv
    /tmp/golden-venv/bin/pip install torch==2.13.0 scikit-learn==1.9.1 scipy==1.17.1 numpy==2.4.6
    /tmp/golden-venv/bin/python scripts/data/make_golden.py

Every case records the peer call (its dotted name and keyword options, in the peer's own
conventions), the float64 inputs and outputs (``repr`` precision; non-finite values as the
strings 'inf', '-inf', 'nan'), the autograd gradient where the peer has one, and the
`relation` that tests/test_parity.py asserts: "equal" (same value up to rounding), or the
name of a documented difference, with `xentref_expected` computed by an independent route.

torchvision is not installable beside torch 2.13.0 (it pins another torch), so
``torchvision.ops.sigmoid_focal_loss`` is re-typed below from torchvision's
``torchvision/ops/focal_loss.py`` (same ten lines; research/peers.md did the same) and run
on torch 2.13.0. Inputs come from ``numpy.random.default_rng`` with fixed seeds; they are
stored, so the file does not depend on the generator's stream.
"""

from __future__ import annotations

import math
import platform
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import scipy
import scipy.special
import scipy.stats
import sklearn
import torch
import torch.nn.functional as F
from _common import encode_array as enc
from _common import write_json
from sklearn.metrics import log_loss

OUT = Path(__file__).resolve().parents[2] / "tests" / "data" / "golden.json"
torch.set_default_dtype(torch.float64)
CASES: list[dict[str, Any]] = []


def torchvision_sigmoid_focal_loss(
    inputs: torch.Tensor,
    targets: torch.Tensor,
    alpha: float = 0.25,
    gamma: float = 2,
    reduction: str = "none",
) -> torch.Tensor:
    """Re-typed from torchvision/ops/focal_loss.py (torchvision is not installable here)."""
    p = torch.sigmoid(inputs)
    ce_loss = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        loss = alpha_t * loss
    if reduction == "none":
        pass
    elif reduction == "mean":
        loss = loss.mean()
    elif reduction == "sum":
        loss = loss.sum()
    return loss


def add(
    case_id: str,
    peer: str,
    inputs: dict[str, Any],
    options: dict[str, Any],
    output: Any,
    grad: Any = None,
    relation: str = "equal",
    note: str = "",
    xentref_expected: Any = None,
) -> None:
    opts = {
        k: enc(v) if isinstance(v, (np.ndarray, torch.Tensor)) else v for k, v in options.items()
    }
    case: dict[str, Any] = {
        "id": case_id,
        "peer": peer,
        "inputs": {k: enc(v) for k, v in inputs.items()},
        "options": opts,
        "output": enc(output),
    }
    if grad is not None:
        case["grad"] = enc(grad)
    case["relation"] = relation
    if xentref_expected is not None:
        case["xentref_expected"] = enc(xentref_expected)
    if note:
        case["note"] = note
    CASES.append(case)


def t(a: Any, **kw: Any) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a), **kw)


def autograd(fn: Any, x: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Loss and d(sum of loss)/dx by autograd (for 'none', the gradient of the sum)."""
    xt = t(x).clone().requires_grad_(True)
    out = fn(xt)
    out.sum().backward()
    return out.detach(), xt.grad


rng = np.random.default_rng(20260501)


def softmax_rows(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return scipy.special.softmax(x, axis=axis)


# ---- torch.nn.functional.cross_entropy: every option combination -------------------------------
N, C = 6, 4
X = rng.normal(0.0, 2.0, size=(N, C))
Y_IDX = np.array([0, 3, -100, 1, 2, 1])  # one row ignored with the default ignore_index
Y_IDX1 = np.array([0, 3, 1, 1, 2, 1])  # for ignore_index=1: rows 2, 3 and 5 ignored
P_SOFT = softmax_rows(rng.normal(0.0, 1.5, size=(N, C)))
W = np.array([0.5, 2.0, 1.0, 3.0])
CE = "torch.nn.functional.cross_entropy"
for tkind in ("index", "soft"):
    for wname, w in (("noweight", None), ("weight", W)):
        for ls in (0.0, 0.1):
            ignores = (-100, 1) if tkind == "index" else (-100,)
            for ign in ignores:
                for red in ("none", "mean", "sum"):
                    target = t(P_SOFT) if tkind == "soft" else t(Y_IDX if ign == -100 else Y_IDX1)
                    opts = {
                        "weight": w,
                        "ignore_index": ign,
                        "label_smoothing": ls,
                        "reduction": red,
                    }
                    kw = {**opts, "weight": None if w is None else t(w)}
                    out, g = autograd(
                        lambda z, target=target, kw=kw: F.cross_entropy(z, target, **kw), X
                    )
                    cid = f"cross_entropy/{tkind}/{wname}/ls{ls}/ignore{ign}/{red}"
                    add(cid, CE, {"input": X, "target": target}, opts, out, g)

# K-dim (N, C, d1, d2), class dim 1
XK = rng.normal(0.0, 2.0, size=(2, 3, 4, 5))
YK = rng.integers(0, 3, size=(2, 4, 5))
YK[0, 1, 2] = YK[1, 3, 4] = -100
PK = softmax_rows(rng.normal(size=(2, 3, 4, 5)), axis=1)
WK = np.array([1.5, 0.25, 1.0])
for tkind, target in (("index", YK), ("soft", PK)):
    for red in ("none", "mean", "sum"):
        for wname, w, ls in (("plain", None, 0.0), ("weight_ls", WK, 0.2)):
            opts = {"weight": w, "label_smoothing": ls, "reduction": red}
            kw = {**opts, "weight": None if w is None else t(w)}
            tt = t(target)
            out, g = autograd(lambda z, tt=tt, kw=kw: F.cross_entropy(z, tt, **kw), XK)
            add(
                f"cross_entropy/kdim/{tkind}/{wname}/{red}",
                CE,
                {"input": XK, "target": target},
                opts,
                out,
                g,
                note="(N, C, d1, d2): xentref axis=1",
            )

# unbatched (C,)
XU = rng.normal(0.0, 2.0, size=5)
for tkind, target in (("index", np.array(3)), ("soft", softmax_rows(rng.normal(size=5)))):
    for red in ("none", "mean", "sum"):
        opts = {"weight": None, "label_smoothing": 0.05, "reduction": red}
        tt = t(target)
        out, g = autograd(
            lambda z, tt=tt, red=red: F.cross_entropy(z, tt, label_smoothing=0.05, reduction=red),
            XU,
        )
        add(
            f"cross_entropy/unbatched/{tkind}/{red}",
            CE,
            {"input": XU, "target": target},
            opts,
            out,
            g,
            note="unbatched (C,) input: class dim 0",
        )

# all targets ignored: mean is NaN (0/0), sum 0, gradient 0
Y_ALL = np.full(N, -100)
for red in ("none", "mean", "sum"):
    for wname, w, ls in (("plain", None, 0.0), ("weight_ls", W, 0.1)):
        opts = {"weight": w, "label_smoothing": ls, "reduction": red}
        kw = {**opts, "weight": None if w is None else t(w)}
        out, g = autograd(lambda z, kw=kw: F.cross_entropy(z, t(Y_ALL), **kw), X)
        add(
            f"cross_entropy/all_ignored/{wname}/{red}",
            CE,
            {"input": X, "target": Y_ALL},
            opts,
            out,
            g,
            note="every target ignored: mean = NaN (PyTorch's choice), gradient 0",
        )

# -inf logits (masked classes)
XM = X.copy()
XM[:, 2] = -np.inf
XM[5, 0] = -np.inf
YM = np.array([0, 3, 1, 1, 3, 1])
for red in ("none", "mean"):
    out, g = autograd(lambda z, red=red: F.cross_entropy(z, t(YM), reduction=red), XM)
    add(
        f"cross_entropy/masked/index/{red}",
        CE,
        {"input": XM, "target": YM},
        {"reduction": red},
        out,
        g,
        note="-inf logits with index targets: finite loss, zero gradient there",
    )
PM = P_SOFT.copy()
PM[:, 2] = 0.0
PM[5, 0] = 0.0
PM /= PM.sum(axis=1, keepdims=True)
keep = [0, 1, 3]
for red in ("none", "mean"):
    out, g = autograd(lambda z, red=red: F.cross_entropy(z, t(PM), reduction=red), XM)
    # The masked class removed (column 2; row 5 has a second -inf logit at target 0): torch can
    # compute that, and it is the value of the loss with 0 log 0 = 0.
    per_row = []
    for r in range(N):
        cols = [c for c in range(C) if np.isfinite(XM[r, c])]
        per_row.append(F.cross_entropy(t(XM[r, cols]), t(PM[r, cols]), reduction="sum").item())
    ref = np.array(per_row) if red == "none" else np.array(np.mean(per_row))
    add(
        f"cross_entropy/masked/soft_zero/{red}",
        CE,
        {"input": XM, "target": PM},
        {"reduction": red},
        out,
        g,
        relation="torch_nan_soft_zero_at_masked",
        xentref_expected=ref,
        note="soft target 0 on a -inf logit: PyTorch computes 0 * -inf = NaN; xentref uses "
        "0 log 0 = 0, equal to PyTorch's loss with the masked classes removed",
    )

# ---- torch.nn.functional.binary_cross_entropy (from probabilities) ----------------------------
PB = rng.uniform(0.02, 0.98, size=(5, 3))
YB = np.round(rng.uniform(size=(5, 3)) * 4) / 4  # hard and soft targets
for wname, w in (
    ("noweight", None),
    ("weight_elem", rng.uniform(0.5, 2, size=(5, 3))),
    ("weight_class", np.array([0.5, 1.0, 2.0])),
    ("weight_row", np.array([[2.0], [1.0], [0.5], [1.5], [3.0]])),
):
    for red in ("none", "mean", "sum"):
        out = F.binary_cross_entropy(
            t(PB), t(YB), weight=None if w is None else t(w), reduction=red
        )
        add(
            f"binary_cross_entropy/{wname}/{red}",
            "torch.nn.functional.binary_cross_entropy",
            {"input": PB, "target": YB},
            {"weight": w, "reduction": red},
            out,
        )
PCL = np.array([0.0, 0.0, 1.0, 1.0, 1e-50, 1.0 - 2.0**-53, 1e-44, 0.5])
YCL = np.array([1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0])
out = F.binary_cross_entropy(t(PCL), t(YCL), reduction="none")
with np.errstate(divide="ignore", invalid="ignore"):
    exact = -(
        np.where(YCL > 0, YCL * np.log(PCL), 0) + np.where(YCL < 1, (1 - YCL) * np.log1p(-PCL), 0)
    )
add(
    "binary_cross_entropy/clamped/none",
    "torch.nn.functional.binary_cross_entropy",
    {"input": PCL, "target": YCL},
    {"reduction": "none"},
    out,
    relation="torch_bce_clamp_100",
    xentref_expected=exact,
    note="PyTorch clamps each log at -100: p = 0 or p < e^-100 costs 100; xentref is exact "
    "(inf at p = 0, y = 1; 115.13 at p = 1e-50)",
)

# ---- torch.nn.functional.binary_cross_entropy_with_logits (+ autograd) ------------------------
ZL = rng.normal(0.0, 3.0, size=(4, 3))
ZL[0, 0], ZL[1, 1], ZL[2, 2], ZL[3, 0] = 40.0, -40.0, 800.0, -800.0
YL = np.round(rng.uniform(size=(4, 3)) * 4) / 4
BL = "torch.nn.functional.binary_cross_entropy_with_logits"
weights = (
    ("noweight", None),
    ("weight_elem", rng.uniform(0.5, 2, size=(4, 3))),
    ("weight_class", np.array([0.5, 1.0, 2.0])),
    ("weight_row", np.array([[2.0], [1.0], [0.5], [1.5]])),
)
pos_weights = (
    ("nopw", None),
    ("pw_class", np.array([1.0, 3.0, 0.25])),
    ("pw_scalar", np.array([2.5])),
)
for wname, w in weights:
    for pname, pw in pos_weights:
        for red in ("none", "mean", "sum"):
            kw = {
                "weight": None if w is None else t(w),
                "pos_weight": None if pw is None else t(pw),
                "reduction": red,
            }
            out, g = autograd(
                lambda z, kw=kw: F.binary_cross_entropy_with_logits(z, t(YL), **kw), ZL
            )
            add(
                f"bce_with_logits/{wname}/{pname}/{red}",
                BL,
                {"input": ZL, "target": YL},
                {"weight": w, "pos_weight": pw, "reduction": red},
                out,
                g,
            )
ZI = np.array([-np.inf, -np.inf, np.inf, np.inf, np.inf, -np.inf])
YI = np.array([0.0, 1.0, 1.0, 0.0, 0.5, 0.25])
out = F.binary_cross_entropy_with_logits(t(ZI), t(YI), reduction="none")
limit = np.array([0.0, np.inf, 0.0, np.inf, np.inf, np.inf])
add(
    "bce_with_logits/infinite_logits/none",
    BL,
    {"input": ZI, "target": YI},
    {"reduction": "none"},
    out,
    relation="torch_nan_at_infinite_logits",
    xentref_expected=limit,
    note="PyTorch returns NaN for (z, y) = (-inf, 0), (-inf, 1), (+inf, 1) "
    "(pytorch/pytorch#49844); xentref returns the limits 0, inf, 0",
)

# ---- torch.nn.functional.kl_div vs kl_divergence -----------------------------------------------
PKL = softmax_rows(rng.normal(size=(4, 5)))
QKL = softmax_rows(rng.normal(size=(4, 5)))
PKL[1, 3] = 0.0
PKL[1] /= PKL[1].sum()
LOGQ = torch.log(t(QKL))
for red in ("sum", "batchmean", "mean"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 'mean' warns that it is not the KL divergence
        out = F.kl_div(LOGQ, t(PKL), reduction=red)
    add(
        f"kl_div/{red}",
        "torch.nn.functional.kl_div",
        {"input": LOGQ, "target": PKL, "q": QKL},
        {"reduction": red, "log_target": False},
        out,
        note="kl_div(input=log q, target=p) is KL(p || q), arguments reversed; 'mean' divides by "
        "numel (N C), 'batchmean' by N; q is the array whose torch.log is input",
    )

# ---- torchvision.ops.sigmoid_focal_loss (re-typed) ---------------------------------------------
ZF = rng.normal(0.0, 2.0, size=(4, 3))
YF = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 0.3], [0.0, 0.0, 1.0], [0.9, 1.0, 0.0]])
FOCAL = "torchvision.ops.sigmoid_focal_loss (re-typed from torchvision/ops/focal_loss.py)"
for alpha in (0.25, -1.0):
    for gamma in (0.0, 0.5, 2.0):
        for red in ("none", "mean", "sum"):
            out = torchvision_sigmoid_focal_loss(
                t(ZF), t(YF), alpha=alpha, gamma=gamma, reduction=red
            )
            add(
                f"focal/alpha{alpha}/gamma{gamma}/{red}",
                FOCAL,
                {"inputs": ZF, "targets": YF},
                {"alpha": alpha, "gamma": gamma, "reduction": red},
                out,
            )
ZS = np.array([50.0, -50.0, 40.0])
YS = np.array([1.0, 0.0, 1.0])
out = torchvision_sigmoid_focal_loss(t(ZS), t(YS), alpha=0.25, gamma=2.0)
sp = np.log1p(np.exp(-np.abs(ZS)))  # softplus(-|z|) = BCE here; 1 - p_t = sigmoid(-|z|)
true = 0.25 * sp * (np.exp(-np.abs(ZS)) / (1 + np.exp(-np.abs(ZS)))) ** 2
true[1] *= 0.75 / 0.25
add(
    "focal/saturated/none",
    FOCAL,
    {"inputs": ZS, "targets": YS},
    {"alpha": 0.25, "gamma": 2.0, "reduction": "none"},
    out,
    relation="torchvision_focal_saturation",
    xentref_expected=true,
    note="torchvision forms 1 - p_t by subtraction, which is 0 once sigmoid rounds to 1, so "
    "the loss is 0; xentref keeps 1 - p_t = sigmoid(-|z|) and the true tiny loss",
)

# ---- scikit-learn log_loss ---------------------------------------------------------------------
PS = softmax_rows(rng.normal(0.0, 1.5, size=(8, 3)))
YS3 = np.array([0, 1, 2, 2, 1, 0, 0, 2])
SW = rng.uniform(0.5, 3.0, size=8)
LL = "sklearn.metrics.log_loss"
for norm in (True, False):
    for swname, sw in (("nosw", None), ("sample_weight", SW)):
        out = log_loss(YS3, PS, normalize=norm, sample_weight=sw, labels=[0, 1, 2])
        add(
            f"log_loss/multiclass/normalize{norm}/{swname}",
            LL,
            {"y_true": YS3, "y_proba": PS},
            {"normalize": norm, "sample_weight": sw, "labels": [0, 1, 2]},
            np.array(out),
        )
PBIN = rng.uniform(0.05, 0.95, size=7)
YBIN = np.array([0, 1, 1, 0, 1, 0, 1])
for norm in (True, False):
    out = log_loss(YBIN, PBIN, normalize=norm)
    add(
        f"log_loss/binary/normalize{norm}",
        LL,
        {"y_true": YBIN, "y_proba": PBIN},
        {"normalize": norm},
        np.array(out),
        note="1-D y_proba is P(label 1)",
    )
PCLIP = np.array([[1.0, 0.0], [0.0, 1.0]])
YCLIP = np.array([1, 1])
out = log_loss(YCLIP, PCLIP, labels=[0, 1])
add(
    "log_loss/clipped",
    LL,
    {"y_true": YCLIP, "y_proba": PCLIP},
    {"normalize": True, "labels": [0, 1]},
    np.array(out),
    relation="sklearn_clip_eps",
    xentref_expected=np.array(np.inf),
    note="scikit-learn clips y_proba to [eps, 1 - eps] (eps = float64 machine epsilon): "
    "-log(2.22e-16)/2 = 18.02 where the true mean log loss is inf",
)

# ---- SciPy ---------------------------------------------------------------------------------------
XS = rng.normal(0.0, 3.0, size=(3, 4))
XS[1, 1] = -np.inf
for axis in (-1, 0):
    for keep in (False, True):
        out = scipy.special.logsumexp(XS, axis=axis, keepdims=keep)
        add(
            f"scipy_logsumexp/axis{axis}/keepdims{keep}",
            "scipy.special.logsumexp",
            {"a": XS},
            {"axis": axis, "keepdims": keep},
            out,
        )
    for fn in ("softmax", "log_softmax"):
        out = getattr(scipy.special, fn)(XS, axis=axis)
        add(f"scipy_{fn}/axis{axis}", f"scipy.special.{fn}", {"x": XS}, {"axis": axis}, out)
HARD = np.array([[0.0, -40.0], [1000.0, 1000.0], [-745.0, -750.0], [-np.inf, -np.inf]])
add(
    "scipy_logsumexp/hard",
    "scipy.special.logsumexp",
    {"a": HARD},
    {"axis": -1},
    scipy.special.logsumexp(HARD, axis=-1),
    note="log1p tail (scipy#18295); all -inf -> -inf",
)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    out = scipy.special.log_softmax(HARD[:3], axis=-1)
add("scipy_log_softmax/hard", "scipy.special.log_softmax", {"x": HARD[:3]}, {"axis": -1}, out)
PE = softmax_rows(rng.normal(size=(5, 3)), axis=0)
QE = softmax_rows(rng.normal(size=(5, 3)), axis=0)
PE[2, 1] = 0.0
PE[:, 1] /= PE[:, 1].sum()
for base in (None, 2.0):
    add(
        f"scipy_entropy/base{base}",
        "scipy.stats.entropy",
        {"pk": PE},
        {"base": base, "axis": 0},
        scipy.stats.entropy(PE, base=base, axis=0),
    )
    add(
        f"scipy_entropy/qk/base{base}",
        "scipy.stats.entropy",
        {"pk": PE, "qk": QE},
        {"base": base, "axis": 0},
        scipy.stats.entropy(PE, QE, base=base, axis=0),
        note="the qk form is KL(pk || qk)",
    )

# ---- torch.logsumexp / log_softmax / softmax ---------------------------------------------------
for dim in (1, 0):
    add(
        f"torch_logsumexp/dim{dim}",
        "torch.logsumexp",
        {"input": XS},
        {"dim": dim, "keepdim": False},
        torch.logsumexp(t(XS), dim=dim),
    )
    add(
        f"torch_log_softmax/dim{dim}",
        "torch.log_softmax",
        {"input": XS},
        {"dim": dim},
        torch.log_softmax(t(XS), dim=dim),
    )
    add(
        f"torch_softmax/dim{dim}",
        "torch.softmax",
        {"input": XS},
        {"dim": dim},
        torch.softmax(t(XS), dim=dim),
    )
TAIL = np.array([[0.0, -50.0], [10.0, -30.0]])
add(
    "torch_logsumexp/tail",
    "torch.logsumexp",
    {"input": TAIL},
    {"dim": 1, "keepdim": False},
    torch.logsumexp(t(TAIL), dim=1),
    relation="torch_logsumexp_drops_tail",
    xentref_expected=np.array([math.log1p(math.exp(-50.0)), 10.0 + math.log1p(math.exp(-40.0))]),
    note="torch.logsumexp computes m + log(sum(exp(x - m))) and rounds a tail below 2^-53 "
    "away; xentref keeps log1p(tail)",
)


def main() -> None:
    ids = [c["id"] for c in CASES]
    if len(set(ids)) != len(ids):
        raise SystemExit("duplicate case ids")
    doc = {
        "description": "PyTorch / scikit-learn / SciPy outputs on fixed float64 inputs, for "
        "tests/test_parity.py.",
        "generated_by": "scripts/data/make_golden.py",
        "versions": {
            "torch": torch.__version__,
            "scikit-learn": sklearn.__version__,
            "scipy": scipy.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
            "torchvision": "not installed (incompatible with torch 2.13.0); "
            "sigmoid_focal_loss re-typed from torchvision/ops/focal_loss.py",
        },
        "conventions": "float64 throughout; arrays as {dtype, shape, values} in C order, "
        "non-finite values as strings; 'grad' is the autograd gradient of the output's sum "
        "w.r.t. the first input; options use the peer's own names",
        "cases": CASES,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    write_json(OUT, doc)
    print(f"wrote {len(CASES)} cases to {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
