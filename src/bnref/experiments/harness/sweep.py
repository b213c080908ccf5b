"""What every training experiment shares: its options, its data, the grid × seed loop, one way
to score a network, and the end of the run.

A command declares its grid (one results key and one setting per run) and the
one factor its comparison changes; the rest is here::

    def run(args):
        rec = sweep.start(args, "placement", config={...})
        for key, (act, place, lr, seed) in sweep.pending(rec, grid):
            net, history = train_one(act, place, lr, seed)
            rec.add(key, {..., "test_acc": sweep.score(net)}, seconds=history.train_seconds)
        sweep.finish(rec, __name__, specs)

* :func:`add_options` — ``--seeds``, ``--epochs``, ``--device``, ``--threads``,
  ``--out``, ``--fresh``, ``--no-progress``;
* :func:`start` — checks them, sets the threads, names the results file and
  opens it (:class:`~bnref.experiments.harness.record.Record`: every finished
  run is written at once, and a rerun with the same settings resumes);
* :func:`pending` — the runs of the grid the file does not hold yet;
* :func:`train_data`, :func:`test_data` — the real Fashion-MNIST tensors as
  minibatches (:mod:`bnref.d2l.data`);
* :func:`score` — test (or training) accuracy in evaluation mode, as trained
  or, with ``recalibrated=N``, after re-estimating BN's moving statistics from
  N training images (:func:`bnref.recalibrate.recalibrate`);
* :func:`finish` — the replay entry (:mod:`~bnref.experiments.harness.replay`)
  and the last write. Figures are drawn from the file afterwards
  (``python -m bnref figures``); no command draws them.
"""

from __future__ import annotations

import argparse
import itertools
import math
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import torch
from torch import nn

from bnref.d2l.data import TensorLoader, fashion_mnist_tensors
from bnref.d2l.train import evaluate_accuracy_gpu
from bnref.experiments.harness import record, replay
from bnref.recalibrate import recalibrate

__all__ = ["DATASET", "REPLAY_STEPS", "TEST_BATCH", "add_options", "resolve_device", "start",
           "grid", "pending", "train_data", "test_data", "score", "recalibrated_copy", "finite",
           "finish"]

#: the data every experiment trains and scores on, as its results file names it
DATASET = "Fashion-MNIST (real IDX files), 60000 train / 10000 test"
#: steps of each replayed run that a results file keeps (:mod:`.replay`)
REPLAY_STEPS = 6
#: images per evaluation minibatch
TEST_BATCH = 1000


def add_options(parser: argparse.ArgumentParser, name: str, *, seeds: int | None = 3,
                epochs: int | None = None, epochs_help: str | None = None,
                max_steps: bool = False, device: bool = True, threads: int | None = 1,
                threads_help: str | None = None, progress: bool = True,
                recalibrate: bool = False) -> None:
    """The options the commands share: ``--seeds`` and ``--epochs`` (unless ``None``),
    ``--max-steps`` (``max_steps=True``), ``--device`` (cpu by default; ``device=False``: the
    command has its own), ``--threads``, ``--out``, ``--fresh``, ``--no-progress`` and
    ``--recalibrate N`` (``recalibrate=True``: also score with re-estimated statistics)."""
    if seeds is not None:
        parser.add_argument("--seeds", type=int, default=seeds,
                            help=f"seeds 0..N-1 (default: {seeds})")
    if epochs is not None:
        parser.add_argument("--epochs", type=int, default=epochs,
                            help=epochs_help or f"epochs per run (default: {epochs})")
    if max_steps:
        parser.add_argument("--max-steps", type=int, default=None,
                            help="cut every run to this many steps (smoke runs)")
    if device:
        parser.add_argument("--device", default="cpu", help="where to train (default: cpu)")
    parser.add_argument("--threads", type=int, default=threads,
                        help=threads_help or f"torch CPU threads (default: "
                        f"{threads or 'torch' + chr(39) + 's choice'})")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"results file (default: {name}-<device>.json). "
                        + record.WHERE_HELP)
    parser.add_argument("--fresh", action="store_true",
                        help="start over instead of resuming an existing results file")
    if progress:
        parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    if recalibrate:
        parser.add_argument("--recalibrate", type=int, default=None, metavar="N",
                            help="also score every BN run that did not diverge with its moving "
                            "statistics re-estimated from N training images (bnref.recalibrate);"
                            " default: as trained only")


def resolve_device(name: str | None) -> torch.device:
    """``--device``: ``None`` picks cuda when there is one, else cpu; cuda without a GPU is
    refused."""
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if torch.device(name).type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"--device {name} was asked for, but torch.cuda.is_available() is False")
    return torch.device(name)


def start(args: argparse.Namespace, name: str, config: dict) -> record.Record:
    """Check the shared options, set torch's threads and open the results file: ``--out``, or
    ``<name>-<device>.json`` in :func:`~bnref.experiments.harness.record.results_dir`."""
    for option in ("seeds", "epochs"):
        value = getattr(args, option, None)
        if value is not None and value < 1:
            raise SystemExit(f"--{option} must be >= 1; got {value}")
    if getattr(args, "recalibrate", None) is not None and args.recalibrate < 1:
        raise SystemExit(f"--recalibrate must be a number of training images >= 1; "
                         f"got {args.recalibrate}")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(getattr(args, "device", "cpu"))
    out = args.out or record.results_dir() / f"{name}-{device.type}.json"
    return record.Record(out, name, config, device=device, fresh=args.fresh)


def grid(key: Callable[..., str], seeds: int, **axes: Iterable) -> list[tuple[str, tuple]]:
    """A command's runs: every combination of ``axes`` (name -> values; the first varies
    slowest) for seeds 0..``seeds``-1, seed-major, so that a command stopped half-way has
    covered every setting on its first seeds. Each run is ``(key(**setting, seed=seed),
    (*values, seed))``; ``key`` names the run in the results file.

    Examples:
        >>> def key(arm, lr, seed):
        ...     return f"{arm}/lr={lr}/seed={seed}"
        >>> [k for k, _ in grid(key, 2, arm=["bn", "none"], lr=[0.1])]
        ['bn/lr=0.1/seed=0', 'none/lr=0.1/seed=0', 'bn/lr=0.1/seed=1', 'none/lr=0.1/seed=1']
    """
    names = list(axes)
    return [(key(**dict(zip(names, values)), seed=seed), (*values, seed))
            for seed in range(seeds) for values in itertools.product(*axes.values())]


def pending(rec: record.Record, grid: Iterable[tuple[str, object]]) -> Iterator[tuple[str, object]]:
    """The ``(key, setting)`` pairs of ``grid`` whose run the file does not hold yet (a grid
    listed seed-major leaves every setting covered when a command is stopped half-way)."""
    return ((key, setting) for key, setting in grid if not rec.done(key))


def train_data(batch_size: int, device="cpu", *, shuffle: bool = True,
               images: int | None = None) -> TensorLoader:
    """The 60,000 training images (the first ``images`` of them when given) as minibatches,
    reshuffled every epoch when ``shuffle``."""
    X, y = fashion_mnist_tensors(train=True)
    if images is not None:
        if not 1 <= images <= len(X):
            raise ValueError(f"images must be between 1 and {len(X)}; got {images}")
        X, y = X[:images], y[:images]
    return TensorLoader(X.to(device), y.to(device), batch_size, shuffle=shuffle)


def test_data(device="cpu", *, train: bool = False, images: int | None = None) -> TensorLoader:
    """The 10,000 test images (``train=True``: training images), the first ``images`` of them
    when given, in minibatches of :data:`TEST_BATCH`."""
    X, y = fashion_mnist_tensors(train=train)
    if images is not None:
        X, y = X[:images], y[:images]
    return TensorLoader(X.to(device), y.to(device), TEST_BATCH)


def score(net: nn.Module, device="cpu", *, train: bool = False, images: int | None = None,
          held_out: int | None = None, recalibrated: int | None = None) -> float:
    """Accuracy in evaluation mode on the test set (``train=True``: on training images), or on
    its first ``images`` images; ``held_out=N``: on the *last* N training images, a
    validation set for a network trained on the others (``train_data(images=60000 - N)``).

    ``recalibrated=N`` scores a copy of ``net`` whose BN layers took the statistics of the
    first N training images (:func:`bnref.recalibrate.recalibrate`) instead of their
    moving averages, which lag behind the weights; ``net`` itself is not changed."""
    if recalibrated is not None:
        net = recalibrated_copy(net, recalibrated, device)
    if held_out is not None:
        X, y = fashion_mnist_tensors(train=True)
        if not 1 <= held_out < len(X):
            raise ValueError(f"held_out must be between 1 and {len(X) - 1}; got {held_out}")
        data = TensorLoader(X[-held_out:].to(device), y[-held_out:].to(device), TEST_BATCH)
    else:
        data = test_data(device, train=train, images=images)
    return evaluate_accuracy_gpu(net, data, device)


def recalibrated_copy(net: nn.Module, images: int, device="cpu") -> nn.Module:
    """A copy of ``net`` whose BN layers hold the statistics of the first ``images`` training
    images (:func:`bnref.recalibrate.recalibrate`), for scoring it more than once."""
    X, _ = fashion_mnist_tensors(train=True)
    dtype = next(p.dtype for p in net.parameters() if p.is_floating_point())
    return recalibrate(net, X[:images].to(device, dtype))


def finite(x: float) -> float | None:
    """``x``, or ``None`` for an infinite or NaN loss (JSON has no NaN)."""
    return x if math.isfinite(x) else None


def finish(rec: record.Record, module: str, specs: list[dict], *, steps: int = REPLAY_STEPS,
           labels: list[str] | None = None, figure: str | None = None) -> None:
    """The end of every training command: store the replay entry (``specs`` replayed by
    ``module.replay_losses`` for ``steps`` steps) and write the file.

    The replay entry is computed again when this invocation finished a run, or when the file
    has none for these specs; a resumed command with nothing left to run keeps it
    (``python -m bnref replay --record`` computes it again on demand)."""
    if rec.added or not replay.is_current(rec.data.get("replay"), module, specs, steps):
        rec.set("replay", replay.replay_record(module, specs, steps, labels))
    rec.save()
    print(f"wrote {rec.path} ({rec.data['wall_seconds']} s in all)")
    if figure:
        print(f"draw its figure with: python -m bnref figures --only {figure}")
