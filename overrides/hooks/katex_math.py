"""MkDocs hook: every formula typeset at build time by KaTeX; no math JavaScript in pages.

Where the formulas are, after Markdown:

* Markdown pages and the API page's docstrings (``overrides/griffe_rst_math.py``
  turns reST math into the same markup): ``pymdownx.arithmatex`` (``generic:
  true``) leaves ``<span class="arithmatex">\\(…\\)</span>`` and
  ``<div class="arithmatex">\\[…\\]</div>``;
* notebook pages (mkdocs-jupyter): nbconvert leaves ``\\( \\)``, ``\\[ \\]``
  and ``$$ $$`` as text in the Markdown cells (``.jp-RenderedMarkdown``).

``on_env`` runs after every page's content is converted and before any page is
written: it collects the formulas of the whole build and typesets them all
with one Node process (``katex_render.cjs``, KaTeX from ``node_modules``,
pinned by package.json and installed by ``npm ci`` in ``.ci/setup``). A
formula KaTeX rejects fails the build with the page and the formula.
``on_post_page`` puts the typeset HTML (KaTeX's HTML plus MathML for screen
readers) into each written page; the search index, made from the content
before that, keeps the TeX source. ``on_post_build`` copies KaTeX's
stylesheet, fonts and license from ``node_modules/katex`` into
``assets/vendor/katex/`` of the site, so the stylesheet always matches the
KaTeX that typeset the pages and nothing is fetched from another host.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

from mkdocs.exceptions import PluginError

ROOT = Path(__file__).resolve().parents[2]
RENDERER = Path(__file__).with_name("katex_render.cjs")
KATEX = ROOT / "node_modules" / "katex"
CSS = "assets/vendor/katex/katex.min.css"
CSS_LINK = re.compile(r'<link\b[^>]*\bhref="([^"]*)assets/vendor/katex/katex\.min\.css"[^>]*>')
#: the fonts of ordinary text and of italic letters in formulas: on every page that has any
PRELOADED_FONTS = ("KaTeX_Main-Regular.woff2", "KaTeX_Math-Italic.woff2")
#: about one phone screen of text (390 px wide): a formula after this is off the first screen
FIRST_SCREEN_CHARS = 1500

ARITHMATEX = re.compile(r'<(span|div) class="arithmatex">(.*?)</\1>', re.DOTALL)
DELIMITED = re.compile(r"^\\\((.*)\\\)$|^\\\[(.*)\\\]$|^\$\$(.*)\$\$$|^\$(.*)\$$", re.DOTALL)
# Notebook pages: the Markdown cells' text, delimiters as in MathJax's former configuration.
NB_CELL = re.compile(r'<div class="[^"]*\bjp-RenderedMarkdown\b[^"]*"[^>]*>')
NB_CELL_END = re.compile(r'<div class="jp-Cell\b')
NB_MATH = re.compile(r"\$\$(.+?)\$\$|\\\[(.+?)\\\]|\\\((.+?)\\\)", re.DOTALL)
TAG = re.compile(r"(<[^>]*>)")
RAW_ELEMENTS = ("pre", "code", "script", "style", "textarea")

WOFF_TTF = re.compile(r',url\(fonts/[^)]+\.(?:woff|ttf)\) format\("(?:woff|truetype)"\)')
FONT_URL = re.compile(r"url\(fonts/([^)]+)\)")

_typeset: dict[tuple[str, bool], str] = {}


def _arithmatex(html_text: str, typeset) -> str:
    """Replace each arithmatex element with what ``typeset(tex, display)`` returns."""

    def one(m: re.Match) -> str:
        element, body = m.group(1), html.unescape(m.group(2)).strip()
        parts = DELIMITED.match(body)
        if parts:
            tex = next(g for g in parts.groups() if g is not None)
            display = parts.group(1) is None and parts.group(4) is None
        else:  # an environment (\begin{align}…) arithmatex kept without delimiters
            tex, display = body, element == "div"
        return f'<{element} class="arithmatex">{typeset(tex.strip(), display)}</{element}>'

    return ARITHMATEX.sub(one, html_text)


def _notebook(html_text: str, typeset) -> str:
    """Replace the math in the text of a notebook page's Markdown cells."""
    out, pos = [], 0
    for start in NB_CELL.finditer(html_text):
        if start.start() < pos:
            continue
        end = NB_CELL_END.search(html_text, start.end())
        stop = end.start() if end else len(html_text)
        out.append(html_text[pos:start.end()])
        raw_depth = 0
        for piece in TAG.split(html_text[start.end():stop]):
            if piece.startswith("<"):
                name = re.match(r"</?\s*([a-zA-Z0-9]+)", piece)
                if name and name.group(1).lower() in RAW_ELEMENTS:
                    raw_depth += -1 if piece.startswith("</") else 1
                out.append(piece)
            elif raw_depth > 0 or not piece:
                out.append(piece)
            else:
                out.append(NB_MATH.sub(
                    lambda m: '<span class="arithmatex">' + typeset(
                        html.unescape(next(g for g in m.groups() if g is not None)).strip(),
                        m.group(3) is None,
                    ) + "</span>",
                    piece,
                ))
        pos = stop
    out.append(html_text[pos:])
    return "".join(out)


def _transform(html_text: str, page, typeset) -> str:
    html_text = _arithmatex(html_text, typeset)
    if getattr(page, "nb_url", None) is not None:  # set by mkdocs-jupyter on notebook pages
        html_text = _notebook(html_text, typeset)
    if _formula_on_first_screen(html_text):
        html_text = _preload_fonts(html_text)
    return html_text


def _formula_on_first_screen(html_text: str) -> bool:
    """Whether the article's first formula comes within about one phone screen of text."""
    article = html_text.find("<article")
    formula = html_text.find('class="katex', max(article, 0))
    if formula < 0:
        return False
    before = TAG.sub("", html_text[max(article, 0):formula])
    return len(" ".join(before.split())) <= FIRST_SCREEN_CHARS


def _preload_fonts(html_text: str) -> str:
    """Ask for KaTeX's two everyday fonts with the stylesheet.

    Only on pages with a formula on the first screen. Without the preload the fonts are
    requested once a formula is laid out and arrive after the first paint; KaTeX's
    ``font-display: block`` then re-lays out the text around the formulas, and what the
    reader sees moves (Lighthouse's layout shift on the performance page, all of it "web font
    loaded"). Where the first formula is further down, the fonts still arrive before the
    reader gets there, and a preload would only compete with the first paint (the chapter
    page: the runs lazy-code-gzip and preload-fonts-gzip of src/bnref/results/lighthouse.json).
    """
    link = CSS_LINK.search(html_text)
    if link is None:
        raise PluginError("katex_math: a page with formulas does not link KaTeX's stylesheet")
    prefix = link.group(1)
    preload = "".join(
        f'<link rel="preload" href="{prefix}assets/vendor/katex/fonts/{name}" as="font" '
        'type="font/woff2" crossorigin>' for name in PRELOADED_FONTS)
    return html_text[:link.start()] + preload + html_text[link.start():]


def _run_katex(formulas: list[tuple[str, bool]]) -> dict:
    if shutil.which("node") is None or not KATEX.is_dir():
        raise PluginError(
            "katex_math: the site's formulas are typeset at build time by KaTeX under Node.js; "
            f"{'node is not on PATH' if shutil.which('node') is None else f'{KATEX} is missing'} "
            "(run `bash .ci/setup`, which installs Node.js and runs `npm ci`)"
        )
    done = subprocess.run(
        ["node", str(RENDERER)], input=json.dumps(formulas), capture_output=True,
        text=True, cwd=ROOT,
    )
    if done.returncode != 0:
        raise PluginError(f"katex_math: {RENDERER.name} failed (exit {done.returncode}):\n{done.stderr}")
    return json.loads(done.stdout)


def on_config(config):
    if CSS not in [str(c) for c in config["extra_css"]]:
        config["extra_css"].insert(0, CSS)
    return config


def on_env(env, config, files):
    """Collect every formula of the build and typeset them with one Node process."""
    where: dict[tuple[str, bool], list[str]] = {}
    for file in files.documentation_pages():
        page = file.page
        if page is None or page.content is None:
            continue

        def record(tex: str, display: bool, _src=file.src_uri) -> str:
            pages = where.setdefault((tex, display), [])
            if _src not in pages:
                pages.append(_src)
            return ""

        _transform(page.content, page, record)
    formulas = [key for key in where if key not in _typeset]
    if formulas:
        answer = _run_katex(formulas)
        failures = []
        for (tex, display), result in zip(formulas, answer["results"]):
            if "error" in result:
                kind = "display" if display else "inline"
                failures.append(
                    f"  {', '.join(where[(tex, display)])}: {kind} formula {tex!r}\n"
                    f"    {result['error']}"
                )
            else:
                _typeset[(tex, display)] = result["html"]
        if failures:
            raise PluginError(
                f"KaTeX {answer['version']} could not typeset {len(failures)} formula(s):\n"
                + "\n".join(failures)
            )
    return env


def on_post_page(output: str, page, config) -> str:
    def typeset(tex: str, display: bool) -> str:
        try:
            return _typeset[(tex, display)]
        except KeyError:
            raise PluginError(f"katex_math: {page.file.src_uri}: formula {tex!r} was not "
                              "collected in on_env") from None

    return _transform(output, page, typeset)


def on_post_build(config):
    """KaTeX's stylesheet, fonts and license into the site (matching the renderer)."""
    dest = Path(config["site_dir"]) / "assets" / "vendor" / "katex"
    (dest / "fonts").mkdir(parents=True, exist_ok=True)
    dist = KATEX / "dist"
    # Every browser the site supports reads WOFF2: ship those, and drop the
    # stylesheet's WOFF and TrueType fallbacks, which would name missing files.
    css = WOFF_TTF.sub("", (dist / "katex.min.css").read_text(encoding="utf-8"))
    fonts = set(FONT_URL.findall(css))
    for name in sorted(fonts):
        shutil.copy2(dist / "fonts" / name, dest / "fonts" / name)
    if not fonts or any(not name.endswith(".woff2") for name in fonts):
        raise PluginError(f"katex_math: unexpected fonts in KaTeX's stylesheet: {sorted(fonts)}")
    (dest / "katex.min.css").write_text(css, encoding="utf-8")
    shutil.copy2(KATEX / "LICENSE", dest / "LICENSE")
