r"""A one-channel convolution whose weight gradient oneDNN computes without padding.

LeNet's first convolution reads a grey image: one input channel. On CPU,
PyTorch hands convolutions to oneDNN, and for an input in the usual NCHW
layout oneDNN's backward-weights kernel stores channels in blocks of 8
(the layout ``aBcd8b``). With one channel the block is 1 real channel and 7
of padding: the input is first copied into 8 times its size, and the kernel
runs on the padded copy. In LeNet-BN that makes the first convolution's
backward the most expensive operation of a training step.

For a tensor with one channel, NCHW and NHWC (``channels_last``) are the same
bytes: element ``(n, 0, h, w)`` sits at ``n*H*W + h*W + w`` in both. Only the
strides say which layout is meant. Described as NHWC, the same input gets a
oneDNN kernel that needs no padding, and the weight gradient is the same sum
of products:

.. math::

    \frac{\partial \ell}{\partial W_{o,i,j}}
        = \sum_{n,h,w} \frac{\partial \ell}{\partial Y_{n,o,h,w}}\,
          X_{n,0,\,h s + i,\,w s + j}, \qquad
    \frac{\partial \ell}{\partial b_o} = \sum_{n,h,w} \frac{\partial \ell}{\partial Y_{n,o,h,w}} .

:class:`OneChannelConv2d` is ``nn.Conv2d`` with that one change on CPU: its
forward is ``F.conv2d`` as before (bit for bit ``nn.Conv2d``'s output), and its
backward passes oneDNN the input with NHWC strides. Elsewhere (CUDA, where
cuDNN has no such padding) it is plain ``nn.Conv2d``. Its parameters,
``state_dict`` and outputs are those of ``nn.Conv2d``.
``python -m bnref throughput`` times this layer's forward and backward both ways
and the whole training step with and without it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.utils import _pair

__all__ = ["one_channel_conv2d", "OneChannelConv2d", "with_one_channel_conv"]


def _as_nhwc(x: torch.Tensor) -> torch.Tensor:
    """``x`` (N, 1, H, W) described with NHWC strides: the same bytes, another layout."""
    x = x.contiguous()
    n, _, h, w = x.shape
    return x.as_strided((n, 1, h, w), (h * w, 1, w, 1))


class _OneChannelConv(torch.autograd.Function):
    """``F.conv2d`` forward; backward by oneDNN on the input seen as NHWC."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation):
        ctx.save_for_backward(x, weight)
        ctx.conv = (stride, padding, dilation, bias is not None)
        return F.conv2d(x, weight, bias, stride, padding, dilation)

    @staticmethod
    def backward(ctx, grad_y):
        x, weight = ctx.saved_tensors
        stride, padding, dilation, has_bias = ctx.conv
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        grad_x, grad_w, grad_b = torch.ops.aten.convolution_backward(
            grad_y, _as_nhwc(x), weight, [weight.shape[0]] if has_bias else None,
            stride, padding, dilation, False, [0, 0], 1, [need_x, need_w, need_b and has_bias])
        return grad_x, grad_w, grad_b, None, None, None


def one_channel_conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                       stride=1, padding=0, dilation=1) -> torch.Tensor:
    """``F.conv2d`` for an ``(N, 1, H, W)`` input, with the weight gradient computed on NHWC.

    ``stride``, ``padding`` and ``dilation`` are ints or pairs of ints, as for
    ``F.conv2d`` (no ``groups``: with one input channel there is one group).

    Examples:
        >>> import torch, torch.nn.functional as F
        >>> x, w = torch.randn(4, 1, 8, 8), torch.randn(3, 1, 5, 5, requires_grad=True)
        >>> y = one_channel_conv2d(x, w, padding=2)
        >>> torch.equal(y, F.conv2d(x, w, padding=2))
        True
        >>> y.square().sum().backward()
        >>> g, w.grad = w.grad, None
        >>> F.conv2d(x, w, padding=2).square().sum().backward()
        >>> torch.allclose(g, w.grad, rtol=1e-5, atol=1e-4)
        True
    """
    if x.dim() != 4 or x.shape[1] != 1:
        raise ValueError(f"one_channel_conv2d expects an input of shape (N, 1, H, W); "
                         f"got shape {tuple(x.shape)}")
    if weight.dim() != 4 or weight.shape[1] != 1:
        raise ValueError(f"one_channel_conv2d expects a weight of shape (C_out, 1, kH, kW); "
                         f"got shape {tuple(weight.shape)}")
    if x.device.type != "cpu":  # the padding is oneDNN's (CPU only)
        return F.conv2d(x, weight, bias, stride, padding, dilation)
    return _OneChannelConv.apply(x, weight, bias, list(_pair(stride)), list(_pair(padding)),
                                 list(_pair(dilation)))


class OneChannelConv2d(nn.Conv2d):
    """``nn.Conv2d`` with one input channel, whose weight gradient avoids oneDNN's padding.

    Takes the arguments of ``nn.Conv2d`` with ``in_channels=1``; ``padding``
    must be numbers (not ``"same"``) and ``padding_mode`` ``"zeros"``.

    Examples:
        >>> conv = OneChannelConv2d(1, 6, kernel_size=5)
        >>> conv(torch.randn(2, 1, 28, 28)).shape, sorted(conv.state_dict())
        (torch.Size([2, 6, 24, 24]), ['bias', 'weight'])
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, **kwargs) -> None:
        if in_channels != 1:
            raise ValueError(f"OneChannelConv2d is for one input channel; "
                             f"got in_channels={in_channels!r}")
        if kwargs.get("groups", 1) != 1:
            raise ValueError(f"OneChannelConv2d has one group; got groups={kwargs['groups']!r}")
        if isinstance(kwargs.get("padding", 0), str):
            raise ValueError(f"OneChannelConv2d takes numeric padding; "
                             f"got padding={kwargs['padding']!r}")
        if kwargs.get("padding_mode", "zeros") != "zeros":
            raise ValueError(f"OneChannelConv2d pads with zeros; "
                             f"got padding_mode={kwargs['padding_mode']!r}")
        super().__init__(in_channels, out_channels, kernel_size, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return one_channel_conv2d(x, self.weight, self.bias, self.stride, self.padding,
                                  self.dilation)


def with_one_channel_conv(net: nn.Sequential) -> nn.Sequential:
    """Replace, in place, each of ``net``'s own one-input-channel ``nn.Conv2d`` layers by a
    :class:`OneChannelConv2d`, and return ``net``.

    The new layer keeps the old one's weight and bias (the same tensors), so
    the network computes what it computed before, and an optimizer built on
    the old parameters still updates them.

    Examples:
        >>> from bnref.models import lenet_bn
        >>> net = with_one_channel_conv(lenet_bn())
        >>> type(net[0]).__name__, type(net[4]).__name__
        ('OneChannelConv2d', 'Conv2d')
    """
    for i, m in enumerate(net):
        if type(m) is nn.Conv2d and m.in_channels == 1 and m.groups == 1 \
                and m.padding_mode == "zeros" and not isinstance(m.padding, str):
            conv = OneChannelConv2d(1, m.out_channels, m.kernel_size, stride=m.stride,
                                    padding=m.padding, dilation=m.dilation, bias=m.bias is not None,
                                    device=m.weight.device, dtype=m.weight.dtype)
            conv.weight, conv.bias = m.weight, m.bias
            net[i] = conv
    return net
