"""The site's own measurements (src/bnref/results/lighthouse.json, written by ``bash .ci/lighthouse``)."""

from __future__ import annotations

import json

import pytest

from bnref.experiments.report import pages
from bnref.experiments.harness.record import results_dir

LIGHTHOUSE = results_dir() / "lighthouse.json"


def test_every_lighthouse_run_is_explained_in_the_file():
    data = json.loads(LIGHTHOUSE.read_text())
    note = data["note"]
    for label in data["runs"]:
        prefix = label.split("-")[0]
        family = label.split("/")[0]  # all/PAGE: one run per page (.ci/lighthouse --all)
        assert f"{prefix}-" in note or label in note or (
            "/" in label and f"{family}/PAGE" in note), f"{label}: not described in the file's note"


def test_lighthouse_table_refuses_an_unknown_run(capsys):
    with pytest.raises(KeyError, match=r"no run labelled \['nope'\]"):
        pages.lighthouse_table(LIGHTHOUSE, ["after-gzip", "nope"])


def test_lighthouse_table_prints_every_run_by_default(capsys):
    pages.lighthouse_table(LIGHTHOUSE)
    out = capsys.readouterr().out.splitlines()
    runs = json.loads(LIGHTHOUSE.read_text())["runs"]
    body = [line.split()[0] for line in out[3:]]
    assert body == list(runs)
    for line in out[3:]:
        label = line.split()[0]
        assert f" {runs[label]['scores']['performance']:4.2f} " in line
