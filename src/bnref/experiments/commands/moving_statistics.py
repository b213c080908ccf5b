"""BN's moving statistics step by step: LeNet-BN by momentum and batch size, for the explorer.

In evaluation mode batch normalization normalizes with moving statistics, a
running average of the batch statistics seen in training. Two things make
them wrong: the batch statistics are noisy (the smaller the batch, the
noisier), and they were measured with earlier weights (the more the average
remembers, the more it lags). This command trains the note's sigmoid LeNet-BN
(:func:`bnref.models.lenet_variant` with PyTorch's ``nn.BatchNorm2d`` /
``nn.BatchNorm1d``, so that the cumulative average, ``momentum=None``, is
available) for a fixed number of steps, for every momentum x batch size, and
records:

* at every step, for one channel of one layer (:data:`CHANNEL` of the BN after
  the first convolution, ``net[1]``), the batch mean and variance of its input
  (a forward hook, :func:`bnref.hooks.forward_hooks`) and the moving mean and
  variance after that step's update;
* every ``--eval-every`` steps, the test accuracy in evaluation mode as trained
  (moving statistics) and after re-estimating them from ``--recalibrate``
  training images (:func:`bnref.experiments.harness.sweep.score` with
  ``recalibrated=N``, :func:`bnref.recalibrate.recalibrate`); the
  channel's re-estimated mean and variance (where the moving ones belong); and
  how much its batch statistics vary from batch to batch at those weights
  (:func:`sampling_spread`: the same images cut into batches of the run's size).
  The re-estimated results depend on the weights alone, which the runs of every
  momentum share: they are computed once per weights (:func:`weights_digest`).

The momenta are PyTorch's: the weight of the new batch, ``running = (1 - m) *
running + m * batch`` (the note and d2l write ``moving = m' * moving + (1 -
m') * batch``, with ``m' = 1 - m``); ``cumulative`` is ``momentum=None``, the
plain average of every batch so far. The batch variance recorded is the
unbiased one (``n / (n - 1)`` times the biased), the value PyTorch's
``running_var`` averages. The momentum changes nothing in training (the
moving statistics are only used in evaluation mode): for one batch size and
seed the runs of every momentum take the same steps to the same weights.

Training goes through :func:`bnref.d2l.train.fit`, called once per evaluation
interval on one continuing stream of minibatches (one shuffled pass after
another), so that the network can be scored between intervals. The learning
rate is the note's 1.0 at batch 256, scaled linearly with the batch size.
Per-step traces are kept for the traced seed only (:data:`TRACED_SEED`),
rounded to :data:`DIGITS` significant digits: the site serves the file to its
explorer (``docs/experiments/moving-statistics.md``).

    python -m bnref moving-statistics            # writes moving-statistics-cpu.json
    python -m bnref moving-statistics --batch-sizes 8 --momenta 0.1 --steps 20 --seeds 1
"""

from __future__ import annotations

import argparse
import hashlib
import itertools

import torch
from torch import nn

from bnref.d2l.data import fashion_mnist_tensors
from bnref.d2l.train import fit, init_weights
from bnref.experiments.harness import sweep
from bnref.hooks import forward_hooks
from bnref.models import lenet_variant
from bnref.recalibrate import recalibrate

__all__ = ["MOMENTA", "BATCH_SIZES", "LAYER", "CHANNEL", "TRACED_SEED", "DIGITS", "RECALIBRATION_IMAGES",
           "configure", "run", "run_key", "parse_momentum", "momentum_name", "d2l_momentum",
           "torch_norm_layer", "build", "train_one", "weights_digest", "sampling_spread", "replayed_batch_sizes",
           "replay_losses", "MIN_REPLAYED_BATCH"]

#: PyTorch momenta (the weight of the new batch); None: the cumulative average
MOMENTA = (0.01, 0.1, 0.5, None)
BATCH_SIZES = (2, 8, 32, 256)
#: the traced layer: net[1], the BatchNorm2d after the first convolution, and its channel
LAYER, CHANNEL = 1, 0
#: the seed whose per-step statistics are kept (the explorer's runs)
TRACED_SEED = 0
#: significant digits kept of each traced statistic (the site serves the file)
DIGITS = 4
#: the smallest batch size replayed: at batch 2, BN (two values per unit after a linear
#: layer) amplifies float64 rounding, and the 6th loss differs by 1.6e-7 (relative) between
#: PyTorch's AVX-512 and default kernels, beyond the replay's tolerance (1e-9); at 8, by 6e-16
MIN_REPLAYED_BATCH = 8
#: training images whose statistics re-estimate the moving ones
RECALIBRATION_IMAGES = 4096


def parse_momentum(text: str) -> float | None:
    """``"cumulative"`` (or ``"none"``) -> ``None``; a number in (0, 1] -> that number."""
    if text.lower() in ("cumulative", "none"):
        return None
    try:
        m = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"a momentum is a number in (0, 1] or 'cumulative'; got {text!r}") from None
    if not 0.0 < m <= 1.0:
        raise argparse.ArgumentTypeError(f"a momentum is a number in (0, 1]; got {text!r}")
    return m


def momentum_name(momentum: float | None) -> str:
    """How a run key and the page name a momentum: ``0.1``, or ``cumulative`` for None."""
    return "cumulative" if momentum is None else f"{momentum:g}"


def d2l_momentum(momentum: float | None) -> float | None:
    """The note's (d2l's) momentum for PyTorch's ``momentum``: the weight of the old value,
    ``1 - momentum`` (None, the cumulative average, has none)."""
    return None if momentum is None else round(1.0 - momentum, 12)


def run_key(momentum: float | None, batch_size: int, seed: int) -> str:
    return f"m={momentum_name(momentum)}/b={batch_size}/seed={seed}"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--momenta", nargs="+", type=parse_momentum,
                        default=list(MOMENTA), metavar="M",
                        help="PyTorch momenta (weight of the new batch), or 'cumulative' "
                        "(momentum=None) (default: 0.01 0.1 0.5 cumulative)")
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=list(BATCH_SIZES),
                        help="training batch sizes (default: 2 8 32 256)")
    parser.add_argument("--steps", type=int, default=200,
                        help="training steps of every run (default: 200)")
    parser.add_argument("--eval-every", type=int, default=50,
                        help="score the test set every this many steps; must divide --steps "
                        "(default: 50)")
    parser.add_argument("--base-lr", type=float, default=1.0,
                        help="SGD learning rate at batch size 256; scaled linearly "
                        "(default: 1.0, the note's)")
    parser.add_argument("--recalibrate", type=int, default=RECALIBRATION_IMAGES,
                        help=f"training images that re-estimate the moving statistics "
                        f"(default: {RECALIBRATION_IMAGES})")
    parser.add_argument("--test-images", type=int, default=10_000,
                        help="test images scored (the first N; default: all 10000)")
    sweep.add_options(parser, "moving-statistics", seeds=3)


def torch_norm_layer(momentum: float | None):
    """The ``norm_layer`` of :func:`bnref.models.lenet_variant` that gives PyTorch's layers
    with this momentum: ``nn.BatchNorm2d`` after a convolution, ``nn.BatchNorm1d`` after a
    linear layer."""

    def make(channels: int, num_dims: int) -> nn.Module:
        layer = nn.BatchNorm2d if num_dims == 4 else nn.BatchNorm1d
        return layer(channels, momentum=momentum)

    return make


def build(momentum: float | None) -> nn.Sequential:
    """The note's LeNet-BN (sigmoid) with PyTorch's BN at this momentum."""
    return lenet_variant(norm_layer=torch_norm_layer(momentum))


class _Stream:
    """Minibatches of ``loader``, one shuffled pass after another, ``chunk`` at a time: each
    iteration (one call of :func:`fit`, one "epoch" of ``chunk`` steps) goes on where the
    last one stopped."""

    def __init__(self, loader, chunk: int) -> None:
        self.batches = itertools.chain.from_iterable(itertools.repeat(loader))
        self.chunk = chunk

    def __len__(self) -> int:
        return self.chunk

    def __iter__(self):
        return itertools.islice(self.batches, self.chunk)


def weights_digest(net: nn.Module) -> str:
    """A hash of ``net``'s parameters (their bytes, in order): equal for bit-identical
    weights, whatever the moving statistics."""
    h = hashlib.sha256()
    for p in net.parameters():
        h.update(p.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def sampling_spread(net: nn.Module, images: torch.Tensor, batch_size: int) -> tuple[float, float]:
    """How much the batch statistics of the traced channel vary from batch to batch at these
    weights alone: ``images`` cut into consecutive batches of ``batch_size`` (the last,
    incomplete one dropped), the batch mean and unbiased variance of each, and the sample
    standard deviation of each across the batches. The weights do not change meanwhile, so
    this is the noise of estimating the statistics from ``batch_size`` images."""
    n = len(images) // batch_size
    if n < 2:
        raise ValueError(f"{len(images)} images make fewer than two batches of {batch_size}")
    with torch.no_grad():
        x = net[:LAYER](images[:n * batch_size])[:, CHANNEL]  # the traced layer's input
    per_batch = x.reshape(n, -1)
    return per_batch.mean(dim=1).std().item(), per_batch.var(dim=1).std().item()


def _round(values: list[float]) -> list[float]:
    return [float(f"{v:.{DIGITS}g}") for v in values]


def train_one(momentum: float | None, batch_size: int, lr: float, seed: int, steps: int, *,
              eval_every: int | None = None, on_eval=None, trace: bool = False,
              record_losses: int = 0, device="cpu", progress: bool = False):
    """Train :func:`build` ``(momentum)`` for ``steps`` steps of ``batch_size`` from ``seed``.

    Every ``eval_every`` steps (default: only at the end) ``on_eval(step, net)`` is called,
    if given. With ``trace``, a forward hook on ``net[LAYER]`` records at every training step
    the batch mean and unbiased variance of channel :data:`CHANNEL` of its input, and the
    layer's moving mean and variance of that channel after the step's update.

    Returns ``(net, trace, histories)``: the trained network, the trace (``{"batch_mean",
    "batch_var", "moving_mean", "moving_var"}``, lists of floats, one per step; empty
    without ``trace``), and the :class:`~bnref.d2l.train.History` of each :func:`fit` call
    (the losses of the first ``record_losses`` steps are in the first one's).
    """
    every = eval_every or steps
    if steps % every:
        raise ValueError(f"eval_every ({every}) must divide steps ({steps})")
    torch.manual_seed(seed)
    net = build(momentum)
    stream = _Stream(sweep.train_data(batch_size, device), every)
    record = {"batch_mean": [], "batch_var": [], "moving_mean": [], "moving_var": []}

    def hook(layer, args, out):
        if not layer.training:
            return
        x = args[0].detach()[:, CHANNEL]
        record["batch_mean"].append(x.mean().item())
        record["batch_var"].append(x.var(unbiased=True).item())
        record["moving_mean"].append(layer.running_mean[CHANNEL].item())
        record["moving_var"].append(layer.running_var[CHANNEL].item())

    histories = []
    for interval in range(steps // every):
        with forward_hooks([(net[LAYER], hook)] if trace else []):
            # one fit per interval; init only at the first (then the weights go on), and plain
            # SGD keeps no state between calls
            history = fit(net, stream, lr=lr, epochs=1, device=device,
                          init=init_weights if interval == 0 else None,
                          record_losses=record_losses if interval == 0 else 0,
                          stop_on_nonfinite=False, min_batch=2, progress=progress,
                          desc=f"m {momentum_name(momentum)} batch {batch_size} seed {seed}")
        histories.append(history)
        if on_eval is not None:
            on_eval(sum(h.steps for h in histories), net)
    return net, (record if trace else {}), histories


def replayed_batch_sizes(batch_sizes: list[int]) -> list[int]:
    """The batch sizes whose runs (seed 0, first momentum: the momentum changes nothing in
    training) the results file replays: the smallest of at least :data:`MIN_REPLAYED_BATCH`,
    and the largest.

    Examples:
        >>> replayed_batch_sizes([2, 8, 32, 256]), replayed_batch_sizes([2])
        ([8, 256], [2])
    """
    small = [b for b in batch_sizes if b >= MIN_REPLAYED_BATCH] or [min(batch_sizes)]
    return sorted({min(small), max(batch_sizes)})


def replay_losses(run: dict, steps: int) -> list[float]:
    """The first ``steps`` losses of one run (``momentum``, ``batch_size``, ``lr``, ``seed``),
    on the CPU: what the test suite replays."""
    _, _, histories = train_one(run["momentum"], run["batch_size"], run["lr"], run["seed"],
                                steps, record_losses=steps)
    return histories[0].step_losses


def run(args: argparse.Namespace) -> int:
    if args.steps < 1 or args.eval_every < 1 or args.steps % args.eval_every:
        raise SystemExit(f"--eval-every must be a positive divisor of --steps; got "
                         f"--steps {args.steps}, --eval-every {args.eval_every}")
    if min(args.batch_sizes) < 2:
        raise SystemExit(f"--batch-sizes must be >= 2 (BN trains on more than one image); "
                         f"got {args.batch_sizes}")
    if not 2 * max(args.batch_sizes) <= args.recalibrate <= 60_000 \
            or not 1 <= args.test_images <= 10_000:
        raise SystemExit(f"--recalibrate must be 2 x the largest batch size..60000 (its images "
                         f"also make batches of each size) and --test-images 1..10000; got "
                         f"{args.recalibrate}, {args.test_images}")
    device = torch.device(args.device)
    test_images = None if args.test_images == 10_000 else args.test_images
    config = {"momenta": args.momenta, "batch_sizes": args.batch_sizes, "steps": args.steps,
              "eval_every": args.eval_every, "base_lr": args.base_lr, "seeds": args.seeds,
              "traced_seed": TRACED_SEED, "recalibration_images": args.recalibrate,
              "test_images": args.test_images, "device": device.type, "threads": args.threads,
              "dataset": sweep.DATASET,
              "model": "bnref.models.lenet_variant(norm_layer=nn.BatchNorm2d/1d(momentum=m)), "
                       "the note's sigmoid LeNet-BN",
              "momentum_convention": "PyTorch's: running = (1 - m) * running + m * batch; "
                                     "None: the cumulative average of every batch so far",
              "lr_rule": f"lr = {args.base_lr} * batch_size / 256 (SGD, cross-entropy)",
              "traced": f"net[{LAYER}] (the BatchNorm2d after the first convolution), channel "
                        f"{CHANNEL}: batch mean and unbiased batch variance of its input, moving "
                        f"mean and variance after the step's update; {DIGITS} significant "
                        f"digits"}
    rec = sweep.start(args, "moving-statistics", config)
    train_X, _ = fashion_mnist_tensors(train=True)
    images = train_X[:args.recalibrate].to(device)
    grid = sweep.grid(run_key, args.seeds, momentum=args.momenta, batch_size=args.batch_sizes)
    recalibrated: dict[tuple, tuple] = {}  # (batch size, weights digest) -> what they give
    for key, (m, b, seed) in sweep.pending(rec, grid):
        lr = args.base_lr * b / 256
        traced = seed == TRACED_SEED
        evals = {"eval_steps": [], "test_acc": [], "recalibrated_test_acc": []}
        target, spread = {"mean": [], "var": []}, {"mean": [], "var": []}

        def score(step, net):
            evals["eval_steps"].append(step)
            evals["test_acc"].append(sweep.score(net, device, images=test_images))
            # re-estimated: a function of the weights alone (the moving statistics are
            # replaced), and the runs of every momentum share their weights: computed once
            digest = (b, weights_digest(net))
            if digest not in recalibrated:
                layer = recalibrate(net, images)[LAYER]  # where the moving statistics belong
                recalibrated[digest] = (
                    sweep.score(net, device, images=test_images, recalibrated=args.recalibrate),
                    layer.running_mean[CHANNEL].item(), layer.running_var[CHANNEL].item(),
                    *sampling_spread(net, images, b))
            acc, mean, var, mean_spread, var_spread = recalibrated[digest]
            evals["recalibrated_test_acc"].append(acc)
            target["mean"].append(mean)
            target["var"].append(var)
            spread["mean"].append(mean_spread)
            spread["var"].append(var_spread)

        net, trace, histories = train_one(m, b, lr, seed, args.steps,
                                          eval_every=args.eval_every, on_eval=score,
                                          trace=traced, device=device,
                                          progress=not args.no_progress)
        seconds = sum(h.train_seconds for h in histories)
        r = {"momentum": m, "batch_size": b, "seed": seed, "lr": lr,
             "steps": sum(h.steps for h in histories), **evals,
             "train_loss": histories[-1].train_loss[-1],
             "train_seconds": round(seconds, 2)}
        r["recalibrated_stats"] = {name: _round(values) for name, values in target.items()}
        r["sampling_spread"] = {name: _round(values) for name, values in spread.items()}
        if traced:
            r["trace"] = {name: _round(values) for name, values in trace.items()}
        rec.add(key, r, seconds=seconds)
        print(f"momentum {momentum_name(m):>10} batch {b:>3} seed {seed}: test acc "
              f"{evals['test_acc'][-1]:.4f} as trained, "
              f"{evals['recalibrated_test_acc'][-1]:.4f} re-estimated", flush=True)
    specs = [{"momentum": args.momenta[0], "batch_size": b, "lr": args.base_lr * b / 256,
              "seed": 0} for b in replayed_batch_sizes(args.batch_sizes)]
    sweep.finish(rec, __name__, specs, figure="moving-statistics")
    return 0
