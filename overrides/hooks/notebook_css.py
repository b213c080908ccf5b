"""MkDocs hook: a notebook page carries only the notebook CSS it uses.

mkdocs-jupyter's page template inlines JupyterLab's whole stylesheet (about
575 KB: every widget, menu and dialog of JupyterLab) into each notebook page,
which made the notebook page the heaviest of the site for the reader's phone
(``.ci/lighthouse``). The page uses a few dozen of its classes: code cells,
prompts and outputs.

This hook rewrites the inline ``<style type="text/css">`` blocks of a notebook
page only, keeping:

* every rule one of whose selectors can match this page: each class the
  selector requires appears in the page's HTML (classes inside ``:not()``,
  ``:is()``, ``:where()`` and ``:has()`` are not required, so such a rule is
  kept); no script of this site gives an element one of Jupyter's classes;
* every rule without a class (``pre``, ``table``: as before, they apply);
* ``@keyframes`` and the other at-rules as they are, ``@media`` and
  ``@supports`` filtered like the top level;
* of the custom properties (``--jp-…``), those a kept declaration reads,
  directly or through another property.

Nothing is added or reordered, so whatever was kept cascades as before;
tests/site/test_notebook_css.py checks, in Chromium, that every element of a
notebook with each kind of cell and output has the same computed style with
the trimmed stylesheets as with the full ones.
"""

from __future__ import annotations

import re

import tinycss2

STYLE = re.compile(r'<style type="text/css">(.*?)</style>', re.DOTALL)
CLASS_ATTR = re.compile(r'\bclass="([^"]*)"')
SELECTOR_CLASS = re.compile(r"\.(-?[_a-zA-Z][\w-]*)")
NOT = re.compile(r":(?:not|is|where|has)\((?:[^()]|\([^()]*\))*\)")
VAR = re.compile(r"var\(\s*(--[\w-]+)")


def page_classes(html: str) -> set[str]:
    return {name for value in CLASS_ATTR.findall(html) for name in value.split()}


def can_match(selector: str, classes: set[str]) -> bool:
    required = SELECTOR_CLASS.findall(NOT.sub("", selector))
    return all(name in classes for name in required)


def _rules(css_or_tokens):
    if isinstance(css_or_tokens, str):
        return tinycss2.parse_stylesheet(css_or_tokens, skip_comments=True, skip_whitespace=True)
    return tinycss2.parse_rule_list(css_or_tokens, skip_comments=True, skip_whitespace=True)


def _selectors(prelude) -> list[str]:
    """A selector list split at its top-level commas (not those inside ``:is(...)``)."""
    selectors, current = [], []
    for token in prelude:
        if token.type == "literal" and token.value == ",":
            selectors.append(current)
            current = []
        else:
            current.append(token)
    selectors.append(current)
    return [tinycss2.serialize(tokens).strip() for tokens in selectors]


def _declarations(content) -> list[tuple[str, str]]:
    parsed = tinycss2.parse_blocks_contents(content, skip_comments=True, skip_whitespace=True)
    return [(d.name, tinycss2.serialize(d.value).strip() + (" !important" if d.important else ""))
            for d in parsed if d.type == "declaration"]


def _kept(rules, classes: set[str]) -> list:
    """The rules (qualified, or nested in @media/@supports) that can match this page."""
    out = []
    for rule in rules:
        if rule.type == "qualified-rule":
            selectors = _selectors(rule.prelude)
            matching = [s for s in selectors if can_match(s, classes)]
            if matching:
                out.append(("rule", ", ".join(matching), _declarations(rule.content)))
        elif rule.type == "at-rule" and rule.lower_at_keyword in ("media", "supports"):
            inner = _kept(_rules(rule.content or []), classes)
            if inner:
                out.append(("group", f"@{rule.at_keyword}{tinycss2.serialize(rule.prelude)}", inner))
        elif rule.type == "at-rule" and rule.lower_at_keyword != "charset":
            out.append(("raw", tinycss2.serialize([rule]), None))
    return out


def _walk(kept):
    """The declarations of every kept rule, nested ones included."""
    for kind, _, body in kept:
        if kind == "rule":
            yield body
        elif kind == "group":
            yield from _walk(body)


def _used_properties(blocks, html: str) -> set[str]:
    """Custom properties read by a kept declaration of any block, or by the page's own
    ``style`` attributes, directly or through other properties."""
    defined: dict[str, list[str]] = {}
    used: set[str] = set(VAR.findall(html))
    for kept in blocks:
        for declarations in _walk(kept):
            for name, value in declarations:
                if name.startswith("--"):
                    defined.setdefault(name, []).append(value)
                else:
                    used.update(VAR.findall(value))
    pending = list(used)
    while pending:
        for value in defined.get(pending.pop(), []):
            for name in VAR.findall(value):
                if name not in used:
                    used.add(name)
                    pending.append(name)
    return used


def _write(kept, used: set[str]) -> str:
    parts = []
    for kind, head, body in kept:
        if kind == "raw":
            parts.append(head)
        elif kind == "group":
            inner = _write(body, used)
            if inner:
                parts.append(f"{head}{{{inner}}}")
        else:
            declarations = [f"{name}:{value}" for name, value in body
                            if not name.startswith("--") or name in used]
            if declarations:
                parts.append(f"{head}{{{';'.join(declarations)}}}")
    return "".join(parts)


def trim(css: str, classes: set[str]) -> str:
    """``css`` alone, without the rules and custom properties that cannot apply to a page
    with ``classes``."""
    kept = _kept(_rules(css), classes)
    return _write(kept, _used_properties([kept], ""))


def trim_page(html: str) -> str:
    """``html`` with each inline stylesheet reduced to what can apply to this page."""
    classes = page_classes(html)
    blocks = [_kept(_rules(m.group(1)), classes) for m in STYLE.finditer(html)]
    used = _used_properties(blocks, STYLE.sub("", html))
    written = iter([_write(kept, used) for kept in blocks])
    return STYLE.sub(lambda m: f'<style type="text/css">{next(written)}</style>', html)


def on_post_page(output: str, page, config) -> str:
    if getattr(page, "nb_url", None) is None:  # set by mkdocs-jupyter on notebook pages
        return output
    return trim_page(output)
