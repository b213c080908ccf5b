# Which axes each normalization averages over, on an (N, C, H, W) = (2, 4, 3, 3) batch.
import torch

import bnref

X = 5 * torch.randn(2, 4, 3, 3) + 2

outputs = {
    # name: (output, the axes its statistics are taken over)
    "batch_norm": (bnref.batch_norm(X, torch.ones(4), torch.zeros(4), torch.zeros(4),
                                    torch.ones(4), eps=1e-5, momentum=0.9,
                                    training=True)[0], (0, 2, 3)),
    "layer_norm": (bnref.layer_norm(X, (4, 3, 3)), (1, 2, 3)),
    "instance_norm": (bnref.instance_norm(X), (2, 3)),
}
for name, (Y, dims) in outputs.items():
    mean = Y.mean(dim=dims)
    var = Y.var(dim=dims, correction=0)
    print(f"{name:<14} axes {str(dims):<10} {mean.numel()} statistics, "
          f"mean 0: {torch.allclose(mean, torch.zeros_like(mean), atol=1e-5)}, "
          f"var 1: {torch.allclose(var, torch.ones_like(var), atol=1e-3)}")

# GroupNorm with 2 groups: channels {0, 1} and {2, 3} of each example.
Y = bnref.group_norm(X, 2).reshape(2, 2, 2, 3, 3)   # (N, G, C/G, H, W)
mean, var = Y.mean(dim=(2, 3, 4)), Y.var(dim=(2, 3, 4), correction=0)
print(f"{'group_norm':<14} axes {'(C/G,H,W)':<10} {mean.numel()} statistics, "
      f"mean 0: {torch.allclose(mean, torch.zeros_like(mean), atol=1e-5)}, "
      f"var 1: {torch.allclose(var, torch.ones_like(var), atol=1e-3)}")
