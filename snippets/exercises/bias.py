# Exercise 1: drop the biases in front of BN from the note's LeNet-BN, and nothing changes.
#
# Two copies of the note's network with the same weights, one with the biases of
# the four layers that feed a BatchNorm, one without them, trained through the
# one training loop (bnref.d2l.train.fit) on the same ten random batches, in
# float64 so that rounding does not hide a difference: the losses agree, the
# gradient reaching those biases is zero, and the biases never move.
import copy

import torch

import bnref
from bnref.d2l.train import fit

_ = torch.manual_seed(0)
net = bnref.lenet_bn().double()
# the layers whose output goes straight into a BatchNorm: both convolutions, two linear layers
feeds_bn = [i for i in range(len(net) - 1) if isinstance(net[i + 1], bnref.BatchNorm)]
print("biases in front of BN:", [net[i].bias.numel() for i in feeds_bn], "=",
      sum(net[i].bias.numel() for i in feeds_bn), "parameters")

no_bias = copy.deepcopy(net)
for i in feeds_bn:
    no_bias[i].bias = None          # what bias=False builds
biases = [net[i].bias.detach().clone() for i in feeds_bn]

batches = [(torch.randn(64, 1, 28, 28, dtype=torch.float64), torch.randint(0, 10, (64,)))
           for _ in range(10)]
device = torch.get_default_device()
runs = [fit(model, batches, lr=1.0, epochs=1, init=None, device=device, record_losses=10,
            progress=False) for model in (net, no_bias)]
gap = max(abs(a - b) for a, b in zip(runs[0].step_losses, runs[1].step_losses))
print("10 SGD steps at lr 1.0, the same losses with and without them:", gap < 1e-12)
grad = max(net[i].bias.grad.abs().max().item() for i in feeds_bn)
print("gradient reaching those biases at the last step is zero:", grad < 1e-12)
print("biases unchanged by training:",
      all(torch.allclose(net[i].bias, b, rtol=0, atol=1e-12) for i, b in zip(feeds_bn, biases)))
# in evaluation mode BN subtracts its moving mean instead; it started at 0 (without the bias)
# and takes in (1 - momentum) of each batch's mean, so after t steps it holds 1 - 0.9**t of b
shift = [net[i + 1].moving_mean.reshape(-1) - no_bias[i + 1].moving_mean.reshape(-1)
         for i in feeds_bn]
print("moving mean with bias - without = (1 - 0.9**10) * bias:",
      all(torch.allclose(d, (1 - 0.9**10) * b, atol=1e-12) for d, b in zip(shift, biases)))
