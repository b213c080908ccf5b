"""What enters each sigmoid of LeNet, with and without BN, after one epoch (the note's second figure).

The note shows a figure of activations spreading out layer after layer
without BN and staying in range with it. This command makes the analogue on
real data: it trains the note's LeNet (no BN, lr 0.9) and LeNet-BN (lr 1.0)
for ``--steps`` minibatches of 256 from one seed (the fast data path,
:func:`bnref.d2l.train.train_ch6`), passes the first ``--images`` test images
through each in evaluation mode, and records, per layer whose output enters a
sigmoid, the quantiles of those values (1st, 25th, 50th, 75th and 99th
percentile) and the test accuracy. ``python -m bnref figures --only
activations`` draws the box plot from the file.

    python -m bnref activations            # writes activations-cpu.json
"""

from __future__ import annotations

import argparse

import torch

import bnref
from bnref.d2l.data import load_data_fashion_mnist
from bnref.d2l.train import train_ch6
from bnref.experiments.commands import reproduce
from bnref.experiments.harness import sweep
from bnref.hooks import forward_hooks

__all__ = ["MODELS", "LAYERS", "QUANTILES", "configure", "run", "sigmoid_inputs",
           "replay_losses"]

#: the two networks, as :data:`bnref.experiments.commands.reproduce.MODELS` names them
MODELS = ("lenet", "lenet_bn")
#: the layers whose output (after BN, if any) enters a sigmoid
LAYERS = ("conv1", "conv2", "fc1", "fc2")
#: the percentiles recorded per layer: the whiskers (1st, 99th), the box and the median
QUANTILES = (1, 25, 50, 75, 99)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--steps", type=int, default=235,
                        help="training steps of batch 256 (default: 235, one epoch)")
    parser.add_argument("--images", type=int, default=1000,
                        help="test images whose activations are measured (default: 1000)")
    parser.add_argument("--seed", type=int, default=0, help="the seed (default: 0)")
    sweep.add_options(parser, "activations", seeds=None, device=False)


def sigmoid_inputs(net: torch.nn.Module, X: torch.Tensor) -> list[torch.Tensor]:
    """The tensors entering each ``nn.Sigmoid`` of ``net`` for the input ``X``, flattened."""
    seen: list[torch.Tensor] = []

    def collect(module, args, out):
        seen.append(args[0].detach().flatten())

    sigmoids = [m for m in net if isinstance(m, torch.nn.Sigmoid)]
    with forward_hooks(((m, collect) for m in sigmoids)), torch.no_grad():
        net(X)
    return seen


def replay_losses(run: dict, steps: int) -> list[float]:
    """The first ``steps`` losses of one network's run: the reproduction's training."""
    return reproduce.replay_losses(run, steps)


def run(args: argparse.Namespace) -> int:
    if args.steps < 1 or args.images < 1:
        raise SystemExit(f"--steps and --images must be >= 1; got {args.steps}, {args.images}")
    config = {"models": list(MODELS), "steps": args.steps, "images": args.images,
              "seed": args.seed, "batch_size": 256, "threads": args.threads,
              "lr": {m: reproduce.MODELS[m][1] for m in MODELS}, "layers": list(LAYERS),
              "quantiles": list(QUANTILES), "dataset": sweep.DATASET,
              "training": "bnref.d2l.train.train_ch6 on the fast data path (xavier init, SGD)",
              "measured": "values entering each nn.Sigmoid, first N test images, eval mode"}
    rec = sweep.start(args, "activations", config)
    for key, model in sweep.pending(rec, [(m, m) for m in MODELS]):
        factory, lr = reproduce.MODELS[model]
        torch.manual_seed(args.seed)
        net = getattr(bnref, factory)()
        train_iter, test_iter = load_data_fashion_mnist(256, fast=True)
        history = train_ch6(net, train_iter, test_iter, 1, lr, "cpu", progress=False,
                            verbose=False, max_steps=args.steps)
        values = sigmoid_inputs(net.eval(), test_iter.X[:args.images])
        q = torch.tensor([p / 100 for p in QUANTILES], dtype=torch.float64)
        boxes = [dict(zip(map(str, QUANTILES), torch.quantile(v.double(), q).tolist()))
                 for v in values]
        rec.add(key, {"model": model, "lr": lr, "steps": history.steps,
                      "test_acc": history.test_acc[-1], "quantiles": boxes},
                seconds=history.train_seconds)
        print(f"{model}: test acc {history.test_acc[-1]:.4f} after {history.steps} steps; "
              f"median per layer " + ", ".join(f"{b['50']:+.2f}" for b in boxes), flush=True)
    specs = [{"model": m, "seed": args.seed, "batch_size": 256, "lr": reproduce.MODELS[m][1],
              "bn_impl": None} for m in MODELS]
    sweep.finish(rec, __name__, specs, figure="activations")
    return 0
