"""`python -m bnref reproduce`: what only this command does.

The command's contract (its tiny run, its file, resuming, the replay, the
committed file covering the note's settings, the page's numbers, the curves
figure) is checked with every training command in test_commands.py; the
fast data path's sampling is a test of bnref.d2l (tests/norm/test_d2l.py).
"""

import json

import pytest

from bnref.experiments.commands import reproduce

from results_support import RESULTS


def test_bn_impl_swaps_lenet_bn_layers_only():
    with pytest.raises(ValueError, match="swaps lenet_bn's BatchNorm layers; model 'lenet'"):
        reproduce.train_one("lenet", 0, epochs=1, batch_size=256, device="cpu",
                            data_path="fast", max_steps=1, bn_impl="fast")
    r = reproduce.train_one("lenet_bn", 0, epochs=1, batch_size=256, device="cpu",
                            data_path="fast", max_steps=2, progress=False, bn_impl="fast")
    assert len(r["net1_gamma"]) == 6


def test_committed_fused_run_is_the_notes_training_through_the_fast_path():
    data = json.loads((RESULTS / "reproduce-cpu-fused.json").read_text())
    assert "+" not in data["provenance"]["commit"], "made from committed code"
    config = data["config"]
    assert config["bn_impl"] == "fused" and config["data_path"] == "fast"
    assert config["epochs"] == 10 and config["batch_size"] == 256
    assert config["max_steps"] is None and config["seeds"] == 3
    assert list(data["runs"]) == [f"lenet_bn/seed={s}" for s in range(3)]
    for r in data["runs"].values():
        assert len(r["test_acc"]) == len(r["elapsed_seconds"]) == 10


