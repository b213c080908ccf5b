# After a convolution, BN's statistics of a channel run over N x H x W.
#
# Every position of every example in the batch enters the mean and the variance
# of its channel (one value each per channel), not only the pixels under one
# sliding window. nn.BatchNorm2d and the note's
# X.mean(dim=(0, 2, 3), keepdim=True) do the same.
import torch
from torch import nn

N, C, H, W = 4, 2, 5, 5
X = torch.arange(N * C * H * W, dtype=torch.float32).reshape(N, C, H, W).sin() * 3 + 1

bn = nn.BatchNorm2d(C)                   # training mode: batch statistics
with torch.no_grad():
    Y = bn(X)
mean = X.mean(dim=(0, 2, 3), keepdim=True)
var = ((X - mean) ** 2).mean(dim=(0, 2, 3), keepdim=True)
print("values behind each channel's mean: N * H * W =", N * H * W)
print("equals (X - mean) / sqrt(var + eps) over (0, 2, 3):",
      torch.allclose(Y, (X - mean) / torch.sqrt(var + bn.eps), atol=1e-5))
print("output mean 0, variance 1 per channel over N, H, W:",
      torch.allclose(Y.mean(dim=(0, 2, 3)), torch.zeros(C), atol=1e-5),
      torch.allclose(Y.var(dim=(0, 2, 3), unbiased=False), torch.ones(C), atol=1e-3))
window = Y[0, 0, :3, :3]                 # one 3x3 window of one example
print("one 3x3 window alone is not normalized: mean", f"{window.mean().item():.2f}")
