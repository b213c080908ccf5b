"""Inference cost of BN: LeNet's latency without BN, with BN and with BN folded; training throughput.

The note says LeNet with batch normalization is "about 20 % slower". This
command measures, on one machine and with one thing changed at a time:

* **latency** — eval mode under ``torch.no_grad()``, batches of 1 and 256 real
  Fashion-MNIST test images, of four networks (:data:`LATENCY_ARMS`): the
  note's LeNet without BN (``lenet_variant(bn="none")``), with the reference
  :class:`bnref.BatchNorm` (``lenet_bn()``), with the same trained state in
  ``nn.BatchNorm1d/2d`` (:func:`bnref.convert.to_torch`), and with every BN
  folded into the convolution or linear layer before it
  (:func:`bnref.fold.fold_batch_norm`, which leaves ``nn.Identity`` where the BN
  was). Timed with ``torch.utils.benchmark.Timer.blocked_autorange`` on
  ``--threads`` threads (default 1), the arms interleaved in ``--rounds``
  rounds; each cell keeps the median of the rounds' medians. Twice: in wall
  time, and in the CPU time of the calling thread (``time.thread_time`` as the
  Timer's ``timer=``), which on one torch thread is all the work of the
  forward pass and leaves out the time the process waits while other
  programs run (on a shared machine the wall time of one setting varied
  several-fold between rounds).
* **training throughput** — examples per second of the training steps (forward,
  backward, SGD update; :func:`bnref.d2l.train.fit`'s own timer, which leaves
  out the data loading between steps and the evaluation) of ``--steps`` steps
  at batch 256, lr 1.0, on the real training set, for LeNet without BN and with
  three BN layers (:data:`TRAINING_ARMS`): the reference :class:`bnref.BatchNorm`
  (autograd through the readable formula), :class:`bnref.speed.fused.FusedBatchNorm`
  (C++ kernels each way) and ``nn.BatchNorm1d/2d``; interleaved in ``--rounds``
  rounds, median. Also per CPU second: the examples divided by the calling
  thread's CPU time over the whole ``fit`` call (which also slices the
  minibatches from the tensor).
* **folding** — max |Δ logits| between the trained reference LeNet-BN and its
  folded copy on the 10,000 test images, and how many predictions differ.

The networks timed for latency are the ones trained in the last throughput
round (the weights do not change the time, but the folding check needs trained
moving statistics). Writes ``inference-<device>.json`` through
:class:`bnref.experiments.harness.record.Record` (one entry per part, with its
provenance and the machine's load average before and after it). A timing
cannot be replayed: the file records ``timed_code``, a hash of the code it
timed, and the test suite reports when that code has changed since. The page
printer is :func:`bnref.experiments.report.pages.inference_table`.

    python -m bnref inference --threads 1             # full run (a few minutes)
    python -m bnref inference --rounds 1 --steps 3 --min-run-time 0.01 --out /tmp/i.json
"""

from __future__ import annotations

import os
import statistics
import time

import torch
from torch import nn
from torch.utils import benchmark

from bnref import BatchNorm
from bnref.convert import to_torch
from bnref.d2l.data import TensorLoader, fashion_mnist_tensors
from bnref.d2l.train import fit
from bnref.experiments.harness import record, sweep
from bnref.fold import fold_batch_norm
from bnref.models import lenet_variant
from bnref.speed.fused import FusedBatchNorm

__all__ = ["LATENCY_ARMS", "TRAINING_ARMS", "BATCH_SIZES", "TIMED_MODULES", "configure", "run",
           "training_net", "torch_bn", "measure_latency", "measure_throughput",
           "fold_difference"]

#: arm -> what it is
LATENCY_ARMS = {"none": "LeNet without BN: lenet_variant(bn='none')",
                "bnref": "LeNet-BN, reference bnref.BatchNorm: lenet_bn()",
                "torch": "the same trained LeNet-BN with nn.BatchNorm1d/2d (convert.to_torch)",
                "folded": "the same trained LeNet-BN, BN folded into the conv/linear layer "
                          "before it (fold.fold_batch_norm)"}
TRAINING_ARMS = {"none": "LeNet without BN: lenet_variant(bn='none')",
                 "bnref": "LeNet-BN, reference bnref.BatchNorm (autograd through the formula)",
                 "fused": "LeNet-BN, bnref.speed.fused.FusedBatchNorm (C++ kernels each way)",
                 "torch": "LeNet-BN, nn.BatchNorm1d/2d"}
BATCH_SIZES = (1, 256)
TRAIN_BATCH, LR = 256, 1.0
#: the code whose speed this command measures (hashed into the results file)
TIMED_MODULES = ("bnref.norm", "bnref.speed", "bnref.fold", "bnref.models", "bnref.d2l",
                 "bnref.convert")


def configure(parser) -> None:
    parser.add_argument("--rounds", type=int, default=5,
                        help="interleaved rounds; each cell keeps the median (default: 5)")
    parser.add_argument("--min-run-time", type=float, default=0.5,
                        help="seconds per latency measurement (blocked_autorange; default 0.5)")
    parser.add_argument("--steps", type=int, default=100,
                        help="training steps per throughput measurement (default: 100)")
    sweep.add_options(parser, "inference", seeds=None, device=False, progress=False,
                      threads_help="torch CPU threads for training and the timers (default: 1)")


def torch_bn(c: int, num_dims: int) -> nn.Module:
    """``nn.BatchNorm2d`` / ``nn.BatchNorm1d`` with bnref's defaults (eps 1e-5, the note's
    momentum 0.9 = PyTorch's 0.1), as ``lenet_variant``'s ``norm_layer``."""
    return nn.BatchNorm2d(c) if num_dims == 4 else nn.BatchNorm1d(c)


def training_net(arm: str) -> nn.Sequential:
    """The network of one training arm (:data:`TRAINING_ARMS`)."""
    if arm == "none":
        return lenet_variant(bn="none")
    if arm == "bnref":
        return lenet_variant()
    if arm == "fused":

        return lenet_variant(norm_layer=FusedBatchNorm)
    if arm == "torch":
        return lenet_variant(norm_layer=torch_bn)
    raise ValueError(f"arm must be one of {', '.join(TRAINING_ARMS)}; got {arm!r}")


def with_torch_bn(net: nn.Sequential) -> nn.Sequential:
    """A copy of ``net`` with each :class:`bnref.BatchNorm` replaced by its ``nn.BatchNorm``
    (:func:`bnref.convert.to_torch`: same parameters and moving statistics)."""

    return nn.Sequential(*(to_torch(m) if type(m) is BatchNorm else m for m in net))


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def measure_throughput(steps: int, rounds: int, log=print):
    """Examples/s of ``steps`` training steps per arm, ``rounds`` interleaved rounds (each a
    fresh network from seed ``round``). Returns ``(rows, nets)``: per arm the median and the
    rounds, and the networks of the last round."""

    X, y = fashion_mnist_tensors(train=True)
    wall = {arm: [] for arm in TRAINING_ARMS}
    cpu = {arm: [] for arm in TRAINING_ARMS}
    nets = {}
    for r in range(rounds):
        for arm in TRAINING_ARMS:
            torch.manual_seed(r)
            net = training_net(arm)
            began = time.thread_time()
            h = fit(net, TensorLoader(X, y, TRAIN_BATCH, shuffle=True), lr=LR, epochs=None,
                    max_steps=steps, device="cpu", progress=False)
            cpu[arm].append(h.examples_seen / (time.thread_time() - began))
            wall[arm].append(h.examples_seen / h.train_seconds)
            nets[arm] = net
            log(f"  round {r + 1}: train {arm:6} {wall[arm][-1]:9.1f} examples/s wall, "
                f"{cpu[arm][-1]:9.1f} per CPU second")
    rows = {arm: {"median": statistics.median(wall[arm]), "rounds": wall[arm],
                  "cpu_median": statistics.median(cpu[arm]), "cpu_rounds": cpu[arm],
                  "what": TRAINING_ARMS[arm]} for arm in TRAINING_ARMS}
    return rows, nets


def latency_nets(trained: dict) -> dict[str, nn.Module]:
    """The four latency arms, in evaluation mode, from the trained ``none`` and ``bnref``
    networks."""

    bn = trained["bnref"].eval()
    return {"none": trained["none"].eval(), "bnref": bn,
            "torch": with_torch_bn(bn).eval(), "folded": fold_batch_norm(bn)}


def _call(net: nn.Module, X: torch.Tensor):
    def call():
        with torch.no_grad():
            net(X)
    return call


def measure_latency(nets: dict, threads: int, min_run_time: float, rounds: int,
                    batch_sizes=BATCH_SIZES, log=print) -> list[dict]:
    """Seconds per forward pass of each network at each batch size (real test images): the
    median over ``rounds`` interleaved rounds of ``blocked_autorange`` medians."""

    Xt, _ = fashion_mnist_tensors(train=False)
    rows = []
    for b in batch_sizes:
        X = Xt[:b].contiguous()
        calls = {arm: _call(net, X) for arm, net in nets.items()}
        for call in calls.values():
            call()  # warm up
        timed = {arm: [] for arm in calls}
        cpu = {arm: [] for arm in calls}
        for _ in range(rounds):
            for arm, call in calls.items():
                for clock, into in ((time.perf_counter, timed), (time.thread_time, cpu)):
                    timer = benchmark.Timer(stmt="call()", globals={"call": call},
                                            num_threads=threads, timer=clock)
                    into[arm].append(timer.blocked_autorange(min_run_time=min_run_time))
        for arm, ms in timed.items():
            median = statistics.median(m.median for m in ms)
            cpu_median = statistics.median(m.median for m in cpu[arm])
            rows.append({"arm": arm, "batch_size": b, "median_s": median,
                         "round_medians_s": [m.median for m in ms],
                         "iqr_s": statistics.median(m.iqr for m in ms),
                         "runs": sum(len(m.times) for m in ms),
                         "cpu_median_s": cpu_median,
                         "cpu_round_medians_s": [m.median for m in cpu[arm]],
                         "cpu_iqr_s": statistics.median(m.iqr for m in cpu[arm])})
            log(f"  batch {b:3} {arm:6} wall {median * 1e6:10.1f} µs "
                f"(rounds: {' '.join(f'{m.median * 1e6:.1f}' for m in ms)}); CPU "
                f"{cpu_median * 1e6:10.1f} µs "
                f"(rounds: {' '.join(f'{m.median * 1e6:.1f}' for m in cpu[arm])})")
    return rows


def fold_difference(net: nn.Module) -> dict:
    """Max |Δ logits| between ``net`` (eval) and its folded copy on the 10,000 test images,
    the predictions that differ, and the test accuracy."""

    Xt, yt = fashion_mnist_tensors(train=False)
    net = net.eval()
    folded = fold_batch_norm(net)
    with torch.no_grad():
        a, b = net(Xt), folded(Xt)
    return {"max_abs_diff_logits": float((a - b).abs().max()),
            "max_abs_logit": float(a.abs().max()),
            "predictions_differ": int((a.argmax(1) != b.argmax(1)).sum()),
            "test_images": len(Xt), "test_acc": float((a.argmax(1) == yt).float().mean()),
            "bn_layers_folded": sum(isinstance(m, nn.Identity) for m in folded)}


def run(args) -> int:
    torch.set_num_threads(args.threads)
    out = args.out or record.results_dir() / "inference-cpu.json"
    config = {"threads": args.threads, "rounds": args.rounds,
              "min_run_time": args.min_run_time, "steps": args.steps, "device": "cpu",
              "latency_batch_sizes": list(BATCH_SIZES), "latency_arms": LATENCY_ARMS,
              "training_arms": TRAINING_ARMS, "train_batch_size": TRAIN_BATCH, "lr": LR,
              "dataset": "Fashion-MNIST (real IDX files): training steps on the training "
                         "set, latency and folding on test images",
              "timer": "torch.utils.benchmark.Timer.blocked_autorange, arms interleaved, "
                       "median of the rounds' medians; wall time (time.perf_counter) and the "
                       "calling thread's CPU time (time.thread_time)"}
    rec = record.Record(out, "inference", config, fresh=args.fresh)
    rec.set("timed_code", {"modules": list(TIMED_MODULES),
                           "hash": record.code_hash(*TIMED_MODULES)})
    print(f"inference on cpu, {args.threads} thread(s), torch {torch.__version__}, "
          f"{args.rounds} round(s)", flush=True)
    # the latency and folding parts need the trained networks: train them again when
    # they are still to be measured, whatever the file holds
    if not all(rec.done(k) for k in ("throughput", "latency", "fold")):
        load = _load()
        rows, nets = measure_throughput(args.steps, args.rounds)
        if not rec.done("throughput"):
            rec.add("throughput", {"arms": rows, "load_before": load, "load_after": _load()})
        if not rec.done("latency"):
            load = _load()
            latency = measure_latency(latency_nets(nets), args.threads, args.min_run_time,
                                      args.rounds)
            rec.add("latency", {"rows": latency, "load_before": load, "load_after": _load()})
        if not rec.done("fold"):
            rec.add("fold", fold_difference(nets["bnref"]))
    rec.save()
    print(f"wrote {out} ({rec.data['wall_seconds']} s in all); its table: "
          f"bnref.experiments.report.pages.inference_table({str(out)!r})")
    return 0
