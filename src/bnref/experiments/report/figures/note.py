"""The chapter's figures: the normalization cube, the reproduction's curves, the
activations before each sigmoid."""

from __future__ import annotations

from pathlib import Path

from bnref.experiments.harness import record
from bnref.experiments.report.figures._style import COLORS, LABELS, _pyplot, save
from bnref.experiments.report.pages.reproduce import model_runs


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


def curves(results_json: str | Path, out_path: str | Path) -> Path:
    """Per-epoch train loss, train accuracy and test accuracy, with and without BN.

    Lines are the mean over seeds; the band spans the lowest to the highest seed.
    """
    import numpy as np

    plt = _pyplot()
    data = record.load(results_json)
    metrics = (("train_loss", "train loss"), ("train_acc", "train accuracy"),
               ("test_acc", "test accuracy"))
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.3))
    for model in data["config"]["models"]:
        runs = model_runs(data, model)
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
    seeds = max(len(model_runs(data, m)) for m in data["config"]["models"])
    machine = data["provenance"]["machine"]
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Fashion-MNIST, batch {data['config']['batch_size']}, mean of {seeds} "
                 f"seeds (band: min to max), on {machine['device']} ({machine['cpu']})",
                 y=0.0, fontsize=8)
    fig.tight_layout()
    return save(fig, out_path)


def activations(results_json: str | Path, out_path: str | Path) -> Path:
    """Box plots of each layer's pre-activations for LeNet with and without BN, from the
    quantiles ``python -m bnref activations`` recorded (boxes: quartiles; whiskers: the 1st
    and 99th percentile)."""
    plt = _pyplot()
    data = record.load(results_json)
    config = data["config"]
    fig, ax = plt.subplots(figsize=(8, 3.6))
    width = 0.38
    for j, model in enumerate(config["models"]):
        r = data["runs"][model]
        stats = [{"whislo": b["1"], "q1": b["25"], "med": b["50"], "q3": b["75"],
                  "whishi": b["99"], "fliers": []} for b in r["quantiles"]]
        positions = [i + (j - 0.5) * width for i in range(len(stats))]
        box = ax.bxp(stats, positions=positions, widths=width * 0.9, showfliers=False,
                     patch_artist=True, medianprops={"color": "black"})
        for patch in box["boxes"]:
            patch.set_facecolor(COLORS[model])
            patch.set_alpha(0.6)
        ax.plot([], [], color=COLORS[model], linewidth=6, alpha=0.6,
                label=f"{LABELS[model]} (test acc {r['test_acc']:.2f})")
    ax.axhspan(-2, 2, color="#999999", alpha=0.15, linewidth=0)
    ax.text(-0.45, 1.9, "|x| < 2: sigmoid slope > 0.1", fontsize=7,
            ha="left", va="top", color="#555555")
    ax.set_xticks(range(len(config["layers"])), config["layers"])
    ax.set_xlabel("layer whose output (after BN, if any) enters a sigmoid")
    ax.set_ylabel("value entering the sigmoid")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
    ax.set_title(f"After {config['steps']} SGD steps of batch 256 on Fashion-MNIST (seed "
                 f"{config['seed']}); {config['images']} test images, eval mode; boxes: "
                 "quartiles, whiskers: 1st-99th percentile", fontsize=8)
    return save(fig, out_path)
