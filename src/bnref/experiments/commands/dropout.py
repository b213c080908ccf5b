"""Dropout beside BN: test accuracy and the variance shift, p = 0, 0.1, 0.3, 0.5.

The note says a network with batch normalization needs no dropout. Li et
al. (2019, "Understanding the Disharmony between Dropout and Batch
Normalization by Variance Shift") explain why the two can clash: in training
dropout scales what it keeps by 1/(1-p), so a BN layer after it learns a
moving variance of that noisy signal; at test time dropout is off and the
layer sees a smaller variance than the one it normalizes with. This command
changes one thing, the dropout of :func:`bnref.models.lenet_variant`:

* ``p`` in ``--ps`` (default 0, 0.1, 0.3, 0.5);
* where: ``hidden`` (an ``nn.Dropout`` before each hidden linear layer,
  which feed BN) or ``classifier`` (before the last linear layer only:
  no BN layer sees dropped-out values, Li et al.'s remedy);
* arm ``bn`` (the note's LeNet-BN) and arm ``none`` (the same network
  without BN, with the same dropout): it separates "dropout hurts" from
  "dropout hurts with BN".

ReLU by default, not the note's sigmoid: Li et al.'s networks use ReLU, and
without BN the sigmoid LeNet barely leaves chance in the first epoch at lr 1
(a one-seed pilot: test accuracy 0.10 after one epoch, 0.52 after two),
so within this budget it would compare an untrained baseline. Learning rate
0.3 for both arms (``--lr``, ``--lr-no-bn``), the same for every ``p``: in
the pilot the ReLU network trained well at it with BN (0.85 after two epochs
at 0.1 and at 1) and without (0.83 after two epochs at 0.3, 0.80 at 0.1).

Every setting trains ``--epochs`` epochs at batch 256 on the real
Fashion-MNIST training set from ``--seeds`` seeds (p = 0 once per arm: it
has no place). After training, with the network in evaluation mode
(dropout off), :func:`variance_shift` runs the 10,000 test images through it
and, with forward hooks, measures each BN layer's input variance per channel;
it reports, per layer, the ratio of the moving (running) variance to that
test-time variance averaged over the channels, and Li et al.'s measure,
``max(moving/test, test/moving)`` averaged over the channels. bnref's moving
variance is a moving average of the *biased* batch variance (the d2l
convention: divided by the batch's m values, not m - 1), so at batch 256
a layer with no shift at all reads about 255/256 after a fully connected
layer (m = 256), closer to 1 after a convolution (m = 256·H·W).
Finally each BN network is scored again after :func:`recalibrate`: its moving
statistics re-estimated on training images with dropout off (Li et al.'s
explanation predicts this gives the accuracy back).

BN layers are :class:`bnref.speed.fused.FusedBatchNorm` (the fast path, held
to :class:`bnref.BatchNorm` by tests/speed/test_contract.py). Dropout masks come
from the global generator seeded by ``torch.manual_seed(seed)``; on one
thread the run is determined by the seed (tests/norm/test_dropout_layer.py checks it),
so the replay check covers the dropout runs too. Each finished run is
written at once (:class:`bnref.experiments.harness.record.Record`); run again with
the same options, the command resumes. Page printer:
:func:`bnref.experiments.report.pages.dropout_table`; figure:
:func:`bnref.experiments.report.figures.dropout`.

    python -m bnref dropout --threads 1         # full run, writes the JSON
    python -m bnref dropout --ps 0 0.5 --seeds 1 --epochs 1 --arms bn   # a quick look
"""

from __future__ import annotations

import torch
from torch import nn

from bnref.d2l.train import fit
from bnref.experiments.harness import sweep
from bnref.hooks import forward_hooks
from bnref.models import lenet_variant
from bnref.norm import BatchNorm
from bnref.speed.fused import FusedBatchNorm

__all__ = ["PS", "PLACES", "ARMS", "configure", "run", "train_one", "replay_losses",
           "run_key", "variance_shift"]

PS = (0.0, 0.1, 0.3, 0.5)
PLACES = ("hidden", "classifier")
#: arm name -> ``lenet_variant(bn=...)``
ARMS = {"bn": "all", "none": "none"}
BATCH_SIZE = 256
#: training images whose statistics re-estimate BN's moving statistics (dropout off)
RECALIBRATION_IMAGES = 10_000


def configure(parser) -> None:
    parser.add_argument("--ps", nargs="+", type=float, default=list(PS),
                        help="dropout probabilities (default: 0 0.1 0.3 0.5)")
    parser.add_argument("--places", nargs="+", default=list(PLACES), choices=PLACES,
                        help="hidden: dropout before each hidden linear layer (they feed BN); "
                        "classifier: before the last layer only (default: both)")
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS),
                        help="bn: the note's LeNet-BN; none: the same network without BN "
                        "(default: both)")
    parser.add_argument("--activation", default="relu", choices=("sigmoid", "relu"),
                        help="activation (default: relu, as in Li et al.)")
    parser.add_argument("--lr", type=float, default=0.3,
                        help="SGD learning rate of the BN arm (default: 0.3)")
    parser.add_argument("--lr-no-bn", type=float, default=0.3,
                        help="SGD learning rate of the arm without BN (default: 0.3)")
    sweep.add_options(parser, "dropout", seeds=3, epochs=4, max_steps=True)


def run_key(arm: str, p: float, place: str | None, seed: int) -> str:
    return f"{arm}/p={p:g}" + (f"/{place}" if p else "") + f"/seed={seed}"


def train_one(arm: str, p: float, place: str, lr: float, seed: int = 0, *,
              activation: str = "relu", epochs: int | None = 1,
              max_steps: int | None = None, device="cpu", record_losses: int = 0,
              eval_batches: int | None = None, progress: bool = False):
    """Train ``lenet_variant(bn=ARMS[arm], dropout=p, dropout_at=place)`` from ``seed``.

    Returns ``(net, history)``; the test set is scored after every epoch.
    """
    if arm not in ARMS:
        raise ValueError(f"arm must be one of {', '.join(ARMS)}; got {arm!r}")
    torch.manual_seed(seed)
    net = lenet_variant(bn=ARMS[arm], activation=activation, dropout=p, dropout_at=place,
                        norm_layer=FusedBatchNorm)
    history = fit(net, sweep.train_data(BATCH_SIZE, device), sweep.test_data(device), lr=lr, epochs=epochs,
                  max_steps=max_steps, device=device, eval_batches=eval_batches,
                  record_losses=record_losses, min_batch=2, stop_on_nonfinite=True,
                  progress=progress, desc=f"{arm} p={p:g} {place} seed {seed}")
    return net, history


def replay_losses(run: dict, steps: int) -> list[float]:
    """The first ``steps`` losses of one run (``arm``, ``p``, ``place``, ``lr``, ``seed``,
    ``activation``), on the CPU: what the test suite replays."""
    _, history = train_one(run["arm"], run["p"], run["place"], run["lr"], run["seed"],
                           activation=run["activation"], epochs=None, max_steps=steps,
                           record_losses=steps, eval_batches=1)  # the losses only
    return history.step_losses


def variance_shift(net: nn.Module, X: torch.Tensor,
                   batch_size: int = sweep.TEST_BATCH) -> list[dict]:
    """Each BN layer's moving variance against the variance of its input on ``X``, in
    evaluation mode (dropout off), per channel.

    A forward hook on every :class:`bnref.BatchNorm` collects, per channel,
    the mean and the (biased) variance of its input over all of ``X`` (over
    N, and H×W after a convolution; batches combined exactly, in float64).
    Returns one dict per BN layer, in network order: ``layer`` (its name in
    ``net``), ``channels``, ``after_dropout`` (an ``nn.Dropout`` comes before
    it), ``moving_var`` and ``test_var`` (means over the channels),
    ``ratio`` (moving / test, averaged over the channels), ``ratio_min``,
    ``ratio_max``, and ``li_shift``: Li et al.'s ``max(moving/test,
    test/moving)`` averaged over the channels (1 = no shift).

    Examples:
        >>> import torch
        >>> from bnref import BatchNorm
        >>> bn = BatchNorm(2, num_dims=2)
        >>> _ = bn.moving_var.fill_(2.0)
        >>> X = torch.tensor([[1.0, 2.0], [-1.0, -2.0]])  # test-time variances 1 and 4
        >>> [(r["ratio"], r["li_shift"]) for r in variance_shift(torch.nn.Sequential(bn), X)]
        [(1.25, 2.0)]
    """
    layers = [(name, m) for name, m in net.named_modules() if isinstance(m, BatchNorm)]
    if not layers:
        raise ValueError("variance_shift needs a network with BatchNorm layers; got none")
    seen_dropout, after_dropout = False, {}
    for name, m in net.named_modules():
        seen_dropout |= isinstance(m, nn.Dropout) and m.p > 0
        if isinstance(m, BatchNorm):
            after_dropout[name] = seen_dropout
    stats = {name: [0, None, None] for name, _ in layers}  # count, mean, M2 per channel

    def hook(name):
        def collect(module, inputs, output):
            x = inputs[0].detach().double()
            dims = (0,) if x.dim() == 2 else (0, 2, 3)
            n = x.numel() // x.shape[1]
            mean = x.mean(dim=dims)
            m2 = (x - mean.view(1, -1, *[1] * (x.dim() - 2))).square().sum(dim=dims)
            count, old_mean, old_m2 = stats[name]
            if count == 0:
                stats[name] = [n, mean, m2]
            else:  # Chan et al.'s exact combination of two groups
                delta, total = mean - old_mean, count + n
                stats[name] = [total, old_mean + delta * n / total,
                               old_m2 + m2 + delta.square() * count * n / total]
        return collect

    was_training = net.training
    net.eval()
    try:
        with forward_hooks((m, hook(name)) for name, m in layers), torch.no_grad():
            for i in range(0, len(X), batch_size):
                net(X[i:i + batch_size])
    finally:
        net.train(was_training)
    out = []
    for name, m in layers:
        count, _, m2 = stats[name]
        test_var = m2 / count
        moving = m.moving_var.detach().double().reshape(-1)
        ratio = moving / test_var
        out.append({"layer": name, "channels": int(ratio.numel()),
                    "after_dropout": after_dropout[name],
                    "moving_var": float(moving.mean()), "test_var": float(test_var.mean()),
                    "ratio": float(ratio.mean()), "ratio_min": float(ratio.min()),
                    "ratio_max": float(ratio.max()),
                    "li_shift": float(torch.maximum(ratio, 1 / ratio).mean())})
    return out


def _settings(args):
    """(arm, p, place) of every run, p = 0 once per arm."""
    for arm in args.arms:
        for p in args.ps:
            for place in (args.places if p else [None]):
                yield arm, p, place


def run(args) -> int:
    if any(not 0.0 <= p < 1.0 for p in args.ps):
        raise SystemExit(f"--ps must be dropout probabilities in [0, 1); got {args.ps}")
    device = torch.device(args.device)
    lrs = {"bn": args.lr, "none": args.lr_no_bn}
    config = {"arms": args.arms, "ps": args.ps, "places": args.places,
              "activation": args.activation, "lrs": {a: lrs[a] for a in args.arms},
              "seeds": args.seeds, "epochs": args.epochs, "batch_size": BATCH_SIZE,
              "max_steps": args.max_steps, "device": device.type, "threads": args.threads,
              "recalibration_images": RECALIBRATION_IMAGES, "dataset": sweep.DATASET,
              "model": "bnref.models.lenet_variant(bn='all'|'none', activation=..., "
                       "dropout=p, dropout_at=place, norm_layer=bnref.speed.fused."
                       "FusedBatchNorm)",
              "training": "bnref.d2l.train.fit: SGD, cross-entropy, xavier-uniform init, "
                          "stops at the first non-finite loss",
              "variance_shift": "per BN layer after training: moving variance (a moving "
                                "average of the biased batch variance, d2l convention) / "
                                "variance of the layer's input over the 10000 test images "
                                "in evaluation mode (dropout off), per channel, averaged "
                                "over channels; li_shift = mean of max(ratio, 1/ratio)"}
    rec = sweep.start(args, "dropout", config)
    Xtest = sweep.test_data().X
    grid = [(run_key(arm, p, place, seed), (arm, p, place, seed))  # seed-major
            for seed in range(args.seeds) for arm, p, place in _settings(args)]
    for key, (arm, p, place, seed) in sweep.pending(rec, grid):
        net, history = train_one(arm, p, place or "hidden", lrs[arm], seed,
                                 activation=args.activation, epochs=args.epochs,
                                 max_steps=args.max_steps, device=device,
                                 progress=not args.no_progress)
        net = net.cpu()
        r = {"arm": arm, "p": p, "place": place, "lr": lrs[arm], "seed": seed,
             "test_acc": history.test_acc,
             "train_loss": [sweep.finite(x) for x in history.train_loss],
             "train_acc": history.train_acc, "steps": history.steps,
             "diverged_at": history.diverged_at,
             "train_seconds": round(history.train_seconds, 2)}
        if arm == "bn":
            r["variance_shift"] = variance_shift(net, Xtest)
            r["recalibrated_test_acc"] = sweep.score(net, recalibrated=RECALIBRATION_IMAGES)
        rec.add(key, r, seconds=history.train_seconds)
        shift = ", ".join(f"{v['ratio']:.3f}" for v in r.get("variance_shift", []))
        print(f"{arm:>4} p={p:<3g} {place or '-':<10} seed {seed}: test acc "
              f"{history.test_acc[-1]:.4f}"
              + (f", moving/test variance per BN layer {shift}, recalibrated "
                 f"{r['recalibrated_test_acc']:.4f}" if shift else "")
              + f" ({r['train_seconds']:.1f} s)", flush=True)
    top = max(args.ps)  # each arm without dropout and at the largest p in each place
    settings = [(0.0, "hidden")] + ([(top, place) for place in args.places] if top else [])
    specs = [{"arm": arm, "p": p, "place": place, "lr": lrs[arm], "seed": 0,
              "activation": args.activation} for arm in args.arms for p, place in settings]
    sweep.finish(rec, __name__, specs, figure="dropout")
    return 0
