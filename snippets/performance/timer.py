# Time the readable bnref.batch_norm against PyTorch's F.batch_norm with torch.utils.benchmark.
import torch
import torch.nn.functional as F
from torch.utils import benchmark

import bnref

X = torch.randn(32, 16, 8, 8)
gamma, beta = torch.ones(16), torch.zeros(16)
mean, var = torch.zeros(16), torch.ones(16)
calls = {
    "bnref.batch_norm": "bnref.batch_norm(X, gamma, beta, mean, var, 1e-5, 0.9, training=True)",
    "F.batch_norm": "F.batch_norm(X, mean.clone(), var.clone(), gamma, beta, training=True)",
}
namespace = {"bnref": bnref, "F": F, "X": X, "gamma": gamma, "beta": beta,
             "mean": mean, "var": var}
measurements = [
    benchmark.Timer(stmt, globals=namespace, num_threads=1, label="batch norm, training forward",
                    sub_label="x".join(map(str, X.shape)), description=name)
    .blocked_autorange(min_run_time=0.2)
    for name, stmt in calls.items()]

Y, _, _ = bnref.batch_norm(X, gamma, beta, mean, var, 1e-5, 0.9, training=True)
print("same output:", torch.allclose(Y, F.batch_norm(X, mean.clone(), var.clone(), gamma, beta,
                                                      training=True), atol=1e-5))
print(f"timed: {', '.join(m.description for m in measurements)}; "
      f"{measurements[0].label}, {measurements[0].sub_label}")
# benchmark.Compare(measurements).print()  # the medians side by side: they differ by machine
