"""Small-batch experiment: LeNet with BN, LN, IN and GN, test error against batch size.

The question comes from the GroupNorm paper (Wu & He, 2018): batch
normalization estimates its statistics from the minibatch, so its error
grows when batches get small, while group normalization (and layer and
instance normalization), which never look across the batch, should not care.

The experiment trains :func:`bnref.models.lenet_norm` for each kind and each
batch size on the real Fashion-MNIST training set (fast data path), under a
fixed budget of *examples seen*, so every run does the same amount of data
work: ``steps = examples // batch_size``. The learning rate follows the linear
scaling rule used by the paper, ``lr = base_lr * batch_size / 256``, so the
product ``lr * steps`` is the same for every batch size. Each trained network
is then scored on the 10,000 test images in evaluation mode (BN with its
moving statistics). Results, with the command, the machine, the versions and
the wall time, go to a JSON file; :func:`plot` draws the figure from it.

    python -m bnref small-batch                       # full run, writes the JSON and SVG
    python -m bnref small-batch --examples 2000 --batch-sizes 2 256   # a quick look
"""

from __future__ import annotations

import json
import platform
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
from torch import nn

__all__ = ["configure", "run", "train_one", "plot", "DEFAULT_JSON", "DEFAULT_SVG"]

DEFAULT_JSON = Path("docs/results/small-batch-cpu.json")
DEFAULT_SVG = Path("docs/figures/small-batch.svg")
BATCH_SIZES = (2, 4, 8, 16, 32, 64, 128, 256)
KINDS = ("bn", "ln", "in", "gn")


def configure(parser) -> None:
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS,
                        help="normalizations to compare (default: all four)")
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=list(BATCH_SIZES),
                        help="training batch sizes (default: 2 4 ... 256)")
    parser.add_argument("--examples", type=int, default=9_000,
                        help="budget of training examples seen per run (default: 9000)")
    parser.add_argument("--base-lr", type=float, default=1.0,
                        help="SGD learning rate at batch size 256; scaled linearly (default: 1.0)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of every run")
    parser.add_argument("--device", default="cpu", help="where to train (default: cpu)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default: 1; on a shared 2-core machine more "
                        "threads made small-batch steps many times slower)")
    parser.add_argument("--out", type=Path, default=DEFAULT_JSON, help="results JSON")
    parser.add_argument("--figure", type=Path, default=DEFAULT_SVG,
                        help="figure to draw from the JSON ('' to skip)")


def train_one(kind: str, batch_size: int, examples: int, base_lr: float,
              data, seed: int = 0, device="cpu") -> dict:
    """Train ``lenet_norm(kind)`` on ``examples`` training examples; return its scores.

    ``data`` is ``(X_train, y_train, X_test, y_test)``, tensors on ``device``.
    """
    from bnref.data import TensorLoader
    from bnref.models import lenet_norm
    from bnref.train import evaluate_accuracy_gpu, init_weights

    X_train, y_train, X_test, y_test = data
    torch.manual_seed(seed)
    net = lenet_norm(kind)
    net.apply(init_weights)
    net.to(device)
    lr = base_lr * batch_size / 256
    steps = examples // batch_size
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    loss = nn.CrossEntropyLoss()
    train_iter = TensorLoader(X_train, y_train, batch_size, shuffle=True)
    start = time.perf_counter()
    net.train()
    done = 0
    while done < steps:  # as many passes over the data as the budget needs
        for X, y in train_iter:
            if done == steps:
                break
            if len(y) < 2:  # BN cannot train on a last batch of one example
                continue
            optimizer.zero_grad()
            l = loss(net(X), y)
            l.backward()
            optimizer.step()
            done += 1
    train_seconds = time.perf_counter() - start
    test_acc = evaluate_accuracy_gpu(net, TensorLoader(X_test, y_test, 1000), device)
    return {
        "kind": kind, "batch_size": batch_size, "steps": steps,
        "examples": steps * batch_size, "lr": lr,
        "test_error": round(1.0 - test_acc, 4), "final_train_loss": round(l.detach().item(), 4),
        "train_seconds": round(train_seconds, 1),
    }


def load_data(device) -> tuple[torch.Tensor, ...]:
    """Real Fashion-MNIST, whole splits as tensors on ``device`` (the fast data path)."""
    from bnref.d2l import load_data_fashion_mnist

    train_iter, test_iter = load_data_fashion_mnist(256, fast=True, device=device)
    return train_iter.X, train_iter.y, test_iter.X, test_iter.y


def _options() -> list[str]:
    """The options this command was given (what follows ``small-batch`` in argv)."""
    argv = sys.argv[1:]
    return argv[argv.index("small-batch") + 1:] if "small-batch" in argv else argv


def _machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "platform": platform.platform()}


def run(args) -> int:
    import torchvision

    import bnref

    wall = time.perf_counter()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    data = load_data(device)
    results = []
    for kind in args.kinds:
        for b in args.batch_sizes:
            r = train_one(kind, b, args.examples, args.base_lr, data, args.seed, device)
            results.append(r)
            print(f"{kind:>2} batch {b:>3}: {r['steps']:>5} steps, lr {r['lr']:.4f}, "
                  f"test error {r['test_error']:.4f} ({r['train_seconds']:.1f} s)", flush=True)
    report = {
        "command": " ".join(["python -m bnref small-batch", *map(shlex.quote, _options())]),
        "dataset": "Fashion-MNIST (real IDX files), 60000 train / 10000 test",
        "model": "bnref.models.lenet_norm(kind), sigmoid LeNet of the note",
        "examples_budget": args.examples,
        "lr_rule": f"lr = {args.base_lr} * batch_size / 256 (SGD, cross-entropy)",
        "seed": args.seed,
        "device": str(device),
        "machine": _machine(),
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "torchvision": torchvision.__version__, "bnref": bnref.__version__},
        "finished_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "wall_seconds": round(time.perf_counter() - wall, 1),
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out} ({report['wall_seconds']} s)")
    if str(args.figure):
        plot(args.out, args.figure)
        print(f"wrote {args.figure}")
    return 0


def table(results_json_path) -> str:
    """The results as a Markdown table: test error (%) per kind and batch size."""
    report = json.loads(Path(results_json_path).read_text(encoding="utf-8"))
    sizes = sorted({r["batch_size"] for r in report["results"]})
    kinds = [k for k in KINDS if any(r["kind"] == k for r in report["results"])]
    err = {(r["kind"], r["batch_size"]): r["test_error"] for r in report["results"]}
    lines = ["| batch size | " + " | ".join(kinds).upper() + " |",
             "| ---: |" + " ---: |" * len(kinds)]
    for b in sizes:
        cells = [f"{100 * err[k, b]:.1f}" if (k, b) in err else "–" for k in kinds]
        lines.append(f"| {b} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(results_json_path, out_path) -> None:
    """Draw test error against batch size (log scale), one line per kind, as SVG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    report = json.loads(Path(results_json_path).read_text(encoding="utf-8"))
    plt.rcParams["svg.hashsalt"] = "bnref"  # stable ids: the SVG diff only when data change
    fig, ax = plt.subplots(figsize=(6, 4))
    styles = {"bn": "o-", "ln": "s--", "in": "^-.", "gn": "D:"}
    from bnref.models import NORM_KINDS

    for kind in KINDS:
        rows = sorted((r["batch_size"], r["test_error"]) for r in report["results"]
                      if r["kind"] == kind)
        if rows:
            b, e = zip(*rows)
            ax.plot(b, [100 * x for x in e], styles[kind], label=NORM_KINDS[kind])
    ax.set_xscale("log", base=2)
    sizes = sorted({r["batch_size"] for r in report["results"]})
    ax.set_xticks(sizes, [str(s) for s in sizes])
    ax.set_xlabel("batch size (images per step)")
    ax.set_ylabel("test error (%)")
    ax.set_title(f"LeNet on Fashion-MNIST, {report['examples_budget']:,} examples seen")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path, format="svg", metadata={"Date": None})
    plt.close(fig)
