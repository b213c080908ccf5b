# Exercise 8: does compressing a model by sparsifying it regularize it?
#
# A linear model with 200 weights fitted to 40 noisy examples: the least-squares
# fit with the smallest norm interpolates the noise. Compress it: keep its 5
# largest weights, set the rest to 0 and refit those 5. With inputs drawn from a
# standard normal, the expected test error of weights w is |w - w_true|^2 (plus the
# noise), so we compare |w - w_true|^2 / |w_true|^2, over 20 random problems of each
# kind: true weights that are sparse (5 of 200 nonzero), or dense.
import torch

_ = torch.manual_seed(0)
n, d, k, draws = 40, 200, 5, 20


def relative_errors(w_true):
    """Relative error of the minimum-norm fit and of its 5 largest weights, refitted."""
    X = torch.randn(n, d, dtype=torch.float64)
    y = X @ w_true + 0.5 * torch.randn(n, dtype=torch.float64)
    w_full = X.T @ torch.linalg.solve(X @ X.T, y)            # the minimum-norm fit
    keep = w_full.abs().topk(k).indices
    w_small = torch.zeros(d, dtype=torch.float64)
    w_small[keep] = torch.linalg.lstsq(X[:, keep], y.unsqueeze(1)).solution.squeeze(1)
    return [((w - w_true).pow(2).sum() / w_true.pow(2).sum()).item() for w in (w_full, w_small)]


def sparse_weights():
    w = torch.zeros(d, dtype=torch.float64)
    w[torch.randperm(d)[:k]] = 2.0
    return w


def dense_weights():
    return torch.randn(d, dtype=torch.float64)


print(f"relative error |w - w_true|^2 / |w_true|^2 over {draws} draws; 1 - n/d = {1 - n / d:.1f}")
for name, make in (("sparse", sparse_weights), ("dense", dense_weights)):
    errors = torch.tensor([relative_errors(make()) for _ in range(draws)])
    better = (errors[:, 1] < errors[:, 0]).double().mean().item()
    print(f"{name:>6} true weights: all {d} weights, median {errors[:, 0].median().item():.1f}; "
          f"{k} kept: better in at least 90 % of draws {better >= 0.9}, "
          f"worse in at least 90 % {better <= 0.1}")
