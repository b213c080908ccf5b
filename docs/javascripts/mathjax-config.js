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
if (typeof document$ !== "undefined") {
  document$.subscribe(() => {
    bnrefMarkNotebookMath();
    if (window.MathJax && MathJax.startup && MathJax.typesetPromise) {
      MathJax.startup.output.clearCache();
      MathJax.typesetClear();
      MathJax.texReset();
      MathJax.typesetPromise();
    }
  });
}
