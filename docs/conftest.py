"""Run every Python code block of the narrative pages as a test (Sybil).

Each ```python fence on a page under docs/ is collected: a fence whose lines start with
``>>>`` runs as a doctest (its printed output must match), any other ``python`` fence is
executed as plain code. Blocks of one page share a namespace, in page order, so a page may
build on an earlier block; every page still starts with its own imports.

The API reference (docs/reference/, rendered from the package's docstrings, which
``--doctest-modules`` already tests) and generated files (docs/figures/) are not collected.
The Jupyter notebook is executed by mkdocs-jupyter at build time, not here.

Markdown directives understood in HTML comments:

- ``<!-- skip: next -->`` skips the next block (use sparingly, say why next to it);
- ``<!-- clear-namespace -->`` starts a fresh namespace.
"""

from doctest import ELLIPSIS, NORMALIZE_WHITESPACE

import numpy as np
from sybil import Sybil
from sybil.evaluators.doctest import NUMBER  # pytest's NUMBER flag, as Sybil implements it
from sybil.parsers.markdown import ClearNamespaceParser, PythonCodeBlockParser, SkipParser

_PRINT_OPTIONS = np.get_printoptions()


def _reset_print_options(namespace: dict[str, object]) -> None:
    """Give every page NumPy's default print options, whatever the previous page set."""
    np.set_printoptions(**_PRINT_OPTIONS)


pytest_collect_file = Sybil(
    parsers=[
        PythonCodeBlockParser(doctest_optionflags=NUMBER | NORMALIZE_WHITESPACE | ELLIPSIS),
        SkipParser(),
        ClearNamespaceParser(),
    ],
    patterns=["*.md"],
    setup=_reset_print_options,
    teardown=_reset_print_options,
    # Path.match is anchored on the right, so one pattern per depth below each folder.
    excludes=[
        "reference/*.md",
        "reference/*/*.md",
        "reference/*/*/*.md",
        "figures/*.md",
        "assets/*.md",
        "assets/*/*.md",
    ],
).pytest()
