# The moving statistics are an exponential moving average (not a Kalman filter).
#
# With the d2l convention moving <- m * moving + (1 - m) * batch_stat, after k
# steps from the initial value moving_0:
#
#     moving_k = m^k * moving_0 + sum_{i=1..k} (1 - m) * m^(k-i) * batch_stat_i
#
# so the weights fall geometrically with age; the gain 1 - m stays fixed instead of
# shrinking like the 1/k of the cumulative average (the "Kalman gain" the note
# derives), and the weights never settle.
import torch

from bnref.note import batch_norm  # the note's code, verbatim

m, k = 0.9, 5
batches = [torch.linspace(0.0, 2.0, 16).reshape(-1, 1) + i for i in range(k)]  # means 1..5
ones, zeros = torch.ones(1), torch.zeros(1)
moving_0 = torch.tensor([2.0])                 # any starting value

moving_mean = moving_0
for X in batches:
    _, moving_mean, _ = batch_norm(X, ones, zeros, moving_mean, ones, 1e-5, m)

weights = [(1 - m) * m ** (k - i) for i in range(1, k + 1)]   # batch 1 first, newest last
print("EMA weights of batches 1..5:", [round(w, 4) for w in weights])
print("weight left on the initial value:", round(m ** k, 4))
print("cumulative-average gains 1/k:   ", [round(1 / i, 4) for i in range(1, k + 1)])
expected = m ** k * moving_0 + sum(w * X.mean() for w, X in zip(weights, batches))
print("note's moving_mean equals the weighted sum:", torch.allclose(moving_mean, expected))
