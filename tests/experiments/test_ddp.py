"""The ddp command (bnref.experiments.commands.ddp): K processes under DDP against one.

Two CPU processes on the gloo backend (127.0.0.1, a free port) train the
note's LeNet-BN for a few steps on real Fashion-MNIST, each on its shard of
every global batch, once with plain BN and once with bnref.SyncBatchNorm
(``ddp.compare_with_one_process``, the same function the command stores in
its results file); one process trains the same network on the concatenated
batches. With SyncBatchNorm the processes end with identical parameters and
moving statistics, equal to the one-process run's to float tolerance: the
mean loss per process averaged by DDP is the one process's mean loss. With
plain BN they do not. The shards of a step are the one process's batch. The
command itself runs in test_commands.py (a real torchrun launch of 2
processes for 6 steps: SyncBatchNorm's losses are the one process's, the
file, resuming, the replay, the committed file and its page); the committed
file's numbers are replayed by tests/experiments/test_replay.py.
"""

from __future__ import annotations

import pytest
import torch

from bnref.experiments.commands import ddp


@pytest.fixture(scope="module")
def two_processes():
    return ddp.compare_with_one_process(world_size=2, batch=4, steps=5, seed=0)


def test_sync_processes_equal_one_process_and_per_process_bn_does_not(two_processes):
    sync, bn = two_processes["sync"], two_processes["bn"]
    print(f"\n2 processes x 4 vs 1 x 8, 5 steps: sync {sync}, per-process BN {bn}")
    # every process of the group holds the same network (DDP, and the same statistics)
    assert sync["params_across_processes"] == 0.0 and sync["stats_across_processes"] == 0.0
    assert sync["params_vs_one"] < 1e-5 and sync["stats_vs_one"] < 1e-5
    # per-process BN: the same parameters on both processes (DDP), but not the one process's,
    # and each process's moving statistics are its own shard's
    assert bn["params_across_processes"] == 0.0
    assert bn["params_vs_one"] > 1e-3 and bn["stats_vs_one"] > 1e-2
    assert bn["stats_across_processes"] > 1e-2


def test_the_shards_of_a_step_are_the_one_process_batch():
    X, y = torch.arange(60).float().reshape(60, 1), torch.arange(60)
    one = ddp.Shards(X, y, batch=12, world_size=1, seed=3)
    shards = [ddp.Shards(X, y, batch=3, rank=k, world_size=4, seed=3) for k in range(4)]
    assert len(one) == len(shards[0]) == 5
    epochs = []
    for _ in range(2):  # each pass shuffles again (set_epoch), the same on every process
        batches = [(Xb, yb) for Xb, yb in one]
        for (Xb, yb), parts in zip(batches, zip(*shards)):
            assert torch.equal(Xb.flatten(), yb.float())  # images and labels stay together
            assert sorted(i for _, part in parts for i in part.tolist()) == sorted(yb.tolist())
        epochs.append([yb.tolist() for _, yb in batches])
    assert epochs[0] != epochs[1]
