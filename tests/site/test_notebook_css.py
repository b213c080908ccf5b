"""The notebook page's weight and layout: only the CSS it uses, and plots that keep their place.

overrides/hooks/notebook_css.py trims the stylesheets; overrides/hooks/page_speed.py sizes
the inline images.

A small notebook with every kind of cell and output the site's notebook has
(markdown, code, printed text, a value, an image, a table) goes through
mkdocs-jupyter's own converter, which inlines JupyterLab's whole stylesheet.
Chromium then lays the page out twice, with the full and with the trimmed
stylesheets, and every element of the notebook must have the same computed
style both times.
"""

from __future__ import annotations

import base64
import sys

import pytest

from browser_support import ROOT, browser_missing

sys.path.insert(0, str(ROOT / "overrides" / "hooks"))
import notebook_css  # noqa: E402

# a 1×1 PNG
PIXEL = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201a5d1a8"
    "7b0000000049454e44ae426082")).decode()


def notebook(path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# A notebook\n\nSome *text*, `code` and a list:\n\n- one"),
        nbformat.v4.new_code_cell("print('hello')\n1 + 1", execution_count=1, outputs=[
            nbformat.v4.new_output("stream", name="stdout", text="hello\n"),
            nbformat.v4.new_output("execute_result", data={"text/plain": "2"}, execution_count=1),
        ]),
        nbformat.v4.new_code_cell("show()", execution_count=2, outputs=[
            nbformat.v4.new_output("display_data", data={"image/png": PIXEL, "text/plain": "<Figure>"}),
            nbformat.v4.new_output("display_data", data={
                "text/html": "<table><tr><th>a</th></tr><tr><td>1</td></tr></table>",
                "text/plain": "a 1"}),
        ]),
        nbformat.v4.new_code_cell("x = 1", execution_count=3),
    ]
    nbformat.write(nb, path)
    return path


def test_a_selector_needs_every_class_it_requires_outside_not():
    classes = {"jp-Cell", "jp-OutputArea"}
    assert notebook_css.can_match(".jp-Cell .jp-OutputArea > pre", classes)
    assert notebook_css.can_match(".jp-Cell:not(.jp-mod-hidden)", classes)
    assert notebook_css.can_match("table", classes)
    assert not notebook_css.can_match(".jp-Cell.jp-mod-active", classes)
    assert not notebook_css.can_match(".jp-Dialog .jp-Cell", classes)


def test_unused_custom_properties_go_and_those_read_through_others_stay():
    css = (".a{--x:1px;--y:var(--x);--z:3px;color:red;margin:var(--y)}"
           ".gone{--w:var(--z);color:blue}")
    trimmed = notebook_css.trim(css, {"a"})
    assert trimmed == ".a{--x:1px;--y:var(--x);color:red;margin:var(--y)}"


@pytest.mark.browser
@pytest.mark.skipif(browser_missing() is not None, reason=str(browser_missing()))
def test_the_trimmed_stylesheet_styles_the_notebook_as_the_full_one(tmp_path, chromium):
    from mkdocs_jupyter.nbconvert2 import nb2html

    full = nb2html(str(notebook(tmp_path / "n.ipynb")))
    trimmed = notebook_css.trim_page(full)
    assert len(trimmed) < len(full) / 10, (len(trimmed), len(full))
    styles = """() => [...document.querySelectorAll('.jupyter-wrapper, .jupyter-wrapper *')]
        .map(e => { const s = getComputedStyle(e);
                    return [e.tagName, e.getAttribute('class') || '', [...s].filter(p => !p.startsWith('--')).map(p => p + ':' + s.getPropertyValue(p))]; })"""
    page = chromium.new_page()
    try:
        page.set_content(full)
        before = page.evaluate(styles)
        page.set_content(trimmed)
        after = page.evaluate(styles)
    finally:
        page.close()
    kinds = {cls for _, classes, _ in before for cls in classes.split()}
    assert {"jp-OutputArea-output", "jp-RenderedImage", "jp-RenderedHTMLCommon",
            "jp-InputPrompt", "jp-OutputPrompt", "jp-MarkdownCell"} <= kinds
    assert len(before) == len(after) > 20
    for (tag, classes, want), (_, _, got) in zip(before, after):
        differ = sorted(set(want) ^ set(got))
        assert not differ, f"<{tag} class='{classes}'>: {differ[:6]}"


def test_an_inline_png_gets_its_own_size_so_the_lazy_image_keeps_its_place():
    import page_speed

    html = page_speed.on_page_content(
        f'<p><img alt="plot" src="data:image/png;base64,{PIXEL}"></p>'
        f'<img width="9" src="data:image/png;base64,{PIXEL}"><img src="figure.svg">',
        page=None, config=None, files=None)
    assert html == (
        f'<p><img width="1" height="1" loading="lazy" decoding="async" alt="plot" '
        f'src="data:image/png;base64,{PIXEL}"></p>'
        f'<img loading="lazy" decoding="async" width="9" src="data:image/png;base64,{PIXEL}">'
        '<img loading="lazy" decoding="async" src="figure.svg">')
