# Exercise 8: BN with a full covariance matrix (ZCA whitening) next to BN's diagonal one.
#
# Four features, the first three strongly correlated, in a batch of 1024. BN
# standardizes each feature alone and leaves the correlations; ZCA whitening,
# (X - mean) times the inverse square root of the batch covariance, makes the
# covariance the identity (Huang et al. 2018, "Decorrelated Batch Normalization").
# Then a batch smaller than the number of features, as after the note's
# 120-unit layer with 64 examples: its covariance has rank 63 at most, and the
# whitened batch puts every example at the same distance from every other.
import torch

import bnref

_ = torch.manual_seed(0)


def bn(X):
    d = X.shape[1]
    ones, zeros = torch.ones(d, dtype=X.dtype), torch.zeros(d, dtype=X.dtype)
    return bnref.batch_norm(X, ones, zeros, zeros, ones, eps=1e-5, momentum=0.9, training=True)[0]


def covariance(X):
    Xc = X - X.mean(0)
    return Xc.T @ Xc / X.shape[0]


def zca(X, tol=1e-9):
    """Whiten with the inverse square root of the covariance; directions with no variance are dropped."""
    values, vectors = torch.linalg.eigh(covariance(X))
    scale = torch.where(values > tol, values.clamp(min=tol).rsqrt(), torch.zeros_like(values))
    return (X - X.mean(0)) @ vectors @ torch.diag(scale) @ vectors.T


def largest_correlation(X):
    C = covariance(X)
    R = C / torch.sqrt(torch.outer(C.diagonal(), C.diagonal()))
    return (R - torch.eye(len(R), dtype=X.dtype)).abs().max().item()


def identity_gap(X):
    C = covariance(X)
    return (C - torch.eye(len(C), dtype=X.dtype)).abs().max().item()


mix = torch.tensor([[1.0, 0.8, 0.6, 0.0],
                    [0.0, 0.6, 0.3, 0.0],
                    [0.0, 0.0, 0.7, 0.0],
                    [0.0, 0.0, 0.0, 1.0]], dtype=torch.float64)
X = 3 * torch.randn(1024, 4, dtype=torch.float64) @ mix + 1
print(f"input: largest correlation between two features {largest_correlation(X):.1f}")
print(f"BN:    largest correlation {largest_correlation(bn(X)):.1f}; "
      f"covariance is the identity: {identity_gap(bn(X)) < 1e-3}")
print(f"ZCA:   largest correlation {largest_correlation(zca(X)):.1f}; "
      f"covariance is the identity: {identity_gap(zca(X)) < 1e-3}")


def distances_all_equal(Y):
    D = torch.cdist(Y, Y)
    off = D[~torch.eye(len(D), dtype=torch.bool)]
    return (off.max() - off.min()).item() < 1e-6 * off.max().item()


small = torch.randn(64, 120, dtype=torch.float64)
print("64 examples, 120 features: rank of the batch covariance",
      torch.linalg.matrix_rank(covariance(small)).item())
print("after ZCA, every pair of examples at the same distance:", distances_all_equal(zca(small)))
print("after BN,  every pair of examples at the same distance:", distances_all_equal(bn(small)))
