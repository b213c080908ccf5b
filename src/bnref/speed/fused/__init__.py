r"""Batch normalization fused with the sigmoid and the 2×2 max pooling that follow it,
and batch normalization alone, as C++ kernels.

In LeNet-BN every batch normalization is followed by a sigmoid, and after a
convolution by a 2×2 max pooling too. Run as three layers, they write three
tensors (:math:`y`, :math:`\sigma(y)`, the pooled values and their positions)
and the backward pass writes three more, each a separate pass over memory
and a separate operation to launch. This module computes each run of layers
in one C++ kernel forward and one backward (``fused.cpp`` beside this file, built on first use
with ``torch.utils.cpp_extension``).

**Forward, training**, per channel, over its :math:`M` values: the batch
mean and variance from one pass of shifted sums (:math:`d = x - K`, with
:math:`K` the channel's first value, so that what cancels in
:math:`\overline{d^2}-\bar d^{\,2}` is :math:`\hat\mu-K`, not the mean),
then :math:`a = \gamma/\sqrt{\hat\sigma^2+\epsilon}`, :math:`b = \beta - a\hat\mu` and

.. math::

    \text{(N, C, H, W):}\quad
    \text{out}_{ij} = \sigma\Big(\max_{(p,q)\in\text{window}_{ij}} (a\,x_{pq} + b)\Big),
    \qquad
    \text{(N, C):}\quad \text{out} = \sigma(a\,x + b) .

The sigmoid is increasing, so pooling before it gives the values of pooling
after it, and only a quarter of the values go through it. The kernel writes
the pooled output, per window which of its four positions held the maximum
(one byte), chosen by ``nn.MaxPool2d``'s rule (the first maximum in
row-major order; a NaN wins), and the input :math:`x` at that position. The
normalized :math:`a x + b` never reaches memory.

**Backward**, with :math:`s` the saved output,
:math:`dz = \partial\ell/\partial\text{out}\cdot s(1-s)` at the window's
maximum and :math:`0` at its other three positions (for (N, C): everywhere),
:math:`\hat x = (x-\hat\mu)/\sqrt{\hat\sigma^2+\epsilon}`:

.. math::

    \frac{\partial\ell}{\partial\gamma} = \sum dz\,\hat x,\qquad
    \frac{\partial\ell}{\partial\beta} = \sum dz,\qquad
    \frac{\partial\ell}{\partial x} = a\Big(dz - \frac{1}{M}\sum dz
        - \frac{\hat x}{M}\sum dz\,\hat x\Big),

one pass for the two sums (over the saved inputs at the maxima, a quarter of
the values) and one that writes
:math:`\partial\ell/\partial x = a\,dz + B x + C` with per-channel :math:`B, C`.
In evaluation mode the statistics are constants and
:math:`\partial\ell/\partial x = a\,dz`.

**Batch normalization alone** (:func:`batch_norm`, :class:`FusedBatchNorm`)
is the same computation with no layer after it: :math:`y = a x + b`
forward, :math:`\partial\ell/\partial x = a\,dy + Bx + C` backward, for
``(N, C)`` and ``(N, C, H, W)`` input. Each direction reads its inputs twice
(the sums, then the output) and writes one full-size tensor.

:class:`BatchNormSigmoidMaxPool2x2` and :class:`BatchNormSigmoid` are
:class:`bnref.BatchNorm` layers (same parameters, buffers, ``state_dict``
keys, checks and d2l momentum) whose forward includes the layers after them;
:func:`with_fused_layers` swaps them into a network and leaves
``nn.Identity`` in the places of the layers they absorbed, so that indices
such as ``net[1].gamma`` keep working. The kernels run on the CPU in float32
and float64 (half precision is computed in float32). On other devices, under
``torch.compile`` and for odd heights or widths, the same layers compute
``bnref.speed.fast.batch_norm``, ``torch.sigmoid`` and ``F.max_pool2d`` one after
the other.

The first use on a machine compiles ``fused.cpp`` (about 15 s; a C++
compiler, ``ninja`` and Python's headers are needed, and ``bash .ci/setup``
installs them) with the instruction set PyTorch uses on that CPU; later
processes load the cached library from ``TORCH_EXTENSIONS_DIR`` (default
``~/.cache/torch_extensions``).
"""

from __future__ import annotations

import torch

from bnref.norm._checks import check_batch_norm_args
from bnref.norm._moving import resolve_training
from bnref.norm.batch_norm import BatchNorm
from bnref.speed import fast
from bnref.speed.fused.kernel import SOURCE, _BatchNorm, _fused, _uses_kernel, load
from bnref.speed.fused.layers import (
    BatchNormSigmoid, BatchNormSigmoidMaxPool2x2, batch_norm_sigmoid,
    batch_norm_sigmoid_max_pool2x2, with_fused_layers,
)

__all__ = ["BatchNormSigmoid", "BatchNormSigmoidMaxPool2x2", "FusedBatchNorm", "batch_norm",
           "batch_norm_sigmoid", "batch_norm_sigmoid_max_pool2x2", "load", "with_fused_layers",
           "SOURCE"]

def batch_norm(
    X: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, moving_mean: torch.Tensor,
    moving_var: torch.Tensor, eps: float, momentum: float, *, training: bool | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""Batch normalization alone, ``(N, C)`` or ``(N, C, H, W)``, in one C++ kernel each way.

    .. math::

        y = a\,x + b,\qquad a = \frac{\gamma}{\sqrt{\hat\sigma^2+\epsilon}},\quad
        b = \beta - a\hat\mu

    The statistics come from one pass of shifted sums, the output from a
    second pass; the backward pass reads ``dY`` and ``X`` once for its two
    sums and once more to write ``dX``. Arguments, checks, conventions and
    return value as :func:`bnref.batch_norm`. On other devices and under
    ``torch.compile`` it computes :func:`bnref.speed.fast.batch_norm`. The backward
    cannot itself be differentiated (``once_differentiable``).

    Examples:
        >>> import torch
        >>> from bnref import batch_norm as readable
        >>> X = torch.randn(8, 3, 5, 5)
        >>> g, b, m, v = torch.ones(3), torch.zeros(3), torch.zeros(3), torch.ones(3)
        >>> Y, m2, v2 = batch_norm(X, g, b, m, v, 1e-5, 0.9, training=True)
        >>> Y1, m1, v1 = readable(X, g, b, m, v, 1e-5, 0.9, training=True)
        >>> torch.allclose(Y, Y1, atol=1e-5), torch.allclose(m2, m1), torch.allclose(v2, v1)
        (True, True, True)
    """
    training = resolve_training(training)
    check_batch_norm_args(X, gamma, beta, moving_mean, moving_var, eps, momentum, training)
    if not _uses_kernel(X, pool=False):
        return fast.batch_norm(X, gamma, beta, moving_mean, moving_var, eps, momentum,
                               training=training)
    return _fused(_BatchNorm, X, gamma, beta, moving_mean, moving_var, eps, momentum, training)


class FusedBatchNorm(BatchNorm):
    """A drop-in :class:`bnref.BatchNorm` whose forward is :func:`batch_norm` (the C++ kernels).

    Examples:
        >>> bn = FusedBatchNorm(6, num_dims=4)
        >>> bn(torch.randn(4, 6, 10, 10)).shape, sorted(bn.state_dict())
        (torch.Size([4, 6, 10, 10]), ['beta', 'gamma', 'moving_mean', 'moving_var'])
    """

    function = staticmethod(batch_norm)
