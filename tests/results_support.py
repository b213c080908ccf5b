"""Where the committed results are, for the tests (src/bnref/results: the files the package ships, bnref.results)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "src" / "bnref" / "results"
FIGURES = ROOT / "docs" / "figures"
