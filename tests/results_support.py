"""Where things are, for the tests: the repository root, the committed results (src/bnref/results:
the files the package ships, bnref.results), the site's figures, and this folder (the support
modules and fixtures the test files in its subfolders use)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
RESULTS = ROOT / "src" / "bnref" / "results"
FIGURES = ROOT / "docs" / "figures"
