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
  variants below, each a :class:`bnref.BatchNorm` that changes only
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
(:func:`bnref.experiments.small_batch.recalibrate`; the weights do not
change): when this recovers the accuracy, what held it down was the moving
statistics, not the weights.

Every arm is trained from ``--seeds`` seeds; each finished run is written at
once through :class:`bnref.experiments.record.Record` (run again with the
same options, the command resumes), with a ``replay`` entry for the test
suite. :func:`bnref.experiments.pages.ablation_table` prints the table.

    python -m bnref ablation --threads 1               # the full run
    python -m bnref ablation --epochs 1 --steps-per-epoch 5 --seeds 1 --out /tmp/a.json
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch

from bnref.experiments import record
from bnref.norm import BatchNorm
from bnref.norm._checks import check_batch_norm_args
from bnref.norm._moving import moving_average, resolve_training

__all__ = ["ARMS", "MeanOnlyBatchNorm", "StdOnlyBatchNorm", "FixedAffineBatchNorm",
           "mean_only_batch_norm", "std_only_batch_norm", "fixed_affine_batch_norm",
           "build", "train_one", "replay_losses", "configure", "run"]

#: steps of one seed per arm that the results file keeps to be replayed
REPLAY_STEPS = 6
#: training images whose statistics re-estimate the moving statistics after training
RECALIBRATION_IMAGES = 4096


def _partial_batch_norm(X, gamma, beta, moving_mean, moving_var, eps, momentum, training,
                        *, center: bool, scale: bool):
    """:func:`bnref.batch_norm` with the mean subtraction (``center``) and the division by
    the standard deviation (``scale``) each switched on or off; same arguments, checks
    and moving statistics."""
    training = resolve_training(training)
    shape = check_batch_norm_args(X, gamma, beta, moving_mean, moving_var, eps, momentum,
                                  training)
    gamma, beta = gamma.view(shape), beta.view(shape)
    x = X.to(torch.promote_types(X.dtype, torch.float32))
    if training:
        dims = (0,) if X.dim() == 2 else (0, 2, 3)
        mean = x.mean(dim=dims, keepdim=True)
        var = (x - mean).square().mean(dim=dims, keepdim=True)  # biased, as the note's
    else:
        mean, var = moving_mean.view(shape).to(x.dtype), moving_var.view(shape).to(x.dtype)
    y = x - mean if center else x
    if scale:
        y = y * torch.rsqrt(var + eps)
    Y = gamma * y + beta
    if training:
        moving_mean = moving_average(moving_mean, mean, momentum)
        moving_var = moving_average(moving_var, var, momentum)
    return Y.to(X.dtype), moving_mean.detach(), moving_var.detach()


def mean_only_batch_norm(X, gamma, beta, moving_mean, moving_var, eps, momentum, *,
                         training=None):
    r"""Batch normalization that only removes the mean: :math:`y = \gamma(x-\hat\mu)+\beta`.

    Arguments and return value as :func:`bnref.batch_norm`; in evaluation mode
    the moving mean is subtracted.
    """
    return _partial_batch_norm(X, gamma, beta, moving_mean, moving_var, eps, momentum,
                               training, center=True, scale=False)


def std_only_batch_norm(X, gamma, beta, moving_mean, moving_var, eps, momentum, *,
                        training=None):
    r"""Batch normalization that only divides by the standard deviation:
    :math:`y = \gamma\,x/\sqrt{\hat\sigma^2+\epsilon}+\beta` (the mean is kept, scaled).

    Arguments and return value as :func:`bnref.batch_norm`; in evaluation mode
    the input is divided by the square root of the moving variance.
    """
    return _partial_batch_norm(X, gamma, beta, moving_mean, moving_var, eps, momentum,
                               training, center=False, scale=True)


def fixed_affine_batch_norm(X, gamma, beta, moving_mean, moving_var, eps, momentum, *,
                            training=None):
    r"""Batch normalization with :math:`\gamma=1`, :math:`\beta=0` fixed:
    :math:`y = (x-\hat\mu)/\sqrt{\hat\sigma^2+\epsilon}`.

    ``gamma`` and ``beta`` are checked but not used (ones and zeros of their
    shape take their place), so no gradient reaches them.
    """
    check_batch_norm_args(X, gamma, beta, moving_mean, moving_var, eps, momentum,
                          resolve_training(training))
    return _partial_batch_norm(X, torch.ones_like(gamma), torch.zeros_like(beta), moving_mean,
                               moving_var, eps, momentum, training, center=True, scale=True)


class MeanOnlyBatchNorm(BatchNorm):
    """:class:`bnref.BatchNorm` that only subtracts the batch mean (then γ, β)."""

    function = staticmethod(mean_only_batch_norm)


class StdOnlyBatchNorm(BatchNorm):
    """:class:`bnref.BatchNorm` that only divides by the batch standard deviation (then γ, β)."""

    function = staticmethod(std_only_batch_norm)


class FixedAffineBatchNorm(BatchNorm):
    """:class:`bnref.BatchNorm` with γ = 1 and β = 0 fixed: its ``gamma`` and ``beta`` are
    ignored, get no gradient and so keep their initial values."""

    function = staticmethod(fixed_affine_batch_norm)


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


def build(arm: str) -> torch.nn.Sequential:
    """The network of ``arm`` (untrained; :func:`bnref.d2l.train.fit` initializes it)."""
    from bnref.models import lenet_variant

    if arm not in ARMS:
        raise ValueError(f"arm must be one of {', '.join(ARMS)}; got {arm!r}")
    return lenet_variant(activation="sigmoid", **ARMS[arm][1])


def _loader(train: bool, batch_size: int, device):
    from bnref.d2l.data import TensorLoader, fashion_mnist_tensors

    X, y = fashion_mnist_tensors(train=train)
    return TensorLoader(X.to(device), y.to(device), batch_size, shuffle=train)


def train_one(arm: str, seed: int, *, lr: float, batch_size: int, epochs: int | None = None,
              steps_per_epoch: int | None = None, max_steps: int | None = None,
              eval_batches: int | None = None, record_losses: int = 0, device="cpu",
              progress: bool = False, test: bool = True):
    """Train ``arm``'s network from ``torch.manual_seed(seed)``; returns ``(net, history)``."""
    from bnref.d2l.train import fit

    torch.manual_seed(seed)  # the initialization and the shuffling order
    net = build(arm)
    history = fit(net, _loader(True, batch_size, device),
                  _loader(False, 1000, device) if test else None, lr=lr, epochs=epochs,
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


def recalibrated_accuracy(net, eval_batches: int | None = None, device="cpu") -> float:
    """Test accuracy after re-estimating every BN layer's moving statistics from
    :data:`RECALIBRATION_IMAGES` training images (``net`` is changed in place)."""
    from bnref.d2l.train import evaluate_accuracy_gpu
    from bnref.experiments.small_batch import recalibrate

    recalibrate(net, RECALIBRATION_IMAGES, device)
    return evaluate_accuracy_gpu(net, _loader(False, 1000, device), device, eval_batches)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--arms", nargs="+", choices=tuple(ARMS), default=list(ARMS),
                        help="which networks (default: all seven)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run (default: 3)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (default: 3)")
    parser.add_argument("--lr", type=float, default=1.0, help="SGD learning rate (default: "
                        "1.0, the note's)")
    parser.add_argument("--batch-size", type=int, default=256, help="default: 256, the note's")
    parser.add_argument("--steps-per-epoch", type=int, default=None,
                        help="use at most this many batches per epoch (smoke runs only)")
    parser.add_argument("--eval-batches", type=int, default=None,
                        help="score at most this many test batches of 1000 (smoke runs only)")
    parser.add_argument("--device", default="cpu", help="where to train (default: cpu)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default: 1, for a shared machine)")
    parser.add_argument("--out", type=Path, default=None,
                        help="results file (default: ablation-<device>.json). "
                        + record.WHERE_HELP)
    parser.add_argument("--fresh", action="store_true",
                        help="start over instead of resuming an existing results file")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")


def run(args: argparse.Namespace) -> int:
    if args.epochs < 1 or args.seeds < 1 or args.batch_size < 2:
        raise SystemExit(f"--epochs and --seeds must be >= 1 and --batch-size >= 2; got "
                         f"{args.epochs}, {args.seeds} and {args.batch_size}")
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    out = args.out or record.results_dir() / f"ablation-{device.type}.json"
    config = {"arms": args.arms, "epochs": args.epochs, "seeds": args.seeds, "lr": args.lr,
              "batch_size": args.batch_size, "steps_per_epoch": args.steps_per_epoch,
              "eval_batches": args.eval_batches, "device": device.type,
              "threads": args.threads, "activation": "sigmoid", "init": "xavier_uniform",
              "optimizer": "SGD", "model": "bnref.models.lenet_variant (the note's LeNet-BN)",
              "recalibration_images": RECALIBRATION_IMAGES,
              "dataset": "Fashion-MNIST (real IDX files), 60000 train / 10000 test",
              "what_changes": {arm: ARMS[arm][0] for arm in args.arms}}
    rec = record.Record(out, "ablation", config, device=device, fresh=args.fresh)
    for seed in range(args.seeds):  # seed-major: an interrupted run covers every arm
        for arm in args.arms:
            key = f"{arm}/seed={seed}"
            if rec.done(key):
                continue
            net, h = train_one(arm, seed, lr=args.lr, batch_size=args.batch_size,
                               epochs=args.epochs, steps_per_epoch=args.steps_per_epoch,
                               eval_batches=args.eval_batches, device=device,
                               progress=not args.no_progress)
            r = {"arm": arm, "seed": seed, "steps": h.steps, "examples": h.examples_seen,
                 "train_loss": h.train_loss, "train_acc": h.train_acc, "test_acc": h.test_acc,
                 "diverged_at": h.diverged_at, "train_seconds": round(h.train_seconds, 2),
                 "bn_layers": affine_summary(net)}
            if r["bn_layers"]:  # the same weights, moving statistics from one large batch
                r["recalibrated_test_acc"] = recalibrated_accuracy(net, args.eval_batches,
                                                                   device)
            rec.add(key, r, seconds=h.elapsed_seconds[-1] if h.elapsed_seconds else None)
            last = f"test acc {h.test_acc[-1]:.3f}" if h.test_acc else "no epoch finished"
            print(f"{arm:>12} seed {seed}: {h.steps} steps, {last}"
                  + (f", diverged at step {h.diverged_at}" if h.diverged_at else "")
                  + f" ({h.train_seconds:.1f} s)", flush=True)
    specs = [{"arm": arm, "seed": 0, "lr": args.lr, "batch_size": args.batch_size}
             for arm in args.arms]
    rec.finish(__name__, specs, REPLAY_STEPS)
    accs = {arm: [r["test_acc"][-1] for r in rec.runs.values()
                  if r["arm"] == arm and r["test_acc"]] for arm in args.arms}
    for arm, a in accs.items():
        if a:
            print(f"{arm:>12}: test acc {statistics.fmean(a):.3f} over {len(a)} seed(s)")
    return 0
