"""Installed, not only editable: the commands work from any folder and write only where told.

A non-editable build of this checkout (``pip install --no-deps --target``,
the wheel's files, not a link to ``src/``; the committed results among them) is
put first on ``PYTHONPATH``;
from a folder outside the checkout, a short ``python -m bnref reproduce``
writes its results at ``--out`` and nowhere else, ``python -m bnref figures``
draws its figure from that file where told, the defaults (results and
figures) are under ``./bnref-results``, and the page printers read a results
file given by path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bnref.experiments.harness import record
from bnref.experiments.report import pages

from results_support import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    site = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "--no-build-isolation", "--target", str(site), str(ROOT)],
                   check=True, capture_output=True, text=True)
    env = {**os.environ, "PYTHONPATH": str(site)}
    return site, env


def run_bnref(args, cwd, env):
    return subprocess.run([sys.executable, "-m", "bnref", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def test_the_installed_package_is_a_copy_with_its_kernel_source(installed):
    site, _ = installed
    # files, not links to src/ (that a fresh process imports these very files from
    # another folder: test_copy_paste.py's "where" job)
    package = site / "bnref"
    assert (package / "__init__.py").is_file() and not (package / "__init__.py").is_symlink()
    assert not package.is_symlink() and not list(site.glob("__editable__*"))
    assert (site / "bnref" / "speed" / "fused" / "fused.cpp").is_file()
    # the committed results ship with it: every one, and only those (bnref.results)
    shipped = sorted(p.name for p in (site / "bnref" / "results").glob("*.json"))
    assert shipped == sorted(p.name for p in (ROOT / "src" / "bnref" / "results").glob("*.json"))


def test_a_command_run_elsewhere_writes_beside_out_and_nowhere_else(installed, tmp_path,
                                                                   monkeypatch, capsys):
    site, env = installed
    before = files_under(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = run_bnref(["reproduce", "--epochs", "1", "--seeds", "1", "--models", "lenet_bn",
                      "--max-steps", "2", "--device", "cpu", "--threads", "1", "--no-progress",
                      "--out", "out/reproduce-cpu.json"], elsewhere, env)
    assert done.returncode == 0, done.stderr
    assert "draw its figure with: python -m bnref figures --only curves" in done.stdout
    assert files_under(elsewhere) == {"out/reproduce-cpu.json"}  # no command draws a figure
    drawn = run_bnref(["figures", "--only", "curves", "--results-dir", "out", "--out-dir", "out"],
                      elsewhere, env)
    assert drawn.returncode == 0, drawn.stderr
    assert files_under(elsewhere) == {"out/reproduce-cpu.json", "out/curves.svg"}
    assert files_under(site) == before  # nothing written next to the installed package
    data = json.loads((elsewhere / "out" / "reproduce-cpu.json").read_text())
    assert list(data["runs"]) == ["lenet_bn/seed=0"]
    assert data["provenance"]["commit"] is None  # not a checkout: no commit to name
    # a page printer reads a results file given by a path relative to where it runs
    monkeypatch.chdir(elsewhere)
    pages.note_lines("out/reproduce-cpu.json", "lenet_bn")
    assert capsys.readouterr().out.startswith("loss ")


def test_the_default_destination_outside_a_checkout_is_bnref_results(installed, tmp_path):
    site, env = installed
    # where the files go: the batch-of-one runs (8 s; their test: test_small_batch.py) add nothing
    done = run_bnref(["small-batch", "--examples", "8", "--batch-sizes", "4", "--kinds", "gn",
                      "--seeds", "1", "--no-batch-of-one", "--no-progress"], tmp_path, env)
    assert done.returncode == 0, done.stderr
    assert files_under(tmp_path) == {"bnref-results/small-batch-cpu.json"}
    drawn = run_bnref(["figures", "--only", "small-batch"], tmp_path, env)
    assert drawn.returncode == 0, drawn.stderr
    assert files_under(tmp_path) == {"bnref-results/small-batch-cpu.json",
                                     "bnref-results/small-batch.svg"}
    # every command's --out help says where the defaults are (one shared string)
    assert "src/bnref/results" in record.WHERE_HELP and "bnref-results" in record.WHERE_HELP
