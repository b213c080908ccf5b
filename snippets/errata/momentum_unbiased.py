# The note's momentum 0.9 is PyTorch's momentum 0.1; PyTorch's running_var mixes in the unbiased variance.
#
# The note (like the Chinese edition of d2l, and English d2l before 1.0):
#     moving  <- 0.9 * moving  + 0.1 * batch_stat   (momentum = 0.9 weighs the old value)
# PyTorch (and English d2l since d2l-ai/d2l-en#2213):
#     running <- 0.9 * running + 0.1 * batch_stat   (momentum = 0.1 weighs the new value)
#
# Both normalize with the biased batch variance (divide by n). PyTorch then mixes
# the unbiased one (divide by n - 1) into running_var, the note the biased one:
# what one update adds differs by the factor n / (n - 1). The running variances
# themselves differ by less, because both keep the same share of the starting
# value 1.0; their ratio approaches n / (n - 1) only as that share decays.
import torch
from torch import nn

import bnref

X = torch.tensor([[1.0, 0.0, -2.0],
                  [2.0, 4.0, 0.0],
                  [4.0, 1.0, 1.0],
                  [9.0, 3.0, 5.0]])
n = X.shape[0]                                        # 4 examples, 3 features

ours = bnref.BatchNorm(3, num_dims=2, momentum=0.9)   # the note's convention
theirs = nn.BatchNorm1d(3, momentum=0.1)              # PyTorch's convention
Y_ours, Y_theirs = ours(X), theirs(X)

print("same output:", torch.allclose(Y_ours, Y_theirs, atol=1e-6))
print("same running mean:", torch.allclose(ours.moving_mean.reshape(-1), theirs.running_mean))
# take away the 0.9 * 1.0 both kept from the starting variance: what this one batch added
added = (theirs.running_var - 0.9) / (ours.moving_var.reshape(-1) - 0.9)
print("what one batch adds to the running variance, PyTorch / note:", [round(r, 4) for r in added.tolist()])
print("n / (n - 1) =", round(n / (n - 1), 4))
ratio = theirs.running_var / ours.moving_var.reshape(-1)
print("the running variances themselves, PyTorch / note:", [round(r, 4) for r in ratio.tolist()])
for _ in range(99):                                   # 100 updates with the same batch
    Y_ours, Y_theirs = ours(X), theirs(X)
ratio = theirs.running_var / ours.moving_var.reshape(-1)
print("after 100 updates:", [round(r, 4) for r in ratio.tolist()])
