"""The training behind ``python -m bnref ddp`` (:mod:`bnref.experiments.commands.ddp`): one
LeNet-BN run on K processes or on one, the shards each process sees, and the check of K
processes against one, parameter by parameter. Shared by the command, its torchrun workers, the
replay and ``tests/experiments/test_ddp.py``.
"""

from __future__ import annotations

import os
import tempfile
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from bnref import BatchNorm, SyncBatchNorm
from bnref.convert import to_torch
from bnref.d2l.data import fashion_mnist_tensors
from bnref.d2l.train import fit, init_weights
from bnref.experiments.harness.processes import free_port
from bnref.models import lenet_variant

__all__ = ["MODES", "Shards", "build", "train", "replay_losses", "compare_with_one_process"]

#: the distributed arms, in the table's order (``one``: the one-process reference)
MODES = ("bn", "sync", "torch-sync")



class Shards:
    """This process's minibatches of one global shuffle of the training set.

    ``DistributedSampler`` (one shuffle per epoch from ``seed + epoch``, the
    same on every process; process ``rank`` takes every ``world_size``-th
    index) and ``BatchSampler`` of ``batch`` (incomplete batches dropped), the
    images sliced from the tensors in one step. With ``world_size=1`` and
    ``batch = K*b`` it yields, at every step, the union of the ``K`` shards.
    """

    def __init__(self, X, y, batch: int, rank: int = 0, world_size: int = 1, seed: int = 0):
        from torch.utils.data import BatchSampler, DistributedSampler

        self.X, self.y, self.epoch = X, y, 0
        self.sampler = DistributedSampler(range(len(X)), num_replicas=world_size, rank=rank,
                                          shuffle=True, seed=seed)
        self.batches = BatchSampler(self.sampler, batch, drop_last=True)

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        self.sampler.set_epoch(self.epoch)
        self.epoch += 1
        for idx in self.batches:
            idx = torch.tensor(idx)
            yield self.X[idx], self.y[idx]


def build(mode: str, device="cpu") -> torch.nn.Module:
    """LeNet-BN, xavier-initialized from the current random state, with ``mode``'s layers."""
    from torch import nn

    net = lenet_variant()
    net.apply(init_weights)
    if mode == "sync":
        net = SyncBatchNorm.convert_sync_batchnorm(net)
    elif mode == "torch-sync":
        for i, layer in enumerate(net):
            if isinstance(layer, BatchNorm):
                net[i] = to_torch(layer)
        net = nn.SyncBatchNorm.convert_sync_batchnorm(net)
    elif mode not in ("bn", "one"):
        raise ValueError(f"mode must be one of {', '.join((*MODES, 'one'))}; got {mode!r}")
    return net.to(device)


def train(mode: str, batch: int, seed: int, steps: int, base_lr: float, *, rank: int = 0,
          world_size: int = 1, device="cpu", progress: bool = False):
    """Train one run; every process of the group calls it (``mode="one"``: no group needed).

    ``batch`` is this process's; the learning rate is ``base_lr * batch * world_size / 256``.
    Returns ``(net, history, losses, seconds)``: the trained network (unwrapped), ``fit``'s
    :class:`~bnref.d2l.train.History`, each step's loss over the whole batch (the mean of
    the processes' losses) and the wall seconds of ``fit``.
    """
    from torch.nn.parallel import DistributedDataParallel

    device = torch.device(device)
    torch.manual_seed(seed)
    net = build(mode, device)
    X, y = fashion_mnist_tensors(train=True)
    loader = Shards(X, y, batch, rank, world_size, seed)
    model = net
    if mode != "one":
        model = DistributedDataParallel(
            net, device_ids=[device.index] if device.type == "cuda" else None)
    began = time.perf_counter()
    history = fit(model, loader, lr=base_lr * batch * world_size / 256, epochs=None,
                  max_steps=steps, init=None, device=device, record_losses=steps,
                  stop_on_nonfinite=False, progress=progress,
                  desc=f"{mode} {world_size}x{batch} seed {seed}")
    seconds = time.perf_counter() - began
    losses = history.step_losses
    if mode != "one" and world_size > 1:
        gathered = [None] * world_size
        dist.all_gather_object(gathered, losses)
        losses = [sum(step) / world_size for step in zip(*gathered)]
    return net, history, losses, seconds


def replay_losses(run: dict, steps: int) -> list[float]:
    """The first ``steps`` losses of a one-process reference run (``batch``, ``base_lr``,
    ``seed``), on the CPU: what the test suite replays."""
    return train("one", run["batch"], run["seed"], steps, run["base_lr"])[2]


# ---- K processes against one, parameter by parameter ----

def compare_with_one_process(world_size: int = 2, batch: int = 4, steps: int = 5, seed: int = 0,
                             base_lr: float = 1.0) -> dict:
    """Train ``bn`` and ``sync`` on ``world_size`` CPU processes (gloo, 127.0.0.1) for a few
    steps and compare with one process on the whole batch.

    Returns, per mode, the max abs difference between the processes' parameters
    (``params_across_processes``) and moving statistics (``stats_across_processes``), and
    between process 0's and the one-process run's (``params_vs_one``, ``stats_vs_one``);
    plus the settings.
    """
    settings = {"world_size": world_size, "batch": batch, "steps": steps, "seed": seed,
                "base_lr": base_lr, "backend": "gloo", "device": "cpu"}
    with tempfile.TemporaryDirectory() as folder:
        mp.spawn(_compare_worker, args=(world_size, free_port(), settings, folder),
                 nprocs=world_size, join=True)
        states = {mode: [torch.load(os.path.join(folder, f"{mode}-{r}.pt"))
                         for r in range(world_size)] for mode in ("bn", "sync")}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ref = train("one", batch * world_size, seed, steps, base_lr)[0].state_dict()
    finally:
        torch.set_num_threads(threads)

    def diff(a: dict, b: dict, stats: bool) -> float:
        keys = [k for k in a if k.endswith(("moving_mean", "moving_var")) == stats]
        return max((a[k] - b[k]).abs().max().item() for k in keys)

    result = {**settings}
    for mode, ranks in states.items():
        result[mode] = {
            "params_across_processes": max(diff(r, ranks[0], False) for r in ranks),
            "stats_across_processes": max(diff(r, ranks[0], True) for r in ranks),
            "params_vs_one": diff(ranks[0], ref, False),
            "stats_vs_one": diff(ranks[0], ref, True)}
    return result


def _compare_worker(rank, world_size, port, settings, folder):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world_size)
    try:
        for mode in ("bn", "sync"):
            net = train(mode, settings["batch"], settings["seed"], settings["steps"],
                            settings["base_lr"], rank=rank, world_size=world_size)[0]
            torch.save(net.state_dict(), os.path.join(folder, f"{mode}-{rank}.pt"))
    finally:
        dist.destroy_process_group()
