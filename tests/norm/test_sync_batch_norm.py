"""bnref.SyncBatchNorm: K processes with N/K samples each == one process on N.

Here: one process (a world of one, no process group), the argument checks, and
the conversion of a network's BatchNorm layers. The two-process comparison
(2 CPU processes on gloo, an uneven 5 + 3 split, against ``bnref.BatchNorm`` on
the whole batch in one process) is tests/experiments/test_sync_check.py, which
runs ``python -m bnref sync-check``'s check once and holds its committed file
to it; training under DistributedDataParallel, tests/experiments/test_ddp.py.
"""

import pytest
import torch
import torch.distributed as dist

from bnref import BatchNorm
from bnref.experiments.commands.sync_check import batch, one_process
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


def test_convert_sync_batchnorm_keeps_the_state_and_refuses_subclasses():
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), BatchNorm(3, num_dims=2))
    net(torch.randn(8, 4))
    with torch.no_grad():
        net[1].gamma.mul_(2)
    state = {k: v.clone() for k, v in net.state_dict().items()}
    net.eval()
    out = SyncBatchNorm.convert_sync_batchnorm(net)
    assert out is net and type(net[1]) is SyncBatchNorm and not net[1].training
    assert net[1].momentum == 0.9 and net[1].eps == 1e-5
    for k, v in net.state_dict().items():
        assert torch.equal(v, state[k]), k

    class MeanOnly(BatchNorm):
        pass

    with pytest.raises(TypeError, match=r"layer 'module.1' is a MeanOnly, a subclass"):
        SyncBatchNorm.convert_sync_batchnorm(torch.nn.Sequential(torch.nn.Identity(),
                                                                 MeanOnly(3, num_dims=2)))
