/*
 * Keyboard access to wide tables.
 *
 * Material wraps each table in a .md-typeset__scrollwrap that scrolls sideways when the table
 * is wider than the page (on a phone, or a narrow window). A region that scrolls must be
 * reachable from the keyboard (WCAG 2.1.1; axe: scrollable-region-focusable), so a wrapper
 * that overflows gets tabindex="0" and a name; one that fits is left out of the tab order.
 * Re-checked on every page Material swaps in (document$) and when the window is resized.
 */
(function () {
  "use strict";

  function update() {
    document.querySelectorAll(".md-typeset__scrollwrap").forEach(function (wrap) {
      if (wrap.scrollWidth > wrap.clientWidth + 1) {
        wrap.setAttribute("tabindex", "0");
        wrap.setAttribute("role", "region");
        wrap.setAttribute("aria-label", "Table, scrolls sideways");
      } else if (wrap.getAttribute("tabindex") === "0") {
        wrap.removeAttribute("tabindex");
        wrap.removeAttribute("role");
        wrap.removeAttribute("aria-label");
      }
    });
  }

  function later() {
    window.requestAnimationFrame(update); // after Material has wrapped the page's tables
  }

  if (typeof document$ !== "undefined") {
    document$.subscribe(later);
  } else {
    document.addEventListener("DOMContentLoaded", later);
  }
  window.addEventListener("resize", later);
})();
