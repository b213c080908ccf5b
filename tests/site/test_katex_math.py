"""overrides/hooks/katex_math.py: formulas typeset at build time by KaTeX (Node).

The transforms are checked without Node; a small site is then built with the
hook, as the real site is (skipped, with the reason, where Node or
node_modules/katex is missing): a good formula becomes KaTeX's HTML with
MathML and no script, and one KaTeX cannot parse fails the strict build with a
message that names the page and the formula.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from results_support import ROOT
HOOK = ROOT / "overrides" / "hooks" / "katex_math.py"
HAVE_KATEX = shutil.which("node") is not None and (ROOT / "node_modules" / "katex").is_dir()
needs_katex = pytest.mark.skipif(
    not HAVE_KATEX, reason="node or node_modules/katex missing (run .ci/setup, which runs npm ci)"
)


def load_hook():
    spec = importlib.util.spec_from_file_location("katex_math_under_test", HOOK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Page:
    nb_url = None


class Notebook:
    nb_url = "http://example.com/notebooks/x.ipynb"


def collect(html: str, page=Page()) -> list[tuple[str, bool]]:
    seen = []
    load_hook()._transform(html, page, lambda tex, display: seen.append((tex, display)) or "K")
    return seen


def test_arithmatex_markup_is_found_inline_and_display():
    html = (
        '<p>a <span class="arithmatex">\\(x &lt; y\\)</span> b</p>\n'
        '<div class="arithmatex">\\[\ny = \\gamma \\hat x + \\beta\n\\]</div>\n'
        '<div class="arithmatex">\\begin{aligned} a &amp;= b \\end{aligned}</div>'
    )
    assert collect(html) == [
        ("x < y", False),
        ("y = \\gamma \\hat x + \\beta", True),
        ("\\begin{aligned} a &= b \\end{aligned}", True),
    ]


def test_notebook_markdown_math_is_found_but_not_code_or_other_cells():
    html = (
        '<div class="jp-RenderedHTMLCommon jp-RenderedMarkdown jp-MarkdownOutput">'
        "<p>inline \\(\\hat\\mu_{\\mathcal B}\\) and</p><p>$$\ny &lt; 1\n$$</p>"
        "<p><code>\\(not math\\)</code></p><pre>$$ nor this $$</pre></div>"
        '<div class="jp-Cell jp-CodeCell"><pre>print("\\(x\\)")</pre><p>\\(out\\)</p></div>'
    )
    assert collect(html, Notebook()) == [("\\hat\\mu_{\\mathcal B}", False), ("y < 1", True)]
    assert collect(html, Page()) == [], "raw TeX is only looked for on notebook pages"


def build(tmp_path: Path, markdown: str) -> subprocess.CompletedProcess:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text("# Home\n", encoding="utf-8")
    (docs / "formulas.md").write_text(markdown, encoding="utf-8")
    (tmp_path / "mkdocs.yml").write_text(textwrap.dedent(f"""\
        site_name: katex hook test
        theme: mkdocs
        markdown_extensions:
          - pymdownx.arithmatex:
              generic: true
        hooks:
          - {HOOK}
        """), encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
        cwd=tmp_path, capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )


@needs_katex
def test_build_typesets_with_mathml_and_ships_katex_css_and_fonts(tmp_path):
    done = build(tmp_path, "# F\n\nInline \\(\\epsilon\\), and\n\n$$\n\\frac{x-\\mu}{\\sigma}\n$$\n")
    assert done.returncode == 0, done.stderr
    html = (tmp_path / "site" / "formulas" / "index.html").read_text(encoding="utf-8")
    assert html.count('<span class="katex">') == 2
    assert html.count("<math") == 2, "MathML for screen readers"
    assert '<span class="katex-display">' in html
    assert "\\(" not in html.split("<body", 1)[1].replace("application/x-tex", "")  # no raw TeX left
    assert "assets/vendor/katex/katex.min.css" in html
    scripts = re.findall(r"<script\b[^>]*>(?:[^<]*)", html)
    assert not [s for s in scripts if re.search("katex|mathjax", s, re.IGNORECASE)], "no math script"
    vendor = tmp_path / "site" / "assets" / "vendor" / "katex"
    css = (vendor / "katex.min.css").read_text(encoding="utf-8")
    assert ".woff)" not in css and ".ttf)" not in css, "only the WOFF2 fonts are shipped"
    assert (vendor / "fonts" / "KaTeX_Main-Regular.woff2").is_file()
    assert (vendor / "LICENSE").is_file()
    # the two everyday fonts are asked for with the stylesheet, and exist
    preloads = re.findall(r'<link rel="preload" href="\.\./(assets/vendor/katex/fonts/[^"]+)" '
                          r'as="font" type="font/woff2" crossorigin>', html)
    assert [Path(p).name for p in preloads] == ["KaTeX_Main-Regular.woff2", "KaTeX_Math-Italic.woff2"]
    assert all((tmp_path / "site" / p).is_file() for p in preloads)


HEAD = '<head><link rel="stylesheet" href="../assets/vendor/katex/katex.min.css"></head>'


def test_fonts_are_preloaded_only_where_a_formula_is_on_the_first_screen():
    hook = load_hook()
    katex = lambda tex, display: '<span class="katex">K</span>'  # noqa: E731
    formula = '<span class="arithmatex">\\(x\\)</span>'
    early = hook._transform(HEAD + "<article><p>Short.</p>" + formula, Page(), katex)
    assert early.count('rel="preload"') == 2
    assert early.index('rel="preload"') < early.index("katex.min.css"), "before the stylesheet"
    assert 'href="../assets/vendor/katex/fonts/KaTeX_Math-Italic.woff2"' in early
    words = "<p>" + "word " * (hook.FIRST_SCREEN_CHARS // 5 + 1) + "</p>"
    late = hook._transform(HEAD + "<article>" + words + formula, Page(), katex)
    assert 'rel="preload"' not in late, "a formula further down: the fonts load when it is drawn"
    assert 'rel="preload"' not in hook._transform(HEAD + "<article><p>no formula</p>", Page(), katex)


def test_a_page_with_formulas_but_no_katex_stylesheet_fails():
    hook = load_hook()
    with pytest.raises(Exception, match="does not link KaTeX's stylesheet"):
        hook._transform('<article><span class="arithmatex">\\(x\\)</span>', Page(),
                        lambda tex, display: '<span class="katex">K</span>')


@needs_katex
def test_a_formula_katex_cannot_parse_fails_the_build_naming_page_and_formula(tmp_path):
    done = build(tmp_path, "# F\n\nFine \\(x\\), broken \\(\\frac{a}{\\sqrt{b}\\), unknown \\(\\foo\\).\n")
    assert done.returncode != 0
    message = done.stdout + done.stderr
    assert "could not typeset 2 formula(s)" in message, message
    assert "formulas.md: inline formula '\\\\frac{a}{\\\\sqrt{b}'" in message, message
    assert "formulas.md: inline formula '\\\\foo'" in message, message
    assert "Undefined control sequence" in message, message
