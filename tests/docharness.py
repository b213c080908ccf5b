"""The documentation harness: every page's code, run the way a reader sees it.

What Sybil gets here, and why plain Sybil would not do:

* **Includes first.** Each Markdown page is expanded with the very
  ``pymdownx.snippets`` preprocessor and options that ``mkdocs.yml`` gives the
  site, so a ``--8<--`` line inside a fence becomes the included code (plain
  Sybil would execute the ``--8<--`` line as Python). A missing include fails
  the page's first item instead of being skipped.
* **Every Python fence.** A fence runs when its info string's first word is
  ``python``, ``py``, ``python3`` or ``pycon``, whatever Material attributes
  follow (``title="…"``, ``hl_lines="…"``, ``linenums="…"``). Plain Sybil
  runs only a bare ``python`` and skips the rest without a word.
* **Output is checked.** A fence whose body starts with ``>>>`` (or a
  ``pycon`` fence) is a doctest. A fence with info string ``output`` states
  what the Python fence before it prints; it is compared with doctest's
  checker (``ELLIPSIS`` and ``NORMALIZE_WHITESPACE``), so a page that shows a
  wrong number fails.
* **Devices.** Each page is collected once per device (``sybil:cpu``,
  ``sybil:cuda``); its code runs inside ``with torch.device(...)`` so factory
  calls land on that device, and ``device`` is defined in its namespace.
  ``pytest --device cpu|cuda|both|auto`` chooses; cuda items skip with a
  reason where there is no GPU.
* **Scripts.** ``.py`` files under ``snippets/`` and ``docs/`` run whole, one
  item each, with the same device handling; docstring examples in
  ``src/bnref`` run as doctests.

Each page's namespace starts with ``torch.manual_seed(0)`` so printed random
numbers are reproducible.
"""

from __future__ import annotations

import doctest
import io
import os
import re
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Iterable

import pytest
import torch
from sybil import Document, Example, Region, Sybil
from sybil.sybil import SybilCollection
from sybil.document import PythonDocStringDocument
from sybil.evaluators.doctest import DocTestEvaluator, OutputChecker
from sybil.evaluators.python import pad
from sybil.parsers.abstract.doctest import DocTestStringParser
from sybil.parsers.markdown.lexers import RawFencedCodeBlockLexer
from sybil.parsers.markdown.skip import SkipParser
from sybil.parsers.rest import DocTestParser

from results_support import ROOT

OPTIONFLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
PYTHON_WORDS = {"python", "py", "python3", "pycon"}
STDOUT_KEY = "__bnref_stdout__"
DEVICES = ("cpu", "cuda")

# --------------------------------------------------------------------------
# Includes, exactly as the site expands them
# --------------------------------------------------------------------------


def mkdocs_config(config_file: Path = ROOT / "mkdocs.yml") -> dict:
    """mkdocs.yml, read with MkDocs's own YAML loader (it has !!python tags)."""
    import yaml
    from mkdocs.utils.yaml import get_yaml_loader

    with open(config_file, encoding="utf-8") as f:
        return yaml.load(f, Loader=get_yaml_loader())


def snippets_options(config_file: Path = ROOT / "mkdocs.yml") -> dict:
    """The ``pymdownx.snippets`` options of the site, base paths made absolute."""
    options: dict = {}
    for ext in mkdocs_config(config_file).get("markdown_extensions", []):
        if isinstance(ext, dict) and "pymdownx.snippets" in ext:
            options = dict(ext["pymdownx.snippets"] or {})
    base = options.get("base_path", ["."])
    base = [base] if isinstance(base, str) else list(base)
    options["base_path"] = [str((config_file.parent / b).resolve()) for b in base]
    options["check_paths"] = True  # a broken include must fail, here as on the site
    return options


def expand_includes(text: str, options: dict) -> str:
    """Run ``text`` through the pymdownx.snippets preprocessor with ``options``."""
    import markdown

    md = markdown.Markdown(
        extensions=["pymdownx.snippets"], extension_configs={"pymdownx.snippets": options}
    )
    return "\n".join(md.preprocessors["snippet"].run(text.split("\n")))


class IncludeError(Exception):
    pass


class PageDocument(Document):
    """A Markdown page after include expansion (``options`` set per Sybil)."""

    options: dict = {}

    @classmethod
    def parse(cls, path: str, *parsers, encoding: str = "utf-8") -> Document:
        raw = Path(path).read_text(encoding=encoding)
        try:
            text = expand_includes(raw, cls.options)
        except Exception as err:  # SnippetMissingError and friends
            document = cls(raw, path)
            document.add(_failing_region(raw, f"include failed: {type(err).__name__}: {err}"))
            return document
        document = cls(text, path)
        for parser in parsers:
            for region in parser(document):
                document.add(region)
        return document


def _failing_region(text: str, message: str) -> Region:
    def fail(example: Example) -> str:
        return message

    return Region(0, min(1, len(text)), parsed=message, evaluator=fail)


# --------------------------------------------------------------------------
# Output comparison, the same on every device
# --------------------------------------------------------------------------

DEVICE_ANNOTATION = re.compile(r",\s*device='cuda:\d+'|device='cuda:\d+',\s*")


class DeviceAgnosticChecker(OutputChecker):
    """Pages show CPU output; on a GPU, ignore the ``device='cuda:0'`` tensors print."""

    def check_output(self, want: str, got: str, optionflags: int) -> bool:
        return super().check_output(want, DEVICE_ANNOTATION.sub("", got), optionflags)

    def output_difference(self, example, got: str, optionflags: int) -> str:
        return super().output_difference(example, DEVICE_ANNOTATION.sub("", got), optionflags)


def doctest_evaluator() -> DocTestEvaluator:
    evaluator = DocTestEvaluator(OPTIONFLAGS)
    evaluator.runner._checker = DeviceAgnosticChecker()
    return evaluator


# --------------------------------------------------------------------------
# Fences: python code, doctests and expected output
# --------------------------------------------------------------------------

INFO = re.compile(r"(?P<info>[^\n]*)$\n", re.MULTILINE)


def fence_word(info: str) -> str:
    """First word of a fence's info string: ``python title="x"`` -> ``python``."""
    info = info.strip().lstrip("{").strip()
    word = re.split(r"[\s{}]", info, maxsplit=1)[0] if info else ""
    return word.lstrip(".").lower()


def run_code(example: Example) -> None:
    """Execute a Python fence; keep what it printed for a following output fence."""
    source = pad(example.parsed, example.line + example.parsed.line_offset)
    code = compile(source, example.path, "exec", dont_inherit=True)
    buffer = io.StringIO()
    try:
        with redirect_stdout(buffer):
            exec(code, example.namespace)
    finally:
        printed = buffer.getvalue()
        print(printed, end="")  # visible in pytest's captured output
    example.namespace.pop("__builtins__", None)
    example.namespace[STDOUT_KEY] = printed


def check_output(example: Example) -> str | None:
    """Compare an ``output`` fence with what the previous Python fence printed."""
    if STDOUT_KEY not in example.namespace:
        return "an output fence must follow a Python fence (none ran before it)"
    got = example.namespace.pop(STDOUT_KEY)
    want = str(example.parsed)
    checker = DeviceAgnosticChecker()
    if checker.check_output(want, got, OPTIONFLAGS):
        return None
    fake = doctest.Example(source="", want=want)
    return checker.output_difference(fake, got, OPTIONFLAGS)


class FenceParser:
    """Regions for Python, pycon and output fences, whatever their attributes."""

    def __init__(self) -> None:
        self.lexer = RawFencedCodeBlockLexer(info_pattern=INFO)
        self.doctests = DocTestStringParser(doctest_evaluator())

    def __call__(self, document: Document) -> Iterable[Region]:
        for region in self.lexer(document):
            word = fence_word(region.lexemes["info"])
            source = region.lexemes["source"]
            if word in PYTHON_WORDS:
                if source.lstrip().startswith(">>>"):
                    for doctest_region in self.doctests(source, document.path):
                        doctest_region.adjust(region, source)
                        yield doctest_region
                elif word == "pycon":
                    yield _failing_region_at(region, "a pycon fence must hold >>> examples")
                else:
                    region.parsed = source
                    region.evaluator = run_code
                    yield region
            elif word == "output":
                region.parsed = source
                region.evaluator = check_output
                yield region


class DocstringDoctests(DocTestParser):
    """reST-style doctests in docstrings, checked device-agnostically."""

    def __init__(self) -> None:
        super().__init__(optionflags=OPTIONFLAGS)
        self.string_parser = DocTestStringParser(doctest_evaluator())


def _failing_region_at(region: Region, message: str) -> Region:
    region.parsed = message
    region.evaluator = lambda example: message
    return region


class ScriptDocument(Document):
    """A Python script (a snippet or a jupytext notebook) run whole, as one item."""

    device = "cpu"

    @classmethod
    def parse(cls, path: str, *parsers, encoding: str = "utf-8") -> Document:
        text = Path(path).read_text(encoding=encoding)
        document = cls(text, path)
        if text.strip():
            evaluator = OnDevice(run_script, cls.device)
            document.add(Region(0, len(text), parsed=_Source(text), evaluator=evaluator))
        return document


class _Source(str):
    line_offset = 0


def run_script(example: Example) -> None:
    namespace = example.namespace
    namespace.setdefault("__name__", "__main__")
    namespace.setdefault("__file__", example.path)
    code = compile(str(example.parsed), example.path, "exec", dont_inherit=True)
    exec(code, namespace)
    namespace.pop("__builtins__", None)


# --------------------------------------------------------------------------
# Devices
# --------------------------------------------------------------------------


class OnDevice:
    """Wrap an evaluator so the example runs with ``device`` as default device."""

    def __init__(self, inner, device: str) -> None:
        self.inner, self.device = inner, device

    def __call__(self, example: Example):
        __tracebackhide__ = True
        if self.device == "cuda" and not torch.cuda.is_available():
            pytest.skip("cuda: no CUDA device on this machine (torch.cuda.is_available() is False)")
        namespace = example.namespace
        if "__bnref_device__" not in namespace:
            torch.manual_seed(0)
            namespace["__bnref_device__"] = self.device
            namespace["device"] = torch.device(self.device)
        with torch.device(self.device), smoke_environment():
            return self.inner(example)

    def __repr__(self) -> str:
        return f"OnDevice({self.inner!r}, {self.device!r})"


def on_device(parser, device: str):
    """A parser whose regions' evaluators run on ``device``."""

    def parse(document: Document) -> Iterable[Region]:
        for region in parser(document):
            if region.evaluator is not None:
                region.evaluator = OnDevice(region.evaluator, device)
            yield region

    return parse


#: Full training runs are commands, not tests: while page code runs, train_ch6
#: stops after 1 epoch of 5 minibatches (and scores 5 test batches).
SMOKE_ENVIRONMENT = {"BNREF_MAX_STEPS": "5", "BNREF_MAX_EPOCHS": "1"}


@contextmanager
def smoke_environment():
    """Set :data:`SMOKE_ENVIRONMENT` for one example, then restore the old values."""
    saved = {key: os.environ.get(key) for key in SMOKE_ENVIRONMENT}
    os.environ.update(SMOKE_ENVIRONMENT)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def sybils(root: Path = ROOT, config_file: Path | None = None) -> list[Sybil]:
    """One Sybil per device and kind of source under ``root``."""
    config_file = config_file or root / "mkdocs.yml"
    page_type = type("Page", (PageDocument,), {"options": snippets_options(config_file)})
    found = []
    for device in DEVICES:
        found.append(Sybil(
            parsers=[on_device(FenceParser(), device), SkipParser()],
            path=str(root / "docs"),
            patterns=["*.md"],
            document_types={".md": page_type},
            name=device,
        ))
        for folder, patterns in (("snippets", ["*.py"]), ("docs", ["*.py"])):
            script_type = type("Script", (ScriptDocument,), {"device": device})
            found.append(Sybil(
                parsers=[],
                path=str(root / folder),
                patterns=patterns,
                excludes=["*/hooks/*", "*/overrides/*", "conftest.py"],
                document_types={".py": script_type},
                name=device,
                ))
        found.append(Sybil(
            parsers=[on_device(DocstringDoctests(), device)],
            path=str(root / "src" / "bnref"),
            patterns=["*.py"],
            document_types={".py": PythonDocStringDocument},
            name=device,
        ))
    return found


# --------------------------------------------------------------------------
# pytest wiring (used by the root conftest.py)
# --------------------------------------------------------------------------


def selected_devices(config) -> list[str]:
    choice = config.getoption("--device")
    if choice == "auto":
        return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    if choice == "both":
        return ["cpu", "cuda"]
    return [choice]


def item_device(item) -> str | None:
    match = re.search(r"sybil:(cpu|cuda)", item.name)
    if match:
        return match.group(1)
    callspec = getattr(item, "callspec", None)
    if callspec is not None and "device" in callspec.params:
        return str(callspec.params["device"])
    return None
