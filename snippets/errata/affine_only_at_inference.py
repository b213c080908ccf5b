# In training, batch normalization is not an affine map of its input; at inference it is.
#
# Training: the mean and variance come from the batch itself, so each example's
# output depends on the other examples, and scaling the input leaves the output
# unchanged instead of scaling it. Inference: the moving statistics are
# constants, so each channel is y = a * x + b with
# a = gamma / sqrt(moving_var + eps) and b = beta - a * moving_mean
# (which is why a trained BN can be folded into the layer before it).
import torch
from torch import nn

X = torch.arange(24, dtype=torch.float32).reshape(8, 3) ** 1.5   # 8 examples, 3 features
X_other = X.clone()
X_other[1:] += 5.0                       # same first example, the rest of the batch moved

bn = nn.BatchNorm1d(3)
with torch.no_grad():
    bn.weight[:] = torch.tensor([2.0, 0.5, 1.0])
    bn.bias[:] = torch.tensor([0.0, 1.0, -1.0])

    _ = bn.train()
    Y, Y_other, Y_double = bn(X), bn(X_other), bn(2 * X)
    print("training: the first example's output changes with the others:",
          not torch.allclose(Y[0], Y_other[0]))
    print("training: bn(2 * x) equals bn(x), not 2 * bn(x):", torch.allclose(Y_double, Y, atol=1e-4))

    _ = bn.eval()
    a = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    b = bn.bias - a * bn.running_mean
    print("inference: bn(x) equals a * x + b, channel by channel:",
          torch.allclose(bn(X), a * X + b, atol=1e-5))
