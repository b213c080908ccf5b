"""MkDocs hook: each heading pair of a bilingual page gets a block of its own.

A bilingual section is written as one block, the heading and its text in each
language::

    <div class="bi"><div lang="zh"><h2>…</h2><p>…</p></div><div lang="en"><h2>…</h2><p>…</p></div></div>

Long pages lay out their article's blocks only near the screen
(stylesheets/light.css, ``content-visibility: auto``). Material's table of
contents, though, reads the position of every heading it lists when the page
loads and again whenever the page's height changes, and reading the position of
a heading inside a block that is not laid out makes the browser lay out that
whole block (Lighthouse: total blocking time on the errata page 330 ms, 200 ms
without such reads). Here such a block becomes two: the heading pair, then the
rest::

    <div class="bi bi-heading"><div lang="zh"><h2>…</h2></div><div lang="en"><h2>…</h2></div></div>
    <div class="bi"><div lang="zh"><p>…</p></div><div lang="en"><p>…</p></div></div>

so that the table of contents measures small blocks only. Only top-level
blocks whose two halves both start with a heading (h2 to h6) and go on after
it are split; everything in them is kept, in order, but the white space
between the two halves. The reading modes, the
table-of-contents tags (javascripts/reading-mode.js) and the side-by-side
layout (stylesheets/extra.css) work on the new blocks as on the old ones.
tests/site/test_heading_blocks.py checks the rewriting.
"""

from __future__ import annotations

from html.parser import HTMLParser

HEADINGS = {"h2", "h3", "h4", "h5", "h6"}
#: the page's content may come wrapped in a document (an earlier hook's parser adds one)
DOCUMENT = {"html", "head", "body"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


class _Blocks(HTMLParser):
    """Offsets of each top-level ``div.bi``, its two halves and each half's first element."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=False)
        self.html = html
        self.lines = [0]
        for line in html.splitlines(keepends=True):
            self.lines.append(self.lines[-1] + len(line))
        self.depth = 0
        self.blocks: list[dict] = []
        self.block: dict | None = None
        self.feed(html)
        self.close()

    def _offset(self) -> int:
        line, column = self.getpos()
        return self.lines[line - 1] + column

    def handle_starttag(self, tag, attrs):
        if tag in DOCUMENT:
            return
        start = self._offset()
        end = start + len(self.get_starttag_text())
        if tag in VOID:
            self._element(tag, end)
            return
        self.depth += 1
        classes = (dict(attrs).get("class") or "").split()
        if self.depth == 1 and tag == "div" and "bi" in classes:
            self.block = {"open": (start, end), "halves": []}
        elif self.block is not None and self.depth == 2:
            self.block["halves"].append({"open": (start, end), "lang": dict(attrs).get("lang"),
                                         "first": None})
        elif self.block is not None and self.depth == 3:
            half = self.block["halves"][-1]
            if half["first"] is None:
                half["first"] = {"tag": tag}

    def handle_startendtag(self, tag, attrs):
        self._element(tag, self._offset() + len(self.get_starttag_text()))

    def _element(self, tag, end):
        """An element without content (``<br>``, ``<img/>``) as a half's first element."""
        if self.block is not None and self.depth == 2:
            half = self.block["halves"][-1]
            if half["first"] is None:
                half["first"] = {"tag": tag, "end": end}

    def handle_endtag(self, tag):
        if tag in VOID or tag in DOCUMENT:
            return
        start = self._offset()
        end = self.html.index(">", start) + 1
        if self.block is not None:
            if self.depth == 3:
                half = self.block["halves"][-1]
                if "end" not in half["first"]:
                    half["first"]["end"] = end
            elif self.depth == 2:
                self.block["halves"][-1]["close"] = (start, end)
            elif self.depth == 1:
                self.block["end"] = end
                self.blocks.append(self.block)
                self.block = None
        self.depth -= 1


def split_headings(html: str) -> str:
    """``html`` with each top-level bilingual block that opens with a heading pair split in two."""
    out, done = [], 0
    for block in _Blocks(html).blocks:
        halves = block["halves"]
        if len(halves) != 2 or not all(h["lang"] and h["first"] for h in halves):
            continue
        if not all(h["first"]["tag"] in HEADINGS for h in halves):
            continue
        rests = [html[h["first"]["end"]:h["close"][0]] for h in halves]
        if not any(rest.strip() for rest in rests):
            continue
        open_start, open_end = block["open"]
        opening = html[open_start:open_end].replace('class="bi', 'class="bi bi-heading', 1)
        heading = [opening]
        body = [html[open_start:open_end]]
        for half, rest in zip(halves, rests):
            tag_open = html[half["open"][0]:half["open"][1]]
            close = html[half["close"][0]:half["close"][1]]
            heading.append(tag_open + html[half["open"][1]:half["first"]["end"]] + close)
            body.append(tag_open + rest + close)
        closing = html[halves[1]["close"][1]:block["end"]]
        out.append(html[done:open_start])
        out.append("".join(heading) + closing + "".join(body) + closing)
        done = block["end"]
    out.append(html[done:])
    return "".join(out)


def on_page_content(html: str, page, config, files) -> str:
    return split_headings(html)
