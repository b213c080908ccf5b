"""The browser shared by the tests that drive Chromium (test_browser.py, test_notebook_css.py).

Playwright's sync API runs one event loop per thread, so a test process can hold
only one ``sync_playwright()`` at a time: one Chromium per test process, for every
module that needs it (pytest-xdist may run several such modules in one worker).
"""

from __future__ import annotations

import time

import pytest

from browser_support import LAUNCH, launch_chromium


@pytest.fixture(scope="session")
def chromium():
    from playwright.sync_api import sync_playwright

    start = time.perf_counter()
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        LAUNCH["seconds"] = round(time.perf_counter() - start, 1)
        yield browser
        browser.close()
