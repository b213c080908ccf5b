"""The note's LeNet with its from-scratch BatchNorm, verbatim (section ``net``).

On the page this listing follows the note's ``batch_norm``/``BatchNorm``
listings, so ``nn`` and ``BatchNorm`` already exist there. Run on its own, the
two imports below provide them, from the verbatim copy in ``bnref.note``.
"""
from torch import nn

from bnref.note import BatchNorm

# --8<-- [start:net]
net = nn.Sequential(
    nn.Conv2d(1, 6, kernel_size=5), BatchNorm(6, num_dims=4),
    nn.Sigmoid(), nn.MaxPool2d(kernel_size=2, stride=2),
    nn.Conv2d(6, 16, kernel_size=5), BatchNorm(16, num_dims=4),
    nn.Sigmoid(), nn.MaxPool2d(kernel_size=2, stride=2),
    nn.Flatten(), nn.Linear(16 * 4 * 4, 120),
    BatchNorm(120, num_dims=2), nn.Sigmoid(),
    nn.Linear(120, 84), BatchNorm(84, num_dims=2),
    nn.Sigmoid(), nn.Linear(84, 10))
#对线性层只有(256，16*4*4)矩阵的norm
# --8<-- [end:net]
