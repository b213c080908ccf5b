"""Initialization scale: xavier-uniform weights times 0.01 to 100, LeNet with and without BN.

The note's Q&A says Xavier initialization only puts the gradients in a
stable range at the start of training, while BN keeps them there at every
step. If BN does that, a network with BN should train from initial weights
far too small or far too large for Xavier's argument, and the same network
without BN should not. This command multiplies the xavier-uniform initial
weights of every convolution and linear layer by a factor (``fit``'s
``init``: :func:`bnref.experiments.commands.lr_sweep.scaled_xavier`; the biases keep
PyTorch's default) and trains :func:`bnref.models.lenet_variant` with BN
(``bn="all"``, the note's LeNet-BN) and without it (``bn="none"``, nothing
else changed), at one fixed learning rate per activation, for ``--epochs``
epochs at batch 256 on the real Fashion-MNIST, from ``--seeds`` seeds (the
sigmoid LeNet by default, the note's; ``--activations sigmoid relu`` adds the
ReLU one); it
records the final test accuracy on all 10,000 test images, the first step's
loss, and whether the run diverged (non-finite loss) or failed to train
(final test accuracy at or below ``lr_sweep.FAILED_AT``).

The learning rates: 0.9 for sigmoid, the rate d2l and the note train the
LeNet without BN at (LeNet-BN at 1.0), so both arms start from a rate the
note uses; 0.1 for ReLU, a rate at which the ReLU LeNet without BN trains at
scale 1 (in the lr sweep it stops learning at 1: test accuracy at chance,
the loss finite; the question here is the scale, not the rate). The
committed run is the sigmoid one only.

Every finished run is written at once (resumable);
:func:`bnref.experiments.report.pages.init_scale_table` prints the table and
:func:`bnref.experiments.report.figures.init_scale` draws the figure.

    python -m bnref init-scale --threads 1       # full run, writes the JSON
    python -m bnref init-scale --activations sigmoid relu --seeds 5 --recalibrate 4096
    python -m bnref init-scale --scales 0.1 10 --seeds 1 --epochs 1   # a quick look
"""

from __future__ import annotations

import torch

from bnref.experiments.commands import lr_sweep
from bnref.experiments.harness import sweep
__all__ = ["SCALES", "LRS", "configure", "run", "replay_losses", "run_key"]

#: multiples of the xavier-uniform initial weights, 0.01 to 100
SCALES = (0.01, 0.1, 0.3, 1.0, 3.0, 10.0, 100.0)
#: the fixed learning rate of each activation (see the module's docstring)
LRS = {"sigmoid": 0.9, "relu": 0.1}


def configure(parser) -> None:
    parser.add_argument("--activations", nargs="+", default=["sigmoid"], choices=list(LRS),
                        help="activations (default: sigmoid, the note's network; add relu "
                        "for the ReLU LeNet, twice the time)")
    parser.add_argument("--arms", nargs="+", default=list(lr_sweep.ARMS),
                        choices=list(lr_sweep.ARMS),
                        help="bn: the note's LeNet-BN; none: the same network without BN "
                        "(default: both)")
    parser.add_argument("--scales", nargs="+", type=float, default=list(SCALES),
                        help="factors on the xavier-uniform weights (default: 0.01 0.1 0.3 1 3 "
                        "10 100)")
    parser.add_argument("--sigmoid-lr", type=float, default=LRS["sigmoid"],
                        help=f"learning rate of the sigmoid networks (default: {LRS['sigmoid']})")
    parser.add_argument("--relu-lr", type=float, default=LRS["relu"],
                        help=f"learning rate of the ReLU networks (default: {LRS['relu']})")
    sweep.add_options(parser, "init-scale", seeds=3, epochs=2, max_steps=True, recalibrate=True)


def run_key(activation: str, arm: str, scale: float, seed: int) -> str:
    return f"{activation}/{arm}/scale={scale:g}/seed={seed}"


def replay_losses(run: dict, steps: int) -> list[float]:
    """The first ``steps`` losses of one run (``activation``, ``arm``, ``lr``, ``init_scale``,
    ``seed``), on the CPU: what the test suite replays."""
    return lr_sweep.replay_losses(run, steps)


def run(args) -> int:
    if any(s <= 0 for s in args.scales):
        raise SystemExit(f"--scales must be positive factors; got {args.scales}")
    device = torch.device(args.device)
    lrs = {"sigmoid": args.sigmoid_lr, "relu": args.relu_lr}
    config = {"activations": args.activations, "arms": args.arms, "scales": args.scales,
              "lrs": {a: lrs[a] for a in args.activations}, "seeds": args.seeds,
              "epochs": args.epochs, "batch_size": lr_sweep.BATCH_SIZE,
              "max_steps": args.max_steps, "failed_at": lr_sweep.FAILED_AT,
              **({"recalibration_images": args.recalibrate} if args.recalibrate else {}),
              "device": device.type, "threads": args.threads, "dataset": sweep.DATASET,
              "model": {arm: f"bnref.models.lenet_variant(bn={lr_sweep.ARMS[arm]!r}, "
                        f"activation=..., norm_layer=bnref.speed.fused.FusedBatchNorm)"
                        for arm in args.arms},
              "init": "xavier-uniform weights of every Conv2d and Linear times the scale; "
                      "biases: PyTorch's default",
              "training": "bnref.d2l.train.fit: SGD, cross-entropy, stops at the first "
                          "non-finite loss; test accuracy on all 10000 test images at the end"}
    rec = sweep.start(args, "init-scale", config)
    grid = sweep.grid(run_key, args.seeds, activation=args.activations, arm=args.arms,
                      scale=args.scales)
    for key, (act, arm, scale, seed) in sweep.pending(rec, grid):
        net, history = lr_sweep.train_one(
            act, arm, lrs[act], seed, epochs=args.epochs, max_steps=args.max_steps,
            init_scale=scale, eval_images=sweep.TEST_BATCH, device=device,
            record_losses=1, progress=not args.no_progress)
        acc = sweep.score(net, device)
        first = history.step_losses[0] if history.step_losses else None
        r = {"activation": act, "arm": arm, "init_scale": scale, "lr": lrs[act],
             "seed": seed, **lr_sweep.outcome(history, acc),
             "first_loss": sweep.finite(first) if first is not None else None}
        if args.recalibrate and arm == "bn" and history.diverged_at is None:
            r["recalibrated_test_acc"] = sweep.score(net, device, recalibrated=args.recalibrate)
        rec.add(key, r, seconds=history.train_seconds)
        status = (f"diverged at step {history.diverged_at}" if r["diverged"]
                  else "trained" if r["trained"] else "failed to train")
        print(f"{act:>7} {arm:>4} scale {scale:<5g} seed {seed}: test acc "
              f"{acc:.4f}, {status} ({r['train_seconds']:.1f} s)", flush=True)
    # BN at the extreme scales; without BN at 0.3 and 3 (at 100 its first losses may be inf)
    specs = [{"activation": act, "arm": arm, "lr": lrs[act], "init_scale": s, "seed": 0}
             for act in args.activations for arm in args.arms
             for s in ((0.01, 100.0) if arm == "bn" else (0.3, 3.0))]
    sweep.finish(rec, __name__, specs, figure="init-scale")
    return 0
