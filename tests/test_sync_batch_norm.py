"""bnref.SyncBatchNorm: K processes with N/K samples each == one process on N.

Here: one process (a world of one, no process group) and the argument checks.
The two-process comparison (2 CPU processes on gloo, an uneven 5 + 3 split,
against ``bnref.BatchNorm`` on the whole batch in one process) is
tests/test_sync_check.py, which runs ``python -m bnref sync-check``'s check once
and holds its committed file to it.
"""

import pytest
import torch
import torch.distributed as dist

from bnref.experiments.sync_check import batch, one_process
from bnref.norm.sync_batch_norm import SyncBatchNorm, sync_batch_norm


@pytest.fixture
def world_of_one():
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    yield
    dist.destroy_process_group()


@pytest.mark.parametrize("shape", [(6, 4), (4, 3, 5, 5)])
def test_world_of_one_is_batchnorm(world_of_one, shape):
    X, dY = batch(shape)
    ours, ref = one_process(X, dY, SyncBatchNorm), one_process(X, dY)
    for key in ref:
        torch.testing.assert_close(ours[key].reshape(ref[key].shape), ref[key],
                                   rtol=1e-5, atol=1e-5, msg=key)


def test_world_of_one_gradcheck_float64(world_of_one):
    X = torch.randn(4, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    gamma = torch.rand(2, dtype=torch.float64, requires_grad=True)
    beta = torch.rand(2, dtype=torch.float64, requires_grad=True)
    zeros, ones = torch.zeros(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64)

    def f(X, gamma, beta):
        return sync_batch_norm(X, gamma, beta, zeros, ones, 1e-5, 0.9, training=True)[0]

    assert torch.autograd.gradcheck(f, (X, gamma, beta))


def test_without_a_process_group_it_is_batchnorm_and_matches_torch():
    assert not dist.is_initialized()
    X, dY = batch()
    ours, ref = one_process(X, dY, SyncBatchNorm), one_process(X, dY)
    for key in ref:
        assert torch.equal(ours[key], ref[key]), key
    # torch.nn.SyncBatchNorm without a group is F.batch_norm: same output; its
    # running variance is unbiased (N/(N-1)) and its momentum is 1 - 0.9.
    torch_bn = torch.nn.SyncBatchNorm(3, momentum=0.1).train()
    ours_bn = SyncBatchNorm(3, num_dims=4)
    torch.testing.assert_close(ours_bn(X), torch_bn(X), rtol=1e-5, atol=1e-5)
    n = X.numel() // X.shape[1]
    torch.testing.assert_close(ours_bn.moving_mean.reshape(-1), torch_bn.running_mean)
    unbiased = 0.9 + 0.1 * X.var(dim=(0, 2, 3), correction=1)
    biased = 0.9 + 0.1 * X.var(dim=(0, 2, 3), correction=1) * (n - 1) / n
    torch.testing.assert_close(torch_bn.running_var, unbiased)
    torch.testing.assert_close(ours_bn.moving_var.reshape(-1), biased)


def test_wrong_channels_raise_the_batchnorm_error():
    with pytest.raises(ValueError, match=r"expects 3 features/channels.*got shape \(2, 4, 5, 5\)"):
        SyncBatchNorm(3, num_dims=4)(torch.randn(2, 4, 5, 5))
