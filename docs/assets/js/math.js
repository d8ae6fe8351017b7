/*
 * Fallback math for notebook pages.
 *
 * All math, notebook Markdown cells included, is rendered to HTML + MathML at build time by
 * the KaTeX hook (scripts/site/mkdocs_hooks.py), which marks each notebook it typeset with
 * data-xr-math="static"; such pages load no KaTeX script (273 KB). Only a notebook the hook
 * did not typeset (an unmarked .jupyter-wrapper) gets the KaTeX copy served by this site and
 * its auto-render extension. It runs on Material's document$ so that instant navigation
 * typesets each page it swaps in, and it skips anything already rendered.
 */
(function () {
  "use strict";
  var katexBase = new URL("../katex/", document.currentScript.src);
  var loading = null;

  function load(name) {
    return new Promise(function (resolve, reject) {
      var script = document.createElement("script");
      script.src = new URL(name, katexBase).href;
      script.onload = resolve;
      script.onerror = function () { reject(new Error("could not load " + script.src)); };
      document.head.appendChild(script);
    });
  }

  function ready() {
    if (!loading) {
      loading = load("katex.min.js").then(function () { return load("contrib/auto-render.min.js"); });
    }
    return loading;
  }

  function typeset() {
    var roots = document.querySelectorAll(".jupyter-wrapper:not([data-xr-math])");
    if (!roots.length) return;
    ready().then(function () {
      roots.forEach(function (root) {
        window.renderMathInElement(root, {
          delimiters: [
            { left: "$$", right: "$$", display: true },
            { left: "\\[", right: "\\]", display: true },
            { left: "$", right: "$", display: false },
            { left: "\\(", right: "\\)", display: false }
          ],
          ignoredTags: ["script", "noscript", "style", "textarea", "pre", "code", "option"],
          ignoredClasses: ["katex", "arithmatex", "jp-OutputArea-output", "highlight"],
          throwOnError: false,
          output: "htmlAndMathml"
        });
      });
    }).catch(function (error) { console.error(error); });
  }

  if (typeof window.document$ !== "undefined") {
    window.document$.subscribe(typeset);
  } else {
    document.addEventListener("DOMContentLoaded", typeset);
  }
})();
