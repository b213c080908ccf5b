"""bnref.d2l.data.TensorLoader, the fast data path: it samples like DataLoader(shuffle=True).

One tensor on the device, minibatches sliced from a fresh permutation every
epoch (drawn from torch's global generator, so the seed fixes the order), the
last batch partial, images kept with their labels.
"""

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from bnref.d2l.data import TensorLoader


def _epoch(loader):
    return [y.tolist() for _, y in loader]


def test_tensor_loader_batches_like_dataloader_with_last_partial_batch():
    X, y = torch.randn(10, 1, 2, 2), torch.arange(10)
    fast = TensorLoader(X, y, 4, shuffle=True)
    reference = DataLoader(TensorDataset(X, y), 4, shuffle=True)
    assert len(fast) == len(reference) == 3
    assert [len(b) for b in _epoch(fast)] == [len(b) for b in _epoch(reference)] == [4, 4, 2]


def test_tensor_loader_draws_a_fresh_permutation_every_epoch():
    X, y = torch.randn(50, 3), torch.arange(50)
    loader = TensorLoader(X, y, 8, shuffle=True)
    torch.manual_seed(0)
    orders = [sum(_epoch(loader), []) for _ in range(3)]
    for order in orders:
        assert sorted(order) == list(range(50))  # every example exactly once per epoch
    assert orders[0] != orders[1] != orders[2]
    for Xb, yb in loader:  # images stay paired with their labels
        assert torch.equal(Xb, X[yb])
    torch.manual_seed(0)
    assert sum(_epoch(loader), []) == orders[0]  # the seed fixes the order


def test_tensor_loader_without_shuffle_keeps_the_order():
    X, y = torch.randn(7, 2), torch.arange(7)
    assert sum(_epoch(TensorLoader(X, y, 3)), []) == list(range(7))


def test_tensor_loader_rejects_bad_arguments():
    with pytest.raises(ValueError, match="batch_size must be >= 1; got 0"):
        TensorLoader(torch.zeros(3, 2), torch.zeros(3), 0)
    with pytest.raises(ValueError, match="X has 3 items but y has 2"):
        TensorLoader(torch.zeros(3, 2), torch.zeros(2), 1)
