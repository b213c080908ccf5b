"""The package's rooms, as rules a newcomer can rely on.

* imports go one way: the library (``norm``, ``speed``, ``models``, ``d2l`` …) ←
  the experiment harness (``experiments.harness``) ← the commands
  (``experiments.commands``) ← the report (``experiments.report``: pages and
  figures, which read results files and the commands' declared settings);
* there is no import circle anywhere in ``src/bnref`` (every import counts, also
  those inside function bodies);
* an import of ``bnref`` inside a function body is deliberately lazy and says
  why (``# lazy: …``);
* ``bnref.norm`` (the reference) imports nothing from ``bnref.speed`` or
  ``bnref.experiments``, and ``import bnref`` loads neither;
* no ``nn.Module``, ``autograd.Function`` or BN arithmetic is defined under
  ``experiments/``; one writer of results files, one scoring function, one
  recalibration;
* a faster layer changes only its ``function``, never ``forward``;
* one idea per file: no Python file is over 400 lines (a longer one holds two ideas: split it
  where the imports still go one way);
* measured timings live in ``src/bnref/results`` and on pages, not in the source.
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
EXPERIMENTS = SRC / "experiments"
SOURCES = sorted(SRC.rglob("*.py"))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in SOURCES}


def imports(path: Path) -> list[tuple[ast.stmt, str, bool]]:
    """Each ``bnref`` import of ``path``: (node, the module it loads, inside a function?).

    ``from a.b import c`` loads ``a.b.c`` when that is a module, else ``a.b``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    in_function = {id(n) for f in ast.walk(tree)
                   if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                   for n in ast.walk(f)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES
                       else node.module for a in node.names]
        else:
            continue
        for target in targets:
            if target.split(".")[0] == "bnref":
                while target not in MODULES and "." in target:
                    target = target.rpartition(".")[0]
                found.append((node, target, id(node) in in_function))
    return found


GRAPH = {name: {t for _, t, _ in imports(path) if t != name} for name, path in MODULES.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while comp[-1:] != [v]:
                comp.append(stack.pop())
                on.discard(comp[-1])
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def room(module: str) -> int:
    """0 the library, 1 the harness, 2 the commands, 3 the report."""
    for prefix, floor in (("bnref.experiments.report", 3), ("bnref.experiments.commands", 2),
                          ("bnref.experiments.harness", 1), ("bnref.experiments", 1)):
        if module == prefix or module.startswith(prefix + "."):
            return floor
    return 0


def test_there_is_no_import_circle_anywhere():
    assert circles(GRAPH) == []


def test_the_circle_finder_finds_a_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [["a", "b", "c"]]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_go_one_way(module):
    """library <- harness <- commands <- report: no module imports from a room above its own
    (``__main__``, the command line, stands above them all)."""
    if module == "bnref.__main__":
        return
    up = sorted(t for t in GRAPH[module] if room(t) > room(module))
    assert not up, f"{module} (room {room(module)}) imports {up} from a room above"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(SRC)))
def test_an_import_inside_a_function_says_why_it_is_lazy(path):
    lines = path.read_text(encoding="utf-8").splitlines()
    unexplained = [f"{path.relative_to(SRC)}:{node.lineno}: {lines[node.lineno - 1].strip()}"
                   for node, _, inside in imports(path) if inside
                   and "# lazy" not in lines[node.lineno - 1]
                   and "# lazy:" not in lines[node.lineno - 2]]
    assert not unexplained, "\n".join(unexplained)


@pytest.mark.parametrize("path", sorted((SRC / "norm").glob("*.py")), ids=lambda p: p.name)
def test_the_reference_imports_no_speed_or_experiment_code(path):
    bad = {t for _, t, _ in imports(path) if t.startswith(("bnref.speed", "bnref.experiments"))}
    assert not bad, f"{path.name} imports {sorted(bad)}"


def test_import_bnref_loads_only_the_reference_and_its_neighbours():
    code = ("import sys, bnref; print(sorted(m for m in sys.modules "
            "if m.startswith(('bnref.speed', 'bnref.experiments'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _defined_under_experiments():
    for path in sorted(EXPERIMENTS.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bases = {ast.unparse(b) for b in node.bases}
                if bases & {"nn.Module", "torch.nn.Module", "Module", "BatchNorm",
                            "torch.autograd.Function", "autograd.Function", "Function"}:
                    yield f"{path.relative_to(SRC)}:{node.lineno}: class {node.name}"
            elif isinstance(node, ast.FunctionDef) and node.name.endswith("batch_norm"):
                yield f"{path.relative_to(SRC)}:{node.lineno}: def {node.name}"


def test_no_layer_or_bn_arithmetic_is_defined_under_experiments():
    """A BN variant or a layer is library code (``bnref.norm.variants``), held to the
    reference by its tests; the experiments only use it."""
    assert list(_defined_under_experiments()) == []


def _calls(name: str) -> list[str]:
    found = []
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        for i, line in enumerate(text.splitlines(), start=1):
            if re.search(name, line) and not line.lstrip().startswith(("#", ">>>", "...")):
                found.append(f"{path.relative_to(SRC)}:{i}")
    return found


def test_one_writer_of_results_files():
    """Every results file is written by ``record.write_json`` (atomic), nowhere else."""
    writers = [w for w in _calls(r"\.write_text\(json\.dumps|json\.dump\(")
               if not w.startswith("experiments/harness/record.py")]
    assert writers == []


def test_one_scoring_function_and_one_recalibration():
    """Test accuracy is scored by ``sweep.score`` (through d2l's ``evaluate_accuracy_gpu``), and
    moving statistics are re-estimated by ``bnref.recalibrate`` only."""
    scorers = [w for w in _calls(r"evaluate_accuracy_gpu\(")
               if w.startswith("experiments/") and not w.startswith("experiments/harness/sweep.py")]
    assert scorers == []
    recalibrations = [w for w in _calls(r"^\s*def (recalibrate|precise_statistics)\b")
                      if not w.startswith("recalibrate.py:")]
    assert recalibrations == []


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


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(SRC)))
def test_no_python_file_is_over_400_lines(path):
    assert len(path.read_text(encoding="utf-8").splitlines()) <= 400


def test_no_measured_timings_in_the_source():
    timing = re.compile(r"\b\d+(\.\d+)?\s?(ms|µs|us)\b|examples/sec\)?\s*\d|EPYC|Xeon")
    found = [f"{p.relative_to(SRC)}:{i}: {line.strip()}"
             for p in SOURCES
             for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1)
             if timing.search(line) and "f\"" not in line and "print" not in line]
    assert not found, "\n".join(found)
