"""The note's concise LeNet with nn.BatchNorm2d / nn.BatchNorm1d, verbatim (section ``net``),
and a check of the note's remark on ``nn.Flatten`` (section ``check``)."""
import torch
from torch import nn

# --8<-- [start:net]
#注意1d与2d的区别。
net = nn.Sequential(
    nn.Conv2d(1, 6, kernel_size=5), nn.BatchNorm2d(6),
    nn.Sigmoid(), nn.MaxPool2d(kernel_size=2, stride=2),
    nn.Conv2d(6, 16, kernel_size=5), nn.BatchNorm2d(16),
    nn.Sigmoid(), nn.MaxPool2d(kernel_size=2, stride=2),
    nn.Flatten(), nn.Linear(16 * 4 * 4, 120),
    nn.BatchNorm1d(120), nn.Sigmoid(),
    nn.Linear(120, 84), nn.BatchNorm1d(84),
    nn.Sigmoid(), nn.Linear(84, 10))

# nn.Flatten()
#默认从第1个维度（而不是第0维）开始拉平直至最后一个维度
#所以Flatten()一个二维矩阵不发生任何形状变化。
# --8<-- [end:net]

# --8<-- [start:check]
# continues the block above (torch, nn and the concise net)
X = torch.rand(2, 1, 28, 28)                 # two Fashion-MNIST-sized images
print(net(X).shape)                          # 10 logits per image
print(nn.Flatten()(torch.rand(2, 16, 4, 4)).shape)   # (N, C, H, W) -> (N, C*H*W)
print(nn.Flatten()(torch.rand(256, 120)).shape)      # 2-D input: unchanged
# --8<-- [end:check]
