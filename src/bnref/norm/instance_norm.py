r"""Instance normalization from scratch: the functional core and the module.

Instance normalization (Ulyanov, Vedaldi & Lempitsky, 2016) normalizes each
channel of each example on its own, over the spatial positions only: for an
image ``(N, C, H, W)``, one mean and one variance per pair :math:`(n, c)`:

.. math::

    \mu_{nc} = \frac{1}{HW}\sum_{h,w} x_{nchw},\qquad
    \sigma^2_{nc} = \frac{1}{HW}\sum_{h,w} (x_{nchw}-\mu_{nc})^2,\qquad
    y_{nchw} = \gamma_c\,\frac{x_{nchw}-\mu_{nc}}{\sqrt{\sigma^2_{nc}+\epsilon}}
        + \beta_c .

:class:`InstanceNorm` behaves like ``torch.nn.InstanceNorm2d(C, affine=True,
track_running_stats=False)``: per-channel ``weight`` and ``bias``, and no
running statistics, so training and evaluation compute the same thing.
(PyTorch's default is ``affine=False``; we keep the affine parameters so that
all four normalizations of the family are compared with the same capacity.)
"""

from __future__ import annotations

import torch
from torch import nn

from bnref.norm._checks import check_eps, check_floating, check_param

__all__ = ["instance_norm", "InstanceNorm"]


def instance_norm(
    X: torch.Tensor,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    eps: float = 1e-5,
) -> torch.Tensor:
    r"""Normalize each channel of each example over its spatial positions.

    .. math::

        y_{nc\cdot} = \gamma_c\,\frac{x_{nc\cdot}-\mu_{nc}}{\sqrt{\sigma^2_{nc}+\epsilon}}
            + \beta_c

    Args:
        X: input ``(N, C, L)``, ``(N, C, H, W)`` or ``(N, C, D, H, W)``; at
            least 3 dimensions, since a channel needs spatial positions.
        weight, bias: ``None`` or ``C`` values, shaped ``(C,)``.
        eps: added to the variance under the square root, ``> 0``.

    Examples:
        >>> import torch
        >>> X = torch.tensor([[[1.0, 3.0], [0.0, 10.0]]])   # (N=1, C=2, L=2)
        >>> instance_norm(X)
        tensor([[[-1.0000,  1.0000],
                 [-1.0000,  1.0000]]])
    """
    check_floating(X)
    check_eps(eps)
    if X.dim() < 3:
        raise ValueError(
            "instance_norm expects an input (N, C, *spatial) with at least 3 dimensions, "
            f"e.g. (N, C, H, W); got shape {tuple(X.shape)} ({X.dim()} dimensions)"
        )
    if X.numel() == 0:
        raise ValueError(f"instance_norm got an empty input: X has shape {tuple(X.shape)}")
    C = X.shape[1]
    if X[0, 0].numel() == 1:
        raise ValueError(
            "instance_norm needs more than one spatial value per channel; got input of "
            f"shape {tuple(X.shape)}"
        )
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None:
            check_param(t, name, C, ((C,),), X)

    x = X.to(torch.promote_types(X.dtype, torch.float32))
    # One mean and one variance per (example, channel): reduce over dims 2, 3, ...
    dims = tuple(range(2, X.dim()))
    var, mean = torch.var_mean(x, dim=dims, correction=0, keepdim=True)
    Y = (x - mean) * torch.rsqrt(var + eps)
    # (C,) -> (C, 1, ..., 1) so that it broadcasts along the channel axis.
    param_shape = (C,) + (1,) * (X.dim() - 2)
    if weight is not None:
        Y = Y * weight.view(param_shape)
    if bias is not None:
        Y = Y + bias.view(param_shape)
    return Y.to(X.dtype)


class InstanceNorm(nn.Module):
    r"""Instance normalization with per-channel ``weight`` and ``bias``.

    Equivalent to ``nn.InstanceNorm2d(num_features, eps, affine=True,
    track_running_stats=False)`` (and to its 1-D / 3-D siblings).

    .. math::

        y = \gamma_c\,\frac{x-\mu_{nc}}{\sqrt{\sigma^2_{nc}+\epsilon}} + \beta_c

    Examples:
        >>> import torch
        >>> inorm = InstanceNorm(3)
        >>> inorm(torch.randn(2, 3, 4, 4)).shape, inorm.weight.shape
        (torch.Size([2, 3, 4, 4]), torch.Size([3]))
    """

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__()
        if not isinstance(num_features, int) or num_features < 1:
            raise ValueError(f"num_features must be a positive int; got {num_features!r}")
        check_eps(eps)
        self.num_features, self.eps = num_features, eps
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        if X.dim() >= 2 and X.shape[1] != self.num_features:
            raise ValueError(
                f"InstanceNorm({self.num_features}) expects {self.num_features} channels "
                f"at dim 1; got shape {tuple(X.shape)} with {X.shape[1]}"
            )
        return instance_norm(X, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}"
