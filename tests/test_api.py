"""The public API: `__all__`, the reference pages, docstrings, signatures, version, imports.

These tests keep the promises of the package layout: every public function is listed in
`__all__`, rendered on an API reference page, documented in numpydoc sections with Markdown
(never RST), fully annotated, takes its options keyword-only where the contract says so, and
importing xentref pulls in nothing but NumPy and the standard library.
"""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import xentref

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "reference"
PUBLIC = list(xentref.__all__)

POS = inspect.Parameter.POSITIONAL_OR_KEYWORD
KW = inspect.Parameter.KEYWORD_ONLY

# The contract's signatures: (name, kind, default); `inspect.Parameter.empty` = required.
_REQ = inspect.Parameter.empty
SIGNATURES: dict[str, list[tuple[str, Any, Any]]] = {
    "logsumexp": [("x", POS, _REQ), ("axis", POS, -1), ("keepdims", POS, False)],
    "softmax": [("x", POS, _REQ), ("axis", POS, -1)],
    "log_softmax": [("x", POS, _REQ), ("axis", POS, -1)],
    "sigmoid": [("x", POS, _REQ)],
    "log_sigmoid": [("x", POS, _REQ)],
    "entropy": [("p", POS, _REQ), ("axis", POS, -1), ("base", POS, None)],
    "cross_entropy": [("p", POS, _REQ), ("q", POS, _REQ), ("axis", POS, -1), ("base", POS, None)],
    "kl_divergence": [("p", POS, _REQ), ("q", POS, _REQ), ("axis", POS, -1), ("base", POS, None)],
    "softmax_cross_entropy": [
        ("logits", POS, _REQ),
        ("target", POS, _REQ),
        ("axis", KW, -1),
        ("weight", KW, None),
        ("ignore_index", KW, -100),
        ("label_smoothing", KW, 0.0),
        ("z_loss", KW, 0.0),
        ("softcap", KW, None),
        ("reduction", KW, "mean"),
    ],
    "linear_cross_entropy": [
        ("hidden", POS, _REQ),
        ("linear_weight", POS, _REQ),
        ("target", POS, _REQ),
        ("linear_bias", KW, None),
        ("weight", KW, None),
        ("ignore_index", KW, -100),
        ("label_smoothing", KW, 0.0),
        ("z_loss", KW, 0.0),
        ("softcap", KW, None),
        ("reduction", KW, "mean"),
    ],
    "binary_cross_entropy": [
        ("probs", POS, _REQ),
        ("target", POS, _REQ),
        ("weight", KW, None),
        ("reduction", KW, "mean"),
    ],
    "binary_cross_entropy_with_logits": [
        ("logits", POS, _REQ),
        ("target", POS, _REQ),
        ("weight", KW, None),
        ("pos_weight", KW, None),
        ("reduction", KW, "mean"),
    ],
    "sigmoid_focal_loss": [
        ("logits", POS, _REQ),
        ("target", POS, _REQ),
        ("alpha", KW, 0.25),
        ("gamma", KW, 2.0),
        ("reduction", KW, "none"),
    ],
    "fit_temperature": [("logits", POS, _REQ), ("target", POS, _REQ), ("axis", KW, -1)],
    "expected_calibration_error": [("probs", POS, _REQ), ("target", POS, _REQ), ("n_bins", KW, 15)],
}
SIGNATURES["mean_denominator"] = [
    ("logits", POS, _REQ),
    ("target", POS, _REQ),
    ("axis", KW, -1),
    ("weight", KW, None),
    ("ignore_index", KW, -100),
]
SIGNATURES["vocab_parallel_cross_entropy"] = [
    ("local_logits", POS, _REQ),
    ("target", POS, _REQ),
    ("vocab_start", KW, _REQ),
    ("vocab_size", KW, _REQ),
    ("all_reduce", KW, _REQ),
    ("weight", KW, None),
    ("ignore_index", KW, -100),
    ("label_smoothing", KW, 0.0),
    ("reduction", KW, "mean"),
]
SIGNATURES["vocab_parallel_cross_entropy_grad"] = SIGNATURES["vocab_parallel_cross_entropy"]
SIGNATURES["softmax_cross_entropy_grad"] = SIGNATURES["softmax_cross_entropy"]
SIGNATURES["linear_cross_entropy_grad"] = SIGNATURES["linear_cross_entropy"]
SIGNATURES["binary_cross_entropy_with_logits_grad"] = SIGNATURES["binary_cross_entropy_with_logits"]

REQUIRED_SECTIONS = ["Parameters", "Returns", "Raises", "See Also", "Examples"]
NUMPYDOC_ORDER = ["Parameters", "Returns", "Raises", "See Also", "Notes", "References", "Examples"]
RST_MARKERS = [
    ".. math::",
    ":func:",
    ":class:",
    ":meth:",
    ":mod:",
    ":math:",
    ".. [",
    ".. note::",
    ".. code",
]


def _function(name: str) -> Callable[..., Any]:
    return typing.cast("Callable[..., Any]", getattr(xentref, name))


def _sections(doc: str) -> dict[str, str]:
    """Split a numpydoc docstring into {section title: body} (title line + dashes underline)."""
    parts = re.split(r"^([A-Z][A-Za-z ]+)\n-{3,}\n", doc, flags=re.MULTILINE)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts) - 1, 2)}


# ------------------------------------------------------------------------------------------
# __all__ and the reference pages
# ------------------------------------------------------------------------------------------


def test_api_all_is_sorted_and_unique() -> None:
    assert PUBLIC == sorted(PUBLIC)
    assert len(PUBLIC) == len(set(PUBLIC))


def test_api_all_equals_public_callables() -> None:
    public = {n for n in dir(xentref) if not n.startswith("_") and callable(getattr(xentref, n))}
    assert set(PUBLIC) == public


def test_api_all_are_functions_from_private_modules() -> None:
    for name in PUBLIC:
        f = _function(name)
        assert inspect.isfunction(f), name
        assert f.__module__.startswith("xentref._"), (name, f.__module__)
        assert f.__name__ == name


def test_api_contract_lists_every_public_function() -> None:
    assert set(SIGNATURES) == set(PUBLIC)


def _reference_targets() -> set[str]:
    names = set()
    for page in sorted(REFERENCE.rglob("*.md")):
        names |= set(
            re.findall(
                r"^:::\s+xentref\.(\w+)\s*$", page.read_text(encoding="utf-8"), flags=re.MULTILINE
            )
        )
    return names


@pytest.mark.parametrize("name", PUBLIC)
def test_api_every_function_has_a_reference_page(name: str) -> None:
    assert REFERENCE.is_dir(), f"{REFERENCE} does not exist yet"
    assert name in _reference_targets(), f"no `::: xentref.{name}` under docs/reference/"


def test_api_reference_pages_document_only_public_names() -> None:
    assert _reference_targets() <= set(PUBLIC)


# ------------------------------------------------------------------------------------------
# Docstrings
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PUBLIC)
def test_api_docstring_has_numpydoc_sections_in_order(name: str) -> None:
    doc = inspect.getdoc(_function(name)) or ""
    sections = _sections(doc)
    missing = [s for s in REQUIRED_SECTIONS if s not in sections]
    assert not missing, f"{name}: missing sections {missing}"
    unknown = [s for s in sections if s not in NUMPYDOC_ORDER]
    assert not unknown, f"{name}: unexpected sections {unknown}"
    order = [s for s in NUMPYDOC_ORDER if s in sections]
    assert list(sections) == order, f"{name}: sections out of numpydoc order"


@pytest.mark.parametrize("name", PUBLIC)
def test_api_docstring_has_a_summary_line(name: str) -> None:
    doc = inspect.getdoc(_function(name)) or ""
    summary = doc.splitlines()[0]
    assert summary.endswith("."), summary
    assert doc.splitlines()[1:2] in ([], [""]), f"{name}: the summary must be one line"


@pytest.mark.parametrize("name", PUBLIC)
def test_api_docstring_has_no_rst(name: str) -> None:
    doc = inspect.getdoc(_function(name)) or ""
    found = [m for m in RST_MARKERS if m in doc]
    assert not found, f"{name}: RST markup {found}; use $...$ and [name][xentref.name]"


@pytest.mark.parametrize("name", PUBLIC)
def test_api_docstring_examples_print_results(name: str) -> None:
    examples = _sections(inspect.getdoc(_function(name)) or "").get("Examples", "")
    assert ">>>" in examples, name
    assert "print(" in examples, name
    assert "from xentref import" in examples or "import xentref" in examples, name


@pytest.mark.parametrize("name", PUBLIC)
def test_api_docstring_documents_every_parameter(name: str) -> None:
    params = _sections(inspect.getdoc(_function(name)) or "").get("Parameters", "")
    documented = re.findall(r"^(\w+) :", params, flags=re.MULTILINE)
    assert documented == list(inspect.signature(_function(name)).parameters), name


@pytest.mark.parametrize("name", PUBLIC)
def test_api_see_also_links_are_public(name: str) -> None:
    see_also = _sections(inspect.getdoc(_function(name)) or "").get("See Also", "")
    links = re.findall(r"\]\[xentref\.(\w+)\]", see_also)
    assert links, f"{name}: See Also has no [name][xentref.name] cross-reference"
    assert set(links) <= set(PUBLIC), name


# ------------------------------------------------------------------------------------------
# Signatures
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PUBLIC)
def test_api_signature_matches_contract(name: str) -> None:
    params = inspect.signature(_function(name)).parameters.values()
    got = [(p.name, p.kind, p.default) for p in params]
    assert got == SIGNATURES[name]


@pytest.mark.parametrize("name", PUBLIC)
def test_api_fully_annotated(name: str) -> None:
    f = _function(name)
    sig = inspect.signature(f)
    unannotated = [
        p.name for p in sig.parameters.values() if p.annotation is inspect.Parameter.empty
    ]
    assert not unannotated, f"{name}: parameters without annotations {unannotated}"
    assert sig.return_annotation is not inspect.Signature.empty, f"{name}: no return annotation"
    hints = typing.get_type_hints(f)  # the string annotations resolve
    assert set(hints) == {*sig.parameters, "return"}


@pytest.mark.parametrize(
    "name", ["fit_temperature", "expected_calibration_error", "mean_denominator"]
)
def test_api_scalar_statistics_return_float(name: str) -> None:
    assert typing.get_type_hints(_function(name))["return"] is float


# ------------------------------------------------------------------------------------------
# Version and imports
# ------------------------------------------------------------------------------------------


def test_api_version_matches_pyproject() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    with open(ROOT / "pyproject.toml", "rb") as fh:
        version = tomllib.load(fh)["project"]["version"]
    assert xentref.__version__ == version


def test_api_import_pulls_in_only_numpy_and_stdlib() -> None:
    code = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "import xentref\n"
        "new = {m.split('.')[0] for m in set(sys.modules) - before}\n"
        "print(' '.join(sorted(new - set(sys.stdlib_module_names))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    third_party = set(result.stdout.split())
    assert third_party <= {"numpy", "xentref"}, third_party
    for heavy in ("scipy", "torch", "matplotlib", "pandas", "mpmath", "jax", "sklearn"):
        assert heavy not in third_party
