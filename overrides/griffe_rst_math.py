"""A griffe extension: reST math and roles in bnref's docstrings, as Markdown.

bnref's docstrings are Google style with reST-flavoured math, readable in
``help()`` and in Sphinx alike::

    .. math::

        y = \\gamma\\,\\frac{x-\\hat\\mu}{\\sqrt{\\hat\\sigma^2+\\epsilon}} + \\beta

and inline ``:math:`\\gamma```, ``:func:`batch_norm```. mkdocstrings renders
docstrings as Markdown, where a ``.. math::`` block would be an indented code
block and a role would be literal text. Before rendering, this extension
rewrites them to what ``pymdownx.arithmatex`` typesets on every other page:

* ``.. math::`` + indented block  ->  ``$$`` block ``$$``
* ``:math:`x```                    ->  ``\\(x\\)``
* ``:func:`x```, ``:class:`~a.b``` ... ->  the code span ```x``` / ```b```

Loaded by mkdocs.yml (mkdocstrings handler option ``extensions``); nothing
else imports it.
"""

from __future__ import annotations

import re

import griffe

MATH_ROLE = re.compile(r":math:`([^`]+)`")
CODE_ROLE = re.compile(r":(?:func|class|meth|attr|mod|data|obj|exc):`~?([^`]+)`")


def _short(name: str, tilde: bool) -> str:
    return name.rsplit(".", 1)[-1] if tilde else name


def rst_to_markdown(text: str) -> str:
    """Rewrite ``.. math::`` blocks and inline roles of one docstring."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        directive = re.match(r"^(\s*)\.\. math::\s*$", line)
        if not directive:
            out.append(line)
            i += 1
            continue
        indent = directive.group(1)
        i += 1
        body: list[str] = []
        # The block: blank lines, then lines indented deeper than the directive.
        while i < len(lines) and (not lines[i].strip() or
                                  len(lines[i]) - len(lines[i].lstrip()) > len(indent)):
            body.append(lines[i])
            i += 1
        while body and not body[-1].strip():
            body.pop()
        formula = [b.strip() for b in body if b.strip()]
        out.extend([f"{indent}$$", *(indent + f for f in formula), f"{indent}$$", ""])
    text = "\n".join(out)
    text = MATH_ROLE.sub(lambda m: rf"\({m.group(1)}\)", text)

    def code(m: re.Match) -> str:
        whole = m.group(0)
        return f"`{_short(m.group(1), '`~' in whole)}`"

    return CODE_ROLE.sub(code, text)


class RstMath(griffe.Extension):
    """Apply :func:`rst_to_markdown` to every docstring griffe loads."""

    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rst_to_markdown(obj.docstring.value)
