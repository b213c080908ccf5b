"""bnref.convert against every configuration nn.BatchNorm1d/2d can be built with.

What bnref.BatchNorm can hold (the defaults: affine, bias, running statistics,
a numeric momentum) is carried exactly: outputs in training and evaluation
mode, the state, and the moving statistics after a training step (the
moving variance up to the documented n/(n-1): PyTorch mixes in the unbiased
batch variance, bnref the biased one). Everything else is refused with an
error that names the setting and what was expected, in from_torch and in
both network loaders, and the loaders refuse before copying anything.
``momentum=None`` in a *target* layer is replaced by the source's momentum.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import bnref
from bnref import convert

pytestmark = pytest.mark.usefixtures("one_thread")

CLASSES = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d}

#: configurations bnref.BatchNorm cannot hold, with what the error must say
REFUSED = {
    "affine=False": (dict(affine=False), ["affine=False (no learnable weight and bias)"]),
    "bias=False": (dict(bias=False), ["bias=False (a learnable weight but no bias)"]),
    "track_running_stats=False": (dict(track_running_stats=False),
                                  ["track_running_stats=False (no running statistics"]),
    "momentum=None": (dict(momentum=None), ["momentum=None (PyTorch's cumulative average",
                                            "bn.momentum = 0.1"]),
    "affine=False,momentum=None": (dict(affine=False, momentum=None),
                                   ["affine=False", "; and momentum=None"]),
    "bias=False,track_running_stats=False": (
        dict(bias=False, track_running_stats=False),
        ["bias=False", "; and track_running_stats=False"]),
}


def shape_of(cls, n=16, c=3):
    return (n, c) if cls is nn.BatchNorm1d else (n, c, 4, 5)


def trained_torch(cls, dtype=torch.float64, seed=0, **kwargs):
    """A PyTorch layer after 3 training steps, with a non-trivial weight and bias."""
    torch.manual_seed(seed)
    bn = cls(3, dtype=dtype, **kwargs)
    with torch.no_grad():
        if bn.weight is not None:
            bn.weight.copy_(torch.tensor([1.5, 0.5, 2.0]))
        if bn.bias is not None:
            bn.bias.copy_(torch.tensor([0.25, -1.0, 0.0]))
    for _ in range(3):
        bn(3 * torch.randn(shape_of(cls), dtype=dtype) + 1)
    return bn


def batch_var(X: torch.Tensor) -> torch.Tensor:
    dims = [d for d in range(X.dim()) if d != 1]
    return X.var(dim=dims, unbiased=False)


def assert_one_step_agrees(t: nn.Module, b: bnref.BatchNorm, shape) -> None:
    """One training step, then evaluation, on both layers: the same outputs; the same moving
    mean; moving variances that differ by exactly PyTorch's unbiased correction."""
    n = shape[0] * (1 if len(shape) == 2 else shape[2] * shape[3])
    m = t.momentum
    var_before = b.moving_var.reshape(-1).clone()
    X = 2 * torch.randn(shape, dtype=torch.float64) - 0.5
    t.train(), b.train()
    assert torch.allclose(t(X), b(X), atol=1e-12, rtol=0)
    assert torch.allclose(t.running_mean, b.moving_mean.reshape(-1), atol=1e-12, rtol=0)
    expected_torch = (1 - m) * var_before + m * batch_var(X) * n / (n - 1)
    assert torch.allclose(t.running_var, expected_torch, atol=1e-12, rtol=0)
    expected_ours = (1 - m) * var_before + m * batch_var(X)
    assert torch.allclose(b.moving_var.reshape(-1), expected_ours, atol=1e-12, rtol=0)
    # In evaluation mode with the same statistics the outputs agree.
    with torch.no_grad():
        t.running_var.copy_(b.moving_var.reshape(-1))
    t.eval(), b.eval()
    Y = torch.randn(shape, dtype=torch.float64)
    assert torch.allclose(t(Y), b(Y), atol=1e-12, rtol=0)


# --------------------------------------------------------------------------
# what is carried: the defaults, both ways
# --------------------------------------------------------------------------


@pytest.mark.parametrize("dims", [1, 2])
@pytest.mark.parametrize("momentum", [0.1, 0.25, 1.0])
def test_defaults_from_torch_carry_state_outputs_and_updates(dims, momentum):
    cls = CLASSES[dims]
    t = trained_torch(cls, momentum=momentum, eps=1e-3)
    b = convert.from_torch(t)
    assert (b.num_dims, b.eps, b.momentum) == (2 if dims == 1 else 4, 1e-3,
                                               convert.convert_momentum(momentum))
    assert b.gamma.dtype == torch.float64 and b.training
    for ours, theirs in convert._NAMES:
        assert torch.equal(getattr(b, ours).reshape(-1), getattr(t, theirs))
    X = torch.randn(shape_of(cls), dtype=torch.float64)
    assert torch.allclose(t.eval()(X), b.eval()(X), atol=1e-12, rtol=0)
    assert_one_step_agrees(t, b, shape_of(cls))


@pytest.mark.parametrize("num_dims", [2, 4])
def test_defaults_to_torch_and_back_is_exact(num_dims):
    torch.manual_seed(1)
    b = bnref.BatchNorm(3, num_dims=num_dims, eps=1e-4, momentum=0.8).double()
    shape = (16, 3) if num_dims == 2 else (16, 3, 4, 5)
    for _ in range(3):
        b(torch.randn(shape, dtype=torch.float64) + 2)
    t = convert.to_torch(b)
    assert (t.affine, t.bias is not None, t.track_running_stats, t.momentum, t.eps) == (
        True, True, True, 0.2, 1e-4)
    back = convert.from_torch(t)
    assert back.state_dict().keys() == b.state_dict().keys()
    assert all(torch.equal(back.state_dict()[k], b.state_dict()[k]) for k in b.state_dict())
    assert (back.num_dims, back.eps, back.momentum) == (num_dims, 1e-4, 0.8)
    # num_batches_tracked is not carried (a numeric momentum never reads it): 0 again.
    assert int(convert.to_torch(convert.from_torch(t)).num_batches_tracked) == 0
    assert_one_step_agrees(t, b, shape)


# --------------------------------------------------------------------------
# what is refused, and how
# --------------------------------------------------------------------------


@pytest.mark.parametrize("dims", [1, 2])
@pytest.mark.parametrize("config", sorted(REFUSED))
def test_from_torch_refuses_with_the_setting_and_what_was_expected(dims, config):
    kwargs, fragments = REFUSED[config]
    bn = CLASSES[dims](3, **kwargs)
    with pytest.raises(ValueError) as info:
        convert.from_torch(bn)
    message = str(info.value)
    assert message.startswith(f"from_torch cannot carry {bn!r}: it needs the defaults "
                              "affine=True, bias=True, track_running_stats=True and a numeric "
                              "momentum; got ")
    for fragment in fragments:
        assert fragment in message, message


def concise_with(index: int, layer: nn.Module) -> nn.Sequential:
    net = bnref.lenet_bn_concise()
    net[index] = layer
    return net


@pytest.mark.parametrize("index, cls", [(1, nn.BatchNorm2d), (13, nn.BatchNorm1d)])
@pytest.mark.parametrize("config", sorted(REFUSED))
def test_load_from_concise_refuses_with_the_layer_name(index, cls, config):
    kwargs, fragments = REFUSED[config]
    source = concise_with(index, cls(6 if index == 1 else 84, **kwargs))
    target = bnref.lenet_bn()
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(ValueError) as info:
        convert.load_from_concise(source, target)
    message = str(info.value)
    assert message.startswith(f"layer '{index}' of the source network: from_torch cannot carry")
    for fragment in fragments:
        assert fragment in message, message
    after = target.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # nothing copied


@pytest.mark.parametrize("index, cls", [(1, nn.BatchNorm2d), (13, nn.BatchNorm1d)])
@pytest.mark.parametrize("config", [c for c in sorted(REFUSED) if c != "momentum=None"])
def test_load_into_concise_refuses_a_target_that_cannot_hold_the_state(index, cls, config):
    kwargs, fragments = REFUSED[config]
    features = 6 if index == 1 else 84
    target = concise_with(index, cls(features, **kwargs))
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(ValueError) as info:
        convert.load_into_concise(bnref.lenet_bn(), target)
    message = str(info.value)
    assert message.startswith(f"cannot load BatchNorm({features}, num_dims=")
    assert f"(layer '{index}'): the target needs affine=True, bias=True and " \
           "track_running_stats=True (the defaults)" in message, message
    for fragment in fragments:
        if "momentum" not in fragment:
            assert fragment in message, message
    assert "cumulative average" not in message  # the target's momentum is replaced, not refused
    after = target.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # nothing copied


def trained_lenet_bn(steps=3):
    torch.manual_seed(0)
    net = bnref.lenet_bn().double()
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    for _ in range(steps):
        X, y = torch.rand(32, 1, 28, 28, dtype=torch.float64), torch.randint(0, 10, (32,))
        opt.zero_grad()
        nn.functional.cross_entropy(net(X), y).backward()
        opt.step()
    return net


def test_load_into_concise_replaces_a_targets_cumulative_momentum():
    """momentum=None in the target: handled. The target takes the source's momentum (0.1)
    and then agrees with the source in evaluation and training mode, moving means included."""
    net = trained_lenet_bn()
    target = concise_with(1, nn.BatchNorm2d(6, momentum=None))
    target[13] = nn.BatchNorm1d(84, momentum=None)
    convert.load_into_concise(net, target.double())
    assert target[1].momentum == target[13].momentum == 0.1
    X = torch.rand(32, 1, 28, 28, dtype=torch.float64)
    net.eval(), target.eval()
    assert torch.allclose(net(X), target(X), atol=1e-10, rtol=0)
    net.train(), target.train()
    assert torch.allclose(net(X), target(X), atol=1e-10, rtol=0)
    for i in (1, 5, 10, 13):
        assert torch.allclose(net[i].moving_mean.reshape(-1), target[i].running_mean,
                              atol=1e-12, rtol=0)


def test_loaders_name_the_expected_kind_and_size():
    target = concise_with(1, nn.BatchNorm1d(6))
    with pytest.raises(ValueError, match=r"cannot load BatchNorm\(6, num_dims=4, .*\) \(layer "
                       r"'1'\) into BatchNorm1d\(6, .*\) \(layer '1'\): expected "
                       r"nn.BatchNorm2d\(6\); got BatchNorm1d\(6\)"):
        convert.load_into_concise(bnref.lenet_bn(), target)
    target = concise_with(5, nn.BatchNorm2d(8))
    with pytest.raises(ValueError, match=r"expected nn.BatchNorm2d\(16\); got BatchNorm2d\(8\)"):
        convert.load_into_concise(bnref.lenet_bn(), target)
    with pytest.raises(ValueError, match=r"expected BatchNorm\(6, num_dims=2\); got "
                       r"BatchNorm\(6, num_dims=4\)"):
        convert.load_from_concise(concise_with(1, nn.BatchNorm1d(6)), bnref.lenet_bn())


@pytest.mark.parametrize("layer", [nn.BatchNorm3d(3), nn.SyncBatchNorm(3), nn.LazyBatchNorm1d()],
                         ids=["BatchNorm3d", "SyncBatchNorm", "LazyBatchNorm1d"])
def test_other_kinds_are_refused_with_a_type_error(layer):
    name = type(layer).__name__
    with pytest.raises(TypeError, match=f"expects nn.BatchNorm1d or nn.BatchNorm2d; got {name}"):
        convert.from_torch(layer)
    with pytest.raises(TypeError, match=f"layer '1' of the source network: from_torch expects "
                       f"nn.BatchNorm1d or nn.BatchNorm2d; got {name}"):
        convert.load_from_concise(concise_with(1, layer), bnref.lenet_bn())
    with pytest.raises(TypeError, match=r"to_torch expects a bnref.BatchNorm; got"):
        convert.to_torch(layer)


# --------------------------------------------------------------------------
# BatchNorm1d on (N, C, L) input
# --------------------------------------------------------------------------


def test_batchnorm1d_on_three_dimensional_input():
    """nn.BatchNorm1d also takes (N, C, L) (statistics over N and L). from_torch's num_dims=2
    layer refuses three dimensions with an error that gives the shape; the reshape its
    docstring gives reproduces PyTorch in training and evaluation mode; to_torch's
    BatchNorm1d takes (N, C, L) and agrees with bnref on the reshaped input."""
    t = trained_torch(nn.BatchNorm1d)
    b = convert.from_torch(t)
    N, C, L = 4, 3, 5
    X = torch.randn(N, C, L, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"expects \(N, C\) input with 2 dimensions; got shape "
                       r"\(4, 3, 5\) \(3 dimensions\)"):
        b(X)

    def through_bnref(layer, X):
        return layer(X.transpose(1, 2).reshape(-1, C)).reshape(N, L, C).transpose(1, 2)

    for mode in ("eval", "train"):
        getattr(t, mode)(), getattr(b, mode)()
        assert torch.allclose(t(X), through_bnref(b, X), atol=1e-12, rtol=0)
        assert torch.allclose(t.running_mean, b.moving_mean.reshape(-1), atol=1e-12, rtol=0)

    ours = bnref.BatchNorm(C, num_dims=2).double()
    theirs = convert.to_torch(ours)
    assert torch.allclose(theirs(X), through_bnref(ours, X), atol=1e-12, rtol=0)
    assert torch.allclose(theirs.running_mean, ours.moving_mean.reshape(-1), atol=1e-12, rtol=0)
