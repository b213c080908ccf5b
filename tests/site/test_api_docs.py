"""The API reference (docs/reference/api/*.md) and the docstrings it is made from.

* every public name of ``bnref`` (``bnref.__all__``, and the members of the
  ``bnref.d2l`` module it exports) has an entry on the API page;
* every normalization in the public API — the functional cores
  (``batch_norm``, ``layer_norm`` …) and their modules (``BatchNorm`` …) —
  states its formula in its docstring, in the project's convention: a reST
  ``.. math::`` block (readable in ``help()``), which the griffe extension
  ``overrides/griffe_rst_math.py`` turns into the ``$$ … $$`` block that
  arithmatex marks and KaTeX typesets at build time (tests/site/test_browser.py
  checks the typesetting itself);
* every argument a docstring documents exists in the signature (bnref writes
  related arguments together, ``gamma, beta: …``, so griffe's own check is
  switched off in mkdocs.yml and done here instead).
"""

from __future__ import annotations

import importlib.util
import inspect
import re

import pytest
from torch import nn

import bnref

from results_support import ROOT
API_PAGES = sorted((ROOT / "docs" / "reference" / "api").glob("*.md"))

_spec = importlib.util.spec_from_file_location("griffe_rst_math", ROOT / "overrides" / "griffe_rst_math.py")
griffe_rst_math = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(griffe_rst_math)


def public_objects() -> dict[str, object]:
    """``bnref.__all__`` with exported modules (``d2l``) replaced by their members."""
    found = {}
    for name in bnref.__all__:
        obj = getattr(bnref, name)
        if inspect.ismodule(obj):
            for member in obj.__all__:
                found[f"{name}.{member}"] = getattr(obj, member)
        else:
            found[name] = obj
    return found


def is_normalization(obj) -> bool:
    """A functional core (``*_norm``) or a module class (``*Norm``, an nn.Module)."""
    if inspect.isfunction(obj):  # lenet_norm builds a model: not a normalization
        return obj.__name__.endswith("_norm") and obj.__module__ != "bnref.models"
    return inspect.isclass(obj) and issubclass(obj, nn.Module) and obj.__name__.endswith("Norm")


NORMALIZATIONS = {name: obj for name, obj in public_objects().items() if is_normalization(obj)}


def documented_identifiers() -> list[str]:
    return [identifier for page in API_PAGES
            for identifier in re.findall(r"^::: ([\w.]+)", page.read_text(encoding="utf-8"),
                                         re.MULTILINE)]


def test_the_public_api_includes_the_normalizations():
    # The count grows as the family grows; batch_norm and BatchNorm are the core.
    assert {"batch_norm", "BatchNorm"} <= set(NORMALIZATIONS)


@pytest.mark.parametrize("name", sorted(public_objects()))
def test_every_public_name_is_on_the_api_page(name):
    obj = public_objects()[name]
    module = obj.__module__
    qualified = f"{module}.{obj.__name__}"
    identifiers = documented_identifiers()
    assert qualified in identifiers or module in identifiers, (
        f"bnref.{name} ({qualified}) has no `::: {qualified}` entry "
        f"(nor its module `::: {module}`) in docs/reference/api/"
    )


@pytest.mark.parametrize("name", sorted(NORMALIZATIONS))
def test_normalization_docstrings_state_their_formula(name):
    doc = inspect.getdoc(NORMALIZATIONS[name]) or ""
    assert ".. math::" in doc, (
        f"bnref.{name}'s docstring has no `.. math::` block with its formula"
    )
    rendered = griffe_rst_math.rst_to_markdown(doc)
    formulas = re.findall(r"^\s*\$\$\n(.*?)\n\s*\$\$", rendered, re.MULTILINE | re.DOTALL)
    assert formulas and all(f.strip() for f in formulas), "the formula block is empty"
    # An equation, with TeX in it: y = \gamma ... / \mu = \frac{...}
    assert any("=" in f and "\\" in f for f in formulas), formulas
    assert ".. math::" not in rendered and ":math:`" not in rendered


def test_rst_math_becomes_arithmatex_markdown():
    doc = "Intro :math:`\\gamma` and :func:`~bnref.batch_norm`.\n\n.. math::\n\n    y = x\n        + 1\n\nAfter."
    assert griffe_rst_math.rst_to_markdown(doc) == (
        "Intro \\(\\gamma\\) and `batch_norm`.\n\n$$\ny = x\n+ 1\n$$\n\nAfter."
    )


@pytest.mark.parametrize("name", sorted(n for n, o in public_objects().items() if callable(o)))
def test_documented_arguments_exist(name):
    import griffe

    obj = public_objects()[name]
    doc = inspect.getdoc(obj.__init__ if inspect.isclass(obj) else obj) or ""
    if inspect.isclass(obj):
        doc = (inspect.getdoc(obj) or "") + "\n\n" + doc
    signature = inspect.signature(obj)
    sections = griffe.Docstring(doc).parse(
        "google", warn_unknown_params=False, warn_missing_types=False
    )
    documented = [
        part.strip().lstrip("*")
        for section in sections if section.kind.value == "parameters"
        for param in section.value
        for part in param.name.split(",")
    ]
    unknown = [p for p in documented if p not in signature.parameters]
    assert unknown == [], f"bnref.{name} documents {unknown}, not in its signature {signature}"
