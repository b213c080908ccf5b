"""The experiments' figures, each drawn from its committed results file."""

from __future__ import annotations

from pathlib import Path


from bnref.experiments.commands.ghost_bn import ARMS
from bnref.experiments.commands.small_batch import KINDS
from bnref.experiments.harness import record
from bnref.experiments.report.figures._style import _pyplot, save
from bnref.models import NORM_KINDS


def small_batch(results_json: str | Path, out_path: str | Path) -> Path:
    """Test error against batch size (log scale), one line per kind: mean over seeds, with
    the sample standard deviation as error bars."""
    import statistics


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
