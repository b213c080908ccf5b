"""overrides/hooks/heading_blocks.py: a bilingual block that opens with a heading pair becomes two."""

from __future__ import annotations

import sys

from browser_support import ROOT

sys.path.insert(0, str(ROOT / "overrides" / "hooks"))
import heading_blocks  # noqa: E402

SECTION = ('<div class="bi">\n<div lang="zh">\n<h2 id="a">甲</h2>\n<p>一</p>\n</div>\n'
           '<div lang="en">\n<h2 id="a-en">A</h2>\n<p>one</p>\n<p>two<br>lines</p>\n</div>\n</div>')


def test_the_heading_pair_gets_a_block_and_the_text_another():
    html = "<p>before</p>\n" + SECTION + "\n<p>after</p>"
    assert heading_blocks.split_headings(html) == (
        "<p>before</p>\n"
        '<div class="bi bi-heading"><div lang="zh">\n<h2 id="a">甲</h2></div>'
        '<div lang="en">\n<h2 id="a-en">A</h2></div>\n</div>'
        '<div class="bi"><div lang="zh">\n<p>一</p>\n</div>'
        '<div lang="en">\n<p>one</p>\n<p>two<br>lines</p>\n</div>\n</div>'
        "\n<p>after</p>")


def test_other_blocks_are_left_as_they_are():
    unchanged = [
        # a heading pair with nothing after it
        '<div class="bi"><div lang="zh"><h2>甲</h2></div><div lang="en"><h2>A</h2></div></div>',
        # text first
        '<div class="bi"><div lang="zh"><p>一</p><h2>甲</h2></div>'
        '<div lang="en"><p>one</p><h2>A</h2></div></div>',
        # a heading in one half only
        '<div class="bi"><div lang="zh"><h2>甲</h2><p>一</p></div><div lang="en"><p>one</p></div></div>',
        # not at the top level (inside an admonition)
        '<div class="admonition">' + SECTION + "</div>",
        # not a bilingual block
        '<div class="doc"><h3 id="x">x</h3><p>y</p></div>',
    ]
    for html in unchanged:
        assert heading_blocks.split_headings(html) == html


def test_two_sections_in_a_row_are_both_split():
    out = heading_blocks.split_headings(SECTION + "\n" + SECTION)
    assert out.count('class="bi bi-heading"') == 2 and out.count('class="bi"') == 2


def test_a_content_wrapped_in_a_document_is_split_the_same():
    wrapped = "<html><head></head><body>" + SECTION + "</body></html>"
    assert heading_blocks.split_headings(wrapped) == (
        "<html><head></head><body>" + heading_blocks.split_headings(SECTION) + "</body></html>")
    assert "bi-heading" in heading_blocks.split_headings(wrapped)
