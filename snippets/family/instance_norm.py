# bnref.InstanceNorm is nn.InstanceNorm2d(affine=True, track_running_stats=False).
import torch
from torch import nn

import bnref

X = torch.randn(3, 6, 8, 8)
ours = bnref.InstanceNorm(6)
theirs = nn.InstanceNorm2d(6, affine=True, track_running_stats=False)
print(ours)
print("weight:", tuple(ours.weight.shape), "same output as torch:",
      torch.allclose(ours(X), theirs(X), atol=1e-6))
# Every (example, channel) map now has mean 0 and variance 1 over its 8 x 8 positions.
Y = ours(X)
print("per-map means:", tuple(Y.mean(dim=(2, 3)).shape),
      torch.allclose(Y.mean(dim=(2, 3)), torch.zeros(3, 6), atol=1e-5))
