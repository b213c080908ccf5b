r"""Batch normalization from scratch: the functional core and the module.

The functional core :func:`batch_norm` holds the whole idea. For a minibatch
:math:`\mathcal B` and each feature (2-D input) or channel (4-D input):

.. math::

    \hat\mu_{\mathcal B} = \frac{1}{|\mathcal B|}\sum_{i\in\mathcal B} x_i,\qquad
    \hat\sigma^2_{\mathcal B} = \frac{1}{|\mathcal B|}\sum_{i\in\mathcal B}
        (x_i-\hat\mu_{\mathcal B})^2,\qquad
    y_i = \gamma\,\frac{x_i-\hat\mu_{\mathcal B}}{\sqrt{\hat\sigma^2_{\mathcal B}+\epsilon}}
        + \beta .

During training the moving statistics follow the note's convention (that of
the Chinese edition of d2l, and of English d2l before 1.0)

.. math::

    \text{moving} \leftarrow m\cdot\text{moving} + (1-m)\cdot\text{batch statistic},

so the note's ``momentum=0.9`` is PyTorch's ``momentum=0.1``. Unlike PyTorch, the
moving variance is updated with the *biased* batch variance, exactly as the
note does.

The module :class:`BatchNorm` only owns state (``gamma``, ``beta`` and the two
moving statistics, registered as buffers) and delegates the arithmetic to
:func:`batch_norm`, the same split PyTorch makes between
``torch.nn.functional.batch_norm`` and ``torch.nn.BatchNorm2d``.
"""

from __future__ import annotations

import torch
from torch import nn

from bnref.norm._checks import check_batch_norm_args, check_eps, check_momentum
from bnref.norm._moving import moving_average, resolve_training

__all__ = ["batch_norm", "BatchNorm"]


def batch_norm(
    X: torch.Tensor,
    gamma: torch.Tensor,
    beta: torch.Tensor,
    moving_mean: torch.Tensor,
    moving_var: torch.Tensor,
    eps: float,
    momentum: float,
    *,
    training: bool | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""Normalize ``X`` per feature (2-D) or per channel (4-D), then scale and shift.

    .. math::

        y = \gamma\,\frac{x-\hat\mu}{\sqrt{\hat\sigma^2+\epsilon}} + \beta

    Args:
        X: input of shape ``(N, C)`` (after a fully connected layer) or
            ``(N, C, H, W)`` (after a convolution).
        gamma, beta: learnable scale and shift, ``C`` values each, shaped
            ``(C,)``, ``(1, C)`` or ``(1, C, 1, 1)``.
        moving_mean, moving_var: running estimates of the mean and variance,
            ``C`` values each, in the same shapes as ``gamma``.
        eps: a small positive number added to the variance under the square
            root.
        momentum: weight of the old moving statistic, in ``[0, 1]``
            (the note's convention: ``0.9`` keeps 90 % of the old value).
        training: ``True`` normalizes with the batch statistics and updates
            the moving ones; ``False`` normalizes with the moving statistics.
            ``None`` keeps the note's rule: training exactly when
            ``torch.is_grad_enabled()``.

    Returns:
        ``(Y, moving_mean, moving_var)``: the output, shaped like ``X``, and
        the updated moving statistics (detached, shaped as given).

    Examples:
        >>> import torch
        >>> X = torch.tensor([[1.0, 2.0], [3.0, 6.0]])
        >>> ones, zeros = torch.ones(2), torch.zeros(2)
        >>> Y, mean, var = batch_norm(X, ones, zeros, zeros, ones,
        ...                           eps=1e-5, momentum=0.9, training=True)
        >>> Y
        tensor([[-1.0000, -1.0000],
                [ 1.0000,  1.0000]])
        >>> mean, var
        (tensor([0.2000, 0.4000]), tensor([1.0000, 1.3000]))
    """
    training = resolve_training(training)
    shape = check_batch_norm_args(
        X, gamma, beta, moving_mean, moving_var, eps, momentum, training
    )
    # Parameters arrive as (C,), (1, C) or (1, C, 1, 1); view them so that
    # they broadcast against X: (1, C) for 2-D input, (1, C, 1, 1) for 4-D.
    gamma, beta = gamma.view(shape), beta.view(shape)

    # Half-precision input: accumulate the statistics in float32.
    compute_dtype = torch.promote_types(X.dtype, torch.float32)
    x = X.to(compute_dtype)

    if not training:
        # Inference: normalize with the estimates gathered during training.
        mean = moving_mean.view(shape).to(compute_dtype)
        var = moving_var.view(shape).to(compute_dtype)
        centered = x - mean
    else:
        # Batch statistics over every axis except the feature/channel axis:
        # dim 0 for (N, C); dims 0, 2, 3 for (N, C, H, W). m values per channel.
        dims = (0,) if X.dim() == 2 else (0, 2, 3)
        m = x.numel() // x.shape[1]
        mean = x.sum(dim=dims, keepdim=True) / m                  # mu = 1/m sum x
        centered = x - mean                                        # x - mu
        var = centered.square().sum(dim=dims, keepdim=True) / m   # sigma^2 = 1/m sum (x - mu)^2

    # y = gamma * (x - mu) / sqrt(sigma^2 + eps) + beta. The per-channel factor
    # gamma / sqrt(sigma^2 + eps) is computed once (rsqrt is 1 / sqrt), so the
    # output costs two passes over X: multiply, add.
    scale = gamma * torch.rsqrt(var + eps)
    Y = centered * scale + beta

    if training:
        # Exponential moving average, the note's convention (momentum weighs the old value).
        moving_mean = moving_average(moving_mean, mean, momentum)
        moving_var = moving_average(moving_var, var, momentum)
    return Y.to(X.dtype), moving_mean.detach(), moving_var.detach()


class BatchNorm(nn.Module):
    r"""The note's ``BatchNorm`` layer, with its moving statistics as buffers.

    ``gamma`` and ``beta`` are parameters of shape ``(1, C)`` (``num_dims=2``)
    or ``(1, C, 1, 1)`` (``num_dims=4``), so ``net[1].gamma.reshape((-1,))``
    works as in the note. ``moving_mean`` and ``moving_var`` are registered
    buffers: they are saved by ``state_dict`` and follow ``.to()`` and
    ``.double()``, which the note's plain attributes do not. The mode comes
    from ``self.training`` (``.train()`` / ``.eval()``), not from
    ``torch.is_grad_enabled()``.

    .. math::

        y = \gamma\,\frac{x-\hat\mu}{\sqrt{\hat\sigma^2+\epsilon}} + \beta

    Args:
        num_features: ``C``, the number of features or channels.
        num_dims: ``2`` after a fully connected layer, ``4`` after a
            convolution.
        eps: added to the variance under the square root (the note: ``1e-5``).
        momentum: weight of the old value, the note's convention (``0.9``; PyTorch's ``0.1``).

    Examples:
        >>> import torch
        >>> bn = BatchNorm(3, num_dims=4)
        >>> Y = bn(torch.randn(8, 3, 5, 5))
        >>> Y.shape, bn.gamma.shape, sorted(bn.state_dict())
        (torch.Size([8, 3, 5, 5]), torch.Size([1, 3, 1, 1]), ['beta', 'gamma', 'moving_mean', 'moving_var'])
    """

    def __init__(
        self, num_features: int, num_dims: int, eps: float = 1e-5, momentum: float = 0.9
    ) -> None:
        super().__init__()
        if num_dims not in (2, 4):
            raise ValueError(
                f"num_dims must be 2 (fully connected, input (N, C)) or 4 "
                f"(convolution, input (N, C, H, W)); got num_dims={num_dims!r}"
            )
        if not isinstance(num_features, int) or num_features < 1:
            raise ValueError(f"num_features must be a positive int; got {num_features!r}")
        check_eps(eps)
        check_momentum(momentum)
        shape = (1, num_features) if num_dims == 2 else (1, num_features, 1, 1)
        self.num_features, self.num_dims = num_features, num_dims
        self.eps, self.momentum = eps, momentum
        # Learnable scale and shift, updated by the optimizer.
        self.gamma = nn.Parameter(torch.ones(shape))
        self.beta = nn.Parameter(torch.zeros(shape))
        # Running estimates of the dataset statistics: state, not parameters.
        self.register_buffer("moving_mean", torch.zeros(shape))
        self.register_buffer("moving_var", torch.ones(shape))

    #: The functional core this layer calls. A faster form of the same layer
    #: (:mod:`bnref.speed`) changes only this, as PyTorch's ``_BatchNorm``
    #: subclasses change only ``_check_input_dim``.
    function = staticmethod(batch_norm)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        self._check_input(X)
        Y, self.moving_mean, self.moving_var = self.function(
            X, self.gamma, self.beta, self.moving_mean, self.moving_var,
            eps=self.eps, momentum=self.momentum, training=self.training,
        )
        return Y

    def _check_input(self, X: torch.Tensor) -> None:
        """Raise a ``ValueError`` that explains what was expected unless ``X`` fits this layer."""
        if X.dim() != self.num_dims:
            raise ValueError(
                f"{type(self).__name__}(num_dims={self.num_dims}) expects "
                f"{'(N, C)' if self.num_dims == 2 else '(N, C, H, W)'} input with "
                f"{self.num_dims} dimensions; got shape {tuple(X.shape)} "
                f"({X.dim()} dimensions)"
            )
        if X.shape[1] != self.num_features:
            raise ValueError(
                f"{type(self).__name__}({self.num_features}, num_dims={self.num_dims}) expects "
                f"{self.num_features} features/channels at dim 1; got shape {tuple(X.shape)} "
                f"with {X.shape[1]}"
            )

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, num_dims={self.num_dims}, eps={self.eps}, "
            f"momentum={self.momentum}"
        )
