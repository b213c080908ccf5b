"""bnref.layer_norm / instance_norm / group_norm held to nn.LayerNorm, nn.InstanceNorm2d
and nn.GroupNorm (outputs, gradients), and the identities that tie the family together."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import bnref


def randomize(*modules):
    """Give the affine parameters non-trivial values (the same in every module)."""
    g = torch.Generator().manual_seed(0)
    values = None
    for m in modules:
        if values is None:
            values = [1 + torch.randn(p.shape, generator=g) for p in (m.weight, m.bias)]
        with torch.no_grad():
            m.weight.copy_(values[0].reshape(m.weight.shape))
            m.bias.copy_(values[1].reshape(m.bias.shape))


def compare(ours: nn.Module, theirs: nn.Module, X: torch.Tensor, atol=1e-5):
    """Same output and same gradients (input, weight, bias) for a random upstream gradient."""
    randomize(ours, theirs)
    X1, X2 = X.clone().requires_grad_(), X.clone().requires_grad_()
    Y1, Y2 = ours(X1), theirs(X2)
    assert torch.allclose(Y1, Y2, atol=atol), (Y1 - Y2).abs().max()
    w = torch.randn_like(Y1)
    (Y1 * w).sum().backward()
    (Y2 * w).sum().backward()
    assert torch.allclose(X1.grad, X2.grad, atol=10 * atol)
    assert torch.allclose(ours.weight.grad, theirs.weight.grad, atol=10 * atol)
    assert torch.allclose(ours.bias.grad, theirs.bias.grad, atol=10 * atol)


@pytest.mark.parametrize("normalized_shape,shape", [
    (5, (4, 5)), ((3, 4, 4), (2, 3, 4, 4)), ((4, 4), (2, 3, 4, 4))])
def test_layer_norm_matches_torch(normalized_shape, shape, device):
    torch.manual_seed(0)
    X = (3 * torch.randn(shape) + 1).to(device)
    ours = bnref.LayerNorm(normalized_shape).to(device)
    theirs = nn.LayerNorm(normalized_shape).to(device)
    assert ours.weight.shape == theirs.weight.shape
    compare(ours, theirs, X)


@pytest.mark.parametrize("shape", [(2, 3, 5, 5), (3, 4, 1, 6)])
def test_instance_norm_matches_torch(shape, device):
    torch.manual_seed(1)
    X = (3 * torch.randn(shape) + 1).to(device)
    ours = bnref.InstanceNorm(shape[1]).to(device)
    theirs = nn.InstanceNorm2d(shape[1], affine=True, track_running_stats=False).to(device)
    compare(ours, theirs, X)
    ours.eval()
    theirs.eval()  # no running statistics: evaluation computes the same thing
    assert torch.allclose(ours(X), theirs(X), atol=1e-5)


@pytest.mark.parametrize("groups,shape", [(1, (2, 6, 4, 4)), (2, (2, 6, 4, 4)),
                                          (3, (3, 6, 5)), (6, (2, 6, 4, 4)), (4, (5, 8))])
def test_group_norm_matches_torch(groups, shape, device):
    torch.manual_seed(2)
    X = (3 * torch.randn(shape) + 1).to(device)
    compare(bnref.GroupNorm(groups, shape[1]).to(device), nn.GroupNorm(groups, shape[1]).to(device), X)


@pytest.mark.parametrize("fn", ["layer", "instance", "group"])
def test_gradcheck_fp64(fn):
    torch.manual_seed(3)
    X = torch.randn(2, 4, 3, 3, dtype=torch.float64, requires_grad=True)
    if fn == "layer":
        w = torch.randn(4, 3, 3, dtype=torch.float64, requires_grad=True)
        b = torch.randn(4, 3, 3, dtype=torch.float64, requires_grad=True)
        f = lambda X, w, b: bnref.layer_norm(X, (4, 3, 3), w, b)  # noqa: E731
    else:
        w = torch.randn(4, dtype=torch.float64, requires_grad=True)
        b = torch.randn(4, dtype=torch.float64, requires_grad=True)
        f = ((lambda X, w, b: bnref.instance_norm(X, w, b)) if fn == "instance"
             else (lambda X, w, b: bnref.group_norm(X, 2, w, b)))
    assert torch.autograd.gradcheck(f, (X, w, b))


def test_group_norm_with_one_group_is_layer_norm_over_chw():
    torch.manual_seed(4)
    X = 2 * torch.randn(3, 4, 5, 5) - 1
    gn = bnref.GroupNorm(1, 4)
    randomize(gn)
    ln = bnref.LayerNorm((4, 5, 5))
    with torch.no_grad():  # LayerNorm's elementwise affine, set to GN's per-channel values
        ln.weight.copy_(gn.weight.view(4, 1, 1).expand(4, 5, 5))
        ln.bias.copy_(gn.bias.view(4, 1, 1).expand(4, 5, 5))
    assert torch.allclose(gn(X), ln(X), atol=1e-5)
    assert torch.allclose(bnref.group_norm(X, 1), bnref.layer_norm(X, (4, 5, 5)), atol=1e-6)


def test_group_norm_with_c_groups_is_instance_norm():
    torch.manual_seed(5)
    X = 2 * torch.randn(3, 4, 5, 5) - 1
    gn, inorm = bnref.GroupNorm(4, 4), bnref.InstanceNorm(4)
    randomize(gn, inorm)
    assert torch.allclose(gn(X), inorm(X), atol=1e-6)


def test_no_statistic_crosses_the_batch():
    """LN, IN and GN: one example's output does not depend on the rest of the batch."""
    torch.manual_seed(6)
    X = torch.randn(4, 4, 5, 5)
    for norm in (bnref.LayerNorm((4, 5, 5)), bnref.InstanceNorm(4), bnref.GroupNorm(2, 4)):
        assert torch.allclose(norm(X)[:1], norm(X[:1]), atol=1e-6)
    bn = bnref.BatchNorm(4, num_dims=4)
    assert not torch.allclose(bn(X)[:1], bn(X[:1]), atol=1e-3)  # batch norm's does


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_input_is_normalized_in_fp32(dtype):
    X = (4 * torch.randn(2, 4, 6, 6) + 3).to(dtype)
    for f in (lambda x: bnref.layer_norm(x, (4, 6, 6)), bnref.instance_norm,
              lambda x: bnref.group_norm(x, 2)):
        Y, ref = f(X), f(X.float())
        assert Y.dtype == dtype
        assert ((Y.float() - ref).abs() <= torch.finfo(dtype).eps / 2 * ref.abs() + 1e-6).all()


def test_bad_input_messages():
    X = torch.randn(2, 6, 4, 4)
    with pytest.raises(ValueError, match=r"num_groups must divide the number of channels: "
                       r"got num_groups=4 and 6 channels"):
        bnref.GroupNorm(4, 6)
    with pytest.raises(ValueError, match=r"GroupNorm\(2, 6\) expects 6 channels at dim 1; "
                       r"got shape \(2, 4, 4, 4\) with 4"):
        bnref.GroupNorm(2, 6)(torch.randn(2, 4, 4, 4))
    with pytest.raises(ValueError, match=r"layer_norm expects the last 3 dimension\(s\) of X to "
                       r"be normalized_shape=\(6, 4, 5\); got X of shape \(2, 6, 4, 4\)"):
        bnref.layer_norm(X, (6, 4, 5))
    with pytest.raises(ValueError, match=r"instance_norm expects an input \(N, C, \*spatial\) "
                       r"with at least 3 dimensions, e.g. \(N, C, H, W\); got shape \(2, 6\)"):
        bnref.instance_norm(torch.randn(2, 6))
    with pytest.raises(ValueError, match=r"weight must have shape \(6,\) to match X of shape "
                       r"\(2, 6, 4, 4\); got shape \(1, 6, 1, 1\)"):
        bnref.instance_norm(X, torch.ones(1, 6, 1, 1))
    with pytest.raises(TypeError, match="X must be a floating-point tensor"):
        bnref.group_norm(X.long(), 2)
    with pytest.raises(ValueError, match=r"eps must be a finite number > 0; got eps=0"):
        bnref.LayerNorm(3, eps=0)
    with pytest.raises(ValueError, match=r"group_norm got an empty input"):
        bnref.group_norm(torch.randn(0, 6, 4, 4), 2)


@pytest.mark.parametrize("kind", ["bn", "ln", "in", "gn"])
def test_lenet_norm_builds_and_trains_a_step(kind):
    torch.manual_seed(7)
    net = bnref.lenet_norm(kind)
    X, y = torch.randn(4, 1, 28, 28), torch.randint(0, 10, (4,))
    loss = nn.functional.cross_entropy(net(X), y)
    loss.backward()
    assert all(p.grad is not None and p.grad.isfinite().all() for p in net.parameters())
    name = {"bn": "BatchNorm", "ln": "LayerNorm", "in": "InstanceNorm", "gn": "GroupNorm"}[kind]
    assert type(net[1]).__name__ == type(net[5]).__name__ == name
    with pytest.raises(ValueError, match=r"kind must be one of \['bn', 'gn', 'in', 'ln'\]; "
                       r"got 'xx'"):
        bnref.lenet_norm("xx")
