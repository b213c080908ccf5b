"""The dropout command (bnref.experiments.commands.dropout): its variance-shift measurement.

The measurement is checked where the answer is known: a BN layer fed by
dropout on input of known mean and variance learns, as its moving variance,
the train-time variance of the dropped-out signal, ``(v + c²)/(1 - p) - c²``
(Li et al. 2019, with dropout's 1/(1-p) scaling), while at test time it sees
``v``; re-estimating the statistics with dropout off removes the shift. The
network learns with dropout (a few dozen steps on the real data). The
command itself (its tiny run, the variance shift of every BN layer in its
file, resuming, a replay that depends on the dropout masks, the committed
file and its page and figure) is checked in test_commands.py; the dropout
layer, whose masks the seed fixes on any CPU, in tests/norm/test_dropout_layer.py.
The accuracy numbers live in src/bnref/results/dropout-cpu.json, replayed by
tests/experiments/test_replay.py.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bnref import BatchNorm
from bnref.experiments.commands import dropout
from bnref.recalibrate import recalibrate

pytestmark = pytest.mark.usefixtures("one_thread")


def _train_moving_statistics(net: nn.Module, mean: float, std: float, shape, steps: int = 200):
    """Feed ``net`` (in training mode, no gradients) ``steps`` batches of N(mean, std²)."""
    net.train()
    with torch.no_grad():
        for _ in range(steps):
            net(mean + std * torch.randn(*shape))
    return net


@pytest.mark.parametrize("p, mean, std, shape", [
    (0.5, 0.0, 1.0, (256, 64)),        # (1 + 0) / 0.5 - 0 = 2
    (0.5, 1.0, 1.0, (256, 64)),        # (1 + 1) / 0.5 - 1 = 3
    (0.3, 2.0, 0.5, (256, 64)),        # (0.25 + 4) / 0.7 - 4 = 2.071..., over 0.25
    (0.5, 0.0, 1.0, (64, 8, 6, 6)),    # after a convolution: per channel over N, H, W
])
def test_variance_shift_of_bn_after_dropout_is_the_known_factor(p, mean, std, shape):
    torch.manual_seed(0)
    channels, num_dims = shape[1], len(shape)
    net = _train_moving_statistics(nn.Sequential(nn.Dropout(p), BatchNorm(channels, num_dims)),
                                   mean, std, shape)
    v, c2 = std ** 2, mean ** 2
    m = shape[0] * (shape[2] * shape[3] if num_dims == 4 else 1)  # values per channel
    biased = (m - 1) / m  # the moving variance averages the biased batch variance
    expected = ((v + c2) / (1 - p) - c2) / v * biased
    X = mean + std * torch.randn(20_000 if num_dims == 2 else 2_000, *shape[1:])
    [layer] = dropout.variance_shift(net, X)
    assert layer["after_dropout"] and layer["channels"] == channels
    assert layer["ratio"] == pytest.approx(expected, rel=0.04)
    assert layer["li_shift"] == pytest.approx(layer["ratio"], rel=1e-6)  # every ratio > 1 here
    assert layer["test_var"] == pytest.approx(v, rel=0.03)
    assert layer["ratio_min"] <= layer["ratio"] <= layer["ratio_max"]
    assert net.training  # the mode is given back


def test_without_dropout_there_is_no_shift_and_li_measure_folds_ratios_below_one():
    torch.manual_seed(0)
    net = _train_moving_statistics(nn.Sequential(BatchNorm(64, 2)), 1.0, 2.0, (256, 64))
    [layer] = dropout.variance_shift(net, 1.0 + 2.0 * torch.randn(20_000, 64))
    assert not layer["after_dropout"]
    assert layer["ratio"] == pytest.approx(255 / 256, rel=0.04)
    # a layer that met a larger variance at test time than in training
    [wide] = dropout.variance_shift(net, 1.0 + 4.0 * torch.randn(20_000, 64))
    assert wide["ratio"] == pytest.approx(0.25 * 255 / 256, rel=0.05)
    assert wide["li_shift"] == pytest.approx(1 / wide["ratio"], rel=0.05)


def test_variance_shift_needs_bn_layers():
    with pytest.raises(ValueError, match="needs a network with BatchNorm layers; got none"):
        dropout.variance_shift(nn.Sequential(nn.Linear(2, 2)), torch.zeros(4, 2))


def test_recalibration_removes_the_shift_with_dropout_off():
    torch.manual_seed(0)
    net = _train_moving_statistics(nn.Sequential(nn.Dropout(0.5), BatchNorm(64, 2)),
                                   1.0, 1.0, (256, 64))
    X = 1.0 + torch.randn(20_000, 64)
    assert dropout.variance_shift(net, X)[0]["ratio"] > 2.5
    fresh = recalibrate(net, X[:10_000])  # what the command scores: sweep.score(recalibrated=)
    assert not fresh.training and not fresh[0].training  # dropout off while estimating
    assert dropout.variance_shift(fresh, X)[0]["ratio"] == pytest.approx(1.0, rel=0.03)
    assert dropout.variance_shift(net, X)[0]["ratio"] > 2.5  # the original is untouched


@pytest.mark.parametrize("arm", dropout.ARMS)
def test_the_network_learns_with_dropout(arm):
    # 40 steps of batch 256 on the real data, dropout 0.5 before the hidden layers
    _, history = dropout.train_one(arm, 0.5, "hidden", 0.3, seed=0, epochs=None, max_steps=40,
                                   eval_batches=2)
    assert history.steps == 40 and history.diverged_at is None
    assert history.test_acc[-1] > 0.25, history.test_acc  # chance is 0.1
