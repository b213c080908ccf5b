"""MkDocs hook: a page paints before its scripts run, and loads figures when they are near.

Four changes to every written page, for the chapter page's Lighthouse budget
(``.ci/lighthouse``, ``src/bnref/results/lighthouse.json``):

* **Images load when scrolled near.** Every ``<img>`` in a page's content that
  does not say otherwise gets ``loading="lazy"`` and ``decoding="async"``: the
  chapter's figures are SVG plots of 60 to 200 KB each, far below the first
  screen, and a reader who stays at the top does not download them.
* **Inline images keep their place.** An ``<img>`` whose source is an inline
  PNG (the notebook's plots) and that has no ``width`` gets the PNG's own
  width and height, so the lazy image does not grow from 0 px and push the
  page down when it arrives (Lighthouse: layout shift 0.24 on the notebook).
* **Scripts do not hold up the first paint.** Material's bundle (end of the
  body) is loaded with ``defer``: it runs once the page is parsed, instead of
  blocking the parser (and so the first paint) while it downloads. The site's
  own scripts are deferred in mkdocs.yml (``defer: true``); the reading mode
  is set before the first paint by a line in ``overrides/main.html``.
* **The figure viewer loads when a figure is near.** mkdocs-glightbox puts
  its stylesheet and script (about 70 KB) in every page's head and starts
  them at the end of the body. Here they are taken out of the head, and the
  start-up script instead watches the page's figure links: when one comes
  within 800 px of the screen, it adds the stylesheet and the script, then
  runs mkdocs-glightbox's own start-up code unchanged, and marks
  ``<html data-bnref-lightbox="ready">``. A page without figures never loads
  them; after an instant navigation the next page's figures are watched.

A page without Material's bundle fails the build: after a Material upgrade
this hook must still find what it changes.
"""

from __future__ import annotations

import base64
import json
import re

from mkdocs.exceptions import PluginError

IMG = re.compile(r"<img\b(?![^>]*\bloading=)", re.IGNORECASE)
BUNDLE = re.compile(r'<script src="([^"]*assets/javascripts/bundle\.[0-9a-f]+\.min\.js)"></script>')
GLIGHTBOX_HEAD = re.compile(
    r'<link href="([^"]*assets/stylesheets/glightbox\.min\.css)" rel="stylesheet">'
    r'<script src="([^"]*assets/javascripts/glightbox\.min\.js)"></script>'
)
GLIGHTBOX_INIT = re.compile(r'<script id="init-glightbox">(.*?)</script>', re.DOTALL)
GLIGHTBOX_LOADER = """<script id="init-glightbox">(function () {
  // overrides/hooks/page_speed.py: the figure viewer loads when a figure is near.
  var css = new URL(%(css)s, location.href).href, js = new URL(%(js)s, location.href).href;
  var started = false;
  function start() {
    if (started) return;
    started = true;
    var link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = css;
    document.head.appendChild(link);
    var script = document.createElement("script");
    script.src = js;
    script.onload = function () {
%(init)s
      document.documentElement.dataset.bnrefLightbox = "ready";
    };
    document.head.appendChild(script);
  }
  function watch() {
    var figures = document.querySelectorAll("a.glightbox");
    if (started || !figures.length) return;
    if (!("IntersectionObserver" in window)) return start();
    var near = new IntersectionObserver(function (entries) {
      if (entries.some(function (e) { return e.isIntersecting; })) {
        near.disconnect();
        start();
      }
    }, { rootMargin: "800px 0px" });
    figures.forEach(function (figure) { near.observe(figure); });
  }
  document.addEventListener("DOMContentLoaded", function () { document$.subscribe(watch); });
})();</script>"""


DATA_PNG = re.compile(r'<img\b(?![^>]*\bwidth=)([^>]*?\bsrc="data:image/png;base64,([A-Za-z0-9+/]{32}))')


def _png_size(head: str) -> tuple[int, int]:
    """Width and height from the IHDR chunk at the start of a PNG (base64, first 32 characters)."""
    raw = base64.b64decode(head)
    if raw[:8] != b"\x89PNG\r\n\x1a\n" or raw[12:16] != b"IHDR":
        raise PluginError("page_speed: an inline image/png that is not a PNG")
    return int.from_bytes(raw[16:20], "big"), int.from_bytes(raw[20:24], "big")


def _sized(match: re.Match) -> str:
    width, height = _png_size(match.group(2))
    return f'<img width="{width}" height="{height}"{match.group(1)}'


def on_page_content(html: str, page, config, files) -> str:
    html = IMG.sub('<img loading="lazy" decoding="async"', html)
    # A lazy image without a size is laid out 0 px high and grows when it arrives, moving
    # everything below it (the notebook's plots, inlined as PNG): give it its own size, which
    # with the stylesheets' max-width: 100%; height: auto keeps its place from the start.
    return DATA_PNG.sub(_sized, html)


def on_post_page(output: str, page, config) -> str:
    output, found = BUNDLE.subn(r'<script defer src="\1"></script>', output)
    if found != 1:
        raise PluginError(f"page_speed: {page.file.src_uri}: {found} Material bundle scripts, expected 1")
    head = GLIGHTBOX_HEAD.search(output)
    init = GLIGHTBOX_INIT.search(output)
    if head is None or init is None:
        raise PluginError(f"page_speed: {page.file.src_uri}: mkdocs-glightbox's head or start-up "
                          "script not found")
    loader = GLIGHTBOX_LOADER % {"css": json.dumps(head.group(1)), "js": json.dumps(head.group(2)),
                                 "init": init.group(1).strip()}
    output = output[:init.start()] + loader + output[init.end():]
    return GLIGHTBOX_HEAD.sub("", output, count=1)
