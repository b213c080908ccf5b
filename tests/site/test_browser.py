"""The site as readers use it: Debian's Chromium, driven by Playwright, on the built site.

One strict build and one browser per session (fixtures below); the site is
served by Python's ``http.server`` on 127.0.0.1. Every browser context records
each request and blocks any that does not go to that local server, so every
test here also proves that the site needs no other host (fonts, KaTeX's
stylesheet, search and the notebook page included). Formulas are typeset at
build time (overrides/hooks/katex_math.py): the tests check that every one is
KaTeX's HTML with MathML, and that no page loads a math script. ``BNREF_BROWSER_REPORT=path`` writes
the pages visited, request origins and timings as JSON.

On failure a test saves a screenshot in ``test-artifacts/`` (git-ignored).
The tests skip, with the reason, only where Playwright or Chromium is missing.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from bnref import results
from bnref.experiments.commands.moving_statistics import run_key
from browser_support import (
    EXAMPLE_REPO,
    LAUNCH,
    ROOT,
    LocalServer,
    RequestLog,
    browser_missing,
    build_site,
    fresh_dir,
    site_pages,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(browser_missing() is not None, reason=str(browser_missing())),
]

ARTIFACTS = ROOT / "test-artifacts"
CHAPTER = "notes/"  # the chapter's first page: bilingual blocks, formulas, code
REPORT: dict = {"pages": {}, "origins": {}, "foreign": [], "timings_s": {}}


# --------------------------------------------------------------------------
# Session fixtures: build once, serve once, one browser
# --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    out = fresh_dir(tmp_path_factory.mktemp("site") / "site")
    server = LocalServer(out)  # first, so the build knows its address (site_url)
    REPORT["timings_s"]["build"] = round(build_site(out, site_url=server.url), 1)
    yield out, server
    server.close()
    report = os.environ.get("BNREF_BROWSER_REPORT")
    if report:
        Path(report).write_text(json.dumps(REPORT, indent=2, ensure_ascii=False))


@pytest.fixture(scope="session")
def browser(chromium):  # tests/site/conftest.py: one Chromium per test process
    REPORT["timings_s"]["launch"] = LAUNCH.get("seconds")
    return chromium


class Reader:
    """One browser context (its own localStorage) with its page, request log and errors."""

    def __init__(self, browser, server: LocalServer, **context_options) -> None:
        self.server = server
        self.context = browser.new_context(viewport={"width": 1280, "height": 900},
                                           **context_options)
        self.requests = RequestLog(server.host)
        self.requests.attach(self.context)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda err: self.errors.append(f"page error: {err}"))
        self.page.on("response", self._response)
        self.requested: list[str] = []  # URL paths, in order
        self.page.on("request", lambda request: self.requested.append(urlsplit(request.url).path))

    def _console(self, message) -> None:
        if message.type == "error":
            self.errors.append(f"console error: {message.text} ({message.location.get('url')})")

    def _response(self, response) -> None:
        if response.status >= 400:
            self.errors.append(f"HTTP {response.status}: {response.url}")

    def open(self, path: str) -> None:
        self.page.goto(self.server.url + path)
        self.wait_for_page()

    def wait_for_page(self) -> None:
        """Wait until the page has loaded and its fonts (KaTeX's included) are ready."""
        self.page.wait_for_load_state("load")
        self.page.evaluate("() => document.fonts.ready.then(() => true)")

    def lang(self) -> str:
        return self.page.evaluate("document.documentElement.dataset.lang")

    def stored_lang(self) -> str | None:
        return self.page.evaluate("localStorage.getItem('bnref-lang')")

    def visible(self, selector: str) -> list[bool]:
        return self.page.eval_on_selector_all(
            selector, "els => els.map(e => e.getClientRects().length > 0)"
        )

    def close(self) -> None:
        origins = REPORT["origins"]
        for origin, n in self.requests.origins.items():
            origins[origin] = origins.get(origin, 0) + n
        REPORT["foreign"].extend(self.requests.foreign)
        self.context.close()


@pytest.fixture
def reader(browser, site):
    """A fresh reader (screenshots on failure: see :func:`snapshot_on_failure`)."""
    _, server = site
    r = Reader(browser, server)
    yield r
    r.close()


@contextmanager
def snapshot_on_failure(reader: Reader, name: str):
    """Run a block; if it raises, save the page as test-artifacts/<name>.png."""
    try:
        yield
    except BaseException:
        ARTIFACTS.mkdir(exist_ok=True)
        try:
            reader.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=False)
        except Exception:  # the page itself may be gone
            pass
        raise


def assert_only_local(reader: Reader) -> None:
    assert reader.requests.foreign == [], (
        f"requests left the local server {reader.server.host}: {reader.requests.foreign}"
    )


# --------------------------------------------------------------------------
# Every page: formulas typeset, no errors, nothing fetched from elsewhere
# --------------------------------------------------------------------------

MATH_COUNTS = """() => {
    const formulas = [...document.querySelectorAll('article .arithmatex')];
    return {
        formulas: formulas.length,
        notebook_math: document.querySelectorAll('.jp-RenderedMarkdown .arithmatex').length,
        // KaTeX's HTML (what the eye reads) and MathML (what a screen reader reads)
        typeset: formulas.filter(f => f.querySelector('.katex .katex-html')).length,
        mathml: formulas.filter(f => f.querySelector('.katex .katex-mathml math')).length,
        errors: document.querySelectorAll('article .katex-error').length,
    };
}"""

KATEX_DRAWN = """() => {
    // KaTeX's stylesheet applied (its fonts on .katex) and none of its fonts failed to load.
    const katex = document.querySelector('article .katex');
    const failed = [...document.fonts].filter(f => /KaTeX/.test(f.family) && f.status === 'error')
        .map(f => f.family);
    return {
        styled: !katex || /KaTeX_Main/.test(getComputedStyle(katex).fontFamily),
        fonts_loaded: [...document.fonts].filter(f => /KaTeX/.test(f.family) && f.status === 'loaded').length,
        failed,
    };
}"""

MATH_SCRIPTS = r"""() => [
    ...[...document.scripts].map(s => s.src || s.textContent),
    ...performance.getEntriesByType('resource').filter(e => e.initiatorType === 'script')
        .map(e => e.name),
].filter(text => /mathjax|katex/i.test(text)).map(text => text.slice(0, 200))"""
# No page loads math JavaScript: every script element (its address, or its text
# when inline) and every script the page requested.

LEFTOVER_TEX = r"""() => {
  // Text a reader sees in the article and its table of contents, code excluded:
  // no TeX source may remain (a heading's TOC entry is its text: data-toc-label).
  const text = ["article", ".md-nav--secondary"].map(selector => {
    const part = document.querySelector(selector);
    if (!part) return "";
    const copy = part.cloneNode(true);
    copy.querySelectorAll("pre, code, script, style, .katex").forEach(e => e.remove());
    return copy.textContent;
  }).join("\n");
  return ["\\(", "\\)", "\\[", "\\]", "$$"].filter(d => text.includes(d));
}"""


def test_every_page_has_typeset_math_no_math_script_and_no_foreign_requests(browser, site):
    site_dir, server = site
    pages = site_pages(site_dir)
    for must in ("", CHAPTER, "reference/api/", "notebooks/bn-vs-plain/"):
        assert must in pages, f"page {must!r} missing from the built site: {pages}"
    reader = Reader(browser, server)
    try:
        for path in pages:
            with snapshot_on_failure(reader, "page-" + (path.strip("/").replace("/", "-") or "home")):
                start = time.perf_counter()
                reader.open(path)
                counts = reader.page.evaluate(MATH_COUNTS)
                leftovers = reader.page.evaluate(LEFTOVER_TEX)
                if counts["formulas"]:
                    # Blocks off the screen are not rendered (content-visibility:
                    # auto), so a page whose formulas all lie below the first
                    # screen asks for no font until the reader gets there.
                    reader.page.locator("article .katex").first.scroll_into_view_if_needed()
                    from playwright.sync_api import TimeoutError as PlaywrightTimeout

                    try:
                        reader.page.wait_for_function(
                            "[...document.fonts].some(f => /KaTeX/.test(f.family) && f.status === 'loaded')",
                            timeout=10_000,
                        )
                    except PlaywrightTimeout:
                        pass  # the assertion below says what is missing
                drawn = reader.page.evaluate(KATEX_DRAWN)
                scripts = reader.page.evaluate(MATH_SCRIPTS)
                seconds = time.perf_counter() - start
                REPORT["pages"][path or "/"] = {**counts, "katex_fonts": drawn["fonts_loaded"],
                                                "seconds": round(seconds, 2)}
                assert counts["typeset"] == counts["formulas"], (
                    f"{path}: {counts['formulas']} formulas, only {counts['typeset']} typeset"
                )
                assert counts["mathml"] == counts["formulas"], (
                    f"{path}: {counts['formulas'] - counts['mathml']} formulas without MathML"
                )
                assert counts["errors"] == 0, f"{path}: KaTeX error marks in the page"
                assert drawn["styled"], f"{path}: KaTeX's stylesheet is not applied"
                assert drawn["failed"] == [], f"{path}: KaTeX fonts failed to load: {drawn['failed']}"
                if counts["formulas"]:
                    assert drawn["fonts_loaded"] >= 1, f"{path}: formulas, but no KaTeX font loaded"
                assert scripts == [], f"{path}: a math script is loaded: {scripts}"
                assert leftovers == [], f"{path}: TeX source left visible: {leftovers}"
        # The API page's docstring formulas and the notebook's Markdown math count too.
        assert REPORT["pages"]["reference/api/"]["typeset"] >= 1
        assert REPORT["pages"]["notebooks/bn-vs-plain/"]["notebook_math"] >= 1
        assert reader.errors == [], "\n".join(reader.errors)
        assert_only_local(reader)
    finally:
        reader.close()


ABSOLUTE_REFERENCE = re.compile(
    r"<(?:script|link|img|iframe|source|video|audio)\b[^>]*?\b(?:src|href)=[\"']?((?:https?:)?//[^\"' >]+)"
    r"|@import\s+url\([\"']?((?:https?:)?//[^\"')]+)"
    r"|import\([\"']((?:https?:)?//[^\"']+)"
    r"|url\(\s*[\"']?((?:https?:)?//[^\"')]+)",
    re.IGNORECASE,
)


def test_built_pages_reference_no_other_host(site):
    """By construction: no script, style, font, image or import from another host.

    (The site's own address, ``site_url``, is the local server here.)
    """
    site_dir, server = site
    offenders = []
    for path in sorted([*site_dir.rglob("*.html"), *site_dir.rglob("*.css")]):
        text = path.read_text(encoding="utf-8")
        for match in ABSOLUTE_REFERENCE.finditer(text):
            url = next(g for g in match.groups() if g)
            if urlsplit(url if "://" in url else "http:" + url).netloc != server.host:
                offenders.append(f"{path.relative_to(site_dir)}: {url}")
    assert offenders == [], "\n".join(offenders)


# --------------------------------------------------------------------------
# Reading modes: 中文 / English / both, persisted, across instant navigation
# --------------------------------------------------------------------------


def lang_blocks(reader: Reader) -> tuple[list[bool], list[bool]]:
    return reader.visible(".bi > [lang=zh]"), reader.visible(".bi > [lang=en]")


STILL = """(selector) => new Promise(done => {
    // true once the element's box is the same in two consecutive frames
    const box = () => JSON.stringify(document.querySelector(selector).getBoundingClientRect());
    let last = box();
    const check = () => requestAnimationFrame(() => {
        const now = box();
        if (now === last) done(true); else { last = now; check(); }
    });
    check();
})"""


INJECTED = """(previous) => {
    const back = document.querySelector('a.md-footer__link--prev');
    return back !== null && new URL(back.href).pathname === previous;
}"""

# true once every block of the shown language is laid out and the other one hidden
MODE_SHOWN = """(mode) => {
    const shown = e => e.getClientRects().length > 0;
    const other = mode === 'zh' ? 'en' : 'zh';
    const mine = [...document.querySelectorAll(`.bi > [lang=${mode}]`)];
    const theirs = [...document.querySelectorAll(`.bi > [lang=${other}]`)];
    return mine.length > 0 && mine.every(shown) && !theirs.some(shown);
}"""


def test_language_choice_switches_and_persists(reader):
    with snapshot_on_failure(reader, "reading-modes"):
        reader.open(CHAPTER)
        assert reader.lang() == "both", "a first visit shows both languages"
        zh, en = lang_blocks(reader)
        assert zh and en and all(zh) and all(en), "both mode: every zh and en block visible"

        reader.page.click("#bnref-lang-toggle [data-bnref-lang=zh]")
        assert reader.lang() == "zh" and reader.stored_lang() == "zh"
        zh, en = lang_blocks(reader)
        assert all(zh) and not any(en), "zh mode hides every English block"

        # Follow the "next page" link in the footer: instant navigation when
        # enabled (no reload), a normal load otherwise. The choice stays.
        marker = reader.page.evaluate("window.__bnref_marker = Math.random()")
        # The footer sits below the article's blocks, which are laid out only when
        # they come near the screen (content-visibility: auto): scrolling there
        # resizes them and moves the link. Click once its place has held for two
        # frames; a click that still lands beside it (a loaded machine, once in a
        # full run) is retried once, and recorded.
        link = reader.page.locator("a.md-footer__link--next")
        link.scroll_into_view_if_needed()
        reader.page.wait_for_function(STILL, arg="a.md-footer__link--next")
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        for attempt in (1, 2):
            link.click()
            try:
                reader.page.wait_for_function(f"location.pathname !== '/{CHAPTER}'",
                                              timeout=10_000)
                break
            except PlaywrightTimeout:
                if attempt == 2:
                    raise
        REPORT["footer_clicks"] = attempt
        # Material changes the address on the click and injects the fetched page
        # later: wait for the new page itself (its "previous" link leads back to
        # the chapter) and for the reading mode to have been applied to it.
        reader.page.wait_for_function(INJECTED, arg=f"/{CHAPTER}", timeout=15_000)
        reader.wait_for_page()
        reader.page.wait_for_function(MODE_SHOWN, arg="zh", timeout=10_000)
        instant = reader.page.evaluate("window.__bnref_marker") == marker
        REPORT["instant_navigation"] = instant
        assert instant, "navigation.instant is enabled: the next page must load without a reload"
        assert reader.lang() == "zh"
        zh, en = lang_blocks(reader)
        assert zh and all(zh) and not any(en), "zh mode still on after navigating"
        if reader.page.locator("article .arithmatex").count():
            # formulas arrive typeset with the page, instant navigation or not
            counts = reader.page.evaluate(MATH_COUNTS)
            assert counts["typeset"] == counts["formulas"], counts
            assert reader.page.evaluate(KATEX_DRAWN)["styled"], "KaTeX styled after instant navigation"

        reader.page.click("#bnref-lang-toggle [data-bnref-lang=en]")
        reader.page.reload()  # a fresh load reads the choice back from localStorage
        reader.wait_for_page()
        assert reader.lang() == "en" and reader.stored_lang() == "en"
        zh, en = lang_blocks(reader)
        assert en and all(en) and not any(zh), "en mode hides every Chinese block"

        reader.page.click("#bnref-lang-toggle [data-bnref-lang=both]")
        assert reader.lang() == "both" and reader.stored_lang() == "both"
        zh, en = lang_blocks(reader)
        assert all(zh) and all(en)
        assert_only_local(reader)
        assert reader.errors == [], "\n".join(reader.errors)


# --------------------------------------------------------------------------
# Search: Chinese and English terms
# --------------------------------------------------------------------------


def search(reader: Reader, query: str) -> list[str]:
    """Type ``query`` into Material's search; return the result entries' text."""
    page = reader.page
    box = page.locator("input.md-search__input")
    box.click()
    box.fill(query)
    box.press("End")  # Material searches on keyup; fill() alone sends none
    # Wait for the results of this query, not those of the one before (a loaded machine
    # can leave the previous results on screen for a while): a result count, and either no
    # result or a highlighted hit for this query.
    page.wait_for_function(
        """(query) => {
            const meta = document.querySelector('.md-search-result__meta');
            if (!meta || !/matching|没有|找到/i.test(meta.textContent)) return false;
            const items = document.querySelectorAll('.md-search-result__item');
            const marks = [...document.querySelectorAll('.md-search-result__item mark')];
            return items.length === 0
                || marks.some(m => m.textContent.toLowerCase().includes(query.toLowerCase()));
        }""",
        arg=query,
        timeout=15000,
    )
    return page.locator(".md-search-result__item").all_inner_texts()


SEARCH_TERMS = ["归一化", "卡尔曼", "momentum", "Kalman"]
SEARCH_INDEX = "search/search_index.json"
SEARCH_WORKER = re.compile(r"/assets/javascripts/workers/search\.[^/]*\.js$")


def test_search_index_loads_only_when_search_is_used(reader):
    """javascripts/search-on-demand.js: no index or worker until the reader opens search."""
    with snapshot_on_failure(reader, "search-on-demand"):
        reader.open(CHAPTER)
        reader.page.wait_for_timeout(500)  # time for any late request
        early = [p for p in reader.requested if p.endswith(SEARCH_INDEX) or SEARCH_WORKER.search(p)]
        assert early == [], f"requested before any search: {early}"
        assert reader.page.locator(".md-search[role=dialog][aria-label]").count() == 1, (
            "the search dialog has an accessible name"
        )
        results = search(reader, "momentum")
        assert results, "search works once the index has loaded on demand"
        assert any(p.endswith(SEARCH_INDEX) for p in reader.requested)
        assert any(SEARCH_WORKER.search(p) for p in reader.requested)
        assert_only_local(reader)
        assert reader.errors == [], "\n".join(reader.errors)


def test_search_finds_chinese_and_english_terms(reader):
    reader.open("")
    found = {}
    for query in SEARCH_TERMS:
        with snapshot_on_failure(reader, f"search-{query}"):
            results = search(reader, query)
            marks = reader.page.locator(".md-search-result__item mark").all_inner_texts()
            found[query] = len(results)
            assert results, f"no search result for {query!r}"
            # A hit must actually contain the term (Material highlights it as <mark>).
            assert any(query.lower() in m.lower() for m in marks), (
                f"results for {query!r} do not highlight it: {marks[:10]}"
            )
    REPORT["search"] = found
    assert_only_local(reader)


# --------------------------------------------------------------------------
# Code, theme, page furniture
# --------------------------------------------------------------------------


def test_code_blocks_have_working_copy_buttons(browser, site):
    _, server = site
    reader = Reader(browser, server, permissions=["clipboard-read", "clipboard-write"])
    try:
        with snapshot_on_failure(reader, "copy-buttons"):
            reader.open("")
            blocks = reader.page.locator("article .highlight pre")
            n = blocks.count()
            assert n >= 1, "the home page shows code"
            # Material 9.8: <pre><nav class="md-code__nav"><button data-md-type="copy">
            copy = ":is(button.md-clipboard, button[data-md-type=copy])"
            buttons = reader.page.locator(f"article .highlight pre {copy}")
            # content.lazy (mkdocs.yml): a block gets its button when it comes
            # near the screen, so a long page does less work while it loads.
            # Far below the first screen there is none yet; scrolled to, each
            # block has one.
            if n > 1:
                assert blocks.last.locator(copy).count() == 0, "the last block is mounted lazily"
            for i in range(n):
                blocks.nth(i).scroll_into_view_if_needed()
                blocks.nth(i).locator(copy).wait_for(state="attached", timeout=5000)
            assert buttons.count() == n, f"{n} code blocks, {buttons.count()} copy buttons"
            buttons.first.scroll_into_view_if_needed()
            code = reader.page.locator("article .highlight pre code").first.text_content()
            buttons.first.click()
            copied = reader.page.evaluate("navigator.clipboard.readText()")
            lines = lambda text: [line for line in text.splitlines() if line.strip()]  # noqa: E731
            assert lines(copied) == lines(code), "the copy button copies the listing"
            assert reader.errors == [], "\n".join(reader.errors)
    finally:
        reader.close()


def test_chapter_schemes_edit_link_date_and_print_view(reader):
    with snapshot_on_failure(reader, "chapter-furniture"):
        reader.open(CHAPTER)
        # light and dark: the palette toggle switches Material's colour scheme
        scheme = lambda: reader.page.evaluate("document.body.dataset.mdColorScheme")  # noqa: E731
        first = scheme()
        reader.page.locator("form[data-md-component=palette] label:visible").first.click()
        assert {first, scheme()} == {"default", "slate"}, (first, scheme())

        edit = reader.page.locator("a.md-content__button[href*='/edit/']")
        assert edit.count() == 1
        assert edit.get_attribute("href").startswith(f"{EXAMPLE_REPO}/edit/main/docs/notes/")
        updated = reader.page.locator(".md-source-file").inner_text()
        assert re.search(r"\d{4}", updated), f"no last-updated date: {updated!r}"

        reader.page.emulate_media(media="print")
        assert not any(reader.visible("#bnref-lang-toggle")), "print: no language buttons"
        assert not any(reader.visible(".md-sidebar--primary")), "print: no navigation"
        zh, en = lang_blocks(reader)
        assert all(zh) and all(en), "print in both mode: both languages"
        # On paper the pairs stack (Chinese above English) instead of sitting side by side.
        zh_box = reader.page.locator(".bi > [lang=zh]").first.bounding_box()
        en_box = reader.page.locator(".bi > [lang=en]").first.bounding_box()
        assert en_box["y"] >= zh_box["y"] + zh_box["height"] - 1, (zh_box, en_box)
        reader.page.emulate_media(media="screen")
        assert_only_local(reader)


def test_table_of_contents_jumps_land_on_their_heading(reader):
    """Long pages skip rendering far-off blocks (content-visibility, stylesheets/light.css);
    javascripts/render-before-jump.js renders them all once just before a jump within the
    page, so that a jump up or down the page lands on its heading."""
    with snapshot_on_failure(reader, "toc-jumps"):
        reader.open(CHAPTER)
        links = reader.page.locator(".md-sidebar--secondary a.md-nav__link:visible")
        targets = [href.split("#", 1)[1] for href in links.evaluate_all("ls => ls.map(l => l.href)")
                   if "#" in href]
        assert len(targets) >= 6, targets
        for target in (targets[-1], targets[2], targets[-2], targets[1]):  # down, up, down, up
            reader.page.click(f".md-sidebar--secondary a.md-nav__link[href$='#{target}']")
            reader.page.wait_for_function(f"location.hash === '#{target}'")
            reader.page.wait_for_timeout(400)
            top = reader.page.evaluate(f"document.getElementById('{target}').getBoundingClientRect().top")
            assert 0 <= top < 150, f"jump to #{target}: heading at {top:.0f} px from the top"
        assert reader.errors == [], "\n".join(reader.errors)


def test_figures_open_larger_on_click(reader, site):
    site_dir, _ = site
    with snapshot_on_failure(reader, "lightbox"):
        page_with_figure = next(
            (p for p in site_pages(site_dir)
             if 'class="glightbox"' in (site_dir / p / "index.html").read_text(encoding="utf-8")),
            None,
        )
        assert page_with_figure is not None, "no page has a figure wrapped for the lightbox"
        reader.open(page_with_figure)
        link = reader.page.locator("article a.glightbox").first
        # The viewer (mkdocs-glightbox's script and stylesheet) loads when a figure
        # comes within 800 px of the screen (overrides/hooks/page_speed.py).
        if link.bounding_box()["y"] > 900 + 800 + 100:
            assert not [p for p in reader.requested if "glightbox" in p], "viewer loaded too early"
        link.scroll_into_view_if_needed()
        reader.page.wait_for_selector("html[data-bnref-lightbox=ready]", state="attached", timeout=10000)
        link.click()
        reader.page.wait_for_selector(".glightbox-container .gslide-image img", state="visible",
                                      timeout=5000)
        assert_only_local(reader)
        assert reader.errors == [], "\n".join(reader.errors)


def test_notebook_page_offers_ipynb_and_source(reader):
    with snapshot_on_failure(reader, "notebook"):
        reader.open("notebooks/bn-vs-plain/")
        assert reader.page.locator(".jp-Notebook .jp-CodeCell").count() >= 3
        for selector, suffix in ((".bnref-download-ipynb", ".ipynb"), (".bnref-download-py", ".py")):
            href = reader.page.locator(selector).get_attribute("href")
            assert href.endswith(suffix), href
            # Fetch it the way the browser would (relative to the page).
            body = reader.page.evaluate("url => fetch(url).then(r => r.ok ? r.text() : null)", href)
            assert body, f"{href} is not served"
            if suffix == ".ipynb":
                notebook = json.loads(body)
                assert notebook["nbformat"] == 4 and len(notebook["cells"]) >= 6
            else:
                assert "# %%" in body
        assert_only_local(reader)
        assert reader.errors == [], "\n".join(reader.errors)


# ---- the moving-statistics explorer -------------------------------------------------------
# The moving-statistics explorer (docs/experiments/moving-statistics.md,
# docs/javascripts/moving-statistics.js) in Debian's Chromium, on the built site.
# 
# The site is built once for this module and served on 127.0.0.1 (tests/browser_support.py, as
# test_browser.py does); every request that leaves the local server is blocked and reported.
# Checked: without JavaScript the page shows the static figure; the site serves the committed
# results file itself as the explorer's data; with JavaScript the explorer replaces the figure,
# loads without console errors, its buttons are real buttons with labels in both languages,
# choosing another momentum, batch size or statistic draws another chart, and the numbers it
# shows for a run are the results file's.

MS_PAGE = "experiments/moving-statistics/"
MS_RESULTS = results.path("moving-statistics-cpu.json")


@pytest.fixture(scope="module")
def ms_data():
    return json.loads(MS_RESULTS.read_text(encoding="utf-8"))


class ExplorerReader:
    """A browser context on the local site: its page, its console errors, its requests."""

    def __init__(self, browser, server, **options) -> None:
        self.server = server
        self.context = browser.new_context(viewport={"width": 1280, "height": 900}, **options)
        self.requests = RequestLog(server.host)
        self.requests.attach(self.context)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(f"console {m.type}: {m.text}")
                     if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda err: self.errors.append(f"page error: {err}"))
        self.page.on("response", lambda r: self.errors.append(f"HTTP {r.status}: {r.url}")
                     if r.status >= 400 else None)

    def open(self, path: str, *, explorer: bool = True) -> None:
        self.page.goto(self.server.url + path)
        self.page.wait_for_load_state("load")
        if explorer:
            self.page.wait_for_selector("#ms-explorer[data-ms-ready=true]", state="attached",
                                        timeout=15_000)

    def d(self, what: str) -> str:
        return self.page.get_attribute(f"#ms-explorer svg path.ms-{what}", "d")

    def click(self, key: str, value: str) -> None:
        self.page.click(f"#ms-explorer button[data-ms-{key}='{value}']")

    def close(self) -> None:
        assert self.requests.foreign == [], f"requests left the local server: {self.requests.foreign}"
        self.context.close()


@pytest.fixture
def explorer(browser, site):
    r = ExplorerReader(browser, site[1])
    yield r
    r.close()


def test_the_fallback_figure_is_in_the_html_and_shown_without_javascript(browser, site):
    site_dir, server = site
    html = (site_dir / MS_PAGE / "index.html").read_text(encoding="utf-8")
    explorer = html[html.index('id="ms-explorer"'):]
    img = re.search(r'<div class="ms-fallback">.*?<img ([^>]*)>', explorer, re.DOTALL)
    assert img, "no fallback figure inside the explorer"
    attrs = img.group(1)
    assert re.search(r'src="[./]*figures/moving-statistics\.svg"', attrs), attrs
    alt = re.search(r'alt="([^"]*)"', attrs).group(1)
    assert "行" in alt and "grid of panels" in alt, "the alt text is in both languages"
    explorer = ExplorerReader(browser, server, java_script_enabled=False)
    try:
        explorer.open(MS_PAGE, explorer=False)
        fallback = explorer.page.locator("#ms-explorer .ms-fallback img")
        fallback.scroll_into_view_if_needed()
        assert fallback.is_visible()
        assert explorer.page.locator("#ms-explorer .ms-ui").count() == 0
    finally:
        explorer.close()


def test_the_site_serves_the_results_file_itself(site, ms_data):
    site_dir, _ = site
    served = (site_dir / "data" / "moving-statistics.json").read_text(encoding="utf-8")
    assert json.loads(served) == ms_data  # the same JSON value, whitespace removed
    assert len(served.encode()) < MS_RESULTS.stat().st_size and len(served.encode()) < 160_000


def test_the_explorer_replaces_the_figure_without_errors(explorer):
    explorer.open(MS_PAGE)
    page = explorer.page
    assert page.locator("#ms-explorer .ms-fallback").is_hidden()
    assert page.locator("#ms-explorer .ms-ui").is_visible()
    buttons = page.locator("#ms-explorer .ms-ui button")
    assert buttons.count() == 4 + 4 + 2  # momenta, batch sizes, mean / variance
    labels = page.locator("#ms-explorer .ms-ui button .bi-inline")
    for i in range(labels.count()):  # a label in words has both languages
        assert labels.nth(i).locator("[lang=zh]").count() == labels.nth(i).locator("[lang=en]").count() == 1
    pressed = page.locator("#ms-explorer button[aria-pressed=true]")
    assert pressed.count() == 3  # one choice per group
    chart = page.locator("#ms-explorer svg[role=img]")
    assert chart.count() == 1
    ids = chart.get_attribute("aria-labelledby").split()
    assert [page.locator(f"#{i}").count() for i in ids] == [1, 1]  # its title and description
    assert explorer.errors == [], "\n".join(explorer.errors)


def test_choosing_another_run_draws_another_chart(explorer):
    explorer.open(MS_PAGE)
    before = {w: explorer.d(w) for w in ("batch", "moving", "target")}
    assert all(before.values())
    explorer.click("momentum", "0.01")  # the same batches, another moving average
    after = {w: explorer.d(w) for w in ("batch", "moving", "target")}
    assert after["moving"] != before["moving"]
    assert after["batch"] == before["batch"]  # the momentum changes nothing in training
    assert explorer.page.get_attribute("#ms-explorer button[data-ms-momentum='0.01']",
                                     "aria-pressed") == "true"
    assert explorer.page.get_attribute("#ms-explorer button[data-ms-momentum='0.1']",
                                     "aria-pressed") == "false"
    explorer.click("batch", "256")
    assert explorer.d("batch") != after["batch"] and explorer.d("moving") != after["moving"]
    mean = explorer.d("moving")
    explorer.click("stat", "var")
    assert explorer.d("moving") != mean
    assert "variance" in explorer.page.text_content("#ms-svg-title")
    assert explorer.errors == [], "\n".join(explorer.errors)


@pytest.mark.parametrize("momentum, batch", [(None, 256), (0.01, 8)])
def test_the_numbers_shown_are_the_results_files(explorer, ms_data, momentum, batch):
    explorer.open(MS_PAGE)
    explorer.click("momentum", "cumulative" if momentum is None else str(momentum))
    explorer.click("batch", str(batch))
    c = ms_data["config"]
    run = ms_data["runs"][run_key(momentum, batch, c["traced_seed"])]
    page = explorer.page
    for row in ("test_acc", "recalibrated_test_acc"):
        cells = page.locator(f"#ms-explorer tr[data-ms-row={row}] td")
        shown = {cells.nth(i).get_attribute("data-ms-step"): cells.nth(i).text_content()
                 for i in range(cells.count())}
        assert shown == {str(s): f"{100 * a:.1f}" for s, a in zip(run["eval_steps"], run[row])}
    seeds = [ms_data["runs"][run_key(momentum, batch, s)] for s in range(c["seeds"])]
    summary = page.text_content("#ms-explorer .ms-seeds [lang=en]")
    for field in ("test_acc", "recalibrated_test_acc"):
        values = [100 * r[field][-1] for r in seeds]
        assert f"{statistics.fmean(values):.1f} ± {statistics.stdev(values):.1f} %" in summary
    desc = page.text_content("#ms-svg-desc")
    t = run["trace"]
    assert f"moving mean {t['moving_mean'][-1]}" in desc
    assert f"batch mean {t['batch_mean'][-1]}" in desc
    assert explorer.errors == [], "\n".join(explorer.errors)


def test_the_reading_mode_picks_the_labels_language(explorer):
    explorer.open(MS_PAGE)
    explorer.page.click("#bnref-lang-toggle [data-bnref-lang=zh]")
    label = "#ms-explorer button[data-ms-stat=var] .bi-inline"
    assert explorer.page.locator(f"{label} [lang=zh]").is_visible()
    assert explorer.page.locator(f"{label} [lang=en]").is_hidden()
    explorer.page.click("#bnref-lang-toggle [data-bnref-lang=both]")
    assert explorer.page.locator(f"{label} [lang=en]").is_visible()


def test_the_explorer_is_built_after_an_instant_navigation(explorer):
    """navigation.instant replaces the page without reloading the scripts: the explorer is
    built from Material's document$ (and its stylesheet added) all the same."""
    explorer.open("experiments/small-batch/", explorer=False)
    explorer.page.wait_for_load_state("networkidle")  # Material has read the sitemap
    marker = explorer.page.evaluate("window.__ms_marker = Math.random()")
    explorer.page.click(".md-sidebar--primary a.md-nav__link[href$='moving-statistics/']")
    explorer.page.wait_for_selector("#ms-explorer[data-ms-ready=true]", state="attached",
                                  timeout=15_000)
    assert explorer.page.evaluate("window.__ms_marker") == marker, "a reload, not instant"
    assert explorer.page.locator("link[data-ms-style]").count() == 1
    assert explorer.page.locator("#ms-explorer .ms-ui button").count() == 10
    assert explorer.errors == [], "\n".join(explorer.errors)
