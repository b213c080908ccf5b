# What a wrong call prints, and what NaN input does (the same as torch.nn.BatchNorm2d).
import torch
from torch import nn

import bnref

bn = bnref.BatchNorm(3, num_dims=4)
for bad in (torch.randn(8, 3),             # 2-D input for a num_dims=4 layer
            torch.randn(8, 5, 4, 4),       # 5 channels for a 3-channel layer
            torch.randn(1, 3, 1, 1),       # one value per channel, in training
            torch.ones(8, 3, 4, 4, dtype=torch.int64)):
    try:
        bn(bad)
    except (ValueError, TypeError) as err:
        print(f"{type(err).__name__}: {err}")

# NaN is not an error: it spoils the statistics of its channel, in both libraries.
X = torch.randn(4, 3, 2, 2)
X[1, 0, 0, 1] = float("nan")
ours, theirs = bnref.BatchNorm(3, num_dims=4), nn.BatchNorm2d(3)
Y, Y_torch = ours(X), theirs(X)
print("NaN outputs per channel:", Y.isnan().sum(dim=(0, 2, 3)).tolist(),
      "torch:", Y_torch.isnan().sum(dim=(0, 2, 3)).tolist())
print("moving mean:", ours.moving_mean.reshape(-1).isnan().tolist(),
      "torch:", theirs.running_mean.isnan().tolist())
