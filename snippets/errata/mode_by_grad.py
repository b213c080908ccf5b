# The note's layer picks its mode by torch.is_grad_enabled(), not by .train()/.eval().
#
# The note's BatchNorm in .eval() mode still normalizes with the batch statistics
# and keeps updating its moving statistics as long as gradients are enabled;
# only torch.no_grad() switches it to inference. bnref.BatchNorm (like
# nn.BatchNorm2d) follows .train()/.eval().
import torch

import bnref
from bnref import note

X = 5 + 2 * torch.linspace(-1.0, 1.0, 8 * 3 * 4 * 4).reshape(8, 3, 4, 4).cos()  # mean far from 0


def show(name, layer):
    layer.eval()                               # ask for inference mode
    before = layer.moving_mean.clone()
    Y = layer(X)                               # gradients are enabled here
    updated = not torch.equal(before, layer.moving_mean)
    print(f"{name:16} eval(), grad on : output mean {round(Y.mean().item(), 2) + 0.0:.2f}, "
          f"moving_mean updated: {updated}")
    with torch.no_grad():
        Y = layer(X)
    print(f"{name:16} eval(), no_grad: output mean {round(Y.mean().item(), 2) + 0.0:.2f}")


show("note.BatchNorm", note.BatchNorm(3, num_dims=4))
show("bnref.BatchNorm", bnref.BatchNorm(3, num_dims=4))
