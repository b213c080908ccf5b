"""State of bnref.BatchNorm: state_dict, .to(), .double(), deepcopy, pickle, and the
bridge (bnref.convert) to and from nn.BatchNorm1d/2d, down to a whole trained LeNet."""

from __future__ import annotations

import copy
import io
import pickle

import pytest
import torch
from torch import nn

import bnref
from bnref import convert


def trained_bn(num_dims=4, steps=3, seed=0):
    torch.manual_seed(seed)
    bn = bnref.BatchNorm(3, num_dims=num_dims)
    with torch.no_grad():
        bn.gamma.mul_(1.5)
        bn.beta.add_(0.25)
    shape = (8, 3, 4, 4) if num_dims == 4 else (8, 3)
    for _ in range(steps):
        bn(3 * torch.randn(shape) + 1)
    return bn, shape


def same_state(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_state_dict_round_trip_restores_moving_statistics():
    bn, shape = trained_bn()
    assert not torch.equal(bn.moving_var, torch.ones_like(bn.moving_var))  # it moved
    fresh = bnref.BatchNorm(3, num_dims=4)
    buf = io.BytesIO()
    torch.save(bn.state_dict(), buf)
    buf.seek(0)
    fresh.load_state_dict(torch.load(buf))
    assert same_state(bn, fresh)
    X = torch.randn(shape)
    assert torch.equal(bn.eval()(X), fresh.eval()(X))


def test_double_and_to_move_buffers():
    bn, shape = trained_bn()
    mean = bn.moving_mean.clone()
    bn.double()
    assert bn.moving_mean.dtype == bn.moving_var.dtype == bn.gamma.dtype == torch.float64
    assert torch.equal(bn.moving_mean, mean.double())
    bn(torch.randn(shape, dtype=torch.float64))  # trains in float64, stays float64
    assert bn.moving_mean.dtype == torch.float64
    bn.to("meta")
    assert {t.device.type for t in (bn.gamma, bn.moving_mean, bn.moving_var)} == {"meta"}


def test_to_device(device):
    bn, shape = trained_bn()
    bn.to(device)
    assert bn.moving_var.device.type == device
    Y = bn.train()(torch.randn(shape, device=device))
    assert Y.device.type == bn.moving_mean.device.type == device


@pytest.mark.parametrize("clone", [copy.deepcopy, lambda m: pickle.loads(pickle.dumps(m))],
                         ids=["deepcopy", "pickle"])
def test_deepcopy_and_pickle(clone):
    bn, shape = trained_bn()
    other = clone(bn)
    assert same_state(bn, other)
    assert (other.num_features, other.num_dims, other.eps, other.momentum) == (3, 4, 1e-5, 0.9)
    X = torch.randn(shape)
    bn(X)  # training the original does not touch the copy
    assert not torch.equal(bn.moving_mean, other.moving_mean)


@pytest.mark.parametrize("num_dims", [2, 4])
def test_to_torch_and_back(num_dims):
    bn, shape = trained_bn(num_dims)
    t = convert.to_torch(bn)
    assert type(t) is (nn.BatchNorm1d if num_dims == 2 else nn.BatchNorm2d)
    assert t.momentum == 0.1 and t.eps == bn.eps
    for ours, theirs in [("gamma", "weight"), ("beta", "bias"),
                         ("moving_mean", "running_mean"), ("moving_var", "running_var")]:
        assert getattr(t, theirs).shape == (3,)
        assert torch.equal(getattr(t, theirs), getattr(bn, ours).reshape(-1))
    X = torch.randn(shape)
    assert torch.allclose(t.eval()(X), bn.eval()(X), atol=1e-6)
    back = convert.from_torch(t)
    assert same_state(back, bn) and back.momentum == 0.9 and back.num_dims == num_dims


def test_from_torch_refuses_cumulative_momentum():
    with pytest.raises(ValueError, match="numeric momentum; got .*momentum=None"):
        convert.from_torch(nn.BatchNorm2d(3, momentum=None))
    with pytest.raises(TypeError, match="expects nn.BatchNorm1d or nn.BatchNorm2d; got Linear"):
        convert.from_torch(nn.Linear(2, 2))


def test_trained_lenet_bn_loads_into_concise_and_back():
    """A briefly trained lenet_bn() (random inputs, 4 SGD steps) gives the same eval
    outputs as lenet_bn_concise() after the bridge, and the way back."""
    torch.manual_seed(0)
    net = bnref.lenet_bn()
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    for _ in range(4):
        X, y = torch.randn(16, 1, 28, 28), torch.randint(0, 10, (16,))
        opt.zero_grad()
        nn.functional.cross_entropy(net(X), y).backward()
        opt.step()
    concise = convert.load_into_concise(net, bnref.lenet_bn_concise())
    X = torch.randn(32, 1, 28, 28)
    net.eval()
    concise.eval()
    with torch.no_grad():
        Y, Yc = net(X), concise(X)
    assert not torch.allclose(Y, bnref.lenet_bn_concise().eval()(X), atol=1e-3)  # not trivial
    assert torch.allclose(Y, Yc, atol=1e-5), (Y - Yc).abs().max()
    back = convert.load_from_concise(concise, bnref.lenet_bn())
    assert same_state(back, net)


def test_bridge_refuses_mismatched_networks():
    with pytest.raises(ValueError, match="same number of batch-norm layers; got 4 BatchNorm"):
        convert.load_into_concise(bnref.lenet_bn(), nn.Sequential(nn.BatchNorm2d(6)))
