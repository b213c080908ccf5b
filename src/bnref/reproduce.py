"""Reproduce the note's training runs (LeNet with and without BN) over several seeds.

The note trains three networks on Fashion-MNIST with d2l's ``train_ch6``
(xavier initialization, plain SGD, cross-entropy, batch size 256, 10 epochs)
and prints one run of each:

* ``lenet_bn``          LeNet + the from-scratch BatchNorm, lr 1.0
* ``lenet_bn_concise``  LeNet + ``nn.BatchNorm2d``/``nn.BatchNorm1d``, lr 1.0
* ``lenet``             the original LeNet (sigmoid, no BN), lr 0.9

This command trains each of them once per seed and writes one JSON file
(default ``docs/results/reproduce-<device>.json``) with, per model and seed,
the per-epoch train loss, train accuracy, test accuracy and examples/sec,
the γ and β of ``net[1]`` after training, and the machine, versions, git
commit, command line, date and wall time. It then redraws
``docs/figures/curves.svg`` from that file.

``--throughput`` instead times one epoch of LeNet-BN (training and the
test-set evaluation, as ``train_ch6`` runs them) for the note's own setup
(d2l's ``DataLoader`` path, the note's BatchNorm class) against bnref's fast
training path (the split held as tensors, each BatchNorm fused with the
sigmoid and pooling after it by :mod:`bnref.fused`, and
:class:`bnref.fast_conv.OneChannelConv2d` as the first convolution), with
the settings between them and PyTorch's BatchNorm for reference
(:data:`THROUGHPUT_RUNS`), in ``--rounds`` rounds over all the settings
(default 3; the medians are reported, since one epoch on a busy machine
varies by 20 %). It also times the first convolution, the first pooling and
the first BatchNorm-sigmoid-pooling block alone, several ways, profiles a
training step (:data:`PROFILED`), and writes
``docs/results/throughput-<device>.json``.

Examples::

    python -m bnref reproduce --device cpu                # the full run
    python -m bnref reproduce --epochs 1 --seeds 1 --models lenet_bn --out /tmp/x.json
    python -m bnref reproduce --throughput --device cpu   # one epoch per setting and round

Helpers for the results page read the committed file: :func:`note_lines`
prints d2l's two summary lines for one of our runs, :func:`summary_table`
the mean ± standard deviation over seeds next to the note's numbers.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from bnref.models import BN_IMPLS

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "docs" / "results"

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

__all__ = [
    "MODELS",
    "NOTE_RESULTS",
    "configure",
    "describe",
    "device_name",
    "gamma_beta",
    "load",
    "measure_throughput",
    "profile_step",
    "BLOCKS",
    "PROFILED",
    "STEP_PARTS",
    "THROUGHPUT_RUNS",
    "FAST_PATH",
    "fast_path",
    "FIRST_CONVS",
    "POOLS",
    "setting",
    "throughput_medians",
    "time_first_conv",
    "time_first_pool",
    "time_first_block",
    "note_lines",
    "reached_note_accuracy",
    "run",
    "summary_table",
    "throughput_table",
    "train_one",
]


# --------------------------------------------------------------------------
# Machine facts
# --------------------------------------------------------------------------


def device_name(device: torch.device | str) -> str:
    """A human name for ``device``: the GPU's name, or the CPU model from /proc/cpuinfo."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()
        return out.stdout.strip() + ("+dirty-src" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _command_line() -> str:
    """The command as the user typed it (``python -m bnref ...`` or ``bnref ...``)."""
    if sys.argv[0].endswith("__main__.py"):
        return "python -m bnref " + " ".join(sys.argv[1:])
    return " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])


def _environment(device: torch.device) -> dict:
    import torchvision

    return {
        "device": str(device),
        "device_name": device_name(device),
        "cpu_count": os.cpu_count(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": _git_commit(),
        "command": _command_line(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


# --------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------


def _loaders(data_path: str, batch_size: int, device: torch.device):
    from bnref.data import load_data_fashion_mnist

    if data_path == "fast":
        return load_data_fashion_mnist(batch_size, fast=True, device=device)
    return load_data_fashion_mnist(batch_size)


def _examples_per_epoch(train_iter, batch_size: int, max_steps: int | None) -> int:
    """Training examples in one epoch of ``train_iter`` (the first ``max_steps`` batches)."""
    size = len(train_iter.dataset) if hasattr(train_iter, "dataset") else len(train_iter.X)
    steps = len(train_iter) if max_steps is None else min(max_steps, len(train_iter))
    return min(steps * batch_size, size)


def train_one(model: str, seed: int, *, epochs: int, batch_size: int, device, data_path: str,
              max_steps: int | None = None, progress: bool = True,
              bn_impl: str | None = None) -> dict:
    """Train one model with the note's settings from ``torch.manual_seed(seed)``.

    ``bn_impl`` swaps ``lenet_bn``'s BatchNorm layers for another
    implementation (:func:`bnref.models.lenet_bn_with`). Returns a dict with
    the per-epoch history (see :class:`bnref.train.History`), the wall time,
    the seconds until the test accuracy first reached the note's (``None``
    if it did not), and ``net[1]``'s γ/β for the BatchNorm models.
    """
    import bnref
    from bnref.models import lenet_bn_with
    from bnref.train import train_ch6

    factory, lr = MODELS[model]
    device = torch.device(device)
    torch.manual_seed(seed)  # weights (xavier init) and the shuffling order
    if bn_impl is not None and model != "lenet_bn":
        raise ValueError(f"bn_impl swaps lenet_bn's BatchNorm layers; model {model!r} "
                         f"has its own (or none)")
    net = lenet_bn_with(bn_impl) if bn_impl is not None else getattr(bnref, factory)()
    train_iter, test_iter = _loaders(data_path, batch_size, device)
    start = time.perf_counter()
    history = train_ch6(net, train_iter, test_iter, epochs, lr, device,
                        progress=progress, verbose=False, max_steps=max_steps)
    wall = time.perf_counter() - start
    record = {"seed": seed, "lr": lr, **history.as_dict(), "wall_seconds": wall}
    record.pop("device")
    # d2l's second line: all training examples seen / time spent in training steps
    examples = _examples_per_epoch(train_iter, batch_size, max_steps)
    record["examples_per_sec_overall"] = examples * epochs / history.train_seconds
    target = NOTE_RESULTS.get(model, {}).get("test_acc")
    record["note_test_acc"] = target
    record["seconds_to_note_test_acc"] = None if target is None else next(
        (t for acc, t in zip(history.test_acc, history.elapsed_seconds) if acc >= target), None)
    bn = net[1]
    if hasattr(bn, "gamma"):
        record["net1_gamma"] = bn.gamma.detach().reshape(-1).cpu().tolist()
        record["net1_beta"] = bn.beta.detach().reshape(-1).cpu().tolist()
    elif isinstance(bn, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
        record["net1_gamma"] = bn.weight.detach().cpu().tolist()
        record["net1_beta"] = bn.bias.detach().cpu().tolist()
    return record


#: the first convolutions ``--throughput`` compares: ``nn.Conv2d`` as the note
#: builds it, or :class:`bnref.fast_conv.OneChannelConv2d` (the same layer,
#: whose weight gradient oneDNN computes without padding one channel to eight)
FIRST_CONVS = ("torch", "one_channel")

#: the max poolings ``--throughput`` compares: ``nn.MaxPool2d(2, 2)`` as the note
#: builds it, :class:`bnref.fast_pool.MaxPool2x2` (the same values, indices
#: and gradients, from vectorized elementwise operations), or ``"fused"``: the
#: pooling computed inside the ``"fused"`` BatchNorm layer before it
#: (:class:`bnref.fused.BatchNormSigmoidMaxPool2x2`), which goes with it only
POOLS = ("torch", "2x2", "fused")

#: ``--throughput``: (data path, BatchNorm implementation, first convolution,
#: max pooling), one epoch each. The first is the note's own run; each later
#: one changes one thing from a run above it (the fused layer replaces the
#: BatchNorm and the pooling together); the seventh and the eighth are bnref's
#: fast training path with either first convolution (:func:`fast_path` says
#: which is the fast path on this CPU). PyTorch's BatchNorm, with the note's
#: layers and with the fast path's, is the reference.
THROUGHPUT_RUNS = (("d2l", "note", "torch", "torch"), ("d2l", "fast", "torch", "torch"),
                   ("fast", "note", "torch", "torch"), ("fast", "fast", "torch", "torch"),
                   ("fast", "fast", "one_channel", "torch"),
                   ("fast", "fast", "one_channel", "2x2"),
                   ("fast", "fused", "one_channel", "fused"),
                   ("fast", "fused", "torch", "fused"),
                   ("fast", "torch", "torch", "torch"), ("fast", "torch", "one_channel", "torch"),
                   ("fast", "torch", "one_channel", "2x2"))
NOTE_SETUP = THROUGHPUT_RUNS[0]


def fast_path(cpu_capability: str | None = None) -> tuple[str, str, str, str]:
    """bnref's fast training path: the data as tensors, the fused BatchNorm layers, and the
    first convolution that is faster on a CPU with this vector instruction set (default:
    this machine's, as ``torch.backends.cpu.get_cpu_capability()`` names it).

    :class:`bnref.fast_conv.OneChannelConv2d` avoids oneDNN's padding of one
    input channel to a block of 8, which its AVX2 kernels do: there the layer's
    forward and backward took 5.0 ms against 9.0 ms for ``nn.Conv2d`` (batch 256,
    AMD EPYC). With AVX-512 oneDNN picks other kernels, and the same timing put
    ``nn.Conv2d`` ahead in four runs of five and level in one (2.3 against 2.8 ms
    in the committed run; Intel Xeon). Whole epochs are too noisy to tell the two
    apart (one run put ``nn.Conv2d`` ahead within the fused path, another behind);
    the layer timed alone, by ``torch.utils.benchmark``, is steadier.

    Example:
        >>> fast_path("AVX2"), fast_path("AVX512")
        (('fast', 'fused', 'one_channel', 'fused'), ('fast', 'fused', 'torch', 'fused'))
    """
    if cpu_capability is None:
        cpu_capability = torch.backends.cpu.get_cpu_capability()
    return "fast", "fused", "one_channel" if cpu_capability == "AVX2" else "torch", "fused"


#: :func:`fast_path` on this machine
FAST_PATH = fast_path()


def setting(r: dict) -> tuple[str, str, str, str]:
    """(data path, BatchNorm, first convolution, max pooling) of a ``--throughput`` record."""
    return r["data_path"], r["batch_norm"], r["first_conv"], r["pool"]


def measure_throughput(data_path: str, bn: str = "bnref", *, first_conv: str = "torch",
                       pool: str = "torch", device, batch_size: int = 256,
                       max_steps: int | None = None, seed: int = 0) -> dict:
    """Train LeNet-BN for one epoch, as ``train_ch6`` does, and time it.

    ``data_path`` is ``"d2l"`` (``DataLoader``, ``ToTensor`` per image, worker
    processes) or ``"fast"`` (the split held as one tensor, batches sliced
    from it); ``bn`` picks the BatchNorm layers (:func:`bnref.models.lenet_bn_with`)
    ``first_conv`` the first convolution (:data:`FIRST_CONVS`) and ``pool``
    the two max poolings (:data:`POOLS`).

    ``wall_examples_per_sec`` is the training examples over everything a
    reader waits for in that epoch: fetching each batch (for the d2l path:
    starting the worker processes, ``ToTensor`` per image, collating), the
    training steps and the evaluation on the test set that ``train_ch6`` runs
    after each epoch. ``step_examples_per_sec`` is what ``train_ch6`` prints:
    the training steps only.
    """
    from bnref.data import get_dataloader_workers
    from bnref.train import train_ch6

    device = torch.device(device)
    torch.manual_seed(seed)
    net = _lenet_bn(bn, first_conv, pool)
    train_iter, test_iter = _loaders(data_path, batch_size, device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    history = train_ch6(net, train_iter, test_iter, 1, MODELS["lenet_bn"][1], device,
                        progress=False, verbose=False, max_steps=max_steps)
    sync()
    wall = time.perf_counter() - start
    steps = len(train_iter) if max_steps is None else min(max_steps, len(train_iter))
    examples = _examples_per_epoch(train_iter, batch_size, max_steps)
    return {
        "data_path": data_path,
        "batch_norm": bn,
        "first_conv": first_conv,
        "pool": pool,
        "model": "lenet_bn",
        "batch_size": batch_size,
        "steps": steps,
        "examples": examples,
        "wall_seconds": wall,
        "train_seconds": history.train_seconds,
        "wall_examples_per_sec": examples / wall,
        "step_examples_per_sec": examples / history.train_seconds,
        "test_acc": history.test_acc[-1],
        "num_workers": None if data_path == "fast" else get_dataloader_workers(),
    }


#: how :func:`profile_step` groups ATen operations (self time) into parts of LeNet-BN
STEP_PARTS = {
    "convolution backward": ("aten::convolution_backward",),
    "convolution forward": ("aten::mkldnn_convolution", "aten::_convolution",
                            "aten::cudnn_convolution", "aten::convolution"),
    "max pooling": ("aten::max_pool2d_with_indices", "aten::max_pool2d_with_indices_backward"),
    "fused BN, sigmoid, pooling": ("bnref_fused::bn_sigmoid_pool_forward",
                                   "bnref_fused::bn_sigmoid_pool_backward",
                                   "bnref_fused::bn_sigmoid_forward",
                                   "bnref_fused::bn_sigmoid_backward"),
    "batch normalization": ("aten::native_batch_norm", "aten::native_batch_norm_backward",
                            "aten::_batch_norm_impl_index", "aten::batch_norm"),
    "sigmoid": ("aten::sigmoid", "aten::sigmoid_backward"),
    "linear layers": ("aten::addmm", "aten::mm"),
}


def throughput_medians(runs: list[dict]) -> list[dict]:
    """Per :func:`setting` (data path, BatchNorm, first convolution, pooling), in the order
    first met:
    the median, min and max of the wall and step examples/sec over its rounds.

    Example:
        >>> runs = [{"data_path": "fast", "batch_norm": "fast", "first_conv": "torch",
        ...          "pool": "torch", "wall_examples_per_sec": w, "step_examples_per_sec": 2 * w}
        ...         for w in (300.0, 100.0, 200.0)]
        >>> m, = throughput_medians(runs)
        >>> m["wall_examples_per_sec"], m["wall_min"], m["wall_max"], m["step_examples_per_sec"], m["rounds"]
        (200.0, 100.0, 300.0, 400.0, 3)
        >>> m["pool"]
        'torch'
    """
    groups: dict[tuple, list[dict]] = {}
    for r in runs:
        groups.setdefault(setting(r), []).append(r)
    out = []
    for (data_path, bn, first_conv, pool), rs in groups.items():
        wall = [r["wall_examples_per_sec"] for r in rs]
        step = [r["step_examples_per_sec"] for r in rs]
        out.append({"data_path": data_path, "batch_norm": bn, "first_conv": first_conv,
                    "pool": pool,
                    "num_workers": rs[0].get("num_workers"), "batch_size": rs[0].get("batch_size"),
                    "rounds": len(rs), "wall_examples_per_sec": statistics.median(wall),
                    "wall_min": min(wall), "wall_max": max(wall),
                    "step_examples_per_sec": statistics.median(step)})
    return out


def _lenet_bn(bn: str, first_conv: str, pool: str = "torch") -> torch.nn.Sequential:
    """LeNet-BN with BatchNorm implementation ``bn``, first convolution ``first_conv`` and
    max poolings ``pool``."""
    from bnref.fast_conv import with_one_channel_conv
    from bnref.fast_pool import with_max_pool2x2
    from bnref.models import lenet_bn_with

    if first_conv not in FIRST_CONVS:
        raise ValueError(f"first_conv must be one of {', '.join(FIRST_CONVS)}; got {first_conv!r}")
    if pool not in POOLS:
        raise ValueError(f"pool must be one of {', '.join(POOLS)}; got {pool!r}")
    if (bn == "fused") != (pool == "fused"):
        raise ValueError(f"the fused BatchNorm layer computes the pooling after it: BatchNorm "
                         f"'fused' goes with pool 'fused' and only with it; got BatchNorm {bn!r} "
                         f"and pool {pool!r}")
    net = lenet_bn_with(bn)
    if first_conv == "one_channel":
        net = with_one_channel_conv(net)
    return with_max_pool2x2(net) if pool == "2x2" else net


def time_first_conv(*, device, batch_size: int = 256, min_run_time: float = 1.0) -> dict:
    """Milliseconds for the forward and backward of LeNet-BN's first convolution, both ways.

    One call is ``conv(X)`` on a ``(batch_size, 1, 28, 28)`` batch and the
    backward to the weight and bias (the images need no gradient, as in
    training), timed by ``torch.utils.benchmark`` (median of its blocked
    runs). Returns ``{"torch": ms, "one_channel": ms}``.
    """
    from torch.utils import benchmark

    from bnref.fast_conv import OneChannelConv2d

    device = torch.device(device)
    torch.manual_seed(0)
    X = torch.rand(batch_size, 1, 28, 28, device=device)
    convs = {"torch": torch.nn.Conv2d(1, 6, kernel_size=5).to(device)}
    convs["one_channel"] = OneChannelConv2d(1, 6, kernel_size=5).to(device)
    convs["one_channel"].load_state_dict(convs["torch"].state_dict())
    dY = torch.randn(batch_size, 6, 24, 24, device=device)
    out = {}
    for name, conv in convs.items():
        def call(conv=conv):
            conv(X).backward(dY)
            conv.weight.grad = conv.bias.grad = None
        timer = benchmark.Timer("call()", globals={"call": call},
                                num_threads=torch.get_num_threads())
        out[name] = timer.blocked_autorange(min_run_time=min_run_time).median * 1e3
    return out


def time_first_pool(*, device, batch_size: int = 256, min_run_time: float = 1.0) -> dict:
    """Milliseconds for the forward and backward of LeNet-BN's first max pooling, both ways.

    One call pools a ``(batch_size, 6, 24, 24)`` batch of sigmoid outputs
    whose border is blank (one value, as a Fashion-MNIST image's background
    gives: ties in most windows) and runs the backward, timed by
    ``torch.utils.benchmark`` (median of its blocked runs). Returns
    ``{"torch": ms, "2x2": ms}`` (the fused pooling is timed with its BatchNorm
    by :func:`time_first_block`).
    """
    from torch.utils import benchmark

    from bnref.fast_pool import MaxPool2x2

    device = torch.device(device)
    torch.manual_seed(0)
    X = torch.full((batch_size, 6, 24, 24), 0.5, device=device)
    X[:, :, 4:20, 4:20] = torch.rand(batch_size, 6, 16, 16, device=device)
    X.requires_grad_()
    dY = torch.randn(batch_size, 6, 12, 12, device=device)
    out = {}
    for name, pool in (("torch", torch.nn.MaxPool2d(2, 2)), ("2x2", MaxPool2x2())):
        def call(pool=pool):
            pool(X).backward(dY)
            X.grad = None
        timer = benchmark.Timer("call()", globals={"call": call},
                                num_threads=torch.get_num_threads())
        out[name] = timer.blocked_autorange(min_run_time=min_run_time).median * 1e3
    return out


#: :func:`time_first_block`: LeNet-BN's first BatchNorm, sigmoid and max pooling as
#: PyTorch's three layers, as bnref's fast BatchNorm and 2x2 pooling, and as one fused layer
BLOCKS = ("torch", "fast", "fused")

#: :func:`profile_step` runs: PyTorch's BatchNorm with each first convolution, and the fast path
PROFILED = (("fast", "torch", "torch", "torch"), ("fast", "torch", "one_channel", "torch"),
            FAST_PATH)


def time_first_block(*, device, batch_size: int = 256, min_run_time: float = 1.0) -> dict:
    """Milliseconds for the forward and backward of LeNet-BN's first BatchNorm, sigmoid and
    2×2 max pooling, three ways (:data:`BLOCKS`).

    The input is a ``(batch_size, 6, 24, 24)`` batch as the first convolution
    gives it (random values), in training mode; the backward reaches the input
    and the BatchNorm's γ and β. Timed by ``torch.utils.benchmark`` (median of
    its blocked runs). Returns ``{"torch": ms, "fast": ms, "fused": ms}``.
    """
    from torch import nn
    from torch.utils import benchmark

    from bnref.fast import FastBatchNorm
    from bnref.fast_pool import MaxPool2x2
    from bnref.fused import BatchNormSigmoidMaxPool2x2

    device = torch.device(device)
    torch.manual_seed(0)
    X = torch.randn(batch_size, 6, 24, 24, device=device, requires_grad=True)
    dY = torch.randn(batch_size, 6, 12, 12, device=device)
    blocks = {"torch": nn.Sequential(nn.BatchNorm2d(6), nn.Sigmoid(), nn.MaxPool2d(2, 2)),
              "fast": nn.Sequential(FastBatchNorm(6, num_dims=4), nn.Sigmoid(), MaxPool2x2()),
              "fused": BatchNormSigmoidMaxPool2x2(6)}
    out = {}
    for name, block in blocks.items():
        block.to(device)
        params = [X, *block.parameters()]

        def call(block=block, params=params):
            torch.autograd.grad(block(X), params, dY)
        call()  # the fused kernels build or load here, untimed
        timer = benchmark.Timer("call()", globals={"call": call},
                                num_threads=torch.get_num_threads())
        out[name] = timer.blocked_autorange(min_run_time=min_run_time).median * 1e3
    return out


def profile_step(bn: str = "torch", *, first_conv: str = "torch", pool: str = "torch", device,
                 batch_size: int = 256, steps: int = 10) -> dict:
    """Where one LeNet-BN training step spends its time, by ``torch.profiler``.

    Times ``steps`` SGD steps on real Fashion-MNIST batches (after 3 untimed
    ones) and returns each part of :data:`STEP_PARTS` as a share of all the
    operations' self time; what no part claims is ``"other"``.
    """
    from torch.profiler import ProfilerActivity, profile

    from bnref.train import init_weights

    device = torch.device(device)
    torch.manual_seed(0)
    net = _lenet_bn(bn, first_conv, pool).to(device)
    net.apply(init_weights)
    optimizer = torch.optim.SGD(net.parameters(), lr=MODELS["lenet_bn"][1])
    loss = torch.nn.CrossEntropyLoss()
    train_iter, _ = _loaders("fast", batch_size, device)
    batches = iter(train_iter)

    def step():
        X, y = next(batches)
        optimizer.zero_grad()
        loss(net(X), y).backward()
        optimizer.step()

    for _ in range(3):
        step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    self_us = {e.key: e.self_cpu_time_total for e in prof.key_averages()}
    total = sum(self_us.values())
    shares = {part: sum(self_us.get(op, 0.0) for op in ops) / total
              for part, ops in STEP_PARTS.items()}
    shares["other"] = 1.0 - sum(shares.values())
    return {"batch_norm": bn, "first_conv": first_conv, "pool": pool, "steps": steps,
            "batch_size": batch_size, "self_cpu_ms_per_step": total / steps / 1e3,
            "shares": shares}


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None,
                        help="where to train (default: cuda if available, else cpu)")
    parser.add_argument("--data-path", choices=("fast", "d2l"), default="fast",
                        help="fast: the split as one tensor on the device, batches sliced "
                        "from it; d2l: torchvision ToTensor in a DataLoader (default: fast)")
    parser.add_argument("--epochs", type=int, default=10, help="epochs per run (default: 10)")
    parser.add_argument("--seeds", type=int, default=3,
                        help="number of seeds, 0..N-1 (default: 3)")
    parser.add_argument("--models", nargs="+", choices=tuple(MODELS), default=list(MODELS),
                        help="which models (default: all three)")
    parser.add_argument("--batch-size", type=int, default=256, help="default: 256, as the note")
    parser.add_argument("--max-steps", type=int, default=None,
                        help="stop each epoch after this many batches (quick trials only)")
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON file to write (default: docs/results/reproduce-<device>.json, "
                        "or throughput-<device>.json with --throughput)")
    parser.add_argument("--bn-impl", default=None,
                        choices=BN_IMPLS,
                        help="BatchNorm layers of lenet_bn (default: bnref.BatchNorm, the note's "
                        "model); see bnref.models.lenet_bn_with")
    parser.add_argument("--no-figure", action="store_true",
                        help="do not redraw docs/figures/curves.svg")
    parser.add_argument("--throughput", action="store_true",
                        help="instead of reproducing, time one epoch of LeNet-BN for the "
                        "note's setup, bnref's fast path and the settings between them")
    parser.add_argument("--rounds", type=int, default=3,
                        help="with --throughput: rounds over all the settings, one after the "
                        "other; the medians are reported (default: 3)")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for torch (default: torch's choice; 1 is faster on a "
                        "busy machine)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")


def _resolve_device(name: str | None) -> torch.device:
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda was asked for, but torch.cuda.is_available() is False")
    return torch.device(name)


def _write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {path}")


def run(args: argparse.Namespace) -> int:
    device = _resolve_device(args.device)
    if args.epochs < 1 or args.seeds < 1:
        raise SystemExit(f"--epochs and --seeds must be >= 1; got {args.epochs} and {args.seeds}")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    start = time.perf_counter()
    env = _environment(device)
    if args.throughput:
        out = args.out or RESULTS / f"throughput-{device.type}.json"
        if args.rounds < 1:
            raise SystemExit(f"--rounds must be >= 1; got {args.rounds}")
        runs = []
        # round-major: a slow spell of the machine touches every setting alike
        for round_ in range(args.rounds):
            for data_path, bn, first_conv, pool in THROUGHPUT_RUNS:
                r = measure_throughput(data_path, bn, first_conv=first_conv, pool=pool,
                                       device=device, batch_size=args.batch_size,
                                       max_steps=args.max_steps)
                print(f"round {round_ + 1}/{args.rounds}: {data_path:>4} data, {bn:5} BatchNorm, "
                      f"{first_conv:11} conv1, {pool:5} pool: "
                      f"{r['wall_examples_per_sec']:8.1f} examples/sec "
                      f"(wall), {r['step_examples_per_sec']:8.1f} (training steps)", flush=True)
                runs.append({**r, "round": round_})
        medians = throughput_medians(runs)
        by = {setting(m): m for m in medians}
        ratio = by[FAST_PATH]["wall_examples_per_sec"] / by[NOTE_SETUP]["wall_examples_per_sec"]
        print(f"bnref fast path / the note's run (wall, median of {args.rounds} rounds): "
              f"{ratio:.2f}x")
        conv_ms = time_first_conv(device=device, batch_size=args.batch_size)
        print("first convolution, forward + backward: "
              + ", ".join(f"{k} {v:.2f} ms" for k, v in conv_ms.items()), flush=True)
        pool_ms = time_first_pool(device=device, batch_size=args.batch_size)
        print("first max pooling, forward + backward: "
              + ", ".join(f"{k} {v:.2f} ms" for k, v in pool_ms.items()), flush=True)
        block_ms = time_first_block(device=device, batch_size=args.batch_size)
        print("first BatchNorm, sigmoid and max pooling, forward + backward: "
              + ", ".join(f"{k} {v:.2f} ms" for k, v in block_ms.items()), flush=True)
        profiles = [profile_step(bn, first_conv=c, pool=p, device=device,
                                 batch_size=args.batch_size) for _, bn, c, p in PROFILED]
        _write(out, {**env, "wall_seconds": time.perf_counter() - start, "rounds": args.rounds,
                     "runs": runs, "medians": medians,
                     "fast_path": list(FAST_PATH), "ratio_fast_over_note": ratio,
                     "first_conv_ms": conv_ms, "first_pool_ms": pool_ms,
                     "first_block_ms": block_ms,
                     "step_profiles": profiles})
        return 0

    out = args.out or RESULTS / f"reproduce-{device.type}.json"
    settings = {"epochs": args.epochs, "batch_size": args.batch_size,
                "data_path": args.data_path, "seeds": list(range(args.seeds)),
                "max_steps": args.max_steps, "init": "xavier_uniform", "optimizer": "SGD",
                "bn_impl": args.bn_impl}
    results: dict = {"models": {m: {"lr": MODELS[m][1], "runs": []} for m in args.models}}
    # seed-major order, and the file rewritten after every run: an interrupted
    # run still leaves every model trained on the first seeds
    for seed in range(args.seeds):
        for model in args.models:
            print(f"{model}, seed {seed}, lr {MODELS[model][1]}, on {device}", flush=True)
            r = train_one(model, seed, epochs=args.epochs, batch_size=args.batch_size,
                          device=device, data_path=args.data_path, max_steps=args.max_steps,
                          progress=not args.no_progress,
                          bn_impl=args.bn_impl if model == "lenet_bn" else None)
            line = (f"  loss {r['train_loss'][-1]:.3f}, train acc {r['train_acc'][-1]:.3f}, "
                    f"test acc {r['test_acc'][-1]:.3f}, "
                    f"{r['examples_per_sec_overall']:.1f} examples/sec")
            if r["note_test_acc"] is not None:
                reached = r["seconds_to_note_test_acc"]
                line += (f"; the note's test acc {r['note_test_acc']} "
                         + (f"reached after {reached:.1f} s" if reached is not None
                            else "not reached"))
            print(line, flush=True)
            results["models"][model]["runs"].append(r)
            partial = seed < args.seeds - 1 or model != args.models[-1]
            _write(out, {**env, "settings": settings, "complete": not partial,
                         "wall_seconds": time.perf_counter() - start, **results})
    data = load(out)
    print(f"wall time {data['wall_seconds']:.1f} s")
    if not args.no_figure:
        from bnref import figures

        figures.curves(out, ROOT / "docs" / "figures" / "curves.svg")
    return 0


# --------------------------------------------------------------------------
# Helpers for the results page
# --------------------------------------------------------------------------


def load(path: str | Path) -> dict:
    """Read a results JSON written by this command."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def note_lines(path: str | Path, model: str, seed: int = 0) -> None:
    """Print d2l's two summary lines for one of our runs (the note's format)."""
    data = load(path)
    r = _run(data, model, seed)
    print(f"loss {r['train_loss'][-1]:.3f}, train acc {r['train_acc'][-1]:.3f}, "
          f"test acc {r['test_acc'][-1]:.3f}")
    print(f"{r['examples_per_sec_overall']:.1f} examples/sec on {data['device']}")


def _run(data: dict, model: str, seed: int) -> dict:
    if model not in data["models"]:
        raise KeyError(f"no model {model!r} in the results; have {sorted(data['models'])}")
    for r in data["models"][model]["runs"]:
        if r["seed"] == seed:
            return r
    raise KeyError(f"no seed {seed} for {model!r}")


def _mean_std(values: list[float], fmt: str) -> str:
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else float("nan")
    return f"{mean:{fmt}} ± {std:{fmt}}"


def summary(data: dict, model: str) -> dict[str, list[float]]:
    """Final-epoch metrics of every seed of ``model``."""
    runs = data["models"][model]["runs"]
    return {
        "loss": [r["train_loss"][-1] for r in runs],
        "train_acc": [r["train_acc"][-1] for r in runs],
        "test_acc": [r["test_acc"][-1] for r in runs],
        "examples_per_sec": [r["examples_per_sec_overall"] for r in runs],
    }


def summary_table(path: str | Path) -> None:
    """Print ours (mean ± sample std over seeds, last epoch) beside the note's run."""
    data = load(path)
    rows = [("model", "source", "loss", "train acc", "test acc", "examples/sec")]
    for model in data["models"]:
        if not data["models"][model]["runs"]:
            continue  # an interrupted run: this model has no finished seed yet
        s = summary(data, model)
        n = len(s["loss"])
        rows.append((model, f"ours, {n} seeds, {data['device']}", _mean_std(s["loss"], ".3f"),
                     _mean_std(s["train_acc"], ".3f"), _mean_std(s["test_acc"], ".3f"),
                     _mean_std(s["examples_per_sec"], ".0f")))
        if model in NOTE_RESULTS:
            nr = NOTE_RESULTS[model]
            rows.append(("", f"note, 1 run, {nr['device']}", f"{nr['loss']:.3f}",
                         f"{nr['train_acc']:.3f}", f"{nr['test_acc']:.3f}",
                         f"{nr['examples_per_sec']:.1f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


def throughput_table(path: str | Path) -> None:
    """Print the examples/sec of each ``--throughput`` setting (median over the rounds, with
    the range), the ratio to the note's run, the first convolution timed alone, and where a
    training step spends its time."""
    data = load(path)
    medians = data["medians"]
    first = medians[0]
    print(f"LeNet-BN, one epoch, batch {first['batch_size']}, on {data['device']} "
          f"({data['device_name']}, {data['cpu_count']} cores); "
          + (f"medians of {data['rounds']} rounds" if data["rounds"] > 1 else "one round"))
    print("data            BatchNorm  conv1        pool   wall ex/s (min-max)      step ex/s  "
          "x note's run")
    for m in medians:
        workers = "" if m["num_workers"] is None else f" ({m['num_workers']} workers)"
        spread = f"({m['wall_min']:.0f}-{m['wall_max']:.0f})"
        print(f"{m['data_path'] + workers:<15} {m['batch_norm']:<10} {m['first_conv']:<11}  "
              f"{m['pool']:<5} {m['wall_examples_per_sec']:10.1f} {spread:<13} "
              f"{m['step_examples_per_sec']:10.1f}"
              f" {m['wall_examples_per_sec'] / first['wall_examples_per_sec']:12.2f}")
    data_path, bn, conv, pool = data["fast_path"]
    print(f"bnref's fast path ({data_path} data, {bn} BatchNorm, {conv} conv1, {pool} pool) / "
          f"the note's run (d2l data, note BatchNorm, torch conv1, torch pool), wall: "
          f"{data['ratio_fast_over_note']:.2f}x")

    def rounds_of(wanted):
        return [r for r in data["runs"] if setting(r) == wanted]

    fast, note = rounds_of((data_path, bn, conv, pool)), rounds_of(NOTE_SETUP)
    print("  round by round: " + ", ".join(
        f"{f['wall_examples_per_sec'] / n['wall_examples_per_sec']:.2f}x"
        for f, n in zip(fast, note)))
    ms = data["first_conv_ms"]
    print(f"conv1 alone, forward + backward, batch {first['batch_size']}: nn.Conv2d "
          f"{ms['torch']:.2f} ms, OneChannelConv2d {ms['one_channel']:.2f} ms "
          f"({ms['torch'] / ms['one_channel']:.1f}x)")
    ms = data["first_pool_ms"]
    print(f"first max pooling alone, forward + backward, batch {first['batch_size']}: "
          f"nn.MaxPool2d {ms['torch']:.2f} ms, MaxPool2x2 {ms['2x2']:.2f} ms "
          f"({ms['torch'] / ms['2x2']:.1f}x)")
    ms = data["first_block_ms"]
    print(f"first BatchNorm + sigmoid + max pooling, forward + backward, batch "
          f"{first['batch_size']}: PyTorch's layers {ms['torch']:.2f} ms, FastBatchNorm and "
          f"MaxPool2x2 {ms['fast']:.2f} ms, fused {ms['fused']:.2f} ms "
          f"({ms['torch'] / ms['fused']:.1f}x)")
    for p in data["step_profiles"]:
        print(f"one training step, {p['batch_norm']} BatchNorm, {p['first_conv']} conv1, "
              f"{p['pool']} pool, by torch.profiler ({p['steps']} steps, "
              f"{p['self_cpu_ms_per_step']:.1f} ms of self time per step):")
        for part, share in sorted(p["shares"].items(), key=lambda kv: -kv[1]):
            if share > 0:  # parts this network does not have are left out
                print(f"  {part:<26} {100 * share:5.1f} %")


def reached_note_accuracy(path: str | Path, model: str = "lenet_bn") -> None:
    """Print, per seed, the last epoch's test accuracy and the first epoch whose test
    accuracy reached the note's, with the wall seconds from the start of training to the
    end of that epoch's evaluation where the file records them."""
    data = load(path)
    target = NOTE_RESULTS[model]["test_acc"]
    for r in data["models"][model]["runs"]:
        epochs = len(r["test_acc"])
        line = f"seed {r['seed']}: test acc {r['test_acc'][-1]:.3f} after {epochs} epochs; "
        epoch = next((i for i, acc in enumerate(r["test_acc"], start=1) if acc >= target), None)
        if epoch is None:
            line += f"the note's {target} not reached"
        else:
            line += f"the note's {target} reached in epoch {epoch}"
            if "elapsed_seconds" in r:
                line += f", after {r['elapsed_seconds'][epoch - 1]:.1f} s"
        print(line + f" ({r['examples_per_sec_overall']:.0f} examples/sec)")


def describe(path: str | Path) -> None:
    """Print how a results file was made: command, machine, versions, date, wall time."""
    data = load(path)
    print(data["command"])
    print(f"{data['device']}: {data['device_name']}, {data['cpu_count']} cores, "
          f"{data['torch_threads']} torch thread(s)")
    commit, _, dirty = data["git_commit"].partition("+")
    print(f"torch {data['torch']}, torchvision {data['torchvision']}, "
          f"Python {data['python']}, commit {commit[:12]}"
          + (" (uncommitted changes under src/)" if dirty else ""))
    runs = sum(len(m["runs"]) for m in data.get("models", {}).values())
    what = f"{runs} runs, " if runs else ""
    print(f"started {data['date']}, {what}wall time {data['wall_seconds'] / 60:.1f} min")


def gamma_beta(path: str | Path, model: str = "lenet_bn") -> None:
    """Print γ and β of ``net[1]`` after training, for every seed, then the note's values."""
    data = load(path)
    for r in data["models"][model]["runs"]:
        print(f"seed {r['seed']}: gamma {torch.tensor(r['net1_gamma'])}")
        print(f"        beta  {torch.tensor(r['net1_beta'])}")
    print(f"note:   gamma {torch.tensor(NOTE_GAMMA)}")
    print(f"        beta  {torch.tensor(NOTE_BETA)}")
