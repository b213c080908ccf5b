r"""Batch normalization across processes: statistics of the whole batch.

With data parallelism each of ``K`` processes sees ``N/K`` samples. A plain
:class:`bnref.BatchNorm` then normalizes with *per-process* statistics, as if
the batch were ``N/K``; with small per-process batches those estimates are
noisy. :func:`sync_batch_norm` makes every process normalize with the
statistics of the *whole* batch, so that ``K`` processes compute what one
process computes on all ``N`` samples — outputs, gradients and moving
statistics.

**Forward.** Each process computes, per channel, its count :math:`n_k`, and
with ``torch.var_mean`` its mean :math:`m_k` and biased variance :math:`v_k`
(numerically safe, one kernel). It turns them into sums,
:math:`S_{1,k} = n_k m_k` and :math:`S_{2,k} = n_k (v_k + m_k^2)`, in float64,
and one ``all_reduce`` adds ``[n, S_1, S_2]`` over the processes:

.. math::

    N=\sum_k n_k,\qquad \hat\mu = \frac{\sum_k S_{1,k}}{N},\qquad
    \hat\sigma^2 = \frac{\sum_k S_{2,k}}{N} - \hat\mu^2 .

**Backward.** The input gradient of batch normalization needs two batch
sums, :math:`\sum dy` and :math:`\sum dy\,\hat x`. Over the whole batch they
are sums over the processes, so the backward all-reduces them too — which is
why this is a custom :class:`torch.autograd.Function` (as PyTorch's own
``SyncBatchNorm`` is): autograd alone would differentiate only the local part.

.. math::

    dx = \frac{\gamma}{\sigma}\Big(dy - \tfrac1N\textstyle\sum dy
         - \hat x\,\tfrac1N\sum dy\,\hat x\Big)

:math:`d\gamma=\sum dy\,\hat x` and :math:`d\beta=\sum dy` are returned
*local* (this process's samples only), like ``torch.nn.SyncBatchNorm``: the
data-parallel wrapper (``DistributedDataParallel``) all-reduces parameter
gradients afterwards; summed over the processes they are the whole-batch
gradients.

Without an initialized process group, and in evaluation mode (no batch
statistics), :func:`sync_batch_norm` is exactly :func:`bnref.batch_norm`.
"""

from __future__ import annotations

import functools

import torch
import torch.distributed as dist
from torch import nn

from bnref.norm._checks import check_batch_norm_args
from bnref.norm._moving import moving_average, resolve_training
from bnref.norm.batch_norm import BatchNorm, batch_norm

__all__ = ["sync_batch_norm", "SyncBatchNorm"]


def _view(t: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """View a ``(C,)`` tensor so it broadcasts against ``X``."""
    return t.view(1, -1) if X.dim() == 2 else t.view(1, -1, 1, 1)


class _SyncBatchNormFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, gamma, beta, eps, group):
        C = x.shape[1]
        dims = (0,) if x.dim() == 2 else (0, 2, 3)
        # Local count, mean and biased variance -> sums, in float64.
        var_k, mean_k = torch.var_mean(x, dim=dims, correction=0)
        n_k = x.numel() // C
        stats = torch.stack([
            torch.full_like(mean_k, n_k, dtype=torch.float64),
            n_k * mean_k.double(),
            n_k * (var_k.double() + mean_k.double() ** 2),
        ])
        dist.all_reduce(stats, op=dist.ReduceOp.SUM, group=group)
        count, s1, s2 = stats
        mean64 = s1 / count
        var64 = (s2 / count - mean64 ** 2).clamp_min(0.0)
        mean, var = mean64.to(x.dtype), var64.to(x.dtype)

        invstd = torch.rsqrt(var + eps)
        a = gamma * invstd
        y = torch.addcmul(_view(beta - a * mean, x), x, _view(a, x))
        ctx.save_for_backward(x, gamma, mean, invstd)
        ctx.count, ctx.group = count[0].item(), group
        ctx.mark_non_differentiable(mean, var)
        return y, mean, var

    @staticmethod
    def backward(ctx, dy, _dmean, _dvar):
        x, gamma, mean, invstd = ctx.saved_tensors
        dy = dy.contiguous()
        # Local sums of dy and dy * x_hat; dgamma and dbeta stay local.
        dims = (0,) if x.dim() == 2 else (0, 2, 3)
        sum_dy = dy.sum(dim=dims)
        sum_dy_xhat = invstd * ((dy * x).sum(dim=dims) - mean * sum_dy)
        # The input gradient needs them over the whole batch.
        sums = torch.stack([sum_dy, sum_dy_xhat]).double()
        dist.all_reduce(sums, op=dist.ReduceOp.SUM, group=ctx.group)
        all_dy, all_dy_xhat = sums.to(x.dtype)
        a = gamma * invstd
        mean_dy, mean_dy_xhat = all_dy / ctx.count, all_dy_xhat / ctx.count
        x_hat = (x - _view(mean, x)) * _view(invstd, x)
        dx = _view(a, x) * (dy - _view(mean_dy, x) - x_hat * _view(mean_dy_xhat, x))
        return dx, sum_dy_xhat, sum_dy, None, None


def sync_batch_norm(
    X: torch.Tensor,
    gamma: torch.Tensor,
    beta: torch.Tensor,
    moving_mean: torch.Tensor,
    moving_var: torch.Tensor,
    eps: float,
    momentum: float,
    *,
    training: bool | None = None,
    group: dist.ProcessGroup | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r""":func:`bnref.batch_norm` with batch statistics all-reduced over ``group``.

    .. math::

        \hat\mu = \frac{\sum_k S_{1,k}}{\sum_k n_k},\qquad
        \hat\sigma^2 = \frac{\sum_k S_{2,k}}{\sum_k n_k} - \hat\mu^2,\qquad
        y = \gamma\,\frac{x-\hat\mu}{\sqrt{\hat\sigma^2+\epsilon}} + \beta

    Arguments and return value are those of :func:`bnref.batch_norm`, plus
    ``group``, the process group to synchronize over (default: the whole
    world). Every process of the group must call it, with the same ``C``.
    Moving statistics follow the note's momentum convention with the biased variance of
    the whole batch, so they are identical on every process.

    Without an initialized process group, or with ``training=False``, this is
    :func:`bnref.batch_norm`.

    Examples:
        >>> import torch
        >>> X = torch.tensor([[1.0, 2.0], [3.0, 6.0]])
        >>> ones, zeros = torch.ones(2), torch.zeros(2)
        >>> Y, mean, var = sync_batch_norm(X, ones, zeros, zeros, ones,
        ...                                eps=1e-5, momentum=0.9, training=True)
        >>> Y  # no process group here: exactly bnref.batch_norm
        tensor([[-1.0000, -1.0000],
                [ 1.0000,  1.0000]])
    """
    training = resolve_training(training)
    if not training or not (dist.is_available() and dist.is_initialized()):
        return batch_norm(X, gamma, beta, moving_mean, moving_var, eps, momentum,
                          training=training)
    check_batch_norm_args(X, gamma, beta, moving_mean, moving_var, eps, momentum, training)
    compute_dtype = torch.promote_types(X.dtype, torch.float32)
    C = X.shape[1]
    Y, mean, var = _SyncBatchNormFunction.apply(
        X.to(compute_dtype).contiguous(),
        gamma.reshape(C).to(compute_dtype), beta.reshape(C).to(compute_dtype),
        float(eps), group,
    )
    return (Y.to(X.dtype), moving_average(moving_mean, mean, momentum),
            moving_average(moving_var, var, momentum))


class SyncBatchNorm(BatchNorm):
    r""":class:`bnref.BatchNorm` whose training statistics span all processes.

    Same parameters, buffers and checks as :class:`bnref.BatchNorm`; in
    training mode it calls :func:`sync_batch_norm` over ``group`` (default:
    the whole world), so the statistics are those of the batches of all
    ``K`` processes together (``N = n_1 + ... + n_K`` samples):

    .. math::

        \hat\mu = \frac{1}{N}\sum_{k=1}^{K}\sum_{i\in\mathcal B_k} x_i,\qquad
        \hat\sigma^2 = \frac{1}{N}\sum_{k=1}^{K}\sum_{i\in\mathcal B_k} (x_i-\hat\mu)^2,\qquad
        y = \gamma\,\frac{x-\hat\mu}{\sqrt{\hat\sigma^2+\epsilon}} + \beta .

    Without a process group it is :class:`bnref.BatchNorm`.

    Args:
        num_features, num_dims, eps, momentum: as for :class:`bnref.BatchNorm`.
        group: the ``torch.distributed`` process group to synchronize over.

    Examples:
        >>> import torch
        >>> bn = SyncBatchNorm(3, num_dims=4)
        >>> bn(torch.randn(8, 3, 5, 5)).shape
        torch.Size([8, 3, 5, 5])
    """

    def __init__(self, num_features: int, num_dims: int, eps: float = 1e-5,
                 momentum: float = 0.9, group: dist.ProcessGroup | None = None) -> None:
        super().__init__(num_features, num_dims, eps=eps, momentum=momentum)
        self.group = group
        # The only difference from BatchNorm: the function, bound to this group.
        self.function = functools.partial(sync_batch_norm, group=group)

    @classmethod
    def convert_sync_batchnorm(cls, module: nn.Module,
                               group: dist.ProcessGroup | None = None) -> nn.Module:
        """``module`` with every :class:`bnref.BatchNorm` replaced by a :class:`SyncBatchNorm`.

        What ``torch.nn.SyncBatchNorm.convert_sync_batchnorm`` does for
        PyTorch's layers: each new layer holds the old one's ``gamma``,
        ``beta``, moving statistics, ``eps``, ``momentum``, mode, device and
        dtype, so a network trained (or initialized) with :class:`BatchNorm`
        carries on with synchronized statistics. Layers that already are
        :class:`SyncBatchNorm` stay as they are. A subclass of
        :class:`BatchNorm` that changes ``function`` may compute something
        else, so it is refused with a ``TypeError`` naming the layer.

        Args:
            module: a network, or one :class:`BatchNorm` layer.
            group: the process group the new layers synchronize over
                (default: the whole world).

        Returns:
            The converted network: ``module`` itself with its children
            replaced, or the new layer when ``module`` is a :class:`BatchNorm`.

        Examples:
            >>> import torch
            >>> from torch import nn
            >>> net = nn.Sequential(nn.Linear(4, 3), BatchNorm(3, num_dims=2))
            >>> net = SyncBatchNorm.convert_sync_batchnorm(net)
            >>> net[1]
            SyncBatchNorm(3, num_dims=2, eps=1e-05, momentum=0.9)
        """
        return cls._convert(module, group, "module")

    @classmethod
    def _convert(cls, module: nn.Module, group, name: str) -> nn.Module:
        if isinstance(module, BatchNorm) and not isinstance(module, SyncBatchNorm):
            if type(module) is not BatchNorm:
                raise TypeError(
                    f"convert_sync_batchnorm converts bnref.BatchNorm layers; layer {name!r} is "
                    f"a {type(module).__name__}, a subclass whose function may compute "
                    f"something else. Build the network with bnref.BatchNorm to convert it")
            new = cls(module.num_features, num_dims=module.num_dims, eps=module.eps,
                      momentum=module.momentum, group=group)
            new.to(device=module.gamma.device, dtype=module.gamma.dtype)
            new.load_state_dict(module.state_dict())
            new.gamma.requires_grad_(module.gamma.requires_grad)
            new.beta.requires_grad_(module.beta.requires_grad)
            return new.train(module.training)
        for child_name, child in module.named_children():
            module.add_module(child_name, cls._convert(child, group, f"{name}.{child_name}"))
        return module
