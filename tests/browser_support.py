"""Helpers for the real-browser tests and the screenshot script.

Three small pieces, each doing one thing:

* :func:`build_site` — ``mkdocs build --strict`` into a folder, exactly as CI
  builds the site (the notebook is not executed here: see its docstring);
* :class:`LocalServer` — Python's ``http.server`` serving that folder on
  ``127.0.0.1`` at a free port, in a background thread;
* :func:`launch_chromium` — Debian's Chromium (``/usr/bin/chromium``) driven by
  Playwright for Python, headless, with no background networking; and
  :class:`RequestLog`, which records every request a page makes and blocks any
  that leaves the local server, so the tests can show that the site fetches
  nothing from anywhere else.

``tests/site/test_browser.py`` and ``.ci/screenshots`` use them.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from results_support import ROOT

CHROMIUM = Path(os.environ.get("BNREF_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# A repository address for the build, so the edit-this-page link and the
# repository link are rendered (and shown to cause no request to GitHub).
EXAMPLE_REPO = "https://github.com/bnref/bnref"
EXAMPLE_SITE = "https://bnref.github.io/bnref/"


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or ``None`` when they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright for Python is not installed (pip install -e '.[test]')"
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium, or set BNREF_CHROMIUM)"
    return None


def build_site(out_dir: Path, *, execute_notebook: bool = False, site_url: str | None = None) -> float:
    """Build the site strictly into ``out_dir``; return the build's wall time in seconds.

    With ``execute_notebook=False`` the notebook page is rendered from its
    source without running it: the test suite already runs the notebook as a
    script (Sybil), every real build (``.ci/docs build``, CI) executes it, and
    skipping it here keeps the browser tests within their time budget.
    ``site_url`` should be the address the site is served at: Material's
    instant navigation only takes over links listed in sitemap.xml there.
    """
    env = dict(os.environ)
    env.update(
        NO_MKDOCS_2_WARNING="1",
        BNREF_NOTEBOOK_EXECUTE="true" if execute_notebook else "false",
        BNREF_REPO_URL=EXAMPLE_REPO,
        # Material's instant navigation needs site_url (it reads sitemap.xml
        # and maps the published addresses onto wherever the site is served).
        BNREF_SITE_URL=site_url or EXAMPLE_SITE,
        BNREF_EDIT_URL=f"{EXAMPLE_REPO}/edit/main/docs/",
    )
    mkdocs = [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-d", str(out_dir)]
    start = time.perf_counter()
    done = subprocess.run(mkdocs, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(
            f"mkdocs build --strict failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}"
        )
    return seconds


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - signature fixed by http.server
        pass


class LocalServer:
    """Serve ``directory`` on 127.0.0.1 at a free port until :meth:`close`."""

    def __init__(self, directory: Path) -> None:
        handler = functools.partial(_QuietHandler, directory=str(directory))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.host = f"127.0.0.1:{self.httpd.server_address[1]}"
        self.url = f"http://{self.host}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


#: how long the shared Chromium took to start (tests/site/conftest.py), for the browser report
LAUNCH: dict[str, float] = {}


def launch_chromium(playwright):
    """Debian's Chromium through Playwright (no ``playwright install`` needed)."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


@dataclass
class RequestLog:
    """Every request of a browser context, by origin; foreign ones are blocked.

    A request is local when its host is the local server's ``host`` (or it
    needs no network at all: ``data:``, ``blob:``, ``about:``).
    """

    host: str
    origins: Counter = field(default_factory=Counter)
    foreign: list[str] = field(default_factory=list)

    def attach(self, context) -> None:
        context.on("request", self._seen)
        context.route("**/*", self._route)

    def is_local(self, url: str) -> bool:
        parts = urlsplit(url)
        return parts.scheme in ("data", "blob", "about") or parts.netloc == self.host

    def _seen(self, request) -> None:
        parts = urlsplit(request.url)
        origin = f"{parts.scheme}://{parts.netloc}" if parts.netloc else f"{parts.scheme}:"
        self.origins[origin] += 1
        if not self.is_local(request.url):
            self.foreign.append(request.url)

    def _route(self, route) -> None:
        if self.is_local(route.request.url):
            route.continue_()
        else:
            route.abort()


def site_pages(site_dir: Path) -> list[str]:
    """Every page of a built site, as URL paths (``notes/code/``), 404 excluded."""
    pages = []
    for html in sorted(site_dir.rglob("index.html")):
        rel = html.parent.relative_to(site_dir).as_posix()
        if rel.startswith(("assets", "search")):
            continue
        pages.append("" if rel == "." else rel + "/")
    return pages


def fresh_dir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path
