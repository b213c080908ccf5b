r"""The noise view of BN: ghost, noisy and deterministic batch normalization at batch 512.

Batch normalization normalizes each example with statistics of the other
examples in its batch, so in training its output is noisy; a later view (the
note mentions it) sees part of BN's effect in that noise. This command trains
the note's LeNet-BN (:func:`bnref.models.lenet_variant`) with one thing
changed, the batch-normalization layer's ``function`` (the formula it
computes), and nothing else: batch 512, the note's learning rate 1.0, SGD,
xavier initialization, ``--epochs`` epochs of the real Fashion-MNIST through
:func:`bnref.d2l.train.fit`, from ``--seeds`` seeds. The arms (:data:`ARMS`):

* ``bn`` — plain BN: statistics over the whole batch of 512 (the reference
  :class:`bnref.BatchNorm`).
* ``ghost-16`` … ``ghost-128`` — ghost batch normalization (Hoffer, Hubara &
  Soudry 2017, "Train longer, generalize better"): the batch of 512 is cut
  into virtual sub-batches of 16, 32, 64 or 128 consecutive examples (the
  loader shuffles every epoch) and each sub-batch is normalized with its own
  mean and biased variance by the reference :func:`bnref.batch_norm`. The
  moving statistics are updated once per step with the *unweighted mean over
  the sub-batches* of their statistics: ``moving <- m * moving + (1 - m) *
  mean_k(stat_k)`` (the note's momentum ``m = 0.9``); the moving variance is
  therefore the mean within-sub-batch variance. (PyTorch recipes that call
  ``nn.BatchNorm`` on each chunk in turn instead apply the moving average
  once per chunk.) A last sub-batch of one example is merged into the one
  before it. In evaluation mode it is plain BN with the moving statistics.
* ``noisy`` — "noisy" BN after Santurkar et al. 2018 (:func:`noisy_batch_norm`):
  plain BN, then, in training only, i.i.d. Gaussian noise added to every
  activation of every example, from a distribution with non-zero mean and
  non-unit variance that changes at every step.
* ``deterministic`` — BN that normalizes with its moving statistics during
  training too (:func:`running_batch_norm`), so its output does not depend on
  the other examples of the batch, and updates them with the batch statistics
  as plain BN does (no gradient flows through the statistics).

Each trained network is scored in evaluation mode on the 10,000 test images
and on a fixed subset of the training images (the first ``--train-subset``);
the *train–test gap* is the difference of the two accuracies. Twice: with the
moving statistics as training left them ("as trained"), and with every BN
layer's statistics re-estimated, in order, on ``PRECISE_IMAGES`` training
images passed through the network in evaluation mode
(:func:`precise_statistics`; "precise BN", Wu & Johnson 2021). At the note's
learning rate the moving averages lag behind the weights, and evaluation
mode then scores far below training mode; the precise statistics separate
that lag from what each arm's noise did to the weights. Every finished
run is written at once through :class:`bnref.experiments.record.Record` (run
again with the same options, the command resumes); the results file keeps
the first 6 losses of one run per arm to be replayed by the test suite. The
page printer is :func:`bnref.experiments.pages.ghost_bn_table`, the figure
:func:`bnref.experiments.figures.ghost_bn`.

    python -m bnref ghost-bn --threads 1          # full run, writes the JSON and SVG
    python -m bnref ghost-bn --seeds 1 --max-steps 5 --arms bn ghost-16   # a quick look
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch

from bnref.experiments import record
from bnref.norm._moving import resolve_training
from bnref.norm.batch_norm import BatchNorm, batch_norm

__all__ = ["ARMS", "GHOST_SIZES", "NOISE_MEAN", "NOISE_STD", "ghost_batch_norm",
           "noisy_batch_norm", "running_batch_norm", "GhostBatchNorm", "NoisyBatchNorm",
           "RunningBatchNorm", "ghost_layer", "layer_for", "configure", "run", "train_one",
           "replay_losses", "scores", "precise_statistics", "PRECISE_IMAGES"]

GHOST_SIZES = (128, 64, 32, 16)
#: arm name -> what it is (the table's order)
ARMS = {"bn": "plain BN, statistics over the whole batch of 512",
        **{f"ghost-{v}": f"ghost BN, statistics over sub-batches of {v}" for v in GHOST_SIZES},
        "noisy": "noisy BN (Santurkar et al. 2018): noise added after BN in training",
        "deterministic": "BN normalizing with its moving statistics in training too"}
#: noisy BN: at every step each channel draws a noise mean from U(-NOISE_MEAN, NOISE_MEAN)
#: and a noise standard deviation from U(*NOISE_STD) (our choice of numbers: see noisy_batch_norm)
NOISE_MEAN = 0.5
NOISE_STD = (0.5, 1.5)
BATCH_SIZE = 512
LR = 1.0
#: training images whose statistics replace the moving ones (precise_statistics)
PRECISE_IMAGES = 4096
#: steps of one run per arm that the results file keeps to be replayed
REPLAY_STEPS = 6


# --------------------------------------------------------------------------
# The arms: the reference's function with one thing changed
# --------------------------------------------------------------------------

def ghost_batch_norm(X, gamma, beta, moving_mean, moving_var, eps, momentum, *,
                     training=None, virtual_batch: int = 32):
    """:func:`bnref.batch_norm` over virtual sub-batches of ``virtual_batch`` examples.

    In training, ``X`` is cut along the batch axis into sub-batches of
    ``virtual_batch`` consecutive examples (the last may be smaller; a last
    one of a single example joins the one before it), and each is normalized
    with its own statistics by :func:`bnref.batch_norm`. The moving
    statistics are updated with the unweighted mean over the sub-batches of
    their mean and biased variance. In evaluation: :func:`bnref.batch_norm`.
    With ``virtual_batch >= len(X)`` it is :func:`bnref.batch_norm`.
    """
    if not isinstance(virtual_batch, int) or virtual_batch < 2:
        raise ValueError(f"virtual_batch must be an int >= 2 (a variance needs two values); "
                         f"got {virtual_batch!r}")
    training = resolve_training(training)
    if not training or len(X) <= virtual_batch:
        return batch_norm(X, gamma, beta, moving_mean, moving_var, eps, momentum,
                          training=training)
    chunks = list(X.split(virtual_batch))
    if len(chunks[-1]) == 1:
        chunks[-2:] = [torch.cat(chunks[-2:])]
    outs, means, variances = [], [], []
    for chunk in chunks:
        # each call returns m * moving + (1 - m) * stat_k; their mean is
        # m * moving + (1 - m) * mean_k(stat_k)
        y, mean, var = batch_norm(chunk, gamma, beta, moving_mean, moving_var, eps, momentum,
                                  training=True)
        outs.append(y)
        means.append(mean)
        variances.append(var)
    return (torch.cat(outs), torch.stack(means).mean(dim=0).to(moving_mean.dtype),
            torch.stack(variances).mean(dim=0).to(moving_var.dtype))


def noisy_batch_norm(X, gamma, beta, moving_mean, moving_var, eps, momentum, *,
                     training=None, noise_mean: float = NOISE_MEAN,
                     noise_std: tuple[float, float] = NOISE_STD):
    """:func:`bnref.batch_norm`, then, in training, noise added to every activation.

    Santurkar et al. 2018, section 2.1: "we perturb each activation for each
    sample in the batch using i.i.d. noise sampled from a non-zero mean and
    non-unit variance distribution. We emphasize that this noise distribution
    changes at each time step". Here, at every call in training, each channel
    ``c`` draws a mean ``mu_c ~ U(-noise_mean, noise_mean)`` and a standard
    deviation ``s_c ~ U(*noise_std)``, and every activation of channel ``c``
    (each example, each position) gets ``mu_c + s_c * z`` added, with
    ``z ~ N(0, 1)`` i.i.d., all from torch's global generator. The noise is
    added to BN's output (after gamma and beta), before the activation; the
    moving statistics are plain BN's (the noise comes after them). In
    evaluation there is no noise.
    """
    training = resolve_training(training)
    Y, moving_mean, moving_var = batch_norm(X, gamma, beta, moving_mean, moving_var, eps,
                                            momentum, training=training)
    if training:
        shape = (1, X.shape[1]) + (1,) * (X.dim() - 2)
        lo, hi = noise_std
        mu = (torch.rand(shape, device=X.device) * 2 - 1) * noise_mean
        std = lo + torch.rand(shape, device=X.device) * (hi - lo)
        Y = Y + (mu + std * torch.randn(Y.shape, device=X.device)).to(Y.dtype)
    return Y, moving_mean, moving_var


def running_batch_norm(X, gamma, beta, moving_mean, moving_var, eps, momentum, *,
                       training=None):
    """BN that normalizes with its moving statistics in training too, and updates them.

    The output is :func:`bnref.batch_norm` in evaluation mode with the moving
    statistics as they are before this call, so it depends on no other
    example of the batch; in training the moving statistics are then updated
    with the batch's mean and biased variance, as :func:`bnref.batch_norm`
    does (no gradient flows through them).
    """
    training = resolve_training(training)
    Y = batch_norm(X, gamma, beta, moving_mean, moving_var, eps, momentum, training=False)[0]
    if training:
        with torch.no_grad():
            _, moving_mean, moving_var = batch_norm(
                X.detach(), gamma.detach(), beta.detach(), moving_mean, moving_var, eps,
                momentum, training=True)
    return Y, moving_mean, moving_var


class GhostBatchNorm(BatchNorm):
    """:class:`bnref.BatchNorm` computing :func:`ghost_batch_norm` over sub-batches of
    ``VIRTUAL_BATCH`` (a subclass per size: :func:`ghost_layer`)."""

    VIRTUAL_BATCH = 32
    function = staticmethod(functools.partial(ghost_batch_norm, virtual_batch=VIRTUAL_BATCH))


@functools.cache
def ghost_layer(virtual_batch: int) -> type[BatchNorm]:
    """The :class:`GhostBatchNorm` subclass for sub-batches of ``virtual_batch`` examples."""
    if not isinstance(virtual_batch, int) or virtual_batch < 2:
        raise ValueError(f"virtual_batch must be an int >= 2; got {virtual_batch!r}")
    return type(f"GhostBatchNorm{virtual_batch}", (GhostBatchNorm,), {
        "VIRTUAL_BATCH": virtual_batch,
        "function": staticmethod(functools.partial(ghost_batch_norm,
                                                   virtual_batch=virtual_batch)),
        "__module__": __name__})


class NoisyBatchNorm(BatchNorm):
    """:class:`bnref.BatchNorm` computing :func:`noisy_batch_norm`."""

    function = staticmethod(noisy_batch_norm)


class RunningBatchNorm(BatchNorm):
    """:class:`bnref.BatchNorm` computing :func:`running_batch_norm`."""

    function = staticmethod(running_batch_norm)


def layer_for(arm: str) -> type[BatchNorm]:
    """The batch-normalization class of one arm."""
    if arm == "bn":
        return BatchNorm
    if arm.startswith("ghost-") and arm in ARMS:
        return ghost_layer(int(arm.split("-")[1]))
    if arm == "noisy":
        return NoisyBatchNorm
    if arm == "deterministic":
        return RunningBatchNorm
    raise ValueError(f"arm must be one of {', '.join(ARMS)}; got {arm!r}")


# --------------------------------------------------------------------------
# Training and scoring
# --------------------------------------------------------------------------

def configure(parser) -> None:
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS),
                        help="which BN layers (default: all)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per run (default: 2)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (default: 3)")
    parser.add_argument("--train-subset", type=int, default=10_000,
                        help="training images scored in evaluation mode for the train-test "
                        "gap: the first N (default: 10000)")
    parser.add_argument("--max-steps", type=int, default=None,
                        help="cut every run to this many steps (smoke runs)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1)")
    parser.add_argument("--out", type=Path, default=None,
                        help="results file (default: ghost-bn-cpu.json). " + record.WHERE_HELP)
    parser.add_argument("--figure", type=Path, default=None,
                        help="figure to draw (default: ghost-bn.svg beside the other figures, "
                        "or beside --out when --out is given); '' skips it")
    parser.add_argument("--fresh", action="store_true",
                        help="start over instead of resuming an existing results file")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")


def train_one(arm: str, seed: int = 0, epochs: int | None = 1, max_steps: int | None = None,
              record_losses: int = 0, progress: bool = False):
    """Train ``lenet_variant(norm_layer=layer_for(arm))`` at batch 512, lr 1.0, from ``seed``.

    Returns ``(net, history)`` (see :func:`bnref.d2l.train.fit`).
    """
    from bnref.d2l.data import TensorLoader, fashion_mnist_tensors
    from bnref.d2l.train import fit
    from bnref.models import lenet_variant

    layer = layer_for(arm)
    torch.manual_seed(seed)
    net = lenet_variant(norm_layer=layer)
    X, y = fashion_mnist_tensors(train=True)
    history = fit(net, TensorLoader(X, y, BATCH_SIZE, shuffle=True), lr=LR,
                  epochs=epochs, max_steps=max_steps, device="cpu",
                  record_losses=record_losses, stop_on_nonfinite=True, progress=progress,
                  desc=f"{arm} seed {seed}")
    return net, history


def replay_losses(run: dict, steps: int) -> list[float]:
    """The first ``steps`` losses of one run (``arm``, ``seed``), on the CPU: what the test
    suite replays."""
    _, history = train_one(run["arm"], run["seed"], epochs=None, max_steps=steps,
                           record_losses=steps)
    return history.step_losses


def scores(net, train_subset: int = 10_000) -> dict:
    """Evaluation-mode accuracy on the 10,000 test images and on the first ``train_subset``
    training images, and their difference (``gap`` = train - test)."""
    from bnref.d2l.data import TensorLoader, fashion_mnist_tensors
    from bnref.d2l.train import evaluate_accuracy_gpu

    Xt, yt = fashion_mnist_tensors(train=False)
    X, y = fashion_mnist_tensors(train=True)
    test = evaluate_accuracy_gpu(net, TensorLoader(Xt, yt, 1000), "cpu")
    train = evaluate_accuracy_gpu(net, TensorLoader(X[:train_subset], y[:train_subset], 1000),
                                  "cpu")
    return {"test_acc": test, "train_acc_eval": train, "gap": train - test}


def precise_statistics(net, images: int = PRECISE_IMAGES):
    """A copy of ``net`` (an ``nn.Sequential``) whose BN layers hold the statistics of the
    first ``images`` training images as evaluation mode sees them.

    The images go through the copy in evaluation mode, layer by layer; each
    BN layer (any :class:`bnref.BatchNorm`), when reached, takes the mean and
    biased variance of its input (over the batch, and H×W after a
    convolution) as its moving statistics before it normalizes, so every
    later layer is estimated under the statistics it will be evaluated with.
    The weights do not change. Returns the copy, in evaluation mode.
    """
    import copy

    from bnref.d2l.data import fashion_mnist_tensors

    net = copy.deepcopy(net).eval()
    X, _ = fashion_mnist_tensors(train=True)
    h = X[:images]
    with torch.no_grad():
        for m in net:
            if isinstance(m, BatchNorm):
                dims = (0,) if h.dim() == 2 else (0, 2, 3)
                mean = h.mean(dim=dims, keepdim=True)
                var = (h - mean).square().mean(dim=dims, keepdim=True)
                m.moving_mean = mean.reshape(m.moving_mean.shape).to(m.moving_mean.dtype)
                m.moving_var = var.reshape(m.moving_var.shape).to(m.moving_var.dtype)
            h = m(h)
    return net


def run(args) -> int:
    torch.set_num_threads(args.threads)
    out = args.out or record.results_dir() / "ghost-bn-cpu.json"
    config = {"arms": args.arms, "epochs": args.epochs, "seeds": args.seeds,
              "batch_size": BATCH_SIZE, "lr": LR, "train_subset": args.train_subset,
              "max_steps": args.max_steps, "threads": args.threads, "device": "cpu",
              "noise": {"mean": f"U(-{NOISE_MEAN}, {NOISE_MEAN}) per channel per step",
                        "std": f"U({NOISE_STD[0]}, {NOISE_STD[1]}) per channel per step",
                        "added": "to BN's output in training, i.i.d. N(mean, std^2) per "
                                 "activation"},
              "precise_images": PRECISE_IMAGES,
              "ghost_moving_statistics": "moving <- m * moving + (1 - m) * mean over "
                                         "sub-batches of their statistics, once per step",
              "dataset": "Fashion-MNIST (real IDX files), 60000 train / 10000 test",
              "model": "bnref.models.lenet_variant(norm_layer=...): the note's LeNet-BN, "
                       "only the BN layer's function changed",
              "optimizer": f"SGD lr {LR}, cross-entropy, xavier-uniform init (fit)"}
    rec = record.Record(out, "ghost-bn", config, fresh=args.fresh)
    for seed in range(args.seeds):  # seed-major: an interrupted run covers every arm
        for arm in args.arms:
            key = f"{arm}/seed={seed}"
            if rec.done(key):
                continue
            net, history = train_one(arm, seed, epochs=args.epochs, max_steps=args.max_steps,
                                     progress=not args.no_progress)
            r = {"arm": arm, "seed": seed, "steps": history.steps,
                 "diverged_at": history.diverged_at,
                 "train_loss": history.train_loss, "train_acc": history.train_acc,
                 "train_seconds": round(history.train_seconds, 2),
                 **scores(net, args.train_subset),
                 "precise": scores(precise_statistics(net), args.train_subset)}
            rec.add(key, r, seconds=history.train_seconds)
            print(f"{arm:>13} seed {seed}: {r['steps']} steps, test acc {r['test_acc']:.4f}, "
                  f"train acc (eval) {r['train_acc_eval']:.4f}, gap {r['gap']:+.4f}; precise "
                  f"statistics: test acc {r['precise']['test_acc']:.4f}, gap "
                  f"{r['precise']['gap']:+.4f} ({r['train_seconds']:.1f} s)", flush=True)
    # one replayed run per code path: each non-ghost arm, and the ghost arm with the smallest
    # sub-batches (the other ghost arms run the same code with a larger sub-batch)
    ghosts = sorted((a for a in args.arms if a.startswith("ghost-")),
                    key=lambda a: int(a.split("-")[1]))
    specs = [{"arm": arm, "seed": 0} for arm in args.arms if not arm.startswith("ghost-")]
    specs += [{"arm": ghosts[0], "seed": 0}] if ghosts else []
    from bnref.experiments import figures

    rec.finish(__name__, specs, REPLAY_STEPS, figure=args.figure, name="ghost-bn",
               out_given=args.out is not None, draw=figures.ghost_bn)
    return 0
