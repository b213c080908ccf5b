"""The two rules every batch normalization in bnref shares: which mode, and the moving average.

Each implementation (the reference :func:`bnref.batch_norm`, SyncBatchNorm,
and every faster form in :mod:`bnref.speed`) calls these two functions, so
that they cannot drift apart: the same mode for ``training=None`` and, bit
for bit, the same moving statistics whatever the buffers' dtype.
"""

from __future__ import annotations

import torch

__all__ = ["resolve_training", "moving_average"]


def resolve_training(training: bool | None) -> bool:
    """``training``, or, when it is ``None``, the note's rule: train exactly when
    gradients are being recorded (``torch.is_grad_enabled()``)."""
    return torch.is_grad_enabled() if training is None else bool(training)


def moving_average(moving: torch.Tensor, batch_stat: torch.Tensor, momentum: float) -> torch.Tensor:
    r"""``momentum * moving + (1 - momentum) * batch_stat`` in the note's convention
    (momentum weighs the old value, as in the Chinese edition of d2l).

    .. math::

        \text{moving} \leftarrow m\cdot\text{moving} + (1-m)\cdot\text{batch statistic}

    ``batch_stat`` may have any shape with ``moving``'s number of elements.
    The sum is computed in at least float32 (so half-precision buffers are
    rounded once, at the end) and returned detached, in ``moving``'s dtype
    and shape.

    Examples:
        >>> import torch
        >>> moving_average(torch.zeros(2), torch.tensor([1.0, 2.0]), momentum=0.9)
        tensor([0.1000, 0.2000])
    """
    dtype = torch.promote_types(torch.promote_types(moving.dtype, batch_stat.dtype), torch.float32)
    with torch.no_grad():
        new = momentum * moving.to(dtype) + (1.0 - momentum) * batch_stat.to(dtype).view(moving.shape)
    return new.to(moving.dtype).detach()
