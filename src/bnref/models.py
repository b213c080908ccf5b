"""The three LeNet variants of the note, each an ``nn.Sequential``.

* :func:`lenet` — the original LeNet of d2l chapter 6 (padding 2 on the first
  convolution, average pooling, sigmoid), the note's baseline.
* :func:`lenet_bn` — the note's LeNet with the from-scratch
  :class:`bnref.BatchNorm` after every convolution and hidden linear layer,
  before the activation (max pooling and no padding, as the note writes it).
* :func:`lenet_bn_concise` — the same network with ``nn.BatchNorm2d`` /
  ``nn.BatchNorm1d`` (the note's "concise implementation").

All take ``(N, 1, 28, 28)`` Fashion-MNIST images and return 10 logits.
Because they are ``nn.Sequential``, ``net[1].gamma`` reaches the first
BatchNorm layer's scale, as in the note.
"""

from __future__ import annotations

from torch import nn

from bnref.batch_norm import BatchNorm

__all__ = ["lenet", "lenet_bn", "lenet_bn_concise"]


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
