"""The init-scale command (bnref.experiments.init_scale) and its committed results.

The command runs here for a few dozen steps on the real data: the scaled
initialization reaches the networks, BN makes the first losses independent of
the scale, the networks learn, the files are written and resumed. The
accuracy numbers live in src/bnref/results/init-scale-cpu.json, produced by the
full command and replayed by tests/test_replay.py.
"""

from __future__ import annotations

import json
import statistics

import pytest
import torch

from bnref.__main__ import main
from bnref.experiments import figures, init_scale, lr_sweep, pages

from results_support import FIGURES, RESULTS

COMMITTED = RESULTS / "init-scale-cpu.json"

pytestmark = pytest.mark.usefixtures("one_thread")


def test_the_scale_reaches_the_weights_and_bn_undoes_it_in_the_forward_pass():
    from bnref.d2l.data import fashion_mnist_tensors

    X, _ = fashion_mnist_tensors(train=True)
    out = {}
    for arm in ("bn", "none"):
        for scale in (1.0, 10.0):
            net, _ = lr_sweep.train_one("sigmoid", arm, 0.9, seed=2, epochs=None, max_steps=0,
                                        init_scale=scale)
            # what reaches the classifier (the last linear layer, which no BN follows)
            out[arm, scale] = (net[0].weight.detach().clone(),
                               net.train()[:-1](X[:256]).detach())
    torch.testing.assert_close(out["none", 10.0][0], 10 * out["none", 1.0][0])
    torch.testing.assert_close(out["bn", 10.0][0], 10 * out["bn", 1.0][0])
    # with BN the scale of the weights is normalized away (up to eps) in every layer before
    # the classifier: its input at the first step is nearly the same; without BN it is not
    torch.testing.assert_close(out["bn", 10.0][1], out["bn", 1.0][1], rtol=0, atol=1e-3)
    assert (out["none", 10.0][1] - out["none", 1.0][1]).abs().max() > 0.1


@pytest.mark.parametrize("arm, scale", [("bn", 100.0), ("none", 1.0)])
def test_the_network_learns_in_a_few_dozen_steps(arm, scale):
    net, history = lr_sweep.train_one("relu", arm, init_scale.LRS["relu"], seed=0, epochs=None,
                                      max_steps=40, init_scale=scale, record_losses=40)
    losses = history.step_losses
    assert history.diverged_at is None
    assert statistics.fmean(losses[-5:]) < 0.75 * statistics.fmean(losses[:5])
    assert lr_sweep.accuracy_on_test_set(net) > 0.3  # chance is 0.1


def test_bad_scales_are_refused():
    with pytest.raises(SystemExit, match=r"--scales must be positive factors; got \[0.0, 1.0\]"):
        main(["init-scale", "--scales", "0", "1", "--out", "/nonexistent/r.json"])


def test_command_writes_runs_and_figure_and_resumes(tmp_path, capsys):
    out = tmp_path / "r.json"
    args = ["init-scale", "--activations", "relu", "--scales", "0.1", "100", "--seeds", "1",
            "--max-steps", "20", "--out", str(out), "--no-progress"]
    assert main(args) == 0
    report = json.loads(out.read_text())
    assert sorted(report["runs"]) == sorted(init_scale.run_key("relu", arm, s, 0)
                                            for arm in ("bn", "none") for s in (0.1, 100.0))
    for r in report["runs"].values():
        assert r["lr"] == init_scale.LRS["relu"]
        assert r["steps"] == (r["diverged_at"] if r["diverged"] else 20)
        assert 0.0 <= r["test_acc"] <= 1.0
    # ReLU without BN from weights 100 times xavier's: the loss overflows at once
    assert report["runs"][init_scale.run_key("relu", "none", 100.0, 0)]["diverged"]
    bn = report["runs"][init_scale.run_key("relu", "bn", 100.0, 0)]
    assert bn["trained"] and not bn["diverged"]
    assert {e["run"]["arm"] for e in report["replay"]["runs"]} == {"bn", "none"}
    assert (tmp_path / "init-scale.svg").read_text().startswith("<?xml")
    assert "relu none scale 100   seed 0: test acc" in capsys.readouterr().out
    assert main(args) == 0
    assert "resuming" in capsys.readouterr().out
    assert json.loads(out.read_text())["runs"] == report["runs"]
    pages.init_scale_table(out)
    table = capsys.readouterr().out
    assert "| xavier × | relu, with BN | relu, without BN |" in table
    assert "| 100 | " in table and "(0 of 1)" in table


# ---- the committed file (written by the full command) ----


@pytest.fixture(scope="module")
def committed():
    return json.loads(COMMITTED.read_text(encoding="utf-8"))


def test_committed_results_cover_every_setting_and_seed(committed):
    c = committed["config"]
    assert committed["command"].startswith("python -m bnref init-scale")
    assert c["seeds"] >= 3 and c["max_steps"] is None and c["threads"] == 1
    assert min(c["scales"]) <= 0.01 and max(c["scales"]) >= 100 and 1.0 in c["scales"]
    assert "sigmoid" in c["activations"] and c["arms"] == list(lr_sweep.ARMS)
    assert set(committed["runs"]) == {init_scale.run_key(a, m, s, seed)
                                      for a in c["activations"] for m in c["arms"]
                                      for s in c["scales"] for seed in range(c["seeds"])}
    per_epoch = -(-60000 // 256)
    for r in committed["runs"].values():
        assert r["lr"] == c["lrs"][r["activation"]]
        assert r["steps"] == (r["diverged_at"] if r["diverged"] else c["epochs"] * per_epoch)
        assert r["trained"] == (not r["diverged"] and r["test_acc"] > c["failed_at"])
    assert committed["replay"]["runs"] and committed["wall_seconds"] > 0


def test_committed_table_and_figure_agree_with_the_results(committed, tmp_path, capsys):
    pages.init_scale_table(COMMITTED)
    lines = capsys.readouterr().out.splitlines()
    row = next(line for line in lines if line.startswith("| 1 | "))
    accs = [r["test_acc"] for r in committed["runs"].values()
            if (r["activation"], r["arm"], r["init_scale"]) == ("sigmoid", "bn", 1.0)]
    assert row.split("|")[2].strip().startswith(f"{statistics.fmean(accs):.3f} ± "
                                                f"{statistics.stdev(accs):.3f}")
    figures.init_scale(COMMITTED, tmp_path / "f.svg")
    assert (tmp_path / "f.svg").read_text() == (FIGURES / "init-scale.svg").read_text()
