"""The placement command (bnref.experiments.placement) and its committed results.

The command runs here for a few steps on the real data: the two arms differ in
BN's position only, the network learns in either, the files are written and
resumed. The accuracy numbers live in src/bnref/results/placement-cpu.json, made by
the full command and replayed by tests/test_replay.py.
"""

from __future__ import annotations

import json

import pytest
import torch

from bnref.__main__ import main
from bnref.experiments import figures, pages, placement

from results_support import FIGURES, RESULTS

COMMITTED = RESULTS / "placement-cpu.json"

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


def test_replay_losses_are_determined_by_the_settings():
    spec = {"activation": "sigmoid", "placement": "after", "lr": 1.0, "seed": 1}
    first = placement.replay_losses(spec, 3)
    assert first == placement.replay_losses(spec, 3) and len(first) == 3
    assert first != placement.replay_losses({**spec, "placement": "before"}, 3)


def test_command_writes_runs_and_figure_and_resumes(tmp_path, capsys):
    out = tmp_path / "r.json"
    args = ["placement", "--activations", "relu", "--lrs", "1", "--seeds", "2", "--epochs", "1",
            "--max-steps", "3", "--out", str(out), "--no-progress"]
    assert main(args) == 0
    report = json.loads(out.read_text())
    assert report["experiment"] == "placement" and report["config"]["batch_size"] == 256
    assert sorted(report["runs"]) == sorted(placement.run_key("relu", p, 1.0, s)
                                            for p in placement.PLACEMENTS for s in (0, 1))
    for r in report["runs"].values():
        assert r["steps"] == 3 and len(r["test_acc"]) == len(r["train_loss"]) == 1
        assert 0.0 <= r["test_acc"][0] <= 1.0 and r["train_loss"][0] > 0
        assert r["provenance"]["machine"]["cpu_capability"]
    # the replay entry covers both arms, one seed each, and is what the code computes
    replay = report["replay"]
    assert [s["run"]["placement"] for s in replay["runs"]] == ["before", "after"]
    assert all(len(s["losses"]) == placement.REPLAY_STEPS for s in replay["runs"])
    assert (tmp_path / "placement.svg").read_text().startswith("<?xml")
    assert "relu BN before lr 1    seed 0: test acc" in capsys.readouterr().out
    assert main(args) == 0  # a second call has nothing left to train
    assert "resuming" in capsys.readouterr().out
    assert json.loads(out.read_text())["runs"] == report["runs"]
    assert args[3:5] == ["--lrs", "1"]
    with pytest.raises(SystemExit, match="holds results of other settings"):
        main([*args[:4], "0.5", *args[5:]])  # another learning rate into the same file


def test_bad_settings_are_refused_with_what_was_given(tmp_path):
    with pytest.raises(SystemExit, match="--epochs must be >= 1; got 0"):
        main(["placement", "--epochs", "0", "--out", str(tmp_path / "r.json")])
    with pytest.raises(SystemExit, match=r"--lrs must be positive learning rates; got \[0.0\]"):
        main(["placement", "--lrs", "0", "--out", str(tmp_path / "r.json")])


def test_the_table_pairs_the_placements_by_seed(tmp_path, capsys):
    runs = {}
    for seed, (b, a) in enumerate([(0.80, 0.85), (0.70, 0.78), (0.90, 0.93)]):
        for where, acc in (("before", b), ("after", a)):
            runs[placement.run_key("relu", where, 1.0, seed)] = {
                "activation": "relu", "placement": where, "lr": 1.0, "seed": seed,
                "test_acc": [0.5, acc], "train_loss": [1.0, 1.0 - acc]}
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"config": {"activations": ["relu"], "lrs": [1.0],
                                           "batch_size": 256, "epochs": 2}, "runs": runs}))
    pages.placement_table(path)
    row = capsys.readouterr().out.splitlines()[-1].split("|")
    # before 0.800 ± 0.100; after 0.853 ± 0.075; paired differences 0.05, 0.08, 0.03
    assert [c.strip() for c in row[1:6]] == ["relu", "1", "0.800 ± 0.100", "0.853 ± 0.075",
                                             "+0.053 ± 0.025"]
    assert row[8].strip() == "-0.053 ± 0.025"
    pages.placement_table(path, last=2)  # each run: the mean of its last two epochs
    row = capsys.readouterr().out.splitlines()[-1].split("|")
    assert [c.strip() for c in row[3:6]] == ["0.650 ± 0.050", "0.677 ± 0.038", "+0.027 ± 0.013"]
    with pytest.raises(ValueError, match="last must be between 1 and the 2 epochs of .*; got 3"):
        pages.placement_table(path, last=3)


# ---- the committed results ----

def _committed():
    if not COMMITTED.is_file():
        pytest.fail(f"{COMMITTED} is missing: run python -m bnref placement --threads 1")
    return json.loads(COMMITTED.read_text(encoding="utf-8"))


def test_committed_results_cover_every_setting_and_seed():
    report = _committed()
    config = report["config"]
    assert report["command"].startswith("python -m bnref placement")
    assert config["seeds"] >= 3 and config["epochs"] >= 5 and config["max_steps"] is None
    got = {(r["activation"], r["placement"], r["lr"], r["seed"]) for r in report["runs"].values()}
    assert got == {(a, p, lr, s) for a in placement.ACTIVATIONS for p in placement.PLACEMENTS
                   for lr in config["lrs"] for s in range(config["seeds"])}
    for r in report["runs"].values():
        if r["diverged_at"] is None:
            assert len(r["test_acc"]) == len(r["train_loss"]) == config["epochs"]
            assert r["steps"] == config["epochs"] * 235  # 60000 / 256, the last batch kept
        assert all(0.0 <= a <= 1.0 for a in r["test_acc"])


def test_table_and_figure_agree_with_the_results(tmp_path, capsys):
    report = _committed()
    pages.placement_table(COMMITTED)
    lines = capsys.readouterr().out.splitlines()
    row = next(line for line in lines if line.startswith("| sigmoid | 1 |"))
    before = [r["test_acc"][-1] for r in report["runs"].values()
              if (r["activation"], r["placement"], r["lr"]) == ("sigmoid", "before", 1.0)]
    assert row.split("|")[3].strip().startswith(f"{sum(before) / len(before):.3f} ± ")
    figures.placement(COMMITTED, tmp_path / "f.svg")
    assert (tmp_path / "f.svg").read_text() == (FIGURES / "placement.svg").read_text()
