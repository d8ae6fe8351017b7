"""MkDocs hook for the evidence pages (docs/evidence/*.md), rendered at build time from data.

- ``performance.md``: tables and two figures from the committed benchmark results,
  ``scripts/bench_results.json`` (written by ``scripts/bench.py``, ``make bench``);
- ``accuracy.md``: xentref, the naive formula and Keras-style 1e-7 clipping computed here, in
  NumPy, on the hard cases of ``tests/data/oracle.json`` (exact mpmath values), beside the
  PyTorch, SciPy and scikit-learn outputs recorded in ``tests/data/audit.json``
  (``scripts/data/make_audit_vectors.py``); a table and a figure;
- ``parity.md``: xentref against every peer call in ``tests/data/golden.json``, translated by
  ``tests/test_parity.py`` (the same translation the parity tests assert);
- ``performance.md`` (section "Linear cross-entropy") and ``llm/large-vocabularies.md``: the
  ``linear`` section of the benchmark results (time, memory, threads, d_weight errors).

A page asks for a piece with an HTML comment on a line of its own, ``<!-- evidence: NAME -->``;
``on_page_markdown`` replaces it with Markdown. The figures use ``scripts/site/figures.py``'s style
and determinism settings (fixed hash salt, no dates, text as paths) and are published as
``evidence/figures/<name>.svg``. The build needs NumPy, matplotlib and xentref only: no
PyTorch, SciPy or scikit-learn.
"""

from __future__ import annotations

import importlib.util
import io
import json
import logging
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "scripts" / "bench_results.json"
ORACLE = ROOT / "tests" / "data" / "oracle.json"
AUDIT = ROOT / "tests" / "data" / "audit.json"
MARKER = "<!-- evidence: {} -->"
TIMES = "\N{MULTIPLICATION SIGN}"
log = logging.getLogger("mkdocs.hooks.evidence")

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import xentref  # noqa: E402


def _load(name: str, path: Path) -> Any:
    """Import a file that is not in an importable package (scripts/, tests/) by its path."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise PluginError(f"evidence hook: cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _load_figures_module() -> Any:
    return _load("xentref_site_figures", ROOT / "scripts" / "site" / "figures.py")


def _tests(name: str) -> Any:
    """tests/test_oracle.py or tests/test_parity.py: their decoders and translation."""
    return _load(f"xentref_site_{name}", ROOT / "tests" / f"{name}.py")


# --------------------------------------------------------------------------- performance

LABELS = {
    "xentref": "xentref",
    "naive": "naive NumPy",
    "scipy": "SciPy log_softmax",
    "sklearn": "scikit-learn log_loss",
    "torch_1t": "PyTorch, 1 thread",
    "torch_all": "PyTorch, all threads",
    "torch_1t_avx2": "PyTorch, 1 thread, AVX2 kernels",
}
TARGETS = {("loss", 4096, 32000): 0.75, ("loss", 65536, 10): 1.5, ("grad", 4096, 32000): 1.0}


def _bench() -> dict[str, Any]:
    return json.loads(BENCH.read_text(encoding="utf-8"))


def _fastest_torch(r: dict[str, Any]) -> str:
    """The 1-thread PyTorch with the lowest median time at this size and measure."""
    one_thread = [n for n in r["competitors"] if n.startswith("torch_1t")]
    return min(one_thread, key=lambda n: r["competitors"][n]["median_s"])


def _kernels(name: str, doc: dict[str, Any]) -> str:
    """Which of PyTorch's CPU kernels a 1-thread competitor ran."""
    if name == "torch_1t":
        return str(doc["machine"].get("torch_cpu_capability") or "default")
    return name.removeprefix("torch_1t_").upper()


def _ms(seconds: float) -> str:
    ms = seconds * 1e3
    return f"{ms:.3g}" if ms < 100 else f"{ms:,.0f}"


def _mib(n: int | None) -> str:
    if n is None:
        return "—"
    mib = n / 2**20
    return f"{mib:.2g}" if mib < 10 else f"{mib:,.0f}"


def _size(r: dict[str, Any]) -> str:
    return f"{r['rows']:,} {TIMES} {r['classes']:,}"


def perf_machine() -> str:
    doc = _bench()
    m, v = doc["machine"], doc["machine"]["versions"]
    rows = [
        ("CPU", f"{m['cpu']}, {m['logical_cores']} logical cores"),
        ("Memory", f"{m['ram_gib']} GiB"),
        ("System", m["os"]),
        ("Versions", ", ".join(f"{k} {val}" for k, val in v.items() if val)),
        ("xentref commit", f"`{m['xentref_commit']}`"),
        ("Measured", f"{m['date']}; whole run {doc['total_s']:.0f} s"),
        ("Block size", f"`BLOCK_BYTES` = {doc['settings']['block_bytes'] // 1024} KiB"),
        ("Timer", doc["settings"]["timer"]),
    ]
    own = m.get("torch_cpu_capability")
    others = doc["settings"].get("torch_alternatives", {}).get(own, [])
    if own:
        also = (
            f"; also timed with its {', '.join(others)} kernels (`ATEN_CPU_CAPABILITY`), "
            "in a child process on the same data, interleaved"
            if others
            else ""
        )
        rows.insert(1, ("PyTorch kernels", f"{own}, PyTorch's own choice on this CPU{also}"))
    return "| Item | Value |\n|---|---|\n" + "\n".join(f"| {a} | {b} |" for a, b in rows)


def perf_headline() -> str:
    lines = [
        "| Size (float32) | Measure | xentref ms | PyTorch ms (kernels) | Ratio | Target | Met |",
        "|---|---|--:|--:|--:|--:|:-:|",
    ]
    doc = _bench()
    for r in doc["results"]:
        key = (r["op"], r["rows"], r["classes"])
        if r["dtype"] != "float32" or key not in TARGETS:
            continue
        c = r["competitors"]
        ratio = c["xentref"]["ratio_to_fastest_torch_1t"]
        target = TARGETS[key]
        what = "loss" if r["op"] == "loss" else "gradient"
        torch = _fastest_torch(r)
        lines.append(
            f"| {_size(r)} | {what} | {_ms(c['xentref']['median_s'])} | "
            f"{_ms(c[torch]['median_s'])} ({_kernels(torch, doc)}) | {ratio:.2f}{TIMES} | "
            f"≤ {target}{TIMES} | "
            f"{'yes' if ratio <= target else '**no**'} |"
        )
    return "\n".join(lines)


def _size_head(results: list[dict[str, Any]], first: str) -> list[str]:
    """Table head with one column per size (sizes across, competitors down: it stays narrow)."""
    head = f"| {first} | " + " | ".join(_size(r) for r in results) + " |"
    return [head, "|---|" + "--:|" * len(results)]


def perf_times(dtype: str, op: str) -> str:
    results = [r for r in _bench()["results"] if r["dtype"] == dtype and r["op"] == op]
    names = [n for n in LABELS if any(n in r["competitors"] for r in results)]
    lines = _size_head(results, "Median ms (ratio)")
    lines.append("| `np.sum` floor | " + " | ".join(_ms(r["floor_s"]) for r in results) + " |")
    for n in names:
        cells = []
        for r in results:
            c = r["competitors"].get(n)
            if c is None:
                cells.append("skipped")
            else:
                ratio = c["ratio_to_fastest_torch_1t"]
                cells.append(f"{_ms(c['median_s'])} ({ratio:.2f}{TIMES})")
        name = f"**{LABELS[n]}**" if n == "xentref" else LABELS[n]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _mem_cell(extra: int | None, logits_bytes: int) -> str:
    if extra is None:
        return "—"
    pct = 100 * extra / logits_bytes
    return f"{_mib(extra)} ({pct:.2g} %)" if pct < 10 else f"{_mib(extra)} ({pct:,.0f} %)"


def perf_memory(dtype: str) -> str:
    results = [r for r in _bench()["results"] if r["dtype"] == dtype]
    loss = [r for r in results if r["op"] == "loss"]
    grad = {(r["rows"], r["classes"]): r for r in results if r["op"] == "grad"}
    lines = _size_head(loss, "Peak extra MiB (% of logits)")
    lines.append("| logits | " + " | ".join(f"{_mib(r['logits_bytes'])}" for r in loss) + " |")
    measured = {n for r in loss for n, c in r["competitors"].items() if c["peak_extra_bytes"]}
    for n in (n for n in LABELS if n in measured):
        cells = []
        for r in loss:
            c = r["competitors"].get(n)
            cells.append(
                "skipped" if c is None else _mem_cell(c["peak_extra_bytes"], r["logits_bytes"])
            )
        name = f"**{LABELS[n]}**" if n == "xentref" else LABELS[n]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    cells = []
    for r in loss:
        g = grad[(r["rows"], r["classes"])]["competitors"]["xentref"]["peak_extra_bytes"]
        cells.append(_mem_cell(g, r["logits_bytes"]))
    lines.append("| xentref gradient | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def perf_skipped() -> str:
    grouped: dict[tuple[str, str], dict[str, list[str]]] = {}
    for r in _bench()["results"]:
        for name, why in r.get("skipped", {}).items():
            dtypes = grouped.setdefault((LABELS[name], why), {}).setdefault(_size(r), [])
            if r["dtype"] not in dtypes:
                dtypes.append(r["dtype"])
    notes = [
        f"- {label} at "
        + " and ".join(f"{size} ({', '.join(dtypes)})" for size, dtypes in sizes.items())
        + f": {why}."
        for (label, why), sizes in sorted(grouped.items())
    ]
    return "\n".join(notes) if notes else "Nothing was skipped."


STYLES = dict(zip(LABELS, ["o-", "s--", "^:", "D-.", "v-", "P--", "X:"], strict=True))
#: Okabe-Ito, as scripts/site/figures.py; one colour per competitor on every panel.
COLORS = dict(
    zip(
        LABELS,
        ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#56B4E9", "#E69F00", "#000000"],
        strict=True,
    )
)


def _by_classes(op: str, dtype: str = "float32") -> list[dict[str, Any]]:
    """The results of one measure, ordered by the number of classes (the x positions)."""
    rs = [r for r in _bench()["results"] if r["dtype"] == dtype and r["op"] == op]
    return sorted(rs, key=lambda r: r["classes"])


def _size_axis(ax: Any, rs: list[dict[str, Any]]) -> None:
    ax.set_xticks(range(len(rs)))
    ax.set_xticklabels([_size(r).replace(f" {TIMES} ", f"\n{TIMES} ") for r in rs], fontsize=9)
    ax.set_xlabel(f"rows {TIMES} classes")
    ax.set_xlim(-0.3, len(rs) - 0.7)
    ax.grid(axis="x", visible=False)


def _series(
    ax: Any, rs: list[dict[str, Any]], value: Callable[[dict[str, Any], dict[str, Any]], Any]
) -> None:
    """One line per competitor: ``value(result, competitor)`` at each size (None: no point)."""
    for name in LABELS:
        pts = [
            (i, value(r, r["competitors"][name]))
            for i, r in enumerate(rs)
            if name in r["competitors"] and value(r, r["competitors"][name]) is not None
        ]
        if pts:
            ax.plot(
                *zip(*pts, strict=True),
                STYLES[name],
                color=COLORS[name],
                label=LABELS[name],
                markersize=6,
            )


def draw_bench_time(fig_mod: Any) -> Any:
    fig = fig_mod._figure(9.6, 4.6)
    axes = fig.subplots(1, 2)
    for ax, op in zip(axes, ("loss", "grad"), strict=True):
        rs = _by_classes(op)
        _series(ax, rs, lambda r, c: c["median_s"] * 1e3)
        floor = [r["floor_s"] * 1e3 for r in rs]
        ax.plot(range(len(rs)), floor, color=fig_mod.GREY, ls=(0, (1, 3)), label="np.sum floor")
        ax.set(
            yscale="log",
            ylabel="median time (ms)",
            title="loss" if op == "loss" else "gradient (PyTorch: forward + backward)",
        )
        _size_axis(ax, rs)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=4, fontsize=9)
    return fig


def draw_bench_memory(fig_mod: Any) -> Any:
    rs = _by_classes("loss")
    fig = fig_mod._figure(6.4, 4.6)
    ax = fig.add_subplot()

    _series(  # no point where nothing was measured, or 0 (a log axis)
        ax,
        rs,
        lambda r, c: (
            100 * c["peak_extra_bytes"] / r["logits_bytes"] if c["peak_extra_bytes"] else None
        ),
    )
    ax.axhline(5, color=fig_mod.GREY, ls=(0, (4, 3)), lw=1.2)
    ax.annotate(
        "5 % target", (len(rs) - 1.3, 5), xytext=(0, 4), textcoords="offset points", fontsize=9
    )
    ax.set(
        yscale="log",
        ylabel="peak extra memory (% of the logits)",
        title="Memory of one loss call, float32",
    )
    _size_axis(ax, rs)
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=3, fontsize=9)
    return fig


# --------------------------------------------------------------------------- accuracy

KERAS_EPS = 1e-7
#: (oracle id, short name, why the naive formula fails there)
AUDIT_CASES = [
    (
        "softmax_cross_entropy/logits_1e4/none/float64",
        "logits ±1e4",
        "$e^{10^4}$ overflows to inf, so $e^{z_y} / \\sum_k e^{z_k}$ is inf/inf = NaN.",
    ),
    (
        "softmax_cross_entropy/logits_1e30/none/float64",
        "logits ±1e30",
        "The same overflow; and a 1-ulp gap between two logits of 1e30 is a loss of 1.4e14 "
        "that only a max-shifted formula can see.",
    ),
    (
        "softmax_cross_entropy/classes_1e5/none/float64",
        "1e5 classes",
        "With one logit at +40 the right class has $p = 1 - 8 \\times 10^{-11}$; rounding $p$ "
        "to float64 before taking the log keeps only the first few digits of the loss.",
    ),
    (
        "softmax_cross_entropy/masked/none/float64",
        "masked classes (-inf)",
        "$e^{-\\infty} = 0$ is harmless, but the row with a logit of 100 overflows nothing "
        "only by luck, and a row whose only class is unmasked needs $\\log 1 = 0$ exactly.",
    ),
    (
        "softmax_cross_entropy/confidently_wrong/none/float64",
        "confidently wrong",
        "The winning logit (800, 1e4) overflows $e^z$; where it does not, $p_y = e^{-100}$ "
        "survives, so the naive formula is right only on the milder rows.",
    ),
    (
        "softmax_cross_entropy/confidently_right/none/float64",
        "confidently right",
        "$p_y = 1 - 10^{-20}$ rounds to 1 and $-\\log 1 = 0$: every digit of a loss of "
        "$10^{-20}$ (or $10^{-300}$) is lost.",
    ),
    (
        "binary_cross_entropy_with_logits/saturated_grid/none/float64",
        "BCE at ±40 and ±800",
        "$\\sigma(40)$ rounds to 1, so $\\log(1 - \\sigma(z))$ is $\\log 0 = -\\infty$; at "
        "800, $e^{800}$ overflows and $0 \\cdot \\log 0$ is NaN.",
    ),
    (
        "binary_cross_entropy_with_logits/infinite_logits/none/float64",
        "BCE at ±inf",
        "$\\sigma(\\pm\\infty)$ is exactly 0 or 1, so one of the two logs is $-\\infty$ and "
        "its weight 0 turns it into NaN.",
    ),
    (
        "kl_divergence/near_equal_rows/float64",
        "KL of near-equal distributions",
        "$\\log(p/q)$ of a ratio within $10^{-9}$ of 1 keeps only the digits that survive "
        "rounding the ratio, and $0 \\log(0/q)$ is $0 \\cdot (-\\infty)$ = NaN.",
    ),
]
METHODS = ["xentref", "naive", "keras", "torch", "scipy", "sklearn"]
METHOD_LABELS = {
    "xentref": "xentref",
    "naive": "naive formula",
    "keras": "Keras-style clip 1e-7",
    "torch": "PyTorch",
    "scipy": "SciPy",
    "sklearn": "scikit-learn",
}


def _decode_oracle(enc: dict[str, Any]) -> np.ndarray:
    return np.asarray(_tests("test_oracle").decode(enc))


def _floats(values: list[Any] | None) -> np.ndarray | None:
    if values is None:
        return None
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def _naive(function: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The textbook formulas, as typed from a slide."""
    with np.errstate(all="ignore"):
        if function == "softmax_cross_entropy":
            p = np.exp(a) / np.sum(np.exp(a), axis=-1, keepdims=True)
            return -np.log(p[np.arange(len(b)), b])
        if function == "binary_cross_entropy_with_logits":
            s = 1 / (1 + np.exp(-a))
            return -(b * np.log(s) + (1 - b) * np.log(1 - s))
        return np.sum(a * np.log(a / b), axis=-1)


def _keras(function: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Keras's probability path: renormalise, clip to [1e-7, 1 - 1e-7], log (float64 here)."""
    with np.errstate(all="ignore"):
        if function == "softmax_cross_entropy":
            e = np.exp(a - np.max(a, axis=-1, keepdims=True))
            p = np.clip(e / np.sum(e, axis=-1, keepdims=True), KERAS_EPS, 1 - KERAS_EPS)
            return -np.log(p[np.arange(len(b)), b])
        if function == "binary_cross_entropy_with_logits":
            s = np.clip(1 / (1 + np.exp(-a)), KERAS_EPS, 1 - KERAS_EPS)
            return -(b * np.log(s) + (1 - b) * np.log(1 - s))
        p, q = np.clip(a, KERAS_EPS, 1), np.clip(b, KERAS_EPS, 1)
        return np.sum(p * np.log(p / q), axis=-1)


def _rel_errors(got: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """|x - e| / max(|e|, tiny); inf for a NaN or a wrong infinity; 0 for a matching one."""
    got = np.asarray(got, dtype=np.float64).ravel()
    err = np.full(exact.shape, np.inf)
    with np.errstate(all="ignore"):
        finite = np.isfinite(exact) & np.isfinite(got)
        err[finite] = np.abs(got[finite] - exact[finite]) / np.maximum(
            np.abs(exact[finite]), np.finfo(np.float64).tiny
        )
    err[np.isinf(exact) & (got == exact)] = 0.0
    return err


def audit_table_data() -> list[dict[str, Any]]:
    oracle = {c["id"]: c for c in json.loads(ORACLE.read_text(encoding="utf-8"))["cases"]}
    audit = {c["oracle_id"]: c for c in json.loads(AUDIT.read_text(encoding="utf-8"))["cases"]}
    rows = []
    for cid, name, why in AUDIT_CASES:
        case = oracle[cid]
        a, b = (_decode_oracle(arg) for arg in case["args"])
        exact = np.array([float(v) for v in case["expected"]["float64"]])
        fn = case["function"]
        outputs: dict[str, np.ndarray | None] = {
            "xentref": np.asarray(getattr(xentref, fn)(a, b, **case["kwargs"])),
            "naive": _naive(fn, a, b),
            "keras": _keras(fn, a, b),
        }
        outputs.update({k: _floats(v) for k, v in audit[cid]["outputs"].items()})
        errors: dict[str, float | None] = {}
        for method, got in outputs.items():
            if got is None:
                errors[method] = None
                continue
            err = _rel_errors(got, exact)
            if method == "sklearn":  # null elements: soft BCE targets, not a scikit-learn call
                err = err[np.array([v is not None for v in audit[cid]["outputs"]["sklearn"]])]
            errors[method] = float(np.max(err)) if err.size else None
        rows.append(
            {
                "id": cid,
                "name": name,
                "why": why,
                "note": case["note"],
                "n": exact.size,
                "errors": errors,
            }
        )
    return rows


def _fmt_err(e: float | None) -> str:
    if e is None:
        return "n/a"
    if math.isinf(e):
        return "**NaN / wrong inf**"
    if e == 0:
        return "0 (exact)"
    if e >= 1:
        return "**no correct digit**"
    return f"{e:.1e}"


def accuracy_table() -> str:
    data = audit_table_data()
    head = "| Case | " + " | ".join(METHOD_LABELS[m] for m in METHODS) + " |"
    lines = [head, "|---|" + "--:|" * len(METHODS)]
    for row in data:
        lines.append(
            f"| {row['name']} ({row['n']} values) | "
            + " | ".join(_fmt_err(row["errors"][m]) for m in METHODS)
            + " |"
        )
    return "\n".join(lines)


def accuracy_cases() -> str:
    return "\n".join(
        f"- **{row['name']}** (`{row['id']}`): {row['why']}" for row in audit_table_data()
    )


def draw_accuracy(fig_mod: Any) -> Any:
    data = audit_table_data()
    floor, fail = 1e-17, 1e2
    fig = fig_mod._figure(8.0, 5.2)
    ax = fig.add_subplot()
    markers = dict(zip(METHODS, ["o", "s", "D", "^", "v", "P"], strict=True))
    colors = dict(
        zip(
            METHODS,
            [
                fig_mod.BLUE,
                fig_mod.ORANGE,
                fig_mod.YELLOW,
                fig_mod.PINK,
                fig_mod.GREEN,
                fig_mod.SKY,
            ],
            strict=True,
        )
    )
    n = len(data)
    for j, m in enumerate(METHODS):
        xs, ys = [], []
        for i, row in enumerate(data):
            e = row["errors"][m]
            if e is None:
                continue
            ys.append(n - 1 - i + (j - 2.5) * 0.11)
            xs.append(fail if e >= 1 or math.isinf(e) else max(e, floor))
        ax.scatter(
            xs,
            ys,
            marker=markers[m],
            s=42,
            color=colors[m],
            label=METHOD_LABELS[m],
            edgecolors="black",
            linewidths=0.4,
            zorder=3,
        )
    ax.axvline(1e-13, color=fig_mod.GREY, ls=(0, (4, 3)), lw=1.2)
    ax.axvspan(1, fail * 3, color="#eeeeee", zorder=0)
    ax.set(
        xscale="log",
        xlim=(floor / 3, fail * 3),
        yticks=range(n),
        yticklabels=[row["name"] for row in reversed(data)],
        xlabel="largest relative error against the exact value (float64)",
        title="Hard cases: error of each method",
    )
    ax.set_xticks([1e-16, 1e-13, 1e-10, 1e-7, 1e-4, 1e-1, fail])
    ax.set_xticklabels(["≤1e-16", "1e-13", "1e-10", "1e-7", "1e-4", "0.1", "≥1 or NaN"])
    ax.grid(axis="y", visible=False)
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=3, fontsize=9)
    return fig


# --------------------------------------------------------------------------- parity


def _diff(d: float) -> str:
    return "0" if d == 0 else f"{d:.1e}"


def parity_table() -> str:
    tp = _tests("test_parity")
    CASES, GOLDEN, check_case, decode, differences = (
        tp.CASES,
        tp.GOLDEN,
        tp.check_case,
        tp.decode,
        tp.differences,
    )
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for case in CASES:
        got, peer, grad = check_case(case)  # asserts the documented relation, as the tests do
        family = case["id"].rsplit("/", 1)[0] if case["id"].count("/") >= 2 else case["id"]
        g = groups.setdefault(
            (case["peer"], family),
            {"n": 0, "out": 0.0, "rel": 0.0, "grad": None, "relations": set(), "reds": []},
        )
        g["n"] += 1
        g["relations"].add(case["relation"])
        red = case["options"].get("reduction")
        if red is not None and red not in g["reds"]:
            g["reds"].append(red)
        if case["relation"] == "equal":
            a, r = differences(got, peer)
            g["out"], g["rel"] = max(g["out"], a), max(g["rel"], r)
        if grad is not None and "grad" in case:
            ga, _ = differences(np.asarray(grad, dtype=np.float64), decode(case["grad"]))
            g["grad"] = max(g["grad"] or 0.0, ga)
    # One table per peer call (a heading each), so that the case column has room to wrap.
    by_peer: dict[str, list[str]] = {}
    for (peer, family), g in groups.items():
        rel = sorted(g["relations"])
        result = (
            "equal"
            if rel == ["equal"]
            else "differs as documented: " + ", ".join(f"`{r}`" for r in rel if r != "equal")
        )
        grad = "—" if g["grad"] is None else _diff(g["grad"])
        out = _diff(g["out"]) if "equal" in rel else "—"
        rr = _diff(g["rel"]) if "equal" in rel else "—"
        by_peer.setdefault(peer.split(" (")[0], []).append(
            f"| {family.replace('/', ' / ')} | {', '.join(g['reds']) or '—'} | {result} | "
            f"{out} | {rr} | {grad} |"
        )
    lines = []
    for peer, rows in by_peer.items():
        lines += [
            f"### `{peer}`",
            "",
            "| Case (options) | Reductions | Result | Max abs. diff. | Max rel. diff. | "
            "Gradient max abs. diff. |",
            "|---|---|---|--:|--:|--:|",
            *rows,
            "",
        ]
    versions = ", ".join(f"{k} {v}" for k, v in GOLDEN["versions"].items() if k != "torchvision")
    return "\n".join(lines) + f"\n\nGolden vectors recorded with {versions}."


def parity_differences() -> str:
    seen: dict[str, str] = {}
    for case in _tests("test_parity").CASES:
        if case["relation"] != "equal" and case["relation"] not in seen:
            seen[case["relation"]] = case.get("note", "")
    return "\n".join(f"- `{rel}`: {note}" for rel, note in seen.items())


# --------------------------------------------------------------------------- hook events

# --------------------------------------------------------------------------- linear section

LINEAR_LABELS = {
    "xentref": "xentref",
    "torch_chunked": "PyTorch chunked",
    "torch_unchunked": "PyTorch unchunked",
}
LINEAR_TARGETS = {"ratio_to_torch_chunked": 0.75, "ratio_to_torch_unchunked": 1.0}
LINEAR_SCRATCH_TARGET = 64 * 2**20


def _linear() -> dict[str, Any]:
    linear: dict[str, Any] = _bench()["linear"]
    return linear


def _scratch(m: dict[str, Any]) -> int:
    return int(m["rss_extra_bytes"]) - int(m["result_bytes"])


def perf_linear_machine() -> str:
    lin = _linear()
    m, shape = lin["machine"], lin["shape"]
    return (
        f"Measured {m['date']} on {m['cpu']} ({m['logical_cores']} logical cores), torch "
        f"{m['versions'].get('torch')}"
        + (f" (its {m['torch_cpu_capability']} kernels)" if m.get("torch_cpu_capability") else "")
        + f", NumPy {m['versions'].get('numpy')}, xentref commit "
        f"`{m['xentref_commit']}`; N = {shape['N']:,}, D = {shape['D']}, V = {shape['V']:,}, "
        f"{shape['dtype']}, {lin['repeats']} interleaved repeats, `BLOCK_BYTES` = "
        f"{lin['block_bytes'] // 2**20} MiB; section run {lin['total_s']:.0f} s."
        + (f" **Provisional**: {lin['provisional']}." if lin.get("provisional") else "")
    )


def perf_linear_headline() -> str:
    lin = _linear()
    t = lin["times"]
    lines = [
        "| Measure | xentref | PyTorch chunked | PyTorch unchunked | Target | Met |",
        "|---|--:|--:|--:|--:|:-:|",
        "| median s, loss + gradients | "
        + " | ".join(f"{t[n]['median_s']:.2f}" for n in LINEAR_LABELS)
        + " | | |",
    ]
    for key, target in LINEAR_TARGETS.items():
        ratio = t["xentref"][key]
        other = "chunked" if key.endswith("_chunked") else "unchunked"
        lines.append(
            f"| time ratio to PyTorch {other} | {ratio:.2f}{TIMES} | | | ≤ {target}{TIMES} | "
            f"{'yes' if ratio <= target else '**no**'} |"
        )
    mem = lin["memory"]
    ns = sorted(mem["xentref"], key=int)
    scratch = [_scratch(mem["xentref"][n]) for n in ns]
    flat = max(scratch) <= 1.25 * min(scratch) if scratch else False
    worst = max(scratch, default=0)
    row = [f"{_mib(worst)} MiB"]
    for name in ("torch_chunked", "torch_unchunked"):
        vals = [_scratch(mem[name][n]) for n in ns if n in mem[name]]
        row.append(f"{_mib(max(vals))} MiB" if vals else "—")
    lines.append(
        f"| scratch memory (peak extra minus the returned gradients), worst of N = "
        f"{', '.join(f'{int(n):,}' for n in ns)} | " + " | ".join(row) + f" | ≤ 64 MiB, flat | "
        f"{'yes' if worst <= LINEAR_SCRATCH_TARGET and flat else '**no**'} |"
    )
    return "\n".join(lines)


def perf_linear_memory() -> str:
    lin = _linear()
    mem = lin["memory"]
    ns = sorted({n for m in mem.values() for n in m}, key=int)
    lines = [
        "| N | logits | gradients returned | "
        + " | ".join(f"{label} peak (scratch)" for label in LINEAR_LABELS.values())
        + " | xentref, tracemalloc |",
        "|--:|--:|--:|" + "--:|" * len(LINEAR_LABELS) + "--:|",
    ]
    for n in ns:
        logits = int(n) * lin["shape"]["V"] * 4
        result = mem["xentref"][n]["result_bytes"]
        cells = []
        for name in LINEAR_LABELS:
            m = mem[name].get(n)
            cells.append(
                "skipped" if m is None else f"{_mib(m['rss_extra_bytes'])} ({_mib(_scratch(m))})"
            )
        traced = mem["xentref"][n].get("traced_extra_bytes")
        lines.append(
            f"| {int(n):,} | {_mib(logits)} | {_mib(result)} | "
            + " | ".join(cells)
            + f" | {_mib(traced)} |"
        )
    return "\n".join(lines)


def perf_linear_threads() -> str:
    lin = _linear()
    threads = sorted(lin["threads"], key=int)
    lines = [
        "| Threads | " + " | ".join(LINEAR_LABELS.values()) + " |",
        "|--:|" + "--:|" * len(LINEAR_LABELS),
    ]
    base = lin["threads"]["1"]
    for t in threads:
        row = lin["threads"][t]
        cells = [f"{row[n]:.2f} s ({base[n] / row[n]:.2f}{TIMES})" for n in LINEAR_LABELS]
        lines.append(f"| {t} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def linear_accuracy() -> str:
    lin = _linear()
    shape = lin["shape"]
    lines = [
        "| Implementation (float32) | d_weight, max | d_weight, norm | d_hidden, max | "
        "d_hidden, norm |",
        "|---|--:|--:|--:|--:|",
    ]
    for name, label in LINEAR_LABELS.items():
        a = lin["accuracy"][name]
        cells = [f"{a[g][k]:.2e}" for g in ("d_weight", "d_hidden") for k in ("max_rel", "fro_rel")]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return (
        "\n".join(lines)
        + f'\n\nN = {shape["N"]:,}, D = {shape["D"]}, V = {shape["V"]:,}; "max" is '
        'max |error| / max |exact|, "norm" is ‖error‖ / ‖exact‖ (Frobenius), the exact '
        "value being `linear_cross_entropy_grad` in float64 on the same float32 numbers. "
        f"Measured {lin['machine']['date']} with torch {lin['machine']['versions'].get('torch')}."
    )


def parity_linear() -> str:
    """xentref against tests/data/golden_linear.json, by torch path: the largest differences."""
    golden = json.loads((ROOT / "tests" / "data" / "golden_linear.json").read_text())

    def dec(enc: dict[str, Any] | None) -> np.ndarray | None:
        if enc is None:
            return None
        return np.array(enc["values"], dtype=enc["dtype"]).reshape(enc["shape"])

    worst: dict[str, list[float]] = {}
    for case in golden["cases"]:
        o = case["options"]
        kw: dict[str, Any] = {
            "linear_bias": dec(case["linear_bias"]),
            "weight": dec(case["weight"]),
            "label_smoothing": o["label_smoothing"],
            "reduction": o["reduction"],
        }
        if o["ignore_index"] is not None:
            kw["ignore_index"] = o["ignore_index"]
        got = xentref.linear_cross_entropy_grad(
            dec(case["hidden"]), dec(case["linear_weight"]), dec(case["target"]), **kw
        )
        pairs = [
            (got.loss, case["loss"]),
            (got.hidden, case["grad_hidden"]),
            (got.linear_weight, case["grad_linear_weight"]),
            (got.linear_bias, case["grad_linear_bias"]),
        ]
        row = worst.setdefault(case["path"], [0.0, 0.0, 0])
        for a, enc in pairs:
            if enc is None:
                continue
            want = dec(enc)
            diff = np.abs(np.asarray(a) - want)
            row[0] = max(row[0], float(np.max(diff)))
            row[1] = max(row[1], float(np.max(diff / np.maximum(np.abs(want), 1e-300))))
        row[2] += 1
    lines = [
        "| torch 2.13 path | Cases | Largest absolute difference | Largest relative |",
        "|---|--:|--:|--:|",
    ]
    for path, (absd, reld, n) in sorted(worst.items()):
        lines.append(f"| `{path}` | {n} | {absd:.1e} | {reld:.1e} |")
    return "\n".join(lines) + (
        f"\n\nFrom `tests/data/golden_linear.json` (torch {golden['versions']['torch']}), over "
        "the loss and the gradients with respect to input, weight and bias."
    )


PIECES: dict[str, Callable[[], str]] = {
    "perf-machine": perf_machine,
    "perf-headline": perf_headline,
    "perf-times-float32-loss": lambda: perf_times("float32", "loss"),
    "perf-times-float32-grad": lambda: perf_times("float32", "grad"),
    "perf-times-float64-loss": lambda: perf_times("float64", "loss"),
    "perf-times-float64-grad": lambda: perf_times("float64", "grad"),
    "perf-memory-float32": lambda: perf_memory("float32"),
    "perf-memory-float64": lambda: perf_memory("float64"),
    "perf-skipped": perf_skipped,
    "accuracy-table": accuracy_table,
    "accuracy-cases": accuracy_cases,
    "parity-table": parity_table,
    "parity-differences": parity_differences,
    "perf-linear-machine": perf_linear_machine,
    "perf-linear-headline": perf_linear_headline,
    "perf-linear-memory": perf_linear_memory,
    "perf-linear-threads": perf_linear_threads,
    "linear-accuracy": linear_accuracy,
    "parity-linear": parity_linear,
}
DRAWINGS: dict[str, tuple[Callable[[Any], Any], str]] = {
    "bench-time": (draw_bench_time, "Benchmark: time against size"),
    "bench-memory": (draw_bench_memory, "Benchmark: memory against size"),
    "accuracy-audit": (draw_accuracy, "Accuracy audit"),
}


def _svg(name: str) -> str:
    import matplotlib.pyplot as plt

    fig_mod = _load_figures_module()
    draw, title = DRAWINGS[name]
    buf = io.StringIO()
    with plt.rc_context(fig_mod.RC):
        fig_mod.write_svg(draw(fig_mod), buf, title)
    return buf.getvalue()


def on_files(files: Files, config: MkDocsConfig) -> Files:
    for name in DRAWINGS:
        try:
            content = _svg(name)
        except Exception as exc:  # a broken figure must fail the build, with its name
            raise PluginError(f"evidence figure {name}: {exc!r}") from exc
        files.append(File.generated(config, f"evidence/figures/{name}.svg", content=content))
    return files


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    if not page.file.src_uri.startswith(("evidence/", "llm/")):
        return markdown
    for name, make in PIECES.items():
        marker = MARKER.format(name)
        if marker in markdown:
            markdown = markdown.replace(marker, make())
    leftover = [line for line in markdown.splitlines() if line.startswith("<!-- evidence:")]
    if leftover:
        raise PluginError(f"{page.file.src_uri}: unknown evidence marker(s) {leftover}")
    return markdown
