"""Offline by construction: no asset the site ships names another host to load from.

The browser tests prove that no request leaves the local server on the pages
they visit; this test covers code paths a visit does not reach, by reading
every script, stylesheet and template shipped, and KaTeX's stylesheet, which
the build copies from node_modules into the site (overrides/hooks/katex_math.py).
Formulas are typeset at build time: no page may load a math script.
"""

import re

import pytest

from results_support import ROOT
SHIPPED = sorted(
    p for folder in ("docs", "overrides")
    for p in (ROOT / folder).rglob("*")
    if p.suffix in {".js", ".css", ".html"}
)
URL = re.compile(r"https?://[A-Za-z0-9.-]+")
# Not loads: XML namespace names.
ALLOWED = {"http://www.w3.org"}
KATEX_CSS = ROOT / "node_modules" / "katex" / "dist" / "katex.min.css"


def mkdocs_config() -> dict:
    import docharness  # the harness reads mkdocs.yml with MkDocs' own YAML loader

    return docharness.mkdocs_config()


def test_assets_are_found():
    names = {p.name for p in SHIPPED}
    assert {"reading-mode.js", "search-on-demand.js", "main.html", "search.html"} <= names


def test_no_math_javascript_is_shipped_or_configured():
    """MathJax is gone, and no math script is configured: KaTeX runs at build time only."""
    assert not [p for p in SHIPPED if re.search(r"mathjax|katex", p.name, re.IGNORECASE)]
    assert not (ROOT / "docs" / "assets" / "vendor" / "mathjax").exists()
    config = mkdocs_config()
    scripts = [s if isinstance(s, str) else s["path"] for s in config.get("extra_javascript", [])]
    assert not [s for s in scripts if re.search(r"mathjax|katex|math", s, re.IGNORECASE)], scripts
    assert "overrides/hooks/katex_math.py" in config["hooks"]
    assert "pymdownx.arithmatex" in str(config["markdown_extensions"])


@pytest.mark.skipif(not KATEX_CSS.exists(), reason="node_modules/katex missing (npm ci, run by .ci/setup)")
def test_katex_stylesheet_names_no_other_host():
    hosts = set(URL.findall(KATEX_CSS.read_text(encoding="utf-8")))
    assert hosts <= ALLOWED, f"KaTeX's stylesheet names {sorted(hosts - ALLOWED)}"
    assert "url(fonts/KaTeX_Main-Regular.woff2)" in KATEX_CSS.read_text(encoding="utf-8")


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_third_party_host(path):
    hosts = set(URL.findall(path.read_text(encoding="utf-8", errors="replace")))
    assert hosts <= ALLOWED, f"{path.relative_to(ROOT)} names {sorted(hosts - ALLOWED)}"
