"""Two clean builds of the same sources give byte-identical sites, figures included.

What makes this hold (pinned by the build, checked here): ``SOURCE_DATE_EPOCH`` for every date
(``sitemap.xml``, its gzip header), ``PYTHONHASHSEED=0``, matplotlib's ``svg.hashsalt`` and no
SVG metadata date (``scripts/site/figures.py``), fixed cell ids and in-order execution of the
notebook (``cache: false``, so outputs are recomputed every build).

The hook caches figures in ``build/figures`` between builds, so the second build alone would
not redraw them: ``test_figures_redraw_identically`` runs ``scripts/site/figures.py`` afresh into a
temporary directory and compares its SVGs with the ones the site serves.
"""

from __future__ import annotations

import difflib
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT, Site, build_env, build_site, source_digest


def _files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _first_difference(a: bytes, b: bytes) -> str:
    try:
        left, right = a.decode("utf-8").splitlines(), b.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        index = next(
            (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
        )
        return f"binary, {len(a)} vs {len(b)} bytes, first difference at byte {index}"
    diff = list(difflib.unified_diff(left, right, lineterm="", n=0))[2:8]
    return "\n        ".join(line[:200] for line in diff)


def compare_trees(first: Path, second: Path) -> list[str]:
    a, b = _files(first), _files(second)
    problems = [f"only in the first: {name}" for name in sorted(a.keys() - b.keys())]
    problems += [f"only in the second: {name}" for name in sorted(b.keys() - a.keys())]
    for name in sorted(a.keys() & b.keys()):
        if a[name] != b[name]:
            problems.append(f"differs: {name}\n        {_first_difference(a[name], b[name])}")
    return problems


def test_second_build_is_byte_identical(
    site: Site, tmp_path_factory: pytest.TempPathFactory
) -> None:
    second = tmp_path_factory.mktemp("site-b") / "site"
    build_site(second)
    if source_digest() != site.digest:
        pytest.fail(
            "the sources changed between the two builds (edited during the test run?)", False
        )
    problems = compare_trees(site.root, second)
    files = len(_files(site.root))
    print(f"\nreproducible build: {files} files compared, {len(problems)} differ")
    if problems:
        pytest.fail(
            f"{len(problems)} of {files} files differ between two builds:\n"
            + "\n".join(problems[:50]),
            False,
        )


def test_figures_redraw_identically(site: Site, tmp_path: Path) -> None:
    served = sorted((site.root / "figures").glob("*.svg"))
    assert served, "the site has no figures/*.svg"
    env = build_env()
    env["PYTHONPATH"] = str(ROOT)
    env["MPLBACKEND"] = "Agg"
    result = subprocess.run(
        [sys.executable, "scripts/site/figures.py", "--out", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    problems = []
    for svg in served:
        fresh = tmp_path / svg.name
        if not fresh.is_file():
            problems.append(f"{svg.name}: not drawn by scripts/site/figures.py")
        elif (old := svg.read_bytes()) != (new := fresh.read_bytes()):
            problems.append(f"{svg.name}: differs\n        {_first_difference(old, new)}")
    print(f"\nfigures: {len(served)} SVGs redrawn, {len(problems)} differ")
    assert not problems, "Figures not reproducible:\n" + "\n".join(problems)
