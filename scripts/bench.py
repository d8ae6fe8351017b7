"""Benchmark xentref's softmax cross-entropy against NumPy, SciPy, scikit-learn and PyTorch.

Usage (``make bench`` installs the peers and runs exactly this)::

    python scripts/bench.py --out scripts/bench_results.json    # about 6 minutes on 2 cores
    python scripts/bench.py --quick --out /tmp/bench.json        # small sizes, a smoke test
    python scripts/bench.py --only linear                        # the "linear" section only

``--only softmax`` or ``--only linear`` reruns one section and keeps the other's results in
the output file.

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
``t_competitor / t_torch_1t``. Each time is a sample: the fastest of ``calls_per_sample``
consecutive calls, as many as take about ``SAMPLE_S`` for PyTorch (1 to ``MAX_CALLS``; one call
at the big sizes), because on a shared machine the noise only ever slows a call down.
``floor_s`` is the one-pass memory-bandwidth floor, the median
time of ``np.sum(z)``. Peak extra memory is what a call allocates beyond its inputs, result
included (for the gradient, the result alone is 1x the logits): measured with tracemalloc
for the NumPy-based competitors (NumPy reports its buffers to it) and, for PyTorch, as the
growth of the peak resident set over one call in a fresh subprocess (Linux: the peak is reset
through ``/proc/self/clear_refs`` and read back as ``VmHWM``).
The big sizes get fewer repeats, and scikit-learn is skipped where its dense one-hot
encoding of the labels makes one call take many seconds; the results file says so.

Section ``linear`` (the key "linear" of the results file): the loss and all gradients of a
language model's last layer, N x D hidden states, a V x D weight, V = 32000, D = 512,
float32, integer targets: `xentref.linear_cross_entropy_grad` against PyTorch's
``F.linear_cross_entropy(..., options=nn.LinearCrossEntropyOptions())`` (chunked) and
``options=None`` (the logits built whole), forward + ``backward()``. Each measurement runs in
a fresh subprocess whose environment sets ``OPENBLAS_NUM_THREADS`` / ``OMP_NUM_THREADS``
before NumPy and PyTorch load (and ``torch.set_num_threads``): one thread for the targets,
then every core for the scaling. Times at N = 4096 are interleaved (xentref, chunked,
unchunked, repeated); peak extra memory at N = 1024, 4096, 16384 is the growth of the peak
resident set (``VmHWM``) over one call, one process per competitor and N, the results (the
three gradients) included; for xentref also the tracemalloc peak, which sees NumPy's arrays
but not OpenBLAS's own buffers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import math
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
import xentref._linear  # noqa: E402

# (rows, classes, repeats); each repeat times every competitor once.
SIZES = [(65536, 10, 7), (8192, 1000, 7), (4096, 32000, 5), (1024, 131072, 5)]
QUICK_SIZES = [(4096, 10, 3), (512, 1000, 3), (64, 32000, 3)]
DTYPES = ("float32", "float64")
SEED = 20260501
#: scikit-learn's log_loss one-hot encodes the labels densely; skip it above this many
#: logits (one call takes over 10 s there, and it measures the encoder, not the loss).
SKLEARN_MAX_ELEMENTS = 50_000_000
# A sample is the fastest of a few consecutive calls, about SAMPLE_S seconds of them: on a
# shared machine the noise is other processes pausing this one, never a faster run, so the
# minimum is the measurement (as the timeit documentation advises). Big sizes: one call.
SAMPLE_S, MAX_CALLS = 0.1, 10


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
    try:
        import torch

        kernels = torch.backends.cpu.get_cpu_capability()  # what ATen dispatches to here
    except ImportError:
        kernels = None
    return {
        "cpu": cpu,
        "torch_cpu_capability": kernels,
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


def competitors(
    z: np.ndarray, y: np.ndarray, op: str, children: list[TorchChild]
) -> dict[str, Callable[[], Any]]:
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
    else:
        runs = {
            "xentref": lambda: xentref.softmax_cross_entropy_grad(z, y),
            "naive": lambda: naive_grad(z, y),
            "torch_1t": torch_grad(1),
            "torch_all": torch_grad(n_all),
        }
        if BEFORE is not None:
            runs["xentref_before"] = lambda: BEFORE.softmax_cross_entropy_grad(z, y)
    for child in children:
        runs[f"torch_1t_{child.capability.lower()}"] = child.competitor(op)
    return runs


# --------------------------------------------------------------------------- measurement


def cache_bytes() -> int:
    """The size of the CPU's largest cache (Linux sysfs), or 256 MiB where it cannot be read."""
    sizes = []
    for f in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*/size"):
        text = f.read_text().strip()
        sizes.append(int(text[:-1]) * 1024 if text.endswith("K") else int(text))
    return max(sizes, default=256 * 2**20)


_SWEEP: list[np.ndarray] = []


def flush_cache() -> None:
    """Read twice the largest cache's worth of other memory: no competitor's logits stay in it.

    Otherwise a competitor that runs right after another one on the same array (PyTorch
    after PyTorch, say) finds part of it in cache and one that follows the child process does
    not: at 4096 x 32000 the last-level cache here (260 MiB) holds half the float32 logits.
    """
    if not _SWEEP:
        _SWEEP.append(np.ones(2 * cache_bytes() // 8))
    float(np.sum(_SWEEP[0]))


def timed(fn: Callable[[], Any], calls: int = 1) -> float:
    """The fastest of `calls` consecutive calls, in seconds (gc.collect() before each).

    Every sample starts with the caches flushed (`flush_cache`).
    """
    flush_cache()
    remote = getattr(fn, "remote", None)
    if remote is not None:  # a `TorchChild` competitor times itself
        return float(remote(calls))
    threads = getattr(fn, "threads", None)
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    best = math.inf
    for _ in range(calls):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
        del result
    return best


def calls_per_sample(seconds: float) -> int:
    """Consecutive calls per sample: about `SAMPLE_S` of them, 1 to `MAX_CALLS`."""
    return max(1, min(MAX_CALLS, int(SAMPLE_S / max(seconds, 1e-9))))


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


#: The start of both PyTorch child scripts: the benchmark's logits from the same seed, and the
#: two measured calls (argv: rows, classes, dtype, seed).
_TORCH_CALLS = r"""
import gc, json, re, sys, time, numpy as np, torch, torch.nn.functional as F
n, c, dtype, seed = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
rng = np.random.default_rng(seed)
z = torch.from_numpy(rng.standard_normal((n, c), dtype=getattr(np, dtype)))
y = torch.from_numpy(rng.integers(0, c, n))

def loss():
    with torch.no_grad():
        return F.cross_entropy(z, y)

def grad():
    leaf = z.detach().requires_grad_(True)
    F.cross_entropy(leaf, y).backward()
    return leaf.grad
"""

_TORCH_RSS = (
    _TORCH_CALLS
    + r"""
torch.set_num_threads(1)
small = torch.zeros(4, 3, dtype=getattr(torch, dtype), requires_grad=True)
F.cross_entropy(small, torch.zeros(4, dtype=torch.long)).backward()  # load every kernel

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

loss(), grad()  # first calls allocate once-only buffers
print(json.dumps({"loss": extra(loss), "grad": extra(grad)}))
"""
)


#: PyTorch chooses its CPU kernels once, when it loads, from the widest instruction set the
#: CPU has; ``ATEN_CPU_CAPABILITY`` overrides the choice. Its AVX-512 kernels are not always
#: the faster ones (at 10 classes they were several times slower than its AVX2 kernels on
#: the machine of the committed results), so on such a machine PyTorch is timed with both and
#: each ratio is to the faster of the two, repeat by repeat (``ratio_to_fastest_torch_1t``).
TORCH_ALTERNATIVES = {"AVX512": ("AVX2",)}

_TORCH_TIMER = (
    _TORCH_CALLS
    + r"""
runs = {"loss": loss, "grad": grad}
print(torch.backends.cpu.get_cpu_capability(), flush=True)
for line in sys.stdin:  # "op threads calls": the fastest of `calls` calls, in seconds
    op, threads, calls = line.split()
    torch.set_num_threads(int(threads))
    best = float("inf")
    for _ in range(int(calls)):
        gc.collect()
        start = time.perf_counter()
        result = runs[op]()
        best = min(best, time.perf_counter() - start)
        del result
    print(best, flush=True)
"""
)


class TorchChild:
    """PyTorch with other CPU kernels (`capability`), in a child process on the same data.

    The child builds the logits from the same seed and times its own calls on request, so
    its competitors interleave with the others like any in-process one.
    """

    def __init__(self, capability: str, n: int, c: int, dtype: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _TORCH_TIMER, str(n), str(c), dtype, str(SEED)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=dict(os.environ, ATEN_CPU_CAPABILITY=capability.lower()),
        )
        self.capability = self._reply()
        if self.capability != capability:
            raise RuntimeError(f"PyTorch ran {self.capability} kernels, not {capability}")

    def _reply(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the PyTorch child exited with {self.proc.wait()}")
        return line.strip()

    def time(self, op: str, threads: int, calls: int) -> float:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{op} {threads} {calls}\n")
        self.proc.stdin.flush()
        return float(self._reply())

    def competitor(self, op: str) -> Callable[[], Any]:
        """A competitor that `timed` times in the child (it cannot be called here)."""

        def run() -> Any:
            raise TypeError("timed in the child process: use timed()")

        run.remote = lambda calls: self.time(op, 1, calls)  # type: ignore[attr-defined]
        return run

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait()


def torch_children(n: int, c: int, dtype: str) -> list[TorchChild]:
    """One child per alternative to PyTorch's own choice of kernels on this machine."""
    import torch

    own = torch.backends.cpu.get_cpu_capability()
    return [TorchChild(cap, n, c, dtype) for cap in TORCH_ALTERNATIVES.get(own, ())]


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
    children = torch_children(n, c, dtype)
    try:
        return [bench_op(z, y, op, repeats, floor, rss, children) for op in ("loss", "grad")]
    finally:
        for child in children:
            child.close()


def bench_op(
    z: np.ndarray,
    y: np.ndarray,
    op: str,
    repeats: int,
    floor: list[float],
    rss: dict[str, int],
    children: list[TorchChild],
) -> dict[str, Any]:
    """Every competitor's time and memory for one measure ("loss" or "grad") at one size."""
    n, c = z.shape
    dtype = str(z.dtype)
    runs = competitors(z, y, op, children)
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
    one_thread = [name for name in runs if name.startswith("torch_1t")]
    calls = calls_per_sample(min(timed(runs[name]) for name in one_thread))
    record["calls_per_sample"] = calls
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            times[name].append(timed(fn, calls))
    ref = np.array(times["torch_1t"])
    fastest = np.min([times[name] for name in one_thread], axis=0)
    for name, ts in times.items():
        record["competitors"][name] = {
            "median_s": float(np.median(ts)),
            "times_s": [round(t, 6) for t in ts],
            "ratio_to_torch_1t": float(np.median(np.array(ts) / ref)),
            "ratio_to_fastest_torch_1t": float(np.median(np.array(ts) / fastest)),
            "peak_extra_bytes": memory[name],
        }
    line = "  ".join(
        f"{name} {v['median_s'] * 1e3:8.2f} ms ({v['ratio_to_fastest_torch_1t']:.2f}x)"
        for name, v in record["competitors"].items()
    )
    print(f"{n}x{c} {dtype} {op}: floor {record['floor_s'] * 1e3:.2f} ms  {line}", flush=True)
    return record


# --------------------------------------------------------------------------- linear section

LINEAR_D, LINEAR_V, LINEAR_N = 512, 32000, 4096
LINEAR_MEMORY_N = (1024, 4096, 16384)
LINEAR_REPEATS = 3
LINEAR_COMPETITORS = ("xentref", "torch_chunked", "torch_unchunked")

_LINEAR_CHILD = r"""
import gc, json, re, sys, time, tracemalloc
sys.path.insert(0, sys.argv[1])
mode, n, threads, seed = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
names = sys.argv[6].split(",")
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
import xentref
torch.set_num_threads(threads)
D, V = int(sys.argv[7]), int(sys.argv[8])

def data(n):
    rng = np.random.default_rng(seed)
    h = rng.standard_normal((n, D), dtype=np.float32)
    w = (rng.standard_normal((V, D), dtype=np.float32) / np.float32(np.sqrt(D)))
    return h, w, rng.integers(0, V, n)

def call(name, h, w, y, ht=None, wt=None, yt=None):
    if name == "xentref":
        return xentref.linear_cross_entropy_grad(h, w, y)
    hl, wl = ht.detach().requires_grad_(True), wt.detach().requires_grad_(True)
    opts = nn.LinearCrossEntropyOptions() if name == "torch_chunked" else None
    loss = F.linear_cross_entropy(hl, wl, yt, options=opts)
    loss.backward()
    return loss, hl.grad, wl.grad

def kib(key):
    return int(re.search(key + r":\s+(\d+)", open("/proc/self/status").read()).group(1))

small = data(8)
for name in names:  # load every kernel and OpenBLAS's buffers
    call(name, *small, *(torch.from_numpy(a) for a in small))
h, w, y = data(n)
ht, wt, yt = (torch.from_numpy(a) for a in (h, w, y))
out = {}
if mode == "accuracy":  # d_weight and d_hidden errors against float64 on the same inputs
    ref = xentref.linear_cross_entropy_grad(h.astype(np.float64), w.astype(np.float64), y)
    for name in names:
        r = call(name, h, w, y, ht, wt, yt)
        dh, dw = (r.hidden, r.linear_weight) if name == "xentref" else (r[1], r[2])
        errs = {}
        for key, got, want in (("d_weight", dw, ref.linear_weight), ("d_hidden", dh, ref.hidden)):
            got = np.asarray(got, dtype=np.float64)
            errs[key] = {
                "max_rel": float(np.max(np.abs(got - want)) / np.max(np.abs(want))),
                "fro_rel": float(np.linalg.norm(got - want) / np.linalg.norm(want)),
            }
        out[name] = errs
elif mode == "time":
    times = {name: [] for name in names}
    for name in names:  # warm-up at full size
        call(name, h, w, y, ht, wt, yt)
    for _ in range(int(sys.argv[9])):
        for name in names:
            gc.collect()
            start = time.perf_counter()
            r = call(name, h, w, y, ht, wt, yt)
            times[name].append(time.perf_counter() - start)
            del r
    out = times
else:
    name = names[0]
    gc.collect()
    base = kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    r = call(name, h, w, y, ht, wt, yt)
    peak = kib("VmHWM")
    result = sum(a.nbytes if isinstance(a, np.ndarray) else a.numel() * a.element_size()
                 for a in r if a is not None)
    del r
    out = {"rss_extra_bytes": (peak - base) * 1024, "result_bytes": int(result)}
    if name == "xentref":
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        r = call(name, h, w, y)
        out["traced_extra_bytes"] = tracemalloc.get_traced_memory()[1] - before
        tracemalloc.stop()
print(json.dumps(out))
"""


def _linear_child(mode: str, n: int, threads: int, names: list[str], repeats: int = 1) -> Any:
    env = dict(
        os.environ,
        OPENBLAS_NUM_THREADS=str(threads),
        OMP_NUM_THREADS=str(threads),
        MKL_NUM_THREADS=str(threads),
    )
    if mode == "memory":  # large buffers go back to the system when freed: the peak shows
        env["MALLOC_MMAP_THRESHOLD_"] = "131072"
    args = [mode, str(n), str(threads), str(SEED), ",".join(names)]
    args += [str(LINEAR_D), str(LINEAR_V), str(repeats)]
    out = subprocess.run(
        [sys.executable, "-c", _LINEAR_CHILD, str(ROOT), *args],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _available_bytes() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def bench_linear(repeats: int = LINEAR_REPEATS, quick: bool = False) -> dict[str, Any]:
    """Time (N = 4096, interleaved) and peak memory (three N) of loss + all gradients."""
    names = list(LINEAR_COMPETITORS)
    n_time = 512 if quick else LINEAR_N
    memory_n = (256, 512) if quick else LINEAR_MEMORY_N
    times = _linear_child("time", n_time, 1, names, repeats)
    ref = {k: np.array(times[k]) for k in ("torch_chunked", "torch_unchunked")}
    timing = {
        name: {
            "median_s": float(np.median(ts)),
            "times_s": [round(t, 4) for t in ts],
            "ratio_to_torch_chunked": float(np.median(np.array(ts) / ref["torch_chunked"])),
            "ratio_to_torch_unchunked": float(np.median(np.array(ts) / ref["torch_unchunked"])),
        }
        for name, ts in times.items()
    }
    print(
        f"linear N={n_time}, 1 thread: "
        + "  ".join(
            f"{k} {v['median_s']:.2f} s ({v['ratio_to_torch_chunked']:.2f}x chunked, "
            f"{v['ratio_to_torch_unchunked']:.2f}x unchunked)"
            for k, v in timing.items()
        ),
        flush=True,
    )
    accuracy = _linear_child("accuracy", n_time, 1, names)
    print(f"linear accuracy N={n_time}: {accuracy}", flush=True)
    cores = os.cpu_count() or 1
    scaling = {}
    for threads in sorted({1, cores}):
        if threads == 1:
            scaling["1"] = {k: v["median_s"] for k, v in timing.items()}
            continue
        ts = _linear_child("time", n_time, threads, names, 1)
        scaling[str(threads)] = {k: float(np.median(v)) for k, v in ts.items()}
        print(f"linear N={n_time}, {threads} threads: {scaling[str(threads)]}", flush=True)
    memory: dict[str, dict[str, Any]] = {name: {} for name in names}
    skipped: dict[str, str] = {}
    for n in memory_n:
        logits = n * LINEAR_V * 4
        for name in names:
            if name == "torch_unchunked" and _available_bytes() < 4 * logits + (2 << 30):
                skipped[f"{name} N={n}"] = (
                    f"needs about {3 * logits / 2**30:.1f} GiB for its logits and their "
                    f"gradients; only {_available_bytes() / 2**30:.1f} GiB available"
                )
                continue
            memory[name][str(n)] = _linear_child("memory", n, 1, [name])
            print(f"linear memory N={n} {name}: {memory[name][str(n)]}", flush=True)
    return {
        "shape": {"N": n_time, "D": LINEAR_D, "V": LINEAR_V, "dtype": "float32"},
        "what": "loss (mean over integer targets) + gradients of hidden and weight, no bias",
        "repeats": repeats,
        "block_bytes": xentref._linear.LOGITS_BYTES,
        "slab_bytes": xentref._linear.SLAB_BYTES,
        "times": timing,
        "accuracy": accuracy,
        "threads": scaling,
        "memory": memory,
        "memory_n": list(memory_n),
        "skipped": skipped,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "scripts" / "bench_results.json")
    parser.add_argument("--quick", action="store_true", help="small sizes only (smoke test)")
    parser.add_argument(
        "--only", choices=("softmax", "linear"), help="run one section, keep the other's results"
    )
    parser.add_argument(
        "--before", metavar="REV", help="also time xentref as of commit REV, in the same run"
    )
    args = parser.parse_args(argv)
    global BEFORE
    if args.before:
        BEFORE = load_before(args.before)
    start = time.perf_counter()
    doc: dict[str, Any] = {}
    if args.only and args.out.exists():
        doc = json.loads(args.out.read_text(encoding="utf-8"))
    if args.only != "linear":
        results = []
        for n, c, repeats in QUICK_SIZES if args.quick else SIZES:
            for dtype in DTYPES:
                results.extend(bench_size(n, c, repeats, dtype))
        doc.update(
            {
                "description": "scripts/bench.py: softmax cross-entropy (mean over integer "
                "targets), xentref vs NumPy, SciPy, scikit-learn and PyTorch CPU",
                "command": "make bench  (python scripts/bench.py --out scripts/bench_results.json)",
                "machine": machine(),
                "settings": {
                    "seed": SEED,
                    "block_bytes": xentref._softmax_ce.BLOCK_BYTES,
                    "timer": "time.perf_counter, gc.collect() before each call; a sample "
                    "is the fastest of calls_per_sample consecutive calls (about "
                    f"{SAMPLE_S} s of PyTorch's, 1 to {MAX_CALLS}), after reading "
                    f"{2 * cache_bytes() // 2**20} MiB of other memory (twice the largest "
                    "cache) so that every sample starts with the logits out of cache",
                    "memory": "tracemalloc peak over one call minus the traced size before it "
                    "(NumPy-based); PyTorch: VmHWM - VmRSS over one call after resetting the "
                    "peak, in a fresh subprocess, 1 thread; the result is included",
                    "ratio": "median over repeats of t / t_torch_1t, competitors interleaved; "
                    "ratio_to_fastest_torch_1t: of t / the fastest 1-thread PyTorch in the "
                    "same repeat",
                    "torch_alternatives": TORCH_ALTERNATIVES,
                    "quick": args.quick,
                    "before": args.before,
                },
                "total_s": round(time.perf_counter() - start, 1),
                "results": results,
            }
        )
    if args.only != "softmax":
        section_start = time.perf_counter()
        linear = bench_linear(repeats=2 if args.quick else LINEAR_REPEATS, quick=args.quick)
        linear["machine"] = machine()
        linear["quick"] = args.quick
        linear["total_s"] = round(time.perf_counter() - section_start, 1)
        doc["linear"] = linear
    args.out.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out} in {time.perf_counter() - start:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
