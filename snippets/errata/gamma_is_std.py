# gamma sets the standard deviation of the output, not its variance.
#
# y = gamma * x_hat + beta, and x_hat has mean 0 and variance 1 over the batch,
# so y has mean beta and standard deviation |gamma| (variance gamma^2).
import torch

from bnref.note import batch_norm  # the note's code, verbatim

X = torch.linspace(-30.0, 50.0, 1000).reshape(-1, 1)   # any scale and shift
gamma, beta = torch.tensor([3.0]), torch.tensor([2.0])
Y, _, _ = batch_norm(X, gamma, beta, torch.zeros(1), torch.ones(1), 1e-5, 0.9)

print(f"gamma = {gamma.item()}, beta = {beta.item()}")
print(f"output mean {Y.mean().item():.3f}, std {Y.std(correction=0).item():.3f}, "
      f"variance {Y.var(correction=0).item():.3f}")
