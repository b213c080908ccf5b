# How many new tensors as large as X one call writes, implementation by implementation
# (recorded with a TorchDispatchMode; views and per-channel reductions are not counted).
from bnref.experiments.commands import bench

for impl in bench.EAGER_IMPLS:
    print(f"{impl:5}  train {len(bench.full_size_ops(impl, 'train')):2}"
          f"  eval {len(bench.full_size_ops(impl, 'eval')):2}")
print(bench.full_size_ops("bnref", "train")[:4])  # forward: x - mu, square, factor, beta
