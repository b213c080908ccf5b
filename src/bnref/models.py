"""The three LeNet variants of the note, each an ``nn.Sequential``.

* :func:`lenet` — the original LeNet of d2l chapter 6 (padding 2 on the first
  convolution, average pooling, sigmoid), the note's baseline.
* :func:`lenet_bn` — the note's LeNet with the from-scratch
  :class:`bnref.BatchNorm` after every convolution and hidden linear layer,
  before the activation (max pooling and no padding, as the note writes it).
* :func:`lenet_bn_concise` — the same network with ``nn.BatchNorm2d`` /
  ``nn.BatchNorm1d`` (the note's "concise implementation").

* :func:`lenet_bn_with` — :func:`lenet_bn` with another implementation of
  the same BatchNorm layer (the note's verbatim class, the fast or compiled
  one, or PyTorch's), for timing them against each other.
* :func:`lenet_norm` — the same network as :func:`lenet_bn` with a chosen
  member of the family (``"bn"``, ``"ln"``, ``"in"``, ``"gn"``) after each
  convolution, for the small-batch experiment.

All take ``(N, 1, 28, 28)`` Fashion-MNIST images and return 10 logits.
Because they are ``nn.Sequential``, ``net[1].gamma`` reaches the first
BatchNorm layer's scale, as in the note.
"""

from __future__ import annotations

import torch
from torch import nn

from bnref.norm import BatchNorm, GroupNorm, InstanceNorm, LayerNorm

__all__ = ["lenet", "lenet_bn", "lenet_bn_concise", "lenet_bn_with", "lenet_norm", "lenet_variant",
           "ReproducibleDropout", "BN_IMPLS", "NORM_KINDS"]

#: the kinds :func:`lenet_norm` accepts, with their long names
NORM_KINDS = {"bn": "BatchNorm", "ln": "LayerNorm", "in": "InstanceNorm", "gn": "GroupNorm"}


def lenet() -> nn.Sequential:
    """The original LeNet-5 as d2l builds it (no batch normalization)."""
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.Sigmoid(),
        nn.Linear(84, 10))


def lenet_bn() -> nn.Sequential:
    """The note's LeNet with the from-scratch :class:`~bnref.BatchNorm`."""
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5), BatchNorm(6, num_dims=4),
        nn.Sigmoid(), nn.MaxPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), BatchNorm(16, num_dims=4),
        nn.Sigmoid(), nn.MaxPool2d(kernel_size=2, stride=2),
        nn.Flatten(), nn.Linear(16 * 4 * 4, 120),
        BatchNorm(120, num_dims=2), nn.Sigmoid(),
        nn.Linear(120, 84), BatchNorm(84, num_dims=2),
        nn.Sigmoid(), nn.Linear(84, 10))


def lenet_bn_concise() -> nn.Sequential:
    """The note's concise LeNet with ``nn.BatchNorm2d`` / ``nn.BatchNorm1d``."""
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5), nn.BatchNorm2d(6),
        nn.Sigmoid(), nn.MaxPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.BatchNorm2d(16),
        nn.Sigmoid(), nn.MaxPool2d(kernel_size=2, stride=2),
        nn.Flatten(), nn.Linear(16 * 4 * 4, 120),
        nn.BatchNorm1d(120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.BatchNorm1d(84),
        nn.Sigmoid(), nn.Linear(84, 10))


#: the BatchNorm implementations :func:`lenet_bn_with` accepts
BN_IMPLS = ("note", "bnref", "fast", "compiled", "compiled_fast", "fused", "torch")


def lenet_bn_with(impl: str) -> nn.Sequential:
    """:func:`lenet_bn` whose four BatchNorm layers come from implementation ``impl``.

    ``"note"``: the note's verbatim class (:mod:`bnref.note`); ``"bnref"``:
    :class:`bnref.BatchNorm` (this is :func:`lenet_bn`); ``"fast"``,
    ``"compiled"``, ``"compiled_fast"``: the layer of that name in
    :data:`bnref.speed.IMPLEMENTATIONS`; ``"fused"``: each BatchNorm
    with the sigmoid (and the max pooling) after it as one layer,
    :func:`bnref.speed.fused.with_fused_layers` (the places of the absorbed layers
    hold ``nn.Identity``); ``"torch"``: ``nn.BatchNorm2d`` and
    ``nn.BatchNorm1d`` (this is :func:`lenet_bn_concise`). Everything else is
    the same network, so the implementations can be timed against each other.

    Examples:
        >>> print(*(type(lenet_bn_with(impl)[1]).__name__ for impl in BN_IMPLS))
        BatchNorm BatchNorm FastBatchNorm CompiledBatchNorm CompiledFastBatchNorm BatchNormSigmoidMaxPool2x2 BatchNorm2d
    """
    if impl not in BN_IMPLS:
        raise ValueError(f"impl must be one of {', '.join(BN_IMPLS)}; got {impl!r}")
    if impl == "torch":
        return lenet_bn_concise()
    net = lenet_bn()
    if impl == "bnref":
        return net
    # lazy: `import bnref` loads no speed code (tests/test_layout.py); only a faster form asked
    # for here imports it
    if impl == "fused":
        from bnref.speed.fused import with_fused_layers  # lazy: see above

        return with_fused_layers(net)
    if impl == "note":
        from bnref.note import BatchNorm as layer  # lazy: the note's verbatim code, rarely used
    else:
        from bnref.speed import get  # lazy: see above

        layer = get(impl).load()[1]
    for i, module in enumerate(net):
        if isinstance(module, BatchNorm):
            net[i] = layer(module.num_features, num_dims=module.num_dims)
    return net


def _conv_norm(kind: str, channels: int, size: int) -> nn.Module:
    """The normalization after a convolution with ``channels`` maps of ``size x size``."""
    if kind == "bn":
        return BatchNorm(channels, num_dims=4)
    if kind == "ln":
        return LayerNorm((channels, size, size))
    if kind == "in":
        return InstanceNorm(channels)
    # GroupNorm: groups of 3 channels for conv1 (6 -> 2 groups), 4 for conv2 (16 -> 4).
    return GroupNorm(2 if channels == 6 else 4, channels)


def _linear_norm(kind: str, features: int) -> nn.Module:
    """The normalization after a hidden fully connected layer with ``features`` outputs."""
    if kind == "bn":
        return BatchNorm(features, num_dims=2)
    if kind == "gn":
        return GroupNorm(4, features)  # 120 -> 4 groups of 30, 84 -> 4 groups of 21
    # A vector has one value per channel, so instance normalization of it is
    # undefined (it would return beta); LN and IN both use LayerNorm here.
    return LayerNorm(features)


def lenet_norm(kind: str) -> nn.Sequential:
    """:func:`lenet_bn` with ``kind`` in ``{"bn", "ln", "in", "gn"}`` as its normalization.

    The layout is the note's (normalization before each sigmoid). After the two
    convolutions ``kind`` picks :class:`~bnref.BatchNorm`,
    :class:`~bnref.LayerNorm` over ``(C, H, W)``, :class:`~bnref.InstanceNorm`,
    or :class:`~bnref.GroupNorm` (2 groups of 3 channels, then 4 groups of 4).
    After the two hidden linear layers: BatchNorm for ``"bn"``, GroupNorm with 4
    groups for ``"gn"``, and LayerNorm for ``"ln"`` and ``"in"`` (instance
    normalization of a vector is undefined: one value per channel). Only
    ``"bn"`` uses statistics across the batch.

    Examples:
        >>> import torch
        >>> net = lenet_norm("gn")
        >>> net(torch.randn(2, 1, 28, 28)).shape, type(net[1]).__name__
        (torch.Size([2, 10]), 'GroupNorm')
    """
    if kind not in NORM_KINDS:
        raise ValueError(f"kind must be one of {sorted(NORM_KINDS)}; got {kind!r}")
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5), _conv_norm(kind, 6, 24),
        nn.Sigmoid(), nn.MaxPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), _conv_norm(kind, 16, 8),
        nn.Sigmoid(), nn.MaxPool2d(kernel_size=2, stride=2),
        nn.Flatten(), nn.Linear(16 * 4 * 4, 120),
        _linear_norm(kind, 120), nn.Sigmoid(),
        nn.Linear(120, 84), _linear_norm(kind, 84),
        nn.Sigmoid(), nn.Linear(84, 10))


#: what :func:`lenet_variant` can change, one thing at a time
ACTIVATIONS = {"sigmoid": nn.Sigmoid, "relu": nn.ReLU}
PLACEMENTS = ("before", "after")
BN_AT = ("all", "conv", "fc", "none")
DROPOUT_AT = ("hidden", "classifier")


class ReproducibleDropout(nn.Dropout):
    """``nn.Dropout`` whose masks depend on the seed only, not on which CPU draws them.

    On the CPU, ``nn.Dropout`` draws its mask with ``bernoulli_(1 - p)``, and a PyTorch
    built with MKL draws it with MKL's generator on Intel CPUs and with its own on every
    other CPU (``bernoulli_scalar_kernel`` in ``aten/src/ATen/native/cpu/DistributionKernels.cpp``):
    the same seed gives one mask on an Intel CPU and another on an AMD one. This layer
    keeps an element where ``torch.rand(..., dtype=torch.float64) < 1 - p``: PyTorch's own
    generator, one float64 draw per element in order, on every CPU. That is the draw and the
    comparison of PyTorch's own path, so on a CPU that is not Intel's the masks, outputs and
    gradients are ``nn.Dropout``'s bit for bit (``tests/norm/test_dropout_layer.py``). Kept elements are
    scaled by ``1 / (1 - p)``, as ``nn.Dropout`` scales them; in evaluation mode it does
    nothing. On a GPU the masks are valid but not ``nn.Dropout``'s.

    Examples:
        >>> import torch
        >>> drop = ReproducibleDropout(0.5)
        >>> _ = torch.manual_seed(0)
        >>> drop(torch.ones(8))
        tensor([0., 0., 2., 0., 0., 0., 2., 2.])
        >>> drop.eval()(torch.ones(3))
        tensor([1., 1., 1.])
    """

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return X
        if self.p == 1:
            return X.mul_(0) if self.inplace else X * 0
        keep = torch.rand(X.shape, dtype=torch.float64, device=X.device) < 1 - self.p
        noise = keep.to(X.dtype).div_(1 - self.p)
        return X.mul_(noise) if self.inplace else X * noise


def lenet_variant(*, bn: str = "all", activation: str = "sigmoid", placement: str = "before",
                  dropout: float = 0.0, dropout_at: str = "hidden",
                  norm_layer=None) -> nn.Sequential:
    """The note's LeNet-BN with one thing changed: for controlled experiments.

    Everything not named here is :func:`lenet_bn`'s: two 5×5 convolutions
    without padding, 2×2 max pooling, linear layers 256→120→84→10. With the
    defaults it *is* :func:`lenet_bn` (same layers, same order).

    Args:
        bn: where batch normalization goes: ``"all"`` (after both convolutions
            and both hidden linear layers), ``"conv"`` (after the convolutions
            only), ``"fc"`` (after the hidden linear layers only) or ``"none"``
            (removed; nothing else changes, so the network without BN differs
            from the one with it in nothing but BN).
        activation: ``"sigmoid"`` (the note's) or ``"relu"``.
        placement: ``"before"`` the activation (the note's: conv → BN →
            activation) or ``"after"`` it (conv → activation → BN).
        dropout: the probability of dropout (0: none), drawn by
            :class:`ReproducibleDropout` (the same masks on every CPU).
        dropout_at: ``"hidden"``: before each hidden linear layer (they feed
            BN); ``"classifier"``: before the last linear layer only.
        norm_layer: the batch-normalization class, called as
            ``norm_layer(C, num_dims=2|4)`` (default :class:`bnref.BatchNorm`;
            any registered faster layer of :mod:`bnref.speed` computes the same).

    Examples:
        >>> import torch
        >>> [type(m).__name__ for m in lenet_variant(bn="none", activation="relu")[:3]]
        ['Conv2d', 'ReLU', 'MaxPool2d']
        >>> [type(m).__name__ for m in lenet_variant(placement="after")[:4]]
        ['Conv2d', 'Sigmoid', 'BatchNorm', 'MaxPool2d']
        >>> lenet_variant(dropout=0.5)(torch.randn(2, 1, 28, 28)).shape
        torch.Size([2, 10])
    """
    if bn not in BN_AT:
        raise ValueError(f"bn must be one of {', '.join(BN_AT)}; got {bn!r}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}; "
                         f"got {activation!r}")
    if placement not in PLACEMENTS:
        raise ValueError(f"placement must be one of {', '.join(PLACEMENTS)}; got {placement!r}")
    if dropout_at not in DROPOUT_AT:
        raise ValueError(f"dropout_at must be one of {', '.join(DROPOUT_AT)}; "
                         f"got {dropout_at!r}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be a probability in [0, 1); got {dropout!r}")
    norm_layer = norm_layer or BatchNorm
    act = ACTIVATIONS[activation]

    def block(layer, channels, num_dims, normalized):
        """layer → BN → activation, or layer → activation → BN; without BN: layer → activation."""
        if not normalized:
            return [layer, act()]
        bn_layer = norm_layer(channels, num_dims=num_dims)
        return [layer, bn_layer, act()] if placement == "before" else [layer, act(), bn_layer]

    def drop(where):
        return [ReproducibleDropout(dropout)] if dropout and dropout_at == where else []

    conv_bn, fc_bn = bn in ("all", "conv"), bn in ("all", "fc")
    return nn.Sequential(
        *block(nn.Conv2d(1, 6, kernel_size=5), 6, 4, conv_bn),
        nn.MaxPool2d(kernel_size=2, stride=2),
        *block(nn.Conv2d(6, 16, kernel_size=5), 16, 4, conv_bn),
        nn.MaxPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        *drop("hidden"), *block(nn.Linear(16 * 4 * 4, 120), 120, 2, fc_bn),
        *drop("hidden"), *block(nn.Linear(120, 84), 84, 2, fc_bn),
        *drop("classifier"), nn.Linear(84, 10))
