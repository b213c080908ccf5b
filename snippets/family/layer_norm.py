# bnref.LayerNorm next to torch.nn.LayerNorm, after a convolution: (N, C, H, W) = (3, 6, 8, 8).
import torch
from torch import nn

import bnref

X = torch.randn(3, 6, 8, 8)
ours, theirs = bnref.LayerNorm((6, 8, 8)), nn.LayerNorm((6, 8, 8))
print(ours)
print("weight:", tuple(ours.weight.shape), "same output as torch:",
      torch.allclose(ours(X), theirs(X), atol=1e-6))
# Each example is normalized on its own: the batch around it does not matter,
# and training and evaluation compute the same thing.
print("example 0 alone gives the same output:", torch.allclose(ours(X)[:1], ours(X[:1]), atol=1e-6))
