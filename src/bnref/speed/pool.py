r"""2×2 max pooling with stride 2, computed by vectorized elementwise operations.

LeNet-BN pools twice with ``nn.MaxPool2d(kernel_size=2, stride=2)``. On CPU,
for a tensor in the usual NCHW layout, PyTorch's max-pooling kernel visits
each output window in a scalar loop that also writes the position of the
maximum (``int64``) for the backward pass. At LeNet-BN's first pooling,
``(256, 6, 24, 24) → (256, 6, 12, 12)``, that forward costs more than the
convolution before it.

With a 2×2 window and stride 2 the four positions of every window are four
strided views of the input:

.. math::

    a = X[\dots, 0{::}2, 0{::}2],\quad b = X[\dots, 0{::}2, 1{::}2],\quad
    c = X[\dots, 1{::}2, 0{::}2],\quad d = X[\dots, 1{::}2, 1{::}2]

One copy gathers them into four contiguous tensors of a quarter of the input's
size; after that every step is an elementwise operation that PyTorch
vectorizes:

.. math::

    t = \max(a, b),\quad u = \max(c, d),\quad Y = \max(t, u)

and, for the backward pass, the position that PyTorch's kernel would record.
That kernel scans a window row by row and replaces its running maximum only by
a *strictly* larger value, so among equal maxima it keeps the first in the
order ``a, b, c, d``. Equal values are common in LeNet-BN: the blank background
of a Fashion-MNIST image gives identical activations. The same choice, from
three comparisons:

.. math::

    \text{row} = [u > t],\qquad
    \text{col} = \begin{cases}[d > c] & \text{row} = 1\\ [b > a] & \text{row} = 0\end{cases},
    \qquad \text{index} = (2i + \text{row})\,W + 2j + \text{col}

The backward pass is PyTorch's own ``max_pool2d_with_indices_backward`` with
those indices, so the gradients are PyTorch's, bit for bit. When no gradient
is needed (evaluation), only the maxima are computed.

Where this reasoning does not hold, the layer hands the call to PyTorch's
kernel: a NaN in the input (PyTorch then records the last NaN of the window,
and comparisons with NaN are false) or an infinity (the check is one sum of the
output), odd heights or widths, other devices than the CPU, and
``torch.compile``. The outputs are equal (``==``) to ``F.max_pool2d``'s; the
one difference a reader could find is the sign of a zero maximum when ``-0.0``
and ``0.0`` share a window.

``python -m bnref throughput`` times LeNet-BN's training with
and without this layer.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable
from torch.nn.modules.utils import _pair

__all__ = ["max_pool2x2", "MaxPool2x2", "with_max_pool2x2"]


def _window_maxima(x: torch.Tensor) -> torch.Tensor:
    """The maximum of each 2×2 window: rows first (contiguous), then columns."""
    n, c, h, w = x.shape
    rows = x.view(n, c, h // 2, 2, w)
    pairs = torch.maximum(rows[:, :, :, 0], rows[:, :, :, 1]).view(n, c, h // 2, w // 2, 2)
    return torch.maximum(pairs[..., 0], pairs[..., 1])


def _maxima_and_indices(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``F.max_pool2d(x, 2, 2, return_indices=True)`` for finite ``x`` with even H, W."""
    n, c, h, w = x.shape
    v = x.view(n, c, h // 2, 2, w // 2, 2)
    a, b, c_, d = torch.stack([v[:, :, :, 0, :, 0], v[:, :, :, 0, :, 1],
                               v[:, :, :, 1, :, 0], v[:, :, :, 1, :, 1]])
    t, u = torch.maximum(a, b), torch.maximum(c_, d)
    y = torch.maximum(t, u)
    if not torch.isfinite(y.sum()):  # NaN or infinity: PyTorch's kernel decides
        return F.max_pool2d(x, 2, 2, return_indices=True)
    # 0/1 as x's dtype: comparisons written into a float tensor are vectorized
    col_top = torch.gt(b, a, out=torch.empty_like(y))
    col_bottom = torch.gt(d, c_, out=torch.empty_like(y))
    row = torch.gt(u, t, out=torch.empty_like(y))
    # offset in the window: row * W + (col_bottom if row else col_top)
    offset = col_bottom.sub_(col_top).mul_(row).add_(col_top).add_(row, alpha=w)
    corner = (torch.arange(h // 2) * (2 * w)).view(-1, 1) + torch.arange(w // 2) * 2
    return y, offset.long().add_(corner)


class _MaxPool2x2(torch.autograd.Function):
    """Maxima and PyTorch's indices forward; PyTorch's pooling backward."""

    @staticmethod
    def forward(ctx, x):
        y, indices = _maxima_and_indices(x)
        ctx.save_for_backward(x, indices)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, dy):
        x, indices = ctx.saved_tensors
        return torch.ops.aten.max_pool2d_with_indices_backward(
            dy, x, [2, 2], [2, 2], [0, 0], [1, 1], False, indices)


def max_pool2x2(x: torch.Tensor) -> torch.Tensor:
    """``F.max_pool2d(x, kernel_size=2, stride=2)`` for ``(N, C, H, W)`` input.

    Same values and gradients (see the module docstring for how, and for the
    cases handed to ``F.max_pool2d`` itself).

    Examples:
        >>> import torch, torch.nn.functional as F
        >>> x = torch.tensor([[[[1., 5., 0., 0.],
        ...                     [5., 2., 0., 0.]]]], requires_grad=True)
        >>> y = max_pool2x2(x)
        >>> y
        tensor([[[[5., 0.]]]], grad_fn=<_MaxPool2x2Backward>)
        >>> y.sum().backward()   # ties: the first maximum in row-major order
        >>> x.grad
        tensor([[[[0., 1., 1., 0.],
                  [0., 0., 0., 0.]]]])
        >>> x.grad = None
        >>> F.max_pool2d(x, 2, 2).sum().backward()
        >>> x.grad
        tensor([[[[0., 1., 1., 0.],
                  [0., 0., 0., 0.]]]])
    """
    if (x.dim() != 4 or x.device.type != "cpu" or not x.is_floating_point()
            or x.shape[2] % 2 or x.shape[3] % 2 or x.numel() == 0
            or torch.compiler.is_compiling()):
        return F.max_pool2d(x, 2, 2)
    x = x.contiguous()
    if torch.is_grad_enabled() and x.requires_grad:
        return _MaxPool2x2.apply(x)
    return _window_maxima(x)


class MaxPool2x2(nn.MaxPool2d):
    """``nn.MaxPool2d(kernel_size=2, stride=2)`` computed by :func:`max_pool2x2`.

    Examples:
        >>> pool = MaxPool2x2()
        >>> pool(torch.randn(2, 6, 24, 24)).shape
        torch.Size([2, 6, 12, 12])
    """

    def __init__(self) -> None:
        super().__init__(kernel_size=2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return max_pool2x2(x)


def with_max_pool2x2(net: nn.Sequential) -> nn.Sequential:
    """Replace, in place, each of ``net``'s own ``nn.MaxPool2d(kernel_size=2, stride=2)``
    layers (no padding, dilation 1, no ``ceil_mode``, no ``return_indices``) by a
    :class:`MaxPool2x2`, and return ``net``.

    Examples:
        >>> from bnref.models import lenet_bn
        >>> net = with_max_pool2x2(lenet_bn())
        >>> type(net[3]).__name__, type(net[7]).__name__
        ('MaxPool2x2', 'MaxPool2x2')
    """
    for i, m in enumerate(net):
        if (type(m) is nn.MaxPool2d and _pair(m.kernel_size) == (2, 2)
                and _pair(m.stride) == (2, 2) and _pair(m.padding) == (0, 0)
                and _pair(m.dilation) == (1, 1) and not m.ceil_mode and not m.return_indices):
            net[i] = MaxPool2x2()
    return net
