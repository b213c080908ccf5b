// Long pages render their article blocks only near the screen
// (stylesheets/light.css: content-visibility: auto), which keeps the first
// load light. Until a block has been rendered once, the browser counts it as
// 1500 px high, so a jump to a heading above blocks never rendered (from the
// table of contents, a footnote, a heading link) could land off its target.
// Just before each such jump, and on a page opened at an anchor, render every
// block (again: a block's height changes when its fonts arrive): the browser
// then knows, and remembers, every block's real height. Nothing runs while a
// page loads and the reader only reads.
(function () {
  "use strict";

  var BLOCKS = ".md-content__inner > :not(h1):not(:first-child)";

  function renderAll() {
    var blocks = document.querySelectorAll(BLOCKS);
    if (!blocks.length) return;
    for (var i = 0; i < blocks.length; i++) blocks[i].style.contentVisibility = "visible";
    void document.body.offsetHeight; // lay them all out now, before the jump
    // Heights are remembered at a rendering update while rendered: let them
    // go back to being skipped (off screen) after two frames.
    requestAnimationFrame(function () {
      requestAnimationFrame(function () {
        for (var j = 0; j < blocks.length; j++) blocks[j].style.contentVisibility = "";
      });
    });
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[href*='#']");
    if (!link) return;
    var url = new URL(link.href, location.href);
    if (url.hash && url.pathname === location.pathname) renderAll();
  }, true);

  function atAnchor() {
    if (location.hash) {
      renderAll();
      var target = document.getElementById(decodeURIComponent(location.hash.slice(1)));
      if (target) target.scrollIntoView();
    }
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", atAnchor);
  else atAnchor();
})();
