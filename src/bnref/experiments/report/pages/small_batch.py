"""Printers for the small-batch file (python -m bnref small-batch)."""

from __future__ import annotations

import statistics
from pathlib import Path

from bnref.experiments.commands.small_batch import KINDS
from bnref.experiments.report.pages._common import _mean_std, load


def small_batch_table(path: str | Path) -> None:
    """Print test error (%) per kind and batch size: mean ± sample std over the seeds, as a
    Markdown table."""
    data = load(path)
    runs = list(data["runs"].values())
    sizes = sorted({r["batch_size"] for r in runs})
    kinds = [k for k in KINDS if any(r["kind"] == k for r in runs)]
    seeds = len({r["seed"] for r in runs})
    print(f"test error (%), mean ± std over {seeds} seeds")
    print("| batch size | " + " | ".join(k.upper() for k in kinds) + " |")
    print("| ---: |" + " ---: |" * len(kinds))
    for b in sizes:
        cells = []
        for k in kinds:
            errs = [100 * r["test_error"] for r in runs if (r["kind"], r["batch_size"]) == (k, b)]
            cells.append(_mean_std(errs, ".1f") if errs else "–")
        print(f"| {b} | " + " | ".join(cells) + " |")


def small_batch_recalibration(path: str | Path) -> None:
    """Print, per batch size, BN's test error (%) with its moving statistics and after
    recalibrating them on a large batch of training data (mean ± std over seeds)."""
    data = load(path)
    runs = [r for r in data["runs"].values() if r["kind"] == "bn"]
    images = data["config"]["recalibration_images"]
    print(f"BN, test error (%): moving statistics from training / re-estimated on {images} "
          f"training images")
    print("| batch size | as trained | recalibrated | recovered |")
    print("| ---: | ---: | ---: | ---: |")
    for b in sorted({r["batch_size"] for r in runs}):
        before = [100 * r["test_error"] for r in runs if r["batch_size"] == b]
        after = [100 * r["recalibrated_test_error"] for r in runs if r["batch_size"] == b]
        print(f"| {b} | {_mean_std(before, '.1f')} | {_mean_std(after, '.1f')} | "
              f"{statistics.fmean(before) - statistics.fmean(after):.1f} points |")


def small_batch_batch_of_one(path: str | Path) -> None:
    """Print the batch-of-one runs (mean ± std test error over seeds) and what BN after a
    fully connected layer says when asked to train on one example."""
    data = load(path)
    names = {"bn-conv": "BN after the convolutions only",
             "in-conv": "InstanceNorm after the convolutions only",
             "in": "InstanceNorm (and LayerNorm after the linear layers)"}
    for kind in data["config"]["batch_of_one"]:
        errs = [100 * r["test_error"] for r in data["runs"].values()
                if r["kind"] == kind and r["batch_size"] == 1]
        print(f"batch 1, {names[kind]}: test error {_mean_std(errs, '.1f')} %")
        own = [100 * r["own_statistics_test_error"] for r in data["runs"].values()
               if r["kind"] == kind and "own_statistics_test_error" in r]
        if own:
            print(f"  the same networks, each test image normalized with its own statistics "
                  f"(as in training): {_mean_std(own, '.1f')} %")
    print(f"batch 1, BN after the fully connected layers: {data['batch_of_one_fc_error']}")
