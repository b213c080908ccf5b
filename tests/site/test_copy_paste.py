"""Code a reader can copy: every page's code blocks, pasted into a fresh Python session.

The documentation harness (``tests/docharness.py``) runs a page's blocks in one
namespace with conveniences a reader does not have: ``torch.manual_seed(0)``
before the first block, ``device`` defined, the code inside
``with torch.device(...)``, and plain script semantics (a bare expression
shows nothing). Here the blocks are taken exactly as the built site shows them
(after the ``pymdownx.snippets`` includes, by the harness's own expansion) and:

(a) no block a reader copies holds a ``>>>`` prompt (pasted, it is a SyntaxError);
(b) each page's Python blocks run in page order in one fresh process, as pasted
    into one interactive session (a bare expression's value is displayed, as
    the interactive interpreter displays it), and each block's output is what
    the page's ``output`` fence after it shows (doctest's comparison, as the
    harness does: ``...`` matches anything, whitespace is normalized); a block
    with no output fence must print nothing;
(c) each block that does not say, on its first line, that it continues an
    earlier one (``# continues ...``) runs alone in a fresh process without a
    NameError, ImportError or AttributeError (a name it did not define or import).

The notebook (``docs/notebooks/*.py``, jupytext percent format) is checked for
prompts and for its cells' first lines (every cell after the first says that it
continues); it is not run again here: see :data:`NOT_RUN_HERE`.

Where: as a reader runs them, after ``pip install`` and outside any checkout.
This checkout is installed, not linked (``pip install --no-deps --target``:
the wheel's files, the shipped results of :mod:`bnref.results` among them),
first on ``PYTHONPATH``, and every block runs in an empty folder outside the
checkout (the docs harness runs the same blocks inside it).

"Fresh process": ``tests/copy_paste_runner.py`` imports torch once and forks
one child per run (see its docstring); each child starts with an empty
``__main__`` namespace, in that empty folder, with the smoke environment the
harness sets (``docharness.SMOKE_ENVIRONMENT``: training listings stop after a
few steps).

The API page's examples, rendered from the docstrings, are checked on the built
site by ``tests/site/test_api_examples.py``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

import docharness
from results_support import TESTS

ROOT = docharness.ROOT
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
NOTEBOOKS = sorted((DOCS / "notebooks").glob("*.py"))
RUNNER = TESTS / "copy_paste_runner.py"
#: Sources whose blocks this test does not run, each with the reason.
NOT_RUN_HERE = {
    "docs/notebooks/bn-vs-plain.py":
        "run whole, its cells in order in one fresh namespace, by the docs harness "
        "(its Sybil script item) and by every site build (mkdocs-jupyter), which "
        "shows the output of that run; it trains two LeNets for 120 steps each "
        "(15 s on a quiet machine, 60 s on a busy one), too long to run twice more here",
}
CONTINUES = re.compile(r"^\s*#.*\bcontinues\b", re.IGNORECASE)
PROMPT = re.compile(r"^\s*>>>( |$)", re.MULTILINE)

#: Blocks allowed to display a value that the page does not show after them,
#: keyed by (page, block title): each with the reason.
DISPLAYS_UNSHOWN = {
    ("docs/notes/code.md", 'python title="snippets/note/inspect_gamma_beta.py"'):
        "the note's own line, a bare expression its notebook displays; the page says "
        "so, shows the note's output below, and the next block prints what it returns",
}


@dataclass
class Block:
    page: str       # path relative to the repository root
    number: int     # 1-based among the page's Python blocks (or the notebook's code cells)
    info: str       # the fence's info string, e.g. 'python title="snippets/x.py"'
    source: str
    output: str | None  # the output fence after it, if any

    @property
    def continues(self) -> bool:
        first = self.source.lstrip("\n").split("\n", 1)[0]
        return bool(CONTINUES.match(first))

    @property
    def name(self) -> str:
        return f"{self.page} block {self.number} ({self.info})"


def page_fences(path: Path) -> list[tuple[str, str, str]]:
    """``(word, info, source)`` of each fence of ``path`` as the site shows it."""
    from sybil import Document
    from sybil.parsers.markdown.lexers import RawFencedCodeBlockLexer

    text = docharness.expand_includes(path.read_text(encoding="utf-8"), docharness.snippets_options())
    lexer = RawFencedCodeBlockLexer(info_pattern=docharness.INFO)
    fences = []
    for region in lexer(Document(text, str(path))):
        info = region.lexemes["info"].strip()
        fences.append((docharness.fence_word(info), info, region.lexemes["source"]))
    return fences


def page_blocks(path: Path) -> list[Block]:
    """The Python blocks of a page, each with the output fence that follows it."""
    rel = str(path.relative_to(ROOT))
    fences = page_fences(path)
    blocks = []
    for i, (word, info, source) in enumerate(fences):
        if word in docharness.PYTHON_WORDS:
            following = fences[i + 1] if i + 1 < len(fences) else None
            output = following[2] if following and following[0] == "output" else None
            blocks.append(Block(rel, len(blocks) + 1, info, source, output))
    return blocks


CELL = re.compile(r"^# %%(?P<kind>[^\n]*)\n", re.MULTILINE)


def notebook_cells(path: Path) -> list[Block]:
    """The code cells of a jupytext percent-format notebook."""
    text = path.read_text(encoding="utf-8")
    marks = list(CELL.finditer(text))
    cells = []
    for mark, following in zip(marks, marks[1:] + [None]):
        if "[markdown]" in mark["kind"]:
            continue
        source = text[mark.end(): following.start() if following else len(text)].strip("\n") + "\n"
        cells.append(Block(str(path.relative_to(ROOT)), len(cells) + 1, "cell", source, None))
    return cells


def all_fences() -> list[tuple[str, str, str, str]]:
    found = []
    for path in PAGES:
        for word, info, source in page_fences(path):
            found.append((str(path.relative_to(ROOT)), word, info, source))
    for path in NOTEBOOKS:
        for cell in notebook_cells(path):
            found.append((cell.page, "python", "cell", cell.source))
    return found


# --------------------------------------------------------------------------
# (a) no prompts
# --------------------------------------------------------------------------


def test_no_copied_block_holds_a_prompt():
    fences = all_fences()
    python = [f for f in fences if f[1] in docharness.PYTHON_WORDS]
    assert len(python) > 50, f"only {len(python)} Python blocks found: is the extraction broken?"
    prompts = [f"{page}: ```{info}\n{source[:200]}" for page, word, info, source in fences
               if PROMPT.search(source) or word == "pycon"]
    assert not prompts, "blocks with >>> prompts (a SyntaxError when pasted):\n\n" + "\n\n".join(prompts)


def test_prompt_check_catches_a_prompt():
    assert PROMPT.search("x = 1\n>>> print(x)\n1\n")
    assert PROMPT.search(">>> for i in x:\n...     print(i)\n")
    assert not PROMPT.search('print("a >>> b")\nx = [1, ...]\n')
    assert not PROMPT.search("loss ..., train acc ...\n... examples/sec on ...\n")  # an output's ellipsis


# --------------------------------------------------------------------------
# (b), (c): run them
# --------------------------------------------------------------------------


def jobs() -> tuple[list[dict], dict[str, list[Block]]]:
    """One sequence job per page or notebook, one alone job per self-contained block."""
    runs, blocks_of = [], {}
    sources = [(p, page_blocks(p)) for p in PAGES]
    sources += [(p, notebook_cells(p)) for p in NOTEBOOKS if str(p.relative_to(ROOT)) not in NOT_RUN_HERE]
    for path, blocks in sources:
        if not blocks:
            continue
        key = re.sub(r"[^A-Za-z0-9]+", "_", str(path.relative_to(ROOT)))
        blocks_of[key] = blocks
        runs.append({"id": f"seq_{key}", "blocks": [b.source for b in blocks]})
        for block in blocks[1:]:  # the first block runs alone: first, in its page's run
            if not block.continues:
                runs.append({"id": f"alone_{key}_{block.number}", "blocks": [block.source]})
    # Whole pages first, longest first, so that the two workers finish together.
    runs.sort(key=lambda job: (not job["id"].startswith("seq_"), -len(job["blocks"])))
    return runs, blocks_of


#: the job that says which bnref the blocks import, and from which folder they run
WHERE = {"id": "where", "blocks": ["import os, bnref\nprint(bnref.__file__)\nprint(os.getcwd())\n"]}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Run every job once (one runner process, forked children), in an empty folder outside
    the checkout with a non-editable install of it; return the results by id."""
    out = tmp_path_factory.mktemp("copy_paste")
    site = tmp_path_factory.mktemp("site")
    reader = tmp_path_factory.mktemp("reader")  # the reader's empty folder
    assert ROOT not in reader.resolve().parents
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "--no-build-isolation", "--target", str(site), str(ROOT)],
                   check=True, capture_output=True, text=True)
    job_list, blocks_of = jobs()
    job_list.append(WHERE)
    (out / "jobs.json").write_text(json.dumps(job_list), encoding="utf-8")
    env = dict(os.environ)
    env.update(docharness.SMOKE_ENVIRONMENT)
    env.update(OMP_NUM_THREADS="1", MPLBACKEND="Agg", PYTHONHASHSEED="0", PYTHONPATH=str(site))
    start = time.perf_counter()
    done = subprocess.run([sys.executable, str(RUNNER), str(out / "jobs.json"), str(out)],
                          cwd=reader, env=env, capture_output=True, text=True, timeout=600)
    seconds = time.perf_counter() - start
    assert done.returncode == 0, f"the runner failed:\n{done.stdout}\n{done.stderr}"
    results = {}
    for job in job_list:
        result = json.loads((out / f"{job['id']}.json").read_text(encoding="utf-8"))
        stderr = out / f"{job['id']}.stderr"
        result["stderr"] = stderr.read_text(encoding="utf-8", errors="replace") if stderr.exists() else ""
        results[job["id"]] = result
    print(f"copy-paste: {len(job_list)} runs in {seconds:.1f} s")
    return {"results": results, "blocks": blocks_of, "seconds": seconds, "site": site,
            "reader": reader}


def test_blocks_run_outside_the_checkout_with_the_installed_package(runs):
    got = outcome(runs["results"]["where"], 0)
    assert got["error"] is None, got["error"]
    module, cwd = got["stdout"].splitlines()
    assert Path(module) == runs["site"] / "bnref" / "__init__.py"
    assert Path(cwd) == runs["reader"] and ROOT not in Path(cwd).parents


def key_of(path: Path) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", str(path.relative_to(ROOT)))


def outcome(result: dict, index: int) -> dict:
    if "failure" in result:
        raise AssertionError(f"{result['failure']}\nstderr:\n{result['stderr'][-3000:]}")
    return result["blocks"][index]


def compare(block: Block, got: str) -> str | None:
    """None if ``got`` is what the page shows after ``block``; else the difference."""
    want = block.output if block.output is not None else ""
    checker = docharness.DeviceAgnosticChecker()
    if checker.check_output(want, got, docharness.OPTIONFLAGS):
        return None
    import doctest

    fake = doctest.Example(source="", want=want)
    return checker.output_difference(fake, got, docharness.OPTIONFLAGS)


RUNNABLE = [p for p in PAGES if page_blocks(p)]
RUNNABLE += [p for p in NOTEBOOKS if str(p.relative_to(ROOT)) not in NOT_RUN_HERE]


@pytest.mark.parametrize("path", RUNNABLE, ids=lambda p: str(p.relative_to(ROOT)))
def test_blocks_run_in_page_order_and_print_what_the_page_shows(runs, path):
    key = key_of(path)
    blocks = runs["blocks"][key]
    result = runs["results"][f"seq_{key}"]
    problems = []
    for i, block in enumerate(blocks):
        got = outcome(result, i)
        if got["error"]:
            problems.append(f"{block.name} raised:\n{got['error']['traceback'][-2500:]}")
            continue
        if block.page.endswith(".py"):
            continue  # a notebook: the page shows its build's own run
        if block.output is None and (block.page, block.info) in DISPLAYS_UNSHOWN:
            continue
        difference = compare(block, got["stdout"])
        if difference:
            what = "its output fence" if block.output is not None else "nothing (no output fence)"
            problems.append(f"{block.name} printed something other than {what}:\n{difference}")
    assert not problems, "\n\n".join(problems)


@pytest.mark.parametrize("path", RUNNABLE, ids=lambda p: str(p.relative_to(ROOT)))
def test_self_contained_blocks_run_alone(runs, path):
    key = key_of(path)
    problems = []
    for block in runs["blocks"][key]:
        if block.continues:
            continue
        if block.number == 1:  # first in a fresh process: its page's run ran it alone
            got = outcome(runs["results"][f"seq_{key}"], 0)
        else:
            got = outcome(runs["results"][f"alone_{key}_{block.number}"], 0)
        error = got["error"]
        if error and error["type"] in {"NameError", "ImportError", "ModuleNotFoundError",
                                       "AttributeError", "UnboundLocalError"}:
            problems.append(f"{block.name} does not say it continues an earlier block, "
                            f"but alone it fails:\n{error['traceback'][-1500:]}")
        elif error:
            problems.append(f"{block.name} alone raised:\n{error['traceback'][-1500:]}")
    assert not problems, "\n\n".join(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_notebook_cells_say_what_they_continue(path):
    cells = notebook_cells(path)
    assert len(cells) >= 2, f"{path}: {len(cells)} code cells found"
    assert not cells[0].continues, "the first cell has nothing to continue"
    silent = [cell.name for cell in cells[1:] if not cell.continues]
    # A cell that does not say it continues must run alone: none does here
    # (they use the first cell's data and imports), so each must say so.
    assert not silent, f"cells that need the ones above and do not say so: {silent}"


def test_what_is_not_run_here_is_run_elsewhere():
    """The sources in NOT_RUN_HERE exist and the docs harness collects them as scripts."""
    for rel, reason in NOT_RUN_HERE.items():
        assert (ROOT / rel).exists(), f"{rel} is listed in NOT_RUN_HERE but does not exist"
        assert reason
    collected = set()
    for sybil in docharness.sybils():
        if any(pattern == "*.py" for pattern in sybil.patterns) and Path(sybil.path) == DOCS:
            collected |= {str(p.relative_to(ROOT)) for p in DOCS.rglob("*.py")
                          if not any(p.match(e) for e in sybil.excludes)}
    assert set(NOT_RUN_HERE) <= collected, f"not run by the harness: {set(NOT_RUN_HERE) - collected}"


def test_the_runner_behaves_as_an_interactive_session():
    """Bare values are displayed, None is not, a missing name is reported, state is kept."""
    import copy_paste_runner

    namespace = {"__name__": "__main__"}
    first = copy_paste_runner.run_block("x = [1, 'a']\nx\nNone\nprint('p')\nx[1]\n", namespace, "<1>")
    assert first == {"stdout": "[1, 'a']\np\n'a'\n", "error": None}
    second = copy_paste_runner.run_block("for i in x:\n    i\ny\n", namespace, "<2>")
    assert second["stdout"] == "1\n'a'\n"
    assert second["error"]["type"] == "NameError" and "'y'" in second["error"]["traceback"]
    assert copy_paste_runner.run_block(">>> 1\n", {}, "<3>")["error"]["type"] == "SyntaxError"


def test_listed_exceptions_name_existing_blocks():
    for (page, info), reason in DISPLAYS_UNSHOWN.items():
        assert reason and any(b.info == info for b in page_blocks(ROOT / page)), (page, info)


def test_pages_without_python_blocks_are_the_expected_ones():
    """Nothing skipped silently: these pages hold no Python block to run."""
    empty = sorted(str(p.relative_to(ROOT)) for p in PAGES if not page_blocks(p))
    assert empty == ["docs/notes/glossary.md", "docs/notes/references.md",
                     "docs/reference/api/d2l.md", "docs/reference/api/index.md",
                     "docs/reference/api/speed.md", "docs/reference/api/tools.md"]
