r"""Folding batch normalization into the layer before it, for inference.

In evaluation mode a batch normalization layer is a fixed per-channel affine
map: it normalizes with its moving statistics, not with the batch's. When it
directly follows a convolution or a fully connected layer, that map can be
merged into the layer's weights and bias, and the normalization costs nothing
at inference (:func:`fold_batch_norm`). In training mode it cannot: the batch
statistics change with every batch, so the layer is not a fixed map of its
input.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from bnref.norm import BatchNorm

__all__ = ["fold_batch_norm"]


def fold_batch_norm(net: nn.Module) -> nn.Module:
    r"""A copy of ``net`` with each batch normalization folded into the layer before it.

    In evaluation mode a batch normalization after a layer with weight
    :math:`W` and bias :math:`b` computes, per output channel :math:`c`,

    .. math::

        y_c = \gamma_c\,\frac{W_c x + b_c - \hat\mu_c}{\sqrt{\hat\sigma^2_c + \epsilon}}
              + \beta_c = W'_c x + b'_c,\qquad
        W'_c = s_c W_c,\quad b'_c = s_c\,(b_c - \hat\mu_c) + \beta_c,\quad
        s_c = \frac{\gamma_c}{\sqrt{\hat\sigma^2_c + \epsilon}},

    with the moving mean :math:`\hat\mu` and variance :math:`\hat\sigma^2`.
    So the copy has :math:`W'` and :math:`b'` in the convolution or linear
    layer (a bias is created where it had none) and ``nn.Identity`` where the
    batch normalization was; in evaluation mode it computes the same function
    up to rounding, with one layer less per fold. Folded: :class:`bnref.BatchNorm`
    (``gamma``, ``beta``, ``moving_mean``, ``moving_var``, ``eps``) and
    ``nn.BatchNorm1d`` / ``nn.BatchNorm2d`` (``weight``, ``bias``,
    ``running_mean``, ``running_var``, ``eps``; ``affine=False`` is
    :math:`\gamma = 1, \beta = 0`, ``bias=False`` is :math:`\beta = 0`),
    each directly after an ``nn.Conv2d`` (4-D layers) or an ``nn.Linear``
    (2-D layers: ``num_dims=2``, ``BatchNorm1d`` on ``(N, C)`` input) inside
    an ``nn.Sequential``; nested ``nn.Sequential`` containers are read as the
    one chain of layers they run. Every other layer is copied unchanged.
    ``net`` itself is not modified.

    The arithmetic is that of ``torch.nn.utils.fusion.fuse_conv_bn_eval`` and
    ``fuse_linear_bn_eval``, in at least float32.

    Args:
        net: a network in evaluation mode (``net.eval()``), usually an
            ``nn.Sequential`` such as :func:`bnref.lenet_bn` or
            :func:`bnref.lenet_bn_concise`.

    Returns:
        The folded copy, in evaluation mode, on ``net``'s devices and dtypes.

    Raises:
        ValueError: when folding would change what the network computes: a
            module in training mode (the batch statistics are not fixed); a
            batch normalization without running statistics
            (``track_running_stats=False``), first in its chain, after a layer
            other than ``nn.Conv2d`` / ``nn.Linear``, of the wrong kind or
            size for that layer, or outside any ``nn.Sequential`` (the layer
            it normalizes is then unknown); a convolution or linear layer
            whose output also feeds something else (the same module used
            twice, or a forward hook that reads its output); or a batch
            normalization subclass or kind whose inference formula this
            function does not know (convert it to :class:`bnref.BatchNorm`
            or ``nn.BatchNorm2d`` first).

    Examples:
        >>> import torch, bnref
        >>> net = bnref.lenet_bn().eval()
        >>> folded = fold_batch_norm(net)
        >>> folded[0:3]
        Sequential(
          (0): Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1))
          (1): Identity()
          (2): Sigmoid()
        )
        >>> X = torch.rand(4, 1, 28, 28)
        >>> with torch.no_grad():
        ...     print(bool((folded(X) - net(X)).abs().max() < 1e-5))
        True
        >>> fold_batch_norm(net.train())
        Traceback (most recent call last):
            ...
        ValueError: fold_batch_norm folds the moving statistics, which only evaluation mode uses; ...
    """
    if not isinstance(net, nn.Module):
        raise TypeError(f"fold_batch_norm expects an nn.Module; got {type(net).__name__}")
    training = [name or type(net).__name__ for name, m in net.named_modules() if m.training]
    if training:
        raise ValueError(
            "fold_batch_norm folds the moving statistics, which only evaluation mode uses; "
            "in training mode batch normalization normalizes with each batch's statistics "
            "and is not a fixed map of its input. Call net.eval() first; got modules in "
            f"training mode: {_listing(training)}"
        )
    _check_known(net)
    folded = copy.deepcopy(net)
    uses = _uses(folded)
    folds = []
    for chain in _chains(folded):
        for i, (name, parent, key, module) in enumerate(chain):
            if not _is_batch_norm(module):
                continue
            if i == 0:
                raise ValueError(
                    f"cannot fold {type(module).__name__} {name!r}: it is the first layer of "
                    "its nn.Sequential, so the layer whose output it normalizes is unknown; "
                    "expected it directly after an nn.Conv2d or nn.Linear"
                )
            prev_name, _, _, prev = chain[i - 1]
            _check_pair(prev_name, prev, name, module, uses)
            folds.append((prev, module, parent, key))
    outside = [name for name, m in folded.named_modules()
               if _is_batch_norm(m) and not any(m is f[1] for f in folds)]
    if outside:
        raise ValueError(
            f"cannot fold {_listing(outside)}: not inside an nn.Sequential, so the layer whose "
            "output it normalizes is unknown; expected each batch normalization directly "
            "after an nn.Conv2d or nn.Linear in an nn.Sequential"
        )
    with torch.no_grad():
        for layer, bn, parent, key in folds:
            _fold_into(layer, bn)
            setattr(parent, key, nn.Identity())
    return folded


def _listing(names: list[str], limit: int = 6) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _is_batch_norm(module: nn.Module) -> bool:
    """A batch normalization this module folds (exact bnref.BatchNorm, nn.BatchNorm1d/2d)."""
    return type(module) is BatchNorm or isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d))


def _check_known(net: nn.Module) -> None:
    """Refuse batch normalizations whose inference formula is not known here."""
    for name, m in net.named_modules():
        if _is_batch_norm(m):
            continue
        if isinstance(m, (BatchNorm, nn.modules.batchnorm._BatchNorm)):
            raise ValueError(
                f"cannot fold {type(m).__name__} {name!r}: fold_batch_norm folds "
                "bnref.BatchNorm itself, nn.BatchNorm1d and nn.BatchNorm2d, whose inference "
                "formula it knows; a subclass or another kind may compute something else "
                "(bnref's fused layers include the activation). Replace it by one of those "
                "three first"
            )


def _chains(net: nn.Module):
    """Each maximal tree of ``nn.Sequential`` containers, flattened into the chain of layers
    it runs: ``(qualified name, parent Sequential, key in parent, module)``."""
    def flatten(seq: nn.Sequential, prefix: str):
        for key, child in seq._modules.items():
            name = f"{prefix}.{key}" if prefix else key
            if isinstance(child, nn.Sequential):
                yield from flatten(child, name)
            else:
                yield name, seq, key, child

    def walk(module: nn.Module, prefix: str):
        if isinstance(module, nn.Sequential):
            chain = list(flatten(module, prefix))
            yield chain
            for name, _, _, leaf in chain:
                yield from walk_children(leaf, name)
        else:
            yield from walk_children(module, prefix)

    def walk_children(module: nn.Module, prefix: str):
        for key, child in module._modules.items():
            if child is not None:
                yield from walk(child, f"{prefix}.{key}" if prefix else key)

    yield from walk(net, "")


def _uses(net: nn.Module) -> dict[int, list[str]]:
    """Every name under which each module appears (a module used twice has two)."""
    uses: dict[int, list[str]] = {}
    for name, m in net.named_modules(remove_duplicate=False):
        uses.setdefault(id(m), []).append(name)
    return uses


def _check_pair(layer_name: str, layer: nn.Module, bn_name: str, bn: nn.Module,
                uses: dict[int, list[str]]) -> None:
    """Raise a ``ValueError`` unless ``bn`` can be folded into ``layer``, the layer before it."""
    what = f"cannot fold {type(bn).__name__} {bn_name!r} into {type(layer).__name__} {layer_name!r}"
    if not isinstance(layer, (nn.Conv2d, nn.Linear)):
        raise ValueError(
            f"cannot fold {type(bn).__name__} {bn_name!r}: it follows {type(layer).__name__} "
            f"{layer_name!r}, not an nn.Conv2d or nn.Linear whose weights could absorb it"
        )
    if isinstance(bn, BatchNorm):
        bn_dims, features = bn.num_dims, bn.num_features
    else:
        if bn.running_mean is None or bn.running_var is None:
            raise ValueError(
                f"{what}: it has no running statistics (track_running_stats=False), so it "
                "normalizes with each batch's statistics in evaluation mode too and is not a "
                "fixed map of its input"
            )
        bn_dims, features = (2 if isinstance(bn, nn.BatchNorm1d) else 4), bn.num_features
    conv = isinstance(layer, nn.Conv2d)
    out = layer.out_channels if conv else layer.out_features
    if bn_dims != (4 if conv else 2) or features != out:
        expected = (f"a 4-D batch normalization (nn.BatchNorm2d or bnref.BatchNorm with "
                    f"num_dims=4) of {out} channels" if conv else
                    f"a 2-D batch normalization (nn.BatchNorm1d or bnref.BatchNorm with "
                    f"num_dims=2) of {out} features")
        raise ValueError(f"{what}: expected {expected}; got {bn!r}")
    for module, name in ((layer, layer_name), (bn, bn_name)):
        if len(uses[id(module)]) > 1:
            raise ValueError(
                f"{what}: the same {type(module).__name__} module is used at "
                f"{_listing(uses[id(module)])}, so its output feeds something else too, "
                "which folding would change"
            )
    for module, name in ((layer, layer_name), (bn, bn_name)):
        if module._forward_hooks or module._forward_pre_hooks:
            raise ValueError(
                f"{what}: {type(module).__name__} {name!r} has forward hooks, which read "
                "what it computes; its output would change (or the layer would vanish) "
                "when folded"
            )


def _fold_into(layer: nn.Conv2d | nn.Linear, bn: nn.Module) -> None:
    """Fold ``bn`` (evaluation mode) into ``layer``'s weight and bias, in place."""
    weight = layer.weight
    dtype = torch.promote_types(weight.dtype, torch.float32)
    if isinstance(bn, BatchNorm):
        gamma, beta, mean, var = bn.gamma, bn.beta, bn.moving_mean, bn.moving_var
    else:
        gamma, beta, mean, var = bn.weight, bn.bias, bn.running_mean, bn.running_var
    mean, var = mean.reshape(-1).to(dtype), var.reshape(-1).to(dtype)
    gamma = torch.ones_like(mean) if gamma is None else gamma.reshape(-1).to(dtype)
    beta = torch.zeros_like(mean) if beta is None else beta.reshape(-1).to(dtype)
    bias = torch.zeros_like(mean) if layer.bias is None else layer.bias.to(dtype)
    scale = gamma * torch.rsqrt(var + bn.eps)                          # s = gamma / sqrt(var + eps)
    shape = (-1,) + (1,) * (weight.dim() - 1)
    new_weight = (weight.to(dtype) * scale.reshape(shape)).to(weight.dtype)   # W' = s W
    new_bias = ((bias - mean) * scale + beta).to(weight.dtype)                # b' = s (b - mu) + beta
    layer.weight = nn.Parameter(new_weight, requires_grad=weight.requires_grad)
    layer.bias = nn.Parameter(new_bias, requires_grad=weight.requires_grad)
