"""The activations command (bnref.experiments.commands.activations): what enters each sigmoid.

The command measures, per layer, the values entering each ``nn.Sigmoid`` of
LeNet and LeNet-BN (forward hooks); the figure is drawn from its results file
(``python -m bnref figures --only activations``). Here the measurement; the
command itself (its tiny run, the quantiles in its file, resuming, the
replay, the committed file and the figure) is checked in test_commands.py.
"""

from __future__ import annotations

import torch

import bnref
from bnref.experiments.commands import activations


def test_sigmoid_inputs_are_what_enters_each_sigmoid():
    torch.manual_seed(0)
    net = bnref.lenet_bn().eval()
    X = torch.randn(3, 1, 28, 28)
    got = activations.sigmoid_inputs(net, X)
    assert [v.numel() for v in got] == [3 * 6 * 24 * 24, 3 * 16 * 8 * 8, 3 * 120, 3 * 84]
    with torch.no_grad():
        assert torch.equal(got[0], net[1](net[0](X)).flatten())
    assert not any(m._forward_hooks for m in net)  # hooks removed afterwards


def test_one_sigmoid_per_measured_layer_in_both_networks():
    X = torch.randn(2, 1, 28, 28)
    for model in activations.MODELS:
        net = getattr(bnref, model)().eval()
        assert len(activations.sigmoid_inputs(net, X)) == len(activations.LAYERS)
