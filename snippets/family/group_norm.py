# bnref.GroupNorm next to torch.nn.GroupNorm, and the two ends of the family.
import torch
from torch import nn

import bnref

X = torch.randn(3, 6, 8, 8)
ours, theirs = bnref.GroupNorm(2, 6), nn.GroupNorm(2, 6)
print(ours)
print("weight:", tuple(ours.weight.shape), "same output as torch:",
      torch.allclose(ours(X), theirs(X), atol=1e-6))
# One group: every channel of an example together, i.e. LayerNorm over (C, H, W).
print("G = 1 is LayerNorm over (C, H, W):",
      torch.allclose(bnref.group_norm(X, 1), bnref.layer_norm(X, (6, 8, 8)), atol=1e-6))
# C groups: one channel per group, i.e. InstanceNorm.
print("G = C is InstanceNorm:",
      torch.allclose(bnref.group_norm(X, 6), bnref.instance_norm(X), atol=1e-6))
