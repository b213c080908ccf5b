# Exercise 7: a few uses of BN that PyTorch's documentation describes, each checked.
#
# momentum=None keeps a plain average of every batch so far instead of an
# exponential one; BatchNorm1d also takes sequences (N, C, L) and then normalizes
# each channel over N and L; affine=False drops gamma and beta; a lazy layer
# reads its number of channels from the first batch; convert_sync_batchnorm
# swaps every BN layer of a model for SyncBatchNorm, for training across processes;
# torch.func turns the moving statistics off, so that vmap can run the model.
import torch
from torch import nn

_ = torch.manual_seed(0)
batches = [2 * torch.randn(32, 3, dtype=torch.float64) + 5 for _ in range(4)]
cumulative = nn.BatchNorm1d(3, momentum=None, dtype=torch.float64)
for X in batches:
    _ = cumulative(X)
average = torch.stack([X.mean(0) for X in batches]).mean(0)
print("momentum=None: running_mean is the plain average of the 4 batch means:",
      torch.allclose(cumulative.running_mean, average))

X = 3 * torch.randn(8, 3, 50, dtype=torch.float64) + 1
Y = nn.BatchNorm1d(3, dtype=torch.float64)(X)
print("(N, C, L) input: each channel has mean 0 and variance 1 over N and L:",
      torch.allclose(Y.mean((0, 2)), torch.zeros(3, dtype=torch.float64), atol=1e-12)
      and torch.allclose(Y.var((0, 2), unbiased=False), torch.ones(3, dtype=torch.float64), atol=1e-4))

print("affine=False: learnable parameters:",
      sum(p.numel() for p in nn.BatchNorm2d(16, affine=False).parameters()))

lazy = nn.LazyBatchNorm2d()
_ = lazy(torch.randn(2, 6, 4, 4))
print("LazyBatchNorm2d after a batch with 6 channels: num_features =", lazy.num_features)

net = nn.Sequential(nn.Conv2d(1, 6, 5), nn.BatchNorm2d(6), nn.ReLU())
net = nn.SyncBatchNorm.convert_sync_batchnorm(net)
print("convert_sync_batchnorm:", [type(m).__name__ for m in net])

per_batch = torch.func.replace_all_batch_norm_modules_(nn.Sequential(nn.BatchNorm2d(6)))
print("replace_all_batch_norm_modules_ (for torch.func.vmap): track_running_stats =",
      per_batch[0].track_running_stats, "| running_mean:", per_batch[0].running_mean)
