"""bnref's fast training path: LeNet-BN assembled from the faster layers of this room.

A setting is ``(data path, BatchNorm, first convolution, max pooling)``. The
fast path (:data:`FAST_PATH`) holds the data as tensors on the device
(:class:`bnref.d2l.data.TensorLoader`), fuses each BatchNorm with the
sigmoid and pooling after it (:mod:`bnref.speed.fused`), and picks the first
convolution by instruction set. ``python -m bnref throughput`` times it
against the note's own setup; the experiments train on it to be cheap.
"""

from __future__ import annotations

import torch

from bnref.models import lenet_bn_with
from bnref.speed.conv import with_one_channel_conv
from bnref.speed.pool import with_max_pool2x2

__all__ = ["FIRST_CONVS", "POOLS", "fast_path", "FAST_PATH", "lenet_bn_setting"]

#: the first convolutions the fast path chooses from: ``nn.Conv2d`` as the note
#: builds it, or :class:`bnref.speed.conv.OneChannelConv2d` (the same layer,
#: whose weight gradient oneDNN computes without padding one channel to eight)
FIRST_CONVS = ("torch", "one_channel")

#: the max poolings the fast path chooses from: ``nn.MaxPool2d(2, 2)`` as the note
#: builds it, :class:`bnref.speed.pool.MaxPool2x2` (the same values, indices
#: and gradients, from vectorized elementwise operations), or ``"fused"``: the
#: pooling computed inside the ``"fused"`` BatchNorm layer before it
#: (:class:`bnref.speed.fused.BatchNormSigmoidMaxPool2x2`), which goes with it only
POOLS = ("torch", "2x2", "fused")


def fast_path(cpu_capability: str | None = None) -> tuple[str, str, str, str]:
    """bnref's fast training path: the data as tensors, the fused BatchNorm layers, and the
    first convolution that is faster on a CPU with this vector instruction set (default:
    this machine's, as ``torch.backends.cpu.get_cpu_capability()`` names it).

    :class:`bnref.speed.conv.OneChannelConv2d` avoids oneDNN's padding of one
    input channel to a block of 8, which its AVX2 kernels do; with AVX-512
    oneDNN picks other kernels and ``nn.Conv2d`` is as fast or faster. The
    timings behind this rule are on the performance page ("the first
    convolution"), from ``python -m bnref throughput``.

    Examples:
        >>> fast_path("AVX2"), fast_path("AVX512")
        (('fast', 'fused', 'one_channel', 'fused'), ('fast', 'fused', 'torch', 'fused'))
    """
    if cpu_capability is None:
        cpu_capability = torch.backends.cpu.get_cpu_capability()
    return "fast", "fused", "one_channel" if cpu_capability == "AVX2" else "torch", "fused"


#: :func:`fast_path` on this machine
FAST_PATH = fast_path()


def lenet_bn_setting(bn: str, first_conv: str, pool: str = "torch") -> torch.nn.Sequential:
    """LeNet-BN with BatchNorm implementation ``bn`` (:data:`bnref.models.BN_IMPLS`),
    first convolution ``first_conv`` (:data:`FIRST_CONVS`) and max poolings ``pool``
    (:data:`POOLS`). ``lenet_bn_setting(*FAST_PATH[1:])`` is the fast training path."""

    if first_conv not in FIRST_CONVS:
        raise ValueError(f"first_conv must be one of {', '.join(FIRST_CONVS)}; got {first_conv!r}")
    if pool not in POOLS:
        raise ValueError(f"pool must be one of {', '.join(POOLS)}; got {pool!r}")
    if (bn == "fused") != (pool == "fused"):
        raise ValueError(f"the fused BatchNorm layer computes the pooling after it: BatchNorm "
                         f"'fused' goes with pool 'fused' and only with it; got BatchNorm {bn!r} "
                         f"and pool {pool!r}")
    net = lenet_bn_with(bn)
    if first_conv == "one_channel":
        net = with_one_channel_conv(net)
    return with_max_pool2x2(net) if pool == "2x2" else net
