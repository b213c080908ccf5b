"""MkDocs hook: a page paints before its scripts run, and loads figures when they are near.

Two changes to every written page, for the chapter page's Lighthouse budget
(``.ci/lighthouse``, ``docs/results/lighthouse.json``):

* **Images load when scrolled near.** Every ``<img>`` in a page's content that
  does not say otherwise gets ``loading="lazy"`` and ``decoding="async"``: the
  chapter's figures are SVG plots of 60 to 200 KB each, far below the first
  screen, and a reader who stays at the top does not download them.
* **Scripts do not hold up the first paint.** Material's bundle (end of the
  body) and mkdocs-glightbox's script (in the head) are loaded with
  ``defer``: they run, in document order, once the page is parsed, instead of
  blocking the parser (and so the first paint) while they download.
  mkdocs-glightbox's inline start-up script, which calls both, waits for
  ``DOMContentLoaded`` (deferred scripts have run by then). The site's own
  scripts are deferred in mkdocs.yml (``defer: true``); the reading mode is
  set before the first paint by a line in ``overrides/main.html``.

A page without Material's bundle fails the build: after a Material upgrade
this hook must still find what it changes.
"""

from __future__ import annotations

import re

from mkdocs.exceptions import PluginError

IMG = re.compile(r"<img\b(?![^>]*\bloading=)", re.IGNORECASE)
BUNDLE = re.compile(r'<script src="([^"]*assets/javascripts/bundle\.[0-9a-f]+\.min\.js)"></script>')
GLIGHTBOX = re.compile(r'<script src="([^"]*assets/javascripts/glightbox\.min\.js)"></script>')
GLIGHTBOX_INIT = re.compile(r'(<script id="init-glightbox">)(.*?)(</script>)', re.DOTALL)


def on_page_content(html: str, page, config, files) -> str:
    return IMG.sub('<img loading="lazy" decoding="async"', html)


def on_post_page(output: str, page, config) -> str:
    output, found = BUNDLE.subn(r'<script defer src="\1"></script>', output)
    if found != 1:
        raise PluginError(f"page_speed: {page.file.src_uri}: {found} Material bundle scripts, expected 1")
    output = GLIGHTBOX.sub(r'<script defer src="\1"></script>', output)
    return GLIGHTBOX_INIT.sub(
        lambda m: f'{m.group(1)}document.addEventListener("DOMContentLoaded", () => {{\n'
                  f'{m.group(2)}}});\n{m.group(3)}',
        output,
    )
