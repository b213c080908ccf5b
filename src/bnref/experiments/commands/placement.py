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
tests/speed/test_contract.py), which works in either placement. Each finished run
is written at once through :class:`bnref.experiments.harness.record.Record`; run
again with the same options, the command resumes. The page printer is
:func:`bnref.experiments.report.pages.placement_table`, the figure
:func:`bnref.experiments.report.figures.placement`.

    python -m bnref placement --threads 1        # full run, writes the JSON
    python -m bnref placement --lrs 0.1 1 3 --seeds 5 --recalibrate 4096   # the verdict's run
    python -m bnref placement --lrs 1 --seeds 1 --epochs 1   # a quick look
"""

from __future__ import annotations

import torch

from bnref.d2l.train import fit
from bnref.experiments.harness import sweep
from bnref.models import lenet_variant
from bnref.speed.fused import FusedBatchNorm

__all__ = ["ACTIVATIONS", "PLACEMENTS", "LRS", "configure", "run", "train_one",
           "replay_losses", "run_key"]

ACTIVATIONS = ("sigmoid", "relu")
PLACEMENTS = ("before", "after")
#: the note's rate for LeNet-BN, and a tenth of it
LRS = (0.1, 1.0)
BATCH_SIZE = 256


def configure(parser) -> None:
    parser.add_argument("--activations", nargs="+", default=list(ACTIVATIONS),
                        choices=ACTIVATIONS, help="activations (default: sigmoid relu)")
    parser.add_argument("--placements", nargs="+", default=list(PLACEMENTS),
                        choices=PLACEMENTS,
                        help="before: conv -> BN -> activation (the note's); after: "
                        "conv -> activation -> BN (default: both)")
    parser.add_argument("--lrs", nargs="+", type=float, default=list(LRS),
                        help="SGD learning rates (default: 0.1 1.0)")
    sweep.add_options(parser, "placement", seeds=3, epochs=5, max_steps=True, recalibrate=True)


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
    torch.manual_seed(seed)
    net = lenet_variant(activation=activation, placement=placement, norm_layer=FusedBatchNorm)
    history = fit(net, sweep.train_data(BATCH_SIZE, device), sweep.test_data(device), lr=lr,
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
    if any(not lr > 0 for lr in args.lrs):
        raise SystemExit(f"--lrs must be positive learning rates; got {args.lrs}")
    device = torch.device(args.device)
    config = {"activations": args.activations, "placements": args.placements,
              "lrs": args.lrs, "seeds": args.seeds, "epochs": args.epochs,
              "batch_size": BATCH_SIZE, "max_steps": args.max_steps,
              **({"recalibration_images": args.recalibrate} if args.recalibrate else {}),
              "device": device.type, "threads": args.threads, "dataset": sweep.DATASET,
              "model": "bnref.models.lenet_variant(activation=..., placement=..., "
                       "norm_layer=bnref.speed.fused.FusedBatchNorm)",
              "training": "bnref.d2l.train.fit: SGD, cross-entropy, xavier-uniform init, "
                          "stops at the first non-finite loss",
              "evaluation": "all 10000 test images after every epoch (evaluation mode: BN "
                            "with its moving statistics)"}
    rec = sweep.start(args, "placement", config)
    grid = sweep.grid(run_key, args.seeds, lr=args.lrs, activation=args.activations,
                      placement=args.placements)
    for key, (lr, act, placement, seed) in sweep.pending(rec, grid):
        net, history = train_one(act, placement, lr, seed, epochs=args.epochs,
                               max_steps=args.max_steps, device=device,
                               progress=not args.no_progress)
        r = {"activation": act, "placement": placement, "lr": lr, "seed": seed,
             "test_acc": history.test_acc,
             "train_loss": [sweep.finite(x) for x in history.train_loss],
             "train_acc": history.train_acc, "steps": history.steps,
             "diverged_at": history.diverged_at,
             "train_seconds": round(history.train_seconds, 2)}
        if args.recalibrate and history.diverged_at is None:
            r["recalibrated_test_acc"] = sweep.score(net, device, recalibrated=args.recalibrate)
        rec.add(key, r, seconds=history.train_seconds)
        print(f"{act:>7} BN {placement:<6} lr {lr:<4g} seed {seed}: test acc "
              f"{history.test_acc[-1]:.4f}"
              + (f" ({r['recalibrated_test_acc']:.4f} re-estimated)"
                 if "recalibrated_test_acc" in r else "")
              + f", train loss {history.train_loss[-1]:.4f}"
              + (f", diverged at step {history.diverged_at}" if history.diverged_at else "")
              + f" ({r['train_seconds']:.1f} s)", flush=True)
    # replayed at the smallest rate: a run that diverges (BN after the sigmoid at lr 3)
    # amplifies rounding, and its float64 losses then differ between kernel sets
    specs = [{"activation": act, "placement": placement, "lr": min(args.lrs), "seed": 0}
             for act in args.activations for placement in args.placements]
    sweep.finish(rec, __name__, specs, figure="placement")
    return 0
