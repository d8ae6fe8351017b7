"""Bytes each page transfers on a first visit: at most 1.5 MB.

Measured in the browser (``visits`` fixture): the sum of the response bodies of every request
a page makes with a cold cache, once its lazy images are loaded too: HTML, CSS, scripts, KaTeX
fonts, figures and the search index that Material's search worker loads. The table is in the
terminal summary (and ``build/site-checks/summary.txt``).
"""

from __future__ import annotations

import pytest

from .conftest import MAX_PAGE_BYTES, Visit

#: page -> (limit in bytes, why that page may be heavier). None so far.
EXEMPT: dict[str, tuple[int, str]] = {}


def test_no_page_over_the_weight_limit(visits: dict[str, Visit]) -> None:
    heaviest = max(visits.values(), key=lambda v: v.bytes)
    print(
        f"\nheaviest page: /{heaviest.page}: {heaviest.bytes:,} bytes, {heaviest.requests} requests"
    )
    over = []
    for page, v in sorted(visits.items()):
        limit, _why = EXEMPT.get(page, (MAX_PAGE_BYTES, ""))
        if v.bytes > limit:
            over.append(f"/{page}: {v.bytes:,} bytes in {v.requests} requests (limit {limit:,})")
        if v.requests == 0:
            over.append(f"/{page}: no bytes measured")
    if over:
        pytest.fail("Pages over the weight limit:\n" + "\n".join(over), False)
