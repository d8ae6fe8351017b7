"""Benchmark xentref's softmax cross-entropy against NumPy, SciPy, scikit-learn and PyTorch.

Usage (``make bench`` installs the peers and runs exactly this)::

    python scripts/bench.py --out scripts/bench_results.json    # about 6 minutes on 2 cores
    python scripts/bench.py --quick --out /tmp/bench.json        # small sizes, a smoke test

What is timed, for each size (rows x classes) and dtype (float32, float64), mean loss over
integer targets drawn uniformly, standard-normal logits (seeded):

- ``xentref``: `xentref.softmax_cross_entropy` / `softmax_cross_entropy_grad` (NumPy, one
  thread: NumPy's element-wise loops are single-threaded);
- ``naive``: the textbook NumPy formulation, max-shifted so that it stays finite on these
  inputs: ``p = exp(z - max) / sum``, then ``-log(p)[rows, y]`` (gradient ``(p - onehot) / N``);
- ``scipy``: ``-scipy.special.log_softmax(z, axis=-1)[rows, y].mean()`` (loss only);
- ``sklearn``: ``sklearn.metrics.log_loss(y, scipy.special.softmax(z, axis=-1),
  labels=range(C))``: scikit-learn takes probabilities (loss only);
- ``torch_1t`` / ``torch_all``: ``torch.nn.functional.cross_entropy`` on the same memory
  (``torch.from_numpy``), with 1 thread and with every core; the gradient is autograd's
  forward + backward.

Every repeat runs all competitors back to back (interleaved), so the ratio to PyTorch is
measured pairwise in one run: ``ratio_to_torch_1t`` is the median over repeats of
``t_competitor / t_torch_1t``. ``floor_s`` is the one-pass memory-bandwidth floor, the median
time of ``np.sum(z)``. Peak extra memory is what a call allocates beyond its inputs, result
included (for the gradient, the result alone is 1x the logits): measured with tracemalloc
for the NumPy-based competitors (NumPy reports its buffers to it) and, for PyTorch, as the
growth of the peak resident set over one call in a fresh subprocess (Linux: the peak is reset
through ``/proc/self/clear_refs`` and read back as ``VmHWM``).
The big sizes get fewer repeats, and scikit-learn is skipped where its dense one-hot
encoding of the labels makes one call take many seconds; the results file says so.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import platform
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import xentref  # noqa: E402

# (rows, classes, repeats); each repeat times every competitor once.
SIZES = [(65536, 10, 7), (8192, 1000, 7), (4096, 32000, 3), (1024, 131072, 3)]
QUICK_SIZES = [(4096, 10, 3), (512, 1000, 3), (64, 32000, 3)]
DTYPES = ("float32", "float64")
SEED = 20260501
#: scikit-learn's log_loss one-hot encodes the labels densely; skip it above this many
#: logits (one call takes over 10 s there, and it measures the encoder, not the loss).
SKLEARN_MAX_ELEMENTS = 50_000_000


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    versions = {"python": platform.python_version()}
    for dist in ("xentref", "numpy", "scipy", "scikit-learn", "torch"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "xentref"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        commit, dirty = "", ""
    return {
        "cpu": cpu,
        "logical_cores": os.cpu_count(),
        "ram_gib": round(ram / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "versions": versions,
        "xentref_commit": commit + ("+uncommitted" if dirty else ""),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


# --------------------------------------------------------------------------- competitors

#: An earlier commit's xentref (``--before REV``), timed beside the current one.
BEFORE: Any = None


def load_before(rev: str) -> Any:
    """Import ``xentref/`` as it was at commit `rev`, as the package ``xentref_before``."""
    import importlib
    import tempfile

    files = subprocess.run(
        ["git", "ls-tree", "--name-only", rev, "xentref/"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    tmp = Path(tempfile.mkdtemp(prefix="xentref-before-"))
    (tmp / "xentref_before").mkdir()
    for name in files:
        if name.endswith(".py"):
            src = subprocess.run(
                ["git", "show", f"{rev}:{name}"],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            src = src.replace("from xentref.", "from xentref_before.")
            (tmp / "xentref_before" / Path(name).name).write_text(src, encoding="utf-8")
    sys.path.insert(0, str(tmp))
    return importlib.import_module("xentref_before")


def naive_loss(z: np.ndarray, y: np.ndarray) -> Any:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    return -np.mean(np.log(p)[np.arange(len(y)), y])


def naive_grad(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1
    p /= len(y)
    return p


def competitors(z: np.ndarray, y: np.ndarray, op: str) -> dict[str, Callable[[], Any]]:
    import scipy.special
    import torch
    import torch.nn.functional as F
    from sklearn.metrics import log_loss

    zt, yt = torch.from_numpy(z), torch.from_numpy(y)
    rows = np.arange(len(y))
    labels = np.arange(z.shape[1])
    n_all = os.cpu_count() or 1

    def torch_loss(threads: int) -> Callable[[], Any]:
        def run() -> Any:
            with torch.no_grad():
                return F.cross_entropy(zt, yt)

        run.threads = threads  # type: ignore[attr-defined]  # set outside the timed region
        return run

    def torch_grad(threads: int) -> Callable[[], Any]:
        def run() -> Any:
            leaf = zt.detach().requires_grad_(True)
            F.cross_entropy(leaf, yt).backward()
            return leaf.grad

        run.threads = threads  # type: ignore[attr-defined]
        return run

    if op == "loss":
        runs = {
            "xentref": lambda: xentref.softmax_cross_entropy(z, y),
            "naive": lambda: naive_loss(z, y),
            "scipy": lambda: -np.mean(scipy.special.log_softmax(z, axis=-1)[rows, y]),
            "sklearn": lambda: log_loss(y, scipy.special.softmax(z, axis=-1), labels=labels),
            "torch_1t": torch_loss(1),
            "torch_all": torch_loss(n_all),
        }
        if z.size > SKLEARN_MAX_ELEMENTS:
            del runs["sklearn"]
        if BEFORE is not None:
            runs["xentref_before"] = lambda: BEFORE.softmax_cross_entropy(z, y)
        return runs
    runs = {
        "xentref": lambda: xentref.softmax_cross_entropy_grad(z, y),
        "naive": lambda: naive_grad(z, y),
        "torch_1t": torch_grad(1),
        "torch_all": torch_grad(n_all),
    }
    if BEFORE is not None:
        runs["xentref_before"] = lambda: BEFORE.softmax_cross_entropy_grad(z, y)
    return runs


# --------------------------------------------------------------------------- measurement


def timed(fn: Callable[[], Any]) -> float:
    threads = getattr(fn, "threads", None)
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    gc.collect()
    start = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - start
    del result
    return elapsed


def traced_peak(fn: Callable[[], Any]) -> int:
    """Bytes allocated by one call beyond what existed before it (result included)."""
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    result = fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    del result
    return peak - base


_TORCH_RSS = r"""
import json, re, sys, numpy as np, torch, torch.nn.functional as F
n, c, dtype, seed = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
torch.set_num_threads(1)
small = torch.zeros(4, 3, dtype=getattr(torch, dtype), requires_grad=True)
F.cross_entropy(small, torch.zeros(4, dtype=torch.long)).backward()  # load every kernel
rng = np.random.default_rng(seed)
z = torch.from_numpy(rng.standard_normal((n, c), dtype=getattr(np, dtype)))
y = torch.from_numpy(rng.integers(0, c, n))

def kib(key):
    return int(re.search(key + r":\s+(\d+)", open("/proc/self/status").read()).group(1))

def extra(run):
    # Reset the peak resident set to the current one (Linux >= 4.0), run, read the new peak.
    base = kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    out = run()
    peak = kib("VmHWM")
    del out
    return (peak - base) * 1024

def loss():
    with torch.no_grad():
        return F.cross_entropy(z, y)

def grad():
    leaf = z.detach().requires_grad_(True)
    F.cross_entropy(leaf, y).backward()
    return leaf.grad

loss(), grad()  # first calls allocate once-only buffers
print(json.dumps({"loss": extra(loss), "grad": extra(grad)}))
"""


def torch_rss(n: int, c: int, dtype: str) -> dict[str, int]:
    """Peak RSS growth of one PyTorch loss call, and of one forward + backward (1 thread)."""
    out = subprocess.run(
        [sys.executable, "-c", _TORCH_RSS, str(n), str(c), dtype, str(SEED)],
        capture_output=True,
        text=True,
        check=True,
        # A fixed mmap threshold: glibc then returns every large buffer to the system when
        # it is freed, so a repeated call shows up in the resident set again.
        env=dict(os.environ, OMP_NUM_THREADS="1", MALLOC_MMAP_THRESHOLD_="131072"),
    )
    result: dict[str, int] = json.loads(out.stdout)
    return result


def bench_size(n: int, c: int, repeats: int, dtype: str) -> list[dict[str, Any]]:
    rng = np.random.default_rng(SEED)
    z = rng.standard_normal((n, c), dtype=getattr(np, dtype))
    y = rng.integers(0, c, n)
    floor = [timed(lambda: np.sum(z)) for _ in range(max(repeats, 3))]
    rss = torch_rss(n, c, dtype)
    records = []
    for op in ("loss", "grad"):
        runs = competitors(z, y, op)
        record: dict[str, Any] = {
            "rows": n,
            "classes": c,
            "dtype": dtype,
            "op": op,
            "logits_bytes": z.nbytes,
            "repeats": repeats,
            "floor_s": float(np.median(floor)),
            "competitors": {},
        }
        if op == "loss" and "sklearn" not in runs:
            record["skipped"] = {
                "sklearn": f"over {SKLEARN_MAX_ELEMENTS:,} logits: log_loss one-hot "
                "encodes the labels densely and one call takes over 10 s"
            }
        memory = {}
        for name, fn in runs.items():  # also the warm-up call
            if name.startswith("torch"):
                timed(fn)
                memory[name] = rss[op] if name == "torch_1t" else None
            else:
                memory[name] = traced_peak(fn)
        times: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(repeats):
            for name, fn in runs.items():
                times[name].append(timed(fn))
        ref = np.array(times["torch_1t"])
        for name, ts in times.items():
            record["competitors"][name] = {
                "median_s": float(np.median(ts)),
                "times_s": [round(t, 6) for t in ts],
                "ratio_to_torch_1t": float(np.median(np.array(ts) / ref)),
                "peak_extra_bytes": memory[name],
            }
        records.append(record)
        line = "  ".join(
            f"{name} {v['median_s'] * 1e3:8.2f} ms ({v['ratio_to_torch_1t']:.2f}x)"
            for name, v in record["competitors"].items()
        )
        print(f"{n}x{c} {dtype} {op}: floor {record['floor_s'] * 1e3:.2f} ms  {line}", flush=True)
    return records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "scripts" / "bench_results.json")
    parser.add_argument("--quick", action="store_true", help="small sizes only (smoke test)")
    parser.add_argument(
        "--before", metavar="REV", help="also time xentref as of commit REV, in the same run"
    )
    args = parser.parse_args(argv)
    global BEFORE
    if args.before:
        BEFORE = load_before(args.before)
    start = time.perf_counter()
    results = []
    for n, c, repeats in QUICK_SIZES if args.quick else SIZES:
        for dtype in DTYPES:
            results.extend(bench_size(n, c, repeats, dtype))
    doc = {
        "description": "scripts/bench.py: softmax cross-entropy (mean over integer targets), "
        "xentref vs NumPy, SciPy, scikit-learn and PyTorch CPU",
        "command": "make bench  (python scripts/bench.py --out scripts/bench_results.json)",
        "machine": machine(),
        "settings": {
            "seed": SEED,
            "block_bytes": xentref._softmax_ce.BLOCK_BYTES,
            "timer": "time.perf_counter, gc.collect() before each call",
            "memory": "tracemalloc peak over one call minus the traced size before it "
            "(NumPy-based); PyTorch: VmHWM - VmRSS over one call after resetting the peak, "
            "in a fresh subprocess, 1 thread; the result is included",
            "ratio": "median over repeats of t / t_torch_1t, competitors interleaved",
            "quick": args.quick,
            "before": args.before,
        },
        "total_s": round(time.perf_counter() - start, 1),
        "results": results,
    }
    args.out.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out} in {doc['total_s']} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
