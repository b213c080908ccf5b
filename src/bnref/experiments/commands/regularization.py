"""Regularization where there is something to regularize: 2,000 images trained 100 epochs.

On the full training set a few epochs leave the LeNet with a train-test gap
of one or two points, so nothing there can show whether dropout is still
needed beside BN, or whether the noise in BN's batch statistics (ghost BN,
Hoffer et al. 2017; noisy BN, Santurkar et al. 2018) regularizes. This
command trains the ReLU LeNet (:func:`bnref.models.lenet_variant`) on the
first ``--train-images`` (2,000) training images for ``--epochs`` (100)
epochs at batch 128 (16 steps an epoch, 1,600 in all), SGD at one learning
rate ``--lr`` for every arm, so that the networks overfit: training accuracy
reaches 1 while the test accuracy stops well below it. The arms
(:data:`ARMS`) each change one thing from ``bn`` or from ``none``:

* ``none`` — no BN, no dropout; ``none+dropout`` — with dropout 0.5 before
  each hidden linear layer (the classic use);
* ``bn`` — the note's BN after every convolution and hidden linear layer;
  ``bn+dropout`` — with dropout 0.5 before each hidden linear layer (the
  layers that feed BN: Li et al. 2019's variance shift);
  ``bn+dropout-classifier`` — dropout 0.5 before the last linear layer only
  (Li et al.'s remedy: no BN after it);
* ``ghost-16`` — BN whose statistics come from sub-batches of 16
  (:func:`bnref.norm.variants.ghost_layer`): more noise;
* ``noisy`` — BN plus noise in training (:class:`bnref.norm.variants.NoisyBatchNorm`).

Each network is scored at the end, in evaluation mode, on the 10,000 test
images and on its 2,000 training images (the gap is their difference); BN
arms with their moving statistics as trained and re-estimated from the
2,000 training images (:func:`bnref.recalibrate.recalibrate`, dropout off;
the primary metric). Every finished run is written at once (resumable). Page
printer: :func:`bnref.experiments.report.pages.regularization_table`.

    python -m bnref regularization --seeds 5          # the full run, writes the JSON
    python -m bnref regularization --seeds 1 --epochs 2 --arms bn none   # a quick look
"""

from __future__ import annotations

import torch

from bnref.d2l.train import fit
from bnref.experiments.harness import sweep
from bnref.models import lenet_variant
from bnref.norm import BatchNorm
from bnref.norm.variants import NoisyBatchNorm, ghost_layer

__all__ = ["ARMS", "configure", "run", "train_one", "replay_losses", "run_key"]

#: arm -> lenet_variant's keywords (bn, dropout, dropout_at) and its BN layer
ARMS = {
    "none": dict(bn="none"),
    "none+dropout": dict(bn="none", dropout=0.5, dropout_at="hidden"),
    "bn": dict(bn="all"),
    "bn+dropout": dict(bn="all", dropout=0.5, dropout_at="hidden"),
    "bn+dropout-classifier": dict(bn="all", dropout=0.5, dropout_at="classifier"),
    "ghost-16": dict(bn="all", norm_layer=ghost_layer(16)),
    "noisy": dict(bn="all", norm_layer=NoisyBatchNorm),
}
BATCH_SIZE = 128


def configure(parser) -> None:
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS),
                        help="which networks (default: all)")
    parser.add_argument("--train-images", type=int, default=2000,
                        help="train on the first N training images (default: 2000)")
    parser.add_argument("--lr", type=float, default=0.1,
                        help="SGD learning rate of every arm (default: 0.1)")
    sweep.add_options(parser, "regularization", seeds=5, epochs=100, max_steps=True)


def run_key(arm: str, seed: int) -> str:
    return f"{arm}/seed={seed}"


def train_one(arm: str, seed: int = 0, *, lr: float = 0.1, train_images: int = 2000,
              epochs: int | None = 100, max_steps: int | None = None, device="cpu",
              record_losses: int = 0, progress: bool = False):
    """Train one arm's ReLU LeNet on the first ``train_images`` training images from ``seed``.
    Returns ``(net, history)`` (:class:`bnref.d2l.train.History`)."""
    if arm not in ARMS:
        raise ValueError(f"arm must be one of {', '.join(ARMS)}; got {arm!r}")
    kwargs = {"norm_layer": BatchNorm, **ARMS[arm]}
    torch.manual_seed(seed)
    net = lenet_variant(activation="relu", **kwargs)
    history = fit(net, sweep.train_data(BATCH_SIZE, device, images=train_images), lr=lr,
                  epochs=epochs, max_steps=max_steps, device=device,
                  record_losses=record_losses, min_batch=2, stop_on_nonfinite=True,
                  progress=progress, desc=f"{arm} seed {seed}")
    return net, history


def replay_losses(run: dict, steps: int) -> list[float]:
    """The first ``steps`` losses of one run (``arm``, ``seed``, ``lr``, ``train_images``),
    on the CPU: what the test suite replays."""
    _, history = train_one(run["arm"], run["seed"], lr=run["lr"],
                           train_images=run["train_images"], epochs=None, max_steps=steps,
                           record_losses=steps)
    return history.step_losses


def run(args) -> int:
    if not args.lr > 0:
        raise SystemExit(f"--lr must be a positive learning rate; got {args.lr}")
    if not 2 <= args.train_images <= 60_000:
        raise SystemExit(f"--train-images must be between 2 and 60000; got {args.train_images}")
    device = torch.device(args.device)
    config = {"arms": args.arms, "train_images": args.train_images, "lr": args.lr,
              "seeds": args.seeds, "epochs": args.epochs, "batch_size": BATCH_SIZE,
              "max_steps": args.max_steps, "device": device.type, "threads": args.threads,
              "dataset": sweep.DATASET, "activation": "relu",
              "model": {arm: "bnref.models.lenet_variant(activation='relu', "
                        + ", ".join(f"{k}={v!r}" if k != "norm_layer" else
                                    f"norm_layer={v.__name__}" for k, v in ARMS[arm].items())
                        + ")" for arm in args.arms},
              "recalibration_images": args.train_images,
              "evaluation": "at the end, evaluation mode: all 10000 test images and the "
                            "training images; BN arms as trained and re-estimated"}
    rec = sweep.start(args, "regularization", config)
    for key, (arm, seed) in sweep.pending(rec, sweep.grid(run_key, args.seeds, arm=args.arms)):
        net, history = train_one(arm, seed, lr=args.lr, train_images=args.train_images,
                                 epochs=args.epochs, max_steps=args.max_steps, device=device,
                                 progress=not args.no_progress)
        r = {"arm": arm, "seed": seed, "lr": args.lr, "train_images": args.train_images,
             "steps": history.steps, "diverged_at": history.diverged_at,
             "train_loss": [sweep.finite(x) for x in history.train_loss],
             "train_seconds": round(history.train_seconds, 2)}
        if history.diverged_at is None:
            nets = {"": net}
            if ARMS[arm]["bn"] != "none":
                nets["recalibrated_"] = sweep.recalibrated_copy(net, args.train_images, device)
            for prefix, scored in nets.items():
                test = sweep.score(scored, device)
                train = sweep.score(scored, device, train=True, images=args.train_images)
                r.update({f"{prefix}test_acc": test, f"{prefix}train_acc": train,
                          f"{prefix}gap": train - test})
        rec.add(key, r, seconds=history.train_seconds)
        print(f"{arm:>21} seed {seed}: test acc {r.get('test_acc')}, re-estimated "
              f"{r.get('recalibrated_test_acc')}, train acc {r.get('train_acc')}, final loss "
              f"{r['train_loss'][-1] if r['train_loss'] else None} "
              f"({r['train_seconds']:.1f} s)", flush=True)
    specs = [{"arm": arm, "seed": 0, "lr": args.lr, "train_images": args.train_images}
             for arm in args.arms]
    sweep.finish(rec, __name__, specs)
    return 0
