"""The API page's examples, as the built site shows them: code a reader can copy.

The docstrings keep doctests (``>>>``: run by the docs harness, shown by
``help()``); ``overrides/griffe_examples.py`` renders each as a ``python`` fence
(prompts gone, the documented name imported, shown values printed) and an
``output`` fence. Here the site is built once (strictly, as CI builds it) and
the API reference's pages (``reference/api/``: the page and its three
neighbours) are read back:

* every docstring with an ``Examples:`` section whose object is on the page
  has that section rendered, and each section holds a Python code block (with
  Material's copy button, which the site enables for every code block) and no
  ``>>>`` prompt;
* every rendered example, pasted into a fresh Python session (one fresh process
  per example, run by ``tests/copy_paste_runner.py``), prints what its output
  block shows (doctest's comparison: ``...`` matches anything); an example
  whose doctest expects an exception must end by raising it.
"""

from __future__ import annotations

import doctest
import json
import os
import subprocess
import sys
from html.parser import HTMLParser

import pytest

import docharness
from browser_support import build_site
from results_support import TESTS

ROOT = docharness.ROOT
RUNNER = TESTS / "copy_paste_runner.py"
#: the pages of the API reference under reference/api/ ("" is its index page)
API_PAGES = ["", "tools", "speed", "d2l"]
#: Examples checked for prompts but not run here, each with the reason.
NOT_RUN_HERE = {
    path: "torch.compile compiles it afresh in a new process: 45-60 s each on the "
          "shared 2-core machine; the docs harness runs the same example (its doctest, "
          "in the docstring) in every test run"
    for path in ("bnref.speed.compiled.CompiledBatchNorm",
                 "bnref.speed.compiled.fast_batch_norm",
                 "bnref.speed.compiled.CompiledFastBatchNorm")
}


class ApiPage(HTMLParser):
    """Sections and code blocks of a mkdocstrings page, in document order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.events: list[tuple] = []
        self.ids: set[str] = set()
        self._title: list[str] | None = None
        self._code: tuple[str, list[str]] | None = None
        self._code_depth = 0
        self._details = 0
        self._depth = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = (attrs.get("class") or "").split()
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "details":
            self._details += 1
        if tag in ("h2", "h3", "h4", "h5") and "doc-heading" in classes:
            self.events.append(("heading", attrs.get("id")))
        if tag == "span" and "doc-section-title" in classes:
            self._title = []
        if tag == "div" and "highlight" in classes:
            lang = next((c[len("language-"):] for c in classes if c.startswith("language-")), "")
            self._code = (lang, [])
            self._code_depth = self._depth
        if tag not in ("br", "img", "input", "meta", "link", "hr"):
            self._depth += 1

    def handle_endtag(self, tag):
        if tag not in ("br", "img", "input", "meta", "link", "hr"):
            self._depth -= 1
        if tag == "details":
            self._details -= 1
        if tag == "span" and self._title is not None:
            self.events.append(("title", "".join(self._title).strip()))
            self._title = None
        if tag == "div" and self._code is not None and self._depth == self._code_depth:
            lang, text = self._code
            self.events.append(("code", lang, "".join(text), self._details > 0))
            self._code = None

    def handle_data(self, data):
        if self._title is not None:
            self._title.append(data)
        if self._code is not None:
            self._code[1].append(data)


def examples_sections(events: list[tuple]) -> list[dict]:
    """Each Examples section: the object it documents and its code blocks (not the source)."""
    sections, heading, current = [], None, None
    for event in events:
        if event[0] == "heading":
            heading, current = event[1], None
        elif event[0] == "title":
            current = None
            if event[1].startswith("Example"):
                current = {"object": heading, "blocks": []}
                sections.append(current)
        elif event[0] == "code" and current is not None and not event[3]:
            current["blocks"].append((event[1], event[2]))
    return sections


def documented_with_examples() -> set[str]:
    """Paths of the package's objects whose docstring has an Examples section."""
    import griffe

    package = griffe.load("bnref", search_paths=[str(ROOT / "src")])
    found: set[str] = set()

    def has_examples(obj) -> bool:
        try:
            docstring = obj.docstring  # an alias resolves to its target here
        except Exception:  # noqa: BLE001 - an alias to another package (torch)
            return False
        return docstring is not None and any(
            line.strip() in ("Examples:", "Example:") for line in docstring.value.split("\n"))

    def walk(obj) -> None:
        if has_examples(obj):
            found.add(obj.path)  # for a re-exported name, the path the page shows it under
        for member in obj.members.values():
            if member.is_alias:
                if has_examples(member):
                    found.add(member.path)
            else:
                walk(member)

    walk(package)
    return found


@pytest.fixture(scope="module")
def api_page(tmp_path_factory):
    site = tmp_path_factory.mktemp("site-api") / "site"
    build_site(site)
    parser = ApiPage()
    for page in API_PAGES:  # the four pages of the API reference, read as one
        parser.feed((site / "reference" / "api" / page / "index.html").read_text(encoding="utf-8"))
    return parser


@pytest.fixture(scope="module")
def sections(api_page):
    return examples_sections(api_page.events)


def test_every_example_on_the_page_is_a_code_block_without_prompts(api_page, sections):
    expected = {path for path in documented_with_examples() if path in api_page.ids}
    rendered = {s["object"] for s in sections}
    assert len(expected) >= 33, f"only {len(expected)} documented objects with examples on the page"
    assert rendered == expected, (
        f"examples not rendered: {sorted(expected - rendered)}; "
        f"unexpected: {sorted(rendered - expected)}")
    assert len(sections) == len(expected), "an object with two Examples sections?"
    problems = []
    for section in sections:
        python = [text for lang, text in section["blocks"] if lang == "python"]
        if not python:
            problems.append(f"{section['object']}: no Python code block (blocks: "
                            f"{[lang for lang, _ in section['blocks']]})")
        prompts = [text for _, text in section["blocks"] if ">>>" in text]
        if prompts:
            problems.append(f"{section['object']}: a block with >>> prompts:\n{prompts[0]}")
    assert not problems, "\n".join(problems)


def test_material_adds_a_copy_button_to_every_code_block():
    """Material adds the button to every code block when content.code.copy is on."""
    features = docharness.mkdocs_config()["theme"].get("features", [])
    assert "content.code.copy" in features


def pairs(section: dict) -> list[tuple[str, str]]:
    """(code, output) for each Python block of a section; output '' when none follows."""
    found, blocks = [], section["blocks"]
    for i, (lang, text) in enumerate(blocks):
        if lang == "python":
            following = blocks[i + 1] if i + 1 < len(blocks) else None
            found.append((text, following[1] if following and following[0] == "output" else ""))
    return found


def test_every_example_prints_what_its_output_block_shows(sections, tmp_path):
    assert set(NOT_RUN_HERE) <= {s["object"] for s in sections}, "a stale NOT_RUN_HERE entry"
    jobs = []
    for n, section in enumerate(sections):
        if section["object"] in NOT_RUN_HERE:
            continue
        blocks = [code for code, _ in pairs(section)]
        jobs.append({"id": f"api_{n}", "blocks": blocks})
    (tmp_path / "jobs.json").write_text(json.dumps(jobs), encoding="utf-8")
    env = dict(os.environ)
    env.update(docharness.SMOKE_ENVIRONMENT)
    env.update(OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    done = subprocess.run([sys.executable, str(RUNNER), str(tmp_path / "jobs.json"), str(tmp_path)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"the runner failed:\n{done.stdout}\n{done.stderr}"
    checker = docharness.DeviceAgnosticChecker()
    problems = []
    for n, section in enumerate(sections):
        if section["object"] in NOT_RUN_HERE:
            continue
        result = json.loads((tmp_path / f"api_{n}.json").read_text(encoding="utf-8"))
        if "failure" in result:
            problems.append(f"{section['object']}: {result['failure']}")
            continue
        for (code, want), got in zip(pairs(section), result["blocks"]):
            printed = got["stdout"]
            if got["error"]:
                # A traceback, as the interactive session prints it after the output.
                last = got["error"]["traceback"].rstrip("\n").split("\n")[-1]
                printed += f"Traceback (most recent call last):\n  ...\n{last}\n"
            if not checker.check_output(want, printed, docharness.OPTIONFLAGS):
                fake = doctest.Example(source="", want=want)
                problems.append(f"{section['object']}:\n{code}\n"
                                + checker.output_difference(fake, printed, docharness.OPTIONFLAGS))
    assert not problems, "\n\n".join(problems)
