"""The small-batch command (bnref.experiments.small_batch) and its committed results.

The command runs here for a few steps on the real data: the mechanics (step
counting, the learning-rate rule, the files written, resuming), not the
accuracy. The accuracy numbers live in src/bnref/results/small-batch-cpu.json,
produced by the full command and replayed by tests/test_replay.py.
"""

from __future__ import annotations

import json

import pytest
import torch

from bnref.__main__ import main
from bnref.experiments import figures, pages, small_batch

from results_support import FIGURES, RESULTS

COMMITTED = RESULTS / "small-batch-cpu.json"

# tiny batches: one thread avoids the oversubscription a busy 2-core machine shows
pytestmark = pytest.mark.usefixtures("one_thread")


def test_recalibration_takes_the_moving_statistics_of_one_large_batch():
    from bnref import BatchNorm
    from bnref.d2l.data import fashion_mnist_tensors

    net, _ = small_batch.train_one("bn", 8, examples=64, base_lr=1.0)
    small_batch.recalibrate(net, images=512)
    assert not net.training
    first = next(m for m in net.modules() if isinstance(m, BatchNorm))
    assert first.momentum == 0.9  # restored
    X, _ = fashion_mnist_tensors(train=True)
    with torch.no_grad():
        conv = net[0](X[:512])
    mean = conv.mean(dim=(0, 2, 3))
    var = conv.var(dim=(0, 2, 3), unbiased=False)
    torch.testing.assert_close(first.moving_mean.reshape(-1), mean, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(first.moving_var.reshape(-1), var, rtol=1e-5, atol=1e-6)


def test_batch_of_one_bn_after_a_linear_layer_is_refused_and_after_convolutions_trains():
    assert "more than one value per channel" in small_batch.batch_of_one_fc_error()
    net, history = small_batch.train_one("bn-conv", 1, examples=6, base_lr=1.0)
    assert history.steps == 6 and all(torch.isfinite(torch.tensor(history.train_loss)))


def test_train_one_counts_steps_and_scales_the_learning_rate():
    net, history = small_batch.train_one("gn", 4, examples=30, base_lr=1.0)
    assert (history.steps, history.examples_seen) == (7, 28)
    net, history = small_batch.train_one("bn", 8, examples=120, base_lr=1.0, record_losses=3)
    assert history.steps == 15 and len(history.step_losses) == 3
    assert 0.0 <= small_batch.test_accuracy(net) <= 1.0


def test_command_writes_runs_and_figure_and_resumes(tmp_path, capsys):
    args = ["small-batch", "--examples", "16", "--batch-sizes", "2", "8", "--kinds", "bn", "in",
            "--seeds", "2", "--out", str(tmp_path / "r.json"), "--no-progress",
            "--no-batch-of-one"]
    assert main(args) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert [(r["kind"], r["batch_size"], r["seed"], r["steps"]) for r in report["runs"].values()] \
        == [(k, b, s, 16 // b) for s in (0, 1) for k in ("bn", "in") for b in (2, 8)]
    for r in report["runs"].values():
        assert r["lr"] == pytest.approx(r["batch_size"] / 256)
        assert r["provenance"]["machine"]["cpu_capability"]
        # BN's runs also carry the error after recalibrating its moving statistics
        assert ("recalibrated_test_error" in r) == (r["kind"] == "bn")
    svg = (tmp_path / "small-batch.svg").read_text()  # beside --out
    assert svg.startswith("<?xml")
    out = capsys.readouterr().out
    assert "bn batch   2 seed 0:     8 steps" in out
    assert main(args) == 0  # a second call has nothing left to train
    assert "resuming" in capsys.readouterr().out
    assert json.loads((tmp_path / "r.json").read_text())["runs"] == report["runs"]


def test_committed_results_cover_every_kind_batch_size_and_seed():
    report = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert report["command"].startswith("python -m bnref small-batch")
    config = report["config"]
    assert config["seeds"] >= 3
    got = {(r["kind"], r["batch_size"], r["seed"]) for r in report["runs"].values()}
    assert got == {(k, b, s) for k in small_batch.KINDS for b in small_batch.BATCH_SIZES
                   for s in range(config["seeds"])} | {
        (k, 1, s) for k in config["batch_of_one"] for s in range(config["seeds"])}
    assert config["batch_of_one"] == list(small_batch.BATCH_OF_ONE)
    assert "more than one value per channel" in report["batch_of_one_fc_error"]
    for r in (r for r in report["runs"].values() if r["batch_size"] > 1):
        assert r["steps"] == config["examples"] // r["batch_size"]
        assert r["lr"] == pytest.approx(config["base_lr"] * r["batch_size"] / 256)
        assert 0.0 <= r["test_error"] <= 1.0 and r["train_loss"] > 0
        if r["kind"] == "bn":
            assert 0.0 <= r["recalibrated_test_error"] <= 1.0


def test_table_and_figure_agree_with_the_results(tmp_path, capsys):
    report = json.loads(COMMITTED.read_text(encoding="utf-8"))
    pages.small_batch_table(COMMITTED)
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "| batch size | BN | LN | IN | GN |"
    row2 = next(line for line in lines if line.startswith("| 2 |"))
    bn2 = [100 * r["test_error"] for r in report["runs"].values()
           if (r["kind"], r["batch_size"]) == ("bn", 2)]
    assert row2.split("|")[2].strip().startswith(f"{sum(bn2) / len(bn2):.1f} ± ")
    figures.small_batch(COMMITTED, tmp_path / "f.svg")
    assert (tmp_path / "f.svg").read_text() == (FIGURES / "small-batch.svg").read_text()
