// Search on demand: Material starts its search worker and downloads the
// search index (search/search_index.json, about half a megabyte) as soon as any
// page loads, although most readers never search. Loaded just before
// Material's bundle (overrides/main.html), this script holds both back until
// the reader opens the search: a click or tap on the search button or box, the
// search box taking focus (also from Material's keyboard shortcuts s, f, /),
// or a page opened with a search query (?q=). Material is none the wiser: it
// shows "Initializing search" until the index has arrived, as it does anyway.
(function () {
  "use strict";

  var wanted = /[?&]q=/.test(window.location.search);
  var waiting = [];

  function want() {
    if (wanted) return;
    wanted = true;
    waiting.splice(0).forEach(function (start) { start(); });
  }
  function later(start) {
    if (wanted) start();
    else waiting.push(start);
  }

  // The index: Material fetches it with XMLHttpRequest; hold its send().
  var proto = XMLHttpRequest.prototype;
  var open = proto.open;
  var send = proto.send;
  proto.open = function (method, url) {
    this.bnrefSearchIndex = /\/search\/search_index\.json$/.test(
      new URL(String(url), window.location.href).pathname
    );
    return open.apply(this, arguments);
  };
  proto.send = function () {
    if (!this.bnrefSearchIndex) return send.apply(this, arguments);
    var request = this;
    var args = arguments;
    later(function () { send.apply(request, args); });
  };

  // The worker (assets/javascripts/workers/search.*.js): a stand-in that
  // keeps the messages for the real worker, created when search is wanted.
  var RealWorker = window.Worker;
  function SearchWorker(url, options) {
    var stand = new EventTarget();
    var real = null;
    var queue = [];
    stand.postMessage = function (message) {
      if (real) real.postMessage(message);
      else queue.push(message);
    };
    stand.terminate = function () {
      if (real) real.terminate();
      queue = [];
    };
    later(function () {
      real = new RealWorker(url, options);
      ["message", "messageerror", "error"].forEach(function (type) {
        real.addEventListener(type, function (event) {
          stand.dispatchEvent(type === "error"
            ? new ErrorEvent("error", { message: event.message })
            : new MessageEvent(type, { data: event.data }));
        });
      });
      queue.splice(0).forEach(function (message) { real.postMessage(message); });
    });
    return stand;
  }
  window.Worker = function Worker(url, options) {
    if (/\/workers\/search\.[^/]*\.js$/.test(new URL(String(url), window.location.href).pathname)) {
      return SearchWorker(url, options);
    }
    return new RealWorker(url, options);
  };
  window.Worker.prototype = RealWorker.prototype;

  function inSearch(target) {
    return target && target.closest &&
      target.closest('.md-search, label[for="__search"], [data-md-toggle="search"]');
  }
  document.addEventListener("pointerdown", function (e) { if (inSearch(e.target)) want(); }, true);
  document.addEventListener("focusin", function (e) { if (inSearch(e.target)) want(); }, true);
  document.addEventListener("change", function (e) { if (inSearch(e.target)) want(); }, true);
})();
