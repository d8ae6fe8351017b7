"""Quality gates of the built documentation site.

The site is built once per test session (``mkdocs build --strict`` into a temporary
directory, with the Makefile's environment), served on 127.0.0.1 and checked:

- ``test_links.py``: every internal link and anchor of the built HTML resolves; external
  links are listed, never fetched (no browser needed);
- ``test_reproducible.py``: a second clean build, and a fresh run of ``scripts/site/figures.py``,
  give byte-identical files (no browser needed);
- ``test_browser.py``: every page in headless Chromium: no console error, no failed request,
  no request to another origin, all math rendered, all images loaded; search, palette toggle
  and the executed notebook;
- ``test_accessibility.py``: axe-core on every page in the light and dark palettes, and
  meaningful alt text on every figure;
- ``test_page_weight.py``: bytes each page transfers, at most 1.5 MB.

The browser tests need Chromium (``apt-get install chromium``); without it they skip, unless
``XENTREF_REQUIRE_BROWSER=1`` (set by ``.ci/run``) turns the skip into a failure. A table of
page weights, the axe summary and the list of external links are printed at the end of the
run and written to ``build/site-checks/``.
"""
