"""The one-file copies of the public functions (``scripts/site/copy_files.py``, site ``copy/``).

For every name in ``xentref.__all__`` the standalone file is generated into a temporary
folder and checked in a fresh interpreter that can import nothing but NumPy and the standard
library (``python -I -S``, its ``sys.path`` holding the standard library, the temporary
folder and a folder with links to NumPy alone; importing xentref there must fail):

- its own examples pass with the standard library's doctest, exactly as a user would run
  them: ``python -m doctest -o NORMALIZE_WHITESPACE -o ELLIPSIS <name>.py`` (no NUMBER flag);
- on every case of ``CASES`` (hard inputs, option combinations, bad input) it returns the
  package's result bit for bit (same dtype, shape and bytes) or raises the package's
  exception with the same message. A public name without cases fails: add them.

The files are also parsed here: only NumPy and standard-library imports, a header with the
version, the licence and the reference page. The generator itself is tested on small fake
packages (a NamedTuple with a method, constants, a name shadowed by a local, two different
definitions of one name, a third-party import).
"""

from __future__ import annotations

import ast
import importlib.util
import os
import pickle
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import xentref

ROOT = Path(__file__).resolve().parent.parent
GENERATOR = ROOT / "scripts" / "site" / "copy_files.py"
PUBLIC = list(xentref.__all__)


def _load_generator() -> ModuleType:
    name = "xentref_copy_files"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, GENERATOR)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {GENERATOR}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


copy_files = _load_generator()

# --------------------------------------------------------------------------------------------
# The cases: (id, positional arguments, keyword arguments), keyed by function name.
# --------------------------------------------------------------------------------------------

Case = tuple[str, tuple[Any, ...], dict[str, Any]]
_rng = np.random.default_rng(20261201)
inf, nan = np.inf, np.nan


def _softmax_rows(shape: tuple[int, ...], dtype: Any = np.float64) -> np.ndarray:
    e = np.exp(_rng.normal(size=shape) * 2)
    return (e / e.sum(axis=-1, keepdims=True)).astype(dtype)


_X = _rng.normal(size=(4, 6)) * 3
_X_HARD = np.array(
    [[0.0, -50.0, -inf], [1000.0, 1000.0, -1e308], [-inf, -inf, -inf], [inf, 0.0, 1.0]]
)
_X_NAN = np.array([[nan, 0.0, 1.0], [0.0, 1.0, 2.0]])
_BAD_ARRAYS: list[tuple[str, Any]] = [
    ("none", None),
    ("complex", np.array([1.0 + 1j, 2.0])),
    ("strings", np.array(["a", "b"])),
    ("object", [object(), object()]),
    ("ragged", [[1.0, 2.0], [3.0]]),
]


def _stable_cases(name: str) -> list[Case]:
    cases: list[Case] = [
        ("random", (_X,), {}),
        ("hard", (_X_HARD,), {}),
        ("nan", (_X_NAN,), {}),
        ("float32", (_X.astype(np.float32),), {}),
        ("float32-hard", (np.array([[0.0, -20.0, -inf], [88.0, 89.0, -1e38]], np.float32),), {}),
        ("float16", (_X.astype(np.float16),), {}),
        ("ints", ([[1, 2, 3], [-5, 0, 5]],), {}),
        ("bool", ([True, False],), {}),
        ("tiny-tail", ([0.0, -700.0, -740.0],), {}),
        ("empty-rows", (np.zeros((0, 3)),), {}),
        *[(f"bad-{label}", (value,), {}) for label, value in _BAD_ARRAYS],
    ]
    if name in ("sigmoid", "log_sigmoid"):
        edge = np.array([-inf, -800.0, -745.0, -40.0, -1e-300, 0.0, 1e-300, 37.0, 40.0, 800.0, inf])
        return [
            *cases,
            ("edges", (edge,), {}),
            ("scalar", (-40.0,), {}),
            ("nan-elem", ([nan],), {}),
        ]
    cases += [
        ("axis0", (_X,), {"axis": 0}),
        ("axis-2", (_X,), {"axis": -2}),
        ("3d-axis1", (_rng.normal(size=(2, 3, 4)),), {"axis": 1}),
        ("one-class", ([[3.0], [-inf]],), {}),
        ("bad-axis-range", (_X,), {"axis": 2}),
        ("bad-axis-negative", (_X,), {"axis": -3}),
        ("bad-axis-float", (_X,), {"axis": 1.0}),
        ("bad-axis-bool", (_X,), {"axis": True}),
        ("bad-axis-none", (_X,), {"axis": None}),
        ("bad-scalar", (3.0,), {}),
        ("bad-no-classes", (np.zeros((3, 0)),), {}),
    ]
    if name == "logsumexp":
        cases += [
            ("keepdims", (_X_HARD,), {"keepdims": True}),
            ("keepdims-axis0", (_X,), {"axis": 0, "keepdims": True}),
        ]
    return cases


_P = np.array([[0.2, 0.3, 0.5], [0.0, 0.0, 1.0], [0.5, 0.5, 0.0]])
_Q = np.array([[0.1, 0.6, 0.3], [0.2, 0.3, 0.5], [0.5, 0.5, 0.0]])
_NEAR = np.array([0.5 + 2.0**-30, 0.5 - 2.0**-30])
_BASE_ERRORS: list[Case] = [
    (f"bad-base-{label}", (), {"base": value})
    for label, value in [
        ("one", 1.0),
        ("zero", 0.0),
        ("negative", -2.0),
        ("inf", inf),
        ("nan", nan),
        ("string", "2"),
        ("bool", True),
    ]
]


def _information_cases(name: str) -> list[Case]:
    two = name != "entropy"
    p, q = (_P, _Q) if two else (_P, None)

    def args(*arrays: Any) -> tuple[Any, ...]:
        return arrays if two else arrays[:1]

    cases: list[Case] = [
        ("basic", args(p, q), {}),
        ("bits", args(p, q), {"base": 2}),
        ("base10", args(p, q), {"base": 10.0}),
        ("axis0", args(p.T, None if q is None else q.T), {"axis": 0}),
        ("float32", args(p.astype(np.float32), None if q is None else q.astype(np.float32)), {}),
        ("one-hot", args([1.0, 0.0, 0.0], [0.7, 0.2, 0.1]), {}),
        ("random", args(_softmax_rows((5, 7)), _softmax_rows((5, 7))), {}),
        ("nan", args([nan, 0.5, 0.5], [0.2, 0.3, 0.5]), {}),
        ("bad-not-summing", args([0.5, 0.6], [0.5, 0.5]), {}),
        ("bad-negative", args([1.5, -0.5], [0.5, 0.5]), {}),
        ("bad-inf", args([inf, 0.0], [0.5, 0.5]), {}),
        ("bad-axis", args(p, q), {"axis": 2}),
        ("bad-axis-float", args(p, q), {"axis": 0.0}),
        ("bad-scalar", args(1.0, 1.0), {}),
        *[(f"bad-p-{label}", args(value, [0.5, 0.5]), {}) for label, value in _BAD_ARRAYS],
        *[(label, args(p, q), kw) for label, _, kw in _BASE_ERRORS],
    ]
    if two:
        cases += [
            ("q-zero-where-p-positive", ([0.5, 0.5, 0.0], [1.0, 0.0, 0.0]), {}),
            ("near-equal", ([0.5, 0.5], _NEAR), {}),
            ("near-equal-bits", ([0.5, 0.5], _NEAR), {"base": 2}),
            ("same", (_P, _P), {}),
            ("broadcast-q", (_P, [0.2, 0.3, 0.5]), {}),
            ("mixed-dtypes", (_P.astype(np.float32), _Q), {}),
            ("tiny-q", ([1e-300, 1 - 1e-300], [1e-200, 1 - 1e-200]), {}),
            ("empty", (np.zeros((0, 3)), np.zeros((0, 3))), {}),
            ("bad-shapes", (_P, [0.5, 0.5]), {}),
            ("bad-q-not-summing", ([0.5, 0.5], [0.5, 0.6]), {}),
            *[(f"bad-q-{label}", ([0.5, 0.5], value), {}) for label, value in _BAD_ARRAYS],
        ]
    return cases


# Softmax cross-entropy: few classes (<= 32, the transposed layout) and many (> 32).
_Z = _rng.normal(size=(6, 5)) * 3
_Y = np.array([0, 4, -100, 2, 2, 1])
_Y_IGNORE2 = np.array([0, 4, 2, 2, 3, 1])
_W = np.array([1.0, 0.5, 2.0, 0.0, 3.0])
_Z_MASKED = np.array(
    [[0.0, -inf, 2.0, -inf, 1.0], [-inf, -inf, -inf, 5.0, -inf], [3.0, 1.0, -inf, 0.0, -inf]]
)
_Y_MASKED = np.array([2, 3, 0])
_T_MASKED = np.array(
    [[0.3, 0.0, 0.5, 0.0, 0.2], [0.0, 0.0, 0.0, 1.0, 0.0], [0.5, 0.5, 0.0, 0.0, 0.0]]
)
_T_SOFT = _softmax_rows((6, 5))
_Z_MANY = _rng.normal(size=(7, 40)) * 4
_Y_MANY = _rng.integers(0, 40, size=7)
_T_MANY = _softmax_rows((7, 40))
_W_MANY = _rng.uniform(0, 2, size=40)


def _softmax_ce_cases() -> list[Case]:
    cases: list[Case] = []
    for w_label, w in (("noweight", None), ("weight", _W)):
        for eps in (0.0, 0.1, 1.0):
            for reduction in ("none", "mean", "sum"):
                tag = f"{w_label}-eps{eps}-{reduction}"
                options = {"weight": w, "label_smoothing": eps, "reduction": reduction}
                cases += [
                    (f"index-ignore-{tag}", (_Z, _Y), options),
                    (f"index-ignore2-{tag}", (_Z, _Y_IGNORE2), {**options, "ignore_index": 2}),
                    (f"probs-{tag}", (_Z, _T_SOFT), options),
                    (f"masked-index-{tag}", (_Z_MASKED, _Y_MASKED), {**options, "weight": None}),
                    (f"masked-probs-{tag}", (_Z_MASKED, _T_MASKED), {**options, "weight": None}),
                    (f"f32-{tag}", (_Z.astype(np.float32), _Y), options),
                    (
                        f"f32-probs-{tag}",
                        (_Z.astype(np.float32), _T_SOFT.astype(np.float32)),
                        options,
                    ),
                ]
                w_many = None if w is None else _W_MANY
                many = {**options, "weight": w_many}
                cases += [
                    (f"many-index-{tag}", (_Z_MANY, _Y_MANY), many),
                    (f"many-probs-{tag}", (_Z_MANY, _T_MANY), many),
                    (f"many-f32-{tag}", (_Z_MANY.astype(np.float32), _Y_MANY), many),
                ]
    for zl, cap in ((1e-4, None), (0.0, 30.0), (0.01, 5.0)):
        for reduction in ("none", "mean", "sum"):
            tag = f"zloss{zl}-softcap{cap}-{reduction}"
            options = {"z_loss": zl, "softcap": cap, "reduction": reduction}
            cases += [
                (f"index-{tag}", (_Z, _Y), {**options, "weight": _W, "label_smoothing": 0.1}),
                (f"probs-{tag}", (_Z, _T_SOFT), {**options, "label_smoothing": 0.2}),
                (f"masked-{tag}", (_Z_MASKED, _Y_MASKED), options),
                (f"many-f32-{tag}", (_Z_MANY.astype(np.float32), _Y_MANY), options),
                (f"huge-{tag}", ([[1e4, -1e4, 0.0], [700.0, 0.0, -inf]], [1, 0]), options),
            ]
    cases += [
        ("bad-z-loss-negative", (_Z, _Y), {"z_loss": -1e-4}),
        ("bad-z-loss-inf", (_Z, _Y), {"z_loss": inf}),
        ("bad-z-loss-nan", (_Z, _Y), {"z_loss": nan}),
        ("bad-z-loss-string", (_Z, _Y), {"z_loss": "0.1"}),
        ("bad-softcap-zero", (_Z, _Y), {"softcap": 0.0}),
        ("bad-softcap-negative", (_Z, _Y), {"softcap": -30.0}),
        ("bad-softcap-inf", (_Z, _Y), {"softcap": inf}),
        ("bad-softcap-bool", (_Z, _Y), {"softcap": True}),
        ("bad-softcap-string", (_Z, _Y), {"softcap": "30"}),
    ]
    big_z = _rng.normal(size=(3000, 50)) * 5  # more than BLOCK_BYTES: several blocks
    big_few = _rng.normal(size=(70000, 2)) * 5
    cases += [
        ("tiny-loss-1e-300", ([[700.0, 0.0]], [0]), {}),
        (
            "tiny-loss-rows",
            ([[690.0, 0.0, -10.0], [0.0, 745.0, 1.0]], [0, 1]),
            {"reduction": "none"},
        ),
        (
            "tiny-loss-f32",
            (np.array([[90.0, 0.0], [0.0, 100.0]], np.float32), [0, 1]),
            {"reduction": "none"},
        ),
        ("tiny-loss-probs", ([[700.0, 0.0]], [[1.0, 0.0]]), {}),
        (
            "huge-logits",
            ([[1e308, -1e308, 0.0], [3e38, 0.0, -3e38]], [1, 0]),
            {"reduction": "none"},
        ),
        ("target-on-masked", ([[0.0, -inf], [1.0, 2.0]], [1, 0]), {"reduction": "none"}),
        ("inf-and-nan", ([[inf, 0.0], [nan, 1.0], [-inf, -inf]], [0, 1, 0]), {"reduction": "none"}),
        ("all-ignored-mean", (_Z[:2], [-100, -100]), {}),
        ("zero-weight-mean", (_Z[:2], [3, 3]), {"weight": _W}),
        ("empty", (np.zeros((0, 4)), np.zeros(0, np.int64)), {}),
        ("empty-sum", (np.zeros((0, 4)), np.zeros(0, np.int64)), {"reduction": "sum"}),
        ("axis1-3d", (_rng.normal(size=(2, 4, 3)), _rng.integers(0, 4, size=(2, 3))), {"axis": 1}),
        (
            "axis1-3d-probs",
            (_rng.normal(size=(2, 4, 3)), np.moveaxis(_softmax_rows((2, 3, 4)), -1, 1)),
            {"axis": 1, "label_smoothing": 0.2},
        ),
        ("axis0", (_Z.T, _Y), {"axis": 0, "weight": _W}),
        ("one-d", (_Z[0], 2), {}),
        ("int32-target", (_Z, _Y.astype(np.int32)), {"reduction": "none"}),
        ("float-target", (_Z, _Y.astype(np.float64)), {"reduction": "none"}),
        ("int-logits", ([[1, 2, 3]], [2]), {}),
        ("f16-logits", (_Z.astype(np.float16), _Y), {"reduction": "none"}),
        ("list-weight-int", (_Z, _Y), {"weight": [1, 2, 3, 4, 5]}),
        (
            "blocks-many",
            (big_z, _rng.integers(0, 50, size=3000)),
            {"label_smoothing": 0.05, "reduction": "sum"},
        ),
        ("blocks-few", (big_few, _rng.integers(0, 2, size=70000)), {"weight": [0.3, 1.7]}),
        ("blocks-few-probs", (big_few[:5000], _softmax_rows((5000, 2))), {"reduction": "none"}),
        ("bad-index-high", (_Z, [0, 5, 1, 1, 1, 1]), {}),
        ("bad-index-negative", (_Z, [0, -1, 1, 1, 1, 1]), {}),
        ("bad-index-not-whole", (_Z, [0, 1.5, 1, 1, 1, 1]), {}),
        ("bad-index-nan", (_Z, [0, nan, 1, 1, 1, 1]), {}),
        ("bad-index-strings", (_Z, np.array(["a"] * 6)), {}),
        ("bad-target-shape", (_Z, [0, 1]), {}),
        ("bad-target-none", (_Z, None), {}),
        ("bad-target-ragged", (_Z, [[0.5, 0.5], [1.0]]), {}),
        ("bad-probs-sum", (_Z[:1], [[0.5, 0.6, 0.0, 0.0, 0.0]]), {}),
        ("bad-probs-negative", (_Z[:1], [[1.5, -0.5, 0.0, 0.0, 0.0]]), {}),
        ("bad-probs-ignore-index", (_Z, _T_SOFT), {"ignore_index": 0}),
        ("bad-weight-shape", (_Z, _Y), {"weight": [1.0, 2.0]}),
        ("bad-weight-negative", (_Z, _Y), {"weight": [1.0, -2.0, 1.0, 1.0, 1.0]}),
        ("bad-weight-inf", (_Z, _Y), {"weight": [1.0, inf, 1.0, 1.0, 1.0]}),
        ("bad-weight-complex", (_Z, _Y), {"weight": np.ones(5, complex)}),
        ("bad-smoothing-high", (_Z, _Y), {"label_smoothing": 1.5}),
        ("bad-smoothing-negative", (_Z, _Y), {"label_smoothing": -0.1}),
        ("bad-smoothing-nan", (_Z, _Y), {"label_smoothing": nan}),
        ("bad-smoothing-string", (_Z, _Y), {"label_smoothing": "0.1"}),
        ("bad-reduction", (_Z, _Y), {"reduction": "avg"}),
        ("bad-reduction-none", (_Z, _Y), {"reduction": None}),
        ("bad-ignore-index-float", (_Z, _Y), {"ignore_index": -100.0}),
        ("bad-ignore-index-bool", (_Z, _Y), {"ignore_index": False}),
        ("bad-axis", (_Z, _Y), {"axis": 2}),
        ("bad-axis-bool", (_Z, _Y), {"axis": True}),
        ("bad-no-classes", (np.zeros((2, 0)), [0, 0]), {}),
        ("bad-scalar-logits", (1.0, 0), {}),
        *[(f"bad-logits-{label}", (value, [0, 1]), {}) for label, value in _BAD_ARRAYS],
    ]
    return cases


_BP = np.array([[0.9, 0.2, 0.5], [0.1, 0.5, 1.0], [0.0, 1e-300, 1 - 1e-16]])
_BT = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 1.0], [0.0, 1.0, 1.0]])
_BZ = np.array([[2.0, -1.0, 0.0], [-800.0, 800.0, 40.0], [-inf, inf, -40.0]])


def _binary_cases(name: str) -> list[Case]:
    logits = name != "binary_cross_entropy"
    x = _BZ if logits else _BP
    cases: list[Case] = []
    for reduction in ("none", "mean", "sum"):
        cases += [
            (f"basic-{reduction}", (x, _BT), {"reduction": reduction}),
            (f"weight-{reduction}", (x, _BT), {"weight": [1.0, 0.0, 2.5], "reduction": reduction}),
            (
                f"weight-rows-{reduction}",
                (x, _BT),
                {"weight": [[1.0], [2.0], [0.5]], "reduction": reduction},
            ),
            (f"f32-{reduction}", (x.astype(np.float32), _BT), {"reduction": reduction}),
        ]
    cases += [
        (
            "random",
            (
                _rng.normal(size=(5, 4)) * 5 if logits else _rng.uniform(size=(5, 4)),
                _rng.uniform(size=(5, 4)),
            ),
            {"reduction": "none"},
        ),
        (
            "tiny",
            ([1e-300, 1 - 1e-16] if not logits else [-700.0, 36.0], [0.0, 1.0]),
            {"reduction": "none"},
        ),
        ("nan", ([nan, 0.5], [1.0, 0.0]), {"reduction": "none"}),
        ("ints", ([[1, 0]], [[1, 0]]), {"reduction": "none"}),
        ("empty-mean", (np.zeros(0), np.zeros(0)), {}),
        ("bad-shape", (x, _BT[:2]), {}),
        ("bad-target-high", (x[0], [1.5, 0.0, 0.0]), {}),
        ("bad-target-negative", (x[0], [-0.5, 0.0, 0.0]), {}),
        ("bad-weight-shape", (x, _BT), {"weight": [1.0, 2.0]}),
        ("bad-weight-negative", (x, _BT), {"weight": [1.0, -2.0, 1.0]}),
        ("bad-weight-broadcast-up", (x[0], _BT[0]), {"weight": np.ones((2, 3))}),
        ("bad-reduction", (x, _BT), {"reduction": "avg"}),
        ("bad-target-none", (x, None), {}),
        *[(f"bad-x-{label}", (value, [0.0, 1.0]), {}) for label, value in _BAD_ARRAYS],
    ]
    if not logits:
        cases += [
            ("bad-probs-high", ([1.5], [1.0]), {}),
            ("bad-probs-negative", ([-0.1], [1.0]), {}),
        ]
    else:
        cases += [
            (f"pos-weight-{r}", (_BZ, _BT), {"pos_weight": [3.0, 0.5, 1.0], "reduction": r})
            for r in ("none", "mean", "sum")
        ]
        cases += [
            (
                "pos-and-weight",
                (_BZ, _BT),
                {"pos_weight": [2.0, 1.0, 0.0], "weight": [[1.0], [0.0], [2.0]]},
            ),
            (
                "pos-weight-f32",
                (_BZ.astype(np.float32), _BT),
                {"pos_weight": 4.0, "reduction": "none"},
            ),
            ("bad-pos-weight-negative", (_BZ, _BT), {"pos_weight": -1.0}),
            ("bad-pos-weight-shape", (_BZ, _BT), {"pos_weight": [1.0, 2.0]}),
            ("bad-pos-weight-none-kind", (_BZ, _BT), {"pos_weight": "x"}),
        ]
    return cases


def _focal_cases() -> list[Case]:
    cases: list[Case] = []
    for alpha in (0.25, -1.0, 0.0, 1.0):
        for gamma in (0.0, 0.5, 2.0):
            for reduction in ("none", "mean", "sum"):
                tag = f"a{alpha}-g{gamma}-{reduction}"
                options = {"alpha": alpha, "gamma": gamma, "reduction": reduction}
                cases.append((tag, (_BZ, _BT), options))
    cases += [
        ("f32", (_BZ.astype(np.float32), _BT), {}),
        ("tiny", ([30.0, -30.0, 700.0], [1.0, 0.0, 1.0]), {}),
        ("bad-alpha-high", (_BZ, _BT), {"alpha": 1.5}),
        ("bad-alpha-nan", (_BZ, _BT), {"alpha": nan}),
        ("bad-gamma-negative", (_BZ, _BT), {"gamma": -1.0}),
        ("bad-gamma-inf", (_BZ, _BT), {"gamma": inf}),
        ("bad-gamma-string", (_BZ, _BT), {"gamma": "2"}),
        ("bad-reduction", (_BZ, _BT), {"reduction": "avg"}),
        ("bad-shape", (_BZ, _BT[:1]), {}),
        ("bad-target", (_BZ[0], [2.0, 0.0, 0.0]), {}),
        *[(f"bad-logits-{label}", (value, [0.0, 1.0]), {}) for label, value in _BAD_ARRAYS],
    ]
    return cases


_CAL_Z = _rng.normal(size=(60, 4)) * 3
_CAL_Y = np.where(_rng.uniform(size=60) < 0.7, np.argmax(_CAL_Z, axis=1), _rng.integers(0, 4, 60))


def _fit_temperature_cases() -> list[Case]:
    masked = _CAL_Z.copy()
    masked[::3, 3] = -inf
    y_masked = np.where(masked[np.arange(60), _CAL_Y] == -inf, 0, _CAL_Y)
    return [
        ("random", (_CAL_Z, _CAL_Y), {}),
        ("doc-example", ([[4.0, 0.0], [4.0, 0.0], [4.0, 0.0], [0.0, 4.0]], [0, 0, 1, 1]), {}),
        ("float32", (_CAL_Z.astype(np.float32), _CAL_Y), {}),
        ("masked", (masked, y_masked), {}),
        ("axis0", (_CAL_Z.T, _CAL_Y), {"axis": 0}),
        ("many-classes", (_Z_MANY, _Y_MANY), {}),
        ("nan", (np.where(np.arange(240).reshape(60, 4) == 5, nan, _CAL_Z), _CAL_Y), {}),
        ("bad-uniform", (np.zeros((5, 3)), [0, 1, 2, 0, 1]), {}),
        ("bad-separable", ([[5.0, 0.0], [0.0, 5.0]], [0, 1]), {}),
        ("bad-empty", (np.zeros((0, 3)), np.zeros(0, np.int64)), {}),
        ("bad-target-range", (_CAL_Z, np.full(60, 4)), {}),
        ("bad-target-shape", (_CAL_Z, _CAL_Y[:5]), {}),
        ("probs-target", (_CAL_Z, _softmax_rows((60, 4))), {}),  # soft targets: valid
        ("bad-axis", (_CAL_Z, _CAL_Y), {"axis": 2}),
        *[(f"bad-logits-{label}", (value, [0, 1]), {}) for label, value in _BAD_ARRAYS],
    ]


_ECE_P = _softmax_rows((200, 5))
_ECE_Y = _rng.integers(0, 5, size=200)


def _ece_cases() -> list[Case]:
    return [
        *[(f"bins{n}", (_ECE_P, _ECE_Y), {"n_bins": n}) for n in (1, 2, 5, 15, 100)],
        ("float32", (_ECE_P.astype(np.float32), _ECE_Y), {}),
        (
            "doc-example",
            ([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]], [0, 1, 1, 0]),
            {"n_bins": 5},
        ),
        ("edges", ([[1.0, 0.0], [0.5, 0.5], [0.2, 0.8]], [0, 1, 1]), {"n_bins": 10}),
        ("nan", ([[nan, 0.5], [0.5, 0.5]], [0, 1]), {}),
        ("int-target-floats", (_ECE_P, _ECE_Y.astype(np.float64)), {}),
        ("bad-1d", ([0.5, 0.5], [0]), {}),
        ("bad-empty", (np.zeros((0, 2)), np.zeros(0, np.int64)), {}),
        ("bad-not-summing", ([[0.5, 0.6]], [0]), {}),
        ("bad-target-shape", (_ECE_P, _ECE_Y[:3]), {}),
        ("bad-target-range", (_ECE_P[:2], [0, 5]), {}),
        ("bad-target-ignore", (_ECE_P[:2], [0, -100]), {}),
        ("bad-bins-zero", (_ECE_P, _ECE_Y), {"n_bins": 0}),
        ("bad-bins-float", (_ECE_P, _ECE_Y), {"n_bins": 2.5}),
        ("bad-bins-bool", (_ECE_P, _ECE_Y), {"n_bins": True}),
        *[(f"bad-probs-{label}", (value, [0, 1]), {}) for label, value in _BAD_ARRAYS],
    ]


# Their own generator: drawing from _rng here would change the later functions' cases.
_vrng = np.random.default_rng(20261202)


# mean_denominator: the leading arguments of softmax_cross_entropy; its result is a float.
def _mean_denominator_cases() -> list[Case]:
    return [
        ("index-ignore", (_Z, _Y), {}),
        ("index-weight", (_Z, _Y), {"weight": _W}),
        ("index-ignore2-weight", (_Z, _Y_IGNORE2), {"weight": _W, "ignore_index": 2}),
        ("probs", (_Z, _T_SOFT), {}),
        ("probs-weight", (_Z, _T_SOFT), {"weight": _W}),
        ("masked", (_Z_MASKED, _Y_MASKED), {}),
        ("f32-weight", (_Z.astype(np.float32), _Y), {"weight": _W_MANY[:5] / 3}),
        ("f16", (_Z.astype(np.float16), _Y), {"weight": _W}),
        ("many-weight", (_Z_MANY, _Y_MANY), {"weight": _W_MANY}),
        ("huge-weight", (_Z[:2], [0, 1]), {"weight": [1e308, 1e308, 1.0, 1.0, 1.0]}),
        ("tiny-weight", (_Z[:2], [0, 1]), {"weight": [1e-300, 5e-324, 1.0, 1.0, 1.0]}),
        ("all-ignored", (_Z[:2], [-100, -100]), {}),
        ("empty", (np.zeros((0, 4)), np.zeros(0, np.int64)), {}),
        ("axis0", (_Z.T, _Y), {"axis": 0, "weight": _W}),
        (
            "axis1-3d",
            (_vrng.normal(size=(2, 4, 3)), _vrng.integers(0, 4, size=(2, 3))),
            {"axis": 1},
        ),
        ("one-d", (_Z[0], 2), {}),
        ("float-target", (_Z, _Y.astype(np.float64)), {"weight": _W}),
        ("bad-index-high", (_Z, [0, 5, 1, 1, 1, 1]), {}),
        ("bad-index-not-whole", (_Z, [0, 1.5, 1, 1, 1, 1]), {}),
        ("bad-target-shape", (_Z, [0, 1]), {}),
        ("bad-target-none", (_Z, None), {}),
        ("bad-probs-sum", (_Z[:1], [[0.5, 0.6, 0.0, 0.0, 0.0]]), {}),
        ("bad-probs-ignore-index", (_Z, _T_SOFT), {"ignore_index": 0}),
        ("bad-weight-shape", (_Z, _Y), {"weight": [1.0, 2.0]}),
        ("bad-weight-negative", (_Z, _Y), {"weight": [1.0, -2.0, 1.0, 1.0, 1.0]}),
        ("bad-weight-nan", (_Z, _Y), {"weight": [1.0, nan, 1.0, 1.0, 1.0]}),
        ("bad-ignore-index-float", (_Z, _Y), {"ignore_index": -100.0}),
        ("bad-axis", (_Z, _Y), {"axis": 2}),
        ("bad-no-classes", (np.zeros((2, 0)), [0, 0]), {}),
        *[(f"bad-logits-{label}", (value, [0, 1]), {}) for label, value in _BAD_ARRAYS],
    ]


# Vocabulary-parallel: a case with the key "shards" runs on one thread per rank (`_DRIVER`).
_VZ = _vrng.normal(size=(6, 9)) * 3
_VZ[0, [1, 2, 3, 4]] = -inf  # rank 1 of [0, 1, 5, 6, 9] sees only -inf in row 0
_VZ[1, :] = [700.0, 0.0, -5.0, 1.0, -inf, 2.0, 0.0, -inf, 3.0]  # loss about 1e-304
_VZ[2, 8] = 745.0  # the maximum on the last rank; loss about 1e-323
_VY = np.array([0, 0, 8, -100, 4, 6])
_VW = np.array([1.0, 0.5, 2.0, 0.0, 3.0, 1.0, 0.25, 1.0, 2.0])
_V_SHARDS = {
    "1": [(0, 9)],
    "2": [(0, 4), (4, 9)],
    "3": [(0, 1), (1, 8), (8, 9)],
    "4": [(0, 1), (1, 5), (5, 6), (6, 9)],
}


def _vocab_parallel_cases() -> list[Case]:
    cases: list[Case] = []
    for world, shards in _V_SHARDS.items():
        for w_label, w in (("noweight", None), ("weight", _VW)):
            for eps in (0.0, 0.1, 1.0):
                for reduction in ("none", "mean", "sum"):
                    tag = f"w{world}-{w_label}-eps{eps}-{reduction}"
                    options = {
                        "shards": shards,
                        "weight": w,
                        "label_smoothing": eps,
                        "reduction": reduction,
                    }
                    cases += [
                        (f"hard-{tag}", (_VZ, _VY), options),
                        (f"f32-{tag}", (_VZ.astype(np.float32), _VY), options),
                    ]
        cases += [
            (
                f"ignore2-w{world}",
                (_VZ, np.where(_VY < 0, 2, _VY)),
                {"shards": shards, "ignore_index": 2, "weight": _VW, "label_smoothing": 0.2},
            )
        ]
    z40 = _vrng.normal(size=(2, 3, 40)) * 4
    y40 = _vrng.integers(0, 40, size=(2, 3))
    cases += [
        ("many-3d-w3", (z40, y40), {"shards": [(0, 7), (7, 33), (33, 40)], "reduction": "none"}),
        (
            "many-3d-f32-w4",
            (z40.astype(np.float32), y40),
            {"shards": [(0, 10), (10, 20), (20, 30), (30, 40)], "label_smoothing": 0.05},
        ),
        ("one-d-w2", (_VZ[1], 0), {"shards": [(0, 4), (4, 9)]}),
        (
            "all-masked-row",
            ([[-inf, -inf, -inf, -inf], [0.0, 1.0, 2.0, 3.0]], [1, 2]),
            {"shards": [(0, 2), (2, 4)], "reduction": "none"},
        ),
        (
            "inf-and-nan",
            ([[inf, 0.0, 1.0], [nan, 1.0, 0.0]], [0, 1]),
            {"shards": [(0, 1), (1, 3)], "reduction": "none"},
        ),
        ("all-ignored-mean", (_VZ[:2], [-100, -100]), {"shards": [(0, 4), (4, 9)]}),
        ("zero-weight-mean", (_VZ[:2], [3, 3]), {"shards": [(0, 4), (4, 9)], "weight": _VW}),
        ("empty", (np.zeros((0, 9)), np.zeros(0, np.int64)), {"shards": [(0, 4), (4, 9)]}),
        ("int-logits", ([[1, 2, 3], [3, 2, 1]], [2, 0]), {"shards": [(0, 2), (2, 3)]}),
        ("list-target-float", (_VZ, _VY.astype(np.float64)), {"shards": [(0, 4), (4, 9)]}),
        ("bad-index-high", (_VZ, [0, 9, 1, 1, 1, 1]), {"shards": [(0, 4), (4, 9)]}),
        ("bad-index-not-whole", (_VZ, [0, 1.5, 1, 1, 1, 1]), {"shards": [(0, 4), (4, 9)]}),
        ("bad-target-shape", (_VZ, [0, 1]), {"shards": [(0, 4), (4, 9)]}),
        ("bad-target-probs", (_VZ, _vrng.dirichlet(np.ones(9), 6)), {"shards": [(0, 9)]}),
        ("bad-target-none", (_VZ, None), {"shards": [(0, 4), (4, 9)]}),
        ("bad-weight-local", (_VZ, _VY), {"shards": [(0, 4), (4, 9)], "weight": _VW[:4]}),
        ("bad-weight-negative", (_VZ, _VY), {"shards": [(0, 9)], "weight": -_VW}),
        ("bad-smoothing-high", (_VZ, _VY), {"shards": [(0, 4), (4, 9)], "label_smoothing": 1.5}),
        ("bad-reduction", (_VZ, _VY), {"shards": [(0, 4), (4, 9)], "reduction": "avg"}),
        ("bad-ignore-index-float", (_VZ, _VY), {"shards": [(0, 9)], "ignore_index": -100.0}),
        ("bad-vocab-start-negative", (_VZ, _VY), {"shards": [(0, 9)], "vocab_start": -1}),
        ("bad-vocab-size-zero", (_VZ, _VY), {"shards": [(0, 9)], "vocab_size": 0}),
        ("bad-vocab-size-float", (_VZ, _VY), {"shards": [(0, 9)], "vocab_size": 9.0}),
        ("bad-overlap", (_VZ, _VY), {"shards": [(0, 5), (4, 8)]}),  # widths add up, class 4 twice
        ("bad-gap", (_VZ, _VY), {"shards": [(0, 4), (5, 9)], "vocab_size": 9}),
        ("bad-gathered", (_VZ, _VY), {"shards": [(0, 9), (0, 9), (0, 9)]}),
        (
            "bad-one-rank-weight",
            (_VZ, _VY),
            {"shards": [(0, 1), (1, 8), (8, 9)], "weight": _VW, "rank1": {"weight": _VW[:3]}},
        ),
        (
            "bad-one-rank-vocab-size",
            (_VZ, _VY),
            {"shards": [(0, 4), (4, 9)], "rank1": {"vocab_size": 10}},
        ),
        (
            "bad-one-rank-positions",
            (_VZ, _VY),
            {"shards": [(0, 4), (4, 9)], "rank1": {"target": _VY[:3], "rows": 3}},
        ),
        ("bad-no-classes", (_VZ, _VY), {"shards": [(0, 9), (9, 9)]}),
        ("bad-all-reduce-none", (_VZ, _VY), {"shards": [(0, 9)], "collective": "none"}),
        ("bad-all-reduce-shape", (_VZ, _VY), {"shards": [(0, 4), (4, 9)], "collective": "shape"}),
        ("bad-all-reduce-strings", (_VZ, _VY), {"shards": [(0, 9)], "collective": "strings"}),
        ("bad-all-reduce-zeros", (_VZ, _VY), {"shards": [(0, 4), (4, 9)], "collective": "zeros"}),
        (
            "bad-all-reduce-not-callable",
            (_VZ, _VY),
            {"all_reduce": None, "vocab_start": 0, "vocab_size": 9},
        ),
        *[
            (f"bad-logits-{label}", (value, [0, 1]), {"shards": [(0, None)]})
            for label, value in _BAD_ARRAYS
        ],
    ]
    return cases


_H = _rng.normal(size=(6, 5))
_LW = _rng.normal(size=(7, 5))
_LB = _rng.normal(size=7)
_LY = np.array([0, 3, -100, 6, 2, 2])
_LT = _softmax_rows((6, 7))
_LCW = np.array([1.0, 0.5, 2.0, 0.0, 1.5, 0.25, 3.0])


def _linear_cases() -> list[Case]:
    """linear_cross_entropy(_grad): options, probability targets, float32, hard and bad input."""
    cases: list[Case] = []
    for reduction in ("none", "mean", "sum"):
        for tag, kw in (
            ("plain", {}),
            ("bias", {"linear_bias": _LB}),
            ("weight-smooth", {"linear_bias": _LB, "weight": _LCW, "label_smoothing": 0.1}),
            ("zloss-softcap", {"z_loss": 1e-3, "softcap": 3.0, "label_smoothing": 0.2}),
        ):
            options = {**kw, "reduction": reduction}
            cases += [
                (f"index-{tag}-{reduction}", (_H, _LW, _LY), options),
                (f"probs-{tag}-{reduction}", (_H, _LW, _LT), options),
                (
                    f"f32-{tag}-{reduction}",
                    (_H.astype(np.float32), _LW.astype(np.float32), _LY),
                    {k: v.astype(np.float32) if isinstance(v, np.ndarray) else v
                     for k, v in options.items()},
                ),
            ]  # fmt: skip
    hard_h = np.array([[700.0, 0.0], [0.0, 1.0]])
    hard_w = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, -1.0]])
    cases += [
        ("tiny-loss-1e-300", (hard_h, hard_w, [0, 0]), {"reduction": "none"}),
        ("masked-bias", (hard_h, hard_w, [0, 1]), {"linear_bias": [0.0, -inf, 0.0]}),
        ("batch-3d", (_H.reshape(2, 3, 5), _LW, _LY.reshape(2, 3)), {}),
        ("all-ignored", (_H, _LW, np.full(6, -100)), {}),
        ("empty", (np.zeros((0, 5)), _LW, np.zeros(0, dtype=int)), {}),
        ("bad-hidden-shape", (_H, _LW[:, :4], _LY), {}),
        ("bad-bias-shape", (_H, _LW, _LY), {"linear_bias": _LB[:3]}),
        ("bad-target-shape", (_H, _LW, _LY[:4]), {}),
        ("bad-target-range", (_H, _LW, [0, 1, 2, 3, 4, 7]), {}),
        ("bad-hidden-int", (np.ones((6, 5), dtype=int), _LW, _LY), {}),
        ("bad-softcap", (_H, _LW, _LY), {"softcap": 0.0}),
        ("bad-z-loss", (_H, _LW, _LY), {"z_loss": -1.0}),
        ("bad-weight-negative", (_H, _LW, _LY), {"weight": -_LCW}),
        ("bad-reduction", (_H, _LW, _LY), {"reduction": "batchmean"}),
        *[(f"bad-hidden-{label}", (value, _LW, _LY), {}) for label, value in _BAD_ARRAYS],
    ]
    return cases


CASES: dict[str, list[Case]] = {
    "linear_cross_entropy": _linear_cases(),
    "linear_cross_entropy_grad": _linear_cases(),
    **{name: _stable_cases(name) for name in ("logsumexp", "softmax", "log_softmax")},
    **{name: _stable_cases(name) for name in ("sigmoid", "log_sigmoid")},
    **{name: _information_cases(name) for name in ("entropy", "cross_entropy", "kl_divergence")},
    "softmax_cross_entropy": _softmax_ce_cases(),
    "softmax_cross_entropy_grad": _softmax_ce_cases(),
    **{
        name: _binary_cases(name)
        for name in (
            "binary_cross_entropy",
            "binary_cross_entropy_with_logits",
            "binary_cross_entropy_with_logits_grad",
        )
    },
    "sigmoid_focal_loss": _focal_cases(),
    "fit_temperature": _fit_temperature_cases(),
    "expected_calibration_error": _ece_cases(),
    "mean_denominator": _mean_denominator_cases(),
    "vocab_parallel_cross_entropy": _vocab_parallel_cases(),
    "vocab_parallel_cross_entropy_grad": _vocab_parallel_cases(),
}

# How a case is run, here and in the NumPy-only interpreter (the same source, exec'd in both).
# A plain case is ``function(*args, **kwargs)``. A vocabulary-parallel case has the key
# "shards", one (start, stop) of columns per rank: each rank is a thread calling `function` on
# ``args[0][..., start:stop]`` with ``vocab_start=start`` and an ``all_reduce`` that waits
# (20 s at most) for every rank's array and returns their elementwise max or sum. "rank1"
# overrides rank 1's arguments ("rows": its number of leading rows); "collective" makes every
# rank's collective return junk. The value is the tuple of every rank's result; if any rank
# raised, the case raises the first such rank's exception type with every rank's outcome.
_DRIVER = r"""
import threading
import numpy as np


def run_case(function, args, kwargs):
    if "shards" not in kwargs:
        return function(*args, **kwargs)
    kwargs = dict(kwargs)
    shards, rank1 = kwargs.pop("shards"), dict(kwargs.pop("rank1", {}))
    junk = kwargs.pop("collective", None)
    z, rest = args[0], args[1:]  # (start, None): the logits as given, on one rank
    size = kwargs.pop("vocab_size", None if shards[0][1] is None else np.shape(z)[-1])
    start0 = kwargs.pop("vocab_start", None)
    world = len(shards)
    barrier, inbox = threading.Barrier(world, timeout=20.0), [None] * world
    outcomes = [("error", "missing", "the rank did not finish")] * world

    def rank(r):
        def all_reduce(a, op):
            inbox[r] = np.array(a, copy=True)
            barrier.wait()
            stacked = np.stack(inbox)
            out = np.max(stacked, axis=0) if op == "max" else np.sum(stacked, axis=0)
            barrier.wait()
            if junk is None:
                return out
            return {"none": None, "shape": out[:1], "strings": out.astype(str),
                    "zeros": np.zeros_like(out)}[junk]

        start, stop = shards[r]
        over = dict(rank1) if r == 1 else {}
        rows, mine = over.pop("rows", None), (over.pop("target"),) if "target" in over else ()
        mine += rest[len(mine) :]
        local = z if stop is None else np.asarray(z)[..., start:stop]
        local = local if rows is None else local[:rows]
        call = {"vocab_start": start if start0 is None else start0, "vocab_size": size,
                "all_reduce": all_reduce, **kwargs, **over}
        try:
            outcomes[r] = ("value", function(local, *mine, **call))
        except Exception as error:
            outcomes[r] = ("error", type(error).__name__, str(error))

    threads = [threading.Thread(target=rank, args=(r,), daemon=True) for r in range(world)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60.0)
    errors = [o for o in outcomes if o[0] == "error"]
    if not errors:
        return tuple(value for _, value in outcomes)
    kind = {"TypeError": TypeError, "ValueError": ValueError}.get(errors[0][1], RuntimeError)
    raise kind("; ".join(f"rank {r}: {o[1:]}" for r, o in enumerate(outcomes)))
"""
_DRIVER_NAMESPACE: dict[str, Any] = {}
exec(_DRIVER, _DRIVER_NAMESPACE)
run_case = _DRIVER_NAMESPACE["run_case"]

# --------------------------------------------------------------------------------------------
# Running a copy where only NumPy and the standard library exist
# --------------------------------------------------------------------------------------------

# argv: folder of the copies, folder holding only NumPy, then the job. sys.path is rebuilt
# from the standard library alone; xentref (and everything else installed) must be out of reach.
_NUMPY_ONLY = r"""
import pickle, runpy, sys
copies, numpy_dir, job = sys.argv[1:4]
sys.path[:] = [copies] + [p for p in sys.path if p and "site-packages" not in p] + [numpy_dir]
for forbidden in ("xentref", "scipy", "torch"):
    try:
        __import__(forbidden)
    except ImportError:
        pass
    else:
        raise SystemExit(f"{forbidden} can be imported: the interpreter is not NumPy-only")
if job == "doctest":
    sys.argv = ["doctest", "-v", "-o", "NORMALIZE_WHITESPACE", "-o", "ELLIPSIS", sys.argv[4]]
    runpy.run_module("doctest", run_name="__main__", alter_sys=True)
else:
    import numpy
    name, cases_file, out_file, driver_file = sys.argv[4:8]
    with open(driver_file, encoding="utf-8") as f:
        driver = f.read()
    function = getattr(__import__(name), name)
    with open(cases_file, "rb") as f:
        cases = pickle.load(f)
    results = {}
    exec(driver, namespace := {})
    for case_id, args, kwargs in cases:
        try:
            value = namespace["run_case"](function, args, kwargs)
            if isinstance(value, tuple):  # a NamedTuple of the copy's own class: plain tuple
                value = tuple(value)
            results[case_id] = ("value", value)
        except Exception as error:
            results[case_id] = ("error", type(error).__name__, str(error))
    assert set(sys.modules) - set(sys.builtin_module_names), "nothing imported?"
    tops = {m.split(".")[0] for m in sys.modules}
    outside = tops - set(sys.stdlib_module_names) - {"numpy", name, "__main__"}
    with open(out_file, "wb") as f:
        pickle.dump({"results": results, "outside": sorted(set(outside))}, f)
"""


@pytest.fixture(scope="module")
def copies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every copy, generated once: name -> CopyFile, written to a temporary folder."""
    return copy_files.generate_all()  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def copy_dir(copies: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("copies")
    for name, copy in copies.items():
        (folder / f"{name}.py").write_text(copy.text, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def numpy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with links to NumPy (and its bundled libraries) and nothing else."""
    folder = tmp_path_factory.mktemp("numpy-only")
    package = Path(np.__file__).resolve().parent
    for path in [package, *package.parent.glob("numpy.libs")]:
        os.symlink(path, folder / path.name, target_is_directory=True)
    return folder


def run_numpy_only(copy_dir: Path, numpy_dir: Path, *job: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    return subprocess.run(
        [sys.executable, "-I", "-S", "-c", _NUMPY_ONLY, str(copy_dir), str(numpy_dir), *job],
        cwd=copy_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _same(mine: Any, theirs: Any) -> str | None:
    """None if two results are identical, bit for bit; else what differs."""
    if type(mine) is not type(theirs):
        return f"type {type(mine).__name__} vs {type(theirs).__name__}"
    if isinstance(theirs, np.ndarray):
        if mine.dtype != theirs.dtype or mine.shape != theirs.shape:
            return f"{mine.dtype}{mine.shape} vs {theirs.dtype}{theirs.shape}"
        if mine.tobytes() != theirs.tobytes():
            return f"values\n  copy:    {mine!r}\n  xentref: {theirs!r}"
        return None
    if isinstance(theirs, float):
        return None if mine.hex() == theirs.hex() else f"{mine!r} vs {theirs!r}"
    if isinstance(theirs, tuple):  # per rank; linear_cross_entropy_grad's 4 arrays
        if len(mine) != len(theirs):
            return f"{len(mine)} vs {len(theirs)} items"
        for i, (a, b) in enumerate(zip(mine, theirs, strict=True)):
            if (why := _same(a, b)) is not None:
                return f"item {i}: {why}"
        return None
    return None if mine == theirs else f"{mine!r} vs {theirs!r}"


# --------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PUBLIC)
def test_every_public_function_has_cases(name: str) -> None:
    cases = CASES.get(name)
    if not cases:
        pytest.fail(f"add cases for {name} to CASES in tests/test_copy_files.py", False)
    ids = [case_id for case_id, _, _ in cases]
    assert len(ids) == len(set(ids)), f"{name}: duplicate case ids"
    assert any(i.startswith("bad-") for i in ids), f"{name}: add bad-input cases (`bad-...`)"
    assert sum(not i.startswith("bad-") for i in ids) >= 5, f"{name}: add more value cases"


def test_cases_only_for_public_functions() -> None:
    assert set(CASES) <= set(PUBLIC), sorted(set(CASES) - set(PUBLIC))


@pytest.mark.parametrize("name", PUBLIC)
def test_copy_imports_only_numpy_and_the_standard_library(
    name: str, copies: dict[str, Any]
) -> None:
    text = copies[name].text
    tree = ast.parse(text)
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{name}.py: relative import"
            imported.add(node.module or "")
    tops = {module.split(".")[0] for module in imported}
    outside = sorted(t for t in tops if t != "numpy" and t not in sys.stdlib_module_names)
    assert not outside, f"{name}.py imports {outside}"
    assert "numpy" in tops, f"{name}.py does not import NumPy"
    assert "xentref" not in tops
    examples = re.findall(r"^\s*>>> .*\bimport\b.*$", text, re.MULTILINE)
    assert examples, f"{name}.py: no example imports anything"
    assert not [line for line in examples if "xentref" in line], (
        f"{name}.py: an example imports xentref"
    )
    defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    assert name in defined


@pytest.mark.parametrize("name", PUBLIC)
def test_copy_header(name: str, copies: dict[str, Any]) -> None:
    copy = copies[name]
    header = copy.text.split("\n\n", 1)[0]
    assert f"xentref {xentref.__version__}" in header
    assert "SPDX-License-Identifier: MIT" in header
    assert "Permission is hereby granted" in header
    assert "Generated by scripts/site/copy_files.py" in header
    assert copy.page is not None
    assert f"page on the xentref site: {copy.page}" in header
    assert copy.page.endswith(f"/#xentref.{name}")
    assert f"-o NORMALIZE_WHITESPACE -o ELLIPSIS {name}.py" in header
    assert copy.lines == copy.text.count("\n")
    assert copy.text.endswith("\n")
    assert 0 < copy.code_lines < copy.lines


@pytest.mark.parametrize("name", PUBLIC)
def test_copy_doctests_pass_with_numpy_only(name: str, copy_dir: Path, numpy_dir: Path) -> None:
    """`python -m doctest -o NORMALIZE_WHITESPACE -o ELLIPSIS <name>.py`, without NUMBER."""
    result = run_numpy_only(copy_dir, numpy_dir, "doctest", f"{name}.py")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    summary = re.search(
        r"^(\d+) tests in \d+ items\.\n(\d+) passed and (\d+) failed\.", output, re.M
    )
    assert summary is not None, output[-2000:]
    total, passed, failed = (int(g) for g in summary.groups())
    own = xentref.__dict__[name].__doc__.count(">>> ")
    assert failed == 0, output[-4000:]
    assert passed == total >= own > 0, output[-2000:]


@pytest.mark.parametrize("name", PUBLIC)
def test_copy_matches_package(name: str, copy_dir: Path, numpy_dir: Path, tmp_path: Path) -> None:
    """Every case: the copy's result is the package's, bit for bit, or the same exception."""
    cases = CASES.get(name)
    if not cases:
        pytest.fail(f"add cases for {name} to CASES in tests/test_copy_files.py", False)
    cases_file, out_file = tmp_path / "cases.pickle", tmp_path / "results.pickle"
    cases_file.write_bytes(pickle.dumps(cases))
    driver_file = tmp_path / "driver.py"
    driver_file.write_text(_DRIVER, encoding="utf-8")
    result = run_numpy_only(
        copy_dir, numpy_dir, "cases", name, str(cases_file), str(out_file), str(driver_file)
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    run = pickle.loads(out_file.read_bytes())
    assert run["outside"] == [], f"the copy imported {run['outside']}"
    function = getattr(xentref, name)
    problems, values, errors = [], 0, 0
    for case_id, args, kwargs in cases:
        try:
            value = run_case(function, args, kwargs)
            expected: tuple[Any, ...] = (
                "value",
                tuple(value) if isinstance(value, tuple) else value,
            )
        except Exception as error:
            expected = ("error", type(error).__name__, str(error))
        got = run["results"][case_id]
        if expected[0] == "error":
            errors += 1
            if got != expected:
                problems.append(f"{case_id}: xentref raised {expected[1:]}, the copy gave {got}")
            continue
        values += 1
        if got[0] != "value":
            problems.append(f"{case_id}: the copy raised {got[1:]}")
        elif (why := _same(got[1], expected[1])) is not None:
            problems.append(f"{case_id}: {why}")
    assert not problems, f"{name}: {len(problems)} of {len(cases)} cases differ:\n" + "\n".join(
        problems[:20]
    )
    bad = [c for c, _, _ in cases if c.startswith("bad-")]
    assert errors >= len(bad), f"{name}: some bad-input cases did not raise in xentref"
    assert values > 0


def test_generation_is_deterministic(copies: dict[str, Any]) -> None:
    again = copy_files.generate_all()
    assert list(again) == list(copies) == sorted(PUBLIC)
    assert all(again[name].text == copies[name].text for name in copies)


def test_command_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(GENERATOR), "--out", str(tmp_path), "sigmoid", "softmax"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sigmoid.py", "softmax.py"]
    lines = (tmp_path / "sigmoid.py").read_text(encoding="utf-8").count("\n")
    assert re.search(rf"^\s*{lines} lines .* sigmoid\.py", result.stdout, re.M), result.stdout


# --------------------------------------------------------------------------------------------
# The generator on small packages of other shapes
# --------------------------------------------------------------------------------------------


def _fake_package(tmp_path: Path, modules: dict[str, str], public: list[str]) -> Any:
    package = tmp_path / "xentref"
    package.mkdir()
    imports = "".join(f"from xentref.{mod} import {name}\n" for mod, name in public)  # type: ignore[misc]
    names = [name for _, name in public]  # type: ignore[misc]
    (package / "__init__.py").write_text(
        f'"""Fake."""\n\n{imports}\n__all__ = {names!r}\n__version__ = "9.9"\n', encoding="utf-8"
    )
    for mod, text in modules.items():
        (package / f"{mod}.py").write_text(textwrap.dedent(text), encoding="utf-8")
    return copy_files.read_package(package)


def test_generator_follows_names_across_modules(tmp_path: Path) -> None:
    package = _fake_package(
        tmp_path,
        {
            "_base": '''
                """Base."""
                from __future__ import annotations

                import math
                from typing import NamedTuple

                import numpy as np

                SCALE = 2.0
                UNUSED = 3.0
                Pair = tuple[float, float]


                # The comment above a helper travels with it.
                class _Box(NamedTuple):
                    """A box."""

                    lo: float
                    hi: float

                    def width(self) -> float:
                        return (self.hi - self.lo) * SCALE


                def _unused() -> None:
                    pass


                def base(x: float) -> Pair:
                    """Base.

                    >>> from xentref import base
                    >>> print(base(1.0))
                    (1.0, 2.0)
                    """
                    UNUSED = 1  # a local, not the module constant
                    return float(np.float64(x)), _Box(0.0, x + UNUSED - 1).width() / math.sqrt(1)
            ''',
            "_top": '''
                """Top."""
                from __future__ import annotations

                from xentref._base import base


                def top(x: float) -> float:
                    """Top.

                    >>> from xentref import top
                    >>> print(top(2.0))
                    6.0
                    """
                    return sum(base(x))
            ''',
        },
        [("_top", "top"), ("_base", "base")],
    )
    copy = copy_files.generate("top", package, {"top": "reference/x/#xentref.top"})
    assert [s.name for s in copy.definitions] == ["SCALE", "Pair", "_Box", "base", "top"]
    assert "# The comment above a helper travels with it." in copy.text
    assert "UNUSED = 3.0" not in copy.text
    assert "_unused" not in copy.text
    assert ">>> from top import base" in copy.text
    assert ">>> from top import top" in copy.text
    assert "import math\nfrom typing import NamedTuple\n\nimport numpy as np\n" in copy.text
    assert "from xentref" not in copy.text.replace("from xentref 9.9", "")
    namespace: dict[str, Any] = {}
    exec(compile(copy.text, "top.py", "exec"), namespace)
    assert namespace["top"](2.0) == 6.0


def test_generator_includes_what_examples_import(tmp_path: Path) -> None:
    package = _fake_package(
        tmp_path,
        {
            "_m": '''
                """M."""


                def helper() -> int:
                    """Used only by an example."""
                    return 1


                def f() -> int:
                    """F.

                    >>> from xentref import f, helper
                    >>> print(f() + helper())
                    3
                    """
                    return 2
            '''
        },
        [("_m", "f"), ("_m", "helper")],
    )
    copy = copy_files.generate("f", package, {})
    assert copy.for_examples == ["helper"]
    assert "Included only because the examples use them: `helper`" in copy.text


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("import scipy\n\ndef f():\n    return scipy\n", "neither the standard library"),
        ("def f():\n    return g()\n", "neither defined, imported nor a builtin"),
        ("if True:\n    X = 1\n\ndef f():\n    return X\n", "top-level If statement"),
        ("from xentref._other import g as h\n\ndef f():\n    return h()\n", "unrenamed"),
    ],
)
def test_generator_refuses_what_it_cannot_copy(tmp_path: Path, source: str, message: str) -> None:
    def build() -> None:
        modules = {"_m": source, "_other": "def g():\n    return 1\n"}
        copy_files.generate("f", _fake_package(tmp_path, modules, [("_m", "f")]), {})

    with pytest.raises(copy_files.CopyError, match=message):
        build()


def test_generator_refuses_two_definitions_of_one_name(tmp_path: Path) -> None:
    package = _fake_package(
        tmp_path,
        {
            "_a": "LIMIT = 1\n\n\ndef a():\n    return LIMIT\n",
            "_b": "from xentref._a import a\n\nLIMIT = 2\n\n\ndef b():\n    return a() + LIMIT\n",
        },
        [("_b", "b"), ("_a", "a")],
    )
    with pytest.raises(copy_files.CopyError, match="two different definitions of `LIMIT`"):
        copy_files.generate("b", package, {})
