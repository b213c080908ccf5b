// Reading modes for the bilingual pages: 中文, English, or both side by side.
//
// Contract (CONTRIBUTING.md; the browser tests rely on it):
// - a toggle #bnref-lang-toggle in the header, with buttons
//   [data-bnref-lang="zh"], [data-bnref-lang="en"], [data-bnref-lang="both"];
// - the choice is document.documentElement.dataset.lang ("zh" | "en" | "both"),
//   kept in localStorage["bnref-lang"], default "both";
// - the CSS in stylesheets/extra.css hides the other language's blocks
//   (.bi > [lang]) and their table-of-contents entries (li[lang]).
// Pages are written as <div class="bi"><div lang="zh">…</div><div lang="en">…</div></div>.
(function () {
  "use strict";

  var KEY = "bnref-lang";
  var MODES = ["zh", "en", "both"];
  var LABELS = { zh: "中文", en: "English", both: "中 | EN" };
  var TITLES = {
    zh: "只显示中文 · Chinese only",
    en: "只显示英文 · English only",
    both: "中英对照 · both languages",
  };

  function stored() {
    try {
      var value = window.localStorage.getItem(KEY);
      return MODES.indexOf(value) >= 0 ? value : "both";
    } catch (err) {
      return "both"; // storage disabled: still work, without persistence
    }
  }

  // Apply a mode; persist it unless told not to (a temporary switch).
  function apply(mode, persist) {
    if (MODES.indexOf(mode) < 0) mode = "both";
    document.documentElement.dataset.lang = mode;
    if (persist) {
      try {
        window.localStorage.setItem(KEY, mode);
      } catch (err) {
        /* ignore */
      }
    }
    var buttons = document.querySelectorAll("#bnref-lang-toggle [data-bnref-lang]");
    for (var i = 0; i < buttons.length; i++) {
      var on = buttons[i].getAttribute("data-bnref-lang") === mode;
      buttons[i].setAttribute("aria-pressed", on ? "true" : "false");
    }
  }

  // The toggle lives in the header; instant navigation may keep or replace
  // the header, so create it whenever it is missing.
  function ensureToggle() {
    if (document.getElementById("bnref-lang-toggle")) return;
    var header = document.querySelector(".md-header__inner");
    if (!header) return;
    var group = document.createElement("div");
    group.id = "bnref-lang-toggle";
    group.setAttribute("role", "group");
    group.setAttribute("aria-label", "阅读语言 · Reading language");
    MODES.forEach(function (mode) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "bnref-lang-button";
      button.setAttribute("data-bnref-lang", mode);
      button.setAttribute("title", TITLES[mode]);
      if (mode !== "both") button.setAttribute("lang", mode);
      button.textContent = LABELS[mode];
      button.addEventListener("click", function () {
        apply(mode, true);
      });
      group.appendChild(button);
    });
    var search = header.querySelector(".md-search");
    header.insertBefore(group, search || null);
  }

  // Give each table-of-contents entry the lang of the heading it points to,
  // so the CSS can hide it together with its block.
  function tagToc() {
    var langOf = {};
    var headings = document.querySelectorAll(
      ".md-content .bi > [lang] :is(h1, h2, h3, h4, h5, h6)[id]"
    );
    for (var i = 0; i < headings.length; i++) {
      langOf[headings[i].id] = headings[i].closest("[lang]").getAttribute("lang");
    }
    // Both TOCs: the secondary sidebar's and the one inside the primary
    // navigation (shown on narrower screens). Compare by the link's hash:
    // Material may rewrite href attributes to absolute URLs.
    var links = document.querySelectorAll(".md-nav--secondary a.md-nav__link");
    for (var j = 0; j < links.length; j++) {
      var id = decodeURIComponent((links[j].hash || "").slice(1));
      var item = links[j].closest("li");
      if (item && langOf[id]) item.setAttribute("lang", langOf[id]);
    }
    splitNested();
  }

  // Headings nest by level, so a Chinese h3 that follows an English h2 lands
  // inside the English entry. Give each entry of a pair the nested items of
  // its own language: the Chinese twin gets a copy of the nested list with the
  // English items removed, the English entry keeps only its English items.
  function splitNested() {
    var items = document.querySelectorAll('.md-nav--secondary li[lang="en"]');
    for (var i = 0; i < items.length; i++) {
      var en = items[i];
      var twin = en.previousElementSibling;
      var nested = en.querySelector(":scope > nav");
      if (!nested || !twin || twin.getAttribute("lang") !== "zh") continue;
      if (!nested.querySelector('li[lang="zh"]')) continue;
      var copy = nested.cloneNode(true);
      var drop = copy.querySelectorAll('li[lang="en"]');
      for (var j = 0; j < drop.length; j++) drop[j].remove();
      drop = nested.querySelectorAll('li[lang="zh"]');
      for (var k = 0; k < drop.length; k++) drop[k].remove();
      if (!twin.querySelector(":scope > nav")) twin.appendChild(copy);
    }
  }

  // Language of the block holding an element, or null outside any block.
  function blockLang(element) {
    var block = element && element.closest(".bi > [lang]");
    return block ? block.getAttribute("lang") : null;
  }

  // An anchor into the hidden language: go to the counterpart heading
  // (id <-> id-en) when there is one, else show both languages.
  function followHash() {
    var id = decodeURIComponent(window.location.hash.slice(1));
    if (!id) return;
    var target = document.getElementById(id);
    var lang = blockLang(target);
    var mode = document.documentElement.dataset.lang;
    if (!lang || mode === "both" || lang === mode) return;
    var twinId = /-en$/.test(id) ? id.slice(0, -3) : id + "-en";
    var twin = document.getElementById(twinId);
    if (twin && blockLang(twin) === mode) {
      twin.scrollIntoView();
    } else {
      apply("both", false);
      target.scrollIntoView();
    }
  }

  function init() {
    ensureToggle();
    apply(stored(), false); // a new page drops any temporary switch
    tagToc();
    followHash();
  }

  // Set the mode as early as possible, before the page is painted.
  apply(stored(), false);
  window.addEventListener("hashchange", followHash);
  if (typeof window.document$ !== "undefined" && window.document$.subscribe) {
    // Material: emits on first load and after every instant navigation.
    window.document$.subscribe(init);
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
