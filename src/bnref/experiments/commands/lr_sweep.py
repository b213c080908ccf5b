"""Learning-rate sweep: the same LeNet with and without BN, sigmoid and ReLU, lr 0.01 to 10.

The note says batch normalization speeds up convergence, allows a larger
learning rate and generally does not change accuracy. Its own comparison
(``lenet`` against ``lenet_bn``) changes pooling, padding and learning rate
as well, so this command changes one thing: :func:`bnref.models.lenet_variant`
with ``bn="all"`` (the note's LeNet-BN) and ``bn="none"`` (the same network,
BN removed: same convolutions without padding, same max pooling, same
layers, and the same initial weights, since the BN layers draw nothing from
the random generator and :func:`bnref.d2l.train.fit` applies the same
xavier-uniform initialization), each with sigmoid and with ReLU.

Phase 1 (the sweep): every activation × arm × learning rate × seed trains
``--epochs`` epochs at batch 256 on the real Fashion-MNIST training set
through :func:`bnref.d2l.train.fit`, scoring the first ``--eval-images`` test
images every ``--eval-every`` steps (for the steps needed to reach
``--threshold`` test accuracy) and the full 10,000 test images at the end. A
run *diverged* when its loss became inf or nan (training stops there); it
*trained* when it did not diverge and ended above ``FAILED_AT`` test accuracy
(chance is 0.1).

Phase 2 (``--long-epochs``, 0 skips it): each activation × arm trains again
at its own best rate of phase 1 (the highest mean final test accuracy over
the seeds) for ``--long-epochs`` epochs, scoring the full test set after each
epoch: does BN change the accuracy a converged network reaches?

BN layers are :class:`bnref.speed.fused.FusedBatchNorm` (the fast path; the
same numbers as :class:`bnref.BatchNorm` up to float rounding, held to it by
tests/speed/test_contract.py). Every finished run is written at once through
:class:`bnref.experiments.harness.record.Record`; run again with the same options,
the command resumes. The page printers are
:func:`bnref.experiments.report.pages.lr_sweep_table` and
:func:`bnref.experiments.report.pages.lr_sweep_summary`, the figure
:func:`bnref.experiments.report.figures.lr_sweep`.

    python -m bnref lr-sweep --threads 1        # full run, writes the JSON
    python -m bnref lr-sweep --lrs 0.1 1 --seeds 1 --epochs 1 --long-epochs 0   # a quick look
"""

from __future__ import annotations

import functools
import statistics

import torch

from bnref.d2l.train import fit
from bnref.experiments.harness import sweep
from bnref.experiments.harness.sweep import TEST_BATCH, finite
from bnref.models import lenet_variant
from bnref.speed.fused import FusedBatchNorm

__all__ = ["ACTIVATIONS", "ARMS", "LRS", "FAILED_AT", "configure", "run", "train_one",
           "replay_losses", "steps_to", "sweep_key", "long_key", "best_lrs", "largest_trained",
           "scaled_xavier"]

ACTIVATIONS = ("sigmoid", "relu")
#: arm name -> ``lenet_variant(bn=...)``
ARMS = {"bn": "all", "none": "none"}
#: half-decade steps from 0.01 to 10: wide enough that both arms fail at one end
LRS = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
#: a run that ends at or below this test accuracy failed to train (chance: 0.1)
FAILED_AT = 0.2
BATCH_SIZE = 256


def configure(parser) -> None:
    parser.add_argument("--activations", nargs="+", default=list(ACTIVATIONS),
                        choices=ACTIVATIONS, help="activations (default: sigmoid relu)")
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS),
                        help="bn: BN after every convolution and hidden linear layer (the "
                        "note's LeNet-BN); none: the same network without BN (default: both)")
    parser.add_argument("--lrs", nargs="+", type=float, default=list(LRS),
                        help="SGD learning rates (default: 0.01 0.03 0.1 0.3 1 3 10)")
    parser.add_argument("--eval-every", type=int, default=47,
                        help="score the test subset every this many steps (default: 47, a "
                        "fifth of an epoch)")
    parser.add_argument("--eval-images", type=int, default=2000,
                        help="test images scored every --eval-every steps: the first N of the "
                        "test set, a multiple of 1000 (default: 2000)")
    parser.add_argument("--threshold", type=float, default=0.80,
                        help="test accuracy whose first step is reported (default: 0.80)")
    parser.add_argument("--long-epochs", type=int, default=10,
                        help="phase 2: epochs at each arm's own best rate (default: 10, the "
                        "note's budget; 0 skips phase 2)")
    sweep.add_options(parser, "lr-sweep", seeds=3, epochs=2, max_steps=True, recalibrate=True,
                      epochs_help="epochs of each sweep run (default: 2, 470 steps)")


def sweep_key(activation: str, arm: str, lr: float, seed: int) -> str:
    return f"sweep/{activation}/{arm}/lr={lr:g}/seed={seed}"


def long_key(activation: str, arm: str, lr: float, seed: int) -> str:
    return f"long/{activation}/{arm}/lr={lr:g}/seed={seed}"


def _scaled_xavier(m, scale: float) -> None:
    if type(m) in (torch.nn.Linear, torch.nn.Conv2d):
        torch.nn.init.xavier_uniform_(m.weight)
        if scale != 1.0:
            with torch.no_grad():
                m.weight.mul_(scale)


def scaled_xavier(scale: float = 1.0):
    """d2l's initialization (xavier-uniform weights of every Linear and Conv2d; biases keep
    PyTorch's default) with the weights multiplied by ``scale``: an ``init`` for ``fit``."""
    return functools.partial(_scaled_xavier, scale=float(scale))


def train_one(activation: str, arm: str, lr: float, seed: int = 0, *, epochs: int | None = 1,
              max_steps: int | None = None, eval_every: int | None = None,
              eval_images: int | None = None, init_scale: float = 1.0, device="cpu",
              record_losses: int = 0, progress: bool = False):
    """Train ``lenet_variant(bn=ARMS[arm], activation=activation)`` from ``seed``.

    The test set goes to ``fit`` (scored after every epoch and every
    ``eval_every`` steps) restricted to its first ``eval_images`` images when
    given. Returns ``(net, history)`` (:class:`bnref.d2l.train.History`).
    """
    if arm not in ARMS:
        raise ValueError(f"arm must be one of {', '.join(ARMS)}; got {arm!r}")
    if eval_images is not None and (eval_images < TEST_BATCH or eval_images % TEST_BATCH):
        raise ValueError(f"eval_images must be a positive multiple of {TEST_BATCH}; "
                         f"got {eval_images}")
    torch.manual_seed(seed)
    net = lenet_variant(bn=ARMS[arm], activation=activation, norm_layer=FusedBatchNorm)
    history = fit(net, sweep.train_data(BATCH_SIZE, device), sweep.test_data(device), lr=lr, epochs=epochs, max_steps=max_steps,
                  device=device, init=scaled_xavier(init_scale), eval_every=eval_every,
                  eval_batches=None if eval_images is None else eval_images // TEST_BATCH,
                  record_losses=record_losses, min_batch=2, stop_on_nonfinite=True,
                  progress=progress,
                  desc=f"{activation} {arm} lr {lr:g} seed {seed}")
    return net, history


def replay_losses(run: dict, steps: int) -> list[float]:
    """The first ``steps`` losses of one run (``activation``, ``arm``, ``lr``, ``seed``, and
    ``init_scale`` if given), on the CPU: what the test suite replays."""
    _, history = train_one(run["activation"], run["arm"], run["lr"], run["seed"], epochs=None,
                           max_steps=steps, init_scale=run.get("init_scale", 1.0),
                           record_losses=steps, eval_images=TEST_BATCH)  # the losses only
    return history.step_losses


def steps_to(evals, threshold: float) -> int | None:
    """The first step whose test accuracy is at least ``threshold`` (``None``: never)."""
    return next((step for step, acc in evals if acc >= threshold), None)


def outcome(history, final_acc: float) -> dict:
    """What every run records: diverged / trained, and the final numbers."""
    diverged = history.diverged_at is not None
    return {"diverged": diverged, "diverged_at": history.diverged_at,
            "trained": (not diverged) and final_acc > FAILED_AT,
            "test_acc": final_acc,
            "train_loss": [finite(x) for x in history.train_loss],
            "steps": history.steps, "train_seconds": round(history.train_seconds, 2)}


def _group(runs, **match) -> list[dict]:
    return [r for r in runs if all(r.get(k) == v for k, v in match.items())]


def best_lrs(runs, phase: str = "sweep",
             metric: str = "test_acc") -> dict[tuple[str, str], float]:
    """Per (activation, arm): the rate of ``phase`` with the highest mean final test accuracy
    over the seeds, among rates at which every seed trained (complete groups only).
    ``metric="recalibrated_test_acc"`` ranks BN runs by their accuracy with re-estimated
    statistics (runs without it, the arms without BN, keep ``test_acc``: the same network)."""
    runs = [r for r in runs if r["phase"] == phase]
    best = {}
    for act, arm in sorted({(r["activation"], r["arm"]) for r in runs}):
        scored = []
        for lr in sorted({r["lr"] for r in runs if (r["activation"], r["arm"]) == (act, arm)}):
            group = _group(runs, activation=act, arm=arm, lr=lr)
            if group and all(r["trained"] for r in group):
                scored.append((statistics.fmean(r.get(metric, r["test_acc"]) for r in group),
                               lr))
        if scored:
            best[(act, arm)] = max(scored)[1]
    return best


def largest_trained(runs, activation: str, arm: str) -> float | None:
    """The largest swept rate at which every seed trained."""
    runs = _group(runs, phase="sweep", activation=activation, arm=arm)
    ok = [lr for lr in {r["lr"] for r in runs}
          if all(r["trained"] for r in _group(runs, lr=lr))]
    return max(ok) if ok else None


def run(args) -> int:
    if args.eval_images < TEST_BATCH or args.eval_images % TEST_BATCH:
        raise SystemExit(f"--eval-images must be a positive multiple of {TEST_BATCH}; "
                         f"got {args.eval_images}")
    if not 0.1 < args.threshold < 1.0:
        raise SystemExit(f"--threshold must be a test accuracy between chance (0.1) and 1; "
                         f"got {args.threshold}")
    device = torch.device(args.device)
    config = {"activations": args.activations, "arms": args.arms, "lrs": args.lrs,
              "seeds": args.seeds, "epochs": args.epochs, "batch_size": BATCH_SIZE,
              "eval_every": args.eval_every, "eval_images": args.eval_images,
              "threshold": args.threshold, "long_epochs": args.long_epochs,
              "max_steps": args.max_steps, "failed_at": FAILED_AT,
              **({"recalibration_images": args.recalibrate} if args.recalibrate else {}),
              "device": device.type, "threads": args.threads, "dataset": sweep.DATASET,
              "model": {arm: f"bnref.models.lenet_variant(bn={ARMS[arm]!r}, activation=..., "
                        f"norm_layer=bnref.speed.fused.FusedBatchNorm)" for arm in args.arms},
              "training": "bnref.d2l.train.fit: SGD, cross-entropy, xavier-uniform init, "
                          "stops at the first non-finite loss",
              "evaluation": f"sweep: first {args.eval_images} test images every "
                            f"{args.eval_every} steps, all 10000 at the end; long: all 10000 "
                            f"after every epoch"}
    rec = sweep.start(args, "lr-sweep", config)
    progress = not args.no_progress
    grid = sweep.grid(sweep_key, args.seeds, activation=args.activations, arm=args.arms,
                      lr=args.lrs)
    for key, (act, arm, lr, seed) in sweep.pending(rec, grid):
        net, history = train_one(act, arm, lr, seed, epochs=args.epochs,
                                 max_steps=args.max_steps, eval_every=args.eval_every,
                                 eval_images=args.eval_images, device=device, progress=progress)
        acc = sweep.score(net, device)
        r = {"phase": "sweep", "activation": act, "arm": arm, "lr": lr,
             "seed": seed, **outcome(history, acc),
             **({"recalibrated_test_acc": sweep.score(net, device, recalibrated=args.recalibrate)}
                if args.recalibrate and arm == "bn" and history.diverged_at is None else {}),
             "evals": history.evals,
             "best_eval_acc": max((a for _, a in history.evals), default=None),
             "steps_to_threshold": steps_to(history.evals, args.threshold)}
        rec.add(key, r, seconds=history.train_seconds)
        status = (f"diverged at step {history.diverged_at}" if r["diverged"]
                  else "trained" if r["trained"] else "failed to train")
        print(f"{act:>7} {arm:>4} lr {lr:<5g} seed {seed}: test acc {acc:.4f}, "
              f"{status}, steps to {args.threshold}: {r['steps_to_threshold']} "
              f"({r['train_seconds']:.1f} s)", flush=True)
    if args.long_epochs:  # phase 2: each arm at its own best rate of phase 1
        best = best_lrs(rec.runs.values())
        rec.set("best_lrs", {f"{a}/{m}": lr for (a, m), lr in best.items()})
        for act, arm in sorted(set((a, m) for a in args.activations for m in args.arms) - set(best)):
            print(f"{act} {arm}: no rate at which every seed trained; no long run")
        grid = [(long_key(act, arm, best[(act, arm)], seed), (act, arm, best[(act, arm)], seed))
                for seed in range(args.seeds) for act in args.activations for arm in args.arms
                if (act, arm) in best]
        for key, (act, arm, lr, seed) in sweep.pending(rec, grid):
            net, history = train_one(act, arm, lr, seed, epochs=args.long_epochs,
                                     max_steps=args.max_steps, device=device,
                                     progress=progress)
            r = {"phase": "long", "activation": act, "arm": arm, "lr": lr,
                 "seed": seed, **outcome(history, history.test_acc[-1]),
                 "test_acc_per_epoch": history.test_acc,
                 "best_test_acc": max(history.test_acc),
                 "epochs_to_threshold": next(
                     (i + 1 for i, a in enumerate(history.test_acc)
                      if a >= args.threshold), None)}
            rec.add(key, r, seconds=history.train_seconds)
            print(f"long {act:>7} {arm:>4} lr {lr:g} seed {seed}: test acc "
                  f"{r['test_acc']:.4f} (best {r['best_test_acc']:.4f}) "
                  f"({r['train_seconds']:.1f} s)", flush=True)
    specs = [{"activation": act, "arm": arm, "lr": 1.0 if act == "sigmoid" else 0.1, "seed": 0}
             for act in args.activations for arm in args.arms]
    sweep.finish(rec, __name__, specs, figure="lr-sweep")
    return 0
