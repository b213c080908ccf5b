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

What crosses the bridge. ``bnref.BatchNorm`` has one configuration: a
learnable scale and shift, moving statistics used in evaluation mode, one
fixed momentum. ``nn.BatchNorm1d/2d`` built with the defaults
(``affine=True``, ``bias=True``, ``track_running_stats=True``, a numeric
``momentum``) is that configuration, and is carried exactly. Every other
one is refused with a ``ValueError`` that names the setting and why bnref
cannot hold it: ``affine=False`` (no scale and shift), ``bias=False`` (no
shift), ``track_running_stats=False`` (batch statistics in evaluation mode
too) and, for :func:`from_torch`, ``momentum=None`` (PyTorch's cumulative
average, which one d2l-convention momentum cannot express;
:func:`load_into_concise` gives its target layers the source's momentum,
so there a ``momentum=None`` is replaced). A layer of
another kind (``BatchNorm3d``, ``SyncBatchNorm``, a lazy layer not yet
materialized) is refused with a ``TypeError``. ``nn.BatchNorm1d`` also takes
``(N, C, L)`` input; a ``num_dims=2`` :class:`BatchNorm` takes ``(N, C)``
only and says so when it gets three dimensions (see :func:`from_torch`).
"""

from __future__ import annotations

import torch
from torch import nn

from bnref.norm.batch_norm import BatchNorm

__all__ = ["convert_momentum", "unbiased_moving_var", "biased_running_var", "to_torch",
           "from_torch", "load_into_concise", "load_from_concise"]

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


def _kept(steps: int | None, old_weight: float, initial: float) -> float:
    """The share of the starting value a moving average still holds after ``steps`` updates."""
    if steps is None:
        return 0.0
    if not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be a non-negative int or None; got {steps!r}")
    return old_weight ** steps * initial


def _check_n(n) -> None:
    if not isinstance(n, int) or n < 2:
        raise ValueError(f"n, the number of values each batch variance is taken over, must be "
                         f"an int >= 2; got {n!r}")


def unbiased_moving_var(moving_var, n: int, *, steps: int | None = None, momentum: float = 0.9,
                        initial: float = 1.0):
    r"""The note's moving variance as PyTorch's ``running_var`` after the same batches.

    The note (and bnref, d2l-zh, TensorFlow, Flax, MXNet) mixes in the **biased** batch
    variance, with ``momentum`` weighing the old value; PyTorch mixes in the **unbiased**
    one, :math:`\frac{n}{n-1}` times larger, with ``1 - momentum`` weighing the old value.
    After ``steps`` updates from ``initial`` both still hold :math:`m^{steps}` of the
    starting value; the rest is scaled by :math:`\frac{n}{n-1}`:

    .. math::

        v_{torch} = m^{s}\,v_0 + \frac{n}{n-1}\,\bigl(v_{note} - m^{s}\,v_0\bigr)

    Args:
        moving_var: the note's moving variance (a tensor or a number).
        n: the number of values each batch variance was taken over: the batch size after a
            linear layer, batch size × height × width after a convolution.
        steps: the number of updates; ``None`` treats the starting value as decayed away.
        momentum: the note's momentum (weight of the old value) the statistics were made with.
        initial: the starting value of the moving variance (1 in both frameworks).

    Examples:
        >>> unbiased_moving_var(0.75, 4)
        1.0
        >>> round(unbiased_moving_var(0.9 + 0.1 * 3.0, 4, steps=1), 6)  # one batch of variance 3
        1.3
    """
    _check_n(n)
    kept = _kept(steps, momentum, initial)
    return kept + (moving_var - kept) * n / (n - 1)


def biased_running_var(running_var, n: int, *, steps: int | None = None, momentum: float = 0.1,
                       initial: float = 1.0):
    r"""PyTorch's ``running_var`` as the note's moving variance: :func:`unbiased_moving_var`
    backwards. ``momentum`` is PyTorch's (the weight of the new batch).

    Examples:
        >>> biased_running_var(1.0, 4)
        0.75
    """
    _check_n(n)
    kept = _kept(steps, 1.0 - momentum, initial)
    return kept + (running_var - kept) * (n - 1) / n


def to_torch(bn: BatchNorm) -> nn.BatchNorm1d | nn.BatchNorm2d:
    """A new ``nn.BatchNorm1d`` (``num_dims=2``) or ``nn.BatchNorm2d`` (``num_dims=4``)
    holding ``bn``'s parameters and moving statistics, on the same device and dtype.

    Examples:
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


def _cannot_carry(bn: nn.Module, *, momentum: bool = True) -> list[str]:
    """Why ``bn``'s configuration has no :class:`BatchNorm` counterpart; empty when it has one.

    ``momentum=False`` leaves ``momentum=None`` out (a layer that receives a
    state gets the sender's momentum, so its own does not matter).
    """
    reasons = []
    if not bn.affine:
        reasons.append("affine=False (no learnable weight and bias), while bnref.BatchNorm "
                       "always learns a scale gamma and a shift beta")
    elif bn.bias is None:
        reasons.append("bias=False (a learnable weight but no bias), while bnref.BatchNorm "
                       "always learns a shift beta")
    if not bn.track_running_stats or bn.running_mean is None or bn.running_var is None:
        reasons.append("track_running_stats=False (no running statistics: PyTorch normalizes "
                       "with the batch statistics in evaluation mode too), while bnref.BatchNorm "
                       "keeps moving statistics and normalizes with them in evaluation mode")
    if momentum and bn.momentum is None:
        reasons.append("momentum=None (PyTorch's cumulative average: the k-th batch has weight "
                       "1/k), which one d2l-convention momentum cannot express; to carry the "
                       "running statistics anyway, give the layer a numeric momentum first, "
                       "e.g. bn.momentum = 0.1")
    return reasons


def from_torch(bn: nn.BatchNorm1d | nn.BatchNorm2d) -> BatchNorm:
    """A new :class:`bnref.BatchNorm` holding a PyTorch batch-norm layer's state.

    Needs ``affine=True``, ``bias=True`` and ``track_running_stats=True`` (the
    defaults) and a numeric ``momentum``; any other configuration raises a
    ``ValueError`` that names each setting bnref cannot hold and why
    (``momentum=None``, PyTorch's cumulative average, has no d2l counterpart).
    ``num_batches_tracked`` is not carried: with a numeric momentum PyTorch
    does not use it, and :func:`to_torch` starts it at 0 again.

    An ``nn.BatchNorm1d`` becomes a ``num_dims=2`` layer, which takes
    ``(N, C)`` input only; for ``(N, C, L)`` input (statistics over ``N`` and
    ``L``, as PyTorch computes them) move ``L`` into the batch:
    ``bn(X.transpose(1, 2).reshape(-1, C)).reshape(N, L, C).transpose(1, 2)``.

    Args:
        bn: an ``nn.BatchNorm1d`` or ``nn.BatchNorm2d``.

    Returns:
        A :class:`BatchNorm` with ``num_dims`` 2 or 4, the same ``eps``, the
        converted momentum, the same mode, device and dtype.

    Raises:
        TypeError: ``bn`` is not an ``nn.BatchNorm1d`` or ``nn.BatchNorm2d``.
        ValueError: ``bn`` has a configuration bnref cannot hold.

    Examples:
        >>> from torch import nn
        >>> from_torch(nn.BatchNorm2d(3, momentum=0.2))
        BatchNorm(3, num_dims=4, eps=1e-05, momentum=0.8)
        >>> from_torch(nn.BatchNorm1d(3, bias=False))
        Traceback (most recent call last):
            ...
        ValueError: from_torch cannot carry BatchNorm1d(3, ..., bias=False, ...): ...; got bias=False (a learnable weight but no bias), while bnref.BatchNorm always learns a shift beta
    """
    if not isinstance(bn, (nn.BatchNorm1d, nn.BatchNorm2d)):
        raise TypeError(
            f"from_torch expects nn.BatchNorm1d or nn.BatchNorm2d; got {type(bn).__name__}"
        )
    reasons = _cannot_carry(bn)
    if reasons:
        raise ValueError(
            f"from_torch cannot carry {bn!r}: it needs the defaults affine=True, bias=True, "
            f"track_running_stats=True and a numeric momentum; got {'; and '.join(reasons)}"
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
    """The batch-norm layers of ``src`` and ``dst``, position by position, with their names."""
    a = [(name, m) for name, m in src.named_modules() if isinstance(m, src_type)]
    b = [(name, m) for name, m in dst.named_modules() if isinstance(m, dst_type)]
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
    batch-norm layer at the same position, through :func:`to_torch`: a
    ``num_dims=2`` layer into an ``nn.BatchNorm1d``, a ``num_dims=4`` one
    into an ``nn.BatchNorm2d``, with the same number of features. The target
    layers take the source's ``eps`` and momentum (converted), so a target
    built with ``momentum=None`` ends with a numeric one. A target layer
    built with ``affine=False``, ``bias=False`` or
    ``track_running_stats=False`` cannot hold gamma, beta or the moving
    statistics: it is refused with a ``ValueError`` that names it, before
    anything is copied. Returns ``net_concise``.
    """
    pairs = list(_pairs(net_bn, net_concise, BatchNorm, nn.modules.batchnorm._BatchNorm))
    for (name, ours), (their_name, theirs) in pairs:
        expected = nn.BatchNorm1d if ours.num_dims == 2 else nn.BatchNorm2d
        if type(theirs) is not expected or theirs.num_features != ours.num_features:
            raise ValueError(
                f"cannot load {ours!r} (layer {name!r}) into {theirs!r} (layer {their_name!r}): "
                f"expected nn.{expected.__name__}({ours.num_features}); got "
                f"{type(theirs).__name__}({theirs.num_features})"
            )
        reasons = _cannot_carry(theirs, momentum=False)
        if reasons:
            raise ValueError(
                f"cannot load {ours!r} (layer {name!r}) into {theirs!r} (layer {their_name!r}): "
                f"the target needs affine=True, bias=True and track_running_stats=True (the "
                f"defaults) to hold gamma, beta and the moving statistics; got "
                f"{'; and '.join(reasons)}"
            )
    for (_, ours), (_, theirs) in pairs:
        converted = to_torch(ours)
        theirs.load_state_dict(converted.state_dict())
        theirs.eps, theirs.momentum = converted.eps, converted.momentum
    _copy_rest(net_bn, net_concise)
    return net_concise


def load_from_concise(net_concise: nn.Module, net_bn: nn.Module) -> nn.Module:
    """The reverse of :func:`load_into_concise`; returns ``net_bn``.

    Each PyTorch layer goes through :func:`from_torch`, so the configurations
    it refuses are refused here too, with the layer's name, before anything
    is copied.
    """
    converted = []
    for (their_name, theirs), (name, ours) in _pairs(
            net_concise, net_bn, nn.modules.batchnorm._BatchNorm, BatchNorm):
        try:
            new = from_torch(theirs)
        except (TypeError, ValueError) as error:
            raise type(error)(f"layer {their_name!r} of the source network: {error}") from None
        if new.num_dims != ours.num_dims or new.num_features != ours.num_features:
            raise ValueError(
                f"cannot load {theirs!r} (layer {their_name!r}) into {ours!r} (layer {name!r}): "
                f"expected BatchNorm({new.num_features}, num_dims={new.num_dims}); got "
                f"BatchNorm({ours.num_features}, num_dims={ours.num_dims})"
            )
        converted.append((new, ours))
    for new, ours in converted:
        ours.load_state_dict(new.state_dict())
        ours.eps, ours.momentum = new.eps, new.momentum
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
