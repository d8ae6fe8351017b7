/*
 * Copy buttons for Python examples.
 *
 * Material's copy button copies a code block verbatim. For a doctest-style block (lines
 * starting with ">>> "), copy only what can be pasted into Python: the ">>> " and "... "
 * prompts are removed and output lines are dropped. The button's data-clipboard-text takes
 * precedence over its target in Material's clipboard handler, so it is set in the capture
 * phase of the click, before that handler runs. Other blocks are copied as before.
 *
 * Also: Material wraps each block's buttons in a <nav>, which gives every page dozens of
 * unnamed navigation landmarks (axe: landmark-unique). They are not navigation; mark them
 * role="none" as Material mounts them (on document$ and as they appear).
 */
(function () {
  "use strict";
  var PROMPT = /^(>>>|\.\.\.)( |$)/;

  function stripPrompts(text) {
    var lines = text.replace(/\n$/, "").split("\n");
    if (!lines.some(function (line) { return /^>>>( |$)/.test(line); })) return null;
    var code = [];
    var inInput = false;
    lines.forEach(function (line) {
      if (/^>>>( |$)/.test(line) || (inInput && PROMPT.test(line))) {
        code.push(line.replace(PROMPT, ""));
        inInput = true;
      } else {
        inInput = false; // an output line (or a blank line ending the output)
      }
    });
    return code.join("\n") + "\n";
  }

  document.addEventListener("click", function (event) {
    var button = event.target instanceof Element
      ? event.target.closest("[data-clipboard-target][data-md-type='copy'], .md-clipboard[data-clipboard-target]")
      : null;
    if (!button) return;
    var code = document.querySelector(button.getAttribute("data-clipboard-target"));
    var text = code ? stripPrompts(code.textContent) : null;
    if (text === null) {
      button.removeAttribute("data-clipboard-text");
    } else {
      button.setAttribute("data-clipboard-text", text);
    }
  }, true);

  function unlandmark(root) {
    root.querySelectorAll("nav.md-code__nav:not([role])").forEach(function (nav) {
      nav.setAttribute("role", "none");
    });
  }

  var pending = false;
  new MutationObserver(function () {
    if (pending) return;
    pending = true;
    window.requestAnimationFrame(function () { pending = false; unlandmark(document); });
  }).observe(document.body, { childList: true, subtree: true });

  if (typeof window.document$ !== "undefined") {
    window.document$.subscribe(function () { unlandmark(document); });
  }
})();
