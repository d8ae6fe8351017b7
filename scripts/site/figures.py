"""Draw every figure of the xentref site as a deterministic SVG.

Usage::

    python scripts/site/figures.py --out build/figures            # all figures
    python scripts/site/figures.py --out /tmp/figs log-loss       # some of them

The MkDocs hook (``scripts/site/mkdocs_hooks.py``) runs this at build time and publishes the files
as ``figures/<name>.svg``; nothing here is committed. Every curve of a loss is computed with
xentref's own functions, so a figure cannot disagree with the library it illustrates.

``FIGURES`` is the single registry: name -> alt text, caption and drawing function. Pages use
the caption; the hook fills the alt text of ``![](../figures/<name>.svg)`` from it; tests can
import it (``scripts`` is not a package: load it with ``runpy`` or ``importlib``).

Determinism: Agg backend, fixed ``svg.hashsalt`` (stable clip-path and glyph ids), no date,
no creator string, DejaVu Sans (shipped with matplotlib) drawn as paths so the result does
not depend on the reader's fonts, seeded random numbers only. Two runs give identical bytes.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

import xentref

# Okabe-Ito colours: distinguishable with every common colour-vision deficiency; curves also
# differ by line style so that no information is carried by colour alone.
BLUE, ORANGE, GREEN, PINK, SKY, YELLOW, GREY = (
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#E69F00",
    "#555555",
)
LN2 = float(np.log(2.0))
GAMMA = "\N{GREEK SMALL LETTER GAMMA}"

RC = {
    "svg.hashsalt": "xentref",
    "svg.fonttype": "path",
    "font.family": "DejaVu Sans",
    "mathtext.fontset": "dejavusans",
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#d0d0d0",
    "grid.linewidth": 0.6,
    "lines.linewidth": 2.2,
    "legend.frameon": False,
    "figure.dpi": 96,
    "path.simplify": True,
    "axes.prop_cycle": matplotlib.cycler(color=[BLUE, ORANGE, GREEN, PINK, SKY, YELLOW]),
}


@dataclass(frozen=True)
class FigureSpec:
    """One figure: what a screen reader hears, what the page prints below it, how to draw it."""

    alt: str
    caption: str
    draw: Callable[[], Figure]
    title: str


def _figure(width: float = 6.4, height: float = 4.0, **kwargs: object) -> Figure:
    return plt.figure(figsize=(width, height), layout="constrained", **kwargs)


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


# --------------------------------------------------------------------------- drawings


def draw_log_loss() -> Figure:
    q = np.linspace(0.005, 1.0, 400)
    loss = xentref.binary_cross_entropy(q, np.ones_like(q), reduction="none")
    fig = _figure()
    ax = fig.add_subplot()
    ax.plot(q, loss, color=BLUE, label=r"$-\log q$")
    # Labels sit at fixed data positions, clear of the curve and of each other (the q = 0.5
    # and q = 0.9 labels are on different heights), each joined to its point by a thin line.
    for qi, xy_text, ha in (
        (0.1, (0.15, 2.75), "left"),
        (0.5, (0.55, 1.45), "left"),
        (0.9, (0.99, 0.8), "right"),
    ):
        li = float(xentref.binary_cross_entropy(np.array([qi]), np.array([1.0]), reduction="sum"))
        ax.plot([qi], [li], "o", color=ORANGE, markersize=6)
        ax.annotate(
            f"q = {qi}: {li:.3f} nats",
            (qi, li),
            xytext=xy_text,
            textcoords="data",
            ha=ha,
            va="bottom",
            fontsize=10,
            arrowprops={
                "arrowstyle": "-",
                "color": GREY,
                "linewidth": 0.8,
                "shrinkA": 1,
                "shrinkB": 4,
            },
        )
    ax.set(
        xlim=(0, 1.02),
        ylim=(0, 5.5),
        xlabel="probability q given to the class that occurred",
        ylabel="loss (nats)",
        title="Log loss: confident mistakes cost without bound",
    )
    ax.legend(loc="upper right")
    return fig


def draw_binary_entropy() -> Figure:
    p = np.linspace(0.0, 1.0, 401)
    h = xentref.entropy(np.stack([p, 1.0 - p], axis=-1), base=2)
    fig = _figure()
    ax = fig.add_subplot()
    ax.plot(p, h, color=BLUE, label=r"$H(p) = -p\log_2 p - (1-p)\log_2(1-p)$")
    ax.plot([0.5], [1.0], "o", color=ORANGE)
    ax.annotate("1 bit at p = 0.5", (0.5, 1.0), xytext=(12, -18), textcoords="offset points")
    ax.set(
        xlim=(0, 1),
        ylim=(0, 1.15),
        xlabel="p = probability of outcome 1",
        ylabel="entropy (bits)",
        title="Entropy of a coin with bias p",
    )
    ax.legend(loc="lower center")
    return fig


def _two_point_grid(n: int, lo: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    p = np.linspace(0.0, 1.0, n)
    q = np.linspace(lo, 1.0 - lo, n)
    pp, qq = np.meshgrid(p, q, indexing="xy")
    # In nats, like the numbers the Cross-entropy page prints below the figures.
    h = xentref.cross_entropy(np.stack([pp, 1.0 - pp], axis=-1), np.stack([qq, 1.0 - qq], axis=-1))
    return pp, qq, h


def draw_cross_entropy_surface() -> Figure:
    pp, qq, h = _two_point_grid(21, 0.02)
    fig = _figure(6.4, 5.0)
    ax = fig.add_subplot(projection="3d", computed_zorder=False)
    ax.plot_surface(
        pp,
        qq,
        h,
        cmap="viridis",
        rstride=1,
        cstride=1,
        linewidth=0.2,
        edgecolor="#ffffff55",
        antialiased=True,
        vmin=0.0,
        vmax=float(h.max()),
    )
    d = np.linspace(0.02, 0.98, 60)
    hd = xentref.entropy(np.stack([d, 1.0 - d], axis=-1))
    ax.plot(
        d, d, hd + 0.02, color=ORANGE, linewidth=3, label=r"$q = p$: $H(p, p) = H(p)$", zorder=10
    )
    ax.set(
        xlabel="p (true)",
        ylabel="q (model)",
        zlabel="H(p, q) (nats)",
        title="Cross-entropy of two coins",
    )
    ax.view_init(elev=32, azim=-60)
    ax.legend(loc="upper left")
    ax.xaxis.pane.set_alpha(0.0)
    ax.yaxis.pane.set_alpha(0.0)
    ax.zaxis.pane.set_alpha(0.0)
    return fig


def draw_cross_entropy_contour() -> Figure:
    pp, qq, h = _two_point_grid(81, 0.005)
    fig = _figure(6.0, 4.8)
    ax = fig.add_subplot()
    levels = [0, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4, 5]
    filled = ax.contourf(pp, qq, h, levels=levels, cmap="viridis", extend="max")
    lines = ax.contour(pp, qq, h, levels=levels[1:], colors="white", linewidths=0.6)
    ax.clabel(lines, fmt="%g", fontsize=8)
    ax.plot(
        [0, 1],
        [0, 1],
        "--",
        color=ORANGE,
        linewidth=2.4,
        label="q = p: minimum over q, equal to H(p)",
    )
    ax.set(
        xlabel="p = true probability of outcome 1",
        ylabel="q = model probability of outcome 1",
        title="H(p, q) in nats; for each p the valley lies on q = p",
        aspect="equal",
    )
    ax.grid(False)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), frameon=True, facecolor="white")
    fig.colorbar(filled, ax=ax, label="H(p, q) (nats)")
    return fig


def draw_kl_divergence() -> Figure:
    p = 0.3
    q = np.linspace(0.005, 0.995, 400)
    pv = np.broadcast_to([p, 1.0 - p], (q.size, 2))
    qv = np.stack([q, 1.0 - q], axis=-1)
    forward = xentref.kl_divergence(pv, qv)
    reverse = xentref.kl_divergence(qv, pv)
    fig = _figure()
    ax = fig.add_subplot()
    ax.plot(q, forward, color=BLUE, label=r"$D_{KL}(p \,\|\, q)$")
    ax.plot(q, reverse, "--", color=ORANGE, label=r"$D_{KL}(q \,\|\, p)$")
    ax.axvline(p, color=GREY, linewidth=1, linestyle=":")
    ax.annotate(
        "both are 0 only\nat q = p = 0.3",
        (p, 0.0),
        xytext=(0.36, 0.9),
        arrowprops={"arrowstyle": "->", "color": GREY},
    )
    ax.set(
        xlim=(0, 1),
        ylim=(0, 2.0),
        xlabel="q = model probability of outcome 1 (true p = 0.3)",
        ylabel="divergence (nats)",
        title="KL divergence is non-negative and not symmetric",
    )
    ax.legend(loc="upper center")
    return fig


def draw_losses_vs_margin() -> Figure:
    m = np.linspace(-3.0, 3.0, 601)
    log_loss = xentref.binary_cross_entropy_with_logits(m, np.ones_like(m), reduction="none") / LN2
    fig = _figure()
    ax = fig.add_subplot()
    ax.plot(m, log_loss, color=BLUE, label=r"log loss $\log_2(1 + e^{-m})$")
    ax.plot(m, (1.0 - m) ** 2, "--", color=ORANGE, label=r"squared error $(1 - m)^2$")
    ax.plot(m, np.maximum(0.0, 1.0 - m), "-.", color=GREEN, label=r"hinge $\max(0, 1 - m)$")
    ax.step(m, (m <= 0).astype(float), ":", color=PINK, where="post", label="0-1 loss")
    ax.set(
        xlim=(-3, 3),
        ylim=(0, 4.5),
        xlabel="margin m = y·f(x) with labels y = ±1",
        ylabel="loss",
        title="Surrogate losses against the margin",
    )
    ax.legend(loc="upper right")
    return fig


def draw_sigmoid_gradients() -> Figure:
    z = np.linspace(-8.0, 8.0, 801)
    y = np.ones_like(z)
    ce = np.abs(xentref.binary_cross_entropy_with_logits_grad(z, y, reduction="none"))
    s = xentref.sigmoid(z)
    mse = np.abs(2.0 * (s - y) * s * (1.0 - s))
    fig = _figure()
    ax = fig.add_subplot()
    ax.plot(z, ce, color=BLUE, label=r"cross-entropy: $|\sigma(z) - y|$")
    ax.plot(
        z,
        mse,
        "--",
        color=ORANGE,
        label=r"squared error on $\sigma(z)$: $|2(\sigma - y)\,\sigma(1-\sigma)|$",
    )
    ax.annotate(
        "confidently wrong:\nsquared error barely learns",
        (-6, float(mse[100])),
        xytext=(-7.6, 0.45),
        arrowprops={"arrowstyle": "->", "color": GREY},
    )
    ax.set(
        xlim=(-8, 8),
        ylim=(0, 1.1),
        xlabel="logit z (true label y = 1)",
        ylabel="|dL/dz|",
        title="Gradient through a sigmoid",
    )
    ax.legend(loc="upper right")
    return fig


def draw_focal_loss() -> Figure:
    pt = np.linspace(0.001, 0.999, 500)
    z = _logit(pt)
    fig = _figure()
    ax = fig.add_subplot()
    styles = ["-", "--", "-.", ":", (0, (5, 1, 1, 1))]
    for gamma, style in zip((0.0, 0.5, 1.0, 2.0, 5.0), styles, strict=True):
        loss = xentref.sigmoid_focal_loss(
            z, np.ones_like(z), alpha=-1.0, gamma=gamma, reduction="none"
        )
        label = f"{GAMMA} = 0 (cross-entropy)" if gamma == 0 else f"{GAMMA} = {gamma:g}"
        ax.plot(pt, loss, linestyle=style, label=label)
    ax.axvspan(0.6, 1.0, color=GREY, alpha=0.08, linewidth=0)
    ax.text(0.8, 2.2, "well-classified\nexamples", ha="center", fontsize=10)
    ax.set(
        xlim=(0, 1),
        ylim=(0, 5),
        xlabel=r"probability of the true class $q_t$",
        ylabel="loss (nats)",
        title=r"Focal loss $-(1-q_t)^\gamma \log q_t$",
    )
    ax.legend(loc="upper right")
    return fig


def focal_minimiser(pi: np.ndarray, gamma: float, n: int = 20001) -> np.ndarray:
    """The probability q* that minimises the expected focal loss (no alpha), for each pi.

    The label is 1 with probability pi; the expected loss pi FL(z, 1) + (1 - pi) FL(z, 0) is
    evaluated with xentref.sigmoid_focal_loss on a grid of n probabilities in (0, 1).
    """
    q = np.linspace(0.0, 1.0, n + 2)[1:-1]
    z = _logit(q)
    pos = xentref.sigmoid_focal_loss(z, np.ones_like(z), alpha=-1.0, gamma=gamma)
    neg = xentref.sigmoid_focal_loss(z, np.zeros_like(z), alpha=-1.0, gamma=gamma)
    expected = pi[:, None] * pos[None, :] + (1.0 - pi[:, None]) * neg[None, :]
    return np.asarray(q[np.argmin(expected, axis=1)])


def draw_focal_minimiser() -> Figure:
    pi = np.linspace(0.0, 1.0, 101)
    fig = _figure()
    ax = fig.add_subplot()
    styles = ["-", "--", "-.", ":", (0, (5, 1, 1, 1))]
    for gamma, style in zip((0.0, 0.5, 1.0, 2.0, 5.0), styles, strict=True):
        label = f"{GAMMA} = 0 (cross-entropy: q* = π)" if gamma == 0 else f"{GAMMA} = {gamma:g}"
        ax.plot(pi, focal_minimiser(pi, gamma, 4001), linestyle=style, label=label)
    q_star = float(focal_minimiser(np.array([0.9]), 2.0)[0])
    ax.plot([0.9], [q_star], "o", color=GREY)
    ax.annotate(
        f"π = 0.9, {GAMMA} = 2:\nq* = {q_star:.3f}",
        (0.9, q_star),
        xytext=(0.62, 0.28),
        arrowprops={"arrowstyle": "->", "color": GREY},
        fontsize=10,
    )
    ax.set(
        xlim=(0, 1),
        ylim=(0, 1),
        aspect="equal",
        xlabel="π = true probability that the label is 1",
        ylabel="q* = prediction with the least expected loss",
        title="Focal loss is minimised short of the truth",
    )
    ax.legend(loc="upper left", fontsize=9)
    return fig


def draw_softmax_temperature() -> Figure:
    logits = np.array([2.0, 1.0, 0.2, -1.0])
    temperatures = (0.5, 1.0, 2.0, 5.0)
    fig = _figure()
    ax = fig.add_subplot()
    width = 0.2
    hatches = ["", "//", "..", "xx"]
    x = np.arange(logits.size)
    for i, t in enumerate(temperatures):
        probs = xentref.softmax(logits / t)
        ax.bar(
            x + (i - 1.5) * width,
            probs,
            width,
            label=f"T = {t:g}",
            hatch=hatches[i],
            edgecolor="white",
        )
    ax.axhline(1 / logits.size, color=GREY, linewidth=1, linestyle=":")
    ax.text(3.42, 1 / logits.size + 0.015, "uniform", ha="right", fontsize=9, color=GREY)
    ax.set_xticks(x, [f"class {k}\nz = {v:g}" for k, v in enumerate(logits)])
    ax.set(ylim=(0, 1), ylabel="softmax(z / T)", title="Temperature flattens or sharpens a softmax")
    ax.grid(axis="x", visible=False)
    ax.legend(loc="upper right")
    return fig


def _calibration_data() -> tuple[np.ndarray, np.ndarray]:
    """An over-confident classifier on synthetic data (seeded): logits 2.5x too large."""
    rng = np.random.default_rng(20170614)  # Guo et al., arXiv 1706.04599
    n, c = 6000, 5
    true_logits = rng.normal(0.0, 1.3, size=(n, c))
    true_probs = xentref.softmax(true_logits)
    target = (rng.random((n, 1)) > np.cumsum(true_probs, axis=-1)).sum(axis=-1)
    return 2.5 * true_logits, np.minimum(target, c - 1)


def _reliability(ax: plt.Axes, probs: np.ndarray, target: np.ndarray, title: str) -> None:
    n_bins = 15
    conf = probs.max(axis=-1)
    correct = probs.argmax(axis=-1) == target
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    counts = np.bincount(idx, minlength=n_bins)
    acc = np.bincount(idx, weights=correct, minlength=n_bins) / np.maximum(counts, 1)
    mean_conf = np.bincount(idx, weights=conf, minlength=n_bins) / np.maximum(counts, 1)
    mid = (edges[:-1] + edges[1:]) / 2
    has = counts >= 10  # a bin of a handful of examples says nothing; it still counts in the ECE
    ax.bar(
        mid[has], acc[has], 1 / n_bins, color=BLUE, edgecolor="white", label="accuracy of the bin"
    )
    ax.bar(
        mid[has],
        (mean_conf - acc)[has],
        1 / n_bins,
        bottom=acc[has],
        facecolor="none",
        edgecolor=ORANGE,
        hatch="///",
        linewidth=1.0,
        label="gap to mean confidence",
    )
    ax.plot([0, 1], [0, 1], "--", color=GREY, linewidth=1.4, label="perfect calibration")
    ece = xentref.expected_calibration_error(probs, target, n_bins=n_bins)
    ax.set(
        xlim=(0, 1),
        ylim=(0, 1),
        aspect="equal",
        xlabel="confidence (max probability)",
        title=f"{title}\nECE = {100 * ece:.1f}%",
    )


def draw_reliability_diagram() -> Figure:
    logits, target = _calibration_data()
    t = xentref.fit_temperature(logits, target)
    fig = _figure(8.0, 4.8)
    left, right = fig.subplots(1, 2, sharey=True)
    _reliability(left, xentref.softmax(logits), target, "before: T = 1")
    _reliability(
        right, xentref.softmax(logits / t), target, f"after temperature scaling: T = {t:.2f}"
    )
    left.set_ylabel("accuracy")
    handles, labels = left.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=3, fontsize=10)
    return fig


# --------------------------------------------------------------------------- linear cross-entropy

BENCH_RESULTS = Path(__file__).resolve().parents[1] / "bench_results.json"


def draw_linear_memory() -> Figure:
    """Peak extra memory of loss + gradients against N, from the committed benchmark run."""
    linear = json.loads(BENCH_RESULTS.read_text(encoding="utf-8"))["linear"]
    shape = linear["shape"]
    fig = _figure(6.4, 4.2)
    ax = fig.add_subplot()
    styles = {
        "xentref": ("xentref", BLUE, "-", "o"),
        "torch_chunked": ("PyTorch chunked", ORANGE, "--", "s"),
        "torch_unchunked": ("PyTorch unchunked", GREEN, ":", "^"),
    }
    for name, (label, color, ls, marker) in styles.items():
        points = sorted((int(n), m["rss_extra_bytes"]) for n, m in linear["memory"][name].items())
        ns, extra = zip(*points, strict=True)
        ax.plot(ns, np.array(extra) / 2**20, color=color, ls=ls, marker=marker, label=label)
    results = sorted((int(n), m["result_bytes"]) for n, m in linear["memory"]["xentref"].items())
    ns, result = zip(*results, strict=True)
    ax.plot(ns, np.array(result) / 2**20, color=GREY, ls=(0, (1, 3)), label="the gradients alone")
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="N (token positions)",
        ylabel="peak extra memory (MiB)",
        title=f"Loss + gradients, D = {shape['D']}, V = {shape['V']:,}, float32",
    )
    ax.set_xticks(ns, [f"{n:,}" for n in ns])
    ax.minorticks_off()
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=2, fontsize=9)
    return fig


def _bfloat16_round(x: np.ndarray) -> np.ndarray:
    """Round float64 values to bfloat16 (to nearest, ties to even), returned as float64."""
    bits = x.astype(np.float32).view(np.uint32)
    bits = (bits + np.uint32(0x7FFF) + ((bits >> 16) & np.uint32(1))) & np.uint32(0xFFFF0000)
    return bits.view(np.float32).astype(np.float64)


def draw_linear_dweight_error() -> Figure:
    """Error of d_W against float64 by accumulation scheme, against the number of row blocks."""
    rng = np.random.default_rng(1)
    n, d, v = 4096, 32, 512
    h = rng.normal(size=(n, d)).astype(np.float32)
    w = (rng.normal(size=(v, d)) / np.sqrt(d)).astype(np.float32)
    y = rng.integers(0, v, n)
    g64 = xentref.softmax_cross_entropy_grad(h.astype(np.float64) @ w.T.astype(np.float64), y)
    g32 = g64.astype(np.float32)
    exact = g64.T @ h
    schemes = {
        "bfloat16 sums of exact block products": ("bf16", BLUE, "-", "o"),
        "float32 products, float32 sums (xentref, PyTorch chunked)": ("f32", ORANGE, "--", "s"),
        "float32 products, float64 sums": ("f32-f64", SKY, (0, (5, 1)), "v"),
        "float64 products, one float32 rounding per block": ("f64-f32", GREEN, "-.", "D"),
        "float64 products, float64 sums": ("f64", PINK, ":", "^"),
    }
    blocks = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
    fig = _figure(6.8, 4.6)
    ax = fig.add_subplot()
    for label, (kind, color, ls, marker) in schemes.items():
        errors = []
        for k in blocks:
            acc = np.zeros((v, d))
            for rows in np.array_split(np.arange(n), k):
                if kind.startswith("f32"):  # a float32 matrix product
                    product = (g32[rows].T @ h[rows]).astype(np.float64)
                else:  # exact products, float64 sums
                    product = g32[rows].astype(np.float64).T @ h[rows].astype(np.float64)
                acc = acc + product
                if kind == "bf16":
                    acc = _bfloat16_round(acc)
                elif kind in ("f32", "f64-f32"):
                    acc = acc.astype(np.float32).astype(np.float64)
            errors.append(float(np.max(np.abs(acc - exact)) / np.max(np.abs(exact))))
        ax.plot(blocks, np.maximum(errors, 1e-17), color=color, ls=ls, marker=marker, label=label)
    ax.set(
        xscale="log",
        yscale="log",
        xlabel=f"number of row blocks (N = {n:,} rows)",
        ylabel="max |error| / max |d_W|",
        title="Weight gradient against float64",
    )
    ax.set_xticks(blocks, [str(k) for k in blocks])
    ax.minorticks_off()
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=1, fontsize=9)
    return fig


FIGURES: dict[str, FigureSpec] = {
    "log-loss": FigureSpec(
        alt="Curve of minus log q for q from 0 to 1: it is 0 at q = 1, 0.105 nats at q = 0.9, "
        "0.693 at q = 0.5, 2.303 at q = 0.1, and rises without bound as q approaches 0.",
        caption="The loss of a single prediction is $-\\log q$, where $q$ is the probability the "
        "model gave to what actually happened. Being sure and wrong costs without bound.",
        draw=draw_log_loss,
        title="Log loss",
    ),
    "binary-entropy": FigureSpec(
        alt="Binary entropy in bits against p: an arch that is 0 at p = 0 and p = 1 and peaks "
        "at 1 bit at p = 0.5, symmetric about 0.5.",
        caption="Entropy of a coin that lands 1 with probability $p$, computed with "
        "`xentref.entropy(..., base=2)`. A fair coin carries one bit; a certain one carries none.",
        draw=draw_binary_entropy,
        title="Binary entropy",
    ),
    "cross-entropy-surface": FigureSpec(
        alt="3-D surface of the cross-entropy H(p, q) in nats over true probability p and model "
        "probability q. The surface rises steeply where q nears 0 or 1 away from p; a "
        "highlighted curve along the diagonal q = p traces the binary entropy, the lowest point "
        "of every slice.",
        caption="Cross-entropy $H(p, q)$ between two coins. Along the diagonal $q = p$ it equals "
        "the entropy $H(p)$, and for each $p$ that is its minimum over $q$ (Gibbs' inequality).",
        draw=draw_cross_entropy_surface,
        title="Cross-entropy surface",
    ),
    "cross-entropy-contour": FigureSpec(
        alt="Filled contour map of H(p, q) in nats with p on the horizontal axis and q on the "
        "vertical axis. Values are small near the dashed diagonal q = p and grow toward the "
        "top-left and bottom-right corners, where the model is confidently wrong.",
        caption="The same cross-entropy as a map. Every vertical slice (fixed $p$) has its "
        "valley on the dashed line $q = p$, where $H(p, q) = H(p)$.",
        draw=draw_cross_entropy_contour,
        title="Cross-entropy contour map",
    ),
    "kl-divergence": FigureSpec(
        alt="Two curves against q for a true coin with p = 0.3: KL(p||q) solid and KL(q||p) "
        "dashed. Both are zero at q = 0.3 and positive elsewhere, and they differ, so KL is not "
        "symmetric.",
        caption="KL divergence between coins with $p = 0.3$ and $q$, both directions, computed "
        "with `xentref.kl_divergence`. It is zero only when $q = p$ and depends on the order.",
        draw=draw_kl_divergence,
        title="KL divergence",
    ),
    "losses-vs-margin": FigureSpec(
        alt="Four losses against the margin m from -3 to 3: the 0-1 step (1 for m <= 0), hinge "
        "max(0, 1 - m), squared error (1 - m) squared which rises again for m > 1, and log loss "
        "in bits, smooth, equal to 1 at m = 0 and decreasing toward 0.",
        caption="Losses for labels $y = \\pm 1$ as functions of the margin $m = y f(x)$. Log loss "
        "(in bits, so it passes through 1 at $m = 0$) is a smooth, convex upper bound of the 0-1 "
        "loss and, unlike squared error, never penalises being right with a large margin.",
        draw=draw_losses_vs_margin,
        title="Losses against the margin",
    ),
    "sigmoid-gradients": FigureSpec(
        alt="Gradient magnitude against the logit z for a positive example. Cross-entropy's "
        "gradient is near 1 for very negative z and falls smoothly to 0; squared error on the "
        "sigmoid output is near 0 for very negative z, peaks below 0.3 and falls to 0.",
        caption="How hard each loss pushes a logit $z$ whose label is 1. Through a sigmoid, "
        "cross-entropy's gradient is $\\sigma(z) - y$: largest when the model is most wrong. "
        "Squared error multiplies it by $\\sigma'(z)$, which vanishes exactly there.",
        draw=draw_sigmoid_gradients,
        title="Gradients through a sigmoid",
    ),
    "focal-loss": FigureSpec(
        alt="Focal loss against the probability of the true class for gamma 0, 0.5, 1, 2 and 5. "
        "All curves rise as the probability approaches 0; larger gamma pushes the loss of "
        "well-classified examples (probability above 0.6) toward zero.",
        caption="Focal loss $-(1 - q_t)^{\\gamma} \\log q_t$ for several $\\gamma$ (the $\\alpha$ "
        "term disabled), computed with `xentref.sigmoid_focal_loss`; $\\gamma = 0$ is "
        "cross-entropy. After Lin et al. (2017), figure 1.",
        draw=draw_focal_loss,
        title="Focal loss",
    ),
    "focal-minimiser": FigureSpec(
        alt="The minimiser q* of the expected focal loss against the true probability pi, for "
        "gamma 0, 0.5, 1, 2 and 5. Gamma 0 is the diagonal q* = pi; every larger gamma gives an "
        "S-shaped curve through (0.5, 0.5) that lies below the diagonal for pi above 0.5 and "
        "above it below 0.5, flatter the larger gamma.",
        caption="The prediction that minimises the expected focal loss, $q^\\star$, against the "
        "true probability $\\pi$ ($\\alpha$ switched off), computed with "
        "`xentref.sigmoid_focal_loss`. Only $\\gamma = 0$, cross-entropy, recovers "
        "$q^\\star = \\pi$.",
        draw=draw_focal_minimiser,
        title="Minimiser of the expected focal loss",
    ),
    "softmax-temperature": FigureSpec(
        alt="Grouped bars of the softmax of the logits 2, 1, 0.2 and -1 at temperatures 0.5, 1, "
        "2 and 5. At T = 0.5 the first class gets most of the mass; as T grows the four bars "
        "approach the uniform value 0.25.",
        caption="Softmax of fixed logits $z$ divided by a temperature $T$. Low $T$ sharpens toward "
        "the arg max; high $T$ flattens toward uniform. The ranking never changes, so neither "
        "does accuracy: the basis of temperature scaling.",
        draw=draw_softmax_temperature,
        title="Softmax temperature",
    ),
    "reliability-diagram": FigureSpec(
        alt="Two reliability diagrams side by side. Before: bars of accuracy per confidence bin "
        "sit well below the diagonal, with a large expected calibration error. After "
        "temperature scaling: the bars follow the diagonal closely and the error is small.",
        caption="Reliability diagrams of an over-confident synthetic classifier (seeded; 6000 "
        "examples, 5 classes, 15 bins; bins with fewer than 10 examples not drawn) before and "
        "after temperature scaling with "
        "`xentref.fit_temperature`; ECE from `xentref.expected_calibration_error`.",
        draw=draw_reliability_diagram,
        title="Reliability diagram",
    ),
    "linear-memory": FigureSpec(
        alt="Log-log plot of peak extra memory in MiB against N = 1024, 4096 and 16384 token "
        "positions for the loss and gradients of a 512 x 32000 float32 head. PyTorch "
        "unchunked grows with N, in proportion to the logits; PyTorch chunked also grows with "
        "N; xentref stays flat, a little above the dotted line of the gradients it returns.",
        caption="Peak memory of one call (loss and gradients) beyond its inputs, the returned "
        "gradients included, from the committed benchmark run (`scripts/bench.py`, section "
        "linear): growth of the peak resident set of a fresh process, one thread.",
        draw=draw_linear_memory,
        title="Linear cross-entropy memory",
    ),
    "linear-dweight-error": FigureSpec(
        alt="Log-log plot of the relative error of the weight gradient against the number of "
        "row blocks, 1 to 512. bfloat16 accumulation starts near 2e-3 and grows to about 1e-1. "
        "float32 products stay near 5e-7, summed in float32 or in float64 (which helps only "
        "beyond 64 blocks, when each product sums few rows); float64 "
        "products rounded once per block start near 5e-8 and rise to meet them from about 64 "
        "blocks on; float64 products and sums stay at 2e-8, the error of the float32 "
        "gradient G itself.",
        caption="Error of $\\partial L / \\partial W = G^\\top H$ accumulated over row "
        "blocks, against float64 on the same float32 inputs (N = 4096, D = 32, V = 512; $G$ "
        "rounded to float32 as a float32 kernel gives it, so float64 sums show the floor that "
        "rounding sets). Computed at build time.",
        draw=draw_linear_dweight_error,
        title="Weight-gradient accumulation error",
    ),
}


# --------------------------------------------------------------------------- vocabulary-parallel
# (docs/llm/batches-and-devices.md) One contiguous block: drawing and registry entry.

VP_BOUNDS = (0, 5, 8, 12)  # three ranks of uneven widths 5, 3 and 4
VP_TARGET = 6


def _vocab_parallel_example() -> tuple[np.ndarray, list[dict[str, float]], dict[str, float]]:
    """One position's logits over 12 classes, each rank's local terms, the all-reduced ones."""
    z = np.round(np.random.default_rng(7452).normal(0.0, 1.5, size=12), 1)
    m = float(z.max())
    ranks = []
    for r in range(len(VP_BOUNDS) - 1):
        lo, hi = VP_BOUNDS[r], VP_BOUNDS[r + 1]
        owner = lo <= VP_TARGET < hi
        ranks.append(
            {
                "max": float(z[lo:hi].max()),
                "sum": float(np.exp(z[lo:hi] - m).sum()),
                "zy": float(z[VP_TARGET] - m) if owner else 0.0,
            }
        )
    total = {
        "m": max(t["max"] for t in ranks),
        "s": sum(t["sum"] for t in ranks),
        "zy": sum(t["zy"] for t in ranks),
    }
    total["loss"] = float(np.log(total["s"]) - total["zy"])
    dense = float(xentref.softmax_cross_entropy(z[None], [VP_TARGET]))
    if not np.isclose(total["loss"], dense, rtol=1e-12):
        raise RuntimeError(f"vocab-parallel figure: {total['loss']} != dense {dense}")
    return z, ranks, total


def draw_vocab_parallel_terms() -> Figure:
    z, ranks, total = _vocab_parallel_example()
    fig = _figure(8.0, 5.2)
    top, bottom = fig.subplots(2, 1, height_ratios=[1.5, 1.0])
    colours, hatches = [BLUE, ORANGE, GREEN], ["", "//", ".."]
    for r in range(len(ranks)):
        lo, hi = VP_BOUNDS[r], VP_BOUNDS[r + 1]
        cls = np.arange(lo, hi)
        top.bar(
            cls,
            z[lo:hi],
            0.8,
            color=colours[r],
            hatch=hatches[r],
            edgecolor="white",
            label=f"rank {r}: classes [{lo}, {hi})",
        )
        if r:
            top.axvline(lo - 0.5, color=GREY, linewidth=1.2, linestyle="--")
    top.bar([VP_TARGET], [z[VP_TARGET]], 0.8, fill=False, edgecolor="black", linewidth=2.2)
    top.annotate(
        f"target y = {VP_TARGET}",
        (VP_TARGET, z[VP_TARGET]),
        xytext=(VP_TARGET + 0.9, 1.9),
        fontsize=10,
        arrowprops={"arrowstyle": "-", "color": "black", "linewidth": 0.8},
    )
    top.axhline(0, color=GREY, linewidth=0.8)
    top.set(
        xticks=range(12),
        xlim=(-0.6, 11.6),
        ylim=(-3.2, 4.0),
        xlabel="class c",
        ylabel="logit $z_c$",
        title="One position's logits, split over three ranks",
    )
    top.grid(axis="x", visible=False)
    top.legend(loc="upper center", fontsize=9, ncols=3)
    bottom.axis("off")
    bottom.set(xlim=(-0.6, 11.6), ylim=(0, 1))
    for r, t in enumerate(ranks):
        lo, hi = VP_BOUNDS[r], VP_BOUNDS[r + 1]
        zy = f"{t['zy']:.3f}" if lo <= VP_TARGET < hi else "0 (not the owner)"
        bottom.text(
            (lo + hi - 1) / 2,
            0.98,
            f"rank {r}\nlocal max {t['max']:.1f}\n"
            f"$\\sum e^{{z_c - m}}$ = {t['sum']:.3f}\n$z_y - m$ = {zy}",
            ha="center",
            va="top",
            fontsize=9.5,
            bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": colours[r]},
        )
    bottom.text(
        5.5,
        0.2,
        f"all-reduce max: m = {total['m']:.1f};   sum: S = {total['s']:.3f};   "
        f"sum: $z_y - m$ = {total['zy']:.3f}\n"
        f"loss = log S - ($z_y - m$) = {total['loss']:.4f} = the dense cross-entropy",
        ha="center",
        va="center",
        fontsize=10,
    )
    return fig


def _vocab_parallel_alt() -> str:
    _, ranks, total = _vocab_parallel_example()
    parts = "; ".join(
        f"rank {r} (classes {VP_BOUNDS[r]} to {VP_BOUNDS[r + 1] - 1}): local max "
        f"{t['max']:.1f}, local sum of exponentials {t['sum']:.3f}"
        for r, t in enumerate(ranks)
    )
    return (
        "Bar chart of one position's 12 logits, split by dashed lines into three ranks of "
        f"widths 5, 3 and 4; the target class {VP_TARGET} is outlined on rank 1. Below, "
        f"each rank's local terms: {parts}; only rank 1 has the target logit minus the max, "
        f"{total['zy']:.3f}. The all-reduces give the max {total['m']:.1f}, the sum "
        f"{total['s']:.3f}, and the loss {total['loss']:.4f}, equal to the dense loss."
    )


FIGURES["vocab-parallel-terms"] = FigureSpec(
    alt=_vocab_parallel_alt(),
    caption="Where each term of the vocabulary-parallel cross-entropy lives: the local maxima "
    "and sums of exponentials on every rank, the target logit on its owner only, and the "
    "three all-reduced numbers that give every rank the dense loss.",
    draw=draw_vocab_parallel_terms,
    title="Vocabulary-parallel cross-entropy",
)


def write_svg(fig: Figure, target: Any, title: str, description: str | None = None) -> None:
    """Save ``fig`` as an SVG with no date or creator (same bytes every build), then close it.

    Call it inside ``plt.rc_context(RC)``, which fixes the SVG hash salt and draws text as paths.
    ``target`` is a path or a text stream.
    """
    metadata = {"Date": None, "Creator": None, "Title": title}
    if description is not None:
        metadata["Description"] = description
    fig.savefig(target, format="svg", transparent=True, metadata=metadata)
    plt.close(fig)


def save(name: str, out_dir: Path) -> dict[str, object]:
    """Draw one registered figure into ``out_dir/<name>.svg`` and return its manifest entry."""
    spec = FIGURES[name]
    with plt.rc_context(RC):
        fig = spec.draw()
        width, height = fig.get_size_inches()
        write_svg(fig, out_dir / f"{name}.svg", spec.title, spec.alt)
    return {
        "title": spec.title,
        "alt": spec.alt,
        "caption": spec.caption,
        "width": round(width * 96),
        "height": round(height * 96),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="figures to draw (default: all)")
    parser.add_argument("--out", type=Path, default=Path("build/figures"))
    parser.add_argument("--stamp", default="", help="cache key recorded in manifest.json")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - FIGURES.keys())
    if unknown:
        parser.error(f"unknown figure(s) {unknown}; known: {sorted(FIGURES)}")
    args.out.mkdir(parents=True, exist_ok=True)
    manifest = {name: save(name, args.out) for name in (args.names or FIGURES)}
    (args.out / "manifest.json").write_text(
        json.dumps({"stamp": args.stamp, "figures": manifest}, indent=1, sort_keys=True) + "\n",
        encoding="utf-8",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
