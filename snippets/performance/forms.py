# The faster forms compute what the readable bnref.batch_norm computes, and folding
# leaves the network's function unchanged.
import torch

import bnref
from bnref.fold import fold_batch_norm
from bnref.speed import fast, fused

_ = torch.manual_seed(0)
X = (torch.randn(16, 4, 10, 10, dtype=torch.float64) * 3 + 1).requires_grad_()
gamma = torch.rand(4, dtype=torch.float64, requires_grad=True)
beta = torch.randn(4, dtype=torch.float64, requires_grad=True)
dY = torch.randn_like(X)


def outputs_and_gradients(batch_norm):
    """Y, the moving mean and variance, then the gradients for X, gamma and beta."""
    mean, var = torch.zeros(4, dtype=torch.float64), torch.ones(4, dtype=torch.float64)
    Y, mean, var = batch_norm(X, gamma, beta, mean, var, 1e-5, 0.9, training=True)
    return [Y, mean, var, *torch.autograd.grad(Y, (X, gamma, beta), dY)]


reference = outputs_and_gradients(bnref.batch_norm)
for name, batch_norm in [("fast", fast.batch_norm), ("fused", fused.batch_norm)]:
    gaps = [(a - b).abs().max().item()
            for a, b in zip(outputs_and_gradients(batch_norm), reference)]
    print(f"{name:5} agrees with bnref.batch_norm within 1e-12: {max(gaps) < 1e-12}")

net = bnref.lenet_bn()
with torch.no_grad():
    for step in range(5):  # a few training batches, so that the moving statistics move
        logits = net(torch.randn(64, 1, 28, 28))
net = net.eval()
folded = fold_batch_norm(net)
images = torch.randn(8, 1, 28, 28)
count = lambda model: sum(isinstance(m, bnref.BatchNorm) for m in model.modules())  # noqa: E731
print(f"BN layers: {count(net)} before folding, {count(folded)} after")
print("same logits up to rounding:", torch.allclose(folded(images), net(images), atol=1e-5))
