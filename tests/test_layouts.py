"""Every public function on every memory layout and dtype a real program hands over (issue 8).

Each public name in ``xentref.__all__`` needs at least one row in `CASES`: a new function fails
`test_every_public_function_has_a_case` until it gets one. A row holds float64, C-contiguous
inputs; each test re-lays or re-types them and compares the result with the call on those
inputs (after rounding them to the tested dtype, for the dtypes narrower than float64):

- layouts (float64): non-contiguous views, Fortran order, negative strides, classes first with
  ``axis=0`` (a C-contiguous copy and a transposed view), read-only arrays, lists, tuples;
- dtypes of the float arguments: float16, float32, float64 in both byte orders, longdouble and
  ``ml_dtypes.bfloat16``; a big-endian call must equal the little-endian one bit for bit;
- class indices: bool, every integer dtype in both byte orders, whole-number floats;
- zero-size batches, and 0-d inputs where a function allows them (elsewhere a ValueError
  naming the argument).

Every call checks that no input was written to; pytest runs with warnings as errors.
Probabilities are dyadic (0.5, 0.25, ...) so that float16 and bfloat16 hold them exactly.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import xentref as xr

ml_dtypes = pytest.importorskip("ml_dtypes")
BF16 = np.dtype(ml_dtypes.bfloat16)

# --------------------------------------------------------------------------------------------
# The table: how to call each public function
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Case:
    """One way to call one public function."""

    id: str
    function: str
    arrays: dict[str, np.ndarray]  # float64 (data) or int64 (class indices), C-contiguous
    n_positional: int  # the first n arrays are positional, the rest keywords
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    class_axis: tuple[str, ...] | None = None  # arrays with the class axis last; None: no `axis`
    out_has_class_axis: bool = False  # the result keeps the class axis (softmax, gradients)
    zero_d: bool = False  # accepts 0-d inputs
    empty: bool = True  # accepts a batch of zero examples

    @property
    def index_args(self) -> tuple[str, ...]:
        return tuple(k for k, v in self.arrays.items() if v.dtype.kind in "iu")

    @property
    def float_args(self) -> tuple[str, ...]:
        return tuple(k for k, v in self.arrays.items() if v.dtype.kind == "f")


_RNG = np.random.default_rng(20261201)
_DYADIC_ROWS = np.array(
    [
        [0.5, 0.25, 0.125, 0.125],
        [0.25, 0.25, 0.25, 0.25],
        [0.75, 0.125, 0.0625, 0.0625],
        [0.0, 0.5, 0.5, 0.0],
        [0.125, 0.375, 0.25, 0.25],
        [0.0625, 0.0625, 0.125, 0.75],
    ]
)


def _logits(*shape: int, scale: float = 3.0) -> np.ndarray:
    return _RNG.normal(size=shape) * scale


def _probs(batch: tuple[int, ...]) -> np.ndarray:
    n = int(np.prod(batch))
    rows = _DYADIC_ROWS[_RNG.integers(0, len(_DYADIC_ROWS), n)]
    return rows[:, _RNG.permutation(4)].reshape(*batch, 4)


def _unit(*shape: int) -> np.ndarray:
    return _RNG.choice([0.0, 0.25, 0.5, 0.75, 1.0], size=shape)


def _targets(logits: np.ndarray, flips: int = 2) -> np.ndarray:
    """Mostly the argmax, so fit_temperature has a finite answer; `flips` rows wrong."""
    t = np.argmax(logits, axis=-1).reshape(-1)
    t[:flips] = (t[:flips] + 1) % logits.shape[-1]
    return t.reshape(logits.shape[:-1]).astype(np.int64)


def _cases() -> list[Case]:
    z40, z3, z4 = _logits(2, 3, 40), _logits(2, 3, 3), _logits(2, 3, 4)
    z2d = _logits(5, 40)  # 2-D: Fortran order reaches the kernel without a copy
    p, q = _probs((2, 3)), _probs((2, 3))
    zs = np.log(p + 0.0625) * 1.5 + _logits(2, 3, 4, scale=0.1)  # soft targets it can fit
    bz, by = _logits(2, 3), _unit(2, 3)
    bw, bpw = _RNG.choice([0.5, 1.0, 2.0], (2, 3)), _RNG.choice([0.25, 1.0, 4.0], (3,))
    zf = _logits(6, 4)
    ce_ignore = _targets(z3)
    ce_ignore[1, 1] = -100
    w3 = np.array([0.5, 2.0, 1.0])
    cases = [
        Case("logsumexp", "logsumexp", {"x": z4}, 1, class_axis=("x",)),
        Case("logsumexp[keepdims]", "logsumexp", {"x": z4}, 1, {"keepdims": True}, ("x",), True),
        Case(
            "log_softmax", "log_softmax", {"x": z4}, 1, class_axis=("x",), out_has_class_axis=True
        ),
        Case("softmax", "softmax", {"x": z40}, 1, class_axis=("x",), out_has_class_axis=True),
        Case("sigmoid", "sigmoid", {"x": bz}, 1, zero_d=True),
        Case("log_sigmoid", "log_sigmoid", {"x": bz}, 1, zero_d=True),
        Case("entropy", "entropy", {"p": p}, 1, {"base": 2}, ("p",)),
        Case("cross_entropy", "cross_entropy", {"p": p, "q": q}, 2, {}, ("p", "q")),
        Case("kl_divergence", "kl_divergence", {"p": p, "q": q}, 2, {}, ("p", "q")),
    ]
    for fn, out_axis in (("softmax_cross_entropy", False), ("softmax_cross_entropy_grad", True)):
        for reduction in ("none", "mean"):
            cases += [
                Case(
                    f"{fn}[C=40,{reduction}]",
                    fn,
                    {"logits": z40, "target": _targets(z40)},
                    2,
                    {"reduction": reduction},
                    ("logits",),
                    out_axis,
                ),
                Case(
                    f"{fn}[C=3,weight,ignore,smooth,{reduction}]",
                    fn,
                    {"logits": z3, "target": ce_ignore, "weight": w3},
                    2,
                    {"reduction": reduction, "label_smoothing": 0.125},
                    ("logits",),
                    out_axis,
                ),
            ]
        cases.append(
            Case(f"{fn}[C=40,weight,z_loss,softcap,mean]", fn,
                 {"logits": z40, "target": _targets(z40), "weight": _RNG.uniform(0.5, 2, 40)}, 2,
                 {"z_loss": 0.25, "softcap": 4.0}, ("logits",), out_axis)
        )  # fmt: skip
        cases.append(
            Case(f"{fn}[2-D,C=40,sum]", fn, {"logits": z2d, "target": _targets(z2d)}, 2,
                 {"reduction": "sum"}, ("logits",), out_axis)
        )  # fmt: skip
        cases.append(
            Case(
                f"{fn}[soft,sum]",
                fn,
                {"logits": z4, "target": p},
                2,
                {"reduction": "sum"},
                ("logits", "target"),
                out_axis,
            )
        )
    for reduction in ("none", "mean"):
        cases += [
            Case(
                f"binary_cross_entropy[{reduction}]",
                "binary_cross_entropy",
                {"probs": _unit(2, 3) * 0.5 + 0.25, "target": by, "weight": bw},
                2,
                {"reduction": reduction},
                zero_d=True,
            ),
            Case(
                f"binary_cross_entropy_with_logits[{reduction}]",
                "binary_cross_entropy_with_logits",
                {"logits": bz, "target": by, "weight": bw, "pos_weight": bpw},
                2,
                {"reduction": reduction},
                zero_d=True,
            ),
            Case(
                f"binary_cross_entropy_with_logits_grad[{reduction}]",
                "binary_cross_entropy_with_logits_grad",
                {"logits": bz, "target": by, "weight": bw, "pos_weight": bpw},
                2,
                {"reduction": reduction},
                zero_d=True,
            ),
            Case(
                f"sigmoid_focal_loss[{reduction}]",
                "sigmoid_focal_loss",
                {"logits": bz, "target": by},
                2,
                {"reduction": reduction, "gamma": 1.5},
                zero_d=True,
            ),
        ]
    cases += [
        Case("fit_temperature", "fit_temperature", {"logits": zf, "target": _targets(zf)}, 2,
             class_axis=("logits",), empty=False),
        Case("fit_temperature[C=40]", "fit_temperature", {"logits": z2d, "target": _targets(z2d)},
             2, class_axis=("logits",), empty=False),
        Case("fit_temperature[soft]", "fit_temperature", {"logits": zs, "target": p}, 2,
             class_axis=("logits", "target"), empty=False),
        Case("expected_calibration_error", "expected_calibration_error",
             {"probs": _probs((6,)), "target": _RNG.integers(0, 4, 6)}, 2, {"n_bins": 4},
             empty=False),
    ]  # fmt: skip
    cases += [
        Case("mean_denominator[weight,ignore]", "mean_denominator",
             {"logits": z3, "target": ce_ignore, "weight": w3}, 2, class_axis=("logits",)),
        Case("mean_denominator[C=40]", "mean_denominator",
             {"logits": z40, "target": _targets(z40)}, 2, class_axis=("logits",)),
    ]  # fmt: skip
    cases.append(
        Case("mean_denominator[soft]", "mean_denominator", {"logits": z4, "target": p}, 2,
             class_axis=("logits", "target"))
    )  # fmt: skip
    h, lw, lb = _logits(2, 3, 5, scale=1.0), _logits(7, 5, scale=1.0), _logits(7, scale=1.0)
    ly = _RNG.integers(0, 7, (2, 3))
    ly[0, 1] = -100
    for fn in ("linear_cross_entropy", "linear_cross_entropy_grad"):
        for reduction in ("none", "mean"):
            cases += [
                Case(f"{fn}[{reduction}]", fn, {"hidden": h, "linear_weight": lw, "target": ly},
                     3, {"reduction": reduction}),
                Case(f"{fn}[bias,weight,smooth,z_loss,softcap,{reduction}]", fn,
                     {"hidden": h, "linear_weight": lw, "target": ly, "linear_bias": lb,
                      "weight": _RNG.uniform(0.5, 2, 7)}, 3,
                     {"reduction": reduction, "label_smoothing": 0.125, "z_loss": 0.01,
                      "softcap": 3.0}),
            ]  # fmt: skip
        cases.append(
            Case(f"{fn}[soft,sum]", fn,
                 {"hidden": h, "linear_weight": lw, "target": _probs((2, 3)) @ np.eye(4, 7)}, 3,
                 {"reduction": "sum"})
        )  # fmt: skip
    one_rank = {"vocab_start": 0, "all_reduce": _one_rank}
    for fn, out_axis in (
        ("vocab_parallel_cross_entropy", False),
        ("vocab_parallel_cross_entropy_grad", True),
    ):
        for reduction in ("none", "mean"):
            cases += [
                Case(f"{fn}[C=40,{reduction}]", fn, {"local_logits": z40, "target": _targets(z40)},
                     2, {**one_rank, "vocab_size": 40, "reduction": reduction},
                     out_has_class_axis=out_axis),
                Case(f"{fn}[C=3,weight,ignore,smooth,{reduction}]", fn,
                     {"local_logits": z3, "target": ce_ignore, "weight": w3}, 2,
                     {**one_rank, "vocab_size": 3, "reduction": reduction,
                      "label_smoothing": 0.125}, out_has_class_axis=out_axis),
            ]  # fmt: skip
        cases.append(
            Case(f"{fn}[2-D,C=40,sum]", fn, {"local_logits": z2d, "target": _targets(z2d)}, 2,
                 {**one_rank, "vocab_size": 40, "reduction": "sum"}, out_has_class_axis=out_axis)
        )  # fmt: skip
    return cases


def _one_rank(a: np.ndarray, op: str) -> np.ndarray:
    """The collective of a world of one rank (vocab-parallel functions): the array itself."""
    return a


CASES = _cases()

_BY_ID = {c.id: c for c in CASES}
CASE_IDS = list(_BY_ID)


def test_every_public_function_has_a_case() -> None:
    covered = {c.function for c in CASES}
    missing = [name for name in xr.__all__ if callable(getattr(xr, name))]
    missing = [name for name in missing if name not in covered]
    assert not missing, f"add rows to tests/test_layouts.py CASES for: {missing}"


def test_every_case_matches_the_signature() -> None:
    for case in CASES:
        params = inspect.signature(getattr(xr, case.function)).parameters
        assert set(case.arrays) | set(case.options) <= set(params), case.id
        assert (case.class_axis is not None) == ("axis" in params), case.id


# --------------------------------------------------------------------------------------------
# Calling, and checking that nothing was written to
# --------------------------------------------------------------------------------------------


def _snapshot(value: Any) -> Any:
    return np.array(value, copy=True) if isinstance(value, np.ndarray) else value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray):
        return (
            isinstance(b, np.ndarray)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and a.tobytes() == b.tobytes()
        )
    return bool(a == b)


def call(case: Case, arrays: dict[str, Any], **extra: Any) -> Any:
    """Call the case's function on `arrays`, asserting afterwards that none was modified."""
    before = {k: _snapshot(v) for k, v in arrays.items()}
    names = list(case.arrays)
    args = [arrays[k] for k in names[: case.n_positional]]
    kwargs = {k: arrays[k] for k in names[case.n_positional :]}
    out = getattr(xr, case.function)(*args, **kwargs, **case.options, **extra)
    for k, v in arrays.items():
        assert _same(v, before[k]), f"{case.id}: `{k}` was modified by the call"
    return out


def _dtype(out: Any) -> np.dtype[Any]:
    """The result's dtype; for a tuple of arrays (a gradient NamedTuple) the one they share."""
    if not isinstance(out, tuple):
        return np.asarray(out).dtype
    dtypes = {np.asarray(a).dtype for a in out if a is not None}
    assert len(dtypes) == 1, f"the results have dtypes {dtypes}"
    return dtypes.pop()


def _identical(got: Any, want: Any) -> bool:
    """Bit for bit the same result (arrays, scalars, or tuples of them)."""
    if isinstance(want, tuple):
        return (
            isinstance(got, tuple)
            and len(got) == len(want)
            and all(_identical(g, w) for g, w in zip(got, want, strict=True))
        )
    if want is None:
        return got is None
    return _same(np.asarray(got), np.asarray(want))


def _close(got: Any, want: Any, rtol: float, atol: float, what: str) -> None:
    if isinstance(want, tuple):  # linear_cross_entropy_grad: (loss, hidden, weight, bias)
        assert isinstance(got, tuple), f"{what}: {got!r}"
        assert len(got) == len(want), f"{what}: {got!r}"
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            if w is None:
                assert g is None, f"{what}: item {i} is not None"
            else:
                _close(g, w, rtol, atol, f"{what} item {i}")
        return
    got_arr, want_arr = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got_arr.shape == want_arr.shape, f"{what}: shape {got_arr.shape} != {want_arr.shape}"
    np.testing.assert_allclose(got_arr, want_arr, rtol=rtol, atol=atol, equal_nan=True,
                               err_msg=what)  # fmt: skip


def _base(case: Case) -> Any:
    return call(case, dict(case.arrays))


# --------------------------------------------------------------------------------------------
# Layouts (float64 values, every array re-laid at once)
# --------------------------------------------------------------------------------------------


def _strided(a: np.ndarray) -> np.ndarray:
    """The same values as a view with a stride of 2 elements along the last axis."""
    if a.ndim == 0:
        return a
    big = np.zeros((*a.shape[:-1], 2 * a.shape[-1]), dtype=a.dtype)
    big[..., ::2] = a
    return big[..., ::2]


def _negative(a: np.ndarray) -> np.ndarray:
    return a if a.ndim == 0 else np.ascontiguousarray(a[..., ::-1])[..., ::-1]


def _readonly(a: np.ndarray) -> np.ndarray:
    b = a.copy()
    b.setflags(write=False)
    return b


def _tuples(a: np.ndarray) -> Any:
    return a.item() if a.ndim == 0 else tuple(_tuples(row) for row in a)


LAYOUTS: dict[str, Callable[[np.ndarray], Any]] = {
    "strided_view": _strided,
    "fortran": np.asfortranarray,
    "negative_strides": _negative,
    "read_only": _readonly,
    "list": lambda a: a.tolist(),
    "tuple": _tuples,
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("case_id", CASE_IDS)
def test_layout_matches_contiguous(case_id: str, layout: str) -> None:
    case = _BY_ID[case_id]
    arrays = {k: LAYOUTS[layout](v) for k, v in case.arrays.items()}
    _close(call(case, arrays), _base(case), 1e-13, 1e-16, f"{case_id} {layout}")


def _classes_first(case: Case, view: bool) -> dict[str, np.ndarray]:
    assert case.class_axis is not None
    out = dict(case.arrays)
    for k in case.class_axis:
        moved = np.moveaxis(case.arrays[k], -1, 0)
        out[k] = moved if view else np.ascontiguousarray(moved)
    return out


_AXIS_CASES = [c.id for c in CASES if c.class_axis is not None]


@pytest.mark.parametrize("view", [False, True], ids=["copy", "transposed_view"])
@pytest.mark.parametrize("case_id", _AXIS_CASES)
def test_classes_first_axis0_matches(case_id: str, view: bool) -> None:
    case = _BY_ID[case_id]
    got = call(case, _classes_first(case, view), axis=0)
    if case.out_has_class_axis:
        got = np.moveaxis(got, 0, -1)
    _close(got, _base(case), 1e-13, 1e-16, f"{case_id} classes first")


# --------------------------------------------------------------------------------------------
# dtypes of the float arguments
# --------------------------------------------------------------------------------------------

#: tested dtype -> the dtype results come in (Python floats for the two scalar statistics)
FLOAT_DTYPES: dict[str, tuple[np.dtype[Any], np.dtype[Any]]] = {
    "<f2": (np.dtype("<f2"), np.dtype(np.float32)),
    ">f2": (np.dtype(">f2"), np.dtype(np.float32)),
    "bfloat16": (BF16, np.dtype(np.float32)),
    "<f4": (np.dtype("<f4"), np.dtype(np.float32)),
    ">f4": (np.dtype(">f4"), np.dtype(np.float32)),
    "<f8": (np.dtype("<f8"), np.dtype(np.float64)),
    ">f8": (np.dtype(">f8"), np.dtype(np.float64)),
    "longdouble": (np.dtype(np.longdouble), np.dtype(np.longdouble)),
}
_SCALAR_OUT = {"fit_temperature", "expected_calibration_error", "mean_denominator"}


def _as(case: Case, dtype: np.dtype[Any]) -> dict[str, np.ndarray]:
    return {k: v.astype(dtype) if k in case.float_args else v for k, v in case.arrays.items()}


@pytest.mark.parametrize("dtype", list(FLOAT_DTYPES))
@pytest.mark.parametrize("case_id", CASE_IDS)
def test_float_dtype(case_id: str, dtype: str) -> None:
    case = _BY_ID[case_id]
    given, result_dtype = FLOAT_DTYPES[dtype]
    arrays = _as(case, given)
    got = call(case, arrays)
    if case.function in _SCALAR_OUT:
        assert type(got) is float, f"{case_id}: {type(got)}"
    else:
        assert _dtype(got) == result_dtype, f"{case_id} {dtype}: result dtype {_dtype(got)}"
    # the float64 call on the same (rounded) values
    rounded = {k: np.asarray(v, dtype=np.float64) if k in case.float_args else v
               for k, v in arrays.items()}  # fmt: skip
    want = call(case, rounded)
    if result_dtype == np.float32 and case.function not in _SCALAR_OUT:
        _close(got, want, 1e-4, 1e-5, f"{case_id} {dtype}")
    else:  # float64, longdouble (checked against float64), or computed in float64
        _close(got, want, 1e-12, 1e-15, f"{case_id} {dtype}")
    if given.byteorder == ">":  # bit for bit the little-endian call
        native = call(case, _as(case, given.newbyteorder("<")))
        assert _identical(got, native), f"{case_id} {dtype} vs native"


# --------------------------------------------------------------------------------------------
# Class-index dtypes
# --------------------------------------------------------------------------------------------

INDEX_DTYPES = [
    np.dtype(f"{order}{kind}{size}") for kind in "iu" for size in (1, 2, 4, 8) for order in "<>"
] + [np.dtype(bool), np.dtype("<f2"), np.dtype(">f4"), np.dtype("<f8"), np.dtype(np.longdouble)]
_INDEX_CASES = [c.id for c in CASES if c.index_args]


_INDEX_IDS = [d.str if d.kind != "b" else "bool" for d in INDEX_DTYPES]


@pytest.mark.parametrize("dtype", INDEX_DTYPES, ids=_INDEX_IDS)
@pytest.mark.parametrize("case_id", _INDEX_CASES)
def test_index_dtype(case_id: str, dtype: np.dtype[Any]) -> None:
    case = _BY_ID[case_id]
    arrays = dict(case.arrays)
    for k in case.index_args:
        if dtype.kind == "b":
            arrays[k] = np.where(arrays[k] < 0, arrays[k], arrays[k] % 2)  # 0 and 1 only
            if (arrays[k] < 0).any():
                pytest.skip("bool cannot hold ignore_index")
        elif dtype.kind == "u" and (arrays[k] < 0).any():
            pytest.skip("unsigned dtypes cannot hold ignore_index = -100")
    given = {k: v.astype(dtype) if k in case.index_args else v for k, v in arrays.items()}
    try:
        want = call(case, arrays)
    except ValueError as exc:  # bool targets: 0/1 may leave nothing to fit; then the same error
        with pytest.raises(ValueError, match=f"^{re.escape(str(exc))}$"):
            call(case, given)
        return
    got = call(case, given)
    assert _identical(got, want), f"{case_id} {dtype}"


# --------------------------------------------------------------------------------------------
# Zero-size batches and 0-d inputs
# --------------------------------------------------------------------------------------------


def _empty(case: Case) -> dict[str, np.ndarray]:
    """The first (batch) axis cut to length 0 in every array that has one beyond the class."""
    batch_ndim = case.arrays[next(iter(case.arrays))].ndim
    return {k: v[:0] if v.ndim == batch_ndim or (v.ndim >= 1 and k in ("target",)) else v
            for k, v in case.arrays.items()}  # fmt: skip


@pytest.mark.parametrize("dtype", ["<f8", ">f4", "bfloat16"])
@pytest.mark.parametrize("case_id", CASE_IDS)
def test_zero_size_batch(case_id: str, dtype: str) -> None:
    case = _BY_ID[case_id]
    arrays = _empty(case)
    if not case.empty:
        with pytest.raises(ValueError, match=r"^`\w+`"):
            call(case, arrays)
        return
    want = call(case, arrays)
    cast = {k: v.astype(FLOAT_DTYPES[dtype][0]) if k in case.float_args else v
            for k, v in arrays.items()}  # fmt: skip
    got = call(case, cast)
    if case.function in _SCALAR_OUT:
        assert type(got) is float, f"{case_id}: {type(got)}"
    else:
        assert _dtype(got) == FLOAT_DTYPES[dtype][1]
    _close(got, want, 0, 0, f"{case_id} empty")


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_zero_d(case_id: str) -> None:
    case = _BY_ID[case_id]
    scalars = {k: v.reshape(-1)[1] if v.ndim else v for k, v in case.arrays.items()}
    arrays = {k: np.asarray(v) for k, v in scalars.items()}
    if not case.zero_d:
        with pytest.raises(ValueError, match=r"^`\w+`"):
            call(case, arrays)
        return
    got = call(case, arrays)
    assert np.shape(got) == ()
    one = call(case, {k: v.reshape(1) for k, v in arrays.items()})
    _close(got, np.reshape(one, ()), 0, 0, f"{case_id} 0-d")
    _close(call(case, scalars), got, 0, 0, f"{case_id} Python scalars")
