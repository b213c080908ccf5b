r"""The bridge between :class:`bnref.BatchNorm` and ``nn.BatchNorm1d`` / ``nn.BatchNorm2d``.

Both layers hold the same four tensors under other names and shapes:

==================  ==========================  ===========================
meaning             ``bnref.BatchNorm``         ``nn.BatchNorm1d/2d``
==================  ==========================  ===========================
scale               ``gamma`` ``(1, C)`` or     ``weight`` ``(C,)``
                    ``(1, C, 1, 1)``
shift               ``beta``  (same shape)      ``bias`` ``(C,)``
moving mean         ``moving_mean`` (same)      ``running_mean`` ``(C,)``
moving variance     ``moving_var`` (same)       ``running_var`` ``(C,)``
(none)                                          ``num_batches_tracked`` ``()``
==================  ==========================  ===========================

The moving variance *means* the same in both — an estimate of the
per-channel variance, used as is in evaluation mode — so it is copied
unchanged. The two conventions differ only in how it is *updated* during
training: PyTorch mixes in the unbiased batch variance (times
:math:`n/(n-1)`) with weight ``momentum``, bnref (like d2l) the biased one
with weight ``1 - momentum``. So the momentum is converted,
:math:`m_\text{torch} = 1 - m_\text{d2l}`, and after conversion the two
layers give the same output in evaluation mode; in training mode the
outputs agree too, only the next updates of the moving variance differ.
"""

from __future__ import annotations

import torch
from torch import nn

from bnref.batch_norm import BatchNorm

__all__ = ["convert_momentum", "to_torch", "from_torch", "load_into_concise", "load_from_concise"]

_NAMES = (("gamma", "weight"), ("beta", "bias"),
          ("moving_mean", "running_mean"), ("moving_var", "running_var"))


def convert_momentum(momentum: float) -> float:
    """d2l momentum ``m`` (weight of the old value) <-> PyTorch momentum ``1 - m``.

    The same formula goes both ways; rounded to 12 digits so that ``0.9`` gives
    ``0.1`` rather than ``0.09999999999999998``.

    >>> convert_momentum(0.9), convert_momentum(0.1)
    (0.1, 0.9)
    """
    return round(1.0 - momentum, 12)


def to_torch(bn: BatchNorm) -> nn.BatchNorm1d | nn.BatchNorm2d:
    """A new ``nn.BatchNorm1d`` (``num_dims=2``) or ``nn.BatchNorm2d`` (``num_dims=4``)
    holding ``bn``'s parameters and moving statistics, on the same device and dtype.

    Example:
        >>> import torch
        >>> bn = BatchNorm(3, num_dims=4)
        >>> _ = bn(torch.randn(8, 3, 4, 4))          # one training step moves the statistics
        >>> t = to_torch(bn).eval()
        >>> t
        BatchNorm2d(3, eps=1e-05, momentum=0.1, affine=True, ...track_running_stats=True)
        >>> X = torch.randn(2, 3, 4, 4)
        >>> torch.allclose(t(X), bn.eval()(X))
        True
    """
    if not isinstance(bn, BatchNorm):
        raise TypeError(f"to_torch expects a bnref.BatchNorm; got {type(bn).__name__}")
    cls = nn.BatchNorm1d if bn.num_dims == 2 else nn.BatchNorm2d
    out = cls(bn.num_features, eps=bn.eps, momentum=convert_momentum(bn.momentum),
              device=bn.gamma.device, dtype=bn.gamma.dtype)
    with torch.no_grad():
        for ours, theirs in _NAMES:
            getattr(out, theirs).copy_(getattr(bn, ours).reshape(-1))
    out.train(bn.training)
    return out


def from_torch(bn: nn.BatchNorm1d | nn.BatchNorm2d) -> BatchNorm:
    """A new :class:`bnref.BatchNorm` holding a PyTorch batch-norm layer's state.

    Needs ``affine=True`` and ``track_running_stats=True`` (the defaults) and a
    numeric ``momentum`` (``momentum=None``, PyTorch's cumulative average, has no
    d2l counterpart).
    """
    if not isinstance(bn, (nn.BatchNorm1d, nn.BatchNorm2d)):
        raise TypeError(
            f"from_torch expects nn.BatchNorm1d or nn.BatchNorm2d; got {type(bn).__name__}"
        )
    if not (bn.affine and bn.track_running_stats) or bn.momentum is None:
        raise ValueError(
            "from_torch needs affine=True, track_running_stats=True and a numeric momentum; "
            f"got affine={bn.affine}, track_running_stats={bn.track_running_stats}, "
            f"momentum={bn.momentum}"
        )
    num_dims = 2 if isinstance(bn, nn.BatchNorm1d) else 4
    out = BatchNorm(bn.num_features, num_dims=num_dims, eps=bn.eps,
                    momentum=convert_momentum(bn.momentum))
    out.to(device=bn.weight.device, dtype=bn.weight.dtype)
    with torch.no_grad():
        for ours, theirs in _NAMES:
            target = getattr(out, ours)
            target.copy_(getattr(bn, theirs).reshape(target.shape))
    out.train(bn.training)
    return out


def _pairs(src: nn.Module, dst: nn.Module, src_type, dst_type):
    a = [m for m in src.modules() if isinstance(m, src_type)]
    b = [m for m in dst.modules() if isinstance(m, dst_type)]
    if len(a) != len(b):
        raise ValueError(
            f"the two networks must have the same number of batch-norm layers; got "
            f"{len(a)} {src_type.__name__} layers and {len(b)} in the target"
        )
    return zip(a, b)


def load_into_concise(net_bn: nn.Module, net_concise: nn.Module) -> nn.Module:
    """Copy a ``lenet_bn()``-like network's state into a ``lenet_bn_concise()``-like one.

    Every other layer (``Conv2d``, ``Linear``) is copied by ``load_state_dict``
    at the same position; each :class:`BatchNorm` goes into the PyTorch
    batch-norm layer at the same position, through :func:`to_torch`. Returns
    ``net_concise``.
    """
    for ours, theirs in _pairs(net_bn, net_concise, BatchNorm, nn.modules.batchnorm._BatchNorm):
        converted = to_torch(ours)
        if type(converted) is not type(theirs) or converted.num_features != theirs.num_features:
            raise ValueError(f"cannot load {ours!r} into {theirs!r}")
        theirs.load_state_dict(converted.state_dict())
        theirs.eps, theirs.momentum = converted.eps, converted.momentum
    _copy_rest(net_bn, net_concise)
    return net_concise


def load_from_concise(net_concise: nn.Module, net_bn: nn.Module) -> nn.Module:
    """The reverse of :func:`load_into_concise`; returns ``net_bn``."""
    for theirs, ours in _pairs(net_concise, net_bn, nn.modules.batchnorm._BatchNorm, BatchNorm):
        converted = from_torch(theirs)
        if converted.num_dims != ours.num_dims or converted.num_features != ours.num_features:
            raise ValueError(f"cannot load {theirs!r} into {ours!r}")
        ours.load_state_dict(converted.state_dict())
        ours.eps, ours.momentum = converted.eps, converted.momentum
    _copy_rest(net_concise, net_bn)
    return net_bn


def _copy_rest(src: nn.Module, dst: nn.Module) -> None:
    """Copy the non-batch-norm layers with parameters, position by position."""
    skip = (BatchNorm, nn.modules.batchnorm._BatchNorm)
    a = [m for m in src.modules() if not isinstance(m, skip) and not list(m.children())
         and list(m.parameters(recurse=False))]
    b = [m for m in dst.modules() if not isinstance(m, skip) and not list(m.children())
         and list(m.parameters(recurse=False))]
    if [type(m) for m in a] != [type(m) for m in b]:
        raise ValueError(
            "the two networks must have the same layers besides batch norm; got "
            f"{[type(m).__name__ for m in a]} and {[type(m).__name__ for m in b]}"
        )
    for m, n in zip(a, b):
        n.load_state_dict(m.state_dict())
