"""The documentation harness must fail when a page is wrong.

Each test runs pytest on a miniature site (tests/fixtures/harness) through
the same harness that runs the real pages, and checks the outcome.
"""

import shutil
from pathlib import Path

import pytest

import docharness
from results_support import TESTS

FIXTURE = TESTS / "fixtures" / "harness"
pytest_plugins = ["pytester"]
# Inner runs need none of the outer session's heavy plugins (hypothesis's
# end-of-session summary alone re-imports hypothesis: seconds per run).
INNER_ARGS = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:xdist")

CONFTEST = """
import docharness
from pathlib import Path
pytest_collect_file = docharness.SybilCollection(
    docharness.sybils(root=Path(__file__).parent)).pytest()

def pytest_addoption(parser):
    parser.addoption("--device", default="cpu")

def pytest_collection_modifyitems(config, items):
    items[:] = [i for i in items if docharness.item_device(i) in (None, "cpu")]
"""


@pytest.fixture
def site(pytester):
    shutil.copytree(FIXTURE, pytester.path, dirs_exist_ok=True)
    pytester.syspathinsert(Path(docharness.__file__).parent)
    pytester.makeconftest(CONFTEST)
    return pytester


def run_page(site, page):
    return site.runpytest_inprocess(f"docs/{page}", *INNER_ARGS)


def test_good_page_passes_and_runs_titled_and_included_fences(site):
    result = run_page(site, "good.md")
    result.assert_outcomes(passed=5)


def test_wrong_output_fails(site):
    result = run_page(site, "wrong_output.md")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*Expected:*", "*41*", "*Got:*", "*42*"])


def test_broken_include_fails(site):
    result = run_page(site, "broken_include.md")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*include failed: SnippetMissingError*does_not_exist.py*"])


def test_titled_fence_is_executed(site):
    result = run_page(site, "titled_raises.md")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*RuntimeError: this fence ran*"])


def test_wrong_doctest_fails(site):
    result = run_page(site, "wrong_doctest.md")
    result.assert_outcomes(failed=1)


def test_output_fence_without_code_fails(site):
    result = run_page(site, "orphan_output.md")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*output fence must follow a Python fence*"])


def test_snippet_files_run_as_items(site):
    result = site.runpytest_inprocess("snippets", *INNER_ARGS)
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize(
    "info, word",
    [("python", "python"), ('python title="a.py"', "python"), ("py", "py"),
     ('pycon hl_lines="1"', "pycon"), ("{.python .annotate}", "python"),
     ("output", "output"), ("text", "text"), ("", "")],
)
def test_fence_word(info, word):
    assert docharness.fence_word(info) == word


def test_cuda_output_matches_cpu_output():
    checker = docharness.DeviceAgnosticChecker()
    assert checker.check_output("tensor([1., 2.])\n", "tensor([1., 2.], device='cuda:0')\n", 0)
    assert not checker.check_output("tensor([1., 3.])\n", "tensor([1., 2.], device='cuda:0')\n", 0)
