r"""Group normalization from scratch: the functional core and the module.

Group normalization (Wu & He, 2018) splits the ``C`` channels of each example
into ``G`` groups of ``C / G`` consecutive channels and normalizes each group
over its channels and spatial positions: one mean and one variance per pair
:math:`(n, g)`:

.. math::

    \mu_{ng} = \frac{1}{(C/G)HW}\sum_{c\in g}\sum_{h,w} x_{nchw},\qquad
    \sigma^2_{ng} = \frac{1}{(C/G)HW}\sum_{c\in g}\sum_{h,w} (x_{nchw}-\mu_{ng})^2,

.. math::

    y_{nchw} = \gamma_c\,\frac{x_{nchw}-\mu_{ng}}{\sqrt{\sigma^2_{ng}+\epsilon}}
        + \beta_c \quad (c \in g).

The two ends of the family: ``G = 1`` is layer normalization over
``(C, H, W)`` (with per-channel affine parameters), ``G = C`` is instance
normalization. Like ``torch.nn.GroupNorm``, ``weight`` and ``bias`` are per
channel, shape ``(C,)``, and nothing crosses the batch axis.
"""

from __future__ import annotations

import torch
from torch import nn

from bnref.norm._checks import check_eps, check_floating, check_param

__all__ = ["group_norm", "GroupNorm"]


def _check_groups(num_groups: int, num_channels: int) -> None:
    if not isinstance(num_groups, int) or num_groups < 1:
        raise ValueError(f"num_groups must be a positive int; got {num_groups!r}")
    if num_channels % num_groups != 0:
        raise ValueError(
            f"num_groups must divide the number of channels: got num_groups={num_groups} "
            f"and {num_channels} channels"
        )


def group_norm(
    X: torch.Tensor,
    num_groups: int,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    eps: float = 1e-5,
) -> torch.Tensor:
    r"""Normalize each group of ``C / num_groups`` channels of each example.

    .. math::

        y = \gamma_c\,\frac{x-\mu_{ng}}{\sqrt{\sigma^2_{ng}+\epsilon}} + \beta_c

    Args:
        X: input ``(N, C, *)``: ``(N, C)``, ``(N, C, L)``, ``(N, C, H, W)``, ...
        num_groups: ``G``, which must divide ``C``.
        weight, bias: ``None`` or ``C`` values, shaped ``(C,)``.
        eps: added to the variance under the square root, ``> 0``.

    Examples:
        >>> import torch
        >>> X = torch.tensor([[1.0, 3.0, 0.0, 10.0]])   # (N=1, C=4): groups {1, 3}, {0, 10}
        >>> group_norm(X, 2)
        tensor([[-1.0000,  1.0000, -1.0000,  1.0000]])
    """
    check_floating(X)
    check_eps(eps)
    if X.dim() < 2:
        raise ValueError(
            "group_norm expects an input (N, C, *) with at least 2 dimensions; "
            f"got shape {tuple(X.shape)} ({X.dim()} dimensions)"
        )
    if X.numel() == 0:
        raise ValueError(f"group_norm got an empty input: X has shape {tuple(X.shape)}")
    N, C = X.shape[0], X.shape[1]
    _check_groups(num_groups, C)
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None:
            check_param(t, name, C, ((C,),), X)

    x = X.to(torch.promote_types(X.dtype, torch.float32))
    # (N, C, *) -> (N, G, C/G * spatial): each row of the last axis is one group.
    grouped = x.reshape(N, num_groups, -1)
    var, mean = torch.var_mean(grouped, dim=2, correction=0, keepdim=True)
    Y = ((grouped - mean) * torch.rsqrt(var + eps)).reshape(X.shape)
    param_shape = (C,) + (1,) * (X.dim() - 2)
    if weight is not None:
        Y = Y * weight.view(param_shape)
    if bias is not None:
        Y = Y + bias.view(param_shape)
    return Y.to(X.dtype)


class GroupNorm(nn.Module):
    r"""Group normalization with per-channel ``weight`` and ``bias`` (like ``nn.GroupNorm``).

    .. math::

        y = \gamma_c\,\frac{x-\mu_{ng}}{\sqrt{\sigma^2_{ng}+\epsilon}} + \beta_c

    Args:
        num_groups: ``G``; must divide ``num_channels``.
        num_channels: ``C``.
        eps: added to the variance under the square root.

    Examples:
        >>> import torch
        >>> gn = GroupNorm(2, 6)
        >>> gn(torch.randn(2, 6, 4, 4)).shape, gn.weight.shape
        (torch.Size([2, 6, 4, 4]), torch.Size([6]))
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        if not isinstance(num_channels, int) or num_channels < 1:
            raise ValueError(f"num_channels must be a positive int; got {num_channels!r}")
        _check_groups(num_groups, num_channels)
        check_eps(eps)
        self.num_groups, self.num_channels, self.eps = num_groups, num_channels, eps
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        if X.dim() >= 2 and X.shape[1] != self.num_channels:
            raise ValueError(
                f"GroupNorm({self.num_groups}, {self.num_channels}) expects "
                f"{self.num_channels} channels at dim 1; got shape {tuple(X.shape)} "
                f"with {X.shape[1]}"
            )
        return group_norm(X, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}"
