"""Test-only helper: run bnref.SyncBatchNorm on several CPU processes (gloo).

Used by tests/test_sync_batch_norm.py; it lives here, not in the package,
because nothing but the tests calls it.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from bnref import SyncBatchNorm


def split_run(X: torch.Tensor, dY: torch.Tensor, world_size: int = 2,
              sizes: list[int] | None = None, steps: int = 2) -> list[dict]:
    """Run :class:`SyncBatchNorm` on ``world_size`` CPU processes, each on a slice.

    Starts ``world_size`` processes (``torch.multiprocessing.spawn``) that
    join a ``gloo`` group on ``127.0.0.1``. Process ``k`` takes its slice of
    ``X`` and ``dY`` along dim 0 (``sizes`` samples each; default: equal
    slices), runs ``steps`` training forward/backward passes of a fresh
    ``SyncBatchNorm(C, X.dim())`` with ``sum(Y * dY)`` as loss, then one
    evaluation pass. Returns, per process, a dict of CPU tensors: ``Y``,
    ``dX``, ``dgamma``, ``dbeta`` (last training step), ``moving_mean``,
    ``moving_var``, ``Y_eval``; and ``torch_sync_error``: what
    ``torch.nn.SyncBatchNorm`` raises in training on CPU (``""`` if nothing).
    """
    import os
    import socket
    import tempfile

    import torch.multiprocessing as mp

    sizes = sizes or [X.shape[0] // world_size] * world_size
    if sum(sizes) != X.shape[0] or len(sizes) != world_size:
        raise ValueError(f"sizes must be {world_size} numbers adding up to N={X.shape[0]}; "
                         f"got {sizes}")
    with socket.socket() as s:  # a free port on the loopback interface
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    chunks = list(zip(X.detach().cpu().split(sizes), dY.detach().cpu().split(sizes)))
    with tempfile.TemporaryDirectory() as folder:
        mp.spawn(_split_worker, args=(world_size, port, chunks, steps, folder),
                 nprocs=world_size, join=True)
        return [torch.load(os.path.join(folder, f"{rank}.pt")) for rank in range(world_size)]


def _split_worker(rank, world_size, port, chunks, steps, folder):
    import os

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}",
                            rank=rank, world_size=world_size)
    try:
        X, dY = chunks[rank]
        bn = SyncBatchNorm(X.shape[1], num_dims=X.dim())
        for _ in range(steps):
            bn.zero_grad()
            x = X.clone().requires_grad_()
            Y = bn(x)
            (Y * dY).sum().backward()
        result = {"Y": Y.detach(), "dX": x.grad, "dgamma": bn.gamma.grad.clone(),
                  "dbeta": bn.beta.grad.clone(), "moving_mean": bn.moving_mean.clone(),
                  "moving_var": bn.moving_var.clone()}
        with torch.no_grad():
            result["Y_eval"] = bn.eval()(X)
        try:  # torch's own SyncBatchNorm, in training, on CPU tensors
            torch.nn.SyncBatchNorm(X.shape[1]).train()(X if X.dim() == 4 else X[:, :, None])
            result["torch_sync_error"] = ""
        except Exception as err:  # noqa: BLE001 - report whatever torch raises
            result["torch_sync_error"] = f"{type(err).__name__}: {err}"
        torch.save(result, os.path.join(folder, f"{rank}.pt"))
    finally:
        dist.destroy_process_group()
