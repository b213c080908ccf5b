"""MkDocs hook: the site serves the moving-statistics results file to the page's explorer.

``docs/javascripts/moving-statistics.js`` draws the explorer of
``docs/experiments/moving-statistics.md`` from ``data/moving-statistics.json``. That file is
not kept under ``docs/``: at every build this hook adds it to the site from the committed
results file, ``src/bnref/results/moving-statistics-cpu.json`` (written by ``python -m bnref
moving-statistics``), parsed and written again without indentation: the same JSON value,
less whitespace. So the results file stays the one source of the numbers the explorer shows,
as it is for the numbers the page's code prints, and a rerun of the command changes both at
the next build. ``mkdocs serve`` rebuilds when the results file changes.

A build without the results file fails (strict or not): the page would show no explorer.
"""

from __future__ import annotations

import json
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

SOURCE = Path("src") / "bnref" / "results" / "moving-statistics-cpu.json"
#: where the site serves it (the explorer's script finds it relative to its own address)
TARGET = "data/moving-statistics.json"


def _source(config) -> Path:
    return Path(config.config_file_path).resolve().parent / SOURCE


def site_data(source: Path) -> str:
    """The served file's text: the results file's JSON value, without whitespace."""
    data = json.loads(source.read_text(encoding="utf-8"))
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def on_files(files, config):
    source = _source(config)
    if not source.is_file():
        raise PluginError(f"{source} is missing: the moving-statistics explorer is drawn from it "
                          f"(python -m bnref moving-statistics writes it)")
    files.append(File.generated(config, TARGET, content=site_data(source)))
    return files


def on_serve(server, config, builder):
    server.watch(str(_source(config)))
    return server
