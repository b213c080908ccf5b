"""Training throughput: the note's setup against bnref's fast training path.

Times one epoch of LeNet-BN (training and the test-set evaluation, as
``train_ch6`` runs them) for the note's own setup (d2l's ``DataLoader`` path,
the note's BatchNorm class) against bnref's fast training path
(:data:`bnref.speed.fast_path.FAST_PATH`), with the settings between them and
PyTorch's BatchNorm for reference (:data:`THROUGHPUT_RUNS`), in ``--rounds``
rounds over all the settings (the medians are reported, since one epoch on a
busy machine varies by 20 %). It also times the first convolution, the first
pooling and the first BatchNorm-sigmoid-pooling block alone, several ways,
and profiles a training step (:data:`PROFILED`).

    python -m bnref throughput --device cpu --threads 1 --rounds 7

A timing cannot be replayed; the file records a hash of the code it timed
(``timed_code``), and the test suite reports when that code has changed.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from bnref.d2l.data import get_dataloader_workers
from bnref.d2l.train import init_weights, train_ch6
from bnref.experiments.commands.reproduce import MODELS, loaders
from bnref.experiments.harness import record
from bnref.experiments.harness import sweep
from bnref.speed.conv import OneChannelConv2d
from bnref.speed.fast import FastBatchNorm
from bnref.speed.fast_path import FAST_PATH, FIRST_CONVS, POOLS, lenet_bn_setting
from bnref.speed.fused import BatchNormSigmoidMaxPool2x2
from bnref.speed.pool import MaxPool2x2

__all__ = ["THROUGHPUT_RUNS", "NOTE_SETUP", "BLOCKS", "PROFILED", "STEP_PARTS", "setting",
           "measure_throughput", "throughput_medians", "time_first_conv", "time_first_pool",
           "time_first_block", "profile_step", "TIMED_MODULES", "configure", "run"]

#: the code whose speed this command measures (hashed into the results file)
TIMED_MODULES = ("bnref.speed", "bnref.norm", "bnref.note", "bnref.models", "bnref.d2l")

#: (data path, BatchNorm implementation, first convolution,
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


def setting(r: dict) -> tuple[str, str, str, str]:
    """(data path, BatchNorm, first convolution, max pooling) of a throughput record."""
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

    device = torch.device(device)
    torch.manual_seed(seed)
    net = lenet_bn_setting(bn, first_conv, pool)
    train_iter, test_iter = loaders(data_path, batch_size, device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    history = train_ch6(net, train_iter, test_iter, 1, MODELS["lenet_bn"][1], device,
                        progress=False, verbose=False, max_steps=max_steps)
    sync()
    wall = time.perf_counter() - start
    steps = history.steps
    examples = history.examples_seen
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

    Examples:
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


def time_first_conv(*, device, batch_size: int = 256, min_run_time: float = 1.0) -> dict:
    """Milliseconds for the forward and backward of LeNet-BN's first convolution, both ways.

    One call is ``conv(X)`` on a ``(batch_size, 1, 28, 28)`` batch and the
    backward to the weight and bias (the images need no gradient, as in
    training), timed by ``torch.utils.benchmark`` (median of its blocked
    runs). Returns ``{"torch": ms, "one_channel": ms}``.
    """
    from torch.utils import benchmark

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

    device = torch.device(device)
    torch.manual_seed(0)
    net = lenet_bn_setting(bn, first_conv, pool).to(device)
    net.apply(init_weights)
    optimizer = torch.optim.SGD(net.parameters(), lr=MODELS["lenet_bn"][1])
    loss = torch.nn.CrossEntropyLoss()
    train_iter, _ = loaders("fast", batch_size, device)
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


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None,
                        help="where to train (default: cuda if available, else cpu)")
    parser.add_argument("--batch-size", type=int, default=256, help="default: 256, as the note")
    parser.add_argument("--max-steps", type=int, default=None,
                        help="stop each epoch after this many batches (quick trials only)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds over all the settings, one after the other; the medians "
                        "are reported (default: 3)")
    parser.add_argument("--min-run-time", type=float, default=1.0,
                        help="seconds per layer timing at the end (default: 1)")
    sweep.add_options(parser, "throughput", seeds=None, device=False, threads=None,
                      progress=False)


def run(args: argparse.Namespace) -> int:
    device = sweep.resolve_device(args.device)
    if args.rounds < 1:
        raise SystemExit(f"--rounds must be >= 1; got {args.rounds}")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    out = args.out or record.results_dir() / f"throughput-{device.type}.json"
    config = {"rounds": args.rounds, "batch_size": args.batch_size, "max_steps": args.max_steps,
              "device": device.type, "threads": torch.get_num_threads()}
    rec = record.Record(out, "throughput", config, device=device, fresh=args.fresh)
    # round-major: a slow spell of the machine touches every setting alike; each finished
    # epoch is written at once, and a stopped command resumes with the next one
    for round_ in range(args.rounds):
        for data_path, bn, first_conv, pool in THROUGHPUT_RUNS:
            key = f"round={round_}/{data_path}/{bn}/{first_conv}/{pool}"
            if rec.done(key):
                continue
            r = measure_throughput(data_path, bn, first_conv=first_conv, pool=pool,
                                   device=device, batch_size=args.batch_size,
                                   max_steps=args.max_steps)
            print(f"round {round_ + 1}/{args.rounds}: {data_path:>4} data, {bn:5} BatchNorm, "
                  f"{first_conv:11} conv1, {pool:5} pool: "
                  f"{r['wall_examples_per_sec']:8.1f} examples/sec "
                  f"(wall), {r['step_examples_per_sec']:8.1f} (training steps)", flush=True)
            rec.add(key, {**r, "round": round_}, seconds=r["wall_seconds"])
    medians = throughput_medians(list(rec.runs.values()))
    by = {setting(m): m for m in medians}
    ratio = by[FAST_PATH]["wall_examples_per_sec"] / by[NOTE_SETUP]["wall_examples_per_sec"]
    print(f"bnref fast path / the note's run (wall, median of {args.rounds} rounds): "
          f"{ratio:.2f}x")
    rec.set("medians", medians)
    rec.set("fast_path", list(FAST_PATH))
    rec.set("ratio_fast_over_note", ratio)
    rec.set("first_conv_ms", time_first_conv(device=device, batch_size=args.batch_size,
                                                min_run_time=args.min_run_time))
    rec.set("first_pool_ms", time_first_pool(device=device, batch_size=args.batch_size,
                                                min_run_time=args.min_run_time))
    rec.set("first_block_ms", time_first_block(device=device, batch_size=args.batch_size,
                                                min_run_time=args.min_run_time))
    rec.set("step_profiles", [profile_step(bn, first_conv=c, pool=p, device=device,
                                           batch_size=args.batch_size)
                              for _, bn, c, p in PROFILED])
    rec.set("timed_code", {"modules": list(TIMED_MODULES),
                           "hash": record.code_hash(*TIMED_MODULES)})
    rec.save()
    print(f"wrote {out}")
    return 0
