"""The committed results, shipped with the package: one JSON file per command.

Every number the site prints comes from one of these files (each holds the
command that made it, and per run the machine, versions, commit and seconds),
read by the printers of :mod:`bnref.experiments.report.pages`. They install with
``pip install``, so a page's code prints the page's numbers in any folder;
in a checkout they are ``src/bnref/results/``, the one copy the site, the
package and the tests read. Inside a checkout the commands write here; anywhere
else to ``./bnref-results/``, or to ``--out``.

Examples:
    >>> from bnref import results
    >>> results.path("lr-sweep-cpu.json").name
    'lr-sweep-cpu.json'
    >>> "reproduce-cpu.json" in results.names()
    True
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["folder", "names", "paths", "path"]


def folder() -> Path:
    """The folder the shipped results are in."""
    return Path(str(resources.files(__name__)))


def names() -> list[str]:
    """The names of the shipped results files, sorted."""
    return sorted(p.name for p in folder().glob("*.json"))


def paths() -> list[Path]:
    """The shipped results files, sorted by name."""
    return sorted(folder().glob("*.json"))


def path(name: str) -> Path:
    """The shipped results file ``name``, e.g. ``"lr-sweep-cpu.json"``.

    Raises ``FileNotFoundError`` naming the files there are, when there is none of that name.
    """
    found = folder() / name
    if Path(name).name != name or not found.is_file():
        raise FileNotFoundError(f"no shipped results file {name!r}; there are: "
                                f"{', '.join(names())}")
    return found
