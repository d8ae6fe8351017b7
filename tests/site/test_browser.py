"""Every page of the built site in headless Chromium, offline: what a reader's browser shows.

The per-page records come from the ``visits`` fixture (``conftest.py``): each page is loaded in
a fresh context whose route aborts any request to an origin other than the local server.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from .conftest import DOCS, Site, Visit, new_context, source_has_math, switch_palette, watch


def fail_if_any(problems: dict[str, list[str]], what: str) -> None:
    """Fail with one block per page that has problems."""
    problems = {page: found for page, found in problems.items() if found}
    if problems:
        lines = [f"{what} on {len(problems)} page(s):"]
        for page, found in problems.items():
            lines.append(f"  /{page}")
            lines += [f"      {item}" for item in found[:20]]
            if len(found) > 20:
                lines.append(f"      ... and {len(found) - 20} more")
        pytest.fail("\n".join(lines), False)


def test_every_page_visited(site: Site, visits: dict[str, Visit]) -> None:
    assert len(visits) == len(site.pages) > 20, sorted(visits)
    print(f"\n{len(visits)} pages visited in Chromium")


def test_no_console_error_or_uncaught_exception(visits: dict[str, Visit]) -> None:
    fail_if_any(
        {
            page: [f"console: {m}" for m in v.console] + [f"page error: {e}" for e in v.errors]
            for page, v in visits.items()
        },
        "Console errors or uncaught exceptions",
    )


def test_no_failed_request(visits: dict[str, Visit]) -> None:
    fail_if_any({page: v.failed for page, v in visits.items()}, "Failed requests")


def test_no_request_to_another_origin(visits: dict[str, Visit]) -> None:
    """The site works offline: nothing is fetched from anywhere but the site itself."""
    blocked = {page: v.blocked for page, v in visits.items()}
    total = sum(len(urls) for urls in blocked.values())
    print(f"\nrequests to other origins, aborted: {total} (over {len(visits)} pages)")
    fail_if_any(blocked, "Requests to other origins (aborted by the test's route)")


def test_every_formula_rendered(site: Site, visits: dict[str, Visit]) -> None:
    """KaTeX output wherever the source has math; no raw TeX left in the visible text."""
    problems: dict[str, list[str]] = {}
    formulas = 0
    for page, v in visits.items():
        found = problems.setdefault(page, [])
        info = v.inspect
        if not info:
            found.append("page could not be inspected (see the console/page-error test)")
            continue
        formulas += info["katex"]
        found += [f"arithmatex not rendered: {tex}" for tex in info["unrendered"]]
        found += [f"KaTeX error: {err}" for err in info["katexErrors"]]
        found += [f"raw TeX: {hit}" for hit in info["rawTex"]]
        source = site.source_of(page)
        if source is not None and source_has_math(source) and info["katex"] == 0:
            found.append(f"docs/{source.relative_to(DOCS)} has math; the page shows no KaTeX")
    print(f"\nKaTeX formulas rendered: {formulas} over {len(visits)} pages")
    fail_if_any(problems, "Math not rendered")


def test_every_image_loads(visits: dict[str, Visit]) -> None:
    fail_if_any(
        {
            page: [
                f"not loaded: {img['src']}"
                for img in v.inspect.get("images", [])
                if img["naturalWidth"] == 0
            ]
            for page, v in visits.items()
        },
        "Images that did not load (naturalWidth 0)",
    )


# --------------------------------------------------------------------------- site-wide

# (query, a page the results must include)
SEARCHES = [
    ("gibbs", "theory/kl-divergence/"),
    ("label smoothing", "losses/options/"),
]


@pytest.mark.parametrize(("query", "expected"), SEARCHES)
def test_search_finds_the_page(browser: Any, server: str, query: str, expected: str) -> None:
    """Type into Material's search box (the index is searched in a web worker) and read results."""
    context, traffic = new_context(browser, server)
    try:
        page = context.new_page()
        console, errors = watch(page, traffic)
        page.goto(server, wait_until="load")
        box = page.locator("input.md-search__input")
        box.click()
        box.press_sequentially(query, delay=20)
        page.wait_for_selector(".md-search-result__item", timeout=20_000)
        links = page.eval_on_selector_all(
            ".md-search-result__item > a", "links => links.map(a => a.href)"
        )
        meta = page.inner_text(".md-search-result__meta")
    finally:
        context.close()
    pages = sorted({re.sub(r"[?#].*", "", link).removeprefix(server) for link in links})
    print(f"\nsearch {query!r}: {meta}: {pages}")
    assert expected in pages, f"search {query!r} found {pages}, not {expected}"
    problems = [*console, *errors, *traffic.failed, *traffic.blocked]
    assert not problems, f"while searching: {problems}"


def test_palette_toggle_switches_to_dark_and_back(browser: Any, server: str) -> None:
    context, _ = new_context(browser, server, color_scheme="light")
    try:
        page = context.new_page()
        page.goto(server + "theory/entropy/", wait_until="load")
        scheme = "document.body.dataset.mdColorScheme"
        background = "getComputedStyle(document.body).backgroundColor"
        assert page.evaluate(scheme) == "default"
        light = page.evaluate(background)
        switch_palette(page, "slate")
        dark = page.evaluate(background)
        # The choice persists across pages (Material keeps it in localStorage).
        page.goto(server + "losses/softmax/", wait_until="load")
        assert page.evaluate(scheme) == "slate"
        switch_palette(page, "default")
        assert page.evaluate(background) == light
    finally:
        context.close()
    print(f"\nbackground: light {light}, dark {dark}")
    assert light != dark


def test_notebook_shows_executed_outputs_and_figures(site: Site, visits: dict[str, Visit]) -> None:
    pages = [p for p in site.pages if (s := site.source_of(p)) is not None and s.suffix == ".ipynb"]
    assert pages, "no notebook page in the site"
    for page in pages:
        source = site.source_of(page)
        assert source is not None
        cells = json.loads(source.read_text(encoding="utf-8"))["cells"]
        code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
        # Cells that draw a figure: each must show its image in the built page.
        drawing = sum(bool(re.search(r"\bplt\.(subplots|figure|show)\(", src)) for src in code)
        nb = visits[page].inspect.get("notebook")
        assert nb is not None, f"/{page}: no .jupyter-wrapper (notebook not converted?)"
        print(
            f"\n/{page}: {nb['codeCells']} code cells, {nb['outputs']} outputs, "
            f"{len(nb['images'])} images, {nb['katex']} formulas"
        )
        assert nb["codeCells"] == len(code)
        assert nb["outputs"] > 0, "no executed output on the notebook page"
        assert nb["text"].strip(), "the notebook's outputs are empty"
        assert not nb["stderr"], f"stderr/traceback in the executed notebook: {nb['stderr']}"
        assert len(nb["images"]) >= max(drawing, 1), (
            f"{len(nb['images'])} output images, {drawing} cells draw a figure"
        )
        assert all(img["width"] > 0 for img in nb["images"]), nb["images"]
        if source_has_math(source):
            assert nb["katex"] > 0, "notebook Markdown has math that KaTeX did not render"
