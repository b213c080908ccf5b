# A bias right before batch normalization is cancelled by the mean subtraction.
#
# Per channel, (W x + b) - mean(W x + b) = W x - mean(W x): the bias drops out of
# the normalized value and the variance never sees it, so the output is the same
# and the gradient reaching the bias is zero. That is why a convolution or a
# linear layer followed by BN is usually built with bias=False (BN's own beta
# plays the bias's part).
import torch
from torch import nn

_ = torch.manual_seed(0)
# float64, so that "zero" is not lost in float32 rounding of sums over 4608 values
with_bias = nn.Conv2d(1, 6, kernel_size=5).double()        # as in the note's LeNet
without = nn.Conv2d(1, 6, kernel_size=5, bias=False).double()
with torch.no_grad():
    without.weight[:] = with_bias.weight
    with_bias.bias[:] = 3.0                                  # a large bias, to be sure
bn = nn.BatchNorm2d(6).double()                              # training mode

X = torch.randn(8, 1, 28, 28, dtype=torch.float64)
Y_bias, Y_plain = bn(with_bias(X)), bn(without(X))
print("same output with and without the bias:", torch.allclose(Y_bias, Y_plain, atol=1e-10))
(Y_bias * torch.randn_like(Y_bias)).sum().backward()         # any loss
print("gradient reaching the bias is zero:", torch.allclose(with_bias.bias.grad, torch.zeros(6, dtype=torch.float64),
                                                          atol=1e-10))
