r"""The noise view of BN: ghost, noisy and deterministic batch normalization at batch 512.

Batch normalization normalizes each example with statistics of the other
examples in its batch, so in training its output is noisy; a later view (the
note mentions it) sees part of BN's effect in that noise. This command trains
the note's LeNet-BN (:func:`bnref.models.lenet_variant`) with one thing
changed, the batch-normalization layer's ``function`` (the formula it
computes), and nothing else: batch 512, the note's learning rate 1.0, SGD,
xavier initialization, ``--epochs`` epochs of the real Fashion-MNIST through
:func:`bnref.d2l.train.fit`, from ``--seeds`` seeds. The arms (:data:`ARMS`):

* ``bn`` — plain BN: statistics over the whole batch of 512 (the reference
  :class:`bnref.BatchNorm`).
* ``ghost-16`` … ``ghost-128`` — ghost batch normalization (Hoffer, Hubara &
  Soudry 2017, "Train longer, generalize better"): the batch of 512 is cut
  into virtual sub-batches of 16, 32, 64 or 128 consecutive examples (the
  loader shuffles every epoch) and each sub-batch is normalized with its own
  mean and biased variance by the reference :func:`bnref.batch_norm`
  (:class:`bnref.norm.variants.GhostBatchNorm`). The
  moving statistics are updated once per step with the *unweighted mean over
  the sub-batches* of their statistics: ``moving <- m * moving + (1 - m) *
  mean_k(stat_k)`` (the note's momentum ``m = 0.9``); the moving variance is
  therefore the mean within-sub-batch variance. (PyTorch recipes that call
  ``nn.BatchNorm`` on each chunk in turn instead apply the moving average
  once per chunk.) A last sub-batch of one example is merged into the one
  before it. In evaluation mode it is plain BN with the moving statistics.
* ``noisy`` — "noisy" BN after Santurkar et al. 2018 (:func:`bnref.norm.variants.noisy_batch_norm`):
  plain BN, then, in training only, i.i.d. Gaussian noise added to every
  activation of every example, from a distribution with non-zero mean and
  non-unit variance that changes at every step.
* ``deterministic`` — BN that normalizes with its moving statistics during
  training too (:class:`bnref.norm.variants.MovingStatisticsBatchNorm`), so its output does not depend on
  the other examples of the batch, and updates them with the batch statistics
  as plain BN does (no gradient flows through the statistics).

Each trained network is scored in evaluation mode on the 10,000 test images
and on a fixed subset of the training images (the first ``--train-subset``);
the *train–test gap* is the difference of the two accuracies. Twice: with the
moving statistics as training left them ("as trained"), and with every BN
layer's statistics re-estimated, in order, on ``PRECISE_IMAGES`` training
images passed through the network in evaluation mode
(:func:`bnref.recalibrate.recalibrate`; "precise BN", Wu & Johnson 2021). At the note's
learning rate the moving averages lag behind the weights, and evaluation
mode then scores far below training mode; the precise statistics separate
that lag from what each arm's noise did to the weights. Every finished
run is written at once through :class:`bnref.experiments.harness.record.Record` (run
again with the same options, the command resumes); the results file keeps
the first 6 losses of one run per arm to be replayed by the test suite. The
page printer is :func:`bnref.experiments.report.pages.ghost_bn_table`, the figure
:func:`bnref.experiments.report.figures.ghost_bn`.

    python -m bnref ghost-bn --threads 1          # full run, writes the JSON
    python -m bnref ghost-bn --seeds 1 --max-steps 5 --arms bn ghost-16   # a quick look
"""

from __future__ import annotations

import torch

from bnref.d2l.train import fit
from bnref.experiments.harness import sweep
from bnref.models import lenet_variant
from bnref.norm import BatchNorm
from bnref.norm.variants import (
    NOISE_MEAN, NOISE_STD, MovingStatisticsBatchNorm, NoisyBatchNorm, ghost_layer,
)

__all__ = ["ARMS", "GHOST_SIZES", "run_key", "layer_for", "configure", "run", "train_one", "replay_losses",
           "scores", "PRECISE_IMAGES"]

GHOST_SIZES = (128, 64, 32, 16)
#: arm name -> what it is (the table's order)
ARMS = {"bn": "plain BN, statistics over the whole batch of 512",
        **{f"ghost-{v}": f"ghost BN, statistics over sub-batches of {v}" for v in GHOST_SIZES},
        "noisy": "noisy BN (Santurkar et al. 2018): noise added after BN in training",
        "deterministic": "BN normalizing with its moving statistics in training too"}
BATCH_SIZE = 512
LR = 1.0
#: training images whose statistics replace the moving ones (precise_statistics)
PRECISE_IMAGES = 4096


def run_key(arm: str, seed: int) -> str:
    return f"{arm}/seed={seed}"


def layer_for(arm: str) -> type[BatchNorm]:
    """The batch-normalization class of one arm."""
    if arm == "bn":
        return BatchNorm
    if arm.startswith("ghost-") and arm in ARMS:
        return ghost_layer(int(arm.split("-")[1]))
    if arm == "noisy":
        return NoisyBatchNorm
    if arm == "deterministic":
        return MovingStatisticsBatchNorm
    raise ValueError(f"arm must be one of {', '.join(ARMS)}; got {arm!r}")


def configure(parser) -> None:
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS),
                        help="which BN layers (default: all)")
    parser.add_argument("--train-subset", type=int, default=10_000,
                        help="training images scored in evaluation mode for the train-test "
                        "gap: the first N (default: 10000)")
    sweep.add_options(parser, "ghost-bn", seeds=3, epochs=2, max_steps=True, device=False)


def train_one(arm: str, seed: int = 0, epochs: int | None = 1, max_steps: int | None = None,
              record_losses: int = 0, progress: bool = False):
    """Train ``lenet_variant(norm_layer=layer_for(arm))`` at batch 512, lr 1.0, from ``seed``.

    Returns ``(net, history)`` (see :func:`bnref.d2l.train.fit`).
    """

    layer = layer_for(arm)
    torch.manual_seed(seed)
    net = lenet_variant(norm_layer=layer)
    history = fit(net, sweep.train_data(BATCH_SIZE), lr=LR,
                  epochs=epochs, max_steps=max_steps, device="cpu",
                  record_losses=record_losses, stop_on_nonfinite=True, progress=progress,
                  desc=f"{arm} seed {seed}")
    return net, history


def replay_losses(run: dict, steps: int) -> list[float]:
    """The first ``steps`` losses of one run (``arm``, ``seed``), on the CPU: what the test
    suite replays."""
    _, history = train_one(run["arm"], run["seed"], epochs=None, max_steps=steps,
                           record_losses=steps)
    return history.step_losses


def scores(net, train_subset: int = 10_000, recalibrated: int | None = None) -> dict:
    """Evaluation-mode accuracy on the 10,000 test images and on the first ``train_subset``
    training images, and their difference (``gap`` = train - test); with ``recalibrated=N``,
    after re-estimating the moving statistics from N training images (:func:`sweep.score`)."""
    if recalibrated is not None:  # re-estimated once, scored twice
        net = sweep.recalibrated_copy(net, recalibrated)
    test = sweep.score(net)
    train = sweep.score(net, train=True, images=train_subset)
    return {"test_acc": test, "train_acc_eval": train, "gap": train - test}


def run(args) -> int:
    config = {"arms": args.arms, "epochs": args.epochs, "seeds": args.seeds,
              "batch_size": BATCH_SIZE, "lr": LR, "train_subset": args.train_subset,
              "max_steps": args.max_steps, "threads": args.threads, "device": "cpu",
              "noise": {"mean": f"U(-{NOISE_MEAN}, {NOISE_MEAN}) per channel per step",
                        "std": f"U({NOISE_STD[0]}, {NOISE_STD[1]}) per channel per step",
                        "added": "to BN's output in training, i.i.d. N(mean, std^2) per "
                                 "activation"},
              "precise_images": PRECISE_IMAGES,
              "ghost_moving_statistics": "moving <- m * moving + (1 - m) * mean over "
                                         "sub-batches of their statistics, once per step",
              "dataset": sweep.DATASET,
              "model": "bnref.models.lenet_variant(norm_layer=...): the note's LeNet-BN, "
                       "only the BN layer's function changed",
              "optimizer": f"SGD lr {LR}, cross-entropy, xavier-uniform init (fit)"}
    rec = sweep.start(args, "ghost-bn", config)
    for key, (arm, seed) in sweep.pending(rec, sweep.grid(run_key, args.seeds, arm=args.arms)):
        net, history = train_one(arm, seed, epochs=args.epochs, max_steps=args.max_steps,
                                 progress=not args.no_progress)
        r = {"arm": arm, "seed": seed, "steps": history.steps,
             "diverged_at": history.diverged_at,
             "train_loss": history.train_loss, "train_acc": history.train_acc,
             "train_seconds": round(history.train_seconds, 2),
             **scores(net, args.train_subset),
             "precise": scores(net, args.train_subset, recalibrated=PRECISE_IMAGES)}
        rec.add(key, r, seconds=history.train_seconds)
        print(f"{arm:>13} seed {seed}: {r['steps']} steps, test acc {r['test_acc']:.4f}, "
              f"train acc (eval) {r['train_acc_eval']:.4f}, gap {r['gap']:+.4f}; precise "
              f"statistics: test acc {r['precise']['test_acc']:.4f}, gap "
              f"{r['precise']['gap']:+.4f} ({r['train_seconds']:.1f} s)", flush=True)
    # one replayed run per code path: each non-ghost arm, and the ghost arm with the smallest
    # sub-batches (the other ghost arms run the same code with a larger sub-batch)
    ghosts = sorted((a for a in args.arms if a.startswith("ghost-")),
                    key=lambda a: int(a.split("-")[1]))
    specs = [{"arm": arm, "seed": 0} for arm in args.arms if not arm.startswith("ghost-")]
    specs += [{"arm": ghosts[0], "seed": 0}] if ghosts else []

    sweep.finish(rec, __name__, specs, figure="ghost-bn")
    return 0
