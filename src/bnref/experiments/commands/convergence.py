"""Accuracy at convergence: the LeNet with and without BN, each at its own best learning rate.

The note says batch normalization generally does not change the accuracy a
network reaches, only how fast it gets there. Ten epochs at one rate cannot
test that: the sigmoid LeNet without BN is still rising after them. This
command trains :func:`bnref.models.lenet_variant` with BN (``bn="all"``, the
note's LeNet-BN) and without it (``bn="none"``), sigmoid and ReLU, each at
the rate where it did best in the learning-rate sweep (:data:`LRS`), until it
stops improving, and compares the accuracies they converge to.

The stopping rule, fixed before the runs:

* the last ``--held-out`` (10,000) training images are held out as a
  validation set; the network trains on the other 50,000, batch 256, SGD,
  the xavier-uniform initialization of :func:`bnref.d2l.train.fit`;
* after every epoch the validation accuracy is scored; a run stops when it
  has not beaten its best validation accuracy by more than ``--min-delta``
  (0.001) for ``--patience`` (5) epochs, or after ``--max-epochs`` (40), or
  when its loss becomes inf or nan;
* the reported accuracy is the test accuracy (all 10,000 test images) at the
  epoch of the best validation accuracy: the test set chooses nothing.

BN arms are scored with their statistics re-estimated from ``--recalibrate``
training images (:func:`bnref.recalibrate.recalibrate`; the primary metric,
used for the stopping rule too) and also as trained, with the moving
averages; without BN the two are the same network. BN layers are
:class:`bnref.speed.fused.FusedBatchNorm` (held to :class:`bnref.BatchNorm`
by tests/speed/test_contract.py). Every finished run is written at once
(resumable). Page printer: :func:`bnref.experiments.report.pages.convergence_table`.

    python -m bnref convergence --seeds 5          # the full run, writes the JSON
    python -m bnref convergence --seeds 1 --max-epochs 2 --activations relu   # a quick look
"""

from __future__ import annotations

import torch

from bnref.d2l.train import fit
from bnref.experiments.commands import lr_sweep
from bnref.experiments.harness import sweep
from bnref.models import lenet_variant
from bnref.speed.fused import FusedBatchNorm

__all__ = ["LRS", "configure", "run", "train_one", "replay_losses", "run_key", "stop_epoch"]

#: per (activation, arm): the best rate of the committed learning-rate sweep (lr-range-cpu.json,
#: 5 seeds, 2 epochs; BN arms by re-estimated accuracy), held to it by a test
LRS = {("sigmoid", "bn"): 1.0, ("sigmoid", "none"): 1.0,
       ("relu", "bn"): 0.3, ("relu", "none"): 0.1}
BATCH_SIZE = 256


def configure(parser) -> None:
    parser.add_argument("--activations", nargs="+", default=list(lr_sweep.ACTIVATIONS),
                        choices=lr_sweep.ACTIVATIONS, help="activations (default: sigmoid relu)")
    parser.add_argument("--arms", nargs="+", default=list(lr_sweep.ARMS),
                        choices=list(lr_sweep.ARMS), help="bn, none (default: both)")
    parser.add_argument("--max-epochs", type=int, default=40,
                        help="stop after this many epochs at most (default: 40)")
    parser.add_argument("--patience", type=int, default=5,
                        help="stop after this many epochs without a new best validation "
                        "accuracy (default: 5)")
    parser.add_argument("--min-delta", type=float, default=0.001,
                        help="a new best must beat the old one by more than this (default: "
                        "0.001, a tenth of a point)")
    parser.add_argument("--held-out", type=int, default=10_000,
                        help="the last N training images, held out for the stopping rule "
                        "(default: 10000)")
    parser.add_argument("--recalibrate", type=int, default=4096, metavar="N",
                        help="training images that re-estimate BN's statistics before each "
                        "score (default: 4096)")
    sweep.add_options(parser, "convergence", seeds=5, max_steps=True)


def run_key(activation: str, arm: str, lr: float, seed: int) -> str:
    return f"{activation}/{arm}/lr={lr:g}/seed={seed}"


def stop_epoch(val_acc: list[float], patience: int, min_delta: float) -> int | None:
    """The epoch (1-based) at which the stopping rule ends a run whose validation accuracies
    so far are ``val_acc``, or ``None`` while it goes on.

    Examples:
        >>> stop_epoch([0.5, 0.6, 0.6005, 0.6, 0.59], patience=3, min_delta=0.001)
        5
        >>> stop_epoch([0.5, 0.6, 0.61], patience=3, min_delta=0.001) is None
        True
    """
    best, since = float("-inf"), 0
    for epoch, acc in enumerate(val_acc, 1):
        if acc > best + min_delta:
            best, since = acc, 0
        else:
            since += 1
            if since >= patience:
                return epoch
    return None


def train_one(activation: str, arm: str, lr: float, seed: int = 0, *, max_epochs: int = 40,
              patience: int = 5, min_delta: float = 0.001, held_out: int = 10_000,
              recalibrate: int = 4096, max_steps: int | None = None, device="cpu",
              record_losses: int = 0, progress: bool = False, scored: bool = True) -> dict:
    """Train one network by the stopping rule (see the module's docstring); returns its run
    record: per epoch the training loss and the validation and test accuracies
    (``scored=False``: the losses only, nothing scored, for the replay)."""
    torch.manual_seed(seed)
    net = lenet_variant(bn=lr_sweep.ARMS[arm], activation=activation, norm_layer=FusedBatchNorm)
    data = sweep.train_data(BATCH_SIZE, device, images=60_000 - held_out)
    bn = arm == "bn"
    r = {"activation": activation, "arm": arm, "lr": lr, "seed": seed, "train_loss": [],
         "val_acc": [], "test_acc": [], "test_acc_as_trained": [], "steps": 0,
         "diverged_at": None, "train_seconds": 0.0, "step_losses": []}
    for epoch in range(1, max_epochs + 1):
        history = fit(net, data, lr=lr, epochs=1, device=device,
                      init=lr_sweep.scaled_xavier() if epoch == 1 else None,
                      max_steps=None if max_steps is None else max_steps - r["steps"],
                      record_losses=record_losses if epoch == 1 else 0, min_batch=2,
                      stop_on_nonfinite=True, progress=progress,
                      desc=f"{activation} {arm} lr {lr:g} seed {seed} epoch {epoch}")
        r["steps"] += history.steps
        r["train_seconds"] += history.train_seconds
        r["step_losses"] += history.step_losses
        if history.diverged_at is not None:
            r["diverged_at"] = r["steps"] - history.steps + history.diverged_at
            break
        if not scored:
            break
        model = sweep.recalibrated_copy(net, recalibrate, device) if bn else net
        r["train_loss"].append(history.train_loss[-1])
        r["val_acc"].append(sweep.score(model, device, held_out=held_out))
        r["test_acc"].append(sweep.score(model, device))
        r["test_acc_as_trained"].append(sweep.score(net, device) if bn else r["test_acc"][-1])
        if stop_epoch(r["val_acc"], patience, min_delta) or (
                max_steps is not None and r["steps"] >= max_steps):
            break
    r["epochs"] = len(r["val_acc"])
    if r["val_acc"]:
        best = max(range(r["epochs"]), key=lambda i: (r["val_acc"][i], -i))
        r.update(best_epoch=best + 1, final_test_acc=r["test_acc"][best],
                 final_test_acc_as_trained=r["test_acc_as_trained"][best],
                 stopped_by=("patience" if stop_epoch(r["val_acc"], patience, min_delta)
                             else "max-epochs" if r["epochs"] == max_epochs else "max-steps"))
    else:
        r.update(best_epoch=None, final_test_acc=None, final_test_acc_as_trained=None,
                 stopped_by="diverged")
    r["train_seconds"] = round(r["train_seconds"], 2)
    return r


def replay_losses(run: dict, steps: int) -> list[float]:
    """The first ``steps`` losses of one run (``activation``, ``arm``, ``lr``, ``seed``), on
    the CPU: what the test suite replays."""
    return train_one(run["activation"], run["arm"], run["lr"], run["seed"], max_steps=steps,
                     record_losses=steps, scored=False)["step_losses"]


def run(args) -> int:
    for option in ("max_epochs", "patience", "held_out", "recalibrate"):
        if getattr(args, option) < 1:
            raise SystemExit(f"--{option.replace('_', '-')} must be >= 1; "
                             f"got {getattr(args, option)}")
    if not 0 <= args.min_delta < 1:
        raise SystemExit(f"--min-delta must be an accuracy difference in [0, 1); "
                         f"got {args.min_delta}")
    if args.recalibrate > 60_000 - args.held_out:
        raise SystemExit(f"--recalibrate ({args.recalibrate}) must not exceed the training "
                         f"images left after --held-out ({60_000 - args.held_out})")
    device = torch.device(args.device)
    lrs = {f"{a}/{m}": LRS[(a, m)] for a in args.activations for m in args.arms}
    config = {"activations": args.activations, "arms": args.arms, "lrs": lrs,
              "seeds": args.seeds, "max_epochs": args.max_epochs, "patience": args.patience,
              "min_delta": args.min_delta, "held_out": args.held_out,
              "recalibration_images": args.recalibrate, "batch_size": BATCH_SIZE,
              "max_steps": args.max_steps, "device": device.type, "threads": args.threads,
              "dataset": sweep.DATASET,
              "model": {arm: f"bnref.models.lenet_variant(bn={lr_sweep.ARMS[arm]!r}, "
                        f"activation=..., norm_layer=bnref.speed.fused.FusedBatchNorm)"
                        for arm in args.arms},
              "stopping": "train on the first 60000 - held_out training images; stop when the "
                          "validation accuracy (last held_out training images; BN re-estimated) "
                          "has not beaten its best by more than min_delta for patience epochs, "
                          "or at max_epochs; report the test accuracy at the best validation "
                          "epoch"}
    rec = sweep.start(args, "convergence", config)
    grid = sweep.grid(lambda activation, arm, seed: run_key(
        activation, arm, LRS[(activation, arm)], seed),
        args.seeds, activation=args.activations, arm=args.arms)
    for key, (act, arm, seed) in sweep.pending(rec, grid):
        r = train_one(act, arm, LRS[(act, arm)], seed, max_epochs=args.max_epochs,
                      patience=args.patience, min_delta=args.min_delta,
                      held_out=args.held_out, recalibrate=args.recalibrate,
                      max_steps=args.max_steps, device=device, progress=not args.no_progress)
        del r["step_losses"]
        rec.add(key, r, seconds=r["train_seconds"])
        print(f"{act:>7} {arm:>4} lr {r['lr']:g} seed {seed}: {r['epochs']} epochs "
              f"({r['stopped_by']}), best epoch {r['best_epoch']}, test acc "
              f"{r['final_test_acc']} (as trained {r['final_test_acc_as_trained']}) "
              f"({r['train_seconds']:.1f} s)", flush=True)
    specs = [{"activation": a, "arm": m, "lr": LRS[(a, m)], "seed": 0}
             for a in args.activations for m in args.arms]
    sweep.finish(rec, __name__, specs)
    return 0
