"""Session fixtures of the site checks: one strict build, a server, one browser visit per page.

The build uses the Makefile's environment (``NO_MKDOCS_2_WARNING=1``, ``PYTHONHASHSEED=0``,
``SOURCE_DATE_EPOCH`` = the last commit's time when unset) and goes to a temporary directory,
never to ``site/``. The server is a ``ThreadingHTTPServer`` on 127.0.0.1 with a free port.

Every page is opened once, in a fresh browser context (a cold cache, so the bytes counted are
what a first visit transfers), and everything the browser tests and the accessibility tests
assert on is recorded in a ``Visit``: console and page errors, failed requests, requests to
other origins (aborted by a route before they leave the machine), bytes, math, images, and
the axe-core violations in the light palette and, after a click on the palette toggle, in the
dark one.

Environment variables:

- ``XENTREF_REQUIRE_BROWSER=1``: a missing Chromium or Playwright fails the browser tests
  instead of skipping them (``.ci/run`` sets it).
- ``XENTREF_CHROMIUM``: path of the Chromium binary (default: ``/usr/bin/chromium``, then
  ``chromium`` on ``PATH``).
- ``XENTREF_SITE_SCREENSHOTS=DIR``: also save a full-page screenshot of every page, light
  and dark, into DIR (for looking at the site, not checked).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
AXE_JS = ROOT / "scripts" / "site" / "node_modules" / "axe-core" / "axe.min.js"
REPORT_DIR = ROOT / "build" / "site-checks"

#: No page may transfer more than this (HTML, CSS, scripts, fonts, images, search index).
MAX_PAGE_BYTES = 1_500_000

#: Chromium flags: headless, and no background connections of its own (updates, sync, QUIC).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
INSTALL_HINT = (
    "Chromium is needed for the browser tests of the site: install it with "
    "`sudo apt-get install chromium` (Debian/Ubuntu), or point XENTREF_CHROMIUM at a Chromium "
    "binary. `playwright install` is not needed: Playwright drives the system Chromium."
)
REQUIRE_BROWSER = os.environ.get("XENTREF_REQUIRE_BROWSER", "") not in ("", "0")

#: Findings shared between fixtures and the terminal summary.
_REPORT = pytest.StashKey[dict[str, Any]]()


# --------------------------------------------------------------------------- build


def build_env() -> dict[str, str]:
    """The Makefile's environment for ``mkdocs build``."""
    env = dict(os.environ)
    env["NO_MKDOCS_2_WARNING"] = "1"
    env["PYTHONHASHSEED"] = "0"
    if not env.get("SOURCE_DATE_EPOCH"):
        result = subprocess.run(
            ["git", "log", "-1", "--format=%ct"], cwd=ROOT, capture_output=True, text=True
        )
        epoch = result.stdout.strip()
        env["SOURCE_DATE_EPOCH"] = epoch if result.returncode == 0 and epoch else "1767225600"
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")])
    return env


def build_site(dest: Path) -> None:
    """``mkdocs build --strict -d dest``; fail the test with the build's output if it fails."""
    cmd = [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", "mkdocs.yml", "-d", str(dest)]
    result = subprocess.run(
        cmd, cwd=ROOT, env=build_env(), capture_output=True, text=True, timeout=900
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr)[-6000:]
        pytest.fail(f"`mkdocs build --strict` failed ({result.returncode}):\n{output}", False)


def source_digest() -> str:
    """Hash of everything the site is built from, to tell a changed source from a bad build."""
    digest = hashlib.sha256()
    scripts = (p for p in (ROOT / "scripts").glob("**/*.py") if "node_modules" not in p.parts)
    paths = [ROOT / "mkdocs.yml", *sorted(scripts)]
    for folder in (DOCS, ROOT / "xentref"):
        paths += sorted(
            p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts
        )
    for path in paths:
        digest.update(path.relative_to(ROOT).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@dataclass
class Site:
    """A built site: its directory, its pages and the digest of the sources it was built from."""

    root: Path
    digest: str

    @functools.cached_property
    def pages(self) -> list[str]:
        """URL paths of every HTML page, relative to the site root ("" is the home page)."""
        paths = []
        for file in sorted(self.root.rglob("*.html")):
            rel = file.relative_to(self.root).as_posix()
            paths.append(rel.removesuffix("index.html") if rel.endswith("index.html") else rel)
        return paths

    def source_of(self, page: str) -> Path | None:
        """The Markdown page or notebook under docs/ that a page was built from, if any."""
        stem = page.rstrip("/") or "index"
        for candidate in (f"{stem}.md", f"{stem}/index.md", f"{stem}.ipynb"):
            if (DOCS / candidate).is_file():
                return DOCS / candidate
        return None


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    """The site, built once per session into a temporary directory."""
    dest = tmp_path_factory.mktemp("site-a") / "site"
    digest = source_digest()
    build_site(dest)
    return Site(dest, digest)


class _QuietHandler(SimpleHTTPRequestHandler):
    extensions_map: ClassVar[dict[str, str]] = {
        **SimpleHTTPRequestHandler.extensions_map,
        ".woff2": "font/woff2",
        ".json": "application/json",
        ".svg": "image/svg+xml",
    }

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The browser closes connections it no longer needs (a page closed mid-download).
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@pytest.fixture(scope="session")
def server(site: Site) -> Iterator[str]:
    """Base URL (ending in "/") of the built site, served on 127.0.0.1."""
    handler = functools.partial(_QuietHandler, directory=str(site.root))
    httpd = _QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, name="site-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


# --------------------------------------------------------------------------- browser


def need_browser(reason: str) -> None:
    """Skip (or, with XENTREF_REQUIRE_BROWSER=1, fail) a test that needs the browser."""
    if REQUIRE_BROWSER:
        pytest.fail(f"{reason} (XENTREF_REQUIRE_BROWSER=1). {INSTALL_HINT}", False)
    pytest.skip(f"{reason}. {INSTALL_HINT}")


def find_chromium() -> str | None:
    configured = os.environ.get("XENTREF_CHROMIUM")
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    return shutil.which("chromium")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Chromium driven by Playwright (sync API)."""
    executable = find_chromium()
    if executable is None:
        need_browser("Chromium not found")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need_browser("Playwright is not installed (`make setup` installs it)")
    manager = sync_playwright().start()
    try:
        chromium = manager.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
    except Exception as error:
        manager.stop()
        pytest.fail(f"Chromium ({executable}) did not start: {error}", False)
    try:
        yield chromium
    finally:
        chromium.close()
        manager.stop()


@dataclass
class Traffic:
    """What one browser context asked for: allowed, blocked and failed requests."""

    base: str
    blocked: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    finished: list[Any] = field(default_factory=list)

    def route(self, route: Any) -> None:
        url = route.request.url
        if url.startswith((self.base, "data:", "blob:")):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort("blockedbyclient")

    def on_failed(self, request: Any) -> None:
        if request.url not in self.blocked:
            self.failed.append(f"{request.url} ({request.failure})")

    def on_response(self, response: Any) -> None:
        if response.status >= 400:
            self.failed.append(f"{response.url} (HTTP {response.status})")

    def bytes(self) -> tuple[int, int]:
        """Sum of the response body sizes of the finished same-origin requests, and their count."""
        total = count = 0
        for request in self.finished:
            if request.url.startswith(self.base):
                total += max(request.sizes()["responseBodySize"], 0)
                count += 1
        return total, count


def new_context(browser: Any, base: str, **options: Any) -> tuple[Any, Traffic]:
    """A browser context whose requests to any origin but ``base`` are aborted and recorded."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, **options)
    context.set_default_timeout(30_000)
    traffic = Traffic(base)
    context.route("**/*", traffic.route)
    return context, traffic


def watch(page: Any, traffic: Traffic) -> tuple[list[str], list[str]]:
    """Record the page's console errors, uncaught exceptions and network failures."""
    console: list[str] = []
    errors: list[str] = []
    page.on("console", lambda msg: console.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("requestfailed", traffic.on_failed)
    page.on("requestfinished", lambda request: traffic.finished.append(request))
    page.on("response", traffic.on_response)
    return console, errors


# Load lazy images now (a reader scrolling down would) and wait for every image to settle.
_LOAD_IMAGES = """
async () => {
  const images = [...document.images];
  images.forEach((img) => { img.loading = "eager"; });
  const settle = (img) => img.complete ? null : new Promise((resolve) => {
    img.addEventListener("load", resolve, { once: true });
    img.addEventListener("error", resolve, { once: true });
  });
  const timeout = new Promise((resolve) => setTimeout(resolve, 15000));
  await Promise.race([Promise.all(images.map(settle)), timeout]);
}
"""

_INSPECT = r"""
() => {
  const text = (el, n) => (el.textContent || "").replace(/\s+/g, " ").trim().slice(0, n);
  // Raw TeX left in text a reader sees: $...$, $$, \( \[ and TeX commands such as \frac.
  const TEX = /\$[^$\s][^$]{0,300}?\$|\$\$|\\[()\[\]]|\\[A-Za-z]{2,}/;
  // .clipboard-copy-txt: the hidden copy of a notebook cell's code that its copy button uses.
  const SKIP = "code, pre, kbd, samp, script, style, noscript, textarea, svg, .katex, "
    + ".clipboard-copy-txt";
  const rawTex = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || parent.closest(SKIP)) continue;
    const match = node.textContent.match(TEX);
    if (match) rawTex.push(`${match[0].slice(0, 60)}  in  "${text(parent, 160)}"`);
  }
  const arithmatex = [...document.querySelectorAll(".arithmatex")];
  const wrapper = document.querySelector(".jupyter-wrapper");
  let notebook = null;
  if (wrapper) {
    const outputs = [...wrapper.querySelectorAll(".jp-OutputArea-output")];
    notebook = {
      codeCells: wrapper.querySelectorAll(".jp-CodeCell:not(:has(.jp-CodeCell))").length,
      outputs: outputs.length,
      text: outputs.map((o) => o.innerText).join("\n"),
      images: [...wrapper.querySelectorAll(".jp-OutputArea-output img")].map((img) => ({
        width: img.naturalWidth, height: img.naturalHeight, alt: img.getAttribute("alt"),
      })),
      stderr: [...wrapper.querySelectorAll('[data-mime-type="application/vnd.jupyter.stderr"]')]
        .map((o) => text(o, 300)),
      katex: wrapper.querySelectorAll(".katex").length,
    };
  }
  return {
    title: document.title,
    katex: document.querySelectorAll(".katex").length,
    unrendered: arithmatex.filter((el) => !el.querySelector(".katex")).map((el) => text(el, 120)),
    katexErrors: [...document.querySelectorAll(".katex-error")]
      .map((el) => el.getAttribute("title") || text(el, 120)),
    rawTex: rawTex,
    images: [...document.images].map((img) => ({
      src: (img.getAttribute("src") || "").slice(0, 100),
      alt: img.getAttribute("alt"),
      naturalWidth: img.naturalWidth,
      inContent: !!img.closest(".md-content"),
    })),
    notebook: notebook,
  };
}
"""

# axe-core's full default rule set in the light palette. After the switch to dark only the
# DOM's colours change (Material swaps CSS custom properties), so the dark run is limited to
# the rules that read colours; it would repeat the other findings word for word.
AXE_OPTIONS = {
    "light": {"resultTypes": ["violations"]},
    "dark": {
        "resultTypes": ["violations"],
        "runOnly": {"type": "rule", "values": ["color-contrast", "link-in-text-block"]},
    },
}
_AXE = """
async (options) => {
  const result = await axe.run(document, options);
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map((n) => ({
      target: n.target.join(" "), html: n.html.slice(0, 240), summary: n.failureSummary,
    })),
  }));
}
"""


@dataclass
class Visit:
    """Everything recorded on one page of the site."""

    page: str
    console: list[str]
    errors: list[str]
    failed: list[str]
    blocked: list[str]
    bytes: int = 0
    requests: int = 0
    inspect: dict[str, Any] = field(default_factory=dict)
    axe: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def switch_palette(page: Any, scheme: str) -> None:
    """Click Material's palette toggle until the page shows ``scheme`` ("slate" or "default")."""
    page.locator('form[data-md-component="palette"] label.md-header__button:visible').click()
    page.wait_for_function(f"document.body.dataset.mdColorScheme === {json.dumps(scheme)}")
    page.wait_for_timeout(
        350
    )  # Material's colour transitions (250 ms) end before axe reads colours


def visit(browser: Any, base: str, path: str, shots: Path | None) -> Visit:
    context, traffic = new_context(browser, base, color_scheme="light")
    page = context.new_page()
    console, errors = watch(page, traffic)
    record = Visit(path, console, errors, traffic.failed, traffic.blocked)
    try:
        page.goto(base + path, wait_until="load")
        page.evaluate(_LOAD_IMAGES)
        page.wait_for_load_state("networkidle")
        record.bytes, record.requests = traffic.bytes()
        record.inspect = page.evaluate(_INSPECT)
        page.add_script_tag(path=str(AXE_JS))
        slug = path.strip("/").replace("/", "-").replace(".html", "") or "home"
        for scheme, name in (("default", "light"), ("slate", "dark")):
            if scheme == "slate":
                switch_palette(page, scheme)
            if shots is not None:  # before axe, which scrolls (Material then hides its tabs)
                page.evaluate("window.scrollTo(0, 0)")
                page.wait_for_timeout(300)
                page.screenshot(path=str(shots / f"{slug}-{name}.png"), full_page=True)
            record.axe[name] = page.evaluate(_AXE, AXE_OPTIONS[name])
    except Exception as error:  # a timeout or a crash is a finding about this page, not the run
        errors.append(f"visit failed: {type(error).__name__}: {error}")
    finally:
        context.close()
    return record


@pytest.fixture(scope="session")
def visits(browser: Any, server: str, site: Site, pytestconfig: pytest.Config) -> dict[str, Visit]:
    """One visit per page of the site (light, then dark for axe), keyed by page path."""
    shots_dir = os.environ.get("XENTREF_SITE_SCREENSHOTS")
    shots = Path(shots_dir) if shots_dir else None
    if shots is not None:
        shots.mkdir(parents=True, exist_ok=True)
    records = {path: visit(browser, server, path, shots) for path in site.pages}
    report = pytestconfig.stash.setdefault(_REPORT, {})
    report["weights"] = {path: (v.bytes, v.requests) for path, v in records.items()}
    report["blocked"] = sorted({url for v in records.values() for url in v.blocked})
    report["axe"] = {
        path: {
            name: [(x["id"], x["impact"], len(x["nodes"])) for x in found]
            for name, found in v.axe.items()
        }
        for path, v in records.items()
    }
    return records


@pytest.fixture(scope="session")
def report(pytestconfig: pytest.Config) -> dict[str, Any]:
    """Findings printed in the terminal summary and written to build/site-checks/."""
    return pytestconfig.stash.setdefault(_REPORT, {})


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    report = config.stash.get(_REPORT, None)
    if not report:
        return
    lines: list[str] = []
    weights = report.get("weights")
    if weights:
        lines.append(f"Transferred bytes per page (cold cache; limit {MAX_PAGE_BYTES:,}):")
        lines.append(f"  {'bytes':>11}  {'requests':>8}  page")
        for path, (size, count) in sorted(weights.items(), key=lambda kv: -kv[1][0]):
            lines.append(f"  {size:>11,}  {count:>8}  /{path}")
        lines.append(f"Requests to other origins (aborted): {len(report.get('blocked', []))}")
        lines += [f"  {url}" for url in report.get("blocked", [])]
    axe = report.get("axe")
    if axe:
        counts: dict[tuple[str, str, str], int] = {}
        for found in axe.values():
            for scheme, violations in found.items():
                for rule, impact, nodes in violations:
                    key = (scheme, impact or "?", rule)
                    counts[key] = counts.get(key, 0) + nodes
        lines.append(f"axe-core violations over {len(axe)} pages (nodes, by palette and impact):")
        lines += [f"  {s:5}  {i:8}  {r}: {n}" for (s, i, r), n in sorted(counts.items())] or [
            "  none"
        ]
    external = report.get("external")
    if external is not None:
        lines.append(f"External links (listed, not fetched): {len(external)}")
        lines += [f"  {url}  ({len(pages)} page(s))" for url, pages in sorted(external.items())]
    if not lines:
        return
    terminalreporter.write_sep("-", "site checks")
    for line in lines:
        terminalreporter.write_line(line)
    try:
        REPORT_DIR.mkdir(parents=True, exist_ok=True)
        (REPORT_DIR / "summary.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        (REPORT_DIR / "report.json").write_text(
            json.dumps(report, indent=1, sort_keys=True, default=list) + "\n", encoding="utf-8"
        )
        terminalreporter.write_line(f"(written to {REPORT_DIR.relative_to(ROOT)}/)")
    except OSError as error:
        terminalreporter.write_line(f"(could not write {REPORT_DIR}: {error})")


def source_has_math(source: Path) -> bool:
    """Whether a Markdown page or notebook's Markdown cells contain math (code removed)."""
    if source.suffix == ".ipynb":
        cells = json.loads(source.read_text(encoding="utf-8"))["cells"]
        text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    else:
        text = source.read_text(encoding="utf-8")
    text = re.sub(r"^(\s*)(```|~~~).*?^\1\2", "", text, flags=re.DOTALL | re.MULTILINE)
    text = re.sub(r"`[^`\n]+`", "", text)
    return re.search(r"\$[^$\s]|\$\$|\\\(|\\\[", text) is not None
