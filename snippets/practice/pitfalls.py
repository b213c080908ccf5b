"""The blocks of the "BN in practice" page: each shows a symptom, the fix, and a check.

Every block runs alone (its own imports) on tiny data; numbers printed are exact or
rounded far from any rounding boundary, so the page prints the same on every machine.
"""
# --8<-- [start:forgot_eval]
import torch
from torch import nn

_ = torch.manual_seed(0)
net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
x = torch.randn(1, 4)
batch = torch.cat([x, torch.randn(7, 4)])               # x with seven batch-mates
others = torch.cat([x, torch.randn(7, 4) * 5 + 3])     # x with seven other ones
with torch.no_grad():
    same = torch.allclose(net(batch)[0], net(others)[0])
print("training mode: x's prediction is the same in both batches:", same)
_ = net.eval()                                              # the fix
with torch.no_grad():
    same = torch.allclose(net(batch)[0], net(others)[0])
print("evaluation mode:", same)
# --8<-- [end:forgot_eval]

# --8<-- [start:no_grad]
import torch
from torch import nn

_ = torch.manual_seed(0)
net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8))
before = net[1].running_mean.clone()
with torch.no_grad():                                   # not evaluation mode
    _ = net(torch.randn(16, 4) + 10)
print("under torch.no_grad(): training mode", net.training,
      "| running mean moved", not torch.equal(before, net[1].running_mean))
_ = net.eval()                                              # the fix
before = net[1].running_mean.clone()
with torch.no_grad():
    _ = net(torch.randn(16, 4) + 10)
print("after net.eval(): training mode", net.training,
      "| running mean moved", not torch.equal(before, net[1].running_mean))
# --8<-- [end:no_grad]

# --8<-- [start:momentum]
import torch
from torch import nn

from bnref import doctor
from bnref.convert import convert_momentum

ported = nn.BatchNorm1d(3, momentum=0.9)                 # TensorFlow's / the note's 0.9, as is
right = nn.BatchNorm1d(3, momentum=convert_momentum(0.9))  # the fix: 1 - 0.9
for layer in (ported, right):
    for _ in range(20):
        _ = layer(torch.zeros(4, 3))                        # twenty batches of mean 0
    _ = layer(torch.full((4, 3), 5.0))                      # then one of mean 5
print("running mean after one batch of 5: ported", round(ported.running_mean[0].item(), 4),
      "| converted", round(right.running_mean[0].item(), 4))
print(doctor.check(nn.Sequential(ported))[0].code)
# --8<-- [end:momentum]

# --8<-- [start:unbiased]
import torch
from torch import nn

import bnref
from bnref.convert import unbiased_moving_var

X = torch.tensor([[1.0], [3.0], [5.0], [7.0]])           # one batch: mean 4, n = 4
ours = bnref.BatchNorm(1, num_dims=2, momentum=0.0)     # the note's convention: keep nothing old
theirs = nn.BatchNorm1d(1, momentum=1.0)                # PyTorch's: take the new batch whole
_ = ours(X), theirs(X)
print("moving variance: note", round(ours.moving_var.item(), 4),
      "| PyTorch", round(theirs.running_var.item(), 4))
print("the note's, converted:", round(unbiased_moving_var(ours.moving_var, 4).item(), 4))
# --8<-- [end:unbiased]

# --8<-- [start:batch_of_one]
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from bnref import doctor

net = nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8))
try:
    _ = net(torch.randn(1, 3))
except ValueError as err:
    print("ValueError:", err)
data = TensorDataset(torch.randn(257, 3))
print("last batch:", [len(b[0]) for b in DataLoader(data, batch_size=256)][-1],
      "| with drop_last=True:", [len(b[0]) for b in DataLoader(data, batch_size=256,
                                                               drop_last=True)][-1])
print(doctor.check(net, loader=DataLoader(data, batch_size=256))[-1].code)
# --8<-- [end:batch_of_one]

# --8<-- [start:no_running_stats]
import torch
from torch import nn

from bnref import doctor

_ = torch.manual_seed(0)
x = torch.randn(1, 3)
batch, others = torch.cat([x, torch.randn(7, 3)]), torch.cat([x, torch.randn(7, 3) + 4])
for bn in (nn.BatchNorm1d(3, track_running_stats=False), nn.BatchNorm1d(3)):
    _ = bn.eval()
    same = torch.allclose(bn(batch)[0], bn(others)[0])
    print(f"track_running_stats={bn.track_running_stats}: in evaluation mode x's output is "
          f"the same in both batches: {same}")
print(doctor.check(nn.Sequential(nn.BatchNorm1d(3, track_running_stats=False)))[0].code)
# --8<-- [end:no_running_stats]

# --8<-- [start:train_undoes_freeze]
import torch
from torch import nn
from torchvision.ops import FrozenBatchNorm2d

net = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU())
_ = net[1].eval()                                           # "freeze" BN for fine-tuning
_ = net.train()                                             # the next epoch begins
print("after net.train(), BN is in training mode again:", net[1].training)
frozen = FrozenBatchNorm2d(8)                           # the fix: a layer with no training mode
_ = frozen.load_state_dict({k: v for k, v in net[1].state_dict().items()
                        if k != "num_batches_tracked"})
net[1] = frozen
_ = net.train()
before = frozen.running_mean.clone()
_ = net(torch.randn(4, 3, 8, 8) + 2)
print("FrozenBatchNorm2d after net.train() and a batch: statistics moved",
      not torch.equal(before, frozen.running_mean))
# --8<-- [end:train_undoes_freeze]

# --8<-- [start:requires_grad]
import torch
from torch import nn

from bnref import doctor

bn = nn.BatchNorm1d(3)
for p in bn.parameters():
    _ = p.requires_grad_(False)                             # gamma and beta frozen
before = bn.running_mean.clone()
_ = bn(torch.randn(8, 3) + 4)
print("gamma, beta frozen; running mean moved:", not torch.equal(before, bn.running_mean))
print(doctor.check(nn.Sequential(bn))[0].code)
_ = bn.eval()                                               # the fix: the layer's mode
before = bn.running_mean.clone()
_ = bn(torch.randn(8, 3) + 4)
print("after bn.eval(): moved", not torch.equal(before, bn.running_mean))
# --8<-- [end:requires_grad]

# --8<-- [start:fold]
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

_ = torch.manual_seed(0)
net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4))
for _ in range(10):
    _ = net(torch.randn(8, 1, 6, 6) * 2 + 1)                # training moves the statistics
try:
    fuse_conv_bn_eval(net[0], net[1])
except AssertionError as err:
    print("in training mode:", err)
_ = net.eval()                                              # the fix
fused = fuse_conv_bn_eval(net[0], net[1])
x = torch.randn(2, 1, 6, 6)
print("folded conv equals conv + BN in evaluation mode:",
      torch.allclose(fused(x), net(x), atol=1e-6))
# --8<-- [end:fold]

# --8<-- [start:dropout]
import torch
from torch import nn

from bnref import doctor

_ = torch.manual_seed(0)
for net in (nn.Sequential(nn.Dropout(0.5), nn.BatchNorm1d(64, momentum=None)),
            nn.Sequential(nn.BatchNorm1d(64, momentum=None), nn.Dropout(0.5))):
    bn = net[1] if isinstance(net[1], nn.BatchNorm1d) else net[0]
    for _ in range(20):                                  # momentum=None: a plain average
        _ = net(1 + torch.randn(1000, 64))
    _ = net.eval()
    seen = (1 + torch.randn(20000, 64)).var(dim=0)      # what BN sees in evaluation mode
    where = "before" if net[0] is not bn else "after"
    print(f"dropout {where} BN: recorded / evaluation-time variance "
          f"{(bn.running_var / seen).mean().item():.1f}")
print(doctor.check(nn.Sequential(nn.Dropout(0.5), nn.BatchNorm1d(64)))[0].code)
# --8<-- [end:dropout]

# --8<-- [start:bias]
import torch
from torch import nn

from bnref import doctor

_ = torch.manual_seed(0)
net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
(net(torch.randn(8, 1, 6, 6)) ** 2).sum().backward()
ratio = net[0].bias.grad.abs().max() / net[0].weight.grad.abs().max()
print("bias gradient below 1e-5 of the weight gradient:", ratio.item() < 1e-5)
print(doctor.check(net)[0].code)
without = nn.Sequential(nn.Conv2d(1, 4, 3, bias=False), nn.BatchNorm2d(4), nn.ReLU())
_ = without[0].weight.data.copy_(net[0].weight.data)        # the fix: bias=False, same output
x = torch.randn(8, 1, 6, 6)
print("same output without the bias:", torch.allclose(net(x), without(x), atol=1e-6))
# --8<-- [end:bias]

# --8<-- [start:lag]
import copy

import torch
from torch import nn

_ = torch.manual_seed(0)
net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8))
for _ in range(50):
    _ = net(torch.randn(32, 4))                              # the statistics settle
with torch.no_grad():
    _ = net[0].weight.mul_(3)                                # then the weights move fast (a large step)
x = torch.randn(512, 4)


def off(net, x):
    """Mean |evaluation-mode output - output with x's own batch statistics|."""
    with torch.no_grad():
        evaluated = net.eval()(x)
        own = copy.deepcopy(net).train()(x)            # a copy: training mode moves statistics
        return (evaluated - own).abs().mean().item()


print(f"evaluation mode is off from x's own statistics by {off(net, x):.1f} on average")
net[1].reset_running_stats()                             # the fix: re-estimate the statistics
net[1].momentum = None                                   # as a plain average, in training mode
_ = net.train()
with torch.no_grad():
    for _ in range(20):
        _ = net(torch.randn(512, 4))
print("after re-estimating them, by less than 0.1:", off(net, x) < 0.1)
net[1].momentum = 0.1                                    # back to the momentum training used
# --8<-- [end:lag]
