# From bnref.BatchNorm to nn.BatchNorm2d and back (bnref.convert).
import torch

import bnref
from bnref import convert

bn = bnref.BatchNorm(6, num_dims=4)
for _ in range(3):
    _ = bn(torch.randn(16, 6, 5, 5) + 2)      # three training steps move the statistics
t = convert.to_torch(bn)
print(type(t).__name__, "momentum", t.momentum, "running_mean", tuple(t.running_mean.shape),
      "from moving_mean", tuple(bn.moving_mean.shape))
X = torch.randn(4, 6, 5, 5)
print("same eval output:", torch.allclose(t.eval()(X), bn.eval()(X), atol=1e-6))
back = convert.from_torch(t)
print("round trip:", back.momentum, torch.equal(back.moving_var, bn.moving_var))
