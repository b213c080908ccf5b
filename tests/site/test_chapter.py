"""The chapter holds the whole seed note, in order, with an English block for every Chinese one.

What is checked, and how:

* **Every piece of the seed's Chinese text** — heading, paragraph, list item,
  quote (the seed has no tables; a table row would be one unit too) — must
  appear in the Chinese blocks (``<div lang="zh">``) of the chapter's pages,
  in the seed's order, pages taken in ``PAGES`` order. Both sides are compared
  after the same normalization: link targets dropped (``[text](url)`` ->
  ``text``: the pages may point a link at a public original), emphasis,
  heading/list/quote markers, Markdown escapes, ``{#id}`` attributes and all
  whitespace removed. The struck-through paragraph must stay struck through.
* **The only exceptions** are the seed's images (hotlinked or missing files),
  listed one by one in ``IMAGE_LINES``; the pages must not hotlink any image.
* **Formulas**: every display formula of the seed appears on the pages
  (whitespace, ``&`` and ``aligned`` wrappers ignored).
* **Code**: every line of every seed listing appears in the pages' code after
  includes are expanded (the note's ``# Out:`` lines in labelled text fences),
  except the one line the pages replace, ``from d2l import torch as d2l``.
* **Pairs**: rendered with the site's own Markdown extensions, every
  ``div.bi`` has exactly two children, ``lang="zh"`` then ``lang="en"``, both
  with text; a heading in a Chinese block has an English twin whose id is the
  Chinese id plus ``-en``. The page title is the one exception: a single
  bilingual H1 (``# 中文 · English``) on the first line, outside the blocks
  (two H1s would leave Material's table of contents empty).

Run ``python tests/site/test_chapter.py`` for the counts.
"""

from __future__ import annotations

import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

if __name__ == "__main__":  # run as a script: the support modules are in tests/, one folder up
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import docharness  # noqa: E402

from results_support import ROOT, TESTS  # noqa: E402
#: The seed note, committed as a fixture (the original lives outside the repository).
SEED = TESTS / "fixtures" / "chapter" / "batch-norm-notes.zh.md"
ORIGINAL = Path("/work/shared/seed/batch-norm-notes.zh.md")
PAGES = ["docs/notes/index.md", "docs/notes/code.md", "docs/notes/kalman.md",
         "docs/notes/references.md"]
OTHER_BILINGUAL = ["docs/notes/glossary.md", "docs/reference/errata.md"]

#: The seed's images: the only seed lines allowed to be missing from the pages.
#: Each is replaced by a figure drawn by the project, a text link, or a link to its source.
IMAGE_LINES = (
    "[![Bilibil](https://i2.hdslb.com/bfs/archive/c52c4d88d8fe65f6d2ffac27b8ce6cb02dcdcacc.jpg@640w_400h_100Q_1c.webp)](https://www.bilibili.com/video/BV1X44y1r77r)",
    "![s](https://theaisummer.com/static/d42512016d9b99eabb69a61bb295cd50/2e9f9/normalization.png)",
    "![bn](Images/batch_norm3.jpg)",
    "![bn2](Images/batch_norm.jpg)",
    "![norm](Images/normalization.png)",
    "![graph-normalization-methods](Images/graph-normalization-methods.png)",
    "![Results-normalization](Images/Results-normalization-imagenet-resnet50.png)",
    "![output_batch-norm](https://zh.d2l.ai/_images/output_batch-norm_cf033c_42_1.svg)",
    "![output_lenet](https://zh.d2l.ai/_images/output_lenet_4a2e9e_52_1.svg)",
    "[![karlman](https://i0.hdslb.com/bfs/archive/b16e54070ffd2768a763a768463311b085de66d3.jpg@640w_400h_100Q_1c.webp)](https://www.bilibili.com/video/BV1V5411V72J)",
)
#: The one seed code line the pages replace (with ``from bnref import d2l``).
REPLACED_CODE = {"from d2l import torch as d2l": "from bnref import d2l"}


def seed_text() -> str:
    return SEED.read_text(encoding="utf-8")


# --------------------------------------------------------------------------
# The seed, cut into units
# --------------------------------------------------------------------------


def seed_units(text: str) -> dict[str, list[str]]:
    """The seed as ``text`` units (one per heading/paragraph/item/quote line),
    ``formula`` bodies, ``code`` listings, ``image`` lines and ``rule`` lines."""
    units: dict[str, list[str]] = {"text": [], "formula": [], "code": [], "image": [], "rule": []}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith("```"):
            j = i + 1
            while not lines[j].strip().startswith("```"):
                j += 1
            units["code"].append("\n".join(lines[i + 1 : j]))
            i = j + 1
            continue
        if stripped.startswith("$$") and not (stripped.endswith("$$") and len(stripped) > 4):
            j = i + 1
            while not lines[j].strip().startswith("$$"):
                j += 1
            units["formula"].append("\n".join(lines[i + 1 : j]))
            i = j + 1
            continue
        if stripped.startswith("$$"):  # one-line display formula
            units["formula"].append(stripped[2:-2])
        elif stripped == "---":
            units["rule"].append(stripped)
        elif stripped in IMAGE_LINES:
            units["image"].append(stripped)
        elif stripped:
            units["text"].append(stripped)
        i += 1
    return units


LINK = re.compile(r"\[((?:[^\[\]]|\[[^\[\]]*\])*)\]\([^()\s]*\)")


def norm(markdown: str) -> str:
    """Markdown reduced to its words, for comparing seed and page text."""
    text = re.sub(r"\s*\{#[^}]*\}", "", markdown)
    text = LINK.sub(r"\1", text)
    text = re.sub(r"(?m)^\s*(?:#+|[-*+]|\d+\.|>)(?=\s)", "", text)
    text = re.sub(r"(?m)^\s*>\s?", "", text)
    text = text.replace("**", "").replace("~~", "")
    text = re.sub(r"\\([\[\]*_~`#])", r"\1", text)
    return re.sub(r"\s+", "", text)


def norm_formula(tex: str) -> str:
    tex = re.sub(r"\\(begin|end)\{(aligned|gathered)\}", "", tex)
    return re.sub(r"\s+|&", "", tex)


# --------------------------------------------------------------------------
# The pages: language blocks in the source, pairs in the rendered HTML
# --------------------------------------------------------------------------

OPEN_LANG = re.compile(r'^(\s*)<div lang="(zh|en)" markdown>\s*$')


TITLE = re.compile(r"^# (?P<zh>.+?) · (?P<en>.+?)(?:\s*\{#[^}]*\})?\s*$")


def lang_blocks(source: str) -> list[tuple[str, str]]:
    """``(lang, markdown)`` for every ``<div lang=…>`` block of a page source, in order.

    A page's title is its one H1, outside the blocks and bilingual
    (``# 中文 · English {#id}``): it yields a ``zh`` and an ``en`` block too.
    """
    blocks, lines, i = [], source.split("\n"), 0
    while i < len(lines):
        title = TITLE.match(lines[i])
        if title:
            blocks += [("zh", title.group("zh")), ("en", title.group("en"))]
        match = OPEN_LANG.match(lines[i])
        if not match:
            i += 1
            continue
        indent, lang, depth, body = len(match.group(1)), match.group(2), 1, []
        i += 1
        while i < len(lines):
            line = lines[i]
            depth += len(re.findall(r"<div\b", line)) - len(re.findall(r"</div>", line))
            if depth == 0:
                break
            body.append(line[indent:] if line[:indent].strip() == "" else line)
            i += 1
        blocks.append((lang, "\n".join(body)))
        i += 1
    return blocks


def page_source(page: str) -> str:
    return (ROOT / page).read_text(encoding="utf-8")


def expanded(page: str) -> str:
    return docharness.expand_includes(page_source(page), docharness.snippets_options())


def render(page: str) -> str:
    """A page rendered with the Markdown extensions of mkdocs.yml (includes too)."""
    import markdown

    extensions, configs = [], {}
    for ext in docharness.mkdocs_config().get("markdown_extensions", []):
        name, options = (next(iter(ext.items())) if isinstance(ext, dict) else (ext, None))
        extensions.append(name)
        if options:
            configs[name] = dict(options)
    configs["pymdownx.snippets"] = docharness.snippets_options()
    md = markdown.Markdown(extensions=extensions, extension_configs=configs)
    return md.convert(page_source(page))


class Pairs(HTMLParser):
    """Collects every div.bi with its element children (tag, lang, text, heading ids)."""

    VOID = {"br", "hr", "img", "input", "meta", "link", "wbr", "col", "area", "source"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[dict] = []
        self.pairs: list[list[dict]] = []
        self.headings: list[tuple[str, str]] = []  # (id, lang of enclosing block)
        self.dels: list[str] = []
        self._del_depth = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        node = {"tag": tag, "attrs": attrs, "children": [], "text": []}
        if self.stack:
            self.stack[-1]["children"].append(node)
        if tag == "div" and "bi" in (attrs.get("class") or "").split():
            self.pairs.append(node["children"])
        if re.fullmatch(r"h[1-6]", tag) and attrs.get("id"):
            self.headings.append((attrs["id"], self._lang()))
        if tag == "del":
            self._del_depth += 1
            self.dels.append("")
        if tag not in self.VOID:
            self.stack.append(node)

    def handle_endtag(self, tag):
        if tag == "del":
            self._del_depth -= 1
        while self.stack:
            node = self.stack.pop()
            if node["tag"] == tag:
                break

    def handle_data(self, data):
        for node in self.stack:
            node["text"].append(data)
        if self._del_depth:
            self.dels[-1] += data

    def _lang(self) -> str | None:
        for node in reversed(self.stack):
            if "lang" in node["attrs"]:
                return node["attrs"]["lang"]
        return None


def parse(html: str) -> Pairs:
    parser = Pairs()
    parser.feed(html)
    return parser


# --------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------


def zh_text() -> str:
    return "".join(norm(md) for page in PAGES for lang, md in lang_blocks(page_source(page))
                   if lang == "zh")


@pytest.mark.skipif(not ORIGINAL.exists(), reason=f"{ORIGINAL} not on this machine")
def test_fixture_is_the_seed():
    assert SEED.read_bytes() == ORIGINAL.read_bytes()


def test_every_seed_unit_is_on_the_pages_in_order():
    units = seed_units(seed_text())["text"]
    haystack, position, missing, out_of_order = zh_text(), 0, [], []
    for unit in units:
        needle = norm(unit)
        found = haystack.find(needle, position)
        if found < 0:
            (out_of_order if needle in haystack else missing).append(unit)
        else:
            position = found + len(needle)
    assert not missing, "seed text missing from the Chinese blocks:\n" + "\n".join(missing)
    assert not out_of_order, "seed text out of order:\n" + "\n".join(out_of_order)


def test_only_images_are_left_out_and_none_is_hotlinked():
    units = seed_units(seed_text())
    assert sorted(units["image"]) == sorted(IMAGE_LINES), "IMAGE_LINES must list the seed's images"
    for page in PAGES + OTHER_BILINGUAL:
        source = page_source(page)
        assert not re.search(r"!\[[^\]]*\]\(\s*https?:", source), f"{page} hotlinks an image"
        assert not re.search(r"<img[^>]+src=[\"']https?:", source), f"{page} hotlinks an image"
        for host in ("hdslb.com", "zh.d2l.ai/_images", "theaisummer.com/static"):
            assert host not in source, f"{page} still points at {host}"


def test_struck_paragraph_stays_struck():
    struck = next(u for u in seed_units(seed_text())["text"] if u.startswith("~~"))
    dels = [norm(d) for page in PAGES for d in parse(render(page)).dels]
    assert norm(struck) in dels, "the note's struck-through paragraph is not struck through"


def test_every_seed_formula_is_on_the_pages():
    page_formulas = "\n".join(norm_formula(expanded(page)) for page in PAGES)
    missing = [f for f in seed_units(seed_text())["formula"] if norm_formula(f) not in page_formulas]
    assert not missing, "formulas missing:\n" + "\n---\n".join(missing)


def test_every_seed_code_line_is_on_the_pages():
    code = "\n".join(expanded(page) for page in PAGES)
    missing = []
    for listing in seed_units(seed_text())["code"]:
        for line in listing.split("\n"):
            line = line.strip()
            if not line:
                continue
            if line in REPLACED_CODE:
                assert REPLACED_CODE[line] in code
                continue
            if line not in code:
                missing.append(line)
    assert not missing, "seed code missing from the pages:\n" + "\n".join(missing)


@pytest.mark.parametrize("page", PAGES + OTHER_BILINGUAL)
def test_every_pair_is_zh_then_en(page):
    html = render(page)
    assert "markdown=" not in html and "&lt;div" not in html, f"{page}: a block was not rendered"
    parsed = parse(html)
    assert parsed.pairs, f"{page} has no bilingual blocks"
    for children in parsed.pairs:
        langs = [(c["tag"], c["attrs"].get("lang")) for c in children]
        assert langs == [("div", "zh"), ("div", "en")], f"{page}: a bi block holds {langs}"
        for child in children:
            assert "".join(child["text"]).strip(), f"{page}: an empty {child['attrs']['lang']} block"
    ids = {hid: lang for hid, lang in parsed.headings}
    titles = [hid for hid, lang in parsed.headings if lang is None]
    assert len(titles) == 1, f"{page}: headings outside language blocks: {titles}"
    assert TITLE.match(page_source(page).split("\n")[0]), f"{page}: first line must be '# 中文 · English'"
    for hid, lang in parsed.headings:
        if lang is None:
            continue  # the page title, bilingual in itself
        if lang == "zh":
            assert ids.get(hid + "-en") == "en", f"{page}: heading #{hid} has no English twin #{hid}-en"
        else:
            assert hid.endswith("-en") and ids.get(hid[:-3]) == "zh", f"{page}: #{hid} has no Chinese twin"


# --------------------------------------------------------------------------
# Translation and editing: regressions found by reading the pairs (issue 20)
# --------------------------------------------------------------------------

#: Pages whose prose the checks below cover (the chapter and the pages that repeat its points).
EDITED = PAGES + ["docs/notes/glossary.md", "docs/index.md", "docs/reference/errata.md",
                  "docs/reference/sync-bn.md", "docs/reference/family.md"]


def pairs_of(page: str) -> list[tuple[str, str]]:
    blocks = [b for b in lang_blocks(page_source(page))]
    return [(blocks[i][1], blocks[i + 1][1]) for i in range(0, len(blocks) - 1, 2)
            if blocks[i][0] == "zh" and blocks[i + 1][0] == "en"]


@pytest.mark.parametrize("page", PAGES)
def test_editor_text_is_marked_on_both_sides(page):
    """An editor's remark inside a pair is marked in both languages, or in neither:
    no "(see the editor's note ...)" slipped into a translation."""
    for zh, en in pairs_of(page):
        assert ("编者" in zh) == ("editor" in en.lower()), f"{page}: unmatched editor mark in\n{en[:200]}"


def test_translation_says_what_the_note_says():
    en = {page: "\n".join(e for _, e in pairs_of(page)) for page in PAGES}
    chapter = en["docs/notes/index.md"]
    # 正数 is "positive", 较快 "relatively fast", 一般不改变模型的精度 has no "final"
    assert "map the data to positive numbers" in chapter and "non-negative values, which" not in chapter
    assert "train relatively fast" in chapter and "learn fastest" not in chapter
    assert "usually does not change the model's accuracy" in chapter
    assert "(because a larger learning rate can be used" in chapter
    kalman = en["docs/notes/kalman.md"]
    assert "Click the picture below" in kalman and "no longer matters" in kalman
    assert "coefficient × (current measurement" in kalman
    assert "puts the gradients of the corresponding layer" in en["docs/notes/references.md"]


@pytest.mark.parametrize("page", EDITED)
def test_terms_are_consistent(page):
    source = page_source(page)
    # "running average" was used both for the 1/k mean and for PyTorch's EMA
    assert "running average" not in source.lower() and "running-average" not in source.lower()
    # one notation for the batch mean: mu_B, as in the note
    assert r"\hat\mu_{\mathcal B}" not in source
    assert "7 to 9" not in source and "7 到 9" not in source
    # d2l's momentum 0.9 is the Chinese edition's (and English d2l before 1.0) convention, or
    # the English edition's at a named revision (0010d69, before d2l-ai/d2l-en#2213)
    for line in source.splitlines():
        if "d2l" in line and "0.9" in line:
            assert any(mark in line for mark in ("1.0", "中文版", "Chinese", "0010d69")), \
                f"{page}: {line[:160]}"


@pytest.mark.parametrize("page", PAGES)
def test_titles_and_captions_follow_the_reading_mode(page):
    """Admonition titles and figure captions are inline pairs (hidden by language),
    and no code title mixes the two languages (a title attribute cannot be split)."""
    source = page_source(page)
    for title in re.findall(r'<p class="admonition-title"[^>]*>(.*?)</p>', source):
        assert title.startswith('<span class="bi-inline"><span lang="zh">'), title
    for caption in re.findall(r"<figcaption[^>]*>(.*?)</figcaption>", source):
        assert caption.startswith('<span class="bi-inline"><span lang="zh">'), caption
    assert not re.search(r'title="[^"]*[\u4e00-\u9fff]', source), f"{page}: a Chinese code title"
    # every figure sits in a <figure> with such a caption
    lines = source.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("!["):
            assert lines[i - 1].startswith("<figure") and lines[i + 1].startswith("<figcaption"), \
                f"{page}: a figure without a caption: {line[:80]}"


def counts() -> dict[str, object]:
    units = seed_units(seed_text())
    haystack = zh_text()
    found = sum(norm(u) in haystack for u in units["text"])
    zh = en = 0
    for page in PAGES:
        for lang, _ in lang_blocks(page_source(page)):
            zh, en = zh + (lang == "zh"), en + (lang == "en")
    pages = "\n".join(page_source(p) for p in PAGES)
    lines = [line.strip() for line in pages.split("\n")]
    display = sum(line == "$$" for line in lines) // 2
    display += sum(line.startswith("$$") and line.endswith("$$") and len(line) > 4 for line in lines)
    figures = re.findall(r"!\[[^\]]*\]\((?:\.\./)?figures/([^)\s]+)", pages)
    pending = re.findall(r"<!-- figure: (\S+) -->", pages)
    return {
        "seed text units found / total": f"{found} / {len(units['text'])}",
        "seed formulas": len(units["formula"]),
        "seed listings": len(units["code"]),
        "seed images (replaced)": len(units["image"]),
        "zh blocks / en blocks": f"{zh} / {en}",
        "display formulas on the pages": display,
        "figures referenced": sorted(set(figures)),
        "figure markers pending": pending,
    }


def test_report_counts(capsys):
    result = counts()
    with capsys.disabled():
        print()
        for key, value in result.items():
            print(f"  {key}: {value}")
    zh, en = (int(x) for x in result["zh blocks / en blocks"].split(" / "))
    assert zh == en


if __name__ == "__main__":
    for key, value in counts().items():
        print(f"{key}: {value}")
