"""Placement: conv → BN → activation against conv → activation → BN, sigmoid and ReLU.

The note puts batch normalization between the affine layer and the
activation, as Ioffe & Szegedy did, and says that is where it belongs. This
command changes that one thing: :func:`bnref.models.lenet_variant` with
``placement="before"`` (the note's LeNet-BN: conv → BN → activation, and
linear → BN → activation) and ``placement="after"`` (conv → activation → BN),
each with the note's sigmoid and with ReLU. Everything else is the same:
layers, pooling, the xavier-uniform initialization of :func:`bnref.d2l.train.fit`
(BN layers draw nothing from the random generator, so both placements start
from the same weights for a seed), batch 256, SGD on the real Fashion-MNIST
training set.

Every activation × placement × learning rate × seed trains ``--epochs``
epochs; the full test set (10,000 images) is scored after every epoch, and
the per-epoch training loss is recorded. Two learning rates by default: 1.0
(the note's rate for LeNet-BN) and 0.1 (the common rate for a ReLU network
without BN); a placement that one rate favours shows up as a difference that
changes sign or size between them.

BN layers are :class:`bnref.speed.fused.FusedBatchNorm` (the fast path; the
same numbers as :class:`bnref.BatchNorm` up to float rounding, held to it by
tests/test_contract.py), which works in either placement. Each finished run
is written at once through :class:`bnref.experiments.record.Record`; run
again with the same options, the command resumes. The page printer is
:func:`bnref.experiments.pages.placement_table`, the figure
:func:`bnref.experiments.figures.placement`.

    python -m bnref placement --threads 1        # full run, writes the JSON and SVG
    python -m bnref placement --lrs 1 --seeds 1 --epochs 1   # a quick look
"""

from __future__ import annotations

import argparse
import math

import torch

from bnref.experiments import record

__all__ = ["ACTIVATIONS", "PLACEMENTS", "LRS", "configure", "run", "train_one",
           "replay_losses", "run_key"]

ACTIVATIONS = ("sigmoid", "relu")
PLACEMENTS = ("before", "after")
#: the note's rate for LeNet-BN, and a tenth of it
LRS = (0.1, 1.0)
BATCH_SIZE = 256
#: the test set, scored after every epoch: all 10,000 images, 1000 at a time
TEST_BATCH = 1000
#: steps of one run per activation × placement that the results file keeps to be replayed
REPLAY_STEPS = 6


def configure(parser) -> None:
    parser.add_argument("--activations", nargs="+", default=list(ACTIVATIONS),
                        choices=ACTIVATIONS, help="activations (default: sigmoid relu)")
    parser.add_argument("--placements", nargs="+", default=list(PLACEMENTS),
                        choices=PLACEMENTS,
                        help="before: conv -> BN -> activation (the note's); after: "
                        "conv -> activation -> BN (default: both)")
    parser.add_argument("--lrs", nargs="+", type=float, default=list(LRS),
                        help="SGD learning rates (default: 0.1 1.0)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (default: 3)")
    parser.add_argument("--epochs", type=int, default=5,
                        help="epochs of each run (default: 5)")
    parser.add_argument("--max-steps", type=int, default=None,
                        help="cut every run to this many steps (smoke runs)")
    record.add_run_options(parser, "placement")


def run_key(activation: str, placement: str, lr: float, seed: int) -> str:
    return f"{activation}/{placement}/lr={lr:g}/seed={seed}"


def train_one(activation: str, placement: str, lr: float, seed: int = 0, *,
              epochs: int | None = 1, max_steps: int | None = None, device="cpu",
              record_losses: int = 0, eval_batches: int | None = None,
              progress: bool = False):
    """Train ``lenet_variant(activation=activation, placement=placement)`` from ``seed``.

    The test set is scored after every epoch (its first ``eval_batches``
    batches of 1000 when given). Returns ``(net, history)``
    (:class:`bnref.d2l.train.History`).
    """
    from bnref.d2l.data import TensorLoader, fashion_mnist_tensors
    from bnref.d2l.train import fit
    from bnref.models import lenet_variant
    from bnref.speed.fused import FusedBatchNorm

    torch.manual_seed(seed)
    net = lenet_variant(activation=activation, placement=placement, norm_layer=FusedBatchNorm)
    X, y = fashion_mnist_tensors(train=True)
    Xt, yt = fashion_mnist_tensors(train=False)
    history = fit(net, TensorLoader(X.to(device), y.to(device), BATCH_SIZE, shuffle=True),
                  TensorLoader(Xt.to(device), yt.to(device), TEST_BATCH), lr=lr,
                  epochs=epochs, max_steps=max_steps, device=device,
                  eval_batches=eval_batches, record_losses=record_losses, min_batch=2,
                  stop_on_nonfinite=True, progress=progress,
                  desc=f"{activation} BN {placement} lr {lr:g} seed {seed}")
    return net, history


def replay_losses(run: dict, steps: int) -> list[float]:
    """The first ``steps`` losses of one run (``activation``, ``placement``, ``lr``,
    ``seed``), on the CPU: what the test suite replays."""
    _, history = train_one(run["activation"], run["placement"], run["lr"], run["seed"],
                           epochs=None, max_steps=steps, record_losses=steps,
                           eval_batches=1)  # the losses only: score one test batch
    return history.step_losses


def run(args) -> int:
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    for name in ("seeds", "epochs"):
        if getattr(args, name) < 1:
            raise SystemExit(f"--{name} must be >= 1; got {getattr(args, name)}")
    if any(not lr > 0 for lr in args.lrs):
        raise SystemExit(f"--lrs must be positive learning rates; got {args.lrs}")
    out = args.out or record.results_dir() / f"placement-{device.type}.json"
    config = {"activations": args.activations, "placements": args.placements,
              "lrs": args.lrs, "seeds": args.seeds, "epochs": args.epochs,
              "batch_size": BATCH_SIZE, "max_steps": args.max_steps,
              "device": device.type, "threads": args.threads,
              "dataset": "Fashion-MNIST (real IDX files), 60000 train / 10000 test",
              "model": "bnref.models.lenet_variant(activation=..., placement=..., "
                       "norm_layer=bnref.speed.fused.FusedBatchNorm)",
              "training": "bnref.d2l.train.fit: SGD, cross-entropy, xavier-uniform init, "
                          "stops at the first non-finite loss",
              "evaluation": "all 10000 test images after every epoch (evaluation mode: BN "
                            "with its moving statistics)"}
    rec = record.Record(out, "placement", config, device=device, fresh=args.fresh)
    for seed in range(args.seeds):  # seed-major: an interrupted run covers every setting
        for lr in args.lrs:
            for act in args.activations:
                for placement in args.placements:
                    key = run_key(act, placement, lr, seed)
                    if rec.done(key):
                        continue
                    _, history = train_one(act, placement, lr, seed, epochs=args.epochs,
                                           max_steps=args.max_steps, device=device,
                                           progress=not args.no_progress)
                    r = {"activation": act, "placement": placement, "lr": lr, "seed": seed,
                         "test_acc": history.test_acc,
                         "train_loss": [x if math.isfinite(x) else None
                                        for x in history.train_loss],
                         "train_acc": history.train_acc, "steps": history.steps,
                         "diverged_at": history.diverged_at,
                         "train_seconds": round(history.train_seconds, 2)}
                    rec.add(key, r, seconds=history.train_seconds)
                    print(f"{act:>7} BN {placement:<6} lr {lr:<4g} seed {seed}: test acc "
                          f"{history.test_acc[-1]:.4f}, train loss "
                          f"{history.train_loss[-1]:.4f}"
                          + (f", diverged at step {history.diverged_at}"
                             if history.diverged_at else "")
                          + f" ({r['train_seconds']:.1f} s)", flush=True)
    specs = [{"activation": act, "placement": placement, "lr": args.lrs[-1], "seed": 0}
             for act in args.activations for placement in args.placements]
    from bnref.experiments import figures

    rec.finish(__name__, specs, REPLAY_STEPS, figure=args.figure, name="placement",
               out_given=args.out is not None, draw=figures.placement)
    return 0
