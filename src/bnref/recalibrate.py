r"""Re-estimate the moving statistics of every batch normalization in a network.

In evaluation mode batch normalization normalizes with population statistics
(Ioffe & Szegedy 2015, section 3.1), which training estimates by a moving
average of the batch statistics. That average lags behind the weights: it
mixes statistics of earlier weights, and with a large learning rate or a
momentum close to 1 the lag can cost much of a network's accuracy in
evaluation mode. :func:`recalibrate` removes it, as "precise BN" does (Wu &
Johnson 2021, "Rethinking 'Batch' in BatchNorm", arXiv:2105.07576): one large
batch of training images, the weights fixed, and each layer's statistics
estimated under the statistics the layers before it will be evaluated with.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from bnref.hooks import forward_hooks
from bnref.norm.batch_norm import BatchNorm

__all__ = ["recalibrate"]


def recalibrate(net: nn.Module, images: torch.Tensor, *, inplace: bool = False) -> nn.Module:
    r"""``net`` with every batch normalization's moving statistics re-estimated from ``images``.

    ``images`` (training images, e.g. a few thousand) go through the network
    once, in evaluation mode and without gradients. Each batch-normalization
    layer, when reached, first takes the statistics of its own input as its
    moving statistics, and then normalizes with them as evaluation mode does:

    .. math::

        \text{moving\_mean} = \frac1m\sum_{i} x_i,\qquad
        \text{moving\_var} = \frac1m\sum_{i}\Bigl(x_i-\text{moving\_mean}\Bigr)^2

    over the batch (and every position after a convolution: every dimension
    but dimension 1), ``m`` values per channel. So every later layer is
    estimated under the statistics it will be evaluated with, which one pass
    in training mode does not give: there dropout is on, noisy BN adds noise,
    ghost BN normalizes sub-batches and moving-statistics BN normalizes with the
    old statistics. The layers found:

    * every :class:`~bnref.norm.batch_norm.BatchNorm` (its subclasses
      included: the variants, :mod:`bnref.speed`'s faster forms,
      ``SyncBatchNorm``): ``moving_mean`` and ``moving_var`` get the mean and
      the *biased* variance (d2l's convention), in the shape and dtype they had;
    * every ``torch.nn`` batch normalization (``BatchNorm1d/2d/3d``,
      ``SyncBatchNorm``): ``running_mean`` gets the mean and ``running_var``
      the *unbiased* variance (:math:`\tfrac{m}{m-1}` times the biased one,
      PyTorch's convention); ``num_batches_tracked`` is left as it is.

    The statistics are computed in at least float32. Nothing else changes:
    the parameters, the other buffers, and no random number is drawn unless
    the network itself draws one in evaluation mode. A layer the forward pass
    does not reach keeps its statistics; a layer called more than once in one
    forward pass has no single input to take statistics from, and is refused.

    Args:
        net: the network, any ``nn.Module`` holding at least one batch
            normalization; it is called as ``net(images)``.
        images: a floating-point tensor, the network's input; the larger the
            batch, the better the estimate (precise BN uses thousands).
        inplace: ``False`` (the default) re-estimates a copy
            (``copy.deepcopy``) and leaves ``net`` untouched; ``True`` changes
            ``net`` itself and returns it.

    Returns:
        The re-estimated network (``net`` itself when ``inplace``), in
        evaluation mode.

    Examples:
        >>> import torch
        >>> from torch import nn
        >>> from bnref import BatchNorm
        >>> from bnref.recalibrate import recalibrate
        >>> net = nn.Sequential(nn.ReLU(), BatchNorm(2, num_dims=2))
        >>> images = torch.tensor([[1.0, -2.0], [3.0, 0.0], [5.0, 4.0]])
        >>> fresh = recalibrate(net, images)
        >>> fresh[1].moving_mean, fresh[1].moving_var  # of its input, after the ReLU
        (tensor([[3.0000, 1.3333]]), tensor([[2.6667, 3.5556]]))
        >>> fresh.training, net[1].moving_mean  # the original is untouched
        (False, tensor([[0., 0.]]))
    """
    if not isinstance(net, nn.Module):
        raise TypeError(f"net must be a torch.nn.Module; got {type(net).__name__}")
    if not isinstance(images, torch.Tensor) or not images.is_floating_point():
        got = (f"a tensor of dtype {images.dtype}" if isinstance(images, torch.Tensor)
               else type(images).__name__)
        raise TypeError(f"images must be a floating-point torch.Tensor (the network's input, "
                        f"e.g. training images); got {got}")
    layers = _batch_norm_layers(net)
    if not layers:
        raise ValueError(
            f"{type(net).__name__} holds no batch normalization (no bnref.BatchNorm and no "
            f"torch.nn BatchNorm1d/2d/3d or SyncBatchNorm): it has no moving statistics to "
            f"re-estimate")
    if not inplace:
        net = copy.deepcopy(net)
        layers = _batch_norm_layers(net)
    net.eval()
    seen: set[str] = set()
    with forward_hooks(((layer, _estimator(name, seen)) for name, layer in layers), pre=True), \
            torch.no_grad():
        net(images)
    return net


def _batch_norm_layers(net: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(name, layer)`` of every batch normalization in ``net``; a torch layer without
    moving statistics is refused."""
    layers = []
    for name, m in net.named_modules():
        if isinstance(m, _BatchNorm) and not isinstance(m, BatchNorm):
            if not m.track_running_stats or m.running_mean is None or m.running_var is None:
                raise ValueError(
                    f"layer {name or '(the network)'} ({type(m).__name__}) was built with "
                    f"track_running_stats=False: it has no moving statistics to re-estimate "
                    f"(it normalizes with the batch statistics in evaluation mode too)")
            layers.append((name, m))
        elif isinstance(m, BatchNorm):
            layers.append((name, m))
    return layers


def _estimator(name: str, seen: set[str]):
    """The forward pre-hook that sets one layer's moving statistics from its input."""

    def hook(layer: nn.Module, args: tuple) -> None:
        where = f"layer {name or '(the network)'} ({type(layer).__name__})"
        if name in seen:
            raise ValueError(f"{where} is called more than once in one forward pass; its "
                             f"statistics would depend on which call came last")
        seen.add(name)
        x = args[0] if args else None
        if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() < 2:
            got = (f"shape {tuple(x.shape)}, dtype {x.dtype}" if isinstance(x, torch.Tensor)
                   else type(x).__name__)
            raise ValueError(f"{where} expects a floating-point input (N, C, ...); got {got}")
        dims = (0,) + tuple(range(2, x.dim()))
        m = x.numel() // x.shape[1]
        if m < 2:
            raise ValueError(f"{where} needs more than one value per channel to estimate a "
                             f"variance; got input of shape {tuple(x.shape)}. Recalibrate "
                             f"with more images")
        x = x.to(torch.promote_types(x.dtype, torch.float32))
        mean = x.sum(dim=dims) / m
        shape = (1, -1) + (1,) * (x.dim() - 2)
        centered = x - mean.view(shape)
        var = centered.square().sum(dim=dims) / m  # biased: the note's (d2l's) convention
        if isinstance(layer, BatchNorm):
            layer.moving_mean = mean.reshape(layer.moving_mean.shape).to(
                layer.moving_mean.dtype)
            layer.moving_var = var.reshape(layer.moving_var.shape).to(layer.moving_var.dtype)
        else:  # torch.nn: the unbiased variance, in place; num_batches_tracked untouched
            layer.running_mean.copy_(mean)
            layer.running_var.copy_(var * (m / (m - 1)))

    return hook
