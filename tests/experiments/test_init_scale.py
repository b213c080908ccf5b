"""The init-scale command (bnref.experiments.commands.init_scale): what a scaled start does.

The networks train here for a few dozen steps on the real data: the scaled
initialization reaches the networks, BN undoes the scale in the forward pass,
and the networks learn. The command itself (its tiny run, where ReLU without
BN diverges from 100 times xavier's weights and with BN trains; the file,
resuming, the committed file and its page and figure) is checked in
test_commands.py; the accuracy numbers live in
src/bnref/results/init-scale-cpu.json, replayed by tests/experiments/test_replay.py.
"""

from __future__ import annotations

import statistics

import pytest
import torch

from bnref.experiments.commands import init_scale, lr_sweep
from bnref.experiments.harness import sweep

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
    assert sweep.score(net) > 0.3  # chance is 0.1
