"""Argument checks shared by the functional cores.

Each check raises with a message that says what was expected and what was
given, so that a wrong call fails loudly instead of broadcasting silently.
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "check_batch_norm_args", "check_floating", "check_eps", "check_momentum", "check_param",
]


def check_floating(X: torch.Tensor, name: str = "X") -> None:
    if not isinstance(X, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(X).__name__}")
    if not X.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point tensor (float16, bfloat16, float32 or "
            f"float64); got dtype {X.dtype}. Convert it first, e.g. {name}.float()"
        )


def check_eps(eps: float) -> None:
    if (isinstance(eps, bool) or not isinstance(eps, (int, float)) or not math.isfinite(eps)
            or eps <= 0):
        raise ValueError(f"eps must be a finite number > 0; got eps={eps!r}")


def check_momentum(momentum: float) -> None:
    if (isinstance(momentum, bool) or not isinstance(momentum, (int, float))
            or not 0.0 <= momentum <= 1.0):
        raise ValueError(
            "momentum must be a number in [0, 1] (the note's convention, as in the Chinese "
            "edition of d2l: the weight of the old moving statistic, e.g. 0.9; PyTorch's "
            "momentum=0.1, used by English d2l from 1.0 on, is this convention's 0.9); "
            f"got momentum={momentum!r}"
        )


def check_param(
    t: torch.Tensor, name: str, num: int, shapes: tuple[tuple[int, ...], ...], X: torch.Tensor
) -> None:
    """``t`` must be a tensor with ``num`` elements in one of ``shapes``, on X's device."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(t).__name__}")
    if tuple(t.shape) not in shapes:
        allowed = " or ".join(str(s) for s in shapes)
        raise ValueError(
            f"{name} must have shape {allowed} to match X of shape {tuple(X.shape)}; "
            f"got shape {tuple(t.shape)}"
        )
    if t.device != X.device:
        raise RuntimeError(
            f"{name} is on {t.device} but X is on {X.device}; move them to one device, "
            f"e.g. module.to(X.device)"
        )


def check_batch_norm_args(
    X: torch.Tensor,
    gamma: torch.Tensor,
    beta: torch.Tensor,
    moving_mean: torch.Tensor,
    moving_var: torch.Tensor,
    eps: float,
    momentum: float,
    training: bool,
) -> tuple[int, ...]:
    """Validate :func:`bnref.batch_norm`'s arguments; return the broadcast shape."""
    check_floating(X)
    if X.dim() not in (2, 4):
        raise ValueError(
            "batch_norm expects a 2-D input (N, C) after a fully connected layer or a "
            f"4-D input (N, C, H, W) after a convolution; got shape {tuple(X.shape)} "
            f"({X.dim()} dimensions)"
        )
    if X.numel() == 0:
        raise ValueError(
            "batch_norm expects at least one value per channel; got an empty input of "
            f"shape {tuple(X.shape)}"
        )
    C = X.shape[1]
    shape = (1, C) if X.dim() == 2 else (1, C, 1, 1)
    for name, t in (("gamma", gamma), ("beta", beta),
                    ("moving_mean", moving_mean), ("moving_var", moving_var)):
        check_param(t, name, C, ((C,), shape), X)
    check_eps(eps)
    check_momentum(momentum)
    if training:
        per_channel = X.numel() // C
        if per_channel == 1:
            raise ValueError(
                "batch_norm in training needs more than one value per channel to compute "
                f"a variance; got input of shape {tuple(X.shape)} (N*H*W = 1). Use a "
                "larger batch, or evaluation mode (training=False)"
            )
    return shape
