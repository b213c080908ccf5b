"""bnref.SyncBatchNorm: K processes with N/K samples each == one process on N.

The two-process comparison spawns 2 CPU processes on the gloo backend
(127.0.0.1, a free port) once for the module, through
``bnref.experiments.sync_check.split_run`` (the function behind
``python -m bnref sync-check``, whose committed file tests/test_sync_check.py
checks); the reference is ``bnref.BatchNorm`` run in this process on the whole
batch.
"""

import pytest
import torch
import torch.distributed as dist

from bnref.experiments.sync_check import batch, differences, one_process, split_run
from bnref.norm.sync_batch_norm import SyncBatchNorm, sync_batch_norm

SIZES = [5, 3]  # an uneven split: the counts are all-reduced too
STEPS = 2       # two steps, so the moving statistics are updated twice


@pytest.fixture(scope="module")
def two_processes():
    X, dY = batch()
    return X, dY, split_run(X, dY, world_size=2, sizes=SIZES, steps=STEPS)


def max_abs(a, b):
    return (a.reshape(b.shape) - b).abs().max().item()


def test_two_processes_match_one_process_on_the_whole_batch(two_processes):
    X, dY, runs = two_processes
    diffs = differences(runs["sync"], one_process(X, dY, steps=STEPS))
    for name, diff in diffs.items():
        assert diff < 1e-5, f"{name}: max abs diff {diff:.2e}, expected < 1e-5"


def test_per_process_statistics_would_differ(two_processes):
    """Without synchronization each process normalizes with its own slice: not the same."""
    X, dY, runs = two_processes
    local = torch.cat([one_process(x, d, steps=1)["Y"]
                       for x, d in zip(X.split(SIZES), dY.split(SIZES))])
    synced = torch.cat([r["Y"] for r in runs["sync"]])
    assert max_abs(local, synced) > 0.05


def test_torch_sync_batch_norm_needs_a_gpu_for_training(two_processes):
    """torch.nn.SyncBatchNorm refuses CPU tensors in training inside a process group."""
    _, _, runs = two_processes
    for error in runs["torch_sync_error"]:
        assert "expected input tensor to be on GPU" in error


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
