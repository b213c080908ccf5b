"""A minibatch of one example: what batch normalization does with it (N = 1).

The note says BN "learns nothing" when the batch holds a single example. Its
own function shows why; PyTorch and bnref refuse such a batch instead.
"""
# --8<-- [start:scratch]
import torch
from torch import nn

import bnref
from bnref import note

# One example (N = 1) with 4 features, as after a fully connected layer.
X = torch.tensor([[0.3, -1.2, 5.0, 42.0]], requires_grad=True)
gamma = torch.full((1, 4), 2.0, requires_grad=True)
beta = torch.tensor([[0.1, 0.2, 0.3, 0.4]], requires_grad=True)
moving_mean, moving_var = torch.zeros(1, 4), torch.ones(1, 4)

# Gradients are on, so the note's function takes its training branch:
# the batch mean is X itself and the batch variance is 0.
Y, _, _ = note.batch_norm(X, gamma, beta, moving_mean, moving_var, eps=1e-5, momentum=0.9)
print(Y)                           # every unit outputs its beta ...
print(torch.equal(Y, beta))        # ... whatever X was

Y.sum().backward()
print(X.grad)                      # nothing flows back to the layers below
print(gamma.grad)                  # and gamma gets no signal either
print(beta.grad)                   # only beta is trained
# --8<-- [end:scratch]

# --8<-- [start:torch]
# continues the block above (torch, nn)
X1 = torch.tensor([[0.3, -1.2, 5.0, 42.0]])
bn = nn.BatchNorm1d(4)             # a new module is in training mode
try:
    bn(X1)
except ValueError as err:
    print(f"nn.BatchNorm1d: {type(err).__name__}: {err}")
# --8<-- [end:torch]

# --8<-- [start:bnref]
# continues the blocks above (torch, bnref, X1)
ones, zeros = torch.ones(4), torch.zeros(4)
try:
    bnref.batch_norm(X1, ones, zeros, zeros, ones, eps=1e-5, momentum=0.9, training=True)
except ValueError as err:
    print(f"bnref.batch_norm: {type(err).__name__}: {err}")

# In evaluation mode the moving statistics are used, and one example is fine.
Y1, _, _ = bnref.batch_norm(X1, ones, zeros, zeros, ones, eps=1e-5, momentum=0.9,
                            training=False)
print(Y1)
# --8<-- [end:bnref]
