"""Offline by construction: no asset the site ships names another host to load from.

The browser tests prove that no request leaves the local server on the pages
they visit; this test covers code paths a visit does not reach (for example
MathJax's speech explorer), by reading every script and stylesheet shipped.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted(
    p for folder in ("docs", "overrides")
    for p in (ROOT / folder).rglob("*")
    if p.suffix in {".js", ".css", ".html"}
)
URL = re.compile(r"https?://[A-Za-z0-9.-]+")
# Not loads: XML namespace names, and MathJax's "About" link in its menu.
ALLOWED = {"http://www.w3.org", "https://www.mathjax.org"}


def test_assets_are_found():
    names = {p.name for p in SHIPPED}
    assert {"tex-chtml.js", "mathjax-config.js", "reading-mode.js"} <= names


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_third_party_host(path):
    hosts = set(URL.findall(path.read_text(encoding="utf-8", errors="replace")))
    assert hosts <= ALLOWED, f"{path.relative_to(ROOT)} names {sorted(hosts - ALLOWED)}"
