// Long pages render their article blocks only near the screen
// (stylesheets/light.css: content-visibility: auto), which keeps the first
// load light. Until a block has been rendered once, the browser counts it as
// 400 px high, so a jump from the table of contents to a section above blocks
// never rendered could land off its heading. When the browser is idle after
// the page has loaded, render each block once, a few at a time in slices of
// a few milliseconds (no long task); the browser then remembers every
// block's real height.
(function () {
  "use strict";

  var idle = window.requestIdleCallback || function (work) {
    return setTimeout(function () { work({ timeRemaining: function () { return 8; } }); }, 50);
  };

  function renderAll() {
    var blocks = Array.prototype.slice.call(
      document.querySelectorAll(".md-content__inner > :not(h1):not(:first-child)")
    );
    // A block's height is remembered at a rendering update while it is
    // rendered: keep each slice's blocks visible for one frame, then let
    // them go back to being skipped when off screen.
    function slice(deadline) {
      var shown = [];
      var start = performance.now();
      // at most about 8 ms of work a slice: a long task would keep the page
      // from answering the reader (and counts as blocking time in Lighthouse)
      while (blocks.length && deadline.timeRemaining() > 4 && performance.now() - start < 8) {
        var block = blocks.shift();
        block.style.contentVisibility = "visible";
        void block.offsetHeight; // lay this block out now, inside the slice
        shown.push(block);
      }
      requestAnimationFrame(function () {
        requestAnimationFrame(function () {
          shown.forEach(function (b) { b.style.contentVisibility = ""; });
          if (blocks.length) idle(slice);
          else document.documentElement.dataset.bnrefRendered = location.pathname;
        });
      });
    }
    idle(slice);
  }

  function start() {
    if (typeof window.document$ !== "undefined" && window.document$.subscribe) {
      window.document$.subscribe(function () { idle(renderAll); }); // also after instant navigation
    } else {
      idle(renderAll);
    }
  }
  if (document.readyState === "complete") start();
  else window.addEventListener("load", start);
})();
