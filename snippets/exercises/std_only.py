# Exercise 4: why BN that only divides by the standard deviation does not train here.
#
# A sigmoid's outputs are all positive, so the linear layer after it produces values
# whose mean is large next to their spread. BN that does not subtract the mean keeps
# that offset (as mean / std) and hands it to the next sigmoid, far out where the
# sigmoid is flat. Twenty SGD steps at the note's lr 1.0, then the share of sigmoid
# outputs below 0.02 or above 0.98 after each BN layer, on 1024 training images.
import torch

import bnref
from bnref.d2l.data import fashion_mnist_tensors
from bnref.experiments.commands import ablation

device = torch.get_default_device()
X = fashion_mnist_tensors(train=True)[0][:1024].to(device)


def saturated(net):
    """Share of saturated sigmoid outputs after each BN layer (training mode)."""
    shares = []
    hooks = [m.register_forward_hook(lambda m, i, out: shares.append(
        ((torch.sigmoid(out) < 0.02) | (torch.sigmoid(out) > 0.98)).float().mean().item()))
        for m in net.modules() if isinstance(m, bnref.BatchNorm)]
    with torch.no_grad():
        net.train()(X)
    for h in hooks:
        h.remove()
    return shares


for arm in ("std-only", "all"):
    net, _ = ablation.train_one(arm, 0, lr=1.0, batch_size=256, max_steps=20, test=False,
                                device=device)
    shares = saturated(net)
    print(f"{arm:>8}, after 20 steps: every sigmoid after BN layers 2-4 saturated:",
          all(s > 0.999 for s in shares[1:]), "| fewer than 10 % in every layer:",
          all(s < 0.1 for s in shares))
