"""Reproduce the note's training runs (LeNet with and without BN) over several seeds.

The note trains three networks on Fashion-MNIST with d2l's ``train_ch6``
(xavier initialization, plain SGD, cross-entropy, batch size 256, 10 epochs)
and prints one run of each:

* ``lenet_bn``          LeNet + the from-scratch BatchNorm, lr 1.0
* ``lenet_bn_concise``  LeNet + ``nn.BatchNorm2d``/``nn.BatchNorm1d``, lr 1.0
* ``lenet``             the original LeNet (sigmoid, no BN), lr 0.9

Note that these networks differ in more than batch normalization: ``lenet``
has average pooling and padding 2 on its first convolution, the two BN
networks max pooling and no padding. The controlled comparisons are the
claims experiments (``python -m bnref lr-sweep`` and the others).

This command trains each of them once per seed and writes one results file
(:mod:`bnref.experiments.harness.record`; default ``reproduce-<device>.json``) with,
per model and seed, the per-epoch train loss, train accuracy, test accuracy
and examples/sec and the γ and β of ``net[1]`` after training
(``python -m bnref figures --only curves`` draws them). Each finished run is written at once; run
again with the same options, the command resumes.

Examples::

    python -m bnref reproduce --device cpu                # the full run
    python -m bnref reproduce --epochs 1 --seeds 1 --models lenet_bn --out r.json

The page printers for the file are in :mod:`bnref.experiments.report.pages`.
"""

from __future__ import annotations

import argparse
import time

import torch

import bnref
from bnref.d2l.data import TensorLoader, fashion_mnist_tensors, load_data_fashion_mnist
from bnref.d2l.train import fit, train_ch6
from bnref.experiments.harness import sweep
from bnref.models import BN_IMPLS, lenet_bn_with

#: model name -> (factory name in bnref, the note's learning rate)
MODELS = {
    "lenet_bn": ("lenet_bn", 1.0),
    "lenet_bn_concise": ("lenet_bn_concise", 1.0),
    "lenet": ("lenet", 0.9),
}

#: what the note printed (one run each, on a GPU; the concise run's numbers
#: were not given in the note's text). ``device`` is as d2l printed it.
NOTE_RESULTS = {
    "lenet_bn": {"loss": 0.271, "train_acc": 0.899, "test_acc": 0.862,
                 "examples_per_sec": 32546.7, "device": "cuda:0"},
    "lenet": {"loss": 0.473, "train_acc": 0.823, "test_acc": 0.786,
              "examples_per_sec": 40832.5, "device": "gpu(0)"},
}

#: γ and β of net[1] that the note printed after training LeNet-BN
NOTE_GAMMA = [2.6914, 2.5985, 3.8031, 2.4383, 1.4624, 2.6880]
NOTE_BETA = [-3.1298, 2.5322, -2.1505, 2.3287, 0.0692, 1.7874]

__all__ = ["MODELS", "NOTE_RESULTS", "NOTE_GAMMA", "NOTE_BETA", "configure", "run",
           "train_one", "replay_losses", "run_key", "loaders"]


def run_key(model: str, seed: int) -> str:
    return f"{model}/seed={seed}"


def loaders(data_path: str, batch_size: int, device: torch.device):
    """The note's (train, test) minibatches: ``"fast"`` slices one tensor on ``device``,
    ``"d2l"`` is torchvision's ``ToTensor`` in a ``DataLoader``."""
    if data_path == "fast":
        return load_data_fashion_mnist(batch_size, fast=True, device=device)
    return load_data_fashion_mnist(batch_size)


def _net(model: str, bn_impl: str | None) -> torch.nn.Module:
    if bn_impl is not None and model != "lenet_bn":
        raise ValueError(f"bn_impl swaps lenet_bn's BatchNorm layers; model {model!r} "
                         f"has its own (or none)")
    return lenet_bn_with(bn_impl) if bn_impl is not None else getattr(bnref, MODELS[model][0])()


def train_one(model: str, seed: int, *, epochs: int, batch_size: int, device, data_path: str,
              max_steps: int | None = None, progress: bool = True,
              bn_impl: str | None = None) -> dict:
    """Train one model with the note's settings from ``torch.manual_seed(seed)``.

    ``bn_impl`` swaps ``lenet_bn``'s BatchNorm layers for another
    implementation (:func:`bnref.models.lenet_bn_with`). Returns a dict with
    the per-epoch history (see :class:`bnref.d2l.train.History`), the wall time,
    the seconds until the test accuracy first reached the note's (``None``
    if it did not), and ``net[1]``'s γ/β for the BatchNorm models.
    """
    lr = MODELS[model][1]
    device = torch.device(device)
    torch.manual_seed(seed)  # weights (xavier init) and the shuffling order
    net = _net(model, bn_impl)
    train_iter, test_iter = loaders(data_path, batch_size, device)
    start = time.perf_counter()
    history = train_ch6(net, train_iter, test_iter, epochs, lr, device,
                        progress=progress, verbose=False, max_steps=max_steps)
    wall = time.perf_counter() - start
    result = {"seed": seed, "lr": lr, **history.as_dict(), "wall_seconds": wall}
    result.pop("device")
    # d2l's second line: all training examples seen / time spent in training steps
    result["examples_per_sec_overall"] = history.examples_seen / history.train_seconds
    target = NOTE_RESULTS.get(model, {}).get("test_acc")
    result["note_test_acc"] = target
    result["seconds_to_note_test_acc"] = None if target is None else next(
        (t for acc, t in zip(history.test_acc, history.elapsed_seconds) if acc >= target), None)
    bn = net[1]
    if hasattr(bn, "gamma"):
        result["net1_gamma"] = bn.gamma.detach().reshape(-1).cpu().tolist()
        result["net1_beta"] = bn.beta.detach().reshape(-1).cpu().tolist()
    elif isinstance(bn, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
        result["net1_gamma"] = bn.weight.detach().cpu().tolist()
        result["net1_beta"] = bn.bias.detach().cpu().tolist()
    return result


def replay_losses(run: dict, steps: int) -> list[float]:
    """The loss of each of the first ``steps`` training steps of ``run`` (its model, seed and
    BatchNorm implementation), on the fast data path, on the CPU: what the test suite
    replays to find results that the code no longer produces."""
    torch.manual_seed(run["seed"])
    net = _net(run["model"], run.get("bn_impl"))
    X, y = fashion_mnist_tensors(train=True)
    history = fit(net, TensorLoader(X, y, run["batch_size"], shuffle=True), lr=run["lr"],
                  max_steps=steps, epochs=None, record_losses=steps, device="cpu",
                  stop_on_nonfinite=False, progress=False)
    return history.step_losses


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-path", choices=("fast", "d2l"), default="fast",
                        help="fast: the split as one tensor on the device, batches sliced "
                        "from it; d2l: torchvision ToTensor in a DataLoader (default: fast)")
    parser.add_argument("--models", nargs="+", choices=tuple(MODELS), default=list(MODELS),
                        help="which models (default: all three)")
    parser.add_argument("--batch-size", type=int, default=256, help="default: 256, as the note")
    parser.add_argument("--max-steps", type=int, default=None,
                        help="stop each epoch after this many batches (quick trials only)")
    parser.add_argument("--bn-impl", default=None, choices=BN_IMPLS,
                        help="BatchNorm layers of lenet_bn (default: bnref.BatchNorm, the note's "
                        "model); see bnref.models.lenet_bn_with")
    sweep.add_options(parser, "reproduce", epochs=10, device=False,
                      threads_help="CPU threads for torch (default: 1)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None,
                        help="where to train (default: cuda if available, else cpu)")
    # commands draw no figure now (python -m bnref figures); the committed files record
    # commands with --no-figure, which still run
    parser.add_argument("--no-figure", action="store_true", help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    device = sweep.resolve_device(args.device)
    args.device = device.type
    config = {"epochs": args.epochs, "batch_size": args.batch_size, "data_path": args.data_path,
              "seeds": args.seeds, "max_steps": args.max_steps, "init": "xavier_uniform",
              "optimizer": "SGD", "bn_impl": args.bn_impl, "models": args.models,
              "lr": {m: MODELS[m][1] for m in args.models}, "device": device.type}
    rec = sweep.start(args, "reproduce", config)
    for key, (model, seed) in sweep.pending(rec, sweep.grid(run_key, args.seeds,
                                                             model=args.models)):
        print(f"{model}, seed {seed}, lr {MODELS[model][1]}, on {device}", flush=True)
        impl = args.bn_impl if model == "lenet_bn" else None
        r = train_one(model, seed, epochs=args.epochs, batch_size=args.batch_size,
                      device=device, data_path=args.data_path, max_steps=args.max_steps,
                      progress=not args.no_progress, bn_impl=impl)
        line = (f"  loss {r['train_loss'][-1]:.3f}, train acc {r['train_acc'][-1]:.3f}, "
                f"test acc {r['test_acc'][-1]:.3f}, "
                f"{r['examples_per_sec_overall']:.1f} examples/sec")
        if r["note_test_acc"] is not None:
            reached = r["seconds_to_note_test_acc"]
            line += (f"; the note's test acc {r['note_test_acc']} "
                     + (f"reached after {reached:.1f} s" if reached is not None
                        else "not reached"))
        print(line, flush=True)
        rec.add(key, {"model": model, **r}, seconds=r["wall_seconds"])
    specs = [{"model": m, "seed": 0, "batch_size": args.batch_size, "lr": MODELS[m][1],
              "bn_impl": args.bn_impl if m == "lenet_bn" else None} for m in args.models]
    sweep.finish(rec, __name__, specs, figure="curves")
    return 0
