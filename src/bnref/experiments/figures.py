"""Redraw the site's figures as SVG from committed results (matplotlib).

The note borrowed its figures from elsewhere; the site draws its own:

* ``norm-cube.svg`` — the N / C / (H, W) cube of BatchNorm, LayerNorm,
  InstanceNorm and GroupNorm; the shaded cells share one mean and variance.
  Pure drawing, no data.
* ``curves.svg`` — train loss, train accuracy and test accuracy per epoch of
  LeNet with and without BN, read from the committed results of
  ``python -m bnref reproduce`` (no training here).
* ``activations.svg`` — distributions of the values entering each sigmoid of
  LeNet, with and without BN, after a short real training run on
  Fashion-MNIST (the analogue of the note's second figure). The run is small
  (``--activation-steps`` minibatches of 256, seed 0) and is done here.
* ``small-batch.svg`` — test error against batch size, from the results of
  ``python -m bnref small-batch``.
* ``ghost-bn.svg`` — test accuracy and train–test gap of plain, ghost, noisy and
  deterministic BN, from the results of ``python -m bnref ghost-bn``.

The files are stable from run to run: ``svg.hashsalt`` is fixed and no date
is written, so ``git diff`` shows only real changes. Figures hold no Chinese
text; the pages give each one a bilingual alt text.

    python -m bnref figures                       # all of them
    python -m bnref figures --only norm-cube curves
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from bnref.experiments import record

__all__ = ["activations", "configure", "curves", "norm_cube", "run", "save", "small_batch",
           "placement", "dropout", "ghost_bn"]

#: colour per model, shared by every figure
COLORS = {"lenet_bn": "tab:blue", "lenet_bn_concise": "tab:green", "lenet": "tab:orange"}
LABELS = {"lenet_bn": "LeNet + BN (from scratch)", "lenet_bn_concise": "LeNet + nn.BatchNorm",
          "lenet": "LeNet (no BN)"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({
        "svg.hashsalt": "bnref",   # stable ids inside the SVG
        "svg.fonttype": "path",    # text as paths: the same look without the fonts
        "font.size": 10,
    })
    return plt


def save(fig, out_path: str | Path) -> Path:
    """Write ``fig`` as a stable SVG (no date in the metadata) and close it."""
    plt = _pyplot()
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="svg", metadata={"Date": None}, bbox_inches="tight")
    plt.close(fig)
    print(f"wrote {out}")
    return out


# --------------------------------------------------------------------------
# The four normalizations as cubes
# --------------------------------------------------------------------------

#: name -> which cells of an (N, C, HW) block share one set of statistics
#: (the shaded group is the one for sample 0 / channel 0 / group 0)
CUBE_N, CUBE_C, CUBE_HW, CUBE_GROUPS = 4, 6, 5, 2


def _shaded(kind: str):
    import numpy as np

    s = np.zeros((CUBE_N, CUBE_C, CUBE_HW), dtype=bool)
    if kind == "BatchNorm":        # one channel, every sample and position
        s[:, 0, :] = True
    elif kind == "LayerNorm":      # one sample, every channel and position
        s[0, :, :] = True
    elif kind == "InstanceNorm":   # one sample, one channel
        s[0, 0, :] = True
    elif kind == "GroupNorm":      # one sample, one group of channels
        s[0, : CUBE_C // CUBE_GROUPS, :] = True
    else:
        raise ValueError(f"kind must be BatchNorm, LayerNorm, InstanceNorm or GroupNorm; got {kind!r}")
    return s


def norm_cube(out_path: str | Path) -> Path:
    """The classic cube picture: which elements each normalization averages over."""
    import numpy as np

    plt = _pyplot()
    kinds = ("BatchNorm", "LayerNorm", "InstanceNorm", "GroupNorm")
    fig = plt.figure(figsize=(11, 3.4))
    for i, kind in enumerate(kinds):
        ax = fig.add_subplot(1, 4, i + 1, projection="3d")
        shaded = _shaded(kind)
        # axes of the picture: x = C, y = N (depth), z = H, W
        filled = np.ones((CUBE_C, CUBE_N, CUBE_HW), dtype=bool)
        colors = np.where(shaded.transpose(1, 0, 2), "#3f6fd1", "#f2f2f2")
        ax.voxels(filled, facecolors=colors, edgecolors="#555555", linewidth=0.4)
        ax.set_box_aspect((CUBE_C, CUBE_N, CUBE_HW))
        ax.view_init(elev=22, azim=-58)
        ax.set_xticks([]), ax.set_yticks([]), ax.set_zticks([])
        ax.set_xlabel("C", labelpad=-10)
        ax.set_ylabel("N", labelpad=-10)
        ax.set_zlabel("H, W", labelpad=-10)
        ax.set_title(kind, pad=0)
        for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
            axis.pane.set_visible(False)
            axis.line.set_color("#999999")
    fig.suptitle("Shaded cells share one mean and one variance", y=0.02, fontsize=9)
    return save(fig, out_path)


# --------------------------------------------------------------------------
# Training curves from the committed reproduction results
# --------------------------------------------------------------------------


def curves(results_json: str | Path, out_path: str | Path) -> Path:
    """Per-epoch train loss, train accuracy and test accuracy, with and without BN.

    Lines are the mean over seeds; the band spans the lowest to the highest seed.
    """
    import numpy as np

    from bnref.experiments.pages import _runs

    plt = _pyplot()
    data = record.load(results_json)
    metrics = (("train_loss", "train loss"), ("train_acc", "train accuracy"),
               ("test_acc", "test accuracy"))
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.3))
    for model in data["config"]["models"]:
        runs = _runs(data, model)
        if not runs:
            continue
        for ax, (key, _title) in zip(axes, metrics):
            values = np.array([r[key] for r in runs])
            epochs = np.arange(1, values.shape[1] + 1)
            ax.plot(epochs, values.mean(axis=0), color=COLORS.get(model), marker=".",
                    label=f"{LABELS.get(model, model)}, lr {data['config']['lr'][model]}")
            ax.fill_between(epochs, values.min(axis=0), values.max(axis=0),
                            color=COLORS.get(model), alpha=0.2, linewidth=0)
    for ax, (_key, title) in zip(axes, metrics):
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    seeds = max(len(_runs(data, m)) for m in data["config"]["models"])
    machine = data["provenance"]["machine"]
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Fashion-MNIST, batch {data['config']['batch_size']}, mean of {seeds} "
                 f"seeds (band: min to max), on {machine['device']} ({machine['cpu']})",
                 y=0.0, fontsize=8)
    fig.tight_layout()
    return save(fig, out_path)


# --------------------------------------------------------------------------
# Pre-activation distributions after a short real training run
# --------------------------------------------------------------------------

LAYERS = ("conv1", "conv2", "fc1", "fc2")


def sigmoid_inputs(net: torch.nn.Module, X: torch.Tensor) -> list[torch.Tensor]:
    """The tensors entering each ``nn.Sigmoid`` of ``net`` for the input ``X``, flattened."""
    seen: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda m, args, out: seen.append(args[0].detach().flatten()))
             for m in net if isinstance(m, torch.nn.Sigmoid)]
    try:
        with torch.no_grad():
            net(X)
    finally:
        for h in hooks:
            h.remove()
    return seen


def train_briefly(model: str, steps: int, seed: int = 0, batch_size: int = 256):
    """Train one of the note's models for ``steps`` minibatches (note's lr, fast path)."""
    import bnref
    from bnref.d2l.data import load_data_fashion_mnist
    from bnref.d2l.train import train_ch6
    from bnref.experiments.reproduce import MODELS

    factory, lr = MODELS[model]
    torch.manual_seed(seed)
    net = getattr(bnref, factory)()
    train_iter, test_iter = load_data_fashion_mnist(batch_size, fast=True)
    history = train_ch6(net, train_iter, test_iter, 1, lr, "cpu", progress=False,
                        verbose=False, max_steps=steps)
    return net, test_iter, history


def activations(out_path: str | Path, steps: int = 235,
                n_images: int = 1000, seed: int = 0) -> Path:
    """Box plots of each layer's pre-activations for LeNet with and without BN.

    Both networks are trained for ``steps`` minibatches of 256 from seed 0
    (fast data path, note's learning rates), then the first ``n_images`` test
    images go through them in evaluation mode.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.6))
    width = 0.38
    accs = {}
    for j, model in enumerate(("lenet", "lenet_bn")):
        net, test_iter, history = train_briefly(model, steps, seed)
        accs[model] = history.test_acc[-1]
        net.eval()
        values = [v.numpy() for v in sigmoid_inputs(net, test_iter.X[:n_images])]
        positions = [i + (j - 0.5) * width for i in range(len(values))]
        box = ax.boxplot(values, positions=positions, widths=width * 0.9, whis=(1, 99),
                         showfliers=False, patch_artist=True,
                         medianprops={"color": "black"})
        for patch in box["boxes"]:
            patch.set_facecolor(COLORS[model])
            patch.set_alpha(0.6)
        ax.plot([], [], color=COLORS[model], linewidth=6, alpha=0.6,
                label=f"{LABELS[model]} (test acc {accs[model]:.2f})")
    ax.axhspan(-2, 2, color="#999999", alpha=0.15, linewidth=0)
    ax.text(-0.45, 1.9, "|x| < 2: sigmoid slope > 0.1", fontsize=7,
            ha="left", va="top", color="#555555")
    ax.set_xticks(range(len(LAYERS)), LAYERS)
    ax.set_xlabel("layer whose output (after BN, if any) enters a sigmoid")
    ax.set_ylabel("value entering the sigmoid")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
    ax.set_title(f"After {steps} SGD steps of batch 256 on Fashion-MNIST (seed {seed}); "
                 f"{n_images} test images, eval mode; boxes: quartiles, whiskers: 1st-99th "
                 "percentile", fontsize=8)
    return save(fig, out_path)


def small_batch(results_json: str | Path, out_path: str | Path) -> Path:
    """Test error against batch size (log scale), one line per kind: mean over seeds, with
    the sample standard deviation as error bars."""
    import statistics

    from bnref.experiments.small_batch import KINDS
    from bnref.models import NORM_KINDS

    data = record.load(results_json)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    styles = {"bn": "o-", "ln": "s--", "in": "^-.", "gn": "D:", "bn-conv": "x", "in-conv": "+"}
    names = {**NORM_KINDS, "bn-conv": "BatchNorm after the convolutions only",
             "in-conv": "InstanceNorm after the convolutions only"}
    runs = list(data["runs"].values())
    sizes = sorted({r["batch_size"] for r in runs})
    for kind in (*KINDS, "bn-conv", "in-conv"):
        points = []
        for b in sizes:
            errs = [100 * r["test_error"] for r in runs if r["kind"] == kind
                    and r["batch_size"] == b]
            if errs:
                std = statistics.stdev(errs) if len(errs) > 1 else 0.0
                points.append((b, statistics.fmean(errs), std))
        if points:
            b, mean, std = zip(*points)
            ax.errorbar(b, mean, yerr=std, fmt=styles[kind], capsize=3, label=names[kind])
    seeds = data["config"]["seeds"]
    ax.set_xscale("log", base=2)
    ax.set_xticks(sizes, [str(s) for s in sizes])
    ax.set_xlabel("batch size (images per step)")
    ax.set_ylabel("test error (%)")
    ax.set_title(f"LeNet on Fashion-MNIST, {data['config']['examples']:,} examples seen; "
                 f"mean ± std of {seeds} seeds", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return save(fig, out_path)


def _acc_panels(data: dict, runs: list[dict], x: str, activations, xlabel: str, title: str,
                out_path):
    """One panel per activation: final test accuracy against ``x`` (log scale), one line per
    arm (BN, no BN), mean over seeds with the sample std as error bars; a marker per x
    value where not every seed trained."""
    import statistics

    plt = _pyplot()
    width = max(4.2 * len(activations), 6.5)  # one panel: room for the title
    fig, axes = plt.subplots(1, len(activations), figsize=(width, 3.8), sharey=True,
                             squeeze=False)
    styles = {"bn": ("o-", "with BN"), "none": ("s--", "without BN")}
    for ax, act in zip(axes[0], activations):
        for arm, (fmt, label) in styles.items():
            points = []
            for v in sorted({r[x] for r in runs if r["activation"] == act}):
                accs = [r["test_acc"] for r in runs
                        if (r["activation"], r["arm"], r[x]) == (act, arm, v)]
                if accs:
                    std = statistics.stdev(accs) if len(accs) > 1 else 0.0
                    points.append((v, statistics.fmean(accs), std))
            if points:
                xs, mean, std = zip(*points)
                ax.errorbar(xs, mean, yerr=std, fmt=fmt, capsize=3, label=label)
        ax.axhline(0.1, color="grey", lw=0.8, ls=":")
        ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_title(act, fontsize=10)
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel("test accuracy (10,000 images)")
    axes[0][0].legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return save(fig, out_path)


def lr_sweep(results_json: str | Path, out_path: str | Path) -> Path:
    """Final test accuracy of the lr sweep against the learning rate (log x), with and without
    BN, one panel per activation: mean ± std over the seeds; the dotted line is chance."""
    data = record.load(results_json)
    c = data["config"]
    runs = [r for r in data["runs"].values() if r["phase"] == "sweep"]
    seeds = len({r["seed"] for r in runs})
    return _acc_panels(data, runs, "lr", c["activations"], "learning rate (SGD, batch 256)",
                       f"LeNet on Fashion-MNIST after {c['epochs']} epochs, with and without "
                       f"BN (nothing else changed); mean ± std of {seeds} seeds", out_path)


def init_scale(results_json: str | Path, out_path: str | Path) -> Path:
    """Final test accuracy against the factor on the xavier-uniform initial weights (log x),
    with and without BN, one panel per activation: mean ± std over the seeds."""
    data = record.load(results_json)
    c = data["config"]
    runs = list(data["runs"].values())
    seeds = len({r["seed"] for r in runs})
    lrs = ", ".join(f"{a} lr {lr:g}" for a, lr in c["lrs"].items())
    return _acc_panels(data, runs, "init_scale", c["activations"],
                       "initial weights: xavier-uniform × factor",
                       f"LeNet on Fashion-MNIST, {c['epochs']} epochs ({lrs}); "
                       f"mean ± std of {seeds} seeds", out_path)


def ghost_bn(results_json: str | Path, out_path: str | Path) -> Path:
    """The noise view (``python -m bnref ghost-bn``): test accuracy and train–test gap of each
    arm (plain, ghost, noisy and deterministic BN), in evaluation mode with the moving
    statistics as trained and with precise statistics; mean ± std over the seeds, and each
    seed as a small grey dot."""
    import statistics

    from bnref.experiments.ghost_bn import ARMS

    data = record.load(results_json)
    runs = list(data["runs"].values())
    arms = [a for a in ARMS if any(r["arm"] == a for r in runs)]
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 4))
    series = (("as trained (moving statistics)", lambda r: r, -0.12, "o", "tab:orange"),
              ("precise statistics", lambda r: r["precise"], 0.12, "s", "tab:blue"))
    for ax, field, label in ((axes[0], "test_acc", "test accuracy (%, 10,000 images)"),
                             (axes[1], "gap", "train − test accuracy (points)")):
        for name, pick, dx, marker, color in series:
            for i, arm in enumerate(arms):
                values = [100 * pick(r)[field] for r in runs if r["arm"] == arm]
                std = statistics.stdev(values) if len(values) > 1 else 0.0
                ax.plot([i + dx] * len(values), values, ".", color="grey", alpha=0.5, ms=4)
                ax.errorbar([i + dx], [statistics.fmean(values)], yerr=[std], fmt=marker,
                            capsize=3, color=color, label=name if i == 0 else None)
        ax.set_xticks(range(len(arms)), arms, rotation=30, ha="right")
        ax.set_ylabel(label)
        ax.grid(True, axis="y", alpha=0.3)
    axes[1].axhline(0, color="grey", lw=0.8, ls=":")
    axes[0].legend(fontsize=8)
    c = data["config"]
    seeds = len({r["seed"] for r in runs})
    fig.suptitle(f"LeNet-BN on Fashion-MNIST, batch {c['batch_size']}, lr {c['lr']}, "
                 f"{c['epochs']} epochs; only the BN layer changed; mean ± std of {seeds} seeds",
                 fontsize=9)
    fig.tight_layout()
    return save(fig, out_path)


def _band(ax, curves: list[list[float]], **style) -> None:
    """Mean of equally long ``curves`` against epoch 1, 2, ..., with a ± std band."""
    import statistics

    epochs = range(1, min(map(len, curves)) + 1)
    mean = [statistics.fmean(c[i - 1] for c in curves) for i in epochs]
    std = [statistics.stdev(c[i - 1] for c in curves) if len(curves) > 1 else 0.0
           for i in epochs]
    line, = ax.plot(list(epochs), mean, **style)
    ax.fill_between(list(epochs), [m - s for m, s in zip(mean, std)],
                    [m + s for m, s in zip(mean, std)], color=line.get_color(), alpha=0.15)


def placement(results_json: str | Path, out_path: str | Path) -> Path:
    """Test accuracy and training loss per epoch (``python -m bnref placement``), BN before and
    after the activation, one column per activation, one line style per learning rate: mean
    over seeds ± std band. Diverged runs (a loss of None) are left out of the curves."""
    data = record.load(results_json)
    c = data["config"]
    runs = list(data["runs"].values())
    plt = _pyplot()
    fig, axes = plt.subplots(2, len(c["activations"]), figsize=(4.5 * len(c["activations"]), 6),
                             sharex=True, squeeze=False)
    colors = {"before": "tab:blue", "after": "tab:orange"}
    dashes = ["--", "-", ":", "-."]
    for j, act in enumerate(c["activations"]):
        for where, color in colors.items():
            for k, lr in enumerate(c["lrs"]):
                mine = [r for r in runs if (r["activation"], r["placement"], r["lr"])
                        == (act, where, lr) and None not in r["train_loss"]]
                if not mine:
                    continue
                style = {"color": color, "ls": dashes[k % len(dashes)], "marker": ".",
                         "label": f"BN {where}, lr {lr:g}"}
                _band(axes[0][j], [r["test_acc"] for r in mine], **style)
                _band(axes[1][j], [r["train_loss"] for r in mine], **style)
        axes[0][j].set_title(act, fontsize=10)
        axes[1][j].set_xlabel("epoch")
        axes[1][j].set_xticks(range(1, c["epochs"] + 1))
        for ax in axes[:, j]:
            ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel("test accuracy (10,000 images)")
    axes[1][0].set_ylabel("training loss (epoch mean)")
    axes[0][0].legend(fontsize=8)
    seeds = len({r["seed"] for r in runs})
    fig.suptitle(f"LeNet-BN on Fashion-MNIST, batch {c['batch_size']}: conv → BN → activation "
                 f"(before) or conv → activation → BN (after); mean ± std of {seeds} seeds",
                 fontsize=9)
    fig.tight_layout()
    return save(fig, out_path)


def dropout(results_json: str | Path, out_path: str | Path) -> Path:
    """``python -m bnref dropout``. Left: final test accuracy against the dropout probability,
    with and without BN, dropout before the hidden layers or before the classifier only (and
    BN's accuracy after re-estimating its moving statistics with dropout off). Right: each BN
    layer's moving / test-time variance against p. Mean over seeds, sample std as error
    bars."""
    import statistics

    data = record.load(results_json)
    c = data["config"]
    runs = list(data["runs"].values())
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))

    def line(ax, values_of, fmt, label, match, **style):
        points = []
        for p in c["ps"]:
            values = [values_of(r) for r in runs if r["p"] == p and match(r)]
            if values:
                std = statistics.stdev(values) if len(values) > 1 else 0.0
                points.append((p, statistics.fmean(values), std))
        if points:
            ps, mean, std = zip(*points)
            ax.errorbar(ps, mean, yerr=std, fmt=fmt, capsize=3, label=label, **style)

    names = {"bn": "with BN", "none": "without BN"}
    places = {"hidden": "before hidden layers", "classifier": "before classifier"}
    fmts = {("bn", "hidden"): "o-", ("bn", "classifier"): "o--",
            ("none", "hidden"): "s-", ("none", "classifier"): "s--"}
    for arm in c["arms"]:
        for place in c["places"]:
            line(left, lambda r: r["test_acc"][-1], fmts[(arm, place)],
                 f"{names[arm]}, dropout {places[place]}",
                 lambda r, arm=arm, place=place: r["arm"] == arm
                 and (r["p"] == 0 or r["place"] == place))
    if "bn" in c["arms"] and "hidden" in c["places"]:
        line(left, lambda r: r["recalibrated_test_acc"], "^:",
             "with BN, before hidden layers, moving statistics re-estimated",
             lambda r: r["arm"] == "bn" and (r["p"] == 0 or r["place"] == "hidden"))
    left.set_xlabel("dropout probability p")
    left.set_ylabel("test accuracy (10,000 images)")
    left.legend(fontsize=7)
    bn_runs = [r for r in runs if r["arm"] == "bn"]
    if bn_runs:
        for i, layer in enumerate(bn_runs[0]["variance_shift"]):
            for place in c["places"]:
                line(right, lambda r, i=i: r["variance_shift"][i]["ratio"],
                     f"{'o' if i < 2 else 's'}{'-' if place == 'hidden' else '--'}",
                     f"BN {i + 1} ({layer['channels']} ch), dropout {places[place]}",
                     lambda r, place=place: r["arm"] == "bn"
                     and (r["p"] == 0 or r["place"] == place), color=f"C{i}")
        right.axhline(1.0, color="grey", lw=0.8, ls=":")
        right.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    right.set_xlabel("dropout probability p")
    right.set_ylabel("moving / test-time variance (channel mean)")
    for ax in (left, right):
        ax.set_xticks(c["ps"])
        ax.grid(True, alpha=0.3)
    seeds = len({r["seed"] for r in runs})
    fig.suptitle(f"LeNet ({c['activation']}) on Fashion-MNIST, {c['epochs']} epochs, batch "
                 f"{c['batch_size']}; mean ± std of {seeds} seeds", fontsize=9)
    fig.tight_layout()
    return save(fig, out_path)


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------

NAMES = ("norm-cube", "curves", "activations", "small-batch", "ghost-bn")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--only", nargs="+", choices=NAMES, default=list(NAMES),
                        help="which figures (default: all)")
    parser.add_argument("--out-dir", type=Path, default=None,
                        help="where to write the SVG files (default: docs/figures inside a "
                        "checkout, else ./bnref-results)")
    parser.add_argument("--results-dir", type=Path, default=None,
                        help="where the results files are (reproduce-cpu.json, "
                        "small-batch-cpu.json; default: docs/results inside a checkout, "
                        "else ./bnref-results)")
    parser.add_argument("--activation-steps", type=int, default=235,
                        help="training steps before drawing activations.svg (default: 235, one epoch)")


def run(args: argparse.Namespace) -> int:
    torch.set_num_threads(1)
    out = args.out_dir or record.figures_dir()
    results = args.results_dir or record.results_dir()
    drawn = []
    if "norm-cube" in args.only:
        drawn.append(norm_cube(out / "norm-cube.svg"))
    if "curves" in args.only:
        drawn.append(curves(results / "reproduce-cpu.json", out / "curves.svg"))
    if "activations" in args.only:
        drawn.append(activations(out / "activations.svg", steps=args.activation_steps))
    if "small-batch" in args.only:
        drawn.append(small_batch(results / "small-batch-cpu.json", out / "small-batch.svg"))
    if "ghost-bn" in args.only:
        drawn.append(ghost_bn(results / "ghost-bn-cpu.json", out / "ghost-bn.svg"))
    for path in drawn:
        print(f"wrote {path}")
    return 0
