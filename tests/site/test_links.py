"""Every link of the built HTML: internal ones must resolve, external ones are listed only.

The strict build already rejects broken links written in Markdown; this crawl also covers the
HTML that mkdocstrings, autorefs, nbconvert and the theme generate. Every ``href``/``src``/
``srcset`` of every page is resolved against the page's URL: an internal one must name a file
of the site (a directory means its ``index.html``) and, with a ``#fragment``, an element with
that ``id`` (or an ``<a name>``) in the target page. External links are collected, printed in
the terminal summary and written to ``build/site-checks/``; they are never fetched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import pytest

from .conftest import Site

_ORIGIN = "http://site.invalid/"
_EXTERNAL = ("http:", "https:", "//", "mailto:", "ftp:")
_INERT = ("data:", "blob:", "javascript:", "tel:")
_URL_ATTRS = {"href", "src", "poster", "data"}


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.refs: list[tuple[str, str]] = []  # (tag.attr, value)
        self._svg = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value for name, value in attrs if value is not None}
        if "id" in values:
            self.ids.add(values["id"])
        if tag == "a" and "name" in values:
            self.ids.add(values["name"])
        if tag == "svg":
            self._svg += 1
        if self._svg:  # icons: <svg> inner references are document-local paint servers
            return
        for name, value in values.items():
            if name in _URL_ATTRS:
                self.refs.append((f"{tag}.{name}", value.strip()))
            elif name == "srcset":
                for candidate in value.split(","):
                    if candidate.strip():
                        self.refs.append((f"{tag}.srcset", candidate.split()[0]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg" and self._svg:
            self._svg -= 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag == "svg":
            self.handle_endtag(tag)


@dataclass
class Crawl:
    pages: int = 0
    internal: int = 0
    anchors: int = 0
    broken: list[str] = field(default_factory=list)
    external: dict[str, set[str]] = field(default_factory=dict)


def _parse(path: Path, cache: dict[Path, _Parser]) -> _Parser:
    if path not in cache:
        parser = _Parser()
        parser.feed(path.read_text(encoding="utf-8"))
        parser.close()
        cache[path] = parser
    return cache[path]


def crawl_site(root: Path) -> Crawl:
    result = Crawl()
    parsed: dict[Path, _Parser] = {}
    for file in sorted(root.rglob("*.html")):
        rel = file.relative_to(root).as_posix()
        result.pages += 1
        for where, ref in _parse(file, parsed).refs:
            lowered = ref.lower()
            if lowered.startswith(_INERT):
                continue
            if lowered.startswith(_EXTERNAL):
                result.external.setdefault(ref, set()).add(rel)
                continue
            if not ref:
                result.broken.append(f"{rel}: empty {where}")
                continue
            url = urlsplit(urljoin(_ORIGIN + rel, ref))
            target_rel = unquote(url.path).lstrip("/")
            target = root / target_rel
            if not target_rel or target_rel.endswith("/") or target.is_dir():
                target = target / "index.html"
            result.internal += 1
            if not target.is_file():
                result.broken.append(
                    f"{rel}: {where}={ref!r} -> no file {target.relative_to(root)}"
                )
                continue
            fragment = unquote(url.fragment)
            if not fragment or fragment == "top":
                continue
            result.anchors += 1
            if target.suffix != ".html":
                result.broken.append(f"{rel}: {where}={ref!r} -> anchor into a non-HTML file")
            elif fragment not in _parse(target, parsed).ids:
                result.broken.append(
                    f"{rel}: {where}={ref!r} -> no id {fragment!r} in {target.relative_to(root)}"
                )
    return result


@pytest.fixture(scope="module")
def crawl(site: Site, report: dict[str, Any]) -> Crawl:
    result = crawl_site(site.root)
    report["external"] = {url: sorted(pages) for url, pages in result.external.items()}
    return result


def test_internal_links_and_anchors_resolve(crawl: Crawl) -> None:
    print(
        f"\nlinks: {crawl.pages} HTML files, {crawl.internal} internal references "
        f"({crawl.anchors} with an anchor), {len(crawl.broken)} broken"
    )
    assert crawl.pages > 20
    if crawl.broken:
        pytest.fail(
            f"{len(crawl.broken)} broken internal link(s):\n" + "\n".join(crawl.broken[:100]), False
        )


def test_external_links_are_listed_not_fetched(crawl: Crawl) -> None:
    """External links are reported for a human to look at; none is fetched here (offline)."""
    print(f"\nexternal links: {len(crawl.external)}")
    for url, pages in sorted(crawl.external.items()):
        print(f"  {url}  <- {', '.join(sorted(pages)[:3])}{' ...' if len(pages) > 3 else ''}")
    # Plain http only for the local preview server (`make docs`), never for a public site.
    insecure = sorted(
        url
        for url in crawl.external
        if url.lower().startswith("http:")
        and urlsplit(url).hostname not in ("127.0.0.1", "localhost", "::1")
    )
    assert not insecure, f"external links over plain http: {insecure}"
