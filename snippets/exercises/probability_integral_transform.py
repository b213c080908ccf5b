# Exercise 8: the probability integral transform as a normalization, next to BN.
#
# A skewed feature: 4096 values, the quantiles of a log-normal distribution in a
# random order (so that every device sees the same values). BN moves and scales
# them (mean 0, variance 1) but keeps their shape. Mapping every value through the
# batch's own empirical CDF, (rank + 1/2) / N, gives uniform values whatever the
# input; the inverse normal CDF of those gives a Gaussian. The ranks carry no
# gradient; and where the data are Gaussian, BN followed by the normal CDF is
# already close to the transform.
import math

import torch

import bnref

_ = torch.manual_seed(0)
N = 4096
ones, zeros = torch.ones(1, dtype=torch.float64), torch.zeros(1, dtype=torch.float64)


def normal_cdf(v):
    return 0.5 * (1 + torch.erf(v / math.sqrt(2)))


def inverse_normal_cdf(p):
    return math.sqrt(2) * torch.erfinv(2 * p - 1)


def bn(v):
    return bnref.batch_norm(v, ones, zeros, zeros, ones, eps=1e-5, momentum=0.9, training=True)[0]


def pit(v):
    ranks = v.argsort(0).argsort(0)          # 0 .. N-1: N times the empirical CDF
    return (ranks + 0.5) / v.shape[0]


def skewness(v):
    z = (v - v.mean()) / v.std(unbiased=False)
    return abs((z**3).mean().item())


grid = (torch.randperm(N).reshape(N, 1).double() + 0.5) / N
x = torch.exp(0.5 * inverse_normal_cdf(grid)).requires_grad_()
u = pit(x)
steps = torch.arange(N + 1, dtype=torch.float64).reshape(-1, 1) / N
sorted_u = u.sort(0).values
gap = torch.maximum((steps[1:] - sorted_u).abs(), (steps[:-1] - sorted_u).abs()).max().item()
print(f"input:   skewness {skewness(x.detach()):.2f}")
print(f"BN:      mean {abs(bn(x).mean().item()):.3f}, variance {bn(x).var(unbiased=False).item():.3f},"
      f" skewness {skewness(bn(x).detach()):.2f}")
print(f"PIT:     mean {u.mean().item():.3f}, variance {u.var(unbiased=False).item():.4f}"
      f" (uniform: 0.500, {1 / 12:.4f}); largest gap to the uniform CDF {gap:.5f} = 1/(2N)")
print(f"PIT, then the inverse normal CDF: skewness {skewness(inverse_normal_cdf(u)):.2f}")
print("a gradient reaches x through the ranks:", u.requires_grad)

gap_skewed = (normal_cdf(bn(x.detach())) - u).abs().max().item()
z = torch.randn(N, 1, dtype=torch.float64)   # Gaussian values, drawn at random
gap_gaussian = (normal_cdf(bn(z)) - pit(z)).abs().max().item()
print(f"normal CDF of BN's output against the PIT, largest difference: skewed input {gap_skewed:.2f},"
      f" Gaussian input below 0.05: {gap_gaussian < 0.05}")
