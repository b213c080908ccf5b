r"""Layer normalization from scratch: the functional core and the module.

Layer normalization (Ba, Kiros & Hinton, 2016) normalizes each example on its
own, over its last dimensions (the ``normalized_shape``): for an image
``(N, C, H, W)`` with ``normalized_shape = (C, H, W)``, one mean and one
variance per example :math:`n`:

.. math::

    \mu_n = \frac{1}{CHW}\sum_{c,h,w} x_{nchw},\qquad
    \sigma^2_n = \frac{1}{CHW}\sum_{c,h,w} (x_{nchw}-\mu_n)^2,\qquad
    y_{nchw} = \gamma_{chw}\,\frac{x_{nchw}-\mu_n}{\sqrt{\sigma^2_n+\epsilon}}
        + \beta_{chw} .

No statistic crosses the batch axis, so the output for one example does not
depend on the others, training and evaluation compute the same thing, and
there is no moving average to keep. The affine parameters ``weight``
(:math:`\gamma`) and ``bias`` (:math:`\beta`) have the shape
``normalized_shape``, one per normalized element, as in ``torch.nn.LayerNorm``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from bnref.norm._checks import check_eps, check_floating, check_param

__all__ = ["layer_norm", "LayerNorm"]


def _as_shape(normalized_shape) -> tuple[int, ...]:
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    shape = tuple(normalized_shape)
    if not shape or not all(isinstance(s, int) and s >= 1 for s in shape):
        raise ValueError(
            "normalized_shape must be a positive int or a non-empty sequence of positive "
            f"ints, e.g. 120 or (6, 24, 24); got {normalized_shape!r}"
        )
    return shape


def layer_norm(
    X: torch.Tensor,
    normalized_shape,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    eps: float = 1e-5,
) -> torch.Tensor:
    r"""Normalize each example of ``X`` over its last ``len(normalized_shape)`` dims.

    .. math::

        y = \gamma\,\frac{x-\mu}{\sqrt{\sigma^2+\epsilon}} + \beta,\qquad
        \mu, \sigma^2 \text{ over the trailing } \texttt{normalized\_shape}

    (biased variance, as ``torch.nn.functional.layer_norm``).

    Args:
        X: input whose trailing dimensions equal ``normalized_shape``.
        normalized_shape: an int or a tuple such as ``(C, H, W)``.
        weight, bias: ``None`` or tensors of shape ``normalized_shape``.
        eps: added to the variance under the square root, ``> 0``.

    Examples:
        >>> import torch
        >>> X = torch.tensor([[1.0, 2.0, 3.0], [10.0, 20.0, 30.0]])
        >>> layer_norm(X, 3)
        tensor([[-1.2247,  0.0000,  1.2247],
                [-1.2247,  0.0000,  1.2247]])
    """
    shape = _as_shape(normalized_shape)
    check_floating(X)
    check_eps(eps)
    if X.dim() < len(shape) or tuple(X.shape[X.dim() - len(shape):]) != shape:
        raise ValueError(
            f"layer_norm expects the last {len(shape)} dimension(s) of X to be "
            f"normalized_shape={shape}; got X of shape {tuple(X.shape)}"
        )
    if X.numel() == 0:
        raise ValueError(f"layer_norm got an empty input: X has shape {tuple(X.shape)}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None:
            check_param(t, name, math.prod(shape), (shape,), X)

    # Statistics in float32 at least (half-precision input is accumulated in fp32).
    x = X.to(torch.promote_types(X.dtype, torch.float32))
    # One mean and one variance per example: reduce over the trailing dims.
    dims = tuple(range(X.dim() - len(shape), X.dim()))
    var, mean = torch.var_mean(x, dim=dims, correction=0, keepdim=True)
    Y = (x - mean) * torch.rsqrt(var + eps)
    if weight is not None:
        Y = Y * weight
    if bias is not None:
        Y = Y + bias
    return Y.to(X.dtype)


class LayerNorm(nn.Module):
    r"""Layer normalization with elementwise ``weight`` and ``bias`` (like ``nn.LayerNorm``).

    .. math::

        y = \gamma\,\frac{x-\mu}{\sqrt{\sigma^2+\epsilon}} + \beta

    Args:
        normalized_shape: the trailing shape to normalize over, e.g. ``120``
            after a fully connected layer or ``(6, 24, 24)`` after a convolution.
        eps: added to the variance under the square root.

    Examples:
        >>> import torch
        >>> ln = LayerNorm((3, 4, 4))
        >>> ln(torch.randn(2, 3, 4, 4)).shape, ln.weight.shape
        (torch.Size([2, 3, 4, 4]), torch.Size([3, 4, 4]))
    """

    def __init__(self, normalized_shape, eps: float = 1e-5) -> None:
        super().__init__()
        self.normalized_shape = _as_shape(normalized_shape)
        check_eps(eps)
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(self.normalized_shape))
        self.bias = nn.Parameter(torch.zeros(self.normalized_shape))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return layer_norm(X, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}"
