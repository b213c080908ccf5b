r"""Ablation: which layers need BN, and which parts of BN matter (the section's exercises).

The exercises of the chapter ask three questions that one network answers
when one thing is changed at a time. The network is the note's LeNet-BN
(:func:`bnref.models.lenet_variant`: sigmoid, 2×2 max pooling, batch 256,
SGD at the note's learning rate 1.0, xavier initialization), trained on the
real Fashion-MNIST training set and scored on its 10,000 test images after
every epoch (BN in evaluation mode, with its moving statistics). The arms:

* **where BN goes** — ``all`` (the note's network), ``conv`` (after the two
  convolutions only), ``fc`` (after the two hidden linear layers only),
  ``none`` (removed; nothing else changes);
* **which part of BN** — BN everywhere, its layers replaced by one of three
  variants of :mod:`bnref.norm.variants`, each a :class:`bnref.BatchNorm` that changes only
  ``function`` (as the faster forms of :mod:`bnref.speed` do):
  .. math::

      \text{mean-only:}\quad y = \gamma\,(x-\hat\mu) + \beta,\qquad
      \text{std-only:}\quad y = \gamma\,\frac{x}{\sqrt{\hat\sigma^2+\epsilon}} + \beta,

  and ``fixed-affine``: :math:`y = (x-\hat\mu)/\sqrt{\hat\sigma^2+\epsilon}`,
  the normalization with :math:`\gamma = 1`, :math:`\beta = 0` fixed (the
  layer's ``gamma`` and ``beta`` are not used, so they get no gradient and
  SGD never changes them).

Each variant keeps the reference's moving statistics (the note's momentum
convention, both statistics updated in training) and uses in evaluation
what it uses in training: mean-only subtracts the moving mean, std-only
divides by the square root of the moving variance.

After training, each network with BN is scored once more with its moving
statistics re-estimated from one batch of 4096 training images
(:func:`bnref.recalibrate.recalibrate`; the weights do not change): when this recovers the accuracy, what held it down was the moving
statistics, not the weights.

Every arm is trained from ``--seeds`` seeds; each finished run is written at
once through :class:`bnref.experiments.harness.record.Record` (run again with the
same options, the command resumes), with a ``replay`` entry for the test
suite. :func:`bnref.experiments.report.pages.ablation_table` prints the table.

    python -m bnref ablation --threads 1               # the full run
    python -m bnref ablation --epochs 1 --steps-per-epoch 5 --seeds 1 --out /tmp/a.json
"""

from __future__ import annotations

import argparse
import statistics

import torch

from bnref.d2l.train import fit
from bnref.experiments.harness import sweep
from bnref.models import lenet_variant
from bnref.norm import BatchNorm
from bnref.norm.variants import FixedAffineBatchNorm, MeanOnlyBatchNorm, StdOnlyBatchNorm

__all__ = ["ARMS", "run_key", "build", "train_one", "replay_losses", "affine_summary", "configure",
           "run"]

#: training images whose statistics re-estimate the moving statistics after training
RECALIBRATION_IMAGES = 4096


#: arm -> (what changes, lenet_variant's arguments)
ARMS = {
    "all": ("BN after every convolution and hidden linear layer (the note's)", {"bn": "all"}),
    "conv": ("BN after the two convolutions only", {"bn": "conv"}),
    "fc": ("BN after the two hidden linear layers only", {"bn": "fc"}),
    "none": ("no BN", {"bn": "none"}),
    "mean-only": ("BN everywhere, only the mean removed", {"norm_layer": MeanOnlyBatchNorm}),
    "std-only": ("BN everywhere, only divided by the std", {"norm_layer": StdOnlyBatchNorm}),
    "fixed-affine": ("BN everywhere, gamma = 1 and beta = 0 fixed",
                     {"norm_layer": FixedAffineBatchNorm}),
}


def run_key(arm: str, seed: int) -> str:
    return f"{arm}/seed={seed}"


def build(arm: str) -> torch.nn.Sequential:
    """The network of ``arm`` (untrained; :func:`bnref.d2l.train.fit` initializes it)."""
    if arm not in ARMS:
        raise ValueError(f"arm must be one of {', '.join(ARMS)}; got {arm!r}")
    return lenet_variant(activation="sigmoid", **ARMS[arm][1])


def train_one(arm: str, seed: int, *, lr: float, batch_size: int, epochs: int | None = None,
              steps_per_epoch: int | None = None, max_steps: int | None = None,
              eval_batches: int | None = None, record_losses: int = 0, device="cpu",
              progress: bool = False, test: bool = True):
    """Train ``arm``'s network from ``torch.manual_seed(seed)``; returns ``(net, history)``."""
    torch.manual_seed(seed)  # the initialization and the shuffling order
    net = build(arm)
    history = fit(net, sweep.train_data(batch_size, device),
                  sweep.test_data(device) if test else None, lr=lr, epochs=epochs,
                  max_steps=max_steps, steps_per_epoch=steps_per_epoch, device=device,
                  eval_batches=eval_batches, record_losses=record_losses, min_batch=2,
                  stop_on_nonfinite=True, progress=progress, desc=f"{arm} seed {seed}")
    return net, history


def replay_losses(run: dict, steps: int) -> list[float]:
    """The first ``steps`` losses of one run (``arm``, ``seed``, ``lr``, ``batch_size``) on
    the CPU: what the test suite replays."""
    _, history = train_one(run["arm"], run["seed"], lr=run["lr"], batch_size=run["batch_size"],
                           max_steps=steps, record_losses=steps, test=False)
    return history.step_losses


def affine_summary(net) -> list[dict]:
    """Per BatchNorm layer, the mean and std of its γ and β after training."""
    out = []
    for m in net.modules():
        if isinstance(m, BatchNorm):
            g, b = m.gamma.detach().reshape(-1).cpu(), m.beta.detach().reshape(-1).cpu()
            out.append({"features": m.num_features,
                        "gamma_mean": g.mean().item(), "gamma_std": g.std().item(),
                        "beta_mean": b.mean().item(), "beta_std": b.std().item()})
    return out


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--arms", nargs="+", choices=tuple(ARMS), default=list(ARMS),
                        help="which networks (default: all seven)")
    parser.add_argument("--lr", type=float, default=1.0, help="SGD learning rate (default: "
                        "1.0, the note's)")
    parser.add_argument("--batch-size", type=int, default=256, help="default: 256, the note's")
    parser.add_argument("--steps-per-epoch", type=int, default=None,
                        help="use at most this many batches per epoch (smoke runs only)")
    parser.add_argument("--eval-batches", type=int, default=None,
                        help="score at most this many test batches of 1000 (smoke runs only)")
    sweep.add_options(parser, "ablation", seeds=3, epochs=3,
                      threads_help="torch CPU threads (default: 1, for a shared machine)")


def run(args: argparse.Namespace) -> int:
    if args.batch_size < 2:
        raise SystemExit(f"--batch-size must be >= 2; got {args.batch_size}")
    device = torch.device(args.device)
    config = {"arms": args.arms, "epochs": args.epochs, "seeds": args.seeds, "lr": args.lr,
              "batch_size": args.batch_size, "steps_per_epoch": args.steps_per_epoch,
              "eval_batches": args.eval_batches, "device": device.type,
              "threads": args.threads, "activation": "sigmoid", "init": "xavier_uniform",
              "optimizer": "SGD", "model": "bnref.models.lenet_variant (the note's LeNet-BN)",
              "recalibration_images": RECALIBRATION_IMAGES,
              "dataset": sweep.DATASET,
              "what_changes": {arm: ARMS[arm][0] for arm in args.arms}}
    rec = sweep.start(args, "ablation", config)
    for key, (arm, seed) in sweep.pending(rec, sweep.grid(run_key, args.seeds, arm=args.arms)):
        net, h = train_one(arm, seed, lr=args.lr, batch_size=args.batch_size,
                           epochs=args.epochs, steps_per_epoch=args.steps_per_epoch,
                           eval_batches=args.eval_batches, device=device,
                           progress=not args.no_progress)
        r = {"arm": arm, "seed": seed, "steps": h.steps, "examples": h.examples_seen,
             "train_loss": h.train_loss, "train_acc": h.train_acc, "test_acc": h.test_acc,
             "diverged_at": h.diverged_at, "train_seconds": round(h.train_seconds, 2),
             "bn_layers": affine_summary(net)}
        if r["bn_layers"]:  # the same weights, moving statistics from one large batch
            r["recalibrated_test_acc"] = sweep.score(
                net, device, recalibrated=RECALIBRATION_IMAGES,
                images=args.eval_batches and args.eval_batches * sweep.TEST_BATCH)
        rec.add(key, r, seconds=h.elapsed_seconds[-1] if h.elapsed_seconds else None)
        last = f"test acc {h.test_acc[-1]:.3f}" if h.test_acc else "no epoch finished"
        print(f"{arm:>12} seed {seed}: {h.steps} steps, {last}"
              + (f", diverged at step {h.diverged_at}" if h.diverged_at else "")
              + f" ({h.train_seconds:.1f} s)", flush=True)
    specs = [{"arm": arm, "seed": 0, "lr": args.lr, "batch_size": args.batch_size}
             for arm in args.arms]
    sweep.finish(rec, __name__, specs)
    accs = {arm: [r["test_acc"][-1] for r in rec.runs.values()
                  if r["arm"] == arm and r["test_acc"]] for arm in args.arms}
    for arm, a in accs.items():
        if a:
            print(f"{arm:>12}: test acc {statistics.fmean(a):.3f} over {len(a)} seed(s)")
    return 0
