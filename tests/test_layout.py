"""The package's rooms, as rules a newcomer can rely on.

* ``bnref.norm`` (the reference) imports nothing from ``bnref.speed`` or
  ``bnref.experiments``, and ``import bnref`` loads neither;
* the library never imports the commands (``bnref.experiments``);
* a faster layer changes only its ``function``, never ``forward``;
* no Python file is much over 400 lines;
* measured timings live in ``src/bnref/results`` and on pages, not in docstrings.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import bnref
from bnref.speed import IMPLEMENTATIONS

SRC = Path(bnref.__file__).parent
LIBRARY = [p for p in SRC.rglob("*.py") if "experiments" not in p.relative_to(SRC).parts
           and p.name != "__main__.py"]


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


@pytest.mark.parametrize("path", sorted((SRC / "norm").glob("*.py")), ids=lambda p: p.name)
def test_the_reference_imports_no_speed_or_experiment_code(path):
    bad = {m for m in imported_modules(path)
           if m.startswith(("bnref.speed", "bnref.experiments"))}
    assert not bad, f"{path.name} imports {sorted(bad)}"


@pytest.mark.parametrize("path", sorted(LIBRARY), ids=lambda p: str(p.relative_to(SRC)))
def test_the_library_never_imports_the_commands(path):
    bad = {m for m in imported_modules(path) if m.startswith("bnref.experiments")}
    assert not bad, f"{path.relative_to(SRC)} imports {sorted(bad)}"


def test_import_bnref_loads_only_the_reference_and_its_neighbours():
    code = ("import sys, bnref; print(sorted(m for m in sys.modules "
            "if m.startswith(('bnref.speed', 'bnref.experiments'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_registered_layer_changes_only_its_function():
    from bnref import BatchNorm, SyncBatchNorm
    from bnref.speed.fused import BatchNormSigmoid, BatchNormSigmoidMaxPool2x2

    layers = [i.load()[1] for i in IMPLEMENTATIONS.values()]
    layers += [SyncBatchNorm, BatchNormSigmoid, BatchNormSigmoidMaxPool2x2]
    for layer in layers:
        assert issubclass(layer, BatchNorm)
        for cls in layer.__mro__[: layer.__mro__.index(BatchNorm)]:
            assert "forward" not in vars(cls), f"{cls.__name__} rewrites forward"
    assert {i.load()[1].function for i in IMPLEMENTATIONS.values()} == {
        staticmethod(i.load()[0]).__func__ for i in IMPLEMENTATIONS.values()}


@pytest.mark.parametrize("path", sorted(SRC.rglob("*.py")), ids=lambda p: str(p.relative_to(SRC)))
def test_no_python_file_is_over_400_lines(path):
    assert len(path.read_text(encoding="utf-8").splitlines()) <= 400


def test_no_measured_timings_in_the_source():
    timing = re.compile(r"\b\d+(\.\d+)?\s?(ms|µs|us)\b|examples/sec\)?\s*\d|EPYC|Xeon")
    found = [f"{p.relative_to(SRC)}:{i}: {line.strip()}"
             for p in SRC.rglob("*.py")
             for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1)
             if timing.search(line) and "f\"" not in line and "print" not in line]
    assert not found, "\n".join(found)
