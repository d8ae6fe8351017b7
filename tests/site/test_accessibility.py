"""axe-core on every page, in the light and the dark palette; alt text of every figure.

axe-core (``scripts/site/node_modules/axe-core``, pinned in ``scripts/site/package-lock.json``) is
injected into each page after it has loaded. In the light palette it runs its whole default
rule set (WCAG 2.x A/AA and best practices); then the test clicks the palette toggle and runs
the rules that read colours (``color-contrast``, ``link-in-text-block``) again in the dark
palette: the switch changes Material's colour variables and nothing else in the DOM. A
serious or critical violation fails; moderate and minor ones are counted in the terminal
summary.

Exemptions: none. What Material 9.8.1 and mkdocs-jupyter get wrong out of the box (an unnamed
search dialog, two landmarks named "Navigation", low-contrast footer, code and notebook
tokens, links told apart by colour only) is fixed in docs/overrides and docs/assets/css.
"""

from __future__ import annotations

import re

import pytest

from .conftest import Visit

FAILING_IMPACTS = {"serious", "critical"}

#: Alt texts that describe nothing: empty, a file name, a placeholder.
_FILE_NAME = re.compile(r"^[\w./-]+\.(?:svg|png|jpe?g|gif|webp)$", re.IGNORECASE)
_PLACEHOLDERS = {
    "image",
    "figure",
    "plot",
    "graph",
    "chart",
    "picture",
    "no description has been provided for this image",  # nbconvert's default
}


@pytest.mark.parametrize("palette", ["light", "dark"])
def test_no_serious_axe_violation(visits: dict[str, Visit], palette: str) -> None:
    lines: list[str] = []
    checked = 0
    for page, v in visits.items():
        if palette not in v.axe:
            lines.append(f"/{page}: axe did not run ({'; '.join(v.errors) or 'no result'})")
            continue
        checked += 1
        for violation in v.axe[palette]:
            if violation["impact"] not in FAILING_IMPACTS:
                continue
            nodes = violation["nodes"]
            lines.append(
                f"/{page}: {violation['impact']} {violation['id']}: {violation['help']} "
                f"({len(nodes)} node(s))"
            )
            for node in nodes[:5]:
                lines.append(f"    {node['target']}\n      {node['html']}")
                summary = (node["summary"] or "").replace("\n", "\n        ")
                lines.append(f"        {summary}")
    print(f"\naxe-core ({palette}): {checked} pages checked")
    if lines:
        pytest.fail(f"axe-core, {palette} palette:\n" + "\n".join(lines), False)


def meaningful(alt: str | None) -> bool:
    if alt is None:
        return False
    text = alt.strip()
    return (
        len(text.split()) >= 3
        and not _FILE_NAME.match(text)
        and text.lower().rstrip(".") not in _PLACEHOLDERS
    )


def test_figures_have_meaningful_alt_text(visits: dict[str, Visit]) -> None:
    """Every image in page content (figures, notebook plots) says what it shows."""
    bad: list[str] = []
    figures = 0
    for page, v in visits.items():
        for img in v.inspect.get("images", []):
            if not img["inContent"]:
                continue
            figures += 1
            if not meaningful(img["alt"]):
                bad.append(f"/{page}: {img['src']!r} has alt={img['alt']!r}")
    print(f"\n{figures} content images checked for alt text")
    assert not bad, "Images without meaningful alt text:\n" + "\n".join(bad)
