"""Printers for the moving-statistics file (python -m bnref moving-statistics): the page
docs/experiments/moving-statistics.md, whose explorer draws the same file."""

from __future__ import annotations

import statistics
from pathlib import Path

from bnref.experiments.commands.moving_statistics import d2l_momentum, momentum_name
from bnref.experiments.report.pages._common import _mean_std, load

__all__ = ["moving_statistics_setup", "moving_statistics_accuracy", "moving_statistics_lag",
           "moving_statistics_noise", "moving_statistics_run"]


def _runs(data: dict, **match) -> list[dict]:
    return [r for r in data["runs"].values() if all(r[k] == v for k, v in match.items())]


def _one(data: dict, **match) -> dict:
    (run,) = _runs(data, **match)
    return run


def _d2l(m: float | None) -> str:
    return "–" if m is None else f"{d2l_momentum(m):g}"


def moving_statistics_setup(path: str | Path) -> None:
    """Print the grid: the momenta in both conventions, the batch sizes with their learning
    rates and images seen, what is scored and what is traced."""
    data = load(path)
    c = data["config"]
    print("momentum, PyTorch's convention (weight of the new batch): "
          + ", ".join(momentum_name(m) for m in c["momenta"]))
    print("the same, the note's and d2l's convention (weight of the old value): "
          + ", ".join(_d2l(m) for m in c["momenta"]))
    print(f"{c['lr_rule']}; {c['steps']} steps per run")
    print("| batch size | learning rate | images seen |")
    print("| ---: | ---: | ---: |")
    for b in c["batch_sizes"]:
        lr = _runs(data, batch_size=b)[0]["lr"]
        print(f"| {b} | {lr:g} | {b * c['steps']} |")
    print(f"seeds 0-{c['seeds'] - 1}; every {c['eval_every']} steps: test accuracy "
          f"({c['test_images']} images) as trained and re-estimated from "
          f"{c['recalibration_images']} training images")
    print(f"traced at every step (seed {c['traced_seed']}): {c['traced']}")


def moving_statistics_accuracy(path: str | Path) -> None:
    """Print the test accuracy (%) after the last step, mean ± std over the seeds: one row per
    momentum as trained, and one row re-estimated (the same for every momentum: the
    weights are the same; the printer checks it)."""
    data = load(path)
    c = data["config"]
    step = c["steps"]
    print(f"test accuracy (%) after {step} steps, mean ± std over {c['seeds']} seeds")
    print("| momentum (PyTorch) | d2l | " + " | ".join(f"batch {b}" for b in c["batch_sizes"])
          + " |")
    print("| --- | ---: |" + " ---: |" * len(c["batch_sizes"]))
    for m in c["momenta"]:
        cells = [_mean_std([100 * r["test_acc"][-1] for r in _runs(data, momentum=m, batch_size=b)],
                           ".1f") for b in c["batch_sizes"]]
        print(f"| {momentum_name(m)} | {_d2l(m)} | " + " | ".join(cells) + " |")
    same = all(len({r["recalibrated_test_acc"][-1] for r in _runs(data, batch_size=b, seed=s)})
               == 1 for b in c["batch_sizes"] for s in range(c["seeds"]))
    cells = [_mean_std([100 * r["recalibrated_test_acc"][-1]
                        for r in _runs(data, momentum=c["momenta"][0], batch_size=b)], ".1f")
             for b in c["batch_sizes"]]
    print("| re-estimated | any | " + " | ".join(cells) + " |")
    print(f"re-estimated accuracy the same for every momentum (same batch size and seed): {same}")


def moving_statistics_lag(path: str | Path) -> None:
    """Print, for the traced seed after the last step, how far the moving statistics are from
    the re-estimated ones: moving mean − re-estimated mean, and moving variance /
    re-estimated variance; and how much of the starting values (mean 0, variance 1) a
    momentum still carries then."""
    data = load(path)
    c = data["config"]
    seed, step = c["traced_seed"], c["steps"]
    head = "| momentum (PyTorch) | " + " | ".join(f"batch {b}" for b in c["batch_sizes"]) + " |"
    rule = "| --- |" + " ---: |" * len(c["batch_sizes"])
    for title, cell in (
            ("moving mean − re-estimated mean",
             lambda r: f"{r['trace']['moving_mean'][-1] - r['recalibrated_stats']['mean'][-1]:+.3f}"),
            ("moving variance / re-estimated variance",
             lambda r: f"{r['trace']['moving_var'][-1] / r['recalibrated_stats']['var'][-1]:.2f}")):
        print(f"{title}, after step {step} (seed {seed})")
        print(head)
        print(rule)
        for m in c["momenta"]:
            print(f"| {momentum_name(m)} | " + " | ".join(
                cell(_one(data, momentum=m, batch_size=b, seed=seed)) for b in c["batch_sizes"])
                + " |")
    print(f"weight of the starting values after {step} steps: " + ", ".join(
        f"{(1 - m) ** step:.3g} at {m:g}" for m in c["momenta"] if m is not None)
        + "; none with the cumulative average")


def moving_statistics_noise(path: str | Path) -> None:
    """Print, per batch size (traced seed), the two reasons the batch mean moves from step to
    step: how much it varies from batch to batch at fixed weights (the sampling spread,
    averaged over the evaluation steps), and how much it changed from one training step to
    the next (the median, over every step)."""
    data = load(path)
    c = data["config"]
    seed = c["traced_seed"]
    m = c["momenta"][0]  # the momentum changes nothing in training
    print(f"batch mean of the traced channel (seed {seed})")
    print("| batch size | learning rate | spread between batches at fixed weights (std) | "
          "median change from one step to the next |")
    print("| ---: | ---: | ---: | ---: |")
    for b in c["batch_sizes"]:
        r = _one(data, momentum=m, batch_size=b, seed=seed)
        means = r["trace"]["batch_mean"]
        jumps = statistics.median(abs(x - y) for x, y in zip(means[1:], means))
        spread = statistics.fmean(r["sampling_spread"]["mean"])
        print(f"| {b} | {r['lr']:g} | {spread:.3f} | {jumps:.3f} |")


def moving_statistics_run(path: str | Path, momentum: float | None, batch_size: int) -> None:
    """Print what the explorer shows for one run (the traced seed): the test accuracy at each
    evaluation step, as trained and re-estimated, and the statistics after the last step."""
    data = load(path)
    c = data["config"]
    r = _one(data, momentum=momentum, batch_size=batch_size, seed=c["traced_seed"])
    print(f"momentum {momentum_name(momentum)}, batch size {batch_size}, seed {r['seed']}, "
          f"lr {r['lr']:g}")
    print("step:          " + " ".join(f"{s:>5}" for s in r["eval_steps"]))
    print("as trained:    " + " ".join(f"{100 * a:5.1f}" for a in r["test_acc"]))
    print("re-estimated:  " + " ".join(f"{100 * a:5.1f}" for a in r["recalibrated_test_acc"]))
    t, s = r["trace"], r["recalibrated_stats"]
    print(f"after step {r['steps']}: mean batch {t['batch_mean'][-1]:g}, moving "
          f"{t['moving_mean'][-1]:g}, re-estimated {s['mean'][-1]:g}; variance batch "
          f"{t['batch_var'][-1]:g}, moving {t['moving_var'][-1]:g}, re-estimated "
          f"{s['var'][-1]:g}")
