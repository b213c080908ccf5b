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
from bnref.experiments.figures._style import COLORS, LABELS, _pyplot, save  # noqa: F401
from bnref.experiments.figures.experiments import (  # noqa: F401
    dropout, ghost_bn, init_scale, lr_sweep, placement, small_batch,
)
from bnref.experiments.figures.note import (  # noqa: F401
    CUBE_C, CUBE_GROUPS, CUBE_HW, CUBE_N, LAYERS, _shaded, activations, curves, norm_cube,
    sigmoid_inputs, train_briefly,
)

__all__ = ["activations", "configure", "curves", "dropout", "ghost_bn", "init_scale", "lr_sweep",
           "norm_cube", "placement", "run", "save", "small_batch"]


NAMES = ("norm-cube", "curves", "activations", "small-batch", "ghost-bn", "lr-sweep",
         "init-scale", "placement", "dropout")
#: figure name -> (function, the results file it is drawn from), for the experiments' figures
FROM_RESULTS = {"small-batch": (small_batch, "small-batch-cpu.json"),
                "ghost-bn": (ghost_bn, "ghost-bn-cpu.json"),
                "lr-sweep": (lr_sweep, "lr-sweep-cpu.json"),
                "init-scale": (init_scale, "init-scale-cpu.json"),
                "placement": (placement, "placement-cpu.json"),
                "dropout": (dropout, "dropout-cpu.json")}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--only", nargs="+", choices=NAMES, default=list(NAMES),
                        help="which figures (default: all)")
    parser.add_argument("--out-dir", type=Path, default=None,
                        help="where to write the SVG files (default: docs/figures inside a "
                        "checkout, else ./bnref-results)")
    parser.add_argument("--results-dir", type=Path, default=None,
                        help="where the results files are (reproduce-cpu.json and the "
                        "experiments' files; default: src/bnref/results inside a checkout, "
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
    for name, (draw, results_file) in FROM_RESULTS.items():
        if name in args.only:
            drawn.append(draw(results / results_file, out / f"{name}.svg"))
    for path in drawn:
        print(f"wrote {path}")
    return 0
