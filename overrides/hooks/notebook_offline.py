"""MkDocs hook: notebook pages carry no reference to another host.

nbconvert's page template, which mkdocs-jupyter uses, adds three scripts to
every notebook page that this site does not need and would otherwise point
readers' browsers elsewhere:

* ``<script src="">`` — the MathJax 2 loader with the URL left empty (the
  notebook's math is typeset at build time by KaTeX, see
  overrides/hooks/katex_math.py);
* ``<script type="text/x-mathjax-config">`` — MathJax 2 settings, unused;
* a ``<script type="module">`` that would import Mermaid from cdnjs.cloudflare.com
  if a cell drew a Mermaid diagram (none does).

This hook removes exactly those three; tests/site/test_browser.py checks that no
built page references another host in a script, style or image.
"""

from __future__ import annotations

import re

UNUSED = re.compile(
    r'<script src="">\s*</script>'
    r'|<script type="text/x-mathjax-config">.*?</script>'
    r'|<script type="module">(?:(?!</script>).)*?cdnjs\.cloudflare\.com/ajax/libs/mermaid.*?</script>',
    re.DOTALL,
)


def on_post_page(output: str, page, config) -> str:
    if getattr(page, "nb_url", None) is None:  # set by mkdocs-jupyter on notebook pages
        return output
    return UNUSED.sub("", output)
