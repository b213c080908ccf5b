"""K processes against one, parameter by parameter: the check behind ``python -m bnref ddp``.

Trains per-process BN and :class:`bnref.SyncBatchNorm` for a few steps on ``world_size`` CPU
processes (gloo on 127.0.0.1) and compares their parameters and moving statistics with one
process on the whole batch; the command stores the result, ``tests/test_ddp.py`` asserts it.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

__all__ = ["compare_with_one_process"]


def compare_with_one_process(world_size: int = 2, batch: int = 4, steps: int = 5, seed: int = 0,
                             base_lr: float = 1.0) -> dict:
    """Train ``bn`` and ``sync`` on ``world_size`` CPU processes (gloo, 127.0.0.1) for a few
    steps and compare with one process on the whole batch.

    Returns, per mode, the max abs difference between the processes' parameters
    (``params_across_processes``) and moving statistics (``stats_across_processes``), and
    between process 0's and the one-process run's (``params_vs_one``, ``stats_vs_one``);
    plus the settings.
    """
    import tempfile

    import torch.multiprocessing as mp

    from bnref.experiments import ddp

    settings = {"world_size": world_size, "batch": batch, "steps": steps, "seed": seed,
                "base_lr": base_lr, "backend": "gloo", "device": "cpu"}
    with tempfile.TemporaryDirectory() as folder:
        mp.spawn(_compare_worker, args=(world_size, ddp._free_port(), settings, folder),
                 nprocs=world_size, join=True)
        states = {mode: [torch.load(os.path.join(folder, f"{mode}-{r}.pt"))
                         for r in range(world_size)] for mode in ("bn", "sync")}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ref = ddp.train("one", batch * world_size, seed, steps, base_lr)[0].state_dict()
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
    from bnref.experiments import ddp

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world_size)
    try:
        for mode in ("bn", "sync"):
            net = ddp.train(mode, settings["batch"], settings["seed"], settings["steps"],
                            settings["base_lr"], rank=rank, world_size=world_size)[0]
            torch.save(net.state_dict(), os.path.join(folder, f"{mode}-{rank}.pt"))
    finally:
        dist.destroy_process_group()
