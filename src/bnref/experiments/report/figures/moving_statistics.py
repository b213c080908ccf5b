"""The moving-statistics figure: what the page's explorer shows, all runs at once, for readers
without JavaScript (``python -m bnref figures --only moving-statistics``)."""

from __future__ import annotations

import re
from pathlib import Path

from bnref.experiments.commands.moving_statistics import d2l_momentum, momentum_name
from bnref.experiments.harness import record
from bnref.experiments.report.figures._style import _pyplot, save

__all__ = ["moving_statistics"]

#: the explorer's colours (docs/stylesheets/moving-statistics.css), light scheme
BATCH, MOVING, TARGET = "#1d4ed8", "#b45309", "#047857"


def moving_statistics(results_json: str | Path, out_path: str | Path) -> Path:
    """One panel per momentum (rows) and batch size (columns), for the traced seed: the batch
    mean of the traced channel at every step (thin line), the moving mean after each step
    (thick line) and the re-estimated mean at every evaluation (diamonds); each panel's
    title gives the test accuracy after the last step, as trained and re-estimated."""
    data = record.load(results_json)
    c = data["config"]
    seed = c["traced_seed"]
    runs = {(r["momentum"], r["batch_size"]): r for r in data["runs"].values()
            if r["seed"] == seed}
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    rows, cols = len(c["momenta"]), len(c["batch_sizes"])
    fig, axes = plt.subplots(rows, cols, figsize=(2.45 * cols, 1.85 * rows + 0.6),
                             sharex=True, sharey="col", squeeze=False)
    for i, m in enumerate(c["momenta"]):
        for j, b in enumerate(c["batch_sizes"]):
            ax = axes[i][j]
            r = runs[(m, b)]
            t = r["trace"]
            steps = range(1, len(t["batch_mean"]) + 1)
            ax.plot(steps, t["batch_mean"], color=BATCH, lw=0.5, alpha=0.8)
            ax.plot(steps, t["moving_mean"], color=MOVING, lw=1.8)
            ax.plot(r["eval_steps"], r["recalibrated_stats"]["mean"], "D", color=TARGET,
                    ms=4, mec="white", mew=0.6)
            ax.set_title(f"{100 * r['test_acc'][-1]:.1f} % → {100 * r['recalibrated_test_acc'][-1]:.1f} %",
                         fontsize=8)
            ax.yaxis.set_major_locator(MaxNLocator(3))
            ax.set_xticks([0, c["steps"] // 2, c["steps"]])
            ax.tick_params(labelsize=7)
            if i == rows - 1:
                ax.set_xlabel(f"step (batch {b}, lr {r['lr']:g})", fontsize=8)
            if j == 0:
                name = ("cumulative" if m is None
                        else f"m {momentum_name(m)} (d2l {d2l_momentum(m):g})")
                ax.set_ylabel(name, fontsize=8)
    handles = [plt.Line2D([], [], color=BATCH, lw=0.8, label="batch mean (each step)"),
               plt.Line2D([], [], color=MOVING, lw=1.8, label="moving mean"),
               plt.Line2D([], [], color=TARGET, marker="D", ls="none", ms=4,
                          label=f"re-estimated ({c['recalibration_images']} images)")]
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle(f"LeNet-BN on Fashion-MNIST: channel 0 of the BN after the first convolution, "
                 f"{c['steps']} steps, seed {seed}; momentum in PyTorch's convention.\n"
                 f"Above each panel: test accuracy after step {c['steps']}, as trained → "
                 f"re-estimated", fontsize=9)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    out = save(fig, out_path)
    # 16 panels of 200 steps: the paths' coordinates to 0.1 pt (matplotlib writes six
    # decimals) make the file a third smaller and look the same
    text = out.read_text(encoding="utf-8")
    text = re.sub(r' d="[^"]*"', lambda d: re.sub(r"(\d\.\d)\d+", r"\1", d.group(0)), text)
    out.write_text(text, encoding="utf-8")
    return out
