r"""Batch normalization under ``torch.compile``: the readable formula, and the fast one.

Eager PyTorch runs :func:`bnref.batch_norm` one operation at a time: every
line that produces a tensor as large as the input (``x - mean``, its square,
the product with the scale, the sum with the shift) is a separate pass over
memory, and autograd adds about as many in the backward pass. The formula

.. math::

    y = \gamma\,\frac{x-\hat\mu}{\sqrt{\hat\sigma^2+\epsilon}} + \beta

needs far fewer: one or two passes to reduce the statistics, one to write
``y``. ``torch.compile`` finds them without a line of the source changing.
TorchDynamo captures the Python function as a graph, AOTAutograd derives the
backward graph from it, and TorchInductor fuses each graph's elementwise
operations and reductions into a few loops: C++ with OpenMP and vector
instructions on the CPU (so a C++ compiler must be installed), Triton kernels
on a GPU. The intermediates never reach memory.

The price is the first call: a few seconds of compilation per input shape
and mode (training or evaluation, with or without gradients), cached by
PyTorch for later calls and, on disk, for later processes. The generated code
can be read with ``TORCH_LOGS=output_code``.

:func:`batch_norm` checks its arguments eagerly, with the messages of
:func:`bnref.batch_norm`, before calling the compiled function.

:func:`fast_batch_norm` compiles :func:`bnref.speed.fast.batch_norm` instead: the
single-pass statistics and the analytic backward. The compiler captures the
custom ``autograd.Function`` whole and fuses its forward and its hand-written
backward into one kernel each. On the CPU the forward then reads ``x`` twice
(:math:`\sum x` and :math:`\sum x^2` in one loop, then again to write
``y``) and the backward reads ``dy`` and ``x`` twice (:math:`\sum dy` and
:math:`\sum dy\,x` in one loop, then again to write ``dx``). The compiled
code does not walk the batch in slices as the eager fast variant does: its
fused loops keep each value in registers between the steps of the formula.
It keeps the precision of :mod:`bnref.speed.fast`
(:math:`\overline{x^2}-\hat\mu^2` loses digits when the mean is large next to
the standard deviation).
"""

from __future__ import annotations

import functools

import torch

from bnref.norm._checks import check_batch_norm_args
from bnref.norm._moving import resolve_training
from bnref.norm.batch_norm import BatchNorm
from bnref.norm.batch_norm import batch_norm as readable_batch_norm
from bnref.speed import fast

__all__ = ["batch_norm", "CompiledBatchNorm", "fast_batch_norm", "CompiledFastBatchNorm"]


@functools.cache
def _compiled(function):
    # Compiled on first use, so that importing bnref never starts the compiler.
    return torch.compile(function)


def _checked_call(function, X, gamma, beta, moving_mean, moving_var, eps, momentum, training):
    """Check the arguments eagerly (the readable version's messages), then run ``function`` compiled."""
    training = resolve_training(training)
    check_batch_norm_args(X, gamma, beta, moving_mean, moving_var, eps, momentum, training)
    return _compiled(function)(X, gamma, beta, moving_mean, moving_var, eps, momentum,
                               training=training)


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
    r""":func:`bnref.batch_norm`, compiled by ``torch.compile`` on first use.

    .. math::

        y = \gamma\,\frac{x-\hat\mu}{\sqrt{\hat\sigma^2+\epsilon}} + \beta,\qquad
        \text{moving} \leftarrow m\cdot\text{moving} + (1-m)\cdot\text{batch statistic}

    Same arguments, checks and return value ``(Y, moving_mean, moving_var)``
    as :func:`bnref.batch_norm`; the same source, run as fused kernels.

    Examples:
        >>> import torch
        >>> import bnref
        >>> X = torch.randn(8, 3, 5, 5, dtype=torch.float64)
        >>> ones, zeros = torch.ones(3, dtype=X.dtype), torch.zeros(3, dtype=X.dtype)
        >>> Y, mean, var = batch_norm(X, ones, zeros, zeros, ones, eps=1e-5, momentum=0.9,
        ...                            training=True)
        >>> Y1, mean1, var1 = bnref.batch_norm(X, ones, zeros, zeros, ones, eps=1e-5,
        ...                                    momentum=0.9, training=True)
        >>> torch.allclose(Y, Y1), torch.allclose(mean, mean1), torch.allclose(var, var1)
        (True, True, True)
    """
    return _checked_call(readable_batch_norm, X, gamma, beta, moving_mean, moving_var,
                         eps, momentum, training)


class CompiledBatchNorm(BatchNorm):
    """:class:`bnref.BatchNorm` whose arithmetic is :func:`bnref.speed.compiled.batch_norm`.

    Same parameters, buffers, ``state_dict`` keys and checks.

    Examples:
        >>> import torch
        >>> bn = CompiledBatchNorm(3, num_dims=4)
        >>> bn(torch.randn(8, 3, 5, 5)).shape
        torch.Size([8, 3, 5, 5])
    """

    function = staticmethod(batch_norm)


def fast_batch_norm(
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
    r""":func:`bnref.speed.fast.batch_norm`, compiled by ``torch.compile`` on first use.

    Single-pass statistics and the analytic backward, each fused into loops
    by the compiler:

    .. math::

        \hat\mu = \tfrac1M\textstyle\sum x,\quad
        \hat\sigma^2 = \tfrac1M\sum x^2 - \hat\mu^2,\qquad
        dx = \frac{\gamma}{\sigma}\Big(dy - \overline{dy}
             - \hat x\,\overline{dy\,\hat x}\Big)

    Same arguments, checks and return value ``(Y, moving_mean, moving_var)``
    as :func:`bnref.batch_norm`.

    Examples:
        >>> import torch
        >>> import bnref
        >>> X = torch.randn(8, 3, 5, 5, dtype=torch.float64)
        >>> ones, zeros = torch.ones(3, dtype=X.dtype), torch.zeros(3, dtype=X.dtype)
        >>> Y, mean, var = fast_batch_norm(X, ones, zeros, zeros, ones, eps=1e-5, momentum=0.9,
        ...                                 training=True)
        >>> Y1, mean1, var1 = bnref.batch_norm(X, ones, zeros, zeros, ones, eps=1e-5,
        ...                                    momentum=0.9, training=True)
        >>> torch.allclose(Y, Y1), torch.allclose(mean, mean1), torch.allclose(var, var1)
        (True, True, True)
    """
    return _checked_call(fast.batch_norm, X, gamma, beta, moving_mean, moving_var,
                         eps, momentum, training)


class CompiledFastBatchNorm(BatchNorm):
    """:class:`bnref.BatchNorm` whose arithmetic is :func:`bnref.speed.compiled.fast_batch_norm`.

    Same parameters, buffers, ``state_dict`` keys and checks.

    Examples:
        >>> import torch
        >>> bn = CompiledFastBatchNorm(3, num_dims=4)
        >>> bn(torch.randn(8, 3, 5, 5)).shape
        torch.Size([8, 3, 5, 5])
    """

    function = staticmethod(fast_batch_norm)
