"""Small-batch experiment: LeNet with BN, LN, IN and GN, test error against batch size.

The question comes from the GroupNorm paper (Wu & He, 2018): batch
normalization estimates its statistics from the minibatch, so its error
grows when batches get small, while group normalization (and layer and
instance normalization), which never look across the batch, should not care.

The experiment trains :func:`bnref.models.lenet_norm` for each kind and each
batch size on the real Fashion-MNIST training set (fast data path), under a
fixed budget of *examples seen*, so every run does the same amount of data
work: ``steps = examples // batch_size``. The learning rate follows the linear
scaling rule used by the paper, ``lr = base_lr * batch_size / 256``, so the
product ``lr * steps`` is the same for every batch size. Each trained network
is then scored on the 10,000 test images in evaluation mode (BN with its
moving statistics). Every setting is trained from ``--seeds`` seeds; each
finished run is written at once through :class:`bnref.experiments.harness.record.Record`
(run again, the command resumes), and
:func:`bnref.experiments.report.figures.small_batch` draws the figure from the file.

    python -m bnref small-batch                       # full run, writes the JSON
    python -m bnref small-batch --examples 2000 --batch-sizes 2 256 --seeds 1   # a quick look
"""

from __future__ import annotations

import copy

import torch

from bnref.d2l.data import fashion_mnist_tensors
from bnref.d2l.train import fit
from bnref.experiments.harness import sweep
from bnref.models import lenet_norm, lenet_variant
from bnref.norm import InstanceNorm

__all__ = ["BATCH_SIZES", "KINDS", "run_key", "configure", "run", "train_one", "replay_losses"]

BATCH_SIZES = (2, 4, 8, 16, 32, 64, 128, 256)
KINDS = ("bn", "ln", "in", "gn")
#: the batch-of-one arms: BN after the convolutions only (at batch 1 its statistics
#: run over H×W, as InstanceNorm's do), InstanceNorm after the convolutions only
#: (the same network, normalizing each image with its own statistics at test time
#: too), and the InstanceNorm network of the table (LayerNorm on the linear layers).
#: BN after the fully connected layers has one value per unit at batch 1 and is
#: refused (see batch_of_one_fc_error)
BATCH_OF_ONE = ("bn-conv", "in-conv", "in")
#: training images whose statistics re-estimate BN's moving statistics (recalibration)
RECALIBRATION_IMAGES = 4096


def configure(parser) -> None:
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS,
                        help="normalizations to compare (default: all four)")
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=list(BATCH_SIZES),
                        help="training batch sizes (default: 2 4 ... 256)")
    parser.add_argument("--examples", type=int, default=9_000,
                        help="budget of training examples seen per run (default: 9000)")
    parser.add_argument("--base-lr", type=float, default=1.0,
                        help="SGD learning rate at batch size 256; scaled linearly (default: 1.0)")
    parser.add_argument("--no-batch-of-one", dest="batch_of_one", action="store_false",
                        help="skip the batch-of-one runs (BN after the convolutions only, and "
                        "InstanceNorm, at batch size 1)")
    sweep.add_options(parser, "small-batch", seeds=3,
                      threads_help="torch CPU threads (default: 1; on a shared 2-core machine "
                      "more threads made small-batch steps many times slower)")


def run_key(kind: str, batch_size: int, seed: int) -> str:
    return f"{kind}/b={batch_size}/seed={seed}"


def train_one(kind: str, batch_size: int, examples: int, base_lr: float, seed: int = 0,
              device="cpu", progress: bool = False, max_steps: int | None = None,
              record_losses: int = 0):
    """Train ``lenet_norm(kind)`` on ``examples`` training examples from ``seed``.

    Returns ``(net, history)`` (see :func:`bnref.d2l.train.fit`); the test set
    is scored by the caller. ``max_steps`` cuts the run short (replay, smoke).
    """
    torch.manual_seed(seed)
    if kind == "bn-conv":
        net = lenet_variant(bn="conv")
    elif kind == "in-conv":
        net = lenet_variant(bn="conv", norm_layer=lambda c, num_dims: InstanceNorm(c))
    else:
        net = lenet_norm(kind)
    lr = base_lr * batch_size / 256
    steps = examples // batch_size if max_steps is None else max_steps
    # min_batch=2: BN cannot train on a last batch of one example (at batch size 1 every
    # batch has one; only the arms that can train on it run there)
    history = fit(net, sweep.train_data(batch_size, device), lr=lr, epochs=None, max_steps=steps,
                  min_batch=1 if batch_size == 1 else 2, device=device,
                  record_losses=record_losses,
                  stop_on_nonfinite=False, progress=progress,
                  desc=f"{kind} batch {batch_size} seed {seed}")
    return net, history


def replay_losses(run: dict, steps: int) -> list[float]:
    """The first ``steps`` losses of one run (``kind``, ``batch_size``, ``base_lr``,
    ``seed``), on the CPU: what the test suite replays."""
    _, history = train_one(run["kind"], run["batch_size"], steps * run["batch_size"],
                           run["base_lr"], run["seed"], max_steps=steps, record_losses=steps)
    return history.step_losses


def own_statistics_accuracy(net, device="cpu") -> float:
    """Test accuracy when each test image is normalized with its own statistics: every BN
    layer in training mode on a batch of one (over H×W, as InstanceNorm does), the moving
    statistics left as they were. For BN after the convolutions only."""
    net = copy.deepcopy(net).train()  # training mode updates the copy's moving statistics only
    X, y = fashion_mnist_tensors(train=False)
    correct = 0
    with torch.no_grad():
        for i in range(len(X)):
            correct += int(net(X[i:i + 1].to(device)).argmax(dim=1).item() == int(y[i]))
    return correct / len(X)


def batch_of_one_fc_error() -> str:
    """What BN after a fully connected layer says when asked to train on one example."""
    net = lenet_variant(bn="fc").train()
    try:
        net(torch.zeros(1, 1, 28, 28))
    except ValueError as err:
        return str(err)
    raise AssertionError("BatchNorm after a linear layer trained on one example")


def run(args) -> int:
    device = torch.device(args.device)
    config = {"kinds": args.kinds, "batch_sizes": args.batch_sizes,
              "examples": args.examples, "base_lr": args.base_lr, "seeds": args.seeds,
              "device": device.type, "threads": args.threads, "dataset": sweep.DATASET,
              "model": "bnref.models.lenet_norm(kind), the note's sigmoid LeNet",
              "lr_rule": f"lr = {args.base_lr} * batch_size / 256 (SGD, cross-entropy)",
              "recalibration_images": RECALIBRATION_IMAGES,
              "batch_of_one": list(BATCH_OF_ONE) if args.batch_of_one else []}
    rec = sweep.start(args, "small-batch", config)
    grid = sweep.grid(run_key, args.seeds, kind=args.kinds, batch_size=args.batch_sizes)
    for key, (kind, b, seed) in sweep.pending(rec, grid):
        net, history = train_one(kind, b, args.examples, args.base_lr, seed, device,
                                 progress=not args.no_progress)
        r = {"kind": kind, "batch_size": b, "seed": seed, "steps": history.steps,
             "examples": history.examples_seen, "lr": args.base_lr * b / 256,
             "test_error": 1.0 - sweep.score(net, device), "train_loss": history.train_loss[-1],
             "train_seconds": round(history.train_seconds, 2)}
        if kind == "bn":  # the same weights, moving statistics from a large batch
            r["recalibrated_test_error"] = 1.0 - sweep.score(
                net, device, recalibrated=RECALIBRATION_IMAGES)
        rec.add(key, r, seconds=history.train_seconds)
        print(f"{kind:>2} batch {b:>3} seed {seed}: {r['steps']:>5} steps, "
              f"lr {r['lr']:.4f}, test error {r['test_error']:.4f} "
              f"({r['train_seconds']:.1f} s)", flush=True)
    if args.batch_of_one:
        rec.set("batch_of_one_fc_error", batch_of_one_fc_error())
        grid = sweep.grid(run_key, args.seeds, kind=BATCH_OF_ONE, batch_size=[1])
        for key, (kind, _, seed) in sweep.pending(rec, grid):
            net, history = train_one(kind, 1, args.examples, args.base_lr, seed, device,
                                     progress=not args.no_progress)
            r = {"kind": kind, "batch_size": 1, "seed": seed, "steps": history.steps,
                 "examples": history.examples_seen, "lr": args.base_lr / 256,
                 "test_error": 1.0 - sweep.score(net, device),
                 "train_loss": history.train_loss[-1],
                 "train_seconds": round(history.train_seconds, 2)}
            if kind == "bn-conv":  # as trained: each image with its own statistics
                r["own_statistics_test_error"] = 1.0 - own_statistics_accuracy(net, device)
            rec.add(key, r, seconds=history.train_seconds)
            print(f"{kind} batch 1 seed {seed}: test error {r['test_error']:.4f}", flush=True)
    b = max(args.batch_sizes)  # at batch 2, BN amplifies rounding: see tests/experiments/test_replay.py
    specs = [{"kind": k, "batch_size": b, "base_lr": args.base_lr, "seed": 0}
             for k in args.kinds]
    sweep.finish(rec, __name__, specs, figure="small-batch")
    return 0
