"""The placement command (bnref.experiments.commands.placement): BN before or after the activation.

The two arms differ in BN's position only, the network learns in either (a
few dozen steps on the real data), and the page pairs the placements by seed.
The command itself (its tiny run, the file, resuming, a replay that depends on
the placement, the committed file and its page and figure) is checked in
test_commands.py; the accuracy numbers live in src/bnref/results/placement-cpu.json,
replayed by tests/experiments/test_replay.py.
"""

from __future__ import annotations

import json

import pytest
import torch

from bnref.experiments.commands import placement
from bnref.experiments.report import pages

pytestmark = pytest.mark.usefixtures("one_thread")


def test_the_two_placements_differ_in_the_position_of_bn_only():
    from bnref import BatchNorm
    from bnref.d2l.train import init_weights
    from bnref.models import lenet_variant

    nets = {}
    for where in placement.PLACEMENTS:
        torch.manual_seed(0)
        nets[where] = lenet_variant(activation="relu", placement=where).apply(init_weights)
    before, after = nets["before"], nets["after"]
    # the same layers, BN moved past the activation: conv, BN, ReLU against conv, ReLU, BN
    assert [type(m).__name__ for m in before[:3]] == ["Conv2d", "BatchNorm", "ReLU"]
    assert [type(m).__name__ for m in after[:3]] == ["Conv2d", "ReLU", "BatchNorm"]
    assert sorted(type(m).__name__ for m in before) == sorted(type(m).__name__ for m in after)
    # and the same initial weights from the same seed
    sd_before, sd_after = before.state_dict(), after.state_dict()
    weights = lambda sd: [v for k, v in sd.items() if "gamma" not in k and "beta" not in k
                          and "moving" not in k]
    assert all(torch.equal(a, b) for a, b in zip(weights(sd_before), weights(sd_after)))
    assert sum(isinstance(m, BatchNorm) for m in after) == 4


@pytest.mark.parametrize("activation", placement.ACTIVATIONS)
@pytest.mark.parametrize("where", placement.PLACEMENTS)
def test_the_network_learns_in_either_placement(activation, where):
    # 40 steps of batch 256 on the real data, scored on the first 2000 test images
    _, history = placement.train_one(activation, where, 1.0, seed=0, epochs=None,
                                     max_steps=40, eval_batches=2)
    assert history.steps == 40 and history.diverged_at is None
    assert history.test_acc[-1] > 0.45, history.test_acc  # chance is 0.1


def test_the_table_pairs_the_placements_by_seed(tmp_path, capsys):
    runs = {}
    for seed, (b, a) in enumerate([(0.80, 0.85), (0.70, 0.78), (0.90, 0.93)]):
        for where, acc in (("before", b), ("after", a)):
            runs[placement.run_key("relu", where, 1.0, seed)] = {
                "activation": "relu", "placement": where, "lr": 1.0, "seed": seed,
                "test_acc": [0.5, acc - 0.1], "recalibrated_test_acc": acc,
                "train_loss": [1.0, 1.0 - acc], "diverged_at": None}
    config = {"activations": ["relu"], "lrs": [1.0], "batch_size": 256, "epochs": 2,
              "recalibration_images": 4096}
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"config": config, "runs": runs}))
    pages.placement_table(path)
    row = [c.strip() for c in capsys.readouterr().out.splitlines()[-1].split("|")]
    # re-estimated: before 0.800 ± 0.100, after 0.853 ± 0.075; paired differences 5, 8, 3
    # points: mean 5.33, std 2.52, t(2) = 4.303 -> half-width 6.25
    assert row[1:7] == ["relu", "1", "0.800 ± 0.100", "0.853 ± 0.075", "+5.3 [-0.9, +11.6]",
                        "within noise"]
    assert row[7] == "0.700 ± 0.100 / 0.753 ± 0.075"  # as trained
    # a diverged run is not hidden inside a paired difference over the survivors
    runs[placement.run_key("relu", "after", 1.0, 2)].update(diverged_at=17)
    path.write_text(json.dumps({"config": config, "runs": runs}))
    pages.placement_table(path)
    row = [c.strip() for c in capsys.readouterr().out.splitlines()[-1].split("|")]
    assert row[4:7] == ["1 of 3 diverged", "–", "after diverges in 1 of 3"]
