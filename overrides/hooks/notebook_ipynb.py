"""MkDocs hook: each notebook page offers its notebook as ``.ipynb``.

mkdocs-jupyter's ``include_source`` copies the jupytext source
(``docs/notebooks/x.py``) next to the rendered page; readers who use Jupyter
want an ``.ipynb``. After the build this hook converts every source that
mkdocs-jupyter included (``notebooks/*.py``) with jupytext and writes
``<site>/notebooks/x/x.ipynb``, without outputs: the page shows the outputs
of the build's own run, and the reader's run makes their own. The download
button is in ``overrides/partials/actions.html``.
"""

from __future__ import annotations

from pathlib import Path

import jupytext


def on_post_build(config, **kwargs) -> None:
    docs = Path(config["docs_dir"])
    site = Path(config["site_dir"])
    for source in sorted((docs / "notebooks").glob("*.py")):
        notebook = jupytext.read(source)
        target = site / "notebooks" / source.stem / f"{source.stem}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        jupytext.write(notebook, target, fmt="ipynb")
