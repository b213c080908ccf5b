"""The lr-sweep command (bnref.experiments.commands.lr_sweep): its two arms and its best rates.

The networks train here for a few dozen steps on the real data: the two arms
start from the same weights and differ only by BN, the networks learn, a
diverging run stops and says so; the best rate of each arm (phase 2) is the
highest mean accuracy among rates at which every seed trained. The command
itself (its tiny run with both phases, the file, resuming, the committed
file and its page and figure) is checked in test_commands.py; the accuracy
numbers live in src/bnref/results/lr-sweep-cpu.json, replayed by
tests/experiments/test_replay.py.
"""

from __future__ import annotations

import statistics

import pytest
import torch

from bnref import BatchNorm
from bnref.experiments.commands import lr_sweep
from bnref.experiments.harness import sweep

pytestmark = pytest.mark.usefixtures("one_thread")


def test_the_two_arms_start_from_the_same_weights_and_differ_only_by_bn():
    for act in lr_sweep.ACTIVATIONS:
        with_bn, _ = lr_sweep.train_one(act, "bn", 1.0, seed=3, epochs=None, max_steps=0)
        without, _ = lr_sweep.train_one(act, "none", 1.0, seed=3, epochs=None, max_steps=0)
        assert [type(m) for m in with_bn if not isinstance(m, BatchNorm)] \
            == [type(m) for m in without]
        assert sum(isinstance(m, BatchNorm) for m in with_bn) == 4
        weights = [p for m in with_bn if not isinstance(m, BatchNorm) for p in m.parameters()]
        assert len(weights) == len(list(without.parameters())) == 10
        for a, b in zip(weights, without.parameters()):
            assert torch.equal(a, b)


def test_scaled_xavier_multiplies_the_weights_and_keeps_the_biases():
    torch.manual_seed(0)
    layer = torch.nn.Linear(256, 120)
    bias = layer.bias.clone()
    torch.manual_seed(1)
    lr_sweep.scaled_xavier(1.0)(layer)
    one = layer.weight.clone()
    torch.manual_seed(1)
    lr_sweep.scaled_xavier(100.0)(layer)
    torch.testing.assert_close(layer.weight, 100 * one)
    assert torch.equal(layer.bias, bias)
    bound = (6 / (256 + 120)) ** 0.5  # xavier-uniform's bound
    assert one.abs().max() <= bound and one.abs().max() > 0.9 * bound


@pytest.mark.parametrize("act, arm, lr", [("sigmoid", "bn", 1.0), ("relu", "none", 0.1)])
def test_the_network_learns_in_a_few_dozen_steps(act, arm, lr):
    net, history = lr_sweep.train_one(act, arm, lr, seed=0, epochs=None, max_steps=40,
                                      record_losses=40)
    losses = history.step_losses
    assert history.steps == 40 and history.diverged_at is None
    assert statistics.fmean(losses[-5:]) < 0.75 * statistics.fmean(losses[:5])
    assert sweep.score(net) > 0.4  # all 10,000 test images; chance: 0.1


def test_a_diverging_run_stops_and_says_so():
    # ReLU without BN from weights 100 times xavier's: the logits overflow within a few steps
    net, history = lr_sweep.train_one("relu", "none", 0.1, seed=0, epochs=None, max_steps=30,
                                      init_scale=100.0)
    assert history.diverged_at is not None and history.steps == history.diverged_at
    r = lr_sweep.outcome(history, sweep.score(net))
    assert r["diverged"] and not r["trained"]


def test_steps_to_best_and_largest_rates():
    assert lr_sweep.steps_to([(10, 0.5), (20, 0.81), (30, 0.79)], 0.8) == 20
    assert lr_sweep.steps_to([(10, 0.5)], 0.8) is None

    def run(arm, lr, seed, acc, trained=True):
        return {"phase": "sweep", "activation": "sigmoid", "arm": arm, "lr": lr, "seed": seed,
                "test_acc": acc, "trained": trained}

    runs = [run("bn", 1.0, 0, 0.85), run("bn", 1.0, 1, 0.84), run("bn", 10.0, 0, 0.86),
            run("bn", 10.0, 1, 0.1, trained=False), run("bn", 3.0, 0, 0.80),
            run("bn", 3.0, 1, 0.80), run("none", 0.1, 0, 0.7), run("none", 0.1, 1, 0.6)]
    # 10 is not best although one seed scored highest there: a seed failed at 10
    assert lr_sweep.best_lrs(runs) == {("sigmoid", "bn"): 1.0, ("sigmoid", "none"): 0.1}
    assert lr_sweep.largest_trained(runs, "sigmoid", "bn") == 3.0
    assert lr_sweep.largest_trained(runs, "relu", "bn") is None


def test_bad_input_is_refused_with_what_was_expected():
    with pytest.raises(ValueError, match="arm must be one of bn, none; got 'all'"):
        lr_sweep.train_one("sigmoid", "all", 1.0, max_steps=1)
    with pytest.raises(ValueError, match="eval_images must be a positive multiple of 1000; "
                                         "got 1500"):
        lr_sweep.train_one("sigmoid", "bn", 1.0, max_steps=1, eval_images=1500)
