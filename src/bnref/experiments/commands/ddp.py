r"""Across processes: LeNet-BN on K processes with DistributedDataParallel, BN per process or synced.

Data-parallel training gives each of ``K`` processes ``b`` samples of every
global batch of ``K·b``. This command trains the note's LeNet-BN
(:func:`bnref.models.lenet_variant` with its defaults) that way through
``torch.nn.parallel.DistributedDataParallel`` and :func:`bnref.d2l.train.fit`
(DDP wraps the network, each process feeds ``fit`` its own shard), with one
thing changed between the arms (:data:`MODES`):

* ``bn`` — plain :class:`bnref.BatchNorm`: each process normalizes with the
  statistics of its own ``b`` samples;
* ``sync`` — :class:`bnref.SyncBatchNorm` (the same network converted by
  :meth:`bnref.SyncBatchNorm.convert_sync_batchnorm`): statistics of all ``K·b``;
* ``torch-sync`` — ``torch.nn.SyncBatchNorm`` (the network's layers through
  :func:`bnref.convert.to_torch`, then ``nn.SyncBatchNorm.convert_sync_batchnorm``),
  where the backend allows it: on CPU tensors (gloo) it refuses to train, and
  the run records what it said;
* ``one`` — the reference: one process holding the whole batch of ``K·b``,
  plain BN, no DDP.

Every arm sees the same global batches: ``torch.utils.data.DistributedSampler``
shuffles all 60,000 training images with a generator seeded from the seed
(identical on every process) and gives process ``k`` every ``K``-th index of
that order, so the ``K`` shards of step ``j`` together are exactly the
reference's batch ``j`` (``DistributedSampler`` with one replica). The loss is
cross-entropy's mean over each process's shard and DDP averages the
gradients over the processes, which is the gradient of the mean loss over the
whole batch, the reference's. So with :class:`bnref.SyncBatchNorm` the ``K``
processes compute what the one process computes, up to float rounding
(:func:`compare_with_one_process` measures it; ``tests/experiments/test_ddp.py`` asserts
it). DDP keeps its default ``broadcast_buffers=True``: before every forward,
process 0's buffers are copied to the others, so with per-process BN the
moving statistics used at test time are process 0's.

Each run takes ``--steps`` SGD steps (a fixed number, not epochs) with the
linear learning-rate rule ``lr = base_lr · K·b / 256`` (the same for every
arm of a ``K·b``), and process 0 scores the network on the test images in
evaluation mode. Runs are keyed ``mode/K/b/seed`` and written at once by
process 0 through :class:`bnref.experiments.harness.record.Record`; run again with
the same options, finished runs are skipped.

Launch. ``python -m bnref ddp`` runs the whole comparison: the one-process
references here, then for each ``K`` one launch of ``torchrun`` (``python -m
torch.distributed.run --nproc-per-node K ... -m bnref ddp <the same
options>``, on 127.0.0.1) that trains every pending run of that ``K``. A
process started by ``torchrun`` (it sets ``WORLD_SIZE``) is such a worker, so
the distributed runs can also be started by hand with the command a reader
uses on a multi-GPU machine; its runs go into the same file::

    python -m bnref ddp --threads 1                    # everything (CPU: gloo)
    torchrun --nproc-per-node 4 -m bnref ddp --device cuda  # the K=4 runs on 4 GPUs (NCCL)
    python -m bnref ddp --steps 20 --seeds 1 --batch 4 --out /tmp/d.json   # a quick look

Backend: gloo with ``--device cpu``, NCCL with ``--device cuda`` (one GPU per
process); ``auto`` (the default) picks CUDA when there is a GPU.
"""

from __future__ import annotations

import os
import subprocess
import sys

import torch
import torch.distributed as dist

from bnref.experiments.commands.ddp_training import (
    MODES, Shards, build, compare_with_one_process, replay_losses, train,
)
from bnref.experiments.harness import record, sweep
from bnref.experiments.harness.processes import free_port

__all__ = ["MODES", "LOSS_STEPS", "configure", "run", "build", "Shards", "train",
           "replay_losses", "compare_with_one_process"]

#: per-step losses of the whole batch kept for each run (to compare the arms step by step)
LOSS_STEPS = 30


def configure(parser) -> None:
    parser.add_argument("--nproc-per-node", dest="nprocs", nargs="+", type=int, default=[4],
                        help="numbers of processes K to compare (default: 4)")
    parser.add_argument("--batch", nargs="+", type=int, default=[2, 4, 8],
                        help="samples per process b (default: 2 4 8); the reference holds K*b")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES,
                        help="distributed arms (default: all three)")
    parser.add_argument("--steps", type=int, default=300,
                        help="SGD steps per run (default: 300)")
    parser.add_argument("--base-lr", type=float, default=1.0,
                        help="learning rate at a global batch of 256, scaled linearly (default: 1.0)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                        help="cpu (gloo), cuda (NCCL, one GPU per process) or auto (default)")
    parser.add_argument("--test-images", type=int, default=10_000,
                        help="test images to score (default: all 10000)")
    sweep.add_options(parser, "ddp", seeds=3, device=False,
                      threads_help="torch CPU threads per process (default: 1)")


def _result(mode, K, b, seed, args, history, losses, seconds, net, device) -> dict:
    tail = losses[-50:]
    return {"mode": mode, "nproc": K, "batch": b, "global_batch": K * b, "seed": seed,
            "lr": args.base_lr * K * b / 256, "steps": history.steps,
            "test_acc": sweep.score(net, device, images=args.test_images),
            "train_loss_last50": sum(tail) / len(tail), "losses": losses[:LOSS_STEPS],
            "seconds": round(seconds, 3), "ms_per_step": round(1e3 * seconds / history.steps, 3),
            "backend": ("nccl" if device.type == "cuda" else "gloo") if mode != "one" else None}


# ---- the command: references here, one torchrun launch per K ----


def _config(args, device: torch.device) -> dict:
    return {"nproc_per_node": args.nprocs, "batch": args.batch, "modes": args.modes,
            "steps": args.steps, "base_lr": args.base_lr, "seeds": args.seeds,
            "device": device.type, "threads": args.threads, "test_images": args.test_images,
            "dataset": "Fashion-MNIST (real IDX files), 60000 train / 10000 test",
            "model": "bnref.models.lenet_variant() (the note's LeNet-BN), xavier init",
            "lr_rule": f"lr = {args.base_lr} * K * b / 256 (SGD, cross-entropy)",
            "sampler": "DistributedSampler(shuffle=True, seed=seed), BatchSampler(b, drop_last)"}


def _key(mode: str, K: int, b: int, seed: int) -> str:
    return f"{mode}/K={K}/b={b}/seed={seed}"


def _pending(args, runs: dict, K: int) -> list[tuple[int, int, str]]:
    return [(seed, b, mode) for seed in range(args.seeds) for b in args.batch
            for mode in args.modes if _key(mode, K, b, seed) not in runs]


def _options(args) -> list[str]:
    """The command-line options that reproduce ``args`` (for the torchrun workers)."""
    opts = ["--nproc-per-node", *map(str, args.nprocs), "--batch", *map(str, args.batch),
            "--modes", *args.modes, "--steps", str(args.steps), "--base-lr", str(args.base_lr),
            "--seeds", str(args.seeds), "--device", args.device, "--threads", str(args.threads),
            "--test-images", str(args.test_images)]
    if args.out:
        opts += ["--out", str(args.out)]
    return opts + (["--no-progress"] if args.no_progress else [])


def _check_args(args) -> None:
    if any(b < 2 for b in args.batch):
        raise SystemExit(f"--batch must be >= 2 per process (BN after a linear layer needs two "
                         f"values per channel); got {args.batch}")
    if any(K < 1 for K in args.nprocs) or args.steps < 1 or args.seeds < 1:
        raise SystemExit(f"--nproc-per-node, --steps and --seeds must be >= 1; got "
                         f"{args.nprocs}, {args.steps}, {args.seeds}")


def run(args) -> int:
    _check_args(args)
    if "WORLD_SIZE" in os.environ:  # started by torchrun: one process of the group
        return _worker(args)
    torch.set_num_threads(args.threads)
    device = sweep.resolve_device(None if args.device == "auto" else args.device)
    if device.type == "cuda" and max(args.nprocs) > torch.cuda.device_count():
        raise SystemExit(f"--device cuda runs one process per GPU: --nproc-per-node "
                         f"{max(args.nprocs)} needs that many GPUs; this machine has "
                         f"{torch.cuda.device_count()}")
    out = args.out or record.results_dir() / f"ddp-{device.type}.json"
    args.out = out
    config = _config(args, device)
    rec = record.Record(out, "ddp", config, device=device, fresh=args.fresh)
    for seed in range(args.seeds):  # the references: one process, the whole batch
        for gb in sorted({K * b for K in args.nprocs for b in args.batch}):
            key = _key("one", 1, gb, seed)
            if rec.done(key):
                continue
            net, history, losses, seconds = train("one", gb, seed, args.steps, args.base_lr,
                                                  device=device, progress=not args.no_progress)
            r = _result("one", 1, gb, seed, args, history, losses, seconds, net, device)
            rec.add(key, r, seconds=seconds)
            print(f"one process, batch {gb} seed {seed}: test acc {r['test_acc']:.4f}, "
                  f"{seconds:.1f} s", flush=True)
    for K in args.nprocs:
        if not _pending(args, rec.runs, K):
            continue
        command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1",
                   "--nproc-per-node", str(K), "--master-addr", "127.0.0.1",
                   "--master-port", str(free_port()), "--local-ranks-filter", "0",
                   "-m", "bnref", "ddp", *_options(args)]
        print("launching: " + " ".join(command[1:]), flush=True)
        done = subprocess.run(command)
        rec = record.Record(out, "ddp", config, device=device)  # the file the workers wrote
        if done.returncode != 0 or _pending(args, rec.runs, K):
            raise SystemExit(f"the {K}-process launch failed (exit status {done.returncode}); "
                             f"finished runs are kept: run the same command again to resume")
    if "two_processes" not in rec.data:
        rec.set("two_processes", compare_with_one_process())

    specs = [{"mode": "one", "batch": gb, "base_lr": args.base_lr, "seed": 0}
             for gb in sorted({K * b for K in args.nprocs for b in args.batch})]
    sweep.finish(rec, __name__, specs, steps=min(sweep.REPLAY_STEPS, args.steps))
    print(f"its table: bnref.experiments.report.pages.ddp_table({str(out)!r})")
    return 0


def _worker(args) -> int:
    """One process of a torchrun launch: every pending run of this ``K`` (process 0 writes)."""
    rank, K = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    device = sweep.resolve_device(None if args.device == "auto" else args.device)
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    torch.set_num_threads(args.threads)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        if K not in args.nprocs:
            raise SystemExit(f"this launch has {K} processes; --nproc-per-node lists "
                             f"{args.nprocs}: give the same K to torchrun and to bnref ddp")
        out = args.out or record.results_dir() / f"ddp-{device.type}.json"
        rec = record.Record(out, "ddp", _config(args, device), device=device,
                            fresh=args.fresh) if rank == 0 else None
        todo = [_pending(args, rec.runs, K) if rank == 0 else None]
        dist.broadcast_object_list(todo, src=0)  # every process trains the same runs
        for seed, b, mode in todo[0]:
            try:
                net, history, losses, seconds = train(mode, b, seed, args.steps, args.base_lr,
                                                      rank=rank, world_size=K, device=device,
                                                      progress=rank == 0 and not args.no_progress)
            except Exception as err:  # noqa: BLE001 - torch's SyncBatchNorm on CPU: record it
                if mode != "torch-sync":
                    raise
                r = {"mode": mode, "nproc": K, "batch": b, "global_batch": K * b, "seed": seed,
                     "error": f"{type(err).__name__}: {err}", "raised_in": _where(err),
                     "layer_error": _torch_layer_error(device),
                     "backend": "nccl" if device.type == "cuda" else "gloo"}
                if rank == 0:
                    rec.add(_key(mode, K, b, seed), r)
                    print(f"{mode} K={K} b={b} seed {seed}: refused: {r['error']}", flush=True)
                continue
            if rank == 0:
                r = _result(mode, K, b, seed, args, history, losses, seconds, net, device)
                rec.add(_key(mode, K, b, seed), r, seconds=seconds)
                print(f"{mode} K={K} b={b} seed {seed}: test acc {r['test_acc']:.4f}, "
                      f"{seconds:.1f} s ({r['ms_per_step']:.1f} ms/step)", flush=True)
    finally:
        dist.destroy_process_group()
    return 0


def _where(err: BaseException) -> str:
    """The file (below site-packages) and function that raised ``err``."""
    import traceback

    frame = traceback.extract_tb(err.__traceback__)[-1]
    return f"{frame.filename.rpartition('site-packages/')[2]}, {frame.name}"


def _torch_layer_error(device: torch.device) -> str:
    """What ``nn.SyncBatchNorm`` itself says training inside the group without DDP ('' if it
    trains); every process calls it."""
    try:
        torch.nn.SyncBatchNorm(2).to(device).train()(torch.randn(4, 2, 3, 3, device=device))
    except Exception as err:  # noqa: BLE001 - report whatever torch raises
        return f"{type(err).__name__}: {err}"
    return ""
