"""The note's own code, verbatim, kept for comparison.

These are the listings of the study note (``batch_norm`` and ``BatchNorm``),
character for character, Chinese comments included. The chapter pages show
them from here, ``python -m bnref bench`` times this ``batch_norm`` against
:func:`bnref.batch_norm`, and the errata page runs them to show where they
differ from PyTorch. Use :func:`bnref.batch_norm` and :class:`bnref.BatchNorm`
in your own code: they keep the note's arithmetic but register the moving
statistics as buffers, take the mode from ``.train()``/``.eval()`` and check
their input.

The only change from the note: ``from d2l import torch as d2l`` is not needed
here, so it is left out.
"""
# ruff: noqa
# --8<-- [start:imports]
import torch
from torch import nn
# --8<-- [end:imports]

__all__ = ["batch_norm", "BatchNorm"]


# --8<-- [start:batch_norm]
def batch_norm(X, gamma, beta, moving_mean, moving_var, eps, momentum):
    # moving_mean/var全局的期望和方差，近似于整个数据集上
    # eps：很小的固定值，避免除零，很重要
    # momentum：用于更新moving的动量，通常取固定值
    if not torch.is_grad_enabled(): #做inference而非train，所以不求梯度
        # 使用整个数据集的均值和方差计算
        X_hat = (X - moving_mean) / torch.sqrt(moving_var + eps)
    else:
        assert len(X.shape) in (2, 4)
        # X.shape输入要么为2，代表全连接层(batch_samples,features)
        if len(X.shape) == 2:
            #按特征求均值和方差
            mean = X.mean(dim=0)    # 按行求均值，将每列求均值后压缩到一行
            var = ((X - mean)**2).mean(dim=0)
        # 要么为4，代表2D卷积层，(batch_samples,channals,w,h)
        else:
            # 对每一个通道的全部元素求均值方差，得到一个(1,channal_num,1,1)的矩阵
            # dim指代的维数表明计算后该维度压缩为1
            mean = X.mean(dim=(0, 2, 3), keepdim=True)
            var = ((X - mean)**2).mean(dim=(0, 2, 3), keepdim=True)

        # 对X每个元素进行归一化
        X_hat = (X - mean) / torch.sqrt(var + eps)
        # 对moving_mean、moving_var做滑动窗口平滑更新，类似动量
        moving_mean = momentum * moving_mean + (1.0 - momentum) * mean
        moving_var = momentum * moving_var + (1.0 - momentum) * var
    Y = gamma * X_hat + beta
    return Y, moving_mean.data, moving_var.data
# --8<-- [end:batch_norm]


# --8<-- [start:BatchNorm]
class BatchNorm(nn.Module):
    def __init__(self, num_features, num_dims):
        super().__init__()
        if num_dims == 2:   # 全连接层
            shape = (1, num_features)
        else:   # 2D卷积层
            shape = (1, num_features, 1, 1)
        # gamma和beta是需要参数学习的参数，使用Parameter存储梯度
        self.gamma = nn.Parameter(torch.ones(shape))
        self.beta = nn.Parameter(torch.zeros(shape))
        # 需要不断迭代拟合的全局均值方差
        # 初始化时由于无法得到全局值，首先给定一个初始值
        self.moving_mean = torch.zeros(shape)
        self.moving_var = torch.ones(shape)

    def forward(self, X):
        # 检测moving_mean/var所在设备，如果与数据不在一起，则移动到数据所在设备
        if self.moving_mean.device != X.device:
            self.moving_mean = self.moving_mean.to(X.device)
            self.moving_var = self.moving_var.to(X.device)

        Y, self.moving_mean, self.moving_var = batch_norm(
            X, self.gamma, self.beta, self.moving_mean,
            self.moving_var, eps=1e-5, momentum=0.9)
        return Y
# --8<-- [end:BatchNorm]
