"""The small-batch command (bnref.experiments.small_batch) and its committed results.

The mechanics tests feed small random tensors instead of Fashion-MNIST (loading
the real split takes tens of seconds here); they check step counting, the
learning-rate rule and the files written, not accuracy. The accuracy numbers
live in docs/results/small-batch-cpu.json, produced by the full command.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from bnref.experiments import small_batch
from bnref.__main__ import build_parser

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / small_batch.DEFAULT_JSON
FIGURE = ROOT / small_batch.DEFAULT_SVG


# tiny batches: one thread avoids the oversubscription a busy 2-core machine shows
pytestmark = pytest.mark.usefixtures("one_thread")


def random_data(n_train=48, n_test=20):
    g = torch.Generator().manual_seed(0)
    return (torch.rand(n_train, 1, 28, 28, generator=g), torch.randint(0, 10, (n_train,), generator=g),
            torch.rand(n_test, 1, 28, 28, generator=g), torch.randint(0, 10, (n_test,), generator=g))


def test_train_one_counts_steps_and_scales_the_learning_rate():
    r = small_batch.train_one("gn", 4, examples=30, base_lr=1.0, data=random_data())
    assert (r["steps"], r["examples"], r["lr"]) == (7, 28, 4 / 256)
    assert 0.0 <= r["test_error"] <= 1.0
    # more steps than one pass over the 48 examples: the loop starts a new pass
    r = small_batch.train_one("bn", 8, examples=120, base_lr=1.0, data=random_data())
    assert r["steps"] == 15


def test_command_line_and_run_write_json_and_figure(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(small_batch, "load_data", lambda device: random_data())
    args = build_parser().parse_args(
        ["small-batch", "--examples", "16", "--batch-sizes", "2", "8", "--kinds", "bn", "in",
         "--out", str(tmp_path / "r.json"), "--figure", str(tmp_path / "f.svg")])
    assert args._run(args) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert [(r["kind"], r["batch_size"], r["steps"]) for r in report["results"]] == [
        ("bn", 2, 8), ("bn", 8, 2), ("in", 2, 8), ("in", 8, 2)]
    svg = (tmp_path / "f.svg").read_text()
    assert svg.startswith("<?xml") and "BatchNorm" in svg and "InstanceNorm" in svg
    assert "bn batch   2:     8 steps" in capsys.readouterr().out


def test_committed_results_cover_every_kind_and_batch_size():
    report = json.loads(RESULTS.read_text(encoding="utf-8"))
    for key in ("command", "machine", "versions", "wall_seconds", "examples_budget", "lr_rule"):
        assert key in report, key
    assert report["command"].startswith("python -m bnref small-batch")
    assert "Fashion-MNIST" in report["dataset"]
    got = {(r["kind"], r["batch_size"]) for r in report["results"]}
    assert got == {(k, b) for k in small_batch.KINDS for b in small_batch.BATCH_SIZES}
    for r in report["results"]:
        assert r["steps"] == report["examples_budget"] // r["batch_size"]
        assert r["lr"] == pytest.approx(1.0 * r["batch_size"] / 256)
        assert 0.0 <= r["test_error"] <= 1.0 and r["final_train_loss"] > 0


def test_table_and_figure_agree_with_the_results(tmp_path):
    report = json.loads(RESULTS.read_text(encoding="utf-8"))
    lines = small_batch.table(RESULTS).splitlines()
    assert lines[0] == "| batch size | BN | LN | IN | GN |"
    row2 = next(line for line in lines if line.startswith("| 2 |"))
    bn2 = next(r for r in report["results"] if (r["kind"], r["batch_size"]) == ("bn", 2))
    assert row2.split("|")[2].strip() == f"{100 * bn2['test_error']:.1f}"
    small_batch.plot(RESULTS, tmp_path / "f.svg")
    assert (tmp_path / "f.svg").read_text() == FIGURE.read_text()  # committed figure is current
