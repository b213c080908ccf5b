"""The fused layers: batch normalization with the sigmoid (and the 2×2 max pooling) after it.

See :mod:`bnref.speed.fused` for the formulas; this file holds the autograd
functions that call the two fused kernels, the functional forms, the layers,
and :func:`with_fused_layers`, which swaps them into a network.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable
from torch.nn.modules.utils import _pair

from bnref.norm._checks import check_batch_norm_args
from bnref.norm._moving import resolve_training
from bnref.norm.batch_norm import BatchNorm
from bnref.speed import fast
from bnref.speed.fused.kernel import _fused, _uses_kernel, load

__all__ = ["BatchNormSigmoid", "BatchNormSigmoidMaxPool2x2", "batch_norm_sigmoid",
           "batch_norm_sigmoid_max_pool2x2", "with_fused_layers"]


class _BatchNormSigmoidPool(torch.autograd.Function):
    """``sigmoid(max_pool2d(a x + b, 2, 2))`` forward and its backward, by the kernels."""

    @staticmethod
    def forward(ctx, x, gamma, beta, mean_in, var_in, eps, training):
        out, idx, xsel, mean, var = load().bn_sigmoid_pool_forward(x, gamma, beta, mean_in,
                                                                   var_in, eps, training)
        ctx.save_for_backward(out, idx, xsel, x, gamma, beta, mean, var)
        ctx.eps, ctx.training = eps, training
        ctx.mark_non_differentiable(mean, var)
        ctx.set_materialize_grads(False)
        return out, mean, var

    @staticmethod
    @once_differentiable
    def backward(ctx, dout, _dmean, _dvar):
        if dout is None:
            return None, None, None, None, None, None, None
        out, idx, xsel, x, gamma, beta, mean, var = ctx.saved_tensors
        dx, dgamma, dbeta = load().bn_sigmoid_pool_backward(
            dout, out, idx, xsel, x, gamma, beta, mean, var, ctx.eps, ctx.training)
        return dx, dgamma, dbeta, None, None, None, None


class _BatchNormSigmoid(torch.autograd.Function):
    """``sigmoid(a x + b)`` for ``(N, C)`` forward and its backward, by the kernels."""

    @staticmethod
    def forward(ctx, x, gamma, beta, mean_in, var_in, eps, training):
        out, mean, var = load().bn_sigmoid_forward(x, gamma, beta, mean_in, var_in, eps,
                                                   training)
        ctx.save_for_backward(out, x, gamma, beta, mean, var)
        ctx.eps, ctx.training = eps, training
        ctx.mark_non_differentiable(mean, var)
        ctx.set_materialize_grads(False)
        return out, mean, var

    @staticmethod
    @once_differentiable
    def backward(ctx, dout, _dmean, _dvar):
        if dout is None:
            return None, None, None, None, None, None, None
        out, x, gamma, beta, mean, var = ctx.saved_tensors
        dx, dgamma, dbeta = load().bn_sigmoid_backward(dout, out, x, gamma, beta, mean, var,
                                                       ctx.eps, ctx.training)
        return dx, dgamma, dbeta, None, None, None, None


def batch_norm_sigmoid_max_pool2x2(
    X: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, moving_mean: torch.Tensor,
    moving_var: torch.Tensor, eps: float, momentum: float, *, training: bool | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""``max_pool2d(sigmoid(batch_norm(X)), 2, 2)`` for ``(N, C, H, W)`` input, in one kernel.

    .. math::

        \text{out}_{ij} = \sigma\Big(\max_{(p,q)\in\text{window}_{ij}}
            \big(\gamma\,\tfrac{x_{pq}-\hat\mu}{\sqrt{\hat\sigma^2+\epsilon}}+\beta\big)\Big)

    Arguments, checks and moving-statistics update as :func:`bnref.batch_norm`;
    returns ``(out, moving_mean, moving_var)`` with ``out`` of shape
    ``(N, C, H // 2, W // 2)``.

    Examples:
        >>> import torch, torch.nn.functional as F
        >>> from bnref import batch_norm
        >>> X = torch.randn(8, 3, 6, 6)
        >>> g, b, m, v = torch.ones(3), torch.zeros(3), torch.zeros(3), torch.ones(3)
        >>> out, m2, v2 = batch_norm_sigmoid_max_pool2x2(X, g, b, m, v, 1e-5, 0.9, training=True)
        >>> Y, m1, v1 = batch_norm(X, g, b, m, v, 1e-5, 0.9, training=True)
        >>> out.shape, torch.allclose(out, F.max_pool2d(torch.sigmoid(Y), 2, 2), atol=1e-6)
        (torch.Size([8, 3, 3, 3]), True)
        >>> torch.allclose(m2, m1, atol=1e-6), torch.allclose(v2, v1, atol=1e-6)
        (True, True)
    """
    training = resolve_training(training)
    check_batch_norm_args(X, gamma, beta, moving_mean, moving_var, eps, momentum, training)
    if X.dim() != 4:
        raise ValueError(f"batch_norm_sigmoid_max_pool2x2 expects (N, C, H, W) input; "
                         f"got shape {tuple(X.shape)}")
    if X.shape[2] < 2 or X.shape[3] < 2:
        raise ValueError(f"batch_norm_sigmoid_max_pool2x2 pools 2x2 windows: height and width "
                         f"must be at least 2; got shape {tuple(X.shape)}")
    if not _uses_kernel(X, pool=True):
        Y, moving_mean, moving_var = fast.batch_norm(X, gamma, beta, moving_mean, moving_var,
                                                     eps, momentum, training=training)
        return F.max_pool2d(torch.sigmoid(Y), 2, 2), moving_mean, moving_var
    return _fused(_BatchNormSigmoidPool, X, gamma, beta, moving_mean, moving_var, eps,
                  momentum, training)


def batch_norm_sigmoid(
    X: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, moving_mean: torch.Tensor,
    moving_var: torch.Tensor, eps: float, momentum: float, *, training: bool | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""``sigmoid(batch_norm(X))`` for ``(N, C)`` input, in one kernel.

    .. math::

        \text{out} = \sigma\Big(\gamma\,\frac{x-\hat\mu}{\sqrt{\hat\sigma^2+\epsilon}}+\beta\Big)

    Arguments, checks and moving-statistics update as :func:`bnref.batch_norm`;
    returns ``(out, moving_mean, moving_var)``.

    Examples:
        >>> import torch
        >>> from bnref import batch_norm
        >>> X = torch.randn(16, 5)
        >>> g, b, m, v = torch.ones(5), torch.zeros(5), torch.zeros(5), torch.ones(5)
        >>> out, _, _ = batch_norm_sigmoid(X, g, b, m, v, 1e-5, 0.9, training=True)
        >>> Y, _, _ = batch_norm(X, g, b, m, v, 1e-5, 0.9, training=True)
        >>> torch.allclose(out, torch.sigmoid(Y), atol=1e-6)
        True
    """
    training = resolve_training(training)
    check_batch_norm_args(X, gamma, beta, moving_mean, moving_var, eps, momentum, training)
    if X.dim() != 2:
        raise ValueError(f"batch_norm_sigmoid expects (N, C) input; got shape {tuple(X.shape)}")
    if not _uses_kernel(X, pool=False):
        Y, moving_mean, moving_var = fast.batch_norm(X, gamma, beta, moving_mean, moving_var,
                                                     eps, momentum, training=training)
        return torch.sigmoid(Y), moving_mean, moving_var
    return _fused(_BatchNormSigmoid, X, gamma, beta, moving_mean, moving_var, eps, momentum,
                  training)


class _FusedLayer(BatchNorm):
    """A :class:`bnref.BatchNorm` whose ``function`` includes the layers after it;
    its input has ``_num_dims`` dimensions."""

    _num_dims: int

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.9) -> None:
        super().__init__(num_features, num_dims=self._num_dims, eps=eps, momentum=momentum)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


class BatchNormSigmoidMaxPool2x2(_FusedLayer):
    """``BatchNorm(C, num_dims=4)``, ``nn.Sigmoid()``, ``nn.MaxPool2d(2, 2)`` as one layer.

    A :class:`bnref.BatchNorm` (parameters ``gamma``, ``beta`` of shape
    ``(1, C, 1, 1)``, buffers ``moving_mean``, ``moving_var``) whose forward
    is :func:`batch_norm_sigmoid_max_pool2x2`.

    Examples:
        >>> layer = BatchNormSigmoidMaxPool2x2(6)
        >>> layer(torch.randn(4, 6, 24, 24)).shape, sorted(layer.state_dict())
        (torch.Size([4, 6, 12, 12]), ['beta', 'gamma', 'moving_mean', 'moving_var'])
    """

    _num_dims = 4
    function = staticmethod(batch_norm_sigmoid_max_pool2x2)


class BatchNormSigmoid(_FusedLayer):
    """``BatchNorm(C, num_dims=2)`` and ``nn.Sigmoid()`` as one layer.

    A :class:`bnref.BatchNorm` (parameters ``gamma``, ``beta`` of shape
    ``(1, C)``, buffers ``moving_mean``, ``moving_var``) whose forward is
    :func:`batch_norm_sigmoid`.

    Examples:
        >>> layer = BatchNormSigmoid(120)
        >>> layer(torch.randn(4, 120)).shape
        torch.Size([4, 120])
    """

    _num_dims = 2
    function = staticmethod(batch_norm_sigmoid)


def _is_max_pool2x2(m: nn.Module) -> bool:
    """``nn.MaxPool2d(kernel_size=2, stride=2)``: no padding, dilation 1, no extras."""
    return (isinstance(m, nn.MaxPool2d) and _pair(m.kernel_size) == (2, 2)
            and _pair(m.stride) == (2, 2) and _pair(m.padding) == (0, 0)
            and _pair(m.dilation) == (1, 1) and not m.ceil_mode and not m.return_indices)


def with_fused_layers(net: nn.Sequential) -> nn.Sequential:
    """Replace, in place, each ``BatchNorm → nn.Sigmoid`` of ``net`` (and the
    ``nn.MaxPool2d(2, 2)`` after a 4-D one) by one fused layer, and return ``net``.

    The BatchNorm layers are :class:`bnref.BatchNorm` and its subclasses (the
    note's class and ``nn.BatchNorm2d`` keep their own conventions and are
    left alone). The fused layer takes over the old layer's parameters and
    moving statistics (the same tensors, so an optimizer built on them still
    updates them), and ``nn.Identity()`` fills the places of the sigmoid and
    the pooling: ``net[1]`` is still the first BatchNorm, and ``state_dict``
    has the same keys.

    Examples:
        >>> from bnref.models import lenet_bn
        >>> net = with_fused_layers(lenet_bn())
        >>> tuple(type(m).__name__ for m in net[:4])
        ('Conv2d', 'BatchNormSigmoidMaxPool2x2', 'Identity', 'Identity')
        >>> type(net[10]).__name__, type(net[11]).__name__, net[1].gamma.shape
        ('BatchNormSigmoid', 'Identity', torch.Size([1, 6, 1, 1]))
    """
    layers = list(net)
    for i, m in enumerate(layers):
        if (not isinstance(m, BatchNorm) or isinstance(m, _FusedLayer)
                or i + 1 >= len(layers) or type(layers[i + 1]) is not nn.Sigmoid):
            continue
        pool = m.num_dims == 4 and i + 2 < len(layers) and _is_max_pool2x2(layers[i + 2])
        if m.num_dims == 4 and not pool:
            continue  # a 4-D BatchNorm and sigmoid without the pooling: no kernel for it
        cls = BatchNormSigmoidMaxPool2x2 if pool else BatchNormSigmoid
        fused = cls(m.num_features, eps=m.eps, momentum=m.momentum)
        fused.gamma, fused.beta = m.gamma, m.beta
        fused.moving_mean, fused.moving_var = m.moving_mean, m.moving_var
        net[i] = fused
        for j in range(i + 1, i + (3 if pool else 2)):
            net[j] = nn.Identity()
            layers[j] = net[j]
    return net
