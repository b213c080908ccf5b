r"""d2l momentum 0.9 is PyTorch momentum 0.1; PyTorch's running_var is unbiased.

d2l/the note:  moving  <- 0.9 * moving  + 0.1 * batch_stat   (momentum = 0.9)
PyTorch:       running <- 0.9 * running + 0.1 * batch_stat   (momentum = 0.1)

Both normalize with the biased batch variance (divide by n). PyTorch then
updates running_var with the unbiased one (divide by n - 1), the note with the
biased one, so the two running variances differ by the factor n / (n - 1).
"""
import torch
from torch import nn

import bnref

X = torch.tensor([[1.0, 0.0, -2.0],
                  [2.0, 4.0, 0.0],
                  [4.0, 1.0, 1.0],
                  [9.0, 3.0, 5.0]])
n = X.shape[0]                                        # 4 examples, 3 features

ours = bnref.BatchNorm(3, num_dims=2, momentum=0.9)   # d2l convention
theirs = nn.BatchNorm1d(3, momentum=0.1)              # PyTorch convention
Y_ours, Y_theirs = ours(X), theirs(X)

print("same output:", torch.allclose(Y_ours, Y_theirs, atol=1e-6))
print("same running mean:", torch.allclose(ours.moving_mean.reshape(-1), theirs.running_mean))
# undo the 0.9 * 1.0 that both kept from the initial variance, leaving 0.1 * batch variance
ratio = (theirs.running_var - 0.9) / (ours.moving_var.reshape(-1) - 0.9)
print("running_var ratio PyTorch / d2l:", [round(r, 4) for r in ratio.tolist()])
print("n / (n - 1) =", round(n / (n - 1), 4))
