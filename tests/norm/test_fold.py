"""bnref.fold.fold_batch_norm against torch.nn.utils.fusion, on real images and in float64.

The reference is PyTorch's own folding, ``fuse_conv_bn_eval`` /
``fuse_linear_bn_eval``, applied pair by pair to the same trained network
(bnref.BatchNorm layers go through bnref.convert first). LeNet is trained
briefly on real Fashion-MNIST (SGD, lr 0.9, batch 256, seed 0) so that the
moving statistics are not their initial values; the logits of all 10,000
test images are compared in float32. In float64 the folded network equals
the unfolded one to rounding. Then: the other configurations (no conv/linear
bias, affine=False, bias=False, nested Sequentials), the refusals, and that
the input network is left as it was.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

import bnref
from bnref import convert
from bnref.fold import fold_batch_norm

pytestmark = pytest.mark.usefixtures("one_thread")

#: a few dozen SGD steps, the note's learning rate, batch 256
STEPS, LR, BATCH = 40, 0.9, 256


def torch_fused(net: nn.Sequential) -> nn.Sequential:
    """PyTorch's folding: each (Conv2d, BatchNorm2d) / (Linear, BatchNorm1d) pair of an
    nn.Sequential with torch's BatchNorm layers becomes one fused layer."""
    layers, out, i = list(net), [], 0
    while i < len(layers):
        m, nxt = layers[i], layers[i + 1] if i + 1 < len(layers) else None
        if isinstance(m, nn.Conv2d) and isinstance(nxt, nn.BatchNorm2d):
            out.append(fuse_conv_bn_eval(m, nxt))
            i += 2
        elif isinstance(m, nn.Linear) and isinstance(nxt, nn.BatchNorm1d):
            out.append(fuse_linear_bn_eval(m, nxt))
            i += 2
        else:
            out.append(copy.deepcopy(m))
            i += 1
    return nn.Sequential(*out).eval()


def max_abs(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


def state(net: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in net.state_dict().items()}


@pytest.fixture(scope="module")
def trained():
    """lenet_bn trained for STEPS steps on real Fashion-MNIST, its lenet_bn_concise twin
    (through bnref.convert), and the 10,000 real test images."""
    from bnref.d2l import load_data_fashion_mnist

    train_iter, test_iter = load_data_fashion_mnist(BATCH, fast=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        net = bnref.lenet_bn()
        opt = torch.optim.SGD(net.parameters(), lr=LR)
        loss = nn.CrossEntropyLoss()
        for step, (X, y) in zip(range(STEPS), train_iter):
            opt.zero_grad()
            loss(net(X), y).backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)
    net.eval()
    concise = convert.load_into_concise(net, bnref.lenet_bn_concise()).eval()
    return net, concise, test_iter.X


def test_training_moved_the_moving_statistics(trained):
    net, _, images = trained
    assert images.shape == (10_000, 1, 28, 28) and images.dtype == torch.float32
    for bn in (net[1], net[5], net[10], net[13]):
        assert (bn.moving_mean.abs().max() > 0.01 and
                (bn.moving_var - 1).abs().max() > 0.01), bn


@pytest.mark.parametrize("which", ["lenet_bn", "lenet_bn_concise"])
def test_folded_logits_match_torch_fusion_on_real_test_images(trained, which):
    """max |Δ logits| <= 1e-5 against fuse_conv_bn_eval / fuse_linear_bn_eval, float32."""
    net, concise, images = trained
    source = net if which == "lenet_bn" else concise
    folded = fold_batch_norm(source)
    reference = torch_fused(concise)
    assert [type(m).__name__ for m in folded if not isinstance(m, nn.Identity)] == \
           [type(m).__name__ for m in reference]
    with torch.no_grad():
        ours, theirs, unfolded = folded(images), reference(images), source(images)
    delta = max_abs(ours, theirs)
    print(f"\n{which}: max |Δ logits| folded vs torch fusion {delta:.3g}, "
          f"vs the unfolded network {max_abs(ours, unfolded):.3g} "
          f"(logits up to {unfolded.abs().max().item():.3g})")
    assert delta <= 1e-5
    assert max_abs(ours, unfolded) <= 1e-5
    assert (ours.argmax(1) == unfolded.argmax(1)).float().mean() > 0.999
    # the folded weights themselves are PyTorch's
    fused_layers = [m for m in reference if isinstance(m, (nn.Conv2d, nn.Linear))]
    our_layers = [m for m in folded if isinstance(m, (nn.Conv2d, nn.Linear))]
    for a, b in zip(our_layers, fused_layers):
        assert torch.allclose(a.weight, b.weight, atol=1e-6, rtol=1e-6)
        assert torch.allclose(a.bias, b.bias, atol=1e-6, rtol=1e-6)


def randomized(net: nn.Module, seed: int = 0) -> nn.Module:
    """``net`` in float64 with random scales, shifts and moving statistics, in eval mode."""
    torch.manual_seed(seed)
    net = net.double()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, bnref.BatchNorm):
                m.gamma.uniform_(0.5, 2.0), m.beta.normal_()
                m.moving_mean.normal_(), m.moving_var.uniform_(0.2, 3.0)
            elif isinstance(m, nn.modules.batchnorm._BatchNorm):
                if m.weight is not None:
                    m.weight.uniform_(0.5, 2.0)
                if m.bias is not None:
                    m.bias.normal_()
                m.running_mean.normal_(), m.running_var.uniform_(0.2, 3.0)
    return net.eval()


@pytest.mark.parametrize("factory", [bnref.lenet_bn, bnref.lenet_bn_concise])
def test_float64_folding_is_exact_on_random_data(factory):
    net = randomized(factory())
    X = torch.randn(64, 1, 28, 28, dtype=torch.float64)
    folded = fold_batch_norm(net)
    assert sum(isinstance(m, nn.Identity) for m in folded) == 4
    assert folded[0].weight.dtype == torch.float64
    with torch.no_grad():
        assert max_abs(folded(X), net(X)) <= 1e-12
        concise = net if factory is bnref.lenet_bn_concise else \
            convert.load_into_concise(net, bnref.lenet_bn_concise().double()).eval()
        assert max_abs(folded(X), torch_fused(concise)(X)) <= 1e-12


def conv_bn(bn: nn.Module, bias: bool = True) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(2, 3, 3, bias=bias), bn, nn.ReLU())


@pytest.mark.parametrize("case", [
    "conv without bias", "linear without bias", "affine=False", "bias=False",
    "nn.BatchNorm1d after Linear", "nested Sequential", "BN in a nested Sequential",
    "Sequential inside a module",
])
def test_other_configurations_fold_exactly(case):
    if case == "conv without bias":
        net, shape = conv_bn(bnref.BatchNorm(3, num_dims=4), bias=False), (5, 2, 6, 6)
    elif case == "linear without bias":
        net, shape = nn.Sequential(nn.Linear(4, 3, bias=False), bnref.BatchNorm(3, 2)), (5, 4)
    elif case == "affine=False":
        net, shape = conv_bn(nn.BatchNorm2d(3, affine=False)), (5, 2, 6, 6)
    elif case == "bias=False":
        net, shape = conv_bn(nn.BatchNorm2d(3, bias=False)), (5, 2, 6, 6)
    elif case == "nn.BatchNorm1d after Linear":
        net, shape = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3)), (5, 4)
    elif case == "nested Sequential":
        net = nn.Sequential(nn.Sequential(nn.Conv2d(2, 3, 3)),
                            nn.Sequential(nn.BatchNorm2d(3), nn.ReLU()), nn.Flatten())
        shape = (5, 2, 6, 6)
    elif case == "BN in a nested Sequential":
        net = nn.Sequential(nn.Conv2d(2, 3, 3), nn.Sequential(bnref.BatchNorm(3, 4), nn.ReLU()))
        shape = (5, 2, 6, 6)
    else:
        class Block(nn.Module):
            def __init__(self):
                super().__init__()
                self.body = conv_bn(nn.BatchNorm2d(3))

            def forward(self, x):
                return self.body(x) + 1

        net, shape = Block(), (5, 2, 6, 6)
    net = randomized(net)
    folded = fold_batch_norm(net)
    assert not any(isinstance(m, (bnref.BatchNorm, nn.modules.batchnorm._BatchNorm))
                   for m in folded.modules())
    layer = next(m for m in folded.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
    assert layer.bias is not None and layer.bias.dtype == torch.float64
    X = torch.randn(shape, dtype=torch.float64)
    with torch.no_grad():
        assert max_abs(folded(X), net(X)) <= 1e-12


def test_the_input_network_is_left_unchanged(trained):
    net, concise, images = trained
    for source in (net, concise):
        before = state(source)
        types = [type(m) for m in source.modules()]
        folded = fold_batch_norm(source)
        after = source.state_dict()
        assert before.keys() == after.keys()
        assert all(torch.equal(before[k], after[k]) for k in before)
        assert [type(m) for m in source.modules()] == types
        assert not source.training
        assert folded[0].weight is not source[0].weight
        assert folded[0].weight.data_ptr() != source[0].weight.data_ptr()
        assert not folded.training


class ScaledBatchNorm(bnref.BatchNorm):
    def forward(self, X):
        return 2 * super().forward(X)


class Outside(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.bn = nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3)

    def forward(self, x):
        return self.bn(self.conv(x))


def shared_conv() -> nn.Sequential:
    conv = nn.Conv2d(3, 3, 3, padding=1)
    return nn.Sequential(conv, nn.ReLU(), conv, nn.BatchNorm2d(3))


def hooked() -> nn.Sequential:
    net = conv_bn(nn.BatchNorm2d(3))
    net[0].register_forward_hook(lambda module, args, output: None)
    return net


REFUSALS = {
    "no running statistics": (
        lambda: conv_bn(nn.BatchNorm2d(3, track_running_stats=False)),
        r"cannot fold BatchNorm2d '1' into Conv2d '0': it has no running statistics "
        r"\(track_running_stats=False\), so it normalizes with each batch's statistics in "
        r"evaluation mode too"),
    "first in its Sequential": (
        lambda: nn.Sequential(nn.BatchNorm2d(3), nn.Conv2d(3, 3, 3)),
        r"cannot fold BatchNorm2d '0': it is the first layer of its nn.Sequential, so the layer "
        r"whose output it normalizes is unknown; expected it directly after an nn.Conv2d or "
        r"nn.Linear"),
    "after an activation": (
        lambda: nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), bnref.BatchNorm(3, num_dims=4)),
        r"cannot fold BatchNorm '2': it follows ReLU '1', not an nn.Conv2d or nn.Linear"),
    "wrong kind": (
        lambda: nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm1d(3)),
        r"cannot fold BatchNorm1d '1' into Conv2d '0': expected a 4-D batch normalization "
        r"\(nn.BatchNorm2d or bnref.BatchNorm with num_dims=4\) of 3 channels; got "
        r"BatchNorm1d\(3, "),
    "wrong size": (
        lambda: nn.Sequential(nn.Linear(4, 5), bnref.BatchNorm(3, num_dims=2)),
        r"cannot fold BatchNorm '1' into Linear '0': expected a 2-D batch normalization "
        r"\(nn.BatchNorm1d or bnref.BatchNorm with num_dims=2\) of 5 features; got "
        r"BatchNorm\(3, num_dims=2"),
    "outside a Sequential": (
        Outside,
        r"cannot fold 'bn': not inside an nn.Sequential, so the layer whose output it "
        r"normalizes is unknown"),
    "conv used twice": (
        shared_conv,
        r"cannot fold BatchNorm2d '3' into Conv2d '2': the same Conv2d module is used at "
        r"'0', '2', so its output feeds something else too"),
    "forward hook": (
        hooked,
        r"cannot fold BatchNorm2d '1' into Conv2d '0': Conv2d '0' has forward hooks"),
    "subclass": (
        lambda: nn.Sequential(nn.Conv2d(1, 3, 3), ScaledBatchNorm(3, num_dims=4)),
        r"cannot fold ScaledBatchNorm '1': fold_batch_norm folds bnref.BatchNorm itself, "
        r"nn.BatchNorm1d and nn.BatchNorm2d, whose inference formula it knows"),
    "BatchNorm3d": (
        lambda: nn.Sequential(nn.Conv3d(1, 3, 3), nn.BatchNorm3d(3)),
        r"cannot fold BatchNorm3d '1': fold_batch_norm folds bnref.BatchNorm itself"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_refusals_say_why(case):
    factory, message = REFUSALS[case]
    net = factory().eval()
    before = state(net)
    with pytest.raises(ValueError, match=message):
        fold_batch_norm(net)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


@pytest.mark.parametrize("factory", [bnref.lenet_bn, bnref.lenet_bn_concise])
def test_training_mode_is_refused(factory):
    net = factory()  # a new network is in training mode
    with pytest.raises(ValueError, match=r"fold_batch_norm folds the moving statistics, which "
                       r"only evaluation mode uses; .* Call net.eval\(\) first; got modules in "
                       r"training mode: 'Sequential', '0', '1', '2', '3', '4' and 11 more"):
        fold_batch_norm(net)
    net.eval()
    net[5].train()  # one layer left in training mode is enough to refuse
    with pytest.raises(ValueError, match=r"got modules in training mode: '5'$"):
        fold_batch_norm(net)
    with pytest.raises(TypeError, match="expects an nn.Module; got dict"):
        fold_batch_norm({})
