# Five updates under each convention, then the conversion: the same moving statistics.
import torch
from torch import nn

import bnref
from bnref.convert import convert_momentum, unbiased_moving_var

_ = torch.manual_seed(0)
ours = bnref.BatchNorm(3, num_dims=4, momentum=0.9)         # the note: 0.9 weighs the old value
theirs = nn.BatchNorm2d(3, momentum=convert_momentum(0.9))   # PyTorch: 0.1 weighs the new batch
for step in range(5):
    X = torch.randn(8, 3, 4, 4) * 2 + 1
    Y_ours, Y_theirs = ours(X), theirs(X)
n = 8 * 4 * 4                                                # values per channel in one batch
moving_var = ours.moving_var.reshape(-1)
print("moving means agree:", torch.allclose(ours.moving_mean.reshape(-1), theirs.running_mean))
print("moving variances agree as they are:", torch.allclose(moving_var, theirs.running_var))
print("after unbiased_moving_var:",
      torch.allclose(unbiased_moving_var(moving_var, n, steps=5), theirs.running_var))
