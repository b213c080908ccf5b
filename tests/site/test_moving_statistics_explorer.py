"""The moving-statistics explorer (docs/experiments/moving-statistics.md,
docs/javascripts/moving-statistics.js) in Debian's Chromium, on the built site.

The site is built once for this module and served on 127.0.0.1 (tests/browser_support.py, as
test_browser.py does); every request that leaves the local server is blocked and reported.
Checked: without JavaScript the page shows the static figure; the site serves the committed
results file itself as the explorer's data; with JavaScript the explorer replaces the figure,
loads without console errors, its buttons are real buttons with labels in both languages,
choosing another momentum, batch size or statistic draws another chart, and the numbers it
shows for a run are the results file's.
"""

from __future__ import annotations

import json
import re
import statistics

import pytest

from bnref import results
from bnref.experiments.commands.moving_statistics import run_key

from browser_support import (
    LocalServer,
    RequestLog,
    browser_missing,
    build_site,
    fresh_dir,
    launch_chromium,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(browser_missing() is not None, reason=str(browser_missing())),
]

PAGE = "experiments/moving-statistics/"
RESULTS = results.path("moving-statistics-cpu.json")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = fresh_dir(tmp_path_factory.mktemp("ms-site") / "site")
    server = LocalServer(out)
    build_site(out, site_url=server.url)
    yield out, server
    server.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def data():
    return json.loads(RESULTS.read_text(encoding="utf-8"))


class Reader:
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
def reader(browser, site):
    r = Reader(browser, site[1])
    yield r
    r.close()


def test_the_fallback_figure_is_in_the_html_and_shown_without_javascript(browser, site):
    site_dir, server = site
    html = (site_dir / PAGE / "index.html").read_text(encoding="utf-8")
    explorer = html[html.index('id="ms-explorer"'):]
    img = re.search(r'<div class="ms-fallback">.*?<img ([^>]*)>', explorer, re.DOTALL)
    assert img, "no fallback figure inside the explorer"
    attrs = img.group(1)
    assert re.search(r'src="[./]*figures/moving-statistics\.svg"', attrs), attrs
    alt = re.search(r'alt="([^"]*)"', attrs).group(1)
    assert "行" in alt and "grid of panels" in alt, "the alt text is in both languages"
    reader = Reader(browser, server, java_script_enabled=False)
    try:
        reader.open(PAGE, explorer=False)
        fallback = reader.page.locator("#ms-explorer .ms-fallback img")
        fallback.scroll_into_view_if_needed()
        assert fallback.is_visible()
        assert reader.page.locator("#ms-explorer .ms-ui").count() == 0
    finally:
        reader.close()


def test_the_site_serves_the_results_file_itself(site, data):
    site_dir, _ = site
    served = (site_dir / "data" / "moving-statistics.json").read_text(encoding="utf-8")
    assert json.loads(served) == data  # the same JSON value, whitespace removed
    assert len(served.encode()) < RESULTS.stat().st_size and len(served.encode()) < 160_000


def test_the_explorer_replaces_the_figure_without_errors(reader):
    reader.open(PAGE)
    page = reader.page
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
    assert reader.errors == [], "\n".join(reader.errors)


def test_choosing_another_run_draws_another_chart(reader):
    reader.open(PAGE)
    before = {w: reader.d(w) for w in ("batch", "moving", "target")}
    assert all(before.values())
    reader.click("momentum", "0.01")  # the same batches, another moving average
    after = {w: reader.d(w) for w in ("batch", "moving", "target")}
    assert after["moving"] != before["moving"]
    assert after["batch"] == before["batch"]  # the momentum changes nothing in training
    assert reader.page.get_attribute("#ms-explorer button[data-ms-momentum='0.01']",
                                     "aria-pressed") == "true"
    assert reader.page.get_attribute("#ms-explorer button[data-ms-momentum='0.1']",
                                     "aria-pressed") == "false"
    reader.click("batch", "256")
    assert reader.d("batch") != after["batch"] and reader.d("moving") != after["moving"]
    mean = reader.d("moving")
    reader.click("stat", "var")
    assert reader.d("moving") != mean
    assert "variance" in reader.page.text_content("#ms-svg-title")
    assert reader.errors == [], "\n".join(reader.errors)


@pytest.mark.parametrize("momentum, batch", [(None, 256), (0.01, 8)])
def test_the_numbers_shown_are_the_results_files(reader, data, momentum, batch):
    reader.open(PAGE)
    reader.click("momentum", "cumulative" if momentum is None else str(momentum))
    reader.click("batch", str(batch))
    c = data["config"]
    run = data["runs"][run_key(momentum, batch, c["traced_seed"])]
    page = reader.page
    for row in ("test_acc", "recalibrated_test_acc"):
        cells = page.locator(f"#ms-explorer tr[data-ms-row={row}] td")
        shown = {cells.nth(i).get_attribute("data-ms-step"): cells.nth(i).text_content()
                 for i in range(cells.count())}
        assert shown == {str(s): f"{100 * a:.1f}" for s, a in zip(run["eval_steps"], run[row])}
    seeds = [data["runs"][run_key(momentum, batch, s)] for s in range(c["seeds"])]
    summary = page.text_content("#ms-explorer .ms-seeds [lang=en]")
    for field in ("test_acc", "recalibrated_test_acc"):
        values = [100 * r[field][-1] for r in seeds]
        assert f"{statistics.fmean(values):.1f} ± {statistics.stdev(values):.1f} %" in summary
    desc = page.text_content("#ms-svg-desc")
    t = run["trace"]
    assert f"moving mean {t['moving_mean'][-1]}" in desc
    assert f"batch mean {t['batch_mean'][-1]}" in desc
    assert reader.errors == [], "\n".join(reader.errors)


def test_the_reading_mode_picks_the_labels_language(reader):
    reader.open(PAGE)
    reader.page.click("#bnref-lang-toggle [data-bnref-lang=zh]")
    label = "#ms-explorer button[data-ms-stat=var] .bi-inline"
    assert reader.page.locator(f"{label} [lang=zh]").is_visible()
    assert reader.page.locator(f"{label} [lang=en]").is_hidden()
    reader.page.click("#bnref-lang-toggle [data-bnref-lang=both]")
    assert reader.page.locator(f"{label} [lang=en]").is_visible()


def test_the_explorer_is_built_after_an_instant_navigation(reader):
    """navigation.instant replaces the page without reloading the scripts: the explorer is
    built from Material's document$ (and its stylesheet added) all the same."""
    reader.open("experiments/small-batch/", explorer=False)
    reader.page.wait_for_load_state("networkidle")  # Material has read the sitemap
    marker = reader.page.evaluate("window.__ms_marker = Math.random()")
    reader.page.click(".md-sidebar--primary a.md-nav__link[href$='moving-statistics/']")
    reader.page.wait_for_selector("#ms-explorer[data-ms-ready=true]", state="attached",
                                  timeout=15_000)
    assert reader.page.evaluate("window.__ms_marker") == marker, "a reload, not instant"
    assert reader.page.locator("link[data-ms-style]").count() == 1
    assert reader.page.locator("#ms-explorer .ms-ui button").count() == 10
    assert reader.errors == [], "\n".join(reader.errors)
