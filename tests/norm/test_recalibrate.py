"""bnref.recalibrate: one re-estimation of the moving statistics, right for every network.

Held to the two methods the experiments used before it, written here as the
references: one forward pass in training mode with momentum 0 (right for plain
BN without dropout), and precise BN's layer-by-layer pass through an
``nn.Sequential``. Then what those could not do: dropout stays off, ghost, noisy
and moving-statistics layers are estimated as evaluation mode uses them (no
random number drawn), ``torch.nn`` layers get PyTorch's unbiased variance, any
``nn.Module`` works; the errors say what was expected; the original network
is left untouched unless ``inplace=True``.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from bnref import BatchNorm
from bnref.norm.variants import (
    FixedAffineBatchNorm, MeanOnlyBatchNorm, MovingStatisticsBatchNorm, NoisyBatchNorm,
    StdOnlyBatchNorm, ghost_layer,
)
from bnref.recalibrate import recalibrate

pytestmark = pytest.mark.usefixtures("one_thread")


def make_net(layer=BatchNorm, dropout: float | None = None, seed: int = 0) -> nn.Sequential:
    """conv -> BN -> sigmoid -> pool -> linear -> BN -> sigmoid -> linear, optionally with
    dropout before each BN; untrained: the moving statistics start at (0, 1), far from
    the data's."""
    torch.manual_seed(seed)
    drop = (lambda: [nn.Dropout(dropout)]) if dropout is not None else (lambda: [])
    return nn.Sequential(
        nn.Conv2d(1, 4, kernel_size=3), *drop(), layer(4, num_dims=4), nn.Sigmoid(),
        nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(4 * 3 * 3, 6), *drop(), layer(6, num_dims=2), nn.Sigmoid(),
        nn.Linear(6, 3))


def images(n: int = 64, dtype=torch.float32, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, 1, 8, 8, generator=g, dtype=torch.float64) * 2 + 0.5).to(dtype)


def bn_layers(net):
    return [m for m in net.modules() if isinstance(m, (BatchNorm, nn.modules.batchnorm._BatchNorm))]


# the two earlier methods, as the experiments wrote them -------------------------------

def old_training_pass(net, X):
    """small_batch.recalibrate / dropout.recalibrate: one pass in training mode, momentum 0."""
    net = copy.deepcopy(net)
    layers = [m for m in net.modules() if isinstance(m, BatchNorm)]
    for m in layers:
        m.momentum = 0.0
    net.train()
    with torch.no_grad():
        net(X)
    for m in layers:
        m.momentum = 0.9
    return net.eval()


def old_layer_by_layer(net, X):
    """ghost_bn.precise_statistics: an nn.Sequential, evaluation mode, layer by layer."""
    net = copy.deepcopy(net).eval()
    h = X
    with torch.no_grad():
        for m in net:
            if isinstance(m, BatchNorm):
                dims = (0,) if h.dim() == 2 else (0, 2, 3)
                mean = h.mean(dim=dims, keepdim=True)
                var = (h - mean).square().mean(dim=dims, keepdim=True)
                m.moving_mean = mean.reshape(m.moving_mean.shape).to(m.moving_mean.dtype)
                m.moving_var = var.reshape(m.moving_var.shape).to(m.moving_var.dtype)
            h = m(h)
    return net


def assert_same_statistics(a, b, rtol, atol=0.0):
    la, lb = bn_layers(a), bn_layers(b)
    assert len(la) == len(lb) > 0
    for x, y in zip(la, lb):
        for name in ("moving_mean", "moving_var"):
            torch.testing.assert_close(getattr(x, name), getattr(y, name), rtol=rtol, atol=atol)


TOL = {torch.float32: 1e-6, torch.float64: 1e-12}


# (a), (b): the earlier methods, where they are right ----------------------------------

@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_equals_one_training_pass_with_momentum_zero(dtype):
    net, X = make_net().to(dtype), images(dtype=dtype)
    ours, old = recalibrate(net, X), old_training_pass(net, X)
    assert_same_statistics(ours, old, rtol=TOL[dtype], atol=TOL[dtype] * 1e-3)
    with torch.no_grad():
        torch.testing.assert_close(ours(X), old(X), rtol=TOL[dtype], atol=TOL[dtype])
    # the statistics really moved: away from (0, 1)
    for m in bn_layers(ours):
        assert not torch.allclose(m.moving_var, torch.ones_like(m.moving_var))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_equals_precise_bns_layer_by_layer_pass(dtype):
    net, X = make_net().to(dtype), images(dtype=dtype)
    ours, old = recalibrate(net, X), old_layer_by_layer(net, X)
    assert_same_statistics(ours, old, rtol=TOL[dtype], atol=TOL[dtype] * 1e-3)


def test_each_layer_holds_the_mean_and_biased_variance_of_its_input_in_evaluation():
    net, X = make_net(), images()
    ours = recalibrate(net, X)
    inputs = {}
    hooks = [m.register_forward_pre_hook(lambda m, a: inputs.__setitem__(m, a[0]))
             for m in bn_layers(ours)]
    with torch.no_grad():
        ours(X)  # evaluation mode: each layer sees what recalibration saw
    for h in hooks:
        h.remove()
    for m in bn_layers(ours):
        x = inputs[m].double()
        dims = (0,) if x.dim() == 2 else (0, 2, 3)
        mean, var = x.mean(dims), x.var(dims, unbiased=False)
        torch.testing.assert_close(m.moving_mean.reshape(-1).double(), mean, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(m.moving_var.reshape(-1).double(), var, rtol=1e-5, atol=1e-6)
        assert m.moving_mean.shape == m.gamma.shape and m.moving_mean.dtype == torch.float32


# (c) dropout ---------------------------------------------------------------------------

def test_dropout_is_off_the_result_equals_the_net_without_dropout():
    plain, with_dropout = make_net(), make_net(dropout=0.5)
    # the same weights: the dropout layers hold none
    params = [p for p in with_dropout.parameters()]
    for p, q in zip(params, plain.parameters()):
        assert torch.equal(p, q)
    X = images()
    torch.manual_seed(7)
    a = recalibrate(with_dropout, X)
    b = recalibrate(plain, X)
    assert_same_statistics(a, b, rtol=0.0)
    assert not any(m.training for m in a.modules())
    # the training-mode pass, by contrast, lets dropout change the statistics
    c = old_training_pass(with_dropout, X)
    assert not torch.allclose(bn_layers(c)[0].moving_var, bn_layers(b)[0].moving_var)


# (d) torch.nn ---------------------------------------------------------------------------

def test_torch_layers_get_the_mean_and_the_unbiased_variance():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                        nn.Linear(4 * 6 * 6, 5), nn.BatchNorm1d(5), nn.Sigmoid(),
                        nn.Linear(5, 2)).double()
    net[1].num_batches_tracked.fill_(17)
    X = images(32, torch.float64)
    ours = recalibrate(net, X)
    with torch.no_grad():
        h = ours[0](X)
    bn = ours[1]
    torch.testing.assert_close(bn.running_mean, h.mean((0, 2, 3)), rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(bn.running_var, h.var((0, 2, 3), unbiased=True),
                               rtol=1e-12, atol=1e-14)
    assert bn.num_batches_tracked.item() == 17 and ours[5].num_batches_tracked.item() == 0
    with torch.no_grad():
        h = ours[4](ours[3](ours[2](ours[1](h))))
    torch.testing.assert_close(ours[5].running_mean, h.mean(0), rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(ours[5].running_var, h.var(0, unbiased=True), rtol=1e-12,
                               atol=1e-14)


def test_torch_batchnorm1d_on_three_dimensional_input():
    net = nn.Sequential(nn.BatchNorm1d(3))
    X = torch.randn(5, 3, 7, generator=torch.Generator().manual_seed(0)) * 3 + 2
    ours = recalibrate(net, X)
    torch.testing.assert_close(ours[0].running_mean, X.mean((0, 2)))
    torch.testing.assert_close(ours[0].running_var, X.var((0, 2), unbiased=True))


# (e) the variants ----------------------------------------------------------------------

VARIANTS = [ghost_layer(4), NoisyBatchNorm, MovingStatisticsBatchNorm]


@pytest.mark.parametrize("layer", VARIANTS, ids=lambda c: c.__name__)
def test_variants_are_recalibrated_deterministically_without_drawing(layer):
    net, X = make_net(layer), images()
    rng = torch.get_rng_state()
    a, b = recalibrate(net, X), recalibrate(net, X)
    assert torch.equal(torch.get_rng_state(), rng)
    assert_same_statistics(a, b, rtol=0.0)
    # in evaluation mode each is plain BN: their statistics are plain BN's
    assert_same_statistics(a, recalibrate(make_net(BatchNorm), X), rtol=0.0)


@pytest.mark.parametrize("layer", [MeanOnlyBatchNorm, StdOnlyBatchNorm, FixedAffineBatchNorm],
                         ids=lambda c: c.__name__)
def test_partial_variants_equal_the_training_pass(layer):
    net, X = make_net(layer), images()
    assert_same_statistics(recalibrate(net, X), old_training_pass(net, X), rtol=1e-6,
                           atol=1e-9)


def test_any_module_not_only_sequential():
    class Branches(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), BatchNorm(3, 4))
            self.left = nn.Sequential(nn.Conv2d(3, 3, 1), nn.BatchNorm2d(3))
            self.right = nn.Sequential(nn.Conv2d(3, 3, 1), NoisyBatchNorm(3, 4))
            self.head = BatchNorm(3, 4)

        def forward(self, x):
            h = torch.sigmoid(self.stem(x))
            return self.head(self.left(h) + torch.relu(self.right(h)))

    torch.manual_seed(0)
    net, X = Branches().double(), images(16, torch.float64)
    ours = recalibrate(net, X)
    with torch.no_grad():
        h = torch.sigmoid(ours.stem(X))
        z = ours.left(h) + torch.relu(ours.right(h))
    torch.testing.assert_close(ours.head.moving_mean.reshape(-1), z.mean((0, 2, 3)),
                               rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(ours.head.moving_var.reshape(-1),
                               z.var((0, 2, 3), unbiased=False), rtol=1e-12, atol=1e-14)


def test_half_precision_buffers_keep_their_dtype():
    net, X = make_net().to(torch.bfloat16), images(dtype=torch.bfloat16)
    ours = recalibrate(net, X)
    for m in bn_layers(ours):
        assert m.moving_mean.dtype == m.moving_var.dtype == torch.bfloat16
    ref = old_training_pass(net, X)
    assert_same_statistics(ours, ref, rtol=1e-2, atol=1e-2)


# (f) the errors ------------------------------------------------------------------------

@pytest.mark.parametrize("bad, what", [(torch.ones(4, 1, 8, 8, dtype=torch.long), "torch.int64"),
                                       ([[1.0, 2.0]], "list"), (None, "NoneType")])
def test_images_must_be_a_floating_tensor(bad, what):
    with pytest.raises(TypeError, match=f"images must be a floating-point torch.Tensor.*{what}"):
        recalibrate(make_net(), bad)


def test_net_must_be_a_module_with_batch_normalization():
    with pytest.raises(TypeError, match="net must be a torch.nn.Module; got function"):
        recalibrate(lambda x: x, images())
    with pytest.raises(ValueError, match="holds no batch normalization.*no moving statistics"):
        recalibrate(nn.Sequential(nn.Flatten(), nn.Linear(64, 2), nn.LayerNorm(2)), images())


def test_torch_layer_without_running_statistics_is_refused():
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2, track_running_stats=False))
    with pytest.raises(ValueError, match=r"layer 1 \(BatchNorm2d\).*track_running_stats=False"
                                         r".*no moving statistics to re-estimate"):
        recalibrate(net, images())


def test_a_layer_called_twice_or_one_value_per_channel_is_refused():
    bn = BatchNorm(1, 4)
    net = nn.Sequential(bn, nn.Sigmoid(), bn)
    with pytest.raises(ValueError, match="called more than once"):
        recalibrate(net, images())
    assert not bn._forward_pre_hooks  # the hooks are gone
    with pytest.raises(ValueError, match="more than one value per channel"):
        recalibrate(nn.Sequential(BatchNorm(3, 2)), torch.randn(1, 3))


# (g) the original ----------------------------------------------------------------------

@pytest.mark.parametrize("training", [True, False])
def test_the_original_is_untouched_and_the_weights_never_change(training):
    net, X = make_net(dropout=0.2), images()
    net.train(training)
    before = copy.deepcopy(net.state_dict())
    flags = [m.training for m in net.modules()]
    ours = recalibrate(net, X)
    assert ours is not net and not ours.training
    assert [m.training for m in net.modules()] == flags
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k
    for k, v in ours.state_dict().items():
        if "moving" not in k:
            assert torch.equal(v, before[k]), k
    assert not any(m._forward_pre_hooks for m in ours.modules())


def test_inplace_changes_and_returns_the_network_itself():
    net, X = make_net(), images()
    want = recalibrate(net, X)
    ours = recalibrate(net.train(), X, inplace=True)
    assert ours is net and not net.training
    assert_same_statistics(net, want, rtol=0.0)
