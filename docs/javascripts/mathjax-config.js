// MathJax 3 configuration for pymdownx.arithmatex (generic mode).
// MathJax itself is served from this site (assets/vendor/mathjax), never a CDN.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"]],
    // $$ … $$: display math in the notebook pages' Markdown cells (nbconvert
    // leaves it as text); arithmatex pages use \[ \] and \( \).
    displayMath: [["\\[", "\\]"], ["$$", "$$"]],
    processEscapes: true,
    processEnvironments: true,
  },
  // All character CSS up front instead of only the characters used so far:
  // after an instant navigation, re-typesetting did not add the rules for new
  // characters, and those formulas were drawn blank.
  chtml: {
    adaptiveCSS: false,
  },
  options: {
    ignoreHtmlClass: ".*|",
    // arithmatex: Markdown pages and docstrings; bnref-math: notebooks (below).
    processHtmlClass: "arithmatex|bnref-math",
  },
};

// Notebook pages (mkdocs-jupyter): nbconvert leaves the math of Markdown cells
// as text inside .jp-RenderedMarkdown. Every element there is "ignored" by the
// class rule above (its class, even an empty one, matches ".*|"), so mark them
// for processing; code stays untouched (MathJax skips pre and code anyway).
function bnrefMarkNotebookMath() {
  document
    .querySelectorAll(".jp-RenderedMarkdown, .jp-RenderedMarkdown *:not(pre):not(code)")
    .forEach((el) => el.classList.add("bnref-math"));
}
bnrefMarkNotebookMath();

// Material's instant navigation swaps pages without reloading: typeset again.
// document$ also emits for the first page, which MathJax's startup typesets
// itself: skip that one. Re-typesetting it with output.clearCache() dropped
// the CSS that draws every character, leaving all formulas blank (the
// browser test checks that glyphs are drawn). Typesetting is chained on
// startup.promise so two runs never overlap.
if (typeof document$ !== "undefined") {
  let bnrefFirstPage = true;
  document$.subscribe(() => {
    bnrefMarkNotebookMath();
    if (bnrefFirstPage) {
      bnrefFirstPage = false;
      return;
    }
    if (window.MathJax && MathJax.startup && MathJax.typesetPromise) {
      MathJax.startup.promise = MathJax.startup.promise.then(() => {
        MathJax.typesetClear();
        MathJax.texReset();
        return MathJax.typesetPromise();
      });
    }
  });
}
