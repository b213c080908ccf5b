# Where epsilon goes: under the square root, not into the variance.
#
# The note writes sigma_B^2 = (1/|B|) sum (x_i - mu_B)^2 + eps. Its code (and
# PyTorch) keep the variance as it is and add eps only where they divide:
#
#     x_hat = (x - mu_B) / sqrt(sigma_B^2 + eps)
#
# With a large eps the difference shows: the variance the code tracks has no
# eps in it, and the output's standard deviation is sqrt(var / (var + eps)).
import torch

from bnref.note import batch_norm  # the note's code, verbatim

X = torch.tensor([[1.0], [3.0], [5.0], [7.0]])   # one feature, biased variance 5
ones, zeros = torch.ones(1), torch.zeros(1)
eps = 1.0                                        # deliberately large

# momentum=0 makes the new moving variance equal to the batch statistic
Y, moving_mean, moving_var = batch_norm(X, ones, zeros, zeros, ones, eps, momentum=0.0)

var = X.var(correction=0)
print(f"batch variance: {var.item()}, eps: {eps}")
print(f"variance the code keeps: {moving_var.item()} (not var + eps = {(var + eps).item()})")
print(f"std of the output: {Y.std(correction=0).item():.4f} "
      f"= sqrt(var / (var + eps)) = {(var / (var + eps)).sqrt().item():.4f}")
print("matches (x - mu) / sqrt(var + eps):",
      torch.allclose(Y, (X - X.mean()) / torch.sqrt(var + eps)))
