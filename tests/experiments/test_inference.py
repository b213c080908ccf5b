"""The inference command (bnref.experiments.commands.inference): a smoke run, its networks, the file.

The command runs here with a tiny timing budget: the mechanics (every arm
timed at every batch size, the folded network equal to the unfolded one on the
real test images, the hash of the timed code, resuming), not the timings. The
timings live in src/bnref/results/inference-cpu.json, made by the full command; a
timing cannot be replayed, so the suite reports when the code it timed has
changed (``timed_code``).
"""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from bnref import BatchNorm
from bnref.__main__ import main
from bnref.experiments.commands import inference

from bnref.experiments.report import pages
from bnref.experiments.harness import record
from results_support import RESULTS

COMMITTED = RESULTS / "inference-cpu.json"

pytestmark = pytest.mark.usefixtures("one_thread")


def test_command_times_every_arm_checks_the_fold_and_resumes(tmp_path, capsys):
    out = tmp_path / "i.json"
    args = ["inference", "--rounds", "1", "--steps", "2", "--min-run-time", "0.001",
            "--out", str(out)]
    assert main(args) == 0
    report = json.loads(out.read_text())
    assert report["timed_code"] == {"modules": list(inference.TIMED_MODULES),
                                    "hash": record.code_hash(*inference.TIMED_MODULES)}
    runs = report["runs"]
    assert {(r["arm"], r["batch_size"]) for r in runs["latency"]["rows"]} == {
        (a, b) for a in inference.LATENCY_ARMS for b in inference.BATCH_SIZES}
    assert all(r["median_s"] > 0 and r["runs"] >= 1 for r in runs["latency"]["rows"])
    assert list(runs["throughput"]["arms"]) == list(inference.TRAINING_ARMS)
    assert all(a["median"] > 0 for a in runs["throughput"]["arms"].values())
    fold = runs["fold"]
    assert fold["test_images"] == 10_000 and fold["bn_layers_folded"] == 4
    assert fold["max_abs_diff_logits"] <= 1e-5
    printed = capsys.readouterr().out
    # the command names the printer of its table (no command imports the report)
    assert (f"its table: bnref.experiments.report.pages.inference_table({str(out)!r})"
            in printed)
    pages.inference_table(out)
    table = capsys.readouterr().out
    assert "| batch | without BN | with BN (bnref.BatchNorm) | with BN (nn.BatchNorm) | BN folded |" \
        in table
    assert f"max |Δ logits| {fold['max_abs_diff_logits']:.1e}" in table
    assert main(args) == 0  # nothing left to measure
    assert "resuming" in capsys.readouterr().out
    assert json.loads(out.read_text())["runs"] == runs


def test_the_latency_arms_compute_the_same_function():
    from bnref.d2l.data import fashion_mnist_tensors

    torch.manual_seed(0)
    trained = {"none": inference.training_net("none"), "bnref": inference.training_net("bnref")}
    X, _ = fashion_mnist_tensors(train=True)
    with torch.no_grad():
        trained["bnref"].train()(X[:512])  # moves the moving statistics away from 0 and 1
    nets = inference.latency_nets(trained)
    assert not any(isinstance(m, (BatchNorm, nn.modules.batchnorm._BatchNorm))
                   for m in nets["folded"].modules())
    assert sum(isinstance(m, nn.BatchNorm2d) for m in nets["torch"]) == 2
    assert not any(isinstance(m, BatchNorm) for m in nets["torch"])
    Xt, _ = fashion_mnist_tensors(train=False)
    with torch.no_grad():
        ref = nets["bnref"](Xt[:256])
        for arm in ("torch", "folded"):
            torch.testing.assert_close(nets[arm](Xt[:256]), ref, rtol=1e-5, atol=1e-5)


def test_training_arms_change_only_the_bn_layer():
    from bnref.speed.fused import FusedBatchNorm

    kinds = {arm: [type(m).__name__ for m in inference.training_net(arm)]
             for arm in inference.TRAINING_ARMS}
    assert kinds["none"] == [k for k in kinds["bnref"] if k != "BatchNorm"]
    assert [k.replace("BatchNorm2d", "BatchNorm").replace("BatchNorm1d", "BatchNorm")
            for k in kinds["torch"]] == kinds["bnref"]
    assert kinds["fused"] == [FusedBatchNorm.__name__ if k == "BatchNorm" else k
                              for k in kinds["bnref"]]
    with pytest.raises(ValueError, match="arm must be one of none, bnref, fused, torch; got 'x'"):
        inference.training_net("x")


def test_committed_results_and_their_table(capsys):
    report = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert report["command"].startswith("python -m bnref inference")
    c = report["config"]
    assert c["threads"] == 1 and c["rounds"] >= 3 and c["steps"] >= 100
    assert report["timed_code"]["modules"] == list(inference.TIMED_MODULES)
    assert report["runs"]["fold"]["max_abs_diff_logits"] <= 1e-5
    assert report["runs"]["fold"]["predictions_differ"] == 0
    pages.inference_table(COMMITTED)
    lines = capsys.readouterr().out.splitlines()
    t = {r["arm"]: r["cpu_median_s"] for r in report["runs"]["latency"]["rows"]
         if r["batch_size"] == 256}
    row = next(line for line in lines if line.startswith("| 256 |"))
    assert f"({100 * (t['folded'] / t['none'] - 1):+.0f} %)" in row.split("|")[5]
