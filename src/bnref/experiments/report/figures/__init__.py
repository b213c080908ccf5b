"""Redraw the site's figures as SVG from committed results (matplotlib).

The note borrowed its figures from elsewhere; the site draws its own:

* ``norm-cube.svg`` — the N / C / (H, W) cube of BatchNorm, LayerNorm,
  InstanceNorm and GroupNorm; the shaded cells share one mean and variance.
  Pure drawing, no data.
* ``curves.svg`` — train loss, train accuracy and test accuracy per epoch of
  LeNet with and without BN, read from the committed results of
  ``python -m bnref reproduce`` (no training here).
* ``activations.svg`` — distributions of the values entering each sigmoid of
  LeNet, with and without BN, after one epoch on Fashion-MNIST (the analogue
  of the note's second figure), from the results of ``python -m bnref activations``.
* ``small-batch.svg`` — test error against batch size, from the results of
  ``python -m bnref small-batch``.
* ``ghost-bn.svg`` — test accuracy and train–test gap of plain, ghost, noisy and
  deterministic BN, from the results of ``python -m bnref ghost-bn``.
* ``moving-statistics.svg`` — batch, moving and re-estimated means of one BN channel, step
  by step, per momentum and batch size, from the results of ``python -m bnref
  moving-statistics`` (the static form of the page's explorer).

The files are stable from run to run: ``svg.hashsalt`` is fixed and no date
is written, so ``git diff`` shows only real changes. Figures hold no Chinese
text; the pages give each one a bilingual alt text.

    python -m bnref figures                       # all of them
    python -m bnref figures --only norm-cube curves
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bnref.experiments.harness import record
from bnref.experiments.report.figures._style import save
from bnref.experiments.report.figures.experiments import (
    dropout, ghost_bn, init_scale, lr_sweep, placement, small_batch,
)
from bnref.experiments.report.figures.moving_statistics import moving_statistics
from bnref.experiments.report.figures.note import activations, curves, norm_cube

__all__ = ["activations", "configure", "curves", "dropout", "ghost_bn", "init_scale", "lr_sweep",
           "moving_statistics", "norm_cube", "placement", "run", "save", "small_batch"]


NAMES = ("norm-cube", "curves", "activations", "small-batch", "ghost-bn", "lr-sweep",
         "init-scale", "placement", "dropout", "moving-statistics")
#: figure name -> (function, the results file it is drawn from), for the experiments' figures
FROM_RESULTS = {"curves": (curves, "reproduce-cpu.json"),
                "activations": (activations, "activations-cpu.json"),
                "small-batch": (small_batch, "small-batch-cpu.json"),
                "ghost-bn": (ghost_bn, "ghost-bn-cpu.json"),
                "lr-sweep": (lr_sweep, "lr-sweep-cpu.json"),
                "init-scale": (init_scale, "init-scale-cpu.json"),
                "placement": (placement, "placement-cpu.json"),
                "dropout": (dropout, "dropout-cpu.json"),
                "moving-statistics": (moving_statistics, "moving-statistics-cpu.json")}


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


def run(args: argparse.Namespace) -> int:
    out = args.out_dir or record.figures_dir()
    results = args.results_dir or record.results_dir()
    drawn = []
    if "norm-cube" in args.only:
        drawn.append(norm_cube(out / "norm-cube.svg"))
    for name, (draw, results_file) in FROM_RESULTS.items():
        if name in args.only:
            drawn.append(draw(results / results_file, out / f"{name}.svg"))
    for path in drawn:
        print(f"wrote {path}")
    return 0
