"""Two processes against one: bnref.SyncBatchNorm on an uneven split, layer by layer.

Starts two CPU processes (gloo on 127.0.0.1), splits a batch of 8 samples
unevenly between them (5 + 3), and runs a fresh layer on each slice: two
training steps (loss ``sum(Y * dY)``), then one evaluation pass. The same batch
goes through ``bnref.BatchNorm`` in one process. Stored per quantity: the max
abs difference from the one process of the outputs, input gradients, γ and β
gradients (summed over the processes, as ``DistributedDataParallel`` sums
them), moving mean, moving variance and eval-mode outputs; once for
``bnref.SyncBatchNorm`` and once for per-process ``bnref.BatchNorm`` (each
process with its own slice's statistics: what synchronizing avoids). Every
process, and the one-process reference, uses one torch thread, with fixed
inputs, so a rerun on the same machine gives the same numbers.

Writes ``sync-check-cpu.json`` (the settings, the differences, the error
``torch.nn.SyncBatchNorm`` raises in training on CPU tensors, a hash of the
checked code, the provenance, and a ``replay`` entry: the same differences computed in float64,
which :func:`bnref.experiments.harness.replay.check` recomputes through
:func:`replay_losses`, as it does for every results file; ``tests/experiments/test_replay.py``
holds the file to the code in float64 at the replay's tolerance, and
``tests/experiments/test_sync_check.py`` holds the printed float32 table to the same claims
on any machine). A few seconds.
"""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path

import torch
import torch.distributed as dist

from bnref import BatchNorm, SyncBatchNorm
from bnref.experiments.harness import record, replay
from bnref.experiments.harness.processes import free_port

__all__ = ["batch", "one_process", "split_run", "differences", "compare_split", "checked",
           "replay_losses", "QUANTITIES", "CHECKED_MODULES"]

#: the quantities compared, in the order the page prints them
QUANTITIES = ("outputs", "input grads", "gamma grad", "beta grad", "moving_mean", "moving_var",
              "eval outputs")
#: the code whose numbers the file holds (hashed into the file, to judge staleness)
CHECKED_MODULES = ("bnref.norm", "bnref.experiments.commands.sync_check")
LAYERS = ("sync", "bn")


def _layer(name: str):
    return {"sync": SyncBatchNorm, "bn": BatchNorm}[name]


def batch(shape: tuple = (8, 3, 4, 4), seed: int = 0,
          dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """The inputs ``X`` (mean 1, std 3) and the output gradients ``dY`` of the check, in ``dtype``.

    Drawn in float64 and then rounded to ``dtype``: PyTorch draws float32 normal numbers
    with vector code that depends on the instruction set, float64 ones with the same scalar
    code everywhere, so every machine, and the float64 replay, checks the same batch."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(shape, generator=g, dtype=torch.float64) * 3 + 1
    return X.to(dtype), torch.randn(shape, generator=g, dtype=torch.float64).to(dtype)


def one_process(X: torch.Tensor, dY: torch.Tensor, module=None, steps: int = 2) -> dict:
    """Run a fresh ``module(C, num_dims=X.dim())`` (default :class:`bnref.BatchNorm`) for
    ``steps`` training steps with ``sum(Y * dY)`` as loss, then one evaluation pass.

    Returns ``Y``, ``dX``, ``dgamma``, ``dbeta`` (last training step), ``moving_mean``,
    ``moving_var`` and ``Y_eval``. The layer computes in ``X``'s dtype.
    """
    bn = (module or _layer("bn"))(X.shape[1], num_dims=X.dim()).to(X.dtype)
    for _ in range(steps):
        bn.zero_grad()
        x = X.clone().requires_grad_()
        Y = bn(x)
        (Y * dY).sum().backward()
    with torch.no_grad():
        Y_eval = bn.eval()(X)
    return {"Y": Y.detach(), "dX": x.grad, "dgamma": bn.gamma.grad.clone(),
            "dbeta": bn.beta.grad.clone(), "moving_mean": bn.moving_mean.clone(),
            "moving_var": bn.moving_var.clone(), "Y_eval": Y_eval}


def split_run(X: torch.Tensor, dY: torch.Tensor, world_size: int = 2,
              sizes: list[int] | None = None, steps: int = 2,
              layers: tuple[str, ...] = ("sync",)) -> dict:
    """Run each of ``layers`` on ``world_size`` CPU processes (gloo, 127.0.0.1), each on a slice.

    Process ``k`` takes its slice of ``X`` and ``dY`` along dim 0 (``sizes`` samples each;
    default: equal slices) and runs :func:`one_process` on it with a fresh
    ``bnref.SyncBatchNorm`` (``"sync"``) or ``bnref.BatchNorm`` (``"bn"``), one torch thread.
    Returns ``{layer: [one_process's dict, per process], "torch_sync_error": [per process]}``:
    the latter is what ``torch.nn.SyncBatchNorm`` raises in training on CPU (``""`` if nothing).
    """
    import tempfile

    import torch.multiprocessing as mp

    sizes = list(sizes or [X.shape[0] // world_size] * world_size)
    if sum(sizes) != X.shape[0] or len(sizes) != world_size:
        raise ValueError(f"sizes must be {world_size} numbers adding up to N={X.shape[0]}; "
                         f"got {sizes}")
    chunks = list(zip(X.detach().cpu().split(sizes), dY.detach().cpu().split(sizes)))
    with tempfile.TemporaryDirectory() as folder:
        mp.spawn(_split_worker, args=(world_size, free_port(), chunks, steps, tuple(layers),
                                      folder), nprocs=world_size, join=True)
        ranks = [torch.load(os.path.join(folder, f"{rank}.pt")) for rank in range(world_size)]
    return {**{layer: [r[layer] for r in ranks] for layer in layers},
            "torch_sync_error": [r["torch_sync_error"] for r in ranks]}


def _split_worker(rank, world_size, port, chunks, steps, layers, folder):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}",
                            rank=rank, world_size=world_size)
    try:
        X, dY = chunks[rank]
        result = {layer: one_process(X, dY, _layer(layer), steps) for layer in layers}
        try:  # torch's own SyncBatchNorm, in training, on CPU tensors
            torch.nn.SyncBatchNorm(X.shape[1]).train()(X if X.dim() == 4 else X[:, :, None])
            result["torch_sync_error"] = ""
        except Exception as err:  # noqa: BLE001 - report whatever torch raises
            result["torch_sync_error"] = f"{type(err).__name__}: {err}"
        torch.save(result, os.path.join(folder, f"{rank}.pt"))
    finally:
        dist.destroy_process_group()


def differences(ranks: list[dict], ref: dict) -> dict:
    """Max abs difference of each of :data:`QUANTITIES` between the processes (outputs and
    input gradients concatenated, γ/β gradients summed, moving statistics of every process)
    and the one-process run ``ref``."""
    def max_abs(a, b):
        return (a.reshape(b.shape) - b).abs().max().item()

    return {
        "outputs": max_abs(torch.cat([r["Y"] for r in ranks]), ref["Y"]),
        "input grads": max_abs(torch.cat([r["dX"] for r in ranks]), ref["dX"]),
        # gamma/beta grads are local, as in torch.nn.SyncBatchNorm; DDP sums them
        "gamma grad": max_abs(sum(r["dgamma"] for r in ranks), ref["dgamma"]),
        "beta grad": max_abs(sum(r["dbeta"] for r in ranks), ref["dbeta"]),
        "moving_mean": max(max_abs(r["moving_mean"], ref["moving_mean"]) for r in ranks),
        "moving_var": max(max_abs(r["moving_var"], ref["moving_var"]) for r in ranks),
        "eval outputs": max_abs(torch.cat([r["Y_eval"] for r in ranks]), ref["Y_eval"]),
    }


def compare_split(shape: tuple = (8, 3, 4, 4), sizes: tuple = (5, 3), steps: int = 2,
                  seed: int = 0, dtype: torch.dtype = torch.float32) -> dict:
    """The check: ``bnref.SyncBatchNorm`` and per-process ``bnref.BatchNorm`` on
    ``len(sizes)`` processes against ``bnref.BatchNorm`` on the whole batch in one process.

    Returns ``settings``, ``differences`` (``{"sync": {quantity: max abs diff}, "bn": ...}``)
    and ``torch_sync_error`` (process 0's). Everything computes in ``dtype``.
    """
    X, dY = batch(shape, seed, dtype)
    runs = split_run(X, dY, len(sizes), list(sizes), steps, LAYERS)
    with replay.one_thread():
        ref = one_process(X, dY, steps=steps)
    settings = {"shape": list(shape), "sizes": list(sizes), "world_size": len(sizes),
                "steps": steps, "seed": seed, "backend": "gloo", "device": "cpu",
                "threads_per_process": 1, "loss": "sum(Y * dY)"}
    return {"settings": settings,
            "differences": {layer: differences(runs[layer], ref) for layer in LAYERS},
            "torch_sync_error": runs["torch_sync_error"][0]}


@functools.cache
def checked(dtype: torch.dtype = torch.float32) -> dict:
    """:func:`compare_split` with its defaults in ``dtype``, run once per process and dtype
    (the command, its tests and the replay of its file need it; it spawns two processes)."""
    return compare_split(dtype=dtype)


def replay_losses(spec: dict, steps: int) -> list[float]:
    """The file's replayed numbers for ``spec["layer"]`` (``"sync"`` or ``"bn"``): the first
    ``steps`` of its differences, in the order of :data:`QUANTITIES` (the replay's labels),
    computed in torch's default dtype (float64 under the replay)."""
    diffs = checked(torch.get_default_dtype())["differences"][spec["layer"]]
    return [diffs[q] for q in QUANTITIES[:steps]]


def configure(parser) -> None:
    parser.add_argument("--out", type=Path, default=None,
                        help="results file (default: sync-check-cpu.json). " + record.WHERE_HELP)


def run(args) -> int:
    began = time.perf_counter()
    torch.set_num_threads(1)
    record.git_commit()  # the commit of the code this process imported, read now
    out = args.out or record.results_dir() / "sync-check-cpu.json"
    result = checked()
    data = {"experiment": "sync-check", "command": record.command_line(),
            "config": result["settings"], "differences": result["differences"],
            "torch_sync_error": result["torch_sync_error"],
            "checked_code": {"modules": list(CHECKED_MODULES),
                             "hash": record.code_hash(*CHECKED_MODULES)},
            "provenance": record.provenance("cpu"),
            "wall_seconds": round(time.perf_counter() - began, 1),
            "replay": replay.replay_record("bnref.experiments.commands.sync_check",
                                           [{"layer": layer} for layer in LAYERS],
                                           len(QUANTITIES), labels=list(QUANTITIES))}
    record.write_json(out, data)
    print(f"wrote {out} ({data['wall_seconds']} s); its table: "
          f"bnref.experiments.report.pages.sync_check_table({str(out)!r})")
    return 0
