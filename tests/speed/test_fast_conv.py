"""bnref.speed.conv: a one-channel convolution held to nn.Conv2d, values and gradients."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bnref.speed.conv import OneChannelConv2d, one_channel_conv2d, with_one_channel_conv
from bnref.models import lenet, lenet_bn

#: (kwargs of the convolution, input height/width): LeNet-BN's conv1, LeNet's
#: conv1 (padding 2), and stride, dilation and no bias
CASES = {
    "lenet_bn": (dict(kernel_size=5), 28),
    "lenet_padding": (dict(kernel_size=5, padding=2), 28),
    "stride_dilation": (dict(kernel_size=3, stride=2, dilation=2), 17),
    "rectangular_no_bias": (dict(kernel_size=(3, 5), padding=(1, 0), bias=False), 12),
}


@pytest.mark.parametrize("case", CASES)
def test_values_and_gradients_match_nn_conv2d(case, device):
    kwargs, size = CASES[case]
    torch.manual_seed(0)
    ref = nn.Conv2d(1, 6, **kwargs).to(device)
    conv = OneChannelConv2d(1, 6, **kwargs).to(device)
    conv.load_state_dict(ref.state_dict())
    x = torch.randn(16, 1, size, size, device=device, requires_grad=True)

    y, y_ref = conv(x), ref(x)
    torch.testing.assert_close(y, y_ref, rtol=0, atol=0)  # the same forward call
    dy = torch.randn_like(y)
    grads = torch.autograd.grad(y, (x, *conv.parameters()), dy)
    grads_ref = torch.autograd.grad(y_ref, (x, *ref.parameters()), dy)
    assert len(grads) == len(grads_ref) == (3 if kwargs.get("bias", True) else 2)
    for g, g_ref in zip(grads, grads_ref):
        assert g.shape == g_ref.shape
        torch.testing.assert_close(g, g_ref, rtol=1e-5, atol=1e-4)


def test_gradcheck_in_double():
    # the backward's own wiring (stride, padding, dilation, bias, input
    # gradient), checked against finite differences
    torch.manual_seed(0)
    x = torch.randn(2, 1, 9, 9, dtype=torch.double, requires_grad=True)
    w = torch.randn(3, 1, 3, 3, dtype=torch.double, requires_grad=True)
    b = torch.randn(3, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda x, w, b: one_channel_conv2d(x, w, b, stride=2, padding=1, dilation=2), (x, w, b))


def test_non_contiguous_input():
    # a strided slice of a larger batch: the NHWC view must start from contiguous bytes
    torch.manual_seed(0)
    big = torch.randn(8, 1, 20, 20)
    x = big[::2, :, 2:18, 1:19].requires_grad_()
    w = torch.randn(4, 1, 5, 5, requires_grad=True)
    g = torch.autograd.grad(one_channel_conv2d(x, w).sum(), (x, w))
    g_ref = torch.autograd.grad(F.conv2d(x, w).sum(), (x, w))
    for a, b in zip(g, g_ref):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("factory", [lenet_bn, lenet], ids=["lenet_bn", "lenet"])
def test_swapped_network_trains_as_before(factory):
    # three SGD steps of the note's setting, with and without the swap, from
    # the same weights: the parameters stay together
    torch.manual_seed(0)
    net = factory()
    net_ref = factory()
    net_ref.load_state_dict(net.state_dict())
    weight = net[0].weight
    net = with_one_channel_conv(net)
    assert type(net[0]) is OneChannelConv2d and net[0].weight is weight
    assert sum(type(m) is OneChannelConv2d for m in net) == 1  # conv2 has 6 input channels
    X, y = torch.randn(32, 1, 28, 28), torch.randint(0, 10, (32,))
    for model in (net, net_ref):
        opt = torch.optim.SGD(model.parameters(), lr=1.0)
        for _ in range(3):
            opt.zero_grad()
            F.cross_entropy(model(X), y).backward()
            opt.step()
    for p, p_ref in zip(net.parameters(), net_ref.parameters()):
        torch.testing.assert_close(p, p_ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kwargs, message", [
    (dict(in_channels=3), "one input channel; got in_channels=3"),
    (dict(padding="same"), "numeric padding; got padding='same'"),
    (dict(padding_mode="reflect"), "pads with zeros; got padding_mode='reflect'"),
    (dict(groups=2), "one group; got groups=2"),
])
def test_module_rejects_what_it_cannot_do(kwargs, message):
    args = dict(in_channels=1, out_channels=6, kernel_size=5) | kwargs
    with pytest.raises(ValueError, match=message):
        OneChannelConv2d(**args)


def test_function_rejects_wrong_shapes():
    w = torch.randn(6, 1, 5, 5)
    with pytest.raises(ValueError, match=r"input of shape \(N, 1, H, W\); got shape \(2, 3, 8, 8\)"):
        one_channel_conv2d(torch.randn(2, 3, 8, 8), w)
    with pytest.raises(ValueError, match=r"got shape \(1, 28, 28\)"):
        one_channel_conv2d(torch.randn(1, 28, 28), w)
    with pytest.raises(ValueError, match=r"weight of shape \(C_out, 1, kH, kW\); got shape \(6, 2, 5, 5\)"):
        one_channel_conv2d(torch.randn(2, 1, 8, 8), torch.randn(6, 2, 5, 5))


_VERBOSE_PROBE = r"""
import torch
from bnref.speed.conv import OneChannelConv2d
conv = OneChannelConv2d(1, 6, kernel_size=5)
x = torch.randn(64, 1, 28, 28)
for which in ("torch", "one_channel"):
    print("probe:", which, flush=True)
    for _ in range(2):
        y = conv(x) if which == "one_channel" else torch.nn.functional.conv2d(x, conv.weight, conv.bias)
        y.sum().backward()
"""


def _onednn_calls():
    """oneDNN's own log of what it ran for conv1's forward and backward, as ``nn.Conv2d``
    and as ``OneChannelConv2d``: per executed primitive, (primitive, kind, {argument:
    padded?}, problem)."""
    import os
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", _VERBOSE_PROBE], capture_output=True,
                         text=True, check=True, env={**os.environ, "ONEDNN_VERBOSE": "1"}).stdout
    calls = {}
    for line in out.splitlines():
        f = line.split(",")
        if line.startswith("probe: "):
            which = calls.setdefault(line.split()[1], [])
        elif line.startswith("onednn_verbose") and len(f) > 10 and f[3] == "exec":
            # memory descriptors look like "src:f32:p:blocked:aBcd8b::f0"; flag "p" = padded
            padded = {md.split(":")[0]: "p" in md.split(":")[2] for md in f[8].split()}
            which.append((f[5], f[7], padded, f[-2]))
    return calls


@pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="oneDNN is not built in")
@pytest.mark.skipif(torch.backends.cpu.get_cpu_capability() != "AVX2",
                    reason="the performance page describes oneDNN's kernels on an AVX2 CPU; "
                    f"this one is {torch.backends.cpu.get_cpu_capability()}, where oneDNN "
                    "picks kernels of its own")
def test_onednn_pads_the_one_channel_input_only_for_nn_conv2d():
    # what the performance page says, read from oneDNN's verbose log: for NCHW input
    # the weight gradient reorders the one-channel input into a padded blocked layout;
    # given the same bytes with NHWC strides, it runs on them unpadded
    calls = _onednn_calls()
    for which, padded in (("torch", True), ("one_channel", False)):
        backward = [c for c in calls[which]
                    if c[0] == "convolution" and c[1] == "backward_weights"]
        assert backward, calls[which]
        assert all(c[2]["src"] is padded for c in backward), backward
        input_reorders = [c for c in calls[which] if c[0] == "reorder" and c[3] == "64x1x28x28"]
        assert bool(input_reorders) is padded, input_reorders
